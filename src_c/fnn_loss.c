/* fastnn: losses, value and gradient in one pass, the fast path.
   The loss value is summed in double per fixed chunk (LOSS_BLOCK elements, or the rows holding about that
   many for cross-entropy), the chunk sums are added in chunk order afterwards: the value and the gradient
   are bitwise identical for any n_threads. */
#include <math.h>
#include <stdlib.h>

#include "fnn_act_math.h"
#include "fnn_cpu.h"
#include "fnn_loss.h"

#define LOSS_BLOCK 4096      /* elements per chunk of the elementwise losses */
#define LOSS_TILE 256        /* elements whose float losses are buffered before the double sum */
#define LOSS_STACK_CHUNKS 64 /* chunk sums kept on the stack below this count (no malloc for small batches) */

typedef struct {
    float *grad;
    double *part;
    const float *pred, *target;
    const int32_t *labels;
    int kind;
    float delta, gs;         /* gs: gradient factor (grad_scale / count, times 2 for MSE) */
    ptrdiff_t n, d, rows_per_chunk;
} loss_ctx;

/* Sum of tile[0..len) in double with 4 fixed lanes. */
FNN_INLINE double sum_tile(const float *tile, ptrdiff_t len) {
    double acc[4] = {0.0, 0.0, 0.0, 0.0};
    ptrdiff_t i = 0;
    for (; i + 4 <= len; i += 4)
        for (int k = 0; k < 4; k++) acc[k] += (double)tile[i + k];
    for (; i < len; i++) acc[i & 3] += (double)tile[i];
    return (acc[0] + acc[2]) + (acc[1] + acc[3]);
}

// tile (len) = elementwise loss of p, t (len); g (len) = gs * dloss/dp when g != NULL
FNN_INLINE void elem_tile(float *g, float *tile, const float *p, const float *t, ptrdiff_t len, int kind,
                      float delta, float gs) {
    switch (kind) {
    case FNN_LOSS_MSE:
        for (ptrdiff_t i = 0; i < len; i++) { float r = p[i] - t[i]; tile[i] = r * r; }
        if (g)
#pragma GCC ivdep
            for (ptrdiff_t i = 0; i < len; i++) g[i] = gs * (p[i] - t[i]);
        break;
    case FNN_LOSS_MAE:
        for (ptrdiff_t i = 0; i < len; i++) { float r = p[i] - t[i]; tile[i] = r < 0.0f ? -r : r; }
        if (g)
#pragma GCC ivdep
            for (ptrdiff_t i = 0; i < len; i++) {
                float r = p[i] - t[i];
                g[i] = r > 0.0f ? gs : (r < 0.0f ? -gs : 0.0f);
            }
        break;
    case FNN_LOSS_HUBER: {
        const float hd = 0.5f * delta;
        for (ptrdiff_t i = 0; i < len; i++) {
            float r = p[i] - t[i], ar = r < 0.0f ? -r : r;
            float quad = 0.5f * r * r, lin = delta * (ar - hd);
            tile[i] = ar < delta ? quad : lin;
        }
        if (g)
#pragma GCC ivdep
            for (ptrdiff_t i = 0; i < len; i++) {
                float r = p[i] - t[i], ar = r < 0.0f ? -r : r;
                float cl = r > 0.0f ? delta : -delta;
                g[i] = gs * (ar < delta ? r : cl);
            }
        break;
    }
    case FNN_LOSS_BCE_LOGITS:
        for (ptrdiff_t i = 0; i < len; i++) {
            float z = p[i], az = z < 0.0f ? -z : z;
            float e = fnn_expf(-az);
            tile[i] = (z > 0.0f ? z : 0.0f) - z * t[i] + fnn_log1p01f(e);
        }
        if (g)
#pragma GCC ivdep
            for (ptrdiff_t i = 0; i < len; i++) g[i] = gs * (fnn_sigmoidf(p[i]) - t[i]);
        break;
    default: break;
    }
}

FNN_INLINE void elem_body(const loss_ctx *c, ptrdiff_t b) {
    ptrdiff_t total = c->n * c->d, i0 = b * LOSS_BLOCK;
    ptrdiff_t i1 = i0 + LOSS_BLOCK < total ? i0 + LOSS_BLOCK : total;
    float tile[LOSS_TILE];
    double s = 0.0;
    for (ptrdiff_t i = i0; i < i1; i += LOSS_TILE) {
        ptrdiff_t len = i1 - i < LOSS_TILE ? i1 - i : LOSS_TILE;
        elem_tile(c->grad ? c->grad + i : NULL, tile, c->pred + i, c->target + i, len, c->kind, c->delta, c->gs);
        s += sum_tile(tile, len);
    }
    c->part[b] = s;
}

// loss of one row: -sum_j t_j log softmax(z)_j (t from a label or a target row); g (D) = gs * dloss/dz
FNN_INLINE double ce_row(float *g, const float *z, const float *t, int32_t label, ptrdiff_t d, float gs) {
    const float m = fnn_max8(z, d);
    float s;
    if (g) {
#pragma GCC ivdep
        for (ptrdiff_t j = 0; j < d; j++) g[j] = fnn_expf(z[j] - m);
        s = fnn_sum8(g, d);
    } else {
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        ptrdiff_t j = 0;
        for (; j + 8 <= d; j += 8)
            for (int k = 0; k < 8; k++) acc[k] += fnn_expf(z[j + k] - m);
        for (; j < d; j++) acc[j & 7] += fnn_expf(z[j] - m);
        s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    }
    const double lse = (double)m + log((double)s);   /* s >= 1: the max term is exp(0) */
    const float inv = 1.0f / s;
    if (!t) {
        if (g) {
#pragma GCC ivdep
            for (ptrdiff_t j = 0; j < d; j++) g[j] = gs * (g[j] * inv);
            g[label] -= gs;
        }
        return lse - (double)z[label];
    }
    double st = 0.0, tz = 0.0;
    for (ptrdiff_t j = 0; j < d; j++) {
        st += (double)t[j];
        tz += (double)t[j] * (double)z[j];
    }
    if (g) {
        const float stf = (float)st;   /* softmax * sum(t) - t: softmax - t for probability rows */
#pragma GCC ivdep
        for (ptrdiff_t j = 0; j < d; j++) g[j] = gs * (g[j] * inv * stf - t[j]);
    }
    return lse * st - tz;
}

FNN_INLINE void ce_body(const loss_ctx *c, ptrdiff_t b) {
    ptrdiff_t r0 = b * c->rows_per_chunk, r1 = r0 + c->rows_per_chunk < c->n ? r0 + c->rows_per_chunk : c->n;
    double s = 0.0;
    for (ptrdiff_t r = r0; r < r1; r++)
        s += ce_row(c->grad ? c->grad + r * c->d : NULL, c->pred + r * c->d,
                    c->labels ? NULL : c->target + r * c->d, c->labels ? c->labels[r] : 0, c->d, c->gs);
    c->part[b] = s;
}

/* The chunk kernels compiled for each SIMD path, chosen by fnn_get_isa(). */
typedef void (*loss_chunk_fn)(const loss_ctx *, ptrdiff_t);
static void elem_generic(const loss_ctx *c, ptrdiff_t b) { elem_body(c, b); }
static void ce_generic(const loss_ctx *c, ptrdiff_t b) { ce_body(c, b); }
#ifdef FNN_X86_TARGETS
FNN_TARGET_AVX2 static void elem_avx2(const loss_ctx *c, ptrdiff_t b) { elem_body(c, b); }
FNN_TARGET_AVX2 static void ce_avx2(const loss_ctx *c, ptrdiff_t b) { ce_body(c, b); }
FNN_TARGET_AVX512 static void elem_avx512(const loss_ctx *c, ptrdiff_t b) { elem_body(c, b); }
FNN_TARGET_AVX512 static void ce_avx512(const loss_ctx *c, ptrdiff_t b) { ce_body(c, b); }
#endif

static loss_chunk_fn pick(int ce) {
#ifdef FNN_X86_TARGETS
    switch (fnn_get_isa()) {
    case FNN_ISA_AVX512: return ce ? ce_avx512 : elem_avx512;
    case FNN_ISA_AVX2: return ce ? ce_avx2 : elem_avx2;
    default: break;
    }
#endif
    return ce ? ce_generic : elem_generic;
}

int fnn_loss_check(const double *loss, const float *pred, const float *target, const int32_t *labels, int kind,
                   float delta, ptrdiff_t n, ptrdiff_t d) {
    if (!loss || !pred || n <= 0 || d <= 0 || kind < 0 || kind >= FNN_LOSS_COUNT) return FNN_ERR_ARG;
    if (kind == FNN_LOSS_CE_LOGITS) {
        if (!labels && !target) return FNN_ERR_ARG;
        if (labels)
            for (ptrdiff_t r = 0; r < n; r++)
                if (labels[r] < 0 || labels[r] >= d) return FNN_ERR_ARG;
    } else if (!target) {
        return FNN_ERR_ARG;
    }
    if (kind == FNN_LOSS_HUBER && !(delta > 0.0f)) return FNN_ERR_ARG;
    return FNN_OK;
}

// loss = mean L(pred (N,D), target (N,D) | labels (N)); grad (N,D) = grad_scale * dloss/dpred
int fnn_loss_forward_backward(float *grad, double *loss, const float *pred, const float *target,
                              const int32_t *labels, int kind, float delta, float grad_scale, ptrdiff_t n,
                              ptrdiff_t d, int n_threads) {
    int st = fnn_loss_check(loss, pred, target, labels, kind, delta, n, d);
    if (st) return st;
    loss_ctx c = {grad, NULL, pred, target, kind == FNN_LOSS_CE_LOGITS ? labels : NULL, kind, delta, 0.0f, n, d, 1};
    ptrdiff_t nch;
    double count, cost;
    if (kind == FNN_LOSS_CE_LOGITS) {
        c.rows_per_chunk = d >= LOSS_BLOCK ? 1 : LOSS_BLOCK / d;
        nch = (n + c.rows_per_chunk - 1) / c.rows_per_chunk;
        count = (double)n;
        cost = 24.0;
    } else {
        nch = (n * d + LOSS_BLOCK - 1) / LOSS_BLOCK;
        count = (double)n * (double)d;
        cost = kind == FNN_LOSS_BCE_LOGITS ? 40.0 : 4.0;
    }
    c.gs = (float)((kind == FNN_LOSS_MSE ? 2.0 : 1.0) * (double)grad_scale / count);
    double stack_part[LOSS_STACK_CHUNKS];
    c.part = nch <= LOSS_STACK_CHUNKS ? stack_part : (double *)malloc((size_t)nch * sizeof(double));
    if (!c.part) return FNN_ERR_NOMEM;
    loss_chunk_fn fn = pick(kind == FNN_LOSS_CE_LOGITS);
    int nt = fnn_threads_for((double)n * (double)d * cost, n_threads);
    if (nt > nch) nt = (int)nch;
#ifdef _OPENMP
    if (nt > 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (ptrdiff_t b = 0; b < nch; b++) fn(&c, b);
    } else
#endif
    {
        for (ptrdiff_t b = 0; b < nch; b++) fn(&c, b);
    }
    double s = 0.0;
    for (ptrdiff_t b = 0; b < nch; b++) s += c.part[b];
    if (c.part != stack_part) free(c.part);
    *loss = s / count;
    return FNN_OK;
}
