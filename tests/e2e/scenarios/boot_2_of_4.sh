#!/bin/sh
# A VM with 2 of 4 vCPUs boots (DT) to guest userspace: the guest sees exactly CPUs 0-1 online,
# and vmmd reports vCPUs 0-1 ONLINE and 2-3 PARKED. Times create -> start -> @@GUEST-UP.
set -eu
. /e2e/lib.sh

start_vmmd

time_start create
create_vm vm1 2 4 "vmmd.e2e=idle vmmd.e2e.dmesg=1"
time_end create
[ "$(vm_field vm1 state)" = CREATED ] || fail "vm1 is '$(vm_field vm1 state)' after create, expected CREATED"
pass "vm1 CREATED"

t_start=$(now_ms)
time_start start
ctl start vm1
time_end start
up=$(wait_for_line "$(console_file vm1)" '^@@GUEST-UP ' 180 vm1)
time_since start_to_guest_up "$t_start"
log "guest: $up"

online=$(field "$up" online)
[ "$online" = 0-1 ] || fail "guest sees online=$online, expected 0-1"
pass "guest sees online=0-1"

wait_for_line "$(console_file vm1)" '^@@DMESG-END' 30 >/dev/null
if grep -a '^@@DMESG ' "$(console_file vm1)" >/dev/null; then
  log "guest kernel errors/warnings:"
  grep -a '^@@DMESG ' "$(console_file vm1)" >&9
fi

expect_cpu_states vm1 "0:ONLINE 1:ONLINE 2:PARKED 3:PARKED" 10
pass "vmmctl cpus: 0-1 ONLINE, 2-3 PARKED"
ctl cpus vm1

row=$(list_row vm1)
[ "$row" = "RUNNING 2/4 256" ] || fail "vmmctl list row for vm1 is '$row', expected 'RUNNING 2/4 256'"
pass "vmmctl list: vm1 RUNNING 2/4 256"
