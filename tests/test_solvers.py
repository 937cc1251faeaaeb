"""Full-batch solvers: convex problems against closed-form / Newton references, the line search's Wolfe
conditions, L-BFGS and CG against SGD on a nonlinear fit, Levenberg-Marquardt's step against a numpy
finite-difference reference, regularisers, callbacks and errors."""
import io

import numpy as np
import pytest

import fastnn as fnn
from fastnn import solvers


@pytest.fixture(autouse=True)
def one_thread(threads):
    threads(1)     # tiny problems: the runs stay fast on a busy machine (results do not depend on it)


def _sin_data(n=100):
    X = np.linspace(-np.pi, np.pi, n, dtype=np.float32)[:, None]
    return X, np.sin(X)


def _mlp(hidden, loss="mse", seed=0, **kw):
    m = fnn.Sequential([fnn.Linear(1, hidden, activation="tanh", **kw), fnn.Linear(hidden, 1)], seed=seed)
    return m.compile(loss=loss)


def _linear_params(m):
    return np.r_[m.layers[0].weight.ravel(), m.layers[0].bias].astype(np.float64)


# ----------------------------------------------------------------------------------------------------------
# line search
# ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("t0", [1e-4, 0.3, 1.0, 50.0])
@pytest.mark.parametrize("c2", [0.9, 0.1])
def test_line_search_satisfies_strong_wolfe_on_a_quadratic(t0, c2):
    rng = np.random.default_rng(0)
    Q = rng.normal(size=(6, 6))
    A = Q @ Q.T + 0.5 * np.eye(6)
    b = rng.normal(size=6)
    calls = []

    def fun(x):
        calls.append(1)
        return 0.5 * x @ A @ x - b @ x, A @ x - b

    for trial in range(5):
        x = rng.normal(size=6) * 3
        f0, g0 = fun(x)
        d = -g0 + 0.5 * rng.normal(size=6) * np.linalg.norm(g0)
        if g0 @ d >= 0:
            d = -g0
        calls.clear()
        r = solvers.line_search(fun, x, d, f0, g0, t0=t0, c1=1e-4, c2=c2)
        assert r.wolfe and r.t > 0
        assert r.n_eval == len(calls) <= 25
        f, g = fun(x + r.t * d)
        assert f == pytest.approx(r.f) and np.allclose(g, r.g)
        assert f <= f0 + 1e-4 * r.t * (g0 @ d)                 # sufficient decrease
        assert abs(g @ d) <= c2 * abs(g0 @ d) + 1e-12          # strong curvature condition
    # the exact minimiser along d is found to the curvature tolerance: the cubic is exact on a quadratic
    t_star = -(g0 @ d) / (d @ A @ d)
    r = solvers.line_search(fun, x, d, f0, g0, t0=t_star * 3, c2=0.1)
    assert r.t == pytest.approx(t_star, rel=0.1)


def test_line_search_backs_off_from_non_finite_values():
    def fun(x):
        if x[0] > 2.0:
            return np.inf, np.array([np.nan])
        return (x[0] - 1.5) ** 2, np.array([2 * (x[0] - 1.5)])

    x = np.array([0.0])
    r = solvers.line_search(fun, x, np.array([1.0]), t0=100.0)
    assert r.wolfe and 0 < r.t <= 2.0 and r.f < 2.25


def test_line_search_rejects_an_ascent_direction():
    with pytest.raises(ValueError, match="descent direction"):
        solvers.line_search(lambda x: (x @ x, 2 * x), np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="c2"):
        solvers.line_search(lambda x: (x @ x, 2 * x), np.ones(2), -np.ones(2), c1=0.5, c2=0.4)


# ----------------------------------------------------------------------------------------------------------
# convex problems: the reference optimum
# ----------------------------------------------------------------------------------------------------------

def _regression_data(n=300, d=5):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=d)
    y = (X @ w + 0.5 + 0.1 * rng.normal(size=n)).astype(np.float32)
    return X, y, np.c_[X.astype(np.float64), np.ones(n)]


@pytest.mark.parametrize("method", ["lbfgs", "cg", "lm"])
def test_linear_regression_reaches_least_squares(method):
    X, y, A = _regression_data()
    ref = np.linalg.lstsq(A, y.astype(np.float64), rcond=None)[0]
    m = fnn.Sequential([fnn.Linear(5, 1)], seed=0).compile(loss="mse")
    res = solvers.minimize(m, X, y, method=method, max_iter=100)
    np.testing.assert_allclose(_linear_params(m), ref, atol=1e-4)
    ref_loss = np.mean((A @ ref - y) ** 2)
    assert res.loss == pytest.approx(ref_loss, rel=1e-5)
    assert res.loss == pytest.approx(m.evaluate(X, y)["loss"], rel=1e-6)
    assert res.n_iter == len(res.history.epoch) and res.n_eval >= res.n_iter + 1


@pytest.mark.parametrize("method", ["lbfgs", "lm"])
def test_ridge_regression_includes_the_l2_penalty(method):
    """mean (Xw + b - y)^2 + l2 |w|^2 (bias unpenalised): closed form (A^T A / n + l2 D) theta = A^T y / n."""
    X, y, A = _regression_data()
    l2 = 0.3
    D = np.diag([1.0] * 5 + [0.0])
    ref = np.linalg.solve(A.T @ A / len(y) + l2 * D, A.T @ y / len(y))
    m = fnn.Sequential([fnn.Linear(5, 1, l2=l2)], seed=0).compile(loss="mse")
    res = solvers.minimize(m, X, y, method=method, max_iter=100)
    np.testing.assert_allclose(_linear_params(m), ref, atol=1e-4)
    ref_loss = np.mean((A @ ref - y) ** 2) + l2 * ref[:5] @ ref[:5]
    assert res.loss == pytest.approx(ref_loss, rel=1e-5)


@pytest.mark.parametrize("method", ["lbfgs", "cg"])
def test_l2_logistic_regression_reaches_newtons_optimum(method):
    X, _, A = _regression_data()
    rng = np.random.default_rng(1)
    n, d = X.shape
    y = (X @ rng.normal(size=d) + 0.5 * rng.normal(size=n) > 0).astype(np.float32)
    l2 = 0.01
    th = np.zeros(d + 1)
    for _ in range(30):          # Newton's method in float64 on mean BCE + l2 |w|^2
        p = 1 / (1 + np.exp(-(A @ th)))
        g = A.T @ (p - y) / n
        g[:d] += 2 * l2 * th[:d]
        H = (A * (p * (1 - p))[:, None]).T @ A / n
        H[np.arange(d), np.arange(d)] += 2 * l2
        th -= np.linalg.solve(H, g)
    m = fnn.Sequential([fnn.Linear(d, 1, l2=l2)], seed=0).compile(loss="bce_logits")
    res = solvers.minimize(m, X, y, method=method, max_iter=200)
    np.testing.assert_allclose(_linear_params(m), th, atol=5e-4)
    # a tolerance met, or the float32 loss no longer decreases along the search direction
    assert res.converged or "float32 precision" in res.reason, res
    assert "accuracy" in res.history.history


# ----------------------------------------------------------------------------------------------------------
# nonlinear problems
# ----------------------------------------------------------------------------------------------------------

def test_lbfgs_and_cg_beat_sgd_for_the_same_gradient_evaluations():
    """1-20-1 tanh fit of sin(x): 150 full-batch gradient evaluations each.  SGD (full batch, momentum 0.9)
    gets the best of three learning rates (0.2 is the largest stable one; 0.3 diverges).  Measured (avx512 /
    generic kernels): SGD 1.8e-4; L-BFGS 4.1e-6 / 2.0e-6; CG 1.7e-5 / 4.6e-5 (CG's trajectory, and so its
    final loss, varies more with rounding: 2-16x below SGD over seeds 0-2)."""
    X, y = _sin_data(200)
    budget = 150
    sgd = []
    for lr in (0.05, 0.1, 0.2):
        m = _mlp(20)
        m.compile(loss="mse", optimizer=fnn.optim.SGD(lr=lr, momentum=0.9))
        m.fit(X, y, epochs=budget, batch_size=len(X), shuffle=False, verbose=0)
        sgd.append(m.evaluate(X, y)["loss"])
    best_sgd = min(sgd)
    got = {}
    for method in ("lbfgs", "cg"):
        m = _mlp(20)
        res = solvers.minimize(m, X, y, method=method, max_iter=1000, max_eval=budget)
        assert res.n_eval <= budget
        got[method] = res.loss
    assert best_sgd > 1e-4
    assert got["lbfgs"] < best_sgd / 20 and got["lbfgs"] < 2e-5, (got, sgd)
    assert got["cg"] < best_sgd / 2, (got, sgd)


def test_lbfgs_trains_a_digits_mlp():
    (X, y), (Xt, yt) = fnn.datasets.digits()
    m = fnn.Sequential([fnn.Linear(64, 32, activation="tanh", l2=1e-4), fnn.Linear(32, 10)], seed=0)
    m.compile(loss="cross_entropy")
    res = solvers.minimize(m, X, y, method="lbfgs", max_iter=60, validation_data=(Xt, yt))
    h = res.history.history
    assert {"loss", "accuracy", "grad_norm", "step", "n_eval", "val_loss", "val_accuracy"} <= set(h)
    assert h["accuracy"][-1] == 1.0
    assert m.evaluate(Xt, yt)["accuracy"] >= 0.94
    assert h["val_accuracy"][-1] == m.evaluate(Xt, yt)["accuracy"]
    assert np.all(np.diff(h["loss"]) < 0)            # every accepted step lowers the objective


def test_lm_fits_sin_in_few_iterations():
    X, y = _sin_data(100)
    m = _mlp(10)
    res = solvers.minimize(m, X, y, method="lm", max_iter=30)
    assert res.loss < 1e-5, res
    assert res.n_jac == res.n_iter <= 30
    assert "mu" in res.history.history
    assert m.evaluate(X, y)["loss"] == pytest.approx(res.loss, rel=1e-6)


# ----------------------------------------------------------------------------------------------------------
# Jacobian and the Levenberg-Marquardt step against numpy
# ----------------------------------------------------------------------------------------------------------

def _tiny_net_numpy(theta, X, hidden):
    """1-h-1 tanh MLP in float64 with the model's flat parameter order (W1 (h,1), b1, W2 (1,h), b2)."""
    W1 = theta[:hidden].reshape(hidden, 1)
    b1 = theta[hidden:2 * hidden]
    W2 = theta[2 * hidden:3 * hidden].reshape(1, hidden)
    b2 = theta[3 * hidden:]
    return np.tanh(X @ W1.T + b1) @ W2.T + b2


def _fd_jacobian(theta, X, hidden, h=1e-6):
    cols = []
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = h
        cols.append(((_tiny_net_numpy(theta + e, X, hidden) - _tiny_net_numpy(theta - e, X, hidden)) / (2 * h))
                    .ravel())
    return np.stack(cols, axis=1)


def test_jacobian_matches_finite_differences():
    hidden = 3
    X = np.linspace(-2, 2, 7, dtype=np.float32)[:, None]
    m = _mlp(hidden)
    theta = m.params.astype(np.float64)
    out, J = solvers.jacobian(m, X)
    np.testing.assert_allclose(out, _tiny_net_numpy(theta, X.astype(np.float64), hidden), atol=1e-6)
    np.testing.assert_allclose(J, _fd_jacobian(theta, X.astype(np.float64), hidden), atol=2e-6)
    # with an L1/L2 penalty the penalty's gradient is not part of the output Jacobian
    mp = _mlp(hidden, l1=0.1, l2=0.2)
    mp.params[...] = m.params
    np.testing.assert_allclose(solvers.jacobian(mp, X)[1], J, atol=2e-6)


def test_jacobian_of_several_outputs_is_sample_major():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(4, 3)).astype(np.float32)
    m = fnn.Sequential([fnn.Linear(3, 2)], seed=0)
    _, J = solvers.jacobian(m, X)
    # out[i, j] = W[j] . x_i + b[j]: d/dW[j, :] = x_i, d/db[j] = 1; params are W (2, 3) then b (2,)
    for i in range(4):
        for j in range(2):
            want = np.zeros(8)
            want[3 * j:3 * j + 3] = X[i]
            want[6 + j] = 1.0
            np.testing.assert_allclose(J[i * 2 + j], want, atol=1e-6)


@pytest.mark.parametrize("damping", ["identity", "marquardt"])
def test_lm_step_matches_the_numpy_formula(damping):
    """One accepted LM step equals -(J^T J + mu I) ^-1 J^T r with a finite-difference Jacobian."""
    hidden, mu = 3, 0.5
    X, y = _sin_data(12)
    m = _mlp(hidden, seed=3)
    theta = m.params.astype(np.float64)
    J = _fd_jacobian(theta, X.astype(np.float64), hidden)
    r = (_tiny_net_numpy(theta, X.astype(np.float64), hidden) - y).ravel()
    JtJ = J.T @ J
    damp = np.eye(theta.size) if damping == "identity" else np.diag(np.diag(JtJ))
    d_ref = -np.linalg.solve(JtJ + mu * damp, J.T @ r)
    res = solvers.minimize(m, X, y, method="lm", mu=mu, damping=damping, max_iter=1)
    assert res.n_iter == 1 and res.n_eval == 2          # the first trial step was taken, with mu as given
    step = m.params.astype(np.float64) - theta
    np.testing.assert_allclose(step, d_ref, atol=2e-4 * np.abs(d_ref).max())
    assert res.history.history["mu"] == [pytest.approx(mu * 0.1)]


# ----------------------------------------------------------------------------------------------------------
# modes, options and reporting
# ----------------------------------------------------------------------------------------------------------

def test_dropout_is_off_and_the_objective_deterministic():
    X, y = _sin_data(64)
    runs = []
    for _ in range(2):
        m = fnn.Sequential([fnn.Linear(1, 16, activation="tanh"), fnn.Dropout(0.5), fnn.Linear(16, 1)], seed=0)
        m.compile(loss="mse")
        res = solvers.minimize(m, X, y, method="lbfgs", max_iter=30)
        assert res.loss == pytest.approx(m.evaluate(X, y)["loss"], rel=1e-6)
        runs.append(m.params.copy())
    np.testing.assert_array_equal(runs[0], runs[1])


def test_chunked_evaluation_gives_the_same_solution():
    X, y, _ = _regression_data()
    a = fnn.Sequential([fnn.Linear(5, 1)], seed=0).compile(loss="mse")
    b = fnn.Sequential([fnn.Linear(5, 1)], seed=0).compile(loss="mse")
    ra = solvers.minimize(a, X, y, method="lbfgs")
    rb = solvers.minimize(b, X, y, method="lbfgs", batch_size=64)
    assert rb.loss == pytest.approx(ra.loss, rel=1e-5)
    np.testing.assert_allclose(b.params, a.params, atol=1e-4)


def test_solver_instance_and_limits():
    X, y = _sin_data(64)
    m = _mlp(8)
    res = solvers.minimize(m, X, y, method=solvers.LBFGS(history_size=3, max_iter=5))
    assert res.n_iter == 5 and res.reason == "max_iter reached" and not res.converged
    m = _mlp(8)
    res = solvers.CG(max_iter=1000, max_eval=20).minimize(m, X, y)
    assert res.n_eval <= 20 and res.reason == "max_eval reached"
    m = _mlp(8)
    res = solvers.minimize(m, X, y, tolerance_grad=1e3)
    assert res.n_iter == 0 and res.converged and "tolerance_grad" in res.reason


def test_verbose_lines_and_early_stopping_restores_the_best_weights():
    X, y = _sin_data(64)
    m = _mlp(8)
    out = io.StringIO()
    # min_delta too large for any improvement: stops after patience + 1 iterations, restores iteration 0's
    es = fnn.callbacks.EarlyStopping(monitor="loss", min_delta=1e9, patience=2, restore_best_weights=True)
    res = solvers.minimize(m, X, y, method="lbfgs", max_iter=50, callbacks=[es], verbose=2, file=out)
    assert res.reason == "stopped by a callback" and res.n_iter == 3
    h = res.history.history["loss"]
    assert res.loss == pytest.approx(h[0], rel=1e-6) and h[2] < h[0]
    assert m.evaluate(X, y)["loss"] == pytest.approx(h[0], rel=1e-6)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("iter 1/50 - loss ") and "evals" in lines[0]
    assert lines[-1].startswith("LBFGS: stopped by a callback after 3 iterations")


# ----------------------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------------------

def test_lm_refuses_other_losses_and_large_networks():
    (X, y), _ = fnn.datasets.digits()
    m = fnn.Sequential([fnn.Linear(64, 32, activation="tanh"), fnn.Linear(32, 10)], seed=0)
    m.compile(loss="cross_entropy")
    with pytest.raises(ValueError, match="loss='mse'.*cross_entropy"):
        solvers.minimize(m, X, y, method="lm")
    m.compile(loss="mse")
    with pytest.raises(ValueError, match="2,410 parameters, more than max_params=2,000"):
        solvers.minimize(m, X, np.eye(10, dtype=np.float32)[y], method="lm")
    Xs, ys = _sin_data(200)
    with pytest.raises(ValueError, match=r"200 residuals x 31 parameters = 6,200 entries, more than "
                                         r"max_jacobian_size=5,000"):
        solvers.minimize(_mlp(10), Xs, ys, method="lm", max_jacobian_size=5000)


def test_refused_models_and_bad_arguments():
    X, y = _sin_data(32)
    bn = fnn.Sequential([fnn.Linear(1, 8), fnn.BatchNorm1d(8), fnn.Tanh(), fnn.Linear(8, 1)], seed=0)
    bn.compile(loss="mse")
    with pytest.raises(ValueError, match="batch normalisation"):
        solvers.minimize(bn, X, y)
    with pytest.raises(ValueError, match="max_norm"):
        solvers.minimize(_mlp(4, max_norm=2.0), X, y)
    raw = fnn.Sequential([fnn.Linear(1, 4), fnn.Linear(4, 1)], seed=0)
    with pytest.raises(RuntimeError, match="compile"):
        solvers.minimize(raw, X, y)
    with pytest.raises(ValueError, match="features"):
        solvers.minimize(_mlp(4), np.ones((32, 2), np.float32), y)
    with pytest.raises(ValueError, match="unknown solver"):
        solvers.minimize(_mlp(4), X, y, method="newton")
    with pytest.raises(ValueError, match="instance"):
        solvers.minimize(_mlp(4), X, y, method=solvers.LBFGS(), max_iter=3)
    with pytest.raises(TypeError, match="history_size"):
        solvers.minimize(_mlp(4), X, y, method="cg", history_size=3)
    with pytest.raises(ValueError, match="history_size"):
        solvers.LBFGS(history_size=0)
    with pytest.raises(ValueError, match="c2"):
        solvers.ConjugateGradient(c1=0.2, c2=0.1)
    with pytest.raises(ValueError, match="damping"):
        solvers.LevenbergMarquardt(damping="diag")
    with pytest.raises(ValueError, match="mu_dec"):
        solvers.LevenbergMarquardt(mu_dec=1.5)
    with pytest.raises(TypeError, match="Sequential"):
        solvers.minimize("model", X, y)
    bad = _mlp(4)
    bad.params[0] = np.inf
    with pytest.raises(ValueError, match="weights contain NaN or Inf"):
        solvers.minimize(bad, X, y)
    bad.params[0] = 1.0
    bad.layers[-1].weight[...] = 1e30          # outputs ~1e30: the float32 squared error overflows
    with pytest.raises(FloatingPointError, match="starting weights"):
        solvers.minimize(bad, X, y)


def test_an_exception_in_a_callback_leaves_the_last_accepted_weights():
    X, y = _sin_data(64)
    m = _mlp(8)
    seen = []

    def boom(epoch, logs):
        seen.append(m.params.copy())
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        solvers.minimize(m, X, y, callbacks=[fnn.callbacks.LambdaCallback(on_epoch_end=boom)])
    np.testing.assert_array_equal(m.params, seen[-1])
