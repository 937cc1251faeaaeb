/* fastnn: elementwise activations (and row-wise softmax), forward and backward. */
#ifndef FNN_ACT_H
#define FNN_ACT_H

#include "fnn_common.h"

enum {
    FNN_ACT_IDENTITY = 0, FNN_ACT_SIGMOID = 1, FNN_ACT_TANH = 2, FNN_ACT_RELU = 3, FNN_ACT_LEAKY_RELU = 4,
    FNN_ACT_PRELU = 5, FNN_ACT_RRELU = 6, FNN_ACT_ELU = 7, FNN_ACT_SELU = 8, FNN_ACT_SOFTPLUS = 9,
    FNN_ACT_SOFTSIGN = 10, FNN_ACT_SOFTMAX = 11,
    FNN_ACT_COUNT = 12
};

/* An activation and its constants.
   LEAKY_RELU: alpha = negative_slope.  ELU: alpha.  SOFTPLUS: alpha = beta, beta = threshold
   (x * beta > threshold -> identity).  RRELU: lower, upper (training slope ~ U(lower, upper), evaluation
   slope (lower + upper) / 2).  PRELU: n_slope = 1 (shared) or D (one per feature); slopes passed apart.
   SELU uses the standard constants (scale 1.0507009873554805, alpha 1.6732632423543772). */
typedef struct {
    int kind;
    float alpha;
    float beta;
    float lower;
    float upper;
    ptrdiff_t n_slope;
} fnn_act_desc;

/* y (N,D) = act(x (N,D)); y may be x itself (in place; no partial overlap).  Note that the backward reads
   x for every kind except IDENTITY and SOFTMAX (which reads y), so a caller that runs the forward in place
   must keep x elsewhere if it will run the backward.
   slope: PRELU slopes (n_slope), else NULL.
   RRELU in training (training != 0): draws slope r[i] = lower + (upper-lower) * fnn_uniform(seed, step, i)
   for every flat index i in [0, N*D) (whatever the sign of x[i]: the draws depend only on (seed, step, i))
   and stores it in rand_slope (N*D floats) for the backward; in evaluation uses the mean slope and
   rand_slope may be NULL.  SOFTMAX is per row (numerically stable).  The ReLU family, ELU and SELU use the
   negative branch at x == 0 (as PyTorch).  SOFTPLUS needs beta (the alpha field) > 0.
   Returns FNN_OK, FNN_ERR_ARG (bad kind or dimension, missing slope / rand_slope, n_slope not 1 or D).
   Results are identical for any n_threads. */
int fnn_act_forward(float *y, float *rand_slope, const float *x, const fnn_act_desc *act, const float *slope,
                    uint64_t seed, uint64_t step, int training, ptrdiff_t n, ptrdiff_t d, int n_threads);

/* dx (N,D) = dy (N,D) * act'(x) (for SOFTMAX the row Jacobian-vector product, from y).
   x is the forward input, y the forward output (both needed by some kinds; never NULL).
   dx may be dy itself (in place).  PRELU: dslope (n_slope) receives (overwrites, unlike the house rule for
   parameter gradients) the slope gradient sum over rows of dy * x where x <= 0, summed per 64-row chunk in
   double then over chunks in order (thread-count independent); dslope may be NULL when not wanted.
   RRELU in training uses rand_slope; in evaluation the mean slope.
   Returns FNN_OK, FNN_ERR_ARG (as the forward), FNN_ERR_NOMEM (PRELU's chunk sums). */
int fnn_act_backward(float *dx, float *dslope, const float *dy, const float *x, const float *y,
                     const fnn_act_desc *act, const float *slope, const float *rand_slope, int training,
                     ptrdiff_t n, ptrdiff_t d, int n_threads);

/* Plain scalar twins of the above (one thread, double accumulators where it matters), for the tests. */
int fnn_act_forward_naive(float *y, float *rand_slope, const float *x, const fnn_act_desc *act,
                          const float *slope, uint64_t seed, uint64_t step, int training, ptrdiff_t n,
                          ptrdiff_t d);
int fnn_act_backward_naive(float *dx, float *dslope, const float *dy, const float *x, const float *y,
                           const fnn_act_desc *act, const float *slope, const float *rand_slope, int training,
                           ptrdiff_t n, ptrdiff_t d);

#endif
