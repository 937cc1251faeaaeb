/* fastnn: the machine's single-precision FMA peak, GFLOP/s per thread and in all, for 1..N threads: the
   ceiling every GEMM and convolution figure in bench/RESULTS.md is measured against.

     gcc -O3 -fopenmp bench/fma_peak.c -o fma_peak && ./fma_peak [max_threads=2] [seconds_per_run=0.5]

   Each thread runs 8, then 12, independent chains of 16-float AVX-512 FMAs (enough to cover the FMA latency
   on two ports); a CPU without AVX-512 runs 8-float AVX2 FMAs.  Best of 3 runs per thread count; the peak is
   the larger of the two chain counts' figures. */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* n independent chains of FMAs (n = 8 or 12: 8 is the two-port x four-cycle minimum and the best on Zen 3,
   where 12 chains ran at a third of the rate; 12 suits cores with a longer latency).  The best counts. */
#define CHAINS_FN(NAME, TARGET, VEC, SET1, FMA, ADD, N)                                                           \
    __attribute__((target(TARGET))) static float NAME(long iters) {                                              \
        VEC a[N];                                                                                                \
        const VEC b = SET1(0.999f), c = SET1(0.001f);                                                            \
        for (int i = 0; i < N; i++) a[i] = SET1((float)i);                                                       \
        for (long it = 0; it < iters; it++)                                                                      \
            for (int i = 0; i < N; i++) a[i] = FMA(a[i], b, c);                                                  \
        VEC t = a[0];                                                                                            \
        for (int i = 1; i < N; i++) t = ADD(t, a[i]);                                                            \
        float out[sizeof(VEC) / sizeof(float)], s = 0.0f;                                                        \
        __builtin_memcpy(out, &t, sizeof(t));                                                                    \
        for (unsigned i = 0; i < sizeof(VEC) / sizeof(float); i++) s += out[i];                                  \
        return s;                                                                                                \
    }
CHAINS_FN(chains512_8, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 8)
CHAINS_FN(chains512_12, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 12)
CHAINS_FN(chains256_8, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 8)
CHAINS_FN(chains256_12, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 12)

static int wide, nch;
static float chains(long iters) {
    if (wide) return nch == 8 ? chains512_8(iters) : chains512_12(iters);
    return nch == 8 ? chains256_8(iters) : chains256_12(iters);
}

int main(int argc, char **argv) {
    int maxt = argc > 1 ? atoi(argv[1]) : 2;
    double secs = argc > 2 ? atof(argv[2]) : 0.5;
    __builtin_cpu_init();
    wide = __builtin_cpu_supports("avx512f");
    for (nch = 8; nch <= 12; nch += 4) {
        const double flops_per_iter = nch * (wide ? 16 : 8) * 2.0;
        /* calibrate: iterations for ~secs on one thread */
        long iters = 1000000;
        for (;;) {
            double t0 = now();
            volatile float s = chains(iters);
            (void)s;
            double dt = now() - t0;
            if (dt > 0.05) {
                iters = (long)((double)iters * secs / dt);
                break;
            }
            iters *= 4;
        }
        printf("%s FMA, %d chains, %ld iterations per thread\n", wide ? "AVX-512" : "AVX2", nch, iters);
        for (int t = 1; t <= maxt; t++) {
            double best = 1e30;
            float sink = 0.0f;
            for (int rep = 0; rep < 3; rep++) {
                double t0 = now();
#pragma omp parallel num_threads(t) reduction(+ : sink)
                sink += chains(iters);
                double dt = now() - t0;
                if (dt < best) best = dt;
            }
            double gf = (double)t * (double)iters * flops_per_iter / best / 1e9;
            printf("threads %2d: %7.1f GFLOP/s in all, %6.1f per thread   (checksum %g)\n", t, gf, gf / t,
                   (double)sink);
        }
    }
    return 0;
}
