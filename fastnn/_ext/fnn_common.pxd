# Mirrors src_c/fnn_common.h
from libc.stdint cimport int32_t, uint64_t

cdef extern from "fnn_common.h" nogil:
    enum:
        FNN_OK
        FNN_ERR_NOMEM
        FNN_ERR_ARG
        FNN_ERR_ISA
        FNN_ERR_NONFINITE
    int fnn_threads_for(double work, int n_threads)
