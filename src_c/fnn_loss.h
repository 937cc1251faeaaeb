/* fastnn: losses on a batch of predictions, value and gradient in one pass. */
#ifndef FNN_LOSS_H
#define FNN_LOSS_H

#include "fnn_common.h"

enum {
    FNN_LOSS_MSE = 0,        /* mean over all N*D elements of (p - t)^2 */
    FNN_LOSS_MAE = 1,        /* mean over all N*D elements of |p - t| (gradient sign(p - t), 0 at 0) */
    FNN_LOSS_HUBER = 2,      /* mean over N*D of 0.5 r^2 if |r| < delta else delta (|r| - 0.5 delta) */
    FNN_LOSS_BCE_LOGITS = 3, /* mean over N*D of max(z,0) - z t + log1p(exp(-|z|)), z a logit */
    FNN_LOSS_CE_LOGITS = 4,  /* mean over N rows of -sum_j t_j log softmax(z)_j (labels or soft targets) */
    FNN_LOSS_COUNT = 5
};

/* loss = L(pred (N,D), target) reduced as above (PyTorch's reduction="mean"); returned through *loss
   (double, summed in fixed-size chunks in a fixed order: identical for any n_threads).
   target: float (N,D) targets (for CE: probability rows, e.g. one-hot), or NULL when labels is given.
   labels: int32 (N) class indices for CE_LOGITS (each in [0, D)), else NULL.
   grad: if not NULL, receives (overwrites) dLoss/dpred (N,D), already divided by the reduction count,
   then multiplied by grad_scale (1.0 normally).  delta: Huber threshold (ignored by the others).
   CE_LOGITS with target rows: grad = (softmax(z) * sum_j t_j - t) / N, which is (softmax - t) / N for
   probability rows (one-hot included); labels are checked before anything is written.
   Returns FNN_OK, FNN_ERR_ARG (bad kind, N or D < 1, label out of range, missing target, Huber delta <= 0),
   FNN_ERR_NOMEM (chunk sums of a large batch). */
int fnn_loss_forward_backward(float *grad, double *loss, const float *pred, const float *target,
                              const int32_t *labels, int kind, float delta, float grad_scale, ptrdiff_t n,
                              ptrdiff_t d, int n_threads);

/* The argument checks both twins share: FNN_OK, or FNN_ERR_ARG (bad kind or size, label out of range, missing
   target, Huber delta <= 0). */
int fnn_loss_check(const double *loss, const float *pred, const float *target, const int32_t *labels, int kind,
                   float delta, ptrdiff_t n, ptrdiff_t d);

/* Plain twin for the tests. */
int fnn_loss_forward_backward_naive(float *grad, double *loss, const float *pred, const float *target,
                                    const int32_t *labels, int kind, float delta, float grad_scale,
                                    ptrdiff_t n, ptrdiff_t d);

#endif
