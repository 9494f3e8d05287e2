#!/bin/sh
# l1-run: qemu
# l1-run: debian-image
# vmmd vs QEMU with a real distribution (prints numbers, asserts nothing): the Debian trixie
# image (tests/e2e/image/, L1's second drive) under vmmd and under Debian trixie's QEMU
# (qemu-system-aarch64 -accel kvm in L1 next to vmmd: tests/e2e/qemu/fetch-qemu.sh), both on
# L1's KVM in one L1 boot, alternating (odd runs vmmd first, even runs QEMU first), RUNS times
# each. Every VM: stock edk2 (/guest/QEMU_EFI.fd: vmmd --firmware, QEMU -bios) boots the image
# from its virtio-blk disk (virtio-mmio on both), 2 vCPUs, 1024 MiB, three disks — the image
# (serial root), the workload disk (serial vmmd-workload, read-only), a fresh sparse 256 MiB
# raw scratch disk in L1's RAM (serial bench) — a NIC on the TAP vmtap1 (L1 10.0.2.2/24, the
# guest 10.0.2.15) and the entropy device. The workload (tests/e2e/workload-lib.sh first):
#   boot   launch -> @@GUEST-UP-DEBIAN (vmmd-ready.service, ordered just before the console's
#          autologin getty: "boot to login") and -> @@DEBIAN-UP (systemd reports the system
#          running), both seen in L1 (console polled every 0.1 s); the guest's uptime at the
#          latter and `systemd-analyze time`
#   disk   fio on the scratch disk, O_DIRECT, 15 s each: 4 KiB random read and write at queue
#          depth 1 (psync) and 16 (libaio), then 1 MiB sequential read and write (libaio, depth
#          4); IOPS and MB/s as fio reports them
#   net    iperf3 (trixie's, in L1 and in the guest): L1 is the client, 10 s L1 -> guest, 10 s
#          guest -> L1 (-R); the receiver's Mbit/s and the sender's retransmissions
# and the VMM process's CPU (bench-lib.sh cpu_ticks: its threads but the vCPU threads, the vCPU
# threads' system time, the guest's time) over the fio runs and over the iperf3 runs. Then the guest powers itself off. QEMU: -M virt,gic-version=3 -accel kvm
# -cpu host -nodefaults, -device virtio-blk-device on raw files (its defaults: aio=threads,
# writeback cache), -netdev tap,vhost=off -device virtio-net-device, virtio-rng-device.
#
#   L1_TIMEOUT=3600 L1_SCENARIO_TIMEOUT=3300 tests/e2e/l1-run tests/e2e/bench/debian_vs_qemu.sh
#   (RUNS=3: ~25 min in L1 on a quiet host; L1_APPEND=vmmd_bench.runs=N sets RUNS)
#
# Per VM:  @@DQ <vmmd|qemu> <run> <metric>=<value> ...
# Then:    @@DQ-TABLE lines (bench-lib.sh table)
set -eu
. /e2e/lib.sh
. /e2e/bench-lib.sh

RUNS=$(bench_runs 3)
TAP=vmtap1
MAC=02:00:5e:00:02:0f
GUEST_IP=10.0.2.15
SCRATCH=/guest/scratch.img
WORK=/guest/workload.img
MEM=1024
DATA=/tmp/dq.txt

debian_image_node
l1_tap_up "$TAP" 10.0.2.2/24
echo 1 >/proc/sys/net/ipv4/tcp_no_metrics_save # every guest is 10.0.2.15: no memory between VMs
trap 'l1_tap_down "$TAP"' EXIT
control_serve
rm -f "$DATA"

cat >/tmp/workload.sh <<'WORK'
debian_up
marker "ANALYZE uptime=$(cut -d' ' -f1 /proc/uptime) $(systemd-analyze time 2>&1 | head -n1)"
dev=/dev/disk/by-id/virtio-bench
# fio_one NAME RW BS ENGINE DEPTH: @@FIO-BENCH NAME iops=<read+write> MBps=<read+write> (fio's
# terse output: read bandwidth KiB/s and IOPS are fields 7 and 8, write 48 and 49).
fio_one() {
  local out
  out=$(fio --name="$1" --filename="$dev" --direct=1 --rw="$2" --bs="$3" --ioengine="$4" \
    --iodepth="$5" --runtime=15 --time_based --size=256M --minimal 2>&1)
  marker "FIO-BENCH $1 $(echo "$out" | awk -F';' 'NF > 49 { printf "iops=%.0f MBps=%.1f",
    $8 + $49, ($7 + $48) * 1024 / 1e6; ok = 1 } END { if (!ok) print "error" }')"
  case "$out" in *\;*) ;; *) echo "$out" | head -n 5 | sed 's/^/@@FIO-OUT /' ;; esac
}
marker FIO-BEGIN
fio_one randread_4k_qd1 randread 4k psync 1
fio_one randwrite_4k_qd1 randwrite 4k psync 1
fio_one randread_4k_qd16 randread 4k libaio 16
fio_one randwrite_4k_qd16 randwrite 4k libaio 16
fio_one read_1m read 1m libaio 4
fio_one write_1m write 1m libaio 4
marker FIO-END
iperf3 -s -D
sleep 1
marker IPERF-READY
while [ "$(control)" != stop ]; do sleep 1; done
marker POWEROFF
systemctl poweroff
WORK
workload_disk "$WORK" /tmp/workload.sh

# launch VMM NAME: starts the VM; sets CON, QPID (QEMU's pid, else empty) and T0.
launch() {
  rm -f "$SCRATCH"
  truncate -s 256M "$SCRATCH"
  control_set run
  if [ "$1" = vmmd ]; then
    CON=$(console_file "$2")
    T0=$(now_ms)
    ctl create "$2" --firmware "$GUEST_FIRMWARE" --memory-mib "$MEM" --vcpus 2 --max-vcpus 2 \
      --disk /guest/debian.raw,serial=root --disk "$WORK,ro,serial=vmmd-workload" \
      --disk "$SCRATCH,serial=bench" --net "tap=$TAP,mac=$MAC" --entropy >/dev/null
    ctl start "$2" >/dev/null
    QPID=
  else
    CON=/tmp/qemu-$2.con
    rm -f "$CON"
    T0=$(now_ms)
    "$QEMU" -name "$2,debug-threads=on" -M virt,gic-version=3 -accel kvm -cpu host -m "$MEM" -smp 2 \
      -nographic -nodefaults \
      -monitor none -serial "file:$CON" -bios "$GUEST_FIRMWARE" \
      -drive file=/guest/debian.raw,if=none,format=raw,id=d0 -device virtio-blk-device,drive=d0,serial=root \
      -drive "file=$WORK,if=none,format=raw,readonly=on,id=d1" -device virtio-blk-device,drive=d1,serial=vmmd-workload \
      -drive "file=$SCRATCH,if=none,format=raw,id=d2" -device virtio-blk-device,drive=d2,serial=bench \
      -netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no,vhost=off" \
      -device "virtio-net-device,netdev=n0,mac=$MAC" \
      -object rng-random,id=rng0,filename=/dev/urandom -device virtio-rng-device,rng=rng0 \
      >"/tmp/qemu-$2.log" 2>&1 </dev/null &
    QPID=$!
  fi
}

# finish VMM NAME: the guest powers off (control says stop); waits for it, then deletes the VM
# (vmmd) or reaps QEMU (killed if it did not exit within 120 s).
finish() {
  local i=0
  control_set stop
  if [ "$1" = vmmd ]; then
    wait_for_state "$2" STOPPED 120
    ctl delete "$2" >/dev/null
  else
    while kill -0 "$QPID" 2>/dev/null && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
    kill "$QPID" 2>/dev/null && log "QEMU did not exit 120 s after the guest's poweroff: killed"
    wait "$QPID" 2>/dev/null || true
    QPID=
  fi
}

# iperf VMM PREFIX [-R]: one 10 s iperf3 run; records PREFIX (Mbit/s at the receiver); prints
# "PREFIX_Mbps=.. PREFIX_retr=..".
iperf() {
  local vmm=$1 key=$2 out rx retr
  shift 2
  out=$(timeout 60 "$IPERF" -c "$GUEST_IP" -t 10 -f m "$@" 2>&1) || {
    echo "$out" >&9
    fail "$vmm: iperf3 $*"
  }
  rx=$(echo "$out" | awk '/receiver$/ { for (i = 2; i <= NF; i++) if ($i == "Mbits/sec") print $(i - 1) }')
  retr=$(echo "$out" | awk '/sender$/ { print $(NF - 1) }')
  [ -n "$rx" ] || { echo "$out" >&9; fail "$vmm: no receiver line from iperf3 $*"; }
  record "$vmm" "$key" "$rx"
  echo "${key}_Mbps=$rx ${key}_retr=$retr"
}

one() {
  local vmm=$1 n=$2 name=deb$2 login up a c out k v l
  launch "$vmm" "$name"
  wait_console '@@GUEST-UP-DEBIAN' 400
  login=$(($(now_ms) - T0))
  wait_console '@@DEBIAN-UP .*eth0=' 300
  up=$(($(now_ms) - T0))
  [ "$(field "$(line '@@DEBIAN-UP ')" state)" = running ] ||
    log "$vmm $n: systemd is not 'running': $(line '@@DEBIAN-UP ')"
  wait_console '@@ANALYZE uptime=[0-9.]+ ' 60
  a=$(line '@@ANALYZE ')
  a=@@ANALYZE${a#*@@ANALYZE}
  record "$vmm" boot_login "$login"
  record "$vmm" boot_running "$up"
  record "$vmm" uptime_running "$(field "$a" uptime)"
  log "@@DQ $vmm $n boot login_ms=$login running_ms=$up guest: ${a#@@ANALYZE }"

  wait_console '@@FIO-BEGIN' 60
  c=$(cpu_ticks "$vmm")
  wait_console '@@FIO-END' 300
  out="$(cpu_window "$vmm" fio "$c")"
  for k in randread_4k_qd1 randwrite_4k_qd1 randread_4k_qd16 randwrite_4k_qd16 read_1m write_1m; do
    l=$(line "@@FIO-BENCH $k ")
    case "$k" in *_1m) v=$(field "$l" MBps) ;; *) v=$(field "$l" iops) ;; esac
    if [ -z "$v" ]; then
      grep -a '^@@FIO-OUT' "$CON" | tr -d '\r' >&9 || true
      fail "$vmm $n: fio $k: ${l:-no line}"
    fi
    record "$vmm" "$k" "$v"
    out="$out $k=$v"
  done
  log "@@DQ $vmm $n fio $out"

  wait_console '@@IPERF-READY' 60
  c=$(cpu_ticks "$vmm")
  out="$(iperf "$vmm" tcp_to_guest) $(iperf "$vmm" tcp_from_guest -R)"
  log "@@DQ $vmm $n iperf3 $out $(cpu_window "$vmm" net "$c")"
  finish "$vmm" "$name"
}

log "@@BENCH debian_vs_qemu: $RUNS runs each; $("$QEMU" --version | head -n1); $("$IPERF" --version | head -n1); L1: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
start_vmmd
alternate "$RUNS" one

table DQ-TABLE "$RUNS" <<'ROWS'
boot_login|boot UEFI->login (vmmd-ready)|ms
boot_running|boot UEFI->systemd running|ms
uptime_running|guest uptime at systemd running|s
randread_4k_qd1|fio 4K random read, QD1|IOPS
randwrite_4k_qd1|fio 4K random write, QD1|IOPS
randread_4k_qd16|fio 4K random read, QD16|IOPS
randwrite_4k_qd16|fio 4K random write, QD16|IOPS
read_1m|fio 1M sequential read, QD4|MB/s
write_1m|fio 1M sequential write, QD4|MB/s
tcp_to_guest|iperf3 TCP L1->guest|Mbit/s
tcp_from_guest|iperf3 TCP guest->L1|Mbit/s
fio_own|fio: VMM threads but vCPUs, CPU|s
fio_vcpu_sys|fio: vCPU threads, system CPU|s
fio_guest|fio: guest CPU|s
net_own|iperf3: VMM threads but vCPUs, CPU|s
net_vcpu_sys|iperf3: vCPU threads, system CPU|s
net_guest|iperf3: guest CPU|s
ROWS
log "@@BENCH done; L1 load $(cut -d' ' -f1-3 /proc/loadavg)"
