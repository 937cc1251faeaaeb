# fastnn's compiled bridge: one extension module so that the SIMD path and thread state are shared.
# Each family of kernels has its own include file; directives are set once in setup.py.
include "_common.pxi"
include "_gemm.pxi"
include "_act.pxi"
include "_optim.pxi"
include "_augment.pxi"
include "_conv.pxi"
include "_pool.pxi"
include "_engine.pxi"
