"""Pooling (max, average, global average; NCHW): float64 references written here with direct loops, checked by
central finite differences; the C kernels (fast and naive) vs the references over kernels, strides, paddings,
odd sizes and count_include_pad; max-pool ties, padding and NaN; the 2x2 stride-2 kernels bit for bit against
the naive ones on every SIMD path (odd sizes, row tails, NaN, -0.0, ties, hand-made argmax); 1 vs 2 threads
bitwise; argument errors; PyTorch when installed."""
import numpy as np
import pytest

import fastnn
from conftest import available_isas
from fastnn._ext import _core

SHAPES = [(2, 3, 7, 9), (1, 2, 5, 5), (3, 1, 8, 6)]


# ---------------------------------------------------------------- float64 references (direct loops)


def _windows(n, k, s, p):
    """Per output index: the in-bounds input indices of its window along one axis."""
    out = (n + 2 * p - k) // s + 1
    return [[i for i in range(o * s - p, o * s - p + k) if 0 <= i < n] for o in range(out)]


def ref_forward(x, kind, k=None, s=None, p=0, cip=True):
    """(out float64 (N,C,OH,OW), argmax int64 or None) of pooling x (N,C,H,W)."""
    x = np.asarray(x, dtype=np.float64)
    n, c, h, w = x.shape
    if kind == "global_avg":
        out = np.zeros((n, c, 1, 1))
        for i in range(h):
            for j in range(w):
                out[:, :, 0, 0] += x[:, :, i, j]
        return out / (h * w), None
    s = k if s is None else s
    rows, cols = _windows(h, k, s, p), _windows(w, k, s, p)
    out = np.zeros((n, c, len(rows), len(cols)))
    arg = np.zeros((n, c, len(rows), len(cols)), dtype=np.int64) if kind == "max" else None
    for oh, r in enumerate(rows):
        for ow, q in enumerate(cols):
            win = x[:, :, r][:, :, :, q].reshape(n, c, -1)      # scan order: row-major
            if kind == "max":
                i = np.argmax(win, axis=2)                       # first maximum (first NaN)
                out[:, :, oh, ow] = np.take_along_axis(win, i[..., None], 2)[..., 0]
                arg[:, :, oh, ow] = np.array(r)[i // len(q)] * w + np.array(q)[i % len(q)]
            else:
                out[:, :, oh, ow] = win.sum(axis=2) / (k * k if cip else len(r) * len(q))
    return out, arg


def ref_backward(dout, x_shape, kind, k=None, s=None, p=0, cip=True, argmax=None):
    """dx float64 (N,C,H,W) = d(sum(out * dout)) / dx."""
    dout = np.asarray(dout, dtype=np.float64)
    n, c, h, w = x_shape
    dx = np.zeros(x_shape)
    if kind == "global_avg":
        return dx + dout / (h * w)
    if kind == "max":
        flat = dx.reshape(n, c, -1)
        for a in range(n):
            for b in range(c):
                np.add.at(flat[a, b], argmax[a, b].ravel(), dout[a, b].ravel())
        return dx
    s = k if s is None else s
    rows, cols = _windows(h, k, s, p), _windows(w, k, s, p)
    for oh, r in enumerate(rows):
        for ow, q in enumerate(cols):
            div = k * k if cip else len(r) * len(q)
            for i in r:
                for j in q:
                    dx[:, :, i, j] += dout[:, :, oh, ow] / div
    return dx


def distinct(rng, shape, gap=1.0):
    """Values pairwise at least `gap` apart (no ties, so max pooling is differentiable there)."""
    v = rng.permutation(int(np.prod(shape))).astype(np.float64) * gap
    return (v - v.mean()).reshape(shape)


def close(got, want, rtol, what=""):
    """|got - want| <= rtol * (|want| + 0.1 * max|want|): float32 sums of a few terms may cancel."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    scale = max(np.abs(want).max(initial=0.0), 1e-30)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 0.1 * scale, err_msg=what)


CASES = [(kind, k, s, p, cip) for kind in ("max", "avg") for k in (2, 3) for s in (1, 2, 3) for p in (0, 1)
         for cip in ((True, False) if kind == "avg" else (True,))]


def case_id(c):
    kind, k, s, p, cip = c
    return f"{kind}-k{k}s{s}p{p}" + ("" if kind == "max" else ("-incl" if cip else "-excl"))


# ---------------------------------------------------------------- references vs finite differences


@pytest.mark.parametrize("case", [("avg", 3, 2, 1, True), ("avg", 3, 2, 1, False), ("avg", 2, 1, 1, False),
                                  ("max", 3, 2, 1, True), ("max", 2, 2, 0, True), ("global_avg", 0, 0, 0, True)],
                         ids=case_id)
def test_reference_backward_matches_finite_differences(case, rng):
    kind, k, s, p, cip = case
    shape = (2, 2, 5, 6)
    x = distinct(rng, shape) if kind == "max" else rng.standard_normal(shape)
    out, arg = ref_forward(x, kind, k, s, p, cip)
    w = rng.standard_normal(out.shape)
    dx = ref_backward(w, shape, kind, k, s, p, cip, arg)
    h = 1e-4   # far below the gap (1.0) between values: no argmax changes
    fd = np.zeros(shape)
    for idx in np.ndindex(shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        fd[idx] = ((ref_forward(xp, kind, k, s, p, cip)[0] * w).sum()
                   - (ref_forward(xm, kind, k, s, p, cip)[0] * w).sum()) / (2 * h)
    np.testing.assert_allclose(dx, fd, rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------- C kernels vs the references


@pytest.mark.parametrize("naive", [False, True], ids=["fast", "naive"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_forward_backward_match_reference(case, naive, rng):
    kind, k, s, p, cip = case
    for shape in SHAPES:
        x = rng.standard_normal(shape).astype(np.float32)
        out, arg = _core.pool2d_forward(x, kind, k, s, p, cip, naive=naive)
        want, warg = ref_forward(x, kind, k, s, p, cip)
        assert out.shape == _core.pool2d_output_shape(shape, kind, k, s, p) == want.shape
        if kind == "max":
            np.testing.assert_array_equal(out, want.astype(np.float32))   # a max is exact
            np.testing.assert_array_equal(arg, warg)
        else:
            assert arg is None
            close(out, want, 1e-6, f"{case_id(case)} {shape}")
        dout = rng.standard_normal(out.shape).astype(np.float32)
        dx = _core.pool2d_backward(dout, arg, shape, kind, k, s, p, cip, naive=naive)
        close(dx, ref_backward(dout, shape, kind, k, s, p, cip, warg), 1e-5, f"backward {case_id(case)} {shape}")


@pytest.mark.parametrize("naive", [False, True], ids=["fast", "naive"])
@pytest.mark.parametrize("shape", SHAPES + [(2, 3, 1, 1), (1, 1, 1, 13), (4, 5, 8, 8)])
def test_global_avg_matches_reference(shape, naive, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    out, arg = _core.pool2d_forward(x, "global_avg", naive=naive)
    assert arg is None and out.shape == shape[:2] + (1, 1) == _core.pool2d_output_shape(shape, "global_avg")
    close(out, ref_forward(x, "global_avg")[0], 1e-6)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    close(_core.pool2d_backward(dout, None, shape, "global_avg", naive=naive),
          ref_backward(dout, shape, "global_avg"), 1e-6)


@pytest.mark.parametrize("case", [c for c in CASES if c[0] == "avg"] + [c for c in CASES if c[0] == "max"],
                         ids=case_id)
def test_fast_equals_naive_bitwise(case, rng):
    kind, k, s, p, cip = case
    x = rng.standard_normal((3, 4, 11, 10)).astype(np.float32)
    out, arg = _core.pool2d_forward(x, kind, k, s, p, cip)
    out_n, arg_n = _core.pool2d_forward(x, kind, k, s, p, cip, naive=True)
    np.testing.assert_array_equal(out, out_n)
    if kind == "max":
        np.testing.assert_array_equal(arg, arg_n)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    np.testing.assert_array_equal(_core.pool2d_backward(dout, arg, x.shape, kind, k, s, p, cip),
                                  _core.pool2d_backward(dout, arg, x.shape, kind, k, s, p, cip, naive=True))


def test_rectangular_kernel_stride_padding(rng):
    x = rng.standard_normal((2, 2, 9, 7)).astype(np.float32)
    for kind in ("max", "avg"):
        out, arg = _core.pool2d_forward(x, kind, (3, 2), (2, 1), (1, 0), False)
        out_n, _ = _core.pool2d_forward(x, kind, (3, 2), (2, 1), (1, 0), False, naive=True)
        assert out.shape == (2, 2, 5, 6)
        np.testing.assert_array_equal(out, out_n)


# ---------------------------------------------------------------- max pooling: ties, padding, NaN


@pytest.mark.parametrize("naive", [False, True], ids=["fast", "naive"])
@pytest.mark.parametrize("geom", [(2, 2, 0), (3, 1, 1), (3, 2, 1), (2, 1, 0)])
def test_max_ties_take_the_first_in_scan_order(geom, naive, rng):
    k, s, p = geom
    x = rng.integers(-2, 2, size=(2, 3, 7, 8)).astype(np.float32)   # many ties
    out, arg = _core.pool2d_forward(x, "max", k, s, p, naive=naive)
    want, warg = ref_forward(x, "max", k, s, p)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(arg, warg)
    ones = np.ones((2, 3, 6, 6), dtype=np.float32)                   # all equal: each window's first input
    _, arg1 = _core.pool2d_forward(ones, "max", k, s, p, naive=naive)
    np.testing.assert_array_equal(arg1, ref_forward(ones, "max", k, s, p)[1])


@pytest.mark.parametrize("naive", [False, True], ids=["fast", "naive"])
def test_max_padding_never_wins(naive):
    for fill in (-5.0, -np.inf):
        x = np.full((1, 2, 5, 5), fill, dtype=np.float32)
        out, arg = _core.pool2d_forward(x, "max", 3, 2, 1, naive=naive)
        assert np.all(out == fill)
        assert arg.min() >= 0 and arg.max() < 25
        np.testing.assert_array_equal(arg, ref_forward(x, "max", 3, 2, 1)[1])


@pytest.mark.parametrize("naive", [False, True], ids=["fast", "naive"])
def test_max_nan_propagates(naive):
    x = np.arange(2 * 6 * 6, dtype=np.float32).reshape(1, 2, 6, 6)
    x[0, 0, 1, 1] = np.nan
    x[0, 0, 0, 1] = np.nan
    x[0, 1, 5, 5] = np.nan
    for k, s, p in ((2, 2, 0), (3, 2, 1)):
        out, arg = _core.pool2d_forward(x, "max", k, s, p, naive=naive)
        want, warg = ref_forward(x, "max", k, s, p)
        np.testing.assert_array_equal(np.isnan(out), np.isnan(want))
        np.testing.assert_array_equal(arg, warg)                 # the first NaN of a window
        assert np.isnan(out[0, 0, 0, 0]) and np.isnan(out[0, 1, -1, -1])


def test_max_backward_overlapping_windows_accumulate():
    x = np.zeros((1, 1, 3, 3), dtype=np.float32)
    x[0, 0, 1, 1] = 1.0                                           # the max of all four 2x2 windows
    out, arg = _core.pool2d_forward(x, "max", 2, 1, 0)
    assert np.all(arg == 4)
    dx = _core.pool2d_backward(np.ones_like(out), arg, x.shape, "max", 2, 1, 0)
    assert dx[0, 0, 1, 1] == 4.0 and dx.sum() == 4.0


# ---------------------------------------------------------------- 2x2 stride 2, no padding: every SIMD path


# (H, W): odd sizes leave the last row / column out of every window; OW = 1, 5, 7, 13, 14, 16, 17, 30, 32, 33
# covers rows shorter than, equal to and longer than one 16-lane step, with masked tails of 1..15 outputs
# whose input columns fill less or more than one vector
SIZES_2X2 = [(2, 2), (3, 3), (2, 3), (5, 7), (7, 5), (10, 10), (14, 14), (3, 26), (28, 28), (33, 35), (4, 32),
             (3, 34), (4, 61), (5, 64), (2, 67)]


@pytest.fixture(params=available_isas())
def isa(request):
    """Run the test with each SIMD path this CPU supports, then restore the previous one."""
    old = fastnn.get_isa()
    fastnn.set_isa(request.param)
    yield request.param
    fastnn.set_isa(old)


def same_bits(got, want, what=""):
    """Bit for bit (so -0.0 != +0.0), except that NaNs only need to be NaN in the same places (the payload of
    a sum of two different NaNs depends on the operand order the compiler picked)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (what, got.shape, want.shape)
    gn, wn = np.isnan(got), np.isnan(want)
    np.testing.assert_array_equal(gn, wn, err_msg=f"{what}: NaN positions")
    gb, wb = got.view(np.uint32)[~gn], want.view(np.uint32)[~wn]
    bad = np.flatnonzero(gb != wb)
    assert bad.size == 0, (f"{what}: {bad.size} of {gb.size} differ, first at {bad[0]}: "
                           f"{got[~gn][bad[0]]!r} vs {want[~wn][bad[0]]!r}")


def special_values(rng, shape):
    """Random data sprinkled with the values whose handling is easy to get wrong: -0.0 and +0.0 (whole windows of
    -0.0 too: 0.0f + -0.0f is +0.0f), ties, +-inf, NaN, and the smallest subnormals (-min / 4 rounds to -0.0)."""
    x = rng.standard_normal(shape).astype(np.float32)
    tiny = np.float32(np.finfo(np.float32).smallest_subnormal)
    pick = rng.integers(0, 12, size=shape)
    x[pick == 0] = -0.0
    x[pick == 1] = 0.0
    x[pick == 2] = 1.0                                     # ties
    x[pick == 3] = np.inf
    x[pick == 4] = -np.inf
    x[pick == 5] = np.nan
    x[pick == 6] = -tiny
    x[pick == 7] = tiny
    x[..., :2, :2] = -0.0                                  # a whole window of -0.0 in every plane
    return x


def check_2x2_bitwise(x, dout=None, argmax=None):
    """The fast 2x2 stride-2 kernels (the current ISA) vs the naive ones, forward and backward, bit for bit."""
    for kind in ("max", "avg"):
        for cip in ((True,) if kind == "max" else (True, False)):
            out, arg = _core.pool2d_forward(x, kind, 2, 2, 0, cip)
            out_n, arg_n = _core.pool2d_forward(x, kind, 2, 2, 0, cip, naive=True)
            what = f"{kind} {x.shape} isa={fastnn.get_isa()}"
            same_bits(out, out_n, f"forward {what}")
            if kind == "max":
                np.testing.assert_array_equal(arg, arg_n, err_msg=f"argmax {what}")
                if argmax is not None:
                    arg = argmax
            g = dout if dout is not None else special_values(np.random.default_rng(x.size), out.shape)
            same_bits(_core.pool2d_backward(g, arg, x.shape, kind, 2, 2, 0, cip),
                      _core.pool2d_backward(g, arg, x.shape, kind, 2, 2, 0, cip, naive=True), f"backward {what}")


@pytest.mark.parametrize("hw", SIZES_2X2, ids=lambda hw: f"{hw[0]}x{hw[1]}")
def test_2x2_fast_equals_naive_bitwise(hw, isa, rng):
    shape = (2, 3) + hw
    check_2x2_bitwise(rng.standard_normal(shape).astype(np.float32))
    x = special_values(rng, shape)
    check_2x2_bitwise(x)
    x[np.isnan(x)] = -0.0                       # no NaN: max pooling's other (tree-ordered) SIMD branch
    check_2x2_bitwise(x)
    check_2x2_bitwise(rng.integers(-2, 2, size=shape).astype(np.float32))     # many ties
    check_2x2_bitwise(np.full(shape, -0.0, np.float32), dout=np.full(
        (2, 3, hw[0] // 2, hw[1] // 2), -0.0, np.float32))                   # -0.0 everywhere: +0.0 out


def test_2x2_uncovered_row_and_column_get_zero(isa):
    """An odd H / W: the last row / column is in no window, so its gradient is +0.0 (dx starts as garbage)."""
    x = np.arange(1 * 2 * 5 * 7, dtype=np.float32).reshape(1, 2, 5, 7)
    for kind in ("max", "avg"):
        out, arg = _core.pool2d_forward(x, kind, 2, 2, 0)
        for _ in range(3):                   # fresh np.empty buffers: some will hold old nonzero data
            dx = _core.pool2d_backward(np.ones_like(out), arg, x.shape, kind, 2, 2, 0)
            assert np.all(dx[:, :, 4, :].view(np.uint32) == 0) and np.all(dx[:, :, :, 6].view(np.uint32) == 0)
            want = 1.0 if kind == "max" else 4 * 0.25
            assert dx[:, :, :4, :6].sum() == out.size * want


def test_2x2_max_argmax_and_values(isa):
    """Known answers: ties keep the first in scan order a, b, c, d; the first NaN wins; -0.0 vs +0.0 is a tie."""
    cases = [  # window (a, b, c, d), (max, offset of the argmax: 0, 1, W, W+1 -> 0, 1, 2, 3)
        ((1.0, 1.0, 1.0, 1.0), (1.0, 0)), ((0.0, 2.0, 2.0, 1.0), (2.0, 1)), ((0.0, 1.0, 3.0, 3.0), (3.0, 2)),
        ((-1.0, -2.0, -3.0, 5.0), (5.0, 3)), ((-0.0, 0.0, 0.0, 0.0), (-0.0, 0)), ((0.0, -0.0, -0.0, -0.0), (0.0, 0)),
        ((-1.0, -0.0, 0.0, -0.0), (-0.0, 1)), ((1.0, np.nan, 2.0, np.nan), (np.nan, 1)),
        ((np.nan, np.inf, 1.0, 2.0), (np.nan, 0)), ((-np.inf, -np.inf, -np.inf, -np.inf), (-np.inf, 0)),
        ((1.0, 2.0, np.inf, np.nan), (np.nan, 3)), ((-np.inf, -5.0, -np.inf, -5.0), (-5.0, 1)),
    ]
    ow = 19                                                     # one full 16-lane step and a tail of 3
    x = np.zeros((1, 1, 2, 2 * ow + 1), dtype=np.float32)       # odd W: a last column in no window
    x[0, 0, :, -1] = 99.0                                       # bigger than every window's max: never read
    for j in range(ow):
        (a, b, c, d), _ = cases[j % len(cases)]
        x[0, 0, 0, 2 * j:2 * j + 2] = a, b
        x[0, 0, 1, 2 * j:2 * j + 2] = c, d
    out, arg = _core.pool2d_forward(x, "max", 2, 2, 0)
    W = x.shape[3]
    for j in range(ow):
        m, k = cases[j % len(cases)][1]
        same_bits(out[0, 0, 0, j:j + 1], np.array([m], np.float32), f"window {j} {cases[j % len(cases)][0]}")
        assert arg[0, 0, 0, j] == 2 * j + (0, 1, W, W + 1)[k], (j, cases[j % len(cases)][0])


def test_2x2_max_backward_handmade_argmax(isa, rng):
    """argmax not from the forward: repeats accumulate, out-of-range indices raise, as the naive scatter."""
    x = rng.standard_normal((2, 3, 9, 38)).astype(np.float32)          # OW = 19
    out, arg = _core.pool2d_forward(x, "max", 2, 2, 0)
    g = rng.standard_normal(out.shape).astype(np.float32)
    for make in (lambda a: np.zeros_like(a),                           # every window sends to index 0
                 lambda a: np.where(np.arange(a.size).reshape(a.shape) % 7 == 3, a + 2, a),   # some outside
                 lambda a: a[:, :, ::-1, ::-1].copy()):                # every one inside another window
        bad = make(arg).astype(np.int32)
        same_bits(_core.pool2d_backward(g, bad, x.shape, "max", 2, 2, 0),
                  _core.pool2d_backward(g, bad, x.shape, "max", 2, 2, 0, naive=True), "hand-made argmax")
    one = arg.copy()                                                   # a single plane falls back
    one[1, 2, 3, 17] = one[1, 2, 3, 16]
    dx = _core.pool2d_backward(g, one, x.shape, "max", 2, 2, 0)
    same_bits(dx, _core.pool2d_backward(g, one, x.shape, "max", 2, 2, 0, naive=True), "one plane")
    assert dx[1, 2, 6:8, 32:36].sum() == np.float32(g[1, 2, 3, 16] + g[1, 2, 3, 17])   # both in one window
    for v in (-1, x.shape[2] * x.shape[3], np.iinfo(np.int32).min, np.iinfo(np.int32).max):
        bad = arg.copy()
        bad[1, 1, 2, 18] = v                                           # in the masked tail of a row
        with pytest.raises(ValueError, match="outside"):
            _core.pool2d_backward(g, bad, x.shape, "max", 2, 2, 0)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_2x2_threads_bitwise_identical(kind, isa, rng):
    if not _core.openmp_enabled():
        pytest.skip("built without OpenMP")
    x = special_values(rng, (64, 32, 33, 35))        # 2048 planes: enough work for 2 threads
    o1, a1 = _core.pool2d_forward(x, kind, 2, 2, 0, n_threads=1)
    o2, a2 = _core.pool2d_forward(x, kind, 2, 2, 0, n_threads=2)
    same_bits(o1, o2)
    if kind == "max":
        np.testing.assert_array_equal(a1, a2)
    dout = special_values(rng, o1.shape)
    same_bits(_core.pool2d_backward(dout, a1, x.shape, kind, 2, 2, 0, n_threads=1),
              _core.pool2d_backward(dout, a1, x.shape, kind, 2, 2, 0, n_threads=2))


# ---------------------------------------------------------------- threads


@pytest.mark.parametrize("case", [("max", 2, 2, 0, True), ("max", 3, 2, 1, True), ("avg", 3, 1, 1, True),
                                  ("avg", 3, 2, 1, False), ("global_avg", None, None, 0, True)], ids=case_id)
def test_threads_bitwise_identical(case, rng):
    if not _core.openmp_enabled():
        pytest.skip("built without OpenMP")
    kind, k, s, p, cip = case
    x = rng.standard_normal((64, 32, 28, 28)).astype(np.float32)
    o1, a1 = _core.pool2d_forward(x, kind, k, s, p, cip, n_threads=1)
    o2, a2 = _core.pool2d_forward(x, kind, k, s, p, cip, n_threads=2)
    np.testing.assert_array_equal(o1, o2)
    if kind == "max":
        np.testing.assert_array_equal(a1, a2)
    dout = rng.standard_normal(o1.shape).astype(np.float32)
    d1 = _core.pool2d_backward(dout, a1, x.shape, kind, k, s, p, cip, n_threads=1)
    d2 = _core.pool2d_backward(dout, a1, x.shape, kind, k, s, p, cip, n_threads=2)
    np.testing.assert_array_equal(d1, d2)


# ---------------------------------------------------------------- argument errors


def test_geometry_errors_name_the_shapes():
    x = np.zeros((2, 3, 4, 5), dtype=np.float32)
    with pytest.raises(ValueError, match=r"kernel \(7, 7\) is larger than the padded input \(6, 7\).*\(2, 3, 4, 5\)"):
        _core.pool2d_forward(x, "max", 7, padding=1)
    with pytest.raises(ValueError, match=r"kernel \(5, 5\) is larger than the padded input \(4, 5\)"):
        _core.pool2d_output_shape((2, 3, 4, 5), "avg", 5)
    with pytest.raises(ValueError, match=r"padding \(2, 2\) must be at most half the kernel \(3, 3\)"):
        _core.pool2d_forward(x, "max", 3, 1, 2)
    with pytest.raises(ValueError, match=r"stride must be positive, got \(0, 0\)"):
        _core.pool2d_forward(x, "avg", 2, 0)
    with pytest.raises(ValueError, match=r"stride must be positive, got \(1, -1\)"):
        _core.pool2d_forward(x, "avg", 2, (1, -1))
    with pytest.raises(ValueError, match="kernel must be positive"):
        _core.pool2d_forward(x, "max", 0)
    with pytest.raises(ValueError, match="padding must be non-negative"):
        _core.pool2d_forward(x, "max", 2, 2, -1)
    with pytest.raises(ValueError, match="needs kernel"):
        _core.pool2d_forward(x, "max")
    with pytest.raises(ValueError, match="unknown pooling kind"):
        _core.pool2d_forward(x, "median", 2)
    with pytest.raises(TypeError, match="kernel must be an int or a pair"):
        _core.pool2d_forward(x, "max", (2, 2, 2))


def test_array_errors():
    x = np.zeros((2, 3, 4, 4), dtype=np.float32)
    with pytest.raises(TypeError, match="dtype float32"):
        _core.pool2d_forward(x.astype(np.float64), "max", 2)
    with pytest.raises(ValueError, match=r"4-D \(N, C, H, W\), got shape \(3, 4, 4\)"):
        _core.pool2d_forward(x[0], "max", 2)
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.pool2d_forward(x[:, :, :, ::2], "max", 2)
    out, arg = _core.pool2d_forward(x, "max", 2)
    with pytest.raises(ValueError, match=r"dout must have the pooled shape \(2, 3, 2, 2\)"):
        _core.pool2d_backward(np.zeros((2, 3, 3, 3), np.float32), arg, x.shape, "max", 2)
    with pytest.raises(ValueError, match="needs argmax"):
        _core.pool2d_backward(out, None, x.shape, "max", 2)
    with pytest.raises(TypeError, match="argmax must have dtype int32"):
        _core.pool2d_backward(out, arg.astype(np.int64), x.shape, "max", 2)
    bad = arg.copy()
    bad[1, 2, 1, 1] = 16
    with pytest.raises(ValueError, match=r"outside \[0, H\*W\) = \[0, 16\)"):
        _core.pool2d_backward(out, bad, x.shape, "max", 2)
    bad[1, 2, 1, 1] = -1
    with pytest.raises(ValueError, match="outside"):
        _core.pool2d_backward(out, bad, x.shape, "max", 2, naive=True)


def test_empty_batch():
    x = np.zeros((0, 3, 4, 4), dtype=np.float32)
    out, arg = _core.pool2d_forward(x, "max", 2)
    assert out.shape == arg.shape == (0, 3, 2, 2)
    assert _core.pool2d_backward(out, arg, x.shape, "max", 2).shape == x.shape


# ---------------------------------------------------------------- PyTorch


@pytest.mark.parametrize("case", [("max", 2, 2, 0, True), ("max", 3, 2, 1, True), ("max", 3, 1, 1, True),
                                  ("avg", 3, 2, 1, True), ("avg", 3, 2, 1, False), ("avg", 2, 3, 1, False),
                                  ("global_avg", None, None, 0, True)], ids=case_id)
def test_matches_torch(case, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    kind, k, s, p, cip = case
    x = rng.standard_normal((4, 5, 13, 11)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    if kind == "max":
        yt, it = F.max_pool2d(xt, k, s, p, return_indices=True)
    elif kind == "avg":
        yt = F.avg_pool2d(xt, k, s, p, count_include_pad=cip)
    else:
        yt = F.adaptive_avg_pool2d(xt, 1)
    out, arg = _core.pool2d_forward(x, kind, k, s, p, cip)
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=1e-4, atol=1e-6)
    if kind == "max":
        np.testing.assert_array_equal(arg, it.numpy())   # continuous data: no ties
    dout = rng.standard_normal(out.shape).astype(np.float32)
    yt.backward(torch.tensor(dout))
    dx = _core.pool2d_backward(dout, arg, x.shape, kind, k, s, p, cip)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-4, atol=1e-6)
