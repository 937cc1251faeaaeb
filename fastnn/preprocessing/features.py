"""Feature transformers: standardisation, centring, min-max scaling, PCA and whitening."""
import numbers

import numpy as np

from ._base import (Transformer, _affine, _block64, _blocks, _covariance, _eig_desc, _fast, _features, _fit_int, _fix_signs, _float_param, _int_param, _inv_sqrt_or_one, _map_rows, _moments, _safe_scale)


def _out_rows(out, shape, who):
    """``out`` checked (a C-contiguous float32 array of ``shape``) as a 2-D (N, D) view."""
    if not isinstance(out, np.ndarray) or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise TypeError(f"{who}: out must be a C-contiguous float32 numpy array, got "
                        f"{type(out).__name__}{'' if not isinstance(out, np.ndarray) else ' ' + str(out.dtype)}")
    if not out.flags.writeable:
        raise ValueError(f"{who}: out is read-only")
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"{who}: out has shape {out.shape}, the result has shape {tuple(shape)}")
    return out.reshape(shape[0], -1)


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
            from .._config import get_num_threads
            from .._ext import _core

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
        self._mean_f32 = self._inv_f32 = None

    def transform(self, X, out=None):
        """float32 ``(x - mean_) / scale_``, the input's shape.

        ``out``: a C-contiguous float32 array of X's shape to write the result into (X itself standardises in
        place), saving the allocation of a new array; it is returned.
        """
        self._check_fitted("transform")
        X2, shape = _features(X, "Standardize.transform")
        self._check_width(X2.shape[1], shape, "transform", self.n_features_in_)
        out2 = None if out is None else _out_rows(out, shape, "Standardize.transform")
        m, inv = self._mean_f, self._inv_f
        if _fast(X2, None):   # per-channel statistics are already spread over the features here
            from .._config import get_num_threads
            from .._ext import _core

            if self._mean_f32 is None:   # the mean as a float pair: x - mean loses nothing near the mean
                hi = m.astype(np.float32)
                self._mean_f32 = (hi, (m - hi.astype(np.float64)).astype(np.float32))
                self._inv_f32 = inv.astype(np.float32)
            try:   # one pass in C: (x - mean) * (1 / scale) in float32
                res = _core.affine_cols(X2, *self._mean_f32, self._inv_f32, get_num_threads(), out2)
            except ValueError as exc:
                raise ValueError(f"Standardize.transform: {exc}") from None
        else:
            res = _map_rows(X2, _affine(m, inv), X2.shape[1], "Standardize.transform")
            if out2 is not None:
                np.copyto(out2, res)
                res = out2
        return res.reshape(shape) if out is None else out

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
