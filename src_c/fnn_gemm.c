/* fastnn: SGEMM driver.  BLIS-style loops around register-tiled micro-kernels:
     jc (NC columns of C) -> pc (KC steps: B block KC x NC packed once, shared by the threads, in L2 or L3)
       -> ir (MR rows: A panel MR x KC packed per thread on its stack, lives in L1) -> jr (NR columns: kernel).
   No-pack paths: an operand is read in place when its layout already suits the kernel and packing would cost
   more than it saves (small M: B row-major read directly; small N: A read directly, row- or column-form).
   Orientation: when the shape's edges waste less of the 6 x 16 AVX2 tiles that way (M = 128 is 22 tiles of 6
   rows but 8 of 16), the driver multiplies C^T = op(B)^T @ op(A)^T with kernels that store their tile
   transposed (gemm_swap); every element is the same sequence of FMAs either way, so C is bitwise the same.
   Threads form a grid over the ir and jr panels (gemm_thread); K is never split and the tiles, blocks and
   kernels depend only on the shape, so every element of C is computed by the same sequence of operations
   whatever the thread count (bitwise identical results). */
#include <stdlib.h>
#include <string.h>

#include "fnn_cpu.h"
#include "fnn_gemm.h"
#include "fnn_gemm_kernels.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(_MSC_VER)
#define FNN_TLS __declspec(thread)
#else
#define FNN_TLS _Thread_local
#endif

/* Tuning (measured on the 2-core development machine, see bench/RESULTS.md). */
/* Per extra thread: a team has at most 1 + flops / this threads (fork/join + one barrier per block).  AVX-512:
   4 MFLOP (quiet 16-core Xeon; was 1 MFLOP per thread, 2 threads from 2 MFLOP); its no-pack paths take the
   small shapes anyway.  AVX2 and portable: 1 MFLOP (dev-zen3: 256x54x100, 2.8 MFLOP, 76 -> 134 GFLOP/s on
   2 threads; the packed driver serves every small shape there). */
#ifndef GEMM_PAR_FLOPS_AVX512
#define GEMM_PAR_FLOPS_AVX512 4.0e6
#endif
#ifndef GEMM_PAR_FLOPS
#define GEMM_PAR_FLOPS 1.0e6
#endif
#define GEMM_B_DIRECT_MAX_M 16     /* M <= this and B row-major: read B in place instead of packing it */
/* N <= this: A^T (K, M) read in place instead of packed (a row-major A: the ISA's a_direct_n, fnn_gemm_kernels.h).
   Not more: the column-form kernels read MR floats out of each of KC rows, and with a power-of-two stride those
   rows share a few L1 sets (dev-zen3, read in place against packed: 512x256x128 A^T 0.96x, 1024x256x256 A^T
   0.82-0.85x). */
#define GEMM_AT_DIRECT_MAX_N 64
/* A column-form A that is packed, and at most this many row tiles per thread: all its panels packed first and
   the column panels looped outermost (compute_block).  dev-zen3, in one process (medians of 41 paired
   rounds): 784x128x100 A^T (C^T: 17 tiles of B gathered from its rows) +5-6% on 1 thread, +4.5% on 2 (with
   the slot bias of that method divided out, bench/gemm_ab_pair.py: +7.2% and +9.9%); tried with a row-major
   A too, and with more tiles in chunks (the next C tile prefetched: a column of C tiles has a large stride):
   -3% to +3%, not kept. */
#define GEMM_AT_PACK_TILES 24

/* Per-thread scratch for the packed B block, grown on demand and kept (no malloc per call once warm). */
static FNN_TLS float *tl_buf = NULL;
static FNN_TLS size_t tl_cap = 0;

static float *scratch_floats(size_t n) {
    if (n <= tl_cap) return tl_buf;
    size_t bytes = ((n * sizeof(float)) + 63) & ~(size_t)63;
#if defined(_MSC_VER)
    _aligned_free(tl_buf);
    float *p = (float *)_aligned_malloc(bytes, 64);
#else
    free(tl_buf);
    float *p = (float *)aligned_alloc(64, bytes);
#endif
    tl_buf = p;
    tl_cap = p ? bytes / sizeof(float) : 0;
    return p;
}

static const fnn_gemm_arch_t *arch_for(int isa) {
    switch (isa) {
    case FNN_ISA_AVX512: return fnn_gemm_arch_avx512();
    case FNN_ISA_AVX2: return fnn_gemm_arch_avx2();
    default: return fnn_gemm_arch_generic();
    }
}

typedef struct {
    const fnn_gemm_arch_t *ar;
    int trans_a, trans_b, a_direct, b_direct;
    int ct;            /* C transposed: the driver's (i, j) is c[j * ldc + i] (the C^T orientation) */
    ptrdiff_t n_ir, n_full;  /* row tiles, of which the first n_full are MR rows and the rest MR - 1 (row_tile) */
    ptrdiff_t m, n, k, lda, ldb, ldc;
    ptrdiff_t kc, nc;  /* depth and width blocks: K and N split into equal blocks no larger than KC, NC */
    float alpha, beta;
    const float *a, *b;
    float *c, *bbuf;   /* packed B: two buffers of bsize floats when threaded (blocks alternate) */
    size_t bsize;
    float *abuf;       /* column-form A panels of up to GEMM_AT_PACK_TILES tiles, asize floats per thread, or NULL */
    size_t asize;
    const fnn_gemm_epilogue *ep;  /* applied to each C tile after the last K block, or NULL */
} gemm_ctx;

/* Pack panels [lo, hi) of the B block (rows pc.., columns jc..) into bb; direct mode packs only the partial
   last panel (full ones are read in place).  Steps of 16 rows across all the panels of the range, so B is read
   as a few sequential streams (row-major B: 16 rows, each read left to right) rather than one panel at a time. */
static void pack_b_panels(const gemm_ctx *x, float *bb, ptrdiff_t jc, ptrdiff_t ncur, ptrdiff_t pc,
                          ptrdiff_t kcur, ptrdiff_t lo, ptrdiff_t hi) {
    const int NR = x->ar->nr;
    for (ptrdiff_t p0 = 0; p0 < kcur; p0 += 16) {
        ptrdiff_t kp = kcur - p0 < 16 ? kcur - p0 : 16;
        for (ptrdiff_t jr = lo; jr < hi; jr++) {
            ptrdiff_t j0 = jc + jr * NR;
            int nr = (int)(jc + ncur - j0 < NR ? jc + ncur - j0 : NR);
            if (x->b_direct && nr == NR) continue;
            float *dst = bb + (x->b_direct ? 0 : jr * kcur * NR) + p0 * NR;
            const float *src = x->trans_b ? x->b + j0 * x->ldb + pc + p0 : x->b + (pc + p0) * x->ldb + j0;
            x->ar->pack_b(dst, src, x->ldb, x->trans_b, kp, nr, NR);
        }
    }
}

#if defined(__GNUC__) || defined(__clang__)
#define FNN_PREFETCH_L2(p) __builtin_prefetch((p), 0, 2)
#else
#define FNN_PREFETCH_L2(p) ((void)(p))
#endif

/* Prefetch share t of n (toward L2) of the source of the next A^T panel (rows i0.., mr of them, block at depth
   pc): A^T rows are a few floats out of distant rows (a page each, no hardware prefetch), so while panel ir is
   computed the next panel's source lines are fetched, spread over its jr steps.  Only addresses inside A.
   Row-major A gets none: the hardware prefetchers follow its rows.  dev-zen3, 1 thread, the variants
   interleaved in one process (best of 15): prefetching them too never helped and cost 4% on 128x784x100;
   with a division per line it had cost 3-5% on the N = 100 shapes. */
static void prefetch_at(const gemm_ctx *x, ptrdiff_t i0, int mr, ptrdiff_t pc, ptrdiff_t kcur, ptrdiff_t t,
                        ptrdiff_t n) {
    for (ptrdiff_t p = kcur * t / n; p < kcur * (t + 1) / n; p++) {
        const float *r = x->a + (pc + p) * x->lda + i0;
        FNN_PREFETCH_L2(r);
        FNN_PREFETCH_L2(r + mr - 1);
    }
}

/* Full (MR-row) tiles among the ceil(m / MR) row tiles: all of them, or all but the w short ones. */
static ptrdiff_t full_row_tiles(const fnn_gemm_arch_t *ar, ptrdiff_t m) {
    const ptrdiff_t q = (m + ar->mr - 1) / ar->mr, w = q * ar->mr - m;
    return ar->ukr_col_short && w <= q ? q - w : q;
}

/* Row tiles: n_ir = ceil(M / MR).  Where the ISA has (MR - 1)-row kernels and the n_ir tiles of MR rows would
   overhang M by w <= n_ir rows, the last w tiles are MR - 1 rows, so no tile computes a padding row (M = 128:
   18 tiles of 6 and 4 of 5, where 22 of 6 waste 3%); otherwise the last tile is partial.  Each element of C is
   the same sequence of FMAs either way. */
static void row_tiles(gemm_ctx *x) {
    x->n_ir = (x->m + x->ar->mr - 1) / x->ar->mr;
    x->n_full = full_row_tiles(x->ar, x->m);
}

static inline void row_tile(const gemm_ctx *x, ptrdiff_t ir, ptrdiff_t *i0, int *mr) {
    const ptrdiff_t MR = x->ar->mr;
    ptrdiff_t s = ir < x->n_full ? ir * MR : x->n_full * MR + (ir - x->n_full) * (MR - 1);
    ptrdiff_t h = ir < x->n_full ? MR : MR - 1;
    *i0 = s;
    *mr = (int)(x->m - s < h ? x->m - s : h);
}

/* Rows the kernel for a tile of mr rows computes: MR - 1 (short kernels) for mr < MR where the ISA has them. */
static inline int kernel_rows(const gemm_ctx *x, int mr) {
    return mr < x->ar->mr && x->ar->ukr_col_short ? x->ar->mr - 1 : x->ar->mr;
}

/* Whether a row tile of mr rows reads A in place: direct mode, and a kernel that computes exactly its rows (a
   partial last tile is packed, zero rows below). */
static inline int a_in_place(const gemm_ctx *x, int mr) { return x->a_direct && mr == kernel_rows(x, mr); }

/* Row tile ir at depth block pc: its rows, its A panel (packed into apack, or A itself in place) and kernels. */
typedef struct {
    ptrdiff_t i0, sa;
    int mr;
    const float *ap;
    fnn_ukr_t ukr, ukr_half;
} row_panel;

static row_panel row_panel_at(const gemm_ctx *x, ptrdiff_t ir, ptrdiff_t pc, ptrdiff_t kcur, float *apack) {
    const fnn_gemm_arch_t *ar = x->ar;
    const int MR = ar->mr;
    row_panel rp, *r = &rp;
    row_tile(x, ir, &r->i0, &r->mr);
    const int kr = kernel_rows(x, r->mr), shrt = kr < MR;
    const int in_place = a_in_place(x, r->mr);
    /* a short tile read in place takes its full-width kernel on a narrow last panel too (the half kernels
       compute MR rows, one past the tile); packed, the half kernel reads the panel's zero row */
    if (in_place && !x->trans_a) {   /* row-form A, always read in place */
        r->ukr = shrt ? (x->ct ? ar->ukr_row_short_t : ar->ukr_row_short) : (x->ct ? ar->ukr_row_t : ar->ukr_row);
        r->ukr_half = shrt ? NULL : x->ct ? ar->ukr_row_half_t : ar->ukr_row_half;
    } else {
        r->ukr = shrt ? (x->ct ? ar->ukr_col_short_t : ar->ukr_col_short) : (x->ct ? ar->ukr_col_t : ar->ukr_col);
        r->ukr_half = shrt && in_place ? NULL : x->ct ? ar->ukr_col_half_t : ar->ukr_col_half;
    }
    const float *asrc = x->trans_a ? x->a + pc * x->lda + r->i0 : x->a + r->i0 * x->lda + pc;
    if (in_place) {
        r->ap = asrc;
        r->sa = x->lda;
    } else {
        ar->pack_a(apack, asrc, x->lda, x->trans_a, kcur, r->mr, MR);
        r->ap = apack;
        r->sa = MR;
    }
    return rp;
}

/* C tile (row tile r) x (panel jr of the current (jc, pc) block). */
static inline void run_tile(const gemm_ctx *x, const float *bb, ptrdiff_t jc, ptrdiff_t ncur, ptrdiff_t pc,
                            ptrdiff_t kcur, float beta, const row_panel *r, ptrdiff_t jr) {
    const int NR = x->ar->nr;
    ptrdiff_t j0 = jc + jr * NR;
    int nr = (int)(jc + ncur - j0 < NR ? jc + ncur - j0 : NR);
    const float *bp;
    ptrdiff_t rsb = NR;
    if (x->b_direct && nr == NR) {
        bp = x->b + pc * x->ldb + j0;
        rsb = x->ldb;
    } else {
        bp = bb + (x->b_direct ? 0 : jr * kcur * NR);
    }
    fnn_ukr_t uk = 2 * nr <= NR && r->ukr_half ? r->ukr_half : r->ukr;
    const ptrdiff_t i0 = r->i0;
    float *tile = x->c + (x->ct ? j0 * x->ldc + i0 : i0 * x->ldc + j0);
    uk(kcur, r->ap, r->sa, bp, rsb, tile, x->ldc, x->alpha, beta, r->mr, nr);
    if (x->ep && pc + kcur == x->k) {   /* C's own rows and columns: transposed back under C^T */
        if (x->ct)
            fnn_gemm_tile_epilogue(tile, x->ldc, nr, r->mr, j0, i0, x->ep);
        else
            fnn_gemm_tile_epilogue(tile, x->ldc, r->mr, nr, i0, j0, x->ep);
    }
}

/* Whether tile (ir, jr) was computed while B was packed: the first row tile ir_lo on panels [done_lo, done_hi)
   (pack_b_fused). */
static inline int done_in_packing(ptrdiff_t ir, ptrdiff_t jr, ptrdiff_t ir_lo, ptrdiff_t done_lo, ptrdiff_t done_hi) {
    return ir == ir_lo && jr >= done_lo && jr < done_hi;
}

/* C rows of tiles [ir_lo, ir_hi) x columns of panels [jr_lo, jr_hi) of the current (jc, pc) block, except the
   tiles done_in_packing. */
static void compute_block(const gemm_ctx *x, const float *bb, ptrdiff_t jc, ptrdiff_t ncur, ptrdiff_t pc,
                          ptrdiff_t kcur, float beta, ptrdiff_t ir_lo, ptrdiff_t ir_hi, ptrdiff_t jr_lo,
                          ptrdiff_t jr_hi, ptrdiff_t done_lo, ptrdiff_t done_hi, int tid) {
    if (x->abuf && ir_hi - ir_lo <= GEMM_AT_PACK_TILES && jr_hi - jr_lo > 1) {
        /* A column-form A (gathered: MR floats out of each of kcur rows) for few row tiles: all of them packed
           first, then the columns outermost, each B panel read once from the block and kept in L1 for every
           row tile, the A panels (a few KiB each) read from L1/L2 */
        const ptrdiff_t MR = x->ar->mr;
        float *ab = x->abuf + (size_t)tid * x->asize;
        row_panel rp[GEMM_AT_PACK_TILES];
        for (ptrdiff_t ir = ir_lo; ir < ir_hi; ir++)
            rp[ir - ir_lo] = row_panel_at(x, ir, pc, kcur, ab + (ir - ir_lo) * MR * kcur);
        for (ptrdiff_t jr = jr_lo; jr < jr_hi; jr++)
            for (ptrdiff_t ir = ir_lo; ir < ir_hi; ir++)
                if (!done_in_packing(ir, jr, ir_lo, done_lo, done_hi))
                    run_tile(x, bb, jc, ncur, pc, kcur, beta, &rp[ir - ir_lo], jr);
        return;
    }
    FNN_ALIGN64 float apack[FNN_GEMM_MR_MAX * FNN_GEMM_KC_MAX];
    for (ptrdiff_t ir = ir_lo; ir < ir_hi; ir++) {
        /* by value: the kernels' loop keeps it in registers */
        const row_panel r = row_panel_at(x, ir, pc, kcur, apack);
        if (ir == ir_lo && done_lo < done_hi) {
            for (ptrdiff_t jr = jr_lo; jr < jr_hi; jr++)
                if (!done_in_packing(ir, jr, ir_lo, done_lo, done_hi))
                    run_tile(x, bb, jc, ncur, pc, kcur, beta, &r, jr);
            continue;
        }
        ptrdiff_t i0n = 0;
        int mrn = 0;
        if (ir + 1 < ir_hi) row_tile(x, ir + 1, &i0n, &mrn);
        int pf = x->trans_a && ir + 1 < ir_hi && !a_in_place(x, mrn);
        for (ptrdiff_t jr = jr_lo; jr < jr_hi; jr++) {
            if (pf) prefetch_at(x, i0n, mrn, pc, kcur, jr - jr_lo, jr_hi - jr_lo);
            run_tile(x, bb, jc, ncur, pc, kcur, beta, &r, jr);
        }
    }
}

/* Packs B panels [s_lo, s_hi) of the current block one at a time, each followed by the kernel of row tile ir
   (none when ir < 0) on it when it is one of the columns [jr_lo, jr_hi) this thread computes.  Tile ir's A
   panel is packed here and again by compute_block for its other columns: one extra panel per block. */
static void pack_b_fused(const gemm_ctx *x, float *bb, ptrdiff_t jc, ptrdiff_t ncur, ptrdiff_t pc, ptrdiff_t kcur,
                         float beta, ptrdiff_t ir, ptrdiff_t s_lo, ptrdiff_t s_hi, ptrdiff_t jr_lo, ptrdiff_t jr_hi) {
    FNN_ALIGN64 float apack[FNN_GEMM_MR_MAX * FNN_GEMM_KC_MAX];
    const row_panel r = ir >= 0 ? row_panel_at(x, ir, pc, kcur, apack) : (row_panel){0};
    for (ptrdiff_t jr = s_lo; jr < s_hi; jr++) {
        pack_b_panels(x, bb, jc, ncur, pc, kcur, jr, jr + 1);
        if (ir >= 0 && jr >= jr_lo && jr < jr_hi) run_tile(x, bb, jc, ncur, pc, kcur, beta, &r, jr);
    }
}

/* The whole multiply for thread tid of a team of nt (nt == 1: serially).  The team is a tm x (nt / tm) grid:
   thread tid takes ir panels of row group tid % tm and jr panels of column group tid / tm (each group a
   contiguous, equal share).  B panels are packed once per block, split over the whole team; each thread packs
   the A panels of its own ir range (so A is packed nt / tm times in all: tm is kept as large as balance allows).
   A B^T block is packed panel by panel, each followed at once by the kernel of the thread's first row tile on
   it (where that column is the thread's too), so the packing's reads of B^T overlap kernels and the panel is
   still in L1 for that tile; the rest of the block follows the barrier (dev-zen3, interleaved in one process:
   128x1024x1024 B^T +5-14% on 1 thread, +4-16% on 2; a row-major B, packed 1 or 4 panels at a time that way,
   gained nothing: its panels are 16 floats out of distant rows, which the 16-row steps across all the panels
   read as a few sequential streams instead). */
static void gemm_thread(const gemm_ctx *x, int tid, int nt, int tm) {
    const fnn_gemm_arch_t *ar = x->ar;
    const ptrdiff_t NR = ar->nr, KC = x->kc, NC = x->nc;
    const ptrdiff_t n_ir = x->n_ir;
    const int tn = nt / tm, gi = tid % tm, gj = tid / tm;
    const int fuse = x->trans_b;
    unsigned blk = 0;
    for (ptrdiff_t jc = 0; jc < x->n; jc += NC) {
        ptrdiff_t ncur = x->n - jc < NC ? x->n - jc : NC;
        ptrdiff_t n_jr = (ncur + NR - 1) / NR;
        for (ptrdiff_t pc = 0; pc < x->k; pc += KC) {
            ptrdiff_t kcur = x->k - pc < KC ? x->k - pc : KC;
            float beta = pc == 0 ? x->beta : 1.0f;
            /* Packing of B: panels split statically over the team, into the buffer the block before last used.
               One barrier per block: once past it, every thread has finished the block before last (it came
               before their own packing of the last block), so that buffer is free; C tiles never change hands. */
            float *bb = x->bbuf + (nt > 1 ? (blk++ & 1) * x->bsize : 0);
            ptrdiff_t p_lo = x->b_direct ? n_jr - 1 : 0;
            ptrdiff_t np = n_jr - p_lo;
            const ptrdiff_t s_lo = p_lo + (np * tid) / nt, s_hi = p_lo + (np * (tid + 1)) / nt;
            const ptrdiff_t ir_lo = (n_ir * gi) / tm, ir_hi = (n_ir * (gi + 1)) / tm;
            const ptrdiff_t jr_lo = (n_jr * gj) / tn, jr_hi = (n_jr * (gj + 1)) / tn;
            ptrdiff_t done_lo = 0, done_hi = 0;
            if (fuse) {
                pack_b_fused(x, bb, jc, ncur, pc, kcur, beta, ir_lo < ir_hi ? ir_lo : -1, s_lo, s_hi, jr_lo, jr_hi);
                done_lo = s_lo > jr_lo ? s_lo : jr_lo;
                done_hi = s_hi < jr_hi ? s_hi : jr_hi;
            } else {
                pack_b_panels(x, bb, jc, ncur, pc, kcur, s_lo, s_hi);
            }
#ifdef _OPENMP
            if (nt > 1) {
#pragma omp barrier
            }
#endif
            compute_block(x, bb, jc, ncur, pc, kcur, beta, ir_lo, ir_hi, jr_lo, jr_hi, done_lo, done_hi, tid);
        }
    }
}

static void scale_c(ptrdiff_t m, ptrdiff_t n, float beta, float *c, ptrdiff_t ldc) {
    for (ptrdiff_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        if (beta == 0.0f)
            memset(ci, 0, (size_t)n * sizeof(float));
        else if (beta != 1.0f)
            for (ptrdiff_t j = 0; j < n; j++) ci[j] *= beta;
    }
}

/* Fraction of the team kept busy when `items` equal pieces are split statically over nt threads. */
static double balance(ptrdiff_t items, int nt) {
    ptrdiff_t per = (items + nt - 1) / nt;
    return (double)items / (double)(per * nt);
}

/* Share of the work of the register tiles that lands in C, for m rows over MR-row tiles (none wasted where the
   short tiles cover them, row_tiles) and n columns over NR-column panels (the last one NR/2 wide when it fits
   and the ISA has the narrow kernel). */
static double tile_use(const fnn_gemm_arch_t *ar, ptrdiff_t m, ptrdiff_t n) {
    const ptrdiff_t MR = ar->mr, NR = ar->nr, r = n % NR;
    const ptrdiff_t q = (m + MR - 1) / MR, nf = full_row_tiles(ar, m);
    ptrdiff_t pm = nf * MR + (q - nf) * (MR - 1), pn = n - r;   /* short tiles leave no padding row */
    if (r) pn += 2 * r <= NR && ar->ukr_col_half ? NR / 2 : NR;
    return ((double)m / (double)pm) * ((double)n / (double)pn);
}

/* Whether the left operand (op(A) of n columns of C) is read in place rather than packed. */
static int a_direct(const fnn_gemm_arch_t *ar, int trans_a, ptrdiff_t n) {
    return n <= (trans_a ? GEMM_AT_DIRECT_MAX_N : ar->a_direct_n);
}

int fnn_gemm_orient_mode = -1;

/* Whether to multiply C^T = op(B)^T @ op(A)^T (the transposed-store kernels) instead of C = op(A) @ op(B).
   Each orientation scores the share of its tiles' work that lands in C, GEMM_SWAP_IN_PLACE more when its left
   operand is read in place (GEMM_SWAP_DIRECT_N: no packing of it); the C^T one must win by
   GEMM_SWAP_MARGIN plus its store's extra cost (8 x 8 register transposes, 6-float rows: about
   GEMM_SWAP_STORE_K k steps of a tile), and B must suit the left operand's packing.  The left panels (MR x KC)
   are packed per row panel and reused across only M / NR column panels in that orientation; from B^T (a Dense
   layer's forward pass) they are contiguous rows, and with M <= GEMM_SWAP_DIRECT_N they are read in place,
   but from a row-major B each panel is MR floats out of KC distant rows, cheap only while B sits in L2 (from
   L3, or with a 4 KiB stride when N = 1024 that thrashes L1 and L2 sets, the gathers cost more than the tiles
   save).  dev-zen3, 1 thread, forced either way (best of 7, several runs; the constants are fitted to these
   and the host swings 5-10%): taken: 32x54x100 54 -> 60 GFLOP/s, 784x128x100 A^T 76 -> 79 (B 50 KB),
   128x784x100 B^T 75 -> 79; not taken: 128x784x1024 84 -> 68, 54x32x100 A^T 56 -> 53 (score 1.08 against a
   1.088 bar), 256x54x100 74 -> 71. */
#define GEMM_SWAP_MARGIN 0.01
#define GEMM_SWAP_STORE_K 2.5
#define GEMM_SWAP_IN_PLACE 0.08
#define GEMM_SWAP_MIN_N 24   /* fewer rows of C^T than this: measured slower (128x100x10: 40 -> 35 GFLOP/s) */
#define GEMM_SWAP_GATHER_BYTES (256.0 * 1024.0)   /* a row-major B up to this size is gathered from L2 */
/* The in-place bonus goes to a left operand of at most this many columns in either form: the constants were
   fitted when every left operand was read in place only up to 64 columns, and with a row-major A read in place
   further (the ISA's a_direct_n, AVX2 128) they still choose right: scored as in place, 32x54x100 would keep
   C = A B at 55 GFLOP/s where C^T runs at 75. */
#define GEMM_SWAP_DIRECT_N 64
static int gemm_swap(const fnn_gemm_arch_t *ar, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k) {
    if (!ar->ukr_col_t || fnn_gemm_orient_mode == 0) return 0;
    if (fnn_gemm_orient_mode == 1) return 1;
    if (n < GEMM_SWAP_MIN_N) return 0;
    /* C^T's left operand is B's storage: column form from a row-major B (op(B)^T = B^T), row form from B^T */
    if (!trans_b && !a_direct(ar, 1, m) && (double)k * (double)n * sizeof(float) > GEMM_SWAP_GATHER_BYTES)
        return 0;
    double keep = tile_use(ar, m, n) * (n <= GEMM_SWAP_DIRECT_N ? 1.0 + GEMM_SWAP_IN_PLACE : 1.0);
    double swap = tile_use(ar, n, m) * (m <= GEMM_SWAP_DIRECT_N ? 1.0 + GEMM_SWAP_IN_PLACE : 1.0);
    return swap > keep * (1.0 + GEMM_SWAP_MARGIN + GEMM_SWAP_STORE_K / (double)k);
}

/* Rows of the nt-thread grid (a divisor of nt): the best balance of ir panels x jr panels, each extra column
   group charged 2% (it packs A once more); ties go to more rows. */
static int grid_rows(ptrdiff_t n_ir, ptrdiff_t n_jr, int nt) {
    int best = 1;
    double best_s = -1.0;
    for (int tm = nt; tm >= 1; tm--) {
        if (nt % tm) continue;
        int tn = nt / tm;
        double sc = balance(n_ir, tm) * balance(n_jr, tn) * (1.0 - 0.02 * (tn - 1));
        if (sc > best_s + 1e-9) { best_s = sc; best = tm; }
    }
    return best;
}

// c (rows, cols) at row i0, column j0 of C: += row_bias[i0..], += bias[j0..], then ReLU
void fnn_gemm_tile_epilogue(float *c, ptrdiff_t ldc, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t i0, ptrdiff_t j0,
                            const fnn_gemm_epilogue *ep) {
    const float *FNN_RESTRICT bias = ep->bias ? ep->bias + j0 : NULL;
    for (ptrdiff_t i = 0; i < rows; i++) {
        float *FNN_RESTRICT ci = c + i * ldc;
        if (ep->row_bias) {
            const float rb = ep->row_bias[i0 + i];
            if (!bias && ep->relu) {   // one pass, as below
                for (ptrdiff_t j = 0; j < cols; j++) {
                    const float v = ci[j] + rb;
                    ci[j] = v > 0.0f ? v : 0.0f;
                }
                continue;
            }
            for (ptrdiff_t j = 0; j < cols; j++) ci[j] += rb;
            if (!bias && !ep->relu) continue;
        }
        if (bias && ep->relu) {   // one pass: the sum is rounded to float before the comparison, as apart
            for (ptrdiff_t j = 0; j < cols; j++) {
                const float v = ci[j] + bias[j];
                ci[j] = v > 0.0f ? v : 0.0f;
            }
        } else if (bias) {
            for (ptrdiff_t j = 0; j < cols; j++) ci[j] += bias[j];
        } else {
            for (ptrdiff_t j = 0; j < cols; j++) ci[j] = ci[j] > 0.0f ? ci[j] : 0.0f;
        }
    }
}

// c (M,N) = alpha * op(a) (M,K) @ op(b) (K,N) + beta * c
int fnn_sgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
              const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta,
              float *c, ptrdiff_t ldc, int n_threads) {
    return fnn_sgemm_ep(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL, n_threads);
}

// c (M,N) = epilogue(alpha * op(a) (M,K) @ op(b) (K,N) + beta * c)
int fnn_sgemm_ep(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                 const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta,
                 float *c, ptrdiff_t ldc, const fnn_gemm_epilogue *ep, int n_threads) {
    if (m < 0 || n < 0 || k < 0) return FNN_ERR_ARG;
    if (m == 0 || n == 0) return FNN_OK;
    if (!c || ldc < n) return FNN_ERR_ARG;
    if (ep && !ep->bias && !ep->relu && !ep->row_bias) ep = NULL;
    if (k == 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, ldc);
        if (ep) fnn_gemm_tile_epilogue(c, ldc, m, n, 0, 0, ep);
        return FNN_OK;
    }
    if (!a || !b || lda < (trans_a ? m : k) || ldb < (trans_b ? k : n)) return FNN_ERR_ARG;

    const int isa = fnn_get_isa();
    if (isa == FNN_ISA_AVX512 &&
        fnn_gemm_small_avx512(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ep, n_threads))
        return FNN_OK;

    gemm_ctx x;
    x.ar = arch_for(isa);
    x.ct = gemm_swap(x.ar, trans_b, m, n, k);
    if (x.ct) {   /* C^T (n, m) = op(B)^T @ op(A)^T: B's storage read as the left operand, A's as the right */
        const float *t = a;
        ptrdiff_t ld = lda, d = m;
        int ta = trans_a;
        a = b; lda = ldb; b = t; ldb = ld;
        m = n; n = d;
        trans_a = !trans_b;
        trans_b = !ta;
    }
    const ptrdiff_t MR = x.ar->mr, NR = x.ar->nr;
    ptrdiff_t nkb = (k + x.ar->kc - 1) / x.ar->kc, nnb = (n + x.ar->nc - 1) / x.ar->nc;
    const ptrdiff_t KC = (k + nkb - 1) / nkb;
    const ptrdiff_t NC = ((n + nnb - 1) / nnb + NR - 1) / NR * NR;
    x.kc = KC;
    x.nc = NC;
    x.trans_a = trans_a != 0;
    x.trans_b = trans_b != 0;
    x.m = m; x.n = n; x.k = k; x.lda = lda; x.ldb = ldb; x.ldc = ldc;
    x.alpha = alpha; x.beta = beta; x.a = a; x.b = b; x.c = c; x.ep = ep;
    x.b_direct = !x.trans_b && m <= GEMM_B_DIRECT_MAX_M;
    x.a_direct = a_direct(x.ar, x.trans_a, n);
    row_tiles(&x);

    ptrdiff_t ncap = n < NC ? n : NC;
    ptrdiff_t n_ir = (m + MR - 1) / MR, n_jr = (ncap + NR - 1) / NR;
    int nt = 1;
#ifdef _OPENMP
    /* at least GEMM_PAR_FLOPS per extra thread, at most one thread per register tile */
    double flops = 2.0 * (double)m * (double)n * (double)k;
    const double per = isa == FNN_ISA_AVX512 ? GEMM_PAR_FLOPS_AVX512 : GEMM_PAR_FLOPS;
    if (n_threads > 1 && flops >= per) {
        nt = n_threads;
        if ((double)nt > 1.0 + flops / per) nt = (int)(1.0 + flops / per);
        if ((double)nt > (double)n_ir * (double)n_jr) nt = (int)(n_ir * n_jr);
    }
#else
    (void)n_threads;
#endif
    ptrdiff_t kcap = k < KC ? k : KC;
    size_t need = (size_t)kcap * (size_t)(x.b_direct ? NR : ((ncap + NR - 1) / NR) * NR);
    x.bsize = need;
    /* a column-form A packed up front where a thread's row tiles are few (compute_block) */
    const ptrdiff_t at_tiles = n_ir < GEMM_AT_PACK_TILES ? n_ir : GEMM_AT_PACK_TILES;   /* any grid's share */
    x.asize = x.trans_a && !x.a_direct && (n_ir + nt - 1) / nt <= GEMM_AT_PACK_TILES
                  ? ((size_t)(at_tiles * MR * kcap) + 15) & ~(size_t)15 : 0;
    const size_t bfloats = nt > 1 ? 2 * need : need;
    x.bbuf = scratch_floats(bfloats + (size_t)nt * x.asize);
    if (!x.bbuf) return FNN_ERR_NOMEM;
    x.abuf = x.asize ? x.bbuf + bfloats : NULL;

    if (nt <= 1) {
        gemm_thread(&x, 0, 1, 1);
        return FNN_OK;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
    {
        int team = omp_get_num_threads();  /* may be fewer than asked (nested regions, limits) */
        gemm_thread(&x, omp_get_thread_num(), team, grid_rows(n_ir, n_jr, team));
    }
#endif
    return FNN_OK;
}
