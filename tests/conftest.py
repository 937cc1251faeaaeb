import os

import numpy as np
import pytest

import fastnn


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def threads():
    """Run a block with a given thread count and restore the previous setting."""
    old = fastnn._config._num_threads

    def use(n):
        fastnn.set_num_threads(n)

    yield use
    fastnn.set_num_threads(old)


def available_isas():
    from fastnn._ext import _core

    return [name for name in _core.ISA_NAMES if _core.isa_supported(name)]


def pytest_report_header(config):
    return "fastnn: isa=%s threads=%d openmp=%s FASTNN_ISA=%s" % (
        fastnn.get_isa(), fastnn.get_num_threads(), fastnn.config()["openmp"], os.environ.get("FASTNN_ISA", ""))
