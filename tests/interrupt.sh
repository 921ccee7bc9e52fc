#!/usr/bin/env bash
# Safe output under faults: `teq quantize` interrupted by SIGINT, and `teq quantize` / `teq run`
# writing into a file-size limit (`ulimit -f`, a full disk as far as the writer can tell). Each
# time: non-zero exit, one line on stderr saying what happened, the earlier output file keeps its
# bytes, and no temporary file is left beside it.
# usage: tests/interrupt.sh [TEQ_BIN]   (env TEQ_MODELS, default cache/models). Last line: `N passed, M failed`.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
teq=${1:-build/teq}
cls=${TEQ_MODELS:-cache/models}/ch_ppocr_mobile_v2.0_cls_infer.onnx
T=$(mktemp -d "${TMPDIR:-/tmp}/teq-interrupt.XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
check() { local name=$1; shift; if "$@"; then pass=$((pass + 1)); echo "PASS $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi; }
sum() { sha256sum <"$1" | cut -c1-64; }
only() { [ "$(ls -A "$1")" = "$2" ]; } # the folder holds exactly that one file

"$teq" dataset synth --kind ocr-cls --text /usr/share/common-licenses/GPL-3 \
  --font /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf -n 16 --seed 3 -o "$T/cal" >/dev/null
node scripts/make_input.mjs "$T/x.npy" 128,3,48,192 image 4

# 1. SIGINT one second into an adaptive quantize (which takes several seconds)
mkdir -p "$T/o1" && printf 'earlier model' >"$T/o1/m.teq" && before=$(sum "$T/o1/m.teq")
"$teq" quantize "$cls" --calib "$T/cal" -o "$T/o1/m.teq" >/dev/null 2>"$T/e1" &
pid=$!
sleep 1
kill -INT $pid
wait $pid
rc=$?
check "SIGINT: quantize stops with the signal's status (got $rc)" test $rc -eq 130
check "SIGINT: one line says so: $(head -c 100 "$T/e1")" test "$(grep -c '' "$T/e1")" -eq 1 -a -n "$(grep -i interrupted "$T/e1")"
check "SIGINT: the earlier .teq keeps its bytes" test "$(sum "$T/o1/m.teq")" = "$before"
check "SIGINT: no temporary file left" only "$T/o1" m.teq

# 2. file-size limit: quantize's .teq (about 300 KB at 4,5 bits) cannot be written within 16 KiB (bash's
# `ulimit -f` counts 1024-byte blocks, outside POSIX mode)
mkdir -p "$T/o2" && printf 'earlier model' >"$T/o2/m.teq" && before=$(sum "$T/o2/m.teq")
(ulimit -f 16 && exec "$teq" quantize "$cls" --calib "$T/cal" --bits 4,5 -o "$T/o2/m.teq") >/dev/null 2>"$T/e2"
rc=$?
check "file-size limit: quantize fails (exit $rc)" test $rc -ne 0 -a $rc -lt 128
check "file-size limit: one line names the file: $(head -c 120 "$T/e2")" test "$(grep -c '' "$T/e2")" -eq 1 -a -n "$(grep -F "$T/o2/m.teq" "$T/e2")"
check "file-size limit: the earlier .teq keeps its bytes" test "$(sum "$T/o2/m.teq")" = "$before"
check "file-size limit: no temporary file left" only "$T/o2" m.teq

# 3. the same for teq run's .npy output: 128x2 class scores (1,152 bytes) past a 1 KiB limit (`ulimit -f 1`,
# one 1024-byte block; the limit also applies to stderr when it is a file, so it must leave room for the
# message)
mkdir -p "$T/o3" && printf 'earlier output' >"$T/o3/softmax_0.tmp_0.npy" && before=$(sum "$T/o3/softmax_0.tmp_0.npy")
(ulimit -f 1 && exec "$teq" run "$cls" -i "$T/x.npy" -o "$T/o3" -q) >/dev/null 2>"$T/e3"
rc=$?
check "file-size limit: run fails (exit $rc)" test $rc -ne 0 -a $rc -lt 128
check "file-size limit: run says so on one line: $(head -c 120 "$T/e3")" test "$(grep -c '' "$T/e3")" -eq 1
check "file-size limit: the earlier .npy keeps its bytes" test "$(sum "$T/o3/softmax_0.tmp_0.npy")" = "$before"
check "file-size limit: no temporary .npy left" only "$T/o3" softmax_0.tmp_0.npy

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
