"""fastnn.preprocessing against numpy float64 formulas; state round trips; errors."""
import io
import json

import numpy as np
import pytest

import fastnn as fnn
from fastnn import preprocessing as pp


def _data(n=400, d=6, seed=0, shift=3.0):
    """Correlated, well-conditioned data (every covariance eigenvalue well above 1e-5)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    scales = np.linspace(0.5, 4.0, d)
    return ((rng.standard_normal((n, d)) * scales) @ q.T + shift * rng.standard_normal(d)).astype(np.float32)


@pytest.fixture(params=[4096, 7], ids=["one-block", "many-blocks"])
def blocks(request, monkeypatch):
    """Run a test with the default block size and with tiny blocks (exercises the blocked accumulation)."""
    monkeypatch.setattr(pp._base, "_BLOCK_ROWS", request.param)
    return request.param


def _cov(Y):
    return np.cov(np.asarray(Y, dtype=np.float64), rowvar=False)


# ------------------------------------------------------------------------------------------------ scaling

def test_standardize_matches_numpy(blocks):
    X = _data()
    t = pp.Standardize()
    Y = t.fit_transform(X)
    X64 = X.astype(np.float64)
    ref = (X64 - X64.mean(0)) / X64.std(0)
    assert Y.dtype == np.float32 and Y.shape == X.shape and Y.flags.c_contiguous
    np.testing.assert_allclose(Y, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(Y.astype(np.float64).mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(Y.astype(np.float64).std(0), 1, atol=1e-6)
    np.testing.assert_allclose(t.mean_, X64.mean(0), rtol=1e-12)
    np.testing.assert_allclose(t.scale_, X64.std(0), rtol=1e-12)
    np.testing.assert_allclose(t.inverse_transform(Y), X, rtol=1e-5, atol=1e-5)


def test_standardize_constant_feature_left_unscaled():
    X = _data(50, 3)
    X[:, 1] = 7.25
    X[:, 2] = 0.0
    t = pp.Standardize().fit(X)
    assert t.scale_[1] == 1.0 and t.scale_[2] == 1.0
    Y = t.transform(X)
    assert np.all(Y[:, 1] == 0) and np.all(Y[:, 2] == 0) and np.isfinite(Y).all()
    np.testing.assert_allclose(t.inverse_transform(Y), X, rtol=1e-6, atol=1e-6)


def test_standardize_per_channel_nchw(blocks):
    rng = np.random.default_rng(1)
    C, H, W = 3, 4, 5
    imgs = (rng.standard_normal((40, C, H, W)) * np.array([1.0, 5.0, 0.1])[:, None, None]
            + np.array([0.5, -2.0, 10.0])[:, None, None]).astype(np.float32)
    flat = imgs.reshape(40, -1)
    t = pp.Standardize(per_channel=(C, H, W))
    Yf = t.fit_transform(flat)
    i64 = imgs.astype(np.float64)
    mean, std = i64.mean(axis=(0, 2, 3)), i64.std(axis=(0, 2, 3))
    np.testing.assert_allclose(t.mean_, mean, rtol=1e-12)
    np.testing.assert_allclose(t.scale_, std, rtol=1e-12)
    ref = (i64 - mean[:, None, None]) / std[:, None, None]
    assert Yf.shape == flat.shape and Yf.dtype == np.float32
    np.testing.assert_allclose(Yf.reshape(imgs.shape), ref, rtol=1e-5, atol=1e-6)
    Y4 = t.transform(imgs)
    assert Y4.shape == imgs.shape
    np.testing.assert_array_equal(Y4.reshape(flat.shape), Yf)
    per = Y4.astype(np.float64)
    np.testing.assert_allclose(per.mean(axis=(0, 2, 3)), 0, atol=1e-6)
    np.testing.assert_allclose(per.std(axis=(0, 2, 3)), 1, atol=1e-6)
    np.testing.assert_allclose(t.inverse_transform(Y4), imgs, rtol=1e-5, atol=1e-5)
    # fitting on 4-D input gives the same statistics
    t4 = pp.Standardize(per_channel=(C, H, W)).fit(imgs)
    np.testing.assert_array_equal(t4.mean_, t.mean_)
    with pytest.raises(ValueError, match="per_channel"):
        pp.Standardize(per_channel=(C, H, W)).fit(flat[:, :-1])
    with pytest.raises(ValueError, match="per_channel"):
        pp.Standardize(per_channel=(3, 4))


def test_center():
    X = _data()
    t = pp.Center()
    Y = t.fit_transform(X)
    np.testing.assert_allclose(Y, X.astype(np.float64) - X.astype(np.float64).mean(0), atol=1e-5)
    np.testing.assert_allclose(Y.astype(np.float64).mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(t.inverse_transform(Y), X, atol=1e-5)


@pytest.mark.parametrize("rng_", [(0, 1), (-1, 1), (0.1, 0.9)])
def test_minmax(rng_, blocks):
    X = _data()
    X[:, 0] = 2.5  # constant feature
    t = pp.MinMaxScale(feature_range=rng_)
    Y = t.fit_transform(X).astype(np.float64)
    lo, hi = rng_
    np.testing.assert_allclose(Y[:, 1:].min(0), lo, atol=1e-6)
    np.testing.assert_allclose(Y[:, 1:].max(0), hi, atol=1e-6)
    assert np.all(Y[:, 0] == np.float32(lo))
    X64 = X.astype(np.float64)
    ref = lo + (X64[:, 1:] - X64[:, 1:].min(0)) / np.ptp(X64[:, 1:], axis=0) * (hi - lo)
    np.testing.assert_allclose(Y[:, 1:], ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(t.inverse_transform(Y), X, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="low < high"):
        pp.MinMaxScale(feature_range=(1, 1))


# ------------------------------------------------------------------------------------------------ PCA, whitening

def test_pca_full(blocks):
    X = _data()
    t = pp.PCA()
    Y = t.fit_transform(X)
    X64 = X.astype(np.float64)
    evals = np.linalg.eigvalsh(np.cov(X64, rowvar=False))[::-1]
    C = t.components_
    assert C.shape == (6, 6) and Y.shape == (400, 6) and Y.dtype == np.float32
    np.testing.assert_allclose(C @ C.T, np.eye(6), atol=1e-12)
    np.testing.assert_allclose(t.explained_variance_, evals, rtol=1e-10)
    np.testing.assert_allclose(t.explained_variance_ratio_, evals / evals.sum(), rtol=1e-10)
    assert np.all(np.diff(t.explained_variance_) <= 0)
    np.testing.assert_allclose(Y, (X64 - X64.mean(0)) @ C.T, rtol=1e-5, atol=1e-5)
    cov = _cov(Y)  # uncorrelated components with the explained variances
    np.testing.assert_allclose(cov, np.diag(evals), atol=1e-4 * evals[0])
    np.testing.assert_allclose(t.inverse_transform(Y), X, rtol=1e-5, atol=2e-5)
    # each component's largest-magnitude entry is positive (deterministic signs)
    assert np.all(C[np.arange(6), np.argmax(np.abs(C), axis=1)] > 0)


def test_pca_components_and_explained_variance_selection():
    X = _data(d=8)
    full = pp.PCA().fit(X)
    cum = np.cumsum(full.explained_variance_ratio_)
    for frac in (0.3, 0.5, 0.8, 0.95, 0.999):
        t = pp.PCA(n_components=frac).fit(X)
        k = t.n_components_
        assert cum[k - 1] >= frac - 1e-12
        assert k == 1 or cum[k - 2] < frac
        assert t.transform(X).shape == (X.shape[0], k)
    t = pp.PCA(n_components=3).fit(X)
    assert t.components_.shape == (3, 8)
    np.testing.assert_allclose(t.components_, full.components_[:3], atol=1e-12)
    # inverse of a reduced projection is the orthogonal projection onto the components' span
    X64 = X.astype(np.float64)
    mu = X64.mean(0)
    ref = (X64 - mu) @ t.components_.T @ t.components_ + mu
    np.testing.assert_allclose(t.inverse_transform(t.transform(X)), ref, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="at most"):
        pp.PCA(n_components=9).fit(X)
    for bad in (0, 1.0, 1.5, -0.2, True, "3"):
        with pytest.raises(ValueError, match="n_components"):
            pp.PCA(n_components=bad)


def test_pca_wide_data_uses_svd():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((10, 30)).astype(np.float32)
    t = pp.PCA().fit(X)
    assert t.n_components_ == 10
    C = t.components_
    np.testing.assert_allclose(C[:9] @ C[:9].T, np.eye(9), atol=1e-10)  # the 10th has zero variance
    X64 = X.astype(np.float64)
    sv = np.linalg.svd(X64 - X64.mean(0), compute_uv=False)
    np.testing.assert_allclose(t.explained_variance_[:9], (sv ** 2 / 9)[:9], rtol=1e-9)
    np.testing.assert_allclose(t.inverse_transform(t.transform(X)), X, atol=1e-5)


def test_pca_whitening_identity_covariance(blocks):
    X = _data()
    for t in (pp.PCAWhitening(epsilon=1e-5), pp.PCA(whiten=True)):
        Y = t.fit_transform(X)
        s = t.explained_variance_
        cov = _cov(Y)
        np.testing.assert_allclose(cov, np.eye(6), atol=1e-4)
        np.testing.assert_allclose(np.diag(cov), s / (s + t.epsilon), rtol=1e-5)
        np.testing.assert_allclose(t.inverse_transform(Y), X, rtol=1e-5, atol=2e-5)
    t = pp.PCAWhitening(n_components=2).fit(X)
    np.testing.assert_allclose(_cov(t.transform(X)), np.eye(2), atol=1e-4)


def test_zca_symmetric_identity_and_closest(blocks):
    X = _data(d=5)
    t = pp.ZCAWhitening(epsilon=1e-5)
    Y = t.fit_transform(X)
    W = t.whitening_
    np.testing.assert_array_equal(W, W.T)  # exactly symmetric
    X64 = X.astype(np.float64)
    cov = np.cov(X64, rowvar=False)
    s, U = np.linalg.eigh(cov)
    W_ref = U @ np.diag(1.0 / np.sqrt(s + 1e-5)) @ U.T
    np.testing.assert_allclose(W, W_ref, rtol=1e-9, atol=1e-12)
    assert Y.shape == X.shape and Y.dtype == np.float32
    np.testing.assert_allclose(_cov(Y), np.eye(5), atol=1e-4)
    np.testing.assert_allclose(t.dewhitening_ @ W, np.eye(5), atol=1e-10)
    np.testing.assert_allclose(t.inverse_transform(Y), X, rtol=1e-5, atol=2e-5)
    # among whitenings Xc @ W @ Q (Q orthogonal), the symmetric one stays closest to the centred data
    Xc = X64 - X64.mean(0)
    d_zca = np.sum((Xc - Xc @ W) ** 2)
    d_pca = np.sum((Xc - pp.PCAWhitening().fit(X).transform(X)) ** 2)
    assert d_zca < d_pca
    rng = np.random.default_rng(0)
    for _ in range(5):
        Q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
        assert d_zca < np.sum((Xc - Xc @ W @ Q) ** 2)


def test_zca_images_keep_shape():
    rng = np.random.default_rng(2)
    imgs = rng.random((200, 1, 3, 3)).astype(np.float32)
    t = pp.ZCAWhitening(epsilon=1e-3)
    Y = t.fit_transform(imgs)
    assert Y.shape == imgs.shape
    np.testing.assert_allclose(t.inverse_transform(Y), imgs, atol=1e-5)


# ------------------------------------------------------------------------------------------------ targets

def test_onehot_round_trip():
    y = np.array([2, 0, 1, 2, 4])
    t = pp.OneHot()
    Y = t.fit_transform(y)
    assert Y.dtype == np.float32 and Y.shape == (5, 5)
    np.testing.assert_array_equal(Y, np.eye(5, dtype=np.float32)[y])
    np.testing.assert_array_equal(t.inverse_transform(Y), y)
    assert t.inverse_transform(Y).dtype == np.int64
    np.testing.assert_array_equal(t.transform(np.array([[1.0], [3.0]])), np.eye(5)[[1, 3]])  # (N,1) floats
    fixed = pp.OneHot(n_classes=10)
    assert fixed.transform([9]).shape == (1, 10)  # usable without fit
    with pytest.raises(ValueError, match="outside"):
        t.transform([5])
    with pytest.raises(ValueError, match=">= 0"):
        t.transform([-1])
    with pytest.raises(ValueError, match="integers"):
        t.transform([1.5])
    with pytest.raises(TypeError, match="LabelEncoder"):
        pp.OneHot().fit(["a", "b"])
    with pytest.raises(ValueError, match="n_classes"):
        pp.OneHot(n_classes=2).fit([0, 2])


def test_soft_targets():
    y = np.array([0, 2, 1])
    t = pp.SoftTargets()
    Y = t.fit_transform(y)
    ref = np.full((3, 3), 0.1, dtype=np.float32)
    ref[np.arange(3), y] = 0.9
    np.testing.assert_array_equal(Y, ref)
    np.testing.assert_array_equal(t.inverse_transform(Y), y)
    np.testing.assert_array_equal(pp.SoftTargets(-1, 1).fit_transform([1, 0]), [[-1, 1], [1, -1]])
    with pytest.raises(ValueError, match="low < high"):
        pp.SoftTargets(0.9, 0.1)


@pytest.mark.parametrize("labels", [
    np.array(["cat", "dog", "bird", "dog", "cat"]),
    np.array(["cat", "dog", "bird", "dog", "cat"], dtype=object),
    np.array([10, -3, 7, 10, 7]),
    np.array([0.5, 2.25, -1.0, 0.5, 2.25]),
    np.array([True, False, True, True, False]),
])
def test_label_encoder_round_trip(labels):
    t = pp.LabelEncoder()
    idx = t.fit_transform(labels)
    assert idx.dtype == np.int64 and idx.min() == 0 and idx.max() == t.n_classes_ - 1
    np.testing.assert_array_equal(t.classes_, np.unique(labels.astype(str) if labels.dtype == object else labels))
    back = t.inverse_transform(idx)
    assert back.tolist() == labels.tolist()
    config, arrays = t.get_state()
    assert arrays == {}
    t2 = pp.from_state(json.loads(json.dumps(config)), arrays)
    np.testing.assert_array_equal(t2.transform(labels), idx)
    assert t2.classes_.dtype.kind == t.classes_.dtype.kind
    assert t2.inverse_transform(idx).tolist() == labels.tolist()


def test_label_encoder_errors():
    t = pp.LabelEncoder().fit(["a", "b", "c"])
    with pytest.raises(ValueError, match=r"unknown label.*'z'"):
        t.transform(["a", "z"])
    with pytest.raises(ValueError, match="str labels"):
        t.transform([1, 2])
    with pytest.raises(ValueError, match="outside"):
        t.inverse_transform([3])
    with pytest.raises(TypeError, match="all be strings or all be numbers"):
        pp.LabelEncoder().fit(np.array(["a", 1], dtype=object))
    with pytest.raises(ValueError, match="NaN"):
        pp.LabelEncoder().fit([1.0, np.nan])


def test_target_scaler():
    rng = np.random.default_rng(4)
    y = rng.standard_normal(100) * 50 + 1000
    t = pp.TargetScaler()
    z = t.fit_transform(y)
    assert z.shape == (100,) and z.dtype == np.float32
    np.testing.assert_allclose(z, (y - y.mean()) / y.std(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(t.inverse_transform(z), y, rtol=1e-6)
    pred = z[:, None]  # a model's (N, 1) predictions
    out = t.inverse_transform(pred)
    assert out.shape == (100, 1)
    np.testing.assert_allclose(out[:, 0], y, rtol=1e-6)
    Y = np.stack([y, np.full(100, 3.0), -y / 7], axis=1)
    t2 = pp.TargetScaler()
    Z = t2.fit_transform(Y)
    assert Z.shape == (100, 3)
    assert t2.scale_[1] == 1.0 and np.all(Z[:, 1] == 0)
    np.testing.assert_allclose(t2.inverse_transform(Z), Y, rtol=1e-6)
    with pytest.raises(ValueError, match="fitted on 3"):
        t2.inverse_transform(Z[:, :2])


# ------------------------------------------------------------------------------------------------ pipeline

def test_pipeline_features():
    X = _data(d=8)
    p = pp.Pipeline([pp.Standardize(), pp.PCA(n_components=4)])
    Y = p.fit_transform(X)
    s = pp.Standardize().fit(X)
    q = pp.PCA(n_components=4).fit(s.transform(X))
    np.testing.assert_array_equal(Y, q.transform(s.transform(X)))
    np.testing.assert_array_equal(p.transform(X), Y)
    np.testing.assert_array_equal(pp.Pipeline([pp.Standardize(), pp.PCA(4)]).fit(X).transform(X), Y)
    np.testing.assert_allclose(p.inverse_transform(Y), s.inverse_transform(q.inverse_transform(Y)), atol=1e-6)
    full = pp.Pipeline([pp.Center(), pp.ZCAWhitening(), pp.MinMaxScale()])
    np.testing.assert_allclose(full.inverse_transform(full.fit_transform(X)), X, atol=1e-4)
    assert len(p) == 2 and isinstance(p[1], pp.PCA)


def test_pipeline_targets():
    y = np.array(["low", "high", "mid", "high"], dtype=object)
    p = pp.Pipeline([pp.LabelEncoder(), pp.OneHot()])
    Y = p.fit_transform(y)
    assert Y.shape == (4, 3)
    probs = Y * 0.8 + 0.05
    assert p.inverse_transform(probs).tolist() == y.tolist()


# ------------------------------------------------------------------------------------------------ state

def _all_fitted():
    X = _data(d=6)
    imgs = _data(n=50, d=12, seed=5).reshape(50, 3, 2, 2)
    y = np.array([0, 1, 2, 1, 0, 3])
    return [
        (pp.Standardize().fit(X), X),
        (pp.Standardize(per_channel=(3, 2, 2)).fit(imgs), imgs),
        (pp.Center().fit(X), X),
        (pp.MinMaxScale((-1, 2)).fit(X), X),
        (pp.PCA(n_components=0.9).fit(X), X),
        (pp.PCA(n_components=3, whiten=True).fit(X), X),
        (pp.PCAWhitening(epsilon=1e-3).fit(X), X),
        (pp.ZCAWhitening(epsilon=1e-2).fit(X), X),
        (pp.OneHot().fit(y), y),
        (pp.SoftTargets(0.2, 0.8).fit(y), y),
        (pp.LabelEncoder().fit(["b", "a"]), np.array(["a", "b", "b"])),
        (pp.TargetScaler().fit(X[:, :2]), X[:, :2]),
        (pp.Pipeline([pp.Standardize(), pp.PCAWhitening(3)]).fit(X), X),
        (pp.Pipeline([pp.Pipeline([pp.Center()]), pp.ZCAWhitening()]).fit(X), X),
    ]


def _round_trip(t):
    config, arrays = t.get_state()
    text = json.dumps(config)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as z:
        loaded = {k: z[k] for k in z.files}
    return pp.from_state(json.loads(text), loaded)


@pytest.mark.parametrize("case", range(14))
def test_state_round_trip_identical(case):
    t, X = _all_fitted()[case]
    t2 = _round_trip(t)
    assert type(t2) is type(t)
    assert t2.get_params() == t.get_params()
    Y = t.transform(X)
    Y2 = t2.transform(X)
    np.testing.assert_array_equal(Y2, Y)
    np.testing.assert_array_equal(t2.inverse_transform(Y), t.inverse_transform(Y))
    c1, a1 = t.get_state()
    c2, a2 = t2.get_state()
    assert c1 == c2 and sorted(a1) == sorted(a2)
    for k in a1:
        np.testing.assert_array_equal(a1[k], a2[k])


def test_state_unfitted_round_trip():
    t = _round_trip(pp.PCA(n_components=0.5, whiten=True))
    assert isinstance(t, pp.PCA) and not t.fitted and t.n_components == 0.5 and t.whiten
    with pytest.raises(pp.NotFittedError):
        t.transform(_data())


def test_state_validation():
    t = pp.Standardize().fit(_data())
    config, arrays = t.get_state()
    with pytest.raises(ValueError, match="shape"):
        pp.Standardize.from_state(config, {**arrays, "mean_": arrays["mean_"][:3]})
    with pytest.raises(ValueError, match="missing"):
        pp.Standardize.from_state(config, {"mean_": arrays["mean_"]})
    with pytest.raises(ValueError, match="unexpected"):
        pp.Standardize.from_state(config, {**arrays, "evil": np.zeros(2)})
    with pytest.raises(ValueError, match="NaN"):
        pp.Standardize.from_state(config, {**arrays, "scale_": np.full(6, np.nan)})
    with pytest.raises(ValueError, match="positive"):
        pp.Standardize.from_state(config, {**arrays, "scale_": np.zeros(6)})
    with pytest.raises(ValueError, match="not 'Center'"):
        pp.Center.from_state(config, arrays)
    with pytest.raises(ValueError, match="newer"):
        pp.from_state({**config, "version": pp.STATE_VERSION + 1}, arrays)
    with pytest.raises(ValueError, match="unknown transformer class"):
        pp.from_state({**config, "class": "os.system"}, arrays)
    with pytest.raises(ValueError, match="params"):
        pp.from_state({**config, "params": {"evil": 1}}, arrays)
    with pytest.raises(ValueError, match="n_features_in"):
        pp.from_state({**config, "fit": {"n_features_in": -1}}, arrays)
    le_conf, _ = pp.LabelEncoder().fit(["a", "b"]).get_state()
    bad = json.loads(json.dumps(le_conf))
    bad["fit"]["classes"] = ["b", "a"]
    with pytest.raises(ValueError, match="sorted"):
        pp.from_state(bad, {})
    pconf, parr = pp.Pipeline([pp.Center()]).fit(_data()).get_state()
    with pytest.raises(ValueError, match="unexpected"):
        pp.from_state(pconf, {**parr, "1/mean_": np.zeros(6)})


# ------------------------------------------------------------------------------------------------ errors

@pytest.mark.parametrize("make", [pp.Standardize, pp.Center, pp.MinMaxScale, pp.PCA, pp.PCAWhitening,
                                  pp.ZCAWhitening, pp.TargetScaler, pp.LabelEncoder, pp.OneHot])
def test_not_fitted(make):
    t = make()
    with pytest.raises(pp.NotFittedError, match="not fitted"):
        t.transform(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="not fitted"):
        t.inverse_transform(np.zeros((2, 3)))


@pytest.mark.parametrize("make", [pp.Standardize, pp.Center, pp.MinMaxScale, pp.PCA, pp.PCAWhitening,
                                  pp.ZCAWhitening])
def test_feature_errors(make):
    X = _data()
    t = make().fit(X)
    with pytest.raises(ValueError, match=r"7 features.*fitted on 6"):
        t.transform(np.zeros((3, 7)))
    Xn = X.copy()
    Xn[5, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN or Inf.*row 5, column 2"):
        t.transform(Xn)
    Xn[5, 2] = np.inf
    with pytest.raises(ValueError, match=r"row 5, column 2"):
        make().fit(Xn)
    with pytest.raises(ValueError, match="2-D"):
        make().fit(X[:, 0])
    with pytest.raises(TypeError, match="numeric"):
        make().fit(np.array([["a", "b"], ["c", "d"]]))
    assert t.transform(X[:0]).shape[0] == 0


def test_too_few_samples():
    with pytest.raises(ValueError, match="at least 2"):
        pp.PCA().fit(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        pp.ZCAWhitening().fit(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="at least 1"):
        pp.Standardize().fit(np.zeros((0, 3)))


def test_integer_input_converted():
    X = np.arange(20).reshape(10, 2)
    Y = pp.Standardize().fit_transform(X)
    assert Y.dtype == np.float32
    np.testing.assert_allclose(Y.std(0), 1, atol=1e-6)


def test_standardize_compiled_path_matches_the_float64_path():
    """float32 C-contiguous input takes the one-pass C kernels; float64 input the blocked numpy path."""
    rng = np.random.default_rng(3)
    X = (rng.standard_normal((3001, 97)) * 40 + 1000).astype(np.float32)   # large offset: needs the shift
    fast = pp.Standardize().fit(X)
    slow = pp.Standardize().fit(X.astype(np.float64))
    np.testing.assert_allclose(fast.mean_, slow.mean_, rtol=1e-12)
    np.testing.assert_allclose(fast.scale_, slow.scale_, rtol=1e-9)
    np.testing.assert_allclose(fast.transform(X), slow.transform(X.astype(np.float64)), rtol=1e-5, atol=1e-5)
    Y = fast.transform(X).astype(np.float64)
    np.testing.assert_allclose(Y.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(Y.std(0), 1, atol=1e-4)
    X[1234, 5] = np.nan
    with pytest.raises(ValueError, match="row 1234, column 5"):
        pp.Standardize().fit(X)
    with pytest.raises(ValueError, match="row 1234, column 5"):
        fast.transform(X)


# -- the compiled Standardize kernels, on every SIMD path ----------------------------------------------------


@pytest.fixture(params=["generic", "avx2", "avx512"])
def isa(request):
    from conftest import available_isas

    if request.param not in available_isas():
        pytest.skip(f"CPU lacks {request.param}")
    old = fnn.get_isa()
    fnn.set_isa(request.param)
    yield request.param
    fnn.set_isa(old)


@pytest.mark.parametrize("n, d", [(1, 1), (3, 15), (17, 16), (40, 33), (129, 97), (300, 64)])
def test_col_moments_every_isa_vs_float64(isa, n, d):
    from fastnn._ext import _core

    rng = np.random.default_rng(n * 1000 + d)
    X = (rng.standard_normal((n, d)) * rng.uniform(0.01, 50, d) + rng.uniform(-1e3, 1e3, d)).astype(np.float32)
    mean, var = _core.col_moments(X, 1)
    ref = X.astype(np.float64)
    np.testing.assert_allclose(mean, ref.mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(var, ref.var(0), rtol=1e-9, atol=1e-9)
    m2, v2 = _core.col_moments(X, 2)   # column blocks over threads: the same bits
    np.testing.assert_array_equal(m2, mean)
    np.testing.assert_array_equal(v2, var)


@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_col_moments_and_affine_find_nonfinite_every_isa(isa, where, bad):
    from fastnn._ext import _core

    n, d = 50, 37   # 37 columns: vector body and tail
    X = np.random.default_rng(0).random((n, d), dtype=np.float32)
    i, j = {"first": (0, 0), "middle": (20, 17), "last": (n - 1, d - 1)}[where]
    X[i, j] = bad
    with pytest.raises(ValueError, match=f"row {i}, column {j}"):
        _core.col_moments(X, 1)
    z = np.zeros(d, np.float32)
    with pytest.raises(ValueError, match=f"row {i}, column {j}"):
        _core.affine_cols(X, z, z, np.ones(d, np.float32), 1)
    assert _core.first_nonfinite(X, 1) == i * d + j
    assert _core.first_nonfinite(X[:i].copy(), 1) == -1


@pytest.mark.parametrize("d", [100, 784])
def test_standardize_transform_large_every_isa_streaming(isa, threads, d):
    """Outputs of >= 8 MB take the streaming-store path on AVX-512, with a head up to the next 64-byte line
    (the offset of out varies) and a masked tail per row: every element must match the float64 formula."""
    rng = np.random.default_rng(d)
    n = (9 << 20) // (4 * d) + 3
    X = (rng.standard_normal((n, d)) * 3 + 100).astype(np.float32)
    t = pp.Standardize().fit(X)
    ref = (X.astype(np.float64) - t.mean_) / t.scale_
    for nt in (1, 2):
        threads(nt)
        for off in (0, 1, 5):   # out starting 0, 4 and 20 bytes past a 64-byte line
            buf = np.empty(n * d + 16 + off, np.float32)
            start = (-(buf.ctypes.data // 4) % 16) + off
            out = buf[start:start + n * d].reshape(n, d)
            assert (out.ctypes.data % 64) == 4 * off
            res = t.transform(X, out=out)
            assert res is out
            np.testing.assert_allclose(out, ref, rtol=2e-6, atol=2e-6)


def test_standardize_transform_out_and_in_place():
    rng = np.random.default_rng(4)
    X = (rng.standard_normal((64, 3, 4, 4)) + 5).astype(np.float32)
    t = pp.Standardize().fit(X)
    expected = t.transform(X)
    out = np.full_like(X, np.nan)
    assert t.transform(X, out=out) is out
    np.testing.assert_array_equal(out, expected)
    Xc = X.copy()
    assert t.transform(Xc, out=Xc) is Xc   # in place
    np.testing.assert_array_equal(Xc, expected)
    # float64 input takes the numpy path, still into out
    out2 = np.empty_like(X)
    t.transform(X.astype(np.float64), out=out2)
    np.testing.assert_allclose(out2, expected, rtol=1e-6, atol=1e-6)
    pc = pp.Standardize(per_channel=(3, 4, 4)).fit(X)
    out3 = np.empty_like(X)
    pc.transform(X, out=out3)
    np.testing.assert_array_equal(out3, pc.transform(X))
    with pytest.raises(ValueError, match="out has shape"):
        t.transform(X, out=np.empty((64, 48), np.float32))
    with pytest.raises(TypeError, match="float32"):
        t.transform(X, out=np.empty_like(X, dtype=np.float64))
    with pytest.raises(TypeError, match="C-contiguous"):
        t.transform(X, out=np.empty((4, 3, 4, 64), np.float32).transpose(3, 1, 2, 0))
    ro = np.empty_like(X)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        t.transform(X, out=ro)


def test_standardize_mean_far_above_spread_keeps_float_accuracy():
    """mean / std = 1e4: the float32 mean alone would cost ~1e-3 absolute in the output; the float-pair mean
    keeps the error at float32 rounding of the result."""
    rng = np.random.default_rng(5)
    X = (rng.standard_normal((2000, 40)) * 0.01 + 100.0).astype(np.float32)
    t = pp.Standardize().fit(X)
    ref = (X.astype(np.float64) - X.astype(np.float64).mean(0)) / X.astype(np.float64).std(0)
    np.testing.assert_allclose(t.transform(X), ref, rtol=0, atol=2e-5)
