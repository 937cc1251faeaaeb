"""Sequential models: flat parameter buffers, a compiled C plan, optional input preprocessing, and fit /
evaluate / predict."""
import sys

import numpy as np

from . import activations as _acts
from . import losses as _losses
from . import optim as _optim
from . import preprocessing as _prep
from ._config import get_num_threads
from ._ext import _core
from . import layers as _layers
from .layers import Layer, Linear

__all__ = ["Sequential"]


def _numeric(X, name):
    if not isinstance(X, np.ndarray):
        X = np.asarray(X)
    if X.dtype == object or not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)
                                 or X.dtype == np.bool_):
        raise TypeError(f"{name} must be a real numeric array, got dtype {X.dtype}")
    return X


def _raw_inputs(X, name="X"):
    """X before the model's preprocessing: a numeric array (N, D) or (N, ...), not yet converted."""
    X = _numeric(X, name)
    if X.ndim < 2:
        raise ValueError(f"{name} must be 2-D (samples, features) or (samples, ...), got shape {X.shape}")
    return X


def _as_inputs(X, in_dim, name="X", input_shape=None):
    """X as a C-contiguous float32 (N, in_dim) array with finite values (converted once, on entry).  Image
    models also take X of shape (N, *input_shape), e.g. NCHW."""
    X = _numeric(X, name)
    if input_shape is not None and len(input_shape) > 1 and X.ndim == 1 + len(input_shape):
        if tuple(X.shape[1:]) != tuple(input_shape):
            raise ValueError(f"{name} has samples of shape {tuple(X.shape[1:])}, the model expects "
                             f"{tuple(input_shape)} (NCHW)")
        X = X.reshape(X.shape[0], -1)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (samples, features), got shape {X.shape}")
    if X.shape[1] != in_dim:
        raise ValueError(f"{name} has {X.shape[1]} features per sample, the model expects {in_dim} "
                         f"(shape {X.shape})")
    X = np.ascontiguousarray(X, dtype=np.float32)
    bad = _core.first_nonfinite(X, get_num_threads())
    if bad >= 0:
        raise ValueError(f"{name} contains NaN or Inf (first at row {bad // X.shape[1]}, column "
                         f"{bad % X.shape[1]})")
    return X


class Sequential:
    """A chain of layers trained as one compiled C plan.

    ``Sequential([Linear(784, 256, activation="relu"), Linear(256, 10)], seed=0)``.  The model owns one
    flat float32 buffer of parameters (``model.params``) and one of gradients (``model.grads``); each
    layer's ``weight``/``bias`` are views into them.  ``seed`` drives initialisation, the epoch shuffles and
    the stochastic layers, so the same seed gives bitwise-identical training whatever the thread count.

    ``preprocessing`` (default None): the model's input transform, a ``fastnn.preprocessing`` feature
    transformer (``Standardize``, ``Center``, ``MinMaxScale``, ``PCA``, ``PCAWhitening``, ``ZCAWhitening``)
    or a ``Pipeline`` of them; also settable later as ``model.preprocessing``.  With it the model takes raw
    inputs everywhere:

    - ``fit`` fits it on the training inputs when it is not fitted yet (with ``validation_split``, on the
      training part only), then transforms the training and validation inputs once; a fitted one is never
      refitted (a second ``fit``, ``resume_from``), so refit it yourself (``model.preprocessing.fit(X)``)
      or assign a new one to change it.  If ``fit`` fails before training starts (a width mismatch, a bad
      ``y`` or argument), the preprocessing is left as it was.
    - ``partial_fit`` never fits it (one chunk of a stream is a poor sample of its statistics): it must be
      fitted first (``model.preprocessing.fit(X_sample)`` or a ``fit`` on the first chunk), else
      ``NotFittedError``.
    - ``evaluate``, ``predict`` (also with ``tta``), ``predict_classes`` and ``forward`` transform raw X
      first; an unfitted preprocessing there raises ``fastnn.preprocessing.NotFittedError`` (a ValueError).
    - The raw X is checked against the preprocessing's fitted width; the transformed width must equal the
      network's ``in_dim`` (PCA changes it: ``PCA(5)`` needs a first layer with 5 inputs), checked when a
      fitted preprocessing is assigned and when it is fitted, with an error naming both widths.
    - ``save`` and checkpoints store it (fitted or not) and ``fastnn.load`` restores it, so the loaded
      model's ``predict(raw_X)`` equals the original's.
    """

    def __init__(self, layers, seed=0, input_shape=None, preprocessing=None, _graph=None):
        if isinstance(layers, Layer):
            layers = [layers]
        layers = list(layers)
        if not layers:
            raise ValueError("Sequential needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {i} is {layer!r}, not a fastnn Layer")
        self._zero_init = []        # (body node indices) of Residual blocks with zero_init
        if _graph is None:
            nodes, graph = self._expand(layers)
        else:
            nodes, graph = layers, [tuple(g) for g in _graph]
        if len(set(map(id, nodes))) != len(nodes):
            raise ValueError("the same layer object appears twice in the model; create one per position")
        for i, (layer, nxt) in enumerate(zip(nodes, nodes[1:])):
            if hasattr(layer, "_act_hint") and isinstance(nxt, _acts.Activation) and graph[i + 1][0] == i:
                layer._act_hint = nxt.name
        first = nodes[0]
        if input_shape is None:
            if getattr(first, "in_dim", None) is None or not isinstance(first, Linear):
                raise ValueError(f"the first layer ({first!r}) does not fix the input shape: pass "
                                 "input_shape=(C, H, W) (or start with a Linear)")
            input_shape = (first.in_dim,)
        self.input_shape = tuple(int(d) for d in np.atleast_1d(input_shape))
        if not self.input_shape or min(self.input_shape) < 1:
            raise ValueError(f"input_shape must be positive dimensions, got {input_shape!r}")
        self.layers = nodes
        self._graph = graph
        self.seed = int(seed)
        self.in_dim = int(np.prod(self.input_shape))
        shapes = []
        for i, (layer, (src, src2)) in enumerate(zip(nodes, graph)):
            if not -1 <= src < i or not -1 <= src2 < i:
                raise ValueError(f"layer {i} reads from layer {src}/{src2}: only earlier layers can be read")
            in_shape = shapes[src] if src >= 0 else self.input_shape
            if isinstance(layer, _layers.Add):
                other = shapes[src2] if src2 >= 0 else self.input_shape
                if other != in_shape:
                    raise ValueError(f"a residual block adds outputs of shapes {in_shape} and {other}: the "
                                     "shortcut must match the body (use a projection shortcut)")
            try:
                shapes.append(tuple(layer.build_shape(in_shape)))
            except ValueError as exc:
                raise ValueError(f"layer {i} ({layer!r}): {exc}") from None
        self.output_shape = shapes[-1]
        self.out_dim = int(np.prod(self.output_shape))
        self._alloc()
        self.reset_parameters(self.seed)
        self.loss = None
        self.optimizer = None
        self._plan = None
        self._rng_offset = 0
        self.epochs_trained = 0
        self.preprocessing = preprocessing

    def _expand(self, layers):
        """Flatten Residual blocks and activation shortcuts into plan nodes and their (src, src2) wiring."""
        nodes, graph = [], []

        def add(layer, src, src2=-1):
            nodes.append(layer)
            graph.append((src, src2))
            return len(nodes) - 1

        def chain(seq, src):
            for layer in seq:
                if isinstance(layer, _layers.Residual):
                    start = src
                    first_body = len(nodes)
                    end_body = chain(layer.body, start)
                    body_nodes = list(range(first_body, len(nodes)))
                    end_short = chain(layer.shortcut, start) if layer.shortcut else start
                    src = add(_layers.Add(), end_body, end_short)
                    if layer.zero_init:
                        self._zero_init.append(body_nodes)
                else:
                    src = add(layer, src)
                    if isinstance(layer, Linear) and layer.activation is not None:
                        src = add(_acts.get(layer.activation), src)
            return src

        chain(layers, -1)
        return nodes, graph

    # -- parameters ----------------------------------------------------------------------------------------
    def _alloc(self):
        offsets, n = [], 0
        for layer in self.layers:
            off = {}
            for name, shape in layer.param_shapes().items():
                off[name] = n
                n += int(np.prod(shape))
            offsets.append(off)
        self.params = np.zeros(n, dtype=np.float32)
        self.grads = np.zeros(n, dtype=np.float32)
        for layer, off in zip(self.layers, offsets):
            vals, grads = {}, {}
            for name, shape in layer.param_shapes().items():
                size = int(np.prod(shape))
                vals[name] = self.params[off[name]:off[name] + size].reshape(shape)
                grads[name] = self.grads[off[name]:off[name] + size].reshape(shape)
            layer._attach(vals, grads)
        self._offsets = offsets

    def reset_parameters(self, seed=None):
        """Re-initialise every layer from ``seed`` (default: the model's seed)."""
        rng = np.random.default_rng(self.seed if seed is None else seed)
        for layer in self.layers:
            layer.reset_parameters(rng)
        for body in self._zero_init:
            norms = [i for i in body if type(self.layers[i]).__name__.startswith("BatchNorm")
                     and "weight" in self.layers[i]._values]
            weighted = [i for i in body if "weight" in self.layers[i]._values]
            target = norms[-1] if norms else weighted[-1] if weighted else None
            if target is not None:
                self.layers[target].weight[...] = 0.0
                if not norms and "bias" in self.layers[target]._values:
                    self.layers[target].bias[...] = 0.0

    def parameters(self):
        """The trainable parameter arrays (views into ``model.params``), in layer order."""
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self):
        """``[("<layer index>.<name>", array view), ...]`` of the trainable parameters, in layer order
        (PyTorch's naming).  Buffers (batch norm's running statistics) are in ``state_dict`` only."""
        return [(f"{i}.{name}", v) for i, layer in enumerate(self.layers) for name, v in layer._values.items()
                if name not in layer._buffer_names]

    def n_params(self):
        """Trainable parameters (buffers such as running statistics excluded)."""
        return int(sum(p.size for p in self.parameters()))

    def state_dict(self):
        """``{"<layer index>.<name>": array copy}`` as PyTorch's Sequential names them."""
        return {f"{i}.{name}": v.copy() for i, layer in enumerate(self.layers) for name, v in layer._values.items()}

    def load_state_dict(self, state):
        """Copy arrays from ``state`` (as ``state_dict`` returns) into the parameters; every key and shape is
        checked before anything is written."""
        want = {f"{i}.{name}": v for i, layer in enumerate(self.layers) for name, v in layer._values.items()}
        missing = sorted(set(want) - set(state))
        extra = sorted(set(state) - set(want))
        if missing or extra:
            raise ValueError(f"load_state_dict: missing keys {missing}, unexpected keys {extra}")
        for k, v in want.items():
            a = np.asarray(state[k])
            if a.shape != v.shape:
                raise ValueError(f"load_state_dict: {k} has shape {a.shape}, the model's is {v.shape}")
            if not np.isfinite(a).all():
                raise ValueError(f"load_state_dict: {k} contains NaN or Inf")
        for k, v in want.items():
            v[...] = np.asarray(state[k], dtype=np.float32)

    # -- input preprocessing -------------------------------------------------------------------------------
    @property
    def preprocessing(self):
        """The input transformer applied to raw inputs (see the class docstring), or None."""
        return self._preprocessing

    @preprocessing.setter
    def preprocessing(self, value):
        if value is not None:
            _prep._check_input_transformer(value, "preprocessing")
            widths = _prep._widths(value)
            if widths is not None and widths[1] != self.in_dim:
                raise ValueError(f"preprocessing {value!r} turns {widths[0]} features per sample into {widths[1]}, "
                                 f"but the network's input takes {self.in_dim} (input_shape {self.input_shape})")
        self._preprocessing = value

    def _inputs(self, X, name="X"):
        """The network's input for raw X: float32 C-contiguous (N, in_dim), ``preprocessing`` applied."""
        pre = self._preprocessing
        if pre is None:
            return _as_inputs(X, self.in_dim, name, self.input_shape)
        if not pre.fitted:
            raise _prep.NotFittedError(f"{name}: model.preprocessing {pre!r} is not fitted yet; model.fit(X, y) "
                                       "fits it on the training inputs (or call model.preprocessing.fit(X_train))")
        return self._transformed(_raw_inputs(X, name), name, pre.transform)

    def _transformed(self, X, name, transform):
        try:
            X_t = np.asarray(transform(X))
        except _prep.NotFittedError:
            raise
        except ValueError as exc:
            raise ValueError(f"{name} does not fit model.preprocessing: {exc}") from None
        d_raw = int(np.prod(X.shape[1:]))
        d = int(np.prod(X_t.shape[1:])) if X_t.ndim >= 2 else -1
        if d != self.in_dim:
            raise ValueError(f"{name}: model.preprocessing {self._preprocessing!r} turns {d_raw} features per "
                             f"sample into {d}, but the network's input takes {self.in_dim} (input_shape "
                             f"{self.input_shape}); build the network for {d} inputs or change the preprocessing")
        return _as_inputs(X_t, self.in_dim, name, self.input_shape)

    def _fit_inputs(self, X, X_val=None):
        """(training inputs, validation inputs or None) for ``fit`` from raw arrays: an unfitted
        ``preprocessing`` is fitted on X first, and restored to its previous state if this fails."""
        pre = self._preprocessing
        if pre.fitted:
            return self._inputs(X), None if X_val is None else self._inputs(X_val, "X_val")
        saved = _snapshot(pre)
        try:
            X = self._transformed(X, "X", pre.fit_transform)
            X_val = None if X_val is None else self._inputs(X_val, "X_val")
        except BaseException:
            _restore(saved)
            raise
        return X, X_val

    # -- compile -------------------------------------------------------------------------------------------
    def _plan_specs(self):
        specs = []
        for layer, off, (src, src2) in zip(self.layers, self._offsets, self._graph):
            (spec,) = layer.plan_spec(off)
            spec["src"], spec["src2"] = src, src2
            specs.append(spec)
        return specs

    def compile(self, loss="cross_entropy", optimizer="sgd", clip_norm=None, clip_value=None):
        """Choose the loss (a name or ``fastnn.losses.Loss``) and the optimizer (a name or
        ``fastnn.optim.Optimizer``; its parameter groups are resolved against this model), and compile the C
        plan.  ``clip_norm``: rescale each batch's gradient to global L2 norm <= clip_norm;
        ``clip_value``: clamp each gradient element to [-clip_value, clip_value] (both before the update)."""
        self.loss = _losses.get(loss)
        new = _optim.get(optimizer)
        if self.optimizer is not None and self.optimizer is not new:
            # a new optimizer counts its steps from 0: keep the random stream of dropout and friends moving
            self.rng_offset += self.optimizer.step_count
        self.optimizer = new
        self.optimizer.bind(self.params, default_params=self.parameters())
        # 0 means off in the C loop
        self.clip_norm = 0.0 if clip_norm is None else _layers._check_float("clip_norm", clip_norm, 0.0, strict=True)
        self.clip_value = 0.0 if clip_value is None else _layers._check_float("clip_value", clip_value, 0.0,
                                                                                strict=True)
        self._plan = _core.Plan(self._plan_specs(), self.in_dim, self.params, self.grads, self.loss.name,
                                self.loss.delta, self.seed)
        self._plan.rng_offset = self._rng_offset
        return self

    @property
    def rng_offset(self):
        """Steps taken by this model's earlier optimizers: with the current optimizer's step it keys the random
        numbers of each training batch (saved in checkpoints)."""
        return self._rng_offset

    @rng_offset.setter
    def rng_offset(self, value):
        value = int(value)
        if value < 0:
            raise ValueError(f"rng_offset must be >= 0, got {value}")
        self._rng_offset = value
        if self._plan is not None:
            self._plan.rng_offset = value

    def _eval_plan(self):
        if self._plan is not None:
            return self._plan
        return _core.Plan(self._plan_specs(), self.in_dim, self.params, self.grads, "mse", 1.0, self.seed)

    def _require_compiled(self, what):
        if self._plan is None:
            raise RuntimeError(f"{what}: call model.compile(loss=..., optimizer=...) first")

    # -- targets -------------------------------------------------------------------------------------------
    def _targets(self, y, n, name="y"):
        """(float targets (N, out) or None, int32 labels (N,) or None) for the loss."""
        y = np.asarray(y)
        if y.shape[:1] != (n,):
            raise ValueError(f"{name} has {y.shape[0] if y.ndim else 0} samples but X has {n} (shape {y.shape})")
        if isinstance(self.loss, _losses.CrossEntropyLoss) and y.ndim == 1:
            if not np.issubdtype(y.dtype, np.integer):
                if np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0):
                    y = y.astype(np.int64)
                else:
                    raise TypeError(f"{name}: class labels must be integers, got dtype {y.dtype}")
            if n and (y.min() < 0 or y.max() >= self.out_dim):
                bad = y[(y < 0) | (y >= self.out_dim)][0]
                raise ValueError(f"{name}: label {bad} is out of range for {self.out_dim} classes "
                                 f"(valid 0..{self.out_dim - 1})")
            return None, np.ascontiguousarray(y, dtype=np.int32)
        if y.ndim == 1 and self.out_dim == 1:
            y = y.reshape(n, 1)
        if y.ndim != 2 or y.shape[1] != self.out_dim:
            raise ValueError(f"{name} must have shape ({n}, {self.out_dim})"
                             + (" or integer labels (N,)" if isinstance(self.loss, _losses.CrossEntropyLoss)
                                else "") + f", got {y.shape}")
        if not (np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.integer)
                or y.dtype == np.bool_):
            raise TypeError(f"{name} must be numeric, got dtype {y.dtype}")
        y = np.ascontiguousarray(y, dtype=np.float32)
        if not np.isfinite(y).all():
            raise ValueError(f"{name} contains NaN or Inf")
        return y, None

    def _accuracy(self, correct, n):
        if isinstance(self.loss, _losses.CrossEntropyLoss):
            return correct / n
        if isinstance(self.loss, _losses.BCEWithLogitsLoss):
            return correct / (n * self.out_dim)
        return None

    # -- training ------------------------------------------------------------------------------------------
    def fit(self, X, y, epochs=1, batch_size=32, validation_data=None, shuffle=True, verbose=1, file=None,
            **kwargs):
        """Train for ``epochs`` passes over (X, y) in mini-batches of ``batch_size``; see
        ``fastnn.trainer.fit`` for every option (validation_split, class_weight, sample_weight, callbacks,
        metrics, lr_schedule, resume_from, ...).  Returns a ``History``."""
        from . import trainer

        return trainer.fit(self, X, y, epochs=epochs, batch_size=batch_size, validation_data=validation_data,
                           shuffle=shuffle, verbose=verbose, file=file, **kwargs)

    def partial_fit(self, X, y, batch_size=32, shuffle=True, class_weight=None, sample_weight=None):
        """One silent epoch over (X, y), continuing the model's counters (for streaming data); returns the
        epoch's logs.  See ``fastnn.trainer.partial_fit``."""
        from . import trainer

        return trainer.partial_fit(self, X, y, batch_size=batch_size, shuffle=shuffle,
                                   class_weight=class_weight, sample_weight=sample_weight)

    def save(self, path):
        """Save architecture, weights, loss and optimizer settings to one ``.npz`` (atomic, no pickle);
        ``fastnn.load(path)`` rebuilds the model."""
        from . import io

        io.save(self, path)

    # -- inference -----------------------------------------------------------------------------------------
    def _evaluate_arrays(self, X, target, labels, batch_size, weights=None):
        loss_sum, correct = self._plan.evaluate(X, target, labels, batch_size, get_num_threads(), weights)
        n = X.shape[0]
        res = {"loss": loss_sum / n if n else float("nan")}
        acc = self._accuracy(correct, n) if n else None
        if acc is not None:
            res["accuracy"] = acc
        return res

    def evaluate(self, X, y, batch_size=256, metrics=None, sample_weight=None):
        """Evaluation-mode loss (and accuracy for classification) over (X, y), plus ``metrics`` (names or
        callables, see ``fastnn.metrics``), as a dict."""
        from . import trainer

        return trainer.evaluate(self, X, y, batch_size=batch_size, metrics=metrics, sample_weight=sample_weight)

    def forward(self, X, batch_size=256):
        """The network's raw outputs (N, out) in evaluation mode (logits for classification losses) for raw
        inputs X (``preprocessing`` applied).  Runs in C with the GIL released; safe to call from several
        Python threads at once."""
        return self._forward_arrays(self._inputs(X), batch_size)

    def _forward_arrays(self, X, batch_size):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        return self._eval_plan().forward(X, int(batch_size), get_num_threads())

    __call__ = forward

    def predict(self, X, batch_size=256, tta=0, augment=None):
        """Predictions for raw inputs X (``preprocessing`` applied): class probabilities for cross-entropy
        (softmax of the logits) and binary cross-entropy (sigmoid), the raw outputs for regression losses.
        ``tta=K`` with an ``augment`` pipeline averages the predictions over K augmented copies of X
        (test-time augmentation; copy k uses the model seed and step k).  As ``fit(augment=...)`` does, the
        augmentation acts on the network's input, after the preprocessing."""
        if tta:
            if isinstance(tta, bool) or not isinstance(tta, (int, np.integer)) or tta < 1:
                raise ValueError(f"tta must be a positive int, got {tta!r}")
            if augment is None:
                raise ValueError("tta needs an augment pipeline (fastnn.augment.Compose)")
            X = self._inputs(X)
            shape = getattr(augment, "image_shape", None) or self.input_shape
            total = None
            for k in range(int(tta)):
                Xk = augment.apply(X.reshape((len(X),) + tuple(shape)), seed=self.seed, step=k)
                p = self._predict_arrays(_as_inputs(Xk.reshape(len(X), -1), self.in_dim), batch_size)
                total = p if total is None else total + p
            return total / float(tta)
        return self._predict_arrays(self._inputs(X), batch_size)

    def _predict_arrays(self, X, batch_size=256):
        """``predict`` for network inputs (preprocessing already applied)."""
        z = self._forward_arrays(X, batch_size)
        if isinstance(self.loss, _losses.CrossEntropyLoss):
            z = z - z.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            z /= z.sum(axis=1, keepdims=True)
        elif isinstance(self.loss, _losses.BCEWithLogitsLoss):
            z = 0.5 * (1.0 + np.tanh(0.5 * z))
        return z

    predict_proba = predict

    def predict_classes(self, X, batch_size=256):
        """Class indices for raw inputs X: argmax of the outputs (or output > 0 for a single binary logit)."""
        z = self.forward(X, batch_size)
        if z.shape[1] == 1:
            return (z[:, 0] > 0).astype(np.int64)
        return z.argmax(axis=1)

    # -- description ---------------------------------------------------------------------------------------
    def summary(self, batch_size=1, file=None):
        """Print per layer: output shape, trainable parameters, forward FLOPs for ``batch_size`` samples and
        the activation memory of its output; then the totals and the input preprocessing, if any."""
        rows = [("Layer", "Output", "Params", "FLOPs", "Act. memory")]
        total_mem = 0
        for i, (layer, (src, src2)) in enumerate(zip(self.layers, self._graph)):
            name = f"{i}: {layer!r}"
            if isinstance(layer, _layers.Add):
                name += f"  <- {_src_name(src)} + {_src_name(src2)}"
            elif src != i - 1:
                name += f"  <- {_src_name(src)}"
            shape = getattr(layer, "out_shape", None) or (layer.out_dim,)
            mem = 4 * batch_size * layer.out_dim
            total_mem += mem
            rows.append((name, str((batch_size,) + tuple(shape)), f"{sum(p.size for p in layer.parameters()):,}",
                         f"{layer.flops(batch_size):,}", _bytes(mem)))
        total_flops = sum(layer.flops(batch_size) for layer in self.layers)
        widths = [max(len(r[c]) for r in rows) for c in range(5)]
        lines = ["  ".join(r[c].ljust(widths[c]) if c == 0 else r[c].rjust(widths[c]) for c in range(5))
                 for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.append("-" * len(lines[0]))
        lines.append(f"Trainable parameters: {self.n_params():,}   forward FLOPs per {batch_size} sample(s): "
                     f"{total_flops:,} (training ~3x)   activations: {_bytes(total_mem)}")
        pre = self._preprocessing
        if pre is not None:
            widths = _prep._widths(pre)
            state = (f"fitted, {widths[0]} -> {widths[1]} features per sample" if widths is not None else
                     "not fitted yet: fit() fits it on the training inputs")
            lines.append(f"Input preprocessing: {pre!r} ({state})")
        print("\n".join(lines), file=file or sys.stdout)

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        pre = "" if self._preprocessing is None else f", preprocessing={self._preprocessing!r}"
        return f"Sequential([\n  {inner}\n], seed={self.seed}{pre})"


def _snapshot(pre):
    """The attributes of a transformer and of its Pipeline steps, to undo a ``fit`` (which assigns new
    attributes and never changes arrays in place)."""
    todo, saved = [pre], []
    while todo:
        obj = todo.pop()
        saved.append((obj, dict(vars(obj))))
        todo.extend(getattr(obj, "steps", ()))
    return saved


def _restore(saved):
    for obj, attrs in saved:
        obj.__dict__.clear()
        obj.__dict__.update(attrs)


def _src_name(s):
    return "input" if s < 0 else str(s)


def _bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
