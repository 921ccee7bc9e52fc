#!/usr/bin/env bash
# The main job (for now): run the PP-OCRv4 models on generated inputs and say what ran and how long
# it took. Later issues turn this into quantize + evaluate.
set -euo pipefail
cd "$(dirname "$0")/.."
teq=${TEQ:-build/teq}
m=cache/models
work=out/demo
mkdir -p "$work"
node scripts/make_input.mjs "$work/rec_x.npy" 1,3,48,320 image 1
node scripts/make_input.mjs "$work/det_x.npy" 1,3,640,640 image 2
node scripts/make_input.mjs "$work/cls_x.npy" 1,3,48,192 image 3
for spec in "ch_PP-OCRv4_rec_infer rec_x" "ch_PP-OCRv4_det_infer det_x" "ch_ppocr_mobile_v2.0_cls_infer cls_x"; do
  set -- $spec
  echo "== $1"
  "$teq" inspect "$m/$1.onnx" | sed -n '/^inputs/,/^outputs/p;/^nodes/p;/^parameters/p'
  "$teq" run "$m/$1.onnx" -i "$work/$2.npy" -o "$work/$1" --repeat 3
done
