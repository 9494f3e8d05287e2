#!/bin/sh
# `make demo`: vmmd running a real arm64 guest with real KVM (inside the nested L1 host), and
# resizing it live. Boots stock Linux 6.12 through stock UEFI firmware with 2 of 4 vCPUs, shows
# what vmmd and the guest see, grows it to 4 vCPUs, shrinks it to 2, grows it again — each time
# from both sides — shows what Prometheus would scrape from vmmd's /metrics, then stops and
# deletes it. Then the autoscaler's turn: a second guest (1 of 4 vCPUs, policy AUTO) runs 3
# busy loops for a minute; vm-autoscaler grows it by the load and shrinks it when idle, while
# `vmmctl top` shows it.
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
  --vcpus 2 --max-vcpus 4
say "Starting it (UEFI boots, then Linux with vmmd's ACPI tables)"
t0=$(now_ms)
show vmmctl start demo
log "(waiting for the guest's /init to report...)"
wait_for_line "$(console_file demo)" '^@@GUEST-UP ' 240 demo >/dev/null
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

say "The autoscaler: vmm-autoscaler (vmmd's public API only) sizes VMs by their measured load"
vmm-autoscaler --socket "$VMMD_SOCK" --interval=2s --max_steal=0.6 --startup_delay=45s \
  >/tmp/autoscaler.log 2>&1 &
AUTOSCALER_PID=$!
log "(--max_steal=0.6: this emulated host has 2 CPUs, so busy vCPUs always wait for one;"
log " --startup_delay=45s: a booting guest is busy, which is not load)"
show vmmctl create auto --firmware "$GUEST_FIRMWARE" --kernel "$GUEST_KERNEL" \
  --initrd "$GUEST_INITRD" --cmdline "$GUEST_CMDLINE vmmd.e2e.burst=30,60,3" \
  --memory-mib "$GUEST_MEMORY_UEFI_MIB" --vcpus 1 --max-vcpus 4 \
  --autoscale=auto --min=1 --max=4 --target-utilization=0.6 --scale-down-stabilization=20 \
  --step-period=5
show vmmctl start auto
wait_for_line "$(console_file auto)" '^@@GUEST-UP ' 240 auto >/dev/null
log "(guest up with 1 vCPU; in 30 s it starts 3 busy loops for 60 s, then idles)"
wait_for_line "$(console_file auto)" '^@@BURST start' 60 auto >/dev/null
say "Load: 3 busy loops. vmmctl top every 5 s (UTIL: busy share of the online vCPUs)"
i=0
while [ $i -lt 12 ]; do
  vmmctl --socket "$VMMD_SOCK" top --once --interval=5 | grep -E '^(NAME|auto) ' >&9 || true
  guest_view_auto=$(guest_cpus auto)
  log "   guest: online=$(field "$guest_view_auto" online)"
  grep -q '^@@BURST stop' "$(console_file auto)" && break
  i=$((i + 1))
done
wait_for_line "$(console_file auto)" '^@@BURST stop' 90 auto >/dev/null
say "Idle again: after the 20 s scale-down window it shrinks, one vCPU per 5 s"
i=0
while [ $i -lt 12 ]; do
  vmmctl --socket "$VMMD_SOCK" top --once --interval=5 | grep -E '^auto ' >&9 || true
  [ "$(field "$(guest_cpus auto)" online)" = 0 ] && break
  i=$((i + 1))
done
expect_guest_cpus auto 0 0 60
log "guest's /sys/devices/system/cpu/online: 0 (back to 1 vCPU)"
say "What the autoscaler decided (one log line per decision and per scale)"
grep 'autoscale vm=auto' /tmp/autoscaler.log | sed 's/^[0-9.]* I //' >&9
show vmmctl get auto
kill "$AUTOSCALER_PID"
show vmmctl delete auto
say "Done."
