/*
 * slirp.c - a sandbox's outbound network: finding, starting, watching
 * and ending the slirp4netns process that serves one sandbox's network
 * namespace.
 *
 * slirp4netns runs as host root: it joins the namespace, makes and
 * configures tap0 there, then shuts itself in a mount namespace of its
 * own with no capability but CAP_NET_BIND_SERVICE (--enable-sandbox)
 * under a seccomp filter (--enable-seccomp), says "1" on the ready pipe
 * and NATs tap0's traffic through ordinary host sockets until the other
 * end of its exit pipe closes (slirp_stop, or our exit).
 *
 * It is started with posix_spawn (vfork semantics: a server with a large
 * heap does not copy its page tables) with fds 0-2 on /dev/null, the
 * ready pipe, the exit pipe and the namespace, and nothing else of ours.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/err.h"
#include "sandbox/slirp.h"

/* the fds slirp4netns gets, past 0-2 */
#define FD_READY	3
#define FD_EXIT		4
#define FD_NETNS	5
#define FD_FREE		6	/* the first one it does not get */
#define STR_(x)		#x
#define STR(x)		STR_(x)

#define INSTALL		"apt-get install slirp4netns"

static char bin_path[PATH_MAX];	/* "" until found */

static int
is_exe(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(p, X_OK) == 0;
}

/* slirp4netns's path: the first in PATH (absolute entries only: we run
 * as root), else /usr/bin; NULL if none. Kept once found. */
static const char *
find_bin(void)
{
	const char *p, *end, *path;
	size_t n;

	if (bin_path[0])
		return bin_path;
	path = getenv("PATH");
	for (p = path ? path : ""; *p; p = *end ? end + 1 : end) {
		end = strchrnul(p, ':');
		n = (size_t)(end - p);
		if (*p != '/' || n + sizeof("/slirp4netns") > sizeof(bin_path))
			continue;
		memcpy(bin_path, p, n);
		memcpy(bin_path + n, "/slirp4netns", sizeof("/slirp4netns"));
		if (is_exe(bin_path))
			return bin_path;
	}
	strcpy(bin_path, "/usr/bin/slirp4netns");
	if (is_exe(bin_path))
		return bin_path;
	bin_path[0] = '\0';
	return NULL;
}

int
slirp_check(char *err, size_t errlen)
{
	int fd;

	if (!find_bin()) {
		sandbox_err(err, errlen, "slirp4netns not found (in PATH or "
			"/usr/bin): " INSTALL);
		return -1;
	}
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		sandbox_err(err, errlen, "cannot open /dev/net/tun: %s (load the "
			"tun module: modprobe tun; in a container, pass the "
			"device in: --device /dev/net/tun)", strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

/* move *fd to FD_FREE or above (close-on-exec), so that no dup2 onto
 * 0..FD_FREE-1 in the child can clobber it before it is placed */
static int
move_up(int *fd)
{
	int nfd;

	if (*fd >= FD_FREE)
		return 0;
	nfd = fcntl(*fd, F_DUPFD_CLOEXEC, FD_FREE);
	if (nfd < 0)
		return -1;
	close(*fd);
	*fd = nfd;
	return 0;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void
clear(struct slirp *s)
{
	s->pid = 0;
	s->pidfd = s->ready_fd = s->exit_fd = -1;
	s->ready = 0;
}

/* fds 0-2, then the pipes and the namespace at FD_READY.., nothing else */
static int
file_actions(posix_spawn_file_actions_t *fa, int ready_w, int exit_r,
	     int nsfd)
{
	const char *debug = getenv("OCLUA_SLIRP_DEBUG");
	int rc;

	rc = posix_spawn_file_actions_addopen(fa, 0, "/dev/null",
					      O_RDONLY, 0);
	if (debug && *debug && fcntl(2, F_GETFD) >= 0) {
		/* its stdout too: ours may be a protocol */
		rc = rc ? rc : posix_spawn_file_actions_adddup2(fa, 2, 1);
	} else {
		rc = rc ? rc : posix_spawn_file_actions_addopen(fa, 1,
				"/dev/null", O_WRONLY, 0);
		rc = rc ? rc : posix_spawn_file_actions_adddup2(fa, 1, 2);
	}
	rc = rc ? rc : posix_spawn_file_actions_adddup2(fa, ready_w, FD_READY);
	rc = rc ? rc : posix_spawn_file_actions_adddup2(fa, exit_r, FD_EXIT);
	rc = rc ? rc : posix_spawn_file_actions_adddup2(fa, nsfd, FD_NETNS);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
	/* whatever of ours is not close-on-exec (a Lua io.open) */
	rc = rc ? rc : posix_spawn_file_actions_addclosefrom_np(fa, FD_FREE);
#endif
	return rc;
}

static int
spawn(const char *bin, char *const argv[], pid_t *pid, int ready_w,
      int exit_r, int nsfd)
{
	static char *const envp[] = { NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t set;
	int rc;

	if ((rc = posix_spawn_file_actions_init(&fa)))
		return rc;
	if ((rc = posix_spawnattr_init(&at))) {
		posix_spawn_file_actions_destroy(&fa);
		return rc;
	}
	rc = file_actions(&fa, ready_w, exit_r, nsfd);
	/* none of our signal state; its own session, away from our
	 * terminal's ^C (our exit ends it, through the exit pipe) */
	sigemptyset(&set);
	rc = rc ? rc : posix_spawnattr_setsigmask(&at, &set);
	sigfillset(&set);
	rc = rc ? rc : posix_spawnattr_setsigdefault(&at, &set);
	rc = rc ? rc : posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
				POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
	rc = rc ? rc : posix_spawn(pid, bin, &fa, &at, argv, envp);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

int
slirp_start(pid_t pid, int allow_host_loopback, struct slirp *s,
	    char *err, size_t errlen)
{
	char ns[48];
	char *argv[16];
	const char *bin;
	int rp[2] = { -1, -1 }, ep[2] = { -1, -1 }, nsfd = -1, argc = 0, rc;
	struct stat theirs, ours;

	clear(s);
	if (!(bin = find_bin())) {
		sandbox_err(err, errlen, "slirp4netns not found (in PATH or "
			"/usr/bin): " INSTALL);
		return -1;
	}
	snprintf(ns, sizeof(ns), "/proc/%d/ns/net", (int)pid);
	nsfd = open(ns, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0) {
		sandbox_err(err, errlen, "cannot open %s: %s", ns, strerror(errno));
		return -1;
	}
	if (fstat(nsfd, &theirs) || stat("/proc/self/ns/net", &ours)) {
		sandbox_err(err, errlen, "cannot stat %s: %s", ns, strerror(errno));
		goto fail;
	}
	if (theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino) {
		/* slirp4netns would give the host a tap0 and a default route */
		sandbox_err(err, errlen, "process %d is in the host's network "
			"namespace", (int)pid);
		goto fail;
	}
	if (pipe2(rp, O_CLOEXEC) || pipe2(ep, O_CLOEXEC) ||
	    fcntl(rp[0], F_SETFL, O_NONBLOCK) || move_up(&rp[1]) ||
	    move_up(&ep[0]) || move_up(&nsfd)) {
		sandbox_err(err, errlen, "slirp4netns's pipes: %s",
			strerror(errno));
		goto fail;
	}

	argv[argc++] = "slirp4netns";
	argv[argc++] = "--configure";
	argv[argc++] = "--mtu=" STR(SLIRP_MTU);
	if (!allow_host_loopback)
		argv[argc++] = "--disable-host-loopback";
	argv[argc++] = "--enable-sandbox";
	argv[argc++] = "--enable-seccomp";
	argv[argc++] = "--ready-fd=" STR(FD_READY);
	argv[argc++] = "--exit-fd=" STR(FD_EXIT);
	argv[argc++] = "--netns-type=path";
	argv[argc++] = "/proc/self/fd/" STR(FD_NETNS);
	argv[argc++] = "tap0";
	argv[argc] = NULL;

	rc = spawn(bin, argv, &s->pid, rp[1], ep[0], nsfd);
	close_fd(&rp[1]);
	close_fd(&ep[0]);
	close_fd(&nsfd);
	if (rc) {
		s->pid = 0;
		if (rc == ENOENT || rc == EACCES || rc == ENOEXEC)
			bin_path[0] = '\0';	/* look again next time */
		sandbox_err(err, errlen, "cannot run %s: %s%s", bin, strerror(rc),
			rc == ENOENT ? " (" INSTALL ")" : "");
		goto fail;
	}
	/* a kernel without pidfds (< 5.3) leaves it -1 */
	s->pidfd = (int)syscall(SYS_pidfd_open, s->pid, 0);
	s->ready_fd = rp[0];
	s->exit_fd = ep[1];
	return 0;

fail:
	close_fd(&rp[0]);
	close_fd(&rp[1]);
	close_fd(&ep[0]);
	close_fd(&ep[1]);
	close_fd(&nsfd);
	return -1;
}

/* has our child s->pid not exited yet? (it stays unreaped) */
static int
running(struct slirp *s)
{
	siginfo_t si;

	si.si_pid = 0;
	if (waitid(P_PID, (id_t)s->pid, &si, WEXITED | WNOHANG | WNOWAIT))
		return 0;
	return si.si_pid == 0;
}

int
slirp_ready(struct slirp *s)
{
	ssize_t n;
	char c;

	if (s->pid <= 0)
		return -1;
	if (!s->ready) {
		do
			n = read(s->ready_fd, &c, 1);
		while (n < 0 && errno == EINTR);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n != 1 || c != '1')
			return -1;	/* EOF: it died before tap0 was up */
		s->ready = 1;
	}
	return running(s) ? 1 : -1;
}

int
slirp_stop(struct slirp *s)
{
	siginfo_t si;
	int rc;

	close_fd(&s->exit_fd);
	if (s->pid > 0) {
		/* it would exit on the closed pipe; no need to wait for that */
		if (s->pidfd < 0 || syscall(SYS_pidfd_send_signal, s->pidfd,
					    SIGKILL, NULL, 0))
			kill(s->pid, SIGKILL);	/* unreaped: still ours */
		si.si_pid = 0;
		do
			rc = waitid(P_PID, (id_t)s->pid, &si, WEXITED |
				    (s->pidfd >= 0 ? WNOHANG : 0));
		while (rc < 0 && errno == EINTR);
		if (rc == 0 && si.si_pid == 0)
			return 1;	/* still exiting */
	}
	close_fd(&s->ready_fd);
	close_fd(&s->pidfd);
	clear(s);
	return 0;
}
