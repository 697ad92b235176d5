/*
 * seccomp.h - the system call filter of a sandbox: loaded once by its
 * init (init.c) after its own setup, inherited by every command. Default
 * allow; the calls a container has no use for, and which reach parts of
 * the kernel the sandbox's user namespace does not fence off, fail.
 */
#ifndef OCLUA_SECCOMP_H
#define OCLUA_SECCOMP_H

#include <stddef.h>

/* Load the sandbox's filter into the calling thread (one-threaded init);
 * its children inherit it and cannot remove it. No no_new_privs is set
 * (sudo keeps working inside), so the caller needs CAP_SYS_ADMIN in its
 * user namespace, as root of the sandbox's has. Linked statically with
 * libseccomp (-l:libseccomp.a). Returns 0, or -1 with a message in err
 * (errlen bytes at most, NUL-terminated). */
int sandbox_seccomp_load(char *err, size_t errlen);

#endif
