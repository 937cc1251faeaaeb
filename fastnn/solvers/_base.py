"""The solvers' common part: argument checks, ``SolverResult`` and the ``Solver`` base class with the shared
iteration loop (history, callbacks, stopping tests); part of :mod:`fastnn.solvers`."""
import math
import sys
import time

import numpy as np

from .. import callbacks as _cbs
from .. import metrics as _metrics
from ._objective import _Objective, _check_model


def _int(who, name, v, minimum=1, none=False):
    if v is None and none:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ValueError(f"{who}: {name} must be an int >= {minimum}{' or None' if none else ''}, got {v!r}")
    return int(v)


def _float(who, name, v, lower=0.0, upper=None, strict=False, upper_strict=False):
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{who}: {name} must be a number, got {v!r}") from None
    bad = not math.isfinite(f) or (f <= lower if strict else f < lower)
    if upper is not None:
        bad = bad or (f >= upper if upper_strict else f > upper)
    if bad or isinstance(v, bool):
        lo = f"{'>' if strict else '>='} {lower}"
        hi = "" if upper is None else f" and {'<' if upper_strict else '<='} {upper}"
        raise ValueError(f"{who}: {name} must be a finite number {lo}{hi}, got {v!r}")
    return f


class SolverResult:
    """What ``minimize`` returns (the model holds the solution): ``loss`` (final objective, penalties
    included), ``n_iter``, ``n_eval`` (loss-and-gradient evaluations), ``n_jac`` (Jacobians, LM only),
    ``grad_norm`` (largest absolute gradient entry at the end), ``converged`` (a tolerance was met),
    ``reason`` (why it stopped), ``history`` (a ``History``: one entry per iteration), ``method``, ``time``."""

    def __init__(self, method, loss, n_iter, n_eval, n_jac, grad_norm, converged, reason, history, elapsed):
        self.method, self.loss, self.n_iter, self.n_eval, self.n_jac = method, loss, n_iter, n_eval, n_jac
        self.grad_norm, self.converged, self.reason, self.history, self.time = (grad_norm, converged, reason,
                                                                               history, elapsed)

    def __repr__(self):
        return (f"SolverResult(method={self.method!r}, loss={self.loss:.6g}, n_iter={self.n_iter}, "
                f"n_eval={self.n_eval}, converged={self.converged}, reason={self.reason!r})")


class _Run:
    """Visible to callbacks as ``callback.run`` (as in fit)."""

    def __init__(self, history):
        self.history = history
        self.schedule = None
        self.callbacks = None


def _format(it, total, logs):
    parts = [f"iter {it}/{total}"]
    for k, v in logs.items():
        if k in ("time", "n_eval"):
            continue
        if k in ("grad_norm", "step", "mu"):
            parts.append(f"{k} {v:.3g}")
        else:
            parts.append(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}")
    parts.append(f"evals {logs['n_eval']}")
    parts.append(f"{logs['time']:.2f}s")
    return " - ".join(parts)


class Solver:
    """Base class of the full-batch solvers.  Common options:

    - ``max_iter`` (default 100): iterations (accepted steps);
    - ``max_eval`` (default None: no limit besides ``max_iter``): loss-and-gradient evaluations;
    - ``tolerance_grad`` (default 1e-7): stop when the largest absolute gradient entry is <= this;
    - ``tolerance_change`` (default 1e-9): stop when the loss changes by <= tolerance_change * max(1, |loss|)
      in an iteration (scipy's relative ``ftol`` test) or no parameter moves by more than it.
    """

    name = None

    def __init__(self, max_iter=100, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9):
        who = type(self).__name__
        self.max_iter = _int(who, "max_iter", max_iter)
        self.max_eval = _int(who, "max_eval", max_eval, none=True)
        self.tolerance_grad = _float(who, "tolerance_grad", tolerance_grad)
        self.tolerance_change = _float(who, "tolerance_change", tolerance_change)

    def _options(self):
        return {"max_iter": self.max_iter, "max_eval": self.max_eval, "tolerance_grad": self.tolerance_grad,
                "tolerance_change": self.tolerance_change}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._options().items())
        return f"{type(self).__name__}({args})"

    # subclasses: a generator yielding (x, f, g, info) after each accepted step; its return value is the
    # reason when it stops by itself
    def _steps(self, obj, x, f, g):
        raise NotImplementedError

    def _prepare(self, model, obj):
        """Checks that need the data (LM: loss kind and sizes)."""

    def minimize(self, model, X, y, validation_data=None, callbacks=None, verbose=0, metrics=None,
                 batch_size=None, file=None):
        """Minimise the evaluation-mode loss of the compiled ``model`` over all of (X, y), starting from its
        current weights (left at the solution).  ``validation_data`` ((X_val, y_val)) and ``metrics`` are
        logged as ``val_*`` every iteration; ``callbacks`` as in fit; ``verbose`` 0 (default) silent, 1 or 2
        one line per iteration and a final line with the reason; ``batch_size`` (default None: all rows as
        one batch) splits each evaluation into row chunks (to bound memory; the result is the same mean).
        Returns a ``SolverResult``."""
        from .. import trainer
        from ..model import _as_inputs

        who = f"{type(self).__name__}.minimize"
        _check_model(model, who)
        model._require_compiled(who)
        if verbose not in (0, 1, 2):
            raise ValueError(f"{who}: verbose must be 0, 1 or 2, got {verbose!r}")
        batch_size = _int(who, "batch_size", batch_size, none=True)
        X = _as_inputs(X, model.in_dim, input_shape=model.input_shape)
        n = X.shape[0]
        if n == 0:
            raise ValueError(f"{who}: X has no samples")
        target, labels = model._targets(y, n)
        task = trainer._task(model)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError(f"{who}: validation_data must be (X_val, y_val)")
            Xv = _as_inputs(validation_data[0], model.in_dim, "X_val", input_shape=model.input_shape)
            vt, vl = model._targets(validation_data[1], Xv.shape[0], "y_val")
            val = (Xv, vt, vl, np.asarray(validation_data[1]))
        metric_list = [_metrics.get(m) for m in (metrics or [])]
        classify = model._accuracy(0, 1) is not None

        obj = _Objective(model, X, target, labels, batch_size, self.max_eval)
        self._prepare(model, obj)
        history = trainer.History()
        run = _Run(history)
        params = {"epochs": self.max_iter, "initial_epoch": 0, "batch_size": batch_size or n, "n_batches": 1,
                  "steps": 1, "n_samples": n, "verbose": verbose}
        cbl = _cbs.CallbackList(callbacks, model, params, run)
        run.callbacks = cbl
        out = file or sys.stdout
        model.stop_training = False
        t_start = time.perf_counter()

        x0 = obj.get()
        if not np.isfinite(x0).all():
            raise ValueError(f"{who}: the model's weights contain NaN or Inf")
        x, f, g = obj(x0)
        if not math.isfinite(f) or not np.isfinite(g).all():
            raise FloatingPointError(f"{who}: the loss or its gradient is NaN or Inf at the starting weights")
        cbl.on_train_begin()
        reason, converged, it = None, False, 0
        if float(np.abs(g).max()) <= self.tolerance_grad:
            reason, converged = "gradient below tolerance_grad at the start", True
        else:
            steps = self._steps(obj, x, f, g)
            accepted = x
            try:
                while True:
                    if it >= self.max_iter:
                        reason = "max_iter reached"
                        break
                    cbl.on_epoch_begin(it, {})
                    t_iter = time.perf_counter()
                    try:
                        x_new, f_new, g_new, info = next(steps)
                    except StopIteration as stop:
                        reason = stop.value or "the solver stopped"
                        break
                    obj.put(x_new)          # the accepted point (a line search may have ended elsewhere)
                    accepted = x_new
                    gmax = float(np.abs(g_new).max())
                    logs = {"loss": f_new}
                    if classify:
                        acc_batch = max(256, min(n, 4096))
                        logs["accuracy"] = model._evaluate_arrays(X, target, labels, acc_batch)["accuracy"]
                    logs["grad_norm"] = gmax
                    logs.update(info)
                    if val is not None:
                        vres = trainer._eval_arrays(model, val[0], val[1], val[2], val[3], metric_list, task, 256)
                        logs.update({"val_" + k: v for k, v in vres.items()})
                    logs["n_eval"] = obj.n_eval
                    logs["time"] = time.perf_counter() - t_iter
                    history.append(it, logs)
                    if verbose:
                        print(_format(it + 1, self.max_iter, logs), file=out, flush=True)
                    cbl.on_epoch_end(it, logs)
                    it += 1
                    change = abs(f - f_new)
                    moved = float(np.abs(x_new - x).max())
                    x, f, g = x_new, f_new, g_new
                    if gmax <= self.tolerance_grad:
                        reason, converged = "gradient below tolerance_grad", True
                    elif change <= self.tolerance_change * max(1.0, abs(f)):
                        reason, converged = "loss change below tolerance_change", True
                    elif moved <= self.tolerance_change:
                        reason, converged = "step below tolerance_change", True
                    elif model.stop_training:
                        reason = "stopped by a callback"
                    elif obj.max_eval is not None and obj.budget() <= 0:
                        reason = "max_eval reached"
                    if reason is not None:
                        break
            finally:     # leave the model at the last accepted point, whatever happened
                steps.close()
                obj.put(accepted)
        cbl.on_train_end({})
        stored = obj.get()
        if not np.array_equal(stored, x):       # a callback (EarlyStopping) restored other weights
            f, g = obj.value_grad()
        elapsed = time.perf_counter() - t_start
        gmax = float(np.abs(g).max())
        if verbose:
            print(f"{type(self).__name__}: {reason} after {it} iterations and {obj.n_eval} evaluations - "
                  f"loss {f:.6g} - grad_norm {gmax:.3g} - {elapsed:.2f}s", file=out, flush=True)
        return SolverResult(self.name, f, it, obj.n_eval, getattr(obj, "n_jac", 0), gmax, converged, reason,
                            history, elapsed)
