"""The training loop around the compiled plan: epochs, shuffling, validation and logging.

Each epoch's mini-batches run in one C call with the GIL released; Python runs between epochs only."""
import sys
import time

import numpy as np

from ._config import get_num_threads
from ._ext import _core

__all__ = ["fit", "History"]


class History:
    """What ``fit`` returns: ``history`` maps each logged quantity to its per-epoch values (Keras-style)."""

    def __init__(self):
        self.epoch = []
        self.history = {}

    def append(self, epoch, logs):
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


def fit(model, X, y, epochs=1, batch_size=32, validation_data=None, shuffle=True, verbose=1, file=None):
    """Train ``model`` for ``epochs`` passes over (X, y) in mini-batches of ``batch_size`` (the last one may be
    smaller); each epoch runs in C with the GIL released.

    X (N, in) float (other numeric dtypes are converted to float32 once); y: integer labels (N,) or target
    rows (N, out) for cross-entropy, targets (N, out) (or (N,) when out = 1) otherwise.  ``shuffle``:
    reshuffle every epoch from the model seed.  ``verbose``: 0 silent, 1 or 2 one line per epoch.  Returns a
    ``History`` with loss (and accuracy for classification), val_* with validation data, lr, samples_per_s
    and time per epoch.
    """
    from .model import _as_inputs

    model._require_compiled("fit")
    X = _as_inputs(X, model.in_dim)
    n = X.shape[0]
    if n == 0:
        raise ValueError("fit: X has no samples")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"fit: batch_size must be a positive int, got {batch_size!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
    target, labels = model._targets(y, n)
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("fit: validation_data must be a pair (X_val, y_val)")
        Xv = _as_inputs(validation_data[0], model.in_dim, "X_val")
        val = (Xv,) + model._targets(validation_data[1], Xv.shape[0], "y_val")
    batch_size = int(batch_size)
    n_batches = (n + batch_size - 1) // batch_size
    history = History()
    out = file or sys.stdout
    opt = model.optimizer
    total = model.epochs_trained + int(epochs)
    for _ in range(int(epochs)):
        epoch = model.epochs_trained
        t0 = time.perf_counter()
        order = _core.shuffle(n, model.seed, epoch) if shuffle else None
        try:
            loss_sum, correct, seen, opt.step_count = model._plan.train(
                X, target, labels, order, opt.group_specs(), opt._ranges, opt.state, opt.scalars,
                opt.step_count, None, model.clip_norm, model.clip_value, batch_size, 0, n_batches,
                get_num_threads())
        except FloatingPointError as exc:
            raise FloatingPointError(f"epoch {epoch + 1}: {exc}") from None
        dt = time.perf_counter() - t0
        model.epochs_trained += 1
        logs = {"loss": loss_sum / seen}
        acc = model._accuracy(correct, seen)
        if acc is not None:
            logs["accuracy"] = acc
        if val is not None:
            vl = model._evaluate_arrays(*val, batch_size=max(256, batch_size))
            logs.update({"val_" + k: v for k, v in vl.items()})
        logs["lr"] = opt.lr
        logs["samples_per_s"] = seen / dt if dt > 0 else float("inf")
        logs["time"] = dt
        history.append(epoch, logs)
        if verbose:
            print(_format_epoch(epoch + 1, total, logs), file=out, flush=True)
    return history


def _format_epoch(epoch, total, logs):
    parts = [f"epoch {epoch}/{total}", f"loss {logs['loss']:.4f}"]
    if "accuracy" in logs:
        parts.append(f"acc {logs['accuracy']:.4f}")
    if "val_loss" in logs:
        parts.append(f"val_loss {logs['val_loss']:.4f}")
    if "val_accuracy" in logs:
        parts.append(f"val_acc {logs['val_accuracy']:.4f}")
    parts.append(f"lr {logs['lr']:.3g}")
    parts.append(f"{logs['samples_per_s']:,.0f} samples/s")
    parts.append(f"{logs['time']:.2f}s")
    return " - ".join(parts)
