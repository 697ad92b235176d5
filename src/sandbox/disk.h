/*
 * disk.h - the sandboxes' disk: DATA/sandboxes is a btrfs file system in
 * one sparse image file (DATA/disk.img), loop-mounted, and each sandbox's
 * directory there is a subvolume whose quota group has a hard limit (its
 * diskMB): writing past it fails with EDQUOT, and the image, so the
 * host's disk, never holds more than the image's size.
 */
#ifndef OCLUA_DISK_H
#define OCLUA_DISK_H

#include <stddef.h>
#include <stdint.h>

/* Make `dir` (DATA/sandboxes; an existing directory) the mount point of
 * the btrfs file system in `image_path`, with quotas on. A missing image
 * is made first: a sparse file of size_bytes, but no larger than the
 * free space of the host's file system there less a margin (5% of it,
 * 1 GiB at least), so that the sandboxes together cannot fill the host's disk; formatted
 * with mkfs.btrfs (20-40 ms, 5 MiB of real disk whatever the size). An
 * existing image is reused as it is (its files are the sandboxes an
 * earlier run left; size_bytes is then ignored), and `dir` already being
 * its mount point (this server restarted, or an earlier one crashed) is
 * fine. Refuses a `dir` that has files but is not mounted: the image
 * would hide them. Needs root. Returns 0, or -1 with a message in err
 * (errlen bytes at most, NUL-terminated) naming what is missing and how
 * to get it: mkfs.btrfs (btrfs-progs), the kernel's btrfs or loop
 * driver, free disk (the image is 4 GiB at least), or the privilege to
 * use them (an unprivileged container has none). The image's file
 * system is mounted at most once: bound to a loop device already (its
 * mount in another mount namespace), that device is mounted again. */
int disk_setup(const char *image_path, const char *dir, uint64_t size_bytes,
	       char *err, size_t errlen);

/* Make `path`, a directory directly in disk_setup's `dir`, a subvolume
 * of its own, so that everything ever created under it counts towards
 * one quota, and set that quota's hard limit to `bytes` (data and
 * metadata: there is no separate inode limit, an inode costs its bytes);
 * 0 removes the limit. A missing `path` is created (mode 0700, owned by
 * the caller); an empty directory is replaced by a subvolume of the same
 * mode and owner; an existing subvolume (a sandbox of an earlier run)
 * only gets the new limit. The usage the limit applies to is what the
 * subvolume holds now, so a limit below it stops new writes at once.
 * Returns 0, or -1 with a message in err (e.g. `path` has files but is
 * not a subvolume). */
int disk_limit(const char *path, uint64_t bytes, char *err, size_t errlen);

/* Make `dst` (missing; its parent on the same file system) a snapshot of
 * the subvolume `src`: a subvolume of its own that shares every extent
 * of `src` copy-on-write, made in constant time whatever `src` holds;
 * read-only when `readonly` (a checkpoint), else writable (a fork, a
 * restore). Its quota group has no limit until disk_limit gives one.
 * Returns 0, or -1 with a message in err. */
int disk_snapshot(const char *src, const char *dst, int readonly, char *err,
		  size_t errlen);

/* The bytes the subvolume `path` refers to (data and metadata, shared
 * extents included) and those only it holds (`exclusive`: what removing
 * it would free), as of the file system's last commit (every 30 s at
 * most; sync first for a fresh figure). Returns 0, or -1 with errno. */
int disk_usage(const char *path, uint64_t *referenced, uint64_t *exclusive);

/* Delete the subvolume `path` and everything in it at once (the space
 * comes back in the background; its quota group goes by itself once it
 * has, on Linux 6.x; older kernels keep it, empty and harmless: ids are
 * never reused). Stop the sandbox first. A missing `path` is not an
 * error; neither is a plain directory, which is left alone (rm -rf it:
 * removing a subvolume's files and then its directory also works, only
 * slower). Returns 0, or -1 with errno set. */
int disk_remove(const char *path);

/* Unmount `dir` (the server stops; a temporary data directory is then
 * removed, image included, and a --data-dir one kept). Sandboxes still
 * running keep the file system alive until they end; the loop device
 * goes with the last user. Returns 0 (also when `dir` was not mounted),
 * or -1 with errno set. */
int disk_teardown(const char *dir);

#endif
