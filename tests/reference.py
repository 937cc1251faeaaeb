"""Float64 numpy reference for fastnn's activations and losses (forward and backward).

Plain, numerically stable formulas (no overflow for |x| up to 1e4 and beyond), checked themselves by central
finite differences in the tests.  Parameters use PyTorch's names and defaults:

    act_forward(kind, x, **params) -> y
    act_backward(kind, x, dy, **params) -> dx              (d(sum(y * dy)) / dx)
    prelu_dslope(x, dy, slope) -> dslope (same shape as slope)
    loss(kind, pred, target_or_labels, delta=1.0) -> (value, grad)   (reduction="mean", grad = dvalue/dpred)

Activation kinds and their params:
    identity, sigmoid, tanh, relu, softsign, selu, softmax (per row)
    leaky_relu(negative_slope=0.01)
    prelu(slope)                         slope: shape (1,) or (D,)
    rrelu(lower=1/8, upper=1/3, training=False, rand_slope=None)
                                         training needs rand_slope (N,D), the per-element slopes drawn
    elu(alpha=1.0)
    softplus(beta=1.0, threshold=20.0)   beta * x > threshold -> x (PyTorch)
Loss kinds: mse, mae, huber (delta), bce_logits, cross_entropy (logits; int labels (N,) or target rows (N,D)).
"""
import numpy as np

SELU_SCALE = 1.0507009873554805
SELU_ALPHA = 1.6732632423543772

ACT_KINDS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "prelu", "rrelu", "elu", "selu", "softplus",
             "softsign", "softmax")
LOSS_KINDS = ("mse", "mae", "huber", "bce_logits", "cross_entropy")

DEFAULTS = {
    "leaky_relu": {"negative_slope": 0.01},
    "rrelu": {"lower": 1.0 / 8.0, "upper": 1.0 / 3.0, "training": False, "rand_slope": None},
    "elu": {"alpha": 1.0},
    "softplus": {"beta": 1.0, "threshold": 20.0},
    "prelu": {"slope": None},
}


def _params(kind, params):
    if kind not in ACT_KINDS:
        raise ValueError(f"unknown activation {kind!r}")
    p = dict(DEFAULTS.get(kind, {}))
    unknown = set(params) - set(p)
    if unknown:
        raise TypeError(f"{kind}: unexpected parameters {sorted(unknown)}")
    p.update(params)
    return p


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _neg_slope(kind, x, p):
    """The slope used where x <= 0 for the ReLU family, broadcast to x."""
    if kind == "relu":
        return np.zeros_like(x)
    if kind == "leaky_relu":
        return np.full_like(x, p["negative_slope"])
    if kind == "prelu":
        s = np.asarray(p["slope"], dtype=np.float64).reshape(-1)
        return np.broadcast_to(s if s.size > 1 else s[0], x.shape).astype(np.float64)
    if kind == "rrelu":
        if p["training"]:
            return np.asarray(p["rand_slope"], dtype=np.float64).reshape(x.shape)
        return np.full_like(x, 0.5 * (p["lower"] + p["upper"]))
    raise AssertionError(kind)


def act_forward(kind, x, **params):
    """y = act(x) in float64, elementwise (softmax: per row of a 2-D x)."""
    p = _params(kind, params)
    x = np.asarray(x, dtype=np.float64)
    if kind == "identity":
        return x.copy()
    if kind == "sigmoid":
        return _sigmoid(x)
    if kind == "tanh":
        return np.tanh(x)
    if kind in ("relu", "leaky_relu", "prelu", "rrelu"):
        return np.where(x > 0, x, _neg_slope(kind, x, p) * x)
    if kind == "elu":
        return np.where(x > 0, x, p["alpha"] * np.expm1(np.minimum(x, 0.0)))
    if kind == "selu":
        return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))
    if kind == "softplus":
        b, bx = p["beta"], p["beta"] * x
        soft = (np.maximum(bx, 0.0) + np.log1p(np.exp(-np.abs(bx)))) / b
        return np.where(bx > p["threshold"], x, soft)
    if kind == "softsign":
        return x / (1.0 + np.abs(x))
    if kind == "softmax":
        z = x - x.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)
    raise AssertionError(kind)


def act_backward(kind, x, dy, **params):
    """dx = dy * act'(x) (softmax: the row Jacobian-vector product).  At x == 0 the ReLU family, ELU and
    SELU take the x <= 0 branch (as PyTorch does)."""
    p = _params(kind, params)
    x = np.asarray(x, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    if kind == "identity":
        return dy.copy()
    if kind == "sigmoid":
        e = np.exp(-np.abs(x))
        return dy * e / (1.0 + e) ** 2
    if kind == "tanh":
        e = np.exp(-2.0 * np.abs(x))
        return dy * 4.0 * e / (1.0 + e) ** 2
    if kind in ("relu", "leaky_relu", "prelu", "rrelu"):
        return np.where(x > 0, dy, _neg_slope(kind, x, p) * dy)
    if kind == "elu":
        return np.where(x > 0, dy, p["alpha"] * np.exp(np.minimum(x, 0.0)) * dy)
    if kind == "selu":
        return np.where(x > 0, SELU_SCALE * dy, SELU_SCALE * SELU_ALPHA * np.exp(np.minimum(x, 0.0)) * dy)
    if kind == "softplus":
        bx = p["beta"] * x
        return np.where(bx > p["threshold"], dy, _sigmoid(bx) * dy)
    if kind == "softsign":
        return dy / (1.0 + np.abs(x)) ** 2
    if kind == "softmax":
        y = act_forward("softmax", x)
        return y * (dy - (y * dy).sum(axis=-1, keepdims=True))
    raise AssertionError(kind)


def prelu_dslope(x, dy, slope):
    """d(sum(prelu(x) * dy)) / dslope for slope of shape (1,) (shared) or (D,) (per feature)."""
    x = np.asarray(x, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    contrib = np.where(x > 0, 0.0, x * dy)
    if np.size(slope) == 1:
        return np.array([contrib.sum()])
    return contrib.reshape(-1, x.shape[-1]).sum(axis=0)


def _is_labels(t):
    t = np.asarray(t)
    return t.ndim == 1 and np.issubdtype(t.dtype, np.integer)


def loss(kind, pred, target_or_labels, delta=1.0):
    """(value, grad) with PyTorch's reduction="mean": elementwise losses averaged over all N*D elements,
    cross_entropy over the N rows.  cross_entropy takes int labels (N,) or target rows (N,D)."""
    z = np.asarray(pred, dtype=np.float64)
    if kind == "cross_entropy":
        n, d = z.shape
        if _is_labels(target_or_labels):
            labels = np.asarray(target_or_labels)
            if labels.shape != (n,) or labels.min() < 0 or labels.max() >= d:
                raise ValueError("labels must be (N,) in [0, D)")
            t = np.zeros_like(z)
            t[np.arange(n), labels] = 1.0
        else:
            t = np.asarray(target_or_labels, dtype=np.float64)
        m = z.max(axis=1, keepdims=True)
        lse = m + np.log(np.exp(z - m).sum(axis=1, keepdims=True))
        logp = z - lse
        value = -(t * logp).sum() / n
        grad = (np.exp(logp) * t.sum(axis=1, keepdims=True) - t) / n
        return float(value), grad
    t = np.asarray(target_or_labels, dtype=np.float64)
    if t.shape != z.shape:
        raise ValueError("target must have the shape of pred")
    r = z - t
    count = z.size
    if kind == "mse":
        return float((r * r).sum() / count), 2.0 * r / count
    if kind == "mae":
        return float(np.abs(r).sum() / count), np.sign(r) / count
    if kind == "huber":
        a = np.abs(r)
        v = np.where(a < delta, 0.5 * r * r, delta * (a - 0.5 * delta))
        g = np.where(a < delta, r, delta * np.sign(r))
        return float(v.sum() / count), g / count
    if kind == "bce_logits":
        v = np.maximum(z, 0.0) - z * t + np.log1p(np.exp(-np.abs(z)))
        return float(v.sum() / count), (_sigmoid(z) - t) / count
    raise ValueError(f"unknown loss {kind!r}")
