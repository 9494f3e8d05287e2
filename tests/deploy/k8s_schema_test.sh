#!/usr/bin/env bash
# deploy/kubernetes and deploy/kubernetes/monitoring render with `kubectl kustomize`, and every
# rendered object validates against the Kubernetes / prometheus-operator schemas with unknown
# fields refused (validate_k8s.mjs); planted mistakes must be refused.
# usage: k8s_schema_test.sh KUBECTL NODE SOURCE_DIR
kubectl=${1:?usage: k8s_schema_test.sh KUBECTL NODE SOURCE_DIR}
node=${2:?}
src=${3:?}
. "$src/tests/deploy/lib.sh"
npm_dir=$("$src/deploy/host/npm-tools.sh" dir)
[ -f "$npm_dir/.installed" ] || { echo "FAIL: the npm validators are not installed in $npm_dir: run make deps"; exit 1; }

validate() { # validate KUSTOMIZE_ROOT: renders both kustomizations and validates every object
  # (explicit returns: `set -e` does not apply inside a function called from `||` or `$(...)`)
  "$kubectl" kustomize "$1" >"$tmp/base.yaml" || return 1
  "$kubectl" kustomize "$1/monitoring" >"$tmp/monitoring.yaml" || return 1
  yaml2json <"$tmp/base.yaml" >"$tmp/base.json" || return 1
  yaml2json <"$tmp/monitoring.yaml" >"$tmp/monitoring.json" || return 1
  "$node" "$src/tests/deploy/validate_k8s.mjs" "$npm_dir" "$tmp/base.json" "$tmp/monitoring.json"
}

validate "$src/deploy/kubernetes" || { echo "FAIL: the shipped manifests are invalid"; exit 1; }

k=$(fresh_copy "$src/deploy/kubernetes")
plant "$k/daemonset.yaml" '0,/imagePullPolicy: IfNotPresent/s//&\n          bogusField: true/'
expect_refused "an unknown field" "containers[0].bogusField: TS2353" validate "$k"

k=$(fresh_copy "$src/deploy/kubernetes")
plant "$k/daemonset.yaml" 's/containerPort: 9477/containerPort: "9477"/'
expect_refused "a string containerPort (schema)" "containerPort: must be integer" validate "$k"
expect_refused "a string containerPort (types)" "containerPort: TS2322" validate "$k"

k=$(fresh_copy "$src/deploy/kubernetes")
plant "$k/monitoring/podmonitor.yaml" '0,/interval: 15s/s//interval: fifteen/'
expect_refused "a malformed PodMonitor interval" "podMetricsEndpoints[0].interval: must match pattern" validate "$k"

k=$(fresh_copy "$src/deploy/kubernetes")
plant "$k/monitoring/podmonitor.yaml" '0,/relabelings:/s//relabellings:/'
expect_refused "a misspelt PodMonitor field" "podMetricsEndpoints[0].relabellings: TS2353" validate "$k"

k=$(fresh_copy "$src/deploy/kubernetes")
plant "$k/priorityclass.yaml" 's|scheduling.k8s.io/v1|scheduling.k8s.io/v2|'
expect_refused "an apiVersion with no schema" "no schema for apiVersion scheduling.k8s.io/v2" validate "$k"

finish "the manifests validate; 5 planted schema mistakes were refused (6 expectations)"
