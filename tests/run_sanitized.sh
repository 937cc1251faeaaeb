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
# reports go to files: pytest captures the test's stderr, and a halted process would take the report with it
export ASAN_OPTIONS=detect_leaks=0:log_path="$work/sanitizer" UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path="$work/sanitizer"
status=0
python -m pytest -q -p no:cacheprovider tests -m "not slow" "$@" || status=$?
if compgen -G "$work/sanitizer.*" > /dev/null; then
    echo "sanitizer reports:" >&2
    cat "$work"/sanitizer.* >&2
    status=1
fi
exit $status
