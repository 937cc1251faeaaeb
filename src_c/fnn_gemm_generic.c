/* fastnn: portable SGEMM micro-kernels (plain C written for gcc/clang auto-vectorisation; always built). */
#include "fnn_gemm_kernels.h"

#define MR 4
#define NR 16

static inline void ukr_store(float acc[MR][NR], float *FNN_RESTRICT c, ptrdiff_t ldc, float alpha, float beta,
                             int mr, int nr) {
    if (mr == MR && nr == NR) {
        for (int i = 0; i < MR; i++) {
            float *ci = c + i * ldc;
            if (beta == 0.0f)
                for (int j = 0; j < NR; j++) ci[j] = alpha * acc[i][j];
            else
                for (int j = 0; j < NR; j++) ci[j] = alpha * acc[i][j] + beta * ci[j];
        }
        return;
    }
    for (int i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        if (beta == 0.0f)
            for (int j = 0; j < nr; j++) ci[j] = alpha * acc[i][j];
        else
            for (int j = 0; j < nr; j++) ci[j] = alpha * acc[i][j] + beta * ci[j];
    }
}

// c (4,16) = alpha * a (4,k) [a[p*sa + i]] @ b (k,16) [b[p*rsb + j]] + beta * c
static void ukr_col(ptrdiff_t k, const float *FNN_RESTRICT a, ptrdiff_t sa, const float *FNN_RESTRICT b,
                    ptrdiff_t rsb, float *FNN_RESTRICT c, ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {
    float acc[MR][NR] = {{0.0f}};
    for (ptrdiff_t p = 0; p < k; p++) {
        const float *bp = b + p * rsb;
        const float *ap = a + p * sa;
        for (int i = 0; i < MR; i++) {
            float ai = ap[i];
            for (int j = 0; j < NR; j++) acc[i][j] += ai * bp[j];
        }
    }
    ukr_store(acc, c, ldc, alpha, beta, mr, nr);
}

// c (4,16) = alpha * a (4,k) [a[i*sa + p]] @ b (k,16) [b[p*rsb + j]] + beta * c
static void ukr_row(ptrdiff_t k, const float *FNN_RESTRICT a, ptrdiff_t sa, const float *FNN_RESTRICT b,
                    ptrdiff_t rsb, float *FNN_RESTRICT c, ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {
    float acc[MR][NR] = {{0.0f}};
    for (ptrdiff_t p = 0; p < k; p++) {
        const float *bp = b + p * rsb;
        for (int i = 0; i < MR; i++) {
            float ai = a[i * sa + p];
            for (int j = 0; j < NR; j++) acc[i][j] += ai * bp[j];
        }
    }
    ukr_store(acc, c, ldc, alpha, beta, mr, nr);
}

static const fnn_gemm_arch_t arch_generic = {MR, NR, 256, 1024, ukr_col, ukr_row, NULL, NULL, fnn_gemm_pack_a,
                                              fnn_gemm_pack_b, NULL, NULL, NULL, NULL,
                                              NULL, NULL, NULL, NULL};

const fnn_gemm_arch_t *fnn_gemm_arch_generic(void) { return &arch_generic; }
