#!/usr/bin/env bash
# The second table of `make demo`: the project's own model, a residual ReLU CNN on Fashion-MNIST
# (models/fmnist_resnet.onnx), the regime the method's claims come from (long reductions, ReLU).
# Calibrated on training images, its bit-widths searched against top-1 accuracy on other training
# images, judged on the 10k test images that neither step saw: FP32, INT8 and teq side by side with
# bits, accuracy, energy per inference (`teq energy`, final stage in FP32 and in 16-bit integers) and
# latency. Called by scripts/demo.sh; runs alone too (about a minute on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
teq=${TEQ:-build/teq}
model=models/fmnist_resnet.onnx
fm=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
out=${OUT:-out/demo}/fmnist
threads=${THREADS:-2}
n_calib=${N_CALIB_FMNIST:-512}     # training images 0 .. n_calib-1: calibration
n_budget=${N_BUDGET_FMNIST:-1024}  # the next n_budget training images: the width search's budget
mkdir -p "$out"

echo "== Fashion-MNIST: $n_calib training images to calibrate, the next $n_budget for the search, the 10k test images to judge"
idx() { "$teq" dataset idx --images "$fm/$1-images-idx3-ubyte.gz" --labels "$fm/$1-labels-idx1-ubyte.gz" "${@:2}"; }
idx train -n "$n_calib" -o "$out/calib" > /dev/null
idx train --offset "$n_calib" -n "$n_budget" -o "$out/budget" > /dev/null
idx t10k -o "$out/test" > /dev/null
idx t10k -n 1 -o "$out/one" > /dev/null # one image, for latency

for scheme in teq int8; do
  echo "== quantize: $scheme"
  # --eval-limit 256: quantize's own FP32/INT8/teq lines are a quick look on budget images; the judging
  # is on the test images below
  "$teq" quantize "$model" --calib "$out/calib" --scheme "$scheme" --suite classify --data "$out/budget" \
    --search-limit "$n_budget" --eval-limit 256 --threads "$threads" -o "$out/fmnist_$scheme.teq" \
    --json "$out/quantize_$scheme.json" | grep -E '^(average bits|time)'
done

echo "== energy per inference against an INT8 datapath (teq energy, 8 test images; final stage FP32 and INT16)"
# one run per final stage on the teq model gives both columns: its exponential datapath and the INT8 MAC
# datapath of the same layers (the INT8 model's layers are those layers at 8 bits)
for final in fp32 int16; do
  "$teq" energy "$out/fmnist_teq.teq" --input "$out/test/inputs.npy" --limit 8 --final "$final" --threads "$threads" \
    --json "$out/energy_$final.json" | grep '^energy saving' | sed "s/^/final $final: /"
done

echo "== speed: latency of one image, 1 thread, median of 50 runs after 5 warm-ups"
for round in 1 2; do # alternate the models twice and keep each one's better median: the machine is shared
  for m in fp32 int8 teq; do
    f=$model; [ "$m" != fp32 ] && f=$out/fmnist_$m.teq
    "$teq" run "$f" -i "$out/one/inputs.npy" -o "$out/run_$m" --repeat 50 --warmup 5 --threads 1 \
      | sed -n 's/.*median \([0-9.]*\) ms.*/\1/p' >> "$out/latency_$m.txt.tmp"
  done
done
for m in fp32 int8 teq; do
  sort -n "$out/latency_$m.txt.tmp" | head -n 1 > "$out/latency_$m.txt"
  rm -f "$out/latency_$m.txt.tmp"
done

echo "== evaluation on the 10k test images"
for m in fp32 int8 teq; do
  f=$model; ref=(); [ "$m" != fp32 ] && f=$out/fmnist_$m.teq && ref=(--reference "$model")
  "$teq" eval "$f" --suite classify --data "$out/test" "${ref[@]}" --threads "$threads" --json "$out/eval_$m.json" > /dev/null
done

node - "$out" <<'JS'
const fs = require('fs');
const dir = process.argv[2];
const j = (f) => JSON.parse(fs.readFileSync(`${dir}/${f}`, 'utf8'));
const q = { teq: j('quantize_teq.json'), int8: j('quantize_int8.json') };
const e = (f) => j(`energy_${f}.json`);
const ev = { fp32: j('eval_fp32.json'), int8: j('eval_int8.json'), teq: j('eval_teq.json') };
const ms = (k) => Number(fs.readFileSync(`${dir}/latency_${k}.txt`, 'utf8'));
const bits = { fp32: [32, 32, 32], int8: [q.int8.avg_bits_weights, q.int8.avg_bits_activations, q.int8.avg_bits],
               teq: [q.teq.avg_bits_weights, q.teq.avg_bits_activations, q.teq.avg_bits] };
const kb = { fp32: q.teq.weight_bytes_fp32 / 1e3, int8: q.int8.weight_bytes / 1e3, teq: q.teq.weight_bytes / 1e3 };
// energy of each model's datapath: teq's exponential layers (total_pj_teq) and the same layers on the INT8
// MAC datapath (total_pj_int8), from one run; FP32 is not modelled
const uj = (k, f) => (k === 'fp32' ? '-' : ((k === 'teq' ? e(f).total_pj_teq : e(f).total_pj_int8) / 1e6).toFixed(2));
console.log(`\nFashion-MNIST ResNet (models/), ${ev.fp32.n} test images; calibrated on ${q.teq.n_calib} training images, widths searched on others`);
console.log('model   bits W  bits A  bits all  weights KB   top-1 %   agree %   uJ (fp32 final)   uJ (int16 final)   latency ms');
for (const k of ['fp32', 'int8', 'teq']) {
  const [bw, ba, b] = bits[k];
  const ag = ev[k].agreement === undefined ? '-' : ev[k].agreement.toFixed(2);
  console.log(`${k.padEnd(6)} ${bw.toFixed(2).padStart(7)} ${ba.toFixed(2).padStart(7)} ${b.toFixed(2).padStart(9)} ${kb[k].toFixed(1).padStart(11)} ${ev[k].accuracy.toFixed(2).padStart(9)} ${ag.padStart(9)} ${uj(k, 'fp32').padStart(17)} ${uj(k, 'int16').padStart(18)} ${ms(k).toFixed(3).padStart(12)}`);
}
for (const f of ['fp32', 'int16'])
  console.log(`energy, final stage ${f}: teq saves ${(100 * e(f).saving_vs_int8).toFixed(1)}% against INT8` +
              ` (compute ${(100 * e(f).saving_compute).toFixed(1)}%, memory ${(100 * e(f).saving_memory).toFixed(1)}%)`);
console.log(`latency: median of 50 runs of one image, 1 thread, ${(ms('teq') / ms('fp32')).toFixed(2)}x FP32 for teq, ${(ms('int8') / ms('fp32')).toFixed(2)}x for INT8`);
console.log(`teq search budget: ${q.teq.budget_metric}, max loss ${q.teq.max_loss} point(s);` +
            ` search ${q.teq.time_search_s.toFixed(1)} s (${q.teq.search_evaluations} evaluations)`);
JS
echo "files: $out (data sets with preview.png, *.teq, *.json)"
