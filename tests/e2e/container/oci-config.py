#!/usr/bin/env python3
"""Turns the config.json `umoci unpack` writes for vmmd's image into the container the e2e
scenario runs in L1 (tests/e2e/scenarios/container.sh), the way the DaemonSet runs vmmd:

  * the image's own entrypoint and arguments (daemonset.yaml's), no terminal, read-only root;
  * /dev/kvm: the device node plus a device-cgroup rule allowing exactly it (what a KVM device
    plugin grants; the DaemonSet's `privileged: true` allows every device and capability);
  * bind mounts at the same paths: /run/vmmd (the API socket, shared with L1's vmmctl),
    /var/lib/vmmd (per-VM state), /guest read-only (kernels, initramfs, firmware) and /tmp
    (the console logs the scenario names);
  * L1's network namespace (the DaemonSet keeps the pod's: either way vmmd binds
    0.0.0.0:9477), its own PID, IPC, UTS and mount namespaces, cgroup /vmmd.

usage: oci-config.py CONFIG_JSON   (rewritten in place)
"""
import json
import sys

KVM_MAJOR, KVM_MINOR = 10, 232  # a misc device with a fixed minor (KVM_MINOR, miscdevice.h)


def bind(path, read_only=False):
    opts = ["rbind", "nosuid", "nodev"] + (["ro"] if read_only else ["rw"])
    return {"destination": path, "type": "bind", "source": path, "options": opts}


def main(path):
    with open(path) as f:
        spec = json.load(f)
    proc = spec["process"]
    if proc["args"][:1] != ["/usr/bin/vmmd"]:
        sys.exit(f"oci-config: the image runs {proc['args']}, expected /usr/bin/vmmd")
    proc["terminal"] = False
    spec["root"]["readonly"] = True
    spec["hostname"] = "vmmd-container"
    spec["mounts"] += [bind("/run/vmmd"), bind("/var/lib/vmmd"), bind("/guest", read_only=True),
                       bind("/tmp")]
    linux = spec["linux"]
    linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "network"]
    linux["cgroupsPath"] = "/vmmd"
    linux.setdefault("devices", []).append(
        {"path": "/dev/kvm", "type": "c", "major": KVM_MAJOR, "minor": KVM_MINOR,
         "fileMode": 0o660, "uid": 0, "gid": 0})
    linux.setdefault("resources", {}).setdefault("devices", []).append(
        {"allow": True, "type": "c", "major": KVM_MAJOR, "minor": KVM_MINOR, "access": "rwm"})
    with open(path, "w") as f:
        json.dump(spec, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
