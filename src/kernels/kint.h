/* Helpers shared by the files of src/kernels only (not part of the kernels' interface).
 *
 * Each instruction set's kernels live in their own file, compiled with that set's flags (CMake
 * set_source_files_properties); nothing in those files runs before dispatch.c has checked cpuid, so the
 * rest of the library never executes an instruction the CPU lacks. */
#ifndef TEQ_KINT_H
#define TEQ_KINT_H

#include "kernels.h"

#include <string.h>

/* The kernel tables of each file. avx512.c has two: with VNNI (vpdpbusd) and without (AVX-512BW
 * maddubs for the INT8 kernels); the float kernels are the same. */
extern const teq_kernel_set teq_kset_scalar_tab;
extern const teq_kernel_set teq_kset_avx2_tab;
extern const teq_kernel_set teq_kset_avx512_tab;
extern const teq_kernel_set teq_kset_avx512vnni_tab;

/* Which ISA teq_kset_best() picked (after the TEQ_ISA cap). */
teq_isa teq_k_best_isa(void);

/* Code k of a packed row (n bits, LSB first): two bytes always hold it (shift <= 7, n <= 8); the byte
 * after the row's last code byte exists (row_bytes > packed bytes, or the 64-byte slack). */
static inline unsigned teq_ki_code(const uint8_t *row, int64_t k, int n) {
    uint64_t bit = (uint64_t)k * (uint64_t)n;
    unsigned v = (unsigned)row[bit >> 3] | (unsigned)row[(bit >> 3) + 1] << 8;
    return (v >> (bit & 7)) & ((1u << n) - 1);
}

/* ---- the prepared activation quantizer (kq.c builds it, the vector files read it) ----
 * Nearest-magnitude search as src/quant/code.c does it (the same candidates, the same midpoint
 * thresholds thr[] stored as float bit patterns rounded down, ties to the lower magnitude), but the first
 * candidate comes from a bucket table indexed by u >> sh (u the bit pattern of |x|) fine enough that at
 * most `steps` thresholds fall in one bucket: the index is then bucket[d] + #(u > thr[bucket[d] + i], i <
 * steps), a fixed number of compares that vectorise. Each side (x >= 0: 0, x < 0: 1) has its own arrays;
 * when both sides share the magnitudes (no zero code, or unsigned) side 1 repeats side 0 with its codes. */
enum { TEQ_KQ_MAX_BUCKETS = 1 << 16, TEQ_KQ_MAX_STEPS = 4, TEQ_KQ_THR = 264 };
typedef struct teq_kq_side {
    int32_t kbase, top; /* bucket index d = clamp((u >> sh) - kbase + 1, 0, top) */
    int32_t sh;
    int32_t boff;       /* this side's first entry in teq_kq.bucket */
} teq_kq_side;

struct teq_kq {
    teq_qparams q;
    float table[256];   /* code -> value (teq_q_code_table) */
    /* exponential */
    int steps;          /* compares after the bucket lookup (<= TEQ_KQ_MAX_STEPS); 0: no bucket table is fine
                         * enough, bisect thr[] instead over pow2 (smallest power of two >= candidates) */
    int pow2;
    int is_signed;
    teq_kq_side side[2];
    /* side s at [s * TEQ_KQ_THR]: thr[j] for j < K-1, bit patterns of the midpoints rounded down, then
     * 0x7FFFFFFF (never below a magnitude, which is <= 0x7F800000: signed int compares work too);
     * code[j] the code of candidate j */
    int32_t thr[2 * TEQ_KQ_THR];
    int32_t code[2 * TEQ_KQ_THR];
    /* bucket[boff + d] = number of thresholds below bucket d's first pattern (d = 0: below every
     * threshold); uint8 (at most 255 thresholds), 4 bytes of slack so a 32-bit gather may read past the end */
    uint8_t *bucket;
    /* linear: q = clamp(rint(x / scale)) + off, in double as code.c */
    double lscale, qlo, qhi;
    int off;
};

/* Vector bodies (codes and/or values for x[n]; codes or y may be NULL). */
void teq_kq_run_avx512(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y);
void teq_kq_run_avx2(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y);
void teq_kq_run_scalar(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y);

/* Scalar magnitude bits of x for side selection, shared by the scalar path and vector tails. */
static inline uint32_t teq_ki_fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

#endif
