# Mirrors src_c/fnn_optim.h
from libc.stdint cimport int64_t

cdef extern from "fnn_optim.h" nogil:
    enum:
        FNN_OPT_SGD
        FNN_OPT_ADAGRAD
        FNN_OPT_ADADELTA
        FNN_OPT_RMSPROP
        FNN_OPT_ADAM
        FNN_OPT_ADAMW
        FNN_OPT_NADAM
        FNN_OPT_ADAMAX
        FNN_OPT_COUNT
    ctypedef struct fnn_optim_desc:
        int kind
        int nesterov
        int amsgrad
        int centered
        float lr
        float momentum
        float dampening
        float weight_decay
        float beta1
        float beta2
        float eps
        float rho
        float alpha
        float lr_decay
        float initial_accumulator_value
        float momentum_decay
    ctypedef struct fnn_optim_scalars:
        double v[4]
    int fnn_optim_state_per_param(const fnn_optim_desc *opt)
    int fnn_optim_init_state(float *state, Py_ssize_t state_stride, const fnn_optim_desc *opt, Py_ssize_t n)
    int fnn_optim_update(float *param, float *state, Py_ssize_t state_stride, fnn_optim_scalars *scalars,
                         int advance_scalars, const float *grad, const fnn_optim_desc *opt, int64_t step,
                         float lr, Py_ssize_t n, int n_threads)
    int fnn_optim_update_naive(float *param, float *state, Py_ssize_t state_stride, fnn_optim_scalars *scalars,
                               int advance_scalars, const float *grad, const fnn_optim_desc *opt, int64_t step,
                               float lr, Py_ssize_t n)
