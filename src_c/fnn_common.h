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

/* Force inlining: elementwise bodies are compiled once per SIMD target by inlining them into wrappers that
   carry a target attribute (see FNN_TARGET_*), so their helpers must be inlined too. */
#if defined(__GNUC__) || defined(__clang__)
#define FNN_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define FNN_INLINE static __forceinline
#else
#define FNN_INLINE static inline
#endif

/* Per-function SIMD targets (x86-64 with gcc/clang): the build itself stays baseline (never -march). */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define FNN_X86_TARGETS 1
#define FNN_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define FNN_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))
#endif

/* Status codes returned by every kernel (never abort, never print). */
enum {
    FNN_OK = 0,
    FNN_ERR_NOMEM = 1,   /* allocation failed */
    FNN_ERR_ARG = 2,     /* invalid dimension or option */
    FNN_ERR_ISA = 3,     /* requested SIMD path not supported by this CPU */
    FNN_ERR_NONFINITE = 4 /* loss or gradient became NaN/Inf */
};

/* Flush-to-zero and denormals-are-zero for the calling thread, between fnn_ftz_enter() and fnn_ftz_leave(old)
   (which restores the caller's setting).  Subnormal operands or results cost a microcode assist of about a
   hundred cycles each on x86; optimizer state that decays geometrically (Adam's moments of parameters whose
   gradients are zero or tiny) drifts into that range within a few hundred steps and slowed the update 5-10x.
   No effect where there is no MXCSR. */
#if defined(__SSE2__) || defined(_M_X64)
#include <xmmintrin.h>
static inline unsigned fnn_ftz_enter(void) {
    const unsigned old = _mm_getcsr();
    _mm_setcsr(old | 0x8040u);   // FTZ (bit 15) | DAZ (bit 6)
    return old;
}
static inline void fnn_ftz_leave(unsigned old) { _mm_setcsr(old); }
#else
static inline unsigned fnn_ftz_enter(void) { return 0u; }
static inline void fnn_ftz_leave(unsigned old) { (void)old; }
#endif

/* Work (in floating-point operations, roughly) per thread: a kernel gets one thread per this much, so it runs
   on one thread below twice this.  Tried 256k (2026-11-28): Nielsen's CNNs at batch 64 gained 6-30% on 2
   threads (noisy), but the small MLP steps lost 10-37% (54-100-1 at batch 256: 107 -> 163 us per step on 2
   threads; a team's fork/join costs more than a 10 us pass on this VM), so it stays at 1M. */
#ifndef FNN_PAR_MIN_WORK
#define FNN_PAR_MIN_WORK 1048576.0
#endif

/* The work of one element of a memory-bound pass (an elementwise sum, a batch-norm or ReLU-gradient sweep, a
   reduction of partial sums), in those units: ~16 GEMM flops take as long as streaming one float through L2 on
   this class of machine, so such a pass splits at ~64k elements per thread.  At 4 per element (the old
   weight) the small ResNet's 64x64x7x7 batch norms and residual sums (200k elements, 60-120 us each) ran on
   one thread while the other waited: 15% of a 2-thread epoch's cycles were spent at OpenMP barriers. */
#define FNN_ELEM_COST 16.0

/* Threads to use for `work` units given the caller's budget; 1 when below the threshold. */
static inline int fnn_threads_for(double work, int n_threads) {
    if (n_threads < 1) return 1;
    if (work < FNN_PAR_MIN_WORK) return 1;
    double t = work / FNN_PAR_MIN_WORK;
    return t < (double)n_threads ? (int)t < 1 ? 1 : (int)t : n_threads;
}

#endif
