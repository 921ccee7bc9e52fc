#!/usr/bin/env bash
# What each part of the width search is worth (issue 9, docs/DECISIONS.md "Ablation"): the default
# quantizer, then the same with one part turned off, each result judged on held-out data it never saw.
#   scripts/ablation.sh rec|cls|fmnist   (OUT=dir, THREADS=n, N_CAL / N_VAL: sample counts)
# Parts: 1 measured distortion tables (off: measured at 4 bits only, other widths extrapolated; or no rounds
# in context after the bisection), 3 GPTQ
# rounding (off: nearest), 4 shifted codes (off), 5 budget against FP32 (off: against the all-8-bit
# configuration), 6 held-out check inside the search (off: every budget sample searched).
set -euo pipefail
cd "$(dirname "$0")/.."
teq=${TEQ:-build/teq}
what=${1:?usage: scripts/ablation.sh rec|cls|fmnist}
out=${OUT:-out/ablation}/$what
threads=${THREADS:-1}
m=cache/models
mkdir -p "$out"
fonts=(--font /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf --font /usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf
       --font /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf)
case $what in
rec)
  model=$m/ch_PP-OCRv4_rec_infer.onnx suite=ocr-rec extra=(--keys $m/ppocr_keys_v1.txt)
  [ -f "$out/cal/inputs.npy" ] || "$teq" dataset ocr-lines --text /usr/share/common-licenses/GPL-3 "${fonts[@]}" \
    -n "${N_CAL:-256}" --seed 1 --keys $m/ppocr_keys_v1.txt -o "$out/cal" > /dev/null
  [ -f "$out/val/inputs.npy" ] || "$teq" dataset ocr-lines --text /usr/share/common-licenses/Apache-2.0 "${fonts[@]}" \
    -n "${N_VAL:-600}" --seed 2 --keys $m/ppocr_keys_v1.txt -o "$out/val" > /dev/null
  ;;
cls)
  model=$m/ch_ppocr_mobile_v2.0_cls_infer.onnx suite=ocr-cls extra=()
  f=(--text /usr/share/common-licenses/GPL-3 --font /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf)
  [ -f "$out/cal/inputs.npy" ] || "$teq" dataset synth --kind ocr-cls "${f[@]}" -n "${N_CAL:-1024}" --seed 11 -o "$out/cal" > /dev/null
  [ -f "$out/val/inputs.npy" ] || "$teq" dataset synth --kind ocr-cls "${f[@]}" -n "${N_VAL:-2000}" --seed 12 -o "$out/val" > /dev/null
  ;;
fmnist)
  model=models/fmnist_resnet.onnx suite=classify extra=()
  fm=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
  idx() { "$teq" dataset idx --images "$fm/$1-images-idx3-ubyte.gz" --labels "$fm/$1-labels-idx1-ubyte.gz" "${@:2}" > /dev/null; }
  [ -f "$out/cal/inputs.npy" ] || idx train -n "${N_CAL:-1024}" --offset 512 -o "$out/cal"
  [ -f "$out/val/inputs.npy" ] || idx t10k -n "${N_VAL:-10000}" -o "$out/val"
  ;;
*) echo "scripts/ablation.sh: unknown model '$what' (rec, cls, fmnist)" >&2; exit 2 ;;
esac

# name | TEQ_ABLATE | quantize options
configs=("all on||" "1 off: tables extrapolated|tables|" "1 off: no rounds in context|context|" "3 off: nearest rounding||--rounding nearest"
         "4 off: no shifted codes||--shift off" "5 off: budget vs all-8-bit|fp32budget|" "6 off: no held-out check|heldout|")
[ -f "$out/eval_fp32.json" ] || "$teq" eval "$model" --suite $suite --data "$out/val" "${extra[@]}" --threads "$threads" \
  --json "$out/eval_fp32.json" > /dev/null
for i in "${!configs[@]}"; do
  IFS='|' read -r name abl opts <<< "${configs[$i]}"
  [ -f "$out/q$i.json" ] && [ -f "$out/eval$i.json" ] && continue
  # shellcheck disable=SC2086
  TEQ_ABLATE=$abl "$teq" quantize "$model" --calib "$out/cal" --suite $suite --data "$out/cal" "${extra[@]}" $opts \
    --eval-limit 16 --threads "$threads" -o "$out/q$i.teq" --json "$out/q$i.json" > "$out/q$i.log" 2>&1
  "$teq" eval "$out/q$i.teq" --suite $suite --data "$out/val" "${extra[@]}" --threads "$threads" --json "$out/eval$i.json" > /dev/null
  echo "done: $name ($(date +%T))"
done
node - "$out" "$what" "${configs[@]}" <<'JS'
const fs = require('fs');
const [dir, what, ...configs] = process.argv.slice(2);
const j = (f) => JSON.parse(fs.readFileSync(`${dir}/${f}`, 'utf8'));
const f32 = j('eval_fp32.json');
const key = f32.primary;
console.log(`${what}: held-out ${key} on ${f32.n} samples, FP32 ${f32[key].toFixed(2)}` + (f32.cer !== undefined ? `, CER ${f32.cer.toFixed(3)}` : ''));
console.log('| configuration | bits W | bits A | bits all | search (held-out quarter) | held-out ' + key + ' | loss vs FP32 |' + (f32.cer !== undefined ? ' CER |' : '') + ' search s |');
console.log('|---|---|---|---|---|---|---|' + (f32.cer !== undefined ? '---|' : '') + '---|');
configs.forEach((c, i) => {
  const q = j(`q${i}.json`), e = j(`eval${i}.json`);
  const ho = q.quantized_heldout === null || q.quantized_heldout === undefined ? "-" : Number(q.quantized_heldout).toFixed(2);
  console.log(`| ${c.split('|')[0]} | ${q.avg_bits_weights.toFixed(3)} | ${q.avg_bits_activations.toFixed(3)} | ${q.avg_bits.toFixed(3)} | ` +
              `${Number(q.quantized_search).toFixed(2)} (${ho}) | ${e[key].toFixed(2)} | ${(f32[key] - e[key]).toFixed(2)} |` +
              (f32.cer !== undefined ? ` ${e.cer.toFixed(3)} |` : '') + ` ${q.time_search_s.toFixed(1)} |`);
});
JS
