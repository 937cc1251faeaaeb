# Training-plan bridge: a compiled network (layer descriptors over the model's flat buffers) and its loss.
from libc.stdlib cimport malloc, free
from libc.string cimport memset
from libc.stdint cimport int32_t, int64_t, uint64_t
from fnn_act cimport *
from fnn_engine cimport *

import numpy as _np

LAYER_KINDS = {"linear": FNN_LAYER_LINEAR, "act": FNN_LAYER_ACT, "dropout": FNN_LAYER_DROPOUT,
               "conv": FNN_LAYER_CONV, "pool": FNN_LAYER_POOL, "batchnorm": FNN_LAYER_BATCHNORM,
               "flatten": FNN_LAYER_FLATTEN, "add": FNN_LAYER_ADD}
POOL_KINDS = {"max": 0, "avg": 1, "global_avg": 2}
DROPOUT_VARIANTS = {"standard": FNN_DROP_STANDARD, "alpha": FNN_DROP_ALPHA, "gaussian": FNN_DROP_GAUSSIAN}


def global_norm(const float[::1] g, int n_threads=1):
    """L2 norm of a flat float32 buffer, summed in fixed chunks (identical for any thread count)."""
    cdef double r
    with nogil:
        r = fnn_global_norm(&g[0] if g.shape[0] else NULL, g.shape[0], n_threads)
    return r


def shuffle(Py_ssize_t n, uint64_t seed, uint64_t epoch):
    """A permutation of range(n) drawn from (seed, epoch) by the engine's counter-based generator."""
    order = _np.empty(n, dtype=_np.int64)
    cdef int64_t[::1] o = order
    if n:
        with nogil:
            fnn_shuffle(&o[0], n, seed, epoch)
    return order


cdef class Plan:
    """A compiled network.  layers: list of dicts with keys kind ("linear"|"act"), in_dim, out_dim, and
    w_off/b_off (linear), act/alpha/beta/lower/upper/n_slope/slope_off (act).  params and grads are the
    model's flat float32 buffers; the plan keeps references to them."""
    cdef fnn_plan plan
    cdef fnn_layer_desc *descs
    cdef fnn_augment_op *aug_ops
    cdef object params_arr, grads_arr
    cdef readonly Py_ssize_t in_dim, out_dim
    cdef readonly int loss_kind
    cdef bint training   # a train() call is running (it owns the plan's cached training workspace)

    def __cinit__(self):
        self.descs = NULL
        self.aug_ops = NULL

    def __init__(self, list layers, Py_ssize_t in_dim, params, grads, str loss, float loss_delta=1.0,
                 uint64_t seed=0):
        cdef float[::1] p = params
        cdef float[::1] g = grads
        cdef int i
        cdef fnn_layer_desc *d
        if p.shape[0] != g.shape[0]:
            raise ValueError(f"Plan: params has {p.shape[0]} elements but grads {g.shape[0]}")
        if loss not in LOSS_KINDS:
            raise ValueError(f"unknown loss {loss!r}; expected one of {sorted(LOSS_KINDS)}")
        self.descs = <fnn_layer_desc *>malloc(max(1, len(layers)) * sizeof(fnn_layer_desc))
        if self.descs == NULL:
            raise MemoryError()
        memset(self.descs, 0, max(1, len(layers)) * sizeof(fnn_layer_desc))
        out_dim = in_dim
        for i, spec in enumerate(layers):
            d = &self.descs[i]
            d.kind = LAYER_KINDS[spec["kind"]]
            d.src = spec.get("src", i - 1)
            d.src2 = spec.get("src2", -1)
            d.in_dim = spec["in_dim"]
            d.out_dim = spec["out_dim"]
            d.w_off = spec.get("w_off", -1)
            d.b_off = spec.get("b_off", -1)
            d.slope_off = spec.get("slope_off", -1)
            d.l1 = spec.get("l1", 0.0)
            d.l2 = spec.get("l2", 0.0)
            d.max_norm = spec.get("max_norm", 0.0)
            d.drop_connect = spec.get("drop_connect", 0.0)
            d.rate = spec.get("rate", 0.0)
            d.variant = DROPOUT_VARIANTS[spec.get("variant", "standard")]
            if d.kind == FNN_LAYER_CONV:
                c = spec["conv"]
                d.conv.N = 1
                d.conv.C, d.conv.H, d.conv.W = c["C"], c["H"], c["W"]
                d.conv.OC, d.conv.KH, d.conv.KW = c["OC"], c["KH"], c["KW"]
                d.conv.SH, d.conv.SW, d.conv.PH, d.conv.PW = c["SH"], c["SW"], c["PH"], c["PW"]
                d.conv.DH, d.conv.DW, d.conv.G = c["DH"], c["DW"], c["G"]
                d.conv.OH, d.conv.OW = c["OH"], c["OW"]
            elif d.kind == FNN_LAYER_POOL:
                c = spec["pool"]
                d.pool.kind = POOL_KINDS[c["kind"]]
                d.pool.count_include_pad = bool(c.get("count_include_pad", True))
                d.pool.N = 1
                d.pool.C, d.pool.H, d.pool.W = c["C"], c["H"], c["W"]
                d.pool.KH, d.pool.KW, d.pool.SH, d.pool.SW = c["KH"], c["KW"], c["SH"], c["SW"]
                d.pool.PH, d.pool.PW, d.pool.OH, d.pool.OW = c["PH"], c["PW"], c["OH"], c["OW"]
            elif d.kind == FNN_LAYER_BATCHNORM:
                d.bn_c, d.bn_s = spec["bn_c"], spec["bn_s"]
                d.rm_off, d.rv_off = spec["rm_off"], spec["rv_off"]
                d.bn_momentum, d.bn_eps = spec["momentum"], spec["eps"]
            if d.kind == FNN_LAYER_ACT:
                name = spec["act"]
                if name not in ACT_KINDS:
                    raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACT_KINDS)}")
                d.act.kind = ACT_KINDS[name]
                d.act.alpha = spec.get("alpha", 0.0)
                d.act.beta = spec.get("beta", 0.0)
                d.act.lower = spec.get("lower", 0.0)
                d.act.upper = spec.get("upper", 0.0)
                d.act.n_slope = spec.get("n_slope", 0)
            out_dim = d.out_dim
        self.params_arr = params
        self.grads_arr = grads
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.loss_kind = LOSS_KINDS[loss]
        self.plan.n_layers = len(layers)
        self.plan.layers = self.descs
        self.plan.in_dim = in_dim
        self.plan.out_dim = out_dim
        self.plan.params = &p[0] if p.shape[0] else NULL
        self.plan.grads = &g[0] if g.shape[0] else NULL
        self.plan.n_params = p.shape[0]
        self.plan.loss_kind = self.loss_kind
        self.plan.loss_delta = loss_delta
        self.plan.seed = seed
        self.plan.rng_offset = 0
        self.plan.n_aug = 0
        self.plan.aug = NULL
        if fnn_plan_check(&self.plan) != FNN_OK:
            raise ValueError("Plan: inconsistent layer descriptors (dimensions do not chain, or a parameter "
                             "offset lies outside the parameter buffer)")

    def __dealloc__(self):
        fnn_plan_release(&self.plan)
        free(self.descs)
        free(self.aug_ops)

    def release_workspace(self):
        """Free the training workspace the plan keeps between train() calls (the next call allocates it)."""
        if self.training:
            raise RuntimeError("cannot release the workspace of a model that is training")
        fnn_plan_release(&self.plan)

    def set_augment(self, ops, Py_ssize_t c=0, Py_ssize_t h=0, Py_ssize_t w=0):
        """Augment every training batch with ops (op dicts, see fastnn.augment) on (c, h, w) images; None
        turns augmentation off."""
        cdef fnn_augment_op *arr = NULL
        if ops:
            ops = augment_check_ops(ops)
            if c * h * w != self.in_dim or c < 1 or h < 1 or w < 1:
                raise ValueError(f"augmentation image shape {(c, h, w)} does not match the model's "
                                 f"{self.in_dim} input features")
            arr = <fnn_augment_op *>malloc(len(ops) * sizeof(fnn_augment_op))
            if arr == NULL:
                raise MemoryError()
            try:
                aug_ops_fill(ops, arr)
            except BaseException:
                free(arr)
                raise
        free(self.aug_ops)
        self.aug_ops = arr
        self.plan.aug = <const void *>arr
        self.plan.n_aug = len(ops) if ops else 0
        self.plan.aug_c, self.plan.aug_h, self.plan.aug_w = c, h, w

    cdef int _weights(self, Py_ssize_t n, weights, const float **wp) except -1:
        cdef const float[::1] wv
        wp[0] = NULL
        if weights is not None:
            wv = weights
            if wv.shape[0] != n:
                raise ValueError(f"weights has {wv.shape[0]} entries but X has {n} rows")
            wp[0] = &wv[0]
        return 0

    cdef int _targets(self, Py_ssize_t n, target, labels, const float **tp, const int32_t **lp) except -1:
        cdef float[:, ::1] t
        cdef int32_t[::1] lab
        tp[0] = NULL
        lp[0] = NULL
        if labels is not None:
            lab = labels
            if lab.shape[0] != n:
                raise ValueError(f"labels has {lab.shape[0]} entries but X has {n} rows")
            lp[0] = &lab[0]
        elif target is not None:
            t = target
            if t.shape[0] != n or t.shape[1] != self.out_dim:
                raise ValueError(f"targets have shape {(t.shape[0], t.shape[1])}, expected {(n, self.out_dim)}")
            tp[0] = &t[0, 0]
        else:
            raise ValueError("either targets or labels are required")
        return 0

    def train(self, const float[:, ::1] x, target, labels, order, list groups, const int64_t[:, ::1] ranges,
              state, double[:, ::1] scalars, int64_t step, lr_scale, float clip_norm, float clip_value,
              Py_ssize_t batch, Py_ssize_t batch_lo, Py_ssize_t batch_hi, int n_threads, weights=None):
        """Train on batches [batch_lo, batch_hi) of the epoch (weights: float32 (N,) per-sample loss weights).  groups: one optimizer spec dict per group;
        ranges (R, 3) int64 (offset, length, group); state float32 (slots, n_params) (may have 0 slots);
        scalars float64 (G, 4); lr_scale: float32 (batch_hi - batch_lo,) multipliers or None.
        Returns (loss_sum, correct, seen, step)."""
        cdef fnn_train_stats stats
        cdef fnn_optimizer opt
        cdef const float *tp
        cdef const int32_t *lp
        cdef int64_t[::1] ordv
        cdef const int64_t *op = NULL
        cdef float[:, ::1] sv = state
        cdef float[::1] lrv
        cdef Py_ssize_t n = x.shape[0], G = len(groups), R = ranges.shape[0], i
        cdef int st
        cdef fnn_optim_desc *descs = NULL
        cdef fnn_param_range *rng = NULL
        cdef const float *wp
        cdef bint owner = False
        if x.shape[1] != self.in_dim:
            raise ValueError(f"X has {x.shape[1]} features, the network expects {self.in_dim}")
        self._targets(n, target, labels, &tp, &lp)
        self._weights(n, weights, &wp)
        if order is not None:
            ordv = order
            if ordv.shape[0] != n:
                raise ValueError(f"order has {ordv.shape[0]} entries, expected {n}")
            op = &ordv[0]
        if G < 1 or scalars.shape[0] != G or scalars.shape[1] != 4:
            raise ValueError(f"need >= 1 optimizer group and scalars of shape ({G}, 4)")
        if ranges.shape[1] != 3:
            raise ValueError("ranges must have shape (R, 3)")
        if sv.shape[0] > 0 and sv.shape[1] != self.plan.n_params:
            raise ValueError(f"optimizer state has {sv.shape[1]} columns, the model {self.plan.n_params} params")
        memset(&opt, 0, sizeof(opt))
        if lr_scale is not None:
            lrv = lr_scale
            if lrv.shape[0] != batch_hi - batch_lo:
                raise ValueError(f"lr_scale has {lrv.shape[0]} values for {batch_hi - batch_lo} batches")
            opt.lr_scale = &lrv[0] if lrv.shape[0] else NULL
        descs = <fnn_optim_desc *>malloc(G * sizeof(fnn_optim_desc))
        rng = <fnn_param_range *>malloc(max(R, 1) * sizeof(fnn_param_range))
        try:
            if descs == NULL or rng == NULL:
                raise MemoryError()
            for i in range(G):
                fill_optim(&descs[i], groups[i])
            for i in range(R):
                rng[i].off = ranges[i, 0]
                rng[i].len = ranges[i, 1]
                rng[i].group = <int>ranges[i, 2]
                if fnn_optim_state_per_param(&descs[rng[i].group]) > sv.shape[0]:
                    raise ValueError("optimizer state has too few slots for its groups")
            opt.n_groups = <int>G
            opt.groups = descs
            opt.scalars = <fnn_optim_scalars *>&scalars[0, 0]
            opt.n_ranges = <int>R
            opt.ranges = rng
            opt.state = &sv[0, 0] if sv.shape[0] > 0 else NULL
            opt.step = step
            opt.clip_norm = clip_norm
            opt.clip_value = clip_value
            if self.training:
                raise RuntimeError("this model is already training in another thread; one model trains one "
                                   "batch stream at a time")
            self.training = owner = True
            with nogil:
                st = fnn_plan_train(&stats, &opt, &self.plan, &x[0, 0], tp, lp, wp, op, n, batch, batch_lo,
                                    batch_hi, n_threads)
        finally:
            if owner:
                self.training = False
            free(descs)
            free(rng)
        if st == FNN_ERR_NONFINITE:
            raise FloatingPointError(f"the training loss became NaN or Inf at batch {stats.bad_batch}; "
                                     "lower the learning rate or check the inputs")
        check_status(st, "train")
        return stats.loss_sum, stats.correct, stats.seen, opt.step

    property rng_offset:
        """Added to the optimizer step to key the stochastic layers' random numbers in training."""
        def __get__(self):
            return self.plan.rng_offset

        def __set__(self, uint64_t v):
            self.plan.rng_offset = v

    def penalty(self):
        """The current L1/L2 penalty of the parameters."""
        return fnn_plan_penalty(&self.plan)

    def forward(self, const float[:, ::1] x, Py_ssize_t batch, int n_threads, bint training=False,
                int64_t step=0):
        """Outputs (N, out_dim); evaluation mode unless training (stochastic layers keyed by step)."""
        cdef Py_ssize_t n = x.shape[0]
        if x.shape[1] != self.in_dim:
            raise ValueError(f"X has {x.shape[1]} features, the network expects {self.in_dim}")
        out = _np.empty((n, self.out_dim), dtype=_np.float32)
        cdef float[:, ::1] ov = out
        cdef int st = FNN_OK
        if n:
            with nogil:
                st = fnn_plan_forward(&ov[0, 0], &self.plan, &x[0, 0], n, batch, training, step, n_threads)
        check_status(st, "forward")
        return out

    def evaluate(self, const float[:, ::1] x, target, labels, Py_ssize_t batch, int n_threads, weights=None):
        """Evaluation-mode (loss_sum, correct) over all rows (loss weighted by weights when given)."""
        cdef double loss_sum = 0.0
        cdef int64_t correct = 0
        cdef const float *tp
        cdef const int32_t *lp
        cdef Py_ssize_t n = x.shape[0]
        cdef int st
        if x.shape[1] != self.in_dim:
            raise ValueError(f"X has {x.shape[1]} features, the network expects {self.in_dim}")
        cdef const float *wp
        self._targets(n, target, labels, &tp, &lp)
        self._weights(n, weights, &wp)
        with nogil:
            st = fnn_plan_evaluate(&loss_sum, &correct, &self.plan, &x[0, 0], tp, lp, wp, n, batch, n_threads)
        check_status(st, "evaluate")
        return loss_sum, correct

    def loss_grad(self, const float[:, ::1] x, target, labels, bint training=False, int64_t step=0,
                  int n_threads=1):
        """Mean loss of the rows as one batch; the gradient lands in the model's flat gradient buffer."""
        cdef double loss = 0.0
        cdef const float *tp
        cdef const int32_t *lp
        cdef Py_ssize_t n = x.shape[0]
        cdef int st
        if x.shape[1] != self.in_dim:
            raise ValueError(f"X has {x.shape[1]} features, the network expects {self.in_dim}")
        self._targets(n, target, labels, &tp, &lp)
        with nogil:
            st = fnn_plan_loss_grad(&loss, &self.plan, &x[0, 0], tp, lp, n, training, step, n_threads)
        check_status(st, "loss_grad")
        return loss


from fnn_util cimport fnn_first_nonfinite, fnn_col_moments, fnn_affine_cols


def first_nonfinite(x, int n_threads=1):
    """Flat index of the first NaN/Inf in a C-contiguous float32 array, or -1."""
    cdef const float[::1] v = x.reshape(-1)
    cdef Py_ssize_t r
    with nogil:
        r = fnn_first_nonfinite(&v[0] if v.shape[0] else NULL, v.shape[0], n_threads)
    return r


def col_moments(const float[:, ::1] x, int n_threads=1):
    """(mean, population variance) per column of x (N, D) in float64, one pass; raises on NaN/Inf."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1]
    mean = _np.zeros(d, dtype=_np.float64)
    var = _np.zeros(d, dtype=_np.float64)
    cdef double[::1] mv = mean
    cdef double[::1] vv = var
    cdef int bad = 0
    if n and d:
        with nogil:
            bad = fnn_col_moments(&mv[0], &vv[0], &x[0, 0], n, d, n_threads)
    if bad < 0:
        raise MemoryError("col_moments: out of memory")
    if bad:
        i = first_nonfinite(_np.asarray(x), n_threads)
        raise ValueError(f"X contains NaN or Inf (first at row {i // d}, column {i % d})")
    return mean, var


def affine_cols(const float[:, ::1] x, const float[::1] sub, const float[::1] sub_lo, const float[::1] mul,
                int n_threads=1, out=None):
    """float32 ((x - sub) - sub_lo) * mul per column, one pass (sub + sub_lo: a shift to twice float
    precision); raises on NaN/Inf in x.  ``out``: a C-contiguous float32 array of x's shape to write into
    (x itself for in place), else a new one."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1]
    if sub.shape[0] != d or sub_lo.shape[0] != d or mul.shape[0] != d:
        raise ValueError(f"affine_cols: x has {d} columns but sub/sub_lo/mul have "
                         f"{sub.shape[0]}/{sub_lo.shape[0]}/{mul.shape[0]}")
    if out is None:
        out = _np.empty((n, d), dtype=_np.float32)
    cdef float[:, ::1] ov = out
    if ov.shape[0] != n or ov.shape[1] != d:
        raise ValueError(f"affine_cols: out has shape {tuple(out.shape)}, expected ({n}, {d})")
    cdef int bad = 0
    if n and d:
        with nogil:
            bad = fnn_affine_cols(&ov[0, 0], &x[0, 0], &sub[0], &sub_lo[0], &mul[0], n, d, n_threads)
    if bad:
        i = first_nonfinite(_np.asarray(x), n_threads)
        raise ValueError(f"X contains NaN or Inf (first at row {i // d}, column {i % d})")
    return out
