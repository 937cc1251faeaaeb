"""pytest-benchmark: one epoch of mini-batch training on an MLP, fastnn vs PyTorch vs scikit-learn.

    pytest bench/bench_train_mlp.py --benchmark-columns=min,mean,rounds --benchmark-sort=name
    FASTNN_BENCH_FULL=1 pytest bench/bench_train_mlp.py          # the full sample counts of issue #3
    FASTNN_BENCH_CASES=small-b32,small-b256 pytest bench/bench_train_mlp.py -k "t1"
    FASTNN_BENCH_CASES=fmnist-dropout-adam-b64 FASTNN_BENCH_TORCH_OPTIM=foreach pytest bench/bench_train_mlp.py

One benchmark group per (network, batch, threads), one test per library (``impl``); threads are pinned
equal for every library (``fnn.set_num_threads``, ``torch.set_num_threads``, ``threadpool_limits`` for
numpy's BLAS and OpenMP).  ``extra_info`` holds samples/s of the best round.  PyTorch and scikit-learn are
skipped when not installed; scikit-learn also for the dropout/Adam case of issue #4
(``fmnist-dropout-adam-b64``; PyTorch's optimizer implementation there: ``FASTNN_BENCH_TORCH_OPTIM``,
default / foreach / fused).  The cases, data and training loops are those of ``bench/train_table.py``
(which also prints the side-by-side table with the ratios; prefer it for recorded numbers: it runs each
library in its own process).  By default each epoch uses the reduced ``--quick`` sample counts.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_table as tt  # noqa: E402

if not os.environ.get("FASTNN_BENCH_INSTALLED"):
    tt._use_inplace_build()

pytest.importorskip("pytest_benchmark")
threadpoolctl = pytest.importorskip("threadpoolctl")

FULL = bool(os.environ.get("FASTNN_BENCH_FULL"))
CASES = [c.strip() for c in os.environ.get("FASTNN_BENCH_CASES", ",".join(tt.CASES)).split(",") if c.strip()]
THREADS = [int(t) for t in os.environ.get("FASTNN_BENCH_THREADS", "1,2").split(",")]
ROUNDS = int(os.environ.get("FASTNN_BENCH_ROUNDS", "3"))
tt.TORCH_OPTIM = os.environ.get("FASTNN_BENCH_TORCH_OPTIM", "default")  # or foreach / fused

_DATA = {}


def _data(name, n):
    key = (name, n)
    if key not in _DATA:
        _DATA.clear()
        _DATA[key] = tt.make_data(name, n)
    return _DATA[key]


@pytest.mark.parametrize("impl", tt.IMPLS)
@pytest.mark.parametrize("threads", THREADS, ids=lambda t: f"t{t}")
@pytest.mark.parametrize("case", CASES)
def test_train_epoch(benchmark, case, threads, impl):
    if impl != "fastnn":
        pytest.importorskip(impl)
    dims, act, loss, n_full, batch, n_quick = tt.CASES[case]
    n = n_full if FULL else n_quick
    if impl == "torch" and batch == 1:
        n = min(n, 5_000)  # PyTorch at batch 1 (~0.3 ms a step): a subset, reported as samples/s
    label, _ = tt.case_label(case)
    benchmark.group = f"{label}, batch {batch}, {threads} thread(s)"
    X, y = _data(case, n_full if FULL else n_quick)
    with threadpoolctl.threadpool_limits(limits=threads):
        try:
            tr = tt.TRAINERS[impl](case, X, y, threads)
        except tt.Unsupported as exc:
            pytest.skip(str(exc))
        benchmark.pedantic(tr.run, args=(n,), rounds=ROUNDS, warmup_rounds=1, iterations=1)
    best = benchmark.stats.stats.min
    benchmark.extra_info.update({"impl": impl, "network": "-".join(map(str, dims)), "activation": act,
                                 "loss": loss, "batch": batch, "threads": threads, "samples": n,
                                 "samples_per_s": n / best, "us_per_step": best / -(-n // batch) * 1e6,
                                 **tt.case_opts(case),
                                 **({"torch_optim": tt.TORCH_OPTIM} if impl == "torch" else {})})
