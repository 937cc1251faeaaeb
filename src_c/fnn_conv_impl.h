/* fastnn: private helpers shared by the convolution sources (fnn_conv.c, fnn_conv_dw.c); not a public API. */
#ifndef FNN_CONV_IMPL_H
#define FNN_CONV_IMPL_H

#include "fnn_conv.h"

/* "parallel for" over a static schedule on nt threads (serial when nt <= 1, and in a build without OpenMP). */
#define CONV_PRAGMA(x) _Pragma(#x)
#ifdef _OPENMP
#define CONV_PAR_FOR(nt) CONV_PRAGMA(omp parallel for num_threads(nt) schedule(static) if ((nt) > 1))
#else
#define CONV_PAR_FOR(nt)
#endif

/* Samples per partial weight gradient in the backward pass: fixed, so results do not depend on n_threads. */
#define CONV_CHUNK 4

/* G = C = OC (> 1): the direct depthwise kernels serve this shape. */
int fnn_conv_is_depthwise(const fnn_conv_shape *s);

/* Output columns [*lo, *hi) whose input column ow*S + off lies in [0, W) (clipped to [0, OW)). */
void fnn_conv_valid_range(ptrdiff_t *lo, ptrdiff_t *hi, ptrdiff_t off, ptrdiff_t S, ptrdiff_t W, ptrdiff_t OW);

// col (C*KH*KW, OH*OW) = im2col(x (C,H,W)) of one sample, zero where a tap reads padding (fnn_conv_cols.c)
void fnn_conv_im2col(float *col, const float *x, const fnn_conv_shape *s);

// dx (C,H,W) = col2im(col (C*KH*KW, OH*OW)) of one sample: overwritten, overlapping taps added
void fnn_conv_col2im(float *dx, const float *col, const fnn_conv_shape *s);

// db (OC) = sum over n, oh, ow of dout (N,OC,OH,OW), double accumulator, samples in order
void fnn_conv_bias_grad(float *db, const float *dout, const fnn_conv_shape *s, int n_threads);

// out (N,C,OH,OW) = depthwise conv(x (N,C,H,W), w (C,1,KH,KW)) + bias (C)
int fnn_conv_dw_forward(float *out, const float *x, const float *w, const float *bias, const fnn_conv_shape *s,
                        int n_threads);

// dx (N,C,H,W) (skipped when NULL), dw (C,1,KH,KW) from dout (N,C,OH,OW); both overwritten
int fnn_conv_dw_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                         const fnn_conv_shape *s, int n_threads);

#endif
