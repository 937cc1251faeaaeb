"""Callbacks: Keras-compatible hooks into ``fit``.

Hooks: ``on_train_begin(logs)``, ``on_train_end(logs)``, ``on_epoch_begin(epoch, logs)``,
``on_epoch_end(epoch, logs)`` and ``on_batch_end(batch, logs)``.  The epoch's mini-batches run in C, so
``on_batch_end`` is called only every ``batch_stride`` batches (a class or instance attribute; ``None``, the
default, means never): the trainer runs the epoch in chunks that end on multiples of the stride, and calls the
hook with the index (within the epoch, from 0) of the chunk's last batch and running ``loss``/``accuracy`` over
the epoch so far.  ``epoch`` counts from 0 over the model's life (``model.epochs_trained`` before the epoch).

Set ``self.model.stop_training = True`` (from any hook) to stop after the current chunk of batches / epoch.
A callback with ``state_dict()`` / ``load_state_dict(d)`` (JSON values and numpy arrays) has its state saved in
checkpoints and restored by ``fit(..., resume_from=...)`` (after ``on_train_begin``).
"""
import csv
import math
import os
import sys
import warnings

import numpy as np

__all__ = ["Callback", "CallbackList", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau",
           "LearningRateScheduler", "CSVLogger", "TerminateOnNaN", "LambdaCallback"]


class Callback:
    """Base class; every hook does nothing.  ``self.model`` is set by ``fit`` (``set_model``) and
    ``self.params`` (epochs, batch_size, n_batches, n_samples, verbose) by ``set_params``."""

    batch_stride = None

    def __init__(self):
        self.model = None
        self.params = {}
        self.run = None

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...,
    on_batch_end=..., batch_stride=10)``."""

    def __init__(self, on_train_begin=None, on_train_end=None, on_epoch_begin=None, on_epoch_end=None,
                 on_batch_end=None, batch_stride=None):
        super().__init__()
        for name, fn in (("on_train_begin", on_train_begin), ("on_train_end", on_train_end),
                         ("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                         ("on_batch_end", on_batch_end)):
            if fn is not None:
                setattr(self, name, fn)
        self.batch_stride = batch_stride


def _stride(cb):
    s = getattr(cb, "batch_stride", None)
    if s is None or s == 0:
        return None
    if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
        raise ValueError(f"{type(cb).__name__}.batch_stride must be None or a positive int, got {s!r}")
    return int(s)


class CallbackList:
    """The callbacks of one ``fit``, called in order."""

    def __init__(self, callbacks, model, params, run=None):
        if callbacks is None:
            callbacks = []
        elif isinstance(callbacks, Callback):
            callbacks = [callbacks]
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not all(hasattr(cb, h) for h in ("on_epoch_end", "on_train_begin")):
                raise TypeError(f"{cb!r} is not a callback (subclass fastnn.callbacks.Callback)")
            if hasattr(cb, "set_model"):
                cb.set_model(model)
            else:
                cb.model = model
            if hasattr(cb, "set_params"):
                cb.set_params(params)
            cb.run = run
            if isinstance(cb, ModelCheckpoint):
                cb._deferred = True
        self.strides = [(cb, _stride(cb)) for cb in self.callbacks]
        self.strides = [(cb, s) for cb, s in self.strides if s is not None]

    def __iter__(self):
        return iter(self.callbacks)

    def _call(self, hook, *args):
        for cb in self.callbacks:
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(*args)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs)
        for cb in self.callbacks:   # writes that must see every callback's end-of-epoch state
            if isinstance(cb, ModelCheckpoint):
                cb._commit(epoch, logs)

    def next_stop(self, lo):
        """The first batch index > lo at which some stride callback wants to be called."""
        return min(((lo // s) + 1) * s for _, s in self.strides) if self.strides else None

    def on_batch_end(self, batch, logs):
        for cb, s in self.strides:
            if (batch + 1) % s == 0:
                cb.on_batch_end(batch, logs)

    def states(self):
        out = []
        for cb in self.callbacks:
            if hasattr(cb, "state_dict"):
                out.append({"class": type(cb).__name__, "state": cb.state_dict()})
        return out

    def load_states(self, saved):
        mine = [cb for cb in self.callbacks if hasattr(cb, "load_state_dict")]
        for cb, s in zip(mine, saved or []):
            if s.get("class") != type(cb).__name__:
                warnings.warn(f"checkpoint holds state for a {s.get('class')} callback where this fit has a "
                              f"{type(cb).__name__}; its state is not restored", stacklevel=3)
                continue
            cb.load_state_dict(s["state"])


def _auto_mode(monitor):
    m = monitor.lower()
    if any(k in m for k in ("acc", "f1", "precision", "recall", "r2", "auc")):
        return "max"
    return "min"


def _check_mode(mode, monitor):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return _auto_mode(monitor) if mode == "auto" else mode


def _finite_or_none(v):
    return None if v is None else float(v)


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has stopped improving (Keras 3 semantics).

    An epoch improves when ``current - min_delta > best`` (mode "max") or ``current + min_delta < best``
    ("min"; "auto" picks "max" for accuracy-like names).  After ``patience`` epochs without improvement
    (counted from the last improvement that also beat ``baseline``, if one is given) training stops.
    Epochs before ``start_from_epoch`` are ignored.  ``restore_best_weights``: at the end of training the
    weights of the best epoch are put back (also when training ran to the end).
    Defaults: monitor="val_loss", min_delta=0, patience=0, mode="auto", baseline=None,
    restore_best_weights=False, start_from_epoch=0."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.mode = _check_mode(mode, monitor)
        self.min_delta = abs(float(min_delta))
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = _finite_or_none(baseline)
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)
        self._reset()

    def _reset(self):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def _is_improvement(self, value, reference):
        if reference is None:
            return True
        if self.mode == "max":
            return value - self.min_delta > reference
        return value + self.min_delta < reference

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"EarlyStopping: monitor {self.monitor!r} is not in the logs (available: "
                          f"{sorted(logs or {})})", stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        current = float(current)
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.params.copy()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.params.copy()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose:
            print(f"EarlyStopping: stopped after epoch {self.stopped_epoch + 1}", file=sys.stdout)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"EarlyStopping: restoring the weights of epoch {self.best_epoch + 1}")
            self.model.params[...] = self.best_weights

    def state_dict(self):
        return {"wait": self.wait, "stopped_epoch": self.stopped_epoch, "best": self.best,
                "best_epoch": self.best_epoch, "best_weights": self.best_weights}

    def load_state_dict(self, d):
        self.wait, self.stopped_epoch = int(d["wait"]), int(d["stopped_epoch"])
        self.best = None if d["best"] is None else float(d["best"])
        self.best_epoch = int(d["best_epoch"])
        bw = d.get("best_weights")
        if bw is not None:
            bw = np.asarray(bw, dtype=np.float32)
            if self.model is not None and bw.shape != self.model.params.shape:
                raise ValueError(f"EarlyStopping state: best_weights has shape {bw.shape}, the model's "
                                 f"parameters {self.model.params.shape}")
        self.best_weights = bw


class ModelCheckpoint(Callback):
    """Save the model at the end of epochs.

    ``filepath``: a path, optionally a template with ``{epoch}`` (1-based, as Keras) and any logged value,
    e.g. ``"ckpt/{epoch:03d}-{val_loss:.4f}.npz"``.  ``every_n_epochs`` (default 1): save every N epochs;
    ``save_best_only``: save only when ``monitor`` improved (mode as EarlyStopping, default "val_loss", "auto");
    with both, the best is checked on those epochs only.  ``save_weights_only=False`` (default) writes a full
    checkpoint (weights, optimizer state, schedule and callback state, epoch counters, history) that
    ``fit(..., resume_from=path)`` continues from bit for bit; ``True`` writes a model file
    (``fastnn.load``).  Every write is atomic.  Inside ``fit`` the write happens after every callback has
    seen the epoch, so the checkpoint holds their final state for it."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", every_n_epochs=1, initial_value_threshold=None):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.mode = _check_mode(mode, monitor)
        if isinstance(every_n_epochs, bool) or not isinstance(every_n_epochs, (int, np.integer)) \
                or every_n_epochs < 1:
            raise ValueError(f"ModelCheckpoint: every_n_epochs must be a positive int, got {every_n_epochs!r}")
        self.every_n_epochs = int(every_n_epochs)
        self.best = _finite_or_none(initial_value_threshold)
        self._deferred = False
        self._pending = None
        self.saved = []   # paths written, in order

    def _better(self, v):
        if self.best is None:
            return True
        return v > self.best if self.mode == "max" else v < self.best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self._pending = None
        if (epoch + 1) % self.every_n_epochs:
            return
        if self.save_best_only:
            v = logs.get(self.monitor)
            if v is None:
                warnings.warn(f"ModelCheckpoint: monitor {self.monitor!r} is not in the logs; not saving",
                              stacklevel=2)
                return
            if not (math.isfinite(float(v)) and self._better(float(v))):
                return
            self.best = float(v)
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"ModelCheckpoint: cannot fill the file name template {self.filepath!r} from "
                             f"epoch and logs {sorted(logs)}: {exc}") from None
        self._pending = path
        if not self._deferred:
            self._commit(epoch, logs)

    def _commit(self, epoch, logs):
        if self._pending is None:
            return
        from . import io

        path, self._pending = self._pending, None
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            io.save(self.model, path)
        else:
            run = self.run
            io.save_checkpoint(path, self.model, history=getattr(run, "history", None),
                               schedule=getattr(run, "schedule", None), callbacks=getattr(run, "callbacks", None))
        self.saved.append(path)
        if self.verbose:
            print(f"ModelCheckpoint: saved {path}")

    def state_dict(self):
        return {"best": self.best}

    def load_state_dict(self, d):
        self.best = None if d.get("best") is None else float(d["best"])


def _set_group_lrs(opt, values):
    for g, v in zip(opt.param_groups, values):
        g["lr"] = float(v)
    if opt.param_groups:
        opt.defaults["lr"] = float(opt.param_groups[0]["lr"])


class ReduceLROnPlateau(Callback):
    """Multiply every parameter group's learning rate by ``factor`` when ``monitor`` has not improved for
    ``patience`` epochs (Keras semantics: improvement means ``current < best - min_delta`` in mode "min",
    ``current > best + min_delta`` in "max"); then wait ``cooldown`` epochs before counting again.  A group's
    lr never goes below ``min_lr``.  (The ``lr`` in an epoch's logs is the one that epoch used.)  Defaults: monitor="val_loss", factor=0.1,
    patience=10, mode="auto", min_delta=1e-4, cooldown=0, min_lr=0."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__()
        if not 0.0 < float(factor) < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor!r}")
        self.monitor = monitor
        self.factor = float(factor)
        self.patience = int(patience)
        self.verbose = verbose
        self.mode = _check_mode(mode, monitor)
        self.min_delta = float(min_delta)
        self.cooldown = int(cooldown)
        self.min_lr = float(min_lr)
        self._reset()

    def _reset(self):
        self.best = -np.inf if self.mode == "max" else np.inf
        self.wait = 0
        self.cooldown_counter = 0

    def _improved(self, a, b):
        return a > b + self.min_delta if self.mode == "max" else a < b - self.min_delta

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        opt = self.model.optimizer
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"ReduceLROnPlateau: monitor {self.monitor!r} is not in the logs (available: "
                          f"{sorted(logs)})", stacklevel=2)
            return
        current = float(current)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current, self.best):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = [g["lr"] for g in opt.param_groups]
                new = [max(lr * self.factor, self.min_lr) if lr > np.float32(self.min_lr) else lr for lr in old]
                if new != old:
                    _set_group_lrs(opt, new)
                    if self.verbose:
                        print(f"ReduceLROnPlateau: epoch {epoch + 1}: learning rate {old[0]:.4g} -> {new[0]:.4g}")
                self.cooldown_counter = self.cooldown
                self.wait = 0

    def state_dict(self):
        return {"best": float(self.best), "wait": self.wait, "cooldown_counter": self.cooldown_counter}

    def load_state_dict(self, d):
        self.best, self.wait, self.cooldown_counter = float(d["best"]), int(d["wait"]), int(d["cooldown_counter"])


class LearningRateScheduler(Callback):
    """At the start of every epoch set the learning rate to ``schedule(epoch, lr)`` (epoch from 0, lr the
    first group's current rate).  With several parameter groups every group's lr is scaled by the same
    factor, so their ratios are kept."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError("LearningRateScheduler: schedule must be callable fn(epoch, lr) -> lr")
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        lr = opt.lr
        new = float(self.schedule(epoch, lr))
        if not (math.isfinite(new) and new > 0):
            raise ValueError(f"LearningRateScheduler: schedule returned {new!r} for epoch {epoch}; need a "
                             "finite number > 0")
        _set_group_lrs(opt, [g["lr"] * (new / lr) for g in opt.param_groups])
        opt.param_groups[0]["lr"] = new
        opt.defaults["lr"] = new
        if self.verbose:
            print(f"LearningRateScheduler: epoch {epoch + 1}: learning rate {new:.4g}")


class CSVLogger(Callback):
    """Append one row per epoch (``epoch`` then the logged values, sorted by name) to a CSV file.
    ``append=True`` continues an existing file (e.g. after ``resume_from``) instead of overwriting it.  Rows
    are flushed every epoch (this is a log, not an atomic file)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = bool(append)
        self.keys = None
        self._f = None
        self._writer = None

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self.keys = None
        if exists:
            with open(self.filename, newline="") as f:
                header = next(csv.reader(f, delimiter=self.sep), None)
            if header:
                self.keys = header[1:]
        self._f = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = csv.writer(self._f, delimiter=self.sep)
        if self.keys is not None:
            self._header_written = True
        else:
            self._header_written = False

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: v for k, v in (logs or {}).items() if not k.startswith("_")}
        if self._f is None:
            self.on_train_begin()
        if self.keys is None:
            self.keys = sorted(logs)
        if not self._header_written:
            self._writer.writerow(["epoch"] + self.keys)
            self._header_written = True
        self._writer.writerow([epoch] + [_fmt(logs.get(k, "")) for k in self.keys])
        self._f.flush()

    def on_train_end(self, logs=None):
        if self._f is not None:
            self._f.close()
            self._f = None


def _fmt(v):
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return v


class TerminateOnNaN(Callback):
    """Stop training (instead of raising) when the training loss becomes NaN or Inf.

    Without it ``fit`` raises ``FloatingPointError`` naming the epoch and the batch.  With it, the epoch
    ends at that batch (whose update is not applied), its logs hold ``loss = nan`` and training stops."""

    def on_batch_end(self, batch, logs=None):
        self._check(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs)

    def _check(self, logs):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True
