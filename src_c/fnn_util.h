/* fastnn: small utilities over flat buffers. */
#ifndef FNN_UTIL_H
#define FNN_UTIL_H

#include "fnn_common.h"

/* Index of the first NaN or +-Inf in x (n), or -1 when every value is finite.  Threads over fixed chunks. */
ptrdiff_t fnn_first_nonfinite(const float *x, ptrdiff_t n, int n_threads);

/* Per-column moments of x (N, D) in one pass, in double: mean (D) and population variance (D), shifted by the
   first row for accuracy.  Columns are split over threads in fixed blocks, rows summed in order: identical for
   any n_threads.  Returns 1 when x holds a NaN/Inf (the moments are then meaningless), -1 when out of memory,
   else 0. */
int fnn_col_moments(double *mean, double *var, const float *x, ptrdiff_t n, ptrdiff_t d, int n_threads);

/* out (N, D) = ((x (N, D) - sub (D)) - sub_lo (D)) * mul (D), one pass, threads over rows (out may alias x);
   sub + sub_lo is a shift held to twice float precision (the low part may be all zeros).  Returns 1 when x
   holds a NaN/Inf, else 0. */
int fnn_affine_cols(float *out, const float *x, const float *sub, const float *sub_lo, const float *mul,
                    ptrdiff_t n, ptrdiff_t d, int n_threads);

#endif
