#!/usr/bin/env bash
# The Kubernetes copies of vmmd's monitoring assets match their sources: prometheusrule.yaml and
# vmmd-dashboard.json are exactly what deploy/kubernetes/monitoring/generate.sh writes; the
# rendered PrometheusRule's spec.groups equal deploy/prometheus/vmmd-rules.yml's groups (parsed)
# and pass `promtool check rules`; the rendered ConfigMap holds the dashboard byte for byte.
# usage: monitoring_sync_test.sh KUBECTL PROMTOOL SOURCE_DIR
kubectl=${1:?usage: monitoring_sync_test.sh KUBECTL PROMTOOL SOURCE_DIR}
promtool=${2:?}
src=${3:?}
. "$src/tests/deploy/lib.sh"

check_sync() { # check_sync ROOT: ROOT/deploy/... as in the repository
  local root=$1 mon=$1/deploy/kubernetes/monitoring gen f bad=0
  gen=$(mktemp -d "$tmp/gen.XXXXXX")
  "$mon/generate.sh" "$gen" || return 1
  for f in prometheusrule.yaml vmmd-dashboard.json; do
    if ! cmp -s "$gen/$f" "$mon/$f"; then
      echo "deploy/kubernetes/monitoring/$f differs from what generate.sh writes (run it):"
      diff -u "$mon/$f" "$gen/$f" | head -n 12
      bad=1
    fi
  done
  "$kubectl" kustomize "$mon" >"$gen/rendered.yaml" || return 1
  python3 - "$gen/rendered.yaml" "$root/deploy/prometheus/vmmd-rules.yml" \
    "$root/deploy/grafana/vmmd-dashboard.json" "$gen/groups.yml" <<'PY' || bad=1
import sys, yaml
rendered, rules, dashboard, out = sys.argv[1:]
docs = {d["kind"]: d for d in yaml.safe_load_all(open(rendered)) if d}
groups = docs["PrometheusRule"]["spec"]["groups"]
yaml.safe_dump({"groups": groups}, open(out, "w"), sort_keys=False)
ok = True
if groups != yaml.safe_load(open(rules))["groups"]:
    print("the PrometheusRule's spec.groups differ from deploy/prometheus/vmmd-rules.yml's groups")
    ok = False
if docs["ConfigMap"]["data"].get("vmmd-dashboard.json") != open(dashboard).read():
    print("the dashboard ConfigMap differs from deploy/grafana/vmmd-dashboard.json")
    ok = False
sys.exit(0 if ok else 1)
PY
  "$promtool" check rules "$gen/groups.yml" || bad=1
  return "$bad"
}

check_sync "$src" || { echo "FAIL: the monitoring copies are out of sync or invalid"; exit 1; }

copy_root() { local r; r=$(mktemp -d "$tmp/root.XXXXXX"); cp -r "$src/deploy" "$r/"; echo "$r"; }

r=$(copy_root)
plant "$r/deploy/prometheus/vmmd-rules.yml" 's/phase=~"online|parked"} > 2/phase=~"online|parked"} > 3/'
expect_refused "a rules change not regenerated (text)" "prometheusrule.yaml differs from what generate.sh writes" check_sync "$r"
expect_refused "a rules change not regenerated (parsed)" "spec.groups differ from deploy/prometheus/vmmd-rules.yml" check_sync "$r"

r=$(copy_root)
plant "$r/deploy/kubernetes/monitoring/vmmd-dashboard.json" 's/"title": "API errors"/"title": "Errors"/'
expect_refused "an edited dashboard copy" "vmmd-dashboard.json differs from what generate.sh writes" check_sync "$r"
expect_refused "an edited dashboard copy (rendered)" "the dashboard ConfigMap differs" check_sync "$r"

r=$(copy_root)
plant "$r/deploy/prometheus/vmmd-rules.yml" 's/phase=~"online|parked"} > 2/phase=~"online|parked"} > > 2/'
"$r/deploy/kubernetes/monitoring/generate.sh"
expect_refused "a rule that does not parse" "could not parse expression" check_sync "$r"

finish "the PrometheusRule and dashboard ConfigMap match their sources; 3 planted mistakes were refused (5 expectations)"
