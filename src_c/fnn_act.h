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

/* y (N,D) = act(x (N,D)); y may alias x except for PRELU/RRELU/SOFTPLUS backward needs (x kept by caller).
   slope: PRELU slopes (n_slope), else NULL.
   RRELU in training (training != 0): draws slope r[i] = lower + (upper-lower) * fnn_uniform(seed, step, i)
   for flat index i in [0, N*D) and stores it in rand_slope (N*D floats) for the backward; in evaluation
   uses the mean slope and rand_slope may be NULL.  SOFTMAX is per row (numerically stable).
   Results are identical for any n_threads. */
int fnn_act_forward(float *y, float *rand_slope, const float *x, const fnn_act_desc *act, const float *slope,
                    uint64_t seed, uint64_t step, int training, ptrdiff_t n, ptrdiff_t d, int n_threads);

/* dx (N,D) = dy (N,D) * act'(x) (for SOFTMAX the row Jacobian-vector product, from y).
   x is the forward input, y the forward output (both needed by some kinds; never NULL).
   dx may alias dy.  PRELU: dslope (n_slope) receives (overwrites) the slope gradient, summed over rows in a
   fixed order (thread-count independent).  RRELU in training uses rand_slope; in evaluation the mean slope. */
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
