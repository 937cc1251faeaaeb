/* fastnn: AVX-512 helpers shared by the SGEMM files that use them (fnn_gemm_avx512.c, fnn_gemm_small.c). */
#ifndef FNN_GEMM_AVX512_H
#define FNN_GEMM_AVX512_H

#include "fnn_gemm_kernels.h"

#ifdef FNN_GEMM_X86
#include <immintrin.h>

static inline __mmask16 fnn_tail_mask16(ptrdiff_t r) {
    return r >= 16 ? (__mmask16)0xFFFF : r <= 0 ? (__mmask16)0 : (__mmask16)((1u << r) - 1u);
}

// r (16,16) = r (16,16)^T, r[i] holding row i
static inline FNN_TARGET_AVX512 __attribute__((always_inline)) void fnn_transpose16(__m512 r[16]) {
    __m512 t[16];
    _Pragma("GCC unroll 16") for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    _Pragma("GCC unroll 16") for (int i = 0; i < 4; i++) {
        __m512d t0 = _mm512_castps_pd(t[4 * i]), t1 = _mm512_castps_pd(t[4 * i + 1]);
        __m512d t2 = _mm512_castps_pd(t[4 * i + 2]), t3 = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    _Pragma("GCC unroll 16") for (int i = 0; i < 2; i++)
        _Pragma("GCC unroll 16") for (int j = 0; j < 4; j++) {
            t[8 * i + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0x88);
            t[8 * i + 4 + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0xdd);
        }
    _Pragma("GCC unroll 16") for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
    }
}

#endif
#endif
