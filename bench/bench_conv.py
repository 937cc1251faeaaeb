"""Conv2d forward + backward speed, fastnn vs PyTorch, on the convolution layers of issue #7's networks, batch 64.

    python bench/bench_conv.py [--threads 1 2] [--repeat 20]        # the side-by-side table
    pytest bench/bench_conv.py --benchmark-only                     # pytest-benchmark groups per layer/threads

One step = forward, then the weight, bias and (except for a first layer, whose input needs no gradient) input
gradients, as in training.  Both libraries are pinned to the same thread count (fastnn.set_num_threads /
torch.set_num_threads).  GFLOP/s counts 2*MACs for the forward and for each gradient computed (dw, dx).
"""
import argparse
import time

import numpy as np

import fastnn
from fastnn._ext import _core

BATCH = 64
# name: (C, OC, K, padding, H) -- stride 1, square inputs, NCHW
LAYERS = {
    "conv1-20 5x5 28x28": (1, 20, 5, 0, 28),
    "conv20-40 5x5 12x12": (20, 40, 5, 0, 12),
    "conv1-32 5x5 p2 28x28": (1, 32, 5, 2, 28),
    "conv32-64 5x5 p2 14x14": (32, 64, 5, 2, 14),
    "conv16-16 3x3 p1 28x28": (16, 16, 3, 1, 28),
    "conv1-6 5x5 p2 28x28": (1, 6, 5, 2, 28),       # LeNet-5
    "conv6-16 5x5 14x14": (6, 16, 5, 0, 14),
}


def make(layer, batch=BATCH, seed=0):
    c, oc, k, p, h = LAYERS[layer]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, c, h, h)).astype(np.float32)
    w = (rng.standard_normal((oc, c, k, k)) / np.sqrt(c * k * k)).astype(np.float32)
    b = rng.standard_normal(oc).astype(np.float32)
    oh = h + 2 * p - k + 1
    dout = rng.standard_normal((batch, oc, oh, oh)).astype(np.float32)
    return x, w, b, dout, p


def flops(layer, batch=BATCH):
    c, oc, k, p, h = LAYERS[layer]
    oh = h + 2 * p - k + 1
    macs = batch * oc * c * k * k * oh * oh
    return 2.0 * macs * (2 if c == 1 else 3)   # forward + dw (+ dx unless the input is the data)


def fastnn_step(layer, batch=BATCH):
    """A closure running one forward + backward with fastnn's current thread count."""
    x, w, b, dout, p = make(layer, batch)
    need_dx = x.shape[1] > 1
    nt = fastnn.get_num_threads()

    def step():
        _core.conv2d_forward(x, w, b, 1, p, 1, 1, n_threads=nt)
        _core.conv2d_backward(dout, x, w, 1, p, 1, 1, need_dx=need_dx, n_threads=nt)
    return step


def torch_step(layer, batch=BATCH):
    import torch
    import torch.nn.functional as F

    x, w, b, dout, p = make(layer, batch)
    tx = torch.from_numpy(x).requires_grad_(x.shape[1] > 1)
    tw = torch.from_numpy(w).requires_grad_(True)
    tb = torch.from_numpy(b).requires_grad_(True)
    td = torch.from_numpy(dout)

    def step():
        tw.grad = tb.grad = tx.grad = None
        F.conv2d(tx, tw, tb, 1, p).backward(td)
    return step


def best_time(fn, repeat, warmup=3):
    """(median wall seconds, median process CPU seconds) per call.  On a shared, oversubscribed machine the
    CPU time (summed over threads) is the steadier number; with t threads, cpu/t bounds the uncontended wall."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return float(np.median(wall)), float(np.median(cpu))


def table(threads=(1, 2), repeat=20):
    try:
        import torch
    except ImportError:  # pragma: no cover
        torch = None
    old = fastnn._config._num_threads
    rows = []
    print(f"Conv2d forward+backward, batch {BATCH}, median of {repeat}: wall ms and GFLOP/s; 'cpu' = process CPU "
          f"ms / threads (steadier on a shared machine)")
    print(f"{'layer':24s} {'thr':>3s} {'fastnn ms':>9s} {'GF/s':>5s} {'cpu':>6s} {'torch ms':>8s} {'GF/s':>5s} "
          f"{'cpu':>6s} {'speedup wall':>12s} {'cpu':>5s}")
    try:
        for t in threads:
            fastnn.set_num_threads(t)
            if torch is not None:
                torch.set_num_threads(t)
            for layer in LAYERS:
                f_med, f_cpu = best_time(fastnn_step(layer), repeat)
                t_med, t_cpu = best_time(torch_step(layer), repeat) if torch is not None else (np.nan, np.nan)
                f_cpu, t_cpu = f_cpu / t, t_cpu / t
                gf = flops(layer) / 1e9
                rows.append((layer, t, f_med, t_med, f_cpu, t_cpu))
                print(f"{layer:24s} {t:3d} {f_med * 1e3:9.2f} {gf / f_med:5.1f} {f_cpu * 1e3:6.2f} {t_med * 1e3:8.2f} "
                      f"{gf / t_med:5.1f} {t_cpu * 1e3:6.2f} {t_med / f_med:11.2f}x {t_cpu / f_cpu:4.2f}x")
    finally:
        fastnn.set_num_threads(old)
    return rows


# ---- pytest-benchmark ------------------------------------------------------------------------------------
try:
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

if pytest is not None:
    @pytest.mark.parametrize("threads", [1, 2])
    @pytest.mark.parametrize("layer", list(LAYERS))
    @pytest.mark.parametrize("impl", ["fastnn", "torch"])
    def test_conv(benchmark, impl, layer, threads):
        pytest.importorskip("pytest_benchmark")
        old = fastnn._config._num_threads
        fastnn.set_num_threads(threads)
        try:
            if impl == "torch":
                torch = pytest.importorskip("torch")
                torch.set_num_threads(threads)
                step = torch_step(layer)
            else:
                step = fastnn_step(layer)
            benchmark.group = f"conv {layer} {threads}t"
            benchmark.extra_info.update(impl=impl, threads=threads, batch=BATCH)
            benchmark(step)
        finally:
            fastnn.set_num_threads(old)
        med = benchmark.stats.stats.median
        benchmark.extra_info["gflops"] = flops(layer) / med / 1e9
        benchmark.extra_info["samples_per_s"] = BATCH / med


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    table(args.threads, args.repeat)
