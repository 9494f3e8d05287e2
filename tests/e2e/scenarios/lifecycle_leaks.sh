#!/bin/sh
# 600 create/start/delete cycles of a small direct-boot VM (64 MiB, 1 of 2 vCPUs): vmmd's
# threads, open fds and RSS stay flat. Measured after 300 cycles and after 600; printed, and the
# second half may add: threads +0, fds +0, RSS +2 MiB (a leak of 8 KiB per cycle would exceed
# it). The first half is the warm-up: vmmd's RSS steps up once or twice by 8-10 MiB in all
# between cycle ~100 and ~250 (glibc's allocator settling its heaps: the step does not repeat),
# then stays within 0.1 MiB (nested bed, 3 runs). e2e-driver makes the calls on one channel
# (vmmctl would pay its start-up three times per cycle).
. /e2e/lib.sh

CYCLES=600
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
[ "$r_e" -le $((r_w + 2048)) ] || fail "RSS grew from $r_w to $r_e KiB over the cycles"
pass "$CYCLES create/start/delete cycles: threads $t, fds $f, RSS $r KiB"
