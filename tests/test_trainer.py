"""fit / evaluate / partial_fit: validation, weights, metrics, progress output, schedules, chunking, NaN."""
import io

import numpy as np
import pytest

import fastnn as fnn
from fastnn import callbacks as C
from fastnn import metrics as M


def blobs(rng, n=240, d=6, k=3):
    y = np.arange(n) % k
    centers = rng.standard_normal((k, d)) * 3
    X = (centers[y] + rng.standard_normal((n, d))).astype(np.float32)
    return X, y


def net(d=6, k=3, seed=0, dropout=0.0, lr=0.05, momentum=0.9):
    layers = [fnn.Linear(d, 16, activation="relu")]
    if dropout:
        layers.append(fnn.Dropout(dropout))
    layers.append(fnn.Linear(16, k))
    m = fnn.Sequential(layers, seed=seed)
    m.compile("cross_entropy", fnn.optim.SGD(lr=lr, momentum=momentum))
    return m


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


class FakeSchedule:
    """The lr_schedule contract: per-batch multipliers, state, finished flag."""

    def __init__(self, stop_after=None):
        self.epochs_seen = 0
        self.current_scale = 1.0
        self.stop_after = stop_after
        self.calls = []

    def scales(self, epoch, n_batches):
        self.calls.append((epoch, n_batches))
        s = (1.0 / (1 + epoch + np.arange(n_batches) / n_batches)).astype(np.float32)
        self.current_scale = float(s[-1])
        return s

    def on_epoch_end(self, epoch, logs):
        self.epochs_seen += 1

    @property
    def finished(self):
        return self.stop_after is not None and self.epochs_seen >= self.stop_after

    def state_dict(self):
        return {"epochs_seen": self.epochs_seen, "current_scale": self.current_scale}

    def load_state_dict(self, d):
        self.epochs_seen, self.current_scale = d["epochs_seen"], d["current_scale"]


def test_chunked_training_is_bitwise_identical(rng):
    X, y = blobs(rng)
    a, b = net(dropout=0.2), net(dropout=0.2)
    a.fit(X, y, epochs=3, batch_size=7, verbose=0)
    seen = []
    b.fit(X, y, epochs=3, batch_size=7, verbose=1, file=FakeTTY(), progress_interval=1e-9,
          callbacks=[C.LambdaCallback(on_batch_end=lambda b_, logs: seen.append(b_), batch_stride=5)])
    assert np.array_equal(a.params, b.params)
    assert a.optimizer.step_count == b.optimizer.step_count == 3 * 35
    assert seen[:7] == [4, 9, 14, 19, 24, 29, 34]


def test_kept_workspace_gives_the_same_training(rng):
    # the plan keeps its training workspace between fit calls and lays it out again when the batch size
    # changes: the same weights as with a fresh workspace for every call
    X, y = blobs(rng)
    a, b = net(dropout=0.2), net(dropout=0.2)
    for bs in (7, 16, 16, 240, 7):
        a.fit(X, y, epochs=1, batch_size=bs, verbose=0)
        b._plan.release_workspace()
        b.fit(X, y, epochs=1, batch_size=bs, verbose=0)
        assert np.array_equal(a.params, b.params), bs
    X = rng.standard_normal((60, 3, 9, 9)).astype(np.float32)     # and a conv net with its kernels' scratch
    y = rng.integers(0, 3, 60)

    def cnn():
        m = fnn.Sequential([fnn.Conv2d(3, 16, 3, padding=1), fnn.BatchNorm2d(16), fnn.ReLU(), fnn.MaxPool2d(2),
                            fnn.Conv2d(16, 16, 3, stride=2), fnn.Flatten(), fnn.Linear(16, 3)],
                           input_shape=(3, 9, 9), seed=1)
        return m.compile("cross_entropy", fnn.optim.SGD(lr=0.05, momentum=0.9))

    a, b = cnn(), cnn()
    for bs in (8, 60, 8):
        a.fit(X, y, epochs=1, batch_size=bs, verbose=0)
        b._plan.release_workspace()
        b.fit(X, y, epochs=1, batch_size=bs, verbose=0)
        assert np.array_equal(a.params, b.params), bs


def test_progress_formats(rng):
    X, y = blobs(rng)
    tty = FakeTTY()
    net().fit(X, y, epochs=2, batch_size=8, verbose=1, file=tty, progress_interval=1e-9)
    out = tty.getvalue()
    assert out.count("\n") == 2 and out.count("\r") > 10
    assert "samples/s" in out and "ETA" in out and "30/30" in out
    last = out.rstrip("\n").split("\n")[-1].split("\r")[-1]
    assert last.startswith("epoch 2/2 - loss") and "ETA" not in last
    plain = io.StringIO()    # not a terminal: one line per epoch, no carriage returns
    net().fit(X, y, epochs=2, batch_size=8, verbose=1, file=plain)
    assert "\r" not in plain.getvalue() and plain.getvalue().count("\n") == 2
    v2 = FakeTTY()
    net().fit(X, y, epochs=2, batch_size=8, verbose=2, file=v2)
    assert "\r" not in v2.getvalue() and v2.getvalue().count("epoch ") == 2
    silent = FakeTTY()
    net().fit(X, y, epochs=2, batch_size=8, verbose=0, file=silent)
    assert silent.getvalue() == ""


def test_validation_split_is_stratified_and_seeded(rng):
    X, y = blobs(rng, n=300, k=3)
    y = np.where(np.arange(300) < 240, 0, np.where(np.arange(300) < 285, 1, 2))   # 240 / 45 / 15
    captured = []

    class Grab(C.Callback):
        def on_train_begin(self, logs=None):
            captured.append(self.params["n_samples"])

    m = net()
    h = m.fit(X, y, epochs=1, validation_split=0.2, verbose=0, callbacks=[Grab()])
    assert captured == [240]
    from fastnn.trainer import _split
    tr, va = _split(300, y, 0.2, 0)
    assert np.bincount(y[va]).tolist() == [48, 9, 3]
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == 300
    tr2, va2 = _split(300, y, 0.2, 0)
    assert np.array_equal(va, va2)
    assert not np.array_equal(va, _split(300, y, 0.2, 1)[1])
    assert "val_loss" in h.history and "val_accuracy" in h.history
    with pytest.raises(ValueError, match="not both"):
        m.fit(X, y, validation_split=0.2, validation_data=(X, y), verbose=0)


def test_interleave_classes_balances_batches(rng):
    X, y = blobs(rng, n=300, k=3)
    from fastnn.trainer import _interleaved_order
    order = _interleaved_order(y.astype(np.int32), 0, 0)
    assert np.array_equal(np.sort(order), np.arange(300))
    for b in range(0, 300, 30):
        assert np.bincount(y[order[b:b + 30]], minlength=3).min() >= 9
    assert not np.array_equal(order, _interleaved_order(y.astype(np.int32), 0, 1))
    m = net()
    h = m.fit(X, y, epochs=2, batch_size=30, shuffle="interleave-classes", verbose=0)
    assert len(h.history["loss"]) == 2
    reg = fnn.Sequential([fnn.Linear(6, 1)])
    reg.compile("mse", "sgd")
    with pytest.raises(ValueError, match="interleave"):
        reg.fit(X, rng.standard_normal(300), shuffle="interleave-classes", verbose=0)


def test_class_weight_gradient_matches_formula(rng):
    X, y = blobs(rng, n=40)
    cw = {0: 2.0, 1: 0.5, 2: 1.0}
    sw = rng.uniform(0.5, 2.0, 40)
    w = np.array([cw[c] for c in y]) * sw
    base = net(momentum=0.0, lr=0.1)
    m = net(momentum=0.0, lr=0.1)
    p0 = m.params.copy()
    m.fit(X, y, epochs=1, batch_size=40, shuffle=False, class_weight=cw, sample_weight=sw, verbose=0)
    # reference: the weighted mean of per-sample gradients, sum(w_i g_i) / B, one SGD step
    g = np.zeros_like(p0, dtype=np.float64)
    for i in range(40):
        base.params[...] = p0
        base._plan.loss_grad(X[i:i + 1], None, y[i:i + 1].astype(np.int32), False, 0, 1)
        g += w[i] * base.grads
    np.testing.assert_allclose(m.params, p0 - 0.1 * g / 40, rtol=1e-5, atol=1e-6)
    # uniform weights change nothing but rounding
    u, v = net(), net()
    u.fit(X, y, epochs=2, batch_size=8, verbose=0)
    v.fit(X, y, epochs=2, batch_size=8, verbose=0, sample_weight=np.ones(40))
    np.testing.assert_allclose(u.params, v.params, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss", ["mse", "mae", "huber", "bce_logits"])
def test_sample_weights_scale_each_rows_loss_and_gradient(loss, rng):
    """For every loss: one SGD step (lr 1, one batch) moves W by the weighted formula's gradient and the logged
    loss is sum_i w_i l_i / N (l_i: the row's own mean loss)."""
    N, D = 12, 2
    X = rng.standard_normal((N, 3)).astype(np.float32)
    t = (rng.uniform(0, 1, (N, D)) if loss == "bce_logits" else rng.standard_normal((N, D))).astype(np.float32)
    w = rng.uniform(0, 2, N)
    m = fnn.Sequential([fnn.Linear(3, D, bias=False)], seed=0)
    m.compile(loss, fnn.optim.SGD(lr=1.0))
    W0 = m.layers[0].weight.astype(np.float64).copy()
    p = X.astype(np.float64) @ W0.T
    r = p - t
    if loss == "mse":
        el, g = r ** 2, 2 * r
    elif loss == "mae":
        el, g = np.abs(r), np.sign(r)
    elif loss == "huber":
        el = np.where(np.abs(r) < 1, 0.5 * r ** 2, np.abs(r) - 0.5)
        g = np.clip(r, -1, 1)
    else:
        el = np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p)))
        g = 1 / (1 + np.exp(-p)) - t
    want_loss = np.sum(w * el.mean(axis=1)) / N
    grad = (w[:, None] * g / (N * D)).T @ X
    h = m.fit(X, t, epochs=1, batch_size=N, shuffle=False, verbose=0, sample_weight=w)
    assert h.history["loss"][0] == pytest.approx(want_loss, rel=1e-5)
    np.testing.assert_allclose(W0 - m.layers[0].weight, grad, rtol=1e-4, atol=1e-6)
    assert m.evaluate(X, t, sample_weight=w)["loss"] == pytest.approx(
        fnn.trainer.evaluate(m, X, t, sample_weight=w)["loss"])


def test_bad_weights_raise(rng):
    X = rng.standard_normal((10, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=">= 0"):
        net(d=3).fit(X, np.zeros(10, int), sample_weight=-np.ones(10), verbose=0)
    with pytest.raises(ValueError, match="shape"):
        net(d=3).fit(X, np.zeros(10, int), sample_weight=np.ones(9), verbose=0)


def test_metrics_in_logs_and_evaluate(rng):
    X, y = blobs(rng)
    m = net()
    h = m.fit(X, y, epochs=2, validation_data=(X, y), metrics=["accuracy", "f1", "precision", "recall",
                                                              "top_k_accuracy", M.TopKAccuracy(2, "top2")],
              verbose=0)
    for k in ("val_f1", "val_precision", "val_recall", "val_top_k_accuracy", "val_top2", "accuracy"):
        assert len(h.history[k]) == 2
    assert "f1" not in h.history          # training metrics beyond loss/accuracy are opt-in
    h2 = m.fit(X, y, epochs=1, metrics=["f1"], train_metrics=True, verbose=0)
    assert "f1" in h2.history
    ev = m.evaluate(X, y, metrics=["f1", lambda t, p: 0.5])
    assert ev["<lambda>"] == 0.5 and 0 <= ev["f1"] <= 1
    assert h.history["val_top_k_accuracy"][-1] == 1.0     # k=5 > 3 classes


def test_metric_functions_against_sklearn(rng):
    skm = pytest.importorskip("sklearn.metrics")
    t = rng.integers(0, 4, 200)
    p = rng.random((200, 4))
    p[:, 3] = 0   # class 3 never predicted: zero_division handling
    pred = p.argmax(1)
    assert M.accuracy(t, p) == pytest.approx(skm.accuracy_score(t, pred))
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        assert getattr(M, name)(t, p, task="multiclass") == pytest.approx(
            fn(t, pred, average="macro", zero_division=0))
    assert M.top_k_accuracy(t, p, k=2) == pytest.approx(skm.top_k_accuracy_score(t, p, k=2, labels=range(4)))
    yt, yp = rng.standard_normal((50, 2)), rng.standard_normal((50, 2))
    assert M.r2(yt, yp) == pytest.approx(skm.r2_score(yt, yp))
    assert M.mse(yt, yp) == pytest.approx(skm.mean_squared_error(yt, yp))
    assert M.mae(yt, yp) == pytest.approx(skm.mean_absolute_error(yt, yp))
    assert M.r2(np.ones(5), np.ones(5)) == 1.0
    with pytest.raises(ValueError, match="unknown metric"):
        M.get("nope")


def test_lr_schedule_contract(rng):
    X, y = blobs(rng)
    a = net()
    s = FakeSchedule(stop_after=3)
    h = a.fit(X, y, epochs=10, batch_size=16, lr_schedule=s, verbose=0)
    assert len(h.epoch) == 3 and s.calls == [(0, 15), (1, 15), (2, 15)]
    assert h.history["lr"][0] == pytest.approx(0.05 / (1 + 14 / 15))
    # equal to feeding the same per-batch multipliers as separate one-epoch runs: the schedule is applied
    ref = net()
    ref.fit(X, y, epochs=3, batch_size=16, verbose=0)
    assert not np.array_equal(ref.params, a.params)


def test_nan_error_names_epoch_and_batch_and_terminate_on_nan(rng):
    X, y = blobs(rng)
    X[100] = 1e30
    m = net(lr=1.0)
    with pytest.raises(FloatingPointError, match=r"epoch 1: .*batch \d+") as err:
        m.fit(X, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    import re
    bad = int(re.search(r"batch (\d+)", str(err.value)).group(1))
    assert 12 <= bad < 30      # row 100 lies in batch 12
    m = net(lr=1.0)
    h = m.fit(X, y, epochs=5, batch_size=8, shuffle=False, verbose=0, callbacks=[C.TerminateOnNaN()])
    assert len(h.epoch) == 1 and np.isnan(h.history["loss"][0])
    assert m.optimizer.step_count == bad     # the batches before the bad one were applied


def test_partial_fit_continues_counters(rng):
    X, y = blobs(rng)
    a, b = net(dropout=0.3), net(dropout=0.3)
    a.fit(X, y, epochs=2, batch_size=10, verbose=0)
    logs = [b.partial_fit(X, y, batch_size=10) for _ in range(2)]
    assert np.array_equal(a.params, b.params) and b.epochs_trained == 2
    assert set(logs[0]) >= {"loss", "accuracy"}


def test_initial_epoch_and_stop_training(rng):
    X, y = blobs(rng)
    m = net()
    h = m.fit(X, y, epochs=5, initial_epoch=3, verbose=0)
    assert h.epoch == [3, 4] and m.epochs_trained == 5

    class Stop(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    h = net().fit(X, y, epochs=10, callbacks=[Stop()], verbose=0)
    assert h.epoch == [0, 1]
