"""Image augmentation (src_c/fnn_augment.c, fastnn.augment): exact outputs on small hand-made images against numpy
references driven by a Python replica of the counter-based draws, fast vs naive twin, determinism across seeds,
steps, thread counts and batch contents, p = 0 / p = 1, argument errors, and Compose's API and JSON round trip."""
import json
import math

import numpy as np
import pytest

from fastnn import augment as A
from fastnn._ext import _core

M64 = (1 << 64) - 1


# -- replica of the draws (src_c/fnn_rng.h, the header comment of src_c/fnn_augment.h) ----------------------------
def mix64(z):
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def rand64(seed, stream, index):
    return mix64((mix64(seed ^ mix64((stream + 0x632BE59BD9B4E019) & M64)) + index) & M64)


def draw(seed, j, step, i, k):
    """k-th draw of sample i for op j."""
    os_ = seed ^ mix64(0xA0 + j)
    s = os_ if k < 8 else os_ ^ mix64(k >> 3)
    return rand64(s, step, (i * 8 + (k & 7)) & M64)


def u24(r):
    return np.float32(r >> 40) * np.float32(1.0 / 16777216.0)


def u53(r):
    return (r >> 11) / 9007199254740992.0


def randint(r, n):
    return ((r >> 32) * n) >> 32


def applies(seed, j, step, i, p):
    return p >= 1.0 or u24(draw(seed, j, step, i, 0)) < np.float32(p)


def run(x, ops, shape, seed=0, step=0, n_threads=1, naive=False):
    y = np.ascontiguousarray(x, dtype=np.float32).reshape(x.shape[0], -1).copy()
    _core.augment_batch(y, ops, *shape, seed=seed, step=step, n_threads=n_threads, naive=naive)
    return y.reshape(x.shape)


def images(rng, b, c, h, w):
    return rng.standard_normal((b, c, h, w)).astype(np.float32)


def shifted(img, dx, dy, fill):
    """img (C,H,W) -> out[c, y, x] = img[c, y - dy, x - dx] or fill."""
    c, h, w = img.shape
    out = np.full_like(img, fill)
    for y in range(h):
        for x in range(w):
            if 0 <= y - dy < h and 0 <= x - dx < w:
                out[:, y, x] = img[:, y - dy, x - dx]
    return out


ALL_OPS = [
    {"kind": "translate", "p": 0.8, "ia": 2, "a": -0.5},
    {"kind": "crop", "ia": 3, "a": 0.25},
    {"kind": "hflip", "p": 0.5},
    {"kind": "vflip", "p": 0.5},
    {"kind": "rotate", "a": 15.0, "b": 0.1, "p": 0.7},
    {"kind": "brightness", "a": 0.2},
    {"kind": "contrast", "a": 0.3},
    {"kind": "noise", "a": 0.05, "p": 0.5},
    {"kind": "cutout", "ia": 5, "ib": 3, "a": 0.0},
    {"kind": "erase", "p": 0.5, "a": 0.02, "b": 0.33, "c": 0.3, "d": 3.3},
    {"kind": "clip", "a": 0.0, "b": 1.0},
]


# -- exact outputs ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("naive", [False, True])
def test_flips_of_known_array(naive):
    x = np.arange(2 * 2 * 3 * 4, dtype=np.float32).reshape(2, 2, 3, 4)
    np.testing.assert_array_equal(run(x, [{"kind": "hflip"}], (2, 3, 4), naive=naive), x[..., ::-1])
    np.testing.assert_array_equal(run(x, [{"kind": "vflip"}], (2, 3, 4), naive=naive), x[..., ::-1, :])
    both = [{"kind": "hflip"}, {"kind": "vflip"}]
    np.testing.assert_array_equal(run(x, both, (2, 3, 4), naive=naive), x[..., ::-1, ::-1])
    x5 = np.arange(5 * 5, dtype=np.float32).reshape(1, 1, 5, 5)   # odd sizes: the middle stays
    np.testing.assert_array_equal(run(x5, [{"kind": "hflip"}], (1, 5, 5)), x5[..., ::-1])
    np.testing.assert_array_equal(run(x5, [{"kind": "vflip"}], (1, 5, 5)), x5[..., ::-1, :])


def test_flip_probability_follows_draw_zero():
    b, seed, step = 400, 7, 3
    x = np.arange(b * 6, dtype=np.float32).reshape(b, 1, 2, 3)
    y = run(x, [{"kind": "hflip", "p": 0.5}], (1, 2, 3), seed=seed, step=step)
    flipped = np.array([np.array_equal(y[i], x[i, ..., ::-1]) for i in range(b)])
    kept = np.array([np.array_equal(y[i], x[i]) for i in range(b)])
    assert np.all(flipped ^ kept)
    want = np.array([applies(seed, 0, step, i, 0.5) for i in range(b)])
    np.testing.assert_array_equal(flipped, want)
    assert 0.4 < flipped.mean() < 0.6


def test_translate_probe_with_one_hot():
    """Find each sample's (dx, dy) from a one-hot image, then check a random image moved by that shift."""
    b, h, w, seed, step = 64, 7, 9, 11, 5
    ops = [{"kind": "translate", "ia": 2, "a": -3.0}]
    probe = np.zeros((b, 1, h, w), np.float32)
    probe[:, 0, 3, 4] = 1.0
    out = run(probe, ops, (1, h, w), seed=seed, step=step)
    rng = np.random.default_rng(0)
    x = images(rng, b, 2, h, w)
    y = run(x, ops, (2, h, w), seed=seed, step=step)
    seen = set()
    for i in range(b):
        (yy,), (xx,) = np.nonzero(out[i, 0] == 1.0)
        dx, dy = xx - 4, yy - 3
        assert -2 <= dx <= 2 and -2 <= dy <= 2
        seen.add((dx, dy))
        # the shift the draws say (dx from draw 1, dy from draw 2)
        assert dx == randint(draw(seed, 0, step, i, 1), 5) - 2 and dy == randint(draw(seed, 0, step, i, 2), 5) - 2
        np.testing.assert_array_equal(y[i], shifted(x[i], dx, dy, -3.0))
    assert len(seen) >= 15    # 25 possible shifts, 64 samples


def test_translate_larger_than_image_fills():
    x = np.ones((32, 1, 3, 3), np.float32)
    y = run(x, [{"kind": "translate", "ia": 10, "a": 0.5}], (1, 3, 3), seed=1)
    for i in range(32):
        dx = randint(draw(1, 0, 0, i, 1), 21) - 10
        dy = randint(draw(1, 0, 0, i, 2), 21) - 10
        np.testing.assert_array_equal(y[i], shifted(x[i], dx, dy, 0.5))


@pytest.mark.parametrize("naive", [False, True])
def test_crop_offset_matches_padded_crop(naive):
    b, c, h, w, pad, seed = 40, 3, 6, 5, 2, 9
    rng = np.random.default_rng(1)
    x = images(rng, b, c, h, w)
    y = run(x, [{"kind": "crop", "ia": pad, "a": 7.0}], (c, h, w), seed=seed, step=1, naive=naive)
    for i in range(b):
        ox = randint(draw(seed, 0, 1, i, 1), 2 * pad + 1)
        oy = randint(draw(seed, 0, 1, i, 2), 2 * pad + 1)
        padded = np.pad(x[i], ((0, 0), (pad, pad), (pad, pad)), constant_values=7.0)
        np.testing.assert_array_equal(y[i], padded[:, oy:oy + h, ox:ox + w])


@pytest.mark.parametrize("size", [1, 3, 4, 8])
def test_cutout_area(size):
    b, c, h, w, seed = 200, 2, 10, 12, 4
    x = np.ones((b, c, h, w), np.float32)
    y = run(x, [{"kind": "cutout", "ia": size, "ib": 1, "a": 0.0}], (c, h, w), seed=seed)
    full = 0
    for i in range(b):
        zeros = y[i] == 0
        np.testing.assert_array_equal(zeros[0], zeros[1])             # same patch in every channel
        ys, xs = np.nonzero(zeros[0])
        hh, ww = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        assert zeros[0].sum() == hh * ww                               # one rectangle
        assert size - size // 2 <= hh <= size and size - size // 2 <= ww <= size
        full += hh * ww == size * size
        cy, cx = randint(draw(seed, 0, 0, i, 1), h), randint(draw(seed, 0, 0, i, 2), w)
        assert ys.min() == max(cy - size // 2, 0) and xs.min() == max(cx - size // 2, 0)
        assert hh == min(cy - size // 2 + size, h) - max(cy - size // 2, 0)   # clipped side
        assert ww == min(cx - size // 2 + size, w) - max(cx - size // 2, 0)
    assert full > 0                                                     # some patches lie wholly inside


def test_cutout_many_holes_uses_extended_draws():
    b, h, w, s, n, seed = 16, 20, 20, 3, 6, 2                           # 12 draws per sample: k >= 8 too
    y = run(np.ones((b, 1, h, w), np.float32), [{"kind": "cutout", "ia": s, "ib": n, "a": -1.0}], (1, h, w),
            seed=seed)
    for i in range(b):
        want = np.ones((h, w), np.float32)
        for k in range(n):
            cy, cx = randint(draw(seed, 0, 0, i, 1 + 2 * k), h), randint(draw(seed, 0, 0, i, 2 + 2 * k), w)
            want[max(cy - s // 2, 0):max(cy - s // 2 + s, 0), max(cx - s // 2, 0):max(cx - s // 2 + s, 0)] = -1.0
        np.testing.assert_array_equal(y[i, 0], want)


def erase_reference(img, seed, step, i, a, b, c, d):
    a, b, c, d = (float(np.float32(v)) for v in (a, b, c, d))
    _, h, w = img.shape
    out = img.copy()
    for t in range(10):
        target = h * w * (a + (b - a) * u53(draw(seed, 0, step, i, 1 + 4 * t)))
        asp = math.exp(math.log(c) + (math.log(d) - math.log(c)) * u53(draw(seed, 0, step, i, 2 + 4 * t)))
        eh, ew = math.floor(math.sqrt(target * asp) + 0.5), math.floor(math.sqrt(target / asp) + 0.5)
        if not (eh < h and ew < w):
            continue
        y0 = randint(draw(seed, 0, step, i, 3 + 4 * t), h - eh + 1)
        x0 = randint(draw(seed, 0, step, i, 4 + 4 * t), w - ew + 1)
        out[:, y0:y0 + eh, x0:x0 + ew] = 0.0
        break
    return out


def test_erase_area_bounds_and_reference():
    b, c, h, w, seed = 300, 2, 28, 28, 13
    lo, hi, r0, r1 = 0.1, 0.2, 0.5, 2.0
    x = np.ones((b, c, h, w), np.float32)
    y = run(x, [{"kind": "erase", "a": lo, "b": hi, "c": r0, "d": r1}], (c, h, w), seed=seed, step=2)
    slack = 0.5 * (math.sqrt(r1) + 1 / math.sqrt(r0))                  # rounding h and w to integers
    for i in range(b):
        zeros = y[i, 0] == 0
        np.testing.assert_array_equal(zeros, y[i, 1] == 0)
        ys, xs = np.nonzero(zeros)
        eh, ew = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        assert zeros.sum() == eh * ew
        area = h * w
        assert lo * area - slack * math.sqrt(lo * area) <= eh * ew <= hi * area + slack * math.sqrt(hi * area) + 0.25
        assert r0 * 0.6 <= eh / ew <= r1 / 0.6
        np.testing.assert_array_equal(y[i], erase_reference(x[i], seed, 2, i, lo, hi, r0, r1))


def test_erase_that_never_fits_leaves_image():
    x = np.ones((20, 1, 5, 5), np.float32)
    y = run(x, [{"kind": "erase", "a": 0.9, "b": 1.0, "c": 1.0, "d": 1.0}], (1, 5, 5))
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("n", [3, 4, 7])
@pytest.mark.parametrize("naive", [False, True])
def test_rotation_by_90_is_rot90(n, naive):
    rng = np.random.default_rng(n)
    x = images(rng, 3, 2, n, n)
    y = run(x, A.RandomRotation((90, 90)).to_c(), (2, n, n), naive=naive)
    np.testing.assert_allclose(y, np.rot90(x, k=1, axes=(2, 3)), atol=1e-5)   # counter-clockwise
    y = run(x, A.RandomRotation((-90, -90)).to_c(), (2, n, n), naive=naive)
    np.testing.assert_allclose(y, np.rot90(x, k=-1, axes=(2, 3)), atol=1e-5)
    y = run(x, A.RandomRotation((180, 180)).to_c(), (2, n, n), naive=naive)
    np.testing.assert_allclose(y, x[..., ::-1, ::-1], atol=1e-5)
    np.testing.assert_array_equal(run(x, A.RandomRotation(0).to_c(), (2, n, n), naive=naive), x)


def test_rotation_fill_and_bilinear():
    # 45 degrees of a constant image: the corners come from outside (fill), the centre stays, values blend
    x = np.full((1, 1, 9, 9), 2.0, np.float32)
    y = run(x, A.RandomRotation((45, 45), fill=-1.0).to_c(), (1, 9, 9))[0, 0]
    assert y[4, 4] == pytest.approx(2.0) and y[0, 0] == -1.0 and y[8, 8] == -1.0
    assert np.all((y >= -1.0 - 1e-6) & (y <= 2.0 + 1e-6))
    # small angles stay within the range [-a, a]: a pixel's row moves by at most its distance times sin(a)
    rng = np.random.default_rng(3)
    xs = images(rng, 50, 1, 11, 11)
    ys = run(xs, [{"kind": "rotate", "a": 10.0}], (1, 11, 11), seed=1)
    for i in range(50):
        deg = 10.0 * (2 * u53(draw(1, 0, 0, i, 1)) - 1)
        assert abs(deg) <= 10.0
        want = run(xs[i:i + 1], [{"kind": "rotate", "c": deg}], (1, 11, 11))
        np.testing.assert_allclose(ys[i], want[0], atol=1e-5)


def test_brightness_and_contrast_formulas():
    b, c, h, w, seed, step = 50, 3, 4, 5, 21, 8
    rng = np.random.default_rng(4)
    x = images(rng, b, c, h, w)
    y = run(x, [{"kind": "brightness", "a": 0.3}], (c, h, w), seed=seed, step=step)
    for i in range(b):
        delta = np.float32(0.3) * (np.float32(2.0) * u24(draw(seed, 0, step, i, 1)) - np.float32(1.0))
        np.testing.assert_array_equal(y[i], x[i] + delta)
    y = run(x, [{"kind": "contrast", "a": 0.5}], (c, h, w), seed=seed, step=step)
    for i in range(b):
        f = np.float32(1.0) + np.float32(0.5) * (np.float32(2.0) * u24(draw(seed, 0, step, i, 1)) - np.float32(1.0))
        assert 0.5 <= f <= 1.5
        m = x[i].astype(np.float64).mean(axis=(1, 2), keepdims=True)
        np.testing.assert_allclose(y[i], m + f * (x[i] - m), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(y[i].mean(axis=(1, 2)), m[:, 0, 0], atol=1e-5)   # the mean is kept


def test_noise_statistics_and_clip():
    x = np.zeros((256, 1, 16, 16), np.float32)
    y = run(x, [{"kind": "noise", "a": 0.5}], (1, 16, 16), seed=3)
    assert abs(y.mean()) < 0.01 and abs(y.std() - 0.5) < 0.01
    assert abs(((y / 0.5) ** 4).mean() - 3.0) < 0.1                       # Gaussian kurtosis
    assert len(np.unique(y[0])) == y[0].size
    z = run(y, [{"kind": "clip", "a": -0.25, "b": 0.5}], (1, 16, 16))
    np.testing.assert_array_equal(z, np.clip(y, -0.25, 0.5))


# -- fast vs naive, determinism, threads ---------------------------------------------------------------------
@pytest.mark.parametrize("op", ALL_OPS, ids=[o["kind"] for o in ALL_OPS])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 7, 5), (1, 1, 1), (2, 1, 6)])
def test_fast_matches_naive(op, shape):
    rng = np.random.default_rng(5)
    x = rng.random((33,) + shape, dtype=np.float32)
    fast = run(x, [op], shape, seed=17, step=4)
    naive = run(x, [op], shape, seed=17, step=4, naive=True)
    if op["kind"] in ("contrast", "rotate", "noise"):
        # contrast: the fast mean sums in 4 partials; rotate, noise: same formulas, but a compiler with FMA may
        # contract the vectorised and the scalar forms differently (bitwise equal on baseline x86-64)
        np.testing.assert_allclose(fast, naive, rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(fast, naive)


def test_fast_matches_naive_whole_pipeline():
    rng = np.random.default_rng(6)
    x = rng.random((100, 1, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(run(x, ALL_OPS, (1, 28, 28), seed=1, step=2),
                               run(x, ALL_OPS, (1, 28, 28), seed=1, step=2, naive=True), rtol=1e-6, atol=1e-6)


def test_determinism_seed_step():
    rng = np.random.default_rng(7)
    x = rng.random((64, 1, 28, 28), dtype=np.float32)
    a = run(x, ALL_OPS, (1, 28, 28), seed=5, step=3)
    np.testing.assert_array_equal(a, run(x, ALL_OPS, (1, 28, 28), seed=5, step=3))
    b = run(x, ALL_OPS, (1, 28, 28), seed=5, step=4)
    c = run(x, ALL_OPS, (1, 28, 28), seed=6, step=3)
    for other in (b, c):
        differs = [not np.array_equal(a[i], other[i]) for i in range(64)]
        assert sum(differs) > 56


def test_sample_depends_only_on_its_row_and_index():
    rng = np.random.default_rng(8)
    x = rng.random((20, 1, 8, 8), dtype=np.float32)
    x2 = x.copy()
    x2[::2] = rng.random((10, 1, 8, 8), dtype=np.float32)
    a, b = run(x, ALL_OPS, (1, 8, 8), seed=2), run(x2, ALL_OPS, (1, 8, 8), seed=2)
    np.testing.assert_array_equal(a[1::2], b[1::2])


@pytest.mark.parametrize("ops", [[o] for o in ALL_OPS] + [ALL_OPS], ids=[o["kind"] for o in ALL_OPS] + ["all"])
def test_threads_identical(ops):
    rng = np.random.default_rng(9)
    x = rng.random((512, 1, 28, 28), dtype=np.float32)
    one = run(x, ops, (1, 28, 28), seed=3, step=1, n_threads=1)
    np.testing.assert_array_equal(one, run(x, ops, (1, 28, 28), seed=3, step=1, n_threads=2))
    np.testing.assert_array_equal(one, run(x, ops, (1, 28, 28), seed=3, step=1, n_threads=3))


@pytest.mark.parametrize("op", ALL_OPS, ids=[o["kind"] for o in ALL_OPS])
@pytest.mark.parametrize("naive", [False, True])
def test_p_zero_is_identity(op, naive):
    rng = np.random.default_rng(10)
    x = rng.random((50, 2, 6, 6), dtype=np.float32) * 3 - 1
    np.testing.assert_array_equal(run(x, [dict(op, p=0.0)], (2, 6, 6), naive=naive), x)


def test_empty_batch_and_no_ops():
    x = np.zeros((0, 4), np.float32)
    _core.augment_batch(x, ALL_OPS, 1, 2, 2)
    y = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_array_equal(run(y, [], (1, 2, 2)), y)


# -- errors -----------------------------------------------------------------------------------------------------
def test_bridge_errors():
    x = np.zeros((2, 12), np.float32)
    with pytest.raises(ValueError, match="C\\*H\\*W"):
        _core.augment_batch(x, [{"kind": "hflip"}], 1, 3, 3)
    with pytest.raises(TypeError, match="float32"):
        _core.augment_batch(x.astype(np.float64), [{"kind": "hflip"}], 1, 3, 4)
    with pytest.raises(ValueError, match="contiguous"):
        _core.augment_batch(np.zeros((2, 24), np.float32)[:, ::2], [{"kind": "hflip"}], 1, 3, 4)
    with pytest.raises(ValueError, match="2-D"):
        _core.augment_batch(np.zeros(12, np.float32), [{"kind": "hflip"}], 1, 3, 4)
    with pytest.raises(ValueError, match="unknown augmentation 'shear'"):
        _core.augment_batch(x, [{"kind": "shear"}], 1, 3, 4)
    with pytest.raises(ValueError, match="code 11"):
        _core.augment_batch(x, [{"kind": 11}], 1, 3, 4)
    with pytest.raises(ValueError, match="unknown field"):
        _core.augment_batch(x, [{"kind": "hflip", "prob": 0.5}], 1, 3, 4)
    with pytest.raises(TypeError, match="list"):
        _core.augment_batch(x, {"kind": "hflip"}, 1, 3, 4)
    with pytest.raises(ValueError, match="positive"):
        _core.augment_batch(np.zeros((2, 0), np.float32), [], 0, 3, 4)
    bad = [{"kind": "hflip", "p": 1.5}, {"kind": "translate", "ia": -1}, {"kind": "crop", "ia": -2},
           {"kind": "rotate", "a": -1.0}, {"kind": "rotate", "a": float("inf")}, {"kind": "brightness", "a": -0.1},
           {"kind": "contrast", "a": 1.5}, {"kind": "noise", "a": float("nan")}, {"kind": "cutout", "ia": -1},
           {"kind": "cutout", "ia": 2, "ib": -1}, {"kind": "erase", "a": 0.0, "b": 0.3, "c": 0.3, "d": 3.3},
           {"kind": "erase", "a": 0.4, "b": 0.3, "c": 0.3, "d": 3.3}, {"kind": "erase", "a": 0.1, "b": 0.3},
           {"kind": "clip", "a": 1.0, "b": 0.0}]
    for op in bad:
        with pytest.raises(ValueError, match=op["kind"]):
            _core.augment_batch(x, [op], 1, 3, 4)
    with pytest.raises(TypeError, match="integer"):
        _core.augment_batch(x, [{"kind": "cutout", "ia": 2.5}], 1, 3, 4)


def test_class_errors():
    for make in (lambda: A.RandomHorizontalFlip(p=-0.1), lambda: A.RandomCrop(-1), lambda: A.RandomCrop(1.5),
                 lambda: A.RandomTranslate(max_shift=-1), lambda: A.RandomRotation(-5),
                 lambda: A.RandomRotation((10, 5)), lambda: A.ColorJitter(contrast=2.0),
                 lambda: A.ColorJitter(brightness=-1), lambda: A.GaussianNoise(-0.1), lambda: A.Cutout(-3),
                 lambda: A.Cutout(4, n_holes=-1), lambda: A.RandomErasing(scale=(0.0, 0.3)),
                 lambda: A.RandomErasing(ratio=(3.0, 0.3)), lambda: A.RandomErasing(scale=(0.5,)),
                 lambda: A.Clip(1, 0), lambda: A.Compose([A.Clip(0, 1)], image_shape=(28, 28))):
        with pytest.raises(ValueError):
            make()
    with pytest.raises(TypeError):
        A.Compose([{"kind": "hflip"}])


# -- Python API -------------------------------------------------------------------------------------------------
def test_classes_to_c():
    assert A.RandomHorizontalFlip().to_c() == [{"kind": "hflip", "p": 0.5}]
    assert A.RandomTranslate(2).to_c() == [{"kind": "translate", "ia": 2, "a": 0.0, "p": 1.0}]
    assert A.RandomRotation(10).to_c()[0]["a"] == 10.0 and A.RandomRotation(10).to_c()[0]["c"] == 0.0
    assert A.RandomRotation((80, 100)).to_c()[0]["a"] == 10.0 and A.RandomRotation((80, 100)).to_c()[0]["c"] == 90.0
    assert [o["kind"] for o in A.ColorJitter(0.2, 0.3).to_c()] == ["brightness", "contrast"]
    assert A.ColorJitter().to_c() == []
    er = A.RandomErasing().to_c()[0]
    assert (er["p"], er["a"], er["b"], er["c"], er["d"]) == (0.5, 0.02, 0.33, 0.3, 3.3)
    assert A.Cutout(8).to_c() == [{"kind": "cutout", "ia": 8, "ib": 1, "p": 1.0, "a": 0.0}]


def test_compose_apply_shapes_and_copy():
    aug = A.Compose([A.RandomTranslate(2), A.RandomHorizontalFlip(), A.Cutout(8)], image_shape=(1, 28, 28))
    rng = np.random.default_rng(11)
    x4 = rng.random((10, 1, 28, 28), dtype=np.float32)
    before = x4.copy()
    y4 = aug.apply(x4, seed=1, step=2)
    np.testing.assert_array_equal(x4, before)                           # input untouched
    assert y4.shape == x4.shape and y4.dtype == np.float32
    y2 = aug.apply(x4.reshape(10, -1), seed=1, step=2)
    np.testing.assert_array_equal(y2, y4.reshape(10, -1))
    np.testing.assert_array_equal(y4, run(x4, aug.to_c(), (1, 28, 28), seed=1, step=2))
    y64 = aug.apply(x4.astype(np.float64), seed=1, step=2)              # converted on entry
    np.testing.assert_array_equal(y64, y4)
    with pytest.raises(ValueError, match="expects"):
        aug.apply(np.zeros((2, 1, 27, 28), np.float32))
    with pytest.raises(ValueError):
        aug.apply(np.zeros((2, 1, 28), np.float32))
    with pytest.raises(ValueError, match="image_shape"):
        A.Compose([A.RandomHorizontalFlip()]).apply(np.zeros((2, 4), np.float32))
    assert A.Compose([A.RandomHorizontalFlip(1.0)]).apply(x4).shape == x4.shape   # 4-D without image_shape


def test_compose_config_round_trip():
    aug = A.Compose([A.RandomCrop(4, fill=0.5), A.RandomTranslate(1), A.RandomHorizontalFlip(0.3),
                     A.RandomVerticalFlip(), A.RandomRotation((-5, 15), fill=0.1, p=0.5),
                     A.ColorJitter(0.1, 0.2), A.GaussianNoise(0.05, p=0.5), A.Cutout(6, n_holes=2),
                     A.RandomErasing(), A.Clip(0, 1)], image_shape=(3, 8, 8))
    cfg = json.loads(json.dumps(aug.config()))
    back = A.Compose.from_config(cfg)
    assert back.image_shape == (3, 8, 8)
    assert back.to_c() == aug.to_c()
    assert back.config() == aug.config()
    with pytest.raises(ValueError, match="unknown augmentation class"):
        A.Compose.from_config({"transforms": [{"class": "os.system", "config": {}}]})
    assert "RandomCrop(padding=4" in repr(aug.transforms[0])


# ---------------------------------------------------------------- inside the training loop

def _aug_model(seed=0):
    import fastnn as fnn

    m = fnn.Sequential([fnn.Flatten(), fnn.Linear(64, 32, activation="relu"), fnn.Linear(32, 10)],
                       input_shape=(1, 8, 8), seed=seed)
    return m.compile(loss="cross_entropy", optimizer=fnn.optim.SGD(lr=0.05, momentum=0.9))


def test_fit_with_augmentation_is_deterministic_and_thread_independent():
    import fastnn as fnn

    (X, y), _ = fnn.datasets.digits(test_size=0.2, seed=0)
    aug = fnn.augment.Compose([fnn.augment.RandomTranslate(1), fnn.augment.Cutout(3, p=0.5)])

    def run(t, augment):
        fnn.set_num_threads(t)
        try:
            m = _aug_model()
            m.fit(X.reshape(-1, 1, 8, 8), y, epochs=2, batch_size=64, verbose=0, augment=augment)
            return m.params.copy()
        finally:
            fnn.set_num_threads(None)

    a1, a2, plain = run(1, aug), run(2, aug), run(1, None)
    assert np.array_equal(a1, a2)
    assert not np.array_equal(a1, plain)


def test_fit_augmentation_equals_augmenting_each_batch_by_hand():
    """The C loop applies exactly Compose.apply(batch, seed', step) to each gathered batch."""
    import fastnn as fnn
    from fastnn._ext import _core

    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (96, 64)).astype(np.float32)
    y = rng.integers(0, 10, 96)
    aug = fnn.augment.Compose([fnn.augment.RandomHorizontalFlip(), fnn.augment.RandomTranslate(2)])
    a = _aug_model(seed=3)
    a.fit(X, y, epochs=1, batch_size=32, shuffle=False, verbose=0, augment=aug)
    b = _aug_model(seed=3)
    for step, lo in enumerate(range(0, 96, 32)):
        xb = X[lo:lo + 32].copy()
        _core.augment_batch(xb, aug.to_c(), 1, 8, 8, seed=3 ^ 0x5DEECE66DA3C1F0B, step=step)
        b._plan.loss_grad(xb, None, y[lo:lo + 32].astype(np.int32), True, step, 1)
        b.optimizer.step(b.params, b.grads)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-5, atol=1e-6)


def test_augment_needs_an_image_shape_and_tta_averages():
    import fastnn as fnn

    m = fnn.Sequential([fnn.Linear(64, 10)], seed=0).compile(loss="cross_entropy")
    X = np.zeros((4, 64), np.float32)
    with pytest.raises(ValueError, match="image shape"):
        m.fit(X, np.zeros(4, int), verbose=0, augment=fnn.augment.Compose([fnn.augment.RandomHorizontalFlip()]))
    aug = fnn.augment.Compose([fnn.augment.RandomHorizontalFlip()], image_shape=(1, 8, 8))
    m.fit(X, np.zeros(4, int), verbose=0, augment=aug)
    rng = np.random.default_rng(1)
    Xr = rng.uniform(0, 1, (5, 64)).astype(np.float32)
    got = m.predict(Xr, tta=3, augment=aug)
    want = np.mean([m.predict(aug.apply(Xr.reshape(5, 1, 8, 8), seed=0, step=k).reshape(5, 64))
                    for k in range(3)], axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    with pytest.raises(ValueError, match="augment"):
        m.predict(Xr, tta=2)
