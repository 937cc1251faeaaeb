/* fastnn: optimizer updates over ranges of flat buffers (float32 state, float32 arithmetic in PyTorch's
   operation order; per-step scalars such as bias corrections computed once per call in double).

   Slot layout per kind (slot k of parameter i at state[k * state_stride + i]):
     SGD       0: momentum buffer (only when momentum != 0)
     ADAGRAD   0: sum of squared gradients (initialised to initial_accumulator_value)
     ADADELTA  0: square_avg, 1: acc_delta
     RMSPROP   0: square_avg, then the momentum buffer (momentum != 0), then grad_avg (centered)
     ADAM(W)   0: exp_avg, 1: exp_avg_sq, 2: max_exp_avg_sq (amsgrad)
     NADAM     0: exp_avg, 1: exp_avg_sq; scalars->v[0]: the running product of mu_t (0 means "1", not started)
     ADAMAX    0: exp_avg, 1: exp_inf
   Run with flush-to-zero / denormals-are-zero (fnn_ftz_enter): state and results below FLT_MIN become 0,
   which PyTorch's CPU kernels would keep as subnormals (a difference below 1.2e-38 absolute), and which keeps
   the update at memory speed.  Elementwise, so results do not depend on the thread count; above the work threshold the range is split
   into fixed chunks of FNN_OPT_CHUNK elements shared among threads with schedule(static). */
#include <math.h>

#include "fnn_optim.h"
#include "fnn_cpu.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define FNN_OPT_CHUNK 16384

int fnn_optim_state_per_param(const fnn_optim_desc *opt) {
    if (!opt) return -1;
    switch (opt->kind) {
    case FNN_OPT_SGD: return opt->momentum != 0.0f ? 1 : 0;
    case FNN_OPT_ADAGRAD: return 1;
    case FNN_OPT_ADADELTA: return 2;
    case FNN_OPT_RMSPROP: return 1 + (opt->momentum != 0.0f) + (opt->centered != 0);
    case FNN_OPT_ADAM:
    case FNN_OPT_ADAMW: return opt->amsgrad ? 3 : 2;
    case FNN_OPT_NADAM: return 2;
    case FNN_OPT_ADAMAX: return 2;
    default: return -1;
    }
}

int fnn_optim_init_state(float *state, ptrdiff_t state_stride, const fnn_optim_desc *opt, ptrdiff_t n) {
    int slots = fnn_optim_state_per_param(opt);
    if (slots < 0 || n < 0 || (slots > 0 && n > 0 && (!state || state_stride < n))) return FNN_ERR_ARG;
    for (int k = 0; k < slots; k++) {
        float v = (opt->kind == FNN_OPT_ADAGRAD && k == 0) ? opt->initial_accumulator_value : 0.0f;
        for (ptrdiff_t i = 0; i < n; i++) state[k * state_stride + i] = v;
    }
    return FNN_OK;
}

/* Per-call coefficients, computed once (double, then rounded to float as PyTorch passes Python scalars to
   float32 kernels). */
typedef struct {
    ptrdiff_t stride;
    float lr, wd, mu, damp, eps, b1, b2, omb1, omb2;
    float a, b, c, d; /* kind specific, see fnn_optim_update */
    int first;
} coef;

/* PyTorch's lerp: start + w * (end - start) for w < 0.5, else end - (end - start) * (1 - w). */
FNN_INLINE float lerp_f(float s, float e, float w) {
    return w < 0.5f ? s + w * (e - s) : e - (e - s) * (1.0f - w);
}

// param (n) -= lr * sgd_direction(grad (n), buf (n))
FNN_INLINE void sgd_range(float *FNN_RESTRICT p, float *FNN_RESTRICT s, const float *FNN_RESTRICT g,
                      const fnn_optim_desc *o, const coef *c, ptrdiff_t n) {
    const float lr = c->lr, wd = c->wd, mu = c->mu, damp = c->damp;
    float *FNN_RESTRICT buf = s;
    if (mu == 0.0f) {
        for (ptrdiff_t i = 0; i < n; i++) p[i] -= lr * (g[i] + wd * p[i]);
    } else if (c->first) {
        for (ptrdiff_t i = 0; i < n; i++) {
            float d = g[i] + wd * p[i];
            buf[i] = d;
            p[i] -= lr * (o->nesterov ? d + mu * d : d);
        }
    } else if (o->nesterov) {
        for (ptrdiff_t i = 0; i < n; i++) {
            float d = g[i] + wd * p[i];
            float b = mu * buf[i] + damp * d;
            buf[i] = b;
            p[i] -= lr * (d + mu * b);
        }
    } else {
        for (ptrdiff_t i = 0; i < n; i++) {
            float d = g[i] + wd * p[i];
            float b = mu * buf[i] + damp * d;
            buf[i] = b;
            p[i] -= lr * b;
        }
    }
}

// param (n) += -clr * g / (sqrt(sum) + eps), sum (n) += g^2;  a = clr
FNN_INLINE void adagrad_range(float *FNN_RESTRICT p, float *FNN_RESTRICT s, const float *FNN_RESTRICT g,
                          const fnn_optim_desc *o, const coef *c, ptrdiff_t n) {
    (void)o;
    const float wd = c->wd, eps = c->eps, nclr = -c->a;
    for (ptrdiff_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        float sum = s[i] + gi * gi;
        s[i] = sum;
        p[i] = p[i] + nclr * gi / (sqrtf(sum) + eps);
    }
}

// square_avg, acc_delta (n) updated; param (n) -= lr * delta
FNN_INLINE void adadelta_range(float *FNN_RESTRICT p, float *FNN_RESTRICT s, const float *FNN_RESTRICT g,
                           const fnn_optim_desc *o, const coef *c, ptrdiff_t n) {
    const float wd = c->wd, eps = c->eps, rho = o->rho, omr = c->a, nlr = -c->lr;
    float *FNN_RESTRICT sq = s, *FNN_RESTRICT acc = s + c->stride;
    for (ptrdiff_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        float v = sq[i] * rho + omr * gi * gi;
        sq[i] = v;
        float std = sqrtf(v + eps);
        float delta = sqrtf(acc[i] + eps) / std * gi;
        acc[i] = acc[i] * rho + omr * delta * delta;
        p[i] = p[i] + nlr * delta;
    }
}

#if defined(__GNUC__)
#define FNN_INLINE static inline __attribute__((always_inline))
#else
#define FNN_INLINE static inline
#endif

// square_avg (+ momentum buffer, + grad_avg) (n) updated; param (n) updated.  The flags are compile-time
// constants at each call below, so every variant is a branch-free (vectorisable) loop.
FNN_INLINE void rmsprop_loop(float *FNN_RESTRICT p, float *FNN_RESTRICT s, const float *FNN_RESTRICT g,
                             const fnn_optim_desc *o, const coef *c, ptrdiff_t n, const int has_mom,
                             const int centered) {
    const float wd = c->wd, eps = c->eps, alpha = o->alpha, oma = c->a, mu = c->mu, nlr = -c->lr;
    float *FNN_RESTRICT sq = s;
    float *FNN_RESTRICT buf = has_mom ? s + c->stride : s;             /* unused unless has_mom */
    float *FNN_RESTRICT ga = centered ? s + (1 + has_mom) * c->stride : s; /* unused unless centered */
    for (ptrdiff_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        float v = sq[i] * alpha + oma * gi * gi;
        sq[i] = v;
        float avg;
        if (centered) {
            float m = lerp_f(ga[i], gi, oma);
            ga[i] = m;
            avg = sqrtf(v + (-1.0f * m) * m) + eps;
        } else {
            avg = sqrtf(v) + eps;
        }
        if (has_mom) {
            float b = buf[i] * mu + gi / avg;
            buf[i] = b;
            p[i] = p[i] + nlr * b;
        } else {
            p[i] = p[i] + nlr * gi / avg;
        }
    }
}

FNN_INLINE void rmsprop_range(float *FNN_RESTRICT p, float *FNN_RESTRICT s, const float *FNN_RESTRICT g,
                          const fnn_optim_desc *o, const coef *c, ptrdiff_t n) {
    const int has_mom = c->mu != 0.0f, centered = o->centered != 0;
    if (has_mom && centered) rmsprop_loop(p, s, g, o, c, n, 1, 1);
    else if (has_mom) rmsprop_loop(p, s, g, o, c, n, 1, 0);
    else if (centered) rmsprop_loop(p, s, g, o, c, n, 0, 1);
    else rmsprop_loop(p, s, g, o, c, n, 0, 0);
}

// exp_avg, exp_avg_sq (, max_exp_avg_sq) (n) updated; param (n) += -step_size * m / (sqrt(v) / bc2_sqrt + eps)
// a = step_size, b = bc2_sqrt, d = 1 - lr * wd (ADAMW) or 1
FNN_INLINE void adam_range(float *FNN_RESTRICT p, float *FNN_RESTRICT s, const float *FNN_RESTRICT g,
                       const fnn_optim_desc *o, const coef *c, ptrdiff_t n) {
    const int decoupled = o->kind == FNN_OPT_ADAMW, ams = o->amsgrad != 0;
    const float wd = decoupled ? 0.0f : c->wd, decay = c->d, b2 = c->b2, omb1 = c->omb1, omb2 = c->omb2;
    const float nss = -c->a, bc2s = c->b, eps = c->eps;
    float *FNN_RESTRICT m = s, *FNN_RESTRICT v = s + c->stride;
    float *FNN_RESTRICT vmax = ams ? s + 2 * c->stride : NULL;
    for (ptrdiff_t i = 0; i < n; i++) {
        float pi = p[i];
        if (decoupled) pi = pi * decay;
        float gi = g[i] + wd * pi;
        float mi = lerp_f(m[i], gi, omb1);
        m[i] = mi;
        float vi = v[i] * b2 + omb2 * gi * gi;
        v[i] = vi;
        if (ams) {
            vi = vmax[i] > vi ? vmax[i] : vi;
            vmax[i] = vi;
        }
        p[i] = pi + nss * mi / (sqrtf(vi) / bc2s + eps);
    }
}

// exp_avg, exp_avg_sq (n) updated; param (n) += a * g / denom + b * m / denom, denom = sqrt(v / bc2) + eps
// a = -lr (1 - mu_t) / (1 - prod_t), b = -lr mu_{t+1} / (1 - prod_{t+1}), c = bc2
FNN_INLINE void nadam_range(float *FNN_RESTRICT p, float *FNN_RESTRICT s, const float *FNN_RESTRICT g,
                        const fnn_optim_desc *o, const coef *c, ptrdiff_t n) {
    (void)o;
    const float wd = c->wd, b2 = c->b2, omb1 = c->omb1, omb2 = c->omb2, eps = c->eps;
    const float cg = c->a, cm = c->b, bc2 = c->c;
    float *FNN_RESTRICT m = s, *FNN_RESTRICT v = s + c->stride;
    for (ptrdiff_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        float mi = lerp_f(m[i], gi, omb1);
        m[i] = mi;
        float vi = v[i] * b2 + omb2 * gi * gi;
        v[i] = vi;
        float denom = sqrtf(vi / bc2) + eps;
        float pi = p[i] + cg * gi / denom;
        p[i] = pi + cm * mi / denom;
    }
}

// exp_avg, exp_inf (n) updated; param (n) += -clr * m / u;  a = clr
FNN_INLINE void adamax_range(float *FNN_RESTRICT p, float *FNN_RESTRICT s, const float *FNN_RESTRICT g,
                         const fnn_optim_desc *o, const coef *c, ptrdiff_t n) {
    (void)o;
    const float wd = c->wd, b2 = c->b2, omb1 = c->omb1, eps = c->eps, nclr = -c->a;
    float *FNN_RESTRICT m = s, *FNN_RESTRICT u = s + c->stride;
    for (ptrdiff_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        float mi = lerp_f(m[i], gi, omb1);
        m[i] = mi;
        float a = u[i] * b2, b = fabsf(gi) + eps;
        float ui = (a > b || a != a) ? a : b; /* torch.maximum propagates NaN */
        u[i] = ui;
        p[i] = p[i] + nclr * mi / ui;
    }
}

/* Every kind's range loop, compiled once per SIMD path (the bodies are always inlined into these wrappers). */
FNN_INLINE void range_body(int kind, float *FNN_RESTRICT p, float *FNN_RESTRICT s, const float *FNN_RESTRICT g,
                           const fnn_optim_desc *o, const coef *c, ptrdiff_t n) {
    switch (kind) {
    case FNN_OPT_SGD: sgd_range(p, s, g, o, c, n); break;
    case FNN_OPT_ADAGRAD: adagrad_range(p, s, g, o, c, n); break;
    case FNN_OPT_ADADELTA: adadelta_range(p, s, g, o, c, n); break;
    case FNN_OPT_RMSPROP: rmsprop_range(p, s, g, o, c, n); break;
    case FNN_OPT_ADAM: case FNN_OPT_ADAMW: adam_range(p, s, g, o, c, n); break;
    case FNN_OPT_NADAM: nadam_range(p, s, g, o, c, n); break;
    case FNN_OPT_ADAMAX: adamax_range(p, s, g, o, c, n); break;
    default: break;
    }
}

typedef void (*range_fn)(int, float *FNN_RESTRICT, float *FNN_RESTRICT, const float *FNN_RESTRICT,
                         const fnn_optim_desc *, const coef *, ptrdiff_t);

static void range_generic(int kind, float *FNN_RESTRICT p, float *FNN_RESTRICT s, const float *FNN_RESTRICT g,
                          const fnn_optim_desc *o, const coef *c, ptrdiff_t n) { range_body(kind, p, s, g, o, c, n); }
#ifdef FNN_X86_TARGETS
FNN_TARGET_AVX2 static void range_avx2(int kind, float *FNN_RESTRICT p, float *FNN_RESTRICT s,
                                       const float *FNN_RESTRICT g, const fnn_optim_desc *o, const coef *c,
                                       ptrdiff_t n) { range_body(kind, p, s, g, o, c, n); }
FNN_TARGET_AVX512 static void range_avx512(int kind, float *FNN_RESTRICT p, float *FNN_RESTRICT s,
                                           const float *FNN_RESTRICT g, const fnn_optim_desc *o, const coef *c,
                                           ptrdiff_t n) { range_body(kind, p, s, g, o, c, n); }
#endif

static range_fn pick(void) {
#ifdef FNN_X86_TARGETS
    switch (fnn_get_isa()) {
    case FNN_ISA_AVX512: return range_avx512;
    case FNN_ISA_AVX2: return range_avx2;
    default: break;
    }
#endif
    return range_generic;
}

static int check(const float *param, const float *state, ptrdiff_t state_stride, const float *grad,
                 const fnn_optim_desc *opt, int64_t step, ptrdiff_t n) {
    int slots = fnn_optim_state_per_param(opt);
    if (slots < 0 || n < 0 || step < 1) return FNN_ERR_ARG;
    if (n > 0 && (!param || !grad)) return FNN_ERR_ARG;
    if (slots > 0 && n > 0 && (!state || (slots > 1 && state_stride < n))) return FNN_ERR_ARG;
    return FNN_OK;
}

int fnn_optim_update(float *param, float *state, ptrdiff_t state_stride, fnn_optim_scalars *scalars,
                     int advance_scalars, const float *grad, const fnn_optim_desc *opt, int64_t step, float lr,
                     ptrdiff_t n, int n_threads) {
    int st = check(param, state, state_stride, grad, opt, step, n);
    if (st) return st;
    if (opt->kind == FNN_OPT_NADAM && !scalars) return FNN_ERR_ARG;
    coef c = {0};
    const double t = (double)step, b1 = opt->beta1, b2 = opt->beta2;
    c.stride = state_stride;
    c.lr = lr;
    c.wd = opt->weight_decay;
    c.mu = opt->momentum;
    c.damp = (float)(1.0 - (double)opt->dampening);
    c.eps = opt->eps;
    c.b1 = opt->beta1;
    c.b2 = opt->beta2;
    c.omb1 = (float)(1.0 - b1);
    c.omb2 = (float)(1.0 - b2);
    c.first = step == 1;
    range_fn fn = pick();
    /* Memory-bound (16-28 bytes per parameter, about a nanosecond each from L3): a second thread pays for
       its fork/join from a few tens of thousands of parameters; counted as 16 units per parameter against
       FNN_PAR_MIN_WORK (1M), teams start at 64k parameters, which keeps the 10-100 us steps of small
       networks (784-100-10: 80k parameters) on one thread. */
    double work = 16.0 * (double)n;
    switch (opt->kind) {
    case FNN_OPT_SGD: break;
    case FNN_OPT_ADAGRAD:
        
        c.a = (float)((double)lr / (1.0 + (t - 1.0) * (double)opt->lr_decay));
        break;
    case FNN_OPT_ADADELTA: c.a = (float)(1.0 - (double)opt->rho); break;
    case FNN_OPT_RMSPROP: c.a = (float)(1.0 - (double)opt->alpha); break;
    case FNN_OPT_ADAM:
    case FNN_OPT_ADAMW:
        
        c.a = (float)((double)lr / (1.0 - pow(b1, t)));
        c.b = (float)sqrt(1.0 - pow(b2, t));
        c.d = (float)(1.0 - (double)lr * (double)opt->weight_decay);
        break;
    case FNN_OPT_NADAM: {
        
        const double md = opt->momentum_decay;
        const double mu = b1 * (1.0 - 0.5 * pow(0.96, t * md));
        const double mu_next = b1 * (1.0 - 0.5 * pow(0.96, (t + 1.0) * md));
        if (advance_scalars) scalars->v[0] = (scalars->v[0] == 0.0 ? 1.0 : scalars->v[0]) * mu;
        const double prod = scalars->v[0], prod_next = prod * mu_next;
        c.a = (float)(-(double)lr * (1.0 - mu) / (1.0 - prod));
        c.b = (float)((-(double)lr * mu_next) / (1.0 - prod_next));
        c.c = (float)(1.0 - pow(b2, t));
        break;
    }
    case FNN_OPT_ADAMAX: c.a = (float)((double)lr / (1.0 - pow(b1, t))); break;
    default: return FNN_ERR_ARG;
    }
    if (n == 0) return FNN_OK;
    int nt = fnn_threads_for(work, n_threads);
    const ptrdiff_t n_chunks = (n + FNN_OPT_CHUNK - 1) / FNN_OPT_CHUNK;
    if (nt > n_chunks) nt = (int)n_chunks;
    if (nt <= 1) {
        const unsigned csr = fnn_ftz_enter();
        fn(opt->kind, param, state, grad, opt, &c, n);
        fnn_ftz_leave(csr);
        return FNN_OK;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
    {
        const unsigned csr = fnn_ftz_enter();   // each thread has its own MXCSR
#pragma omp for schedule(static)
        for (ptrdiff_t k = 0; k < n_chunks; k++) {
            ptrdiff_t lo = k * FNN_OPT_CHUNK, hi = lo + FNN_OPT_CHUNK < n ? lo + FNN_OPT_CHUNK : n;
            fn(opt->kind, param + lo, state ? state + lo : NULL, grad + lo, opt, &c, hi - lo);
        }
        fnn_ftz_leave(csr);
    }
#else
    const unsigned csr = fnn_ftz_enter();
    fn(opt->kind, param, state, grad, opt, &c, n);
    fnn_ftz_leave(csr);
#endif
    return FNN_OK;
}
