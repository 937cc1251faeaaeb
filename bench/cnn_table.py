"""Training speed of small CNNs: fastnn vs PyTorch, samples per second for one epoch, batch 64.

    python bench/cnn_table.py                     # every case, 1 and 2 threads
    python bench/cnn_table.py --cases lenet5 --threads 1,2,4 --batches 30

Each (library, thread count, case) runs in its own process (two OpenMP runtimes in one process would share
cores badly); synthetic seeded data (speed only), plain SGD, cross-entropy.  Prints a markdown table with the
ratio fastnn / PyTorch.  With ``--rounds R`` the libraries alternate R times per (case, threads), each run a
fresh process, and the table gives the median samples/s of each and the median of the R per-round ratios with
their range: on a shared, noisy machine one pair of runs can swing the ratio by 20%.  The networks are those of issue #7: Nielsen's conv20(5x5)-pool-fc100 and
conv20-pool-conv40-pool-fc100, LeNet-5, the Fashion-MNIST two-conv network and a small ResNet.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

CASES = {
    "nielsen1": "conv20(5x5)-pool-fc100",
    "nielsen2": "conv20-pool-conv40-pool-fc100",
    "lenet5": "LeNet-5 (tanh, avg pool)",
    "fmnist2conv": "conv32(5x5 same)-pool-conv64(5x5 same)-pool-fc256",
    "resnet": "ResNet 16/32/64 (3 stages, BN, 1 block each)",
}


def fastnn_model(case):
    import fastnn as fnn

    C, P, L, R = fnn.Conv2d, fnn.MaxPool2d, fnn.Linear, fnn.ReLU
    if case == "nielsen1":
        layers = [C(1, 20, 5), R(), P(2), fnn.Flatten(), L(20 * 12 * 12, 100, activation="relu"), L(100, 10)]
    elif case == "nielsen2":
        layers = [C(1, 20, 5), R(), P(2), C(20, 40, 5), R(), P(2), fnn.Flatten(),
                  L(40 * 4 * 4, 100, activation="relu"), L(100, 10)]
    elif case == "lenet5":
        layers = [C(1, 6, 5, padding=2), fnn.Tanh(), fnn.AvgPool2d(2), C(6, 16, 5), fnn.Tanh(), fnn.AvgPool2d(2),
                  fnn.Flatten(), L(400, 120, activation="tanh"), L(120, 84, activation="tanh"), L(84, 10)]
    elif case == "fmnist2conv":
        layers = [C(1, 32, 5, padding=2), R(), P(2), C(32, 64, 5, padding=2), R(), P(2), fnn.Flatten(),
                  L(64 * 7 * 7, 256, activation="relu"), L(256, 10)]
    else:
        def block(cin, cout, stride):
            body = [C(cin, cout, 3, stride=stride, padding=1, bias=False), fnn.BatchNorm2d(cout), R(),
                    C(cout, cout, 3, padding=1, bias=False), fnn.BatchNorm2d(cout)]
            short = None if cin == cout and stride == 1 else [C(cin, cout, 1, stride=stride, bias=False),
                                                               fnn.BatchNorm2d(cout)]
            return [fnn.Residual(body, short), R()]
        layers = ([C(1, 16, 3, padding=1, bias=False), fnn.BatchNorm2d(16), R()] + block(16, 16, 1) +
                  block(16, 32, 2) + block(32, 64, 2) + [fnn.GlobalAvgPool2d(), fnn.Flatten(), L(64, 10)])
    m = fnn.Sequential(layers, input_shape=(1, 28, 28), seed=0)
    return m.compile(loss="cross_entropy", optimizer=fnn.optim.SGD(lr=0.01))


def torch_model(case):
    import torch.nn as nn

    C, P, L, R = nn.Conv2d, nn.MaxPool2d, nn.Linear, nn.ReLU
    if case == "nielsen1":
        return nn.Sequential(C(1, 20, 5), R(), P(2), nn.Flatten(), L(2880, 100), R(), L(100, 10))
    if case == "nielsen2":
        return nn.Sequential(C(1, 20, 5), R(), P(2), C(20, 40, 5), R(), P(2), nn.Flatten(), L(640, 100), R(),
                             L(100, 10))
    if case == "lenet5":
        return nn.Sequential(C(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2), C(6, 16, 5), nn.Tanh(),
                             nn.AvgPool2d(2), nn.Flatten(), L(400, 120), nn.Tanh(), L(120, 84), nn.Tanh(),
                             L(84, 10))
    if case == "fmnist2conv":
        return nn.Sequential(C(1, 32, 5, padding=2), R(), P(2), C(32, 64, 5, padding=2), R(), P(2), nn.Flatten(),
                             L(3136, 256), R(), L(256, 10))

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(C(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), R(),
                                      C(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
            self.short = (nn.Identity() if cin == cout and stride == 1 else
                          nn.Sequential(C(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

        def forward(self, x):
            return (self.body(x) + self.short(x)).relu()

    return nn.Sequential(C(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), R(), Block(16, 16, 1),
                         Block(16, 32, 2), Block(32, 64, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), L(64, 10))


def worker(impl, threads, case, batches, batch):
    rng = np.random.default_rng(0)
    n = batches * batch
    X = rng.uniform(0, 1, (n, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, n)
    if impl == "fastnn":
        import fastnn as fnn

        fnn.set_num_threads(threads)
        m = fastnn_model(case)
        m.fit(X[:batch * 2], y[:batch * 2], epochs=1, batch_size=batch, verbose=0)   # warm-up
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            m.fit(X, y, epochs=1, batch_size=batch, verbose=0, shuffle=False)
            best = min(best, time.perf_counter() - t0)
    else:
        import torch

        torch.set_num_threads(threads)
        net = torch_model(case)
        opt = torch.optim.SGD(net.parameters(), lr=0.01)
        Xt, yt = torch.tensor(X), torch.tensor(y)
        lossf = torch.nn.CrossEntropyLoss()

        def epoch(k):
            for lo in range(0, k * batch, batch):
                opt.zero_grad()
                loss = lossf(net(Xt[lo:lo + batch]), yt[lo:lo + batch])
                loss.backward()
                opt.step()

        epoch(2)
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            epoch(batches)
            best = min(best, time.perf_counter() - t0)
    return n / best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batches", type=int, default=40, help="timed batches per epoch")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--impls", default="fastnn,torch")
    ap.add_argument("--rounds", type=int, default=1, help="alternations of the libraries; medians reported")
    ap.add_argument("--worker", nargs=3, metavar=("IMPL", "THREADS", "CASE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        impl, t, case = args.worker
        print(json.dumps(worker(impl, int(t), case, args.batches, args.batch)))
        return
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, PYTHONPATH=os.path.dirname(here) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    rows = []
    for case in args.cases.split(","):
        for t in (int(x) for x in args.threads.split(",")):
            runs = {impl: [] for impl in args.impls.split(",")}
            ratios = []
            for _ in range(max(1, args.rounds)):
                res = {}
                for impl in runs:
                    env["OMP_NUM_THREADS"] = str(t)
                    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--batches", str(args.batches),
                                        "--batch", str(args.batch), "--worker", impl, str(t), case],
                                       capture_output=True, text=True, env=env)
                    res[impl] = float(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else None
                    if p.returncode:
                        print(f"{impl} {case} t={t} failed:\n{p.stderr[-2000:]}", file=sys.stderr)
                    elif res[impl]:
                        runs[impl].append(res[impl])
                if res.get("fastnn") and res.get("torch"):
                    ratios.append(res["fastnn"] / res["torch"])
                print(f"  {case} t={t}: {res}", file=sys.stderr, flush=True)
            rows.append((case, t, {k: float(np.median(v)) if v else None for k, v in runs.items()}, ratios))
    print("| Network | Threads | fastnn samples/s | PyTorch samples/s | fastnn / PyTorch |")
    print("|---|---:|---:|---:|---:|")
    for case, t, res, ratios in rows:
        f, tt = res.get("fastnn"), res.get("torch")
        if len(ratios) > 1:
            ratio = f"{np.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}, {len(ratios)} rounds)"
        else:
            ratio = f"{ratios[0]:.2f}x" if ratios else "n/a"
        print(f"| {CASES[case]} | {t} | {f or 0:,.0f} | {tt or 0:,.0f} | {ratio} |")
    try:
        print(f"\nload average {os.getloadavg()[0]:.2f} on {os.cpu_count()} logical CPUs")
    except OSError:
        pass


if __name__ == "__main__":
    main()
