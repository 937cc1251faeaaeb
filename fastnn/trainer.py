"""The training loop around the compiled plan: epochs, shuffling, validation, metrics, progress, callbacks,
learning-rate schedules and checkpoints.

An epoch's mini-batches run in C with the GIL released.  Python runs between epochs and, only when a live
progress bar or a callback with a ``batch_stride`` asks for it, between chunks of batches (the plan trains
batches ``[lo, hi)`` of an epoch per call; chunked and whole-epoch training give bitwise-identical weights).

A model's input ``preprocessing`` is fitted (first ``fit`` only) and applied once, before the first epoch: the
C loop, validation and metrics see the transformed arrays.
"""
import math
import re
import sys
import time
import warnings

import numpy as np

from . import callbacks as _cbs
from . import losses as _losses
from . import metrics as _metrics
from ._config import get_num_threads
from ._ext import _core

__all__ = ["fit", "evaluate", "partial_fit", "History"]


class History:
    """What ``fit`` returns: ``history`` maps each logged quantity to its per-epoch values (Keras-style) and
    ``epoch`` lists the epoch indices (0-based over the model's life).  After ``resume_from`` it also holds
    the epochs recorded in the checkpoint."""

    def __init__(self):
        self.epoch = []
        self.history = {}

    def append(self, epoch, logs):
        self.epoch.append(epoch)
        for k, v in logs.items():
            if not k.startswith("_"):
                self.history.setdefault(k, []).append(v)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


class _Run:
    """One ``fit``'s state, visible to callbacks as ``callback.run`` (ModelCheckpoint saves it)."""

    def __init__(self, history, schedule):
        self.history = history
        self.schedule = schedule
        self.callbacks = None


def _task(model):
    if isinstance(model.loss, _losses.CrossEntropyLoss):
        return "multiclass"
    if isinstance(model.loss, _losses.BCEWithLogitsLoss):
        return "binary" if model.out_dim == 1 else "multilabel"
    return "regression"


def _positive_int(name, v, minimum=1):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ValueError(f"fit: {name} must be an int >= {minimum}, got {v!r}")
    return int(v)


# ----------------------------------------------------------------------------------------------------------
# sample and class weights
# ----------------------------------------------------------------------------------------------------------

def _weights(model, labels, target, n, class_weight, sample_weight, where="fit"):
    """Per-sample loss weights (float32 (n,), applied per row in the C loop) or None."""
    if class_weight is None and sample_weight is None:
        return None
    if class_weight is not None and labels is None and not isinstance(model.loss, _losses.CrossEntropyLoss) \
            and model.out_dim != 1:
        raise ValueError(f"{where}: class_weight needs class labels (cross-entropy, or one binary output)")
    w = np.ones(n, dtype=np.float64)
    if sample_weight is not None:
        sw = np.asarray(sample_weight, dtype=np.float64)
        if sw.shape != (n,):
            raise ValueError(f"{where}: sample_weight must have shape ({n},), got {sw.shape}")
        w *= sw
    if class_weight is not None:
        if labels is not None:
            cls = labels
        elif model.out_dim == 1:
            cls = (target[:, 0] > 0.5).astype(np.int64)
        else:
            cls = target.argmax(axis=1)
        if not isinstance(class_weight, dict):
            cw = np.asarray(class_weight, dtype=np.float64)
            if cw.shape != (model.out_dim,):
                raise ValueError(f"{where}: class_weight must be a dict or a sequence of {model.out_dim} weights")
            class_weight = dict(enumerate(cw))
        table = np.ones(model.out_dim, dtype=np.float64)
        for k, v in class_weight.items():
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < model.out_dim:
                raise ValueError(f"{where}: class_weight key {k!r} is not a class index 0..{model.out_dim - 1}")
            table[int(k)] = float(v)
        w *= table[cls]
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"{where}: sample and class weights must be finite and >= 0")
    return np.ascontiguousarray(w, dtype=np.float32)


# ----------------------------------------------------------------------------------------------------------
# orders
# ----------------------------------------------------------------------------------------------------------

def _interleaved_order(strat, seed, epoch):
    """A permutation in which every class is spread evenly over the epoch (so each batch holds about the
    class proportions): random within each class (the engine's shuffle for (seed, epoch)), classes woven by
    their relative rank with a random phase per class."""
    n = strat.shape[0]
    p = _core.shuffle(n, seed, epoch)
    _, inv, counts = np.unique(strat[p], return_inverse=True, return_counts=True)
    by = np.argsort(inv, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(n, dtype=np.float64)
    rank[by] = np.arange(n) - np.repeat(starts, counts)
    phase = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch), 0x1A7E]).random(counts.size)
    key = (rank + phase[inv]) / counts[inv]
    return np.ascontiguousarray(p[np.argsort(key, kind="stable")])


# ----------------------------------------------------------------------------------------------------------
# progress
# ----------------------------------------------------------------------------------------------------------

def _isatty(f):
    try:
        return bool(f.isatty())
    except (AttributeError, ValueError):
        return False


def _eta(s):
    if not math.isfinite(s):
        return "?"
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class _Bar:
    """A one-line progress bar redrawn with carriage returns."""

    def __init__(self, out, epoch, total, n_batches):
        self.out, self.epoch, self.total, self.n = out, epoch, total, n_batches
        self.width = 0

    def draw(self, done, seen, elapsed, loss):
        frac = done / self.n
        filled = int(20 * frac)
        bar = "=" * filled + (">" if filled < 20 else "") + "." * (19 - filled)
        rate = seen / elapsed if elapsed > 0 else float("inf")
        eta = elapsed / done * (self.n - done) if done else float("nan")
        line = (f"epoch {self.epoch}/{self.total} [{bar}] {done}/{self.n} - {rate:,.0f} samples/s - "
                f"loss {loss:.4f} - ETA {_eta(eta)}")
        self._put(line)

    def _put(self, line, end=""):
        pad = max(0, self.width - len(line))
        self.out.write("\r" + line + " " * pad + end)
        self.out.flush()
        self.width = len(line)

    def finish(self, line):
        self._put(line, "\n")


_SHOW_LAST = ("lr", "samples_per_s", "time")


def _format_epoch(epoch, total, logs):
    parts = [f"epoch {epoch}/{total}"]
    for k, v in logs.items():
        if k in _SHOW_LAST or k.startswith("_"):
            continue
        parts.append(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}")
    if "lr" in logs:
        parts.append(f"lr {logs['lr']:.3g}")
    parts.append(f"{logs['samples_per_s']:,.0f} samples/s")
    parts.append(f"{logs['time']:.2f}s")
    return " - ".join(parts)


# ----------------------------------------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------------------------------------

def _metric_logs(model, metric_list, X, y_raw, task, skip=("accuracy",)):
    ms = [m for m in metric_list if m.name not in skip]
    if not ms:
        return {}
    pred = model._predict_arrays(X)
    return {m.name: m(y_raw, pred, task=task) for m in ms}


def _eval_arrays(model, X, target, labels, y_raw, metric_list, task, batch_size, weights=None):
    res = model._evaluate_arrays(X, target, labels, batch_size=batch_size, weights=weights)
    res.update(_metric_logs(model, metric_list, X, y_raw, task))
    return res


def evaluate(model, X, y, batch_size=256, metrics=None, sample_weight=None):
    """Evaluation-mode loss (weighted by ``sample_weight``: sum(w_i l_i) / N, cross-entropy only), accuracy
    for classification, and ``metrics`` (names or callables, see ``fastnn.metrics``) over (X, y); raw X, the
    model's ``preprocessing`` applied."""
    model._require_compiled("evaluate")
    X = model._inputs(X)
    target, labels = model._targets(y, X.shape[0])
    w = _weights(model, labels, target, X.shape[0], None, sample_weight, "evaluate")
    ms = [_metrics.get(m) for m in (metrics or [])]
    return _eval_arrays(model, X, target, labels, np.asarray(y), ms, _task(model),
                        _positive_int("batch_size", batch_size), w)


# ----------------------------------------------------------------------------------------------------------
# fit
# ----------------------------------------------------------------------------------------------------------

def _split(n, strat, validation_split, seed):
    from .datasets import train_test_split

    v = float(validation_split)
    if not 0.0 < v < 1.0:
        raise ValueError(f"fit: validation_split must be in (0, 1), got {validation_split!r}")
    idx = np.arange(n)
    try:
        tr, va, _, _ = train_test_split(idx, strat if strat is not None else idx, test_size=v,
                                        stratify=strat is not None, seed=seed)
    except ValueError as exc:
        raise ValueError(f"fit: validation_split={v}: {exc}") from None
    return np.sort(tr), np.sort(va)


def _bad_batch(exc):
    m = re.search(r"at batch (\d+)", str(exc))
    return int(m.group(1)) if m else None


def _check_augment(model, augment):
    """(op dicts, C, H, W) for Plan.set_augment, or None."""
    if augment is None:
        return None
    from . import augment as _aug

    if isinstance(augment, (list, tuple)):
        augment = _aug.Compose(list(augment))
    if not hasattr(augment, "to_c"):
        raise TypeError(f"fit: augment must be a fastnn.augment.Compose or a list of its ops, got {augment!r}")
    shape = getattr(augment, "image_shape", None) or model.input_shape
    if len(shape) != 3 or int(np.prod(shape)) != model.in_dim:
        raise ValueError(f"fit: augmentation needs the image shape (C, H, W) of the model's {model.in_dim} inputs "
                         f"(got {tuple(shape)}): give Compose(image_shape=...) or the model input_shape")
    c, h, w = (int(d) for d in shape)
    return augment.to_c(), c, h, w


def fit(model, X, y, epochs=1, batch_size=32, validation_data=None, validation_split=0.0, shuffle=True,
        class_weight=None, sample_weight=None, callbacks=None, verbose=1, initial_epoch=None, seed=None,
        lr_schedule=None, metrics=None, train_metrics=False, resume_from=None, file=None,
        progress_interval=0.1, augment=None):
    """Train ``model`` on (X, y) in mini-batches; returns a ``History``.

    - X (N, in) float (other numeric dtypes converted to float32 once); y: integer labels (N,) or target rows
      (N, out) for cross-entropy, targets (N, out) (or (N,) when out = 1) otherwise.  With a model
      ``preprocessing``, X (and the validation X) are raw inputs: an unfitted preprocessing is fitted on the
      training X (not the validation part), then both are transformed once, before the first epoch.
    - ``epochs``: without ``initial_epoch``/``resume_from``, the number of epochs to run now (a second
      ``fit`` continues from ``model.epochs_trained``).  With ``initial_epoch`` or ``resume_from`` it is the
      index of the final epoch, as in Keras: ``fit(epochs=10, resume_from=ckpt)`` runs the epochs the
      checkpoint has not done yet, so an interrupted run ends where an uninterrupted one does.
    - ``batch_size`` (default 32): the last batch of an epoch may be smaller.
    - ``validation_data``: ``(X_val, y_val)`` or ``(X_val, y_val, w_val)``; or ``validation_split`` in (0, 1):
      a seeded random split of (X, y) (stratified by class for classification labels, unlike Keras's "last
      rows").  Validation loss, accuracy and ``metrics`` are logged as ``val_*`` every epoch.
    - ``shuffle``: True (default) reshuffles every epoch from (model seed, epoch) in the engine; False keeps
      the order; ``"interleave-classes"`` shuffles within each class and spreads every class evenly through
      the epoch, so each mini-batch holds about the class proportions.
    - ``class_weight`` ({class: weight} or a sequence) and ``sample_weight`` (N,): each sample's loss is
      multiplied by its weight and the batch loss is sum(w_i l_i) / batch_size (Keras's convention), for every
      loss, inside the C loop (each row's gradient is scaled by its weight).
      With weights the logged loss is the weighted one; accuracy stays unweighted.
    - ``metrics``: names or callables (``fastnn.metrics``), computed on the validation data each epoch.  On
      the training data loss and accuracy come free from the C loop (running means over the epoch); other
      training metrics cost a prediction pass over the training set after the epoch and are computed only
      with ``train_metrics=True`` (with the end-of-epoch weights).
    - ``callbacks``: ``fastnn.callbacks.Callback`` objects (Keras hooks).  ``model.stop_training = True``
      stops training.
    - ``verbose``: 0 silent; 1 a live progress bar per epoch (batches, samples/s, running loss, ETA) when
      ``file`` (default stdout) is a terminal, else one line per epoch; 2 one line per epoch.
    - ``augment``: a ``fastnn.augment.Compose`` (or list of its ops) applied to every training batch inside
      the C loop, keyed by (seed, step, sample): same seed, same augmented batches, any thread count.  Image
      shape from ``Compose(image_shape=...)`` or the model's ``input_shape``.
    - ``lr_schedule``: an object with ``scales(epoch, n_batches)`` (float32 multipliers of every group's lr
      for each batch), ``on_epoch_end(epoch, logs)``, ``finished`` (stop when True), ``current_scale`` (the
      logged lr is ``optimizer.lr * current_scale``) and optionally ``state_dict``/``load_state_dict``.
    - ``seed``: the validation split's and class interleaving's seed (default: the model's).
    - ``resume_from``: a checkpoint (``ModelCheckpoint`` or ``fastnn.io.save_checkpoint``) of this model;
      weights, optimizer state, epoch and step counters, schedule and callback states, history and the
      fitted input preprocessing are restored (the preprocessing is not refitted), and training continues
      bit for bit as if never interrupted.
    - ``progress_interval`` (default 0.1 s): how often the live bar is redrawn.

    A NaN/Inf training loss raises ``FloatingPointError`` naming the epoch and batch (the bad batch's update
    is not applied), unless a ``TerminateOnNaN`` callback is given, which stops training instead.
    """
    from . import io as _io
    from .model import _as_inputs, _raw_inputs

    model._require_compiled("fit")
    pre = model.preprocessing is not None   # then X stays raw until the preprocessing is fitted, below
    X = _raw_inputs(X) if pre else _as_inputs(X, model.in_dim, input_shape=model.input_shape)
    n = X.shape[0]
    if n == 0:
        raise ValueError("fit: X has no samples")
    batch_size = _positive_int("batch_size", batch_size)
    epochs = _positive_int("epochs", epochs, 0)
    if shuffle not in (True, False, "interleave-classes"):
        raise ValueError(f"fit: shuffle must be True, False or 'interleave-classes', got {shuffle!r}")
    if verbose not in (0, 1, 2):
        raise ValueError(f"fit: verbose must be 0, 1 or 2, got {verbose!r}")
    seed = model.seed if seed is None else int(seed)
    y_raw = np.asarray(y)
    target, labels = model._targets(y, n)
    task = _task(model)
    w = _weights(model, labels, target, n, class_weight, sample_weight)
    strat = labels
    if strat is None and task == "binary" and target is not None and np.isin(target, (0.0, 1.0)).all():
        strat = target[:, 0].astype(np.int32)

    val = None
    if validation_data is not None and validation_split:
        raise ValueError("fit: give validation_data or validation_split, not both")
    if validation_split:
        tr, va = _split(n, strat, validation_split, seed)
        Xv, yv_raw = X[va], y_raw[va]
        vt, vl = (None if target is None else target[va]), (None if labels is None else labels[va])
        vw = None
        if sample_weight is not None:
            vw = np.ascontiguousarray(np.asarray(sample_weight, dtype=np.float32)[va])
        val = (Xv, vt, vl, yv_raw, vw)
        X, y_raw = np.ascontiguousarray(X[tr]), y_raw[tr]
        target = None if target is None else np.ascontiguousarray(target[tr])
        labels = None if labels is None else np.ascontiguousarray(labels[tr])
        strat = None if strat is None else strat[tr]
        w = None if w is None else w[tr]
        n = X.shape[0]
    elif validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("fit: validation_data must be (X_val, y_val) or (X_val, y_val, sample_weight_val)")
        if pre:
            Xv = _raw_inputs(validation_data[0], "X_val")
        else:
            Xv = _as_inputs(validation_data[0], model.in_dim, "X_val", input_shape=model.input_shape)
        vt, vl = model._targets(validation_data[1], Xv.shape[0], "y_val")
        vw = None
        if len(validation_data) == 3 and validation_data[2] is not None:
            vw = _weights(model, vl, vt, Xv.shape[0], None, validation_data[2])
        val = (Xv, vt, vl, np.asarray(validation_data[1]), vw)
    if shuffle == "interleave-classes" and strat is None:
        raise ValueError("fit: shuffle='interleave-classes' needs class labels (cross-entropy with integer "
                         "labels, or a single binary output)")

    metric_list = [_metrics.get(m) for m in (metrics or [])]
    names = [m.name for m in metric_list]
    if len(set(names)) != len(names):
        raise ValueError(f"fit: metric names must be unique, got {names}")

    history = History()
    resumed = None
    if resume_from is not None:
        _, resumed = _io.load_checkpoint(resume_from, model)
        if resumed["history"] is not None:
            history = resumed["history"]
        if resumed["schedule"] is not None:
            if lr_schedule is None:
                warnings.warn("fit: the checkpoint holds a learning-rate schedule's state but no lr_schedule "
                              "was given; training continues without it", stacklevel=2)
            elif hasattr(lr_schedule, "load_state_dict"):
                lr_schedule.load_state_dict(resumed["schedule"])
        start, end = model.epochs_trained, epochs
    elif initial_epoch is not None:
        model.epochs_trained = _positive_int("initial_epoch", initial_epoch, 0)
        start, end = model.epochs_trained, epochs
    else:
        start = model.epochs_trained
        end = start + epochs

    out = file or sys.stdout
    live = verbose == 1 and _isatty(out)
    n_batches = (n + batch_size - 1) // batch_size
    run = _Run(history, lr_schedule)
    params = {"epochs": end, "initial_epoch": start, "batch_size": batch_size, "n_batches": n_batches,
              "steps": n_batches, "n_samples": n, "verbose": verbose}
    cbl = _cbs.CallbackList(callbacks, model, params, run)
    run.callbacks = cbl
    nan_stop = any(isinstance(cb, _cbs.TerminateOnNaN) for cb in cbl)
    opt = model.optimizer
    plan = model._plan
    n_threads = get_num_threads()
    model.stop_training = False

    _augment_spec = _check_augment(model, augment)
    if pre:   # last before training (a failure leaves it as it was); after resume_from, which restores it
        X, Xv = model._fit_inputs(X, None if val is None else val[0])
        if val is not None:
            val = (Xv,) + val[1:]
    if _augment_spec is not None:
        plan.set_augment(*_augment_spec)
    try:
        cbl.on_train_begin()
        if resumed is not None:
            cbl.load_states(resumed["callbacks"])
        for epoch in range(start, end):
            if model.stop_training or getattr(lr_schedule, "finished", False):
                break
            cbl.on_epoch_begin(epoch, {})
            if shuffle is True:
                order = _core.shuffle(n, model.seed, epoch)
            elif shuffle == "interleave-classes":
                order = _interleaved_order(strat, seed, epoch)
            else:
                order = None
            scales = None
            if lr_schedule is not None:
                scales = np.ascontiguousarray(lr_schedule.scales(epoch, n_batches), dtype=np.float32)
                if scales.shape != (n_batches,) or not np.isfinite(scales).all() or (scales < 0).any():
                    raise ValueError(f"fit: lr_schedule.scales({epoch}, {n_batches}) must return {n_batches} finite "
                                     f"multipliers >= 0, got shape {scales.shape}")
            bar = _Bar(out, epoch + 1, end, n_batches) if live else None
            chunked = live or bool(cbl.strides)
            chunk = 1 if live else n_batches
            loss_sum, correct, seen, lo, nan_hit = 0.0, 0, 0, 0, False
            t0 = time.perf_counter()
            while lo < n_batches:
                hi = min(n_batches, lo + chunk)
                stop = cbl.next_stop(lo)
                if stop is not None:
                    hi = min(hi, stop)
                tc = time.perf_counter()
                try:
                    ls, c, s, opt.step_count = plan.train(
                        X, target, labels, order, opt.group_specs(), opt._ranges, opt.state, opt.scalars,
                        opt.step_count, None if scales is None else scales[lo:hi], model.clip_norm, model.clip_value,
                        batch_size, lo, hi, n_threads, w)
                except FloatingPointError as exc:
                    bad = _bad_batch(exc)
                    if bad is not None:
                        opt.step_count += bad - lo   # the updates before the bad batch were applied
                    if not nan_stop:
                        raise FloatingPointError(f"epoch {epoch + 1}: {exc}") from None
                    nan_hit = True
                    break
                loss_sum, correct, seen = loss_sum + ls, correct + c, seen + s
                done_now, lo = hi - lo, hi
                if chunked:
                    now = time.perf_counter()
                    if live:
                        per_batch = (now - tc) / done_now
                        chunk = max(1, int(progress_interval / per_batch)) if per_batch > 0 else n_batches
                        bar.draw(lo, seen, now - t0, loss_sum / seen)
                    if cbl.strides:
                        blogs = {"loss": loss_sum / seen, "batch": lo - 1, "size": s}
                        acc = model._accuracy(correct, seen)
                        if acc is not None:
                            blogs["accuracy"] = acc
                        cbl.on_batch_end(lo - 1, blogs)
                    if model.stop_training:
                        break
            dt = time.perf_counter() - t0
            model.epochs_trained = epoch + 1
            if lr_schedule is not None and hasattr(lr_schedule, "advance"):
                lr_schedule.advance(lo)   # the batches actually trained (fewer when stopped mid-epoch)
            logs = {"loss": float("nan") if nan_hit or not seen else loss_sum / seen}
            acc = model._accuracy(correct, seen) if seen else None
            if acc is not None and not nan_hit:
                logs["accuracy"] = acc
            if nan_hit:
                model.stop_training = True
                if verbose:
                    print(f"epoch {epoch + 1}: the training loss became NaN or Inf; stopping (TerminateOnNaN)",
                          file=out, flush=True)
            else:
                if train_metrics and metric_list:
                    logs.update(_metric_logs(model, metric_list, X, y_raw, task))
                if val is not None:
                    vres = _eval_arrays(model, val[0], val[1], val[2], val[3], metric_list, task, max(256, batch_size),
                                        val[4])
                    logs.update({"val_" + k: v for k, v in vres.items()})
            scale = float(getattr(lr_schedule, "current_scale", 1.0)) if lr_schedule is not None else 1.0
            logs["lr"] = opt.lr * scale
            logs["samples_per_s"] = seen / dt if dt > 0 else float("inf")
            logs["time"] = dt
            if lr_schedule is not None and hasattr(lr_schedule, "on_epoch_end"):
                lr_schedule.on_epoch_end(epoch, logs)
            history.append(epoch, logs)
            if verbose:
                line = _format_epoch(epoch + 1, end, logs)
                if bar is not None:
                    bar.finish(line)
                else:
                    print(line, file=out, flush=True)
            cbl.on_epoch_end(epoch, logs)
        cbl.on_train_end({})
    finally:
        if _augment_spec is not None:
            plan.set_augment(None)
    return history


def partial_fit(model, X, y, batch_size=32, shuffle=True, class_weight=None, sample_weight=None):
    """One pass over (X, y) (a chunk of a stream): one epoch of ``fit``, silent.  The epoch and step counters
    advance as in ``fit``, so successive calls draw fresh shuffles and dropout masks and a sequence of
    ``partial_fit`` calls equals ``fit`` on the same chunks.  Returns the epoch's logs (loss, accuracy).
    A model ``preprocessing`` is applied but never fitted here: fit it first, else ``NotFittedError``."""
    pre = model.preprocessing
    if pre is not None and not pre.fitted:
        from .preprocessing import NotFittedError

        raise NotFittedError(f"partial_fit: model.preprocessing {pre!r} is not fitted, and partial_fit does not "
                             "fit it (one chunk is a poor sample of a stream's statistics): fit it first with "
                             "model.preprocessing.fit(X_sample), or call model.fit on a first chunk")
    h = fit(model, X, y, epochs=1, batch_size=batch_size, shuffle=shuffle, class_weight=class_weight,
            sample_weight=sample_weight, verbose=0)
    return {k: v[-1] for k, v in h.history.items()}
