"""Target transformers: one-hot, soft 0.1/0.9 targets, label encoding, target scaling."""
import numbers

import numpy as np

from ._base import (Transformer, _affine, _fit_int, _float_param, _int_param, _map_rows, _moments, _numeric, _safe_scale)


def _label_vector(y, who):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{who}: labels must be 1-D (n_samples,), got shape {y.shape}")
    return y


def _class_indices(y, who):
    """int64 (N,) from integer-valued labels."""
    y = _label_vector(y, who)
    if y.dtype.kind not in "biuf":
        if y.dtype.kind == "O":
            try:
                y = y.astype(np.float64)
            except (TypeError, ValueError):
                y = None
        else:
            y = None
        if y is None:
            raise TypeError(f"{who}: labels must be integers 0..K-1; encode other labels with LabelEncoder "
                            "first (Pipeline([LabelEncoder(), OneHot()]))")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or (y != np.round(y)).any():
            bad = y[~np.isfinite(y) | (y != np.round(y))][0]
            raise ValueError(f"{who}: labels must be integers 0..K-1, got {bad!r}; encode other labels with "
                             "LabelEncoder first")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise ValueError(f"{who}: labels must be >= 0, got {int(y.min())}")
    return y


class OneHot(Transformer):
    """Integer class labels ``(N,)`` (0..K-1) -> one-hot rows ``(N, K)`` float32; inverse: argmax (int64).

    ``n_classes``: ``None`` (default) learns ``K = max(label) + 1`` in ``fit``; an int fixes it, and then the
    transformer is usable without ``fit``. Labels outside 0..K-1 raise ``ValueError``; string labels need
    :class:`LabelEncoder` first. Inputs of shape ``(N, 1)`` are accepted as ``(N,)``.
    """

    _low, _high = 0.0, 1.0

    def __init__(self, n_classes=None):
        super().__init__()
        who = type(self).__name__
        self.n_classes = None if n_classes is None else _int_param("n_classes", n_classes, 1, who)
        if self.n_classes is not None:
            self.n_classes_ = self.n_classes
            self._fitted = True

    def get_params(self):
        return {"n_classes": self.n_classes}

    def fit(self, y):
        who = f"{type(self).__name__}.fit"
        y = _class_indices(y, who)
        if y.size == 0 and self.n_classes is None:
            raise ValueError(f"{who}: need at least 1 label to learn n_classes")
        k = int(y.max()) + 1 if self.n_classes is None else self.n_classes
        if y.size and int(y.max()) >= k:
            raise ValueError(f"{who}: label {int(y.max())} >= n_classes={k}")
        self.n_classes_ = k
        self._fitted = True
        return self

    def transform(self, y):
        """float32 ``(N, n_classes_)``: ``high`` at each label, ``low`` elsewhere."""
        who = f"{type(self).__name__}.transform"
        self._check_fitted("transform")
        y = _class_indices(y, who)
        if y.size and int(y.max()) >= self.n_classes_:
            raise ValueError(f"{who}: label {int(y.max())} is outside 0..{self.n_classes_ - 1} (n_classes_="
                             f"{self.n_classes_})")
        out = np.full((y.size, self.n_classes_), self._low, dtype=np.float32)
        out[np.arange(y.size), y] = self._high
        return out

    def inverse_transform(self, Y):
        """int64 ``(N,)``: the argmax of each row of ``Y`` ``(N, n_classes_)`` (scores or probabilities)."""
        who = f"{type(self).__name__}.inverse_transform"
        self._check_fitted("inverse_transform")
        Y = _numeric(Y, who, "Y")
        if Y.ndim != 2:
            raise ValueError(f"{who}: Y must be 2-D (n_samples, n_classes), got shape {Y.shape}")
        self._check_width(Y.shape[1], Y.shape, "inverse_transform", self.n_classes_, what="Y")
        return np.argmax(Y, axis=1).astype(np.int64)

    def _fit_config(self):
        return {"n_classes": int(self.n_classes_)}

    def _expected_shapes(self, cfg):
        k = _fit_int(cfg, "n_classes", 1)
        if self.n_classes is not None and k != self.n_classes:
            raise ValueError(f"fitted n_classes {k} != parameter {self.n_classes}")
        return {}

    def _restore(self, cfg, arrays):
        self.n_classes_ = cfg["n_classes"]


class SoftTargets(OneHot):
    """One-hot rows with ``low`` (default 0.1) and ``high`` (default 0.9) instead of 0 and 1: the classic
    targets for sigmoid outputs, which never saturate them (LeCun et al., "Efficient BackProp").
    Inverse: argmax. ``n_classes`` as in :class:`OneHot`."""

    def __init__(self, low=0.1, high=0.9, n_classes=None):
        super().__init__(n_classes=n_classes)
        self._low = _float_param("low", low, "SoftTargets")
        self._high = _float_param("high", high, "SoftTargets")
        if not self._low < self._high:
            raise ValueError(f"SoftTargets: needs low < high, got low={low!r}, high={high!r}")

    @property
    def low(self):
        return self._low

    @property
    def high(self):
        return self._high

    def get_params(self):
        return {"low": self._low, "high": self._high, "n_classes": self.n_classes}


_LABEL_KINDS = {"b": "bool", "i": "int", "u": "int", "f": "float", "U": "str"}


def _label_array(y, who):
    y = _label_vector(y, who)
    if y.dtype.kind == "O":
        vals = y.tolist()
        if all(isinstance(v, str) for v in vals):
            y = np.array(vals, dtype=str) if vals else np.array([], dtype=str)
        elif all(isinstance(v, (numbers.Real, np.bool_)) for v in vals):
            y = np.array(vals)
        else:
            kinds = sorted({type(v).__name__ for v in vals})
            raise TypeError(f"{who}: labels must all be strings or all be numbers, got {kinds}")
    elif y.dtype.kind == "S":
        y = np.char.decode(y, "utf-8")
    if y.dtype.kind not in _LABEL_KINDS:
        raise TypeError(f"{who}: cannot encode labels of dtype {y.dtype}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"{who}: labels contain NaN or Inf")
    return y


class LabelEncoder(Transformer):
    """Arbitrary class labels (strings, integers, floats, booleans) -> int64 indices 0..K-1 and back.

    ``fit`` sorts the distinct labels into ``classes_`` (``np.unique``); ``transform`` maps labels to their
    positions (unknown labels raise ``ValueError`` naming them); ``inverse_transform`` maps indices back to
    labels (an array of the classes' dtype). The classes go into the JSON config (no arrays), so they survive
    a model file. Labels may be ``(N,)`` or ``(N, 1)``; object arrays must be all strings or all numbers.
    """

    def fit(self, y):
        y = _label_array(y, "LabelEncoder.fit")
        if y.size == 0:
            raise ValueError("LabelEncoder.fit: need at least 1 label")
        self.classes_ = np.unique(y)
        self._fitted = True
        return self

    @property
    def n_classes_(self):
        self._check_fitted("n_classes_")
        return int(self.classes_.size)

    def transform(self, y):
        """int64 ``(N,)`` indices into ``classes_``."""
        self._check_fitted("transform")
        y = _label_array(y, "LabelEncoder.transform")
        c = self.classes_
        if (y.dtype.kind == "U") != (c.dtype.kind == "U"):
            raise ValueError(f"LabelEncoder.transform: fitted on {_LABEL_KINDS[c.dtype.kind]} labels, got "
                             f"{_LABEL_KINDS[y.dtype.kind]} labels")
        idx = np.searchsorted(c, y)
        found = c[np.minimum(idx, c.size - 1)] == y
        if not found.all():
            unknown = np.unique(y[~found])
            raise ValueError(f"LabelEncoder.transform: {unknown.size} unknown label(s) "
                             f"{unknown[:5].tolist()}{' ...' if unknown.size > 5 else ''}; fitted classes: "
                             f"{c[:10].tolist()}{' ...' if c.size > 10 else ''}")
        return idx.astype(np.int64)

    def inverse_transform(self, idx):
        """Labels ``classes_[idx]`` for int indices ``(N,)`` (use ``OneHot.inverse_transform`` or argmax on
        scores first)."""
        self._check_fitted("inverse_transform")
        idx = _class_indices(idx, "LabelEncoder.inverse_transform")
        if idx.size and int(idx.max()) >= self.classes_.size:
            raise ValueError(f"LabelEncoder.inverse_transform: index {int(idx.max())} is outside "
                             f"0..{self.classes_.size - 1}")
        return self.classes_[idx]

    def _fit_config(self):
        c = self.classes_
        return {"kind": _LABEL_KINDS[c.dtype.kind], "dtype": c.dtype.str if c.dtype.kind != "U" else "str",
                "classes": c.tolist()}

    def _expected_shapes(self, cfg):
        kind, classes = cfg["kind"], cfg["classes"]
        if kind not in ("bool", "int", "float", "str") or not isinstance(classes, list) or not classes:
            raise ValueError("kind must be bool/int/float/str and classes a non-empty list")
        return {}

    def _restore(self, cfg, arrays):
        kind, classes = cfg["kind"], cfg["classes"]
        types = {"bool": (bool,), "int": (int,), "float": (int, float), "str": (str,)}[kind]
        if not all(isinstance(v, types) and (kind in ("bool", "int") or not isinstance(v, bool))
                   for v in classes):
            raise ValueError(f"classes are not all of kind {kind!r}")
        if kind == "str":
            c = np.array(classes, dtype=str)
        else:
            dt = np.dtype(cfg.get("dtype", {"bool": "?", "int": "<i8", "float": "<f8"}[kind]))
            if _LABEL_KINDS.get(dt.kind) != kind:
                raise ValueError(f"dtype {dt} does not match kind {kind!r}")
            c = np.array(classes, dtype=dt)
            if kind == "float" and not np.isfinite(c).all():
                raise ValueError("classes contain NaN or Inf")
        if c.size > 1 and not (c[1:] > c[:-1]).all():
            raise ValueError("classes must be sorted and distinct")
        self.classes_ = c


class TargetScaler(Transformer):
    """Standardise regression targets per column: ``(y - mean_) / scale_`` (population std; constant columns
    only centred), and ``inverse_transform`` for the model's predictions.

    ``y``: ``(N,)`` or ``(N, T)``. Transforms keep the given shape; with one target column ``(N,)`` and
    ``(N, 1)`` are both accepted (a model's ``(N, 1)`` predictions invert directly). Output float32.
    """

    _arrays = ("mean_", "scale_")

    def _targets(self, y, who, method=None):
        y = _numeric(y, who, "y")
        if y.ndim not in (1, 2):
            raise ValueError(f"{who}: y must be (N,) or (N, T), got shape {y.shape}")
        y2 = y.reshape(-1, 1) if y.ndim == 1 else y
        if method is not None:
            self._check_width(y2.shape[1], y.shape, method, self.n_targets_, what="y")
        return y2, y.shape

    def fit(self, y):
        y2, _ = self._targets(y, "TargetScaler.fit")
        _, mean, var = _moments(y2, "TargetScaler.fit")
        self.mean_, self.scale_ = mean, _safe_scale(mean, var)
        self.n_targets_ = y2.shape[1]
        self._fitted = True
        return self

    def transform(self, y):
        self._check_fitted("transform")
        y2, shape = self._targets(y, "TargetScaler.transform", "transform")
        m, s = self.mean_, self.scale_
        return _map_rows(y2, _affine(m, 1.0 / s), y2.shape[1], "TargetScaler.transform", "y").reshape(shape)

    def inverse_transform(self, y):
        self._check_fitted("inverse_transform")
        y2, shape = self._targets(y, "TargetScaler.inverse_transform", "inverse_transform")
        m, s = self.mean_, self.scale_
        return _map_rows(y2, _affine(None, s, m), y2.shape[1], "TargetScaler.inverse_transform",
                         "y").reshape(shape)

    def _fit_config(self):
        return {"n_targets": int(self.n_targets_)}

    def _expected_shapes(self, cfg):
        t = _fit_int(cfg, "n_targets", 1)
        return {"mean_": (t,), "scale_": (t,)}

    def _restore(self, cfg, arrays):
        if not (arrays["scale_"] > 0).all():
            raise ValueError("scale_ must be positive")
        self.mean_, self.scale_ = arrays["mean_"], arrays["scale_"]
        self.n_targets_ = cfg["n_targets"]


# ----------------------------------------------------------------------------------------------------------
# pipeline
# ----------------------------------------------------------------------------------------------------------
