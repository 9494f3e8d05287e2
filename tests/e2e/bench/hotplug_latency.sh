#!/bin/sh
# vCPU hotplug latency benchmark (prints numbers, asserts nothing about them): +1 vCPU (1 -> 2)
# and -1 vCPU (2 -> 1) on a stock Linux 6.12 guest (UEFI + ACPI, the mdev online rule), RUNS
# times each, alternating, in one L1 boot.
#
#   tests/e2e/l1-run tests/e2e/bench/hotplug_latency.sh
#
# Every phase is read from vmmd's own debug log (one monotonic clock, microseconds):
#   request   ScaleVCPUs arrived ("scale request")
#   notified  the GED interrupt was raised ("GED: CPU hotplug event raised")
#   enabled   the guest registered the CPU (_OST success: ENABLING -> ENABLED)
#   online    the guest's CPU_ON was accepted (-> ONLINE); cpu_on = vmmd's time inside it
#   parked    the guest ejected the CPU (_EJ0: REMOVING -> PARKED)
#   answered  ScaleVCPUs answered ("api: ScaleVCPUs(...): OK")
# Per run:
#   @@HOTPLUG add <n> to_enabled=<ms> to_online=<ms> answered=<ms> vmmd=<ms> guest=<ms> client=<ms>
#   @@HOTPLUG remove <n> to_parked=<ms> answered=<ms> vmmd=<ms> guest=<ms> client=<ms>
# where to_* and answered are measured from `request`; vmmd = request -> notified (+ cpu_on);
# guest = notified -> online (- cpu_on) or notified -> parked; client = the whole vmmctl call
# as the L1 shell sees it (10 ms resolution; includes vmmctl's own start and the gRPC round trip).
# Then: @@HOTPLUG-SUMMARY <op> <metric> median=<ms> min=<ms> max=<ms>
set -eu
. /e2e/lib.sh

RUNS=${RUNS:-5}
LOG=/tmp/vmmd.log
mkdir -p /run/vmmd
vmmd --socket "$VMMD_SOCK" --log_level=debug >"$LOG" 2>&1 &
VMMD_PID=$!
until vmmctl --socket "$VMMD_SOCK" list >/dev/null 2>&1; do check_vmmd; sleep 0.1; done

create_acpi_vm lat 1 2
ctl start lat
wait_for_line "$(console_file lat)" '^@@GUEST-UP ' 240 lat >/dev/null

# t_after START PATTERN: the log time (seconds, µs precision) of the first line after line
# START that matches PATTERN (an awk regex), or "" if none.
t_after() { tail -n +"$(($1 + 1))" "$LOG" | awk -v p="$2" '$0 ~ p { print $1; exit }'; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }

run() {  # run add|remove N
  local op=$1 n=$2 target start t0 client req ged reg on done park cpu_on_us vmmd guest
  if [ "$op" = add ]; then target=2; else target=1; fi
  start=$(wc -l <"$LOG")
  t0=$(now_ms)
  ctl scale lat --vcpus $target --timeout 60 >/dev/null
  client=$(($(now_ms) - t0))
  sleep 0.3  # let the log catch up (the _OST lines can trail the answer)
  req=$(t_after "$start" 'scale request')
  ged=$(t_after "$start" 'GED: CPU hotplug event raised')
  done=$(t_after "$start" 'api: ScaleVCPUs\\("lat"\\): OK')
  if [ "$op" = add ]; then
    reg=$(t_after "$start" 'vCPU 1 ENABLING -> ENABLED')
    on=$(t_after "$start" 'vCPU 1 (ENABLED|ENABLING) -> ONLINE')
    cpu_on_us=$(tail -n +"$((start + 1))" "$LOG" | sed -n 's/.*CPU_ON(0x1,.*-> SUCCESS in \([0-9]*\) us.*/\1/p' | head -n1)
    [ -n "$req" ] && [ -n "$ged" ] && [ -n "$on" ] && [ -n "$done" ] || fail "add $n: phases missing in $LOG"
    [ -n "$reg" ] || reg=$on  # the guest may start the CPU before its _OST arrives
    vmmd=$(awk -v a="$(ms "$req" "$ged")" -v c="${cpu_on_us:-0}" 'BEGIN { printf "%.1f", a + c / 1000 }')
    guest=$(awk -v a="$(ms "$ged" "$on")" -v c="${cpu_on_us:-0}" 'BEGIN { printf "%.1f", a - c / 1000 }')
    echo "@@HOTPLUG add $n to_enabled=$(ms "$req" "$reg") to_online=$(ms "$req" "$on") answered=$(ms "$req" "$done") vmmd=$vmmd guest=$guest client=$client" >>/tmp/bench.lines
    log "@@HOTPLUG add $n to_enabled=$(ms "$req" "$reg") to_online=$(ms "$req" "$on") answered=$(ms "$req" "$done") vmmd=$vmmd guest=$guest client=$client"
  else
    park=$(t_after "$start" 'vCPU 1 REMOVING -> PARKED')
    [ -n "$req" ] && [ -n "$ged" ] && [ -n "$park" ] && [ -n "$done" ] || fail "remove $n: phases missing in $LOG"
    echo "@@HOTPLUG remove $n to_parked=$(ms "$req" "$park") answered=$(ms "$req" "$done") vmmd=$(ms "$req" "$ged") guest=$(ms "$ged" "$park") client=$client" >>/tmp/bench.lines
    log "@@HOTPLUG remove $n to_parked=$(ms "$req" "$park") answered=$(ms "$req" "$done") vmmd=$(ms "$req" "$ged") guest=$(ms "$ged" "$park") client=$client"
  fi
}

i=1
while [ $i -le "$RUNS" ]; do
  run add $i
  run remove $i
  i=$((i + 1))
done

# Summaries: median/min/max of each metric over the runs.
for op in add remove; do
  for metric in $(grep "^@@HOTPLUG $op " /tmp/bench.lines | head -n1 | tr ' ' '\n' | sed -n 's/=.*//p'); do
    grep "^@@HOTPLUG $op " /tmp/bench.lines | tr ' ' '\n' | sed -n "s/^$metric=//p" | sort -n |
      awk -v op="$op" -v m="$metric" '{ v[NR] = $1 } END {
        printf "@@HOTPLUG-SUMMARY %s %s median=%s min=%s max=%s\n", op, m, v[int((NR + 1) / 2)], v[1], v[NR] }' >&9
  done
done
