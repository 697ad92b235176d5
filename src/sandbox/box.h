/*
 * box.h - the wire between the local server (box.c) and the init process
 * inside each sandbox (init.c), over a SOCK_SEQPACKET socketpair:
 * one message per packet, a fixed header and a payload; SPAWN carries the
 * child's stdin, stdout and stderr pipe ends as SCM_RIGHTS.
 */
#ifndef OCLUA_BOX_H
#define OCLUA_BOX_H

#include <stdint.h>

enum box_msg_type {
	BOX_SPAWN = 1,	/* server -> init: id, uid, gid; payload cwd\0argv..\0\0env..\0 */
	BOX_KILL,	/* server -> init: a = pid, b = signal (to its group) */
	BOX_STARTED,	/* init -> server: id, a = pid */
	BOX_FAILED,	/* init -> server: id, a = errno, payload: what failed */
	BOX_EXIT,	/* init -> server: a = pid, b = exit code (-1: signal) */
	BOX_READY,	/* init -> server: the sandbox is set up */
	BOX_SETUP_FAILED	/* init -> server: a = errno, payload: the step */
};

struct box_msg {
	uint32_t	type;
	uint32_t	id;
	int32_t		a, b;
	uint32_t	uid, gid;
};

#define BOX_PAYLOAD_MAX	(120 * 1024)

/* What the init process needs to set the sandbox up. */
struct box_setup {
	const char	*dir;		/* the sandbox's state directory */
	const char	*template_dir;	/* from box_make_template */
	const char	*hostname;
	int		fresh;		/* lay out rootfs/ first */
	unsigned	uid, gid;	/* the sandbox user */
};

/* Build the template every sandbox's root starts from in `dir` (its
 * root/ subdirectory). Runs in the server; -1 with errno on failure. */
int box_make_template(const char *dir, unsigned uid, unsigned gid);

/* Runs in the child made by clone() with new mount, PID, network, UTS and
 * IPC namespaces: sets the sandbox up, then serves `sock` as PID 1 until
 * the server goes away. Never returns. */
void box_init_main(const struct box_setup *s, int sock);

#endif
