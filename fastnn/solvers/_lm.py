"""The Jacobian of a network's outputs (``jacobian``) and Levenberg-Marquardt, which solves with it; part of
:mod:`fastnn.solvers`."""
import math

import numpy as np

from .. import losses as _losses
from .._config import get_num_threads
from .._ext import _core
from ._base import Solver, _float, _int
from ._objective import _check_model, _trainable_index


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
