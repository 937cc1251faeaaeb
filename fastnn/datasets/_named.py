"""The named image data sets (``fashion_mnist``, ``mnist``, ``digits``): where their files are looked for,
the in-memory cache of decoded IDX files (``clear_cache``), checks and conversion; part of :mod:`fastnn.datasets`."""
import os

import numpy as np

from ._idx import read_idx
from ._split import train_test_split

_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# decoded uint8 arrays, keyed by (real path, size, mtime_ns); read-only; callers always get fresh copies
_CACHE = {}


def clear_cache():
    """Forget the decoded IDX arrays that :func:`fashion_mnist`/:func:`mnist` keep in memory."""
    _CACHE.clear()


def _read_idx_cached(path):
    real = os.path.realpath(path)
    st = os.stat(real)
    key = (real, st.st_size, st.st_mtime_ns)
    arr = _CACHE.get(key)
    if arr is None:
        arr = read_idx(real)
        arr.flags.writeable = False
        for old in [k for k in _CACHE if k[0] == real]:
            del _CACHE[old]
        _CACHE[key] = arr
    return arr


def _find_files(folder):
    """Map of the four file roles to existing paths in ``folder`` (plain name preferred over ``.gz``), and
    the list of missing base names."""
    found, missing = {}, []
    for role, base in _MNIST_FILES.items():
        for name in (base, base + ".gz"):
            p = os.path.join(folder, name)
            if os.path.isfile(p):
                found[role] = p
                break
        else:
            missing.append(base + "[.gz]")
    return found, missing


def _candidates(path, subdir, system_dir):
    places = []
    if path is not None:
        p = os.fspath(path)
        places += [(p, "path="), (os.path.join(p, subdir), "path=")]
    else:
        env = os.environ.get("FASTNN_DATA", "")
        if env:
            if subdir == "fashion-mnist":
                places.append((env, "$FASTNN_DATA"))
            places.append((os.path.join(env, subdir), "$FASTNN_DATA"))
        if system_dir:
            places.append((system_dir, "Debian package dataset-fashion-mnist"))
    return places


def _locate(name, path, subdir, system_dir, advice):
    places = _candidates(path, subdir, system_dir)
    report = []
    for folder, source in places:
        if not os.path.isdir(folder):
            report.append("  %s (%s): no such directory" % (folder, source))
            continue
        found, missing = _find_files(folder)
        if not missing:
            return found
        report.append("  %s (%s): missing %s" % (folder, source, ", ".join(missing)))
    if path is None and not os.environ.get("FASTNN_DATA"):
        report.append("  $FASTNN_DATA: not set")
    raise FileNotFoundError(
        "%s: data files not found (fastnn never downloads). Looked in:\n%s\nExpected the four IDX files %s "
        "(plain or .gz).\n%s" % (name, "\n".join(report), ", ".join(_MNIST_FILES.values()), advice))


def _check_pair(images, labels, ipath, lpath, name):
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError("%s: %s: expected uint8 images of shape (N, H, W), got %s %r"
                         % (name, ipath, images.dtype, images.shape))
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError("%s: %s: expected uint8 labels of shape (N,), got %s %r"
                         % (name, lpath, labels.dtype, labels.shape))
    if images.shape[0] != labels.shape[0]:
        raise ValueError("%s: %d images in %s but %d labels in %s" % (
            name, images.shape[0], ipath, labels.shape[0], lpath))
    if labels.size and labels.max() > 9:
        raise ValueError("%s: %s: label %d out of range 0..9" % (name, lpath, int(labels.max())))


def _convert(images, labels, dtype, layout, name):
    n, h, w = images.shape
    if layout == "flat":
        shape = (n, h * w)
    elif layout == "nchw":
        shape = (n, 1, h, w)
    elif layout == "nhw":
        shape = (n, h, w)
    else:
        raise ValueError("%s: layout must be 'flat', 'nchw' or 'nhw', got %r" % (name, layout))
    src = images.reshape(shape)
    if dtype == "uint8":
        x = src.copy()
    else:
        x = np.empty(shape, dtype=dtype)
        np.divide(src, dtype.type(255.0), out=x, dtype=dtype)
    return x, labels.astype(np.int64)


def _dtype_arg(dtype, name):
    try:
        dt = None if dtype is None else np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.uint8)):
        raise ValueError("%s: dtype must be 'float32', 'float64' or 'uint8', got %r" % (name, dtype))
    return "uint8" if dt == np.uint8 else dt


def _load_mnist_like(name, path, subdir, system_dir, advice, dtype, layout):
    dtype = _dtype_arg(dtype, name)
    if layout not in ("flat", "nchw", "nhw"):
        raise ValueError("%s: layout must be 'flat', 'nchw' or 'nhw', got %r" % (name, layout))
    files = _locate(name, path, subdir, system_dir, advice)
    out = []
    for part in ("train", "test"):
        ip, lp = files[part + "_images"], files[part + "_labels"]
        images, labels = _read_idx_cached(ip), _read_idx_cached(lp)
        _check_pair(images, labels, ip, lp, name)
        out.append(_convert(images, labels, dtype, layout, name))
    if out[0][0].shape[1:] != out[1][0].shape[1:]:
        raise ValueError("%s: train images %r and test images %r differ in size"
                         % (name, out[0][0].shape[1:], out[1][0].shape[1:]))
    return tuple(out)


def fashion_mnist(path=None, *, dtype="float32", layout="flat"):
    """Fashion-MNIST (Xiao et al. 2017): 60,000 training and 10,000 test 28x28 grey images, 10 classes.

    Returns ``(X_train, y_train), (X_test, y_test)``:

    - images: ``dtype="float32"`` (default) scaled to [0, 1] (``"float64"`` likewise), or ``"uint8"``
      (0..255, unscaled); ``layout="flat"`` (default) gives ``(N, 784)``, ``"nchw"`` ``(N, 1, 28, 28)``,
      ``"nhw"`` ``(N, 28, 28)``; C-contiguous, freshly allocated (yours to modify).
    - labels: int64 ``(N,)`` in 0..9.

    Where it looks, in order, for the four IDX files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each plain or with ``.gz``):

    1. if ``path`` is given: ``path`` and ``path/fashion-mnist``, and nowhere else;
    2. otherwise ``$FASTNN_DATA`` and ``$FASTNN_DATA/fashion-mnist``, then ``/usr/share/datasets/fashion-mnist``
       (Debian: ``apt-get install dataset-fashion-mnist``).

    Never downloads. When no folder holds all four files, raises ``FileNotFoundError`` listing every place it
    looked and what was missing there. Corrupt files and mismatched image/label counts raise ``ValueError``.
    Decoded files are cached in memory (keyed by real path, size and mtime); see :func:`clear_cache`.
    """
    from . import FASHION_MNIST_SYSTEM_DIR  # the package's, read per call (a rebinding there takes effect)

    return _load_mnist_like(
        "fashion_mnist", path, "fashion-mnist", FASHION_MNIST_SYSTEM_DIR,
        "Install it with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or put the files in a folder "
        "and pass path= or set FASTNN_DATA to it.", dtype, layout)


def mnist(path=None, *, dtype="float32", layout="flat"):
    """MNIST (LeCun et al. 1998): 60,000 training and 10,000 test 28x28 handwritten digits, 10 classes.

    Same return values, options and file names as :func:`fashion_mnist`. Looks in ``path`` and ``path/mnist``
    if ``path`` is given, otherwise in ``$FASTNN_DATA/mnist`` only (not ``$FASTNN_DATA`` itself, whose files
    of the same names are Fashion-MNIST's). There is no system package; never downloads; a
    ``FileNotFoundError`` lists where it looked.
    """
    return _load_mnist_like(
        "mnist", path, "mnist", None,
        "MNIST has no system package: copy the four files into a folder and pass path=, or into "
        "$FASTNN_DATA/mnist.", dtype, layout)



def digits(*, test_size=0.25, seed=0, stratify=True, layout="flat"):
    """scikit-learn's bundled handwritten digits: 1,797 images of 8x8, 10 classes (offline).

    Images are float32 scaled to [0, 1] (the raw 0..16 values divided by 16); ``layout="flat"`` (default)
    gives ``(N, 64)``, ``"nchw"`` ``(N, 1, 8, 8)``. Labels are int64 in 0..9.

    With ``test_size`` (default 0.25; a fraction or a count) returns ``(X_train, y_train), (X_test, y_test)``
    from :func:`train_test_split` (``stratify=True``, ``seed=0`` by default); with ``test_size=None`` returns
    the whole set as ``(X, y)``. Needs scikit-learn (``pip install fastnn[test]`` or ``pip install
    scikit-learn``); raises ``ImportError`` saying so otherwise.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError("fastnn.datasets.digits() needs scikit-learn, a test extra of fastnn: "
                          "pip install 'fastnn[test]' (or pip install scikit-learn)") from exc
    if layout not in ("flat", "nchw"):
        raise ValueError("digits: layout must be 'flat' or 'nchw', got %r" % (layout,))
    bunch = load_digits()
    X = np.ascontiguousarray(np.asarray(bunch.data, dtype=np.float32) / np.float32(16.0))
    y = np.asarray(bunch.target, dtype=np.int64)
    if layout == "nchw":
        X = X.reshape(-1, 1, 8, 8)
    if test_size is None:
        return X, y
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, stratify=stratify, seed=seed)
    return (X_tr, y_tr), (X_te, y_te)
