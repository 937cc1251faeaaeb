/* fastnn: batch normalisation over x (N, C, S), the fast path.

   Work units depend only on (C, S): with S > 1 (BatchNorm2d) one channel per unit, whose N rows of S
   contiguous values are summed in double into BN_LANES lane accumulators (value s of a row goes to lane
   s % BN_LANES, remainders included) folded in a fixed tree at the end; with S == 1 (BatchNorm1d) a block of
   BN_CBLOCK adjacent channels per unit, each channel summed serially over n.  Units run on OpenMP threads
   with schedule(static), each computed by the same code whichever thread runs it: bitwise identical results
   for any n_threads.  The elementwise passes use per-channel floats: y = (x - mean) * scale + shift, which
   keeps the precision that x * scale + (shift - mean * scale) loses to cancellation on offset channels. */
#include <math.h>

#include "fnn_cpu.h"
#include "fnn_pool.h"

#define BN_LANES 8
#define BN_CBLOCK 64

typedef struct {
    float *y, *mean, *invstd, *rmean, *rvar, *dgamma, *dbeta;
    const float *x, *dy, *gamma, *beta, *cmean, *cinvstd, *crmean, *crvar;
    double momentum, eps;
    ptrdiff_t N, C, S;
    int relu;   /* forward: y = max(y, 0) in the same pass (a following ReLU fused) */
} bn_ctx;

typedef void (*bn_unit_fn)(const bn_ctx *c, ptrdiff_t u);

static void run_units(bn_unit_fn fn, const bn_ctx *c, ptrdiff_t nu, double work, int n_threads) {
    int nt = fnn_threads_for(work, n_threads);
    if ((ptrdiff_t)nt > nu) nt = (int)nu;
#ifdef _OPENMP
    if (nt > 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (ptrdiff_t u = 0; u < nu; u++) fn(c, u);
        return;
    }
#endif
    (void)nt;
    for (ptrdiff_t u = 0; u < nu; u++) fn(c, u);
}

FNN_INLINE double fold(const double *a) {
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

// sum of x over channel c of x (N,C,S), lane accumulators
FNN_INLINE double chan_sum(const float *x, ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, ptrdiff_t c) {
    double acc[BN_LANES] = {0};
    for (ptrdiff_t n = 0; n < N; n++) {
        const float *p = x + (n * C + c) * S;
        ptrdiff_t s = 0;
        for (; s + BN_LANES <= S; s += BN_LANES)
            for (int k = 0; k < BN_LANES; k++) acc[k] += (double)p[s + k];
        for (int k = 0; s + k < S; k++) acc[k] += (double)p[s + k];
    }
    return fold(acc);
}

// sum of (x - m)^2 over channel c of x (N,C,S)
FNN_INLINE double chan_sqdev(const float *x, double m, ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, ptrdiff_t c) {
    double acc[BN_LANES] = {0};
    for (ptrdiff_t n = 0; n < N; n++) {
        const float *p = x + (n * C + c) * S;
        ptrdiff_t s = 0;
        for (; s + BN_LANES <= S; s += BN_LANES)
            for (int k = 0; k < BN_LANES; k++) {
                double d = (double)p[s + k] - m;
                acc[k] += d * d;
            }
        for (int k = 0; s + k < S; k++) {
            double d = (double)p[s + k] - m;
            acc[k] += d * d;
        }
    }
    return fold(acc);
}

// sum of dy and of dy * (x - m) over channel c of (N,C,S)
FNN_INLINE void chan_dsums(double *sdy, double *sdyx, const float *dy, const float *x, double m, ptrdiff_t N,
                       ptrdiff_t C, ptrdiff_t S, ptrdiff_t c) {
    double a[BN_LANES] = {0}, b[BN_LANES] = {0};
    for (ptrdiff_t n = 0; n < N; n++) {
        const float *p = x + (n * C + c) * S, *q = dy + (n * C + c) * S;
        ptrdiff_t s = 0;
        for (; s + BN_LANES <= S; s += BN_LANES)
            for (int k = 0; k < BN_LANES; k++) {
                double g = (double)q[s + k];
                a[k] += g;
                b[k] += g * ((double)p[s + k] - m);
            }
        for (int k = 0; s + k < S; k++) {
            double g = (double)q[s + k];
            a[k] += g;
            b[k] += g * ((double)p[s + k] - m);
        }
    }
    *sdy = fold(a);
    *sdyx = fold(b);
}

/* Batch statistics of channel c from its sum and squared-deviation sum: saves mean/invstd, moves the running
   statistics, returns the float scale and shift of the normalisation. */
FNN_INLINE void train_stats(const bn_ctx *c, ptrdiff_t ch, double mean, double sqdev, float *scale, float *shift) {
    const double M = (double)(c->N * c->S);
    double var = sqdev / M, inv = 1.0 / sqrt(var + c->eps);
    c->mean[ch] = (float)mean;
    c->invstd[ch] = (float)inv;
    if (c->rmean) c->rmean[ch] = (float)(c->momentum * mean + (1.0 - c->momentum) * (double)c->rmean[ch]);
    if (c->rvar) c->rvar[ch] = (float)(c->momentum * (sqdev / (M - 1.0)) + (1.0 - c->momentum) * (double)c->rvar[ch]);
    double g = c->gamma ? (double)c->gamma[ch] : 1.0, b = c->beta ? (double)c->beta[ch] : 0.0;
    *scale = (float)(g * inv);
    *shift = (float)b;
}

FNN_INLINE void eval_coefs(const bn_ctx *c, ptrdiff_t ch, float *scale, float *shift) {
    double inv = 1.0 / sqrt((double)c->crvar[ch] + c->eps);
    double g = c->gamma ? (double)c->gamma[ch] : 1.0;
    *scale = (float)(g * inv);
    *shift = c->beta ? c->beta[ch] : 0.0f;
}

// y (N,S) of channel c = (x - m) * scale + shift, then max(y, 0) when relu
FNN_INLINE void chan_affine(float *y, const float *x, float m, float scale, float shift, ptrdiff_t N, ptrdiff_t C,
                            ptrdiff_t S, ptrdiff_t c, int relu) {
    for (ptrdiff_t n = 0; n < N; n++) {
        float *FNN_RESTRICT q = y + (n * C + c) * S;
        const float *FNN_RESTRICT p = x + (n * C + c) * S;
        if (relu) {
            for (ptrdiff_t s = 0; s < S; s++) {
                const float v = (p[s] - m) * scale + shift;
                q[s] = v > 0.0f ? v : 0.0f;
            }
        } else {
            for (ptrdiff_t s = 0; s < S; s++) q[s] = (p[s] - m) * scale + shift;
        }
    }
}

// one row of a channel block: q[j] = (r[j] - m[j]) * scale[j] + shift[j], then max(., 0) when relu
FNN_INLINE void block_affine(float *FNN_RESTRICT q, const float *FNN_RESTRICT r, const float *FNN_RESTRICT m,
                             const float *FNN_RESTRICT scale, const float *FNN_RESTRICT shift, ptrdiff_t nc, int relu) {
    if (relu) {
        for (ptrdiff_t j = 0; j < nc; j++) {
            const float v = (r[j] - m[j]) * scale[j] + shift[j];
            q[j] = v > 0.0f ? v : 0.0f;
        }
    } else {
        for (ptrdiff_t j = 0; j < nc; j++) q[j] = (r[j] - m[j]) * scale[j] + shift[j];
    }
}

// unit = channel (S > 1): y, mean, invstd, running stats of channel u
FNN_INLINE void train_chan_impl(const bn_ctx *c, ptrdiff_t u) {
    const double M = (double)(c->N * c->S);
    double mean = chan_sum(c->x, c->N, c->C, c->S, u) / M;
    double sq = chan_sqdev(c->x, mean, c->N, c->C, c->S, u);
    float scale, shift;
    train_stats(c, u, mean, sq, &scale, &shift);
    chan_affine(c->y, c->x, c->mean[u], scale, shift, c->N, c->C, c->S, u, c->relu);
}

// unit = block of BN_CBLOCK channels (S == 1): x (N,C) rows read contiguously across the block
FNN_INLINE void train_block_impl(const bn_ctx *c, ptrdiff_t u) {
    const ptrdiff_t N = c->N, C = c->C, c0 = u * BN_CBLOCK, nc = C - c0 < BN_CBLOCK ? C - c0 : BN_CBLOCK;
    const double M = (double)N;
    double acc[BN_CBLOCK], mean[BN_CBLOCK];
    float scale[BN_CBLOCK], shift[BN_CBLOCK];
    const float *mf = c->mean + c0;
    for (ptrdiff_t j = 0; j < nc; j++) acc[j] = 0.0;
    for (ptrdiff_t n = 0; n < N; n++) {
        const float *r = c->x + n * C + c0;
        for (ptrdiff_t j = 0; j < nc; j++) acc[j] += (double)r[j];
    }
    for (ptrdiff_t j = 0; j < nc; j++) {
        mean[j] = acc[j] / M;
        acc[j] = 0.0;
    }
    for (ptrdiff_t n = 0; n < N; n++) {
        const float *r = c->x + n * C + c0;
        for (ptrdiff_t j = 0; j < nc; j++) {
            double d = (double)r[j] - mean[j];
            acc[j] += d * d;
        }
    }
    for (ptrdiff_t j = 0; j < nc; j++) train_stats(c, c0 + j, mean[j], acc[j], &scale[j], &shift[j]);
    for (ptrdiff_t n = 0; n < N; n++) block_affine(c->y + n * C + c0, c->x + n * C + c0, mf, scale, shift, nc, c->relu);
}

FNN_INLINE void eval_chan_impl(const bn_ctx *c, ptrdiff_t u) {
    float scale, shift;
    eval_coefs(c, u, &scale, &shift);
    chan_affine(c->y, c->x, c->crmean[u], scale, shift, c->N, c->C, c->S, u, c->relu);
}

FNN_INLINE void eval_block_impl(const bn_ctx *c, ptrdiff_t u) {
    const ptrdiff_t N = c->N, C = c->C, c0 = u * BN_CBLOCK, nc = C - c0 < BN_CBLOCK ? C - c0 : BN_CBLOCK;
    float scale[BN_CBLOCK], shift[BN_CBLOCK];
    const float *mf = c->crmean + c0;
    for (ptrdiff_t j = 0; j < nc; j++) eval_coefs(c, c0 + j, &scale[j], &shift[j]);
    for (ptrdiff_t n = 0; n < N; n++) block_affine(c->y + n * C + c0, c->x + n * C + c0, mf, scale, shift, nc, c->relu);
}

/* Backward coefficients of channel ch from sum(dy) and sum(dy * (x - mean)):
   dx = (dy - a - (x - mean) * p) * k with k = gamma * invstd, a = sum(dy) / M, p = invstd^2 sum(dy (x - mean)) / M. */
FNN_INLINE void back_coefs(const bn_ctx *c, ptrdiff_t ch, double sdy, double sdyx, float *k, float *a, float *p) {
    const double M = (double)(c->N * c->S);
    double inv = (double)c->cinvstd[ch], g = c->gamma ? (double)c->gamma[ch] : 1.0;
    if (c->dbeta) c->dbeta[ch] = (float)sdy;
    if (c->dgamma) c->dgamma[ch] = (float)(sdyx * inv);
    *k = (float)(g * inv);
    *a = (float)(sdy / M);
    *p = (float)(inv * inv * sdyx / M);
}

FNN_INLINE void back_chan_impl(const bn_ctx *c, ptrdiff_t u) {
    const ptrdiff_t N = c->N, C = c->C, S = c->S;
    const float m = c->cmean[u];
    double sdy, sdyx;
    chan_dsums(&sdy, &sdyx, c->dy, c->x, (double)m, N, C, S, u);
    float k, a, p;
    back_coefs(c, u, sdy, sdyx, &k, &a, &p);
    for (ptrdiff_t n = 0; n < N; n++) {
        float *FNN_RESTRICT q = c->y + (n * C + u) * S;
        const float *FNN_RESTRICT xr = c->x + (n * C + u) * S, *FNN_RESTRICT g = c->dy + (n * C + u) * S;
        for (ptrdiff_t s = 0; s < S; s++) q[s] = (g[s] - a - (xr[s] - m) * p) * k;
    }
}

FNN_INLINE void back_block_impl(const bn_ctx *c, ptrdiff_t u) {
    const ptrdiff_t N = c->N, C = c->C, c0 = u * BN_CBLOCK, nc = C - c0 < BN_CBLOCK ? C - c0 : BN_CBLOCK;
    double sa[BN_CBLOCK], sb[BN_CBLOCK], m[BN_CBLOCK];
    float k[BN_CBLOCK], a[BN_CBLOCK], p[BN_CBLOCK], mf[BN_CBLOCK];
    for (ptrdiff_t j = 0; j < nc; j++) {
        sa[j] = sb[j] = 0.0;
        mf[j] = c->cmean[c0 + j];
        m[j] = (double)mf[j];
    }
    for (ptrdiff_t n = 0; n < N; n++) {
        const float *r = c->x + n * C + c0, *g = c->dy + n * C + c0;
        for (ptrdiff_t j = 0; j < nc; j++) {
            double gv = (double)g[j];
            sa[j] += gv;
            sb[j] += gv * ((double)r[j] - m[j]);
        }
    }
    for (ptrdiff_t j = 0; j < nc; j++) back_coefs(c, c0 + j, sa[j], sb[j], &k[j], &a[j], &p[j]);
    for (ptrdiff_t n = 0; n < N; n++) {
        const float *FNN_RESTRICT r = c->x + n * C + c0, *FNN_RESTRICT g = c->dy + n * C + c0;
        float *FNN_RESTRICT q = c->y + n * C + c0;
        for (ptrdiff_t j = 0; j < nc; j++) q[j] = (g[j] - a[j] - (r[j] - mf[j]) * p[j]) * k[j];
    }
}

/* Each unit three times: portable, and compiled for AVX2+FMA and for AVX-512 (the same C: the double lane
   sums become 4- or 8-wide vector adds instead of SSE2 pairs, and the compiler contracts multiply-adds into
   FMAs, so the paths differ in the last bits; each is bitwise identical for any thread count), chosen per
   call by the active ISA. */
#ifdef FNN_X86_TARGETS
#define BN_UNIT(name)                                                                                            \
    static void name(const bn_ctx *c, ptrdiff_t u) { name##_impl(c, u); }                                        \
    FNN_TARGET_AVX2 static void name##_avx2(const bn_ctx *c, ptrdiff_t u) { name##_impl(c, u); }                 \
    FNN_TARGET_AVX512 static void name##_avx512(const bn_ctx *c, ptrdiff_t u) { name##_impl(c, u); }
#define BN_PICK(name)                                                                                            \
    (fnn_get_isa() == FNN_ISA_AVX512 ? name##_avx512 : fnn_get_isa() == FNN_ISA_AVX2 ? name##_avx2 : name)
#else
#define BN_UNIT(name) static void name(const bn_ctx *c, ptrdiff_t u) { name##_impl(c, u); }
#define BN_PICK(name) name
#endif
BN_UNIT(train_chan)
BN_UNIT(train_block)
BN_UNIT(eval_chan)
BN_UNIT(eval_block)
BN_UNIT(back_chan)
BN_UNIT(back_block)

FNN_INLINE int dims_ok(ptrdiff_t N, ptrdiff_t C, ptrdiff_t S) { return N >= 0 && C >= 0 && S >= 1; }

int fnn_bn_forward_train(float *y, float *mean, float *invstd, float *running_mean, float *running_var,
                         const float *x, const float *gamma, const float *beta, float momentum, float eps,
                         ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, int n_threads) {
    return fnn_bn_forward_train_ep(y, mean, invstd, running_mean, running_var, x, gamma, beta, momentum, eps, N, C,
                                   S, 0, n_threads);
}

int fnn_bn_forward_train_ep(float *y, float *mean, float *invstd, float *running_mean, float *running_var,
                            const float *x, const float *gamma, const float *beta, float momentum, float eps,
                            ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, int relu, int n_threads) {
    if (!dims_ok(N, C, S) || N * S < 2 || !(eps >= 0.0f) || !isfinite(momentum)) return FNN_ERR_ARG;
    if (C == 0) return FNN_OK;
    if (!y || !mean || !invstd || !x) return FNN_ERR_ARG;
    bn_ctx c = {0};
    c.y = y; c.mean = mean; c.invstd = invstd; c.rmean = running_mean; c.rvar = running_var;
    c.x = x; c.gamma = gamma; c.beta = beta;
    c.momentum = (double)momentum; c.eps = (double)eps;
    c.N = N; c.C = C; c.S = S; c.relu = relu != 0;
    double work = 6.0 * (double)N * (double)C * (double)S;
    if (S == 1) run_units(BN_PICK(train_block), &c, (C + BN_CBLOCK - 1) / BN_CBLOCK, work, n_threads);
    else run_units(BN_PICK(train_chan), &c, C, work, n_threads);
    return FNN_OK;
}

int fnn_bn_forward_eval(float *y, const float *x, const float *gamma, const float *beta, const float *running_mean,
                        const float *running_var, float eps, ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, int n_threads) {
    return fnn_bn_forward_eval_ep(y, x, gamma, beta, running_mean, running_var, eps, N, C, S, 0, n_threads);
}

int fnn_bn_forward_eval_ep(float *y, const float *x, const float *gamma, const float *beta,
                           const float *running_mean, const float *running_var, float eps, ptrdiff_t N, ptrdiff_t C,
                           ptrdiff_t S, int relu, int n_threads) {
    if (!dims_ok(N, C, S) || !(eps >= 0.0f)) return FNN_ERR_ARG;
    if (C == 0 || N == 0) return FNN_OK;
    if (!y || !x || !running_mean || !running_var) return FNN_ERR_ARG;
    bn_ctx c = {0};
    c.y = y; c.x = x; c.gamma = gamma; c.beta = beta; c.crmean = running_mean; c.crvar = running_var;
    c.eps = (double)eps;
    c.N = N; c.C = C; c.S = S; c.relu = relu != 0;
    double work = 2.0 * (double)N * (double)C * (double)S;
    if (S == 1) run_units(BN_PICK(eval_block), &c, (C + BN_CBLOCK - 1) / BN_CBLOCK, work, n_threads);
    else run_units(BN_PICK(eval_chan), &c, C, work, n_threads);
    return FNN_OK;
}

int fnn_bn_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *mean,
                    const float *invstd, const float *gamma, ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, int n_threads) {
    if (!dims_ok(N, C, S) || N * S < 1) return FNN_ERR_ARG;
    if (C == 0) return FNN_OK;
    if (!dx || !dy || !x || !mean || !invstd) return FNN_ERR_ARG;
    bn_ctx c = {0};
    c.y = dx; c.dgamma = dgamma; c.dbeta = dbeta; c.dy = dy; c.x = x; c.cmean = mean; c.cinvstd = invstd;
    c.gamma = gamma;
    c.N = N; c.C = C; c.S = S;
    double work = 8.0 * (double)N * (double)C * (double)S;
    if (S == 1) run_units(BN_PICK(back_block), &c, (C + BN_CBLOCK - 1) / BN_CBLOCK, work, n_threads);
    else run_units(BN_PICK(back_chan), &c, C, work, n_threads);
    return FNN_OK;
}
