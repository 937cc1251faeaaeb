"""Models beyond a chain: residual blocks (identity and projection shortcuts), Flatten, image-shaped inputs."""
import numpy as np
import pytest

import fastnn as fnn

import reference as ref


def ref_forward(model, X):
    """float64 forward following the model's wiring."""
    x0 = X.reshape(len(X), -1).astype(np.float64)
    outs = []
    for layer, (src, src2) in zip(model.layers, model._graph):
        h = outs[src] if src >= 0 else x0
        if isinstance(layer, fnn.Linear):
            h = h @ layer.weight.astype(np.float64).T + (layer.bias if layer.use_bias else 0.0)
        elif isinstance(layer, fnn.Activation):
            kw = {} if layer.name == "prelu" else dict(layer.config())
            h = ref.act_forward(layer.name, h, **kw)
        elif isinstance(layer, fnn.layers.Add):
            h = h + (outs[src2] if src2 >= 0 else x0)
        elif isinstance(layer, fnn.Flatten):
            pass
        else:
            raise AssertionError(layer)
        outs.append(h)
    return outs[-1]


def residual_mlp(seed=0, zero_init=False, relu_after_add=False):
    return fnn.Sequential([
        fnn.Residual([fnn.Linear(6, 6), fnn.Tanh(), fnn.Linear(6, 6)], zero_init=zero_init),  # skip from the input
        fnn.Tanh(),
        fnn.Linear(6, 8, activation="sigmoid"),
        fnn.Residual([fnn.Linear(8, 8), fnn.Softplus(), fnn.Linear(8, 8)], zero_init=zero_init),
        fnn.ELU(),
        fnn.Residual([fnn.Linear(8, 5), fnn.Tanh()], shortcut=[fnn.Linear(8, 5)]),   # projection shortcut
        *([fnn.ReLU()] if relu_after_add else []),   # a ReLU after an Add: computed in the Add's pass
        fnn.Linear(5, 3),
    ], seed=seed)


def test_residual_wiring():
    m = residual_mlp()
    kinds = [type(x).__name__ for x in m.layers]
    assert kinds.count("Add") == 3
    adds = [g for x, g in zip(m.layers, m._graph) if type(x).__name__ == "Add"]
    assert adds[0] == (2, -1)          # body end + the network input
    assert all(a[0] != a[1] for a in adds)


@pytest.mark.parametrize("relu_after_add", [False, True])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_residual_network_gradient_matches_finite_differences(loss, relu_after_add, rng):
    m = residual_mlp(seed=3, relu_after_add=relu_after_add)
    m.compile(loss=loss)
    X = rng.standard_normal((7, 6)).astype(np.float32)
    if loss == "cross_entropy":
        y = rng.integers(0, 3, 7)
        target, labels, yref = None, y.astype(np.int32), y
    else:
        y = rng.standard_normal((7, 3)).astype(np.float32)
        target, labels, yref = y, None, y.astype(np.float64)
    c_loss = m._plan.loss_grad(X, target, labels, False, 0, 1)
    g = m.grads.copy()
    assert c_loss == pytest.approx(ref.loss(loss, ref_forward(m, X), yref, 1.0)[0], rel=1e-4)
    np.testing.assert_allclose(m.forward(X), ref_forward(m, X), rtol=1e-4, atol=1e-5)
    p0 = m.params.copy()
    num = np.empty(p0.size)
    h = 1e-3
    for i in range(p0.size):
        m.params[:] = p0
        m.params[i] += h
        lp = ref.loss(loss, ref_forward(m, X), yref, 1.0)[0]
        m.params[i] -= 2 * h
        lm = ref.loss(loss, ref_forward(m, X), yref, 1.0)[0]
        num[i] = (lp - lm) / (2 * h)
    m.params[:] = p0
    np.testing.assert_allclose(g, num, rtol=2e-3, atol=2e-3 * max(1e-3, np.abs(num).max()))


def test_zero_init_blocks_start_as_their_shortcut(rng):
    m = fnn.Sequential([fnn.Linear(4, 6), fnn.Residual([fnn.Linear(6, 6), fnn.ReLU(), fnn.Linear(6, 6)],
                                                       zero_init=True)], seed=1)
    X = rng.standard_normal((5, 4)).astype(np.float32)
    assert not m.layers[3].weight.any()
    np.testing.assert_allclose(m.forward(X), X @ m.layers[0].weight.T + m.layers[0].bias, rtol=1e-5, atol=1e-6)


def test_residual_model_trains_and_round_trips(tmp_path, rng):
    X = rng.standard_normal((300, 6)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0)
    m = residual_mlp(seed=2)
    m.compile(loss="cross_entropy", optimizer=fnn.optim.Adam(lr=0.01))
    h = m.fit(X, y, epochs=30, batch_size=32, verbose=0)
    assert h.history["loss"][-1] < 0.6 * h.history["loss"][0]
    path = str(tmp_path / "res.npz")
    m.save(path)
    back = fnn.load(path)
    assert back._graph == m._graph
    np.testing.assert_array_equal(back.forward(X), m.forward(X))


def test_image_shaped_inputs_with_flatten(rng):
    m = fnn.Sequential([fnn.Flatten(), fnn.Linear(12, 3)], input_shape=(3, 2, 2), seed=0)
    m.compile(loss="cross_entropy")
    X = rng.standard_normal((10, 3, 2, 2)).astype(np.float32)
    np.testing.assert_allclose(m.forward(X), m.forward(X.reshape(10, 12)), rtol=0, atol=0)
    m.fit(X, rng.integers(0, 3, 10), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="expects"):
        m.forward(np.zeros((2, 2, 3, 2), np.float32))
    with pytest.raises(ValueError, match="Flatten"):
        fnn.Sequential([fnn.Linear(12, 3)], input_shape=(3, 2, 2))


def test_shortcut_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="shortcut"):
        fnn.Sequential([fnn.Linear(4, 6), fnn.Residual([fnn.Linear(6, 5)])])


def test_residual_training_is_thread_independent(rng):
    X = rng.standard_normal((2000, 64)).astype(np.float32)
    y = (X[:, :3].sum(1) > 0).astype(np.int64)

    def run(t):
        fnn.set_num_threads(t)
        try:
            m = fnn.Sequential([fnn.Linear(64, 256, activation="relu"),
                                fnn.Residual([fnn.Linear(256, 256), fnn.ReLU(), fnn.Dropout(0.2),
                                              fnn.Linear(256, 256)]),
                                fnn.ReLU(), fnn.Linear(256, 2)], seed=5)
            m.compile(loss="cross_entropy", optimizer=fnn.optim.SGD(lr=0.05, momentum=0.9))
            m.fit(X, y, epochs=2, batch_size=200, verbose=0)
            return m.params.copy()
        finally:
            fnn.set_num_threads(None)

    assert np.array_equal(run(1), run(2))
