"""show_config, thread-count control (set/get, OMP_NUM_THREADS, threadpoolctl) and FASTNN_ISA."""
import io
import os
import subprocess
import sys

import pytest

import fastnn
from fastnn._ext import _core


def test_show_config_fields():
    buf = io.StringIO()
    fastnn.show_config(file=buf)
    out = buf.getvalue()
    for field in ("fastnn", "compiler", "OpenMP", "threads", "SIMD path", "CPU features"):
        assert field in out
    assert fastnn.get_isa() in out
    cfg = fastnn.config()
    assert cfg["isa"] in _core.ISA_NAMES and cfg["num_threads"] >= 1


def test_set_get_num_threads(threads):
    threads(3)
    assert fastnn.get_num_threads() == 3
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ValueError):
            fastnn.set_num_threads(bad)
    assert fastnn.get_num_threads() == 3
    fastnn.set_num_threads(None)
    assert fastnn.get_num_threads() >= 1


def test_set_isa_validation():
    old = fastnn.get_isa()
    try:
        with pytest.raises(ValueError, match="unknown SIMD path"):
            fastnn.set_isa("sse9")
        for name in _core.ISA_NAMES:
            if _core.isa_supported(name):
                fastnn.set_isa(name)
                assert fastnn.get_isa() == name
            else:
                with pytest.raises(RuntimeError, match="not supported"):
                    fastnn.set_isa(name)
    finally:
        fastnn.set_isa(old)


def _run_py(code, **env):
    e = dict(os.environ)
    e.update(env)
    # run beside the fastnn that this process imported (the installed package, or an in-place build)
    where = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))
    return subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True, timeout=60,
                          cwd=where)


def test_fastnn_isa_env_bad_value():
    r = _run_py("import fastnn", FASTNN_ISA="avx9000")
    assert r.returncode != 0 and "FASTNN_ISA" in r.stderr


def test_fastnn_isa_env_generic():
    r = _run_py("import fastnn; print(fastnn.get_isa())", FASTNN_ISA="generic")
    assert r.returncode == 0 and r.stdout.strip() == "generic"


def test_omp_num_threads_respected():
    if not _core.openmp_enabled():
        pytest.skip("serial build")
    r = _run_py("import fastnn; print(fastnn.get_num_threads())", OMP_NUM_THREADS="1")
    assert r.returncode == 0 and r.stdout.strip() == "1"


def test_threadpoolctl_limit_respected(threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not _core.openmp_enabled():
        pytest.skip("serial build")
    threads(None)
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert fastnn.get_num_threads() == 1
