#!/usr/bin/env bash
# Runs each libFuzzer target of the build in $1 (made by `make fuzz`) for $2 seconds (default 60).
# Each target starts from its committed corpus (tests/fuzz/corpus/<target>) plus its working corpus
# (<build>/corpus/<target>, kept between runs, not committed). An input that crashes, hangs, leaks,
# trips a sanitizer or breaks the contract checked in tests/fuzz/fuzz.h is copied into the committed
# corpus (so that `make test` replays it from then on) and the run fails.
# Prints per target: seconds, executions, executions per second, corpus size. The fuzzer's own log
# is in <build>/fuzz-<target>.log.
# usage: scripts/fuzz.sh BUILD [SECONDS] [TARGET...]   (targets: onnx npy teq)
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: scripts/fuzz.sh BUILD [SECONDS] [TARGET...]}
secs=${2:-60}
shift 2 2>/dev/null || shift $#
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(onnx npy teq)
found=0
for t in "${targets[@]}"; do
  bin=$build/fuzz_$t
  if [ ! -x "$bin" ]; then echo "fuzz: $bin missing (run make fuzz)" >&2; exit 1; fi
  work=$build/corpus/$t
  art=$build/artifacts/$t
  mkdir -p "$work" "$art"
  log=$build/fuzz-$t.log
  # -rss_limit_mb: the readers must refuse what does not fit in memory, before allocating it; a
  # model may still legitimately fold constants of a few hundred MB, so 2 GiB is the line.
  # -timeout: one input taking 10 s is a hang (the slowest seeds take milliseconds).
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} nice -n 10 "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$art/" "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  n_corpus=$(find "$work" -type f | wc -l)
  bytes=$(du -sb "$work" | cut -f1)
  echo "fuzz_$t: ${secs} s, ${execs:-?} executions, ${rate:-?} exec/s, working corpus $n_corpus files ($bytes bytes), exit $rc"
  for a in "$art"/*; do
    [ -f "$a" ] || continue
    cp "$a" "tests/fuzz/corpus/$t/$(basename "$a")"
    echo "fuzz_$t: FINDING $(basename "$a") (copied into tests/fuzz/corpus/$t; see $log)"
    rm -f "$a"
    found=1
  done
  if [ $rc -ne 0 ] && [ $found -eq 0 ]; then
    echo "fuzz_$t: the fuzzer failed without leaving an input; see $log"
    found=1
  fi
done
exit $found
