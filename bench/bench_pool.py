"""2-D pooling forward + backward speed, fastnn vs PyTorch, on the pooling layers of LeNet-5 style CNNs, batch 64.

    python bench/bench_pool.py [--threads 1 2] [--repeat 30] [--isa avx512]

Every case is 2x2 stride 2 without padding (nn.AvgPool2d(2) / nn.MaxPool2d(2)).  fastnn: the forward (max
with its argmax, as in training), the backward, and their sum, in microseconds per call (median of --repeat
timed batches); GB/s counts the bytes a call must move at least (forward: x in, out (+ argmax) out; backward:
dout (+ argmax) in, dx out).  PyTorch (when importable): the forward with autograd recording (max keeps its
indices) plus the backward, one step, and the forward alone.  Both libraries are pinned to the same thread
count (fastnn.set_num_threads / torch.set_num_threads).
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isdir(os.path.join(ROOT, "fastnn", "_ext")) and ROOT not in sys.path:
    sys.path.insert(0, ROOT)   # the repository root, built in place

import fastnn  # noqa: E402
from fastnn._ext import _core  # noqa: E402

# name: (kind, N, C, H, W)
CASES = {
    "avg 64x6x28x28": ("avg", 64, 6, 28, 28),
    "avg 64x16x10x10": ("avg", 64, 16, 10, 10),
    "max 64x32x28x28": ("max", 64, 32, 28, 28),
    "max 64x64x14x14": ("max", 64, 64, 14, 14),
}


def make(case, seed=0):
    kind, n, c, h, w = CASES[case]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    dout = rng.standard_normal((n, c, h // 2, w // 2)).astype(np.float32)
    return kind, x, dout


def traffic(case):
    """(forward bytes, backward bytes) a call has to move at least."""
    kind, n, c, h, w = CASES[case]
    xin = n * c * h * w * 4
    out = n * c * (h // 2) * (w // 2) * 4
    arg = out if kind == "max" else 0
    return xin + out + arg, out + arg + xin


def fastnn_calls(case):
    kind, x, dout = make(case)
    nt = fastnn.get_num_threads()
    _, arg = _core.pool2d_forward(x, kind, 2, 2, 0, n_threads=nt)

    def fwd():
        _core.pool2d_forward(x, kind, 2, 2, 0, n_threads=nt)

    def bwd():
        _core.pool2d_backward(dout, arg, x.shape, kind, 2, 2, 0, n_threads=nt)
    return fwd, bwd


def torch_calls(case):
    import torch
    import torch.nn.functional as F

    kind, x, dout = make(case)
    tx = torch.from_numpy(x).requires_grad_(True)
    td = torch.from_numpy(dout)
    pool = (lambda t: F.max_pool2d(t, 2, 2, 0, return_indices=True)[0]) if kind == "max" else \
        (lambda t: F.avg_pool2d(t, 2, 2, 0))

    def fwd():
        with torch.no_grad():
            if kind == "max":
                F.max_pool2d(tx, 2, 2, 0, return_indices=True)
            else:
                F.avg_pool2d(tx, 2, 2, 0)

    def step():
        tx.grad = None
        pool(tx).backward(td)
    return fwd, step


def median_us(fn, repeat, inner=None, warmup=5):
    """Median over `repeat` batches of the mean wall time per call, in microseconds."""
    for _ in range(warmup):
        fn()
    if inner is None:   # about 2 ms per batch
        t0 = time.perf_counter()
        fn()
        inner = max(1, min(1000, int(2e-3 / max(time.perf_counter() - t0, 1e-7))))
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return float(np.median(times)) * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--isa", default=None, help="force a fastnn SIMD path (generic, avx2, avx512)")
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args()
    if args.isa:
        fastnn.set_isa(args.isa)
    try:
        if args.no_torch:
            raise ImportError
        import torch
    except ImportError:
        torch = None
    print(f"fastnn isa={fastnn.get_isa()}" + (f", torch {torch.__version__}" if torch else ", torch not found"))
    hdr = f"{'case':<18} {'thr':>3} | {'fwd us':>8} {'GB/s':>5} {'bwd us':>8} {'GB/s':>5} {'f+b us':>8}"
    if torch:
        hdr += f" | {'torch fwd':>9} {'torch f+b':>9} {'torch/fnn':>9}"
    print(hdr)
    print("-" * len(hdr))
    for nt in args.threads:
        fastnn.set_num_threads(nt)
        if torch:
            torch.set_num_threads(nt)
        for case in CASES:
            fb, bb = traffic(case)
            fwd, bwd = fastnn_calls(case)
            tf = median_us(fwd, args.repeat)
            tb = median_us(bwd, args.repeat)
            line = (f"{case:<18} {nt:>3} | {tf:8.1f} {fb / tf / 1e3:5.1f} {tb:8.1f} {bb / tb / 1e3:5.1f} "
                    f"{tf + tb:8.1f}")
            if torch:
                tfwd, tstep = torch_calls(case)
                ttf = median_us(tfwd, args.repeat)
                tts = median_us(tstep, args.repeat)
                line += f" | {ttf:9.1f} {tts:9.1f} {tts / (tf + tb):9.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
