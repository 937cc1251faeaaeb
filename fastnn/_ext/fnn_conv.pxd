# Mirrors src_c/fnn_conv.h
cdef extern from "fnn_conv.h" nogil:
    ctypedef struct fnn_conv_shape:
        Py_ssize_t N, C, H, W
        Py_ssize_t OC, KH, KW
        Py_ssize_t SH, SW
        Py_ssize_t PH, PW
        Py_ssize_t DH, DW
        Py_ssize_t G
        Py_ssize_t OH, OW
    int fnn_conv_shape_init(fnn_conv_shape *s)
    Py_ssize_t fnn_conv_workspace_floats(const fnn_conv_shape *s, int n_threads)
    int fnn_conv2d_forward(float *out, const float *x, const float *w, const float *bias, const fnn_conv_shape *s,
                           float *ws, int n_threads)
    int fnn_conv2d_forward_ep(float *out, const float *x, const float *w, const float *bias,
                              const fnn_conv_shape *s, int relu, float *ws, int n_threads)
    int fnn_conv2d_backward(float *dx, float *dw, float *db, const float *dout, const float *x, const float *w,
                            const fnn_conv_shape *s, float *ws, int n_threads)
    int fnn_conv2d_forward_naive(float *out, const float *x, const float *w, const float *bias,
                                 const fnn_conv_shape *s)
    int fnn_conv2d_backward_naive(float *dx, float *dw, float *db, const float *dout, const float *x,
                                  const float *w, const fnn_conv_shape *s)

cdef extern from "fnn_conv_impl.h" nogil:
    int fnn_conv_direct_mode
    int fnn_conv_wino_mode
    enum: FNN_CONV_COL_SLACK
    void fnn_conv_im2col(float *col, const float *x, const fnn_conv_shape *s)
    void fnn_conv_col2im(float *dx, const float *col, const fnn_conv_shape *s)
