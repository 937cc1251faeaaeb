"""Side-by-side SGEMM speed: fastnn vs numpy's BLAS, GFLOP/s and the ratio, on 1 and 2 threads.

    python bench/gemm_table.py            # squares 64..2048 and the neural-network shapes of issue #2
    python bench/gemm_table.py --quick    # a few shapes, a few seconds
    python bench/gemm_table.py --nn       # only the neural-network shapes of issue #2
    python bench/gemm_table.py --engine   # the exact calls the training engine makes (see ENGINE_NETS)
    python bench/gemm_table.py --mlp      # the engine's calls for 784-1024-1024-10 at batch 1024 (compute-bound)
    python bench/gemm_table.py --mlp --threads 1,2,4,8,16   # thread scaling (quiet many-core machine)

With several thread counts, each row also gives "x1t": fastnn's speed-up over its own first thread count.

Shapes are written M x K x N: C (M, N) = A (M, K) @ B (K, N).  "A^T" rows store A as (K, M) and multiply
A.T (trans_a=True for fastnn, a.T @ b for numpy); "B^T" rows store B as (N, K) (a Dense layer's forward pass).
Timings are the best of several samples, each a loop long enough to last ~10 ms; threads are pinned equal for
both libraries (fastnn.set_num_threads, threadpoolctl for numpy's BLAS).
"""
import argparse
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo root (built in place)
import fastnn  # noqa: E402
from fastnn import ops  # noqa: E402

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

SQUARES = [64, 128, 256, 512, 1024, 2048]
# (M, K, N, trans_a, trans_b)
NN_SHAPES = [
    (32, 54, 100, False, False), (256, 54, 100, False, False), (54, 32, 100, True, False),
    (10, 784, 100, False, False), (128, 784, 100, False, False), (784, 128, 100, True, False),
    (128, 100, 10, False, False), (128, 784, 1024, False, False), (128, 1024, 1024, False, False),
    (1024, 784, 1024, False, False), (36864, 25, 20, False, False), (4096, 500, 40, False, False),
]
EXTRA_SHAPES = [(128, 784, 100, False, True), (128, 1024, 1024, False, True), (256, 100, 784, True, False)]
# Training-engine calls for a Dense MLP (widths) at batch B, per Linear layer (I -> O):
#   forward  out (B,O) = X (B,I) @ W (O,I)^T   -> B x I x O "B^T"
#   dW       dW (O,I) = dY (B,O)^T @ X (B,I)   -> O x B x I "A^T"
#   dX       dX (B,I) = dY (B,O) @ W (O,I)     -> B x O x I (not for the first layer)
ENGINE_NETS = [((784, 256, 128, 10), (64,)), ((54, 100, 1), (1, 32, 256)), ((784, 100, 10), (10, 128))]


def engine_shapes(nets=ENGINE_NETS):
    out = []
    for widths, batches in nets:
        for bsz in batches:
            for li, (i, o) in enumerate(zip(widths[:-1], widths[1:])):
                calls = [(bsz, i, o, False, True), (o, bsz, i, True, False)]
                if li > 0:
                    calls.append((bsz, o, i, False, False))
                out += [(c, "-".join(map(str, widths)) + f" b{bsz}") for c in calls]
    return out


MLP_NET = ((784, 1024, 1024, 10), (1024,))
QUICK = [(256, 256, 256, False, False), (1024, 1024, 1024, False, False), (32, 54, 100, False, False),
         (128, 784, 100, False, False), (784, 128, 100, True, False), (36864, 25, 20, False, False)]


def label(m, k, n, ta, tb):
    return f"{m}x{k}x{n}" + (" A^T" if ta else "") + (" B^T" if tb else "")


def min_time_for(shape, base):
    """Tiny calls get shorter loops (each still thousands of calls), big ones the full `base`."""
    m, k, n = shape[:3]
    return base if 2.0 * m * n * k >= 1e6 else base / 2


def _reps(fn, min_time):
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    return max(1, int(min_time / once))


def _sample(fn, reps):
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


# With several threads, each library's idle workers spin for a while after a call (OpenBLAS: about 2^28 cycles,
# ~0.1 s; libgomp: far less) and steal a core from the other library's next sample: a 2-thread sample measured
# right after the other library's ran at 0.5-0.9x its speed alone.  So each sample starts after this pause.
SETTLE_S = 0.15


def measure(shape, threads, min_time, samples, rng):
    """Best-of-`samples` GFLOP/s for fastnn and numpy, samples interleaved so both see the same noise (with a
    pause before each multi-threaded sample, so that neither runs against the other's spinning threads), and the
    median of the samples' own ratios fastnn / numpy (each pair back to back, alternating which goes first):
    steadier than the ratio of the bests when the host's speed moves from one sample to the next."""
    m, k, n, ta, tb = shape
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    c = np.empty((m, n), np.float32)
    an, bn = (a.T if ta else a), (b.T if tb else b)
    fastnn.set_num_threads(threads)

    def f_fast():
        ops.gemm(a, b, c, trans_a=ta, trans_b=tb)

    def f_numpy():
        np.matmul(an, bn, out=c)

    limits = threadpool_limits(limits=threads, user_api="blas") if threadpool_limits else None
    try:
        settle = SETTLE_S if threads > 1 else 0.0
        rf, rn = _reps(f_fast, min_time), _reps(f_numpy, min_time)
        t_f = t_n = float("inf")
        ratios = []
        for i in range(samples):
            pair = {}
            for fn, rp in ((f_fast, rf), (f_numpy, rn))[::-1 if i % 2 else 1]:
                time.sleep(settle)
                pair[fn] = _sample(fn, rp)
            t_f, t_n = min(t_f, pair[f_fast]), min(t_n, pair[f_numpy])
            ratios.append(pair[f_numpy] / pair[f_fast])
    finally:
        if limits is not None:
            limits.restore_original_limits()
    flops = 2.0 * m * n * k
    return flops / t_f / 1e9, flops / t_n / 1e9, float(np.median(ratios))


def host_probe():
    """One core's speed now: numpy's 256^3 SGEMM on 1 thread (in cache), best of 5 loops of ~20 ms, GFLOP/s.
    Shared VMs can run everything at 70-75% for minutes at a time (dev-zen3: a kernel on L1-resident data
    included); a table whose probe moved between its start and end mixed the two states."""
    a = np.ones((256, 256), np.float32)
    c = np.empty_like(a)
    limits = threadpool_limits(limits=1, user_api="blas") if threadpool_limits else None
    try:
        reps = _reps(lambda: np.matmul(a, a, out=c), 0.02)
        t = min(_sample(lambda: np.matmul(a, a, out=c), reps) for _ in range(5))
    finally:
        if limits is not None:
            limits.restore_original_limits()
    return 2.0 * 256 ** 3 / t / 1e9


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few shapes, a few seconds")
    ap.add_argument("--nn", action="store_true", help="only the neural-network shapes of issue #2")
    ap.add_argument("--engine", action="store_true", help="only the training engine's calls (ENGINE_NETS)")
    ap.add_argument("--mlp", action="store_true", help="only the engine's calls for 784-1024-1024-10, batch 1024")
    ap.add_argument("--threads", nargs="+", default=["1", "2"],
                    help="thread counts, space- or comma-separated (default 1 2; e.g. 1,2,4,8,16)")
    ap.add_argument("--samples", type=int, default=None, help="samples per measurement (best is kept)")
    args = ap.parse_args(argv)
    args.threads = [int(t) for arg in args.threads for t in str(arg).split(",") if t.strip()]
    notes = {}
    if args.quick:
        shapes, min_time, samples = QUICK, 0.01, args.samples or 3
    elif args.nn:
        shapes, min_time, samples = NN_SHAPES + EXTRA_SHAPES, 0.02, args.samples or 7
    elif args.engine or args.mlp:
        eng = engine_shapes([MLP_NET] if args.mlp else ENGINE_NETS)
        shapes, min_time, samples = [c for c, _ in eng], 0.02, args.samples or 7
        notes = {c: net for c, net in eng}
    else:
        shapes = [(s, s, s, False, False) for s in SQUARES] + NN_SHAPES + EXTRA_SHAPES
        min_time, samples = 0.02, args.samples or 7
    rng = np.random.default_rng(0)
    old = fastnn._config._num_threads
    print(f"# {cpu_model()}; fastnn {fastnn.__version__} isa={fastnn.get_isa()}; numpy {np.__version__}")
    probe0 = host_probe()
    scal = len(args.threads) > 1
    hdr = f"{'shape (M x K x N)':<22}" + "".join(
        f" | {'fastnn':>7} {'numpy':>7} {'ratio':>5} {'med':>5}" + (f" {'x1t':>5}" if scal and i else "") + f" ({t}t)"
        for i, t in enumerate(args.threads))
    print(hdr)
    print("-" * len(hdr))
    try:
        for shape in shapes:
            row = f"{label(*shape):<22}"
            f1 = None
            for t in args.threads:
                f, n, med = measure(shape, t, min_time_for(shape, min_time), samples, rng)
                row += f" | {f:7.1f} {n:7.1f} {f / n:5.2f} {med:5.2f}" + (f" {f / f1:5.2f}" if f1 else "") + " " * (
                    5 if t < 10 else 6)
                f1 = f1 or f
            if shape in notes:
                row += f" {notes[shape]}"
            print(row, flush=True)
    finally:
        fastnn.set_num_threads(old)
    print("(GFLOP/s, best of %d samples; ratio = fastnn / numpy, best against best; med = the median of the"
          " samples' own ratios%s)" % (
        samples, "; x1t = fastnn / fastnn at %d thread(s)" % args.threads[0] if scal else ""))
    probe1 = host_probe()
    print(f"# host probe (numpy 256^3, 1 thread): {probe0:.1f} GFLOP/s before the table, {probe1:.1f} after")
    if abs(probe1 - probe0) > 0.1 * max(probe0, probe1):
        print("# WARNING: the host's speed changed during the table by more than 10%: rerun before quoting it")


if __name__ == "__main__":
    main()
