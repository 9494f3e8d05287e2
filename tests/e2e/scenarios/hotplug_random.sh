#!/bin/sh
# 20 random vCPU targets in a row on one running guest: each ends in exactly the requested
# state (the guest's own sysfs and vmmd agree), and nothing hangs.
set -eu
. /e2e/lib.sh

MAX=4
start_vmmd
create_acpi_vm rnd 1 $MAX
ctl start rnd
wait_for_line "$(console_file rnd)" '^@@GUEST-UP ' 240 rnd >/dev/null
seed=$(now_ms)
log "random seed $seed"
targets=$(awk -v s="$seed" -v m=$MAX 'BEGIN { srand(s); for (i = 0; i < 20; i++) printf "%d ", 1 + int(rand() * m) }')
log "targets: $targets"
t0=$(now_ms)
i=0
for n in $targets; do
  i=$((i + 1))
  ctl scale rnd --vcpus "$n" --timeout 60 >/dev/null
  check_scaled rnd "$n" $MAX
done
time_since twenty_scales "$t0"
pass "20 random targets, each reached"
