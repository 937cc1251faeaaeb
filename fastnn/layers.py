"""Layers.  A layer declares its parameters and how it appears in the compiled plan; the model owns the flat
buffers, and a layer's ``weight``/``bias`` are numpy views into them.  A layer can also run on its own from
Python (``forward``/``backward``) for custom loops and tests, on the same C kernels."""
import numpy as np

from . import ops

__all__ = ["Layer", "Linear", "Dense", "Dropout", "AlphaDropout", "GaussianNoise", "Flatten", "Add", "Residual"]


class Layer:
    """Base class.  Subclasses set ``self._params`` (name -> shape) and implement ``plan_spec``."""

    trainable = True

    def __init__(self):
        self._params = {}      # name -> shape, in buffer order (trainable parameters and buffers)
        self._buffer_names = set()  # names in _params that are state, not trained (e.g. running statistics)
        self._values = {}      # name -> view into the model's parameter buffer
        self._grads = {}       # name -> view into the model's gradient buffer
        self.in_dim = None
        self.out_dim = None

    # -- shapes ------------------------------------------------------------------------------------------
    def build(self, in_dim):
        """Fix the input width; returns the output width."""
        self.in_dim = in_dim
        self.out_dim = in_dim
        return self.out_dim

    def build_shape(self, in_shape):
        """Fix the input shape (a tuple without the batch axis, e.g. (784,) or (C, H, W)); returns the output
        shape.  By default: layers that keep the width keep the shape, others give a flat (width,)."""
        in_shape = tuple(int(d) for d in in_shape)
        out = self.build(int(np.prod(in_shape)))
        self.in_shape = in_shape
        self.out_shape = in_shape if out == int(np.prod(in_shape)) else (out,)
        return self.out_shape

    def param_shapes(self):
        return dict(self._params)

    def n_params(self):
        return sum(int(np.prod(s)) for s in self._params.values())

    def flops(self, batch=1):
        """Forward floating-point operations for `batch` rows (multiply-add = 2)."""
        return 0

    # -- parameters ----------------------------------------------------------------------------------------
    def _attach(self, values, grads):
        self._values = values
        self._grads = grads
        for name, v in values.items():
            setattr(self, name, v)

    def reset_parameters(self, rng):
        """Fill this layer's parameters from the generator `rng`."""

    def parameters(self):
        """Trainable parameter arrays (buffers such as running statistics excluded)."""
        return [v for k, v in self._values.items() if k not in self._buffer_names]

    def gradients(self):
        return list(self._grads.values())

    def _standalone(self):
        """Give a layer used outside a model its own buffers."""
        if self.in_dim is None:
            raise ValueError(f"{self!r} has no input width yet: use it inside a model or call build(in_dim)")
        if self._params and not self._values:
            values = {k: np.zeros(s, dtype=np.float32) for k, s in self._params.items()}
            grads = {k: np.zeros(s, dtype=np.float32) for k, s in self._params.items()}
            self._attach(values, grads)
            self.reset_parameters(np.random.default_rng(0))

    def plan_spec(self, offsets):
        """The layer's descriptor(s) for the C plan; `offsets` maps parameter name -> buffer offset."""
        raise NotImplementedError

    def config(self):
        """Constructor arguments, for the JSON architecture."""
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


def _init_weight_and_bias(layer, act_name, rng):
    """A weighted layer's initialisation: PyTorch's default (weight and bias ~ U(+-1/sqrt(fan_in))) when
    ``layer.init`` is None; else ``layer.init`` by name ("auto": the one suited to ``act_name``) and zero bias."""
    from . import init as _init

    shape = layer._params["weight"]
    if layer.init is None:
        layer.weight[...] = _init.pytorch_linear_default(shape, rng)
        if layer.use_bias:
            layer.bias[...] = _init.pytorch_bias_default(shape, rng)
        return
    if layer.init == "auto":
        name, options = _init.default_for_activation(act_name or "identity")
    else:
        name, options = layer.init, {}
    layer.weight[...] = _init.initialize(name, shape, rng, **options)
    if layer.use_bias:
        layer.bias[...] = 0.0


def _non_default(layer, config, *defaults):
    """``config`` plus every (attribute, default) of ``defaults`` whose value differs from the default."""
    for k, default in defaults:
        if getattr(layer, k) != default:
            config[k] = getattr(layer, k)
    return config


def _check_float(name, v, lower, upper=None, strict=False):
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {v!r}") from None
    ok = np.isfinite(v) and (v > lower if strict else v >= lower) and (upper is None or v < upper)
    if not ok:
        rng = f"{'>' if strict else '>='} {lower}" + (f" and < {upper}" if upper is not None else "")
        raise ValueError(f"{name} must be a finite number {rng}, got {v!r}")
    return v


def _check_dim(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name} must be a positive int, got {v!r}")
    return int(v)


class Linear(Layer):
    """Fully connected layer: ``y = x @ weight.T + bias``.

    weight (out_features, in_features), bias (out_features,).  Default initialisation as PyTorch:
    weight and bias ~ U(-1/sqrt(in_features), 1/sqrt(in_features)).  ``init`` names another initialiser of
    ``fastnn.init`` for the weight (e.g. "he_normal", "xavier_uniform", "orthogonal") or "auto" for the one
    suited to ``activation`` (He for the ReLU family, Xavier for tanh/sigmoid, LeCun for SELU); biases are
    then zero.  ``activation`` (a name or an activation layer) appends that activation: the shortcut for
    ``Linear(...), ReLU()``.

    Regularisers (all off by default, all applied inside the C training loop):
    ``l1``, ``l2``: penalty ``l1 * sum|W| + l2 * sum W^2`` on the weight (not the bias), added to the loss
    and its gradient (Keras's kernel_regularizer convention); ``max_norm``: after every update each unit's
    incoming weight vector (a row of W) is rescaled to L2 norm <= max_norm; ``drop_connect``: in training each
    weight is dropped with this probability, independently per batch (kept weights scaled by 1/(1-p)).
    """

    def __init__(self, in_features, out_features, bias=True, activation=None, init=None, l1=0.0, l2=0.0,
                 max_norm=None, drop_connect=0.0):
        super().__init__()
        self.in_features = _check_dim("in_features", in_features)
        self.out_features = _check_dim("out_features", out_features)
        self.l1 = _check_float("l1", l1, 0.0)
        self.l2 = _check_float("l2", l2, 0.0)
        self.max_norm = None if max_norm is None else _check_float("max_norm", max_norm, 0.0, strict=True)
        self.drop_connect = _check_float("drop_connect", drop_connect, 0.0, upper=1.0)
        self.use_bias = bool(bias)
        self.activation = activation
        self.init = init
        self._params = {"weight": (self.out_features, self.in_features)}
        if self.use_bias:
            self._params["bias"] = (self.out_features,)
        self.in_dim, self.out_dim = self.in_features, self.out_features
        self._x = None
        self._act_hint = None  # the activation that follows in a model, for init="auto"

    def build_shape(self, in_shape):
        if len(in_shape) != 1:
            raise ValueError(f"Linear({self.in_features}, {self.out_features}) receives inputs of shape "
                             f"{tuple(in_shape)}: put a Flatten() before it")
        return super().build_shape(in_shape)

    def build(self, in_dim):
        if in_dim != self.in_features:
            raise ValueError(f"Linear({self.in_features}, {self.out_features}) receives {in_dim} features, "
                             f"expected in_features={self.in_features}")
        return self.out_features

    def flops(self, batch=1):
        return 2 * batch * self.in_features * self.out_features + (batch * self.out_features if self.use_bias
                                                                   else 0)

    def reset_parameters(self, rng):
        act = self.activation if self.activation is not None else self._act_hint
        _init_weight_and_bias(self, act if isinstance(act, str) else getattr(act, "name", None), rng)

    def plan_spec(self, offsets):
        return [{"kind": "linear", "in_dim": self.in_features, "out_dim": self.out_features,
                 "w_off": offsets["weight"], "b_off": offsets.get("bias", -1), "l1": self.l1, "l2": self.l2,
                 "max_norm": self.max_norm or 0.0, "drop_connect": self.drop_connect}]

    def forward(self, x):
        """y (N, out) = x (N, in) @ weight.T + bias; keeps x for ``backward``."""
        self._standalone()
        x = _as_batch(x, self.in_features, "x")
        y = ops.gemm(x, self.weight, trans_b=True)
        if self.use_bias:
            y += self.bias
        self._x = x
        return y

    def backward(self, dy):
        """Given dLoss/dy (N, out): writes weight/bias gradients (``gradients()``), returns dLoss/dx (N, in)."""
        if self._x is None:
            raise RuntimeError("Linear.backward called before forward")
        dy = _as_batch(dy, self.out_features, "dy")
        if dy.shape[0] != self._x.shape[0]:
            raise ValueError(f"dy has {dy.shape[0]} rows but the forward input had {self._x.shape[0]}")
        ops.gemm(dy, self._x, c=self._grads["weight"], trans_a=True)
        if self.use_bias:
            self._grads["bias"][...] = dy.sum(axis=0, dtype=np.float64)
        return ops.gemm(dy, self.weight)

    def config(self):
        c = {"in_features": self.in_features, "out_features": self.out_features, "bias": self.use_bias}
        if self.init is not None:
            c["init"] = self.init
        return _non_default(self, c, ("l1", 0.0), ("l2", 0.0), ("max_norm", None), ("drop_connect", 0.0))


Dense = Linear


def _as_batch(x, width, name):
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != width:
        raise ValueError(f"{name} must have shape (N, {width}), got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{name} must be a real numeric array, got dtype {x.dtype}")
    return np.ascontiguousarray(x, dtype=np.float32)



class _Noise(Layer):
    """Base of the layers that are the identity in evaluation and random in training."""

    variant = None

    def __init__(self, rate):
        super().__init__()
        self.rate = rate

    def plan_spec(self, offsets):
        return [{"kind": "dropout", "variant": self.variant, "rate": self.rate, "in_dim": self.in_dim,
                 "out_dim": self.out_dim}]


class Dropout(_Noise):
    """Inverted dropout: in training each element is zeroed with probability ``p`` and the kept ones are
    scaled by 1/(1-p), so evaluation (identity) needs no rescaling.  Masks come from a counter-based generator
    keyed by (model seed, layer, step, element): the same seed gives the same masks for any thread count.
    Default p=0.5."""

    variant = "standard"

    def __init__(self, p=0.5):
        super().__init__(_check_float("p", p, 0.0, upper=1.0))
        self.p = self.rate

    def config(self):
        return {"p": self.p}


class AlphaDropout(_Noise):
    """Alpha dropout for SELU networks (Klambauer et al. 2017): dropped elements take SELU's negative
    saturation value and an affine correction keeps zero mean and unit variance.  Default p=0.5."""

    variant = "alpha"

    def __init__(self, p=0.5):
        super().__init__(_check_float("p", p, 0.0, upper=1.0))
        self.p = self.rate

    def config(self):
        return {"p": self.p}


class GaussianNoise(_Noise):
    """Adds N(0, stddev^2) noise in training (identity in evaluation)."""

    variant = "gaussian"

    def __init__(self, stddev):
        super().__init__(_check_float("stddev", stddev, 0.0))
        self.stddev = self.rate

    def config(self):
        return {"stddev": self.stddev}


class Flatten(Layer):
    """Flattens (C, H, W) feature maps into (C*H*W,) features (rows are already stored flat: free)."""

    def build_shape(self, in_shape):
        super().build_shape(in_shape)
        self.out_shape = (int(np.prod(self.in_shape)),)
        return self.out_shape

    def plan_spec(self, offsets):
        return [{"kind": "flatten", "in_dim": self.in_dim, "out_dim": self.out_dim}]


class Add(Layer):
    """Sums two earlier outputs of the same shape (the join of a residual block; built by ``Residual``)."""

    def plan_spec(self, offsets):
        return [{"kind": "add", "in_dim": self.in_dim, "out_dim": self.out_dim}]


class Residual(Layer):
    """A residual block: ``y = body(x) + shortcut(x)``, with the identity shortcut by default or a
    projection (e.g. ``[Conv2d(c_in, c_out, 1, stride=2), BatchNorm2d(c_out)]``).  Put the activation that
    follows the sum after the block.  ``zero_init=True`` zero-initialises the last BatchNorm's gamma (or,
    without one, the last weight) of the body so the block starts as its shortcut (Goyal et al. 2017).

    A model with residual blocks still compiles into one C plan: the block's layers read the block's input,
    and an ``Add`` joins the two branches."""

    def __init__(self, body, shortcut=None, zero_init=False):
        super().__init__()
        self.body = list(body)
        self.shortcut = list(shortcut) if shortcut else []
        self.zero_init = bool(zero_init)
        if not self.body:
            raise ValueError("Residual: the body needs at least one layer")
        for x in self.body + self.shortcut:
            if not isinstance(x, Layer) or isinstance(x, Residual):
                raise TypeError(f"Residual: {x!r} is not a (non-residual) fastnn Layer")

    def plan_spec(self, offsets):
        raise RuntimeError("Residual blocks are expanded by Sequential")

    def config(self):
        return {"zero_init": self.zero_init}
