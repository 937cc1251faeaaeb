"""Direct route vs im2col + GEMM route for the small-channel convolutions of issue #7, per layer.

    python bench/conv_route_ab.py [threads=1]

Batch 64, forward and backward (input and weight gradient) of 1->20 5x5 (Nielsen), 1->6 5x5 pad 2 and
6->16 5x5 (LeNet-5), 20->40 5x5 (Nielsen's second layer), each pass timed with the direct route forced on
(``_core.conv_direct_mode(1)``) and off (0), alternated three times in one process; best time per route.
The automatic route (mode -1) picks per pass and per SIMD path from such measurements (src_c/fnn_conv.c).
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo root (built in place)
import fastnn  # noqa: E402
from fastnn._ext import _core  # noqa: E402

SHAPES = {"1->20 5x5": (1, 28, 20, 5, 0), "1->6 5x5 p2": (1, 28, 6, 5, 2), "6->16 5x5": (6, 14, 16, 5, 0),
          "20->40 5x5": (20, 12, 40, 5, 0)}


def best_time(fn, seconds=0.3):
    fn()
    t0, k = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        fn()
        k += 1
    return (time.perf_counter() - t0) / k


def main():
    nt = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    rng = np.random.default_rng(0)
    print(f"# fastnn isa={fastnn.get_isa()}, {nt} thread(s), batch 64; microseconds per call, best of 3")
    print(f"{'layer':<12} {'pass':<22} {'direct':>8} {'im2col':>8} {'im2col/direct':>14}")
    for name, (C, H, OC, K, P) in SHAPES.items():
        x = rng.standard_normal((64, C, H, H)).astype(np.float32)
        w = (rng.standard_normal((OC, C, K, K)) * 0.1).astype(np.float32)
        b = np.zeros(OC, np.float32)
        OH = H + 2 * P - K + 1
        dout = rng.standard_normal((64, OC, OH, OH)).astype(np.float32)
        conv = ((1, 1), (P, P), (1, 1), 1)
        passes = {
            "forward": lambda: _core.conv2d_forward(x, w, b, *conv, n_threads=nt),
            "weight+bias gradient": lambda: _core.conv2d_backward(dout, x, w, *conv, n_threads=nt, need_dx=False),
            "all gradients": lambda: _core.conv2d_backward(dout, x, w, *conv, n_threads=nt),
        }
        res = {}
        try:
            for mode in (1, 0) * 3:
                _core.conv_direct_mode(mode)
                for what, fn in passes.items():
                    res[mode, what] = min(res.get((mode, what), 1e9), best_time(fn))
        finally:
            _core.conv_direct_mode(-1)
        for what in passes:
            d, g = res[1, what] * 1e6, res[0, what] * 1e6
            print(f"{name:<12} {what:<22} {d:8.0f} {g:8.0f} {g / d:13.2f}x")


if __name__ == "__main__":
    main()
