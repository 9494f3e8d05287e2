#!/bin/sh
# The "pre-hotplug" guest: Debian bookworm's 6.1 kernel (no /sys/devices/system/cpu/enabled)
# boots under vmmd with 2 of 4 vCPUs; it sees exactly CPUs 0-1 online, and vmmd reports
# vCPUs 0-1 ONLINE and 2-3 PARKED. Later hotplug tests use this guest as the old-kernel case.
set -eu
. /e2e/lib.sh

start_vmmd

ctl create old --kernel "$GUEST_KERNEL_61" --initrd "$GUEST_INITRD" \
  --cmdline "$GUEST_CMDLINE vmmd.e2e=idle vmmd.e2e.dmesg=1" --memory-mib 256 --vcpus 2 \
  --max-vcpus 4
t0=$(now_ms)
ctl start old
up=$(wait_for_line "$(console_file old)" '^@@GUEST-UP ' 180 old)
time_since start_to_guest_up "$t0"
log "guest: $up"

[ "$(field "$up" online)" = 0-1 ] || fail "6.1 guest sees online=$(field "$up" online), expected 0-1"
[ "$(field "$up" enabled)" = - ] || fail "6.1 guest has enabled=$(field "$up" enabled), expected '-' (no such file in 6.1)"
pass "6.1 guest sees online=0-1 (and has no cpu/enabled)"

wait_for_line "$(console_file old)" '^@@DMESG-END' 30 old >/dev/null
if grep -a '^@@DMESG ' "$(console_file old)" >/dev/null; then
  log "guest kernel errors/warnings:"
  grep -a '^@@DMESG ' "$(console_file old)" >&9
fi

expect_cpu_states old "0:ONLINE 1:ONLINE 2:PARKED 3:PARKED" 10
pass "vmmctl cpus: 0-1 ONLINE, 2-3 PARKED"
