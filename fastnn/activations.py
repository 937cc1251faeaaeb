"""Activation layers: forward and backward in C, numerically safe for large |x|.

Each can be a layer (``fnn.ReLU()``) or the ``activation=`` shortcut of ``Linear`` (``activation="relu"``)."""
import numpy as np

from ._config import get_num_threads
from ._ext import _core
from .layers import Layer, _as_batch

__all__ = ["Activation", "Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU",
           "Softplus", "Softsign", "Softmax", "get"]


class Activation(Layer):
    """Base class: an elementwise (or, for Softmax, row-wise) function with no change of width."""

    name = None

    def _c_params(self):
        """alpha, beta, lower, upper as the C kernel reads them."""
        return {}

    def plan_spec(self, offsets):
        spec = {"kind": "act", "act": self.name, "in_dim": self.in_dim, "out_dim": self.out_dim}
        spec.update(self._c_params())
        if "weight" in offsets:
            spec["slope_off"] = offsets["weight"]
            spec["n_slope"] = self._params["weight"][0]
        return [spec]

    def flops(self, batch=1):
        return batch * (self.out_dim or 0)

    # -- standalone use -------------------------------------------------------------------------------------
    def forward(self, x, training=False, seed=0, step=0):
        """y = f(x) for x (N, D); keeps x and y for ``backward``."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError(f"x must be 2-D (N, D), got shape {x.shape}")
        if self.in_dim is None:
            self.build(x.shape[1])
        x = _as_batch(x, self.in_dim, "x")
        self._standalone()
        slope = self._values.get("weight")
        y, rs = _core.act_forward(self.name, x, slope=slope, seed=seed, step=step, training=training,
                                  n_threads=get_num_threads(), **self._c_params())
        self._cache = (x, y, rs, training)
        return y

    def backward(self, dy):
        """dLoss/dx for dLoss/dy (N, D); PReLU also writes its slope gradient (``gradients()``)."""
        if getattr(self, "_cache", None) is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        x, y, rs, training = self._cache
        dy = _as_batch(dy, self.in_dim, "dy")
        if dy.shape != x.shape:
            raise ValueError(f"dy has shape {dy.shape} but the forward input had {x.shape}")
        slope = self._values.get("weight")
        dx, dslope = _core.act_backward(self.name, x, y, dy, slope=slope, rand_slope=rs, training=training,
                                        n_threads=get_num_threads(), **self._c_params())
        if slope is not None:
            self._grads["weight"][...] = dslope
        return dx


class Identity(Activation):
    """f(x) = x."""
    name = "identity"


class Sigmoid(Activation):
    """f(x) = 1 / (1 + exp(-x))."""
    name = "sigmoid"


class Tanh(Activation):
    """f(x) = tanh(x)."""
    name = "tanh"


class ReLU(Activation):
    """f(x) = max(x, 0)."""
    name = "relu"


class LeakyReLU(Activation):
    """f(x) = x if x > 0 else negative_slope * x; default negative_slope=0.01 (PyTorch's)."""
    name = "leaky_relu"

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def _c_params(self):
        return {"alpha": self.negative_slope}

    def config(self):
        return {"negative_slope": self.negative_slope}


class PReLU(Activation):
    """f(x) = x if x > 0 else a * x with a learnable slope ``a``: one shared (num_parameters=1, default) or
    one per feature (num_parameters = width).  Initial slope 0.25 (PyTorch's)."""
    name = "prelu"

    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        if isinstance(num_parameters, bool) or not isinstance(num_parameters, (int, np.integer)) \
                or num_parameters < 1:
            raise ValueError(f"PReLU: num_parameters must be a positive int, got {num_parameters!r}")
        self.num_parameters = int(num_parameters)
        self.init_value = float(init)
        self._params = {"weight": (self.num_parameters,)}

    def build(self, in_dim):
        if self.num_parameters not in (1, in_dim):
            raise ValueError(f"PReLU(num_parameters={self.num_parameters}) after a layer of width {in_dim}: "
                             f"num_parameters must be 1 or {in_dim}")
        return super().build(in_dim)

    def reset_parameters(self, rng):
        self.weight[...] = self.init_value

    def config(self):
        return {"num_parameters": self.num_parameters, "init": self.init_value}


class RReLU(Activation):
    """Randomised leaky ReLU: in training the negative slope of each element is drawn from
    U(lower, upper) (counter-based generator keyed by the model seed and the step); in evaluation the slope is
    (lower + upper) / 2.  Defaults lower=1/8, upper=1/3 (PyTorch's)."""
    name = "rrelu"

    def __init__(self, lower=1.0 / 8.0, upper=1.0 / 3.0):
        super().__init__()
        self.lower, self.upper = float(lower), float(upper)
        if not (0 <= self.lower <= self.upper):
            raise ValueError(f"RReLU: need 0 <= lower <= upper, got lower={lower}, upper={upper}")

    def _c_params(self):
        return {"lower": self.lower, "upper": self.upper}

    def config(self):
        return {"lower": self.lower, "upper": self.upper}


class ELU(Activation):
    """f(x) = x if x > 0 else alpha * (exp(x) - 1); default alpha=1.0."""
    name = "elu"

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = float(alpha)

    def _c_params(self):
        return {"alpha": self.alpha}

    def config(self):
        return {"alpha": self.alpha}


class SELU(Activation):
    """Scaled ELU with the self-normalising constants scale=1.0507009873554805, alpha=1.6732632423543772."""
    name = "selu"


class Softplus(Activation):
    """f(x) = log(1 + exp(beta x)) / beta, and x where beta x > threshold.  Defaults beta=1, threshold=20."""
    name = "softplus"

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = float(beta), float(threshold)
        if not self.beta > 0:
            raise ValueError(f"Softplus: beta must be > 0, got {beta!r}")

    def _c_params(self):
        return {"alpha": self.beta, "beta": self.threshold}

    def config(self):
        return {"beta": self.beta, "threshold": self.threshold}


class Softsign(Activation):
    """f(x) = x / (1 + |x|)."""
    name = "softsign"


class Softmax(Activation):
    """Row-wise softmax, max-subtracted.  For classification prefer a linear last layer with the
    cross-entropy loss, which fuses softmax into the loss."""
    name = "softmax"


_BY_NAME = {c.name: c for c in (Identity, Sigmoid, Tanh, ReLU, LeakyReLU, PReLU, RReLU, ELU, SELU, Softplus,
                                Softsign, Softmax)}
_BY_NAME["linear"] = Identity
_BY_NAME["leakyrelu"] = LeakyReLU


def get(activation):
    """An activation layer from a layer instance or a name (with default constants)."""
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str) and activation.lower() in _BY_NAME:
        return _BY_NAME[activation.lower()]()
    raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(_BY_NAME)}")
