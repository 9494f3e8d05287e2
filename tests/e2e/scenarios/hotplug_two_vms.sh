#!/bin/sh
# Two guests in one vmmd, scaled at the same time (concurrent ScaleVCPUs on different VMs),
# up and then down; each ends where it was asked to.
set -eu
. /e2e/lib.sh

start_vmmd
create_acpi_vm a 1 3
create_acpi_vm b 1 3
ctl start a
ctl start b
wait_for_line "$(console_file a)" '^@@GUEST-UP ' 240 a >/dev/null
wait_for_line "$(console_file b)" '^@@GUEST-UP ' 240 b >/dev/null

both() {  # both TARGET_A TARGET_B: concurrent scale requests, both must succeed
  vmmctl scale a --vcpus "$1" --timeout 90 >/tmp/scale-a.out 2>&1 &
  pa=$!
  vmmctl scale b --vcpus "$2" --timeout 90 >/tmp/scale-b.out 2>&1 &
  pb=$!
  wait $pa || fail "scale a to $1: $(cat /tmp/scale-a.out)"
  wait $pb || fail "scale b to $2: $(cat /tmp/scale-b.out)"
}
t0=$(now_ms)
both 3 2
time_since concurrent_scale_up "$t0"
check_scaled a 3 3
check_scaled b 2 3
t0=$(now_ms)
both 1 3
time_since concurrent_scale_mixed "$t0"
check_scaled a 1 3
check_scaled b 3 3
pass "two VMs scaled at once"
