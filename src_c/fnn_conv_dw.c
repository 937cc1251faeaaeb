/* fastnn: depthwise 2-D convolution (G = C = OC), direct loops.  One (sample, channel) plane at a time: the
   kernel taps in order, each a row-wise multiply-add over the valid output columns (contiguous when the
   stride is 1, so it vectorises).  Forward and dx are parallel over planes (each written by one thread); dw is
   parallel over channels, each summed over samples in order in double: identical for any n_threads. */
#include <string.h>

#include "fnn_conv_impl.h"

// o (OH,OW) += w_c (KH,KW) (*) x_c (H,W), one plane
static void dw_plane_forward(float *FNN_RESTRICT o, const float *FNN_RESTRICT xc, const float *FNN_RESTRICT wc,
                             const fnn_conv_shape *s) {
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW, SW = s->SW;
    for (ptrdiff_t kh = 0; kh < s->KH; kh++) {
        for (ptrdiff_t kw = 0; kw < s->KW; kw++) {
            const float wv = wc[kh * s->KW + kw];
            ptrdiff_t off = kw * s->DW - s->PW, lo, hi;
            fnn_conv_valid_range(&lo, &hi, off, SW, W, OW);
            for (ptrdiff_t oh = 0; oh < OH; oh++) {
                ptrdiff_t ih = oh * s->SH - s->PH + kh * s->DH;
                if (ih < 0 || ih >= H) continue;
                const float *xr = xc + ih * W + off;
                float *orow = o + oh * OW;
                if (SW == 1) {
#pragma GCC ivdep
                    for (ptrdiff_t ow = lo; ow < hi; ow++) orow[ow] += wv * xr[ow];
                } else {
                    for (ptrdiff_t ow = lo; ow < hi; ow++) orow[ow] += wv * xr[ow * SW];
                }
            }
        }
    }
}

// dxc (H,W) += scatter of w_c (KH,KW) * dout_c (OH,OW), one plane
static void dw_plane_dx(float *FNN_RESTRICT dxc, const float *FNN_RESTRICT dc, const float *FNN_RESTRICT wc,
                        const fnn_conv_shape *s) {
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW, SW = s->SW;
    for (ptrdiff_t kh = 0; kh < s->KH; kh++) {
        for (ptrdiff_t kw = 0; kw < s->KW; kw++) {
            const float wv = wc[kh * s->KW + kw];
            ptrdiff_t off = kw * s->DW - s->PW, lo, hi;
            fnn_conv_valid_range(&lo, &hi, off, SW, W, OW);
            for (ptrdiff_t oh = 0; oh < OH; oh++) {
                ptrdiff_t ih = oh * s->SH - s->PH + kh * s->DH;
                if (ih < 0 || ih >= H) continue;
                float *xr = dxc + ih * W + off;
                const float *drow = dc + oh * OW;
                if (SW == 1) {
#pragma GCC ivdep
                    for (ptrdiff_t ow = lo; ow < hi; ow++) xr[ow] += wv * drow[ow];
                } else {
                    for (ptrdiff_t ow = lo; ow < hi; ow++) xr[ow * SW] += wv * drow[ow];
                }
            }
        }
    }
}

// sum over oh, ow of dout_c (OH,OW) * x_c shifted by tap (kh, kw), one plane (row sums in float, total in double)
static double dw_plane_tap(const float *FNN_RESTRICT dc, const float *FNN_RESTRICT xc, ptrdiff_t kh, ptrdiff_t kw,
                           const fnn_conv_shape *s) {
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW, SW = s->SW;
    ptrdiff_t off = kw * s->DW - s->PW, lo, hi;
    fnn_conv_valid_range(&lo, &hi, off, SW, W, OW);
    double a = 0.0;
    for (ptrdiff_t oh = 0; oh < OH; oh++) {
        ptrdiff_t ih = oh * s->SH - s->PH + kh * s->DH;
        if (ih < 0 || ih >= H) continue;
        const float *xr = xc + ih * W + off;
        const float *drow = dc + oh * OW;
        float r = 0.0f;
        for (ptrdiff_t ow = lo; ow < hi; ow++) r += drow[ow] * xr[ow * SW];
        a += r;
    }
    return a;
}

// out (N,C,OH,OW) = depthwise conv(x (N,C,H,W), w (C,1,KH,KW)) + bias (C)
int fnn_conv_dw_forward(float *out, const float *x, const float *w, const float *bias, const fnn_conv_shape *s,
                        int n_threads) {
    const ptrdiff_t C = s->C, P = s->OH * s->OW, KK = s->KH * s->KW, planes = s->N * C;
    int nt = fnn_threads_for(2.0 * (double)planes * (double)P * (double)KK, n_threads);
    (void)nt;
    CONV_PAR_FOR(nt)
    for (ptrdiff_t q = 0; q < planes; q++) {
        ptrdiff_t c = q % C;
        float *o = out + q * P;
        float b = bias ? bias[c] : 0.0f;
        for (ptrdiff_t p = 0; p < P; p++) o[p] = b;
        dw_plane_forward(o, x + q * s->H * s->W, w + c * KK, s);
    }
    return FNN_OK;
}

// dx (N,C,H,W) (skipped when NULL), dw (C,1,KH,KW) from dout (N,C,OH,OW); both overwritten
int fnn_conv_dw_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                         const fnn_conv_shape *s, int n_threads) {
    const ptrdiff_t C = s->C, P = s->OH * s->OW, HW = s->H * s->W, KK = s->KH * s->KW, planes = s->N * C;
    const double work = 2.0 * (double)planes * (double)P * (double)KK;
    int nt = fnn_threads_for(work, n_threads);
    (void)nt;
    if (dx) {
        CONV_PAR_FOR(nt)
        for (ptrdiff_t q = 0; q < planes; q++) {
            float *d = dx + q * HW;
            memset(d, 0, (size_t)HW * sizeof(float));
            dw_plane_dx(d, dout + q * P, w + (q % C) * KK, s);
        }
    }
    int ct = nt < C ? nt : (int)C;
    (void)ct;
    CONV_PAR_FOR(ct)
    for (ptrdiff_t c = 0; c < C; c++) {
        for (ptrdiff_t k = 0; k < KK; k++) {
            double a = 0.0;
            for (ptrdiff_t n = 0; n < s->N; n++)
                a += dw_plane_tap(dout + (n * C + c) * P, x + (n * C + c) * HW, k / s->KW, k % s->KW, s);
            dw[c * KK + k] = (float)a;
        }
    }
    return FNN_OK;
}
