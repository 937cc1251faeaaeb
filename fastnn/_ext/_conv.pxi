# Convolution bridge: geometry checks with messages that name the problem and the shapes, the workspace, and
# the GIL released around src_c/fnn_conv.c (and its _naive twin).  Arrays are float32, C-contiguous, NCHW.
from fnn_conv cimport *

import numpy as np


def _conv_pair(v, str name, int lowest):
    """An int or a pair of ints, each >= lowest, as a tuple (h, w)."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        p = (int(v), int(v))
    elif isinstance(v, (tuple, list)) and len(v) == 2 and all(
            isinstance(e, (int, np.integer)) and not isinstance(e, bool) for e in v):
        p = (int(v[0]), int(v[1]))
    else:
        raise TypeError(f"conv2d: {name} must be an int or a pair of ints, got {v!r}")
    if p[0] < lowest or p[1] < lowest:
        what = "positive" if lowest > 0 else "non-negative"
        raise ValueError(f"conv2d: {name} must be {what}, got {v!r}")
    return p


def _conv_padding(padding, kernel, dilation, stride):
    """Padding (ph, pw) from an int, a pair, "valid" (0) or "same" (stride 1; the total padding
    dilation*(kernel-1) must be even)."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0)
        if mode != "same":
            raise ValueError(f"conv2d: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
        if stride != (1, 1):
            raise ValueError(f"conv2d: padding='same' needs stride 1, got stride {stride}")
        pad = []
        for k, d, axis in zip(kernel, dilation, ("height", "width")):
            total = d * (k - 1)
            if total % 2:
                raise ValueError(
                    f"conv2d: padding='same' with kernel {axis} {k} and dilation {d} needs an asymmetric padding "
                    f"(total {total}); fastnn pads symmetrically: use an odd kernel or give the padding explicitly")
            pad.append(total // 2)
        return tuple(pad)
    return _conv_pair(padding, "padding", 0)


def _conv_shape_of(x_shape, w_shape, stride, padding, dilation, groups):
    """Validate a geometry (shapes as tuples) and return the dict of fnn_conv_shape fields (OH, OW computed)."""
    if len(x_shape) != 4:
        raise ValueError(f"conv2d: x must be 4-D (N, C, H, W), got shape {tuple(x_shape)}")
    if len(w_shape) != 4:
        raise ValueError(f"conv2d: weight must be 4-D (OC, C/groups, KH, KW), got shape {tuple(w_shape)}")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    groups = int(groups)
    n, c, h, w = (int(v) for v in x_shape)
    oc, cg, kh, kw = (int(v) for v in w_shape)
    if min(n, c, h, w) < 1:
        raise ValueError(f"conv2d: x must be non-empty, got shape {tuple(x_shape)}")
    if min(oc, cg, kh, kw) < 1:
        raise ValueError(f"conv2d: weight must be non-empty, got shape {tuple(w_shape)}")
    if c % groups:
        raise ValueError(f"conv2d: groups={groups} does not divide the input channels C={c} (x {tuple(x_shape)})")
    if oc % groups:
        raise ValueError(f"conv2d: groups={groups} does not divide the output channels OC={oc} "
                         f"(weight {tuple(w_shape)})")
    if cg * groups != c:
        raise ValueError(f"conv2d: channel mismatch: x has C={c} channels but weight {tuple(w_shape)} expects "
                         f"C/groups={cg} x groups={groups} = {cg * groups}")
    st = _conv_pair(stride, "stride", 1)
    dl = _conv_pair(dilation, "dilation", 1)
    pd = _conv_padding(padding, (kh, kw), dl, st)
    ext_h, ext_w = dl[0] * (kh - 1) + 1, dl[1] * (kw - 1) + 1
    if ext_h > h + 2 * pd[0] or ext_w > w + 2 * pd[1]:
        raise ValueError(f"conv2d: kernel ({kh}, {kw}) with dilation {dl} spans ({ext_h}, {ext_w}), larger than "
                         f"the padded input ({h + 2 * pd[0]}, {w + 2 * pd[1]}) (x {tuple(x_shape)}, padding {pd})")
    return dict(N=n, C=c, H=h, W=w, OC=oc, KH=kh, KW=kw, SH=st[0], SW=st[1], PH=pd[0], PW=pd[1], DH=dl[0],
                DW=dl[1], G=groups, OH=(h + 2 * pd[0] - ext_h) // st[0] + 1, OW=(w + 2 * pd[1] - ext_w) // st[1] + 1)


cdef fnn_conv_shape _conv_struct(dict g) except *:
    cdef fnn_conv_shape s
    s.N, s.C, s.H, s.W = g["N"], g["C"], g["H"], g["W"]
    s.OC, s.KH, s.KW = g["OC"], g["KH"], g["KW"]
    s.SH, s.SW, s.PH, s.PW, s.DH, s.DW, s.G = g["SH"], g["SW"], g["PH"], g["PW"], g["DH"], g["DW"], g["G"]
    if fnn_conv_shape_init(&s) != FNN_OK or s.OH != g["OH"] or s.OW != g["OW"]:
        raise ValueError(f"conv2d: invalid geometry {g}")
    return s


def conv2d_output_shape(x_shape, w_shape, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """(N, OC, OH, OW) for x (N,C,H,W) and weight (OC,C/groups,KH,KW); raises ValueError on a bad geometry.

    OH = (H + 2 PH - DH (KH - 1) - 1) // SH + 1 (same for W).  padding: int, (ph, pw), "valid" or "same"."""
    g = _conv_shape_of(tuple(x_shape), tuple(w_shape), stride, padding, dilation, groups)
    return (g["N"], g["OC"], g["OH"], g["OW"])


def conv2d_padding(w_shape, padding, stride=(1, 1), dilation=(1, 1)):
    """The (ph, pw) that a padding argument (int, pair, "valid", "same") stands for with this kernel."""
    return _conv_padding(padding, (int(w_shape[2]), int(w_shape[3])), _conv_pair(dilation, "dilation", 1),
                         _conv_pair(stride, "stride", 1))


cdef inline float *_conv_ptr(a) except? NULL:
    """The data pointer of a C-contiguous float32 array (read-only arrays allowed: inputs are never written)."""
    cdef const float[::1] v = a.reshape(-1)
    return <float *>&v[0] if v.shape[0] else NULL


def _conv_check_bias(bias, Py_ssize_t oc):
    if bias is None:
        return None
    _check_array(bias, "bias", np.float32, 1)
    if bias.shape[0] != oc:
        raise ValueError(f"conv2d: bias must have shape ({oc},) (one per output channel), got {bias.shape}")
    return bias


def conv2d_forward(x, w, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, *,
                   int n_threads=1, bint naive=False, bint relu=False):
    """out (N,OC,OH,OW) = conv2d(x (N,C,H,W), w (OC,C/groups,KH,KW)) + bias (OC,) or None, float32 NCHW;
    then max(out, 0) when relu (fused into the GEMM's epilogue as in the training engine).

    As torch.nn.functional.conv2d (cross-correlation, zero padding on each side).  padding: int, pair,
    "valid" or "same" (stride 1; PyTorch's rule, total padding dilation*(kernel-1) split
    evenly on both sides: an odd total, i.e. an even kernel with odd dilation, is rejected).
    naive: the double-precision direct loops (no relu)."""
    _check_array(x, "x", np.float32, 4)
    if naive and relu:
        raise ValueError("conv2d_forward: relu is not part of the naive kernel")
    _check_array(w, "weight", np.float32, 4)
    g = _conv_shape_of(x.shape, w.shape, stride, padding, dilation, groups)
    bias = _conv_check_bias(bias, g["OC"])
    cdef fnn_conv_shape s = _conv_struct(g)
    out = np.empty((s.N, s.OC, s.OH, s.OW), dtype=np.float32)
    ws = None if naive else np.empty(max(1, fnn_conv_workspace_floats(&s, n_threads)), dtype=np.float32)
    cdef float *po = _conv_ptr(out)
    cdef float *px = _conv_ptr(x)
    cdef float *pw = _conv_ptr(w)
    cdef float *pb = _conv_ptr(bias) if bias is not None else NULL
    cdef float *pws = _conv_ptr(ws) if ws is not None else NULL
    cdef int st
    with nogil:
        if naive:
            st = fnn_conv2d_forward_naive(po, px, pw, pb, &s)
        else:
            st = fnn_conv2d_forward_ep(po, px, pw, pb, &s, relu, pws, n_threads)
    check_status(st, "conv2d_forward")
    return out


def conv2d_backward(dout, x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, *, bint need_dx=True,
                    bint need_db=True, int n_threads=1, bint naive=False):
    """Gradients of conv2d_forward from dout (N,OC,OH,OW): (dx (N,C,H,W) or None, dw (OC,C/groups,KH,KW),
    db (OC,) or None).  Sums over the batch are identical for any n_threads."""
    _check_array(dout, "dout", np.float32, 4)
    _check_array(x, "x", np.float32, 4)
    _check_array(w, "weight", np.float32, 4)
    g = _conv_shape_of(x.shape, w.shape, stride, padding, dilation, groups)
    want = (g["N"], g["OC"], g["OH"], g["OW"])
    if tuple(dout.shape) != want:
        raise ValueError(f"conv2d_backward: dout must have the output shape {want} of x {x.shape} and weight "
                         f"{w.shape}, got {dout.shape}")
    cdef fnn_conv_shape s = _conv_struct(g)
    dx = np.empty(x.shape, dtype=np.float32) if need_dx else None
    dw = np.empty(w.shape, dtype=np.float32)
    db = np.empty(s.OC, dtype=np.float32) if need_db else None
    ws = None if naive else np.empty(max(1, fnn_conv_workspace_floats(&s, n_threads)), dtype=np.float32)
    cdef float *pdx = _conv_ptr(dx) if dx is not None else NULL
    cdef float *pdw = _conv_ptr(dw)
    cdef float *pdb = _conv_ptr(db) if db is not None else NULL
    cdef float *pd = _conv_ptr(dout)
    cdef float *px = _conv_ptr(x)
    cdef float *pw = _conv_ptr(w)
    cdef float *pws = _conv_ptr(ws) if ws is not None else NULL
    cdef int st
    with nogil:
        if naive:
            st = fnn_conv2d_backward_naive(pdx, pdw, pdb, pd, px, pw, &s)
        else:
            st = fnn_conv2d_backward(pdx, pdw, pdb, pd, px, pw, &s, pws, n_threads)
    check_status(st, "conv2d_backward")
    return dx, dw, db


def conv_wino_mode(mode=None):
    """The Winograd route (3x3 and 5x5 kernels, stride 1, one group; AVX2 or AVX-512 CPUs): -1 automatic
    (default), 0 never, 1 whenever the geometry allows.  Returns the previous mode; for tests and benchmarks."""
    global fnn_conv_wino_mode
    cdef int old = fnn_conv_wino_mode
    if mode is not None:
        if mode not in (-1, 0, 1):
            raise ValueError(f"conv_wino_mode: mode must be -1, 0 or 1, got {mode!r}")
        fnn_conv_wino_mode = mode
    return old


def conv_direct_mode(mode=None):
    """The direct-convolution route (AVX-512 or AVX2, stride 1, few channels): -1 automatic (default), 0 never (im2col +
    GEMM everywhere), 1 whenever the geometry allows.  Returns the previous mode; for tests and benchmarks."""
    global fnn_conv_direct_mode
    cdef int old = fnn_conv_direct_mode
    if mode is not None:
        if mode not in (-1, 0, 1):
            raise ValueError(f"conv_direct_mode: mode must be -1, 0 or 1, got {mode!r}")
        fnn_conv_direct_mode = mode
    return old


def conv_im2col(x, kernel, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """col (C*KH*KW, OH*OW) = im2col of one sample x (C,H,W), float32, kernel (KH, KW): the column matrix that
    the convolution's GEMM reads, on the active ISA's path.  For tests and benchmarks."""
    _check_array(x, "x", np.float32, 3)
    kh, kw = _conv_pair(kernel, "kernel", 1)
    g = _conv_shape_of((1,) + tuple(x.shape), (1, x.shape[0], kh, kw), stride, padding, dilation, 1)
    cdef fnn_conv_shape s = _conv_struct(g)
    buf = np.empty(s.C * s.KH * s.KW * s.OH * s.OW + FNN_CONV_COL_SLACK, dtype=np.float32)
    cdef float *pc = _conv_ptr(buf)
    cdef float *px = _conv_ptr(x)
    with nogil:
        fnn_conv_im2col(pc, px, &s)
    return buf[:s.C * s.KH * s.KW * s.OH * s.OW].reshape(s.C * s.KH * s.KW, s.OH * s.OW)


def conv_col2im(col, x_shape, kernel, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """dx (C,H,W) = col2im of col (C*KH*KW, OH*OW) for one sample of shape x_shape (C,H,W), float32: every
    column value added into the pixel its tap reads, on the active ISA's path.  For tests and benchmarks."""
    _check_array(col, "col", np.float32, 2)
    if len(x_shape) != 3:
        raise ValueError(f"conv_col2im: x_shape must be (C, H, W), got {tuple(x_shape)}")
    kh, kw = _conv_pair(kernel, "kernel", 1)
    g = _conv_shape_of((1,) + tuple(x_shape), (1, int(x_shape[0]), kh, kw), stride, padding, dilation, 1)
    cdef fnn_conv_shape s = _conv_struct(g)
    want = (s.C * s.KH * s.KW, s.OH * s.OW)
    if tuple(col.shape) != want:
        raise ValueError(f"conv_col2im: col must have shape {want}, got {tuple(col.shape)}")
    dx = np.empty(tuple(int(v) for v in x_shape), dtype=np.float32)
    cdef float *pd = _conv_ptr(dx)
    cdef float *pc = _conv_ptr(col)
    with nogil:
        fnn_conv_col2im(pd, pc, &s)
    return dx
