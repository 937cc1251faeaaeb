"""fastnn: fast neural-network training on the CPU.

Compiled kernels (our own SGEMM, activations, losses, optimizer updates) with OpenMP and run-time SIMD
dispatch, under a small PyTorch/Keras-like Python API:

    import fastnn as fnn
    model = fnn.Sequential([fnn.Linear(784, 256, activation="relu"), fnn.Linear(256, 10)], seed=0)
    model.compile(loss="cross_entropy", optimizer=fnn.optim.SGD(lr=0.1, momentum=0.9, nesterov=True))
    history = model.fit(X, y, epochs=10, batch_size=64, validation_data=(X_test, y_test))
"""
__version__ = "0.1.0"

from ._config import get_isa, get_num_threads, set_isa, set_num_threads, show_config, config  # noqa: E402
from . import _config as _cfg  # noqa: E402

_cfg._init_from_env()

from . import ops, init, losses, optim, datasets  # noqa: E402,F401
from .layers import Layer, Linear, Dense, Dropout, AlphaDropout, GaussianNoise, Flatten, Residual  # noqa: E402
from .activations import (Activation, Identity, Sigmoid, Tanh, ReLU, LeakyReLU, PReLU, RReLU, ELU,  # noqa: E402
                          SELU, Softplus, Softsign, Softmax)
from .losses import MSELoss, L1Loss, HuberLoss, BCEWithLogitsLoss, CrossEntropyLoss  # noqa: E402
from .conv import (Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, GlobalAvgPool2d, BatchNorm1d,  # noqa: E402
                   BatchNorm2d)
from .model import Sequential  # noqa: E402
from .trainer import History  # noqa: E402
from . import callbacks, metrics, io, schedules, preprocessing, augment  # noqa: E402,F401
from .io import load, save  # noqa: E402
from . import solvers, ensemble  # noqa: E402,F401
from .ensemble import Ensemble  # noqa: E402

__all__ = ["__version__", "show_config", "config", "set_num_threads", "get_num_threads", "set_isa", "get_isa",
           "ops", "init", "losses", "optim", "datasets", "Layer", "Linear", "Dense", "Dropout", "AlphaDropout",
           "GaussianNoise", "Flatten", "Residual", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
           "GlobalAvgPool2d", "BatchNorm1d", "BatchNorm2d", "Activation", "Identity",
           "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU", "Softplus", "Softsign",
           "Softmax", "MSELoss", "L1Loss", "HuberLoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "Sequential",
           "History", "callbacks", "metrics", "io", "schedules", "preprocessing", "augment", "load", "save",
           "solvers", "ensemble", "Ensemble"]
