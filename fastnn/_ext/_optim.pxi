# Optimizer bridge: hyper-parameter dicts -> fnn_optim_desc, and the flat-buffer update for custom loops.
from libc.string cimport memset
from libc.stdint cimport int64_t
from fnn_optim cimport *

OPTIM_KINDS = {"sgd": FNN_OPT_SGD, "adagrad": FNN_OPT_ADAGRAD, "adadelta": FNN_OPT_ADADELTA,
               "rmsprop": FNN_OPT_RMSPROP, "adam": FNN_OPT_ADAM, "adamw": FNN_OPT_ADAMW, "nadam": FNN_OPT_NADAM,
               "adamax": FNN_OPT_ADAMAX}


cdef int fill_optim(fnn_optim_desc *o, dict spec) except -1:
    """spec: {"kind": name, hyper-parameter: value, ...} with fnn_optim_desc's field names (betas as a pair)."""
    memset(o, 0, sizeof(fnn_optim_desc))
    kind = spec.get("kind")
    if kind not in OPTIM_KINDS:
        raise ValueError(f"unknown optimizer kind {kind!r}; expected one of {sorted(OPTIM_KINDS)}")
    o.kind = OPTIM_KINDS[kind]
    o.nesterov = bool(spec.get("nesterov", False))
    o.amsgrad = bool(spec.get("amsgrad", False))
    o.centered = bool(spec.get("centered", False))
    o.lr = spec.get("lr", 0.0)
    o.momentum = spec.get("momentum", 0.0)
    o.dampening = spec.get("dampening", 0.0)
    o.weight_decay = spec.get("weight_decay", 0.0)
    betas = spec.get("betas", (0.9, 0.999))
    o.beta1 = betas[0]
    o.beta2 = betas[1]
    o.eps = spec.get("eps", 0.0)
    o.rho = spec.get("rho", 0.0)
    o.alpha = spec.get("alpha", 0.0)
    o.lr_decay = spec.get("lr_decay", 0.0)
    o.initial_accumulator_value = spec.get("initial_accumulator_value", 0.0)
    o.momentum_decay = spec.get("momentum_decay", 0.0)
    if fnn_optim_state_per_param(o) < 0:
        raise ValueError(f"optimizer kind {kind!r} is not implemented in this build")
    return 0


def optim_slots(dict spec):
    """State floats per parameter for this optimizer."""
    cdef fnn_optim_desc o
    fill_optim(&o, spec)
    return fnn_optim_state_per_param(&o)


def optim_init_state(dict spec, float[:, ::1] state):
    """Initialise state (slots, n_params) for one group's optimizer (all columns)."""
    cdef fnn_optim_desc o
    fill_optim(&o, spec)
    if state.shape[0] != fnn_optim_state_per_param(&o):
        raise ValueError(f"optim_init_state: state has {state.shape[0]} slots, the optimizer needs "
                         f"{fnn_optim_state_per_param(&o)}")
    if state.shape[0] and state.shape[1]:
        check_status(fnn_optim_init_state(&state[0, 0], state.shape[1], &o, state.shape[1]), "optim_init_state")


def optim_update(dict spec, float[::1] params, float[::1] grads, state, double[::1] scalars, int64_t step,
                 float lr, Py_ssize_t offset=0, Py_ssize_t length=-1, bint advance_scalars=True,
                 int n_threads=1, bint naive=False):
    """One step on params[offset:offset+length] from grads (same range).
    state: float32 (slots, len(params)) or None when the optimizer keeps none; scalars: float64 (4,)."""
    cdef fnn_optim_desc o
    cdef float[:, ::1] sv
    cdef float *sp = NULL
    cdef Py_ssize_t stride = params.shape[0]
    fill_optim(&o, spec)
    if length < 0:
        length = params.shape[0] - offset
    if grads.shape[0] != params.shape[0]:
        raise ValueError(f"optim_update: grads has {grads.shape[0]} elements, params {params.shape[0]}")
    if offset < 0 or offset + length > params.shape[0]:
        raise ValueError(f"optim_update: range [{offset}, {offset + length}) outside {params.shape[0]} params")
    if scalars.shape[0] != 4:
        raise ValueError(f"optim_update: scalars must have 4 entries, got {scalars.shape[0]}")
    cdef int slots = fnn_optim_state_per_param(&o)
    if slots > 0:
        sv = state
        if sv.shape[0] != slots or sv.shape[1] != params.shape[0]:
            raise ValueError(f"optim_update: state has shape {(sv.shape[0], sv.shape[1])}, expected "
                             f"{(slots, params.shape[0])}")
        sp = &sv[0, 0] + offset
    if length == 0:
        return
    cdef int st
    with nogil:
        if naive:
            st = fnn_optim_update_naive(&params[offset], sp, stride, <fnn_optim_scalars *>&scalars[0],
                                        advance_scalars, &grads[offset], &o, step, lr, length)
        else:
            st = fnn_optim_update(&params[offset], sp, stride, <fnn_optim_scalars *>&scalars[0],
                                  advance_scalars, &grads[offset], &o, step, lr, length, n_threads)
    check_status(st, "optimizer update")
