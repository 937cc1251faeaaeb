"""The line-search solvers: L-BFGS and nonlinear conjugate gradient (Polak-Ribiere+); part of
:mod:`fastnn.solvers`."""
import math

import numpy as np

from ._base import Solver, _float, _int
from ._linesearch import _search


def _first_step(g, lr):
    """The first iteration's trial step along -g: lr * min(1, 1 / ||g||_1) (as PyTorch's L-BFGS)."""
    return lr * min(1.0, 1.0 / float(np.abs(g).sum()))


class _LineSearchSolver(Solver):
    """The options both line-search solvers take: ``lr`` (the first trial step's scale), the Wolfe constants
    ``c1`` < ``c2`` and ``max_ls`` (evaluations per line search), validated once here."""

    def __init__(self, lr, c1, c2, max_ls, max_iter, max_eval, tolerance_grad, tolerance_change):
        super().__init__(max_iter, max_eval, tolerance_grad, tolerance_change)
        who = type(self).__name__
        self.lr = _float(who, "lr", lr, strict=True)
        self.c1 = _float(who, "c1", c1, 0.0, 1.0, strict=True, upper_strict=True)
        self.c2 = _float(who, "c2", c2, self.c1, 1.0, strict=True, upper_strict=True)
        self.max_ls = _int(who, "max_ls", max_ls)


# ----------------------------------------------------------------------------------------------------------
# L-BFGS
# ----------------------------------------------------------------------------------------------------------

class LBFGS(_LineSearchSolver):
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
        self.history_size = _int(type(self).__name__, "history_size", history_size)
        super().__init__(lr, c1, c2, max_ls, max_iter, max_eval, tolerance_grad, tolerance_change)

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

class ConjugateGradient(_LineSearchSolver):
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
        super().__init__(lr, c1, c2, max_ls, max_iter, max_eval, tolerance_grad, tolerance_change)
        self.restart = _int(type(self).__name__, "restart", restart, none=True)

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
