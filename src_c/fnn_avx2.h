/* fastnn: small AVX2 helpers shared by the AVX2 kernels (inlined into functions carrying FNN_TARGET_AVX2). */
#ifndef FNN_AVX2_H
#define FNN_AVX2_H

#include "fnn_common.h"

#ifdef FNN_X86_TARGETS
#include <immintrin.h>

/* 8 x 8 transpose in registers: r[i] lane j <-> r[j] lane i. */
static inline FNN_TARGET_AVX2 __attribute__((always_inline)) void fnn_transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++) {
        u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
        r[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
    }
}
/* The first n (1..7) floats at p in plain 4-, 2- and 1-float moves (vmaskmovps costs many times a plain load
   or store on Zen 3); fnn_load_first gives 0 in lanes n..7. */
static inline FNN_TARGET_AVX2 __attribute__((always_inline)) __m128 fnn_load_upto4(const float *p, int n) {
    if (n >= 4) return _mm_loadu_ps(p);
    /* two floats by movlps (a builtin: no double-typed access to a float pointer, which UBSan flags as
       misaligned) */
    __m128 r = n >= 2 ? _mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)p) : _mm_load_ss(p);
    return n == 3 ? _mm_movelh_ps(r, _mm_load_ss(p + 2)) : r;
}

static inline FNN_TARGET_AVX2 __attribute__((always_inline)) __m256 fnn_load_first(const float *p, int n) {
    if (n <= 4) return _mm256_set_m128(_mm_setzero_ps(), fnn_load_upto4(p, n));
    return _mm256_set_m128(fnn_load_upto4(p + 4, n - 4), _mm_loadu_ps(p));
}

static inline FNN_TARGET_AVX2 __attribute__((always_inline)) void fnn_store_first(float *p, __m256 v, int n) {
    __m128 x = _mm256_castps256_ps128(v);
    if (n >= 4) {
        _mm_storeu_ps(p, x);
        x = _mm256_extractf128_ps(v, 1);
        p += 4;
        n -= 4;
    }
    if (n >= 2) {
        _mm_storel_pi((__m64 *)p, x);
        x = _mm_movehl_ps(x, x);
        p += 2;
        n -= 2;
    }
    if (n) _mm_store_ss(p, x);
}
#endif

#endif
