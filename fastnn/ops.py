"""Low-level operations on numpy arrays, backed by fastnn's compiled kernels."""
import numpy as np

from ._config import get_num_threads
from ._ext import _core

__all__ = ["gemm", "matmul"]


def _as_f32_2d(x, name):
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {x.shape}")
    if x.dtype != np.float32:
        if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
            raise TypeError(f"{name} must be a real numeric array, got dtype {x.dtype}")
        x = x.astype(np.float32)
    if x.strides[1] != 4 or x.strides[0] < 4 * x.shape[1] or x.strides[0] % 4:
        x = np.ascontiguousarray(x)
    return x


def gemm(a, b, c=None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """``c = alpha * op(a) @ op(b) + beta * c`` in float32; returns ``c``.

    a: (M, K), or (K, M) with ``trans_a``; b: (K, N), or (N, K) with ``trans_b``; c: (M, N) float32 with
    unit column stride, updated in place (allocated when None; then beta is ignored).  Inputs that are not
    float32 or whose rows are not unit-stride are converted once (a copy).  Rows may have any stride
    (leading dimension) >= the row length.  beta == 0 ignores whatever c holds (NaNs included).
    """
    a = _as_f32_2d(a, "a")
    b = _as_f32_2d(b, "b")
    m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
    kb, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if k != kb:
        raise ValueError(f"gemm: inner dimensions differ: op(a) is {(m, k)} (a {a.shape}, trans_a={trans_a}) "
                         f"but op(b) is {(kb, n)} (b {b.shape}, trans_b={trans_b})")
    if c is None:
        c = np.empty((m, n), dtype=np.float32)
        beta = 0.0
    else:
        if not isinstance(c, np.ndarray) or c.dtype != np.float32:
            raise TypeError(f"gemm: c must be a float32 numpy array, got "
                            f"{getattr(c, 'dtype', type(c).__name__)}")
        if c.shape != (m, n):
            raise ValueError(f"gemm: c has shape {c.shape} but op(a) {(m, k)} @ op(b) {(k, n)} is {(m, n)}")
        if c.ndim != 2 or c.strides[1] != 4 or c.strides[0] < 4 * n or not c.flags.writeable:
            raise ValueError(f"gemm: c must be writeable with unit column stride, got strides {c.strides}")
    _core.sgemm(a, b, c, float(alpha), float(beta), bool(trans_a), bool(trans_b), get_num_threads())
    return c


def matmul(a, b):
    """``a @ b`` for 2-D float32 arrays through fastnn's SGEMM."""
    return gemm(a, b)
