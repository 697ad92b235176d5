/*
 * slirp.h - a sandbox's outbound network: one slirp4netns process per
 * sandbox network namespace, giving it tap0 (10.0.2.100/24, gateway
 * 10.0.2.2, DNS 10.0.2.3) and NAT through the host's sockets.
 */
#ifndef OCLUA_SLIRP_H
#define OCLUA_SLIRP_H

#include <stddef.h>
#include <sys/types.h>

#define SLIRP_ADDR	"10.0.2.100"	/* the sandbox's address on tap0 */
#define SLIRP_GATEWAY	"10.0.2.2"
#define SLIRP_DNS	"10.0.2.3"	/* forwards to the host's resolver */
#define SLIRP_MTU	65520

struct slirp {
	pid_t	pid;		/* slirp4netns, our child; 0 when none */
	int	pidfd;		/* readable once it has exited; -1 if the
				 * kernel has no pidfd_open */
	int	ready_fd;	/* non-blocking; readable once tap0 is up,
				 * or at EOF if it died first */
	int	exit_fd;	/* closing it (or our exit) ends slirp4netns */
	int	ready;		/* ready_fd has said "1" */
};

/* Check that slirp4netns can work here: the binary is found (PATH, then
 * /usr/bin) and /dev/net/tun opens. Returns 0, or -1 with a message in
 * err (errlen bytes at most, NUL-terminated) saying what is missing and
 * how to get it. */
int slirp_check(char *err, size_t errlen);

/* Start slirp4netns for the network namespace of process `pid` (opened
 * here, as /proc/PID/ns/net, and handed over as an fd: `pid` may die
 * once this returns) and configure tap0 in it; refuses our own network
 * namespace. The host's loopback is reachable as 10.0.2.2 only if
 * allow_host_loopback is non-zero. Does not wait for slirp4netns: watch
 * s->ready_fd (and s->pidfd), then call slirp_ready. Returns 0 with *s
 * filled in (its fds close-on-exec), or -1 with a message in err and *s
 * empty (pid 0, fds -1). slirp4netns's output goes to /dev/null unless
 * OCLUA_SLIRP_DEBUG is set in the environment (then to our stderr). */
int slirp_start(pid_t pid, int allow_host_loopback, struct slirp *s,
		char *err, size_t errlen);

/* Non-blocking: 1 once slirp4netns has configured tap0 (and is still
 * running), 0 not yet, -1 it has exited or failed to start (run it with
 * OCLUA_SLIRP_DEBUG=1 to see why). */
int slirp_ready(struct slirp *s);

/* End slirp4netns: close exit_fd, SIGKILL it, reap it if it has
 * exited. Returns 0 once it is reaped (ready_fd and pidfd closed, *s
 * empty; stop watching them first), or 1 while it is still exiting
 * (closing its tap device takes it 10-60 ms): call again once s->pidfd
 * is readable. Never blocks, except on a kernel without pidfds, where
 * it waits for the exit and always returns 0. Safe on an empty or
 * stopped *s. */
int slirp_stop(struct slirp *s);

#endif
