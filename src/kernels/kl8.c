/* 8-bit lanes straight from floats (kernels.h teq_kl8_*; the table's definition in kint.h struct teq_kl8).
 *
 * The table is built from the quantizer itself, not from a second derivation of its thresholds: every lane
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
    if (kl->sh != 0) {
        float f[256]; /* x + sh in chunks, as TeqQuantize adds it */
        for (int64_t i0 = 0; i0 < n; i0 += 256) {
            const int64_t k = n - i0 < 256 ? n - i0 : 256;
            for (int64_t i = 0; i < k; i++) f[i] = x[i0 + i] + kl->sh;
            teq_kq_codes(kq, f, k, out + i0, 1);
        }
    } else {
        teq_kq_codes(kq, x, n, out, 1);
    }
    teq_k_map_u8(kl->lut, out, n, out);
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
