/* fastnn: 2-D convolution (NCHW), the fast path.
     general:   per sample, im2col (zero-filled padding, stride, dilation) into a per-thread buffer, then one
                fnn_sgemm per group: out_n[g] (OC/G, OH*OW) = w[g] (OC/G, C/G*KH*KW) @ col_n[g].
     1x1:       stride 1, no padding: the GEMM reads the input sample in place (no im2col).
     depthwise: G = C = OC: a direct loop per (sample, channel) plane (fnn_conv_dw.c).
   Threads: OpenMP over samples (GEMMs on one thread inside) when the batch has at least as many samples as
   threads, otherwise samples in turn with the GEMM threaded.  The backward pass splits the batch into fixed
   chunks of CONV_CHUNK samples: each chunk's weight gradient is a partial sum in the workspace (samples in
   order), and the partials are added in chunk order.  fnn_sgemm is bitwise identical for any thread count,
   the chunks do not depend on it, so every result is identical for any n_threads. */
#include <string.h>

#include "fnn_conv.h"
#include "fnn_conv_impl.h"
#include "fnn_cpu.h"
#include "fnn_gemm.h"

#ifdef _OPENMP
#include <omp.h>
#endif

int fnn_conv_shape_init(fnn_conv_shape *s) {
    if (!s) return FNN_ERR_ARG;
    if (s->N < 1 || s->C < 1 || s->H < 1 || s->W < 1 || s->OC < 1 || s->KH < 1 || s->KW < 1) return FNN_ERR_ARG;
    if (s->SH < 1 || s->SW < 1 || s->DH < 1 || s->DW < 1 || s->PH < 0 || s->PW < 0 || s->G < 1) return FNN_ERR_ARG;
    if (s->C % s->G || s->OC % s->G) return FNN_ERR_ARG;
    ptrdiff_t eh = s->H + 2 * s->PH - s->DH * (s->KH - 1) - 1, ew = s->W + 2 * s->PW - s->DW * (s->KW - 1) - 1;
    if (eh < 0 || ew < 0) return FNN_ERR_ARG;  /* (dilated) kernel larger than the padded input */
    s->OH = eh / s->SH + 1;
    s->OW = ew / s->SW + 1;
    return FNN_OK;
}

/* The geometry fields are consistent (the caller ran fnn_conv_shape_init, or filled OH/OW the same way). */
static int shape_ok(const fnn_conv_shape *s) {
    if (!s) return 0;
    fnn_conv_shape t = *s;
    return fnn_conv_shape_init(&t) == FNN_OK && t.OH == s->OH && t.OW == s->OW;
}

int fnn_conv_is_depthwise(const fnn_conv_shape *s) { return s->G > 1 && s->G == s->C && s->G == s->OC; }

/* 1x1 kernel, stride 1, no padding: the column matrix of a sample is the sample itself. */
static int is_pointwise(const fnn_conv_shape *s) {
    return s->KH == 1 && s->KW == 1 && s->SH == 1 && s->SW == 1 && s->PH == 0 && s->PW == 0;
}

/* Per-thread buffer: the column matrix, or (direct route) the zero-bordered sample or output gradient. */
static ptrdiff_t col_floats(const fnn_conv_shape *s) {
    if (fnn_conv_is_depthwise(s) || is_pointwise(s)) return 0;
    ptrdiff_t col = s->C * s->KH * s->KW * s->OH * s->OW + FNN_CONV_COL_SLACK;
    if (fnn_conv_direct_geometry(s)) {
        ptrdiff_t d = fnn_conv_direct_scratch_floats(s);
        if (d > col) col = d;
    }
    if (fnn_conv_wino_geometry(s)) {
        ptrdiff_t d = fnn_conv_wino_scratch_floats(s);
        if (d > col) col = d;
    }
    return col;
}

/* The direct route's flipped weights (input gradient), after the partials. */
static ptrdiff_t flip_floats(const fnn_conv_shape *s) {
    return fnn_conv_direct_geometry(s) ? s->OC * s->C * s->KH * s->KW : 0;
}

/* The Winograd route's transformed filters, after the flipped weights. */
static ptrdiff_t wino_filter_floats(const fnn_conv_shape *s) {
    return fnn_conv_wino_geometry(s) ? fnn_conv_wino_filter_floats(s) : 0;
}

/* One weight-gradient partial: dw's size, or the Winograd domain's when that is larger. */
static ptrdiff_t partial_floats(const fnn_conv_shape *s) {
    ptrdiff_t wsz = s->OC * (s->C / s->G) * s->KH * s->KW;
    if (fnn_conv_wino_geometry(s)) {
        ptrdiff_t p = fnn_conv_wino_partial_floats(s);
        if (p > wsz) wsz = p;
    }
    return wsz;
}

static ptrdiff_t n_chunks(const fnn_conv_shape *s) { return (s->N + CONV_CHUNK - 1) / CONV_CHUNK; }

/* The weight-gradient partials are computed transposed, dw[g]^T (Kg, OCg) = col_n[g] (Kg, P) @ dout_n[g]^T,
   when Kg >= 4 OCg: our GEMM runs that form faster than dout @ col^T for tall col (measured, bench_conv.py). */
static int dw_transposed(const fnn_conv_shape *s) { return s->C / s->G * s->KH * s->KW >= 4 * (s->OC / s->G); }

/* Partial weight gradients in the workspace: one per chunk, unless there is one chunk written straight to dw. */
static ptrdiff_t n_partials(const fnn_conv_shape *s) {
    if (fnn_conv_is_depthwise(s)) return 0;
    return n_chunks(s) > 1 || dw_transposed(s) || fnn_conv_wino_geometry(s) ? n_chunks(s) : 0;
}

/* Column buffers: one per outer thread, at most min(n_threads, N). */
static ptrdiff_t n_col_bufs(const fnn_conv_shape *s, int n_threads) {
    ptrdiff_t nt = n_threads < 1 ? 1 : n_threads;
    return nt < s->N ? nt : s->N;
}

/* The workspace's regions, in order: column buffers, weight-gradient partials, the direct route's flipped
   weights, the Winograd route's transformed filters. */
static float *ws_partials(const fnn_conv_shape *s, float *ws, int n_threads) {
    return ws + n_col_bufs(s, n_threads) * col_floats(s);
}

static float *ws_flip(const fnn_conv_shape *s, float *ws, int n_threads) {
    return ws_partials(s, ws, n_threads) + n_partials(s) * partial_floats(s);
}

static float *ws_wino(const fnn_conv_shape *s, float *ws, int n_threads) {
    return ws_flip(s, ws, n_threads) + flip_floats(s);
}

ptrdiff_t fnn_conv_workspace_floats(const fnn_conv_shape *s, int n_threads) {
    if (!shape_ok(s)) return 0;
    ptrdiff_t part = n_partials(s) * partial_floats(s);
    return n_col_bufs(s, n_threads) * col_floats(s) + part + flip_floats(s) + wino_filter_floats(s);
}

/* Output columns [*lo, *hi) whose input column ow*S + off lies in [0, W). */
void fnn_conv_valid_range(ptrdiff_t *lo, ptrdiff_t *hi, ptrdiff_t off, ptrdiff_t S, ptrdiff_t W, ptrdiff_t OW) {
    ptrdiff_t a = off >= 0 ? 0 : (-off + S - 1) / S;
    ptrdiff_t b = W - 1 - off < 0 ? 0 : (W - 1 - off) / S + 1;
    if (b > OW) b = OW;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* Threads for the outer (per sample or per chunk) loop given `items` of them; 1 = serial with threaded GEMMs. */
static int outer_threads(double work, ptrdiff_t items, int n_threads) {
#ifndef _OPENMP
    return 1;
#endif
    int nt = fnn_threads_for(work, n_threads);
    return nt > 1 && items >= nt ? nt : 1;
}

static int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

typedef struct {
    const fnn_conv_shape *s;
    float *out, *dx, *dw, *ws, *part;
    const float *x, *w, *bias, *dout;
    ptrdiff_t colsz, wsz;
    const float *wflip;   /* direct route: flipped weights for the input gradient */
    const float *wino;    /* Winograd route: transformed filters (fnn_conv_wino_prepare) */
    int gemm_threads, dw_t, relu;
    int direct_fwd, direct_dx, direct_dw;   /* which passes take the direct route (fnn_conv_direct.c) */
    int wino_fwd, wino_dx, wino_dw;         /* which take the Winograd route (fnn_conv_wino.c) */
} conv_ctx;

// out_n (OC,OH*OW) = w (OC, C/G*KH*KW) @ im2col(x_n) + bias, per group
static int forward_sample(const conv_ctx *c, ptrdiff_t n, float *col) {
    const fnn_conv_shape *s = c->s;
    const ptrdiff_t G = s->G, OCg = s->OC / G, Kg = s->C / G * s->KH * s->KW, P = s->OH * s->OW;
    const float *xn = c->x + n * s->C * s->H * s->W;
    float *on = c->out + n * s->OC * P;
    if (c->wino_fwd) {
        fnn_conv_wino_forward_sample(on, xn, c->wino, c->bias, c->relu, s, col);
        return FNN_OK;
    }
    if (c->direct_fwd) {
        fnn_conv_direct_forward_sample(on, xn, c->w, c->bias, c->relu, s, col);
        return FNN_OK;
    }
    if (is_pointwise(s)) {
        col = (float *)xn;  /* read only */
    } else {
        fnn_conv_im2col(col, xn, s);
    }
    int st = FNN_OK;
    for (ptrdiff_t g = 0; g < G && st == FNN_OK; g++) {
        /* the bias (per output channel: per row of C) and the ReLU in the GEMM's epilogue */
        const fnn_gemm_epilogue ep = {NULL, c->relu, c->bias ? c->bias + g * OCg : NULL};
        st = fnn_sgemm_ep(0, 0, OCg, P, Kg, 1.0f, c->w + g * OCg * Kg, Kg, col + g * Kg * P, P, 0.0f,
                          on + g * OCg * P, P, &ep, c->gemm_threads);
    }
    return st;
}

// out (N,OC,OH,OW) = conv(x (N,C,H,W), w (OC,C/G,KH,KW)) + bias (OC) (bias may be NULL)
int fnn_conv2d_forward(float *out, const float *x, const float *w, const float *bias, const fnn_conv_shape *s,
                       float *ws, int n_threads) {
    return fnn_conv2d_forward_ep(out, x, w, bias, s, 0, ws, n_threads);
}

// out = conv(x, w) + bias, then max(out, 0) when relu
int fnn_conv2d_forward_ep(float *out, const float *x, const float *w, const float *bias, const fnn_conv_shape *s,
                          int relu, float *ws, int n_threads) {
    if (!shape_ok(s) || !out || !x || !w) return FNN_ERR_ARG;
    if (fnn_conv_is_depthwise(s)) {
        int st = fnn_conv_dw_forward(out, x, w, bias, s, n_threads);
        if (st != FNN_OK || !relu) return st;
        /* the depthwise kernel has no epilogue: the ReLU as its own pass, planes over threads as the
           activation pass it replaces (FNN_ELEM_COST per element, as in fnn_act.c) */
        const ptrdiff_t planes = s->N * s->OC, P = s->OH * s->OW;
        int nt = fnn_threads_for(FNN_ELEM_COST * (double)planes * (double)P, n_threads);
        if (nt > planes) nt = (int)planes;
        (void)nt;
        CONV_PAR_FOR(nt)
        for (ptrdiff_t q = 0; q < planes; q++) {
            float *o = out + q * P;
            for (ptrdiff_t i = 0; i < P; i++) o[i] = o[i] > 0.0f ? o[i] : 0.0f;
        }
        return FNN_OK;
    }
    conv_ctx c = {0};
    c.s = s; c.out = out; c.x = x; c.w = w; c.bias = bias; c.ws = ws; c.relu = relu != 0;
    c.wino_fwd = fnn_conv_wino_ok(s, FNN_WINO_FWD);
    c.direct_fwd = !c.wino_fwd && fnn_conv_direct_ok(s);
    c.colsz = col_floats(s);
    if (c.colsz && !ws) return FNN_ERR_ARG;
    if (c.wino_fwd) {
        float *wf = ws_wino(s, ws, n_threads);
        fnn_conv_wino_prepare(wf, w, s, 1, 0, n_threads);
        c.wino = wf;
    }
    double work = 2.0 * (double)s->N * (double)s->OC * (double)(s->C / s->G * s->KH * s->KW) * (double)(s->OH * s->OW);
    int nt = outer_threads(work, s->N, n_threads);
    int st = FNN_OK;
    if (nt > 1) {
#ifdef _OPENMP
        c.gemm_threads = 1;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) reduction(max : st)
        for (ptrdiff_t n = 0; n < s->N; n++) {
            int r = forward_sample(&c, n, ws + thread_id() * c.colsz);
            if (r > st) st = r;
        }
#endif
    } else {
        c.gemm_threads = fnn_threads_for(work, n_threads);
        for (ptrdiff_t n = 0; n < s->N && st == FNN_OK; n++) st = forward_sample(&c, n, ws);
    }
    return st;
}

/* a[i] += b[i], i < n (a weight-gradient partial into the running sum; elementwise, any split) */
static void add_partial(float *FNN_RESTRICT a, const float *FNN_RESTRICT b, ptrdiff_t n, int n_threads) {
    int nt = fnn_threads_for(FNN_ELEM_COST * (double)n, n_threads);
    (void)nt;
    CONV_PAR_FOR(nt)
    for (ptrdiff_t i = 0; i < n; i++) a[i] += b[i];
}

/* One chunk of samples: its weight-gradient partial into dwp (overwritten), and dx of its samples. */
static int backward_chunk(const conv_ctx *c, ptrdiff_t chunk, float *dwp, float *col) {
    const fnn_conv_shape *s = c->s;
    const ptrdiff_t G = s->G, OCg = s->OC / G, Kg = s->C / G * s->KH * s->KW, P = s->OH * s->OW;
    const ptrdiff_t CHW = s->C * s->H * s->W;
    const int gt = c->gemm_threads, pw = is_pointwise(s);
    ptrdiff_t n0 = chunk * CONV_CHUNK, n1 = n0 + CONV_CHUNK < s->N ? n0 + CONV_CHUNK : s->N;
    int st = FNN_OK;
    if (c->direct_dw) /* the whole chunk's weight gradient at once, no column matrix */
        fnn_conv_direct_dw_chunk(dwp, c->dout + n0 * s->OC * P, c->x + n0 * CHW, n1 - n0, s, col);
    if (c->wino_dw) /* likewise, in the Winograd domain */
        fnn_conv_wino_dw_chunk(dwp, c->x + n0 * CHW, c->dout + n0 * s->OC * P, n1 - n0, s, col);
    for (ptrdiff_t n = n0; n < n1 && st == FNN_OK; n++) {
        const float *xn = c->x + n * CHW, *dn = c->dout + n * s->OC * P;
        /* dw[g] (OCg, Kg) (+)= dout_n[g] (OCg, P) @ col_n[g]^T (P, Kg) */
        if (!c->direct_dw && !c->wino_dw) {
            const float *cn = xn;
            if (!pw) {
                fnn_conv_im2col(col, xn, s);
                cn = col;
            }
            for (ptrdiff_t g = 0; g < G && st == FNN_OK; g++) {
                if (c->dw_t) /* dw[g]^T (Kg, OCg) (+)= col_n[g] (Kg, P) @ dout_n[g]^T (P, OCg) */
                    st = fnn_sgemm(0, 1, Kg, OCg, P, 1.0f, cn + g * Kg * P, P, dn + g * OCg * P, P,
                                   n == n0 ? 0.0f : 1.0f, dwp + g * OCg * Kg, OCg, gt);
                else
                    st = fnn_sgemm(0, 1, OCg, Kg, P, 1.0f, dn + g * OCg * P, P, cn + g * Kg * P, P,
                                   n == n0 ? 0.0f : 1.0f, dwp + g * OCg * Kg, Kg, gt);
            }
        }
        if (!c->dx || st != FNN_OK) continue;
        if (c->wino_dx) {
            fnn_conv_wino_dx_sample(c->dx + n * CHW, dn, c->wino, s, col);
            continue;
        }
        if (c->direct_dx) {   /* the column buffer is free again: it takes the zero-bordered dout_n */
            fnn_conv_direct_dx_sample(c->dx + n * CHW, dn, c->wflip, s, col);
            continue;
        }
        /* dcol[g] (Kg, P) = w[g]^T (Kg, OCg) @ dout_n[g] (OCg, P); pointwise: straight into dx_n */
        float *dst = pw ? c->dx + n * CHW : col;
        for (ptrdiff_t g = 0; g < G && st == FNN_OK; g++)
            st = fnn_sgemm(1, 0, Kg, P, OCg, 1.0f, c->w + g * OCg * Kg, Kg, dn + g * OCg * P, P, 0.0f,
                           dst + g * Kg * P, P, gt);
        if (!pw && st == FNN_OK) fnn_conv_col2im(c->dx + n * CHW, col, s);
    }
    return st;
}

// db (OC) = sum over n, oh, ow of dout (N,OC,OH,OW), in double, samples in order
void fnn_conv_bias_grad(float *db, const float *dout, const fnn_conv_shape *s, int n_threads) {
    const ptrdiff_t P = s->OH * s->OW;
    int nt = fnn_threads_for(FNN_ELEM_COST * (double)s->N * (double)s->OC * (double)P, n_threads);   /* memory-bound */
    if (nt > s->OC) nt = (int)s->OC;
    (void)nt;
    CONV_PAR_FOR(nt)
    for (ptrdiff_t o = 0; o < s->OC; o++) {
        double acc = 0.0;
        for (ptrdiff_t n = 0; n < s->N; n++) {
            const float *d = dout + (n * s->OC + o) * P;
            float lane[16] = {0};  /* 16 float lanes in a fixed order (vectorisable), then the double total */
            ptrdiff_t p = 0;
            for (; p + 16 <= P; p += 16)
                for (int l = 0; l < 16; l++) lane[l] += d[p + l];
            double plane = 0.0;
            for (int l = 0; l < 16; l++) plane += lane[l];
            for (; p < P; p++) plane += d[p];
            acc += plane;
        }
        db[o] = (float)acc;
    }
}

/* dx (N,C,H,W) = dL/dx (skipped when NULL); dw (OC,C/G,KH,KW); db (OC) (skipped when NULL); all overwritten */
int fnn_conv2d_backward(float *dx, float *dw, float *db, const float *dout, const float *x, const float *w,
                        const fnn_conv_shape *s, float *ws, int n_threads) {
    if (!shape_ok(s) || !dw || !dout || !x || !w) return FNN_ERR_ARG;
    if (db) fnn_conv_bias_grad(db, dout, s, n_threads);
    if (fnn_conv_is_depthwise(s)) return fnn_conv_dw_backward(dx, dw, dout, x, w, s, n_threads);
    conv_ctx c = {0};
    c.s = s; c.dx = dx; c.dw = dw; c.dout = dout; c.x = x; c.w = w; c.ws = ws;
    c.colsz = col_floats(s);
    c.wino_dw = fnn_conv_wino_ok(s, FNN_WINO_DW);
    c.wino_dx = dx && fnn_conv_wino_ok(s, FNN_WINO_DX);
    c.wsz = c.wino_dw ? fnn_conv_wino_partial_floats(s) : s->OC * (s->C / s->G) * s->KH * s->KW;
    /* the direct weight gradient: a tile does RO x KW FMAs per RO + KW loads, and the GEMM route's N is OC;
       it wins for few output channels and wide kernels (measured: 1->6 5x5 2.6x, 1->20 5x5 1.07x, 6->16 5x5
       even; 1->32 5x5 and 16->16 3x3 lose 15-30%) */
    /* AVX2 (8 lanes, 16 registers: weight-gradient tiles of 2 channels, not 4): the direct weight gradient
       wins only for one input channel (1->6 5x5 4x, 1->20 5x5 1.9x; 6->16 5x5 loses 15%), and the direct
       input gradient loses to the GEMM route (6->16 5x5: 1.5x slower), unless forced (mode 1) */
    const int narrow = fnn_get_isa() != FNN_ISA_AVX512 && fnn_conv_direct_mode != 1;
    c.direct_dw = !c.wino_dw && s->OC <= 20 && s->KW >= 5 && fnn_conv_direct_ok(s) && !(narrow && s->C > 1);
    c.dw_t = dw_transposed(s) && !c.direct_dw && !c.wino_dw;   /* the direct partials are in dw's own layout */
    const ptrdiff_t OCg = s->OC / s->G, Kg = s->C / s->G * s->KH * s->KW;
    const ptrdiff_t nch = n_chunks(s);
    const int use_part = n_partials(s) > 0;
    if ((c.colsz || use_part) && !ws) return FNN_ERR_ARG;
    float *part = ws_partials(s, ws, n_threads);
    c.direct_dx = !c.wino_dx && dx && s->C >= 4 && fnn_conv_direct_ok(s) && !narrow;   /* C < 4: tiles mostly empty */
    if (c.direct_dx) {
        float *wf = ws_flip(s, ws, n_threads);
        fnn_conv_direct_flip_weights(wf, w, s);
        c.wflip = wf;
    }
    if (c.wino_dx) {
        float *wf = ws_wino(s, ws, n_threads);
        fnn_conv_wino_prepare(wf, w, s, 0, 1, n_threads);
        c.wino = wf;
    }
    double work = (dx ? 4.0 : 2.0) * (double)s->N * (double)s->OC * (double)(s->C / s->G * s->KH * s->KW) *
                  (double)(s->OH * s->OW);
    int nt = outer_threads(work, nch, n_threads);
    int st = FNN_OK;
    if (nt > 1) {
#ifdef _OPENMP
        c.gemm_threads = 1;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) reduction(max : st)
        for (ptrdiff_t k = 0; k < nch; k++) {
            int r = backward_chunk(&c, k, part + k * c.wsz, ws + thread_id() * c.colsz);
            if (r > st) st = r;
        }
#endif
    } else {
        /* one outer thread: the chunks run in order, so each partial is added into partial 0 as soon as it is
           done (the same float adds in the same order as the reduction below), partial 1 the only other
           buffer: both stay in cache instead of nch partials streaming back from memory */
        c.gemm_threads = fnn_threads_for(work, n_threads);
        for (ptrdiff_t k = 0; k < nch && st == FNN_OK; k++) {
            st = backward_chunk(&c, k, use_part ? part + (k > 0) * c.wsz : dw, ws);
            if (st == FNN_OK && use_part && k > 0) add_partial(part, part + c.wsz, c.wsz, c.gemm_threads);
        }
    }
    if (st != FNN_OK || !use_part) return st;
    /* dw = partial 0 + partial 1 + ... in chunk order: summed into partial 0 in place (streaming, each element
       by one thread in the same order whatever the split; on one outer thread the loop above did it), then
       copied (or transposed) into dw */
    int rt = fnn_threads_for(FNN_ELEM_COST * (double)nch * (double)c.wsz, n_threads);   /* memory-bound */
    (void)rt;
    if (nch > 1 && nt > 1) {
        const ptrdiff_t nblk = (c.wsz + 4095) / 4096;
        CONV_PAR_FOR(rt)
        for (ptrdiff_t bi = 0; bi < nblk; bi++) {
            ptrdiff_t i0 = bi * 4096, i1 = i0 + 4096 < c.wsz ? i0 + 4096 : c.wsz;
            for (ptrdiff_t k = 1; k < nch; k++) {
                const float *pk = part + k * c.wsz;
                for (ptrdiff_t i = i0; i < i1; i++) part[i] += pk[i];
            }
        }
    }
    if (c.wino_dw) {
        fnn_conv_wino_dw_finish(dw, part, s, n_threads);
        return FNN_OK;
    }
    if (!c.dw_t) {
        memcpy(dw, part, (size_t)c.wsz * sizeof(float));
        return FNN_OK;
    }
    for (ptrdiff_t g = 0; g < s->G; g++) /* dw[g] (OCg, Kg) = partial[g]^T, partial[g] (Kg, OCg) */
        for (ptrdiff_t k = 0; k < Kg; k++)
            for (ptrdiff_t o = 0; o < OCg; o++) dw[(g * OCg + o) * Kg + k] = part[(g * Kg + k) * OCg + o];
    return FNN_OK;
}
