# Training-plan bridge: a compiled network (layer descriptors over the model's flat buffers) and its loss.
from libc.stdlib cimport malloc, free
from libc.string cimport memset
from libc.stdint cimport int32_t, int64_t, uint64_t
from fnn_act cimport *
from fnn_optim cimport *
from fnn_engine cimport *

import numpy as _np

LAYER_KINDS = {"linear": FNN_LAYER_LINEAR, "act": FNN_LAYER_ACT}
OPTIM_KINDS = {"sgd": FNN_OPT_SGD}


cdef int _fill_optim(fnn_optim_desc *o, dict spec) except -1:
    memset(o, 0, sizeof(fnn_optim_desc))
    kind = spec["kind"]
    if kind not in OPTIM_KINDS:
        raise ValueError(f"unknown optimizer kind {kind!r}; expected one of {sorted(OPTIM_KINDS)}")
    o.kind = OPTIM_KINDS[kind]
    o.lr = spec.get("lr", 0.0)
    o.momentum = spec.get("momentum", 0.0)
    o.dampening = spec.get("dampening", 0.0)
    o.weight_decay = spec.get("weight_decay", 0.0)
    o.nesterov = bool(spec.get("nesterov", False))
    return 0


def optim_state_size(dict spec, Py_ssize_t n_params):
    """Floats of optimizer state needed for n_params parameters."""
    cdef fnn_optim_desc o
    _fill_optim(&o, spec)
    return fnn_optim_state_per_param(&o) * n_params


def optim_update(dict spec, float[::1] params, float[::1] grads, state, int64_t step, int n_threads=1):
    """One optimizer step over flat buffers (state may be None when the optimizer keeps none)."""
    cdef fnn_optim_desc o
    cdef float[::1] s
    cdef float *sp = NULL
    _fill_optim(&o, spec)
    if grads.shape[0] != params.shape[0]:
        raise ValueError(f"optim_update: grads has {grads.shape[0]} elements, params {params.shape[0]}")
    if fnn_optim_state_per_param(&o) > 0:
        s = state
        if s.shape[0] != fnn_optim_state_per_param(&o) * params.shape[0]:
            raise ValueError(f"optim_update: state has {s.shape[0]} elements, expected "
                             f"{fnn_optim_state_per_param(&o) * params.shape[0]}")
        sp = &s[0] if s.shape[0] else NULL
    cdef int st
    with nogil:
        st = fnn_optim_update(&params[0] if params.shape[0] else NULL, sp,
                              &grads[0] if grads.shape[0] else NULL, &o, step, params.shape[0], n_threads)
    check_status(st, "optimizer update")


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
    cdef object params_arr, grads_arr
    cdef readonly Py_ssize_t in_dim, out_dim
    cdef readonly int loss_kind

    def __cinit__(self):
        self.descs = NULL

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
            d.in_dim = spec["in_dim"]
            d.out_dim = spec["out_dim"]
            d.w_off = spec.get("w_off", -1)
            d.b_off = spec.get("b_off", -1)
            d.slope_off = spec.get("slope_off", -1)
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
        if fnn_plan_check(&self.plan) != FNN_OK:
            raise ValueError("Plan: inconsistent layer descriptors (dimensions do not chain, or a parameter "
                             "offset lies outside the parameter buffer)")

    def __dealloc__(self):
        free(self.descs)

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

    def train(self, const float[:, ::1] x, target, labels, order, dict optim, opt_state, int64_t step,
              Py_ssize_t batch, Py_ssize_t batch_lo, Py_ssize_t batch_hi, int n_threads):
        """Train on batches [batch_lo, batch_hi) of the epoch; returns (loss_sum, correct, seen, step)."""
        cdef fnn_train_stats stats
        cdef fnn_optim_desc o
        cdef const float *tp
        cdef const int32_t *lp
        cdef int64_t[::1] ordv
        cdef const int64_t *op = NULL
        cdef float[::1] sv
        cdef float *sp = NULL
        cdef Py_ssize_t n = x.shape[0]
        cdef int st
        if x.shape[1] != self.in_dim:
            raise ValueError(f"X has {x.shape[1]} features, the network expects {self.in_dim}")
        self._targets(n, target, labels, &tp, &lp)
        _fill_optim(&o, optim)
        if order is not None:
            ordv = order
            if ordv.shape[0] != n:
                raise ValueError(f"order has {ordv.shape[0]} entries, expected {n}")
            op = &ordv[0]
        if fnn_optim_state_per_param(&o) > 0:
            sv = opt_state
            if sv.shape[0] != fnn_optim_state_per_param(&o) * self.plan.n_params:
                raise ValueError("optimizer state has the wrong size for this model")
            sp = &sv[0]
        with nogil:
            st = fnn_plan_train(&stats, sp, &step, &self.plan, &o, &x[0, 0], tp, lp, op, n, batch, batch_lo,
                                batch_hi, n_threads)
        if st == FNN_ERR_NONFINITE:
            raise FloatingPointError(f"the training loss became NaN or Inf at batch {stats.bad_batch}; "
                                     "lower the learning rate or check the inputs")
        check_status(st, "train")
        return stats.loss_sum, stats.correct, stats.seen, step

    def forward(self, const float[:, ::1] x, Py_ssize_t batch, int n_threads):
        """Evaluation-mode outputs (N, out_dim)."""
        cdef Py_ssize_t n = x.shape[0]
        if x.shape[1] != self.in_dim:
            raise ValueError(f"X has {x.shape[1]} features, the network expects {self.in_dim}")
        out = _np.empty((n, self.out_dim), dtype=_np.float32)
        cdef float[:, ::1] ov = out
        cdef int st = FNN_OK
        if n:
            with nogil:
                st = fnn_plan_forward(&ov[0, 0], &self.plan, &x[0, 0], n, batch, n_threads)
        check_status(st, "forward")
        return out

    def evaluate(self, const float[:, ::1] x, target, labels, Py_ssize_t batch, int n_threads):
        """Evaluation-mode (loss_sum, correct) over all rows."""
        cdef double loss_sum = 0.0
        cdef int64_t correct = 0
        cdef const float *tp
        cdef const int32_t *lp
        cdef Py_ssize_t n = x.shape[0]
        cdef int st
        if x.shape[1] != self.in_dim:
            raise ValueError(f"X has {x.shape[1]} features, the network expects {self.in_dim}")
        self._targets(n, target, labels, &tp, &lp)
        with nogil:
            st = fnn_plan_evaluate(&loss_sum, &correct, &self.plan, &x[0, 0], tp, lp, n, batch, n_threads)
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
