/*
 * spec/support/escape_probe.c - the attacker's tools for spec/escape_spec.lua,
 * compiled on the host and copied into a sandbox through the files API.
 *
 * Built two ways:
 *   cc -static -o probe escape_probe.c
 *       a multi-call program: `probe WHAT ARGS...` tries one kind of
 *       escape and prints what happened, one `name=result` per line, where
 *       a result is "ok" (the kernel allowed it) or the errno's name;
 *   cc -shared -fPIC -DPRELOAD -o preload.so escape_probe.c
 *       a library for /etc/ld.so.preload: run as root (inside) by a setuid
 *       program, it tries what the file /tmp/preload-armed lists and logs
 *       to /tmp/preload.log.
 *
 * Nothing here sends traffic anywhere but the address it is given.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <termios.h>

static const char *
err_name(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "E?";
}

/* "ok" for r >= 0, else the name of errno */
static const char *
res(long r)
{
	return r >= 0 ? "ok" : err_name(errno);
}

/* print what a path holds (up to 200 bytes), or why it cannot be read */
static void
show_read(const char *label, const char *path)
{
	char buf[201];
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		printf("%s=%s\n", label, err_name(errno));
		return;
	}
	n = read(fd, buf, 200);
	if (n < 0) {
		printf("%s=%s\n", label, err_name(errno));
	} else {
		buf[n] = '\0';
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\n')
				buf[i] = ' ';
		printf("%s=ok:%s\n", label, buf);
	}
	close(fd);
}

#ifdef PRELOAD

/* /tmp/preload-armed: lines "read PATH" and "disk MAJ MIN" */
__attribute__((constructor)) static void
oclua_preload(void)
{
	char cfg[4096], line[512], *p, *nl;
	unsigned maj, min;
	FILE *log;
	int fd, saved;
	ssize_t n;

	if (geteuid() != 0)
		return;
	fd = open("/tmp/preload-armed", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, cfg, sizeof(cfg) - 1);
	close(fd);
	if (n <= 0)
		return;
	cfg[n] = '\0';
	log = fopen("/tmp/preload.log", "a");
	if (!log)
		return;
	fchmod(fileno(log), 0644);
	fflush(stdout);
	saved = dup(1);
	if (saved < 0 || dup2(fileno(log), 1) < 0)
		return;
	printf("preload pid=%d euid=%d\n", (int)getpid(), (int)geteuid());
	show_read("uid_map", "/proc/self/uid_map");
	for (p = cfg; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = '\0';
		snprintf(line, sizeof(line), "%.500s", p);
		if (!strncmp(line, "read ", 5)) {
			char label[600];

			snprintf(label, sizeof(label), "read(%s)", line + 5);
			show_read(label, line + 5);
		} else if (sscanf(line, "disk %u %u", &maj, &min) == 2) {
			long r;

			unlink("/tmp/preload-disk");
			r = mknod("/tmp/preload-disk", S_IFBLK | 0600,
				  makedev(maj, min));
			printf("mknod(%u:%u)=%s\n", maj, min, res(r));
			if (r == 0)
				show_read("disk_read", "/tmp/preload-disk");
			mkdir("/tmp/preload-mnt", 0755);
			r = mount("/tmp/preload-disk", "/tmp/preload-mnt",
				  "ext4", MS_RDONLY, NULL);
			printf("mount_disk=%s\n", res(r));
			r = mount("/tmp/preload-disk", "/tmp/preload-mnt",
				  "btrfs", MS_RDONLY, NULL);
			printf("mount_btrfs=%s\n", res(r));
			r = mount("none", "/tmp/preload-mnt", "tmpfs", 0, NULL);
			printf("mount_tmpfs=%s\n", res(r));
			unlink("/tmp/preload-disk");
		}
	}
	printf("preload done\n");
	fflush(stdout);
	/* stdout goes back to what the program had */
	dup2(saved, 1);
	close(saved);
	fclose(log);
}

#else /* the probe program */

static long
sys_clone_flags(unsigned long flags)
{
	long pid = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0);

	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	return pid;
}

struct clone_args_v0 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack,
		 stack_size, tls;
};

static long
sys_clone3_flags(unsigned long flags)
{
	struct clone_args_v0 a;
	long pid;

	memset(&a, 0, sizeof(a));
	a.flags = flags;
	a.exit_signal = SIGCHLD;
	pid = syscall(SYS_clone3, &a, sizeof(a));
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	return pid;
}

static void
try_setns(const char *label, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		printf("%s=open:%s\n", label, err_name(errno));
		return;
	}
	printf("%s=%s\n", label, res(setns(fd, 0)));
	close(fd);
}

/* every syscall the seccomp filter (or the lack of host privilege) must
 * refuse; each is called so that, were it allowed, it would do nothing
 * harmful to the host */
/* each attempt in a child of its own: one that succeeds (a namespace
 * entered, a root pivoted) cannot change what the next one finds */
#define TRY(name, expr) do {						\
	pid_t try_pid_;							\
									\
	fflush(stdout);							\
	try_pid_ = fork();						\
	if (try_pid_ == 0) {						\
		long try_r_ = (long)(expr);				\
									\
		printf("%s=%s\n", name, res(try_r_));			\
		fflush(stdout);						\
		_exit(0);						\
	}								\
	if (try_pid_ < 0)						\
		printf("%s=fork:%s\n", name, err_name(errno));		\
	else								\
		waitpid(try_pid_, NULL, 0);				\
} while (0)

static int
cmd_syscalls(void)
{
	char buf[256];
	long r;

	printf("euid=%d\n", (int)geteuid());
	/* namespaces */
	TRY("unshare_user", unshare(CLONE_NEWUSER));
	TRY("unshare_mnt", unshare(CLONE_NEWNS));
	TRY("unshare_net", unshare(CLONE_NEWNET));
	TRY("unshare_pid", unshare(CLONE_NEWPID));
	TRY("unshare_uts", unshare(CLONE_NEWUTS));
	TRY("unshare_ipc", unshare(CLONE_NEWIPC));
	TRY("unshare_cgroup", unshare(CLONE_NEWCGROUP));
	TRY("clone_user", sys_clone_flags(CLONE_NEWUSER));
	TRY("clone_mnt", sys_clone_flags(CLONE_NEWNS));
	TRY("clone3_user", sys_clone3_flags(CLONE_NEWUSER));
	/* its own namespaces (the filter answers EPERM, the kernel alone
	 * EINVAL for the user namespace), then init's */
	try_setns("setns_self_mnt", "/proc/self/ns/mnt");
	try_setns("setns_self_user", "/proc/self/ns/user");
	try_setns("setns_self_net", "/proc/self/ns/net");
	try_setns("setns_mnt", "/proc/1/ns/mnt");
	try_setns("setns_user", "/proc/1/ns/user");
	try_setns("setns_net", "/proc/1/ns/net");
	/* mounts */
	mkdir("/tmp/probe-mnt", 0755);
	TRY("mount_tmpfs", mount("none", "/tmp/probe-mnt", "tmpfs", 0, NULL));
	TRY("mount_proc", mount("proc", "/tmp/probe-mnt", "proc", 0, NULL));
	TRY("mount_bind", mount("/", "/tmp/probe-mnt", NULL, MS_BIND, NULL));
	TRY("mount_remount_proc_sys", mount(NULL, "/proc/sys", NULL,
			 MS_REMOUNT | MS_BIND, NULL));
	TRY("umount_proc_sys", umount2("/proc/sys", MNT_DETACH));
	TRY("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
	TRY("open_tree", syscall(SYS_open_tree, AT_FDCWD, "/",
					     1 /* OPEN_TREE_CLONE */));
	TRY("pivot_root", syscall(SYS_pivot_root, "/tmp/probe-mnt",
					      "/tmp/probe-mnt"));
	/* keys */
	TRY("add_key", syscall(SYS_add_key, "user", "oclua-probe",
					   "x", 1, -2 /* process keyring */));
	TRY("keyctl", syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */,
					  -3 /* session */, 0));
	TRY("request_key", syscall(SYS_request_key, "user",
					       "oclua-probe", NULL, 0));
	/* bpf, perf, handles, userfaultfd */
	{
		union bpf_attr a;

		memset(&a, 0, sizeof(a));
		a.map_type = BPF_MAP_TYPE_ARRAY;
		a.key_size = 4;
		a.value_size = 4;
		a.max_entries = 1;
		TRY("bpf", syscall(SYS_bpf, BPF_MAP_CREATE, &a,
					       sizeof(a)));
	}
	{
		struct perf_event_attr pa;

		memset(&pa, 0, sizeof(pa));
		pa.type = PERF_TYPE_SOFTWARE;
		pa.size = sizeof(pa);
		pa.config = PERF_COUNT_SW_TASK_CLOCK;
		pa.disabled = 1;
		pa.exclude_kernel = 1;
		pa.exclude_hv = 1;
		TRY("perf_event_open", syscall(SYS_perf_event_open,
							   &pa, 0, -1, -1, 0));
	}
	{
		struct { unsigned int bytes; int type; unsigned char h[16]; } fh;
		int mfd = open("/", O_RDONLY | O_DIRECTORY);

		memset(&fh, 0, sizeof(fh));
		fh.bytes = 8;
		fh.type = 1;	/* FILEID_INO32_GEN: inode 2, the root */
		fh.h[0] = 2;
		TRY("open_by_handle_at", syscall(SYS_open_by_handle_at, mfd, &fh, O_RDONLY));
		close(mfd);
	}
	TRY("userfaultfd", syscall(SYS_userfaultfd,
					       1 /* UFFD_USER_MODE_ONLY */));
	/* the machine */
	TRY("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
	TRY("init_module", syscall(SYS_init_module, NULL, 0, ""));
	TRY("finit_module", syscall(SYS_finit_module, -1, "", 0));
	TRY("delete_module", syscall(SYS_delete_module,
						 "oclua_none", 0));
	/* an invalid command: were the call allowed, it would do nothing */
	TRY("reboot", syscall(SYS_reboot, LINUX_REBOOT_MAGIC1,
					  LINUX_REBOOT_MAGIC2, 0x0badc0de,
					  NULL));
	TRY("syslog", syscall(SYS_syslog, 3 /* READ_ALL */, buf,
					  sizeof(buf)));
	TRY("swapon", syscall(SYS_swapon, "/tmp/no-such-swap", 0));
	TRY("swapoff", syscall(SYS_swapoff, "/tmp/no-such-swap"));
	TRY("acct", syscall(SYS_acct, NULL));
	TRY("iopl", syscall(SYS_iopl, 3));
	TRY("ioperm", syscall(SYS_ioperm, 0x80, 1, 1));
	{
		/* the current time, set again: harmless if it were allowed */
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		TRY("clock_settime", clock_settime(CLOCK_REALTIME, &ts));
	}
	TRY("sethostname", sethostname("oclua-escaped", 13));
	TRY("setdomainname", setdomainname("oclua-escaped", 13));
	printf("mknod_chr=%s\n", res(r = mknod("/tmp/probe-null",
					       S_IFCHR | 0666, makedev(1, 3))));
	if (r == 0)
		unlink("/tmp/probe-null");
	printf("socket_packet=%s\n", res(r = socket(AF_PACKET, SOCK_RAW, 0)));
	if (r >= 0)
		close((int)r);
	/* TIOCSTI on a terminal of our own */
	{
		int m = posix_openpt(O_RDWR | O_NOCTTY), s = -1;
		char c = 'x';

		if (m >= 0 && grantpt(m) == 0 && unlockpt(m) == 0)
			s = open(ptsname(m), O_RDWR | O_NOCTTY);
		if (s < 0)
			printf("tiocsti=pty:%s\n", err_name(errno));
		else
			TRY("tiocsti", ioctl(s, TIOCSTI, &c));
		if (s >= 0)
			close(s);
		if (m >= 0)
			close(m);
	}
	TRY("io_uring_setup", syscall(SYS_io_uring_setup, 1,
						  (char[120]){0}));
	printf("done=1\n");
	return 0;
}

/* probe ptrace PID: every way to reach into another process */
static int
cmd_ptrace(pid_t pid)
{
	char buf[16], path[64];
	struct iovec local = { buf, sizeof(buf) }, remote = { (void *)0x400000,
							      sizeof(buf) };
	long r;

	printf("euid=%d\n", (int)geteuid());
	r = ptrace(PTRACE_ATTACH, pid, NULL, NULL);
	printf("ptrace_attach=%s\n", res(r));
	if (r == 0) {
		waitpid(pid, NULL, __WALL);
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
	}
	r = ptrace(PTRACE_SEIZE, pid, NULL, NULL);
	printf("ptrace_seize=%s\n", res(r));
	if (r == 0)
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
	printf("process_vm_readv=%s\n",
	       res(process_vm_readv(pid, &local, 1, &remote, 1, 0)));
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	r = open(path, O_RDONLY | O_CLOEXEC);
	printf("proc_mem=%s\n", res(r));
	if (r >= 0)
		close((int)r);
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	show_read("proc_environ", path);
	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	{
		char target[256];
		ssize_t n = readlink(path, target, sizeof(target) - 1);

		if (n < 0) {
			printf("proc_root=%s\n", err_name(errno));
		} else {
			target[n] = '\0';
			printf("proc_root=ok:%s\n", target);
		}
	}
	r = syscall(SYS_pidfd_open, pid, 0);
	if (r >= 0) {
		long g = syscall(SYS_pidfd_getfd, (int)r, 3, 0);

		printf("pidfd_getfd=%s\n", res(g));
		close((int)r);
	} else {
		printf("pidfd_getfd=open:%s\n", err_name(errno));
	}
	printf("done=1\n");
	return 0;
}

/* probe chroot MARKER...: the classic chroot escape (chroot into a
 * subdirectory, fchdir back out, climb, chroot "."); then what the new
 * root shows */
static int
cmd_chroot(int argc, char **argv)
{
	int fd, i;
	DIR *d;
	struct dirent *e;

	mkdir("/tmp/probe-jail", 0755);
	fd = open("/", O_RDONLY | O_DIRECTORY);
	printf("chroot_jail=%s\n", res(chroot("/tmp/probe-jail")));
	printf("fchdir=%s\n", res(fchdir(fd)));
	for (i = 0; i < 256; i++)
		(void)!chdir("..");
	printf("chroot_dot=%s\n", res(chroot(".")));
	(void)!chdir("/");
	show_read("hostname", "/etc/hostname");
	for (i = 0; i < argc; i++) {
		char label[600];

		snprintf(label, sizeof(label), "read(%s)", argv[i]);
		show_read(label, argv[i]);
	}
	printf("root_entries=");
	d = opendir("/");
	while (d && (e = readdir(d)))
		printf("%s,", e->d_name);
	printf("\n");
	if (d)
		closedir(d);
	printf("done=1\n");
	return 0;
}

/* probe mknod PATH MAJ MIN: a block device, then reading it */
static int
cmd_mknod(const char *path, unsigned maj, unsigned min)
{
	long r = mknod(path, S_IFBLK | 0600, makedev(maj, min));

	printf("mknod=%s\n", res(r));
	if (r == 0) {
		show_read("read", path);
		unlink(path);
	}
	return 0;
}

/* probe connect IP PORT: a TCP connect with a 3 s bound */
static int
cmd_connect(const char *ip, int port)
{
	struct sockaddr_in sa;
	struct timespec t0, t1;
	struct pollfd p;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), e = 0;
	socklen_t len = sizeof(e);
	long r;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &sa.sin_addr);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (r < 0 && errno == EINPROGRESS) {
		p.fd = fd;
		p.events = POLLOUT;
		if (poll(&p, 1, 3000) == 0) {
			e = ETIMEDOUT;
		} else {
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len);
		}
		r = e ? -1 : 0;
		errno = e;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("connect=%s\nms=%ld\n", res(r),
	       (long)((t1.tv_sec - t0.tv_sec) * 1000 +
		      (t1.tv_nsec - t0.tv_nsec) / 1000000));
	/* and a UDP datagram the same way */
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	printf("udp=%s\n", res(sendto(fd, "x", 1, 0, (struct sockaddr *)&sa,
				      sizeof(sa))));
	return 0;
}

/* probe connect6 IP6 PORT: the same over IPv6 (an IPv4-mapped address
 * goes through IPv4's routes) */
static int
cmd_connect6(const char *ip, int port)
{
	struct sockaddr_in6 sa;
	struct pollfd p;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0), e = 0;
	socklen_t len = sizeof(e);
	long r;

	memset(&sa, 0, sizeof(sa));
	sa.sin6_family = AF_INET6;
	sa.sin6_port = htons((uint16_t)port);
	if (inet_pton(AF_INET6, ip, &sa.sin6_addr) != 1) {
		printf("connect6=bad-address\n");
		return 2;
	}
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (r < 0 && errno == EINPROGRESS) {
		p.fd = fd;
		p.events = POLLOUT;
		if (poll(&p, 1, 3000) == 0)
			e = ETIMEDOUT;
		else
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len);
		r = e ? -1 : 0;
		errno = e;
	}
	printf("connect6=%s\n", res(r));
	return 0;
}

/* probe mem MB: allocate and touch MB MiB, 32 MiB at a time */
static int
cmd_mem(long mb)
{
	long done = 0;

	setvbuf(stdout, NULL, _IONBF, 0);
	while (done < mb) {
		char *p = mmap(NULL, 32 << 20, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			printf("mmap=%s after=%ld\n", err_name(errno), done);
			return 2;
		}
		memset(p, 0x5a, 32 << 20);
		done += 32;
	}
	printf("allocated=%ld\n", done);
	return 0;
}

/* probe forks N [HOLD]: start up to N children that wait; how many
 * started, and why the next did not. Then it creates ./forks.ready and
 * holds the children until ./forks.done exists (the test counts them
 * meanwhile; polling a file needs no new process, which the limit now
 * refuses) or HOLD seconds pass; then they are killed and reaped. */
static int
cmd_forks(int n, int hold)
{
	pid_t *kids = calloc((size_t)n, sizeof(pid_t));
	int started = 0, e = 0, i, fd;
	time_t end;

	setvbuf(stdout, NULL, _IONBF, 0);
	for (i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			pause();
			_exit(0);
		}
		if (pid < 0) {
			e = errno;
			break;
		}
		kids[started++] = pid;
	}
	printf("started=%d error=%s\n", started, e ? err_name(e) : "none");
	if ((fd = open("forks.ready", O_WRONLY | O_CREAT | O_TRUNC, 0644)) >= 0)
		close(fd);
	for (end = time(NULL) + hold; time(NULL) < end;) {
		if (access("forks.done", F_OK) == 0)
			break;
		usleep(20000);
	}
	for (i = 0; i < started; i++)
		kill(kids[i], SIGKILL);
	for (i = 0; i < started; i++)
		waitpid(kids[i], NULL, 0);
	printf("reaped=%d\n", started);
	return 0;
}

/* stop-init: stop, as fast as /proc can be read, every process named
 * oclua-init but PID 1: init's children in the moment between their
 * change to the sandbox user and their exec. Prints how many it stopped
 * after `seconds`. */
static int
cmd_stop_init(int seconds)
{
	time_t end = time(NULL) + seconds;
	int stopped = 0;

	while (time(NULL) < end) {
		DIR *d = opendir("/proc");
		struct dirent *e;

		if (!d)
			return 1;
		while ((e = readdir(d))) {
			char path[64], comm[32];
			int pid = atoi(e->d_name), fd;
			ssize_t n;

			if (pid <= 1)
				continue;
			snprintf(path, sizeof(path), "/proc/%d/comm", pid);
			fd = open(path, O_RDONLY);
			if (fd < 0)
				continue;
			n = read(fd, comm, sizeof(comm) - 1);
			close(fd);
			if (n > 0 && !strncmp(comm, "oclua-init", 10) &&
			    kill(pid, SIGSTOP) == 0)
				stopped++;
		}
		closedir(d);
	}
	printf("stopped=%d\n", stopped);
	return 0;
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return 64;
	if (!strcmp(argv[1], "syscalls"))
		return cmd_syscalls();
	if (!strcmp(argv[1], "ptrace") && argc > 2)
		return cmd_ptrace(atoi(argv[2]));
	if (!strcmp(argv[1], "chroot"))
		return cmd_chroot(argc - 2, argv + 2);
	if (!strcmp(argv[1], "mknod") && argc > 4)
		return cmd_mknod(argv[2], (unsigned)atoi(argv[3]),
				 (unsigned)atoi(argv[4]));
	if (!strcmp(argv[1], "connect") && argc > 3)
		return cmd_connect(argv[2], atoi(argv[3]));
	if (!strcmp(argv[1], "connect6") && argc > 3)
		return cmd_connect6(argv[2], atoi(argv[3]));
	if (!strcmp(argv[1], "mem") && argc > 2)
		return cmd_mem(atol(argv[2]));
	if (!strcmp(argv[1], "stop-init") && argc > 2)
		return cmd_stop_init(atoi(argv[2]));
	if (!strcmp(argv[1], "forks") && argc > 2)
		return cmd_forks(atoi(argv[2]), argc > 3 ? atoi(argv[3]) : 0);
	if (!strcmp(argv[1], "read")) {
		for (int i = 2; i < argc; i++) {
			char label[600];

			snprintf(label, sizeof(label), "read(%s)", argv[i]);
			show_read(label, argv[i]);
		}
		return 0;
	}
	return 64;
}

#endif
