"""Optimizer update throughput: fastnn vs torch.optim (fused CPU kernel), per step and in GB/s of memory traffic.

Run from the repository root (uses an in-place build of fastnn when there is one, else the installed
package; ``--installed`` forces the installed one):

    python bench/optim_table.py                  # SGD-momentum and Adam, 1M and 10M params, 1 and 2 threads
    python bench/optim_table.py --quick          # fewer repeats and rounds (a smoke test)
    python bench/optim_table.py --optims adam --sizes 10000000 --threads 2 --rounds 5
    python bench/optim_table.py --torch-variants fused,foreach   # also time torch's foreach path

Method: one flat float32 parameter buffer of n elements with a fixed seeded gradient (fastnn: its public
``Optimizer.step(params, grads)`` over flat buffers; torch: one tensor of n elements whose ``.grad`` is set
once, then ``opt.step()``, with ``fused=True`` -- supported on CPU by torch >= 2.4 for SGD and Adam -- or
``foreach=True``).  Threads are pinned equal (``fnn.set_num_threads`` / ``torch.set_num_threads``, and
OMP_NUM_THREADS in the environment); each (library, threads) runs in its own subprocess, and the
subprocesses are interleaved over ``--rounds`` rounds so that a burst of load from other users of a shared
machine hits every configuration alike.  Within a process: ``--warmup`` steps, then ``--repeats`` timed
blocks of k steps (k chosen so a block takes about ``--block-s``); the time per step is the best block's
mean, and the reported number is the best over rounds.

Memory traffic per parameter and step (float32, each array streamed once): SGD with momentum reads p, g, buf
and writes p, buf (5 x 4 bytes); Adam reads p, g, m, v and writes p, m, v (7 x 4 bytes).  The machine's copy
bandwidth is measured in the same run (``np.copyto`` of a 256 MB float32 array, read + write counted, best of
several, before and after the workers) as the practical single-stream ceiling.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# name: (fastnn constructor kwargs, torch constructor kwargs, bytes moved per parameter per step)
OPTIMS = {
    "sgd-momentum": ({"lr": 0.01, "momentum": 0.9}, {"lr": 0.01, "momentum": 0.9}, 5 * 4),
    "adam": ({"lr": 1e-3}, {"lr": 1e-3}, 7 * 4),
}
SIZES = [1_000_000, 10_000_000]
SEED = 0


def _use_inplace_build():
    ext = os.path.join(ROOT, "fastnn", "_ext")
    if os.path.isdir(ext) and any(f.startswith("_core") and f.endswith((".so", ".pyd")) for f in os.listdir(ext)):
        if ROOT not in sys.path:
            sys.path.insert(0, ROOT)


def torch_fused_supported():
    """Whether torch.optim.SGD and Adam accept fused=True for CPU tensors in this torch (tried, not assumed)."""
    import torch

    out = {}
    for name, cls in (("sgd-momentum", torch.optim.SGD), ("adam", torch.optim.Adam)):
        p = torch.zeros(8, requires_grad=True)
        p.grad = torch.ones(8)
        try:
            cls([p], lr=1e-3, fused=True, **({"momentum": 0.9} if name == "sgd-momentum" else {})).step()
            out[name] = True
        except Exception:  # noqa: BLE001 (unsupported device/dtype raises RuntimeError or ValueError)
            out[name] = False
    return out


def make_data(n):
    import numpy as np

    rng = np.random.default_rng(SEED)
    p = rng.standard_normal(n, dtype=np.float32)
    g = (rng.standard_normal(n, dtype=np.float32) * 1e-2).astype(np.float32)
    return p, g


class FastnnStepper:
    def __init__(self, optim, n, threads, variant=None):
        import fastnn as fnn

        fnn.set_num_threads(threads)
        self.p, self.g = make_data(n)
        self.opt = getattr(fnn.optim, {"sgd-momentum": "SGD", "adam": "Adam"}[optim])(**OPTIMS[optim][0])
        self.variant = "Optimizer.step(flat params, flat grads)"

    def step(self):
        self.opt.step(self.p, self.g)


class TorchStepper:
    def __init__(self, optim, n, threads, variant="fused"):
        import torch

        torch.set_num_threads(threads)
        p, g = make_data(n)
        self.p = torch.from_numpy(p).requires_grad_(True)
        self.p.grad = torch.from_numpy(g)
        kw = dict(OPTIMS[optim][1])
        if variant == "fused":
            kw["fused"] = True
        elif variant == "foreach":
            kw["foreach"] = True
        elif variant == "forloop":
            kw["foreach"] = False
        cls = {"sgd-momentum": torch.optim.SGD, "adam": torch.optim.Adam}[optim]
        self.opt = cls([self.p], **kw)
        self.variant = variant

    def step(self):
        self.opt.step()


def measure(impl, variant, optim, n, threads, warmup, repeats, block_s):
    St = FastnnStepper if impl == "fastnn" else TorchStepper
    s = St(optim, n, threads, variant)
    t0 = time.perf_counter()
    for _ in range(warmup):
        s.step()
    per = (time.perf_counter() - t0) / max(warmup, 1)
    k = max(1, int(block_s / max(per, 1e-7)))
    load0 = os.getloadavg()[0]
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(k):
            s.step()
        best = min(best, (time.perf_counter() - t0) / k)
    nbytes = OPTIMS[optim][2] * n
    return {"impl": impl, "variant": variant, "optim": optim, "n": n, "threads": threads, "steps_per_block": k,
            "s_per_step": best, "gb_per_s": nbytes / best / 1e9,
            "loadavg": round(max(load0, os.getloadavg()[0]), 2)}


def copy_bandwidth(mb=256, repeats=5):
    """np.copyto of an ``mb`` MB float32 array (one thread, numpy), GB/s counting read + write; best of repeats."""
    import numpy as np

    n = mb * (1 << 20) // 4
    a = np.ones(n, dtype=np.float32)
    b = np.empty_like(a)
    np.copyto(b, a)  # fault the pages in
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t0)
    return 2 * a.nbytes / best / 1e9


# -- driver ----------------------------------------------------------------------------------------------------
def worker(args):
    if args.impl == "fastnn" and not args.installed:
        _use_inplace_build()
    for optim in args.optims:
        for n in args.sizes:
            try:
                r = measure(args.impl, args.variant, optim, n, args.threads[0], args.warmup, args.repeats,
                            args.block_s)
            except Exception as exc:  # report, keep going
                r = {"impl": args.impl, "variant": args.variant, "optim": optim, "n": n,
                     "threads": args.threads[0], "error": repr(exc)}
            print("RESULT " + json.dumps(r), flush=True)


def run_subprocess(impl, variant, threads, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--impl", impl, "--variant", variant or "",
           "--threads", str(threads), "--optims", ",".join(args.optims),
           "--sizes", ",".join(map(str, args.sizes)), "--warmup", str(args.warmup),
           "--repeats", str(args.repeats), "--block-s", str(args.block_s)]
    if args.installed:
        cmd.append("--installed")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env.pop("FASTNN_NUM_THREADS", None)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    out = []
    for line in p.stdout:
        if line.startswith("RESULT "):
            r = json.loads(line[7:])
            out.append(r)
            if args.verbose:
                msg = r.get("error") or f"{r['s_per_step'] * 1e3:9.3f} ms/step {r['gb_per_s']:6.1f} GB/s"
                print(f"  {impl}{'/' + variant if variant else '':9s} t={threads} {r['optim']:13s} "
                      f"n={r['n']:>10,} {msg}", file=sys.stderr, flush=True)
    p.wait()
    return out


def _best(results):
    """Best (lowest s_per_step) result per (impl, variant, optim, n, threads) over rounds."""
    best = {}
    for r in results:
        if "error" in r:
            continue
        key = (r["impl"], r["variant"], r["optim"], r["n"], r["threads"])
        if key not in best or r["s_per_step"] < best[key]["s_per_step"]:
            best[key] = dict(r, rounds=best.get(key, {}).get("rounds", 0) + 1)
        else:
            best[key]["rounds"] += 1
    return best


def _n_label(n):
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n:,}"


def markdown(results, args, bw, fused_ok):
    best = _best(results)
    tv = args.torch_variants
    lines = ["| Optimizer | Params | Threads | fastnn ms/step | fastnn GB/s | "
             + " | ".join(f"torch {v} ms/step | torch {v} GB/s" for v in tv)
             + " | fastnn / torch " + tv[0] + " (speed-up) | fastnn % of copy BW |",
             "|---|---:|---:|---:|---:|" + "---:|---:|" * len(tv) + "---:|---:|"]
    maxload = 0.0
    for optim in args.optims:
        for n in args.sizes:
            for t in args.threads:
                f = best.get(("fastnn", None, optim, n, t))
                cells = [f"{f['s_per_step'] * 1e3:.3f}", f"{f['gb_per_s']:.1f}"] if f else ["n/a", "n/a"]
                ts = []
                for v in tv:
                    r = best.get(("torch", v, optim, n, t))
                    ts.append(r)
                    cells += [f"{r['s_per_step'] * 1e3:.3f}", f"{r['gb_per_s']:.1f}"] if r else ["n/a", "n/a"]
                for r in [f] + ts:
                    if r:
                        maxload = max(maxload, r["loadavg"])
                ratio = f"{ts[0]['s_per_step'] / f['s_per_step']:.2f}x" if f and ts and ts[0] else "n/a"
                pct = f"{100 * f['gb_per_s'] / bw:.0f}%" if f and bw else "n/a"
                lines.append(f"| {optim} | {_n_label(n)} | {t} | " + " | ".join(cells) + f" | {ratio} | {pct} |")
    lines += ["", f"Copy bandwidth (np.copyto, 256 MB float32, read + write counted, best of 5, measured "
                  f"before and after the workers): {bw:.1f} GB/s.",
              "Bytes per parameter and step: " + ", ".join(f"{o} {OPTIMS[o][2]}" for o in args.optims) + ".",
              "torch fused=True accepted on CPU: " + ", ".join(f"{o} {fused_ok.get(o)}" for o in args.optims)
              + ".",
              f"Best of {args.repeats} timed blocks (~{args.block_s:g} s each) per process, best over "
              f"{args.rounds} interleaved round(s); highest 1-minute load average seen during a timed run: "
              f"{maxload:.2f} on {os.cpu_count()} logical CPUs."]
    for r in results:
        if "error" in r:
            lines.append(f"\nerror: {r['impl']} {r.get('variant')} {r['optim']} n={r['n']} t={r['threads']}: "
                         f"{r['error']}")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, one round")
    ap.add_argument("--optims", default=",".join(OPTIMS), help="comma-separated: " + ",".join(OPTIMS))
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated parameter counts")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--torch-variants", default="fused",
                    help="comma-separated torch.optim variants: fused, foreach, forloop (the first is the "
                         "ratio's reference; fused falls back to foreach where torch refuses it)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of subprocesses; best counts")
    ap.add_argument("--repeats", type=int, default=5, help="timed blocks per process; best counts")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    ap.add_argument("--block-s", type=float, default=0.2, help="seconds per timed block (about)")
    ap.add_argument("--installed", action="store_true", help="use the installed fastnn, not an in-place build")
    ap.add_argument("--json", default=None, help="also write the raw results to this file")
    ap.add_argument("-q", "--quiet", dest="verbose", action="store_false", help="no progress on stderr")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--impl", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--variant", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.optims = [o.strip() for o in args.optims.split(",") if o.strip()]
    bad = [o for o in args.optims if o not in OPTIMS]
    if bad:
        ap.error(f"unknown optimizer(s) {bad}; known: {', '.join(OPTIMS)}")
    args.sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    args.threads = [int(t) for t in args.threads.split(",")]
    args.torch_variants = [v.strip() for v in args.torch_variants.split(",") if v.strip()]
    if args.quick:
        args.rounds, args.repeats, args.warmup, args.block_s = 1, 3, 3, min(args.block_s, 0.1)
    if args.worker:
        args.variant = args.variant or None
        worker(args)
        return 0
    if not args.installed:
        _use_inplace_build()
    import importlib.util

    have_torch = importlib.util.find_spec("torch") is not None
    fused_ok = torch_fused_supported() if have_torch else {}
    if have_torch and "fused" in args.torch_variants and not all(fused_ok.get(o) for o in args.optims):
        print("note: torch refuses fused=True on CPU here; using foreach=True", file=sys.stderr)
        args.torch_variants = ["foreach" if v == "fused" else v for v in args.torch_variants]
    configs = [("fastnn", None)] + ([("torch", v) for v in args.torch_variants] if have_torch else [])
    if not have_torch:
        print("note: torch is not installed; its columns are n/a", file=sys.stderr)
    bws = [copy_bandwidth()]
    results = []
    for rnd in range(args.rounds):
        order = configs if rnd % 2 == 0 else configs[::-1]  # alternate who goes first
        for t in args.threads:
            for impl, v in order:
                results += run_subprocess(impl, v, t, args)
    bws.append(copy_bandwidth())
    bw = max(bws)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "copy_bw_gb_s": bws, "torch_fused_cpu": fused_ok}, f, indent=1)
    print(markdown(results, args, bw, fused_ok))
    return 0


if __name__ == "__main__":
    sys.exit(main())
