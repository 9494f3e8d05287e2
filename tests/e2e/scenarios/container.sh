#!/bin/sh
# vmmd's container image (make image) under a real OCI runtime, Debian's arm64 crun, in L1.
# The bundle is the image unpacked by umoci on the host, with /dev/kvm allowed and /run/vmmd,
# /var/lib/vmmd, /guest and /tmp bound from L1 (tests/e2e/container/oci-config.py). vmmd runs
# as the container's PID 1 with the image's own arguments (the DaemonSet's); L1's vmmctl, outside
# the container, creates a UEFI guest through the shared socket and scales it 2 -> 4 -> 2 (the
# guest's own sysfs agrees); vmmctl and vmm-autoscaler run inside the same container
# (crun exec), the autoscaler publishing a recommendation; `crun kill vmmd TERM` stops vmmd
# cleanly (exit status 0, its shutdown lines, the socket removed, the runtime's state gone).
# Then the runtime's separate steps on the same bundle: create, start (the VM comes back from
# its record in the state directory), kill, delete.
# l1-run: container
set -eu
# shellcheck source=SCRIPTDIR/../lib.sh
. /e2e/lib.sh

BUNDLE=/extra/vmmd-bundle
CT=vmmd
# The vmmd container's command and args in deploy/kubernetes/daemonset.yaml, which make image
# copies into the image: the container must run exactly these.
ARGS="/usr/bin/vmmd --socket=/run/vmmd/vmmd.sock --state_dir=/var/lib/vmmd"
ARGS="$ARGS --image_dir=/var/lib/vmmd/images"
ARGS="$ARGS --metrics_address=0.0.0.0:9477 --log_level=info"

command -v crun >/dev/null || fail "no crun in this L1 (l1-run packs it for '# l1-run: container')"
[ -f "$BUNDLE/config.json" ] || fail "no OCI bundle in $BUNDLE"
[ -c /dev/kvm ] || fail "no /dev/kvm in L1"
# The bundle allows the device 10:232 (KVM's fixed misc minor); stat prints hex.
[ "$(stat -c %t:%T /dev/kvm)" = a:e8 ] || fail "/dev/kvm is $(stat -c %t:%T /dev/kvm) (hex)"
mkdir -p /sys/fs/cgroup /run/vmmd /var/lib/vmmd/images
# The guest files where the DaemonSet's vmmd looks for them (--image_dir=/var/lib/vmmd/images):
# /guest bound there, as a node would keep its images in the hostPath volume; specs name them
# by that path.
mount -o bind /guest /var/lib/vmmd/images || fail "cannot bind /guest on /var/lib/vmmd/images"
GUEST_KERNEL=/var/lib/vmmd/images/Image
GUEST_INITRD=/var/lib/vmmd/images/initrd.cpio
GUEST_FIRMWARE=/var/lib/vmmd/images/QEMU_EFI.fd
mount -t cgroup2 cgroup2 /sys/fs/cgroup || fail "cannot mount cgroup2 on /sys/fs/cgroup"
log "$(crun --version | head -n1); image rootfs $(du -sh "$BUNDLE/rootfs" | cut -f1)"

# state_field KEY: a field of `crun state` (its JSON has one per line).
state_field() {
  crun state "$CT" 2>/dev/null | sed -n "s/^ *\"$1\": *\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p"
}

# crun run in the foreground (in this script's background) is the container's parent, as a
# node's container shim is: it returns vmmd's exit status. The container's stdout and stderr
# are vmmd's log. --no-pivot: L1's root is its initramfs, which pivot_root(2) cannot move away.
time_start container_up
crun run --no-pivot --bundle "$BUNDLE" "$CT" </dev/null >"$VMMD_LOG" 2>&1 &
CRUN_PID=$!
VMMD_PID=$CRUN_PID  # lib.sh's liveness checks: crun run lives as long as the container
i=0
while ! vmmctl --socket "$VMMD_SOCK" list >/dev/null 2>&1; do
  if ! kill -0 "$CRUN_PID" 2>/dev/null; then
    rc=0
    wait "$CRUN_PID" || rc=$?
    VMMD_PID=
    fail "crun run exited (rc=$rc) before vmmd served"
  fi
  i=$((i + 1))
  [ "$i" -le 600 ] || fail "no answer on $VMMD_SOCK 60 s after crun run"
  sleep 0.1
done
time_end container_up

# What runs is the image's vmmd, in a container: its own mount, PID, UTS and IPC namespaces,
# L1's network namespace, cgroup /vmmd, a read-only root.
[ "$(state_field status)" = running ] || fail "crun state: $(crun state "$CT" 2>&1)"
pid=$(state_field pid)
[ -d "/proc/${pid:-none}" ] || fail "crun state has no live pid: $(crun state "$CT" 2>&1)"
cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline")
[ "$cmd" = "$ARGS " ] || fail "the container runs '$cmd', expected the image's '$ARGS'"
for ns in mnt pid uts ipc; do
  [ "$(readlink "/proc/$pid/ns/$ns")" != "$(readlink /proc/self/ns/$ns)" ] ||
    fail "vmmd shares L1's $ns namespace"
done
[ "$(readlink "/proc/$pid/ns/net")" = "$(readlink /proc/self/ns/net)" ] ||
  fail "vmmd is not in L1's network namespace"
nspid=$(awk '$1 == "NSpid:" { print $NF }' "/proc/$pid/status")
[ "$nspid" = 1 ] || fail "vmmd is PID $nspid in its namespace, expected 1"
cg=$(cat "/proc/$pid/cgroup")
[ "$cg" = 0::/vmmd ] || fail "vmmd's cgroup is '$cg', expected 0::/vmmd"
rootopts=$(awk '$5 == "/" { print $6 }' "/proc/$pid/mountinfo")
case ",$rootopts," in *,ro,*) ;; *) fail "the container's root is mounted '$rootopts'" ;; esac
pass "crun runs the image's vmmd: PID 1 of its own namespaces (L1's network), cgroup /vmmd, ro root"

ready=$(timeout 10 wget -q -O - http://127.0.0.1:9477/readyz 2>&1) ||
  fail "/readyz of the containerised vmmd: $ready"
log "/readyz: $ready"
out=$(crun exec "$CT" /usr/bin/vmmctl --socket=/run/vmmd/vmmd.sock list 2>&1) ||
  fail "vmmctl inside the container: $out"
log "crun exec $CT vmmctl list: $out"
pass "/dev/kvm works inside (/readyz 200); the image's vmmctl answers inside the container"

# A resizable guest, driven from outside through the shared socket.
create_acpi_vm ct 2 4
ctl start ct
up=$(wait_for_line "$(console_file ct)" '^@@GUEST-UP ' 240 ct)
log "guest: $up"
[ "$(field "$up" possible)" = 0-3 ] || fail "guest possible=$(field "$up" possible), expected 0-3"
expect_guest_cpus ct 0-1 0-1 10
pass "UEFI guest under the containerised vmmd: possible=0-3, online=enabled=0-1"
scale_to ct 4
check_scaled ct 4 4
scale_to ct 2
check_scaled ct 2 4

# The sidecar binary of the same image, in the same container, against the same socket. Its
# reports name it vmm-autoscaler/<its hostname>: the container's.
ctl autoscale ct --mode=recommend --min=2 --max=4 >/dev/null
crun exec --pid-file /tmp/autoscaler.pid "$CT" /usr/bin/vmm-autoscaler \
  --socket=/run/vmmd/vmmd.sock --interval=1s --startup_delay=0s \
  </dev/null >/tmp/autoscaler.log 2>&1 &
as_exec=$!
end=$(($(now_ms) + 60000))
while :; do
  reported=$(vm_field ct reported)
  case "$reported" in *" by vmm-autoscaler/vmmd-container") break ;; esac
  kill -0 "$as_exec" 2>/dev/null || fail "vmm-autoscaler exited: $(cat /tmp/autoscaler.log)"
  [ "$(now_ms)" -lt "$end" ] ||
    fail "no report by vmm-autoscaler/vmmd-container after 60 s: '$reported'"
  sleep 1
done
log "vmmctl get ct: reported: $reported; recommendation: $(vm_field ct recommendation)"
kill -TERM "$(cat /tmp/autoscaler.pid)"
rc=0
wait "$as_exec" || rc=$?
sed 's/^/autoscaler| /' /tmp/autoscaler.log >&9
[ "$rc" = 0 ] || fail "vmm-autoscaler exited $rc after SIGTERM"
grep -q 'vmm-autoscaler: signal 15, stopping' /tmp/autoscaler.log || fail "no clean autoscaler stop"
pass "the image's vmm-autoscaler ran in the container, reported on ct, stopped cleanly (rc 0)"

# SIGTERM through the runtime: vmmd stops every VM and exits 0.
# shellcheck disable=SC2034 # (lib.sh's: vmmd is about to stop on purpose)
VMMD_PID=
time_start container_stop
crun kill "$CT" TERM
i=0
while kill -0 "$CRUN_PID" 2>/dev/null; do
  i=$((i + 1))
  [ "$i" -le 600 ] || fail "vmmd still runs 60 s after crun kill $CT TERM"
  sleep 0.1
done
rc=0
wait "$CRUN_PID" || rc=$?
time_end container_stop
sed -n '/SIGTERM received/,$p' "$VMMD_LOG" | sed 's/^/vmmd| /' >&9
[ "$rc" = 0 ] || fail "vmmd's container exited $rc after SIGTERM"
for l in 'vmmd: SIGTERM received' 'vmmd: stopping every VM' 'vmmd: stopped'; do
  grep -q "$l" "$VMMD_LOG" || fail "no '$l' in vmmd's log"
done
[ ! -e "$VMMD_SOCK" ] || fail "vmmd left $VMMD_SOCK behind"
[ -d /var/lib/vmmd/ct ] || fail "no /var/lib/vmmd/ct: the state dir mount did not reach L1"
log "state kept in L1: $(find /var/lib/vmmd/ct | tr '\n' ' ')"
pass "crun kill $CT TERM: vmmd stopped the VM, exited 0, removed its socket; state in L1"

# `crun run` in the foreground removes the container once it exits.
crun state "$CT" >/dev/null 2>&1 && fail "crun still has $CT: $(crun state "$CT" 2>&1)"
[ ! -d /sys/fs/cgroup/vmmd ] || fail "the cgroup /vmmd is still there"
pass "crun run removed the container after vmmd exited: no runtime state, no cgroup"

# The same image through the runtime's separate steps, as a container shim drives them:
# create, start, kill, state "stopped", delete (the exit status was checked above).
crun create --no-pivot --bundle "$BUNDLE" "$CT" </dev/null >/tmp/vmmd-2.log 2>&1 ||
  fail "crun create: $(cat /tmp/vmmd-2.log)"
[ "$(state_field status)" = created ] || fail "after crun create: $(crun state "$CT" 2>&1)"
crun start "$CT" || fail "crun start $CT"
i=0
while ! vmmctl --socket "$VMMD_SOCK" list >/dev/null 2>&1; do
  i=$((i + 1))
  [ "$i" -le 600 ] || fail "no answer on $VMMD_SOCK 60 s after crun start: $(cat /tmp/vmmd-2.log)"
  sleep 0.1
done
# The VM comes back from its record in the mounted state directory: it was running (SIGTERM
# does not change that) at 2 vCPUs.
[ "$(list_names)" = ct ] || fail "the new vmmd lists '$(list_names)', expected ct from its record"
[ "$(vm_field ct state)" = RUNNING ] || fail "ct came back $(vm_field ct state): $(vm_field ct reason)"
[ "$(vm_field ct target_vcpus)" = 2 ] || fail "ct came back with target $(vm_field ct target_vcpus), expected 2"
grep -q 'vmmd: 1 VM(s) restored from /var/lib/vmmd: 1 started, 0 failed' /tmp/vmmd-2.log ||
  fail "no restore line in $(cat /tmp/vmmd-2.log)"
log "crun list: $(crun list | tr -s ' ' | tr '\n' '|')"
crun kill "$CT" TERM
i=0
while [ "$(state_field status)" != stopped ]; do
  i=$((i + 1))
  [ "$i" -le 600 ] || fail "$CT is '$(state_field status)' 60 s after crun kill $CT TERM"
  sleep 0.1
done
grep -q 'vmmd: stopped' /tmp/vmmd-2.log || fail "no clean stop in $(cat /tmp/vmmd-2.log)"
crun delete "$CT" || fail "crun delete $CT"
crun state "$CT" >/dev/null 2>&1 && fail "crun still has $CT after crun delete"
[ ! -d /sys/fs/cgroup/vmmd ] || fail "the cgroup /vmmd is still there after crun delete"
pass "crun create, start (vmmd serves, ct back RUNNING at 2 vCPUs from its record), kill TERM (stopped, clean log), delete"
