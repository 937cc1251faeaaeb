/* fastnn: small utilities over flat buffers. */
#include "fnn_util.h"
#include "fnn_cpu.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef FNN_X86_TARGETS
#include <immintrin.h>
#endif

#define FNN_SCAN_CHUNK 16384

/* 1 when some element of x (n) is not finite: OR of (exponent bits all ones), vectorisable. */
static int chunk_has_nonfinite_generic(const float *x, ptrdiff_t n) {
    uint32_t any = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, x + i, sizeof b);
        any |= (uint32_t)((b & 0x7F800000u) == 0x7F800000u);
    }
    return any != 0;
}

#ifdef FNN_X86_TARGETS
FNN_TARGET_AVX2 static int chunk_has_nonfinite_avx2(const float *x, ptrdiff_t n) {
    const ptrdiff_t nv = n & ~(ptrdiff_t)31;
    const __m256i expo = _mm256_set1_epi32(0x7F800000);
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
#define FNN_NONFINITE8(p) _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_loadu_si256((const __m256i *)(p)), expo), expo)
    for (ptrdiff_t i = 0; i < nv; i += 32) {
        a0 = _mm256_or_si256(a0, FNN_NONFINITE8(x + i));
        a1 = _mm256_or_si256(a1, FNN_NONFINITE8(x + i + 8));
        a2 = _mm256_or_si256(a2, FNN_NONFINITE8(x + i + 16));
        a3 = _mm256_or_si256(a3, FNN_NONFINITE8(x + i + 24));
    }
#undef FNN_NONFINITE8
    a0 = _mm256_or_si256(_mm256_or_si256(a0, a1), _mm256_or_si256(a2, a3));
    return !_mm256_testz_si256(a0, a0) || chunk_has_nonfinite_generic(x + nv, n - nv);
}

FNN_TARGET_AVX512 static int chunk_has_nonfinite_avx512(const float *x, ptrdiff_t n) {
    const ptrdiff_t nv = n & ~(ptrdiff_t)63;
    __mmask16 any = 0;
    for (ptrdiff_t i = 0; i < nv; i += 64)   // QNaN | +Inf | -Inf | SNaN
        any |= (__mmask16)(_mm512_fpclass_ps_mask(_mm512_loadu_ps(x + i), 0x99) |
                           _mm512_fpclass_ps_mask(_mm512_loadu_ps(x + i + 16), 0x99) |
                           _mm512_fpclass_ps_mask(_mm512_loadu_ps(x + i + 32), 0x99) |
                           _mm512_fpclass_ps_mask(_mm512_loadu_ps(x + i + 48), 0x99));
    for (ptrdiff_t i = nv; i < n; i += 16) {
        const ptrdiff_t left = n - i;
        const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        any |= _mm512_mask_fpclass_ps_mask(m, _mm512_maskz_loadu_ps(m, x + i), 0x99);
    }
    return any != 0;
}
#endif

static int chunk_has_nonfinite(const float *x, ptrdiff_t n) {
#ifdef FNN_X86_TARGETS
    if (fnn_get_isa() == FNN_ISA_AVX512) return chunk_has_nonfinite_avx512(x, n);
    if (fnn_get_isa() == FNN_ISA_AVX2) return chunk_has_nonfinite_avx2(x, n);
#endif
    return chunk_has_nonfinite_generic(x, n);
}

// first index of x (n) that is NaN/Inf, or -1
ptrdiff_t fnn_first_nonfinite(const float *x, ptrdiff_t n, int n_threads) {
    ptrdiff_t n_chunks = (n + FNN_SCAN_CHUNK - 1) / FNN_SCAN_CHUNK, first_bad = n_chunks;
    int nt = fnn_threads_for((double)n, n_threads);
    (void)nt;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) reduction(min : first_bad) if (nt > 1)
#endif
    for (ptrdiff_t c = 0; c < n_chunks; c++) {
        ptrdiff_t lo = c * FNN_SCAN_CHUNK, len = n - lo < FNN_SCAN_CHUNK ? n - lo : FNN_SCAN_CHUNK;
        if (c < first_bad && chunk_has_nonfinite(x + lo, len)) first_bad = c;
    }
    if (first_bad == n_chunks) return -1;
    for (ptrdiff_t i = first_bad * FNN_SCAN_CHUNK; i < n; i++) {
        uint32_t b;
        memcpy(&b, x + i, sizeof b);
        if ((b & 0x7F800000u) == 0x7F800000u) return i;
    }
    return -1;
}


/* Column moments.  Each column's sums run over the rows in order, in double, of the values shifted by the
   first row (k): s1 = sum (x - k), s2 = sum (x - k)^2.  A NaN or Inf anywhere in a column leaves s1 or s2
   non-finite (Inf - Inf and NaN propagate, and no finite float32 input can overflow a double sum), so the
   NaN/Inf check costs nothing in the inner loop: it is a look at the sums at the end.  The SIMD paths keep
   the sums of a column chunk in registers over a tile of rows (the tile stays in L2 while the chunks walk
   across it, and each row prefetches its chunk of the row one tile below: the hardware prefetchers do not
   follow this many strided streams).  Column blocks are multiples of 32 columns, so each column meets the
   same code (vector lane or scalar tail) in every block. */
#define MOMENTS_ROW_TILE 32
#define MOMENTS_ROW_BLOCK 4096
#define MOMENTS_MAX_ROW_BLOCKS 64
#define MOMENTS_COL_BLOCK 1024   // a multiple of 32

// s1, s2 (w) += sums over rows [0, n) of columns [j0, j0 + w), plain C (auto-vectorised)
FNN_INLINE void moments_cols_scalar(double *FNN_RESTRICT s1, double *FNN_RESTRICT s2, const float *x,
                                    ptrdiff_t n, ptrdiff_t d, ptrdiff_t j0, ptrdiff_t w,
                                    const float *FNN_RESTRICT k) {
    for (ptrdiff_t i = 0; i < n; i++) {
        const float *FNN_RESTRICT r = x + i * d + j0;
        for (ptrdiff_t j = 0; j < w; j++) {
            double v = (double)r[j] - (double)k[j];
            s1[j] += v;
            s2[j] += v * v;
        }
    }
}

static void moments_generic(double *s1, double *s2, const float *x, ptrdiff_t n, ptrdiff_t d, ptrdiff_t j0,
                            ptrdiff_t w, const float *k) {
    moments_cols_scalar(s1, s2, x, n, d, j0, w, k);
}

#ifdef FNN_X86_TARGETS
/* 16 columns per chunk: 4 ymm of double sums for s1 and 4 for s2 */
FNN_TARGET_AVX2 static void moments_avx2(double *s1, double *s2, const float *x, ptrdiff_t n, ptrdiff_t d,
                                         ptrdiff_t j0, ptrdiff_t w, const float *k) {
    const ptrdiff_t wv = w & ~(ptrdiff_t)15;
    for (ptrdiff_t i0 = 0; i0 < n; i0 += MOMENTS_ROW_TILE) {
        const ptrdiff_t i1 = n - i0 < MOMENTS_ROW_TILE ? n : i0 + MOMENTS_ROW_TILE;
        for (ptrdiff_t j = 0; j < wv; j += 16) {
            __m256d a[4], b[4], kk[4];
            for (int q = 0; q < 4; q++) {
                a[q] = _mm256_loadu_pd(s1 + j + 4 * q);
                b[q] = _mm256_loadu_pd(s2 + j + 4 * q);
                kk[q] = _mm256_cvtps_pd(_mm_loadu_ps(k + j + 4 * q));
            }
            for (ptrdiff_t i = i0; i < i1; i++) {
                const float *r = x + i * d + j0 + j;
                if (i + MOMENTS_ROW_TILE < n) _mm_prefetch((const char *)(r + MOMENTS_ROW_TILE * d), _MM_HINT_T0);
                for (int q = 0; q < 4; q++) {
                    __m256d v = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(r + 4 * q)), kk[q]);
                    a[q] = _mm256_add_pd(a[q], v);
                    b[q] = _mm256_fmadd_pd(v, v, b[q]);
                }
            }
            for (int q = 0; q < 4; q++) {
                _mm256_storeu_pd(s1 + j + 4 * q, a[q]);
                _mm256_storeu_pd(s2 + j + 4 * q, b[q]);
            }
        }
    }
    if (wv < w) moments_cols_scalar(s1 + wv, s2 + wv, x, n, d, j0 + wv, w - wv, k + wv);
}

/* 32 columns per chunk: 4 zmm of double sums for s1 and 4 for s2; the last chunk is masked (no read past
   the row) */
FNN_TARGET_AVX512 static void moments_avx512(double *s1, double *s2, const float *x, ptrdiff_t n, ptrdiff_t d,
                                             ptrdiff_t j0, ptrdiff_t w, const float *k) {
    for (ptrdiff_t i0 = 0; i0 < n; i0 += MOMENTS_ROW_TILE) {
        const ptrdiff_t i1 = n - i0 < MOMENTS_ROW_TILE ? n : i0 + MOMENTS_ROW_TILE;
        for (ptrdiff_t j = 0; j < w; j += 32) {
            const ptrdiff_t left = w - j;
            const __mmask16 m0 = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
            const __mmask16 m1 = left >= 32 ? (__mmask16)0xFFFF
                                 : left > 16 ? (__mmask16)((1u << (left - 16)) - 1u) : (__mmask16)0;
            const __mmask8 md[4] = {(__mmask8)m0, (__mmask8)(m0 >> 8), (__mmask8)m1, (__mmask8)(m1 >> 8)};
            __m512d a[4], b[4], kk[4];
            for (int q = 0; q < 4; q++) {
                a[q] = _mm512_maskz_loadu_pd(md[q], s1 + j + 8 * q);
                b[q] = _mm512_maskz_loadu_pd(md[q], s2 + j + 8 * q);
            }
            for (int q = 0; q < 4; q++) kk[q] = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(md[q], k + j + 8 * q));
            for (ptrdiff_t i = i0; i < i1; i++) {
                const float *r = x + i * d + j0 + j;
                if (i + MOMENTS_ROW_TILE < n) {   // the same chunk of the next tile's row: on its way from DRAM
                    _mm_prefetch((const char *)(r + MOMENTS_ROW_TILE * d), _MM_HINT_T0);
                    if (m1) _mm_prefetch((const char *)(r + MOMENTS_ROW_TILE * d + 16), _MM_HINT_T0);
                }
                for (int q = 0; q < 4; q++) {   // 8 floats -> 8 doubles straight from memory (no shuffle)
                    const __m512d v = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_maskz_loadu_ps(md[q], r + 8 * q)), kk[q]);
                    a[q] = _mm512_add_pd(a[q], v);
                    b[q] = _mm512_fmadd_pd(v, v, b[q]);
                }
            }
            for (int q = 0; q < 4; q++) {
                _mm512_mask_storeu_pd(s1 + j + 8 * q, md[q], a[q]);
                _mm512_mask_storeu_pd(s2 + j + 8 * q, md[q], b[q]);
            }
        }
    }
}
#endif

typedef void (*moments_fn)(double *, double *, const float *, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                           const float *);

// mean (D), var (D) = column moments of x (N, D)
int fnn_col_moments(double *mean, double *var, const float *x, ptrdiff_t n, ptrdiff_t d, int n_threads) {
    if (n < 1 || d < 1) return 0;
    moments_fn fn = moments_generic;
#ifdef FNN_X86_TARGETS
    if (fnn_get_isa() == FNN_ISA_AVX512) fn = moments_avx512;
    else if (fnn_get_isa() == FNN_ISA_AVX2) fn = moments_avx2;
#endif
    /* Tasks: fixed blocks of rows (at least MOMENTS_ROW_BLOCK, at most MOMENTS_MAX_ROW_BLOCKS blocks) times
       fixed blocks of MOMENTS_COL_BLOCK columns, a function of (n, d) only; each row block sums into its own
       partial sums, added in block order at the end: the same bits for any thread count, and each thread
       streams whole row segments. */
    ptrdiff_t rb = (n + MOMENTS_MAX_ROW_BLOCKS - 1) / MOMENTS_MAX_ROW_BLOCKS;
    if (rb < MOMENTS_ROW_BLOCK) rb = MOMENTS_ROW_BLOCK;
    const ptrdiff_t nrb = (n + rb - 1) / rb, ncb = (d + MOMENTS_COL_BLOCK - 1) / MOMENTS_COL_BLOCK;
    float *k = (float *)malloc((size_t)d * sizeof(float));   // the shift: the first row
    double *part = (double *)calloc((size_t)nrb * 2 * (size_t)d, sizeof(double));
    if (!k || !part) {
        free(k);
        free(part);
        return -1;
    }
    memcpy(k, x, (size_t)d * sizeof(float));
    int nt = fnn_threads_for((double)n * (double)d, n_threads);
    (void)nt;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
#endif
    for (ptrdiff_t task = 0; task < nrb * ncb; task++) {
        const ptrdiff_t r = task / ncb, j0 = (task % ncb) * MOMENTS_COL_BLOCK;
        const ptrdiff_t i0 = r * rb, rows = n - i0 < rb ? n - i0 : rb;
        const ptrdiff_t w = d - j0 < MOMENTS_COL_BLOCK ? d - j0 : MOMENTS_COL_BLOCK;
        double *p1 = part + (size_t)r * 2 * (size_t)d;
        fn(p1 + j0, p1 + d + j0, x + i0 * d, rows, d, j0, w, k + j0);
    }
    int bad = 0;
    for (ptrdiff_t j = 0; j < d; j++) {
        double s1 = 0.0, s2 = 0.0;
        for (ptrdiff_t r = 0; r < nrb; r++) {
            s1 += part[(size_t)r * 2 * (size_t)d + (size_t)j];
            s2 += part[(size_t)r * 2 * (size_t)d + (size_t)d + (size_t)j];
        }
        if (!(fabs(s1) <= DBL_MAX) || !(s2 <= DBL_MAX)) bad = 1;   // NaN fails both comparisons
        const double m = s1 / (double)n, v = s2 / (double)n - m * m;
        mean[j] = m + (double)k[j];
        var[j] = v > 0.0 ? v : 0.0;
    }
    free(part);
    free(k);
    return bad;
}

/* Affine map of the columns.  The NaN/Inf check is on the input (exponent bits all ones), folded into the
   same pass.  Large out-of-place outputs are written with streaming stores where a row covers whole 64-byte
   lines (no read-for-ownership of lines about to be overwritten whole).  The shift comes as a float pair
   (sub + sub_lo = the double mean to 48 bits): x - sub is exact when x is near the mean (Sterbenz), so a
   mean much larger than the spread costs no accuracy. */
#define AFFINE_STREAM_BYTES (8 << 20)

static int affine_rows_generic(float *out, const float *x, const float *sub, const float *sub_lo,
                               const float *mul, ptrdiff_t n, ptrdiff_t d, int stream) {
    (void)stream;
    uint32_t any = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        const float *r = x + i * d;
        float *o = out + i * d;
        for (ptrdiff_t j = 0; j < d; j++) {
            uint32_t bits;
            memcpy(&bits, r + j, sizeof bits);
            any |= (uint32_t)((bits & 0x7F800000u) == 0x7F800000u);
            o[j] = ((r[j] - sub[j]) - sub_lo[j]) * mul[j];
        }
    }
    return any != 0;
}

#ifdef FNN_X86_TARGETS
FNN_TARGET_AVX2 static int affine_rows_avx2(float *out, const float *x, const float *sub, const float *sub_lo,
                                            const float *mul, ptrdiff_t n, ptrdiff_t d, int stream) {
    (void)stream;
    const ptrdiff_t dv = d & ~(ptrdiff_t)7;
    const __m256i expo = _mm256_set1_epi32(0x7F800000);
    __m256i any = _mm256_setzero_si256();
    uint32_t any_s = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        const float *r = x + i * d;
        float *o = out + i * d;
        for (ptrdiff_t j = 0; j < dv; j += 8) {
            const __m256 v = _mm256_loadu_ps(r + j);
            const __m256i e = _mm256_and_si256(_mm256_castps_si256(v), expo);
            any = _mm256_or_si256(any, _mm256_cmpeq_epi32(e, expo));
            const __m256 c = _mm256_sub_ps(_mm256_sub_ps(v, _mm256_loadu_ps(sub + j)),
                                           _mm256_loadu_ps(sub_lo + j));
            _mm256_storeu_ps(o + j, _mm256_mul_ps(c, _mm256_loadu_ps(mul + j)));
        }
        for (ptrdiff_t j = dv; j < d; j++) {
            uint32_t bits;
            memcpy(&bits, r + j, sizeof bits);
            any_s |= (uint32_t)((bits & 0x7F800000u) == 0x7F800000u);
            o[j] = ((r[j] - sub[j]) - sub_lo[j]) * mul[j];
        }
    }
    return any_s != 0 || !_mm256_testz_si256(any, any);
}

// ((v - sub) - lo) * mul on the lanes of m (16 columns from j)
FNN_TARGET_AVX512 static inline __m512 affine16(__m512 v, const float *sub, const float *lo, const float *mul,
                                                __mmask16 m) {
    const __m512 c = _mm512_sub_ps(_mm512_sub_ps(v, _mm512_maskz_loadu_ps(m, sub)), _mm512_maskz_loadu_ps(m, lo));
    return _mm512_mul_ps(c, _mm512_maskz_loadu_ps(m, mul));
}

FNN_TARGET_AVX512 static int affine_rows_avx512(float *out, const float *x, const float *sub, const float *sub_lo,
                                                const float *mul, ptrdiff_t n, ptrdiff_t d, int stream) {
    const __mmask16 all = (__mmask16)0xFFFF;
    __mmask16 any = 0;   // fpclass 0x99: QNaN | +Inf | -Inf | SNaN
    for (ptrdiff_t i = 0; i < n; i++) {
        const float *r = x + i * d;
        float *o = out + i * d;
        ptrdiff_t j = 0;
        if (stream) {   // a masked head up to o's next 64-byte line, then whole lines with streaming stores
            const ptrdiff_t head = (ptrdiff_t)(((64u - ((uintptr_t)o & 63u)) & 63u) / 4u);
            if (head) {
                const __mmask16 mh = (__mmask16)((1u << head) - 1u);
                const __m512 v = _mm512_maskz_loadu_ps(mh, r);
                any |= _mm512_mask_fpclass_ps_mask(mh, v, 0x99);
                _mm512_mask_storeu_ps(o, mh, affine16(v, sub, sub_lo, mul, mh));
                j = head;
            }
            for (; j + 64 <= d; j += 64) {   // a 256-byte step: 4 lines in flight per iteration
                const __m512 v0 = _mm512_loadu_ps(r + j), v1 = _mm512_loadu_ps(r + j + 16);
                const __m512 v2 = _mm512_loadu_ps(r + j + 32), v3 = _mm512_loadu_ps(r + j + 48);
                any |= (__mmask16)(_mm512_fpclass_ps_mask(v0, 0x99) | _mm512_fpclass_ps_mask(v1, 0x99) |
                                   _mm512_fpclass_ps_mask(v2, 0x99) | _mm512_fpclass_ps_mask(v3, 0x99));
                _mm512_stream_ps(o + j, affine16(v0, sub + j, sub_lo + j, mul + j, all));
                _mm512_stream_ps(o + j + 16, affine16(v1, sub + j + 16, sub_lo + j + 16, mul + j + 16, all));
                _mm512_stream_ps(o + j + 32, affine16(v2, sub + j + 32, sub_lo + j + 32, mul + j + 32, all));
                _mm512_stream_ps(o + j + 48, affine16(v3, sub + j + 48, sub_lo + j + 48, mul + j + 48, all));
            }
            for (; j + 16 <= d; j += 16) {
                const __m512 v = _mm512_loadu_ps(r + j);
                any |= _mm512_fpclass_ps_mask(v, 0x99);
                _mm512_stream_ps(o + j, affine16(v, sub + j, sub_lo + j, mul + j, all));
            }
        } else {
            for (; j + 16 <= d; j += 16) {
                const __m512 v = _mm512_loadu_ps(r + j);
                any |= _mm512_fpclass_ps_mask(v, 0x99);
                _mm512_storeu_ps(o + j, affine16(v, sub + j, sub_lo + j, mul + j, all));
            }
        }
        if (j < d) {   // the last partial vector
            const __mmask16 me = (__mmask16)((1u << (d - j)) - 1u);
            const __m512 v = _mm512_maskz_loadu_ps(me, r + j);
            any |= _mm512_mask_fpclass_ps_mask(me, v, 0x99);
            _mm512_mask_storeu_ps(o + j, me, affine16(v, sub + j, sub_lo + j, mul + j, me));
        }
    }
    if (stream) _mm_sfence();
    return any != 0;
}
#endif

typedef int (*affine_fn)(float *, const float *, const float *, const float *, const float *, ptrdiff_t, ptrdiff_t,
                         int);

// out (N, D) = ((x (N, D) - sub (D)) - sub_lo (D)) * mul (D)
int fnn_affine_cols(float *out, const float *x, const float *sub, const float *sub_lo, const float *mul,
                    ptrdiff_t n, ptrdiff_t d, int n_threads) {
    if (n < 1 || d < 1) return 0;
    affine_fn fn = affine_rows_generic;
#ifdef FNN_X86_TARGETS
    if (fnn_get_isa() == FNN_ISA_AVX512) fn = affine_rows_avx512;
    else if (fnn_get_isa() == FNN_ISA_AVX2) fn = affine_rows_avx2;
#endif
    const double bytes = 4.0 * (double)n * (double)d;
    const int stream = out != x && bytes >= AFFINE_STREAM_BYTES && d >= 64 && ((uintptr_t)out & 3u) == 0;
    int nt = fnn_threads_for(2.0 * (double)n * (double)d, n_threads);
    /* fixed row blocks per thread (elementwise: the split never changes a value) */
    const ptrdiff_t rows = (n + nt - 1) / nt;
    int bad = 0;
    (void)nt;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad) if (nt > 1)
#endif
    for (int t = 0; t < nt; t++) {
        const ptrdiff_t i0 = (ptrdiff_t)t * rows, i1 = n < i0 + rows ? n : i0 + rows;
        if (i0 < i1) bad |= fn(out + i0 * d, x + i0 * d, sub, sub_lo, mul, i1 - i0, d, stream);
    }
    return bad;
}
