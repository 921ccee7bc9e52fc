/* Step tables (kint.h struct teq_kl8 and struct teq_kv8; read by steps512.c): 8-bit lanes straight from floats
 * (kernels.h teq_kl8_*), then an exponential code's values (teq_kv8, below).
 *
 * The lanes' table is built from the quantizer itself, not from a second derivation of its thresholds: every lane
 * integer written here is lut[code] of a value run through teq_kq_codes, and each step is found by bisection
 * over the float bit patterns (the lanes are non-decreasing in x). So the shifted codes, the zero code and
 * both sides of a signed code need no case of their own; what is checked instead is the table's premise
 * (one step a bucket, the ends constant, NaN and -0 as +0), and the build gives up (NULL) where it fails.
 * Cost: 512 bucket starts by bisection of F alone, then about 40 batched calls of the exact path (at most 255
 * steps bisected side by side): well under a millisecond a layer. */
#include "kint.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* total order of the non-NaN floats as unsigned keys (-inf lowest, +inf highest) */
static uint32_t fkey(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u >> 31 ? ~u : u | 0x80000000u;
}

static float funkey(uint32_t k) {
    const uint32_t u = k >> 31 ? k & 0x7FFFFFFFu : ~k;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

void teq_kl8_exact(const teq_kl8 *kl, const teq_kq *kq, const float *x, int64_t n, uint8_t *out) {
    teq_kq_lanes8(kq, kl->lut, kl->sh, x, n, out, 1);
}

/* the lane of one value */
static uint8_t lane1(const teq_kl8 *kl, const teq_kq *kq, float x) {
    uint8_t l;
    teq_kl8_exact(kl, kq, &x, 1, &l);
    return l;
}

/* smallest x (by key in [a, b]) whose lane is >= want; b if none */
static float first_lane(const teq_kl8 *kl, const teq_kq *kq, float a, float b, int want) {
    uint32_t lo = fkey(a), hi = fkey(b);
    while (lo < hi) {
        const uint32_t m = lo + (hi - lo) / 2;
        if (lane1(kl, kq, funkey(m)) >= want) hi = m;
        else lo = m + 1;
    }
    return funkey(lo);
}

/* smallest x with F(x) >= want (F non-decreasing) */
static float first_f(const teq_kl8 *kl, int32_t want) {
    uint32_t lo = fkey(-INFINITY), hi = fkey(INFINITY);
    while (lo < hi) {
        const uint32_t m = lo + (hi - lo) / 2;
        if (teq_kl8_f(kl, funkey(m)) >= want) hi = m;
        else lo = m + 1;
    }
    return funkey(lo);
}

static float below(float x) { return nextafterf(x, -INFINITY); }

/* the table for kq's lanes lut on grid da with shift sh, into kl; false where its premise fails */
static bool build(teq_kl8 *kl, const teq_kq *kq, double da) {
    enum { NB = TEQ_KL8_NB };
    /* the premise: lut non-decreasing in the level (the codes are, in x), so the lanes are in x; a lut that
     * is not would hide dips inside a bucket from the bisections below */
    const int na = teq_q_num_codes(&kq->q);
    for (int a = 0; a < na; a++)
        for (int b = 0; b < na; b++)
            if (kq->table[a] < kq->table[b] && kl->lut[a] > kl->lut[b]) return false;
    const uint8_t lmin = lane1(kl, kq, -INFINITY), lmax = lane1(kl, kq, INFINITY);
    if (!(da > 0) || !isfinite(da)) return false;
    /* the first and the last step (the lanes are constant below xa and from xb on) */
    const float xa = lmin == lmax ? 0.0f : first_lane(kl, kq, -INFINITY, INFINITY, lmin + 1);
    const float xb = lmin == lmax ? 0.0f : first_lane(kl, kq, -INFINITY, INFINITY, lmax);
    /* buckets a little narrower than da / 2, the steps' least spacing */
    const double c = 2.0 / da * (1.0 + 1.0 / 1024);
    if (!(c * 65536 < 1e30)) return false;
    kl->c = (float)c * 65536.0f;
    /* the buckets of xa and xb before any clamp: fl(fl(x + sh) * c) / 2^16, as F computes it */
    const float ya = kl->sh != 0 ? xa + kl->sh : xa, yb = kl->sh != 0 ? xb + kl->sh : xb;
    const double fa = floor((double)(ya * kl->c) / 65536), fb = floor((double)(yb * kl->c) / 65536);
    if (!(fa > -16384 && fb < 16384)) return false;
    const int32_t B0 = (int32_t)fa - 1;
    if (fb - B0 > NB - 2) return false; /* the last step in bucket NB - 2 at most: lane[b + 1] exists */
    kl->lo = (float)B0 * 65536.0f, kl->hi = (float)(B0 + NB - 1) * 65536.0f, kl->off = B0 * 65536;
    /* each bucket's first and last value, and their lanes (one batch) */
    float x0[NB], x1[NB], xs[2 * NB];
    uint8_t l[2 * NB];
    x0[0] = -INFINITY;
    for (int b = 1; b < NB; b++) x0[b] = first_f(kl, b * 65536);
    for (int b = 0; b < NB; b++) {
        x1[b] = b + 1 < NB ? below(x0[b + 1]) : INFINITY;
        if (fkey(x1[b]) < fkey(x0[b])) return false; /* an empty bucket */
        xs[2 * b] = x0[b], xs[2 * b + 1] = x1[b];
    }
    teq_kl8_exact(kl, kq, xs, 2 * NB, l);
    int nst = 0, sb[NB];
    for (int b = 0; b < NB; b++) {
        kl->lane[b] = l[2 * b], kl->th[b] = kl->tl[b] = 0xFF;
        if (l[2 * b + 1] < l[2 * b] || (b + 1 < NB && l[2 * b + 2] < l[2 * b + 1])) return false; /* not monotone */
        if (l[2 * b] == l[2 * b + 1]) continue;
        /* a step in b: the lane past it must be the next bucket's (no second step right at its start) */
        if (b + 1 == NB || l[2 * b + 2] != l[2 * b + 1]) return false;
        sb[nst++] = b;
    }
    /* the steps, bisected side by side: s[k] = the first value of bucket sb[k] with the upper lane */
    uint32_t lo[NB], hi[NB];
    for (int k = 0; k < nst; k++) lo[k] = fkey(x0[sb[k]]), hi[k] = fkey(x1[sb[k]]);
    for (int round = 0; round < 33; round++) {
        int open = 0;
        for (int k = 0; k < nst; k++) {
            xs[k] = funkey(lo[k] + (hi[k] - lo[k]) / 2);
            open += lo[k] < hi[k];
        }
        if (!open) break;
        teq_kl8_exact(kl, kq, xs, nst, l);
        for (int k = 0; k < nst; k++) {
            if (lo[k] >= hi[k]) continue;
            const uint32_t m = lo[k] + (hi[k] - lo[k]) / 2;
            if (l[k] >= kl->lane[sb[k] + 1]) hi[k] = m;
            else lo[k] = m + 1;
        }
    }
    for (int k = 0; k < nst; k++) xs[k] = below(funkey(lo[k]));
    teq_kl8_exact(kl, kq, xs, nst, l);
    for (int k = 0; k < nst; k++) {
        const int b = sb[k];
        if (l[k] != kl->lane[b]) return false; /* two steps in the bucket */
        const int32_t fs = teq_kl8_f(kl, funkey(lo[k]));
        if (fs >> 16 != b) return false;
        kl->th[b] = (uint8_t)(fs >> 8), kl->tl[b] = (uint8_t)fs;
    }
    /* a NaN goes through F as y = +0, the lane of x = -sh (fl(-sh + sh) = +0), and without a shift -0 as +0 */
    const uint8_t l0 = lane1(kl, kq, kl->sh != 0 ? -kl->sh : 0.0f);
    if (lane1(kl, kq, NAN) != l0 || lane1(kl, kq, -NAN) != l0 || (kl->sh == 0 && lane1(kl, kq, -0.0f) != l0))
        return false;
    return true;
}

teq_kl8 *teq_kl8_new(const teq_kq *kq, const uint8_t lut[256], double da, float shift) {
    if (!kq || teq_k_best_isa() != TEQ_ISA_AVX512 || !isfinite(shift)) return NULL;
    teq_kl8 *kl = aligned_alloc(64, (sizeof(teq_kl8) + 63) & ~(size_t)63);
    if (!kl) return NULL;
    memset(kl, 0, sizeof *kl);
    memcpy(kl->lut, lut, 256);
    kl->sh = shift;
    if (!build(kl, kq, da)) {
        free(kl);
        return NULL;
    }
    return kl;
}

void teq_kl8_free(teq_kl8 *kl) { free(kl); }

float teq_kl8_shift(const teq_kl8 *kl) { return kl->sh; }

void teq_kl8_run_table(const teq_kl8 *kl, const teq_kq *kq, const float *x, int64_t n, uint8_t *out) {
    for (int64_t i = 0; i < n; i++) {
        const int32_t f = teq_kl8_f(kl, x[i]);
        const int b = f >> 16, t = kl->th[b] << 8 | kl->tl[b], r = f & 0xFFFF;
        if (r == t) teq_kl8_exact(kl, kq, x + i, 1, out + i);
        else out[i] = kl->lane[b + (r > t)];
    }
}

void teq_kl8_run(const teq_kl8 *kl, const teq_kq *kq, const float *x, int64_t n, uint8_t *out) {
    if (teq_k_best_isa() == TEQ_ISA_AVX512) teq_kl8_run_avx512(kl, kq, x, n, out);
    else teq_kl8_exact(kl, kq, x, n, out);
}

/* ---- exponential values by their step function over |x|'s bit pattern (kint.h struct teq_kv8) ---- */

/* the values of n magnitudes given as bit patterns (positive floats), by the quantizer's own bodies */
static void kv_values(const teq_kq *kq, const uint32_t *ub, int n, float *y) {
    float x[2 * TEQ_KL8_NB];
    for (int i = 0; i < n; i++) memcpy(&x[i], &ub[i], 4);
    for (int i0 = 0; i0 < n; i0 += 2 * TEQ_KL8_NB) {
        const int k = n - i0 < 2 * TEQ_KL8_NB ? n - i0 : 2 * TEQ_KL8_NB;
        teq_kq_fake(kq, x + i0, k, y + i0, 1);
    }
}

/* the values of magnitudes ub[0 .. n) as the table gives them: the zero code's range read as its first
 * pattern above it (the bodies apply the zero code by a compare of their own) */
static void kv_tvalues(const struct teq_kv8 *kv, const teq_kq *kq, const uint32_t *ub, int n, float *y) {
    uint32_t u[2 * TEQ_KL8_NB];
    for (int i0 = 0; i0 < n; i0 += 2 * TEQ_KL8_NB) {
        const int k = n - i0 < 2 * TEQ_KL8_NB ? n - i0 : 2 * TEQ_KL8_NB;
        for (int i = 0; i < k; i++) {
            u[i] = ub[i0 + i];
            if (kv->zthr >= 0 && u[i] <= (uint32_t)kv->zthr) u[i] = (uint32_t)kv->zthr + 1;
        }
        kv_values(kq, u, k, y + i0);
    }
}

static uint32_t kv_tone(const struct teq_kv8 *kv, const teq_kq *kq, uint32_t ub) {
    float y;
    kv_tvalues(kv, kq, &ub, 1, &y);
    return teq_ki_fbits(y);
}

/* Whether steps st[0 .. ns) (magnitude patterns where the value moves up: the first pattern of the upper value,
 * ascending) fit the table under kv as kv_build requires: a step inside its bucket (not on the bucket's first
 * pattern) is read as "the next bucket's first value past it", so the next step must lie past that first value:
 * the pattern before it in a later bucket. A step on its bucket's first pattern reads as that bucket's start and
 * asks nothing of the next. (Different buckets for the steps alone is neither needed nor enough: where F moves
 * by many units a pattern, w's grid being x's and coarse near beta, a step can land on the first pattern of the
 * bucket after one that holds the step before it.) */
static bool kv_one_each(const struct teq_kv8 *kv, const uint32_t *st, int ns) {
    for (int j = 1; j < ns; j++) {
        const int32_t b = teq_kv8_f(kv, st[j - 1]) >> 16;
        if (teq_kv8_f(kv, st[j - 1] - 1) >> 16 == b && teq_kv8_f(kv, st[j] - 1) >> 16 <= b) return false;
    }
    return true;
}

/* cb, eps and the regions: the split at an octave of w (or none) and each region's bucket width, the narrowest
 * distance between two of its steps (in patterns of w, less a margin: 2^-10, else 2^-7 or 2^-4 where F's grid
 * puts a step on a bucket's first pattern, see kv_one_each), fewest buckets in all. The candidates are the
 * quantizer's own level thresholds (tl); the table built below finds and checks every step itself, so they only
 * guide the choice. */
static bool kv_regions(struct teq_kv8 *kv, const teq_kq *kq) {
    enum { NB = TEQ_KL8_NB };
    const uint32_t UMAX = 0x7F800000u;
    uint32_t st[256], ws[256];
    int ns = 0;
    for (int e = 0; e + 1 < kq->nlev && e < 255; e++)
        if ((uint32_t)kq->tl[e] < UMAX) st[ns++] = (uint32_t)kq->tl[e] + 1;
    kv->cb = isfinite(kq->lbeta) ? kq->lbeta : 0.0f;
    kv->eps = FLT_MIN;
    kv->split = (int32_t)(UMAX + 1), kv->c0 = kv->c1 = 1.0f, kv->off1 = 0, kv->ubase = 0;
    if (ns == 0) return true;
    /* eps: half the smallest w of a step (every step's w then stays above it), at least FLT_MIN */
    float w0;
    const uint32_t wb0 = teq_kv8_w(kv, st[0]);
    memcpy(&w0, &wb0, 4);
    kv->eps = w0 * 0.5f > FLT_MIN ? w0 * 0.5f : FLT_MIN;
    if (!(w0 > kv->eps)) return false;
    for (int j = 0; j < ns; j++) ws[j] = teq_kv8_w(kv, st[j]);
    for (int j = 1; j < ns; j++)
        if (ws[j] <= ws[j - 1]) return false; /* two thresholds on one w */
    /* sr[0 .. nr): the candidates where the value, as the table reads it, moves (not the zero code's threshold, nor
     * levels that are one float): kv_one_each checks these; the widths below come from all of st */
    uint32_t sr[256], u[512];
    float y[512];
    int nr = 0;
    for (int j = 0; j < ns; j++) u[2 * j] = st[j] - 1, u[2 * j + 1] = st[j];
    kv_tvalues(kv, kq, u, 2 * ns, y);
    for (int j = 0; j < ns; j++)
        if (teq_ki_fbits(y[2 * j]) != teq_ki_fbits(y[2 * j + 1])) sr[nr++] = st[j];
    int best = NB - 1; /* fewer than NB - 1 buckets up to the last step's: the last bucket stays constant */
    bool found = false;
    struct teq_kv8 pick = *kv, t = *kv;
    for (int lg = 10; lg >= 4 && !found; lg -= 3) /* the margin, 2^-lg: a wider one only where none fits */
        for (uint32_t e = (ws[0] >> 23) + 1; e <= (ws[ns - 1] >> 23) + 1; e++) {
            const uint32_t split = e > (ws[ns - 1] >> 23) ? UMAX + 1 : e << 23; /* the last: one region */
            int k = 0; /* steps below the split */
            while (k < ns && ws[k] < split) k++;
            if (k == 0) continue;
            double d0 = 1e30, d1 = 1e30; /* the regions' narrowest distances */
            for (int j = 1; j < k; j++) d0 = fmin(d0, (double)(ws[j] - ws[j - 1]));
            for (int j = k + 1; j < ns; j++) d1 = fmin(d1, (double)(ws[j] - ws[j - 1]));
            t.split = (int32_t)split;
            t.c0 = (float)(65536.0 / fmin(d0, 1e9) * (1 - ldexp(1, -lg)));
            t.ubase = (int32_t)(ws[0] > (uint32_t)(65536 / t.c0) ? ws[0] - (uint32_t)(65536 / t.c0) : 0);
            const double n0d = split > UMAX ? 0 : floor((double)(int32_t)(split - 1 - (uint32_t)t.ubase) * t.c0 / 65536) + 1;
            if (n0d >= NB - 1) continue;
            t.off1 = (int32_t)n0d << 16;
            t.c1 = (float)(65536.0 / fmin(d1, 1e9) * (1 - ldexp(1, -lg)));
            if (!kv_one_each(&t, sr, nr)) continue;
            const int nb = (teq_kv8_f(&t, st[ns - 1]) >> 16) + 1;
            if (nb < best) best = nb, pick = t, found = true;
        }
    if (!found) return false;
    *kv = pick;
    return true;
}

/* smallest magnitude pattern with F >= want */
static uint32_t kv_first_f(const struct teq_kv8 *kv, int32_t want) {
    uint32_t a = 0, b = 0x7F800000u;
    while (a < b) {
        const uint32_t m = a + (b - a) / 2;
        if (teq_kv8_f(kv, m) >= want) b = m;
        else a = m + 1;
    }
    return a;
}

static bool kv_build(struct teq_kv8 *kv, const teq_kq *kq) {
    enum { NB = TEQ_KL8_NB };
    const uint32_t UMAX = 0x7F800000u; /* +inf: the largest magnitude; NaN reads as 0 */
    const int sg = kq->q.is_signed != 0;
    if (sg && kq->q.zero_code) return false; /* its two sides differ near 0 */
    kv->zthr = kq->q.zero_code ? kq->zthr[0] : -1;
    if (kv->zthr >= 0 && (uint32_t)kv->zthr >= UMAX) return false;
    if (!kv_regions(kv, kq)) return false;
    kv->sg = sg;
    /* each bucket's first and last pattern, and their values (one batch) */
    uint32_t u0[NB], u1[NB], us[2 * NB];
    float v[2 * NB];
    /* buckets wholly below F(0) or above F(+inf) are never read: they hold 0's or +inf's value */
    const int32_t fbot = teq_kv8_f(kv, 0) >> 16, ftop = teq_kv8_f(kv, UMAX) >> 16;
    for (int b = 0; b < NB; b++) u0[b] = b <= fbot ? 0 : b > ftop ? UMAX : kv_first_f(kv, b * 65536);
    for (int b = 0; b < NB; b++) {
        u1[b] = b < fbot ? 0 : b >= ftop ? UMAX : u0[b + 1] - 1;
        if (u1[b] < u0[b]) return false; /* an empty bucket between them */
        us[2 * b] = u0[b], us[2 * b + 1] = u1[b];
    }
    kv_tvalues(kv, kq, us, 2 * NB, v);
    int nst = 0, sb[NB];
    for (int b = 0; b < NB; b++) {
        const uint32_t bits = teq_ki_fbits(v[2 * b]);
        for (int k = 0; k < 4; k++) kv->v[k][b] = (uint8_t)(bits >> (8 * k));
        kv->th[b] = kv->tl[b] = 0xFF;
        if (!(v[2 * b] <= v[2 * b + 1]) || (b + 1 < NB && !(v[2 * b + 1] <= v[2 * b + 2]))) return false;
        if (teq_ki_fbits(v[2 * b]) == teq_ki_fbits(v[2 * b + 1])) continue;
        if (b + 1 == NB || teq_ki_fbits(v[2 * b + 2]) != teq_ki_fbits(v[2 * b + 1])) return false;
        sb[nst++] = b;
    }
    for (int k = 0; k < nst; k++) {
        const int b = sb[k];
        uint32_t lo = u0[b], hi = u1[b]; /* the first pattern with the upper value */
        while (lo < hi) {
            const uint32_t m = lo + (hi - lo) / 2;
            float y;
            kv_tvalues(kv, kq, &m, 1, &y);
            if (y >= v[2 * b + 1]) hi = m;
            else lo = m + 1;
        }
        if (kv_tone(kv, kq, lo - 1) != teq_ki_fbits(v[2 * b])) return false; /* two steps in the bucket */
        const int32_t fs = teq_kv8_f(kv, lo);
        if (fs >> 16 != b) return false;
        kv->th[b] = (uint8_t)(fs >> 8), kv->tl[b] = (uint8_t)fs;
    }
    /* what the bodies take as given: a NaN is +0's value; the zero code gives +0 at and below zthr and the
     * table's value above; a signed code's negatives have the magnitude's value with the sign bit set (checked
     * at every bucket's ends), an unsigned code's are +0's */
    float z;
    const uint32_t zero = 0;
    kv_values(kq, &zero, 1, &z);
    const uint32_t zt = kv->zthr >= 0 ? 0 : kv_tone(kv, kq, 0);
    if (teq_ki_fbits(z) != zt) return false;
    if (kv->zthr >= 0) {
        const uint32_t ends[2] = {(uint32_t)kv->zthr, (uint32_t)kv->zthr + 1};
        float ye[2];
        kv_values(kq, ends, 2, ye);
        if (teq_ki_fbits(ye[0]) != 0 || teq_ki_fbits(ye[1]) != kv_tone(kv, kq, ends[1])) return false;
    }
    float xs[4] = {NAN, -NAN, -0.0f, -1.0f}, ys[4];
    teq_kq_fake(kq, xs, 4, ys, 1);
    if (teq_ki_fbits(ys[0]) != teq_ki_fbits(z) || teq_ki_fbits(ys[1]) != teq_ki_fbits(z) || teq_ki_fbits(ys[2]) != teq_ki_fbits(z)) return false;
    if (!sg) return teq_ki_fbits(ys[3]) == teq_ki_fbits(z);
    float xn[2 * NB], yn[2 * NB];
    for (int i = 0; i < 2 * NB; i++) {
        const uint32_t nb = us[i] | 0x80000000u;
        memcpy(&xn[i], &nb, 4);
    }
    teq_kq_fake(kq, xn, 2 * NB, yn, 1);
    for (int i = 0; i < 2 * NB; i++)
        if (us[i] != 0 && teq_ki_fbits(yn[i]) != (teq_ki_fbits(v[i]) | 0x80000000u)) return false;
    return true;
}

struct teq_kv8 *teq_kv8_new(const teq_kq *kq) {
    if (!kq || kq->q.kind != TEQ_CODE_EXP) return NULL;
    struct teq_kv8 *kv = aligned_alloc(64, (sizeof(struct teq_kv8) + 63) & ~(size_t)63);
    if (!kv) return NULL;
    memset(kv, 0, sizeof *kv);
    if (!kv_build(kv, kq)) {
        free(kv);
        return NULL;
    }
    return kv;
}

void teq_kv8_run_table(const struct teq_kv8 *kv, const teq_kq *kq, const float *x, int64_t n, float *y) {
    for (int64_t i = 0; i < n; i++) {
        const uint32_t xb = teq_ki_fbits(x[i]);
        uint32_t ub = kv->sg ? xb & 0x7FFFFFFFu : ((int32_t)xb < 0 ? 0 : xb);
        if (ub > 0x7F800000u) ub = 0;
        const bool neg = kv->sg && ub != 0 && (int32_t)xb < 0;
        if (kv->zthr >= 0 && ub <= (uint32_t)kv->zthr) {
            y[i] = 0.0f;
            continue;
        }
        const int32_t f = teq_kv8_f(kv, ub);
        const int b = f >> 16, t = kv->th[b] << 8 | kv->tl[b], r = f & 0xFFFF;
        if (r == t) {
            teq_kq_run_scalar(kq, x + i, 1, NULL, y + i);
            continue;
        }
        const int c = b + (r > t);
        uint32_t bits = (uint32_t)kv->v[0][c] | (uint32_t)kv->v[1][c] << 8 | (uint32_t)kv->v[2][c] << 16 |
                        (uint32_t)kv->v[3][c] << 24;
        if (neg) bits |= 0x80000000u;
        memcpy(&y[i], &bits, 4);
    }
}
