"""Real data sets, read from disk; nothing is ever downloaded (``fastnn.datasets``).

- :func:`read_idx` / :func:`write_idx`: the IDX file format of MNIST and Fashion-MNIST, plain or gzip.
- :func:`fashion_mnist` and :func:`mnist`: ``(X_train, y_train), (X_test, y_test)`` from IDX files found in
  ``path``, in ``$FASTNN_DATA``, or (Fashion-MNIST only) in the Debian package's folder
  ``/usr/share/datasets/fashion-mnist/`` (``apt-get install dataset-fashion-mnist``).
- :func:`digits`: scikit-learn's bundled 8x8 digits (scikit-learn is a test extra, not a runtime dependency).
- :func:`train_test_split`: a seeded, stratified split in numpy; :func:`validation_split` returns pairs.
- :func:`load_csv` / :func:`load_numpy`: tabular data (features and target by column name or index) from
  CSV (plain or gzip) or ``.npy``/``.npz`` files.

Runtime dependencies: numpy and the standard library only.
"""
import csv
import gzip
import io
import os
import struct
import zlib

import numpy as np

__all__ = ["read_idx", "write_idx", "fashion_mnist", "mnist", "digits", "train_test_split", "clear_cache",
           "FASHION_MNIST_SYSTEM_DIR", "validation_split", "load_csv", "load_numpy"]

#: Where Debian's ``dataset-fashion-mnist`` package installs the four gzip IDX files.
FASHION_MNIST_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"

# ----------------------------------------------------------------------------------------------------------
# IDX
# ----------------------------------------------------------------------------------------------------------

# IDX type code -> big-endian numpy dtype
_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("=").str[1:]: code for code, dt in _IDX_TYPES.items()}  # "u1" -> 0x08, ...
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path):
    """The file's content, gunzipped when it starts with the gzip magic bytes (whatever its name)."""
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head == _GZIP_MAGIC:
            try:
                with gzip.GzipFile(fileobj=f, mode="rb") as g:
                    return g.read(), True
            except (OSError, EOFError, zlib.error) as exc:
                raise ValueError("read_idx: %s: corrupt or truncated gzip data (%s)" % (path, exc)) from None
        return f.read(), False


def read_idx(path):
    """Read an IDX file (the MNIST format) into a numpy array in native byte order.

    The file may be plain or gzip-compressed; gzip is detected by its magic bytes ``1f 8b``, not by the name.
    Layout: two zero bytes, a type code, the number of dimensions ``ndim``, then ``ndim`` big-endian uint32
    sizes, then the data, big-endian, C order. Type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64.

    Returns an array of shape ``sizes`` and the matching dtype (e.g. uint8 ``(60000, 28, 28)`` for MNIST
    training images), writeable and owning its data.

    Raises ``ValueError`` naming the file for: a bad magic number, an unknown type code, zero dimensions, a
    file shorter than its header, and a data length that differs from what the header says (truncated or
    trailing data; the message gives the expected and actual byte counts). ``FileNotFoundError``/``OSError``
    from opening the file pass through.
    """
    path = os.fspath(path)
    data, compressed = _read_bytes(path)
    what = "%s (gunzipped)" % path if compressed else path
    if len(data) < 4:
        raise ValueError("read_idx: %s: %d bytes is too short for an IDX header (4 bytes of magic number)"
                         % (what, len(data)))
    z0, z1, code, ndim = data[0], data[1], data[2], data[3]
    if z0 != 0 or z1 != 0:
        raise ValueError("read_idx: %s: bad magic number %s; an IDX file starts with 00 00 <type> <ndim>"
                         % (what, data[:4].hex(" ")))
    if code not in _IDX_TYPES:
        raise ValueError("read_idx: %s: unknown IDX type code 0x%02X; expected one of %s" % (
            what, code, ", ".join("0x%02X (%s)" % (c, t.name) for c, t in sorted(_IDX_TYPES.items()))))
    if ndim == 0:
        raise ValueError("read_idx: %s: header declares 0 dimensions" % what)
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError("read_idx: %s: truncated header: %d dimensions need %d header bytes, file has %d"
                         % (what, ndim, header, len(data)))
    dims = struct.unpack(">%dI" % ndim, data[4:header])
    dtype = _IDX_TYPES[code]
    count = 1
    for d in dims:
        count *= d
    expected = header + count * dtype.itemsize
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "trailing data after the array"
        raise ValueError("read_idx: %s: %s: header says %s %s needs %d bytes, file has %d bytes"
                         % (what, kind, "x".join(map(str, dims)), dtype.name, expected, len(data)))
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def _atomic_write(path, write):
    """Atomic write (temp file, flush, fsync, rename): the one in fastnn.io."""
    from ..io import atomic_write

    atomic_write(path, write)


def write_idx(path, array, compress=None):
    """Write ``array`` to ``path`` as an IDX file, atomically (temp file in the same folder, flush, fsync,
    rename).

    ``array``: any shape with 1 to 255 dimensions, each < 2**32, of dtype uint8, int8, int16, int32, float32
    or float64 (anything else raises ``ValueError``; convert first). ``compress``: ``None`` (default) gzips
    when ``path`` ends with ``.gz``; ``True``/``False`` force it. The gzip header carries no name and
    mtime 0, so the same array always gives the same bytes.
    """
    arr = np.asarray(array)
    code = _IDX_CODES.get(arr.dtype.str[1:]) if arr.dtype.kind in "uif" else None
    if code is None:
        raise ValueError("write_idx: dtype %s has no IDX type code; use one of uint8, int8, int16, int32, "
                         "float32, float64" % arr.dtype)
    if not 1 <= arr.ndim <= 255:
        raise ValueError("write_idx: IDX needs 1 to 255 dimensions, got shape %r" % (arr.shape,))
    if any(d >= 2 ** 32 for d in arr.shape):
        raise ValueError("write_idx: dimension too large for IDX (max 2**32-1): shape %r" % (arr.shape,))
    if compress is None:
        compress = os.fspath(path).endswith(".gz")
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(">%dI" % arr.ndim, *arr.shape)
    payload = np.ascontiguousarray(arr, dtype=_IDX_TYPES[code]).tobytes()

    def write(f):
        if compress:
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=6) as g:
                g.write(header)
                g.write(payload)
        else:
            f.write(header)
            f.write(payload)

    _atomic_write(path, write)


# ----------------------------------------------------------------------------------------------------------
# (Fashion-)MNIST
# ----------------------------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------------------------
# small real data and splitting
# ----------------------------------------------------------------------------------------------------------


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


def _n_test(test_size, n):
    if isinstance(test_size, bool):
        raise ValueError("train_test_split: test_size must be a fraction in (0, 1) or a count, got %r" % test_size)
    if isinstance(test_size, (int, np.integer)):
        n_test = int(test_size)
        if not 0 < n_test < n:
            raise ValueError("train_test_split: test_size=%d must be between 1 and n_samples-1 = %d"
                             % (n_test, n - 1))
        return n_test
    try:
        frac = float(test_size)
    except (TypeError, ValueError):
        raise ValueError("train_test_split: test_size must be a fraction in (0, 1) or a count, got %r"
                         % (test_size,)) from None
    if not 0.0 < frac < 1.0:
        raise ValueError("train_test_split: test_size=%r must be in (0, 1) as a fraction" % (test_size,))
    n_test = int(np.ceil(frac * n))
    if not 0 < n_test < n:
        raise ValueError("train_test_split: test_size=%r of %d samples leaves an empty train or test set"
                         % (test_size, n))
    return n_test


def train_test_split(X, y, test_size=0.25, *, stratify=True, seed=0, shuffle=True):
    """Split ``X`` ``(N, ...)`` and ``y`` ``(N, ...)`` into train and test parts.

    Returns ``X_train, X_test, y_train, y_test`` (scikit-learn's order); new arrays (row subsets).

    - ``test_size``: a fraction in (0, 1) (test count ``ceil(test_size * N)``, as scikit-learn) or a count.
      Default 0.25.
    - ``stratify`` (default True): each class of the 1-D label array ``y`` gets its share of the test set,
      rounded so the total is exact (largest remainders; ties to the larger class, then the smaller label).
      Needs at least 2 samples per class and at least as many test and train samples as classes. Use
      ``stratify=False`` for regression targets.
    - ``seed`` (default 0): same seed, same split. ``shuffle`` (default True) shuffles the rows of each part;
      ``shuffle=False`` (only with ``stratify=False``) takes the last ``n_test`` rows as the test set.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError("train_test_split: X and y must have a first (sample) axis")
    n = X.shape[0]
    if y.shape[0] != n:
        raise ValueError("train_test_split: X has %d samples but y has %d" % (n, y.shape[0]))
    if n < 2:
        raise ValueError("train_test_split: need at least 2 samples, got %d" % n)
    n_test = _n_test(test_size, n)
    rng = np.random.default_rng(seed)

    if not stratify:
        if shuffle:
            perm = rng.permutation(n)
        else:
            perm = np.arange(n)
        test_idx, train_idx = perm[n - n_test:], perm[:n - n_test]
    else:
        if not shuffle:
            raise ValueError("train_test_split: stratify=True needs shuffle=True")
        if y.ndim != 1:
            raise ValueError("train_test_split: stratify needs 1-D labels y, got shape %r (pass stratify=False, "
                             "or class indices instead of one-hot rows)" % (y.shape,))
        classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
        if counts.min() < 2:
            raise ValueError("train_test_split: class %r has only %d sample; stratify needs >= 2 per class "
                             "(pass stratify=False for regression targets)"
                             % (classes[np.argmin(counts)].item(), counts.min()))
        k = classes.size
        if n_test < k or n - n_test < k:
            raise ValueError("train_test_split: %d test and %d train samples cannot hold all %d classes"
                             % (n_test, n - n_test, k))
        exact = counts * (n_test / n)
        take = np.floor(exact).astype(np.int64)
        rest = n_test - int(take.sum())
        order = np.lexsort((np.arange(k), -counts, -(exact - take)))  # largest remainder, bigger class first
        take[order[:rest]] += 1
        # keep at least one sample per class on each side
        take = np.clip(take, 1, counts - 1)
        diff = n_test - int(take.sum())
        while diff != 0:  # rare: clipping moved the total; fix on the classes with room, biggest first
            step = 1 if diff > 0 else -1
            room = (counts - 1 - take) if step > 0 else (take - 1)
            j = int(np.lexsort((np.arange(k), -counts, room <= 0))[0])
            take[j] += step
            diff -= step
        test_parts, train_parts = [], []
        by_class = np.argsort(inverse, kind="stable")
        starts = np.concatenate(([0], np.cumsum(counts)))
        for c in range(k):
            members = rng.permutation(by_class[starts[c]:starts[c + 1]])
            test_parts.append(members[:take[c]])
            train_parts.append(members[take[c]:])
        test_idx = rng.permutation(np.concatenate(test_parts))
        train_idx = rng.permutation(np.concatenate(train_parts))
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


def validation_split(X, y, fraction=0.1, *, stratify=True, seed=0):
    """Hold out ``fraction`` of ``(X, y)`` for validation: returns ``(X_train, y_train), (X_val, y_val)``,
    ready for ``model.fit(X_train, y_train, validation_data=(X_val, y_val))``.

    A thin wrapper of :func:`train_test_split` (same rules): ``fraction`` in (0, 1) (validation count
    ``ceil(fraction * N)``) or a count; ``stratify=True`` (default) keeps each class's share in both parts
    (pass ``stratify=False`` for regression targets); ``seed=0`` by default. Rows are shuffled (a seeded
    random split, unlike Keras's "last rows").
    """
    try:
        X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=fraction, stratify=stratify, seed=seed)
    except ValueError as exc:
        raise ValueError("validation_split: " + str(exc).replace("train_test_split: ", "").replace(
            "test_size", "fraction")) from None
    return (X_tr, y_tr), (X_va, y_va)


# ----------------------------------------------------------------------------------------------------------
# tabular data: CSV and NumPy files
# ----------------------------------------------------------------------------------------------------------

#: Cell values that count as missing in :func:`load_csv` (compared after stripping spaces, case-insensitive).
CSV_MISSING = ("", "na", "n/a", "nan", "null", "none", "?")
_CSV_BLOCK = 4096


def _float_dtype(dtype, who):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError("%s: dtype must be 'float32' or 'float64', got %r" % (who, dtype))
    return dt


def _open_text(path):
    with open(path, "rb") as f:
        gz = f.read(2) == _GZIP_MAGIC
    if gz:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, "r", encoding="utf-8-sig", newline="")


def _is_number(cell):
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _columns(target, names, width, path, who):
    """Target column indices (sorted as given) and whether a list was given."""
    if target is None:
        return [], False
    many = isinstance(target, (list, tuple))
    specs = list(target) if many else [target]
    if many and not specs:
        raise ValueError("%s: target=[] names no column" % who)
    out = []
    for t in specs:
        if isinstance(t, str):
            if names is None:
                raise ValueError("%s: %s: target=%r is a column name but the file has no header row (give a column "
                                 "index, or header=True)" % (who, path, t))
            hits = [i for i, n in enumerate(names) if n == t.strip()]
            if not hits:
                raise ValueError("%s: %s: no column named %r; columns: %s" % (who, path, t, names))
            if len(hits) > 1:
                raise ValueError("%s: %s: %d columns are named %r; give the target as an index" % (
                    who, path, len(hits), t))
            out.append(hits[0])
        elif isinstance(t, (int, np.integer)) and not isinstance(t, (bool, np.bool_)):
            i = int(t)
            if not -width <= i < width:
                raise ValueError("%s: %s: target column index %d is out of range for %d columns" % (
                    who, path, i, width))
            out.append(i % width)
        else:
            raise ValueError("%s: target must be None, a column name, a column index or a list of them, got %r"
                             % (who, t))
    if len(set(out)) != len(out):
        raise ValueError("%s: target names a column twice: %r" % (who, target))
    return out, many


def _col_label(j, names):
    return "column %r (index %d)" % (names[j], j) if names is not None else "column index %d" % j


def _missing_mask(cells):
    return np.isin(np.char.lower(np.char.strip(cells)), CSV_MISSING)


def load_csv(path, target=None, *, delimiter=",", header="infer", dtype="float32", skip_missing=False,
             return_names=False):
    """Read a CSV file of numbers into ``(X, y)``: features ``X`` ``(N, D)`` and the ``target`` column(s).

    - ``path``: a UTF-8 text file (a byte-order mark is ignored), plain or gzip (detected by its magic bytes).
      Quoting follows the ``csv`` module's defaults; blank lines are skipped.
    - ``target``: ``None`` (default: every column is a feature, ``y`` is ``None``), a column name (needs a
      header), a column index (negative counts from the end), or a list of them (``y`` is then ``(N, T)``).
    - ``delimiter``: one character, default ``","``.
    - ``header``: ``"infer"`` (default: the first row is a header when none of its cells is a number), ``True``
      or ``False``.
    - ``dtype``: ``"float32"`` (default) or ``"float64"`` for ``X`` (and for non-integer numeric targets).
    - ``skip_missing``: ``False`` (default) raises on a missing cell; ``True`` drops every row with a missing
      cell. Missing means empty or one of ``CSV_MISSING`` (``NA``, ``N/A``, ``NaN``, ``null``, ``None``, ``?``;
      case-insensitive).
    - ``return_names``: also return the feature columns' names (``None`` without a header).

    ``y`` is int64 when every target cell is an integer literal, ``dtype`` when they are all numbers, and a
    numpy ``str`` array (for :class:`fastnn.preprocessing.LabelEncoder`) when any target cell is not a number.
    Feature cells must be numbers: a non-numeric or missing feature cell raises ``ValueError`` naming the file,
    the line, the column (name and index) and the cell. Also ``ValueError``: an empty file or a header without
    data, a row with a different number of fields (naming its line), an unknown target column, non-UTF-8 or
    malformed CSV. Reads in blocks of rows, so memory stays near the size of the result. numpy and the
    ``csv`` module only.
    """
    who = "load_csv"
    path = os.fspath(path)
    dt = _float_dtype(dtype, who)
    if header not in ("infer", True, False):
        raise ValueError("%s: header must be 'infer', True or False, got %r" % (who, header))
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ValueError("%s: delimiter must be one character, got %r" % (who, delimiter))

    x_parts, t_parts = [], []
    state = {"names": None, "width": None, "tcols": None, "fcols": None, "many": False, "rows": 0,
             "skipped": 0}

    def setup(first):
        has_header = header if header != "infer" else (not any(_is_number(c) for c in first)
                                                      and any(c.strip() for c in first))
        state["names"] = [c.strip() for c in first] if has_header else None
        state["width"] = len(first)
        tcols, many = _columns(target, state["names"], state["width"], path, who)
        state["tcols"], state["many"] = tcols, many
        state["fcols"] = [j for j in range(state["width"]) if j not in set(tcols)]
        return has_header

    def flush(block, lines):
        width, names = state["width"], state["names"]
        lens = np.fromiter(map(len, block), dtype=np.int64, count=len(block))
        bad = np.flatnonzero(lens != width)
        if bad.size:
            i = int(bad[0])
            raise ValueError("%s: %s: line %d has %d fields, expected %d (as the %s)" % (
                who, path, lines[i], lens[i], width, "header" if names is not None else "first row"))
        cells = np.array(block, dtype=str).reshape(len(block), width)
        fc, tc = cells[:, state["fcols"]], cells[:, state["tcols"]]
        miss = None
        try:
            xb = fc.astype(np.float64)
            if np.isnan(xb).any():
                raise ValueError
        except (ValueError, OverflowError):
            xb = None
            miss = _missing_mask(fc)
        tmiss = _missing_mask(tc) if tc.shape[1] else np.zeros(tc.shape, dtype=bool)
        keep = None
        if skip_missing:
            drop = tmiss.any(axis=1) if miss is None else (miss.any(axis=1) | tmiss.any(axis=1))
            if drop.any():
                keep = ~drop
                state["skipped"] += int(drop.sum())
        elif (miss is not None and miss.any()) or tmiss.any():
            m = miss if (miss is not None and miss.any()) else None
            if m is not None:
                r, c = np.argwhere(m)[0]
                j = state["fcols"][c]
            else:
                r, c = np.argwhere(tmiss)[0]
                j = state["tcols"][c]
            raise ValueError("%s: %s: line %d, %s: missing value %r (pass skip_missing=True to drop rows with "
                             "missing values)" % (who, path, lines[r], _col_label(j, names), str(cells[r, j])))
        if keep is not None:
            fc, tc = fc[keep], tc[keep]
            lines = [ln for ln, k in zip(lines, keep) if k]
        if xb is None:
            try:
                xb = fc.astype(np.float64)
            except (ValueError, OverflowError):
                for r in range(fc.shape[0]):  # error path only: find the first bad cell
                    for c in range(fc.shape[1]):
                        if not _is_number(fc[r, c]):
                            raise ValueError("%s: %s: line %d, %s: cannot parse %r as a number" % (
                                who, path, lines[r], _col_label(state["fcols"][c], names), str(fc[r, c]))) from None
                raise
        elif keep is not None:
            xb = xb[keep]
        x_parts.append(xb.astype(dt))
        t_parts.append(tc)
        state["rows"] += xb.shape[0]

    try:
        with _open_text(path) as f:
            reader = csv.reader(f, delimiter=delimiter)
            block, lines, started = [], [], False
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if not started:
                    started = True
                    if setup(row):
                        continue
                block.append(row)
                lines.append(reader.line_num)
                if len(block) >= _CSV_BLOCK:
                    flush(block, lines)
                    block, lines = [], []
            if block:
                flush(block, lines)
    except csv.Error as exc:
        raise ValueError("%s: %s: malformed CSV near line %d: %s" % (who, path, reader.line_num, exc)) from None
    except UnicodeDecodeError as exc:
        raise ValueError("%s: %s: not UTF-8 text (%s)" % (who, path, exc)) from None
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError("%s: %s: cannot read the file (%s)" % (who, path, exc)) from None

    if state["width"] is None:
        raise ValueError("%s: %s: the file is empty (no rows)" % (who, path))
    if state["rows"] == 0:
        if state["skipped"]:
            raise ValueError("%s: %s: every one of the %d data rows has a missing value" % (
                who, path, state["skipped"]))
        raise ValueError("%s: %s: no data rows (only a header)" % (who, path))
    X = np.ascontiguousarray(np.concatenate(x_parts, axis=0))
    y = None
    if state["tcols"]:
        tc = np.char.strip(np.concatenate(t_parts, axis=0))
        try:
            y = tc.astype(np.int64)
        except (ValueError, OverflowError):
            try:
                y = tc.astype(np.float64).astype(dt)
            except (ValueError, OverflowError):
                y = tc.astype(str)
        y = np.ascontiguousarray(y if state["many"] else y[:, 0])
    if return_names:
        names = state["names"]
        return X, y, (None if names is None else [names[j] for j in state["fcols"]])
    return X, y


def load_numpy(path, target=None, *, features=None, dtype="float32"):
    """Read ``(X, y)`` from a ``.npy`` or ``.npz`` file (``np.load`` with ``allow_pickle=False``: object
    arrays are refused, so an untrusted file cannot run code).

    - ``.npy``: one array. ``target=None`` (default) returns it as ``X`` (any shape, e.g. images) and
      ``y=None``; a column index (or a list of them) splits a 2-D array into feature columns and target
      column(s).
    - ``.npz``: ``target`` is a member name (``y`` is that array, as stored) or a column index of ``X``;
      ``features`` names the ``X`` member (default: ``"X"``, ``"x"``, ``"data"`` or ``"features"`` if present,
      else the only member besides the target).

    ``X`` is converted to ``dtype`` (``"float32"`` default, or ``"float64"``), C-contiguous. A target column
    taken out of ``X`` keeps the file's dtype. Raises ``ValueError`` naming the file for: not a NumPy file,
    object arrays, non-numeric features, unknown members, bad column indices, and different sample counts
    of ``X`` and ``y``.
    """
    who = "load_numpy"
    path = os.fspath(path)
    dt = _float_dtype(dtype, who)
    if not os.path.exists(path):
        raise FileNotFoundError("%s: %s: no such file" % (who, path))
    try:
        obj = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError("%s: %s: not a readable .npy/.npz file (%s)" % (who, path, exc)) from None

    def member(npz, name):
        try:
            return npz[name]
        except ValueError as exc:  # object arrays need pickle
            raise ValueError("%s: %s: member %r: %s" % (who, path, name, exc)) from None
        except Exception as exc:  # corrupt zip member
            raise ValueError("%s: %s: member %r cannot be read (%s)" % (who, path, name, exc)) from None

    y = None
    if isinstance(obj, np.lib.npyio.NpzFile):
        with obj:
            files = list(obj.files)
            tname = target if isinstance(target, str) else None
            if tname is not None and tname not in files:
                raise ValueError("%s: %s: no member %r; members: %s" % (who, path, tname, files))
            if features is None:
                for cand in ("X", "x", "data", "features"):
                    if cand in files:
                        features = cand
                        break
                else:
                    rest = [f for f in files if f != tname]
                    if len(rest) != 1:
                        raise ValueError("%s: %s: cannot tell which member holds the features among %s; pass "
                                         "features=<name>" % (who, path, files))
                    features = rest[0]
            elif features not in files:
                raise ValueError("%s: %s: no member %r; members: %s" % (who, path, features, files))
            arr = member(obj, features)
            if tname is not None:
                y = member(obj, tname)
                target = None
    else:
        if isinstance(target, str):
            raise ValueError("%s: %s: a .npy file has no column names; give the target as a column index" % (
                who, path))
        if features is not None:
            raise ValueError("%s: %s: features= names an .npz member; this is a .npy file" % (who, path))
        arr = obj
    if arr.dtype.kind not in "biuf":
        raise ValueError("%s: %s: features must be numeric, got dtype %s" % (who, path, arr.dtype))
    if target is not None:
        if arr.ndim != 2:
            raise ValueError("%s: %s: a target column needs a 2-D array, got shape %r" % (who, path, arr.shape))
        tcols, many = _columns(target, None, arr.shape[1], path, who)
        fcols = [j for j in range(arr.shape[1]) if j not in set(tcols)]
        y = np.ascontiguousarray(arr[:, tcols] if many else arr[:, tcols[0]])
        arr = arr[:, fcols]
    if y is not None:
        if y.ndim == 0 or arr.ndim == 0 or y.shape[0] != arr.shape[0]:
            raise ValueError("%s: %s: X has shape %r but y has shape %r (different sample counts)" % (
                who, path, arr.shape, y.shape))
    X = np.ascontiguousarray(arr, dtype=dt)
    return X, y
