/*
 * init.c - the init process of a sandbox: runs in the child that
 * box.c clones with new mount, PID, network, UTS and IPC namespaces.
 *
 * It lays out the sandbox's root (first boot), mounts it (host /usr under
 * a per-sandbox overlay, a sandbox-owned /etc, a fresh /proc, a minimal
 * /dev, loopback up), pivots into it and then, as PID 1, starts the
 * commands the server sends, reports their exits and reaps every orphan.
 * When the server's end of the socket closes, it kills everything and
 * exits, which ends the PID namespace.
 *
 * The root is an overlay: a template shared by all sandboxes (made once by
 * box_make_template: the skeleton, a sandbox-owned /etc built from an
 * allowlist of the host's non-private /etc files) under the sandbox's own
 * writable layer; /usr is the host's /usr under another writable layer.
 * On disk (DIR = the sandbox's state directory, TPL = the template):
 *   TPL/root                         lower layer of /
 *   DIR/upper/root, DIR/work/root    the sandbox's layer over /
 *   DIR/upper/usr, DIR/work/usr      the sandbox's layer over /usr
 *   DIR/rootfs                       where the root overlay is mounted
 *
 * This runs after a fork-like clone() of the server, which has no other
 * threads (the server process uses no libuv thread pool and no libcurl
 * resolver), so the C library is usable here as after fork().
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include "sandbox/box.h"

#define MAX_TRACKED	4096

static int ctl = -1;

static void
reply(uint32_t type, uint32_t id, int32_t a, int32_t b, const char *text)
{
	char buf[sizeof(struct box_msg) + 512];
	struct box_msg m;
	size_t n = text ? strlen(text) : 0;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.id = id;
	m.a = a;
	m.b = b;
	if (n > 511)
		n = 511;
	memcpy(buf, &m, sizeof(m));
	if (n)
		memcpy(buf + sizeof(m), text, n);
	(void)!send(ctl, buf, sizeof(m) + n, MSG_NOSIGNAL);
}

static void
setup_failed(const char *step)
{
	reply(BOX_SETUP_FAILED, 0, errno, 0, step);
	_exit(1);
}

static void setup_failed(const char *step);

/* out = a + b + c; a path too long for the buffer ends the setup */
static void
path3(char *out, size_t n, const char *a, const char *b, const char *c)
{
	if (snprintf(out, n, "%s%s%s", a, b, c) >= (int)n) {
		errno = ENAMETOOLONG;
		setup_failed(a);
	}
}

static void
path2(char *out, size_t n, const char *a, const char *b)
{
	path3(out, n, a, b, "");
}

static int
write_file(const char *root, const char *name, const char *text, mode_t mode)
{
	char p[4096];
	int fd;
	size_t len = strlen(text);

	path2(p, sizeof(p), root, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return close(fd);
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

/* copy a file, or a symlink as a symlink, or a directory recursively */
static int
copy_tree(const char *from, const char *to)
{
	struct stat st;
	char buf[65536];

	if (lstat(from, &st))
		return errno == ENOENT ? 0 : -1;
	if (S_ISLNK(st.st_mode)) {
		ssize_t n = readlink(from, buf, sizeof(buf) - 1);

		if (n < 0)
			return -1;
		buf[n] = '\0';
		return symlink(buf, to) && errno != EEXIST ? -1 : 0;
	}
	if (S_ISDIR(st.st_mode)) {
		DIR *d;
		struct dirent *de;
		int rc = 0;

		if (mkdir(to, st.st_mode & 07777) && errno != EEXIST)
			return -1;
		d = opendir(from);
		if (!d)
			return -1;
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
			return -1;
		out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			   st.st_mode & 0777);
		if (out < 0) {
			close(in);
			return -1;
		}
		while ((n = read(in, buf, sizeof(buf))) > 0)
			if (write(out, buf, (size_t)n) != n) {
				n = -1;
				break;
			}
		close(in);
		close(out);
		return n < 0 ? -1 : 0;
	}
	return 0;	/* devices, sockets: not copied */
}

/* what a sandbox's own /etc takes from the host: nothing private */
static const char *const etc_from_host[] = {
	"alternatives", "ssl", "ca-certificates", "ca-certificates.conf",
	"ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone",
	"os-release", "debian_version", "protocols", "services", "mime.types",
	"bash.bashrc", "profile", "profile.d", "inputrc", "shells", "magic",
	"environment", "gai.conf", "host.conf", "xattr.conf", NULL
};

/* the template's root: what every sandbox starts from (read-only lower
 * layer of its root overlay). Errors are returned, not fatal: this runs
 * in the server. */
static int
make_template_root(const char *root, unsigned uid, unsigned gid)
{
	static const char *const dirs[] = {
		"", "/etc", "/home", "/root", "/tmp", "/var", "/var/tmp",
		"/var/log", "/var/cache", "/var/lib", "/opt", "/srv", "/mnt",
		"/run", "/proc", "/dev", "/sys", "/usr", "/media",
		"/home/sandbox", NULL
	};
	static const char *const links[][2] = {
		{ "usr/bin", "/bin" }, { "usr/sbin", "/sbin" },
		{ "usr/lib", "/lib" }, { "usr/lib64", "/lib64" },
		{ "usr/lib32", "/lib32" }, { "usr/libx32", "/libx32" },
		{ NULL, NULL }
	};
	char p[4096], q[4096], text[1024];
	int i;

	for (i = 0; dirs[i]; i++) {
		if (join(p, sizeof(p), root, dirs[i]) ||
		    (mkdir(p, 0755) && errno != EEXIST))
			return -1;
	}
	if (join(p, sizeof(p), root, "/home/sandbox") || chown(p, uid, gid) ||
	    join(p, sizeof(p), root, "/tmp") || chmod(p, 01777) ||
	    join(p, sizeof(p), root, "/var/tmp") || chmod(p, 01777) ||
	    join(p, sizeof(p), root, "/root") || chmod(p, 0700))
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
	for (i = 0; etc_from_host[i]; i++) {
		if (join(q, sizeof(q), "/etc/", etc_from_host[i]) ||
		    join(p, sizeof(p), root, q) || copy_tree(q, p))
			return -1;
	}
	snprintf(text, sizeof(text),
		 "root:x:0:0:root:/root:/bin/bash\n"
		 "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
		 "sandbox:x:%u:%u:sandbox:/home/sandbox:/bin/bash\n",
		 uid, gid);
	if (write_file(root, "/etc/passwd", text, 0644))
		return -1;
	snprintf(text, sizeof(text),
		 "root:x:0:\nnogroup:x:65534:\nsandbox:x:%u:\n", gid);
	if (write_file(root, "/etc/group", text, 0644) ||
	    write_file(root, "/etc/resolv.conf",
		       "# no outbound network yet\nnameserver 127.0.0.1\n",
		       0644) ||
	    write_file(root, "/etc/nsswitch.conf",
		       "passwd: files\ngroup: files\nshadow: files\n"
		       "hosts: files dns\nnetworks: files\n"
		       "protocols: files\nservices: files\n", 0644))
		return -1;
	return 0;
}

int
box_make_template(const char *dir, unsigned uid, unsigned gid)
{
	char root[4096];

	if (mkdir(dir, 0755) && errno != EEXIST)
		return -1;
	if (snprintf(root, sizeof(root), "%s/root", dir) >= (int)sizeof(root))
		return -1;
	return make_template_root(root, uid, gid);
}

/* a new sandbox: its own layers, empty, and its own hosts/hostname */
static void
lay_out(const struct box_setup *s)
{
	static const char *const dirs[] = {
		"/rootfs", "/upper", "/upper/root", "/upper/root/etc",
		"/upper/usr", "/work", "/work/root", "/work/usr", NULL
	};
	char p[4096], text[1024];
	int i;

	for (i = 0; dirs[i]; i++) {
		path2(p, sizeof(p), s->dir, dirs[i]);
		if (mkdir(p, 0755) && errno != EEXIST)
			setup_failed("mkdir layers");
	}
	path2(p, sizeof(p), s->dir, "/upper/root");
	snprintf(text, sizeof(text), "127.0.0.1\tlocalhost\n"
		 "127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n",
		 s->hostname);
	if (write_file(p, "/etc/hosts", text, 0644))
		setup_failed("/etc/hosts");
	snprintf(text, sizeof(text), "%s\n", s->hostname);
	if (write_file(p, "/etc/hostname", text, 0644))
		setup_failed("/etc/hostname");
}

static void
bind_dev(const char *root, const char *name)
{
	char from[64], to[4096];
	int fd;

	path2(from, sizeof(from), "/dev/", name);
	path3(to, sizeof(to), root, "/dev/", name);
	fd = open(to, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
	if (fd >= 0)
		close(fd);
	if (mount(from, to, NULL, MS_BIND, NULL))
		setup_failed("bind /dev");
}

static void
mount_all(const struct box_setup *s, const char *root)
{
	static const char *const devs[] = {
		"null", "zero", "full", "random", "urandom", "tty", NULL
	};
	char p[4096], opts[8192];
	int i;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		setup_failed("make / private");
	if (snprintf(opts, sizeof(opts), "lowerdir=%s/root,upperdir=%s/upper/"
		     "root,workdir=%s/work/root", s->template_dir, s->dir,
		     s->dir) >= (int)sizeof(opts))
		setup_failed("overlay options");
	if (mount("overlay", root, "overlay", 0, opts))
		setup_failed("overlay /");
	path2(p, sizeof(p), root, "/usr");
	if (snprintf(opts, sizeof(opts), "lowerdir=/usr,upperdir=%s/upper/usr,"
		     "workdir=%s/work/usr", s->dir, s->dir) >= (int)sizeof(opts))
		setup_failed("overlay options");
	if (mount("overlay", p, "overlay", 0, opts))
		setup_failed("overlay /usr");
	path2(p, sizeof(p), root, "/proc");
	if (mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
		setup_failed("mount /proc");
	path2(p, sizeof(p), root, "/dev");
	if (mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NOEXEC,
		  "mode=0755,size=64k"))
		setup_failed("mount /dev");
	for (i = 0; devs[i]; i++)
		bind_dev(root, devs[i]);
	path2(p, sizeof(p), root, "/dev/pts");
	mkdir(p, 0755);
	if (mount("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC,
		  "newinstance,ptmxmode=0666,mode=0620"))
		setup_failed("mount /dev/pts");
	path2(p, sizeof(p), root, "/dev/ptmx");
	(void)!symlink("pts/ptmx", p);
	path2(p, sizeof(p), root, "/dev/shm");
	mkdir(p, 01777);
	if (mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"))
		setup_failed("mount /dev/shm");
	path2(p, sizeof(p), root, "/dev/fd");
	(void)!symlink("/proc/self/fd", p);
	path2(p, sizeof(p), root, "/dev/stdin");
	(void)!symlink("/proc/self/fd/0", p);
	path2(p, sizeof(p), root, "/dev/stdout");
	(void)!symlink("/proc/self/fd/1", p);
	path2(p, sizeof(p), root, "/dev/stderr");
	(void)!symlink("/proc/self/fd/2", p);
}

static void
enter_root(const char *root)
{
	char old[4096];

	path2(old, sizeof(old), root, "/.oldroot");
	mkdir(old, 0700);
	if (syscall(SYS_pivot_root, root, old))
		setup_failed("pivot_root");
	if (chdir("/") || umount2("/.oldroot", MNT_DETACH))
		setup_failed("leave the host root");
	rmdir("/.oldroot");
}

static void
loopback_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		setup_failed("socket for lo");
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr))
			setup_failed("lo up");
	}
	close(fd);
}

/* ------------------------------------------------------------------ */
/* PID 1                                                              */

static pid_t tracked[MAX_TRACKED];
static int ntracked;

static void
track(pid_t pid)
{
	if (ntracked < MAX_TRACKED)
		tracked[ntracked++] = pid;
}

static int
untrack(pid_t pid)
{
	int i;

	for (i = 0; i < ntracked; i++)
		if (tracked[i] == pid) {
			tracked[i] = tracked[--ntracked];
			return 1;
		}
	return 0;
}

/* the child side of a spawn, after vfork(): only system calls, and the
 * parent's memory is not touched; never returns */
static void
exec_child(const struct box_msg *m, int fds[3], char *cwd, char **argv,
	   char **envp, int status_fd)
{
	const char *what = "setsid";
	int e, i;

	if (setsid() < 0)
		goto fail;
	what = "stdio";
	for (i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0)
			goto fail;
	for (i = 0; i < 3; i++)
		if (fds[i] > 2)
			close(fds[i]);
	what = "user";
	if (syscall(SYS_setgroups, 0, NULL) || syscall(SYS_setgid, m->gid) ||
	    syscall(SYS_setuid, m->uid))
		goto fail;
	what = "cwd";
	if (chdir(cwd))
		goto fail;
	what = "exec";
	execvpe(argv[0], argv, envp);	/* searches PATH: see use_path() */
fail:
	e = errno;
	(void)!write(status_fd, &e, sizeof(e));
	(void)!write(status_fd, what, strlen(what));
	_exit(127);
}

/* execvpe() searches the PATH of the caller's environment, not of envp:
 * make ours the command's (or the default search path when it has none),
 * so that a command finds what its own PATH names, and a missing program
 * is ENOENT rather than an EACCES from a directory of the server's PATH */
static void
use_path(char **envp)
{
	for (; *envp; envp++)
		if (!strncmp(*envp, "PATH=", 5)) {
			setenv("PATH", *envp + 5, 1);
			return;
		}
	setenv("PATH", "/usr/local/bin:/usr/bin:/bin", 1);
}

static void
do_spawn(const struct box_msg *m, char *payload, size_t len, int fds[3])
{
	char *argv[1024], *envp[4096], *p = payload, *end = payload + len;
	char *cwd = p;
	int n = 0, ne = 0, st[2];
	pid_t pid;
	char errbuf[64];
	ssize_t got;

	p += strlen(p) + 1;
	while (p < end && *p && n < 1023) {
		argv[n++] = p;
		p += strlen(p) + 1;
	}
	argv[n] = NULL;
	p++;
	while (p < end && *p && ne < 4095) {
		envp[ne++] = p;
		p += strlen(p) + 1;
	}
	envp[ne] = NULL;
	use_path(envp);
	if (!n || pipe2(st, O_CLOEXEC)) {
		reply(BOX_FAILED, m->id, n ? errno : EINVAL, 0, "arguments");
		return;
	}
	/* vfork, not fork: fork() would run the atfork handlers inherited
	 * from the server (libuv's re-creates its signal pipe, closing fds
	 * that are now the child's stdio), and vfork is faster */
	pid = vfork();
	if (pid == 0)
		exec_child(m, fds, cwd, argv, envp, st[1]);
	close(st[1]);
	if (pid < 0) {
		close(st[0]);
		reply(BOX_FAILED, m->id, errno, 0, "fork");
		return;
	}
	got = read(st[0], errbuf, sizeof(errbuf) - 1);
	close(st[0]);
	if (got >= (ssize_t)sizeof(int)) {
		int e;

		memcpy(&e, errbuf, sizeof(e));
		errbuf[got] = '\0';
		waitpid(pid, NULL, 0);
		reply(BOX_FAILED, m->id, e, 0, errbuf + sizeof(int));
		return;
	}
	track(pid);
	reply(BOX_STARTED, m->id, pid, 0, NULL);
}

static void
on_message(void)
{
	char buf[sizeof(struct box_msg) + BOX_PAYLOAD_MAX + 2];
	char cbuf[CMSG_SPACE(3 * sizeof(int))];
	struct iovec iov = { buf, sizeof(buf) - 2 };
	struct msghdr mh;
	struct cmsghdr *c;
	struct box_msg m;
	int fds[3] = { -1, -1, -1 }, i;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	n = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC);
	if (n <= 0) {
		if (n < 0 && errno == EINTR)
			return;
		/* the server is gone: so is the sandbox */
		kill(-1, SIGKILL);
		_exit(0);
	}
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(fds, CMSG_DATA(c), sizeof(fds));
	if ((size_t)n < sizeof(m))
		goto out;
	memcpy(&m, buf, sizeof(m));
	buf[n] = buf[n + 1] = '\0';
	if (m.type == BOX_SPAWN && fds[2] >= 0)
		do_spawn(&m, buf + sizeof(m), (size_t)n - sizeof(m), fds);
	else if (m.type == BOX_KILL && m.a > 1) {
		if (kill(-m.a, m.b) && errno == ESRCH)
			kill(m.a, m.b);
	}
out:
	for (i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void
reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if (untrack(pid))
			reply(BOX_EXIT, 0, pid, WIFEXITED(status) ?
			      WEXITSTATUS(status) : -1, NULL);
}

static void
serve(void)
{
	struct pollfd pf[2];
	sigset_t set;
	int sfd;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		setup_failed("signalfd");
	pf[0].fd = ctl;
	pf[0].events = POLLIN;
	pf[1].fd = sfd;
	pf[1].events = POLLIN;
	reply(BOX_READY, 0, 0, 0, NULL);
	for (;;) {
		if (poll(pf, 2, -1) < 0)
			continue;
		if (pf[1].revents) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si))
				;
			reap();
		}
		if (pf[0].revents)
			on_message();
	}
}

void
box_init_main(const struct box_setup *s, int sock)
{
	char root[4096];
	ctl = sock;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_NAME, "oclua-sandbox");
	/* nothing of the server's: close every fd but the socket */
	if (sock > 3)
		syscall(SYS_close_range, 3, sock - 1, 0);
	syscall(SYS_close_range, sock + 1, ~0U, 0);
	signal(SIGPIPE, SIG_IGN);
	path2(root, sizeof(root), s->dir, "/rootfs");
	if (s->fresh)
		lay_out(s);
	if (sethostname(s->hostname, strlen(s->hostname)))
		setup_failed("sethostname");
	mount_all(s, root);
	loopback_up();
	enter_root(root);
	umask(022);
	serve();
}
