# Mirrors src_c/fnn_util.h
cdef extern from "fnn_util.h" nogil:
    Py_ssize_t fnn_first_nonfinite(const float *x, Py_ssize_t n, int n_threads)
