/*
 * seccomp.c - the system call filter of every sandbox (see seccomp.h):
 * the deny list, as a table of calls with why each group is there, the
 * calls allowed only with some arguments, and loading it with libseccomp
 * (linked statically into oclua-init).
 *
 * Modeled on the default profile of Docker and of the OCI runtimes
 * (moby's profiles/seccomp/default.json), which allows a list of calls
 * and some more with capabilities; here everything is allowed but what
 * that profile refuses to a container without CAP_SYS_ADMIN, CAP_SYS_TIME
 * and the like. Root of the sandbox keeps a user namespace's capabilities
 * (sudo works), so the filter is what keeps it off the parts of the
 * kernel a user namespace still reaches. Refused calls fail with EPERM,
 * as in Docker, except clone3 (ENOSYS: libc then uses clone, whose flags
 * a filter can read). Only the native ABI is allowed: a call through
 * another one (x86's int 0x80, x32) kills the process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include <seccomp.h>

#include "sandbox/err.h"
#include "sandbox/seccomp.h"

/* A call refused whatever its arguments. nr: its number in the generic
 * table that every architecture but alpha has shared since 424 (5.1),
 * for a libseccomp older than the call; 0 when every libseccomp since
 * 2.5 knows it. */
struct denied {
	const char	*name;
	int		nr;
};

static const struct denied denied[] = {
	/* new kernel code: modules, and booting another kernel */
	{ "init_module", 0 }, { "finit_module", 0 }, { "delete_module", 0 },
	{ "create_module", 0 }, { "kexec_load", 0 },
	{ "kexec_file_load", 0 },

	/* programs run by the kernel, and perf events: large attack
	 * surfaces that also read kernel and other processes' state */
	{ "bpf", 0 }, { "perf_event_open", 0 },

	/* the kernel keyring is not namespaced: keys of the host's users
	 * and of other sandboxes */
	{ "add_key", 0 }, { "request_key", 0 }, { "keyctl", 0 },

	/* file handles: open_by_handle_at opens any file of a file system
	 * by its handle, whatever the mount's root (the "shocker" escape) */
	{ "open_by_handle_at", 0 }, { "name_to_handle_at", 0 },

	/* mounts, old and new API: the sandbox's tree is init's to build;
	 * file system code parsing untrusted images and options is a
	 * frequent source of kernel bugs */
	{ "mount", 0 }, { "umount2", 0 }, { "pivot_root", 0 },
	{ "move_mount", 429 }, { "open_tree", 428 }, { "fsopen", 430 },
	{ "fsconfig", 431 }, { "fsmount", 432 }, { "fspick", 433 },
	{ "mount_setattr", 442 }, { "open_tree_attr", 467 },

	/* new namespaces, and joining others: a nested user namespace
	 * gives back every capability over the namespaces it then owns
	 * (netfilter, mounts, ...), the kernel surface behind most
	 * container escapes. clone's flags are filtered below */
	{ "unshare", 0 }, { "setns", 0 },

	/* host-wide state: swap, reboot, the kernel log, process
	 * accounting, disk quotas */
	{ "swapon", 0 }, { "swapoff", 0 }, { "reboot", 0 },
	{ "syslog", 0 }, { "acct", 0 }, { "quotactl", 0 },
	{ "quotactl_fd", 443 },

	/* obsolete or debugging interfaces with a history of bugs */
	{ "lookup_dcookie", 0 }, { "nfsservctl", 0 }, { "uselib", 0 },
	{ "vm86", 0 }, { "vm86old", 0 },

	/* userfaultfd stalls page faults, even the kernel's, at will: what
	 * exploits use to widen race windows */
	{ "userfaultfd", 0 },

	/* raw I/O ports */
	{ "iopl", 0 }, { "ioperm", 0 },

	/* the clock is the host's */
	{ "clock_settime", 0 }, { "settimeofday", 0 }, { "adjtimex", 0 },
	{ "clock_adjtime", 0 }, { "stime", 0 },

	/* io_uring: a second way into most of the kernel, outside of this
	 * filter's sight, and a steady source of privilege escalations;
	 * refused by Docker since 25.0. Programs fall back to plain
	 * calls */
	{ "io_uring_setup", 425 }, { "io_uring_enter", 426 },
	{ "io_uring_register", 427 },
};

/*
 * Allowed on purpose (as Docker does on kernels from 4.8): ptrace,
 * process_vm_readv and process_vm_writev, for debuggers of the sandbox's
 * own processes; the kernel's ptrace checks apply, and init is
 * non-dumpable and owned by the host's user namespace.
 */

/* clone flags that make namespaces (CLONE_NEWTIME shares its bit with
 * clone's exit signal, so it only exists for unshare and clone3) */
static const unsigned long clone_ns_flags[] = {
	CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
	CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET
};

/* clone's flags are its first argument, but its second on s390 */
#if defined(__s390__) || defined(__s390x__)
#define CLONE_FLAGS_ARG	1
#else
#define CLONE_FLAGS_ARG	0
#endif

/* personality values allowed (Docker's): PER_LINUX (0), PER_LINUX32
 * (0x0008), each with UNAME26 (0x20000: a 2.6 version from uname), and
 * the query, 0xffffffff: any combination of these bits, or all bits */
#define P_ALLOWED_BITS	0x20008UL

/* add "name with these argument tests -> action"; a call the native
 * architecture does not have is skipped. 0, or -1 with a message */
static int
add(scmp_filter_ctx ctx, uint32_t action, const char *name, int nr,
    unsigned n, const struct scmp_arg_cmp *cmp, char *err, size_t errlen)
{
	int sys = seccomp_syscall_resolve_name(name), rc;

	if (sys == __NR_SCMP_ERROR) {
		/* newer than this libseccomp */
		if (!nr)
			return sandbox_err(err, errlen, "seccomp: no system call "
				    "\"%s\" in libseccomp", name);
		sys = nr;
	}
	if (sys < 0)
		return 0;	/* not on this architecture */
	rc = seccomp_rule_add_exact_array(ctx, action, sys, n, cmp);
	if (rc < 0)
		return sandbox_err(err, errlen, "seccomp: cannot add a rule for "
			    "%s: %s", name, strerror(-rc));
	return 0;
}

static int
add_rules(scmp_filter_ctx ctx, char *err, size_t errlen)
{
	const uint32_t deny = SCMP_ACT_ERRNO(EPERM);
	struct scmp_arg_cmp cmp[1];
	size_t i;
	int bit;

	for (i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
		if (add(ctx, deny, denied[i].name, denied[i].nr, 0, NULL,
			err, errlen))
			return -1;

	/* clone with any namespace flag; clone3 passes its flags in
	 * memory, out of a filter's reach: ENOSYS, and libc falls back to
	 * clone (glibc since 2.34, musl, Go and Rust do) */
	for (i = 0; i < sizeof(clone_ns_flags) / sizeof(clone_ns_flags[0]);
	     i++) {
		cmp[0] = SCMP_CMP(CLONE_FLAGS_ARG, SCMP_CMP_MASKED_EQ,
				  clone_ns_flags[i], clone_ns_flags[i]);
		if (add(ctx, deny, "clone", 0, 1, cmp, err, errlen))
			return -1;
	}
	if (add(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 435, 0, NULL, err,
		errlen))
		return -1;

	/* personality: other execution domains and flags (READ_IMPLIES_EXEC,
	 * MMAP_PAGE_ZERO, ADDR_NO_RANDOMIZE, the old ABIs) weaken exploit
	 * mitigations or reach little-tested code, so only Docker's values
	 * pass. libseccomp compares an argument once per rule, so "none of
	 * them" is a union of masks, on the 32 bits the kernel reads: a
	 * value with bit 31 clear is refused when a bit b outside
	 * P_ALLOWED_BITS is set; with bit 31 set, when a bit c is clear
	 * (it is not P_QUERY). 60 rules, read only for personality */
	for (bit = 0; bit < 31; bit++) {
		if (P_ALLOWED_BITS & 1UL << bit)
			continue;
		cmp[0] = SCMP_A0(SCMP_CMP_MASKED_EQ, 1UL << 31 | 1UL << bit,
				 1UL << bit);
		if (add(ctx, deny, "personality", 0, 1, cmp, err, errlen))
			return -1;
	}
	for (bit = 0; bit < 31; bit++) {
		cmp[0] = SCMP_A0(SCMP_CMP_MASKED_EQ, 1UL << 31 | 1UL << bit,
				 1UL << 31);
		if (add(ctx, deny, "personality", 0, 1, cmp, err, errlen))
			return -1;
	}

	/* ioctl TIOCSTI (push bytes into a terminal's input: a command
	 * types into the shell of whoever holds the terminal) and
	 * TIOCLINUX (the same, and more, on a virtual console). The
	 * kernel reads the request as 32 bits, so only those are
	 * compared: set high bits do not get past */
	cmp[0] = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, TIOCSTI);
	if (add(ctx, deny, "ioctl", 0, 1, cmp, err, errlen))
		return -1;
	cmp[0] = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, TIOCLINUX);
	if (add(ctx, deny, "ioctl", 0, 1, cmp, err, errlen))
		return -1;
	return 0;
}

int
sandbox_seccomp_load(char *err, size_t errlen)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int rc;

	if (!ctx)
		return sandbox_err(err, errlen, "seccomp: out of memory");
	/* the native architecture only (seccomp_init's), anything else
	 * killed; no no_new_privs (the caller has CAP_SYS_ADMIN in its
	 * user namespace); a binary tree of the calls, not a list; the
	 * kernel's errors as they are, not ECANCELED */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
				   SCMP_ACT_KILL_PROCESS)) < 0 ||
	    (rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0 ||
	    (rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)) < 0 ||
	    (rc = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1)) < 0) {
		seccomp_release(ctx);
		return sandbox_err(err, errlen, "seccomp: cannot set the filter's "
			    "attributes: %s", strerror(-rc));
	}
	if (add_rules(ctx, err, errlen)) {
		seccomp_release(ctx);
		return -1;
	}
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0)
		return sandbox_err(err, errlen, "seccomp: the kernel refused the "
			    "filter: %s%s", strerror(-rc), rc == -EACCES ?
			    " (without no_new_privs, loading needs "
			    "CAP_SYS_ADMIN in the caller's user namespace)" :
			    "");
	return 0;
}
