/* fastnn: AVX-512 SGEMM micro-kernels (12 x 32 register tile: 24 zmm accumulators), per-function target. */
#include "fnn_gemm_kernels.h"

#ifdef FNN_GEMM_X86
#include <immintrin.h>

#define MR 12
#define NR 32

/* c rows [0, mr) x columns [0, nr) = alpha * acc + beta * c, through masks (never touches past nr).
   NV = 2: a 32-wide tile; NV = 1: the 16-wide tile used for a narrow last panel. */
static inline FNN_TARGET_AVX512 __attribute__((always_inline)) void
ukr_store(__m512 acc[MR][2], int NV, float *FNN_RESTRICT c, ptrdiff_t ldc, float alpha, float beta, int mr,
          int nr) {
    __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
    __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1u) : (__mmask16)0;
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    if (mr == MR && nr == 16 * NV) {
        for (int i = 0; i < MR; i++) {
            float *ci = c + i * ldc;
            for (int v = 0; v < NV; v++) {
                __m512 r = _mm512_mul_ps(va, acc[i][v]);
                if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci + 16 * v), r);
                _mm512_storeu_ps(ci + 16 * v, r);
            }
        }
        return;
    }
    for (int i = 0; i < MR; i++) {
        if (i >= mr) break;
        float *ci = c + i * ldc;
        for (int v = 0; v < NV; v++) {
            __mmask16 mk = v ? m1 : m0;
            __m512 r = _mm512_mul_ps(va, acc[i][v]);
            if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mk, ci + 16 * v), r);
            _mm512_mask_storeu_ps(ci + 16 * v, mk, r);
        }
    }
}

/* Column-form A (a[p*sa + i]): packed panels and A^T read in place. */
#define UKR_COL(NAME, NV)                                                                                        \
    static FNN_TARGET_AVX512 void NAME(ptrdiff_t k, const float *FNN_RESTRICT a, ptrdiff_t sa,                  \
                                       const float *FNN_RESTRICT b, ptrdiff_t rsb, float *FNN_RESTRICT c,       \
                                       ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {                \
        __m512 acc[MR][2];                                                                                       \
        for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();                               \
        for (ptrdiff_t p = 0; p < k; p++) {                                                                      \
            __m512 b0 = _mm512_loadu_ps(b), b1 = NV > 1 ? _mm512_loadu_ps(b + 16) : b0;                        \
            _Pragma("GCC unroll 12") for (int i = 0; i < MR; i++) {                                             \
                __m512 ai = _mm512_set1_ps(a[i]);                                                                \
                acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);                                                  \
                if (NV > 1) acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);                                      \
            }                                                                                                    \
            a += sa;                                                                                             \
            b += rsb;                                                                                            \
        }                                                                                                        \
        ukr_store(acc, NV, c, ldc, alpha, beta, mr, nr);                                                         \
    }

/* Row-form A (a[i*sa + p]): A stored (M, K) read in place. */
#define UKR_ROW(NAME, NV)                                                                                        \
    static FNN_TARGET_AVX512 void NAME(ptrdiff_t k, const float *FNN_RESTRICT a, ptrdiff_t sa,                  \
                                       const float *FNN_RESTRICT b, ptrdiff_t rsb, float *FNN_RESTRICT c,       \
                                       ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {                \
        __m512 acc[MR][2];                                                                                       \
        for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();                               \
        const float *a0 = a, *a3 = a + 3 * sa, *a6 = a + 6 * sa, *a9 = a + 9 * sa;                               \
        for (ptrdiff_t p = 0; p < k; p++) {                                                                      \
            __m512 b0 = _mm512_loadu_ps(b), b1 = NV > 1 ? _mm512_loadu_ps(b + 16) : b0;                        \
            const float *r[4] = {a0, a3, a6, a9};                                                                \
            _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) {                                               \
                _Pragma("GCC unroll 3") for (int q = 0; q < 3; q++) {                                           \
                    __m512 ai = _mm512_set1_ps(r[g][q * sa]);                                                    \
                    acc[3 * g + q][0] = _mm512_fmadd_ps(ai, b0, acc[3 * g + q][0]);                              \
                    if (NV > 1) acc[3 * g + q][1] = _mm512_fmadd_ps(ai, b1, acc[3 * g + q][1]);                  \
                }                                                                                                \
            }                                                                                                    \
            a0++; a3++; a6++; a9++;                                                                              \
            b += rsb;                                                                                            \
        }                                                                                                        \
        ukr_store(acc, NV, c, ldc, alpha, beta, mr, nr);                                                         \
    }

// c (12,32) = alpha * a (12,k) [a[p*sa + i]] @ b (k,32) [b[p*rsb + j]] + beta * c
UKR_COL(ukr_col, 2)
// c (12,16) = alpha * a (12,k) [a[p*sa + i]] @ b (k,16) [b[p*rsb + j]] + beta * c
UKR_COL(ukr_col16, 1)
// c (12,32) = alpha * a (12,k) [a[i*sa + p]] @ b (k,32) [b[p*rsb + j]] + beta * c
UKR_ROW(ukr_row, 2)
// c (12,16) = alpha * a (12,k) [a[i*sa + p]] @ b (k,16) [b[p*rsb + j]] + beta * c
UKR_ROW(ukr_row16, 1)

static const fnn_gemm_arch_t arch_avx512 = {MR, NR, 256, 1024, ukr_col, ukr_row, ukr_col16, ukr_row16, fnn_gemm_pack_b};

const fnn_gemm_arch_t *fnn_gemm_arch_avx512(void) { return &arch_avx512; }

#else
const fnn_gemm_arch_t *fnn_gemm_arch_avx512(void) { return fnn_gemm_arch_generic(); }
#endif
