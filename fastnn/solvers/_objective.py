"""The objective the solvers minimise: the C engine's full-batch evaluation-mode loss and gradient over the
model's trainable parameters, as float64 vectors; part of :mod:`fastnn.solvers`."""
import numpy as np

from .._config import get_num_threads


def _check_model(model, who):
    from ..conv import _BatchNorm
    from ..model import Sequential

    if not isinstance(model, Sequential):
        raise TypeError(f"{who}: model must be a fastnn Sequential, got {type(model).__name__}")
    for i, layer in enumerate(model.layers):
        if isinstance(layer, _BatchNorm):
            raise ValueError(f"{who}: layer {i} ({layer!r}) is batch normalisation; the solvers minimise the "
                             "evaluation-mode loss, for which the engine's batch-norm gradient (batch "
                             "statistics) does not hold: remove BatchNorm or train with model.fit")
        if getattr(layer, "max_norm", None):
            raise ValueError(f"{who}: layer {i} ({layer!r}) has max_norm={layer.max_norm}, a constraint applied "
                             "by the SGD-family update that the solvers do not enforce: set max_norm=None")
    if model.n_params() == 0:
        raise ValueError(f"{who}: the model has no trainable parameters")


def _trainable_index(model):
    """Positions of the trainable parameters in ``model.params``: ``slice(None)`` when they are the whole
    buffer (no batch-norm buffers), else an int64 index array."""
    base = model.params.__array_interface__["data"][0]
    parts = []
    for p in model.parameters():
        off = (p.__array_interface__["data"][0] - base) // model.params.itemsize
        parts.append(np.arange(off, off + p.size, dtype=np.int64))
    idx = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    if idx.size == model.params.size and np.array_equal(idx, np.arange(idx.size)):
        return slice(None)
    return idx


class _Objective:
    """f(x) and its gradient from the compiled plan, x float64 over the trainable parameters."""

    def __init__(self, model, X, target, labels, batch_size, max_eval):
        self.model, self.X, self.target, self.labels = model, X, target, labels
        self.plan = model._plan
        self.idx = _trainable_index(model)
        self.n = X.shape[0]
        self.batch = self.n if batch_size is None or batch_size >= self.n else int(batch_size)
        self.n_threads = get_num_threads()
        self.n_eval = 0
        self.max_eval = max_eval

    def budget(self):
        """Evaluations left (a large number when unlimited)."""
        return (1 << 62) if self.max_eval is None else self.max_eval - self.n_eval

    def get(self):
        return self.model.params[self.idx].astype(np.float64)

    def put(self, x):
        """Store x into the float32 parameters; returns x as stored (rounded to float32), in float64."""
        self.model.params[self.idx] = x
        return self.model.params[self.idx].astype(np.float64)

    def value_grad(self):
        """(f, g) at the parameters now in the model."""
        self.n_eval += 1
        plan, X, t, lab, nt = self.plan, self.X, self.target, self.labels, self.n_threads
        if self.batch >= self.n:
            f = plan.loss_grad(X, t, lab, False, 0, nt)
            return float(f), self.model.grads[self.idx].astype(np.float64)
        f, g = 0.0, None
        for lo in range(0, self.n, self.batch):
            hi = min(self.n, lo + self.batch)
            w = (hi - lo) / self.n
            fc = plan.loss_grad(X[lo:hi], None if t is None else t[lo:hi], None if lab is None else lab[lo:hi],
                                False, 0, nt)
            gc = self.model.grads[self.idx].astype(np.float64)
            f += w * fc                     # each chunk's mean includes the penalty once: sum of w is 1
            g = w * gc if g is None else g + w * gc
        return float(f), g

    def __call__(self, x):
        """(x as stored, f, g)."""
        xs = self.put(x)
        f, g = self.value_grad()
        return xs, f, g
