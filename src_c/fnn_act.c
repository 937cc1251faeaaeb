/* fastnn: activations forward and backward, the fast path (vectorisable loops, OpenMP over fixed blocks).
   Work is cut into blocks whose boundaries depend only on (N, D): flat blocks of ACT_BLOCK elements for the
   elementwise kinds, row blocks for SOFTMAX and per-feature PRELU.  Every block is computed by the same code
   whichever thread runs it, and the PRELU slope gradient is summed per 64-row chunk then over chunks in
   order, so results are bitwise identical for any n_threads. */
#include <stdlib.h>

#include "fnn_act.h"
#include "fnn_act_math.h"
#include "fnn_cpu.h"
#include "fnn_rng.h"

#define ACT_BLOCK 4096       /* elements per flat work block (a multiple of every vector width) */
#define PRELU_CHUNK 64       /* rows per partial sum of the PRELU slope gradient */
#define SELU_SCALE 1.0507009873554805f
#define SELU_ALPHA 1.6732632423543772f

typedef struct {
    float *out;              /* y (forward) or dx (backward) */
    float *rs;               /* RRELU slopes: written by forward, read by backward */
    double *part;            /* PRELU: per-chunk partial slope gradients (n_chunks, n_slope) */
    const float *x, *y, *dy, *slope;
    const fnn_act_desc *act;
    uint64_t seed, step;
    int training;
    ptrdiff_t n, d, rows_per_block;
} act_ctx;

typedef void (*act_block_fn)(const act_ctx *c, ptrdiff_t b);

/* Rough cost per element (flops) used for the threading threshold.  The piecewise-linear ones are memory
   traffic, not arithmetic: FNN_ELEM_COST (a ReLU gradient splits at ~64k elements per thread, a small ResNet's
   64x64x7x7 one over two threads; an MLP's few-thousand-element layers stay on one). */
static double act_cost(int kind, int training) {
    switch (kind) {
    case FNN_ACT_IDENTITY: case FNN_ACT_RELU: case FNN_ACT_LEAKY_RELU: case FNN_ACT_PRELU: return FNN_ELEM_COST;
    case FNN_ACT_RRELU: return training ? 30.0 : FNN_ELEM_COST;
    case FNN_ACT_SOFTSIGN: return FNN_ELEM_COST;
    default: return 24.0;
    }
}

static void run_blocks(act_block_fn fn, const act_ctx *c, ptrdiff_t nb, double work, int n_threads) {
    int nt = fnn_threads_for(work, n_threads);
    if (nt > nb) nt = (int)nb;
#ifdef _OPENMP
    if (nt > 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (ptrdiff_t b = 0; b < nb; b++) fn(c, b);
        return;
    }
#endif
    (void)nt;
    for (ptrdiff_t b = 0; b < nb; b++) fn(c, b);
}

FNN_INLINE int is_rowwise(const fnn_act_desc *a) {
    return a->kind == FNN_ACT_SOFTMAX || (a->kind == FNN_ACT_PRELU && a->n_slope > 1);
}

static ptrdiff_t n_blocks(const act_ctx *c) {
    if (is_rowwise(c->act)) return (c->n + c->rows_per_block - 1) / c->rows_per_block;
    return (c->n * c->d + ACT_BLOCK - 1) / ACT_BLOCK;
}

/* Flat element range [*i0, *i1) of block b. */
FNN_INLINE void flat_range(const act_ctx *c, ptrdiff_t b, ptrdiff_t *i0, ptrdiff_t *i1) {
    ptrdiff_t total = c->n * c->d;
    *i0 = b * ACT_BLOCK;
    *i1 = *i0 + ACT_BLOCK < total ? *i0 + ACT_BLOCK : total;
}

// y (D) = softmax(x (D)); y may alias x
FNN_INLINE void softmax_row(float *y, const float *x, ptrdiff_t d) {
    float m = fnn_max8(x, d);
#pragma GCC ivdep
    for (ptrdiff_t j = 0; j < d; j++) y[j] = fnn_expf(x[j] - m);
    float s = fnn_sum8(y, d);
    float inv = 1.0f / s;
#pragma GCC ivdep
    for (ptrdiff_t j = 0; j < d; j++) y[j] = y[j] * inv;
}

// y (rows of block b) = act(x), elementwise kinds on a flat range; RRELU (training) also writes rs
FNN_INLINE void fwd_body(const act_ctx *c, ptrdiff_t b) {
    const fnn_act_desc *a = c->act;
    float *y = c->out;
    const float *x = c->x;
    if (is_rowwise(a)) {
        ptrdiff_t r0 = b * c->rows_per_block, r1 = r0 + c->rows_per_block < c->n ? r0 + c->rows_per_block : c->n;
        for (ptrdiff_t r = r0; r < r1; r++) {
            float *yr = y + r * c->d;
            const float *xr = x + r * c->d;
            if (a->kind == FNN_ACT_SOFTMAX) {
                softmax_row(yr, xr, c->d);
            } else {
                const float *s = c->slope;
#pragma GCC ivdep
                for (ptrdiff_t j = 0; j < c->d; j++) {
                    float v = xr[j], sv = s[j] * v;   /* loaded unconditionally: if-convertible */
                    yr[j] = v > 0.0f ? v : sv;
                }
            }
        }
        return;
    }
    ptrdiff_t i0, i1;
    flat_range(c, b, &i0, &i1);
    const float al = a->alpha, be = a->beta;
    switch (a->kind) {
    case FNN_ACT_IDENTITY:
        if (y != x)
            for (ptrdiff_t i = i0; i < i1; i++) y[i] = x[i];
        break;
    case FNN_ACT_SIGMOID:
#pragma GCC ivdep
        for (ptrdiff_t i = i0; i < i1; i++) y[i] = fnn_sigmoidf(x[i]);
        break;
    case FNN_ACT_TANH:
#pragma GCC ivdep
        for (ptrdiff_t i = i0; i < i1; i++) y[i] = fnn_tanhf(x[i]);
        break;
    case FNN_ACT_RELU:
#pragma GCC ivdep
        for (ptrdiff_t i = i0; i < i1; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case FNN_ACT_LEAKY_RELU:
#pragma GCC ivdep
        for (ptrdiff_t i = i0; i < i1; i++) y[i] = x[i] > 0.0f ? x[i] : al * x[i];
        break;
    case FNN_ACT_PRELU: {
        const float s = c->slope[0];
#pragma GCC ivdep
        for (ptrdiff_t i = i0; i < i1; i++) y[i] = x[i] > 0.0f ? x[i] : s * x[i];
        break;
    }
    case FNN_ACT_RRELU:
        if (c->training) {
            const float lo = a->lower, width = a->upper - a->lower;
            float *rs = c->rs;
            for (ptrdiff_t i = i0; i < i1; i++) {
                /* in double the product is exact, so FMA contraction cannot change the result */
                float r = (float)((double)lo + (double)width * (double)fnn_uniform(c->seed, c->step, (uint64_t)i));
                rs[i] = r;
                y[i] = x[i] > 0.0f ? x[i] : r * x[i];
            }
        } else {
            const float s = 0.5f * (a->lower + a->upper);
#pragma GCC ivdep
            for (ptrdiff_t i = i0; i < i1; i++) y[i] = x[i] > 0.0f ? x[i] : s * x[i];
        }
        break;
    case FNN_ACT_ELU:
#pragma GCC ivdep
        for (ptrdiff_t i = i0; i < i1; i++) {
            float v = x[i], neg = v > 0.0f ? 0.0f : v;
            float e = al * fnn_expm1f(neg);
            y[i] = v > 0.0f ? v : e;
        }
        break;
    case FNN_ACT_SELU:
#pragma GCC ivdep
        for (ptrdiff_t i = i0; i < i1; i++) {
            float v = x[i], neg = v > 0.0f ? 0.0f : v;
            float e = SELU_ALPHA * fnn_expm1f(neg);
            y[i] = SELU_SCALE * (v > 0.0f ? v : e);
        }
        break;
    case FNN_ACT_SOFTPLUS: {
        /* alpha = beta, beta = threshold (PyTorch semantics: beta * x > threshold -> x) */
        const float inv = 1.0f / al;
#pragma GCC ivdep
        for (ptrdiff_t i = i0; i < i1; i++) {
            float v = x[i], bx = al * v;
            float abx = bx < 0.0f ? -bx : bx;
            float sp = ((bx > 0.0f ? bx : 0.0f) + fnn_log1p01f(fnn_expf(-abx))) * inv;
            y[i] = bx > be ? v : sp;
        }
        break;
    }
    case FNN_ACT_SOFTSIGN:
#pragma GCC ivdep
        for (ptrdiff_t i = i0; i < i1; i++) {
            float v = x[i], av = v < 0.0f ? -v : v;
            y[i] = v / (1.0f + av);
        }
        break;
    default: break;
    }
}

// dx (flat range or rows of block b) = dy * act'(x); PRELU also writes its per-chunk slope partials
FNN_INLINE void bwd_body(const act_ctx *c, ptrdiff_t b) {
    const fnn_act_desc *a = c->act;
    float *dx = c->out;
    const float *x = c->x, *dy = c->dy;
    const ptrdiff_t d = c->d;
    if (a->kind == FNN_ACT_SOFTMAX) {
        ptrdiff_t r0 = b * c->rows_per_block, r1 = r0 + c->rows_per_block < c->n ? r0 + c->rows_per_block : c->n;
        for (ptrdiff_t r = r0; r < r1; r++) {
            const float *yr = c->y + r * d, *dyr = dy + r * d;
            float *dxr = dx + r * d;
            float s = fnn_dot8(yr, dyr, d);
#pragma GCC ivdep
            for (ptrdiff_t j = 0; j < d; j++) dxr[j] = yr[j] * (dyr[j] - s);
        }
        return;
    }
    if (a->kind == FNN_ACT_PRELU) {
        /* blocks are PRELU_CHUNK-row chunks here */
        const ptrdiff_t ns = a->n_slope;
        ptrdiff_t r0 = b * PRELU_CHUNK, r1 = r0 + PRELU_CHUNK < c->n ? r0 + PRELU_CHUNK : c->n;
        double *part = c->part ? c->part + b * ns : NULL;
        if (part)
            for (ptrdiff_t j = 0; j < ns; j++) part[j] = 0.0;
        double acc1 = 0.0;
        for (ptrdiff_t r = r0; r < r1; r++) {
            const float *xr = x + r * d, *dyr = dy + r * d;
            float *dxr = dx + r * d;
            if (ns > 1) {
                const float *s = c->slope;
                if (part)
                    for (ptrdiff_t j = 0; j < d; j++) {
                        double p = (double)xr[j] * (double)dyr[j];
                        part[j] += xr[j] > 0.0f ? 0.0 : p;
                    }
#pragma GCC ivdep
                for (ptrdiff_t j = 0; j < d; j++) {
                    float g = dyr[j], sg = s[j] * g;
                    dxr[j] = xr[j] > 0.0f ? g : sg;
                }
            } else {
                const float s = c->slope[0];
                if (part)
                    for (ptrdiff_t j = 0; j < d; j++) acc1 += xr[j] > 0.0f ? 0.0 : (double)xr[j] * (double)dyr[j];
#pragma GCC ivdep
                for (ptrdiff_t j = 0; j < d; j++) dxr[j] = xr[j] > 0.0f ? dyr[j] : s * dyr[j];
            }
        }
        if (part && ns == 1) part[0] = acc1;
        return;
    }
    ptrdiff_t i0, i1;
    flat_range(c, b, &i0, &i1);
    const float al = a->alpha, be = a->beta;
    switch (a->kind) {
    case FNN_ACT_IDENTITY:
        if (dx != dy)
            for (ptrdiff_t i = i0; i < i1; i++) dx[i] = dy[i];
        break;
    case FNN_ACT_SIGMOID:
#pragma GCC ivdep
        for (ptrdiff_t i = i0; i < i1; i++) {
            float v = x[i], av = v < 0.0f ? -v : v;
            float e = fnn_expf(-av), t = 1.0f + e;
            dx[i] = dy[i] * (e / (t * t));
        }
        break;
    case FNN_ACT_TANH:
#pragma GCC ivdep
        for (ptrdiff_t i = i0; i < i1; i++) {
            float v = x[i], av = v < 0.0f ? -v : v;
            float e = fnn_expf(-2.0f * av), t = 1.0f + e;
            dx[i] = dy[i] * (4.0f * e / (t * t));
        }
        break;
    case FNN_ACT_RELU:
#pragma GCC ivdep
        for (ptrdiff_t i = i0; i < i1; i++) {
            float g = dy[i];
            dx[i] = x[i] > 0.0f ? g : 0.0f;
        }
        break;
    case FNN_ACT_LEAKY_RELU:
#pragma GCC ivdep
        for (ptrdiff_t i = i0; i < i1; i++) dx[i] = x[i] > 0.0f ? dy[i] : al * dy[i];
        break;
    case FNN_ACT_RRELU:
        if (c->training) {
            const float *rs = c->rs;
#pragma GCC ivdep
            for (ptrdiff_t i = i0; i < i1; i++) {
                float g = dy[i], sg = rs[i] * g;
                dx[i] = x[i] > 0.0f ? g : sg;
            }
        } else {
            const float s = 0.5f * (a->lower + a->upper);
#pragma GCC ivdep
            for (ptrdiff_t i = i0; i < i1; i++) dx[i] = x[i] > 0.0f ? dy[i] : s * dy[i];
        }
        break;
    case FNN_ACT_ELU:
#pragma GCC ivdep
        for (ptrdiff_t i = i0; i < i1; i++) {
            float v = x[i], neg = v > 0.0f ? 0.0f : v;
            float g = al * fnn_expf(neg);
            dx[i] = v > 0.0f ? dy[i] : g * dy[i];
        }
        break;
    case FNN_ACT_SELU:
#pragma GCC ivdep
        for (ptrdiff_t i = i0; i < i1; i++) {
            float v = x[i], neg = v > 0.0f ? 0.0f : v;
            float g = v > 0.0f ? SELU_SCALE : (SELU_SCALE * SELU_ALPHA) * fnn_expf(neg);
            dx[i] = g * dy[i];
        }
        break;
    case FNN_ACT_SOFTPLUS:
#pragma GCC ivdep
        for (ptrdiff_t i = i0; i < i1; i++) {
            float bx = al * x[i];
            float g = fnn_sigmoidf(bx);
            dx[i] = bx > be ? dy[i] : g * dy[i];
        }
        break;
    case FNN_ACT_SOFTSIGN:
#pragma GCC ivdep
        for (ptrdiff_t i = i0; i < i1; i++) {
            float v = x[i], t = 1.0f + (v < 0.0f ? -v : v);
            dx[i] = dy[i] / (t * t);
        }
        break;
    default: break;
    }
}

/* The block kernels compiled for each SIMD path, chosen by fnn_get_isa(). */
static void fwd_generic(const act_ctx *c, ptrdiff_t b) { fwd_body(c, b); }
static void bwd_generic(const act_ctx *c, ptrdiff_t b) { bwd_body(c, b); }
#ifdef FNN_X86_TARGETS
FNN_TARGET_AVX2 static void fwd_avx2(const act_ctx *c, ptrdiff_t b) { fwd_body(c, b); }
FNN_TARGET_AVX2 static void bwd_avx2(const act_ctx *c, ptrdiff_t b) { bwd_body(c, b); }
FNN_TARGET_AVX512 static void fwd_avx512(const act_ctx *c, ptrdiff_t b) { fwd_body(c, b); }
FNN_TARGET_AVX512 static void bwd_avx512(const act_ctx *c, ptrdiff_t b) { bwd_body(c, b); }
#endif

static act_block_fn pick(int backward) {
#ifdef FNN_X86_TARGETS
    switch (fnn_get_isa()) {
    case FNN_ISA_AVX512: return backward ? bwd_avx512 : fwd_avx512;
    case FNN_ISA_AVX2: return backward ? bwd_avx2 : fwd_avx2;
    default: break;
    }
#endif
    return backward ? bwd_generic : fwd_generic;
}

static int act_check(const fnn_act_desc *act, const float *slope, ptrdiff_t n, ptrdiff_t d) {
    if (!act || n < 0 || d < 0 || act->kind < 0 || act->kind >= FNN_ACT_COUNT) return FNN_ERR_ARG;
    if (act->kind == FNN_ACT_PRELU && (!slope || (act->n_slope != 1 && act->n_slope != d))) return FNN_ERR_ARG;
    if (act->kind == FNN_ACT_SOFTPLUS && !(act->alpha > 0.0f)) return FNN_ERR_ARG;
    return FNN_OK;
}

// y (N,D) = act(x (N,D))
int fnn_act_forward(float *y, float *rand_slope, const float *x, const fnn_act_desc *act, const float *slope,
                    uint64_t seed, uint64_t step, int training, ptrdiff_t n, ptrdiff_t d, int n_threads) {
    int st = act_check(act, slope, n, d);
    if (st != FNN_OK) return st;
    if (act->kind == FNN_ACT_RRELU && training && !rand_slope && n * d > 0) return FNN_ERR_ARG;
    if (n == 0 || d == 0) return FNN_OK;
    if (!y || !x) return FNN_ERR_ARG;
    act_ctx c = {y, rand_slope, NULL, x, NULL, NULL, slope, act, seed, step, training, n, d, 1};
    c.rows_per_block = d >= ACT_BLOCK ? 1 : ACT_BLOCK / d;
    run_blocks(pick(0), &c, n_blocks(&c), (double)n * (double)d * act_cost(act->kind, training), n_threads);
    return FNN_OK;
}

// dx (N,D) = dy (N,D) * act'(x (N,D)); PRELU: dslope (n_slope) = sum over rows of dy * x where x <= 0
int fnn_act_backward(float *dx, float *dslope, const float *dy, const float *x, const float *y,
                     const fnn_act_desc *act, const float *slope, const float *rand_slope, int training,
                     ptrdiff_t n, ptrdiff_t d, int n_threads) {
    int st = act_check(act, slope, n, d);
    if (st != FNN_OK) return st;
    if (act->kind == FNN_ACT_RRELU && training && !rand_slope && n * d > 0) return FNN_ERR_ARG;
    if (act->kind == FNN_ACT_PRELU && dslope)
        for (ptrdiff_t j = 0; j < act->n_slope; j++) dslope[j] = 0.0f;
    if (n == 0 || d == 0) return FNN_OK;
    if (!dx || !dy || !x || !y) return FNN_ERR_ARG;
    act_ctx c = {dx, (float *)rand_slope, NULL, x, y, dy, slope, act, 0, 0, training, n, d, 1};
    c.rows_per_block = d >= ACT_BLOCK ? 1 : ACT_BLOCK / d;
    double work = (double)n * (double)d * act_cost(act->kind, 0);
    if (act->kind == FNN_ACT_PRELU) {
        ptrdiff_t nch = (n + PRELU_CHUNK - 1) / PRELU_CHUNK, ns = act->n_slope;
        if (dslope) {
            c.part = (double *)malloc((size_t)nch * (size_t)ns * sizeof(double));
            if (!c.part) return FNN_ERR_NOMEM;
        }
        run_blocks(pick(1), &c, nch, 2.0 * work, n_threads);
        if (dslope) {
            for (ptrdiff_t j = 0; j < ns; j++) {
                double s = 0.0;
                for (ptrdiff_t k = 0; k < nch; k++) s += c.part[k * ns + j];
                dslope[j] = (float)s;
            }
            free(c.part);
        }
        return FNN_OK;
    }
    run_blocks(pick(1), &c, n_blocks(&c), work, n_threads);
    return FNN_OK;
}
