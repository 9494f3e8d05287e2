#!/bin/sh
# Boot-then-grow (prints numbers, asserts nothing): does a guest reach "N vCPUs online" sooner
# by booting on 1 vCPU and hot-adding the rest right after its userspace is up, than by booting
# on N? For N = 4 and 8, RUNS times each (default 5; L1_APPEND=vmmd_bench.runs=K), alternating
# which comes first, an ACPI-direct VM of the test guest (1024 MiB, N possible vCPUs):
#   boot_N   `vmmctl create --vcpus N` + `vmmctl start` -> @@GUEST-UP (which shows online=0..N-1)
#   grow_N   `vmmctl create --vcpus 1` + `vmmctl start` -> @@GUEST-UP -> `vmmctl scale --vcpus N`
#            returned (every added vCPU ONLINE)
#   start_N  `vmmctl create --vcpus 1 --start-vcpus N` + `vmmctl start` -> @@GUEST-UP (online=
#            0..N-1: vmmd refused the kernel's early CPU_ON for 1..N-1, its ACPI scan registered
#            them, the guest's online rule brought them up before @@GUEST-UP) — vmmd's option
#
#   L1_TIMEOUT=1800 L1_SCENARIO_TIMEOUT=1500 tests/e2e/l1-run tests/e2e/bench/boot_then_grow.sh
#
# Lines: @@GROW <boot|grow|start> N=<n> run=<k> ms=<launch -> N online> [up_ms=<launch -> @@GUEST-UP>]
# Then:  @@GROW-SUMMARY N=<n> boot median=.. (min-max) grow median=.. (min-max)
#        start median=.. (min-max) grow/boot=.. start/boot=..
set -eu
. /e2e/lib.sh

RUNS=$(cmdline_arg vmmd_bench.runs 5)
CMD="$GUEST_CMDLINE vmmd.e2e=idle"
DATA=/tmp/grow.txt
rm -f "$DATA"

# one KIND N RUN
one() {
  local kind=$1 n=$2 k=$3 vm=$1$2x$3 boot_vcpus=1 start_vcpus=0 t0 up ms line
  [ "$kind" = boot ] && boot_vcpus=$n
  [ "$kind" = start ] && start_vcpus=$n
  t0=$(now_ms)
  ctl create "$vm" --boot=acpi-direct --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
    --cmdline "$CMD" --memory-mib 1024 --vcpus "$boot_vcpus" --max-vcpus "$n" \
    --start-vcpus "$start_vcpus" >/dev/null
  ctl start "$vm" >/dev/null
  line=$(wait_for_line "$(console_file "$vm")" '^@@GUEST-UP ' 300 "$vm")
  up=$(($(now_ms) - t0))
  if [ "$kind" = grow ]; then
    ctl scale "$vm" --vcpus "$n" --timeout 120 >/dev/null
    ms=$(($(now_ms) - t0))
    log "@@GROW grow N=$n run=$k ms=$ms up_ms=$up"
  else
    [ "$(field "$line" online)" = "$(cpu_range "$n")" ] || fail "$vm: $line, expected online=$(cpu_range "$n")"
    ms=$up
    log "@@GROW $kind N=$n run=$k ms=$ms"
  fi
  echo "$kind $n $ms" >>"$DATA"
  ctl delete "$vm" >/dev/null
}

start_vmmd
for n in 4 8; do
  k=1
  while [ "$k" -le "$RUNS" ]; do
    # Each kind goes first in turn.
    case $((k % 3)) in
      1) one boot "$n" "$k"; one grow "$n" "$k"; one start "$n" "$k" ;;
      2) one grow "$n" "$k"; one start "$n" "$k"; one boot "$n" "$k" ;;
      0) one start "$n" "$k"; one boot "$n" "$k"; one grow "$n" "$k" ;;
    esac
    k=$((k + 1))
  done
done
for n in 4 8; do
  log "@@GROW-SUMMARY N=$n $(for kind in boot grow start; do
    awk -v k="$kind" -v n="$n" '$1 == k && $2 == n { print $3 }' "$DATA" | sort -n |
      awk -v k="$kind" '{ x[NR] = $1 } END { m = (NR % 2) ? x[(NR + 1) / 2] : (x[NR / 2] + x[NR / 2 + 1]) / 2
        printf "%s median=%d (%d-%d) ", k, m, x[1], x[NR]; print m > "/tmp/grow.m." k }'
  done) grow/boot=$(awk 'NR == FNR { b = $1; next } { printf "%.2f", $1 / b }' /tmp/grow.m.boot /tmp/grow.m.grow) start/boot=$(awk 'NR == FNR { b = $1; next } { printf "%.2f", $1 / b }' /tmp/grow.m.boot /tmp/grow.m.start)"
done
