/*
 * main.c - the `oclua` command: runs a script, a chunk or standard input
 * as the main task of a runtime, and drives the loop until nothing is
 * pending (API.md section 9); `oclua serve`, `sandbox`, `exec`, `files`
 * and `shell` hand their arguments to their Lua module.
 */
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>
#include <lauxlib.h>
#include <libwebsockets.h>

#include "oclua.h"

static const char usage[] =
"usage: oclua [options] [script [args...]]\n"
"\n"
"Runs Lua 5.4 scripts that drive OpenComputer sandboxes. Every network\n"
"call yields the running task, so scripts read like synchronous code while\n"
"the one event loop serves all tasks at once.\n"
"\n"
"  oclua script.lua [args...]   run a script; `arg` and `...` as in lua\n"
"  oclua -e 'chunk'             run a chunk (may be repeated; runs before a\n"
"                               script)\n"
"  oclua -                      run standard input\n"
"  oclua -- script [args...]    run a script whose name begins with -\n"
"  oclua, oclua -i              the REPL (`oclua` alone: when standard\n"
"                               input is a terminal); -i after -e or a\n"
"                               script enters it once they have run\n"
"  oclua serve [options]        run the local sandbox server (see\n"
"                               oclua serve --help)\n"
"\n"
"Sandboxes from the command line (each has --help):\n"
"  oclua sandbox create|list|kill|hibernate|wake\n"
"                               make, list and manage sandboxes\n"
"  oclua exec ID [-i] -- CMD [ARGS...]\n"
"                               run a command in a sandbox; its output\n"
"                               streamed, its exit status returned\n"
"  oclua files ID ls|get|put    list, download and upload files\n"
"  oclua shell [ID]             a terminal in a sandbox (a new one when\n"
"                               no ID is given); Ctrl-] then ? for keys\n"
"\n"
"  oclua -v, --version          print the version and the libraries used\n"
"  oclua -h, --help             print this help\n"
"\n"
"At the REPL each line runs as a task, so yielding calls work; `=expr`\n"
"or an expression prints its value; Ctrl-C returns to the prompt (a\n"
"running line goes on in the background); Ctrl-D quits. History is kept\n"
"in ~/.oclua_history.\n"
"\n"
"The process exits when the main task has returned and no task, timer,\n"
"request or connection is left; the status is 1 when the main task raised,\n"
"or when what is left can never end (a connection nobody reads), 2 for a\n"
"usage error; os.exit(n) gives n.\n"
"\n"
"Environment:\n"
"  OCLUA_LUA_DIR         load the Lua half of the SDK (opencomputer.*) from\n"
"                        this directory instead of the copy built into the\n"
"                        binary, e.g. OCLUA_LUA_DIR=$PWD/lua, to edit it\n"
"                        without rebuilding\n"
"  OPENCOMPUTER_API_URL  OpenComputer API URL: `oclua serve`'s, or the\n"
"                        cloud's (see README); unset with no key: a local\n"
"                        server started for the run, whose sandboxes end\n"
"                        with it\n"
"  OPENCOMPUTER_API_KEY  OpenComputer API key\n"
"  OCLUA_HISTORY         the REPL's history file (empty: none)\n"
"  OCLUA_CURL_VERBOSE    any value: libcurl traces each request to stderr\n"
"  SSL_CERT_FILE         a PEM file of the CAs to trust instead of the\n"
"                        system's\n"
"\n"
"The manual has the rest: man oclua (man ./oclua.1 in the source tree).\n";

/* the network libraries load on first use: print the versions built with */
static void
print_version(void)
{
	printf("oclua %s (%s, libuv %s, built with libcurl %s, "
	       "libwebsockets %s)\n", OCLUA_VERSION, LUA_RELEASE,
	       uv_version_string(), LIBCURL_VERSION, LWS_LIBRARY_VERSION);
}

/* A script with a thousand sessions needs more than the usual soft limit
 * of 1,024 descriptors: take what the hard limit allows (as Go does). */
static void
raise_fd_limit(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

/* the global `arg`, as lua.c builds it */
static void
set_arg(lua_State *L, char **argv, int argc, int script)
{
	int i;

	lua_createtable(L, argc - script, script + 1);
	for (i = 0; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i - script);
	}
	lua_setglobal(L, "arg");
}

static int
fail(const char *msg, const char *what)
{
	fprintf(stderr, "oclua: %s%s%s\n", msg, what ? " " : "",
		what ? what : "");
	fprintf(stderr, "Try 'oclua --help'.\n");
	return 2;
}

/* the commands whose options and work are policy, in Lua: `oclua NAME
 * args...` runs require('opencomputer.cli.NAME').main(args...) as the
 * main task (lua/opencomputer/cli/) */
static const char *const commands[] = {
	"serve", "sandbox", "exec", "files", "shell", NULL
};

static int
is_command(const char *a)
{
	int i;

	for (i = 0; commands[i]; i++)
		if (!strcmp(a, commands[i]))
			return 1;
	return 0;
}

static int
command(const char *name, int argc, char **argv)
{
	oclua_runtime *rt;
	char chunk[128], chunkname[32];
	int status;

	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	rt = oclua_new(NULL);
	if (!rt) {
		fprintf(stderr, "oclua: cannot create the runtime\n");
		return 1;
	}
	snprintf(chunk, sizeof(chunk),
		 "require('opencomputer.cli.%s').main(...)", name);
	snprintf(chunkname, sizeof(chunkname), "=%s", name);
	status = oclua_run_chunk(rt, chunk, chunkname, argc, argv);
	if (!status)
		status = oclua_run(rt);
	oclua_close(rt);
	return status ? 1 : 0;
}

int
main(int argc, char **argv)
{
	oclua_runtime *rt;
	int i, script = 0, status = 0, nexec = 0, stdin_script = 0;
	int interactive = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			return 0;
		}
		if (!strcmp(a, "-v") || !strcmp(a, "--version")) {
			print_version();
			return 0;
		}
		if (!strcmp(a, "-e")) {
			if (++i == argc)
				return fail("-e needs a chunk", NULL);
			nexec++;
			continue;
		}
		if (!strcmp(a, "-")) {
			stdin_script = 1;
			script = i;
			break;
		}
		if (i == 1 && is_command(a))
			return command(a, argc - 2, argv + 2);
		if (!strcmp(a, "-i")) {
			interactive = 1;
			continue;
		}
		if (!strcmp(a, "--")) {
			if (i + 1 < argc)
				script = i + 1;
			break;
		}
		if (a[0] == '-')
			return fail("unknown option", a);
		script = i;
		break;
	}
	if (!script && !nexec && !interactive) {
		if (isatty(0))
			interactive = 1;
		else
			stdin_script = 1;	/* like lua: a piped script */
	}

	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	rt = oclua_new(NULL);
	if (!rt) {
		fprintf(stderr, "oclua: cannot create the runtime\n");
		return 1;
	}
	set_arg(oclua_state(rt), argv, argc, script ? script : argc - 1);

	for (i = 1; i < argc && i != script && !status; i++)
		if (!strcmp(argv[i], "-e")) {
			i++;
			status = oclua_run_string(rt, argv[i],
						  "=(command line)");
			if (!status)
				status = oclua_run(rt);
		}
	if (!status && (script || stdin_script)) {
		int first = script ? script + 1 : argc;

		status = oclua_run_file(rt, stdin_script ? NULL : argv[script],
					argc - first, argv + first);
		if (!status)
			status = oclua_run(rt);
	}
	if (!status && interactive) {	/* the REPL ends with os.exit */
		status = oclua_run_string(rt,
			"require('opencomputer.cli.repl').main()", "=repl");
		if (!status)
			status = oclua_run(rt);
	}
	oclua_close(rt);
	return status ? 1 : 0;
}
