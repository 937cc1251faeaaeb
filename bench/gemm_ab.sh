#!/usr/bin/env bash
# Builds bench/gemm_ab.c twice: /tmp/fnn_gemm_ab (or $AB_OUT) with git revision REV's SGEMM driver and x86
# kernels (src_c/fnn_gemm.c, fnn_gemm_avx2.c, fnn_gemm_avx512.c, fnn_gemm_generic.c and their headers) as
# "old" and the working tree's as "new"; and $AB_OUT.rev with the roles swapped (the working tree as "old", REV
# as "new").
# Usage: bash bench/gemm_ab.sh [REV=HEAD]; then python bench/gemm_ab_pair.py (both builds, the slot bias
# cancelled) or one binary alone (see bench/gemm_ab.c).
set -euo pipefail
REV=${1:-HEAD}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${AB_OUT:-/tmp/fnn_gemm_ab}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
GEMM_FILES="fnn_gemm.c fnn_gemm_avx2.c fnn_gemm_avx512.c fnn_gemm_generic.c fnn_gemm_kernels.h fnn_gemm_avx512.h"
mkdir -p "$TMP/rev" "$TMP/tree"
cp "$ROOT"/src_c/*.c "$ROOT"/src_c/*.h "$TMP/tree/"
cp "$ROOT"/src_c/*.c "$ROOT"/src_c/*.h "$TMP/rev/"
for f in $GEMM_FILES; do
    git -C "$ROOT" show "$REV:src_c/$f" > "$TMP/rev/$f"
done
CC=${CC:-gcc}
FLAGS="-std=gnu11 -O3 -fopenmp"
RENAME="-Dfnn_sgemm=old_sgemm -Dfnn_sgemm_ep=old_sgemm_ep -Dfnn_gemm_tile_epilogue=old_tile_epilogue
        -Dfnn_gemm_orient_mode=old_orient_mode -Dfnn_gemm_arch_avx2=old_arch_avx2
        -Dfnn_gemm_arch_generic=old_arch_generic -Dfnn_gemm_arch_avx512=old_arch_avx512"
# build OLD_DIR NEW_DIR BINARY: OLD_DIR's GEMM files renamed old_*, linked with all of NEW_DIR's sources
build() {
    mkdir -p "$TMP/obj"
    rm -f "$TMP"/obj/*.o
    for f in fnn_gemm fnn_gemm_avx2 fnn_gemm_avx512 fnn_gemm_generic; do
        # shellcheck disable=SC2086
        $CC $FLAGS -I"$1" $RENAME -c "$1/$f.c" -o "$TMP/obj/$f.o"
    done
    # shellcheck disable=SC2046
    $CC $FLAGS -I"$2" "$ROOT/bench/gemm_ab.c" "$TMP"/obj/*.o $(ls "$2"/*.c | grep -v naive) -lm -o "$3"
}
build "$TMP/rev" "$TMP/tree" "$OUT"
build "$TMP/tree" "$TMP/rev" "$OUT.rev"
echo "built $OUT: old = $REV, new = the working tree; $OUT.rev: old = the working tree, new = $REV"
