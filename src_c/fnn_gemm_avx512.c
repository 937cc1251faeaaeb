/* fastnn: AVX-512 SGEMM micro-kernels (12 x 32 register tile: 24 zmm accumulators), per-function target. */
#include "fnn_gemm_avx512.h"

#ifdef FNN_GEMM_X86

#define MR 12
#define NR 32
#ifndef KC_AVX512
#define KC_AVX512 256   /* depth block: A panel 12 x KC (12 KiB) in L1 */
#endif
#ifndef NC_AVX512
#define NC_AVX512 1024  /* width block: B block KC x NC (1 MiB) in L2 */
#endif

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

/* Brings the C tile toward L1 while the k loop runs (its lines are read back at the end: beta != 0, or the
   partial sums of an earlier depth block); only rows < mr, so no line outside C is touched. */
static inline FNN_TARGET_AVX512 __attribute__((always_inline)) void
prefetch_c(float *c, ptrdiff_t ldc, int NV, float beta, int mr) {
    if (beta == 0.0f) return;
    for (int i = 0; i < mr; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        if (NV > 1) _mm_prefetch((const char *)(c + i * ldc + 16), _MM_HINT_T0);
    }
}

/* Column-form A (a[p*sa + i]): packed panels and A^T read in place. */
#define UKR_COL(NAME, NV)                                                                                        \
    static FNN_TARGET_AVX512 void NAME(ptrdiff_t k, const float *FNN_RESTRICT a, ptrdiff_t sa,                  \
                                       const float *FNN_RESTRICT b, ptrdiff_t rsb, float *FNN_RESTRICT c,       \
                                       ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {                \
        __m512 acc[MR][2];                                                                                       \
        for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();                               \
        prefetch_c(c, ldc, NV, beta, mr);                                                                        \
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
        prefetch_c(c, ldc, NV, beta, mr);                                                                        \
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

// dst (kc, MR) panel = op(a) rows [0, mr) x columns [0, kc), rows mr..MR-1 zero; 16x16 in-register transposes
static FNN_TARGET_AVX512 void pack_a(float *FNN_RESTRICT dst, const float *FNN_RESTRICT a, ptrdiff_t lda,
                                     int trans_a, ptrdiff_t kc, int mr, int mrp) {
    const __mmask16 mrow = fnn_tail_mask16(mr), mst = fnn_tail_mask16(mrp);
    if (trans_a) {  /* A^T stored (K, M): each step's mr values are contiguous */
        for (ptrdiff_t p = 0; p < kc; p++) _mm512_mask_storeu_ps(dst + p * mrp, mst, _mm512_maskz_loadu_ps(mrow, a + p * lda));
        return;
    }
    for (ptrdiff_t p0 = 0; p0 < kc; p0 += 16) {
        int kp = (int)(kc - p0 < 16 ? kc - p0 : 16);
        __mmask16 mk = fnn_tail_mask16(kp);
        __m512 r[16];
        for (int i = 0; i < 16; i++) r[i] = i < mr ? _mm512_maskz_loadu_ps(mk, a + i * lda + p0) : _mm512_setzero_ps();
        fnn_transpose16(r);
        for (int q = 0; q < kp; q++) _mm512_mask_storeu_ps(dst + (p0 + q) * mrp, mst, r[q]);
    }
}

// dst (kc, NR) panel = op(b) rows [0, kc) x columns [0, nr), columns nr..NR-1 zero (NR a multiple of 16)
static FNN_TARGET_AVX512 void pack_b(float *FNN_RESTRICT dst, const float *FNN_RESTRICT b, ptrdiff_t ldb,
                                     int trans_b, ptrdiff_t kc, int nr, int nrp) {
    if (!trans_b) {  /* B stored (K, N): row copies through masks */
        for (ptrdiff_t p = 0; p < kc; p++)
            for (int v = 0; v < nrp; v += 16)
                _mm512_storeu_ps(dst + p * nrp + v, _mm512_maskz_loadu_ps(fnn_tail_mask16(nr - v), b + p * ldb + v));
        return;
    }
    for (ptrdiff_t p0 = 0; p0 < kc; p0 += 16) {  /* B^T stored (N, K): 16 columns at a time */
        int kp = (int)(kc - p0 < 16 ? kc - p0 : 16);
        __mmask16 mk = fnn_tail_mask16(kp);
        for (int v = 0; v < nrp; v += 16) {
            __m512 r[16];
            for (int j = 0; j < 16; j++)
                r[j] = v + j < nr ? _mm512_maskz_loadu_ps(mk, b + (v + j) * ldb + p0) : _mm512_setzero_ps();
            fnn_transpose16(r);
            for (int q = 0; q < kp; q++) _mm512_storeu_ps(dst + (p0 + q) * nrp + v, r[q]);
        }
    }
}

/* no transposed-store kernels (the C^T orientation): unmeasured for the 12 x 32 tile, no AVX-512 machine lent;
   a_direct_n 64: the limit it was tuned with */
static const fnn_gemm_arch_t arch_avx512 = {MR, NR, KC_AVX512, NC_AVX512, ukr_col, ukr_row, ukr_col16, ukr_row16,
                                            pack_a, pack_b, NULL, NULL, NULL, NULL,
                                            NULL, NULL, NULL, NULL, 64};

const fnn_gemm_arch_t *fnn_gemm_arch_avx512(void) { return &arch_avx512; }

#else
const fnn_gemm_arch_t *fnn_gemm_arch_avx512(void) { return fnn_gemm_arch_generic(); }
#endif
