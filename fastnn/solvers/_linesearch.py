"""Strong-Wolfe line search with cubic interpolation (Nocedal & Wright, Algorithms 3.5 and 3.6): the public
``line_search`` and the solvers' search on the objective; part of :mod:`fastnn.solvers`."""
import math

import numpy as np

from ._base import _float, _int


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
