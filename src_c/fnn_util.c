/* fastnn: small utilities over flat buffers. */
#include "fnn_util.h"
#include "fnn_cpu.h"

#include <stdlib.h>
#include <string.h>

#define FNN_SCAN_CHUNK 16384

/* 1 when some element of x (n) is not finite: OR of (exponent bits all ones), vectorisable. */
static int chunk_has_nonfinite(const float *x, ptrdiff_t n) {
    uint32_t any = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, x + i, sizeof b);
        any |= (uint32_t)((b & 0x7F800000u) == 0x7F800000u);
    }
    return any != 0;
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


/* Columns [j0, j0 + w) of x, rows in order (contiguous row segments): sums of the values shifted by the first
   row, in double; scratch holds 2 w doubles + w floats.  Returns the NaN/Inf flag. */
FNN_INLINE int moments_block(double *mean, double *var, const float *x, ptrdiff_t n, ptrdiff_t d, ptrdiff_t j0,
                             ptrdiff_t w, void *scratch) {
    double *FNN_RESTRICT s1 = (double *)scratch, *FNN_RESTRICT s2 = s1 + w;
    float *FNN_RESTRICT k = (float *)(s2 + w);
    uint32_t any = 0;
    for (ptrdiff_t j = 0; j < w; j++) { s1[j] = 0.0; s2[j] = 0.0; k[j] = x[j0 + j]; }
    for (ptrdiff_t i = 0; i < n; i++) {
        const float *FNN_RESTRICT r = x + i * d + j0;
        for (ptrdiff_t j = 0; j < w; j++) {
            uint32_t bits;
            memcpy(&bits, r + j, sizeof bits);
            any |= (uint32_t)((bits & 0x7F800000u) == 0x7F800000u);
            double v = (double)r[j] - (double)k[j];
            s1[j] += v;
            s2[j] += v * v;
        }
    }
    for (ptrdiff_t j = 0; j < w; j++) {
        double m = s1[j] / (double)n, v = s2[j] / (double)n - m * m;
        mean[j0 + j] = m + (double)k[j];
        var[j0 + j] = v > 0.0 ? v : 0.0;
    }
    return any != 0;
}

typedef int (*moments_fn)(double *, double *, const float *, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, void *);
static int moments_generic(double *m, double *v, const float *x, ptrdiff_t n, ptrdiff_t d, ptrdiff_t j0,
                           ptrdiff_t w, void *s) { return moments_block(m, v, x, n, d, j0, w, s); }
#ifdef FNN_X86_TARGETS
FNN_TARGET_AVX2 static int moments_avx2(double *m, double *v, const float *x, ptrdiff_t n, ptrdiff_t d,
                                        ptrdiff_t j0, ptrdiff_t w, void *s) {
    return moments_block(m, v, x, n, d, j0, w, s);
}
FNN_TARGET_AVX512 static int moments_avx512(double *m, double *v, const float *x, ptrdiff_t n, ptrdiff_t d,
                                            ptrdiff_t j0, ptrdiff_t w, void *s) {
    return moments_block(m, v, x, n, d, j0, w, s);
}
#endif

// mean (D), var (D) = column moments of x (N, D)
int fnn_col_moments(double *mean, double *var, const float *x, ptrdiff_t n, ptrdiff_t d, int n_threads) {
    if (n < 1 || d < 1) return 0;
    moments_fn fn = moments_generic;
#ifdef FNN_X86_TARGETS
    if (fnn_get_isa() == FNN_ISA_AVX512) fn = moments_avx512;
    else if (fnn_get_isa() == FNN_ISA_AVX2) fn = moments_avx2;
#endif
    int nt = fnn_threads_for(2.0 * (double)n * (double)d, n_threads);
    /* column blocks as wide as possible (contiguous row segments); the split never changes any column's sums */
    ptrdiff_t bw = ((d + nt - 1) / nt + 15) & ~(ptrdiff_t)15;
    const ptrdiff_t nb = (d + bw - 1) / bw;
    int bad = 0, nomem = 0;
    (void)nt;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad, nomem) if (nt > 1)
#endif
    for (ptrdiff_t b = 0; b < nb; b++) {
        const ptrdiff_t j0 = b * bw, w = d - j0 < bw ? d - j0 : bw;
        void *scratch = malloc((size_t)w * (2 * sizeof(double) + sizeof(float)));
        if (!scratch) { nomem |= 1; continue; }
        bad |= fn(mean, var, x, n, d, j0, w, scratch);
        free(scratch);
    }
    return nomem ? -1 : bad;
}

// out (N, D) = (x (N, D) - sub (D)) * mul (D)
int fnn_affine_cols(float *out, const float *x, const float *sub, const float *mul, ptrdiff_t n, ptrdiff_t d,
                    int n_threads) {
    int bad = 0;
    int nt = fnn_threads_for(2.0 * (double)n * (double)d, n_threads);
    (void)nt;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad) if (nt > 1)
#endif
    for (ptrdiff_t i = 0; i < n; i++) {
        const float *r = x + i * d;
        float *o = out + i * d;
        uint32_t any = 0;
        for (ptrdiff_t j = 0; j < d; j++) {
            uint32_t bits;
            memcpy(&bits, r + j, sizeof bits);
            any |= (uint32_t)((bits & 0x7F800000u) == 0x7F800000u);
            o[j] = (r[j] - sub[j]) * mul[j];
        }
        bad |= any != 0;
    }
    return bad;
}
