-- oclua-0.1.0-1.rockspec - the rock: the `opencomputer` module for a stock
-- Lua 5.4 interpreter. From a checkout:
--   luarocks --lua-version 5.4 make            (or --tree DIR, --local)
-- The Makefile builds the C module (`make module`: opencomputer.core, the
-- network half linked in) from the same object lists as the binary and
-- installs it with the Lua files of lua/opencomputer as they are
-- (`make install-module`). Its first run installs the Debian packages the
-- build needs (scripts/deps.sh), as `make` does.
rockspec_format = "3.0"
package = "oclua"
version = "0.1.0-1"
source = {
  -- the checkout `luarocks make` runs in: no repository URL or release
  -- archive is published yet (so no `luarocks install oclua`)
  url = ".",
}
description = {
  summary = "Lua 5.4 runtime and SDK for OpenComputer sandboxes",
  detailed = [[
The `opencomputer` module: OpenComputer sandboxes (create, exec, files,
shell, terminals, checkpoints, agents) from Lua, every network call
yielding the running task on one libuv loop, and a local sandbox server
started on demand when no OPENCOMPUTER_API_URL is set. A script run by
lua5.4 starts with oc.run(main).
]],
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
-- no external_dependencies: the Makefile finds the libraries with
-- pkg-config and installs what is missing (scripts/deps.sh), and luarocks
-- 3.8 would not look in Debian's multiarch include folder
-- (/usr/include/x86_64-linux-gnu/curl)
build = {
  type = "make",
  build_target = "module",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
  },
  install_target = "install-module",
  -- the LuaCATS annotations (README, "Editor set-up"), kept in the tree
  -- at lib/luarocks/rocks-5.4/oclua/VERSION/meta
  copy_directories = { "meta" },
  install_variables = {
    LUADIR = "$(LUADIR)",
    LIBDIR = "$(LIBDIR)",
  },
}
