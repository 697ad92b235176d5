/*
 * editor.h - the REPL's line editor (editor.c), opened with the network
 * half because it links libedit.
 */
#ifndef OCLUA_EDITOR_H
#define OCLUA_EDITOR_H

#include <lua.h>

/* Add core.line_editor to the table on top of the stack. */
int ocl_open_editor(lua_State *L);

#endif
