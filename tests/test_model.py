"""The dense-network engine: whole-network gradients, determinism, the SGD update, validation, state."""
import numpy as np
import pytest

import fastnn as fnn
from fastnn._ext import _core

import reference as ref

ACTS = [("identity", {}), ("sigmoid", {}), ("tanh", {}), ("relu", {}), ("leaky_relu", {"negative_slope": 0.1}),
        ("elu", {"alpha": 0.7}), ("selu", {}), ("softplus", {"beta": 2.0, "threshold": 20.0}),
        ("softsign", {}), ("softmax", {})]


def _layer(name, kw):
    return {"identity": fnn.Identity, "sigmoid": fnn.Sigmoid, "tanh": fnn.Tanh, "relu": fnn.ReLU,
            "leaky_relu": fnn.LeakyReLU, "elu": fnn.ELU, "selu": fnn.SELU, "softplus": fnn.Softplus,
            "softsign": fnn.Softsign, "softmax": fnn.Softmax, "prelu": fnn.PReLU, "rrelu": fnn.RReLU}[name](**kw)


def _ref_params(layer):
    """The layer's constants as tests/reference.py names them (PyTorch's names, as the layers' config)."""
    return {} if layer.name == "prelu" else dict(layer.config())


def ref_forward(model, X):
    """float64 forward of the model's current weights, layer by layer, with tests/reference.py."""
    h = X.astype(np.float64)
    for layer in model.layers:
        if isinstance(layer, fnn.Linear):
            h = h @ layer.weight.astype(np.float64).T
            if layer.use_bias:
                h = h + layer.bias.astype(np.float64)
        else:
            slope = layer._values.get("weight")
            kw = _ref_params(layer)
            if slope is not None:
                kw["slope"] = slope.astype(np.float64)
            h = ref.act_forward(layer.name, h, **kw)
    return h


def ref_loss(model, X, y, loss):
    out = ref_forward(model, X)
    value, _ = ref.loss(loss, out, y, 1.0)
    return value


def make_net(acts, seed=0, widths=(5, 7, 6, 3)):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(fnn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(_layer(*acts[i % len(acts)]))
    return fnn.Sequential(layers, seed=seed)


@pytest.mark.parametrize("act", ACTS + [("prelu", {"num_parameters": 7})], ids=lambda a: a[0])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse", "huber", "bce_logits", "mae"])
def test_whole_network_gradient_matches_finite_differences(act, loss, rng):
    model = make_net([act, ("tanh", {})], seed=3)
    if act[0] == "prelu":
        model.layers[1].weight[...] = rng.uniform(-0.5, 0.5, 7)  # slopes of both signs
    model.compile(loss=loss, optimizer="sgd")
    X = rng.standard_normal((9, 5)).astype(np.float32)
    if loss == "cross_entropy":
        y = rng.integers(0, 3, 9)
        yref = y
        target, labels = None, y.astype(np.int32)
    else:
        y = (rng.uniform(0, 1, (9, 3)) if loss == "bce_logits" else rng.standard_normal((9, 3))).astype(np.float32)
        yref = y.astype(np.float64)
        target, labels = y, None
    c_loss = model._plan.loss_grad(X, target, labels, False, 0, 1)
    grads = model.grads.copy()
    assert c_loss == pytest.approx(ref_loss(model, X, yref, loss), rel=1e-4, abs=1e-6)
    p0 = model.params.copy()
    num = np.empty(p0.shape[0])
    h = 1e-3
    for i in range(p0.shape[0]):
        model.params[:] = p0
        model.params[i] = p0[i] + h
        lp = ref_loss(model, X, yref, loss)
        model.params[i] = p0[i] - h
        lm = ref_loss(model, X, yref, loss)
        num[i] = (lp - lm) / (2 * h)
    model.params[:] = p0
    # float32 forward/backward vs float64 central differences of float32-rounded parameters
    tol = 2e-3 if loss != "mae" else 2e-2
    np.testing.assert_allclose(grads, num, rtol=tol, atol=tol * max(1e-3, np.abs(num).max()))


def test_soft_and_onehot_targets_equal_labels(rng):
    model = make_net([("relu", {})], seed=1)
    model.compile(loss="cross_entropy")
    X = rng.standard_normal((16, 5)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    l1 = model._plan.loss_grad(X, None, y.astype(np.int32), False, 0, 1)
    g1 = model.grads.copy()
    onehot = np.eye(3, dtype=np.float32)[y]
    l2 = model._plan.loss_grad(X, onehot, None, False, 0, 1)
    assert l1 == pytest.approx(l2, rel=1e-6)
    np.testing.assert_allclose(model.grads, g1, rtol=1e-5, atol=1e-7)
    # evaluate accepts either form
    assert model.evaluate(X, y)["loss"] == pytest.approx(model.evaluate(X, onehot)["loss"], rel=1e-6)


def _sgd_reference(p, grads_seq, lr, momentum, dampening, wd, nesterov):
    p = p.astype(np.float64).copy()
    buf = None
    for g in grads_seq:
        d = g + wd * p
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p -= lr * d
    return p


@pytest.mark.parametrize("momentum,dampening,wd,nesterov", [(0, 0, 0, False), (0.9, 0, 0, False),
                                                            (0.9, 0.1, 1e-3, False), (0.8, 0, 5e-4, True)])
def test_sgd_update_matches_formula(momentum, dampening, wd, nesterov, rng):
    n = 1000
    p = rng.standard_normal(n).astype(np.float32)
    gs = [rng.standard_normal(n).astype(np.float32) for _ in range(50)]
    opt = fnn.optim.SGD(lr=0.05, momentum=momentum, dampening=dampening, weight_decay=wd, nesterov=nesterov)
    q = p.copy()
    for g in gs:
        opt.step(q, g)
    want = _sgd_reference(p, gs, 0.05, momentum, dampening, wd, nesterov)
    np.testing.assert_allclose(q, want, rtol=1e-5, atol=1e-5)


def test_sgd_matches_torch(rng):
    torch = pytest.importorskip("torch")
    n = 300
    p = rng.standard_normal(n).astype(np.float32)
    gs = [rng.standard_normal(n).astype(np.float32) for _ in range(100)]
    tp = torch.nn.Parameter(torch.tensor(p))
    topt = torch.optim.SGD([tp], lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-3)
    opt = fnn.optim.SGD(lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-3)
    q = p.copy()
    for g in gs:
        tp.grad = torch.tensor(g)
        topt.step()
        opt.step(q, g)
    np.testing.assert_allclose(q, tp.detach().numpy(), rtol=1e-5, atol=1e-5)


def test_linear_relu_network_matches_torch(rng):
    torch = pytest.importorskip("torch")
    model = fnn.Sequential([fnn.Linear(20, 16), fnn.ReLU(), fnn.Linear(16, 8), fnn.Tanh(), fnn.Linear(8, 4)], seed=5)
    model.compile(loss="cross_entropy")
    X = rng.standard_normal((32, 20)).astype(np.float32)
    y = rng.integers(0, 4, 32)
    tl = [torch.nn.Linear(20, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8), torch.nn.Tanh(), torch.nn.Linear(8, 4)]
    net = torch.nn.Sequential(*tl)
    net.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    out = net(torch.tensor(X))
    loss = torch.nn.functional.cross_entropy(out, torch.tensor(y))
    loss.backward()
    np.testing.assert_allclose(model.forward(X), out.detach().numpy(), rtol=1e-4, atol=1e-5)
    c_loss = model._plan.loss_grad(X, None, y.astype(np.int32), False, 0, 1)
    assert c_loss == pytest.approx(loss.item(), rel=1e-5)
    for (name, p), grad in zip(net.named_parameters(), [p.grad for p in net.parameters()]):
        i, attr = name.split(".")
        got = model.layers[int(i)]._grads[attr]
        np.testing.assert_allclose(got, grad.numpy(), rtol=1e-4, atol=1e-6)


def _train(seed, threads, epochs=2):
    fnn.set_num_threads(threads)
    try:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((3000, 300)).astype(np.float32)
        y = (X[:, :10].sum(1) > 0).astype(np.int64) + 2 * (X[:, 10:20].sum(1) > 0)
        model = fnn.Sequential([fnn.Linear(300, 512, activation="relu"), fnn.Linear(512, 256),
                                fnn.RReLU(), fnn.Linear(256, 4)], seed=seed)
        model.compile(loss="cross_entropy", optimizer=fnn.optim.SGD(lr=0.05, momentum=0.9))
        h = model.fit(X, y, epochs=epochs, batch_size=200, verbose=0)
        return model.params.copy(), h
    finally:
        fnn.set_num_threads(None)


def test_training_is_bitwise_identical_for_1_and_2_threads():
    p1, h1 = _train(7, 1)
    p2, h2 = _train(7, 2)
    assert np.array_equal(p1, p2)
    assert h1.history["loss"] == h2.history["loss"]
    p3, _ = _train(8, 2)
    assert not np.array_equal(p1, p3)


def test_shuffle_is_a_seeded_permutation():
    a = _core.shuffle(1000, 3, 0)
    assert np.array_equal(np.sort(a), np.arange(1000))
    assert np.array_equal(a, _core.shuffle(1000, 3, 0))
    assert not np.array_equal(a, _core.shuffle(1000, 3, 1))
    assert not np.array_equal(a, np.arange(1000))


def test_last_partial_batch_is_trained(rng):
    """Batch 64 over 100 rows: two updates per epoch, the second on 36 rows."""
    model = make_net([("tanh", {})], seed=2)
    model.compile(loss="mse", optimizer=fnn.optim.SGD(lr=0.1))
    X = rng.standard_normal((100, 5)).astype(np.float32)
    y = rng.standard_normal((100, 3)).astype(np.float32)
    p0 = model.params.copy()
    model.fit(X, y, epochs=1, batch_size=64, shuffle=False, verbose=0)
    assert model.optimizer.step_count == 2
    # replay the two steps with loss_grad on the same slices
    other = make_net([("tanh", {})], seed=2)
    other.compile(loss="mse", optimizer=fnn.optim.SGD(lr=0.1))
    assert np.array_equal(other.params, p0)
    for lo, hi in [(0, 64), (64, 100)]:
        other._plan.loss_grad(X[lo:hi], y[lo:hi], None, True, 0, 1)
        other.optimizer.step(other.params, other.grads)
    np.testing.assert_allclose(model.params, other.params, rtol=1e-6, atol=1e-7)


def test_fit_reports_history_and_predict_shapes(rng, capsys):
    model = make_net([("relu", {})], seed=0)
    model.compile(loss="cross_entropy", optimizer=fnn.optim.SGD(lr=0.1))
    X = rng.standard_normal((50, 5)).astype(np.float32)
    y = rng.integers(0, 3, 50)
    h = model.fit(X, y, epochs=3, batch_size=8, validation_data=(X, y), verbose=1)
    out = capsys.readouterr().out
    assert out.count("epoch ") == 3 and "samples/s" in out and "val_acc" in out
    assert h.epoch == [0, 1, 2] and len(h.history["loss"]) == 3
    assert set(h.history) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "samples_per_s"}
    proba = model.predict(X)
    assert proba.shape == (50, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    assert np.array_equal(model.predict_classes(X), model.forward(X).argmax(1))
    ev = model.evaluate(X, y)
    assert ev["accuracy"] == pytest.approx(np.mean(model.predict_classes(X) == y))


def test_state_dict_round_trip(rng):
    a = make_net([("relu", {})], seed=0)
    b = make_net([("relu", {})], seed=1)
    assert not np.array_equal(a.params, b.params)
    b.load_state_dict(a.state_dict())
    assert np.array_equal(a.params, b.params)
    sd = a.state_dict()
    sd["0.weight"] = sd["0.weight"][:, :3]
    with pytest.raises(ValueError, match="0.weight"):
        b.load_state_dict(sd)
    with pytest.raises(ValueError, match="missing"):
        b.load_state_dict({})


def test_weights_are_views_into_the_flat_buffer():
    m = make_net([("relu", {})])
    m.layers[0].weight[0, 0] = 42.0
    assert m.params[0] == 42.0
    assert m.parameters()[0] is m.layers[0].weight
    assert sum(p.size for p in m.parameters()) == m.n_params() == 5 * 7 + 7 + 7 * 6 + 6 + 6 * 3 + 3


class TestBadInput:
    @pytest.fixture
    def model(self):
        m = make_net([("relu", {})])
        m.compile(loss="cross_entropy", optimizer=fnn.optim.SGD(lr=0.1))
        return m

    def test_wrong_feature_count(self, model):
        with pytest.raises(ValueError, match="features"):
            model.fit(np.zeros((4, 6), np.float32), np.zeros(4, int), verbose=0)

    def test_nan_input(self, model):
        X = np.zeros((4, 5), np.float32)
        X[2, 1] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            model.fit(X, np.zeros(4, int), verbose=0)

    def test_inf_input_names_the_position(self, model):
        X = np.zeros((40000, 5), np.float32)
        X[39999, 4] = -np.inf
        with pytest.raises(ValueError, match="row 39999, column 4"):
            model.fit(X, np.zeros(40000, int), verbose=0)

    def test_label_out_of_range(self, model):
        with pytest.raises(ValueError, match="out of range"):
            model.fit(np.zeros((4, 5), np.float32), np.array([0, 1, 3, 0]), verbose=0)

    def test_labels_count(self, model):
        with pytest.raises(ValueError, match="samples"):
            model.fit(np.zeros((4, 5), np.float32), np.array([0, 1, 2]), verbose=0)

    def test_empty(self, model):
        with pytest.raises(ValueError, match="no samples"):
            model.fit(np.zeros((0, 5), np.float32), np.zeros(0, int), verbose=0)

    @pytest.mark.parametrize("bs", [0, -1, 2.5, True])
    def test_batch_size(self, model, bs):
        with pytest.raises(ValueError, match="batch_size"):
            model.fit(np.zeros((4, 5), np.float32), np.zeros(4, int), batch_size=bs, verbose=0)

    def test_non_numeric(self, model):
        with pytest.raises(TypeError):
            model.fit(np.array([["a"] * 5] * 4), np.zeros(4, int), verbose=0)

    def test_float_labels_for_regression_shape(self):
        m = make_net([("relu", {})])
        m.compile(loss="mse")
        with pytest.raises(ValueError, match="shape"):
            m.fit(np.zeros((4, 5), np.float32), np.zeros((4, 2), np.float32), verbose=0)

    def test_not_compiled(self):
        with pytest.raises(RuntimeError, match="compile"):
            make_net([("relu", {})]).fit(np.zeros((4, 5), np.float32), np.zeros(4, int))

    def test_unknown_names(self):
        with pytest.raises(ValueError, match="unknown loss"):
            make_net([("relu", {})]).compile(loss="nope")
        with pytest.raises(ValueError, match="unknown optimizer"):
            make_net([("relu", {})]).compile(optimizer="nope")
        with pytest.raises(ValueError, match="unknown activation"):
            fnn.Sequential([fnn.Linear(3, 4, activation="swishy")])

    def test_width_mismatch(self):
        with pytest.raises(ValueError, match="in_features"):
            fnn.Sequential([fnn.Linear(3, 4), fnn.Linear(5, 2)])

    def test_prelu_width(self):
        with pytest.raises(ValueError, match="num_parameters"):
            fnn.Sequential([fnn.Linear(3, 4), fnn.PReLU(3), fnn.Linear(4, 2)])

    def test_diverging_training_names_the_batch(self, rng):
        m = make_net([("relu", {})])
        m.compile(loss="mse", optimizer=fnn.optim.SGD(lr=1e6))
        X = rng.standard_normal((64, 5)).astype(np.float32) * 100
        with pytest.raises(FloatingPointError, match="epoch 1.*batch"):
            m.fit(X, rng.standard_normal((64, 3)).astype(np.float32), batch_size=4, epochs=3, verbose=0)


@pytest.mark.parametrize("act", ACTS + [("prelu", {"num_parameters": 4}), ("rrelu", {})], ids=lambda a: a[0])
def test_layers_run_standalone_on_the_same_kernels(act, rng):
    """layer.forward / layer.backward from Python (custom loops) agree with the float64 reference."""
    lin = fnn.Linear(6, 4)
    lin.build(6)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    h = lin.forward(x)
    np.testing.assert_allclose(h, x.astype(np.float64) @ lin.weight.T + lin.bias, rtol=1e-5, atol=1e-6)
    layer = _layer(*act)
    y = layer.forward(h)
    kw = _ref_params(layer)
    if act[0] == "prelu":
        kw["slope"] = layer.weight.astype(np.float64)
    np.testing.assert_allclose(y, ref.act_forward(layer.name, h.astype(np.float64), **kw), rtol=1e-5, atol=1e-6)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dh = layer.backward(dy)
    want = ref.act_backward(layer.name, h.astype(np.float64), dy.astype(np.float64), **kw)
    np.testing.assert_allclose(dh, want, rtol=1e-4, atol=1e-6)
    dx = lin.backward(dh)
    np.testing.assert_allclose(dx, dh.astype(np.float64) @ lin.weight, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lin.gradients()[0], dh.astype(np.float64).T @ x, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lin.gradients()[1], dh.sum(0), rtol=1e-5, atol=1e-6)


def test_predict_is_safe_from_several_python_threads(rng):
    import threading

    model = fnn.Sequential([fnn.Linear(50, 200, activation="tanh"), fnn.Linear(200, 10)], seed=0)
    model.compile(loss="cross_entropy")
    X = rng.standard_normal((3000, 50)).astype(np.float32)
    want = model.predict(X)
    results, errors = [None] * 6, []

    def work(i):
        try:
            for _ in range(5):
                results[i] = model.predict(X, batch_size=100 + i)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results:
        np.testing.assert_allclose(r, want, rtol=1e-6, atol=1e-7)
