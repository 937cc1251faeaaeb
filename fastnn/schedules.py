"""Learning-rate schedules: multipliers of every parameter group's base ``lr``.

A schedule never touches the optimizer.  Between epochs it produces one float32 array with the multiplier of
each batch of the coming epoch; the C training loop uses ``group.lr * scale[b]`` for batch ``b``.  All pure
numpy, no Python per batch.

**Time.**  A schedule's clock ``t`` (0-based) counts batches (optimizer steps) when ``per_batch=True`` and
epochs when ``per_batch=False`` (the default everywhere but ``OneCycle``; with per-epoch stepping the
multiplier is constant within an epoch).  Every length argument (``step_size``, ``milestones``,
``decay_steps``, ``T_max``, ``warmup_steps``, ``total_steps`` ...) is in those units.  The first batch (or
epoch) uses ``factor(0)``, as a PyTorch scheduler does before its first ``step()``.

**The protocol with the training loop** (``fit``)::

    scale = schedule.scales(epoch, n_batches)  # float32 (n_batches,); no side effect on the clock
    ...train the epoch with lr_scale=scale...
    schedule.advance(n_batches)                 # the batch clock moves on by the batches actually run
    schedule.on_epoch_end(epoch, logs)          # plateau logic (reads logs[monitor]); no-op for the others
    if schedule.finished: stop training         # e.g. Nielsen's rule reached lr / 128

``epoch`` is the caller's 0-based epoch index (the model's ``epochs_trained``): it is the clock of per-epoch
schedules.  Per-batch schedules use their own batch counter ``steps_done`` (advanced by ``advance``), so a
last partial epoch or a change of batch size between ``fit`` calls is handled exactly (pass ``start_step=``
to ``scales`` to override it).  ``state_dict()`` / ``load_state_dict()`` save and restore the clock and any
plateau state, so a resumed run continues bit-for-bit.  ``current_scale``: the multiplier of the last batch
that ``scales`` returned (for logging ``lr``), or the factor at the schedule's current position before that.

Schedules: ``Constant``, ``StepLR`` (``StepDecay``), ``MultiStepLR``, ``PiecewiseConstant``,
``ExponentialDecay``, ``ExponentialLR``, ``InverseTimeDecay``, ``PolynomialDecay``, ``CosineAnnealing``,
``CosineAnnealingWarmRestarts``, ``LinearWarmup`` (wraps any schedule), ``OneCycle``, ``ReduceLROnPlateau``
and ``nielsen()``.
"""
import math

import numpy as np

__all__ = ["Schedule", "Constant", "StepLR", "StepDecay", "MultiStepLR", "PiecewiseConstant", "ExponentialDecay",
           "ExponentialLR", "InverseTimeDecay", "PolynomialDecay", "CosineAnnealing", "CosineAnnealingWarmRestarts",
           "LinearWarmup", "OneCycle", "ReduceLROnPlateau", "nielsen"]


def _pos_int(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    return int(v)


def _nonneg_int(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
        raise ValueError(f"{name} must be an int >= 0, got {v!r}")
    return int(v)


def _num(name, v, lo=None, hi=None, lo_open=False, hi_open=False):
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {v!r}") from None
    ok = math.isfinite(v)
    ok = ok and (lo is None or (v > lo if lo_open else v >= lo))
    ok = ok and (hi is None or (v < hi if hi_open else v <= hi))
    if not ok:
        rng = ("(" if lo_open else "[") + ("-inf" if lo is None else f"{lo}") + ", " + \
              ("inf" if hi is None else f"{hi}") + (")" if hi_open or hi is None else "]")
        raise ValueError(f"{name} must be a finite number in {rng}, got {v!r}")
    return v


class Schedule:
    """Base class.  Subclasses implement ``factor(t)``: the multiplier at clock values ``t`` (int64 array),
    vectorised, as a float64 array (see the module docstring for the clock and the protocol)."""

    _clockless = False  # True for schedules whose factor depends on state, not on t (plateau)

    def __init__(self, per_batch=False):
        self.per_batch = bool(per_batch)
        self.steps_done = 0
        self.epochs_done = 0
        self._last = None

    # -- the formula ---------------------------------------------------------------------------------------
    def factor(self, t):
        raise NotImplementedError

    def __call__(self, t):
        """The multiplier at clock value ``t`` (a scalar convenience around ``factor``)."""
        return float(np.asarray(self.factor(np.asarray([int(t)], dtype=np.int64)), dtype=np.float64)[0])

    # -- the protocol --------------------------------------------------------------------------------------
    def scales(self, epoch, n_batches, start_step=None):
        """float32 (n_batches,): the multiplier of every batch of epoch ``epoch``.  Per batch: the batches are
        steps ``start_step .. start_step + n_batches - 1`` (default start: ``steps_done``); per epoch: all
        ``factor(epoch)``.  Does not move the clock (see ``advance``)."""
        n = _nonneg_int("n_batches", n_batches)
        epoch = _nonneg_int("epoch", epoch)
        if self.per_batch:
            start = self.steps_done if start_step is None else _nonneg_int("start_step", start_step)
            t = start + np.arange(n, dtype=np.int64)
        else:
            t = np.full(n, epoch, dtype=np.int64)
        f = np.broadcast_to(np.asarray(self.factor(t), dtype=np.float64), (n,))
        if not np.all(np.isfinite(f)) or np.any(f < 0):
            raise ValueError(f"{type(self).__name__}: the schedule produced a negative or non-finite multiplier")
        out = np.ascontiguousarray(f, dtype=np.float32)
        if n:
            self._last = float(out[-1])
        return out

    def advance(self, n_batches):
        """Move the clock past one epoch of ``n_batches`` batches (call after training it)."""
        self.steps_done += _nonneg_int("n_batches", n_batches)
        self.epochs_done += 1

    def on_epoch_end(self, epoch, logs=None):
        """Hook for schedules that react to metrics (``ReduceLROnPlateau``); a no-op here."""

    @property
    def finished(self):
        """True when training should stop because the schedule has run down (plateau schedules only)."""
        return False

    @property
    def current_scale(self):
        if self._last is not None:
            return self._last
        return self(self.steps_done if self.per_batch else self.epochs_done)

    # -- persistence ---------------------------------------------------------------------------------------
    def state_dict(self):
        """JSON-friendly dict with the clock and any evolving state."""
        return {"class": type(self).__name__, "steps_done": self.steps_done, "epochs_done": self.epochs_done,
                "last": self._last}

    def load_state_dict(self, d):
        if d.get("class") != type(self).__name__:
            raise ValueError(f"schedule state is for {d.get('class')!r}, not {type(self).__name__!r}")
        self.steps_done = _nonneg_int("steps_done", d["steps_done"])
        self.epochs_done = _nonneg_int("epochs_done", d["epochs_done"])
        self._last = None if d.get("last") is None else float(d["last"])

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._config().items())
        return f"{type(self).__name__}({args})"

    def _config(self):
        return {"per_batch": self.per_batch}


class Constant(Schedule):
    """``factor(t) = factor`` (default 1: the optimizer's lr unchanged)."""

    def __init__(self, factor=1.0, per_batch=False):
        super().__init__(per_batch)
        self.value = _num("factor", factor, lo=0)

    def factor(self, t):
        return np.full(np.shape(t), self.value)


class StepLR(Schedule):
    """``gamma ** (t // step_size)`` (PyTorch StepLR).  Defaults: gamma=0.1, per epoch."""

    def __init__(self, step_size, gamma=0.1, per_batch=False):
        super().__init__(per_batch)
        self.step_size = _pos_int("step_size", step_size)
        self.gamma = _num("gamma", gamma, lo=0)

    def factor(self, t):
        return self.gamma ** (np.asarray(t) // self.step_size).astype(np.float64)


StepDecay = StepLR


class MultiStepLR(Schedule):
    """``gamma ** (number of milestones <= t)`` (PyTorch MultiStepLR; a repeated milestone counts twice).
    Defaults: gamma=0.1, per epoch."""

    def __init__(self, milestones, gamma=0.1, per_batch=False):
        super().__init__(per_batch)
        self.milestones = sorted(_nonneg_int("milestone", m) for m in milestones)
        self.gamma = _num("gamma", gamma, lo=0)

    def factor(self, t):
        k = np.searchsorted(np.asarray(self.milestones, dtype=np.int64), t, side="right")
        return self.gamma ** k.astype(np.float64)


class PiecewiseConstant(Schedule):
    """Keras PiecewiseConstantDecay, as multipliers: ``values[0]`` for ``t <= boundaries[0]``, ``values[i]``
    for ``boundaries[i-1] < t <= boundaries[i]``, ``values[-1]`` after the last boundary.
    ``len(values) == len(boundaries) + 1``; boundaries strictly increasing."""

    def __init__(self, boundaries, values, per_batch=False):
        super().__init__(per_batch)
        self.boundaries = [_nonneg_int("boundary", b) for b in boundaries]
        self.values = [_num("value", v, lo=0) for v in values]
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(f"PiecewiseConstant needs len(values) == len(boundaries) + 1, got "
                             f"{len(self.values)} values for {len(self.boundaries)} boundaries")
        if any(b >= c for b, c in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(f"boundaries must be strictly increasing, got {self.boundaries}")

    def factor(self, t):
        i = np.searchsorted(np.asarray(self.boundaries, dtype=np.int64), t, side="left")
        return np.asarray(self.values, dtype=np.float64)[i]


class _KerasDecay(Schedule):
    """Keras's decay schedules: progress ``p = t / decay_steps``, floored when ``staircase``."""

    def __init__(self, decay_rate, decay_steps, staircase=False, per_batch=False):
        super().__init__(per_batch)
        self.decay_rate = _num("decay_rate", decay_rate, lo=0)
        self.decay_steps = _pos_int("decay_steps", decay_steps)
        self.staircase = bool(staircase)

    def _progress(self, t):
        p = np.asarray(t, dtype=np.float64) / self.decay_steps
        return np.floor(p) if self.staircase else p


class ExponentialDecay(_KerasDecay):
    """Keras ExponentialDecay: ``decay_rate ** (t / decay_steps)``, with ``floor(t / decay_steps)`` when
    ``staircase``."""

    def factor(self, t):
        return self.decay_rate ** self._progress(t)


class ExponentialLR(Schedule):
    """``gamma ** t`` (PyTorch ExponentialLR)."""

    def __init__(self, gamma, per_batch=False):
        super().__init__(per_batch)
        self.gamma = _num("gamma", gamma, lo=0)

    def factor(self, t):
        return self.gamma ** np.asarray(t, dtype=np.float64)


class InverseTimeDecay(_KerasDecay):
    """Keras InverseTimeDecay: ``1 / (1 + decay_rate * t / decay_steps)``, ``floor(t / decay_steps)`` when
    ``staircase``."""

    def factor(self, t):
        return 1.0 / (1.0 + self.decay_rate * self._progress(t))


class PolynomialDecay(Schedule):
    """``(1 - end_factor) * (1 - min(t, total_steps) / total_steps) ** power + end_factor`` (Keras
    PolynomialDecay without cycling, as multipliers; with end_factor=0 it is PyTorch's PolynomialLR).
    Defaults: end_factor=0, power=1."""

    def __init__(self, total_steps, end_factor=0.0, power=1.0, per_batch=False):
        super().__init__(per_batch)
        self.total_steps = _pos_int("total_steps", total_steps)
        self.end_factor = _num("end_factor", end_factor, lo=0)
        self.power = _num("power", power, lo=0)

    def factor(self, t):
        frac = np.minimum(np.asarray(t, dtype=np.float64), self.total_steps) / self.total_steps
        return (1.0 - self.end_factor) * (1.0 - frac) ** self.power + self.end_factor


class CosineAnnealing(Schedule):
    """``eta_min_factor + (1 - eta_min_factor) * (1 + cos(pi * min(t, T_max) / T_max)) / 2`` (PyTorch's
    CosineAnnealingLR closed form up to T_max; after T_max the factor stays at eta_min_factor, as Keras's
    CosineDecay, where PyTorch's would rise again)."""

    def __init__(self, T_max, eta_min_factor=0.0, per_batch=False):
        super().__init__(per_batch)
        self.T_max = _pos_int("T_max", T_max)
        self.eta_min_factor = _num("eta_min_factor", eta_min_factor, lo=0)

    def factor(self, t):
        x = np.minimum(np.asarray(t, dtype=np.float64), self.T_max) / self.T_max
        return self.eta_min_factor + (1.0 - self.eta_min_factor) * (1.0 + np.cos(np.pi * x)) / 2.0


class CosineAnnealingWarmRestarts(Schedule):
    """SGDR (PyTorch CosineAnnealingWarmRestarts): cycle i lasts ``T_i = T_0 * T_mult**i`` steps; within it
    ``eta_min_factor + (1 - eta_min_factor) * (1 + cos(pi * T_cur / T_i)) / 2`` with ``T_cur`` the steps since
    the cycle began.  Defaults: T_mult=1, eta_min_factor=0."""

    def __init__(self, T_0, T_mult=1, eta_min_factor=0.0, per_batch=False):
        super().__init__(per_batch)
        self.T_0 = _pos_int("T_0", T_0)
        self.T_mult = _pos_int("T_mult", T_mult)
        self.eta_min_factor = _num("eta_min_factor", eta_min_factor, lo=0)

    def factor(self, t):
        t = np.asarray(t, dtype=np.int64)
        if self.T_mult == 1:
            t_cur, t_i = t % self.T_0, np.full(t.shape, self.T_0)
        else:
            starts, lengths, end, length = [0], [self.T_0], self.T_0, self.T_0
            top = int(t.max()) if t.size else 0
            while end <= top:  # cycle boundaries, exact in integers (logarithmically many)
                starts.append(end)
                length *= self.T_mult
                lengths.append(length)
                end += length
            i = np.searchsorted(np.asarray(starts, dtype=np.int64), t, side="right") - 1
            t_cur, t_i = t - np.asarray(starts, dtype=np.int64)[i], np.asarray(lengths, dtype=np.int64)[i]
        return self.eta_min_factor + (1.0 - self.eta_min_factor) * (1.0 + np.cos(np.pi * t_cur / t_i)) / 2.0


class LinearWarmup(Schedule):
    """Linear warm-up, then any schedule: ``start_factor + (1 - start_factor) * t / warmup_steps`` for
    ``t < warmup_steps``, then ``after.factor(t - warmup_steps)`` (the wrapped schedule's clock starts when
    the warm-up ends; ``after=None`` means 1).  Defaults: start_factor=0 (Keras's warm-up; PyTorch's
    LinearLR uses 1/3), per_batch taken from ``after`` (else per epoch).  ``on_epoch_end``, ``finished`` and
    the state are forwarded to ``after``, so ``LinearWarmup(5, after=ReduceLROnPlateau(...))`` works."""

    def __init__(self, warmup_steps, after=None, start_factor=0.0, per_batch=None):
        if after is not None and not isinstance(after, Schedule):
            raise ValueError(f"after must be a Schedule or None, got {type(after).__name__}")
        if per_batch is None:
            per_batch = after.per_batch if after is not None else False
        if after is not None and not after._clockless and bool(after.per_batch) != bool(per_batch):
            raise ValueError(f"LinearWarmup(per_batch={per_batch}) cannot wrap a schedule with "
                             f"per_batch={after.per_batch}: both must count the same units")
        super().__init__(per_batch)
        self.warmup_steps = _nonneg_int("warmup_steps", warmup_steps)
        self.after = after
        self.start_factor = _num("start_factor", start_factor, lo=0, hi=1)

    def factor(self, t):
        t = np.asarray(t, dtype=np.int64)
        w = self.warmup_steps
        rest = np.ones(t.shape) if self.after is None else np.broadcast_to(
            np.asarray(self.after.factor(np.maximum(t - w, 0)), dtype=np.float64), t.shape)
        if w == 0:
            return rest
        ramp = self.start_factor + (1.0 - self.start_factor) * t / w
        return np.where(t < w, ramp, rest)

    def on_epoch_end(self, epoch, logs=None):
        if self.after is not None:
            self.after.on_epoch_end(epoch, logs)

    @property
    def finished(self):
        return self.after is not None and self.after.finished

    def state_dict(self):
        d = super().state_dict()
        d["after"] = None if self.after is None else self.after.state_dict()
        return d

    def load_state_dict(self, d):
        super().load_state_dict(d)
        if self.after is not None:
            self.after.load_state_dict(d["after"])


class OneCycle(Schedule):
    """The 1cycle policy (Smith & Toporkov), as PyTorch's OneCycleLR with the optimizer's ``lr`` times
    ``max_factor`` as its ``max_lr``: factors rise from ``initial = max_factor / div_factor`` to
    ``max_factor`` over the first ``pct_start * total_steps - 1`` steps, then fall to
    ``initial / final_div_factor`` at step ``total_steps - 1`` (and stay there after).  ``three_phase``: up,
    back down to ``initial`` at ``2 * pct_start * total_steps - 2``, then to the minimum.  ``anneal``: "cos"
    (``end + (start - end) * (1 + cos(pi * pct)) / 2``) or "linear".  Only the rate is cycled, not momentum.
    Defaults: max_factor=1, pct_start=0.3, div_factor=25, final_div_factor=1e4, per batch."""

    def __init__(self, total_steps, max_factor=1.0, pct_start=0.3, div_factor=25.0, final_div_factor=1e4,
                 anneal="cos", three_phase=False, per_batch=True):
        super().__init__(per_batch)
        self.total_steps = _pos_int("total_steps", total_steps)
        self.max_factor = _num("max_factor", max_factor, lo=0, lo_open=True)
        self.pct_start = _num("pct_start", pct_start, lo=0, hi=1)
        self.div_factor = _num("div_factor", div_factor, lo=0, lo_open=True)
        self.final_div_factor = _num("final_div_factor", final_div_factor, lo=0, lo_open=True)
        if anneal not in ("cos", "linear"):
            raise ValueError(f"anneal must be 'cos' or 'linear', got {anneal!r}")
        self.anneal = anneal
        self.three_phase = bool(three_phase)
        init = self.max_factor / self.div_factor
        low = init / self.final_div_factor
        T, p = float(self.total_steps), self.pct_start
        if self.three_phase:
            self._phases = [(p * T - 1, init, self.max_factor), (2 * p * T - 2, self.max_factor, init),
                            (T - 1, init, low)]
        else:
            self._phases = [(p * T - 1, init, self.max_factor), (T - 1, self.max_factor, low)]

    def _anneal(self, start, end, pct):
        if self.anneal == "cos":
            return end + (start - end) / 2.0 * (np.cos(np.pi * pct) + 1)
        return (end - start) * pct + start

    def factor(self, t):
        t = np.minimum(np.asarray(t, dtype=np.float64), self.total_steps - 1)
        out = np.empty(t.shape)
        done = np.zeros(t.shape, dtype=bool)
        start_step = 0.0
        for i, (end_step, a, b) in enumerate(self._phases):
            sel = ~done & ((t <= end_step) | (i == len(self._phases) - 1))
            with np.errstate(divide="ignore", invalid="ignore"):
                pct = (t[sel] - start_step) / (end_step - start_step)
            out[sel] = self._anneal(a, b, pct)
            done |= sel
            start_step = end_step
        return out


class ReduceLROnPlateau(Schedule):
    """Reduce the multiplier when ``logs[monitor]`` stops improving (PyTorch ReduceLROnPlateau semantics,
    applied to a multiplier that starts at 1).  Constant within an epoch; ``on_epoch_end`` does the logic:

    improvement: ``current < best * (1 - threshold)`` (mode "min", threshold_mode "rel"),
    ``current < best - threshold`` ("min", "abs"), ``current > best * (1 + threshold)`` ("max", "rel"),
    ``current > best + threshold`` ("max", "abs").  An improvement sets best and zeroes the count of bad
    epochs, anything else (NaN included) adds one.  During a cooldown (``cooldown`` epochs after a reduction)
    bad epochs are not counted.  When the count exceeds ``patience``:
    ``scale = max(scale * factor, min_lr_factor)`` (skipped when that changes it by <= eps), the cooldown
    starts and the count resets.

    ``stop_at_min``: ``finished`` becomes True once the multiplier has reached ``min_lr_factor`` (> 0).
    Defaults: monitor="val_loss", mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
    cooldown=0, min_lr_factor=0, eps=1e-8, stop_at_min=False."""

    _clockless = True

    def __init__(self, monitor="val_loss", mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr_factor=0.0, eps=1e-8, stop_at_min=False):
        super().__init__(per_batch=False)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.monitor = str(monitor)
        self.mode = mode
        self.reduce_factor = _num("factor", factor, lo=0, hi=1, hi_open=True)
        self.patience = _nonneg_int("patience", patience)
        self.threshold = _num("threshold", threshold, lo=0)
        self.threshold_mode = threshold_mode
        self.cooldown = _nonneg_int("cooldown", cooldown)
        self.min_lr_factor = _num("min_lr_factor", min_lr_factor, lo=0, hi=1)
        self.eps = _num("eps", eps, lo=0)
        self.stop_at_min = bool(stop_at_min)
        if self.stop_at_min and self.min_lr_factor <= 0:
            raise ValueError("stop_at_min needs min_lr_factor > 0")
        self.scale = 1.0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def factor(self, t):
        return np.full(np.shape(t), self.scale)

    def _is_better(self, a, best):
        if self.mode == "min":
            return a < (best * (1.0 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return a > (best * (1.0 + self.threshold) if self.threshold_mode == "rel" else best + self.threshold)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(f"ReduceLROnPlateau monitors {self.monitor!r}, which is not in the epoch's logs "
                             f"(available: {sorted(logs)}); pass validation data or monitor='loss'")
        current = float(logs[self.monitor])
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            new = max(self.scale * self.reduce_factor, self.min_lr_factor)
            if self.scale - new > self.eps:
                self.scale = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    @property
    def finished(self):
        return self.stop_at_min and self.scale <= self.min_lr_factor * (1 + 1e-12)

    @property
    def current_scale(self):
        return self.scale

    def state_dict(self):
        d = super().state_dict()
        d.update(scale=self.scale, best=self.best, num_bad_epochs=self.num_bad_epochs,
                 cooldown_counter=self.cooldown_counter)
        return d

    def load_state_dict(self, d):
        super().load_state_dict(d)
        self.scale = float(d["scale"])
        self.best = float(d["best"])
        self.num_bad_epochs = _nonneg_int("num_bad_epochs", d["num_bad_epochs"])
        self.cooldown_counter = _nonneg_int("cooldown_counter", d["cooldown_counter"])

    def _config(self):
        return {"monitor": self.monitor, "mode": self.mode, "factor": self.reduce_factor,
                "patience": self.patience, "min_lr_factor": self.min_lr_factor}


def nielsen(patience=10, monitor="val_loss", mode="min", **kwargs):
    """Nielsen's rule ("Neural Networks and Deep Learning", ch. 3): halve the rate after ``patience`` epochs
    without improvement and stop once it has fallen to 1/128 of its initial value.  That is
    ``ReduceLROnPlateau(factor=0.5, patience=patience, min_lr_factor=1/128, stop_at_min=True)``: its
    ``finished`` turns True after the seventh halving."""
    return ReduceLROnPlateau(monitor=monitor, mode=mode, factor=0.5, patience=patience,
                             min_lr_factor=1.0 / 128, stop_at_min=True, **kwargs)
