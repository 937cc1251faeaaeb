/* fastnn: C-level SGEMM timing, no Python: GFLOP/s of fnn_sgemm per shape and thread count, and the speed-up
   over the first thread count.  For a quiet many-core machine (thread scaling) or kernel A/B runs.

     gcc -O3 -std=gnu11 -fno-math-errno -fno-trapping-math -fopenmp -Isrc_c bench/gemm_scaling.c \
         src_c/fnn_gemm*.c src_c/fnn_cpu.c src_c/fnn_util.c -lm -o gemm_scaling
     OMP_PROC_BIND=close OMP_PLACES=cores ./gemm_scaling 1,2,4,8,16 [samples=5]

   Shapes: the 784-1024-1024-10 network at batch 1024 (forward B^T, dW A^T, dX), then squares.  Each cell is
   the best of `samples` samples (each ~30 ms of calls); thread counts are interleaved within a sample. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fnn_gemm.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* M, N, K, trans_a, trans_b */
static const int shapes[][5] = {
    {1024, 1024, 784, 0, 1}, {1024, 1024, 1024, 0, 1}, {1024, 784, 1024, 1, 0}, {1024, 1024, 1024, 1, 0},
    {1024, 1024, 1024, 0, 0}, {1024, 10, 1024, 0, 1},  {10, 1024, 1024, 1, 0},  {1024, 1024, 10, 0, 0},
    {256, 256, 256, 0, 0},    {512, 512, 512, 0, 0},   {2048, 2048, 2048, 0, 0}};
#define NSHAPE ((int)(sizeof shapes / sizeof shapes[0]))
#define MAXT 16

int main(int argc, char **argv) {
    int th[MAXT], nth = 0, samples = argc > 2 ? atoi(argv[2]) : 5;
    char list[256] = "1,2";
    if (argc > 1) snprintf(list, sizeof list, "%s", argv[1]);
    for (char *t = strtok(list, ","); t && nth < MAXT; t = strtok(NULL, ",")) th[nth++] = atoi(t);
    size_t big = (size_t)2048 * 2048;
    float *a = malloc(big * sizeof(float)), *b = malloc(big * sizeof(float)), *c = malloc(big * sizeof(float));
    if (!a || !b || !c) return 1;
    for (size_t i = 0; i < big; i++) {
        a[i] = (float)((int)(i * 7 % 13) - 6) / 7.0f;
        b[i] = (float)((int)(i * 5 % 11) - 5) / 5.0f;
        c[i] = 0.0f;
    }
    printf("%-26s", "M x N x K (fnn_sgemm)");
    for (int t = 0; t < nth; t++) printf(" | %3dt GF/s%s", th[t], t ? "   x1t" : "");
    printf("\n");
    for (int s = 0; s < NSHAPE; s++) {
        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], ta = shapes[s][3], tb = shapes[s][4];
        ptrdiff_t lda = ta ? m : k, ldb = tb ? k : n;
        double fl = 2.0 * m * n * k, best[MAXT];
        int reps[MAXT];
        for (int t = 0; t < nth; t++) {
            fnn_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n, th[t]);
            double t0 = now();
            fnn_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n, th[t]);
            double once = now() - t0;
            reps[t] = once > 0.03 ? 1 : (int)(0.03 / (once > 1e-7 ? once : 1e-7));
            best[t] = 1e30;
        }
        for (int r = 0; r < samples; r++)
            for (int t = 0; t < nth; t++) {
                double t0 = now();
                for (int q = 0; q < reps[t]; q++) fnn_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n, th[t]);
                double dt = (now() - t0) / reps[t];
                if (dt < best[t]) best[t] = dt;
            }
        char lab[64];
        snprintf(lab, sizeof lab, "%dx%dx%d%s%s", m, n, k, ta ? " A^T" : "", tb ? " B^T" : "");
        printf("%-26s", lab);
        for (int t = 0; t < nth; t++) {
            printf(" | %9.1f", fl / best[t] / 1e9);
            if (t) printf(" %5.2f", best[0] / best[t]);
        }
        printf("\n");
        fflush(stdout);
    }
    printf("(best of %d samples; x1t = speed-up over %d thread(s))\n", samples, th[0]);
    free(a); free(b); free(c);
    return 0;
}
