/* fastnn: the plain optimizer twin for the tests: one thread, one scalar loop per kind, every quantity in
   double (state read from and rounded back to the float32 buffers), straight from PyTorch's formulas.
   Same slot layout and scalars as fnn_optim.c. */
#include <math.h>

#include "fnn_optim.h"

// param (n), state slots (n) updated from grad (n) in double arithmetic
int fnn_optim_update_naive(float *param, float *state, ptrdiff_t state_stride, fnn_optim_scalars *scalars,
                           int advance_scalars, const float *grad, const fnn_optim_desc *opt, int64_t step,
                           float lr_f, ptrdiff_t n) {
    int slots = fnn_optim_state_per_param(opt);
    if (slots < 0 || n < 0 || step < 1) return FNN_ERR_ARG;
    if (n > 0 && (!param || !grad)) return FNN_ERR_ARG;
    if (slots > 0 && n > 0 && (!state || (slots > 1 && state_stride < n))) return FNN_ERR_ARG;
    if (opt->kind == FNN_OPT_NADAM && !scalars) return FNN_ERR_ARG;
    const double t = (double)step, lr = lr_f, wd = opt->weight_decay, eps = opt->eps;
    const double b1 = opt->beta1, b2 = opt->beta2, mom = opt->momentum;
    float *s0 = state, *s1 = state ? state + state_stride : NULL, *s2 = state ? state + 2 * state_stride : NULL;
    double nadam_cg = 0, nadam_cm = 0;
    if (opt->kind == FNN_OPT_NADAM) {
        const double md = opt->momentum_decay;
        const double mu = b1 * (1.0 - 0.5 * pow(0.96, t * md));
        const double mu_next = b1 * (1.0 - 0.5 * pow(0.96, (t + 1.0) * md));
        if (advance_scalars) scalars->v[0] = (scalars->v[0] == 0.0 ? 1.0 : scalars->v[0]) * mu;
        const double prod = scalars->v[0];
        nadam_cg = -lr * (1.0 - mu) / (1.0 - prod);
        nadam_cm = -lr * mu_next / (1.0 - prod * mu_next);
    }
    for (ptrdiff_t i = 0; i < n; i++) {
        double p = param[i], g = grad[i];
        switch (opt->kind) {
        case FNN_OPT_SGD:
            g += wd * p;
            if (mom != 0.0) {
                double b = step == 1 ? g : mom * (double)s0[i] + (1.0 - (double)opt->dampening) * g;
                s0[i] = (float)b;
                g = opt->nesterov ? g + mom * b : b;
            }
            p -= lr * g;
            break;
        case FNN_OPT_ADAGRAD: {
            g += wd * p;
            double clr = lr / (1.0 + (t - 1.0) * (double)opt->lr_decay);
            double sum = (double)s0[i] + g * g;
            s0[i] = (float)sum;
            p -= clr * g / (sqrt(sum) + eps);
            break;
        }
        case FNN_OPT_ADADELTA: {
            const double rho = opt->rho;
            g += wd * p;
            double v = rho * (double)s0[i] + (1.0 - rho) * g * g;
            double delta = sqrt((double)s1[i] + eps) / sqrt(v + eps) * g;
            s0[i] = (float)v;
            s1[i] = (float)(rho * (double)s1[i] + (1.0 - rho) * delta * delta);
            p -= lr * delta;
            break;
        }
        case FNN_OPT_RMSPROP: {
            const double alpha = opt->alpha;
            const int has_mom = mom != 0.0;
            g += wd * p;
            double v = alpha * (double)s0[i] + (1.0 - alpha) * g * g;
            s0[i] = (float)v;
            double avg;
            if (opt->centered) {
                float *ga = has_mom ? s2 : s1;
                double m = alpha * (double)ga[i] + (1.0 - alpha) * g;
                ga[i] = (float)m;
                avg = sqrt(v - m * m) + eps;
            } else {
                avg = sqrt(v) + eps;
            }
            if (has_mom) {
                double b = mom * (double)s1[i] + g / avg;
                s1[i] = (float)b;
                p -= lr * b;
            } else {
                p -= lr * g / avg;
            }
            break;
        }
        case FNN_OPT_ADAM:
        case FNN_OPT_ADAMW: {
            if (opt->kind == FNN_OPT_ADAMW) p *= 1.0 - lr * wd;
            else g += wd * p;
            double m = b1 * (double)s0[i] + (1.0 - b1) * g;
            double v = b2 * (double)s1[i] + (1.0 - b2) * g * g;
            s0[i] = (float)m;
            s1[i] = (float)v;
            if (opt->amsgrad) {
                v = fmax((double)s2[i], v);
                s2[i] = (float)v;
            }
            double bc1 = 1.0 - pow(b1, t), bc2 = 1.0 - pow(b2, t);
            p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps);
            break;
        }
        case FNN_OPT_NADAM: {
            g += wd * p;
            double m = b1 * (double)s0[i] + (1.0 - b1) * g;
            double v = b2 * (double)s1[i] + (1.0 - b2) * g * g;
            s0[i] = (float)m;
            s1[i] = (float)v;
            double denom = sqrt(v / (1.0 - pow(b2, t))) + eps;
            p += nadam_cg * g / denom + nadam_cm * m / denom;
            break;
        }
        case FNN_OPT_ADAMAX: {
            g += wd * p;
            double m = b1 * (double)s0[i] + (1.0 - b1) * g;
            double u = fmax(b2 * (double)s1[i], fabs(g) + eps);
            s0[i] = (float)m;
            s1[i] = (float)u;
            p -= lr / (1.0 - pow(b1, t)) * m / u;
            break;
        }
        default: return FNN_ERR_ARG;
        }
        param[i] = (float)p;
    }
    return FNN_OK;
}
