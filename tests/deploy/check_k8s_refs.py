#!/usr/bin/env python3
"""Checks what a schema cannot: that the rendered vmmd manifests refer to each other correctly
(selectors, port names, probes, volumes, service account, priority class, the shared socket,
the job the alerts expect) and keep the decisions deploy/kubernetes/README.md documents
(exactly these objects and no RBAC, OnDelete, privileged vmmd without CPU/memory limits,
arm64 nodes, images set by kustomize). Port names are held to the API server's rule
(IANA_SVC_NAME: at most 15 characters), which kubernetes-models does not check.

usage: check_k8s_refs.py BASE.yaml MONITORING.yaml RULES.yml   (rendered by kubectl kustomize)
Prints each problem and exits 1, or prints a summary and exits 0.
"""
import re
import sys

import yaml

problems = []


def check(ok, message):
    if not ok:
        problems.append(message)
    return ok


def load(path):
    with open(path, encoding="utf-8") as f:
        return {f"{d['kind']}/{d['metadata']['name']}": d for d in yaml.safe_load_all(f) if d}


def subset(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def main(base_path, monitoring_path, rules_path):
    base, mon = load(base_path), load(monitoring_path)
    want_base = {"Namespace/vmmd-system", "ServiceAccount/vmmd", "PriorityClass/vmmd-node-critical",
                 "Service/vmmd-metrics", "DaemonSet/vmmd"}
    check(set(base) == want_base, f"base objects are {sorted(base)}, expected {sorted(want_base)} "
          "(README.md: no RBAC is shipped because nothing calls the API)")
    want_mon = {"PodMonitor/vmmd", "PrometheusRule/vmmd", "ConfigMap/vmmd-grafana-dashboard"}
    check(set(mon) == want_mon, f"monitoring objects are {sorted(mon)}, expected {sorted(want_mon)}")
    for name, obj in {**base, **mon}.items():
        if obj["kind"] not in ("Namespace", "PriorityClass"):
            check(obj["metadata"].get("namespace") == "vmmd-system", f"{name} is not in namespace vmmd-system")

    ds = base.get("DaemonSet/vmmd")
    if not check(ds is not None, "no DaemonSet/vmmd"):
        return
    spec = ds["spec"]
    pod_labels = spec["template"]["metadata"].get("labels", {})
    pod = spec["template"]["spec"]
    check(subset(spec["selector"].get("matchLabels"), pod_labels), "DaemonSet selector does not match its pod labels")
    check(spec.get("updateStrategy", {}).get("type") == "OnDelete",
          "DaemonSet updateStrategy is not OnDelete (a rollout would stop every VM of each node)")
    sa = base.get(f"ServiceAccount/{pod.get('serviceAccountName')}")
    check(sa is not None, f"serviceAccountName {pod.get('serviceAccountName')!r} names no ServiceAccount")
    check(pod.get("automountServiceAccountToken") is False and (sa or {}).get("automountServiceAccountToken") is False,
          "the service account token is mounted (nothing uses the API)")
    check(f"PriorityClass/{pod.get('priorityClassName')}" in base,
          f"priorityClassName {pod.get('priorityClassName')!r} names no PriorityClass")
    check(pod.get("nodeSelector", {}).get("kubernetes.io/arch") == "arm64", "nodeSelector lacks kubernetes.io/arch: arm64")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for path in ("/run/vmmd", "/var/lib/vmmd"):
        check(any(v.get("hostPath", {}).get("path") == path and v["hostPath"].get("type") == "DirectoryOrCreate"
                  for v in volumes.values()), f"no hostPath volume {path} of type DirectoryOrCreate")

    ports, sockets = {}, {}
    containers = {c["name"]: c for c in pod["containers"]}
    for c in containers.values():
        name = c["name"]
        check(":" in c.get("image", "") or "@" in c.get("image", ""),
              f"container {name}: image {c.get('image')!r} was not set by kustomize's images:")
        own = {}
        for p in c.get("ports", []):
            n = p.get("name", "")
            check(re.fullmatch(r"(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*", n) and len(n) <= 15,
                  f"container {name}: port name {n!r} is not a valid IANA_SVC_NAME (at most 15 characters)")
            check(n not in ports, f"port name {n!r} is used twice")
            own[n] = ports[n] = p["containerPort"]
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            port = c.get(probe, {}).get("httpGet", {}).get("port")
            if port is not None:
                check(port in own, f"container {name}: {probe} port {port!r} is not one of its ports {sorted(own)}")
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        for m in mounts.values():
            check(m in volumes, f"container {name}: volumeMount {m!r} names no volume")
        args = dict(a[2:].split("=", 1) for a in c.get("args", []) if a.startswith("--") and "=" in a)
        if "metrics_address" in args:
            check(int(args["metrics_address"].rsplit(":", 1)[1]) in own.values(),
                  f"container {name}: --metrics_address={args['metrics_address']} is not one of its container ports")
        if "socket" in args:
            sockets[name] = (args["socket"], mounts.get(args["socket"].rsplit("/", 1)[0]))
    check(set(sockets) == {"vmmd", "vmm-autoscaler"} and len(set(sockets.values())) == 1 and None not in
          {m for _, m in sockets.values()}, f"vmmd and vmm-autoscaler do not share the socket on one volume: {sockets}")
    vmmd = containers.get("vmmd", {})
    check(vmmd.get("securityContext", {}).get("privileged") is True, "vmmd is not privileged (it cannot open /dev/kvm)")
    limits = vmmd.get("resources", {}).get("limits", {})
    check("cpu" not in limits and "memory" not in limits,
          f"vmmd has limits {limits}: they would bound every guest of the node (README.md, Resources)")

    svc = base.get("Service/vmmd-metrics", {}).get("spec", {})
    check(svc.get("clusterIP") == "None", "Service vmmd-metrics is not headless")
    check(svc.get("selector") and subset(svc["selector"], pod_labels), "Service vmmd-metrics does not select the vmmd pods")
    for p in svc.get("ports", []):
        check(p.get("targetPort") in ports, f"Service port {p.get('name')}: targetPort {p.get('targetPort')!r} names no container port")

    pm = mon.get("PodMonitor/vmmd", {}).get("spec", {})
    check(subset(pm.get("selector", {}).get("matchLabels"), pod_labels) and pm.get("selector", {}).get("matchLabels"),
          "PodMonitor does not select the vmmd pods")
    with open(rules_path, encoding="utf-8") as f:
        rule_jobs = set(re.findall(r'job="([^"]+)"', f.read()))
    for e in pm.get("podMetricsEndpoints", []):
        check(e.get("port") in ports, f"PodMonitor endpoint port {e.get('port')!r} names no container port")
        jobs = [r.get("replacement") for r in e.get("relabelings", []) if r.get("targetLabel") == "job"]
        if e.get("port") == "metrics":
            check(jobs and set(jobs) <= rule_jobs, f"PodMonitor sets job {jobs} on vmmd's endpoint; the alerts expect {sorted(rule_jobs)}")
    cm = mon.get("ConfigMap/vmmd-grafana-dashboard", {})
    check(cm.get("metadata", {}).get("labels", {}).get("grafana_dashboard") == "1", "the dashboard ConfigMap lacks grafana_dashboard: \"1\"")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
    for p in problems:
        print(f"PROBLEM {p}")
    if problems:
        sys.exit(1)
    print("consistent: selectors, ports, probes, volumes, socket, service account, priority class, job")
