/* fastnn: private branch-free float math for the activation and loss kernels (exp, expm1, log1p on [0,1]).
   Written so that gcc -O3 vectorises loops that call them with plain SSE2 (no libm call per element):
   rounding by the 1.5*2^23 trick, integer exponent via a conversion and a union, selects instead of
   branches.  Accuracy (checked against double precision over the float range in the tests): exp and expm1
   within ~2 ulp, log1p within ~2 ulp.  Not for NaN inputs (NaN propagates, but through clamps as a number). */
#ifndef FNN_ACT_MATH_H
#define FNN_ACT_MATH_H

#include <stddef.h>
#include <stdint.h>

#include "fnn_common.h"

#define FNN_EXP_HI 88.0f               /* inputs above are clamped here (exp(88) ~ 1.65e38, finite) */
#define FNN_EXP_LO -87.3365478515625f  /* exp(x) < FLT_MIN below: the result is flushed to 0 */

typedef union { float f; int32_t i; } fnn_f32bits;

/* Shared core: x = n*ln2 + r with |r| <= ln2/2; *pw = 2^n (as a float, n in [-126, 127]);
   returns expm1(r) = r + r^2 * P(r) (Cephes expf polynomial, minimax on [-ln2/2, ln2/2]). */
FNN_INLINE float fnn_exp_core(float x, float *pw) {
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer (round-to-nearest) */
    float xc = x < FNN_EXP_LO ? FNN_EXP_LO : x;
    xc = xc > FNN_EXP_HI ? FNN_EXP_HI : xc;
    float t = xc * 1.44269504088896341f + magic;
    float nf = t - magic;
    int32_t n = (int32_t)nf;                  /* in [-126, 127] thanks to the clamps */
    float r = xc - nf * 0.693359375f;          /* ln2 split in two: hi part exact in float */
    r = r - nf * -2.12194440e-4f;
    float z = r * r;
    float p = 1.9875691500E-4f;
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    fnn_f32bits u;
    u.i = (n + 127) << 23;
    *pw = u.f;
    return p * z + r;
}

/* exp(x); 0 below FNN_EXP_LO, exp(88) (finite) above FNN_EXP_HI. */
FNN_INLINE float fnn_expf(float x) {
    float pw;
    float em1 = fnn_exp_core(x, &pw);
    float e = (em1 + 1.0f) * pw;
    return x < FNN_EXP_LO ? 0.0f : e;
}

/* exp(x) - 1 without cancellation for small |x|; meant for x <= 0 (ELU, SELU), fine up to ~88. */
FNN_INLINE float fnn_expm1f(float x) {
    float pw;
    float em1 = fnn_exp_core(x, &pw);
    float e = em1 * pw + (pw - 1.0f);
    return x < FNN_EXP_LO ? -1.0f : e;
}

/* log1p(e) for e in [0, 1]: u = 1 + e in [1, 2], log(u) by the Cephes logf polynomial, plus a correction
   for the rounding of u (exact for tiny e, where u == 1). */
FNN_INLINE float fnn_log1p01f(float e) {
    float u = 1.0f + e;
    int big = u > 1.41421356237f;
    float m = big ? 0.5f * u : u;
    float k = big ? 1.0f : 0.0f;
    float x = m - 1.0f;                         /* exact (Sterbenz) */
    float z = x * x;
    float p = 7.0376836292E-2f;
    p = p * x - 1.1514610310E-1f;
    p = p * x + 1.1676998740E-1f;
    p = p * x - 1.2420140846E-1f;
    p = p * x + 1.4249322787E-1f;
    p = p * x - 1.6668057665E-1f;
    p = p * x + 2.0000714765E-1f;
    p = p * x - 2.4999993993E-1f;
    p = p * x + 3.3333331174E-1f;
    float y = p * x * z;
    y = y + k * -2.12194440e-4f;
    y = y - 0.5f * z;
    float lg = x + y + k * 0.693359375f;
    /* log1p(e) = log(u) + log1p(c / u) ~ log(u) + c / u, c = e - (u - 1) the rounding of u (exact, tiny);
       1/u ~ (2 - u) costs |c| (u-1)^2 / u, far below an ulp of the result, and needs no division */
    float c = e - (u - 1.0f);
    return lg + c * (2.0f - u);
}

/* tanh(x): odd polynomial for |x| < 0.625 (Cephes tanhf), (1 - e)/(1 + e) with e = exp(-2|x|) beyond. */
FNN_INLINE float fnn_tanhf(float x) {
    float ax = x < 0.0f ? -x : x;
    float e = fnn_expf(-2.0f * ax);
    float big = (1.0f - e) / (1.0f + e);
    big = x < 0.0f ? -big : big;
    float z = x * x;
    float p = -5.70498872745E-3f;
    p = p * z + 2.06390887954E-2f;
    p = p * z - 5.37397155531E-2f;
    p = p * z + 1.33314422036E-1f;
    p = p * z - 3.33332819422E-1f;
    float small = p * z * x + x;
    return ax < 0.625f ? small : big;
}

/* sigmoid(x) = 1/(1+exp(-x)) via e = exp(-|x|): no overflow, full relative accuracy on both tails. */
FNN_INLINE float fnn_sigmoidf(float x) {
    float ax = x < 0.0f ? -x : x;
    float e = fnn_expf(-ax);
    float inv = 1.0f / (1.0f + e);
    return x < 0.0f ? e * inv : inv;
}

/* Row reductions with 8 fixed lanes combined in a fixed order: vectorisable without -ffast-math and
   deterministic (the same result whatever thread runs the row).  len >= 1 for fnn_max8. */
/* Sum of v[0..len) in float with 8 fixed lanes (vectorisable, deterministic). */
FNN_INLINE float fnn_sum8(const float *v, ptrdiff_t len) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t i = 0;
    for (; i + 8 <= len; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += v[i + k];
    for (; i < len; i++) acc[i & 7] += v[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* Dot product of a and b with 8 fixed lanes. */
FNN_INLINE float fnn_dot8(const float *a, const float *b, ptrdiff_t len) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t i = 0;
    for (; i + 8 <= len; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[i + k] * b[i + k];
    for (; i < len; i++) acc[i & 7] += a[i] * b[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

FNN_INLINE float fnn_max8(const float *v, ptrdiff_t len) {
    float acc[8];
    for (int k = 0; k < 8; k++) acc[k] = v[0];
    ptrdiff_t i = 0;
    for (; i + 8 <= len; i += 8)
        for (int k = 0; k < 8; k++) {
            float a = acc[k], b = v[i + k];
            acc[k] = b > a ? b : a;
        }
    for (; i < len; i++) acc[i & 7] = v[i] > acc[i & 7] ? v[i] : acc[i & 7];
    float m = acc[0];
    for (int k = 1; k < 8; k++) m = acc[k] > m ? acc[k] : m;
    return m;
}

#endif
