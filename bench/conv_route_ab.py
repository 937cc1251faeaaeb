"""The convolution routes side by side per layer: direct, Winograd and im2col + GEMM (issue #7).

    python bench/conv_route_ab.py [threads=1]

Batch 64, forward and backward (weight gradient alone, and all gradients) of the small-channel layers of
Nielsen's nets and LeNet-5, the Fashion-MNIST net's 32->64 5x5 and the ResNet's 3x3 layers; each pass timed
with one route forced (``_core.conv_direct_mode`` / ``_core.conv_wino_mode``: 1 on, 0 off), the routes
alternated three times in one process; best time per route.  The automatic route (modes -1) picks per pass
and per SIMD path from such measurements (src_c/fnn_conv.c, src_c/fnn_conv_wino.c).
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo root (built in place)
import fastnn  # noqa: E402
from fastnn._ext import _core  # noqa: E402

SHAPES = {"1->20 5x5": (1, 28, 20, 5, 0), "1->6 5x5 p2": (1, 28, 6, 5, 2), "6->16 5x5": (6, 14, 16, 5, 0),
          "20->40 5x5": (20, 12, 40, 5, 0), "32->64 5x5 p2": (32, 14, 64, 5, 2), "16->16 3x3 28": (16, 28, 16, 3, 1),
          "32->32 3x3 14": (32, 14, 32, 3, 1), "64->64 3x3 7": (64, 7, 64, 3, 1)}
ROUTES = {"direct": (1, 0), "winograd": (0, 1), "im2col": (0, 0)}   # (direct mode, Winograd mode)


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
    print(f"{'layer':<14} {'pass':<22}" + "".join(f"{r:>10}" for r in ROUTES) + "   im2col / best other")
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
            for _ in range(3):
                for route, (dm, wm) in ROUTES.items():
                    _core.conv_direct_mode(dm)
                    _core.conv_wino_mode(wm)
                    for what, fn in passes.items():
                        res[route, what] = min(res.get((route, what), 1e9), best_time(fn))
        finally:
            _core.conv_direct_mode(-1)
            _core.conv_wino_mode(-1)
        for what in passes:
            t = [res[r, what] * 1e6 for r in ROUTES]
            print(f"{name:<14} {what:<22}" + "".join(f"{v:10.0f}" for v in t) + f"   {t[-1] / min(t[:-1]):8.2f}x")


if __name__ == "__main__":
    main()
