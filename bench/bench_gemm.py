"""SGEMM speed, fastnn vs numpy's BLAS, pytest-benchmark groups per shape and thread count.

    pytest bench/bench_gemm.py --benchmark-only [--benchmark-group-by=group]

Both libraries are pinned to the same thread count (fastnn.set_num_threads; threadpoolctl for numpy's BLAS).
GFLOP/s (from the median) is stored in each benchmark's extra_info.  Shapes are M x K x N as in gemm_table.py.
"""
import numpy as np
import pytest

import fastnn
from fastnn import ops

threadpoolctl = pytest.importorskip("threadpoolctl")
pytest.importorskip("pytest_benchmark")

SHAPES = [(s, s, s, False, False) for s in (64, 128, 256, 512, 1024)] + [
    (32, 54, 100, False, False), (256, 54, 100, False, False), (54, 32, 100, True, False),
    (10, 784, 100, False, False), (128, 784, 100, False, False), (784, 128, 100, True, False),
    (128, 100, 10, False, False), (128, 784, 1024, False, False), (128, 1024, 1024, False, False),
    (1024, 784, 1024, False, False), (36864, 25, 20, False, False), (4096, 500, 40, False, False),
    (128, 784, 100, False, True),
]


def _id(s):
    m, k, n, ta, tb = s
    return f"{m}x{k}x{n}" + ("-At" if ta else "") + ("-Bt" if tb else "")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", SHAPES, ids=_id)
@pytest.mark.parametrize("impl", ["fastnn", "numpy"])
def test_gemm(benchmark, impl, shape, threads):
    m, k, n, ta, tb = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    c = np.empty((m, n), np.float32)
    benchmark.group = f"gemm {_id(shape)} {threads}t"
    benchmark.extra_info.update(impl=impl, threads=threads, m=m, k=k, n=n, trans_a=ta, trans_b=tb)
    old = fastnn._config._num_threads
    fastnn.set_num_threads(threads)
    try:
        with threadpoolctl.threadpool_limits(limits=threads, user_api="blas"):
            if impl == "fastnn":
                benchmark(ops.gemm, a, b, c, trans_a=ta, trans_b=tb)
            else:
                an, bn = (a.T if ta else a), (b.T if tb else b)
                benchmark(np.matmul, an, bn, out=c)
    finally:
        fastnn.set_num_threads(old)
    benchmark.extra_info["gflops"] = 2.0 * m * n * k / benchmark.stats.stats.median / 1e9
