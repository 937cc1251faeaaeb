# Activation and loss bridge: argument checks, GIL released around the C kernels (src_c/fnn_act.c,
# src_c/fnn_loss.c and their _naive twins), C statuses turned into exceptions.
# Arrays must already be float32 (int32 for labels) and C-contiguous: the Python layer converts on entry.
from libc.stdint cimport int32_t, uint64_t
from fnn_act cimport *
from fnn_loss cimport *

import numpy as np

ACT_KINDS = {"identity": 0, "sigmoid": 1, "tanh": 2, "relu": 3, "leaky_relu": 4, "prelu": 5, "rrelu": 6,
             "elu": 7, "selu": 8, "softplus": 9, "softsign": 10, "softmax": 11}
LOSS_KINDS = {"mse": 0, "mae": 1, "huber": 2, "bce_logits": 3, "cross_entropy": 4}
_ACT_NAMES = {v: k for k, v in ACT_KINDS.items()}
_LOSS_NAMES = {v: k for k, v in LOSS_KINDS.items()}

# Per-kind defaults of the descriptor fields (PyTorch's): leaky_relu alpha = negative_slope 0.01;
# elu alpha 1.0; softplus alpha = beta 1.0, beta = threshold 20.0; rrelu lower 1/8, upper 1/3.
ACT_DEFAULTS = {
    "leaky_relu": {"alpha": 0.01},
    "elu": {"alpha": 1.0},
    "softplus": {"alpha": 1.0, "beta": 20.0},
    "rrelu": {"lower": 1.0 / 8.0, "upper": 1.0 / 3.0},
}


def _kind_code(kind, dict table, str what):
    if isinstance(kind, str):
        key = kind.lower()
        if key not in table:
            raise ValueError(f"unknown {what} {kind!r}; valid names: {', '.join(table)}")
        return table[key]
    if isinstance(kind, (int, np.integer)) and not isinstance(kind, bool):
        if not 0 <= int(kind) < len(table):
            raise ValueError(f"unknown {what} code {kind!r}; valid codes 0..{len(table) - 1} ({', '.join(table)})")
        return int(kind)
    raise TypeError(f"{what} must be a name (str) or a code (int), got {type(kind).__name__}")


def act_kind(kind):
    """The activation code for a name (or a code, checked)."""
    return _kind_code(kind, ACT_KINDS, "activation")


def loss_kind(kind):
    """The loss code for a name (or a code, checked)."""
    return _kind_code(kind, LOSS_KINDS, "loss")


def _check_array(a, str name, dtype, int ndim):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of {np.dtype(dtype).name}, got {type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype).name}, got {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (use numpy.ascontiguousarray)")
    return a


cdef inline float *_p2(float[:, ::1] v) noexcept nogil:
    return NULL if v.shape[0] == 0 or v.shape[1] == 0 else &v[0, 0]


cdef inline float *_p1(float[::1] v) noexcept nogil:
    return NULL if v.shape[0] == 0 else &v[0]


cdef fnn_act_desc _make_desc(int code, alpha, beta, lower, upper, Py_ssize_t n_slope):
    cdef fnn_act_desc desc
    defaults = ACT_DEFAULTS.get(_ACT_NAMES[code], {})
    desc.kind = code
    desc.alpha = float(defaults.get("alpha", 0.0) if alpha is None else alpha)
    desc.beta = float(defaults.get("beta", 0.0) if beta is None else beta)
    desc.lower = float(defaults.get("lower", 0.0) if lower is None else lower)
    desc.upper = float(defaults.get("upper", 0.0) if upper is None else upper)
    desc.n_slope = n_slope
    if code == FNN_ACT_SOFTPLUS and not desc.alpha > 0:
        raise ValueError(f"softplus: beta (the descriptor's alpha) must be > 0, got {desc.alpha}")
    if code == FNN_ACT_RRELU and not desc.lower <= desc.upper:
        raise ValueError(f"rrelu: lower ({desc.lower}) must be <= upper ({desc.upper})")
    return desc


def _check_slope(int code, slope, Py_ssize_t d):
    if code != FNN_ACT_PRELU:
        return None
    if slope is None:
        raise ValueError("prelu: slope is required (float32 array of length 1 or D)")
    _check_array(slope, "slope", np.float32, 1)
    if slope.shape[0] != 1 and slope.shape[0] != d:
        raise ValueError(f"prelu: slope must have length 1 or D={d}, got shape {slope.shape}")
    return slope


def act_forward(kind, x, *, alpha=None, beta=None, lower=None, upper=None, slope=None, seed=0, step=0,
                training=False, int n_threads=1, bint naive=False):
    """y (N,D) = act(x (N,D)); returns (y, rand_slope or None).

    Descriptor fields: leaky_relu alpha = negative_slope; elu alpha; softplus alpha = beta, beta = threshold;
    rrelu lower, upper (None takes the defaults in ACT_DEFAULTS).  prelu: slope float32 (1,) or (D,).
    rrelu in training draws slope r = lower + (upper - lower) * U(seed, step, flat index) per element and
    returns those slopes as rand_slope (N,D) for act_backward; in evaluation it uses (lower + upper) / 2."""
    cdef int code = act_kind(kind)
    _check_array(x, "x", np.float32, 2)
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1]
    slope = _check_slope(code, slope, d)
    cdef fnn_act_desc desc = _make_desc(code, alpha, beta, lower, upper, slope.shape[0] if slope is not None else 0)
    cdef bint train = bool(training)
    y = np.empty((n, d), dtype=np.float32)
    rs = np.empty((n, d), dtype=np.float32) if (code == FNN_ACT_RRELU and train) else None
    cdef float[:, ::1] xv = x, yv = y, rv
    cdef float[::1] sv
    cdef float *rp = NULL
    cdef float *sp = NULL
    if rs is not None:
        rv = rs
        rp = _p2(rv)
    if slope is not None:
        sv = slope
        sp = _p1(sv)
    cdef uint64_t useed = <uint64_t>int(seed), ustep = <uint64_t>int(step)
    cdef int st
    with nogil:
        if naive:
            st = fnn_act_forward_naive(_p2(yv), rp, _p2(xv), &desc, sp, useed, ustep, train, n, d)
        else:
            st = fnn_act_forward(_p2(yv), rp, _p2(xv), &desc, sp, useed, ustep, train, n, d, n_threads)
    check_status(st, f"act_forward({_ACT_NAMES[code]})")
    return y, rs


def act_backward(kind, x, y, dy, *, alpha=None, beta=None, lower=None, upper=None, slope=None,
                 rand_slope=None, training=False, int n_threads=1, bint naive=False):
    """dx (N,D) = dy (N,D) * act'(x); returns (dx, dslope or None).

    x is the forward input, y the forward output (required for softmax; may be None otherwise).
    prelu: dslope (n_slope,) is the slope gradient, summed over rows in a fixed order.
    rrelu in training needs the rand_slope that act_forward returned."""
    cdef int code = act_kind(kind)
    _check_array(x, "x", np.float32, 2)
    _check_array(dy, "dy", np.float32, 2)
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1]
    if dy.shape != x.shape:
        raise ValueError(f"dy must have the shape of x {x.shape}, got {dy.shape}")
    if y is None:
        if code == FNN_ACT_SOFTMAX:
            raise ValueError("softmax backward needs y, the forward output")
        y = x
    else:
        _check_array(y, "y", np.float32, 2)
        if y.shape != x.shape:
            raise ValueError(f"y must have the shape of x {x.shape}, got {y.shape}")
    cdef bint train = bool(training)
    if code == FNN_ACT_RRELU and train:
        if rand_slope is None:
            raise ValueError("rrelu backward in training needs rand_slope (returned by act_forward)")
        _check_array(rand_slope, "rand_slope", np.float32, 2)
        if rand_slope.shape != x.shape:
            raise ValueError(f"rand_slope must have the shape of x {x.shape}, got {rand_slope.shape}")
    else:
        rand_slope = None
    slope = _check_slope(code, slope, d)
    cdef fnn_act_desc desc = _make_desc(code, alpha, beta, lower, upper, slope.shape[0] if slope is not None else 0)
    dx = np.empty((n, d), dtype=np.float32)
    dslope = np.zeros(slope.shape[0], dtype=np.float32) if slope is not None else None
    cdef float[:, ::1] xv = x, yv = y, dyv = dy, dxv = dx, rv
    cdef float[::1] sv, dsv
    cdef float *rp = NULL
    cdef float *sp = NULL
    cdef float *dsp = NULL
    if rand_slope is not None:
        rv = rand_slope
        rp = _p2(rv)
    if slope is not None:
        sv = slope
        sp = _p1(sv)
        dsv = dslope
        dsp = _p1(dsv)
    cdef int st
    with nogil:
        if naive:
            st = fnn_act_backward_naive(_p2(dxv), dsp, _p2(dyv), _p2(xv), _p2(yv), &desc, sp, rp, train, n, d)
        else:
            st = fnn_act_backward(_p2(dxv), dsp, _p2(dyv), _p2(xv), _p2(yv), &desc, sp, rp, train, n, d, n_threads)
    check_status(st, f"act_backward({_ACT_NAMES[code]})")
    return dx, dslope


def loss_forward_backward(kind, pred, target=None, labels=None, *, delta=1.0, grad_scale=1.0,
                          int n_threads=1, bint naive=False, bint want_grad=True):
    """Loss value (mean reduction, as PyTorch's reduction="mean") and its gradient w.r.t. pred (N,D).

    mse, mae, huber (delta), bce_logits: target float32 (N,D); the mean is over N*D elements.
    cross_entropy (logits): labels int32 (N,) in [0, D) or target float32 (N,D) probability rows; the mean
    is over N rows.  The gradient is multiplied by grad_scale.  Returns (loss: float, grad or None)."""
    cdef int code = loss_kind(kind)
    _check_array(pred, "pred", np.float32, 2)
    cdef Py_ssize_t n = pred.shape[0], d = pred.shape[1]
    if n == 0 or d == 0:
        raise ValueError(f"pred must be non-empty, got shape {pred.shape}")
    if labels is not None:
        if code != FNN_LOSS_CE_LOGITS:
            raise ValueError(f"labels are only for cross_entropy; {_LOSS_NAMES[code]} takes target (N,D)")
        if target is not None:
            raise ValueError("cross_entropy: give either labels or target, not both")
        _check_array(labels, "labels", np.int32, 1)
        if labels.shape[0] != n:
            raise ValueError(f"labels must have length N={n} (rows of pred {pred.shape}), got shape {labels.shape}")
        bad = np.flatnonzero((labels < 0) | (labels >= d))
        if bad.size:
            raise ValueError(f"labels: value {int(labels[bad[0]])} at index {int(bad[0])} is out of range "
                             f"[0, {d}) for pred of shape {pred.shape}")
    else:
        if target is None:
            raise ValueError(f"{_LOSS_NAMES[code]} needs target (N,D)"
                             + (" or labels (N,)" if code == FNN_LOSS_CE_LOGITS else ""))
        _check_array(target, "target", np.float32, 2)
        if target.shape != pred.shape:
            raise ValueError(f"target must have the shape of pred {pred.shape}, got {target.shape}")
    if code == FNN_LOSS_HUBER and not float(delta) > 0:
        raise ValueError(f"huber: delta must be > 0, got {delta}")
    grad = np.empty((n, d), dtype=np.float32) if want_grad else None
    cdef float[:, ::1] pv = pred, tv, gv
    cdef int32_t[::1] lv
    cdef float *tp = NULL
    cdef float *gp = NULL
    cdef int32_t *lp = NULL
    if target is not None:
        tv = target
        tp = _p2(tv)
    if labels is not None:
        lv = labels
        lp = &lv[0]
    if grad is not None:
        gv = grad
        gp = _p2(gv)
    cdef float fdelta = float(delta), fscale = float(grad_scale)
    cdef double value = 0.0
    cdef int st
    with nogil:
        if naive:
            st = fnn_loss_forward_backward_naive(gp, &value, _p2(pv), tp, lp, code, fdelta, fscale, n, d)
        else:
            st = fnn_loss_forward_backward(gp, &value, _p2(pv), tp, lp, code, fdelta, fscale, n, d, n_threads)
    check_status(st, f"loss({_LOSS_NAMES[code]})")
    return value, grad
