/* fastnn: optimizer updates over flat buffers. */
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

// param (P) -= lr * direction(grad (P), state (P))
static void sgd_range(float *FNN_RESTRICT p, float *FNN_RESTRICT buf, const float *FNN_RESTRICT g,
                      const fnn_optim_desc *o, int first, ptrdiff_t lo, ptrdiff_t hi) {
    const float lr = o->lr, wd = o->weight_decay, mu = o->momentum, damp = 1.0f - o->dampening;
    if (mu == 0.0f) {
        for (ptrdiff_t i = lo; i < hi; i++) p[i] -= lr * (g[i] + wd * p[i]);
    } else if (first) {
        for (ptrdiff_t i = lo; i < hi; i++) {
            float d = g[i] + wd * p[i];
            buf[i] = d;
            p[i] -= lr * (o->nesterov ? d + mu * d : d);
        }
    } else if (o->nesterov) {
        for (ptrdiff_t i = lo; i < hi; i++) {
            float d = g[i] + wd * p[i];
            float b = mu * buf[i] + damp * d;
            buf[i] = b;
            p[i] -= lr * (d + mu * b);
        }
    } else {
        for (ptrdiff_t i = lo; i < hi; i++) {
            float d = g[i] + wd * p[i];
            float b = mu * buf[i] + damp * d;
            buf[i] = b;
            p[i] -= lr * b;
        }
    }
}

int fnn_optim_update(float *param, float *state, const float *grad, const fnn_optim_desc *opt, int64_t step,
                     ptrdiff_t n, int n_threads) {
    if (n < 0 || step < 1) return FNN_ERR_ARG;
    if (opt->kind != FNN_OPT_SGD) return FNN_ERR_ARG;
    if (opt->momentum != 0.0f && !state) return FNN_ERR_ARG;
    int nt = fnn_threads_for(4.0 * (double)n, n_threads);
    if (nt <= 1) {
        sgd_range(param, state, grad, opt, step == 1, 0, n);
        return FNN_OK;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        ptrdiff_t chunk = (n + T - 1) / T;
        chunk = (chunk + 15) & ~(ptrdiff_t)15;
        ptrdiff_t lo = t * chunk, hi = lo + chunk < n ? lo + chunk : n;
        if (lo < hi) sgd_range(param, state, grad, opt, step == 1, lo, hi);
    }
#else
    sgd_range(param, state, grad, opt, step == 1, 0, n);
#endif
    return FNN_OK;
}
