/* fastnn: 2-D convolution (NCHW), forward and backward. */
#ifndef FNN_CONV_H
#define FNN_CONV_H

#include "fnn_common.h"

/* Geometry of one convolution.  Fill N..G, then fnn_conv_shape_init computes OH, OW and validates:
   OH = (H + 2 PH - DH (KH - 1) - 1) / SH + 1 (same for W); C and OC divisible by G; everything >= 1 (pads >= 0). */
typedef struct {
    ptrdiff_t N, C, H, W;      /* input batch, channels, height, width */
    ptrdiff_t OC, KH, KW;      /* output channels, kernel height, width */
    ptrdiff_t SH, SW;          /* strides */
    ptrdiff_t PH, PW;          /* zero padding (each side) */
    ptrdiff_t DH, DW;          /* dilations */
    ptrdiff_t G;               /* groups (G = C = OC for depthwise) */
    ptrdiff_t OH, OW;          /* output height, width (computed) */
} fnn_conv_shape;

/* FNN_OK, or FNN_ERR_ARG naming nothing (the Python side names the problem before calling). */
int fnn_conv_shape_init(fnn_conv_shape *s);

/* Floats of scratch the fast kernels need (forward and backward) for this shape and thread budget: one
   im2col buffer (C*KH*KW*OH*OW) per outer thread (at most min(n_threads, N)) plus the per-chunk partial weight
   gradients of the backward pass.  Pass the same n_threads to the kernels.  Where it returns 0 (depthwise
   shapes, some 1x1 ones; also an invalid shape) ws may be NULL. */
ptrdiff_t fnn_conv_workspace_floats(const fnn_conv_shape *s, int n_threads);

// out (N,OC,OH,OW) = conv(x (N,C,H,W), w (OC,C/G,KH,KW)) + bias (OC) (bias may be NULL)
int fnn_conv2d_forward(float *out, const float *x, const float *w, const float *bias, const fnn_conv_shape *s,
                       float *ws, int n_threads);

/* fnn_conv2d_forward, then out = max(out, 0) when relu (in the GEMM's epilogue, while each tile is in cache:
   bitwise the separate ReLU pass). */
int fnn_conv2d_forward_ep(float *out, const float *x, const float *w, const float *bias, const fnn_conv_shape *s,
                          int relu, float *ws, int n_threads);

/* dx (N,C,H,W) = dL/dx (skipped when dx is NULL); dw (OC,C/G,KH,KW) = dL/dw; db (OC) = dL/dbias (skipped when
   NULL), from dout (N,OC,OH,OW).  All overwritten.  Sums over the batch go in fixed chunks in a fixed order:
   identical for any n_threads. */
int fnn_conv2d_backward(float *dx, float *dw, float *db, const float *dout, const float *x, const float *w,
                        const fnn_conv_shape *s, float *ws, int n_threads);

/* Direct-loop twins (double accumulators, one thread, no workspace) for the tests. */
int fnn_conv2d_forward_naive(float *out, const float *x, const float *w, const float *bias, const fnn_conv_shape *s);
int fnn_conv2d_backward_naive(float *dx, float *dw, float *db, const float *dout, const float *x, const float *w,
                              const fnn_conv_shape *s);

#endif
