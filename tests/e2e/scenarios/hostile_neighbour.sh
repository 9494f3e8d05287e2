#!/bin/sh
# A hostile guest program next to a VM being scaled: one UEFI guest writes random values to
# every device register window of vmmd's board (and reads them) from its own root shell
# (/dev/mem, vmmd.e2e.hostile), while its neighbour is scaled 1 -> 4 -> 2 -> 3 -> 1 -> 4 -> 1.
# What the hostile guest does to itself is its business; vmmd must stay up and the neighbour
# must end every step exactly where it was asked to (its own sysfs and vmmd agree).
. /e2e/lib.sh

start_vmmd
create_acpi_vm bad 2 4 "iomem=relaxed vmmd.e2e.hostile=20"
create_acpi_vm good 1 4
ctl start bad >/dev/null
ctl start good >/dev/null
wait_for_line "$(console_file good)" '@@GUEST-UP' 240 good >/dev/null
pass "both guests started"

for n in 4 2 3 1 4 1; do
  scale_to good "$n" --timeout=90
  check_scaled good "$n" 4
  check_vmmd
done

# The hostile program really ran: its stores to the unmapped hole reached vmmd.
end=$(($(now_ms) + 300000))
while :; do
  state=$(vm_field bad state)
  mmio=$(vm_field bad unmapped_mmio)
  done_line=$(grep -a '@@HOSTILE done' "$(console_file bad)" 2>/dev/null | tr -d '\r' | tail -n1)
  [ -n "$done_line" ] && break
  [ "$state" = RUNNING ] || break
  [ "$(now_ms)" -lt "$end" ] || break
  check_vmmd
  sleep 2
done
log "hostile guest: state=$state reason='$(vm_field bad reason)' unmapped_mmio=$mmio ${done_line:-(no @@HOSTILE done line: its console may be among what it broke)}"
[ "${mmio:-0}" -ge 20 ] || fail "the hostile guest made only ${mmio:-0} unmapped accesses: did its program run?"
pass "the hostile guest's program ran ($mmio unmapped accesses seen by vmmd)"

check_vmmd
[ "$(vm_field good state)" = RUNNING ] || fail "the neighbour is $(vm_field good state)"
scale_to good 3 --timeout=90
check_scaled good 3 4
ctl delete bad >/dev/null
check_vmmd
[ "$(list_names)" = good ] || fail "after deleting the hostile VM, vmmctl list shows: $(list_names)"
pass "vmmd up, the neighbour scaled correctly throughout, the hostile VM deleted"
