/* fastnn: optimizer updates, one fused pass over the flat parameter / gradient / state buffers. */
#ifndef FNN_OPTIM_H
#define FNN_OPTIM_H

#include "fnn_common.h"

enum { FNN_OPT_SGD = 0, FNN_OPT_COUNT = 1 };

/* An optimizer and its hyper-parameters (PyTorch's names and semantics).
   SGD: g = grad + weight_decay * p; with momentum: buf = g on the first step, else
   buf = momentum * buf + (1 - dampening) * g; g = nesterov ? g + momentum * buf : buf; p -= lr * g. */
typedef struct {
    int kind;
    int nesterov;
    float lr;
    float momentum;
    float dampening;
    float weight_decay;
} fnn_optim_desc;

/* Floats of optimizer state per parameter (state buffer length = n * this). */
int fnn_optim_state_per_param(const fnn_optim_desc *opt);

/* param (P), state (P * state_per_param) updated in place from grad (P); step counts from 1.
   Elementwise, so identical for any n_threads. */
int fnn_optim_update(float *param, float *state, const float *grad, const fnn_optim_desc *opt, int64_t step,
                     ptrdiff_t n, int n_threads);

#endif
