#!/bin/sh
# Disk throughput benchmark (prints numbers, asserts nothing): a device-tree guest (2 vCPUs,
# 512 MiB) with a 256 MiB raw image as its virtio disk times O_DIRECT dd on /dev/vda —
# sequential write and read in 1 MiB requests (64 MiB) and in 4 KiB requests (16 MiB, i.e. one
# virtio request per 4 KiB: a request-rate figure) — RUNS times, each on a new VM.
#
#   tests/e2e/l1-run tests/e2e/bench/disk_throughput.sh
#
# Per run: @@DISK-BENCH <kind> bytes=<n> ms=<ms> MBps=<MB/s> requests_per_s=<n> (guest-timed)
# The same against QEMU in the same bed, side by side: vmmd_vs_qemu.sh.
set -eu
. /e2e/lib.sh

RUNS=3
img=/guest/bench.img
start_vmmd
n=0
while [ $n -lt $RUNS ]; do
  n=$((n + 1))
  rm -f "$img"
  truncate -s 256M "$img"
  ctl create "b$n" --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
    --cmdline "$GUEST_CMDLINE vmmd.e2e.disk=1 vmmd.e2e.diskbench=64" --memory-mib 512 \
    --vcpus 2 --max-vcpus 2 --disk "$img"
  ctl start "b$n"
  wait_for_line "$(console_file "b$n")" '^@@DISK-BENCH-END' 600 "b$n" >/dev/null
  grep -a '^@@DISK-BENCH ' "$(console_file "b$n")" | tr -d '\r' | sed "s/^/run $n: /" >&9
  ctl delete "b$n"
done
rm -f "$img"
