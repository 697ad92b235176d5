/*
 * fs.c - file operations confined to a directory tree, for the local
 * server's files API: every path is resolved by the kernel relative to a
 * root directory fd with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS),
 * so "..", absolute or relative symlinks, symlinked parents and procfs
 * magic links can never leave the root, and nothing is checked by string
 * and used later.
 *
 *     root = core.fs_root(dir [, uid, gid])   new files and directories
 *                                            are chowned to uid:gid
 *     root:open(path, "r" | "w") -> file      "w": parents made (0755),
 *                                            file created/truncated (0644)
 *     root:stat(path) -> {is_dir=, size=}
 *     root:list(path) -> {{name=, is_dir=, size=}, ...} in name order
 *     root:mkdir(path)        with parents; an existing dir is fine
 *     root:remove(path)       recursive; a missing path is fine
 *     file:read(n) -> bytes, or nil at the end;  file:write(s);  file:close()
 *
 * Paths are relative to the root ("a/b"; a leading "/" is the root). On
 * failure a call returns nil, a message and the errno name ("ENOENT").
 * Calls block the loop thread briefly: they are local file system calls.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "runtime/runtime.h"
#include "sandbox/sandbox.h"

#define ROOT_MT	"oclua.fs_root"
#define FILE_MT	"oclua.fs_file"

typedef struct fs_root {
	int	fd;
	int	uid, gid;	/* -1: leave ownership alone */
} fs_root;

static int
open_in(int root, const char *path, int flags, mode_t mode)
{
	struct open_how how;

	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	how.mode = (flags & O_CREAT) ? mode : 0;
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	while (*path == '/')
		path++;
	return (int)syscall(SYS_openat2, root, *path ? path : ".", &how,
			    sizeof(how));
}

static int
fail(lua_State *L, const char *path)
{
	int e = errno;

	lua_pushnil(L);
	lua_pushfstring(L, "%s: %s", path, strerror(e));
	lua_pushstring(L, e == ENOENT ? "ENOENT" : e == ENOTDIR ? "ENOTDIR" :
		       e == EISDIR ? "EISDIR" : e == EEXIST ? "EEXIST" :
		       e == ELOOP ? "ELOOP" : e == EACCES ? "EACCES" :
		       e == EXDEV ? "EXDEV" : e == ENOSPC ? "ENOSPC" : "EIO");
	return 3;
}

static fs_root *
check_root(lua_State *L)
{
	fs_root *r = luaL_checkudata(L, 1, ROOT_MT);

	if (r->fd < 0)
		luaL_error(L, "file system root is closed");
	return r;
}

static void
own(const fs_root *r, int fd)
{
	/* best effort: the file is usable either way */
	if (r->uid >= 0)
		(void)!fchown(fd, (uid_t)r->uid, (gid_t)r->gid);
}

/* split "a/b/c" into the parent "a/b" (in buf) and the last name "c" */
static const char *
split(const char *path, char *buf, size_t n)
{
	const char *slash;
	size_t len;

	while (*path == '/')
		path++;
	len = strlen(path);
	while (len > 0 && path[len - 1] == '/')
		len--;
	if (len >= n)
		return NULL;
	memcpy(buf, path, len);
	buf[len] = '\0';
	slash = strrchr(buf, '/');
	if (!slash) {
		memmove(buf + 1, buf, len + 1);
		buf[0] = '\0';
		return buf + 1;
	}
	buf[slash - buf] = '\0';
	return slash + 1;
}

/* make the directory `prefix` if it is missing (its parent must exist) */
static int
ensure_dir(const fs_root *r, const char *prefix)
{
	char pbuf[4096];
	const char *name;
	int fd = open_in(r->fd, prefix, O_PATH | O_DIRECTORY, 0), parent;

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno != ENOENT)
		return -1;
	name = split(prefix, pbuf, sizeof(pbuf));
	parent = open_in(r->fd, pbuf, O_RDONLY | O_DIRECTORY, 0);
	if (!name || parent < 0)
		return -1;
	if (!mkdirat(parent, name, 0755)) {
		if (r->uid >= 0)	/* best effort, as own() */
			(void)!fchownat(parent, name, (uid_t)r->uid,
					(gid_t)r->gid, AT_SYMLINK_NOFOLLOW);
	} else if (errno != EEXIST) {
		close(parent);
		return -1;
	}
	close(parent);
	fd = open_in(r->fd, prefix, O_PATH | O_DIRECTORY, 0);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* mkdir -p inside the root; returns an O_PATH fd of the directory */
static int
make_dirs(const fs_root *r, const char *path)
{
	char buf[4096];
	size_t i, len;

	while (*path == '/')
		path++;
	len = strlen(path);
	if (len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		char c = buf[i];

		if (c != '/' && c != '\0')
			continue;
		buf[i] = '\0';
		if (ensure_dir(r, buf))
			return -1;
		buf[i] = c;
	}
	return open_in(r->fd, buf, O_PATH | O_DIRECTORY, 0);
}

/* core.fs_root(dir [, uid, gid]) */
static int
core_fs_root(lua_State *L)
{
	const char *dir = luaL_checkstring(L, 1);
	int uid = (int)luaL_optinteger(L, 2, -1);
	int gid = (int)luaL_optinteger(L, 3, uid);
	fs_root *r = lua_newuserdatauv(L, sizeof(*r), 0);

	r->fd = -1;
	r->uid = uid;
	r->gid = gid;
	luaL_setmetatable(L, ROOT_MT);
	r->fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (r->fd < 0)
		return fail(L, dir);
	return 1;
}

static int
root_close(lua_State *L)
{
	fs_root *r = luaL_checkudata(L, 1, ROOT_MT);

	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	return 0;
}

static int *
new_file(lua_State *L)
{
	int *f = lua_newuserdatauv(L, sizeof(int), 0);

	*f = -1;
	luaL_setmetatable(L, FILE_MT);
	return f;
}

static int
root_open(lua_State *L)
{
	fs_root *r = check_root(L);
	const char *path = luaL_checkstring(L, 2);
	const char *mode = luaL_optstring(L, 3, "r");
	int *f = new_file(L), fd;
	struct stat st;

	if (!strcmp(mode, "w")) {
		char pbuf[4096];
		const char *name = split(path, pbuf, sizeof(pbuf));
		int dir;

		if (!name || !*name) {
			errno = name ? EISDIR : ENAMETOOLONG;
			return fail(L, path);
		}
		dir = make_dirs(r, pbuf);
		if (dir < 0)
			return fail(L, path);
		close(dir);
		fd = open_in(r->fd, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0)
			own(r, fd);
	} else {
		fd = open_in(r->fd, path, O_RDONLY, 0);
		if (fd >= 0 && !fstat(fd, &st) && S_ISDIR(st.st_mode)) {
			close(fd);
			errno = EISDIR;
			fd = -1;
		}
	}
	if (fd < 0)
		return fail(L, path);
	*f = fd;
	return 1;
}

static int
root_stat(lua_State *L)
{
	fs_root *r = check_root(L);
	const char *path = luaL_checkstring(L, 2);
	struct stat st;
	int fd = open_in(r->fd, path, O_PATH, 0);

	if (fd < 0 || fstat(fd, &st)) {
		if (fd >= 0)
			close(fd);
		return fail(L, path);
	}
	close(fd);
	lua_createtable(L, 0, 2);
	lua_pushboolean(L, S_ISDIR(st.st_mode));
	lua_setfield(L, -2, "is_dir");
	lua_pushinteger(L, (lua_Integer)st.st_size);
	lua_setfield(L, -2, "size");
	return 1;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
root_list(lua_State *L)
{
	fs_root *r = check_root(L);
	const char *path = luaL_checkstring(L, 2);
	int fd = open_in(r->fd, path, O_RDONLY | O_DIRECTORY, 0);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	DIR *d;

	if (fd < 0)
		return fail(L, path);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return fail(L, path);
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 64) *
					    sizeof(*nn));
			if (!nn)
				break;
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (names[n])
			n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	lua_createtable(L, (int)n, 0);
	for (i = 0; i < n; i++) {
		struct stat st;

		if (!fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW)) {
			lua_createtable(L, 0, 3);
			lua_pushstring(L, names[i]);
			lua_setfield(L, -2, "name");
			lua_pushboolean(L, S_ISDIR(st.st_mode));
			lua_setfield(L, -2, "is_dir");
			lua_pushinteger(L, (lua_Integer)st.st_size);
			lua_setfield(L, -2, "size");
			lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
		}
		free(names[i]);
	}
	free(names);
	closedir(d);
	return 1;
}

static int
root_mkdir(lua_State *L)
{
	fs_root *r = check_root(L);
	const char *path = luaL_checkstring(L, 2);
	int fd = make_dirs(r, path);

	if (fd < 0)
		return fail(L, path);
	close(fd);
	lua_pushboolean(L, 1);
	return 1;
}

/* One level of a removal under way: the open directory and, to remove
 * it once empty, its parent's fd and its name there. */
struct rm_level {
	int	fd, parent;
	char	name[256];
};

/* The first subdirectory left in `dir` once every other entry in it is
 * unlinked, copied to `name`; 0 when none is left, -1 on an error. A
 * fresh open of "." reads from the start with its own offset. */
static int
unlink_files(int dir, char name[256])
{
	int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;
	int found = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while (!found && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!unlinkat(dir, de->d_name, 0) || errno == ENOENT)
			continue;
		if (errno != EISDIR && errno != EPERM) {
			found = -1;
			break;
		}
		strcpy(name, de->d_name);	/* d_name is at most 255 bytes */
		found = 1;
	}
	closedir(d);
	return found;
}

/* Remove `name` in the directory fd `parent`, a whole tree if it is a
 * directory, without a recursion or a path per level: the levels under
 * way are a heap array of fds, so depth is bounded by the fd limit, not by
 * PATH_MAX or the C stack. It never follows a symlink and never crosses
 * into another file system (a mount point is an error). A missing `name`
 * is fine. 0, or -1 with errno set. */
int
ocl_remove_tree(int parent, const char *name)
{
	struct rm_level *lv = NULL, *grown;
	size_t n = 0, cap = 0;
	struct stat top, st;
	char sub[256];
	int rc = -1, e = 0, fd, got;

	if (!unlinkat(parent, name, 0) || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	if (strlen(name) > 255) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd < 0 || fstat(fd, &top)) {
		e = errno;
		goto out;
	}
	strcpy(sub, name);
	for (;;) {
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			grown = realloc(lv, cap * sizeof(*lv));
			if (!grown) {
				e = ENOMEM;
				close(fd);
				goto out;
			}
			lv = grown;
		}
		lv[n].fd = fd;
		lv[n].parent = n ? lv[n - 1].fd : parent;
		strcpy(lv[n].name, sub);
		n++;
		/* empty the deepest level; pop the levels that are done */
		while (n && (got = unlink_files(lv[n - 1].fd, sub)) == 0) {
			n--;
			close(lv[n].fd);
			if (unlinkat(lv[n].parent, lv[n].name, AT_REMOVEDIR)) {
				e = errno;
				goto out;
			}
		}
		if (!n) {
			rc = 0;
			goto out;
		}
		if (got < 0) {
			e = errno;
			goto out;
		}
		fd = openat(lv[n - 1].fd, sub, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st)) {
			e = errno;
			goto out;
		}
		if (st.st_dev != top.st_dev) {
			close(fd);
			e = EXDEV;
			goto out;
		}
	}
out:
	while (n)
		close(lv[--n].fd);
	free(lv);
	if (rc)
		errno = e;
	return rc;
}

static int
root_remove(lua_State *L)
{
	fs_root *r = check_root(L);
	const char *path = luaL_checkstring(L, 2);
	char pbuf[4096];
	const char *name = split(path, pbuf, sizeof(pbuf));
	int parent;

	if (!name) {
		errno = ENAMETOOLONG;
		return fail(L, path);
	}
	if (!*name) {
		errno = EACCES;	/* never the root itself */
		return fail(L, path);
	}
	parent = open_in(r->fd, pbuf, O_RDONLY | O_DIRECTORY, 0);
	if (parent < 0) {
		if (errno == ENOENT)
			goto done;
		return fail(L, path);
	}
	if (ocl_remove_tree(parent, name)) {
		int e = errno;

		close(parent);
		errno = e;
		return fail(L, path);
	}
	close(parent);
done:
	lua_pushboolean(L, 1);
	return 1;
}

static int *
check_file(lua_State *L)
{
	int *f = luaL_checkudata(L, 1, FILE_MT);

	if (*f < 0)
		luaL_error(L, "file is closed");
	return f;
}

static int
file_read(lua_State *L)
{
	int *f = check_file(L);
	lua_Integer n = luaL_optinteger(L, 2, 256 * 1024);
	luaL_Buffer b;
	ssize_t got;
	char *p;

	luaL_argcheck(L, n > 0 && n <= (64 << 20), 2, "bad size");
	p = luaL_buffinitsize(L, &b, (size_t)n);
	do
		got = read(*f, p, (size_t)n);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return fail(L, "read");
	if (got == 0) {
		lua_pushnil(L);
		return 1;
	}
	luaL_pushresultsize(&b, (size_t)got);
	return 1;
}

static int
file_write(lua_State *L)
{
	int *f = check_file(L);
	size_t n;
	const char *p = luaL_checklstring(L, 2, &n);

	while (n > 0) {
		ssize_t w = write(*f, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return fail(L, "write");
		p += w;
		n -= (size_t)w;
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int
file_size(lua_State *L)
{
	int *f = check_file(L);
	struct stat st;

	if (fstat(*f, &st))
		return fail(L, "stat");
	lua_pushinteger(L, (lua_Integer)st.st_size);
	return 1;
}

static int
file_close(lua_State *L)
{
	int *f = luaL_checkudata(L, 1, FILE_MT);

	if (*f >= 0)
		close(*f);
	*f = -1;
	return 0;
}

int
ocl_open_fs(lua_State *L)
{
	static const luaL_Reg root_m[] = {
		{ "open", root_open }, { "stat", root_stat },
		{ "list", root_list }, { "mkdir", root_mkdir },
		{ "remove", root_remove }, { "close", root_close },
		{ NULL, NULL }
	};
	static const luaL_Reg root_mm[] = {
		{ "__gc", root_close }, { "__close", root_close },
		{ NULL, NULL }
	};
	static const luaL_Reg file_m[] = {
		{ "read", file_read }, { "write", file_write },
		{ "size", file_size }, { "close", file_close },
		{ NULL, NULL }
	};
	static const luaL_Reg file_mm[] = {
		{ "__gc", file_close }, { "__close", file_close },
		{ NULL, NULL }
	};

	ocl_newclass(L, ROOT_MT, root_m, root_mm);
	ocl_newclass(L, FILE_MT, file_m, file_mm);
	lua_pop(L, 2);
	lua_pushcfunction(L, core_fs_root);
	lua_setfield(L, -2, "fs_root");
	return 0;
}
