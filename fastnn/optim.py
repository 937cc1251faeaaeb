"""Optimizers.  Each step is one fused C pass per parameter range over the model's flat parameter, gradient and
state buffers, inside the C training loop (no Python per batch).

Defaults and update rules follow PyTorch (``torch.optim``).  Parameter groups work as in PyTorch: pass
``params`` as a list of dicts, each with ``"params"`` (arrays that are views into the model's parameters, e.g.
``layer.weight``) and any hyper-parameter to override for that group; parameters in no group are frozen.
With ``params=None`` (the usual Keras-like use) every parameter of the model given to ``compile`` is in one
group.  ``fastnn.optim.param_groups(model, no_decay=("bias",))`` builds the common two-group split."""
import numpy as np

from ._config import get_num_threads
from ._ext import _core

__all__ = ["Optimizer", "SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "NAdam", "Nadam", "Adamax",
           "param_groups", "get"]


def _nonneg(name, v):
    v = float(v)
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    return v


def _positive(name, v):
    v = float(v)
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    return v


def _check(o, nonneg=(), unit_closed=(), flags=(), betas=False):
    """Validate (and normalise in place) a group's merged options."""
    for k in nonneg:
        o[k] = _nonneg(k, o[k])
    for k in unit_closed:
        v = float(o[k])
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{k} must be in [0, 1], got {o[k]!r}")
        o[k] = v
    for k in flags:
        if not isinstance(o[k], (bool, np.bool_, int, np.integer)):
            raise ValueError(f"{k} must be a bool, got {o[k]!r}")
        o[k] = bool(o[k])
    if betas:
        b = o["betas"]
        try:
            b = tuple(float(x) for x in b)
        except TypeError:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {b!r}") from None
        if len(b) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {o['betas']!r}")
        for i, x in enumerate(b):
            if not 0.0 <= x < 1.0:
                raise ValueError(f"betas[{i}] must be in [0, 1), got {x!r}")
        o["betas"] = b


class Optimizer:
    """Base class.  Subclasses set ``kind`` (the C kernel's name) and validate their hyper-parameters into
    ``self.defaults`` (which must include ``lr``).

    After ``bind`` (done by ``model.compile``): ``param_groups`` (list of dicts with ``params`` and every
    hyper-parameter), ``state`` (float32 (slots, n_params): slot k of parameter i at ``state[k, i]``),
    ``scalars`` (float64 (n_groups, 4), per-group running scalars), ``step_count`` (updates done)."""

    kind = None

    def __init__(self, params=None, **defaults):
        if "lr" not in defaults:
            raise TypeError(f"{type(self).__name__}: lr is required")
        self._validate_group(defaults)
        self.defaults = defaults
        self._params_arg = params
        self.param_groups = []
        self.state = None
        self.scalars = None
        self.step_count = 0
        self._ranges = np.zeros((0, 3), dtype=np.int64)
        self._n_params = None

    # -- hyper-parameters ----------------------------------------------------------------------------------
    @property
    def lr(self):
        """The learning rate of the first group (setting it sets every group's)."""
        return self.param_groups[0]["lr"] if self.param_groups else self.defaults["lr"]

    @lr.setter
    def lr(self, value):
        value = _positive("lr", value)
        self.defaults["lr"] = value
        for g in self.param_groups:
            g["lr"] = value

    def group_specs(self):
        """One dict per group with the C kernel's fields."""
        return [dict({k: v for k, v in g.items() if k != "params"}, kind=self.kind) for g in self.param_groups]

    def spec(self):
        return dict(self.defaults, kind=self.kind)

    # -- binding to a flat buffer --------------------------------------------------------------------------
    def bind(self, flat_params, default_params=None):
        """Resolve the groups into ranges of ``flat_params`` (float32 1-D) and allocate fresh state.  Without
        explicit groups, one group holds ``default_params`` (the model's trainable arrays), or the whole
        buffer."""
        flat = flat_params
        base, n = flat.__array_interface__["data"][0], flat.shape[0]
        groups = self._params_arg
        if groups is None:
            chosen = default_params if default_params is not None else [flat]
            groups = [{"params": [p for p in chosen if p.size]}]
        elif isinstance(groups, np.ndarray) or (isinstance(groups, (list, tuple)) and groups
                                                 and not isinstance(groups[0], dict)):
            groups = [{"params": list(groups) if not isinstance(groups, np.ndarray) else [groups]}]
        elif not isinstance(groups, (list, tuple)) or not groups:
            raise ValueError("params must be None, a list of parameter arrays, or a list of group dicts")
        self.param_groups, ranges, seen = [], [], np.zeros(n, dtype=bool)
        for gi, g in enumerate(groups):
            if "params" not in g:
                raise ValueError(f"parameter group {gi} has no 'params'")
            unknown = set(g) - set(self.defaults) - {"params"}
            if unknown:
                raise ValueError(f"parameter group {gi}: unknown options {sorted(unknown)} for "
                                 f"{type(self).__name__} (valid: {sorted(self.defaults)})")
            opts = dict(self.defaults)
            opts.update({k: v for k, v in g.items() if k != "params"})
            self._validate_group(opts)
            arrays = g["params"] if isinstance(g["params"], (list, tuple)) else [g["params"]]
            for a in arrays:
                if not isinstance(a, np.ndarray) or a.dtype != np.float32 or not a.flags.c_contiguous:
                    raise ValueError(f"parameter group {gi}: every param must be a float32 view into the model's "
                                     f"parameters (e.g. layer.weight), got {type(a).__name__}")
                off = (a.__array_interface__["data"][0] - base) // 4
                if off < 0 or off + a.size > n or not np.shares_memory(a, flat):
                    raise ValueError(f"parameter group {gi}: an array of shape {a.shape} is not part of the "
                                     "model's parameters")
                if seen[off:off + a.size].any():
                    raise ValueError(f"parameter group {gi}: a parameter appears in more than one group")
                seen[off:off + a.size] = True
                ranges.append((off, a.size, gi))
            self.param_groups.append(dict(opts, params=list(arrays)))
        self._ranges = np.array(sorted(ranges, key=lambda r: (r[2], r[0])), dtype=np.int64).reshape(-1, 3)
        self._n_params = n
        slots = max(_core.optim_slots(s) for s in self.group_specs())
        self.state = np.zeros((slots, n), dtype=np.float32)
        for gi, s in enumerate(self.group_specs()):
            if _core.optim_slots(s):
                sub = np.zeros((_core.optim_slots(s), n), dtype=np.float32)
                _core.optim_init_state(s, sub)
                for off, ln, g in self._ranges:
                    if g == gi:
                        self.state[:sub.shape[0], off:off + ln] = sub[:, off:off + ln]
        self.scalars = np.zeros((len(self.param_groups), 4), dtype=np.float64)
        self.step_count = 0
        return self

    def _validate_group(self, opts):
        """Check one group's merged options and normalise them in place (subclasses extend)."""
        opts["lr"] = _positive("lr", opts["lr"])

    # -- stepping from Python (custom loops) ---------------------------------------------------------------
    def step(self, params, grads, lr_scale=1.0):
        """One update of the flat buffers ``params`` / ``grads`` (float32 1-D): binds on first use."""
        if self.state is None or self._n_params != params.shape[0]:
            self.bind(params)
        self.step_count += 1
        specs = self.group_specs()
        done = set()
        for off, ln, g in self._ranges:
            _core.optim_update(specs[g], params, grads, self.state, self.scalars[g], self.step_count,
                               specs[g]["lr"] * lr_scale, int(off), int(ln), g not in done, get_num_threads())
            done.add(g)

    # -- persistence ---------------------------------------------------------------------------------------
    def state_dict(self):
        """Hyper-parameters per group, ranges, state buffers and step count (arrays copied)."""
        return {"kind": self.kind, "defaults": dict(self.defaults),
                "groups": [{k: v for k, v in g.items() if k != "params"} for g in self.param_groups],
                "ranges": self._ranges.copy(), "step_count": self.step_count,
                "state": None if self.state is None else self.state.copy(),
                "scalars": None if self.scalars is None else self.scalars.copy()}

    def load_state_dict(self, d):
        """Restore what ``state_dict`` returned, onto an optimizer bound to the same model layout."""
        if d.get("kind") != self.kind:
            raise ValueError(f"optimizer state is for {d.get('kind')!r}, not {self.kind!r}")
        if self.state is None:
            raise RuntimeError("load_state_dict: bind the optimizer first (model.compile)")
        ranges = np.asarray(d["ranges"], dtype=np.int64).reshape(-1, 3)
        if not np.array_equal(ranges, self._ranges) or len(d["groups"]) != len(self.param_groups):
            raise ValueError("optimizer state was saved for a different parameter layout or grouping")
        st = np.asarray(d["state"], dtype=np.float32)
        if st.shape != self.state.shape:
            raise ValueError(f"optimizer state has shape {st.shape}, expected {self.state.shape}")
        self.state[...] = st
        self.scalars[...] = np.asarray(d["scalars"], dtype=np.float64)
        self.step_count = int(d["step_count"])
        defaults = dict(self.defaults, **d["defaults"])
        self._validate_group(defaults)
        groups = []
        for g, saved in zip(self.param_groups, d["groups"]):
            opts = dict({k: v for k, v in g.items() if k != "params"}, **saved)
            self._validate_group(opts)
            groups.append(opts)
        self.defaults = defaults
        for g, opts in zip(self.param_groups, groups):
            g.update(opts)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.defaults.items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov momentum and (coupled) weight decay.

    ``g = grad + weight_decay * p``; with momentum ``buf = g`` on the first step, then
    ``buf = momentum * buf + (1 - dampening) * g``; ``g = g + momentum * buf`` (Nesterov) or ``g = buf``;
    ``p -= lr * g``.  Defaults: lr=0.01 (the classic value; PyTorch requires it), momentum=0, dampening=0,
    weight_decay=0, nesterov=False.  Nesterov needs momentum > 0 and dampening 0.  State: the momentum buffer
    (only when momentum != 0).
    """

    kind = "sgd"

    def __init__(self, params=None, lr=0.01, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                         nesterov=nesterov)

    def _validate_group(self, o):
        super()._validate_group(o)
        _check(o, nonneg=("momentum", "dampening", "weight_decay"), flags=("nesterov",))
        if o["nesterov"] and (o["momentum"] <= 0 or o["dampening"] != 0):
            raise ValueError("Nesterov momentum requires momentum > 0 and dampening = 0")


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011), as ``torch.optim.Adagrad``.

    ``g = grad + weight_decay * p``; ``clr = lr / (1 + (t - 1) * lr_decay)``; ``sum += g**2``;
    ``p -= clr * g / (sqrt(sum) + eps)``, t counting steps from 1.  Defaults: lr=1e-2, lr_decay=0,
    weight_decay=0, initial_accumulator_value=0 (the accumulator's starting value), eps=1e-10.
    State: ``sum`` (1 slot)."""

    kind = "adagrad"

    def __init__(self, params=None, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10):
        super().__init__(params, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps)

    def _validate_group(self, o):
        super()._validate_group(o)
        _check(o, nonneg=("lr_decay", "weight_decay", "initial_accumulator_value", "eps"))


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012), as ``torch.optim.Adadelta``.

    ``g = grad + weight_decay * p``; ``v = rho * v + (1 - rho) * g**2``;
    ``delta = sqrt(u + eps) / sqrt(v + eps) * g``; ``u = rho * u + (1 - rho) * delta**2``; ``p -= lr * delta``.
    Defaults: lr=1.0 (scales the update), rho=0.9, eps=1e-6, weight_decay=0.  State: ``v``, ``u`` (2 slots)."""

    kind = "adadelta"

    def __init__(self, params=None, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
        super().__init__(params, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)

    def _validate_group(self, o):
        super()._validate_group(o)
        _check(o, nonneg=("eps", "weight_decay"), unit_closed=("rho",))


class RMSprop(Optimizer):
    """RMSprop (Hinton, 2012), as ``torch.optim.RMSprop``.

    ``g = grad + weight_decay * p``; ``v = alpha * v + (1 - alpha) * g**2``; centered:
    ``m = alpha * m + (1 - alpha) * g``, ``avg = sqrt(v - m**2) + eps``, else ``avg = sqrt(v) + eps``;
    with momentum ``buf = momentum * buf + g / avg``, ``p -= lr * buf``; without, ``p -= lr * g / avg``.
    Defaults: lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False.
    State: ``v`` (+ ``buf`` when momentum != 0, + ``m`` when centered)."""

    kind = "rmsprop"

    def __init__(self, params=None, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                         centered=centered)

    def _validate_group(self, o):
        super()._validate_group(o)
        _check(o, nonneg=("eps", "weight_decay", "momentum"), unit_closed=("alpha",), flags=("centered",))


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), as ``torch.optim.Adam`` (weight decay coupled, i.e. added to the gradient).

    ``g = grad + weight_decay * p``; ``m = beta1 * m + (1 - beta1) * g``; ``v = beta2 * v + (1 - beta2) * g**2``;
    amsgrad: ``vmax = max(vmax, v)`` and ``vmax`` replaces ``v`` below;
    ``p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)``, t counting steps from 1.
    Defaults: lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False.
    State: ``m``, ``v`` (+ ``vmax`` with amsgrad)."""

    kind = "adam"

    def __init__(self, params=None, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)

    def _validate_group(self, o):
        super()._validate_group(o)
        _check(o, nonneg=("eps", "weight_decay"), flags=("amsgrad",), betas=True)


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``: Adam with decoupled weight decay.

    ``p *= 1 - lr * weight_decay`` first, then the Adam step of ``Adam`` on the plain gradient.
    Defaults: lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False."""

    kind = "adamw"

    def __init__(self, params=None, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


class NAdam(Optimizer):
    """NAdam (Dozat, 2016), as ``torch.optim.NAdam`` (coupled weight decay).

    ``mu_t = beta1 * (1 - 0.5 * 0.96**(t * momentum_decay))``, ``P_t = mu_1 * ... * mu_t`` (kept per group in
    double); ``g = grad + weight_decay * p``; ``m = beta1 * m + (1 - beta1) * g``;
    ``v = beta2 * v + (1 - beta2) * g**2``; ``d = sqrt(v / (1 - beta2**t)) + eps``;
    ``p -= lr * (1 - mu_t) / (1 - P_t) * g / d + lr * mu_{t+1} / (1 - P_t * mu_{t+1}) * m / d``.
    Defaults: lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3.
    State: ``m``, ``v``; ``scalars[group, 0]`` = P_t."""

    kind = "nadam"

    def __init__(self, params=None, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         momentum_decay=momentum_decay)

    def _validate_group(self, o):
        super()._validate_group(o)
        _check(o, nonneg=("eps", "weight_decay", "momentum_decay"), betas=True)


Nadam = NAdam


class Adamax(Optimizer):
    """Adamax (Kingma & Ba, 2015, section 7), as ``torch.optim.Adamax``.

    ``g = grad + weight_decay * p``; ``m = beta1 * m + (1 - beta1) * g``; ``u = max(beta2 * u, |g| + eps)``;
    ``p -= lr / (1 - beta1**t) * m / u``.  Defaults: lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.
    State: ``m``, ``u``."""

    kind = "adamax"

    def __init__(self, params=None, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _validate_group(self, o):
        super()._validate_group(o)
        _check(o, nonneg=("eps", "weight_decay"), betas=True)


def param_groups(model, no_decay=("bias",), weight_decay=None):
    """Two groups: parameters whose name ends with one of ``no_decay`` get weight_decay 0, the rest keep the
    optimizer's (or ``weight_decay`` when given)."""
    decay, plain = [], []
    for name, p in model.named_parameters():
        (plain if name.split(".")[-1] in no_decay else decay).append(p)
    groups = [{"params": decay}] if weight_decay is None else [{"params": decay, "weight_decay": weight_decay}]
    if plain:
        groups.append({"params": plain, "weight_decay": 0.0})
    return [g for g in groups if g["params"]]


_BY_NAME = {"sgd": SGD, "adagrad": Adagrad, "adadelta": Adadelta, "rmsprop": RMSprop, "adam": Adam,
            "adamw": AdamW, "nadam": NAdam, "adamax": Adamax}


def get(optimizer):
    """An Optimizer instance from an instance or a name (with default hyper-parameters)."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in _BY_NAME:
        return _BY_NAME[optimizer.lower()]()
    raise ValueError(f"unknown optimizer {optimizer!r}; expected an Optimizer or one of {sorted(_BY_NAME)}")
