"""Process-wide configuration: thread count and SIMD path.  The only global state fastnn keeps."""
import os
import platform
import sys

from ._ext import _core

__all__ = ["set_num_threads", "get_num_threads", "set_isa", "get_isa", "show_config", "config"]

_num_threads = None


def set_num_threads(n):
    """Use ``n`` threads in every fastnn kernel (``None`` goes back to OpenMP's default).

    The default follows OpenMP: ``OMP_NUM_THREADS`` and threadpoolctl's OpenMP limits are respected.
    Results are identical for any thread count."""
    global _num_threads
    if n is None:
        _num_threads = None
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive int or None, got {n!r}")
    _num_threads = int(n)


def get_num_threads():
    """The number of threads fastnn kernels use now."""
    if _num_threads is not None:
        return _num_threads
    return max(1, _core.omp_max_threads())


def set_isa(name):
    """Force a SIMD path: ``"generic"``, ``"avx2"`` or ``"avx512"`` (RuntimeError if the CPU lacks it)."""
    _core.set_isa(name)


def get_isa():
    """The active SIMD path."""
    return _core.get_isa()


def _init_from_env():
    isa = os.environ.get("FASTNN_ISA", "").strip().lower()
    if isa:
        if isa not in _core.ISA_NAMES:
            raise RuntimeError(f"FASTNN_ISA={isa!r} is not a SIMD path; expected one of {_core.ISA_NAMES}")
        if not _core.isa_supported(isa):
            feats = [k for k, v in _core.cpu_features().items() if v]
            raise RuntimeError(f"FASTNN_ISA={isa!r} but this CPU lacks it (detected features: {feats})")
        _core.set_isa(isa)


def config():
    """The build and run-time configuration as a dict."""
    from . import __version__

    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "compiler": _core.compiler_info(),
        "openmp": _core.openmp_enabled(),
        "num_threads": get_num_threads(),
        "isa": get_isa(),
        "best_isa": _core.best_isa(),
        "isa_forced": os.environ.get("FASTNN_ISA", "") or None,
        "cpu_features": [k for k, v in _core.cpu_features().items() if v],
    }


def show_config(file=None):
    """Print version, compiler, OpenMP, threads, the active SIMD path and the CPU features detected."""
    c = config()
    lines = [
        f"fastnn {c['version']} (Python {c['python']}, {c['platform']})",
        f"  compiler     : {c['compiler']}",
        f"  OpenMP       : {'on' if c['openmp'] else 'OFF (serial build)'}",
        f"  threads      : {c['num_threads']}",
        f"  SIMD path    : {c['isa']}" + (" (forced by FASTNN_ISA)" if c["isa_forced"] else
                                           f" (best available: {c['best_isa']})"),
        f"  CPU features : {' '.join(c['cpu_features']) or 'none detected'}",
    ]
    print("\n".join(lines), file=file or sys.stdout)
