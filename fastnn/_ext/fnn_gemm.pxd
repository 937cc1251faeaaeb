# Mirrors src_c/fnn_gemm.h
cdef extern from "fnn_gemm.h" nogil:
    int fnn_sgemm(int trans_a, int trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, float alpha,
                  const float *a, Py_ssize_t lda, const float *b, Py_ssize_t ldb, float beta,
                  float *c, Py_ssize_t ldc, int n_threads)
    int fnn_sgemm_naive(int trans_a, int trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, float alpha,
                        const float *a, Py_ssize_t lda, const float *b, Py_ssize_t ldb, float beta,
                        float *c, Py_ssize_t ldc)
    ctypedef struct fnn_gemm_epilogue:
        const float *bias
        int relu
        const float *row_bias
    int fnn_sgemm_ep(int trans_a, int trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, float alpha,
                     const float *a, Py_ssize_t lda, const float *b, Py_ssize_t ldb, float beta,
                     float *c, Py_ssize_t ldc, const fnn_gemm_epilogue *ep, int n_threads)
    int fnn_gemm_orient_mode
