/* fastnn: direct convolution for few channels (AVX-512 and AVX2), stride 1, dilation 1, one group.
   The im2col + GEMM route copies every input pixel KH*KW times into the column matrix before the multiply;
   with few channels (LeNet-5's 1->6 and 6->16, Nielsen's 1->20) that copy is larger than the output and
   costs more than the arithmetic, and the GEMM's M (the output channels) is too small for its tiles.
   Here each output row segment of 16 pixels (AVX2: 8) is a vector: a register tile of RO output channels x RH output
   rows accumulates, over (c, kh, kw), a broadcast weight times the input row segment shifted by kw (one
   load serves RO channels).  Padding is a zero border in a per-thread copy of the sample (no bounds tests).
   The input gradient is the same kernel: dx = conv(dout zero-bordered by K-1-P, weights transposed over
   the channels and flipped in both axes).  The weight gradient sums a backward chunk's samples lane-wise in
   registers (tiles of RO output channels x up to 5 kernel columns; one reduction per weight and chunk).
   Every output sums its terms in the same order (bias, then c, kh, kw ascending; the chunk's samples, rows
   and columns) whatever the tiling and thread count. */
#include <string.h>

#include "fnn_avx2.h"
#include "fnn_conv_impl.h"
#include "fnn_cpu.h"

#ifdef FNN_X86_TARGETS
#include <immintrin.h>

#define DIRECT_RO 4   /* output channels per register tile */
#define DIRECT_RH 6   /* output rows per register tile (RO x RH accumulators + RH input vectors <= 32 zmm) */

typedef struct {
    const float *x;      /* input (C, Hp, Wp), zero-bordered */
    const float *w;      /* weights (OC, C, KH, KW) */
    const float *bias;   /* (OC) or NULL */
    float *out;          /* (OC, OH, OW) */
    ptrdiff_t C, Hp, Wp, KH, KW, OH, OW;
    int relu;
} direct_args;

/* Tile of RO channels from oc, RH rows from oh, 16 columns from j (lanes under m). */
#define DIRECT_TILE(NAME, RO, RH)                                                                                \
    FNN_TARGET_AVX512 static void NAME(const direct_args *a, ptrdiff_t oc, ptrdiff_t oh, ptrdiff_t j,          \
                                       __mmask16 m) {                                                           \
        const ptrdiff_t KK = a->KH * a->KW, plane = a->Hp * a->Wp;                                              \
        __m512 acc[RO][RH];                                                                                     \
        _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++) {                                                  \
            __m512 b0 = a->bias ? _mm512_set1_ps(a->bias[oc + o]) : _mm512_setzero_ps();                        \
            _Pragma("GCC unroll 8") for (int r = 0; r < RH; r++) acc[o][r] = b0;                                \
        }                                                                                                       \
        for (ptrdiff_t c = 0; c < a->C; c++) {                                                                  \
            const float *wc = a->w + (oc * a->C + c) * KK;                                                      \
            const float *xc = a->x + c * plane + oh * a->Wp + j;                                                \
            for (ptrdiff_t kh = 0; kh < a->KH; kh++) {                                                          \
                for (ptrdiff_t kw = 0; kw < a->KW; kw++) {                                                      \
                    const float *xs = xc + kh * a->Wp + kw;                                                     \
                    __m512 xv[RH];                                                                              \
                    _Pragma("GCC unroll 8") for (int r = 0; r < RH; r++)                                        \
                        xv[r] = _mm512_maskz_loadu_ps(m, xs + r * a->Wp);                                       \
                    _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++) {                                      \
                        const __m512 wv = _mm512_set1_ps(wc[o * a->C * KK + kh * a->KW + kw]);                  \
                        _Pragma("GCC unroll 8") for (int r = 0; r < RH; r++)                                    \
                            acc[o][r] = _mm512_fmadd_ps(wv, xv[r], acc[o][r]);                                  \
                    }                                                                                           \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
        const __m512 z = _mm512_setzero_ps();                                                                   \
        _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++)                                                    \
            _Pragma("GCC unroll 8") for (int r = 0; r < RH; r++) {                                              \
                __m512 v = a->relu ? _mm512_max_ps(acc[o][r], z) : acc[o][r];                                   \
                _mm512_mask_storeu_ps(a->out + ((oc + o) * a->OH + oh + r) * a->OW + j, m, v);                  \
            }                                                                                                   \
    }

#define DIRECT_TILES(RO)                                                                                         \
    DIRECT_TILE(tile_##RO##x1, RO, 1) DIRECT_TILE(tile_##RO##x2, RO, 2) DIRECT_TILE(tile_##RO##x3, RO, 3)     \
    DIRECT_TILE(tile_##RO##x4, RO, 4) DIRECT_TILE(tile_##RO##x5, RO, 5) DIRECT_TILE(tile_##RO##x6, RO, 6)
DIRECT_TILES(4)
DIRECT_TILES(2)
DIRECT_TILES(1)

typedef void (*tile_fn)(const direct_args *, ptrdiff_t, ptrdiff_t, ptrdiff_t, __mmask16);
static const tile_fn tiles[3][DIRECT_RH] = {
    {tile_4x1, tile_4x2, tile_4x3, tile_4x4, tile_4x5, tile_4x6},
    {tile_2x1, tile_2x2, tile_2x3, tile_2x4, tile_2x5, tile_2x6},
    {tile_1x1, tile_1x2, tile_1x3, tile_1x4, tile_1x5, tile_1x6},
};

/* out (OC, OH, OW) = conv(x (C, Hp, Wp), w) + bias, relu: all tiles of one sample.  Channels in blocks of 4
   (then 2, 1); rows in equal blocks of at most 6 (OH = 8: 4 + 4, not 6 + 1 + 1). */
FNN_TARGET_AVX512 static void direct_sample(const direct_args *a, ptrdiff_t OC) {
    const ptrdiff_t nt = (a->OH + DIRECT_RH - 1) / DIRECT_RH, rh0 = (a->OH + nt - 1) / nt;
    for (ptrdiff_t oc = 0; oc < OC;) {
        const ptrdiff_t left = OC - oc;
        const int ro = left >= 4 ? 4 : left >= 2 ? 2 : 1;
        const tile_fn *row = tiles[ro == 4 ? 0 : ro == 2 ? 1 : 2];
        for (ptrdiff_t oh = 0; oh < a->OH; oh += rh0) {
            const ptrdiff_t rh = a->OH - oh < rh0 ? a->OH - oh : rh0;
            for (ptrdiff_t j = 0; j < a->OW; j += 16) {
                ptrdiff_t n = a->OW - j;
                row[rh - 1](a, oc, oh, j, n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u));
            }
        }
        oc += ro;
    }
}

/* ---- weight gradient ----------------------------------------------------------------------------------- */
typedef struct {
    const float *x;      /* samples (nn, C, Hp, Wp), zero-bordered, one after another */
    const float *dout;   /* (nn, OC, OH, OW) */
    float *dw;           /* (OC, C, KH, KW), overwritten */
    ptrdiff_t nn, C, OC, Hp, Wp, KH, KW, OH, OW;
} dw_args;

/* dw[oc..oc+RO)[c][kh][kw0..kw0+NK) = sum over samples, rows and columns of dout x the input shifted by
   (kh, kw): lane-wise sums in registers over every sample of the chunk, then one reduction per weight. */
#define DW_TILE(NAME, RO, NK)                                                                                    \
    FNN_TARGET_AVX512 static void NAME(const dw_args *a, ptrdiff_t oc, ptrdiff_t c, ptrdiff_t kh, ptrdiff_t kw0) { \
        __m512 acc[RO][NK];                                                                                     \
        _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++)                                                    \
            _Pragma("GCC unroll 8") for (int k = 0; k < NK; k++) acc[o][k] = _mm512_setzero_ps();               \
        const ptrdiff_t P = a->OH * a->OW, plane = a->Hp * a->Wp;                                               \
        for (ptrdiff_t n = 0; n < a->nn; n++) {                                                                 \
            const float *dn = a->dout + (n * a->OC + oc) * P;                                                   \
            const float *xn = a->x + (n * a->C + c) * plane + kh * a->Wp + kw0;                                  \
            for (ptrdiff_t oh = 0; oh < a->OH; oh++) {                                                          \
                for (ptrdiff_t j = 0; j < a->OW; j += 16) {                                                     \
                    const ptrdiff_t left = a->OW - j;                                                           \
                    const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);      \
                    __m512 d[RO];                                                                               \
                    _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++)                                        \
                        d[o] = _mm512_maskz_loadu_ps(m, dn + o * P + oh * a->OW + j);                           \
                    _Pragma("GCC unroll 8") for (int k = 0; k < NK; k++) {                                      \
                        const __m512 xv = _mm512_maskz_loadu_ps(m, xn + oh * a->Wp + j + k);                    \
                        _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++)                                    \
                            acc[o][k] = _mm512_fmadd_ps(d[o], xv, acc[o][k]);                                   \
                    }                                                                                           \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
        const ptrdiff_t KK = a->KH * a->KW;                                                                     \
        _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++)                                                    \
            _Pragma("GCC unroll 8") for (int k = 0; k < NK; k++)                                                \
                a->dw[((oc + o) * a->C + c) * KK + kh * a->KW + kw0 + k] = _mm512_reduce_add_ps(acc[o][k]);    \
    }

#define DW_TILES(RO)                                                                                             \
    DW_TILE(dwt_##RO##x1, RO, 1) DW_TILE(dwt_##RO##x2, RO, 2) DW_TILE(dwt_##RO##x3, RO, 3)                      \
    DW_TILE(dwt_##RO##x4, RO, 4) DW_TILE(dwt_##RO##x5, RO, 5)
DW_TILES(4)
DW_TILES(2)
DW_TILES(1)

typedef void (*dw_tile_fn)(const dw_args *, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t);
static const dw_tile_fn dw_tiles[3][5] = {
    {dwt_4x1, dwt_4x2, dwt_4x3, dwt_4x4, dwt_4x5},
    {dwt_2x1, dwt_2x2, dwt_2x3, dwt_2x4, dwt_2x5},
    {dwt_1x1, dwt_1x2, dwt_1x3, dwt_1x4, dwt_1x5},
};

/* The weight gradient over tiles[r][w - 1]: rows r of 4, 2 and 1 output channels (a NULL first row: no
   4-channel tiles), w kernel columns; the columns in equal blocks of at most 5. */
static void direct_dw(const dw_args *a, const dw_tile_fn tiles[3][5]) {
    const ptrdiff_t nk = (a->KW + 4) / 5, k0 = (a->KW + nk - 1) / nk;
    for (ptrdiff_t oc = 0; oc < a->OC;) {
        const ptrdiff_t left = a->OC - oc;
        const int ro = left >= 4 && tiles[0][0] ? 4 : left >= 2 ? 2 : 1;
        const dw_tile_fn *row = tiles[ro == 4 ? 0 : ro == 2 ? 1 : 2];
        for (ptrdiff_t c = 0; c < a->C; c++)
            for (ptrdiff_t kh = 0; kh < a->KH; kh++)
                for (ptrdiff_t kw = 0; kw < a->KW; kw += k0) {
                    const ptrdiff_t w = a->KW - kw < k0 ? a->KW - kw : k0;
                    row[w - 1](a, oc, c, kh, kw);
                }
        oc += ro;
    }
}

/* ---- AVX2 (8-float vectors, 16 ymm registers) ------------------------------------------------------------
   The same tiles at half the width, shaped to fit 16 registers: forward/input-gradient tiles of RO <= 4
   channels x RH <= 2 rows (8 accumulators, 2 input vectors, the broadcast weight and the lane mask), weight
   gradient tiles of RO <= 2 channels x NK <= 5 kernel columns (10 accumulators).  Masked loads read nothing
   past a row's last column; the sums run in the same order as the AVX-512 tiles, lane-wise over 8 lanes. */
#define DIRECT_RH2 2

static inline FNN_TARGET_AVX2 __m256i lanes8(ptrdiff_t n) {   /* lanes l < n */
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 8 ? n : 8)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#define LOAD8(FULL, p, n) ((FULL) ? _mm256_loadu_ps(p) : fnn_load_first((p), (n)))
#define DIRECT_TILE2(NAME, RO, RH, FULL)                                                                         \
    FNN_TARGET_AVX2 static void NAME(const direct_args *a, ptrdiff_t oc, ptrdiff_t oh, ptrdiff_t j) {            \
        const ptrdiff_t KK = a->KH * a->KW, plane = a->Hp * a->Wp;                                              \
        __m256 acc[RO][RH];                                                                                     \
        _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++) {                                                  \
            __m256 b0 = a->bias ? _mm256_set1_ps(a->bias[oc + o]) : _mm256_setzero_ps();                        \
            _Pragma("GCC unroll 8") for (int r = 0; r < RH; r++) acc[o][r] = b0;                                \
        }                                                                                                       \
        for (ptrdiff_t c = 0; c < a->C; c++) {                                                                  \
            const float *wc = a->w + (oc * a->C + c) * KK;                                                      \
            const float *xc = a->x + c * plane + oh * a->Wp + j;                                                \
            for (ptrdiff_t kh = 0; kh < a->KH; kh++) {                                                          \
                for (ptrdiff_t kw = 0; kw < a->KW; kw++) {                                                      \
                    const float *xs = xc + kh * a->Wp + kw;                                                     \
                    __m256 xv[RH];                                                                              \
                    _Pragma("GCC unroll 8") for (int r = 0; r < RH; r++)                                        \
                        xv[r] = _mm256_loadu_ps(xs + r * a->Wp);                                                \
                    _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++) {                                      \
                        const __m256 wv = _mm256_broadcast_ss(wc + o * a->C * KK + kh * a->KW + kw);            \
                        _Pragma("GCC unroll 8") for (int r = 0; r < RH; r++)                                    \
                            acc[o][r] = _mm256_fmadd_ps(wv, xv[r], acc[o][r]);                                  \
                    }                                                                                           \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
        const __m256 z = _mm256_setzero_ps();                                                                   \
        _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++)                                                    \
            _Pragma("GCC unroll 8") for (int r = 0; r < RH; r++) {                                              \
                __m256 v = a->relu ? _mm256_max_ps(acc[o][r], z) : acc[o][r];                                   \
                float *dst = a->out + ((oc + o) * a->OH + oh + r) * a->OW + j;                                  \
                if (FULL) _mm256_storeu_ps(dst, v);                                                             \
                else fnn_store_first(dst, v, (int)(a->OW - j));                                                 \
            }                                                                                                   \
    }

/* FULL: all 8 lanes inside the row; else the row's last, partial vector, stored in pieces.  Loads are
   always whole vectors (masked loads cost as much as the tile's FMAs on Zen 3): a partial vector's extra lanes
   read the next row or the scratch buffer's slack (the input is always the zero-bordered copy on AVX2) and
   are never stored. */
#define DIRECT_TILES2(F, FULL)                                                                                   \
    DIRECT_TILE2(tile2_4x1##F, 4, 1, FULL) DIRECT_TILE2(tile2_4x2##F, 4, 2, FULL)                               \
    DIRECT_TILE2(tile2_2x1##F, 2, 1, FULL) DIRECT_TILE2(tile2_2x2##F, 2, 2, FULL)                               \
    DIRECT_TILE2(tile2_1x1##F, 1, 1, FULL) DIRECT_TILE2(tile2_1x2##F, 1, 2, FULL)
DIRECT_TILES2(_full, 1)
DIRECT_TILES2(_tail, 0)

typedef void (*tile2_fn)(const direct_args *, ptrdiff_t, ptrdiff_t, ptrdiff_t);
static const tile2_fn tiles2[2][3][DIRECT_RH2] = {
    {{tile2_4x1_full, tile2_4x2_full}, {tile2_2x1_full, tile2_2x2_full}, {tile2_1x1_full, tile2_1x2_full}},
    {{tile2_4x1_tail, tile2_4x2_tail}, {tile2_2x1_tail, tile2_2x2_tail}, {tile2_1x1_tail, tile2_1x2_tail}}};

FNN_TARGET_AVX2 static void direct_sample_avx2(const direct_args *a, ptrdiff_t OC) {
    for (ptrdiff_t oc = 0; oc < OC;) {
        const ptrdiff_t left = OC - oc;
        const int ro = left >= 4 ? 4 : left >= 2 ? 2 : 1;
        const int ri = ro == 4 ? 0 : ro == 2 ? 1 : 2;
        for (ptrdiff_t oh = 0; oh < a->OH; oh += DIRECT_RH2) {
            const ptrdiff_t rh = a->OH - oh < DIRECT_RH2 ? a->OH - oh : DIRECT_RH2;
            ptrdiff_t j = 0;
            for (; j + 8 <= a->OW; j += 8) tiles2[0][ri][rh - 1](a, oc, oh, j);
            if (j < a->OW) tiles2[1][ri][rh - 1](a, oc, oh, j);
        }
        oc += ro;
    }
}

static inline FNN_TARGET_AVX2 float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

/* One 8-column step of a weight-gradient tile.  FULL: plain loads, in bounds.  Else the row's tail: the
   output gradient through a masked load (its buffer ends there), the input (the zero-bordered copy, with
   slack) as a whole vector with the extra lanes cleared, so they add exact zeros. */
#define DW_STEP2(RO, NK, FULL)                                                                                   \
    do {                                                                                                        \
        __m256 d[RO];                                                                                           \
        _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++) d[o] = LOAD8(FULL, dn + o * P + oh * a->OW + j, nt); \
        _Pragma("GCC unroll 8") for (int k = 0; k < NK; k++) {                                                  \
            __m256 xv = _mm256_loadu_ps(xn + oh * a->Wp + j + k);                                               \
            if (!(FULL)) xv = _mm256_and_ps(xv, _mm256_castsi256_ps(m));                                        \
            _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++) acc[o][k] = _mm256_fmadd_ps(d[o], xv, acc[o][k]); \
        }                                                                                                       \
    } while (0)

#define DW_TILE2(NAME, RO, NK)                                                                                   \
    FNN_TARGET_AVX2 static void NAME(const dw_args *a, ptrdiff_t oc, ptrdiff_t c, ptrdiff_t kh, ptrdiff_t kw0) { \
        __m256 acc[RO][NK];                                                                                     \
        _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++)                                                    \
            _Pragma("GCC unroll 8") for (int k = 0; k < NK; k++) acc[o][k] = _mm256_setzero_ps();               \
        const ptrdiff_t P = a->OH * a->OW, plane = a->Hp * a->Wp;                                               \
        const __m256i m = lanes8(a->OW % 8);                                                                    \
        const int nt = (int)(a->OW % 8);                                                                        \
        for (ptrdiff_t n = 0; n < a->nn; n++) {                                                                 \
            const float *dn = a->dout + (n * a->OC + oc) * P;                                                   \
            const float *xn = a->x + (n * a->C + c) * plane + kh * a->Wp + kw0;                                  \
            for (ptrdiff_t oh = 0; oh < a->OH; oh++) {                                                          \
                ptrdiff_t j = 0;                                                                                \
                for (; j + 8 <= a->OW; j += 8) DW_STEP2(RO, NK, 1);                                             \
                if (j < a->OW) DW_STEP2(RO, NK, 0);                                                             \
            }                                                                                                   \
        }                                                                                                       \
        const ptrdiff_t KK = a->KH * a->KW;                                                                     \
        _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++)                                                    \
            _Pragma("GCC unroll 8") for (int k = 0; k < NK; k++)                                                \
                a->dw[((oc + o) * a->C + c) * KK + kh * a->KW + kw0 + k] = hsum8(acc[o][k]);                    \
    }

#define DW_TILES2(RO)                                                                                            \
    DW_TILE2(dwt2_##RO##x1, RO, 1) DW_TILE2(dwt2_##RO##x2, RO, 2) DW_TILE2(dwt2_##RO##x3, RO, 3)               \
    DW_TILE2(dwt2_##RO##x4, RO, 4) DW_TILE2(dwt2_##RO##x5, RO, 5)
DW_TILES2(2)
DW_TILES2(1)

static const dw_tile_fn dw_tiles2[3][5] = {   /* no 4-channel tiles: 20 accumulators do not fit 16 ymm */
    {NULL, NULL, NULL, NULL, NULL},
    {dwt2_2x1, dwt2_2x2, dwt2_2x3, dwt2_2x4, dwt2_2x5},
    {dwt2_1x1, dwt2_1x2, dwt2_1x3, dwt2_1x4, dwt2_1x5},
};
#endif

int fnn_conv_direct_mode = -1;

#ifdef FNN_X86_TARGETS
/* The kernels read a zero-bordered copy when there is a border; on AVX2 always, since its tiles load whole
   vectors past a row's end (into the next row or the scratch buffer's slack, never past it). */
static int bordered_copy(ptrdiff_t ph, ptrdiff_t pw) { return ph || pw || fnn_get_isa() != FNN_ISA_AVX512; }
#endif

int fnn_conv_direct_geometry(const fnn_conv_shape *s) {
    if (s->SH != 1 || s->SW != 1 || s->DH != 1 || s->DW != 1 || s->G != 1) return 0;
    if (s->KH == 1 && s->KW == 1) return 0;   /* 1x1: the GEMM reads the input in place */
    return s->PH <= s->KH - 1 && s->PW <= s->KW - 1;
}

int fnn_conv_direct_ok(const fnn_conv_shape *s) {
#ifdef FNN_X86_TARGETS
    const int isa = fnn_get_isa();
    if (fnn_conv_direct_mode == 0 || (isa != FNN_ISA_AVX512 && isa != FNN_ISA_AVX2) || !fnn_conv_direct_geometry(s))
        return 0;
    if (fnn_conv_direct_mode == 1) return 1;
    /* few channels: the column matrix (C*KH*KW rows) outweighs the output (OC rows) and the GEMM's M (OC) is
       below its tiles (measured, bench/bench_conv.py) */
    return s->OC <= FNN_CONV_DIRECT_MAX_OC && s->C * s->KH * s->KW <= FNN_CONV_DIRECT_MAX_CKK;
#else
    (void)s;
    return 0;
#endif
}

ptrdiff_t fnn_conv_direct_scratch_floats(const fnn_conv_shape *s) {
    ptrdiff_t fwd = CONV_CHUNK * s->C * (s->H + 2 * s->PH) * (s->W + 2 * s->PW);   /* a chunk: weight gradient */
    ptrdiff_t bwd = s->OC * (s->OH + 2 * (s->KH - 1 - s->PH)) * (s->OW + 2 * (s->KW - 1 - s->PW));
    return (fwd > bwd ? fwd : bwd) + 8;   /* AVX2 tiles read whole vectors: up to 7 floats past the last row */
}

/* dst (C, H + 2 PH, W + 2 PW) = src (C, H, W) with a zero border */
static void pad_copy(float *FNN_RESTRICT dst, const float *FNN_RESTRICT src, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W,
                     ptrdiff_t PH, ptrdiff_t PW) {
    const ptrdiff_t Hp = H + 2 * PH, Wp = W + 2 * PW;
    for (ptrdiff_t c = 0; c < C; c++) {
        float *d = dst + c * Hp * Wp;
        memset(d, 0, (size_t)(PH * Wp) * sizeof(float));
        for (ptrdiff_t h = 0; h < H; h++) {
            float *r = d + (PH + h) * Wp;
            for (ptrdiff_t i = 0; i < PW; i++) r[i] = 0.0f;
            memcpy(r + PW, src + (c * H + h) * W, (size_t)W * sizeof(float));
            for (ptrdiff_t i = PW + W; i < Wp; i++) r[i] = 0.0f;
        }
        memset(d + (PH + H) * Wp, 0, (size_t)(PH * Wp) * sizeof(float));
    }
}

void fnn_conv_direct_forward_sample(float *out, const float *x, const float *w, const float *bias, int relu,
                                    const fnn_conv_shape *s, float *scratch) {
#ifdef FNN_X86_TARGETS
    direct_args a;
    a.x = x;
    if (bordered_copy(s->PH, s->PW)) {
        pad_copy(scratch, x, s->C, s->H, s->W, s->PH, s->PW);
        a.x = scratch;
    }
    a.w = w; a.bias = bias; a.out = out; a.relu = relu;
    a.C = s->C; a.Hp = s->H + 2 * s->PH; a.Wp = s->W + 2 * s->PW; a.KH = s->KH; a.KW = s->KW;
    a.OH = s->OH; a.OW = s->OW;
    if (fnn_get_isa() == FNN_ISA_AVX512) direct_sample(&a, s->OC);
    else direct_sample_avx2(&a, s->OC);
#else
    (void)out; (void)x; (void)w; (void)bias; (void)relu; (void)s; (void)scratch;
#endif
}

void fnn_conv_direct_flip_weights(float *wt, const float *w, const fnn_conv_shape *s) {
    const ptrdiff_t KH = s->KH, KW = s->KW, KK = KH * KW;
    for (ptrdiff_t o = 0; o < s->OC; o++)
        for (ptrdiff_t c = 0; c < s->C; c++)
            for (ptrdiff_t kh = 0; kh < KH; kh++)
                for (ptrdiff_t kw = 0; kw < KW; kw++)
                    wt[(c * s->OC + o) * KK + (KH - 1 - kh) * KW + (KW - 1 - kw)] =
                        w[(o * s->C + c) * KK + kh * KW + kw];
}

void fnn_conv_direct_dx_sample(float *dx, const float *dout, const float *wt, const fnn_conv_shape *s,
                               float *scratch) {
#ifdef FNN_X86_TARGETS
    const ptrdiff_t QH = s->KH - 1 - s->PH, QW = s->KW - 1 - s->PW;
    direct_args a;
    a.x = dout;
    if (bordered_copy(QH, QW)) {
        pad_copy(scratch, dout, s->OC, s->OH, s->OW, QH, QW);
        a.x = scratch;
    }
    a.w = wt; a.bias = NULL; a.out = dx; a.relu = 0;
    a.C = s->OC; a.Hp = s->OH + 2 * QH; a.Wp = s->OW + 2 * QW; a.KH = s->KH; a.KW = s->KW;
    a.OH = s->H; a.OW = s->W;
    if (fnn_get_isa() == FNN_ISA_AVX512) direct_sample(&a, s->C);
    else direct_sample_avx2(&a, s->C);
#else
    (void)dx; (void)dout; (void)wt; (void)s; (void)scratch;
#endif
}

void fnn_conv_direct_dw_chunk(float *dw, const float *dout, const float *x, ptrdiff_t nn, const fnn_conv_shape *s,
                              float *scratch) {
#ifdef FNN_X86_TARGETS
    dw_args a;
    a.x = x;
    if (bordered_copy(s->PH, s->PW)) {
        const ptrdiff_t one = s->C * (s->H + 2 * s->PH) * (s->W + 2 * s->PW);
        for (ptrdiff_t n = 0; n < nn; n++)
            pad_copy(scratch + n * one, x + n * s->C * s->H * s->W, s->C, s->H, s->W, s->PH, s->PW);
        a.x = scratch;
    }
    a.dout = dout; a.dw = dw; a.nn = nn; a.C = s->C; a.OC = s->OC;
    a.Hp = s->H + 2 * s->PH; a.Wp = s->W + 2 * s->PW; a.KH = s->KH; a.KW = s->KW; a.OH = s->OH; a.OW = s->OW;
    direct_dw(&a, fnn_get_isa() == FNN_ISA_AVX512 ? dw_tiles : dw_tiles2);
#else
    (void)dw; (void)dout; (void)x; (void)nn; (void)s; (void)scratch;
#endif
}
