#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time, from a fresh copy of its seed corpus:
#   run_fuzz.sh FUZZER SEED_DIR WORK_DIR SECONDS
# WORK_DIR/corpus receives the seeds plus what the run finds (the seed corpus in the source tree
# is never written); a crashing input is saved as WORK_DIR/crash-* (libFuzzer's artifact). Exits
# non-zero on any crash, leak, sanitizer report, invariant failure, timeout or out-of-memory.
# The last lines are libFuzzer's final statistics: executions, exec/s, coverage (cov:, ft:).
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=$4

rm -rf "$work"
mkdir -p "$work/corpus"
cp -R "$seeds/." "$work/corpus/"
# Every sanitizer finding is fatal (the build has -fno-sanitize-recover=all for UBSan);
# suppressions.txt names, with reasons, what the uninstrumented system libraries report.
here=$(cd "$(dirname "$0")" && pwd)
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$here/lsan_suppressions.txt:print_suppressions=0}"

# -timeout: one input taking longer than 25 s is a hang; -rss_limit_mb: the harnesses need far
# less than 2 GiB; -print_final_stats: the numbers `make fuzz` and docs/testing.md report.
status=0
"$fuzzer" "$work/corpus" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 \
  -artifact_prefix="$work/" -print_final_stats=1 >"$work/log" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
  tail -n 80 "$work/log"
  echo "run_fuzz: $(basename "$fuzzer") failed (exit $status); the input is in $work/" >&2
  exit "$status"
fi
# The summary: the last status line (#runs, cov, ft, corp, exec/s) and the final statistics.
grep -E '^#[0-9]+' "$work/log" | tail -n 1
grep -E '^stat::' "$work/log"
echo "$(basename "$fuzzer"): corpus $(ls "$work/corpus" | wc -l) inputs ($(ls "$seeds" | wc -l) seeds)"
