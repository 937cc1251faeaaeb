/* fastnn: the compiled training plan (dense networks; later conv, pooling, batch norm, dropout, skips). */
#include "fnn_engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fnn_gemm.h"
#include "fnn_loss.h"
#include "fnn_rng.h"

/* Buffers for one batch of at most max_batch rows, allocated once per call. */
typedef struct {
    ptrdiff_t max_batch;
    float *xb;          /* gathered inputs (B, in_dim) */
    float *tb;          /* gathered float targets (B, out_dim) */
    int32_t *lb;        /* gathered labels (B) */
    float **out;        /* per layer output (B, out_dim[l]) */
    float **rs;         /* per RReLU layer: random slopes (B, out_dim[l]) */
    float *g[2];        /* ping-pong gradient buffers (B, max width) */
    void *block;        /* one allocation holding everything */
} workspace;

static ptrdiff_t round16(ptrdiff_t n) { return (n + 15) & ~(ptrdiff_t)15; }

static void ws_free(workspace *w) { free(w->block); w->block = NULL; }

static int ws_alloc(workspace *w, const fnn_plan *p, ptrdiff_t max_batch, int training, int gather) {
    ptrdiff_t B = max_batch, wmax = p->in_dim, floats = 0;
    int L = p->n_layers;
    for (int l = 0; l < L; l++) {
        if (p->layers[l].out_dim > wmax) wmax = p->layers[l].out_dim;
        floats += round16(B * p->layers[l].out_dim);
        if (training && p->layers[l].kind == FNN_LAYER_ACT && p->layers[l].act.kind == FNN_ACT_RRELU)
            floats += round16(B * p->layers[l].out_dim);
    }
    if (gather) floats += round16(B * p->in_dim) + round16(B * p->out_dim) + round16(B);
    if (training) floats += 2 * round16(B * wmax);
    size_t bytes = (size_t)floats * sizeof(float) + 2 * (size_t)(L + 1) * sizeof(float *) + 64;
    memset(w, 0, sizeof(*w));
    w->block = calloc(1, bytes);
    if (!w->block) return FNN_ERR_NOMEM;
    w->max_batch = B;
    w->out = (float **)w->block;
    w->rs = w->out + (L + 1);
    float *f = (float *)(w->rs + (L + 1));
    f = (float *)(((uintptr_t)f + 63) & ~(uintptr_t)63);
    for (int l = 0; l < L; l++) {
        w->out[l] = f;
        f += round16(B * p->layers[l].out_dim);
        if (training && p->layers[l].kind == FNN_LAYER_ACT && p->layers[l].act.kind == FNN_ACT_RRELU) {
            w->rs[l] = f;
            f += round16(B * p->layers[l].out_dim);
        }
    }
    if (gather) {
        w->xb = f; f += round16(B * p->in_dim);
        w->tb = f; f += round16(B * p->out_dim);
        w->lb = (int32_t *)f; f += round16(B);
    }
    if (training) {
        w->g[0] = f; f += round16(B * wmax);
        w->g[1] = f;
    }
    return FNN_OK;
}

int fnn_plan_check(const fnn_plan *p) {
    if (!p || p->n_layers < 0 || p->in_dim < 1 || p->n_params < 0) return FNN_ERR_ARG;
    if (p->loss_kind < 0 || p->loss_kind >= FNN_LOSS_COUNT) return FNN_ERR_ARG;
    ptrdiff_t d = p->in_dim;
    for (int l = 0; l < p->n_layers; l++) {
        const fnn_layer_desc *L = &p->layers[l];
        if (L->in_dim != d || L->out_dim < 1) return FNN_ERR_ARG;
        if (L->kind == FNN_LAYER_LINEAR) {
            if (L->w_off < 0 || L->w_off + L->in_dim * L->out_dim > p->n_params) return FNN_ERR_ARG;
            if (L->b_off >= 0 && L->b_off + L->out_dim > p->n_params) return FNN_ERR_ARG;
        } else if (L->kind == FNN_LAYER_ACT) {
            if (L->out_dim != L->in_dim || L->act.kind < 0 || L->act.kind >= FNN_ACT_COUNT) return FNN_ERR_ARG;
            if (L->act.kind == FNN_ACT_PRELU) {
                if (L->act.n_slope != 1 && L->act.n_slope != L->out_dim) return FNN_ERR_ARG;
                if (L->slope_off < 0 || L->slope_off + L->act.n_slope > p->n_params) return FNN_ERR_ARG;
            }
        } else {
            return FNN_ERR_ARG;
        }
        d = L->out_dim;
    }
    if (d != p->out_dim) return FNN_ERR_ARG;
    return FNN_OK;
}

// out (B, D) += bias (D) broadcast over rows
static void add_bias(float *FNN_RESTRICT out, const float *FNN_RESTRICT bias, ptrdiff_t B, ptrdiff_t D) {
    for (ptrdiff_t i = 0; i < B; i++) {
        float *o = out + i * D;
        for (ptrdiff_t j = 0; j < D; j++) o[j] += bias[j];
    }
}

// db (D) = sum over rows of dy (B, D), rows summed in order (thread-count independent)
static void bias_grad(float *FNN_RESTRICT db, const float *FNN_RESTRICT dy, ptrdiff_t B, ptrdiff_t D) {
    memset(db, 0, (size_t)D * sizeof(float));
    for (ptrdiff_t i = 0; i < B; i++) {
        const float *r = dy + i * D;
        for (ptrdiff_t j = 0; j < D; j++) db[j] += r[j];
    }
}

/* Forward through every layer for B rows of xb; returns the network output (inside the workspace). */
static int forward(const float **result, workspace *w, const fnn_plan *p, const float *xb, ptrdiff_t B,
                   int training, uint64_t step, int nt) {
    const float *cur = xb;
    for (int l = 0; l < p->n_layers; l++) {
        const fnn_layer_desc *L = &p->layers[l];
        float *out = w->out[l];
        int st;
        if (L->kind == FNN_LAYER_LINEAR) {
            // out (B, O) = cur (B, I) @ W (O, I)^T + b (O)
            st = fnn_sgemm(0, 1, B, L->out_dim, L->in_dim, 1.0f, cur, L->in_dim, p->params + L->w_off,
                           L->in_dim, 0.0f, out, L->out_dim, nt);
            if (st) return st;
            if (L->b_off >= 0) add_bias(out, p->params + L->b_off, B, L->out_dim);
        } else {
            st = fnn_act_forward(out, w->rs[l], cur, &L->act,
                                 L->slope_off >= 0 ? p->params + L->slope_off : NULL, p->seed, step,
                                 training, B, L->out_dim, nt);
            if (st) return st;
        }
        cur = out;
    }
    *result = cur;
    return FNN_OK;
}

/* Backward from dout (B, out_dim) (held in w->g[0]) into p->grads. */
static int backward(workspace *w, const fnn_plan *p, const float *xb, ptrdiff_t B, int training, int nt) {
    int cur = 0;  /* w->g[cur] holds the gradient wrt the current layer's output */
    for (int l = p->n_layers - 1; l >= 0; l--) {
        const fnn_layer_desc *L = &p->layers[l];
        const float *in = l > 0 ? w->out[l - 1] : xb;
        float *dy = w->g[cur];
        int st;
        if (L->kind == FNN_LAYER_LINEAR) {
            // dW (O, I) = dy (B, O)^T @ in (B, I);  db (O) = colsum dy;  dx (B, I) = dy (B, O) @ W (O, I)
            st = fnn_sgemm(1, 0, L->out_dim, L->in_dim, B, 1.0f, dy, L->out_dim, in, L->in_dim, 0.0f,
                           p->grads + L->w_off, L->in_dim, nt);
            if (st) return st;
            if (L->b_off >= 0) bias_grad(p->grads + L->b_off, dy, B, L->out_dim);
            if (l > 0) {
                st = fnn_sgemm(0, 0, B, L->in_dim, L->out_dim, 1.0f, dy, L->out_dim, p->params + L->w_off,
                               L->in_dim, 0.0f, w->g[cur ^ 1], L->in_dim, nt);
                if (st) return st;
                cur ^= 1;
            }
        } else {
            int has_slope = L->slope_off >= 0;
            if (l == 0 && !has_slope) break;
            st = fnn_act_backward(dy, has_slope ? p->grads + L->slope_off : NULL, dy, in, w->out[l], &L->act,
                                  has_slope ? p->params + L->slope_off : NULL, w->rs[l], training, B, L->out_dim,
                                  nt);
            if (st) return st;
        }
    }
    return FNN_OK;
}

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

static void gather(workspace *w, const fnn_plan *p, const float *x, const float *target, const int32_t *labels,
                   const int64_t *order, ptrdiff_t lo, ptrdiff_t B) {
    for (ptrdiff_t i = 0; i < B; i++) {
        int64_t r = order ? order[lo + i] : lo + i;
        memcpy(w->xb + i * p->in_dim, x + r * p->in_dim, (size_t)p->in_dim * sizeof(float));
        if (target) memcpy(w->tb + i * p->out_dim, target + r * p->out_dim, (size_t)p->out_dim * sizeof(float));
        if (labels) w->lb[i] = labels[r];
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

static int check_targets(const fnn_plan *p, const float *target, const int32_t *labels) {
    if (p->loss_kind == FNN_LOSS_CE_LOGITS) return (target || labels) ? FNN_OK : FNN_ERR_ARG;
    return target ? FNN_OK : FNN_ERR_ARG;
}

int fnn_plan_train(fnn_train_stats *stats, float *opt_state, int64_t *step, const fnn_plan *p,
                   const fnn_optim_desc *opt, const float *x, const float *target, const int32_t *labels,
                   const int64_t *order, ptrdiff_t n, ptrdiff_t batch, ptrdiff_t batch_lo, ptrdiff_t batch_hi,
                   int n_threads) {
    stats->loss_sum = 0.0;
    stats->correct = 0;
    stats->seen = 0;
    stats->bad_batch = -1;
    int st = fnn_plan_check(p);
    if (st) return st;
    if (n < 1 || batch < 1 || batch_lo < 0 || batch_hi < batch_lo || check_targets(p, target, labels))
        return FNN_ERR_ARG;
    ptrdiff_t n_batches = (n + batch - 1) / batch;
    if (batch_hi > n_batches) return FNN_ERR_ARG;
    workspace w;
    st = ws_alloc(&w, p, batch < n ? batch : n, 1, 1);
    if (st) return st;
    for (ptrdiff_t b = batch_lo; b < batch_hi && !st; b++) {
        ptrdiff_t lo = b * batch, B = n - lo < batch ? n - lo : batch;
        gather(&w, p, x, target, labels, order, lo, B);
        const float *pred;
        double loss = 0.0;
        st = forward(&pred, &w, p, w.xb, B, 1, (uint64_t)*step, n_threads);
        if (st) break;
        st = fnn_loss_forward_backward(w.g[0], &loss, pred, target ? w.tb : NULL, labels ? w.lb : NULL,
                                       p->loss_kind, p->loss_delta, 1.0f, B, p->out_dim, n_threads);
        if (st) break;
        if (!isfinite(loss)) {
            stats->bad_batch = b;
            st = FNN_ERR_NONFINITE;
            break;
        }
        stats->loss_sum += loss * (double)B;
        stats->correct += count_correct(pred, target ? w.tb : NULL, labels ? w.lb : NULL, p->loss_kind, B,
                                        p->out_dim);
        stats->seen += B;
        st = backward(&w, p, w.xb, B, 1, n_threads);
        if (st) break;
        *step += 1;
        st = fnn_optim_update(p->params, opt_state, p->grads, opt, *step, p->n_params, n_threads);
    }
    ws_free(&w);
    return st;
}

int fnn_plan_forward(float *out, const fnn_plan *p, const float *x, ptrdiff_t n, ptrdiff_t batch,
                     int n_threads) {
    int st = fnn_plan_check(p);
    if (st) return st;
    if (n < 0 || batch < 1) return FNN_ERR_ARG;
    if (n == 0) return FNN_OK;
    workspace w;
    st = ws_alloc(&w, p, batch < n ? batch : n, 0, 0);
    if (st) return st;
    for (ptrdiff_t lo = 0; lo < n && !st; lo += batch) {
        ptrdiff_t B = n - lo < batch ? n - lo : batch;
        const float *pred;
        st = forward(&pred, &w, p, x + lo * p->in_dim, B, 0, 0, n_threads);
        if (!st) memcpy(out + lo * p->out_dim, pred, (size_t)(B * p->out_dim) * sizeof(float));
    }
    ws_free(&w);
    return st;
}

int fnn_plan_evaluate(double *loss_sum, int64_t *correct, const fnn_plan *p, const float *x,
                      const float *target, const int32_t *labels, ptrdiff_t n, ptrdiff_t batch, int n_threads) {
    *loss_sum = 0.0;
    *correct = 0;
    int st = fnn_plan_check(p);
    if (st) return st;
    if (n < 0 || batch < 1 || check_targets(p, target, labels)) return FNN_ERR_ARG;
    if (n == 0) return FNN_OK;
    workspace w;
    st = ws_alloc(&w, p, batch < n ? batch : n, 0, 0);
    if (st) return st;
    for (ptrdiff_t lo = 0; lo < n && !st; lo += batch) {
        ptrdiff_t B = n - lo < batch ? n - lo : batch;
        const float *pred;
        double loss = 0.0;
        const float *t = target ? target + lo * p->out_dim : NULL;
        const int32_t *lab = labels ? labels + lo : NULL;
        st = forward(&pred, &w, p, x + lo * p->in_dim, B, 0, 0, n_threads);
        if (st) break;
        st = fnn_loss_forward_backward(NULL, &loss, pred, t, lab, p->loss_kind, p->loss_delta, 1.0f, B,
                                       p->out_dim, n_threads);
        *loss_sum += loss * (double)B;
        *correct += count_correct(pred, t, lab, p->loss_kind, B, p->out_dim);
    }
    ws_free(&w);
    return st;
}

int fnn_plan_loss_grad(double *loss, const fnn_plan *p, const float *x, const float *target,
                       const int32_t *labels, ptrdiff_t n, int training, int64_t step, int n_threads) {
    int st = fnn_plan_check(p);
    if (st) return st;
    if (n < 1 || check_targets(p, target, labels)) return FNN_ERR_ARG;
    workspace w;
    st = ws_alloc(&w, p, n, 1, 0);
    if (st) return st;
    const float *pred;
    st = forward(&pred, &w, p, x, n, training, (uint64_t)step, n_threads);
    if (!st)
        st = fnn_loss_forward_backward(w.g[0], loss, pred, target, labels, p->loss_kind, p->loss_delta, 1.0f, n,
                                       p->out_dim, n_threads);
    if (!st) st = backward(&w, p, x, n, training, n_threads);
    ws_free(&w);
    return st;
}
