#!/usr/bin/env bash
# `yamllint --strict` with the repository's .yamllint accepts deploy/kubernetes and
# deploy/prometheus, and refuses planted mistakes. Runs from the root of the tree it checks:
# the config's per-file exceptions are paths relative to it.
# usage: yamllint_test.sh YAMLLINT SOURCE_DIR
yamllint=${1:?usage: yamllint_test.sh YAMLLINT SOURCE_DIR}
src=${2:?}
. "$src/tests/deploy/lib.sh"

lint() { # lint ROOT
  local n
  n=$(cd "$1" && "$yamllint" --list-files -c .yamllint deploy/kubernetes deploy/prometheus | wc -l) || return 1
  if [ "$n" -lt 12 ]; then
    echo "yamllint found only $n files"
    return 1
  fi
  (cd "$1" && "$yamllint" --strict -f parsable -c .yamllint deploy/kubernetes deploy/prometheus)
}

lint "$src" || { echo "FAIL: yamllint refuses the shipped YAML"; exit 1; }
echo "ok: the shipped YAML is yamllint-clean"

copy_root() { local r; r=$(mktemp -d "$tmp/root.XXXXXX"); cp -r "$src/deploy" "$src/.yamllint" "$r/"; echo "$r"; }

r=$(copy_root)
plant "$r/deploy/kubernetes/daemonset.yaml" '0,/imagePullPolicy: IfNotPresent/s//&\n          imagePullPolicy: Always/'
expect_refused "a duplicate key" '[error] duplication of key "imagePullPolicy"' lint "$r"

r=$(copy_root)
plant "$r/deploy/kubernetes/service.yaml" 's/clusterIP: None/& /'
expect_refused "trailing spaces" "[error] trailing spaces" lint "$r"

r=$(copy_root)
plant "$r/deploy/kubernetes/serviceaccount.yaml" 's/automountServiceAccountToken: false/automountServiceAccountToken: no/'
expect_refused "a YAML 1.1 boolean" "[warning] truthy value should be one of" lint "$r"

r=$(copy_root)
plant "$r/deploy/prometheus/prometheus.yml" 's/^global:/# a comment line that goes on past the limit of one hundred and twenty characters, which this file, unlike the rules, must keep\n&/'
expect_refused "a long line outside the exceptions" "[error] line too long" lint "$r"

finish "yamllint accepts the shipped YAML; 4 planted mistakes were refused"
