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
__all__ = ["read_idx", "write_idx", "fashion_mnist", "mnist", "digits", "train_test_split", "clear_cache",
           "FASHION_MNIST_SYSTEM_DIR", "validation_split", "load_csv", "load_numpy"]

#: Where Debian's ``dataset-fashion-mnist`` package installs the four gzip IDX files. :func:`fashion_mnist`
#: reads it from this package at each call, so rebinding ``fastnn.datasets.FASHION_MNIST_SYSTEM_DIR`` works.
FASHION_MNIST_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"

from ._idx import read_idx, write_idx  # noqa: E402
from ._named import _CACHE, clear_cache, digits, fashion_mnist, mnist  # noqa: E402,F401
from ._split import train_test_split, validation_split  # noqa: E402
from ._tabular import CSV_MISSING, load_csv, load_numpy  # noqa: E402,F401
