#!/usr/bin/env bash
# The second table of `make demo`: the project's own model, a residual ReLU CNN on Fashion-MNIST
# (models/fmnist_resnet.onnx), the regime the method's claims come from (long reductions, ReLU).
# Calibrated on training images, its bit-widths searched against top-1 accuracy on other training
# images, judged on the 10k test images that neither step saw: FP32, INT8 and teq side by side with
# bits, accuracy, energy per inference (`teq energy`, final stage in FP32 and in 16-bit integers) and
# latency, and a Pareto plot (pareto.svg: bits against test accuracy, with fixed widths 4,6 and 4,4
# beside the search). Called by scripts/demo.sh; runs alone too (1 to 2 minutes on 2 cores).
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
  # the search's own Pareto report (budget metric on the held-out budget images against average bits, the
  # exponential and the linear code under the same search, INT8 and FP32): about 20 s more
  pareto=(); [ "$scheme" = teq ] && pareto=(--pareto "$out/pareto_search.svg")
  # --eval-limit 256: quantize's own FP32/INT8/teq lines are a quick look on budget images; the judging
  # is on the test images below
  "$teq" quantize "$model" --calib "$out/calib" --scheme "$scheme" --suite classify --data "$out/budget" \
    --search-limit "$n_budget" --eval-limit 256 --threads "$threads" -o "$out/fmnist_$scheme.teq" \
    --json "$out/quantize_$scheme.json" "${pareto[@]}" | grep -E '^(average bits|time)'
done

# Two fixed widths for all layers beside the search, for the Pareto plot (bits against test accuracy):
# 4,6 and 4,4 (the issue's comparison points); no search, so each is quick
for bits in 4,6 4,4; do
  "$teq" quantize "$model" --calib "$out/calib" --bits "$bits" --suite classify --data "$out/budget" \
    --eval-limit 64 --threads "$threads" -o "$out/fmnist_b${bits/,/_}.teq" --json "$out/quantize_b${bits/,/_}.json" > /dev/null
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
for m in fp32 int8 teq b4_6 b4_4; do
  # agreement with FP32 for the table's rows; the plot's extra points need only accuracy (saves two FP32 runs)
  f=$model; ref=(); [ "$m" != fp32 ] && f=$out/fmnist_$m.teq
  case $m in int8 | teq) ref=(--reference "$model") ;; esac
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
// Pareto plot: average bits (weights and activations) against top-1 on the test images; FP32 as a line.
const pts = [['INT8', q.int8.avg_bits, ev.int8.accuracy], ['teq (search)', q.teq.avg_bits, ev.teq.accuracy]];
for (const b of ['4_6', '4_4']) pts.push([`teq ${b.replace('_', ',')}`, j(`quantize_b${b}.json`).avg_bits, j(`eval_b${b}.json`).accuracy]);
const front = pts.filter((p) => !pts.some((o) => o !== p && o[1] <= p[1] && o[2] >= p[2] && (o[1] < p[1] || o[2] > p[2])))
  .sort((a, b) => a[1] - b[1]);
const W = 640, H = 400, L = 60, R = 20, T = 30, B = 50;
const accs = pts.map((p) => p[2]).concat([ev.fp32.accuracy]);
const y0 = Math.floor(Math.min(...accs) - 0.5), y1 = Math.ceil(Math.max(...accs) + 0.5), x0 = 3, x1 = 9;
const X = (b) => +(L + ((b - x0) / (x1 - x0)) * (W - L - R)).toFixed(1), Y = (a) => +(H - B - ((a - y0) / (y1 - y0)) * (H - T - B)).toFixed(1);
let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">\n`;
svg += `<rect width="${W}" height="${H}" fill="white"/>\n<text x="${L}" y="18" font-size="14">Fashion-MNIST ResNet: top-1 on ${ev.fp32.n} test images against average bits</text>\n`;
for (let b = x0; b <= x1; b++) svg += `<line x1="${X(b)}" y1="${T}" x2="${X(b)}" y2="${H - B}" stroke="#ddd"/><text x="${X(b)}" y="${H - B + 16}" text-anchor="middle">${b}</text>\n`;
for (let a = y0; a <= y1; a++) svg += `<line x1="${L}" y1="${Y(a)}" x2="${W - R}" y2="${Y(a)}" stroke="#ddd"/><text x="${L - 6}" y="${Y(a) + 4}" text-anchor="end">${a}</text>\n`;
svg += `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">average bits (weights and activations)</text>\n`;
svg += `<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">top-1 %</text>\n`;
svg += `<line x1="${L}" y1="${Y(ev.fp32.accuracy)}" x2="${W - R}" y2="${Y(ev.fp32.accuracy)}" stroke="#888" stroke-dasharray="6 4"/>` +
       `<text x="${W - R - 4}" y="${Y(ev.fp32.accuracy) - 6}" text-anchor="end" fill="#555">FP32 ${ev.fp32.accuracy.toFixed(2)}</text>\n`;
svg += `<polyline fill="none" stroke="#3a6" stroke-width="2" points="${front.map((p) => `${X(p[1])},${Y(p[2])}`).join(' ')}"/>\n`;
for (const [name, b, a] of pts)
  svg += `<circle cx="${X(b)}" cy="${Y(a)}" r="5" fill="${name === 'INT8' ? '#c44' : '#36c'}"/>` +
         `<text x="${X(b) > W / 2 ? X(b) - 8 : X(b) + 8}" y="${Y(a) + 16}" text-anchor="${X(b) > W / 2 ? 'end' : 'start'}">` +
         `${name}: ${b.toFixed(2)} bits, ${a.toFixed(2)} %</text>\n`;
fs.writeFileSync(`${dir}/pareto.svg`, svg + '</svg>\n');
console.log(`pareto (bits, top-1 %): ${pts.map((p) => `${p[0]} ${p[1].toFixed(2)} ${p[2].toFixed(2)}`).join('; ')}; plot ${dir}/pareto.svg`);
console.log(`teq search budget: ${q.teq.budget_metric}, max loss ${q.teq.max_loss} point(s);` +
            ` search ${q.teq.time_search_s.toFixed(1)} s (${q.teq.search_evaluations} evaluations)`);
JS
echo "files: $out (data sets with preview.png, *.teq, *.json, pareto.svg, pareto_search.svg/.json)"
