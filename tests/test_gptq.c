/* Unit tests of error-compensating weight rounding (src/quant/gptq.c, METHOD section 3a):
 * - random layers with correlated inputs: the layer output error ||(W - Wq) X||^2 = sum_m d_m^T H d_m
 *   is lower than with nearest rounding in at least 90% of 50 layers, for an exponential and a linear
 *   code, and lower in the aggregate;
 * - weights already on the grid come back exactly (same codes as nearest rounding);
 * - a dead input (a column of X always 0) is handled: finite, valid codes, that column rounded to nearest;
 *   non-finite weights are coded like nearest rounding codes them and pass nothing on;
 * - tiny layers (K <= 4, one row) against brute force over every assignment of levels, in double: the
 *   optimum bounds both roundings, and GPTQ is worse than nearest on few layers and by little in total;
 * - the quantizer's H collection (src/pipeline/gptq_layer.c) against patches built by hand: a grouped,
 *   strided, dilated, padded Conv and a MatMul; its codes equal teq_gptq_round on that H per group.
 * Usage: test_gptq [SEED] (fixed default seed: the rate checks are statistical).
 * Prints `N passed, M failed`; exits non-zero on a failure. */
#include "pipeline/gptq_layer.h"
#include "quant/qint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static uint64_t rng_state;
static double unif(void) { return teq_qi_rng_unit(&rng_state); }
static double gauss(void) { return sqrt(-2 * log(unif())) * cos(6.283185307179586 * unif()); }
static double laplace(void) {
    double u = unif() - 0.5;
    return -(u < 0 ? -1 : 1) * log(1 - 2 * fabs(u));
}

/* Random layer: W [M, K] Laplace, each row divided by its max |w| (as the quantizer's per-channel
 * scales do); X [N, K] = Z A with Z Gaussian [N, K] and A = I + c * Gaussian [K, K] (correlated inputs),
 * plus a per-input offset (inputs are not centred: post-ReLU-like means). H = X^T X in double, full. */
static void random_layer(int64_t M, int64_t K, int64_t N, double corr, float *w, double *H) {
    for (int64_t m = 0; m < M; m++) {
        double mx = 0;
        for (int64_t k = 0; k < K; k++) {
            w[m * K + k] = (float)laplace();
            if (fabs(w[m * K + k]) > mx) mx = fabs(w[m * K + k]);
        }
        for (int64_t k = 0; k < K; k++) w[m * K + k] = (float)(w[m * K + k] / mx);
    }
    double *A = malloc(sizeof(double) * (size_t)(K * K)), *x = malloc(sizeof(double) * (size_t)K),
           *z = malloc(sizeof(double) * (size_t)K), *off = malloc(sizeof(double) * (size_t)K);
    for (int64_t i = 0; i < K * K; i++) A[i] = corr * gauss() / sqrt((double)K);
    for (int64_t k = 0; k < K; k++) A[k * K + k] += 1, off[k] = 0.5 * unif();
    memset(H, 0, sizeof(double) * (size_t)(K * K));
    for (int64_t n = 0; n < N; n++) {
        for (int64_t k = 0; k < K; k++) z[k] = gauss();
        for (int64_t j = 0; j < K; j++) {
            double s = off[j];
            for (int64_t k = 0; k < K; k++) s += z[k] * A[k * K + j];
            x[j] = s;
        }
        for (int64_t i = 0; i < K; i++)
            for (int64_t j = 0; j < K; j++) H[i * K + j] += x[i] * x[j];
    }
    free(A), free(x), free(z), free(off);
}

static teq_qparams exp_code(const float *w, int64_t n, int bits) {
    teq_tensor_fit fit = {0};
    double b[] = {1.05, 1.2, 1.5, 2.0};
    teq_error err;
    teq_qparams best = {0};
    if (teq_exp_fit_tensor(w, n, 1, 0, b, 4, bits, bits, &fit, &err) != TEQ_OK) return best;
    double e = INFINITY;
    for (int i = 0; i < 4; i++)
        if (fit.err[i] < e) e = fit.err[i], best = fit.params[i];
    teq_tensor_fit_free(&fit);
    return best;
}

static teq_qparams lin_code(const float *w, int64_t n, int bits) {
    teq_qparams p = {0};
    teq_error err;
    teq_linear_fit(w, n, bits, 1, TEQ_LINEAR_MSE, &p, &err);
    return p;
}

/* GPTQ codes for w under p (H copied: prepare overwrites it). */
static int gptq_codes(const teq_qparams *p, const float *w, int64_t M, int64_t K, const double *H, int act_order,
                      uint8_t *codes) {
    double *U = malloc(sizeof(double) * (size_t)(K * K));
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)K);
    memcpy(U, H, sizeof(double) * (size_t)(K * K));
    teq_error err;
    teq_status s = teq_gptq_prepare(U, K, 0.01, act_order, perm, &err);
    if (!s) s = teq_gptq_round(p, w, M, K, U, perm, 1, codes);
    free(U), free(perm);
    return s == TEQ_OK;
}

static void test_random_layers(const char *what, int linear, int act_order) {
    const int trials = 50;
    int better = 0, ok = 1;
    double sum_n = 0, sum_g = 0;
    for (int t = 0; t < trials; t++) {
        int64_t M = 4 + (int64_t)(unif() * 12), K = 8 + (int64_t)(unif() * 56), N = 4 * K;
        int bits = 3 + (t % 2);
        float *w = malloc(sizeof(float) * (size_t)(M * K)), *wn = malloc(sizeof(float) * (size_t)(M * K)),
              *wg = malloc(sizeof(float) * (size_t)(M * K));
        double *H = malloc(sizeof(double) * (size_t)(K * K));
        uint8_t *codes = malloc((size_t)(M * K));
        random_layer(M, K, N, 2.0, w, H);
        teq_qparams p = linear ? lin_code(w, M * K, bits) : exp_code(w, M * K, bits);
        teq_q_fake(&p, w, M * K, wn);
        ok &= gptq_codes(&p, w, M, K, H, act_order, codes);
        teq_q_dequantize(&p, codes, M * K, wg);
        double en = teq_gptq_loss(w, wn, M, K, H), eg = teq_gptq_loss(w, wg, M, K, H);
        better += eg < en;
        sum_n += en, sum_g += eg;
        free(w), free(wn), free(wg), free(H), free(codes);
    }
    printf("  %s: GPTQ lower in %d/%d layers; aggregate error nearest %.4g, GPTQ %.4g (%.1f%%)\n", what, better, trials,
           sum_n, sum_g, 100 * sum_g / sum_n);
    CHECK(ok, "%s: prepare failed", what);
    CHECK(better >= trials * 9 / 10, "%s: GPTQ lower than nearest in only %d of %d layers", what, better, trials);
    CHECK(sum_g < sum_n, "%s: aggregate GPTQ error %g >= nearest %g", what, sum_g, sum_n);
}

/* Weights exactly on the grid (random reachable values) give back their own codes. */
static void test_on_grid(int linear) {
    int64_t M = 6, K = 40;
    float *w = malloc(sizeof(float) * (size_t)(M * K)), *table = malloc(sizeof(float) * 256);
    double *H = malloc(sizeof(double) * (size_t)(K * K));
    uint8_t *cg = malloc((size_t)(M * K)), *cn = malloc((size_t)(M * K)), back[256];
    for (int bits = 3; bits <= 8; bits++) {
        random_layer(M, K, 3 * K, 2.0, w, H);
        teq_qparams p = linear ? lin_code(w, M * K, bits) : exp_code(w, M * K, bits);
        int nc = teq_q_num_codes(&p);
        teq_q_code_table(&p, table);
        teq_q_quantize(&p, table, nc, back);
        for (int64_t i = 0; i < M * K; i++) {
            int c;
            do c = (int)(unif() * nc);
            while (back[c] != c);
            w[i] = table[c];
        }
        int ok = gptq_codes(&p, w, M, K, H, 1, cg);
        teq_q_quantize(&p, w, M * K, cn);
        int same = ok;
        for (int64_t i = 0; i < M * K; i++) same &= cg[i] == cn[i];
        CHECK(same, "%s %d bits: weights on the grid changed codes under GPTQ", linear ? "linear" : "exp", bits);
    }
    free(w), free(table), free(H), free(cg), free(cn);
}

/* Input 3 is never non-zero: its row and column of H are 0. */
static void test_dead_input(void) {
    int64_t M = 5, K = 12;
    float *w = malloc(sizeof(float) * (size_t)(M * K)), *wq = malloc(sizeof(float) * (size_t)(M * K));
    double *H = malloc(sizeof(double) * (size_t)(K * K));
    uint8_t *cg = malloc((size_t)(M * K)), *cn = malloc((size_t)(M * K));
    random_layer(M, K, 4 * K, 1.0, w, H);
    for (int64_t k = 0; k < K; k++) H[3 * K + k] = H[k * K + 3] = 0;
    teq_qparams p = exp_code(w, M * K, 4);
    int ok = gptq_codes(&p, w, M, K, H, 0, cg);
    teq_q_quantize(&p, w, M * K, cn);
    teq_q_dequantize(&p, cg, M * K, wq);
    int fin = ok, dead_nearest = 1;
    for (int64_t i = 0; i < M * K; i++) fin &= isfinite(wq[i]) && cg[i] < teq_q_num_codes(&p);
    /* column 3 is rounded before nothing reaches it? No: errors of columns 0..2 reach it only through
     * U[k, 3], which is 0 for a dead input; so it is rounded to nearest */
    for (int64_t m = 0; m < M; m++) dead_nearest &= cg[m * K + 3] == cn[m * K + 3];
    CHECK(fin, "dead input: invalid codes or values");
    CHECK(dead_nearest, "dead input: its column was not rounded to the nearest level");
    /* all inputs dead: H = 0 gives nearest rounding everywhere */
    memset(H, 0, sizeof(double) * (size_t)(K * K));
    ok = gptq_codes(&p, w, M, K, H, 1, cg);
    int all = ok;
    for (int64_t i = 0; i < M * K; i++) all &= cg[i] == cn[i];
    CHECK(all, "H = 0: GPTQ is not nearest rounding");
    free(w), free(wq), free(H), free(cg), free(cn);
}

/* K <= 4, one row, 3-bit codes: every assignment of levels enumerated in double. */
static void test_brute_force(void) {
    const int trials = 200;
    int bound_ok = 1, nofail = 1;
    double worst = 0, sum_n = 0, sum_g = 0, excess = 0;
    int gbetter = 0, gworse = 0;
    float table[256];
    uint8_t back[256];
    for (int t = 0; t < trials; t++) {
        int64_t K = 2 + (int64_t)(unif() * 3), M = 1;
        float w[4], wn[4], wg[4], wb[4];
        double H[16];
        uint8_t cg[4];
        random_layer(M, K, 3 * K, 2.5, w, H);
        teq_qparams p = (t % 2) ? lin_code(w, K, 3) : exp_code(w, K, 3);
        int nc = teq_q_num_codes(&p), nl = 0;
        float lev[256];
        teq_q_code_table(&p, table);
        teq_q_quantize(&p, table, nc, back);
        for (int c = 0; c < nc; c++)
            if (back[c] == c) lev[nl++] = table[c];
        double best = INFINITY;
        int idx[4] = {0, 0, 0, 0};
        for (;;) {
            for (int k = 0; k < K; k++) wb[k] = lev[idx[k]];
            double e = teq_gptq_loss(w, wb, 1, K, H);
            if (e < best) best = e;
            int k = 0;
            while (k < K && ++idx[k] == nl) idx[k++] = 0;
            if (k == K) break;
        }
        teq_q_fake(&p, w, K, wn);
        nofail &= gptq_codes(&p, w, M, K, H, 0, cg);
        teq_q_dequantize(&p, cg, K, wg);
        double en = teq_gptq_loss(w, wn, 1, K, H), eg = teq_gptq_loss(w, wg, 1, K, H);
        double tol = 1e-9 * (en + 1e-30);
        bound_ok &= best <= en + tol && best <= eg + tol;
        if (en > 0 && eg / en > worst) worst = eg / en;
        sum_n += en, sum_g += eg;
        gbetter += eg < en - tol, gworse += eg > en + tol;
        if (eg > en) excess += eg - en;
    }
    printf("  brute force (K 2..4, 3 bits, %d layers): GPTQ better %d, worse %d; worst GPTQ/nearest %.3f; "
           "aggregate %.1f%% of nearest\n",
           trials, gbetter, gworse, worst, 100 * sum_g / sum_n);
    CHECK(nofail, "brute force: prepare failed");
    CHECK(bound_ok, "brute force: an enumerated optimum above GPTQ's or nearest's error");
    CHECK(sum_g <= sum_n, "brute force: GPTQ worse than nearest in the aggregate");
    /* Greedy column order can lose to a lucky nearest rounding on a tiny layer (seen up to 4x on one
     * layer of 200 across seeds), so "not much worse" is asserted on counts and on the total excess. */
    CHECK(gworse <= trials / 10, "brute force: GPTQ worse than nearest on %d of %d layers", gworse, trials);
    CHECK(excess <= 0.25 * sum_n, "brute force: GPTQ's excess over nearest %g is over 25%% of nearest's total %g", excess,
          sum_n);
}

/* Non-finite weights are coded as teq_q_quantize codes them and pass no error on (other rows are
 * untouched); a non-finite H is refused with an error, not a crash. */
static void test_nonfinite(void) {
    int64_t M = 3, K = 10;
    float w[30], w2[20];
    double H[100], U[100];
    uint8_t c[30], c2[20], cn[30];
    random_layer(M, K, 4 * K, 1.0, w, H);
    teq_qparams p = exp_code(w, M * K, 4);
    w[4] = NAN, w[5] = INFINITY, w[13] = -INFINITY;
    memcpy(w2, w + 20, sizeof(float) * 10); /* row 2 alone, twice: rows are independent */
    memcpy(w2 + 10, w + 20, sizeof(float) * 10);
    int ok = gptq_codes(&p, w, M, K, H, 1, c) && gptq_codes(&p, w2, 2, K, H, 1, c2);
    teq_q_quantize(&p, w, M * K, cn);
    int same = ok && c[4] == cn[4] && c[5] == cn[5] && c[13] == cn[13];
    for (int64_t k = 0; k < K; k++) same &= c[20 + k] == c2[k] && c2[k] == c2[10 + k];
    int valid = 1;
    for (int64_t i = 0; i < M * K; i++) valid &= c[i] < teq_q_num_codes(&p);
    CHECK(ok && same && valid, "non-finite weights: codes differ from nearest's or disturb another row");
    memcpy(U, H, sizeof U);
    U[2 * K + 3] = NAN;
    int64_t perm[10];
    teq_error e;
    CHECK(teq_gptq_prepare(U, K, 0.01, 0, perm, &e) != TEQ_OK, "NaN in H: prepare did not refuse it");
}

/* ---------------------------------------------------------------- H collection of the quantizer */

static teq_attr ints_attr(const char *name, int64_t *v, int n) {
    teq_attr a = {0};
    a.name = (char *)name, a.type = TEQ_ATTR_INTS, a.ints = v, a.n = n;
    return a;
}

static teq_tensor *rand_tensor(int ndim, const int64_t *dims) {
    teq_tensor *t = NULL;
    teq_error e;
    if (teq_tensor_create(TEQ_DTYPE_FLOAT, ndim, dims, &t, &e)) return NULL;
    float *d = t->data;
    for (int64_t i = 0; i < teq_tensor_numel(t); i++) d[i] = (float)(unif() < 0.2 ? 0.0 : gauss() + 0.3);
    return t;
}

static double max_rel_diff(const double *a, const double *b, int64_t K, int64_t groups) {
    double m = 0, scale = 0;
    for (int64_t g = 0; g < groups; g++)
        for (int64_t i = 0; i < K; i++)
            for (int64_t j = i; j < K; j++) {
                const int64_t x = g * K * K + i * K + j;
                m = fmax(m, fabs(a[x] - b[x]));
                scale = fmax(scale, fabs(b[x]));
            }
    return scale > 0 ? m / scale : m;
}

static void test_collect(void) {
    /* Conv: input [2, 4, 7, 6], weight [6, 2, 3, 2], group 2, strides (2, 1), dilations (1, 2),
     * pads (1, 0, 0, 1): 3 x 5 = 15 output positions per sample ((7+1-3)/2+1, (6+1-3)+1), all sampled. */
    int64_t xd[4] = {2, 4, 7, 6}, wd[4] = {6, 2, 3, 2}, st[2] = {2, 1}, dl[2] = {1, 2}, pd[4] = {1, 0, 0, 1};
    teq_attr attrs[4] = {ints_attr("strides", st, 2), ints_attr("dilations", dl, 2), ints_attr("pads", pd, 4), {0}};
    attrs[3].name = "group", attrs[3].type = TEQ_ATTR_INT, attrs[3].i = 2;
    teq_node nd = {0};
    nd.op_type = "Conv", nd.attr = attrs, nd.n_attr = 4;
    teq_tensor *x = rand_tensor(4, xd), *w = rand_tensor(4, wd);
    teq_gptq_layer g;
    teq_status s = teq_gptq_layer_init(&g, &nd, 1, w);
    if (!s) s = teq_gptq_layer_add(&g, &nd, x);
    CHECK(!s && g.kind == 1 && g.groups == 2 && g.gk == 12, "conv: init/add failed (kind %d, groups %lld, gk %lld)", g.kind,
          (long long)g.groups, (long long)g.gk);
    const int64_t K = 12, OH = 3, OW = 5;
    double *Hb = calloc(2 * K * K, sizeof(double)), p[12];
    const float *xv = x->data;
    for (int64_t n = 0; n < 2; n++)
        for (int64_t grp = 0; grp < 2; grp++)
            for (int64_t oy = 0; oy < OH; oy++)
                for (int64_t ox = 0; ox < OW; ox++) {
                    int64_t k = 0;
                    for (int64_t c = 0; c < 2; c++)
                        for (int64_t ky = 0; ky < 3; ky++)
                            for (int64_t kx = 0; kx < 2; kx++, k++) {
                                int64_t iy = oy * 2 - 1 + ky, ix = ox - 0 + kx * 2;
                                p[k] = iy >= 0 && iy < 7 && ix >= 0 && ix < 6 ? xv[((n * 4 + grp * 2 + c) * 7 + iy) * 6 + ix] : 0;
                            }
                    for (int64_t i = 0; i < K; i++)
                        for (int64_t j = 0; j < K; j++) Hb[grp * K * K + i * K + j] += p[i] * p[j];
                }
    CHECK(!s && g.n_vec == 30, "conv: %g vectors per group, expected 30", g.n_vec);
    double d = s ? 1 : max_rel_diff(g.H, Hb, K, 2);
    CHECK(d < 1e-12, "conv: H differs from hand-built patches by %g (relative)", d);
    /* its codes = teq_gptq_round per group on the hand-built H */
    if (!s) {
        teq_qparams q = exp_code(w->data, 6 * K, 3);
        const uint8_t *codes = NULL;
        teq_error e;
        s = teq_gptq_layer_codes(&g, &q, w->data, 1, &codes, &e);
        uint8_t ref[72];
        for (int64_t grp = 0; grp < 2; grp++) gptq_codes(&q, (const float *)w->data + grp * 3 * K, 3, K, Hb + grp * K * K, 1, ref + grp * 3 * K);
        int same = !s && codes;
        for (int64_t i = 0; same && i < 6 * K; i++) same &= codes[i] == ref[i];
        CHECK(same, "conv: the layer's GPTQ codes differ from teq_gptq_round on its H");
    }
    teq_gptq_layer_free(&g);
    teq_tensor_free(x), teq_tensor_free(w);

    /* MatMul: input [2, 3, 5] (6 rows of K = 5), weight [5, 3] (K x M, transposed layout) */
    int64_t xd2[3] = {2, 3, 5}, wd2[2] = {5, 3};
    teq_node mm = {0};
    mm.op_type = "MatMul";
    x = rand_tensor(3, xd2), w = rand_tensor(2, wd2);
    s = teq_gptq_layer_init(&g, &mm, 1, w);
    if (!s) s = teq_gptq_layer_add(&g, &mm, x);
    CHECK(!s && g.kind == 2 && g.transposed && g.gk == 5 && g.M == 3 && g.n_vec == 6, "matmul: init/add");
    memset(Hb, 0, sizeof(double) * 25);
    xv = x->data;
    for (int64_t r = 0; r < 6; r++)
        for (int64_t i = 0; i < 5; i++)
            for (int64_t j = 0; j < 5; j++) Hb[i * 5 + j] += (double)xv[r * 5 + i] * xv[r * 5 + j];
    d = s ? 1 : max_rel_diff(g.H, Hb, 5, 1);
    CHECK(d < 1e-12, "matmul: H differs from the input rows by %g (relative)", d);
    if (!s) {
        teq_qparams q = lin_code(w->data, 15, 3);
        const uint8_t *codes = NULL;
        teq_error e;
        s = teq_gptq_layer_codes(&g, &q, w->data, 1, &codes, &e);
        float wt[15];
        uint8_t ref[15];
        const float *wv = w->data;
        for (int64_t k = 0; k < 5; k++)
            for (int64_t m = 0; m < 3; m++) wt[m * 5 + k] = wv[k * 3 + m];
        gptq_codes(&q, wt, 3, 5, Hb, 1, ref);
        int same = !s && codes;
        for (int64_t k = 0; same && k < 5; k++)
            for (int64_t m = 0; m < 3; m++) same &= codes[k * 3 + m] == ref[m * 5 + k];
        CHECK(same, "matmul: the layer's GPTQ codes (weight [K, M]) differ from teq_gptq_round on the transpose");
    }
    teq_gptq_layer_free(&g);
    teq_tensor_free(x), teq_tensor_free(w);
    free(Hb);
}

int main(int argc, char **argv) {
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 20261201;
    printf("test_gptq seed %llu\n", (unsigned long long)seed);
    rng_state = seed;
    test_random_layers("exponential, in order", 0, 0);
    test_random_layers("exponential, act order", 0, 1);
    test_random_layers("linear, in order", 1, 0);
    test_random_layers("linear, act order", 1, 1);
    for (int lin = 0; lin < 2; lin++) test_on_grid(lin);
    test_dead_input();
    test_brute_force();
    test_nonfinite();
    test_collect();
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
