#!/bin/sh
# A guest without the online rule (vmmd.e2e.autoonline=0): hot-added CPUs get registered but
# nothing onlines them. wait=ENABLED succeeds; wait=ONLINE ends with DEADLINE_EXCEEDED that
# names the state; the VM stays healthy and the next request (removing them) works.
set -eu
. /e2e/lib.sh

start_vmmd
create_acpi_vm nr 1 4 "vmmd.e2e.autoonline=0"
ctl start nr
wait_for_line "$(console_file nr)" '^@@GUEST-UP ' 240 nr >/dev/null

scale_to nr 3 --wait enabled
expect_guest_cpus nr 0 0-2 20
expect_cpu_states nr "0:ONLINE 1:ENABLED 2:ENABLED 3:PARKED" 10
pass "wait=enabled: the guest registered CPUs 1-2 (enabled=0-2), none online"

t0=$(now_ms)
expect_error DEADLINE_EXCEEDED scale nr --vcpus 4 --wait online --timeout 10
err=$(cat /tmp/.expect.err)
time_since online_deadline "$t0"
echo "$err" | grep -q 'vCPU 1 is ENABLED' || fail "the deadline message does not say vCPU 1 is ENABLED: $err"
[ "$(vm_field nr state)" = RUNNING ] || fail "nr is $(vm_field nr state) after the missed deadline"
pass "wait=online: DEADLINE_EXCEEDED naming ENABLED vCPUs; VM still RUNNING"

scale_to nr 1
expect_guest_cpus nr 0 0 20
expect_cpu_states nr "0:ONLINE 1:PARKED 2:PARKED 3:PARKED" 10
pass "the next request removes the never-onlined CPUs"
