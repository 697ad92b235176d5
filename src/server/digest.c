/*
 * digest.c - SHA-256 and base64 for the local server's image manifests
 * (protocol.md 8.6: the cache key is the SHA-256 of the manifest's
 * canonical JSON; file contents travel in base64), and HMAC-SHA256 for
 * its signed file URLs (protocol.md 5.1), on libcrypto, which the
 * WebSocket handshake already uses (ws_raw.c).
 *
 *     core.sha256(bytes)          -> 64 lower-case hex digits
 *     core.hmac_sha256(key, bytes) -> 64 lower-case hex digits of the
 *                                    HMAC-SHA256 (RFC 2104) of bytes
 *     core.base64_encode(bytes)   -> RFC 4648 4 base64, padded
 *     core.base64_decode(text)    -> bytes, or nil and what is wrong
 *
 * Decoding is strict: only the RFC 4648 4 alphabet, a length that is a
 * multiple of 4, "=" only as the padding of the last group (one or two),
 * and the bits the padding leaves over zero, so that each byte string
 * has exactly one text (no whitespace, no URL alphabet, no missing
 * padding).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "server/httpd.h"

/* push the `len` bytes of `md` as lower-case hex digits */
static void
push_hex(lua_State *L, const unsigned char *md, unsigned len)
{
	static const char hex[] = "0123456789abcdef";
	char out[2 * EVP_MAX_MD_SIZE];
	unsigned i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	lua_pushlstring(L, out, 2 * (size_t)len);
}

static int
core_sha256(lua_State *L)
{
	size_t n;
	const char *p = luaL_checklstring(L, 1, &n);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;

	if (!EVP_Digest(p, n, md, &len, EVP_sha256(), NULL))
		return luaL_error(L, "sha256: libcrypto failed");
	push_hex(L, md, len);
	return 1;
}

static int
core_hmac_sha256(lua_State *L)
{
	size_t kn, n;
	const char *key = luaL_checklstring(L, 1, &kn);
	const char *p = luaL_checklstring(L, 2, &n);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;

	if (kn > INT32_MAX)
		return luaL_error(L, "hmac_sha256: key too large");
	if (!HMAC(EVP_sha256(), key, (int)kn, (const unsigned char *)p, n,
		  md, &len))
		return luaL_error(L, "hmac_sha256: libcrypto failed");
	push_hex(L, md, len);
	return 1;
}

static int
core_base64_encode(lua_State *L)
{
	size_t n;
	const char *p = luaL_checklstring(L, 1, &n);
	luaL_Buffer b;
	char *out;
	int len;

	if (n > (size_t)INT32_MAX / 4 * 3 - 3)
		return luaL_error(L, "base64_encode: input too large");
	out = luaL_buffinitsize(L, &b, (n + 2) / 3 * 4 + 1);
	len = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)p,
			      (int)n);
	luaL_pushresultsize(&b, (size_t)len);
	return 1;
}

/* the value of a base64 digit, or -1 */
static int
digit(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int
refuse(lua_State *L, const char *why, size_t at)
{
	lua_pushnil(L);
	if (at == SIZE_MAX)
		lua_pushstring(L, why);
	else
		lua_pushfstring(L, "%s (at character %I)", why,
				(lua_Integer)at);
	return 2;
}

static int
core_base64_decode(lua_State *L)
{
	size_t n, i, pad = 0;
	const unsigned char *p =
		(const unsigned char *)luaL_checklstring(L, 1, &n);
	luaL_Buffer b;
	unsigned char *out;
	int len;

	if (n % 4)
		return refuse(L, "base64 length must be a multiple of 4",
			      SIZE_MAX);
	if (n > (size_t)INT32_MAX)
		return refuse(L, "base64 text too large", SIZE_MAX);
	if (n && p[n - 1] == '=')
		pad = n >= 2 && p[n - 2] == '=' ? 2 : 1;
	for (i = 0; i < n - pad; i++)
		if (digit(p[i]) < 0)
			return refuse(L, p[i] == '=' ? "base64 padding '=' "
				      "only ends the text" : "not a base64 "
				      "character", i);
	/* the last digit before the padding carries 4 (==) or 2 (=) unused
	 * bits: nonzero ones would make a second text for the same bytes */
	if (pad && (digit(p[n - pad - 1]) & (pad == 2 ? 15 : 3)))
		return refuse(L, "base64 padding bits must be zero",
			      n - pad - 1);
	out = (unsigned char *)luaL_buffinitsize(L, &b, n / 4 * 3 + 1);
	len = EVP_DecodeBlock(out, p, (int)n);
	if (len < 0)
		return refuse(L, "not base64", SIZE_MAX);
	luaL_pushresultsize(&b, (size_t)len - pad);
	return 1;
}

int
ocl_open_digest(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "sha256", core_sha256 },
		{ "hmac_sha256", core_hmac_sha256 },
		{ "base64_encode", core_base64_encode },
		{ "base64_decode", core_base64_decode },
		{ NULL, NULL }
	};

	luaL_setfuncs(L, fns, 0);
	return 0;
}
