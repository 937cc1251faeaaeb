"""Cost of the live progress bar: one epoch run as a single C call (verbose=0) vs in ~10 Hz chunks with the
bar redrawn to a terminal (verbose=1).  Prints the median epoch time of each and the overhead in percent
(target: < 2%).  Usage: python bench/bench_progress.py [n_samples] [repeats]"""
import io
import sys
import time

import numpy as np

import fastnn as fnn


class Terminal(io.TextIOBase):
    """A terminal that discards what it is sent (isatty True, so fit draws the live bar)."""

    def __init__(self):
        self.writes = 0

    def isatty(self):
        return True

    def write(self, s):
        self.writes += 1
        return len(s)


def main(n=60000, repeats=5):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 784)).astype(np.float32)
    y = rng.integers(0, 10, n)

    def model():
        m = fnn.Sequential([fnn.Linear(784, 256, activation="relu"), fnn.Linear(256, 10)], seed=0)
        m.compile("cross_entropy", fnn.optim.SGD(lr=0.01, momentum=0.9))
        return m

    quiet, live = model(), model()
    quiet.fit(X[:2048], y[:2048], epochs=1, verbose=0)   # warm up
    live.fit(X[:2048], y[:2048], epochs=1, verbose=0)
    tq, tl, redraws = [], [], []
    for _ in range(repeats):   # interleaved, so machine noise hits both alike
        t = time.perf_counter()
        quiet.fit(X, y, epochs=1, batch_size=64, verbose=0)
        tq.append(time.perf_counter() - t)
        term = Terminal()
        t = time.perf_counter()
        live.fit(X, y, epochs=1, batch_size=64, verbose=1, file=term)
        tl.append(time.perf_counter() - t)
        redraws.append(term.writes)
    assert np.array_equal(quiet.params, live.params), "chunked training must equal one-call training"
    q, lv = np.median(tq), np.median(tl)
    print(f"threads {fnn.get_num_threads()}, {n} samples x 784, batch 64, {(n + 63) // 64} batches per epoch")
    print(f"verbose=0 (one C call per epoch): median {q:.3f}s  (all: {', '.join(f'{v:.3f}' for v in tq)})")
    print(f"verbose=1 live bar (~10 redraws/s): median {lv:.3f}s  (all: {', '.join(f'{v:.3f}' for v in tl)}), "
          f"{int(np.median(redraws))} redraws")
    print(f"overhead: {100 * (lv - q) / q:+.2f}% of an epoch by medians, {100 * (min(tl) - min(tq)) / min(tq):+.2f}% "
          "by minima (the less noise-prone figure on a shared machine; target < 2%)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
