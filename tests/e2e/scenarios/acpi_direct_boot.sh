#!/bin/sh
# ACPI direct boot (boot_mode ACPI_DIRECT): no firmware; vmmd loads the 6.12 guest and its
# initramfs itself and hands the kernel an EFI system table whose one configuration table is the
# RSDP of vmmd's ACPI tables, plus an EFI memory map. A VM with 2 of 6 vCPUs. From the guest
# itself: the kernel found the system table ("efi: EFI v2.7 by vmmd", "efi: ACPI 2.0=<addr>"),
# took the RSDP and XSDT and enabled the ACPI interpreter, with no "Unable to load" or
# acpi_os_ioremap complaint; possible=0-5, enabled=0-1, online=0-1; the ACPI tables are exactly
# APIC DSDT FACP GTDT PPTT SPCR; no "ACPI Error", "ACPI BIOS Error" or "Firmware Bug". From
# vmmd: `vmmctl get` says boot acpi-direct and no firmware, the guest's boot-time CPU_ON got
# SUCCESS for vCPU 1 and DENIED for 2-5, `vmmctl cpus` is 0-1 ONLINE (ACPI yes) and 2-5 PARKED.
# Then it is scaled 2 -> 6 -> 3 live, the guest's own sysfs following. Times create -> start ->
# @@GUEST-UP.
set -eu
. /e2e/lib.sh

start_vmmd --log_level=debug

time_start create
ctl create ad --boot=acpi-direct --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
  --cmdline "$GUEST_CMDLINE vmmd.e2e=idle vmmd.e2e.dmesg=1 vmmd.e2e.acpi=1 vmmd.e2e.bootfw=1" \
  --memory-mib 256 --vcpus 2 --max-vcpus 6
time_end create
[ "$(vm_field ad boot)" = acpi-direct ] || fail "vmmctl get ad: boot is '$(vm_field ad boot)', expected acpi-direct"
[ "$(vm_field ad firmware)" = - ] || fail "vmmctl get ad: firmware is '$(vm_field ad firmware)', expected -"
pass "vmmctl get ad: boot: acpi-direct, firmware: -"

t_start=$(now_ms)
time_start start
ctl start ad
time_end start
up=$(wait_for_line "$(console_file ad)" '^@@GUEST-UP ' 300 ad)
time_since start_to_guest_up "$t_start"
log "guest: $up"
expect_fields "$up" guest possible=0-5 enabled=0-1 online=0-1
pass "guest sees possible=0-5 enabled=0-1 online=0-1"

# What the kernel says it was handed (@@BOOTFW lines, up to @@BOOTFW-END).
wait_for_line "$(console_file ad)" '^@@BOOTFW-END' 30 ad >/dev/null
bootfw=$(grep -a '^@@BOOTFW ' "$(console_file ad)" | tr -d '\r')
log "$bootfw"
for want in 'efi: EFI v2\.7 by vmmd' 'efi: ACPI 2\.0=0x[0-9a-f]+' 'ACPI: RSDP 0x[0-9A-F]+ 000024 \(v02 VMMD' \
  'ACPI: XSDT 0x[0-9A-F]+ ' 'ACPI: Interpreter enabled'; do
  echo "$bootfw" | grep -qE "$want" || fail "the guest's dmesg has no line matching /$want/"
done
bad=$(echo "$bootfw" | grep -E 'Unable|acpi_os_ioremap|System Description' || true)
[ -z "$bad" ] || fail "the guest's kernel complains about its ACPI tables:
$bad"
pass "guest kernel: EFI system table by vmmd, ACPI 2.0 RSDP, XSDT, interpreter enabled"

expect_acpi_tables ad
expect_clean_acpi_dmesg ad
expect_boot_2_of_6 ad
[ "$(vm_field ad unmapped_mmio)" = 0 ] || fail "the guest touched $(vm_field ad unmapped_mmio) unmapped MMIO addresses"
pass "no unmapped MMIO access"

scale_to ad 6
check_scaled ad 6 6
scale_to ad 3
check_scaled ad 3 6
row=$(list_row ad)
[ "$row" = "RUNNING 3/6 256" ] || fail "vmmctl list row for ad is '$row', expected 'RUNNING 3/6 256'"
pass "vmmctl list: ad RUNNING 3/6 256"
