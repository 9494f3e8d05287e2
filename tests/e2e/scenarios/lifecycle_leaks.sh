#!/bin/sh
# 300 create/start/delete cycles of a small direct-boot VM (64 MiB, 1 of 2 vCPUs): vmmd's
# threads, open fds and RSS stay flat. Measured after the first 150 cycles and after all 300;
# printed, and the second half may add: threads +0, fds +0, RSS +3 MiB (a leak of 20 KiB per
# cycle would exceed it). The first half is the warm-up: glibc's malloc arenas (one per thread
# that allocated while another held the main one, up to 8 per CPU) grow to their high-water mark
# and keep it; in the nested bed RSS rose 4-10 MiB over the first 100-150 cycles, then stayed
# within 0.1 MiB over the next 150-200. e2e-driver makes the calls on one channel (vmmctl would
# pay its start-up three times per cycle).
. /e2e/lib.sh

CYCLES=300
start_vmmd
t0=$(now_ms)
out=$(e2e-driver cycles "$VMMD_SOCK" "$VMMD_PID" "$CYCLES" "$GUEST_KERNEL" "$GUEST_INITRD" "$GUEST_CMDLINE") ||
  fail "cycles failed: $out"
time_since lifecycle_cycles "$t0"
echo "$out" >&9
check_vmmd
line=$(echo "$out" | grep '^@@CYCLES ')
[ -n "$line" ] || fail "no @@CYCLES line from e2e-driver: $out"
t=$(field "$line" threads) f=$(field "$line" fds) r=$(field "$line" rss_kib)
t_w=${t%->*} t_e=${t#*->} f_w=${f%->*} f_e=${f#*->} r_w=${r%->*} r_e=${r#*->}
[ "$(list_names)" = "" ] || fail "VMs left after the cycles: $(list_names)"
[ "$t_e" -le "$t_w" ] || fail "threads grew from $t_w to $t_e over the cycles"
[ "$f_e" -le "$f_w" ] || fail "open fds grew from $f_w to $f_e over the cycles"
[ "$r_e" -le $((r_w + 3072)) ] || fail "RSS grew from $r_w to $r_e KiB over the cycles"
pass "$CYCLES create/start/delete cycles: threads $t, fds $f, RSS $r KiB"
