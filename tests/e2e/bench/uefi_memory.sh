#!/bin/sh
# What each UEFI VM costs vmmd beside its guest RAM (prints numbers, asserts nothing): vmmd's RSS
# outside guest RAM (/proc/PID/smaps: every mapping but those of exactly the guest RAM size) with
# no VM, with one UEFI VM (the test guest through Debian's edk2, 1 of 2 vCPUs, 512 MiB,
# vmmd.e2e=idle) and with N (default 4; vmmd_bench.vms=N), each booted to @@GUEST-UP in turn;
# and, of that, the 64 MiB flash-bank mappings: how many and their resident KiB (flash0, the
# firmware, is one mapping shared by every VM booting the same file; flash1, the variables,
# one per VM).
#
#   L1_MEM=4G tests/e2e/l1-run tests/e2e/bench/uefi_memory.sh
#
# Lines: @@UEFIMEM <what> key=value ...
set -eu
. /e2e/lib.sh

N=$(cmdline_arg vmmd_bench.vms 4)
GUEST_KIB=$((GUEST_MEMORY_UEFI_MIB * 1024))
BANK_KIB=$((64 * 1024))

# own_rss PID: "own_rss_kib=<outside guest RAM> banks=<64 MiB mappings> bank_rss_kib=<their RSS>"
own_rss() {
  awk -v g="$GUEST_KIB" -v b="$BANK_KIB" '/^[0-9a-f]+-[0-9a-f]+ / { guest = 0; bank = 0 }
    $1 == "Size:" { guest = ($2 == g); bank = ($2 == b); banks += bank }
    $1 == "Rss:" { if (!guest) sum += $2; if (bank) bank_rss += $2 }
    END { printf "own_rss_kib=%d banks=%d bank_rss_kib=%d", sum, banks, bank_rss }' "/proc/$1/smaps"
}
kib() { echo "$1" | sed 's/.*own_rss_kib=\([0-9]*\).*/\1/'; }

boot() {
  create_acpi_vm "$1" 1 2 "vmmd.e2e=idle"
  ctl start "$1" >/dev/null
  wait_for_line "$(console_file "$1")" '^@@GUEST-UP ' 600 "$1" >/dev/null
}

start_vmmd
sleep 3
m0=$(own_rss "$VMMD_PID")
log "@@UEFIMEM no_vm $m0"
boot u1
sleep 5
m1=$(own_rss "$VMMD_PID")
log "@@UEFIMEM 1_vm $m1 first_vm_kib=$(($(kib "$m1") - $(kib "$m0")))"
i=2
while [ "$i" -le "$N" ]; do
  boot "u$i"
  i=$((i + 1))
done
sleep 5
mn=$(own_rss "$VMMD_PID")
log "@@UEFIMEM ${N}_vms $mn per_added_vm_kib=$((($(kib "$mn") - $(kib "$m1")) / (N - 1))) running=$(ctl list | grep -c RUNNING)"
log "@@BENCH done; L1 load $(cut -d' ' -f1-3 /proc/loadavg)"
