#!/bin/sh
# A hostile guest driver against vmmd's virtio: in a device-tree guest with two disks, root in
# the guest unbinds the second ("victim") from Linux's driver and drives it itself
# (/bin/virtio-hostile, vmmd.e2e.vhostile): loops, buffers and rings outside guest RAM, indexes
# beyond the queue, bad indirect tables. Every case must put only that device in
# DEVICE_NEEDS_RESET with nothing completed, while the guest's other disk runs verified I/O
# undisturbed; the device must work again after the guest resets it (GET_ID, then Linux's own
# driver bound again reads the same bytes); vmmd counts each broken queue for that disk only and
# stays up; the VM keeps running.
set -eu
. /e2e/lib.sh

good=/guest/good.img
victim=/guest/victim.img
rm -f "$good" "$victim"
truncate -s 64M "$good"
dd if=/dev/urandom of="$victim" bs=65536 count=1 2>/dev/null
truncate -s 16M "$victim"
victim_md5=$(head -c 65536 "$victim" | md5sum | cut -c1-32)

start_vmmd
ctl create vh --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
  --cmdline "$GUEST_CMDLINE iomem=relaxed vmmd.e2e.disk=30 vmmd.e2e.vhostile=victim" \
  --memory-mib 512 --vcpus 2 --max-vcpus 2 --disk "$good,serial=good" \
  --disk "$victim,serial=victim"
ctl start vh
con=$(console_file vh)
wait_for_line "$con" '^@@GUEST-UP ' 120 vh >/dev/null
d=$(wait_for_line "$con" '^@@DISK ' 60 vh)
[ "$(field "$d" serial)" = good ] || fail "vda is '$(field "$d" serial)', expected the disk 'good': $d"

end=$(wait_for_line "$con" '^@@VHOSTILE-END .*md5_after=' 120 vh)
grep -a '^@@VHOSTILE' "$con" | tr -d '\r' >&9
cases=$(grep -a '^@@VHOSTILE done ' "$con" | tr -d '\r')
[ -n "$cases" ] || fail "virtio-hostile did not finish (its output above)"
n=$(field "$cases" cases)
[ "$n" -ge 11 ] || fail "virtio-hostile ran $n cases, expected 11 (INDIRECT_DESC offered)"
if grep -a '^@@VHOSTILE case=' "$con" | tr -d '\r' | grep -v 'needs_reset=1 used=0$' >&9; then
  fail "cases above did not end in DEVICE_NEEDS_RESET with nothing completed"
fi
pass "$n malformed requests from the guest each put the victim disk in DEVICE_NEEDS_RESET, none completed"
[ "$(field "$cases" recovered)" = 1 ] && grep -aq '^@@VHOSTILE recovered=1 id=victim' "$con" ||
  fail "the device did not work again after a reset: $(grep -a '^@@VHOSTILE recovered' "$con")"
[ "$(field "$end" rc)" = 0 ] || fail "virtio-hostile exited with $(field "$end" rc)"
[ "$(field "$end" md5_before)" = "$victim_md5" ] && [ "$(field "$end" md5_after)" = "$victim_md5" ] ||
  fail "the victim disk read $end, the image's first 64 KiB have md5 $victim_md5"
pass "after a reset the device answers GET_ID ('victim'); Linux's driver bound again reads the image's bytes ($(field "$end" dev))"

io=$(wait_for_line "$con" '^@@DISK-IO ' 120 vh)
[ "$(field "$io" bad)" = 0 ] && [ "$(field "$io" errors)" = 0 ] && [ "$(field "$io" ok)" -ge 1 ] ||
  fail "the good disk's verified I/O: $io"
wait_for_line "$con" '^@@DISK-DMESG-END' 60 vh >/dev/null
if grep -a '^@@DISK-DMESG ' "$con" | grep -v 'vdb' >&9; then
  fail "kernel I/O errors on the good disk (above)"
fi
pass "the other disk's verified I/O went on meanwhile: $(field "$io" ok) rounds of 1 MiB read back equal, no error"

check_vmmd
[ "$(vm_field vh state)" = RUNNING ] || fail "the VM is $(vm_field vh state): $(vm_field vh reason)"
got=$(ctl get vh)
echo "$got" | grep -a '^disk[01]:' >&9
echo "$got" | grep -q "^disk0: .*failed 0, queue errors 0\$" || fail "disk0's counters: $(echo "$got" | grep '^disk0')"
echo "$got" | grep -q "^disk1: .*queue errors $n\$" || fail "disk1 should count $n queue errors: $(echo "$got" | grep '^disk1')"
pass "vmmd is up, the VM runs, and vmmctl get counts $n queue errors on the victim disk, none on the other"
ctl delete vh >/dev/null
