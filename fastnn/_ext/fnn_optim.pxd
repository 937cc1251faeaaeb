# Mirrors src_c/fnn_optim.h
from libc.stdint cimport int64_t

cdef extern from "fnn_optim.h" nogil:
    enum:
        FNN_OPT_SGD
        FNN_OPT_COUNT
    ctypedef struct fnn_optim_desc:
        int kind
        int nesterov
        float lr
        float momentum
        float dampening
        float weight_decay
    int fnn_optim_state_per_param(const fnn_optim_desc *opt)
    int fnn_optim_update(float *param, float *state, const float *grad, const fnn_optim_desc *opt, int64_t step,
                         Py_ssize_t n, int n_threads)
