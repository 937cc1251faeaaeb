"""Shared machinery of fastnn.preprocessing: validation, blocked float64 statistics, the Transformer base."""
import numbers

import numpy as np

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
