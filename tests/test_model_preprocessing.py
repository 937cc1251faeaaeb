"""A model's own input preprocessing: fitted by fit, applied to raw inputs everywhere, saved with the model."""
import io as _stdio
import json
import os
import sys

import numpy as np
import pytest

import fastnn as fnn
from fastnn import callbacks as C
from fastnn import io as fio
from fastnn import preprocessing as P

sys.path.insert(0, os.path.dirname(__file__))
from test_io import _header, _rewrite, _set_header  # noqa: E402


def data(rng, n=240, d=8, k=3):
    """Blobs far from the origin with very different feature scales: preprocessing matters."""
    y = np.arange(n) % k
    centers = rng.standard_normal((k, d)) * 3
    scale = np.geomspace(0.1, 100.0, d)
    X = ((centers[y] + rng.standard_normal((n, d))) * scale + 50.0).astype(np.float32)
    return X, y


def train_val(rng, n=240, n_val=60):
    X, y = data(rng, n + n_val)
    return X[:n], y[:n], X[n:], y[n:]


def make(pre=None, in_dim=8, seed=0, k=3):
    m = fnn.Sequential([fnn.Linear(in_dim, 16, activation="relu"), fnn.Linear(16, k)], seed=seed,
                       preprocessing=pre)
    m.compile("cross_entropy", fnn.optim.SGD(lr=0.05, momentum=0.9))
    return m


def summary_text(m):
    out = _stdio.StringIO()
    m.summary(file=out)
    return out.getvalue()


# ----------------------------------------------------------------------------------------------------------
# semantics
# ----------------------------------------------------------------------------------------------------------

def test_default_is_none_and_files_stay_version_1(tmp_path, rng):
    X, y = data(rng)
    m = make()
    assert m.preprocessing is None and "preprocessing" not in repr(m)
    assert "Input preprocessing" not in summary_text(m)
    m.fit(X, y, epochs=1, verbose=0)
    m.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as z:
        h = json.loads(z["__fastnn__"].tobytes())
        assert not [k for k in z.files if k.startswith("preprocessing/")]
    assert h["format_version"] == 1 and h["preprocessing"] is None
    assert fnn.load(tmp_path / "m.npz").preprocessing is None


def test_fit_fits_on_the_first_call_only(rng):
    X, y = data(rng)
    m = make(P.Standardize())
    assert not m.preprocessing.fitted
    m.fit(X, y, epochs=1, verbose=0)
    want = P.Standardize().fit(X)
    assert m.preprocessing.fitted
    assert np.array_equal(m.preprocessing.mean_, want.mean_) and np.array_equal(m.preprocessing.scale_, want.scale_)
    m.fit(X * 3 + 7, y, epochs=1, verbose=0)            # a second fit transforms, it does not refit
    assert np.array_equal(m.preprocessing.mean_, want.mean_)


def test_training_sees_exactly_the_transformed_inputs(rng):
    X, y, Xv, yv = train_val(rng)
    a = make(P.Standardize())
    ha = a.fit(X, y, epochs=3, batch_size=16, validation_data=(Xv, yv), verbose=0)
    std = P.Standardize().fit(X)
    b = make()
    hb = b.fit(std.transform(X), y, epochs=3, batch_size=16, validation_data=(std.transform(Xv), yv), verbose=0)
    assert np.array_equal(a.params, b.params)
    assert ha.history["val_loss"] == hb.history["val_loss"]
    assert ha.history["val_accuracy"][-1] > 0.9       # the scales span 1e-1..1e2: raw inputs train poorly


def test_validation_split_fits_on_the_training_part_only(rng):
    X, y = data(rng)
    X[np.arange(len(X)) % 4 == 0] += 1000.0            # rows that differ, spread over both parts
    m = make(P.Center())
    m.fit(X, y, epochs=1, validation_split=0.25, verbose=0)
    tr, va = fnn.trainer._split(len(X), y.astype(np.int32), 0.25, m.seed)
    assert np.allclose(m.preprocessing.mean_, X[tr].astype(np.float64).mean(axis=0), rtol=1e-12)
    assert not np.allclose(m.preprocessing.mean_, X.astype(np.float64).mean(axis=0), rtol=1e-6)


def test_every_entry_point_applies_it_to_raw_inputs(rng):
    X, y, Xv, yv = train_val(rng)
    m = make(fnn.preprocessing.Standardize())
    h = m.fit(X, y, epochs=2, verbose=0, validation_data=(Xv, yv), metrics=["accuracy", "f1"],
              train_metrics=True)
    got = {"forward": m.forward(Xv), "predict": m.predict(Xv), "classes": m.predict_classes(Xv),
           "call": m(Xv), "eval": m.evaluate(Xv, yv, metrics=["f1"])}
    pre, Xt = m.preprocessing, m.preprocessing.transform(Xv)
    m.preprocessing = None
    want = {"forward": m.forward(Xt), "predict": m.predict(Xt), "classes": m.predict_classes(Xt),
            "call": m(Xt), "eval": m.evaluate(Xt, yv, metrics=["f1"])}
    for k in ("forward", "predict", "classes", "call"):
        assert np.array_equal(got[k], want[k]), k
    assert got["eval"] == want["eval"]
    # the metrics computed inside fit saw the transformed arrays once (not transformed twice)
    assert h.history["val_f1"][-1] == want["eval"]["f1"]
    assert h.history["f1"][-1] == fnn.metrics.f1(y, m.predict(pre.transform(X)))
    assert not np.array_equal(got["forward"], m.forward(Xv))   # the raw inputs give other outputs


def test_regression_evaluate_matches_predict(rng):
    X, _ = data(rng)
    t = (X[:, :2] / 50.0).astype(np.float32)
    m = fnn.Sequential([fnn.Linear(8, 2)], preprocessing=P.MinMaxScale((-1, 1)))
    m.compile("mse", fnn.optim.Adam(lr=1e-2))
    m.fit(X, t, epochs=2, verbose=0)
    assert m.evaluate(X, t)["loss"] == pytest.approx(float(np.mean((m.predict(X) - t) ** 2)), rel=1e-5)


def test_pca_changes_the_width(rng):
    X, y = data(rng)
    m = make(P.PCA(3), in_dim=3)
    m.fit(X, y, epochs=2, verbose=0)
    assert m.preprocessing.n_components_ == 3 and m.predict(X).shape == (len(X), 3)
    with pytest.raises(ValueError, match=r"X does not fit model.preprocessing: .*5 features.*fitted on 8"):
        m.predict(X[:, :5])
    with pytest.raises(ValueError, match="fitted on 8"):
        m.predict(m.preprocessing.transform(X))         # already transformed: the model wants raw inputs
    assert "8 -> 3 features" in summary_text(m)


def test_width_mismatch_errors_name_both_widths_and_roll_back(rng):
    X, y = data(rng)
    m = make(P.PCA(3), in_dim=4)
    with pytest.raises(ValueError, match=r"turns 8 features per sample into 3, but the network's input takes 4"):
        m.fit(X, y, epochs=1, verbose=0)
    assert not m.preprocessing.fitted                   # left as it was: a corrected fit starts afresh
    m.preprocessing = P.PCA(4)
    m.fit(X, y, epochs=1, verbose=0)
    assert m.preprocessing.n_features_in_ == 8
    with pytest.raises(ValueError, match=r"turns 8 features per sample into 3, but the network's input takes 4"):
        m.preprocessing = P.PCA(3).fit(X)               # a fitted one is checked when assigned
    with pytest.raises(ValueError, match="turns 8 features per sample into 8"):
        make(P.Standardize().fit(X), in_dim=4)


def test_a_failed_fit_restores_a_partly_fitted_pipeline(rng):
    X, y = data(rng)
    first = P.Standardize().fit(X + 1.0)
    mean0 = first.mean_
    pipe = P.Pipeline([first, P.PCA(3)])
    m = make(pipe, in_dim=4)
    with pytest.raises(ValueError, match="into 3"):
        m.fit(X, y, epochs=1, verbose=0)
    assert m.preprocessing is pipe and pipe[0] is first and first.mean_ is mean0 and not pipe[1].fitted
    other = make(P.Standardize())
    with pytest.raises(ValueError, match="samples"):    # a bad y or argument: nothing is fitted
        other.fit(X, y[:-1], epochs=1, verbose=0)
    with pytest.raises(ValueError, match="augmentation needs the image shape"):
        other.fit(X, y, epochs=1, verbose=0, augment=fnn.augment.Compose([fnn.augment.RandomHorizontalFlip()]))
    assert not other.preprocessing.fitted and other.epochs_trained == 0


def test_unfitted_preprocessing_at_predict_time_and_partial_fit(rng):
    X, y = data(rng)
    m = make(P.Standardize())
    for call in (m.predict, m.forward, m.predict_classes, lambda a: m.evaluate(a, y)):
        with pytest.raises(P.NotFittedError, match="not fitted yet"):
            call(X)
    with pytest.raises(P.NotFittedError, match="partial_fit does not fit it"):
        m.partial_fit(X, y)
    assert m.epochs_trained == 0
    m.preprocessing.fit(X[:100])
    m.partial_fit(X, y)
    m.partial_fit(X + 5.0, y)
    assert np.array_equal(m.preprocessing.mean_, P.Standardize().fit(X[:100]).mean_)
    assert m.epochs_trained == 2


def test_only_feature_transformers_are_accepted(rng):
    for bad in (P.OneHot(3), P.LabelEncoder(), P.TargetScaler(), P.Pipeline([P.Standardize(), P.OneHot(3)]),
                "standardize", np.mean):
        with pytest.raises(TypeError, match="feature transformer"):
            make(bad)
    m = make()
    with pytest.raises(TypeError, match="target transformer"):
        m.preprocessing = P.SoftTargets()
    assert m.preprocessing is None


def test_augmentation_acts_after_the_preprocessing(rng):
    X = rng.uniform(0, 255, (64, 1, 6, 6)).astype(np.float32)
    y = np.arange(64) % 2
    m = fnn.Sequential([fnn.Flatten(), fnn.Linear(36, 2)], input_shape=(1, 6, 6), seed=3,
                       preprocessing=P.Standardize(per_channel=(1, 6, 6)))
    m.compile("cross_entropy", "sgd")
    aug = fnn.augment.Compose([fnn.augment.RandomHorizontalFlip(), fnn.augment.RandomTranslate(1)],
                              image_shape=(1, 6, 6))
    m.fit(X, y, epochs=1, verbose=0, augment=aug)
    got = m.predict(X, tta=3, augment=aug)
    pre = m.preprocessing
    m.preprocessing = None
    assert np.array_equal(got, m.predict(pre.transform(X), tta=3, augment=aug))
    assert not np.allclose(got, m.predict(pre.transform(X)))


# ----------------------------------------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pre, in_dim", [
    (lambda: P.Standardize(), 8),
    (lambda: P.MinMaxScale((-1, 1)), 8),
    (lambda: P.Pipeline([P.Standardize(), P.PCA(4)]), 4),
    (lambda: P.Pipeline([P.Center(), P.PCAWhitening(0.9)]), None),
    (lambda: P.ZCAWhitening(), 8),
])
def test_save_load_round_trip(tmp_path, rng, pre, in_dim):
    X, y = data(rng)
    if in_dim is None:                                  # a fraction of variance: the width is known after fit
        in_dim = P.Pipeline([P.Center(), P.PCAWhitening(0.9)]).fit_transform(X).shape[1]
    m = make(pre(), in_dim=in_dim)
    m.fit(X, y, epochs=2, verbose=0)
    m.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        h = json.loads(z["__fastnn__"].tobytes())
        names = [k for k in z.files if k.startswith("preprocessing/")]
        assert names and all(not z[k].dtype.hasobject for k in z.files)
    assert h["format_version"] == 2 and h["preprocessing"]["class"] == type(m.preprocessing).__name__
    r = fnn.load(tmp_path / "m.npz")
    assert type(r.preprocessing) is type(m.preprocessing) and r.preprocessing is not m.preprocessing
    assert r.preprocessing.fitted and repr(r.preprocessing) == repr(m.preprocessing)
    Xn, yn = data(np.random.default_rng(7), n=50)
    assert np.array_equal(r.predict(Xn), m.predict(Xn))
    assert np.array_equal(r.predict_classes(Xn), m.predict_classes(Xn))
    assert r.evaluate(Xn, yn) == m.evaluate(Xn, yn)
    assert repr(r) == repr(m)


def test_unfitted_preprocessing_is_saved_unfitted(tmp_path, rng):
    X, y = data(rng)
    m = make(P.Pipeline([P.Standardize(), P.PCA(4)]), in_dim=4)
    m.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as z:
        assert not [k for k in z.files if k.startswith("preprocessing/")]
    r = fnn.load(tmp_path / "m.npz")
    assert type(r.preprocessing) is P.Pipeline and not r.preprocessing.fitted
    assert r.preprocessing[1].n_components == 4
    assert "not fitted yet" in summary_text(r)
    with pytest.raises(P.NotFittedError):
        r.predict(X)
    r.fit(X, y, epochs=1, verbose=0)
    m.fit(X, y, epochs=1, verbose=0)
    assert np.array_equal(r.params, m.params) and np.array_equal(r.predict(X), m.predict(X))


def test_old_files_without_a_preprocessing_entry_load(tmp_path, rng):
    X, y = data(rng)
    m = make()
    m.fit(X, y, epochs=1, verbose=0)
    m.save(tmp_path / "m.npz")

    def old(a):
        h = _header(a)
        del h["preprocessing"]
        h["format_version"] = 1
        _set_header(a, h)

    _rewrite(tmp_path / "m.npz", tmp_path / "old.npz", old)
    r = fnn.load(tmp_path / "old.npz")
    assert r.preprocessing is None and np.array_equal(r.predict(X), m.predict(X))


@pytest.mark.parametrize("case, message", [
    ("shape", "has shape"),
    ("missing", "missing"),
    ("nan", "NaN"),
    ("extra", "unexpected arrays"),
    ("orphan_arrays", "unexpected arrays"),
    ("unknown_class", "unknown transformer class"),
    ("target_transformer", "target transformer"),
    ("malformed", "malformed preprocessing"),
    ("bad_params", "n_components must be"),
    ("width", "does not fit the saved network"),
    ("unfitted_with_arrays", "unfitted state carries arrays"),
])
def test_corrupt_preprocessing_entries_are_rejected(tmp_path, rng, case, message):
    X, y = data(rng)
    m = make(P.Pipeline([P.Standardize(), P.PCA(4)]), in_dim=4)
    m.fit(X, y, epochs=1, verbose=0)
    src, dst = tmp_path / "m.npz", tmp_path / "bad.npz"
    m.save(src)

    def change(a):
        h = _header(a)
        if case == "shape":
            a["preprocessing/0/mean_"] = np.zeros(7)
        elif case == "missing":
            del a["preprocessing/1/components_"]
        elif case == "nan":
            a["preprocessing/0/scale_"] = np.full(8, np.nan)
        elif case == "extra":
            a["preprocessing/1/evil"] = np.zeros(3)
        elif case == "orphan_arrays":
            h["preprocessing"] = None
        elif case == "unknown_class":
            h["preprocessing"]["steps"][0]["class"] = "os.system"
        elif case == "target_transformer":
            h["preprocessing"], _ = P.OneHot(4).get_state()
            for k in [k for k in a if k.startswith("preprocessing/")]:
                del a[k]
        elif case == "malformed":
            h["preprocessing"] = [1, 2]
        elif case == "bad_params":
            h["preprocessing"]["steps"][1]["params"]["n_components"] = -2
        elif case == "width":                           # a fitted Standardize (8 -> 8) for a 4-input network
            h["preprocessing"], arrays = P.Standardize().fit(X).get_state()
            for k in [k for k in a if k.startswith("preprocessing/")]:
                del a[k]
            a.update({"preprocessing/" + k: v for k, v in arrays.items()})
        elif case == "unfitted_with_arrays":
            h["preprocessing"]["steps"][0]["fitted"] = False
        _set_header(a, h)

    _rewrite(src, dst, change)
    with pytest.raises(ValueError, match=message) as err:
        fnn.load(dst)
    assert str(dst) in str(err.value)
    if case != "orphan_arrays":   # found before the file's kind (a model file, not a checkpoint) is checked
        with pytest.raises(ValueError, match=message):
            fio.load_checkpoint(dst)


def test_checkpoint_resume_keeps_the_fitted_preprocessing(tmp_path, rng):
    X, y, Xv, yv = train_val(rng, n=200)
    kw = dict(batch_size=16, validation_data=(Xv, yv), verbose=0)
    full = make(P.Pipeline([P.Standardize(), P.PCA(5)]), in_dim=5)
    hf = full.fit(X, y, epochs=5, **kw)

    class Crash(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    part = make(P.Pipeline([P.Standardize(), P.PCA(5)]), in_dim=5)
    with pytest.raises(KeyboardInterrupt):
        part.fit(X, y, epochs=5, callbacks=[C.ModelCheckpoint(tmp_path / "ck.npz"), Crash()], **kw)
    assert fnn.load(tmp_path / "ck.npz").epochs_trained == 2   # epoch 3 died before its checkpoint
    resumed = make(P.Pipeline([P.Standardize(), P.PCA(5)]), in_dim=5)   # unfitted: the checkpoint's is used
    hr = resumed.fit(X, y, epochs=5, resume_from=tmp_path / "ck.npz", **kw)
    assert np.array_equal(resumed.params, full.params) and hr.history["val_loss"] == hf.history["val_loss"]
    assert np.array_equal(resumed.preprocessing[1].components_, full.preprocessing[1].components_)
    assert np.array_equal(resumed.predict(Xv), full.predict(Xv))
    # resuming on other data transforms it with the checkpoint's statistics; it never refits
    again = make(P.Pipeline([P.Standardize(), P.PCA(5)]), in_dim=5)
    again.fit(X * 2 + 30, y, epochs=4, resume_from=tmp_path / "ck.npz", verbose=0)
    assert np.array_equal(again.preprocessing[0].mean_, full.preprocessing[0].mean_)
    model, _ = fio.load_checkpoint(tmp_path / "ck.npz")
    assert model.preprocessing.fitted and np.array_equal(model.preprocessing[0].scale_,
                                                         full.preprocessing[0].scale_)


@pytest.mark.parametrize("other", [None, lambda: P.Pipeline([P.Standardize(), P.PCA(5, whiten=True)]),
                                   lambda: P.Pipeline([P.Center(), P.PCA(5)])])
def test_resume_rejects_other_preprocessing(tmp_path, rng, other):
    X, y = data(rng, n=60)
    m = make(P.Pipeline([P.Standardize(), P.PCA(5)]), in_dim=5)
    m.fit(X, y, epochs=1, verbose=0, callbacks=[C.ModelCheckpoint(tmp_path / "ck.npz")])
    r = make(None if other is None else other(), in_dim=5)
    before = r.params.copy()
    with pytest.raises(ValueError, match="written with preprocessing"):
        r.fit(m.preprocessing.transform(X) if other is None else X, y, epochs=2,
              resume_from=tmp_path / "ck.npz", verbose=0)
    assert np.array_equal(r.params, before)
