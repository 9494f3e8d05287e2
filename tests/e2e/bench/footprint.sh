#!/bin/sh
# l1-run: qemu
# What vmmd costs the host beside its guests, next to QEMU (prints numbers, asserts nothing):
#   1. idle CPU: vmmd with no VM, then with one idle VM (ACPI direct boot, 1 of 2 vCPUs,
#      128 MiB, vmmd.e2e=idle), each over IDLE_S s after a settle: the CPU of vmmd's threads
#      but the vCPU threads (ms per s), the busiest of them by name (/proc/PID/task/*/comm)
#   2. memory: vmmd's RSS outside guest RAM (/proc/PID/smaps: every mapping but those of exactly
#      the guest RAM size) with no VM, 1 VM and N VMs (default 20; 50 did not finish booting within 2100 s in the bed) of that kind, booted one after
#      the other to @@GUEST-UP and idle: per additional VM; threads per VM. QEMU: one process
#      running the same guest (direct kernel boot, -smp 1,maxcpus=2, 128 MiB): its RSS outside
#      the guest RAM mapping and its threads
#   3. leaks: 50 create/start/delete cycles (e2e-driver cycles): vmmd's threads, fds and RSS
#   4. API round trip: GetCPUState on a kept channel (e2e-driver rtt, 200 calls) vs
#      `vmmctl cpus` as a shell runs it (a new process and connection each, 20 runs), and a
#      bare `vmmctl --help` (the program's start alone)
# N (VMs) from vmmd_bench.vms=N on L1's command line; L1 needs more memory than the default for
# many guests (each touches ~45 MiB of its RAM booting):
#
#   L1_MEM=6G L1_TIMEOUT=2400 L1_SCENARIO_TIMEOUT=2100 tests/e2e/l1-run tests/e2e/bench/footprint.sh
#
# Lines: @@FP <what> key=value ...
set -eu
. /e2e/lib.sh
. /e2e/bench-lib.sh

IDLE_S=30
MEM_MIB=128
GUEST_KIB=$((MEM_MIB * 1024))
CMD="$GUEST_CMDLINE vmmd.e2e=idle"
N=$(cmdline_arg vmmd_bench.vms 20)

# own_rss_kib PID: resident KiB outside mappings of exactly GUEST_KIB (the guests' RAM).
own_rss_kib() {
  awk -v g="$GUEST_KIB" '/^[0-9a-f]+-[0-9a-f]+ / { guest = 0 }
    $1 == "Size:" { guest = ($2 == g) } $1 == "Rss:" && !guest { sum += $2 } END { print sum + 0 }' \
    "/proc/$1/smaps"
}
threads() { ls "/proc/$1/task" | wc -l; }
# thread_ticks PID: "<comm>\t<utime+stime ticks>" for every thread but vCPU threads
# ("<vm>/<n>", QEMU's "CPU <n>/KVM").
thread_ticks() {
  local t comm
  for t in /proc/"$1"/task/*; do
    comm=$(cat "$t/comm" 2>/dev/null) || continue
    case "$comm" in CPU\ */KVM | */[0-9]*) continue ;; esac
    printf '%s\t%s\n' "$comm" "$(awk '{ print $14 + $15 }' "$t/stat" 2>/dev/null || echo 0)"
  done
}
# idle_cpu WHAT: vmmd's non-vCPU CPU over IDLE_S s, in ms per s, and the busiest threads.
idle_cpu() {
  local before after
  before=$(thread_ticks "$VMMD_PID")
  sleep "$IDLE_S"
  after=$(thread_ticks "$VMMD_PID")
  printf '%s\n--\n%s\n' "$before" "$after" | awk -F'\t' -v s="$IDLE_S" -v what="$1" '
    $0 == "--" { after = 1; next }
    { if (after) { d[$1] += $2 } else { d[$1] -= $2 } }
    END { for (k in d) { total += d[k]; if (d[k] > 0) top = top sprintf(" %s=%dms", k, d[k] * 10) }
          printf "@@FP idle %s cpu_ms_per_s=%.2f over=%ds threads:%s\n", what, total * 10 / s, s, top }' >&9
}
# boot VM: an ACPI-direct VM, 1 of 2 vCPUs, MEM_MIB, started and up.
boot() {
  ctl create "$1" --boot=acpi-direct --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
    --cmdline "$CMD" --memory-mib "$MEM_MIB" --vcpus 1 --max-vcpus 2 >/dev/null
  ctl start "$1" >/dev/null
  wait_for_line "$(console_file "$1")" '^@@GUEST-UP ' 600 "$1" >/dev/null
}

start_vmmd
log "@@BENCH footprint: N=$N; L1: $(nproc) CPUs, $(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo) KiB"
sleep 5

# ---- 1 + 2: idle CPU and memory ------------------------------------------------------------
idle_cpu no_vm
r0=$(own_rss_kib "$VMMD_PID")
t0=$(threads "$VMMD_PID")
log "@@FP vmmd no_vm own_rss_kib=$r0 threads=$t0"
boot v1
sleep 10
r1=$(own_rss_kib "$VMMD_PID")
t1=$(threads "$VMMD_PID")
log "@@FP vmmd 1_vm own_rss_kib=$r1 threads=$t1 first_vm_kib=$((r1 - r0))"
idle_cpu one_idle_vm
i=2
while [ "$i" -le "$N" ]; do
  boot "v$i"
  i=$((i + 1))
done
sleep 10
rn=$(own_rss_kib "$VMMD_PID")
tn=$(threads "$VMMD_PID")
log "@@FP vmmd ${N}_vms own_rss_kib=$rn threads=$tn per_added_vm_kib=$(((rn - r1) / (N - 1))) threads_per_vm=$(((tn - t0) / N)) running=$(ctl list | grep -c RUNNING)"
idle_cpu "${N}_idle_vms"
i=1
while [ "$i" -le "$N" ]; do
  ctl delete "v$i" >/dev/null
  i=$((i + 1))
done
sleep 2
log "@@FP vmmd after_delete own_rss_kib=$(own_rss_kib "$VMMD_PID") threads=$(threads "$VMMD_PID") (no_vm was $r0, $t0)"

# QEMU: one process, the same guest by direct kernel boot.
CON=/tmp/qemu-fp.con
rm -f "$CON"
"$QEMU" -name "fp,debug-threads=on" -M virt,gic-version=3 -accel kvm -cpu host -m "$MEM_MIB" \
  -smp 1,maxcpus=2 -nographic -nodefaults -monitor none -serial "file:$CON" \
  -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -append "$CMD" >/tmp/qemu-fp.log 2>&1 </dev/null &
QPID=$!
wait_console '^@@GUEST-UP ' 600
sleep 10
log "@@FP qemu 1_vm own_rss_kib=$(own_rss_kib "$QPID") threads=$(threads "$QPID") rss_kib=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$QPID/status")"
kill "$QPID"
wait "$QPID" 2>/dev/null || true
QPID=

# ---- 3: create/start/delete cycles ---------------------------------------------------------
log "@@FP cycles $(e2e-driver cycles "$VMMD_SOCK" "$VMMD_PID" 50 "$GUEST_KERNEL" "$GUEST_INITRD" "$CMD" | grep '^@@CYCLES')"

# ---- 4: API round trip ---------------------------------------------------------------------
boot rt
log "@@FP api kept_channel $(e2e-driver rtt "$VMMD_SOCK" rt 200)"
ms=
i=0
while [ "$i" -lt 20 ]; do
  t=$(now_ms)
  ctl cpus rt >/dev/null
  ms="$ms $(($(now_ms) - t))"
  i=$((i + 1))
done
log "@@FP api vmmctl_cpus_ms median=$(echo $ms | tr ' ' '\n' | sort -n | awk '{ x[NR] = $1 } END { print x[int((NR + 1) / 2)] }') all:$ms"
ms=
i=0
while [ "$i" -lt 10 ]; do
  t=$(now_ms)
  vmmctl --help >/dev/null 2>&1 || true
  ms="$ms $(($(now_ms) - t))"
  i=$((i + 1))
done
log "@@FP api vmmctl_help_ms median=$(echo $ms | tr ' ' '\n' | sort -n | awk '{ x[NR] = $1 } END { print x[int((NR + 1) / 2)] }') all:$ms"
log "@@BENCH done; L1 load $(cut -d' ' -f1-3 /proc/loadavg)"
