# The helpers of the side-by-side benchmarks (vmmd vs Debian's QEMU in the same L1:
# tests/e2e/bench/vmmd_vs_qemu.sh, debian_vs_qemu.sh), sourced after /e2e/lib.sh; installed in
# L1 as /e2e/bench-lib.sh. A script sets DATA (the file of measurements), and for the VM it
# runs CON (its console file) and QPID (QEMU's pid; empty for vmmd).

# Trixie's QEMU and iperf3 (tests/e2e/qemu/fetch-qemu.sh, for scripts with "# l1-run: qemu").
QEMU=/extra/qemu/qemu-system-aarch64
IPERF=/extra/qemu/iperf3
[ -x "$QEMU" ] && [ -x "$IPERF" ] ||
  fail "no $QEMU or $IPERF (run with tests/e2e/l1-run: the script's '# l1-run: qemu' line)"

# bench_runs DEFAULT: how many runs of each VMM: vmmd_bench.runs=N on L1's command line
# (l1-run's L1_APPEND), else DEFAULT.
bench_runs() { cmdline_arg vmmd_bench.runs "$1"; }

# alternate RUNS FUNC: FUNC vmmd N and FUNC qemu N for N = 1..RUNS, vmmd first in odd runs and
# QEMU first in even ones (so neither always runs on a fresher L1).
alternate() {
  local n=1
  while [ "$n" -le "$1" ]; do
    if [ $((n % 2)) = 1 ]; then "$2" vmmd "$n"; "$2" qemu "$n"; else "$2" qemu "$n"; "$2" vmmd "$n"; fi
    n=$((n + 1))
  done
}

# wait_console REGEX TIMEOUT_S: polls $CON every 0.1 s (grep only) until a line matches; fails
# when QEMU ($QPID) or vmmd exited, or after TIMEOUT_S. The console file grows byte by byte (a
# PL011): a REGEX must reach past the last field it reads, or it may match half a line.
wait_console() {
  local i=0
  until grep -aqE -- "$1" "$CON" 2>/dev/null; do
    check_vmmd
    if [ -n "$QPID" ] && ! kill -0 "$QPID" 2>/dev/null; then
      grep -aqE -- "$1" "$CON" 2>/dev/null && return 0
      fail "QEMU (pid $QPID) exited while waiting for /$1/ in $CON"
    fi
    i=$((i + 1))
    if [ "$i" -gt $(($2 * 10)) ]; then
      log "---- the last lines of $CON"
      tail -n 40 "$CON" | tr -d '\r' >&9
      fail "no line matching /$1/ in $CON after $2 s"
    fi
    sleep 0.1
  done
}
# stop_vm VMM NAME: vmmd deletes the VM (it may still run); QEMU ($QPID) gets SIGTERM, unless
# it exited, and is reaped.
stop_vm() {
  if [ "$1" = vmmd ]; then
    ctl delete "$2" >/dev/null
  else
    kill "$QPID" 2>/dev/null || true
    wait "$QPID" 2>/dev/null || true
    QPID=
  fi
}
# line REGEX: the first console line that matches, without its carriage return.
line() { grep -aE -m1 -- "$1" "$CON" | tr -d '\r'; }

# record VMM METRIC VALUE: one measurement.
record() { echo "$2 $1 $3" >>"$DATA"; }

# cpu_ticks VMM: "<own> <vcpu_sys> <guest>" clock ticks (1/100 s) the VMM's process has used so
# far: own = the CPU of every thread but its vCPU threads (device emulation, I/O threads, main
# loops; threads that ended included: /proc/PID/stat keeps their time), vcpu_sys = the system
# time of its vCPU threads (L1's kernel: KVM's exit handling and the VMM's system calls from
# them), guest = the time its vCPUs ran the guest. vCPU threads are vmmd's "<vm>/<n>" and QEMU's
# "CPU <n>/KVM" (QEMU names its threads only with -name ...,debug-threads=on). (Per thread, not "user minus guest" of the process: the kernel scales utime
# and stime, not guest_time, and under a busy guest the difference went negative by seconds.)
# vmmd's process serves one VM at a time here (the others are deleted), so its delta over a
# window is what serving that VM cost.
cpu_ticks() {
  local pid=$QPID t comm vcpu=0 vsys=0 total guest
  [ "$1" = vmmd ] && pid=$VMMD_PID
  for t in /proc/"$pid"/task/*; do
    read -r comm <"$t/comm" 2>/dev/null || continue
    case "$comm" in
      CPU\ */KVM | */[0-9]*)
        set -- $(awk '{ print $14 + $15, $15 }' "$t/stat" 2>/dev/null)
        vcpu=$((vcpu + ${1:-0}))
        vsys=$((vsys + ${2:-0}))
        ;;
    esac
  done
  set -- $(awk '{ print $14 + $15, $43 }' "/proc/$pid/stat")
  echo "$(($1 - vcpu)) $vsys $2"
}
# cpu_window VMM PREFIX "<own0> <vcpu_sys0> <guest0>": records <prefix>_own, _vcpu_sys, _guest
# (s) since that sample; prints "<prefix>_cpu_s=own/vcpu_sys/guest".
cpu_window() {
  local o y g
  # shellcheck disable=SC2046
  set -- "$1" "$2" $3 $(cpu_ticks "$1")
  o=$(awk -v a="$3" -v b="$6" 'BEGIN { printf "%.2f", (b - a) / 100 }')
  y=$(awk -v a="$4" -v b="$7" 'BEGIN { printf "%.2f", (b - a) / 100 }')
  g=$(awk -v a="$5" -v b="$8" 'BEGIN { printf "%.2f", (b - a) / 100 }')
  record "$1" "$2_own" "$o"
  record "$1" "$2_vcpu_sys" "$y"
  record "$1" "$2_guest" "$g"
  echo "$2_cpu_s=$o/$y/$g"
}

# stats METRIC VMM: "median min max" of its values ("- - -" without any).
stats() {
  awk -v m="$1" -v v="$2" '$1 == m && $2 == v { print $3 }' "$DATA" | sort -n |
    awk '{ x[NR] = $1 } END { if (!NR) { print "- - -"; exit }
      printf "%s %s %s\n", (NR % 2) ? x[(NR + 1) / 2] : (x[NR / 2] + x[NR / 2 + 1]) / 2, x[1], x[NR] }'
}

# table TAG RUNS: reads "metric|label|unit" rows on stdin and logs, per row, "@@<TAG> label
# unit vmmd-median (min-max) QEMU-median (min-max) vmmd/QEMU" (of the medians; times: < 1 =
# vmmd faster, rates: > 1 = vmmd faster).
table() {
  local tag=$1 key label unit
  log "@@$tag $2 runs each; median (min-max); ratio = vmmd median / QEMU median"
  log "@@$tag $(printf '%-40s %-6s %-24s %-24s %s' metric unit vmmd QEMU vmmd/QEMU)"
  while IFS='|' read -r key label unit; do
    log "@@$tag $(echo "$(stats "$key" vmmd) $(stats "$key" qemu)" | awk -v l="$label" -v u="$unit" '
      function f(x) { if (x == "-") return x; if (x >= 100) return sprintf("%.0f", x)
                      if (x >= 10) return sprintf("%.1f", x); return sprintf("%.2f", x) }
      { r = ($4 != "-" && $4 > 0 && $1 != "-") ? sprintf("%.2f", $1 / $4) : "-"
        printf "%-40s %-6s %-24s %-24s %s", l, u, f($1) " (" f($2) "-" f($3) ")",
          f($4) " (" f($5) "-" f($6) ")", r }')"
  done
}
