/* fastnn: SGEMM packing into register-tile panels (portable C; edges zero-padded). */
#include <string.h>

#include "fnn_gemm_kernels.h"

// dst (KC, MR) panel = op(a) rows [0, mr) x columns [0, kc), rows mr..MR-1 zero
void fnn_gemm_pack_a(float *FNN_RESTRICT dst, const float *FNN_RESTRICT a, ptrdiff_t lda, int trans_a,
                     ptrdiff_t kc, int mr, int MR) {
    if (trans_a) {  /* a is A^T stored (K, M): each step's MR values are contiguous */
        for (ptrdiff_t p = 0; p < kc; p++) {
            const float *src = a + p * lda;
            float *d = dst + p * MR;
            int i = 0;
            for (; i < mr; i++) d[i] = src[i];
            for (; i < MR; i++) d[i] = 0.0f;
        }
        return;
    }
    /* a is A stored (M, K): a transpose, done in blocks of 8 steps so reads stay on few cache lines. */
    ptrdiff_t p0 = 0;
    for (; p0 + 8 <= kc; p0 += 8) {
        for (int i = 0; i < mr; i++) {
            const float *src = a + i * lda + p0;
            float *d = dst + p0 * MR + i;
            for (int q = 0; q < 8; q++) d[q * MR] = src[q];
        }
    }
    for (int i = 0; i < mr; i++)
        for (ptrdiff_t p = p0; p < kc; p++) dst[p * MR + i] = a[i * lda + p];
    if (mr < MR)
        for (ptrdiff_t p = 0; p < kc; p++)
            for (int i = mr; i < MR; i++) dst[p * MR + i] = 0.0f;
}

// dst (KC, NR) panel = op(b) rows [0, kc) x columns [0, nr), columns nr..NR-1 zero
void fnn_gemm_pack_b(float *FNN_RESTRICT dst, const float *FNN_RESTRICT b, ptrdiff_t ldb, int trans_b,
                     ptrdiff_t kc, int nr, int NR) {
    if (!trans_b) {  /* b is B stored (K, N): row copies */
        for (ptrdiff_t p = 0; p < kc; p++) {
            memcpy(dst + p * NR, b + p * ldb, (size_t)nr * sizeof(float));
            for (int j = nr; j < NR; j++) dst[p * NR + j] = 0.0f;
        }
        return;
    }
    /* b is B^T stored (N, K): a transpose in blocks of 8 steps. */
    ptrdiff_t p0 = 0;
    for (; p0 + 8 <= kc; p0 += 8) {
        for (int j = 0; j < nr; j++) {
            const float *src = b + j * ldb + p0;
            float *d = dst + p0 * NR + j;
            for (int q = 0; q < 8; q++) d[q * NR] = src[q];
        }
    }
    for (int j = 0; j < nr; j++)
        for (ptrdiff_t p = p0; p < kc; p++) dst[p * NR + j] = b[j * ldb + p];
    if (nr < NR)
        for (ptrdiff_t p = 0; p < kc; p++)
            for (int j = nr; j < NR; j++) dst[p * NR + j] = 0.0f;
}
