/*
 * box.c - sandboxes as the local server sees them: starting a sandbox's
 * init (init.c, exec'd from a sealed memfd) in new namespaces, inside its
 * cgroups (cgroup.c), with its network (slirp.c); starting commands in it;
 * the process objects a task reads their output from; ending it.
 *
 *     box = core.box_start{dir=, template=, hostname=, fresh=, uid_base=,
 *                          disk_uid_base=, renamed=, shm_mb=, memory_mb=,
 *                          cpu_count=, pids_max=, network=, host_loopback=}
 *                                        yields until the sandbox is up
 *                         disk_uid_base: the host uid the files of dir
 *                         carry for root (a fork's: its origin's; default
 *                         uid_base), shifted to uid_base by an idmapped
 *                         mount; renamed: a fork's first boot (its
 *                         /etc/hosts and /etc/hostname get hostname)
 *     proc = box:spawn(argv, env_list, cwd, uid, gid)             yields
 *                         or nil, a message and the errno name (err.h)
 *                         when the command cannot start (its cwd, exec)
 *     proc = box:spawn_pty(argv, env_list, cwd, uid, gid, cols, rows)
 *                         the same on a pseudo-terminal of the sandbox's
 *                         own devpts, cols x rows (1 to 65535): the
 *                         command's stdio and controlling terminal, in a
 *                         session of its own (job control works)
 *     box:root() -> fd    the sandbox's root directory (O_PATH), opened
 *                         at boot: nothing is ever resolved through the
 *                         init's PID again; the box owns it
 *     box:netns() -> fd   its network namespace, opened at boot (the
 *                         box owns it): core.netns_connect's way in
 *     box:wait_exit() -> "oom" | "exited"   yields until init is gone
 *     box:freeze(frozen) -> true, or nil and why: stop or resume every
 *                         process in place (cgroup freezer)
 *     box:stop()                      kills everything in it; yields
 *     core.box_destroy(dir)           removes a stopped sandbox's files
 *                                     (or a checkpoint's)
 *     core.box_cgroups(), core.box_network() -> true, or nil and what is
 *                         missing: can this machine limit sandboxes, give
 *                         them a network
 *     core.disk_setup(image, dir, bytes) -> true, or nil and what is
 *                         missing; core.disk_limit(path, bytes);
 *                         core.disk_snapshot(src, dst, readonly);
 *                         core.disk_usage(path) -> referenced, exclusive;
 *                         core.disk_teardown(dir)   the quota (disk.c)
 *     core.private_mounts()   this process's mounts become its own
 *
 *     stream, frame = proc:read()  1 = stdout, 2 = stderr, in arrival
 *                                  order; `frame` is the stream's byte
 *                                  and then the output: an exec frame
 *                                  as it goes on the wire. At the end:
 *                                  nil, exit code (-1 when killed by a
 *                                  signal)
 *     proc:write(data)             stdin; yields while 1 MiB is pending
 *     proc:close_stdin() ; proc:kill(signal) ; proc.pid
 *     proc:kill_session(signal)    every process of its session (the
 *                                  jobs of a terminal's shell too)
 *     proc:resize(cols, rows)      a terminal's window: true, or nil and
 *                                  a message (not a terminal, ended)
 *
 * A terminal's output is read in pieces of at most 4 KiB, all as stream
 * 1, and its input is written to the master. It ends once its command
 * has exited and the terminal has nothing more to say: the master reads
 * EIO, every slave closed (the usual case), or LINGER_MS after the exit
 * when a background job still holds one (the master is closed then: the
 * job's terminal hangs up). A read of 0 is no end: a master gives one
 * now and then while its closed slave's last output is still on its way
 * (seen on Linux 6.18), so it is read again EOF_RETRY_MS later.
 *
 * uid and gid are ids inside the sandbox; uid_base is the host uid its 0
 * maps to (policy, in lua/opencomputer/server/sandbox.lua). Output stays
 * bounded: past OUT_HIGH bytes not yet read, the process's pipes are not
 * read (it blocks on write) until the task catches up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/mount.h>

#include "runtime/buf.h"
#include "runtime/runtime.h"
#include "sandbox/box.h"
#include "sandbox/cgroup.h"
#include "sandbox/disk.h"
#include "sandbox/err.h"
#include "sandbox/sandbox.h"
#include "sandbox/slirp.h"

/* the init program (build/oclua-init), linked in by image.c */
extern const char ocl_init_image[], ocl_init_image_end[];

#define BOX_MT		"oclua.box"
#define PROC_MT		"oclua.box_proc"
#define OUT_HIGH	(256u << 10)	/* small: a server runs 1,000s */
#define OUT_LOW		(64u << 10)
#define OUT_READ	(64u << 10)	/* bytes of command output per read: a
				 * pipe's default room; below malloc's
				 * mmap threshold with its header */
#define IN_HIGH		(1u << 20)
#define PTY_CHUNK	4096		/* bytes of terminal output per read
					 * (protocol.md 6.2: frames <= 4 KiB) */
#define LINGER_MS	200		/* a terminal read after its command's
					 * exit, while another process holds it */
#define EOF_RETRY_MS	10		/* a master read again after a 0 */

enum { BOX_BOOTING, BOX_UP, BOX_DEAD };

enum { P_STARTING, P_RUNNING, P_FAILED };

typedef struct box_proc box_proc;

/* a message to init that the socket could not take yet */
typedef struct ctl_out {
	struct ctl_out	*next;
	int		fds[3], nfds;	/* passed along, closed once sent */
	size_t		len;
	char		data[];
} ctl_out;

typedef struct box {
	ocl_pending	pending;	/* while its init lives */
	oclua_runtime	*rt;
	pid_t		pid;
	int		ctl, pidfd;
	uv_poll_t	ctl_poll, exit_poll;
	ctl_out		*out_head, *out_tail;	/* to init, in order */
	int		handles;	/* uv handles not yet closed */
	int		state;
	int		task;		/* waiting for boot or stop */
	char		*error;
	box_proc	*procs;
	uint32_t	next_id;
	int		gone;		/* userdata collected */
	int		root;		/* O_PATH fd of its /, from boot */
	int		netns;		/* its network namespace, from boot */
	int		exit_task;	/* waiting in wait_exit */
	int		oom;		/* the OOM killer ended a process */
	struct cg	cg;
	int		has_cg;
	struct slirp	net;
	int		has_net, net_polling, host_loopback;
	uv_poll_t	net_poll;	/* slirp4netns says it is ready */
} box;

typedef struct chunk {
	struct chunk	*next;
	int		stream;
	size_t		len;		/* of the output, after data[0] */
	char		data[];		/* the stream's byte, the output */
} chunk;

struct box_proc {
	box		*b;
	box_proc	*next;
	uint32_t	id;
	pid_t		pid;
	int		state;
	int		err;
	char		what[64];
	uv_pipe_t	pipes[3];	/* stdin, stdout, stderr */
	int		open[3];
	chunk		*head, *tail;
	size_t		queued;
	int		paused;
	int		exited, exit_code;
	size_t		in_pending;
	int		close_in_after_writes;
	int		task;		/* in read() (or starting) */
	int		wtask;		/* in write(), waiting for stdin to
					 * drain: a slot of its own, as the
					 * reader waits at the same time */
	int		gone;
	int		pty;		/* a terminal: pipes[1] reads its master,
					 * pipes[0] writes a dup of it */
	struct box_winsize win;		/* asked for, until it starts */
	uv_timer_t	linger;		/* a terminal: its next look (pty_timer) */
	int		timer_open;	/* 0 no, 1 open, 2 closing */
	int		eof;		/* its master read 0: read it again */
	uint64_t	close_at;	/* loop ms: its end at the latest, once
					 * its command has exited */
};

/* ------------------------------------------------------------------ */
/* waking and freeing                                                 */

static void
wake(oclua_runtime *rt, int *task)
{
	int t = *task;

	if (t != LUA_NOREF) {
		*task = LUA_NOREF;
		ocl_wake(rt, NULL, t);
	}
}

static void
proc_unlink(box_proc *p)
{
	box_proc **pp;

	if (!p->b)
		return;
	for (pp = &p->b->procs; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	p->b = NULL;
}

static void box_maybe_free(box *b);

static void
proc_maybe_free(box_proc *p)
{
	chunk *c;
	box *b = p->b;

	if (!p->gone || p->open[0] || p->open[1] || p->open[2] ||
	    p->timer_open)
		return;
	while ((c = p->head)) {
		p->head = c->next;
		free(c);
	}
	proc_unlink(p);
	free(p);
	if (b)
		box_maybe_free(b);
}

static void
pipe_closed(uv_handle_t *h)
{
	box_proc *p = h->data;
	int i;

	for (i = 0; i < 3; i++)
		if (h == (uv_handle_t *)&p->pipes[i])
			p->open[i] = 0;
	proc_maybe_free(p);
}

static void
close_pipe(box_proc *p, int i)
{
	if (p->open[i] == 1) {
		p->open[i] = 2;		/* closing */
		uv_close((uv_handle_t *)&p->pipes[i], pipe_closed);
	}
}

static void
timer_closed(uv_handle_t *h)
{
	box_proc *p = h->data;

	p->timer_open = 0;
	proc_maybe_free(p);
}

static void
stop_linger(box_proc *p)
{
	if (p->timer_open == 1) {
		p->timer_open = 2;
		uv_close((uv_handle_t *)&p->linger, timer_closed);
	}
}

/* the process has nothing more to say: all output read and exit known */
static int
proc_finished(const box_proc *p)
{
	return p->open[1] != 1 && p->open[2] != 1 &&
	       (p->exited || !p->b || p->b->state == BOX_DEAD);
}

/* ------------------------------------------------------------------ */
/* the init's socket                                                  */

static box_proc *
find_proc(box *b, uint32_t id, pid_t pid)
{
	box_proc *p;

	for (p = b->procs; p; p = p->next)
		if ((id && p->id == id) || (pid && p->pid == pid &&
					    p->state == P_RUNNING))
			return p;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* messages to init: a spawn outruns init by a few hundred at most, and  */
/* the socket holds a handful of messages, so what it cannot take waits */
/* in order for it to drain                                             */

static void on_ctl(uv_poll_t *h, int status, int events);
static void box_ready(box *b);
static int start_network(box *b, char *err, size_t errlen);
static void box_fail(box *b, const char *why);
static void on_net(uv_poll_t *h, int status, int events);

/* one message with descriptors; -1 with errno as sendmsg leaves it */
static int
ctl_sendmsg(box *b, const void *p, size_t len, const int *fds, int nfds)
{
	struct msghdr mh;
	struct iovec iov;
	char cbuf[CMSG_SPACE(3 * sizeof(int))];
	struct cmsghdr *c;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = (void *)p;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds) {
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	return sendmsg(b->ctl, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? -1 : 0;
}

static void
close_fds(const int *fds, int nfds)
{
	int i;

	for (i = 0; i < nfds; i++)
		close(fds[i]);
}

static void
ctl_watch(box *b)
{
	if (b->state != BOX_DEAD)
		uv_poll_start(&b->ctl_poll, UV_READABLE |
			      (b->out_head ? UV_WRITABLE : 0), on_ctl);
}

/* Send now, or queue behind what waits; the descriptors are ours to
 * close. -1 (errno set) only when the socket is broken. */
static int
ctl_send(box *b, const void *p, size_t len, const int *fds, int nfds)
{
	ctl_out *o;

	if (!b->out_head) {
		if (!ctl_sendmsg(b, p, len, fds, nfds)) {
			close_fds(fds, nfds);
			return 0;
		}
		if (errno != EAGAIN) {
			close_fds(fds, nfds);
			return -1;
		}
	}
	o = malloc(sizeof(*o) + len);
	if (!o) {
		close_fds(fds, nfds);
		errno = ENOMEM;
		return -1;
	}
	o->next = NULL;
	o->nfds = nfds;
	memcpy(o->fds, fds, (size_t)nfds * sizeof(int));
	o->len = len;
	memcpy(o->data, p, len);
	if (b->out_tail)
		b->out_tail->next = o;
	else
		b->out_head = o;
	b->out_tail = o;
	ctl_watch(b);
	return 0;
}

/* the socket has room: send what waits, in order */
static void
ctl_flush(box *b)
{
	ctl_out *o;

	while ((o = b->out_head)) {
		if (ctl_sendmsg(b, o->data, o->len, o->fds, o->nfds) &&
		    errno == EAGAIN)
			break;
		/* sent, or the socket is broken: init's exit ends it all */
		b->out_head = o->next;
		if (!b->out_head)
			b->out_tail = NULL;
		close_fds(o->fds, o->nfds);
		free(o);
	}
	ctl_watch(b);
}

static void
ctl_drop(box *b)
{
	ctl_out *o;

	while ((o = b->out_head)) {
		b->out_head = o->next;
		close_fds(o->fds, o->nfds);
		free(o);
	}
	b->out_tail = NULL;
}

static int pty_open(box_proc *p, int fd);
static void pty_ended(box_proc *p);
static void pty_close(box_proc *p);

/* One message from init into msg (at most cap - 1 bytes); its length,
 * 0 at the end, -1 when none waits. *fd: the descriptor it carried
 * (SCM_RIGHTS), or -1; any other it carried is closed. */
static ssize_t
ctl_recv(box *b, char *msg, size_t cap, int *fd)
{
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *c;
	ssize_t n;
	size_t i, nfds;
	int got;

	*fd = -1;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = msg;
	iov.iov_len = cap - 1;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	n = recvmsg(b->ctl, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -1;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfds; i++) {
			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*fd < 0 && nfds == 1)
				*fd = got;
			else
				close(got);
		}
	}
	return n;
}

/* a terminal whose master did not come (or was not one) is a failed
 * start: its command, started all the same, is ended */
static void
pty_failed(box *b, box_proc *p)
{
	struct box_msg m;

	p->state = P_FAILED;
	p->err = EPROTO;
	snprintf(p->what, sizeof(p->what), "the terminal from the sandbox");
	memset(&m, 0, sizeof(m));
	m.type = BOX_KILL_SESSION;
	m.a = p->pid;
	m.b = SIGKILL;
	(void)ctl_send(b, &m, sizeof(m), NULL, 0);
}

static void
on_ctl(uv_poll_t *h, int status, int events)
{
	box *b = h->data;
	char msg[sizeof(struct box_msg) + 512];
	struct box_msg m;
	box_proc *p;
	ssize_t n;
	int fd;

	if (status == 0 && (events & UV_WRITABLE))
		ctl_flush(b);
	if (status == 0 && !(events & UV_READABLE))
		return;
	while ((n = ctl_recv(b, msg, sizeof(msg), &fd)) > 0) {
		if ((size_t)n < sizeof(m)) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		memcpy(&m, msg, sizeof(m));
		msg[n] = '\0';
		switch (m.type) {
		case BOX_READY:
			if (b->state == BOX_BOOTING)
				box_ready(b);
			break;
		case BOX_SETUP_FAILED:
			free(b->error);
			b->error = malloc(600);
			if (b->error)
				snprintf(b->error, 600, "%s: %s",
					 msg + sizeof(m), strerror(m.a));
			break;
		case BOX_STARTED:
		case BOX_FAILED:
			/* once per command: a second answer is ignored */
			if ((p = find_proc(b, m.id, 0)) &&
			    p->state == P_STARTING) {
				p->state = m.type == BOX_STARTED ? P_RUNNING :
					   P_FAILED;
				p->pid = m.a;
				p->err = m.type == BOX_FAILED ? m.a : 0;
				memcpy(p->what, msg + sizeof(m),
				       strnlen(msg + sizeof(m),
					       sizeof(p->what) - 1));
				if (p->pty && p->state == P_RUNNING) {
					int bad = m.a <= 1;

					if (!bad) {
						bad = pty_open(p, fd) != 0;
						fd = -1;	/* taken */
					}
					if (bad)
						pty_failed(b, p);
				}
				wake(b->rt, &p->task);
			}
			break;
		case BOX_EXIT:
			if ((p = find_proc(b, 0, m.a))) {
				p->exited = 1;
				p->exit_code = m.b;
				pty_ended(p);
				wake(b->rt, &p->task);
			}
			break;
		default:
			break;
		}
		if (fd >= 0)
			close(fd);
	}
	if (n == 0)	/* init is gone: its exit is handled on the pidfd */
		uv_poll_stop(h);
}

static void
box_handle_closed(uv_handle_t *h)
{
	box *b = h->data;

	b->handles--;
	box_maybe_free(b);
}

static void
box_maybe_free(box *b)
{
	if (!b->gone || b->handles || b->procs)
		return;
	free(b->error);
	free(b);
}

/* the sandbox's cgroups go (what ran in them is killed) */
static void
forget_cg(box *b)
{
	if (b->has_cg)
		cg_destroy(&b->cg);
	b->has_cg = 0;
}

/* slirp4netns takes tens of ms to exit once killed: reap it when its
 * pidfd says it has, without holding the loop up meanwhile */
typedef struct net_reaper {
	uv_poll_t	poll;
	struct slirp	net;
} net_reaper;

/* stop it and wait until it is reaped */
static void
reap_network(struct slirp *net)
{
	while (slirp_stop(net) == 1)
		waitpid(net->pid, NULL, 0);
}

static void
reaper_closed(uv_handle_t *h)
{
	net_reaper *r = h->data;

	reap_network(&r->net);	/* its pidfd said: exited */
	free(r);
}

static void
on_net_exit(uv_poll_t *h, int status, int events)
{
	(void)status; (void)events;
	uv_close((uv_handle_t *)h, reaper_closed);
}

static void
end_network(oclua_runtime *rt, struct slirp *net)
{
	net_reaper *r;

	if (slirp_stop(net) == 0)
		return;
	r = rt->closing ? NULL : malloc(sizeof(*r));
	if (!r || uv_poll_init(rt->loop, &r->poll, net->pidfd)) {
		reap_network(net);	/* at exit: just wait */
		free(r);
		return;
	}
	r->net = *net;
	r->poll.data = r;
	uv_poll_start(&r->poll, UV_READABLE, on_net_exit);
}

/* init has exited: reap it, end every process object */
static void
box_died(box *b)
{
	box_proc *p;

	if (b->state == BOX_DEAD)
		return;
	waitpid(b->pid, NULL, 0);
	b->state = BOX_DEAD;
	ocl_pending_del(&b->pending);
	b->rt->active--;
	uv_close((uv_handle_t *)&b->ctl_poll, box_handle_closed);
	uv_close((uv_handle_t *)&b->exit_poll, box_handle_closed);
	if (b->net_polling) {
		b->net_polling = 0;
		uv_close((uv_handle_t *)&b->net_poll, box_handle_closed);
	}
	if (b->has_net) {
		end_network(b->rt, &b->net);
		b->has_net = 0;
	}
	if (b->has_cg)
		b->oom = cg_oom_kills(&b->cg) > 0;
	forget_cg(b);
	ctl_drop(b);
	close(b->ctl);
	close(b->pidfd);
	if (b->root >= 0)
		close(b->root);
	b->root = -1;
	if (b->netns >= 0)
		close(b->netns);
	b->netns = -1;
	for (p = b->procs; p; p = p->next) {
		if (p->pty && b->rt->closing)
			pty_close(p);
		else
			pty_ended(p);
		wake(b->rt, &p->task);
		wake(b->rt, &p->wtask);
	}
	wake(b->rt, &b->task);
	wake(b->rt, &b->exit_task);
}

/* up once init has said so (its root is open) and its network is too */
static void
maybe_up(box *b)
{
	if (b->state == BOX_BOOTING && b->root >= 0 && !b->net_polling) {
		b->state = BOX_UP;
		wake(b->rt, &b->task);
	}
}

/* init is up: open its root and its network namespace (the PID cannot
 * be reused before we reap it, and the pidfd says it still runs); up once
 * its network is too */
static void
box_ready(box *b)
{
	char path[64];
	struct pollfd pf;

	snprintf(path, sizeof(path), "/proc/%d/root", (int)b->pid);
	b->root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)b->pid);
	b->netns = open(path, O_RDONLY | O_CLOEXEC);
	pf.fd = b->pidfd;
	pf.events = POLLIN;
	if (b->root < 0 || b->netns < 0 || poll(&pf, 1, 0) != 0) {
		box_fail(b, "its init process ended during setup");
		return;
	}
	maybe_up(b);
}

/* slirp4netns, started with init: it configures the network namespace
 * while init sets the rest up (init fences the network off before any
 * command runs, whichever finishes first) */
static int
start_network(box *b, char *err, size_t errlen)
{
	if (slirp_start(b->pid, b->host_loopback, &b->net, err, errlen)) {
		b->has_net = 0;
		return -1;
	}
	uv_poll_init(b->rt->loop, &b->net_poll, b->net.ready_fd);
	b->net_poll.data = b;
	b->handles++;
	b->net_polling = 1;
	uv_poll_start(&b->net_poll, UV_READABLE, on_net);
	return 0;
}

/* the boot failed: say why, end init (its exit does the rest) */
static void
box_fail(box *b, const char *why)
{
	if (!b->error)
		b->error = strdup(why);
	kill(b->pid, SIGKILL);
}

/* slirp4netns answered on its ready fd: up, or failed */
static void
on_net(uv_poll_t *h, int status, int events)
{
	box *b = h->data;
	int ready = slirp_ready(&b->net);

	(void)status; (void)events;
	if (ready == 0)
		return;
	b->net_polling = 0;
	uv_close((uv_handle_t *)&b->net_poll, box_handle_closed);
	if (ready < 0) {
		box_fail(b, "slirp4netns, the sandbox's network, did not start "
			 "(OCLUA_SLIRP_DEBUG=1 shows why)");
		return;
	}
	maybe_up(b);
}

static void
on_exit_fd(uv_poll_t *h, int status, int events)
{
	(void)status; (void)events;
	box_died(h->data);
}

static void
box_cancel(ocl_pending *pd)
{
	box *b = (box *)pd;

	kill(b->pid, SIGKILL);
	box_died(b);
}

/* ------------------------------------------------------------------ */
/* starting a sandbox                                                 */

static int
boot_k(lua_State *L, int status, lua_KContext ctx)
{
	box *b = (box *)ctx;

	(void)status;
	if (b->state == BOX_BOOTING) {
		b->task = ocl_task_pin(L);
		return ocl_suspend(L, ctx, boot_k);
	}
	if (b->state == BOX_DEAD)
		return luaL_error(L, "sandbox did not start: %s", b->error ?
				  b->error : "its init process died");
	return 1;
}

static const char *
opt_string(lua_State *L, const char *k)
{
	const char *v;

	lua_getfield(L, 1, k);
	v = luaL_checkstring(L, -1);
	lua_pop(L, 1);		/* still anchored by the options table */
	return v;
}

static lua_Integer
opt_int(lua_State *L, const char *k, lua_Integer dflt)
{
	lua_Integer v;

	lua_getfield(L, 1, k);
	v = luaL_optinteger(L, -1, dflt);
	lua_pop(L, 1);
	return v;
}

static int
add_str(buf *b, const char *s)
{
	return buf_add(b, s, strlen(s) + 1);
}

/* the host's own IPv4 addresses, "a,b,...\0": a sandbox may not reach
 * them (init.c fences them off) */
static int
add_host_addrs(buf *out)
{
	struct ifaddrs *ifs, *i;
	char a[INET_ADDRSTRLEN];
	int rc = 0, n = 0;

	if (getifaddrs(&ifs))
		return buf_add(out, "", 1);
	for (i = ifs; i && !rc; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
		    !inet_ntop(AF_INET, &((struct sockaddr_in *)
			       (void *)i->ifa_addr)->sin_addr, a, sizeof(a)))
			continue;
		rc = (n++ && buf_add(out, ",", 1)) || buf_add(out, a, strlen(a));
	}
	freeifaddrs(ifs);
	return rc || buf_add(out, "", 1);
}

/* The init program as a sealed memfd, made once per process: exec'd with
 * execveat, it shows inside as "/memfd:oclua-init", not as a host path. */
static int
init_image(void)
{
	static int fd = -1;
	size_t len = (size_t)(ocl_init_image_end - ocl_init_image), off = 0;

	if (fd >= 0)
		return fd;
	fd = memfd_create("oclua-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t n = write(fd, ocl_init_image + off, len - off);

		if (n <= 0) {
			close(fd);
			return fd = -1;
		}
		off += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK |
		  F_SEAL_GROW | F_SEAL_SEAL)) {
		close(fd);
		return fd = -1;
	}
	return fd;
}

/* what the child of clone() needs between clone and execveat */
struct child_args {
	int		sock, image, null;
	const struct cg	*cg;		/* NULL: no cgroups */
};

/* The child, sharing the server's memory until it execs (CLONE_VM |
 * CLONE_VFORK, as posix_spawn does: no copy of the server's page tables):
 * system calls only. Gives init /dev/null as stdio (never the server's
 * terminal), the socket as fd 3, the cgroup.procs of its groups from fd
 * BOX_CGROUP_FD on (init enters them itself: on cgroup v1 that can take
 * milliseconds, which must not hold the server up) and nothing else. */
static int
init_child(void *arg)
{
	const struct child_args *a = arg;
	static char *const argv[] = { "oclua-init", NULL };
	static char *const envp[] = { NULL };
	int high[CG_MAX_HIER + 1], n = a->cg ? a->cg->nprocs : 0, i;

	/* out of the way first: the targets may be taken by the sources */
	high[0] = (int)fcntl(a->sock, F_DUPFD_CLOEXEC, 64);
	for (i = 0; i < n; i++)
		high[i + 1] = (int)fcntl(a->cg->procs_fd[i], F_DUPFD_CLOEXEC,
					 64);
	for (i = 0; i <= n; i++)
		if (high[i] < 0)
			_exit(126);
	if (dup2(a->null, 0) < 0 || dup2(a->null, 1) < 0 ||
	    dup2(a->null, 2) < 0 || dup2(high[0], BOX_INIT_FD) < 0)
		_exit(126);
	for (i = 0; i < n; i++)
		if (dup2(high[i + 1], BOX_CGROUP_FD + i) < 0)
			_exit(126);
	/* everything else goes; the image and the copies are close-on-exec */
	syscall(SYS_close_range, BOX_CGROUP_FD + n, a->image - 1, 0);
	syscall(SYS_close_range, a->image + 1, ~0U, CLOSE_RANGE_CLOEXEC);
	syscall(SYS_execveat, a->image, "", argv, envp, AT_EMPTY_PATH);
	_exit(127);
}

static int
opt_bool(lua_State *L, const char *k)
{
	int v;

	lua_getfield(L, 1, k);
	v = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return v;
}

/* core.box_start{...} -> box (see the top of this file); raises with
 * what failed when the sandbox cannot start */
static int
core_box_start(lua_State *L)
{
	static char stack[64 * 1024] __attribute__((aligned(16)));
	oclua_runtime *rt = ocl_rt(L);
	const char *dir, *tpl, *host;
	struct child_args ca;
	struct cg_limits lim;
	struct box_msg m;
	char err[256], name[64];
	buf setup = { 0 };
	box **ud, *b;
	int sv[2], fresh, network, rc;
	pid_t pid;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	dir = opt_string(L, "dir");
	tpl = opt_string(L, "template");
	host = opt_string(L, "hostname");
	fresh = opt_bool(L, "fresh");
	network = opt_bool(L, "network");
	memset(&m, 0, sizeof(m));
	m.type = BOX_SETUP;
	m.a = (fresh ? BOX_FRESH : 0) | (network ? BOX_NETWORK : 0) |
	      (opt_bool(L, "renamed") ? BOX_RENAMED : 0);
	m.uid = (uint32_t)opt_int(L, "uid_base", 0);
	m.id = (uint32_t)opt_int(L, "disk_uid_base", m.uid);
	m.gid = (uint32_t)opt_int(L, "shm_mb", 64);
	luaL_argcheck(L, m.uid >= BOX_RANGE, 1, "uid_base must be at least 65536");
	luaL_argcheck(L, m.id >= BOX_RANGE, 1,
		      "disk_uid_base must be at least 65536");
	memset(&lim, 0, sizeof(lim));
	lim.memory_bytes = (uint64_t)opt_int(L, "memory_mb", 0) << 20;
	lim.cpu_millis = (unsigned)opt_int(L, "cpu_count", 0) * 1000;
	lim.pids_max = (unsigned)opt_int(L, "pids_max", 0);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return luaL_error(L, "cannot make %s: %s", dir,
				  strerror(errno));

	ud = lua_newuserdatauv(L, sizeof(*ud), 0);
	*ud = NULL;
	luaL_setmetatable(L, BOX_MT);
	b = calloc(1, sizeof(*b));
	if (!b)
		return luaL_error(L, "out of memory");
	*ud = b;
	b->rt = rt;
	b->task = b->exit_task = LUA_NOREF;
	b->ctl = b->pidfd = b->root = b->netns = -1;
	b->state = BOX_DEAD;
	b->has_net = network;
	b->host_loopback = opt_bool(L, "host_loopback");
	if (lim.memory_bytes || lim.cpu_millis || lim.pids_max) {
		/* named after its directory: unique among live sandboxes
		 * (a group of the same name is emptied and reused) */
		snprintf(name, sizeof(name), "%s", strrchr(dir, '/') ?
			 strrchr(dir, '/') + 1 : dir);
		if ((!cg_available() && cg_init("oclua", err, sizeof(err))) ||
		    cg_create(&b->cg, name, &lim, err, sizeof(err)))
			return luaL_error(L, "cannot limit the sandbox: %s", err);
		b->has_cg = 1;
	}
	m.b = b->has_cg ? b->cg.nprocs : 0;
	if (buf_add(&setup, &m, sizeof(m)) || add_str(&setup, dir) ||
	    add_str(&setup, tpl) || add_str(&setup, host) ||
	    add_host_addrs(&setup)) {
		buf_free(&setup);
		forget_cg(b);
		return luaL_error(L, "out of memory");
	}
	ca.image = init_image();
	ca.null = open("/dev/null", O_RDWR | O_CLOEXEC);
	ca.cg = b->has_cg ? &b->cg : NULL;
	if (ca.image < 0 || ca.null < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		rc = errno;
		if (ca.null >= 0)
			close(ca.null);
		buf_free(&setup);
		forget_cg(b);
		return luaL_error(L, "cannot start the sandbox: %s",
				  strerror(rc));
	}
	ca.sock = sv[1];
	pid = clone(init_child, stack + sizeof(stack), CLONE_VM | CLONE_VFORK |
		    CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS |
		    CLONE_NEWIPC | SIGCHLD, &ca);
	rc = errno;
	close(sv[1]);
	close(ca.null);
	if (pid < 0) {
		close(sv[0]);
		buf_free(&setup);
		forget_cg(b);
		return luaL_error(L, "cannot create the sandbox's namespaces: "
				  "%s (the local server needs root; to use the "
				  "cloud instead, set OPENCOMPUTER_API_URL and "
				  "OPENCOMPUTER_API_KEY)", strerror(rc));
	}
	b->pid = pid;
	b->ctl = sv[0];
	b->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (b->pidfd < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(b->ctl);
		buf_free(&setup);
		forget_cg(b);
		return luaL_error(L, "pidfd_open: %s", strerror(errno));
	}
	b->state = BOX_BOOTING;
	uv_poll_init(rt->loop, &b->ctl_poll, b->ctl);
	uv_poll_init(rt->loop, &b->exit_poll, b->pidfd);
	b->ctl_poll.data = b->exit_poll.data = b;
	b->handles = 2;
	uv_poll_start(&b->ctl_poll, UV_READABLE, on_ctl);
	uv_poll_start(&b->exit_poll, UV_READABLE, on_exit_fd);
	b->pending.cancel = box_cancel;
	ocl_pending_add(rt, &b->pending);
	rt->active++;
	/* init waits for this before it does anything */
	if (ctl_send(b, setup.p, setup.len, NULL, 0))
		box_fail(b, "cannot send the setup to init");
	else if (b->has_net && start_network(b, err, sizeof(err)))
		box_fail(b, err);
	buf_free(&setup);
	return boot_k(L, LUA_OK, (lua_KContext)b);
}

static box *
check_box(lua_State *L)
{
	return ocl_check_open(L, BOX_MT, "sandbox box");
}

static int
box_root(lua_State *L)
{
	box *b = check_box(L);

	if (b->state != BOX_UP)
		return luaL_error(L, "the sandbox is not running");
	lua_pushinteger(L, b->root);
	return 1;
}

/* box:netns() -> fd of its network namespace (the box owns it): where
 * core.netns_connect reaches the sandbox's own listeners */
static int
box_netns(lua_State *L)
{
	box *b = check_box(L);

	if (b->state != BOX_UP)
		return luaL_error(L, "the sandbox is not running");
	lua_pushinteger(L, b->netns);
	return 1;
}

static int
wait_exit_k(lua_State *L, int status, lua_KContext ctx)
{
	box *b = (box *)ctx;

	(void)status;
	if (b->state != BOX_DEAD) {
		b->exit_task = ocl_task_pin(L);
		return ocl_suspend(L, ctx, wait_exit_k);
	}
	lua_pushstring(L, b->oom ? "oom" : "exited");
	return 1;
}

/* box:wait_exit() -> "oom" (the OOM killer ended a process of it) or
 * "exited"; yields until its init is gone */
static int
box_wait_exit(lua_State *L)
{
	box *b = check_box(L);

	if (b->exit_task != LUA_NOREF)
		return luaL_error(L, "another task waits for this sandbox's end");
	return wait_exit_k(L, LUA_OK, (lua_KContext)b);
}

static int
stop_k(lua_State *L, int status, lua_KContext ctx)
{
	box *b = (box *)ctx;

	(void)status;
	if (b->state != BOX_DEAD) {
		b->task = ocl_task_pin(L);
		return ocl_suspend(L, ctx, stop_k);
	}
	return 0;
}

/* box:stop(): kill init (and with it the whole PID namespace) */
static int
box_stop(lua_State *L)
{
	box *b = check_box(L);

	if (b->state == BOX_DEAD)
		return 0;
	kill(b->pid, SIGKILL);
	if (b->task != LUA_NOREF)
		return luaL_error(L, "another task waits on this sandbox");
	return stop_k(L, LUA_OK, (lua_KContext)b);
}

/* box:freeze(frozen) -> true, or nil and a message: stop (true) or
 * resume (false) every process of the sandbox, init included, in place
 * (cgroup freezer; a checkpoint's consistent copy, the paused tier of
 * protocol.md 2.7). Fails when the machine has no freezer (no cgroups:
 * --allow-missing limits) or the kernel did not freeze it within 1 s. */
static int
box_freeze(lua_State *L)
{
	box *b = check_box(L);
	int frozen = lua_toboolean(L, 2);

	if (!b->has_cg || b->state == BOX_DEAD) {
		lua_pushnil(L);
		lua_pushstring(L, b->has_cg ? "the sandbox is not running" :
			       "no cgroup freezer for this sandbox");
		return 2;
	}
	if (cg_freeze(&b->cg, frozen)) {
		lua_pushnil(L);
		lua_pushfstring(L, "%s: %s", frozen ? "freeze" : "thaw",
				errno == ENOTSUP ? "this machine has no cgroup "
				"freezer" : strerror(errno));
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int
box_gc(lua_State *L)
{
	box **ud = luaL_checkudata(L, 1, BOX_MT), *b = *ud;

	if (!b)
		return 0;
	*ud = NULL;
	b->gone = 1;
	if (b->task != LUA_NOREF && !b->rt->closing)
		luaL_unref(L, LUA_REGISTRYINDEX, b->task);
	if (b->exit_task != LUA_NOREF && !b->rt->closing)
		luaL_unref(L, LUA_REGISTRYINDEX, b->exit_task);
	b->task = b->exit_task = LUA_NOREF;
	if (b->state != BOX_DEAD) {
		/* nobody can reach it any more: end it */
		kill(b->pid, SIGKILL);
		if (b->rt->closing)
			box_died(b);
	}
	box_maybe_free(b);
	return 0;
}

/* ------------------------------------------------------------------ */
/* processes                                                          */

/* A read goes straight into the chunk it will be queued as (after the
 * stream's byte): no copy; on_output trims the block to what was read. */
static void
out_alloc(uv_handle_t *h, size_t hint, uv_buf_t *ub)
{
	box_proc *p = h->data;
	size_t size = p->pty ? PTY_CHUNK : OUT_READ;
	chunk *c = malloc(sizeof(*c) + 1 + size);

	(void)hint;
	ub->base = c ? c->data + 1 : NULL;
	ub->len = c ? size : 0;
}

/* the chunk whose data out_alloc gave as `base` */
static chunk *
out_chunk(char *base)
{
	return (chunk *)(base - 1 - offsetof(chunk, data));
}

static void on_output(uv_stream_t *s, ssize_t n, const uv_buf_t *ub);

static void
pause_output(box_proc *p, int pause)
{
	int i;

	for (i = 1; i <= 2; i++)
		if (p->open[i] == 1) {
			if (pause)
				uv_read_stop((uv_stream_t *)&p->pipes[i]);
			else
				uv_read_start((uv_stream_t *)&p->pipes[i],
					      out_alloc, on_output);
		}
	p->paused = pause;
}

/* chunk c, holding n > 0 bytes of output of `stream` after its first
 * byte, is the task's */
static void
queue_chunk(box_proc *p, chunk *c, int stream, size_t n)
{
	c->next = NULL;
	c->stream = stream;
	c->len = n;
	c->data[0] = (char)stream;
	if (p->tail)
		p->tail->next = c;
	else
		p->head = c;
	p->tail = c;
	p->queued += n;
	if (p->queued > OUT_HIGH && !p->paused)
		pause_output(p, 1);
}

/* n > 0 bytes of output of `stream` for the task, copied */
static void
queue_output(box_proc *p, int stream, const char *data, size_t n)
{
	chunk *c = malloc(sizeof(*c) + 1 + n);

	if (!c)
		return;
	memcpy(c->data + 1, data, n);
	queue_chunk(p, c, stream, n);
}

/* a terminal says no more: its master goes (both handles on it) */
static void
pty_close(box_proc *p)
{
	close_pipe(p, 1);
	close_pipe(p, 0);
	stop_linger(p);
}

static void on_pty_timer(uv_timer_t *t);

static void
on_output(uv_stream_t *s, ssize_t n, const uv_buf_t *ub)
{
	box_proc *p = s->data;
	int stream = s == (uv_stream_t *)&p->pipes[1] ? 1 : 2;
	chunk *c = ub->base ? out_chunk(ub->base) : NULL;

	if (n > 0) {
		/* the block cut to what was read (glibc shrinks in place):
		 * the bytes held stay what OUT_HIGH counts, however small
		 * the reads */
		chunk *t = (size_t)n < ub->len ?
			realloc(c, sizeof(*c) + 1 + (size_t)n) : c;

		queue_chunk(p, t ? t : c, stream, (size_t)n);
		c = NULL;
	} else if (n == UV_EOF && p->pty) {
		/* libuv has stopped reading: again soon (see the top) */
		p->eof = 1;
		if (!uv_is_active((uv_handle_t *)&p->linger))
			uv_timer_start(&p->linger, on_pty_timer, EOF_RETRY_MS, 0);
	} else if (n < 0 && p->pty)	/* EIO: every slave is closed */
		pty_close(p);
	else if (n < 0)
		close_pipe(p, stream);
	free(c);
	if (n != 0 && p->b)
		wake(p->b->rt, &p->task);
}

/* What a terminal's master has now, read at once: at most 32 pieces (a
 * terminal holds less: 4 KiB in its line discipline, 64 KiB in its
 * buffer), reading past a few reads of 0 (see the top). */
static void
pty_drain(box_proc *p)
{
	char piece[PTY_CHUNK];
	uv_os_fd_t fd;
	ssize_t n;
	int i, zeros = 0;

	if (p->open[1] != 1 || uv_fileno((uv_handle_t *)&p->pipes[1], &fd))
		return;
	for (i = 0; i < 32; i++) {
		n = read(fd, piece, sizeof(piece));
		if (n > 0) {
			queue_output(p, 1, piece, (size_t)n);
			zeros = 0;
		} else if (!(n == 0 && ++zeros < 3) &&
			   !(n < 0 && errno == EINTR))
			return;		/* EAGAIN, EIO */
	}
}

/* A terminal's timer: read again after a read of 0; and once its
 * command has exited, close it at close_at (when a background job holds
 * it: the usual end is the master's EIO), taking what the master still
 * has, unless the task is behind (then later: nothing is dropped). */
static void
on_pty_timer(uv_timer_t *t)
{
	box_proc *p = t->data;
	uint64_t now = uv_now(t->loop);

	if (p->eof) {
		p->eof = 0;
		if (!p->paused)
			pause_output(p, 0);
	}
	if (!p->close_at)
		return;
	if (now < p->close_at) {
		uv_timer_start(t, on_pty_timer, p->close_at - now, 0);
		return;
	}
	if (p->paused && p->b && p->b->state != BOX_DEAD) {
		uv_timer_start(t, on_pty_timer, LINGER_MS, 0);
		return;
	}
	pty_drain(p);
	pty_close(p);
	if (p->b)
		wake(p->b->rt, &p->task);
}

/* a terminal's command has exited, or its sandbox has ended: its output
 * ends at the master's EIO, or LINGER_MS later */
static void
pty_ended(box_proc *p)
{
	if (!p->pty || p->open[1] != 1 || p->timer_open != 1 || p->close_at)
		return;
	p->close_at = uv_now(p->b->rt->loop) + LINGER_MS;
	if (!uv_is_active((uv_handle_t *)&p->linger))
		uv_timer_start(&p->linger, on_pty_timer, LINGER_MS, 0);
}

/* The master init sent for the terminal `p` (STARTED): checked (init's
 * word is untrusted: it must be a pseudo-terminal master) and read and
 * written from now on; takes `fd`. -1 when it is not one. */
static int
pty_open(box_proc *p, int fd)
{
	unsigned int ptn;
	struct stat st;
	int w;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || !S_ISCHR(st.st_mode) ||
	    ioctl(fd, TIOCGPTN, &ptn) ||
	    (w = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		close(fd);
		return -1;
	}
	uv_pipe_init(p->b->rt->loop, &p->pipes[1], 0);
	uv_pipe_init(p->b->rt->loop, &p->pipes[0], 0);
	uv_timer_init(p->b->rt->loop, &p->linger);
	p->pipes[0].data = p->pipes[1].data = p->linger.data = p;
	p->open[0] = p->open[1] = p->timer_open = 1;
	if (uv_pipe_open(&p->pipes[1], fd)) {
		close(fd);
		fd = -1;
	}
	if (uv_pipe_open(&p->pipes[0], w)) {
		close(w);
		w = -1;
	}
	if (fd < 0 || w < 0) {
		pty_close(p);
		return -1;
	}
	pause_output(p, 0);
	return 0;
}


static int
spawn_k(lua_State *L, int status, lua_KContext ctx)
{
	box_proc *p = (box_proc *)ctx;

	(void)status;
	if (p->state == P_STARTING && p->b && p->b->state == BOX_UP) {
		p->task = ocl_task_pin(L);
		return ocl_suspend(L, ctx, spawn_k);
	}
	if (p->state == P_FAILED) {
		lua_pushnil(L);
		lua_pushfstring(L, "%s: %s", p->what, strerror(p->err));
		lua_pushstring(L, sandbox_errno_name(p->err));
		return 3;
	}
	if (p->state != P_RUNNING)
		return luaL_error(L, "the sandbox stopped");
	lua_pushinteger(L, p->pid);
	lua_setiuservalue(L, -2, 1);
	return 1;
}

/* raise unless the list at `idx` (`what`, in errors) holds at most `max`
 * strings, none with a \0 */
static void
check_strings(lua_State *L, int idx, const char *what, lua_Integer max)
{
	lua_Integer k, n = (lua_Integer)lua_rawlen(L, idx);
	const char *s;
	size_t len;

	luaL_argcheck(L, n <= max, idx, "too many strings");
	for (k = 1; k <= n; k++) {
		lua_rawgeti(L, idx, k);
		s = lua_tolstring(L, -1, &len);
		if (!s)
			luaL_error(L, "%s[%d] is not a string", what, (int)k);
		if (strlen(s) != len)
			luaL_error(L, "%s[%d] contains a NUL byte", what, (int)k);
		lua_pop(L, 1);
	}
}

/* add the strings of the list at `idx` (checked) to the payload, each
 * ended by \0; their count, or -1 when out of memory */
static lua_Integer
add_strings(lua_State *L, buf *payload, int idx)
{
	lua_Integer k, n = (lua_Integer)lua_rawlen(L, idx);
	int rc = 0;

	for (k = 1; k <= n && !rc; k++) {
		lua_rawgeti(L, idx, k);
		rc = add_str(payload, lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	return rc ? -1 : n;
}

/* box:spawn(argv, env_list, cwd, uid, gid) -> proc: argv and env_list
 * are lists of strings (empty ones pass intact; a NUL byte raises), at
 * most BOX_ARGV_MAX and BOX_ENV_MAX of them; box:spawn_pty(..., cols,
 * rows) the same on a terminal (`pty`) */
static int
spawn_common(lua_State *L, int pty)
{
	box *b = check_box(L);
	size_t cwd_len;
	const char *cwd = luaL_checklstring(L, 4, &cwd_len);
	struct box_msg m;
	struct box_winsize win;
	int fds[6], child[3], i, rc;
	lua_Integer argc, envc, cols = 0, rows = 0;
	buf payload = { 0 };
	box_proc **ud, *p;

	luaL_checktype(L, 2, LUA_TTABLE);
	luaL_checktype(L, 3, LUA_TTABLE);
	luaL_argcheck(L, strlen(cwd) == cwd_len, 4, "contains a NUL byte");
	luaL_argcheck(L, lua_rawlen(L, 2) > 0, 2, "empty argv");
	check_strings(L, 2, "argv", BOX_ARGV_MAX);
	check_strings(L, 3, "env", BOX_ENV_MAX);
	if (pty) {
		cols = luaL_checkinteger(L, 7);
		rows = luaL_checkinteger(L, 8);
		luaL_argcheck(L, cols >= 1 && cols <= 65535, 7,
			      "must be from 1 to 65535");
		luaL_argcheck(L, rows >= 1 && rows <= 65535, 8,
			      "must be from 1 to 65535");
	}
	if (b->state != BOX_UP)
		return luaL_error(L, "the sandbox is not running");
	memset(&m, 0, sizeof(m));
	m.type = pty ? BOX_SPAWN_PTY : BOX_SPAWN;
	m.uid = (uint32_t)luaL_optinteger(L, 5, 1000);
	m.gid = (uint32_t)luaL_optinteger(L, 6, m.uid);
	win.cols = (uint16_t)cols;
	win.rows = (uint16_t)rows;
	/* the message: the header (its id set below), then the payload */
	rc = buf_add(&payload, &m, sizeof(m)) ||
	     (pty && buf_add(&payload, &win, sizeof(win))) ||
	     add_str(&payload, cwd);
	argc = rc ? -1 : add_strings(L, &payload, 2);
	envc = argc < 0 ? -1 : add_strings(L, &payload, 3);
	if (envc < 0 || payload.len - sizeof(m) > BOX_PAYLOAD_MAX) {
		buf_free(&payload);
		return luaL_error(L, "command line and environment too large "
				  "(at most %d KiB)", BOX_PAYLOAD_MAX / 1024);
	}
	m.a = (int32_t)argc;
	m.b = (int32_t)envc;

	ud = lua_newuserdatauv(L, sizeof(*ud), 1);
	*ud = NULL;
	luaL_setmetatable(L, PROC_MT);
	p = calloc(1, sizeof(*p));
	for (i = 0; p && !pty && i < 3; i++)
		if (pipe2(fds + 2 * i, O_CLOEXEC)) {
			rc = errno;
			close_fds(fds, 2 * i);	/* the pipes made so far */
			free(p);
			p = NULL;
			errno = rc;
		}
	if (!p) {
		buf_free(&payload);
		return luaL_error(L, "cannot make pipes: %s", strerror(errno));
	}
	*ud = p;
	p->b = b;
	p->task = p->wtask = LUA_NOREF;
	p->id = ++b->next_id;
	p->pty = pty;
	m.id = p->id;
	memcpy(payload.p, &m, sizeof(m));
	p->next = b->procs;
	b->procs = p;
	if (pty) {
		/* the master comes with init's STARTED (pty_open) */
		rc = ctl_send(b, payload.p, payload.len, NULL, 0);
		buf_free(&payload);
		if (rc < 0) {
			p->state = P_FAILED;
			p->err = errno;
			snprintf(p->what, sizeof(p->what),
				 "sending to the sandbox");
		}
		return spawn_k(L, LUA_OK, (lua_KContext)p);
	}
	child[0] = fds[0];	/* stdin: the child reads */
	child[1] = fds[3];	/* stdout: the child writes */
	child[2] = fds[5];
	/* init gets the child's ends of the pipes */
	rc = ctl_send(b, payload.p, payload.len, child, 3);
	buf_free(&payload);
	uv_pipe_init(b->rt->loop, &p->pipes[0], 0);
	uv_pipe_open(&p->pipes[0], fds[1]);
	uv_pipe_init(b->rt->loop, &p->pipes[1], 0);
	uv_pipe_open(&p->pipes[1], fds[2]);
	uv_pipe_init(b->rt->loop, &p->pipes[2], 0);
	uv_pipe_open(&p->pipes[2], fds[4]);
	for (i = 0; i < 3; i++) {
		p->pipes[i].data = p;
		p->open[i] = 1;
	}
	if (rc < 0) {
		p->state = P_FAILED;
		p->err = errno;
		snprintf(p->what, sizeof(p->what), "sending to the sandbox");
		for (i = 0; i < 3; i++)
			close_pipe(p, i);
	} else
		pause_output(p, 0);	/* start reading stdout and stderr */
	return spawn_k(L, LUA_OK, (lua_KContext)p);
}

static int
box_spawn(lua_State *L)
{
	return spawn_common(L, 0);
}

static int
box_spawn_pty(lua_State *L)
{
	return spawn_common(L, 1);
}

static box_proc *
check_proc(lua_State *L)
{
	return ocl_check_open(L, PROC_MT, "process object");
}

static int
proc_read(lua_State *L)
{
	box_proc *p = check_proc(L);
	chunk *c = p->head;

	if (c) {
		p->head = c->next;
		if (!p->head)
			p->tail = NULL;
		p->queued -= c->len;
		lua_pushinteger(L, c->stream);
		lua_pushlstring(L, c->data, c->len + 1);
		free(c);
		if (p->paused && p->queued < OUT_LOW)
			pause_output(p, 0);
		return 2;
	}
	if (proc_finished(p)) {
		lua_pushnil(L);
		lua_pushinteger(L, p->exited ? p->exit_code : -1);
		return 2;
	}
	return ocl_wait_retry(L, &p->task, proc_read);
}

typedef struct stdin_write {
	uv_write_t	req;
	box_proc	*p;
	size_t		len;
	char		data[];
} stdin_write;

static void
stdin_written(uv_write_t *req, int status)
{
	stdin_write *w = (stdin_write *)req;
	box_proc *p = w->p;

	(void)status;		/* EPIPE: the process closed its stdin */
	p->in_pending -= w->len;
	free(w);
	if (p->in_pending == 0 && p->close_in_after_writes)
		close_pipe(p, 0);
	if (p->in_pending <= IN_HIGH && p->b)
		wake(p->b->rt, &p->wtask);
}

static int
write_k(lua_State *L, int status, lua_KContext ctx)
{
	box_proc *p = check_proc(L);

	(void)status; (void)ctx;
	if (p->in_pending > IN_HIGH && p->open[0] == 1) {
		p->wtask = ocl_task_pin(L);
		return ocl_suspend(L, 0, write_k);
	}
	return 0;
}

static int
proc_write(lua_State *L)
{
	box_proc *p = check_proc(L);
	size_t n;
	const char *s = luaL_checklstring(L, 2, &n);
	stdin_write *w;
	uv_buf_t b;

	if (p->open[0] != 1 || p->close_in_after_writes || n == 0)
		return 0;	/* stdin closed: the bytes have nowhere to go */
	w = malloc(sizeof(*w) + n);
	if (!w)
		return luaL_error(L, "out of memory");
	w->p = p;
	w->len = n;
	memcpy(w->data, s, n);
	b = uv_buf_init(w->data, (unsigned)n);
	if (uv_write(&w->req, (uv_stream_t *)&p->pipes[0], &b, 1,
		     stdin_written)) {
		free(w);
		return 0;
	}
	p->in_pending += n;
	/* (a second writer while one waits goes on: the waiting one holds
	 * the pace) */
	if (p->in_pending > IN_HIGH && p->wtask == LUA_NOREF) {
		lua_settop(L, 1);
		return write_k(L, LUA_OK, 0);
	}
	return 0;
}

static int
proc_close_stdin(lua_State *L)
{
	box_proc *p = check_proc(L);

	if (p->in_pending)
		p->close_in_after_writes = 1;
	else
		close_pipe(p, 0);
	return 0;
}

/* BOX_KILL or BOX_KILL_SESSION of the process with signal arg 2 */
static int
send_kill(lua_State *L, uint32_t type)
{
	box_proc *p = check_proc(L);
	int sig = (int)luaL_optinteger(L, 2, SIGKILL);
	struct box_msg m;

	if (p->state != P_RUNNING || p->exited || !p->b ||
	    p->b->state != BOX_UP)
		return 0;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.a = p->pid;
	m.b = sig;
	(void)ctl_send(p->b, &m, sizeof(m), NULL, 0);
	return 0;
}

static int
proc_kill(lua_State *L)
{
	return send_kill(L, BOX_KILL);
}

/* proc:kill_session(signal): to every process of the session it leads
 * (a spawn_pty's shell and its jobs); nothing once it has exited */
static int
proc_kill_session(lua_State *L)
{
	return send_kill(L, BOX_KILL_SESSION);
}

/* proc:resize(cols, rows) -> true, or nil and a message: a terminal's
 * new window (1 to 65535 each); its foreground job gets SIGWINCH */
static int
proc_resize(lua_State *L)
{
	box_proc *p = check_proc(L);
	lua_Integer cols = luaL_checkinteger(L, 2), rows = luaL_checkinteger(L, 3);
	struct winsize w;
	uv_os_fd_t fd;

	luaL_argcheck(L, cols >= 1 && cols <= 65535, 2, "must be from 1 to 65535");
	luaL_argcheck(L, rows >= 1 && rows <= 65535, 3, "must be from 1 to 65535");
	if (!p->pty || p->open[1] != 1 ||
	    uv_fileno((uv_handle_t *)&p->pipes[1], &fd)) {
		lua_pushnil(L);
		lua_pushstring(L, p->pty ? "the terminal has ended" :
			       "not a terminal");
		return 2;
	}
	memset(&w, 0, sizeof(w));
	w.ws_col = (unsigned short)cols;
	w.ws_row = (unsigned short)rows;
	if (ioctl(fd, TIOCSWINSZ, &w)) {
		lua_pushnil(L);
		lua_pushfstring(L, "resize: %s", strerror(errno));
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int
proc_index(lua_State *L)
{
	const char *k = luaL_checkstring(L, 2);

	if (!strcmp(k, "pid")) {
		lua_getiuservalue(L, 1, 1);
		return 1;
	}
	luaL_getmetafield(L, 1, "methods");
	lua_getfield(L, -1, k);
	return 1;
}

static int
proc_gc(lua_State *L)
{
	box_proc **ud = luaL_checkudata(L, 1, PROC_MT), *p = *ud;
	int i;

	if (!p)
		return 0;
	*ud = NULL;
	p->gone = 1;
	if (p->task != LUA_NOREF && !(p->b && p->b->rt->closing))
		luaL_unref(L, LUA_REGISTRYINDEX, p->task);
	if (p->wtask != LUA_NOREF && !(p->b && p->b->rt->closing))
		luaL_unref(L, LUA_REGISTRYINDEX, p->wtask);
	p->task = p->wtask = LUA_NOREF;
	for (i = 0; i < 3; i++)
		close_pipe(p, i);
	stop_linger(p);
	proc_maybe_free(p);
	return 0;
}

/* ------------------------------------------------------------------ */
/* removal and what the machine offers                                */

/* a check's answer: true, or nil and the message */
static int
push_check(lua_State *L, int rc, const char *err)
{
	if (rc == 0) {
		lua_pushboolean(L, 1);
		return 1;
	}
	lua_pushnil(L);
	lua_pushstring(L, err);
	return 2;
}

/* core.box_cgroups() -> true, or nil and what is missing (cgroup.c) */
static int
core_box_cgroups(lua_State *L)
{
	char err[256];
	int rc = cg_init("oclua", err, sizeof(err));

	return push_check(L, rc, err);
}

/* core.disk_setup(image, dir, bytes) -> true, or nil and what is
 * missing: `dir` becomes the quota file system in `image` (disk.c) */
static int
core_disk_setup(lua_State *L)
{
	const char *image = luaL_checkstring(L, 1), *dir = luaL_checkstring(L, 2);
	lua_Integer size = luaL_checkinteger(L, 3);
	char err[512];
	int rc = disk_setup(image, dir, (uint64_t)(size > 0 ? size : 0), err,
			    sizeof(err));

	return push_check(L, rc, err);
}

/* core.disk_limit(path, bytes): `path` (a sandbox's directory) holds at
 * most `bytes`; raises on failure */
static int
core_disk_limit(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	lua_Integer bytes = luaL_checkinteger(L, 2);
	char err[512];

	luaL_argcheck(L, bytes >= 0, 2, "must not be negative");
	if (disk_limit(path, (uint64_t)bytes, err, sizeof(err)))
		return luaL_error(L, "disk quota of %s: %s", path, err);
	return 0;
}

/* core.disk_snapshot(src, dst, readonly): `dst` becomes a copy-on-write
 * snapshot of the subvolume `src` (disk.c: a checkpoint when readonly, a
 * fork or a restore otherwise); raises on failure */
static int
core_disk_snapshot(lua_State *L)
{
	const char *src = luaL_checkstring(L, 1), *dst = luaL_checkstring(L, 2);
	char err[512];

	if (disk_snapshot(src, dst, lua_toboolean(L, 3), err, sizeof(err)))
		return luaL_error(L, "%s", err);
	return 0;
}

/* core.disk_usage(path) -> referenced, exclusive bytes of a subvolume
 * (disk.c), or nil and a message */
static int
core_disk_usage(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	uint64_t rfer, excl;

	if (disk_usage(path, &rfer, &excl)) {
		lua_pushnil(L);
		lua_pushfstring(L, "usage of %s: %s", path, strerror(errno));
		return 2;
	}
	lua_pushinteger(L, (lua_Integer)rfer);
	lua_pushinteger(L, (lua_Integer)excl);
	return 2;
}

/* core.disk_teardown(dir): unmount the quota file system */
static int
core_disk_teardown(lua_State *L)
{
	if (disk_teardown(luaL_checkstring(L, 1)))
		return luaL_error(L, "unmount %s: %s", lua_tostring(L, 1),
				  strerror(errno));
	return 0;
}

/* core.private_mounts(): from now on this process's mounts are its own
 * (a mount namespace of its own, the host's later mounts still seen):
 * what it mounts goes with it however it ends. For a server whose data
 * is temporary: a SIGKILL must not leave its disk image mounted. Raises
 * on failure. */
static int
core_private_mounts(lua_State *L)
{
	if (unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL))
		return luaL_error(L, "a mount namespace of its own: %s",
				  strerror(errno));
	return 0;
}

/* core.box_network() -> true, or nil and what is missing (slirp.c) */
static int
core_box_network(lua_State *L)
{
	char err[256];
	int rc = slirp_check(err, sizeof(err));

	return push_check(L, rc, err);
}

/* core.box_destroy(dir): remove a sandbox's files (its init is gone),
 * or a checkpoint's (DATA/sandboxes/.checkpoints/...) */
static int
core_box_destroy(lua_State *L)
{
	const char *dir = luaL_checkstring(L, 1);
	char err[256];

	if (!strstr(dir, "/sandboxes/sb-") &&
	    !strstr(dir, "/sandboxes/.checkpoints/"))
		return luaL_error(L, "refusing to remove '%s'", dir);
	if (disk_remove(dir) || ocl_remove_path(dir))
		return luaL_error(L, "cannot remove %s: %s", dir,
				  strerror(errno));
	/* and the cgroups named after it (box_start), which a sandbox that
	 * was never stopped by this process (its server died) still has;
	 * a machine without cgroups has none */
	if (strstr(dir, "/sandboxes/sb-") &&
	    (cg_available() || cg_init("oclua", err, sizeof(err)) == 0) &&
	    cg_remove(strrchr(dir, '/') + 1))
		return luaL_error(L, "cannot remove the cgroups of %s: %s",
				  dir, strerror(errno));
	return 0;
}

int
ocl_open_box(lua_State *L)
{
	static const luaL_Reg box_m[] = {
		{ "spawn", box_spawn }, { "spawn_pty", box_spawn_pty },
		{ "root", box_root },
		{ "stop", box_stop }, { "wait_exit", box_wait_exit },
		{ "freeze", box_freeze }, { "netns", box_netns },
		{ NULL, NULL }
	};
	static const luaL_Reg box_mm[] = {
		{ "__gc", box_gc }, { NULL, NULL }
	};
	static const luaL_Reg proc_m[] = {
		{ "read", proc_read }, { "write", proc_write },
		{ "close_stdin", proc_close_stdin }, { "kill", proc_kill },
		{ "kill_session", proc_kill_session },
		{ "resize", proc_resize },
		{ NULL, NULL }
	};
	static const luaL_Reg proc_mm[] = {
		{ "__gc", proc_gc }, { NULL, NULL }
	};
	static const luaL_Reg core_f[] = {
		{ "box_start", core_box_start },
		{ "box_destroy", core_box_destroy },
		{ "box_cgroups", core_box_cgroups },
		{ "box_network", core_box_network },
		{ "disk_setup", core_disk_setup },
		{ "disk_limit", core_disk_limit },
		{ "disk_snapshot", core_disk_snapshot },
		{ "disk_usage", core_disk_usage },
		{ "disk_teardown", core_disk_teardown },
		{ "private_mounts", core_private_mounts },
		{ NULL, NULL }
	};

	ocl_newclass(L, BOX_MT, box_m, box_mm);
	lua_pop(L, 1);
	ocl_newclass(L, PROC_MT, proc_m, proc_mm);
	lua_getfield(L, -1, "__index");
	lua_setfield(L, -2, "methods");
	lua_pushcfunction(L, proc_index);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
	luaL_setfuncs(L, core_f, 0);
	return 0;
}
