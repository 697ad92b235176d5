/*
 * disk.c - the sandboxes' disk: making, loop-mounting and unmounting the
 * image that DATA/sandboxes lives in, and the subvolume and quota of each
 * sandbox's directory there.
 *
 * Why btrfs: a sandbox's upper layers are written by its own processes
 * through the overlay, which writes them with the credentials of its
 * mounter (host root), so the bound must be one the kernel keeps on a
 * directory tree whoever writes. Project quotas on ext4 are not: the
 * generic quota code lets CAP_SYS_RESOURCE pass hard limits, and they
 * need CONFIG_QFMT_V2, as XFS's need CONFIG_XFS_QUOTA, which kernels
 * built for VMs and CI often lack. btrfs has its quota groups built in;
 * a qgroup counts the data and metadata of one subvolume, binds root
 * too, and only init-namespace CAP_SYS_ADMIN can change it (btrfs ioctls
 * do not pass through an overlay). The image is sparse and mounted with
 * discard, so the host's disk holds about what the sandboxes hold, and
 * never more than the image's size.
 *
 * The loop device is bound with LOOP_CONFIGURE and autoclear: it goes
 * when the file system is unmounted and its last user ends, so a crashed
 * server leaves at most a mount, which the next disk_setup reuses.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/err.h"
#include "sandbox/disk.h"

#define INSTALL		"apt-get install btrfs-progs"
#define SB_OFFSET	0x10000		/* btrfs's first superblock */
#define SB_FSID		0x20		/* in it: the file system's uuid */
#define SB_MAGIC	0x40		/* and "_BHRfS_M" */
#define MIN_SIZE	(4ull << 30)	/* smaller, a full btrfs may not recover */
#define KEEP_FREE	(1ull << 30)	/* of the host's disk, at least */
#define MOUNT_FLAGS	(MS_NOSUID | MS_NODEV | MS_NOATIME)
#define MOUNT_OPTS	"discard=async"

#ifndef BTRFS_QUOTA_CTL_ENABLE_SIMPLE_QUOTA
#define BTRFS_QUOTA_CTL_ENABLE_SIMPLE_QUOTA	4	/* Linux 6.7 */
#endif
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT	0x2000
#endif

extern char **environ;

/* mkfs.btrfs's path (PATH, then the sbin directories a server started
 * without them in PATH misses), or NULL */
static const char *
find_mkfs(char *buf, size_t len)
{
	static const char *const extra = "/usr/sbin:/sbin";
	const char *lists[2], *p, *end;
	int i;

	lists[0] = getenv("PATH");
	lists[1] = extra;
	for (i = 0; i < 2; i++) {
		for (p = lists[i] ? lists[i] : ""; *p; p = *end ? end + 1 : end) {
			end = strchrnul(p, ':');
			if (*p != '/' || end == p)
				continue;
			if ((size_t)snprintf(buf, len, "%.*s/mkfs.btrfs",
					     (int)(end - p), p) < len &&
			    access(buf, X_OK) == 0)
				return buf;
		}
	}
	return NULL;
}

/* Run mkfs.btrfs on `path`; its stderr becomes the message on failure */
static int
run_mkfs(const char *path, char *err, size_t errlen)
{
	char bin[PATH_MAX], out[512];
	char *argv[] = {
		bin, "-q", "-f", "-L", "oclua", "-m", "single", "-d", "single",
		(char *)path, NULL
	};
	posix_spawn_file_actions_t fa;
	size_t n = 0;
	ssize_t r;
	pid_t pid;
	int pipefd[2], status, e;

	if (!find_mkfs(bin, sizeof(bin)))
		return sandbox_err(err, errlen, "mkfs.btrfs not found (PATH, "
			    "/usr/sbin, /sbin): " INSTALL);
	if (pipe2(pipefd, O_CLOEXEC))
		return sandbox_err(err, errlen, "pipe: %s", strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	e = posix_spawn(&pid, bin, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (e) {
		close(pipefd[0]);
		return sandbox_err(err, errlen, "%s: %s", bin, strerror(e));
	}
	while ((r = read(pipefd[0], out + n, sizeof(out) - 1 - n)) > 0 ||
	       (r < 0 && errno == EINTR))
		if (r > 0 && (n += (size_t)r) == sizeof(out) - 1)
			break;
	out[n] = 0;
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return sandbox_err(err, errlen, "waitpid: %s", strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	out[strcspn(out, "\n")] = 0;
	return sandbox_err(err, errlen, "mkfs.btrfs %s failed: %s", path,
		    n ? out : "killed");
}

/* A new image at `path`: a sparse file of `size` bytes at most, but no
 * more than what the host's file system has free, less 5% (1 GiB at
 * least): the sandboxes together cannot fill it (past its free space,
 * the loop device's writes would fail and btrfs turn read-only).
 * Formatted under a temporary name and renamed into place, so a crash
 * never leaves a half-made image where disk_setup would take it for a
 * real one. */
static int
make_image(const char *path, uint64_t size, char *err, size_t errlen)
{
	struct statvfs vfs;
	uint64_t avail, keep;
	char tmp[PATH_MAX], *slash;
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.new", path) >= sizeof(tmp))
		return sandbox_err(err, errlen, "%s: path too long", path);
	if ((slash = strrchr(tmp, '/')))
		*slash = 0;
	if (statvfs(slash ? (slash == tmp ? "/" : tmp) : ".", &vfs))
		return sandbox_err(err, errlen, "%s: %s", tmp, strerror(errno));
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	keep = avail / 20 > KEEP_FREE ? avail / 20 : KEEP_FREE;
	if (size > avail - keep || avail < keep)
		size = avail < keep ? 0 : avail - keep;
	size &= ~((1ull << 20) - 1);
	if (size < MIN_SIZE)
		return sandbox_err(err, errlen, "%s: %llu MiB free, too little for "
			    "the sandboxes' disk image", path,
			    (unsigned long long)(avail >> 20));
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return sandbox_err(err, errlen, "%s: %s", tmp, strerror(errno));
	if (ftruncate(fd, (off_t)size)) {
		sandbox_err(err, errlen, "%s: size %llu: %s", tmp,
		     (unsigned long long)size, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (run_mkfs(tmp, err, errlen)) {
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path)) {
		sandbox_err(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* The fsid in the superblock of the image open as `fd`; -1 if it has
 * no btrfs superblock */
static int
image_fsid(int fd, unsigned char fsid[BTRFS_FSID_SIZE])
{
	unsigned char sb[SB_MAGIC + 8];

	if (pread(fd, sb, sizeof(sb), SB_OFFSET) != (ssize_t)sizeof(sb) ||
	    memcmp(sb + SB_MAGIC, "_BHRfS_M", 8))
		return -1;
	memcpy(fsid, sb + SB_FSID, BTRFS_FSID_SIZE);
	return 0;
}

/* /dev/loop-control, or -1 with a message */
static int
loop_control(char *err, size_t errlen)
{
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);

	if (ctl < 0)
		return sandbox_err(err, errlen, "/dev/loop-control: %s (%s)",
			    strerror(errno), errno == ENOENT ?
			    "no loop driver (modprobe loop), or a container "
			    "without the host's devices" : "needs root, "
			    "outside any unprivileged container");
	return ctl;
}

/* Bind a free loop device (from `ctl`, /dev/loop-control) to `img_fd`,
 * autoclear: returns the device's fd (the binding lasts while it or a
 * mount holds the device), with its path in dev, or -1 with a message */
static int
loop_attach(int ctl, int img_fd, const char *name, char *dev, size_t devlen,
	    char *err, size_t errlen)
{
	struct loop_config cfg;
	int fd, n, tries;

	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (uint32_t)img_fd;
	snprintf((char *)cfg.info.lo_file_name, LO_NAME_SIZE, "%s", name);
	for (tries = 0; tries < 16; tries++) {
		if ((n = ioctl(ctl, LOOP_CTL_GET_FREE)) < 0)
			return sandbox_err(err, errlen, "no free loop device: %s",
				    strerror(errno));
		snprintf(dev, devlen, "/dev/loop%d", n);
		fd = open(dev, O_RDWR | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT &&	/* no devtmpfs */
		    mknod(dev, S_IFBLK | 0600, makedev(7, n)) == 0)
			fd = open(dev, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return sandbox_err(err, errlen, "%s: %s", dev,
				    strerror(errno));
		/* direct I/O: the image's pages are not cached twice */
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
		if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0)
			return fd;
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		if (errno == EINVAL && ioctl(fd, LOOP_CONFIGURE, &cfg) == 0)
			return fd;
		if (errno == EINVAL || errno == ENOTTY) {
			/* before Linux 5.8: bind, then set the flags */
			if (ioctl(fd, LOOP_SET_FD, img_fd) == 0) {
				if (ioctl(fd, LOOP_SET_STATUS64,
					  &cfg.info) == 0) {
					ioctl(fd, LOOP_SET_DIRECT_IO, 1);
					return fd;
				}
				ioctl(fd, LOOP_CLR_FD, 0);
			}
		}
		close(fd);
		if (errno != EBUSY)	/* EBUSY: another took it first */
			return sandbox_err(err, errlen, "%s: bind %s: %s", dev, name,
				    strerror(errno));
	}
	return sandbox_err(err, errlen, "no free loop device: all taken");
}

/* 1 if `dir` is the root of a mount, 0 if not, -1 on error */
static int
is_mount_root(const char *dir)
{
	struct statx stx;
	struct stat st, up;
	char parent[PATH_MAX];

	if (statx(AT_FDCWD, dir, 0, STATX_BASIC_STATS, &stx) == 0 &&
	    (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT))
		return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
	/* before Linux 5.8: a mount root's parent is on another device */
	snprintf(parent, sizeof(parent), "%s/..", dir);
	if (stat(dir, &st) || stat(parent, &up))
		return -1;
	return st.st_dev != up.st_dev || st.st_ino == up.st_ino;
}

static int
is_empty(const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int empty = 1;

	if (!d)
		return -1;
	while (empty && (e = readdir(d)))
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	closedir(d);
	return empty;
}

/* Quotas on, on the file system `fd` is in: simple quotas (Linux 6.7:
 * usage kept per extent's owner, no backref walks at each commit), full
 * qgroups before that. Either stays on once on. */
static int
quota_on(int fd, char *err, size_t errlen)
{
	struct btrfs_ioctl_quota_ctl_args q;

	memset(&q, 0, sizeof(q));
	q.cmd = BTRFS_QUOTA_CTL_ENABLE_SIMPLE_QUOTA;
	if (ioctl(fd, BTRFS_IOC_QUOTA_CTL, &q) == 0)
		return 0;
	memset(&q, 0, sizeof(q));
	q.cmd = BTRFS_QUOTA_CTL_ENABLE;
	if (ioctl(fd, BTRFS_IOC_QUOTA_CTL, &q) == 0)
		return 0;
	return sandbox_err(err, errlen, "btrfs quota enable: %s", strerror(errno));
}

/* split `path` into an open parent directory and the last name */
static int
open_parent(const char *path, const char **name)
{
	char parent[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;

	*name = slash ? slash + 1 : path;
	if (!slash)
		return open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= sizeof(parent)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(parent, path, n);
	parent[n] = 0;
	return open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* The loop device already bound to the image open as `img` (the file
 * system mounted in another mount namespace, e.g. by a crashed server's
 * sandboxes that are still ending), opened, with its path in dev; or -1.
 * Mounting that one shares its file system: binding a second device
 * would make btrfs mount the same image twice (as a "temp-fsid" copy),
 * two writers on one image. */
static int
loop_find(int img, char *dev, size_t devlen)
{
	struct loop_info64 li;
	struct dirent *e;
	struct stat st;
	DIR *d;
	int fd = -1;

	if (fstat(img, &st) || !(d = opendir("/sys/block")))
		return -1;
	while (fd < 0 && (e = readdir(d))) {
		if (strncmp(e->d_name, "loop", 4) ||
		    !strchr("0123456789", e->d_name[4] ? e->d_name[4] : 'x'))
			continue;
		snprintf(dev, devlen, "/dev/%.32s", e->d_name);
		if ((fd = open(dev, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		if (ioctl(fd, LOOP_GET_STATUS64, &li) ||	/* ENXIO: free */
		    li.lo_inode != st.st_ino ||
		    li.lo_device != (uint64_t)st.st_dev) {
			close(fd);
			fd = -1;
		}
	}
	closedir(d);
	return fd;
}

/* Mount the image open as `img` on `dir`, or -1 with a message */
static int
mount_image(int img, const char *image_path, const char *dir, char *err,
	    size_t errlen)
{
	char dev[64];
	int ctl, loop, e;

	if ((loop = loop_find(img, dev, sizeof(dev))) < 0) {
		if ((ctl = loop_control(err, errlen)) < 0)
			return -1;
		loop = loop_attach(ctl, img, image_path, dev, sizeof(dev),
				   err, errlen);
		close(ctl);
		if (loop < 0)
			return -1;
	}
	e = mount(dev, dir, "btrfs", MOUNT_FLAGS, MOUNT_OPTS) ? errno : 0;
	if (e == EINVAL)	/* before Linux 5.6: synchronous discard */
		e = mount(dev, dir, "btrfs", MOUNT_FLAGS, "discard") ? errno : 0;
	close(loop);		/* autoclear: unbinds it if mount failed */
	if (e)
		return sandbox_err(err, errlen, "mount %s (%s) on %s: %s%s",
			    image_path, dev, dir, strerror(e), e == ENODEV ?
			    " (no btrfs in this kernel: modprobe btrfs)" :
			    e == EPERM ? " (needs root outside any "
			    "unprivileged container)" : "");
	return 0;
}

/* The directory holding `path`, opened and locked (flock: released with
 * the fd), so that two servers starting on one data directory do not
 * both make or mount its image; or -1 */
static int
lock_parent(const char *path)
{
	const char *name;
	int fd = open_parent(path, &name);

	if (fd >= 0 && flock(fd, LOCK_EX)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* is `dir` the mount of the btrfs whose fsid is `want`? */
static int
is_ours(const char *dir, const unsigned char *want)
{
	struct btrfs_ioctl_fs_info_args info;
	struct statfs sfs;
	int fd, ok;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 0;
	memset(&info, 0, sizeof(info));
	ok = fstatfs(fd, &sfs) == 0 && sfs.f_type == BTRFS_SUPER_MAGIC &&
	     ioctl(fd, BTRFS_IOC_FS_INFO, &info) == 0 &&
	     memcmp(info.fsid, want, BTRFS_FSID_SIZE) == 0;
	close(fd);
	return ok;
}

static int
setup_locked(const char *image_path, const char *dir, uint64_t size_bytes,
	     char *err, size_t errlen)
{
	unsigned char want[BTRFS_FSID_SIZE];
	struct stat st;
	int img, fd, mounted, r;

	if (stat(dir, &st))
		return sandbox_err(err, errlen, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return sandbox_err(err, errlen, "%s: not a directory", dir);
	if ((mounted = is_mount_root(dir)) < 0)
		return sandbox_err(err, errlen, "%s: %s", dir, strerror(errno));
	if (!mounted) {
		if (is_empty(dir) != 1)
			return sandbox_err(err, errlen, "%s has files, and its disk "
				    "image would hide them: move them away "
				    "first", dir);
		/* what a mount needs, before making an image for it */
		if ((fd = loop_control(err, errlen)) < 0)
			return -1;
		close(fd);
		if (access(image_path, F_OK) &&
		    make_image(image_path, size_bytes, err, errlen))
			return -1;
	}
	img = open(image_path, O_RDWR | O_CLOEXEC);
	if (img < 0 && mounted)
		return sandbox_err(err, errlen, "%s is a mount point, but %s is "
			    "missing", dir, image_path);
	if (img < 0)
		return sandbox_err(err, errlen, "%s: %s", image_path, strerror(errno));
	r = image_fsid(img, want);
	if (r)
		sandbox_err(err, errlen, "%s is not a btrfs image", image_path);
	else if (!mounted)
		r = mount_image(img, image_path, dir, err, errlen);
	close(img);
	if (r)
		return -1;

	/* what is mounted there must be this image's file system */
	if (!is_ours(dir, want)) {
		if (!mounted)
			umount2(dir, UMOUNT_NOFOLLOW);
		return sandbox_err(err, errlen, "%s is a mount point, but not of %s",
			    dir, image_path);
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return sandbox_err(err, errlen, "%s: %s", dir, strerror(errno));
	if (!mounted && (fchmod(fd, st.st_mode & 07777) ||
			 fchown(fd, st.st_uid, st.st_gid))) {
		close(fd);
		return sandbox_err(err, errlen, "%s: %s", dir, strerror(errno));
	}
	r = quota_on(fd, err, errlen);
	close(fd);
	return r;
}

int
disk_setup(const char *image_path, const char *dir, uint64_t size_bytes,
	   char *err, size_t errlen)
{
	int lock, r;

	if ((lock = lock_parent(image_path)) < 0)
		return sandbox_err(err, errlen, "%s: %s", image_path,
			    strerror(errno));
	r = setup_locked(image_path, dir, size_bytes, err, errlen);
	close(lock);
	return r;
}

/* the id of the subvolume whose root `fd` is, or 0 if it is not one */
static uint64_t
subvol_id(int fd)
{
	struct btrfs_ioctl_ino_lookup_args a;
	struct stat st;

	if (fstat(fd, &st) || st.st_ino != BTRFS_FIRST_FREE_OBJECTID)
		return 0;
	memset(&a, 0, sizeof(a));
	a.objectid = BTRFS_FIRST_FREE_OBJECTID;
	return ioctl(fd, BTRFS_IOC_INO_LOOKUP, &a) ? 0 : a.treeid;
}

int
disk_limit(const char *path, uint64_t bytes, char *err, size_t errlen)
{
	struct btrfs_ioctl_qgroup_limit_args lim;
	struct btrfs_ioctl_vol_args va;
	struct stat st;
	const char *name;
	int dfd, fd, had;

	if ((dfd = open_parent(path, &name)) < 0)
		return sandbox_err(err, errlen, "%s: %s", path, strerror(errno));
	if (!*name || strlen(name) >= sizeof(va.name)) {
		close(dfd);
		return sandbox_err(err, errlen, "%s: not a directory's name", path);
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd >= 0 && !subvol_id(fd)) {
		/* a plain directory: empty, it makes way for a subvolume */
		if (fstat(fd, &st) || is_empty(path) != 1 ||
		    unlinkat(dfd, name, AT_REMOVEDIR)) {
			close(fd);
			close(dfd);
			return sandbox_err(err, errlen, "%s has files but is not a "
				    "subvolume: its size cannot be bounded",
				    path);
		}
		close(fd);
		fd = -1;
		had = 1;
	} else if (fd < 0 && errno == ENOENT) {
		had = 0;
	} else if (fd < 0) {
		close(dfd);
		return sandbox_err(err, errlen, "%s: %s", path, strerror(errno));
	}
	if (fd < 0) {
		memset(&va, 0, sizeof(va));
		strcpy(va.name, name);
		if (ioctl(dfd, BTRFS_IOC_SUBVOL_CREATE, &va)) {
			sandbox_err(err, errlen, "%s: create subvolume: %s%s", path,
			     strerror(errno), errno == ENOTTY ? " (not on "
			     "disk_setup's file system)" : "");
			close(dfd);
			return -1;
		}
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			    O_CLOEXEC);
		if (fd < 0 || (had ? fchmod(fd, st.st_mode & 07777) ||
			       fchown(fd, st.st_uid, st.st_gid) :
			       fchmod(fd, 0700))) {
			sandbox_err(err, errlen, "%s: %s", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			close(dfd);
			return -1;
		}
	}
	close(dfd);
	memset(&lim, 0, sizeof(lim));
	lim.qgroupid = 0;	/* the subvolume of fd */
	lim.lim.flags = BTRFS_QGROUP_LIMIT_MAX_RFER;
	lim.lim.max_rfer = bytes ? bytes : (uint64_t)-1;	/* -1: none */
	if (ioctl(fd, BTRFS_IOC_QGROUP_LIMIT, &lim)) {
		sandbox_err(err, errlen, "%s: quota limit: %s%s", path,
		     strerror(errno), errno == ENOTCONN || errno == ENOENT ?
		     " (quotas are off: disk_setup first)" : "");
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
disk_snapshot(const char *src, const char *dst, int readonly, char *err,
	      size_t errlen)
{
	struct btrfs_ioctl_vol_args_v2 va;
	const char *name;
	int sfd, dfd, rc;

	sfd = open(src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0)
		return sandbox_err(err, errlen, "%s: %s", src, strerror(errno));
	if (!subvol_id(sfd)) {
		close(sfd);
		return sandbox_err(err, errlen, "%s is not a subvolume of "
				   "disk_setup's file system", src);
	}
	if ((dfd = open_parent(dst, &name)) < 0) {
		close(sfd);
		return sandbox_err(err, errlen, "%s: %s", dst, strerror(errno));
	}
	if (!*name || strlen(name) >= sizeof(va.name)) {
		close(sfd);
		close(dfd);
		return sandbox_err(err, errlen, "%s: not a directory's name", dst);
	}
	memset(&va, 0, sizeof(va));
	va.fd = sfd;
	va.flags = readonly ? BTRFS_SUBVOL_RDONLY : 0;
	strcpy(va.name, name);
	rc = ioctl(dfd, BTRFS_IOC_SNAP_CREATE_V2, &va);
	if (rc)
		sandbox_err(err, errlen, "snapshot %s as %s: %s", src, dst,
			    strerror(errno));
	close(sfd);
	close(dfd);
	return rc ? -1 : 0;
}

int
disk_usage(const char *path, uint64_t *referenced, uint64_t *exclusive)
{
	struct btrfs_ioctl_search_args sa;
	struct btrfs_ioctl_search_header sh;
	struct btrfs_qgroup_info_item item;
	uint64_t id;
	int fd;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	if (!(id = subvol_id(fd))) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.key.tree_id = BTRFS_QUOTA_TREE_OBJECTID;
	sa.key.min_type = sa.key.max_type = BTRFS_QGROUP_INFO_KEY;
	sa.key.min_offset = sa.key.max_offset = id;	/* qgroup 0/id */
	sa.key.max_transid = (uint64_t)-1;
	sa.key.nr_items = 1;
	if (ioctl(fd, BTRFS_IOC_TREE_SEARCH, &sa)) {
		close(fd);
		return -1;
	}
	close(fd);
	memcpy(&sh, sa.buf, sizeof(sh));
	if (sa.key.nr_items < 1 || sh.len < sizeof(item)) {
		errno = ENOENT;
		return -1;
	}
	memcpy(&item, sa.buf + sizeof(sh), sizeof(item));
	*referenced = le64toh(item.rfer);
	*exclusive = le64toh(item.excl);
	return 0;
}

int
disk_remove(const char *path)
{
	struct btrfs_ioctl_vol_args va;
	const char *name;
	uint64_t id;
	int dfd, fd, r;

	if ((dfd = open_parent(path, &name)) < 0)
		return errno == ENOENT ? 0 : -1;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd < 0) {
		r = errno == ENOENT ? 0 : -1;
		close(dfd);
		return r;
	}
	id = subvol_id(fd);
	close(fd);
	if (!id || strlen(name) >= sizeof(va.name)) {
		close(dfd);
		return 0;
	}
	memset(&va, 0, sizeof(va));
	strcpy(va.name, name);
	/* its qgroup goes by itself once the cleaner has freed its extents
	 * (Linux 6.x); destroying it now would make the kernel warn and
	 * mark the quotas inconsistent */
	r = ioctl(dfd, BTRFS_IOC_SNAP_DESTROY, &va);
	close(dfd);
	return r;
}

int
disk_teardown(const char *dir)
{
	if (umount2(dir, UMOUNT_NOFOLLOW) == 0)
		return 0;
	if (errno == EINVAL || errno == ENOENT)	/* nothing mounted */
		return 0;
	if (errno == EBUSY)		/* our cwd or files in it */
		return umount2(dir, MNT_DETACH | UMOUNT_NOFOLLOW);
	return -1;
}
