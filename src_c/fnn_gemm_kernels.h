/* fastnn: SGEMM internals shared by the driver (fnn_gemm.c), the packing routines and the micro-kernels.
   Not part of the public contract (that is fnn_gemm.h). */
#ifndef FNN_GEMM_KERNELS_H
#define FNN_GEMM_KERNELS_H

#include "fnn_common.h"
#include "fnn_gemm.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FNN_GEMM_X86 1
#define FNN_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define FNN_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))
#endif

#if defined(_MSC_VER)
#define FNN_ALIGN64 __declspec(align(64))
#else
#define FNN_ALIGN64 _Alignas(64)
#endif

/* Largest register tile and depth block over every ISA (sizes the per-thread stack buffers). */
#define FNN_GEMM_MR_MAX 16
#define FNN_GEMM_NR_MAX 32
#define FNN_GEMM_KC_MAX 512

/* A micro-kernel computes one MR x NR tile of C over k steps, entirely in registers, then writes
       c[i, j] = alpha * acc[i, j] + beta * c[i, j]   for i < mr, j < nr   (beta == 0: c is not read).
   B: element (p, j) is b[p * rsb + j], NR contiguous floats per step (a packed panel: rsb = NR, or
      B itself when it is row-major and the panel is full: rsb = ldb).
   A ("col" kernels): element (i, p) is a[p * sa + i] (a packed panel: sa = MR, or A^T stored (K, M)).
   A ("row" kernels): element (i, p) is a[i * sa + p] (A stored row-major (M, K), read in place).
   Every operand element read must exist: partial panels are packed (zero-padded) by the driver. */
typedef void (*fnn_ukr_t)(ptrdiff_t k, const float *FNN_RESTRICT a, ptrdiff_t sa, const float *FNN_RESTRICT b,
                          ptrdiff_t rsb, float *FNN_RESTRICT c, ptrdiff_t ldc, float alpha, float beta,
                          int mr, int nr);

/* Copies an mr x kc block of op(A) into a panel dst[p * MR + i] (zero-padded to MR rows). */
typedef void (*fnn_packa_t)(float *FNN_RESTRICT dst, const float *FNN_RESTRICT a, ptrdiff_t lda, int trans_a,
                            ptrdiff_t kc, int mr, int MR);

/* Copies a kc x nr block of op(B) into a panel dst[p * NR + j] (zero-padded to NR columns). */
typedef void (*fnn_packb_t)(float *FNN_RESTRICT dst, const float *FNN_RESTRICT b, ptrdiff_t ldb, int trans_b,
                            ptrdiff_t kc, int nr, int NR);

/* One ISA's tile shape, blocking and kernels. */
typedef struct {
    int mr, nr;          /* register tile */
    ptrdiff_t kc, nc;    /* depth block (A panel MR x KC stays in L1) and width block (KC x NC of B, L2 or L3) */
    fnn_ukr_t ukr_col, ukr_row;
    fnn_ukr_t ukr_col_half, ukr_row_half; /* NR/2-wide kernels for a narrow last panel (nr <= NR/2), or NULL */
    fnn_packa_t pack_a;  /* packing of A panels */
    fnn_packb_t pack_b;  /* packing of B panels (both vectorised on AVX-512) */
    /* The same four kernels storing their tile transposed (c[j * ldc + i] for tile element (i, j)), for the
       C^T = op(B)^T @ op(A)^T orientation the driver takes when it wastes less of the tiles; NULL: never. */
    fnn_ukr_t ukr_col_t, ukr_row_t, ukr_col_half_t, ukr_row_half_t;
    /* Full-width kernels computing only the first MR - 1 rows (both stores), for the short row tiles that let
       the driver cover M without padding rows; NULL: never. */
    fnn_ukr_t ukr_col_short, ukr_row_short, ukr_col_short_t, ukr_row_short_t;
    /* A row-major A is read in place (the row kernels) instead of packed for N up to this: each panel then
       serves only N / NR kernels, and its MR rows are MR sequential streams */
    ptrdiff_t a_direct_n;
} fnn_gemm_arch_t;

/* Packing (fnn_gemm_pack.c): portable C. */
void fnn_gemm_pack_a(float *FNN_RESTRICT dst, const float *FNN_RESTRICT a, ptrdiff_t lda, int trans_a,
                     ptrdiff_t kc, int mr, int MR);
void fnn_gemm_pack_b(float *FNN_RESTRICT dst, const float *FNN_RESTRICT b, ptrdiff_t ldb, int trans_b,
                     ptrdiff_t kc, int nr, int NR);

/* AVX-512 no-pack paths for small neural-network shapes (fnn_gemm_small.c): same arguments and contract as
   fnn_sgemm (arguments already checked, k > 0, alpha != 0); returns 1 when it computed c, 0 when the shape is
   not one it takes (the caller then runs the packed driver). */
int fnn_gemm_small_avx512(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                          const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, float *c,
                          ptrdiff_t ldc, const fnn_gemm_epilogue *ep, int n_threads);

/* Per-ISA descriptors (each file compiles everywhere; SIMD ones fall back to generic off x86). */
const fnn_gemm_arch_t *fnn_gemm_arch_generic(void);
const fnn_gemm_arch_t *fnn_gemm_arch_avx2(void);
const fnn_gemm_arch_t *fnn_gemm_arch_avx512(void);

#endif
