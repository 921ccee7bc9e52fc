/* Bit allocation along the lower convex hulls of measured distortion tables (see alloc.h). */
#include "alloc.h"
#include "../core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int teq_alloc_hull(const double *cost, const double *dist, int n, int *vertices) {
    if (n <= 0) return 0;
    int nv = 0, cur = 0;
    vertices[nv++] = 0;
    for (;;) {
        /* the next vertex: the steepest descent from the current one. On a tie the nearer point is
         * kept, so that the sequence moves in the smallest steps the hull allows. */
        int best = -1;
        double bs = 0;
        for (int j = cur + 1; j < n; j++) {
            double dc = cost[j] - cost[cur];
            if (!(dc > 0)) continue;
            double s = (dist[j] - dist[cur]) / dc;
            if (s < bs) bs = s, best = j;
        }
        if (best < 0) break; /* nothing further lowers the distortion */
        vertices[nv++] = best;
        cur = best;
    }
    return nv;
}

teq_status teq_alloc_sequence(int n_t, int n_o, const double *cost, const double *dist, teq_alloc_step **steps,
                              int *n_steps, double *start_cost, double *start_dist, teq_error *err) {
    *steps = NULL;
    *n_steps = 0;
    int *hull = malloc(sizeof(int) * (size_t)n_t * (size_t)n_o + 1);
    int *nh = malloc(sizeof(int) * (size_t)n_t + 1);
    int *pos = calloc((size_t)n_t + 1, sizeof(int));
    teq_alloc_step *st = malloc(sizeof *st * ((size_t)n_t * (size_t)n_o + 1));
    if (!hull || !nh || !pos || !st) {
        free(hull), free(nh), free(pos), free(st);
        return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory");
    }
    double c = 0, d = 0;
    for (int t = 0; t < n_t; t++) {
        nh[t] = teq_alloc_hull(cost + (size_t)t * n_o, dist + (size_t)t * n_o, n_o, hull + (size_t)t * n_o);
        c += cost[(size_t)t * n_o];
        d += dist[(size_t)t * n_o];
    }
    if (start_cost) *start_cost = c;
    if (start_dist) *start_dist = d;
    int n = 0;
    for (;;) {
        /* Each hull's slopes grow (flatten) from segment to segment, so taking the steepest next segment
         * across all tensors visits the segments of all hulls in one sorted order: every prefix minimises
         * dist + lambda * cost for some lambda, hence is optimal for its own cost. Ties go to the lower
         * tensor index (deterministic). */
        int bt = -1;
        double bs = 0;
        for (int t = 0; t < n_t; t++) {
            if (pos[t] + 1 >= nh[t]) continue;
            const int *h = hull + (size_t)t * n_o;
            size_t a = (size_t)t * n_o + (size_t)h[pos[t]], b = (size_t)t * n_o + (size_t)h[pos[t] + 1];
            double s = (dist[a] - dist[b]) / (cost[b] - cost[a]);
            if (bt < 0 || s > bs) bs = s, bt = t;
        }
        if (bt < 0) break;
        const int *h = hull + (size_t)bt * n_o;
        size_t a = (size_t)bt * n_o + (size_t)h[pos[bt]], b = (size_t)bt * n_o + (size_t)h[pos[bt] + 1];
        c += cost[b] - cost[a];
        d += dist[b] - dist[a];
        pos[bt]++;
        st[n].tensor = bt;
        st[n].option = h[pos[bt]];
        st[n].cost = c;
        st[n].dist = d;
        st[n].slope = bs;
        n++;
    }
    free(hull), free(nh), free(pos);
    *steps = st;
    *n_steps = n;
    return TEQ_OK;
}

void teq_alloc_config(int n_t, const teq_alloc_step *steps, int k, int *opt) {
    for (int t = 0; t < n_t; t++) opt[t] = 0;
    for (int i = 0; i < k; i++) opt[steps[i].tensor] = steps[i].option;
}

double teq_alloc_dp(int n_t, int n_o, const int64_t *cost, const double *dist, int64_t budget, int *opt) {
    if (budget < 0 || n_t <= 0) return n_t <= 0 ? 0 : INFINITY;
    size_t W = (size_t)budget + 1;
    /* best[t][w]: least distortion of tensors 0..t-1 at total cost exactly w; choice[t][w] the option of
     * tensor t-1 there */
    double *best = malloc(sizeof(double) * W * (size_t)(n_t + 1));
    int *choice = malloc(sizeof(int) * W * (size_t)(n_t + 1));
    if (!best || !choice) {
        free(best), free(choice);
        return NAN;
    }
    for (size_t w = 0; w < W; w++) best[w] = INFINITY;
    best[0] = 0;
    for (int t = 0; t < n_t; t++) {
        double *prev = best + (size_t)t * W, *next = best + (size_t)(t + 1) * W;
        int *ch = choice + (size_t)(t + 1) * W;
        for (size_t w = 0; w < W; w++) next[w] = INFINITY, ch[w] = -1;
        for (size_t w = 0; w < W; w++) {
            if (!isfinite(prev[w])) continue;
            for (int j = 0; j < n_o; j++) {
                int64_t cj = cost[(size_t)t * n_o + j];
                if (cj < 0 || (size_t)cj >= W - w) continue;
                double v = prev[w] + dist[(size_t)t * n_o + j];
                if (v < next[w + (size_t)cj]) next[w + (size_t)cj] = v, ch[w + (size_t)cj] = j;
            }
        }
    }
    double *last = best + (size_t)n_t * W;
    size_t bw = 0;
    double bv = INFINITY;
    for (size_t w = 0; w < W; w++)
        if (last[w] < bv) bv = last[w], bw = w;
    if (isfinite(bv) && opt)
        for (int t = n_t; t >= 1; t--) {
            int j = choice[(size_t)t * W + bw];
            opt[t - 1] = j;
            bw -= (size_t)cost[(size_t)(t - 1) * n_o + j];
        }
    free(best), free(choice);
    return bv;
}
