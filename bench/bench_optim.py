"""pytest-benchmark: one optimizer update over a flat parameter buffer, fastnn vs torch.optim (issue #4).

    pytest bench/bench_optim.py --benchmark-columns=min,mean,rounds --benchmark-sort=name
    FASTNN_BENCH_OPTIM_SIZES=10000000 FASTNN_BENCH_THREADS=1 pytest bench/bench_optim.py -k adam
    FASTNN_BENCH_TORCH_VARIANT=foreach pytest bench/bench_optim.py     # torch's foreach path instead

One benchmark group per (optimizer, n_params, threads), one test per implementation (``impl``: fastnn, or
torch with ``fused=True`` -- accepted for CPU tensors by torch >= 2.4, checked at import; where refused the
torch test uses ``foreach=True``, and ``extra_info["torch_variant"]`` says which).  Threads are pinned equal
(``fnn.set_num_threads``, ``torch.set_num_threads``).  One round = ``steps`` updates, the same count for every
implementation (5e7 / n_params: 50 steps at 1M, 5 at 10M), so round times compare within a group; ``extra_info`` holds the best round's time per step, parameters/s and GB/s of memory traffic
(SGD-momentum 5 x 4 bytes, Adam 7 x 4 bytes per parameter).  The steppers and byte counts are those of
``bench/optim_table.py`` (prefer it for recorded numbers: it runs each library and thread count in its own
process, interleaved over rounds, and measures the copy bandwidth alongside).
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import optim_table as ot  # noqa: E402

if not os.environ.get("FASTNN_BENCH_INSTALLED"):
    ot._use_inplace_build()

pytest.importorskip("pytest_benchmark")

OPTIMS = [o.strip() for o in os.environ.get("FASTNN_BENCH_OPTIMS", ",".join(ot.OPTIMS)).split(",") if o.strip()]
SIZES = [int(float(s)) for s in os.environ.get("FASTNN_BENCH_OPTIM_SIZES", "1000000,10000000").split(",")]
THREADS = [int(t) for t in os.environ.get("FASTNN_BENCH_THREADS", "1,2").split(",")]
ROUNDS = int(os.environ.get("FASTNN_BENCH_ROUNDS", "5"))
TORCH_VARIANT = os.environ.get("FASTNN_BENCH_TORCH_VARIANT", "fused")
STEP_PARAMS = 5e7  # parameters updated per round: 50 steps at 1M, 5 at 10M


def _torch_variant():
    try:
        import torch  # noqa: F401  (installed?)
    except ImportError:
        return None
    if TORCH_VARIANT == "fused" and not all(ot.torch_fused_supported().values()):
        return "foreach"
    return TORCH_VARIANT


TV = _torch_variant()


@pytest.mark.parametrize("impl", ["fastnn", "torch"])
@pytest.mark.parametrize("threads", THREADS, ids=lambda t: f"t{t}")
@pytest.mark.parametrize("n", SIZES, ids=ot._n_label)
@pytest.mark.parametrize("optim", OPTIMS)
def test_optim_step(benchmark, optim, n, threads, impl):
    if impl == "torch" and TV is None:
        pytest.skip("torch is not installed")
    St = ot.FastnnStepper if impl == "fastnn" else ot.TorchStepper
    s = St(optim, n, threads, TV if impl == "torch" else None)
    for _ in range(3):  # warm-up (and first-step state initialisation)
        s.step()
    steps = max(1, int(STEP_PARAMS // n))  # the same for every impl, so the group's round times compare

    def run():
        for _ in range(steps):
            s.step()

    benchmark.group = f"{optim}, {ot._n_label(n)} params, {threads} thread(s)"
    benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    per = benchmark.stats.stats.min / steps
    benchmark.extra_info.update({
        "impl": impl, "optim": optim, "n_params": n, "threads": threads, "steps_per_round": steps,
        "torch_variant": TV if impl == "torch" else None, "s_per_step": per, "params_per_s": n / per,
        "bytes_per_param": ot.OPTIMS[optim][2], "gb_per_s": ot.OPTIMS[optim][2] * n / per / 1e9})
