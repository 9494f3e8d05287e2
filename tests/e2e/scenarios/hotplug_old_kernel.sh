#!/bin/sh
# Debian bookworm's Linux 6.1 (no arm64 vCPU hotplug) booted with ACPI (create_acpi_vm):
# ScaleVCPUs gets a clear FAILED_PRECONDITION naming the kernel requirement, well before its
# own deadline (not a hang), the VM stays healthy, and the vCPU can be withdrawn.
set -eu
. /e2e/lib.sh

start_vmmd
create_acpi_vm old 1 3 "" "$GUEST_KERNEL_61"
ctl start old
up=$(wait_for_line "$(console_file old)" '^@@GUEST-UP ' 240 old)
log "guest: $up"

t0=$(now_ms)
expect_error FAILED_PRECONDITION scale old --vcpus 2 --timeout 120
err=$(cat /tmp/.expect.err)
elapsed=$(($(now_ms) - t0))
time_since refused "$t0"
echo "$err" | grep -q 'Linux >= 6.11' || fail "the error does not name the kernel requirement: $err"
[ "$elapsed" -lt 60000 ] || fail "the refusal took ${elapsed} ms (the request allowed 120 s)"
[ "$(vm_field old state)" = RUNNING ] || fail "old is $(vm_field old state)"
expect_guest_cpus old 0 - 5
pass "6.1 guest: clear FAILED_PRECONDITION in ${elapsed} ms, still RUNNING, guest unchanged"

scale_to old 1
expect_cpu_states old "0:ONLINE 1:PARKED 2:PARKED" 10
pass "the refused vCPU is withdrawn"
