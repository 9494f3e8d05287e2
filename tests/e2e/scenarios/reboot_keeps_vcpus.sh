#!/bin/sh
# A guest reboot keeps the vCPUs the VM was scaled to: an ACPI (create_acpi_vm) 6.12 guest with 1 of 4 is scaled to
# 3 and then reboots itself (reboot -f: PSCI SYSTEM_RESET, vmmd.e2e.reboot_on=0-2). vmmd builds
# the new machine with vCPUs 1-2 enabled from the start: the guest boots with online=enabled=0-2
# (its own sysfs), vmmctl shows 0-2 ONLINE and 3 PARKED, target 3, restarts 1; and the vCPUs
# brought back this way stay removable and the last one can be added again.
. /e2e/lib.sh

start_vmmd
create_acpi_vm rb 1 4 "vmmd.e2e.reboot_on=0-2"
ctl start rb >/dev/null
con=$(console_file rb)
wait_for_line "$con" '@@GUEST-UP' 240 rb >/dev/null
scale_to rb 3 --timeout=90
wait_for_line "$con" '@@REBOOTING' 60 rb >/dev/null
t0=$(now_ms)
up=$(second_boot_up rb reboot)
time_since reboot_to_guest_up "$t0"
log "after the reboot: $up"
pass "the rebooted guest came up with online=enabled=0-2 (its own sysfs)"
[ "$(vm_field rb restarts)" = 1 ] || fail "restarts is $(vm_field rb restarts), expected 1"
[ "$(vm_field rb target_vcpus)" = 3 ] || fail "target_vcpus is $(vm_field rb target_vcpus), expected 3"
expect_cpu_states rb "0:ONLINE 1:ONLINE 2:ONLINE 3:PARKED" 20
pass "vmmd agrees: restarts 1, target 3, vCPUs 0-2 ONLINE, 3 PARKED"

scale_to rb 1 --timeout=90
check_scaled rb 1 4
scale_to rb 4 --timeout=90
check_scaled rb 4 4
