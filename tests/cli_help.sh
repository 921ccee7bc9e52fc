#!/usr/bin/env bash
# The CLI's help: `teq --help` lists every command; `teq COMMAND --help`, `-h` and `teq help COMMAND`
# print the same text on stdout and exit 0; that text names every option the command's parser takes
# (the lists below were read from tools/teq/cmd_*.c), and every option it names is one the parser
# takes; unknown commands and options fail with one line on stderr.
# usage: tests/cli_help.sh [TEQ_BIN]     (default build/teq; nothing is run but the parsers)
# Prints PASS/FAIL per case and `N passed, M failed`; exits 1 on any failure.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
TEQ=${1:-build/teq}

T=$(mktemp -d "${TMPDIR:-/tmp}/teq-help.XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }

# The options each command's parser accepts.
declare -A OPTS=(
  [inspect]="--report"
  [export]="-o --output"
  [run]="-i --input -o --output --threads --repeat --warmup -q --quiet"
  [quantize]="--calib -o --scheme --max-loss --bits --suite --data --keys --json --threads --calib-limit
              --search-limit --eval-limit --int8-calib --weight-scales --bias-correction --shift --rounding
              --search --val --pareto --int-lanes --int-lanes-loss"
  [analyze]="--calib --json --plots --calib-limit --threads"
  [eval]="--suite --data --reference --keys --json --limit --threads --perturb --seed"
  [dataset]="--text --font -n --seed -o --width --height --keys --kind --images --labels --mean --std --offset"
  [bench]="--json --models --repeat --threads --quick"
  [energy]="--input --shape --limit --seed --table --zero-skip --final --json --threads"
  [version]=""
)
COMMANDS="inspect run quantize export analyze eval dataset bench energy version"

# run_teq NAME ARGS...: stdout, stderr and the exit status in $T/out, $T/err, $rc
run_teq() {
  timeout -k 5 30 "$TEQ" "$@" >"$T/out" 2>"$T/err"
  rc=$?
}

# ---- the list
run_teq --help
cp "$T/out" "$T/help"
if [ $rc -eq 0 ] && [ ! -s "$T/err" ]; then ok "teq --help: exit 0, nothing on stderr"
else bad "teq --help" "exit $rc, stderr: $(head -c 200 "$T/err")"; fi
listed=$(sed -n '/^commands:/,/^$/p' "$T/help" | awk 'NR > 1 && NF {print $1}' | paste -sd' ' -)
if [ "$listed" = "$COMMANDS" ]; then ok "teq --help lists the nine commands"
else bad "teq --help lists" "'$listed', want '$COMMANDS'"; fi
no_summary=$(sed -n '/^commands:/,/^$/p' "$T/help" | awk 'NR > 1 && NF && NF < 3 {print $1}' | paste -sd' ' -)
if [ -z "$no_summary" ]; then ok "every command has a one-line summary"; else bad "summaries" "none for: $no_summary"; fi
for form in "help" "-h"; do
  run_teq $form
  if [ $rc -eq 0 ] && cmp -s "$T/out" "$T/help"; then ok "teq $form == teq --help"
  else bad "teq $form" "exit $rc or a different text"; fi
done
run_teq
if [ $rc -ne 0 ] && [ ! -s "$T/out" ] && grep -q '^commands:' "$T/err"; then ok "teq without a command: the list on stderr, exit $rc"
else bad "teq without a command" "exit $rc"; fi

# ---- each command's help
for c in $COMMANDS; do
  run_teq "$c" --help
  cp "$T/out" "$T/help_$c"
  if [ $rc -eq 0 ] && [ ! -s "$T/err" ] && head -n 1 "$T/out" | grep -q "^usage: teq $c\b"; then
    ok "teq $c --help: exit 0, starts with its usage"
  else
    bad "teq $c --help" "exit $rc, first line '$(head -n 1 "$T/out")', stderr '$(head -c 200 "$T/err")'"
  fi
  for form in "$c -h" "help $c"; do
    # shellcheck disable=SC2086
    run_teq $form
    if [ $rc -eq 0 ] && cmp -s "$T/out" "$T/help_$c"; then ok "teq $form == teq $c --help"
    else bad "teq $form" "exit $rc or a different text"; fi
  done
  # --help after other arguments still answers with the help (nothing runs)
  run_teq "$c" some_model.onnx --help
  if [ $rc -eq 0 ] && cmp -s "$T/out" "$T/help_$c"; then ok "teq $c ARG --help == teq $c --help"
  else bad "teq $c ARG --help" "exit $rc or a different text"; fi
  # every option of the parser is in the help, as an entry (a line indented by two spaces)
  missing=()
  for o in ${OPTS[$c]}; do
    grep -qE -- "^  (-[-a-z0-9]+[^ ]*, )*$o( |,|$)" "$T/help_$c" || missing+=("$o")
  done
  if [ ${#missing[@]} -eq 0 ]; then ok "teq $c --help names its $(echo ${OPTS[$c]} | wc -w) options"
  else bad "teq $c --help" "does not name: ${missing[*]}"; fi
  # every option the help names is one the parser takes: given with a value when its entry shows one,
  # then an unknown option, the parser must stop at the unknown one (no work is done before parsing ends)
  kinds=("")
  [ "$c" = dataset ] && kinds=(ocr-lines idx)
  while IFS= read -r entry; do
    tag=${entry%%  *}
    val=""
    case $tag in *" "*) val=1 ;; esac
    for o in $(echo "${tag%% [!-]*}" | tr ',' ' '); do
      accepted=0
      for k in "${kinds[@]}"; do
        # shellcheck disable=SC2086
        run_teq "$c" $k "$o" $val --zz-not-an-option
        [ $rc -ne 0 ] && grep -q -- "--zz-not-an-option" "$T/err" && accepted=1
      done
      if [ $accepted = 1 ]; then ok "teq $c takes $o, as its help says"
      else bad "teq $c $o${val:+ 1}" "not taken by the parser: $(head -c 200 "$T/err")"; fi
    done
  done < <(sed -n '/^options/,/^$/p' "$T/help_$c" | grep -E '^  -')
done

# ---- errors: one line on stderr, non-zero exit
# expect_error NAME REGEX -- ARGS...
expect_error() {
  local name=$1 re=$2
  shift 3
  run_teq "$@"
  local lines
  lines=$(grep -c '' "$T/err")
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && [ "$lines" -eq 1 ] && grep -qE -- "$re" "$T/err"; then ok "$name: exit $rc, $(cat "$T/err")"
  else bad "$name" "exit $rc, $lines lines on stderr, want one matching /$re/: $(head -c 300 "$T/err")"; fi
}
expect_error "teq help NOSUCH" "unknown command 'nosuch'" -- help nosuch
expect_error "teq help run run" "one command" -- help run run
expect_error "teq NOSUCH" "unknown command 'nosuch'" -- nosuch
for c in $COMMANDS; do
  if [ "$c" = dataset ]; then
    expect_error "teq dataset ocr-lines --bogus" "unknown option '--bogus'" -- dataset ocr-lines --bogus
    expect_error "teq dataset idx --bogus" "unknown option '--bogus'" -- dataset idx --bogus
    expect_error "teq dataset --bogus" "unknown kind '--bogus'" -- dataset --bogus
  else
    expect_error "teq $c --bogus" "unknown.*option.*--bogus" -- "$c" --bogus
  fi
done
expect_error "teq run without -o" "required" -- run m.onnx -i x.npy
expect_error "teq inspect without MODEL" "missing argument" -- inspect

# teq version's BLAS line (src/ops/blas.c). A user's OPENBLAS_CORETYPE decides; without it, OpenBLAS's
# kernels use AVX2 wherever the CPU has AVX2 and FMA (teq has OpenBLAS choose again where its table is
# older than the CPU: Debian's 0.3.21 named an Emerald Rapids Xeon "Prescott", SSE3 kernels).
v=$(OPENBLAS_CORETYPE=Prescott "$TEQ" version | sed -n 2p)
[ "$v" = "BLAS: OpenBLAS Prescott" ] && ok "version: OPENBLAS_CORETYPE=Prescott is kept ($v)" ||
  bad "version: OPENBLAS_CORETYPE=Prescott" "got '$v'"
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
  v=$(env -u OPENBLAS_CORETYPE "$TEQ" version | sed -n 2p)
  case "$v" in
  "BLAS: OpenBLAS "Haswell* | "BLAS: OpenBLAS "Zen* | "BLAS: OpenBLAS "SkylakeX* | "BLAS: OpenBLAS "Cooperlake* | \
    "BLAS: OpenBLAS "SapphireRapids* | "BLAS: OpenBLAS "Excavator*) ok "version: AVX2 kernels on an AVX2 CPU ($v)" ;;
  *) bad "version: AVX2 kernels on an AVX2 CPU" "got '$v'" ;;
  esac
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
