/*
 * init.c - oclua-init, PID 1 of every sandbox: a small static program of
 * its own (built as build/oclua-init, carried inside liboclua and exec'd
 * from a sealed memfd by box.c), so nothing of the server (its memory, its
 * API key, its paths) is ever inside a sandbox.
 *
 * The server clones it into new mount, PID, network, UTS and IPC
 * namespaces, already placed in the sandbox's cgroups, with the control
 * socket as fd 3. It starts as host root in namespaces that the host user
 * namespace owns, reads one BOX_SETUP message (box.h), and then:
 *
 *  1. lays out the sandbox's layers on first boot (DIR/upper, DIR/work);
 *  2. makes the sandbox's user namespace: its 0..65535 map to the host
 *     uids BASE..BASE+65535, which no host user owns;
 *  3. mounts the template and the host's /usr through idmapped mounts of
 *     that mapping (host-owned files appear root-owned inside), each under
 *     an overlay whose upper layer is the sandbox's own (nodev);
 *  4. mounts a fresh /proc with the kernel interfaces an OCI runtime masks
 *     hidden or read-only, a /dev of a tmpfs, the standard character
 *     devices, a private devpts and a bounded /dev/shm;
 *  5. pivots into the new root and detaches the host's;
 *  6. brings up loopback, enters a cgroup namespace, then joins the user
 *     namespace as its root (the mount, network, UTS, IPC and PID
 *     namespaces stay owned by the host's: root inside can mount nothing,
 *     configure no interface, change no hostname), drops the capabilities
 *     a container does not keep from its bounding set and loads the
 *     seccomp filter (seccomp.c) that every command inherits;
 *  7. as PID 1, starts the commands the server sends (as `sandbox`, uid
 *     1000, unless asked otherwise) without ever waiting for one, on
 *     pipes or on a pseudo-terminal of the sandbox's devpts (whose master
 *     goes to the server), reports their exits and reaps every orphan. When the server's end of the socket closes it kills
 *     everything and exits, which ends the PID namespace.
 *
 * It is non-dumpable and was exec'd before joining the sandbox's user
 * namespace, so root inside cannot ptrace it or read its memory.
 *
 * On disk (DIR = the sandbox's state directory, TPL = the template):
 *   TPL/root                         lower layer of /
 *   DIR/upper/root, DIR/work/root    the sandbox's layer over /
 *   DIR/upper/usr, DIR/work/usr      the sandbox's layer over /usr
 *   DIR/rootfs                       a staging tmpfs, private to init
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/mount.h>
#include <linux/netlink.h>
#include <linux/openat2.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
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
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/box.h"
#include "sandbox/seccomp.h"

#define MAX_TRACKED	4096
#define PTYS_MAX	256	/* pseudo-terminals in a sandbox's devpts */
#define START_LIMIT	10	/* seconds a command may take to reach its
				 * exec: one stopped before it is killed */

static int ctl = BOX_INIT_FD;

/* a message to the server, with the descriptor `fd` (SCM_RIGHTS) unless
 * it is -1 */
static void
reply_fd(uint32_t type, uint32_t id, int32_t a, int32_t b, const char *text,
	 int fd)
{
	char buf[sizeof(struct box_msg) + 512];
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct box_msg m;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *c;
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
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = sizeof(m) + n;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd >= 0) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	(void)!sendmsg(ctl, &mh, MSG_NOSIGNAL);
}

static void
reply(uint32_t type, uint32_t id, int32_t a, int32_t b, const char *text)
{
	reply_fd(type, id, a, b, text, -1);
}

static void
setup_failed(const char *step)
{
	reply(BOX_SETUP_FAILED, 0, errno, 0, step);
	_exit(1);
}

/* ------------------------------------------------------------------ */
/* setup                                                              */

struct setup {
	int		flags;
	int		ncgroups;	/* cgroup.procs fds from BOX_CGROUP_FD */
	uid_t		base;		/* host uid of root inside */
	uid_t		disk_base;	/* host uid root's files carry on
					 * disk (a fork: its origin's) */
	unsigned	shm_mb;
	const char	*dir, *template_dir, *hostname;
	const char	*host_addrs;	/* "a.b.c.d,..." the host's own */
};

/* Write `text` to `path` (relative to DIR, the cwd), owned by `owner`.
 * No component may be a symlink: on a fork's first boot DIR/upper holds
 * what its origin's root made, and an /etc made a symlink to a host
 * path there would make this (host root) write the host's files. A
 * symlink fails the boot (ELOOP) instead. */
static void
write_file(const char *path, const char *text, uid_t owner)
{
	struct open_how how;
	size_t len = strlen(text);
	int fd;

	memset(&how, 0, sizeof(how));
	how.flags = O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC;
	how.mode = 0644;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		      RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
	fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));

	if (fd < 0 || write(fd, text, len) != (ssize_t)len ||
	    fchown(fd, owner, owner))
		setup_failed(path);
	close(fd);
}

/* the sandbox's /etc/hosts and /etc/hostname, naming it (a new
 * sandbox, or a fork's first boot: it was its origin's name); owned by
 * its root as ids on disk. Runs in DIR. */
static void
write_names(const struct setup *s)
{
	char text[1024];

	snprintf(text, sizeof(text), "127.0.0.1\tlocalhost\n"
		 "127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n",
		 s->hostname);
	write_file("upper/root/etc/hosts", text, s->disk_base);
	snprintf(text, sizeof(text), "%s\n", s->hostname);
	write_file("upper/root/etc/hostname", text, s->disk_base);
}

/* without a network, a resolv.conf that says so (a new sandbox, or a
 * fork's first boot: its origin may have had one). Runs in DIR. */
static void
note_no_network(const struct setup *s)
{
	if (!(s->flags & BOX_NETWORK))
		write_file("upper/root/etc/resolv.conf",
			   "# this sandbox has no network (networkEnabled: "
			   "false)\n", s->disk_base);
}

/* a new sandbox: its own empty layers, owned by its root, and its own
 * hosts, hostname and (without a network) resolv.conf. Runs in DIR. */
static void
lay_out(const struct setup *s)
{
	static const struct { const char *path; int owned; } dirs[] = {
		{ "rootfs", 0 }, { "upper", 0 }, { "upper/root", 1 },
		{ "upper/root/etc", 1 }, { "upper/usr", 1 }, { "work", 0 },
		{ "work/root", 0 }, { "work/usr", 0 }, { NULL, 0 }
	};
	int i;

	for (i = 0; dirs[i].path; i++) {
		if (mkdir(dirs[i].path, 0755) && errno != EEXIST)
			setup_failed(dirs[i].path);
		if (dirs[i].owned &&
		    chown(dirs[i].path, s->disk_base, s->disk_base))
			setup_failed(dirs[i].path);
	}
	write_names(s);
	note_no_network(s);
}

/* A user namespace mapping first..first+65535 to base..base+65535, as
 * an fd: the sandbox's (first 0), or the shift of a fork's layers (first
 * = the ids its files carry on disk; host root maps to itself). Made by a child that only holds it
 * while we write its maps (we are still host root, so any range may be
 * mapped). `proc` is a procfs of our PID namespace (the host's /proc
 * numbers processes differently). */
static int
make_userns(const char *proc, uid_t first, uid_t base)
{
	char path[64], map[64];
	int hold[2], fd, i;
	pid_t pid;

	if (pipe2(hold, O_CLOEXEC))
		setup_failed("pipe");
	pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL,
			     NULL, 0);
	if (pid < 0)
		setup_failed("user namespace");
	if (pid == 0) {
		char c;

		close(hold[1]);
		(void)!read(hold[0], &c, 1);
		_exit(0);
	}
	close(hold[0]);
	/* a shift keeps host root as it is: the layout directories above
	 * the layers (DIR, DIR/work/root) are host root's, mode 0700 */
	snprintf(map, sizeof(map), "%s%u %u %u\n", first ? "0 0 1\n" : "",
		 (unsigned)first, (unsigned)base, BOX_RANGE);
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%d/%s", proc, (int)pid,
			 i ? "gid_map" : "uid_map");
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, map, strlen(map)) < 0)
			setup_failed("uid map");
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/%d/ns/user", proc, (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		setup_failed("open the user namespace");
	close(hold[1]);
	waitpid(pid, NULL, 0);
	return fd;
}

/* a detached copy of the mount at `path` (read-only unless `writable`),
 * its owners shifted by the user namespace `userns` */
static int
idmapped(const char *path, int userns, int writable)
{
	struct mount_attr attr;
	int fd = (int)syscall(SYS_open_tree, AT_FDCWD, path,
			      OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);

	if (fd < 0)
		setup_failed("open_tree");
	memset(&attr, 0, sizeof(attr));
	attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NODEV |
			(writable ? 0 : MOUNT_ATTR_RDONLY);
	attr.userns_fd = (uint64_t)userns;
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr,
		    sizeof(attr)))
		setup_failed("idmapped mount (needs Linux 5.19 or later)");
	return fd;
}

static void
attach_at(int mnt, const char *where)
{
	if (syscall(SYS_move_mount, mnt, "", AT_FDCWD, where,
		    MOVE_MOUNT_F_EMPTY_PATH))
		setup_failed("move_mount");
	close(mnt);
}

static void
do_mount(const char *src, const char *to, const char *type,
	 unsigned long flags, const char *opts)
{
	if (mount(src, to, type, flags, opts))
		setup_failed(to);
}

/* an empty, read-only directory over `path`, or /dev/null over a file;
 * paths the kernel does not have are skipped */
static void
mask(const char *path)
{
	struct stat st;

	if (stat(path, &st))
		return;
	if (S_ISDIR(st.st_mode))
		do_mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID |
			 MS_NODEV | MS_NOEXEC, "mode=0555");
	else
		do_mount("dev/null", path, NULL, MS_BIND, NULL);
}

static void
read_only(const char *path)
{
	struct stat st;

	if (stat(path, &st))
		return;
	do_mount(path, path, NULL, MS_BIND | MS_REC, NULL);
	do_mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY |
		 MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

/* /proc of the new PID namespace, with what the OCI runtime spec's
 * default masks (kernel memory, the kernel log, keys, timers, hardware)
 * hidden and the kernel's settings read-only. Runs in the new root. */
static void
mount_proc(void)
{
	static const char *const masked[] = {
		"proc/kcore", "proc/kmsg", "proc/keys", "proc/key-users",
		"proc/latency_stats", "proc/timer_list", "proc/timer_stats",
		"proc/sched_debug", "proc/acpi", "proc/scsi", "proc/asound",
		"proc/kallsyms", "proc/kpagecount", "proc/kpageflags",
		"proc/kpagecgroup", "proc/vmallocinfo", "proc/sysrq-trigger",
		"proc/config.gz", "proc/pagetypeinfo", "proc/slabinfo", NULL
	};
	static const char *const ro[] = {
		"proc/sys", "proc/bus", "proc/fs", "proc/irq", "proc/driver",
		"proc/tty", NULL
	};
	int i;

	do_mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		 NULL);
	for (i = 0; masked[i]; i++)
		mask(masked[i]);
	for (i = 0; ro[i]; i++)
		read_only(ro[i]);
}

/* /dev: a tmpfs with the six character devices every container has
 * (bound from the host's: a user namespace cannot mknod; /dev/tty means
 * the opener's own terminal), a private devpts and a bounded /dev/shm.
 * Runs in the new root. */
static void
mount_dev(const struct setup *s)
{
	static const char *const devs[] = {
		"null", "zero", "full", "random", "urandom", "tty", NULL
	};
	char opts[128], from[64], to[64];
	int i, fd;

	snprintf(opts, sizeof(opts), "mode=0755,size=64k,uid=%u,gid=%u",
		 (unsigned)s->base, (unsigned)s->base);
	do_mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, opts);
	for (i = 0; devs[i]; i++) {
		snprintf(from, sizeof(from), "/dev/%s", devs[i]);
		snprintf(to, sizeof(to), "dev/%s", devs[i]);
		fd = open(to, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
		if (fd < 0)
			setup_failed(to);
		close(fd);
		do_mount(from, to, NULL, MS_BIND, NULL);
		do_mount(NULL, to, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID |
			 MS_NOEXEC, NULL);
	}
	mkdir("dev/pts", 0755);
	/* at most PTYS_MAX terminals: the kernel's are shared by all
	 * sandboxes (kernel.pty.max, 4096 by default) */
	snprintf(opts, sizeof(opts), "newinstance,ptmxmode=0666,mode=0620,"
		 "gid=%u,max=%d", (unsigned)s->base + 5, PTYS_MAX);
	do_mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, opts);
	(void)!symlink("pts/ptmx", "dev/ptmx");
	mkdir("dev/shm", 01777);
	snprintf(opts, sizeof(opts), "mode=1777,size=%um,uid=%u,gid=%u",
		 s->shm_mb, (unsigned)s->base, (unsigned)s->base);
	do_mount("tmpfs", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, opts);
	(void)!symlink("/proc/self/fd", "dev/fd");
	(void)!symlink("/proc/self/fd/0", "dev/stdin");
	(void)!symlink("/proc/self/fd/1", "dev/stdout");
	(void)!symlink("/proc/self/fd/2", "dev/stderr");
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

/* Add a route of type "prohibit" for dst/len (network byte order) to the
 * main table: the kernel refuses a connect there with EACCES. */
static int
prohibit(int nl, uint32_t dst, int len)
{
	struct {
		struct nlmsghdr	nh;
		struct rtmsg	rt;
		struct rtattr	ra;
		uint32_t	dst;
	} req;
	struct {
		struct nlmsghdr	nh;
		struct nlmsgerr	err;
	} ack;

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = sizeof(req);
	req.nh.nlmsg_type = RTM_NEWROUTE;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK;
	req.rt.rtm_family = AF_INET;
	req.rt.rtm_dst_len = (unsigned char)len;
	req.rt.rtm_table = RT_TABLE_MAIN;
	req.rt.rtm_protocol = RTPROT_STATIC;
	req.rt.rtm_scope = RT_SCOPE_UNIVERSE;
	req.rt.rtm_type = RTN_PROHIBIT;
	req.ra.rta_type = RTA_DST;
	req.ra.rta_len = RTA_LENGTH(sizeof(uint32_t));
	req.dst = dst;
	if (send(nl, &req, sizeof(req), 0) != (ssize_t)sizeof(req) ||
	    recv(nl, &ack, sizeof(ack), 0) < (ssize_t)sizeof(ack))
		return -1;
	if (ack.nh.nlmsg_type == NLMSG_ERROR && ack.err.error &&
	    ack.err.error != -EEXIST) {
		errno = -ack.err.error;
		return -1;
	}
	return 0;
}

/* What a sandbox's outbound network may not reach, whatever root inside
 * does (the network namespace belongs to the host's user namespace, so
 * its routes are not root's to change): the host's own addresses, and
 * the private, shared, link-local (cloud metadata) and reserved ranges
 * of RFC 6890. The more specific routes slirp4netns adds for 10.0.2.0/24
 * (its gateway and DNS) still win. */
static void
fence_network(const struct setup *s)
{
	static const struct { const char *net; int len; } ranges[] = {
		{ "0.0.0.0", 8 }, { "10.0.0.0", 8 }, { "100.64.0.0", 10 },
		{ "169.254.0.0", 16 }, { "172.16.0.0", 12 },
		{ "192.0.0.0", 24 }, { "192.0.2.0", 24 },
		{ "192.168.0.0", 16 }, { "198.18.0.0", 15 },
		{ "198.51.100.0", 24 }, { "203.0.113.0", 24 },
		{ "224.0.0.0", 4 }, { "240.0.0.0", 4 }, { NULL, 0 }
	};
	char addr[INET_ADDRSTRLEN];
	const char *p = s->host_addrs;
	struct in_addr a;
	int nl, i;

	nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl < 0)
		setup_failed("netlink");
	for (i = 0; ranges[i].net; i++)
		if (inet_pton(AF_INET, ranges[i].net, &a) != 1 ||
		    prohibit(nl, a.s_addr, ranges[i].len))
			setup_failed("fence the network");
	while (*p) {
		size_t n = strcspn(p, ",");

		if (n && n < sizeof(addr)) {
			memcpy(addr, p, n);
			addr[n] = '\0';
			if (inet_pton(AF_INET, addr, &a) == 1 &&
			    prohibit(nl, a.s_addr, 32))
				setup_failed("fence the network");
		}
		p += n + (p[n] == ',');
	}
	close(nl);
}

/* The capabilities root inside keeps: the OCI runtime spec's default set
 * (enough for sudo, apt and dpkg); every other one leaves the bounding
 * set, so no program inside can ever gain it. */
static void
drop_capabilities(void)
{
	static const int keep[] = {
		CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER,
		CAP_MKNOD, CAP_NET_RAW, CAP_SETGID, CAP_SETUID, CAP_SETFCAP,
		CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL,
		CAP_AUDIT_WRITE, -1
	};
	int cap, i, kept;

	for (cap = 0; cap <= 63; cap++) {
		for (kept = 0, i = 0; keep[i] >= 0; i++)
			kept |= keep[i] == cap;
		if (!kept && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) &&
		    errno != EINVAL)	/* EINVAL: past the kernel's last */
			setup_failed("drop capabilities");
	}
}

static void
set_up(const struct setup *s)
{
	char opts[512], err[256];
	const char *layers = "";	/* where upper/ and work/ are seen */
	int userns;

	if (chdir(s->dir))
		setup_failed("the sandbox's directory");
	if (s->flags & BOX_FRESH)
		lay_out(s);
	else if (s->flags & BOX_RENAMED) {
		write_names(s);
		note_no_network(s);
	}
	if (sethostname(s->hostname, strlen(s->hostname)))
		setup_failed("sethostname");
	do_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);

	/* the layers, staged on a tmpfs that only this mount namespace has
	 * (so no host path shows in /proc/self/mountinfo inside) */
	do_mount("tmpfs", "rootfs", "tmpfs", MS_NOSUID | MS_NODEV,
		 "mode=0700,size=64k");
	if (mkdir("rootfs/lower", 0755) || mkdir("rootfs/usr", 0755) ||
	    mkdir("rootfs/root", 0755) || mkdir("rootfs/proc", 0755))
		setup_failed("staging");
	do_mount("proc", "rootfs/proc", "proc", MS_NOSUID | MS_NODEV |
		 MS_NOEXEC, NULL);
	userns = make_userns("rootfs/proc", 0, s->base);
	snprintf(opts, sizeof(opts), "%s/root", s->template_dir);
	attach_at(idmapped(opts, userns, 0), "rootfs/lower");
	attach_at(idmapped("/usr", userns, 0), "rootfs/usr");
	if (s->disk_base != s->base) {
		/* a fork: its layers are its checkpoint's extents, owned by
		 * the origin's ids; shifted here instead of chowned */
		int shift = make_userns("rootfs/proc", s->disk_base, s->base);

		if (mkdir("rootfs/layers", 0700))
			setup_failed("staging");
		attach_at(idmapped(".", shift, 1), "rootfs/layers");
		close(shift);
		layers = "rootfs/layers/";
	}
	snprintf(opts, sizeof(opts), "lowerdir=rootfs/lower,upperdir=%s"
		 "upper/root,workdir=%swork/root", layers, layers);
	do_mount("overlay", "rootfs/root", "overlay", MS_NODEV, opts);
	snprintf(opts, sizeof(opts), "lowerdir=rootfs/usr,upperdir=%s"
		 "upper/usr,workdir=%swork/usr", layers, layers);
	do_mount("overlay", "rootfs/root/usr", "overlay", MS_NODEV, opts);
	if (chdir("rootfs/root"))
		setup_failed("the new root");
	mount_dev(s);		/* first: the masks of /proc bind dev/null */
	mount_proc();

	/* into the new root; the host's goes (pivot_root(".", ".") stacks
	 * the old root on the new one, and the detach removes it) */
	if (syscall(SYS_pivot_root, ".", "."))
		setup_failed("pivot_root");
	if (umount2(".", MNT_DETACH) || chdir("/"))
		setup_failed("leave the host's root");
	loopback_up();
	if (s->flags & BOX_NETWORK)
		fence_network(s);
	if (unshare(CLONE_NEWCGROUP))
		setup_failed("cgroup namespace");

	/* root of the sandbox's user namespace from here on */
	if (setns(userns, CLONE_NEWUSER))
		setup_failed("join the user namespace");
	close(userns);
	if (syscall(SYS_setgroups, 0, NULL) ||
	    syscall(SYS_setresgid, 0, 0, 0) || syscall(SYS_setresuid, 0, 0, 0))
		setup_failed("become root of the user namespace");
	drop_capabilities();
	if (sandbox_seccomp_load(err, sizeof(err))) {
		errno = EPERM;
		setup_failed(err);
	}
	umask(022);
}

/* read BOX_SETUP: flags, base, sizes, then
 * dir\0template\0hostname\0host_addrs\0 */
static void
read_setup(struct setup *s, char *buf, size_t cap)
{
	struct box_msg m;
	char *p, *end;
	ssize_t n = recv(ctl, buf, cap - 1, 0);

	if (n < (ssize_t)sizeof(m))
		_exit(1);	/* the server went away */
	memcpy(&m, buf, sizeof(m));
	buf[n] = '\0';
	errno = EINVAL;
	if (m.type != BOX_SETUP || m.uid == 0 ||
	    m.uid > (uint32_t)-1 - BOX_RANGE)
		setup_failed("setup message");
	s->flags = m.a;
	s->ncgroups = m.b >= 0 && m.b <= 8 ? m.b : 0;
	s->base = m.uid;
	s->disk_base = m.id ? m.id : m.uid;
	if (s->disk_base > (uint32_t)-1 - BOX_RANGE)
		setup_failed("setup message");
	s->shm_mb = m.gid ? m.gid : 64;
	p = buf + sizeof(m);
	end = buf + n;
	s->dir = p;
	p += strlen(p) + 1;
	s->template_dir = p < end ? p : "";
	p += strlen(p) + 1;
	s->hostname = p < end ? p : "";
	p += strlen(p) + 1;
	s->host_addrs = p < end ? p : "";
	if (!*s->dir || !*s->template_dir || !*s->hostname ||
	    strlen(s->hostname) > 64)
		setup_failed("setup message");
}

/* ------------------------------------------------------------------ */
/* PID 1                                                              */

/* The commands init started: until its exec is known to have worked
 * (the status pipe closes with nothing in it) a command is `starting`
 * and init watches its status pipe with everything else. Nothing waits
 * for a child: a command stopped before its exec (SIGSTOP from another
 * process of the same user, say) delays only itself. */
struct kid {
	pid_t		pid;
	uint32_t	id;
	int		status;	/* the status pipe while starting, else -1 */
	int		failed;	/* reported as BOX_FAILED: no exit report */
	int		master;	/* its terminal's master, until STARTED
				 * carries it to the server; else -1 */
	int		expired; /* killed for not reaching its exec */
	time_t		deadline; /* CLOCK_MONOTONIC seconds, while starting */
};

static time_t
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec;
}

static struct kid kids[MAX_TRACKED];
static int nkids;

static struct kid *
find_kid(pid_t pid)
{
	int i;

	for (i = 0; i < nkids; i++)
		if (kids[i].pid == pid)
			return &kids[i];
	return NULL;
}

/* the status pipe has spoken (or the child is gone): started or failed */
static void
resolve(struct kid *k)
{
	char buf[64];
	ssize_t got;
	int e;

	if (k->status < 0)
		return;
	got = read(k->status, buf, sizeof(buf) - 1);
	if (got < 0 && errno == EAGAIN)
		return;
	close(k->status);
	k->status = -1;
	if (k->master >= 0 && !k->expired && got < (ssize_t)sizeof(int))
		reply_fd(BOX_STARTED, k->id, k->pid, 0, NULL, k->master);
	else if (k->expired) {
		k->failed = 1;
		reply(BOX_FAILED, k->id, ETIMEDOUT, 0, "it was stopped before "
		      "its exec and killed after 10 s");
	} else if (got >= (ssize_t)sizeof(int)) {
		memcpy(&e, buf, sizeof(e));
		buf[got] = '\0';
		k->failed = 1;
		reply(BOX_FAILED, k->id, e, 0, buf + sizeof(int));
	} else if (k->master < 0)
		reply(BOX_STARTED, k->id, k->pid, 0, NULL);
	if (k->master >= 0)
		close(k->master);
	k->master = -1;
}

/* the child side of a spawn, after fork(); never returns. `tty`: fds[]
 * are all a terminal's slave, which becomes the controlling terminal of
 * the child's new session and the user's */
static void
exec_child(const struct box_msg *m, int fds[3], int tty, char *cwd,
	   char **argv, char **envp, int status_fd)
{
	const char *what = "signals";
	char msg[sizeof(int) + 16];	/* errno, then the longest step name */
	sigset_t none;
	gid_t gid = m->gid;
	size_t n;
	int e, i;

	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL))
		goto fail;
	/* init ignores SIGPIPE for itself; a command gets the default, or
	 * `yes | head` would not end by it */
	signal(SIGPIPE, SIG_DFL);
	what = "setsid";
	if (setsid() < 0)
		goto fail;
	what = "controlling terminal";
	if (tty && ioctl(fds[0], TIOCSCTTY, 0))
		goto fail;
	what = "stdio";
	for (i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0)
			goto fail;
	for (i = 0; i < 3; i++)
		if (fds[i] > 2 && (i == 0 || fds[i] != fds[i - 1]))
			close(fds[i]);
	/* the terminal is the user's, as login(1) makes it */
	what = "terminal owner";
	if (tty && fchown(0, m->uid, (gid_t)-1))
		goto fail;
	what = "user";
	if (syscall(SYS_setgroups, m->uid ? 1 : 0, &gid) ||
	    syscall(SYS_setresgid, m->gid, m->gid, m->gid) ||
	    syscall(SYS_setresuid, m->uid, m->uid, m->uid))
		goto fail;
	/* nothing of init's but stdio: its socket to the server above all
	 * (the status pipe, close-on-exec already, still reports a failure) */
	what = "descriptors";
	if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC))
		goto fail;
	what = "cwd";
	if (chdir(cwd))
		goto fail;
	what = "exec";
	execvpe(argv[0], argv, envp);	/* searches PATH: see use_path() */
fail:
	/* errno and the step in one write (atomic: far below PIPE_BUF), so
	 * that resolve() never reads the one without the other */
	e = errno;
	memcpy(msg, &e, sizeof(e));
	n = strlen(what);
	memcpy(msg + sizeof(e), what, n);
	(void)!write(status_fd, msg, sizeof(e) + n);
	_exit(127);
}

/* execvpe() searches the PATH of the caller's environment, not of envp:
 * make ours the command's (or the default search path when it has none),
 * so that a command finds what its own PATH names, and a missing program
 * is ENOENT rather than an EACCES from a directory of another PATH */
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

/* the `n` strings at *p (each ended by \0, before `end`) into list[],
 * then NULL; -1 when they are not all there */
static int
take_strings(char **p, const char *end, char **list, int n)
{
	char *nul;
	int i;

	for (i = 0; i < n; i++) {
		nul = *p < end ? memchr(*p, '\0', (size_t)(end - *p)) : NULL;
		if (!nul)
			return -1;
		list[i] = *p;
		*p = nul + 1;
	}
	list[n] = NULL;
	return 0;
}

/* a SPAWN from the server (untrusted): argc, envc and exactly that many
 * strings after cwd, and nothing more (box.h); `master`: the terminal
 * whose slave fds[] are (a SPAWN_PTY), or -1. Takes `master`. */
static void
do_spawn(const struct box_msg *m, char *payload, size_t len, int fds[3],
	 int master)
{
	char *argv[BOX_ARGV_MAX + 1], *envp[BOX_ENV_MAX + 1];
	char *cwd[2], *p = payload, *end = payload + len;
	int st[2];
	pid_t pid;

	if (m->a < 1 || m->a > BOX_ARGV_MAX || m->b < 0 ||
	    m->b > BOX_ENV_MAX || take_strings(&p, end, cwd, 1) ||
	    take_strings(&p, end, argv, m->a) ||
	    take_strings(&p, end, envp, m->b) || p != end ||
	    m->uid >= BOX_RANGE || m->gid >= BOX_RANGE) {
		reply(BOX_FAILED, m->id, EINVAL, 0, "arguments");
		goto drop;
	}
	use_path(envp);
	if (pipe2(st, O_CLOEXEC)) {
		reply(BOX_FAILED, m->id, errno, 0, "arguments");
		goto drop;
	}
	if (nkids == MAX_TRACKED) {
		close(st[0]);
		close(st[1]);
		reply(BOX_FAILED, m->id, EAGAIN, 0, "too many commands");
		goto drop;
	}
	pid = fork();
	if (pid == 0)
		exec_child(m, fds, master >= 0, cwd[0], argv, envp, st[1]);
	close(st[1]);
	if (pid < 0) {
		close(st[0]);
		reply(BOX_FAILED, m->id, errno, 0, "fork");
		goto drop;
	}
	fcntl(st[0], F_SETFL, O_NONBLOCK);
	kids[nkids].pid = pid;
	kids[nkids].id = m->id;
	kids[nkids].status = st[0];
	kids[nkids].failed = 0;
	kids[nkids].master = master;
	kids[nkids].expired = 0;
	kids[nkids].deadline = now_s() + START_LIMIT;
	nkids++;
	return;
drop:
	if (master >= 0)
		close(master);
}

/* a SPAWN_PTY from the server (untrusted): the window, then a SPAWN's
 * payload. The terminal comes from the sandbox's own devpts (mount_dev),
 * its slave is opened through the master (no path is resolved), and
 * input is UTF-8 (the base environment's LANG is C.UTF-8). The master
 * is non-blocking: the server reads it on its loop. */
static void
do_spawn_pty(const struct box_msg *m, char *payload, size_t len)
{
	struct box_winsize bw;
	struct winsize w;
	struct termios t;
	int master, slave, fds[3];

	if (len < sizeof(bw)) {
		reply(BOX_FAILED, m->id, EINVAL, 0, "arguments");
		return;
	}
	memcpy(&bw, payload, sizeof(bw));
	if (!bw.cols || !bw.rows) {
		reply(BOX_FAILED, m->id, EINVAL, 0, "the terminal's size");
		return;
	}
	/* the devpts's own ptmx: /dev is the sandbox root's to change (a
	 * /dev/ptmx of its making could name anything), /dev/pts is a
	 * mount it cannot replace, and nothing can be created in it */
	master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC |
		      O_NOFOLLOW | O_NONBLOCK);
	if (master < 0 || unlockpt(master)) {
		reply(BOX_FAILED, m->id, errno, 0, "a terminal");
		if (master >= 0)
			close(master);
		return;
	}
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	memset(&w, 0, sizeof(w));
	w.ws_col = bw.cols;
	w.ws_row = bw.rows;
	if (slave < 0 || ioctl(master, TIOCSWINSZ, &w)) {
		reply(BOX_FAILED, m->id, errno, 0, "a terminal");
		close(master);
		if (slave >= 0)
			close(slave);
		return;
	}
	if (tcgetattr(slave, &t) == 0) {
		t.c_iflag |= IUTF8;
		(void)tcsetattr(slave, TCSANOW, &t);
	}
	fds[0] = fds[1] = fds[2] = slave;
	do_spawn(m, payload + sizeof(bw), len - sizeof(bw), fds, master);
	close(slave);
}

/* `sig` to every process of the session `sid` (a terminal's, whose
 * shell leads it): jobs in other process groups too. Two passes over
 * /proc, for a process forked during the first. */
static void
kill_session(pid_t sid, int sig)
{
	struct dirent *e;
	DIR *d;
	char *end;
	long pid;
	int pass;

	if (sid <= 1 || sig <= 0 || sig >= NSIG)
		return;
	for (pass = 0; pass < 2; pass++) {
		if (!(d = opendir("/proc")))
			return;
		while ((e = readdir(d))) {
			pid = strtol(e->d_name, &end, 10);
			if (*end || pid <= 1 || pid > 0x7fffffff)
				continue;
			if (getsid((pid_t)pid) == sid)
				kill((pid_t)pid, sig);
		}
		closedir(d);
	}
}

static void
on_message(void)
{
	static char buf[sizeof(struct box_msg) + BOX_PAYLOAD_MAX + 2];
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
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(fds)))
			memcpy(fds, CMSG_DATA(c), sizeof(fds));
	if ((size_t)n < sizeof(m))
		goto out;
	memcpy(&m, buf, sizeof(m));
	buf[n] = buf[n + 1] = '\0';
	if (m.type == BOX_SPAWN && fds[0] >= 0 && fds[1] >= 0 && fds[2] >= 0)
		do_spawn(&m, buf + sizeof(m), (size_t)n - sizeof(m), fds, -1);
	else if (m.type == BOX_SPAWN_PTY)
		do_spawn_pty(&m, buf + sizeof(m), (size_t)n - sizeof(m));
	else if (m.type == BOX_KILL && m.a > 1) {
		if (kill(-m.a, m.b) && errno == ESRCH)
			kill(m.a, m.b);
	} else if (m.type == BOX_KILL_SESSION)
		kill_session(m.a, m.b);
out:
	for (i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void
reap(void)
{
	struct kid *k;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (!(k = find_kid(pid)))
			continue;	/* an orphan: reaped, nothing to say */
		resolve(k);	/* its pipe is closed now: never waits */
		if (k->status >= 0) {	/* cannot happen; do not leak it */
			close(k->status);
			k->failed = 1;
		}
		if (!k->failed)
			reply(BOX_EXIT, 0, pid, WIFEXITED(status) ?
			      WEXITSTATUS(status) : -1, NULL);
		*k = kids[--nkids];
	}
}

static void
serve(void)
{
	static struct pollfd pf[2 + MAX_TRACKED];
	struct kid *watched[MAX_TRACKED];
	sigset_t set;
	int sfd, n, i;

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
		time_t now = now_s(), next = 0;

		for (n = 0, i = 0; i < nkids; i++)
			if (kids[i].status >= 0) {
				if (!kids[i].expired &&
				    kids[i].deadline <= now) {
					kids[i].expired = 1;
					kill(kids[i].pid, SIGKILL);
				}
				if (!kids[i].expired &&
				    (!next || kids[i].deadline < next))
					next = kids[i].deadline;
				watched[n] = &kids[i];
				pf[2 + n].fd = kids[i].status;
				pf[2 + n].events = POLLIN;
				n++;
			}
		if (poll(pf, (nfds_t)(2 + n), next ? (int)(next - now + 1) *
			 1000 : -1) < 0)
			continue;
		for (i = 0; i < n; i++)
			if (pf[2 + i].revents)
				resolve(watched[i]);
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

int
main(void)
{
	static char setup_buf[sizeof(struct box_msg) + 8192];
	struct setup s;
	sigset_t none;
	int sig;

	prctl(PR_SET_DUMPABLE, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_NAME, "oclua-init");
	/* nothing inherited but the socket: signals as new, a session of
	 * its own (no controlling terminal), no other descriptors */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	setsid();

	if (fcntl(ctl, F_SETFD, FD_CLOEXEC))
		_exit(1);
	read_setup(&s, setup_buf, sizeof(setup_buf));
	/* into the sandbox's cgroups, before its cgroup namespace exists;
	 * then nothing inherited but the socket */
	for (sig = 0; sig < s.ncgroups; sig++)
		if (write(BOX_CGROUP_FD + sig, "0", 1) != 1)
			setup_failed("enter the cgroups");
	syscall(SYS_close_range, BOX_INIT_FD + 1, ~0U, 0);
	set_up(&s);
	explicit_bzero(setup_buf, sizeof(setup_buf));	/* the host paths */
	serve();
	return 0;
}
