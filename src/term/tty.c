/*
 * tty.c - standard input as a stream on the runtime's loop, and the
 * terminal's modes and size, for the sandbox commands of `oclua` (`oclua
 * shell` attaches the local terminal to a PTY in a sandbox; `oclua exec
 * -i` and `oclua files put -` read standard input while output flows).
 *
 *     r = core.stdin_reader()  standard input, one reader per process
 *     data = r:read()          yields for the next bytes (at most 64 KiB;
 *                              whatever has arrived), nil at the end of
 *                              input; raises on a read error
 *     r:size()                 the bytes left to read when standard input
 *                              is a regular file, else nil
 *     r:close()
 *     core.term_raw(on)        on: standard input, a terminal, in raw mode
 *                              as ssh sets it (no echo, no line editing,
 *                              no signals from keys, no CR/NL mapping, no
 *                              output processing: every byte passes);
 *                              off: the modes it had before. true, or nil
 *                              and why (not a terminal)
 *     core.term_size(fd)       cols, rows of the terminal on fd, or nil
 *     core.isatty(fd)          boolean
 *
 * Whatever exits the process (a return, os.exit, an error, a signal that
 * the command catches and turns into an exit), the terminal's modes and
 * the file status flags of standard input are put back by an atexit
 * handler: a terminal left raw or a shell's stdin left non-blocking is
 * the classic bug of such tools. SIGKILL cannot be caught: `stty sane`.
 *
 * A terminal is read through uv_tty, which reopens it (its own open file
 * description, made non-blocking) so that standard output, which shares
 * the original description, stays blocking; a pipe or socket through
 * uv_pipe; a regular file or device by plain read(2), which does not
 * block for long. The stream is read ahead up to 64 KiB, then paused
 * until a read() takes it. A reader keeps the runtime alive only while a
 * task waits on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "runtime/buf.h"
#include "runtime/runtime.h"
#include "term/tty.h"

#define READER_MT	"oclua.stdin_reader"
#define CHUNK		(64 * 1024)

typedef struct reader {
	oclua_runtime	*rt;
	union {
		uv_handle_t	handle;
		uv_stream_t	stream;
		uv_tty_t	tty;
		uv_pipe_t	pipe;
	} h;
	int		stream;		/* h is open (else plain read(2)) */
	int		reading;
	int		eof;
	int		error;		/* a libuv error code, or 0 */
	buf		data;
	int		task;
} reader;

static reader *the_reader;

/* what exit must put back */
static struct termios saved_modes;
static int raw_on;
static int saved_flags = -1;
static int exit_hook;

static void
restore_at_exit(void)
{
	if (raw_on) {
		tcsetattr(0, TCSADRAIN, &saved_modes);
		raw_on = 0;
	}
	if (saved_flags != -1) {
		fcntl(0, F_SETFL, saved_flags);
		saved_flags = -1;
	}
}

static void
hook_exit(void)
{
	if (!exit_hook) {
		atexit(restore_at_exit);
		exit_hook = 1;
	}
}

static reader *
check_reader(lua_State *L)
{
	return ocl_check_open(L, READER_MT, "stdin reader");
}

static void
wake(reader *r)
{
	int t = r->task;

	if (t != LUA_NOREF) {
		r->task = LUA_NOREF;
		r->rt->active--;
		uv_unref(&r->h.handle);
		ocl_wake(r->rt, NULL, t);
	}
}

static void
alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char chunk[CHUNK];

	(void)h; (void)hint;
	b->base = chunk;	/* copied out by on_read before the next */
	b->len = sizeof(chunk);
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	reader *r = s->data;

	if (n > 0) {
		if (buf_add(&r->data, b->base, (size_t)n))
			r->error = UV_ENOMEM;
	} else if (n < 0) {
		if (n != UV_EOF)
			r->error = (int)n;
		r->eof = 1;
	}
	if (r->eof || r->error || r->data.len >= CHUNK) {
		uv_read_stop(s);
		r->reading = 0;
	}
	if (n != 0)
		wake(r);
}

/* push what is buffered (at most CHUNK bytes), nil at the end, or raise */
static int
take(lua_State *L, reader *r)
{
	size_t n = r->data.len < CHUNK ? r->data.len : CHUNK;

	if (n) {
		lua_pushlstring(L, r->data.p, n);
		memmove(r->data.p, r->data.p + n, r->data.len - n);
		r->data.len -= n;
		return 1;
	}
	if (r->error)
		return luaL_error(L, "standard input: %s",
				  uv_strerror(r->error));
	lua_pushnil(L);
	return 1;
}

static int
rd_read(lua_State *L)
{
	reader *r = check_reader(L);

	lua_settop(L, 1);
	if (!r->stream) {
		char chunk[CHUNK];
		ssize_t n;

		do
			n = read(0, chunk, sizeof(chunk));
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return luaL_error(L, "standard input: %s",
					  strerror(errno));
		if (n == 0)
			lua_pushnil(L);
		else
			lua_pushlstring(L, chunk, (size_t)n);
		return 1;
	}
	if (r->data.len || r->eof || r->error) {
		int pushed = take(L, r);

		if (!r->reading && !r->eof && !r->error &&
		    uv_read_start(&r->h.stream, alloc_cb, on_read) == 0)
			r->reading = 1;
		return pushed;
	}
	if (r->task != LUA_NOREF)
		return luaL_error(L, "another task reads standard input");
	if (!r->reading) {
		int rc = uv_read_start(&r->h.stream, alloc_cb, on_read);

		if (rc)
			return luaL_error(L, "standard input: %s",
					  uv_strerror(rc));
		r->reading = 1;
	}
	r->rt->active++;
	uv_ref(&r->h.handle);
	return ocl_wait_retry(L, &r->task, rd_read);
}

static int
rd_size(lua_State *L)
{
	struct stat st;
	off_t at;

	check_reader(L);
	at = lseek(0, 0, SEEK_CUR);
	if (fstat(0, &st) || !S_ISREG(st.st_mode) || at < 0) {
		lua_pushnil(L);
		return 1;
	}
	lua_pushinteger(L, at < st.st_size ? (lua_Integer)(st.st_size - at) : 0);
	return 1;
}

static void
free_on_close(uv_handle_t *h)
{
	reader *r = h->data;

	buf_free(&r->data);
	free(r);
}

static void
reader_close(lua_State *L, reader *r)
{
	if (r->task != LUA_NOREF) {
		r->rt->active--;
		if (!r->rt->closing)
			luaL_unref(L, LUA_REGISTRYINDEX, r->task);
		r->task = LUA_NOREF;
	}
	the_reader = NULL;
	if (r->stream) {
		uv_close(&r->h.handle, free_on_close);
	} else {
		buf_free(&r->data);
		free(r);
	}
	if (saved_flags != -1) {
		fcntl(0, F_SETFL, saved_flags);
		saved_flags = -1;
	}
}

static int
rd_close(lua_State *L)
{
	reader **box = luaL_checkudata(L, 1, READER_MT);

	if (*box) {
		reader_close(L, *box);
		*box = NULL;
	}
	return 0;
}

static int
core_stdin_reader(lua_State *L)
{
	oclua_runtime *rt = ocl_rt(L);
	uv_handle_type type = uv_guess_handle(0);
	reader **box, *r;
	int rc = 0;

	if (the_reader)
		return luaL_error(L, "standard input has a reader already");
	box = lua_newuserdatauv(L, sizeof(*box), 0);
	*box = NULL;
	luaL_setmetatable(L, READER_MT);
	r = calloc(1, sizeof(*r));
	if (!r)
		return luaL_error(L, "out of memory");
	r->rt = rt;
	r->task = LUA_NOREF;
	hook_exit();
	if (saved_flags == -1)
		saved_flags = fcntl(0, F_GETFL);
	if (type == UV_TTY) {
		rc = uv_tty_init(rt->loop, &r->h.tty, 0, 1);
		r->stream = rc == 0;
	} else if (type == UV_NAMED_PIPE || type == UV_TCP) {
		uv_pipe_init(rt->loop, &r->h.pipe, 0);
		rc = uv_pipe_open(&r->h.pipe, 0);
		if (rc) {
			r->h.handle.data = r;
			uv_close(&r->h.handle, free_on_close);
			return luaL_error(L, "cannot watch standard input: %s",
					  uv_strerror(rc));
		}
		r->stream = 1;
	}
	/* else a file, a device, or nothing usable: read(2) */
	if (r->stream) {
		r->h.handle.data = r;
		uv_unref(&r->h.handle);
	}
	*box = the_reader = r;
	return 1;
}

/* nil and "<what> (<errno's words>)" */
static int
refuse(lua_State *L, const char *what)
{
	lua_pushnil(L);
	lua_pushfstring(L, "%s (%s)", what, strerror(errno));
	return 2;
}

static int
core_term_raw(lua_State *L)
{
	int on = lua_toboolean(L, 1);
	struct termios t;

	if (!on) {
		if (raw_on && tcsetattr(0, TCSADRAIN, &saved_modes))
			return refuse(L, "cannot restore the terminal");
		raw_on = 0;
		lua_pushboolean(L, 1);
		return 1;
	}
	if (raw_on) {
		lua_pushboolean(L, 1);
		return 1;
	}
	if (tcgetattr(0, &t))
		return refuse(L, "standard input is not a terminal");
	saved_modes = t;
	hook_exit();
	/* as ssh's enter_raw_mode */
	t.c_iflag |= IGNPAR;
	t.c_iflag &= ~(ISTRIP | INLCR | IGNCR | ICRNL | IXON | IXANY | IXOFF);
#ifdef IUCLC
	t.c_iflag &= ~IUCLC;
#endif
	t.c_lflag &= ~(ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHONL | IEXTEN);
	t.c_oflag &= ~OPOST;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(0, TCSADRAIN, &t))
		return refuse(L, "cannot set the terminal's modes");
	raw_on = 1;
	lua_pushboolean(L, 1);
	return 1;
}

static int
core_term_size(lua_State *L)
{
	int fd = (int)luaL_optinteger(L, 1, 1);
	struct winsize w;

	if (ioctl(fd, TIOCGWINSZ, &w) || w.ws_col == 0 || w.ws_row == 0) {
		lua_pushnil(L);
		return 1;
	}
	lua_pushinteger(L, w.ws_col);
	lua_pushinteger(L, w.ws_row);
	return 2;
}

static int
core_isatty(lua_State *L)
{
	lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
	return 1;
}

int
ocl_open_tty(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "read", rd_read }, { "size", rd_size }, { "close", rd_close },
		{ NULL, NULL }
	};
	static const luaL_Reg meta[] = {
		{ "__gc", rd_close }, { "__close", rd_close }, { NULL, NULL }
	};
	static const luaL_Reg fns[] = {
		{ "stdin_reader", core_stdin_reader },
		{ "term_raw", core_term_raw },
		{ "term_size", core_term_size },
		{ "isatty", core_isatty },
		{ NULL, NULL }
	};

	ocl_newclass(L, READER_MT, methods, meta);
	lua_pop(L, 1);
	luaL_setfuncs(L, fns, 0);
	return 0;
}
