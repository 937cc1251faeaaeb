/* fastnn: the compiled training plan: the epoch loop, the optimizer step, evaluation and prediction. */
#include "fnn_engine_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fnn_gemm.h"
#include "fnn_loss.h"
#include "fnn_rng.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Rows (CE) or elements (BCE) whose prediction matches the target; 0 for regression losses. */
static int64_t count_correct(const float *pred, const float *target, const int32_t *labels, int loss_kind,
                             ptrdiff_t B, ptrdiff_t D) {
    int64_t ok = 0;
    if (loss_kind == FNN_LOSS_CE_LOGITS) {
        for (ptrdiff_t i = 0; i < B; i++) {
            const float *r = pred + i * D;
            ptrdiff_t am = 0;
            for (ptrdiff_t j = 1; j < D; j++) if (r[j] > r[am]) am = j;
            ptrdiff_t want = 0;
            if (labels) {
                want = labels[i];
            } else {
                const float *t = target + i * D;
                for (ptrdiff_t j = 1; j < D; j++) if (t[j] > t[want]) want = j;
            }
            ok += am == want;
        }
    } else if (loss_kind == FNN_LOSS_BCE_LOGITS) {
        for (ptrdiff_t i = 0; i < B * D; i++) ok += (pred[i] > 0.0f) == (target[i] > 0.5f);
    }
    return ok;
}

static void gather(fnn_workspace *w, const fnn_plan *p, const float *x, const float *target, const int32_t *labels,
                   const float *weights, const int64_t *order, ptrdiff_t lo, ptrdiff_t B) {
    for (ptrdiff_t i = 0; i < B; i++) {
        int64_t r = order ? order[lo + i] : lo + i;
        memcpy(w->xb + i * p->in_dim, x + r * p->in_dim, (size_t)p->in_dim * sizeof(float));
        if (target) memcpy(w->tb + i * p->out_dim, target + r * p->out_dim, (size_t)p->out_dim * sizeof(float));
        if (labels) w->lb[i] = labels[r];
        if (weights) w->wb[i] = weights[r];
    }
}

void fnn_shuffle(int64_t *order, ptrdiff_t n, uint64_t seed, uint64_t epoch) {
    for (ptrdiff_t i = 0; i < n; i++) order[i] = i;
    for (ptrdiff_t i = n - 1; i > 0; i--) {
        uint64_t r = fnn_rand64(seed, epoch, (uint64_t)i);
        ptrdiff_t j = (ptrdiff_t)(((r >> 32) * (uint64_t)(i + 1)) >> 32);
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* The weighted batch loss sum_i w_i l_i / B (l_i: row i's loss alone) into *loss, and grad rows scaled by w_i
   (grad = the unweighted mean loss's gradient, NULL when not needed). */
static int weigh_loss(float *grad, double *loss, const fnn_plan *p, const float *pred, const float *target,
                      const int32_t *labels, const float *w, ptrdiff_t B) {
    const ptrdiff_t D = p->out_dim;
    double s = 0.0;
    for (ptrdiff_t i = 0; i < B; i++) {
        double li = 0.0;
        int st = fnn_loss_forward_backward(NULL, &li, pred + i * D, target ? target + i * D : NULL,
                                           labels ? labels + i : NULL, p->loss_kind, p->loss_delta, 1.0f, 1, D, 1);
        if (st) return st;
        s += (double)w[i] * li;
        if (grad)
            for (ptrdiff_t j = 0; j < D; j++) grad[i * D + j] *= w[i];
    }
    *loss = s / (double)B;
    return FNN_OK;
}

static int check_targets(const fnn_plan *p, const float *target, const int32_t *labels) {
    if (p->loss_kind == FNN_LOSS_CE_LOGITS) return (target || labels) ? FNN_OK : FNN_ERR_ARG;
    return target ? FNN_OK : FNN_ERR_ARG;
}

#define FNN_NORM_CHUNK 4096

double fnn_global_norm(const float *g, ptrdiff_t n, int n_threads) {
    ptrdiff_t n_chunks = (n + FNN_NORM_CHUNK - 1) / FNN_NORM_CHUNK;
    double stack_part[64], *part = n_chunks <= 64 ? stack_part : malloc((size_t)n_chunks * sizeof(double));
    if (!part) { /* fall back to one serial pass in the same chunk order */
        double s = 0.0;
        for (ptrdiff_t c = 0; c < n_chunks; c++) {
            double t = 0.0;
            for (ptrdiff_t i = c * FNN_NORM_CHUNK; i < n && i < (c + 1) * FNN_NORM_CHUNK; i++) t += (double)g[i] * g[i];
            s += t;
        }
        return sqrt(s);
    }
    int nt = fnn_threads_for(2.0 * (double)n, n_threads);
    (void)nt;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
#endif
    for (ptrdiff_t c = 0; c < n_chunks; c++) {
        double t = 0.0;
        ptrdiff_t hi = (c + 1) * FNN_NORM_CHUNK < n ? (c + 1) * FNN_NORM_CHUNK : n;
        for (ptrdiff_t i = c * FNN_NORM_CHUNK; i < hi; i++) t += (double)g[i] * g[i];
        part[c] = t;
    }
    double s = 0.0;
    for (ptrdiff_t c = 0; c < n_chunks; c++) s += part[c];
    if (part != stack_part) free(part);
    return sqrt(s);
}

/* Clip the gradients of the parameters the optimizer updates (PyTorch's clip_grad_value_ / clip_grad_norm_). */
static void clip_gradients(const fnn_optimizer *o, float *grads, int nt) {
    if (o->clip_value > 0.0f) {
        const float c = o->clip_value;
        for (int r = 0; r < o->n_ranges; r++) {
            float *g = grads + o->ranges[r].off;
            for (ptrdiff_t i = 0; i < o->ranges[r].len; i++) g[i] = g[i] > c ? c : (g[i] < -c ? -c : g[i]);
        }
    }
    if (o->clip_norm > 0.0f) {
        double s = 0.0;
        for (int r = 0; r < o->n_ranges; r++) {
            double t = fnn_global_norm(grads + o->ranges[r].off, o->ranges[r].len, nt);
            s += t * t;
        }
        double norm = sqrt(s);
        if (norm > o->clip_norm) {
            float scale = (float)(o->clip_norm / (norm + 1e-6));
            for (int r = 0; r < o->n_ranges; r++) {
                float *g = grads + o->ranges[r].off;
                for (ptrdiff_t i = 0; i < o->ranges[r].len; i++) g[i] *= scale;
            }
        }
    }
}

// every row of W (O, I) rescaled to L2 norm <= c
static void max_norm_rows(float *W, ptrdiff_t O, ptrdiff_t I, float c) {
    for (ptrdiff_t o = 0; o < O; o++) {
        float *r = W + o * I;
        double s = 0.0;
        for (ptrdiff_t i = 0; i < I; i++) s += (double)r[i] * r[i];
        double norm = sqrt(s);
        if (norm > c) {
            float scale = (float)(c / norm);
            for (ptrdiff_t i = 0; i < I; i++) r[i] *= scale;
        }
    }
}

/* One optimizer step: clipping, every range's update, max-norm constraints. */
static int apply_update(fnn_optimizer *o, const fnn_plan *p, float lr_scale, int nt) {
    clip_gradients(o, p->grads, nt);
    o->step += 1;
    int prev_group = -1;
    for (int r = 0; r < o->n_ranges; r++) {
        const fnn_param_range *R = &o->ranges[r];
        const fnn_optim_desc *d = &o->groups[R->group];
        int st = fnn_optim_update(p->params + R->off, o->state ? o->state + R->off : NULL, p->n_params,
                                  &o->scalars[R->group], R->group != prev_group, p->grads + R->off, d, o->step,
                                  d->lr * lr_scale, R->len, nt);
        if (st) return st;
        prev_group = R->group;
    }
    for (int l = 0; l < p->n_layers; l++) {
        const fnn_layer_desc *L = &p->layers[l];
        if ((L->kind == FNN_LAYER_LINEAR || L->kind == FNN_LAYER_CONV) && L->max_norm > 0.0f) {
            ptrdiff_t rows = fnn_layer_weight_rows(L);
            max_norm_rows(p->params + L->w_off, rows, fnn_layer_weight_count(L) / rows, L->max_norm);
        }
    }
    return FNN_OK;
}

static int check_optimizer(const fnn_optimizer *o, const fnn_plan *p) {
    if (!o || o->n_groups < 1 || o->n_ranges < 0 || o->step < 0) return FNN_ERR_ARG;
    for (int r = 0; r < o->n_ranges; r++) {
        const fnn_param_range *R = &o->ranges[r];
        if (R->off < 0 || R->len < 0 || R->off + R->len > p->n_params || R->group < 0 || R->group >= o->n_groups)
            return FNN_ERR_ARG;
        if (fnn_optim_state_per_param(&o->groups[R->group]) < 0) return FNN_ERR_ARG;
        if (fnn_optim_state_per_param(&o->groups[R->group]) > 0 && !o->state) return FNN_ERR_ARG;
    }
    return FNN_OK;
}

void fnn_plan_release(fnn_plan *p) {
    if (!p || !p->train_ws) return;
    fnn_ws_free((fnn_workspace *)p->train_ws);
    free(p->train_ws);
    p->train_ws = NULL;
}

/* The plan's training workspace for batches of at most max_batch rows: the cached one when it was laid out for
   the same max_batch (its layout depends on it), else a new one that replaces it.  NULL when out of memory. */
static fnn_workspace *train_workspace(fnn_plan *p, ptrdiff_t max_batch) {
    fnn_workspace *w = (fnn_workspace *)p->train_ws;
    if (w && w->block && w->max_batch == max_batch) return w;
    fnn_plan_release(p);
    w = (fnn_workspace *)malloc(sizeof(*w));
    if (!w) return NULL;
    if (fnn_ws_alloc(w, p, max_batch, 1, 1)) {
        free(w);
        return NULL;
    }
    p->train_ws = w;
    return w;
}

int fnn_plan_train(fnn_train_stats *stats, fnn_optimizer *opt, fnn_plan *p, const float *x,
                   const float *target, const int32_t *labels, const float *weights, const int64_t *order,
                   ptrdiff_t n, ptrdiff_t batch, ptrdiff_t batch_lo, ptrdiff_t batch_hi, int n_threads) {
    stats->loss_sum = 0.0;
    stats->correct = 0;
    stats->seen = 0;
    stats->bad_batch = -1;
    int st = fnn_plan_check(p);
    if (!st) st = check_optimizer(opt, p);
    if (st) return st;
    if (n < 1 || batch < 1 || batch_lo < 0 || batch_hi < batch_lo || check_targets(p, target, labels))
        return FNN_ERR_ARG;
    ptrdiff_t n_batches = (n + batch - 1) / batch;
    if (batch_hi > n_batches) return FNN_ERR_ARG;
    int penalised = 0;
    for (int l = 0; l < p->n_layers; l++)
        penalised |= p->layers[l].l1 != 0.0f || p->layers[l].l2 != 0.0f;
    fnn_workspace *wp = train_workspace(p, batch < n ? batch : n);
    if (!wp) return FNN_ERR_NOMEM;
    for (ptrdiff_t b = batch_lo; b < batch_hi && !st; b++) {
        ptrdiff_t lo = b * batch, B = n - lo < batch ? n - lo : batch;
        uint64_t step = (uint64_t)opt->step + p->rng_offset;  /* keys this batch's random numbers */
        gather(wp, p, x, target, labels, weights, order, lo, B);
        if (p->n_aug > 0) {
            st = fnn_augment_batch(wp->xb, p->aug, p->n_aug, B, p->aug_c, p->aug_h, p->aug_w,
                                   p->seed ^ 0x5DEECE66DA3C1F0BULL, step, n_threads);
            if (st) break;
        }
        const float *pred;
        double loss = 0.0;
        st = fnn_forward(&pred, wp, p, wp->xb, B, 1, 1, step, n_threads);
        if (st) break;
        st = fnn_loss_forward_backward(wp->g[p->n_layers - 1], &loss, pred, target ? wp->tb : NULL,
                                       labels ? wp->lb : NULL, p->loss_kind, p->loss_delta, 1.0f, B, p->out_dim,
                                       n_threads);
        if (!st && weights)
            st = weigh_loss(wp->g[p->n_layers - 1], &loss, p, pred, target ? wp->tb : NULL, labels ? wp->lb : NULL,
                            wp->wb, B);
        if (st) break;
        if (penalised) loss += fnn_plan_penalty(p);
        if (!isfinite(loss)) {
            stats->bad_batch = b;
            st = FNN_ERR_NONFINITE;
            break;
        }
        stats->loss_sum += loss * (double)B;
        stats->correct += count_correct(pred, target ? wp->tb : NULL, labels ? wp->lb : NULL, p->loss_kind, B,
                                        p->out_dim);
        stats->seen += B;
        st = fnn_backward(wp, p, wp->xb, B, 1, step, n_threads);
        if (!st) st = apply_update(opt, p, opt->lr_scale ? opt->lr_scale[b - batch_lo] : 1.0f, n_threads);
    }
    return st;
}

int fnn_plan_forward(float *out, const fnn_plan *p, const float *x, ptrdiff_t n, ptrdiff_t batch,
                     int training, int64_t step, int n_threads) {
    int st = fnn_plan_check(p);
    if (st) return st;
    if (n < 0 || batch < 1) return FNN_ERR_ARG;
    if (n == 0) return FNN_OK;
    fnn_workspace w;
    st = fnn_ws_alloc(&w, p, batch < n ? batch : n, training, 0);
    if (st) return st;
    for (ptrdiff_t lo = 0; lo < n && !st; lo += batch) {
        ptrdiff_t B = n - lo < batch ? n - lo : batch;
        const float *pred;
        st = fnn_forward(&pred, &w, p, x + lo * p->in_dim, B, training, 0, (uint64_t)(step + lo / batch), n_threads);
        if (!st) memcpy(out + lo * p->out_dim, pred, (size_t)(B * p->out_dim) * sizeof(float));
    }
    fnn_ws_free(&w);
    return st;
}

int fnn_plan_evaluate(double *loss_sum, int64_t *correct, const fnn_plan *p, const float *x,
                      const float *target, const int32_t *labels, const float *weights, ptrdiff_t n,
                      ptrdiff_t batch, int n_threads) {
    *loss_sum = 0.0;
    *correct = 0;
    int st = fnn_plan_check(p);
    if (st) return st;
    if (n < 0 || batch < 1 || check_targets(p, target, labels)) return FNN_ERR_ARG;
    if (n == 0) return FNN_OK;
    fnn_workspace w;
    st = fnn_ws_alloc(&w, p, batch < n ? batch : n, 0, 0);
    if (st) return st;
    for (ptrdiff_t lo = 0; lo < n && !st; lo += batch) {
        ptrdiff_t B = n - lo < batch ? n - lo : batch;
        const float *pred;
        double loss = 0.0;
        const float *t = target ? target + lo * p->out_dim : NULL;
        const int32_t *lab = labels ? labels + lo : NULL;
        st = fnn_forward(&pred, &w, p, x + lo * p->in_dim, B, 0, 0, 0, n_threads);
        if (st) break;
        if (weights)
            st = weigh_loss(NULL, &loss, p, pred, t, lab, weights + lo, B);
        else
            st = fnn_loss_forward_backward(NULL, &loss, pred, t, lab, p->loss_kind, p->loss_delta, 1.0f, B,
                                           p->out_dim, n_threads);
        *loss_sum += loss * (double)B;
        *correct += count_correct(pred, t, lab, p->loss_kind, B, p->out_dim);
    }
    fnn_ws_free(&w);
    *loss_sum += fnn_plan_penalty(p) * (double)n;
    return st;
}

int fnn_plan_loss_grad(double *loss, const fnn_plan *p, const float *x, const float *target,
                       const int32_t *labels, ptrdiff_t n, int training, int64_t step, int n_threads) {
    int st = fnn_plan_check(p);
    if (st) return st;
    if (n < 1 || check_targets(p, target, labels)) return FNN_ERR_ARG;
    fnn_workspace w;
    st = fnn_ws_alloc(&w, p, n, 1, 0);
    if (st) return st;
    const float *pred;
    st = fnn_forward(&pred, &w, p, x, n, training, 0, (uint64_t)step, n_threads);
    if (!st)
        st = fnn_loss_forward_backward(w.g[p->n_layers - 1], loss, pred, target, labels, p->loss_kind, p->loss_delta, 1.0f, n,
                                       p->out_dim, n_threads);
    if (!st) *loss += fnn_plan_penalty(p);
    if (!st) st = fnn_backward(&w, p, x, n, training, (uint64_t)step, n_threads);
    fnn_ws_free(&w);
    return st;
}
