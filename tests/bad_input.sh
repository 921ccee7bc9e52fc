#!/usr/bin/env bash
# Bad-input tests for the teq CLI: damaged or wrong models, wrong or damaged .npy inputs, damaged IDX
# files, unusable output folders.
# usage: tests/bad_input.sh [TEQ_BIN]     (default build/teq; env TEQ_MODELS, default cache/models)
#
# Each case requires: a non-zero exit status below 128 (no death by signal, no hang: `timeout 60`),
# exactly one line on stderr, naming the relevant file and a keyword of the problem, and no file
# left in the output folder (a file that was there before must keep its bytes).
# Needs only bash and coreutils: inputs are made here byte by byte; the two tiny ONNX models come
# from tests/fixtures (regenerate them with tests/fixtures/make_fixtures.py).
# Prints PASS/FAIL per case and `N passed, M failed`; exits 1 on any failure.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
TEQ=${1:-build/teq}
MODELS=${TEQ_MODELS:-cache/models}
REC=$MODELS/ch_PP-OCRv4_rec_infer.onnx
FIX=tests/fixtures
ADD=$FIX/add2.onnx
UNSUP=$FIX/unsupported_op.onnx

T=$(mktemp -d "${TMPDIR:-/tmp}/teq-badinput.XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
n_case=0

# mknpy FILE DESCR SHAPE DATA_BYTES: a .npy 1.0 file of zero bytes ('<f4', '(2, 3)', 24).
mknpy() {
  local file=$1 descr=$2 shape=$3 nbytes=$4
  local dict="{'descr': '$descr', 'fortran_order': False, 'shape': $shape, }"
  local len=$((${#dict} + 1))
  local pad=$(((64 - (10 + len) % 64) % 64))
  len=$((len + pad))
  {
    printf '\x93NUMPY\x01\x00'
    printf '%b' "\\x$(printf %02x $((len & 255)))\\x$(printf %02x $((len >> 8)))"
    printf '%s%*s\n' "$dict" "$pad" ''
    head -c "$nbytes" /dev/zero
  } >"$file"
}

# check NAME OUTDIR REGEX... -- TEQ_ARGS...
# Runs teq; every REGEX (extended, case-insensitive) must match the single stderr line. OUTDIR, when
# not empty, must hold no files afterwards other than those listed in $PRESERVE (path=sha256 pairs
# that must be unchanged).
PRESERVE=""
LIMIT_S=60 # seconds before a case counts as hung
check() {
  local name=$1 out=$2
  shift 2
  local res=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    res+=("$1")
    shift
  done
  shift
  n_case=$((n_case + 1))
  local err=$T/stderr.$n_case
  timeout -k 5 "$LIMIT_S" "$TEQ" "$@" >"$T/stdout.$n_case" 2>"$err"
  local rc=$?
  local problems=()
  if [ $rc -eq 0 ]; then
    problems+=("exit status 0")
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    problems+=("hung (killed by timeout after $LIMIT_S s)")
  elif [ $rc -ge 128 ]; then
    problems+=("died by signal $((rc - 128))")
  fi
  local lines
  lines=$(grep -c '' "$err")
  if [ "$lines" -ne 1 ]; then problems+=("$lines lines on stderr, want 1"); fi
  for re in "${res[@]}"; do
    grep -qiE -- "$re" "$err" || problems+=("stderr does not match /$re/")
  done
  if [ -n "$out" ] && [ -d "$out" ]; then
    local f
    while IFS= read -r f; do
      local kept=0 p
      for p in $PRESERVE; do [ "${p%%=*}" = "$f" ] && kept=1; done
      [ $kept = 1 ] || problems+=("left $f behind")
    done < <(find "$out" -mindepth 1 \! -type d)
  fi
  local p
  for p in $PRESERVE; do
    local sum
    sum=$(sha256sum <"${p%%=*}" 2>/dev/null | cut -c1-64)
    [ "$sum" = "${p#*=}" ] || problems+=("${p%%=*} was changed or removed")
  done
  if [ ${#problems[@]} -eq 0 ]; then
    pass=$((pass + 1))
    echo "PASS $name (exit $rc): $(head -c 300 "$err")"
  else
    fail=$((fail + 1))
    echo "FAIL $name (exit $rc): $(IFS=';'; echo "${problems[*]}")"
    sed 's/^/     | /' "$err" | head -n 10
  fi
}

if [ ! -x "$TEQ" ]; then
  echo "bad_input: $TEQ is not an executable"
  echo "0 passed, 1 failed"
  exit 1
fi
for f in "$REC" "$ADD" "$UNSUP"; do
  if [ ! -s "$f" ]; then
    echo "bad_input: $f missing (models: scripts/setup.sh models; fixtures: tests/fixtures/make_fixtures.py)"
    echo "0 passed, 1 failed"
    exit 1
  fi
done

# ---- inputs, all made here
rec_size=$(stat -c %s "$REC")
head -c $((rec_size / 2)) "$REC" >"$T/truncated.onnx"
# 2 KiB of fixed pseudo-random bytes (sha256 chain), the same on every run
hex=$(for i in $(seq 1 64); do printf 'teq%d' "$i" | sha256sum | cut -c1-64; done | tr -d '\n')
# shellcheck disable=SC2001 # (sed turns each hex pair into a \xNN escape)
printf '%b' "$(echo "$hex" | sed 's/../\\x&/g')" >"$T/random.onnx"
: >"$T/empty.onnx"
mknpy "$T/a.npy" '<f4' '(2, 3)' 24
mknpy "$T/b.npy" '<f4' '(2, 3)' 24
mknpy "$T/a_3x2.npy" '<f4' '(3, 2)' 24
mknpy "$T/a_f64.npy" '<f8' '(2, 3)' 48
mknpy "$T/a_i32.npy" '<i4' '(2, 3)' 24
mknpy "$T/a_truncated.npy" '<f4' '(2, 3)' 10
mknpy "$T/a_badmagic.npy" '<f4' '(2, 3)' 24
printf 'X' | dd of="$T/a_badmagic.npy" bs=1 seek=1 conv=notrunc status=none
mknpy "$T/rec_h32.npy" '<f4' '(1, 3, 32, 320)' $((3 * 32 * 320 * 4))
mknpy "$T/rec_rank3.npy" '<f4' '(1, 3, 48)' $((3 * 48 * 4))
echo "not a folder" >"$T/afile"
afile_sum=$(sha256sum <"$T/afile" | cut -c1-64)

# ---- models
check "truncated ONNX (first half of the rec model)" "$T/o1" 'truncated\.onnx' 'truncat|malformed|pars|invalid|corrupt|damaged|protobuf' \
  -- run "$T/truncated.onnx" -i "$T/a.npy" -o "$T/o1"
check "random bytes named .onnx" "$T/o2" 'random\.onnx' 'truncat|malformed|pars|invalid|corrupt|damaged|protobuf|not an onnx' \
  -- run "$T/random.onnx" -i "$T/a.npy" -o "$T/o2"
check "empty model file" "$T/o3" 'empty\.onnx' 'empty|truncat|malformed|pars|invalid|no graph' \
  -- run "$T/empty.onnx" -i "$T/a.npy" -o "$T/o3"
check "nonexistent model path" "$T/o4" 'nonexistent\.onnx' 'cannot open|no such|not found|does not exist' \
  -- run "$T/nonexistent.onnx" -i "$T/a.npy" -o "$T/o4"
check "model path is a folder" "$T/o5" "$(basename "$T")" 'director|folder|not a (regular )?file|cannot read|read' \
  -- run "$T" -i "$T/a.npy" -o "$T/o5"
check "unsupported operator" "$T/o6" 'unsupported_op\.onnx' 'DoesNotExist' 'unsupported|not supported|not implemented|unknown' \
  -- run "$UNSUP" -i "$T/a.npy" -o "$T/o6"
check "inspect: truncated ONNX" "" 'truncated\.onnx' 'truncat|malformed|pars|invalid|corrupt|damaged|protobuf' \
  -- inspect "$T/truncated.onnx"

# ---- inputs that do not fit the model
check "wrong input shape (rec [1,3,32,320])" "$T/o7" 'ch_PP-OCRv4_rec_infer\.onnx|rec_h32\.npy' "(^|[^A-Za-z0-9_./-])x([^A-Za-z0-9_./-]|$)" '48' 'shape|dim' \
  -- run "$REC" -i "x=$T/rec_h32.npy" -o "$T/o7"
check "wrong input rank (rec [1,3,48])" "$T/o8" 'ch_PP-OCRv4_rec_infer\.onnx|rec_rank3\.npy' "(^|[^A-Za-z0-9_./-])x([^A-Za-z0-9_./-]|$)" 'rank|dimension|dims|shape' \
  -- run "$REC" -i "x=$T/rec_rank3.npy" -o "$T/o8"
check "wrong input shape (add2 a [3,2])" "$T/o9" 'add2\.onnx|a_3x2\.npy' "(^|[^A-Za-z0-9_./-])a([^A-Za-z0-9_./-]|$)" 'shape|dim' \
  -- run "$ADD" -i "a=$T/a_3x2.npy" -i "b=$T/b.npy" -o "$T/o9"
check "missing input (add2 given only a=)" "$T/o10" 'add2\.onnx' "(^|[^A-Za-z0-9_./-])b([^A-Za-z0-9_./-]|$)" 'missing|not given|not provided|no value|required|not bound|not set' \
  -- run "$ADD" -i "a=$T/a.npy" -o "$T/o10"
check "missing input (add2 given one unnamed input)" "$T/o11" 'add2\.onnx' '2 inputs|missing|not given|required' \
  -- run "$ADD" -i "$T/a.npy" -o "$T/o11"
check "unknown input name" "$T/o12" 'add2\.onnx|a\.npy' 'zz' 'unknown|no input|not an input|has no|does not have|not found' \
  -- run "$ADD" -i "a=$T/a.npy" -i "b=$T/b.npy" -i "zz=$T/a.npy" -o "$T/o12"
check "float64 .npy input" "$T/o13" 'add2\.onnx|a_f64\.npy' 'float64|double' 'float32' \
  -- run "$ADD" -i "a=$T/a_f64.npy" -i "b=$T/b.npy" -o "$T/o13"
check "int32 .npy input" "$T/o14" 'add2\.onnx|a_i32\.npy' 'int32' 'float32' \
  -- run "$ADD" -i "a=$T/a_i32.npy" -i "b=$T/b.npy" -o "$T/o14"

# ---- damaged inputs
check "truncated .npy" "$T/o15" 'a_truncated\.npy' 'truncat|damaged|short|bytes' \
  -- run "$ADD" -i "a=$T/a_truncated.npy" -i "b=$T/b.npy" -o "$T/o15"
check ".npy with bad magic" "$T/o16" 'a_badmagic\.npy' 'magic|not a \.?npy|not a numpy' \
  -- run "$ADD" -i "a=$T/a_badmagic.npy" -i "b=$T/b.npy" -o "$T/o16"
check "nonexistent .npy" "$T/o17" 'nonexistent\.npy' 'cannot open|no such|not found|does not exist' \
  -- run "$ADD" -i "a=$T/nonexistent.npy" -i "b=$T/b.npy" -o "$T/o17"

# ---- output folder
PRESERVE="$T/afile=$afile_sum"
check "output folder under a regular file" "" 'afile/out' 'not a director|cannot create|not a folder' \
  -- run "$ADD" -i "a=$T/a.npy" -i "b=$T/b.npy" -o "$T/afile/out"
check "output folder is an existing file" "" 'afile' 'not a folder|not a director|exists' \
  -- run "$ADD" -i "a=$T/a.npy" -i "b=$T/b.npy" -o "$T/afile"
PRESERVE=""
# A folder that exists but where nothing can be created, even by root: the model runs, writing fails.
if [ -d /proc/self ]; then
  check "unwritable output folder (/proc/self: writing fails after the run)" "" '/proc/self' 'cannot|write|creat|open|permission|denied|no such' \
    -- run "$ADD" -i "a=$T/a.npy" -i "b=$T/b.npy" -o /proc/self
fi
mkdir -p "$T/keep"
printf 'precious bytes' >"$T/keep/y.npy"
PRESERVE="$T/keep/y.npy=$(sha256sum <"$T/keep/y.npy" | cut -c1-64)"
check "existing output file untouched when the run fails" "$T/keep" 'add2\.onnx|a_f64\.npy' 'float64|double' \
  -- run "$ADD" -i "a=$T/a_f64.npy" -i "b=$T/b.npy" -o "$T/keep"
PRESERVE=""

# ---- bad options of the speed and energy commands (nothing is timed or written)
check "bench: --repeat not an integer" "" 'bench' 'repeat' 'integer' -- bench --repeat 5x
check "bench: --threads 0" "" 'bench' 'threads' -- bench --threads 0
check "bench: unknown option" "" 'bench' 'unknown option' -- bench --bogus 1
check "energy: ONNX model has no quantized layer" "" 'add2\.onnx|quantized' -- energy "$ADD"
check "quantize: --shift neither on nor off" "" 'quantize' 'shift' 'on or off' -- quantize "$ADD" --calib "$T/a.npy" --shift maybe -o "$T/never.teq"
mkdir -p "$T/qo"
check "quantize: --search neither fast nor greedy" "$T/qo" 'quantize' 'search' 'fast or greedy' \
  -- quantize "$REC" --calib "$T/a.npy" -o "$T/qo/x.teq" --search bogus
check "quantize: --pareto without a file name" "$T/qo" 'quantize' 'pareto' \
  -- quantize "$REC" --calib "$T/a.npy" -o "$T/qo/x.teq" --pareto ""
check "quantize: --val names a missing data set" "$T/qo" 'nonexistent_val' 'cannot open|no such|not found|does not exist' \
  -- quantize "$REC" --calib "$T/a.npy" -o "$T/qo/x.teq" --val "$T/nonexistent_val"
check "quantize: --search without a value" "$T/qo" 'quantize' 'search' -- quantize "$REC" --calib "$T/a.npy" -o "$T/qo/x.teq" --search
# teq export: only a .teq; the output appears whole or not at all (an earlier file keeps its bytes)
mkdir -p "$T/ex" && printf 'earlier export' >"$T/ex/keep.onnx"
PRESERVE="$T/ex/keep.onnx=$(sha256sum <"$T/ex/keep.onnx" | cut -c1-64)"
check "export: an ONNX model given as the .teq" "$T/ex" 'add2\.onnx' 'not a \.teq' -- export "$ADD" -o "$T/ex/keep.onnx"
printf 'TEQ\0\r\n\x1a\nshort' >"$T/short.teq"
check "export: a truncated .teq" "$T/ex" 'short\.teq' 'truncat' -- export "$T/short.teq" -o "$T/ex/keep.onnx"
check "export: nonexistent .teq" "$T/ex" 'nonexistent\.teq' 'cannot open|no such|not found' -- export "$T/nonexistent.teq" -o "$T/ex/keep.onnx"
check "export: no -o" "" 'export' 'usage|-o' -- export "$T/short.teq"
PRESERVE=""

# ---- IDX files (teq dataset idx), made here byte by byte: 4 images of 2x3 and their labels
be32() { printf '%b' "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)))"; }
# mkidx FILE B0 B1 TYPE NDIM DATA_BYTES DIM...: the magic bytes as given, the dimensions, DATA_BYTES bytes of 7
mkidx() {
  local file=$1 b0=$2 b1=$3 type=$4 nd=$5 nbytes=$6 d
  shift 6
  {
    printf '%b' "\\x$b0\\x$b1\\x$type\\x$nd"
    for d in "$@"; do be32 "$d"; done
    head -c "$nbytes" /dev/zero | tr '\0' '\7'
  } >"$file"
}
mkidx "$T/img.idx" 00 00 08 03 24 4 2 3
mkidx "$T/lab.idx" 00 00 08 01 4 4
gzip -c "$T/img.idx" >"$T/img.idx.gz"
mkidx "$T/img_magic.idx" 08 03 00 00 24 4 2 3
mkidx "$T/img_float.idx" 00 00 0d 03 96 4 2 3
mkidx "$T/img_short.idx" 00 00 08 03 20 4 2 3
mkidx "$T/img_long.idx" 00 00 08 03 30 4 2 3
mkidx "$T/img_side0.idx" 00 00 08 03 0 4 0 3
mkidx "$T/lab_5.idx" 00 00 08 01 5 5
head -c 30 "$T/img.idx.gz" >"$T/img_cut.idx.gz"
IDX=(dataset idx --labels "$T/lab.idx")
check "idx: bad magic" "$T/x1" 'img_magic\.idx' 'magic' -- "${IDX[@]}" --images "$T/img_magic.idx" -o "$T/x1"
check "idx: element type not unsigned byte" "$T/x2" 'img_float\.idx' 'type' -- "${IDX[@]}" --images "$T/img_float.idx" -o "$T/x2"
check "idx: labels given as images (1 dimension)" "$T/x3" 'lab\.idx' 'dimension' -- "${IDX[@]}" --images "$T/lab.idx" -o "$T/x3"
check "idx: images given as labels (3 dimensions)" "$T/x4" 'img\.idx' 'dimension' -- dataset idx --images "$T/img.idx" --labels "$T/img.idx" -o "$T/x4"
check "idx: truncated image data" "$T/x5" 'img_short\.idx' 'truncated' -- "${IDX[@]}" --images "$T/img_short.idx" -o "$T/x5"
check "idx: trailing bytes after the images" "$T/x6" 'img_long\.idx' 'trailing' -- "${IDX[@]}" --images "$T/img_long.idx" -o "$T/x6"
check "idx: truncated gzip stream" "$T/x7" 'img_cut\.idx\.gz' 'truncated|corrupt' -- "${IDX[@]}" --images "$T/img_cut.idx.gz" -o "$T/x7"
check "idx: image side 0" "$T/x8" 'img_side0\.idx' 'side' -- "${IDX[@]}" --images "$T/img_side0.idx" -o "$T/x8"
check "idx: 5 labels for 4 images" "$T/x9" 'lab_5\.idx' 'img\.idx\.gz' '5 labels' -- dataset idx --images "$T/img.idx.gz" --labels "$T/lab_5.idx" -o "$T/x9"
check "idx: --offset past the end" "$T/x10" 'img\.idx' 'offset' -- "${IDX[@]}" --images "$T/img.idx" --offset 4 -o "$T/x10"
check "idx: -n past the end" "$T/x11" 'img\.idx' '-n 3' -- "${IDX[@]}" --images "$T/img.idx" --offset 2 -n 3 -o "$T/x11"
check "idx: nonexistent images file" "$T/x12" 'nonexistent\.gz' 'cannot open|no such' -- "${IDX[@]}" --images "$T/nonexistent.gz" -o "$T/x12"
check "idx: --std 0" "$T/x13" 'dataset idx' 'std' -- "${IDX[@]}" --images "$T/img.idx" --std 0 -o "$T/x13"
check "idx: --mean not a number" "$T/x14" 'dataset idx' 'mean' -- "${IDX[@]}" --images "$T/img.idx" --mean abc -o "$T/x14"
mkdir -p "$T/x15"
printf 'earlier' >"$T/x15/inputs.npy"
PRESERVE="$T/x15/inputs.npy=$(sha256sum <"$T/x15/inputs.npy" | cut -c1-64)"
check "idx: a refused file leaves the earlier data set as it was" "$T/x15" 'img_short\.idx' 'truncated' -- "${IDX[@]}" --images "$T/img_short.idx" -o "$T/x15"
PRESERVE=""
if "$TEQ" "${IDX[@]}" --images "$T/img.idx.gz" --offset 1 -n 2 -o "$T/x16" >/dev/null 2>"$T/x16.err" &&
  [ "$(tr '\n' ' ' <"$T/x16/labels.txt")" = "7 7 " ] && grep -q '"shape": \[2, 1, 2, 3\]' "$T/x16/dataset.json"; then
  pass=$((pass + 1))
  echo "PASS idx: the same files, well formed, are accepted (2 of 4 images from offset 1)"
else
  fail=$((fail + 1))
  echo "FAIL idx: well-formed files refused or written wrong: $(head -c 300 "$T/x16.err")"
fi

# ---- hostile files, written by the test_limits program of the same build (tests/test_limits.c, which
# also checks at the API that each is refused within a second and before any large allocation). Here:
# through the CLI, within 5 s (process start included), and an earlier output file keeps its bytes.
LIMITS=$(dirname "$TEQ")/test_limits
if [ -x "$LIMITS" ] && "$LIMITS" --write "$T/lim"; then
  LIMIT_S=5
  lim_case() { # NAME FILE KEYWORD -- TEQ_ARGS (the output folder is $T/lk, holding y.npy and old.teq)
    local name=$1 file=$2 kw=$3
    shift 4
    rm -rf "$T/lk" && mkdir -p "$T/lk" && printf 'earlier output' >"$T/lk/y.npy" && printf 'earlier model' >"$T/lk/old.teq"
    PRESERVE="$T/lk/y.npy=$(sha256sum <"$T/lk/y.npy" | cut -c1-64) $T/lk/old.teq=$(sha256sum <"$T/lk/old.teq" | cut -c1-64)"
    check "$name" "$T/lk" "${file//./\.}" "$kw" -- "$@"
    PRESERVE=""
  }
  lim_case "ONNX initializer of 10^12 elements" tensor_1e12.onnx 'shape|expected' -- run "$T/lim/tensor_1e12.onnx" -i "$T/a.npy" -o "$T/lk"
  lim_case "ONNX ConstantOfShape of 10^12 elements (folded at load)" fold_1e12.onnx 'too large' -- run "$T/lim/fold_1e12.onnx" -i "$T/a.npy" -o "$T/lk"
  lim_case "ONNX graph with a cycle" cycle.onnx 'cycle' -- run "$T/lim/cycle.onnx" -i "$T/a.npy" -o "$T/lk"
  lim_case "ONNX tensor with a negative dimension" negative_dim.onnx 'negative' -- run "$T/lim/negative_dim.onnx" -i "$T/a.npy" -o "$T/lk"
  lim_case "ONNX tensor whose dimensions overflow" overflow_dim.onnx 'too large' -- run "$T/lim/overflow_dim.onnx" -i "$T/a.npy" -o "$T/lk"
  lim_case "ONNX protobuf nested 10000 levels deep" nested_10000.onnx 'nested' -- run "$T/lim/nested_10000.onnx" -i "$T/a.npy" -o "$T/lk"
  lim_case ".npy declaring 10^12 elements" npy_1e12.npy 'truncat' -- run "$ADD" -i "a=$T/lim/npy_1e12.npy" -i "b=$T/b.npy" -o "$T/lk"
  lim_case ".npy with a negative dimension" npy_negative.npy 'malformed' -- run "$ADD" -i "a=$T/lim/npy_negative.npy" -i "b=$T/b.npy" -o "$T/lk"
  lim_case ".npy whose dimensions overflow" npy_overflow.npy 'too large' -- run "$ADD" -i "a=$T/lim/npy_overflow.npy" -i "b=$T/b.npy" -o "$T/lk"
  lim_case "quantize a model with a cycle: the earlier .teq is kept" cycle.onnx 'cycle' -- quantize "$T/lim/cycle.onnx" --calib "$T/a.npy" -o "$T/lk/old.teq"
  lim_case "quantize a nested model: the earlier .teq is kept" nested_10000.onnx 'nested' -- quantize "$T/lim/nested_10000.onnx" --calib "$T/a.npy" -o "$T/lk/old.teq"
  LIMIT_S=60
else
  fail=$((fail + 1))
  echo "FAIL hostile files: $LIMITS missing or cannot write them"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
