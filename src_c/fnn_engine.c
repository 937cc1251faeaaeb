/* fastnn: the compiled training plan (dense networks; later conv, pooling, batch norm, dropout, skips). */
#include "fnn_engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fnn_gemm.h"
#include "fnn_loss.h"
#include "fnn_rng.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Buffers for one batch of at most max_batch rows, allocated once per call. */
typedef struct {
    ptrdiff_t max_batch;
    float *xb;          /* gathered inputs (B, in_dim) */
    float *tb;          /* gathered float targets (B, out_dim) */
    int32_t *lb;        /* gathered labels (B) */
    float **out;        /* per layer output (B, out_dim[l]) */
    float **rs;         /* per RReLU layer: random slopes (B, out_dim[l]) */
    float **wdc;        /* per DropConnect LINEAR layer in training: the masked weight (out_dim, in_dim) */
    float *g[2];        /* ping-pong gradient buffers (B, max width) */
    void *block;        /* one allocation holding everything */
} workspace;

static ptrdiff_t round16(ptrdiff_t n) { return (n + 15) & ~(ptrdiff_t)15; }

static void ws_free(workspace *w) { free(w->block); w->block = NULL; }

static int is_rrelu(const fnn_layer_desc *L) { return L->kind == FNN_LAYER_ACT && L->act.kind == FNN_ACT_RRELU; }
static int is_dropconnect(const fnn_layer_desc *L) { return L->kind == FNN_LAYER_LINEAR && L->drop_connect > 0.0f; }

static int ws_alloc(workspace *w, const fnn_plan *p, ptrdiff_t max_batch, int training, int gather) {
    ptrdiff_t B = max_batch, wmax = p->in_dim, floats = 0;
    int L = p->n_layers;
    for (int l = 0; l < L; l++) {
        const fnn_layer_desc *D = &p->layers[l];
        if (D->out_dim > wmax) wmax = D->out_dim;
        floats += round16(B * D->out_dim);
        if (training && is_rrelu(D)) floats += round16(B * D->out_dim);
        if (training && is_dropconnect(D)) floats += round16(D->out_dim * D->in_dim);
    }
    if (gather) floats += round16(B * p->in_dim) + round16(B * p->out_dim) + round16(B);
    if (training) floats += 2 * round16(B * wmax);
    size_t bytes = (size_t)floats * sizeof(float) + 3 * (size_t)(L + 1) * sizeof(float *) + 64;
    memset(w, 0, sizeof(*w));
    w->block = calloc(1, bytes);
    if (!w->block) return FNN_ERR_NOMEM;
    w->max_batch = B;
    w->out = (float **)w->block;
    w->rs = w->out + (L + 1);
    w->wdc = w->rs + (L + 1);
    float *f = (float *)(w->wdc + (L + 1));
    f = (float *)(((uintptr_t)f + 63) & ~(uintptr_t)63);
    for (int l = 0; l < L; l++) {
        w->out[l] = f;
        f += round16(B * p->layers[l].out_dim);
        if (training && is_rrelu(&p->layers[l])) {
            w->rs[l] = f;
            f += round16(B * p->layers[l].out_dim);
        }
        if (training && is_dropconnect(&p->layers[l])) {
            w->wdc[l] = f;
            f += round16(p->layers[l].out_dim * p->layers[l].in_dim);
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
            if (!(L->l1 >= 0.0f) || !(L->l2 >= 0.0f) || !(L->max_norm >= 0.0f)) return FNN_ERR_ARG;
            if (!(L->drop_connect >= 0.0f && L->drop_connect < 1.0f)) return FNN_ERR_ARG;
        } else if (L->kind == FNN_LAYER_DROPOUT) {
            if (L->out_dim != L->in_dim || L->variant < FNN_DROP_STANDARD || L->variant > FNN_DROP_GAUSSIAN)
                return FNN_ERR_ARG;
            if (L->variant == FNN_DROP_GAUSSIAN ? !(L->rate >= 0.0f) : !(L->rate >= 0.0f && L->rate < 1.0f))
                return FNN_ERR_ARG;
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

/* The random stream of layer l: the plan seed salted by the layer index. */
static uint64_t layer_seed(const fnn_plan *p, int l) { return p->seed ^ fnn_mix64(0xD5A61266F0C9392CULL + (uint64_t)l); }

static const double ALPHA_DROP_VALUE = -1.7580993408473766; /* -SELU scale * SELU alpha */

/* 1 when element i of layer l's dropout (or DropConnect) mask is kept at `step`. */
static inline int kept(uint64_t seed, uint64_t step, uint64_t i, float rate) {
    return fnn_uniform(seed, step, i) >= rate;
}

// y (B, D) = dropout_variant(x (B, D)) in training
static void dropout_forward(float *FNN_RESTRICT y, const float *FNN_RESTRICT x, const fnn_layer_desc *L,
                            uint64_t seed, uint64_t step, ptrdiff_t n) {
    const float rate = L->rate;
    if (L->variant == FNN_DROP_STANDARD) {
        const float scale = 1.0f / (1.0f - rate);
        for (ptrdiff_t i = 0; i < n; i++) y[i] = kept(seed, step, (uint64_t)i, rate) ? x[i] * scale : 0.0f;
    } else if (L->variant == FNN_DROP_ALPHA) {
        const double q = 1.0 - rate;
        const float a = (float)(1.0 / sqrt(q * (1.0 + rate * ALPHA_DROP_VALUE * ALPHA_DROP_VALUE)));
        const float b = (float)(-a * ALPHA_DROP_VALUE * rate);
        const float dropped = (float)(a * ALPHA_DROP_VALUE) + b;
        for (ptrdiff_t i = 0; i < n; i++) y[i] = kept(seed, step, (uint64_t)i, rate) ? a * x[i] + b : dropped;
    } else {
        for (ptrdiff_t i = 0; i < n; i++) {
            /* Box-Muller on two independent uniforms of the counter stream */
            double u1 = ((double)(fnn_rand64(seed, step, 2 * (uint64_t)i) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
            double u2 = (double)(fnn_rand64(seed, step, 2 * (uint64_t)i + 1) >> 11) * (1.0 / 9007199254740992.0);
            y[i] = x[i] + rate * (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
        }
    }
}

// dx (B, D) = dy (B, D) * d dropout / dx  (dx may alias dy)
static void dropout_backward(float *dx, const float *dy, const fnn_layer_desc *L, uint64_t seed, uint64_t step,
                             ptrdiff_t n) {
    const float rate = L->rate;
    if (L->variant == FNN_DROP_GAUSSIAN) {
        if (dx != dy) memcpy(dx, dy, (size_t)n * sizeof(float));
        return;
    }
    float scale = 1.0f / (1.0f - rate);
    if (L->variant == FNN_DROP_ALPHA)
        scale = (float)(1.0 / sqrt((1.0 - rate) * (1.0 + rate * ALPHA_DROP_VALUE * ALPHA_DROP_VALUE)));
    for (ptrdiff_t i = 0; i < n; i++) dx[i] = kept(seed, step, (uint64_t)i, rate) ? dy[i] * scale : 0.0f;
}

// wm (O, I) = W (O, I) * mask / (1 - p): the DropConnect weight of this step
static void dropconnect_weight(float *wm, const float *W, float p, uint64_t seed,
                               uint64_t step, ptrdiff_t n) {
    const float scale = 1.0f / (1.0f - p);
    for (ptrdiff_t i = 0; i < n; i++) wm[i] = kept(seed, step, (uint64_t)i, p) ? W[i] * scale : 0.0f;
}

/* Forward through every layer for B rows of xb; returns the network output (inside the workspace). */
static int forward(const float **result, workspace *w, const fnn_plan *p, const float *xb, ptrdiff_t B,
                   int training, uint64_t step, int nt) {
    const float *cur = xb;
    for (int l = 0; l < p->n_layers; l++) {
        const fnn_layer_desc *L = &p->layers[l];
        float *out = w->out[l];
        int st = FNN_OK;
        if (L->kind == FNN_LAYER_LINEAR) {
            const float *W = p->params + L->w_off;
            if (training && w->wdc[l]) {
                dropconnect_weight(w->wdc[l], W, L->drop_connect, layer_seed(p, l), step, L->out_dim * L->in_dim);
                W = w->wdc[l];
            }
            // out (B, O) = cur (B, I) @ W (O, I)^T + b (O)
            st = fnn_sgemm(0, 1, B, L->out_dim, L->in_dim, 1.0f, cur, L->in_dim, W, L->in_dim, 0.0f, out,
                           L->out_dim, nt);
            if (!st && L->b_off >= 0) add_bias(out, p->params + L->b_off, B, L->out_dim);
        } else if (L->kind == FNN_LAYER_ACT) {
            st = fnn_act_forward(out, w->rs[l], cur, &L->act,
                                 L->slope_off >= 0 ? p->params + L->slope_off : NULL, p->seed, step,
                                 training, B, L->out_dim, nt);
        } else if (training && L->rate > 0.0f) {
            dropout_forward(out, cur, L, layer_seed(p, l), step, B * L->out_dim);
        } else {
            memcpy(out, cur, (size_t)(B * L->out_dim) * sizeof(float));
        }
        if (st) return st;
        cur = out;
    }
    *result = cur;
    return FNN_OK;
}

// gW (O, I) += l1 * sign(W) + 2 * l2 * W
static void penalty_grad(float *FNN_RESTRICT gw, const float *FNN_RESTRICT W, float l1, float l2, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++)
        gw[i] += l1 * (float)((W[i] > 0.0f) - (W[i] < 0.0f)) + 2.0f * l2 * W[i];
}

double fnn_plan_penalty(const fnn_plan *p) {
    double s = 0.0;
    for (int l = 0; l < p->n_layers; l++) {
        const fnn_layer_desc *L = &p->layers[l];
        if (L->kind != FNN_LAYER_LINEAR || (L->l1 == 0.0f && L->l2 == 0.0f)) continue;
        const float *W = p->params + L->w_off;
        double a = 0.0, q = 0.0;
        for (ptrdiff_t i = 0; i < L->out_dim * L->in_dim; i++) {
            a += fabs((double)W[i]);
            q += (double)W[i] * W[i];
        }
        s += L->l1 * a + L->l2 * q;
    }
    return s;
}

/* Backward from dout (B, out_dim) (held in w->g[0]) into p->grads. */
static int backward(workspace *w, const fnn_plan *p, const float *xb, ptrdiff_t B, int training, uint64_t step,
                    int nt) {
    int cur = 0;  /* w->g[cur] holds the gradient wrt the current layer's output */
    for (int l = p->n_layers - 1; l >= 0; l--) {
        const fnn_layer_desc *L = &p->layers[l];
        const float *in = l > 0 ? w->out[l - 1] : xb;
        float *dy = w->g[cur];
        int st = FNN_OK;
        if (L->kind == FNN_LAYER_LINEAR) {
            const ptrdiff_t nw = L->out_dim * L->in_dim;
            const float *W = training && w->wdc[l] ? w->wdc[l] : p->params + L->w_off;
            float *gw = p->grads + L->w_off;
            // dW (O, I) = dy (B, O)^T @ in (B, I);  db (O) = colsum dy;  dx (B, I) = dy (B, O) @ W (O, I)
            st = fnn_sgemm(1, 0, L->out_dim, L->in_dim, B, 1.0f, dy, L->out_dim, in, L->in_dim, 0.0f, gw,
                           L->in_dim, nt);
            if (st) return st;
            if (training && w->wdc[l]) /* d/dW of W * mask / (1 - p) */
                dropconnect_weight(gw, gw, L->drop_connect, layer_seed(p, l), step, nw);
            if (L->l1 != 0.0f || L->l2 != 0.0f) penalty_grad(gw, p->params + L->w_off, L->l1, L->l2, nw);
            if (L->b_off >= 0) bias_grad(p->grads + L->b_off, dy, B, L->out_dim);
            if (l > 0) {
                st = fnn_sgemm(0, 0, B, L->in_dim, L->out_dim, 1.0f, dy, L->out_dim, W, L->in_dim, 0.0f,
                               w->g[cur ^ 1], L->in_dim, nt);
                cur ^= 1;
            }
        } else if (L->kind == FNN_LAYER_ACT) {
            int has_slope = L->slope_off >= 0;
            if (l == 0 && !has_slope) break;
            st = fnn_act_backward(dy, has_slope ? p->grads + L->slope_off : NULL, dy, in, w->out[l], &L->act,
                                  has_slope ? p->params + L->slope_off : NULL, w->rs[l], training, B, L->out_dim,
                                  nt);
        } else if (l > 0 && training && L->rate > 0.0f) {
            dropout_backward(dy, dy, L, layer_seed(p, l), step, B * L->out_dim);
        }
        if (st) return st;
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
        if (L->kind == FNN_LAYER_LINEAR && L->max_norm > 0.0f)
            max_norm_rows(p->params + L->w_off, L->out_dim, L->in_dim, L->max_norm);
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

int fnn_plan_train(fnn_train_stats *stats, fnn_optimizer *opt, const fnn_plan *p, const float *x,
                   const float *target, const int32_t *labels, const int64_t *order, ptrdiff_t n, ptrdiff_t batch,
                   ptrdiff_t batch_lo, ptrdiff_t batch_hi, int n_threads) {
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
        penalised |= p->layers[l].kind == FNN_LAYER_LINEAR && (p->layers[l].l1 != 0.0f || p->layers[l].l2 != 0.0f);
    workspace w;
    st = ws_alloc(&w, p, batch < n ? batch : n, 1, 1);
    if (st) return st;
    for (ptrdiff_t b = batch_lo; b < batch_hi && !st; b++) {
        ptrdiff_t lo = b * batch, B = n - lo < batch ? n - lo : batch;
        uint64_t step = (uint64_t)opt->step + p->rng_offset;  /* keys this batch's random numbers */
        gather(&w, p, x, target, labels, order, lo, B);
        const float *pred;
        double loss = 0.0;
        st = forward(&pred, &w, p, w.xb, B, 1, step, n_threads);
        if (st) break;
        st = fnn_loss_forward_backward(w.g[0], &loss, pred, target ? w.tb : NULL, labels ? w.lb : NULL,
                                       p->loss_kind, p->loss_delta, 1.0f, B, p->out_dim, n_threads);
        if (st) break;
        if (penalised) loss += fnn_plan_penalty(p);
        if (!isfinite(loss)) {
            stats->bad_batch = b;
            st = FNN_ERR_NONFINITE;
            break;
        }
        stats->loss_sum += loss * (double)B;
        stats->correct += count_correct(pred, target ? w.tb : NULL, labels ? w.lb : NULL, p->loss_kind, B,
                                        p->out_dim);
        stats->seen += B;
        st = backward(&w, p, w.xb, B, 1, step, n_threads);
        if (!st) st = apply_update(opt, p, opt->lr_scale ? opt->lr_scale[b - batch_lo] : 1.0f, n_threads);
    }
    ws_free(&w);
    return st;
}

int fnn_plan_forward(float *out, const fnn_plan *p, const float *x, ptrdiff_t n, ptrdiff_t batch,
                     int training, int64_t step, int n_threads) {
    int st = fnn_plan_check(p);
    if (st) return st;
    if (n < 0 || batch < 1) return FNN_ERR_ARG;
    if (n == 0) return FNN_OK;
    workspace w;
    st = ws_alloc(&w, p, batch < n ? batch : n, training, 0);
    if (st) return st;
    for (ptrdiff_t lo = 0; lo < n && !st; lo += batch) {
        ptrdiff_t B = n - lo < batch ? n - lo : batch;
        const float *pred;
        st = forward(&pred, &w, p, x + lo * p->in_dim, B, training, (uint64_t)(step + lo / batch), n_threads);
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
    *loss_sum += fnn_plan_penalty(p) * (double)n;
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
    if (!st) *loss += fnn_plan_penalty(p);
    if (!st) st = backward(&w, p, x, n, training, (uint64_t)step, n_threads);
    ws_free(&w);
    return st;
}
