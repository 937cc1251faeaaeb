"""Regularisers inside the C training loop: dropout family, DropConnect, L1/L2, max-norm, gradient clipping."""
import numpy as np
import pytest

import fastnn as fnn


def identity_net(d, *after, seed=0, **linear_kw):
    """Linear(d, d) with W = I and no bias, then `after` layers: the outputs show what the layers do."""
    m = fnn.Sequential([fnn.Linear(d, d, bias=False, **linear_kw), *after], seed=seed)
    m.layers[0].weight[...] = np.eye(d, dtype=np.float32)
    m.compile(loss="mse", optimizer=fnn.optim.SGD(lr=0.1))
    return m


def train_forward(m, X, step=0, batch=None):
    return m._plan.forward(np.ascontiguousarray(X, dtype=np.float32), batch or X.shape[0], 1, True, step)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_keeps_a_binomial_fraction_and_preserves_the_mean(p, rng):
    n, d = 200, 500
    X = rng.uniform(0.5, 1.5, (n, d)).astype(np.float32)
    m = identity_net(d, fnn.Dropout(p))
    Y = train_forward(m, X)
    kept = Y != 0
    N = n * d
    frac = kept.mean()
    sd = np.sqrt(p * (1 - p) / N)
    assert abs(frac - (1 - p)) < 5 * sd
    np.testing.assert_allclose(Y[kept], X[kept] / (1 - p), rtol=1e-6)
    assert abs(Y.mean() / X.mean() - 1) < 5 * np.sqrt(p / ((1 - p) * N)) * 1.2
    # evaluation: identity
    np.testing.assert_array_equal(m.forward(X), X)
    # masks differ from step to step, and repeat for the same step
    assert not np.array_equal(train_forward(m, X, step=1) != 0, kept)
    np.testing.assert_array_equal(train_forward(m, X, step=0), Y)


def test_alpha_dropout_keeps_zero_mean_unit_variance(rng):
    X = rng.standard_normal((400, 500)).astype(np.float32)
    m = identity_net(500, fnn.AlphaDropout(0.2))
    Y = train_forward(m, X)
    assert abs(Y.mean()) < 0.01 and abs(Y.std() - 1) < 0.02
    a = 1 / np.sqrt(0.8 * (1 + 0.2 * 1.7580993408473766 ** 2))
    dropped = a * -1.7580993408473766 * 0.8  # a * alpha' + b with b = -a * alpha' * p
    assert np.isclose(Y, dropped, rtol=0, atol=1e-6).mean() == pytest.approx(0.2, abs=0.01)
    np.testing.assert_array_equal(m.forward(X), X)


def test_gaussian_noise_has_the_requested_std(rng):
    X = rng.standard_normal((400, 500)).astype(np.float32)
    m = identity_net(500, fnn.GaussianNoise(0.3))
    noise = train_forward(m, X) - X
    assert abs(noise.mean()) < 0.005 and abs(noise.std() - 0.3) < 0.005
    np.testing.assert_array_equal(m.forward(X), X)


def test_dropconnect_drops_weights_per_batch(rng):
    d = 300
    m = identity_net(d, drop_connect=0.4)
    W = rng.uniform(0.5, 1.5, (d, d)).astype(np.float32)
    m.layers[0].weight[...] = W
    eye = np.eye(d, dtype=np.float32)
    Weff = train_forward(m, eye).T          # out = I @ W_eff^T
    kept = Weff != 0
    assert abs(kept.mean() - 0.6) < 5 * np.sqrt(0.24 / d ** 2)
    np.testing.assert_allclose(Weff[kept], W[kept] / 0.6, rtol=1e-6)
    np.testing.assert_allclose(m.forward(eye).T, W, rtol=1e-6)   # evaluation uses W itself
    assert not np.array_equal(train_forward(m, eye, step=5).T != 0, kept)


def _loss(m, X, y, step):
    return m._plan.loss_grad(X, y, None, True, step, 1)


@pytest.mark.parametrize("kind", ["dropout", "dropconnect", "l1l2", "alpha", "gaussian"])
def test_training_mode_gradient_matches_finite_differences(kind, rng):
    """With the random masks fixed by the step, the training-mode loss is a smooth function of the weights."""
    lin = dict(drop_connect=0.3) if kind == "dropconnect" else dict(l1=0.01, l2=0.02) if kind == "l1l2" else {}
    mid = {"dropout": [fnn.Dropout(0.3)], "alpha": [fnn.AlphaDropout(0.3)],
           "gaussian": [fnn.GaussianNoise(0.5)]}.get(kind, [])
    m = fnn.Sequential([fnn.Linear(6, 8, **lin), fnn.Tanh(), *mid, fnn.Linear(8, 3, **lin)], seed=4)
    m.compile(loss="mse")
    X = rng.standard_normal((10, 6)).astype(np.float32)
    y = rng.standard_normal((10, 3)).astype(np.float32)
    _loss(m, X, y, 7)
    g = m.grads.copy()
    p0 = m.params.copy()
    h = 1e-2
    num = np.empty_like(g)
    for i in range(p0.size):
        m.params[:] = p0
        m.params[i] += h
        lp = _loss(m, X, y, 7)
        m.params[i] -= 2 * h
        lm = _loss(m, X, y, 7)
        num[i] = (lp - lm) / (2 * h)
    m.params[:] = p0
    ok = np.abs(p0) > 2 * h  # L1 is not differentiable at 0
    np.testing.assert_allclose(g[ok], num[ok], rtol=2e-2, atol=2e-3)


def test_penalty_is_added_to_the_reported_loss(rng):
    X = rng.standard_normal((20, 6)).astype(np.float32)
    y = rng.standard_normal((20, 3)).astype(np.float32)
    a = fnn.Sequential([fnn.Linear(6, 3, l1=0.01, l2=0.1)], seed=1).compile(loss="mse")
    b = fnn.Sequential([fnn.Linear(6, 3)], seed=1).compile(loss="mse")
    W = a.layers[0].weight.astype(np.float64)
    pen = 0.01 * np.abs(W).sum() + 0.1 * (W ** 2).sum()
    assert a.evaluate(X, y)["loss"] == pytest.approx(b.evaluate(X, y)["loss"] + pen, rel=1e-5)
    assert a._plan.penalty() == pytest.approx(pen, rel=1e-6)


def test_max_norm_bounds_every_row_after_a_step(rng):
    m = fnn.Sequential([fnn.Linear(30, 40, max_norm=0.5), fnn.ReLU(), fnn.Linear(40, 3)], seed=0)
    m.layers[0].weight[...] *= 5
    m.compile(loss="cross_entropy", optimizer=fnn.optim.SGD(lr=0.01))
    X = rng.standard_normal((64, 30)).astype(np.float32)
    m.fit(X, rng.integers(0, 3, 64), epochs=1, batch_size=64, verbose=0)
    norms = np.linalg.norm(m.layers[0].weight.astype(np.float64), axis=1)
    assert norms.max() <= 0.5 * (1 + 1e-6)
    assert np.allclose(norms, 0.5, rtol=1e-5)     # all were above the bound (x5), so all sit on it


def _one_step(clip_norm=None, clip_value=None, seed=0):
    rng = np.random.default_rng(seed)
    m = fnn.Sequential([fnn.Linear(10, 20, activation="tanh"), fnn.Linear(20, 4)], seed=seed)
    m.compile(loss="mse", optimizer=fnn.optim.SGD(lr=1.0), clip_norm=clip_norm, clip_value=clip_value)
    X = rng.standard_normal((32, 10)).astype(np.float32)
    y = 10 * rng.standard_normal((32, 4)).astype(np.float32)
    m._plan.loss_grad(X, y, None, True, 0, 1)
    raw = m.grads.astype(np.float64).copy()
    p0 = m.params.copy()
    m.fit(X, y, epochs=1, batch_size=32, shuffle=False, verbose=0)
    return raw, (p0 - m.params).astype(np.float64)   # lr = 1: the applied (clipped) gradient


def test_clip_by_global_norm():
    raw, applied = _one_step(clip_norm=1.0)
    assert np.linalg.norm(raw) > 2.0
    assert np.linalg.norm(applied) == pytest.approx(1.0, rel=1e-4)
    np.testing.assert_allclose(applied, raw / np.linalg.norm(raw), rtol=1e-3, atol=1e-6)


def test_clip_by_value():
    raw, applied = _one_step(clip_value=0.05)
    assert np.abs(raw).max() > 0.05
    np.testing.assert_allclose(applied, np.clip(raw, -0.05, 0.05), rtol=1e-4, atol=1e-6)


def test_global_norm_is_thread_independent(rng):
    from fastnn._ext import _core

    g = rng.standard_normal(1_000_003).astype(np.float32)
    a = _core.global_norm(g, 1)
    assert a == _core.global_norm(g, 2)
    assert a == pytest.approx(np.linalg.norm(g.astype(np.float64)), rel=1e-12)


def test_regularised_training_is_bitwise_identical_for_1_and_2_threads(rng):
    X = rng.standard_normal((2000, 200)).astype(np.float32)
    y = (X[:, :5].sum(1) > 0).astype(np.int64)

    def run(t):
        fnn.set_num_threads(t)
        try:
            m = fnn.Sequential([fnn.Linear(200, 256, activation="relu", drop_connect=0.2, l2=1e-4),
                                fnn.Dropout(0.3), fnn.Linear(256, 256, activation="selu"), fnn.AlphaDropout(0.1),
                                fnn.GaussianNoise(0.1), fnn.Linear(256, 2, max_norm=2.0)], seed=3)
            m.compile(loss="cross_entropy", optimizer=fnn.optim.SGD(lr=0.05, momentum=0.9), clip_norm=5.0)
            h = m.fit(X, y, epochs=2, batch_size=250, verbose=0)
            return m.params.copy(), h.history["loss"]
        finally:
            fnn.set_num_threads(None)

    p1, l1 = run(1)
    p2, l2 = run(2)
    assert np.array_equal(p1, p2) and l1 == l2


def test_bad_regulariser_arguments():
    with pytest.raises(ValueError, match="p must"):
        fnn.Dropout(1.0)
    with pytest.raises(ValueError, match="drop_connect"):
        fnn.Linear(3, 3, drop_connect=-0.1)
    with pytest.raises(ValueError, match="max_norm"):
        fnn.Linear(3, 3, max_norm=0)
    with pytest.raises(ValueError, match="clip_norm"):
        fnn.Sequential([fnn.Linear(3, 3)]).compile(loss="mse", clip_norm=-1)


def test_switching_optimizer_keeps_the_random_stream_moving(rng, tmp_path):
    """A new optimizer counts steps from 0; the dropout masks must not replay those of the first batches."""
    X = rng.standard_normal((64, 10)).astype(np.float32)
    y = rng.integers(0, 2, 64)

    def grads_of_first_batch_after(switch):
        m = fnn.Sequential([fnn.Linear(10, 32), fnn.Dropout(0.5), fnn.Linear(32, 2)], seed=0)
        m.compile(loss="cross_entropy", optimizer=fnn.optim.SGD(lr=1e-9))
        if switch:
            m.fit(X, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
            assert m.optimizer.step_count == 4
            m.compile(loss="cross_entropy", optimizer=fnn.optim.Adam(lr=1e-9))
            assert m.rng_offset == 4
        m.fit(X[:16], y[:16], epochs=1, batch_size=16, shuffle=False, verbose=0)
        return m

    fresh, switched = grads_of_first_batch_after(False), grads_of_first_batch_after(True)
    # same weights (lr ~ 0) and data, but different masks -> different gradients of the dropout layer's input
    assert not np.allclose(fresh.grads, switched.grads)
    path = tmp_path / "m.npz"
    switched.save(str(path))
    assert fnn.load(str(path)).rng_offset == 4


@pytest.mark.parametrize("layer", ["dropout", "alpha", "dropconnect"])
@pytest.mark.parametrize("rate", [0.2, 0.5, 0.93])
def test_dropout_masks_identical_on_every_simd_path_and_match_the_generator(layer, rate):
    """The AVX-512 mask (64-bit lane hashes, integer threshold) draws exactly the scalar mask: outputs of an
    identity layer followed by the dropout variant are bitwise equal on every path (odd sizes: vector tails),
    masks change with the step, and the kept fraction follows the rate."""
    from conftest import available_isas

    d = 37
    X = np.random.default_rng(7).standard_normal((13, d)).astype(np.float32)
    old = fnn.get_isa()
    outs = {}
    try:
        for isa in available_isas():
            fnn.set_isa(isa)
            if layer == "dropconnect":
                m = identity_net(d, seed=3, drop_connect=rate)
            else:
                m = identity_net(d, fnn.AlphaDropout(rate) if layer == "alpha" else fnn.Dropout(rate), seed=3)
            outs[isa] = [train_forward(m, X, step=s) for s in (0, 1, 977)]
    finally:
        fnn.set_isa(old)
    for isa, o in outs.items():
        for a, b in zip(o, outs["generic"]):
            np.testing.assert_array_equal(a, b, err_msg=isa)
    o0, o1 = outs["generic"][0], outs["generic"][1]
    if layer != "alpha":
        kept0 = o0 != 0
        assert not np.array_equal(kept0, o1 != 0)
        np.testing.assert_allclose(o0[kept0], X[kept0] / np.float32(1 - rate), rtol=1e-6)
        assert abs(kept0.mean() - (1 - rate)) < 4 * np.sqrt(rate * (1 - rate) / kept0.size)
