/* fastnn: small utilities over flat buffers. */
#include "fnn_util.h"

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
