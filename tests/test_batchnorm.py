"""Batch normalisation (BatchNorm1d on (N,C) and (N,C,L), BatchNorm2d on (N,C,H,W)): a float64 reference written
here, checked by central finite differences; the C kernels (fast and naive) vs the reference in training and
evaluation, affine and not; running statistics over several steps (PyTorch's momentum formula, unbiased
variance); 1 vs 2 threads bitwise; argument errors; PyTorch when installed."""
import numpy as np
import pytest

from fastnn._ext import _core

SHAPES = [(2, 1), (7, 3), (64, 100), (130, 70), (5, 129), (4, 3, 5), (2, 3, 5, 7), (1, 4, 3, 3), (8, 16, 14, 14),
          (3, 2, 1, 9)]


# ---------------------------------------------------------------- float64 reference


def _axes(x):
    return (0,) + tuple(range(2, x.ndim))


def _bc(v, x):
    """(C,) -> broadcastable against x (N, C, ...)."""
    return np.asarray(v, dtype=np.float64).reshape((1, -1) + (1,) * (x.ndim - 2))


def ref_train(x, gamma, beta, eps):
    """(y, batch mean, biased batch var, unbiased batch var) in float64."""
    x = np.asarray(x, dtype=np.float64)
    m = x.shape[0] * int(np.prod(x.shape[2:]))
    mean = x.mean(axis=_axes(x))
    var = ((x - _bc(mean, x)) ** 2).mean(axis=_axes(x))
    y = (x - _bc(mean, x)) / np.sqrt(_bc(var, x) + eps)
    if gamma is not None:
        y = y * _bc(gamma, x) + _bc(beta, x)
    return y, mean, var, var * m / (m - 1)


def ref_eval(x, gamma, beta, rmean, rvar, eps):
    x = np.asarray(x, dtype=np.float64)
    y = (x - _bc(rmean, x)) / np.sqrt(_bc(rvar, x) + eps)
    return y * _bc(gamma, x) + _bc(beta, x) if gamma is not None else y


def ref_backward(dy, x, gamma, eps):
    """(dx, dgamma, dbeta) of sum(y * dy) in training mode, from x itself (float64)."""
    x = np.asarray(x, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    ax = _axes(x)
    m = x.shape[0] * int(np.prod(x.shape[2:]))
    mean = x.mean(axis=ax)
    inv = 1.0 / np.sqrt(((x - _bc(mean, x)) ** 2).mean(axis=ax) + eps)
    xhat = (x - _bc(mean, x)) * _bc(inv, x)
    g = _bc(gamma if gamma is not None else np.ones(x.shape[1]), x)
    dyg = dy * g
    dx = _bc(inv, x) / m * (m * dyg - _bc(dyg.sum(axis=ax), x) - xhat * _bc((dyg * xhat).sum(axis=ax), x))
    return dx, (dy * xhat).sum(axis=ax), dy.sum(axis=ax)


def params(rng, c, affine=True):
    if not affine:
        return None, None
    return (rng.uniform(0.5, 1.5, c).astype(np.float32), rng.standard_normal(c).astype(np.float32))


def data(rng, shape):
    """Channels with different offsets and scales."""
    c = shape[1]
    off = rng.uniform(-3, 3, c).reshape((1, c) + (1,) * (len(shape) - 2))
    sc = rng.uniform(0.2, 4, c).reshape((1, c) + (1,) * (len(shape) - 2))
    return (off + sc * rng.standard_normal(shape)).astype(np.float32)


def close(got, want, rtol, what="", scale=None):
    """|got - want| <= rtol * (|want| + 0.1 * scale), scale = max|want| unless given (the size of the terms
    that cancel, e.g. for dx)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    scale = max(np.abs(want).max(initial=0.0) if scale is None else scale, 1e-30)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 0.1 * scale, err_msg=what)


def dx_scale(dy, x, gamma, eps=1e-5):
    """Size of the terms that cancel in dx = gamma invstd (dy - mean(dy) - xhat mean(dy xhat))."""
    ax = _axes(x)
    x = np.asarray(x, dtype=np.float64)
    inv = 1.0 / np.sqrt(x.var(axis=ax) + eps)
    g = np.abs(gamma) if gamma is not None else 1.0
    return float((g * inv).max() * np.abs(dy).max())


def sid(shape):
    return "x".join(map(str, shape))


# ---------------------------------------------------------------- reference vs finite differences


@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 2, 3)], ids=sid)
def test_reference_backward_matches_finite_differences(shape, affine, rng):
    eps = 1e-3
    x = rng.standard_normal(shape)
    gamma = rng.uniform(0.5, 1.5, shape[1]) if affine else None
    beta = rng.standard_normal(shape[1]) if affine else None
    w = rng.standard_normal(shape)
    dx, dg, db = ref_backward(w, x, gamma, eps)
    h = 1e-6

    def loss(xx, gg, bb):
        return (ref_train(xx, gg, bb, eps)[0] * w).sum()

    fd = np.zeros(shape)
    for idx in np.ndindex(shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        fd[idx] = (loss(xp, gamma, beta) - loss(xm, gamma, beta)) / (2 * h)
    np.testing.assert_allclose(dx, fd, rtol=1e-5, atol=1e-7)
    if affine:
        for k in range(shape[1]):
            e = np.zeros(shape[1])
            e[k] = h
            np.testing.assert_allclose(dg[k], (loss(x, gamma + e, beta) - loss(x, gamma - e, beta)) / (2 * h),
                                       rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(db[k], (loss(x, gamma, beta + e) - loss(x, gamma, beta - e)) / (2 * h),
                                       rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------- C kernels vs the reference


@pytest.mark.parametrize("naive", [False, True], ids=["fast", "naive"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("shape", SHAPES, ids=sid)
def test_train_forward_backward_match_reference(shape, affine, naive, rng):
    eps = 1e-5
    x = data(rng, shape)
    gamma, beta = params(rng, shape[1], affine)
    y, mean, invstd = _core.bn_forward_train(x, gamma, beta, None, None, 0.1, eps, naive=naive)
    wy, wmean, wvar, _ = ref_train(x, gamma, beta, eps)
    close(y, wy, 2e-5, "y")
    close(mean, wmean, 1e-6, "mean")
    close(invstd, 1.0 / np.sqrt(wvar + eps), 1e-6, "invstd")
    dy = rng.standard_normal(shape).astype(np.float32)
    dx, dg, db = _core.bn_backward(dy, x, mean, invstd, gamma, naive=naive)
    wdx, wdg, wdb = ref_backward(dy, x, gamma, eps)
    close(dx, wdx, 5e-5, "dx", scale=dx_scale(dy, x, gamma))
    if affine:
        close(dg, wdg, 1e-5, "dgamma")
        close(db, wdb, 1e-5, "dbeta")
    else:
        assert dg is None and db is None


@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("shape", SHAPES, ids=sid)
def test_eval_matches_reference(shape, affine, rng):
    x = data(rng, shape)
    gamma, beta = params(rng, shape[1], affine)
    rmean = rng.standard_normal(shape[1]).astype(np.float32)
    rvar = rng.uniform(0.1, 5, shape[1]).astype(np.float32)
    keep = rmean.copy(), rvar.copy()
    y = _core.bn_forward_eval(x, gamma, beta, rmean, rvar, 1e-3)
    close(y, ref_eval(x, gamma, beta, rmean, rvar, 1e-3), 2e-6)
    np.testing.assert_array_equal(rmean, keep[0])                   # evaluation leaves them alone
    np.testing.assert_array_equal(rvar, keep[1])


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("shape", SHAPES, ids=sid)
def test_fused_relu_equals_separate_pass(shape, affine, threads, rng):
    """relu=True (a following ReLU in the same pass, as the engine fuses BN -> ReLU) is bitwise max(y, 0),
    in training (same statistics and running averages) and in evaluation."""
    if shape[0] * int(np.prod(shape[2:])) < 2:
        pytest.skip("training needs two values per channel")
    x = data(rng, shape)
    gamma, beta = params(rng, shape[1], affine)
    r1 = [np.zeros(shape[1], np.float32), np.ones(shape[1], np.float32)]
    r2 = [a.copy() for a in r1]
    y, m, i = _core.bn_forward_train(x, gamma, beta, r1[0], r1[1], 0.1, 1e-5, n_threads=threads)
    yr, mr, ir = _core.bn_forward_train(x, gamma, beta, r2[0], r2[1], 0.1, 1e-5, n_threads=threads, relu=True)
    np.testing.assert_array_equal(yr, np.maximum(y, np.float32(0)))
    assert (yr == 0).any() and (yr > 0).any()
    for a, b in zip((m, i) + tuple(r1), (mr, ir) + tuple(r2)):
        np.testing.assert_array_equal(a, b)
    ye = _core.bn_forward_eval(x, gamma, beta, r1[0], r1[1], 1e-5, n_threads=threads)
    ye_r = _core.bn_forward_eval(x, gamma, beta, r1[0], r1[1], 1e-5, n_threads=threads, relu=True)
    np.testing.assert_array_equal(ye_r, np.maximum(ye, np.float32(0)))
    with pytest.raises(ValueError, match="naive"):
        _core.bn_forward_train(x, gamma, beta, naive=True, relu=True)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("shape", SHAPES + [(64, 16, 28, 28), (64, 64, 7, 7)], ids=sid)
def test_fused_relu_backward_equals_masked(shape, affine, threads, rng):
    """bn_backward(relu_y=y) (the ReLU's backward folded into BN's, as the engine runs BN -> ReLU) is bitwise
    the backward of the masked gradient where(y > 0, dy, 0), on every ISA and thread count, and matches the
    float64 reference of mask-then-BN-backward.  dy is inf where the mask is off: selected away, not
    multiplied by 0."""
    import fastnn
    from conftest import available_isas
    if shape[0] * int(np.prod(shape[2:])) < 2:
        pytest.skip("training needs two values per channel")
    eps = 1e-5
    x = data(rng, shape)
    gamma, beta = params(rng, shape[1], affine)
    y, mean, invstd = _core.bn_forward_train(x, gamma, beta, None, None, 0.1, eps, relu=True)
    assert (y == 0).any() and (y > 0).any()
    dy = rng.standard_normal(shape).astype(np.float32)
    dy[(y == 0) & (rng.uniform(size=shape) < 0.1)] = np.inf
    g = np.where(y > 0, dy, np.float32(0))
    old = fastnn.get_isa()
    try:
        for isa in available_isas():
            fastnn.set_isa(isa)
            want = _core.bn_backward(g, x, mean, invstd, gamma, n_threads=threads)
            got = _core.bn_backward(dy, x, mean, invstd, gamma, n_threads=threads, relu_y=y)
            for name, a, b in zip(("dx", "dgamma", "dbeta"), want, got):
                if a is None:
                    assert b is None
                else:
                    np.testing.assert_array_equal(b, a, err_msg=f"{isa} {name}")
    finally:
        fastnn.set_isa(old)
    wdx, wdg, wdb = ref_backward(g, x, gamma, eps)
    close(got[0], wdx, 5e-5, "dx", scale=dx_scale(g, x, gamma))
    if affine:
        close(got[1], wdg, 1e-5, "dgamma")
        close(got[2], wdb, 1e-5, "dbeta")
    with pytest.raises(ValueError, match="naive"):
        _core.bn_backward(dy, x, mean, invstd, gamma, naive=True, relu_y=y)


@pytest.mark.parametrize("naive", [False, True], ids=["fast", "naive"])
@pytest.mark.parametrize("shape", [(16, 5), (4, 3, 6, 5)], ids=sid)
def test_running_statistics_over_several_steps(shape, naive, rng):
    c = shape[1]
    rmean = np.zeros(c, np.float32)
    rvar = np.ones(c, np.float32)
    wmean, wvar = np.zeros(c), np.ones(c)
    for step, momentum in enumerate((0.1, 0.1, 0.3, 1.0, 0.05)):
        x = data(rng, shape)
        _core.bn_forward_train(x, None, None, rmean, rvar, momentum, 1e-5, naive=naive)
        _, bmean, _, bvar_unbiased = ref_train(x, None, None, 1e-5)
        wmean = (1 - momentum) * wmean + momentum * bmean
        wvar = (1 - momentum) * wvar + momentum * bvar_unbiased
        close(rmean, wmean, 1e-6, f"running_mean step {step}")
        close(rvar, wvar, 1e-6, f"running_var step {step}")


def test_running_var_is_unbiased_and_normalisation_biased():
    x = np.array([[1.0], [3.0]], dtype=np.float32)                 # mean 2, biased var 1, unbiased var 2
    rmean, rvar = np.zeros(1, np.float32), np.zeros(1, np.float32)
    y, mean, invstd = _core.bn_forward_train(x, None, None, rmean, rvar, 1.0, 0.0)
    assert mean[0] == 2.0 and invstd[0] == 1.0 and rvar[0] == 2.0 and rmean[0] == 2.0
    np.testing.assert_array_equal(y, [[-1.0], [1.0]])


@pytest.mark.parametrize("shape", [(32, 6), (8, 3, 4, 4)], ids=sid)
def test_train_and_eval_behaviour(shape, rng):
    c = shape[1]
    gamma, beta = params(rng, c)
    x = data(rng, shape)
    # training normalises with the batch statistics: per channel mean beta, std gamma (biased)
    y, _, _ = _core.bn_forward_train(x, gamma, beta, None, None)
    ax = _axes(y)
    close(y.mean(axis=ax), beta, 1e-4)
    close(y.std(axis=ax), gamma, 1e-3)
    # a training output depends on the rest of the batch; an evaluation output does not
    y_half, _, _ = _core.bn_forward_train(np.ascontiguousarray(x[: shape[0] // 2]), gamma, beta, None, None)
    assert not np.allclose(y_half, y[: shape[0] // 2], atol=1e-3)
    rmean = rng.standard_normal(c).astype(np.float32)
    rvar = rng.uniform(0.5, 2, c).astype(np.float32)
    ye = _core.bn_forward_eval(x, gamma, beta, rmean, rvar)
    ye_half = _core.bn_forward_eval(np.ascontiguousarray(x[: shape[0] // 2]), gamma, beta, rmean, rvar)
    np.testing.assert_array_equal(ye_half, ye[: shape[0] // 2])
    # after many steps on one batch with momentum 1 - (small), running stats -> batch stats: eval ~ train
    rmean, rvar = np.zeros(c, np.float32), np.ones(c, np.float32)
    for _ in range(60):
        _core.bn_forward_train(x, gamma, beta, rmean, rvar, 0.5)
    m = x.shape[0] * int(np.prod(x.shape[2:]))
    ye = _core.bn_forward_eval(x, gamma, beta, rmean, rvar * (m - 1) / m)    # unbiased -> biased
    close(ye, y, 1e-4)


def test_fast_and_naive_agree_closely(rng):
    for shape in [(64, 100), (8, 16, 14, 14)]:
        x = data(rng, shape)
        gamma, beta = params(rng, shape[1])
        a = _core.bn_forward_train(x, gamma, beta, None, None)
        b = _core.bn_forward_train(x, gamma, beta, None, None, naive=True)
        for u, v in zip(a, b):
            close(u, v, 1e-6)
        dy = rng.standard_normal(shape).astype(np.float32)
        for u, v in zip(_core.bn_backward(dy, x, a[1], a[2], gamma),
                        _core.bn_backward(dy, x, a[1], a[2], gamma, naive=True)):
            close(u, v, 2e-6)


@pytest.mark.parametrize("shape", [(64, 4, 28, 28), (16, 4, 7, 7), (9, 4, 3, 1)], ids=sid)
def test_one_pass_statistics_on_offset_channels(shape, rng):
    """The S > 1 forward sums x - K and (x - K)^2 in one pass, K the channel's first value: on channels whose
    mean dwarfs their spread (where E[x^2] - E[x]^2 cancels) mean, invstd, running_var and y still match the
    float64 two-pass reference, also with K an outlier of 100 standard deviations and on a constant channel,
    on every ISA.  The same statistics from float sums of x and x^2 are far off (the data is a real test).
    y is checked against the float statistics the kernel returns: the affine pass subtracts the float32 mean,
    whose rounding (|mean| 2^-24, 0.3% of a std here) bounds y's precision on such channels, not the sums."""
    import fastnn
    from conftest import available_isas
    n, c = shape[0], shape[1]
    sp = shape[2:]
    x = np.empty(shape, np.float32)
    x[:, 0] = 1000 + 0.01 * rng.standard_normal((n,) + sp)
    x[:, 1] = -3e4 + 0.5 * rng.standard_normal((n,) + sp)
    x[:, 2] = 1000 + 0.01 * rng.standard_normal((n,) + sp)
    x[0, 2].flat[0] = 1001.0                       # K = the first value, 100 std from the mean
    x[:, 3] = 7.0                                  # constant: variance exactly 0
    gamma, beta = params(rng, c)
    eps = 1e-5
    _, wmean, wvar, wvar_u = ref_train(x, gamma, beta, eps)
    m = x.size // c
    xf = x.transpose(1, 0, 2, 3).reshape(c, -1)
    naive_var = (xf * xf).sum(axis=1, dtype=np.float32) / m - (xf.sum(axis=1, dtype=np.float32) / m) ** 2
    assert abs(naive_var[0] - wvar[0]) > 0.1 * wvar[0]
    old = fastnn.get_isa()
    try:
        for isa in available_isas():
            fastnn.set_isa(isa)
            rmean, rvar = np.zeros(c, np.float32), np.ones(c, np.float32)
            y, mean, invstd = _core.bn_forward_train(x, gamma, beta, rmean, rvar, 1.0, eps)
            close(mean, wmean, 1e-7, f"{isa} mean")
            close(invstd, 1.0 / np.sqrt(wvar + eps), 1e-6, f"{isa} invstd")
            close(rvar, wvar_u, 1e-6, f"{isa} running_var")
            assert rvar[3] == 0.0 and invstd[3] == np.float32(1.0 / np.sqrt(np.float32(eps)))
            yf = (x.astype(np.float64) - _bc(mean, x)) * _bc(invstd, x) * _bc(gamma, x) + _bc(beta, x)
            close(y, yf, 2e-5, f"{isa} y")
    finally:
        fastnn.set_isa(old)


def _bn_relu_net(fusable, seed=0):
    """Conv-BN-ReLU, a residual block with BN-ReLU in its body, a Linear-BatchNorm1d-ReLU head.  The engine
    fuses each ReLU into its BN (forward and backward); fusable=False puts a Dropout(0) (a copy, no parameters)
    between every BN and its ReLU, which keeps them apart with the same arithmetic and parameter layout."""
    import fastnn as fnn

    def sep():
        return [] if fusable else [fnn.Dropout(0.0)]

    body = [fnn.Conv2d(4, 4, 3, padding=1, bias=False), fnn.BatchNorm2d(4)] + sep() + [
        fnn.ReLU(), fnn.Conv2d(4, 4, 3, padding=1, bias=False), fnn.BatchNorm2d(4)]
    layers = ([fnn.Conv2d(2, 4, 3, padding=1, bias=False), fnn.BatchNorm2d(4)] + sep() +
              [fnn.ReLU(), fnn.Residual(body), fnn.ReLU(), fnn.MaxPool2d(2), fnn.Flatten(), fnn.Linear(4 * 4 * 5, 8),
               fnn.BatchNorm1d(8)] + sep() + [fnn.ReLU(), fnn.Linear(8, 3)])
    return fnn.Sequential(layers, input_shape=(2, 8, 10), seed=seed)


@pytest.mark.parametrize("nt", [1, 2])
def test_engine_fused_bn_relu_backward_is_bitwise_unfused(nt, rng, threads):
    """The training engine's BN -> ReLU backward fusion (the ReLU layer skips its backward, the BN reads its
    output gradient masked by the shared output) gives the gradients, and over two epochs of SGD with momentum
    the parameters and running statistics, of the same network with the ReLUs kept apart, bit for bit."""
    import fastnn as fnn
    threads(nt)
    fused, apart = _bn_relu_net(True), _bn_relu_net(False)
    assert fused.params.size == apart.params.size
    apart.params[:] = fused.params
    X = rng.standard_normal((12, 2, 8, 10)).astype(np.float32)
    y = rng.integers(0, 3, 12)
    grads = []
    for m in (fused, apart):
        m.compile(loss="cross_entropy", optimizer=fnn.optim.SGD(lr=0.05, momentum=0.9))
        loss = m._plan.loss_grad(X.reshape(len(X), -1), None, y.astype(np.int32), True, 0, nt)
        grads.append((loss, m.grads.copy()))
    assert grads[0][0] == grads[1][0]
    np.testing.assert_array_equal(grads[0][1], grads[1][1])
    assert np.abs(grads[0][1]).max() > 0
    for m in (fused, apart):
        m.fit(X, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    np.testing.assert_array_equal(fused.params, apart.params)
    np.testing.assert_array_equal(fused.forward(X), apart.forward(X))


# ---------------------------------------------------------------- threads


@pytest.mark.parametrize("shape", [(64, 32, 28, 28), (512, 1000), (64, 200, 9)], ids=sid)
def test_threads_bitwise_identical(shape, rng):
    if not _core.openmp_enabled():
        pytest.skip("built without OpenMP")
    c = shape[1]
    x = data(rng, shape)
    gamma, beta = params(rng, c)
    res = []
    for nt in (1, 2):
        rmean, rvar = np.full(c, 0.5, np.float32), np.full(c, 2.0, np.float32)
        y, mean, invstd = _core.bn_forward_train(x, gamma, beta, rmean, rvar, 0.1, 1e-5, n_threads=nt)
        dy = (0.01 * x).astype(np.float32)
        dx, dg, db = _core.bn_backward(dy, x, mean, invstd, gamma, n_threads=nt)
        ye = _core.bn_forward_eval(x, gamma, beta, rmean, rvar, 1e-5, n_threads=nt)
        res.append((y, mean, invstd, rmean, rvar, dx, dg, db, ye))
    for a, b in zip(*res):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- argument errors


def test_errors():
    x = np.zeros((4, 3, 2, 2), dtype=np.float32)
    v3, v4 = np.ones(3, np.float32), np.ones(4, np.float32)
    with pytest.raises(ValueError, match=r"gamma must have shape \(3,\) to match the 3 channels of x \(4, 3, 2, 2\)"):
        _core.bn_forward_train(x, v4, v3)
    with pytest.raises(ValueError, match=r"running_var must have shape \(3,\).*got \(4,\)"):
        _core.bn_forward_train(x, v3, v3, v3.copy(), v4.copy())
    with pytest.raises(ValueError, match=r"beta must have shape \(3,\)"):
        _core.bn_forward_eval(x, v3, v4, v3, v3)
    with pytest.raises(ValueError, match="running_mean is required"):
        _core.bn_forward_eval(x, v3, v3, None, v3)
    with pytest.raises(TypeError, match="dtype float32"):
        _core.bn_forward_train(x.astype(np.float64))
    with pytest.raises(TypeError, match="gamma must have dtype float32"):
        _core.bn_forward_train(x, v3.astype(np.float64), v3)
    with pytest.raises(ValueError, match=r"\(N, C\), \(N, C, L\) or \(N, C, H, W\), got shape \(4,\)"):
        _core.bn_forward_train(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"got shape \(1, 2, 3, 4, 5\)"):
        _core.bn_forward_eval(np.zeros((1, 2, 3, 4, 5), np.float32), None, None, np.zeros(2, np.float32),
                              np.ones(2, np.float32))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        _core.bn_forward_train(np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        _core.bn_forward_train(np.zeros((1, 3, 1, 1), np.float32), naive=True)
    with pytest.raises(ValueError, match="eps must be"):
        _core.bn_forward_train(x, eps=-1.0)
    y, mean, invstd = _core.bn_forward_train(x + np.arange(16, dtype=np.float32).reshape(4, 1, 2, 2))
    with pytest.raises(ValueError, match=r"dy must have the shape of x \(4, 3, 2, 2\)"):
        _core.bn_backward(y[:2], x, mean, invstd)
    with pytest.raises(ValueError, match=r"invstd must have shape \(3,\)"):
        _core.bn_backward(y, x, mean, invstd[:2])
    with pytest.raises(ValueError, match=r"relu_y must have the shape of x \(4, 3, 2, 2\)"):
        _core.bn_backward(y, x, mean, invstd, relu_y=y[:2])
    with pytest.raises(TypeError, match="relu_y must have dtype float32"):
        _core.bn_backward(y, x, mean, invstd, relu_y=y.astype(np.float64))


# ---------------------------------------------------------------- PyTorch


@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("shape", [(32, 20), (16, 8, 10), (8, 12, 13, 11)], ids=sid)
def test_matches_torch(shape, affine, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    c = shape[1]
    x = data(rng, shape)
    gamma, beta = params(rng, c, affine)
    rmean = rng.standard_normal(c).astype(np.float32)
    rvar = rng.uniform(0.5, 2, c).astype(np.float32)
    trm, trv = torch.tensor(rmean), torch.tensor(rvar)
    xt = torch.tensor(x, requires_grad=True)
    gt = torch.tensor(gamma, requires_grad=True) if affine else None
    bt = torch.tensor(beta, requires_grad=True) if affine else None
    for step in range(3):   # several training steps: the running statistics keep matching
        yt = F.batch_norm(xt, trm, trv, gt, bt, training=True, momentum=0.1, eps=1e-5)
        y, mean, invstd = _core.bn_forward_train(x, gamma, beta, rmean, rvar, 0.1, 1e-5)
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(rmean, trm.numpy(), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(rvar, trv.numpy(), rtol=1e-4, atol=1e-6)
    dy = rng.standard_normal(shape).astype(np.float32)
    yt.backward(torch.tensor(dy))
    dx, dg, db = _core.bn_backward(dy, x, mean, invstd, gamma)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    if affine:
        np.testing.assert_allclose(dg, gt.grad.numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(db, bt.grad.numpy(), rtol=1e-4, atol=1e-4)
    ye = _core.bn_forward_eval(x, gamma, beta, rmean, rvar, 1e-5)
    yte = F.batch_norm(torch.tensor(x), trm, trv, None if gt is None else gt.detach(),
                       None if bt is None else bt.detach(), training=False, eps=1e-5)
    np.testing.assert_allclose(ye, yte.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", [(64, 16, 28, 28), (8, 5, 3, 7), (33, 70), (2, 3, 1, 9)], ids=sid)
def test_every_isa_matches_generic(shape, rng):
    """The units compiled for AVX-512 (the same lane sums, multiply-adds contracted into FMAs) agree with the
    portable ones to float rounding."""
    import fastnn
    from conftest import available_isas
    c = shape[1]
    x = data(rng, shape)
    gamma, beta = params(rng, c)
    dy = rng.standard_normal(shape).astype(np.float32)
    old = fastnn.get_isa()
    res = {}
    try:
        for isa in available_isas():
            fastnn.set_isa(isa)
            rmean, rvar = np.full(c, 0.5, np.float32), np.full(c, 2.0, np.float32)
            y, mean, invstd = _core.bn_forward_train(x, gamma, beta, rmean, rvar, 0.1, 1e-5, n_threads=2)
            dx, dg, db = _core.bn_backward(dy, x, mean, invstd, gamma, n_threads=2)
            ye = _core.bn_forward_eval(x, gamma, beta, rmean, rvar, 1e-5, n_threads=2, relu=True)
            res[isa] = (y, mean, invstd, rmean, rvar, dx, dg, db, ye)
    finally:
        fastnn.set_isa(old)
    names = ("y", "mean", "invstd", "running_mean", "running_var", "dx", "dgamma", "dbeta", "eval relu")
    for isa, got in res.items():
        for name, a, b in zip(names, res["generic"], got):
            np.testing.assert_allclose(b, a, rtol=2e-5, atol=2e-5 * max(1.0, float(np.abs(a).max())),
                                       err_msg=f"{isa} {name}")
