/* fastnn: batch normalisation over x (N, C, S), the fast path.

   Work units depend only on (C, S): with S > 1 (BatchNorm2d) one channel per unit, whose N rows of S
   contiguous values are summed in double into BN_LANES lane accumulators by a rule that depends on S only
   (see chan_dsq), folded in a fixed tree at the end; the training forward gets the mean and the variance from
   one pass (sums of x - K and (x - K)^2, K the channel's first value), the backward its two sums from one.
   With S == 1 (BatchNorm1d) a block of BN_CBLOCK adjacent channels per unit, each channel summed serially
   over n.  Units run on OpenMP threads with schedule(static), each computed by the same code whichever thread
   runs it: bitwise identical results for any n_threads.  The elementwise passes use per-channel floats:
   y = (x - mean) * scale + shift, which keeps the precision that x * scale + (shift - mean * scale) loses to
   cancellation on offset channels. */
#include <math.h>

#include "fnn_cpu.h"
#include "fnn_pool.h"

#define BN_CBLOCK 64

typedef struct {
    float *y, *mean, *invstd, *rmean, *rvar, *dgamma, *dbeta;
    const float *x, *dy, *gamma, *beta, *cmean, *cinvstd, *crmean, *crvar;
    const float *relu_y;   /* backward: dy masked by relu_y > 0 (a fused ReLU's backward), or NULL */
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

/* The lane sums of the S > 1 units: 16 double lanes per sum, value s of each row to lane s % 16 when it lies in
   one of the row's complete groups of four (s < S - S % 4), else (the last S % 4 values) to lane 12 + s % 4;
   each lane in row order, then the lanes folded in a fixed tree.  The rule depends on S only.  16 lanes are
   four AVX2 vectors per sum: enough independent adds in flight to hide the add latency, which bound the
   8-lane sums (one vector add every 3-4 cycles). */
#define BN_LANES 16

// sum of the 16 lanes l[4 v + j] (v = vector, j = its element): ((v0 + v1) + (v2 + v3)) by element, then the four
FNN_INLINE double fold(const double *l) {
    double t[4];
    for (int j = 0; j < 4; j++) t[j] = (l[j] + l[4 + j]) + (l[8 + j] + l[12 + j]);
    return (t[0] + t[1]) + (t[2] + t[3]);
}

#if (defined(__GNUC__) || defined(__clang__)) && !defined(FNN_BN_PLAIN)   // FNN_BN_PLAIN: test the plain code
#define BN_VEC 1
/* Four lanes as one value (the GCC/clang vector extension): one AVX2 register, two SSE2 ones.  The four
   accumulators per sum are such values so that they stay in registers across the rows: as double arrays
   GCC splits them into scalars, whose loop-carried sums its vectorizer no longer joins (2.5-4x slower). */
typedef double bn_d4 __attribute__((vector_size(32)));
// the lanes E(i) .. E(i + 3); the partial group: the first r (1..3) of them, then pad (nothing read past them)
#define BN_D4(E, i) ((bn_d4){E(i), E((i) + 1), E((i) + 2), E((i) + 3)})
#define BN_D4_PART(E, i, r, pad) ((bn_d4){E(i), (r) > 1 ? E((i) + 1) : (pad), (r) > 2 ? E((i) + 2) : (pad), (pad)})
#define BN_D4_STORE(l, v0, v1, v2, v3)                                                                           \
    for (int j_ = 0; j_ < 4; j_++) {                                                                             \
        (l)[j_] = (v0)[j_]; (l)[4 + j_] = (v1)[j_]; (l)[8 + j_] = (v2)[j_]; (l)[12 + j_] = (v3)[j_];             \
    }
#endif

/* Sum of d and of d^2, d = x - K, over channel c of x (N,C,S): one pass for the batch statistics,
   mean = K + sum(d) / M and Q = sum((x - mean)^2) = sum(d^2) - sum(d)^2 / M.  Precision, with u = 2^-53 and
   n ~ M / 16 terms per lane: d = (double)x - K is exact or within u |d| (two floats), and the lane sums have
   errors <= n u sum(|d|) and n u sum(d^2), so Q is within about 3 n u sum(d^2) = 3 n u Q (1 + z^2),
   z = (K - mean) / std, of its value.  K is one of the channel's values (its first), so z is one sample's
   deviation: a few units in practice (1e-10 of Q at z = 10, n = 3000; and these are bounds, the rounding
   errors mostly cancel), and z^2 < M at worst, when that sample carries nearly all of the variance (one value
   cannot deviate more than all of them together).  Without the shift the factor is 1 + mean^2 / var, the
   cancellation that ruins E[x^2] - E[x]^2 on offset channels (1e10 for values 1000 + N(0, 0.01^2)). */
FNN_INLINE void chan_dsq(double *s1, double *s2, const float *x, double K, ptrdiff_t N, ptrdiff_t C, ptrdiff_t S,
                         ptrdiff_t c) {
    double la[BN_LANES], lb[BN_LANES];
    const ptrdiff_t S4 = S - S % 4;
#ifdef BN_VEC
    const bn_d4 k = {K, K, K, K};
    bn_d4 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    for (ptrdiff_t n = 0; n < N; n++) {
        const float *p = x + (n * C + c) * S;
#define BN_X(i) (double)p[i]
        ptrdiff_t s = 0;
        for (; s + 16 <= S; s += 16) {
            const bn_d4 d0 = BN_D4(BN_X, s) - k, d1 = BN_D4(BN_X, s + 4) - k, d2 = BN_D4(BN_X, s + 8) - k,
                        d3 = BN_D4(BN_X, s + 12) - k;
            a0 += d0; a1 += d1; a2 += d2; a3 += d3;
            b0 += d0 * d0; b1 += d1 * d1; b2 += d2 * d2; b3 += d3 * d3;
        }
        // the tail's groups of four go to the lanes of their s % 16, as in the loop; its last S % 4 to 12..14
        if (s + 4 <= S4) { const bn_d4 d = BN_D4(BN_X, s) - k; a0 += d; b0 += d * d; s += 4; }
        if (s + 4 <= S4) { const bn_d4 d = BN_D4(BN_X, s) - k; a1 += d; b1 += d * d; s += 4; }
        if (s + 4 <= S4) { const bn_d4 d = BN_D4(BN_X, s) - k; a2 += d; b2 += d * d; s += 4; }
        if (s < S) { const bn_d4 d = BN_D4_PART(BN_X, s, S - s, K) - k; a3 += d; b3 += d * d; }
#undef BN_X
    }
    BN_D4_STORE(la, a0, a1, a2, a3)
    BN_D4_STORE(lb, b0, b1, b2, b3)
#else
    for (int j = 0; j < BN_LANES; j++) la[j] = lb[j] = 0.0;
    for (ptrdiff_t n = 0; n < N; n++) {
        const float *p = x + (n * C + c) * S;
        for (ptrdiff_t s = 0; s < S; s++) {
            const int j = s < S4 ? (int)(s % 16) : 12 + (int)(s % 4);
            const double d = (double)p[s] - K;
            la[j] += d;
            lb[j] += d * d;
        }
    }
#endif
    *s1 = fold(la);
    *s2 = fold(lb);
}

/* The ReLU's backward of one value: g where the ReLU's output y > 0, else 0 (the select of fnn_act_backward).
   Both loads happen whatever the mask (arguments), so the compiler may read them as vectors and select. */
FNN_INLINE float relu_mask(float g, float y) { return y > 0.0f ? g : 0.0f; }

/* Sum of g and of g * (x - m) over channel c of (N,C,S), g = dy.  With a mask y (a fused ReLU's output) each
   row is first masked into gm (the dx buffer): gm = y > 0 ? dy : 0, and the row's sums and the dx pass then
   read gm as they would read dy (bitwise the same as masking dy beforehand).  The row is in L1 for the sums and
   in L2 for the dx pass, so y is read once and no select sits among the sums' vector adds (a select there cost
   more than the separate ReLU pass saved).  Two versions after inlining, y NULL or not. */
FNN_INLINE void chan_dsums(double *sdy, double *sdyx, float *gm, const float *dy, const float *x, const float *y,
                           double m, ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, ptrdiff_t c) {
    double la[BN_LANES], lb[BN_LANES];
    const ptrdiff_t S4 = S - S % 4;
#ifdef BN_VEC
    const bn_d4 mv = {m, m, m, m};
    bn_d4 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
#else
    for (int j = 0; j < BN_LANES; j++) la[j] = lb[j] = 0.0;
#endif
    for (ptrdiff_t n = 0; n < N; n++) {
        const ptrdiff_t o = (n * C + c) * S;
        const float *p = x + o, *q = dy + o;
        if (y) {
            float *FNN_RESTRICT w = gm + o;
            const float *FNN_RESTRICT r = y + o, *FNN_RESTRICT d = dy + o;
            for (ptrdiff_t s = 0; s < S; s++) w[s] = relu_mask(d[s], r[s]);
            q = w;
        }
#ifdef BN_VEC
#define BN_X(i) (double)p[i]
#define BN_G(i) (double)q[i]
#define BN_STEP(A, B, G, X)                                                                                      \
    do {                                                                                                         \
        const bn_d4 g_ = (G);                                                                                    \
        A += g_;                                                                                                 \
        B += g_ * ((X) - mv);                                                                                    \
    } while (0)
        ptrdiff_t s = 0;
        for (; s + 16 <= S; s += 16) {
            BN_STEP(a0, b0, BN_D4(BN_G, s), BN_D4(BN_X, s));
            BN_STEP(a1, b1, BN_D4(BN_G, s + 4), BN_D4(BN_X, s + 4));
            BN_STEP(a2, b2, BN_D4(BN_G, s + 8), BN_D4(BN_X, s + 8));
            BN_STEP(a3, b3, BN_D4(BN_G, s + 12), BN_D4(BN_X, s + 12));
        }
        if (s + 4 <= S4) { BN_STEP(a0, b0, BN_D4(BN_G, s), BN_D4(BN_X, s)); s += 4; }
        if (s + 4 <= S4) { BN_STEP(a1, b1, BN_D4(BN_G, s), BN_D4(BN_X, s)); s += 4; }
        if (s + 4 <= S4) { BN_STEP(a2, b2, BN_D4(BN_G, s), BN_D4(BN_X, s)); s += 4; }
        if (s < S) BN_STEP(a3, b3, BN_D4_PART(BN_G, s, S - s, 0.0), BN_D4_PART(BN_X, s, S - s, m));
#undef BN_STEP
#undef BN_G
#undef BN_X
#else
        for (ptrdiff_t s = 0; s < S; s++) {
            const int j = s < S4 ? (int)(s % 16) : 12 + (int)(s % 4);
            const double g = (double)q[s];
            la[j] += g;
            lb[j] += g * ((double)p[s] - m);
        }
#endif
    }
#ifdef BN_VEC
    BN_D4_STORE(la, a0, a1, a2, a3)
    BN_D4_STORE(lb, b0, b1, b2, b3)
#endif
    *sdy = fold(la);
    *sdyx = fold(lb);
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
    const double M = (double)(c->N * c->S), K = (double)c->x[u * c->S];   // K: the channel's first value
    double s1, s2;
    chan_dsq(&s1, &s2, c->x, K, c->N, c->C, c->S, u);
    const double sq = s2 - s1 * s1 / M;   // >= 0 up to rounding (Cauchy-Schwarz); 0 when every value is K
    float scale, shift;
    train_stats(c, u, K + s1 / M, sq > 0.0 ? sq : 0.0, &scale, &shift);
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

/* dx of channel u; with the mask y (a fused ReLU's output, or NULL) the masked gradient, which chan_dsums left in
   dx, in place of dy. */
FNN_INLINE void back_chan_rows(const bn_ctx *c, ptrdiff_t u, const float *y) {
    const ptrdiff_t N = c->N, C = c->C, S = c->S;
    const float m = c->cmean[u];
    double sdy, sdyx;
    chan_dsums(&sdy, &sdyx, c->y, c->dy, c->x, y, (double)m, N, C, S, u);
    float k, a, p;
    back_coefs(c, u, sdy, sdyx, &k, &a, &p);
    for (ptrdiff_t n = 0; n < N; n++) {
        const ptrdiff_t o = (n * C + u) * S;
        float *FNN_RESTRICT q = c->y + o;
        const float *FNN_RESTRICT xr = c->x + o;
        if (y) {
            for (ptrdiff_t s = 0; s < S; s++) q[s] = (q[s] - a - (xr[s] - m) * p) * k;
        } else {
            const float *FNN_RESTRICT g = c->dy + o;
            for (ptrdiff_t s = 0; s < S; s++) q[s] = (g[s] - a - (xr[s] - m) * p) * k;
        }
    }
}

// the two versions (the mask a constant after inlining: no test per element)
FNN_INLINE void back_chan_impl(const bn_ctx *c, ptrdiff_t u) {
    if (c->relu_y) back_chan_rows(c, u, c->relu_y);
    else back_chan_rows(c, u, NULL);
}

// block of channels (S == 1); with the mask y, as back_chan_rows: each row masked into dx first, then read there
FNN_INLINE void back_block_rows(const bn_ctx *c, ptrdiff_t u, const float *y) {
    const ptrdiff_t N = c->N, C = c->C, c0 = u * BN_CBLOCK, nc = C - c0 < BN_CBLOCK ? C - c0 : BN_CBLOCK;
    double sa[BN_CBLOCK], sb[BN_CBLOCK], m[BN_CBLOCK];
    float k[BN_CBLOCK], a[BN_CBLOCK], p[BN_CBLOCK], mf[BN_CBLOCK];
    for (ptrdiff_t j = 0; j < nc; j++) {
        sa[j] = sb[j] = 0.0;
        mf[j] = c->cmean[c0 + j];
        m[j] = (double)mf[j];
    }
    // the gradient rows as read: dy, or dy masked into dx
    const float *gsrc = y ? c->y : c->dy;
    for (ptrdiff_t n = 0; n < N; n++) {
        if (y) {
            float *FNN_RESTRICT w = c->y + n * C + c0;
            const float *FNN_RESTRICT h = y + n * C + c0, *FNN_RESTRICT d = c->dy + n * C + c0;
            for (ptrdiff_t j = 0; j < nc; j++) w[j] = relu_mask(d[j], h[j]);
        }
        const float *r = c->x + n * C + c0, *g = gsrc + n * C + c0;
        for (ptrdiff_t j = 0; j < nc; j++) {
            double gv = (double)g[j];
            sa[j] += gv;
            sb[j] += gv * ((double)r[j] - m[j]);
        }
    }
    for (ptrdiff_t j = 0; j < nc; j++) back_coefs(c, c0 + j, sa[j], sb[j], &k[j], &a[j], &p[j]);
    for (ptrdiff_t n = 0; n < N; n++) {
        const float *FNN_RESTRICT r = c->x + n * C + c0;
        float *FNN_RESTRICT q = c->y + n * C + c0;
        if (y) {
            for (ptrdiff_t j = 0; j < nc; j++) q[j] = (q[j] - a[j] - (r[j] - mf[j]) * p[j]) * k[j];
        } else {
            const float *FNN_RESTRICT g = c->dy + n * C + c0;
            for (ptrdiff_t j = 0; j < nc; j++) q[j] = (g[j] - a[j] - (r[j] - mf[j]) * p[j]) * k[j];
        }
    }
}

FNN_INLINE void back_block_impl(const bn_ctx *c, ptrdiff_t u) {
    if (c->relu_y) back_block_rows(c, u, c->relu_y);
    else back_block_rows(c, u, NULL);
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
    double work = 2.0 * FNN_ELEM_COST * (double)N * (double)C * (double)S;   /* two passes: sums, normalise */
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
    double work = FNN_ELEM_COST * (double)N * (double)C * (double)S;
    if (S == 1) run_units(BN_PICK(eval_block), &c, (C + BN_CBLOCK - 1) / BN_CBLOCK, work, n_threads);
    else run_units(BN_PICK(eval_chan), &c, C, work, n_threads);
    return FNN_OK;
}

int fnn_bn_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *mean,
                    const float *invstd, const float *gamma, ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, int n_threads) {
    return fnn_bn_backward_ep(dx, dgamma, dbeta, dy, x, mean, invstd, gamma, NULL, N, C, S, n_threads);
}

int fnn_bn_backward_ep(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *mean,
                       const float *invstd, const float *gamma, const float *relu_y, ptrdiff_t N, ptrdiff_t C,
                       ptrdiff_t S, int n_threads) {
    if (!dims_ok(N, C, S) || N * S < 1) return FNN_ERR_ARG;
    if (C == 0) return FNN_OK;
    if (!dx || !dy || !x || !mean || !invstd) return FNN_ERR_ARG;
    bn_ctx c = {0};
    c.y = dx; c.dgamma = dgamma; c.dbeta = dbeta; c.dy = dy; c.x = x; c.cmean = mean; c.cinvstd = invstd;
    c.gamma = gamma; c.relu_y = relu_y;
    c.N = N; c.C = C; c.S = S;
    double work = (relu_y ? 2.5 : 2.0) * FNN_ELEM_COST * (double)N * (double)C * (double)S;   /* sums, dx pass */
    if (S == 1) run_units(BN_PICK(back_block), &c, (C + BN_CBLOCK - 1) / BN_CBLOCK, work, n_threads);
    else run_units(BN_PICK(back_chan), &c, C, work, n_threads);
    return FNN_OK;
}
