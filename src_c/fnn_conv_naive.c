/* fastnn: the plain convolution twins (direct loops, double accumulators, one thread, no workspace), for the
   tests.  Every output and every gradient element is a gather: a sum over the terms that touch it. */
#include "fnn_conv.h"

static int naive_shape_ok(const fnn_conv_shape *s) {
    if (!s) return 0;
    fnn_conv_shape t = *s;
    return fnn_conv_shape_init(&t) == FNN_OK && t.OH == s->OH && t.OW == s->OW;
}

// out (N,OC,OH,OW) = conv(x (N,C,H,W), w (OC,C/G,KH,KW)) + bias (OC) (bias may be NULL)
int fnn_conv2d_forward_naive(float *out, const float *x, const float *w, const float *bias, const fnn_conv_shape *s) {
    if (!naive_shape_ok(s) || !out || !x || !w) return FNN_ERR_ARG;
    const ptrdiff_t Cg = s->C / s->G, OCg = s->OC / s->G;
    for (ptrdiff_t n = 0; n < s->N; n++)
        for (ptrdiff_t o = 0; o < s->OC; o++) {
            const ptrdiff_t g = o / OCg;
            for (ptrdiff_t oh = 0; oh < s->OH; oh++)
                for (ptrdiff_t ow = 0; ow < s->OW; ow++) {
                    double acc = bias ? (double)bias[o] : 0.0;
                    for (ptrdiff_t ci = 0; ci < Cg; ci++)
                        for (ptrdiff_t kh = 0; kh < s->KH; kh++) {
                            ptrdiff_t ih = oh * s->SH - s->PH + kh * s->DH;
                            if (ih < 0 || ih >= s->H) continue;
                            for (ptrdiff_t kw = 0; kw < s->KW; kw++) {
                                ptrdiff_t iw = ow * s->SW - s->PW + kw * s->DW;
                                if (iw < 0 || iw >= s->W) continue;
                                acc += (double)w[((o * Cg + ci) * s->KH + kh) * s->KW + kw] *
                                       (double)x[((n * s->C + g * Cg + ci) * s->H + ih) * s->W + iw];
                            }
                        }
                    out[((n * s->OC + o) * s->OH + oh) * s->OW + ow] = (float)acc;
                }
        }
    return FNN_OK;
}

// dx (N,C,H,W) (NULL: skipped), dw (OC,C/G,KH,KW), db (OC) (NULL: skipped) from dout (N,OC,OH,OW); overwritten
int fnn_conv2d_backward_naive(float *dx, float *dw, float *db, const float *dout, const float *x, const float *w,
                              const fnn_conv_shape *s) {
    if (!naive_shape_ok(s) || !dw || !dout || !x || !w) return FNN_ERR_ARG;
    const ptrdiff_t Cg = s->C / s->G, OCg = s->OC / s->G;
#define DOUT(n, o, oh, ow) ((double)dout[(((n) * s->OC + (o)) * s->OH + (oh)) * s->OW + (ow)])
    if (db)
        for (ptrdiff_t o = 0; o < s->OC; o++) {
            double acc = 0.0;
            for (ptrdiff_t n = 0; n < s->N; n++)
                for (ptrdiff_t p = 0; p < s->OH * s->OW; p++) acc += DOUT(n, o, 0, p);
            db[o] = (float)acc;
        }
    for (ptrdiff_t o = 0; o < s->OC; o++) {
        const ptrdiff_t g = o / OCg;
        for (ptrdiff_t ci = 0; ci < Cg; ci++)
            for (ptrdiff_t kh = 0; kh < s->KH; kh++)
                for (ptrdiff_t kw = 0; kw < s->KW; kw++) {
                    double acc = 0.0;
                    for (ptrdiff_t n = 0; n < s->N; n++)
                        for (ptrdiff_t oh = 0; oh < s->OH; oh++) {
                            ptrdiff_t ih = oh * s->SH - s->PH + kh * s->DH;
                            if (ih < 0 || ih >= s->H) continue;
                            for (ptrdiff_t ow = 0; ow < s->OW; ow++) {
                                ptrdiff_t iw = ow * s->SW - s->PW + kw * s->DW;
                                if (iw < 0 || iw >= s->W) continue;
                                acc += DOUT(n, o, oh, ow) *
                                       (double)x[((n * s->C + g * Cg + ci) * s->H + ih) * s->W + iw];
                            }
                        }
                    dw[((o * Cg + ci) * s->KH + kh) * s->KW + kw] = (float)acc;
                }
    }
    if (!dx) return FNN_OK;
    /* dx[n, c, ih, iw] = sum over o in c's group and taps (kh, kw) with ih = oh*SH - PH + kh*DH (same for w) */
    for (ptrdiff_t n = 0; n < s->N; n++)
        for (ptrdiff_t c = 0; c < s->C; c++) {
            const ptrdiff_t g = c / Cg, ci = c % Cg;
            for (ptrdiff_t ih = 0; ih < s->H; ih++)
                for (ptrdiff_t iw = 0; iw < s->W; iw++) {
                    double acc = 0.0;
                    for (ptrdiff_t kh = 0; kh < s->KH; kh++) {
                        ptrdiff_t th = ih + s->PH - kh * s->DH;
                        if (th < 0 || th % s->SH || th / s->SH >= s->OH) continue;
                        for (ptrdiff_t kw = 0; kw < s->KW; kw++) {
                            ptrdiff_t tw = iw + s->PW - kw * s->DW;
                            if (tw < 0 || tw % s->SW || tw / s->SW >= s->OW) continue;
                            for (ptrdiff_t oo = 0; oo < OCg; oo++) {
                                ptrdiff_t o = g * OCg + oo;
                                acc += DOUT(n, o, th / s->SH, tw / s->SW) *
                                       (double)w[((o * Cg + ci) * s->KH + kh) * s->KW + kw];
                            }
                        }
                    }
                    dx[((n * s->C + c) * s->H + ih) * s->W + iw] = (float)acc;
                }
        }
#undef DOUT
    return FNN_OK;
}
