"""Callbacks driven with scripted metric sequences, and inside fit."""
import csv

import numpy as np
import pytest

import fastnn as fnn
from fastnn import callbacks as C


class FakeModel:
    def __init__(self, groups=(0.1,)):
        self.params = np.zeros(4, np.float32)
        self.stop_training = False
        self.optimizer = fnn.optim.SGD(lr=groups[0])
        self.optimizer.param_groups = [{"lr": g} for g in groups]


def drive(cb, values, key="val_loss", model=None, weights=True):
    """Run cb over epochs with logs {key: v}; params hold the epoch index.  Returns the stopping epoch."""
    model = model or FakeModel()
    cb.set_model(model)
    cb.on_train_begin()
    stopped = None
    for e, v in enumerate(values):
        if weights:
            model.params[...] = e
        cb.on_epoch_begin(e)
        cb.on_epoch_end(e, {key: v})
        if model.stop_training:
            stopped = e
            break
    cb.on_train_end()
    return stopped, model


def test_early_stopping_patience_and_min_delta():
    assert drive(C.EarlyStopping(patience=2), [1.0, 0.9, 0.95, 0.93, 0.8])[0] == 3
    assert drive(C.EarlyStopping(patience=0), [1.0, 1.1])[0] == 1
    # improvements smaller than min_delta do not count
    assert drive(C.EarlyStopping(patience=1, min_delta=0.05), [1.0, 0.98, 0.97])[0] == 1
    assert drive(C.EarlyStopping(patience=1, min_delta=0.05), [1.0, 0.9, 0.8, 0.7])[0] is None
    # mode max (auto from the name)
    assert drive(C.EarlyStopping(monitor="val_accuracy", patience=1), [0.5, 0.6, 0.55, 0.58],
                 key="val_accuracy")[0] == 2


def test_early_stopping_baseline_and_start_from_epoch():
    # wait is only reset by an improvement that also beats the baseline (Keras 3)
    assert drive(C.EarlyStopping(patience=2, baseline=0.5), [1.0, 0.9, 0.95, 0.96])[0] == 2
    assert drive(C.EarlyStopping(patience=2), [1.0, 0.9, 0.95, 0.96])[0] == 3
    assert drive(C.EarlyStopping(patience=2, baseline=0.5), [0.4, 0.3, 0.2, 0.1])[0] is None
    # epochs before start_from_epoch are ignored
    assert drive(C.EarlyStopping(patience=1, start_from_epoch=3), [1, 2, 3, 4, 5, 6])[0] == 4


def test_early_stopping_restore_best_weights():
    stopped, m = drive(C.EarlyStopping(patience=2, restore_best_weights=True), [1.0, 0.5, 0.7, 0.9, 0.3])
    assert stopped == 3 and np.all(m.params == 1)   # the weights of epoch 1 (the best) are back
    _, m = drive(C.EarlyStopping(patience=5, restore_best_weights=True), [1.0, 0.5, 0.7])
    assert np.all(m.params == 1)                   # also when training ran to its end (Keras 3)


def test_early_stopping_restores_best_in_fit(rng):
    X = rng.standard_normal((120, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    m = fnn.Sequential([fnn.Linear(4, 8, activation="relu"), fnn.Linear(8, 2)], seed=0)
    m.compile("cross_entropy", fnn.optim.SGD(lr=0.5, momentum=0.9))
    snaps = {}
    rec = C.LambdaCallback(on_epoch_end=lambda e, logs: snaps.__setitem__(e, (logs["val_loss"], m.params.copy())))
    es = C.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    m.fit(X, y, epochs=15, batch_size=16, validation_data=(X[:40], y[:40]), callbacks=[rec, es], verbose=0)
    best = min(snaps, key=lambda e: snaps[e][0])
    assert np.array_equal(m.params, snaps[best][1])
    assert m.evaluate(X[:40], y[:40])["loss"] == pytest.approx(snaps[best][0])


def test_reduce_lr_on_plateau():
    cb = C.ReduceLROnPlateau(patience=2, factor=0.5, min_lr=0.02, cooldown=1)
    _, m = drive(cb, [1.0, 1.0, 1.0], model=FakeModel((0.1, 0.04)))
    assert [g["lr"] for g in m.optimizer.param_groups] == [0.05, 0.02]   # floored at min_lr
    m = FakeModel((0.1,))
    cb = C.ReduceLROnPlateau(patience=1, factor=0.5, cooldown=2, min_delta=0.0)
    lrs = []
    cb.set_model(m)
    cb.on_train_begin()
    for e, v in enumerate([1.0, 1.0, 1.0, 1.0, 1.0, 0.5]):
        cb.on_epoch_end(e, {"val_loss": v})
        lrs.append(m.optimizer.param_groups[0]["lr"])
    # reduce at epoch 1, cooldown (2), reduce again at 3, cooldown (4), improvement at 5 (Keras's counting)
    assert lrs == [0.1, 0.05, 0.05, 0.025, 0.025, 0.025]


def test_learning_rate_scheduler_keeps_group_ratios():
    m = FakeModel((0.1, 0.01))
    cb = C.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr)
    cb.set_model(m)
    for e in range(3):
        cb.on_epoch_begin(e)
    assert m.optimizer.param_groups[0]["lr"] == pytest.approx(0.025)
    assert m.optimizer.param_groups[1]["lr"] == pytest.approx(0.0025)
    with pytest.raises(ValueError, match="finite number > 0"):
        bad = C.LearningRateScheduler(lambda e, lr: -1.0)
        bad.set_model(m)
        bad.on_epoch_begin(0)


def test_learning_rate_scheduler_in_fit(rng):
    X = rng.standard_normal((64, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    m = fnn.Sequential([fnn.Linear(4, 2)], seed=0)
    m.compile("cross_entropy", fnn.optim.SGD(lr=0.1))
    h = m.fit(X, y, epochs=3, verbose=0, callbacks=[C.LearningRateScheduler(lambda e, lr: 0.1 / (e + 1))])
    assert h.history["lr"] == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_csv_logger(tmp_path):
    path = tmp_path / "log.csv"
    cb = C.CSVLogger(path)
    cb.on_train_begin()
    cb.on_epoch_end(0, {"loss": 1.0, "acc": 0.5})
    cb.on_epoch_end(1, {"loss": 0.5, "acc": 0.75})
    cb.on_train_end()
    cb = C.CSVLogger(path, append=True)
    cb.on_train_begin()
    cb.on_epoch_end(2, {"loss": 0.25, "acc": 0.875})
    cb.on_train_end()
    rows = list(csv.reader(open(path)))
    assert rows == [["epoch", "acc", "loss"], ["0", "0.5", "1.0"], ["1", "0.75", "0.5"], ["2", "0.875", "0.25"]]


def test_terminate_on_nan_scripted():
    assert drive(C.TerminateOnNaN(), [1.0, float("nan"), 0.5], key="loss")[0] == 1
    assert drive(C.TerminateOnNaN(), [1.0, float("inf")], key="loss")[0] == 1


def test_model_checkpoint_best_only_every_n_and_template(tmp_path, rng):
    X = rng.standard_normal((64, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    m = fnn.Sequential([fnn.Linear(4, 2)], seed=0)
    m.compile("cross_entropy", fnn.optim.SGD(lr=0.1))
    cb = C.ModelCheckpoint(str(tmp_path / "m-{epoch:02d}-{val_loss:.3f}.npz"), save_best_only=True,
                           save_weights_only=True)
    cb.set_model(m)
    for e, v in enumerate([1.0, 0.8, 0.9, 0.7]):
        cb.on_epoch_end(e, {"val_loss": v})
    assert [p.split("/")[-1] for p in cb.saved] == ["m-01-1.000.npz", "m-02-0.800.npz", "m-04-0.700.npz"]
    assert np.array_equal(fnn.load(cb.saved[-1]).params, m.params)
    every = C.ModelCheckpoint(str(tmp_path / "e{epoch}.npz"), every_n_epochs=2)
    m.fit(X, y, epochs=5, verbose=0, callbacks=[every])
    assert [p.split("/")[-1] for p in every.saved] == ["e2.npz", "e4.npz"]
    ck = fnn.load(every.saved[-1])
    assert ck.epochs_trained == 4
    with pytest.raises(ValueError, match="template"):
        bad = C.ModelCheckpoint(str(tmp_path / "{nope}.npz"))
        bad.set_model(m)
        bad.on_epoch_end(0, {"loss": 1.0})


def test_batch_stride_hooks_and_validation(rng):
    X = rng.standard_normal((100, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    m = fnn.Sequential([fnn.Linear(4, 2)], seed=0)
    m.compile("cross_entropy", fnn.optim.SGD(lr=0.1))
    got = []
    m.fit(X, y, epochs=2, batch_size=10, verbose=0,
          callbacks=[C.LambdaCallback(on_batch_end=lambda b, logs: got.append((b, round(logs["loss"], 9))),
                                      batch_stride=4)])
    assert [b for b, _ in got] == [3, 7, 3, 7]

    class Bad(C.Callback):
        batch_stride = -1

    with pytest.raises(ValueError, match="batch_stride"):
        m.fit(X, y, verbose=0, callbacks=[Bad()])
