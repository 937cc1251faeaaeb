/* fastnn: single-precision matrix multiply (row-major, BLIS-style packing + register-tiled micro-kernels). */
#ifndef FNN_GEMM_H
#define FNN_GEMM_H

#include "fnn_common.h"

/* c (M,N) = alpha * op(a) (M,K) @ op(b) (K,N) + beta * c, row-major.
   op(a) = a (M,K) with row stride lda, or a^T where a is (K,M) with row stride lda (trans_a != 0); same for b.
   beta == 0 overwrites c without reading it (NaNs in c are ignored).  K == 0 scales c by beta.
   The result is bitwise identical for any n_threads (K is never split across threads).
   Returns FNN_OK, FNN_ERR_ARG (negative dims, lda/ldb/ldc too small) or FNN_ERR_NOMEM. */
int fnn_sgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
              const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta,
              float *c, ptrdiff_t ldc, int n_threads);

/* The plain triple loop the tests compare against (same contract, one thread). */
int fnn_sgemm_naive(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                    const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta,
                    float *c, ptrdiff_t ldc);

#endif
