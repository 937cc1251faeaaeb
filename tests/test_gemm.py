"""SGEMM against a numpy float64 reference: shapes, transposes, alpha/beta, strides, threads, ISAs, errors."""
import numpy as np
import pytest

import fastnn
from fastnn import ops
from fastnn._ext import _core

from conftest import available_isas

MR_MAX, NR_MAX = 12, 32  # largest register tile (AVX-512)
KCS = (256, 512)  # depth blocks: AVX-512 and portable, AVX2 (K is split into equal blocks no larger)


def _operands(rng, m, k, n, ta, tb, scale=1.0):
    a = (rng.standard_normal((k, m) if ta else (m, k)) * scale).astype(np.float32)
    b = (rng.standard_normal((n, k) if tb else (k, n)) * scale).astype(np.float32)
    return a, b


def _reference(a, b, c, alpha, beta, ta, tb):
    r = alpha * ((a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64))
    if c is not None and beta != 0.0:
        r = r + beta * c.astype(np.float64)
    return r


def _check(got, ref, k, scale=1.0):
    atol = 1e-5 * np.sqrt(max(k, 1)) * scale * scale * 4 + 1e-6
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=atol)


def _run(rng, m, k, n, ta=False, tb=False, alpha=1.0, beta=0.0, with_c=False):
    a, b = _operands(rng, m, k, n, ta, tb)
    c = rng.standard_normal((m, n)).astype(np.float32) if with_c else None
    c0 = None if c is None else c.copy()
    got = ops.gemm(a, b, c, alpha=alpha, beta=beta, trans_a=ta, trans_b=tb)
    _check(got, _reference(a, b, c0, alpha, beta if with_c else 0.0, ta, tb), k, max(1.0, abs(alpha)))
    return got


def test_1x1x1():
    c = ops.gemm(np.array([[3.0]], np.float32), np.array([[-2.0]], np.float32))
    assert c.dtype == np.float32 and c.shape == (1, 1) and c[0, 0] == -6.0


@pytest.mark.parametrize("ta,tb", [(0, 0), (1, 1)])
@pytest.mark.parametrize("dim", ["m", "n", "k"])
def test_every_size_to_twice_the_tile(rng, dim, ta, tb):
    top = {"m": 2 * MR_MAX + 1, "n": 2 * NR_MAX + 1, "k": 2 * NR_MAX + 1}[dim]
    for s in range(1, top + 1):
        m, k, n = {"m": (s, 7, 9), "n": (5, 7, s), "k": (5, s, 9)}[dim]
        _run(rng, m, k, n, ta, tb, alpha=1.0, beta=0.5, with_c=True)


@pytest.mark.parametrize("m,k,n", [(2, 3, 5), (7, 11, 13), (17, 19, 23), (29, 31, 37), (41, 43, 47),
                                   (53, 59, 61), (97, 101, 103), (131, 257, 67)])
def test_primes(rng, m, k, n):
    for ta in (0, 1):
        for tb in (0, 1):
            _run(rng, m, k, n, ta, tb)


@pytest.mark.parametrize("m,k,n", [(1, 784, 100), (32, 54, 100), (4096, 25, 20), (10000, 54, 100),
                                   (100, 784, 1), (3, 2000, 5), (200, 600, 1100), (64, 1030, 70)])
def test_tall_skinny_short_fat(rng, m, k, n):
    _run(rng, m, k, n)
    _run(rng, m, k, n, tb=True)


@pytest.mark.parametrize("k", sorted({d * kc + e for kc in KCS for d in (1, 2) for e in (-1, 0, 1)}))
def test_depth_block_edges(rng, k):
    """K at each ISA's depth block and twice it, and one either side (one block more or less, equal split)."""
    for n in (70, 150):   # a row-major A read in place (N <= 128 on AVX2), then packed
        for ta in (0, 1):
            for tb in (0, 1):
                _run(rng, 37, k, n, ta, tb, alpha=0.5, beta=0.5, with_c=True)


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (2.5, 0.0), (1.0, 1.0), (-0.5, 2.0), (0.0, 0.5), (1.0, -1.0)])
def test_transposes_alpha_beta(rng, ta, tb, alpha, beta):
    for m, k, n in [(13, 17, 35), (50, 300, 70), (3, 520, 33)]:
        _run(rng, m, k, n, ta, tb, alpha, beta, with_c=True)


@pytest.mark.parametrize("ta,tb", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_beta_zero_ignores_nan(rng, ta, tb):
    for m, k, n in [(5, 3, 7), (37, 64, 70), (100, 300, 40)]:
        a, b = _operands(rng, m, k, n, ta, tb)
        c = np.full((m, n), np.nan, np.float32)
        ops.gemm(a, b, c, beta=0.0, trans_a=ta, trans_b=tb)
        assert np.isfinite(c).all()
        _check(c, _reference(a, b, None, 1.0, 0.0, ta, tb), k)


def test_k_zero(rng):
    a = np.zeros((4, 0), np.float32)
    b = np.zeros((0, 6), np.float32)
    assert (ops.gemm(a, b) == 0).all()
    c = np.full((4, 6), np.nan, np.float32)
    assert (ops.gemm(a, b, c, beta=0.0) == 0).all()
    c = np.ones((4, 6), np.float32)
    assert (ops.gemm(a, b, c, beta=3.0) == 3.0).all()
    assert ops.gemm(np.zeros((0, 5), np.float32), np.zeros((5, 3), np.float32)).shape == (0, 3)


def test_strided_leading_dimensions(rng):
    for ta in (0, 1):
        for tb in (0, 1):
            m, k, n = 37, 70, 45
            wa = rng.standard_normal((80, 130)).astype(np.float32)
            wb = rng.standard_normal((90, 140)).astype(np.float32)
            wc = rng.standard_normal((60, 100)).astype(np.float32)
            a = wa[3:3 + (k if ta else m), 5:5 + (m if ta else k)]
            b = wb[1:1 + (n if tb else k), 2:2 + (k if tb else n)]
            c = wc[2:2 + m, 7:7 + n]
            assert not a.flags.c_contiguous and not c.flags.c_contiguous
            before = wc.copy()
            ref = _reference(a, b, c, 1.5, 0.5, ta, tb)
            out = ops.gemm(a, b, c, alpha=1.5, beta=0.5, trans_a=ta, trans_b=tb)
            assert out is c
            _check(c, ref, k, 1.5)
            mask = np.ones(wc.shape, bool)
            mask[2:2 + m, 7:7 + n] = False
            assert (wc[mask] == before[mask]).all()  # nothing outside the view written


def test_non_contiguous_inputs_converted(rng):
    a = rng.standard_normal((30, 40)).astype(np.float32)[:, ::2]  # column stride 2 -> one copy
    b = rng.standard_normal((20, 25))                            # float64 -> float32 once
    _check(ops.gemm(a, b), a.astype(np.float64) @ b.astype(np.float32), 20)
    _check(ops.matmul(np.arange(6).reshape(2, 3), np.ones((3, 2), np.int64)), np.arange(6).reshape(2, 3) @ np.ones((3, 2)), 3)


@pytest.mark.parametrize("ta,tb", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_threads_bitwise_identical(rng, threads, ta, tb):
    for m, k, n in [(300, 600, 290), (1000, 40, 30), (40, 300, 1200), (130, 700, 130)]:
        a, b = _operands(rng, m, k, n, ta, tb)
        c0 = rng.standard_normal((m, n)).astype(np.float32)
        res = []
        for t in (1, 2, 3):
            threads(t)
            res.append(ops.gemm(a, b, c0.copy(), alpha=0.7, beta=0.3, trans_a=ta, trans_b=tb))
        assert np.array_equal(res[0], res[1]) and np.array_equal(res[0], res[2])


@pytest.mark.parametrize("ta,tb", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_packed_grid_threads(rng, threads, ta, tb):
    """Packed driver (K*N past the small paths): tails in M, N and K (K % 16 != 0), thread grids of 1..16
    (more threads than cores, prime counts, 2-D grids) all bitwise equal, and right; beta == 0 ignores NaN.
    N = 100: a row-major A read in place (AVX2 up to N = 128) but for a partial last row tile (M = 7, 13).
    M = 150 (AVX2: 25 row tiles): a packed A^T goes tile by tile on one thread and is packed up front, columns
    outermost, where a thread has at most 24 tiles (2+ threads): the same bits either way."""
    for m, k, n in [(301, 531, 517), (13, 600, 700), (1100, 300, 40), (97, 1030, 290), (7, 531, 100),
                    (13, 300, 100), (301, 531, 100), (150, 531, 300)]:
        a, b = _operands(rng, m, k, n, ta, tb)
        c0 = rng.standard_normal((m, n)).astype(np.float32)
        ref = _reference(a, b, c0, 0.7, 0.3, ta, tb)
        res = []
        for t in (1, 2, 3, 4, 6, 7, 16):
            threads(t)
            res.append(ops.gemm(a, b, c0.copy(), alpha=0.7, beta=0.3, trans_a=ta, trans_b=tb))
            cn = np.full((m, n), np.nan, np.float32)
            assert np.isfinite(ops.gemm(a, b, cn, beta=0.0, trans_a=ta, trans_b=tb)).all()
        _check(res[0], ref, k)
        for r in res[1:]:
            assert np.array_equal(res[0], r)


@pytest.mark.parametrize("isa", available_isas())
def test_each_isa_vs_generic(rng, isa):
    old = fastnn.get_isa()
    shapes = [(1, 1, 1), (13, 17, 35), (25, 65, 33), (37, 300, 70), (128, 784, 100), (300, 513, 290),
              (4096, 25, 20), (24, 257, 64)]
    try:
        for m, k, n in shapes:
            for ta in (0, 1):
                for tb in (0, 1):
                    a, b = _operands(rng, m, k, n, ta, tb)
                    c0 = rng.standard_normal((m, n)).astype(np.float32)
                    fastnn.set_isa("generic")
                    g = ops.gemm(a, b, c0.copy(), alpha=1.25, beta=-0.5, trans_a=ta, trans_b=tb)
                    fastnn.set_isa(isa)
                    got = ops.gemm(a, b, c0.copy(), alpha=1.25, beta=-0.5, trans_a=ta, trans_b=tb)
                    _check(got, g, k, 1.25)
                    _check(got, _reference(a, b, c0, 1.25, -0.5, ta, tb), k, 1.25)
    finally:
        fastnn.set_isa(old)


@pytest.mark.parametrize("ta,tb", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_naive_vs_numpy(rng, ta, tb):
    for m, k, n in [(1, 1, 1), (7, 13, 5), (33, 70, 40)]:
        a, b = _operands(rng, m, k, n, ta, tb)
        c = rng.standard_normal((m, n)).astype(np.float32)
        ref = _reference(a, b, c, 0.5, 2.0, ta, tb)
        _core.sgemm(a, b, c, 0.5, 2.0, ta, tb, 1, naive=True)
        _check(c, ref, k)


def test_bad_inputs():
    a = np.ones((3, 4), np.float32)
    b = np.ones((5, 6), np.float32)
    with pytest.raises(ValueError, match=r"inner dimensions.*\(3, 4\).*\(5, 6\)"):
        ops.gemm(a, b)
    with pytest.raises(ValueError, match=r"a must be 2-D.*\(3,\)"):
        ops.gemm(np.ones(3, np.float32), b)
    with pytest.raises(ValueError, match=r"b must be 2-D"):
        ops.gemm(a, np.ones((4, 2, 2), np.float32))
    with pytest.raises(TypeError, match=r"a must be a real numeric"):
        ops.gemm(np.array([["x"] * 4] * 3), np.ones((4, 2), np.float32))
    with pytest.raises(TypeError, match=r"b must be a real numeric"):
        ops.gemm(a, np.ones((4, 2), np.complex64))
    with pytest.raises(TypeError, match=r"c must be a float32"):
        ops.gemm(a, np.ones((4, 2), np.float32), c=np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"c has shape \(2, 3\).*\(3, 2\)"):
        ops.gemm(a, np.ones((4, 2), np.float32), c=np.zeros((2, 3), np.float32))
    ro = np.zeros((3, 2), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ops.gemm(a, np.ones((4, 2), np.float32), c=ro)
    with pytest.raises(ValueError, match="unit column stride"):
        ops.gemm(a, np.ones((4, 2), np.float32), c=np.zeros((3, 4), np.float32)[:, ::2])
    with pytest.raises(ValueError, match="inner dimensions"):
        _core.sgemm(a, b, np.zeros((3, 6), np.float32), 1.0, 0.0, False, False, 1)


# AVX-512 small-shape paths (fnn_gemm_small.c): dot tiles, transposed-B rows tiles, row/column-form A tiles.
ENGINE_SHAPES = [  # (M, K, N, trans_a, trans_b): the training engine's calls for 784-256-128-10, 54-100-1, 784-100-10
    (64, 784, 256, 0, 1), (256, 64, 784, 1, 0), (64, 256, 128, 0, 1), (128, 64, 256, 1, 0), (64, 128, 256, 0, 0),
    (64, 128, 10, 0, 1), (10, 64, 128, 1, 0), (64, 10, 128, 0, 0), (1, 54, 100, 0, 1), (100, 1, 54, 1, 0),
    (1, 100, 1, 0, 1), (1, 1, 100, 1, 0), (1, 1, 100, 0, 0), (32, 54, 100, 0, 1), (100, 32, 54, 1, 0),
    (32, 100, 1, 0, 1), (256, 100, 1, 0, 1), (256, 1, 100, 0, 0), (10, 784, 100, 0, 1), (100, 10, 784, 1, 0),
    (10, 100, 10, 0, 1), (128, 784, 100, 0, 1), (100, 128, 784, 1, 0), (128, 10, 100, 0, 0), (3, 300, 70, 0, 1),
]


@pytest.mark.parametrize("m,k,n,ta,tb", ENGINE_SHAPES)
def test_engine_shapes(rng, m, k, n, ta, tb):
    _run(rng, m, k, n, ta, tb)
    _run(rng, m, k, n, ta, tb, alpha=-1.5, beta=0.5, with_c=True)


@pytest.mark.parametrize("ta,tb", [(0, 0), (1, 0), (0, 1)])
def test_small_paths_every_edge(rng, ta, tb):
    for m in list(range(1, 20)) + [31, 33]:
        for n in (1, 2, 3, 4, 5, 15, 16, 17, 47, 48, 49, 97):
            for k in (1, 15, 16, 17, 300):
                _run(rng, m, k, n, ta, tb, alpha=1.0, beta=0.5, with_c=True)


@pytest.mark.parametrize("m,k,n,ta,tb", [(64, 784, 256, 0, 1), (64, 128, 256, 0, 0), (256, 64, 784, 1, 0),
                                         (10, 784, 300, 0, 1), (200, 54, 100, 0, 1), (256, 100, 3, 0, 1)])
def test_small_paths_threads_bitwise(rng, m, k, n, ta, tb):
    a, b = _operands(rng, m, k, n, ta, tb)
    old = fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(1)
        c1 = ops.gemm(a, b, trans_a=ta, trans_b=tb)
        fastnn.set_num_threads(2)
        c2 = ops.gemm(a, b, trans_a=ta, trans_b=tb)
    finally:
        fastnn.set_num_threads(old)
    assert np.array_equal(c1, c2)


# -- the GEMM epilogue (bias per column, then ReLU) applied per tile inside the multiply --------------------


@pytest.mark.parametrize("isa", available_isas())
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (3, 5, 7), (10, 784, 100), (64, 784, 256), (64, 100, 10),
                                   (37, 129, 53), (200, 300, 97), (700, 64, 500)])
@pytest.mark.parametrize("trans_a,trans_b", [(False, True), (False, False), (True, False)])
def test_epilogue_bias_relu_equals_separate_passes(isa, m, k, n, trans_a, trans_b, threads):
    """Every path (dot, rows, transposed-B rows, packed; every ISA; 1 and 2 threads): the fused epilogue
    gives bitwise the GEMM followed by a bias pass and a ReLU pass."""
    old = fastnn.get_isa()
    fastnn.set_isa(isa)
    try:
        rng = np.random.default_rng(m * 7 + k * 3 + n)
        a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
        b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
        bias = rng.standard_normal(n).astype(np.float32)
        for nt in (1, 2):
            threads(nt)
            plain = np.full((m, n), np.nan, np.float32)
            _core.sgemm(a, b, plain, 1.0, 0.0, trans_a, trans_b, nt)
            want_b = plain + bias
            want = np.where(want_b > 0, want_b, np.float32(0))
            got = np.full((m, n), np.nan, np.float32)
            _core.sgemm(a, b, got, 1.0, 0.0, trans_a, trans_b, nt, bias=bias, relu=True)
            np.testing.assert_array_equal(got, want)
            got_b = np.full((m, n), np.nan, np.float32)
            _core.sgemm(a, b, got_b, 1.0, 0.0, trans_a, trans_b, nt, bias=bias)
            np.testing.assert_array_equal(got_b, want_b)
            ref = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b).astype(np.float64) + bias
            np.testing.assert_allclose(got_b, ref, rtol=1e-4, atol=1e-4 * np.sqrt(k))
    finally:
        fastnn.set_isa(old)


def test_epilogue_argument_errors():
    a = np.ones((4, 3), np.float32)
    b = np.ones((3, 5), np.float32)
    c = np.zeros((4, 5), np.float32)
    with pytest.raises(ValueError, match="bias has 4 entries, c has 5 columns"):
        _core.sgemm(a, b, c, 1.0, 0.0, False, False, 1, bias=np.ones(4, np.float32))
    with pytest.raises(ValueError, match="naive"):
        _core.sgemm(a, b, c, 1.0, 0.0, False, False, 1, naive=True, relu=True)


# -- orientation: C = op(A) op(B) or C^T = op(B)^T op(A)^T with transposed-store kernels (AVX2) -------------


@pytest.fixture
def orient():
    old = _core.gemm_orient_mode()
    yield _core.gemm_orient_mode
    _core.gemm_orient_mode(old)


ORIENT_SHAPES = [(1, 1, 1), (5, 3, 7), (6, 9, 16), (7, 17, 17), (11, 5, 8), (12, 33, 25), (16, 40, 6),
                 (23, 70, 31), (23, 70, 20), (17, 9, 40), (32, 54, 100), (41, 300, 9), (64, 257, 65), (100, 131, 128), (128, 100, 10),
                 (129, 520, 47), (10, 784, 100)]


@pytest.mark.parametrize("isa", available_isas())
@pytest.mark.parametrize("ta,tb", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_orientations_bitwise_and_right(rng, orient, threads, isa, ta, tb):
    """Forced either way (and chosen), every orientation gives bitwise the same C, right against float64, for
    tails in M, N and K (partial tiles, the narrow panel), strided C, beta 0 over NaN, and 1 or 2 threads."""
    old = fastnn.get_isa()
    fastnn.set_isa(isa)
    try:
        for m, k, n in ORIENT_SHAPES:
            a, b = _operands(rng, m, k, n, ta, tb)
            c0 = rng.standard_normal((m, n + 3)).astype(np.float32)[:, 1:n + 1]   # row stride n + 3
            ref = _reference(a, b, c0, 0.75, -1.5, ta, tb)
            res, res0 = [], []
            for mode in (0, 1, -1):
                orient(mode)
                for nt in (1, 2):
                    threads(nt)
                    cw = np.array(np.broadcast_to(np.float32(7.0), (m, n + 3)))
                    cw[:, 1:n + 1] = c0
                    ops.gemm(a, b, cw[:, 1:n + 1], alpha=0.75, beta=-1.5, trans_a=bool(ta), trans_b=bool(tb))
                    assert (cw[:, 0] == 7.0).all() and (cw[:, n + 1:] == 7.0).all(), (m, k, n, mode)
                    res.append(cw[:, 1:n + 1].copy())
                    cn = np.full((m, n), np.nan, np.float32)
                    res0.append(ops.gemm(a, b, cn, beta=0.0, trans_a=bool(ta), trans_b=bool(tb)))
            _check(res[0], ref, k, 1.5)
            assert np.isfinite(res0[0]).all()
            for r, r0 in zip(res[1:], res0[1:]):
                assert np.array_equal(res[0], r), (m, k, n)
                assert np.array_equal(res0[0], r0), (m, k, n)
    finally:
        fastnn.set_isa(old)


@pytest.mark.parametrize("m,k,n,ta,tb", [(128, 100, 10, 0, 1), (32, 54, 100, 0, 0), (13, 300, 40, 1, 0)])
def test_orientations_epilogue(orient, m, k, n, ta, tb):
    """The epilogue (bias per column of C, ReLU) lands on the right elements when C is stored transposed."""
    rng = np.random.default_rng(m + k + n)
    a, b = _operands(rng, m, k, n, ta, tb)
    bias = rng.standard_normal(n).astype(np.float32)
    outs = []
    for mode in (0, 1):
        orient(mode)
        c = np.full((m, n), np.nan, np.float32)
        _core.sgemm(a, b, c, 1.0, 0.0, ta, tb, 1, bias=bias, relu=True)
        outs.append(c)
    np.testing.assert_array_equal(outs[0], outs[1])
    ref = np.maximum(_reference(a, b, None, 1.0, 0.0, ta, tb) + bias, 0.0)
    np.testing.assert_allclose(outs[1], ref, rtol=1e-4, atol=1e-4 * np.sqrt(k))


def test_orient_mode_rejects_unknown(orient):
    with pytest.raises(ValueError, match="mode must be -1, 0 or 1, got 2"):
        orient(2)
