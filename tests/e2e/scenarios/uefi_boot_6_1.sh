#!/bin/sh
# The pre-hotplug guest through UEFI: Debian bookworm's 6.1 kernel (/guest/Image-6.1) boots
# through the same stock edk2 + ACPI path as uefi_acpi_boot, 2 of 6 vCPUs. 6.1 ignores the
# MADT's online-capable (not Enabled) GICCs, so it sees exactly possible=0-1, online=0-1 (and has
# no cpu/enabled file), and it asks vmmd to start no CPU but vCPU 1: vmmd's log has exactly one
# CPU_ON, 0x1 -> SUCCESS. `vmmctl cpus`: 0-1 ONLINE (ACPI yes), 2-5 PARKED (ACPI no).
set -eu
. /e2e/lib.sh

start_vmmd --log_level=debug

create_acpi_vm old 2 6 "vmmd.e2e=idle vmmd.e2e.dmesg=1 vmmd.e2e.acpi=1" "$GUEST_KERNEL_61"
fw=$(vm_field old firmware)
[ "$fw" = "$GUEST_FIRMWARE" ] || fail "vmmctl get old: firmware is '$fw', expected $GUEST_FIRMWARE"
k=$(vm_field old kernel)
[ "$k" = "$GUEST_KERNEL_61" ] || fail "vmmctl get old: kernel is '$k', expected $GUEST_KERNEL_61"
pass "vmmctl get old: firmware: $fw, kernel: $k"

t0=$(now_ms)
ctl start old
up=$(wait_for_line "$(console_file old)" '^@@GUEST-UP ' 300 old)
time_since start_to_guest_up "$t0"
log "guest: $up"

expect_fields "$up" "6.1 guest" online=0-1 possible=0-1 present=0-1 enabled=-
pass "6.1 guest sees online=0-1 possible=0-1 present=0-1 (and has no cpu/enabled)"

# The same ACPI path as 6.12 (not a DT fallback).
tables=$(wait_for_line "$(console_file old)" '^@@ACPI-TABLES' 30 old)
[ "$tables" = "@@ACPI-TABLES APIC DSDT FACP GTDT PPTT SPCR" ] ||
  fail "6.1 guest's /sys/firmware/acpi/tables: '$tables', expected 'APIC DSDT FACP GTDT PPTT SPCR'"
pass "6.1 guest booted with ACPI: ${tables#@@ACPI-TABLES }"

# Shown, not asserted: what 6.1 says about the tables it does not fully understand.
if grep -a '^@@DMESG ' "$(console_file old)" >/dev/null; then
  log "guest kernel errors/warnings:"
  grep -a '^@@DMESG ' "$(console_file old)" >&9
fi

# 6.1 never tried to start vCPUs 2-5 (they are not possible CPUs to it).
cpu_on=$(cpu_on_verdicts old)
[ "$cpu_on" = "0x1:SUCCESS " ] ||
  fail "6.1 guest CPU_ON calls (target:verdict) in vmmd's log: '$cpu_on', expected only 0x1:SUCCESS"
pass "vmmd: the 6.1 guest's only CPU_ON was 0x1 -> SUCCESS"

expect_cpu_states old "0:ONLINE 1:ONLINE 2:PARKED 3:PARKED 4:PARKED 5:PARKED" 10
expect_cpu_acpi old "0:ONLINE:yes 1:ONLINE:yes 2:PARKED:no 3:PARKED:no 4:PARKED:no 5:PARKED:no"
pass "vmmctl cpus: 0-1 ONLINE (ACPI yes), 2-5 PARKED (ACPI no)"

row=$(list_row old)
[ "$row" = "RUNNING 2/6 512" ] || fail "vmmctl list row for old is '$row', expected 'RUNNING 2/6 512'"
pass "vmmctl list: old RUNNING 2/6 512"
