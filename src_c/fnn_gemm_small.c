/* fastnn: AVX-512 SGEMM paths for the small shapes of neural-network layers; no panel packing.
     "dot":  op(b) = b^T and a row-major (a Dense forward pass, X @ W^T): c[i, j] = dot(a row i, b row j), both
             contiguous in K.  Tiles of 16 dot products (4x4, 1x16 or 16x1), K in 16-wide chunks (masked tail),
             one shuffle tree reduces the 16 accumulators into one vector.
     "rows": b row-major (dX = dY @ W, dW = dY^T @ X): A read in place, row form a[i*lda + p] or column form
             (A^T) a[p*lda + i]; B read in place, the last 16-column vector through a mask.  R x 16V tiles,
             R in {8, 4, 2, 1} (M split 8, 8, ..., then 4 + 2 + 1 as needed), V <= 3.  Also takes b^T when K is
             short (the dot path's reductions would dominate): b^T is first transposed once (16x16 in-register
             transposes) into a per-thread K x N scratch.
   A tile never reads outside the operands: rows/columns past the edge of a dot tile alias the tile's first
   row/column (valid memory) and their results are dropped; masked loads never touch memory past the mask.
   Every element is computed by the same instruction sequence whatever the tiling and the thread count
   (tiles are fixed by the shape; threads take contiguous ranges of tiles; K is never split). */
#include <stdlib.h>

#include "fnn_gemm_avx512.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef FNN_GEMM_X86

/* Tuning (bench/RESULTS.md): the dot path for op(b) = b^T up to this M (and any M when N < 4), the rows path
   for b row-major (or b^T transposed once into scratch) up to this M, both only while K x N fits in L2. */
#ifndef GEMM_DOT_MAX_M
#define GEMM_DOT_MAX_M 16
#endif
#ifndef GEMM_ROWS_MAX_M
#define GEMM_ROWS_MAX_M 1024
#endif
#ifndef GEMM_DOT_MIN_K
#define GEMM_DOT_MIN_K 256               /* below this K (and M >= 4, N >= 4) b^T is transposed for the rows path */
#endif
#define GEMM_SMALL_MAX_KN (256 * 1024)   /* K * N floats (1 MiB) */
#ifndef GEMM_SMALL_PAR_FLOPS
#define GEMM_SMALL_PAR_FLOPS 6.0e6       /* per extra thread: a call gets at most 1 + flops / this threads */
#endif

static inline __mmask16 tail_mask(ptrdiff_t r) { return fnn_tail_mask16(r); }

/* ---- dot tiles ---------------------------------------------------------------------------------------- */

/* The 16 accumulators v[0..15] summed lane-wise into one vector: lane t holds the total of v[t]. */
static inline FNN_TARGET_AVX512 __attribute__((always_inline)) __m512 reduce16(__m512 v[16]) {
    __m512 w[8], u[4];
    _Pragma("GCC unroll 16") for (int j = 0; j < 8; j++)
        w[j] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * j], v[2 * j + 1]), _mm512_unpackhi_ps(v[2 * j], v[2 * j + 1]));
    _Pragma("GCC unroll 16") for (int j = 0; j < 4; j++)
        u[j] = _mm512_add_ps(_mm512_shuffle_ps(w[2 * j], w[2 * j + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(w[2 * j], w[2 * j + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    __m512 r0 = _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                              _mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
    __m512 r1 = _mm512_add_ps(_mm512_shuffle_f32x4(u[2], u[3], _MM_SHUFFLE(2, 0, 2, 0)),
                              _mm512_shuffle_f32x4(u[2], u[3], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(r0, r1, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(r0, r1, _MM_SHUFFLE(3, 1, 3, 1)));
}

/* c[i, j] = alpha * dot(a row i, b row j) + beta * c[i, j] for i < ma, j < nb of an RA x RB tile. */
#define DOTK(NAME, RA, RB)                                                                                       \
    static FNN_TARGET_AVX512 void NAME(ptrdiff_t k, const float *FNN_RESTRICT a, ptrdiff_t lda,                 \
                                       const float *FNN_RESTRICT b, ptrdiff_t ldb, float *FNN_RESTRICT c,       \
                                       ptrdiff_t ldc, float alpha, float beta, int ma, int nb) {                \
        const float *ar[RA], *br[RB];                                                                            \
        _Pragma("GCC unroll 16") for (int i = 0; i < RA; i++) ar[i] = a + (i < ma ? i : 0) * lda;                                        \
        _Pragma("GCC unroll 16") for (int j = 0; j < RB; j++) br[j] = b + (j < nb ? j : 0) * ldb;                                        \
        __m512 acc[16];                                                                                          \
        _Pragma("GCC unroll 16") for (int t = 0; t < 16; t++) acc[t] = _mm512_setzero_ps();                                              \
        ptrdiff_t p = 0;                                                                                         \
        for (; p + 16 <= k; p += 16) {                                                                           \
            __m512 av[RA], bv[RB];                                                                               \
            _Pragma("GCC unroll 16") for (int i = 0; i < RA; i++) av[i] = _mm512_loadu_ps(ar[i] + p);                                    \
            _Pragma("GCC unroll 16") for (int j = 0; j < RB; j++) bv[j] = _mm512_loadu_ps(br[j] + p);                                    \
            _Pragma("GCC unroll 16") for (int i = 0; i < RA; i++)                                                                         \
                _Pragma("GCC unroll 16") for (int j = 0; j < RB; j++) acc[i * RB + j] = _mm512_fmadd_ps(av[i], bv[j], acc[i * RB + j]);  \
        }                                                                                                        \
        if (p < k) {                                                                                             \
            __mmask16 mk = tail_mask(k - p);                                                                     \
            __m512 av[RA], bv[RB];                                                                               \
            _Pragma("GCC unroll 16") for (int i = 0; i < RA; i++) av[i] = _mm512_maskz_loadu_ps(mk, ar[i] + p);                          \
            _Pragma("GCC unroll 16") for (int j = 0; j < RB; j++) bv[j] = _mm512_maskz_loadu_ps(mk, br[j] + p);                          \
            _Pragma("GCC unroll 16") for (int i = 0; i < RA; i++)                                                                         \
                _Pragma("GCC unroll 16") for (int j = 0; j < RB; j++) acc[i * RB + j] = _mm512_fmadd_ps(av[i], bv[j], acc[i * RB + j]);  \
        }                                                                                                        \
        FNN_ALIGN64 float t[16];                                                                                 \
        _mm512_store_ps(t, _mm512_mul_ps(_mm512_set1_ps(alpha), reduce16(acc)));                                \
        _Pragma("GCC unroll 16") for (int i = 0; i < ma; i++) {                                                                           \
            float *ci = c + i * ldc;                                                                             \
            if (beta == 0.0f)                                                                                    \
                _Pragma("GCC unroll 16") for (int j = 0; j < nb; j++) ci[j] = t[i * RB + j];                                              \
            else                                                                                                 \
                _Pragma("GCC unroll 16") for (int j = 0; j < nb; j++) ci[j] = t[i * RB + j] + beta * ci[j];                              \
        }                                                                                                        \
    }

// c (4,4) = alpha * a (4,k) [a[i*lda + p]] @ b (4,k)^T [b[j*ldb + p]] + beta * c
DOTK(dot4x4, 4, 4)
// c (1,16) = alpha * a (1,k) [a[p]] @ b (16,k)^T [b[j*ldb + p]] + beta * c
DOTK(dot1x16, 1, 16)
// c (16,1) = alpha * a (16,k) [a[i*lda + p]] @ b (1,k)^T [b[p]] + beta * c
DOTK(dot16x1, 16, 1)

typedef void (*dot_fn)(ptrdiff_t, const float *, ptrdiff_t, const float *, ptrdiff_t, float *, ptrdiff_t, float,
                       float, int, int);

typedef struct {
    ptrdiff_t m, n, k, lda, ldb, ldc;
    const float *a, *b;
    float *c;
    float alpha, beta;
    int ra, rb, f;          /* tile rows/columns; rows path: column form A (f = 1) */
    ptrdiff_t ti, tj;       /* tiles along M and along N */
    const fnn_gemm_epilogue *ep;  /* applied to each tile once computed (K is never split), or NULL */
} small_ctx;

static FNN_TARGET_AVX512 void dot_tiles(const small_ctx *x, ptrdiff_t lo, ptrdiff_t hi) {
    dot_fn f = x->ra == 4 ? dot4x4 : x->ra == 1 ? dot1x16 : dot16x1;
    for (ptrdiff_t t = lo; t < hi; t++) {  /* tile t: column block t / ti (outer), row block t % ti */
        ptrdiff_t i0 = (t % x->ti) * x->ra, j0 = (t / x->ti) * x->rb;
        int ma = (int)(x->m - i0 < x->ra ? x->m - i0 : x->ra), nb = (int)(x->n - j0 < x->rb ? x->n - j0 : x->rb);
        f(x->k, x->a + i0 * x->lda, x->lda, x->b + j0 * x->ldb, x->ldb, x->c + i0 * x->ldc + j0, x->ldc,
          x->alpha, x->beta, ma, nb);
        if (x->ep) fnn_gemm_tile_epilogue(x->c + i0 * x->ldc + j0, x->ldc, ma, nb, i0, j0, x->ep);
    }
}

/* ---- rows tiles --------------------------------------------------------------------------------------- */

#define ROWK(NAME, R, V, F)                                                                                      \
    static FNN_TARGET_AVX512 void NAME(ptrdiff_t k, const float *FNN_RESTRICT a, ptrdiff_t lda,                 \
                                       const float *FNN_RESTRICT b, ptrdiff_t ldb, float *FNN_RESTRICT c,       \
                                       ptrdiff_t ldc, float alpha, float beta, __mmask16 ml) {                  \
        __m512 acc[R][V];                                                                                        \
        _Pragma("GCC unroll 16") for (int i = 0; i < R; i++)                                                                              \
            _Pragma("GCC unroll 16") for (int v = 0; v < V; v++) acc[i][v] = _mm512_setzero_ps();                                        \
        const float *ar[R];                                                                                      \
        _Pragma("GCC unroll 16") for (int i = 0; i < R; i++) ar[i] = F ? a + i : a + i * lda;                                             \
        for (ptrdiff_t p = 0; p < k; p++) {                                                                      \
            __m512 bv[V];                                                                                        \
            _Pragma("GCC unroll 16") for (int v = 0; v < V - 1; v++) bv[v] = _mm512_loadu_ps(b + 16 * v);                                \
            bv[V - 1] = _mm512_maskz_loadu_ps(ml, b + 16 * (V - 1));                                            \
            _Pragma("GCC unroll 16") for (int i = 0; i < R; i++) {                                                                        \
                __m512 ai = _mm512_set1_ps(F ? a[i] : ar[i][p]);                                                 \
                _Pragma("GCC unroll 16") for (int v = 0; v < V; v++) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);                  \
            }                                                                                                    \
            b += ldb;                                                                                            \
            if (F) a += lda;                                                                                     \
        }                                                                                                        \
        __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);                                           \
        _Pragma("GCC unroll 16") for (int i = 0; i < R; i++)                                                                              \
            _Pragma("GCC unroll 16") for (int v = 0; v < V; v++) {                                                                        \
                __mmask16 mk = v == V - 1 ? ml : (__mmask16)0xFFFF;                                              \
                float *cv = c + i * ldc + 16 * v;                                                                \
                __m512 r = _mm512_mul_ps(va, acc[i][v]);                                                         \
                if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mk, cv), r);                    \
                _mm512_mask_storeu_ps(cv, mk, r);                                                                \
            }                                                                                                    \
    }

/* One line per tile shape: c (R, 16V) = alpha * a (R,k) @ b (k,16V) [b[p*ldb + j]] + beta * c, where
   a is a[i*lda + p] (rr: row form) or a[p*lda + i] (rc: column form, A^T stored (K, M)). */
#define ROWK_V(R, F, S)                                                                                          \
    ROWK(rk##S##R##_1, R, 1, F)                                                                                  \
    ROWK(rk##S##R##_2, R, 2, F)                                                                                  \
    ROWK(rk##S##R##_3, R, 3, F)
// c (8,16V) = alpha * a (8,k) [a[i*lda + p]] @ b (k,16V) + beta * c, V = 1..3
ROWK_V(8, 0, r)
// c (4,16V) = alpha * a (4,k) [a[i*lda + p]] @ b (k,16V) + beta * c, V = 1..3
ROWK_V(4, 0, r)
// c (2,16V) = alpha * a (2,k) [a[i*lda + p]] @ b (k,16V) + beta * c, V = 1..3
ROWK_V(2, 0, r)
// c (1,16V) = alpha * a (1,k) [a[p]] @ b (k,16V) + beta * c, V = 1..3
ROWK_V(1, 0, r)
// c (8,16V) = alpha * a (8,k) [a[p*lda + i]] @ b (k,16V) + beta * c, V = 1..3
ROWK_V(8, 1, c)
// c (4,16V) = alpha * a (4,k) [a[p*lda + i]] @ b (k,16V) + beta * c, V = 1..3
ROWK_V(4, 1, c)
// c (2,16V) = alpha * a (2,k) [a[p*lda + i]] @ b (k,16V) + beta * c, V = 1..3
ROWK_V(2, 1, c)
// c (1,16V) = alpha * a (1,k) [a[p*lda]] @ b (k,16V) + beta * c, V = 1..3
ROWK_V(1, 1, c)

typedef void (*rows_fn)(ptrdiff_t, const float *, ptrdiff_t, const float *, ptrdiff_t, float *, ptrdiff_t, float,
                        float, __mmask16);
static const rows_fn rows_tab[2][4][3] = {
    {{rkr8_1, rkr8_2, rkr8_3}, {rkr4_1, rkr4_2, rkr4_3}, {rkr2_1, rkr2_2, rkr2_3}, {rkr1_1, rkr1_2, rkr1_3}},
    {{rkc8_1, rkc8_2, rkc8_3}, {rkc4_1, rkc4_2, rkc4_3}, {rkc2_1, rkc2_2, rkc2_3}, {rkc1_1, rkc1_2, rkc1_3}}};

/* Row block b of M: full 8-row blocks first, then one block each of 4, 2, 1 rows as M % 8 needs. */
static void row_block(ptrdiff_t m, ptrdiff_t blk, ptrdiff_t *i0, int *r) {
    ptrdiff_t full = m / 8;
    if (blk < full) { *i0 = blk * 8; *r = 8; return; }
    ptrdiff_t i = full * 8;
    for (int s = 4; s >= 1; s >>= 1) {
        if (m & s) {
            if (blk == full) { *i0 = i; *r = s; return; }
            full++;
            i += s;
        }
    }
    *i0 = i; *r = 0;
}

static ptrdiff_t row_blocks(ptrdiff_t m) { return m / 8 + ((m & 4) != 0) + ((m & 2) != 0) + ((m & 1) != 0); }

static void rows_tiles(const small_ctx *x, ptrdiff_t lo, ptrdiff_t hi) {
    for (ptrdiff_t t = lo; t < hi; t++) {  /* tile t: column block t / ti (48 columns), row block t % ti */
        ptrdiff_t i0, j0 = (t / x->ti) * 48, w = x->n - j0 < 48 ? x->n - j0 : 48;
        int r, v = (int)((w + 15) / 16);
        row_block(x->m, t % x->ti, &i0, &r);
        int ri = r == 8 ? 0 : r == 4 ? 1 : r == 2 ? 2 : 3;
        const float *a = x->f ? x->a + i0 : x->a + i0 * x->lda;
        rows_tab[x->f][ri][v - 1](x->k, a, x->lda, x->b + j0, x->ldb, x->c + i0 * x->ldc + j0, x->ldc, x->alpha,
                                  x->beta, tail_mask(w - 16 * (v - 1)));
        if (x->ep) fnn_gemm_tile_epilogue(x->c + i0 * x->ldc + j0, x->ldc, r, w, i0, j0, x->ep);
    }
}

/* ---- B^T -> B: 16 x 16 in-register transposes (for the rows path when the dot path's reductions cost too much) */

// dst (K, ldt) columns [16 jlo, 16 jhi) = b (N, K)^T, ldt = N rounded up to 16 (columns N..ldt-1 zero); the
// 16-column blocks [jlo, jhi) only, so a team can split the transpose by fixed column ranges
static FNN_TARGET_AVX512 void transpose_b(float *FNN_RESTRICT dst, ptrdiff_t ldt, const float *FNN_RESTRICT b,
                                          ptrdiff_t ldb, ptrdiff_t n, ptrdiff_t k, ptrdiff_t jlo, ptrdiff_t jhi) {
    for (ptrdiff_t j0 = 16 * jlo; j0 < n && j0 < 16 * jhi; j0 += 16) {
        int nj = (int)(n - j0 < 16 ? n - j0 : 16);
        for (ptrdiff_t p0 = 0; p0 < k; p0 += 16) {
            int kp = (int)(k - p0 < 16 ? k - p0 : 16);
            __mmask16 mk = tail_mask(kp);
            __m512 r[16];
            for (int j = 0; j < 16; j++)
                r[j] = j < nj ? _mm512_maskz_loadu_ps(mk, b + (j0 + j) * ldb + p0) : _mm512_setzero_ps();
            fnn_transpose16(r);
            for (int q = 0; q < kp; q++) _mm512_storeu_ps(dst + (p0 + q) * ldt + j0, r[q]);
        }
    }
}

/* Per-thread scratch for the transposed B, grown on demand and kept. */
static _Thread_local float *tl_bt = NULL;
static _Thread_local size_t tl_bt_cap = 0;

static float *bt_scratch(size_t n) {
    if (n <= tl_bt_cap) return tl_bt;
    free(tl_bt);
    float *p = (float *)aligned_alloc(64, ((n * sizeof(float)) + 63) & ~(size_t)63);
    tl_bt = p;
    tl_bt_cap = p ? n : 0;
    return p;
}

/* ---- driver ------------------------------------------------------------------------------------------- */

// c (M,N) = alpha * op(a) (M,K) @ op(b) (K,N) + beta * c, for the shapes above; returns 0 when not taken
int fnn_gemm_small_avx512(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                          const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, float *c,
                          ptrdiff_t ldc, const fnn_gemm_epilogue *ep, int n_threads) {
    small_ctx x = {m, n, k, lda, ldb, ldc, a, b, c, alpha, beta, 0, 0, 0, 0, 0, ep};
    int dot;
    float *bt = NULL;                 /* b^T transposed into the caller's scratch (K x ldt), inside the team */
    const float *bsrc = b;
    ptrdiff_t ldbsrc = ldb, ldt = 0;
    if (k * n > GEMM_SMALL_MAX_KN) return 0;
    if (trans_b && !trans_a && m <= GEMM_ROWS_MAX_M && m >= 4 && n >= 4 &&
        !(k >= GEMM_DOT_MIN_K && m <= GEMM_DOT_MAX_M)) {
        /* short K (or large M): transpose b once, then the rows path (no reduction per output) */
        ldt = (n + 15) / 16 * 16;
        bt = bt_scratch((size_t)(k * ldt));
        if (!bt) return 0;
        trans_b = 0;
        x.b = bt;
        x.ldb = ldt;
    }
    if (trans_b && !trans_a && (m <= GEMM_DOT_MAX_M || n < 4)) {
        dot = 1;
        if (m < 4) { x.ra = 1; x.rb = 16; }
        else if (n < 4) { x.ra = 16; x.rb = 1; }
        else { x.ra = 4; x.rb = 4; }
        x.ti = (m + x.ra - 1) / x.ra;
        x.tj = (n + x.rb - 1) / x.rb;
    } else if (!trans_b && m <= GEMM_ROWS_MAX_M) {
        dot = 0;
        x.f = trans_a != 0;
        x.ti = row_blocks(m);
        x.tj = (n + 47) / 48;
    } else {
        return 0;
    }
    ptrdiff_t tiles = x.ti * x.tj, tblk = bt ? ldt / 16 : 0;
    int nt = 1;
#ifdef _OPENMP
    /* Cost model: a team costs a fork/join plus (transposed b) one barrier, and the threads share no cache
       for B or C, so each extra thread must bring GEMM_SMALL_PAR_FLOPS of work (the transpose counts as
       work: it is split over the team too). */
    double flops = 2.0 * (double)m * (double)n * (double)k;
    if (n_threads > 1 && flops >= GEMM_SMALL_PAR_FLOPS) {
        double cap = 1.0 + flops / GEMM_SMALL_PAR_FLOPS;
        nt = tiles < n_threads ? (int)tiles : n_threads;
        if ((double)nt > cap) nt = (int)cap;
    }
#else
    (void)n_threads;
#endif
    if (nt <= 1) {
        if (bt) transpose_b(bt, ldt, bsrc, ldbsrc, n, k, 0, tblk);
        if (dot) dot_tiles(&x, 0, tiles);
        else rows_tiles(&x, 0, tiles);
        return 1;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
    {
        ptrdiff_t tid = omp_get_thread_num(), team = omp_get_num_threads();
        if (bt) {  /* fixed column ranges of the transpose, then every thread may read all of it */
            transpose_b(bt, ldt, bsrc, ldbsrc, n, k, tblk * tid / team, tblk * (tid + 1) / team);
#pragma omp barrier
        }
        ptrdiff_t lo = tiles * tid / team, hi = tiles * (tid + 1) / team;
        if (dot) dot_tiles(&x, lo, hi);
        else rows_tiles(&x, lo, hi);
    }
#endif
    return 1;
}

#else
int fnn_gemm_small_avx512(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                          const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, float *c,
                          ptrdiff_t ldc, const fnn_gemm_epilogue *ep, int n_threads) {
    (void)trans_a; (void)trans_b; (void)m; (void)n; (void)k; (void)alpha; (void)a; (void)lda; (void)b;
    (void)ldb; (void)beta; (void)c; (void)ldc; (void)ep; (void)n_threads;
    return 0;
}
#endif
