"""Metrics for ``fit(..., metrics=[...])`` and ``evaluate(..., metrics=[...])``.

A metric is chosen by name or given as a callable ``fn(y_true, y_pred) -> float`` (its ``__name__`` is the log
key).  ``y_true`` is what the user passed as targets (integer labels (N,), one-hot / probability rows (N, C) or
regression targets (N, D)); ``y_pred`` is what ``model.predict`` returns (class probabilities for
cross-entropy, sigmoid probabilities for binary cross-entropy, raw outputs for regression losses).

Names (log keys in brackets):

- ``"accuracy"`` / ``"acc"`` [accuracy]: multiclass: argmax; binary (one output): probability > 0.5;
  multi-label (binary cross-entropy with several outputs): every element thresholded at 0.5.
- ``"top_k_accuracy"`` (k=5) or ``"top3_accuracy"`` etc. or ``TopKAccuracy(k)`` [top_k_accuracy]: the true
  class is among the k highest scores (a class counts as higher only when strictly greater, so ties favour the
  true class, as Keras's ``in_top_k``).
- ``"precision"``, ``"recall"``, ``"f1"`` [same]: macro averages over the classes present in y_true or y_pred
  (scikit-learn's ``average="macro"``, ``zero_division=0``); per column for multi-label.
- ``"mse"``, ``"mae"`` [same]: mean over every element; ``"r2"`` [r2]: coefficient of determination, the mean
  over output columns (scikit-learn's ``r2_score`` with ``multioutput="uniform_average"``; a constant column
  scores 1 if predicted exactly, else 0).

The task (``"multiclass"``, ``"binary"``, ``"multilabel"``, ``"regression"``) is inferred from the shapes when
not given; the trainer passes it from the model's loss.
"""
import numpy as np

__all__ = ["Metric", "TopKAccuracy", "accuracy", "top_k_accuracy", "precision", "recall", "f1", "mse", "mae",
           "r2", "get", "infer_task"]


def infer_task(y_true, y_pred):
    """Best guess of the task from the shapes (the trainer passes it explicitly instead)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_pred.ndim == 1 or (y_pred.ndim == 2 and y_pred.shape[1] == 1):
        if y_true.dtype.kind in "iub" or np.all(np.isin(y_true, (0, 1))):
            return "binary"
        return "regression"
    if y_true.ndim == 1:
        return "multiclass"
    if y_true.shape == y_pred.shape:
        s = y_true.sum(axis=1)
        if np.allclose(s, 1.0) and np.all(y_true >= 0):
            return "multiclass"
        if np.all(np.isin(y_true, (0, 1))):
            return "multilabel"
    return "regression"


def _labels(y_true, y_pred, task):
    """(true, predicted) integer arrays: (N,) for multiclass/binary, (N, D) for multi-label."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if task == "multiclass":
        pred = y_pred.argmax(axis=1)
        true = y_true.astype(np.int64) if y_true.ndim == 1 else y_true.argmax(axis=1)
        return true, pred
    if task == "binary":
        return (y_true.reshape(-1) > 0.5).astype(np.int64), (y_pred.reshape(-1) > 0.5).astype(np.int64)
    if task == "multilabel":
        return (y_true > 0.5).astype(np.int64), (y_pred > 0.5).astype(np.int64)
    raise ValueError(f"a classification metric cannot be computed for a {task} task")


def accuracy(y_true, y_pred, task=None):
    """Fraction of correct predictions (elements for multi-label)."""
    task = task or infer_task(y_true, y_pred)
    t, p = _labels(y_true, y_pred, task)
    return float(np.mean(t == p)) if t.size else float("nan")


def top_k_accuracy(y_true, y_pred, k=5, task=None):
    """Fraction of rows whose true class is among the k highest scores (multiclass only)."""
    y_pred = np.asarray(y_pred)
    task = task or infer_task(y_true, y_pred)
    if task != "multiclass":
        raise ValueError(f"top_k_accuracy needs a multiclass task, got {task}")
    t, _ = _labels(y_true, y_pred, task)
    if not t.size:
        return float("nan")
    true_score = y_pred[np.arange(t.size), t]
    higher = (y_pred > true_score[:, None]).sum(axis=1)
    return float(np.mean(higher < k))


def _prf(y_true, y_pred, task):
    t, p = _labels(y_true, y_pred, task)
    if task == "multilabel":
        tp = ((t == 1) & (p == 1)).sum(axis=0).astype(np.float64)
        fp = ((t == 0) & (p == 1)).sum(axis=0).astype(np.float64)
        fn = ((t == 1) & (p == 0)).sum(axis=0).astype(np.float64)
    else:
        classes = np.union1d(t, p)
        tp = np.array([np.sum((t == c) & (p == c)) for c in classes], dtype=np.float64)
        fp = np.array([np.sum((t != c) & (p == c)) for c in classes], dtype=np.float64)
        fn = np.array([np.sum((t == c) & (p != c)) for c in classes], dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
        rec = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1), 0.0)
        f1v = np.where(prec + rec > 0, 2 * prec * rec / np.where(prec + rec > 0, prec + rec, 1), 0.0)
    return prec, rec, f1v


def precision(y_true, y_pred, task=None):
    """Macro-averaged precision (zero_division=0)."""
    task = task or infer_task(y_true, y_pred)
    return float(np.mean(_prf(y_true, y_pred, task)[0]))


def recall(y_true, y_pred, task=None):
    """Macro-averaged recall (zero_division=0)."""
    task = task or infer_task(y_true, y_pred)
    return float(np.mean(_prf(y_true, y_pred, task)[1]))


def f1(y_true, y_pred, task=None):
    """Macro-averaged F1 (the mean of the per-class F1 scores, scikit-learn's definition)."""
    task = task or infer_task(y_true, y_pred)
    return float(np.mean(_prf(y_true, y_pred, task)[2]))


def _regression_pair(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if y_pred.ndim == 1:
        y_pred = y_pred[:, None]
    if y_true.ndim == 1:
        if y_pred.shape[1] > 1 and np.all(np.mod(y_true, 1) == 0):
            y_true = np.eye(y_pred.shape[1])[y_true.astype(np.int64)]  # labels vs class probabilities
        else:
            y_true = y_true[:, None]
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred {y_pred.shape}")
    return y_true, y_pred


def mse(y_true, y_pred, task=None):
    """Mean squared error over every element."""
    t, p = _regression_pair(y_true, y_pred)
    return float(np.mean((p - t) ** 2))


def mae(y_true, y_pred, task=None):
    """Mean absolute error over every element."""
    t, p = _regression_pair(y_true, y_pred)
    return float(np.mean(np.abs(p - t)))


def r2(y_true, y_pred, task=None):
    """R^2, averaged over output columns (scikit-learn's r2_score, uniform_average, force_finite)."""
    t, p = _regression_pair(y_true, y_pred)
    ss_res = ((t - p) ** 2).sum(axis=0)
    ss_tot = ((t - t.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0),
                         np.where(ss_res == 0, 1.0, 0.0))
    return float(np.mean(score))


class Metric:
    """A named metric: ``Metric(fn, name)``; ``fn(y_true, y_pred[, task=...])`` returns a float.
    ``needs_task``: fn accepts the ``task`` keyword (the built-ins do)."""

    def __init__(self, fn, name=None, needs_task=False):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", type(fn).__name__)
        self.needs_task = needs_task

    def __call__(self, y_true, y_pred, task=None):
        if self.needs_task:
            return float(self.fn(y_true, y_pred, task=task))
        return float(self.fn(y_true, y_pred))

    def __repr__(self):
        return f"Metric({self.name!r})"


class TopKAccuracy(Metric):
    """Top-k accuracy (default k=5); logged as ``top_k_accuracy`` (or ``top{k}_accuracy`` via name)."""

    def __init__(self, k=5, name="top_k_accuracy"):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"TopKAccuracy: k must be a positive int, got {k!r}")
        self.k = int(k)
        super().__init__(lambda t, p, task=None: top_k_accuracy(t, p, k=self.k, task=task), name, True)


_BY_NAME = {"accuracy": accuracy, "acc": accuracy, "precision": precision, "recall": recall, "f1": f1,
            "f1_score": f1, "mse": mse, "mean_squared_error": mse, "mae": mae, "mean_absolute_error": mae,
            "r2": r2, "r2_score": r2}
_CANONICAL = {accuracy: "accuracy", precision: "precision", recall: "recall", f1: "f1", mse: "mse", mae: "mae",
              r2: "r2"}


def get(metric):
    """A ``Metric`` from a name, a ``Metric`` or a callable ``fn(y_true, y_pred)``."""
    if isinstance(metric, Metric):
        return metric
    if isinstance(metric, str):
        key = metric.lower()
        if key in _BY_NAME:
            fn = _BY_NAME[key]
            return Metric(fn, _CANONICAL[fn], needs_task=True)
        if key in ("top_k_accuracy", "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy"):
            return TopKAccuracy(5)
        if key.startswith("top") and key.endswith("_accuracy") and key[3:-9].isdigit():
            return TopKAccuracy(int(key[3:-9]), name=key)
        raise ValueError(f"unknown metric {metric!r}; expected a callable or one of "
                         f"{sorted(_BY_NAME) + ['top_k_accuracy', 'top<k>_accuracy']}")
    if callable(metric):
        if metric in _CANONICAL:
            return Metric(metric, _CANONICAL[metric], needs_task=True)
        return Metric(metric)
    raise TypeError(f"a metric must be a name or a callable, got {metric!r}")
