#!/usr/bin/env bash
# One prepared measurement run on a quiet many-core machine (the device tool's 16-core host): builds in place,
# then the side-by-side tables whose 2-thread columns the shared 2-core development machine cannot measure.
# Usage: OUT=<dir> bash bench/device_run.sh [1|2|all]   (part 1: build, MLP training, GEMM scaling; part 2:
# GEMM network shapes, CNN training; each step has its own time limit; results land in $OUT)
set -uo pipefail
OUT=${OUT:-/tmp/fastnn-device}
mkdir -p "$OUT"
PY=${PY:-python3}
step() { local name=$1 limit=$2; shift 2; echo "== $name ($(date +%T))"; timeout "$limit" "$@" > "$OUT/$name.md" 2> "$OUT/$name.err"; echo "rc=$?"; tail -3 "$OUT/$name.err"; }
{ lscpu | grep -E "Model name|^CPU\(s\)|Thread|Core|Socket|L1d|L2|L3|Flags" | cut -c1-200; nproc
  $PY -c "import sys, numpy, torch, sklearn; print(sys.version.split()[0], 'numpy', numpy.__version__, 'torch', torch.__version__, 'sklearn', sklearn.__version__)"
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"
PART=${1:-all}
$PY setup.py build_ext --inplace -j "$(nproc)" > "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
$PY -c "import fastnn; fastnn.show_config()" | tee -a "$OUT/machine.txt"
export OMP_PROC_BIND=close OMP_PLACES=cores
if [ "$PART" != 2 ]; then
  step train 300 $PY bench/train_table.py --threads 1,2 --repeats 1 --max-epoch-s 1.5 -q
  step gemm_mlp 90 $PY bench/gemm_table.py --mlp --threads 1,2,4,8,16 --samples 3
fi
if [ "$PART" != 1 ]; then
  step gemm_nn 120 $PY bench/gemm_table.py --nn --threads 1,2 --samples 3
  step cnn 180 $PY bench/cnn_table.py --threads 1,2 --batches 20
fi
echo "done $(date +%T)"
