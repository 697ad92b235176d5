#!/bin/sh
# scripts/deps.sh - install the Debian packages oclua needs, only those
# missing. `apt-get update` runs once, and only when something is missing.
# Usage: scripts/deps.sh [extra-package...]
set -e
# openssl and socat: the test peer's TLS front (scripts/run-specs.sh).
# The sandbox engine: libseccomp-dev (its static library goes into the
# sandboxes' init), slirp4netns (their outbound network), sudo (the
# sandbox user's, as in the cloud), btrfs-progs (mkfs.btrfs for the
# image that holds the sandboxes' files under per-sandbox quotas; this
# kernel's ext4 and XFS have no quota support built in).
# vim-tiny: a vi for the terminal specs (spec/pty_spec.lua: a
# full-screen program in a sandbox, whose /usr is the host's).
# lua5.4 and luarocks: the rock (oclua-0.1.0-1.rockspec), built by
# Debian's luarocks and used from a stock lua5.4 in spec/rock_spec.lua.
# tmux: spec/repl_spec.lua types into the REPL in a terminal window as a
# person would and reads the screen back. (libtinfo, which the editor
# asks whether a terminal can be driven, comes with libedit-dev's
# libncurses-dev.)
# mandoc, man-db and groff-base: spec/manpage_spec.lua lints the manual
# pages (mandoc -Tlint is the strict checker; groff -ww and man -l are
# what Debian's `man` renders them with).
# clang and its runtime libraries: libFuzzer and the sanitizers for the
# fuzz targets (fuzz/, `make fuzz`; `make test` replays their corpora).
PKGS="liblua5.4-dev libuv1-dev libcurl4-openssl-dev libwebsockets-dev
libwebsockets-evlib-uv lua-cjson-dev lua-busted pkg-config libhttp-parser-dev
perl procps libedit-dev openssl socat libseccomp-dev slirp4netns sudo
btrfs-progs clang libclang-rt-14-dev vim-tiny lua5.4 luarocks tmux mandoc
man-db groff-base $*"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing Debian packages:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends $missing
