"""Batch-norm kernels alone: training forward and backward through the Python binding, on the BatchNorm2d shapes
of the small ResNet of cnn_table.py (batch 64), in GB/s of the arrays streamed and microseconds per call.

    python bench/bn_table.py                       # 1 thread, the three ResNet shapes
    python bench/bn_table.py --threads 2 --repeat 400

Run from the repository root or anywhere: the repository this file lives in is imported first.  Columns:
``fwd`` bn_forward_train (relu=False), ``bwd`` bn_backward, ``bwd+relu`` the backward with the ReLU mask folded
in (bn_backward(..., relu_y=y), when the build has it; else the ReLU backward in numpy is not timed, n/a).
Each number is the fastest of ``--repeat`` calls after a warm-up (on a shared, noisy machine the least disturbed
call estimates the kernel's cost best).  The binding allocates its outputs, which the engine's calls do not;
keep that allocation off the timing with glibc's tunables, so freed arrays are reused instead of faulted in anew:

    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824 \
        python bench/bn_table.py
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fastnn  # noqa: E402
from fastnn._ext import _core  # noqa: E402

SHAPES = [(64, 16, 28, 28), (64, 32, 14, 14), (64, 64, 7, 7)]


def best_us(fn, repeat):
    for _ in range(max(3, repeat // 10)):
        fn()
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return 1e6 * min(t)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()
    nt = args.threads
    rng = np.random.default_rng(0)
    print(f"{fastnn.__file__}: isa {fastnn.get_isa()}, {nt} thread(s), best of {args.repeat} calls")
    print("| shape | fwd us | fwd GB/s | bwd us | bwd GB/s | bwd+relu us |")
    print("|---|---:|---:|---:|---:|---:|")
    for shape in SHAPES:
        c = shape[1]
        x = (rng.uniform(-2, 2, (1, c, 1, 1)) + rng.standard_normal(shape)).astype(np.float32)
        gamma = rng.uniform(0.5, 1.5, c).astype(np.float32)
        beta = rng.standard_normal(c).astype(np.float32)
        rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
        dy = rng.standard_normal(shape).astype(np.float32)
        y, mean, invstd = _core.bn_forward_train(x, gamma, beta, rm, rv, 0.1, 1e-5, n_threads=nt)
        t_f = best_us(lambda: _core.bn_forward_train(x, gamma, beta, rm, rv, 0.1, 1e-5, n_threads=nt),
                        args.repeat)
        t_b = best_us(lambda: _core.bn_backward(dy, x, mean, invstd, gamma, n_threads=nt), args.repeat)
        yr = np.maximum(y, np.float32(0))
        try:
            _core.bn_backward(dy, x, mean, invstd, gamma, n_threads=nt, relu_y=yr)
            t_r = best_us(lambda: _core.bn_backward(dy, x, mean, invstd, gamma, n_threads=nt, relu_y=yr),
                            args.repeat)
            t_r = f"{t_r:.0f}"
        except TypeError:
            t_r = "n/a"
        nb = x.nbytes
        # bytes streamed: forward reads x (statistics), reads x and writes y; backward reads x and dy twice
        # (sums, then dx) and writes dx
        print(f"| {'x'.join(map(str, shape))} | {t_f:.0f} | {3 * nb / t_f / 1e3:.1f} | {t_b:.0f} | "
              f"{5 * nb / t_b / 1e3:.1f} | {t_r} |")


if __name__ == "__main__":
    main()
