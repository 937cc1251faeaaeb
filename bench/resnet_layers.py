"""The small ResNet's convolutions one by one: fastnn vs PyTorch, forward and backward, batch 64.

    python bench/resnet_layers.py [--threads 1] [--seconds 0.3]

The layers of ``bench/cnn_table.py``'s ResNet (3 stages of 16/32/64 channels on 28x28, 3x3 convolutions, the
downsampling ones at stride 2 with 1x1 projection shortcuts), each timed alone through the binding
(``_core.conv2d_forward`` / ``conv2d_backward``, fastnn's automatic route) and through
``torch.nn.functional.conv2d`` and autograd (its backward = forward + backward minus forward).  Best of three
timings of repeated calls per pass, in microseconds, with the effective GFLOP/s of fastnn (direct-convolution
flops) and the per-step total weighted by how often the layer occurs in the network.  Says where a training
step's convolution time goes and which layers lose to PyTorch; the network table is ``cnn_table.py``.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo root (built in place)
import fastnn  # noqa: E402
from fastnn._ext import _core  # noqa: E402

# (in channels, size, out channels, kernel, stride, padding, occurrences in the network)
LAYERS = [(1, 28, 16, 3, 1, 1, 1), (16, 28, 16, 3, 1, 1, 2), (16, 28, 32, 3, 2, 1, 1), (16, 28, 32, 1, 2, 0, 1),
          (32, 14, 32, 3, 1, 1, 1), (32, 14, 64, 3, 2, 1, 1), (32, 14, 64, 1, 2, 0, 1), (64, 7, 64, 3, 1, 1, 1)]


def best_time(fn, seconds):
    best = float("inf")
    for _ in range(3):
        fn()
        t0, k = time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds:
            fn()
            k += 1
        best = min(best, (time.perf_counter() - t0) / k)
    return best * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=0.3, help="per timing (three per pass)")
    args = ap.parse_args()
    nt = args.threads
    fastnn.set_num_threads(nt)
    try:
        import torch
        import torch.nn.functional as F
        torch.set_num_threads(nt)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    print(f"# fastnn isa={fastnn.get_isa()}, {nt} thread(s), batch 64, microseconds per call (best of 3)")
    print("| layer | fastnn fwd | fastnn bwd | torch fwd | torch bwd | fastnn GF/s fwd / bwd | x in net |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    tot_f = tot_t = 0.0
    for C, H, OC, K, S, P, count in LAYERS:
        x = rng.standard_normal((64, C, H, H)).astype(np.float32)
        w = (rng.standard_normal((OC, C, K, K)) * 0.1).astype(np.float32)
        OH = (H + 2 * P - K) // S + 1
        d = rng.standard_normal((64, OC, OH, OH)).astype(np.float32)
        conv = ((S, S), (P, P), (1, 1), 1)
        need_dx = C > 1   # the stem's input gradient is never needed
        f = best_time(lambda: _core.conv2d_forward(x, w, None, *conv, n_threads=nt), args.seconds)
        b = best_time(lambda: _core.conv2d_backward(d, x, w, *conv, n_threads=nt, need_dx=need_dx, need_db=False),
                      args.seconds)
        flops = 2.0 * 64 * OC * C * K * K * OH * OH
        tf = tb = float("nan")
        if torch is not None:
            xt, wt, dt = torch.tensor(x, requires_grad=need_dx), torch.tensor(w, requires_grad=True), torch.tensor(d)

            def t_fwd():
                with torch.no_grad():
                    F.conv2d(xt, wt, None, S, P)

            def t_both():
                y = F.conv2d(xt, wt, None, S, P)
                torch.autograd.grad(y, [xt, wt] if need_dx else [wt], dt)

            tf = best_time(t_fwd, args.seconds)
            tb = best_time(t_both, args.seconds) - tf
            tot_t += count * (tf + tb)
        tot_f += count * (f + b)
        name = f"{C}->{OC} {K}x{K} s{S} {H}x{H}"
        print(f"| {name} | {f:,.0f} | {b:,.0f} | {tf:,.0f} | {tb:,.0f} | "
              f"{flops / f / 1e3:.0f} / {flops * (2 if need_dx else 1) / b / 1e3:.0f} | {count} |")
    print(f"\nper training step, all convolutions: fastnn {tot_f / 1e3:.1f} ms, PyTorch {tot_t / 1e3:.1f} ms"
          + (f" ({tot_t / tot_f:.2f}x)" if tot_t else ""))


if __name__ == "__main__":
    main()
