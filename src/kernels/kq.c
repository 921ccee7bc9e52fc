/* The activation quantizer on the fly (kernels.h teq_kq_*): the codes of teq_q_quantize, bit for bit,
 * without its per-element search.
 *
 * Same candidates and thresholds as src/quant/code.c (the midpoint of two neighbouring magnitudes,
 * computed in double, rounded down to a float and kept as its bit pattern; x above the threshold goes up,
 * so ties go to the lower magnitude). The bit patterns of non-negative floats order like their values, so
 * the top bits of |x| name a bucket of magnitudes; a table gives, per bucket, how many thresholds lie
 * below it, and a fixed number of compares (`steps`, the most thresholds any bucket holds) finishes the
 * count without a branch. The bucket width is chosen per code: the coarsest shift whose fullest bucket
 * holds at most 2 thresholds, within 65536 buckets. For the densest code (base 1.01, 8 bits: 127
 * thresholds spread over a factor 1.01^127 = 3.5) buckets of 2^-15 relative width hold at most one
 * (tests/test_kernels.c checks steps <= 2 there). A code whose levels crowd closer than the finest table
 * (alpha tiny against beta) bisects thr[] instead: 8 compares, still branch-free. */
#include "kint.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

/* one side's candidates mag[K] (ascending) with their codes */
static void side_thresholds(teq_kq *kq, int s, const float *mag, const int *codes, int K) {
    int32_t *thr = kq->thr + s * TEQ_KQ_THR, *cd = kq->code + s * TEQ_KQ_THR;
    for (int j = 0; j < TEQ_KQ_THR; j++) thr[j] = 0x7FFFFFFF, cd[j] = j < K ? codes[j] : codes[K - 1];
    for (int j = 0; j + 1 < K; j++) {
        double mid = 0.5 * ((double)mag[j] + (double)mag[j + 1]);
        float f = (float)mid;
        thr[j] = (int32_t)(teq_ki_fbits(f) - ((double)f > mid));
    }
}

/* the most thresholds sharing one value of thr >> sh */
static int max_per_bucket(const int32_t *thr, int nt, int sh) {
    int best = nt > 0, run = 1;
    for (int j = 1; j < nt; j++) {
        run = ((uint32_t)thr[j] >> sh) == ((uint32_t)thr[j - 1] >> sh) ? run + 1 : 1;
        best = run > best ? run : best;
    }
    return best;
}

static int buckets_for(const int32_t *thr, int nt, int sh) {
    return (int)(((uint32_t)thr[nt - 1] >> sh) - ((uint32_t)thr[0] >> sh)) + 2;
}

teq_status teq_kq_new(const teq_qparams *q, teq_kq **out, teq_error *err) {
    *out = NULL;
    char msg[160];
    if (teq_qparams_check(q, msg, sizeof msg) != TEQ_OK || q->kind == TEQ_CODE_NONE)
        return teq_error_set(err, TEQ_ERR_ARG, "activation quantizer: %s", q->kind == TEQ_CODE_NONE ? "no code" : msg);
    teq_kq *kq = calloc(1, sizeof *kq);
    if (!kq) return teq_error_set(err, TEQ_ERR_NOMEM, "activation quantizer: out of memory");
    kq->q = *q;
    teq_q_code_table(q, kq->table);
    const int n = q->bits, nc = 1 << n;
    for (int c = nc; c < 256; c++) kq->table[c] = 0;
    kq->is_signed = q->is_signed != 0;
    if (q->kind == TEQ_CODE_LINEAR) {
        kq->lscale = q->scale;
        if (q->is_signed) kq->qlo = -(nc / 2 - 1), kq->qhi = nc / 2 - 1, kq->off = nc / 2;
        else kq->qlo = -q->zero_point, kq->qhi = nc - 1 - q->zero_point, kq->off = q->zero_point;
        *out = kq;
        return TEQ_OK;
    }
    /* levels back from the table (quant.h layout) */
    float lv[256], mag[257];
    int codes[257], L, K = 0;
    const int E = nc / 2, zc = q->zero_code != 0;
    if (q->is_signed) {
        L = E;
        for (int e = 0; e < E; e++) lv[e] = kq->table[e];
    } else {
        L = zc ? nc - 1 : nc;
        for (int e = 0; e < L; e++) lv[e] = kq->table[zc ? e + 1 : e];
    }
    if (zc) mag[K] = 0, codes[K++] = q->is_signed ? E : 0;
    for (int e = 0; e < L; e++) mag[K] = lv[e], codes[K++] = q->is_signed || !zc ? e : e + 1;
    side_thresholds(kq, 0, mag, codes, K);
    int K1 = K;
    if (q->is_signed) {
        K1 = 0;
        if (zc) {
            mag[K1] = 0, codes[K1++] = E;
            for (int e = 1; e < E; e++) mag[K1] = lv[e], codes[K1++] = E + e;
        } else {
            for (int e = 0; e < E; e++) mag[K1] = lv[e], codes[K1++] = E + e;
        }
        side_thresholds(kq, 1, mag, codes, K1);
    } else {
        side_thresholds(kq, 1, mag, codes, K); /* never selected: side is 1 only for signed codes */
    }
    kq->pow2 = 1;
    while (kq->pow2 < (K > K1 ? K : K1)) kq->pow2 *= 2;

    /* bucket shift per side: coarsest with <= 2 thresholds per bucket, else the finest that fits */
    int nts[2] = {K - 1, K1 - 1}, steps = 0, total = 0;
    for (int s = 0; s < 2; s++) {
        const int32_t *thr = kq->thr + s * TEQ_KQ_THR;
        int chosen = -1, chosen_steps = 1 << 30;
        for (int sh = 23; sh >= 0; sh--) {
            if (buckets_for(thr, nts[s], sh) + 1 > TEQ_KQ_MAX_BUCKETS) break;
            int st = max_per_bucket(thr, nts[s], sh);
            if (st < chosen_steps) chosen = sh, chosen_steps = st;
            if (st <= 2) break;
        }
        if (chosen < 0) chosen = 23, chosen_steps = 1 << 30;
        kq->side[s].sh = chosen;
        kq->side[s].kbase = (int32_t)((uint32_t)thr[0] >> chosen);
        kq->side[s].top = buckets_for(thr, nts[s], chosen);
        kq->side[s].boff = total;
        total += kq->side[s].top + 1;
        steps = chosen_steps > steps ? chosen_steps : steps;
    }
    if (steps <= TEQ_KQ_MAX_STEPS) {
        kq->bucket = malloc((size_t)total + 4);
        if (!kq->bucket) {
            free(kq);
            return teq_error_set(err, TEQ_ERR_NOMEM, "activation quantizer: out of memory");
        }
        memset(kq->bucket + total, 0, 4);
        for (int s = 0; s < 2; s++) {
            const teq_kq_side *sd = &kq->side[s];
            const int32_t *thr = kq->thr + s * TEQ_KQ_THR;
            uint8_t *b = kq->bucket + sd->boff;
            int j = 0;
            b[0] = 0;
            for (int d = 1; d <= sd->top; d++) {
                uint64_t lo = (uint64_t)(uint32_t)(sd->kbase + d - 1) << sd->sh;
                while (j < nts[s] && (uint64_t)(uint32_t)thr[j] < lo) j++;
                b[d] = (uint8_t)j;
            }
        }
        kq->steps = steps;
    } else {
        kq->steps = 0;
    }
    *out = kq;
    return TEQ_OK;
}

void teq_kq_free(teq_kq *kq) {
    if (!kq) return;
    free(kq->bucket);
    free(kq);
}

/* ---- scalar path (also the reference order of the vector bodies) ---- */

static inline int exp_code(const teq_kq *kq, float x) {
    uint32_t xb = teq_ki_fbits(x);
    uint32_t ub = kq->is_signed ? (xb & 0x7FFFFFFFu) : ((xb >> 31) ? 0 : xb);
    ub = ub > 0x7F800000u ? 0 : ub; /* NaN quantizes like 0 */
    int s = kq->is_signed & (int)(xb >> 31) & (ub != 0);
    const int32_t *thr = kq->thr + s * TEQ_KQ_THR;
    int j;
    if (kq->steps) {
        const teq_kq_side *sd = &kq->side[s];
        int64_t d = (int64_t)(ub >> sd->sh) - sd->kbase + 1;
        d = d < 0 ? 0 : d > sd->top ? sd->top : d;
        int j0 = kq->bucket[sd->boff + d];
        j = j0;
        for (int i = 0; i < kq->steps; i++) j += (int32_t)ub > thr[j0 + i];
    } else {
        j = 0;
        for (int step = kq->pow2 >> 1; step > 0; step >>= 1) j += ((int32_t)ub > thr[j + step - 1]) ? step : 0;
    }
    return kq->code[s * TEQ_KQ_THR + j];
}

static inline int lin_code(const teq_kq *kq, float x) {
    double v = (double)x / kq->lscale;
    v = v == v ? v : 0;
    v = v < kq->qlo ? kq->qlo : v;
    v = v > kq->qhi ? kq->qhi : v;
    v = (v + 6755399441055744.0) - 6755399441055744.0; /* round half to even, as code.c */
    return (int)v + kq->off;
}

static void run_scalar(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y) {
    const int lin = kq->q.kind == TEQ_CODE_LINEAR;
    for (int64_t i = 0; i < n; i++) {
        int c = lin ? lin_code(kq, x[i]) : exp_code(kq, x[i]);
        if (codes) codes[i] = (uint8_t)c;
        if (y) y[i] = kq->table[c];
    }
}

static void run_chunk(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y) {
    switch (teq_k_best_isa()) {
    case TEQ_ISA_AVX512: teq_kq_run_avx512(kq, x, n, codes, y); break;
    case TEQ_ISA_AVX2: teq_kq_run_avx2(kq, x, n, codes, y); break;
    default: run_scalar(kq, x, n, codes, y); break;
    }
}

enum { KQ_CHUNK = 1 << 14 };

static void run(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y, int n_threads) {
    if (n <= 0) return;
    int64_t nch = (n + KQ_CHUNK - 1) / KQ_CHUNK;
    int nt = n_threads < 1 ? 1 : n_threads;
    if (nt > nch) nt = (int)nch;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t c = 0; c < nch; c++) {
        int64_t b = c * KQ_CHUNK, k = n - b < KQ_CHUNK ? n - b : KQ_CHUNK;
        run_chunk(kq, x + b, k, codes ? codes + b : NULL, y ? y + b : NULL);
    }
}

void teq_kq_fake(const teq_kq *kq, const float *x, int64_t n, float *y, int n_threads) {
    run(kq, x, n, NULL, y, n_threads);
}

void teq_kq_codes(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, int n_threads) {
    run(kq, x, n, codes, NULL, n_threads);
}

/* for the vector files' tails */
void teq_kq_run_scalar(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y) {
    run_scalar(kq, x, n, codes, y);
}
