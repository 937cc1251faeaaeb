# Mirrors src_c/fnn_augment.h
from libc.stdint cimport uint64_t

cdef extern from "fnn_augment.h" nogil:
    enum:
        FNN_AUG_HFLIP
        FNN_AUG_VFLIP
        FNN_AUG_CROP
        FNN_AUG_TRANSLATE
        FNN_AUG_ROTATE
        FNN_AUG_BRIGHTNESS
        FNN_AUG_CONTRAST
        FNN_AUG_NOISE
        FNN_AUG_CUTOUT
        FNN_AUG_ERASE
        FNN_AUG_CLIP
        FNN_AUG_COUNT
    ctypedef struct fnn_augment_op:
        int kind
        float p
        float a, b, c, d
        int ia, ib
    int fnn_augment_batch(float *x, const fnn_augment_op *ops, int n_ops, Py_ssize_t B, Py_ssize_t C,
                          Py_ssize_t H, Py_ssize_t W, uint64_t seed, uint64_t step, int n_threads)
    int fnn_augment_batch_naive(float *x, const fnn_augment_op *ops, int n_ops, Py_ssize_t B, Py_ssize_t C,
                                Py_ssize_t H, Py_ssize_t W, uint64_t seed, uint64_t step)
