#!/usr/bin/env bash
# Determinism: the same command on the same inputs gives byte-identical outputs whatever --threads
# is: `teq run` .npy outputs with 1, 2 and 3 threads (PP-OCRv4 rec and the orientation classifier, FP32
# and a quantized .teq), and the .teq files written by `teq quantize` with 1 and 2 threads (fixed widths,
# INT8, and the adaptive search).
# usage: tests/determinism.sh [TEQ_BIN]   (env TEQ_MODELS, default cache/models). Last line: `N passed, M failed`.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
teq=${1:-build/teq}
models=${TEQ_MODELS:-cache/models}
rec=$models/ch_PP-OCRv4_rec_infer.onnx
cls=$models/ch_ppocr_mobile_v2.0_cls_infer.onnx
T=$(mktemp -d "${TMPDIR:-/tmp}/teq-determinism.XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
check() { local name=$1; shift; if "$@"; then pass=$((pass + 1)); echo "PASS $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi; }
THREADS=(1 2 3)
# More threads than free cores (CI has 2, shared): idle OpenMP workers must sleep, not spin, or the
# 3-thread runs crawl. It changes scheduling only, not what each thread computes.
export OMP_WAIT_POLICY=PASSIVE

# same_outputs DIR_A DIR_B: the same file names, each byte-identical
same_outputs() {
  [ -n "$(ls -A "$1")" ] && diff -q <(ls "$1") <(ls "$2") >/dev/null || return 1
  local f
  for f in "$1"/*; do cmp -s "$f" "$2/$(basename "$f")" || return 1; done
}

node scripts/make_input.mjs "$T/rec_x.npy" 1,3,48,320 image 11
node scripts/make_input.mjs "$T/cls_x.npy" 4,3,48,192 image 12
"$teq" dataset synth --kind ocr-cls --text /usr/share/common-licenses/GPL-3 \
  --font /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf -n 16 --seed 9 -o "$T/cal" >/dev/null

# 1. quantize with 1 and 2 threads (the runs in 2. take 1, 2 and 3)
for th in 1 2; do
  "$teq" quantize "$cls" --calib "$T/cal" --bits 4,5 --threads "$th" -o "$T/w4a5_t$th.teq" >/dev/null 2>&1
  "$teq" quantize "$cls" --calib "$T/cal" --scheme int8 --threads "$th" -o "$T/int8_t$th.teq" >/dev/null 2>&1
done
"$teq" quantize "$cls" --calib "$T/cal" --calib-limit 8 --search-limit 8 --eval-limit 8 --threads 1 -o "$T/adapt_t1.teq" >/dev/null 2>&1
"$teq" quantize "$cls" --calib "$T/cal" --calib-limit 8 --search-limit 8 --eval-limit 8 --threads 2 -o "$T/adapt_t2.teq" >/dev/null 2>&1
for th in 2; do
  check "quantize --bits 4,5: --threads $th gives the bytes of --threads 1" cmp -s "$T/w4a5_t1.teq" "$T/w4a5_t$th.teq"
  check "quantize --scheme int8: --threads $th gives the bytes of --threads 1" cmp -s "$T/int8_t1.teq" "$T/int8_t$th.teq"
done
check "adaptive quantize: --threads 2 gives the bytes of --threads 1" cmp -s "$T/adapt_t1.teq" "$T/adapt_t2.teq"

# 2. run with 1, 2 and 3 threads
for m in rec cls cls_teq; do
  case $m in
    rec) model=$rec; x=$T/rec_x.npy ;;
    cls) model=$cls; x=$T/cls_x.npy ;;
    cls_teq) model=$T/w4a5_t1.teq; x=$T/cls_x.npy ;;
  esac
  for th in "${THREADS[@]}"; do
    "$teq" run "$model" -i "$x" -o "$T/out_${m}_t$th" --threads "$th" -q
  done
  for th in 2 3; do
    check "run $m: --threads $th gives the bytes of --threads 1" same_outputs "$T/out_${m}_t1" "$T/out_${m}_t$th"
  done
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
