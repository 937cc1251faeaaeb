"""Low-level operations on numpy arrays, backed by fastnn's compiled kernels."""
import numpy as np

from . import _config
from ._ext import _core

__all__ = ["gemm", "matmul"]

_F32 = np.dtype(np.float32)
_ND = np.ndarray


def _as_f32_2d(x, name):
    """x as a 2-D float32 array the kernel reads in place, converting (one copy) only when needed."""
    if type(x) is np.ndarray and x.dtype == _F32 and x.ndim == 2 and x.strides[1] == 4 and x.strides[0] > 0:
        return x
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"gemm: {name} must be 2-D, got shape {x.shape}")
    if x.dtype != _F32:
        if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise TypeError(f"gemm: {name} must be a real numeric array (float32 preferred), got dtype {x.dtype} "
                            f"with shape {x.shape}")
        return np.ascontiguousarray(x, dtype=_F32)
    if x.strides[1] != 4 or x.strides[0] < 4 * x.shape[1] or x.strides[0] % 4:
        x = np.ascontiguousarray(x)
    return x


def gemm(a, b, c=None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """``c = alpha * op(a) @ op(b) + beta * c`` in float32; returns ``c``.

    a: (M, K), or (K, M) with ``trans_a``; b: (K, N), or (N, K) with ``trans_b``.
    c: None (a new (M, N) float32 array; beta is then ignored) or an (M, N) float32 numpy array with unit
    column stride, updated in place (any row stride; TypeError for another dtype, ValueError for a wrong
    shape, a read-only array or a column stride other than one).
    Inputs: float32 arrays whose rows are unit-stride are read in place, whatever their row stride (views such
    as ``x[:, :k]`` of a wider array need no copy).  Other real dtypes (float64, float16, integers) and other
    layouts (transposed views, negative or non-unit column strides) are converted once to a float32 copy;
    non-numeric dtypes (bool, complex, object, strings) raise TypeError; arrays that are not 2-D raise
    ValueError.  beta == 0 ignores whatever c holds (NaNs included).  K == 0 gives ``beta * c``.
    The result is bitwise identical for any thread count (``fastnn.set_num_threads``).
    """
    nt = _config._num_threads
    if nt is None:
        nt = _config.get_num_threads()
    if type(a) is _ND and type(b) is _ND and (c is None or type(c) is _ND):
        # Fast path: float32 arrays the bridge takes as they are (it checks dtype, rank, strides and shapes).
        # Anything it refuses falls through to the checks and conversions below, which raise the documented
        # errors; nothing is written to c before the bridge has accepted every argument.
        try:
            if c is None:
                cc = np.empty((a.shape[1] if trans_a else a.shape[0], b.shape[0] if trans_b else b.shape[1]), _F32)
                _core.sgemm(a, b, cc, alpha, 0.0, trans_a, trans_b, nt)
                return cc
            _core.sgemm(a, b, c, alpha, beta, trans_a, trans_b, nt)
            return c
        except (ValueError, TypeError, IndexError):
            pass
    a = _as_f32_2d(a, "a")
    b = _as_f32_2d(b, "b")
    m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
    kb, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if k != kb:
        raise ValueError(f"gemm: inner dimensions differ: op(a) is {(m, k)} (a {a.shape}, trans_a={bool(trans_a)}) "
                         f"but op(b) is {(kb, n)} (b {b.shape}, trans_b={bool(trans_b)})")
    if c is None:
        c = np.empty((m, n), dtype=_F32)
        beta = 0.0
    else:
        if type(c) is not np.ndarray or c.dtype != _F32:
            raise TypeError(f"gemm: c must be a float32 numpy array of shape {(m, n)}, got "
                            f"{getattr(c, 'dtype', type(c).__name__)} with shape {getattr(c, 'shape', None)}")
        if c.shape != (m, n):
            raise ValueError(f"gemm: c has shape {c.shape} but op(a) {(m, k)} @ op(b) {(k, n)} is {(m, n)}")
        if not c.flags.writeable:
            raise ValueError(f"gemm: c (shape {c.shape}) is read-only")
        if n > 1 and m > 0 and (c.strides[1] != 4 or (m > 1 and c.strides[0] < 4 * n)):
            raise ValueError(f"gemm: c (shape {c.shape}) must have unit column stride and non-overlapping rows, "
                             f"got strides {c.strides}")
    _core.sgemm(a, b, c, alpha, beta, trans_a, trans_b, nt)
    return c


def matmul(a, b):
    """``a @ b`` for 2-D arrays through fastnn's SGEMM (float32 result; see ``gemm`` for conversions)."""
    return gemm(a, b)
