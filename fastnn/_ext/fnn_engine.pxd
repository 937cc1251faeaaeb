# Mirrors src_c/fnn_engine.h
from libc.stdint cimport int32_t, int64_t, uint64_t
from fnn_act cimport fnn_act_desc
from fnn_optim cimport fnn_optim_desc, fnn_optim_scalars

cdef extern from "fnn_engine.h" nogil:
    # the conv / pool geometry structs (declared under engine-private names: fnn_conv.pxd / fnn_pool.pxd own
    # the public ones)
    ctypedef struct engine_conv_shape "fnn_conv_shape":
        Py_ssize_t N, C, H, W, OC, KH, KW, SH, SW, PH, PW, DH, DW, G, OH, OW
    ctypedef struct engine_pool_shape "fnn_pool_shape":
        int kind
        int count_include_pad
        Py_ssize_t N, C, H, W, KH, KW, SH, SW, PH, PW, OH, OW
    enum:
        FNN_LAYER_LINEAR
        FNN_LAYER_ACT
        FNN_LAYER_DROPOUT
        FNN_LAYER_CONV
        FNN_LAYER_POOL
        FNN_LAYER_BATCHNORM
        FNN_LAYER_FLATTEN
        FNN_LAYER_ADD
        FNN_LAYER_COUNT
    enum:
        FNN_DROP_STANDARD
        FNN_DROP_ALPHA
        FNN_DROP_GAUSSIAN
    ctypedef struct fnn_layer_desc:
        int kind
        int src
        int src2
        Py_ssize_t in_dim
        Py_ssize_t out_dim
        Py_ssize_t w_off
        Py_ssize_t b_off
        Py_ssize_t slope_off
        fnn_act_desc act
        float l1
        float l2
        float max_norm
        float drop_connect
        int variant
        float rate
        engine_conv_shape conv
        engine_pool_shape pool
        Py_ssize_t bn_c
        Py_ssize_t bn_s
        Py_ssize_t rm_off
        Py_ssize_t rv_off
        float bn_momentum
        float bn_eps
    ctypedef struct fnn_plan:
        int n_layers
        const fnn_layer_desc *layers
        Py_ssize_t in_dim
        Py_ssize_t out_dim
        float *params
        float *grads
        Py_ssize_t n_params
        int loss_kind
        float loss_delta
        uint64_t seed
        int n_aug
        const void *aug
        Py_ssize_t aug_c, aug_h, aug_w
        uint64_t rng_offset
    ctypedef struct fnn_param_range:
        Py_ssize_t off
        Py_ssize_t len
        int group
    ctypedef struct fnn_optimizer:
        int n_groups
        const fnn_optim_desc *groups
        fnn_optim_scalars *scalars
        int n_ranges
        const fnn_param_range *ranges
        float *state
        int64_t step
        const float *lr_scale
        float clip_norm
        float clip_value
    ctypedef struct fnn_train_stats:
        double loss_sum
        int64_t correct
        int64_t seen
        int64_t bad_batch
    int fnn_plan_check(const fnn_plan *plan)
    void fnn_plan_release(fnn_plan *plan)
    void fnn_shuffle(int64_t *order, Py_ssize_t n, uint64_t seed, uint64_t epoch)
    int fnn_plan_train(fnn_train_stats *stats, fnn_optimizer *opt, fnn_plan *plan, const float *x,
                       const float *target, const int32_t *labels, const float *weights, const int64_t *order,
                       Py_ssize_t n, Py_ssize_t batch, Py_ssize_t batch_lo, Py_ssize_t batch_hi, int n_threads)
    double fnn_plan_penalty(const fnn_plan *plan)
    double fnn_global_norm(const float *g, Py_ssize_t n, int n_threads)
    int fnn_plan_forward(float *out, const fnn_plan *plan, const float *x, Py_ssize_t n, Py_ssize_t batch,
                         int training, int64_t step, int n_threads)
    int fnn_plan_evaluate(double *loss_sum, int64_t *correct, const fnn_plan *plan, const float *x,
                          const float *target, const int32_t *labels, const float *weights, Py_ssize_t n,
                          Py_ssize_t batch, int n_threads)
    int fnn_plan_loss_grad(double *loss, const fnn_plan *plan, const float *x, const float *target,
                           const int32_t *labels, Py_ssize_t n, int training, int64_t step, int n_threads)
