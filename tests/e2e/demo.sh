#!/bin/sh
# l1-run: debian-image
# `make demo`: vmmd running a real arm64 guest with real KVM (inside the nested L1 host), and
# resizing it live. Boots stock Linux 6.12 through stock UEFI firmware with 2 of 4 vCPUs, shows
# what vmmd and the guest see, grows it to 4 vCPUs, shrinks it to 2, grows it again — each time
# from both sides — shows what Prometheus would scrape from vmmd's /metrics, then stops and
# deletes it. Then a real distribution: Debian trixie (tests/e2e/image/) boots from its own
# virtio disk with 1 of 4 vCPUs, a NIC and an entropy device, sends L1 8 MiB over TCP (MD5
# checked), and runs 3 CPU workers for a minute; vmm-autoscaler grows it by the load and
# shrinks it when idle, while `vmmctl top` shows it; then vmmd presses its power button.
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

say "A real distribution: Debian trixie, booted by stock UEFI from its own virtio disk"
log "(the image is built from Debian packages by tests/e2e/image/; here it is L1's second drive)"
debian_image_node
l1_tap_up vmtap1 10.0.2.2/24
trap 'l1_tap_down vmtap1' EXIT
# L1 checks what the guest sends it over TCP against the MD5 the guest sends after it.
chunk_receiver 5002
NC_PID=$CHUNK_RECEIVER_PID
# What the guest runs (after /e2e/workload-lib.sh), from a small disk with the serial
# vmmd-workload: report systemd's state, send 8 MiB to L1 over TCP, then after 20 s run 3 CPU
# workers (stress-ng) for 60 s, and idle.
cat >/tmp/workload.sh <<'WORK'
debian_up
watch_cpus
head -c 8388608 /dev/urandom >/tmp/data
t0=$(date +%s%N)
send_checked /tmp/data 5002
marker "NET-DONE rc=$? ms=$((($(date +%s%N) - t0) / 1000000))"
sleep 20
marker "BURST start"
stress-ng --cpu 3 --timeout 60s --quiet
marker "BURST stop"
workload_end
WORK
workload_disk /guest/workload.img /tmp/workload.sh
show vmmctl create deb --firmware "$GUEST_FIRMWARE" --memory-mib 1024 --vcpus 1 --max-vcpus 4 \
  --disk /guest/debian.raw,serial=root --disk /guest/workload.img,ro,serial=vmmd-workload \
  --net tap=vmtap1,mac=02:00:5e:00:02:0f --entropy
t0=$(now_ms)
show vmmctl start deb
log "(waiting for systemd in the guest: 2-3 min in this emulated host)"
up=$(wait_for_line "$(console_file deb)" '^@@DEBIAN-UP ' 420 deb)
log "guest up in $(($(now_ms) - t0)) ms: $up"
show vmmctl get deb

say "Its network: a NIC on the TAP vmtap1 in L1 (L1 is 10.0.2.2, the guest 10.0.2.15)"
show ping -c 3 -W 5 10.0.2.15
net=$(wait_for_line "$(console_file deb)" '^@@NET-DONE ' 120 deb)
i=0 # (L1's receiver may still be hashing when the guest reports)
while [ ! -s /tmp/recv-5002.log ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ "$(field "$net" rc)" = 0 ] && [ "$(cat /tmp/recv-5002.log)" = "ok 8388608" ] ||
  fail "the guest's transfer: $net; L1: $(cat /tmp/recv-5002.log)"
log "the guest sent L1 8 MiB over TCP in $(field "$net" ms) ms; the MD5 L1 computed matches the one the guest sent"

say "The autoscaler: vmm-autoscaler (vmmd's public API only) sizes VMs by their measured load"
vmm-autoscaler --socket "$VMMD_SOCK" --interval=2s --max_steal=0.6 --startup_delay=0s \
  >/tmp/autoscaler.log 2>&1 &
AUTOSCALER_PID=$!
log "(--max_steal=0.6: this emulated host has 2 CPUs, so busy vCPUs always wait for one)"
show vmmctl autoscale deb --mode=auto --min=1 --max=4 --target-utilization=0.6 \
  --scale-down-stabilization=20 --step-period=5
wait_for_line "$(console_file deb)" '^@@BURST start' 60 deb >/dev/null
say "Load: stress-ng --cpu 3 in the guest. vmmctl top every 5 s (UTIL: busy share of the online vCPUs)"
i=0
while [ $i -lt 14 ]; do
  vmmctl --socket "$VMMD_SOCK" top --once --interval=5 | grep -E '^(NAME|deb) ' >&9 || true
  log "   guest: online=$(field "$(guest_cpus deb)" online)"
  grep -q '^@@BURST stop' "$(console_file deb)" && break
  i=$((i + 1))
done
wait_for_line "$(console_file deb)" '^@@BURST stop' 120 deb >/dev/null
say "Idle again: after the 20 s scale-down window it shrinks, one vCPU per 5 s"
i=0
while [ $i -lt 14 ]; do
  vmmctl --socket "$VMMD_SOCK" top --once --interval=5 | grep -E '^deb ' >&9 || true
  [ "$(field "$(guest_cpus deb)" online)" = 0 ] && break
  i=$((i + 1))
done
expect_guest_cpus deb 0 0 60
log "guest's /sys/devices/system/cpu/online: 0 (back to 1 vCPU)"
say "What the autoscaler decided (one log line per decision and per scale)"
grep 'autoscale vm=deb' /tmp/autoscaler.log | sed 's/^[0-9.]* I //' >&9
kill "$AUTOSCALER_PID"
say "Stopping it: vmmd presses the ACPI power button, systemd shuts Debian down"
show vmmctl stop deb --timeout=300
show vmmctl get deb
show vmmctl delete deb
kill "$NC_PID" 2>/dev/null || true
say "Done."
