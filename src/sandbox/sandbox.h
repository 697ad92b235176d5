/*
 * sandbox.h - what the sandbox engine offers the rest of oclua: its
 * openers for opencomputer.core (fs.c: confined file operations; box.c:
 * sandboxes and their processes; netns.c: connections into a sandbox's
 * network) and the tree remover they share.
 */
#ifndef OCLUA_SANDBOX_H
#define OCLUA_SANDBOX_H

#include "runtime/runtime.h"

int ocl_open_fs(lua_State *L);
int ocl_open_box(lua_State *L);
int ocl_open_netns(lua_State *L);
int ocl_open_template(lua_State *L);

/* fs.c: remove the tree at the absolute `path`, at any depth; a missing
 * path is fine; 0 or -1 and errno */
int ocl_remove_path(const char *path);

/* fs.c: remove `name` in the directory fd `parent`, a whole tree if it is
 * a directory, at any depth; a missing name is fine; 0 or -1 and errno */
int ocl_remove_tree(int parent, const char *name);

#endif
