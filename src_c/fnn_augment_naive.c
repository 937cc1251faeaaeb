/* fastnn: image augmentation, the plain twin of fnn_augment.c for the tests: one thread, one sample at a time,
   geometric ops as per-pixel gathers from a copy of the image.  Same random draws as the fast path (see the
   comment at the top of fnn_augment.c), so results match bitwise where the arithmetic is the same. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fnn_augment.h"
#include "fnn_rng.h"

static uint64_t draw(uint64_t op_seed, uint64_t step, ptrdiff_t i, int k) {
    uint64_t s = op_seed;
    if (k >= 8) s = op_seed ^ fnn_mix64((uint64_t)(k / 8));
    return fnn_rand64(s, step, (uint64_t)i * 8 + (uint64_t)(k % 8));
}

static float u24(uint64_t r) { return (float)(r >> 40) / 16777216.0f; }
static double u53(uint64_t r) { return (double)(r >> 11) / 9007199254740992.0; }
static ptrdiff_t randint(uint64_t r, ptrdiff_t n) { return (ptrdiff_t)(((r >> 32) * (uint64_t)n) >> 32); }

static float at(const float *p, ptrdiff_t H, ptrdiff_t W, ptrdiff_t y, ptrdiff_t x, float fill) {
    if (y < 0 || y >= H || x < 0 || x >= W) return fill;
    return p[y * W + x];
}

// img (C,H,W)[c,y,x] = src[c, y - dy, x - dx] or fill
static void shift_naive(float *img, const float *src, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, ptrdiff_t dx,
                        ptrdiff_t dy, float fill) {
    for (ptrdiff_t c = 0; c < C; c++)
        for (ptrdiff_t y = 0; y < H; y++)
            for (ptrdiff_t x = 0; x < W; x++)
                img[(c * H + y) * W + x] = at(src + c * H * W, H, W, y - dy, x - dx, fill);
}

// img (C,H,W) = src rotated counter-clockwise (on screen) by (cs, sn) about the centre, bilinear, fill outside
static void rotate_naive(float *img, const float *src, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, float cs, float sn,
                         float fill) {
    const float cx = 0.5f * (float)(W - 1), cy = 0.5f * (float)(H - 1);
    for (ptrdiff_t c = 0; c < C; c++) {
        const float *s = src + c * H * W;
        for (ptrdiff_t y = 0; y < H; y++)
            for (ptrdiff_t x = 0; x < W; x++) {
                const float u = (float)x - cx, v = (float)y - cy;
                const float xs = cx + cs * u - sn * v, ys = cy + sn * u + cs * v;
                const float fx0 = floorf(xs), fy0 = floorf(ys);
                const float fx = xs - fx0, fy = ys - fy0;
                float out = fill;
                if (fx0 >= -1.0f && fx0 < (float)W && fy0 >= -1.0f && fy0 < (float)H) {
                    const ptrdiff_t x0 = (ptrdiff_t)fx0, y0 = (ptrdiff_t)fy0;
                    out = (1.0f - fx) * (1.0f - fy) * at(s, H, W, y0, x0, fill) +
                          fx * (1.0f - fy) * at(s, H, W, y0, x0 + 1, fill) +
                          (1.0f - fx) * fy * at(s, H, W, y0 + 1, x0, fill) + fx * fy * at(s, H, W, y0 + 1, x0 + 1, fill);
                }
                img[(c * H + y) * W + x] = out;
            }
    }
}

// img (C,H,W): pixels with y in [y0, y1) and x in [x0, x1) (clipped here) set to v
static void rect_naive(float *img, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, ptrdiff_t y0, ptrdiff_t y1, ptrdiff_t x0,
                       ptrdiff_t x1, float v) {
    for (ptrdiff_t c = 0; c < C; c++)
        for (ptrdiff_t y = 0; y < H; y++)
            for (ptrdiff_t x = 0; x < W; x++)
                if (y >= y0 && y < y1 && x >= x0 && x < x1) img[(c * H + y) * W + x] = v;
}

// img (C,H,W) with scratch tmp (C*H*W): every op applied to sample i
static void sample_naive(float *img, float *tmp, const fnn_augment_op *ops, int n_ops, ptrdiff_t i, ptrdiff_t C,
                         ptrdiff_t H, ptrdiff_t W, uint64_t seed, uint64_t step) {
    const ptrdiff_t n = C * H * W, HW = H * W;
    for (int j = 0; j < n_ops; j++) {
        const fnn_augment_op *op = &ops[j];
        const uint64_t os = seed ^ fnn_mix64(0xA0 + (uint64_t)j);
        if (op->p < 1.0f && !(u24(draw(os, step, i, 0)) < op->p)) continue;
        memcpy(tmp, img, (size_t)n * sizeof(float));
        if (op->kind == FNN_AUG_HFLIP) {
            for (ptrdiff_t c = 0; c < C; c++)
                for (ptrdiff_t y = 0; y < H; y++)
                    for (ptrdiff_t x = 0; x < W; x++) img[(c * H + y) * W + x] = tmp[(c * H + y) * W + (W - 1 - x)];
        } else if (op->kind == FNN_AUG_VFLIP) {
            for (ptrdiff_t c = 0; c < C; c++)
                for (ptrdiff_t y = 0; y < H; y++)
                    for (ptrdiff_t x = 0; x < W; x++) img[(c * H + y) * W + x] = tmp[(c * H + (H - 1 - y)) * W + x];
        } else if (op->kind == FNN_AUG_CROP) {
            /* pad by ia, crop at offset (ox, oy) of the padded image: out[y, x] = padded[y + oy, x + ox] */
            const ptrdiff_t ox = randint(draw(os, step, i, 1), 2 * op->ia + 1);
            const ptrdiff_t oy = randint(draw(os, step, i, 2), 2 * op->ia + 1);
            shift_naive(img, tmp, C, H, W, op->ia - ox, op->ia - oy, op->a);
        } else if (op->kind == FNN_AUG_TRANSLATE) {
            const ptrdiff_t dx = randint(draw(os, step, i, 1), 2 * op->ia + 1) - op->ia;
            const ptrdiff_t dy = randint(draw(os, step, i, 2), 2 * op->ia + 1) - op->ia;
            shift_naive(img, tmp, C, H, W, dx, dy, op->a);
        } else if (op->kind == FNN_AUG_ROTATE) {
            const double deg = (double)op->c + (double)op->a * (2.0 * u53(draw(os, step, i, 1)) - 1.0);
            const double th = deg * (3.14159265358979323846 / 180.0);
            rotate_naive(img, tmp, C, H, W, (float)cos(th), (float)sin(th), op->b);
        } else if (op->kind == FNN_AUG_BRIGHTNESS) {
            const float delta = op->a * (2.0f * u24(draw(os, step, i, 1)) - 1.0f);
            for (ptrdiff_t k = 0; k < n; k++) img[k] = tmp[k] + delta;
        } else if (op->kind == FNN_AUG_CONTRAST) {
            const float f = 1.0f + op->a * (2.0f * u24(draw(os, step, i, 1)) - 1.0f);
            for (ptrdiff_t c = 0; c < C; c++) {
                double s = 0.0;
                for (ptrdiff_t k = 0; k < HW; k++) s += tmp[c * HW + k];
                const float m = (float)(s / (double)HW);
                for (ptrdiff_t k = 0; k < HW; k++) img[c * HW + k] = m + f * (tmp[c * HW + k] - m);
            }
        } else if (op->kind == FNN_AUG_NOISE) {
            const uint64_t ns = fnn_mix64(os ^ 0x4E4F495345ULL);
            for (ptrdiff_t k = 0; k < n; k++) {
                const uint64_t r = fnn_rand64(ns, step, ((uint64_t)i << 32) | (uint64_t)(k / 2));
                const float u1 = (float)((r >> 40) + 1) / 16777216.0f;
                const float u2 = (float)((r >> 8) & 0xFFFFFFu) / 16777216.0f;
                const float rad = op->a * sqrtf(-2.0f * logf(u1));
                const float th = 6.283185307179586f * u2;
                img[k] = tmp[k] + rad * (k % 2 == 0 ? cosf(th) : sinf(th));
            }
        } else if (op->kind == FNN_AUG_CUTOUT) {
            for (int h = 0; h < op->ib && op->ia > 0; h++) {
                const ptrdiff_t cy = randint(draw(os, step, i, 1 + 2 * h), H);
                const ptrdiff_t cxp = randint(draw(os, step, i, 2 + 2 * h), W);
                const ptrdiff_t y0 = cy - op->ia / 2, x0 = cxp - op->ia / 2;
                rect_naive(img, C, H, W, y0, y0 + op->ia, x0, x0 + op->ia, op->a);
            }
        } else if (op->kind == FNN_AUG_ERASE) {
            const double area = (double)H * (double)W;
            for (int t = 0; t < 10; t++) {
                const double frac = (double)op->a + ((double)op->b - (double)op->a) * u53(draw(os, step, i, 1 + 4 * t));
                const double target = area * frac;
                const double lr0 = log((double)op->c), lr1 = log((double)op->d);
                const double asp = exp(lr0 + (lr1 - lr0) * u53(draw(os, step, i, 2 + 4 * t)));
                const ptrdiff_t h = (ptrdiff_t)lround(sqrt(target * asp)), w = (ptrdiff_t)lround(sqrt(target / asp));
                if (h >= H || w >= W) continue;
                const ptrdiff_t y0 = randint(draw(os, step, i, 3 + 4 * t), H - h + 1);
                const ptrdiff_t x0 = randint(draw(os, step, i, 4 + 4 * t), W - w + 1);
                rect_naive(img, C, H, W, y0, y0 + h, x0, x0 + w, 0.0f);
                break;
            }
        } else if (op->kind == FNN_AUG_CLIP) {
            for (ptrdiff_t k = 0; k < n; k++) img[k] = tmp[k] < op->a ? op->a : (tmp[k] > op->b ? op->b : tmp[k]);
        }
    }
}

int fnn_augment_batch_naive(float *x, const fnn_augment_op *ops, int n_ops, ptrdiff_t B, ptrdiff_t C,
                            ptrdiff_t H, ptrdiff_t W, uint64_t seed, uint64_t step) {
    // x (B, C*H*W) = ops[n_ops-1](... ops[0](x)) per sample, in place
    /* The fast entry with B = 0 validates the arguments and ops (one set of rules) and does no work. */
    int st = fnn_augment_batch(x, ops, n_ops, 0, C, H, W, seed, step, 1);
    if (st != FNN_OK || B < 0) return st != FNN_OK ? st : FNN_ERR_ARG;
    if (B == 0 || n_ops == 0) return FNN_OK;
    if (x == NULL) return FNN_ERR_ARG;
    const ptrdiff_t n = C * H * W;
    float *tmp = (float *)malloc((size_t)n * sizeof(float));
    if (tmp == NULL) return FNN_ERR_NOMEM;
    for (ptrdiff_t i = 0; i < B; i++) sample_naive(x + i * n, tmp, ops, n_ops, i, C, H, W, seed, step);
    free(tmp);
    return FNN_OK;
}
