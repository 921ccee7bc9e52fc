#!/usr/bin/env bash
# teq bench with the model level: makes the models it times (once) into out/bench-models, then runs
#   teq bench --models out/bench-models [extra args, e.g. --json out/bench.json --repeat 9 --threads 1]
# Models: PP-OCRv4 rec and det, FP32 (the ONNX file), INT8 (--scheme int8) and exponential teq at fixed
# widths 4,8 (--scheme teq --bits 4,8), calibrated on rendered text lines (rec) / synthetic pages (det).
set -euo pipefail
cd "$(dirname "$0")/.."
teq=${TEQ:-build/teq}
m=cache/models
out=out/bench-models
threads=${THREADS:-1}
mkdir -p "$out"
fonts=(--font /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf)
[ -s "$out/rec_calib/inputs.npy" ] || "$teq" dataset ocr-lines --text /usr/share/common-licenses/GPL-3 "${fonts[@]}" \
  -n 32 --seed 11 --keys "$m/ppocr_keys_v1.txt" -o "$out/rec_calib" > /dev/null
[ -s "$out/det_calib/inputs.npy" ] || "$teq" dataset synth --kind ocr-det --text /usr/share/common-licenses/GPL-3 \
  "${fonts[@]}" -n 4 --seed 12 --height 320 --width 320 -o "$out/det_calib" > /dev/null
for net in rec det; do
  src=$m/ch_PP-OCRv4_${net}_infer.onnx
  ln -sf "$(realpath "$src")" "$out/${net}_fp32.onnx"
  [ -s "$out/${net}_int8.teq" ] || "$teq" quantize "$src" --calib "$out/${net}_calib" --scheme int8 \
    --threads "$threads" -o "$out/${net}_int8.teq" > /dev/null
  [ -s "$out/${net}_teq.teq" ] || "$teq" quantize "$src" --calib "$out/${net}_calib" --scheme teq --bits 4,8 \
    --threads "$threads" -o "$out/${net}_teq.teq" > /dev/null
done
exec "$teq" bench --models "$out" "$@"
