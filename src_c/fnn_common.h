/* fastnn: shared definitions for the C kernels (C99 + OpenMP, no Python). */
#ifndef FNN_COMMON_H
#define FNN_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(_MSC_VER)
#define FNN_RESTRICT __restrict
#else
#define FNN_RESTRICT restrict
#endif

/* Status codes returned by every kernel (never abort, never print). */
enum {
    FNN_OK = 0,
    FNN_ERR_NOMEM = 1,   /* allocation failed */
    FNN_ERR_ARG = 2,     /* invalid dimension or option */
    FNN_ERR_ISA = 3,     /* requested SIMD path not supported by this CPU */
    FNN_ERR_NONFINITE = 4 /* loss or gradient became NaN/Inf */
};

/* Work (in floating-point operations, roughly) below which a kernel runs on one thread. */
#define FNN_PAR_MIN_WORK 65536.0

/* Threads to use for `work` units given the caller's budget; 1 when below the threshold. */
static inline int fnn_threads_for(double work, int n_threads) {
    if (n_threads < 1) return 1;
    if (work < FNN_PAR_MIN_WORK) return 1;
    double t = work / FNN_PAR_MIN_WORK;
    return t < (double)n_threads ? (int)t < 1 ? 1 : (int)t : n_threads;
}

#endif
