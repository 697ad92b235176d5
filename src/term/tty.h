/*
 * tty.h - standard input as a stream, and the terminal's modes and size
 * (tty.c), opened with the network half beside the line editor.
 */
#ifndef OCLUA_TTY_H
#define OCLUA_TTY_H

#include <lua.h>

/* Add core.stdin_reader, term_raw, term_size and isatty to the table on
 * top of the stack. */
int ocl_open_tty(lua_State *L);

#endif
