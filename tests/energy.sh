#!/usr/bin/env bash
# End-to-end tests of `teq energy` through the CLI, on the PP-OCR orientation classifier quantized at
# fixed widths (fast): the printed table and totals, the JSON keys other tools read, a replaced table,
# and refusal of bad tables and bad arguments with one line on stderr and a non-zero exit, leaving no
# JSON behind. Last line: `N passed, M failed`. (Counts against a brute force: tests/test_energy.c.)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
teq=${1:-build/teq}
models=${TEQ_MODELS:-cache/models}
cls=$models/ch_ppocr_mobile_v2.0_cls_infer.onnx
T=$(mktemp -d "${TMPDIR:-/tmp}/teq-energy.XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "PASS $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else ko "$name"; fi; }
num() { sed -n "s/.*\"$1\": \([-0-9.e+]*\).*/\1/p" "$2" | head -n 1; }

"$teq" dataset synth --kind ocr-cls --text /usr/share/common-licenses/GPL-3 \
  --font /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf -n 8 --seed 5 -o "$T/cls" > /dev/null
"$teq" quantize "$cls" --calib "$T/cls" --bits 4,4 -o "$T/q.teq" > /dev/null 2>&1
check "quantize cls --bits 4,4" test -s "$T/q.teq"

# 1. the report
"$teq" energy "$T/q.teq" --input "$T/cls/inputs.npy" --limit 4 --json "$T/e.json" > "$T/e.log" 2> "$T/e.err"
check "teq energy exits 0" test $? -eq 0 -a ! -s "$T/e.err"
check "prints the saving against INT8" grep -qE '^energy saving against INT8: -?[0-9.]+%' "$T/e.log"
check "prints compute and memory separately" grep -qE '^(compute|memory) ' "$T/e.log"
check "prints its assumptions" grep -q '^assumptions:' "$T/e.log"
# the layer count from the model file (tests/count_layers.mjs, no teq code), not from teq's own output
n_layers=$(node tests/count_layers.mjs "$cls" 2> /dev/null)
n_rows=$(grep -c '^p2o\.' "$T/e.log")
check "one row per quantized layer: $n_rows rows, $n_layers layers in the model" test -n "$n_layers" -a "$n_rows" = "$n_layers"
for key in total_pj_teq total_pj_int8 saving_vs_int8 assumptions layers; do
  check "JSON has $key" grep -q "\"$key\"" "$T/e.json"
done
t1=$(num total_pj_teq "$T/e.json"); i1=$(num total_pj_int8 "$T/e.json"); s1=$(num saving_vs_int8 "$T/e.json")
check "saving_vs_int8 = 1 - teq/int8 ($s1)" awk -v t="$t1" -v i="$i1" -v s="$s1" 'BEGIN { exit !(i > 0 && (1 - t / i - s)^2 < 1e-12) }'
"$teq" energy "$T/q.teq" --shape 1,3,48,192 > "$T/syn.log"
check "a synthetic input of a given shape" grep -q 'synthetic: uniform in \[-1, 1\], seed 1, shape \[1,3,48,192\]' "$T/syn.log"

# 2. a replaced table: every entry tripled triples both totals and keeps the saving
printf '# tripled\nint_add_8 0.09\nint_add_32 0.3\nint_mul_8 0.6\nint_mul_32 9.3\nfp_add_32 2.7\nfp_mul_32 11.1\nsram_64b 30\ndram_64b 3900\n' > "$T/x3.txt"
"$teq" energy "$T/q.teq" --input "$T/cls/inputs.npy" --limit 4 --table "$T/x3.txt" --json "$T/e3.json" > "$T/e3.log"
t3=$(num total_pj_teq "$T/e3.json"); i3=$(num total_pj_int8 "$T/e3.json")
check "tripled table: teq $t3 = 3 x $t1, INT8 $i3 = 3 x $i1" awk -v a="$t1" -v b="$t3" -v c="$i1" -v d="$i3" \
  'BEGIN { exit !((b / a - 3)^2 < 1e-12 && (d / c - 3)^2 < 1e-12) }'
check "the table file is named as the source" grep -q "table file $T/x3.txt" "$T/e3.log"

# 3. refusals: one line, non-zero exit (no signal), the file and the line named, no JSON left
refused() { # NAME REGEX ARGS...
  local name=$1 re=$2; shift 2
  rm -f "$T/bad.json"
  timeout -k 5 60 "$teq" energy "$@" --json "$T/bad.json" > /dev/null 2> "$T/bad.err"; local rc=$?
  check "$name refused: $(head -c 160 "$T/bad.err")" test $rc -ne 0 -a $rc -lt 124 -a "$(grep -c '' "$T/bad.err")" -eq 1 -a ! -e "$T/bad.json"
  check "$name: message matches /$re/" grep -qE -- "$re" "$T/bad.err"
}
head -n 8 "$T/x3.txt" > "$T/short.txt"
refused "table with an entry missing" "short\.txt: entry 'dram_64b' missing" "$T/q.teq" --table "$T/short.txt"
sed 's/^fp_mul_32 11.1$/fp_mul_32 eleven/' "$T/x3.txt" > "$T/word.txt"
refused "table with a word for a number" "word\.txt:7: 'eleven' is not an energy" "$T/q.teq" --table "$T/word.txt"
sed 's/^sram_64b 30$/sram_64 30/' "$T/x3.txt" > "$T/name.txt"
refused "table with an unknown name" "name\.txt:8: unknown entry 'sram_64'" "$T/q.teq" --table "$T/name.txt"
printf 'int_add_8 -0.03\n' > "$T/neg.txt"
refused "table with a negative energy" "neg\.txt:1:" "$T/q.teq" --table "$T/neg.txt"
refused "missing table file" "nonexistent\.txt" "$T/q.teq" --table "$T/nonexistent.txt"
refused "dynamic input shape with neither --input nor --shape" "dynamic dims.*--shape or --input" "$T/q.teq"
refused "an FP32 model" "no quantized .*teq quantize" "$cls" --shape 1,3,48,192
refused "a bad --shape" "--shape takes positive dims" "$T/q.teq" --shape 1,3,x
refused "a bad --final" "--final is fp32 or int16" "$T/q.teq" --final fp16

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
