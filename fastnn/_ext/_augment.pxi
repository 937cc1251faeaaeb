# Image augmentation bridge: op dicts -> fnn_augment_op descriptors (checked here with messages that name the
# field), GIL released around src_c/fnn_augment.c (or its _naive twin), C statuses turned into exceptions.
# An op dict is {"kind": name or code, "p": probability (default 1), "a", "b", "c", "d": floats (default 0),
# "ia", "ib": ints (default 0)}; the meaning of each field per kind is in src_c/fnn_augment.h.
from libc.stdlib cimport free, malloc
from libc.stdint cimport uint64_t
from fnn_augment cimport *

import math

AUG_KINDS = {"hflip": 0, "vflip": 1, "crop": 2, "translate": 3, "rotate": 4, "brightness": 5, "contrast": 6,
             "noise": 7, "cutout": 8, "erase": 9, "clip": 10}
_AUG_NAMES = {v: k for k, v in AUG_KINDS.items()}
_AUG_FLOAT_FIELDS = ("p", "a", "b", "c", "d")
_AUG_INT_FIELDS = ("ia", "ib")
_AUG_MAX_INT = 1000000


def augment_kind(kind):
    """The augmentation code for a name (or a code, checked)."""
    return _kind_code(kind, AUG_KINDS, "augmentation")


def _aug_bad(name, field, value, rule):
    raise ValueError(f"augment op {name!r}: {field} must be {rule}, got {value!r}")


def augment_check_op(op):
    """A normalised copy of one op dict (kind as its name, every field present), or ValueError/TypeError
    naming the op and the field.  The rules are the C kernel's (fnn_augment.c, check_ops)."""
    if not isinstance(op, dict):
        raise TypeError(f"an augment op must be a dict, got {type(op).__name__}")
    if "kind" not in op:
        raise ValueError(f"augment op {op!r} has no 'kind'")
    unknown = set(op) - {"kind"} - set(_AUG_FLOAT_FIELDS) - set(_AUG_INT_FIELDS)
    if unknown:
        raise ValueError(f"augment op {op!r}: unknown field(s) {sorted(unknown)}; "
                         f"fields are kind, {', '.join(_AUG_FLOAT_FIELDS + _AUG_INT_FIELDS)}")
    name = _AUG_NAMES[augment_kind(op["kind"])]
    out = {"kind": name}
    for f in _AUG_FLOAT_FIELDS:
        v = op.get(f, 1.0 if f == "p" else 0.0)
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"augment op {name!r}: {f} must be a number, got {type(v).__name__}")
        out[f] = float(v)
    for f in _AUG_INT_FIELDS:
        v = op.get(f, 0)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"augment op {name!r}: {f} must be an integer, got {type(v).__name__}")
        out[f] = int(v)
    p, a, b, c, d, ia, ib = out["p"], out["a"], out["b"], out["c"], out["d"], out["ia"], out["ib"]
    if not 0.0 <= p <= 1.0:
        _aug_bad(name, "p (probability)", p, "in [0, 1]")
    if name in ("crop", "translate", "cutout"):
        if not 0 <= ia <= _AUG_MAX_INT:
            _aug_bad(name, "ia (padding / max shift / side)", ia, f"in [0, {_AUG_MAX_INT}]")
        if not math.isfinite(a):
            _aug_bad(name, "a (fill)", a, "finite")
    if name == "cutout" and not 0 <= ib <= 4096:
        _aug_bad(name, "ib (number of holes)", ib, "in [0, 4096]")
    if name == "rotate":
        if not (math.isfinite(a) and a >= 0):
            _aug_bad(name, "a (max degrees)", a, "finite and >= 0")
        if not math.isfinite(b):
            _aug_bad(name, "b (fill)", b, "finite")
        if not math.isfinite(c):
            _aug_bad(name, "c (centre angle)", c, "finite")
    if name in ("brightness", "noise") and not (math.isfinite(a) and a >= 0):
        _aug_bad(name, "a (max shift / std)", a, "finite and >= 0")
    if name == "contrast" and not 0.0 <= a <= 1.0:
        _aug_bad(name, "a (factor range)", a, "in [0, 1]")
    if name == "erase":
        if not 0.0 < a <= b <= 1.0:
            _aug_bad(name, "scale (a, b)", (a, b), "0 < a <= b <= 1")
        if not (0.0 < c <= d and math.isfinite(d)):
            _aug_bad(name, "ratio (c, d)", (c, d), "0 < c <= d, finite")
    if name == "clip" and not a <= b:
        _aug_bad(name, "bounds (a, b)", (a, b), "a <= b")
    # float32 rounding must keep the rules (e.g. p = 1 - 1e-9 rounds to 1.0, fine; a tiny erase scale to 0 is not)
    if name == "erase" and np.float32(a) <= 0:
        _aug_bad(name, "scale lower bound a", a, "representable as a positive float32")
    return out


def augment_check_ops(ops):
    """A list of normalised op dicts (see augment_check_op)."""
    if isinstance(ops, dict) or not isinstance(ops, (list, tuple)):
        raise TypeError(f"ops must be a list of op dicts, got {type(ops).__name__}")
    return [augment_check_op(op) for op in ops]


cdef int aug_ops_fill(list ops, fnn_augment_op *out) except -1:
    """out[0..len(ops)) from normalised op dicts (augment_check_ops); for the training-loop executor too."""
    cdef Py_ssize_t j
    for j in range(len(ops)):
        op = ops[j]
        out[j].kind = AUG_KINDS[op["kind"]]
        out[j].p = op["p"]
        out[j].a = op["a"]
        out[j].b = op["b"]
        out[j].c = op["c"]
        out[j].d = op["d"]
        out[j].ia = op["ia"]
        out[j].ib = op["ib"]
    return 0


def augment_batch(x, ops, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, seed=0, step=0, int n_threads=1,
                  bint naive=False):
    """x (B, C*H*W) float32 C-contiguous NCHW rows, augmented in place by `ops` (list of op dicts) in order.

    Sample i of the batch draws from (seed, step, i) only, so results do not depend on n_threads."""
    _check_array(x, "x", np.float32, 2)
    if C < 1 or H < 1 or W < 1:
        raise ValueError(f"image shape (C, H, W) must be positive, got ({C}, {H}, {W})")
    if x.shape[1] != C * H * W:
        raise ValueError(f"x rows must hold C*H*W = {C}*{H}*{W} = {C * H * W} pixels, got shape {x.shape}")
    norm = augment_check_ops(ops)
    cdef uint64_t s = <uint64_t>(int(seed) & 0xFFFFFFFFFFFFFFFF)
    cdef uint64_t t = <uint64_t>(int(step) & 0xFFFFFFFFFFFFFFFF)
    cdef int n_ops = len(norm)
    cdef Py_ssize_t B = x.shape[0]
    if n_ops == 0 or B == 0:
        return x
    cdef fnn_augment_op *desc = <fnn_augment_op *>malloc(n_ops * sizeof(fnn_augment_op))
    if desc == NULL:
        raise MemoryError("augment_batch: out of memory for the op list")
    cdef float[:, ::1] xv = x
    cdef int status
    try:
        aug_ops_fill(norm, desc)
        with nogil:
            if naive:
                status = fnn_augment_batch_naive(&xv[0, 0], desc, n_ops, B, C, H, W, s, t)
            else:
                status = fnn_augment_batch(&xv[0, 0], desc, n_ops, B, C, H, W, s, t, n_threads)
    finally:
        free(desc)
    check_status(status, "augment_batch")
    return x
