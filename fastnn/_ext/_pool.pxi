# Pooling and batch-norm bridge: geometry and argument checks with messages that name the shapes, GIL released
# around the C kernels (src_c/fnn_pool.c, src_c/fnn_bn.c and their _naive twins), C statuses turned into
# exceptions.  Arrays must already be float32 (int32 for argmax) and C-contiguous: the Python layer converts
# on entry.  NCHW throughout.
from libc.stdint cimport int32_t
from fnn_pool cimport *

import numpy as np

POOL_KINDS = {"max": FNN_POOL_MAX, "avg": FNN_POOL_AVG, "global_avg": FNN_POOL_GLOBAL_AVG}


cdef inline float *_fp(float[::1] v) noexcept nogil:
    return NULL if v.shape[0] == 0 else &v[0]


cdef inline int32_t *_ip(int32_t[::1] v) noexcept nogil:
    return NULL if v.shape[0] == 0 else &v[0]


def _pair(v, str name):
    """An int or a pair of ints -> (int, int)."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v), int(v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(
            isinstance(e, (int, np.integer)) and not isinstance(e, bool) for e in v):
        return int(v[0]), int(v[1])
    raise TypeError(f"{name} must be an int or a pair of ints, got {v!r}")


def _pool_code(kind):
    if not isinstance(kind, str) or kind.lower() not in POOL_KINDS:
        raise ValueError(f"unknown pooling kind {kind!r}; expected one of {', '.join(POOL_KINDS)}")
    return POOL_KINDS[kind.lower()]


def _shape4(x_shape, str name):
    try:
        shp = tuple(int(d) for d in x_shape)
    except TypeError:
        raise TypeError(f"{name} must be a shape tuple (N, C, H, W), got {x_shape!r}") from None
    if len(shp) != 4:
        raise ValueError(f"{name} must be 4-D (N, C, H, W), got shape {shp}")
    if min(shp[:2]) < 0 or min(shp[2:]) < 1:
        raise ValueError(f"{name} (N, C, H, W) = {shp} must have N, C >= 0 and H, W >= 1")
    return shp


cdef int _pool_geometry(fnn_pool_shape *s, x_shape, kind, kernel, stride, padding, count_include_pad) except -1:
    """Validate and fill s (OH, OW computed by fnn_pool_shape_init)."""
    cdef int code = _pool_code(kind)
    n, c, h, w = _shape4(x_shape, "input")
    if h * w >= 2 ** 31:
        raise ValueError(f"input plane H*W = {h}*{w} is too large for int32 argmax indices (input shape {x_shape})")
    s.kind = code
    s.count_include_pad = 1 if count_include_pad else 0
    s.N, s.C, s.H, s.W = n, c, h, w
    s.KH = s.KW = s.SH = s.SW = s.PH = s.PW = 0
    if code != FNN_POOL_GLOBAL_AVG:
        if kernel is None:
            raise ValueError(f"{kind} pooling needs kernel (an int or a pair)")
        kh, kw = _pair(kernel, "kernel")
        sh, sw = (kh, kw) if stride is None else _pair(stride, "stride")
        ph, pw = _pair(padding, "padding")
        if kh < 1 or kw < 1:
            raise ValueError(f"kernel must be positive, got {(kh, kw)}")
        if sh < 1 or sw < 1:
            raise ValueError(f"stride must be positive, got {(sh, sw)}")
        if ph < 0 or pw < 0:
            raise ValueError(f"padding must be non-negative, got {(ph, pw)}")
        if ph > kh // 2 or pw > kw // 2:
            raise ValueError(f"padding {(ph, pw)} must be at most half the kernel {(kh, kw)} "
                             f"(padding <= kernel // 2, as PyTorch)")
        if kh > h + 2 * ph or kw > w + 2 * pw:
            raise ValueError(f"kernel {(kh, kw)} is larger than the padded input {(h + 2 * ph, w + 2 * pw)} "
                             f"(input (N, C, H, W) = {(n, c, h, w)}, padding {(ph, pw)})")
        s.KH, s.KW, s.SH, s.SW, s.PH, s.PW = kh, kw, sh, sw, ph, pw
    check_status(fnn_pool_shape_init(s), f"{kind} pooling geometry for input {(n, c, h, w)}")
    return 0


def pool2d_output_shape(x_shape, kind, kernel=None, stride=None, padding=0):
    """(N, C, OH, OW) of pooling x (N,C,H,W): OH = (H + 2 padding - kernel) // stride + 1 (floor mode);
    global_avg: (N, C, 1, 1).  Raises ValueError for a bad geometry."""
    cdef fnn_pool_shape s
    _pool_geometry(&s, x_shape, kind, kernel, stride, padding, True)
    return (s.N, s.C, s.OH, s.OW)


def pool2d_forward(x, kind, kernel=None, stride=None, padding=0, count_include_pad=True, int n_threads=1,
                   bint naive=False):
    """out (N,C,OH,OW) = pool(x (N,C,H,W)); returns (out, argmax or None).

    kind "max" | "avg" | "global_avg" (= AdaptiveAvgPool2d(1); kernel, stride, padding ignored).
    kernel, stride (default: kernel), padding: int or (h, w) pair; zero padding on each side, at most
    kernel // 2; floor mode.  avg: count_include_pad True (PyTorch's default) divides by kernel area, False by
    the in-bounds count.  max: argmax int32 (N,C,OH,OW) holds h*W+w of the chosen input in its plane (first
    maximum in scan order; padding never wins; NaN propagates)."""
    cdef fnn_pool_shape s
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a numpy array of float32, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"x must be 4-D (N, C, H, W), got shape {x.shape}")
    _check_array(x, "x", np.float32, 4)
    _pool_geometry(&s, x.shape, kind, kernel, stride, padding, count_include_pad)
    out = np.empty((s.N, s.C, s.OH, s.OW), dtype=np.float32)
    argmax = np.empty((s.N, s.C, s.OH, s.OW), dtype=np.int32) if s.kind == FNN_POOL_MAX else None
    cdef float[::1] xv = x.reshape(-1), ov = out.reshape(-1)
    cdef int32_t[::1] av
    cdef int32_t *ap = NULL
    if argmax is not None:
        av = argmax.reshape(-1)
        ap = _ip(av)
    cdef int st
    with nogil:
        if naive:
            st = fnn_pool2d_forward_naive(_fp(ov), ap, _fp(xv), &s)
        else:
            st = fnn_pool2d_forward(_fp(ov), ap, _fp(xv), &s, n_threads)
    check_status(st, f"pool2d_forward({kind})")
    return out, argmax


def pool2d_backward(dout, argmax, x_shape, kind, kernel=None, stride=None, padding=0, count_include_pad=True,
                    int n_threads=1, bint naive=False):
    """dx (N,C,H,W) = dL/dx of pool2d_forward from dout (N,C,OH,OW); max needs the forward's argmax
    (int32 (N,C,OH,OW)), the others ignore it (may be None).  Same geometry arguments as the forward."""
    cdef fnn_pool_shape s
    _pool_geometry(&s, x_shape, kind, kernel, stride, padding, count_include_pad)
    oshape = (s.N, s.C, s.OH, s.OW)
    _check_array(dout, "dout", np.float32, 4)
    if dout.shape != oshape:
        raise ValueError(f"dout must have the pooled shape {oshape} of input {tuple(x_shape)}, got {dout.shape}")
    cdef int32_t[::1] av
    cdef int32_t *ap = NULL
    if s.kind == FNN_POOL_MAX:
        if argmax is None:
            raise ValueError("max pooling backward needs argmax (returned by pool2d_forward)")
        _check_array(argmax, "argmax", np.int32, 4)
        if argmax.shape != oshape:
            raise ValueError(f"argmax must have the pooled shape {oshape}, got {argmax.shape}")
        av = argmax.reshape(-1)
        ap = _ip(av)
    dx = np.empty((s.N, s.C, s.H, s.W), dtype=np.float32)
    cdef float[::1] gv = dout.reshape(-1), dv = dx.reshape(-1)
    cdef int st
    with nogil:
        if naive:
            st = fnn_pool2d_backward_naive(_fp(dv), _fp(gv), ap, &s)
        else:
            st = fnn_pool2d_backward(_fp(dv), _fp(gv), ap, &s, n_threads)
    if st == FNN_ERR_ARG and s.kind == FNN_POOL_MAX:
        raise ValueError(f"pool2d_backward(max): argmax holds an index outside [0, H*W) = [0, {s.H * s.W})")
    check_status(st, f"pool2d_backward({kind})")
    return dx


def _bn_dims(x, str name):
    """(N, C, S) of x (N,C), (N,C,L) or (N,C,H,W)."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of float32, got {type(x).__name__}")
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"{name} must be (N, C), (N, C, L) or (N, C, H, W), got shape {x.shape}")
    _check_array(x, name, np.float32, x.ndim)
    s = 1
    for d in x.shape[2:]:
        s *= d
    if s < 1:
        raise ValueError(f"{name} must have non-empty spatial dimensions, got shape {x.shape}")
    return x.shape[0], x.shape[1], s


def _vec(v, str name, Py_ssize_t c, x_shape, bint required):
    """v checked as a float32 (C,) vector (or None when not required)."""
    if v is None:
        if required:
            raise ValueError(f"{name} is required (float32 array of shape ({c},))")
        return None
    _check_array(v, name, np.float32, 1)
    if v.shape[0] != c:
        raise ValueError(f"{name} must have shape ({c},) to match the {c} channels of x {tuple(x_shape)}, "
                         f"got {v.shape}")
    return v


def _check_eps_momentum(eps, momentum):
    if not (np.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be finite and >= 0, got {eps}")
    if momentum is not None and not np.isfinite(momentum):
        raise ValueError(f"momentum must be finite, got {momentum}")


def bn_forward_train(x, gamma=None, beta=None, running_mean=None, running_var=None, momentum=0.1, eps=1e-5,
                     int n_threads=1, bint naive=False, bint relu=False):
    """Batch norm in training: y = gamma (x - mean) / sqrt(var + eps) + beta with the batch mean and biased
    variance per channel of x (N,C), (N,C,L) or (N,C,H,W).  Returns (y, mean (C,), invstd (C,)), saved for
    bn_backward.  running_mean/running_var (C,) (or None) are updated in place as PyTorch's:
    r = (1 - momentum) r + momentum b, with the unbiased batch variance for running_var.  gamma/beta None:
    affine=False.  Needs more than one value per channel (N * H * W >= 2).  relu: y = max(y, 0) in the same
    pass (a following ReLU fused, as in the training engine; not with naive)."""
    if naive and relu:
        raise ValueError("bn_forward_train: relu is not part of the naive kernel")
    n, c, s_ = _bn_dims(x, "x")
    cdef Py_ssize_t N = n, C = c, S = s_
    if N * S < 2:
        raise ValueError(f"batch norm in training needs more than 1 value per channel, got input shape {x.shape}")
    _check_eps_momentum(eps, momentum)
    cdef float[::1] gk, bk, mk, vk
    gamma = _vec(gamma, "gamma", C, x.shape, False)
    cdef float *gp = NULL
    if gamma is not None:
        gk = gamma
        gp = _fp(gk)
    beta = _vec(beta, "beta", C, x.shape, False)
    cdef float *bp = NULL
    if beta is not None:
        bk = beta
        bp = _fp(bk)
    running_mean = _vec(running_mean, "running_mean", C, x.shape, False)
    cdef float *rmp = NULL
    if running_mean is not None:
        mk = running_mean
        rmp = _fp(mk)
    running_var = _vec(running_var, "running_var", C, x.shape, False)
    cdef float *rvp = NULL
    if running_var is not None:
        vk = running_var
        rvp = _fp(vk)
    y = np.empty(x.shape, dtype=np.float32)
    mean = np.empty(C, dtype=np.float32)
    invstd = np.empty(C, dtype=np.float32)
    cdef float[::1] xv = x.reshape(-1), yv = y.reshape(-1), mv = mean, iv = invstd
    cdef float fm = float(momentum), fe = float(eps)
    cdef int st
    with nogil:
        if naive:
            st = fnn_bn_forward_train_naive(_fp(yv), _fp(mv), _fp(iv), rmp, rvp, _fp(xv), gp, bp, fm, fe, N, C, S)
        else:
            st = fnn_bn_forward_train_ep(_fp(yv), _fp(mv), _fp(iv), rmp, rvp, _fp(xv), gp, bp, fm, fe, N, C, S,
                                         relu, n_threads)
    check_status(st, "bn_forward_train")
    return y, mean, invstd


def bn_forward_eval(x, gamma=None, beta=None, running_mean=None, running_var=None, eps=1e-5, int n_threads=1,
                    bint relu=False):
    """Batch norm in evaluation: y = gamma (x - running_mean) / sqrt(running_var + eps) + beta per channel of
    x (N,C), (N,C,L) or (N,C,H,W); running_mean/running_var (C,) required, gamma/beta None: affine=False.
    relu: y = max(y, 0) in the same pass."""
    n, c, s_ = _bn_dims(x, "x")
    cdef Py_ssize_t N = n, C = c, S = s_
    _check_eps_momentum(eps, None)
    cdef float[::1] gk, bk, mk, vk
    gamma = _vec(gamma, "gamma", C, x.shape, False)
    cdef float *gp = NULL
    if gamma is not None:
        gk = gamma
        gp = _fp(gk)
    beta = _vec(beta, "beta", C, x.shape, False)
    cdef float *bp = NULL
    if beta is not None:
        bk = beta
        bp = _fp(bk)
    running_mean = _vec(running_mean, "running_mean", C, x.shape, True)
    cdef float *rmp = NULL
    if running_mean is not None:
        mk = running_mean
        rmp = _fp(mk)
    running_var = _vec(running_var, "running_var", C, x.shape, True)
    cdef float *rvp = NULL
    if running_var is not None:
        vk = running_var
        rvp = _fp(vk)
    y = np.empty(x.shape, dtype=np.float32)
    cdef float[::1] xv = x.reshape(-1), yv = y.reshape(-1)
    cdef float fe = float(eps)
    cdef int st
    with nogil:
        st = fnn_bn_forward_eval_ep(_fp(yv), _fp(xv), gp, bp, rmp, rvp, fe, N, C, S, relu, n_threads)
    check_status(st, "bn_forward_eval")
    return y


def bn_backward(dy, x, mean, invstd, gamma=None, int n_threads=1, bint naive=False, relu_y=None):
    """Gradients of bn_forward_train: returns (dx like x, dgamma (C,), dbeta (C,)); dgamma and dbeta are None
    when gamma is None (affine=False).  mean/invstd are those bn_forward_train returned.  relu_y (like x, or
    None): the output of a ReLU that followed (bn_forward_train's relu=True output): dy is masked by
    relu_y > 0 in the same call, the ReLU's backward fused, bitwise bn_backward(np.where(relu_y > 0, dy, 0), ...)
    (not with naive)."""
    if naive and relu_y is not None:
        raise ValueError("bn_backward: relu_y is not part of the naive kernel")
    n, c, s_ = _bn_dims(x, "x")
    cdef Py_ssize_t N = n, C = c, S = s_
    _check_array(dy, "dy", np.float32, x.ndim) if isinstance(dy, np.ndarray) and dy.ndim == x.ndim else None
    if not isinstance(dy, np.ndarray) or dy.shape != x.shape:
        raise ValueError(f"dy must have the shape of x {x.shape}, got "
                         f"{dy.shape if isinstance(dy, np.ndarray) else type(dy).__name__}")
    cdef float[::1] ryv
    cdef const float *ryp = NULL
    if relu_y is not None:
        _check_array(relu_y, "relu_y", np.float32, x.ndim)
        if relu_y.shape != x.shape:
            raise ValueError(f"relu_y must have the shape of x {x.shape}, got {relu_y.shape}")
        ryv = relu_y.reshape(-1)
        ryp = _fp(ryv)
    cdef float[::1] gk, mk, ik
    gamma = _vec(gamma, "gamma", C, x.shape, False)
    cdef float *gp = NULL
    if gamma is not None:
        gk = gamma
        gp = _fp(gk)
    mean = _vec(mean, "mean", C, x.shape, True)
    cdef float *mp = NULL
    if mean is not None:
        mk = mean
        mp = _fp(mk)
    invstd = _vec(invstd, "invstd", C, x.shape, True)
    cdef float *ip = NULL
    if invstd is not None:
        ik = invstd
        ip = _fp(ik)
    dx = np.empty(x.shape, dtype=np.float32)
    dgamma = np.zeros(C, dtype=np.float32) if gamma is not None else None
    dbeta = np.zeros(C, dtype=np.float32) if gamma is not None else None
    cdef float[::1] xv = x.reshape(-1), dyv = dy.reshape(-1), dxv = dx.reshape(-1), dgv, dbv
    cdef float *dgp = NULL
    cdef float *dbp = NULL
    if gamma is not None:
        dgv = dgamma
        dbv = dbeta
        dgp = _fp(dgv)
        dbp = _fp(dbv)
    cdef int st
    with nogil:
        if naive:
            st = fnn_bn_backward_naive(_fp(dxv), dgp, dbp, _fp(dyv), _fp(xv), mp, ip, gp, N, C, S)
        else:
            st = fnn_bn_backward_ep(_fp(dxv), dgp, dbp, _fp(dyv), _fp(xv), mp, ip, gp, ryp, N, C, S, n_threads)
    check_status(st, "bn_backward")
    return dx, dgamma, dbeta
