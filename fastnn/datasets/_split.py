"""Seeded, optionally stratified splits of ``(X, y)``: ``train_test_split`` and ``validation_split``; part of
:mod:`fastnn.datasets`."""
import numpy as np


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

