#!/usr/bin/env bash
# The floor guard (cmake/Floors.cmake) must pass on the tree and fail on each kind of wrong
# dependency planted in a copy of it: an upward include, a sideways include between devices, the
# KVM UAPI outside core/kvm, and a library that links a higher floor.
#   floor_guard_test.sh SOURCE_DIR
set -euo pipefail
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

copy_tree() {  # a fresh copy of the sources the guard reads
  rm -rf "$tmp/tree" && mkdir -p "$tmp/tree"
  (cd "$src" && tar cf - --exclude=./build cmake core hw acpi vmmd tests) | (cd "$tmp/tree" && tar xf -)
}
check() { cmake -DVMMD_SOURCE_DIR="$tmp/tree" -P "$tmp/tree/cmake/CheckFloors.cmake" >"$tmp/out" 2>&1; }

expect_pass() {
  if check; then echo "ok: $1"; else echo "FAIL: $1: the guard refused a clean tree"; cat "$tmp/out"; failures=$((failures + 1)); fi
}
# expect_fail WHAT FILE LINE EXPECTED_TEXT: plants LINE at the top of FILE (in a fresh copy).
expect_fail() {
  copy_tree
  printf '%s\n' "$3" | cat - "$tmp/tree/$2" >"$tmp/planted" && mv "$tmp/planted" "$tmp/tree/$2"
  if check; then
    echo "FAIL: $1: the guard accepted it"; failures=$((failures + 1))
  elif ! grep -qF -- "$4" "$tmp/out"; then
    echo "FAIL: $1: the guard failed without naming it ('$4'):"; cat "$tmp/out"; failures=$((failures + 1))
  else
    echo "ok: $1 is refused: $(grep -F -- "$4" "$tmp/out" | head -n 1 | sed 's/^ *//')"
  fi
}

copy_tree
expect_pass "the tree as it is"
expect_fail "core including the daemon's VM controller" core/bus/bus.h '#include "vmmd/vmm/vm.h"' \
  'core/bus/bus.h: #include "vmmd/vmm/vm.h"'
expect_fail "core including a device" core/vcpu/vcpu_manager.cc '#include "hw/ged/ged.h"' \
  'core/vcpu/vcpu_manager.cc: #include "hw/ged/ged.h"'
expect_fail "acpi including a device" acpi/tables/dsdt.cc '#include "hw/pl011/pl011.h"' \
  'acpi/tables/dsdt.cc: #include "hw/pl011/pl011.h"'
expect_fail "a device including another device" hw/pl011/pl011.cc '#include "hw/ged/ged.h"' \
  'hw/pl011/pl011.cc: #include "hw/ged/ged.h"'
expect_fail "a device including the VM controller" hw/ged/ged.h '#include "vmmd/vmm/machine.h"' \
  'hw/ged/ged.h: #include "vmmd/vmm/machine.h"'
expect_fail "the VM controller including the gRPC layer" vmmd/vmm/vm.cc \
  '#include "vmmd/api/grpc_service.h"' 'vmmd/vmm/vm.cc: #include "vmmd/api/grpc_service.h"'
expect_fail "a test of a low floor using a high one" core/bus/bus_test.cc \
  '#include "vmmd/vmm/vm_manager.h"' 'core/bus/bus_test.cc: #include "vmmd/vmm/vm_manager.h"'
expect_fail "the KVM UAPI outside core/kvm" core/vcpu/psci.cc '#include <linux/kvm.h>' \
  'core/vcpu/psci.cc: <linux/kvm.h> outside core/kvm/'

# Links, checked at configure time: a synthetic project with the real helpers and rules.
mkdir -p "$tmp/links/core/bus" "$tmp/links/vmmd/vmm"
cp -r "$src/cmake" "$tmp/links/"
for d in core/bus vmmd/vmm; do echo 'int x_'"${d//\//_}"'() { return 0; }' >"$tmp/links/$d/x.cc"; done
cat >"$tmp/links/core/bus/CMakeLists.txt" <<'CM'
vmmd_library(low SRCS x.cc DEPS ${LOW_DEPS})
CM
cat >"$tmp/links/vmmd/vmm/CMakeLists.txt" <<'CM'
vmmd_library(high SRCS x.cc DEPS ${HIGH_DEPS})
CM
cat >"$tmp/links/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(floors LANGUAGES CXX)
include(cmake/VmmdHelpers.cmake)
add_subdirectory(vmmd/vmm)
add_subdirectory(core/bus)
vmmd_check_floor_links()
CM
configure() { rm -rf "$tmp/links/build"; cmake -S "$tmp/links" -B "$tmp/links/build" "$@" >"$tmp/out" 2>&1; }
if configure -DHIGH_DEPS=low; then echo "ok: vmmd/vmm linking core/bus is accepted";
else echo "FAIL: a downward link was refused"; cat "$tmp/out"; failures=$((failures + 1)); fi
if configure -DLOW_DEPS=high; then
  echo "FAIL: core/bus linking vmmd/vmm was accepted"; failures=$((failures + 1))
elif grep -qF "low (core/bus) links high (vmmd/vmm)" "$tmp/out"; then
  echo "ok: core/bus linking vmmd/vmm is refused at configure time"
else
  echo "FAIL: the upward link failed without naming it:"; cat "$tmp/out"; failures=$((failures + 1))
fi

[ "$failures" -eq 0 ] && echo "floor guard: every planted violation was refused"
exit "$failures"
