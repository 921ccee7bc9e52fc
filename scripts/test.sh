#!/usr/bin/env bash
# Runs every test against the build in $1. With --quick (the sanitizer build), the slow whole-model
# comparison against ONNX Runtime is skipped; unit, conformance and bad-input tests still run.
# Each suite prints its own `N passed, M failed`; this script sums them and fails if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
# The kernel and planner switches are for one command at a time (the tests that compare the fast kernels
# with the reference, or fused with unfused graphs, set them per command): inherited from the caller,
# TEQ_KERNEL=ref would make every fast-vs-reference check compare the reference with itself.
unset TEQ_KERNEL TEQ_ISA TEQ_FUSE
build=${1:-build}
quick=${2:-}
# --asan DIR (what `make test` passes): afterwards, the unit tests (with the fuzz corpus replays) and
# the bad-input tests run again against DIR, the AddressSanitizer + UBSan build. The CLI quantizer
# tests are left out there: under the sanitizers they take four minutes (`make asan` runs them).
asan=""
if [ "$quick" = "--asan" ]; then asan=${3:?--asan needs a build folder}; quick=""; fi
total_pass=0; total_fail=0; total_skip=0; failed_suites=()

# A suite passes when it exits 0 and its last `N passed, M failed[, K skipped]` line has M = 0. A
# non-zero exit after "0 failed" (a leak report at exit under ASan, a crash after the summary) and a
# missing summary line each add one failure to the total, so that the final line agrees with the
# exit status.
run_suite() {
  local name=$1; shift
  echo "=== $name"
  local log; log=$(mktemp)
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line; line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  rm -f "$log"
  local n_fail=0
  if [ -n "$line" ]; then
    total_pass=$((total_pass + $(echo "$line" | awk '{print $1}')))
    n_fail=$(echo "$line" | awk '{print $3}' | tr -d ,)
    total_fail=$((total_fail + n_fail))
    total_skip=$((total_skip + $(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) skipped.*/\1/p' | grep . || echo 0)))
  fi
  if [ "$rc" != 0 ] || [ -z "$line" ] || [ "$n_fail" != 0 ]; then
    failed_suites+=("$name (exit $rc)")
    [ "$n_fail" = 0 ] && total_fail=$((total_fail + 1))
  fi
}

for t in "$build"/test_*; do
  [ -x "$t" ] || continue
  run_suite "$(basename "$t")" "$t"
done
run_suite bad_input bash tests/bad_input.sh "$build/teq"
run_suite cli_help bash tests/cli_help.sh "$build/teq"
# make install into a temporary prefix from $build, a program built against it, make uninstall. Not
# with --quick: the sanitizer build's libraries need the sanitizer runtime in the program that links them.
if [ "$quick" != "--quick" ]; then
  run_suite install bash tests/install.sh "$build"
fi
run_suite quantize bash tests/quantize.sh "$build/teq"
run_suite energy bash tests/energy.sh "$build/teq"
run_suite determinism bash tests/determinism.sh "$build/teq"
run_suite interrupt bash tests/interrupt.sh "$build/teq"
if [ "$quick" != "--quick" ]; then
  run_suite ort_compare node tests/ort_compare.mjs "$build/teq"
  run_suite export_compare node tests/export_compare.mjs "$build/teq"
  # the same check on an export with one threshold moved (TEQ_EXPORT_PERTURB): it must fail
  run_suite export_mutation node tests/export_compare.mjs "$build/teq" --only blazeface --perturb 0 --expect-fail
  # Debian's python3 (the one python3-numpy is for; a python3 earlier on PATH may lack NumPy). Not on the
  # sanitizer build: an ASan libteq.so cannot be loaded into an uninstrumented interpreter.
  run_suite python /usr/bin/python3 tests/python/test_teq.py "$build/teq"
fi
if [ -n "$asan" ]; then
  for t in "$asan"/test_*; do
    [ -x "$t" ] || continue
    run_suite "asan $(basename "$t")" "$t"
  done
  run_suite "asan bad_input" bash tests/bad_input.sh "$asan/teq"
  run_suite "asan cli_help" bash tests/cli_help.sh "$asan/teq"
fi

echo "=== summary"
if [ ${#failed_suites[@]} -gt 0 ]; then
  printf 'failed suite: %s\n' "${failed_suites[@]}"
fi
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ ${#failed_suites[@]} -eq 0 ]
