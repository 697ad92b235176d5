#!/bin/sh
# scripts/bench/pool_cost.sh - what one idle sandbox of the warm pool
# costs (issue 14, "Bursts"; README "Warm pool"): an `oclua serve
# --warm-pool N` is started in a memory cgroup of its own, and once its
# pool is full the memory charged to it (its slirp4netns processes, the
# kernel objects it makes: namespaces, mounts) and to the pooled
# sandboxes' own cgroups is compared with the same server at --warm-pool 0.
# (process memory and kernel memory, file cache left out). Also counts the processes (slirp4netns in the server's cgroup, init in
# its sandbox's) and the server's own CPU time per pooled sandbox.
#   sh scripts/bench/pool_cost.sh [N]   (root, cgroup v1 memory controller)
set -eu
N=${1:-50}
BIN=${OCLUA:-./oclua}
CG=/sys/fs/cgroup/memory/oclua-pool-cost-$$
[ -d /sys/fs/cgroup/memory ] || { echo "pool_cost.sh: needs the cgroup v1 memory controller" >&2; exit 1; }
mkdir "$CG"
log=$(mktemp)
cleanup() { [ -n "${srv:-}" ] && kill "$srv" 2>/dev/null; sleep 1; rmdir "$CG" 2>/dev/null || true; rm -f "$log"; }
trap cleanup EXIT INT TERM

# the memory a cgroup holds that is not file cache: process memory
# (rss, shmem) and kernel memory (kmem: slab, page tables, stacks)
charged() {
	echo $(( $(cat "$1/memory.kmem.usage_in_bytes" 2>/dev/null || echo 0) +
		$(awk '$1 == "rss" || $1 == "shmem" {s += $2} END {print s + 0}' "$1/memory.stat" 2>/dev/null || echo 0) ))
}

# one server with a pool of $1; prints "charged_bytes sandboxes_bytes procs cpu_s"
measure() {
	data=$(mktemp -d)
	sh -c "echo \$\$ > $CG/cgroup.procs; exec env OCLUA_SERVE_API_KEY=x $BIN serve --listen 127.0.0.1:0 --data-dir $data --warm-pool $1" >"$log" 2>&1 &
	srv=$!
	until grep -q 'listening on' "$log"; do sleep 0.1; done
	# wait for the pool: $1 directories holding the marker
	i=0
	while [ "$(ls "$data"/sandboxes/*/pooled 2>/dev/null | wc -l)" -lt "$1" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
	sleep 2
	echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
	sb=0
	for d in "$data"/sandboxes/sb-*; do
		[ -e "$d/pooled" ] || continue
		u=$(charged "/sys/fs/cgroup/memory/oclua/$(basename "$d")")
		sb=$((sb + u))
	done
	procs=$(($(wc -l < "$CG/cgroup.procs") + $(ls -d "$data"/sandboxes/*/pooled 2>/dev/null | wc -l)))
	cpu=$(awk '{print ($14+$15)/100}' /proc/$srv/stat)
	echo "$(charged "$CG") $sb $procs $cpu"
	kill "$srv"; wait "$srv" 2>/dev/null || true; srv=
	sleep 2
	rm -rf "$data"
}
set -- $(measure 0) $(measure "$N")
awk -v n="$N" -v s0="$1" -v p0="$3" -v s1="$5" -v sb="$6" -v p1="$7" -v c0="$4" -v c1="$8" 'BEGIN {
	printf "{\"pool\":%d,\"server_kib_per_sandbox\":%.0f,\"sandbox_cgroup_kib\":%.0f,", n, (s1 - s0) / n / 1024, sb / n / 1024
	printf "\"processes_per_sandbox\":%.2f,\"server_cpu_ms_per_sandbox\":%.1f}\n", (p1 - p0) / n, (c1 - c0) * 1000 / n }'
