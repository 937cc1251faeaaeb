# Mirrors src_c/fnn_util.h
cdef extern from "fnn_util.h" nogil:
    Py_ssize_t fnn_first_nonfinite(const float *x, Py_ssize_t n, int n_threads)
    int fnn_col_moments(double *mean, double *var, const float *x, Py_ssize_t n, Py_ssize_t d, int n_threads)
    int fnn_affine_cols(float *out, const float *x, const float *sub, const float *sub_lo, const float *mul,
                        Py_ssize_t n, Py_ssize_t d, int n_threads)
