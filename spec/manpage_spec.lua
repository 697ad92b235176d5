-- spec/manpage_spec.lua - the manual pages (oclua.1, oclua-serve.1 at the
-- top of the tree) against the program: every option any --help prints
-- is in the page of its command, every command and subcommand has its
-- synopsis line and section, every environment variable the C or Lua
-- source reads is under ENVIRONMENT, the pages carry the program's
-- version, render without a warning (mandoc -Tlint, groff -ww, man -l)
-- and `make install` puts them in share/man/man1.

local run = require("spec.support.run")
local bin = os.getenv("OCLUA_BIN") or "./oclua"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- the page's source as text: comments dropped, \- as -, font and
-- quote escapes removed, \e as a backslash
local function text_of(path)
  return (read(path):gsub("%.\\\"[^\n]*", ""):gsub("\\%-", "-")
    :gsub("\\f[BIRP]", ""):gsub("\\%(lq", '"'):gsub("\\%(rq", '"')
    :gsub("\\e", "\\"))
end

-- the tags of a page's .TP paragraphs (the lines after each .TP), as
-- text: where an option is described, not just named in a synopsis
local function tags_of(path)
  local tags, next_is_tag = {}, false
  for line in text_of(path):gmatch("[^\n]*") do
    if next_is_tag then tags[#tags + 1] = line end
    next_is_tag = line:match("^%.TP") ~= nil
  end
  return table.concat(tags, "\n")
end

-- the lines of section `name` (.SH name) of a page's source
local function section(path, name)
  local src = read(path)
  local from = src:find("\n%.SH " .. name:gsub("%p", "%%%0") .. "\n")
  assert(from, path .. " has no section " .. name)
  local to = src:find("\n%.SH ", from + 1) or #src
  return src:sub(from, to)
end

-- every option a help text names: --long-name, and -x after a space,
-- "[", "(", "|", "," or "/" (so that Ctrl-C or rootless-style are none),
-- outside `quoted examples` (`sh -c '...'` names no option of ours)
local function options_of(help)
  local found, list = {}, {}
  local padded = " " .. help:gsub("`[^`\n]*`", "")
  for pos, opt in padded:gmatch("()(%-%-?[%a][%w%-]*)") do
    local before = padded:sub(pos - 1, pos - 1)
    local long = opt:sub(2, 2) == "-"
    if not before:find("[%w%-]") and (long or #opt == 2)
        and (long or before:find("[%s%[(|,/`]")) and not found[opt] then
      found[opt] = true
      list[#list + 1] = opt
    end
  end
  return list
end

-- is `opt` in `text` as a whole token?
local function has_option(text, opt)
  return (" " .. text .. " "):find("[^%w%-]" .. opt:gsub("%-", "%%-")
    .. "[^%w%-]") ~= nil
end

local function help(args)
  local out, err, code = run(bin .. " " .. args .. " --help")
  assert.are.equal(0, code, args .. " --help: " .. err)
  assert.matches("usage: oclua", out)
  return out
end

-- each --help and the page that must document it
local HELPS = {
  { "", "oclua.1" },
  { "serve", "oclua-serve.1" },
  { "sandbox", "oclua.1" },
  { "sandbox create", "oclua.1" }, { "sandbox list", "oclua.1" },
  { "sandbox kill", "oclua.1" }, { "sandbox hibernate", "oclua.1" },
  { "sandbox wake", "oclua.1" },
  { "exec", "oclua.1" },
  { "files", "oclua.1" },
  { "shell", "oclua.1" },
}

describe("the manual pages", function()
  it("describe every option every --help prints", function()
    local missing = {}
    local count = 0
    for _, h in ipairs(HELPS) do
      local page = tags_of(h[2])
      for _, opt in ipairs(options_of(help(h[1]))) do
        count = count + 1
        if not has_option(page, opt) then
          missing[#missing + 1] = h[2] .. " lacks " .. opt
            .. " (oclua " .. h[1] .. " --help)"
        end
      end
    end
    assert.is_true(count > 40, "only " .. count .. " options found")
    assert.are.same({}, missing)
  end)

  it("finds the options a help text names, and no words that only look like them", function()
    assert.are.same({ "-i", "--stdin", "-e", "--json", "-h", "--help", "-c" },
      options_of("  -i, --stdin  x\n  [-e K=V] (--json) -h/--help Ctrl-C "
        .. "rootless-style 0-255 - `sh -x` sh -c"))
    assert.is_true(has_option("a --api-url URL", "--api-url"))
    assert.is_false(has_option("a --api-url URL", "--api"))
  end)

  it("have a synopsis line and a section for every command and subcommand", function()
    local synopsis = text_of("oclua.1"):match("\n%.SH SYNOPSIS\n(.-)\n%.SH ")
    local function in_synopsis(prefix, word)
      for line in synopsis:gmatch("[^\n]+") do
        if line:sub(1, #prefix) == prefix then
          local rest = line:sub(#prefix + 1)
          for w in rest:gmatch("[%w%-]+") do
            if w == word then return true end
          end
        end
      end
      return false
    end
    -- the commands oclua --help lists, the subcommands their usage lists
    local main = help("")
    local commands = {}
    for c in main:gmatch("\n  oclua (%l+)[ \n]") do commands[c] = true end
    for _, c in ipairs({ "serve", "sandbox", "exec", "files", "shell" }) do
      assert.is_true(commands[c], "oclua --help does not list " .. c)
    end
    for c in pairs(commands) do
      assert.is_true(in_synopsis("oclua ", c), "no synopsis line for oclua " .. c)
      assert.matches("\n%.SS oclua " .. c, read("oclua.1"))
    end
    local verbs = 0
    for usage, prefix in pairs({ [help("sandbox")] = "oclua sandbox ",
        [help("files")] = "oclua files ID " }) do
      for list in usage:gmatch(prefix:gsub("%p", "%%%0") .. "([%l|]+)") do
        for v in list:gmatch("%l+") do
          verbs = verbs + 1
          assert.is_true(in_synopsis(prefix, v), "no synopsis line for " .. prefix .. v)
        end
      end
    end
    assert.is_true(verbs >= 9, verbs .. " subcommands found")
    assert.matches("oclua serve", read("oclua-serve.1"))
  end)

  it("name every environment variable the source reads", function()
    local names = {}
    local c = run("grep -rhoE 'getenv\\(\"[A-Z_]+\"\\)' src lua")
    for n in c:gmatch('getenv%("([%u_]+)"%)') do names[n] = true end
    assert.is_true(names.OPENCOMPUTER_API_URL and names.OCLUA_LUA_DIR
      and names.OCLUA_SERVE_API_KEY, "the source scan found too little")
    local env = section("oclua.1", "ENVIRONMENT")
    for n in pairs(names) do
      assert.is_truthy(env:find("\n.B " .. n .. "\n", 1, true),
        "oclua.1 ENVIRONMENT lacks " .. n)
    end
    local serve = section("oclua-serve.1", "ENVIRONMENT")
    assert.matches("\n%.B OCLUA_SERVE_API_KEY\n", serve)
  end)

  it("carry the program's version and an EXIT STATUS, FILES and EXAMPLES", function()
    local version = run(bin .. " --version"):match("^oclua (%S+)")
    for _, page in ipairs({ "oclua.1", "oclua-serve.1" }) do
      local th = read(page):match("\n%.TH ([^\n]+)")
      assert.is_truthy(th:find('"oclua ' .. version .. '"', 1, true),
        page .. ": .TH says " .. th .. ", oclua --version " .. version)
      for _, s in ipairs({ "EXIT STATUS", "FILES", "EXAMPLES", "SEE ALSO" }) do
        section(page, s)
      end
    end
    -- the statuses the code returns
    local status = section("oclua.1", "EXIT STATUS")
    for _, n in ipairs({ "0", "1", "2", "124", "128+", "141", "255", "129", "143" }) do
      assert.is_truthy(status:find(n, 1, true), "oclua.1 EXIT STATUS lacks " .. n)
    end
  end)

  it("render without a warning", function()
    for _, page in ipairs({ "oclua.1", "oclua-serve.1" }) do
      local out, err, code = run("mandoc -Tlint -W all " .. page)
      assert.are.equal("", out .. err, "mandoc -Tlint " .. page)
      assert.are.equal(0, code, "mandoc -Tlint " .. page .. " (installed by scripts/deps.sh)")
      out, err, code = run("groff -man -Tutf8 -ww -z " .. page)
      assert.are.equal("", err, "groff -ww " .. page)
      assert.are.equal(0, code)
      -- as `man ./oclua.1` shows it in the source tree
      out, err, code = run("MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l " .. page)
      assert.are.equal("", err, "man -l " .. page)
      assert.are.equal(0, code)
      local title = page:gsub("%.1$", ""):upper()
      assert.matches("^" .. title:gsub("%-", "%%-") .. "%(1%)", out)
      assert.matches("\nNAME\n", out)
    end
  end)

  it("are installed by make install", function()
    local dir = os.tmpname()
    os.remove(dir)
    local _, err, code = run("make -s install DESTDIR=" .. dir .. " PREFIX=/usr")
    local ok, found = pcall(function()
      return { read(dir .. "/usr/share/man/man1/oclua.1"),
        read(dir .. "/usr/share/man/man1/oclua-serve.1") }
    end)
    os.execute("rm -rf " .. dir)
    assert.are.equal(0, code, err)
    assert(ok, found)
    assert.are.equal(read("oclua.1"), found[1])
    assert.are.equal(read("oclua-serve.1"), found[2])
  end)
end)
