/* fastnn: 2-D pooling (NCHW), the fast path: OpenMP over the N*C planes (schedule(static)); every plane is
   computed by the same serial code whichever thread runs it, so results are bitwise identical for any
   n_threads.  Window bounds are clipped once per output (no per-element bounds tests).

   2x2 stride-2 windows without padding (MaxPool2d(2), AvgPool2d(2): the common case) have their own plane
   kernels, chosen by fnn_get_isa(): plain C bodies for the max forward and the average forward and backward
   (compiled for the baseline and for AVX2, where gcc vectorises them), and AVX-512 intrinsics for all four
   (even/odd columns split or merged with two-source permutes, the row tail masked).  Those backward kernels
   write dx once, row pair by row pair, instead of zeroing the plane and scattering into it.  All of them give the
   generic loops' results bit for bit: the same additions in the same order, the same comparisons, and
   dx = 0.0f + v where the generic code adds v into a zeroed dx (so -0.0 becomes +0.0 there too).

   Not done, as measured slower: a write-once backward for any non-overlapping windows (stride >= kernel) in
   plain C (1.1-1.9x the time of zero-and-scatter: the plane stays in L1, and per-window loop overhead
   dominates), and a plain C max backward for 2x2 windows (10-20% slower than the generic scatter). */
#include <stdint.h>

#include "fnn_cpu.h"
#include "fnn_pool.h"
#ifdef FNN_X86_TARGETS
#include <immintrin.h>
#endif

typedef struct {
    float *out;                  /* forward: out; backward: dx */
    int32_t *argmax;
    const float *x;              /* forward: x; backward: dout */
    const int32_t *cargmax;
    const fnn_pool_shape *s;
} pool_ctx;

typedef int (*pool_plane_fn)(const pool_ctx *c, ptrdiff_t p);

/* Run fn over planes 0..np-1 on up to n_threads threads; a plane returning nonzero makes the call FNN_ERR_ARG. */
/* `work` counts window elements (one compare or add each); each costs memory traffic rather than arithmetic,
   about POOL_WORK_WEIGHT of the "flops" fnn_threads_for is tuned in: a 64x20x24x24 max pooling of a small CNN
   at batch 64 (1.5M window elements, ~0.25 ms) then splits over two threads. */
#define POOL_WORK_WEIGHT 4.0
static int run_planes(pool_plane_fn fn, const pool_ctx *c, ptrdiff_t np, double work, int n_threads) {
    int nt = fnn_threads_for(POOL_WORK_WEIGHT * work, n_threads);
    if ((ptrdiff_t)nt > np) nt = (int)np;
    int bad = 0;
#ifdef _OPENMP
    if (nt > 1) {
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
        for (ptrdiff_t p = 0; p < np; p++) bad |= fn(c, p);
        return bad ? FNN_ERR_ARG : FNN_OK;
    }
#endif
    (void)nt;
    for (ptrdiff_t p = 0; p < np; p++) bad |= fn(c, p);
    return bad ? FNN_ERR_ARG : FNN_OK;
}

/* Clipped input range [*a0, *a1) of output index o along one axis (size n, kernel k, stride st, pad pd). */
FNN_INLINE void win(ptrdiff_t o, ptrdiff_t n, ptrdiff_t k, ptrdiff_t st, ptrdiff_t pd, ptrdiff_t *a0, ptrdiff_t *a1) {
    ptrdiff_t a = o * st - pd, b = a + k;
    *a0 = a < 0 ? 0 : a;
    *a1 = b > n ? n : b;
}

/* v replaces the running maximum m: strictly greater (so the first maximum in scan order stays), or the
   first NaN (NaN propagates, as in PyTorch). */
FNN_INLINE int max_takes(float v, float m) { return v > m || (v != v && m == m); }

int fnn_pool_shape_init(fnn_pool_shape *s) {
    if (!s || s->N < 0 || s->C < 0 || s->H < 1 || s->W < 1 || s->H > INT32_MAX / s->W) return FNN_ERR_ARG;
    if (s->kind == FNN_POOL_GLOBAL_AVG) {
        /* global average = average with a kernel and stride of the whole plane */
        s->KH = s->SH = s->H;
        s->KW = s->SW = s->W;
        s->PH = s->PW = 0;
        s->OH = s->OW = 1;
        return FNN_OK;
    }
    if (s->kind != FNN_POOL_MAX && s->kind != FNN_POOL_AVG) return FNN_ERR_ARG;
    if (s->KH < 1 || s->KW < 1 || s->SH < 1 || s->SW < 1 || s->PH < 0 || s->PW < 0) return FNN_ERR_ARG;
    if (s->KH > INT32_MAX || s->KW > INT32_MAX || s->SH > INT32_MAX || s->SW > INT32_MAX) return FNN_ERR_ARG;
    if (s->PH > s->KH / 2 || s->PW > s->KW / 2) return FNN_ERR_ARG;
    if (s->KH > s->H + 2 * s->PH || s->KW > s->W + 2 * s->PW) return FNN_ERR_ARG;
    s->OH = (s->H + 2 * s->PH - s->KH) / s->SH + 1;
    s->OW = (s->W + 2 * s->PW - s->KW) / s->SW + 1;
    return FNN_OK;
}

/* A shape that fnn_pool_shape_init accepted and left unchanged. */
static int shape_ok(const fnn_pool_shape *s) {
    if (!s) return 0;
    fnn_pool_shape t = *s;
    if (fnn_pool_shape_init(&t) != FNN_OK) return 0;
    return t.OH == s->OH && t.OW == s->OW && t.KH == s->KH && t.KW == s->KW && t.SH == s->SH && t.SW == s->SW
           && t.PH == s->PH && t.PW == s->PW;
}

// out (OH,OW), argmax (OH,OW) or NULL = max over windows of the plane x (H,W)
static int max_plane(const pool_ctx *c, ptrdiff_t p) {
    const fnn_pool_shape *s = c->s;
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW;
    const float *x = c->x + p * H * W;
    float *o = c->out + p * OH * OW;
    int32_t *am = c->argmax ? c->argmax + p * OH * OW : NULL;
    for (ptrdiff_t oh = 0; oh < OH; oh++) {
        ptrdiff_t h0, h1;
        win(oh, H, s->KH, s->SH, s->PH, &h0, &h1);
        for (ptrdiff_t ow = 0; ow < OW; ow++) {
            ptrdiff_t w0, w1;
            win(ow, W, s->KW, s->SW, s->PW, &w0, &w1);
            /* two passes, both free of data-dependent branches but the last: the maximum (NaNs noted
               apart), then the first input equal to it (or the first NaN) in scan order */
            float m = x[h0 * W + w0];
            int nan = 0;
            for (ptrdiff_t h = h0; h < h1; h++) {
                const float *r = x + h * W;
                for (ptrdiff_t w = w0; w < w1; w++) {
                    m = r[w] > m ? r[w] : m;
                    nan |= r[w] != r[w];
                }
            }
            ptrdiff_t i = -1;
            for (ptrdiff_t h = h0; h < h1 && i < 0; h++) {
                const float *r = x + h * W;
                for (ptrdiff_t w = w0; w < w1; w++)
                    if (nan ? r[w] != r[w] : r[w] == m) {
                        i = h * W + w;
                        break;
                    }
            }
            if (nan) m = x[i];
            o[oh * OW + ow] = m;
            if (am) am[oh * OW + ow] = (int32_t)i;
        }
    }
    return 0;
}

// out (OH,OW) = window sums of the plane x (H,W) / (KH*KW or the in-bounds count)
static int avg_plane(const pool_ctx *c, ptrdiff_t p) {
    const fnn_pool_shape *s = c->s;
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW;
    const float *x = c->x + p * H * W;
    float *o = c->out + p * OH * OW;
    for (ptrdiff_t oh = 0; oh < OH; oh++) {
        ptrdiff_t h0, h1;
        win(oh, H, s->KH, s->SH, s->PH, &h0, &h1);
        for (ptrdiff_t ow = 0; ow < OW; ow++) {
            ptrdiff_t w0, w1;
            win(ow, W, s->KW, s->SW, s->PW, &w0, &w1);
            float sum = 0.0f;
            for (ptrdiff_t h = h0; h < h1; h++) {
                const float *r = x + h * W;
                for (ptrdiff_t w = w0; w < w1; w++) sum += r[w];
            }
            ptrdiff_t div = s->count_include_pad ? s->KH * s->KW : (h1 - h0) * (w1 - w0);
            o[oh * OW + ow] = sum / (float)div;
        }
    }
    return 0;
}

// out (1) = mean of the plane x (H,W), summed in double in scan order
static int gavg_plane(const pool_ctx *c, ptrdiff_t p) {
    const ptrdiff_t HW = c->s->H * c->s->W;
    const float *x = c->x + p * HW;
    double sum = 0.0;
    for (ptrdiff_t i = 0; i < HW; i++) sum += x[i];
    c->out[p] = (float)(sum / (double)HW);
    return 0;
}

// dx (H,W) = scatter of dout (OH,OW) to argmax (OH,OW); nonzero if an index is out of range
static int max_back_plane(const pool_ctx *c, ptrdiff_t p) {
    const fnn_pool_shape *s = c->s;
    const ptrdiff_t HW = s->H * s->W, OHW = s->OH * s->OW;
    float *dx = c->out + p * HW;
    const float *g = c->x + p * OHW;
    const int32_t *am = c->cargmax + p * OHW;
    int bad = 0;
    for (ptrdiff_t i = 0; i < HW; i++) dx[i] = 0.0f;
    for (ptrdiff_t o = 0; o < OHW; o++) {
        int32_t i = am[o];
        if (i < 0 || (ptrdiff_t)i >= HW) { bad = 1; continue; }
        dx[i] += g[o];
    }
    return bad;
}

// dx (H,W) = dout (OH,OW) / divisor spread over each window, outputs in scan order
static int avg_back_plane(const pool_ctx *c, ptrdiff_t p) {
    const fnn_pool_shape *s = c->s;
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW;
    float *dx = c->out + p * H * W;
    const float *g = c->x + p * OH * OW;
    for (ptrdiff_t i = 0; i < H * W; i++) dx[i] = 0.0f;
    for (ptrdiff_t oh = 0; oh < OH; oh++) {
        ptrdiff_t h0, h1;
        win(oh, H, s->KH, s->SH, s->PH, &h0, &h1);
        for (ptrdiff_t ow = 0; ow < OW; ow++) {
            ptrdiff_t w0, w1;
            win(ow, W, s->KW, s->SW, s->PW, &w0, &w1);
            ptrdiff_t div = s->count_include_pad ? s->KH * s->KW : (h1 - h0) * (w1 - w0);
            float v = g[oh * OW + ow] / (float)div;
            for (ptrdiff_t h = h0; h < h1; h++) {
                float *r = dx + h * W;
                for (ptrdiff_t w = w0; w < w1; w++) r[w] += v;
            }
        }
    }
    return 0;
}

// dx (H,W) = dout (1) / (H*W) everywhere
static int gavg_back_plane(const pool_ctx *c, ptrdiff_t p) {
    const ptrdiff_t HW = c->s->H * c->s->W;
    float *dx = c->out + p * HW;
    float v = c->x[p] / (float)HW;
    for (ptrdiff_t i = 0; i < HW; i++) dx[i] = v;
    return 0;
}

/* ---------------------------------------------------------------- 2x2 windows, stride 2, no padding
   Output (oh, ow) reads rows 2oh, 2oh+1 and columns 2ow, 2ow+1: a = x[2oh][2ow], b = x[2oh][2ow+1],
   c = x[2oh+1][2ow], d = x[2oh+1][2ow+1] in scan order; every window is whole (divisor 4 in both
   count_include_pad modes).  An odd H or W leaves the last row or column out of every window.  The bodies
   below are plain C, compiled for the baseline and for AVX2; AVX-512 has its own intrinsics, and also a
   direct max backward. */

FNN_INLINE int is_2x2s2(const fnn_pool_shape *s) {
    return s->KH == 2 && s->KW == 2 && s->SH == 2 && s->SW == 2 && s->PH == 0 && s->PW == 0;
}

// max forward, branch-free selects (random data defeats branch prediction); candidate offsets 0, 1, W, W+1
FNN_INLINE int max2_body(const pool_ctx *c, ptrdiff_t p) {
    const fnn_pool_shape *s = c->s;
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW;
    const float *x = c->x + p * H * W;
    float *o = c->out + p * OH * OW;
    int32_t *am = c->argmax ? c->argmax + p * OH * OW : NULL;
    for (ptrdiff_t oh = 0; oh < OH; oh++) {
        const float *r0 = x + 2 * oh * W, *r1 = r0 + W;
        const int32_t base = (int32_t)(2 * oh * W), w1 = (int32_t)W;
        float *FNN_RESTRICT orow = o + oh * OW;
        for (ptrdiff_t ow = 0; ow < OW; ow++) {
            float a = r0[2 * ow], b = r0[2 * ow + 1], cc = r1[2 * ow], d = r1[2 * ow + 1];
            int tb = max_takes(b, a);
            float m = tb ? b : a;
            int32_t k = tb ? 1 : 0;
            int tc = max_takes(cc, m);
            m = tc ? cc : m;
            k = tc ? w1 : k;
            int td = max_takes(d, m);
            m = td ? d : m;
            k = td ? w1 + 1 : k;
            orow[ow] = m;
            if (am) am[oh * OW + ow] = base + (int32_t)(2 * ow) + k;
        }
    }
    return 0;
}

// avg forward: ((((0 + a) + b) + c) + d) / 4, the generic loop's sum
FNN_INLINE int avg2_body(const pool_ctx *c, ptrdiff_t p) {
    const fnn_pool_shape *s = c->s;
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW;
    const float *x = c->x + p * H * W;
    float *o = c->out + p * OH * OW;
    for (ptrdiff_t oh = 0; oh < OH; oh++) {
        const float *FNN_RESTRICT r0 = x + 2 * oh * W, *FNN_RESTRICT r1 = r0 + W;
        float *FNN_RESTRICT orow = o + oh * OW;
        for (ptrdiff_t ow = 0; ow < OW; ow++) {
            float sum = 0.0f;
            sum += r0[2 * ow];
            sum += r0[2 * ow + 1];
            sum += r1[2 * ow];
            sum += r1[2 * ow + 1];
            orow[ow] = sum / 4.0f;
        }
    }
    return 0;
}

/* dx rows [2*OH, H) and the last column of rows [0, 2*OH) when W is odd: outside every 2x2 window */
FNN_INLINE void zero_uncovered2(float *dx, ptrdiff_t H, ptrdiff_t W, ptrdiff_t OH) {
    if (W & 1)
        for (ptrdiff_t h = 0; h < 2 * OH; h++) dx[h * W + W - 1] = 0.0f;
    for (ptrdiff_t i = 2 * OH * W; i < H * W; i++) dx[i] = 0.0f;
}

/* avg backward: the four inputs of a window get 0.0f + dout / 4.  That sum is written as a select
   (v != 0 ? v : +0.0f, the same bits for every v = dout / 4, NaN included): gcc 12 folds the division into
   a multiplication by 0.25f and, for the AVX2 build, contracts "0.0f + dout * 0.25f" into an FMA, which gives
   -0.0 where the product of a negative subnormal underflows to zero. */
FNN_INLINE int avg_back2_body(const pool_ctx *c, ptrdiff_t p) {
    const fnn_pool_shape *s = c->s;
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW;
    float *dx = c->out + p * H * W;
    const float *g = c->x + p * OH * OW;
    for (ptrdiff_t oh = 0; oh < OH; oh++) {
        float *FNN_RESTRICT d0 = dx + 2 * oh * W, *FNN_RESTRICT d1 = d0 + W;
        const float *FNN_RESTRICT grow = g + oh * OW;
        for (ptrdiff_t ow = 0; ow < OW; ow++) {
            float v = grow[ow] / 4.0f;
            v = v != 0.0f ? v : 0.0f;
            d0[2 * ow] = v;
            d0[2 * ow + 1] = v;
            d1[2 * ow] = v;
            d1[2 * ow + 1] = v;
        }
    }
    zero_uncovered2(dx, H, W, OH);
    return 0;
}

static int max2_generic(const pool_ctx *c, ptrdiff_t p) { return max2_body(c, p); }
static int avg2_generic(const pool_ctx *c, ptrdiff_t p) { return avg2_body(c, p); }
static int avg_back2_generic(const pool_ctx *c, ptrdiff_t p) { return avg_back2_body(c, p); }

#ifdef FNN_X86_TARGETS
FNN_TARGET_AVX2 static int max2_avx2(const pool_ctx *c, ptrdiff_t p) { return max2_body(c, p); }
FNN_TARGET_AVX2 static int avg2_avx2(const pool_ctx *c, ptrdiff_t p) { return avg2_body(c, p); }
FNN_TARGET_AVX2 static int avg_back2_avx2(const pool_ctx *c, ptrdiff_t p) { return avg_back2_body(c, p); }

/* AVX-512: 16 outputs per step.  The 32 input columns 2ow .. 2ow+31 of a row are two vectors (lo, hi); a
   two-source permute gathers their even columns (a, c) and odd columns (b, d).  The last step of a row is
   masked: it touches only columns < 2*OW <= W of its row, and outputs < OW. */

// load masks of the 2n columns of n <= 16 outputs
FNN_INLINE void masks2(ptrdiff_t n, __mmask16 *mo, __mmask16 *mlo, __mmask16 *mhi) {
    const unsigned n2 = (unsigned)(2 * n);
    *mo = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
    *mlo = n2 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n2) - 1u);
    *mhi = n2 >= 32 ? (__mmask16)0xFFFF : n2 > 16 ? (__mmask16)((1u << (n2 - 16)) - 1u) : (__mmask16)0;
}

#define FNN_EVEN16 _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
#define FNN_ODD16 _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)
// interleave of u and v: u0 v0 u1 v1 ... u7 v7 (lo), u8 v8 ... u15 v15 (hi)
#define FNN_ZIP_LO _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define FNN_ZIP_HI _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)

// max_takes(v, m) per lane: v > m, or v NaN and m not
FNN_TARGET_AVX512 FNN_INLINE __mmask16 takes16(__m512 v, __m512 m) {
    return _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ)
           | _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(m, m, _CMP_ORD_Q), v, v, _CMP_UNORD_Q);
}

FNN_TARGET_AVX512 static int max2_avx512(const pool_ctx *c, ptrdiff_t p) {
    const fnn_pool_shape *s = c->s;
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW;
    const float *x = c->x + p * H * W;
    float *o = c->out + p * OH * OW;
    int32_t *am = c->argmax ? c->argmax + p * OH * OW : NULL;
    const __m512i ev = FNN_EVEN16, od = FNN_ODD16, one = _mm512_set1_epi32(1);
    const __m512i kc = _mm512_set1_epi32((int32_t)W), kd = _mm512_set1_epi32((int32_t)W + 1);
    for (ptrdiff_t oh = 0; oh < OH; oh++) {
        const float *r0 = x + 2 * oh * W, *r1 = r0 + W;
        float *orow = o + oh * OW;
        int32_t *arow = am ? am + oh * OW : NULL;
        for (ptrdiff_t ow = 0; ow < OW; ow += 16) {
            __mmask16 mo, mlo, mhi;
            masks2(OW - ow, &mo, &mlo, &mhi);
            const __m512 x0 = _mm512_maskz_loadu_ps(mlo, r0 + 2 * ow);
            const __m512 x1 = _mm512_maskz_loadu_ps(mhi, r0 + 2 * ow + 16);
            const __m512 y0 = _mm512_maskz_loadu_ps(mlo, r1 + 2 * ow);
            const __m512 y1 = _mm512_maskz_loadu_ps(mhi, r1 + 2 * ow + 16);
            const __m512 a = _mm512_permutex2var_ps(x0, ev, x1), b = _mm512_permutex2var_ps(x0, od, x1);
            const __m512 cc = _mm512_permutex2var_ps(y0, ev, y1), d = _mm512_permutex2var_ps(y0, od, y1);
            __m512 m;
            __m512i k;
            if (!(_mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(cc, d, _CMP_UNORD_Q))) {
                /* no NaN (the usual case; masked-off lanes hold zeros): the first maximum of (a, b), the first
                   of (c, d), then the first of the two, which is the first maximum in scan order; fewer
                   compares (they and the permutes share one port) and a shorter dependency chain */
                const __mmask16 tb = _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ), td = _mm512_cmp_ps_mask(d, cc, _CMP_GT_OQ);
                const __m512 mab = _mm512_mask_blend_ps(tb, a, b), mcd = _mm512_mask_blend_ps(td, cc, d);
                const __mmask16 t = _mm512_cmp_ps_mask(mcd, mab, _CMP_GT_OQ);
                m = _mm512_mask_blend_ps(t, mab, mcd);
                k = _mm512_mask_blend_epi32(t, _mm512_maskz_mov_epi32(tb, one), _mm512_mask_blend_epi32(td, kc, kd));
            } else {   // max_takes in scan order: the first NaN wins
                const __mmask16 tb = takes16(b, a);
                m = _mm512_mask_blend_ps(tb, a, b);
                const __mmask16 tc = takes16(cc, m);
                m = _mm512_mask_blend_ps(tc, m, cc);
                const __mmask16 td = takes16(d, m);
                m = _mm512_mask_blend_ps(td, m, d);
                k = _mm512_maskz_mov_epi32(tb, one);
                k = _mm512_mask_mov_epi32(k, tc, kc);
                k = _mm512_mask_mov_epi32(k, td, kd);
            }
            _mm512_mask_storeu_ps(orow + ow, mo, m);
            if (arow) {
                // index of a: 2oh*W + 2(ow + lane) = base + 2*lane
                const __m512i ia = _mm512_add_epi32(_mm512_set1_epi32((int32_t)(2 * (oh * W + ow))), ev);
                _mm512_mask_storeu_epi32(arow + ow, mo, _mm512_add_epi32(ia, k));
            }
        }
    }
    return 0;
}

FNN_TARGET_AVX512 static int avg2_avx512(const pool_ctx *c, ptrdiff_t p) {
    const fnn_pool_shape *s = c->s;
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW;
    const float *x = c->x + p * H * W;
    float *o = c->out + p * OH * OW;
    const __m512i ev = FNN_EVEN16, od = FNN_ODD16;
    const __m512 zero = _mm512_setzero_ps(), q = _mm512_set1_ps(0.25f);
    for (ptrdiff_t oh = 0; oh < OH; oh++) {
        const float *r0 = x + 2 * oh * W, *r1 = r0 + W;
        float *orow = o + oh * OW;
        for (ptrdiff_t ow = 0; ow < OW; ow += 16) {
            __mmask16 mo, mlo, mhi;
            masks2(OW - ow, &mo, &mlo, &mhi);
            const __m512 x0 = _mm512_maskz_loadu_ps(mlo, r0 + 2 * ow);
            const __m512 x1 = _mm512_maskz_loadu_ps(mhi, r0 + 2 * ow + 16);
            const __m512 y0 = _mm512_maskz_loadu_ps(mlo, r1 + 2 * ow);
            const __m512 y1 = _mm512_maskz_loadu_ps(mhi, r1 + 2 * ow + 16);
            __m512 sum = _mm512_add_ps(zero, _mm512_permutex2var_ps(x0, ev, x1));
            sum = _mm512_add_ps(sum, _mm512_permutex2var_ps(x0, od, x1));
            sum = _mm512_add_ps(sum, _mm512_permutex2var_ps(y0, ev, y1));
            sum = _mm512_add_ps(sum, _mm512_permutex2var_ps(y0, od, y1));
            _mm512_mask_storeu_ps(orow + ow, mo, _mm512_mul_ps(sum, q));   // x / 4 == x * 0.25, bit for bit
        }
    }
    return 0;
}

FNN_TARGET_AVX512 static int avg_back2_avx512(const pool_ctx *c, ptrdiff_t p) {
    const fnn_pool_shape *s = c->s;
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW;
    float *dx = c->out + p * H * W;
    const float *g = c->x + p * OH * OW;
    const __m512i zlo = FNN_ZIP_LO, zhi = FNN_ZIP_HI;
    const __m512 zero = _mm512_setzero_ps(), q = _mm512_set1_ps(0.25f);
    for (ptrdiff_t oh = 0; oh < OH; oh++) {
        float *d0 = dx + 2 * oh * W, *d1 = d0 + W;
        const float *grow = g + oh * OW;
        for (ptrdiff_t ow = 0; ow < OW; ow += 16) {
            __mmask16 mo, mlo, mhi;
            masks2(OW - ow, &mo, &mlo, &mhi);
            __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(mo, grow + ow), q);
            v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_NEQ_UQ), v);   // 0.0f + v, see above
            const __m512 lo = _mm512_permutex2var_ps(v, zlo, v), hi = _mm512_permutex2var_ps(v, zhi, v);
            _mm512_mask_storeu_ps(d0 + 2 * ow, mlo, lo);
            _mm512_mask_storeu_ps(d0 + 2 * ow + 16, mhi, hi);
            _mm512_mask_storeu_ps(d1 + 2 * ow, mlo, lo);
            _mm512_mask_storeu_ps(d1 + 2 * ow + 16, mhi, hi);
        }
    }
    zero_uncovered2(dx, H, W, OH);
    return 0;
}

FNN_TARGET_AVX512 static int max_back2_avx512(const pool_ctx *c, ptrdiff_t p) {
    const fnn_pool_shape *s = c->s;
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW;
    float *dx = c->out + p * H * W;
    const float *g = c->x + p * OH * OW;
    const int32_t *am = c->cargmax + p * OH * OW;
    const __m512i zlo = FNN_ZIP_LO, zhi = FNN_ZIP_HI, ev = FNN_EVEN16;
    const __m512i one = _mm512_set1_epi32(1), kc = _mm512_set1_epi32((int32_t)W);
    const __m512i kd = _mm512_set1_epi32((int32_t)W + 1);
    const __m512 zero = _mm512_setzero_ps();
    for (ptrdiff_t oh = 0; oh < OH; oh++) {
        float *d0 = dx + 2 * oh * W, *d1 = d0 + W;
        const float *grow = g + oh * OW;
        const int32_t *arow = am + oh * OW;
        for (ptrdiff_t ow = 0; ow < OW; ow += 16) {
            __mmask16 mo, mlo, mhi;
            masks2(OW - ow, &mo, &mlo, &mhi);
            const __m512 v = _mm512_add_ps(zero, _mm512_maskz_loadu_ps(mo, grow + ow));
            // offset of the argmax from the window's first input: 0, 1, W or W+1 (indices below 2^31)
            const __m512i k = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(mo, arow + ow),
                                               _mm512_add_epi32(_mm512_set1_epi32((int32_t)(2 * (oh * W + ow))), ev));
            const __mmask16 ma = _mm512_mask_cmpeq_epi32_mask(mo, k, _mm512_setzero_si512());
            const __mmask16 mb = _mm512_mask_cmpeq_epi32_mask(mo, k, one);
            const __mmask16 mc = _mm512_mask_cmpeq_epi32_mask(mo, k, kc);
            const __mmask16 md = _mm512_mask_cmpeq_epi32_mask(mo, k, kd);
            // an argmax that is not one of its window's inputs (not from the forward: it may repeat or be out of
            // range): the generic scatter redoes the plane, accumulating repeats and reporting bad indices
            if ((__mmask16)(ma | mb | mc | md) != mo) return max_back_plane(c, p);
            const __m512 a = _mm512_maskz_mov_ps(ma, v), b = _mm512_maskz_mov_ps(mb, v);
            const __m512 cc = _mm512_maskz_mov_ps(mc, v), d = _mm512_maskz_mov_ps(md, v);
            _mm512_mask_storeu_ps(d0 + 2 * ow, mlo, _mm512_permutex2var_ps(a, zlo, b));
            _mm512_mask_storeu_ps(d0 + 2 * ow + 16, mhi, _mm512_permutex2var_ps(a, zhi, b));
            _mm512_mask_storeu_ps(d1 + 2 * ow, mlo, _mm512_permutex2var_ps(cc, zlo, d));
            _mm512_mask_storeu_ps(d1 + 2 * ow + 16, mhi, _mm512_permutex2var_ps(cc, zhi, d));
        }
    }
    zero_uncovered2(dx, H, W, OH);
    return 0;
}
#endif

// the plane kernel for this ISA among the portable, AVX2 and AVX-512 builds of one 2x2 kernel
static pool_plane_fn pick2(pool_plane_fn generic, pool_plane_fn avx2, pool_plane_fn avx512) {
#ifdef FNN_X86_TARGETS
    switch (fnn_get_isa()) {
    case FNN_ISA_AVX512: return avx512;
    case FNN_ISA_AVX2: return avx2;
    default: break;
    }
#else
    (void)avx2;
    (void)avx512;
#endif
    return generic;
}

#ifdef FNN_X86_TARGETS
#define FNN_PICK2(name) pick2(name##_generic, name##_avx2, name##_avx512)
#define FNN_AVX512_OR_NULL(fn) fn
#else
#define FNN_PICK2(name) pick2(name##_generic, NULL, NULL)
#define FNN_AVX512_OR_NULL(fn) NULL
#endif

int fnn_pool2d_forward(float *FNN_RESTRICT out, int32_t *FNN_RESTRICT argmax, const float *FNN_RESTRICT x,
                       const fnn_pool_shape *s, int n_threads) {
    if (!shape_ok(s)) return FNN_ERR_ARG;
    const ptrdiff_t np = s->N * s->C;
    if (np == 0) return FNN_OK;
    if (!out || !x) return FNN_ERR_ARG;
    pool_ctx c = {out, s->kind == FNN_POOL_MAX ? argmax : NULL, x, NULL, s};
    double work = (double)np * (double)s->OH * (double)s->OW * (double)s->KH * (double)s->KW;
    const int k2 = is_2x2s2(s);
    switch (s->kind) {
    case FNN_POOL_MAX: return run_planes(k2 ? FNN_PICK2(max2) : max_plane, &c, np, 2.0 * work, n_threads);
    case FNN_POOL_AVG: return run_planes(k2 ? FNN_PICK2(avg2) : avg_plane, &c, np, work, n_threads);
    default: return run_planes(gavg_plane, &c, np, work, n_threads);
    }
}

int fnn_pool2d_backward(float *FNN_RESTRICT dx, const float *FNN_RESTRICT dout, const int32_t *FNN_RESTRICT argmax,
                        const fnn_pool_shape *s, int n_threads) {
    if (!shape_ok(s)) return FNN_ERR_ARG;
    const ptrdiff_t np = s->N * s->C;
    if (np == 0) return FNN_OK;
    if (!dx || !dout || (s->kind == FNN_POOL_MAX && !argmax)) return FNN_ERR_ARG;
    pool_ctx c = {dx, NULL, dout, argmax, s};
    double planes = (double)np * (double)s->H * (double)s->W;
    const int k2 = is_2x2s2(s);
    switch (s->kind) {
    case FNN_POOL_MAX:
        /* the generic zero-then-scatter is as fast as plain C gets (the plane stays in L1) */
        return run_planes(k2 ? pick2(max_back_plane, max_back_plane, FNN_AVX512_OR_NULL(max_back2_avx512))
                             : max_back_plane,
                          &c, np, planes + (double)np * s->OH * s->OW, n_threads);
    case FNN_POOL_AVG:
        return run_planes(k2 ? FNN_PICK2(avg_back2) : avg_back_plane, &c, np,
                          planes + (double)np * s->OH * s->OW * (double)s->KH * (double)s->KW, n_threads);
    default: return run_planes(gavg_back_plane, &c, np, planes, n_threads);
    }
}
