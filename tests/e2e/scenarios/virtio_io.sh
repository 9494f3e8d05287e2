#!/bin/sh
# virtio-blk end to end (UEFI + ACPI guest, the disk found by its DSDT object LNRO0005): the
# guest sees the image's first bytes and its serial, runs verified O_DIRECT I/O while vmmd
# scales it 1 -> 4 -> 2 -> 4 -> 1, loses no byte and logs no I/O error or hung task; the data it
# synced is in the image file after the VM stops; vmmctl get shows the disk's counters. Then
# the refusals: a second VM may not open the image read-write while the first runs, a missing
# image is NOT_FOUND, and a read-only disk refuses the guest's writes. Last, a device-tree
# (direct) boot finds the disk by its virtio,mmio node.
set -eu
. /e2e/lib.sh

img=/guest/disk0.img
rm -f "$img"
printf 'VMMD-DISK-MARKER' >"$img"
truncate -s 64M "$img"

start_vmmd
ctl create blk --firmware "$GUEST_FIRMWARE" --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
  --cmdline "$GUEST_CMDLINE vmmd.e2e.disk=45" --memory-mib "$GUEST_MEMORY_UEFI_MIB" \
  --vcpus 1 --max-vcpus 4 --disk "$img,serial=e2e-root"
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

# The image is in use: nobody else may write it.
expect_error FAILED_PRECONDITION create other --kernel "$GUEST_KERNEL" --memory-mib 256 \
  --vcpus 1 --max-vcpus 1 --disk "$img"
expect_error NOT_FOUND create other --kernel "$GUEST_KERNEL" --memory-mib 256 \
  --vcpus 1 --max-vcpus 1 --disk /guest/none.img
pass "a second writer and a missing image are refused"

# Scale while the guest's I/O runs.
for n in 4 2 4 1; do
  scale_to blk "$n"
  check_scaled blk "$n" 4
done
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
echo "$got" | grep -q '^disk0: .*failed 0$' || fail "failed requests: $(echo "$got" | grep '^disk0')"
pass "GetVm counts $r reads and $w writes, none failed"

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
