/* fastnn: optimizer updates over ranges of flat buffers. */
#include "fnn_optim.h"

#ifdef _OPENMP
#include <omp.h>
#endif

int fnn_optim_state_per_param(const fnn_optim_desc *opt) {
    switch (opt->kind) {
    case FNN_OPT_SGD: return opt->momentum != 0.0f ? 1 : 0;
    default: return -1;
    }
}

int fnn_optim_init_state(float *state, ptrdiff_t state_stride, const fnn_optim_desc *opt, ptrdiff_t n) {
    int slots = fnn_optim_state_per_param(opt);
    if (slots < 0 || n < 0) return FNN_ERR_ARG;
    for (int k = 0; k < slots; k++)
        for (ptrdiff_t i = 0; i < n; i++) state[k * state_stride + i] = 0.0f;
    return FNN_OK;
}

// param (n) -= lr * sgd_direction(grad (n), buf (n))
static void sgd_range(float *FNN_RESTRICT p, float *FNN_RESTRICT buf, const float *FNN_RESTRICT g,
                      const fnn_optim_desc *o, float lr, int first, ptrdiff_t n) {
    const float wd = o->weight_decay, mu = o->momentum, damp = 1.0f - o->dampening;
    if (mu == 0.0f) {
        for (ptrdiff_t i = 0; i < n; i++) p[i] -= lr * (g[i] + wd * p[i]);
    } else if (first) {
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

static int check(const float *state, const fnn_optim_desc *opt, int64_t step, ptrdiff_t n) {
    int slots = fnn_optim_state_per_param(opt);
    if (slots < 0 || n < 0 || step < 1) return FNN_ERR_ARG;
    if (slots > 0 && !state && n > 0) return FNN_ERR_ARG;
    return FNN_OK;
}

int fnn_optim_update(float *param, float *state, ptrdiff_t state_stride, fnn_optim_scalars *scalars,
                     int advance_scalars, const float *grad, const fnn_optim_desc *opt, int64_t step, float lr,
                     ptrdiff_t n, int n_threads) {
    (void)state_stride; (void)scalars; (void)advance_scalars;
    int st = check(state, opt, step, n);
    if (st) return st;
    int nt = fnn_threads_for(4.0 * (double)n, n_threads);
    if (nt <= 1) {
        sgd_range(param, state, grad, opt, lr, step == 1, n);
        return FNN_OK;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        ptrdiff_t chunk = ((n + T - 1) / T + 15) & ~(ptrdiff_t)15;
        ptrdiff_t lo = t * chunk, hi = lo + chunk < n ? lo + chunk : n;
        if (lo < hi) sgd_range(param + lo, state ? state + lo : NULL, grad + lo, opt, lr, step == 1, hi - lo);
    }
#else
    sgd_range(param, state, grad, opt, lr, step == 1, n);
#endif
    return FNN_OK;
}

int fnn_optim_update_naive(float *param, float *state, ptrdiff_t state_stride, fnn_optim_scalars *scalars,
                           int advance_scalars, const float *grad, const fnn_optim_desc *opt, int64_t step,
                           float lr, ptrdiff_t n) {
    return fnn_optim_update(param, state, state_stride, scalars, advance_scalars, grad, opt, step, lr, n, 1);
}
