/* fastnn: the plan executor's internals shared by fnn_engine.c (the loops) and fnn_engine_layers.c (layers). */
#ifndef FNN_ENGINE_INTERNAL_H
#define FNN_ENGINE_INTERNAL_H

#include "fnn_engine.h"

/* Buffers for one batch of at most max_batch rows, allocated once per call (one block). */
typedef struct {
    ptrdiff_t max_batch;
    float *xb;          /* gathered inputs (B, in_dim) */
    float *tb;          /* gathered float targets (B, out_dim) */
    int32_t *lb;        /* gathered labels (B) */
    float *wb;          /* gathered sample weights (B) */
    float **out;        /* per layer: output (B, out_dim) */
    float **g;          /* per layer (training): gradient of the loss wrt its output (B, out_dim) */
    float **rs;         /* per RReLU layer (training): random slopes (B, out_dim) */
    float **wdc;        /* per DropConnect LINEAR layer (training): the masked weight (out_dim, in_dim) */
    float **stat;       /* per BATCHNORM layer (training): batch mean and invstd (2 C) */
    int32_t **argmax;   /* per max POOL layer (training): argmax (B, out_dim) */
    unsigned char *first; /* (training) per layer and input slot: 1 if its backward writes (not adds) its input
                             gradient: the first writer in reverse order */
    unsigned char *live;  /* (training) per layer: 1 if its output gradient is written by some consumer */
    float *tmp;         /* (training) an input gradient to be added into an already written one (B, max width) */
    float *conv_ws;     /* scratch of the CONV kernels (the largest need over the layers) */
    void *block;
} fnn_workspace;

int fnn_ws_alloc(fnn_workspace *w, const fnn_plan *p, ptrdiff_t max_batch, int training, int gather);
void fnn_ws_free(fnn_workspace *w);

/* The input rows of layer l: the output of its src, or the network input xb. */
static inline const float *fnn_layer_input(const fnn_workspace *w, const float *xb, int src) {
    return src >= 0 ? w->out[src] : xb;
}

/* Forward through every layer for B rows of xb; *result = the network output (inside the workspace).
   training selects the stochastic layers' mode (keyed by step); update_stats lets BATCHNORM move its running
   statistics (only in real training steps). */
int fnn_forward(const float **result, fnn_workspace *w, const fnn_plan *p, const float *xb, ptrdiff_t B,
                int training, int update_stats, uint64_t step, int nt);

/* Backward from the loss gradient held in w->g[L-1] into p->grads. */
int fnn_backward(fnn_workspace *w, const fnn_plan *p, const float *xb, ptrdiff_t B, int training, uint64_t step,
                 int nt);

/* Weights of a LINEAR/CONV layer: count and rows (units). */
ptrdiff_t fnn_layer_weight_count(const fnn_layer_desc *L);
ptrdiff_t fnn_layer_weight_rows(const fnn_layer_desc *L);

#endif
