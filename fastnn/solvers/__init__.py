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
__all__ = ["Solver", "LBFGS", "ConjugateGradient", "CG", "LevenbergMarquardt", "LM", "SolverResult",
           "LineSearchResult", "line_search", "jacobian", "minimize", "get"]

from ._base import Solver, SolverResult  # noqa: E402
from ._lbfgs_cg import CG, LBFGS, ConjugateGradient  # noqa: E402
from ._linesearch import LineSearchResult, line_search  # noqa: E402
from ._lm import LM, LevenbergMarquardt, jacobian  # noqa: E402

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
