#!/bin/sh
# Bad requests get exact gRPC codes, leave nothing behind, and do not hurt the daemon: after all
# of them vmmctl list still works and a good VM still boots.
set -eu
. /e2e/lib.sh

start_vmmd

K=$GUEST_KERNEL
I=$GUEST_INITRD
C="$GUEST_CMDLINE vmmd.e2e=idle"
good() { echo --kernel "$K" --initrd "$I" --memory-mib 256; }   # (no spaces in these paths)

ctl create good --kernel "$K" --initrd "$I" --cmdline "$C" --memory-mib 256 --vcpus 2 --max-vcpus 4
pass "good VM created"

# vCPU counts
expect_error INVALID_ARGUMENT create b1 $(good) --vcpus 2 --max-vcpus 1
expect_error INVALID_ARGUMENT create b2 $(good) --vcpus 0 --max-vcpus 1
expect_error INVALID_ARGUMENT create b3 $(good) --vcpus 1 --max-vcpus 100000
# 2 MiB of guest RAM per possible vCPU at least (the guest would stall at boot)
expect_error INVALID_ARGUMENT create b3m --kernel "$GUEST_KERNEL" --memory-mib 256 --vcpus 1 \
  --max-vcpus 129
grep -q 'give at least 258 MiB (2 MiB per possible vCPU)' /tmp/.expect.err ||
  fail "the memory floor's message does not name the minimum: $(cat /tmp/.expect.err)"
# start_vcpus: within vcpus..max_vcpus, and above vcpus only for an ACPI boot (this is DT)
expect_error INVALID_ARGUMENT create b3s $(good) --vcpus 2 --max-vcpus 4 --start-vcpus 5
expect_error INVALID_ARGUMENT create b3t $(good) --vcpus 2 --max-vcpus 4 --start-vcpus 3
grep -q 'needs an ACPI boot (boot_mode UEFI or ACPI_DIRECT)' /tmp/.expect.err ||
  fail "start_vcpus on a device-tree boot: the message does not say why: $(cat /tmp/.expect.err)"
# files
expect_error NOT_FOUND create b4 --kernel /guest/no-such-Image --memory-mib 256 --vcpus 1 --max-vcpus 1
# only under --image_dir (/guest here), never through a symlink, regular files only
expect_error PERMISSION_DENIED create b8 --kernel /etc/passwd --memory-mib 256 --vcpus 1 --max-vcpus 1
expect_error INVALID_ARGUMENT create b9 --kernel /guest/../etc/passwd --memory-mib 256 --vcpus 1 \
  --max-vcpus 1
ln -sf /etc/passwd /guest/bad-link 2>/dev/null && {
  expect_error PERMISSION_DENIED create b10 --kernel /guest/bad-link --memory-mib 256 --vcpus 1 \
    --max-vcpus 1
  rm -f /guest/bad-link
}
expect_error INVALID_ARGUMENT create b11 --kernel /guest --memory-mib 256 --vcpus 1 --max-vcpus 1
# names
expect_error ALREADY_EXISTS create good $(good) --vcpus 1 --max-vcpus 1
expect_error INVALID_ARGUMENT create Bad_Name $(good) --vcpus 1 --max-vcpus 1
# ("--" so that vmmctl sends "-x" as the name instead of rejecting it as an unknown flag)
expect_error INVALID_ARGUMENT create $(good) --vcpus 1 --max-vcpus 1 -- -x
long=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
[ ${#long} = 64 ] || fail "test bug: the long name has ${#long} chars"
expect_error INVALID_ARGUMENT create "$long" $(good) --vcpus 1 --max-vcpus 1
# memory
expect_error INVALID_ARGUMENT create b5 --kernel "$K" --memory-mib 0 --vcpus 1 --max-vcpus 1
expect_error INVALID_ARGUMENT create b6 --kernel "$K" --memory-mib 999999999 --vcpus 1 --max-vcpus 1
expect_error RESOURCE_EXHAUSTED create b7 --kernel "$K" --memory-mib 8192 --vcpus 1 --max-vcpus 1
# unknown VMs
for verb in start get stop delete cpus; do
  expect_error NOT_FOUND "$verb" nosuchvm
done
pass "every bad request got its exact code"

names=$(list_names)
[ "$names" = good ] || fail "vmmctl list shows '$names' after the bad requests, expected only 'good'"
pass "vmmctl list still works and shows only 'good'"

t0=$(now_ms)
ctl start good
up=$(wait_for_line "$(console_file good)" '^@@GUEST-UP ' 180 good)
time_since start_to_guest_up "$t0"
[ "$(field "$up" online)" = 0-1 ] || fail "good's guest sees online=$(field "$up" online), expected 0-1"
pass "a good VM still boots (online=0-1)"

expect_error FAILED_PRECONDITION start good
[ "$(vm_field good state)" = RUNNING ] || fail "good is '$(vm_field good state)' after a refused start, expected RUNNING"
pass "start of a RUNNING VM is refused and harmless"
