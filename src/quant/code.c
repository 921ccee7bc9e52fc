/* Quantization codes (METHOD section 1, linear baseline of section 3b): parameter check, code tables,
 * quantize / dequantize, bit packing, and bounded-memory tensor statistics.
 *
 * Quantizing is nearest-value search over a sorted list of magnitudes. Per call we build, once:
 *   - the candidate magnitudes of each sign (with the zero code, the negative side has 0, level(1), ...:
 *     the pattern s=1, e=0 is the zero, so -level(0) does not exist),
 *   - the midpoints between neighbours, each rounded down to a float and kept as its bit pattern, so the
 *     per-element test "m > midpoint" is one integer compare (non-negative floats order like their bits),
 *   - for large calls, a table indexed by the top bits of |x| (exponent and a few mantissa bits) that gives
 *     the first candidate directly; a short scan finishes it. Small calls use a branchless binary search.
 * No pow() per element; ties go to the lower magnitude. */
#include "qint.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- small shared helpers */

uint64_t teq_qi_rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double teq_qi_rng_unit(uint64_t *state) { return ((double)(teq_qi_rng_next(state) >> 11) + 0.5) * 0x1.0p-53; }

uint64_t teq_qi_rng_below(uint64_t *state, uint64_t n) {
    /* Lemire's multiply-shift with rejection: exactly uniform. */
    uint64_t x = teq_qi_rng_next(state);
    __uint128_t m = (__uint128_t)x * n;
    uint64_t l = (uint64_t)m;
    if (l < n) {
        uint64_t t = -n % n;
        while (l < t) {
            x = teq_qi_rng_next(state);
            m = (__uint128_t)x * n;
            l = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

static int clamp_bits(int b) { return b < TEQ_QBITS_MIN ? TEQ_QBITS_MIN : b > TEQ_QBITS_MAX ? TEQ_QBITS_MAX : b; }

int teq_qi_exp_num_levels(const teq_qparams *p) {
    int n = clamp_bits(p->bits);
    if (p->is_signed) return 1 << (n - 1);
    return p->zero_code ? (1 << n) - 1 : (1 << n);
}

int teq_qi_exp_levels(const teq_qparams *p, float *lv) {
    int L = teq_qi_exp_num_levels(p);
    for (int e = 0; e < L; e++) lv[e] = (float)(p->alpha * pow(p->base, (double)e) + p->beta);
    return L;
}

/* LSD radix sort of uint32 keys, 8 bits per pass; passes where every key has the same byte are skipped.
 * The result is in a (b is scratch). */
static void radix_sort_u32(uint32_t *a, uint32_t *b, int64_t n) {
    if (n < 2) return;
    uint32_t *src = a, *dst = b;
    for (int shift = 0; shift < 32; shift += 8) {
        int64_t cnt[256] = {0};
        for (int64_t i = 0; i < n; i++) cnt[(src[i] >> shift) & 255]++;
        if (cnt[(src[0] >> shift) & 255] == n) continue;
        int64_t pos = 0;
        for (int k = 0; k < 256; k++) {
            int64_t c = cnt[k];
            cnt[k] = pos;
            pos += c;
        }
        for (int64_t i = 0; i < n; i++) dst[cnt[(src[i] >> shift) & 255]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, (size_t)n * 4);
}

void teq_qi_sort_nonneg(float *v, int64_t n, float *tmp) {
    /* float and uint32_t have the same size and alignment; the bits of a non-negative float order as
     * unsigned integers. */
    radix_sort_u32((uint32_t *)(void *)v, (uint32_t *)(void *)tmp, n);
}

void teq_qi_sort_floats(float *v, int64_t n, float *tmp) {
    uint32_t *u = (uint32_t *)(void *)v;
    for (int64_t i = 0; i < n; i++) u[i] ^= (u[i] >> 31) ? 0xFFFFFFFFu : 0x80000000u;
    radix_sort_u32(u, (uint32_t *)(void *)tmp, n);
    for (int64_t i = 0; i < n; i++) u[i] ^= (u[i] >> 31) ? 0x80000000u : 0xFFFFFFFFu;
}

double teq_qi_quantile_sorted(const float *v, int64_t n, double q) {
    if (n <= 0) return 0;
    if (!(q > 0)) return v[0];
    if (q >= 1) return v[n - 1];
    double pos = q * (double)(n - 1);
    int64_t i = (int64_t)pos;
    if (i >= n - 1) return v[n - 1];
    double f = pos - (double)i;
    return (double)v[i] + f * ((double)v[i + 1] - (double)v[i]);
}

/* ---------------------------------------------------------------- parameters */

teq_status teq_qparams_check(const teq_qparams *p, char *msg, size_t msg_len) {
    char tmp[1];
    if (!msg || !msg_len) msg = tmp, msg_len = 1;
    msg[0] = 0;
#define BAD(...) (snprintf(msg, msg_len, __VA_ARGS__), TEQ_ERR_ARG)
    if (!p) return BAD("no parameters");
    if (p->kind == TEQ_CODE_NONE) return TEQ_OK;
    if (p->kind != TEQ_CODE_EXP && p->kind != TEQ_CODE_LINEAR) return BAD("unknown code kind %d", (int)p->kind);
    if (p->bits < TEQ_QBITS_MIN || p->bits > TEQ_QBITS_MAX)
        return BAD("bit width %d outside %d..%d", p->bits, TEQ_QBITS_MIN, TEQ_QBITS_MAX);
    if (p->is_signed != 0 && p->is_signed != 1) return BAD("is_signed must be 0 or 1, not %d", p->is_signed);
    if (p->zero_code != 0 && p->zero_code != 1) return BAD("zero_code must be 0 or 1, not %d", p->zero_code);
    if (p->lin_f32 != 0 && (p->lin_f32 != 1 || p->kind != TEQ_CODE_LINEAR))
        return BAD("lin_f32 must be 0, or 1 on a linear code, not %d", p->lin_f32);
    if (p->kind == TEQ_CODE_LINEAR) {
        if (!isfinite(p->scale) || !(p->scale > 0)) return BAD("linear scale %g must be finite and > 0", p->scale);
        int qmax = (1 << p->bits) - 1;
        if (p->is_signed ? p->zero_point != 0 : (p->zero_point < 0 || p->zero_point > qmax))
            return BAD("zero point %d out of range for a %s %d-bit code", (int)p->zero_point,
                       p->is_signed ? "symmetric" : "unsigned", p->bits);
        if (!(p->scale * (double)qmax < (double)FLT_MAX)) return BAD("linear scale %g overflows float32", p->scale);
        if (!((float)p->scale > 0)) return BAD("linear scale %g underflows float32", p->scale);
        return TEQ_OK;
    }
    if (!isfinite(p->base) || !(p->base > 1)) return BAD("base %g must be finite and > 1", p->base);
    if (!isfinite(p->alpha) || !(p->alpha > 0)) return BAD("alpha %g must be finite and > 0", p->alpha);
    if (!isfinite(p->beta)) return BAD("beta %g must be finite", p->beta);
    if (!(p->alpha + p->beta > 0)) return BAD("level(0) = alpha + beta = %g must be > 0", p->alpha + p->beta);
    float lv[256];
    int L = teq_qi_exp_levels(p, lv);
    if (!(lv[0] > 0)) return BAD("level(0) = %g is not > 0 in float32", (double)lv[0]);
    for (int e = 0; e < L; e++) {
        if (!isfinite(lv[e])) return BAD("level(%d) overflows float32 (base %g, alpha %g)", e, p->base, p->alpha);
        if (e && !(lv[e] > lv[e - 1]))
            return BAD("levels %d and %d are equal in float32 (alpha %g too small against beta %g)", e - 1, e, p->alpha,
                       p->beta);
    }
    return TEQ_OK;
#undef BAD
}

int teq_q_num_codes(const teq_qparams *p) { return 1 << clamp_bits(p->bits); }

static void exp_table(const teq_qparams *p, const float *lv, float *table);

void teq_q_code_table(const teq_qparams *p, float *table) {
    int n = clamp_bits(p->bits), nc = 1 << n;
    if (p->kind == TEQ_CODE_LINEAR) {
        int off = p->is_signed ? nc / 2 : p->zero_point;
        if (p->lin_f32) {
            const float s = (float)p->scale; /* DequantizeLinear: (float)(q - zp) * scale, in float32 */
            for (int c = 0; c < nc; c++) table[c] = (float)(c - off) * s;
        } else {
            for (int c = 0; c < nc; c++) table[c] = (float)(p->scale * (double)(c - off));
        }
        return;
    }
    if (p->kind != TEQ_CODE_EXP) {
        for (int c = 0; c < nc; c++) table[c] = 0;
        return;
    }
    float lv[256];
    teq_qi_exp_levels(p, lv);
    exp_table(p, lv, table);
}

/* The exponential code's table from its levels (layout of quant.h). */
static void exp_table(const teq_qparams *p, const float *lv, float *table) {
    int nc = 1 << clamp_bits(p->bits);
    if (p->is_signed) {
        int E = nc / 2;
        for (int e = 0; e < E; e++) {
            table[e] = lv[e];
            table[E + e] = -lv[e];
        }
        if (p->zero_code) table[E] = 0;
    } else if (p->zero_code) {
        table[0] = 0;
        for (int c = 1; c < nc; c++) table[c] = lv[c - 1];
    } else {
        for (int c = 0; c < nc; c++) table[c] = lv[c];
    }
}

/* ---------------------------------------------------------------- the quantizer plan */

/* Nearest-magnitude search over K sorted candidates. */
typedef struct qsearch {
    int K;
    int pow2;          /* smallest power of two >= K, for the branchless search */
    uint32_t thr[256]; /* thr[j]: bits of the largest float <= midpoint(mag[j], mag[j+1]); padded with ~0 */
    uint8_t *lut;      /* by bucket k = u >> sh: thresholds below bucket k (see qsearch_init); NULL: bisect */
    uint32_t k0, k1;
    int sh;
} qsearch;

typedef struct qplan {
    teq_code_kind kind;
    int bits, is_signed, zc;
    float table[256];
    /* exp: search[0] for x >= 0 (and every x when unsigned), search[1] for x < 0 when it differs */
    qsearch search[2];
    int two_searches;
    uint8_t codes[2][257]; /* codes[side][index of the nearest candidate] */
    /* linear */
    double scale;
    double qlo, qhi; /* clamp range of round(x/scale) + offset */
    int off;         /* added to q to form the code */
    int f32;         /* lin_f32: divide and round in float32 */
} qplan;

/* Fill s for candidate magnitudes mag[K] (ascending, non-negative). With want_lut, also the table that
 * jumps to the right candidate from the top bits of |x|. */
static void qsearch_init(qsearch *s, const float *mag, int K, int want_lut) {
    s->K = K;
    s->lut = NULL;
    s->pow2 = 1;
    while (s->pow2 < K) s->pow2 *= 2;
    for (int j = 0; j + 1 < K; j++) {
        double mid = 0.5 * ((double)mag[j] + (double)mag[j + 1]);
        float f = (float)mid;
        s->thr[j] = teq_qi_fbits(f) - ((double)f > mid); /* the float just below when rounding went up */
    }
    for (int j = K > 0 ? K - 1 : 0; j < 256; j++) s->thr[j] = 0xFFFFFFFFu;
    if (!want_lut || K < 2) return;
    int sh = 14;
    uint32_t k0 = s->thr[0] >> sh, k1 = s->thr[K - 2] >> sh;
    while (k1 - k0 > 32767) sh++, k0 = s->thr[0] >> sh, k1 = s->thr[K - 2] >> sh;
    /* lut[0] = 0 stands for every bucket below k0, lut[1 + k - k0] for k0 <= k <= k1 + 1, and one more
     * entry K - 1 closes the last bucket: the lookup clamps its index instead of branching. */
    uint8_t *lut = malloc((size_t)(k1 - k0) + 4);
    if (!lut) return; /* the binary search still works */
    int j = 0;
    lut[0] = 0;
    for (uint32_t k = k0; k <= k1 + 1; k++) {
        uint64_t lo = (uint64_t)k << sh;
        while (j < K - 1 && (uint64_t)s->thr[j] < lo) j++;
        lut[1 + k - k0] = (uint8_t)j;
    }
    lut[k1 - k0 + 3] = (uint8_t)(K - 1);
    s->lut = lut, s->k0 = k0, s->k1 = k1, s->sh = sh;
}

/* Number of thresholds < u, through the bucket table: lut[d] and lut[d + 1] bound the answer, a short
 * scan (or bisection, for a crowded bucket) finishes it. */
static inline int lut_find(const uint8_t *lut, const uint32_t *thr, int sh, int64_t k0, int64_t top, uint32_t u) {
    int64_t d = (int64_t)(u >> sh) - k0 + 1;
    d = d < 0 ? 0 : d;
    d = d > top ? top : d;
    int i = lut[d], hi = lut[d + 1];
    if (hi - i <= 8) {
        while (i < hi && u > thr[i]) i++;
        return i;
    }
    while (i < hi) {
        int m = (i + hi) >> 1;
        if (u > thr[m]) i = m + 1;
        else hi = m;
    }
    return i;
}

/* Index of the nearest candidate for the magnitude with bit pattern u: the number of thresholds < u. */
static inline int qsearch_find(const qsearch *s, uint32_t u) {
    if (s->lut) return lut_find(s->lut, s->thr, s->sh, s->k0, (int64_t)s->k1 - (int64_t)s->k0 + 2, u);
    int i = 0;
    for (int step = s->pow2 >> 1; step > 0; step >>= 1) i += (u > s->thr[i + step - 1]) ? step : 0;
    return i;
}

static void qplan_free(qplan *q) {
    free(q->search[0].lut);
    if (q->two_searches) free(q->search[1].lut);
    q->search[0].lut = q->search[1].lut = NULL;
}

/* Build the plan for p; n is the size of the call (decides whether the lookup table pays). */
static void qplan_init(qplan *q, const teq_qparams *p, int64_t n) {
    memset(q, 0, sizeof *q);
    q->kind = p->kind;
    q->bits = clamp_bits(p->bits);
    q->is_signed = p->is_signed != 0;
    q->zc = p->zero_code != 0;
    if (p->kind != TEQ_CODE_EXP) teq_q_code_table(p, q->table);
    int nc = 1 << q->bits;
    if (p->kind == TEQ_CODE_LINEAR) {
        q->scale = p->scale;
        q->f32 = p->lin_f32 != 0;
        if (q->is_signed) {
            q->qlo = -(nc / 2 - 1), q->qhi = nc / 2 - 1, q->off = nc / 2;
        } else {
            q->qlo = -p->zero_point, q->qhi = nc - 1 - p->zero_point, q->off = p->zero_point;
        }
        return;
    }
    if (p->kind != TEQ_CODE_EXP) return;
    float lv[256], mag[257];
    int L = teq_qi_exp_levels(p, lv);
    exp_table(p, lv, q->table);
    int want_lut = n >= 2048;
    int K = 0;
    if (q->zc) mag[K] = 0, q->codes[0][K++] = (uint8_t)(q->is_signed ? nc / 2 : 0);
    for (int e = 0; e < L; e++) mag[K] = lv[e], q->codes[0][K++] = (uint8_t)(q->is_signed || !q->zc ? e : e + 1);
    qsearch_init(&q->search[0], mag, K, want_lut);
    if (!q->is_signed) return;
    int E = nc / 2;
    if (!q->zc) {
        for (int e = 0; e < E; e++) q->codes[1][e] = (uint8_t)(E + e);
        return; /* same magnitudes on both sides: one search */
    }
    /* zero code on a signed tensor: negatives choose among 0, level(1), ..., level(E-1) */
    K = 0;
    mag[K] = 0, q->codes[1][K++] = (uint8_t)E;
    for (int e = 1; e < E; e++) mag[K] = lv[e], q->codes[1][K++] = (uint8_t)(E + e);
    qsearch_init(&q->search[1], mag, K, want_lut);
    q->two_searches = 1;
}

/* Codes of x[n] (the per-element work of every entry point below). */
static void qplan_codes(const qplan *q, const float *restrict x, int64_t n, uint8_t *restrict codes) {
    if (q->kind == TEQ_CODE_EXP) {
        /* Magnitudes as bit patterns: |x| for a signed code, x for an unsigned one; -0, NaN and (unsigned)
         * negatives become +0, the smallest magnitude. side = 1 for x < 0 (signed codes only). */
        const qsearch *s0 = &q->search[0];
        if (!q->two_searches && s0->lut) {
            /* The common case (one set of magnitudes, a large call), with everything in locals. Signed
             * without the zero code, code = s << (n-1) | e: the sign adds E to the code, no branch. */
            const uint8_t *lut = s0->lut, *c0 = q->codes[0];
            const int eoff = q->is_signed ? 1 << (q->bits - 1) : 0;
            const uint32_t *thr = s0->thr;
            const int sh = s0->sh, sg = q->is_signed;
            const int64_t k0 = s0->k0, top = (int64_t)s0->k1 - (int64_t)s0->k0 + 2;
            for (int64_t i = 0; i < n; i++) {
                uint32_t xb = teq_qi_fbits(x[i]);
                uint32_t ub = sg ? (xb & 0x7FFFFFFFu) : ((xb >> 31) ? 0 : xb);
                ub = ub > 0x7F800000u ? 0 : ub;
                int j = lut_find(lut, thr, sh, k0, top, ub);
                codes[i] = (uint8_t)(c0[j] + (int)((xb >> 31) & (ub != 0)) * eoff);
            }
            return;
        }
        const qsearch *srch[2] = {&q->search[0], &q->search[q->two_searches]};
        const uint8_t *cd[2] = {q->codes[0], q->codes[1]};
        const int sgn = q->is_signed;
        for (int64_t i = 0; i < n; i++) {
            uint32_t xb = teq_qi_fbits(x[i]);
            uint32_t ub = sgn ? (xb & 0x7FFFFFFFu) : ((xb >> 31) ? 0 : xb);
            ub = ub > 0x7F800000u ? 0 : ub;
            int side = sgn & (int)(xb >> 31) & (ub != 0);
            codes[i] = cd[side][qsearch_find(srch[side], ub)];
        }
        return;
    }
    if (q->kind == TEQ_CODE_LINEAR && q->f32) {
        /* ONNX QuantizeLinear (teq_q_lin32). ONNX leaves NaN to the runtime; teq gives it the zero point, as in
         * the double rule. */
        const float s = (float)q->scale, lo = (float)q->qlo, hi = (float)q->qhi;
        const int off = q->off;
        for (int64_t i = 0; i < n; i++) codes[i] = (uint8_t)((int)teq_q_lin32(x[i], s, lo, hi) + off);
        return;
    }
    if (q->kind == TEQ_CODE_LINEAR) {
        /* round half to even via the 1.5 * 2^52 trick (exact for |v| < 2^51; v is clamped first), which
         * vectorises where nearbyint() is a library call */
        const double scale = q->scale, lo = q->qlo, hi = q->qhi, magic = 6755399441055744.0;
        const int off = q->off;
        for (int64_t i = 0; i < n; i++) {
            double v = (double)x[i] / scale;
            v = v == v ? v : 0; /* NaN quantizes like 0 */
            v = v < lo ? lo : v;
            v = v > hi ? hi : v;
            v = (v + magic) - magic;
            codes[i] = (uint8_t)((int)v + off);
        }
        return;
    }
    memset(codes, 0, (size_t)n);
}

void teq_q_quantize(const teq_qparams *p, const float *x, int64_t n, uint8_t *codes) {
    if (n <= 0) return;
    qplan q;
    qplan_init(&q, p, n);
    qplan_codes(&q, x, n, codes);
    qplan_free(&q);
}

void teq_q_dequantize(const teq_qparams *p, const uint8_t *codes, int64_t n, float *y) {
    float table[256];
    int nc = teq_q_num_codes(p);
    teq_q_code_table(p, table);
    for (int c = nc; c < 256; c++) table[c] = table[nc - 1];
    for (int64_t i = 0; i < n; i++) y[i] = table[codes[i]];
}

void teq_q_dequantize_ch(const teq_qparams *p, const uint8_t *codes, int64_t n, int64_t start, const float *ch_scale,
                         int64_t n_ch, int64_t inner, float *y) {
    if (!ch_scale || n_ch <= 0 || inner <= 0) {
        teq_q_dequantize(p, codes, n, y);
        return;
    }
    const int f32 = p->kind == TEQ_CODE_LINEAR && p->lin_f32;
    teq_qparams u = *p;
    if (f32) u.scale = 1; /* (float)(q - zp) * 1.0f: the integer q - zp, exactly */
    teq_q_dequantize(&u, codes, n, y);
    for (int64_t i = 0; i < n; i++) {
        const float c = ch_scale[((start + i) / inner) % n_ch];
        y[i] *= f32 ? (float)(p->scale * (double)c) : c;
    }
}

enum { QBLOCK = 2048 };

void teq_q_fake(const teq_qparams *p, const float *x, int64_t n, float *y) {
    if (n <= 0) return;
    qplan q;
    qplan_init(&q, p, n);
    uint8_t c[QBLOCK];
    for (int64_t b = 0; b < n; b += QBLOCK) {
        int64_t k = n - b < QBLOCK ? n - b : QBLOCK;
        qplan_codes(&q, x + b, k, c);
        for (int64_t i = 0; i < k; i++) y[b + i] = q.table[c[i]];
    }
    qplan_free(&q);
}

double teq_q_rmae(const teq_qparams *p, const float *x, int64_t n) {
    if (n <= 0) return 0;
    qplan q;
    qplan_init(&q, p, n);
    uint8_t c[QBLOCK];
    double num = 0, den = 0;
    for (int64_t b = 0; b < n; b += QBLOCK) {
        int64_t k = n - b < QBLOCK ? n - b : QBLOCK;
        qplan_codes(&q, x + b, k, c);
        for (int64_t i = 0; i < k; i++) {
            float v = x[b + i];
            if (!isfinite(v)) continue; /* non-finite values carry no error information */
            num += fabs((double)v - (double)q.table[c[i]]);
            den += fabs((double)v);
        }
    }
    qplan_free(&q);
    return den > 0 ? num / den : 0;
}

/* ---------------------------------------------------------------- bit packing */

size_t teq_packed_bytes(int64_t n, int bits) {
    if (n <= 0 || bits <= 0) return 0;
    return (size_t)(((uint64_t)n * (uint64_t)bits + 7) / 8);
}

void teq_pack_bits(const uint8_t *codes, int64_t n, int bits, uint8_t *out) {
    if (bits < 1 || bits > 8) return;
    uint32_t mask = (1u << bits) - 1, acc = 0;
    int have = 0;
    size_t o = 0;
    for (int64_t i = 0; i < n; i++) {
        acc |= (codes[i] & mask) << have;
        have += bits;
        while (have >= 8) out[o++] = (uint8_t)acc, acc >>= 8, have -= 8;
    }
    if (have > 0) out[o++] = (uint8_t)acc; /* padding bits are zero */
}

void teq_unpack_bits(const uint8_t *in, int64_t n, int bits, uint8_t *codes) {
    if (bits < 1 || bits > 8) return;
    uint32_t mask = (1u << bits) - 1, acc = 0;
    int have = 0;
    size_t o = 0;
    for (int64_t i = 0; i < n; i++) {
        if (have < bits) acc |= (uint32_t)in[o++] << have, have += 8;
        codes[i] = (uint8_t)(acc & mask);
        acc >>= bits;
        have -= bits;
    }
}

/* ---------------------------------------------------------------- tensor statistics */

teq_status teq_tstats_init(teq_tstats *s, int64_t cap, uint64_t seed) {
    memset(s, 0, sizeof *s);
    s->min = INFINITY;
    s->max = -INFINITY;
    s->rng = seed ^ 0x7465712D74737461ull;
    if (cap < 0) cap = 0;
    if (cap > 0) {
        size_t bytes;
        if (!teq_mul_size((size_t)cap, sizeof(float), &bytes) || !(s->sample = malloc(bytes))) return TEQ_ERR_NOMEM;
    }
    s->sample_cap = cap;
    return TEQ_OK;
}

/* Skip length of Algorithm L (Li 1994): how many values pass before the next one enters the reservoir. */
static int64_t reservoir_skip(teq_tstats *s) {
    double g = floor(log(teq_qi_rng_unit(&s->rng)) / log1p(-s->res_w));
    return g < 4e18 ? (int64_t)g : (int64_t)4e18;
}

void teq_tstats_add(teq_tstats *s, const float *x, int64_t n) {
    if (n <= 0) return;
    /* Blocks that stay in L1, three simple branch-free passes each (NaN fails every comparison and its
     * sums are masked to 0), with eight independent lanes so that the compiler vectorises them without
     * reordering any floating-point sum. */
    double sa[8] = {0}, sq[8] = {0};
    float mn[8], mx[8];
    int32_t nz[8] = {0}, nn[8] = {0};
    for (int k = 0; k < 8; k++) mn[k] = INFINITY, mx[k] = -INFINITY;
    int64_t nzero = 0, nneg = 0;
    for (int64_t b0 = 0; b0 < n; b0 += 4096) {
        int64_t m = n - b0 < 4096 ? n - b0 : 4096, m8 = m & ~(int64_t)7;
        const float *xb = x + b0;
        for (int64_t i = 0; i < m8; i += 8)
            for (int k = 0; k < 8; k++) {
                float v = xb[i + k];
                mn[k] = v < mn[k] ? v : mn[k];
                mx[k] = v > mx[k] ? v : mx[k];
            }
        for (int64_t i = 0; i < m8; i += 8)
            for (int k = 0; k < 8; k++) {
                float v = xb[i + k];
                nz[k] += v == 0;
                nn[k] += v < 0;
            }
        for (int64_t i = 0; i < m8; i += 8)
            for (int k = 0; k < 8; k++) {
                float v = xb[i + k];
                double a = v == v ? (double)fabsf(v) : 0.0;
                sa[k] += a;
                sq[k] += a * a;
            }
        for (int64_t i = m8; i < m; i++) {
            float v = xb[i];
            mn[0] = v < mn[0] ? v : mn[0], mx[0] = v > mx[0] ? v : mx[0];
            nz[0] += v == 0, nn[0] += v < 0;
            double a = v == v ? (double)fabsf(v) : 0.0;
            sa[0] += a, sq[0] += a * a;
        }
        for (int k = 0; k < 8; k++) nzero += nz[k], nneg += nn[k], nz[k] = nn[k] = 0;
    }
    double mnd = s->min, mxd = s->max;
    for (int k = 0; k < 8; k++) {
        if (mn[k] < mnd) mnd = mn[k];
        if (mx[k] > mxd) mxd = mx[k];
        if (k) sa[0] += sa[k], sq[0] += sq[k];
    }
    s->sum_abs += sa[0];
    s->sum_sq += sq[0];
    s->min = mnd, s->max = mxd;
    s->n_zero += nzero, s->n_neg += nneg;

    /* Reservoir: the first cap values fill it; after that Algorithm L picks which values replace a random
     * slot, jumping over the ones that do not (uniform over all values added, O(cap log(count/cap))). */
    int64_t base = s->count, cap = s->sample_cap;
    s->count += n;
    if (cap <= 0) return;
    int64_t j = 0;
    while (s->sample_n < cap && j < n) {
        s->sample[s->sample_n++] = x[j++];
        if (s->sample_n == cap) {
            s->res_w = exp(log(teq_qi_rng_unit(&s->rng)) / (double)cap);
            s->res_next = base + j + reservoir_skip(s);
        }
    }
    while (s->sample_n == cap && s->res_next < base + n) {
        s->sample[teq_qi_rng_below(&s->rng, (uint64_t)cap)] = x[s->res_next - base];
        s->res_w *= exp(log(teq_qi_rng_unit(&s->rng)) / (double)cap);
        int64_t skip = reservoir_skip(s);
        s->res_next = skip > INT64_MAX - s->res_next - 1 ? INT64_MAX : s->res_next + 1 + skip;
    }
}

void teq_tstats_free(teq_tstats *s) {
    free(s->sample);
    memset(s, 0, sizeof *s);
}
