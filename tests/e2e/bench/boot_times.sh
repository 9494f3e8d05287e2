#!/bin/sh
# Boot-time benchmark (not a test: it prints numbers, it asserts nothing about them):
# direct kernel boot (DT) vs UEFI (stock edk2 from flash + vmmd's ACPI tables through fw_cfg),
# RUNS times each in one L1 boot, alternating dt, uefi, dt, uefi, ...
# Both paths boot the same guest: the 6.12 Image, the test initramfs, the same quiet command line
# (vmmd.e2e=poweroff), 2 of 6 vCPUs, 512 MiB; each run is a new VM (so UEFI starts with a fresh
# variable store every time, as a new VM does), powered off by the guest and deleted afterwards.
#
#   tests/e2e/l1-run tests/e2e/bench/boot_times.sh
#
# Per run:  @@BOOT <path> <n> create=<ms> start=<ms> start_to_up=<ms> total=<ms> guest_uptime=<s>
#   create / start   how long `vmmctl create` / `vmmctl start` took (each a full vmmctl process)
#   start_to_up      `vmmctl start` issued -> @@GUEST-UP seen in the console log (polled every 0.1 s)
#   total            `vmmctl create` issued -> @@GUEST-UP seen
#   guest_uptime     the guest kernel's own uptime when its /init printed @@GUEST-UP
# Then:     @@BOOT-SUMMARY <path> <metric> median=<ms> min=<ms> max=<ms>
set -eu
. /e2e/lib.sh

RUNS=3
CMD="vmmd.e2e=poweroff"

# wait_up VM: polls the console every 0.1 s (no vmmctl calls: they cost CPU under TCG) until
# @@GUEST-UP; fails after 300 s.
wait_up() {
  local end
  end=$(($(now_ms) + 300000))
  until grep -aq '^@@GUEST-UP ' "$(console_file "$1")" 2>/dev/null; do
    check_vmmd
    [ "$(now_ms)" -lt "$end" ] || fail "$1: no @@GUEST-UP after 300 s"
    sleep 0.1
  done
}

one_run() {
  local path=$1 n=$2 vm=$1$2 t0 t1 t2 t3 up
  t0=$(now_ms)
  if [ "$path" = dt ]; then
    ctl create "$vm" --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
      --cmdline "$GUEST_CMDLINE $CMD" --memory-mib "$GUEST_MEMORY_UEFI_MIB" --vcpus 2 \
      --max-vcpus 6 >/dev/null
  else
    create_acpi_vm "$vm" 2 6 "$CMD" >/dev/null
  fi
  t1=$(now_ms)
  ctl start "$vm" >/dev/null
  t2=$(now_ms)
  wait_up "$vm"
  t3=$(now_ms)
  up=$(grep -a -m1 '^@@GUEST-UP ' "$(console_file "$vm")" | tr -d '\r')
  log "@@BOOT $path $n create=$((t1 - t0)) start=$((t2 - t1)) start_to_up=$((t3 - t1)) total=$((t3 - t0)) guest_uptime=$(field "$up" uptime)"
  echo "$path $((t1 - t0)) $((t3 - t1)) $((t3 - t0))" >>/tmp/boot_times.txt
  [ "$(field "$up" online)" = 0-1 ] || log "@@NOTE $vm: guest online=$(field "$up" online), not 0-1"
  # The guest powers itself off (PSCI SYSTEM_OFF) right after @@GUEST-UP; then the VM goes.
  wait_for_state "$vm" STOPPED 60
  ctl delete "$vm" >/dev/null  # also removes its console log
}

# summary PATH COLUMN NAME: median/min/max of one column of /tmp/boot_times.txt.
summary() {
  awk -v p="$1" '$1 == p { print $'"$2"' }' /tmp/boot_times.txt | sort -n |
    awk -v p="$1" -v m="$3" '{ v[NR] = $1 }
      END { printf "@@BOOT-SUMMARY %s %s median=%d min=%d max=%d (n=%d)\n", p, m,
            (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR], NR }' >&9
}

log "@@BENCH boot_times: $RUNS runs per path; L1: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
start_vmmd
rm -f /tmp/boot_times.txt
n=1
while [ "$n" -le "$RUNS" ]; do
  one_run dt "$n"
  one_run uefi "$n"
  n=$((n + 1))
done
for p in dt uefi; do
  summary "$p" 2 create
  summary "$p" 3 start_to_up
  summary "$p" 4 total
done
log "@@BENCH done; L1 load $(cut -d' ' -f1-3 /proc/loadavg)"
