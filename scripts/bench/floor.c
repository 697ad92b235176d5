/*
 * floor.c - the physical floors of the SDK benchmarks on this machine
 * (scripts/bench/compare.sh builds and runs it; scripts/bench/report.lua
 * sets each workload against them). No server, no client, no sandbox:
 * only what the kernel and the memory can do.
 *
 *   spawn     fork + execv + waitpid of /bin/true, and of `/bin/sh -c true`
 *             (the command exec.run("true") makes), in sequence
 *   ns_spawn  the same /bin/true cloned into new mount, PID, network, UTS
 *             and IPC namespaces (the namespaces a sandbox's init gets in
 *             src/sandbox/box.c), in sequence
 *   pipe      one writer -> one reader through a pipe, 64 KiB per write
 *             and per read (a session's read size, out_alloc in box.c)
 *   relay     writer -> pipe -> relay process -> TCP on 127.0.0.1 ->
 *             reader, 64 KiB at a time: the least a stream's bytes cross
 *             (a command's pipe, a server, a loopback socket, a client)
 *   relay_par `nproc` relays at once, their bytes added up (fan-out)
 *   memcpy    one 256 MiB buffer copied into another (memory bandwidth)
 *
 * Usage: floor MIB      (bytes moved per pipe/relay measure)
 *   -> one JSON line: *_us are microseconds per operation (median and
 *      mean of the round of 3 with the lowest median), *_mib_s are MiB/s
 *      (1 MiB = 1048576 bytes, the best of 3 runs; pipe and relay: of
 *      3 on every CPU and 3 on CPU 0 alone, see place()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define CHUNK	65536
#define MIB	1048576.0

#define die(what)	bench_die("floor", what)
#define now()		bench_now()

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* the median and mean of US[0..N) (sorted here), microseconds */
static void
stats_of(double *us, int n, double *median, double *mean)
{
	double sum = 0;
	int i;

	qsort(us, n, sizeof(*us), cmp_double);
	for (i = 0; i < n; i++)
		sum += us[i];
	*median = us[n / 2];
	*mean = sum / n;
}

static void
wait_ok(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "floor: child %d failed (status %d)\n", pid, st);
		exit(1);
	}
}

/* fork + exec ARGV + wait, N times; US gets each one's microseconds */
static void
spawn_loop(char *const argv[], double *us, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		double t = now();
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			execv(argv[0], argv);
			_exit(127);
		}
		wait_ok(pid);
		us[i] = (now() - t) * 1e6;
	}
}

static int
ns_child(void *arg)
{
	char *const *argv = arg;

	execv(argv[0], argv);
	return 127;
}

/* clone(new namespaces) + exec /bin/true + wait, N times; 0 when the
 * kernel refuses (not root, no namespaces), 1 when measured */
static int
ns_loop(double *us, int n)
{
	static char stack[64 * 1024];
	char *argv[] = { "/bin/true", NULL };
	int i;

	for (i = 0; i < n; i++) {
		double t = now();
		pid_t pid = clone(ns_child, stack + sizeof(stack),
				  CLONE_VM | CLONE_VFORK | CLONE_NEWNS |
				  CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS |
				  CLONE_NEWIPC | SIGCHLD, argv);

		if (pid < 0)
			return 0;
		wait_ok(pid);
		us[i] = (now() - t) * 1e6;
	}
	return 1;
}

/* writes BYTES to FD in CHUNK pieces, then exits (a child) */
static void
writer(int fd, long long bytes)
{
	static char buf[CHUNK];
	long long left = bytes;

	memset(buf, 'y', sizeof(buf));
	while (left > 0) {
		ssize_t n = write(fd, buf, left < CHUNK ? (size_t)left : CHUNK);

		if (n < 0 && errno != EINTR)
			_exit(1);
		if (n > 0)
			left -= n;
	}
	_exit(0);
}

/* reads FD to its end, CHUNK at a time; the bytes read */
static long long
drain(int fd, int out)
{
	static char buf[CHUNK];
	long long got = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n == 0)
			return got;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("read");
		}
		got += n;
		if (out >= 0) {
			char *p = buf;

			while (n > 0) {
				ssize_t w = write(out, p, (size_t)n);

				if (w < 0 && errno != EINTR)
					die("relay write");
				if (w > 0) {
					p += w;
					n -= w;
				}
			}
		}
	}
}

/* one writer -> pipe -> reader (this process); MiB/s */
static double
pipe_run(long long bytes)
{
	int p[2];
	pid_t pid;
	double t;

	if (pipe(p))
		die("pipe");
	t = now();
	if ((pid = fork()) < 0)
		die("fork");
	if (pid == 0) {
		close(p[0]);
		writer(p[1], bytes);
	}
	close(p[1]);
	if (drain(p[0], -1) != bytes) {
		fprintf(stderr, "floor: pipe lost bytes\n");
		exit(1);
	}
	close(p[0]);
	wait_ok(pid);
	return bytes / MIB / (now() - t);
}

/* writer -> pipe -> relay -> TCP loopback -> reader (this process), as a
 * child when the measure runs in parallel; the bytes the reader got */
static long long
relay_run(long long bytes)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int l, s, c, p[2], one = 1;
	pid_t w, r;
	long long got;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((l = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &len))
		die("listen");
	if ((c = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(c, (struct sockaddr *)&a, sizeof(a)))
		die("connect");
	if ((s = accept(l, NULL, NULL)) < 0)
		die("accept");
	close(l);
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (pipe(p))
		die("pipe");
	if ((w = fork()) < 0)
		die("fork");
	if (w == 0) {
		close(p[0]);
		close(s);
		close(c);
		writer(p[1], bytes);
	}
	close(p[1]);
	if ((r = fork()) < 0)
		die("fork");
	if (r == 0) {		/* the relay: pipe in, socket out */
		close(s);
		drain(p[0], c);
		_exit(0);
	}
	close(p[0]);
	close(c);
	got = drain(s, -1);
	close(s);
	wait_ok(w);
	wait_ok(r);
	return got;
}

/* K relays at once, BYTES each; aggregate MiB/s */
static double
relay_par(int k, long long bytes)
{
	pid_t pids[64];
	double t = now();
	int i;

	for (i = 0; i < k; i++) {
		if ((pids[i] = fork()) < 0)
			die("fork");
		if (pids[i] == 0)
			_exit(relay_run(bytes) == bytes ? 0 : 1);
	}
	for (i = 0; i < k; i++)
		wait_ok(pids[i]);
	return k * bytes / MIB / (now() - t);
}

/* Run this process and the children it forks from now on on CPU 0 alone
 * (one = 1) or on every CPU (one = 0). A chain of processes handing bytes
 * to each other is fastest on one CPU on this kind of machine (a VM: a
 * wake-up on the other, idle CPU costs an interrupt between them), so the
 * single-chain floors take the better of both placements. */
static void
place(int one)
{
	cpu_set_t set;
	long i, n = sysconf(_SC_NPROCESSORS_ONLN);

	CPU_ZERO(&set);
	for (i = 0; i < (one ? 1 : n) && i < CPU_SETSIZE; i++)
		CPU_SET(i, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity");
}

/* MiB/s of memcpy between two 256 MiB buffers, best of 5 */
static double
memcpy_run(void)
{
	size_t size = 256u << 20;
	char *a = malloc(size), *b = malloc(size);
	double best = 0;
	int i;

	if (!a || !b)
		die("malloc");
	memset(a, 1, size);
	memset(b, 2, size);
	for (i = 0; i < 5; i++) {
		double t = now(), r;

		memcpy(i % 2 ? a : b, i % 2 ? b : a, size);
		r = size / MIB / (now() - t);
		if (r > best)
			best = r;
	}
	if (a[size / 2] != b[size / 2])
		die("memcpy");
	free(a);
	free(b);
	return best;
}

/* Runs 3 rounds of N spawns (ARGV by fork, or NULL: /bin/true into new
 * namespaces) and prints `"NAME":{"median":..,"mean":..,"n":..},` of the
 * round with the lowest median (the machine's floor: other load only ever
 * slows a round down). Prints nothing when the kernel refuses namespaces. */
static void
best_spawn(const char *name, char *const argv[], double *us, int n)
{
	double med, mean, best_med = 0, best_mean = 0;
	int r;

	for (r = 0; r < 3; r++) {
		if (argv)
			spawn_loop(argv, us, n);
		else if (!ns_loop(us, n))
			return;
		stats_of(us, n, &med, &mean);
		if (r == 0 || med < best_med)
			best_med = med, best_mean = mean;
	}
	printf("\"%s\":{\"median\":%.1f,\"mean\":%.1f,\"n\":%d},", name,
	       best_med, best_mean, n);
}

int
main(int argc, char **argv)
{
	char *tru[] = { "/bin/true", NULL };
	char *sh[] = { "/bin/sh", "-c", "true", NULL };
	enum { N_SPAWN = 500, N_NS = 100 };
	static double us[N_SPAWN];
	long long bytes;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	double best;
	int i;

	if (argc != 2 || atol(argv[1]) <= 0) {
		fprintf(stderr, "usage: floor MIB\n");
		return 2;
	}
	bytes = atol(argv[1]) * 1048576LL;
	if (cores < 1 || cores > 64)
		cores = cores < 1 ? 1 : 64;
	signal(SIGPIPE, SIG_IGN);

	printf("{\"cores\":%ld,\"chunk\":%d,\"mib\":%lld,", cores, CHUNK,
	       bytes >> 20);
	spawn_loop(tru, us, 50);	/* warm the page cache */
	best_spawn("spawn_true_us", tru, us, N_SPAWN);
	best_spawn("spawn_sh_us", sh, us, N_SPAWN);
	best_spawn("ns_spawn_us", NULL, us, N_NS);
	/* the best of 3, as the spawns, on every CPU and on one (place) */
	for (best = 0, i = 0; i < 6; i++) {
		double r;

		place(i >= 3);
		r = pipe_run(bytes);
		best = r > best ? r : best;
	}
	printf("\"pipe_mib_s\":%.0f,", best);
	for (best = 0, i = 0; i < 6; i++) {
		double t, r;

		place(i >= 3);
		t = now();
		if (relay_run(bytes) != bytes) {
			fprintf(stderr, "floor: the relay lost bytes\n");
			return 1;
		}
		r = bytes / MIB / (now() - t);
		best = r > best ? r : best;
	}
	printf("\"relay_mib_s\":%.0f,", best);
	place(0);
	for (best = 0, i = 0; i < 3; i++) {
		double r = relay_par((int)cores, bytes / cores);
		best = r > best ? r : best;
	}
	printf("\"relay_par_mib_s\":%.0f,", best);
	printf("\"memcpy_mib_s\":%.0f}\n", memcpy_run());
	return 0;
}
