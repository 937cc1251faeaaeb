"""Optimizers.  Each one is a single fused C pass over the model's flat parameter, gradient and state buffers.

Defaults and update rules follow PyTorch (``torch.optim``)."""
import numpy as np

from ._ext import _core

__all__ = ["Optimizer", "SGD"]


def _nonneg(name, v):
    v = float(v)
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    return v


class Optimizer:
    """Base class.  An optimizer is bound to one model by ``model.compile``; its state lives in one flat
    float32 buffer (``self.state``) next to the model's parameters and is updated in C."""

    kind = None

    def __init__(self, lr):
        lr = float(lr)
        if not np.isfinite(lr) or lr <= 0:
            raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
        self.lr = lr
        self.state = None
        self.step_count = 0

    def spec(self):
        """The hyper-parameters as the C update reads them."""
        raise NotImplementedError

    def bind(self, n_params):
        """Allocate the state for a model with n_params parameters (zeroed: a fresh start)."""
        self.state = np.zeros(_core.optim_state_size(self.spec(), n_params), dtype=np.float32)
        self.step_count = 0

    def step(self, params, grads, n_threads=1):
        """One update of the flat buffers (for custom training loops)."""
        if self.state is None:
            self.bind(params.shape[0])
        self.step_count += 1
        _core.optim_update(self.spec(), params, grads, self.state, self.step_count, n_threads)

    def state_dict(self):
        return {"spec": self.spec(), "step_count": self.step_count,
                "state": None if self.state is None else self.state.copy()}

    def load_state_dict(self, d):
        spec = d["spec"]
        if spec.get("kind") != self.kind:
            raise ValueError(f"optimizer state is for {spec.get('kind')!r}, not {self.kind!r}")
        for k, v in spec.items():
            if k != "kind":
                setattr(self, k, v)
        st = d["state"]
        self.state = None if st is None else np.array(st, dtype=np.float32)
        self.step_count = int(d["step_count"])

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.spec().items() if k != "kind")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov momentum and (coupled) weight decay.

    ``g = grad + weight_decay * p``; with momentum ``buf = g`` on the first step, then
    ``buf = momentum * buf + (1 - dampening) * g``; ``g = g + momentum * buf`` (Nesterov) or ``g = buf``;
    ``p -= lr * g``.  Defaults as PyTorch: lr=0.01 (PyTorch requires it; 0.01 is the classic value),
    momentum=0, dampening=0, weight_decay=0, nesterov=False.  Nesterov needs momentum > 0 and dampening 0.
    """

    kind = "sgd"

    def __init__(self, lr=0.01, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(lr)
        self.momentum = _nonneg("momentum", momentum)
        self.dampening = _nonneg("dampening", dampening)
        self.weight_decay = _nonneg("weight_decay", weight_decay)
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("Nesterov momentum requires momentum > 0 and dampening = 0")

    def spec(self):
        return {"kind": self.kind, "lr": self.lr, "momentum": self.momentum, "dampening": self.dampening,
                "weight_decay": self.weight_decay, "nesterov": self.nesterov}


_BY_NAME = {"sgd": SGD}


def get(optimizer):
    """An Optimizer instance from an instance or a name (with default hyper-parameters)."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in _BY_NAME:
        return _BY_NAME[optimizer.lower()]()
    raise ValueError(f"unknown optimizer {optimizer!r}; expected an Optimizer or one of {sorted(_BY_NAME)}")
