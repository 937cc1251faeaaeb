/* fastnn: SGEMM driver.  PLACEHOLDER until the packed, blocked, threaded kernel lands: calls the naive one. */
#include "fnn_gemm.h"

int fnn_sgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
              const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta,
              float *c, ptrdiff_t ldc, int n_threads) {
    (void)n_threads;
    return fnn_sgemm_naive(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
