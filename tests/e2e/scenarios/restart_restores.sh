#!/bin/sh
# vmmd killed with SIGKILL and started again brings its VMs back as they were asked to be (each
# VM's record in its state directory): an ACPI (create_acpi_vm) 6.12 guest with 1 of 4 scaled to 3, with an
# autoscaling policy, boots again with online=enabled=0-2 (its own sysfs) and target 3; a VM
# that was never started stays CREATED, one a client stopped stays down; a corrupt record makes
# that VM alone FAILED with the reason, and deleting it frees the name. Guest memory does not
# survive (the guest boots again).
. /e2e/lib.sh

start_vmmd
create_acpi_vm big 1 4
ctl autoscale big --mode=recommend --min=1 --max=4 --target-utilization=0.5 >/dev/null
ctl start big >/dev/null
con=$(console_file big)
wait_for_line "$con" '@@GUEST-UP' 240 big >/dev/null
scale_to big 3 --timeout=90
create_vm idle 1 2
create_vm off 1 2
ctl start off >/dev/null
ctl stop off --force >/dev/null
# A record vmmd cannot read (a torn write by something else, a disk error).
mkdir -p "$VMMD_STATE/junk"
echo "not a record" >"$VMMD_STATE/junk/vm.pb"

kill -9 "$VMMD_PID"
wait "$VMMD_PID" 2>/dev/null
log "vmmd (pid $VMMD_PID) killed with SIGKILL"
VMMD_PID=
t0=$(now_ms)
start_vmmd
[ "$(list_names)" = "big idle junk off" ] || fail "after the restart vmmctl list shows '$(list_names)'"
[ "$(vm_field big state)" = RUNNING ] || fail "big is $(vm_field big state): $(vm_field big reason)"
[ "$(vm_field big target_vcpus)" = 3 ] || fail "big's target_vcpus is $(vm_field big target_vcpus), expected 3"
case "$(vm_field big autoscale)" in
  "recommend 1..4 vCPUs, target 0.50"*) ;;
  *) fail "big's policy came back as '$(vm_field big autoscale)'" ;;
esac
[ "$(vm_field idle state)" = CREATED ] || fail "idle is $(vm_field idle state), expected CREATED"
[ "$(vm_field off state)" = CREATED ] || fail "off is $(vm_field off state), expected CREATED (not running)"
[ "$(vm_field junk state)" = FAILED ] || fail "junk is $(vm_field junk state), expected FAILED"
case "$(vm_field junk reason)" in
  *"record could not be read"*) ;;
  *) fail "junk's reason: '$(vm_field junk reason)'" ;;
esac
pass "restarted vmmd lists big RUNNING (target 3, its policy), idle and off CREATED, junk FAILED: $(vm_field junk reason)"
expect_error FAILED_PRECONDITION start junk
ctl delete junk >/dev/null
[ ! -e "$VMMD_STATE/junk" ] || fail "deleting junk left $VMMD_STATE/junk"
create_vm junk 1 2
pass "the unreadable VM could not start; deleting it freed its name"

# The guest boots again, from its spec, with vCPUs 1-2 plugged from the start.
up=$(second_boot_up big "vmmd restart")
time_since restart_to_guest_up "$t0"
log "after the restart: $up"
expect_cpu_states big "0:ONLINE 1:ONLINE 2:ONLINE 3:PARKED" 20
pass "the guest came back with online=enabled=0-2 (its own sysfs); vmmd: 0-2 ONLINE, 3 PARKED"
scale_to big 4 --timeout=90
check_scaled big 4 4
scale_to big 1 --timeout=90
check_scaled big 1 4
