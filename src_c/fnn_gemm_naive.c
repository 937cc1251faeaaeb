/* fastnn: the plain reference SGEMM (triple loop, double accumulator). */
#include "fnn_gemm.h"

// c (M,N) = alpha * op(a) (M,K) @ op(b) (K,N) + beta * c
int fnn_sgemm_naive(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                    const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta,
                    float *c, ptrdiff_t ldc) {
    if (m < 0 || n < 0 || k < 0) return FNN_ERR_ARG;
    for (ptrdiff_t i = 0; i < m; i++) {
        for (ptrdiff_t j = 0; j < n; j++) {
            double s = 0.0;
            for (ptrdiff_t p = 0; p < k; p++) {
                float av = trans_a ? a[p * lda + i] : a[i * lda + p];
                float bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];
                s += (double)av * (double)bv;
            }
            float r = (float)((double)alpha * s);
            c[i * ldc + j] = beta == 0.0f ? r : r + beta * c[i * ldc + j];
        }
    }
    return FNN_OK;
}
