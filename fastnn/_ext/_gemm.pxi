# GEMM bridge: fnn_sgemm / fnn_sgemm_naive on float32 2-D arrays with unit column stride.
# Leading dimensions come from the row strides, so row-strided views (a[:, :k] of a wider array) need no copy.
from fnn_gemm cimport *


cdef inline Py_ssize_t _ld(const float[:, :] x, str name) except -1:
    """Row stride in elements; the column stride must be one element."""
    if x.shape[0] == 0 or x.shape[1] == 0:
        return max(1, x.shape[1])
    if x.strides[1] != 4 and x.shape[1] > 1:
        raise ValueError(f"gemm: {name} must have unit column stride (got strides {x.strides[0]}, "
                         f"{x.strides[1]} for shape ({x.shape[0]}, {x.shape[1]}))")
    if x.shape[0] == 1:
        return x.shape[1]
    if x.strides[0] % 4 or x.strides[0] < 4 * x.shape[1]:
        raise ValueError(f"gemm: {name} rows must not overlap (got row stride {x.strides[0]} bytes for "
                         f"shape ({x.shape[0]}, {x.shape[1]}))")
    return x.strides[0] // 4


def sgemm(const float[:, :] a, const float[:, :] b, float[:, :] c, float alpha, float beta,
          bint trans_a, bint trans_b, int n_threads, bint naive=False, bias=None, bint relu=False):
    """c = alpha * op(a) @ op(b) + beta * c in place (float32, unit column stride, any row stride >= width).

    ``bias`` (float32 (N,)) and ``relu``: the GEMM epilogue (c += bias per column, then ReLU), applied per
    tile inside the multiply (not with ``naive``).  Checks shapes and raises ValueError naming the argument;
    the GIL is released around the kernel."""
    cdef Py_ssize_t m = c.shape[0], n = c.shape[1]
    cdef Py_ssize_t am = a.shape[1] if trans_a else a.shape[0]
    cdef Py_ssize_t k = a.shape[0] if trans_a else a.shape[1]
    cdef Py_ssize_t kb = b.shape[1] if trans_b else b.shape[0]
    cdef Py_ssize_t bn = b.shape[0] if trans_b else b.shape[1]
    if k != kb:
        raise ValueError(f"gemm: inner dimensions differ: op(a) is ({am}, {k}) but op(b) is ({kb}, {bn}) "
                         f"(a ({a.shape[0]}, {a.shape[1]}), b ({b.shape[0]}, {b.shape[1]}), "
                         f"trans_a={bool(trans_a)}, trans_b={bool(trans_b)})")
    if am != m or bn != n:
        raise ValueError(f"gemm: c has shape ({m}, {n}) but op(a) ({am}, {k}) @ op(b) ({kb}, {bn}) is "
                         f"({am}, {bn})")
    cdef Py_ssize_t lda = _ld(a, "a"), ldb = _ld(b, "b"), ldc = _ld(c, "c")
    cdef const float *pa = &a[0, 0] if a.shape[0] * a.shape[1] else NULL
    cdef const float *pb = &b[0, 0] if b.shape[0] * b.shape[1] else NULL
    cdef float *pc = &c[0, 0] if m * n else NULL
    cdef int st
    cdef fnn_gemm_epilogue ep
    cdef const float[::1] bv
    if bias is not None or relu:
        if naive:
            raise ValueError("gemm: the epilogue (bias, relu) is not part of the naive kernel")
        ep.bias = NULL
        ep.relu = relu
        ep.row_bias = NULL
        if bias is not None:
            bv = bias
            if bv.shape[0] != n:
                raise ValueError(f"gemm: bias has {bv.shape[0]} entries, c has {n} columns")
            ep.bias = &bv[0] if n else NULL
        with nogil:
            st = fnn_sgemm_ep(trans_a, trans_b, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, &ep, n_threads)
        check_status(st, "gemm")
        return
    if m * n * k <= 32768:  # tiny: the GIL round trip costs more than the multiply
        if naive:
            st = fnn_sgemm_naive(trans_a, trans_b, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc)
        else:
            st = fnn_sgemm(trans_a, trans_b, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, n_threads)
    else:
        with nogil:
            if naive:
                st = fnn_sgemm_naive(trans_a, trans_b, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc)
            else:
                st = fnn_sgemm(trans_a, trans_b, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, n_threads)
    check_status(st, "gemm")


def gemm_orient_mode(mode=None):
    """Orientation of the packed SGEMM: -1 chosen per shape (default), 0 always C = op(a) op(b), 1 always
    C^T = op(b)^T op(a)^T where the ISA has the transposed-store kernels (AVX2).  The results are bitwise the
    same in every mode.  Returns the previous mode; for tests and benchmarks."""
    global fnn_gemm_orient_mode
    cdef int old = fnn_gemm_orient_mode
    if mode is not None:
        if mode not in (-1, 0, 1):
            raise ValueError(f"gemm_orient_mode: mode must be -1, 0 or 1, got {mode!r}")
        fnn_gemm_orient_mode = mode
    return old
