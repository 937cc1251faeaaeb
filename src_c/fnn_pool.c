/* fastnn: 2-D pooling (NCHW), the fast path: OpenMP over the N*C planes (schedule(static)); every plane is
   computed by the same serial code whichever thread runs it, so results are bitwise identical for any
   n_threads.  Window bounds are clipped once per output (no per-element bounds tests); 2x2 stride-2 max
   pooling without padding, the common case, has its own loop. */
#include <stdint.h>

#include "fnn_pool.h"

typedef struct {
    float *out;                  /* forward: out; backward: dx */
    int32_t *argmax;
    const float *x;              /* forward: x; backward: dout */
    const int32_t *cargmax;
    const fnn_pool_shape *s;
} pool_ctx;

typedef int (*pool_plane_fn)(const pool_ctx *c, ptrdiff_t p);

/* Run fn over planes 0..np-1 on up to n_threads threads; a plane returning nonzero makes the call FNN_ERR_ARG. */
static int run_planes(pool_plane_fn fn, const pool_ctx *c, ptrdiff_t np, double work, int n_threads) {
    int nt = fnn_threads_for(work, n_threads);
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
    if (s->KH == 2 && s->KW == 2 && s->SH == 2 && s->SW == 2 && s->PH == 0 && s->PW == 0) {
        /* branch-free selects (random data defeats branch prediction); candidate offsets 0, 1, W, W+1 */
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

int fnn_pool2d_forward(float *FNN_RESTRICT out, int32_t *FNN_RESTRICT argmax, const float *FNN_RESTRICT x,
                       const fnn_pool_shape *s, int n_threads) {
    if (!shape_ok(s)) return FNN_ERR_ARG;
    const ptrdiff_t np = s->N * s->C;
    if (np == 0) return FNN_OK;
    if (!out || !x) return FNN_ERR_ARG;
    pool_ctx c = {out, s->kind == FNN_POOL_MAX ? argmax : NULL, x, NULL, s};
    double work = (double)np * (double)s->OH * (double)s->OW * (double)s->KH * (double)s->KW;
    switch (s->kind) {
    case FNN_POOL_MAX: return run_planes(max_plane, &c, np, 2.0 * work, n_threads);
    case FNN_POOL_AVG: return run_planes(avg_plane, &c, np, work, n_threads);
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
    switch (s->kind) {
    case FNN_POOL_MAX: return run_planes(max_back_plane, &c, np, planes + (double)np * s->OH * s->OW, n_threads);
    case FNN_POOL_AVG:
        return run_planes(avg_back_plane, &c, np,
                          planes + (double)np * s->OH * s->OW * (double)s->KH * (double)s->KW, n_threads);
    default: return run_planes(gavg_back_plane, &c, np, planes, n_threads);
    }
}
