#!/bin/sh
# Soak: 500 random ScaleVCPUs calls from 4 concurrent callers on one UEFI guest (1 of 4), each
# with a random wait (none, enabled, online). Every call must end in an answer the API
# documents for racing requests (OK, ABORTED when superseded, UNAVAILABLE while a vCPU is
# still being ejected, DEADLINE_EXCEEDED), nothing hangs, and afterwards the guest converges to
# the last accepted target: its own sysfs and vmmd agree.
. /e2e/lib.sh

CALLS=500
CALLERS=4
start_vmmd
create_acpi_vm soak 1 4
ctl start soak >/dev/null
wait_for_line "$(console_file soak)" '@@GUEST-UP' 240 soak >/dev/null

# e2e-driver: one long-lived channel per caller (vmmctl would pay its start-up on every call).
t0=$(now_ms)
out=$(e2e-driver soak "$VMMD_SOCK" soak "$CALLS" "$CALLERS") || rc=$?
time_since soak_calls "$t0"
echo "$out" >&9
check_vmmd
summary=$(echo "$out" | sed -n 's/^@@SOAK calls=\([0-9]*\) \(.*\)/\2/p')
[ "${rc:-0}" = 0 ] || fail "soak: unexpected answers or a hung call: $(echo "$out" | grep '@@SOAK-UNEXPECTED' | head -n 5)"
echo "$out" | grep -q "^@@SOAK calls=$CALLS " || fail "soak: not every call answered: $out"
echo "$summary" | grep -q 'OK=' || fail "soak: no call succeeded: $summary"
pass "soak: $CALLS calls from $CALLERS callers ended ($summary)"

# The last accepted target is where the guest ends.
target=$(vm_field soak target_vcpus)
expect_guest_cpus soak "$(cpu_range "$target")" "$(cpu_range "$target")" 90
expect_cpu_states soak "$(expected_states "$target" 4)" 30
pass "after the soak the guest converged to the last target, $target: sysfs and vmmd agree"
scale_to soak 2 --timeout=90
check_scaled soak 2 4
[ "$(vm_field soak state)" = RUNNING ] || fail "soak VM is $(vm_field soak state)"
check_vmmd
