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

A model can own its input preprocessing: ``fastnn.Sequential([...], preprocessing=Standardize())`` (or
``model.preprocessing = ...``; a feature transformer or a Pipeline of them). ``model.fit`` fits it on the
training inputs when it is not fitted yet, every entry point (``fit``'s validation data, ``evaluate``,
``predict``, ``forward``) applies it to raw inputs, and ``model.save``/checkpoints store it, fitted or not
(see :class:`fastnn.Sequential` and :mod:`fastnn.io`).

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
__all__ = ["Transformer", "NotFittedError", "Standardize", "Center", "MinMaxScale", "PCA", "PCAWhitening",
           "ZCAWhitening", "OneHot", "SoftTargets", "LabelEncoder", "TargetScaler", "Pipeline", "from_state",
           "STATE_VERSION"]

from ._base import NotFittedError, STATE_VERSION, Transformer, _check_config  # noqa: E402
from .features import Center, MinMaxScale, PCA, PCAWhitening, Standardize, ZCAWhitening  # noqa: E402
from .targets import LabelEncoder, OneHot, SoftTargets, TargetScaler  # noqa: E402


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


_FEATURE_CLASSES = (Standardize, Center, MinMaxScale, PCA, PCAWhitening, ZCAWhitening)


def _check_input_transformer(obj, who="preprocessing"):
    """``obj`` when it can be a model's input preprocessing: an instance of a feature transformer class of
    this module (exactly, so that ``from_state`` rebuilds it from a model file) or a :class:`Pipeline` of
    them; ``TypeError`` otherwise (target transformers such as :class:`OneHot` transform ``y``, not ``X``)."""
    if type(obj) is Pipeline:
        for i, s in enumerate(obj.steps):
            _check_input_transformer(s, f"{who} step {i}")
        return obj
    if type(obj) not in _FEATURE_CLASSES:
        target = isinstance(obj, (OneHot, SoftTargets, LabelEncoder, TargetScaler))
        kind = f"{obj!r}, a target transformer (it transforms y, not X)" if target else repr(obj)
        raise TypeError(f"{who} must be a fastnn.preprocessing feature transformer "
                        f"({', '.join(c.__name__ for c in _FEATURE_CLASSES)}) or a Pipeline of them, got "
                        f"{kind}; apply other transforms to X yourself before fit and predict")
    return obj


def _widths(obj):
    """(features per sample in, features per sample out) of a fitted feature transformer or Pipeline of them,
    None when not fitted."""
    if not obj.fitted:
        return None
    if type(obj) is Pipeline:
        return _widths(obj.steps[0])[0], _widths(obj.steps[-1])[1]
    return int(obj.n_features_in_), int(getattr(obj, "n_components_", obj.n_features_in_))


def from_state(config, arrays=None):
    """Rebuild any transformer of this module from ``get_state()``'s ``(config, arrays)``; only the classes of
    this module are accepted (``config["class"]``), so a model file cannot name arbitrary code."""
    name = config.get("class") if isinstance(config, dict) else None
    cls = _CLASSES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"preprocessing.from_state: unknown transformer class {name!r}; known: "
                         f"{sorted(_CLASSES)}")
    return cls.from_state(config, arrays)
