#!/usr/bin/env bash
# The rendered manifests refer to each other correctly and keep their documented decisions
# (check_k8s_refs.py); planted mistakes must be refused.
# usage: k8s_refs_test.sh KUBECTL SOURCE_DIR
kubectl=${1:?usage: k8s_refs_test.sh KUBECTL SOURCE_DIR}
src=${2:?}
. "$src/tests/deploy/lib.sh"
rules=$src/deploy/prometheus/vmmd-rules.yml

check_refs() { # check_refs KUSTOMIZE_ROOT
  "$kubectl" kustomize "$1" >"$tmp/base.yaml" || return 1
  "$kubectl" kustomize "$1/monitoring" >"$tmp/monitoring.yaml" || return 1
  "$src/tests/deploy/check_k8s_refs.py" "$tmp/base.yaml" "$tmp/monitoring.yaml" "$rules"
}

check_refs "$src/deploy/kubernetes" || { echo "FAIL: the shipped manifests are inconsistent"; exit 1; }

k=$(fresh_copy "$src/deploy/kubernetes")
plant "$k/service.yaml" 's/targetPort: scaler-metrics/targetPort: scaler-metric/'
expect_refused "a Service targetPort naming no port" "targetPort 'scaler-metric' names no container port" check_refs "$k"

k=$(fresh_copy "$src/deploy/kubernetes")
plant "$k/daemonset.yaml" 's/scaler-metrics/autoscaler-metrics/'
expect_refused "a port name over 15 characters" "port name 'autoscaler-metrics' is not a valid IANA_SVC_NAME" check_refs "$k"

k=$(fresh_copy "$src/deploy/kubernetes")
plant "$k/daemonset.yaml" '0,/port: metrics/s//port: metric/'
expect_refused "a probe on an unknown port" "livenessProbe port 'metric' is not one of its ports" check_refs "$k"

k=$(fresh_copy "$src/deploy/kubernetes")
plant "$k/daemonset.yaml" 's/type: OnDelete/type: RollingUpdate/'
expect_refused "a rolling update" "DaemonSet updateStrategy is not OnDelete" check_refs "$k"

k=$(fresh_copy "$src/deploy/kubernetes")
plant "$k/daemonset.yaml" 's|--socket=/run/vmmd/vmmd.sock|--socket=/tmp/vmmd.sock|'
expect_refused "an unshared socket" "do not share the socket on one volume" check_refs "$k"

k=$(fresh_copy "$src/deploy/kubernetes")
plant "$k/daemonset.yaml" '0,/memory: 512Mi/s//&\n            limits:\n              memory: 8Gi/'
expect_refused "a memory limit on vmmd" "vmmd has limits" check_refs "$k"

k=$(fresh_copy "$src/deploy/kubernetes")
plant "$k/kustomization.yaml" 's/- name: vmmd$/- name: vmmd-image/'
expect_refused "images: that match no container" "was not set by kustomize's images:" check_refs "$k"

k=$(fresh_copy "$src/deploy/kubernetes")
plant "$k/monitoring/podmonitor.yaml" '0,/replacement: vmmd$/s//replacement: vmmd-node/'
expect_refused "a job the alerts do not use" "PodMonitor sets job ['vmmd-node'] on vmmd's endpoint" check_refs "$k"

k=$(fresh_copy "$src/deploy/kubernetes")
cat >"$k/role.yaml" <<'ROLE'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: vmmd
rules: []
ROLE
plant "$k/kustomization.yaml" 's/  - daemonset.yaml/&\n  - role.yaml/'
expect_refused "an RBAC object nothing needs" "base objects are" check_refs "$k"

finish "the manifests are consistent; 9 planted mistakes were refused"
