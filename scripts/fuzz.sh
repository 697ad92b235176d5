#!/bin/sh
# scripts/fuzz.sh - `make fuzz`: run each libFuzzer target for SECONDS,
# growing its corpus in fuzz/corpus/NAME/ (new inputs there are worth
# committing), then print one line per target: executions, crashes, corpus.
# A crash leaves its input as build/fuzz/crash-NAME-* and fails the run.
# Usage: scripts/fuzz.sh SECONDS build/fuzz/NAME...
set -u
secs=$1
shift
status=0
for bin in "$@"; do
	name=$(basename "$bin")
	corpus=fuzz/corpus/$name
	mkdir -p "$corpus"
	log=build/fuzz/$name.log
	dict=""
	[ -f "fuzz/$name.dict" ] && dict="-dict=fuzz/$name.dict"
	bound="-max_total_time=$secs"
	[ -n "${FUZZ_RUNS:-}" ] && bound="-runs=$FUZZ_RUNS"
	"$bin" $bound -print_final_stats=1 -timeout=10 \
		-rss_limit_mb=4096 $dict \
		-artifact_prefix="build/fuzz/crash-$name-" "$corpus" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	size=$(ls "$corpus" | wc -l)
	if [ $rc -eq 0 ]; then
		echo "fuzz $name: ${execs:-?} executions, 0 crashes, corpus $size"
	else
		echo "fuzz $name: CRASH after ${execs:-?} executions (log: $log)"
		status=1
	fi
done
exit $status
