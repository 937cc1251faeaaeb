/* fastnn: portable SGEMM micro-kernels (always built): GCC/clang vector extensions, plain C loops elsewhere. */
#include <string.h>

#include "fnn_gemm_kernels.h"

#define MR 4

#if defined(__GNUC__) || defined(__clang__)
/* GCC/clang vector extensions: the accumulators are named 4-float vectors, which every target keeps in
   registers (NEON, SSE2, VSX, ...); written as plain float arrays GCC vectorised the i loop with shuffles and
   spilled (x86-64 SSE2: 3 GFLOP/s).  The tile fits the target's register file: 4 x 16 (16 accumulators) where
   there are 32 vector registers, 4 x 8 on x86 (16 SSE registers). */
#if defined(__x86_64__) || defined(__i386__)
#define NV 2
#else
#define NV 4
#endif
#define NR (4 * NV)
typedef float fnn_v4 __attribute__((vector_size(16)));

static inline fnn_v4 v4_load(const float *p) {
    fnn_v4 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void v4_store(float *p, fnn_v4 v) { memcpy(p, &v, sizeof v); }

static inline void ukr_store(fnn_v4 acc[MR][NV], float *FNN_RESTRICT c, ptrdiff_t ldc, float alpha, float beta,
                             int mr, int nr) {
    if (mr == MR && nr == NR) {
        for (int i = 0; i < MR; i++) {
            float *ci = c + i * ldc;
            for (int q = 0; q < NV; q++) {
                fnn_v4 r = alpha * acc[i][q];
                if (beta != 0.0f) r = r + beta * v4_load(ci + 4 * q);
                v4_store(ci + 4 * q, r);
            }
        }
        return;
    }
    for (int i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        for (int j = 0; j < nr; j++) {
            float r = alpha * acc[i][j / 4][j % 4];
            ci[j] = beta == 0.0f ? r : r + beta * ci[j];
        }
    }
}

/* c (MR,NR) = alpha * a (MR,k) @ b (k,NR) [b[p*rsb + j]] + beta * c, with A's element (i, p) at AIP:
   a[p*sa + i] (column form: packed panels, A^T in place) or a[i*sa + p] (row form: A in place). */
#define UKR(NAME, AIP)                                                                                           \
    static void NAME(ptrdiff_t k, const float *FNN_RESTRICT a, ptrdiff_t sa, const float *FNN_RESTRICT b,        \
                     ptrdiff_t rsb, float *FNN_RESTRICT c, ptrdiff_t ldc, float alpha, float beta, int mr,       \
                     int nr) {                                                                                   \
        fnn_v4 acc[MR][NV];                                                                                      \
        for (int i = 0; i < MR; i++)                                                                             \
            for (int q = 0; q < NV; q++) acc[i][q] = (fnn_v4){0.0f, 0.0f, 0.0f, 0.0f};                           \
        for (ptrdiff_t p = 0; p < k; p++) {                                                                      \
            const float *bp = b + p * rsb;                                                                       \
            fnn_v4 bv[NV];                                                                                       \
            for (int q = 0; q < NV; q++) bv[q] = v4_load(bp + 4 * q);                                            \
            for (int i = 0; i < MR; i++) {                                                                       \
                const float s_ = (AIP);                                                                          \
                const fnn_v4 ai = {s_, s_, s_, s_};                                                              \
                for (int q = 0; q < NV; q++) acc[i][q] += ai * bv[q];                                            \
            }                                                                                                    \
        }                                                                                                        \
        ukr_store(acc, c, ldc, alpha, beta, mr, nr);                                                             \
    }

UKR(ukr_col, a[p * sa + i])
UKR(ukr_row, a[i * sa + p])

#else   /* other compilers: plain loops */
#define NR 16

static inline void ukr_store(float acc[MR][NR], float *FNN_RESTRICT c, ptrdiff_t ldc, float alpha, float beta,
                             int mr, int nr) {
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
#endif

/* a_direct_n 64: the limit every ISA had before AVX2's was measured (not tuned for these kernels) */
static const fnn_gemm_arch_t arch_generic = {MR, NR, 256, 1024, ukr_col, ukr_row, NULL, NULL, fnn_gemm_pack_a,
                                              fnn_gemm_pack_b, NULL, NULL, NULL, NULL,
                                              NULL, NULL, NULL, NULL, 64};

const fnn_gemm_arch_t *fnn_gemm_arch_generic(void) { return &arch_generic; }
