#!/bin/sh
# Where a direct boot's seconds go before the guest kernel's clock starts (prints numbers,
# asserts nothing). The test guest, 1 vCPU, vmmd.e2e=idle, booted RUNS times (default 2;
# L1_APPEND=vmmd_bench.runs=K) by device tree and by ACPI direct with 128, 512 and 2048 MiB of
# RAM, one after the other:
#   start_ms     the whole `vmmctl start` call (vmmctl's own start-up, vmmd building the machine
#                and loading kernel and initramfs into guest RAM, the vCPU started)
#   to_up_ms     `vmmctl start` returned -> @@GUEST-UP in the console (polled every 0.1 s)
#   uptime_ms    the guest's /proc/uptime at @@GUEST-UP: its kernel's clock, which starts in
#                start_kernel's timekeeping set-up, after the early boot (page tables, memblock,
#                the memory map)
#   pre_clock_ms to_up_ms - uptime_ms: the vCPU running guest code before that clock started
#
#   L1_MEM=4G tests/e2e/l1-run tests/e2e/bench/boot_breakdown.sh
#
# Lines: @@BREAKDOWN mode=<dt|acpi> mib=<n> run=<k> start_ms= to_up_ms= uptime_ms= pre_clock_ms=
set -eu
. /e2e/lib.sh

RUNS=$(cmdline_arg vmmd_bench.runs 2)
CMD="$GUEST_CMDLINE vmmd.e2e=idle"

one() {
  local mode=$1 mib=$2 k=$3 vm=$1$2x$3 t0 t1 up boot= uptime
  [ "$mode" = acpi ] && boot=--boot=acpi-direct
  ctl create "$vm" $boot --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" --cmdline "$CMD" \
    --memory-mib "$mib" --vcpus 1 --max-vcpus 1 >/dev/null
  t0=$(now_ms)
  ctl start "$vm" >/dev/null
  t1=$(now_ms)
  up=$(wait_for_line "$(console_file "$vm")" '^@@GUEST-UP ' 300 "$vm")
  to_up=$(($(now_ms) - t1))
  uptime=$(field "$up" uptime | awk '{ printf "%d", $1 * 1000 }')
  log "@@BREAKDOWN mode=$mode mib=$mib run=$k start_ms=$((t1 - t0)) to_up_ms=$to_up uptime_ms=$uptime pre_clock_ms=$((to_up - uptime))"
  ctl delete "$vm" >/dev/null
}

start_vmmd
k=1
while [ "$k" -le "$RUNS" ]; do
  for mib in 128 512 2048; do
    one dt "$mib" "$k"
    one acpi "$mib" "$k"
  done
  k=$((k + 1))
done
log "@@BENCH done; L1 load $(cut -d' ' -f1-3 /proc/loadavg)"
