#!/bin/sh
# start_vcpus: an ACPI guest created with 1 boot vCPU and --start-vcpus 3 (of 4) comes up with 3
# vCPUs online and no ScaleVCPUs. vmmd refuses the kernel's early CPU_ON for vCPUs 1-2 (as for a
# parked vCPU), the kernel's ACPI scan registers them (their _STA reads enabled) and the guest's
# online rule powers them on: vmmd's log has CPU_ON 0x1 and 0x2 DENIED, then SUCCESS, and 0x3
# DENIED once; the guest's own sysfs at @@GUEST-UP reads possible=0-3 enabled=0-2 online=0-2;
# vmmctl: start_vcpus 3, target 3, vCPUs 0-2 ONLINE (ACPI yes), 3 PARKED. vCPUs 1-2 are not boot
# vCPUs: the VM scales down to 1 and up to 4 live. Times start -> @@GUEST-UP.
set -eu
. /e2e/lib.sh

start_vmmd --log_level=debug
create_acpi_vm sv 1 4 "vmmd.e2e=idle" "" --start-vcpus 3
[ "$(vm_field sv start_vcpus)" = 3 ] || fail "vmmctl get sv: start_vcpus is '$(vm_field sv start_vcpus)', expected 3"
[ "$(vm_field sv target_vcpus)" = 3 ] || fail "vmmctl get sv: target_vcpus is '$(vm_field sv target_vcpus)', expected 3"
pass "vmmctl get sv: vcpus 1, start_vcpus 3, target_vcpus 3"

t0=$(now_ms)
ctl start sv
up=$(wait_for_line "$(console_file sv)" '^@@GUEST-UP ' 300 sv)
time_since start_to_guest_up "$t0"
log "guest: $up"
expect_fields "$up" guest possible=0-3 enabled=0-2 online=0-2
pass "the guest came up with possible=0-3 enabled=0-2 online=0-2 (its own sysfs)"

cpu_on=$(cpu_on_verdicts sv)
[ "$cpu_on" = "0x1:DENIED 0x1:SUCCESS 0x2:DENIED 0x2:SUCCESS 0x3:DENIED " ] ||
  fail "guest CPU_ON calls (target:verdict) in vmmd's log: '$cpu_on', expected 0x1 and 0x2 DENIED then SUCCESS, 0x3 DENIED"
pass "vmmd refused the early CPU_ON of vCPUs 1-2 and granted the online rule's"
expect_cpu_states sv "0:ONLINE 1:ONLINE 2:ONLINE 3:PARKED" 20
expect_cpu_acpi sv "0:ONLINE:yes 1:ONLINE:yes 2:ONLINE:yes 3:PARKED:no"
pass "vmmctl cpus sv: 0-2 ONLINE (ACPI yes), 3 PARKED"

scale_to sv 1
check_scaled sv 1 4
scale_to sv 4
check_scaled sv 4 4
row=$(list_row sv)
[ "$row" = "RUNNING 4/4 $GUEST_MEMORY_UEFI_MIB" ] || fail "vmmctl list row for sv is '$row', expected 'RUNNING 4/4 $GUEST_MEMORY_UEFI_MIB'"
pass "vmmctl list: sv RUNNING 4/4"
