/* fastnn: two builds of the SGEMM driver and its x86 kernels side by side in one process, interleaved round by
   round (best of the rounds for each): on a shared, noisy host this compares a change with the code before it
   under the same conditions, where separate processes drift 5-30% apart.  Built by bench/gemm_ab.sh, which
   compiles a git revision's fnn_gemm.c, fnn_gemm_avx2.c and fnn_gemm_generic.c with their symbols renamed
   (old_*) next to the working tree's.

     bash bench/gemm_ab.sh [REV=HEAD] && /tmp/fnn_gemm_ab THREADS ROUNDS  M K N TA TB  [M K N TA TB ...]
     e.g. /tmp/fnn_gemm_ab 1 11  128 784 100 0 0  128 1024 1024 0 1

   Each line: the best GFLOP/s of both and their ratio; the median of the rounds' own ratios (each round runs
   the two back to back, alternating which goes first) with its quartiles, steadier than the best-of ratio
   when the host's speed moves between samples; and DIFFERENT when the two builds' C differ bitwise (a change
   of blocking or of the order of the FMAs; the same tiles and K blocks must give the same C).  ORIENT=0|1 in
   the environment forces the orientation in both (C = A B or C^T = B^T A^T).  Both builds time into the same C.

   One binary can carry a bias of its own: the same source in both slots has read 0.94-1.08, one way over
   several consecutive runs (bench/RESULTS.md).  bench/gemm_ab_pair.py runs this binary and the one with the
   slots swapped ($AB_OUT.rev) and divides that bias out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fnn_gemm.h"

typedef int (*sgemm_fn)(int, int, ptrdiff_t, ptrdiff_t, ptrdiff_t, float, const float *, ptrdiff_t, const float *,
                        ptrdiff_t, float, float *, ptrdiff_t, int);
int old_sgemm(int, int, ptrdiff_t, ptrdiff_t, ptrdiff_t, float, const float *, ptrdiff_t, const float *, ptrdiff_t,
              float, float *, ptrdiff_t, int);
extern int fnn_gemm_orient_mode, old_orient_mode;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *filled(size_t n, int mod, float scale) {
    float *p = malloc((n + 16) * sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = scale * (float)((int)(i % (size_t)mod) - mod / 2);
    return p;
}

static int cmp_double(const void *p, const void *q) {
    const double a = *(const double *)p, b = *(const double *)q;
    return (a > b) - (a < b);
}

int main(int argc, char **argv) {
    if (argc < 8 || (argc - 3) % 5) {
        fprintf(stderr, "usage: %s THREADS ROUNDS M K N TA TB [M K N TA TB ...]\n", argv[0]);
        return 2;
    }
    const int nt = atoi(argv[1]), rounds = atoi(argv[2]);
    if (getenv("ORIENT")) fnn_gemm_orient_mode = old_orient_mode = atoi(getenv("ORIENT"));
    const sgemm_fn fn[2] = {old_sgemm, fnn_sgemm};
    for (int s = 3; s + 5 <= argc; s += 5) {
        const ptrdiff_t m = atol(argv[s]), k = atol(argv[s + 1]), n = atol(argv[s + 2]);
        const int ta = atoi(argv[s + 3]), tb = atoi(argv[s + 4]);
        float *a = filled((size_t)(m * k), 13, 1e-3f), *b = filled((size_t)(k * n), 11, 1e-3f);
        float *c[2] = {filled((size_t)(m * n), 7, 0.0f), filled((size_t)(m * n), 7, 0.0f)};
        const ptrdiff_t lda = ta ? m : k, ldb = tb ? k : n;
        for (int v = 0; v < 2; v++) fn[v](ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c[v], n, nt);
        const int same = memcmp(c[0], c[1], (size_t)(m * n) * sizeof(float)) == 0;
        double t0 = now();
        fn[1](ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c[1], n, nt);
        const int reps = (int)(0.03 / (now() - t0 + 1e-9)) + 1;
        double best[2] = {0.0, 0.0}, *ratio = malloc((size_t)rounds * sizeof(double));
        if (!ratio) return 1;
        for (int r = 0; r < rounds; r++) {
            double g[2];
            for (int s2 = 0; s2 < 2; s2++) {
                const int v = (r & 1) ? 1 - s2 : s2;   /* alternate which build goes first */
                t0 = now();
                for (int q = 0; q < reps; q++) fn[v](ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c[0], n, nt);
                g[v] = 2.0 * (double)m * (double)n * (double)k * reps / (now() - t0) * 1e-9;
                if (g[v] > best[v]) best[v] = g[v];
            }
            ratio[r] = g[1] / g[0];
        }
        qsort(ratio, (size_t)rounds, sizeof(double), cmp_double);
        printf("%6tdx%6tdx%6td%-8s %dt: old %6.1f new %6.1f GFLOP/s  best new/old %.3f  median %.3f [%.3f, %.3f]%s\n",
               m, k, n, ta && tb ? " A^T B^T" : ta ? " A^T" : tb ? " B^T" : "", nt, best[0], best[1],
               best[1] / best[0], ratio[rounds / 2], ratio[rounds / 4], ratio[(3 * rounds) / 4],
               same ? "" : "  DIFFERENT");
        free(ratio);
        fflush(stdout);
        free(a);
        free(b);
        free(c[0]);
        free(c[1]);
    }
    return 0;
}
