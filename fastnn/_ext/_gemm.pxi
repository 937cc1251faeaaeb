# GEMM bridge.
from fnn_gemm cimport *


def sgemm(float[:, ::1] a, float[:, ::1] b, float[:, ::1] c, float alpha, float beta,
          bint trans_a, bint trans_b, int n_threads, bint naive=False):
    """c = alpha * op(a) @ op(b) + beta * c on C-contiguous float32 arrays (shapes checked by the caller)."""
    cdef Py_ssize_t m = c.shape[0], n = c.shape[1]
    cdef Py_ssize_t k = a.shape[0] if trans_a else a.shape[1]
    cdef int st
    with nogil:
        if naive:
            st = fnn_sgemm_naive(trans_a, trans_b, m, n, k, alpha, &a[0, 0] if a.shape[0] * a.shape[1] else NULL,
                                 a.strides[0] // 4, &b[0, 0] if b.shape[0] * b.shape[1] else NULL, b.strides[0] // 4, beta,
                                 &c[0, 0] if m * n else NULL, c.strides[0] // 4)
        else:
            st = fnn_sgemm(trans_a, trans_b, m, n, k, alpha, &a[0, 0] if a.shape[0] * a.shape[1] else NULL,
                           a.strides[0] // 4, &b[0, 0] if b.shape[0] * b.shape[1] else NULL, b.strides[0] // 4, beta,
                           &c[0, 0] if m * n else NULL, c.strides[0] // 4, n_threads)
    check_status(st, "gemm")
