# CPU features, SIMD path, OpenMP and status-code handling.
from fnn_common cimport *
from fnn_cpu cimport *

ISA_NAMES = ("generic", "avx2", "avx512")


cdef int check_status(int status, str what) except -1:
    """Turn a C status code into a Python exception naming the operation."""
    if status == FNN_OK:
        return 0
    if status == FNN_ERR_NOMEM:
        raise MemoryError(f"{what}: out of memory")
    if status == FNN_ERR_ISA:
        raise RuntimeError(f"{what}: the requested SIMD path is not supported by this CPU")
    if status == FNN_ERR_NONFINITE:
        raise FloatingPointError(f"{what}: a non-finite value (NaN or Inf) appeared")
    raise ValueError(f"{what}: invalid argument (status {status})")


def cpu_features():
    """The CPU features fastnn detected, as a dict of name -> bool."""
    cdef int f = fnn_cpu_features()
    return {"sse2": bool(f & FNN_CPU_SSE2), "avx": bool(f & FNN_CPU_AVX), "avx2": bool(f & FNN_CPU_AVX2),
            "fma": bool(f & FNN_CPU_FMA), "avx512f": bool(f & FNN_CPU_AVX512F),
            "avx512bw": bool(f & FNN_CPU_AVX512BW), "avx512dq": bool(f & FNN_CPU_AVX512DQ),
            "avx512vl": bool(f & FNN_CPU_AVX512VL)}


def isa_supported(str name):
    return bool(fnn_isa_supported(ISA_NAMES.index(name)))


def set_isa(str name):
    if name not in ISA_NAMES:
        raise ValueError(f"unknown SIMD path {name!r}; expected one of {ISA_NAMES}")
    if fnn_set_isa(ISA_NAMES.index(name)) != FNN_OK:
        raise RuntimeError(f"SIMD path {name!r} is not supported by this CPU (features: "
                           f"{[k for k, v in cpu_features().items() if v]})")


def get_isa():
    return ISA_NAMES[fnn_get_isa()]


def best_isa():
    return ISA_NAMES[fnn_isa_best()]


def openmp_enabled():
    return bool(fnn_openmp_enabled())


def omp_max_threads():
    return fnn_omp_max_threads()


def compiler_info():
    return fnn_compiler_info().decode()
