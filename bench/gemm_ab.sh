#!/usr/bin/env bash
# Builds bench/gemm_ab.c into /tmp/fnn_gemm_ab (or $AB_OUT): git revision REV's SGEMM driver and x86 kernels
# (src_c/fnn_gemm.c, fnn_gemm_avx2.c, fnn_gemm_generic.c, fnn_gemm_kernels.h) as "old", the working tree's as
# "new", in one binary.  Usage: bash bench/gemm_ab.sh [REV=HEAD]; then see bench/gemm_ab.c.
set -euo pipefail
REV=${1:-HEAD}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${AB_OUT:-/tmp/fnn_gemm_ab}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for f in fnn_gemm.c fnn_gemm_avx2.c fnn_gemm_generic.c fnn_gemm_kernels.h; do
    git -C "$ROOT" show "$REV:src_c/$f" > "$TMP/$f"
done
CC=${CC:-gcc}
FLAGS="-std=gnu11 -O3 -fopenmp"
RENAME="-Dfnn_sgemm=old_sgemm -Dfnn_sgemm_ep=old_sgemm_ep -Dfnn_gemm_tile_epilogue=old_tile_epilogue
        -Dfnn_gemm_orient_mode=old_orient_mode -Dfnn_gemm_arch_avx2=old_arch_avx2
        -Dfnn_gemm_arch_generic=old_arch_generic"
for f in fnn_gemm fnn_gemm_avx2 fnn_gemm_generic; do
    # shellcheck disable=SC2086
    $CC $FLAGS -I"$TMP" -I"$ROOT/src_c" $RENAME -c "$TMP/$f.c" -o "$TMP/$f.o"
done
# shellcheck disable=SC2046
$CC $FLAGS -I"$ROOT/src_c" "$ROOT/bench/gemm_ab.c" "$TMP"/*.o \
    $(ls "$ROOT"/src_c/*.c | grep -v naive) -lm -o "$OUT"
echo "built $OUT: old = $REV, new = the working tree"
