/* fastnn: small utilities over flat buffers. */
#ifndef FNN_UTIL_H
#define FNN_UTIL_H

#include "fnn_common.h"

/* Index of the first NaN or +-Inf in x (n), or -1 when every value is finite.  Threads over fixed chunks. */
ptrdiff_t fnn_first_nonfinite(const float *x, ptrdiff_t n, int n_threads);

#endif
