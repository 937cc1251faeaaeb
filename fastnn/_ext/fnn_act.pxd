# Mirrors src_c/fnn_act.h
from libc.stdint cimport uint64_t

cdef extern from "fnn_act.h" nogil:
    enum:
        FNN_ACT_IDENTITY
        FNN_ACT_SIGMOID
        FNN_ACT_TANH
        FNN_ACT_RELU
        FNN_ACT_LEAKY_RELU
        FNN_ACT_PRELU
        FNN_ACT_RRELU
        FNN_ACT_ELU
        FNN_ACT_SELU
        FNN_ACT_SOFTPLUS
        FNN_ACT_SOFTSIGN
        FNN_ACT_SOFTMAX
        FNN_ACT_COUNT
    ctypedef struct fnn_act_desc:
        int kind
        float alpha
        float beta
        float lower
        float upper
        Py_ssize_t n_slope
    int fnn_act_forward(float *y, float *rand_slope, const float *x, const fnn_act_desc *act,
                        const float *slope, uint64_t seed, uint64_t step, int training, Py_ssize_t n,
                        Py_ssize_t d, int n_threads)
    int fnn_act_backward(float *dx, float *dslope, const float *dy, const float *x, const float *y,
                         const fnn_act_desc *act, const float *slope, const float *rand_slope, int training,
                         Py_ssize_t n, Py_ssize_t d, int n_threads)
    int fnn_act_forward_naive(float *y, float *rand_slope, const float *x, const fnn_act_desc *act,
                              const float *slope, uint64_t seed, uint64_t step, int training, Py_ssize_t n,
                              Py_ssize_t d)
    int fnn_act_backward_naive(float *dx, float *dslope, const float *dy, const float *x, const float *y,
                               const fnn_act_desc *act, const float *slope, const float *rand_slope,
                               int training, Py_ssize_t n, Py_ssize_t d)
