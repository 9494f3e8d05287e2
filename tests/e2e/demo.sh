#!/bin/sh
# `make demo`: vmmd running a real arm64 guest with real KVM (inside the nested L1 host), and
# resizing it live. Boots stock Linux 6.12 through stock UEFI firmware with 2 of 4 vCPUs, shows
# what vmmd and the guest see, grows it to 4 vCPUs, shrinks it to 2, grows it again — each time
# from both sides — shows what Prometheus would scrape from vmmd's /metrics, then stops and
# deletes it.
set -eu
. /e2e/lib.sh

say() { log ""; log "==> $*"; }
show() { log "\$ $*"; "$@" >&9 2>&1 || fail "$* failed"; }
guest_view() {
  local l
  l=$(guest_cpus demo)
  log "guest's /sys/devices/system/cpu: online=$(field "$l" online) enabled=$(field "$l" enabled) possible=$(field "$l" possible)"
}

say "Starting vmmd (real arm64 KVM: $(uname -r) on an emulated arm64 host with EL2)"
start_vmmd --metrics_address=127.0.0.1:9477

say "Creating VM 'demo': stock edk2 firmware + Debian's 6.12 kernel, 2 vCPUs at boot, 4 possible, 512 MiB"
show vmmctl create demo --firmware "$GUEST_FIRMWARE" --kernel "$GUEST_KERNEL" \
  --initrd "$GUEST_INITRD" --cmdline "$GUEST_CMDLINE" --memory-mib "$GUEST_MEMORY_UEFI_MIB" \
  --vcpus 2 --max-vcpus 4 --console-log /tmp/demo.console
say "Starting it (UEFI boots, then Linux with vmmd's ACPI tables)"
t0=$(now_ms)
show vmmctl start demo
log "(waiting for the guest's /init to report...)"
wait_for_line /tmp/demo.console '^@@GUEST-UP ' 240 demo >/dev/null
log "guest userspace reached in $(($(now_ms) - t0)) ms"

say "What vmmd shows: every possible vCPU exists in KVM; 2-3 are PARKED (an fd, no thread)"
show vmmctl cpus demo
guest_view

say "Growing it to 4 vCPUs while it runs (hot-add: ACPI _STA + GED; the guest's PSCI CPU_ON)"
show vmmctl scale demo --vcpus 4
expect_guest_cpus demo 0-3 0-3 20
guest_view

say "Shrinking it to 2 (hot-remove: eject request; the guest offlines and ejects the CPUs)"
show vmmctl scale demo --vcpus 2
expect_guest_cpus demo 0-1 0-1 20
guest_view

say "And back to 3"
show vmmctl scale demo --vcpus 3
expect_guest_cpus demo 0-2 0-2 20
guest_view
show vmmctl cpus demo

say "What Prometheus scrapes from vmmd (--metrics_address=127.0.0.1:9477; docs/metrics.md)"
log "\$ wget -q -O - http://127.0.0.1:9477/metrics | grep <a few families>"
wget -q -O - http://127.0.0.1:9477/metrics >/tmp/metrics.txt || fail "GET /metrics failed"
grep -E '^vmmd_vm_(target|online)_vcpus|^vmmd_vm_vcpus\{.*state="(online|parked)"|^vmmd_vcpu_busy_seconds_total|^vmmd_vcpu_hotplug_phase_seconds_count|^vmmd_vcpu_scale_requests_total\{.*result="ok"' \
  /tmp/metrics.txt | grep -v ' 0$' >&9 || fail "the expected families are not in /metrics"
log "($(grep -vc '^#' /tmp/metrics.txt) series in all)"

say "Stopping and deleting it"
show vmmctl stop demo
wait_for_state demo STOPPED 30
show vmmctl delete demo
show vmmctl list
say "Done."
