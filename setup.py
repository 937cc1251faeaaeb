"""Build fastnn's compiled core: src_c/*.c (C99 + OpenMP + SIMD) and the Cython bridge in fastnn/_ext.

OpenMP flags are chosen per compiler (gcc/clang: -fopenmp; Apple clang: -Xpreprocessor -fopenmp -lomp;
MSVC: /openmp:llvm).  When the compiler cannot build an OpenMP program the build still succeeds, serial,
with a loud warning; FASTNN_NO_OPENMP=1 forces that.  Never -march=native: SIMD paths are compiled with
per-function target attributes and chosen at run time.
"""
import glob
import os
import sys
import tempfile
import textwrap

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
C_SOURCES = sorted(glob.glob(os.path.join("src_c", "*.c")))
C_HEADERS = sorted(glob.glob(os.path.join("src_c", "*.h")))
BRIDGE = sorted(glob.glob(os.path.join("fastnn", "_ext", "*.pxi")) + glob.glob(os.path.join("fastnn", "_ext", "*.pxd")))

OMP_TEST = textwrap.dedent("""
    #include <omp.h>
    int main(void) { int s = 0;
    #pragma omp parallel for reduction(+:s)
      for (int i = 0; i < 8; i++) s += i;
      return s == 28 && omp_get_max_threads() > 0 ? 0 : 1; }
""")


def _warn(msg):
    bar = "!" * 78
    sys.stderr.write("\n%s\n%s\n%s\n\n" % (bar, msg, bar))


class BuildExt(build_ext):
    def _try_openmp(self, cflags, ldflags):
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "omp_test.c")
            with open(src, "w") as f:
                f.write(OMP_TEST)
            try:
                objs = self.compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
                self.compiler.link_executable(objs, "omp_test", output_dir=tmp, extra_postargs=ldflags)
            except Exception:
                return False
        return True

    def _openmp_flags(self):
        if os.environ.get("FASTNN_NO_OPENMP", "") not in ("", "0"):
            _warn("fastnn: FASTNN_NO_OPENMP is set: building WITHOUT OpenMP; every kernel runs on one thread.")
            return [], []
        ctype = self.compiler.compiler_type
        if ctype == "msvc":
            candidates = [(["/openmp:llvm"], []), (["/openmp"], [])]
        elif sys.platform == "darwin":
            candidates = [(["-Xpreprocessor", "-fopenmp"], ["-lomp"]), (["-fopenmp"], ["-fopenmp"])]
        else:
            candidates = [(["-fopenmp"], ["-fopenmp"])]
        for cflags, ldflags in candidates:
            if self._try_openmp(cflags, ldflags):
                return cflags, ldflags
        _warn("fastnn: the C compiler cannot build OpenMP programs; building a SERIAL fastnn.\n"
              "Install an OpenMP runtime (gcc's libgomp, or libomp for clang) and rebuild for multicore speed.")
        return [], []

    def build_extensions(self):
        ctype = self.compiler.compiler_type
        omp_c, omp_l = self._openmp_flags()
        if ctype == "msvc":
            base = ["/O2", "/fp:precise"]
        else:
            base = ["-O3", "-std=gnu11", "-fno-math-errno", "-fno-trapping-math", "-Wall", "-Wextra",
                    "-Wno-unused-function", "-Wno-unused-parameter"]
            if os.environ.get("FASTNN_SANITIZE"):
                base += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-O1", "-g"]
                omp_l = omp_l + ["-fsanitize=address,undefined"]
        for ext in self.extensions:
            ext.extra_compile_args = base + omp_c + ext.extra_compile_args
            ext.extra_link_args = omp_l + ext.extra_link_args
            if not omp_c:
                ext.define_macros.append(("FNN_NO_OPENMP", "1"))
        build_ext.build_extensions(self)


def extensions():
    from Cython.Build import cythonize

    ext = Extension(
        "fastnn._ext._core",
        sources=[os.path.join("fastnn", "_ext", "_core.pyx")] + C_SOURCES,
        include_dirs=["src_c"],
        depends=C_HEADERS + BRIDGE,
    )
    return cythonize(
        [ext],
        include_path=[os.path.join("fastnn", "_ext")],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "embedsignature": True,
        },
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
