#!/bin/sh
# l1-run: qemu
# vmmd vs QEMU benchmark (prints numbers, asserts nothing): the same arm64 guest under vmmd and
# under Debian trixie's QEMU (qemu-system-aarch64 -accel kvm, in L1 next to vmmd:
# tests/e2e/qemu/fetch-qemu.sh), both on L1's KVM in the same L1 boot, alternating (odd runs
# vmmd first, even runs QEMU first), RUNS times each. Every run of a VMM boots three VMs, one
# after the other, each with the same kernel (/guest/Image, 6.12), initramfs, command line,
# 2 vCPUs and 512 MiB on both:
#   disk  device tree (direct kernel boot), a fresh sparse 256 MiB raw image in L1's RAM as its
#         virtio-blk disk (virtio-mmio), vmmd.e2e.disk=1 vmmd.e2e.diskbench=DISK_MIB: the
#         guest's O_DIRECT dd, sequential 1 MiB requests (DISK_MIB MiB) and 4 KiB requests
#         (DISK_MIB/4 MiB), write then read, timed by the guest (@@DISK-BENCH lines)
#   net   device tree, a virtio-net NIC (virtio-mmio) on the TAP vmtap0 in L1 (10.0.3.1/24; the
#         guest 10.0.3.2, MAC 02:00:5e:00:03:02 on both), vmmd.e2e.net: L1 downloads the
#         guest's 4 MiB blob NET_N times (busybox wget, guest -> L1) and uploads 4 MiB NET_N
#         times (busybox nc to TCP 5001, L1 -> guest; each nc ends when the guest's receiver
#         has stored the bytes and hashed them), timed in L1
#   uefi  stock edk2 (/guest/QEMU_EFI.fd: vmmd --firmware, QEMU -bios), no device,
#         vmmd.e2e=poweroff
# "boot" is launch -> @@GUEST-UP seen in the console file (polled every 0.1 s, no vmmctl or
# other calls while waiting): for vmmd `vmmctl create` + `vmmctl start` (vmmd already runs), for
# QEMU the qemu-system-aarch64 process start; "guest up" is the guest kernel's own uptime at
# @@GUEST-UP. QEMU: -M virt,gic-version=3 -accel kvm -cpu host -nodefaults, console
# -serial file:, the disk -drive if=none,format=raw (its defaults: cache=writeback, aio=threads),
# -device virtio-blk-device; the NIC -netdev tap,script=no,downscript=no,vhost=off,
# -device virtio-net-device. vmmd: start_vmmd (lib.sh), vmmctl create --disk / --net tap=.
# CPU: over the disk benchmark (@@GUEST-UP -> @@DISK-BENCH-END) and over the timed transfers,
# the CPU of the VMM's threads but its vCPU threads (device emulation, I/O), its vCPU threads'
# system time (L1's kernel: KVM exit handling, the VMM's system calls, halt polling) and its
# guest time (bench-lib.sh cpu_ticks): the same work on both, so what it cost each VMM.
#
#   L1_TIMEOUT=3000 L1_SCENARIO_TIMEOUT=2700 tests/e2e/l1-run tests/e2e/bench/vmmd_vs_qemu.sh
#   (RUNS=5: ~9 min in L1 on a quiet host, ~18 on a busy one, more than the default 600 s per
#   scenario; L1_APPEND=vmmd_bench.runs=N sets RUNS)
#
# Per VM:  @@VQ <vmmd|qemu> <run> <disk|net|uefi> <metric>=<value> ...  (net: plus the TAP's
#          packet/drop counters and L1's TCP retransmissions over the transfers; vmmd's nic0
#          counters from `vmmctl get`)
# Then:    @@VQ-TABLE lines: metric, unit, vmmd median (min-max), QEMU median (min-max),
#          vmmd/QEMU (of the medians; times: < 1 = vmmd faster, rates: > 1 = vmmd faster)
set -eu
. /e2e/lib.sh
. /e2e/bench-lib.sh

RUNS=$(bench_runs 5)
DISK_MIB=32
NET_N=8
TAP=vmtap0
MAC=02:00:5e:00:03:02
GUEST_IP=10.0.3.2
IMG=/guest/bench.img
MEM=512
DATA=/tmp/vq.txt  # "<metric> <vmm> <value>" per measurement

l1_tap_up "$TAP" 10.0.3.1/24
# Every guest is 10.0.3.2: L1's TCP must not start a connection with what it learnt from the
# previous VM's (ssthresh, RTT), which would make the order of the VMs matter.
echo 1 >/proc/sys/net/ipv4/tcp_no_metrics_save
trap 'l1_tap_down "$TAP"' EXIT
dd if=/dev/urandom of=/tmp/up.bin bs=1048576 count=4 2>/dev/null
UP_MD5=$(md5sum </tmp/up.bin | cut -c1-32)
rm -f "$DATA"

# ---- launching and stopping a VM under either VMM ----------------------------------------
# launch VMM NAME BOOT(dt|uefi) EXTRA_CMDLINE [disk] [net]: starts the VM; sets CON (its console
# file), QPID (QEMU's pid) and T0 (now_ms before the launch).
launch() {
  local vmm="$1" name="$2" boot="$3" extra="$4" dev
  shift 4
  local cmdline="$GUEST_CMDLINE${extra:+ $extra}"
  if [ "$vmm" = vmmd ]; then
    local opts=
    for dev in "$@"; do
      case "$dev" in
        disk) opts="$opts --disk $IMG" ;;
        net) opts="$opts --net tap=$TAP,mac=$MAC" ;;
      esac
    done
    [ "$boot" = uefi ] && opts="$opts --firmware $GUEST_FIRMWARE"
    CON=$(console_file "$name")
    T0=$(now_ms)
    # shellcheck disable=SC2086
    ctl create "$name" --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" --cmdline "$cmdline" \
      --memory-mib "$MEM" --vcpus 2 --max-vcpus 2 $opts >/dev/null
    ctl start "$name" >/dev/null
    QPID=
  else
    local qopts=
    for dev in "$@"; do
      case "$dev" in
        disk) qopts="$qopts -drive file=$IMG,if=none,format=raw,id=d0 -device virtio-blk-device,drive=d0" ;;
        net) qopts="$qopts -netdev tap,id=n0,ifname=$TAP,script=no,downscript=no,vhost=off -device virtio-net-device,netdev=n0,mac=$MAC" ;;
      esac
    done
    [ "$boot" = uefi ] && qopts="$qopts -bios $GUEST_FIRMWARE"
    CON=/tmp/qemu-$name.con
    rm -f "$CON"
    T0=$(now_ms)
    # shellcheck disable=SC2086
    "$QEMU" -name "$name,debug-threads=on" -M virt,gic-version=3 -accel kvm -cpu host -m "$MEM" -smp 2 \
      -nographic -nodefaults \
      -monitor none -serial "file:$CON" -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" \
      -append "$cmdline" $qopts >"/tmp/qemu-$name.log" 2>&1 </dev/null &
    QPID=$!
  fi
}


# net_counters: the TAP's packet and drop counters (L1's side: rx = from the guest), L1's TCP
# retransmissions (/proc/net/snmp RetransSegs) and what they were (/proc/net/netstat: tail loss
# probes, timeouts, fast retransmits; D-SACKs received = the guest got a segment twice, so the
# first had not been lost), "name=value ..." (diagnostics, not timed).
net_counters() {
  local c v out=''
  for c in rx_packets tx_packets rx_dropped tx_dropped; do
    read -r v <"/sys/class/net/$TAP/statistics/$c"
    out="$out$c=$v "
  done
  out="${out}tcp_retrans=$(awk '$1 == "Tcp:" && $13 ~ /^[0-9]+$/ { print $13 }' /proc/net/snmp)"
  echo "$out $(awk '$1 == "TcpExt:" { if (!n) { n = split($0, k) } else { split($0, v)
      for (i = 2; i <= n; i++) if (k[i] ~ /^TCP(LossProbes|Timeouts|FastRetrans|DSACKRecv)$/)
        printf "%s=%s ", k[i], v[i] } }' /proc/net/netstat)"
}
# counters_delta "BEFORE" "AFTER": the differences, "name=delta ...".
counters_delta() {
  echo "$1 / $2" | tr ' ' '\n' | awk -F= '$0 == "/" { after = 1; next }
    NF == 2 { if (!after) a[$1] = $2; else { printf "%s%s=%d", sep, $1, $2 - a[$1]; sep = " " } }
    END { print "" }'
}

# boot_up VMM RUN KIND: waits for @@GUEST-UP, records boot_<KIND> (ms since the launch) and
# uptime_<KIND> (the guest's own uptime then); prints "boot_ms=.. guest_up_s=..".
boot_up() {
  local up ms
  wait_console '^@@GUEST-UP uptime=[0-9.]+ ' 300
  ms=$(($(now_ms) - T0))
  up=$(line '^@@GUEST-UP ')
  record "$1" "boot_$3" "$ms"
  record "$1" "uptime_$3" "$(field "$up" uptime)"
  echo "boot_ms=$ms guest_up_s=$(field "$up" uptime)"
}

# ---- the three VMs of one run -------------------------------------------------------------
disk_vm() {
  local vmm=$1 n=$2 b c k v out l
  rm -f "$IMG"
  truncate -s 256M "$IMG"
  launch "$vmm" "disk$n" dt "vmmd.e2e.disk=1 vmmd.e2e.diskbench=$DISK_MIB" disk
  b=$(boot_up "$vmm" "$n" dt)
  c=$(cpu_ticks "$vmm")
  wait_console '^@@DISK-BENCH-END' 600
  out=" $(cpu_window "$vmm" disk "$c")"
  for k in seq_write_1m seq_read_1m seq_write_4k seq_read_4k; do
    l=$(line "^@@DISK-BENCH $k ")
    case "$k" in
      *_1m) v=$(field "$l" MBps) ;;
      *) v=$(field "$l" requests_per_s) ;;
    esac
    [ -n "$v" ] || fail "$vmm disk$n: no @@DISK-BENCH $k line"
    record "$vmm" "$k" "$v"
    out="$out $k=$v"
  done
  log "@@VQ $vmm $n disk $b$out"
  stop_vm "$vmm" "disk$n"
  rm -f "$IMG"
}

net_vm() {
  local vmm=$1 n=$2 b c ready t i got u dl ul cpu k0 k
  launch "$vmm" "net$n" dt "vmmd.e2e.net=$GUEST_IP/24" net
  b=$(boot_up "$vmm" "$n" dt_net)
  wait_console '^@@NET-READY .* blob_bytes=' 120
  ready=$(line '^@@NET-READY ')
  # One checked download first (ARP, the httpd's first fork; not timed).
  got=$(timeout 60 wget -q -O - "http://$GUEST_IP/blob" | md5sum | cut -c1-32)
  [ "$got" = "$(field "$ready" blob_md5)" ] ||
    fail "$vmm net$n: downloaded blob md5 $got, the guest served $(field "$ready" blob_md5)"
  c=$(cpu_ticks "$vmm")
  k0=$(net_counters)
  t=$(now_ms)
  i=0
  while [ $i -lt $NET_N ]; do
    timeout 60 wget -q -O /dev/null "http://$GUEST_IP/blob" || fail "$vmm net$n: download failed"
    i=$((i + 1))
  done
  t=$(($(now_ms) - t))
  dl=$(awk -v ms="$t" -v n="$NET_N" 'BEGIN { printf "%.2f", n * 4194304 / (ms / 1000) / 1e6 }')
  t=$(now_ms)
  i=0
  while [ $i -lt $NET_N ]; do
    timeout 60 nc "$GUEST_IP" 5001 </tmp/up.bin || fail "$vmm net$n: upload failed"
    i=$((i + 1))
  done
  t=$(($(now_ms) - t))
  ul=$(awk -v ms="$t" -v n="$NET_N" 'BEGIN { printf "%.2f", n * 4194304 / (ms / 1000) / 1e6 }')
  cpu=$(cpu_window "$vmm" net "$c")
  k=$(counters_delta "$k0" "$(net_counters)")
  wait_console "^@@NET-UPLOAD n=$NET_N .*md5=[0-9a-f]{32}" 60
  u=$(line "^@@NET-UPLOAD n=$NET_N ")
  [ "$(field "$u" md5)" = "$UP_MD5" ] || fail "$vmm net$n: the guest received $u, expected md5 $UP_MD5"
  record "$vmm" net_download "$dl"
  record "$vmm" net_upload "$ul"
  log "@@VQ $vmm $n net $b download_MBps=$dl upload_MBps=$ul $cpu $k"
  [ "$vmm" = qemu ] || log "@@VQ $vmm $n net vmmd: $(ctl get "net$n" | grep -a '^nic0:')"
  stop_vm "$vmm" "net$n"
}

uefi_vm() {
  local vmm=$1 n=$2 b
  launch "$vmm" "uefi$n" uefi "vmmd.e2e=poweroff"
  b=$(boot_up "$vmm" "$n" uefi)
  log "@@VQ $vmm $n uefi $b"
  if [ "$vmm" = vmmd ]; then wait_for_state "uefi$n" STOPPED 60; fi
  stop_vm "$vmm" "uefi$n"
}

one() {
  disk_vm "$1" "$2"
  net_vm "$1" "$2"
  uefi_vm "$1" "$2"
}

log "@@BENCH vmmd_vs_qemu: $RUNS runs each; $("$QEMU" --version | head -n1); L1: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
start_vmmd
alternate "$RUNS" one

# ---- the table -----------------------------------------------------------------------------
table VQ-TABLE "$RUNS" <<'ROWS'
boot_dt|boot DT+disk, launch->@@GUEST-UP|ms
boot_dt_net|boot DT+NIC, launch->@@GUEST-UP|ms
boot_uefi|boot UEFI, launch->@@GUEST-UP|ms
uptime_dt|guest uptime at @@GUEST-UP, DT+disk|s
uptime_uefi|guest uptime at @@GUEST-UP, UEFI|s
seq_write_1m|disk seq write, 1 MiB requests|MB/s
seq_read_1m|disk seq read, 1 MiB requests|MB/s
seq_write_4k|disk seq write, 4 KiB requests|req/s
seq_read_4k|disk seq read, 4 KiB requests|req/s
net_download|TCP guest->L1 (wget, 8 x 4 MiB)|MB/s
net_upload|TCP L1->guest (nc, 8 x 4 MiB)|MB/s
disk_own|disk bench: VMM threads but vCPUs, CPU|s
disk_vcpu_sys|disk bench: vCPU threads, system CPU|s
disk_guest|disk bench: guest CPU|s
net_own|net transfers: VMM threads but vCPUs, CPU|s
net_vcpu_sys|net transfers: vCPU threads, system CPU|s
net_guest|net transfers: guest CPU|s
ROWS
log "@@BENCH done; L1 load $(cut -d' ' -f1-3 /proc/loadavg)"
