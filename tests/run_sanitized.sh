#!/usr/bin/env bash
# Run the test suite against an AddressSanitizer + UBSan build of the C core (in a scratch clone, so the
# working tree's normal build is untouched).  Usage: tests/run_sanitized.sh [pytest args]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$src" ls-files -z | (cd "$src" && xargs -0 cp --parents -t "$work")
cd "$work"
FASTNN_SANITIZE=1 python setup.py -q build_ext --inplace -j "$(nproc)" >/dev/null
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
python -m pytest -q -p no:cacheprovider tests -m "not slow" "$@"
