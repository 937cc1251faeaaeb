/* fastnn: im2col and col2im for the im2col + GEMM convolution (fnn_conv.c).
   Row (c, kh, kw) of the column matrix holds, for every output position (oh, ow), the input pixel that kernel
   tap reads there, or 0 where it reads padding.  For each (c, kh, kw) the output columns whose tap lies
   inside the input row are one range [lo, hi), the same for every oh, so a destination row of OW floats is
   zeros, a copy (or a strided gather), zeros.
   With stride 1 or 2 along W the AVX-512 path writes each destination row in 16-float vectors: one masked load
   (stride 2: two, and a permute to the even elements; lanes outside [lo, hi) read nothing and give 0) and one
   store, instead of a memcpy call and two fill loops per row (the rows are short: 8 to 28 floats in the
   networks of issue #7, where the copies cost a quarter of a training step).  col2im adds the same way, or,
   for planes up to 16 wide, into an aligned scratch plane (no store-forwarding stalls).  The AVX2 path does
   im2col the same way in 8-float vectors; its col2im (stride 1) instead sums each input vector in registers
   over the taps that reach it and stores it once.  Both are pure data movement (col2im adds every column
   value into its pixel in the same order as the portable loop), so every ISA gives bitwise identical
   results. */
#include <stdint.h>
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

/* Stride 2 along W: output column ow reads input column off + 2 ow, so 16 outputs come from 32 consecutive
   input floats: two loads masked to the even lanes whose output is in [lo, hi), then one permute keeps the
   even elements (col2im: the reverse permutes and masked adds on the even lanes). */
static inline uint32_t spread_even(uint32_t m) {   /* bit l of m -> bit 2l */
    uint32_t v = m & 0xFFFFu;
    v = (v | (v << 8)) & 0x00FF00FFu;
    v = (v | (v << 4)) & 0x0F0F0F0Fu;
    v = (v | (v << 2)) & 0x33333333u;
    v = (v | (v << 1)) & 0x55555555u;
    return v;
}

/* Stride 1 or 2 along W.  The vector at column j of a destination row reads the input row from column
   SW j + off (off < 0 under a left pad): lanes outside [lo, hi) are masked off, so only addresses inside the
   input row are read.  Whole-vector stores: a row's last vector spills up to 15 floats into the next row,
   which is written after it (the buffer has FNN_CONV_COL_SLACK floats after the last row). */
FNN_TARGET_AVX512 static void im2col_avx512(float *FNN_RESTRICT col, const float *FNN_RESTRICT x,
                                            const fnn_conv_shape *s) {
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW, SW = s->SW;
    const __m512 z = _mm512_setzero_ps();
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
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
                    if (ih < 0 || ih >= H || lo >= hi) {
                        for (ptrdiff_t j = 0; j < OW; j += 16) _mm512_storeu_ps(d + j, z);
                        continue;
                    }
                    const float *xr = xc + ih * W + off;
                    if (SW == 1) {
                        for (ptrdiff_t j = 0; j < OW; j += 16)
                            _mm512_storeu_ps(d + j, _mm512_maskz_loadu_ps(range_mask16(j, lo, hi), xr + j));
                        continue;
                    }
                    for (ptrdiff_t j = 0; j < OW; j += 16) {
                        const uint32_t e = spread_even(range_mask16(j, lo, hi));
                        const __m512 va = _mm512_maskz_loadu_ps((__mmask16)(e & 0xFFFFu), xr + 2 * j);
                        const __m512 vb = _mm512_maskz_loadu_ps((__mmask16)(e >> 16), xr + 2 * j + 16);
                        _mm512_storeu_ps(d + j, _mm512_permutex2var_ps(va, even, vb));
                    }
                }
            }
        }
    }
}

/* Stride 1 or 2 along W: each tap's row segment added into its input row (masked to [lo, hi)). */
FNN_TARGET_AVX512 static void col2im_avx512(float *FNN_RESTRICT dx, const float *FNN_RESTRICT col,
                                            const fnn_conv_shape *s) {
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW, SW = s->SW;
    /* stride 2: lanes 2i (i < 8) <- d[i] and d[8 + i] */
    const __m512i lo8 = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512i hi8 = _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    memset(dx, 0, (size_t)(s->C * H * W) * sizeof(float));
    for (ptrdiff_t c = 0; c < s->C; c++) {
        float *xc = dx + c * H * W;
        for (ptrdiff_t kh = 0; kh < s->KH; kh++) {
            for (ptrdiff_t kw = 0; kw < s->KW; kw++) {
                const float *src = col + ((c * s->KH + kh) * s->KW + kw) * OH * OW;
                ptrdiff_t off = kw * s->DW - s->PW, lo, hi;
                fnn_conv_valid_range(&lo, &hi, off, SW, W, OW);
                if (lo >= hi) continue;
                for (ptrdiff_t oh = 0; oh < OH; oh++) {
                    ptrdiff_t ih = oh * s->SH - s->PH + kh * s->DH;
                    if (ih < 0 || ih >= H) continue;
                    float *xr = xc + ih * W + off;
                    const float *d = src + oh * OW;
                    for (ptrdiff_t j = lo / 16 * 16; j < hi; j += 16) {
                        const __mmask16 m = range_mask16(j, lo, hi);
                        if (SW == 1) {
                            __m512 va = _mm512_maskz_loadu_ps(m, xr + j), vb = _mm512_maskz_loadu_ps(m, d + j);
                            _mm512_mask_storeu_ps(xr + j, m, _mm512_add_ps(va, vb));
                            continue;
                        }
                        const uint32_t e = spread_even(m);
                        const __mmask16 ea = (__mmask16)(e & 0xFFFFu), eb = (__mmask16)(e >> 16);
                        const __m512 dv = _mm512_maskz_loadu_ps(m, d + j);
                        float *pa = xr + 2 * j, *pb = xr + 2 * j + 16;
                        _mm512_mask_storeu_ps(pa, ea, _mm512_add_ps(_mm512_maskz_loadu_ps(ea, pa),
                                                                    _mm512_permutexvar_ps(lo8, dv)));
                        _mm512_mask_storeu_ps(pb, eb, _mm512_add_ps(_mm512_maskz_loadu_ps(eb, pb),
                                                                    _mm512_permutexvar_ps(hi8, dv)));
                    }
                }
            }
        }
    }
}

/* col2im for a plane no wider than one vector (W <= 16, stride 1): each input row is one 16-float row of an
   aligned scratch plane, so the read-modify-write of a tap hits exactly the vector the previous tap of that
   row stored (store-to-load forwarding works; adding unaligned, partially overlapping masked vectors straight
   into dx made every tap wait for the previous store to reach the cache).  The column value for input
   column iw of tap kw is at ow = iw - off: one masked load from the (read-only) column matrix, no shuffles.
   Adds happen in the same (c, kh, kw, oh) order as the other paths: bitwise the same result. */
#define C2I_MAX_H 64
FNN_TARGET_AVX512 static void col2im_narrow_avx512(float *FNN_RESTRICT dx, const float *FNN_RESTRICT col,
                                                   const fnn_conv_shape *s) {
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW;
    float plane[C2I_MAX_H * 16] __attribute__((aligned(64)));
    const __mmask16 wm = tail_mask16(W);
    for (ptrdiff_t c = 0; c < s->C; c++) {
        for (ptrdiff_t i = 0; i < H; i++) _mm512_store_ps(plane + 16 * i, _mm512_setzero_ps());
        for (ptrdiff_t kh = 0; kh < s->KH; kh++) {
            for (ptrdiff_t kw = 0; kw < s->KW; kw++) {
                const float *src = col + ((c * s->KH + kh) * s->KW + kw) * OH * OW;
                ptrdiff_t off = kw * s->DW - s->PW, lo, hi;
                fnn_conv_valid_range(&lo, &hi, off, 1, W, OW);
                if (lo >= hi) continue;
                /* lane iw <- column value at ow = iw - off, for ow in [lo, hi) */
                const __mmask16 m = range_mask16(-off, lo, hi);
                for (ptrdiff_t oh = 0; oh < OH; oh++) {
                    ptrdiff_t ih = oh * s->SH - s->PH + kh * s->DH;
                    if (ih < 0 || ih >= H) continue;
                    float *r = plane + 16 * ih;
                    const __m512 v = _mm512_maskz_loadu_ps(m, src + oh * OW - off);
                    _mm512_store_ps(r, _mm512_mask_add_ps(_mm512_load_ps(r), m, _mm512_load_ps(r), v));
                }
            }
        }
        float *xc = dx + c * H * W;
        for (ptrdiff_t i = 0; i < H; i++) _mm512_mask_storeu_ps(xc + i * W, wm, _mm512_load_ps(plane + 16 * i));
    }
}

/* ---- AVX2 (no AVX-512: Zen 2/3, Haswell to Alder Lake): 8-float vectors.  Masks are maskload/maskstore masks
   (lane sign bits) from comparing a vector of per-lane output columns against [lo, hi); they are made once
   per tap (im2col) or per call (col2im) and kept in small tables, not per row.  Masked-off lanes of
   _mm256_maskload_ps read nothing and give 0, so no load leaves the input row. */
#define IM_MAX_V 16   /* vectors per row of the column matrix: OW <= 128 (wider rows take the portable loop) */
#define NOLANE (1 << 30)   /* an output column that is in no range: the odd input lanes of a stride-2 load */

/* Lanes l with lo <= j0 + idx[l] < hi. */
FNN_INLINE FNN_TARGET_AVX2 __m256i range_mask8(__m256i idx, ptrdiff_t j0, ptrdiff_t lo, ptrdiff_t hi) {
    const __m256i a = _mm256_set1_epi32((int)(lo - j0)), b = _mm256_set1_epi32((int)(hi - j0));
    return _mm256_andnot_si256(_mm256_cmpgt_epi32(a, idx), _mm256_cmpgt_epi32(b, idx));
}

/* Stride 1 or 2 along W, as im2col_avx512 (whole-vector stores: a row's last vector spills up to 7 floats into
   the next row, written after it, or into the FNN_CONV_COL_SLACK floats after the matrix).  Stride 2: output
   lanes 0-3 come from the even lanes of the load at input column 2j, lanes 4-7 from the one at 2j + 8; one
   in-lane shuffle and one 64-bit-lane permute put the even elements in order. */
FNN_TARGET_AVX2 static void im2col_avx2(float *FNN_RESTRICT col, const float *FNN_RESTRICT x,
                                        const fnn_conv_shape *s) {
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW, SW = s->SW, nv = (OW + 7) / 8;
    const __m256 z = _mm256_setzero_ps();
    const __m256i i1 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i ia = _mm256_setr_epi32(0, NOLANE, 1, NOLANE, 2, NOLANE, 3, NOLANE);
    const __m256i ib = _mm256_setr_epi32(4, NOLANE, 5, NOLANE, 6, NOLANE, 7, NOLANE);
    __m256i ma[IM_MAX_V], mb[IM_MAX_V];   /* a tap's load masks per vector (stride 2: of the two loads) */
    for (ptrdiff_t c = 0; c < s->C; c++) {
        const float *xc = x + c * H * W;
        for (ptrdiff_t kh = 0; kh < s->KH; kh++) {
            for (ptrdiff_t kw = 0; kw < s->KW; kw++) {
                float *dst = col + ((c * s->KH + kh) * s->KW + kw) * OH * OW;
                ptrdiff_t off = kw * s->DW - s->PW, lo, hi;
                fnn_conv_valid_range(&lo, &hi, off, SW, W, OW);
                for (ptrdiff_t v = 0; v < nv; v++) {
                    ma[v] = range_mask8(SW == 1 ? i1 : ia, 8 * v, lo, hi);
                    mb[v] = range_mask8(ib, 8 * v, lo, hi);
                }
                for (ptrdiff_t oh = 0; oh < OH; oh++) {
                    ptrdiff_t ih = oh * s->SH - s->PH + kh * s->DH;
                    float *d = dst + oh * OW;
                    if (ih < 0 || ih >= H || lo >= hi) {
                        for (ptrdiff_t j = 0; j < OW; j += 8) _mm256_storeu_ps(d + j, z);
                        continue;
                    }
                    const float *xr = xc + ih * W + off;
                    if (SW == 1) {
                        for (ptrdiff_t v = 0; v < nv; v++)
                            _mm256_storeu_ps(d + 8 * v, _mm256_maskload_ps(xr + 8 * v, ma[v]));
                        continue;
                    }
                    for (ptrdiff_t v = 0; v < nv; v++) {
                        const __m256 va = _mm256_maskload_ps(xr + 16 * v, ma[v]);
                        const __m256 vb = _mm256_maskload_ps(xr + 16 * v + 8, mb[v]);
                        const __m256 e = _mm256_shuffle_ps(va, vb, _MM_SHUFFLE(2, 0, 2, 0)); /* a0 a2 b0 b2 | a4 a6 b4 b6 */
                        _mm256_storeu_ps(d + 8 * v, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e),
                                                                                           _MM_SHUFFLE(3, 1, 2, 0))));
                    }
                }
            }
        }
    }
}

/* col2im, stride 1 along W, gathered: each 8-float vector of an input row is summed in a register over the
   taps that reach it, then stored once.  For one pixel the portable loop adds tap (kh, kw) at the single oh
   with oh SH - PH + kh DH = ih, in (kh, kw) order: the same sequence of float adds here, so the result is
   bitwise the same.  (Read-modify-writes into dx or an aligned scratch plane per tap, as col2im_avx512 does,
   were no faster than the portable loop here.)  A sum is one chain of dependent adds, so C2I_ROWS rows are
   summed at once to hide the add latency.  The value for input column iw of tap kw is at ow = iw - off: one
   masked load per tap (the lane masks of each (kw, vector) made once per call; a row that tap row kh does not
   reach gets an all-zero mask).  Masked-off lanes add +0, which leaves every sum unchanged: a running sum that
   starts at +0 is never -0 under round-to-nearest, and FTZ/DAZ are set together.  No memset.  Rows are stored
   in whole vectors, the plane's last one masked: a row's last vector spills (fewer than 8 floats) into the
   first vector of the rows after it, so the last vectors of a group of rows are stored first and the first
   vectors last. */
#define C2I_MAX_K 16   /* KH, KW */
#define C2I_MAX_V 8    /* vectors per row: W <= 64 */
#define C2I_ROWS 4
FNN_TARGET_AVX2 static void col2im_avx2(float *FNN_RESTRICT dx, const float *FNN_RESTRICT col,
                                        const fnn_conv_shape *s) {
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW, KH = s->KH, KW = s->KW, HW = H * W;
    const ptrdiff_t P = OH * OW, nv = (W + 7) / 8;
    const __m256i i1 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), none = _mm256_setzero_si256();
    __m256i mk[C2I_MAX_K][C2I_MAX_V];   /* tap kw's lanes in row vector v */
    ptrdiff_t dk[C2I_MAX_K];            /* tap kw's column values for input column iw: at dk + iw */
    for (ptrdiff_t kw = 0; kw < KW; kw++) {
        ptrdiff_t off = kw * s->DW - s->PW, lo, hi;
        fnn_conv_valid_range(&lo, &hi, off, 1, W, OW);
        dk[kw] = kw * P - off;
        for (ptrdiff_t v = 0; v < nv; v++) mk[kw][v] = range_mask8(i1, 8 * v, lo + off, hi + off);
    }
    for (ptrdiff_t c = 0; c < s->C; c++) {
        float *xc = dx + c * HW;
        const float *colc = col + c * KH * KW * P;
        for (ptrdiff_t ih0 = 0; ih0 < H; ih0 += C2I_ROWS) {
            const float *base[C2I_MAX_K][C2I_ROWS];   /* row r's column values of tap row kh, or NULL */
            for (ptrdiff_t kh = 0; kh < KH; kh++) {
                for (int r = 0; r < C2I_ROWS; r++) {
                    const ptrdiff_t t = ih0 + r + s->PH - kh * s->DH, oh = t / s->SH;
                    const int ok = ih0 + r < H && t >= 0 && oh * s->SH == t && oh < OH;
                    base[kh][r] = ok ? colc + kh * KW * P + oh * OW : NULL;
                }
            }
            for (ptrdiff_t v = nv - 1; v >= 0; v--) {   /* last first: see the stores */
                __m256 acc[C2I_ROWS];
                for (int r = 0; r < C2I_ROWS; r++) acc[r] = _mm256_setzero_ps();
                for (ptrdiff_t kh = 0; kh < KH; kh++) {
                    for (ptrdiff_t kw = 0; kw < KW; kw++) {
                        const __m256i m = mk[kw][v];
                        for (int r = 0; r < C2I_ROWS; r++) {
                            const float *b = base[kh][r];
                            const __m256 x = _mm256_maskload_ps(b ? b + dk[kw] + 8 * v : colc, b ? m : none);
                            acc[r] = _mm256_add_ps(acc[r], x);
                        }
                    }
                }
                for (int r = 0; r < C2I_ROWS && ih0 + r < H; r++) {
                    const ptrdiff_t e = (ih0 + r) * W + 8 * v;
                    if (e + 8 <= HW) _mm256_storeu_ps(xc + e, acc[r]);
                    else _mm256_maskstore_ps(xc + e, range_mask8(i1, e, 0, HW), acc[r]);
                }
            }
        }
    }
}
#undef NOLANE
#endif

void fnn_conv_im2col(float *col, const float *x, const fnn_conv_shape *s) {
#ifdef FNN_X86_TARGETS
    if (s->SW <= 2 && fnn_get_isa() == FNN_ISA_AVX512) {
        im2col_avx512(col, x, s);
        return;
    }
    if (s->SW <= 2 && s->OW <= 8 * IM_MAX_V && fnn_get_isa() == FNN_ISA_AVX2) {
        im2col_avx2(col, x, s);
        return;
    }
#endif
    im2col_generic(col, x, s);
}

#ifdef FNN_X86_TARGETS
/* col2im, stride 2 along W (the ResNet's downsampling 3x3 and 1x1 convolutions): the portable loop, with each
   8 column values spread over the even lanes of two 8-float vectors (zeros between) and added into 16
   consecutive input floats.  The odd lanes add +0: no change, since a sum that starts at +0 is never -0 under
   round-to-nearest (FTZ/DAZ are set together), so every element gets the same adds in the same order: bitwise
   the portable result.  A vector step is taken only when its 16 floats lie inside the row. */
FNN_TARGET_AVX2 static void col2im_s2_avx2(float *FNN_RESTRICT dx, const float *FNN_RESTRICT col,
                                           const fnn_conv_shape *s) {
    const ptrdiff_t H = s->H, W = s->W, OH = s->OH, OW = s->OW;
    const __m256 z = _mm256_setzero_ps();
    memset(dx, 0, (size_t)(s->C * H * W) * sizeof(float));
    for (ptrdiff_t c = 0; c < s->C; c++) {
        float *xc = dx + c * H * W;
        for (ptrdiff_t kh = 0; kh < s->KH; kh++) {
            for (ptrdiff_t kw = 0; kw < s->KW; kw++) {
                const float *src = col + ((c * s->KH + kh) * s->KW + kw) * OH * OW;
                ptrdiff_t off = kw * s->DW - s->PW, lo, hi;
                fnn_conv_valid_range(&lo, &hi, off, 2, W, OW);
                for (ptrdiff_t oh = 0; oh < OH; oh++) {
                    ptrdiff_t ih = oh * s->SH - s->PH + kh * s->DH;
                    if (ih < 0 || ih >= H) continue;
                    float *xr = xc + ih * W + off;
                    const float *d = src + oh * OW;
                    ptrdiff_t ow = lo;
                    for (; ow + 8 <= hi && off + 2 * ow + 16 <= W; ow += 8) {
                        const __m256 v = _mm256_loadu_ps(d + ow);
                        const __m256 l = _mm256_unpacklo_ps(v, z), h = _mm256_unpackhi_ps(v, z);
                        float *p = xr + 2 * ow;
                        _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), _mm256_permute2f128_ps(l, h, 0x20)));
                        _mm256_storeu_ps(p + 8, _mm256_add_ps(_mm256_loadu_ps(p + 8), _mm256_permute2f128_ps(l, h, 0x31)));
                    }
                    for (; ow < hi; ow++) xr[ow * 2] += d[ow];
                }
            }
        }
    }
}
#endif

void fnn_conv_col2im(float *dx, const float *col, const fnn_conv_shape *s) {
#ifdef FNN_X86_TARGETS
    if (s->SW <= 2 && fnn_get_isa() == FNN_ISA_AVX512) {
        if (s->SW == 1 && s->W <= 16 && s->H <= C2I_MAX_H) col2im_narrow_avx512(dx, col, s);
        else col2im_avx512(dx, col, s);
        return;
    }
    if (s->SW == 1 && s->KH <= C2I_MAX_K && s->KW <= C2I_MAX_K && s->W <= 8 * C2I_MAX_V &&
        fnn_get_isa() == FNN_ISA_AVX2) {
        col2im_avx2(dx, col, s);
        return;
    }
    if (s->SW == 2 && fnn_get_isa() == FNN_ISA_AVX2) {
        col2im_s2_avx2(dx, col, s);
        return;
    }
#endif
    col2im_generic(dx, col, s);
}
