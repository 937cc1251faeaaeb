"""Full-batch second-order solvers for small networks: L-BFGS, nonlinear conjugate gradient (Polak-Ribiere+)
and Levenberg-Marquardt.

    model = fnn.Sequential([fnn.Linear(1, 20, activation="tanh"), fnn.Linear(20, 1)], seed=0)
    model.compile(loss="mse")
    result = fnn.solvers.minimize(model, X, y, method="lbfgs", max_iter=200)
    result.loss, result.n_iter, result.n_eval, result.reason, result.history.history["loss"]

The objective is the model's **evaluation-mode** mean loss over all rows of (X, y), plus the layers' L1/L2
penalties: exactly what ``model.evaluate(X, y)["loss"]`` reports.  Every loss and gradient is one call of the
compiled plan (``Plan.loss_grad``, all rows as one batch, or in row chunks of ``batch_size`` whose means are
combined); the solvers' own vectors (iterate, directions, L-BFGS memory, Jacobian) are float64 numpy arrays
over the model's trainable parameters, stored into the float32 parameter buffer before each evaluation.

Evaluation mode makes the objective deterministic: ``Dropout``, ``AlphaDropout``, ``GaussianNoise`` and
``drop_connect`` are inactive and ``RReLU`` uses its mean slope, as in ``predict``.  ``BatchNorm`` layers are
refused (their gradient is defined for batch statistics, their evaluation output for running statistics), and
so is ``max_norm`` (a constraint applied by the SGD-family update, which the solvers do not take).  The
``compile`` optimizer, ``clip_norm``/``clip_value`` and learning-rate schedules play no part.

Each solver iteration is reported like an epoch of ``fit``: a ``History`` (``loss``, ``accuracy`` for
classification, ``grad_norm`` (largest absolute gradient entry), ``n_eval``, ``step`` (line-search step) or
``mu`` (damping), ``time``, and ``val_*`` with ``validation_data``), one line per iteration with ``verbose``,
and Keras callbacks' ``on_train_begin``/``on_epoch_begin``/``on_epoch_end``/``on_train_end`` with the
iteration index as the epoch (``EarlyStopping`` with ``restore_best_weights``, ``CSVLogger``,
``TerminateOnNaN``, ``LambdaCallback`` work; ``on_batch_end`` is never called, and callbacks that change the
optimizer's learning rate have no effect).  ``model.epochs_trained`` is not advanced.
"""
import math
import sys
import time

import numpy as np

from .. import callbacks as _cbs
from .. import losses as _losses
from .. import metrics as _metrics
from .._config import get_num_threads
from .._ext import _core

__all__ = ["Solver", "LBFGS", "ConjugateGradient", "CG", "LevenbergMarquardt", "LM", "SolverResult",
           "LineSearchResult", "line_search", "jacobian", "minimize", "get"]


# ----------------------------------------------------------------------------------------------------------
# argument checks
# ----------------------------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------------------------
# the objective: the C engine's full-batch loss and gradient over the trainable parameters
# ----------------------------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------------------------
# strong-Wolfe line search with cubic interpolation (Nocedal & Wright, Algorithms 3.5 and 3.6)
# ----------------------------------------------------------------------------------------------------------

class LineSearchResult:
    """``t``: the step (0 when no point with a lower loss was found); ``f``, ``g``: loss and gradient there;
    ``n_eval``: evaluations spent; ``wolfe``: whether the strong Wolfe conditions hold at ``t``."""

    def __init__(self, t, f, g, n_eval, wolfe, payload=None):
        self.t, self.f, self.g, self.n_eval, self.wolfe = t, f, g, n_eval, wolfe
        self.payload = payload

    def __repr__(self):
        return f"LineSearchResult(t={self.t:.6g}, f={self.f:.6g}, n_eval={self.n_eval}, wolfe={self.wolfe})"


def _cubic_min(t1, f1, g1, t2, f2, g2, lo, hi):
    """Minimiser of the cubic through (t1, f1) and (t2, f2) with slopes g1, g2, clamped to [lo, hi]; the
    middle of [lo, hi] when the cubic has no minimiser or a value is not finite."""
    if lo > hi:
        lo, hi = hi, lo
    try:
        d1 = g1 + g2 - 3.0 * (f1 - f2) / (t1 - t2)
        disc = d1 * d1 - g1 * g2
        if math.isfinite(disc) and disc >= 0.0:
            d2 = math.copysign(math.sqrt(disc), t2 - t1)
            tm = t2 - (t2 - t1) * (g2 + d2 - d1) / (g2 - g1 + 2.0 * d2)
            if math.isfinite(tm):
                return min(max(tm, lo), hi)
    except (ZeroDivisionError, OverflowError, ValueError):
        pass
    return 0.5 * (lo + hi)


def _strong_wolfe(phi, t, f0, gtd0, c1, c2, max_evals, t_tol):
    """Find t > 0 with f(t) <= f0 + c1 t gtd0 and |f'(t)| <= c2 |gtd0| (gtd0 < 0).  ``phi(t)`` returns
    (f, f'(t), payload); a non-finite f counts as too large.  ``t_tol``: stop zooming when the bracket is
    narrower.  Returns a LineSearchResult (g = f'(t), payload from phi)."""
    def wolfe(p):
        return p[1] <= f0 + c1 * p[0] * gtd0 and abs(p[2]) <= -c2 * gtd0

    prev = (0.0, f0, gtd0, None)
    n = 0
    while n < max_evals:
        f, gtd, payload = phi(t)
        n += 1
        if not math.isfinite(f):
            f, gtd = math.inf, math.nan
        cur = (t, f, gtd, payload)
        if not f <= f0 + c1 * t * gtd0 or (n > 1 and f >= prev[1]):
            return _zoom(phi, prev, cur, f0, gtd0, c1, c2, max_evals, n, t_tol, wolfe)
        if abs(gtd) <= -c2 * gtd0:
            return LineSearchResult(t, f, gtd, n, True, payload)
        if gtd >= 0:
            return _zoom(phi, cur, prev, f0, gtd0, c1, c2, max_evals, n, t_tol, wolfe)
        t_next = _cubic_min(prev[0], prev[1], prev[2], t, f, gtd, t + 0.01 * (t - prev[0]), 10.0 * t)
        prev, t = cur, t_next
    # out of evaluations while still extrapolating: the last point decreased the loss (Armijo held)
    return LineSearchResult(prev[0], prev[1], prev[2], n, wolfe(prev) if prev[0] > 0 else False, prev[3])


def _zoom(phi, lo, hi, f0, gtd0, c1, c2, max_evals, n, t_tol, wolfe):
    """Shrink the bracket [lo, hi] (lo: the lowest loss so far, Armijo holds there) by safeguarded cubic
    interpolation until a strong-Wolfe point is found."""
    while n < max_evals:
        a, b = min(lo[0], hi[0]), max(lo[0], hi[0])
        w = b - a
        if w <= t_tol:
            break
        t = _cubic_min(lo[0], lo[1], lo[2], hi[0], hi[1], hi[2], a + 0.1 * w, b - 0.1 * w)
        f, gtd, payload = phi(t)
        n += 1
        if not math.isfinite(f):
            f, gtd = math.inf, math.nan
        cur = (t, f, gtd, payload)
        if not f <= f0 + c1 * t * gtd0 or f >= lo[1]:
            hi = cur
        else:
            if abs(gtd) <= -c2 * gtd0:
                return LineSearchResult(t, f, gtd, n, True, payload)
            if gtd * (hi[0] - lo[0]) >= 0:
                hi = lo
            lo = cur
    return LineSearchResult(lo[0], lo[1], lo[2], n, wolfe(lo) if lo[0] > 0 else False, lo[3])


def line_search(fun, x, d, f0=None, g0=None, t0=1.0, c1=1e-4, c2=0.9, max_evals=25, xtol=1e-12):
    """Strong-Wolfe line search along ``d`` from ``x`` for ``fun(x) -> (f, g)`` (numpy float64 vectors):
    bracketing with cubic extrapolation, then zoom with safeguarded cubic interpolation (Nocedal & Wright,
    Algorithms 3.5-3.6).  ``d`` must be a descent direction (g0 . d < 0).  Returns a ``LineSearchResult``
    whose ``g`` is the full gradient at ``x + t d``; the step satisfies
    ``f <= f0 + c1 t g0.d`` and ``|g.d| <= c2 |g0.d|`` when ``wolfe`` is True.  Defaults: t0=1, c1=1e-4,
    c2=0.9, max_evals=25, xtol=1e-12 (smallest bracket, in units of x)."""
    x = np.asarray(x, dtype=np.float64)
    d = np.asarray(d, dtype=np.float64)
    if f0 is None or g0 is None:
        f0, g0 = fun(x)
    g0 = np.asarray(g0, dtype=np.float64)
    gtd0 = float(g0 @ d)
    if not gtd0 < 0:
        raise ValueError(f"line_search: d is not a descent direction (g0 . d = {gtd0!r})")
    t0 = _float("line_search", "t0", t0, strict=True)
    c1 = _float("line_search", "c1", c1, 0.0, 1.0, strict=True, upper_strict=True)
    c2 = _float("line_search", "c2", c2, c1, 1.0, strict=True, upper_strict=True)
    max_evals = _int("line_search", "max_evals", max_evals)

    def phi(t):
        f, g = fun(x + t * d)
        g = np.asarray(g, dtype=np.float64)
        return float(f), float(g @ d), g

    dmax = float(np.abs(d).max())
    r = _strong_wolfe(phi, t0, float(f0), gtd0, c1, c2, max_evals, xtol / dmax)
    grad = r.payload if r.payload is not None else g0
    return LineSearchResult(r.t, r.f, grad, r.n_eval, r.wolfe)


def _search(obj, x, f, g, d, gtd, t0, c1, c2, max_ls, tol):
    """Strong-Wolfe search on the objective; payload (x as stored, g).  None when no decrease was found."""
    def phi(t):
        xs, ft, gt = obj(x + t * d)
        return ft, float(gt @ d), (xs, gt)

    evals = min(max_ls, obj.budget())
    if evals < 1:
        return None
    r = _strong_wolfe(phi, t0, f, gtd, c1, c2, evals, tol / max(float(np.abs(d).max()), 1e-300))
    if r.t <= 0 or r.payload is None or not r.f < f:
        return None
    return r


# ----------------------------------------------------------------------------------------------------------
# results and the shared loop
# ----------------------------------------------------------------------------------------------------------

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


def _first_step(g, lr):
    """The first iteration's trial step along -g: lr * min(1, 1 / ||g||_1) (as PyTorch's L-BFGS)."""
    return lr * min(1.0, 1.0 / float(np.abs(g).sum()))


# ----------------------------------------------------------------------------------------------------------
# L-BFGS
# ----------------------------------------------------------------------------------------------------------

class LBFGS(Solver):
    """Limited-memory BFGS with a strong-Wolfe line search (cubic interpolation).

    ``history_size`` (default 10, scipy's m): curvature pairs kept; ``lr`` (default 1): the trial step of
    each line search (the first iteration's is lr * min(1, 1/||g||_1)); ``c1`` (1e-4) and ``c2`` (0.9): the
    Wolfe constants; ``max_ls`` (25): evaluations per line search.  The initial inverse Hessian of each
    two-loop recursion is (s.y / y.y) I; a pair is stored only when s.y > 1e-10; when a line search finds no
    decrease the memory is dropped and steepest descent is tried once before giving up.  Plus the common
    options of ``Solver``."""

    name = "lbfgs"

    def __init__(self, history_size=10, lr=1.0, max_iter=100, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, c1=1e-4, c2=0.9, max_ls=25):
        super().__init__(max_iter, max_eval, tolerance_grad, tolerance_change)
        who = type(self).__name__
        self.history_size = _int(who, "history_size", history_size)
        self.lr = _float(who, "lr", lr, strict=True)
        self.c1 = _float(who, "c1", c1, 0.0, 1.0, strict=True, upper_strict=True)
        self.c2 = _float(who, "c2", c2, self.c1, 1.0, strict=True, upper_strict=True)
        self.max_ls = _int(who, "max_ls", max_ls)

    def _options(self):
        return dict(super()._options(), history_size=self.history_size, lr=self.lr, c1=self.c1, c2=self.c2,
                    max_ls=self.max_ls)

    @staticmethod
    def _direction(g, S, Y, rho):
        """-H g by the two-loop recursion over the stored pairs."""
        q = -g
        alphas = []
        for s, y, r in zip(reversed(S), reversed(Y), reversed(rho)):
            a = r * float(s @ q)
            q -= a * y
            alphas.append(a)
        if S:
            q *= float(S[-1] @ Y[-1]) / float(Y[-1] @ Y[-1])
        for s, y, r, a in zip(S, Y, rho, reversed(alphas)):
            b = r * float(y @ q)
            q += (a - b) * s
        return q

    def _steps(self, obj, x, f, g):
        S, Y, rho = [], [], []
        d, t0 = -g, _first_step(g, self.lr)
        while True:
            gtd = float(g @ d)
            ls = None
            if gtd < 0:
                ls = _search(obj, x, f, g, d, gtd, t0, self.c1, self.c2, self.max_ls, self.tolerance_change)
            if ls is None:
                if obj.budget() <= 0:
                    return "max_eval reached"
                if S:       # stale curvature: retry from steepest descent with an empty memory
                    S, Y, rho = [], [], []
                    d, t0 = -g, _first_step(g, self.lr)
                    continue
                return "line search found no lower loss (float32 precision reached?)"
            x_new, g_new = ls.payload
            s, yv = x_new - x, g_new - g
            sy = float(s @ yv)
            if sy > 1e-10:
                S.append(s)
                Y.append(yv)
                rho.append(1.0 / sy)
                if len(S) > self.history_size:
                    S.pop(0), Y.pop(0), rho.pop(0)
            x, f, g = x_new, ls.f, g_new
            yield x, f, g, {"step": ls.t}
            d, t0 = self._direction(g, S, Y, rho), self.lr


# ----------------------------------------------------------------------------------------------------------
# nonlinear conjugate gradient
# ----------------------------------------------------------------------------------------------------------

class ConjugateGradient(Solver):
    """Nonlinear conjugate gradient, Polak-Ribiere+ (beta = max(0, g.(g - g_prev) / |g_prev|^2)), with the
    strong-Wolfe line search.  Restarts from steepest descent automatically when beta <= 0, when successive
    gradients are far from orthogonal (Powell: |g.g_prev| >= 0.2 |g|^2), every ``restart`` iterations
    (default None: the number of parameters) and whenever the direction is not a descent direction.  The
    trial step after the first is t_prev * (g_prev.d_prev) / (g.d) (Nocedal & Wright 3.60); the first is
    lr * min(1, 1/||g||_1) (``lr`` default 1).  ``c1`` (1e-4), ``c2`` (0.1, as recommended for CG),
    ``max_ls`` (25).  Plus the common options of ``Solver``."""

    name = "cg"

    def __init__(self, lr=1.0, restart=None, max_iter=100, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, c1=1e-4, c2=0.1, max_ls=25):
        super().__init__(max_iter, max_eval, tolerance_grad, tolerance_change)
        who = type(self).__name__
        self.lr = _float(who, "lr", lr, strict=True)
        self.restart = _int(who, "restart", restart, none=True)
        self.c1 = _float(who, "c1", c1, 0.0, 1.0, strict=True, upper_strict=True)
        self.c2 = _float(who, "c2", c2, self.c1, 1.0, strict=True, upper_strict=True)
        self.max_ls = _int(who, "max_ls", max_ls)

    def _options(self):
        return dict(super()._options(), lr=self.lr, restart=self.restart, c1=self.c1, c2=self.c2,
                    max_ls=self.max_ls)

    def _steps(self, obj, x, f, g):
        every = self.restart or x.size
        d = -g
        t0 = _first_step(g, self.lr)
        k = 0                                   # iterations since the last restart
        while True:
            gtd = float(g @ d)
            if not gtd < 0:                     # not a descent direction
                d, gtd, k = -g, -float(g @ g), 0
            ls = _search(obj, x, f, g, d, gtd, t0, self.c1, self.c2, self.max_ls, self.tolerance_change)
            if ls is None:
                if obj.budget() <= 0:
                    return "max_eval reached"
                if k > 0:
                    d, t0, k = -g, _first_step(g, self.lr), 0
                    continue
                return "line search found no lower loss (float32 precision reached?)"
            x_new, g_new = ls.payload
            gg = float(g @ g)
            beta = max(0.0, float(g_new @ (g_new - g)) / gg) if gg > 0 else 0.0
            k += 1
            if k >= every or abs(float(g_new @ g)) >= 0.2 * float(g_new @ g_new):
                beta, k = 0.0, 0
            d = -g_new + beta * d
            gtd_new = float(g_new @ d)
            t0 = ls.t * gtd / gtd_new if gtd_new < 0 else _first_step(g_new, self.lr)
            if not (math.isfinite(t0) and t0 > 0):
                t0 = _first_step(g_new, self.lr)
            x, f, g = x_new, ls.f, g_new
            yield x, f, g, {"step": ls.t}


CG = ConjugateGradient


# ----------------------------------------------------------------------------------------------------------
# Jacobian and Levenberg-Marquardt
# ----------------------------------------------------------------------------------------------------------

def _mse_plan(model):
    """A plan over the model's buffers with the MSE loss, whatever the model is compiled with."""
    return _core.Plan(model._plan_specs(), model.in_dim, model.params, model.grads, "mse", 1.0, model.seed)


def _jacobian(model, X, idx, plan=None):
    """(outputs (N, D) float32, J (N*D, P) float64) of the evaluation-mode outputs w.r.t. the parameters at
    ``idx``.  Row i*D + j is d out[i, j] / d params: one engine gradient per output element, of the MSE of
    row i alone against a target moved by c along output j (the gradient is then (2c / D) d out[i, j] plus
    the penalty's gradient, which is subtracted)."""
    plan = plan or _mse_plan(model)
    nt = get_num_threads()
    n, D = X.shape[0], model.out_dim
    out = plan.forward(X, 1, nt)       # row by row: the same kernels as the one-row loss_grad calls below
    P = model.params[idx].size
    J = np.empty((n * D, P), dtype=np.float64)
    gpen = None
    if plan.penalty() != 0.0:           # zero residual: the gradient is the penalty's alone
        plan.loss_grad(X[:1], np.ascontiguousarray(out[:1]), None, False, 0, nt)
        gpen = model.grads[idx].astype(np.float64)
    for i in range(n):
        xi = X[i:i + 1]
        for j in range(D):
            t = out[i:i + 1].copy()
            c = 0.5 * D * max(1.0, abs(float(t[0, j])))
            t[0, j] = np.float32(float(t[0, j]) - c)
            c = float(out[i, j]) - float(t[0, j])      # the residual as stored
            plan.loss_grad(xi, t, None, False, 0, nt)
            row = model.grads[idx].astype(np.float64)
            if gpen is not None:
                row -= gpen
            J[i * D + j] = row * (D / (2.0 * c))
    return out, J


def jacobian(model, X):
    """The Jacobian of the network's evaluation-mode outputs with respect to its trainable parameters, from
    the C engine: ``(outputs, J)`` with outputs float32 (N, D) and J float64 (N*D, P), row ``i*D + j`` =
    d outputs[i, j] / d parameters, columns in ``model.parameters()`` order (the flat buffer's).  Costs N*D
    one-row gradient evaluations; meant for small networks (Levenberg-Marquardt, sensitivity analysis)."""
    from ..model import _as_inputs

    _check_model(model, "jacobian")
    X = _as_inputs(X, model.in_dim, input_shape=model.input_shape)
    if X.shape[0] == 0:
        raise ValueError("jacobian: X has no samples")
    return _jacobian(model, X, _trainable_index(model))


class LevenbergMarquardt(Solver):
    """Levenberg-Marquardt for least-squares losses (``mse``).

    With residuals r = outputs - targets over the N x D output elements and J = dr/dparams (``jacobian``),
    each iteration solves ``(J^T J + H_pen + mu I) d = -(J^T r + g_pen)`` (``damping="identity"``, Levenberg,
    as MATLAB's trainlm) or with ``mu diag(J^T J + H_pen)`` (``damping="marquardt"``), in the scale of
    0.5 * ||r||^2 = (N D / 2) * mse; the L1/L2 penalties enter through their gradient g_pen and the L2
    curvature H_pen = N D * l2 on the penalised weights.  A step that lowers the loss is taken and mu is
    multiplied by ``mu_dec``; otherwise mu is multiplied by ``mu_inc`` and the system solved again, until
    mu exceeds ``mu_max``.  Defaults (trainlm's): mu=1e-3, mu_dec=0.1, mu_inc=10, mu_max=1e10; mu never
    drops below ``mu_min`` (1e-20).

    The Jacobian is dense, N*D rows by P parameters, built with N*D one-row engine gradients: the solver
    refuses models with more than ``max_params`` (default 2,000) parameters or a Jacobian of more than
    ``max_jacobian_size`` (default 10,000,000) entries (80 MB).  Plus the common options of ``Solver``."""

    name = "lm"

    def __init__(self, mu=1e-3, mu_dec=0.1, mu_inc=10.0, mu_max=1e10, mu_min=1e-20, damping="identity",
                 max_iter=100, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9, max_params=2000,
                 max_jacobian_size=10_000_000):
        super().__init__(max_iter, max_eval, tolerance_grad, tolerance_change)
        who = type(self).__name__
        self.mu = _float(who, "mu", mu, strict=True)
        self.mu_dec = _float(who, "mu_dec", mu_dec, 0.0, 1.0, strict=True, upper_strict=True)
        self.mu_inc = _float(who, "mu_inc", mu_inc, 1.0, strict=True)
        self.mu_max = _float(who, "mu_max", mu_max, strict=True)
        self.mu_min = _float(who, "mu_min", mu_min)
        if damping not in ("identity", "marquardt"):
            raise ValueError(f"{who}: damping must be 'identity' or 'marquardt', got {damping!r}")
        self.damping = damping
        self.max_params = _int(who, "max_params", max_params)
        self.max_jacobian_size = _int(who, "max_jacobian_size", max_jacobian_size)

    def _options(self):
        return dict(super()._options(), mu=self.mu, mu_dec=self.mu_dec, mu_inc=self.mu_inc, mu_max=self.mu_max,
                    mu_min=self.mu_min, damping=self.damping, max_params=self.max_params,
                    max_jacobian_size=self.max_jacobian_size)

    def _prepare(self, model, obj):
        who = type(self).__name__
        if not isinstance(model.loss, _losses.MSELoss):
            raise ValueError(f"{who} needs a least-squares loss: compile the model with loss='mse' (it is "
                             f"compiled with {model.loss.name!r}); use LBFGS or ConjugateGradient otherwise")
        P = model.n_params()
        rows = obj.n * model.out_dim
        if P > self.max_params:
            raise ValueError(f"{who}: the model has {P:,} parameters, more than max_params={self.max_params:,} "
                             f"for the dense {P} x {P} system; use LBFGS or ConjugateGradient (or raise "
                             "max_params)")
        if rows * P > self.max_jacobian_size:
            raise ValueError(f"{who}: the dense Jacobian would be {rows:,} residuals x {P:,} parameters = "
                             f"{rows * P:,} entries, more than max_jacobian_size={self.max_jacobian_size:,}; "
                             "use fewer samples, LBFGS or ConjugateGradient (or raise max_jacobian_size)")
        obj.n_jac = 0
        # the L2 penalty's curvature: 2 * l2 on each penalised weight (the penalty is l2 * sum W^2)
        full = np.zeros(model.params.size, dtype=np.float64)
        for layer, off in zip(model.layers, model._offsets):
            l2 = float(getattr(layer, "l2", 0.0) or 0.0)
            if l2 and "weight" in off:
                size = int(np.prod(layer.param_shapes()["weight"]))
                full[off["weight"]:off["weight"] + size] = 2.0 * l2
        self._pen_diag = full[obj.idx]

    def _steps(self, obj, x, f, g):
        model = obj.model
        plan = _mse_plan(model)
        scale = 0.5 * obj.n * model.out_dim        # objective = scale^-1 * (0.5 ||r||^2) + penalty
        mu = self.mu
        eye = np.eye(x.size, dtype=np.float64)
        while True:
            obj.put(x)
            _, J = _jacobian(model, obj.X, obj.idx, plan)
            obj.n_jac += 1
            A = J.T @ J
            A[np.diag_indices_from(A)] += scale * self._pen_diag
            rhs = -scale * g                          # -(J^T r + scale * g_pen), from the engine's gradient
            damp = eye if self.damping == "identity" else np.diag(np.maximum(np.diag(A), 1e-12))
            while True:
                try:
                    d = np.linalg.solve(A + mu * damp, rhs)
                except np.linalg.LinAlgError:
                    d = np.linalg.lstsq(A + mu * damp, rhs, rcond=None)[0]
                if obj.budget() <= 0:
                    return "max_eval reached"
                x_new, f_new, g_new = obj(x + d)
                if math.isfinite(f_new) and f_new < f and np.isfinite(g_new).all():
                    mu = max(mu * self.mu_dec, self.mu_min)
                    break
                mu *= self.mu_inc
                if mu > self.mu_max:
                    obj.put(x)
                    return "mu exceeded mu_max"
            x, f, g = x_new, f_new, g_new
            yield x, f, g, {"mu": mu}


LM = LevenbergMarquardt

_BY_NAME = {"lbfgs": LBFGS, "l-bfgs": LBFGS, "cg": ConjugateGradient, "conjugate_gradient": ConjugateGradient,
            "lm": LevenbergMarquardt, "levenberg_marquardt": LevenbergMarquardt}


def get(method, **options):
    """A solver from an instance (no options then) or a name: "lbfgs", "cg" / "conjugate_gradient",
    "lm" / "levenberg_marquardt", built with ``options``."""
    if isinstance(method, Solver):
        if options:
            raise ValueError(f"solver options {sorted(options)} given with a {type(method).__name__} instance: "
                             "set them on the instance")
        return method
    if isinstance(method, str) and method.lower() in _BY_NAME:
        try:
            return _BY_NAME[method.lower()](**options)
        except TypeError as exc:
            raise TypeError(f"{method}: {exc}") from None
    raise ValueError(f"unknown solver {method!r}; expected a fastnn.solvers.Solver or one of {sorted(_BY_NAME)}")


def minimize(model, X, y, method="lbfgs", validation_data=None, callbacks=None, verbose=0, metrics=None,
             batch_size=None, file=None, **options):
    """Train the compiled ``model`` on all of (X, y) with a full-batch solver: ``method`` is "lbfgs"
    (default), "cg" or "lm", or a ``Solver`` instance; ``options`` go to the solver's constructor (e.g.
    ``max_iter=200, history_size=20``).  See ``Solver.minimize`` for the other arguments.  Returns a
    ``SolverResult``; the model holds the solution."""
    return get(method, **options).minimize(model, X, y, validation_data=validation_data, callbacks=callbacks,
                                           verbose=verbose, metrics=metrics, batch_size=batch_size, file=file)
