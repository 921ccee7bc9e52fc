/* Per-tensor search of the exponential code (METHOD section 2) and the linear baseline's calibration
 * (section 3b).
 *
 * How the exponential search stays fast and exact:
 *   The sample is reduced once to sorted magnitudes with prefix sums. For any set of float32 levels, the
 *   error sum|m - q(m)| is then exact and costs O(levels * log): the cell of each level (the values between
 *   the midpoints to its neighbours) is found by binary search, narrowed first by a table indexed by the top
 *   bits of the float (exponent and 11 mantissa bits), and its error is
 *   v*(#below v) - sum(below) + sum(above) - v*(#above) from the prefix sums. The evaluator uses the same
 *   float32 levels and the same midpoint rule as teq_q_quantize, so the RMAE it reports is the RMAE of
 *   the sample (up to double rounding), not an estimate. (Signed tensors with the zero code have no
 *   -level(0): their two signs are kept apart below the first midpoint and merged above it.)
 *   For each (base b, width n), with R = b^(L-1) for L levels, the code is parametrised by its bottom and
 *   top levels (L0, Ltop): alpha = (Ltop - L0) / (R - 1), beta = L0 - alpha. So alpha > 0 and
 *   level(0) > 0 hold by construction (0 < L0 < Ltop), and beta may be negative.
 *   1. Starts: the (n-1)-bit result of this base as is (its levels are a subset of the n-bit levels of
 *      the same alpha, beta, so the error cannot grow with n), the previous base's (L0, Ltop) at this
 *      width, and quantile-based codes: top at the maximum or 99.9th percentile of the non-zero
 *      magnitudes, bottom geometric (beta = 0) or at the 0.5/L, 2/L, 8/L quantiles. With L <= 32 levels
 *      (cheap evaluations, several dips) also a 6 x 6 grid of (bottom, top) quantile pairs.
 *   2. Lloyd-style alternation from the best start: assign values to levels, refit (alpha, beta) by least
 *      squares on the cells (a 2x2 closed form; constrained to L0 > 0 when it would cross 0). That is the
 *      mean-squared optimum; the compass search below moves it to the RMAE optimum.
 *   3. Longer looks around it (rescaled by 0.7 .. 1.4, top or bottom alone moved further) and whole-
 *      exponent shifts of the window (alpha * b^k), jumps that small steps never make with a large base.
 *   4. A compass search directly on the exact RMAE from the best point (with L <= 32, also from the next
 *      two distinct ones): moves of Ltop by e^(+-h), of L0 by +-10h times the bottom spacing, and of both
 *      (a rescale), h halving from 0.1 to 0.002.
 *   Measured against a 60 x 60 (or 70 x 70) brute-force grid over (L0, Ltop): on average 0.1-1.5% lower
 *   RMAE than the grid, worst case about 0.5% above it (bumpy surfaces of a few thousand values).
 *   Codes that do not fit in float32 (levels that overflow or collapse) are never accepted. */
#include "qint.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- base grid */

int teq_default_bases(double *bases, int cap) {
    /* Dense where high widths want it (1.005 .. 1.1), then about 12% steps up to 4; 2 and sqrt(2) exact. */
    static const double grid[] = {
        1.005, 1.0075, 1.01, 1.0125, 1.015, 1.0175, 1.02, 1.025, 1.03, 1.035, 1.04, 1.045, 1.05,
        1.06,  1.07,   1.08, 1.09,   1.1,   1.12,   1.14, 1.17,  1.2,  1.25,  1.3,  1.35,  1.4142135623730951,
        1.5,   1.6,    1.7,  1.85,   2.0,   2.25,   2.5,  2.75,  3.0,  3.5,   4.0};
    int n = (int)(sizeof grid / sizeof grid[0]);
    if (bases)
        for (int i = 0; i < n && i < cap; i++) bases[i] = grid[i];
    return n;
}

/* ---------------------------------------------------------------- sorted magnitudes */

/* Non-negative values sorted ascending (as float bits), their prefix sums, and a table from the top bits
 * of a float to the range of indices holding values with those top bits. */
typedef struct side {
    int64_t n;
    uint32_t *u;  /* n values, ascending float bit patterns */
    double *ps;   /* ps[i] = sum of the first i values; n + 1 entries */
    int32_t *lut; /* lut[k - k0] = first index whose (u >> sh) >= k, for k0 <= k <= k1 + 1 */
    uint32_t k0, k1;
    int sh;
} side;

static void side_free(side *s) {
    free(s->u), free(s->ps), free(s->lut);
    memset(s, 0, sizeof *s);
}

/* Take ownership of v[n] (non-negative floats), sort it and build the tables. */
static teq_status side_build(side *s, float *v, int64_t n) {
    memset(s, 0, sizeof *s);
    s->n = n;
    s->u = (uint32_t *)(void *)v;
    if (n == 0) return TEQ_OK;
    float *tmp = malloc((size_t)n * sizeof(float));
    s->ps = malloc((size_t)(n + 1) * sizeof(double));
    if (!tmp || !s->ps) {
        free(tmp);
        return TEQ_ERR_NOMEM;
    }
    teq_qi_sort_nonneg(v, n, tmp);
    free(tmp);
    s->ps[0] = 0;
    for (int64_t i = 0; i < n; i++) s->ps[i + 1] = s->ps[i] + (double)v[i];
    /* The table: 4096 buckets per binade (a few values each where the data is dense); coarser when the
     * values span so many binades that it would exceed 8 entries per value. */
    int sh = 11;
    uint64_t limit = (uint64_t)(8 * n + 4096);
    while (((s->u[n - 1] >> sh) - (s->u[0] >> sh)) > limit) sh++;
    s->sh = sh;
    s->k0 = s->u[0] >> sh;
    s->k1 = s->u[n - 1] >> sh;
    s->lut = malloc(((size_t)(s->k1 - s->k0) + 2) * sizeof(int32_t));
    if (!s->lut) return TEQ_ERR_NOMEM;
    int64_t i = 0;
    for (uint64_t k = s->k0; k <= (uint64_t)s->k1 + 1; k++) {
        while (i < n && (s->u[i] >> sh) < k) i++;
        s->lut[k - s->k0] = (int32_t)i;
    }
    return TEQ_OK;
}

/* Number of values whose bit pattern is < t (t: a non-negative float's bits). */
static inline int64_t side_count_lt(const side *s, uint32_t t) {
    if (s->n == 0) return 0;
    uint32_t k = t >> s->sh;
    if (k < s->k0) return 0;
    if (k > s->k1) return s->n;
    int64_t lo = s->lut[k - s->k0], hi = s->lut[k - s->k0 + 1];
    while (lo < hi) {
        int64_t m = (lo + hi) >> 1;
        if (s->u[m] < t) lo = m + 1;
        else hi = m;
    }
    return lo;
}

/* Bits of the largest float <= (a + b) / 2: m > midpoint <=> bits(m) > this (for m >= 0). */
static inline uint32_t mid_bits(float a, float b) {
    double mid = 0.5 * ((double)a + (double)b);
    float f = (float)mid;
    uint32_t u = teq_qi_fbits(f);
    return (double)f > mid ? u - 1 : u; /* f > mid >= 0, so f > 0 and u - 1 is the float below it */
}

/* Error sum over the values [a0, bend) of one side for candidate magnitudes cand[K] (ascending; cand_lv[j]
 * is the level index of cand[j], -1 for the zero), the last cell ending at bend. Adds each level's cell
 * count and sum to cnt/sum when they are not NULL. */
static double side_err(const side *s, const float *cand, const int *cand_lv, int K, int64_t a0, int64_t bend,
                       double *cnt, double *sum) {
    double err = 0;
    int64_t a = a0;
    for (int j = 0; j < K && a < bend; j++) {
        int64_t b = j + 1 < K ? side_count_lt(s, mid_bits(cand[j], cand[j + 1]) + 1) : bend;
        if (b > bend) b = bend;
        if (b <= a) continue;
        double v = cand[j];
        int64_t m = side_count_lt(s, teq_qi_fbits(cand[j]));
        m = m < a ? a : m > b ? b : m;
        err += v * (double)(m - a) - (s->ps[m] - s->ps[a]) + (s->ps[b] - s->ps[m]) - v * (double)(b - m);
        if (cnt && cand_lv[j] >= 0) {
            cnt[cand_lv[j]] += (double)(b - a);
            sum[cand_lv[j]] += s->ps[b] - s->ps[a];
        }
        a = b;
    }
    return err;
}

/* ---------------------------------------------------------------- the tensor being fitted */

typedef struct fitdata {
    /* sd[0]: all magnitudes. Signed with the zero code, where the signs have different candidates (no
     * -level(0)): sd[0] holds x >= 0, sd[1] x < 0 and sd[2] both, for the levels they share. */
    side sd[3];
    int n_sides;
    int is_signed, zc;
    double den;       /* sum |x| */
    double extra;     /* unsigned code: sum |x| of the negatives (their error is |x| + the smallest value) */
    const float *nzm; /* non-zero magnitudes, sorted, for the starting points (points into sd[0] or sd[2]) */
    int64_t n_nzm;
} fitdata;

static void fitdata_free(fitdata *fd) {
    for (int s = 0; s < 3; s++) side_free(&fd->sd[s]);
    memset(fd, 0, sizeof *fd);
}

static teq_status fitdata_build(fitdata *fd, const float *x, int64_t n, int is_signed, int zc) {
    memset(fd, 0, sizeof *fd);
    fd->is_signed = is_signed, fd->zc = zc;
    fd->n_sides = (is_signed && zc) ? 2 : 1;
    int64_t cnt[2] = {0, 0};
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        if (!isfinite(v)) continue;
        cnt[fd->n_sides == 2 && v < 0]++;
    }
    float *buf[2] = {NULL, NULL};
    for (int s = 0; s < fd->n_sides; s++)
        if (!(buf[s] = malloc((size_t)(cnt[s] ? cnt[s] : 1) * sizeof(float)))) {
            free(buf[0]);
            return TEQ_ERR_NOMEM;
        }
    int64_t k[2] = {0, 0};
    double den = 0, extra = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        if (!isfinite(v)) continue;
        den += fabs((double)v);
        int s = fd->n_sides == 2 && v < 0;
        float m;
        if (is_signed) m = fabsf(v);
        else if (v > 0) m = v;
        else m = 0, extra += -(double)v;
        buf[s][k[s]++] = m;
    }
    fd->den = den, fd->extra = extra;
    teq_status st = TEQ_OK;
    for (int s = 0; s < fd->n_sides; s++) {
        teq_status t = side_build(&fd->sd[s], buf[s], cnt[s]);
        if (t && !st) st = t;
    }
    if (st) return st;
    const side *all = &fd->sd[0];
    if (fd->n_sides == 2) {
        /* Both signs merged (sd[0] and sd[1] are sorted). */
        int64_t n0 = fd->sd[0].n, n1 = fd->sd[1].n, i = 0, j = 0, o = 0;
        float *m = malloc((size_t)(n0 + n1 ? n0 + n1 : 1) * sizeof(float));
        if (!m) return TEQ_ERR_NOMEM;
        const uint32_t *a = fd->sd[0].u, *b = fd->sd[1].u;
        while (i < n0 || j < n1) m[o++] = teq_qi_bitsf((j >= n1 || (i < n0 && a[i] <= b[j])) ? a[i++] : b[j++]);
        if ((st = side_build(&fd->sd[2], m, o))) return st;
        all = &fd->sd[2];
    }
    int64_t z = side_count_lt(all, 1);
    fd->nzm = (const float *)(const void *)(all->u + z);
    fd->n_nzm = all->n - z;
    return TEQ_OK;
}

/* ---------------------------------------------------------------- one (base, width) */

typedef struct cand {
    double a, b;   /* alpha, beta */
    double err;    /* absolute error sum; INFINITY: not evaluated / invalid */
    double L0, Lt; /* bottom and top level (filled for results) */
} cand;

typedef struct onefit {
    const fitdata *fd;
    const double *u; /* u[e] = pow(base, e) */
    int L;           /* levels */
    double R, Rm1;   /* b^(L-1) and b^(L-1) - 1 */
    int evals;
    int record; /* keep every evaluated point in pool (starting points of the local searches) */
    int npool;
    cand pool[96];
} onefit;

/* Float levels of (alpha, beta); 0 when they are not a valid code (the checks of teq_qparams_check). */
static int make_levels(const onefit *o, double a, double b, float *lv) {
    if (!(a > 0) || !isfinite(a) || !isfinite(b) || !(a + b > 0)) return 0;
    for (int e = 0; e < o->L; e++) {
        lv[e] = (float)(a * o->u[e] + b);
        if (!isfinite(lv[e]) || (e ? !(lv[e] > lv[e - 1]) : !(lv[e] > 0))) return 0;
    }
    return 1;
}

/* Absolute error of the code with levels lv (optionally each level's cell count and sum). */
static double eval_levels(const onefit *o, const float *lv, double *cnt, double *sum) {
    const fitdata *fd = o->fd;
    float cand[258];
    int cl[258];
    double err = fd->extra;
    int K = 0;
    if (fd->n_sides == 1) {
        if (fd->zc) cand[K] = 0, cl[K++] = -1;
        for (int e = 0; e < o->L; e++) cand[K] = lv[e], cl[K++] = e;
        return err + side_err(&fd->sd[0], cand, cl, K, 0, fd->sd[0].n, cnt, sum);
    }
    /* Signed with the zero code. Above t0 = midpoint(level 0, level 1) both signs choose among level(1..):
     * one pass over both. Below it, x >= 0 chooses 0 or level(0), x < 0 chooses 0 or level(1). */
    uint32_t t0 = mid_bits(lv[0], lv[1]) + 1; /* count_lt(t0) = number of values <= the midpoint */
    for (int e = 1; e < o->L; e++) cand[K] = lv[e], cl[K++] = e;
    const side *sp = &fd->sd[0], *sn = &fd->sd[1], *sa = &fd->sd[2];
    err += side_err(sa, cand, cl, K, side_count_lt(sa, t0), sa->n, cnt, sum);
    float c2[2] = {0, lv[0]};
    int l2[2] = {-1, 0};
    err += side_err(sp, c2, l2, 2, 0, side_count_lt(sp, t0), cnt, sum);
    c2[1] = lv[1], l2[1] = 1;
    err += side_err(sn, c2, l2, 2, 0, side_count_lt(sn, t0), cnt, sum);
    return err;
}

/* Evaluate (a, b); keep it in best when better. Returns its error (INFINITY when invalid). */
static double try_ab(onefit *o, double a, double b, cand *best, double *cnt, double *sum) {
    float lv[256];
    if (!make_levels(o, a, b, lv)) return INFINITY;
    if (cnt) {
        memset(cnt, 0, (size_t)o->L * sizeof(double));
        memset(sum, 0, (size_t)o->L * sizeof(double));
    }
    o->evals++;
    double err = eval_levels(o, lv, cnt, sum);
    if (err < best->err) best->a = a, best->b = b, best->err = err;
    if (o->record && o->npool < (int)(sizeof o->pool / sizeof o->pool[0])) {
        cand c = {a, b, err, 0, 0};
        o->pool[o->npool++] = c;
    }
    return err;
}

static double try_range(onefit *o, double L0, double Lt, cand *best) {
    if (!(L0 > 0) || !(Lt > L0)) return INFINITY;
    double a = (Lt - L0) / o->Rm1;
    return try_ab(o, a, L0 - a, best, NULL, NULL);
}

/* Lloyd-style alternation: assign, then least-squares (alpha, beta) on the cells. */
static void lloyd(onefit *o, cand start, int iters, cand *best) {
    double cnt[256], sum[256];
    double a = start.a, b = start.b;
    for (int it = 0; it < iters; it++) {
        if (try_ab(o, a, b, best, cnt, sum) == INFINITY) return;
        /* level_e = A w_e + B with w_e = b^e / R in (0, 1]: keeps the sums in range for any base. */
        double sww = 0, sw = 0, s1 = 0, swy = 0, sy = 0;
        for (int e = 0; e < o->L; e++) {
            if (cnt[e] == 0) continue;
            double w = o->u[e] / o->R;
            sww += cnt[e] * w * w, sw += cnt[e] * w, s1 += cnt[e], swy += w * sum[e], sy += sum[e];
        }
        double det = sww * s1 - sw * sw;
        if (!(det > 1e-12 * sww * s1)) return; /* one occupied level: nothing to fit */
        double A = (swy * s1 - sw * sy) / det, B = (sww * sy - sw * swy) / det;
        double w0 = 1 / o->R, L0 = A * w0 + B, Lt = A + B, L0old = a + b;
        if (!(L0 > 0) || !(A > 0)) {
            /* Keep level(0) positive: fix it at a quarter of the old one, refit the slope alone. */
            L0 = 0.25 * L0old;
            double num = 0, dd = 0;
            for (int e = 0; e < o->L; e++) {
                if (cnt[e] == 0) continue;
                double d = o->u[e] / o->R - w0;
                num += d * (sum[e] - cnt[e] * L0), dd += cnt[e] * d * d;
            }
            if (!(dd > 0) || !(num > 0)) return;
            A = num / dd;
            Lt = L0 + A * (1 - w0);
        }
        double na = (Lt - L0) / o->Rm1, nb = L0 - na;
        if (fabs(na - a) <= 1e-9 * a && fabs(nb - b) <= 1e-9 * (fabs(b) + a)) return;
        a = na, b = nb;
    }
    try_ab(o, a, b, best, NULL, NULL);
}

/* Compass search on (L0, Ltop) with the exact error. Ltop moves by factors e^(+-h); L0 moves by
 * +-10h times the larger of L0 and the bottom level spacing alpha*(b-1): relative steps would stall at
 * a tiny L0, where what matters is where the bottom levels sit against the spacing. The third pair of
 * moves rescales both. */
static void compass(onefit *o, cand *best, double h, int max_evals) {
    double L0 = best->a + best->b, Lt = best->a * o->R + best->b;
    if (!(L0 > 0) || !(Lt > L0)) return;
    int last = -1, start = o->evals;
    double base = o->u[1];
    while (h >= 0.002 && o->evals - start < max_evals) {
        int moved = 0;
        for (int t = 0; t < 6; t++) {
            /* Try the last successful direction first. */
            int d = last >= 0 ? (t == 0 ? last : (t <= last ? t - 1 : t)) : t;
            double alpha = (Lt - L0) / o->Rm1, d0 = alpha * (base - 1);
            if (d0 < L0) d0 = L0;
            double nL0 = L0, nLt = Lt, f = exp(h);
            switch (d) {
            case 0: nL0 = L0 + 10 * h * d0; break;
            case 1: nL0 = L0 - 10 * h * d0 > 0 ? L0 - 10 * h * d0 : 0.5 * L0; break;
            case 2: nLt = Lt * f; break;
            case 3: nLt = Lt / f; break;
            case 4: nL0 = L0 * f, nLt = Lt * f; break;
            default: nL0 = L0 / f, nLt = Lt / f; break;
            }
            double before = best->err;
            try_range(o, nL0, nLt, best);
            if (best->err < before) {
                L0 = nL0, Lt = nLt, last = d, moved = 1;
                break;
            }
        }
        if (!moved) h *= 0.5, last = -1;
    }
}

static int cand_cmp(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    return a->err < b->err ? -1 : a->err > b->err ? 1 : 0;
}

/* The best (alpha, beta) of one base and width. prev: the previous base's result at this width;
 * embed: this base's result at one bit less, with L_prev levels (either may be NULL or invalid). */
static cand fit_one(const fitdata *fd, const double *u, double base, int L, const cand *prev, const cand *embed,
                    int L_prev) {
    onefit o; /* about 4 KB, on the stack: calls may run in parallel */
    memset(&o, 0, sizeof o);
    o.fd = fd, o.u = u, o.L = L;
    cand best = {0, 0, INFINITY, 0, 0};
    o.R = u[L - 1];
    if (!(o.R <= 1e72)) return best; /* no float32 code spans b^(L-1) */
    o.Rm1 = expm1((double)(L - 1) * log(base));
    /* The smallest geometric code (beta = 0) whose levels all stay above FLT_MIN has Ltop >= R * 1e-36. */
    double lt_min = o.R * 1e-36;
    if (fd->den == 0) { /* all zeros: every code has RMAE 0 by definition; pick a valid one */
        double Lt = lt_min > 1 ? lt_min : 1;
        try_ab(&o, Lt / o.R, 0, &best, NULL, NULL);
        if (best.err < INFINITY) best.L0 = best.a + best.b, best.Lt = best.a * o.R + best.b;
        return best;
    }
    o.record = 1;
    /* 1. Starting points. */
    if (embed && embed->err < INFINITY) {
        /* The (n-1)-bit code as is: its levels are a subset of these, so the error cannot grow. When its top
         * levels overflow here, shift the exponent window down by k <= L - L_prev levels (alpha * b^-k):
         * still a superset of the old levels. */
        for (int k = 0; k <= L - L_prev && best.err == INFINITY; k++)
            try_ab(&o, embed->a / u[k], embed->b, &best, NULL, NULL);
    }
    if (prev && prev->err < INFINITY && prev->Lt > prev->L0 && prev->L0 > 0) try_range(&o, prev->L0, prev->Lt, &best);
    const float *q = fd->nzm;
    int64_t nq = fd->n_nzm;
    /* Top level at the maximum or the 99.9th percentile; bottom level geometric (beta = 0) or at the 0.5/L,
     * 2/L, 8/L quantiles (offsets beta > 0 put more levels near the bottom of the data). */
    static const double ptop[2] = {1.0, 0.999}, plow[3] = {0.5, 2, 8};
    for (int t = 0; t < 2; t++) {
        double qt = nq ? teq_qi_quantile_sorted(q, nq, ptop[t]) : 1.0;
        if (!(qt > 0)) continue;
        try_ab(&o, (qt > lt_min ? qt : lt_min) / o.R, 0.0, &best, NULL, NULL);
        for (int k = 0; k < 3; k++) {
            double q0 = nq ? teq_qi_quantile_sorted(q, nq, plow[k] / L) : 0.5;
            try_range(&o, q0 < 0.5 * qt ? q0 : 0.5 * qt, qt, &best);
        }
    }
    if (L <= 32 && nq) {
        /* Few levels: evaluations are cheap and the surface has several dips; scan a coarse grid of
         * (bottom, top) quantile pairs too. */
        static const double glo[6] = {0.25, 0.5, 1, 2, 4, 8}, ghi[6] = {0.95, 0.99, 0.995, 0.999, 1, 1.5};
        for (int i = 0; i < 6; i++) {
            double q0 = teq_qi_quantile_sorted(q, nq, glo[i] / L);
            for (int j = 0; j < 6; j++)
                try_range(&o, q0, ghi[j] > 1 ? ghi[j] * q[nq - 1] : teq_qi_quantile_sorted(q, nq, ghi[j]), &best);
        }
    }
    if (best.err == INFINITY) return best;
    /* 2. Lloyd-style refinement of the best start (least squares: near the MSE optimum). */
    lloyd(&o, best, 6, &best);
    /* 3. Further looks around it: a few thousand values make the error surface bumpy. Also whole-exponent
     * shifts of the window (alpha * b^-k, same beta): with a large base these are jumps that compass steps
     * never make. */
    static const double far[8][2] = {{0.7, 0.7}, {0.85, 0.85}, {1.2, 1.2}, {1.4, 1.4},
                                     {1, 0.8},   {1, 1.25},    {0.5, 1},   {2, 1}};
    cand c0 = best;
    double L0 = c0.a + c0.b, Lt = c0.a * o.R + c0.b;
    for (int k = 0; k < 8; k++) try_range(&o, L0 * far[k][0], Lt * far[k][1], &best);
    for (int k = -2; k <= 4; k++)
        if (k) try_ab(&o, k > 0 ? c0.a / u[k] : c0.a * u[-k], c0.b, &best, NULL, NULL);
    o.record = 0;
    /* 4. Compass search from the best point, and (few levels) from the two next best distinct ones. */
    qsort(o.pool, (size_t)o.npool, sizeof o.pool[0], cand_cmp);
    int runs = L <= 32 ? 3 : 1;
    double done[3][2];
    int nd = 0;
    for (int i = 0; i < o.npool && nd < runs; i++) {
        cand c = o.pool[i];
        double l0 = c.a + c.b, lt = c.a * o.R + c.b;
        int same = 0;
        for (int d = 0; d < nd; d++) same |= fabs(l0 / done[d][0] - 1) < 0.05 && fabs(lt / done[d][1] - 1) < 0.05;
        if (same) continue;
        done[nd][0] = l0, done[nd][1] = lt, nd++;
        compass(&o, &c, 0.1, nd == 1 ? (L <= 32 ? 40 : 30) : 25);
        if (c.err < best.err) best = c;
    }
    best.L0 = best.a + best.b, best.Lt = best.a * o.R + best.b;
    return best;
}

void teq_tensor_fit_free(teq_tensor_fit *fit) {
    if (!fit) return;
    free(fit->bases), free(fit->params), free(fit->err);
    memset(fit, 0, sizeof *fit);
}

teq_status teq_exp_fit_tensor(const float *x, int64_t n, int is_signed, int zero_code, const double *bases, int n_bases,
                              int min_bits, int max_bits, teq_tensor_fit *fit, teq_error *err) {
    if (!fit) return teq_error_set(err, TEQ_ERR_ARG, "exp fit: no output");
    memset(fit, 0, sizeof *fit);
    if (n < 0 || (n > 0 && !x)) return teq_error_set(err, TEQ_ERR_ARG, "exp fit: bad sample (n = %lld)", (long long)n);
    if (n_bases < 1 || !bases) return teq_error_set(err, TEQ_ERR_ARG, "exp fit: empty base grid");
    for (int i = 0; i < n_bases; i++)
        if (!isfinite(bases[i]) || !(bases[i] > 1))
            return teq_error_set(err, TEQ_ERR_ARG, "exp fit: base %g must be finite and > 1", bases[i]);
    if (min_bits < TEQ_QBITS_MIN || max_bits > TEQ_QBITS_MAX || min_bits > max_bits)
        return teq_error_set(err, TEQ_ERR_ARG, "exp fit: widths %d..%d outside %d..%d", min_bits, max_bits,
                             TEQ_QBITS_MIN, TEQ_QBITS_MAX);
    is_signed = is_signed != 0, zero_code = zero_code != 0;
    int nw = max_bits - min_bits + 1;
    fit->n_bases = n_bases, fit->min_bits = min_bits, fit->max_bits = max_bits;
    fit->bases = malloc((size_t)n_bases * sizeof(double));
    fit->params = calloc((size_t)n_bases * nw, sizeof(teq_qparams));
    fit->err = malloc((size_t)n_bases * nw * sizeof(double));
    cand *res = malloc((size_t)n_bases * nw * sizeof(cand));
    fitdata fd;
    teq_status st = TEQ_ERR_NOMEM;
    if (fit->bases && fit->params && fit->err && res) st = fitdata_build(&fd, x, n, is_signed, zero_code);
    else memset(&fd, 0, sizeof fd);
    if (st) {
        fitdata_free(&fd);
        free(res);
        teq_tensor_fit_free(fit);
        return teq_error_set(err, st, "exp fit: out of memory for %lld values", (long long)n);
    }
    memcpy(fit->bases, bases, (size_t)n_bases * sizeof(double));
    double u[256];
    for (int i = 0; i < n_bases; i++) {
        double b = bases[i];
        for (int e = 0; e < 256; e++) u[e] = pow(b, (double)e);
        for (int w = 0; w < nw; w++) {
            int bits = min_bits + w;
            teq_qparams p = {
                .kind = TEQ_CODE_EXP, .bits = bits, .is_signed = is_signed, .zero_code = zero_code, .base = b};
            int L = teq_qi_exp_num_levels(&p);
            const cand *prev = i > 0 ? &res[(i - 1) * nw + w] : NULL;
            const cand *embed = w > 0 ? &res[i * nw + w - 1] : NULL;
            teq_qparams pp = p;
            pp.bits = bits - 1;
            cand c = fit_one(&fd, u, b, L, prev, embed, w > 0 ? teq_qi_exp_num_levels(&pp) : L);
            /* One more bit must not make things worse. The narrower code (its exponent window shifted if
             * needed) is a candidate, so this only triggers where no shift of it fits in float32: codes whose
             * levels mostly lie far above the data. Such a width is reported as unusable, and so are the
             * wider ones, which keeps err finite and non-increasing over a prefix of the widths. */
            if (embed && (embed->err == INFINITY || c.err > embed->err * (1 + 1e-9))) c.err = INFINITY;
            res[i * nw + w] = c;
            if (c.err < INFINITY) {
                p.alpha = c.a, p.beta = c.b;
                fit->params[i * nw + w] = p;
                fit->err[i * nw + w] = fd.den > 0 ? c.err / fd.den : 0;
            } else {
                p.kind = TEQ_CODE_NONE;
                fit->params[i * nw + w] = p;
                fit->err[i * nw + w] = INFINITY;
            }
        }
    }
    fitdata_free(&fd);
    free(res);
    return TEQ_OK;
}

/* ---------------------------------------------------------------- linear codes */

/* Sorted finite values with prefix sums of x and x^2: the squared error of any sorted set of code values
 * is then O(values * log n). */
typedef struct lindata {
    float *v;
    double *s1, *s2;
    int64_t n;
} lindata;

/* Number of values <= t. */
static int64_t lin_count_le(const lindata *d, double t) {
    int64_t lo = 0, hi = d->n;
    while (lo < hi) {
        int64_t m = (lo + hi) >> 1;
        if ((double)d->v[m] <= t) lo = m + 1;
        else hi = m;
    }
    return lo;
}

/* Sum of squared errors when every value goes to the nearest of vals[K] (ascending). */
static double lin_sse(const lindata *d, const float *vals, int K) {
    double e = 0;
    int64_t a = 0;
    for (int j = 0; j < K && a < d->n; j++) {
        int64_t b = j + 1 < K ? lin_count_le(d, 0.5 * ((double)vals[j] + (double)vals[j + 1])) : d->n;
        if (b <= a) continue;
        double v = vals[j];
        e += (d->s2[b] - d->s2[a]) - 2 * v * (d->s1[b] - d->s1[a]) + v * v * (double)(b - a);
        a = b;
    }
    return e;
}

/* Code for the range [lo, hi] (symmetric: [-r, r] with r = max(|lo|, |hi|)). The range always includes 0. */
static void lin_params(int bits, int is_signed, double lo, double hi, teq_qparams *p) {
    memset(p, 0, sizeof *p);
    p->kind = TEQ_CODE_LINEAR, p->bits = bits, p->is_signed = is_signed;
    p->lin_f32 = 1; /* ONNX QuantizeLinear's arithmetic (quant.h): a QDQ export is then the same model */
    int nq = (1 << bits) - 1;
    if (lo > 0) lo = 0;
    if (hi < 0) hi = 0;
    double scale;
    if (is_signed) {
        double r = fabs(lo) > fabs(hi) ? fabs(lo) : fabs(hi);
        scale = r / (double)(nq / 2);
    } else {
        scale = (hi - lo) / (double)nq;
    }
    /* All zeros (or a range float32 cannot scale): any positive scale represents them; keep it sane. */
    if (!(scale > 1e-37)) scale = scale > 0 ? 1e-37 : 1.0;
    if (scale > 1e36) scale = 1e36;
    p->scale = scale;
    if (!is_signed) {
        double z = nearbyint(-lo / scale);
        p->zero_point = (int32_t)(z < 0 ? 0 : z > nq ? nq : z);
    }
}

static double lin_params_sse(const lindata *d, const teq_qparams *p) {
    float table[256];
    teq_q_code_table(p, table);
    int nc = teq_q_num_codes(p);
    /* Signed codes never produce code 0 (q = -2^(n-1)); skip it. */
    return p->is_signed ? lin_sse(d, table + 1, nc - 1) : lin_sse(d, table, nc);
}

/* Best of ranges [lo * t, hi * t] (which = 0), [lo, hi * t] (1) or [lo * t, hi] (2) for t = k/100. */
static double lin_grid(const lindata *d, int bits, int is_signed, int which, double *lo, double *hi) {
    double best = INFINITY, blo = *lo, bhi = *hi;
    for (int k = 1; k <= 100; k++) {
        double t = k / 100.0;
        double l = which == 1 ? *lo : *lo * t, h = which == 2 ? *hi : *hi * t;
        teq_qparams p;
        lin_params(bits, is_signed, l, h, &p);
        double e = lin_params_sse(d, &p);
        if (e < best) best = e, blo = l, bhi = h;
    }
    *lo = blo, *hi = bhi;
    return best;
}

teq_status teq_linear_fit(const float *x, int64_t n, int bits, int is_signed, teq_linear_calib how, teq_qparams *out,
                          teq_error *err) {
    if (!out) return teq_error_set(err, TEQ_ERR_ARG, "linear fit: no output");
    if (n < 0 || (n > 0 && !x)) return teq_error_set(err, TEQ_ERR_ARG, "linear fit: bad sample");
    if (bits < TEQ_QBITS_MIN || bits > TEQ_QBITS_MAX)
        return teq_error_set(err, TEQ_ERR_ARG, "linear fit: width %d outside %d..%d", bits, TEQ_QBITS_MIN,
                             TEQ_QBITS_MAX);
    if (how != TEQ_LINEAR_MINMAX && how != TEQ_LINEAR_PERCENTILE && how != TEQ_LINEAR_MSE)
        return teq_error_set(err, TEQ_ERR_ARG, "linear fit: unknown calibration %d", (int)how);
    is_signed = is_signed != 0;
    int64_t nf = 0;
    for (int64_t i = 0; i < n; i++) nf += isfinite(x[i]) != 0;
    lindata d = {0};
    float *tmp = NULL;
    d.v = malloc((size_t)(nf ? nf : 1) * sizeof(float));
    tmp = malloc((size_t)(nf ? nf : 1) * sizeof(float));
    if (how == TEQ_LINEAR_MSE) {
        d.s1 = malloc((size_t)(nf + 1) * sizeof(double));
        d.s2 = malloc((size_t)(nf + 1) * sizeof(double));
    }
    teq_status st = TEQ_OK;
    if (!d.v || !tmp || (how == TEQ_LINEAR_MSE && (!d.s1 || !d.s2))) {
        st = teq_error_set(err, TEQ_ERR_NOMEM, "linear fit: out of memory for %lld values", (long long)n);
        goto done;
    }
    d.n = nf;
    nf = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(x[i])) d.v[nf++] = x[i];
    if (nf == 0) {
        lin_params(bits, is_signed, 0, 0, out);
        goto done;
    }
    teq_qi_sort_floats(d.v, nf, tmp);
    double lo = d.v[0], hi = d.v[nf - 1];
    if (is_signed) {
        double r = fabs(lo) > fabs(hi) ? fabs(lo) : fabs(hi);
        lo = -r, hi = r;
    }
    if (how == TEQ_LINEAR_PERCENTILE) {
        if (is_signed) {
            for (int64_t i = 0; i < nf; i++) tmp[i] = fabsf(d.v[i]);
            float *t2 = malloc((size_t)nf * sizeof(float));
            if (!t2) {
                st = teq_error_set(err, TEQ_ERR_NOMEM, "linear fit: out of memory");
                goto done;
            }
            teq_qi_sort_nonneg(tmp, nf, t2);
            free(t2);
            double r = teq_qi_quantile_sorted(tmp, nf, 0.9999);
            lo = -r, hi = r;
        } else {
            lo = teq_qi_quantile_sorted(d.v, nf, 0.0001);
            hi = teq_qi_quantile_sorted(d.v, nf, 0.9999);
        }
    } else if (how == TEQ_LINEAR_MSE) {
        d.s1[0] = d.s2[0] = 0;
        for (int64_t i = 0; i < nf; i++) {
            double v = d.v[i];
            d.s1[i + 1] = d.s1[i] + v, d.s2[i + 1] = d.s2[i] + v * v;
        }
        double lo0 = lo < 0 ? lo : 0, hi0 = hi > 0 ? hi : 0;
        lo = lo0, hi = hi0;
        lin_grid(&d, bits, is_signed, 0, &lo, &hi); /* shrink the whole range */
        if (!is_signed) {
            /* then each end alone, from the full range down (a long tail on one side only) */
            double l = lo, h = hi0;
            double e1 = lin_grid(&d, bits, 0, 1, &l, &h);
            double l2 = lo0, h2 = h;
            double e2 = lo0 < 0 ? lin_grid(&d, bits, 0, 2, &l2, &h2) : e1;
            if (e2 < e1) lo = l2, hi = h2;
            else lo = l, hi = h;
        }
    }
    lin_params(bits, is_signed, lo, hi, out);
done:
    free(d.v), free(d.s1), free(d.s2), free(tmp);
    return st;
}
