#!/bin/sh
# UEFI + ACPI boot: a VM with 2 of 6 vCPUs boots Debian's stock edk2 (/guest/QEMU_EFI.fd), which
# loads the 6.12 guest through fw_cfg and hands it vmmd's ACPI tables. From the guest itself:
# exactly possible=0-5, enabled=0-1, online=0-1; the ACPI tables are exactly APIC DSDT FACP GTDT
# PPTT SPCR; no "ACPI Error", "ACPI BIOS Error" or "Firmware Bug" in its dmesg. From vmmd: the
# guest's boot-time CPU_ON got SUCCESS for vCPU 1 and DENIED for 2-5, `vmmctl cpus` is exactly
# 0-1 ONLINE (ACPI yes) and 2-5 PARKED (ACPI no), `vmmctl get` names the firmware.
# Times create -> start -> @@GUEST-UP.
set -eu
. /e2e/lib.sh

start_vmmd --log_level=debug

time_start create
create_acpi_vm u1 2 6 "vmmd.e2e=idle vmmd.e2e.dmesg=1 vmmd.e2e.acpi=1"
time_end create
fw=$(vm_field u1 firmware)
[ "$fw" = "$GUEST_FIRMWARE" ] || fail "vmmctl get u1: firmware is '$fw', expected $GUEST_FIRMWARE"
pass "vmmctl get u1: firmware: $fw"

t_start=$(now_ms)
time_start start
ctl start u1
time_end start
up=$(wait_for_line "$(console_file u1)" '^@@GUEST-UP ' 300 u1)
time_since start_to_guest_up "$t_start"
log "guest: $up"
# present: 6.12 marks every GICC present (0-5); kernels with the 2026 present-mask change show
# only the Enabled ones (0-1). Recorded, not asserted.
log "guest present=$(field "$up" present) (recorded, not asserted)"

expect_fields "$up" guest possible=0-5 enabled=0-1 online=0-1
pass "guest sees possible=0-5 enabled=0-1 online=0-1"

expect_acpi_tables u1
# The guest prints its kernel errors/warnings before @@DMESG-END (and before @@ACPI-TABLES).
expect_clean_acpi_dmesg u1
# The guest tried to start every possible CPU once at boot; vmmd's policy answered.
expect_boot_2_of_6 u1
ctl cpus u1

# Recorded, not asserted: edk2 may probe addresses vmmd does not map.
log "vmmctl get u1: unmapped_mmio=$(vm_field u1 unmapped_mmio)"

row=$(list_row u1)
[ "$row" = "RUNNING 2/6 512" ] || fail "vmmctl list row for u1 is '$row', expected 'RUNNING 2/6 512'"
pass "vmmctl list: u1 RUNNING 2/6 512"
