"""Saving, loading, tamper rejection, bit-exact resume and atomic checkpoints under SIGKILL."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

import fastnn as fnn
from fastnn import callbacks as C
from fastnn import io as fio

sys.path.insert(0, os.path.dirname(__file__))
from test_trainer import FakeSchedule, blobs  # noqa: E402


def make(seed=0, **compile_kw):
    m = fnn.Sequential([fnn.Linear(6, 16, activation="relu"), fnn.Dropout(0.2), fnn.PReLU(16),
                        fnn.Linear(16, 3)], seed=seed)
    m.compile("cross_entropy", fnn.optim.SGD(lr=0.05, momentum=0.9, nesterov=True), **compile_kw)
    return m


def test_save_load_round_trip(tmp_path, rng):
    X, y = blobs(rng)
    m = make(clip_norm=1.0)
    m.fit(X, y, epochs=2, verbose=0)
    m.save(tmp_path / "m.npz")
    r = fnn.load(tmp_path / "m.npz")
    assert np.array_equal(r.params, m.params) and r.seed == m.seed and r.epochs_trained == 2
    assert [type(a) for a in r.layers] == [type(a) for a in m.layers]
    assert np.array_equal(r.forward(X), m.forward(X))
    assert r.clip_norm == 1.0 and r.optimizer.defaults == m.optimizer.defaults
    reg = fnn.Sequential([fnn.Linear(3, 2)], seed=4)
    reg.compile(fnn.HuberLoss(0.5), "sgd")
    fnn.save(reg, tmp_path / "h.npz")
    assert fnn.load(tmp_path / "h.npz").loss.delta == 0.5
    raw = fnn.Sequential([fnn.Linear(3, 2)])          # never compiled
    raw.save(tmp_path / "raw.npz")
    assert fnn.load(tmp_path / "raw.npz").loss is None


def test_no_pickle_in_files(tmp_path, rng):
    m = make()
    m.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        for k in z.files:
            assert not z[k].dtype.hasobject


def _rewrite(src, dst, change):
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    np.savez(dst, **arrays)


def _header(arrays):
    return json.loads(arrays["__fastnn__"].tobytes())


def _set_header(arrays, h):
    arrays["__fastnn__"] = np.frombuffer(json.dumps(h).encode(), np.uint8)


@pytest.mark.parametrize("case, message", [
    ("wrong_shape", "has shape"),
    ("missing", "missing array"),
    ("pickled", "pickled"),
    ("future", "newer"),
    ("unknown_layer", "unknown layer class"),
    ("extra_array", "unexpected arrays"),
    ("wrong_dtype", "dtype"),
    ("nan", "NaN"),
    ("no_header", "not a fastnn file"),
])
def test_load_rejects_tampered_files(tmp_path, case, message):
    src = tmp_path / "m.npz"
    make().save(src)
    dst = tmp_path / "bad.npz"

    def change(a):
        if case == "wrong_shape":
            a["params/0.weight"] = np.zeros((16, 5), np.float32)
        elif case == "missing":
            del a["params/4.bias"]
        elif case == "pickled":
            a["params/0.bias"] = np.array([{"evil": 1}] * 16, dtype=object)
        elif case == "future":
            h = _header(a)
            h["format_version"] = 99
            _set_header(a, h)
        elif case == "unknown_layer":
            h = _header(a)
            h["architecture"]["layers"][0]["class"] = "os.system"
            _set_header(a, h)
        elif case == "extra_array":
            a["something"] = np.zeros(3)
        elif case == "wrong_dtype":
            a["params/0.bias"] = a["params/0.bias"].astype(np.float64)
        elif case == "nan":
            a["params/0.bias"] = np.full(16, np.nan, np.float32)
        elif case == "no_header":
            del a["__fastnn__"]

    _rewrite(src, dst, change)
    with pytest.raises(ValueError, match=message):
        fnn.load(dst)


def test_load_rejects_random_truncated_and_corrupt_bytes(tmp_path, rng):
    src = tmp_path / "m.npz"
    make().save(src)
    data = src.read_bytes()
    (tmp_path / "rand.npz").write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="not a fastnn file"):
        fnn.load(tmp_path / "rand.npz")
    for cut in (10, len(data) // 2, len(data) - 10):
        (tmp_path / "cut.npz").write_bytes(data[:cut])
        with pytest.raises(ValueError, match="corrupt or truncated"):
            fnn.load(tmp_path / "cut.npz")
    flipped = bytearray(data)
    pos = data.index(b"params/0.weight.npy") + 400   # inside the weight data
    flipped[pos] ^= 0xFF
    (tmp_path / "flip.npz").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="corrupt"):
        fnn.load(tmp_path / "flip.npz")
    with zipfile.ZipFile(tmp_path / "foreign.npz", "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(ValueError, match="not a fastnn file"):
        fnn.load(tmp_path / "foreign.npz")
    np.save(tmp_path / "plain.npy", np.zeros(3))
    with pytest.raises(ValueError, match="not a fastnn file"):
        fnn.load(tmp_path / "plain.npy")


def test_huge_architecture_is_rejected_before_allocating(tmp_path):
    src = tmp_path / "m.npz"
    make().save(src)

    def change(a):
        h = _header(a)
        h["architecture"]["layers"][0]["config"]["out_features"] = 10 ** 8
        h["architecture"]["layers"][3]["config"]["num_parameters"] = 10 ** 8
        h["architecture"]["layers"][4]["config"]["in_features"] = 10 ** 8
        _set_header(a, h)

    _rewrite(src, tmp_path / "big.npz", change)
    with pytest.raises(ValueError, match="bytes, too few|has shape"):
        fnn.load(tmp_path / "big.npz")


def test_resume_is_bitwise_identical(tmp_path, rng):
    X, y = blobs(rng, n=200)
    Xv, yv = blobs(rng, n=60)
    kw = dict(batch_size=16, validation_data=(Xv, yv), verbose=0)

    def cbs(path):
        return [C.ReduceLROnPlateau(patience=1, factor=0.5),
                C.EarlyStopping(patience=100, restore_best_weights=True),
                C.ModelCheckpoint(path)]

    full = make()
    hf = full.fit(X, y, epochs=6, lr_schedule=FakeSchedule(), callbacks=cbs(tmp_path / "full.npz"), **kw)

    part = make()

    class Crash(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):   # dies after epoch 3's checkpoint is written
        part.fit(X, y, epochs=6, lr_schedule=FakeSchedule(),
                 callbacks=cbs(tmp_path / "ck.npz")[:2] + [Crash()] + cbs(tmp_path / "ck.npz")[2:], **kw)
    assert fnn.load(tmp_path / "ck.npz").epochs_trained == 2   # epoch 3 died before its checkpoint
    resumed = make()
    hr = resumed.fit(X, y, epochs=6, lr_schedule=FakeSchedule(), callbacks=cbs(tmp_path / "ck2.npz"),
                     resume_from=tmp_path / "ck.npz", **kw)
    assert np.array_equal(full.params, resumed.params)
    assert full.optimizer.step_count == resumed.optimizer.step_count
    assert np.array_equal(full.optimizer.state, resumed.optimizer.state)
    assert hr.epoch == hf.epoch == list(range(6))
    assert hr.history["loss"] == hf.history["loss"] and hr.history["lr"] == hf.history["lr"]
    # the checkpoint loads on its own as a compiled model with optimizer state and counters
    ck = fnn.load(tmp_path / "full.npz")
    assert ck.epochs_trained == 6 and ck.optimizer.step_count == full.optimizer.step_count
    model, info = fio.load_checkpoint(tmp_path / "full.npz")
    assert info["schedule"]["epochs_seen"] == 6 and len(info["history"].epoch) == 6


def test_resume_rejects_a_different_model(tmp_path, rng):
    X, y = blobs(rng, n=50)
    m = make()
    m.fit(X, y, epochs=1, verbose=0, callbacks=[C.ModelCheckpoint(tmp_path / "ck.npz")])
    with pytest.raises(ValueError, match="seed"):
        make(seed=1).fit(X, y, epochs=2, verbose=0, resume_from=tmp_path / "ck.npz")
    other = fnn.Sequential([fnn.Linear(6, 8, activation="relu"), fnn.Linear(8, 3)])
    other.compile("cross_entropy", "sgd")
    with pytest.raises(ValueError, match="architecture differs"):
        other.fit(X, y, epochs=2, verbose=0, resume_from=tmp_path / "ck.npz")
    m.save(tmp_path / "model.npz")
    with pytest.raises(ValueError, match="not a checkpoint"):
        make().fit(X, y, epochs=2, verbose=0, resume_from=tmp_path / "model.npz")


KILL_SCRIPT = textwrap.dedent("""
    import sys, hashlib
    import numpy as np
    import fastnn as fnn
    from fastnn import callbacks as C
    path = sys.argv[1]
    m = fnn.Sequential([fnn.Linear(64, 512, activation="relu"), fnn.Linear(512, 512, activation="relu"),
                        fnn.Linear(512, 10)], seed=0)
    m.compile("cross_entropy", fnn.optim.SGD(lr=0.01, momentum=0.9))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 64)).astype(np.float32)
    y = rng.integers(0, 10, 64)

    class Announce(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            pass

    class Report(C.ModelCheckpoint):
        def _commit(self, epoch, logs):
            super()._commit(epoch, logs)
            print(epoch + 1, hashlib.sha1(self.model.params.tobytes()).hexdigest(), flush=True)

    m.fit(X, y, epochs=100000, batch_size=64, verbose=0, callbacks=[Report(path)])
""")


def test_checkpoint_survives_sigkill(tmp_path):
    """SIGKILL a process that checkpoints every epoch at random moments: the file always loads and is the
    last announced checkpoint or the one being written after it."""
    script = tmp_path / "train.py"
    script.write_text(KILL_SCRIPT)
    path = tmp_path / "ck.npz"
    # the fastnn this process imported (installed package or in-place build) first, never a bare source tree
    where = os.path.dirname(os.path.dirname(os.path.abspath(fnn.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([where] + sys.path))
    rng = np.random.default_rng(0)
    import hashlib
    for trial in range(4):
        proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, env=env,
                                text=True)
        announced = {}
        line = proc.stdout.readline()             # wait for the first checkpoint
        assert line, "the training subprocess produced no checkpoint"
        e, h = line.split()
        announced[int(e)] = h
        time.sleep(float(rng.uniform(0.0, 0.3)))
        proc.send_signal(signal.SIGKILL)
        rest = proc.communicate()[0]
        for ln in rest.splitlines():
            e, h = ln.split()
            announced[int(e)] = h
        m = fnn.load(path)                         # never a broken file
        last = max(announced)
        assert m.epochs_trained in (last, last + 1)
        if m.epochs_trained == last:
            assert hashlib.sha1(m.params.tobytes()).hexdigest() == announced[last]
        os.unlink(path)
