/* fastnn: AVX2+FMA SGEMM micro-kernels (6 x 16 register tile: 12 ymm accumulators; 6 x 8 for a narrow last
   panel), packing, per-function target. */
#include "fnn_avx2.h"
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

/* c rows [0, mr) x columns [0, nr) = alpha * acc + beta * c; the partial vector of a narrow tile is read and
   written in 4-, 2- and 1-float moves, never past nr (vmaskmovps stores, which this used, cost 10% of
   36864x25x20 and 128x100x10 on Zen 3; masked loads are cheap there, pack_b keeps them).  No temporary tile:
   a local array that the accumulators are stored into makes GCC keep them in memory and spill all twelve on
   every k step (a third of the FMA rate).  NV = 2: a 16-wide tile; NV = 1: the 8-wide tile used for a narrow
   last panel. */
static inline FNN_TARGET_AVX2 __attribute__((always_inline)) void
ukr_store(__m256 acc[MR][2], int NV, float *FNN_RESTRICT c, ptrdiff_t ldc, float alpha, float beta, int mr,
          int nr) {
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    if (mr == MR && nr == 8 * NV) {
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            float *ci = c + i * ldc;
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) {
                __m256 r = _mm256_mul_ps(va, acc[i][v]);
                if (beta != 0.0f) r = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8 * v), r);
                _mm256_storeu_ps(ci + 8 * v, r);
            }
        }
        return;
    }
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
        if (i >= mr) break;
        float *ci = c + i * ldc;
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) {
            if (v == 1 && nr <= 8) break;
            __m256 r = _mm256_mul_ps(va, acc[i][v]);
            if (nr >= 8 * (v + 1)) {
                if (beta != 0.0f) r = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8 * v), r);
                _mm256_storeu_ps(ci + 8 * v, r);
            } else {
                if (beta != 0.0f) r = _mm256_fmadd_ps(vb, fnn_load_first(ci + 8 * v, nr - 8 * v), r);
                fnn_store_first(ci + 8 * v, r, nr - 8 * v);
            }
        }
    }
}

/* The transposed tile: acc[i][v] lane l is C[8 v + l][i], for the driver's C^T = op(B)^T @ op(A)^T orientation
   (fnn_gemm.c: the 6-row broadcast side runs along C's columns, the 16 vector lanes along its rows).  The same
   alpha / beta arithmetic as ukr_store, so either orientation gives bitwise the same C; 8 x 8 register
   transposes (two zero rows), then rows of mr floats in plain 4 + 2-float moves (nr rows, never past them). */
static inline FNN_TARGET_AVX2 __attribute__((always_inline)) void
ukr_store_t(__m256 acc[MR][2], int NV, float *FNN_RESTRICT c, ptrdiff_t ldc, float alpha, float beta, int mr,
            int nr) {
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    const __m128 vb4 = _mm_set1_ps(beta);
#pragma GCC unroll 2
    for (int v = 0; v < NV; v++) {
        if (8 * v >= nr) break;
        __m256 r[8];
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) r[i] = _mm256_mul_ps(va, acc[i][v]);
        r[6] = r[7] = _mm256_setzero_ps();
        fnn_transpose8(r);
        const int rows = nr - 8 * v < 8 ? nr - 8 * v : 8;
        float *cv = c + 8 * v * ldc;
        if (mr == MR) {
#pragma GCC unroll 8
            for (int l = 0; l < 8; l++) {
                if (l >= rows) break;
                float *cl = cv + l * ldc;
                __m128 lo = _mm256_castps256_ps128(r[l]), hi = _mm256_extractf128_ps(r[l], 1);
                if (beta != 0.0f) {
                    lo = _mm_fmadd_ps(vb4, _mm_loadu_ps(cl), lo);
                    hi = _mm_fmadd_ps(vb4, _mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)(cl + 4)), hi);
                }
                _mm_storeu_ps(cl, lo);
                _mm_storel_pi((__m64 *)(cl + 4), hi);
            }
        } else {
#pragma GCC unroll 8
            for (int l = 0; l < 8; l++) {
                if (l >= rows) break;
                float *cl = cv + l * ldc;
                __m256 x = r[l];
                if (beta != 0.0f) x = _mm256_fmadd_ps(vb, fnn_load_first(cl, mr), x);
                fnn_store_first(cl, x, mr);
            }
        }
    }
}

/* Column-form A (a[p*sa + i]): packed panels and A^T read in place.
   c (6, 8 NV) = alpha * a (6,k) @ b (k, 8 NV) [b[p*rsb + j]] + beta * c */
#define UKR_COL(NAME, NV, STORE, MRK)                                                                           \
    static FNN_TARGET_AVX2 void NAME(ptrdiff_t k, const float *FNN_RESTRICT a, ptrdiff_t sa,                    \
                                     const float *FNN_RESTRICT b, ptrdiff_t rsb, float *FNN_RESTRICT c,         \
                                     ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {                  \
        __m256 acc[MR][2];                                                                                       \
        _Pragma("GCC unroll 6") for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();       \
        for (ptrdiff_t p = 0; p < k; p++) {                                                                      \
            __m256 b0 = _mm256_loadu_ps(b), b1 = NV > 1 ? _mm256_loadu_ps(b + 8) : b0;                          \
            _Pragma("GCC unroll 6") for (int i = 0; i < MRK; i++) {                                             \
                __m256 ai = _mm256_broadcast_ss(a + i);                                                          \
                acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);                                                  \
                if (NV > 1) acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);                                      \
            }                                                                                                    \
            a += sa;                                                                                             \
            b += rsb;                                                                                            \
        }                                                                                                        \
        STORE(acc, NV, c, ldc, alpha, beta, mr, nr);                                                             \
    }

/* Row-form A (a[i*sa + p]): A stored (M, K) read in place (two groups of three row pointers). */
#define UKR_ROW(NAME, NV, STORE, MRK)                                                                           \
    static FNN_TARGET_AVX2 void NAME(ptrdiff_t k, const float *FNN_RESTRICT a, ptrdiff_t sa,                    \
                                     const float *FNN_RESTRICT b, ptrdiff_t rsb, float *FNN_RESTRICT c,         \
                                     ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {                  \
        __m256 acc[MR][2];                                                                                       \
        _Pragma("GCC unroll 6") for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();       \
        const float *a0 = a, *a3 = a + 3 * sa;                                                                   \
        for (ptrdiff_t p = 0; p < k; p++) {                                                                      \
            __m256 b0 = _mm256_loadu_ps(b), b1 = NV > 1 ? _mm256_loadu_ps(b + 8) : b0;                          \
            const float *r[2] = {a0, a3};                                                                        \
            _Pragma("GCC unroll 2") for (int g = 0; g < 2; g++) {                                               \
                _Pragma("GCC unroll 3") for (int q = 0; q < 3; q++) {                                           \
                    if (3 * g + q >= MRK) break;                                                                 \
                    __m256 ai = _mm256_broadcast_ss(r[g] + q * sa);                                              \
                    acc[3 * g + q][0] = _mm256_fmadd_ps(ai, b0, acc[3 * g + q][0]);                              \
                    if (NV > 1) acc[3 * g + q][1] = _mm256_fmadd_ps(ai, b1, acc[3 * g + q][1]);                  \
                }                                                                                                \
            }                                                                                                    \
            a0++;                                                                                                \
            a3++;                                                                                                \
            b += rsb;                                                                                            \
        }                                                                                                        \
        STORE(acc, NV, c, ldc, alpha, beta, mr, nr);                                                             \
    }

/* MRK: rows computed (MR, or MR - 1 for the short tiles the driver uses so that M needs no padding rows: with
   ten accumulators the FMA pipes still have more independent chains than their latency needs) */
UKR_COL(ukr_col, 2, ukr_store, MR)
UKR_COL(ukr_col8, 1, ukr_store, MR)
UKR_ROW(ukr_row, 2, ukr_store, MR)
UKR_ROW(ukr_row8, 1, ukr_store, MR)
UKR_COL(ukr_col_t, 2, ukr_store_t, MR)
UKR_COL(ukr_col8_t, 1, ukr_store_t, MR)
UKR_ROW(ukr_row_t, 2, ukr_store_t, MR)
UKR_ROW(ukr_row8_t, 1, ukr_store_t, MR)
UKR_COL(ukr_col5, 2, ukr_store, MR - 1)
UKR_ROW(ukr_row5, 2, ukr_store, MR - 1)
UKR_COL(ukr_col5_t, 2, ukr_store_t, MR - 1)
UKR_ROW(ukr_row5_t, 2, ukr_store_t, MR - 1)

/* Panel of NR columns and kc steps: dst[p * NR + j] = op(B)[p, j] for j < nr, 0 for nr <= j < NR. */
static FNN_TARGET_AVX2 void pack_b(float *FNN_RESTRICT dst, const float *FNN_RESTRICT b, ptrdiff_t ldb,
                                   int trans_b, ptrdiff_t kc, int nr, int NRp) {
    (void)NRp;   /* always NR: the driver packs for this ISA's own tile */
    if (!trans_b) {  /* B stored (K, N): a row of nr floats per step, masked past nr (reads nothing there) */
        if (nr == NR) {
            for (ptrdiff_t p = 0; p < kc; p++) {
                _mm256_store_ps(dst + p * NR, _mm256_loadu_ps(b + p * ldb));
                _mm256_store_ps(dst + p * NR + 8, _mm256_loadu_ps(b + p * ldb + 8));
            }
            return;
        }
        const __m256i m0 = lane_mask(nr, 0), m1 = lane_mask(nr, 1);
        for (ptrdiff_t p = 0; p < kc; p++) {
            _mm256_store_ps(dst + p * NR, _mm256_maskload_ps(b + p * ldb, m0));
            _mm256_store_ps(dst + p * NR + 8, _mm256_maskload_ps(b + p * ldb + 8, m1));
        }
        return;
    }
    /* B^T stored (N, K): 8 x 8 transposes, columns past nr are zero rows of the transpose */
    ptrdiff_t p0 = 0;
    for (; p0 + 8 <= kc; p0 += 8) {
        for (int h = 0; h < 2; h++) {
            __m256 r[8];
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                r[j] = 8 * h + j < nr ? _mm256_loadu_ps(b + (8 * h + j) * ldb + p0) : _mm256_setzero_ps();
            fnn_transpose8(r);
#pragma GCC unroll 8
            for (int q = 0; q < 8; q++) _mm256_store_ps(dst + (p0 + q) * NR + 8 * h, r[q]);
        }
    }
    for (ptrdiff_t p = p0; p < kc; p++)
        for (int j = 0; j < NR; j++) dst[p * NR + j] = j < nr ? b[j * ldb + p] : 0.0f;
}

/* Panel of MR rows and kc steps: dst[p * MR + i] = op(A)[i, p] for i < mr, 0 for mr <= i < MR. */
static FNN_TARGET_AVX2 void pack_a(float *FNN_RESTRICT dst, const float *FNN_RESTRICT a, ptrdiff_t lda,
                                   int trans_a, ptrdiff_t kc, int mr, int MRp) {
    (void)MRp;   /* always MR */
    /* No masked loads or stores (slow on Zen 3): 4 + 2 floats per step in 128-bit halves */
    if (trans_a) {  /* A^T stored (K, M): mr contiguous floats per step */
        if (mr < MR) {
            fnn_gemm_pack_a(dst, a, lda, trans_a, kc, mr, MR);
            return;
        }
        for (ptrdiff_t p = 0; p < kc; p++) {
            const float *src = a + p * lda;
            _mm_storeu_ps(dst + p * MR, _mm_loadu_ps(src));
            _mm_storel_pi((__m64 *)(dst + p * MR + 4), _mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)(src + 4)));
        }
        return;
    }
    /* A stored (M, K): 8 x 8 transposes of the mr rows (zero rows below), 6 lanes stored per step */
    ptrdiff_t p0 = 0;
    for (; p0 + 8 <= kc; p0 += 8) {
        __m256 r[8];
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) r[i] = i < mr ? _mm256_loadu_ps(a + i * lda + p0) : _mm256_setzero_ps();
        fnn_transpose8(r);
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++) {
            float *d = dst + (p0 + q) * MR;
            _mm_storeu_ps(d, _mm256_castps256_ps128(r[q]));
            _mm_storel_pi((__m64 *)(d + 4), _mm256_extractf128_ps(r[q], 1));
        }
    }
    for (ptrdiff_t p = p0; p < kc; p++)
        for (int i = 0; i < MR; i++) dst[p * MR + i] = i < mr ? a[i * lda + p] : 0.0f;
}

/* KC 512 (was 256): K = 784 in two blocks of 392 rather than four of 196, 1024 in two of 512 (each kernel call
   loads and stores its C tile once per two to four times the steps; C is swept half as often or less); the A
   panel, 6 x 512 floats (12 KiB), stays in L1, the B block (512 x 1024, 2 MiB) streams from L3.  dev-zen3,
   paired builds with the slot bias divided out (bench/gemm_ab_pair.py), KC 400 against 256 on 1 thread:
   128x784x1024 +1.7-4.2%, 1024x784x1024 +4.0-5.4%, 2048^3 +4.8%, 128x1024x1024 +3.2%, 1024^3 +0.5-4.8%
   (2 threads +0.6-8%); then 512 against 400: 512^3, 1024^3, 2048^3 and 128x1024x1024 B^T +2.4-3.1% on 1
   thread, -1.7 to +3.8% on 2 (K = 784 the same code: 1.001).
   A row-major A read in place up to N = 128 (was 64): dev-zen3, 1 thread, interleaved in one process, against
   packing it: 256x54x100 +7-10%, 10x784x100 +2-6%, 128x784x100 +3-5%, 128x100x128 +4-5%; N = 160-256 gained
   2-3% in the host's fast state but lost 4-15% in its slow one (bench/RESULTS.md), so not there. */
static const fnn_gemm_arch_t arch_avx2 = {MR, NR, 512, 1024, ukr_col, ukr_row, ukr_col8, ukr_row8, pack_a, pack_b,
                                           ukr_col_t, ukr_row_t, ukr_col8_t, ukr_row8_t,
                                           ukr_col5, ukr_row5, ukr_col5_t, ukr_row5_t, 128};

const fnn_gemm_arch_t *fnn_gemm_arch_avx2(void) { return &arch_avx2; }

#else
const fnn_gemm_arch_t *fnn_gemm_arch_avx2(void) { return fnn_gemm_arch_generic(); }
#endif
