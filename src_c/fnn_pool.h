/* fastnn: 2-D pooling (NCHW) and batch normalisation, forward and backward. */
#ifndef FNN_POOL_H
#define FNN_POOL_H

#include "fnn_common.h"

enum { FNN_POOL_MAX = 0, FNN_POOL_AVG = 1, FNN_POOL_GLOBAL_AVG = 2 };

/* Geometry of one pooling.  Fill kind..PW (GLOBAL_AVG: only N, C, H, W), then fnn_pool_shape_init computes
   OH, OW (floor mode, as PyTorch's default) and validates (kernel <= padded input, padding <= kernel / 2 in
   integer division, stride >= 1, N, C >= 0, H, W >= 1, H*W < 2^31); FNN_ERR_ARG otherwise.  GLOBAL_AVG sets
   KH = SH = H, KW = SW = W, PH = PW = 0.  In floor mode with padding <= kernel / 2 every window holds at
   least one input and never reaches past the padded input, so AVG with count_include_pad divides by KH*KW. */
typedef struct {
    int kind;
    int count_include_pad;     /* AVG: divide by KH*KW (1, PyTorch's default) or by the in-bounds count (0) */
    ptrdiff_t N, C, H, W;
    ptrdiff_t KH, KW, SH, SW, PH, PW;
    ptrdiff_t OH, OW;          /* computed (GLOBAL_AVG: 1, 1) */
} fnn_pool_shape;

int fnn_pool_shape_init(fnn_pool_shape *s);

/* out (N,C,OH,OW) = pool(x (N,C,H,W)); MAX stores in argmax (N,C,OH,OW) the index h*W+w of the chosen input
   (first maximum in scan order; padding never wins; a NaN wins over numbers and propagates, as PyTorch's),
   argmax may be NULL (MAX for inference, and AVG/GLOBAL_AVG, which ignore it).  s must come from
   fnn_pool_shape_init.  Threads over the N*C planes; identical results for any n_threads. */
int fnn_pool2d_forward(float *out, int32_t *argmax, const float *x, const fnn_pool_shape *s, int n_threads);

/* dx (N,C,H,W) (overwritten) = dL/dx from dout (N,C,OH,OW); MAX needs argmax from the forward (an index
   outside [0, H*W) is skipped and the call returns FNN_ERR_ARG). */
int fnn_pool2d_backward(float *dx, const float *dout, const int32_t *argmax, const fnn_pool_shape *s, int n_threads);

/* Batch normalisation over x (N, C, S) (S = H*W for BatchNorm2d, 1 for BatchNorm1d), per channel.
   Training: batch mean and biased variance normalise; mean (C) and invstd (C) = 1/sqrt(var + eps) are saved for
   the backward; running_mean/running_var (C) (may be NULL) move as PyTorch's: r = (1 - momentum) r + momentum b,
   with the UNBIASED batch variance for running_var.  gamma/beta (C) may be NULL (affine=False).
   Channel sums are done in double in a fixed order: identical for any n_threads.
   Training needs N*S >= 2 (FNN_ERR_ARG otherwise, as PyTorch's "more than 1 value per channel"). */
int fnn_bn_forward_train(float *y, float *mean, float *invstd, float *running_mean, float *running_var,
                         const float *x, const float *gamma, const float *beta, float momentum, float eps,
                         ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, int n_threads);

// y (N,C,S) = gamma (x - running_mean) / sqrt(running_var + eps) + beta
int fnn_bn_forward_eval(float *y, const float *x, const float *gamma, const float *beta, const float *running_mean,
                        const float *running_var, float eps, ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, int n_threads);

/* The two forward passes with a following ReLU fused (relu != 0): y = max(BN(x), 0) in the same pass, bitwise
   the separate ReLU.  The backward pass never reads y, so the engine lets the ReLU's output alias it. */
int fnn_bn_forward_train_ep(float *y, float *mean, float *invstd, float *running_mean, float *running_var,
                            const float *x, const float *gamma, const float *beta, float momentum, float eps,
                            ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, int relu, int n_threads);
int fnn_bn_forward_eval_ep(float *y, const float *x, const float *gamma, const float *beta,
                           const float *running_mean, const float *running_var, float eps, ptrdiff_t N, ptrdiff_t C,
                           ptrdiff_t S, int relu, int n_threads);

/* dx (N,C,S), dgamma (C), dbeta (C) (both may be NULL; all three overwritten, as in fnn_conv.h) from dy and the
   saved mean/invstd (training mode); gamma NULL means 1:
   dx = invstd/M (M dy gamma - sum(dy gamma) - xhat sum(dy gamma xhat)), dgamma = sum(dy xhat), dbeta = sum(dy),
   xhat = (x - mean) invstd, M = N*S. */
int fnn_bn_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *mean,
                    const float *invstd, const float *gamma, ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, int n_threads);

/* The backward with a ReLU that followed the batch norm fused (fnn_bn_forward_train_ep's relu): relu_y (N,C,S),
   the ReLU's output (or its input: the same mask), masks dy by relu_y > 0 (row by row into dx, which both
   passes then read): bitwise the same as the ReLU's backward into a buffer and fnn_bn_backward on it, without
   that pass over memory.  dx must not overlap dy or relu_y.  relu_y NULL is fnn_bn_backward. */
int fnn_bn_backward_ep(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *mean,
                       const float *invstd, const float *gamma, const float *relu_y, ptrdiff_t N, ptrdiff_t C,
                       ptrdiff_t S, int n_threads);

/* Plain twins for the tests. */
int fnn_pool2d_forward_naive(float *out, int32_t *argmax, const float *x, const fnn_pool_shape *s);
int fnn_pool2d_backward_naive(float *dx, const float *dout, const int32_t *argmax, const fnn_pool_shape *s);
int fnn_bn_forward_train_naive(float *y, float *mean, float *invstd, float *running_mean, float *running_var,
                               const float *x, const float *gamma, const float *beta, float momentum, float eps,
                               ptrdiff_t N, ptrdiff_t C, ptrdiff_t S);
int fnn_bn_backward_naive(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *mean,
                          const float *invstd, const float *gamma, ptrdiff_t N, ptrdiff_t C, ptrdiff_t S);

#endif
