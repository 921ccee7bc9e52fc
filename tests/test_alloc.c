/* The width allocation (src/pipeline/alloc.c) against exact optima on synthetic additive distortion
 * tables: every point of the hull sequence must be as good as the best allocation of its own cost (DP),
 * and the DP itself must match brute force on small tables. */
#include "check.h"
#include "pipeline/alloc.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static double unit(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* A tensor's table: widths 3..8 (n_o = 6), cost = elements x bits. kind 0: the shape quantization
 * error usually has (falls about 4x per bit, noise on top); kind 1: arbitrary values (non-monotone,
 * non-convex), which the hull must cope with. */
static void make_table(int n_t, int n_o, int kind, int64_t *icost, double *cost, double *dist) {
    for (int t = 0; t < n_t; t++) {
        int64_t el = 1 + (int64_t)(unit() * 6);
        double d0 = 0.01 + unit();
        for (int j = 0; j < n_o; j++) {
            icost[t * n_o + j] = el * (3 + j);
            cost[t * n_o + j] = (double)icost[t * n_o + j];
            dist[t * n_o + j] = kind == 0 ? d0 * pow(0.25 + 0.2 * unit(), j) : unit();
        }
    }
}

static double brute(int n_t, int n_o, const int64_t *cost, const double *dist, int64_t budget) {
    int opt[8] = {0};
    double best = INFINITY;
    for (;;) {
        int64_t c = 0;
        double d = 0;
        for (int t = 0; t < n_t; t++) c += cost[t * n_o + opt[t]], d += dist[t * n_o + opt[t]];
        if (c <= budget && d < best) best = d;
        int t = 0;
        while (t < n_t && ++opt[t] == n_o) opt[t++] = 0;
        if (t == n_t) break;
    }
    return best;
}

int main(void) {
    enum { NT = 6, NO = 6 };
    int64_t icost[NT * NO];
    double cost[NT * NO], dist[NT * NO];

    /* hull of a known table: (3, 10), (4, 4), (5, 3.9) above the chord, (6, 1), (7, 1.5) rising */
    {
        double c[5] = {3, 4, 5, 6, 7}, d[5] = {10, 4, 3.9, 1, 1.5};
        int v[5], nv = teq_alloc_hull(c, d, 5, v);
        CHECK(nv == 3 && v[0] == 0 && v[1] == 1 && v[2] == 3, "hull vertices: %d (%d %d %d)", nv, v[0], v[1], v[2]);
    }

    int bad_dp = 0, bad_seq = 0, seq_points = 0, mono = 1;
    for (int trial = 0; trial < 200; trial++) {
        int n_t = 2 + trial % 5, kind = trial % 2;
        make_table(n_t, NO, kind, icost, cost, dist);
        /* DP = brute force at a few budgets (n_t <= 4 keeps brute force small) */
        if (n_t <= 4)
            for (int b = 0; b < 4; b++) {
                int64_t lo = 0, hi = 0;
                for (int t = 0; t < n_t; t++) lo += icost[t * NO], hi += icost[t * NO + NO - 1];
                int64_t budget = lo + (int64_t)((double)(hi - lo) * unit());
                double a = teq_alloc_dp(n_t, NO, icost, dist, budget, NULL), e = brute(n_t, NO, icost, dist, budget);
                if (fabs(a - e) > 1e-12 * (1 + fabs(e))) bad_dp++;
            }
        teq_alloc_step *st = NULL;
        int ns = 0;
        double c0, d0;
        teq_error err;
        if (teq_alloc_sequence(n_t, NO, cost, dist, &st, &ns, &c0, &d0, &err)) {
            CHECK(0, "sequence: %s", err.msg);
            continue;
        }
        /* every prefix: its summed table values agree with the step's totals, and no allocation of
         * the same cost does better (the DP optimum) */
        for (int k = 0; k <= ns; k++) {
            int opt[NT];
            teq_alloc_config(n_t, st, k, opt);
            int64_t c = 0;
            double d = 0;
            for (int t = 0; t < n_t; t++) c += icost[t * NO + opt[t]], d += dist[t * NO + opt[t]];
            double sc = k ? st[k - 1].cost : c0, sd = k ? st[k - 1].dist : d0;
            if (fabs(sc - (double)c) > 1e-9 || fabs(sd - d) > 1e-9 * (1 + d)) bad_seq++;
            double best = teq_alloc_dp(n_t, NO, icost, dist, c, NULL);
            if (d > best + 1e-12 * (1 + best)) bad_seq++;
            if (k && (st[k - 1].cost <= (k > 1 ? st[k - 2].cost : c0) || st[k - 1].dist >= (k > 1 ? st[k - 2].dist : d0)))
                mono = 0;
            seq_points++;
        }
        free(st);
    }
    CHECK(bad_dp == 0, "DP differs from brute force %d times", bad_dp);
    CHECK(bad_seq == 0, "hull sequence not optimal for its cost %d times (of %d points)", bad_seq, seq_points);
    CHECK(mono, "sequence cost grows and distortion falls at every step");
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail > 0;
}
