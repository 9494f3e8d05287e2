#!/bin/sh
# A guest that powers itself off (PSCI SYSTEM_OFF) stops only its own VM: it becomes STOPPED,
# another VM stays RUNNING and its guest keeps running. Then delete frees the stopped VM: it is
# gone from the list and its name can be used again.
set -eu
. /e2e/lib.sh

start_vmmd

# keeper: an idle guest with a 1 s heartbeat (@@TICK n) to prove it keeps running.
create_vm keeper 1 2 "vmmd.e2e=idle vmmd.e2e.tick=1"
ctl start keeper
wait_for_line "$(console_file keeper)" '^@@GUEST-UP ' 180 keeper >/dev/null
pass "keeper up"

create_vm off 2 2 "vmmd.e2e=poweroff"
t0=$(now_ms)
ctl start off
wait_for_line "$(console_file off)" '^@@GUEST-UP ' 180 off >/dev/null
time_since off_start_to_guest_up "$t0"
t1=$(now_ms)
wait_for_state off STOPPED 60
time_since off_guest_up_to_stopped "$t1"
log "off: state STOPPED, reason: $(vm_field off reason)"
if grep -a '@@GUEST-POWEROFF-RETURNED' "$(console_file off)" >/dev/null; then
  fail "the guest's poweroff returned"
fi
pass "off: SYSTEM_OFF -> STOPPED"

[ "$(vm_field keeper state)" = RUNNING ] || fail "keeper is '$(vm_field keeper state)' after off's poweroff, expected RUNNING"
ticks_then=$(grep -ac '^@@TICK ' "$(console_file keeper)" || true)
wait_for_line "$(console_file keeper)" "^@@TICK $((ticks_then + 2)) " 30 keeper >/dev/null
[ "$(vm_field keeper state)" = RUNNING ] || fail "keeper is '$(vm_field keeper state)', expected RUNNING"
pass "keeper still RUNNING and its guest still ticking (tick $ticks_then -> $((ticks_then + 2)))"

ctl delete off
names=$(list_names)
[ "$names" = keeper ] || fail "vmmctl list shows '$names' after delete off, expected 'keeper'"
expect_error NOT_FOUND get off
pass "off deleted: gone from vmmctl list"

[ ! -e "$(console_file off)" ] || fail "DeleteVm left $(console_file off) behind"
pass "DeleteVm removed off's console log"
create_vm off 1 1 "vmmd.e2e=poweroff"
[ "$(vm_field off state)" = CREATED ] || fail "re-created off is '$(vm_field off state)', expected CREATED"
pass "the name 'off' can be used again"
ctl delete off

ctl stop keeper
wait_for_state keeper STOPPED 30
pass "keeper stopped by vmmctl stop"
ctl list
