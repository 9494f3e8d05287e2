#!/bin/sh
# StopVm through the ACPI power button. A 6.12 guest with ACPI (UEFI; ACPI direct boot in the
# acpi_direct group) whose /init handles KEY_POWER as systemd-logind does
# (tests/e2e/guest/init: @@POWER-BUTTON, then poweroff -f): `vmmctl stop` presses the button
# and returns once the guest has powered off — its console shows @@POWER-BUTTON and the
# kernel's "reboot: Power down" — the VM is STOPPED "guest powered off", well within the
# default 30 s timeout. A UEFI guest still in its firmware ignores the button: it is stopped
# anyway after `--timeout`, and the reason says so. `vmmctl stop --force` stops a running
# guest at once, without the button.
set -eu
. /e2e/lib.sh

start_vmmd

# count_lines VM REGEX: how many console lines of VM match.
count_lines() { grep -acE -- "$2" "$(console_file "$1")" 2>/dev/null || true; }

# wait_for_count VM REGEX N TIMEOUT_S: until at least N console lines of VM match.
wait_for_count() {
  local end
  end=$(($(now_ms) + $4 * 1000))
  while [ "$(count_lines "$1" "$2")" -lt "$3" ]; do
    check_vmmd
    [ "$(now_ms)" -lt "$end" ] || fail "fewer than $3 lines matching /$2/ in $1's console after $4s"
    sleep 0.2
  done
}

create_acpi_vm gs 2 4 "vmmd.e2e=idle"
t0=$(now_ms)
ctl start gs
wait_for_line "$(console_file gs)" '^@@GUEST-UP ' 300 gs >/dev/null
time_since start_to_guest_up "$t0"
ready=$(wait_for_line "$(console_file gs)" '^@@POWER-BUTTON-READY ' 60 gs)
pass "the guest watches its ACPI power button (${ready#@@POWER-BUTTON-READY })"

# 1. Graceful: the guest powers off on the button.
t0=$(now_ms)
ctl stop gs
took=$(($(now_ms) - t0))
time_since graceful_stop "$t0"
state=$(vm_field gs state)
reason=$(vm_field gs reason)
[ "$state" = STOPPED ] || fail "after vmmctl stop gs: state '$state' (reason: $reason), expected STOPPED"
[ "$reason" = "guest powered off" ] ||
  fail "after vmmctl stop gs: reason '$reason', expected 'guest powered off' (forced after ${took} ms?)"
[ "$took" -lt 30000 ] || fail "vmmctl stop gs took ${took} ms, not less than its 30 s timeout"
[ "$(count_lines gs '^@@POWER-BUTTON uptime=')" = 1 ] ||
  fail "the guest's console has no @@POWER-BUTTON line (KEY_POWER never reached /init)"
grep -aq 'reboot: Power down' "$(console_file gs)" ||
  fail "the guest's console has no 'reboot: Power down' (it did not power off itself)"
pass "vmmctl stop: @@POWER-BUTTON, 'reboot: Power down', STOPPED 'guest powered off' in ${took} ms"

# 2. A guest still in its firmware ignores the button: forced after --timeout. (An ACPI direct
# boot has no firmware stage: its kernel starts at once.)
if [ "$E2E_ACPI_BOOT" = uefi ]; then
  ctl start gs
  t0=$(now_ms)
  ctl stop gs --timeout=5
  took=$(($(now_ms) - t0))
  time_since firmware_forced_stop "$t0"
  state=$(vm_field gs state)
  reason=$(vm_field gs reason)
  [ "$state" = STOPPED ] || fail "after vmmctl stop gs --timeout=5: state '$state', expected STOPPED"
  case "$reason" in
    *"did not power off within 5s"*forced*) ;;
    *) fail "after vmmctl stop gs --timeout=5 during the firmware: reason '$reason', expected '... did not power off within 5s ...; forced'" ;;
  esac
  [ "$took" -ge 5000 ] || fail "vmmctl stop gs --timeout=5 returned after ${took} ms, before its timeout"
  [ "$(count_lines gs '^@@GUEST-UP ')" = 1 ] || fail "the guest booted to /init within the 5 s"
  pass "a guest in its firmware: forced after ${took} ms ($reason)"
else
  log "no firmware stage on an $E2E_ACPI_BOOT boot: step 2 skipped"
fi

# 3. Forced: at once, without the button.
ctl start gs
wait_for_count gs '^@@POWER-BUTTON-READY ' 2 300
t0=$(now_ms)
ctl stop gs --force
took=$(($(now_ms) - t0))
time_since forced_stop "$t0"
state=$(vm_field gs state)
reason=$(vm_field gs reason)
[ "$state" = STOPPED ] || fail "after vmmctl stop gs --force: state '$state', expected STOPPED"
[ "$reason" = "stopped by request (forced)" ] ||
  fail "after vmmctl stop gs --force: reason '$reason', expected 'stopped by request (forced)'"
[ "$took" -lt 10000 ] || fail "vmmctl stop gs --force took ${took} ms"
[ "$(count_lines gs '^@@POWER-BUTTON uptime=')" = 1 ] || fail "--force pressed the power button"
pass "vmmctl stop --force: STOPPED '$reason' in ${took} ms, no @@POWER-BUTTON"

ctl delete gs
