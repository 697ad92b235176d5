# oclua - build, test and install. `make` installs missing Debian packages
# first (scripts/deps.sh), then builds ./oclua and build/liboclua.a.

PKG_CONFIG ?= pkg-config
PREFIX     ?= /usr/local
CC         ?= cc

PKGS     = lua5.4 lua5.4-cjson libuv libcurl libwebsockets
WARN     = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter
CFLAGS  ?= -O2 -g
SAN     ?=
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) $(SAN) -fPIC -MMD -MP \
             $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
LIBS     = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lm

B        = build$(if $(SAN),/san)
LIB_SRC  = src/runtime.c src/timer.c src/http.c src/websocket.c src/lws.c \
           src/buf.c src/fs.c
LUA_SRC  = $(sort $(wildcard lua/*/*.lua lua/*.lua))
LIB_OBJ  = $(LIB_SRC:src/%.c=$(B)/%.o) $(B)/embedded_lua.o
DEPS     = build/deps.stamp

.PHONY: all deps test test-memory clean install bench demo

all: oclua$(if $(SAN),-san)

deps: $(DEPS)
$(DEPS): scripts/deps.sh
	@sh scripts/deps.sh
	@mkdir -p build && touch $@

$(B)/%.o: src/%.c | $(DEPS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

build/embed: src/tools/embed.c | $(DEPS)
	@mkdir -p build
	$(CC) -O2 -Wall -Wextra -o $@ $<

$(B)/embedded_lua.c: build/embed $(LUA_SRC)
	@mkdir -p $(@D)
	build/embed $@ $(LUA_SRC)

$(B)/embedded_lua.o: $(B)/embedded_lua.c
	$(CC) $(ALL_CFLAGS) -Isrc -c -o $@ $<

$(B)/liboclua.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

oclua$(if $(SAN),-san): $(B)/main.o $(B)/liboclua.a
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LIBS)

build/oclua-testpeer: spec/support/peer.c | $(DEPS)
	@mkdir -p build
	$(CC) -std=gnu11 $(WARN) -O2 -g -o $@ $< \
		$(shell $(PKG_CONFIG) --cflags --libs libwebsockets)

test: oclua build/oclua-testpeer
	@sh scripts/run-specs.sh ./oclua

# the specs under AddressSanitizer + UndefinedBehaviorSanitizer (with
# LeakSanitizer): any report fails the run
test-memory: build/oclua-testpeer
	$(MAKE) SAN="-fsanitize=address,undefined -fno-omit-frame-pointer" \
		CFLAGS="-O1 -g" oclua-san
	@OCLUA_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		sh scripts/run-specs.sh ./oclua-san

bench: oclua build/oclua-testpeer
	@sh scripts/bench/run-all.sh

install: oclua $(B)/liboclua.a
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
		$(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/share/lua/5.4/opencomputer
	install -m 755 oclua $(DESTDIR)$(PREFIX)/bin/oclua
	install -m 644 $(B)/liboclua.a $(DESTDIR)$(PREFIX)/lib/liboclua.a
	install -m 644 src/oclua.h $(DESTDIR)$(PREFIX)/include/oclua.h
	install -m 644 lua/opencomputer/*.lua \
		$(DESTDIR)$(PREFIX)/share/lua/5.4/opencomputer/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n \
		's/.*OCLUA_VERSION "\(.*\)"/\1/p' src/oclua.h)|' \
		oclua.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/oclua.pc

clean:
	rm -rf build oclua oclua-san

-include $(wildcard $(B)/*.d)
