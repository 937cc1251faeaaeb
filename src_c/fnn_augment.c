/* fastnn: image augmentation of a mini-batch in place, the fast path (OpenMP over samples).
   Randomness: op j draws from op_seed = seed ^ fnn_mix64(0xA0 + j); draw k of sample i (i = position in the
   batch) is fnn_rand64(op_seed, step, i * 8 + k) for k < 8 and fnn_rand64(op_seed ^ fnn_mix64(k >> 3), step,
   i * 8 + (k & 7)) beyond (cutout holes, erasing attempts).  Draw 0 decides whether the op applies (u < p).
   Gaussian noise draws per pixel pair from fnn_rand64(fnn_mix64(op_seed ^ AUG_NOISE_SALT), step,
   (i << 32) | pair).  Each sample depends only on (seed, step, i): identical for any thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fnn_augment.h"
#include "fnn_rng.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define AUG_NOISE_SALT 0x4E4F495345ULL
#define AUG_ERASE_TRIES 10
#define AUG_MAX_INT 1000000       /* bound on integer parameters (pixels, holes) */

typedef struct {
    const fnn_augment_op *ops;
    int n_ops;
    ptrdiff_t C, H, W;
    uint64_t seed, step;
} aug_ctx;

/* 64 random bits: draw k of sample i under op_seed. */
FNN_INLINE uint64_t aug_draw(uint64_t op_seed, uint64_t step, ptrdiff_t i, int k) {
    uint64_t s = k < 8 ? op_seed : op_seed ^ fnn_mix64((uint64_t)k >> 3);
    return fnn_rand64(s, step, (uint64_t)i * 8 + (uint64_t)(k & 7));
}

/* Uniform float in [0, 1) (24 bits) and double in [0, 1) (53 bits) from 64 random bits. */
FNN_INLINE float aug_u24(uint64_t r) { return (float)(r >> 40) * (1.0f / 16777216.0f); }
FNN_INLINE double aug_u53(uint64_t r) { return (double)(r >> 11) * (1.0 / 9007199254740992.0); }

/* Uniform integer in [0, n), n < 2^32 (multiply-high of the top 32 bits). */
FNN_INLINE ptrdiff_t aug_int(uint64_t r, ptrdiff_t n) { return (ptrdiff_t)(((r >> 32) * (uint64_t)n) >> 32); }

FNN_INLINE void fill_span(float *p, ptrdiff_t n, float v) {
    for (ptrdiff_t j = 0; j < n; j++) p[j] = v;
}

// dst (W) = src (W) shifted right by dx (dst[x] = src[x - dx]), fill outside; dst may equal src
FNN_INLINE void shift_row(float *dst, const float *src, ptrdiff_t W, ptrdiff_t dx, float fill) {
    if (dx >= 0) {
        memmove(dst + dx, src, (size_t)(W - dx) * sizeof(float));
        fill_span(dst, dx, fill);
    } else {
        memmove(dst, src - dx, (size_t)(W + dx) * sizeof(float));
        fill_span(dst + W + dx, -dx, fill);
    }
}

// img (C,H,W) shifted in place: img[c,y,x] = old[c, y - dy, x - dx], fill where that is outside
static void shift_image(float *img, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, ptrdiff_t dx, ptrdiff_t dy, float fill) {
    if (dx == 0 && dy == 0) return;
    if (dx >= W || -dx >= W || dy >= H || -dy >= H) {
        fill_span(img, C * H * W, fill);
        return;
    }
    for (ptrdiff_t c = 0; c < C; c++) {
        float *p = img + c * H * W;
        if (dy >= 0) {   /* bottom-up: a source row is read before it is overwritten */
            for (ptrdiff_t y = H - 1; y >= dy; y--) shift_row(p + y * W, p + (y - dy) * W, W, dx, fill);
            fill_span(p, dy * W, fill);
        } else {
            for (ptrdiff_t y = 0; y < H + dy; y++) shift_row(p + y * W, p + (y - dy) * W, W, dx, fill);
            fill_span(p + (H + dy) * W, -dy * W, fill);
        }
    }
}

// img (C,H,W) mirrored left-right.  Small planes: reversed whole (one long vectorised loop into a stack copy),
// then rows copied back in reverse order; large planes: swaps within each row
static void hflip_image(float *img, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W) {
    float tmp[1024];
    const ptrdiff_t HW = H * W;
    for (ptrdiff_t c = 0; c < C; c++) {
        float *FNN_RESTRICT p = img + c * HW;
        if (HW <= 1024) {
            for (ptrdiff_t k = 0; k < HW; k++) tmp[k] = p[HW - 1 - k];   /* tmp = p flipped both ways */
            for (ptrdiff_t y = 0; y < H; y++) memcpy(p + y * W, tmp + (H - 1 - y) * W, (size_t)W * sizeof(float));
            continue;
        }
        for (ptrdiff_t r = 0; r < H; r++) {
            float *q = p + r * W;
            for (ptrdiff_t x = 0, y = W - 1; x < y; x++, y--) {
                float t = q[x];
                q[x] = q[y];
                q[y] = t;
            }
        }
    }
}

// img (C,H,W) mirrored top-bottom (rows swapped element by element: vectorisable, no scratch)
static void vflip_image(float *img, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W) {
    for (ptrdiff_t c = 0; c < C; c++) {
        float *p = img + c * H * W;
        for (ptrdiff_t y0 = 0, y1 = H - 1; y0 < y1; y0++, y1--) {
            float *FNN_RESTRICT a = p + y0 * W;
            float *FNN_RESTRICT b = p + y1 * W;
            for (ptrdiff_t x = 0; x < W; x++) {
                float t = a[x];
                a[x] = b[x];
                b[x] = t;
            }
        }
    }
}

FNN_INLINE float pix_or(const float *p, ptrdiff_t H, ptrdiff_t W, ptrdiff_t y, ptrdiff_t x, float fill) {
    return (y >= 0 && y < H && x >= 0 && x < W) ? p[y * W + x] : fill;
}

#define ROT_CHUNK 64   /* pixels of a row whose source coordinates are computed together (vectorised) */

// img (C,H,W) = bilinear rotation of src (C,H,W) by (cs, sn) about the centre, counter-clockwise on screen.
// Per chunk of a row: coordinates, floors and weights in vectorisable loops, then the gathers
static void rotate_image(float *img, const float *src, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, float cs, float sn,
                         float fill) {
    const float cx = 0.5f * (float)(W - 1), cy = 0.5f * (float)(H - 1);
    const ptrdiff_t HW = H * W;
    int32_t ix[ROT_CHUNK], iy[ROT_CHUNK];
    float w00[ROT_CHUNK], w01[ROT_CHUNK], w10[ROT_CHUNK], w11[ROT_CHUNK];
    for (ptrdiff_t y = 0; y < H; y++) {
        const float v = (float)y - cy;
        for (ptrdiff_t xb = 0; xb < W; xb += ROT_CHUNK) {
            const int nx = (int)(W - xb < ROT_CHUNK ? W - xb : ROT_CHUNK);
            for (int k = 0; k < nx; k++) {
                const float u = (float)((int32_t)xb + k) - cx;   /* int32 -> float vectorises */
                const float xs = cx + cs * u - sn * v, ys = cy + sn * u + cs * v;
                /* floor by truncation (no SSE4.1 roundps in the baseline build); |xs|, |ys| < 2^23 */
                int32_t x0 = (int32_t)xs, y0 = (int32_t)ys;
                x0 -= (float)x0 > xs;
                y0 -= (float)y0 > ys;
                const float fx = xs - (float)x0, fy = ys - (float)y0;
                ix[k] = x0;
                iy[k] = y0;
                w00[k] = (1.0f - fx) * (1.0f - fy);
                w01[k] = fx * (1.0f - fy);
                w10[k] = (1.0f - fx) * fy;
                w11[k] = fx * fy;
            }
            for (int k = 0; k < nx; k++) {
                const ptrdiff_t x0 = ix[k], y0 = iy[k], o = y * W + xb + k;
                if (x0 >= 0 && x0 + 1 < W && y0 >= 0 && y0 + 1 < H) {   /* all four neighbours inside */
                    const ptrdiff_t q = y0 * W + x0;
                    for (ptrdiff_t c = 0; c < C; c++) {
                        const float *s = src + c * HW + q;
                        img[c * HW + o] = w00[k] * s[0] + w01[k] * s[1] + w10[k] * s[W] + w11[k] * s[W + 1];
                    }
                } else if (!(x0 >= -1 && x0 < W && y0 >= -1 && y0 < H)) {
                    for (ptrdiff_t c = 0; c < C; c++) img[c * HW + o] = fill;
                } else {
                    for (ptrdiff_t c = 0; c < C; c++) {
                        const float *s = src + c * HW;
                        img[c * HW + o] = w00[k] * pix_or(s, H, W, y0, x0, fill) +
                                          w01[k] * pix_or(s, H, W, y0, x0 + 1, fill) +
                                          w10[k] * pix_or(s, H, W, y0 + 1, x0, fill) +
                                          w11[k] * pix_or(s, H, W, y0 + 1, x0 + 1, fill);
                    }
                }
            }
        }
    }
}

// img (C,H,W): rectangle rows [y0, y0+h) x cols [x0, x0+w) (already clipped) set to v in every channel
static void fill_rect(float *img, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, ptrdiff_t y0, ptrdiff_t h, ptrdiff_t x0,
                      ptrdiff_t w, float v) {
    for (ptrdiff_t c = 0; c < C; c++)
        for (ptrdiff_t y = y0; y < y0 + h; y++) fill_span(img + (c * H + y) * W + x0, w, v);
}

// img (C,H,W): x = m_c + f * (x - m_c), m_c the channel mean (summed in double over 4 interleaved partials)
static void contrast_image(float *img, ptrdiff_t C, ptrdiff_t HW, float f) {
    for (ptrdiff_t c = 0; c < C; c++) {
        float *FNN_RESTRICT p = img + c * HW;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        ptrdiff_t j = 0;
        for (; j + 4 <= HW; j += 4) {
            s0 += p[j];
            s1 += p[j + 1];
            s2 += p[j + 2];
            s3 += p[j + 3];
        }
        for (; j < HW; j++) s0 += p[j];
        const float m = (float)(((s0 + s1) + (s2 + s3)) / (double)HW);
        for (j = 0; j < HW; j++) p[j] = m + f * (p[j] - m);
    }
}

// img (N) += std * N(0, 1) by Box-Muller, one 64-bit draw per pair of pixels
static void noise_image(float *img, ptrdiff_t n, float std, uint64_t nseed, uint64_t step, ptrdiff_t i) {
    const uint64_t base = (uint64_t)i << 32;
    for (ptrdiff_t j = 0; j < n; j += 2) {
        const uint64_t r = fnn_rand64(nseed, step, base | (uint64_t)(j >> 1));
        const float u1 = (float)((r >> 40) + 1) * (1.0f / 16777216.0f);          /* (0, 1] */
        const float u2 = (float)((r >> 8) & 0xFFFFFFu) * (1.0f / 16777216.0f);   /* [0, 1) */
        const float rad = std * sqrtf(-2.0f * logf(u1));
        const float th = 6.283185307179586f * u2;
        img[j] += rad * cosf(th);
        if (j + 1 < n) img[j + 1] += rad * sinf(th);
    }
}

// img (C,H,W): random erasing; up to AUG_ERASE_TRIES rectangles tried, the first that fits is zeroed
static void erase_image(float *img, const fnn_augment_op *op, uint64_t os, uint64_t step, ptrdiff_t i, ptrdiff_t C,
                        ptrdiff_t H, ptrdiff_t W) {
    const double area = (double)H * (double)W, lr0 = log((double)op->c), lr1 = log((double)op->d);
    for (int t = 0; t < AUG_ERASE_TRIES; t++) {
        const double frac = (double)op->a + ((double)op->b - (double)op->a) * aug_u53(aug_draw(os, step, i, 1 + 4 * t));
        const double target = area * frac;
        const double asp = exp(lr0 + (lr1 - lr0) * aug_u53(aug_draw(os, step, i, 2 + 4 * t)));
        const ptrdiff_t h = (ptrdiff_t)lround(sqrt(target * asp)), w = (ptrdiff_t)lround(sqrt(target / asp));
        if (!(h < H && w < W)) continue;
        const ptrdiff_t y0 = aug_int(aug_draw(os, step, i, 3 + 4 * t), H - h + 1);
        const ptrdiff_t x0 = aug_int(aug_draw(os, step, i, 4 + 4 * t), W - w + 1);
        fill_rect(img, C, H, W, y0, h, x0, w, 0.0f);
        return;
    }
}

/* Every op of ops[0..n_ops) applied to sample i, img (C,H,W); scratch: C*H*W floats (rotation) or NULL. */
static void augment_sample(const aug_ctx *cx, float *img, float *scratch, ptrdiff_t i) {
    const ptrdiff_t C = cx->C, H = cx->H, W = cx->W, HW = H * W, n = C * HW;
    const uint64_t step = cx->step;
    for (int j = 0; j < cx->n_ops; j++) {
        const fnn_augment_op *op = &cx->ops[j];
        const uint64_t os = cx->seed ^ fnn_mix64(0xA0 + (uint64_t)j);
        if (op->p < 1.0f && !(aug_u24(aug_draw(os, step, i, 0)) < op->p)) continue;
        switch (op->kind) {
        case FNN_AUG_HFLIP: hflip_image(img, C, H, W); break;
        case FNN_AUG_VFLIP: vflip_image(img, C, H, W); break;
        case FNN_AUG_CROP: {
            const ptrdiff_t m = 2 * (ptrdiff_t)op->ia + 1;
            const ptrdiff_t ox = aug_int(aug_draw(os, step, i, 1), m), oy = aug_int(aug_draw(os, step, i, 2), m);
            shift_image(img, C, H, W, op->ia - ox, op->ia - oy, op->a);
            break;
        }
        case FNN_AUG_TRANSLATE: {
            const ptrdiff_t m = 2 * (ptrdiff_t)op->ia + 1;
            const ptrdiff_t dx = aug_int(aug_draw(os, step, i, 1), m) - op->ia;
            const ptrdiff_t dy = aug_int(aug_draw(os, step, i, 2), m) - op->ia;
            shift_image(img, C, H, W, dx, dy, op->a);
            break;
        }
        case FNN_AUG_ROTATE: {
            const double deg = (double)op->c + (double)op->a * (2.0 * aug_u53(aug_draw(os, step, i, 1)) - 1.0);
            const double th = deg * (3.14159265358979323846 / 180.0);
            memcpy(scratch, img, (size_t)n * sizeof(float));
            rotate_image(img, scratch, C, H, W, (float)cos(th), (float)sin(th), op->b);
            break;
        }
        case FNN_AUG_BRIGHTNESS: {
            const float delta = op->a * (2.0f * aug_u24(aug_draw(os, step, i, 1)) - 1.0f);
            for (ptrdiff_t k = 0; k < n; k++) img[k] += delta;
            break;
        }
        case FNN_AUG_CONTRAST: {
            const float f = 1.0f + op->a * (2.0f * aug_u24(aug_draw(os, step, i, 1)) - 1.0f);
            contrast_image(img, C, HW, f);
            break;
        }
        case FNN_AUG_NOISE: noise_image(img, n, op->a, fnn_mix64(os ^ AUG_NOISE_SALT), step, i); break;
        case FNN_AUG_CUTOUT: {
            const ptrdiff_t s = op->ia;
            for (int h = 0; h < op->ib && s > 0; h++) {
                const ptrdiff_t cy = aug_int(aug_draw(os, step, i, 1 + 2 * h), H);
                const ptrdiff_t cxp = aug_int(aug_draw(os, step, i, 2 + 2 * h), W);
                ptrdiff_t y0 = cy - s / 2, y1 = y0 + s, x0 = cxp - s / 2, x1 = x0 + s;
                if (y0 < 0) y0 = 0;
                if (x0 < 0) x0 = 0;
                if (y1 > H) y1 = H;
                if (x1 > W) x1 = W;
                fill_rect(img, C, H, W, y0, y1 - y0, x0, x1 - x0, op->a);
            }
            break;
        }
        case FNN_AUG_ERASE: erase_image(img, op, os, step, i, C, H, W); break;
        case FNN_AUG_CLIP: {
            const float lo = op->a, hi = op->b;
            for (ptrdiff_t k = 0; k < n; k++) {   /* two selects: maxps then minps */
                float v = img[k];
                v = v < lo ? lo : v;
                img[k] = v > hi ? hi : v;
            }
            break;
        }
        default: break;
        }
    }
}

FNN_INLINE int finite_f(float v) { return v == v && v - v == 0.0f; }

/* FNN_OK when every op is valid for images (C,H,W); shared rules with the naive twin. */
static int check_ops(const fnn_augment_op *ops, int n_ops) {
    for (int j = 0; j < n_ops; j++) {
        const fnn_augment_op *o = &ops[j];
        if (o->kind < 0 || o->kind >= FNN_AUG_COUNT) return FNN_ERR_ARG;
        if (!(o->p >= 0.0f && o->p <= 1.0f)) return FNN_ERR_ARG;
        switch (o->kind) {
        case FNN_AUG_CROP: case FNN_AUG_TRANSLATE:
            if (o->ia < 0 || o->ia > AUG_MAX_INT || !finite_f(o->a)) return FNN_ERR_ARG;
            break;
        case FNN_AUG_ROTATE:
            if (!(finite_f(o->a) && o->a >= 0.0f && finite_f(o->b) && finite_f(o->c))) return FNN_ERR_ARG;
            break;
        case FNN_AUG_BRIGHTNESS: case FNN_AUG_NOISE:
            if (!(finite_f(o->a) && o->a >= 0.0f)) return FNN_ERR_ARG;
            break;
        case FNN_AUG_CONTRAST:
            if (!(o->a >= 0.0f && o->a <= 1.0f)) return FNN_ERR_ARG;
            break;
        case FNN_AUG_CUTOUT:
            if (o->ia < 0 || o->ia > AUG_MAX_INT || o->ib < 0 || o->ib > 4096 || !finite_f(o->a)) return FNN_ERR_ARG;
            break;
        case FNN_AUG_ERASE:
            if (!(o->a > 0.0f && o->a <= o->b && o->b <= 1.0f && o->c > 0.0f && o->c <= o->d && finite_f(o->d)))
                return FNN_ERR_ARG;
            break;
        case FNN_AUG_CLIP:
            if (!(o->a <= o->b)) return FNN_ERR_ARG;   /* infinite bounds allowed, NaN not */
            break;
        default: break;
        }
    }
    return FNN_OK;
}

/* Rough flops per pixel of an op (threading threshold only). */
static double op_cost(int kind) {
    switch (kind) {
    case FNN_AUG_ROTATE: return 20.0;
    case FNN_AUG_NOISE: return 30.0;
    case FNN_AUG_CONTRAST: return 4.0;
    case FNN_AUG_CUTOUT: case FNN_AUG_ERASE: return 0.5;
    default: return 1.0;
    }
}

int fnn_augment_batch(float *x, const fnn_augment_op *ops, int n_ops, ptrdiff_t B, ptrdiff_t C, ptrdiff_t H,
                      ptrdiff_t W, uint64_t seed, uint64_t step, int n_threads) {
    // x (B, C*H*W) = ops[n_ops-1](... ops[0](x)) per sample, in place
    if (n_ops < 0 || B < 0 || C < 1 || H < 1 || W < 1 || H > AUG_MAX_INT || W > AUG_MAX_INT) return FNN_ERR_ARG;
    if (n_ops > 0 && ops == NULL) return FNN_ERR_ARG;
    int st = check_ops(ops, n_ops);
    if (st != FNN_OK) return st;
    if (B == 0 || n_ops == 0) return FNN_OK;
    if (x == NULL) return FNN_ERR_ARG;
    const ptrdiff_t n = C * H * W;
    double cost = 0.0;
    int need_scratch = 0;
    for (int j = 0; j < n_ops; j++) {
        cost += op_cost(ops[j].kind);
        need_scratch |= ops[j].kind == FNN_AUG_ROTATE;
    }
    int nt = fnn_threads_for((double)B * (double)n * cost, n_threads);
    if (nt > B) nt = (int)B;
    float *scratch = NULL;
    if (need_scratch) {
        scratch = (float *)malloc((size_t)nt * (size_t)n * sizeof(float));
        if (scratch == NULL) return FNN_ERR_NOMEM;
    }
    const aug_ctx cx = {ops, n_ops, C, H, W, seed, step};
#ifdef _OPENMP
    if (nt > 1) {
#pragma omp parallel num_threads(nt)
        {
            float *my = scratch ? scratch + (size_t)omp_get_thread_num() * (size_t)n : NULL;
#pragma omp for schedule(static)
            for (ptrdiff_t i = 0; i < B; i++) augment_sample(&cx, x + i * n, my, i);
        }
        free(scratch);
        return FNN_OK;
    }
#endif
    for (ptrdiff_t i = 0; i < B; i++) augment_sample(&cx, x + i * n, scratch, i);
    free(scratch);
    return FNN_OK;
}
