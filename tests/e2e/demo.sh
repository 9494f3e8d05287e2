#!/bin/sh
# `make demo`: vmmd running a real arm64 guest with real KVM (inside the nested L1 host).
# Creates a VM with 2 of 4 vCPUs, waits for its guest, shows what vmmd and the guest see,
# then stops and deletes it.
set -eu
. /e2e/lib.sh

say() { log ""; log "==> $*"; }
show() { log "\$ $*"; "$@" >&9 2>&1 || fail "$* failed"; }

say "Starting vmmd (real arm64 KVM: $(uname -r) on an emulated arm64 host with EL2)"
start_vmmd

say "Creating VM 'demo': 2 vCPUs online at boot, 4 possible, 256 MiB, Debian 6.12 guest kernel"
show vmmctl create demo --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
  --cmdline "$GUEST_CMDLINE vmmd.e2e=idle" --memory-mib 256 --vcpus 2 --max-vcpus 4 \
  --console-log /tmp/demo.console
say "Starting it"
t0=$(now_ms)
show vmmctl start demo
log "(waiting for the guest's /init to report...)"
up=$(wait_for_line /tmp/demo.console '^@@GUEST-UP ' 180 demo)
log "guest userspace reached in $(($(now_ms) - t0)) ms"

say "What vmmd shows"
show vmmctl list
log ""
show vmmctl cpus demo

say "What the guest sees (its /init reads /sys/devices/system/cpu/{online,possible,present,enabled})"
log "$up"
log ""
log "online=$(field "$up" online): the 2 boot vCPUs run Linux; vCPUs 2-3 exist in KVM but stay PARKED"
log "until they are hot-plugged."

say "Stopping and deleting it"
show vmmctl stop demo
wait_for_state demo STOPPED 30
show vmmctl get demo
show vmmctl delete demo
show vmmctl list
say "Done."
