"""The SGEMM's two orientations side by side: C = op(A) @ op(B) forced, C^T = op(B)^T @ op(A)^T forced (the
transposed-store kernels; AVX2 only), and the per-shape choice, on the shapes of bench/gemm_table.py.

    python bench/gemm_orient_ab.py                # 1 thread, 7 rounds
    python bench/gemm_orient_ab.py --threads 2 --rounds 15

The three variants are interleaved in one process (round after round, each a loop of ~50 ms), and the best
of the rounds is kept for each: on a shared, noisy host this compares them under the same conditions, where
separate processes drift 5-15% apart.  Every variant computes bitwise the same C (tests/test_gemm.py).
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo root (built in place)
import fastnn  # noqa: E402
from fastnn import ops  # noqa: E402
from fastnn._ext import _core  # noqa: E402

from gemm_table import EXTRA_SHAPES, NN_SHAPES, label  # noqa: E402

MODES = (("C = A B", 0), ("C^T = B^T A^T", 1), ("chosen", -1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=0.05, help="length of one timed loop")
    args = ap.parse_args(argv)
    if fastnn.get_isa() != "avx2":
        print(f"note: isa={fastnn.get_isa()}: only AVX2 has the transposed-store kernels, every variant below is "
              "the same code")
    fastnn.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"# fastnn isa={fastnn.get_isa()}, {args.threads} thread(s); GFLOP/s, best of {args.rounds} interleaved rounds")
    print(f"{'shape (M x K x N)':22s} " + " ".join(f"{name:>14s}" for name, _ in MODES) + "   C^T / C")
    old = _core.gemm_orient_mode()
    try:
        for m, k, n, ta, tb in NN_SHAPES + EXTRA_SHAPES:
            a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
            b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
            c = np.empty((m, n), np.float32)
            flops = 2.0 * m * n * k
            ops.gemm(a, b, c, trans_a=ta, trans_b=tb)
            t0 = time.perf_counter()
            ops.gemm(a, b, c, trans_a=ta, trans_b=tb)
            reps = max(1, int(args.seconds / max(time.perf_counter() - t0, 1e-7)))
            best = {mode: 0.0 for _, mode in MODES}
            for _ in range(args.rounds):
                for _, mode in MODES:
                    _core.gemm_orient_mode(mode)
                    ops.gemm(a, b, c, trans_a=ta, trans_b=tb)
                    t0 = time.perf_counter()
                    for _ in range(reps):
                        ops.gemm(a, b, c, trans_a=ta, trans_b=tb)
                    best[mode] = max(best[mode], flops * reps / (time.perf_counter() - t0) / 1e9)
            print(f"{label(m, k, n, ta, tb):22s} " + " ".join(f"{best[mode]:14.1f}" for _, mode in MODES)
                  + f"   {best[1] / best[0]:7.3f}")
    finally:
        _core.gemm_orient_mode(old)


if __name__ == "__main__":
    main()
