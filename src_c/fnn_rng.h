/* fastnn: counter-based random numbers keyed by (seed, stream, index): reproducible for any thread count. */
#ifndef FNN_RNG_H
#define FNN_RNG_H

#include "fnn_common.h"

/* A strong 64-bit mix (splitmix64 finaliser): bijective, good avalanche. */
static inline uint64_t fnn_mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* 64 random bits for element `index` of stream `stream` (e.g. the training step) under `seed`. */
static inline uint64_t fnn_rand64(uint64_t seed, uint64_t stream, uint64_t index) {
    return fnn_mix64(fnn_mix64(seed ^ fnn_mix64(stream + 0x632BE59BD9B4E019ULL)) + index);
}

/* Uniform float in [0, 1) with 24 random bits. */
static inline float fnn_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
    return (float)(fnn_rand64(seed, stream, index) >> 40) * (1.0f / 16777216.0f);
}

#endif
