/* fastnn: batch normalisation, the plain twins for the tests: one thread, per channel, every sum serial in
   double, every element computed in double from the textbook formula. */
#include <math.h>

#include "fnn_pool.h"

// y (N,C,S), mean (C), invstd (C), running stats (C) = batch norm in training of x (N,C,S)
int fnn_bn_forward_train_naive(float *y, float *mean, float *invstd, float *running_mean, float *running_var,
                               const float *x, const float *gamma, const float *beta, float momentum, float eps,
                               ptrdiff_t N, ptrdiff_t C, ptrdiff_t S) {
    if (N < 0 || C < 0 || S < 1 || N * S < 2 || !(eps >= 0.0f) || !isfinite(momentum)) return FNN_ERR_ARG;
    const double M = (double)(N * S), mom = (double)momentum;
    for (ptrdiff_t c = 0; c < C; c++) {
        double sum = 0.0, sq = 0.0;
        for (ptrdiff_t n = 0; n < N; n++)
            for (ptrdiff_t s = 0; s < S; s++) sum += (double)x[(n * C + c) * S + s];
        double m = sum / M;
        for (ptrdiff_t n = 0; n < N; n++)
            for (ptrdiff_t s = 0; s < S; s++) {
                double d = (double)x[(n * C + c) * S + s] - m;
                sq += d * d;
            }
        double inv = 1.0 / sqrt(sq / M + (double)eps);
        double g = gamma ? (double)gamma[c] : 1.0, b = beta ? (double)beta[c] : 0.0;
        for (ptrdiff_t n = 0; n < N; n++)
            for (ptrdiff_t s = 0; s < S; s++) {
                ptrdiff_t i = (n * C + c) * S + s;
                y[i] = (float)(g * ((double)x[i] - m) * inv + b);
            }
        mean[c] = (float)m;
        invstd[c] = (float)inv;
        if (running_mean) running_mean[c] = (float)((1.0 - mom) * (double)running_mean[c] + mom * m);
        if (running_var) running_var[c] = (float)((1.0 - mom) * (double)running_var[c] + mom * sq / (M - 1.0));
    }
    return FNN_OK;
}

// dx (N,C,S), dgamma (C), dbeta (C) = batch-norm backward from dy (N,C,S), x and the saved mean/invstd
int fnn_bn_backward_naive(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *mean,
                          const float *invstd, const float *gamma, ptrdiff_t N, ptrdiff_t C, ptrdiff_t S) {
    if (N < 0 || C < 0 || S < 1 || N * S < 1) return FNN_ERR_ARG;
    const double M = (double)(N * S);
    for (ptrdiff_t c = 0; c < C; c++) {
        double m = (double)mean[c], inv = (double)invstd[c], g = gamma ? (double)gamma[c] : 1.0;
        double sdyg = 0.0, sdygx = 0.0, sdy = 0.0, sdyx = 0.0;
        for (ptrdiff_t n = 0; n < N; n++)
            for (ptrdiff_t s = 0; s < S; s++) {
                ptrdiff_t i = (n * C + c) * S + s;
                double xhat = ((double)x[i] - m) * inv, d = (double)dy[i];
                sdy += d;
                sdyx += d * xhat;
                sdyg += d * g;
                sdygx += d * g * xhat;
            }
        for (ptrdiff_t n = 0; n < N; n++)
            for (ptrdiff_t s = 0; s < S; s++) {
                ptrdiff_t i = (n * C + c) * S + s;
                double xhat = ((double)x[i] - m) * inv;
                dx[i] = (float)(inv / M * (M * (double)dy[i] * g - sdyg - xhat * sdygx));
            }
        if (dgamma) dgamma[c] = (float)sdyx;
        if (dbeta) dbeta[c] = (float)sdy;
    }
    return FNN_OK;
}
