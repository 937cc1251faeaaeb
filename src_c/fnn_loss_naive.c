/* fastnn: the plain loss twin (scalar, one thread, double precision and libm throughout), for the tests. */
#include <math.h>

#include "fnn_loss.h"

// loss = mean L(pred (N,D), target (N,D) | labels (N)); grad (N,D) = grad_scale * dloss/dpred
int fnn_loss_forward_backward_naive(float *grad, double *loss, const float *pred, const float *target,
                                    const int32_t *labels, int kind, float delta, float grad_scale,
                                    ptrdiff_t n, ptrdiff_t d) {
    int st = fnn_loss_check(loss, pred, target, labels, kind, delta, n, d);
    if (st) return st;
    double total = 0.0;
    if (kind == FNN_LOSS_CE_LOGITS) {
        const double gs = (double)grad_scale / (double)n;
        for (ptrdiff_t r = 0; r < n; r++) {
            const float *z = pred + r * d;
            double m = z[0], s = 0.0, st = 0.0;
            for (ptrdiff_t j = 1; j < d; j++) m = z[j] > m ? z[j] : m;
            for (ptrdiff_t j = 0; j < d; j++) s += exp((double)z[j] - m);
            const double lse = m + log(s);
            for (ptrdiff_t j = 0; j < d; j++) {
                double t = labels ? (j == labels[r] ? 1.0 : 0.0) : (double)target[r * d + j];
                st += t;
                total += t * (lse - (double)z[j]);
            }
            if (grad)
                for (ptrdiff_t j = 0; j < d; j++) {
                    double t = labels ? (j == labels[r] ? 1.0 : 0.0) : (double)target[r * d + j];
                    grad[r * d + j] = (float)(gs * (exp((double)z[j] - lse) * st - t));
                }
        }
        *loss = total / (double)n;
        return FNN_OK;
    }
    const double cnt = (double)n * (double)d, gs = (double)grad_scale / cnt, dl = delta;
    for (ptrdiff_t i = 0; i < n * d; i++) {
        double p = pred[i], t = target[i], r = p - t, ar = fabs(r), v = 0.0, g = 0.0;
        switch (kind) {
        case FNN_LOSS_MSE: v = r * r; g = 2.0 * r; break;
        case FNN_LOSS_MAE: v = ar; g = r > 0.0 ? 1.0 : (r < 0.0 ? -1.0 : 0.0); break;
        case FNN_LOSS_HUBER:
            v = ar < dl ? 0.5 * r * r : dl * (ar - 0.5 * dl);
            g = ar < dl ? r : (r > 0.0 ? dl : -dl);
            break;
        case FNN_LOSS_BCE_LOGITS: {
            double e = exp(-fabs(p));
            v = fmax(p, 0.0) - p * t + log1p(e);
            g = (p >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e)) - t;
            break;
        }
        default: break;
        }
        total += v;
        if (grad) grad[i] = (float)(gs * g);
    }
    *loss = total / cnt;
    return FNN_OK;
}
