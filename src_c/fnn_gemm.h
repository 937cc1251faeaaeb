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

/* An epilogue applied to each C tile right after its last K block, while the tile is in L1 (no extra pass
   over C): c[i, j] += row_bias[i] (a convolution's per-channel bias; may be NULL), then c[i, j] += bias[j]
   (a Dense layer's; may be NULL), then c = c > 0 ? c : 0 when relu.  The result is bitwise what the GEMM
   followed by those elementwise passes gives. */
typedef struct {
    const float *bias;
    int relu;
    const float *row_bias;
} fnn_gemm_epilogue;

/* fnn_sgemm with an epilogue (ep may be NULL). */
int fnn_sgemm_ep(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                 const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta,
                 float *c, ptrdiff_t ldc, const fnn_gemm_epilogue *ep, int n_threads);

/* The epilogue on the tile c (rows, cols) at row i0, column j0 of C (row_bias read from i0, bias from j0). */
void fnn_gemm_tile_epilogue(float *c, ptrdiff_t ldc, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t i0, ptrdiff_t j0,
                            const fnn_gemm_epilogue *ep);

/* Orientation of the packed driver (tests and benchmarks): -1 chosen per shape (default), 0 always C = op(A) op(B),
   1 always C^T = op(B)^T op(A)^T where the ISA has the transposed-store kernels (AVX2).  Results are bitwise the
   same in every mode. */
extern int fnn_gemm_orient_mode;

/* The plain triple loop the tests compare against (same contract, one thread). */
int fnn_sgemm_naive(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                    const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta,
                    float *c, ptrdiff_t ldc);

#endif
