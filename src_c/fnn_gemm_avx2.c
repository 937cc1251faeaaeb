/* fastnn: AVX2+FMA SGEMM micro-kernels (6 x 16 register tile: 12 ymm accumulators), per-function target. */
#include "fnn_gemm_kernels.h"

#ifdef FNN_GEMM_X86
#include <immintrin.h>

#define MR 6
#define NR 16

/* Lane mask for the columns [8 * v, nr) of an 8-float vector v (all lanes when the vector is full). */
static inline FNN_TARGET_AVX2 __attribute__((always_inline)) __m256i
lane_mask(int nr, int v) {
    __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8 * v), idx);
}

/* c rows [0, mr) x columns [0, nr) = alpha * acc + beta * c; a partial tile goes through lane masks (never
   touches past nr).  No temporary tile: a local array that the accumulators are stored into makes GCC keep
   them in memory and spill all twelve on every k step (a third of the FMA rate). */
static inline FNN_TARGET_AVX2 __attribute__((always_inline)) void
ukr_store(__m256 acc[MR][2], float *FNN_RESTRICT c, ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    if (mr == MR && nr == NR) {
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            float *ci = c + i * ldc;
            __m256 r0 = _mm256_mul_ps(va, acc[i][0]), r1 = _mm256_mul_ps(va, acc[i][1]);
            if (beta != 0.0f) {
                r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), r0);
                r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8), r1);
            }
            _mm256_storeu_ps(ci, r0);
            _mm256_storeu_ps(ci + 8, r1);
        }
        return;
    }
    __m256i m0 = lane_mask(nr, 0), m1 = lane_mask(nr, 1);
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
        if (i >= mr) break;
        float *ci = c + i * ldc;
        __m256 r0 = _mm256_mul_ps(va, acc[i][0]), r1 = _mm256_mul_ps(va, acc[i][1]);
        if (beta != 0.0f) {
            r0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(ci, m0), r0);
            if (nr > 8) r1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(ci + 8, m1), r1);
        }
        _mm256_maskstore_ps(ci, m0, r0);
        if (nr > 8) _mm256_maskstore_ps(ci + 8, m1, r1);
    }
}

// c (6,16) = alpha * a (6,k) [a[p*sa + i]] @ b (k,16) [b[p*rsb + j]] + beta * c
static FNN_TARGET_AVX2 void ukr_col(ptrdiff_t k, const float *FNN_RESTRICT a, ptrdiff_t sa,
                                    const float *FNN_RESTRICT b, ptrdiff_t rsb, float *FNN_RESTRICT c,
                                    ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (ptrdiff_t p = 0; p < k; p++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            __m256 ai = _mm256_broadcast_ss(a + i);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
        a += sa;
        b += rsb;
    }
    ukr_store(acc, c, ldc, alpha, beta, mr, nr);
}

// c (6,16) = alpha * a (6,k) [a[i*sa + p]] @ b (k,16) [b[p*rsb + j]] + beta * c
static FNN_TARGET_AVX2 void ukr_row(ptrdiff_t k, const float *FNN_RESTRICT a, ptrdiff_t sa,
                                    const float *FNN_RESTRICT b, ptrdiff_t rsb, float *FNN_RESTRICT c,
                                    ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    const float *a0 = a, *a3 = a + 3 * sa;
    for (ptrdiff_t p = 0; p < k; p++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        const float *r[2] = {a0, a3};
#pragma GCC unroll 2
        for (int g = 0; g < 2; g++) {
#pragma GCC unroll 3
            for (int q = 0; q < 3; q++) {
                __m256 ai = _mm256_broadcast_ss(r[g] + q * sa);
                acc[3 * g + q][0] = _mm256_fmadd_ps(ai, b0, acc[3 * g + q][0]);
                acc[3 * g + q][1] = _mm256_fmadd_ps(ai, b1, acc[3 * g + q][1]);
            }
        }
        a0++; a3++;
        b += rsb;
    }
    ukr_store(acc, c, ldc, alpha, beta, mr, nr);
}

static const fnn_gemm_arch_t arch_avx2 = {MR, NR, 256, 1024, ukr_col, ukr_row, NULL, NULL, fnn_gemm_pack_a,
                                              fnn_gemm_pack_b};

const fnn_gemm_arch_t *fnn_gemm_arch_avx2(void) { return &arch_avx2; }

#else
const fnn_gemm_arch_t *fnn_gemm_arch_avx2(void) { return fnn_gemm_arch_generic(); }
#endif
