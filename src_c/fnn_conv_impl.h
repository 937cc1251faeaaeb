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

/* Floats after a column matrix that im2col may overwrite (its AVX-512 and AVX2 paths store whole vectors). */
#define FNN_CONV_COL_SLACK 16

// col (C*KH*KW, OH*OW) = im2col(x (C,H,W)) of one sample, zero where a tap reads padding (fnn_conv_cols.c);
// writes up to FNN_CONV_COL_SLACK floats past the matrix
void fnn_conv_im2col(float *col, const float *x, const fnn_conv_shape *s);

// dx (C,H,W) = col2im(col (C*KH*KW, OH*OW)) of one sample: overwritten, overlapping taps added
void fnn_conv_col2im(float *dx, const float *col, const fnn_conv_shape *s);

/* Direct convolution (fnn_conv_direct.c): AVX-512 or AVX2, stride 1, dilation 1, one group, PH <= KH-1, PW <= KW-1,
   and few channels (below).  fnn_conv_direct_mode: -1 automatic (default), 0 never, 1 whenever the geometry
   allows (the tests force both routes). */
#ifndef FNN_CONV_DIRECT_MAX_OC
#define FNN_CONV_DIRECT_MAX_OC 32
#endif
#ifndef FNN_CONV_DIRECT_MAX_CKK
#define FNN_CONV_DIRECT_MAX_CKK 160
#endif
extern int fnn_conv_direct_mode;
/* The geometry the direct kernels take (workspaces are sized for it whatever the ISA and mode). */
int fnn_conv_direct_geometry(const fnn_conv_shape *s);
/* 1 when this call takes the direct route (geometry, ISA, mode and the channel thresholds). */
int fnn_conv_direct_ok(const fnn_conv_shape *s);
/* Per-thread scratch floats: the zero-bordered samples of a backward chunk (weight gradient; one sample for
   the forward pass) or output gradient (input gradient). */
ptrdiff_t fnn_conv_direct_scratch_floats(const fnn_conv_shape *s);
// out_n (OC,OH,OW) = conv(x_n (C,H,W), w) + bias (may be NULL), then max(., 0) when relu
void fnn_conv_direct_forward_sample(float *out, const float *x, const float *w, const float *bias, int relu,
                                    const fnn_conv_shape *s, float *scratch);
// dw (OC,C,KH,KW) = the weight gradient summed over the nn samples x (nn,C,H,W), dout (nn,OC,OH,OW) (overwritten)
void fnn_conv_direct_dw_chunk(float *dw, const float *dout, const float *x, ptrdiff_t nn, const fnn_conv_shape *s,
                              float *scratch);
// wt (C, OC, KH, KW) = w (OC, C, KH, KW) with the channel axes swapped and both kernel axes reversed
void fnn_conv_direct_flip_weights(float *wt, const float *w, const fnn_conv_shape *s);
// dx_n (C,H,W) = the input gradient of one sample from dout_n (OC,OH,OW) and wt (fnn_conv_direct_flip_weights)
void fnn_conv_direct_dx_sample(float *dx, const float *dout, const float *wt, const fnn_conv_shape *s,
                               float *scratch);

/* Winograd convolution (fnn_conv_wino.c): F(4x4 or 2x2, 5x5 or 3x3); stride 1, dilation 1, one
   group, square 3x3 or 5x5 kernel, PH <= KH-1, PW <= KW-1; AVX2 kernels (also on AVX-512 CPUs).
   fnn_conv_wino_mode: -1 automatic (default), 0 never, 1 whenever the geometry and the CPU allow. */
extern int fnn_conv_wino_mode;
int fnn_conv_wino_geometry(const fnn_conv_shape *s);
enum { FNN_WINO_FWD = 0, FNN_WINO_DW = 1, FNN_WINO_DX = 2 };
/* 1 when this pass (FNN_WINO_*) of this call takes the Winograd route (geometry, ISA, mode, channels). */
int fnn_conv_wino_ok(const fnn_conv_shape *s, int pass);
/* Per-thread scratch floats (forward, input or weight gradient of one sample). */
ptrdiff_t fnn_conv_wino_scratch_floats(const fnn_conv_shape *s);
/* Transformed, packed filters of both directions (forward, input gradient). */
ptrdiff_t fnn_conv_wino_filter_floats(const fnn_conv_shape *s);
/* One backward chunk's weight gradient in the Winograd domain. */
ptrdiff_t fnn_conv_wino_partial_floats(const fnn_conv_shape *s);
// filters (fnn_conv_wino_filter_floats) = the transformed weights w (OC,C,KH,KW) of the directions asked for
void fnn_conv_wino_prepare(float *filters, const float *w, const fnn_conv_shape *s, int fwd, int dx, int n_threads);
// out_n (OC,OH,OW) = conv(x_n (C,H,W)) + bias (may be NULL), then max(., 0) when relu
void fnn_conv_wino_forward_sample(float *out, const float *x, const float *filters, const float *bias, int relu,
                                  const fnn_conv_shape *s, float *scratch);
// dx_n (C,H,W) = the input gradient of one sample from dout_n (OC,OH,OW)
void fnn_conv_wino_dx_sample(float *dx, const float *dout, const float *filters, const fnn_conv_shape *s,
                             float *scratch);
// dU (fnn_conv_wino_partial_floats) = the weight gradient of the ns (<= CONV_CHUNK) samples x (ns,C,H,W),
// dout (ns,OC,OH,OW), in the Winograd domain (overwritten)
void fnn_conv_wino_dw_chunk(float *dU, const float *x, const float *dout, ptrdiff_t ns, const fnn_conv_shape *s,
                            float *scratch);
// dw (OC,C,KH,KW) = the weight gradient from dU summed over the chunks
void fnn_conv_wino_dw_finish(float *dw, const float *dU, const fnn_conv_shape *s, int n_threads);

// db (OC) = sum over n, oh, ow of dout (N,OC,OH,OW), double accumulator, samples in order
void fnn_conv_bias_grad(float *db, const float *dout, const fnn_conv_shape *s, int n_threads);

// out (N,C,OH,OW) = depthwise conv(x (N,C,H,W), w (C,1,KH,KW)) + bias (C)
int fnn_conv_dw_forward(float *out, const float *x, const float *w, const float *bias, const fnn_conv_shape *s,
                        int n_threads);

// dx (N,C,H,W) (skipped when NULL), dw (C,1,KH,KW) from dout (N,C,OH,OW); both overwritten
int fnn_conv_dw_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                         const fnn_conv_shape *s, int n_threads);

#endif
