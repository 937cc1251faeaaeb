# Mirrors src_c/fnn_pool.h
from libc.stdint cimport int32_t

cdef extern from "fnn_pool.h" nogil:
    enum:
        FNN_POOL_MAX
        FNN_POOL_AVG
        FNN_POOL_GLOBAL_AVG
    ctypedef struct fnn_pool_shape:
        int kind
        int count_include_pad
        Py_ssize_t N, C, H, W
        Py_ssize_t KH, KW, SH, SW, PH, PW
        Py_ssize_t OH, OW
    int fnn_pool_shape_init(fnn_pool_shape *s)
    int fnn_pool2d_forward(float *out, int32_t *argmax, const float *x, const fnn_pool_shape *s, int n_threads)
    int fnn_pool2d_backward(float *dx, const float *dout, const int32_t *argmax, const fnn_pool_shape *s,
                            int n_threads)
    int fnn_bn_forward_train(float *y, float *mean, float *invstd, float *running_mean, float *running_var,
                             const float *x, const float *gamma, const float *beta, float momentum, float eps,
                             Py_ssize_t N, Py_ssize_t C, Py_ssize_t S, int n_threads)
    int fnn_bn_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
                            const float *running_mean, const float *running_var, float eps, Py_ssize_t N,
                            Py_ssize_t C, Py_ssize_t S, int n_threads)
    int fnn_bn_forward_train_ep(float *y, float *mean, float *invstd, float *running_mean, float *running_var,
                                const float *x, const float *gamma, const float *beta, float momentum, float eps,
                                Py_ssize_t N, Py_ssize_t C, Py_ssize_t S, int relu, int n_threads)
    int fnn_bn_forward_eval_ep(float *y, const float *x, const float *gamma, const float *beta,
                               const float *running_mean, const float *running_var, float eps, Py_ssize_t N,
                               Py_ssize_t C, Py_ssize_t S, int relu, int n_threads)
    int fnn_bn_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *mean,
                        const float *invstd, const float *gamma, Py_ssize_t N, Py_ssize_t C, Py_ssize_t S,
                        int n_threads)
    int fnn_bn_backward_ep(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                           const float *mean, const float *invstd, const float *gamma, const float *relu_y,
                           Py_ssize_t N, Py_ssize_t C, Py_ssize_t S, int n_threads)
    int fnn_pool2d_forward_naive(float *out, int32_t *argmax, const float *x, const fnn_pool_shape *s)
    int fnn_pool2d_backward_naive(float *dx, const float *dout, const int32_t *argmax, const fnn_pool_shape *s)
    int fnn_bn_forward_train_naive(float *y, float *mean, float *invstd, float *running_mean, float *running_var,
                                   const float *x, const float *gamma, const float *beta, float momentum,
                                   float eps, Py_ssize_t N, Py_ssize_t C, Py_ssize_t S)
    int fnn_bn_backward_naive(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                              const float *mean, const float *invstd, const float *gamma, Py_ssize_t N,
                              Py_ssize_t C, Py_ssize_t S)
