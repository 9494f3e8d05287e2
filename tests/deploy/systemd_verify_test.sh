#!/usr/bin/env bash
# deploy/systemd's units pass `systemd-analyze verify` without a single complaint (it only warns,
# exit 0, on a misspelt directive or a bad value, so any output fails) and stay sandboxed:
# `systemd-analyze security --offline` exposure at most 2.5 of 10 each.
# verify also insists that ExecStart's binary exists, and vmmd is not installed on the build
# machine: the units are checked as temporary copies whose ExecStart=/usr/bin/NAME points at an
# executable stand-in $tmp/bin/NAME instead. Nothing else in the copies changes (checked).
# usage: systemd_verify_test.sh SYSTEMD_ANALYZE SOURCE_DIR
analyze=${1:?usage: systemd_verify_test.sh SYSTEMD_ANALYZE SOURCE_DIR}
src=${2:?}
. "$src/tests/deploy/lib.sh"
units=(vmmd.service vmm-autoscaler.service)
threshold=25  # exposure x 10

check_units() { # check_units DIR: verifies copies of DIR's units
  local d out u n
  d=$(mktemp -d "$tmp/units.XXXXXX")
  mkdir -p "$d/bin"
  for u in "${units[@]}"; do
    sed "s|^ExecStart=/usr/bin/|ExecStart=$d/bin/|" "$1/$u" >"$d/$u"
    n=$(diff "$1/$u" "$d/$u" | grep -c '^>') || true
    if [ "$n" != 1 ] || ! grep -q "^ExecStart=$d/bin/" "$d/$u"; then
      echo "$u: expected exactly one ExecStart=/usr/bin/... line to redirect, changed $n"
      return 1
    fi
    printf '#!/bin/sh\nexit 0\n' >"$d/bin/$(sed -n "s|^ExecStart=$d/bin/\([^ ]*\).*|\1|p" "$d/$u")"
  done
  chmod +x "$d"/bin/*
  out=$(cd "$d" && "$analyze" verify --man=no "${units[@]/#/./}" 2>&1) || { echo "$out"; return 1; }
  [ -z "$out" ] || { echo "systemd-analyze verify complained:"; echo "$out"; return 1; }
  for u in "${units[@]}"; do
    out=$(cd "$d" && "$analyze" security --offline=true --threshold="$threshold" "./$u" 2>&1) ||
      { echo "$u: $(grep 'Overall exposure' <<<"$out"), over the allowed $((threshold / 10)).$((threshold % 10))"; return 1; }
    echo "$u: $(grep 'Overall exposure' <<<"$out" | sed 's/^→ //')"
  done
}

check_units "$src/deploy/systemd" || { echo "FAIL: the shipped units do not verify"; exit 1; }

s=$(fresh_copy "$src/deploy/systemd")
plant "$s/vmmd.service" 's/^TasksMax=/TaskMax=/'
expect_refused "a misspelt directive" "Unknown key 'TaskMax' in section [Service]" check_units "$s"

s=$(fresh_copy "$src/deploy/systemd")
plant "$s/vmmd.service" 's|^DeviceAllow=/dev/kvm rw$|DeviceAllow=/dev/kvm rwz|'
expect_refused "a bad value" "Invalid device rights 'rwz'" check_units "$s"

s=$(fresh_copy "$src/deploy/systemd")
plant "$s/vmm-autoscaler.service" 's/^BindsTo=vmmd.service/BindsTo=vmmdd.service/'
expect_refused "a dependency on a missing unit" "Unit vmmdd.service not found" check_units "$s"

s=$(fresh_copy "$src/deploy/systemd")
plant "$s/vmmd.service" '/^\(Protect\|Private\|Restrict\|SystemCall\|CapabilityBoundingSet\)/d'
expect_refused "a unit without its sandbox" "Overall exposure level for vmmd.service" check_units "$s"

# The user the vmmd unit runs as: systemd-sysusers creates it in an empty root from the shipped
# file — its own group and a member of kvm (what /dev/kvm needs).
check_sysusers() { # check_sysusers FILE
  local root
  root=$(mktemp -d "$tmp/root.XXXXXX")
  mkdir -p "$root/etc"
  systemd-sysusers --root="$root" "$1" >/dev/null 2>&1 || { echo "systemd-sysusers failed on $1"; return 1; }
  grep -q '^vmmd:x:[0-9]*:[0-9]*:vmmd virtual machine monitor:/var/lib/vmmd:' "$root/etc/passwd" ||
    { echo "no vmmd user: $(cat "$root/etc/passwd")"; return 1; }
  grep -q '^kvm:x:[0-9]*:vmmd$' "$root/etc/group" || { echo "vmmd is not in kvm: $(cat "$root/etc/group")"; return 1; }
  echo "vmmd.sysusers: user vmmd, member of kvm"
}
check_sysusers "$src/deploy/systemd/vmmd.sysusers" || { echo "FAIL: vmmd.sysusers"; exit 1; }
s=$(fresh_copy "$src/deploy/systemd")
plant "$s/vmmd.sysusers" '/^m vmmd kvm/d'
expect_refused "a user without the kvm group" "vmmd is not in kvm" check_sysusers "$s/vmmd.sysusers"

finish "both units verify and are sandboxed, vmmd.sysusers makes the user; 5 planted mistakes were refused"
