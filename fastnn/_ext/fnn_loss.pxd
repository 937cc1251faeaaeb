# Mirrors src_c/fnn_loss.h
from libc.stdint cimport int32_t

cdef extern from "fnn_loss.h" nogil:
    enum:
        FNN_LOSS_MSE
        FNN_LOSS_MAE
        FNN_LOSS_HUBER
        FNN_LOSS_BCE_LOGITS
        FNN_LOSS_CE_LOGITS
        FNN_LOSS_COUNT
    int fnn_loss_forward_backward(float *grad, double *loss, const float *pred, const float *target,
                                  const int32_t *labels, int kind, float delta, float grad_scale,
                                  Py_ssize_t n, Py_ssize_t d, int n_threads)
    int fnn_loss_forward_backward_naive(float *grad, double *loss, const float *pred, const float *target,
                                        const int32_t *labels, int kind, float delta, float grad_scale,
                                        Py_ssize_t n, Py_ssize_t d)
