/* fastnn: the plan's layers: workspace, checks, forward and backward of every layer kind. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fnn_dropout.h"
#include "fnn_engine_internal.h"
#include "fnn_gemm.h"
#include "fnn_loss.h"
#include "fnn_rng.h"

static ptrdiff_t round16(ptrdiff_t n) { return (n + 15) & ~(ptrdiff_t)15; }

static int is_rrelu(const fnn_layer_desc *L) { return L->kind == FNN_LAYER_ACT && L->act.kind == FNN_ACT_RRELU; }
static int is_dropconnect(const fnn_layer_desc *L) { return L->kind == FNN_LAYER_LINEAR && L->drop_connect > 0.0f; }
static int is_maxpool(const fnn_layer_desc *L) { return L->kind == FNN_LAYER_POOL && L->pool.kind == FNN_POOL_MAX; }

ptrdiff_t fnn_layer_weight_count(const fnn_layer_desc *L) {
    if (L->kind == FNN_LAYER_LINEAR) return L->out_dim * L->in_dim;
    if (L->kind == FNN_LAYER_CONV) return L->conv.OC * (L->conv.C / L->conv.G) * L->conv.KH * L->conv.KW;
    return 0;
}

ptrdiff_t fnn_layer_weight_rows(const fnn_layer_desc *L) {
    return L->kind == FNN_LAYER_CONV ? L->conv.OC : L->out_dim;
}

static ptrdiff_t dim_of(const fnn_plan *p, int src) { return src >= 0 ? p->layers[src].out_dim : p->in_dim; }

/* 1 when Linear, Conv2d, batch-norm or Add layer l takes the ReLU of layer l + 1 into its forward pass (the GEMM
   epilogue; BN's affine pass; the sum): l + 1 is a ReLU reading l, and no other layer reads l.  The ReLU's
   output then aliases the layer's (its pre-activation values are never needed: its backward reads its input,
   and the ReLU's backward mask x > 0 is the same on relu(x)).  Decided once per workspace: the aliased output
   buffers are what the forward pass reads.  After a batch norm the backward is fused as well (bn_relu_fused). */
static int relu_fused(const fnn_plan *p, int l) {
    if (l < 0 || l + 1 >= p->n_layers) return 0;
    const int k = p->layers[l].kind;
    if (k != FNN_LAYER_LINEAR && k != FNN_LAYER_CONV && k != FNN_LAYER_BATCHNORM && k != FNN_LAYER_ADD) return 0;
    const fnn_layer_desc *A = &p->layers[l + 1];
    if (A->kind != FNN_LAYER_ACT || A->act.kind != FNN_ACT_RELU || A->src != l) return 0;
    for (int j = l + 2; j < p->n_layers; j++) {
        const fnn_layer_desc *D = &p->layers[j];
        if (D->src == l || (D->kind == FNN_LAYER_ADD && D->src2 == l)) return 0;
    }
    return 1;
}

// how many input slots of the plan's layers read layer l's output
static int readers(const fnn_plan *p, int l) {
    int n = 0;
    for (int j = l + 1; j < p->n_layers; j++) {
        const fnn_layer_desc *D = &p->layers[j];
        n += (D->src == l) + (D->kind == FNN_LAYER_ADD && D->src2 == l);
    }
    return n;
}

/* 1 when layer l's forward pass computes the ReLU of layer l + 1 (relu_fused): read from the workspace, whose
   output buffers alias exactly then. */
static int relu_aliased(const fnn_workspace *w, const fnn_plan *p, int l) {
    return l + 1 < p->n_layers && w->out[l + 1] == w->out[l];
}

/* 1 when layer l is a batch norm whose following ReLU is fused (relu_fused; the outputs alias, so the test holds
   for the workspace at hand).  The backward fuses it too: the ReLU layer l + 1 skips its backward and leaves
   g[l] unwritten, and the BN reads g[l + 1] masked by the shared output w->out[l] > 0 (fnn_bn_backward_ep), so
   one pass over the gradient less.  Nothing else reads g[l]: relu_fused makes the ReLU l's only consumer (and,
   in fnn_ws_alloc's bookkeeping, its first and only writer, so no sum into g[l] is expected either). */
static int bn_relu_fused(const fnn_workspace *w, const fnn_plan *p, int l) {
    return l >= 0 && p->layers[l].kind == FNN_LAYER_BATCHNORM && relu_aliased(w, p, l);
}

static ptrdiff_t conv_ws_floats(const fnn_plan *p, ptrdiff_t B, int nt) {
    ptrdiff_t m = 0;
    for (int l = 0; l < p->n_layers; l++) {
        if (p->layers[l].kind != FNN_LAYER_CONV) continue;
        fnn_conv_shape s = p->layers[l].conv;
        s.N = B;
        ptrdiff_t f = fnn_conv_workspace_floats(&s, nt);
        if (f > m) m = f;
    }
    return m;
}

void fnn_ws_free(fnn_workspace *w) { free(w->block); w->block = NULL; }

int fnn_ws_alloc(fnn_workspace *w, const fnn_plan *p, ptrdiff_t max_batch, int training, int gather) {
    const ptrdiff_t B = max_batch;
    const int L = p->n_layers;
    ptrdiff_t wmax = p->in_dim, floats = 0;
    for (int l = 0; l < L; l++) {
        const fnn_layer_desc *D = &p->layers[l];
        if (D->out_dim > wmax) wmax = D->out_dim;
        floats += round16(B * D->out_dim);
        if (is_maxpool(D)) floats += round16(B * D->out_dim);                /* int32 argmax */
        if (!training) continue;
        floats += round16(B * D->out_dim);                                   /* g */
        if (is_rrelu(D)) floats += round16(B * D->out_dim);
        if (is_dropconnect(D)) floats += round16(D->out_dim * D->in_dim);
        if (D->kind == FNN_LAYER_BATCHNORM) floats += round16(2 * D->bn_c);
    }
    if (training) floats += round16(B * wmax) + round16(2 * (ptrdiff_t)L + L) / 4 + 16;
    if (gather) floats += round16(B * p->in_dim) + round16(B * p->out_dim) + 2 * round16(B);
    const int nt_hint = 64; /* workspace for the largest thread budget a call may use */
    floats += round16(conv_ws_floats(p, B, nt_hint));
    size_t bytes = (size_t)floats * sizeof(float) + 6 * (size_t)(L + 1) * sizeof(void *) + 128;
    memset(w, 0, sizeof(*w));
    w->block = calloc(1, bytes);
    if (!w->block) return FNN_ERR_NOMEM;
    w->max_batch = B;
    void **ptrs = (void **)w->block;
    w->out = (float **)ptrs;
    w->g = (float **)(ptrs + (L + 1));
    w->rs = (float **)(ptrs + 2 * (L + 1));
    w->wdc = (float **)(ptrs + 3 * (L + 1));
    w->stat = (float **)(ptrs + 4 * (L + 1));
    w->argmax = (int32_t **)(ptrs + 5 * (L + 1));
    float *f = (float *)(ptrs + 6 * (L + 1));
    f = (float *)(((uintptr_t)f + 63) & ~(uintptr_t)63);
    for (int l = 0; l < L; l++) {
        const fnn_layer_desc *D = &p->layers[l];
        w->out[l] = f; f += round16(B * D->out_dim);
        if (is_maxpool(D)) { w->argmax[l] = (int32_t *)f; f += round16(B * D->out_dim); }
        if (!training) continue;
        w->g[l] = f; f += round16(B * D->out_dim);
        if (is_rrelu(D)) { w->rs[l] = f; f += round16(B * D->out_dim); }
        if (is_dropconnect(D)) { w->wdc[l] = f; f += round16(D->out_dim * D->in_dim); }
        if (D->kind == FNN_LAYER_BATCHNORM) { w->stat[l] = f; f += round16(2 * D->bn_c); }
    }
    for (int l = 0; l + 1 < L; l++)
        if (relu_fused(p, l)) w->out[l + 1] = w->out[l];   // the ReLU runs in the layer's forward pass
    if (training) {
        w->tmp = f; f += round16(B * wmax);
        w->first = (unsigned char *)f;
        w->live = w->first + 2 * L;
        f += round16(2 * (ptrdiff_t)L + L) / 4 + 16;
        /* who writes first into each layer's output gradient, walking the backward order */
        for (int l = L - 1; l >= 0; l--) {
            const fnn_layer_desc *D = &p->layers[l];
            int srcs[2] = {D->src, D->kind == FNN_LAYER_ADD ? D->src2 : -1};
            for (int k = 0; k < 2; k++) {
                int s = srcs[k];
                if (s < 0) continue;
                w->first[2 * l + k] = !w->live[s];
                w->live[s] = 1;
            }
        }
        if (L > 0) w->live[L - 1] = 1;
        /* ADD and FLATTEN hand their output gradient on unchanged: an input they are the only reader of takes
           their gradient buffer as its own instead of a copy (walked downwards, so a chain of them shares one) */
        for (int l = L - 1; l >= 0; l--) {
            const fnn_layer_desc *D = &p->layers[l];
            if (D->kind != FNN_LAYER_ADD && D->kind != FNN_LAYER_FLATTEN) continue;
            int srcs[2] = {D->src, D->kind == FNN_LAYER_ADD ? D->src2 : -1};
            for (int k = 0; k < 2; k++)
                if (srcs[k] >= 0 && readers(p, srcs[k]) == 1) w->g[srcs[k]] = w->g[l];
        }
    }
    if (gather) {
        w->xb = f; f += round16(B * p->in_dim);
        w->tb = f; f += round16(B * p->out_dim);
        w->lb = (int32_t *)f; f += round16(B);
        w->wb = f; f += round16(B);
    }
    w->conv_ws = f;
    return FNN_OK;
}

static int check_layer(const fnn_plan *p, int l) {
    const fnn_layer_desc *L = &p->layers[l];
    if (L->src < -1 || L->src >= l || L->out_dim < 1 || L->in_dim != dim_of(p, L->src)) return FNN_ERR_ARG;
    const ptrdiff_t nw = fnn_layer_weight_count(L);
    switch (L->kind) {
    case FNN_LAYER_LINEAR:
    case FNN_LAYER_CONV:
        if (L->kind == FNN_LAYER_CONV) {
            fnn_conv_shape s = L->conv;
            s.N = 1;
            if (fnn_conv_shape_init(&s) || L->in_dim != s.C * s.H * s.W || L->out_dim != s.OC * s.OH * s.OW)
                return FNN_ERR_ARG;
        }
        if (L->w_off < 0 || L->w_off + nw > p->n_params) return FNN_ERR_ARG;
        if (L->b_off >= 0 && L->b_off + fnn_layer_weight_rows(L) > p->n_params) return FNN_ERR_ARG;
        if (!(L->l1 >= 0.0f) || !(L->l2 >= 0.0f) || !(L->max_norm >= 0.0f)) return FNN_ERR_ARG;
        if (!(L->drop_connect >= 0.0f && L->drop_connect < 1.0f)) return FNN_ERR_ARG;
        if (L->kind == FNN_LAYER_CONV && L->drop_connect > 0.0f) return FNN_ERR_ARG;
        return FNN_OK;
    case FNN_LAYER_ACT:
        if (L->out_dim != L->in_dim || L->act.kind < 0 || L->act.kind >= FNN_ACT_COUNT) return FNN_ERR_ARG;
        if (L->act.kind == FNN_ACT_PRELU) {
            if (L->act.n_slope != 1 && L->act.n_slope != L->out_dim) return FNN_ERR_ARG;
            if (L->slope_off < 0 || L->slope_off + L->act.n_slope > p->n_params) return FNN_ERR_ARG;
        }
        return FNN_OK;
    case FNN_LAYER_DROPOUT:
        if (L->out_dim != L->in_dim || L->variant < FNN_DROP_STANDARD || L->variant > FNN_DROP_GAUSSIAN)
            return FNN_ERR_ARG;
        if (L->variant == FNN_DROP_GAUSSIAN ? !(L->rate >= 0.0f) : !(L->rate >= 0.0f && L->rate < 1.0f))
            return FNN_ERR_ARG;
        return FNN_OK;
    case FNN_LAYER_POOL: {
        fnn_pool_shape s = L->pool;
        s.N = 1;
        if (fnn_pool_shape_init(&s) || L->in_dim != s.C * s.H * s.W || L->out_dim != s.C * s.OH * s.OW)
            return FNN_ERR_ARG;
        return FNN_OK;
    }
    case FNN_LAYER_BATCHNORM:
        if (L->out_dim != L->in_dim || L->bn_c < 1 || L->bn_s < 1 || L->bn_c * L->bn_s != L->in_dim) return FNN_ERR_ARG;
        if (L->rm_off < 0 || L->rm_off + L->bn_c > p->n_params || L->rv_off < 0 || L->rv_off + L->bn_c > p->n_params)
            return FNN_ERR_ARG;
        if ((L->w_off >= 0 && L->w_off + L->bn_c > p->n_params) || (L->b_off >= 0 && L->b_off + L->bn_c > p->n_params))
            return FNN_ERR_ARG;
        if (!(L->bn_eps > 0.0f) || !(L->bn_momentum >= 0.0f && L->bn_momentum <= 1.0f)) return FNN_ERR_ARG;
        return FNN_OK;
    case FNN_LAYER_FLATTEN:
        return L->out_dim == L->in_dim ? FNN_OK : FNN_ERR_ARG;
    case FNN_LAYER_ADD:
        if (L->src2 < -1 || L->src2 >= l || dim_of(p, L->src2) != L->in_dim || L->out_dim != L->in_dim)
            return FNN_ERR_ARG;
        return FNN_OK;
    default:
        return FNN_ERR_ARG;
    }
}

int fnn_plan_check(const fnn_plan *p) {
    if (!p || p->n_layers < 0 || p->in_dim < 1 || p->n_params < 0) return FNN_ERR_ARG;
    if (p->loss_kind < 0 || p->loss_kind >= FNN_LOSS_COUNT) return FNN_ERR_ARG;
    if (p->n_aug < 0 || (p->n_aug > 0 && (!p->aug || p->aug_c < 1 || p->aug_h < 1 || p->aug_w < 1 ||
                                          p->aug_c * p->aug_h * p->aug_w != p->in_dim)))
        return FNN_ERR_ARG;
    for (int l = 0; l < p->n_layers; l++) {
        int st = check_layer(p, l);
        if (st) return st;
    }
    if (dim_of(p, p->n_layers - 1) != p->out_dim) return FNN_ERR_ARG;
    return FNN_OK;
}

// db (D) = sum over rows of dy (B, D), rows summed in order (thread-count independent)
static void bias_grad(float *FNN_RESTRICT db, const float *FNN_RESTRICT dy, ptrdiff_t B, ptrdiff_t D) {
    memset(db, 0, (size_t)D * sizeof(float));
    for (ptrdiff_t i = 0; i < B; i++) {
        const float *r = dy + i * D;
        for (ptrdiff_t j = 0; j < D; j++) db[j] += r[j];
    }
}

// y (n) += x (n)
#define EW_BLOCK 4096   /* floats per work unit of the elementwise passes */

/* y = a + b, or max(a + b, 0) when relu; y may be a.  Blocks of EW_BLOCK on up to nt threads (elementwise:
   every split gives the same bits). */
static void ew_add(float *y, const float *a, const float *b, ptrdiff_t n, int relu, int nt) {
    const ptrdiff_t nb = (n + EW_BLOCK - 1) / EW_BLOCK;
    int t = fnn_threads_for(FNN_ELEM_COST * (double)n, nt);   /* memory-bound: two reads and a write per float */
    (void)t;
#ifdef _OPENMP
#pragma omp parallel for num_threads(t) schedule(static) if (t > 1)
#endif
    for (ptrdiff_t k = 0; k < nb; k++) {
        const ptrdiff_t lo = k * EW_BLOCK, hi = lo + EW_BLOCK < n ? lo + EW_BLOCK : n;
        if (relu) {
            for (ptrdiff_t i = lo; i < hi; i++) {
                const float v = a[i] + b[i];
                y[i] = v > 0.0f ? v : 0.0f;
            }
        } else {
            for (ptrdiff_t i = lo; i < hi; i++) y[i] = a[i] + b[i];
        }
    }
}

static void add_into(float *y, const float *x, ptrdiff_t n, int nt) { ew_add(y, y, x, n, 0, nt); }

/* The random stream of layer l: the plan seed salted by the layer index. */
static uint64_t layer_seed(const fnn_plan *p, int l) { return p->seed ^ fnn_mix64(0xD5A61266F0C9392CULL + (uint64_t)l); }

static const double ALPHA_DROP_VALUE = -1.7580993408473766; /* -SELU scale * SELU alpha */

/* Dropout and DropConnect masks: element i is kept at `step` when fnn_uniform(seed, step, i) >= rate
   (fnn_dropout_apply, SIMD). */
// y (B, D) = dropout_variant(x (B, D)) in training
static void dropout_forward(float *FNN_RESTRICT y, const float *FNN_RESTRICT x, const fnn_layer_desc *L,
                            uint64_t seed, uint64_t step, ptrdiff_t n) {
    const float rate = L->rate;
    if (L->variant == FNN_DROP_STANDARD) {
        fnn_dropout_apply(y, x, n, seed, step, rate, 1.0f / (1.0f - rate), 0.0f, 0.0f);
    } else if (L->variant == FNN_DROP_ALPHA) {
        const double q = 1.0 - rate;
        const float a = (float)(1.0 / sqrt(q * (1.0 + rate * ALPHA_DROP_VALUE * ALPHA_DROP_VALUE)));
        const float b = (float)(-a * ALPHA_DROP_VALUE * rate);
        const float dropped = (float)(a * ALPHA_DROP_VALUE) + b;
        fnn_dropout_apply(y, x, n, seed, step, rate, a, b, dropped);
    } else {
        for (ptrdiff_t i = 0; i < n; i++) {
            /* Box-Muller on two independent uniforms of the counter stream */
            double u1 = ((double)(fnn_rand64(seed, step, 2 * (uint64_t)i) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
            double u2 = (double)(fnn_rand64(seed, step, 2 * (uint64_t)i + 1) >> 11) * (1.0 / 9007199254740992.0);
            y[i] = x[i] + rate * (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
        }
    }
}

// dx (B, D) = dy (B, D) * d dropout / dx
static void dropout_backward(float *dx, const float *dy, const fnn_layer_desc *L, uint64_t seed, uint64_t step,
                             ptrdiff_t n) {
    const float rate = L->rate;
    if (L->variant == FNN_DROP_GAUSSIAN || rate == 0.0f) {
        memcpy(dx, dy, (size_t)n * sizeof(float));
        return;
    }
    float scale = 1.0f / (1.0f - rate);
    if (L->variant == FNN_DROP_ALPHA)
        scale = (float)(1.0 / sqrt((1.0 - rate) * (1.0 + rate * ALPHA_DROP_VALUE * ALPHA_DROP_VALUE)));
    fnn_dropout_apply(dx, dy, n, seed, step, rate, scale, 0.0f, 0.0f);
}

// wm (O, I) = W (O, I) * mask / (1 - p): the DropConnect weight of this step (wm may alias W)
static void dropconnect_weight(float *wm, const float *W, float p, uint64_t seed, uint64_t step, ptrdiff_t n) {
    fnn_dropout_apply(wm, W, n, seed, step, p, 1.0f / (1.0f - p), 0.0f, 0.0f);
}

int fnn_forward(const float **result, fnn_workspace *w, const fnn_plan *p, const float *xb, ptrdiff_t B,
                int training, int update_stats, uint64_t step, int nt) {
    for (int l = 0; l < p->n_layers; l++) {
        const fnn_layer_desc *L = &p->layers[l];
        const float *in = fnn_layer_input(w, xb, L->src);
        float *out = w->out[l];
        int st = FNN_OK;
        switch (L->kind) {
        case FNN_LAYER_LINEAR: {
            const float *W = p->params + L->w_off;
            if (training && w->wdc && w->wdc[l]) {
                dropconnect_weight(w->wdc[l], W, L->drop_connect, layer_seed(p, l), step, L->out_dim * L->in_dim);
                W = w->wdc[l];
            }
            // out (B, O) = in (B, I) @ W (O, I)^T + b (O), the bias (and a following ReLU) in the GEMM epilogue
            const int relu = relu_aliased(w, p, l);
            const fnn_gemm_epilogue ep = {L->b_off >= 0 ? p->params + L->b_off : NULL, relu, NULL};
            st = fnn_sgemm_ep(0, 1, B, L->out_dim, L->in_dim, 1.0f, in, L->in_dim, W, L->in_dim, 0.0f, out,
                              L->out_dim, &ep, nt);
            break;
        }
        case FNN_LAYER_ACT:
            if (l > 0 && relu_aliased(w, p, l - 1)) break;   // layer l - 1's forward pass computed it
            st = fnn_act_forward(out, training && w->rs ? w->rs[l] : NULL, in, &L->act,
                                 L->slope_off >= 0 ? p->params + L->slope_off : NULL, p->seed, step,
                                 training, B, L->out_dim, nt);
            break;
        case FNN_LAYER_DROPOUT:
            if (training && L->rate > 0.0f) dropout_forward(out, in, L, layer_seed(p, l), step, B * L->out_dim);
            else memcpy(out, in, (size_t)(B * L->out_dim) * sizeof(float));
            break;
        case FNN_LAYER_CONV: {
            fnn_conv_shape s = L->conv;
            s.N = B;
            const int relu = relu_aliased(w, p, l);
            st = fnn_conv2d_forward_ep(out, in, p->params + L->w_off, L->b_off >= 0 ? p->params + L->b_off : NULL,
                                       &s, relu, w->conv_ws, nt);
            break;
        }
        case FNN_LAYER_POOL: {
            fnn_pool_shape s = L->pool;
            s.N = B;
            st = fnn_pool2d_forward(out, w->argmax[l], in, &s, nt);
            break;
        }
        case FNN_LAYER_BATCHNORM: {
            const float *gamma = L->w_off >= 0 ? p->params + L->w_off : NULL;
            const float *beta = L->b_off >= 0 ? p->params + L->b_off : NULL;
            float *rm = p->params + L->rm_off, *rv = p->params + L->rv_off;
            const int relu = relu_aliased(w, p, l);
            if (training) {
                st = fnn_bn_forward_train_ep(out, w->stat[l], w->stat[l] + L->bn_c, update_stats ? rm : NULL,
                                             update_stats ? rv : NULL, in, gamma, beta, L->bn_momentum, L->bn_eps,
                                             B, L->bn_c, L->bn_s, relu, nt);
            } else {
                st = fnn_bn_forward_eval_ep(out, in, gamma, beta, rm, rv, L->bn_eps, B, L->bn_c, L->bn_s, relu, nt);
            }
            break;
        }
        case FNN_LAYER_FLATTEN:
            memcpy(out, in, (size_t)(B * L->out_dim) * sizeof(float));
            break;
        case FNN_LAYER_ADD: {
            const int relu = relu_aliased(w, p, l);
            ew_add(out, in, fnn_layer_input(w, xb, L->src2), B * L->out_dim, relu, nt);
            break;
        }
        default:
            st = FNN_ERR_ARG;
        }
        if (st) return st;
    }
    *result = p->n_layers ? w->out[p->n_layers - 1] : xb;
    return FNN_OK;
}

// gW += l1 * sign(W) + 2 * l2 * W
static void penalty_grad(float *FNN_RESTRICT gw, const float *FNN_RESTRICT W, float l1, float l2, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++)
        gw[i] += l1 * (float)((W[i] > 0.0f) - (W[i] < 0.0f)) + 2.0f * l2 * W[i];
}

double fnn_plan_penalty(const fnn_plan *p) {
    double s = 0.0;
    for (int l = 0; l < p->n_layers; l++) {
        const fnn_layer_desc *L = &p->layers[l];
        if ((L->kind != FNN_LAYER_LINEAR && L->kind != FNN_LAYER_CONV) || (L->l1 == 0.0f && L->l2 == 0.0f)) continue;
        const float *W = p->params + L->w_off;
        double a = 0.0, q = 0.0;
        for (ptrdiff_t i = 0; i < fnn_layer_weight_count(L); i++) {
            a += fabs((double)W[i]);
            q += (double)W[i] * W[i];
        }
        s += L->l1 * a + L->l2 * q;
    }
    return s;
}

/* Zero the parameter gradients of a layer whose output does not reach the loss. */
static void zero_param_grads(const fnn_plan *p, const fnn_layer_desc *L) {
    ptrdiff_t rows = fnn_layer_weight_rows(L);
    if (L->kind == FNN_LAYER_BATCHNORM) rows = L->bn_c;
    if (L->w_off >= 0) memset(p->grads + L->w_off, 0, (size_t)(L->kind == FNN_LAYER_BATCHNORM ? rows :
                                                                fnn_layer_weight_count(L)) * sizeof(float));
    if (L->b_off >= 0) memset(p->grads + L->b_off, 0, (size_t)rows * sizeof(float));
    if (L->slope_off >= 0) memset(p->grads + L->slope_off, 0, (size_t)L->act.n_slope * sizeof(float));
}

int fnn_backward(fnn_workspace *w, const fnn_plan *p, const float *xb, ptrdiff_t B, int training, uint64_t step,
                 int nt) {
    for (int l = p->n_layers - 1; l >= 0; l--) {
        const fnn_layer_desc *L = &p->layers[l];
        if (!w->live[l]) {
            zero_param_grads(p, L);
            continue;
        }
        const float *in = fnn_layer_input(w, xb, L->src);
        const float *dy = w->g[l];
        const int want_dx = L->src >= 0, first = want_dx && w->first[2 * l];
        /* this layer's input gradient goes straight into its producer's buffer when it is the first writer,
           else into tmp and is added afterwards */
        float *dx = !want_dx ? NULL : first ? w->g[L->src] : w->tmp;
        const ptrdiff_t n_in = B * L->in_dim;
        int st = FNN_OK;
        switch (L->kind) {
        case FNN_LAYER_LINEAR: {
            const ptrdiff_t nw = L->out_dim * L->in_dim;
            const float *W = training && w->wdc[l] ? w->wdc[l] : p->params + L->w_off;
            float *gw = p->grads + L->w_off;
            // dW (O, I) = dy (B, O)^T @ in (B, I);  db (O) = colsum dy;  dx (B, I) (+)= dy (B, O) @ W (O, I)
            st = fnn_sgemm(1, 0, L->out_dim, L->in_dim, B, 1.0f, dy, L->out_dim, in, L->in_dim, 0.0f, gw,
                           L->in_dim, nt);
            if (st) return st;
            if (training && w->wdc[l]) dropconnect_weight(gw, gw, L->drop_connect, layer_seed(p, l), step, nw);
            if (L->l1 != 0.0f || L->l2 != 0.0f) penalty_grad(gw, p->params + L->w_off, L->l1, L->l2, nw);
            if (L->b_off >= 0) bias_grad(p->grads + L->b_off, dy, B, L->out_dim);
            if (want_dx) {
                st = fnn_sgemm(0, 0, B, L->in_dim, L->out_dim, 1.0f, dy, L->out_dim, W, L->in_dim, first ? 0.0f : 1.0f,
                               w->g[L->src], L->in_dim, nt);
                dx = NULL; /* accumulated by the GEMM itself */
            }
            break;
        }
        case FNN_LAYER_ACT: {
            if (bn_relu_fused(w, p, l - 1)) {   // the BN's backward (layer l - 1) applies this ReLU's mask
                dx = NULL;
                break;
            }
            const int has_slope = L->slope_off >= 0;
            if (!want_dx && !has_slope) break;
            float *d = dx ? dx : w->tmp;
            st = fnn_act_backward(d, has_slope ? p->grads + L->slope_off : NULL, dy, in, w->out[l], &L->act,
                                  has_slope ? p->params + L->slope_off : NULL, w->rs[l], training, B, L->out_dim,
                                  nt);
            break;
        }
        case FNN_LAYER_DROPOUT:
            if (dx) {
                if (training && L->rate > 0.0f) dropout_backward(dx, dy, L, layer_seed(p, l), step, n_in);
                else memcpy(dx, dy, (size_t)n_in * sizeof(float));
            }
            break;
        case FNN_LAYER_CONV: {
            fnn_conv_shape s = L->conv;
            s.N = B;
            float *gw = p->grads + L->w_off;
            st = fnn_conv2d_backward(dx, gw, L->b_off >= 0 ? p->grads + L->b_off : NULL, dy, in, p->params + L->w_off,
                                     &s, w->conv_ws, nt);
            if (!st && (L->l1 != 0.0f || L->l2 != 0.0f))
                penalty_grad(gw, p->params + L->w_off, L->l1, L->l2, fnn_layer_weight_count(L));
            break;
        }
        case FNN_LAYER_POOL: {
            if (!dx) break;
            fnn_pool_shape s = L->pool;
            s.N = B;
            st = fnn_pool2d_backward(dx, dy, w->argmax[l], &s, nt);
            break;
        }
        case FNN_LAYER_BATCHNORM: {
            float *d = dx ? dx : w->tmp;
            const int fused = bn_relu_fused(w, p, l);   // then dy: the ReLU's output gradient, masked here
            st = fnn_bn_backward_ep(d, L->w_off >= 0 ? p->grads + L->w_off : NULL,
                                    L->b_off >= 0 ? p->grads + L->b_off : NULL, fused ? w->g[l + 1] : dy, in,
                                    w->stat[l], w->stat[l] + L->bn_c, L->w_off >= 0 ? p->params + L->w_off : NULL,
                                    fused ? w->out[l] : NULL, B, L->bn_c, L->bn_s, nt);
            break;
        }
        case FNN_LAYER_FLATTEN:   /* dx == dy: the input's gradient buffer is this layer's (fnn_ws_alloc) */
            if (dx && dx != dy) memcpy(dx, dy, (size_t)n_in * sizeof(float));
            break;
        case FNN_LAYER_ADD:
            if (dx && dx != dy) memcpy(dx, dy, (size_t)n_in * sizeof(float));
            if (L->src2 >= 0 && w->g[L->src2] != dy) {
                float *g2 = w->g[L->src2];
                if (w->first[2 * l + 1]) memcpy(g2, dy, (size_t)n_in * sizeof(float));
                else add_into(g2, dy, n_in, nt);
            }
            break;
        default:
            return FNN_ERR_ARG;
        }
        if (st) return st;
        if (dx && !first) add_into(w->g[L->src], w->tmp, n_in, nt);
    }
    return FNN_OK;
}
