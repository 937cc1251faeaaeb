"""Preprocessing: fit on the training data, apply to any data, save with the model (``fastnn.preprocessing``).

Every transformer has ``fit(X) -> self``, ``transform(X)``, ``fit_transform(X)``, ``inverse_transform(Y)``
and ``get_state() -> (config, arrays)`` / ``cls.from_state(config, arrays)``: ``config`` is a JSON-able dict
(``json.dumps`` works on it), ``arrays`` a dict of name -> float64/int64 ndarray, so a model file (``.npz``
plus JSON, see :mod:`fastnn.io`) stores a fitted transformer without pickle. ``from_state`` validates every
value and array shape, so a tampered file raises ``ValueError`` instead of producing garbage.
:func:`from_state` rebuilds any transformer of this module (a whitelist) from its state.

Features (``X``: ``(N, D)``, or ``(N, ...)`` such as NCHW images, flattened to ``N x prod(...)`` features):

- :class:`Standardize` ``(per_channel=None)``: zero mean, unit variance per feature, or per image channel with
  ``per_channel=(C, H, W)``.
- :class:`Center`: subtract the per-feature mean.
- :class:`MinMaxScale` ``(feature_range=(0, 1))``.
- :class:`PCA` ``(n_components=None, whiten=False)``: projection on the principal components; a count or a
  fraction of explained variance.
- :class:`PCAWhitening` ``(n_components=None, epsilon=1e-5)``: PCA, each component divided by
  ``sqrt(variance + epsilon)``.
- :class:`ZCAWhitening` ``(epsilon=1e-5)``: ``W = U diag(1 / sqrt(s + epsilon)) U^T`` (symmetric), the
  whitening that keeps the data closest to the original.

Targets (``y``):

- :class:`OneHot` ``(n_classes=None)``: integer labels -> one-hot float32 rows; inverse: argmax.
- :class:`SoftTargets` ``(low=0.1, high=0.9, n_classes=None)``: one-hot rows with ``low``/``high`` (the classic
  targets for sigmoid outputs); inverse: argmax.
- :class:`LabelEncoder`: arbitrary labels (strings, numbers) -> 0..K-1 and back.
- :class:`TargetScaler`: regression targets standardised per column; inverse on predictions.

:class:`Pipeline` ``([step, ...])`` chains them (fit and transform in order, inverse in reverse order).

Conventions (all classes):

- Statistics are computed in float64, in blocks of rows (bounded extra memory, a fixed summation order, so the
  result is deterministic); outputs of feature and regression-target transforms are float32 C-contiguous
  arrays. Integer and boolean inputs are converted.
- Variances: :class:`Standardize`, :class:`TargetScaler` use the population variance (``ddof=0``, as
  ``np.std``), so transformed training data has ``np.std == 1``; :class:`PCA` and the whitenings use the
  sample covariance (``ddof=1``, as ``np.cov``), so whitened training data has ``np.cov == I``.
- Constant (zero-variance) features are *left unscaled*: :class:`Standardize`/:class:`TargetScaler` only centre
  them (scale 1), :class:`MinMaxScale` maps them to ``feature_range[0]``; principal directions of zero variance
  (with ``epsilon=0``) are not divided. A feature counts as constant when its standard deviation is 0 or below
  ``1e-12 * |mean|`` (rounding noise of a constant column).
- Errors: calling ``transform``/``inverse_transform`` before ``fit`` raises :class:`NotFittedError` (a
  ``ValueError``); a width other than the fitted one, NaN or Inf (with the first bad row and column), a 1-D
  ``X`` for a feature transformer, or too few samples raise ``ValueError``; non-numeric features raise
  ``TypeError``.
"""
import numbers

import numpy as np

__all__ = ["Transformer", "NotFittedError", "Standardize", "Center", "MinMaxScale", "PCA", "PCAWhitening",
           "ZCAWhitening", "OneHot", "SoftTargets", "LabelEncoder", "TargetScaler", "Pipeline", "from_state",
           "STATE_VERSION"]

#: Version of the ``get_state`` layout; ``from_state`` refuses newer ones.
STATE_VERSION = 1

_BLOCK_ROWS = 4096      # at most this many rows per block for statistics and transforms
_BLOCK_BYTES = 1 << 20  # and about this much float64 scratch per block
_CONST_REL = 1e-12      # std <= _CONST_REL * |mean| counts as a constant feature


class NotFittedError(ValueError, AttributeError):
    """A transformer was used before ``fit``."""


# ----------------------------------------------------------------------------------------------------------
# input checks and blocked numerics
# ----------------------------------------------------------------------------------------------------------

def _numeric(X, who, what="X"):
    X = np.asarray(X)
    if X.dtype.kind in "biuf":
        return X
    if X.dtype.kind == "O":
        try:
            return X.astype(np.float64)
        except (TypeError, ValueError):
            pass
    hint = " (encode string labels with LabelEncoder first)" if X.dtype.kind in "OUS" else ""
    raise TypeError(f"{who}: {what} must be numeric, got dtype {X.dtype}{hint}")


def _features(X, who):
    """(2-D view or copy (N, D), original shape)."""
    X = _numeric(X, who)
    if X.ndim < 2:
        raise ValueError(f"{who}: X must be 2-D (n_samples, n_features) or (n_samples, ...), got shape "
                         f"{X.shape}; use X.reshape(-1, 1) for a single feature")
    d = 1
    for s in X.shape[1:]:
        d *= int(s)
    return X.reshape(X.shape[0], d), X.shape


def _fast(X2, per_channel):
    """True when the compiled one-pass kernels apply: per-feature statistics of C-contiguous float32 rows."""
    return per_channel is None and X2.dtype == np.float32 and X2.flags.c_contiguous and X2.shape[0] > 0


def _block_rows(d):
    """Rows per block: about 1 MiB of float64 scratch (stays in cache), at most _BLOCK_ROWS."""
    return max(1, min(_BLOCK_ROWS, _BLOCK_BYTES // (8 * max(d, 1))))


def _blocks(n, d=1):
    step = _block_rows(d)
    for a in range(0, n, step):
        yield a, min(n, a + step)


def _check_finite(xb, a, who, what):
    if not np.isfinite(xb).all():
        r, c = np.argwhere(~np.isfinite(xb))[0]
        raise ValueError(f"{who}: {what} contains NaN or Inf ({xb[r, c]!r} at row {a + r}, column {c}); "
                         "clean or impute the data first")


def _block64(X2, a, b, who, what="X"):
    xb = np.asarray(X2[a:b], dtype=np.float64)
    _check_finite(xb, a, who, what)
    return xb


def _map_rows(X2, fn, width, who, what="X"):
    """float32 (N, width) = fn(block) for each block of rows; ``block`` is a float64 scratch copy that ``fn``
    may overwrite (and return)."""
    n, d = X2.shape
    out = np.empty((n, width), dtype=np.float32)
    scratch = np.empty((_block_rows(d), d))
    for a, b in _blocks(n, d):
        xb = scratch[:b - a]
        np.copyto(xb, X2[a:b], casting="unsafe")
        _check_finite(xb, a, who, what)
        out[a:b] = fn(xb)
    return out


def _affine(sub, mul=None, add=None):
    """In-place block function ``((x - sub) * mul) + add`` (any of them None: skipped)."""
    def fn(xb):
        if sub is not None:
            xb -= sub
        if mul is not None:
            xb *= mul
        if add is not None:
            xb += add
        return xb
    return fn


def _moments(X2, who, groups=None, min_samples=1):
    """(count, mean, population variance) per feature, or per group with ``groups=(C, HW)``."""
    n = X2.shape[0]
    if n < min_samples:
        raise ValueError(f"{who}: need at least {min_samples} sample{'s' if min_samples > 1 else ''}, "
                         f"got {n}")
    if groups is None:
        def red(xb):
            return xb.sum(axis=0)
        count = n
    else:
        c, hw = groups

        def red(xb):
            return xb.reshape(xb.shape[0], c, hw).sum(axis=(0, 2))
        count = n * hw
    total = None
    for a, b in _blocks(n, X2.shape[1]):
        s = red(_block64(X2, a, b, who))
        total = s if total is None else total + s
    mean = total / count
    mexp = mean if groups is None else np.repeat(mean, groups[1])
    sq = None
    for a, b in _blocks(n, X2.shape[1]):
        d = _block64(X2, a, b, who) - mexp
        s = red(d * d)
        sq = s if sq is None else sq + s
    return count, mean, sq / count


def _safe_scale(mean, var):
    std = np.sqrt(var)
    const = (std == 0) | (std <= _CONST_REL * np.abs(mean))
    return np.where(const, 1.0, std)


def _covariance(X2, mean, who):
    """Sample covariance (ddof=1) of the rows of X2 about ``mean``, float64 (D, D), symmetric."""
    d = X2.shape[1]
    cov = np.zeros((d, d))
    for a, b in _blocks(X2.shape[0]):  # large blocks: fewer D x D accumulations
        xc = _block64(X2, a, b, who) - mean
        cov += xc.T @ xc
    cov /= X2.shape[0] - 1
    return 0.5 * (cov + cov.T)


def _eig_desc(cov):
    """Eigenvalues (descending, >= 0) and eigenvectors (columns) of a symmetric matrix, with a fixed sign:
    each vector's largest-magnitude entry is positive."""
    s, u = np.linalg.eigh(cov)
    s, u = s[::-1].copy(), u[:, ::-1].copy()
    np.maximum(s, 0.0, out=s)
    return s, _fix_signs(u)


def _fix_signs(u):
    if u.size:
        idx = np.argmax(np.abs(u), axis=0)
        sign = np.sign(u[idx, np.arange(u.shape[1])])
        sign[sign == 0] = 1.0
        u *= sign
    return u


def _inv_sqrt_or_one(vals):
    """1/sqrt(vals), with directions of (numerically) zero value left unscaled (1)."""
    vals = np.asarray(vals, dtype=np.float64)
    tol = (vals.max() if vals.size else 0.0) * max(vals.size, 1) * np.finfo(np.float64).eps
    ok = vals > tol
    out = np.ones_like(vals)
    out[ok] = 1.0 / np.sqrt(vals[ok])
    return out


def _int_param(name, v, lo=None, who=""):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise ValueError(f"{who}: {name} must be an integer, got {v!r}")
    v = int(v)
    if lo is not None and v < lo:
        raise ValueError(f"{who}: {name} must be >= {lo}, got {v}")
    return v


def _float_param(name, v, who, lo=None):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v):
        raise ValueError(f"{who}: {name} must be a finite number, got {v!r}")
    v = float(v)
    if lo is not None and v < lo:
        raise ValueError(f"{who}: {name} must be >= {lo}, got {v}")
    return v


# ----------------------------------------------------------------------------------------------------------
# base class
# ----------------------------------------------------------------------------------------------------------

class Transformer:
    """Base class: ``fit``/``transform``/``fit_transform``/``inverse_transform`` and the state protocol.

    Subclasses set ``_arrays`` (names of the fitted float64 arrays), implement ``fit``, ``transform``,
    ``get_params`` (JSON constructor arguments), ``_fit_config`` (JSON fitted scalars) and
    ``_expected_shapes(fit_config)`` plus ``_restore(fit_config, arrays)`` for ``from_state``.
    """

    _arrays = ()

    def __init__(self):
        self._fitted = False

    # -- protocol -------------------------------------------------------------------------------------------
    @property
    def fitted(self):
        return self._fitted

    def fit(self, X):  # pragma: no cover - abstract
        raise NotImplementedError

    def transform(self, X):  # pragma: no cover - abstract
        raise NotImplementedError

    def inverse_transform(self, Y):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} has no inverse_transform")

    def fit_transform(self, X):
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def get_params(self):
        return {}

    def _fit_config(self):
        return {}

    def _expected_shapes(self, fit_config):
        return {}

    def _restore(self, fit_config, arrays):
        for k, v in arrays.items():
            setattr(self, k, v)

    def _check_fitted(self, method):
        if not self._fitted:
            raise NotFittedError(f"{type(self).__name__}.{method}: not fitted yet; call fit() on the training "
                                 "data first")

    def _check_width(self, d, shape, method, expected, what="X"):
        if d != expected:
            raise ValueError(f"{type(self).__name__}.{method}: {what} has {d} features per sample (shape "
                             f"{shape}), but the transformer was fitted on {expected}")

    # -- state ----------------------------------------------------------------------------------------------
    def get_state(self):
        """``(config, arrays)``: JSON-able dict and dict of float64/int64 arrays (copies)."""
        config = {"class": type(self).__name__, "version": STATE_VERSION, "params": self.get_params(),
                  "fitted": bool(self._fitted)}
        arrays = {}
        if self._fitted:
            config["fit"] = self._fit_config()
            arrays = {k: np.array(getattr(self, k), copy=True) for k in self._arrays}
        return config, arrays

    @classmethod
    def from_state(cls, config, arrays=None):
        """Rebuild from ``get_state()``'s output (after a JSON and ``np.savez``/``np.load`` round trip).
        Raises ``ValueError`` for a wrong class, a newer version, bad parameters, or missing, extra,
        mis-shaped, non-numeric or non-finite arrays."""
        who = f"{cls.__name__}.from_state"
        params, fitted = _check_config(config, cls.__name__, who)
        try:
            obj = cls(**params)
        except TypeError as exc:
            raise ValueError(f"{who}: bad params {params!r}: {exc}") from None
        arrays = {} if arrays is None else dict(arrays)
        if not fitted:
            if arrays:
                raise ValueError(f"{who}: unfitted state carries arrays {sorted(arrays)}")
            return obj
        fit_cfg = config.get("fit")
        if not isinstance(fit_cfg, dict):
            raise ValueError(f"{who}: fitted state without a 'fit' dict")
        try:
            shapes = obj._expected_shapes(fit_cfg)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{who}: bad fit config {fit_cfg!r}: {exc}") from None
        got = {}
        for name in obj._arrays:
            if name not in arrays:
                raise ValueError(f"{who}: array {name!r} missing")
            a = np.asarray(arrays[name])
            if a.dtype.kind not in "iuf":
                raise ValueError(f"{who}: array {name!r} has dtype {a.dtype}, expected float")
            if a.shape != tuple(shapes[name]):
                raise ValueError(f"{who}: array {name!r} has shape {a.shape}, expected {tuple(shapes[name])}")
            a = a.astype(np.float64)
            if not np.isfinite(a).all():
                raise ValueError(f"{who}: array {name!r} contains NaN or Inf")
            got[name] = a
        extra = sorted(set(arrays) - set(obj._arrays))
        if extra:
            raise ValueError(f"{who}: unexpected arrays {extra}")
        try:
            obj._restore(fit_cfg, got)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{who}: bad fit config {fit_cfg!r}: {exc}") from None
        obj._fitted = True
        return obj

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()))


def _check_config(config, name, who):
    if not isinstance(config, dict):
        raise ValueError(f"{who}: config must be a dict, got {type(config).__name__}")
    if config.get("class") != name:
        raise ValueError(f"{who}: state is for {config.get('class')!r}, not {name!r}")
    v = config.get("version")
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{who}: bad state version {v!r}")
    if v > STATE_VERSION:
        raise ValueError(f"{who}: state version {v} is newer than this fastnn understands ({STATE_VERSION}); "
                         "upgrade fastnn")
    params = config.get("params", {})
    if not isinstance(params, dict):
        raise ValueError(f"{who}: params must be a dict")
    fitted = config.get("fitted", False)
    if not isinstance(fitted, bool):
        raise ValueError(f"{who}: fitted must be true or false")
    return params, fitted


def _fit_int(cfg, key, lo=0):
    v = cfg[key]
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ValueError(f"{key} must be an integer >= {lo}, got {v!r}")
    return v


# ----------------------------------------------------------------------------------------------------------
# scaling
# ----------------------------------------------------------------------------------------------------------

class Standardize(Transformer):
    """Zero mean and unit variance: ``(x - mean) / std``.

    - ``per_channel=None`` (default): statistics per feature (column of the flattened ``(N, D)`` input).
    - ``per_channel=(C, H, W)``: images, NCHW, given as ``(N, C, H, W)`` or flattened ``(N, C*H*W)``; one mean
      and std per channel over all samples and pixels (``mean_``, ``scale_`` of shape ``(C,)``).

    ``std`` is the population standard deviation (``ddof=0``); constant features (or channels) are only
    centred (``scale_ = 1``). Fitted: ``mean_``, ``scale_`` (float64), ``n_features_in_``. Output float32 of
    the input's shape; ``inverse_transform`` gives ``y * scale + mean``.
    """

    _arrays = ("mean_", "scale_")

    def __init__(self, per_channel=None):
        super().__init__()
        if per_channel is not None:
            if not isinstance(per_channel, (tuple, list)) or len(per_channel) != 3:
                raise ValueError(f"Standardize: per_channel must be None or (C, H, W), got {per_channel!r}")
            per_channel = tuple(_int_param("per_channel", v, 1, "Standardize") for v in per_channel)
        self.per_channel = per_channel

    def get_params(self):
        return {"per_channel": None if self.per_channel is None else list(self.per_channel)}

    def _groups(self):
        if self.per_channel is None:
            return None
        c, h, w = self.per_channel
        return c, h * w

    def fit(self, X):
        X2, shape = _features(X, "Standardize.fit")
        if self.per_channel is not None:
            c, h, w = self.per_channel
            if X2.shape[1] != c * h * w:
                raise ValueError(f"Standardize.fit: per_channel={self.per_channel} needs (N, {c}, {h}, {w}) or "
                                 f"(N, {c * h * w}) input, got shape {shape}")
        if _fast(X2, self.per_channel):
            from ._config import get_num_threads
            from ._ext import _core

            try:   # one pass in C at memory bandwidth (float64 sums, shifted by the first row)
                mean, var = _core.col_moments(X2, get_num_threads())
            except ValueError as exc:
                raise ValueError(f"Standardize.fit: {exc}") from None
        else:
            _, mean, var = _moments(X2, "Standardize.fit", self._groups())
        self.mean_, self.scale_ = mean, _safe_scale(mean, var)
        self.n_features_in_ = X2.shape[1]
        self._prepare()
        self._fitted = True
        return self

    def _prepare(self):
        g = self._groups()
        if g is None:
            self._mean_f, self._scale_f = self.mean_, self.scale_
        else:
            self._mean_f, self._scale_f = np.repeat(self.mean_, g[1]), np.repeat(self.scale_, g[1])
        self._inv_f = 1.0 / self._scale_f

    def transform(self, X):
        """float32 ``(x - mean_) / scale_``, the input's shape."""
        self._check_fitted("transform")
        X2, shape = _features(X, "Standardize.transform")
        self._check_width(X2.shape[1], shape, "transform", self.n_features_in_)
        m, inv = self._mean_f, self._inv_f
        if _fast(X2, self.per_channel):
            from ._config import get_num_threads
            from ._ext import _core

            try:   # one pass in C: (x - mean) * (1 / scale) in float32
                out = _core.affine_cols(X2, m.astype(np.float32), inv.astype(np.float32), get_num_threads())
            except ValueError as exc:
                raise ValueError(f"Standardize.transform: {exc}") from None
            return out.reshape(shape)
        return _map_rows(X2, _affine(m, inv), X2.shape[1], "Standardize.transform").reshape(shape)

    def inverse_transform(self, Y):
        """float32 ``y * scale_ + mean_``, the input's shape."""
        self._check_fitted("inverse_transform")
        Y2, shape = _features(Y, "Standardize.inverse_transform")
        self._check_width(Y2.shape[1], shape, "inverse_transform", self.n_features_in_)
        m, s = self._mean_f, self._scale_f
        return _map_rows(Y2, _affine(None, s, m), Y2.shape[1], "Standardize.inverse_transform").reshape(shape)

    def _fit_config(self):
        return {"n_features_in": int(self.n_features_in_)}

    def _expected_shapes(self, cfg):
        d = _fit_int(cfg, "n_features_in", 1)
        if self.per_channel is not None:
            c, h, w = self.per_channel
            if d != c * h * w:
                raise ValueError(f"n_features_in {d} != C*H*W = {c * h * w}")
            return {"mean_": (c,), "scale_": (c,)}
        return {"mean_": (d,), "scale_": (d,)}

    def _restore(self, cfg, arrays):
        if not (arrays["scale_"] > 0).all():
            raise ValueError("scale_ must be positive")
        self.mean_, self.scale_ = arrays["mean_"], arrays["scale_"]
        self.n_features_in_ = cfg["n_features_in"]
        self._prepare()


class Center(Transformer):
    """Subtract the per-feature mean (``mean_``, float64 ``(D,)``); float32 output of the input's shape."""

    _arrays = ("mean_",)

    def fit(self, X):
        X2, _ = _features(X, "Center.fit")
        _, self.mean_, _ = _moments(X2, "Center.fit")
        self.n_features_in_ = X2.shape[1]
        self._fitted = True
        return self

    def transform(self, X):
        self._check_fitted("transform")
        X2, shape = _features(X, "Center.transform")
        self._check_width(X2.shape[1], shape, "transform", self.n_features_in_)
        m = self.mean_
        return _map_rows(X2, _affine(m), X2.shape[1], "Center.transform").reshape(shape)

    def inverse_transform(self, Y):
        self._check_fitted("inverse_transform")
        Y2, shape = _features(Y, "Center.inverse_transform")
        self._check_width(Y2.shape[1], shape, "inverse_transform", self.n_features_in_)
        m = self.mean_
        return _map_rows(Y2, _affine(None, None, m), Y2.shape[1], "Center.inverse_transform").reshape(shape)

    def _fit_config(self):
        return {"n_features_in": int(self.n_features_in_)}

    def _expected_shapes(self, cfg):
        return {"mean_": (_fit_int(cfg, "n_features_in", 1),)}

    def _restore(self, cfg, arrays):
        self.mean_ = arrays["mean_"]
        self.n_features_in_ = cfg["n_features_in"]


class MinMaxScale(Transformer):
    """Scale each feature linearly so the training minimum maps to ``feature_range[0]`` and the maximum to
    ``feature_range[1]`` (default ``(0, 1)``).

    New data outside the training range lands outside ``feature_range`` (no clipping). A constant feature
    maps to ``feature_range[0]`` (its inverse gives back the constant). Fitted: ``data_min_``,
    ``data_max_`` (float64 ``(D,)``). Output float32 of the input's shape.
    """

    _arrays = ("data_min_", "data_max_")

    def __init__(self, feature_range=(0, 1)):
        super().__init__()
        if not isinstance(feature_range, (tuple, list)) or len(feature_range) != 2:
            raise ValueError(f"MinMaxScale: feature_range must be (low, high), got {feature_range!r}")
        lo = _float_param("feature_range[0]", feature_range[0], "MinMaxScale")
        hi = _float_param("feature_range[1]", feature_range[1], "MinMaxScale")
        if not lo < hi:
            raise ValueError(f"MinMaxScale: feature_range needs low < high, got {feature_range!r}")
        self.feature_range = (lo, hi)

    def get_params(self):
        return {"feature_range": list(self.feature_range)}

    def fit(self, X):
        X2, _ = _features(X, "MinMaxScale.fit")
        if X2.shape[0] < 1:
            raise ValueError("MinMaxScale.fit: need at least 1 sample, got 0")
        lo = hi = None
        for a, b in _blocks(X2.shape[0], X2.shape[1]):
            xb = _block64(X2, a, b, "MinMaxScale.fit")
            bl, bh = xb.min(axis=0), xb.max(axis=0)
            lo = bl if lo is None else np.minimum(lo, bl)
            hi = bh if hi is None else np.maximum(hi, bh)
        self.data_min_, self.data_max_ = lo, hi
        self.n_features_in_ = X2.shape[1]
        self._prepare()
        self._fitted = True
        return self

    def _prepare(self):
        rng = self.data_max_ - self.data_min_
        rng = np.where(rng > 0, rng, 1.0)
        lo, hi = self.feature_range
        self._scale = (hi - lo) / rng
        self._offset = lo - self.data_min_ * self._scale

    def transform(self, X):
        self._check_fitted("transform")
        X2, shape = _features(X, "MinMaxScale.transform")
        self._check_width(X2.shape[1], shape, "transform", self.n_features_in_)
        s, o = self._scale, self._offset
        return _map_rows(X2, _affine(None, s, o), X2.shape[1], "MinMaxScale.transform").reshape(shape)

    def inverse_transform(self, Y):
        self._check_fitted("inverse_transform")
        Y2, shape = _features(Y, "MinMaxScale.inverse_transform")
        self._check_width(Y2.shape[1], shape, "inverse_transform", self.n_features_in_)
        s, o = self._scale, self._offset
        return _map_rows(Y2, _affine(o, 1.0 / s), Y2.shape[1],
                         "MinMaxScale.inverse_transform").reshape(shape)

    def _fit_config(self):
        return {"n_features_in": int(self.n_features_in_)}

    def _expected_shapes(self, cfg):
        d = _fit_int(cfg, "n_features_in", 1)
        return {"data_min_": (d,), "data_max_": (d,)}

    def _restore(self, cfg, arrays):
        if not (arrays["data_max_"] >= arrays["data_min_"]).all():
            raise ValueError("data_max_ < data_min_")
        self.data_min_, self.data_max_ = arrays["data_min_"], arrays["data_max_"]
        self.n_features_in_ = cfg["n_features_in"]
        self._prepare()


# ----------------------------------------------------------------------------------------------------------
# PCA and whitening
# ----------------------------------------------------------------------------------------------------------

def _pca_basis(X2, who):
    """mean (D,), eigenvalues (m,) descending (sample variances, ddof=1) and components (m, D) orthonormal
    rows, m = D when D <= N (covariance + eigh) else N (SVD of the centred data); plus the total variance."""
    n, d = X2.shape
    _, mean, var = _moments(X2, who, min_samples=2)
    total = float(var.sum() * n / (n - 1))
    if d <= n:
        s, u = _eig_desc(_covariance(X2, mean, who))
        comps = u.T
    else:
        xc = np.empty((n, d))
        for a, b in _blocks(n, d):
            xc[a:b] = _block64(X2, a, b, who) - mean
        _, sv, vt = np.linalg.svd(xc, full_matrices=False)
        s = sv * sv / (n - 1)
        comps = _fix_signs(vt.T.copy()).T
    return mean, s, np.ascontiguousarray(comps), total


class PCA(Transformer):
    """Principal component analysis: ``y = (x - mean_) @ components_.T`` (``(N, k)`` float32).

    - ``n_components``: ``None`` (default) keeps all ``min(N, D)``; an int ``k`` keeps ``k``; a float in
      ``(0, 1)`` keeps the fewest components whose explained-variance ratios sum to at least that fraction.
    - ``whiten=False``: ``True`` divides each component by its standard deviation ``sqrt(explained_variance_)``
      (components of zero variance are left undivided); see also :class:`PCAWhitening`.

    Computed from the sample covariance (``ddof=1``) with ``numpy.linalg.eigh`` (LAPACK) when ``D <= N``, else
    from the SVD of the centred data. Each component's sign is fixed (its largest-magnitude entry is
    positive), so results are reproducible. Fitted: ``mean_`` (D,), ``components_`` (k, D) orthonormal rows,
    ``explained_variance_`` (k,) descending, ``explained_variance_ratio_`` (k,), ``n_components_``.
    ``inverse_transform`` maps ``(N, k)`` back to ``(N, D)`` (exact with all components).
    """

    _arrays = ("mean_", "components_", "explained_variance_", "explained_variance_ratio_")

    def __init__(self, n_components=None, whiten=False):
        super().__init__()
        self.n_components = self._check_nc(n_components)
        if not isinstance(whiten, (bool, np.bool_)):
            raise ValueError(f"{type(self).__name__}: whiten must be True or False, got {whiten!r}")
        self.whiten = bool(whiten)
        self.epsilon = 0.0

    def _check_nc(self, nc):
        who = type(self).__name__
        if nc is None:
            return None
        if isinstance(nc, bool):
            raise ValueError(f"{who}: n_components must be None, an int >= 1 or a float in (0, 1), got {nc!r}")
        if isinstance(nc, numbers.Integral):
            return _int_param("n_components", nc, 1, who)
        if isinstance(nc, numbers.Real) and 0.0 < float(nc) < 1.0:
            return float(nc)
        raise ValueError(f"{who}: n_components must be None, an int >= 1 or a float in (0, 1), got {nc!r}")

    def get_params(self):
        return {"n_components": self.n_components, "whiten": self.whiten}

    def fit(self, X):
        who = f"{type(self).__name__}.fit"
        X2, _ = _features(X, who)
        mean, s, comps, total = _pca_basis(X2, who)
        m = s.size
        ratio = s / total if total > 0 else np.zeros_like(s)
        nc = self.n_components
        if nc is None:
            k = m
        elif isinstance(nc, int):
            if nc > m:
                raise ValueError(f"{who}: n_components={nc} but at most min(n_samples, n_features) = {m} "
                                 "components exist")
            k = nc
        else:
            if total <= 0:
                raise ValueError(f"{who}: the data has zero variance; cannot select components by explained "
                                 "variance")
            k = int(np.searchsorted(np.cumsum(ratio), nc - 1e-12, side="left")) + 1
            k = min(k, m)
        self.mean_ = mean
        self.components_ = comps[:k].copy()
        self.explained_variance_ = s[:k].copy()
        self.explained_variance_ratio_ = ratio[:k].copy()
        self.n_components_ = k
        self.n_features_in_ = X2.shape[1]
        self._prepare()
        self._fitted = True
        return self

    def _prepare(self):
        if self.whiten:
            self._inv = _inv_sqrt_or_one(self.explained_variance_ + self.epsilon)
        else:
            self._inv = np.ones_like(self.explained_variance_)
        self._proj = self.components_.T * self._inv       # (D, k)
        self._back = self.components_ / self._inv[:, None]  # (k, D)

    def transform(self, X):
        """float32 ``(N, n_components_)``."""
        who = f"{type(self).__name__}.transform"
        self._check_fitted("transform")
        X2, shape = _features(X, who)
        self._check_width(X2.shape[1], shape, "transform", self.n_features_in_)
        m, p = self.mean_, self._proj
        return _map_rows(X2, lambda xb: _affine(m)(xb) @ p, self.n_components_, who)

    def inverse_transform(self, Y):
        """float32 ``(N, D)`` from ``(N, n_components_)``."""
        who = f"{type(self).__name__}.inverse_transform"
        self._check_fitted("inverse_transform")
        Y2, shape = _features(Y, who)
        self._check_width(Y2.shape[1], shape, "inverse_transform", self.n_components_, what="Y")
        m, bk = self.mean_, self._back
        return _map_rows(Y2, lambda yb: yb @ bk + m, self.n_features_in_, who, "Y")

    def _fit_config(self):
        return {"n_features_in": int(self.n_features_in_), "n_components": int(self.n_components_)}

    def _expected_shapes(self, cfg):
        d = _fit_int(cfg, "n_features_in", 1)
        k = _fit_int(cfg, "n_components", 1)
        if k > d:
            raise ValueError(f"n_components {k} > n_features_in {d}")
        return {"mean_": (d,), "components_": (k, d), "explained_variance_": (k,),
                "explained_variance_ratio_": (k,)}

    def _restore(self, cfg, arrays):
        if (arrays["explained_variance_"] < 0).any():
            raise ValueError("negative explained_variance_")
        for k, v in arrays.items():
            setattr(self, k, v)
        self.n_features_in_, self.n_components_ = cfg["n_features_in"], cfg["n_components"]
        self._prepare()


class PCAWhitening(PCA):
    """PCA whitening: ``y = ((x - mean_) @ components_.T) / sqrt(explained_variance_ + epsilon)``.

    ``n_components`` as in :class:`PCA` (default ``None``: all). ``epsilon`` (default 1e-5, >= 0) regularises
    small variances: the whitened training data has covariance ``diag(s / (s + epsilon))``, the identity for
    variances ``s >> epsilon``. Output ``(N, k)`` float32; ``inverse_transform`` undoes it (exact with all
    components).
    """

    def __init__(self, n_components=None, epsilon=1e-5):
        super().__init__(n_components=n_components, whiten=True)
        self.epsilon = _float_param("epsilon", epsilon, "PCAWhitening", lo=0.0)

    def get_params(self):
        return {"n_components": self.n_components, "epsilon": self.epsilon}


class ZCAWhitening(Transformer):
    """ZCA (Mahalanobis) whitening: ``y = (x - mean_) @ W`` with the symmetric
    ``W = U diag(1 / sqrt(s + epsilon)) U^T`` (``s``, ``U``: eigenvalues and eigenvectors of the sample
    covariance, ``ddof=1``).

    Of all whitening matrices, the symmetric one changes the data least (it minimises ``E||x - y||^2``), so
    whitened images still look like images. ``epsilon`` (default 1e-5, >= 0) regularises small variances
    (output covariance ``U diag(s / (s + epsilon)) U^T``); with ``epsilon=0`` directions of zero variance are
    left unscaled. Fitted: ``mean_`` (D,), ``eigenvalues_`` (D,) descending, ``eigenvectors_`` (D, D)
    (columns), and the derived ``whitening_`` ``W`` and ``dewhitening_`` ``W^-1 = U diag(sqrt(s + eps)) U^T``,
    both exactly symmetric. Output float32 of the input's shape; ``inverse_transform`` supported.
    Needs a D x D covariance: meant for D up to a few thousand.
    """

    _arrays = ("mean_", "eigenvalues_", "eigenvectors_")

    def __init__(self, epsilon=1e-5):
        super().__init__()
        self.epsilon = _float_param("epsilon", epsilon, "ZCAWhitening", lo=0.0)

    def get_params(self):
        return {"epsilon": self.epsilon}

    def fit(self, X):
        X2, _ = _features(X, "ZCAWhitening.fit")
        _, mean, _ = _moments(X2, "ZCAWhitening.fit", min_samples=2)
        s, u = _eig_desc(_covariance(X2, mean, "ZCAWhitening.fit"))
        self.mean_, self.eigenvalues_, self.eigenvectors_ = mean, s, u
        self.n_features_in_ = X2.shape[1]
        self._prepare()
        self._fitted = True
        return self

    def _prepare(self):
        u = self.eigenvectors_
        inv = _inv_sqrt_or_one(self.eigenvalues_ + self.epsilon)
        w = (u * inv) @ u.T
        wi = (u / inv) @ u.T
        self.whitening_ = 0.5 * (w + w.T)
        self.dewhitening_ = 0.5 * (wi + wi.T)

    def transform(self, X):
        self._check_fitted("transform")
        X2, shape = _features(X, "ZCAWhitening.transform")
        self._check_width(X2.shape[1], shape, "transform", self.n_features_in_)
        m, w = self.mean_, self.whitening_
        return _map_rows(X2, lambda xb: _affine(m)(xb) @ w, X2.shape[1], "ZCAWhitening.transform").reshape(shape)

    def inverse_transform(self, Y):
        self._check_fitted("inverse_transform")
        Y2, shape = _features(Y, "ZCAWhitening.inverse_transform")
        self._check_width(Y2.shape[1], shape, "inverse_transform", self.n_features_in_)
        m, wi = self.mean_, self.dewhitening_
        return _map_rows(Y2, lambda yb: yb @ wi + m, Y2.shape[1],
                         "ZCAWhitening.inverse_transform").reshape(shape)

    def _fit_config(self):
        return {"n_features_in": int(self.n_features_in_)}

    def _expected_shapes(self, cfg):
        d = _fit_int(cfg, "n_features_in", 1)
        return {"mean_": (d,), "eigenvalues_": (d,), "eigenvectors_": (d, d)}

    def _restore(self, cfg, arrays):
        if (arrays["eigenvalues_"] < 0).any():
            raise ValueError("negative eigenvalues_")
        self.mean_, self.eigenvalues_, self.eigenvectors_ = (arrays["mean_"], arrays["eigenvalues_"],
                                                             arrays["eigenvectors_"])
        self.n_features_in_ = cfg["n_features_in"]
        self._prepare()


# ----------------------------------------------------------------------------------------------------------
# targets
# ----------------------------------------------------------------------------------------------------------

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

class Pipeline(Transformer):
    """Chain of transformers: ``fit``/``transform`` apply the steps in order (each step is fitted on the
    previous step's output), ``inverse_transform`` undoes them in reverse order.

    ``steps``: a non-empty list of transformers of this module (or any object with the same methods; only
    this module's classes can be restored by ``from_state``). The state holds every step's config; arrays are
    named ``"<step index>/<array name>"``. ``pipeline[i]`` is the i-th step.
    """

    def __init__(self, steps):
        super().__init__()
        steps = list(steps)
        if not steps:
            raise ValueError("Pipeline: needs at least one step")
        for i, s in enumerate(steps):
            for m in ("fit", "transform", "get_state"):
                if not callable(getattr(s, m, None)):
                    raise TypeError(f"Pipeline: step {i} ({s!r}) has no {m}() method")
        self.steps = steps

    def __len__(self):
        return len(self.steps)

    def __getitem__(self, i):
        return self.steps[i]

    @property
    def fitted(self):
        return all(getattr(s, "fitted", False) for s in self.steps)

    def fit(self, X):
        for s in self.steps[:-1]:
            X = s.fit_transform(X)
        self.steps[-1].fit(X)
        return self

    def fit_transform(self, X):
        for s in self.steps:
            X = s.fit_transform(X)
        return X

    def transform(self, X):
        for s in self.steps:
            X = s.transform(X)
        return X

    def inverse_transform(self, Y):
        for s in reversed(self.steps):
            Y = s.inverse_transform(Y)
        return Y

    def get_state(self):
        configs, arrays = [], {}
        for i, s in enumerate(self.steps):
            c, a = s.get_state()
            configs.append(c)
            arrays.update({f"{i}/{k}": v for k, v in a.items()})
        return {"class": "Pipeline", "version": STATE_VERSION, "params": {}, "fitted": self.fitted,
                "steps": configs}, arrays

    @classmethod
    def from_state(cls, config, arrays=None):
        who = "Pipeline.from_state"
        _check_config(config, "Pipeline", who)
        confs = config.get("steps")
        if not isinstance(confs, list) or not confs:
            raise ValueError(f"{who}: 'steps' must be a non-empty list")
        arrays = {} if arrays is None else dict(arrays)
        steps, used = [], set()
        for i, c in enumerate(confs):
            pre = f"{i}/"
            sub = {k[len(pre):]: v for k, v in arrays.items() if k.startswith(pre)}
            used.update(pre + k for k in sub)
            steps.append(from_state(c, sub))
        extra = sorted(set(arrays) - used)
        if extra:
            raise ValueError(f"{who}: unexpected arrays {extra}")
        return cls(steps)

    def __repr__(self):
        return "Pipeline([%s])" % ", ".join(repr(s) for s in self.steps)


_CLASSES = {c.__name__: c for c in (Standardize, Center, MinMaxScale, PCA, PCAWhitening, ZCAWhitening, OneHot,
                                    SoftTargets, LabelEncoder, TargetScaler, Pipeline)}


def from_state(config, arrays=None):
    """Rebuild any transformer of this module from ``get_state()``'s ``(config, arrays)``; only the classes of
    this module are accepted (``config["class"]``), so a model file cannot name arbitrary code."""
    name = config.get("class") if isinstance(config, dict) else None
    cls = _CLASSES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"preprocessing.from_state: unknown transformer class {name!r}; known: "
                         f"{sorted(_CLASSES)}")
    return cls.from_state(config, arrays)
