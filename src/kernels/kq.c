/* The activation quantizer on the fly (kernels.h teq_kq_*): the codes of teq_q_quantize, bit for bit,
 * without its per-element search.
 *
 * Exponential codes whose margin check passes (log_path_init below, with its proof) take the log path in
 * the vector bodies: a vector log2 lands within one level and one exact threshold compare finishes. The
 * rest of this comment is the bucket search, kept for the other codes and for the scalar body.
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

#include <float.h>
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

/* threshold bit pattern between magnitudes a < b: the double midpoint rounded down to a float */
static int32_t mid_bits(float a, float b) {
    double mid = 0.5 * ((double)a + (double)b);
    float f = (float)mid;
    return (int32_t)(teq_ki_fbits(f) - ((double)f > mid));
}

/* The log path and its proof. For an exponential code, (level(e) - beta) / alpha = b^e, so in
 *     t(u) = log_b((u - beta) / alpha)        (u = |x|, real arithmetic)
 * the levels sit at the integers and the threshold between e and e+1 at e + log_b((1 + b) / 2), a
 * fraction in (0.5, 0.7) for b in (1, 4]. The vector bodies compute an approximation t~ in float:
 *     v = clamp(fl(fl(u - lbeta) * lia), FLT_MIN, FLT_MAX),  l = fl(getexp(v) + p(getmant(v) - 1)),
 *     t~ = fl(l * lc),  e0 = floor(clamp(t~, 0, L-1)),  e = e0 + (u > tl[e0])  (one exact compare).
 * Let t*(u) = lc * log2((u - lbeta) * lia) with the float constants themselves (so their rounding does
 * not matter), increasing in u. Where v is not clamped, |t~ - t*| <= E with
 *     E = lc * (TEQ_KQ_LOG2_ERR + 1.73e-7 + 2^-17) + 260 * 2^-24
 * : v carries two roundings (relative 2^-23 + 2^-48, i.e. 1.72e-7 in log2), the polynomial at most
 * TEQ_KQ_LOG2_ERR (tested exhaustively), the sum l (|l| < 128) half an ulp <= 2^-17, and the product
 * t~ 2^-24 relative, which matters only where |t~| <= L + 1 <= 257 (elsewhere the clamp decides).
 * The nearest level for u is i = #{j : u > tl[j]}. e = i exactly when e0 is i or i - 1 (tl[e0] then
 * decides, with the same strict compare and the same float thresholds as code.c). With tau_j =
 * t*(tl[j]) computed here in double:
 *   (A) e0 <= i: u <= tl[i] gives t~ <= tau_i + E, so tau_i + E < i + 1 suffices (j = i here);
 *   (B) e0 >= i - 1: u > tl[i-1] gives t~ >= tau_{i-1} - E, so tau_j - E >= j suffices (j >= 1;
 *       j = 0 holds by the clamp at 0).
 * Checked for every threshold j = 0 .. L-2, with 1e-9 slack for the double evaluation here. The clamped
 * ends: v = FLT_MIN only below t* = -126 lc, where (A) needs -126 lc + E < 1 and (B) is void (the
 * answer there is <= 1, since tau_1 >= 1 + E > 0); v = FLT_MAX (overflow, +inf) needs
 * lc * log2(FLT_MAX) - E >= L - 2 for (B). When any of this fails (levels crowding within a few ulps,
 * so the rounded thresholds leave their places, or alpha tiny against beta, or lbeta above a threshold)
 * the code keeps the bucket search. */
static void log_path_init(teq_kq *kq, const float *lv, int L) {
    kq->logpath = 0;
    kq->nlev = L;
    kq->lfa = 0, kq->lfb = 1;
    for (int e = 0; e < 256; e++) kq->tl[e] = 0x7FFFFFFF, kq->lev[e] = e < L ? lv[e] : 0;
    for (int e = 0; e + 1 < L; e++) kq->tl[e] = mid_bits(lv[e], lv[e + 1]);
    kq->zthr[0] = mid_bits(0, lv[0]);
    kq->zthr[1] = L > 1 ? mid_bits(0, lv[1]) : 0x7FFFFFFF;
    const teq_qparams *q = &kq->q;
    kq->lbeta = (float)q->beta;
    kq->lia = (float)(1.0 / q->alpha);
    kq->lc = (float)(1.0 / log2(q->base));
    if (!isfinite(kq->lbeta) || !isfinite(kq->lia) || !(kq->lia >= FLT_MIN) || !isfinite(kq->lc) || !(kq->lc > 0))
        return;
    const double lc = kq->lc, E = lc * (TEQ_KQ_LOG2_ERR + 1.73e-7 + 0x1p-17) + 260 * 0x1p-24 + 1e-9;
    double slack = 1e300, fmin = 1e300, fmax = -1e300;
    for (int j = 0; j + 1 < L; j++) {
        uint32_t tb = (uint32_t)kq->tl[j];
        float tf;
        memcpy(&tf, &tb, 4);
        double d = ((double)tf - (double)kq->lbeta) * (double)kq->lia;
        double tau = d > 0 ? lc * log2(d) : -INFINITY;
        double a = (j + 1) - (tau + E); /* (A): > 0 */
        double b = j >= 1 ? (tau - E) - j : 1e300; /* (B): >= 0 */
        if (!(a > 0) || !(b >= 0)) return;
        slack = a < slack ? a : slack;
        slack = b < slack ? b : slack;
        fmin = tau - j < fmin ? tau - j : fmin;
        fmax = tau - j > fmax ? tau - j : fmax;
    }
    if (!(-126 * lc + E < 1) || !(lc * log2((double)FLT_MAX) - E >= L - 2)) return;
    kq->log_margin = slack;
    kq->logpath = 1;
    /* The fraction window (kint.h lfa, lfb), for the AVX2 body's t~ = clamp(fma(e, lc, fl(q * lc)), 0, L-1)
     * (within E7 of t*; E7 < E, so the checks above hold for it too) with fraction r = t~ - e0:
     *   r < lfa <= fmin - E7: t* <= t~ + E7 < e0 + fmin <= tau_e0, so u <= tl[e0]: e = e0 (for e0 = L-1,
     *     tl[] is the top and e = e0 anyway; t~ clamped at 0 from t~ < 0: t* < E7 < fmin <= tau_0);
     *   r > lfb >= fmax + E7: t* >= t~ - E7 > e0 + fmax >= tau_e0, so u > tl[e0]: e = e0 + 1 (r > 0 means t~
     *     was not clamped).
     * v clamped at FLT_MIN: t* <= -126 lc < 0 < tau_0, and t~ <= 0 gives e0 = 0, r = 0 < lfa: e = 0, right.
     * v clamped at FLT_MAX is outside the bound E: the vector bodies send it to tl[]. lfa is rounded
     * down and lfb up from the double bounds (with the 1e-9 slack already in E7).
     * E7 bounds the AVX2 body's t~ (kint.h teq_kq_log2p7): the polynomial with q's rounding, v's two
     * roundings, fl(q * lc) (q < 1: half an ulp of lc at most), and the FMA's rounding where |t~| <= 257. */
    const double E7 = lc * (TEQ_KQ_LOG2_ERR7 + 1.73e-7 + 0x1p-24) + 260 * 0x1p-24 + 1e-9;
    if (L >= 2 && fmin - E7 > 0 && fmax + E7 < 1) {
        float a = (float)(fmin - E7), b = (float)(fmax + E7);
        if ((double)a > fmin - E7) a = nextafterf(a, 0);
        if ((double)b < fmax + E7) b = nextafterf(b, 2);
        if (a > 0 && b < 1 && a <= b) kq->lfa = a, kq->lfb = b;
    }
}

/* The entry table (kint.h lent) over the level thresholds tl[0 .. L-2] that log_path_init set: the split
 * (region A: the first m thresholds, region B: the rest, from a bucket boundary of B's shift above A's last)
 * with the fewest buckets, if they are few enough (TEQ_KQ_ENT_MAX, 16 KB; the bench models' codes need
 * 280-1100). The thresholds strictly increase (each midpoint rounded down lies at or above the lower level
 * and below the upper one), so some shift separates them; the bound only keeps the table small. Returns 0
 * when out of memory (the caller fails), 1 otherwise. */
static int entry_init(teq_kq *kq, int L) {
    kq->lent = NULL;
    const int nt = L - 1;
    if (nt < 1) return 1;
    const uint32_t *t = (const uint32_t *)kq->tl;
    /* t[j] and t[j+1] share a bucket of u >> sh exactly when sh exceeds their highest differing bit, so the
     * coarsest separating shift of a run of thresholds is the least of those bits over its pairs (<= 24):
     * pre[m] over t[0 .. m-1], suf[m] over t[m .. nt-1] */
    int pre[256], suf[256];
    pre[0] = pre[1] = 24, suf[nt - 1] = 24;
    for (int j = 1; j < nt; j++)
        if (t[j] <= t[j - 1]) return 1; /* cannot happen (above); no table rather than a wrong one */
    for (int j = 1; j < nt; j++) {
        const int hb = 31 - __builtin_clz(t[j - 1] ^ t[j]);
        pre[j + 1] = hb < pre[j] ? hb : pre[j];
    }
    for (int j = nt - 2; j >= 0; j--) {
        const int hb = 31 - __builtin_clz(t[j] ^ t[j + 1]);
        suf[j] = hb < suf[j + 1] ? hb : suf[j + 1];
    }
    int64_t best = TEQ_KQ_ENT_MAX + 1;
    int bm = -1, bsa = 0, bsb = 0;
    for (int m = 0; m < nt; m++) {
        const int sb = suf[m], sa = pre[m];
        const int64_t nb = (int64_t)(t[nt - 1] >> sb) - (t[m] >> sb) + 1;
        int64_t na = 0;
        if (m > 0) {
            if (t[m - 1] >= (t[m] >> sb) << sb) continue; /* A's last threshold inside B's first bucket */
            na = (int64_t)(t[m - 1] >> sa) - (t[0] >> sa) + 1;
        }
        if (na + nb < best) best = na + nb, bm = m, bsa = sa, bsb = sb;
    }
    if (bm < 0) return 1;
    int32_t *ent = malloc(sizeof(int32_t) * (size_t)best);
    if (!ent) return 0;
    kq->lsplit = bm ? (t[bm] >> bsb) << bsb : 0;
    /* region 0 (A) and 1 (B); with no A both name B, so that either lane choice reads B's table */
    const int first[2] = {bm ? 0 : bm, bm}, last[2] = {bm ? bm - 1 : nt - 1, nt - 1}, sh[2] = {bm ? bsa : bsb, bsb};
    int64_t off = 0;
    for (int r = 0; r < 2; r++) {
        const uint32_t kbase = t[first[r]] >> sh[r];
        const int64_t top = (int64_t)(t[last[r]] >> sh[r]) - kbase;
        kq->lsh[r] = sh[r], kq->lkbase[r] = (int32_t)kbase, kq->ltop[r] = (int32_t)top, kq->lboff[r] = (int32_t)off;
        if (r == 0 && !bm) continue; /* the same table as region 1 */
        for (int64_t d = 0, j = 0; d <= top; d++) {
            const uint32_t lo = (uint32_t)(kbase + d) << sh[r];
            while (j < nt && t[j] < lo) j++;
            uint32_t low = (1u << sh[r]) - 1;
            if (j < nt && (t[j] >> sh[r]) == kbase + d) low = t[j] - lo;
            ent[off + d] = (int32_t)((uint32_t)j << 24 | low);
        }
        off += top + 1;
    }
    if (!bm) kq->lboff[0] = kq->lboff[1];
    kq->lent = ent;
    return 1;
}

teq_status teq_kq_new(const teq_qparams *q, teq_kq **out, teq_error *err) {
    *out = NULL;
    char msg[160];
    if (teq_qparams_check(q, msg, sizeof msg) != TEQ_OK || q->kind == TEQ_CODE_NONE)
        return teq_error_set(err, TEQ_ERR_ARG, "activation quantizer: %s", q->kind == TEQ_CODE_NONE ? "no code" : msg);
    teq_kq *kq = calloc(1, q->kind == TEQ_CODE_LINEAR ? TEQ_KQ_LINEAR_BYTES : sizeof *kq);
    if (!kq) return teq_error_set(err, TEQ_ERR_NOMEM, "activation quantizer: out of memory");
    kq->q = *q;
    teq_q_code_table(q, kq->table);
    const int n = q->bits, nc = 1 << n;
    for (int c = nc; c < 256; c++) kq->table[c] = 0;
    kq->is_signed = q->is_signed != 0;
    if (q->kind == TEQ_CODE_LINEAR) {
        kq->lscale = q->scale;
        kq->lrecip = 1.0 / q->scale;
        kq->lrecipf = (float)kq->lrecip;
        kq->lscalef = (float)q->scale;
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
    log_path_init(kq, lv, L);
    if (!entry_init(kq, L)) {
        free(kq);
        return teq_error_set(err, TEQ_ERR_NOMEM, "activation quantizer: out of memory");
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
            free(kq->lent);
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

void teq_kq_trim(teq_kq **kqp) {
    teq_kq *kq = *kqp;
    /* the AVX2 body without the entry table, and the AVX-512 body off the log path, read thr, code and bucket
     * (the AVX-512 log path reads tl and lev, before them; the scalar body the entry table); the kind first: a
     * linear code's block ends before the exponential fields (TEQ_KQ_LINEAR_BYTES) */
    if (!kq || kq->q.kind != TEQ_CODE_EXP || kq->trimmed || !kq->lent ||
        (teq_k_best_isa() == TEQ_ISA_AVX512 && !kq->logpath))
        return;
    free(kq->bucket);
    kq->bucket = NULL, kq->steps = 0, kq->trimmed = 1;
    teq_kq *small = realloc(kq, TEQ_KQ_TRIM_BYTES);
    if (small) *kqp = small; /* else the whole block stays, unread past tl and lev */
}

const teq_qparams *teq_kq_params(const teq_kq *kq) { return &kq->q; }

void teq_kq_value_table(teq_kq *kq, bool on) {
    if (!kq || kq->q.kind != TEQ_CODE_EXP) return;
    if (!on || teq_k_best_isa() != TEQ_ISA_AVX512) {
        free(kq->kv);
        kq->kv = NULL, kq->kv_want = 0;
    } else if (!kq->kv && kq->kv_want != 2) {
        kq->kv_want = 1;
    }
}

/* kint.h kv_want: the table made by the first call that is worth it. Two runs of one model on two threads may
 * both get here: each builds, one publishes, the other frees its copy. */
enum { KQ_KV_MIN = 1 << 16 };
static void kv_make(const teq_kq *kq) {
    teq_kq *m = (teq_kq *)kq; /* a cache of the quantizer's own values: the same results with or without it */
    struct teq_kv8 *kv = teq_kv8_new(kq), *none = NULL;
    if (!kv) {
        __atomic_store_n(&m->kv_want, 2, __ATOMIC_RELAXED);
        return;
    }
    if (!__atomic_compare_exchange_n(&m->kv, &none, kv, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) free(kv);
}

void teq_kq_free(teq_kq *kq) {
    if (!kq) return;
    free(kq->kv); /* before tl: within a linear code's block too (NULL there) */
    free(kq->bucket);
    free(kq->lent);
    free(kq);
}

/* ---- scalar path (also the reference order of the vector bodies) ---- */

/* The code of level index e (entry_code below) on side s, ub at or below the side's zero threshold or not:
 * the vector bodies' arithmetic (avx2.c kq256_log_body) */
static inline int level_code(const teq_kq *kq, int e, int s, uint32_t ub) {
    const int zc = kq->q.zero_code != 0, E = 1 << (kq->q.bits - 1);
    const int z = zc && (int32_t)ub <= kq->zthr[s];
    if (kq->is_signed) {
        if (zc && s && e < 1) e = 1;
        return z ? E : e + (s ? E : 0);
    }
    return zc ? (z ? 0 : e + 1) : e;
}

/* By the entry table (kint.h lent): the level index from one read and one compare, as the AVX2 body */
static inline int entry_code(const teq_kq *kq, uint32_t ub, int s) {
    const int r = (int32_t)ub > (int32_t)kq->lsplit - 1;
    int64_t d = (int64_t)(ub >> kq->lsh[r]) - kq->lkbase[r];
    d = d < 0 ? 0 : d > kq->ltop[r] ? kq->ltop[r] : d;
    const uint32_t lo = (uint32_t)(d + kq->lkbase[r]) << kq->lsh[r];
    const uint32_t en = (uint32_t)kq->lent[kq->lboff[r] + d];
    const int e = (int)(en >> 24) + ((int32_t)(ub - lo) > (int32_t)(en & 0xFFFFFF));
    return level_code(kq, e, s, ub);
}

static inline int exp_code(const teq_kq *kq, float x) {
    uint32_t xb = teq_ki_fbits(x);
    uint32_t ub = kq->is_signed ? (xb & 0x7FFFFFFFu) : ((xb >> 31) ? 0 : xb);
    ub = ub > 0x7F800000u ? 0 : ub; /* NaN quantizes like 0 */
    int s = kq->is_signed & (int)(xb >> 31) & (ub != 0);
    if (kq->lent) return entry_code(kq, ub, s);
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
    if (kq->q.lin_f32) return (int)teq_q_lin32(x, kq->lscalef, (float)kq->qlo, (float)kq->qhi) + kq->off;
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

/* A chunk; with a shift (y only): x + shift (one float addition, as the operator's own pass) into y, then y
 * quantized in place, so that the sums are still in cache when the quantizer reads them */
static void run_chunk_at(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y, float shift) {
    if (shift == 0) {
        run_chunk(kq, x, n, codes, y);
        return;
    }
    if (teq_k_best_isa() >= TEQ_ISA_AVX2) teq_kq_addc_avx2(x, n, shift, y);
    else
        for (int64_t i = 0; i < n; i++) y[i] = x[i] + shift;
    run_chunk(kq, y, n, NULL, y);
}

static void run(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y, int n_threads, float shift) {
    if (n <= 0) return;
    if (!codes && n >= KQ_KV_MIN && __atomic_load_n(&kq->kv_want, __ATOMIC_RELAXED) == 1 &&
        !__atomic_load_n(&kq->kv, __ATOMIC_ACQUIRE))
        kv_make(kq);
    int64_t nch = (n + KQ_CHUNK - 1) / KQ_CHUNK;
    int nt = n_threads < 1 ? 1 : n_threads;
    if (nt > nch) nt = (int)nch;
    if (nt == 1) {
        /* no parallel region at all: callers run this inside their own regions, and libgomp's nested
         * team of one (even under a false if clause) cost a futex round trip per call: 39,000 per det
         * INT8 inference, a quarter of its time */
        for (int64_t b = 0; b < n; b += KQ_CHUNK)
            run_chunk_at(kq, x + b, n - b < KQ_CHUNK ? n - b : KQ_CHUNK, codes ? codes + b : NULL, y ? y + b : NULL,
                         shift);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t c = 0; c < nch; c++) {
        int64_t b = c * KQ_CHUNK, k = n - b < KQ_CHUNK ? n - b : KQ_CHUNK;
        run_chunk_at(kq, x + b, k, codes ? codes + b : NULL, y ? y + b : NULL, shift);
    }
}

void teq_kq_fake(const teq_kq *kq, const float *x, int64_t n, float *y, int n_threads) {
    run(kq, x, n, NULL, y, n_threads, 0);
}

void teq_kq_fake_shifted(const teq_kq *kq, const float *x, int64_t n, float shift, float *y, int n_threads) {
    run(kq, x, n, NULL, y, n_threads, shift);
}

void teq_kq_codes(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, int n_threads) {
    run(kq, x, n, codes, NULL, n_threads, 0);
}

void teq_kq_qvalues(const teq_kq *kq, const float *x, int64_t n, float *v) {
    if (kq->q.lin_f32 && teq_k_best_isa() == TEQ_ISA_AVX512) {
        teq_kq_qvalues_avx512(kq, x, n, v);
        return;
    }
    if (kq->q.lin_f32 && teq_k_best_isa() >= TEQ_ISA_AVX2) {
        teq_kq_qvalues_avx2(kq, x, n, v);
        return;
    }
    uint8_t c[1024]; /* in chunks through a small byte buffer */
    for (int64_t i0 = 0; i0 < n; i0 += (int64_t)sizeof c) {
        const int64_t k = n - i0 < (int64_t)sizeof c ? n - i0 : (int64_t)sizeof c;
        run(kq, x + i0, k, c, NULL, 1, 0);
        for (int64_t i = 0; i < k; i++) v[i0 + i] = (float)(c[i] - kq->off);
    }
}

void teq_kq_lanes(const teq_kq *kq, const float *x, int64_t n, const int16_t lut[256], int16_t *out) {
    if (teq_k_best_isa() >= TEQ_ISA_AVX2 && teq_kq_lanes_avx2(kq, x, n, lut, out)) return;
    uint8_t c[1024];
    for (int64_t i0 = 0; i0 < n; i0 += (int64_t)sizeof c) {
        const int64_t k = n - i0 < (int64_t)sizeof c ? n - i0 : (int64_t)sizeof c;
        run(kq, x + i0, k, c, NULL, 1, 0);
        teq_k_map_i16(lut, c, k, out + i0);
    }
}

void teq_kq_lanes8(const teq_kq *kq, const uint8_t lut[256], float shift, const float *x, int64_t n, uint8_t *out,
                   int n_threads) {
    if (shift != 0) {
        float f[256]; /* x + shift in chunks, as TeqQuantize adds it, then their codes */
        for (int64_t i0 = 0; i0 < n; i0 += 256) {
            const int64_t k = n - i0 < 256 ? n - i0 : 256;
            for (int64_t i = 0; i < k; i++) f[i] = x[i0 + i] + shift;
            teq_kq_codes(kq, f, k, out + i0, 1);
        }
    } else {
        teq_kq_codes(kq, x, n, out, n_threads);
    }
    teq_k_map_u8(lut, out, n, out);
}

/* for the vector files' tails */
void teq_kq_run_scalar(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y) {
    run_scalar(kq, x, n, codes, y);
}
