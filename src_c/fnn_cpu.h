/* fastnn: CPU feature detection, SIMD path selection, OpenMP and build information. */
#ifndef FNN_CPU_H
#define FNN_CPU_H

#include "fnn_common.h"

/* SIMD paths ("ISA"). */
enum { FNN_ISA_GENERIC = 0, FNN_ISA_AVX2 = 1, FNN_ISA_AVX512 = 2 };

/* CPU feature bits reported by fnn_cpu_features(). */
enum {
    FNN_CPU_SSE2 = 1 << 0, FNN_CPU_AVX = 1 << 1, FNN_CPU_AVX2 = 1 << 2, FNN_CPU_FMA = 1 << 3,
    FNN_CPU_AVX512F = 1 << 4, FNN_CPU_AVX512BW = 1 << 5, FNN_CPU_AVX512DQ = 1 << 6, FNN_CPU_AVX512VL = 1 << 7
};

int fnn_cpu_features(void);         /* bitmask of FNN_CPU_* */
int fnn_isa_supported(int isa);     /* 1 if this CPU (and this build) can run `isa` */
int fnn_isa_best(void);             /* the fastest supported path */
int fnn_set_isa(int isa);           /* FNN_OK, or FNN_ERR_ISA when unsupported */
int fnn_get_isa(void);
const char *fnn_isa_name(int isa);

int fnn_openmp_enabled(void);       /* 1 when built with OpenMP */
int fnn_omp_max_threads(void);      /* omp_get_max_threads(), 1 without OpenMP */
const char *fnn_compiler_info(void);

#endif
