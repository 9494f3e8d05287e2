#!/bin/sh
# What one vmmctl call costs a shell script in the bed (prints numbers, asserts nothing): RUNS
# times each (default 20; L1_APPEND=vmmd_bench.runs=K), one after the other:
#   help   `vmmctl --help`: the program's start alone (loading, static initialisers, flags)
#   list   `vmmctl list` against the running vmmd with no VM: start + connect + one call
#
#   tests/e2e/l1-run tests/e2e/bench/vmmctl_start.sh
#
# Lines: @@VMMCTL <help|list> median=<ms> min=<ms> max=<ms> all: <ms ...>
set -eu
. /e2e/lib.sh

RUNS=$(cmdline_arg vmmd_bench.runs 20)

# measure WHAT CMD...: runs CMD RUNS times, prints the @@VMMCTL line.
measure() {
  local what=$1 ms= i=0 t
  shift
  while [ "$i" -lt "$RUNS" ]; do
    t=$(now_ms)
    "$@" >/dev/null 2>&1 || true
    ms="$ms $(($(now_ms) - t))"
    i=$((i + 1))
  done
  log "@@VMMCTL $what $(echo $ms | tr ' ' '\n' | sort -n |
    awk '{ x[NR] = $1 } END { printf "median=%d min=%d max=%d", x[int((NR + 1) / 2)], x[1], x[NR] }') all:$ms"
}

start_vmmd
log "vmmctl: $(wc -c <"$(command -v vmmctl)") bytes"
measure help vmmctl --help
measure list ctl list
log "@@BENCH done; L1 load $(cut -d' ' -f1-3 /proc/loadavg)"
