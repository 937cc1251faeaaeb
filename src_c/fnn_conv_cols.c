/* fastnn: im2col and col2im for the im2col + GEMM convolution (fnn_conv.c).
   Row (c, kh, kw) of the column matrix holds, for every output position (oh, ow), the input pixel that kernel
   tap reads there, or 0 where it reads padding.  For each (c, kh, kw) the output columns whose tap lies
   inside the input row are one range [lo, hi), the same for every oh, so a destination row of OW floats is
   zeros, a copy (or a strided gather), zeros.
   With stride 1 along W the AVX-512 path writes each destination row in 16-float vectors: one masked load
   (lanes outside [lo, hi) read nothing and give 0) and one store, instead of a memcpy call and two fill loops
   per row (the rows are short: 10 to 28 floats in the networks of issue #7, where the copies cost a quarter
   of a training step).  col2im adds the same way.  Both are pure data movement (col2im adds every column
   value into its pixel in the same order as the portable loop), so every ISA gives bitwise identical results. */
#include <string.h>

#include "fnn_conv_impl.h"
#include "fnn_cpu.h"

#ifdef FNN_X86_TARGETS
#include <immintrin.h>
#endif

// col (C*KH*KW, OH*OW) = im2col(x (C,H,W)), zero where the window reads padding
static void im2col_generic(float *FNN_RESTRICT col, const float *FNN_RESTRICT x, const fnn_conv_shape *s) {
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW, SW = s->SW;
    for (ptrdiff_t c = 0; c < s->C; c++) {
        const float *xc = x + c * H * W;
        for (ptrdiff_t kh = 0; kh < s->KH; kh++) {
            for (ptrdiff_t kw = 0; kw < s->KW; kw++) {
                float *dst = col + ((c * s->KH + kh) * s->KW + kw) * OH * OW;
                ptrdiff_t off = kw * s->DW - s->PW, lo, hi;
                fnn_conv_valid_range(&lo, &hi, off, SW, W, OW);
                for (ptrdiff_t oh = 0; oh < OH; oh++) {
                    ptrdiff_t ih = oh * s->SH - s->PH + kh * s->DH;
                    float *d = dst + oh * OW;
                    if (ih < 0 || ih >= H) {
                        memset(d, 0, (size_t)OW * sizeof(float));
                        continue;
                    }
                    const float *xr = xc + ih * W + off;
                    for (ptrdiff_t ow = 0; ow < lo; ow++) d[ow] = 0.0f;
                    if (SW == 1) {
                        for (ptrdiff_t ow = lo; ow < hi; ow++) d[ow] = xr[ow];
                    } else {
                        for (ptrdiff_t ow = lo; ow < hi; ow++) d[ow] = xr[ow * SW];
                    }
                    for (ptrdiff_t ow = hi; ow < OW; ow++) d[ow] = 0.0f;
                }
            }
        }
    }
}

// dx (C,H,W) = col2im(col (C*KH*KW, OH*OW)): overwrites dx, adds overlapping windows in (c, kh, kw, oh) order
static void col2im_generic(float *FNN_RESTRICT dx, const float *FNN_RESTRICT col, const fnn_conv_shape *s) {
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW, SW = s->SW;
    memset(dx, 0, (size_t)(s->C * H * W) * sizeof(float));
    for (ptrdiff_t c = 0; c < s->C; c++) {
        float *xc = dx + c * H * W;
        for (ptrdiff_t kh = 0; kh < s->KH; kh++) {
            for (ptrdiff_t kw = 0; kw < s->KW; kw++) {
                const float *src = col + ((c * s->KH + kh) * s->KW + kw) * OH * OW;
                ptrdiff_t off = kw * s->DW - s->PW, lo, hi;
                fnn_conv_valid_range(&lo, &hi, off, SW, W, OW);
                for (ptrdiff_t oh = 0; oh < OH; oh++) {
                    ptrdiff_t ih = oh * s->SH - s->PH + kh * s->DH;
                    if (ih < 0 || ih >= H) continue;
                    float *xr = xc + ih * W + off;
                    const float *d = src + oh * OW;
                    if (SW == 1) {
#pragma GCC ivdep
                        for (ptrdiff_t ow = lo; ow < hi; ow++) xr[ow] += d[ow];
                    } else {
                        for (ptrdiff_t ow = lo; ow < hi; ow++) xr[ow * SW] += d[ow];
                    }
                }
            }
        }
    }
}

#ifdef FNN_X86_TARGETS
/* Lanes l of the 16-float vector at column j0 with lo <= j0 + l < hi. */
static inline __mmask16 range_mask16(ptrdiff_t j0, ptrdiff_t lo, ptrdiff_t hi) {
    ptrdiff_t a = lo - j0, b = hi - j0;
    unsigned up = b >= 16 ? 0xFFFFu : b <= 0 ? 0u : (1u << b) - 1u;
    unsigned below = a >= 16 ? 0xFFFFu : a <= 0 ? 0u : (1u << a) - 1u;
    return (__mmask16)(up & ~below);
}

static inline __mmask16 tail_mask16(ptrdiff_t r) { return range_mask16(0, 0, r); }

/* The vector at column j of a destination row reads the input row from column j + off (off < 0 under a left
   pad): lanes outside [lo, hi) are masked off, so only addresses inside the input row are read or written. */
FNN_TARGET_AVX512 static void im2col_avx512(float *FNN_RESTRICT col, const float *FNN_RESTRICT x,
                                            const fnn_conv_shape *s) {
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW;
    const __m512 z = _mm512_setzero_ps();
    for (ptrdiff_t c = 0; c < s->C; c++) {
        const float *xc = x + c * H * W;
        for (ptrdiff_t kh = 0; kh < s->KH; kh++) {
            for (ptrdiff_t kw = 0; kw < s->KW; kw++) {
                float *dst = col + ((c * s->KH + kh) * s->KW + kw) * OH * OW;
                ptrdiff_t off = kw * s->DW - s->PW, lo, hi;
                fnn_conv_valid_range(&lo, &hi, off, 1, W, OW);
                for (ptrdiff_t oh = 0; oh < OH; oh++) {
                    ptrdiff_t ih = oh * s->SH - s->PH + kh * s->DH;
                    float *d = dst + oh * OW;
                    ptrdiff_t j = 0;
                    if (ih < 0 || ih >= H || lo >= hi) {
                        for (; j + 16 <= OW; j += 16) _mm512_storeu_ps(d + j, z);
                        if (j < OW) _mm512_mask_storeu_ps(d + j, tail_mask16(OW - j), z);
                        continue;
                    }
                    const float *xr = xc + ih * W + off;
                    for (; j + 16 <= OW; j += 16)
                        _mm512_storeu_ps(d + j, _mm512_maskz_loadu_ps(range_mask16(j, lo, hi), xr + j));
                    if (j < OW)
                        _mm512_mask_storeu_ps(d + j, tail_mask16(OW - j),
                                              _mm512_maskz_loadu_ps(range_mask16(j, lo, hi), xr + j));
                }
            }
        }
    }
}

FNN_TARGET_AVX512 static void col2im_avx512(float *FNN_RESTRICT dx, const float *FNN_RESTRICT col,
                                            const fnn_conv_shape *s) {
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW;
    memset(dx, 0, (size_t)(s->C * H * W) * sizeof(float));
    for (ptrdiff_t c = 0; c < s->C; c++) {
        float *xc = dx + c * H * W;
        for (ptrdiff_t kh = 0; kh < s->KH; kh++) {
            for (ptrdiff_t kw = 0; kw < s->KW; kw++) {
                const float *src = col + ((c * s->KH + kh) * s->KW + kw) * OH * OW;
                ptrdiff_t off = kw * s->DW - s->PW, lo, hi;
                fnn_conv_valid_range(&lo, &hi, off, 1, W, OW);
                if (lo >= hi) continue;
                for (ptrdiff_t oh = 0; oh < OH; oh++) {
                    ptrdiff_t ih = oh * s->SH - s->PH + kh * s->DH;
                    if (ih < 0 || ih >= H) continue;
                    float *xr = xc + ih * W + off;
                    const float *d = src + oh * OW;
                    for (ptrdiff_t j = lo / 16 * 16; j < hi; j += 16) {
                        __mmask16 m = range_mask16(j, lo, hi);
                        __m512 a = _mm512_maskz_loadu_ps(m, xr + j), b = _mm512_maskz_loadu_ps(m, d + j);
                        _mm512_mask_storeu_ps(xr + j, m, _mm512_add_ps(a, b));
                    }
                }
            }
        }
    }
}
#endif

void fnn_conv_im2col(float *col, const float *x, const fnn_conv_shape *s) {
#ifdef FNN_X86_TARGETS
    if (s->SW == 1 && fnn_get_isa() == FNN_ISA_AVX512) {
        im2col_avx512(col, x, s);
        return;
    }
#endif
    im2col_generic(col, x, s);
}

void fnn_conv_col2im(float *dx, const float *col, const fnn_conv_shape *s) {
#ifdef FNN_X86_TARGETS
    if (s->SW == 1 && fnn_get_isa() == FNN_ISA_AVX512) {
        col2im_avx512(dx, col, s);
        return;
    }
#endif
    col2im_generic(dx, col, s);
}
