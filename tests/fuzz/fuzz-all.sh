#!/usr/bin/env bash
# `make fuzz`: runs every libFuzzer target of a sanitize tree for SECONDS each (JOBS at a time),
# each from a fresh copy of its seed corpus, then prints one line per target: executions,
# executions per second, edge coverage (cov:) and features (ft:) at the end, corpus size.
#   fuzz-all.sh BUILD_DIR SECONDS [JOBS]
# Exit status: non-zero if any target found something (its input is under
# BUILD_DIR/tests/fuzz/fuzz-runs/<target>/, its log in .../log).
set -euo pipefail
build=$1 seconds=$2 jobs=${3:-1}
here=$(cd "$(dirname "$0")" && pwd)
runs=$build/tests/fuzz/fuzz-runs
mkdir -p "$runs"

targets=()
for f in "$build"/tests/fuzz/*_fuzz; do
  [ -x "$f" ] && targets+=("$(basename "$f")")
done
[ "${#targets[@]}" -gt 0 ] || { echo "fuzz-all: no fuzz targets in $build/tests/fuzz" >&2; exit 1; }

printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} sh -c \
  '"$0"/run_fuzz.sh "$1/tests/fuzz/{}" "$0/corpus/{}" "$2/{}" "$3" >"$2/{}.out" 2>&1 \
   && echo "fuzz-all: {} done" || echo "fuzz-all: {} FAILED"' "$here" "$build" "$runs" "$seconds" || true

status=0
printf '%-20s %12s %8s %7s %7s %7s  %s\n' target executions exec/s cov ft corpus result
for t in "${targets[@]}"; do
  log=$runs/$t/log
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" 2>/dev/null | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" 2>/dev/null | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$log" 2>/dev/null | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  result=ok
  if grep -q 'run_fuzz: .* failed' "$runs/$t.out" 2>/dev/null || [ -z "$execs" ]; then
    result="FAILED (see $runs/$t/log)"
    status=1
  fi
  printf '%-20s %12s %8s %7s %7s %7s  %s\n' "$t" "${execs:--}" "${rate:--}" "${cov:--}" \
    "${ft:--}" "${corp:--}" "$result"
done
exit "$status"
