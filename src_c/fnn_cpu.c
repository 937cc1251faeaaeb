/* fastnn: CPU feature detection, SIMD path selection, OpenMP and build information. */
#include "fnn_cpu.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define FNN_X86_GNU 1
#endif

int fnn_cpu_features(void) {
    int f = 0;
#ifdef FNN_X86_GNU
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse2")) f |= FNN_CPU_SSE2;
    if (__builtin_cpu_supports("avx")) f |= FNN_CPU_AVX;
    if (__builtin_cpu_supports("avx2")) f |= FNN_CPU_AVX2;
    if (__builtin_cpu_supports("fma")) f |= FNN_CPU_FMA;
    if (__builtin_cpu_supports("avx512f")) f |= FNN_CPU_AVX512F;
    if (__builtin_cpu_supports("avx512bw")) f |= FNN_CPU_AVX512BW;
    if (__builtin_cpu_supports("avx512dq")) f |= FNN_CPU_AVX512DQ;
    if (__builtin_cpu_supports("avx512vl")) f |= FNN_CPU_AVX512VL;
#endif
    return f;
}

int fnn_isa_supported(int isa) {
    int f = fnn_cpu_features();
    switch (isa) {
    case FNN_ISA_GENERIC: return 1;
#ifdef FNN_X86_GNU
    case FNN_ISA_AVX2: return (f & FNN_CPU_AVX2) && (f & FNN_CPU_FMA);
    case FNN_ISA_AVX512: return (f & FNN_CPU_AVX512F) && (f & FNN_CPU_AVX2) && (f & FNN_CPU_FMA);
#endif
    default: (void)f; return 0;
    }
}

int fnn_isa_best(void) {
    if (fnn_isa_supported(FNN_ISA_AVX512)) return FNN_ISA_AVX512;
    if (fnn_isa_supported(FNN_ISA_AVX2)) return FNN_ISA_AVX2;
    return FNN_ISA_GENERIC;
}

static int g_isa = -1;

int fnn_set_isa(int isa) {
    if (!fnn_isa_supported(isa)) return FNN_ERR_ISA;
    g_isa = isa;
    return FNN_OK;
}

int fnn_get_isa(void) {
    if (g_isa < 0) g_isa = fnn_isa_best();
    return g_isa;
}

const char *fnn_isa_name(int isa) {
    switch (isa) {
    case FNN_ISA_GENERIC: return "generic";
    case FNN_ISA_AVX2: return "avx2";
    case FNN_ISA_AVX512: return "avx512";
    default: return "unknown";
    }
}

int fnn_openmp_enabled(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int fnn_omp_max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

const char *fnn_compiler_info(void) {
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#elif defined(_MSC_VER)
#define FNN_STR2(x) #x
#define FNN_STR(x) FNN_STR2(x)
    return "msvc " FNN_STR(_MSC_VER);
#else
    return "unknown C compiler";
#endif
}
