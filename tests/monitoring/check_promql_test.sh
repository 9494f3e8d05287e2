#!/usr/bin/env bash
# check_promql.py accepts the shipped rules and dashboard, and refuses each kind of mistake it
# is there to catch (a copy of the assets with one planted mistake each; the exact complaint
# is expected).
# usage: check_promql_test.sh PROMTOOL SOURCE_DIR
set -euo pipefail
promtool=${1:?usage: check_promql_test.sh PROMTOOL SOURCE_DIR}
src=${2:?usage: check_promql_test.sh PROMTOOL SOURCE_DIR}
checker=$src/tests/monitoring/check_promql.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() { # run DOC RULES DASHBOARD -> the checker's output; its exit code in $rc
  rc=0
  out=$("$checker" --promtool "$promtool" --metrics-doc "$1" --rules "$2" --dashboard "$3" 2>&1) || rc=$?
}
fresh() {
  cp "$src/docs/metrics.md" "$tmp/metrics.md"
  cp "$src/deploy/prometheus/vmmd-rules.yml" "$tmp/rules.yml"
  cp "$src/deploy/grafana/vmmd-dashboard.json" "$tmp/dash.json"
}
failures=0
expect_refused() { # expect_refused WHAT EXPECTED_SUBSTRING
  run "$tmp/metrics.md" "$tmp/rules.yml" "$tmp/dash.json"
  if [ "$rc" = 1 ] && grep -qF -- "$2" <<<"$out"; then
    echo "ok: refused $1: $(grep -F -- "$2" <<<"$out" | head -n1)"
  else
    echo "FAIL: $1: expected exit 1 and '$2', got exit $rc:"
    sed 's/^/  | /' <<<"$out"
    failures=$((failures + 1))
  fi
}

fresh
run "$tmp/metrics.md" "$tmp/rules.yml" "$tmp/dash.json"
if [ "$rc" != 0 ]; then
  echo "FAIL: the shipped assets are refused:"
  sed 's/^/  | /' <<<"$out"
  exit 1
fi
echo "ok: the shipped assets pass: $out"

fresh
sed -i '0,/vmmd_vm_online_vcpus{/s//vmmd_vm_online_cpus{/' "$tmp/dash.json"
expect_refused "a series vmmd does not export" "'vmmd_vm_online_cpus' is not a series vmmd exports"

fresh
sed -i 's/phase=~"online|parked"} > 2/phase=~"online|parked"} > > 2/' "$tmp/rules.yml"
expect_refused "an expression that does not parse" "rules.yml: VmmdHotplugSlow: could not parse expression"

fresh
sed -i '0,/instance=~\\"\$instance\\"/s//instance=~\\"$node\\"/' "$tmp/dash.json"
expect_refused "an undefined dashboard variable" '$node is not a variable of the dashboard'

fresh
sed -i 's/"title": "API errors"/"title": "Errors"/' "$tmp/dash.json"
expect_refused "a missing panel" "the panel 'API errors' is missing"

fresh
sed -i '0,/"id": 3,/s//"id": 2,/' "$tmp/dash.json"
expect_refused "a panel id used twice" "id 2 is used twice"

fresh
sed -i '/^| `vmmd_vm_target_vcpus`/d' "$tmp/metrics.md"
expect_refused "a series dropped from the reference" "'vmmd_vm_target_vcpus' is not a series vmmd exports"

fresh
sed -i '0,/vmmd_vcpu_hotplug_phase_seconds_bucket{instance=~\\"\$instance\\"}/s//vmmd_vcpu_hotplug_phase_seconds_bucket{instance=~\\"$instance\\", vm=~\\"$vm\\"}/' "$tmp/dash.json"
expect_refused "a matcher on a label the series does not have" "vmmd_vcpu_hotplug_phase_seconds_bucket has no label 'vm'"

[ "$failures" = 0 ] || { echo "$failures case(s) failed"; exit 1; }
echo "check_promql refuses all 7 planted mistakes"
