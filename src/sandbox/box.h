/*
 * box.h - the wire between the local server (box.c) and the init process
 * of each sandbox (init.c, a program of its own), over a SOCK_SEQPACKET
 * socketpair that init finds as fd 3: one message per packet, a fixed
 * header and a payload; SPAWN carries the child's stdin, stdout and
 * stderr pipe ends as SCM_RIGHTS, and the STARTED of a SPAWN_PTY the
 * terminal's master the other way. Init treats everything the socket
 * brings as untrusted input, and the server treats init's answers the
 * same way: init runs inside the sandbox.
 */
#ifndef OCLUA_BOX_H
#define OCLUA_BOX_H

#include <stdint.h>

#define BOX_INIT_FD	3	/* the socket, in init */
#define BOX_CGROUP_FD	4	/* from here: cgroup.procs of its groups */

enum box_msg_type {
	BOX_SETUP = 1,	/* server -> init, first: a = flags, b = how many
			 * cgroup.procs fds init has (BOX_CGROUP_FD on, to
			 * enter itself), uid = the host
			 * uid the sandbox's 0 maps to, id = the host uid
			 * its files on disk carry for 0 (0: uid; a fork's
			 * are its origin's), gid = /dev/shm size
			 * in MiB; payload dir\0template\0hostname\0
			 * host_addrs\0 (the host's IPv4 addresses, a
			 * list with commas: the sandbox may not reach
			 * them) */
	BOX_SPAWN,	/* server -> init: id, uid, gid, a = argc (1 to
			 * BOX_ARGV_MAX), b = envc (0 to BOX_ENV_MAX);
			 * payload cwd\0, then argc + envc strings each
			 * ended by \0 (empty ones too), and nothing else */
	BOX_KILL,	/* server -> init: a = pid, b = signal (to its group) */
	BOX_STARTED,	/* init -> server: id, a = pid */
	BOX_FAILED,	/* init -> server: id, a = errno, payload: what failed */
	BOX_EXIT,	/* init -> server: a = pid, b = exit code (-1: signal) */
	BOX_READY,	/* init -> server: the sandbox is set up */
	BOX_SETUP_FAILED,	/* init -> server: a = errno, payload: the step */
	BOX_SPAWN_PTY,	/* server -> init: as BOX_SPAWN, but no fds come
			 * and the payload starts with a struct
			 * box_winsize (then cwd\0 and the strings): init
			 * opens a pseudo-terminal of that size in the
			 * sandbox's devpts, whose slave becomes the
			 * child's stdio and controlling terminal (the
			 * child leads a session of its own); BOX_STARTED
			 * then carries the master as SCM_RIGHTS (one fd) */
	BOX_KILL_SESSION	/* server -> init: a = a session's id (the pid
				 * of its leader, > 1), b = signal: to every
				 * process of that session */
};

/* the window of a BOX_SPAWN_PTY terminal, in characters (1 to 65535) */
struct box_winsize {
	uint16_t	cols, rows;
};

/* BOX_SETUP flags */
#define BOX_FRESH	1	/* lay the sandbox's layers out first */
#define BOX_NETWORK	2	/* a network comes (slirp.c): resolv.conf */
#define BOX_RENAMED	4	/* a fork's first boot: hosts and hostname
				 * named its origin; write them again */

struct box_msg {
	uint32_t	type;
	uint32_t	id;
	int32_t		a, b;
	uint32_t	uid, gid;
};

#define BOX_PAYLOAD_MAX	(120 * 1024)
#define BOX_ARGV_MAX	1023	/* strings of a command's argv */
#define BOX_ENV_MAX	4095	/* of its environment */
#define BOX_RANGE	65536u	/* uids (and gids) per sandbox */

#endif
