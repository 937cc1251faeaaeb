/* fastnn: dropout masks.  Element i is kept when (fnn_rand64(seed, step, i) >> 40) * 2^-24 >= rate, i.e. when
   the top 24 bits, as an integer, reach ceil(rate * 2^24) (exact: a 24-bit integer times a power of two):
   the vector path compares integers and draws exactly the scalar path's mask.  fnn_rand64 is
   mix64(K + i) with K = mix64(seed ^ mix64(step + c)) fixed per call; AVX-512 (DQ) mixes 8 indices per
   vector with 64-bit lane multiplies, 16 elements per step (the tail through masks, never past n). */
#include <math.h>

#include "fnn_cpu.h"
#include "fnn_dropout.h"
#include "fnn_rng.h"

#ifdef FNN_X86_TARGETS
#include <immintrin.h>
#endif

static void apply_generic(float *y, const float *x, ptrdiff_t n, uint64_t key, uint64_t thr, float scale,
                          float shift, float dropped) {
    for (ptrdiff_t i = 0; i < n; i++)
        y[i] = (fnn_mix64(key + (uint64_t)i) >> 40) >= thr ? x[i] * scale + shift : dropped;
}

#ifdef FNN_X86_TARGETS
// fnn_mix64 of 8 lanes
FNN_TARGET_AVX512 static inline __m512i mix64x8(__m512i z) {
    z = _mm512_add_epi64(z, _mm512_set1_epi64((long long)0x9E3779B97F4A7C15ULL));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)),
                           _mm512_set1_epi64((long long)0xBF58476D1CE4E5B9ULL));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)),
                           _mm512_set1_epi64((long long)0x94D049BB133111EBULL));
    return _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
}

FNN_TARGET_AVX512 static void apply_avx512(float *y, const float *x, ptrdiff_t n, uint64_t key, uint64_t thr,
                                           float scale, float shift, float dropped) {
    const __m512i t = _mm512_set1_epi64((long long)thr), step16 = _mm512_set1_epi64(16);
    const __m512 vs = _mm512_set1_ps(scale), vb = _mm512_set1_ps(shift), vd = _mm512_set1_ps(dropped);
    __m512i lo = _mm512_add_epi64(_mm512_set1_epi64((long long)key), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
    __m512i hi = _mm512_add_epi64(lo, _mm512_set1_epi64(8));
    for (ptrdiff_t i = 0; i < n; i += 16) {
        const __mmask8 k0 = _mm512_cmpge_epu64_mask(_mm512_srli_epi64(mix64x8(lo), 40), t);
        const __mmask8 k1 = _mm512_cmpge_epu64_mask(_mm512_srli_epi64(mix64x8(hi), 40), t);
        const __mmask16 keep = (__mmask16)((unsigned)k0 | ((unsigned)k1 << 8));
        const ptrdiff_t left = n - i;
        const __mmask16 valid = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        const __m512 v = _mm512_maskz_loadu_ps(valid, x + i);
        __m512 r = _mm512_mul_ps(v, vs);
#if defined(__GNUC__) || defined(__clang__)
        __asm__("" : "+v"(r));   // keeps the compiler from fusing into an FMA: two roundings, as the scalar path
#endif
        r = _mm512_add_ps(r, vb);
        _mm512_mask_storeu_ps(y + i, valid, _mm512_mask_blend_ps(keep, vd, r));
        lo = _mm512_add_epi64(lo, step16);
        hi = _mm512_add_epi64(hi, step16);
    }
}
#endif

// y (n) = dropout of x (n) at (seed, step)
void fnn_dropout_apply(float *y, const float *x, ptrdiff_t n, uint64_t seed, uint64_t step, float rate,
                       float scale, float shift, float dropped) {
    if (n <= 0) return;
    const uint64_t key = fnn_mix64(seed ^ fnn_mix64(step + 0x632BE59BD9B4E019ULL));
    const double t = ceil((double)rate * 16777216.0);
    const uint64_t thr = t <= 0.0 ? 0 : (uint64_t)t;
#ifdef FNN_X86_TARGETS
    if (fnn_get_isa() == FNN_ISA_AVX512) {
        apply_avx512(y, x, n, key, thr, scale, shift, dropped);
        return;
    }
#endif
    apply_generic(y, x, n, key, thr, scale, shift, dropped);
}
