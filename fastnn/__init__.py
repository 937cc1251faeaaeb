"""fastnn: fast neural-network training on the CPU.

Compiled kernels (our own SGEMM, activations, losses, optimizer updates) with OpenMP and run-time SIMD
dispatch, under a small PyTorch/Keras-like Python API.
"""
__version__ = "0.1.0"

from ._config import get_isa, get_num_threads, set_isa, set_num_threads, show_config, config  # noqa: E402
from . import _config as _cfg  # noqa: E402

_cfg._init_from_env()

from . import ops  # noqa: E402,F401

__all__ = ["__version__", "show_config", "config", "set_num_threads", "get_num_threads", "set_isa", "get_isa",
           "ops"]
