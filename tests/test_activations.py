"""Activations: the float64 reference vs finite differences, the C kernels (fast and naive) vs the reference,
extreme inputs, thread-count determinism, RReLU's generator, argument errors, and PyTorch when installed."""
import numpy as np
import pytest

import reference as ref
from fastnn._ext import _core

KINDS = ref.ACT_KINDS
SHAPES = [(1, 1), (1, 7), (3, 17), (64, 100), (257, 33)]

# Non-default parameters (PyTorch names) so that every constant is exercised.
PARAMS = {
    "leaky_relu": {"negative_slope": 0.05},
    "rrelu": {"lower": 0.1, "upper": 0.3},
    "elu": {"alpha": 1.3},
    "softplus": {"beta": 2.0, "threshold": 10.0},
}


def ref_params(kind, d, training=False, rand_slope=None, per_feature=True):
    p = dict(PARAMS.get(kind, {}))
    if kind == "prelu":
        p["slope"] = prelu_slope(d, per_feature)
    if kind == "rrelu":
        p["training"] = training
        p["rand_slope"] = rand_slope
    return p


def prelu_slope(d, per_feature=True):
    n = d if per_feature else 1
    return (0.05 + 0.4 * np.arange(n) / max(n, 1)).astype(np.float32)


def bridge_kwargs(kind, p):
    """PyTorch-named parameters -> the bridge's descriptor fields."""
    kw = {}
    if kind == "leaky_relu":
        kw["alpha"] = p["negative_slope"]
    elif kind == "elu":
        kw["alpha"] = p["alpha"]
    elif kind == "softplus":
        kw["alpha"], kw["beta"] = p["beta"], p["threshold"]
    elif kind == "rrelu":
        kw["lower"], kw["upper"], kw["training"] = p["lower"], p["upper"], p.get("training", False)
    elif kind == "prelu":
        kw["slope"] = p["slope"]
    return kw


def assert_close(got, want, rtol, what="", mag=None):
    """|got - want| <= rtol * (mag + 1e-3 * max(mag)), mag = |want| unless given (a condition-aware size,
    e.g. for softmax's backward y * (|dy| + |y . dy|), where dy - y . dy may cancel)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    mag = np.abs(want) if mag is None else np.asarray(mag, dtype=np.float64)
    scale = max(mag.max(initial=0.0), 1e-30)
    err = np.abs(got - want)
    bound = rtol * (mag + 1e-3 * scale)
    bad = err > bound
    if bad.any():
        i = np.unravel_index(np.argmax(err - bound), err.shape)
        raise AssertionError(f"{what}: {bad.sum()} of {err.size} off; worst at {i}: got {got[i]!r} want "
                             f"{want[i]!r} (err {err[i]:.3g}, bound {bound[i]:.3g})")


def backward_mag(kind, x, dy, **p):
    """The size against which a backward result's rounding is judged."""
    if kind != "softmax":
        return None
    y = ref.act_forward("softmax", x)
    return y * (np.abs(dy) + np.abs((y * dy).sum(axis=1, keepdims=True)))


def away_from_kinks(rng, shape, lo=0.05, hi=3.0):
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(lo, hi, size=shape)


# ---------------------------------------------------------------- the reference vs finite differences


@pytest.mark.parametrize("kind", KINDS)
def test_reference_matches_finite_differences(kind, rng):
    n, d = 3, 5
    x = away_from_kinks(rng, (n, d))
    if kind == "softplus":
        x *= 2.0  # beta * x crosses neither the threshold (10) nor the kink of the identity branch
    w = rng.standard_normal((n, d))
    rs = rng.uniform(0.1, 0.3, size=(n, d)) if kind == "rrelu" else None
    for training in ([False, True] if kind == "rrelu" else [False]):
        p = ref_params(kind, d, training, rs)
        p_ref = dict(p, slope=p["slope"].astype(np.float64)) if kind == "prelu" else p
        dx = ref.act_backward(kind, x, w, **p_ref)
        h = 1e-6
        fd = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            xp, xm = x.copy(), x.copy()
            xp[idx] += h
            xm[idx] -= h
            fd[idx] = ((ref.act_forward(kind, xp, **p_ref) * w).sum()
                       - (ref.act_forward(kind, xm, **p_ref) * w).sum()) / (2 * h)
        np.testing.assert_allclose(dx, fd, rtol=1e-6, atol=1e-8, err_msg=kind)


@pytest.mark.parametrize("per_feature", [False, True])
def test_reference_prelu_slope_gradient_matches_finite_differences(per_feature, rng):
    n, d = 4, 6
    x = away_from_kinks(rng, (n, d))
    w = rng.standard_normal((n, d))
    slope = prelu_slope(d, per_feature).astype(np.float64)
    ds = ref.prelu_dslope(x, w, slope)
    h = 1e-6
    fd = np.zeros_like(slope)
    for k in range(slope.size):
        sp, sm = slope.copy(), slope.copy()
        sp[k] += h
        sm[k] -= h
        fd[k] = ((ref.act_forward("prelu", x, slope=sp) * w).sum()
                 - (ref.act_forward("prelu", x, slope=sm) * w).sum()) / (2 * h)
    np.testing.assert_allclose(ds, fd, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------- C kernels vs the reference

# Tolerances (relative to |value|, with a floor of 1e-3 * the array's largest |value|).  Fast kernels use our
# polynomial exp/expm1/log1p (~1-3 ulp each, a few more after the divisions that follow), so they get 4e-6
# where exp enters; naive kernels round a double result once and get 1e-6 everywhere; the rest are exact
# up to one rounding.
FAST_RTOL = {"sigmoid": 4e-6, "tanh": 4e-6, "elu": 4e-6, "selu": 4e-6, "softplus": 4e-6, "softmax": 4e-6}


def run_c(kind, x, dy, p, naive, n_threads=1):
    kw = bridge_kwargs(kind, p)
    y, rs = _core.act_forward(kind, x, naive=naive, n_threads=n_threads, seed=7, step=3, **kw)
    dx, ds = _core.act_backward(kind, x, y, dy, rand_slope=rs, naive=naive, n_threads=n_threads, **kw)
    return y, rs, dx, ds


@pytest.mark.parametrize("naive", [False, True], ids=["fast", "naive"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "%dx%d" % s)
@pytest.mark.parametrize("kind", KINDS)
def test_kernel_matches_reference(kind, shape, naive, rng):
    n, d = shape
    x = (rng.standard_normal(shape) * 3.0).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    rtol = 1e-6 if naive else FAST_RTOL.get(kind, 1e-6)
    for training in ([False, True] if kind == "rrelu" else [False]):
        for per_feature in ([False, True] if kind == "prelu" else [True]):
            p = ref_params(kind, d, training, per_feature=per_feature)
            if kind == "rrelu":
                p["training"] = training
            y, rs, dx, ds = run_c(kind, x, dy, p, naive)
            if kind == "rrelu" and training:
                p["rand_slope"] = rs
            tag = f"{kind} {shape} {'naive' if naive else 'fast'}"
            assert_close(y, ref.act_forward(kind, x, **p), rtol, tag + " forward")
            assert_close(dx, ref.act_backward(kind, x, dy, **p), rtol, tag + " backward",
                         mag=backward_mag(kind, x, dy))
            if kind == "prelu":
                want = ref.prelu_dslope(x, dy, p["slope"])
                # a sum over rows in float64, rounded once; error relative to the sum of |terms|
                mag = ref.prelu_dslope(x, -np.abs(dy) * np.sign(x), p["slope"])  # sum of |x * dy| where x <= 0
                assert np.all(np.abs(ds - want) <= 1e-6 * np.abs(mag) + 1e-30), (ds, want)
            else:
                assert ds is None


def test_fast_math_sweep_over_the_float_range():
    """Dense sweep through every branch of the polynomial exp/expm1/log1p/tanh (including the flush below
    -87.3 and the tanh polynomial/exp switch at |x| = 0.625)."""
    x = np.concatenate([np.linspace(-120, 120, 100001), np.linspace(-1, 1, 20001),
                        np.array([-87.4, -87.3, -87.33654, 0.625, -0.625, 0.62499, 1e-30, -1e-30, 0.0])])
    x = x.astype(np.float32).reshape(1, -1)
    dy = np.ones_like(x)
    for kind in ("sigmoid", "tanh", "elu", "selu", "softplus"):
        p = ref_params(kind, x.shape[1])
        y, _, dx, _ = run_c(kind, x, dy, p, naive=False)
        wy, wdx = ref.act_forward(kind, x, **p), ref.act_backward(kind, x, dy, **p)
        # values below float's normal range carry no relative accuracy: compare absolutely there
        tiny = 5e-38  # exp flushes below FLT_MIN: 4 * exp(-88.7) in tanh' becomes 0
        for got, want, what in ((y, wy, "forward"), (dx, wdx, "backward")):
            err = np.abs(got - want)
            ok = (err <= 4e-6 * np.abs(want)) | (err <= tiny)
            assert ok.all(), (kind, what, x[~ok][:5], got[~ok][:5], want[~ok][:5])


def test_relu_family_at_zero_takes_the_negative_branch():
    x = np.zeros((1, 3), np.float32)
    dy = np.ones_like(x)
    for kind, want in (("relu", 0.0), ("leaky_relu", 0.05), ("elu", 1.3), ("selu", ref.SELU_SCALE * ref.SELU_ALPHA)):
        for naive in (False, True):
            p = ref_params(kind, 3)
            y, _, dx, _ = run_c(kind, x, dy, p, naive)
            assert np.all(y == 0.0)
            np.testing.assert_allclose(dx, want, rtol=1e-6)


# ---------------------------------------------------------------- extreme inputs

EXTREME = np.array([-1e4, -1e3, -120.0, -89.0, -88.0, -87.0, -50.0, -20.0, -1e-3, 0.0, 1e-3, 20.0, 50.0,
                    87.0, 88.0, 89.0, 120.0, 1e3, 1e4], np.float32)


@pytest.mark.parametrize("naive", [False, True], ids=["fast", "naive"])
@pytest.mark.parametrize("kind", KINDS)
def test_extreme_inputs_finite_and_correct(kind, naive):
    x = np.stack([EXTREME, EXTREME[::-1], np.full_like(EXTREME, 1e4), np.full_like(EXTREME, -1e4)])
    dy = np.ones_like(x)
    p = ref_params(kind, x.shape[1], training=True) if kind == "rrelu" else ref_params(kind, x.shape[1])
    y, rs, dx, ds = run_c(kind, x, dy, p, naive)
    assert np.isfinite(y).all() and np.isfinite(dx).all(), kind
    if ds is not None:
        assert np.isfinite(ds).all()
    if kind == "rrelu":
        p["rand_slope"] = rs
    wy, wdx = ref.act_forward(kind, x, **p), ref.act_backward(kind, x, dy, **p)
    # exp flushes results below float's normal range (FLT_MIN ~ 1.2e-38) to 0: hence the tiny atol
    np.testing.assert_allclose(y, wy, rtol=4e-6, atol=5e-38, err_msg=kind)
    if kind == "softmax":
        assert_close(dx, wdx, 4e-6, kind, mag=backward_mag(kind, x, dy))
    else:
        np.testing.assert_allclose(dx, wdx, rtol=4e-6, atol=5e-38, err_msg=kind)
    if kind == "softmax":
        np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
        assert y[2].min() == y[2].max()  # a constant row stays uniform


# ---------------------------------------------------------------- threads

@pytest.mark.skipif(not _core.openmp_enabled(), reason="serial build")
@pytest.mark.parametrize("kind", KINDS)
def test_one_and_two_threads_bitwise_identical(kind, rng):
    n, d = 4096, 512
    x = (rng.standard_normal((n, d)) * 4).astype(np.float32)
    dy = rng.standard_normal((n, d)).astype(np.float32)
    for per_feature in ([False, True] if kind == "prelu" else [True]):
        p = ref_params(kind, d, training=True, per_feature=per_feature) if kind == "rrelu" else \
            ref_params(kind, d, per_feature=per_feature)
        r1 = run_c(kind, x, dy, p, naive=False, n_threads=1)
        r2 = run_c(kind, x, dy, p, naive=False, n_threads=2)
        for a, b in zip(r1, r2):
            if a is None:
                assert b is None
            else:
                assert np.array_equal(a, b), kind


# ---------------------------------------------------------------- RReLU's generator

def test_rrelu_slopes_reproducible_bounded_and_centred(rng):
    x = -np.abs(rng.standard_normal((300, 100))).astype(np.float32) - 0.1
    kw = dict(lower=0.1, upper=0.3, training=True)
    y1, s1 = _core.act_forward("rrelu", x, seed=11, step=5, **kw)
    y2, s2 = _core.act_forward("rrelu", x, seed=11, step=5, n_threads=2, **kw)
    yn, sn = _core.act_forward("rrelu", x, seed=11, step=5, naive=True, **kw)
    assert np.array_equal(s1, s2) and np.array_equal(y1, y2) and np.array_equal(s1, sn)
    _, s3 = _core.act_forward("rrelu", x, seed=11, step=6, **kw)
    _, s4 = _core.act_forward("rrelu", x, seed=12, step=5, **kw)
    assert not np.array_equal(s1, s3) and not np.array_equal(s1, s4)
    assert s1.min() >= 0.1 and s1.max() <= 0.3
    assert abs(s1.mean() - 0.2) < 3e-3           # sd of the mean: 0.2/sqrt(12)/sqrt(30000) ~ 3.3e-4
    assert abs(np.std(s1) - 0.2 / np.sqrt(12)) < 3e-3
    np.testing.assert_allclose(y1, x * s1, rtol=1e-6)
    # positives pass through; slopes depend only on (seed, step, index), not on x
    _, s5 = _core.act_forward("rrelu", -x, seed=11, step=5, **kw)
    assert np.array_equal(s1, s5)


def test_rrelu_eval_uses_the_mean_slope(rng):
    x = rng.standard_normal((5, 9)).astype(np.float32)
    y, rs = _core.act_forward("rrelu", x, lower=0.1, upper=0.3, training=False)
    assert rs is None
    np.testing.assert_allclose(y, np.where(x > 0, x, 0.2 * x), rtol=1e-6)
    dx, _ = _core.act_backward("rrelu", x, y, np.ones_like(x), lower=0.1, upper=0.3, training=False)
    np.testing.assert_allclose(dx, np.where(x > 0, 1.0, 0.2), rtol=1e-6)
    # defaults: PyTorch's lower 1/8, upper 1/3
    y, _ = _core.act_forward("rrelu", -np.ones((1, 1), np.float32))
    np.testing.assert_allclose(y, -(1 / 8 + 1 / 3) / 2, rtol=1e-6)


# ---------------------------------------------------------------- errors

def test_bad_arguments_raise():
    x = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="unknown activation 'gelu'.*relu"):
        _core.act_forward("gelu", x)
    with pytest.raises(ValueError, match="code"):
        _core.act_forward(12, x)
    with pytest.raises(TypeError, match="x must have dtype float32"):
        _core.act_forward("relu", x.astype(np.float64))
    with pytest.raises(ValueError, match="x must be 2-D"):
        _core.act_forward("relu", x.reshape(-1))
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.act_forward("relu", np.ones((4, 3), np.float32).T)
    with pytest.raises(ValueError, match="slope must have length 1 or D=4"):
        _core.act_forward("prelu", x, slope=np.ones(3, np.float32))
    with pytest.raises(ValueError, match="slope is required"):
        _core.act_forward("prelu", x)
    with pytest.raises(ValueError, match=r"dy must have the shape of x \(3, 4\)"):
        _core.act_backward("relu", x, x, np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match="needs y"):
        _core.act_backward("softmax", x, None, x)
    with pytest.raises(ValueError, match="rand_slope"):
        _core.act_backward("rrelu", x, x, x, training=True)
    with pytest.raises(ValueError, match="beta"):
        _core.act_forward("softplus", x, alpha=0.0)
    assert _core.ACT_KINDS["softmax"] == 11 and len(_core.ACT_KINDS) == 12


def test_empty_batches_are_fine():
    for kind in KINDS:
        x = np.zeros((0, 5), np.float32)
        kw = {"slope": np.ones(1, np.float32)} if kind == "prelu" else {}
        y, _ = _core.act_forward(kind, x, **kw)
        dx, _ = _core.act_backward(kind, x, y, x, **kw)
        assert y.shape == dx.shape == (0, 5)


# ---------------------------------------------------------------- PyTorch

def _torch_fn(kind, p, torch):
    F = torch.nn.functional
    return {
        "identity": lambda t: t,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": F.relu,
        "leaky_relu": lambda t: F.leaky_relu(t, p.get("negative_slope", 0.01)),
        "elu": lambda t: F.elu(t, p.get("alpha", 1.0)),
        "selu": F.selu,
        "softplus": lambda t: F.softplus(t, p.get("beta", 1.0), p.get("threshold", 20.0)),
        "softsign": F.softsign,
        "softmax": lambda t: F.softmax(t, dim=1),
        "rrelu": lambda t: F.rrelu(t, p["lower"], p["upper"], training=False),
    }[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_matches_torch(kind, rng):
    torch = pytest.importorskip("torch")
    x = (rng.standard_normal((37, 29)) * 3).astype(np.float32)
    x[0, :10] = [-1e4, -100, -30, -5, 0.3, 5, 15, 30, 100, 1e4]
    dy = rng.standard_normal(x.shape).astype(np.float32)
    p = ref_params(kind, x.shape[1])
    y, _, dx, ds = run_c(kind, x, dy, p, naive=False)
    xt = torch.tensor(x, requires_grad=True)
    if kind == "prelu":
        wt = torch.tensor(p["slope"], requires_grad=True)
        yt = torch.nn.functional.prelu(xt, wt)
    else:
        yt = _torch_fn(kind, p, torch)(xt)
    yt.backward(torch.tensor(dy))
    # atol covers torch's own float32 rounding, e.g. sigmoid' = s * (1 - s) near s = 1
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-4, atol=1e-6, err_msg=kind)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=kind)
    if kind == "prelu":
        np.testing.assert_allclose(ds, wt.grad.numpy(), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- in place, through the C contract

class _Desc(__import__("ctypes").Structure):
    import ctypes as _c
    _fields_ = [("kind", _c.c_int), ("alpha", _c.c_float), ("beta", _c.c_float), ("lower", _c.c_float),
                ("upper", _c.c_float), ("n_slope", _c.c_ssize_t)]


def _c_lib():
    import ctypes
    lib = ctypes.CDLL(_core.__file__)
    if not hasattr(lib, "fnn_act_forward"):
        pytest.skip("kernel symbols not exported")
    return lib


@pytest.mark.parametrize("kind", KINDS)
def test_in_place_forward_and_backward_match(kind, rng):
    """fnn_act_forward with y == x and fnn_act_backward with dx == dy (what the engine may do)."""
    import ctypes
    lib = _c_lib()
    n, d = 37, 29
    x = (rng.standard_normal((n, d)) * 3).astype(np.float32)
    dy = rng.standard_normal((n, d)).astype(np.float32)
    p = ref_params(kind, d)
    kw = bridge_kwargs(kind, p)
    y, _ = _core.act_forward(kind, x, **kw)
    dx, ds = _core.act_backward(kind, x, y, dy, **kw)
    defaults = _core.ACT_DEFAULTS.get(kind, {})
    desc = _Desc(_core.ACT_KINDS[kind], kw.get("alpha", defaults.get("alpha", 0.0)),
                 kw.get("beta", defaults.get("beta", 0.0)), kw.get("lower", 0.0), kw.get("upper", 0.0),
                 kw["slope"].size if kind == "prelu" else 0)
    fp = ctypes.POINTER(ctypes.c_float)
    ptr = lambda a: a.ctypes.data_as(fp) if a is not None else None  # noqa: E731
    slope = kw.get("slope")
    buf = x.copy()
    st = lib.fnn_act_forward(ptr(buf), None, ptr(buf), ctypes.byref(desc), ptr(slope), ctypes.c_uint64(0),
                             ctypes.c_uint64(0), 0, ctypes.c_ssize_t(n), ctypes.c_ssize_t(d), 2)
    assert st == 0 and np.array_equal(buf, y)
    g = dy.copy()
    dsl = np.zeros(slope.size, np.float32) if slope is not None else None
    st = lib.fnn_act_backward(ptr(g), ptr(dsl), ptr(g), ptr(x), ptr(y), ctypes.byref(desc), ptr(slope), None, 0,
                              ctypes.c_ssize_t(n), ctypes.c_ssize_t(d), 2)
    assert st == 0 and np.array_equal(g, dx)
    if slope is not None:
        assert np.array_equal(dsl, ds)
