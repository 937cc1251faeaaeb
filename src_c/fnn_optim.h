/* fastnn: optimizer updates, one fused pass over a range of the flat parameter / gradient / state buffers.
   Update rules, defaults and names follow PyTorch's torch.optim (see each kind). */
#ifndef FNN_OPTIM_H
#define FNN_OPTIM_H

#include "fnn_common.h"

enum {
    FNN_OPT_SGD = 0,      /* momentum, dampening, nesterov, weight_decay (coupled) */
    FNN_OPT_ADAGRAD = 1,  /* lr_decay, weight_decay, initial_accumulator_value, eps */
    FNN_OPT_ADADELTA = 2, /* rho, eps, weight_decay (lr scales the update; PyTorch default lr 1.0) */
    FNN_OPT_RMSPROP = 3,  /* alpha, eps, weight_decay, momentum, centered */
    FNN_OPT_ADAM = 4,     /* betas, eps, weight_decay (coupled), amsgrad */
    FNN_OPT_ADAMW = 5,    /* betas, eps, weight_decay (decoupled: p *= 1 - lr * wd), amsgrad */
    FNN_OPT_NADAM = 6,    /* betas, eps, weight_decay, momentum_decay (PyTorch's mu_t schedule) */
    FNN_OPT_ADAMAX = 7,   /* betas, eps, weight_decay */
    FNN_OPT_COUNT = 8
};

/* An optimizer kind and its hyper-parameters (one parameter group).  Fields a kind does not use are ignored. */
typedef struct {
    int kind;
    int nesterov;        /* SGD */
    int amsgrad;         /* ADAM, ADAMW */
    int centered;        /* RMSPROP */
    float lr;            /* base rate (the engine may pass a scheduled rate instead: see `lr` below) */
    float momentum;      /* SGD, RMSPROP */
    float dampening;     /* SGD */
    float weight_decay;
    float beta1, beta2;  /* ADAM family */
    float eps;
    float rho;           /* ADADELTA */
    float alpha;         /* RMSPROP smoothing constant */
    float lr_decay;      /* ADAGRAD */
    float initial_accumulator_value; /* ADAGRAD: the state is initialised to it (see fnn_optim_init_state) */
    float momentum_decay;            /* NADAM (PyTorch default 4e-3) */
} fnn_optim_desc;

/* Per-group scalars that evolve with the steps (e.g. NADAM's running product of mu_t).  Zero-initialise. */
typedef struct {
    double v[4];
} fnn_optim_scalars;

/* Floats of optimizer state per parameter ("slots"), or -1 for an unknown kind. */
int fnn_optim_state_per_param(const fnn_optim_desc *opt);

/* Fills the state slots of n parameters with their initial values (zeros; ADAGRAD: the accumulator). */
int fnn_optim_init_state(float *state, ptrdiff_t state_stride, const fnn_optim_desc *opt, ptrdiff_t n);

/* One step on a range of n parameters: param (n) and the state slots updated in place from grad (n).
   Slot k of parameter i lives at state[k * state_stride + i] (the model keeps slots as whole flat buffers,
   state_stride = the model's parameter count, and passes state + offset for a range).  step counts from 1
   (bias corrections use it).  lr is the rate to use for this step (already scheduled).  scalars: the group's
   running scalars, advanced only by the call with advance_scalars != 0 (once per group and step, however
   many ranges the group has).  Elementwise, so identical for any n_threads.
   Returns FNN_OK, or FNN_ERR_ARG (unknown kind, step < 1, missing state). */
int fnn_optim_update(float *param, float *state, ptrdiff_t state_stride, fnn_optim_scalars *scalars,
                     int advance_scalars, const float *grad, const fnn_optim_desc *opt, int64_t step, float lr,
                     ptrdiff_t n, int n_threads);

/* Plain scalar twin (double arithmetic where it matters) for the tests. */
int fnn_optim_update_naive(float *param, float *state, ptrdiff_t state_stride, fnn_optim_scalars *scalars,
                           int advance_scalars, const float *grad, const fnn_optim_desc *opt, int64_t step,
                           float lr, ptrdiff_t n);

#endif
