/* fastnn: the plain activation twins (scalar, one thread, libm in double precision), for the tests. */
#include <math.h>

#include "fnn_act.h"
#include "fnn_rng.h"

#define SELU_SCALE 1.0507009873554805
#define SELU_ALPHA 1.6732632423543772

static int naive_check(const fnn_act_desc *act, const float *slope, ptrdiff_t n, ptrdiff_t d) {
    if (!act || n < 0 || d < 0 || act->kind < 0 || act->kind >= FNN_ACT_COUNT) return FNN_ERR_ARG;
    if (act->kind == FNN_ACT_PRELU && (!slope || (act->n_slope != 1 && act->n_slope != d))) return FNN_ERR_ARG;
    if (act->kind == FNN_ACT_SOFTPLUS && !(act->alpha > 0.0f)) return FNN_ERR_ARG;
    return FNN_OK;
}

static double sigmoid_d(double v) {
    return v >= 0.0 ? 1.0 / (1.0 + exp(-v)) : exp(v) / (1.0 + exp(v));
}

// y (N,D) = act(x (N,D))
int fnn_act_forward_naive(float *y, float *rand_slope, const float *x, const fnn_act_desc *act,
                          const float *slope, uint64_t seed, uint64_t step, int training, ptrdiff_t n,
                          ptrdiff_t d) {
    int st = naive_check(act, slope, n, d);
    if (st != FNN_OK) return st;
    if (act->kind == FNN_ACT_RRELU && training && !rand_slope && n * d > 0) return FNN_ERR_ARG;
    const double al = act->alpha, be = act->beta;
    for (ptrdiff_t r = 0; r < n; r++) {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        if (act->kind == FNN_ACT_SOFTMAX) {
            double m = -HUGE_VAL, s = 0.0;
            for (ptrdiff_t j = 0; j < d; j++) m = xr[j] > m ? xr[j] : m;
            for (ptrdiff_t j = 0; j < d; j++) s += exp((double)xr[j] - m);
            for (ptrdiff_t j = 0; j < d; j++) yr[j] = (float)(exp((double)xr[j] - m) / s);
            continue;
        }
        for (ptrdiff_t j = 0; j < d; j++) {
            double v = xr[j], out = v;
            switch (act->kind) {
            case FNN_ACT_IDENTITY: break;
            case FNN_ACT_SIGMOID: out = sigmoid_d(v); break;
            case FNN_ACT_TANH: out = tanh(v); break;
            case FNN_ACT_RELU: out = v > 0.0 ? v : 0.0; break;
            case FNN_ACT_LEAKY_RELU: out = v > 0.0 ? v : al * v; break;
            case FNN_ACT_PRELU: out = v > 0.0 ? v : (double)slope[act->n_slope == 1 ? 0 : j] * v; break;
            case FNN_ACT_RRELU: {
                double s;
                if (training) {
                    float rr = (float)((double)act->lower + (double)(act->upper - act->lower) *
                                                (double)fnn_uniform(seed, step, (uint64_t)(r * d + j)));
                    rand_slope[r * d + j] = rr;
                    s = rr;
                } else {
                    s = 0.5 * ((double)act->lower + (double)act->upper);
                }
                out = v > 0.0 ? v : s * v;
                break;
            }
            case FNN_ACT_ELU: out = v > 0.0 ? v : al * expm1(v); break;
            case FNN_ACT_SELU: out = SELU_SCALE * (v > 0.0 ? v : SELU_ALPHA * expm1(v)); break;
            case FNN_ACT_SOFTPLUS: {
                double bx = al * v;
                out = bx > be ? v : (fmax(bx, 0.0) + log1p(exp(-fabs(bx)))) / al;
                break;
            }
            case FNN_ACT_SOFTSIGN: out = v / (1.0 + fabs(v)); break;
            default: break;
            }
            yr[j] = (float)out;
        }
    }
    return FNN_OK;
}

// dx (N,D) = dy (N,D) * act'(x (N,D)); PRELU: dslope (n_slope) = sum over rows of dy * x where x <= 0
int fnn_act_backward_naive(float *dx, float *dslope, const float *dy, const float *x, const float *y,
                           const fnn_act_desc *act, const float *slope, const float *rand_slope, int training,
                           ptrdiff_t n, ptrdiff_t d) {
    int st = naive_check(act, slope, n, d);
    if (st != FNN_OK) return st;
    if (act->kind == FNN_ACT_RRELU && training && !rand_slope && n * d > 0) return FNN_ERR_ARG;
    const double al = act->alpha, be = act->beta;
    if (act->kind == FNN_ACT_PRELU && dslope) {
        const ptrdiff_t ns = act->n_slope, width = ns == 1 ? d : 1;  /* columns feeding slope k */
        for (ptrdiff_t k = 0; k < ns; k++) {
            double s = 0.0;
            for (ptrdiff_t r = 0; r < n; r++)
                for (ptrdiff_t j = (ns == 1 ? 0 : k); j < (ns == 1 ? 0 : k) + width; j++)
                    if (!(x[r * d + j] > 0.0f)) s += (double)x[r * d + j] * (double)dy[r * d + j];
            dslope[k] = (float)s;
        }
    }
    for (ptrdiff_t r = 0; r < n; r++) {
        const float *xr = x + r * d, *dyr = dy + r * d, *yr = y + r * d;
        float *dxr = dx + r * d;
        if (act->kind == FNN_ACT_SOFTMAX) {
            double s = 0.0;
            for (ptrdiff_t j = 0; j < d; j++) s += (double)yr[j] * (double)dyr[j];
            for (ptrdiff_t j = 0; j < d; j++) dxr[j] = (float)((double)yr[j] * ((double)dyr[j] - s));
            continue;
        }
        for (ptrdiff_t j = 0; j < d; j++) {
            double v = xr[j], g = 1.0;
            switch (act->kind) {
            case FNN_ACT_IDENTITY: break;
            case FNN_ACT_SIGMOID: { double e = exp(-fabs(v)); g = e / ((1.0 + e) * (1.0 + e)); break; }
            case FNN_ACT_TANH: { double e = exp(-2.0 * fabs(v)); g = 4.0 * e / ((1.0 + e) * (1.0 + e)); break; }
            case FNN_ACT_RELU: g = v > 0.0 ? 1.0 : 0.0; break;
            case FNN_ACT_LEAKY_RELU: g = v > 0.0 ? 1.0 : al; break;
            case FNN_ACT_PRELU: g = v > 0.0 ? 1.0 : slope[act->n_slope == 1 ? 0 : j]; break;
            case FNN_ACT_RRELU:
                g = v > 0.0 ? 1.0 : training ? (double)rand_slope[r * d + j]
                                             : 0.5 * ((double)act->lower + (double)act->upper);
                break;
            case FNN_ACT_ELU: g = v > 0.0 ? 1.0 : al * exp(v); break;
            case FNN_ACT_SELU: g = v > 0.0 ? SELU_SCALE : SELU_SCALE * SELU_ALPHA * exp(v); break;
            case FNN_ACT_SOFTPLUS: { double bx = al * v; g = bx > be ? 1.0 : sigmoid_d(bx); break; }
            case FNN_ACT_SOFTSIGN: { double t = 1.0 + fabs(v); g = 1.0 / (t * t); break; }
            default: break;
            }
            dxr[j] = (float)(g * (double)dyr[j]);
        }
    }
    return FNN_OK;
}
