# oclua - build, test and install. `make` installs missing Debian packages
# first (scripts/deps.sh), then builds ./oclua and build/liboclua.a.

PKG_CONFIG ?= pkg-config
PREFIX     ?= /usr/local
CC         ?= cc

CORE_PKGS = lua5.4 lua5.4-cjson libuv
# libcrypto: SHA-1 and base64 of the WebSocket handshake (ws_raw.c,
# httpd_ws.c); OpenSSL is well kept and already loaded with libcurl and
# libwebsockets, so it costs nothing more (named here because we call it)
NET_PKGS  = libcurl libwebsockets libcrypto
WARN     = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter
CFLAGS  ?= -O2 -g
SAN     ?=
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) $(SAN) -fPIC -MMD -MP -Isrc \
             $(shell $(PKG_CONFIG) --cflags $(CORE_PKGS) $(NET_PKGS) 2>/dev/null)
CORE_LIBS = $(shell $(PKG_CONFIG) --libs $(CORE_PKGS) 2>/dev/null) -ldl -lm
NET_LIBS  = $(shell $(PKG_CONFIG) --libs $(NET_PKGS) 2>/dev/null) -lhttp_parser -ledit -ltinfo

# The binary keeps the network half (libcurl, libwebsockets: about 5 ms
# of loading at every start) in a plugin it loads on first use;
# liboclua.a, for embedders, has everything in.
B        = build$(if $(SAN),/san)
BIN      = oclua$(if $(SAN),-san)
# one folder per component (each file says what it owns); src/core/
# assembles them into opencomputer.core
INIT_SRC = src/sandbox/init.c src/sandbox/seccomp.c src/sandbox/err.c
CORE_SRC = $(filter-out src/sandbox/init.c src/sandbox/seccomp.c, \
           $(wildcard src/runtime/*.c src/sandbox/*.c)) src/core/core.c
NET_SRC  = $(wildcard src/client/*.c src/server/*.c src/term/*.c) \
           src/core/net.c
LUA_SRC  = $(sort $(wildcard lua/*.lua lua/*/*.lua lua/*/*/*.lua))
CORE_OBJ = $(CORE_SRC:src/%.c=$(B)/%.o) $(B)/embedded_lua.o
BIN_OBJ  = $(filter-out $(B)/core/core.o,$(CORE_OBJ))
NET_OBJ  = $(NET_SRC:src/%.c=$(B)/%.o)
# the rock's Lua C module opencomputer.core (oclua-0.1.0-1.rockspec): the
# library's objects with core.c built as a module, without the embedded
# Lua (the rock installs lua/ as it is). Not linked with liblua: the
# interpreter that loads it has Lua (Debian's lua5.4 exports it).
MOD_OBJ  = $(BIN_OBJ:$(B)/embedded_lua.o=) $(B)/core/core-module.o $(NET_OBJ)
MOD_LIBS = $(filter-out -llua5.4,$(CORE_LIBS)) $(NET_LIBS)
MOD      = $(B)/opencomputer/core.so
DEPS     = build/deps.stamp

.PHONY: all deps test test-memory compat clean install bench demo fuzz \
	module install-module

all: $(BIN) $(B)/liboclua.a

deps: $(DEPS)
$(DEPS): scripts/deps.sh
	@sh scripts/deps.sh
	@mkdir -p build && touch $@

$(B)/%.o: src/%.c | $(DEPS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# core.c twice: with the plugin loader (the binary), without (the library)
$(B)/core/core-plugin.o: src/core/core.c | $(DEPS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -DOCLUA_NET_PLUGIN='"$(B)/oclua-net.so"' -c -o $@ $<

$(B)/core/core-module.o: src/core/core.c | $(DEPS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -DOCLUA_LUA_MODULE -c -o $@ $<

# PID 1 of every sandbox: a static program of its own (libseccomp linked
# in), carried inside the library and the binary by image.c. Never built
# with the sanitizers: it runs inside the sandboxes.
build/oclua-init: $(INIT_SRC) src/sandbox/box.h src/sandbox/seccomp.h \
		src/sandbox/err.h | $(DEPS)
	@mkdir -p build
	$(CC) -std=gnu11 $(WARN) -O2 -g -Isrc -static -o $@ $(INIT_SRC) \
		-l:libseccomp.a

$(B)/sandbox/image.o: src/sandbox/image.c build/oclua-init
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -DOCLUA_INIT_BIN='"build/oclua-init"' -c -o $@ $<

build/embed: src/tools/embed.c | $(DEPS)
	@mkdir -p build
	$(CC) -O2 -Wall -Wextra -o $@ $<

$(B)/embedded_lua.c: build/embed $(LUA_SRC)
	@mkdir -p $(@D)
	build/embed $@ $(LUA_SRC)

$(B)/embedded_lua.o: $(B)/embedded_lua.c
	$(CC) $(ALL_CFLAGS) -Isrc -c -o $@ $<

$(B)/liboclua.a: $(CORE_OBJ) $(NET_OBJ)
	rm -f $@
	ar rcs $@ $^

$(B)/oclua-net.so: $(NET_OBJ)
	$(CC) $(CFLAGS) $(SAN) -shared -o $@ $^ $(NET_LIBS)

module: $(MOD)
$(MOD): $(MOD_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN) -shared -o $@ $^ $(MOD_LIBS)

# the binary: the library's core objects, exported (-rdynamic) for the
# plugin to use
$(BIN): $(B)/cli/main.o $(B)/core/core-plugin.o $(BIN_OBJ) $(B)/oclua-net.so
	$(CC) $(CFLAGS) $(SAN) -rdynamic -o $@ $(B)/cli/main.o \
		$(B)/core/core-plugin.o $(BIN_OBJ) $(CORE_LIBS)

# a C host embedding the runtime through oclua.h (spec/embed_spec.lua)
$(B)/embed-host: spec/support/embed_host.c $(B)/liboclua.a
	$(CC) $(ALL_CFLAGS) -Isrc -o $@ $< $(B)/liboclua.a $(CORE_LIBS) $(NET_LIBS)

build/oclua-testpeer: spec/support/peer.c | $(DEPS)
	@mkdir -p build
	$(CC) -std=gnu11 $(WARN) -O2 -g -o $@ $< \
		$(shell $(PKG_CONFIG) --cflags --libs libwebsockets)

# Fuzz targets (fuzz/NAME.c, each a LLVMFuzzerTestOneInput over the parser
# it names): clang's libFuzzer with ASan+UBSan, linked against the whole
# library built the same way (build/fuzz/). The corpus of each is kept in
# fuzz/corpus/NAME/.
FUZZ_CC   = clang
FUZZ_SAN  = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
            -fno-omit-frame-pointer
FUZZ_SRC  = $(wildcard fuzz/*.c)
FUZZ_BIN  = $(FUZZ_SRC:fuzz/%.c=build/fuzz/%)
FUZZ_LIBOBJ = $(CORE_SRC:src/%.c=build/fuzz/lib/%.o) \
            $(NET_SRC:src/%.c=build/fuzz/lib/%.o) build/fuzz/lib/embedded_lua.o
FUZZ_TIME ?= 600

build/fuzz/lib/%.o: src/%.c | $(DEPS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(filter-out $(SAN),$(ALL_CFLAGS)) -O1 -g \
		$(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/lib/sandbox/image.o: src/sandbox/image.c build/oclua-init
	@mkdir -p $(@D)
	$(FUZZ_CC) $(ALL_CFLAGS) -DOCLUA_INIT_BIN='"build/oclua-init"' -c -o $@ $<

build/fuzz/lib/embedded_lua.o: $(B)/embedded_lua.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(ALL_CFLAGS) -c -o $@ $<

build/fuzz/liboclua.a: $(FUZZ_LIBOBJ)
	rm -f $@
	ar rcs $@ $^

build/fuzz/%: fuzz/%.c build/fuzz/liboclua.a
	$(FUZZ_CC) $(filter-out $(SAN),$(ALL_CFLAGS)) -O1 -g $(FUZZ_SAN) \
		-fsanitize=fuzzer -o $@ $< build/fuzz/liboclua.a \
		$(CORE_LIBS) $(NET_LIBS)

# every target for FUZZ_TIME seconds (or FUZZ_RUNS executions), growing
# its corpus
fuzz: $(FUZZ_BIN)
	@FUZZ_RUNS=$(FUZZ_RUNS) sh scripts/fuzz.sh $(FUZZ_TIME) $(FUZZ_BIN)

# the specs, then the official SDK's compatibility suite (scripts/compat)
test: oclua build/oclua-testpeer build/embed-host $(FUZZ_BIN)
	@sh scripts/test-all.sh ./oclua

# the official TypeScript SDK (@opencomputer/sdk, pinned) against oclua
# serve; skipped with a message when Node.js is absent
compat: oclua
	@sh scripts/compat/run.sh ./oclua

# the specs under AddressSanitizer + UndefinedBehaviorSanitizer (with
# LeakSanitizer): any report fails the run
test-memory: build/oclua-testpeer
	$(MAKE) SAN="-fsanitize=address,undefined -fno-omit-frame-pointer" \
		CFLAGS="-O1 -g" oclua-san build/san/embed-host
	@OCLUA_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		sh scripts/run-specs.sh ./oclua-san

# an example script against the embedded local server
demo: oclua
	./oclua examples/hello.lua

bench: oclua build/oclua-testpeer
	@sh scripts/bench/run-all.sh
	@sh scripts/bench/compare.sh

# the module for a stock lua5.4: the Lua files into LUADIR, the C module
# into LIBDIR (luarocks passes its tree's; `make install`, PREFIX's)
LUADIR ?= $(DESTDIR)$(PREFIX)/share/lua/5.4
LIBDIR ?= $(DESTDIR)$(PREFIX)/lib/lua/5.4
install-module: $(MOD)
	install -d $(LIBDIR)/opencomputer
	install -m 755 $(MOD) $(LIBDIR)/opencomputer/core.so
	cd lua && find opencomputer -name '*.lua' -exec install -D -m 644 \
		{} $(LUADIR)/{} \;

install: oclua $(B)/liboclua.a install-module
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/oclua \
		$(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 oclua $(DESTDIR)$(PREFIX)/bin/oclua
	install -m 644 oclua.1 oclua-serve.1 $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 $(B)/liboclua.a $(DESTDIR)$(PREFIX)/lib/liboclua.a
	install -m 644 $(B)/oclua-net.so $(DESTDIR)$(PREFIX)/lib/oclua/oclua-net.so
	install -m 644 src/oclua.h $(DESTDIR)$(PREFIX)/include/oclua.h
	# the LuaCATS annotations for editors (README, "Editor set-up")
	cd meta && find . -name '*.lua' -exec install -D -m 644 \
		{} $(DESTDIR)$(PREFIX)/share/oclua/meta/{} \;
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n \
		's/.*OCLUA_VERSION "\(.*\)"/\1/p' src/oclua.h)|' \
		oclua.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/oclua.pc

clean:
	rm -rf build oclua oclua-san

-include $(wildcard $(B)/*.d $(B)/*/*.d build/fuzz/*.d build/fuzz/lib/*/*.d)
