/*
 * template.c - the template every sandbox's root starts from: the lower
 * layer of its root overlay, shared by all sandboxes and never written
 * once built.
 *
 *     dir = core.box_template(base)   base/t-VERSION-STAMP, built on first
 *                                     use (about 0.3 s) and shared after
 *
 * It holds the skeleton of a Debian root (bin -> usr/bin and the other
 * merged-/usr links, /home/sandbox, /workspace, /tmp), and a sandbox-owned
 * /etc: an allowlist of the host's non-private /etc entries (no shadow, no
 * SSH keys, no tokens in npmrc or pip.conf; within them only what every
 * host user may read, and never apt's auth.conf, ssl/private or
 * security/opasswd), then passwd, group, shadow (root, the host's
 * system accounts by name and id, nobody, sandbox) and sudoers of its own (the `sandbox` user has passwordless sudo, as in
 * the cloud), and a copy of the host's dpkg database so that apt and dpkg
 * inside agree with the /usr they see. Owners on disk are the ids inside
 * the sandbox (0 and 1000): each sandbox sees the template through an
 * idmapped mount that shifts them into its own host uid range (init.c).
 *
 * STAMP follows the host's /etc and dpkg database: a package installed on
 * the host gives the next sandboxes a new template.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/buf.h"
#include "runtime/runtime.h"
#include "sandbox/sandbox.h"

#define TEMPLATE_VERSION 4	/* bump when what is copied changes */
#define SANDBOX_UID	1000
#define SHADOW_GID	42	/* Debian's fixed gid of group shadow */

/* what a sandbox's /etc takes from the host: configuration that programs
 * need and that holds nothing private */
static const char *const etc_from_host[] = {
	"alternatives", "ssl", "ca-certificates", "ca-certificates.conf",
	"ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone",
	"os-release", "debian_version", "protocols", "services", "networks",
	"ethertypes", "mime.types", "magic", "magic.mime", "bash.bashrc",
	"profile", "profile.d", "inputrc", "shells",
	"gai.conf", "host.conf", "xattr.conf", "pam.conf", "pam.d",
	"security", "login.defs", "sudo.conf", "apt", "dpkg",
	"debconf.conf", "skel", "adduser.conf", "deluser.conf", "python3",
	"python3.11", "perl", "java-17-openjdk", "fonts", "terminfo", "vim",
	"locale.alias", "locale.gen", "mke2fs.conf", "iproute2", "X11",
	"manpath.config", "bindresvport.blacklist", "sgml", "xml",
	"ucf.conf", "issue", "issue.net", "motd", NULL
};

/* what is never copied, whatever its mode: credentials that live in
 * directories of the allowlist */
static const char *const etc_never[] = {
	"/etc/apt/auth.conf", "/etc/apt/auth.conf.d", "/etc/ssl/private",
	"/etc/security/opasswd", NULL
};

/* copy a file, or a symlink as a symlink, or a directory recursively;
 * a missing source is fine (not every host has every entry). Only what
 * every host user may read is copied (a file readable by others, a
 * directory they may list and enter), and nothing of etc_never: the
 * template is readable by root of every sandbox. */
static int
copy_tree(const char *from, const char *to)
{
	struct stat st;
	char chunk[65536];
	int i;

	for (i = 0; etc_never[i]; i++)
		if (!strcmp(from, etc_never[i]))
			return 0;
	if (lstat(from, &st))
		return errno == ENOENT ? 0 : -1;
	if ((S_ISREG(st.st_mode) && !(st.st_mode & S_IROTH)) ||
	    (S_ISDIR(st.st_mode) && (st.st_mode & (S_IROTH | S_IXOTH)) !=
	     (S_IROTH | S_IXOTH)))
		return 0;
	if (S_ISLNK(st.st_mode)) {
		ssize_t n = readlink(from, chunk, sizeof(chunk) - 1);

		if (n < 0)
			return -1;
		chunk[n] = '\0';
		return symlink(chunk, to) && errno != EEXIST ? -1 : 0;
	}
	if (S_ISDIR(st.st_mode)) {
		DIR *d;
		struct dirent *de;
		int rc = 0;

		if (mkdir(to, st.st_mode & 07777) && errno != EEXIST)
			return -1;
		d = opendir(from);
		if (!d)
			return errno == EACCES ? 0 : -1;
		while ((de = readdir(d))) {
			char a[4096], b[4096];

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (snprintf(a, sizeof(a), "%s/%s", from, de->d_name) >=
			    (int)sizeof(a) ||
			    snprintf(b, sizeof(b), "%s/%s", to, de->d_name) >=
			    (int)sizeof(b)) {
				rc = -1;
				continue;
			}
			if (copy_tree(a, b))
				rc = -1;
		}
		closedir(d);
		return rc;
	}
	if (S_ISREG(st.st_mode)) {
		int in = open(from, O_RDONLY | O_CLOEXEC), out;
		ssize_t n;

		if (in < 0)
			return errno == EACCES ? 0 : -1;
		out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			   st.st_mode & 0777);
		if (out < 0) {
			close(in);
			return -1;
		}
		while ((n = read(in, chunk, sizeof(chunk))) > 0)
			if (write(out, chunk, (size_t)n) != n) {
				n = -1;
				break;
			}
		close(in);
		close(out);
		return n < 0 ? -1 : 0;
	}
	return 0;	/* devices, sockets: not copied */
}

/* out = a + b, or -1 (ENAMETOOLONG) */
static int
join(char *out, size_t n, const char *a, const char *b)
{
	if (snprintf(out, n, "%s%s", a, b) < (int)n)
		return 0;
	errno = ENAMETOOLONG;
	return -1;
}

static int
write_file(const char *root, const char *name, const char *text, mode_t mode,
	   unsigned uid, unsigned gid)
{
	char p[4096];
	size_t len = strlen(text);
	int fd;

	if (join(p, sizeof(p), root, name))
		return -1;
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len || fchown(fd, uid, gid) ||
	    fchmod(fd, mode)) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* The host's system accounts (ids 1 to 999: Debian's base-passwd and
 * the packages' own, such as _apt, messagebus, ssl-cert), as lines of a
 * passwd (`group` 0) or group file: names and ids only, no password and
 * no group members (those would name the host's people). The /usr and
 * dpkg database a sandbox sees name them (dpkg's statoverride refuses to
 * run with a group it cannot find). Appended to `out`; `seen` marks the
 * ids found. Returns 0, or -1 out of memory. */
static int
system_accounts(const char *path, int group, buf *out, char *seen)
{
	char line[1024], entry[1100], *f[7];
	FILE *in = fopen(path, "re");
	int n, rc = 0;

	if (!in)
		return 0;	/* no such file: nothing to add */
	while (rc == 0 && fgets(line, sizeof(line), in)) {
		char *p = line;
		long id;

		line[strcspn(line, "\n")] = '\0';
		for (n = 0; n < 7 && p; n++)
			f[n] = strsep(&p, ":");
		if (n < (group ? 3 : 7))
			continue;
		id = strtol(f[2], &p, 10);
		if (*p || id < 1 || id > 999 || strcmp(f[0], "sandbox") == 0 ||
		    strchr(f[0], '/') || seen[id])
			continue;
		seen[id] = 1;
		n = group ? snprintf(entry, sizeof(entry), "%s:x:%ld:%s\n",
				     f[0], id, strcmp(f[0], "sudo") ? "" :
				     "sandbox")
			  : snprintf(entry, sizeof(entry),
				     "%s:x:%ld:%s:%s:%s:%s\n", f[0], id, f[3],
				     f[4], f[5], f[6]);
		if (n > 0 && (size_t)n < sizeof(entry))
			rc = buf_add(out, entry, (size_t)n);
	}
	fclose(in);
	return rc;
}

/* passwd, group and shadow of the sandbox: root, the host's system
 * accounts, nobody and `sandbox` (uid 1000, in group sudo) */
static int
write_accounts(const char *root)
{
	/* groups a sandbox needs whatever the host has */
	static const struct { int gid; const char *line; } needed[] = {
		{ 5, "tty:x:5:\n" }, { 27, "sudo:x:27:sandbox\n" },
		{ SHADOW_GID, "shadow:x:42:\n" }, { 100, "users:x:100:\n" },
		{ 0, NULL }
	};
	char seen[1000], line[256];
	buf pw = { 0 }, gr = { 0 }, sh = { 0 };
	size_t i, from;
	int rc, n;

	memset(seen, 0, sizeof(seen));
	rc = buf_add(&pw, "root:x:0:0:root:/root:/bin/bash\n", 32) ||
	     system_accounts("/etc/passwd", 0, &pw, seen);
	/* every system user gets a locked shadow entry */
	rc = rc || buf_add(&sh, "root:*:20000:0:99999:7:::\n", 26);
	for (from = 32; rc == 0 && from < pw.len; from = i + 1) {
		i = from + strcspn(pw.p + from, ":");
		n = snprintf(line, sizeof(line), "%.*s:*:20000:0:99999:7:::\n",
			     (int)(i - from), pw.p + from);
		rc = n < 0 || (size_t)n >= sizeof(line) ||
		     buf_add(&sh, line, (size_t)n);
		while (i < pw.len && pw.p[i] != '\n')
			i++;
	}
	n = snprintf(line, sizeof(line), "nobody:x:65534:65534:nobody:"
		     "/nonexistent:/usr/sbin/nologin\nsandbox:x:%u:%u:"
		     "sandbox:/home/sandbox:/bin/bash\n", SANDBOX_UID,
		     SANDBOX_UID);
	rc = rc || buf_add(&pw, line, (size_t)n) ||
	     buf_add(&sh, "nobody:*:20000:0:99999:7:::\n"
		     "sandbox:*:20000:0:99999:7:::\n", 56);
	memset(seen, 0, sizeof(seen));
	rc = rc || buf_add(&gr, "root:x:0:\n", 10) ||
	     system_accounts("/etc/group", 1, &gr, seen);
	for (i = 0; rc == 0 && needed[i].line; i++)
		if (!seen[needed[i].gid])
			rc = buf_add(&gr, needed[i].line,
				     strlen(needed[i].line));
	n = snprintf(line, sizeof(line), "nogroup:x:65534:\nsandbox:x:%u:\n",
		     SANDBOX_UID);
	rc = rc || buf_add(&gr, line, (size_t)n) ||
	     buf_add(&pw, "", 1) || buf_add(&gr, "", 1) || buf_add(&sh, "", 1);
	rc = rc || write_file(root, "/etc/passwd", pw.p, 0644, 0, 0) ||
	     write_file(root, "/etc/group", gr.p, 0644, 0, 0) ||
	     write_file(root, "/etc/shadow", sh.p, 0640, 0, SHADOW_GID);
	buf_free(&pw);
	buf_free(&gr);
	buf_free(&sh);
	return rc ? -1 : 0;
}

static int
make_root(const char *root)
{
	static const struct { const char *path; mode_t mode; unsigned uid; }
	dirs[] = {
		{ "", 0755, 0 }, { "/etc", 0755, 0 }, { "/home", 0755, 0 },
		{ "/root", 0700, 0 }, { "/tmp", 01777, 0 }, { "/var", 0755, 0 },
		{ "/var/tmp", 01777, 0 }, { "/var/log", 0755, 0 },
		{ "/var/cache", 0755, 0 }, { "/var/lib", 0755, 0 },
		{ "/opt", 0755, 0 }, { "/srv", 0755, 0 }, { "/mnt", 0755, 0 },
		{ "/run", 0755, 0 }, { "/run/lock", 01777, 0 },
		{ "/proc", 0555, 0 }, { "/dev", 0755, 0 }, { "/sys", 0555, 0 },
		{ "/usr", 0755, 0 }, { "/media", 0755, 0 },
		{ "/etc/sudoers.d", 0755, 0 },
		{ "/home/sandbox", 0755, SANDBOX_UID },
		{ "/workspace", 0755, SANDBOX_UID }, { NULL, 0, 0 }
	};
	static const char *const links[][2] = {
		{ "usr/bin", "/bin" }, { "usr/sbin", "/sbin" },
		{ "usr/lib", "/lib" }, { "usr/lib64", "/lib64" },
		{ "usr/lib32", "/lib32" }, { "usr/libx32", "/libx32" },
		{ NULL, NULL }
	};
	char p[4096], q[4096];
	int i;

	for (i = 0; dirs[i].path; i++)
		if (join(p, sizeof(p), root, dirs[i].path) ||
		    (mkdir(p, 0700) && errno != EEXIST) ||
		    chown(p, dirs[i].uid, dirs[i].uid) ||
		    chmod(p, dirs[i].mode))
			return -1;
	for (i = 0; links[i][0]; i++) {
		struct stat st;

		snprintf(q, sizeof(q), "/%s", links[i][0]);
		if (lstat(q, &st))
			continue;	/* the host has no /usr/lib32 */
		if (join(p, sizeof(p), root, links[i][1]) ||
		    (symlink(links[i][0], p) && errno != EEXIST))
			return -1;
	}
	for (i = 0; etc_from_host[i]; i++)
		if (join(q, sizeof(q), "/etc/", etc_from_host[i]) ||
		    join(p, sizeof(p), root, q) || copy_tree(q, p))
			return -1;
	if (join(p, sizeof(p), root, "/var/lib/dpkg") ||
	    copy_tree("/var/lib/dpkg", p))
		return -1;
	if (write_accounts(root) ||
	    write_file(root, "/etc/sudoers",
		       "# the sandbox user has passwordless sudo, as in the "
		       "OpenComputer cloud\n"
		       "Defaults env_reset\nDefaults !fqdn\n"
		       "Defaults secure_path=\"/usr/local/sbin:/usr/local/bin:"
		       "/usr/sbin:/usr/bin:/sbin:/bin\"\n"
		       "root ALL=(ALL:ALL) ALL\n"
		       "sandbox ALL=(ALL:ALL) NOPASSWD: ALL\n"
		       "@includedir /etc/sudoers.d\n", 0440, 0, 0) ||
	    write_file(root, "/etc/resolv.conf", "nameserver 10.0.2.3\n",
		       0644, 0, 0) ||
	    write_file(root, "/etc/nsswitch.conf",
		       "passwd: files\ngroup: files\nshadow: files\n"
		       "hosts: files dns\nnetworks: files\n"
		       "protocols: files\nservices: files\n", 0644, 0, 0))
		return -1;
	return 0;
}

/* the newest change to what a template copies from the host */
static long
host_stamp(void)
{
	static const char *const watched[] = {
		"/etc", "/etc/ssl/certs", "/etc/alternatives",
		"/etc/ld.so.cache", "/etc/pam.d", "/var/lib/dpkg/status", NULL
	};
	long stamp = 0;
	struct stat st;
	int i;

	for (i = 0; watched[i]; i++)
		if (!stat(watched[i], &st) && st.st_mtime > stamp)
			stamp = (long)st.st_mtime;
	return stamp;
}

static int
mkdirs(char *path)
{
	char *p;

	for (p = path + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(path, 0755) && errno != EEXIST)
				return -1;
			*p = '/';
		}
	return mkdir(path, 0755) && errno != EEXIST ? -1 : 0;
}

/* core.box_template(base) -> the directory of a template made from the
 * host as it is now: base/t-VERSION-STAMP (its root/ is the lower layer).
 * Built on first use, then shared; concurrent builders (several servers
 * on one base) each build privately and the first rename wins. Raises
 * when it cannot be built. */
static int
core_box_template(lua_State *L)
{
	const char *base = luaL_checkstring(L, 1);
	char dir[4096], tmp[4096], root[4200];
	struct stat st;

	if (snprintf(dir, sizeof(dir), "%s/t-%d-%ld", base, TEMPLATE_VERSION,
		     host_stamp()) >= (int)sizeof(dir) ||
	    snprintf(tmp, sizeof(tmp), "%s/building-%d", base,
		     (int)getpid()) >= (int)sizeof(tmp))
		return luaL_error(L, "template path too long");
	snprintf(root, sizeof(root), "%s/root/etc/passwd", dir);
	if (!stat(root, &st)) {
		lua_pushstring(L, dir);
		return 1;
	}
	strcpy(root, base);
	if (mkdirs(root))
		return luaL_error(L, "cannot make %s: %s", base,
				  strerror(errno));
	ocl_remove_path(tmp);	/* what a crashed build left */
	snprintf(root, sizeof(root), "%s/root", tmp);
	if ((mkdir(tmp, 0755) && errno != EEXIST) || make_root(root) ||
	    (rename(tmp, dir) && errno != ENOTEMPTY && errno != EEXIST))
		return luaL_error(L, "cannot build the sandbox template in "
				  "%s: %s", base, strerror(errno));
	ocl_remove_path(tmp);	/* another process's build came first */
	lua_pushstring(L, dir);
	return 1;
}

int
ocl_open_template(lua_State *L)
{
	lua_pushcfunction(L, core_box_template);
	lua_setfield(L, -2, "box_template");
	return 0;
}
