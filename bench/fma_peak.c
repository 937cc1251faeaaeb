/* fastnn: the machine's single-precision FMA peak, GFLOP/s per thread and in all, for 1..N threads: the
   ceiling every GEMM and convolution figure in bench/RESULTS.md is measured against.

     gcc -O3 -fopenmp bench/fma_peak.c -o fma_peak && ./fma_peak [max_threads=2] [seconds_per_run=0.5]

   Each thread runs 12 independent chains of 16-float AVX-512 FMAs (enough to cover the FMA latency on two
   ports); a CPU without AVX-512 runs 8-float AVX2 FMAs.  Best of 3 runs per thread count. */
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

#define CHAINS 12

__attribute__((target("avx512f"))) static float chains512(long iters) {
    __m512 a[CHAINS];
    const __m512 b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
    for (int i = 0; i < CHAINS; i++) a[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < CHAINS; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
    __m512 s = a[0];
    for (int i = 1; i < CHAINS; i++) s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float chains256(long iters) {
    __m256 a[CHAINS];
    const __m256 b = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(0.001f);
    for (int i = 0; i < CHAINS; i++) a[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < CHAINS; i++) a[i] = _mm256_fmadd_ps(a[i], b, c);
    float out[8], s = 0.0f;
    __m256 t = a[0];
    for (int i = 1; i < CHAINS; i++) t = _mm256_add_ps(t, a[i]);
    _mm256_storeu_ps(out, t);
    for (int i = 0; i < 8; i++) s += out[i];
    return s;
}

int main(int argc, char **argv) {
    int maxt = argc > 1 ? atoi(argv[1]) : 2;
    double secs = argc > 2 ? atof(argv[2]) : 0.5;
    __builtin_cpu_init();
    const int wide = __builtin_cpu_supports("avx512f");
    const double flops_per_iter = CHAINS * (wide ? 16 : 8) * 2.0;
    /* calibrate: iterations for ~secs on one thread */
    long iters = 1000000;
    for (;;) {
        double t0 = now();
        volatile float s = wide ? chains512(iters) : chains256(iters);
        (void)s;
        double dt = now() - t0;
        if (dt > 0.05) {
            iters = (long)((double)iters * secs / dt);
            break;
        }
        iters *= 4;
    }
    printf("%s FMA, %d chains, %ld iterations per thread\n", wide ? "AVX-512" : "AVX2", CHAINS, iters);
    for (int t = 1; t <= maxt; t++) {
        double best = 1e30;
        float sink = 0.0f;
        for (int rep = 0; rep < 3; rep++) {
            double t0 = now();
#pragma omp parallel num_threads(t) reduction(+ : sink)
            sink += wide ? chains512(iters) : chains256(iters);
            double dt = now() - t0;
            if (dt < best) best = dt;
        }
        double gf = (double)t * (double)iters * flops_per_iter / best / 1e9;
        printf("threads %2d: %7.1f GFLOP/s in all, %6.1f per thread   (checksum %g)\n", t, gf, gf / t, (double)sink);
    }
    return 0;
}
