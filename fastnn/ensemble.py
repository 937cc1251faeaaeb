"""Ensembles: several trained models whose predictions are averaged, bagging, and one-file persistence.

    ens = fnn.Ensemble([model_a, model_b, model_c])              # or weights=[0.5, 0.3, 0.2]
    ens = fnn.Ensemble.train(build, X, y, n_members=5, bootstrap=True, seed=0, epochs=20, batch_size=32)
    ens.predict(X); ens.predict_classes(X); ens.evaluate(X, y); ens.save("ens.npz"); fnn.ensemble.load("ens.npz")

Members are ``Sequential`` models with the same input shape, the same output width and the same loss.  The
ensemble's prediction is the weighted mean of the members' ``predict``: class probabilities for
cross-entropy (softmax) and binary cross-entropy (sigmoid), raw outputs for regression losses.
"""
import json
import os
import tempfile
import zipfile
import zlib

import numpy as np

from . import io as _io
from . import losses as _losses
from . import metrics as _metrics

__all__ = ["Ensemble", "load", "save", "FORMAT_VERSION"]

FORMAT_VERSION = 1
HEADER = "__fastnn_ensemble__"


def _check_weights(weights, k):
    if weights is None:
        return np.full(k, 1.0 / k)
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"Ensemble: weights must be {k} numbers, got {weights!r}") from None
    if w.shape != (k,):
        raise ValueError(f"Ensemble: weights must have one value per member ({k}), got shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"Ensemble: weights must be finite, >= 0 and not all 0, got {w.tolist()}")
    return w / w.sum()


def _loss_key(model):
    loss = model.loss
    return None if loss is None else (type(loss).__name__, float(loss.delta))


class Ensemble:
    """A weighted average of trained models.

    ``members``: a non-empty list of ``fastnn.Sequential`` with the same ``input_shape``, the same output
    width and the same loss (compiled, or all uncompiled: then predictions are raw outputs and ``evaluate``
    is unavailable).  ``weights`` (default None: equal): one value >= 0 per member, normalised to sum 1.
    The members are used as they are (not copied)."""

    def __init__(self, members, weights=None):
        from .model import Sequential

        if isinstance(members, Sequential):
            members = [members]
        try:
            members = list(members)
        except TypeError:
            raise TypeError(f"Ensemble: members must be a list of fastnn Sequential models, got "
                            f"{type(members).__name__}") from None
        if not members:
            raise ValueError("Ensemble: needs at least one member")
        for k, m in enumerate(members):
            if not isinstance(m, Sequential):
                raise TypeError(f"Ensemble: member {k} is a {type(m).__name__}, not a fastnn Sequential")
        if len(set(map(id, members))) != len(members):
            raise ValueError("Ensemble: the same model appears twice; give each member once (use weights)")
        first = members[0]
        for k, m in enumerate(members[1:], 1):
            if tuple(m.input_shape) != tuple(first.input_shape):
                raise ValueError(f"Ensemble: member {k} takes inputs of shape {tuple(m.input_shape)}, member 0 "
                                 f"{tuple(first.input_shape)}")
            if m.out_dim != first.out_dim:
                raise ValueError(f"Ensemble: member {k} has {m.out_dim} outputs, member 0 has {first.out_dim}")
            if _loss_key(m) != _loss_key(first):
                raise ValueError(f"Ensemble: member {k} is compiled with loss {_loss_key(m)}, member 0 with "
                                 f"{_loss_key(first)}: the members must share the loss (so their predictions "
                                 "mean the same thing)")
        self.members = members
        self.weights = _check_weights(weights, len(members))

    # -- shape and task ------------------------------------------------------------------------------------
    @property
    def input_shape(self):
        return tuple(self.members[0].input_shape)

    @property
    def in_dim(self):
        return self.members[0].in_dim

    @property
    def out_dim(self):
        return self.members[0].out_dim

    @property
    def loss(self):
        return self.members[0].loss

    def __len__(self):
        return len(self.members)

    def __repr__(self):
        return (f"Ensemble({len(self.members)} members, input_shape={self.input_shape}, out_dim={self.out_dim}, "
                f"loss={self.loss!r}, weights={np.round(self.weights, 4).tolist()})")

    def _inputs(self, X):
        from .model import _as_inputs

        return _as_inputs(X, self.in_dim, input_shape=self.input_shape)

    # -- predictions ---------------------------------------------------------------------------------------
    def member_predictions(self, X, batch_size=256):
        """Each member's ``predict``: float32 (K, N, out)."""
        X = self._inputs(X)
        return np.stack([m.predict(X, batch_size) for m in self.members])

    def predict(self, X, batch_size=256):
        """The weighted mean of the members' predictions (N, out), float32: class probabilities for
        cross-entropy and binary cross-entropy (averaged probabilities, not logits), outputs for regression."""
        X = self._inputs(X)
        total = np.zeros((X.shape[0], self.out_dim), dtype=np.float64)
        for w, m in zip(self.weights, self.members):
            total += w * m.predict(X, batch_size)
        return total.astype(np.float32)

    predict_proba = predict

    def predict_classes(self, X, batch_size=256):
        """Class indices from the averaged prediction: argmax, or probability > 0.5 for one binary output
        (output > 0 for an uncompiled or regression model with one output, as ``Sequential``)."""
        p = self.predict(X, batch_size)
        if p.shape[1] == 1:
            cut = 0.5 if isinstance(self.loss, _losses.BCEWithLogitsLoss) else 0.0
            return (p[:, 0] > cut).astype(np.int64)
        return p.argmax(axis=1)

    def _log_probs(self, X, batch_size):
        """log of the averaged probabilities (CE: (N, C); BCE: (log p, log(1 - p))), computed stably from the
        members' logits in float64 (log-sum-exp over members)."""
        logw = np.log(np.maximum(self.weights, 1e-300))[:, None, None]
        z = np.stack([m.forward(X, batch_size) for m in self.members]).astype(np.float64)   # (K, N, D)
        if isinstance(self.loss, _losses.CrossEntropyLoss):
            z = z - z.max(axis=2, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=2, keepdims=True))
            return _logsumexp(logw + logp, axis=0)
        log_sig = -np.logaddexp(0.0, -z)          # log sigmoid(z)
        log_1m = -np.logaddexp(0.0, z)            # log (1 - sigmoid(z))
        return _logsumexp(logw + log_sig, axis=0), _logsumexp(logw + log_1m, axis=0)

    # -- evaluation ----------------------------------------------------------------------------------------
    def evaluate(self, X, y, batch_size=256, metrics=None):
        """The loss of the averaged prediction (the members' loss; data term only, without the members' L1/L2
        penalties), accuracy for classification, and ``metrics`` (names or callables of ``fastnn.metrics``)
        over (X, y), as a dict.  Cross-entropy of averaged probabilities is computed from the members' logits
        in float64 (log-sum-exp), so it stays finite where a probability underflows."""
        from .trainer import _task

        loss = self.loss
        if loss is None:
            raise RuntimeError("Ensemble.evaluate: the members are not compiled (no loss); compile them first")
        X = self._inputs(X)
        n = X.shape[0]
        target, labels = self.members[0]._targets(y, n)
        res = {}
        if isinstance(loss, _losses.CrossEntropyLoss):
            logp = self._log_probs(X, batch_size)
            if labels is not None:
                res["loss"] = float(-logp[np.arange(n), labels].mean()) if n else float("nan")
                truth = labels
            else:
                res["loss"] = float(-(target * logp).sum(axis=1).mean()) if n else float("nan")
                truth = target.argmax(axis=1)
            pred = np.exp(logp)
            res["accuracy"] = float((pred.argmax(axis=1) == truth).mean()) if n else float("nan")
        elif isinstance(loss, _losses.BCEWithLogitsLoss):
            lp, l1p = self._log_probs(X, batch_size)
            res["loss"] = float(-(target * lp + (1.0 - target) * l1p).mean()) if n else float("nan")
            pred = np.exp(lp)
            res["accuracy"] = float(((pred > 0.5) == (target > 0.5)).mean()) if n else float("nan")
        else:
            pred = self.predict(X, batch_size).astype(np.float64)
            r = pred - target
            if isinstance(loss, _losses.MSELoss):
                per = r * r
            elif isinstance(loss, _losses.L1Loss):
                per = np.abs(r)
            elif isinstance(loss, _losses.HuberLoss):
                a, d = np.abs(r), loss.delta
                per = np.where(a < d, 0.5 * r * r, d * (a - 0.5 * d))
            else:
                raise ValueError(f"Ensemble.evaluate: unsupported loss {loss!r}")
            res["loss"] = float(per.mean()) if n else float("nan")
        task = _task(self.members[0])
        for m in [_metrics.get(m) for m in (metrics or [])]:
            if m.name != "accuracy" or "accuracy" not in res:
                res[m.name] = m(np.asarray(y), pred.astype(np.float32), task=task)
        return res

    def member_scores(self, X, y, batch_size=256, metrics=None):
        """Each member's own ``evaluate`` (its loss includes its penalties), as a list of dicts."""
        X = self._inputs(X)
        return [m.evaluate(X, y, batch_size=batch_size, metrics=metrics) for m in self.members]

    # -- training ------------------------------------------------------------------------------------------
    @classmethod
    def train(cls, build, X, y, n_members=5, bootstrap=False, seed=0, weights=None, method=None, **fit_kwargs):
        """Build and train ``n_members`` models and return their ensemble.

        ``build(seed)`` returns a compiled ``Sequential``; member k gets ``seed + k`` (its initialisation and
        shuffles).  With ``bootstrap=True`` (bagging) member k trains on N rows of (X, y) drawn with
        replacement by ``numpy.random.default_rng([seed, k])``; else on all of (X, y).  Training is
        ``model.fit(X_k, y_k, **fit_kwargs)`` (``verbose`` defaults to 0 here), or, with ``method`` ("lbfgs",
        "cg", "lm" or a solver), ``fastnn.solvers.minimize(model, X_k, y_k, method=method, **fit_kwargs)``.
        The rows each member saw are kept in ``ensemble.bootstrap_indices`` (None without bootstrap)."""
        from .model import Sequential

        if not callable(build):
            raise TypeError(f"Ensemble.train: build must be a callable seed -> compiled Sequential, got {build!r}")
        if isinstance(n_members, bool) or not isinstance(n_members, (int, np.integer)) or n_members < 1:
            raise ValueError(f"Ensemble.train: n_members must be an int >= 1, got {n_members!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"Ensemble.train: seed must be an int >= 0, got {seed!r}")
        X, y = np.asarray(X), np.asarray(y)
        n = X.shape[0] if X.ndim else 0
        if n == 0 or y.shape[:1] != (n,):
            raise ValueError(f"Ensemble.train: X and y must hold the same number (> 0) of samples, got shapes "
                             f"{X.shape} and {y.shape}")
        if method is None:
            fit_kwargs.setdefault("verbose", 0)
        members, picks = [], []
        for k in range(int(n_members)):
            model = build(int(seed) + k)
            if not isinstance(model, Sequential):
                raise TypeError(f"Ensemble.train: build({int(seed) + k}) returned a {type(model).__name__}, not "
                                "a fastnn Sequential")
            model._require_compiled("Ensemble.train")
            if any(model is m for m in members):
                raise ValueError("Ensemble.train: build returned the same model twice; build a new one per call")
            if bootstrap:
                idx = np.random.default_rng([int(seed), k]).integers(0, n, size=n)
                Xk, yk = X[idx], y[idx]
                picks.append(idx)
            else:
                Xk, yk = X, y
            if method is None:
                model.fit(Xk, yk, **fit_kwargs)
            else:
                from . import solvers

                solvers.minimize(model, Xk, yk, method=method, **fit_kwargs)
            members.append(model)
        ens = cls(members, weights)
        ens.bootstrap_indices = picks if bootstrap else None
        return ens

    # -- persistence ---------------------------------------------------------------------------------------
    def save(self, path):
        """Save to one ``.npz`` (atomically, no pickle): the weights in a JSON header and each member as its
        own fastnn model file (architecture, weights, loss, optimizer settings) stored as bytes.
        ``fastnn.ensemble.load(path)`` (or ``Ensemble.load``) rebuilds it."""
        save(self, path)

    @classmethod
    def load(cls, path):
        """The ensemble saved at ``path``; see ``fastnn.ensemble.load``."""
        return load(path)


def _logsumexp(a, axis):
    m = a.max(axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis=axis) + np.log(np.exp(a - m).sum(axis=axis))


def save(ensemble, path):
    """Write ``ensemble`` to ``path``: a zip of numpy arrays (``np.savez``) holding the JSON header
    ``__fastnn_ensemble__`` (format, version, member count, weights) and ``member_<k>``, the bytes of member
    k's fastnn model file (``fastnn.save``).  Written atomically (``fastnn.io.atomic_write``)."""
    if not isinstance(ensemble, Ensemble):
        raise TypeError(f"save: expected an Ensemble, got {type(ensemble).__name__}")
    arrays = {}
    with tempfile.TemporaryDirectory(prefix="fastnn_ens_") as tmp:
        for k, m in enumerate(ensemble.members):
            p = os.path.join(tmp, f"member_{k}.npz")
            _io.save(m, p)
            with open(p, "rb") as f:
                arrays[f"member_{k}"] = np.frombuffer(f.read(), dtype=np.uint8)
    header = {"format": "fastnn-ensemble", "format_version": FORMAT_VERSION, "n_members": len(ensemble.members),
              "weights": [float(w) for w in ensemble.weights]}
    arrays[HEADER] = np.frombuffer(json.dumps(header, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    _io.atomic_write(path, lambda f: np.savez(f, **arrays))


def load(path):
    """The ``Ensemble`` saved at ``path`` by ``save``.  Every member is loaded by ``fastnn.load`` (which
    validates its architecture and every array); the file is read with ``allow_pickle=False``; anything
    malformed (not an ensemble file, a newer format version, a missing, extra or corrupt member, bad weights)
    raises ``ValueError`` naming the problem."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    try:
        npz = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error) as exc:
        raise ValueError(f"{path}: not a fastnn ensemble file ({type(exc).__name__}: {exc})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: not a fastnn ensemble file (not an .npz archive)")
    with npz:
        try:
            files = set(npz.files)
            if HEADER not in files:
                raise ValueError(f"not a fastnn ensemble file (no {HEADER!r} header; it holds "
                                 f"{sorted(files)[:5]})")
            blob = npz[HEADER]
            if blob.dtype != np.uint8 or blob.ndim != 1:
                raise ValueError("malformed header")
            try:
                h = json.loads(blob.tobytes().decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ValueError(f"corrupt header ({exc})") from None
            if not isinstance(h, dict) or h.get("format") != "fastnn-ensemble":
                raise ValueError("not a fastnn ensemble file (header format "
                                 f"{h.get('format') if isinstance(h, dict) else h!r})")
            v = h.get("format_version")
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"invalid format_version {v!r}")
            if v > FORMAT_VERSION:
                raise ValueError(f"written in ensemble format version {v}, newer than this fastnn reads (up to "
                                 f"{FORMAT_VERSION}); upgrade fastnn to load it")
            k = h.get("n_members")
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise ValueError(f"malformed n_members {k!r}")
            want = {HEADER} | {f"member_{i}" for i in range(k)}
            if files != want:
                missing, extra = sorted(want - files), sorted(files - want)
                raise ValueError(f"members do not match the header (missing {missing[:5]}, unexpected "
                                 f"{extra[:5]})")
            weights = h.get("weights")
            if not isinstance(weights, list) or len(weights) != k or \
                    not all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights):
                raise ValueError(f"malformed weights {weights!r}")
            members = []
            with tempfile.TemporaryDirectory(prefix="fastnn_ens_") as tmp:
                for i in range(k):
                    b = npz[f"member_{i}"]
                    if b.dtype != np.uint8 or b.ndim != 1:
                        raise ValueError(f"member_{i} is not a byte array")
                    p = os.path.join(tmp, f"member_{i}.npz")
                    with open(p, "wb") as f:
                        f.write(b.tobytes())
                    try:
                        members.append(_io.load(p))
                    except ValueError as exc:
                        raise ValueError(f"member {i}: {str(exc).replace(p, 'model file')}") from None
            try:
                return Ensemble(members, weights)
            except (TypeError, ValueError) as exc:
                raise ValueError(str(exc)) from None
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error, KeyError) as exc:
            raise ValueError(f"{path}: corrupt or truncated file ({type(exc).__name__}: {exc})") from None

