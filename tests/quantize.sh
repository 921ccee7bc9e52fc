#!/usr/bin/env bash
# End-to-end tests of the quantizer through the CLI, on the PP-OCR orientation classifier (small and
# fast) and the project's own Fashion-MNIST ResNet (on real test images): fixed widths, determinism, the .teq round trip, adaptive search, INT8, analysis and plots,
# and refusal of damaged .teq files. Last line: `N passed, M failed`.
set -uo pipefail
teq=${1:-build/teq}
models=${TEQ_MODELS:-cache/models}
cls=$models/ch_ppocr_mobile_v2.0_cls_infer.onnx
T=$(mktemp -d "${TMPDIR:-/tmp}/teq-quantize.XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "PASS $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else ko "$name"; fi; }

fonts=(--font /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf)
"$teq" dataset synth --kind ocr-cls --text /usr/share/common-licenses/GPL-3 "${fonts[@]}" -n 24 --seed 5 -o "$T/cls" > /dev/null
check "dataset synth ocr-cls" test -s "$T/cls/inputs.npy" -a -s "$T/cls/labels.txt" -a -s "$T/cls/preview.png"

# 1. fixed widths: the file, the JSON keys, determinism
"$teq" quantize "$cls" --calib "$T/cls" --bits 4,5 -o "$T/a.teq" --json "$T/a.json" > "$T/a.log" 2>&1
check "quantize --bits 4,5 exits 0" test $? -eq 0
check "quantize prints the per-layer table and summary" grep -q "average bits: weights 4.000, activations 5.000" "$T/a.log"
for key in avg_bits_weights avg_bits_activations avg_bits compression_vs_int8 scheme budget_metric layers; do
  check "quantize JSON has $key" grep -q "\"$key\"" "$T/a.json"
done
"$teq" quantize "$cls" --calib "$T/cls" --bits 4,5 -o "$T/b.teq" > /dev/null 2>&1
check "quantizing twice gives byte-identical files" cmp -s "$T/a.teq" "$T/b.teq"
# 4-bit weights are packed 4 bits per value: 1/8 of their FP32 bytes (plus at most a byte per layer)
wb=$(sed -n 's/.*"weight_bytes": \([0-9]*\).*/\1/p' "$T/a.json"); wb32=$(sed -n 's/.*"weight_bytes_fp32": \([0-9]*\).*/\1/p' "$T/a.json")
check "4-bit weights packed: $wb bytes for $wb32 FP32 bytes" test -n "$wb" -a $((wb * 8)) -le $((wb32 + 8 * 64)) -a $((wb * 8)) -ge "$wb32"
sz_fp32=$(stat -c %s "$cls"); sz_q=$(stat -c %s "$T/a.teq")
check "the .teq ($sz_q bytes) is smaller than the FP32 model ($sz_fp32)" test "$sz_q" -lt "$sz_fp32"

# 2. the .teq runs, and agrees with what quantize measured (eval through the same engine)
node scripts/make_input.mjs "$T/x.npy" 2,3,48,192 image 7
"$teq" run "$T/a.teq" -i "$T/x.npy" -o "$T/out" -q
check "teq run OUT.teq writes the output" test -s "$T/out/softmax_0.tmp_0.npy"
"$teq" inspect "$T/a.teq" > "$T/inspect.log"
check "teq inspect OUT.teq lists TeqQuantize nodes" grep -q TeqQuantize "$T/inspect.log"
"$teq" inspect "$T/a.teq" --report > "$T/report.json"
check "teq inspect --report prints the report kept in the file" grep -q '"avg_bits_weights": 4,' "$T/report.json"
"$teq" inspect "$cls" --report > /dev/null 2> "$T/noreport.err"; rc=$?
check "teq inspect --report on an ONNX model says there is none" test $rc -ne 0 -a "$(wc -l < "$T/noreport.err")" -eq 1
"$teq" eval "$T/a.teq" --suite ocr-cls --data "$T/cls" --reference "$cls" --json "$T/e.json" > /dev/null
# Bounds from a measurement (x86-64, the same under TEQ_ISA=avx512, avx2 and scalar): 24 samples,
# accuracy 95.8 and agreement with the FP32 model 95.8 (23 of 24). The floor leaves two more samples
# of margin (21/24 = 87.5); a broken 4-bit model or a wrong label reader lands near chance (50).
acc=$(sed -n 's/.*"accuracy": \([0-9.]*\).*/\1/p' "$T/e.json"); agr=$(sed -n 's/.*"agreement": \([0-9.]*\).*/\1/p' "$T/e.json")
check "teq eval OUT.teq --suite ocr-cls: n 24, accuracy $acc and agreement $agr within 87.5..100" \
  awk -v a="$acc" -v g="$agr" -v n="$(sed -n 's/.*"n": \([0-9]*\).*/\1/p' "$T/e.json")" \
  'BEGIN { exit !(n == 24 && a != "" && g != "" && a >= 87.5 && a <= 100 && g >= 87.5 && g <= 100) }'

# 1b. shifted codes (default on): some of cls's HardSwish inputs take them, the report says which and by how
# much, the file is then format 1.1; --shift off gives none and a 1.0 file
check "quantize JSON reports shifted layers (shifted, shift, shift_source)" \
  test "$(grep -c '"shifted": true' "$T/a.json")" -gt 0 -a "$(grep -c '"shift_source": "hardswish"' "$T/a.json")" -gt 0
check "a .teq with shifted codes is format 1.1, flag 1" test "$(od -An -tu1 -j12 -N8 "$T/a.teq" | tr -s ' ')" = " 1 0 1 0 1 0 0 0"
"$teq" quantize "$cls" --calib "$T/cls" --bits 4,5 --shift off -o "$T/noshift.teq" --json "$T/noshift.json" > /dev/null 2>&1
check "--shift off: no layer shifted, format 1.0" test "$(grep -c '"shifted": true' "$T/noshift.json")" = 0 -a \
  "$(od -An -tu1 -j12 -N8 "$T/noshift.teq" | tr -s ' ')" = " 1 0 0 0 0 0 0 0"

# 2b. the kernels, layer by layer on the model's own activations: fast (SIMD) and float paths against the
# reference counting kernel, for exponential and (below, after the INT8 file exists) INT8 layers
qc=$(dirname "$teq")/qlayer_check
node scripts/make_input.mjs "$T/x1.npy" 1,3,48,192 image 9
"$qc" "$T/a.teq" "$T/x1.npy" > "$T/qc.log" 2>&1
check "exponential layers: fast kernels = reference ($(grep -o 'worst fast vs ref [0-9.e+-]*' "$T/qc.log"))" grep -q "^[1-9][0-9]* passed, 0 failed" "$T/qc.log"
TEQ_KERNEL=ref "$teq" run "$T/a.teq" -i "$T/x1.npy" -o "$T/out_ref" -q
"$teq" run "$T/a.teq" -i "$T/x1.npy" -o "$T/out_fast" -q
# whole model: a last-bit difference can move a value across a rounding boundary of the next layer's code,
# so outputs are compared loosely (same class, probabilities within 0.01); layers above are compared tightly
check "TEQ_KERNEL=ref and the fast kernels: same class, probabilities within 0.01" \
  node tests/cmp_outputs.mjs "$T/out_ref/softmax_0.tmp_0.npy" "$T/out_fast/softmax_0.tmp_0.npy" 0.01 1

# 2c. integer lanes (--int-lanes on): the eligible exponential Convs ranked by their error, the longest
# prefix whose budget metric on the held-out quarter stays within 0.2 point of the exact layers; marked in
# the file, and each such layer within its stated bound of the reference (qlayer_check)
"$teq" quantize "$cls" --calib "$T/cls" --bits 5,7 --suite ocr-cls --data "$T/cls" --int-lanes on -o "$T/l.teq" \
  --json "$T/l.json" > "$T/l.log" 2>&1
check "quantize --int-lanes on: $(grep -o '^integer lanes: [^(]*' "$T/l.log")" \
  grep -Eq "^integer lanes: ([0-9]+ of [1-9][0-9]* exponential layers|no exponential layer)" "$T/l.log"
nl=$(sed -n 's/^integer lanes: \([0-9]*\) of .*/\1/p' "$T/l.log")
"$qc" "$T/l.teq" "$T/x1.npy" > "$T/qcl.log" 2>&1
if [ "${nl:-0}" -gt 0 ]; then
  check "the $nl layers on lanes are within their bound of the reference ($(grep -o 'worst fast vs ref [0-9.e+-]* of their' "$T/qcl.log"))" \
    grep -q "^$nl exponential layers on integer lanes" "$T/qcl.log"
fi
check "the lanes model's layers against the reference: 0 failed" grep -q "^[1-9][0-9]* passed, 0 failed" "$T/qcl.log"
# the export drops the speed hints: ONNX Conv has no such attributes, and ONNX Runtime refuses unknown ones
ntop=$(grep -c '"int_lanes_top"' "$T/l.json")
"$teq" export "$T/l.teq" -o "$T/l.onnx" > /dev/null 2>&1
check "export of the lanes model ($ntop grids topped) carries no int_lanes attribute" \
  test -s "$T/l.onnx" -a "$(grep -c int_lanes "$T/l.onnx")" = 0
# every eligible layer of the exponential model on lanes of each width, not only the chosen: each within its
# stated bound of the reference; 8t: 8 bits with each u8 grid ending at the second largest level, the inputs
# above it saturating (the bound then holds against the reference on the input clamped there)
for lw in 16 8 8t; do
  "$qc" "$T/a.teq" "$T/x1.npy" --lanes $lw > "$T/qcf$lw.log" 2>&1
  what="$lw-bit lanes"; [ $lw = 8t ] && what="8-bit lanes topped at the second largest level"
  check "all $(sed -n 's/^--lanes [0-9]*: \([0-9]*\) .*/\1/p' "$T/qcf$lw.log") eligible layers on $what within their bound ($(grep -o 'worst fast vs ref [0-9.e+-]* of their' "$T/qcf$lw.log"))" \
    grep -q "^[1-9][0-9]* passed, 0 failed" "$T/qcf$lw.log"
done
nsat=$(sed -n 's/.*: \([0-9]*\) input values above the top.*/\1/p' "$T/qcf8t.log")
check "topped grids: ${nsat:-no} input values above the top, saturating" test "${nsat:-0}" -gt 0
msg=$("$teq" quantize "$cls" --calib "$T/cls" -o "$T/bad.teq" --int-lanes on --int-lanes-loss 0 2>&1 >/dev/null)
check "--int-lanes-loss 0 is refused in one line, no file ($msg)" test $? -ne 0 -a "$(echo "$msg" | wc -l)" = 1 -a ! -e "$T/bad.teq"

# 3. adaptive search with the fidelity budget, and the two linear schemes
"$teq" quantize "$cls" --calib "$T/cls" --calib-limit 16 --search-limit 16 --eval-limit 16 -o "$T/ad.teq" \
  --json "$T/ad.json" --pareto "$T/pareto.svg" > "$T/ad.log" 2>&1
check "adaptive quantize (fidelity budget) exits 0" test $? -eq 0
bits=$(sed -n 's/.*"avg_bits": \([0-9.]*\).*/\1/p' "$T/ad.json")
# Measured 5.022 with the measured-table search, its rounds in context, GPTQ rounding and shifted codes
# (x86-64, the same under TEQ_ISA=avx512, avx2 and scalar; 5.904 without the rounds in context, 7.736 with
# the earlier extrapolating search). The band 4.2..6.0 fails for a search that ignores the budget (it
# stops at 3 bits), for one that lowers nothing (8.0), and for a change of the search that moves the
# result by about a bit either way.
check "adaptive average bits $bits within 4.2..6.0 (measured 5.022)" awk -v b="$bits" 'BEGIN { exit !(b != "" && b >= 4.2 && b <= 6.0) }'
check "adaptive: quantized accuracy within the 1-point budget of FP32" awk -v f="$(sed -n 's/.*"accuracy_fp32": \([0-9.]*\).*/\1/p' "$T/ad.json")" \
  -v q="$(sed -n 's/.*"accuracy_quantized": \([0-9.]*\).*/\1/p' "$T/ad.json")" 'BEGIN { exit !(f != "" && q != "" && q >= f - 1) }'
check "fidelity is named as the budget metric" grep -q '"budget_metric": "fidelity' "$T/ad.json"
# 24 samples: the last 6 held out (of calibration too), 16 of the other 18 searched; 6 samples cannot
# resolve a 1-point budget, and the report says so
check "search and held-out sample counts in the JSON" grep -q '"search_samples": 16,.*' "$T/ad.json"
check "held-out samples: 6" grep -q '"heldout_samples": 6,' "$T/ad.json"
check "calibration on the 16 samples not held out" grep -q '"n_calib": 16,' "$T/ad.json"
check "the budget is flagged as not resolvable on 6 held-out samples" grep -q '"budget_resolvable": false' "$T/ad.json"
for key in within_budget_search within_budget_final quantized_heldout fp32_heldout search; do
  check "adaptive JSON has $key" grep -q "\"$key\"" "$T/ad.json"
done
check "--pareto writes the SVG" grep -q "<svg" "$T/pareto.svg"
check "--pareto writes the JSON beside it (exponential, linear, INT8, FP32)" \
  node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1])); process.exit(j.exponential.length > 1 && j.linear.length > 1 && j.int8 > 0 && j.fp32 > 0 ? 0 : 1)' "$T/pareto.json"
"$teq" quantize "$cls" --calib "$T/cls" --scheme int8 -o "$T/i8.teq" --json "$T/i8.json" > /dev/null 2>&1
check "INT8 scheme gives 8.0 bits" grep -q '"avg_bits": 8,' "$T/i8.json"
"$qc" "$T/i8.teq" "$T/x1.npy" > "$T/qc8.log" 2>&1
check "INT8 layers: u8 x s8 kernels = exact integer reference ($(grep -o 'worst fast vs ref [0-9.e+-]*' "$T/qc8.log"))" grep -q "^[1-9][0-9]* passed, 0 failed" "$T/qc8.log"
"$teq" quantize "$cls" --calib "$T/cls" --scheme linear --calib-limit 16 --search-limit 16 -o "$T/lin.teq" > /dev/null 2>&1
check "linear adaptive scheme exits 0" test $? -eq 0

# 3a. --rounding gptq (error-compensating rounding): deterministic across threads, the codes differ from
# nearest rounding, the packed file holds exactly the codes the quantizer measured (teq eval of the file on
# the float path gives its accuracy), the kernels agree with the reference; also for the INT8 scheme
for scheme in teq int8; do
  bits=3,5; [ $scheme = int8 ] && bits=4,8
  "$teq" quantize "$cls" --calib "$T/cls" --scheme $scheme --bits $bits --rounding gptq -o "$T/g1.teq" --json "$T/g1.json" \
    > /dev/null 2>&1
  check "gptq ($scheme): quantize exits 0" test $? -eq 0
  "$teq" quantize "$cls" --calib "$T/cls" --scheme $scheme --bits $bits --rounding gptq --threads 2 -o "$T/g2.teq" > /dev/null 2>&1
  check "gptq ($scheme): 1 and 2 threads give byte-identical files" cmp -s "$T/g1.teq" "$T/g2.teq"
  "$teq" quantize "$cls" --calib "$T/cls" --scheme $scheme --bits $bits --rounding nearest -o "$T/gn.teq" > /dev/null 2>&1
  check "gptq ($scheme): codes differ from nearest rounding" test -n "$(cmp "$T/g1.teq" "$T/gn.teq" 2>&1)"
  acc=$(sed -n 's/.*"accuracy_quantized": \([0-9.e+-]*\).*/\1/p' "$T/g1.json")
  TEQ_KERNEL=dequant "$teq" eval "$T/g1.teq" --suite fidelity --data "$T/cls" --reference "$cls" --json "$T/ge.json" > /dev/null
  acc2=$(sed -n 's/.*"fidelity": \([0-9.e+-]*\).*/\1/p' "$T/ge.json")
  check "gptq ($scheme): the file's fidelity $acc2 = the quantizer's $acc" \
    awk -v a="$acc" -v b="$acc2" 'BEGIN { exit !(a != "" && b != "" && a - b < 1e-6 && b - a < 1e-6) }'
  "$qc" "$T/g1.teq" "$T/x1.npy" > "$T/qcg.log" 2>&1
  check "gptq ($scheme): fast kernels = reference ($(grep -o 'worst fast vs ref [0-9.e+-]*' "$T/qcg.log"))" \
    grep -q "^[1-9][0-9]* passed, 0 failed" "$T/qcg.log"
done
"$teq" quantize "$cls" --calib "$T/cls" --rounding sideways -o "$T/bad.teq" 2> /dev/null
check "quantize --rounding sideways refused" test $? -ne 0 -a ! -e "$T/bad.teq"

# 3b. PP-OCRv4 rec (4-bit weights, 5-bit activations, a small calibration): every quantized layer, the
# attention MatMuls of two activations included, fast kernels against the reference counting kernel, and
# the whole model under TEQ_KERNEL=ref and the fast kernels (same characters at >= 98% of time steps)
rec=$models/ch_PP-OCRv4_rec_infer.onnx
"$teq" dataset ocr-lines --text /usr/share/common-licenses/GPL-3 "${fonts[@]}" -n 8 --seed 3 --width 160 \
  --keys "$models/ppocr_keys_v1.txt" -o "$T/rl" > /dev/null
"$teq" quantize "$rec" --calib "$T/rl" --bits 4,5 -o "$T/rec45.teq" > /dev/null 2>&1
check "quantize rec --bits 4,5 exits 0" test $? -eq 0
node scripts/make_input.mjs "$T/xr.npy" 1,3,48,160 image 5
"$qc" "$T/rec45.teq" "$T/xr.npy" > "$T/qcr.log" 2>&1
check "rec layers: fast kernels = reference ($(grep -o '[0-9]* quantized layers ([^)]*)' "$T/qcr.log"), $(grep -o 'worst fast vs ref [0-9.e+-]*' "$T/qcr.log"))" \
  grep -q "^[1-9][0-9]* passed, 0 failed" "$T/qcr.log"
# every eligible rec layer on 8-bit lanes, its MatMuls of constant weights (on the INT8 product) and, where the
# kernel set has the INT8 depthwise kernel (AVX-512), its depthwise layers among them: each within its bound
"$qc" "$T/rec45.teq" "$T/xr.npy" --lanes 8 > "$T/qcr8l.log" 2>&1
nmm=$(sed -n 's/^--lanes 8: .* (\([0-9]*\) depthwise, \([0-9]*\) MatMul)$/\2/p' "$T/qcr8l.log")
ndw=$(sed -n 's/^--lanes 8: .* (\([0-9]*\) depthwise, \([0-9]*\) MatMul)$/\1/p' "$T/qcr8l.log")
wantdw=0; "$teq" version | grep -q 'kernels: avx512' && wantdw=1
check "rec, every eligible layer on 8-bit lanes ($(sed -n 's/^--lanes 8: //p' "$T/qcr8l.log")) within its bound ($(grep -o 'worst fast vs ref [0-9.e+-]* of their' "$T/qcr8l.log")), the MatMuls bit for bit as their lanes define" \
  sh -c "grep -q '^[1-9][0-9]* passed, 0 failed' '$T/qcr8l.log' && grep -q '^${nmm:-x} MatMuls on 8-bit lanes: bit for bit' '$T/qcr8l.log' && [ '${nmm:-0}' -gt 0 ] && { [ $wantdw = 0 ] || [ '${ndw:-0}' -gt 0 ]; }"
# rec INT8: its MatMuls (40 columns at width 160: 20) run as 1x1 convolutions on the INT8 convolution kernel
# (qlayer.c gemm_by_conv), the classifier's output transposed back; each against the exact reference
"$teq" quantize "$rec" --calib "$T/rl" --scheme int8 -o "$T/rec8.teq" > /dev/null 2>&1
"$qc" "$T/rec8.teq" "$T/xr.npy" > "$T/qcr8.log" 2>&1
check "rec INT8 layers, MatMuls by the convolution kernel: fast = reference ($(grep -o 'worst fast vs ref [0-9.e+-]*' "$T/qcr8.log"))" \
  grep -q "^[1-9][0-9]* passed, 0 failed" "$T/qcr8.log"
TEQ_KERNEL=ref "$teq" run "$T/rec45.teq" -i "$T/rl/inputs.npy" -o "$T/rref" -q
"$teq" run "$T/rec45.teq" -i "$T/rl/inputs.npy" -o "$T/rfast" -q
# Probabilities: with --shift off, measured max abs difference 0.078 under each of TEQ_ISA=avx512, avx2
# and scalar and 160/160 rows agreeing (a value moved across a code's rounding boundary, see above). With
# shifted codes (on by default) each shifted layer's sum of non-negative terms is cancelled by its folded
# constant -c*sum(w), so the same last-bit difference is relatively larger and crosses a rounding boundary
# of the next code more often: measured 158 and 159 of 160 rows and a max difference of 0.225, while every
# layer alone agrees within 2.3e-6 above. On an AVX2-only machine (AMD Zen 3, no AVX-512; stop 18) the same
# binaries gave 157/160 rows and 0.394, and once the FP32 engine's Convs moved to their own kernel (whose
# sums round differently from OpenBLAS's, so the quantizer's reference runs, hence its choices, moved) the
# model it chose gave 154/160 and 0.638, with these fast kernels unchanged (the older model still gives
# 157/160 and 0.394 with the new binary; --shift off gives 158/160 and 0.301): one early code flip changes a
# time step's character with the reference at 0.997. The end-to-end figure depends on the model chosen as
# much as on the kernels, so it is bounded loosely here (90% of rows; probabilities, so no distance bound),
# and the exact per-layer comparison above is the test of the kernels; a wrong kernel moves most rows.
check "rec, 8 lines: TEQ_KERNEL=ref and the fast kernels pick the same character at >= 90% of time steps" \
  node tests/cmp_outputs.mjs "$T/rref/softmax_11.tmp_0.npy" "$T/rfast/softmax_11.tmp_0.npy" 1 0.90

# 3c. PP-OCRv4 det (its head has two ConvTranspose layers), exponential 4,5 bits and INT8: every layer's
# kernels against the reference
det=$models/ch_PP-OCRv4_det_infer.onnx
"$teq" dataset synth --kind ocr-det --text /usr/share/common-licenses/GPL-3 "${fonts[@]}" -n 8 --seed 2 \
  --height 160 --width 160 -o "$T/dd" > /dev/null
node scripts/make_input.mjs "$T/xd.npy" 1,3,160,160 image 3
for scheme in "teq --bits 4,5" "int8"; do
  # both schemes write det.teq: remove the first one's, so that a failed quantize cannot re-check it
  rm -f "$T/det.teq"
  # shellcheck disable=SC2086
  "$teq" quantize "$det" --calib "$T/dd" --scheme $scheme -o "$T/det.teq" > /dev/null 2>&1
  check "quantize det --scheme $scheme exits 0" test $? -eq 0
  "$qc" "$T/det.teq" "$T/xd.npy" > "$T/qcd.log" 2>&1
  check "det ($scheme): $(grep -o '[0-9]* quantized layers ([^)]*)' "$T/qcd.log"), $(grep -o 'worst fast vs ref [0-9.e+-]*' "$T/qcd.log")" \
    grep -q "^[1-9][0-9]* passed, 0 failed" "$T/qcd.log"
  # INT8: quantizers whose readers all quantize their input themselves are passed through in the fast
  # mode (no pass over the tensor); qlayer_check runs the model with and without and compares bytes
  [ "${scheme%% *}" = int8 ] && check "det (int8): $(grep -o '[0-9]* pass-through quantizers' "$T/qcd.log"), outputs identical" \
    grep -q "^[1-9][0-9]* pass-through quantizers in the fast mode: outputs identical to running them: yes" "$T/qcd.log"
done

# 3c'. BlazeFace under the fast search: its four outputs are read by no node, and the 16x16 heads are
# done before later layers; a table run from a later node must still find them (the capture keeps them)
bf=$models/face_detection_front_128x128_barracuda.onnx
"$teq" dataset synth --kind blazeface -n 8 --seed 3 -o "$T/bfc" > /dev/null
"$teq" quantize "$bf" --calib "$T/bfc" --suite blazeface --data "$T/bfc" --threads 1 -o "$T/bf.teq" > "$T/bf.log" 2>&1
check "quantize blazeface --suite blazeface (fast search) exits 0" test $? -eq 0 -a -s "$T/bf.teq"

# 3d. the project's own Fashion-MNIST ResNet (models/): calibrated on 128 training images, judged on the
# first 2000 test images (held out: neither the training nor the calibration saw them). Both schemes at
# fixed widths (no search: quick); every layer's kernels against the reference; accuracy against bounds
# measured on 2026-12-01 with this very setting (the numbers beside each bound) less a margin of about
# 1 point (20 images) for legitimate changes of rounding or calibration; a broken quantizer falls far
# below them (3-bit weights alone give 75-78 %).
fm=${TEQ_FMNIST:-/usr/share/datasets/fashion-mnist}
fmodel=$(dirname "$0")/../models/fmnist_resnet.onnx
if [ -s "$fm/t10k-images-idx3-ubyte.gz" ] && [ -s "$fmodel" ]; then
  "$teq" dataset idx --images "$fm/train-images-idx3-ubyte.gz" --labels "$fm/train-labels-idx1-ubyte.gz" -n 128 -o "$T/fc" > /dev/null
  "$teq" dataset idx --images "$fm/t10k-images-idx3-ubyte.gz" --labels "$fm/t10k-labels-idx1-ubyte.gz" -n 2000 -o "$T/ft" > /dev/null
  check "dataset idx: 2000 test images [2000,1,28,28] with labels" grep -q '"shape": \[2000, 1, 28, 28\]' "$T/ft/dataset.json"
  # acc FILE: the accuracy teq eval wrote
  acc() { sed -n 's/.*"accuracy": \([0-9.]*\).*/\1/p' "$1"; }
  at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
  "$teq" eval "$fmodel" --suite classify --data "$T/ft" --threads 1 --json "$T/fe32.json" > /dev/null
  # FP32: 92.15 % on the 10k test images (the training script's torch figure; ONNX Runtime agrees to 1e-6
  # per logit), 92.85 % on these 2000 (measured); only a changed engine moves it, so the margin is 5 images
  check "fmnist FP32 top-1 on 2000 test images: $(acc "$T/fe32.json") % >= 92.6 (measured 92.85)" at_least "$(acc "$T/fe32.json")" 92.6
  # eval --perturb: the model as its own reference agrees fully without a move, not with one of 0.2
  # (18 pixel levels), and the same seed gives the same moves
  agr() { sed -n 's/.*"agreement": \([0-9.]*\).*/\1/p' "$1"; }
  for run in 0:a 0.2:a 0.2:b; do
    "$teq" eval "$fmodel" --suite classify --data "$T/ft" --reference "$fmodel" --perturb "${run%:*}" --seed 3 \
      --threads 1 --json "$T/fp_${run/:/_}.json" > /dev/null
  done
  check "eval --perturb 0: agreement $(agr "$T/fp_0_a.json") = 100" test "$(agr "$T/fp_0_a.json")" = 100
  check "eval --perturb 0.2: agreement $(agr "$T/fp_0.2_a.json") < 100" \
    awk -v a="$(agr "$T/fp_0.2_a.json")" 'BEGIN { exit !(a < 100 && a > 50) }'
  check "eval --perturb: the same seed, the same result" cmp -s "$T/fp_0.2_a.json" "$T/fp_0.2_b.json"
  for scheme in "teq --bits 4,6" "int8"; do
    tag=${scheme%% *}
    # shellcheck disable=SC2086
    "$teq" quantize "$fmodel" --calib "$T/fc" --scheme $scheme --threads 1 -o "$T/f_$tag.teq" > "$T/fq_$tag.log" 2>&1
    check "quantize fmnist ($scheme) exits 0" test $? -eq 0
    "$teq" eval "$T/f_$tag.teq" --suite classify --data "$T/ft" --reference "$fmodel" --threads 1 --json "$T/fe_$tag.json" > /dev/null
    case $tag in
      teq) lo=90.8 ;;  # measured 91.85 % (4-bit weights, 6-bit activations, 128 calibration images)
      int8) lo=91.7 ;; # measured 92.70 %
    esac
    check "fmnist $scheme top-1 on 2000 held-out test images: $(acc "$T/fe_$tag.json") % >= $lo" at_least "$(acc "$T/fe_$tag.json")" "$lo"
    "$teq" dataset idx --images "$fm/t10k-images-idx3-ubyte.gz" -n 1 --offset 2000 -o "$T/f1" > /dev/null
    "$qc" "$T/f_$tag.teq" "$T/f1/inputs.npy" > "$T/fqc_$tag.log" 2>&1
    check "fmnist ($scheme): $(grep -o '[0-9]* quantized layers ([^)]*)' "$T/fqc_$tag.log"), $(grep -o 'worst fast vs ref [0-9.e+-]*' "$T/fqc_$tag.log")" \
      grep -q "^[1-9][0-9]* passed, 0 failed" "$T/fqc_$tag.log"
  done
else
  ko "fmnist: $fm (dataset-fashion-mnist) or $fmodel missing (scripts/setup.sh installs the data)"
fi

# 4. analysis with plots
"$teq" analyze "$cls" --calib "$T/cls" --calib-limit 8 --json "$T/an.json" --plots "$T/plots" > "$T/an.log"
check "analyze writes overview.svg" grep -q "<svg" "$T/plots/overview.svg"
check "analyze JSON has the exponential share" grep -q '"share_exponential_best"' "$T/an.json"
n_svg=$(ls "$T/plots" | wc -l)
check "analyze writes one SVG per tensor ($n_svg files)" test "$n_svg" -gt 20

# 5. damaged .teq files are refused with one line naming the file; the output folder stays clean
size=$(stat -c %s "$T/a.teq")
head -c $((size / 2)) "$T/a.teq" > "$T/trunc.teq"
cp "$T/a.teq" "$T/flip.teq"; printf '\xff' | dd of="$T/flip.teq" bs=1 seek=$((size / 3)) conv=notrunc 2>/dev/null
for f in trunc flip; do
  mkdir -p "$T/o_$f"
  "$teq" run "$T/$f.teq" -i "$T/x.npy" -o "$T/o_$f" 2> "$T/$f.err"; rc=$?
  check "damaged .teq ($f) refused: $(head -c 120 "$T/$f.err")" test $rc -ne 0 -a $rc -lt 128 -a "$(wc -l < "$T/$f.err")" -eq 1
  check "damaged .teq ($f): message names the file" grep -q "$f.teq" "$T/$f.err"
  check "damaged .teq ($f): no output written" test -z "$(ls -A "$T/o_$f")"
done
# 6. bad quantize arguments
"$teq" quantize "$cls" --calib "$T/cls" --bits 1,9 -o "$T/bad.teq" 2> "$T/bad.err"; rc=$?
check "quantize --bits 1,9 refused" test $rc -ne 0 -a ! -e "$T/bad.teq"
"$teq" quantize "$cls" --calib "$T/nonexistent" -o "$T/bad.teq" 2> "$T/bad.err"; rc=$?
check "quantize with a missing calibration folder refused" test $rc -ne 0 -a ! -e "$T/bad.teq"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
