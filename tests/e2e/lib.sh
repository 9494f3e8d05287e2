# Helpers for the end-to-end scenario scripts. They run inside L1 under busybox ash (no bash),
# sourced as `. /e2e/lib.sh`. Markers the runner and the reader look for:
#   @@FAIL <why>        then the tails of /tmp/vmmd.log and every VM's console log; the script
#                       exits 1
#   @@PASS <what>       one per check that held
#   @@TIME <phase> <ms> phase timings (benchmarks report numbers; nothing asserts on them)
# A failing helper exits the whole script, also from inside $(...).

VMMD_SOCK=${VMMD_SOCK:-/run/vmmd/vmmd.sock}
VMMD_LOG=/tmp/vmmd.log
VMMD_PID=
# vmmd's --state_dir (its default): each VM's console log is $VMMD_STATE/<vm>/console.log
# (console_file).
VMMD_STATE=/var/lib/vmmd
# The guest files below are under /guest, the --image_dir start_vmmd gives vmmd.
GUEST_KERNEL=/guest/Image
GUEST_KERNEL_61=/guest/Image-6.1
GUEST_INITRD=/guest/initrd.cpio
GUEST_FIRMWARE=/guest/QEMU_EFI.fd
# Guest RAM of a UEFI-booted test guest: edk2 needs more than the DT guests' 256 MiB.
GUEST_MEMORY_UEFI_MIB=512
# Kernel command line of a DT-booted test guest; append the vmmd.e2e options.
GUEST_CMDLINE="console=ttyAMA0 quiet loglevel=1 panic=-1"

# fd 9 = the script's real stdout, so messages from inside $(...) still reach the console.
exec 9>&1
# fail() inside a subshell signals the main shell, which exits 1 once the subshell is done.
_E2E_MAIN=$$
trap 'exit 1' TERM

log() { echo "$*" >&9; }

now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

# Phase timings: time_start NAME; ...; time_end NAME  ->  "@@TIME NAME <ms>".
# time_since NAME START_MS prints the time since a now_ms value.
time_start() { eval "_T_$1=\$(now_ms)"; }
time_end() {
  local t0
  eval "t0=\${_T_$1:-}"
  [ -n "$t0" ] || fail "time_end $1 without time_start $1"
  log "@@TIME $1 $(($(now_ms) - t0))"
}
time_since() { log "@@TIME $1 $(($(now_ms) - $2))"; }

fail() {
  {
    echo "@@FAIL $*"
    if [ -f "$VMMD_LOG" ]; then
      echo "---- tail of $VMMD_LOG"
      tail -n 40 "$VMMD_LOG"
    fi
    for f in "$VMMD_STATE"/*/console.log; do
      [ -f "$f" ] || continue
      echo "---- tail of $f"
      tail -n 15 "$f"
    done
    # Other programs' logs a scenario keeps in /tmp (e.g. vmm-autoscaler's).
    for f in /tmp/*.log; do
      [ -f "$f" ] && [ "$f" != "$VMMD_LOG" ] || continue
      echo "---- tail of $f"
      tail -n 40 "$f"
    done
    # A seccomp violation: the kernel's audit record names the system call (type=1326).
    if dmesg 2>/dev/null | grep -a 'type=1326' >/tmp/.seccomp 2>/dev/null; then
      echo "---- seccomp (dmesg)"
      tail -n 10 /tmp/.seccomp
    fi
    if [ -n "$VMMD_PID" ] && kill -0 "$VMMD_PID" 2>/dev/null; then
      echo "---- vmmctl list"
      vmmctl --socket "$VMMD_SOCK" list 2>&1
    fi
    echo "----"
  } >&9 2>&1
  kill -TERM "$_E2E_MAIN" 2>/dev/null
  exit 1
}

pass() { log "@@PASS $*"; }

# Starts vmmd in the background (log: /tmp/vmmd.log; --image_dir=/guest, where the guest files
# are; more flags from the arguments; VMMD_USER=USER:GROUP runs it as that user, with that
# primary group and the user's groups from /etc/group) and waits until it answers `vmmctl list`.
start_vmmd() {
  local t0 i=0 rc=0
  [ -c /dev/kvm ] || fail "no /dev/kvm in L1"
  command -v vmmd >/dev/null || fail "vmmd is not in this L1 initramfs (was it built?)"
  mkdir -p "$(dirname "$VMMD_SOCK")"
  t0=$(now_ms)
  if [ -n "${VMMD_USER:-}" ]; then
    # busybox start-stop-daemon: initgroups, setgid, setuid, then exec (same pid).
    start-stop-daemon -S -c "$VMMD_USER" -x "$(command -v vmmd)" -- --socket "$VMMD_SOCK" \
      --image_dir=/guest "$@" >>"$VMMD_LOG" 2>&1 &
  else
    vmmd --socket "$VMMD_SOCK" --image_dir=/guest "$@" >>"$VMMD_LOG" 2>&1 &
  fi
  VMMD_PID=$!
  while ! vmmctl --socket "$VMMD_SOCK" list >/dev/null 2>&1; do
    if ! kill -0 "$VMMD_PID" 2>/dev/null; then
      wait "$VMMD_PID" || rc=$?
      VMMD_PID=
      fail "vmmd exited (rc=$rc) before serving"
    fi
    i=$((i + 1))
    [ "$i" -le 300 ] || fail "vmmd does not answer on $VMMD_SOCK after 30 s"
    sleep 0.1
  done
  log "vmmd up (pid $VMMD_PID, socket $VMMD_SOCK) in $(($(now_ms) - t0)) ms"
}

# Fails when vmmd is no longer running (call it in loops; a crash must not look like a timeout).
check_vmmd() {
  [ -z "$VMMD_PID" ] && return 0
  kill -0 "$VMMD_PID" 2>/dev/null || fail "vmmd died (pid $VMMD_PID)"
}

# ctl ARGS...: vmmctl ARGS; stdout passes through, a non-zero exit fails the scenario with
# vmmctl's stderr (the gRPC code and message).
ctl() {
  local err rc=0
  { err=$(vmmctl --socket "$VMMD_SOCK" "$@" 2>&1 >&8) || rc=$?; } 8>&1
  [ "$rc" = 0 ] || fail "vmmctl $* -> exit $rc: $err"
  [ -z "$err" ] || echo "$err" >&2
}

# expect_error CODE [vmmctl] ARGS...: the command must fail (non-zero exit) with
# "vmmctl: CODE: <message>" on stderr.
expect_error() {
  local code=$1 rc=0 err
  shift
  [ "${1:-}" = vmmctl ] && shift
  vmmctl --socket "$VMMD_SOCK" "$@" >/tmp/.expect.out 2>/tmp/.expect.err || rc=$?
  err=$(cat /tmp/.expect.err)
  [ "$rc" != 0 ] || fail "vmmctl $* succeeded; expected $code (stdout: $(cat /tmp/.expect.out))"
  case "$err" in
    *"vmmctl: $code: "*) ;;
    *) fail "vmmctl $* -> exit $rc, expected $code, got: $err" ;;
  esac
  log "ok: $code <- vmmctl $*"
  log "    ${err#vmmctl: }"
  check_vmmd
}

# wait_for_line FILE REGEX TIMEOUT_S [VM]: polls FILE (grep -E) and prints the first matching
# line. With VM, also fails early (with its reason) once that VM is FAILED or STOPPED.
wait_for_line() {
  local f=$1 re=$2 to=$3 vm=${4:-} end l n=0 s
  end=$(($(now_ms) + to * 1000))
  while :; do
    l=
    [ -f "$f" ] && l=$(grep -aE -m1 -- "$re" "$f" 2>/dev/null | tr -d '\r')
    if [ -n "$l" ]; then
      echo "$l"
      return 0
    fi
    check_vmmd
    n=$((n + 1))
    if [ -n "$vm" ] && [ $((n % 10)) = 0 ]; then
      s=$(vm_field "$vm" state)
      case "$s" in
        FAILED | STOPPED)
          # (the line may have come just before the stop)
          l=$(grep -aE -m1 -- "$re" "$f" 2>/dev/null | tr -d '\r')
          [ -z "$l" ] || { echo "$l"; return 0; }
          fail "VM $vm is $s (reason: $(vm_field "$vm" reason)) while waiting for /$re/ in $f"
          ;;
      esac
    fi
    [ "$(now_ms)" -lt "$end" ] || fail "no line matching /$re/ in $f after ${to}s"
    sleep 0.2
  done
}

# vm_field VM KEY: the value of "KEY: value" from `vmmctl get VM`.
vm_field() {
  local g
  g=$(ctl get "$1" 2>/dev/null)
  echo "$g" | awk -v k="$2" 'index($0, k ": ") == 1 { print substr($0, length(k) + 3); exit }'
}

# wait_for_state VM STATE TIMEOUT_S: polls `vmmctl get VM` until "state: STATE".
wait_for_state() {
  local end s
  end=$(($(now_ms) + $3 * 1000))
  while :; do
    s=$(vm_field "$1" state)
    [ "$s" = "$2" ] && return 0
    [ "$(now_ms)" -lt "$end" ] ||
      fail "VM $1 is in state '$s' (reason: $(vm_field "$1" reason)), expected $2 after $3s"
    sleep 0.2
  done
}

# cpu_states VM: "id:STATE" of every possible vCPU, space-separated (from `vmmctl cpus`).
cpu_states() {
  ctl cpus "$1" 2>/dev/null | awk 'NR > 1 && NF { printf "%s%s:%s", sep, $1, $3; sep = " " } END { print "" }'
}

# expect_cpu_states VM "0:ONLINE 1:ONLINE 2:PARKED ..." TIMEOUT_S (states may lag the guest).
expect_cpu_states() {
  local end c
  end=$(($(now_ms) + $3 * 1000))
  while :; do
    c=$(cpu_states "$1")
    [ "$c" = "$2" ] && return 0
    [ "$(now_ms)" -lt "$end" ] ||
      fail "vmmctl cpus $1: got '$c', expected '$2'; table: $(ctl cpus "$1" 2>/dev/null)"
    sleep 0.2
  done
}

# cpu_acpi_states VM: "id:STATE:ACPI" of every possible vCPU (ACPI = the _STA Enabled bit vmmd
# shows the guest: yes/no), space-separated (from `vmmctl cpus`).
cpu_acpi_states() {
  ctl cpus "$1" 2>/dev/null | awk 'NR > 1 && NF { printf "%s%s:%s:%s", sep, $1, $3, $5; sep = " " } END { print "" }'
}

# expect_cpu_acpi VM "id:STATE:ACPI ...": vmmctl cpus VM shows exactly that (cpu_acpi_states).
expect_cpu_acpi() {
  local c
  c=$(cpu_acpi_states "$1")
  [ "$c" = "$2" ] || fail "vmmctl cpus $1 (id:STATE:ACPI): '$c', expected '$2'"
}

# list_row VM: "STATE ONLINE/MAX MEMORY_MIB" from `vmmctl list` (empty when not listed).
list_row() {
  ctl list 2>/dev/null | awk -v n="$1" 'NR > 1 && $1 == n { print $2, $3, $4; exit }'
}

# list_names: the VM names `vmmctl list` shows, space-separated.
list_names() {
  ctl list 2>/dev/null | awk 'NR > 1 && NF { printf "%s%s", sep, $1; sep = " " } END { print "" }'
}

# field LINE KEY: the value of "KEY=value" in a marker line.
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1; }

# expect_fields LINE WHO KEY=VALUE...: each KEY of the marker LINE has exactly VALUE; else fails
# naming WHO ("guest", "6.1 guest") and the line.
expect_fields() {
  local line=$1 who=$2 kv v
  shift 2
  for kv in "$@"; do
    v=$(field "$line" "${kv%%=*}")
    [ "$v" = "${kv#*=}" ] || fail "$who sees ${kv%%=*}=$v, expected ${kv#*=} ($line)"
  done
}

# cmdline_arg KEY DEFAULT: the value of KEY=value on L1's kernel command line (l1-run's
# L1_APPEND), else DEFAULT.
cmdline_arg() {
  local a v=$2
  for a in $(cat /proc/cmdline); do
    case "$a" in "$1"=*) v=${a#"$1"=} ;; esac
  done
  echo "$v"
}

# create_vm NAME VCPUS MAX_VCPUS [EXTRA_CMDLINE] [vmmctl create options...]: a DT-booted test
# guest (256 MiB, console in $(console_file NAME)).
create_vm() {
  local n=$1 v=$2 m=$3 x=${4:-}
  shift 3
  [ $# -eq 0 ] || shift
  ctl create "$n" --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
    --cmdline "$GUEST_CMDLINE${x:+ $x}" --memory-mib 256 --vcpus "$v" --max-vcpus "$m" "$@"
}

# How create_acpi_vm boots its guests: uefi (stock edk2 loads the kernel and installs vmmd's
# ACPI tables) or acpi-direct (vmmd loads the kernel and hands it the tables itself, no
# firmware). l1-run's L1_SCENARIO_ENV sets it for a whole group (/e2e/scenario-env).
E2E_ACPI_BOOT=uefi
[ -f /e2e/scenario-env ] && . /e2e/scenario-env

# create_acpi_vm NAME VCPUS MAX_VCPUS [EXTRA_CMDLINE] [KERNEL] [CREATE_FLAG...]: a test guest
# with ACPI (vCPU hotplug, the power button), booted as E2E_ACPI_BOOT says: KERNEL (default
# /guest/Image) with the test initramfs and vmmd's ACPI tables; 512 MiB (edk2 needs more than
# the DT guests' 256); console in $(console_file NAME). CREATE_FLAGs go to `vmmctl create`.
create_acpi_vm() {
  local n=$1 v=$2 m=$3 x=${4:-} k=${5:-$GUEST_KERNEL}
  shift $(($# < 5 ? $# : 5))
  case "$E2E_ACPI_BOOT" in
    uefi) set -- --firmware "$GUEST_FIRMWARE" "$@" ;;
    acpi-direct) set -- --boot=acpi-direct "$@" ;;
    *) fail "E2E_ACPI_BOOT is '$E2E_ACPI_BOOT', expected uefi or acpi-direct" ;;
  esac
  ctl create "$n" "$@" --kernel "$k" --initrd "$GUEST_INITRD" \
    --cmdline "$GUEST_CMDLINE${x:+ $x}" --memory-mib "$GUEST_MEMORY_UEFI_MIB" --vcpus "$v" \
    --max-vcpus "$m"
}

# expect_acpi_tables VM: the guest's @@ACPI-TABLES line (vmmd.e2e.acpi=1) names exactly the
# tables vmmd gives an ACPI guest.
expect_acpi_tables() {
  local tables
  tables=$(wait_for_line "$(console_file "$1")" '^@@ACPI-TABLES' 30 "$1")
  [ "$tables" = "@@ACPI-TABLES APIC DSDT FACP GTDT PPTT SPCR" ] ||
    fail "$1: guest's /sys/firmware/acpi/tables: '$tables', expected 'APIC DSDT FACP GTDT PPTT SPCR'"
  pass "$1: guest's ACPI tables: ${tables#@@ACPI-TABLES }"
}

# expect_clean_acpi_dmesg VM: the guest's @@DMESG lines (vmmd.e2e.dmesg=1: kernel errors and
# warnings, printed before @@DMESG-END) have no ACPI Error, ACPI BIOS Error or Firmware Bug;
# the other lines are shown.
expect_clean_acpi_dmesg() {
  local con bad
  con=$(console_file "$1")
  grep -a '^@@DMESG-END' "$con" >/dev/null || fail "$1: no @@DMESG-END in the console"
  bad=$(grep -a '^@@DMESG ' "$con" | grep -aE 'ACPI Error|ACPI BIOS Error|Firmware Bug' || true)
  [ -z "$bad" ] || fail "$1: guest dmesg has ACPI/firmware errors:
$bad"
  pass "$1: guest dmesg: no 'ACPI Error', 'ACPI BIOS Error' or 'Firmware Bug'"
  if grep -a '^@@DMESG ' "$con" >/dev/null; then
    log "other guest kernel warnings (not failing):"
    grep -a '^@@DMESG ' "$con" >&9
  fi
}

# expect_boot_2_of_6 VM: a 2-of-6 6.12 guest's boot-time CPU_ON calls got SUCCESS for 0x1 and
# DENIED for 0x2..0x5 once each (vmmd --log_level=debug), and `vmmctl cpus` is exactly 0-1
# ONLINE (ACPI yes), 2-5 PARKED (ACPI no).
expect_boot_2_of_6() {
  local cpu_on c
  cpu_on=$(cpu_on_verdicts "$1")
  [ "$cpu_on" = "0x1:SUCCESS 0x2:DENIED 0x3:DENIED 0x4:DENIED 0x5:DENIED " ] ||
    fail "$1: guest CPU_ON calls (target:verdict) in vmmd's log: '$cpu_on', expected 0x1 SUCCESS, 0x2-0x5 DENIED once each"
  pass "$1: boot-time CPU_ON 0x1 -> SUCCESS, 0x2..0x5 -> DENIED"
  expect_cpu_states "$1" "0:ONLINE 1:ONLINE 2:PARKED 3:PARKED 4:PARKED 5:PARKED" 10
  expect_cpu_acpi "$1" "0:ONLINE:yes 1:ONLINE:yes 2:PARKED:no 3:PARKED:no 4:PARKED:no 5:PARKED:no"
  pass "$1: vmmctl cpus: 0-1 ONLINE (ACPI yes), 2-5 PARKED (ACPI no)"
}

# ---- vCPU hotplug -------------------------------------------------------------------------

# cpu_range N: the kernel's list notation for CPUs 0..N-1 ("0", "0-3").
cpu_range() { if [ "$1" = 1 ]; then echo 0; else echo "0-$(($1 - 1))"; fi; }

# second_boot_up VM WHAT: waits (300 s) for the VM's second @@GUEST-UP (a new boot after WHAT:
# a reboot, a vmmd restart), then prints that line and checks it shows CPUs 0-2 online and
# enabled (the guest's own sysfs).
second_boot_up() {
  local con end up
  con=$(console_file "$1")
  end=$(($(now_ms) + 300000))
  while [ "$(grep -ac '@@GUEST-UP' "$con")" -lt 2 ]; do
    check_vmmd
    [ "$(now_ms)" -lt "$end" ] || fail "no second @@GUEST-UP within 300 s of the $2 (VM $(vm_field "$1" state): $(vm_field "$1" reason))"
    sleep 0.5
  done
  up=$(grep -a '@@GUEST-UP' "$con" | tail -n1 | tr -d '\r')
  [ "$(field "$up" online)" = 0-2 ] || fail "after the $2 the guest has online=$(field "$up" online), expected 0-2: $up"
  [ "$(field "$up" enabled)" = 0-2 ] || fail "after the $2 the guest has enabled=$(field "$up" enabled), expected 0-2: $up"
  echo "$up"
}

# console_file VM: the file that holds the guest's console output: vmmd writes it in the VM's
# state directory (`vmmctl console VM` prints it; console.log.1 holds older output once it
# reaches 16 MiB).
console_file() { echo "$VMMD_STATE/$1/console.log"; }

# guest_cpus VM: the guest's latest report of its own sysfs (@@GUEST-UP or @@CPUS line).
guest_cpus() { grep -aE '^@@(GUEST-UP|CPUS) ' "$(console_file "$1")" 2>/dev/null | tail -n1 | tr -d '\r'; }

# expect_guest_cpus VM ONLINE ENABLED TIMEOUT_S: waits until the guest's own
# /sys/devices/system/cpu/{online,enabled} (its latest report) read exactly ONLINE and ENABLED.
expect_guest_cpus() {
  local end l
  end=$(($(now_ms) + $4 * 1000))
  while :; do
    l=$(guest_cpus "$1")
    [ "$(field "$l" online)" = "$2" ] && [ "$(field "$l" enabled)" = "$3" ] && return 0
    check_vmmd
    [ "$(now_ms)" -lt "$end" ] ||
      fail "guest $1 reports '$l', expected online=$2 enabled=$3 (after ${4}s)"
    sleep 0.2
  done
}

# expected_states N MAX: "id:STATE" of every vCPU when N of MAX are available and online.
expected_states() {
  local i=0 out=
  while [ $i -lt "$2" ]; do
    if [ $i -lt "$1" ]; then out="$out $i:ONLINE"; else out="$out $i:PARKED"; fi
    i=$((i + 1))
  done
  echo "${out# }"
}

# scale_to VM N [vmmctl scale options...]: vmmctl scale (default wait online), timed as
# "@@TIME scale_<VM>_to_<N> <ms>" (the whole vmmctl call); its progress lines go to the log.
scale_to() {
  local vm=$1 n=$2 t0
  shift 2
  t0=$(now_ms)
  ctl scale "$vm" --vcpus "$n" "$@" >&9
  time_since "scale_${vm}_to_$n" "$t0"
}

# check_scaled VM N MAX: the guest's own sysfs shows CPUs 0..N-1 enabled and online, and
# vmmctl cpus shows exactly those ONLINE and the rest PARKED.
check_scaled() {
  expect_guest_cpus "$1" "$(cpu_range "$2")" "$(cpu_range "$2")" 20
  expect_cpu_states "$1" "$(expected_states "$2" "$3")" 10
  pass "$1 at $2/$3 vCPUs: guest online=enabled=$(cpu_range "$2"), vmmd agrees"
}

# cpu_on_verdicts VM: the guest's PSCI CPU_ON calls as vmmd answered them, "target:VERDICT ..."
# sorted (needs vmmd --log_level=debug; the line format is core/vcpu/vcpu_manager.cc's
# "<name>: vCPU <caller> CPU_ON(<mpidr>, entry <pc>) -> <VERDICT> ..."; a changed format matches
# nothing, so callers fail loudly rather than pass by mistake).
cpu_on_verdicts() {
  sed -n "s/.* $1: vCPU [0-9]* CPU_ON(\(0x[0-9a-f]*\), entry 0x[0-9a-f]*) -> \([A-Z_]*\).*/\1:\2/p" \
    "$VMMD_LOG" | sort | tr '\n' ' '
}

# ---- L1's network and the Prometheus on the host (tests/e2e/prometheus-run) ---------------

# l1_network_up: loads the NIC driver and configures QEMU's user network (L1 is 10.0.2.15, the
# host 10.0.2.2). Needs l1-run's L1_HOSTFWD (else there is no NIC).
l1_network_up() {
  local m i=0
  [ -f /lib/modules/l1/order ] || fail "no network modules in this L1 (make e2e-assets)"
  for m in $(cat /lib/modules/l1/order); do
    insmod "/lib/modules/l1/$m" 2>/dev/null || grep -q "^${m%.ko} " /proc/modules ||
      fail "insmod $m failed"
  done
  while ! ifconfig eth0 >/dev/null 2>&1; do
    i=$((i + 1))
    [ "$i" -le 50 ] || fail "no eth0 after loading virtio_net (was L1 started with L1_HOSTFWD?)"
    sleep 0.1
  done
  ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up || fail "ifconfig eth0"
  route add default gw 10.0.2.2 || fail "route add default gw 10.0.2.2"
  log "L1 network up: 10.0.2.15, host 10.0.2.2"
}

# l1_module NAME: loads one of L1's modules (/lib/modules/l1/NAME.ko) unless it is loaded.
l1_module() {
  insmod "/lib/modules/l1/$1.ko" 2>/dev/null || grep -q "^$1 " /proc/modules ||
    fail "insmod $1 failed (make e2e-assets)"
}

# l1_tap_up NAME ADDR/PREFIX: a TAP interface in L1 for a vmmd NIC (the tun module, the
# interface, up, addressed), as a host's network set-up would make one. l1_tap_down NAME
# deletes it (a TAP outlives /init's clean-up between scenarios).
l1_tap_up() {
  l1_module tun
  [ -c /dev/net/tun ] || fail "no /dev/net/tun after loading tun"
  tunctl -t "$1" >/dev/null || fail "tunctl -t $1"
  ip link set "$1" up || fail "ip link set $1 up"
  ip addr add "$2" dev "$1" || fail "ip addr add $2 dev $1"
}
l1_tap_down() { tunctl -d "$1" >/dev/null 2>&1 || true; }

# PROM_URL: the host's Prometheus as L1 reaches it (from prometheus-run, in /extra).
PROM_URL=
[ -f /extra/prometheus.env ] && . /extra/prometheus.env

# urlencode TEXT: percent-encodes every character that is not [A-Za-z0-9._~-] and that PromQL
# uses (a form value for Prometheus' query API).
urlencode() {
  printf '%s' "$1" | sed -e 's/%/%25/g' -e 's/ /%20/g' -e 's/"/%22/g' -e 's/#/%23/g' \
    -e 's/&/%26/g' -e 's/+/%2B/g' -e 's/,/%2C/g' -e 's|/|%2F|g' -e 's/:/%3A/g' -e 's/;/%3B/g' \
    -e 's/</%3C/g' -e 's/=/%3D/g' -e 's/>/%3E/g' -e 's/?/%3F/g' -e 's/\[/%5B/g' -e 's/\]/%5D/g' \
    -e 's/{/%7B/g' -e 's/|/%7C/g' -e 's/}/%7D/g' -e 's/!/%21/g' -e 's/(/%28/g' -e 's/)/%29/g' \
    -e 's/\*/%2A/g' -e "s/'/%27/g"
}

# prom_query PROMQL: Prometheus' JSON answer to an instant query, evaluated now.
prom_query() {
  [ -n "$PROM_URL" ] || fail "no PROM_URL (run the scenario with tests/e2e/prometheus-run)"
  # (busybox 1.35's wget -T crashes here; timeout(1) bounds the call instead)
  timeout 10 wget -q -O - --post-data "query=$(urlencode "$1")" "$PROM_URL/api/v1/query" 2>/dev/null ||
    fail "Prometheus at $PROM_URL did not answer the query $1"
}

# prom_value PROMQL: the value of the one series the query returns ("" when it returns none;
# more than one fails).
prom_value() {
  local json n
  json=$(prom_query "$1")
  case "$json" in *'"status":"success"'*) ;; *) fail "Prometheus refused $1: $json" ;; esac
  n=$(echo "$json" | grep -o '"value":\[' | wc -l)
  [ "$n" -le 1 ] || fail "$1 returned $n series, expected one: $json"
  echo "$json" | sed -n 's/.*"value":\[[^,]*,"\([^"]*\)"\].*/\1/p'
}

# prom_wait PROMQL VALUE TIMEOUT_S: waits until the query's one series has exactly VALUE
# (Prometheus scrapes every 2 s), then passes; fails with the last value after TIMEOUT_S.
prom_wait() {
  local q=$1 want=$2 to=$3 end v
  end=$(($(now_ms) + to * 1000))
  while :; do
    v=$(prom_value "$q")
    [ "$v" = "$want" ] && { log "prometheus: $q = $v"; return 0; }
    check_vmmd
    [ "$(now_ms)" -lt "$end" ] || fail "Prometheus: $q = '${v}', expected $want (after ${to}s)"
    sleep 1
  done
}

# ---- the Debian image (l1-run's "# l1-run: debian-image") ---------------------------------

# debian_image_node: makes /guest/debian.raw, a block-device node for L1's drive that holds the
# Debian image (vda once virtio_blk is loaded), so vmmd can take it under its --image_dir.
debian_image_node() {
  local i=0 majmin
  l1_module virtio_blk
  while [ ! -e /sys/block/vda/dev ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  [ -e /sys/block/vda/dev ] || fail "L1 has no vda (the Debian image drive)"
  majmin=$(cat /sys/block/vda/dev)
  rm -f /guest/debian.raw
  mknod /guest/debian.raw b "${majmin%:*}" "${majmin#*:}"
  log "Debian image: /guest/debian.raw = block device $majmin, $(($(cat /sys/block/vda/size) / 2048)) MiB"
}

# workload_disk OUT SCRIPT: a workload disk for the Debian image's vmmd-workload.service (its
# disk serial must be vmmd-workload): /e2e/workload-lib.sh (the console helpers) then SCRIPT,
# NUL-padded to whole 4 KiB blocks.
workload_disk() {
  cat /e2e/workload-lib.sh "$2" >/tmp/.workload
  dd if=/dev/zero of="$1" bs=4096 count=$((($(wc -c </tmp/.workload) + 4095) / 4096)) 2>/dev/null
  dd if=/tmp/.workload of="$1" conv=notrunc 2>/dev/null
}

# chunk_receiver PORT: checks, in L1, what a Debian workload's send_checked
# (tests/e2e/workload-lib.sh) sends to PORT: each connection carries data and then the MD5 the
# guest computed ("<32 hex digits>\n"). /tmp/recv-PORT.log gets a line per connection, "ok
# <bytes>" or "bad: ..." (not through the console: a kernel message can land inside a line
# written there). In the background; its pid is CHUNK_RECEIVER_PID.
chunk_receiver() {
  cat >"/tmp/recv-$1" <<RECV
#!/bin/sh
f=/tmp/recv.\$\$
cat >"\$f"
size=\$((\$(wc -c <"\$f") - 33))
want=\$(tail -c 33 "\$f" | head -c 32)
got=\$(head -c "\$size" "\$f" | md5sum | cut -c1-32)
if [ "\$size" -gt 0 ] && [ "\$want" = "\$got" ]; then
  echo "ok \$size" >>/tmp/recv-$1.log
else
  echo "bad: \$size bytes, md5 sent \$want, received \$got" >>/tmp/recv-$1.log
fi
rm -f "\$f"
RECV
  chmod +x "/tmp/recv-$1"
  : >"/tmp/recv-$1.log"
  nc -ll -p "$1" -e "/tmp/recv-$1" &
  CHUNK_RECEIVER_PID=$!
}

# control_serve: serves the word control_set last set (initially "run") on L1's port 5003, one
# connection at a time, to a Debian workload's `control` (tests/e2e/workload-lib.sh).
control_serve() {
  echo run >/tmp/control
  printf '#!/bin/sh\ncat /tmp/control\n' >/tmp/control.sh
  chmod +x /tmp/control.sh
  nc -ll -p 5003 -e /tmp/control.sh &
}

# control_set WORD: what control_serve serves from now on.
control_set() { echo "$1" >/tmp/control; }
