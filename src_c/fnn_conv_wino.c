/* fastnn: Winograd convolution F(m x m, r x r) for 3x3 and 5x5 kernels, stride 1, dilation 1, one group
   (AVX2 vectors; also run on AVX-512 CPUs), m = 2 or 4, whichever transforms fewer points over the plane.

   A tile of m x m outputs comes from n x n inputs (n = m + r - 1): Y = A^T [U . V] A with U = G g G^T (the
   filter, transformed once per call) and V = B^T d B (the input tile).  The elementwise product summed over
   input channels is, for each of the n*n points xi, one matrix product
       M[xi] (tiles, OC) = V[xi] (tiles, C) @ U[xi] (C, OC)
   so the multiply count per output drops from r*r to n*n/(m*m) per channel pair: F(4x4, 5x5) 25 -> 4,
   F(2x2, 5x5) 25 -> 9, F(4x4, 3x3) 9 -> 2.25, F(2x2, 3x3) 9 -> 4 (transforms: src_c/fnn_wino_gen.h, generated
   from the points 0, +-1, +-2 (, +-1/2) and infinity; float32 errors measured within 2x of F(2x2, 5x5)'s).
   Layout: channels are the vector lanes.  Per sample, the input is copied once into a zero-bordered
   channels-last buffer (channels padded to a multiple of 8), tiles are transformed 8 channels at a time into
   V (tile rows, channel columns), the n*n products run on the SGEMM's own AVX2 micro-kernels (U packed once
   per call into their 16-column panels; V read in place, 6 tile rows per kernel call), and the output
   transform adds bias and ReLU and writes (OC, OH, OW) through register transposes of each tile row.
   Input gradient: the same routine on dout with the filter transposed over the channels and flipped
   (padding r - 1 - p).  Weight gradient: the adjoint, dU[xi] (C, OC) = sum over tiles V[xi]^T @ dYt[xi] with
   dYt = A dY A^T, summed over a backward chunk's samples in the Winograd domain, then dw = G^T dU G.
   Every output sums its terms in an order fixed by the shape (tiles, channel blocks, kernel depth), so the
   results are identical for any thread count. */
#include <string.h>

#include "fnn_avx2.h"
#include "fnn_conv_impl.h"
#include "fnn_cpu.h"
#include "fnn_gemm_kernels.h"
#include "fnn_wino_gen.h"   /* tables; its transform macros expand over VEC, defined below */

int fnn_conv_wino_mode = -1;

/* Tile size m for a kernel size r: the F(m, r) with the fewest transformed points over the output plane
   (each point is a C x OC product): n*n * ceil(OH/m) * ceil(OW/m), n = m + r - 1. */
static int wino_m(ptrdiff_t r, ptrdiff_t OH, ptrdiff_t OW) {
    const ptrdiff_t n2 = (2 + r - 1) * (2 + r - 1), n4 = (4 + r - 1) * (4 + r - 1);
    ptrdiff_t c4 = n4 * ((OH + 3) / 4) * ((OW + 3) / 4), c2 = n2 * ((OH + 1) / 2) * ((OW + 1) / 2);
    return c4 <= c2 ? 4 : 2;
}

int fnn_conv_wino_geometry(const fnn_conv_shape *s) {
    return s->G == 1 && s->SH == 1 && s->SW == 1 && s->DH == 1 && s->DW == 1 && s->KH == s->KW &&
           (s->KH == 3 || s->KH == 5) && s->PH <= s->KH - 1 && s->PW <= s->KW - 1;
}

int fnn_conv_wino_ok(const fnn_conv_shape *s, int pass) {
#ifdef FNN_X86_TARGETS
    const int isa = fnn_get_isa();
    if (fnn_conv_wino_mode == 0 || (isa != FNN_ISA_AVX2 && isa != FNN_ISA_AVX512) || !fnn_conv_wino_geometry(s))
        return 0;
    if (fnn_conv_wino_mode == 1) return 1;
    /* Channels are the vector lanes and the products' depth: with few, lanes are wasted and the transforms (per
       tile ~ C + OC, against C * OC for the products) are not amortised.  Per pass from bench/conv_route_ab.py
       on dev-zen3 (batch 64, Winograd vs the best other route): forward and weight gradient win from 6 input
       and 16 output channels (6->16 5x5 1.27x / 1.30x, 20->40 5x5 1.41x / 1.22x, 32->64 5x5 1.49x / 1.39x,
       the ResNet's 3x3 layers 1.85-2.76x / 1.03-2.01x); the input gradient (a convolution of dout, padded by
       K-1-P) wins for 3x3 from 16 channels and for 5x5 from 32 (32->64 2.9x; 20->40 0.73x, 6->16 0.49x).
       The same rule on AVX-512 CPUs (the transforms and products run on their AVX2 kernels there), not yet
       measured on one: F(4x4, 3x3) does a quarter of the direct multiplies and F(4x4, 5x5) a sixth, so they
       should beat the im2col GEMM where 512-bit FMAs run at the 256-bit rate (Zen 4, double-pumped) and at
       twice it (Intel's two 512-bit FMA ports) alike; before this, the AVX-512 dev machine's im2col route
       trained the small ResNet at 0.70-1.06x PyTorch. */
    if (s->OC < 16 || s->C < 6) return 0;
    return pass != FNN_WINO_DX || (s->C >= 16 && (s->KH == 3 || s->C >= 32));
#else
    (void)s;
    (void)pass;
    return 0;
#endif
}

/* One direction of the transform: input (C, H, W) -> output (OC, OH, OW), padding PH, PW. */
typedef struct {
    ptrdiff_t C, H, W, OC, OH, OW, PH, PW;
    int m, r, n;
    ptrdiff_t TH, TW, T, TP;   /* tile rows, columns, count, count rounded up to the kernels' 6 rows */
    ptrdiff_t C8, OC8, OC16;   /* channels padded to the lanes; output channels padded to the 16-wide panels */
    ptrdiff_t HB, WB;          /* the bordered input buffer (covers every tile) */
} wgeo;

static wgeo geo(ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, ptrdiff_t OC, ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t PH,
                ptrdiff_t PW, ptrdiff_t r) {
    wgeo g;
    g.C = C; g.H = H; g.W = W; g.OC = OC; g.OH = OH; g.OW = OW; g.PH = PH; g.PW = PW;
    g.r = (int)r;
    g.m = wino_m(r, OH > H ? OH : H, OW > W ? OW : W);   /* the same m for the forward and the input gradient */
    g.n = g.m + g.r - 1;
    g.TH = (OH + g.m - 1) / g.m;
    g.TW = (OW + g.m - 1) / g.m;
    g.T = g.TH * g.TW;
    g.TP = (g.T + 5) / 6 * 6;
    g.C8 = (C + 7) / 8 * 8;
    g.OC8 = (OC + 7) / 8 * 8;
    g.OC16 = (OC + 15) / 16 * 16;
    g.HB = g.TH * g.m + g.r - 1;
    g.WB = g.TW * g.m + g.r - 1;
    return g;
}

static wgeo geo_fwd(const fnn_conv_shape *s) {
    return geo(s->C, s->H, s->W, s->OC, s->OH, s->OW, s->PH, s->PW, s->KH);
}

static wgeo geo_dx(const fnn_conv_shape *s) {
    return geo(s->OC, s->OH, s->OW, s->C, s->H, s->W, s->KH - 1 - s->PH, s->KW - 1 - s->PW, s->KH);
}

#define V_SLACK 8   /* the weight gradient's column-form kernel reads up to 5 floats past the last V row */

/* Per-thread scratch of one direction with `rows` tile rows in V and M (or dYt): the bordered input, V, M,
   and (weight gradient: dy) the channels-last output-gradient tiles. */
static ptrdiff_t geo_scratch(const wgeo *g, ptrdiff_t rows, int dy) {
    const ptrdiff_t nn = (ptrdiff_t)g->n * g->n;
    return g->HB * g->WB * g->C8 + nn * rows * g->C8 + V_SLACK + nn * rows * g->OC8 +
           (dy ? g->TH * g->m * g->TW * g->m * g->OC8 : 0);
}

/* Weight gradient: samples whose tiles are stacked into one product per point (its depth): enough for about
   256 tiles (small planes: up to a backward chunk), one sample for large planes (bounded scratch). */
static ptrdiff_t dw_group(const wgeo *g) {
    ptrdiff_t k = (256 + g->T - 1) / g->T;
    return k < CONV_CHUNK ? k : CONV_CHUNK;
}

/* Forward and input gradient: one sample (rows padded to the kernels' 6); weight gradient: dw_group samples. */
ptrdiff_t fnn_conv_wino_scratch_floats(const fnn_conv_shape *s) {
    wgeo f = geo_fwd(s), d = geo_dx(s);
    ptrdiff_t a = geo_scratch(&f, f.TP, 0), b = geo_scratch(&d, d.TP, 0), c = geo_scratch(&f, dw_group(&f) * f.T, 1);
    a = a > b ? a : b;
    return a > c ? a : c;
}

/* Packed transformed filters: forward U (n*n, C8, OC16) and input-gradient U' (n*n, OC8, C16). */
ptrdiff_t fnn_conv_wino_filter_floats(const fnn_conv_shape *s) {
    wgeo f = geo_fwd(s), d = geo_dx(s);
    return (ptrdiff_t)f.n * f.n * f.C8 * f.OC16 + (ptrdiff_t)d.n * d.n * d.C8 * d.OC16;
}

/* One backward chunk's weight gradient in the Winograd domain: dU (n*n, C8, OC8). */
ptrdiff_t fnn_conv_wino_partial_floats(const fnn_conv_shape *s) {
    wgeo f = geo_fwd(s);
    return (ptrdiff_t)f.n * f.n * f.C8 * f.OC8;
}

static const float *mat_G(int m, int r) {
    if (r == 5) return m == 4 ? &fnn_wino_G_4_5[0][0] : &fnn_wino_G_2_5[0][0];
    return m == 4 ? &fnn_wino_G_4_3[0][0] : &fnn_wino_G_2_3[0][0];
}

/* Filter transform and packing: up (n*n, panels of 16 columns, K8 rows, 16) from w, where element (k, j) of the
   direction's filter is forward: w[o = j][c = k]; input gradient: w[o = k][c = j] rotated by 180 degrees.
   U[xi=(a,b)] = sum_q (sum_i G[a][i] g[i][q]) G[b][q], 8 columns j at a time (vectorisable lanes); zero past
   the real channels. */
static void pack_filters(float *up, const float *w, const wgeo *g, const fnn_conv_shape *s, int flip,
                         int n_threads) {
    const int n = g->n, r = g->r, nn = n * n, rr = r * r;
    const float *G = mat_G(g->m, r);
    const ptrdiff_t K8 = g->C8, J16 = g->OC16;
    memset(up, 0, (size_t)(nn * K8 * J16) * sizeof(float));
    /* rows k over the threads (each writes its own rows of every panel) */
    /* the transform's flops and the scattered stores of its nn * C * OC outputs */
    int nt = fnn_threads_for((double)g->C * (double)g->OC * (2.0 * (double)(n * rr + nn * r) + FNN_ELEM_COST * nn),
                             n_threads);
    if (nt > g->C) nt = (int)g->C;
    (void)nt;
    CONV_PAR_FOR(nt)
    for (ptrdiff_t k = 0; k < g->C; k++) {
        for (ptrdiff_t j0 = 0; j0 < g->OC; j0 += 8) {
            float tap[25][8], tmp[8 * 5][8];
            for (int i = 0; i < rr; i++)
                for (int l = 0; l < 8; l++) {
                    const ptrdiff_t j = j0 + l;
                    tap[i][l] = j >= g->OC ? 0.0f : flip ? w[(k * s->C + j) * rr + rr - 1 - i] : w[(j * s->C + k) * rr + i];
                }
            for (int a = 0; a < n; a++)
                for (int q = 0; q < r; q++) {
                    float acc[8] = {0};
                    for (int i = 0; i < r; i++)
                        for (int l = 0; l < 8; l++) acc[l] += G[a * r + i] * tap[i * r + q][l];
                    memcpy(tmp[a * r + q], acc, sizeof acc);
                }
            for (int a = 0; a < n; a++)
                for (int b = 0; b < n; b++) {
                    float acc[8] = {0};
                    for (int q = 0; q < r; q++)
                        for (int l = 0; l < 8; l++) acc[l] += tmp[a * r + q][l] * G[b * r + q];
                    memcpy(up + ((ptrdiff_t)(a * n + b) * J16 + j0 / 16 * 16) * K8 + k * 16 + j0 % 16, acc, sizeof acc);
                }
        }
    }
}

void fnn_conv_wino_prepare(float *filters, const float *w, const fnn_conv_shape *s, int fwd, int dx, int n_threads) {
    wgeo f = geo_fwd(s), d = geo_dx(s);
    if (fwd) pack_filters(filters, w, &f, s, 0, n_threads);
    if (dx) pack_filters(filters + (ptrdiff_t)f.n * f.n * f.C8 * f.OC16, w, &d, s, 1, n_threads);
}

#ifdef FNN_X86_TARGETS
#include <immintrin.h>

#define VEC __m256
#define VADD(a, b) _mm256_add_ps(a, b)
#define VSUB(a, b) _mm256_sub_ps(a, b)
#define VMUL(x, c) _mm256_mul_ps(x, _mm256_set1_ps(c))
#define VFMA(x, c, acc) _mm256_fmadd_ps(x, _mm256_set1_ps(c), acc)
#define VZERO() _mm256_setzero_ps()

/* dst (rows, cols, ld) channels-last, channels [0, C) of pixels (h + oh, w + ow) = src (C, H, W); the rest of
   dst (border, channels C..ld) is zeroed first.  Blocks of 8 channels x 8 pixels go through a register
   transpose; the last partial channel block and row tail element by element. */
static FNN_TARGET_AVX2 void to_channels_last(float *FNN_RESTRICT dst, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld,
                                             const float *FNN_RESTRICT src, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W,
                                             ptrdiff_t oh, ptrdiff_t ow) {
    /* zero what the copy below does not write: the border rows and columns, and the channels past C */
    memset(dst, 0, (size_t)(oh * cols * ld) * sizeof(float));
    memset(dst + (oh + H) * cols * ld, 0, (size_t)((rows - oh - H) * cols * ld) * sizeof(float));
    for (ptrdiff_t h = 0; h < H; h++) {
        float *dr = dst + (h + oh) * cols * ld;
        memset(dr, 0, (size_t)(ow * ld) * sizeof(float));
        memset(dr + (ow + W) * ld, 0, (size_t)((cols - ow - W) * ld) * sizeof(float));
        if (C < ld)
            for (ptrdiff_t w = ow; w < ow + W; w++) memset(dr + w * ld + C, 0, (size_t)(ld - C) * sizeof(float));
    }
    const ptrdiff_t C8 = C / 8 * 8, W8 = W / 8 * 8;
    for (ptrdiff_t h = 0; h < H; h++) {
        float *dr = dst + ((h + oh) * cols + ow) * ld;
        for (ptrdiff_t c = 0; c < C8; c += 8) {
            const float *sr = src + (c * H + h) * W;
            for (ptrdiff_t w = 0; w < W8; w += 8) {
                __m256 v[8];
#pragma GCC unroll 8
                for (int l = 0; l < 8; l++) v[l] = _mm256_loadu_ps(sr + l * H * W + w);
                fnn_transpose8(v);
#pragma GCC unroll 8
                for (int l = 0; l < 8; l++) _mm256_storeu_ps(dr + (w + l) * ld + c, v[l]);
            }
            if (W8 == W) continue;
            /* the last columns: the row's last 8 (overlapping the vectors above), or all of a narrower row */
            const ptrdiff_t w0 = W >= 8 ? W - 8 : 0, nw = W >= 8 ? 8 : W;
            __m256 v[8];
#pragma GCC unroll 8
            for (int l = 0; l < 8; l++)
                v[l] = W >= 8 ? _mm256_loadu_ps(sr + l * H * W + w0) : fnn_load_first(sr + l * H * W, (int)W);
            fnn_transpose8(v);
            for (ptrdiff_t l = 0; l < nw; l++) _mm256_storeu_ps(dr + (w0 + l) * ld + c, v[l]);
        }
        for (ptrdiff_t c = C8; c < C; c++) {
            const float *sr = src + (c * H + h) * W;
            for (ptrdiff_t w = 0; w < W; w++) dr[w * ld + c] = sr[w];
        }
    }
}

/* V[xi] rows t (tile), columns = channels: V = B^T d B for every tile and group of 8 channels of xb. */
#define IN_TRANSFORM(NAME, N, XFORM)                                                                             \
    static FNN_TARGET_AVX2 void NAME(float *FNN_RESTRICT V, const float *FNN_RESTRICT xb, const wgeo *g,       \
                                     ptrdiff_t rows, ptrdiff_t row0) {                                           \
        const ptrdiff_t C8 = g->C8, plane = rows * C8;                                                           \
        for (ptrdiff_t th = 0; th < g->TH; th++)                                                                 \
            for (ptrdiff_t tw = 0; tw < g->TW; tw++) {                                                           \
                const ptrdiff_t t = row0 + th * g->TW + tw;                                                      \
                const float *base = xb + ((th * g->m) * g->WB + tw * g->m) * C8;                                 \
                for (ptrdiff_t c = 0; c < C8; c += 8) {                                                          \
                    VEC d[N * N], u[N * N];                                                                      \
                    _Pragma("GCC unroll 8") for (int a = 0; a < N; a++)                                         \
                        _Pragma("GCC unroll 8") for (int b = 0; b < N; b++)                                     \
                            d[a * N + b] = _mm256_loadu_ps(base + (a * g->WB + b) * C8 + c);                     \
                    _Pragma("GCC unroll 8") for (int b = 0; b < N; b++) XFORM(u + b, N, d + b, N);               \
                    _Pragma("GCC unroll 8") for (int a = 0; a < N; a++) XFORM(d + a * N, 1, u + a * N, 1);       \
                    _Pragma("GCC unroll 64") for (int q = 0; q < N * N; q++)                                    \
                        _mm256_storeu_ps(V + q * plane + t * C8 + c, d[q]);                                      \
                }                                                                                                \
            }                                                                                                    \
    }

IN_TRANSFORM(in_xform_4, 4, wino_in_4)
IN_TRANSFORM(in_xform_6, 6, wino_in_6)
IN_TRANSFORM(in_xform_8, 8, wino_in_8)

/* The first n (1..4) floats of v to p. */
static inline FNN_TARGET_AVX2 __attribute__((always_inline)) void store_first4(float *p, __m128 v, ptrdiff_t n) {
    if (n >= 4) {
        _mm_storeu_ps(p, v);
        return;
    }
    if (n >= 2) {
        _mm_storel_pi((__m64 *)p, v);
        if (n == 3) _mm_store_ss(p + 2, _mm_movehl_ps(v, v));
        return;
    }
    _mm_store_ss(p, v);
}

/* One row of a tile, m pixels x 8 channels (y[b]: pixel b, lanes = channels o..o+7), to out (OC, OH, OW) at
   row oh, columns ow.. (nw <= m of them inside the plane; channels past OC skipped): a register transpose
   gives each channel's m pixels in one 128-bit (m = 4) or 64-bit (m = 2) piece. */
static inline FNN_TARGET_AVX2 __attribute__((always_inline)) void store_row_nchw(float *out, const __m256 *y, int m,
                                                                               ptrdiff_t o, ptrdiff_t oh,
                                                                               ptrdiff_t ow, ptrdiff_t nw,
                                                                               const wgeo *g) {
    const ptrdiff_t plane = g->OH * g->OW, nc = g->OC - o < 8 ? g->OC - o : 8;
    float *dst = out + o * plane + oh * g->OW + ow;
    __m128 ch[8];
    if (m == 4) {
        __m128 l0 = _mm256_castps256_ps128(y[0]), l1 = _mm256_castps256_ps128(y[1]);
        __m128 l2 = _mm256_castps256_ps128(y[2]), l3 = _mm256_castps256_ps128(y[3]);
        __m128 h0 = _mm256_extractf128_ps(y[0], 1), h1 = _mm256_extractf128_ps(y[1], 1);
        __m128 h2 = _mm256_extractf128_ps(y[2], 1), h3 = _mm256_extractf128_ps(y[3], 1);
        _MM_TRANSPOSE4_PS(l0, l1, l2, l3);
        _MM_TRANSPOSE4_PS(h0, h1, h2, h3);
        ch[0] = l0; ch[1] = l1; ch[2] = l2; ch[3] = l3; ch[4] = h0; ch[5] = h1; ch[6] = h2; ch[7] = h3;
    } else {   /* m == 2: unpack pairs (c0 p0, c0 p1, c1 p0, c1 p1 | c4 .., c5 ..) */
        __m256 lo = _mm256_unpacklo_ps(y[0], y[1]), hi = _mm256_unpackhi_ps(y[0], y[1]);
        __m128 a = _mm256_castps256_ps128(lo), b = _mm256_castps256_ps128(hi);
        __m128 c = _mm256_extractf128_ps(lo, 1), d = _mm256_extractf128_ps(hi, 1);
        ch[0] = a; ch[1] = _mm_movehl_ps(a, a); ch[2] = b; ch[3] = _mm_movehl_ps(b, b);
        ch[4] = c; ch[5] = _mm_movehl_ps(c, c); ch[6] = d; ch[7] = _mm_movehl_ps(d, d);
    }
#pragma GCC unroll 8
    for (int l = 0; l < 8; l++)
        if (l < nc) store_first4(dst + l * plane, ch[l], nw);
}

/* out (OC, OH, OW) = A^T M A per tile and group of 8 channels, + bias, ReLU (the tiles' rows and columns
   past the output are dropped). */
#define OUT_TRANSFORM(NAME, M_, N, XFORM)                                                                        \
    static FNN_TARGET_AVX2 void NAME(float *FNN_RESTRICT out, const float *FNN_RESTRICT Mx, const float *bias,   \
                                     int relu, const wgeo *g) {                                                  \
        const ptrdiff_t OC8 = g->OC8, plane = g->TP * OC8;                                                       \
        for (ptrdiff_t o = 0; o < OC8; o += 8) {                                                                 \
            VEC bv = _mm256_setzero_ps();                                                                        \
            if (bias) {                                                                                          \
                float b8[8];                                                                                     \
                for (int l = 0; l < 8; l++) b8[l] = o + l < g->OC ? bias[o + l] : 0.0f;                          \
                bv = _mm256_loadu_ps(b8);                                                                        \
            }                                                                                                    \
            for (ptrdiff_t t = 0; t < g->T; t++) {                                                               \
                const ptrdiff_t th = t / g->TW, tw = t % g->TW;                                                  \
                const ptrdiff_t nw = g->OW - tw * M_ < M_ ? g->OW - tw * M_ : M_;                                \
                VEC mv[N * N], u[M_ * N], y[M_ * M_];                                                            \
                _Pragma("GCC unroll 64") for (int q = 0; q < N * N; q++)                                        \
                    mv[q] = _mm256_loadu_ps(Mx + q * plane + t * OC8 + o);                                       \
                _Pragma("GCC unroll 8") for (int b = 0; b < N; b++) XFORM(u + b, N, mv + b, N);                  \
                _Pragma("GCC unroll 4") for (int a = 0; a < M_; a++) XFORM(y + a * M_, 1, u + a * N, 1);         \
                _Pragma("GCC unroll 16") for (int q = 0; q < M_ * M_; q++) {                                    \
                    y[q] = _mm256_add_ps(y[q], bv);                                                              \
                    if (relu) y[q] = _mm256_max_ps(y[q], _mm256_setzero_ps());                                   \
                }                                                                                                \
                _Pragma("GCC unroll 4") for (int a = 0; a < M_; a++)                                            \
                    if (th * M_ + a < g->OH) store_row_nchw(out, y + a * M_, M_, o, th * M_ + a, tw * M_, nw, g); \
            }                                                                                                    \
        }                                                                                                        \
    }

OUT_TRANSFORM(out_xform_2_3, 2, 4, wino_out_2_3)
OUT_TRANSFORM(out_xform_4_3, 4, 6, wino_out_4_3)
OUT_TRANSFORM(out_xform_2_5, 2, 6, wino_out_2_5)
OUT_TRANSFORM(out_xform_4_5, 4, 8, wino_out_4_5)

/* dYt[xi] rows t, columns = output channels: dYt = A dY A^T of every tile of yb (dY channels-last, zero
   past the output) -- the adjoint of the output transform. */
#define OUTT_TRANSFORM(NAME, M_, N, XFORM)                                                                       \
    static FNN_TARGET_AVX2 void NAME(float *FNN_RESTRICT D, const float *FNN_RESTRICT yb, const wgeo *g,       \
                                     ptrdiff_t rows, ptrdiff_t row0) {                                           \
        const ptrdiff_t OC8 = g->OC8, plane = rows * OC8, YW = g->TW * M_;                                       \
        for (ptrdiff_t t = 0; t < g->T; t++) {                                                                   \
            const ptrdiff_t th = t / g->TW, tw = t % g->TW;                                                      \
            for (ptrdiff_t o = 0; o < OC8; o += 8) {                                                             \
                VEC y[M_ * M_], u[N * M_], dv[N * N];                                                            \
                _Pragma("GCC unroll 4") for (int a = 0; a < M_; a++)                                            \
                    _Pragma("GCC unroll 4") for (int b = 0; b < M_; b++)                                        \
                        y[a * M_ + b] = _mm256_loadu_ps(yb + ((th * M_ + a) * YW + tw * M_ + b) * OC8 + o);      \
                _Pragma("GCC unroll 4") for (int b = 0; b < M_; b++) XFORM(u + b, M_, y + b, M_);                \
                _Pragma("GCC unroll 8") for (int a = 0; a < N; a++) XFORM(dv + a * N, 1, u + a * M_, 1);         \
                _Pragma("GCC unroll 64") for (int q = 0; q < N * N; q++)                                        \
                    _mm256_storeu_ps(D + q * plane + (row0 + t) * OC8 + o, dv[q]);                               \
            }                                                                                                    \
        }                                                                                                        \
    }

OUTT_TRANSFORM(outT_xform_2_3, 2, 4, wino_outT_2_3)
OUTT_TRANSFORM(outT_xform_4_3, 4, 6, wino_outT_4_3)
OUTT_TRANSFORM(outT_xform_2_5, 2, 6, wino_outT_2_5)
OUTT_TRANSFORM(outT_xform_4_5, 4, 8, wino_outT_4_5)

/* Scratch layout of one direction (yb: weight gradient only). */
typedef struct {
    float *xb, *V, *M, *yb;
} wbufs;

static wbufs bufs(float *scratch, const wgeo *g, ptrdiff_t rows) {
    const ptrdiff_t nn = (ptrdiff_t)g->n * g->n;
    wbufs b;
    b.xb = scratch;
    b.V = b.xb + g->HB * g->WB * g->C8;
    b.M = b.V + nn * rows * g->C8 + V_SLACK;
    b.yb = b.M + nn * rows * g->OC8;
    return b;
}

/* The transforms of one F(m, r). */
typedef struct {
    void (*in)(float *, const float *, const wgeo *, ptrdiff_t, ptrdiff_t);
    void (*out)(float *, const float *, const float *, int, const wgeo *);
    void (*outT)(float *, const float *, const wgeo *, ptrdiff_t, ptrdiff_t);
} wxforms;

static wxforms xforms(const wgeo *g) {
    static const wxforms f23 = {in_xform_4, out_xform_2_3, outT_xform_2_3},
                         f43 = {in_xform_6, out_xform_4_3, outT_xform_4_3},
                         f25 = {in_xform_6, out_xform_2_5, outT_xform_2_5},
                         f45 = {in_xform_8, out_xform_4_5, outT_xform_4_5};
    if (g->r == 5) return g->m == 4 ? f45 : f25;
    return g->m == 4 ? f43 : f23;
}

/* V rows [row0, row0 + T) of planes of `rows` rows = the input transform of in (C, H, W) */
static void in_transform(const wbufs *b, const float *in, const wgeo *g, ptrdiff_t rows, ptrdiff_t row0) {
    to_channels_last(b->xb, g->HB, g->WB, g->C8, in, g->C, g->H, g->W, g->PH, g->PW);
    xforms(g).in(b->V, b->xb, g, rows, row0);
}

/* out (OC, OH, OW) = conv(in (C, H, W)) of one sample in direction g, filters up (pack_filters). */
static void wino_sample(float *out, const float *in, const float *up, const float *bias, int relu, const wgeo *g,
                        float *scratch) {
    const fnn_gemm_arch_t *ar = fnn_gemm_arch_avx2();
    const ptrdiff_t nn = (ptrdiff_t)g->n * g->n, C8 = g->C8, OC8 = g->OC8;
    wbufs b = bufs(scratch, g, g->TP);
    in_transform(&b, in, g, g->TP, 0);
    /* the row kernels read whole 6-row blocks: the rows past the last tile are zero */
    for (ptrdiff_t q = 0; q < nn; q++)
        memset(b.V + (q * g->TP + g->T) * C8, 0, (size_t)((g->TP - g->T) * C8) * sizeof(float));
    /* M[xi] (T, OC8) = V[xi] (T, C8) @ U[xi] (C8, OC8): 6 tile rows x 16 (last: 8) channel columns per call */
    for (ptrdiff_t q = 0; q < nn; q++) {
        const float *Vq = b.V + q * g->TP * C8, *Uq = up + q * g->OC16 * C8;
        float *Mq = b.M + q * g->TP * OC8;
        for (ptrdiff_t j0 = 0; j0 < OC8; j0 += 16) {
            const int nr = OC8 - j0 < 16 ? (int)(OC8 - j0) : 16;
            fnn_ukr_t uk = nr <= 8 ? ar->ukr_row_half : ar->ukr_row;
            const float *Up = Uq + j0 * C8;
            for (ptrdiff_t t0 = 0; t0 < g->T; t0 += 6) {
                const int mr = g->T - t0 < 6 ? (int)(g->T - t0) : 6;
                uk(C8, Vq + t0 * C8, C8, Up, 16, Mq + t0 * OC8 + j0, OC8, 1.0f, 0.0f, mr, nr);
            }
        }
    }
    xforms(g).out(out, b.M, bias, relu, g);
}

void fnn_conv_wino_forward_sample(float *out, const float *x, const float *filters, const float *bias, int relu,
                                  const fnn_conv_shape *s, float *scratch) {
    wgeo g = geo_fwd(s);
    wino_sample(out, x, filters, bias, relu, &g, scratch);
}

void fnn_conv_wino_dx_sample(float *dx, const float *dout, const float *filters, const fnn_conv_shape *s,
                             float *scratch) {
    wgeo f = geo_fwd(s), g = geo_dx(s);
    wino_sample(dx, dout, filters + (ptrdiff_t)f.n * f.n * f.C8 * f.OC16, NULL, 0, &g, scratch);
}

/* dU (n*n, C8, OC8) = sum over the ns samples' tiles of V[xi]^T (C8, tiles) @ dYt[xi] (tiles, OC8): groups of
   dw_group samples' tiles stacked into one product per point (depth group * T), so each dU element is stored
   once per group; the groups accumulate in order. */
void fnn_conv_wino_dw_chunk(float *dU, const float *x, const float *dout, ptrdiff_t ns, const fnn_conv_shape *s,
                            float *scratch) {
    const fnn_gemm_arch_t *ar = fnn_gemm_arch_avx2();
    wgeo g = geo_fwd(s);
    const ptrdiff_t nn = (ptrdiff_t)g.n * g.n, C8 = g.C8, OC8 = g.OC8, G = dw_group(&g);
    for (ptrdiff_t s0 = 0; s0 < ns; s0 += G) {
        const ptrdiff_t gs = ns - s0 < G ? ns - s0 : G, rows = gs * g.T;
        const float beta = s0 == 0 ? 0.0f : 1.0f;
        wbufs b = bufs(scratch, &g, rows);
        for (ptrdiff_t i = 0; i < gs; i++) {
            in_transform(&b, x + (s0 + i) * s->C * s->H * s->W, &g, rows, i * g.T);
            /* dY channels-last over whole tiles (zero past the output), then dYt into the M buffer */
            to_channels_last(b.yb, g.TH * g.m, g.TW * g.m, OC8, dout + (s0 + i) * s->OC * g.OH * g.OW, g.OC, g.OH,
                             g.OW, 0, 0);
            xforms(&g).outT(b.M, b.yb, &g, rows, i * g.T);
        }
        for (ptrdiff_t q = 0; q < nn; q++) {
            const float *Vq = b.V + q * rows * C8, *Dq = b.M + q * rows * OC8;
            float *Uq = dU + q * C8 * OC8;
            for (ptrdiff_t j0 = 0; j0 < OC8; j0 += 16) {
                const int nr = OC8 - j0 < 16 ? (int)(OC8 - j0) : 16;
                fnn_ukr_t uk = nr <= 8 ? ar->ukr_col_half : ar->ukr_col;
                for (ptrdiff_t c0 = 0; c0 < C8; c0 += 6) {
                    const int mr = C8 - c0 < 6 ? (int)(C8 - c0) : 6;
                    /* A = V^T read in place (column form, stride C8), B = dYt rows read in place */
                    uk(rows, Vq + c0, C8, Dq + j0, OC8, Uq + c0 * OC8 + j0, OC8, 1.0f, beta, mr, nr);
                }
            }
        }
    }
}

#else
void fnn_conv_wino_forward_sample(float *out, const float *x, const float *filters, const float *bias, int relu,
                                  const fnn_conv_shape *s, float *scratch) {
    (void)out; (void)x; (void)filters; (void)bias; (void)relu; (void)s; (void)scratch;
}
void fnn_conv_wino_dx_sample(float *dx, const float *dout, const float *filters, const fnn_conv_shape *s,
                             float *scratch) {
    (void)dx; (void)dout; (void)filters; (void)s; (void)scratch;
}
void fnn_conv_wino_dw_chunk(float *dU, const float *x, const float *dout, ptrdiff_t ns, const fnn_conv_shape *s,
                            float *scratch) {
    (void)dU; (void)x; (void)dout; (void)ns; (void)s; (void)scratch;
}
#endif

/* dw (OC, C, r, r) = G^T dU G per channel pair (dU summed over the chunks, (n*n, C8, OC8)), 8 output channels
   at a time (contiguous in dU: vectorisable lanes). */
void fnn_conv_wino_dw_finish(float *dw, const float *dU, const fnn_conv_shape *s, int n_threads) {
    wgeo g = geo_fwd(s);
    const int n = g.n, r = g.r;
    const float *G = mat_G(g.m, r);
    const ptrdiff_t C8 = g.C8, OC8 = g.OC8;
    int nt = fnn_threads_for((double)s->C * (double)s->OC * (2.0 * (double)(r * n * n + r * r * n) +
                                                             FNN_ELEM_COST * (double)(n * n)), n_threads);   /* + dU's reads */
    if (nt > s->C) nt = (int)s->C;
    (void)nt;
    CONV_PAR_FOR(nt)
    for (ptrdiff_t c = 0; c < s->C; c++)
        for (ptrdiff_t o0 = 0; o0 < s->OC; o0 += 8) {
            float tmp[5 * 8][8];   /* tmp[i][b] = sum_a G[a][i] dU[a][b] */
            for (int i = 0; i < r; i++)
                for (int bb = 0; bb < n; bb++) {
                    float acc[8] = {0};
                    for (int a = 0; a < n; a++) {
                        const float *d = dU + ((ptrdiff_t)(a * n + bb) * C8 + c) * OC8 + o0;
                        for (int l = 0; l < 8; l++) acc[l] += G[a * r + i] * d[l];
                    }
                    memcpy(tmp[i * n + bb], acc, sizeof acc);
                }
            for (int i = 0; i < r; i++)
                for (int j = 0; j < r; j++) {
                    float acc[8] = {0};
                    for (int bb = 0; bb < n; bb++)
                        for (int l = 0; l < 8; l++) acc[l] += tmp[i * n + bb][l] * G[bb * r + j];
                    for (int l = 0; l < 8 && o0 + l < s->OC; l++) dw[((o0 + l) * s->C + c) * r * r + i * r + j] = acc[l];
                }
        }
}
