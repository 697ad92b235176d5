/*
 * editor.c - the REPL's input: lines from standard input on the runtime's
 * loop, edited with libedit (line editing, history) when standard input is
 * a terminal that can be driven, read plainly otherwise.
 *
 *     ed = core.line_editor(history_file or nil)
 *     line = ed:read(prompt)   yields for the next line (no newline); nil
 *                              at end of input. A terminal shows `prompt`.
 *     ed:write(text)           writes to stdout; while a prompt is shown
 *                              the line being edited is cleared first and
 *                              drawn again after, so output of background
 *                              tasks never garbles it
 *     ed:interrupt()           yields until Ctrl-C is pressed while no
 *                              prompt is shown (at a prompt, Ctrl-C only
 *                              clears the line); terminals only
 *     ed:is_terminal()
 *     ed:is_editing()          libedit edits the lines (false: a plain
 *                              prompt, or no terminal)
 *     ed:close()               saves the history, gives the terminal back
 *
 * A terminal that cannot be driven (TERM unset or empty, `dumb`, a type
 * terminfo does not know, or one without the capabilities to clear to
 * the end of a line and move the cursor left) gets a plain prompt: the
 * prompt written as text, lines read as the kernel's line discipline
 * edits them (Backspace, ^U, ^W), no history. libedit would draw such a
 * terminal's line with spaces and carriage returns (after a Ctrl-C, a
 * prompt followed by stray spaces), which a dumb terminal (an Emacs
 * shell buffer, a log of the session) shows as garbage.
 *
 * libedit rather than GNU readline: the same callback interface, and a BSD
 * licence that suits a library meant to be embedded. libedit keeps one
 * global state, so there is one editor per process.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <editline/readline.h>
#include <term.h>

#include "runtime/buf.h"
#include "term/editor.h"
#include "runtime/runtime.h"

#define EDITOR_MT	"oclua.line_editor"
#define HISTORY_MAX	1000

typedef struct editor {
	oclua_runtime	*rt;
	uv_poll_t	poll;		/* fd 0 readable */
	uv_signal_t	sigint;
	int		tty;
	int		edit;		/* libedit edits the lines (a terminal
					 * it can drive) */
	int		file;		/* stdin cannot be polled (a regular
					 * file): read it directly */
	int		open;		/* handles initialised, not closed */
	int		polling;
	int		prompting;	/* a libedit prompt is on the screen */
	int		task;		/* in read(), or LUA_NOREF */
	int		int_task;	/* in interrupt(), or LUA_NOREF */
	int		eof;
	buf		in;		/* plain mode: read, not yet a line */
	char		*line;		/* terminal mode: the finished line */
	int		have_line;
	char		*history;
	char		*prompt;	/* plain prompt: the one shown */
	char		*clear_eol;	/* the terminal's "clear to end of
					 * line" (terminfo el) */
} editor;

static editor *the_editor;	/* libedit's callbacks carry no context */

static void
free_on_close(uv_handle_t *h)
{
	editor *e = h->data;

	if (--e->open == 0) {
		buf_free(&e->in);
		free(e->history);
		free(e->prompt);
		free(e->clear_eol);
		free(e);
	}
}

static void
wake(editor *e, int *task)
{
	int t = *task;

	if (t != LUA_NOREF) {
		*task = LUA_NOREF;
		e->rt->active--;
		ocl_wake(e->rt, e->rt->L, t);
	}
}

static void
poll_stop(editor *e)
{
	if (e->polling) {
		uv_poll_stop(&e->poll);
		e->polling = 0;
	}
}

/* libedit: a line is complete (NULL: end of input) */
static void
on_line(char *line)
{
	editor *e = the_editor;

	rl_callback_handler_remove();	/* no new prompt until read() */
	e->prompting = 0;
	poll_stop(e);
	if (line && *line)
		add_history(line);
	free(e->line);
	e->line = line;
	e->have_line = 1;
	if (!line)
		e->eof = 1;
	wake(e, &e->task);
}

/* plain mode: is there a whole line (or the end) in e->in? */
static int
plain_ready(editor *e)
{
	return e->eof || (e->in.len && memchr(e->in.p, '\n', e->in.len));
}

/* plain mode: read what is there into e->in */
static void
plain_fill(editor *e)
{
	char chunk[4096];
	ssize_t n = read(0, chunk, sizeof(chunk));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || buf_add(&e->in, chunk, (size_t)n))
		e->eof = 1;
}

static void
on_readable(uv_poll_t *h, int status, int events)
{
	editor *e = h->data;

	(void)events;
	if (e->edit) {
		if (status < 0)
			on_line(NULL);
		else
			rl_callback_read_char();
		return;
	}
	if (status < 0)
		e->eof = 1;
	else
		plain_fill(e);
	if (plain_ready(e)) {
		poll_stop(e);
		wake(e, &e->task);
	}
}

static void
on_sigint(uv_signal_t *h, int sig)
{
	editor *e = h->data;

	(void)sig;
	if (e->prompting && !e->edit) {
		/* the kernel dropped the line typed so far (and echoed ^C);
		 * what a Ctrl-D sent of it is dropped here; a new prompt */
		e->in.len = 0;
		fprintf(stdout, "\n%s", e->prompt);
		fflush(stdout);
	} else if (e->prompting) {
		/* drop the line being edited: ^U (bound to kill the whole
		 * line below) through libedit's own input, which draws a
		 * fresh prompt below the abandoned line */
		fputs("^C\n", stdout);
		fflush(stdout);
		rl_insert(1, 21);	/* pushed as input, not text */
		rl_callback_read_char();	/* draws the prompt */
	} else if (e->int_task != LUA_NOREF) {
		fputs("\n", stdout);
		wake(e, &e->int_task);
	}
}

static editor *
check_editor(lua_State *L)
{
	return ocl_check_open(L, EDITOR_MT, "line editor");
}

static void
poll_start(editor *e)
{
	if (!e->polling) {
		uv_poll_start(&e->poll, UV_READABLE, on_readable);
		e->polling = 1;
	}
}

/* plain mode: take the next line (or the rest at the end) from e->in */
static int
push_plain_line(lua_State *L, editor *e)
{
	char *nl = e->in.len ? memchr(e->in.p, '\n', e->in.len) : NULL;
	size_t n = nl ? (size_t)(nl - e->in.p) : e->in.len;

	if (!nl && n == 0) {
		lua_pushnil(L);
		return 1;
	}
	lua_pushlstring(L, e->in.p, n);
	if (nl)
		n++;
	memmove(e->in.p, e->in.p + n, e->in.len - n);
	e->in.len -= n;
	return 1;
}

static int
ed_read(lua_State *L)
{
	editor *e = check_editor(L);
	const char *prompt = luaL_optstring(L, 2, "> ");

	if (e->task != LUA_NOREF)
		return luaL_error(L, "another task is reading lines");
	if (!e->edit) {
		while (e->file && !plain_ready(e))
			plain_fill(e);
		if (plain_ready(e)) {
			e->prompting = 0;
			return push_plain_line(L, e);
		}
		if (e->tty && !e->prompting) {	/* a plain prompt */
			char *p = strdup(prompt);

			if (!p)
				return luaL_error(L, "out of memory");
			free(e->prompt);
			e->prompt = p;
			fputs(p, stdout);
			fflush(stdout);
			e->prompting = 1;
		}
	} else if (e->have_line) {
		e->have_line = 0;
		if (!e->line) {
			lua_pushnil(L);
			return 1;
		}
		lua_pushstring(L, e->line);
		free(e->line);
		e->line = NULL;
		return 1;
	} else if (e->eof) {
		lua_pushnil(L);
		return 1;
	} else if (!e->prompting) {
		rl_callback_handler_install(prompt, on_line);
		e->prompting = 1;
	}
	poll_start(e);
	e->rt->active++;
	return ocl_wait_retry(L, &e->task, ed_read);
}

static int
ed_write(lua_State *L)
{
	editor *e = check_editor(L);
	size_t n;
	const char *s = luaL_checklstring(L, 2, &n);

	if (!e->prompting) {
		fwrite(s, 1, n, stdout);
		fflush(stdout);
		return 0;
	}
	/* libedit: clear the prompt's line, write, draw prompt and line
	 * again; a plain prompt cannot be cleared: the text goes below it,
	 * the prompt again below the text (the line typed so far is still
	 * the kernel's; ^R shows it) */
	fputs(e->edit ? "\r" : "\n", stdout);
	if (e->edit)
		fputs(e->clear_eol, stdout);
	fwrite(s, 1, n, stdout);
	if (n && s[n - 1] != '\n')
		fputc('\n', stdout);
	if (e->edit) {
		fflush(stdout);
		rl_forced_update_display();
	} else {
		fputs(e->prompt, stdout);
		fflush(stdout);
	}
	return 0;
}

static int
ed_interrupt(lua_State *L)
{
	editor *e = check_editor(L);

	if (!e->tty)
		return luaL_error(L, "no terminal: Ctrl-C is not caught");
	if (e->int_task != LUA_NOREF)
		return luaL_error(L, "another task waits for Ctrl-C");
	e->int_task = ocl_task_pin(L);
	e->rt->active++;
	return ocl_suspend(L, 0, NULL);
}

static int
ed_is_terminal(lua_State *L)
{
	lua_pushboolean(L, check_editor(L)->tty);
	return 1;
}

static int
ed_is_editing(lua_State *L)
{
	lua_pushboolean(L, check_editor(L)->edit);
	return 1;
}

/* Can libedit drive the terminal named by TERM? Its terminfo entry must
 * exist, be neither a printing nor a generic type, and have "clear to
 * end of line" (el) and "cursor left" (cub1), which libedit redraws a
 * line with. Returns el (malloc'd; "" when TERM names no terminal that
 * can be driven) or NULL when out of memory. */
static char *
terminal_clear_eol(void)
{
	const char *term = getenv("TERM");
	TERMINAL *old = cur_term, *t;
	char *el, *left, *out;
	int err = 0, ok;

	if (!term || !*term || setupterm(term, 1, &err) != 0)	/* 0: OK */
		return strdup("");
	t = cur_term;
	el = tigetstr("el");
	left = tigetstr("cub1");
	ok = tigetflag("hc") <= 0 && tigetflag("gn") <= 0 &&
	     el && el != (char *)-1 && *el &&
	     left && left != (char *)-1 && *left;
	out = strdup(ok ? el : "");
	set_curterm(old);
	del_curterm(t);
	return out;
}

static void
editor_close(lua_State *L, editor *e)
{
	if (e->edit) {
		if (e->prompting)
			rl_callback_handler_remove();
		if (e->history)
			write_history(e->history);
	} else if (e->prompting && e->tty) {
		fputs("\n", stdout);	/* below the plain prompt */
		fflush(stdout);
	}
	if (e->tty)
		uv_close((uv_handle_t *)&e->sigint, free_on_close);
	if (e->task != LUA_NOREF || e->int_task != LUA_NOREF) {
		if (e->task != LUA_NOREF)
			e->rt->active--;
		if (e->int_task != LUA_NOREF)
			e->rt->active--;
		if (!e->rt->closing) {
			luaL_unref(L, LUA_REGISTRYINDEX, e->task);
			luaL_unref(L, LUA_REGISTRYINDEX, e->int_task);
		}
	}
	free(e->line);
	the_editor = NULL;
	if (e->file) {
		buf_free(&e->in);
		free(e->clear_eol);
		free(e);
		return;
	}
	uv_close((uv_handle_t *)&e->poll, free_on_close);
}

static int
ed_close(lua_State *L)
{
	editor **box = luaL_checkudata(L, 1, EDITOR_MT);

	if (*box) {
		editor_close(L, *box);
		*box = NULL;
	}
	return 0;
}

static int
core_line_editor(lua_State *L)
{
	oclua_runtime *rt = ocl_rt(L);
	const char *history = luaL_optstring(L, 1, NULL);
	editor **box, *e;

	if (the_editor)
		return luaL_error(L, "there is a line editor already");
	box = lua_newuserdatauv(L, sizeof(*box), 0);
	*box = NULL;
	luaL_setmetatable(L, EDITOR_MT);
	e = calloc(1, sizeof(*e));
	if (!e)
		return luaL_error(L, "out of memory");
	e->rt = rt;
	e->task = e->int_task = LUA_NOREF;
	e->tty = isatty(0) && isatty(1);
	if (e->tty && !(e->clear_eol = terminal_clear_eol())) {
		free(e);
		return luaL_error(L, "out of memory");
	}
	e->edit = e->tty && *e->clear_eol;
	if (uv_poll_init(rt->loop, &e->poll, 0)) {
		if (e->tty) {
			free(e->clear_eol);
			free(e);
			return luaL_error(L, "cannot watch standard input");
		}
		e->file = 1;
	} else {
		e->poll.data = e;
		e->open = 1;
	}
	if (e->edit) {
		rl_catch_signals = 0;
		rl_initialize();
		/* ^U kills the whole line (as in readline and shells); Ctrl-C
		 * uses it too */
		rl_parse_and_bind("bind ^U em-kill-line");
		stifle_history(HISTORY_MAX);
		if (history) {
			e->history = strdup(history);
			read_history(history);
		}
	}
	if (e->tty) {
		uv_signal_init(rt->loop, &e->sigint);
		e->sigint.data = e;
		e->open++;
		uv_signal_start(&e->sigint, on_sigint, SIGINT);
		uv_unref((uv_handle_t *)&e->sigint);
	}
	*box = the_editor = e;
	return 1;
}

int
ocl_open_editor(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "read", ed_read }, { "write", ed_write },
		{ "interrupt", ed_interrupt },
		{ "is_terminal", ed_is_terminal },
		{ "is_editing", ed_is_editing }, { "close", ed_close },
		{ NULL, NULL }
	};
	static const luaL_Reg meta[] = {
		{ "__gc", ed_close }, { "__close", ed_close }, { NULL, NULL }
	};

	ocl_newclass(L, EDITOR_MT, methods, meta);
	lua_pop(L, 1);
	lua_pushcfunction(L, core_line_editor);
	lua_setfield(L, -2, "line_editor");
	return 0;
}
