#!/bin/sh
# vmmd as an unprivileged user: uid 991 with the kvm group (gid 990) as its only group, no
# capability, owning only its socket and state directories — what deploy/systemd/vmmd.service
# gives it (User=vmmd, SupplementaryGroups=kvm; /dev/kvm root:kvm 0660 as Debian's udev rule
# makes it). A UEFI 6.12 guest boots, is scaled 1 -> 2 and stopped through its power button.
. /e2e/lib.sh

command -v start-stop-daemon >/dev/null || fail "no start-stop-daemon in this L1 (busybox)"
grep -q '^kvm:' /etc/group || echo "kvm:x:990:" >>/etc/group
grep -q '^vmmd:' /etc/passwd || echo "vmmd:x:991:990:vmmd:/var/lib/vmmd:/bin/false" >>/etc/passwd
chgrp 990 /dev/kvm && chmod 0660 /dev/kvm
mkdir -p /run/vmmd "$VMMD_STATE"
chown 991:990 /run/vmmd "$VMMD_STATE" && chmod 0700 "$VMMD_STATE"

VMMD_USER=vmmd:kvm start_vmmd
st=/proc/$VMMD_PID/status
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "$st")
gids=$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "$st")
groups=$(awk '/^Groups:/ { $1 = ""; print }' "$st" | tr -d ' ')
capeff=$(awk '/^CapEff:/ { print $2 }' "$st")
capprm=$(awk '/^CapPrm:/ { print $2 }' "$st")
[ "$uids" = "991 991 991 991" ] || fail "vmmd runs with uids $uids"
[ "$gids" = "990 990 990 990" ] || fail "vmmd runs with gids $gids"
[ -z "$groups" ] || [ "$groups" = 990 ] || fail "vmmd has supplementary groups '$groups'"
[ "$capeff" = 0000000000000000 ] && [ "$capprm" = 0000000000000000 ] ||
  fail "vmmd has capabilities: effective $capeff, permitted $capprm"
pass "vmmd runs as uid 991, gid 990 (kvm), no other group, no capability"
[ "$(stat -c '%u %a' /run/vmmd/vmmd.sock)" = "991 600" ] ||
  fail "the socket is $(stat -c '%u %a' /run/vmmd/vmmd.sock), expected 991 600"

create_acpi_vm nr 1 2
ctl start nr >/dev/null
con=$(console_file nr)
wait_for_line "$con" '@@GUEST-UP' 240 nr >/dev/null
[ "$(stat -c %u "$VMMD_STATE/nr/vm.pb")" = 991 ] || fail "the VM's record is not vmmd's"
scale_to nr 2 --timeout=90
check_scaled nr 2 2
ctl stop nr --timeout=60 >/dev/null
[ "$(vm_field nr state)" = STOPPED ] || fail "nr is $(vm_field nr state) after stop"
pass "unprivileged vmmd booted a UEFI guest, scaled it 1 -> 2 and stopped it: $(vm_field nr reason)"
