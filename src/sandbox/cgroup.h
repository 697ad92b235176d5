/*
 * cgroup.h - per-sandbox resource limits: one control group per sandbox
 * in every cgroup hierarchy used (cgroup v2's single one, or v1's memory,
 * cpu, pids and freezer), under a parent group the server makes once.
 * The sandbox's first process enters it itself, before it makes its
 * cgroup namespace, by writing "0" to each of procs_fd (init.c: writing
 * there can take milliseconds on v1, which must not hold the server).
 */
#ifndef OCLUA_CGROUP_H
#define OCLUA_CGROUP_H

#include <stddef.h>
#include <stdint.h>

#define CG_MAX_HIER	4	/* hierarchies a group spans (v1: memory,
				 * cpu, pids, freezer; v2: 1) */
#define CG_NAME_MAX	64	/* a group's name, with its NUL */

struct cg_limits {
	/* bytes of RAM and swap together; 0: no limit. v1
	 * memory.limit_in_bytes and memory.memsw.limit_in_bytes (when the
	 * kernel accounts swap); v2 memory.max, and memory.swap.max 0 */
	uint64_t	memory_bytes;
	/* CPU time per wall time, 1000 = one CPU; 0: no limit; less than
	 * 10 counts as 10 (the kernel's 1 ms per 100 ms period) */
	unsigned	cpu_millis;
	unsigned	pids_max;	/* tasks, threads included; 0: none */
};

/* One sandbox's group. Zero-filled or destroyed: owns nothing. */
struct cg {
	/* its cgroup.procs in each hierarchy, O_WRONLY|O_CLOEXEC */
	int	procs_fd[CG_MAX_HIER];
	int	nprocs;		/* open entries of procs_fd */
	long	oom_base;	/* oom_kill count when it was made (the
				 * earlier kills of a reused group) */
	char	name[CG_NAME_MAX];	/* under the parent; "" if none */
};

/* Find the cgroup hierarchies (from /proc/self/mountinfo) and make the
 * parent group `parent_name` (a path relative to each hierarchy's root,
 * made if missing; NULL: "oclua"). cgroup v2 is used when it has the
 * memory, cpu and pids controllers; they are then enabled in the
 * cgroup.subtree_control of the root and of every group down to the
 * parent. Otherwise the v1 memory, cpu and pids controllers (and freezer
 * if mounted) are used. Can be called again (another parent). Returns 0,
 * or -1 with a message in err (errlen bytes at most, NUL-terminated)
 * naming what is missing and how to get it. Not thread-safe, like the
 * rest of this interface. */
int cg_init(const char *parent_name, char *err, size_t errlen);

/* 1 once cg_init() has succeeded, else 0. */
int cg_available(void);

/* Make the group `name` (one path component, fewer than CG_NAME_MAX
 * bytes) under the parent in every hierarchy, write the limits `l` and
 * open each cgroup.procs (procs_fd). Calls cg_init(NULL) first if it
 * was never called. A group of that name left by a crash is reused: it
 * is thawed, whatever runs in it is killed, every limit is written again
 * (those that are 0 back to none), and its earlier OOM kills are not
 * counted. Names must be unique among live sandboxes. Returns 0, or -1
 * with a message in err (errlen bytes at most) and nothing left made. */
int cg_create(struct cg *g, const char *name, const struct cg_limits *l,
	      char *err, size_t errlen);

/* Freeze (frozen != 0) or thaw every process of the group. Freezing
 * waits, up to 1 s, until the kernel reports the group frozen (v1
 * freezer.state reads FROZEN; v2 cgroup.events says "frozen 1"); on a
 * timeout the group is thawed again. Returns 0, or -1 with errno:
 * ENOTSUP when there is no freezer (v1 without its freezer hierarchy, v2
 * before Linux 5.2), ETIMEDOUT, or the error of a cgroup file. */
int cg_freeze(const struct cg *g, int frozen);

/* How many processes of the group the kernel's OOM killer has killed
 * since cg_create() (v1 memory.oom_control, v2 memory.events: oom_kill).
 * Returns the count, or -1 with errno when it cannot be read (ENOENT on
 * kernels without the counter, before 4.13). */
long cg_oom_kills(const struct cg *g);

/* Kill every process left in the group, thawing it first (v2 cgroup.kill
 * where the kernel has it; else SIGKILL to each pid in cgroup.procs until
 * none is listed), wait for them to be gone (up to 2 s), close the procs
 * fds and remove the group from every hierarchy. Blocks for as long as the processes
 * take to exit: instant when the sandbox's init is already gone. Safe to
 * call on a destroyed or zero-filled group. Returns 0, or -1 with errno
 * (EBUSY: processes were still there after 2 s; the group stays and a
 * later cg_create() of the name reuses it). */
int cg_destroy(struct cg *g);

/* Remove the group `name` that no struct cg holds any more (a sandbox
 * whose server died, found at the next start): its processes killed as
 * cg_destroy does, its directories removed from every hierarchy. 0 also
 * when there is no such group; -1 with errno. Needs cg_init first. */
int cg_remove(const char *name);

#endif
