/* fastnn: image augmentation applied to a mini-batch in place, inside the C training loop.
   Every random choice of sample i of a batch comes from fnn_rand64(seed ^ salt(op index), step, i): the same
   (seed, step) gives the same augmented batch for any thread count and any batch position of other samples.
   Precisely: op j uses op_seed = seed ^ fnn_mix64(0xA0 + j); its k-th draw for sample i is
   fnn_rand64(op_seed, step, i * 8 + k) (k >= 8: seed op_seed ^ fnn_mix64(k >> 3), index i * 8 + (k & 7));
   draw 0 decides whether the op applies (uniform < p).  See fnn_augment.c for the per-kind draws. */
#ifndef FNN_AUGMENT_H
#define FNN_AUGMENT_H

#include "fnn_common.h"

enum {
    FNN_AUG_HFLIP = 0,      /* mirror left-right with probability p */
    FNN_AUG_VFLIP = 1,      /* mirror top-bottom with probability p */
    FNN_AUG_CROP = 2,       /* pad by ia pixels (fill a) on each side, take a random H x W crop (input size) */
    FNN_AUG_TRANSLATE = 3,  /* shift by integer (dx, dy) uniform in [-ia, ia] each, fill a */
    FNN_AUG_ROTATE = 4,     /* rotate counter-clockwise by an angle uniform in [c-a, c+a] degrees (c = 0: [-a, a])
                               about the centre, bilinear, fill b */
    FNN_AUG_BRIGHTNESS = 5, /* add a value uniform in [-a, a] to every pixel */
    FNN_AUG_CONTRAST = 6,   /* scale around the sample's per-channel mean by a factor uniform in [1-a, 1+a] */
    FNN_AUG_NOISE = 7,      /* add Gaussian noise of standard deviation a to every pixel */
    FNN_AUG_CUTOUT = 8,     /* zero (fill a) ib square patches of side ia at uniform centres (clipped):
                               rows [cy - ia/2, cy - ia/2 + ia), likewise columns */
    FNN_AUG_ERASE = 9,      /* random erasing: a rectangle of area fraction in [a, b] and aspect h/w in [c, d]
                               (log-uniform), fill 0; up to 10 tries to fit, else unchanged */
    FNN_AUG_CLIP = 10,      /* clamp every pixel to [a, b] (deterministic; e.g. after jitter or noise) */
    FNN_AUG_COUNT = 11
};

/* One augmentation step: applied to each sample with probability p (1 = always). */
typedef struct {
    int kind;
    float p;
    float a, b, c, d;
    int ia, ib;
} fnn_augment_op;

/* x (B, C*H*W) (NCHW rows) augmented in place by ops[0..n_ops) in order.  Returns FNN_OK, FNN_ERR_ARG (unknown
   kind, bad parameter, e.g. crop padding < 0) or FNN_ERR_NOMEM.  Threads over samples. */
int fnn_augment_batch(float *x, const fnn_augment_op *ops, int n_ops, ptrdiff_t B, ptrdiff_t C, ptrdiff_t H,
                      ptrdiff_t W, uint64_t seed, uint64_t step, int n_threads);

/* Plain twin for the tests (one thread, straightforward loops). */
int fnn_augment_batch_naive(float *x, const fnn_augment_op *ops, int n_ops, ptrdiff_t B, ptrdiff_t C,
                            ptrdiff_t H, ptrdiff_t W, uint64_t seed, uint64_t step);

#endif
