#!/bin/sh
# Two VMs at once in one vmmd both boot to guest userspace, each with its own console and CPUs.
set -eu
. /e2e/lib.sh

start_vmmd

create_vm vma 1 2 "vmmd.e2e=idle"
create_vm vmb 2 2 "vmmd.e2e=idle"
t0=$(now_ms)
ctl start vma
ctl start vmb
upa=$(wait_for_line "$(console_file vma)" '^@@GUEST-UP ' 240 vma)
time_since start_to_guest_up_first "$t0"
upb=$(wait_for_line "$(console_file vmb)" '^@@GUEST-UP ' 240 vmb)
time_since start_to_guest_up_both "$t0"
log "vma guest: $upa"
log "vmb guest: $upb"

[ "$(field "$upa" online)" = 0 ] || fail "vma's guest sees online=$(field "$upa" online), expected 0"
[ "$(field "$upb" online)" = 0-1 ] || fail "vmb's guest sees online=$(field "$upb" online), expected 0-1"
pass "both guests up: vma online=0, vmb online=0-1"

expect_cpu_states vma "0:ONLINE 1:PARKED" 10
expect_cpu_states vmb "0:ONLINE 1:ONLINE" 10
pass "vmmctl cpus of both VMs"

[ "$(list_row vma)" = "RUNNING 1/2 256" ] || fail "vmmctl list: vma is '$(list_row vma)', expected 'RUNNING 1/2 256'"
[ "$(list_row vmb)" = "RUNNING 2/2 256" ] || fail "vmmctl list: vmb is '$(list_row vmb)', expected 'RUNNING 2/2 256'"
[ "$(list_names)" = "vma vmb" ] || fail "vmmctl list shows '$(list_names)', expected 'vma vmb'"
pass "vmmctl list: vma RUNNING 1/2, vmb RUNNING 2/2"
ctl list
