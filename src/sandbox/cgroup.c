/*
 * cgroup.c - per-sandbox resource limits (see cgroup.h): finding the
 * cgroup hierarchies, the parent group, and each sandbox's group in it:
 * its limits, entering it, freezing it, its OOM kills, emptying and
 * removing it. Works on the unified hierarchy (v2) and on v1, including
 * hybrid hosts whose v2 mount has no controllers.
 *
 * A group is a directory of the same name in each hierarchy used: on v2
 * ROOT/PARENT/NAME; on v1 MOUNT/PARENT/NAME for the memory, cpu, pids and
 * freezer mounts (one directory when controllers share a mount). All
 * state is this file's: where the parent groups are, and what the kernel
 * offers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/err.h"
#include "sandbox/cgroup.h"

/* controllers, as bits of hier.ctl */
enum { C_MEMORY = 1, C_CPU = 2, C_PIDS = 4, C_FREEZER = 8 };
#define C_NEEDED	(C_MEMORY | C_CPU | C_PIDS)

static const char *const ctl_names[] = { "memory", "cpu", "pids", "freezer" };
#define NCTL	4

#define PERIOD_US	100000	/* CFS period written with a quota */
#define FREEZE_WAIT_NS	1000000000L
#define EMPTY_WAIT_NS	2000000000L

static struct hier {
	char		dir[PATH_MAX];	/* the parent group */
	unsigned	ctl;		/* C_* it carries */
} hiers[CG_MAX_HIER];
static int nhiers;
static int v2;		/* hiers[0] is the unified hierarchy */
static int swap_file;	/* v1 memory.memsw.*, v2 memory.swap.max exist */
static int kill_file;	/* v2 cgroup.kill exists (5.14) */
static int ready;

/* hiers[h].dir/name/file into out (name and file may be NULL); -1 with
 * ENAMETOOLONG when it does not fit */
static int
path_of(char *out, size_t n, int h, const char *name, const char *file)
{
	int len = snprintf(out, n, "%s%s%s%s%s", hiers[h].dir,
			   name ? "/" : "", name ? name : "",
			   file ? "/" : "", file ? file : "");

	if (len < 0 || (size_t)len >= n) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* write the string s to the file at path; 0 or -1 with errno */
static int
put_path(const char *path, const char *s)
{
	size_t len = strlen(s);
	ssize_t n;
	int fd = open(path, O_WRONLY | O_CLOEXEC), e;

	if (fd < 0)
		return -1;
	n = write(fd, s, len);
	e = errno;
	close(fd);
	if (n != (ssize_t)len) {
		errno = n < 0 ? e : EIO;
		return -1;
	}
	return 0;
}

/* read the file at path into buf (cap bytes, NUL-terminated, the rest
 * cut); its length, or -1 with errno */
static ssize_t
get_path(const char *path, char *buf, size_t cap)
{
	ssize_t n, len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), e;

	if (fd < 0)
		return -1;
	while ((size_t)len < cap - 1 &&
	       (n = read(fd, buf + len, cap - 1 - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	return len;
}

/* write s to a file of the group `name` in hierarchy h; on failure, a
 * message in err */
static int
put(int h, const char *name, const char *file, const char *s,
    char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (path_of(path, sizeof(path), h, name, file) == 0 &&
	    put_path(path, s) == 0)
		return 0;
	return sandbox_err(err, errlen, "cannot write %s to %s: %s", s, path,
		    strerror(errno));
}

static ssize_t
get(int h, const char *name, const char *file, char *buf, size_t cap)
{
	char path[PATH_MAX];

	if (path_of(path, sizeof(path), h, name, file))
		return -1;
	return get_path(path, buf, cap);
}

/* the value of the line "key N" in text, or -1 */
static long
field(const char *text, const char *key)
{
	size_t klen = strlen(key);
	const char *p = text;

	for (;;) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
			return strtol(p + klen + 1, NULL, 10);
		if (!(p = strchr(p, '\n')))
			return -1;
		p++;
	}
}

/* is `word` one of the words of s, separated by any of `seps`? */
static int
has_word(const char *s, const char *word, const char *seps)
{
	size_t wlen = strlen(word), n;

	while (*s) {
		n = strcspn(s, seps);
		if (n == wlen && strncmp(s, word, n) == 0)
			return 1;
		s += n;
		s += strspn(s, seps);
	}
	return 0;
}

/* which hierarchy carries controller bit c; -1: none */
static int
hier_of(unsigned c)
{
	int h;

	for (h = 0; h < nhiers; h++)
		if (hiers[h].ctl & c)
			return h;
	return -1;
}

static long
elapsed_ns(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000000000L +
	       (t.tv_nsec - t0->tv_nsec);
}

static void
pause_us(long us)
{
	struct timespec ts = { 0, us * 1000 };

	nanosleep(&ts, NULL);
}

/* undo mountinfo's octal escapes (\040 for a space) in place */
static void
unescape(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
				      (s[3] - '0'));
			s += 3;
		} else
			*d++ = *s;
	}
	*d = '\0';
}

/*
 * The mounts: v1mnt[i] = the v1 mount of ctl_names[i] ("" if none),
 * v2mnt = the first cgroup2 mount whose cgroup.controllers lists memory,
 * cpu and pids, else any cgroup2 mount ("" if none); *v2ok says which.
 */
static int
scan_mounts(char v1mnt[NCTL][PATH_MAX], char *v2mnt, int *v2ok)
{
	char *line = NULL, *f[10], *p, *type, *opts, path[PATH_MAX + 32];
	char ctls[256];
	size_t cap = 0;
	FILE *fp = fopen("/proc/self/mountinfo", "re");
	int i, n, ok;

	for (i = 0; i < NCTL; i++)
		v1mnt[i][0] = '\0';
	v2mnt[0] = '\0';
	*v2ok = 0;
	if (!fp)
		return -1;
	while (getline(&line, &cap, fp) > 0) {
		/* id parent dev root mountpoint opts [optional...] - type
		 * source superopts */
		line[strcspn(line, "\n")] = '\0';
		for (n = 0, p = line; n < 10 && p; n++) {
			f[n] = p;
			if ((p = strchr(p, ' ')))
				*p++ = '\0';
			if (n >= 5 && strcmp(f[n], "-") == 0)
				break;
		}
		if (n >= 10 || !p || strcmp(f[n], "-") != 0)
			continue;
		type = p;
		if (!(p = strchr(type, ' ')))
			continue;
		*p++ = '\0';
		opts = strchr(p, ' ');	/* past the source */
		if (strlen(f[4]) >= PATH_MAX)
			continue;
		unescape(f[4]);
		if (strcmp(type, "cgroup2") == 0 && !*v2ok) {
			snprintf(path, sizeof(path), "%s/cgroup.controllers",
				 f[4]);
			ok = get_path(path, ctls, sizeof(ctls)) >= 0 &&
			     has_word(ctls, "memory", " \n") &&
			     has_word(ctls, "cpu", " \n") &&
			     has_word(ctls, "pids", " \n");
			if (ok || !v2mnt[0]) {
				strcpy(v2mnt, f[4]);
				*v2ok = ok;
			}
		} else if (strcmp(type, "cgroup") == 0 && opts) {
			for (i = 0; i < NCTL; i++)
				if (!v1mnt[i][0] &&
				    has_word(opts + 1, ctl_names[i], ","))
					strcpy(v1mnt[i], f[4]);
		}
	}
	free(line);
	fclose(fp);
	return 0;
}

/* mkdir -p of hiers[h].dir below its mount point (mnt_len bytes); on
 * v2, the controllers enabled in each group from the root down, the
 * parent included */
static int
make_parent(int h, size_t mnt_len, char *err, size_t errlen)
{
	char *dir = hiers[h].dir, *p = dir + mnt_len, sc[256], path[PATH_MAX];
	char end;
	int n;

	for (;;) {
		end = *p;
		*p = '\0';		/* dir is this level for now */
		if (p > dir + mnt_len && mkdir(dir, 0755) && errno != EEXIST) {
			sandbox_err(err, errlen, "cannot make %s: %s", dir,
			     strerror(errno));
			*p = end;
			return -1;
		}
		if (v2) {
			n = snprintf(path, sizeof(path),
				     "%s/cgroup.subtree_control", dir);
			*p = end;
			if (n < 0 || (size_t)n >= sizeof(path))
				return sandbox_err(err, errlen, "%s: path too long",
					    dir);
			if (get_path(path, sc, sizeof(sc)) < 0)
				return sandbox_err(err, errlen, "cannot read %s: %s",
					    path, strerror(errno));
			if ((!has_word(sc, "memory", " \n") ||
			     !has_word(sc, "cpu", " \n") ||
			     !has_word(sc, "pids", " \n")) &&
			    put_path(path, "+memory +cpu +pids"))
				return sandbox_err(err, errlen, "cannot enable the "
				    "memory, cpu and pids controllers in %s: "
				    "%s%s", path, strerror(errno),
				    errno == EBUSY ? " (that group has "
				    "processes of its own: give the server a "
				    "delegated cgroup and a parent group "
				    "under it that has none)" : "");
		}
		*p = end;
		p += strspn(p, "/");
		if (!*p)
			return 0;
		p += strcspn(p, "/");
	}
}

int
cg_init(const char *parent_name, char *err, size_t errlen)
{
	static char v1mnt[NCTL][PATH_MAX];
	char v2mnt[PATH_MAX], path[PATH_MAX];
	const char *p;
	int i, h, v2ok, mnt_of[CG_MAX_HIER];	/* index into v1mnt */

	ready = 0;
	nhiers = 0;
	if (!parent_name)
		parent_name = "oclua";
	while (*parent_name == '/')
		parent_name++;
	for (p = parent_name; *p; p += strcspn(p, "/"), p += strspn(p, "/"))
		if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || !p[2]))
			break;
	if (!*parent_name || *p)
		return sandbox_err(err, errlen, "bad parent group name");
	if (scan_mounts(v1mnt, v2mnt, &v2ok))
		return sandbox_err(err, errlen, "cannot read /proc/self/mountinfo: "
			    "%s", strerror(errno));

	if (v2ok) {
		v2 = 1;
		nhiers = 1;
		hiers[0].ctl = C_MEMORY | C_CPU | C_PIDS | C_FREEZER;
		if (snprintf(hiers[0].dir, PATH_MAX, "%s/%s", v2mnt,
			     parent_name) >= PATH_MAX)
			return sandbox_err(err, errlen, "parent group name too long");
		if (make_parent(0, strlen(v2mnt), err, errlen))
			return -1;
		swap_file = path_of(path, sizeof(path), 0, NULL,
				    "memory.swap.max") == 0 &&
			    access(path, F_OK) == 0;
		kill_file = path_of(path, sizeof(path), 0, NULL,
				    "cgroup.kill") == 0 &&
			    access(path, F_OK) == 0;
		if (path_of(path, sizeof(path), 0, NULL, "cgroup.freeze") ||
		    access(path, F_OK))
			hiers[0].ctl &= ~C_FREEZER;	/* before 5.2 */
		ready = 1;
		return 0;
	}

	v2 = 0;
	for (i = 0; i < NCTL; i++) {
		if (!v1mnt[i][0]) {
			if (!((1u << i) & C_NEEDED))
				continue;
			return sandbox_err(err, errlen, "no %s controller: mount "
			    "cgroup v2 with %s enabled (the default of "
			    "systemd; or the kernel option "
			    "systemd.unified_cgroup_hierarchy=1), or the "
			    "v1 %s controller (mount -t cgroup -o %s cgroup "
			    "/sys/fs/cgroup/%s)", ctl_names[i], ctl_names[i],
			    ctl_names[i], ctl_names[i], ctl_names[i]);
		}
		for (h = 0; h < nhiers; h++)	/* mounted together? */
			if (strcmp(v1mnt[mnt_of[h]], v1mnt[i]) == 0)
				break;
		if (h == nhiers) {
			if (snprintf(hiers[h].dir, PATH_MAX, "%s/%s",
				     v1mnt[i], parent_name) >= PATH_MAX)
				return sandbox_err(err, errlen,
					    "parent group name too long");
			hiers[h].ctl = 0;
			mnt_of[h] = i;
			if (make_parent(h, strlen(v1mnt[i]), err, errlen))
				return -1;
			nhiers++;
		}
		hiers[h].ctl |= 1u << i;
	}
	swap_file = path_of(path, sizeof(path), hier_of(C_MEMORY), NULL,
			    "memory.memsw.limit_in_bytes") == 0 &&
		    access(path, F_OK) == 0;
	kill_file = 0;
	ready = 1;
	return 0;
}

int
cg_available(void)
{
	return ready;
}

/*
 * SIGKILL each pid listed in the file at path (read in pieces: the list
 * has no bound). Returns how many were listed, or -1 with errno; a
 * missing file lists none.
 */
static int
kill_listed(const char *path)
{
	char buf[4096];
	ssize_t n, i;
	long pid = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), count = 0, digits = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			n = errno;
			close(fd);
			errno = (int)n;
			return -1;
		}
		for (i = 0; i < n; i++) {
			if (buf[i] >= '0' && buf[i] <= '9') {
				pid = pid * 10 + (buf[i] - '0');
				digits = 1;
			} else {
				if (digits && pid > 0) {
					kill((pid_t)pid, SIGKILL);
					count++;
				}
				pid = digits = 0;
			}
		}
	}
	close(fd);
	if (digits && pid > 0) {
		kill((pid_t)pid, SIGKILL);
		count++;
	}
	return count;
}

/* v2: has the group `name` no process left? 1, 0, or -1 */
static int
unpopulated(const char *name)
{
	char buf[256];

	if (get(0, name, "cgroup.events", buf, sizeof(buf)) < 0)
		return errno == ENOENT ? 1 : -1;
	return field(buf, "populated") == 0;
}

/*
 * Thaw the group `name`, kill everything in it and wait until nothing is
 * left, up to EMPTY_WAIT_NS. 0, or -1 with errno (EBUSY: still busy).
 */
static int
empty_group(const char *name)
{
	char path[PATH_MAX];
	struct timespec t0;
	int h, n, left, fz = hier_of(C_FREEZER);
	long step = 50;

	/* a frozen v1 task does not die until thawed */
	if (fz >= 0 && path_of(path, sizeof(path), fz, name,
			       v2 ? "cgroup.freeze" : "freezer.state") == 0)
		put_path(path, v2 ? "0" : "THAWED");
	if (v2 && kill_file && path_of(path, sizeof(path), 0, name,
				       "cgroup.kill") == 0 &&
	    put_path(path, "1") && errno != ENOENT)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (v2 && kill_file) {
			if ((left = unpopulated(name)) < 0)
				return -1;
			left = !left;
		} else {
			/* v1, or v2 before cgroup.kill: kill each listed
			 * pid again until none is listed; a task with
			 * SIGKILL pending forks no more */
			for (left = 0, h = 0; h < nhiers; h++) {
				if (path_of(path, sizeof(path), h, name,
					    "cgroup.procs") ||
				    (n = kill_listed(path)) < 0)
					return -1;
				left += n;
			}
			if (!left && v2 && unpopulated(name) == 0)
				left = 1;	/* dying tasks */
		}
		if (!left)
			return 0;
		if (elapsed_ns(&t0) > EMPTY_WAIT_NS) {
			errno = EBUSY;
			return -1;
		}
		pause_us(step);
		if (step < 5000)
			step *= 2;
	}
}

/* the OOM kill count of the group `name`, or -1 */
static long
oom_count(const char *name)
{
	char buf[512];
	long n;

	if (get(hier_of(C_MEMORY), name,
		v2 ? "memory.events" : "memory.oom_control",
		buf, sizeof(buf)) < 0)
		return -1;
	if ((n = field(buf, "oom_kill")) < 0)
		errno = ENOENT;
	return n;
}

/* write the limits l to the group `name`; fresh: it was just made, so
 * the kernel's defaults (no limits) need not be written */
static int
write_limits(const char *name, const struct cg_limits *l, int fresh,
	     char *err, size_t errlen)
{
	char mem[32], cpu[48], pids[32];
	uint64_t quota = (uint64_t)l->cpu_millis * (PERIOD_US / 1000);
	int hm = hier_of(C_MEMORY), hc = hier_of(C_CPU), hp = hier_of(C_PIDS);

	if (quota && quota < 1000)
		quota = 1000;		/* the kernel's minimum, 1 ms */
	if (v2) {
		snprintf(mem, sizeof(mem), "%" PRIu64, l->memory_bytes);
		snprintf(cpu, sizeof(cpu), "%" PRIu64 " %d", quota,
			 PERIOD_US);
		snprintf(pids, sizeof(pids), "%u", l->pids_max);
		if ((l->memory_bytes || !fresh) &&
		    put(0, name, "memory.max",
			l->memory_bytes ? mem : "max", err, errlen))
			return -1;
		if ((l->memory_bytes || !fresh) && swap_file &&
		    put(0, name, "memory.swap.max",
			l->memory_bytes ? "0" : "max", err, errlen))
			return -1;
		if ((quota || !fresh) &&
		    put(0, name, "cpu.max", quota ? cpu : "max 100000",
			err, errlen))
			return -1;
		if ((l->pids_max || !fresh) &&
		    put(0, name, "pids.max", l->pids_max ? pids : "max",
			err, errlen))
			return -1;
		return 0;
	}

	/* v1: memsw (RAM + swap) may never be below the RAM limit, so it
	 * is lifted before the RAM limit is written and set after */
	snprintf(mem, sizeof(mem), "%" PRIu64, l->memory_bytes);
	snprintf(cpu, sizeof(cpu), "%" PRIu64, quota);
	snprintf(pids, sizeof(pids), "%u", l->pids_max);
	if (!fresh && swap_file &&
	    put(hm, name, "memory.memsw.limit_in_bytes", "-1", err, errlen))
		return -1;
	if ((l->memory_bytes || !fresh) &&
	    put(hm, name, "memory.limit_in_bytes",
		l->memory_bytes ? mem : "-1", err, errlen))
		return -1;
	if (l->memory_bytes && swap_file &&
	    put(hm, name, "memory.memsw.limit_in_bytes", mem, err, errlen))
		return -1;
	if (quota && (put(hc, name, "cpu.cfs_period_us", "100000", err,
			  errlen) ||
		      put(hc, name, "cpu.cfs_quota_us", cpu, err, errlen)))
		return -1;
	if (!quota && !fresh &&
	    put(hc, name, "cpu.cfs_quota_us", "-1", err, errlen))
		return -1;
	if ((l->pids_max || !fresh) &&
	    put(hp, name, "pids.max", l->pids_max ? pids : "max", err,
		errlen))
		return -1;
	return 0;
}

/* remove the group `name` from the first n hierarchies; 0, or -1 with
 * the errno of the first failure. EBUSY is retried for a while: the
 * last tasks may still be on their way out */
static int
remove_group(const char *name, int n)
{
	char path[PATH_MAX];
	struct timespec t0;
	int h, rc = 0, e = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (h = 0; h < n; h++) {
		if (path_of(path, sizeof(path), h, name, NULL)) {
			rc = -1;
			e = e ? e : errno;
			continue;
		}
		while (rmdir(path) && errno != ENOENT) {
			if (errno != EBUSY || elapsed_ns(&t0) > EMPTY_WAIT_NS) {
				rc = -1;
				e = e ? e : errno;
				break;
			}
			pause_us(1000);
		}
	}
	errno = e;
	return rc;
}

int
cg_remove(const char *name)
{
	char path[PATH_MAX];
	int h, found = 0;

	for (h = 0; h < nhiers && !found; h++)
		if (path_of(path, sizeof(path), h, name, NULL) == 0 &&
		    access(path, F_OK) == 0)
			found = 1;
	if (!found)
		return 0;
	if (empty_group(name))
		return -1;
	return remove_group(name, nhiers);
}

int
cg_create(struct cg *g, const char *name, const struct cg_limits *l,
	  char *err, size_t errlen)
{
	char path[PATH_MAX];
	int h, made = 0, fresh = 1, e;

	memset(g, 0, sizeof(*g));
	if (!ready && cg_init(NULL, err, errlen))
		return -1;
	if (!*name || strlen(name) >= CG_NAME_MAX || strchr(name, '/') ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return sandbox_err(err, errlen, "bad cgroup name \"%s\"", name);
	for (; made < nhiers; made++) {
		if (path_of(path, sizeof(path), made, name, NULL) == 0) {
			if (mkdir(path, 0755) == 0)
				continue;
			if (errno == EEXIST) {
				fresh = 0;	/* left by a crash */
				continue;
			}
		}
		sandbox_err(err, errlen, "cannot make %s: %s", path, strerror(errno));
		goto undo;
	}
	if (!fresh && empty_group(name)) {
		sandbox_err(err, errlen, "cannot empty the group %s left from "
		     "before: %s", name, strerror(errno));
		goto undo;
	}
	if (write_limits(name, l, fresh, err, errlen))
		goto undo;
	if (!fresh && (g->oom_base = oom_count(name)) < 0)
		g->oom_base = 0;
	for (h = 0; h < nhiers; h++) {
		if (path_of(path, sizeof(path), h, name, "cgroup.procs") ||
		    (g->procs_fd[h] = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
			sandbox_err(err, errlen, "cannot open %s: %s", path,
			     strerror(errno));
			while (h-- > 0)
				close(g->procs_fd[h]);
			goto undo;
		}
	}
	g->nprocs = nhiers;
	strcpy(g->name, name);
	return 0;

undo:
	e = errno;
	remove_group(name, made);
	memset(g, 0, sizeof(*g));
	errno = e;
	return -1;
}

int
cg_freeze(const struct cg *g, int frozen)
{
	char path[PATH_MAX], buf[256];
	struct timespec t0;
	int h = hier_of(C_FREEZER), e;
	long step = 50;

	if (!g->name[0]) {
		errno = EINVAL;
		return -1;
	}
	if (h < 0) {
		errno = ENOTSUP;
		return -1;
	}
	if (path_of(path, sizeof(path), h, g->name,
		    v2 ? "cgroup.freeze" : "freezer.state") ||
	    put_path(path, frozen ? (v2 ? "1" : "FROZEN") :
				    (v2 ? "0" : "THAWED")))
		return -1;
	if (!frozen)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (v2) {
			if (get(h, g->name, "cgroup.events", buf,
				sizeof(buf)) < 0)
				break;
			if (field(buf, "frozen") == 1)
				return 0;
		} else {
			/* FREEZING until every task is */
			if (get(h, g->name, "freezer.state", buf,
				sizeof(buf)) < 0)
				break;
			if (strcmp(buf, "FROZEN\n") == 0)
				return 0;
		}
		if (elapsed_ns(&t0) > FREEZE_WAIT_NS) {
			errno = ETIMEDOUT;
			break;
		}
		pause_us(step);
		if (step < 5000)
			step *= 2;
	}
	e = errno;
	put_path(path, v2 ? "0" : "THAWED");
	errno = e;
	return -1;
}

long
cg_oom_kills(const struct cg *g)
{
	long n;

	if (!g->name[0]) {
		errno = EINVAL;
		return -1;
	}
	if ((n = oom_count(g->name)) < 0)
		return -1;
	return n >= g->oom_base ? n - g->oom_base : n;
}

int
cg_destroy(struct cg *g)
{
	int i, rc = 0, e = 0;

	if (!g->name[0])
		return 0;
	if (empty_group(g->name)) {
		rc = -1;
		e = errno;
	}
	for (i = 0; i < g->nprocs; i++)
		close(g->procs_fd[i]);
	g->nprocs = 0;
	if (rc == 0 && remove_group(g->name, nhiers)) {
		rc = -1;
		e = errno;
	}
	g->name[0] = '\0';
	errno = e;
	return rc;
}
