#!/bin/sh
# virtio end to end (UEFI + ACPI guest, its devices found by their DSDT objects LNRO0005): a
# disk, a NIC on a TAP in L1 and the entropy device. The guest sees the image's first bytes
# and its serial, its MAC, and random bytes from vmmd; L1 pings it and moves verified data both
# ways over TCP. Then, while the guest runs verified O_DIRECT disk I/O and L1 keeps downloading
# from it (each download checked), vmmd scales it 1 -> 4 -> 2 -> 4 -> 1: no byte lost either
# way, no I/O error or hung task; the data it synced is in the image file after the VM stops;
# vmmctl get shows the disk's and the NIC's counters. The refusals: a second VM may not open
# the image read-write or the TAP while the first runs; a missing image or TAP is NOT_FOUND; a
# read-only disk refuses the guest's writes. Last, a device-tree (direct) boot finds the disk by
# its virtio,mmio node.
set -eu
. /e2e/lib.sh

tap=vmtap0
l1_tap_up "$tap" 10.0.3.1/24
trap 'l1_tap_down "$tap"' EXIT
mac=02:00:5e:00:03:02

img=/guest/disk0.img
rm -f "$img"
printf 'VMMD-DISK-MARKER' >"$img"
truncate -s 64M "$img"

start_vmmd
ctl create blk --firmware "$GUEST_FIRMWARE" --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
  --cmdline "$GUEST_CMDLINE vmmd.e2e.disk=45 vmmd.e2e.net=10.0.3.2/24 vmmd.e2e.rng=1" \
  --memory-mib "$GUEST_MEMORY_UEFI_MIB" --vcpus 1 --max-vcpus 4 --disk "$img,serial=e2e-root" \
  --net "tap=$tap,mac=$mac" --entropy
ctl start blk
con=$(console_file blk)
up=$(wait_for_line "$con" '^@@GUEST-UP ' 240 blk)
log "guest: $up"
d=$(wait_for_line "$con" '^@@DISK ' 60 blk)
log "disk: $d"
[ "$(field "$d" marker)" = VMMD-DISK-MARKER ] || fail "the guest read '$(field "$d" marker)' at sector 0"
[ "$(field "$d" sectors)" = 131072 ] || fail "the guest sees $(field "$d" sectors) sectors, expected 131072"
[ "$(field "$d" serial)" = e2e-root ] || fail "the guest sees serial $(field "$d" serial)"
[ "$(field "$d" ro)" = 0 ] || fail "the disk is read-only in the guest"
pass "the guest found vda through ACPI: 64 MiB, serial e2e-root, the image's first bytes"

n=$(wait_for_line "$con" '^@@NET ' 60 blk)
[ "$(field "$n" mac)" = "$mac" ] || fail "the guest's eth0 has MAC $(field "$n" mac), expected $mac"
[ "$(field "$n" driver)" = virtio_net ] || fail "eth0 is driven by $(field "$n" driver)"
ready=$(wait_for_line "$con" '^@@NET-READY ' 60 blk)
blob_md5=$(field "$ready" blob_md5)
ping -c 3 -W 5 10.0.3.2 >&9 2>&1 || fail "L1 cannot ping the guest through $tap"
got=$(timeout 60 wget -q -O - http://10.0.3.2/blob | md5sum | cut -c1-32)
[ "$got" = "$blob_md5" ] || fail "downloaded blob md5 $got, the guest served $blob_md5"
dd if=/dev/urandom of=/tmp/up.bin bs=1048576 count=4 2>/dev/null
up_md5=$(md5sum </tmp/up.bin | cut -c1-32)
timeout 60 nc 10.0.3.2 5001 </tmp/up.bin || fail "uploading to the guest failed"
u=$(wait_for_line "$con" '^@@NET-UPLOAD n=1 ' 60 blk)
[ "$(field "$u" md5)" = "$up_md5" ] && [ "$(field "$u" bytes)" = 4194304 ] ||
  fail "the guest received $u, L1 sent 4194304 bytes md5 $up_md5"
pass "eth0 ($mac, virtio_net) on $tap: ping, 4 MiB down and 4 MiB up over TCP, md5 equal"

r=$(wait_for_line "$con" '^@@RNG ' 60 blk)
case "$(field "$r" current)" in virtio_rng.*) ;; *) fail "the guest's hw_random is '$(field "$r" current)'" ;; esac
[ "$(field "$r" a)" != "$(field "$r" b)" ] || fail "two reads of /dev/hwrng were equal: $r"
pass "the guest's /dev/hwrng is vmmd's entropy device ($(field "$r" current)), two reads differ"

# The image is in use: nobody else may write it.
expect_error FAILED_PRECONDITION create other --kernel "$GUEST_KERNEL" --memory-mib 256 \
  --vcpus 1 --max-vcpus 1 --disk "$img"
expect_error NOT_FOUND create other --kernel "$GUEST_KERNEL" --memory-mib 256 \
  --vcpus 1 --max-vcpus 1 --disk /guest/none.img
expect_error FAILED_PRECONDITION create other --kernel "$GUEST_KERNEL" --memory-mib 256 \
  --vcpus 1 --max-vcpus 1 --net "tap=$tap"
expect_error NOT_FOUND create other --kernel "$GUEST_KERNEL" --memory-mib 256 \
  --vcpus 1 --max-vcpus 1 --net tap=nosuchtap
pass "a second writer, a second user of the TAP, a missing image and a missing TAP are refused"

# Scale while the guest's disk I/O runs and L1 keeps downloading from it.
(
  ok=0 bad=0
  while [ ! -f /tmp/net-stop ]; do
    got=$(timeout 60 wget -q -O - http://10.0.3.2/blob | md5sum | cut -c1-32)
    if [ "$got" = "$blob_md5" ]; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
  done
  echo "ok=$ok bad=$bad" >/tmp/net-result
) &
netpid=$!
for n in 4 2 4 1; do
  scale_to blk "$n"
  check_scaled blk "$n" 4
done
touch /tmp/net-stop
wait "$netpid"
net=$(cat /tmp/net-result)
[ "$(field "$net" bad)" = 0 ] || fail "downloads during scaling differed: $net"
[ "$(field "$net" ok)" -ge 2 ] || fail "too few downloads during scaling: $net"
pass "$(field "$net" ok) verified 4 MiB downloads from the guest across 1 -> 4 -> 2 -> 4 -> 1 vCPUs"
io=$(wait_for_line "$con" '^@@DISK-IO ' 180 blk)
log "io: $io"
rounds=$(field "$io" rounds)
[ "$rounds" -ge 8 ] || fail "only $rounds I/O rounds ran"
[ "$(field "$io" bad)" = 0 ] || fail "data read back differed: $io"
[ "$(field "$io" errors)" = 0 ] || fail "I/O errors in the guest: $io"
synced=$(wait_for_line "$con" '^@@DISK-SYNCED ' 60 blk)
wait_for_line "$con" '^@@DISK-DMESG-END' 30 blk >/dev/null
if grep -a '^@@DISK-DMESG ' "$con" >&9; then fail "kernel I/O errors or hung tasks (above)"; fi
pass "$rounds rounds of verified direct I/O across 1 -> 4 -> 2 -> 4 -> 1 vCPUs: no bad byte, no error"

got=$(vmmctl --socket "$VMMD_SOCK" get blk)
echo "$got" | grep -a '^disk0: ' >&9
w=$(echo "$got" | sed -n 's/^disk0: .*writes \([0-9]*\) .*/\1/p')
r=$(echo "$got" | sed -n 's/^disk0: .*reads \([0-9]*\) .*/\1/p')
[ -n "$w" ] && [ "$w" -ge "$rounds" ] || fail "vmmctl get shows $w writes for $rounds rounds"
[ -n "$r" ] && [ "$r" -ge "$rounds" ] || fail "vmmctl get shows $r reads for $rounds rounds"
echo "$got" | grep -q '^disk0: .*failed 0, queue errors 0$' || fail "failed requests: $(echo "$got" | grep '^disk0')"
pass "GetVm counts $r reads and $w writes, none failed"
echo "$got" | grep -a '^nic0: ' >&9
rx=$(echo "$got" | sed -n 's/^nic0: .*; rx \([0-9]*\) frames.*/\1/p')
tx=$(echo "$got" | sed -n 's/^nic0: .* tx \([0-9]*\) frames.*/\1/p')
[ -n "$rx" ] && [ "$rx" -ge 1000 ] && [ -n "$tx" ] && [ "$tx" -ge 1000 ] ||
  fail "vmmctl get shows rx $rx / tx $tx frames after megabytes each way"
echo "$got" | grep -q "^nic0: tap $tap mac $mac;" || fail "nic0: $(echo "$got" | grep '^nic0')"
pass "GetVm counts $rx frames to the guest and $tx from it on $tap"

ctl stop blk --force
wait_for_state blk STOPPED 30
want=$(field "$synced" sha256)
have=$(dd if="$img" bs=1048576 skip=40 count=4 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$have" = "$want" ] || fail "the image holds $have at MiB 40, the guest synced $want"
pass "what the guest synced is in the image file: sha256 $want"

# Stopped, the image is free again; a read-only disk refuses the guest's writes.
ctl delete blk
ctl create ro --firmware "$GUEST_FIRMWARE" --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
  --cmdline "$GUEST_CMDLINE vmmd.e2e.disk=1" --memory-mib "$GUEST_MEMORY_UEFI_MIB" \
  --vcpus 1 --max-vcpus 1 --disk "$img,ro"
before=$(dd if="$img" bs=4096 skip=256 count=1 2>/dev/null | sha256sum)
ctl start ro
d=$(wait_for_line "$(console_file ro)" '^@@DISK ' 300 ro)
[ "$(field "$d" ro)" = 1 ] || fail "the read-only disk is writable in the guest: $d"
w=$(wait_for_line "$(console_file ro)" '^@@DISK-RO-WRITE ' 60 ro)
[ "$(field "$w" rc)" != 0 ] || fail "the guest's write to the read-only disk succeeded"
ctl stop ro --force
wait_for_state ro STOPPED 30
after=$(dd if="$img" bs=4096 skip=256 count=1 2>/dev/null | sha256sum)
[ "$before" = "$after" ] || fail "the read-only image changed"
pass "a read-only disk: ro=1 in the guest, its write failed, the image unchanged"

# A direct (device-tree) boot finds the disk by its virtio,mmio node.
ctl delete ro
create_vm dt 2 2 "vmmd.e2e.disk=4" --disk "$img"
ctl start dt
d=$(wait_for_line "$(console_file dt)" '^@@DISK ' 120 dt)
[ "$(field "$d" marker)" = VMMD-DISK-MARKER ] || fail "the DT guest read '$(field "$d" marker)'"
io=$(wait_for_line "$(console_file dt)" '^@@DISK-IO ' 120 dt)
[ "$(field "$io" bad)" = 0 ] && [ "$(field "$io" errors)" = 0 ] && [ "$(field "$io" ok)" -ge 1 ] ||
  fail "DT guest I/O: $io"
pass "a device-tree guest finds vda too and its I/O verifies: $io"
rm -f "$img"
