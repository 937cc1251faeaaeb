/* fastnn: 2-D pooling, the plain twins for the tests: one thread, full windows with a bounds test per
   element, straight from the definitions. */
#include <math.h>

#include "fnn_pool.h"

// out (N,C,OH,OW), argmax (N,C,OH,OW) or NULL = pool(x (N,C,H,W))
int fnn_pool2d_forward_naive(float *out, int32_t *argmax, const float *x, const fnn_pool_shape *s) {
    if (!s) return FNN_ERR_ARG;
    fnn_pool_shape t = *s;
    if (fnn_pool_shape_init(&t) != FNN_OK || t.OH != s->OH || t.OW != s->OW) return FNN_ERR_ARG;
    const ptrdiff_t H = t.H, W = t.W, OH = t.OH, OW = t.OW;
    for (ptrdiff_t p = 0; p < t.N * t.C; p++) {
        const float *xp = x + p * H * W;
        for (ptrdiff_t oh = 0; oh < OH; oh++) {
            for (ptrdiff_t ow = 0; ow < OW; ow++) {
                float m = -INFINITY, sum = 0.0f;
                double dsum = 0.0;
                ptrdiff_t arg = -1, count = 0;
                for (ptrdiff_t kh = 0; kh < t.KH; kh++) {
                    for (ptrdiff_t kw = 0; kw < t.KW; kw++) {
                        ptrdiff_t h = oh * t.SH - t.PH + kh, w = ow * t.SW - t.PW + kw;
                        if (h < 0 || h >= H || w < 0 || w >= W) continue;
                        float v = xp[h * W + w];
                        count++;
                        sum += v;
                        dsum += v;
                        if (arg < 0 || v > m || (isnan(v) && !isnan(m))) {
                            m = v;
                            arg = h * W + w;
                        }
                    }
                }
                ptrdiff_t o = p * OH * OW + oh * OW + ow;
                if (t.kind == FNN_POOL_MAX) {
                    out[o] = m;
                    if (argmax) argmax[o] = (int32_t)arg;
                } else if (t.kind == FNN_POOL_AVG) {
                    out[o] = sum / (float)(t.count_include_pad ? t.KH * t.KW : count);
                } else {
                    out[o] = (float)(dsum / (double)(H * W));
                }
            }
        }
    }
    return FNN_OK;
}

// dx (N,C,H,W) = dL/dx from dout (N,C,OH,OW) (and argmax for MAX); dx overwritten
int fnn_pool2d_backward_naive(float *dx, const float *dout, const int32_t *argmax, const fnn_pool_shape *s) {
    if (!s) return FNN_ERR_ARG;
    fnn_pool_shape t = *s;
    if (fnn_pool_shape_init(&t) != FNN_OK || t.OH != s->OH || t.OW != s->OW) return FNN_ERR_ARG;
    if (t.kind == FNN_POOL_MAX && !argmax && t.N * t.C > 0) return FNN_ERR_ARG;
    const ptrdiff_t H = t.H, W = t.W, OH = t.OH, OW = t.OW;
    int bad = 0;
    for (ptrdiff_t i = 0; i < t.N * t.C * H * W; i++) dx[i] = 0.0f;
    for (ptrdiff_t p = 0; p < t.N * t.C; p++) {
        float *dp = dx + p * H * W;
        for (ptrdiff_t oh = 0; oh < OH; oh++) {
            for (ptrdiff_t ow = 0; ow < OW; ow++) {
                ptrdiff_t o = p * OH * OW + oh * OW + ow;
                if (t.kind == FNN_POOL_MAX) {
                    int32_t a = argmax[o];
                    if (a < 0 || (ptrdiff_t)a >= H * W) bad = 1;
                    else dp[a] += dout[o];
                    continue;
                }
                if (t.kind == FNN_POOL_GLOBAL_AVG) {
                    for (ptrdiff_t i = 0; i < H * W; i++) dp[i] = dout[o] / (float)(H * W);
                    continue;
                }
                ptrdiff_t count = 0;
                for (int pass = 0; pass < 2; pass++) {
                    float v = pass ? dout[o] / (float)(t.count_include_pad ? t.KH * t.KW : count) : 0.0f;
                    for (ptrdiff_t kh = 0; kh < t.KH; kh++) {
                        for (ptrdiff_t kw = 0; kw < t.KW; kw++) {
                            ptrdiff_t h = oh * t.SH - t.PH + kh, w = ow * t.SW - t.PW + kw;
                            if (h < 0 || h >= H || w < 0 || w >= W) continue;
                            if (pass == 0) count++;
                            else dp[h * W + w] += v;
                        }
                    }
                }
            }
        }
    }
    return bad ? FNN_ERR_ARG : FNN_OK;
}
