#!/bin/sh
# Many possible vCPUs and one large step (prints numbers, asserts nothing about them):
#   1. For P = 8, 64, 256, 512 possible vCPUs: an ACPI-direct VM with 1 of P (the test guest,
#      1024 MiB — vmmd asks 2 MiB per possible vCPU — vmmd.e2e=idle): launch -> @@GUEST-UP, the guest's own uptime then, what the
#      running VM costs the host beyond its guest RAM (vmmd's RSS outside the guest RAM
#      mapping, /proc/PID/smaps, and L1's kernel slab, each against before the VM), and one
#      hot-add 1 -> 2 (vmmctl's wall time; vmmd's event span, first PARKED -> ENABLING to
#      ENABLED -> ONLINE). The cost of one parked vCPU is the slope between P=8 and P=256.
#   2. The same guest through UEFI (stock edk2) with 1 of 256 and 1 of 512, 1024 MiB: launch
#      -> @@GUEST-UP, or what it was doing after UEFI_WAIT s (console tail, vCPU 0's exits,
#      unmapped MMIO). And what vmmd answers for 512 possible in 512 MiB (the guest would stall).
#   3. One large step: an ACPI-direct VM with 1 of 32 scaled to 32 in one ScaleVCPUs
#      (--timeout 300): time until vmmd reports all online and the guest's own CPU lists 3 s
#      later.
#
#   L1_TIMEOUT=1800 L1_SCENARIO_TIMEOUT=1500 tests/e2e/l1-run tests/e2e/bench/vcpu_counts.sh
#
# Lines: @@VC acpi P=<n> boot_ms=.. guest_up_s=.. own_rss_kib=.. slab_kib=.. guest_rss_kib=..
#          add_ms=.. add_events_ms=.. threads=..
#        @@VC per parked vCPU (P=8 -> 256): rss_b=.. slab_b=..
#        @@VC uefi P=<n> boot_ms=<ms|none> ...
#        @@VC step 1->32 scale_ms=.. events_ms=.. guest: @@CPUS online=.. enabled=..
set -eu
. /e2e/lib.sh

UEFI_WAIT=${UEFI_WAIT:-240}
CMD="$GUEST_CMDLINE vmmd.e2e=idle"

# own_rss_kib / guest_rss_kib: vmmd's resident KiB outside / inside mappings of exactly
# GUEST_KIB (the guest RAM; no other mapping of vmmd has that size).
GUEST_KIB=1048576
smaps_rss() {
  awk -v g="$GUEST_KIB" -v want="$1" '
    /^[0-9a-f]+-[0-9a-f]+ / { guest = 0 }
    $1 == "Size:" { guest = ($2 == g) }
    $1 == "Rss:" { if (guest == want) sum += $2 }
    END { print sum + 0 }' "/proc/$VMMD_PID/smaps"
}
own_rss_kib() { smaps_rss 0; }
guest_rss_kib() { smaps_rss 1; }
slab_kib() { awk '$1 == "Slab:" { print $2 }' /proc/meminfo; }
ms_of() { echo "$1" | awk -F'[:.]' '{ printf "%d\n", (($1 * 60 + $2) * 60 + $3) * 1000 + $4 }'; }
# event_span "VMMCTL SCALE OUTPUT" N: ms from the first PARKED -> ENABLING to the last
# -> ONLINE, failing unless N vCPUs went ONLINE.
event_span() {
  local first last
  first=$(echo "$1" | grep -a 'PARKED -> ENABLING' | head -n1 | sed -n 's/^[0-9-]*T\([0-9:.]*\)Z .*/\1/p')
  last=$(echo "$1" | grep -a -- '-> ONLINE' | tail -n1 | sed -n 's/^[0-9-]*T\([0-9:.]*\)Z .*/\1/p')
  [ "$(echo "$1" | grep -ac -- '-> ONLINE')" = "$2" ] || fail "expected $2 vCPUs ONLINE in: $1"
  echo $(($(ms_of "$last") - $(ms_of "$first")))
}
# wait_up VM TIMEOUT_S: ms until @@GUEST-UP, or "none".
wait_up() {
  local t0 end
  t0=$(now_ms)
  end=$((t0 + $2 * 1000))
  until grep -aq '^@@GUEST-UP ' "$(console_file "$1")" 2>/dev/null; do
    check_vmmd
    [ "$(now_ms)" -lt "$end" ] || { echo none; return; }
    sleep 0.1
  done
  echo $(($(now_ms) - t0))
}

start_vmmd
log "@@BENCH vcpu_counts; L1: $(nproc) CPUs, $(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo) KiB"

# ---- 1. possible vCPUs, ACPI direct --------------------------------------------------------
for p in 8 64 256 512; do
  vm=p$p
  r0=$(own_rss_kib)
  s0=$(slab_kib)
  ctl create "$vm" --boot=acpi-direct --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
    --cmdline "$CMD" --memory-mib 1024 --vcpus 1 --max-vcpus "$p" >/dev/null
  t0=$(now_ms)
  ctl start "$vm" >/dev/null
  b=$(wait_up "$vm" 300)
  if [ "$b" = none ]; then
    log "@@VC acpi P=$p boot_ms=none (no @@GUEST-UP after 300 s) vcpu0: $(ctl cpus "$vm" | awk '$1 == 0')"
    ctl delete "$vm" >/dev/null
    continue
  fi
  b=$(($(now_ms) - t0))
  sleep 2
  dr=$(($(own_rss_kib) - r0))
  ds=$(($(slab_kib) - s0))
  eval "own_$p=$dr slab_$p=$ds"
  up=$(grep -a '^@@GUEST-UP ' "$(console_file "$vm")" | head -n1 | tr -d '\r')
  t=$(now_ms)
  out=$(ctl scale "$vm" --vcpus 2 --timeout 120)
  t=$(($(now_ms) - t))
  ev=$(event_span "$out" 1)
  log "@@VC acpi P=$p boot_ms=$b guest_up_s=$(field "$up" uptime) possible=$(field "$up" possible) own_rss_kib=$dr slab_kib=$ds guest_rss_kib=$(guest_rss_kib) add_ms=$t add_events_ms=$ev threads=$(ls /proc/"$VMMD_PID"/task | wc -l)"
  ctl delete "$vm" >/dev/null
done
log "@@VC per parked vCPU (P=8 -> 256): rss_b=$(((own_256 - own_8) * 1024 / 248)) slab_b=$(((slab_256 - slab_8) * 1024 / 248))"

# ---- 2. possible vCPUs, UEFI ---------------------------------------------------------------
for p in 256 512; do
  vm=u$p
  ctl create "$vm" --firmware "$GUEST_FIRMWARE" --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
    --cmdline "$CMD" --memory-mib 1024 --vcpus 1 --max-vcpus "$p" >/dev/null
  ctl start "$vm" >/dev/null
  b=$(wait_up "$vm" "$UEFI_WAIT")
  if [ "$b" = none ]; then
    log "@@VC uefi P=$p boot_ms=none (no @@GUEST-UP after ${UEFI_WAIT} s) vcpu0: $(ctl cpus "$vm" | awk '$1 == 0')"
    log "@@VC uefi P=$p unmapped_mmio=$(vm_field "$vm" unmapped_mmio); console tail:"
    tail -c 600 "$(console_file "$vm")" | tr -d '\r' | tr -c '[:print:]\n' '.' >&9
    log ""
  else
    log "@@VC uefi P=$p boot_ms=$b"
  fi
  ctl delete "$vm" >/dev/null
done

expect_error INVALID_ARGUMENT create small --boot=acpi-direct --kernel "$GUEST_KERNEL" \
  --initrd "$GUEST_INITRD" --memory-mib 512 --vcpus 1 --max-vcpus 512
log "@@VC refused 512 possible in 512 MiB: $(cat /tmp/.expect.err)"

# ---- 3. 1 -> 32 in one call ----------------------------------------------------------------
ctl create big --boot=acpi-direct --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
  --cmdline "$CMD" --memory-mib 512 --vcpus 1 --max-vcpus 32 >/dev/null
ctl start big >/dev/null
[ "$(wait_up big 300)" != none ] || fail "big: no @@GUEST-UP in 300 s"
t=$(now_ms)
out=$(ctl scale big --vcpus 32 --timeout 300)
t=$(($(now_ms) - t))
ev=$(event_span "$out" 31)
sleep 3
cpus=$(guest_cpus big)
log "@@VC step 1->32 scale_ms=$t events_ms=$ev guest: $cpus"
log "@@BENCH done; L1 load $(cut -d' ' -f1-3 /proc/loadavg)"
