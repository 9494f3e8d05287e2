#!/bin/sh
# l1-run: qemu
# Boot and resize, vmmd vs QEMU (prints numbers, asserts nothing): the test guest (6.12 Image,
# test initramfs, the same quiet command line with vmmd.e2e=idle, 512 MiB, no devices) under
# vmmd and under Debian trixie's QEMU (-accel kvm, in L1 next to vmmd), both on L1's KVM in the
# same L1 boot, alternating (odd runs vmmd first), RUNS times each (default 5;
# L1_APPEND=vmmd_bench.runs=N).
#
# Every run of a VMM:
#   vmmd  dt    device tree, 2 of 2 vCPUs: launch -> @@GUEST-UP
#         uefi  stock edk2 (--firmware), 2 of 4: launch -> @@GUEST-UP; then `vmmctl scale
#               --vcpus 4` (waits until the guest has both new vCPUs online)
#         acpi  ACPI direct boot (--boot=acpi-direct, no firmware), 2 of 4: the same
#   QEMU  dt    -kernel with its device tree, -smp 2: launch -> @@GUEST-UP; then the resize an
#               arm64 user of mainline QEMU has (no vCPU hotplug on arm64): stop the VM and
#               boot it again with -smp 4, until @@GUEST-UP shows online=0-3
#         uefi  -bios QEMU_EFI.fd -kernel, -smp 2: the same
# "launch" is `vmmctl create` + `vmmctl start` for vmmd (vmmd already runs) and the process
# start for QEMU; @@GUEST-UP is polled in the console file every 0.1 s.
# The resize rows put vmmd's live hot-add next to QEMU's restart of the same boot kind (acpi
# next to QEMU's dt: the two direct boots). For vmmd's hot-add also: the span of its own
# events (first PARKED -> ENABLING to last ENABLED -> ONLINE, vmmctl's event timestamps) and
# the CPU its threads used meanwhile (every thread but the vCPUs' — vmmd's own share of the
# wall time — and, apart, the vCPU threads' system time: bench-lib.sh cpu_ticks, 10 ms ticks).
#
#   L1_TIMEOUT=2400 L1_SCENARIO_TIMEOUT=2100 tests/e2e/l1-run tests/e2e/bench/boot_resize_vs_qemu.sh
#
# Per VM:  @@BR <vmmd|qemu> <run> <kind> boot_ms=.. guest_up_s=.. [resize ...]
# Then:    @@BR-TABLE lines (bench-lib.sh table).
set -eu
. /e2e/lib.sh
. /e2e/bench-lib.sh

RUNS=$(bench_runs 5)
MEM=512
CMD="$GUEST_CMDLINE vmmd.e2e=idle"
DATA=/tmp/br.txt
rm -f "$DATA"

# launch VMM NAME KIND VCPUS MAX: starts the VM; sets CON, QPID and T0 (now_ms before launch).
launch() {
  local vmm=$1 name=$2 kind=$3 vcpus=$4 max=$5 opts=
  if [ "$vmm" = vmmd ]; then
    case "$kind" in
      uefi) opts="--firmware $GUEST_FIRMWARE" ;;
      acpi) opts="--boot=acpi-direct" ;;
    esac
    CON=$(console_file "$name")
    QPID=
    T0=$(now_ms)
    # shellcheck disable=SC2086
    ctl create "$name" --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" --cmdline "$CMD" \
      --memory-mib "$MEM" --vcpus "$vcpus" --max-vcpus "$max" $opts >/dev/null
    TS=$(now_ms)
    ctl start "$name" >/dev/null
    record vmmd "start_$kind" $(($(now_ms) - TS))
  else
    [ "$kind" = uefi ] && opts="-bios $GUEST_FIRMWARE"
    CON=/tmp/qemu-$name.con
    rm -f "$CON"
    T0=$(now_ms)
    # shellcheck disable=SC2086
    "$QEMU" -name "$name,debug-threads=on" -M virt,gic-version=3 -accel kvm -cpu host \
      -m "$MEM" -smp "$vcpus" -nographic -nodefaults -monitor none -serial "file:$CON" \
      -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -append "$CMD" $opts \
      >"/tmp/qemu-$name.log" 2>&1 </dev/null &
    QPID=$!
  fi
}


# boot_up VMM KEY ONLINE: waits for @@GUEST-UP (fails unless it shows online=ONLINE), records
# KEY (ms since T0) and uptime_KEY; prints "KEY_ms=.. guest_up_s=..".
boot_up() {
  local up ms
  wait_console '^@@GUEST-UP uptime=[0-9.]+ online=[0-9,-]+ ' 300
  ms=$(($(now_ms) - T0))
  up=$(line '^@@GUEST-UP ')
  [ "$(field "$up" online)" = "$3" ] || fail "$1: $up, expected online=$3"
  record "$1" "$2" "$ms"
  record "$1" "uptime_$2" "$(field "$up" uptime)"
  echo "$2_ms=$ms guest_up_s=$(field "$up" uptime)"
}

# ms_of HH:MM:SS.mmm (the time of an ISO timestamp): milliseconds since midnight.
ms_of() { echo "$1" | awk -F'[:.]' '{ printf "%d\n", (($1 * 60 + $2) * 60 + $3) * 1000 + $4 }'; }

# hot_add NAME KEY: `vmmctl scale NAME --vcpus 4` on a 2-of-4 vmmd VM; records KEY (its wall
# time), KEY_events (first ENABLING -> last ONLINE, vmmd's timestamps), KEY_own (ms of CPU of
# vmmd's threads but the vCPUs' meanwhile: the API, the controller, the device and hotplug
# logic) and KEY_vsys (the vCPU threads' system time: L1's KVM running the guest's exits,
# the guest's own hotplug work included); prints them.
hot_add() {
  local t c out first last ev c1 own vsys
  c=$(cpu_ticks vmmd)
  t=$(now_ms)
  out=$(ctl scale "$1" --vcpus 4)
  t=$(($(now_ms) - t))
  c1=$(cpu_ticks vmmd)
  # shellcheck disable=SC2086
  set -- "$1" "$2" $c $c1
  own=$((($6 - $3) * 10))
  vsys=$((($7 - $4) * 10))
  first=$(echo "$out" | grep -a 'PARKED -> ENABLING' | head -n1 | sed -n 's/^[0-9-]*T\([0-9:.]*\)Z .*/\1/p')
  last=$(echo "$out" | grep -a 'ENABLED -> ONLINE' | tail -n1 | sed -n 's/^[0-9-]*T\([0-9:.]*\)Z .*/\1/p')
  [ -n "$first" ] && [ -n "$last" ] || fail "vmmctl scale $1 printed no transitions: $out"
  [ "$(echo "$out" | grep -ac 'ENABLED -> ONLINE')" = 2 ] || fail "vmmctl scale $1: not 2 vCPUs ONLINE: $out"
  ev=$(($(ms_of "$last") - $(ms_of "$first")))
  record vmmd "$2" "$t"
  record vmmd "$2_events" "$ev"
  record vmmd "$2_own" "$own"
  record vmmd "$2_vsys" "$vsys"
  echo "resize_ms=$t events_ms=$ev vmmd_threads_cpu_ms=$own vcpu_sys_ms=$vsys"
}

one() {
  local vmm=$1 n=$2 b r
  if [ "$vmm" = vmmd ]; then
    launch vmmd "dt$n" dt 2 2
    b=$(boot_up vmmd boot_dt 0-1)
    log "@@BR vmmd $n dt $b"
    stop_vm vmmd "dt$n"
    for k in uefi acpi; do
      launch vmmd "$k$n" "$k" 2 4
      b=$(boot_up vmmd "boot_$k" 0-1)
      r=$(hot_add "$k$n" "resize_$k")
      log "@@BR vmmd $n $k $b $r"
      stop_vm vmmd "$k$n"
    done
  else
    for k in dt uefi; do
      launch qemu "$k$n" "$k" 2 2
      b=$(boot_up qemu "boot_$k" 0-1)
      stop_vm qemu "$k$n"
      launch qemu "$k${n}b" "$k" 4 4
      r=$(boot_up qemu "resize_$k" 0-3)
      log "@@BR qemu $n $k $b restart_with_4: $r"
      stop_vm qemu "$k${n}b"
    done
  fi
}

log "@@BENCH boot_resize_vs_qemu: $RUNS runs each; $("$QEMU" --version | head -n1); L1: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
start_vmmd
alternate "$RUNS" one
# vmmd's ACPI direct boot next to QEMU's direct boot; its live resize next to QEMU's restarts.
awk '$1 == "boot_dt" && $2 == "qemu" { print "boot_acpi_vs_qemu_dt qemu " $3 }
     $1 == "boot_acpi" && $2 == "vmmd" { print "boot_acpi_vs_qemu_dt vmmd " $3 }
     $1 == "resize_acpi" && $2 == "vmmd" { print "resize_acpi_vs_qemu_dt vmmd " $3 }
     $1 == "resize_dt" && $2 == "qemu" { print "resize_acpi_vs_qemu_dt qemu " $3 }' "$DATA" >"$DATA.x"
cat "$DATA.x" >>"$DATA"

table BR-TABLE "$RUNS" <<'ROWS'
boot_dt|boot DT (2 vCPUs), launch->@@GUEST-UP|ms
boot_uefi|boot UEFI (2 vCPUs), launch->@@GUEST-UP|ms
boot_acpi_vs_qemu_dt|boot: vmmd ACPI direct vs QEMU DT|ms
uptime_boot_dt|guest uptime at @@GUEST-UP, DT|s
uptime_boot_uefi|guest uptime at @@GUEST-UP, UEFI|s
resize_uefi|2->4 online: vmmd hot-add vs QEMU restart, UEFI|ms
resize_acpi_vs_qemu_dt|2->4: vmmd ACPI-direct hot-add vs QEMU DT restart|ms
resize_uefi_events|vmmd hot-add, UEFI: ENABLING->last ONLINE|ms
resize_acpi_events|vmmd hot-add, ACPI direct: ENABLING->last ONLINE|ms
resize_uefi_own|vmmd hot-add, UEFI: vmmd threads but vCPUs, CPU|ms
resize_acpi_own|vmmd hot-add, ACPI direct: vmmd threads but vCPUs, CPU|ms
resize_uefi_vsys|vmmd hot-add, UEFI: vCPU threads, system CPU|ms
resize_acpi_vsys|vmmd hot-add, ACPI direct: vCPU threads, system CPU|ms
ROWS
table BR-VMMD "$RUNS" <<'ROWS'
boot_acpi|vmmd boot ACPI direct (2 of 4), launch->@@GUEST-UP|ms
uptime_boot_acpi|guest uptime at @@GUEST-UP, ACPI direct|s
start_dt|vmmctl start (DT), the whole call|ms
start_uefi|vmmctl start (UEFI), the whole call|ms
start_acpi|vmmctl start (ACPI direct), the whole call|ms
ROWS
log "@@BENCH done; L1 load $(cut -d' ' -f1-3 /proc/loadavg)"
