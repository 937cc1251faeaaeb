"""One epoch of mini-batch training on an MLP: fastnn vs PyTorch vs scikit-learn, in samples per second.

Run from the repository root (uses an in-place build of fastnn when there is one, else the installed
package; ``--installed`` forces the installed one):

    python bench/train_table.py                 # every case, 1 and 2 threads; prints a markdown table
    python bench/train_table.py --quick         # a few cases, small sample counts (a smoke test)
    python bench/train_table.py --cases small-b32,mnist-relu-b128 --threads 1
    python bench/train_table.py --list          # the case names
    python bench/train_table.py --overhead      # fastnn per-step cost (us/step) and the GEMM shapes per step
    python bench/train_table.py --cases fmnist-dropout-adam-b64 --torch-optim foreach   # issue #4's epoch

Method (same for every library): the same synthetic seeded float32 data, plain SGD (no momentum, no
weight decay) at the same learning rate -- except the cases listed in ``CASE_OPTS`` (issue #4's
``fmnist-dropout-adam-b64``: Dropout(0.2) after each hidden activation and Adam(lr=1e-3); scikit-learn has no
dropout, so its column is n/a there; PyTorch's optimizer implementation is chosen by ``--torch-optim``: its
default (the for-loop one on CPU), ``foreach`` or ``fused``) -- the same batch size, the same thread count (fastnn:
``fnn.set_num_threads``; PyTorch: ``torch.set_num_threads``; everything else, numpy's BLAS included,
``threadpoolctl.threadpool_limits``).  Each (library, thread count) runs in its own subprocess so that one
library's idle spinning threads cannot steal the other's cores.  A warm-up run (which also calibrates) is
followed by ``--repeats`` timed epochs; the best one counts.  An epoch is the case's full sample count,
unless one epoch would take longer than ``--max-epoch-s`` (PyTorch at batch 1, or placeholder kernels):
then a seeded subset of whole batches is timed and reported in samples/s (marked ``*``: the per-step
cost does not depend on the epoch length).  The timed region is what a user waits for: fastnn's
``model.fit(epochs=1)`` (input validation and the shuffle included), PyTorch's shuffle plus its idiomatic
loop ``zero_grad(); loss.backward(); step()``, scikit-learn's ``partial_fit`` (one epoch of its numpy loop).
"""
import argparse
import json
import os
import subprocess
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _use_inplace_build():
    """Put the repository root first on sys.path when it holds a built fastnn (an in-place build)."""
    ext = os.path.join(ROOT, "fastnn", "_ext")
    if os.path.isdir(ext) and any(f.startswith("_core") and f.endswith((".so", ".pyd")) for f in os.listdir(ext)):
        if ROOT not in sys.path:
            sys.path.insert(0, ROOT)


# -- the cases -------------------------------------------------------------------------------------------------
# name: (layer widths, hidden activation, loss, samples, batch, samples in --quick)
CASES = {
    "small-b1": ((54, 100, 1), "tanh", "mse", 100_000, 1, 2_000),
    "small-b32": ((54, 100, 1), "tanh", "mse", 100_000, 32, 20_000),
    "small-b256": ((54, 100, 1), "tanh", "mse", 100_000, 256, 20_000),
    "mnist-sigmoid-b10": ((784, 100, 10), "sigmoid", "cross_entropy", 60_000, 10, 5_000),
    "mnist-sigmoid-b128": ((784, 100, 10), "sigmoid", "cross_entropy", 60_000, 128, 5_000),
    "mnist-relu-b10": ((784, 100, 10), "relu", "cross_entropy", 60_000, 10, 5_000),
    "mnist-relu-b128": ((784, 100, 10), "relu", "cross_entropy", 60_000, 128, 5_000),
    "big-relu-b1024": ((784, 1024, 1024, 10), "relu", "cross_entropy", 20_480, 1024, 2_048),
    "fmnist-dropout-adam-b64": ((784, 256, 128, 10), "relu", "cross_entropy", 60_000, 64, 5_000),
}
# cases that differ from the plain-SGD default: dropout after each hidden activation, optimizer and its lr
CASE_OPTS = {
    "fmnist-dropout-adam-b64": {"dropout": 0.2, "optimizer": "adam", "lr": 1e-3},
}
DEFAULT_OPTS = {"dropout": 0.0, "optimizer": "sgd", "lr": None}  # lr None: LR
QUICK = ["small-b1", "small-b32", "mnist-relu-b128", "big-relu-b1024", "fmnist-dropout-adam-b64"]
IMPLS = ["fastnn", "torch", "sklearn"]
LR = 0.01
SEED = 0
TORCH_OPTIM = "default"  # torch.optim implementation: "default", "foreach" or "fused" (--torch-optim)
TORCH_FTZ = False  # torch.set_flush_denormal(True) (--torch-flush-denormal)


def case_opts(name):
    o = dict(DEFAULT_OPTS, **CASE_OPTS.get(name, {}))
    if o["lr"] is None:
        o["lr"] = LR
    return o


class Unsupported(Exception):
    """The library cannot express this case (e.g. scikit-learn has no dropout)."""


def case_label(name):
    dims, act, loss, n, batch, _ = CASES[name]
    net = "-".join(map(str, dims))
    o = case_opts(name)
    extra = (f" dropout {o['dropout']:g}" if o["dropout"] else "") + (f" {o['optimizer'].capitalize()}"
                                                                     if o["optimizer"] != "sgd" else "")
    return f"{net} {act}{extra} {'MSE' if loss == 'mse' else 'CE'}", batch


def make_data(name, n):
    """Synthetic seeded float32 data (speed only): X (n, in); y float (n, out) for MSE, int labels for CE."""
    import numpy as np

    dims, act, loss, _, _, _ = CASES[name]
    rng = np.random.default_rng(SEED)
    if dims[0] == 784:  # pixel-like inputs in [0, 1)
        X = rng.random((n, dims[0]), dtype=np.float32)
    else:
        X = rng.standard_normal((n, dims[0]), dtype=np.float32)
    if loss == "mse":
        w = rng.standard_normal((dims[0], dims[-1]), dtype=np.float32) / np.sqrt(dims[0])
        y = np.tanh(X @ w).astype(np.float32) + 0.1 * rng.standard_normal((n, dims[-1]), dtype=np.float32)
    else:
        y = rng.integers(0, dims[-1], n).astype(np.int64)
    return X, y


def gemm_shapes(name):
    """The GEMMs of one training step at the case's batch size, (what, M, N, K) as C = op(A) op(B)."""
    dims, _, _, _, B, _ = CASES[name]
    out = []
    for l, (i, o) in enumerate(zip(dims[:-1], dims[1:])):
        out.append((f"L{l} fwd  Y=X.W^T", B, o, i))
        out.append((f"L{l} dW   =dY^T.X", o, i, B))
        if l > 0:
            out.append((f"L{l} dX   =dY.W", B, i, o))
    return out


def flops_per_sample(name):
    dims = CASES[name][0]
    return sum(2 * 3 * i * o for i, o in zip(dims[:-1], dims[1:])) - 2 * dims[0] * dims[1]  # no dX for layer 0


# -- one library: build a trainer whose run(n) trains one epoch over the first n samples -------------------
class FastnnTrainer:
    def __init__(self, name, X, y, threads):
        import fastnn as fnn

        fnn.set_num_threads(threads)
        dims, act, loss, _, self.batch, _ = CASES[name]
        o = case_opts(name)
        layers = []
        for i, w in zip(dims[:-2], dims[1:-1]):
            layers.append(fnn.Linear(i, w, activation=act))
            if o["dropout"]:
                layers.append(fnn.Dropout(o["dropout"]))
        layers.append(fnn.Linear(dims[-2], dims[-1]))
        self.model = fnn.Sequential(layers, seed=SEED)
        opt = fnn.optim.Adam(lr=o["lr"]) if o["optimizer"] == "adam" else fnn.optim.SGD(lr=o["lr"])
        self.model.compile(loss=loss, optimizer=opt)
        self.X, self.y = X, y
        self.c_time = None

    def run(self, n):
        h = self.model.fit(self.X[:n], self.y[:n], epochs=1, batch_size=self.batch, verbose=0)
        self.c_time = h.history["time"][-1]


class TorchTrainer:
    def __init__(self, name, X, y, threads):
        import torch

        torch.set_num_threads(threads)
        torch.manual_seed(SEED)
        if TORCH_FTZ:
            torch.set_flush_denormal(True)
        dims, act, loss, _, self.batch, _ = CASES[name]
        o = case_opts(name)
        Act = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid}[act]
        mods = []
        for i, w in zip(dims[:-2], dims[1:-1]):
            mods += [torch.nn.Linear(i, w), Act()]
            if o["dropout"]:
                mods.append(torch.nn.Dropout(o["dropout"]))
        mods.append(torch.nn.Linear(dims[-2], dims[-1]))
        self.torch = torch
        self.model = torch.nn.Sequential(*mods)
        self.loss_fn = torch.nn.MSELoss() if loss == "mse" else torch.nn.CrossEntropyLoss()
        kw = {"foreach": {"foreach": True}, "fused": {"fused": True}}.get(TORCH_OPTIM, {})
        Opt = torch.optim.Adam if o["optimizer"] == "adam" else torch.optim.SGD
        self.opt = Opt(self.model.parameters(), lr=o["lr"], **kw)
        self.X = torch.from_numpy(X)
        self.y = torch.from_numpy(y)
        self.gen = torch.Generator().manual_seed(SEED)

    def run(self, n):
        torch, model, loss_fn, opt, B = self.torch, self.model, self.loss_fn, self.opt, self.batch
        perm = torch.randperm(n, generator=self.gen)
        Xs, ys = self.X[:n][perm], self.y[:n][perm]  # pre-shuffled tensors, sliced per batch
        model.train()
        for lo in range(0, n, B):
            xb, yb = Xs[lo:lo + B], ys[lo:lo + B]
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()


class SklearnTrainer:
    def __init__(self, name, X, y, threads):
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        dims, act, loss, _, self.batch, _ = CASES[name]
        o = case_opts(name)
        if o["dropout"] or o["optimizer"] != "sgd":
            raise Unsupported("scikit-learn's MLP has no dropout (and its Adam is not the case's setup)")
        Est = MLPRegressor if loss == "mse" else MLPClassifier
        self.est = Est(hidden_layer_sizes=dims[1:-1], activation={"sigmoid": "logistic"}.get(act, act),
                       solver="sgd", batch_size=self.batch, learning_rate_init=LR, momentum=0.0,
                       nesterovs_momentum=False, alpha=0.0, max_iter=1, shuffle=True, random_state=SEED)
        self.X = X
        self.y = y[:, 0] if loss == "mse" and y.shape[1] == 1 else y
        self.classes = None if loss == "mse" else list(range(dims[-1]))

    def run(self, n):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.classes is not None:
                self.est.partial_fit(self.X[:n], self.y[:n], classes=self.classes)
            else:
                self.est.partial_fit(self.X[:n], self.y[:n])


TRAINERS = {"fastnn": FastnnTrainer, "torch": TorchTrainer, "sklearn": SklearnTrainer}


def available(impl):
    import importlib.util

    return importlib.util.find_spec(impl) is not None


def measure(impl, name, threads, repeats=3, max_epoch_s=5.0, quick=False, calib_s=0.3):
    """Best-of-``repeats`` samples/s for one epoch (or a seeded subset of whole batches, see the module doc)."""
    from threadpoolctl import threadpool_limits

    dims, act, loss, n_full, batch, n_quick = CASES[name]
    n_case = n_quick if quick else n_full
    X, y = make_data(name, n_case)
    with threadpool_limits(limits=threads):
        tr = TRAINERS[impl](name, X, y, threads)
        # warm-up and calibration: whole batches, doubling until a run takes calib_s (or the case is covered)
        nb_case = (n_case + batch - 1) // batch
        nb = 1
        while True:
            n = min(n_case, nb * batch)
            t0 = time.perf_counter()
            tr.run(n)
            dt = time.perf_counter() - t0
            if n >= n_case or dt >= calib_s:
                break
            nb = min(nb_case, nb * 2 if dt < calib_s / 8 else max(nb + 1, int(nb * calib_s / max(dt, 1e-9))))
        per_batch = dt / ((n + batch - 1) // batch)
        nb_timed = max(1, min(nb_case, int(max_epoch_s / per_batch)))
        n_timed = min(n_case, nb_timed * batch)
        best, best_c = float("inf"), None
        cold = n == min(n_case, batch) and dt >= 2 * max_epoch_s
        if cold:  # one batch already takes far longer than an epoch should: report that run, no repeats
            n_timed, best, best_c, repeats = n, dt, getattr(tr, "c_time", None), 0
        load0 = os.getloadavg()[0]
        cpu = None
        for _ in range(repeats):
            c0, t0 = time.process_time(), time.perf_counter()
            tr.run(n_timed)
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            if dt < best:
                best, best_c, cpu = dt, getattr(tr, "c_time", None), dc
    res = {"impl": impl, "case": name, "threads": threads, "samples": n_timed, "case_samples": n_case,
           "cold": cold, "loadavg": round(max(load0, os.getloadavg()[0]), 2), "seconds": best,
           "cpu_per_wall": None if cpu is None else round(cpu / best, 3), "samples_per_s": n_timed / best, "us_per_step": best / ((n_timed + batch - 1) // batch) * 1e6}
    if best_c is not None:
        res["c_samples_per_s"] = n_timed / best_c
    return res


# -- driver ----------------------------------------------------------------------------------------------------
def worker(args):
    """Run the cases for one (impl, threads) and print one JSON line per case."""
    if args.impl == "fastnn" and not args.installed:
        _use_inplace_build()
    for name in args.cases:
        try:
            r = measure(args.impl, name, args.threads[0], args.repeats, args.max_epoch_s, args.quick)
        except Unsupported as exc:
            r = {"impl": args.impl, "case": name, "threads": args.threads[0], "skipped": str(exc)}
        except Exception as exc:  # report, keep going
            r = {"impl": args.impl, "case": name, "threads": args.threads[0], "error": repr(exc)}
        print("RESULT " + json.dumps(r), flush=True)


def run_subprocess(impl, cases, threads, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--impl", impl, "--threads", str(threads),
           "--cases", ",".join(cases), "--repeats", str(args.repeats), "--max-epoch-s", str(args.max_epoch_s)]
    if args.quick:
        cmd.append("--quick")
    if args.installed:
        cmd.append("--installed")
    if args.torch_optim != "default":
        cmd += ["--torch-optim", args.torch_optim]
    if args.torch_flush_denormal:
        cmd.append("--torch-flush-denormal")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env.pop("FASTNN_NUM_THREADS", None)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    out = []
    for line in p.stdout:
        if line.startswith("RESULT "):
            r = json.loads(line[7:])
            out.append(r)
            if args.verbose and "skipped" not in r:
                msg = r.get("error") or f"{r['samples_per_s']:>12,.0f} samples/s  ({r['samples']} samples, " \
                                         f"{r['us_per_step']:.1f} us/step)"
                print(f"  {impl:8s} t={threads} {r['case']:20s} {msg}", file=sys.stderr, flush=True)
    p.wait()
    return out


def _fmt(v):
    if v is None:
        return "n/a"
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:,.1f}"


def _ratio(a, b):
    return "n/a" if a is None or b is None else f"{a / b:.2f}x"


def markdown(results, cases, threads_list):
    by = {(r["impl"], r["case"], r["threads"]): r for r in results if "error" not in r and "skipped" not in r}
    sps = lambda impl, c, t: by[(impl, c, t)]["samples_per_s"] if (impl, c, t) in by else None  # noqa: E731
    lines = ["| Network (loss) | Batch | Threads | fastnn samples/s | PyTorch samples/s | scikit-learn samples/s "
             "| fastnn / PyTorch | fastnn / sklearn | fastnn us/step |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    subset = cold = False
    maxload = 0.0
    for c in cases:
        label, batch = case_label(c)
        for t in threads_list:
            cells = []
            for impl in IMPLS:
                r = by.get((impl, c, t))
                if r is None:
                    cells.append("n/a")
                    continue
                star = "*" if r["samples"] < r["case_samples"] else ""
                star += "†" if r.get("cold") else ""
                cold |= bool(r.get("cold"))
                maxload = max(maxload, r.get("loadavg", 0.0))
                subset |= bool(star)
                cells.append(_fmt(r["samples_per_s"]) + star)
            f, p, s = (sps(i, c, t) for i in IMPLS)
            us = by[("fastnn", c, t)]["us_per_step"] if ("fastnn", c, t) in by else None
            lines.append(f"| {label} | {batch} | {t} | " + " | ".join(cells)
                         + f" | {_ratio(f, p)} | {_ratio(f, s)} | {_fmt(us)} |")
    if subset:
        lines.append("")
        lines.append("`*` timed on a seeded subset of whole batches (one epoch would exceed --max-epoch-s); "
                     "samples/s is per-step throughput, independent of epoch length.")
    if cold:
        lines.append("`†` a single batch took over 2x --max-epoch-s: that one (cold) batch is reported, "
                     "no warm-up and no repeats.")
    lines.append("")
    lines.append(f"Highest 1-minute load average seen during a timed run: {maxload:.2f} on {os.cpu_count()} "
                 "logical CPUs (above the thread count means other processes competed for the cores).")
    if any(case_opts(c)["optimizer"] != "sgd" for c in cases):
        lines.append(f"PyTorch optimizer implementation: {TORCH_OPTIM} (--torch-optim), flush-to-zero "
                     f"{'on' if TORCH_FTZ else 'off'} (--torch-flush-denormal); scikit-learn: n/a for the "
                     "dropout/Adam cases (its MLP has no dropout).")
    if len(threads_list) > 1 and 1 in threads_list:
        lines += ["", "fastnn, 2 threads vs 1 thread (samples/s ratio; the bar: never below 1.0):", "",
                  "| Network (loss) | Batch | " + " | ".join(f"{t} thr / 1 thr" for t in threads_list if t != 1)
                  + " |", "|---|---:|" + "---:|" * (len(threads_list) - 1)]
        for c in cases:
            label, batch = case_label(c)
            cells = [_ratio(sps("fastnn", c, t), sps("fastnn", c, 1)) for t in threads_list if t != 1]
            lines.append(f"| {label} | {batch} | " + " | ".join(cells) + " |")
    errs = [r for r in results if "error" in r]
    for r in errs:
        lines.append(f"\nerror: {r['impl']} {r['case']} t={r['threads']}: {r['error']}")
    return "\n".join(lines)


def overhead(args):
    """fastnn's fixed per-step cost: us/step on small networks at batch 1, and the GEMM shapes per step."""
    if not args.installed:
        _use_inplace_build()
    import numpy as np
    import fastnn as fnn
    from threadpoolctl import threadpool_limits

    print(f"fastnn from {os.path.dirname(fnn.__file__)}  isa={fnn.get_isa()}")
    rows = []
    for t in args.threads:
        with threadpool_limits(limits=t):
            for dims in [(54, 100, 1), (54, 1, 1), (2, 1, 1), (784, 100, 10)]:
                for B in (1, 32):
                    rng = np.random.default_rng(0)
                    n = 20_000 if dims[0] < 784 else 4_000
                    X = rng.standard_normal((n, dims[0]), dtype=np.float32)
                    y = rng.standard_normal((n, dims[-1]), dtype=np.float32)
                    fnn.set_num_threads(t)
                    m = fnn.Sequential([fnn.Linear(dims[0], dims[1], activation="tanh"),
                                        fnn.Linear(dims[1], dims[2])], seed=0)
                    m.compile(loss="mse", optimizer=fnn.optim.SGD(lr=1e-4))
                    m.fit(X, y, epochs=1, batch_size=B, verbose=0)
                    best = best_c = float("inf")
                    for _ in range(args.repeats):
                        t0 = time.perf_counter()
                        h = m.fit(X, y, epochs=1, batch_size=B, verbose=0)
                        best = min(best, time.perf_counter() - t0)
                        best_c = min(best_c, h.history["time"][-1])
                    steps = (n + B - 1) // B
                    flops = (2 * 3 * dims[1] * dims[2] + 2 * 2 * dims[0] * dims[1]) * n
                    rows.append((t, "-".join(map(str, dims)), B, best / steps * 1e6, best_c / steps * 1e6,
                                 flops / best_c / 1e9))
    print("\n| Threads | Network (tanh, MSE) | Batch | us/step (fit wall) | us/step (C epoch) | GFLOP/s |")
    print("|---:|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.2f} |")
    print("\nGEMMs per training step (C = op(A) op(B), M x N x K):\n")
    print("| Case | GEMM | M | N | K |\n|---|---|---:|---:|---:|")
    for c in args.cases:
        for what, M, N, K in gemm_shapes(c):
            print(f"| {c} | {what} | {M} | {N} | {K} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few cases, small sample counts")
    ap.add_argument("--cases", default=None, help="comma-separated case names (see --list)")
    ap.add_argument("--impls", default=",".join(IMPLS), help="comma-separated: fastnn,torch,sklearn")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--repeats", type=int, default=3, help="timed epochs per measurement; best counts")
    ap.add_argument("--max-epoch-s", type=float, default=5.0,
                    help="time a subset of whole batches when one epoch would take longer than this")
    ap.add_argument("--installed", action="store_true", help="use the installed fastnn, not an in-place build")
    ap.add_argument("--torch-optim", choices=("default", "foreach", "fused"), default="default",
                    help="torch.optim implementation (default: torch's own choice, the for-loop one on CPU)")
    ap.add_argument("--torch-flush-denormal", action="store_true",
                    help="torch.set_flush_denormal(True) (fastnn's optimizer updates always flush subnormals)")
    ap.add_argument("--json", default=None, help="also write the raw results to this file")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--overhead", action="store_true", help="fastnn per-step overhead and GEMM shapes")
    ap.add_argument("-q", "--quiet", dest="verbose", action="store_false", help="no progress on stderr")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--impl", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    global TORCH_OPTIM, TORCH_FTZ
    TORCH_OPTIM, TORCH_FTZ = args.torch_optim, args.torch_flush_denormal
    args.threads = [int(t) for t in args.threads.split(",")]
    if args.cases:
        args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
        bad = [c for c in args.cases if c not in CASES]
        if bad:
            ap.error(f"unknown case(s) {bad}; known: {', '.join(CASES)}")
    else:
        args.cases = QUICK if args.quick else list(CASES)
    if args.list:
        for c in CASES:
            label, batch = case_label(c)
            print(f"{c:20s} {label}, batch {batch}, {CASES[c][3]:,} samples ({CASES[c][5]:,} with --quick)")
        return 0
    if args.worker:
        worker(args)
        return 0
    if args.overhead:
        overhead(args)
        return 0
    if not args.installed:
        _use_inplace_build()
    impls = [i.strip() for i in args.impls.split(",") if i.strip()]
    results = []
    for impl in impls:
        if not available(impl):
            print(f"note: {impl} is not installed; its column is n/a", file=sys.stderr)
            continue
        for t in args.threads:
            results += run_subprocess(impl, args.cases, t, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(markdown(results, args.cases, args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
