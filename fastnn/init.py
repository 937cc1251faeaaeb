"""Weight initialisers (``fastnn.init``).

Every initialiser is a function ``f(shape, rng, **options) -> np.ndarray`` that returns a new float32,
C-contiguous array of ``shape`` drawn with the ``numpy.random.Generator`` ``rng`` (an ``int`` seed is also
accepted and turned into ``np.random.default_rng(seed)``).  To fill an existing array in place (for
example a view into a model's flat parameter buffer) use :func:`initialize_`.

Shapes follow PyTorch: a dense weight is ``(out_features, in_features)``, a convolution weight is
``(out_channels, in_channels, *kernel_size)``, and the fans are computed exactly as
``torch.nn.init._calculate_fan_in_and_fan_out`` does::

    fan_in  = shape[1] * prod(shape[2:])
    fan_out = shape[0] * prod(shape[2:])

The fan-based initialisers (Xavier/Glorot, Kaiming/He, LeCun, orthogonal) need at least two dimensions.

Defaults (all documented on each function):

=====================  ===========================================================================
``zeros``/``ones``     0 / 1
``constant``           ``value`` (required, keyword)
``normal``             N(mean=0, std=0.01): the classic small normal (PyTorch's ``normal_`` uses std=1)
``uniform``            U(a=-0.05, b=0.05) (Keras' ``RandomUniform`` default; PyTorch's ``uniform_`` is U(0, 1))
``xavier_*``           gain=1; std = gain * sqrt(2 / (fan_in + fan_out))
``kaiming_*``          a=0, mode="fan_in", nonlinearity="leaky_relu" (as PyTorch, so gain = sqrt(2))
``lecun_*``            std = 1 / sqrt(fan_in) (plain normal, not truncated); uniform bound sqrt(3 / fan_in)
``orthogonal``         gain=1; QR of a standard normal matrix with PyTorch's sign correction
=====================  ===========================================================================

Layer defaults: :func:`pytorch_linear_default` / :func:`pytorch_bias_default` reproduce PyTorch's
``nn.Linear``/``nn.Conv2d`` initialisation; :func:`default_for_activation` gives the textbook choice per
activation (He for the ReLU family, Xavier for tanh/sigmoid, LeCun normal for SELU).

Layers name an initialiser with a *spec*, resolved by :func:`get`: a registered name (``"he_normal"``),
a ``(name, {options})`` pair (``("constant", {"value": 0.1})``) or a callable ``f(shape, rng)``.
Unknown names, bad shapes and bad arguments raise ``ValueError`` naming the problem.
"""
import math
import numbers
import operator

import numpy as np

__all__ = [
    "calculate_gain", "calculate_fan_in_and_fan_out",
    "zeros", "ones", "constant", "normal", "uniform",
    "xavier_normal", "xavier_uniform", "glorot_normal", "glorot_uniform",
    "kaiming_normal", "kaiming_uniform", "he_normal", "he_uniform",
    "lecun_normal", "lecun_uniform", "orthogonal",
    "pytorch_linear_default", "pytorch_bias_default", "default_for_activation",
    "get", "initialize", "initialize_", "register", "available",
]

# ----------------------------------------------------------------------------------------------------------
# argument checking
# ----------------------------------------------------------------------------------------------------------


def _shape(shape, min_ndim=0, who="initialiser"):
    """Normalise ``shape`` (int or sequence of ints) to a tuple of non-negative Python ints."""
    if isinstance(shape, (numbers.Integral, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise ValueError("%s: shape must be an int or a sequence of ints, got %r" % (who, shape)) from None
    if any(isinstance(d, bool) for d in shape):
        raise ValueError("%s: shape must contain ints, not bools, got %r" % (who, shape))
    if any(d < 0 for d in dims):
        raise ValueError("%s: shape must not have negative dimensions, got %r" % (who, dims))
    if len(dims) < min_ndim:
        raise ValueError("%s: needs a shape with at least %d dimensions ((out, in) for a dense weight, "
                         "(out, in, kh, kw) for a convolution), got %r" % (who, min_ndim, dims))
    return dims


def _rng(rng, who="initialiser"):
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (numbers.Integral, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ValueError("%s: rng must be a numpy.random.Generator (or an int seed), got %s"
                     % (who, type(rng).__name__))


def _real(x, name, who, positive=False, nonneg=False):
    if isinstance(x, bool) or not isinstance(x, (numbers.Real, np.floating, np.integer)):
        raise ValueError("%s: %s must be a real number, got %r" % (who, name, x))
    x = float(x)
    if not math.isfinite(x):
        raise ValueError("%s: %s must be finite, got %r" % (who, name, x))
    if positive and not x > 0:
        raise ValueError("%s: %s must be > 0, got %r" % (who, name, x))
    if nonneg and x < 0:
        raise ValueError("%s: %s must be >= 0, got %r" % (who, name, x))
    return x


def calculate_fan_in_and_fan_out(shape):
    """Return ``(fan_in, fan_out)`` for a weight of ``shape``, as PyTorch computes them.

    ``shape`` is ``(out, in)`` for a dense weight or ``(out, in, *kernel)`` for a convolution:
    ``fan_in = in * prod(kernel)``, ``fan_out = out * prod(kernel)``.  Needs at least 2 dimensions.
    """
    dims = _shape(shape, 2, "calculate_fan_in_and_fan_out")
    receptive = 1
    for d in dims[2:]:
        receptive *= d
    return dims[1] * receptive, dims[0] * receptive


def _fan(shape, mode, who):
    dims = _shape(shape, 2, who)
    fan_in, fan_out = calculate_fan_in_and_fan_out(dims)
    if mode == "fan_in":
        fan = fan_in
    elif mode == "fan_out":
        fan = fan_out
    else:
        raise ValueError("%s: mode must be 'fan_in' or 'fan_out', got %r" % (who, mode))
    if fan <= 0:
        raise ValueError("%s: %s is 0 for shape %r; cannot scale by it" % (who, mode, dims))
    return dims, fan


# ----------------------------------------------------------------------------------------------------------
# gains
# ----------------------------------------------------------------------------------------------------------

_LINEAR_FNS = ("linear", "identity", "conv", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
               "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity, param=None):
    """Recommended gain for ``nonlinearity``, exactly PyTorch's table.

    ==============================================  ==========================================
    linear, identity, conv, conv{1,2,3}d,            1
    conv_transpose{1,2,3}d, sigmoid
    tanh                                            5/3
    relu                                            sqrt(2)
    leaky_relu                                      sqrt(2 / (1 + a**2)), a = ``param`` (default 0.01)
    selu                                            3/4
    ==============================================  ==========================================

    Any other name raises ``ValueError``; so does a non-numeric ``param`` for leaky_relu.
    """
    if not isinstance(nonlinearity, str):
        raise ValueError("calculate_gain: nonlinearity must be a string, got %r" % (nonlinearity,))
    name = nonlinearity.lower()
    if name in _LINEAR_FNS or name == "sigmoid":
        return 1.0
    if name == "tanh":
        return 5.0 / 3.0
    if name == "relu":
        return math.sqrt(2.0)
    if name == "leaky_relu":
        if param is None:
            slope = 0.01
        else:
            slope = _real(param, "param (negative slope)", "calculate_gain")
        return math.sqrt(2.0 / (1.0 + slope ** 2))
    if name == "selu":
        return 3.0 / 4.0
    raise ValueError("calculate_gain: unsupported nonlinearity %r; known: %s"
                     % (nonlinearity, ", ".join(_LINEAR_FNS + ("sigmoid", "tanh", "relu", "leaky_relu", "selu"))))


# ----------------------------------------------------------------------------------------------------------
# primitives
# ----------------------------------------------------------------------------------------------------------


def _uniform(dims, rng, low, high):
    # float64 draw then one rounding to float32: matches the reference distribution to float32 precision.
    return np.ascontiguousarray(rng.uniform(low, high, size=dims).astype(np.float32))


def _normal(dims, rng, mean, std):
    out = rng.standard_normal(size=dims, dtype=np.float64)
    out *= std
    out += mean
    return np.ascontiguousarray(out.astype(np.float32))


def zeros(shape, rng=None):
    """Array of ``shape`` filled with 0.0 (float32). ``rng`` is accepted for a uniform signature and unused."""
    return np.zeros(_shape(shape, 0, "zeros"), dtype=np.float32)


def ones(shape, rng=None):
    """Array of ``shape`` filled with 1.0 (float32). ``rng`` is unused."""
    return np.ones(_shape(shape, 0, "ones"), dtype=np.float32)


def constant(shape, rng=None, *, value):
    """Array of ``shape`` filled with ``value`` (float32; required keyword). ``rng`` is unused."""
    value = _real(value, "value", "constant")
    return np.full(_shape(shape, 0, "constant"), value, dtype=np.float32)


def normal(shape, rng, mean=0.0, std=0.01):
    """Samples of N(``mean``, ``std``**2). Defaults: mean=0, std=0.01 (the classic small normal).

    Note PyTorch's ``nn.init.normal_`` defaults to std=1; pass ``std=1.0`` for that.
    """
    dims = _shape(shape, 0, "normal")
    rng = _rng(rng, "normal")
    mean = _real(mean, "mean", "normal")
    std = _real(std, "std", "normal", nonneg=True)
    return _normal(dims, rng, mean, std)


def uniform(shape, rng, a=-0.05, b=0.05):
    """Samples of U(``a``, ``b``). Defaults: a=-0.05, b=0.05 (Keras' ``RandomUniform``).

    Note PyTorch's ``nn.init.uniform_`` defaults to U(0, 1). Requires ``a <= b``.
    """
    dims = _shape(shape, 0, "uniform")
    rng = _rng(rng, "uniform")
    a = _real(a, "a", "uniform")
    b = _real(b, "b", "uniform")
    if a > b:
        raise ValueError("uniform: needs a <= b, got a=%r, b=%r" % (a, b))
    return _uniform(dims, rng, a, b)


def xavier_uniform(shape, rng, gain=1.0):
    """Xavier/Glorot uniform (Glorot & Bengio 2010): U(-bound, bound), as ``torch.nn.init.xavier_uniform_``.

    ``bound = gain * sqrt(6 / (fan_in + fan_out))``. Default gain=1 (use ``calculate_gain("tanh")`` for tanh).
    ``shape``: (out, in) or (out, in, *kernel).
    """
    dims, _ = _fan(shape, "fan_in", "xavier_uniform")
    rng = _rng(rng, "xavier_uniform")
    gain = _real(gain, "gain", "xavier_uniform", nonneg=True)
    fan_in, fan_out = calculate_fan_in_and_fan_out(dims)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return _uniform(dims, rng, -bound, bound)


def xavier_normal(shape, rng, gain=1.0):
    """Xavier/Glorot normal: N(0, std**2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``. Default gain=1.

    As ``torch.nn.init.xavier_normal_`` (not truncated). ``shape``: (out, in) or (out, in, *kernel).
    """
    dims, _ = _fan(shape, "fan_in", "xavier_normal")
    rng = _rng(rng, "xavier_normal")
    gain = _real(gain, "gain", "xavier_normal", nonneg=True)
    fan_in, fan_out = calculate_fan_in_and_fan_out(dims)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return _normal(dims, rng, 0.0, std)


def _kaiming_std(shape, a, mode, nonlinearity, who):
    dims, fan = _fan(shape, mode, who)
    a = _real(a, "a", who)
    gain = calculate_gain(nonlinearity, a)
    return dims, gain / math.sqrt(fan)


def kaiming_uniform(shape, rng, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """Kaiming/He uniform (He et al. 2015): U(-bound, bound), as ``torch.nn.init.kaiming_uniform_``.

    ``bound = sqrt(3) * gain / sqrt(fan)``, ``gain = calculate_gain(nonlinearity, a)``. Defaults as PyTorch:
    a=0 (the negative slope, used only by leaky_relu), mode="fan_in" (preserves the forward variance;
    "fan_out" preserves the backward one), nonlinearity="leaky_relu" (so with a=0 the gain is sqrt(2), the
    ReLU gain). ``shape``: (out, in) or (out, in, *kernel).
    """
    dims, std = _kaiming_std(shape, a, mode, nonlinearity, "kaiming_uniform")
    rng = _rng(rng, "kaiming_uniform")
    bound = math.sqrt(3.0) * std
    return _uniform(dims, rng, -bound, bound)


def kaiming_normal(shape, rng, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """Kaiming/He normal: N(0, std**2), ``std = calculate_gain(nonlinearity, a) / sqrt(fan)``.

    As ``torch.nn.init.kaiming_normal_`` (not truncated). Defaults as PyTorch: a=0, mode="fan_in",
    nonlinearity="leaky_relu" (gain sqrt(2) with a=0). ``shape``: (out, in) or (out, in, *kernel).
    """
    dims, std = _kaiming_std(shape, a, mode, nonlinearity, "kaiming_normal")
    rng = _rng(rng, "kaiming_normal")
    return _normal(dims, rng, 0.0, std)


def lecun_normal(shape, rng):
    """LeCun normal (LeCun et al. 1998; the SELU paper's choice): N(0, 1 / fan_in).

    A plain (not truncated) normal, i.e. ``kaiming_normal(shape, rng, nonlinearity="linear")``, which is what
    PyTorch's SELU documentation recommends. ``shape``: (out, in) or (out, in, *kernel).
    """
    dims, fan = _fan(shape, "fan_in", "lecun_normal")
    rng = _rng(rng, "lecun_normal")
    return _normal(dims, rng, 0.0, 1.0 / math.sqrt(fan))


def lecun_uniform(shape, rng):
    """LeCun uniform: U(-bound, bound) with ``bound = sqrt(3 / fan_in)`` (variance 1 / fan_in).

    ``shape``: (out, in) or (out, in, *kernel).
    """
    dims, fan = _fan(shape, "fan_in", "lecun_uniform")
    rng = _rng(rng, "lecun_uniform")
    bound = math.sqrt(3.0 / fan)
    return _uniform(dims, rng, -bound, bound)


def orthogonal(shape, rng, gain=1.0):
    """(Semi-)orthogonal matrix (Saxe et al. 2013), as ``torch.nn.init.orthogonal_``. Default gain=1.

    The weight is viewed as a ``(rows, cols) = (shape[0], prod(shape[1:]))`` matrix. A standard normal matrix
    (transposed when rows < cols) is QR-factorised in float64 and Q's columns are multiplied by the signs of
    R's diagonal, so the result is uniformly (Haar) distributed. The result, times ``gain``, has orthonormal
    rows when rows <= cols (``W W^T = gain**2 I``) and orthonormal columns otherwise (``W^T W = gain**2 I``).
    Works for dense ``(out, in)`` and convolution ``(out, in, kh, kw)`` shapes; needs >= 2 dimensions.
    """
    dims = _shape(shape, 2, "orthogonal")
    rng = _rng(rng, "orthogonal")
    gain = _real(gain, "gain", "orthogonal")
    rows = dims[0]
    cols = 1
    for d in dims[1:]:
        cols *= d
    if rows == 0 or cols == 0:
        raise ValueError("orthogonal: shape %r has no elements" % (dims,))
    flat = rng.standard_normal(size=(rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    d = np.sign(np.diagonal(r))
    d[d == 0] = 1.0
    q = q * d
    if rows < cols:
        q = q.T
    return np.ascontiguousarray((gain * q).reshape(dims).astype(np.float32))


# ----------------------------------------------------------------------------------------------------------
# layer defaults
# ----------------------------------------------------------------------------------------------------------


def pytorch_linear_default(weight_shape, rng):
    """PyTorch's default weight init for ``nn.Linear`` and ``nn.Conv*d``.

    ``kaiming_uniform(weight_shape, rng, a=sqrt(5))``, which is U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    ``weight_shape``: (out, in) or (out, in, *kernel). Draw the bias afterwards with
    :func:`pytorch_bias_default` to follow PyTorch's order.
    """
    return kaiming_uniform(weight_shape, rng, a=math.sqrt(5.0))


def pytorch_bias_default(weight_shape, rng):
    """PyTorch's default bias init for ``nn.Linear``/``nn.Conv*d``: shape ``(weight_shape[0],)``, drawn from
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) where fan_in is the *weight's* fan-in (bound 0 when fan_in is 0)."""
    dims = _shape(weight_shape, 2, "pytorch_bias_default")
    rng = _rng(rng, "pytorch_bias_default")
    fan_in, _ = calculate_fan_in_and_fan_out(dims)
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return _uniform((dims[0],), rng, -bound, bound)


# activation name -> (initialiser, options); see default_for_activation's docstring
_RRELU_MEAN_SLOPE = (1.0 / 8.0 + 1.0 / 3.0) / 2.0  # PyTorch RReLU defaults lower=1/8, upper=1/3
_ACTIVATION_DEFAULTS = {
    "relu": ("kaiming_normal", {"nonlinearity": "relu"}),
    "elu": ("kaiming_normal", {"nonlinearity": "relu"}),
    "softplus": ("kaiming_normal", {"nonlinearity": "relu"}),
    "leaky_relu": ("kaiming_normal", {"a": 0.01, "nonlinearity": "leaky_relu"}),
    "prelu": ("kaiming_normal", {"a": 0.25, "nonlinearity": "leaky_relu"}),
    "rrelu": ("kaiming_normal", {"a": _RRELU_MEAN_SLOPE, "nonlinearity": "leaky_relu"}),
    "tanh": ("xavier_uniform", {"gain": 5.0 / 3.0}),
    "sigmoid": ("xavier_uniform", {"gain": 1.0}),
    "softsign": ("xavier_uniform", {"gain": 1.0}),
    "identity": ("xavier_uniform", {"gain": 1.0}),
    "softmax": ("xavier_uniform", {"gain": 1.0}),
    "selu": ("lecun_normal", {}),
}
_ACTIVATION_ALIASES = {"linear": "identity", "none": "identity", "leakyrelu": "leaky_relu",
                       "leaky-relu": "leaky_relu", "logistic": "sigmoid"}


def default_for_activation(name, param=None):
    """The textbook initialiser for a layer followed by activation ``name``, as a spec for :func:`get`.

    Returns ``(initialiser_name, options)``:

    ================================  ==========================================================================
    relu, elu, softplus               ``("kaiming_normal", {"nonlinearity": "relu"})`` (He: std sqrt(2/fan_in))
    leaky_relu                        ``("kaiming_normal", {"a": param or 0.01, "nonlinearity": "leaky_relu"})``
    prelu                             same with a = ``param`` or 0.25 (PReLU's initial slope)
    rrelu                             same with a = ``param`` or 11/48 (the mean slope of U(1/8, 1/3))
    tanh                              ``("xavier_uniform", {"gain": 5/3})`` (Glorot with the tanh gain)
    sigmoid, softsign, identity,      ``("xavier_uniform", {"gain": 1.0})``
    linear, None, softmax
    selu                              ``("lecun_normal", {})`` (N(0, 1/fan_in), the SELU paper's choice)
    ================================  ==========================================================================

    This is an opt-in alternative to PyTorch's layer default (:func:`pytorch_linear_default`).
    Unknown names raise ``ValueError``.
    """
    key = "identity" if name is None else name
    if not isinstance(key, str):
        raise ValueError("default_for_activation: name must be a string, got %r" % (name,))
    key = key.lower()
    key = _ACTIVATION_ALIASES.get(key, key)
    if key not in _ACTIVATION_DEFAULTS:
        raise ValueError("default_for_activation: unknown activation %r; known: %s"
                         % (name, ", ".join(sorted(set(_ACTIVATION_DEFAULTS) | set(_ACTIVATION_ALIASES)))))
    init_name, options = _ACTIVATION_DEFAULTS[key]
    options = dict(options)
    if param is not None:
        if "a" not in options:
            raise ValueError("default_for_activation: activation %r takes no param, got %r" % (name, param))
        options["a"] = _real(param, "param", "default_for_activation")
    return init_name, options


# ----------------------------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------------------------

_REGISTRY = {}


def register(name, fn, *, overwrite=False):
    """Register ``fn(shape, rng, **options) -> np.ndarray`` under ``name`` (lower-case) for :func:`get`."""
    if not isinstance(name, str) or not name:
        raise ValueError("register: name must be a non-empty string, got %r" % (name,))
    if not callable(fn):
        raise ValueError("register: fn must be callable, got %r" % (fn,))
    key = name.lower()
    if key in _REGISTRY and not overwrite and _REGISTRY[key] is not fn:
        raise ValueError("register: an initialiser named %r already exists (pass overwrite=True)" % name)
    _REGISTRY[key] = fn


for _name, _fn in [
    ("zeros", zeros), ("ones", ones), ("constant", constant), ("normal", normal), ("uniform", uniform),
    ("xavier_normal", xavier_normal), ("xavier_uniform", xavier_uniform),
    ("glorot_normal", xavier_normal), ("glorot_uniform", xavier_uniform),
    ("kaiming_normal", kaiming_normal), ("kaiming_uniform", kaiming_uniform),
    ("he_normal", kaiming_normal), ("he_uniform", kaiming_uniform),
    ("lecun_normal", lecun_normal), ("lecun_uniform", lecun_uniform),
    ("orthogonal", orthogonal), ("pytorch_default", pytorch_linear_default),
]:
    register(_name, _fn)
del _name, _fn

glorot_normal = xavier_normal
glorot_uniform = xavier_uniform
he_normal = kaiming_normal
he_uniform = kaiming_uniform


def available():
    """Sorted list of registered initialiser names (aliases included)."""
    return sorted(_REGISTRY)


def get(spec, **options):
    """Resolve an initialiser spec to a callable ``f(shape, rng) -> np.ndarray``.

    ``spec`` is a registered name (case-insensitive; a trailing ``_`` as in PyTorch's ``kaiming_normal_`` is
    accepted), a ``(name, {options})`` pair such as the ones :func:`default_for_activation` returns, or a
    callable ``f(shape, rng, **options)``. Extra ``options`` are bound too (they override the pair's).
    Unknown names and options the initialiser does not take raise ``ValueError``.
    """
    opts = {}
    if isinstance(spec, tuple):
        if len(spec) != 2 or not isinstance(spec[1], dict):
            raise ValueError("init.get: a tuple spec must be (name, {options}), got %r" % (spec,))
        spec, opts = spec[0], dict(spec[1])
    opts.update(options)
    if isinstance(spec, str):
        key = spec.lower()
        if key not in _REGISTRY and key.endswith("_"):
            key = key[:-1]
        if key not in _REGISTRY:
            raise ValueError("init.get: unknown initialiser %r; known: %s" % (spec, ", ".join(available())))
        fn = _REGISTRY[key]
        label = key
    elif callable(spec):
        fn = spec
        label = getattr(spec, "__name__", repr(spec))
    else:
        raise ValueError("init.get: spec must be a name, a (name, options) pair or a callable, got %r" % (spec,))

    if not opts:
        return fn

    import inspect

    try:
        sig = inspect.signature(fn)
        sig.bind((1, 1), None, **opts)
    except TypeError as exc:
        raise ValueError("init.get: bad options %r for initialiser %r: %s" % (opts, label, exc)) from None
    except ValueError:  # no signature available (builtins): trust the caller
        pass

    def bound(shape, rng):
        return fn(shape, rng, **opts)

    bound.__name__ = label
    bound.options = dict(opts)
    return bound


def initialize(spec, shape, rng, **options):
    """``get(spec, **options)(shape, rng)``: a new float32 array of ``shape``."""
    out = get(spec, **options)(shape, rng)
    return np.ascontiguousarray(out, dtype=np.float32)


def initialize_(out, spec, rng, **options):
    """Fill the existing float32 array ``out`` in place (e.g. a view into a flat parameter buffer) with
    ``initialize(spec, out.shape, rng, **options)``; returns ``out``. ``out`` must be a writeable float32
    numpy array."""
    if not isinstance(out, np.ndarray) or out.dtype != np.float32:
        raise ValueError("init.initialize_: out must be a float32 numpy array, got %s"
                         % (getattr(out, "dtype", type(out).__name__),))
    if not out.flags.writeable:
        raise ValueError("init.initialize_: out is read-only")
    values = initialize(spec, out.shape, rng, **options)
    if values.shape != out.shape:
        raise ValueError("init.initialize_: initialiser returned shape %r, expected %r" % (values.shape, out.shape))
    out[...] = values
    return out
