import gzip
import os
import struct

import numpy as np
import pytest

from fastnn import datasets

FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    datasets.clear_cache()
    yield
    datasets.clear_cache()


def _raw(code, dims, payload=b""):
    return bytes([0, 0, code, len(dims)]) + struct.pack(">%dI" % len(dims), *dims) + payload


# -------------------------------------------------------------------------------------------------- IDX round trips

@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (4, 3, 2), (2, 1, 3, 2), (0, 4)])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_idx_round_trip(tmp_path, dtype, shape, name):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        arr = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    else:
        arr = (rng.standard_normal(shape) * 1e3).astype(dtype)
    p = tmp_path / name
    datasets.write_idx(p, arr)
    with open(p, "rb") as f:
        assert (f.read(2) == b"\x1f\x8b") == name.endswith(".gz")
    back = datasets.read_idx(p)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative and back.shape == shape
    assert back.flags.writeable and back.flags.c_contiguous
    np.testing.assert_array_equal(back, arr)
    assert not [q for q in os.listdir(tmp_path) if q.endswith(".tmp")]  # no temp file left behind


def test_idx_gzip_detected_by_magic_not_name(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    p = tmp_path / "plain-name"
    datasets.write_idx(p, arr, compress=True)
    np.testing.assert_array_equal(datasets.read_idx(p), arr)
    q = tmp_path / "looks-compressed.gz"
    datasets.write_idx(q, arr, compress=False)
    assert q.read_bytes()[:4] == b"\x00\x00\x08\x03"
    np.testing.assert_array_equal(datasets.read_idx(str(q)), arr)


def test_idx_known_bytes(tmp_path):
    # big-endian int16 and float32 written by hand
    p = tmp_path / "h.idx"
    p.write_bytes(_raw(0x0B, (3,), struct.pack(">3h", -2, 1, 300)))
    np.testing.assert_array_equal(datasets.read_idx(p), np.array([-2, 1, 300], np.int16))
    p.write_bytes(_raw(0x0D, (1, 2), struct.pack(">2f", 1.5, -0.25)))
    np.testing.assert_array_equal(datasets.read_idx(p), np.array([[1.5, -0.25]], np.float32))
    datasets.write_idx(p, np.array([1, 256], dtype=np.int32))
    assert p.read_bytes() == _raw(0x0C, (2,), b"\x00\x00\x00\x01\x00\x00\x01\x00")


def test_write_idx_is_deterministic_and_atomic(tmp_path):
    arr = np.arange(100, dtype=np.uint8)
    a, b = tmp_path / "a.gz", tmp_path / "b.gz"
    datasets.write_idx(a, arr)
    datasets.write_idx(b, arr)
    assert a.read_bytes() == b.read_bytes()  # no name or mtime in the gzip header
    datasets.write_idx(a, arr[:10])  # overwrite in place
    assert datasets.read_idx(a).shape == (10,)
    with pytest.raises(ValueError, match="no IDX type code"):
        datasets.write_idx(tmp_path / "x.idx", np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="1 to 255 dimensions"):
        datasets.write_idx(tmp_path / "x.idx", np.float32(1.0))
    assert sorted(os.listdir(tmp_path)) == ["a.gz", "b.gz"]


# -------------------------------------------------------------------------------------------------- IDX corruption

@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("content,match", [
    (b"", "too short for an IDX header"),
    (b"\x00\x00", "too short for an IDX header"),
    (b"\x01\x00\x08\x01\x00\x00\x00\x00", "bad magic number 01 00 08 01"),
    (b"\x00\x07\x08\x01\x00\x00\x00\x00", "bad magic number"),
    (_raw(0x0A, (2,), b"\x00\x00"), "unknown IDX type code 0x0A"),
    (_raw(0x0F, (2,), b"\x00\x00"), "unknown IDX type code 0x0F"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00", "truncated header: 3 dimensions need 16 header bytes, file has 10"),
    (_raw(0x08, (2, 3), b"\x00" * 5), "truncated: header says 2x3 uint8 needs 18 bytes, file has 17 bytes"),
    (_raw(0x0C, (2,), b"\x00" * 7), "truncated: header says 2 int32 needs 16 bytes, file has 15"),
    (_raw(0x08, (4,), b"\x00" * 5), "trailing data after the array: header says 4 uint8 needs 12 bytes, file has 13"),
    (_raw(0x08, (60000, 28, 28), b"\x00" * 100), "truncated: header says 60000x28x28 uint8 needs 47040016"),
])
def test_idx_corruption(tmp_path, gz, content, match):
    p = tmp_path / "bad.idx"
    p.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(ValueError, match=match) as err:
        datasets.read_idx(p)
    assert str(p) in str(err.value)  # the message names the file
    if gz:
        assert "gunzipped" in str(err.value)


def test_idx_truncated_gzip_stream(tmp_path):
    data = gzip.compress(_raw(0x08, (1000,), bytes(range(256)) * 3 + b"\x01" * 232))
    p = tmp_path / "cut.gz"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated gzip") as err:
        datasets.read_idx(p)
    assert str(p) in str(err.value)


def test_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        datasets.read_idx(tmp_path / "nope")


# -------------------------------------------------------------------------------------------------- (Fashion-)MNIST

def _make_set(folder, n_train=12, n_test=5, gz=False, hw=(28, 28), seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, size=(n_train,) + hw, dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(n_test,) + hw, dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test)[::-1] % 10).astype(np.uint8),
    }
    arrays["train-images-idx3-ubyte"][0, 0, 0] = 255
    arrays["train-images-idx3-ubyte"][0, 0, 1] = 0
    for name, arr in arrays.items():
        datasets.write_idx(os.path.join(folder, name + (".gz" if gz else "")), arr)
    return arrays


@pytest.fixture
def no_system(monkeypatch, tmp_path):
    """Hide the Debian folder and FASTNN_DATA so that lookups see only what the test sets up."""
    monkeypatch.setattr(datasets, "FASHION_MNIST_SYSTEM_DIR", str(tmp_path / "system-absent"))
    monkeypatch.delenv("FASTNN_DATA", raising=False)


@pytest.mark.parametrize("gz", [False, True])
def test_fashion_mnist_from_path(tmp_path, no_system, gz):
    arrays = _make_set(tmp_path / "d", gz=gz)
    (X, y), (Xt, yt) = datasets.fashion_mnist(tmp_path / "d")
    assert X.shape == (12, 784) and X.dtype == np.float32 and X.flags.c_contiguous
    assert Xt.shape == (5, 784) and y.shape == (12,) and yt.shape == (5,)
    assert y.dtype == yt.dtype == np.int64
    np.testing.assert_array_equal(X, arrays["train-images-idx3-ubyte"].reshape(12, 784) / np.float32(255))
    assert X[0, 0] == 1.0 and X[0, 1] == 0.0 and X.min() >= 0 and X.max() <= 1
    np.testing.assert_array_equal(y, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(yt, arrays["t10k-labels-idx1-ubyte"])


def test_fashion_mnist_layouts_and_dtypes(tmp_path, no_system):
    arrays = _make_set(tmp_path)
    (X, y), (Xt, _) = datasets.fashion_mnist(tmp_path, dtype="uint8", layout="nchw")
    assert X.shape == (12, 1, 28, 28) and X.dtype == np.uint8 and Xt.shape == (5, 1, 28, 28)
    np.testing.assert_array_equal(X[:, 0], arrays["train-images-idx3-ubyte"])
    (X, _), _ = datasets.fashion_mnist(tmp_path, dtype=np.float64, layout="nhw")
    assert X.shape == (12, 28, 28) and X.dtype == np.float64 and X.max() == 1.0
    with pytest.raises(ValueError, match="layout must be"):
        datasets.fashion_mnist(tmp_path, layout="nhwc")
    with pytest.raises(ValueError, match="dtype must be"):
        datasets.fashion_mnist(tmp_path, dtype="int32")


def test_fashion_mnist_subfolder_and_mixed_gzip(tmp_path, no_system):
    _make_set(tmp_path / "fashion-mnist", gz=True)
    os.rename(tmp_path / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz", tmp_path / "tmp.gz")
    datasets.write_idx(tmp_path / "fashion-mnist" / "t10k-labels-idx1-ubyte", datasets.read_idx(tmp_path / "tmp.gz"))
    (X, _), (_, yt) = datasets.fashion_mnist(tmp_path)
    assert X.shape == (12, 784) and yt.shape == (5,)


def test_fashion_mnist_from_env(tmp_path, no_system, monkeypatch):
    _make_set(tmp_path / "root")
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "root"))
    (X, _), _ = datasets.fashion_mnist()
    assert X.shape == (12, 784)
    # and from the fashion-mnist subfolder of FASTNN_DATA
    _make_set(tmp_path / "root2" / "fashion-mnist", n_train=3)
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "root2"))
    (X, _), _ = datasets.fashion_mnist()
    assert X.shape == (3, 784)


def test_fashion_mnist_system_dir(tmp_path, no_system, monkeypatch):
    _make_set(tmp_path / "sys", n_train=4, gz=True)
    monkeypatch.setattr(datasets, "FASHION_MNIST_SYSTEM_DIR", str(tmp_path / "sys"))
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "empty-env"))
    (X, _), _ = datasets.fashion_mnist()
    assert X.shape == (4, 784)


def test_fashion_mnist_not_found_lists_places(tmp_path, no_system, monkeypatch):
    env = tmp_path / "env"
    (env / "fashion-mnist").mkdir(parents=True)
    datasets.write_idx(env / "fashion-mnist" / "train-images-idx3-ubyte.gz", np.zeros((1, 28, 28), np.uint8))
    monkeypatch.setenv("FASTNN_DATA", str(env))
    with pytest.raises(FileNotFoundError) as err:
        datasets.fashion_mnist()
    msg = str(err.value)
    assert "%s ($FASTNN_DATA): missing train-images-idx3-ubyte[.gz]" % env in msg
    assert "%s ($FASTNN_DATA): missing train-labels-idx1-ubyte[.gz], t10k-images" % (env / "fashion-mnist") in msg
    assert datasets.FASHION_MNIST_SYSTEM_DIR + " (Debian package dataset-fashion-mnist): no such directory" in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "FASTNN_DATA" in msg
    assert "never downloads" in msg

    monkeypatch.delenv("FASTNN_DATA")
    with pytest.raises(FileNotFoundError, match=r"\$FASTNN_DATA: not set"):
        datasets.fashion_mnist()
    # an explicit path is the only place looked at
    with pytest.raises(FileNotFoundError) as err:
        datasets.fashion_mnist(tmp_path / "given")
    msg = str(err.value)
    assert "%s (path=): no such directory" % (tmp_path / "given") in msg
    assert "%s (path=)" % (tmp_path / "given" / "fashion-mnist") in msg
    assert datasets.FASHION_MNIST_SYSTEM_DIR not in msg


def test_images_labels_count_mismatch(tmp_path, no_system):
    _make_set(tmp_path)
    datasets.write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match=r"5 images in .*t10k-images-idx3-ubyte but 4 labels in .*t10k-labels"):
        datasets.fashion_mnist(tmp_path)


@pytest.mark.parametrize("name,arr,match", [
    ("train-labels-idx1-ubyte", np.full(12, 10, np.uint8), "label 10 out of range 0..9"),
    ("train-labels-idx1-ubyte", np.zeros((12, 1), np.uint8), r"expected uint8 labels of shape \(N,\)"),
    ("train-images-idx3-ubyte", np.zeros((12, 784), np.uint8), r"expected uint8 images of shape \(N, H, W\)"),
    ("train-images-idx3-ubyte", np.zeros((12, 28, 28), np.float32), "expected uint8 images"),
    ("train-images-idx3-ubyte", np.zeros((12, 20, 20), np.uint8), "differ in size"),
])
def test_bad_contents(tmp_path, no_system, name, arr, match):
    _make_set(tmp_path)
    datasets.write_idx(tmp_path / name, arr)
    with pytest.raises(ValueError, match=match):
        datasets.fashion_mnist(tmp_path)


def test_corrupt_file_in_set_names_it(tmp_path, no_system):
    _make_set(tmp_path)
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-1])
    with pytest.raises(ValueError, match="truncated") as err:
        datasets.fashion_mnist(tmp_path)
    assert str(p) in str(err.value)


def test_cache_returns_fresh_arrays_and_sees_changes(tmp_path, no_system):
    _make_set(tmp_path)
    (X1, y1), _ = datasets.fashion_mnist(tmp_path, dtype="uint8")
    X1[:] = 0
    y1[:] = 7
    (X2, y2), _ = datasets.fashion_mnist(tmp_path, dtype="uint8")
    assert X2.any() and not np.all(y2 == 7)  # the cache was not corrupted through the returned arrays
    assert not np.shares_memory(X1, X2)
    assert all(not a.flags.writeable for a in datasets._CACHE.values())
    # rewriting a file (new size) is picked up
    _make_set(tmp_path, n_train=3)
    (X3, _), _ = datasets.fashion_mnist(tmp_path)
    assert X3.shape == (3, 784)


def test_mnist_lookup(tmp_path, no_system, monkeypatch):
    _make_set(tmp_path / "env" / "mnist", n_train=6)
    _make_set(tmp_path / "env", n_train=9)  # Fashion-MNIST's files at the FASTNN_DATA root are not MNIST
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "env"))
    (X, _), _ = datasets.mnist()
    assert X.shape == (6, 784)
    (X, _), _ = datasets.fashion_mnist()
    assert X.shape == (9, 784)
    (X, _), _ = datasets.mnist(tmp_path / "env", layout="nchw")
    assert X.shape == (9, 1, 28, 28)
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "elsewhere"))
    with pytest.raises(FileNotFoundError) as err:
        datasets.mnist()
    msg = str(err.value)
    assert str(tmp_path / "elsewhere" / "mnist") in msg and "no system package" in msg


# -------------------------------------------------------------------------------------------------- real Fashion-MNIST

_SYSTEM_FILES = [os.path.join(datasets.FASHION_MNIST_SYSTEM_DIR, f + ".gz") for f in FILES]


@pytest.mark.skipif(not all(os.path.exists(p) for p in _SYSTEM_FILES),
                    reason="Fashion-MNIST not installed in %s (apt-get install dataset-fashion-mnist)"
                    % datasets.FASHION_MNIST_SYSTEM_DIR)
def test_real_fashion_mnist(monkeypatch):
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    (X, y), (Xt, yt) = datasets.fashion_mnist()
    assert X.shape == (60000, 784) and Xt.shape == (10000, 784)
    assert y.shape == (60000,) and yt.shape == (10000,)
    assert X.dtype == Xt.dtype == np.float32 and y.dtype == yt.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0 and Xt.min() == 0.0 and Xt.max() == 1.0
    assert set(np.unique(y)) == set(range(10)) == set(np.unique(yt))
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(yt), np.full(10, 1000))
    assert 0.25 < X.mean() < 0.32  # Fashion-MNIST's mean pixel is about 0.286
    (Xu, _), _ = datasets.fashion_mnist(datasets.FASHION_MNIST_SYSTEM_DIR, dtype="uint8", layout="nchw")
    assert Xu.shape == (60000, 1, 28, 28) and Xu.dtype == np.uint8
    np.testing.assert_array_equal(Xu.reshape(60000, 784)[:100] / np.float32(255), X[:100])


# -------------------------------------------------------------------------------------------------- digits and splits

def test_digits():
    pytest.importorskip("sklearn", reason="scikit-learn (fastnn[test]) is not installed")
    X, y = datasets.digits(test_size=None)
    assert X.shape == (1797, 64) and X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0 and set(np.unique(y)) == set(range(10))
    (Xtr, ytr), (Xte, yte) = datasets.digits()
    assert Xtr.shape == (1347, 64) and Xte.shape == (450, 64) and ytr.shape == (1347,) and yte.shape == (450,)
    (Xtr2, _), _ = datasets.digits()
    np.testing.assert_array_equal(Xtr, Xtr2)
    (Xn, _), _ = datasets.digits(layout="nchw", test_size=0.2, seed=1)
    assert Xn.shape[1:] == (1, 8, 8)


def test_digits_without_sklearn(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"scikit-learn.*fastnn\[test\]"):
        datasets.digits()


def test_split_stratified_keeps_proportions():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(5), [400, 300, 150, 100, 50])  # 1000 samples, imbalanced
    rng.shuffle(y)
    X = np.arange(1000 * 3, dtype=np.float32).reshape(1000, 3)
    X_tr, X_te, y_tr, y_te = datasets.train_test_split(X, y, test_size=0.2, seed=3)
    assert X_tr.shape == (800, 3) and X_te.shape == (200, 3)
    np.testing.assert_array_equal(np.bincount(y_te), [80, 60, 30, 20, 10])
    np.testing.assert_array_equal(np.bincount(y_tr), [320, 240, 120, 80, 40])
    # rows stay paired with their labels and the two parts partition the data
    rows = np.concatenate([X_tr[:, 0], X_te[:, 0]]).astype(int) // 3
    np.testing.assert_array_equal(np.sort(rows), np.arange(1000))
    np.testing.assert_array_equal(y[X_te[:, 0].astype(int) // 3], y_te)
    # the test part is shuffled, not grouped by class
    assert np.any(np.diff(y_te) < 0)


def test_split_rounding_and_determinism():
    y = np.repeat([0, 1, 2], [7, 7, 7])
    X = np.arange(21)
    a = datasets.train_test_split(X, y, test_size=0.3, seed=5)
    b = datasets.train_test_split(X, y, test_size=0.3, seed=5)
    c = datasets.train_test_split(X, y, test_size=0.3, seed=6)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[1], c[1])
    assert a[1].size == 7  # ceil(0.3 * 21)
    counts = np.bincount(a[3], minlength=3)
    assert counts.sum() == 7 and counts.min() >= 2 and counts.max() <= 3
    _, X_te, _, y_te = datasets.train_test_split(X, y, test_size=4, seed=0)
    assert X_te.shape == (4,) and set(y_te) == {0, 1, 2}


def test_split_not_stratified():
    X = np.arange(10)
    y = np.linspace(0, 1, 10)  # regression targets
    X_tr, X_te, y_tr, y_te = datasets.train_test_split(X, y, test_size=0.3, stratify=False, seed=0)
    assert X_tr.size == 7 and X_te.size == 3 and np.allclose(y_te, X_te / 9)
    X_tr, X_te, _, _ = datasets.train_test_split(X, y, test_size=0.3, stratify=False, shuffle=False)
    np.testing.assert_array_equal(X_te, [7, 8, 9])
    np.testing.assert_array_equal(X_tr, np.arange(7))


def test_split_string_labels_and_minimum_class_sizes():
    y = np.array(["cat", "dog"] * 5 + ["bird", "bird"])
    X = np.arange(12)
    _, _, y_tr, y_te = datasets.train_test_split(X, y, test_size=0.25)
    assert set(y_te) == {"cat", "dog", "bird"} and set(y_tr) == {"cat", "dog", "bird"}


@pytest.mark.parametrize("kwargs,match", [
    (dict(X=np.zeros(5), y=np.zeros(4)), "X has 5 samples but y has 4"),
    (dict(X=np.zeros(10), y=np.arange(10) % 5, test_size=1.5), r"must be in \(0, 1\)"),
    (dict(X=np.zeros(10), y=np.arange(10) % 5, test_size=0), "between 1 and"),
    (dict(X=np.zeros(10), y=np.arange(10) % 5, test_size="a lot"), "fraction in"),
    (dict(X=np.zeros(10), y=np.arange(10) % 5, test_size=True), "fraction in"),
    (dict(X=np.zeros(10), y=np.linspace(0, 1, 10)), "only 1 sample.*stratify=False"),
    (dict(X=np.zeros(10), y=np.arange(10) % 5, test_size=0.2), "cannot hold all 5 classes"),
    (dict(X=np.zeros((4, 2)), y=np.eye(4)[[0, 1, 0, 1]]), "1-D labels"),
    (dict(X=np.zeros(10), y=np.arange(10) % 2, shuffle=False), "needs shuffle=True"),
    (dict(X=np.zeros(1), y=np.zeros(1)), "at least 2 samples"),
])
def test_split_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        datasets.train_test_split(**kwargs)
