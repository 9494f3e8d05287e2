#!/bin/sh
# Live vCPU hot-add and hot-remove with a stock Linux 6.12 guest (ACPI: UEFI, or ACPI direct in
# e2e_acpi_direct): boot 1 of 4 -> scale to 4 (wait online) -> the guest's own enabled and
# online read 0-3 -> scale to 2 -> both
# read 0-1 (the ejected CPUs really left) -> scale to 4 again -> 0-3. Removing below the boot
# count is refused; a direct-boot VM cannot hotplug.
set -eu
. /e2e/lib.sh

start_vmmd
create_acpi_vm hp 1 4
ctl start hp
up=$(wait_for_line "$(console_file hp)" '^@@GUEST-UP ' 240 hp)
log "guest: $up"
[ "$(field "$up" possible)" = 0-3 ] || fail "guest possible=$(field "$up" possible), expected 0-3"
expect_guest_cpus hp 0 0 5
pass "booted: possible=0-3, enabled=online=0"

scale_to hp 4
check_scaled hp 4 4
scale_to hp 2
check_scaled hp 2 4
scale_to hp 4
check_scaled hp 4 4
grep -aE '^@@CPUS ' "$(console_file hp)" >&9

# Idempotent: asking for the current count changes nothing.
out=$(ctl scale hp --vcpus 4 --wait none)
echo "$out" | grep -q '^hp: 4 -> 4 vCPUs$' || fail "scale to the current count printed: $out"
pass "scale to the current count is a no-op"

expect_error INVALID_ARGUMENT scale hp --vcpus 0
expect_error INVALID_ARGUMENT scale hp --vcpus 5
check_scaled hp 4 4

create_vm dt 1 2
ctl start dt
expect_error FAILED_PRECONDITION scale dt --vcpus 2
[ "$(vm_field hp state)" = RUNNING ] || fail "hp is $(vm_field hp state)"
pass "refusals: below boot, above max, direct boot"
