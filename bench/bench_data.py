"""Issue #6 speed: loading Fashion-MNIST, Standardize at memory bandwidth, augmentation vs numpy, epoch cost.

    python bench/bench_data.py [--repeats 5] [--threads 1] [--data DIR]
    pytest bench/bench_data.py --benchmark-columns=min,mean,rounds     # the same pieces, pytest-benchmark

Prints a markdown table.  Every figure is the best of ``--repeats`` runs (the machine may be shared and
noisy); the load average is printed with it.  Rows and bars:

(a) ``fastnn.datasets.fashion_mnist()`` from the gzip IDX files, cold (after ``clear_cache()``; the OS page
    cache is warm after the first run, so "cold" is decode-cold, not disk-cold) and cached (bar: < 1 s).
(b) ``fastnn.preprocessing.Standardize`` on the 60,000x784 float32 training images (188 MB), each against the
    memory-bound pass that moves the same bytes, same run, same threads: ``fit`` (reads X once) vs a read
    pass (the faster of ``X.max()`` and fastnn's SIMD NaN scan); ``transform(X, out=buf)`` vs
    ``np.copyto(buf, X)``; ``transform(X)`` (a new array) vs ``X.copy()``.  Bar "at memory bandwidth": met
    when within 10% of the reference (>= 0.9x its speed).
(c) ``Compose([RandomTranslate(2), RandomHorizontalFlip(), Cutout(8)], image_shape=(1, 28, 28)).apply`` on
    10,000x784 vs the vectorised numpy implementation below of the same transforms (bar: >= 5x).
(d) one epoch of the Fashion-MNIST MLP (784-256-128-10 ReLU, SGD, batch 64) with ``fit(..., augment=)``
    (the pipeline of (c)) over one without (bar: <= 1.3x).
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isdir(os.path.join(ROOT, "fastnn", "_ext")) and ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import fastnn as fnn  # noqa: E402
from fastnn.augment import Compose, Cutout, RandomHorizontalFlip, RandomTranslate  # noqa: E402

SHAPE = (1, 28, 28)


def make_pipeline():
    return Compose([RandomTranslate(2), RandomHorizontalFlip(), Cutout(8)], image_shape=SHAPE)


# -- the numpy reference: the same three transforms, vectorised over the batch ----------------------------------
def numpy_augment(X, rng, max_shift=2, cutout=8):
    """RandomTranslate(max_shift) (zero fill) -> RandomHorizontalFlip(0.5) -> Cutout(cutout) on (N, 784)
    float32, vectorised: padding + per-sample gather for the shifts, fancy indexing for the flips, a
    broadcast mask for the cutout.  Returns a new (N, 784) array."""
    n = X.shape[0]
    h, w = SHAPE[1], SHAPE[2]
    imgs = X.reshape(n, h, w)
    # translate: pad by max_shift, then read the window shifted by (dy, dx) for each sample
    s = max_shift
    padded = np.zeros((n, h + 2 * s, w + 2 * s), dtype=np.float32)
    padded[:, s:s + h, s:s + w] = imgs
    dy = rng.integers(-s, s + 1, size=n)
    dx = rng.integers(-s, s + 1, size=n)
    rows = (s - dy)[:, None] + np.arange(h)[None, :]          # (n, h): out[i, r] = in[r - dy]
    cols = (s - dx)[:, None] + np.arange(w)[None, :]          # (n, w)
    out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    # horizontal flip with probability 0.5
    flip = rng.random(n) < 0.5
    out[flip] = out[flip][:, :, ::-1]
    # cutout: one size x size square (clipped at the border), centre uniform over the image
    cy = rng.integers(0, h, size=n)
    cx = rng.integers(0, w, size=n)
    r0 = (cy - cutout // 2)[:, None, None]
    c0 = (cx - cutout // 2)[:, None, None]
    r = np.arange(h)[None, :, None]
    c = np.arange(w)[None, None, :]
    mask = (r >= r0) & (r < r0 + cutout) & (c >= c0) & (c < c0 + cutout)
    out[mask] = 0.0
    return out.reshape(n, h * w)


def _best(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _mlp(seed=0):
    from fastnn.examples.fashion_mnist import build

    model = build((256, 128), dropout=0.0, seed=seed)
    model.compile(loss="cross_entropy", optimizer=fnn.optim.SGD(lr=0.05, momentum=0.9))
    return model


def measure(repeats=5, data=None, epoch_repeats=3):
    res = {}
    # (a) loading
    def cold():
        fnn.datasets.clear_cache()
        return fnn.datasets.fashion_mnist(data)

    res["load_cold_s"] = _best(cold, repeats)
    fnn.datasets.fashion_mnist(data)
    res["load_cached_s"] = _best(lambda: fnn.datasets.fashion_mnist(data), repeats)
    (X, y), _ = fnn.datasets.fashion_mnist(data)
    X = np.ascontiguousarray(X, dtype=np.float32)

    # (b) Standardize vs the memory-bound passes over the same array, same threads
    from fastnn._ext import _core

    nt = fnn.get_num_threads()
    dst = np.empty_like(X)
    np.copyto(dst, X)
    res["read_s"] = min(_best(lambda: X.max(), repeats), _best(lambda: _core.first_nonfinite(X, nt), repeats))
    res["copyto_s"] = _best(lambda: np.copyto(dst, X), repeats)
    res["copy_s"] = _best(lambda: X.copy(), repeats)
    st = fnn.preprocessing.Standardize()
    res["fit_s"] = _best(lambda: st.fit(X), repeats)
    res["transform_out_s"] = _best(lambda: st.transform(X, out=dst), repeats)
    res["transform_s"] = _best(lambda: st.transform(X), repeats)
    res["bytes"] = X.nbytes
    del dst

    # (c) augmentation throughput
    aug = make_pipeline()
    Xa = X[:10_000].copy()
    aug.apply(Xa, seed=0, step=0)
    t_c = _best(lambda: aug.apply(Xa, seed=0, step=1), repeats)
    rng = np.random.default_rng(0)
    numpy_augment(Xa, rng)
    t_np = _best(lambda: numpy_augment(Xa, rng), repeats)
    res["aug_fastnn_ips"] = Xa.shape[0] / t_c
    res["aug_numpy_ips"] = Xa.shape[0] / t_np

    # (d) one epoch with and without augmentation (interleaved, best of epoch_repeats each)
    Xc = X - X.mean(axis=0, dtype=np.float64).astype(np.float32)
    m_plain, m_aug = _mlp(), _mlp()
    m_plain.fit(Xc[:2048], y[:2048], epochs=1, batch_size=64, verbose=0)   # warm-up
    m_aug.fit(Xc[:2048], y[:2048], epochs=1, batch_size=64, verbose=0, augment=aug)
    tp, ta = float("inf"), float("inf")
    for _ in range(epoch_repeats):
        t = time.perf_counter()
        m_plain.fit(Xc, y, epochs=1, batch_size=64, verbose=0)
        tp = min(tp, time.perf_counter() - t)
        t = time.perf_counter()
        m_aug.fit(Xc, y, epochs=1, batch_size=64, verbose=0, augment=aug)
        ta = min(ta, time.perf_counter() - t)
    res["epoch_plain_s"], res["epoch_aug_s"] = tp, ta
    return res


def _ms(r, key, ref=None):
    """'t ms (GB/s of the bytes moved)', and the speed relative to the reference pass when given."""
    moved = r["bytes"] * (1 if key in ("read_s", "fit_s") else 2)
    txt = f"{r[key] * 1e3:.1f} ms ({moved / r[key] / 1e9:.1f} GB/s)"
    return txt if ref is None else f"{txt} = {r[ref] / r[key]:.2f}x the reference's speed"


def table(r):
    def ok(cond):
        return "yes" if cond else "**no**"

    rows = [
        ("(a) load Fashion-MNIST, gzip IDX, cold (after clear_cache)", f"{r['load_cold_s']:.3f} s", "< 1 s",
         ok(r["load_cold_s"] < 1)),
        ("(a) load Fashion-MNIST, cached", f"{r['load_cached_s']:.3f} s", "< 1 s", ok(r["load_cached_s"] < 1)),
        ("(b) read pass over X (min of X.max() and fastnn's NaN scan)", _ms(r, "read_s"), "reference", ""),
        ("(b) Standardize.fit (reads X once)", _ms(r, "fit_s", "read_s"), "memory bandwidth",
         ok(r["read_s"] / r["fit_s"] >= 0.9)),
        ("(b) np.copyto(out, X) (read + write)", _ms(r, "copyto_s"), "reference", ""),
        ("(b) Standardize.transform(X, out=out)", _ms(r, "transform_out_s", "copyto_s"), "memory bandwidth",
         ok(r["copyto_s"] / r["transform_out_s"] >= 0.9)),
        ("(b) X.copy() (read + write a new array)", _ms(r, "copy_s"), "reference", ""),
        ("(b) Standardize.transform(X) (a new array)", _ms(r, "transform_s", "copy_s"), "memory bandwidth",
         ok(r["copy_s"] / r["transform_s"] >= 0.9)),
        ("(c) augment 10,000x784, fastnn Compose.apply", f"{r['aug_fastnn_ips']:,.0f} images/s", "", ""),
        ("(c) augment 10,000x784, vectorised numpy", f"{r['aug_numpy_ips']:,.0f} images/s", "", ""),
        ("(c) fastnn / numpy", f"{r['aug_fastnn_ips'] / r['aug_numpy_ips']:.1f}x", ">= 5x",
         ok(r["aug_fastnn_ips"] / r["aug_numpy_ips"] >= 5)),
        ("(d) MLP epoch (784-256-128-10, SGD, batch 64), no augmentation", f"{r['epoch_plain_s']:.2f} s", "", ""),
        ("(d) MLP epoch, fit(..., augment=pipeline of (c))", f"{r['epoch_aug_s']:.2f} s", "", ""),
        ("(d) with / without", f"{r['epoch_aug_s'] / r['epoch_plain_s']:.2f}x", "<= 1.3x",
         ok(r["epoch_aug_s"] / r["epoch_plain_s"] <= 1.3)),
    ]
    out = ["| measurement | result | bar | met |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--epoch-repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default=None)
    args = ap.parse_args(argv)
    fnn.set_num_threads(args.threads)
    load0 = os.getloadavg()
    r = measure(args.repeats, args.data, args.epoch_repeats)
    load1 = os.getloadavg()
    print(f"fastnn {getattr(fnn, '__version__', '?')}, isa {fnn.get_isa()}, {fnn.get_num_threads()} thread(s), "
          f"numpy {np.__version__}, {os.cpu_count()} CPUs; best of {args.repeats} "
          f"({args.epoch_repeats} for epochs); load average before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, "
          f"after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}\n")
    print(table(r))
    return r


# -- pytest-benchmark ------------------------------------------------------------------------------------------
def _fmnist_or_skip():
    import pytest

    try:
        return fnn.datasets.fashion_mnist()
    except FileNotFoundError as exc:
        pytest.skip(f"Fashion-MNIST not installed: {exc}")


def test_load_cold(benchmark):
    _fmnist_or_skip()

    def cold():
        fnn.datasets.clear_cache()
        fnn.datasets.fashion_mnist()

    benchmark(cold)


def test_standardize_transform(benchmark):
    (X, _), _ = _fmnist_or_skip()
    st = fnn.preprocessing.Standardize().fit(X)
    benchmark(st.transform, X)


def test_augment_fastnn(benchmark):
    (X, _), _ = _fmnist_or_skip()
    aug, Xa = make_pipeline(), X[:10_000].copy()
    benchmark(aug.apply, Xa, 0, 1)


def test_augment_numpy(benchmark):
    (X, _), _ = _fmnist_or_skip()
    Xa, rng = X[:10_000].copy(), np.random.default_rng(0)
    benchmark(numpy_augment, Xa, rng)


if __name__ == "__main__":
    main()
