#!/usr/bin/env bash
# The installed copy: `make install PREFIX=<temp>` from the build folder, then a small C program written
# here is compiled against the installed header and libraries through pkg-config (once against
# libteq.so, once statically against libteq.a with `pkg-config --static`), run on a zero input of the
# model's declared shape, and its output compared byte for byte with the installed CLI's `teq run`;
# libteq.so must export exactly the functions include/teq.h declares; the man page must be there and
# render; `make uninstall` must leave no file under the prefix.
# usage: tests/install.sh [BUILD]     (default build; it reconfigures BUILD for the temporary prefix,
#                                      so BUILD/install_manifest.txt lists the temporary install after)
# Prints PASS/FAIL per check and `N passed, M failed`; exits 1 on any failure.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BUILD=${1:-build}
MODEL=models/fmnist_resnet.onnx

T=$(mktemp -d "${TMPDIR:-/tmp}/teq-install.XXXXXX")
trap 'rm -rf "$T"' EXIT
P=$T/prefix
pass=0
fail=0

# ok NAME / bad NAME WHY
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit $?
}

# ---- install
if make --no-print-directory install BUILD="$BUILD" PREFIX="$P" >"$T/install.log" 2>&1; then
  ok "make install PREFIX=$P"
else
  bad "make install" "exit status $? ($(tail -n 3 "$T/install.log" | tr '\n' ' '))"
  finish
fi
missing=()
for f in include/teq.h lib/libteq.a lib/libteq.so bin/teq lib/pkgconfig/teq.pc share/man/man1/teq.1; do
  [ -f "$P/$f" ] || missing+=("$f")
done
if [ ${#missing[@]} -eq 0 ]; then ok "installed: header, libteq.a, libteq.so, teq, teq.pc, teq.1"
else bad "installed files" "missing ${missing[*]}"; fi
SO=$(readlink -f "$P/lib/libteq.so")
if [ -n "$SO" ] && readelf -d "$SO" | grep -q 'SONAME.*libteq\.so\.[0-9]'; then ok "libteq.so has a versioned SONAME"
else bad "libteq.so SONAME" "$(readelf -d "$SO" 2>&1 | grep SONAME)"; fi

# ---- exported symbols: exactly the functions teq.h declares. The declarations are read from the
# preprocessed header (comments and macros gone: a function is a teq_ name followed by '('), so a
# function declared without TEQ_API shows up as missing from libteq.so.
cc -E -P "$P/include/teq.h" | grep -oE '\bteq_[a-z0-9_]+[[:space:]]*\(' | tr -d ' (' | sort -u >"$T/declared"
nm -D --defined-only "$P/lib/libteq.so" | awk '{print $NF}' | sort -u >"$T/exported"
n_decl=$(grep -c '' "$T/declared")
extra=$(comm -13 "$T/declared" "$T/exported" | tr '\n' ' ')
absent=$(comm -23 "$T/declared" "$T/exported" | tr '\n' ' ')
if [ "$n_decl" -gt 0 ] && [ -z "$extra" ] && [ -z "$absent" ]; then
  ok "libteq.so exports exactly the $n_decl functions of teq.h"
else
  bad "libteq.so exports" "declared $n_decl; exported but not declared: [${extra}]; declared but not exported: [${absent}]"
fi

# ---- a program against the installed copy, through pkg-config
export PKG_CONFIG_PATH=$P/lib/pkgconfig
cat >"$T/prog.c" <<'EOF'
/* Runs MODEL on a zero input of its declared shape (dynamic dims 1), writes the first output to OUT.npy. */
#include <stdio.h>
#include <teq.h>
int main(int argc, char **argv) {
    teq_error e;
    teq_model *m = NULL;
    teq_tensor *x = NULL, *y = NULL;
    teq_io_info in, out;
    int64_t dims[TEQ_MAX_DIMS];
    if (argc != 3 || teq_model_load(argv[1], &m, &e) || teq_model_input_info(m, 0, &in)) return 2;
    for (int d = 0; d < in.ndim; d++) dims[d] = in.dims[d] > 0 ? in.dims[d] : 1;
    if (teq_tensor_create(in.dtype, in.ndim, dims, &x, &e) || teq_model_run(m, 1, NULL, (const teq_tensor *const *)&x, &y, &e) ||
        teq_npy_write(argv[2], y, &e))
        return fprintf(stderr, "prog: %s\n", e.msg), 1;
    const float *v = y->data;
    int64_t best = 0;
    for (int64_t i = 1; i < teq_tensor_numel(y); i++) best = v[i] > v[best] ? i : best;
    teq_model_output_info(m, 0, &out);
    printf("%s [", out.name);
    for (int d = 0; d < y->ndim; d++) printf(d ? ", %lld" : "%lld", (long long)y->dims[d]);
    printf("] argmax %lld\n", (long long)best);
    teq_tensor_free(x), teq_tensor_free(y), teq_model_free(m);
    return 0;
}
EOF
CFLAGS_TEQ=$(pkg-config --cflags teq) && LIBS_TEQ=$(pkg-config --libs teq)
# shellcheck disable=SC2086
if cc -std=c11 -Wall -Wextra -pedantic -Werror -o "$T/prog" "$T/prog.c" $CFLAGS_TEQ $LIBS_TEQ 2>"$T/cc.log"; then
  ok "cc prog.c \$(pkg-config --cflags --libs teq)"
else
  bad "compile against the installed copy" "$(head -n 5 "$T/cc.log" | tr '\n' ' ')"
fi
if readelf -d "$T/prog" 2>/dev/null | grep -q 'NEEDED.*libteq\.so'; then ok "prog links libteq.so"
else bad "prog links libteq.so" "no NEEDED libteq.so"; fi
# The static link: libteq.a by name, and the rest of what `pkg-config --static` lists (Libs.private).
STATIC_LIBS=$(pkg-config --static --libs teq | sed 's/\(^\| \)-lteq\( \|$\)/\1-l:libteq.a\2/')
# shellcheck disable=SC2086
if cc -std=c11 -o "$T/prog_static" "$T/prog.c" $CFLAGS_TEQ $STATIC_LIBS 2>"$T/cc_static.log"; then
  ok "cc prog.c against libteq.a with \$(pkg-config --static --libs teq)"
else
  bad "static link" "$(head -n 5 "$T/cc_static.log" | tr '\n' ' ')"
fi
if [ -x "$T/prog_static" ] && ! readelf -d "$T/prog_static" | grep -q 'NEEDED.*libteq'; then ok "prog_static needs no libteq.so"
else bad "prog_static" "not built, or it needs libteq.so"; fi

# The reference: the installed CLI on the same zero input (shape from `teq inspect`, dynamic dims 1).
# A .npy 1.0 of zero bytes, as tests/bad_input.sh makes them.
mknpy() {
  local file=$1 shape=$2 nbytes=$3
  local dict="{'descr': '<f4', 'fortran_order': False, 'shape': $shape, }"
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
"$P/bin/teq" inspect "$MODEL" >"$T/inspect.txt"
in_dims=$(sed -n '/^inputs:/{n;p;}' "$T/inspect.txt" | sed 's/.*\[\(.*\)\].*/\1/' | tr -d ' ' | tr ',' '\n' |
  sed 's/^[^0-9].*$/1/' | paste -sd, -)
out_line=$(sed -n '/^outputs:/{n;p;}' "$T/inspect.txt")
out_name=$(echo "$out_line" | awk '{print $1}')
numel=$((${in_dims//,/*}))
mknpy "$T/zeros.npy" "($in_dims)" $((numel * 4))
"$P/bin/teq" run "$MODEL" -i "$T/zeros.npy" -o "$T/ref" -q || bad "installed teq run" "exit status $?"

# want: "<output> [<dims>] argmax K" with the output's declared dims, dynamic ones 1
out_dims=$(echo "$out_line" | sed 's/.*\[\(.*\)\].*/\1/' | tr -d ' ' | tr ',' '\n' | sed 's/^[^0-9].*$/1/' | paste -sd, - |
  sed 's/,/, /g')
for prog in prog prog_static; do
  [ -x "$T/$prog" ] || { bad "$prog runs" "not built"; continue; }
  got=$(LD_LIBRARY_PATH=$P/lib "$T/$prog" "$MODEL" "$T/$prog.npy" 2>"$T/$prog.err")
  rc=$?
  if [ $rc -eq 0 ] && echo "$got" | grep -qE "^$out_name \[$out_dims\] argmax [0-9]+$"; then ok "$prog: $got"
  else bad "$prog runs" "exit $rc, printed '$got', want '$out_name [$out_dims] argmax K' ($(head -c 300 "$T/$prog.err"))"; fi
  if cmp -s "$T/$prog.npy" "$T/ref/$out_name.npy"; then ok "$prog's output equals the installed teq run's, byte for byte"
  else bad "$prog's output" "differs from teq run's ($T/ref/$out_name.npy)"; fi
done

# ---- the man page: every command has its part, and it renders without a warning
missing=()
for c in $("$P/bin/teq" --help | sed -n '/^commands:/,/^$/p' | awk 'NR > 1 && NF {print $1}'); do
  grep -q "^\.SS \"teq $c\"" "$P/share/man/man1/teq.1" || missing+=("$c")
done
if [ ${#missing[@]} -eq 0 ]; then ok "teq.1 has a part for every command of teq --help"
else bad "teq.1" "no part for: ${missing[*]}"; fi
if command -v groff >/dev/null; then
  warn=$(groff -man -Tutf8 -ww -z "$P/share/man/man1/teq.1" 2>&1)
  if [ -z "$warn" ] && groff -man -Tascii -P-cbou "$P/share/man/man1/teq.1" 2>/dev/null | grep -q -- '--calib-limit N'; then
    ok "teq.1 renders without a warning (groff -man -ww) and shows the options"
  else
    bad "teq.1 renders" "${warn:-the rendered page lacks --calib-limit}"
  fi
else
  echo "SKIP rendering teq.1: no groff (apt package groff-base)"
fi

# ---- uninstall
if make --no-print-directory uninstall BUILD="$BUILD" PREFIX="$P" >"$T/uninstall.log" 2>&1; then ok "make uninstall"
else bad "make uninstall" "exit status $? ($(tail -n 2 "$T/uninstall.log" | tr '\n' ' '))"; fi
left=$(find "$P" \( -type f -o -type l \) | sed "s|^$P/||" | tr '\n' ' ')
if [ -z "$left" ]; then ok "no file left under the prefix"; else bad "uninstall" "left: $left"; fi
finish
