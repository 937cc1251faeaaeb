/* fastnn: the compiled training plan.  A network is an array of layer descriptors pointing into one flat
   parameter buffer and one flat gradient buffer; a whole epoch of mini-batch training (gather, forward, loss,
   backward, optimizer update) runs in one call with no Python in between. */
#ifndef FNN_ENGINE_H
#define FNN_ENGINE_H

#include "fnn_common.h"
#include "fnn_act.h"
#include "fnn_optim.h"
#include "fnn_conv.h"
#include "fnn_pool.h"
#include "fnn_augment.h"

enum {
    FNN_LAYER_LINEAR = 0, FNN_LAYER_ACT = 1, FNN_LAYER_DROPOUT = 2, FNN_LAYER_CONV = 3, FNN_LAYER_POOL = 4,
    FNN_LAYER_BATCHNORM = 5, FNN_LAYER_FLATTEN = 6, FNN_LAYER_ADD = 7, FNN_LAYER_COUNT = 8
};

/* DROPOUT variants (all are the identity in evaluation). */
enum {
    FNN_DROP_STANDARD = 0, /* inverted dropout: keep with probability 1 - rate, scale kept units by 1/(1-rate) */
    FNN_DROP_ALPHA = 1,    /* alpha dropout for SELU networks (keeps mean and variance) */
    FNN_DROP_GAUSSIAN = 2  /* additive Gaussian noise with standard deviation `rate` */
};

/* One node of the plan.  Rows are flat: a layer maps (B, in_dim) to (B, out_dim); images are NCHW rows
   (in_dim = C*H*W).  Layers run in index order; each reads the output of layer `src` (-1: the network input),
   so skip connections are an ADD of two earlier outputs (src + src2) and a projection shortcut is a branch of
   layers whose first one reads the block's input. */
typedef struct {
    int kind;
    int src, src2;        /* producers of the input (ADD: of both inputs); -1 = the network input */
    ptrdiff_t in_dim, out_dim;
    ptrdiff_t w_off;      /* LINEAR: weight (out_dim, in_dim); CONV: weight (OC, C/G, KH, KW); BATCHNORM: gamma
                             (C) or -1 without affine */
    ptrdiff_t b_off;      /* LINEAR/CONV: bias (out features / OC); BATCHNORM: beta (C); or -1 */
    ptrdiff_t slope_off;  /* ACT/PRELU: slopes (act.n_slope) at params + slope_off, else -1 */
    fnn_act_desc act;     /* ACT: the activation */
    float l1, l2;         /* LINEAR/CONV: penalties l1 * sum|W| + l2 * sum W^2 added to the loss and gradient */
    float max_norm;       /* LINEAR/CONV: > 0: after each update every unit's incoming weights (a row of W, a
                             filter of a conv) are scaled to L2 norm <= max_norm */
    float drop_connect;   /* LINEAR: > 0: in training each weight is dropped with this probability per batch
                             (kept ones scaled by 1/(1-p)) */
    int variant;          /* DROPOUT: FNN_DROP_* */
    float rate;           /* DROPOUT: drop probability (standard, alpha) or noise std (gaussian) */
    fnn_conv_shape conv;  /* CONV: geometry (N is set per batch) */
    fnn_pool_shape pool;  /* POOL: geometry (N is set per batch) */
    ptrdiff_t bn_c, bn_s; /* BATCHNORM: channels and positions per channel (in_dim = bn_c * bn_s) */
    ptrdiff_t rm_off, rv_off; /* BATCHNORM: running mean / variance (C each) in params, updated in training,
                                 never by the optimizer */
    float bn_momentum, bn_eps;
} fnn_layer_desc;

/* A network with its loss.  params/grads are the model's flat buffers (n_params floats each).  The network's
   output is the last layer's. */
typedef struct {
    int n_layers;
    const fnn_layer_desc *layers;
    ptrdiff_t in_dim, out_dim;
    float *params, *grads;
    ptrdiff_t n_params;
    int loss_kind;        /* FNN_LOSS_* */
    float loss_delta;     /* Huber delta */
    uint64_t seed;        /* keys the stochastic layers (dropout, DropConnect, RReLU) with the step counter */
    int n_aug;            /* training only: augmentation ops applied in order to each gathered batch of images */
    const fnn_augment_op *aug;
    ptrdiff_t aug_c, aug_h, aug_w; /* their image shape (aug_c * aug_h * aug_w = in_dim) */
    uint64_t rng_offset;  /* added to the optimizer's step to form the random stream of a training batch (the
                             steps taken by the model's earlier optimizers, so a switch does not replay masks) */
    void *train_ws;       /* owned: fnn_plan_train's workspace, kept between calls (an epoch trained in chunks, the
                             epochs of a fit) so its pages are not faulted in again; NULL until the first call,
                             released by fnn_plan_release.  Start a plan zeroed. */
} fnn_plan;

/* Frees what the plan owns (its cached training workspace); the plan stays usable. */
void fnn_plan_release(fnn_plan *plan);

/* Checks a plan's descriptors (dimensions chain, offsets inside the buffers, known kinds). */
int fnn_plan_check(const fnn_plan *plan);

/* A contiguous range of parameters updated with one group's hyper-parameters. */
typedef struct {
    ptrdiff_t off, len;
    int group;
} fnn_param_range;

/* The optimizer as the training loop drives it. */
typedef struct {
    int n_groups;
    const fnn_optim_desc *groups;   /* per group: kind and hyper-parameters (groups[g].lr the base rate) */
    fnn_optim_scalars *scalars;     /* per group running scalars (updated) */
    int n_ranges;
    const fnn_param_range *ranges;  /* sorted by group; parameters in no range are frozen */
    float *state;                   /* slots x n_params (slot stride n_params) */
    int64_t step;                   /* updates done so far (incremented per batch) */
    const float *lr_scale;          /* per batch of the call (batch_hi - batch_lo values): multiplies every
                                       group's lr; NULL means 1 */
    float clip_norm;                /* > 0: rescale the gradient to global L2 norm <= clip_norm */
    float clip_value;               /* > 0: clamp every gradient element to [-clip_value, clip_value] */
} fnn_optimizer;

/* Running figures of one training call. */
typedef struct {
    double loss_sum;      /* sum over batches of (batch mean loss * batch rows) */
    int64_t correct;      /* correctly classified rows (CE) or elements (BCE); 0 for regression losses */
    int64_t seen;         /* rows processed */
    int64_t bad_batch;    /* index of the batch whose loss was NaN/Inf (with FNN_ERR_NONFINITE), else -1 */
} fnn_train_stats;

/* order (N) = a permutation of 0..N-1 drawn from (seed, epoch): Fisher-Yates on fnn_rand64. */
void fnn_shuffle(int64_t *order, ptrdiff_t n, uint64_t seed, uint64_t epoch);

/* Trains on batches [batch_lo, batch_hi) of the epoch: batch b holds rows order[b*batch .. min(N, (b+1)*batch))
   of x (N, in_dim) with targets (N, out_dim) float or labels (N) int32 (one of them, per the loss).
   After each batch's backward: clipping, then the optimizer's update of every range, then max-norm.
   Stops with FNN_ERR_NONFINITE (stats->bad_batch set) when a batch's loss is NaN/Inf, before updating. */
/* weights (N) (may be NULL): per-sample loss weights; the batch loss becomes sum_i w_i l_i / rows (Keras's
   convention; l_i the sample's loss under the plan's reduction) and each row's gradient is scaled by w_i. */
int fnn_plan_train(fnn_train_stats *stats, fnn_optimizer *opt, fnn_plan *plan, const float *x,
                   const float *target, const int32_t *labels, const float *weights, const int64_t *order,
                   ptrdiff_t n, ptrdiff_t batch, ptrdiff_t batch_lo, ptrdiff_t batch_hi, int n_threads);

/* The L1/L2 penalty of the current parameters (sum over LINEAR layers). */
double fnn_plan_penalty(const fnn_plan *plan);

/* Global L2 norm of g (n), summed in fixed chunks in a fixed order (identical for any n_threads). */
double fnn_global_norm(const float *g, ptrdiff_t n, int n_threads);

// out (N, out_dim) = net(x (N, in_dim)), `batch` rows at a time.  Thread-safe.
/* training != 0 runs the stochastic layers (dropout, DropConnect, RReLU) as in training at `step` (e.g. for
   Monte-Carlo dropout); batch b of the call uses step + b. */
int fnn_plan_forward(float *out, const fnn_plan *plan, const float *x, ptrdiff_t n, ptrdiff_t batch,
                     int training, int64_t step, int n_threads);

/* Evaluation-mode loss and accuracy over (x, target|labels), `batch` rows at a time.  Thread-safe.
   *loss_sum = sum over batches of batch mean loss * rows; *correct as in fnn_train_stats. */
int fnn_plan_evaluate(double *loss_sum, int64_t *correct, const fnn_plan *plan, const float *x,
                      const float *target, const int32_t *labels, const float *weights, ptrdiff_t n,
                      ptrdiff_t batch, int n_threads);

/* grads (n_params) = dLoss/dparams on the N rows of x as one batch (no update); *loss = its mean loss.
   training selects the mode of stochastic layers (RReLU draws from (seed, step)). */
int fnn_plan_loss_grad(double *loss, const fnn_plan *plan, const float *x, const float *target,
                       const int32_t *labels, ptrdiff_t n, int training, int64_t step, int n_threads);

#endif
