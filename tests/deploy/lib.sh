# shellcheck shell=bash
# Helpers of the deployment checks (sourced by the *_test.sh scripts of this folder).
# Each test runs the check on the shipped files, then on copies with one planted mistake each,
# which must be refused with the expected message: a check that cannot fail is no check.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# expect_refused WHAT EXPECTED_SUBSTRING CMD...: CMD must exit non-zero and say EXPECTED.
expect_refused() {
  local what=$1 want=$2 out rc=0
  shift 2
  out=$("$@" 2>&1) || rc=$?
  if [ "$rc" != 0 ] && grep -qF -- "$want" <<<"$out"; then
    echo "ok: refused $what: $(grep -F -- "$want" <<<"$out" | head -n1)"
  else
    echo "FAIL: $what: expected a failure saying '$want', got exit $rc:"
    sed 's/^/  | /' <<<"$out"
    failures=$((failures + 1))
  fi
}

# fresh_copy SRC_DIR: a new copy of SRC_DIR; prints its path.
fresh_copy() {
  local d
  d=$(mktemp -d "$tmp/copy.XXXXXX")
  cp -r "$1/." "$d/"
  echo "$d"
}

# plant FILE SED_SCRIPT: the planted mistake; a SED_SCRIPT that changes nothing is a bug here.
plant() {
  local before
  before=$(cat "$1")
  sed -i "$2" "$1"
  if [ "$before" = "$(cat "$1")" ]; then
    echo "FAIL: the plant '$2' changed nothing in $1"
    exit 1
  fi
}

# yaml2json < multi-document YAML > JSON array of the documents
yaml2json() {
  python3 -c 'import json, sys, yaml; json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)'
}

# finish SUMMARY: fails when a planted mistake got through.
finish() {
  if [ "$failures" != 0 ]; then
    echo "$failures planted mistake(s) were not refused"
    exit 1
  fi
  echo "$1"
}
