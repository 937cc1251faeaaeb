"""Ensembles: the weighted mean of the members' predictions, losses of the averaged prediction against numpy,
bagging on digits, one-file save/load, and errors."""
import numpy as np
import pytest

import fastnn as fnn
from fastnn.ensemble import Ensemble


@pytest.fixture(autouse=True)
def one_thread(threads):
    threads(1)


def _mlp(in_dim=4, out=3, loss="cross_entropy", seed=0, hidden=8):
    m = fnn.Sequential([fnn.Linear(in_dim, hidden, activation="tanh"), fnn.Linear(hidden, out)], seed=seed)
    return m.compile(loss=loss) if loss is not None else m


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4)).astype(np.float32)
    return X, rng.integers(0, 3, size=50)


def test_classification_average_is_the_mean_of_member_probabilities(data):
    X, y = data
    members = [_mlp(seed=s) for s in range(3)]
    w = np.array([1.0, 2.0, 5.0])
    ens = Ensemble(members, weights=w)
    probs = [_softmax(m.forward(X).astype(np.float64)) for m in members]
    want = sum(wk / w.sum() * p for wk, p in zip(w, probs))
    np.testing.assert_allclose(ens.predict(X), want, atol=1e-6)
    np.testing.assert_array_equal(ens.predict_classes(X), want.argmax(axis=1))
    np.testing.assert_allclose(ens.member_predictions(X), np.stack(probs), atol=1e-6)
    np.testing.assert_allclose(Ensemble(members).predict(X), np.mean(probs, axis=0), atol=1e-6)
    # loss and accuracy of the averaged probabilities, integer labels and one-hot rows alike
    res = ens.evaluate(X, y, metrics=["f1"])
    assert res["loss"] == pytest.approx(-np.mean(np.log(want[np.arange(len(y)), y])), rel=1e-6)
    assert res["accuracy"] == pytest.approx(np.mean(want.argmax(axis=1) == y))
    assert 0.0 <= res["f1"] <= 1.0
    onehot = np.eye(3, dtype=np.float32)[y]
    assert ens.evaluate(X, onehot)["loss"] == pytest.approx(res["loss"], rel=1e-6)


def test_cross_entropy_of_the_average_stays_finite_where_a_probability_underflows():
    X = np.ones((1, 4), np.float32)
    a, b = _mlp(seed=0), _mlp(seed=1)
    for m, cls, other in ((a, 0, -200.0), (b, 1, -100.0)):
        m.params[...] = 0.0
        m.layers[-1].bias[...] = other
        m.layers[-1].bias[cls] = 200.0            # certain of its class: the others' float32 softmax is 0
    ens = Ensemble([a, b])
    np.testing.assert_array_equal(ens.predict(X)[0], [0.5, 0.5, 0.0])
    # log p(class 2) = log(0.5 e^-400 + 0.5 e^-300) = -300 - log 2 (to double precision)
    loss = ens.evaluate(X, [2])["loss"]
    assert loss == pytest.approx(300.0 + np.log(2.0), rel=1e-12)


def test_binary_and_regression_averages(data):
    X, y = data
    yb = (y > 0).astype(np.float32)
    members = [_mlp(out=1, loss="bce_logits", seed=s) for s in range(3)]
    ens = Ensemble(members)
    p = np.mean([1 / (1 + np.exp(-m.forward(X).astype(np.float64))) for m in members], axis=0)
    np.testing.assert_allclose(ens.predict(X), p, atol=1e-6)
    np.testing.assert_array_equal(ens.predict_classes(X), (p[:, 0] > 0.5).astype(np.int64))
    res = ens.evaluate(X, yb)
    want = -np.mean(yb[:, None] * np.log(p) + (1 - yb[:, None]) * np.log(1 - p))
    assert res["loss"] == pytest.approx(want, rel=1e-6)
    assert res["accuracy"] == pytest.approx(np.mean((p[:, 0] > 0.5) == (yb > 0.5)))

    t = np.random.default_rng(1).normal(size=(50, 2)).astype(np.float32)
    for loss, fn in (("mse", lambda r: r * r), ("mae", np.abs),
                     (fnn.HuberLoss(0.5), lambda r: np.where(np.abs(r) < 0.5, 0.5 * r * r, 0.5 * (np.abs(r) - 0.25)))):
        members = [_mlp(out=2, loss=loss, seed=s) for s in range(4)]
        ens = Ensemble(members, weights=[0, 1, 1, 2])
        out = (members[1].forward(X) + members[2].forward(X) + 2 * members[3].forward(X)).astype(np.float64) / 4
        np.testing.assert_allclose(ens.predict(X), out, atol=1e-6)
        assert ens.evaluate(X, t)["loss"] == pytest.approx(np.mean(fn(out - t)), rel=1e-5)
        assert "accuracy" not in ens.evaluate(X, t)


def test_bagged_digits_ensemble_beats_its_members():
    (X, y), (Xt, yt) = fnn.datasets.digits()

    def build(seed):
        m = fnn.Sequential([fnn.Linear(64, 32, activation="relu"), fnn.Linear(32, 10)], seed=seed)
        return m.compile(loss="cross_entropy", optimizer=fnn.optim.SGD(lr=0.05, momentum=0.9))

    ens = Ensemble.train(build, X, y, n_members=5, bootstrap=True, seed=0, epochs=5, batch_size=32)
    assert len(ens) == 5 and [m.seed for m in ens.members] == [0, 1, 2, 3, 4]
    assert len(ens.bootstrap_indices) == 5 and all(len(i) == len(X) for i in ens.bootstrap_indices)
    assert len(np.unique(ens.bootstrap_indices[0])) < 0.7 * len(X)       # drawn with replacement
    scores = ens.member_scores(Xt, yt)
    accs = np.array([s["accuracy"] for s in scores])
    res = ens.evaluate(Xt, yt)
    # measured: members 0.922-0.938 (mean 0.932), ensemble 0.947
    assert res["accuracy"] >= accs.mean() + 3 / len(yt)
    assert res["accuracy"] >= accs.max()
    assert res["loss"] < np.mean([s["loss"] for s in scores])
    # same seed, same ensemble
    again = Ensemble.train(build, X, y, n_members=5, bootstrap=True, seed=0, epochs=5, batch_size=32)
    np.testing.assert_array_equal(again.predict(Xt), ens.predict(Xt))


def test_train_with_a_solver():
    X = np.linspace(-3, 3, 60, dtype=np.float32)[:, None]
    y = np.sin(X)

    def build(seed):
        return fnn.Sequential([fnn.Linear(1, 8, activation="tanh"), fnn.Linear(8, 1)], seed=seed).compile(loss="mse")

    ens = Ensemble.train(build, X, y, n_members=3, method="lm", max_iter=20)
    assert ens.bootstrap_indices is None
    assert ens.evaluate(X, y)["loss"] < 1e-3


def test_save_load_round_trip(tmp_path, data):
    X, y = data
    members = [_mlp(seed=s) for s in range(3)]
    members[1].compile(loss="cross_entropy", optimizer=fnn.optim.Adam(lr=1e-3))
    members[2].fit(X, y, epochs=2, verbose=0)
    ens = Ensemble(members, weights=[0.2, 0.3, 0.5])
    path = tmp_path / "ens.npz"
    ens.save(path)
    back = fnn.ensemble.load(path)
    assert isinstance(back, Ensemble) and len(back) == 3
    np.testing.assert_allclose(back.weights, ens.weights)
    np.testing.assert_array_equal(back.predict(X), ens.predict(X))
    assert back.evaluate(X, y) == ens.evaluate(X, y)
    assert type(back.members[1].optimizer).__name__ == "Adam"
    for a, b in zip(back.members, members):
        np.testing.assert_array_equal(a.params, b.params)
    assert [p.name for p in tmp_path.iterdir()] == ["ens.npz"]          # no temporary files left behind
    assert Ensemble.load(path).predict(X).shape == (50, 3)


def test_load_rejects_other_files(tmp_path, data):
    X, _ = data
    model_file = tmp_path / "model.npz"
    _mlp().save(model_file)
    with pytest.raises(ValueError, match="not a fastnn ensemble file"):
        fnn.ensemble.load(model_file)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="not a fastnn ensemble file"):
        fnn.ensemble.load(junk)
    # a member removed from a valid file
    good = tmp_path / "good.npz"
    Ensemble([_mlp(seed=0), _mlp(seed=1)]).save(good)
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files if k != "member_1"}
    cut = tmp_path / "cut.npz"
    np.savez(cut, **arrays)
    with pytest.raises(ValueError, match="missing \\['member_1'\\]"):
        fnn.ensemble.load(cut)
    # a member that is not a model file
    arrays["member_1"] = np.frombuffer(b"PK garbage", dtype=np.uint8)
    np.savez(cut, **arrays)
    with pytest.raises(ValueError, match="member 1"):
        fnn.ensemble.load(cut)
    with pytest.raises(FileNotFoundError):
        fnn.ensemble.load(tmp_path / "absent.npz")


def test_errors(data):
    X, _ = data
    with pytest.raises(ValueError, match="at least one member"):
        Ensemble([])
    with pytest.raises(ValueError, match="member 1 takes inputs of shape \\(5,\\), member 0 \\(4,\\)"):
        Ensemble([_mlp(4), _mlp(5)])
    with pytest.raises(ValueError, match="member 1 has 2 outputs, member 0 has 3"):
        Ensemble([_mlp(out=3), _mlp(out=2)])
    with pytest.raises(ValueError, match="share the loss"):
        Ensemble([_mlp(out=3), _mlp(out=3, loss="mse")])
    with pytest.raises(TypeError, match="member 1 is a str"):
        Ensemble([_mlp(), "model"])
    m = _mlp()
    with pytest.raises(ValueError, match="appears twice"):
        Ensemble([m, m])
    with pytest.raises(ValueError, match="one value per member"):
        Ensemble([_mlp(seed=0), _mlp(seed=1)], weights=[1.0])
    with pytest.raises(ValueError, match=">= 0"):
        Ensemble([_mlp(seed=0), _mlp(seed=1)], weights=[1.0, -1.0])
    ens = Ensemble([_mlp(seed=0), _mlp(seed=1)])
    with pytest.raises(ValueError, match="features"):
        ens.predict(np.ones((3, 5), np.float32))
    with pytest.raises(RuntimeError, match="not compiled"):
        Ensemble([_mlp(loss=None, seed=0), _mlp(loss=None, seed=1)]).evaluate(X, np.zeros(50))
    with pytest.raises(TypeError, match="build"):
        Ensemble.train("not callable", X, np.zeros(50))
    with pytest.raises(ValueError, match="n_members"):
        Ensemble.train(lambda s: _mlp(seed=s), X, np.zeros(50, int), n_members=0)
    with pytest.raises(ValueError, match="same number"):
        Ensemble.train(lambda s: _mlp(seed=s), X, np.zeros(49, int))
    with pytest.raises(TypeError, match="save: expected an Ensemble"):
        fnn.ensemble.save(_mlp(), "x.npz")
