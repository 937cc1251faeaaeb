/* fastnn: dropout masks from the counter-based generator, SIMD where the CPU has 64-bit lane multiplies. */
#ifndef FNN_DROPOUT_H
#define FNN_DROPOUT_H

#include "fnn_common.h"

/* y[i] = kept(i) ? x[i] * scale + shift : dropped, for i < n, where element i is kept when the uniform of
   (seed, step, i) is >= rate (fnn_uniform in fnn_rng.h): the same mask on every SIMD path and any thread
   count.  y may alias x. */
void fnn_dropout_apply(float *y, const float *x, ptrdiff_t n, uint64_t seed, uint64_t step, float rate,
                       float scale, float shift, float dropped);

#endif
