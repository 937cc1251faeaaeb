"""Conv2d: a numpy float64 direct-loop reference (checked by central finite differences), the C kernels (fast and
naive) against it over strides, paddings, dilations, groups, depthwise, 1x1 and odd sizes, thread-count
determinism, geometry errors, and PyTorch (forward and autograd) when installed."""
import numpy as np
import pytest

import fastnn
from conftest import available_isas
from fastnn._ext import _core


# ---- float64 reference (direct loops over the kernel taps, vectorised over samples/positions) -------------
def _pad(x, ph, pw):
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def ref_forward(x, w, b, stride, padding, dilation, groups):
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n, c, h, wd = x.shape
    oc, cg, kh, kw = w.shape
    ocg = oc // groups
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    xp = _pad(x, ph, pw)
    out = np.zeros((n, oc, oh, ow))
    for o in range(oc):
        g = o // ocg
        for ci in range(cg):
            for i in range(kh):
                for j in range(kw):
                    rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
                    cols = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
                    out[:, o] += w[o, ci, i, j] * xp[:, g * cg + ci, rows, cols]
    if b is not None:
        out += np.asarray(b, np.float64)[None, :, None, None]
    return out


def ref_backward(dout, x, w, stride, padding, dilation, groups):
    """(dx, dw, db) of sum(dout * ref_forward(x, w, b)), float64."""
    dout = np.asarray(dout, np.float64)
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    (sh, sw), (ph, pw), (dh, dw_) = stride, padding, dilation
    n, c, h, wd = x.shape
    oc, cg, kh, kw = w.shape
    ocg = oc // groups
    oh, ow = dout.shape[2:]
    xp = _pad(x, ph, pw)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for o in range(oc):
        g = o // ocg
        for ci in range(cg):
            for i in range(kh):
                for j in range(kw):
                    sl = (slice(None), g * cg + ci, slice(i * dh, i * dh + sh * (oh - 1) + 1, sh),
                          slice(j * dw_, j * dw_ + sw * (ow - 1) + 1, sw))
                    dw[o, ci, i, j] = np.sum(dout[:, o] * xp[sl])
                    dxp[sl] += w[o, ci, i, j] * dout[:, o]
    dx = dxp[:, :, ph: ph + h, pw: pw + wd]
    return dx, dw, dout.sum(axis=(0, 2, 3))


# (N, C, H, W, OC, KH, KW, stride, padding, dilation, groups)
CASES = [
    (3, 3, 7, 9, 4, 3, 5, (1, 1), (0, 0), (1, 1), 1),
    (3, 3, 7, 9, 4, 3, 5, (2, 2), (1, 1), (1, 1), 1),
    (3, 3, 7, 9, 4, 3, 5, (1, 2), (2, 1), (2, 1), 1),
    (2, 4, 8, 7, 6, 3, 3, (2, 1), (1, 2), (2, 2), 2),
    (3, 4, 7, 9, 4, 3, 3, (1, 1), (1, 1), (1, 1), 4),      # depthwise
    (3, 4, 7, 9, 4, 3, 3, (2, 2), (2, 0), (1, 2), 4),      # depthwise, strided, dilated
    (2, 4, 6, 5, 8, 3, 3, (1, 1), (1, 1), (1, 1), 4),      # grouped with channel multiplier 2
    (5, 4, 7, 9, 6, 1, 1, (1, 1), (0, 0), (1, 1), 1),      # 1x1 (GEMM on the input in place)
    (5, 4, 7, 9, 6, 1, 1, (2, 2), (1, 1), (1, 1), 2),      # 1x1 strided, padded, grouped
    (3, 3, 7, 9, 4, 7, 9, (1, 1), (0, 0), (1, 1), 1),      # kernel = input
    (9, 2, 5, 5, 3, 2, 4, (1, 3), (1, 2), (1, 1), 1),      # even kernel, 9 samples (3 backward chunks)
    (1, 1, 1, 1, 1, 1, 1, (1, 1), (0, 0), (1, 1), 1),
    # rows wider than one 16-float vector, with a tail, left and right pads (the SIMD im2col/col2im masks)
    (2, 3, 9, 37, 4, 3, 5, (1, 1), (2, 3), (1, 2), 1),
    (2, 2, 6, 33, 3, 2, 3, (1, 1), (1, 0), (2, 1), 1),
    # padding wider than the input: taps that read no input column at all
    (2, 2, 3, 2, 3, 3, 5, (1, 1), (1, 2), (1, 1), 1),
    # stride 2 along W over rows wider than a vector (the AVX-512 even-lane permutes), and a 1x1 stride-2 one
    (2, 3, 7, 70, 4, 3, 3, (1, 2), (1, 1), (1, 1), 1),
    (3, 5, 9, 41, 6, 1, 1, (2, 2), (0, 0), (1, 1), 1),
    # the AVX2 paths' 8-float vectors: a row of 13 (one vector and a tail of 5) with pads on both sides; stride 2
    # with pads on both sides and dilation; a plane narrower than a vector; a plane past col2im's 64x64 scratch
    (2, 3, 12, 13, 4, 3, 3, (1, 1), (1, 1), (1, 1), 1),
    (2, 3, 10, 21, 4, 3, 3, (2, 2), (2, 1), (1, 2), 1),
    (2, 2, 5, 3, 3, 2, 2, (1, 1), (1, 1), (1, 1), 1),
    (1, 2, 66, 70, 3, 3, 3, (1, 1), (1, 1), (1, 1), 1),
]


def _ids(c):
    n, ch, h, w, oc, kh, kw, s, p, d, g = c
    return f"n{n}c{ch}-{h}x{w}-oc{oc}-k{kh}x{kw}-s{s[0]}{s[1]}-p{p[0]}{p[1]}-d{d[0]}{d[1]}-g{g}"


def make_case(case, seed=0, bias=True):
    n, c, h, w, oc, kh, kw, s, p, d, g = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((oc, c // g, kh, kw)).astype(np.float32)
    b = rng.standard_normal(oc).astype(np.float32) if bias else None
    oh = (h + 2 * p[0] - d[0] * (kh - 1) - 1) // s[0] + 1
    ow = (w + 2 * p[1] - d[1] * (kw - 1) - 1) // s[1] + 1
    dout = rng.standard_normal((n, oc, oh, ow)).astype(np.float32)
    return x, wt, b, dout, (s, p, d, g)


def close(got, want, rtol=2e-5, what=""):
    got = np.asarray(got, np.float64)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    scale = max(np.abs(want).max(initial=0.0), 1e-30)
    err = np.abs(got - want).max(initial=0.0)
    assert err <= rtol * scale, f"{what}: max error {err:.3g} > {rtol} x {scale:.3g}"


# ---- the reference itself ------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", [CASES[2], CASES[3], CASES[5], CASES[8], CASES[10]], ids=_ids)
def test_reference_gradients_vs_finite_differences(case):
    x, w, b, dout, (s, p, d, g) = make_case(case)
    x, w, b, dout = (a.astype(np.float64) for a in (x, w, b, dout))
    dx, dw, db = ref_backward(dout, x, w, s, p, d, g)
    rng = np.random.default_rng(1)

    def loss(xx, ww, bb):
        return float(np.sum(dout * ref_forward(xx, ww, bb, s, p, d, g)))

    eps = 1e-6
    for arr, grad in ((x, dx), (w, dw), (b, db)):
        for idx in [tuple(rng.integers(0, m) for m in arr.shape) for _ in range(6)]:
            old = arr[idx]
            arr[idx] = old + eps
            up = loss(x, w, b)
            arr[idx] = old - eps
            dn = loss(x, w, b)
            arr[idx] = old
            assert abs((up - dn) / (2 * eps) - grad[idx]) <= 1e-6 * max(1.0, abs(grad[idx]))


def test_reference_matches_explicit_loops():
    x, w, b, _, (s, p, d, g) = make_case(CASES[3])
    out = ref_forward(x, w, b, s, p, d, g)
    n, o, i, j = 1, 4, 2, 1
    cg, ocg = w.shape[1], w.shape[0] // g
    acc = float(b[o])
    for ci in range(cg):
        for kh in range(w.shape[2]):
            for kw in range(w.shape[3]):
                ih, iw = i * s[0] - p[0] + kh * d[0], j * s[1] - p[1] + kw * d[1]
                if 0 <= ih < x.shape[2] and 0 <= iw < x.shape[3]:
                    acc += float(w[o, ci, kh, kw]) * float(x[n, (o // ocg) * cg + ci, ih, iw])
    assert abs(out[n, o, i, j] - acc) < 1e-9


# ---- the C kernels -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("naive", [False, True], ids=["fast", "naive"])
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_forward_backward_vs_reference(case, naive):
    x, w, b, dout, (s, p, d, g) = make_case(case)
    out = _core.conv2d_forward(x, w, b, s, p, d, g, n_threads=2, naive=naive)
    close(out, ref_forward(x, w, b, s, p, d, g), what="out")
    dx, dw, db = _core.conv2d_backward(dout, x, w, s, p, d, g, n_threads=2, naive=naive)
    rdx, rdw, rdb = ref_backward(dout, x, w, s, p, d, g)
    close(dx, rdx, what="dx")
    close(dw, rdw, what="dw")
    close(db, rdb, what="db")


@pytest.mark.parametrize("isa", available_isas())
@pytest.mark.parametrize("case", [CASES[0], CASES[1], CASES[2], CASES[10], CASES[12], CASES[13], CASES[14],
                                  CASES[15], CASES[16], CASES[17], CASES[18], CASES[19], CASES[20]], ids=_ids)
def test_each_isa_vs_reference(case, isa):
    """Every ISA's im2col/col2im and GEMM paths (the AVX-512 one writes rows in masked 16-float vectors)."""
    old = fastnn.get_isa()
    fastnn.set_isa(isa)
    try:
        x, w, b, dout, (s, p, d, g) = make_case(case, seed=3)
        for nt in (1, 2):
            close(_core.conv2d_forward(x, w, b, s, p, d, g, n_threads=nt), ref_forward(x, w, b, s, p, d, g),
                  what=f"out {isa}")
            dx, dw, db = _core.conv2d_backward(dout, x, w, s, p, d, g, n_threads=nt)
            rdx, rdw, rdb = ref_backward(dout, x, w, s, p, d, g)
            close(dx, rdx, what=f"dx {isa}")
            close(dw, rdw, what=f"dw {isa}")
    finally:
        fastnn.set_isa(old)


@pytest.mark.parametrize("isa", available_isas())
@pytest.mark.parametrize("case", [CASES[0], CASES[3], CASES[4], CASES[6], CASES[7], CASES[12]], ids=_ids)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_fused_relu_equals_separate_pass(case, isa, bias):
    """relu=True (the bias and ReLU in the GEMM's epilogue, per output-channel row) is bitwise max(conv, 0),
    on every ISA and thread count, grouped and depthwise included."""
    old = fastnn.get_isa()
    fastnn.set_isa(isa)
    try:
        x, w, b, _, (s, p, d, g) = make_case(case, seed=5, bias=bias)
        for nt in (1, 2):
            plain = _core.conv2d_forward(x, w, b, s, p, d, g, n_threads=nt)
            fused = _core.conv2d_forward(x, w, b, s, p, d, g, n_threads=nt, relu=True)
            np.testing.assert_array_equal(fused, np.maximum(plain, np.float32(0)))
            assert (fused == 0).any() and (fused > 0).any()
    finally:
        fastnn.set_isa(old)


def fastnn_wino_geometry(c):
    """The shapes the Winograd route takes: stride 1, no dilation, one group, square 3x3 or 5x5, padding < K."""
    n, ch, h, w, oc, kh, kw, s, p, d, g = c
    return s == (1, 1) and d == (1, 1) and g == 1 and kh == kw and kh in (3, 5) and max(p) <= kh - 1


DIRECT_CASES = [c for c in CASES if c[7] == (1, 1) and c[9] == (1, 1) and c[10] == 1 and c[5] * c[6] > 1
                and c[8][0] <= c[5] - 1 and c[8][1] <= c[6] - 1] + [
    (3, 1, 28, 28, 6, 5, 5, (1, 1), (2, 2), (1, 1), 1),      # LeNet-5's first layer
    (5, 6, 14, 14, 16, 5, 5, (1, 1), (0, 0), (1, 1), 1),     # and its second
    (2, 7, 13, 35, 9, 3, 3, (1, 1), (1, 1), (1, 1), 1),      # 7 channels (tiles of 4, 2, 1), rows past 16
    (2, 5, 17, 6, 3, 4, 2, (1, 1), (3, 1), (1, 1), 1),       # even kernels, padding K-1 (zero-width dx border)
]


DIRECT_ISAS = [i for i in ("avx512", "avx2") if i in available_isas()]


@pytest.mark.skipif(not DIRECT_ISAS, reason="the direct kernels are AVX-512 and AVX2")
@pytest.mark.parametrize("isa", DIRECT_ISAS or ["none"])
@pytest.mark.parametrize("case", DIRECT_CASES, ids=_ids)
@pytest.mark.parametrize("relu", [False, True], ids=["", "relu"])
def test_direct_route_vs_reference(case, relu, isa):
    """The direct route (forced on, threads 1 and 2) against the float64 reference, and the im2col route
    (forced off) against it too; the two routes agree within rounding.  Each SIMD path that has direct
    kernels (AVX-512: 16-lane tiles; AVX2: 8-lane tiles of at most 4 channels x 2 rows)."""
    old_isa = fastnn.get_isa()
    fastnn.set_isa(isa)
    old = _core.conv_direct_mode(1)
    try:
        x, w, b, dout, (s, p, d, g) = make_case(case, seed=7)
        want = ref_forward(x, w, b, s, p, d, g)
        if relu:
            want = np.maximum(want, 0)
        rdx, rdw, rdb = ref_backward(dout, x, w, s, p, d, g)
        for mode in (1, 0):
            _core.conv_direct_mode(mode)
            for nt in (1, 2):
                close(_core.conv2d_forward(x, w, b, s, p, d, g, n_threads=nt, relu=relu), want, what=f"out {mode}")
                dx, dw, db = _core.conv2d_backward(dout, x, w, s, p, d, g, n_threads=nt)
                close(dx, rdx, what=f"dx {mode}")
                close(dw, rdw, what=f"dw {mode}")
                close(db, rdb, what=f"db {mode}")
    finally:
        _core.conv_direct_mode(old)
        fastnn.set_isa(old_isa)


WINO_CASES = [c for c in CASES if fastnn_wino_geometry(c)] + [
    (5, 32, 14, 14, 64, 5, 5, (1, 1), (2, 2), (1, 1), 1),    # the Fashion-MNIST net's second layer, F(4x4, 5x5)
    (2, 20, 12, 12, 40, 5, 5, (1, 1), (0, 0), (1, 1), 1),    # Nielsen's second layer
    (2, 16, 28, 28, 16, 3, 3, (1, 1), (1, 1), (1, 1), 1),    # ResNet stage 1, F(4x4, 3x3)
    (6, 17, 7, 7, 33, 3, 3, (1, 1), (1, 1), (1, 1), 1),      # channels past the 8 lanes, a 7x7 map (partial tiles)
    (3, 9, 13, 11, 10, 3, 3, (1, 1), (2, 0), (1, 1), 1),     # rectangular, padding 2 on one axis only
    (3, 5, 2, 2, 7, 3, 3, (1, 1), (1, 1), (1, 1), 1),        # tiny map: F(2x2, 3x3)
    (2, 12, 3, 2, 9, 3, 3, (1, 1), (1, 1), (1, 1), 1),       # F(2x2, 3x3), one tile column
    (2, 3, 9, 8, 5, 5, 5, (1, 1), (4, 1), (1, 1), 1),        # padding K-1 (zero-width input-gradient border)
    (3, 8, 64, 64, 16, 3, 3, (1, 1), (1, 1), (1, 1), 1),     # 256 tiles a sample: weight gradient per sample
    (3, 6, 2, 2, 9, 5, 5, (1, 1), (2, 2), (1, 1), 1),        # tiny map: F(2x2, 5x5)
    (2, 4, 1, 2, 5, 5, 5, (1, 1), (2, 2), (1, 1), 1),        # F(2x2, 5x5), one pixel row
]


@pytest.mark.skipif(not DIRECT_ISAS, reason="the Winograd kernels need AVX2")
@pytest.mark.parametrize("isa", DIRECT_ISAS or ["none"])
@pytest.mark.parametrize("case", WINO_CASES, ids=_ids)
@pytest.mark.parametrize("relu", [False, True], ids=["", "relu"])
def test_winograd_route_vs_reference(case, relu, isa):
    """The Winograd route forced on (F(4x4 or 2x2, 5x5 or 3x3)): forward, input and weight gradients
    against the float64 reference; bitwise identical on 1 and 2 threads (5 samples: two backward chunks)."""
    old_isa = fastnn.get_isa()
    fastnn.set_isa(isa)
    old = _core.conv_wino_mode(1)
    try:
        x, w, b, dout, (s, p, d, g) = make_case(case, seed=9)
        want = ref_forward(x, w, b, s, p, d, g)
        if relu:
            want = np.maximum(want, 0)
        rdx, rdw, rdb = ref_backward(dout, x, w, s, p, d, g)
        got = {}
        for nt in (1, 2):
            out = _core.conv2d_forward(x, w, b, s, p, d, g, n_threads=nt, relu=relu)
            dx, dw, db = _core.conv2d_backward(dout, x, w, s, p, d, g, n_threads=nt)
            close(out, want, what="out")
            close(dx, rdx, what="dx")
            close(dw, rdw, what="dw")
            close(db, rdb, what="db")
            got[nt] = (out, dx, dw)
        for a, c in zip(got[1], got[2]):
            assert np.array_equal(a.view(np.uint32), c.view(np.uint32))
    finally:
        _core.conv_wino_mode(old)
        fastnn.set_isa(old_isa)


def test_winograd_mode_argument():
    with pytest.raises(ValueError, match="mode must be -1, 0 or 1"):
        _core.conv_wino_mode(5)
    assert _core.conv_wino_mode() == -1


# (C, H, W, KH, KW, stride, padding, dilation): the column routines alone, on every ISA
COL_CASES = [
    (3, 7, 9, 3, 5, (1, 1), (0, 0), (1, 1)),
    (2, 6, 5, 3, 3, (1, 1), (1, 1), (1, 1)),        # rows of 5: shorter than any vector
    (3, 12, 13, 3, 3, (1, 1), (1, 1), (1, 1)),      # rows of 13: a vector and a tail
    (2, 9, 37, 3, 5, (1, 1), (2, 3), (1, 2)),       # wider than 16, pads both sides, dilation
    (2, 3, 2, 3, 5, (1, 1), (1, 2), (1, 1)),        # taps that read no input column at all
    (2, 10, 21, 3, 3, (2, 2), (2, 1), (1, 2)),      # stride 2, pads both sides, dilation
    (3, 7, 70, 3, 3, (1, 2), (1, 1), (1, 1)),       # stride 2 over several vectors
    (2, 9, 41, 1, 1, (2, 2), (0, 0), (1, 1)),       # 1x1 stride 2
    # stride 2, dilation 1 along W (the AVX2 even/odd row split): the ResNet's planes, odd widths, 8-column
    # multiples, a single output column, 5x5 with pad 2, vertical stride 1 and dilation 2
    (3, 28, 28, 3, 3, (2, 2), (1, 1), (1, 1)),
    (2, 14, 14, 3, 3, (2, 2), (1, 1), (1, 1)),
    (2, 7, 7, 3, 3, (2, 2), (1, 1), (1, 1)),
    (2, 5, 32, 3, 3, (2, 2), (1, 1), (1, 1)),
    (2, 4, 2, 3, 3, (2, 2), (1, 1), (1, 1)),
    (2, 11, 19, 5, 5, (2, 2), (2, 2), (1, 1)),
    (2, 9, 23, 3, 4, (1, 2), (0, 3), (2, 1)),
    (2, 9, 17, 3, 4, (1, 3), (1, 2), (1, 1)),       # stride 3 (the portable loop on every ISA)
    (1, 66, 70, 3, 3, (1, 1), (1, 1), (1, 1)),      # a plane past the AVX2 col2im scratch
    (1, 28, 28, 5, 5, (1, 1), (2, 2), (1, 1)),
]


def _col_ids(c):
    ch, h, w, kh, kw, s, p, d = c
    return f"c{ch}-{h}x{w}-k{kh}x{kw}-s{s[0]}{s[1]}-p{p[0]}{p[1]}-d{d[0]}{d[1]}"


def ref_im2col(x, kernel, s, p, d):
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, s, p, d
    c, h, w = x.shape
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    rows = [xp[ci, i * dh: i * dh + sh * (oh - 1) + 1: sh, j * dw: j * dw + sw * (ow - 1) + 1: sw].reshape(-1)
            for ci in range(c) for i in range(kh) for j in range(kw)]
    return np.stack(rows)


@pytest.mark.parametrize("case", COL_CASES, ids=_col_ids)
def test_im2col_col2im_bitwise_across_isas(case):
    """im2col is pure data movement: every ISA's column matrix equals the numpy gather exactly.  col2im adds
    each column value into its pixel in the (c, kh, kw, oh) order of the portable loop on every ISA, so the
    results are bitwise equal to the generic path's (and near the float64 sum)."""
    ch, h, w, kh, kw, s, p, d = case
    rng = np.random.default_rng(11)
    x = rng.standard_normal((ch, h, w)).astype(np.float32)
    want = ref_im2col(x, (kh, kw), s, p, d)
    col = rng.standard_normal(want.shape).astype(np.float32)
    col[rng.random(col.shape) < 0.1] = -0.0
    ones = np.ones((ch, h, w), np.float32)
    # col2im is the adjoint of im2col: <col, im2col(x)> = <col2im(col), x>; float64 for the reference
    rdx = np.zeros((ch, h, w))
    np.add.at(rdx.reshape(-1), ref_im2col(np.arange(ch * h * w, dtype=np.float64).reshape(ch, h, w) + 1,
                                          (kh, kw), s, p, d).astype(np.int64).reshape(-1) - 1,
              np.where(ref_im2col(ones, (kh, kw), s, p, d) > 0, col, 0).reshape(-1))
    old = fastnn.get_isa()
    got = {}
    try:
        for isa in available_isas():
            fastnn.set_isa(isa)
            np.testing.assert_array_equal(_core.conv_im2col(x, (kh, kw), s, p, d), want, err_msg=isa)
            got[isa] = _core.conv_col2im(col, x.shape, (kh, kw), s, p, d)
            close(got[isa], rdx, rtol=1e-5, what=f"col2im {isa}")
    finally:
        fastnn.set_isa(old)
    for isa, dx in got.items():
        assert np.array_equal(dx.view(np.uint32), got["generic"].view(np.uint32)), isa


def test_direct_mode_argument():
    with pytest.raises(ValueError, match="mode must be -1, 0 or 1"):
        _core.conv_direct_mode(2)
    assert _core.conv_direct_mode() == -1


def test_no_bias_and_skipped_gradients():
    x, w, _, dout, (s, p, d, g) = make_case(CASES[1], bias=False)
    close(_core.conv2d_forward(x, w, None, s, p, d, g), ref_forward(x, w, None, s, p, d, g), what="out")
    dx, dw, db = _core.conv2d_backward(dout, x, w, s, p, d, g, need_dx=False, need_db=False)
    assert dx is None and db is None
    close(dw, ref_backward(dout, x, w, s, p, d, g)[1], what="dw")


@pytest.mark.parametrize("case", [(16, 16, 28, 28, 32, 3, 3, (1, 1), (1, 1), (1, 1), 1),
                                  (16, 16, 28, 28, 16, 3, 3, (1, 1), (1, 1), (1, 1), 16),
                                  (16, 16, 28, 28, 32, 1, 1, (1, 1), (0, 0), (1, 1), 1),
                                  (1, 16, 28, 28, 32, 3, 3, (2, 2), (1, 1), (1, 1), 2)], ids=_ids)
def test_threads_bitwise_identical(case):
    x, w, b, dout, (s, p, d, g) = make_case(case)
    res = []
    for nt in (1, 2, 3):
        out = _core.conv2d_forward(x, w, b, s, p, d, g, n_threads=nt)
        res.append((out,) + _core.conv2d_backward(dout, x, w, s, p, d, g, n_threads=nt))
    for other in res[1:]:
        for a, c in zip(res[0], other):
            assert np.array_equal(a, c)


def test_same_padding_and_output_shape():
    x, w, b, _, _ = make_case((2, 3, 9, 8, 5, 3, 5, (1, 1), (0, 0), (1, 1), 1))
    assert _core.conv2d_output_shape(x.shape, w.shape, padding="same") == (2, 5, 9, 8)
    assert _core.conv2d_output_shape(x.shape, w.shape, padding="same", dilation=2) == (2, 5, 9, 8)
    assert _core.conv2d_output_shape(x.shape, w.shape, stride=2, padding=1) == (2, 5, 5, 3)
    out = _core.conv2d_forward(x, w, b, 1, "same", 1, 1)
    close(out, ref_forward(x, w, b, (1, 1), (1, 2), (1, 1), 1), what="same")
    close(_core.conv2d_forward(x, w, b, 1, "valid"), ref_forward(x, w, b, (1, 1), (0, 0), (1, 1), 1))


def test_read_only_inputs():
    x, w, b, dout, (s, p, d, g) = make_case(CASES[0])
    for a in (x, w, b, dout):
        a.setflags(write=False)
    close(_core.conv2d_forward(x, w, b, s, p, d, g), ref_forward(x, w, b, s, p, d, g))
    _core.conv2d_backward(dout, x, w, s, p, d, g)


BAD = [
    # (x shape, w shape, kwargs, message fragment)
    ((2, 3, 4, 4), (5, 3, 5, 5), {}, "larger than the padded input"),
    ((2, 3, 4, 4), (5, 3, 3, 3), {"dilation": 2}, "larger than the padded input"),
    ((2, 3, 8, 8), (5, 2, 3, 3), {}, "channel mismatch"),
    ((2, 4, 8, 8), (6, 2, 3, 3), {"groups": 3}, "does not divide the input channels"),
    ((2, 4, 8, 8), (5, 2, 3, 3), {"groups": 2}, "does not divide the output channels"),
    ((2, 4, 8, 8), (4, 2, 3, 3), {"groups": 0}, "groups must be a positive int"),
    ((2, 3, 8, 8), (5, 3, 3, 3), {"stride": 0}, "stride must be positive"),
    ((2, 3, 8, 8), (5, 3, 3, 3), {"stride": (1, -1)}, "stride must be positive"),
    ((2, 3, 8, 8), (5, 3, 3, 3), {"dilation": 0}, "dilation must be positive"),
    ((2, 3, 8, 8), (5, 3, 3, 3), {"padding": -1}, "padding must be non-negative"),
    ((2, 3, 8, 8), (5, 3, 3, 3), {"padding": "full"}, "padding must be"),
    ((2, 3, 8, 8), (5, 3, 3, 3), {"padding": "same", "stride": 2}, "needs stride 1"),
    ((2, 3, 8, 8), (5, 3, 2, 2), {"padding": "same"}, "asymmetric"),
    ((3, 8, 8), (5, 3, 3, 3), {}, "x must be 4-D"),
    ((2, 3, 8, 8), (5, 3, 3), {}, "weight must be 4-D"),
]


@pytest.mark.parametrize("xs, ws, kw, msg", BAD, ids=[b[3] for b in BAD])
def test_bad_geometry_raises(xs, ws, kw, msg):
    with pytest.raises((ValueError, TypeError), match=msg):
        _core.conv2d_output_shape(xs, ws, **kw)
    x = np.zeros(xs, np.float32)
    w = np.zeros(ws, np.float32)
    with pytest.raises((ValueError, TypeError), match=msg):
        _core.conv2d_forward(x, w, None, **kw)


def test_bad_arrays_raise():
    x = np.zeros((2, 3, 8, 8), np.float32)
    w = np.zeros((5, 3, 3, 3), np.float32)
    with pytest.raises(TypeError, match="dtype float32"):
        _core.conv2d_forward(x.astype(np.float64), w)
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.conv2d_forward(np.asfortranarray(x), w)
    with pytest.raises(ValueError, match=r"bias must have shape \(5,\)"):
        _core.conv2d_forward(x, w, np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"dout must have the output shape \(2, 5, 6, 6\)"):
        _core.conv2d_backward(np.zeros((2, 5, 8, 8), np.float32), x, w)


# ---- PyTorch --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES[:10], ids=_ids)
def test_vs_torch(case):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, w, b, dout, (s, p, d, g) = make_case(case)
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    tout = F.conv2d(tx, tw, tb, s, p, d, g)
    tout.backward(torch.tensor(dout))
    out = _core.conv2d_forward(x, w, b, s, p, d, g, n_threads=2)
    dx, dw, db = _core.conv2d_backward(dout, x, w, s, p, d, g, n_threads=2)
    for got, want, what in ((out, tout, "out"), (dx, tx.grad, "dx"), (dw, tw.grad, "dw"), (db, tb.grad, "db")):
        close(got, want.detach().numpy().astype(np.float64), rtol=1e-4, what=what)


def test_vs_torch_same_padding():
    torch = pytest.importorskip("torch")
    x, w, b, _, _ = make_case((2, 3, 9, 8, 5, 5, 3, (1, 1), (0, 0), (1, 1), 1))
    want = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), padding="same").numpy()
    close(_core.conv2d_forward(x, w, b, 1, "same"), want.astype(np.float64), rtol=1e-4)
