/*
 * fs.c - file operations confined to a sandbox's root and done as its
 * user, for the local server's files API:
 *
 * - Confined: every path is resolved by the kernel relative to a root
 *   directory fd with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), so
 *   "..", absolute or relative symlinks, symlinked parents and procfs
 *   magic links can never leave the root, and nothing is checked by
 *   string and used later: checks are made on the fd that is then used.
 * - As the user: every system call that touches the tree runs with the
 *   calling thread's credentials switched to the sandbox user's host ids
 *   (as_user/as_server). An effective uid other than 0 has no effective
 *   capabilities, so permissions are the user's own: no DAC override, no
 *   CAP_SYSLOG, and what it creates is its own.
 * - Regular files and directories only: a path is first resolved as an
 *   O_PATH fd (opening nothing), its type checked, and only a regular file
 *   is then opened, by re-opening that fd through /proc/self/fd (the same
 *   inode), non-blocking and never as a controlling terminal. FIFOs,
 *   sockets and devices are refused; nothing can block the loop.
 * - No writes to kernel interfaces: a write, mkdir or remove is refused
 *   when what it changes is on procfs, sysfs, devpts, cgroupfs and their
 *   kin, or on the sandbox's own /dev, /dev/shm, /dev/pts, /dev/mqueue
 *   mounts (decided by the file system of the resolved fd, not by the
 *   path: symlinks inside the sandbox can point there). Reads are allowed.
 *
 *     root = core.fs_root(root [, uid, gid])
 *     root:open(path, "r" | "w") -> file
 *     root:stat(path) -> {is_dir=, size=}
 *     root:list(path) -> {{name=, is_dir=, size=}, ...} in name order
 *     root:mkdir(path)        with parents; an existing dir is fine, an
 *                             existing file EEXIST (a file on the way:
 *                             ENOTDIR)
 *     root:remove(path)       recursive; a missing path is fine
 *     root:close()
 *     file:read(n) -> bytes, or nil at the end;  file:write(s)
 *     file:size() -> bytes, exact;  file:commit();  file:close()
 *
 * A file opened with "w" is a new temporary file in the directory of its
 * path, which file:commit() renames over the path: a reader sees the old
 * file or the whole new one, and a write that fails or is given up
 * (close() before commit(), or the file collected) removes its temporary
 * file and leaves the old file as it was (protocol.md 5: a failed upload
 * leaves no partial file).
 *
 * Paths are relative to the root ("a/b"; a leading "/" is the root). On
 * failure a call returns nil, a message and a code: the errno name
 * ("ENOENT", "EACCES", ...), "ENOTREG" for a FIFO, socket or device, or
 * "EREFUSED" for a write to a kernel interface. Calls block the loop
 * thread briefly: they are local file system calls on non-blocking fds.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/magic.h>
#include <linux/openat2.h>

#include "runtime/runtime.h"
#include "sandbox/err.h"
#include "sandbox/sandbox.h"

#define ROOT_MT		"oclua.fs_root"
#define FILE_MT		"oclua.fs_file"
#define LIST_MT		"oclua.fs_list"
#define PATH_BUF	4096
#define MAX_LINKS	40	/* symlinks followed by a write, as the kernel */
#define MAX_RACES	8	/* lookups of a write lost to racing creates */
#define SAVED_GROUPS	32	/* supplementary groups kept without malloc */
#define TMP_NAME	32	/* ".oclua-upload-" and 16 hex digits, \0 */

/* failures of our own, beside errno values (the kernel's stop at 4095) */
#define E_NOTREG	0x10000	/* a FIFO, socket or device */
#define E_REFUSED	0x10001	/* a write to a kernel interface */

/* file systems not in <linux/magic.h> */
#define MQUEUE_MAGIC	0x19800202
#define CONFIGFS_MAGIC	0x62656570
#define FUSECTL_MAGIC	0x65735543

/* the sandbox's own mounts under /dev, refused to writes by st_dev */
static const char *const dev_mounts[] = {
	"dev", "dev/shm", "dev/pts", "dev/mqueue"
};
#define N_DEV_MOUNTS	(sizeof(dev_mounts) / sizeof(dev_mounts[0]))

typedef struct fs_root {
	int	fd;		/* the root directory */
	int	uid, gid;	/* host ids acted as; -1: as the server */
	int	ndevs;
	dev_t	devs[N_DEV_MOUNTS];	/* the sandbox's /dev mounts */
} fs_root;

typedef struct fs_file {
	int	fd;
	int	uid, gid;	/* as the root's */
	int	dir;		/* O_PATH fd of its directory, for commit() */
	int	exact;		/* st_size is its length */
	off_t	size;		/* at open */
	char	*name;		/* in `dir` (points into `path`'s buffer) */
	char	tmp[TMP_NAME];	/* a write's temporary file in `dir`, until
				 * commit(); "" for none */
	char	path[];		/* as given, for messages; then the name */
} fs_file;

/* The calling thread's credentials while it acts as a user, and what a
 * change of its effective uid resets in the kernel (the dumpable flag,
 * the parent-death signal), to be put back. */
typedef struct creds {
	int	active;
	uid_t	euid;
	gid_t	egid;
	int	ngroups;
	gid_t	*groups, saved[SAVED_GROUPS];
	int	dumpable, pdeath;
	pid_t	ppid;
} creds;

static int
set_groups(int n, const gid_t *list)
{
	return (int)syscall(SYS_setgroups, (long)n, list);
}

/* Switch the calling thread (only it: raw system calls, not the C
 * library's process-wide ones) to act as uid:gid with no supplementary
 * groups; with uid -1, leave it as it is. 0, or -1 and errno with the
 * credentials unchanged: then the operation must not go on. */
static int
as_user(int uid, int gid, creds *c)
{
	int n;

	c->active = 0;
	if (uid < 0)
		return 0;
	c->euid = geteuid();
	c->egid = getegid();
	n = getgroups(0, NULL);
	if (n < 0)
		return -1;
	c->groups = n <= SAVED_GROUPS ? c->saved : malloc((size_t)n *
							   sizeof(gid_t));
	if (!c->groups) {
		errno = ENOMEM;
		return -1;
	}
	c->ngroups = getgroups(n, c->groups);
	c->dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	if (prctl(PR_GET_PDEATHSIG, &c->pdeath, 0, 0, 0))
		c->pdeath = 0;
	c->ppid = getppid();
	if (c->ngroups < 0 || set_groups(0, NULL))
		goto out;
	if (syscall(SYS_setresgid, -1L, (long)gid, -1L))
		goto groups;
	if (syscall(SYS_setresuid, -1L, (long)uid, -1L))
		goto gid;
	c->active = 1;
	return 0;
gid:
	(void)!syscall(SYS_setresgid, -1L, (long)c->egid, -1L);
groups:
	(void)!set_groups(c->ngroups, c->groups);
out:
	if (c->groups != c->saved)
		free(c->groups);
	return -1;
}

/* Back to the server's credentials after as_user(); errno is kept. A
 * thread that cannot return is in no state to serve: it aborts. */
static void
as_server(creds *c)
{
	int e = errno;

	if (!c->active)
		return;
	c->active = 0;
	if (syscall(SYS_setresuid, -1L, (long)c->euid, -1L) ||
	    syscall(SYS_setresgid, -1L, (long)c->egid, -1L) ||
	    set_groups(c->ngroups, c->groups)) {
		fprintf(stderr, "oclua: fs.c: cannot return to the server's "
			"credentials: %s\n", strerror(errno));
		abort();
	}
	if (c->groups != c->saved)
		free(c->groups);
	if (c->dumpable == 0 || c->dumpable == 1)
		prctl(PR_SET_DUMPABLE, c->dumpable, 0, 0, 0);
	if (c->pdeath) {
		prctl(PR_SET_PDEATHSIG, c->pdeath, 0, 0, 0);
		if (getppid() != c->ppid)	/* it died meanwhile */
			kill(getpid(), c->pdeath);
	}
	errno = e;
}

static int
resolve(int dir, const char *path, int flags, mode_t mode, uint64_t scope)
{
	struct open_how how;

	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	how.mode = (flags & O_CREAT) ? mode : 0;
	how.resolve = scope | RESOLVE_NO_MAGICLINKS;
	return (int)syscall(SYS_openat2, dir, path, &how, sizeof(how));
}

/* `path` inside the root fd (symlinks followed, inside) */
static int
open_in(int root, const char *path, int flags)
{
	while (*path == '/')
		path++;
	return resolve(root, *path ? path : ".", flags, 0, RESOLVE_IN_ROOT);
}

/* the name `name` (no slash) right in the directory fd `dir` */
static int
open_at(int dir, const char *name, int flags, mode_t mode)
{
	return resolve(dir, name, flags, mode, RESOLVE_BENEATH);
}

/* Open the file of the O_PATH fd `fd` for I/O: the same inode, with the
 * caller's permissions checked as any open's. */
static int
reopen(int fd, int flags)
{
	char p[32];

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	return open(p, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
}

static int
close_keep_errno(int fd)
{
	int e = errno;

	if (fd >= 0)
		close(fd);
	errno = e;
	return -1;
}

/* file systems that are kernel interfaces: never written, and their
 * files' sizes say nothing of their contents */
static int
kernel_fs(long type)
{
	switch ((unsigned long)type) {
	case PROC_SUPER_MAGIC: case SYSFS_MAGIC: case DEVPTS_SUPER_MAGIC:
	case CGROUP_SUPER_MAGIC: case CGROUP2_SUPER_MAGIC:
	case DEBUGFS_MAGIC: case TRACEFS_MAGIC: case SECURITYFS_MAGIC:
	case SELINUX_MAGIC: case SMACK_MAGIC: case BPF_FS_MAGIC:
	case PSTOREFS_MAGIC: case EFIVARFS_MAGIC: case BINFMTFS_MAGIC:
	case RDTGROUP_SUPER_MAGIC: case NSFS_MAGIC: case BINDERFS_SUPER_MAGIC:
	case USBDEVICE_SUPER_MAGIC: case OPENPROM_SUPER_MAGIC:
	case MQUEUE_MAGIC: case CONFIGFS_MAGIC: case FUSECTL_MAGIC:
		return 1;
	}
	return 0;
}

/* 0 when what `fd` is on may be written; else -1 with errno E_REFUSED
 * (a kernel interface or the sandbox's /dev) or the failure's */
static int
check_writable(const fs_root *r, int fd)
{
	struct statfs sf;
	struct stat st;
	int i;

	if (fstatfs(fd, &sf) || fstat(fd, &st))
		return -1;
	for (i = 0; i < r->ndevs; i++) {
		if (st.st_dev == r->devs[i])
			goto refused;
	}
	if (!kernel_fs((long)sf.f_type))
		return 0;
refused:
	errno = E_REFUSED;
	return -1;
}

/* 0 for a regular file; else -1 and EISDIR or E_NOTREG */
static int
check_regular(const struct stat *st)
{
	if (S_ISREG(st->st_mode))
		return 0;
	errno = S_ISDIR(st->st_mode) ? EISDIR : E_NOTREG;
	return -1;
}

/* nil, a message naming `path` and the code of errno */
static int
fail(lua_State *L, const char *path)
{
	int e = errno;
	const char *code = sandbox_errno_name(e);

	lua_pushnil(L);
	if (e == E_NOTREG) {
		lua_pushfstring(L, "not a regular file or directory: %s", path);
		code = "ENOTREG";
	} else if (e == E_REFUSED) {
		lua_pushfstring(L, "%s: writes under /proc, /sys and /dev "
				"(kernel interfaces and devices) are refused",
				path);
		code = "EREFUSED";
	} else if (e == EAGAIN) {
		lua_pushfstring(L, "%s: not ready (it would block)", path);
	} else
		lua_pushfstring(L, "%s: %s", path, strerror(e));
	lua_pushstring(L, code);
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

/* split "a/b/c" into the parent "a/b" (in buf) and the last name "c";
 * NULL when it does not fit, "" for the root itself */
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
	if (len + 1 >= n)
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

static int
dot_name(const char *name)
{
	return !strcmp(name, ".") || !strcmp(name, "..");
}

/* mkdir -p `path` inside the root, never where writes are refused; an
 * O_PATH fd of the directory, or -1 and errno */
static int
make_dirs(const fs_root *r, const char *path)
{
	char buf[PATH_BUF];
	size_t i, len;
	int cur, next;

	while (*path == '/')
		path++;
	len = strlen(path);
	if (len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	cur = open_in(r->fd, "", O_PATH | O_DIRECTORY);
	for (i = 1; cur >= 0 && i <= len; i++) {
		char c = buf[i];
		const char *name;

		if ((c != '/' && c != '\0') || buf[i - 1] == '/')
			continue;
		buf[i] = '\0';
		next = open_in(r->fd, buf, O_PATH | O_DIRECTORY);
		if (next < 0 && errno == ENOENT) {
			name = strrchr(buf, '/');
			name = name ? name + 1 : buf;
			if (!dot_name(name) && !check_writable(r, cur) &&
			    (!mkdirat(cur, name, 0755) || errno == EEXIST))
				next = open_in(r->fd, buf, O_PATH | O_DIRECTORY);
		}
		buf[i] = c;
		close_keep_errno(cur);
		cur = next;
	}
	return cur;
}

/* create f's temporary file in `dir` with `mode`: f->fd and f->tmp; 0, or
 * -1 and errno */
static int
create_temp(int dir, fs_file *f, mode_t mode)
{
	unsigned char rnd[8];
	int races;

	for (races = 0; races < MAX_RACES; races++) {
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return -1;
		snprintf(f->tmp, sizeof(f->tmp), ".oclua-upload-%02x%02x%02x%02x"
			 "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3],
			 rnd[4], rnd[5], rnd[6], rnd[7]);
		f->fd = open_at(dir, f->tmp, O_WRONLY | O_CREAT | O_EXCL |
				O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, mode);
		if (f->fd >= 0)
			return fchmod(f->fd, mode) ? -1 : 0;	/* not umask's */
		if (errno != EEXIST)
			break;
	}
	f->tmp[0] = '\0';
	return -1;
}

/* Open `name` in the directory `dir` for writing into f: its temporary
 * file, with the mode of an existing regular file (which the user must be
 * able to write: checked by opening it for writing, through a re-open of
 * what was checked), else 0644. 0; 1 when `name` is a symlink, its target
 * then in `target`; -1 and errno. */
static int
open_name_w(const fs_root *r, int dir, const char *name, fs_file *f,
	    char *target, size_t n)
{
	struct stat st;
	int fd, w;
	ssize_t len;

	fd = open_at(dir, name, O_PATH | O_NOFOLLOW, 0);
	if (fd < 0 && errno != ENOENT)
		return -1;
	if (fd < 0)
		return check_writable(r, dir) ? -1 : create_temp(dir, f, 0644);
	if (fstat(fd, &st))
		return close_keep_errno(fd);
	if (S_ISLNK(st.st_mode)) {
		len = readlinkat(fd, "", target, n);
		close_keep_errno(fd);
		if (len < 0)
			return -1;
		if ((size_t)len >= n) {
			errno = ENAMETOOLONG;
			return -1;
		}
		target[len] = '\0';
		return 1;
	}
	if (check_regular(&st) || check_writable(r, fd))
		return close_keep_errno(fd);
	w = reopen(fd, O_WRONLY);
	close_keep_errno(fd);
	if (w < 0)
		return -1;
	close(w);
	return create_temp(dir, f, st.st_mode & 07777);
}

/* Open `path` for writing into f, making its parents (0755); a symlink
 * at the end is followed inside the root, as the kernel would (without
 * making the target's parents). f->dir and f->name say where it is. */
static int
open_write(const fs_root *r, const char *path, fs_file *f)
{
	char cur[PATH_BUF], pbuf[PATH_BUF], target[PATH_BUF];
	const char *name;
	size_t plen, tlen;
	int links, rc, dir;

	if (strlen(path) >= sizeof(cur)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(cur, path);
	for (links = 0; ; links++) {
		name = split(cur, pbuf, sizeof(pbuf));
		if (!name || !*name || dot_name(name)) {
			errno = !name ? ENAMETOOLONG : EISDIR;
			return -1;
		}
		dir = links ? open_in(r->fd, pbuf, O_PATH | O_DIRECTORY) :
			make_dirs(r, pbuf);
		if (dir < 0)
			return -1;
		rc = open_name_w(r, dir, name, f, target, sizeof(target));
		if (rc <= 0)
			break;
		close(dir);
		if (links == MAX_LINKS) {
			errno = ELOOP;
			return -1;
		}
		/* a relative target is relative to the link's directory */
		plen = target[0] == '/' ? 0 : strlen(pbuf);
		tlen = strlen(target);
		if (plen + tlen + 2 > sizeof(cur)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(cur, pbuf, plen);
		cur[plen] = '/';
		memcpy(cur + plen + 1, target, tlen + 1);
	}
	if (rc < 0)
		return close_keep_errno(dir);
	f->dir = dir;
	f->name = f->path + strlen(f->path) + 1;
	strcpy(f->name, name);
	return 0;
}

static int
open_read(const fs_root *r, const char *path, fs_file *f)
{
	struct statfs sf;
	struct stat st;
	int fd = open_in(r->fd, path, O_PATH);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || fstatfs(fd, &sf) || check_regular(&st))
		return close_keep_errno(fd);
	f->fd = reopen(fd, O_RDONLY);
	close_keep_errno(fd);
	f->size = st.st_size;
	f->exact = st.st_size > 0 && !kernel_fs((long)sf.f_type);
	return f->fd < 0 ? -1 : 0;
}

/* record the st_dev of the sandbox's /dev mounts (those on a file system
 * of their own): writes there are refused */
static void
note_dev_mounts(fs_root *r)
{
	struct stat root, st;
	size_t i;
	int fd;

	if (fstat(r->fd, &root))
		return;
	for (i = 0; i < N_DEV_MOUNTS; i++) {
		fd = open_in(r->fd, dev_mounts[i], O_PATH | O_DIRECTORY);
		if (fd < 0)
			continue;
		if (!fstat(fd, &st) && st.st_dev != root.st_dev)
			r->devs[r->ndevs++] = st.st_dev;
		close(fd);
	}
}

/* core.fs_root(root [, uid, gid]): `root` is a directory path or a
 * directory fd (the caller keeps it: it is duplicated); uid and gid are
 * the host ids that every operation acts as (gid defaults to uid; no uid:
 * as the server). The root, or nil, a message and a code. */
static int
core_fs_root(lua_State *L)
{
	lua_Integer uid = luaL_optinteger(L, 2, -1);
	lua_Integer gid = luaL_optinteger(L, 3, uid);
	fs_root *r;
	struct stat st;

	luaL_argcheck(L, uid >= -1 && uid <= INT_MAX, 2, "bad uid");
	luaL_argcheck(L, gid >= -1 && gid <= INT_MAX && (gid < 0) == (uid < 0),
		      3, "bad gid");
	if (lua_type(L, 1) != LUA_TNUMBER)
		luaL_checkstring(L, 1);
	r = lua_newuserdatauv(L, sizeof(*r), 0);
	r->fd = -1;
	r->uid = (int)uid;
	r->gid = (int)gid;
	r->ndevs = 0;
	luaL_setmetatable(L, ROOT_MT);
	if (lua_type(L, 1) == LUA_TNUMBER) {
		lua_Integer fd = luaL_checkinteger(L, 1);

		r->fd = fd < 0 || fd > INT_MAX ? (errno = EBADF, -1) :
			fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
	} else
		r->fd = open(lua_tostring(L, 1), O_PATH | O_DIRECTORY |
			     O_CLOEXEC);
	if (r->fd >= 0 && !fstat(r->fd, &st) && !S_ISDIR(st.st_mode)) {
		close(r->fd);
		r->fd = -1;
		errno = ENOTDIR;
	}
	if (r->fd < 0)
		return fail(L, lua_type(L, 1) == LUA_TNUMBER ? "root fd" :
			    lua_tostring(L, 1));
	note_dev_mounts(r);
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

static fs_file *
new_file(lua_State *L, const fs_root *r, const char *path)
{
	size_t len = strlen(path);
	fs_file *f = lua_newuserdatauv(L, sizeof(*f) + len + 1 + NAME_MAX + 1,
				       0);

	f->fd = f->dir = -1;
	f->uid = r->uid;
	f->gid = r->gid;
	f->exact = 0;
	f->size = 0;
	f->name = NULL;
	f->tmp[0] = '\0';
	memcpy(f->path, path, len + 1);
	luaL_setmetatable(L, FILE_MT);
	return f;
}

static int
root_open(lua_State *L)
{
	static const char *const modes[] = { "r", "w", NULL };
	fs_root *r = check_root(L);
	const char *path = luaL_checkstring(L, 2);
	int write = luaL_checkoption(L, 3, "r", modes), rc;
	fs_file *f = new_file(L, r, path);
	creds c;

	if (as_user(r->uid, r->gid, &c))
		return fail(L, path);
	rc = write ? open_write(r, path, f) : open_read(r, path, f);
	as_server(&c);
	if (rc)
		return fail(L, path);
	return 1;
}

static int
root_stat(lua_State *L)
{
	fs_root *r = check_root(L);
	const char *path = luaL_checkstring(L, 2);
	struct stat st;
	creds c;
	int fd;

	if (as_user(r->uid, r->gid, &c))
		return fail(L, path);
	fd = open_in(r->fd, path, O_PATH);
	if (fd >= 0 && fstat(fd, &st))
		fd = close_keep_errno(fd);
	as_server(&c);
	if (fd < 0)
		return fail(L, path);
	close(fd);
	lua_createtable(L, 0, 2);
	lua_pushboolean(L, S_ISDIR(st.st_mode));
	lua_setfield(L, -2, "is_dir");
	lua_pushinteger(L, (lua_Integer)st.st_size);
	lua_setfield(L, -2, "size");
	return 1;
}

typedef struct entry {
	char	*name;
	int	is_dir;
	off_t	size;
} entry;

/* a listing read while acting as the user, held by a userdata until it
 * is in a Lua table (building one may raise) */
typedef struct entries {
	entry	*list;
	size_t	n;
} entries;

static void
free_entries(entries *es)
{
	while (es->n)
		free(es->list[--es->n].name);
	free(es->list);
	es->list = NULL;
}

static int
entries_gc(lua_State *L)
{
	free_entries(luaL_checkudata(L, 1, LIST_MT));
	return 0;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

/* the entries of the directory `path` (those that can be stat'ed) into
 * a heap array; -1 and errno */
static int
read_dir(const fs_root *r, const char *path, entry **out, size_t *count)
{
	int fd = open_in(r->fd, path, O_RDONLY | O_DIRECTORY | O_NONBLOCK);
	entry *list = NULL, *grown;
	size_t n = 0, cap = 0;
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (!d)
		return close_keep_errno(fd);
	while ((de = readdir(d))) {
		if (dot_name(de->d_name) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			grown = realloc(list, cap * sizeof(*list));
			if (!grown)
				break;
			list = grown;
		}
		list[n].name = strdup(de->d_name);
		list[n].is_dir = S_ISDIR(st.st_mode);
		list[n].size = st.st_size;
		if (list[n].name)
			n++;
	}
	closedir(d);
	*out = list;
	*count = n;
	return 0;
}

static int
root_list(lua_State *L)
{
	fs_root *r = check_root(L);
	const char *path = luaL_checkstring(L, 2);
	entries *es;
	size_t i;
	creds c;
	int rc;

	lua_settop(L, 2);
	es = lua_newuserdatauv(L, sizeof(*es), 0);	/* 3 */
	es->list = NULL;
	es->n = 0;
	luaL_setmetatable(L, LIST_MT);
	if (as_user(r->uid, r->gid, &c))
		return fail(L, path);
	rc = read_dir(r, path, &es->list, &es->n);
	as_server(&c);
	if (rc)
		return fail(L, path);
	if (es->n)
		qsort(es->list, es->n, sizeof(*es->list), by_name);
	lua_createtable(L, (int)es->n, 0);
	for (i = 0; i < es->n; i++) {
		lua_createtable(L, 0, 3);
		lua_pushstring(L, es->list[i].name);
		lua_setfield(L, -2, "name");
		lua_pushboolean(L, es->list[i].is_dir);
		lua_setfield(L, -2, "is_dir");
		lua_pushinteger(L, (lua_Integer)es->list[i].size);
		lua_setfield(L, -2, "size");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	free_entries(es);
	return 1;
}
/* after ENOTDIR from make_dirs: EEXIST when `path` itself is there and
 * not a directory (as mkdir -p says), ENOTDIR kept when a directory on
 * the way is not one */
static void
exists_as_file(const fs_root *r, const char *path)
{
	int fd = open_in(r->fd, path, O_PATH);

	if (fd >= 0) {
		close(fd);
		errno = EEXIST;
	} else {
		errno = ENOTDIR;
	}
}

static int
root_mkdir(lua_State *L)
{
	fs_root *r = check_root(L);
	const char *path = luaL_checkstring(L, 2);
	creds c;
	int fd;

	if (as_user(r->uid, r->gid, &c))
		return fail(L, path);
	fd = make_dirs(r, path);
	if (fd >= 0 && check_writable(r, fd))	/* an existing one there */
		fd = close_keep_errno(fd);
	if (fd < 0 && errno == ENOTDIR)
		exists_as_file(r, path);
	as_server(&c);
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

/* remove `path` (a tree), refused where writes are: in its directory or
 * when it is itself such a mount; a missing path is fine */
static int
remove_path(const fs_root *r, const char *path)
{
	char pbuf[PATH_BUF];
	const char *name = split(path, pbuf, sizeof(pbuf));
	int parent, fd, rc;

	if (!name || !*name || dot_name(name)) {
		/* never the root itself */
		errno = !name ? ENAMETOOLONG : *name ? EINVAL : EACCES;
		return -1;
	}
	parent = open_in(r->fd, pbuf, O_PATH | O_DIRECTORY);
	if (parent < 0)
		return errno == ENOENT ? 0 : -1;
	if (check_writable(r, parent))
		return close_keep_errno(parent);
	fd = open_at(parent, name, O_PATH | O_NOFOLLOW, 0);
	if (fd < 0 && errno != ENOENT)
		return close_keep_errno(parent);
	if (fd >= 0) {
		rc = check_writable(r, fd);
		close_keep_errno(fd);
		if (rc)
			return close_keep_errno(parent);
	}
	rc = ocl_remove_tree(parent, name);
	close_keep_errno(parent);
	return rc;
}

static int
root_remove(lua_State *L)
{
	fs_root *r = check_root(L);
	const char *path = luaL_checkstring(L, 2);
	creds c;
	int rc;

	if (as_user(r->uid, r->gid, &c))
		return fail(L, path);
	rc = remove_path(r, path);
	as_server(&c);
	if (rc)
		return fail(L, path);
	lua_pushboolean(L, 1);
	return 1;
}

static fs_file *
check_file(lua_State *L)
{
	fs_file *f = luaL_checkudata(L, 1, FILE_MT);

	if (f->fd < 0)
		luaL_error(L, "file is closed");
	return f;
}

/* file:read([n]): up to n bytes (default 256 KiB), nil at the end; a
 * file with nothing to read yet is an error (EAGAIN), not a wait */
static int
file_read(lua_State *L)
{
	fs_file *f = check_file(L);
	lua_Integer n = luaL_optinteger(L, 2, 256 * 1024);
	luaL_Buffer b;
	ssize_t got;
	creds c;
	char *p;

	luaL_argcheck(L, n > 0 && n <= (64 << 20), 2, "bad size");
	p = luaL_buffinitsize(L, &b, (size_t)n);
	if (as_user(f->uid, f->gid, &c))
		return fail(L, f->path);
	do
		got = read(f->fd, p, (size_t)n);
	while (got < 0 && errno == EINTR);
	as_server(&c);
	if (got < 0)
		return fail(L, f->path);
	if (got == 0) {
		lua_pushnil(L);
		return 1;
	}
	luaL_pushresultsize(&b, (size_t)got);
	return 1;
}

/* file:write(s): all of s, or nil, a message and a code */
static int
file_write(lua_State *L)
{
	fs_file *f = check_file(L);
	size_t n;
	const char *p = luaL_checklstring(L, 2, &n);
	ssize_t w = 0;
	creds c;

	if (as_user(f->uid, f->gid, &c))
		return fail(L, f->path);
	while (n > 0) {
		w = write(f->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break;
		p += w;
		n -= (size_t)w;
	}
	as_server(&c);
	if (w < 0)
		return fail(L, f->path);
	lua_pushboolean(L, 1);
	return 1;
}

/* file:size(): its size in bytes when opened, and whether that is its
 * length (false for an empty size and on kernel interfaces such as
 * procfs, where a file reads to more or less than it says) */
static int
file_size(lua_State *L)
{
	fs_file *f = check_file(L);

	lua_pushinteger(L, (lua_Integer)f->size);
	lua_pushboolean(L, f->exact);
	return 2;
}

/* remove f's temporary file, when its name still is that file (best
 * effort) */
static void
remove_temp(fs_file *f)
{
	struct stat mine, there;
	creds c;

	if (f->tmp[0] && f->fd >= 0 && f->dir >= 0 && !fstat(f->fd, &mine) &&
	    !as_user(f->uid, f->gid, &c)) {
		if (!fstatat(f->dir, f->tmp, &there, AT_SYMLINK_NOFOLLOW) &&
		    there.st_dev == mine.st_dev && there.st_ino == mine.st_ino)
			(void)unlinkat(f->dir, f->tmp, 0);
		as_server(&c);
	}
	f->tmp[0] = '\0';
}

/* file:close(): a file opened for writing and not committed goes */
static int
file_close(lua_State *L)
{
	fs_file *f = luaL_checkudata(L, 1, FILE_MT);

	remove_temp(f);
	if (f->fd >= 0)
		close(f->fd);
	if (f->dir >= 0)
		close(f->dir);
	f->fd = f->dir = -1;
	return 0;
}

/* file:commit(): rename a file opened for writing over its path and close
 * it; true, or nil, a message and a code (the file is then discarded) */
static int
file_commit(lua_State *L)
{
	fs_file *f = check_file(L);
	creds c;
	int rc = -1, e;

	luaL_argcheck(L, f->tmp[0], 1, "not a file opened for writing");
	if (!as_user(f->uid, f->gid, &c)) {
		rc = renameat(f->dir, f->tmp, f->dir, f->name);
		as_server(&c);
	}
	if (!rc)
		f->tmp[0] = '\0';
	e = errno;
	file_close(L);
	if (rc) {
		errno = e;
		return fail(L, f->path);
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* the absolute path's parent, then ocl_remove_tree (sandbox.h) */
int
ocl_remove_path(const char *path)
{
	const char *slash = strrchr(path, '/');
	char parent[4096];
	int fd, rc, e;

	if (!slash || (size_t)(slash - path) >= sizeof(parent)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(parent, path, (size_t)(slash - path));
	parent[slash - path] = '\0';
	fd = open(*parent ? parent : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	rc = ocl_remove_tree(fd, slash + 1);
	e = errno;
	close(fd);
	errno = e;
	return rc;
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
		{ "size", file_size }, { "commit", file_commit },
		{ "close", file_close }, { NULL, NULL }
	};
	static const luaL_Reg file_mm[] = {
		{ "__gc", file_close }, { "__close", file_close },
		{ NULL, NULL }
	};
	static const luaL_Reg list_m[] = { { NULL, NULL } };
	static const luaL_Reg list_mm[] = {
		{ "__gc", entries_gc }, { NULL, NULL }
	};

	ocl_newclass(L, ROOT_MT, root_m, root_mm);
	ocl_newclass(L, FILE_MT, file_m, file_mm);
	ocl_newclass(L, LIST_MT, list_m, list_mm);
	lua_pop(L, 3);
	lua_pushcfunction(L, core_fs_root);
	lua_setfield(L, -2, "fs_root");
	return 0;
}
