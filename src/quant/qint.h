/* Helpers shared by the files of src/quant only (not part of the quantizer's interface). */
#ifndef TEQ_QINT_H
#define TEQ_QINT_H

#include "quant.h"

#include <string.h>

/* Float <-> its bit pattern. For non-negative floats (and +inf) the bit patterns order like the values,
 * which the searches below use to compare with integers and to index tables by exponent. */
static inline uint32_t teq_qi_fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float teq_qi_bitsf(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* splitmix64: small, fast, good enough for sampling. */
uint64_t teq_qi_rng_next(uint64_t *state);
/* Uniform double in (0, 1), never 0 or 1. */
double teq_qi_rng_unit(uint64_t *state);
/* Uniform integer in 0 .. n-1 (n >= 1). */
uint64_t teq_qi_rng_below(uint64_t *state, uint64_t n);

/* Number of magnitude levels of an exponential code: 2^(n-1) signed, 2^n unsigned (2^n - 1 with the zero
 * code). bits are clamped to TEQ_QBITS_MIN .. TEQ_QBITS_MAX. */
int teq_qi_exp_num_levels(const teq_qparams *p);

/* The float32 levels of an exponential code: lv[e] = (float)(alpha * pow(base, e) + beta) for every level.
 * The search computes its levels with the same expression from the same pow() values, so what it
 * measures is exactly what teq_q_quantize does. Returns the number of levels. */
int teq_qi_exp_levels(const teq_qparams *p, float *lv);

/* Sort non-negative floats (including +0, +inf) ascending: a radix sort on the bit patterns.
 * tmp has n floats of scratch. */
void teq_qi_sort_nonneg(float *v, int64_t n, float *tmp);
/* Sort any finite floats ascending (radix sort on order-preserving keys). tmp has n floats. */
void teq_qi_sort_floats(float *v, int64_t n, float *tmp);

/* Linear interpolation quantile q in [0, 1] of sorted v[n] (n >= 1). */
double teq_qi_quantile_sorted(const float *v, int64_t n, double q);

#endif
