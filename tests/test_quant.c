/* Unit tests of the quantizer's numerics (src/quant): code tables, nearest-level quantization against
 * brute force, round trips, bit packing, the bounded-memory statistics, the exponential search (exact
 * error, never worse with one more bit, close to a brute-force optimum, speed), the linear baseline, the
 * distribution fits and the SVG writers.
 * Usage: test_quant [SEED]   (the seed is printed; pass it back to replay a failure).
 * TEQ_TEST_VERBOSE=1 prints the search-vs-grid detail; TEQ_TEST_KEEP_PLOTS=DIR leaves the SVGs in DIR.
 * Prints `N passed, M failed`; exits non-zero on a failure. */
#define _POSIX_C_SOURCE 200809L
#include "quant/qint.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* ---------------------------------------------------------------- random numbers */

static uint64_t rng_state;
static uint64_t rnd64(void) { return teq_qi_rng_next(&rng_state); } /* splitmix64, quant/qint.h */
static double unif(void) { return teq_qi_rng_unit(&rng_state); } /* (0, 1) */
static int rint_below(int n) { return (int)(rnd64() % (uint64_t)n); }
static double gauss(void) { return sqrt(-2 * log(unif())) * cos(6.283185307179586 * unif()); }
static double laplace(double mu, double b) {
    double u = unif() - 0.5;
    return mu - b * (u < 0 ? -1 : 1) * log(1 - 2 * fabs(u));
}
static double expo(double lambda) { return -log(unif()) / lambda; }
static double rsign(void) { return (rnd64() & 1) ? 1.0 : -1.0; }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* A random exponential or linear code that passes teq_qparams_check. */
static teq_qparams random_params(int kind) {
    for (;;) {
        teq_qparams p = {0};
        p.kind = kind;
        p.bits = TEQ_QBITS_MIN + rint_below(TEQ_QBITS_MAX - TEQ_QBITS_MIN + 1);
        p.is_signed = rint_below(2);
        if (kind == TEQ_CODE_EXP) {
            p.zero_code = rint_below(2);
            p.base = 1 + exp(log(0.004) + unif() * log(3.0 / 0.004)); /* 1.004 .. 4 */
            p.alpha = exp(-12 + 12 * unif());
            p.beta = p.alpha * (unif() * 3 - 0.999); /* negative or positive offsets */
        } else {
            p.scale = exp(-10 + 12 * unif());
            if (!p.is_signed) p.zero_point = rint_below(1 << p.bits);
        }
        if (teq_qparams_check(&p, NULL, 0) == TEQ_OK) return p;
    }
}

/* ---------------------------------------------------------------- parameters and tables */

static void test_check(void) {
    char msg[200];
    teq_qparams ok = {
        .kind = TEQ_CODE_EXP, .bits = 4, .is_signed = 1, .zero_code = 1, .base = 1.5, .alpha = 0.01, .beta = -0.005};
    CHECK(teq_qparams_check(&ok, msg, sizeof msg) == TEQ_OK, "valid exp code refused: %s", msg);
    teq_qparams p;
#define BADP(field, value, what)                                                                                       \
    do {                                                                                                               \
        p = ok;                                                                                                        \
        p.field = value;                                                                                               \
        CHECK(teq_qparams_check(&p, msg, sizeof msg) != TEQ_OK && msg[0], "accepted " what);                           \
    } while (0)
    BADP(alpha, NAN, "alpha NaN");
    BADP(alpha, 0, "alpha 0");
    BADP(alpha, -1, "alpha < 0");
    BADP(alpha, INFINITY, "alpha inf");
    BADP(beta, NAN, "beta NaN");
    BADP(beta, -0.01, "level(0) = 0");
    BADP(beta, -0.02, "level(0) < 0");
    BADP(base, 1.0, "base 1");
    BADP(base, 0.5, "base < 1");
    BADP(base, NAN, "base NaN");
    BADP(bits, 1, "1 bit");
    BADP(bits, 9, "9 bits");
    BADP(bits, 0, "0 bits");
    BADP(is_signed, 2, "is_signed 2");
    BADP(kind, (teq_code_kind)7, "unknown kind");
    /* levels that collapse in float32 or overflow */
    p = ok, p.alpha = 1e-12, p.beta = 1;
    CHECK(teq_qparams_check(&p, msg, sizeof msg) != TEQ_OK, "accepted levels equal in float32");
    p = ok, p.bits = 8, p.is_signed = 0, p.base = 4, p.alpha = 1;
    CHECK(teq_qparams_check(&p, msg, sizeof msg) != TEQ_OK, "accepted levels overflowing float32");
    teq_qparams lin = {.kind = TEQ_CODE_LINEAR, .bits = 8, .is_signed = 0, .scale = 0.1, .zero_point = 3};
    CHECK(teq_qparams_check(&lin, msg, sizeof msg) == TEQ_OK, "valid linear code refused: %s", msg);
    p = lin, p.scale = 0;
    CHECK(teq_qparams_check(&p, msg, sizeof msg) != TEQ_OK, "accepted scale 0");
    p = lin, p.scale = NAN;
    CHECK(teq_qparams_check(&p, msg, sizeof msg) != TEQ_OK, "accepted scale NaN");
    p = lin, p.zero_point = 256;
    CHECK(teq_qparams_check(&p, msg, sizeof msg) != TEQ_OK, "accepted zero point 256");
    p = lin, p.is_signed = 1, p.zero_point = 3;
    CHECK(teq_qparams_check(&p, msg, sizeof msg) != TEQ_OK, "accepted symmetric code with a zero point");
    CHECK(teq_qparams_check(NULL, msg, sizeof msg) != TEQ_OK, "accepted NULL");
}

/* Levels strictly increasing and the table laid out as quant.h says. */
static void test_tables(void) {
    int bad = 0, layout = 0;
    for (int t = 0; t < 3000; t++) {
        teq_qparams p = random_params(TEQ_CODE_EXP);
        float tab[256];
        teq_q_code_table(&p, tab);
        int nc = teq_q_num_codes(&p), E = nc / 2;
        float lv[256];
        int L = 0;
        for (int e = 0; e < (p.is_signed ? E : nc); e++) lv[L++] = (float)(p.alpha * pow(p.base, e) + p.beta);
        if (!p.is_signed && p.zero_code) L--;
        for (int e = 1; e < L; e++) bad += !(lv[e] > lv[e - 1]);
        bad += !(lv[0] > 0);
        if (p.is_signed) {
            for (int e = 0; e < E; e++) {
                layout += tab[e] != lv[e];
                if (e || !p.zero_code) layout += tab[E + e] != -lv[e];
            }
            if (p.zero_code) layout += tab[E] != 0;
        } else {
            int z = p.zero_code;
            if (z) layout += tab[0] != 0;
            for (int c = z; c < nc; c++) layout += tab[c] != lv[c - z];
        }
    }
    CHECK(bad == 0, "%d levels not strictly increasing (or level(0) <= 0)", bad);
    CHECK(layout == 0, "%d table entries differ from the layout of quant.h", layout);
    teq_qparams l = {.kind = TEQ_CODE_LINEAR, .bits = 4, .is_signed = 1, .scale = 0.5};
    float tab[256];
    teq_q_code_table(&l, tab);
    CHECK(tab[8] == 0 && tab[15] == 3.5f && tab[1] == -3.5f, "symmetric linear table");
    l.is_signed = 0, l.zero_point = 3;
    teq_q_code_table(&l, tab);
    CHECK(tab[3] == 0 && tab[0] == -1.5f && tab[15] == 6.0f, "asymmetric linear table");
}

/* dequantize(quantize(v)) == v for every value the code can produce. */
static void test_roundtrip(void) {
    int bad = 0, badc = 0;
    for (int t = 0; t < 2000; t++) {
        teq_qparams p = random_params(t & 1 ? TEQ_CODE_EXP : TEQ_CODE_LINEAR);
        int nc = teq_q_num_codes(&p);
        float tab[256], y[256];
        uint8_t codes[256], c2[256];
        teq_q_code_table(&p, tab);
        /* code 0 of a symmetric linear code (q = -2^(n-1)) is never produced */
        int first = (p.kind == TEQ_CODE_LINEAR && p.is_signed) ? 1 : 0;
        teq_q_quantize(&p, tab + first, nc - first, codes);
        teq_q_dequantize(&p, codes, nc - first, y);
        for (int c = first; c < nc; c++) {
            bad += y[c - first] != tab[c];
            c2[c - first] = (uint8_t)c;
        }
        /* and codes -> values -> the same codes */
        teq_q_dequantize(&p, c2, nc - first, y);
        teq_q_quantize(&p, y, nc - first, codes);
        for (int c = first; c < nc; c++) badc += codes[c - first] != c;
        /* out-of-range codes are clamped, never read outside the table */
        uint8_t big = 255;
        float yb;
        teq_q_dequantize(&p, &big, 1, &yb);
        bad += yb != tab[nc - 1];
    }
    CHECK(bad == 0, "%d values changed by a round trip", bad);
    CHECK(badc == 0, "%d codes changed by a round trip", badc);
}

/* The chosen code is a nearest one among all codes (brute force), for both search paths. */
static void test_nearest(void) {
    enum { N = 4096 };
    static float x[N], y[N];
    static uint8_t codes[N], one_code[N];
    int bad_exp = 0, bad_lin = 0, bad_tie = 0, bad_path = 0, trials = 0;
    for (int t = 0; t < 600; t++) {
        int kind = t % 3 ? TEQ_CODE_EXP : TEQ_CODE_LINEAR;
        teq_qparams p = random_params(kind);
        int nc = teq_q_num_codes(&p);
        float tab[256];
        teq_q_code_table(&p, tab);
        float vmax = 0;
        for (int c = 0; c < nc; c++) vmax = fmaxf(vmax, fabsf(tab[c]));
        for (int i = 0; i < N; i++) {
            int r = rint_below(8);
            if (r == 0) { /* a midpoint between two table values, or a float next to it */
                int a = rint_below(nc), b = rint_below(nc);
                float m = (float)(0.5 * ((double)tab[a] + (double)tab[b]));
                if (!isfinite(m)) m = tab[a]; /* two huge levels: their midpoint overflows float */
                int k = rint_below(3);
                x[i] = k == 0 ? m : k == 1 ? nextafterf(m, INFINITY) : nextafterf(m, -INFINITY);
            } else if (r == 1) {
                x[i] = tab[rint_below(nc)];
            } else if (r == 2) {
                x[i] = (float)(rsign() * fmin((double)vmax * 3 * unif(), FLT_MAX)); /* beyond the range too */
            } else if (r == 3) {
                x[i] = rint_below(4) == 0 ? 0.0f : -0.0f;
            } else {
                x[i] = (float)(rsign() * vmax * exp(-12 * unif()));
            }
        }
        teq_q_quantize(&p, x, N, codes);                                         /* large call: table-driven search */
        for (int i = 0; i < 64; i++) teq_q_quantize(&p, x + i, 1, one_code + i); /* small calls: bisection */
        for (int i = 0; i < 64; i++) bad_path += one_code[i] != codes[i];
        teq_q_dequantize(&p, codes, N, y);
        for (int i = 0; i < N; i++) {
            double xd = x[i], dc = fabs(xd - (double)y[i]), dmin = INFINITY;
            double lower_best = INFINITY; /* the lowest magnitude among the nearest */
            for (int c = 0; c < nc; c++) {
                if (p.kind == TEQ_CODE_LINEAR && p.is_signed && c == 0) continue;
                double d = fabs(xd - (double)tab[c]);
                if (d < dmin) dmin = d, lower_best = fabs((double)tab[c]);
                else if (d == dmin && fabs((double)tab[c]) < lower_best) lower_best = fabs((double)tab[c]);
            }
            if (p.kind == TEQ_CODE_EXP) {
                bad_exp += dc != dmin;
                /* ties go to the lower magnitude (same sign side) */
                if (dc == dmin && fabs((double)y[i]) != lower_best && (double)y[i] * xd >= 0 &&
                    !(p.is_signed && xd < 0 && p.zero_code)) {
                    if (bad_tie++ < 3)
                        printf("    tie: x=%.9g got %.9g lower %.9g (signed %d zc %d bits %d b %g a %g beta %g)\n", xd,
                               (double)y[i], lower_best, p.is_signed, p.zero_code, p.bits, p.base, p.alpha, p.beta);
                }
            } else {
                /* linear rounds x/scale half to even in double: allow one float ulp of the table's rounding */
                bad_lin += dc > dmin + 2 * FLT_EPSILON * fmax(fabs(xd), p.scale);
            }
            trials++;
        }
        float f[N];
        teq_q_fake(&p, x, N, f);
        for (int i = 0; i < N; i++) bad_path += f[i] != y[i];
    }
    CHECK(bad_exp == 0, "exp: %d of %d values not quantized to a nearest level", bad_exp, trials);
    CHECK(bad_lin == 0, "linear: %d of %d values not quantized to a nearest level", bad_lin, trials);
    CHECK(bad_tie == 0, "exp: %d ties not resolved to the lower magnitude", bad_tie);
    CHECK(bad_path == 0, "%d differences between small calls, large calls and teq_q_fake", bad_path);
    /* specific rules of quant.h */
    teq_qparams p = {.kind = TEQ_CODE_EXP, .bits = 3, .is_signed = 1, .zero_code = 1, .base = 2, .alpha = 1, .beta = 0};
    float xs[] = {0.49f, 0.5f, 0.51f, -0.7f, -1.4f, -1.6f, 100.0f, NAN};
    uint8_t c[8];
    teq_q_quantize(&p, xs, 8, c);
    /* levels 1 2 4 8; zero is code 4; negatives have 0, -2, -4, -8 (codes 4, 5, 6, 7) */
    CHECK(c[0] == 4 && c[1] == 4 && c[2] == 0, "zero code threshold: %d %d %d", c[0], c[1], c[2]);
    CHECK(c[3] == 4 && c[4] == 5 && c[5] == 5, "negative side without -level(0): %d %d %d", c[3], c[4], c[5]);
    CHECK(c[6] == 3 && c[7] == 4, "clamp to the top / NaN: %d %d", c[6], c[7]);
    p.is_signed = 0, p.zero_code = 0;
    float xu[] = {-3.0f, 0.0f, 1.4f, 1e9f};
    teq_q_quantize(&p, xu, 4, c);
    CHECK(c[0] == 0 && c[1] == 0 && c[2] == 0 && c[3] == 7, "unsigned code: %d %d %d %d", c[0], c[1], c[2], c[3]);
    teq_qparams l = {.kind = TEQ_CODE_LINEAR, .bits = 8, .is_signed = 1, .scale = 1};
    float xl[] = {0.5f, 1.5f, 2.5f, -0.5f, 200.0f, -200.0f};
    teq_q_quantize(&l, xl, 6, c);
    CHECK(c[0] == 128 && c[1] == 130 && c[2] == 130 && c[3] == 128 && c[4] == 255 && c[5] == 1,
          "linear: half to even and clamping: %d %d %d %d %d %d", c[0], c[1], c[2], c[3], c[4], c[5]);
    /* RMAE */
    float xr[] = {1, -2, 3, 0};
    double r = teq_q_rmae(&l, xr, 4);
    CHECK(r == 0, "rmae of representable values %g", r);
    float z[3] = {0, 0, 0};
    CHECK(teq_q_rmae(&p, z, 3) == 0, "rmae of zeros");
}

static void test_pack(void) {
    int bad = 0, badsize = 0, badpad = 0;
    for (int bits = 1; bits <= 8; bits++) {
        for (int n = 0; n <= 67; n++) {
            uint8_t codes[80], back[80], packed[80];
            for (int i = 0; i < n; i++) codes[i] = (uint8_t)rnd64(); /* high bits must be ignored */
            size_t nb = teq_packed_bytes(n, bits);
            badsize += nb != (size_t)((n * bits + 7) / 8);
            memset(packed, 0xAA, sizeof packed);
            teq_pack_bits(codes, n, bits, packed);
            badsize += packed[nb] != 0xAA; /* nothing written past the end */
            if (n * bits % 8) badpad += (packed[nb - 1] >> (n * bits % 8)) != 0;
            teq_unpack_bits(packed, n, bits, back);
            for (int i = 0; i < n; i++) bad += back[i] != (codes[i] & ((1u << bits) - 1));
        }
    }
    CHECK(bad == 0, "%d codes changed by pack/unpack", bad);
    CHECK(badsize == 0, "%d packed sizes wrong or overruns", badsize);
    CHECK(badpad == 0, "%d packed buffers with non-zero padding", badpad);
    /* the bit order: LSB first */
    uint8_t c3[3] = {1, 2, 3}, out[2];
    teq_pack_bits(c3, 3, 3, out);
    CHECK(out[0] == (1 | 2 << 3 | (3 & 3) << 6) && out[1] == (3 >> 2), "bit order %02x %02x", out[0], out[1]);
}

static void test_tstats(void) {
    teq_tstats s;
    CHECK(teq_tstats_init(&s, 1000, 42) == TEQ_OK, "init");
    int64_t total = 0;
    double mn = INFINITY, mx = -INFINITY, sa = 0;
    int64_t nz = 0, nn = 0;
    float buf[5000];
    while (total < 200000) {
        int k = 1 + rint_below(5000);
        for (int i = 0; i < k; i++) {
            buf[i] = rint_below(10) == 0 ? 0.0f : (float)gauss();
            mn = fmin(mn, buf[i]), mx = fmax(mx, buf[i]), sa += fabs(buf[i]);
            nz += buf[i] == 0, nn += buf[i] < 0;
        }
        teq_tstats_add(&s, buf, k);
        total += k;
    }
    CHECK(s.count == total && s.n_zero == nz && s.n_neg == nn, "counts %lld/%lld %lld/%lld %lld/%lld",
          (long long)s.count, (long long)total, (long long)s.n_zero, (long long)nz, (long long)s.n_neg, (long long)nn);
    CHECK(s.min == mn && s.max == mx, "min/max %g/%g %g/%g", s.min, mn, s.max, mx);
    CHECK(fabs(s.sum_abs - sa) <= 1e-9 * sa, "sum_abs %g vs %g", s.sum_abs, sa);
    CHECK(s.sample_n == 1000, "sample size %lld", (long long)s.sample_n);
    teq_tstats_free(&s);

    /* Uniformity: every one of 60 values lands in a reservoir of 6 with probability 1/10. */
    enum { NV = 60, CAP = 6, TRIALS = 6000 };
    int hits[NV] = {0};
    for (int t = 0; t < TRIALS; t++) {
        teq_tstats r;
        teq_tstats_init(&r, CAP, rnd64());
        float v[NV];
        for (int i = 0; i < NV; i++) v[i] = (float)i;
        int pos = 0;
        while (pos < NV) { /* uneven chunks, as activations arrive */
            int k = 1 + rint_below(9);
            if (k > NV - pos) k = NV - pos;
            teq_tstats_add(&r, v + pos, k);
            pos += k;
        }
        for (int i = 0; i < r.sample_n; i++) hits[(int)r.sample[i]]++;
        teq_tstats_free(&r);
    }
    double expect = (double)TRIALS * CAP / NV, chi2 = 0;
    for (int i = 0; i < NV; i++) chi2 += (hits[i] - expect) * (hits[i] - expect) / expect;
    /* 59 degrees of freedom: the 0.9999 quantile is about 106 */
    CHECK(chi2 < 106, "reservoir not uniform: chi2 %.1f (first %d, last %d, expected %.0f)", chi2, hits[0],
          hits[NV - 1], expect);
    /* Long streams: the sample mean of 0..N-1 is N/2 within a few standard errors. */
    teq_tstats r;
    teq_tstats_init(&r, 2000, rnd64());
    static float big[100000];
    for (int rep = 0; rep < 20; rep++) {
        for (int i = 0; i < 100000; i++) big[i] = (float)(rep * 100000 + i) / 2e6f;
        teq_tstats_add(&r, big, 100000);
    }
    double m = 0;
    for (int i = 0; i < r.sample_n; i++) m += r.sample[i];
    m /= (double)r.sample_n;
    CHECK(fabs(m - 0.5) < 5 * sqrt(1.0 / 12 / 2000), "reservoir mean %.4f, expected 0.5", m);
    teq_tstats_free(&r);
}

/* ---------------------------------------------------------------- the exponential search */

static void check_fit(const char *what, const float *x, int64_t n, int is_signed, int zc, int verbose) {
    double bases[64];
    int nb = teq_default_bases(bases, 64);
    teq_tensor_fit fit;
    teq_error e;
    double t0 = now_s();
    teq_status st = teq_exp_fit_tensor(x, n, is_signed, zc, bases, nb, 3, 8, &fit, &e);
    double dt = now_s() - t0;
    CHECK(st == TEQ_OK, "%s: fit failed: %s", what, e.msg);
    if (st) return;
    int nw = 6, n_inf = 0, nonmono = 0, invalid = 0, inexact = 0, inf_then_finite = 0;
    double worst_rel = 0;
    for (int i = 0; i < nb; i++) {
        for (int w = 0; w < nw; w++) {
            double er = fit.err[i * nw + w];
            teq_qparams *p = &fit.params[i * nw + w];
            if (!isfinite(er)) {
                n_inf++;
                invalid += p->kind != TEQ_CODE_NONE;
                continue;
            }
            if (w > 0 && !isfinite(fit.err[i * nw + w - 1])) inf_then_finite++;
            if (w > 0 && isfinite(fit.err[i * nw + w - 1]) && er > fit.err[i * nw + w - 1] * (1 + 1e-12) + 1e-15)
                nonmono++,
                    printf("    nonmono base %g bits %d: %.6g -> %.6g  prev a=%g b=%g  now a=%g b=%g\n", bases[i],
                           3 + w, fit.err[i * nw + w - 1], er, p[-1].alpha, p[-1].beta, p->alpha, p->beta);
            char msg[200];
            if (teq_qparams_check(p, msg, sizeof msg) != TEQ_OK || p->bits != 3 + w || p->is_signed != is_signed ||
                p->zero_code != zc || p->base != bases[i]) {
                invalid++;
                continue;
            }
            double exact = teq_q_rmae(p, x, n), rel = fabs(exact - er) / fmax(exact, 1e-300);
            if (rel > worst_rel) worst_rel = rel;
            if (rel > 1e-9) inexact++;
        }
    }
    CHECK(invalid == 0, "%s: %d invalid parameter sets", what, invalid);
    CHECK(nonmono == 0, "%s: %d times the error grew with one more bit", what, nonmono);
    CHECK(inf_then_finite == 0, "%s: %d widths representable after a width that was not", what, inf_then_finite);
    CHECK(inexact == 0, "%s: %d reported errors differ from teq_q_rmae (worst relative %.2g)", what, inexact,
          worst_rel);
    /* best over the bases per width */
    if (verbose) {
        printf("  %-34s %7.1f ms  (%lld values, %d bases x 6 widths, %d not representable)\n   best RMAE by width:",
               what, dt * 1e3, (long long)n, nb, n_inf);
        for (int w = 0; w < nw; w++) {
            double best = INFINITY;
            int bi = 0;
            for (int i = 0; i < nb; i++)
                if (fit.err[i * nw + w] < best) best = fit.err[i * nw + w], bi = i;
            printf(" %d:%.4f(b=%g)", 3 + w, best, bases[bi]);
        }
        printf("\n");
    }
    teq_tensor_fit_free(&fit);
}

/* The search result against a brute-force grid over (level(0), top level) for a few bases and widths. */
static void test_near_optimal(void) {
    enum { N = 3000 };
    static float x[N];
    for (int i = 0; i < N; i++) x[i] = (float)laplace(0, 0.05);
    const double bases[3] = {1.05, 1.3, 2.0};
    teq_tensor_fit fit;
    teq_error e;
    CHECK(teq_exp_fit_tensor(x, N, 1, 0, bases, 3, 3, 5, &fit, &e) == TEQ_OK, "fit: %s", e.msg);
    float mags[N];
    for (int i = 0; i < N; i++) mags[i] = fabsf(x[i]);
    float mx = 0;
    for (int i = 0; i < N; i++) mx = fmaxf(mx, mags[i]);
    double worst = -1, mean = 0;
    for (int i = 0; i < 3; i++) {
        for (int w = 0; w < 3; w++) {
            teq_qparams p = fit.params[i * 3 + w];
            int L = 1 << (p.bits - 1);
            double R = pow(p.base, L - 1), best = INFINITY, gL0 = 0, gLt = 0;
            /* 70 x 70 log grid: level(0) in [1e-5, 1] * max, top in [0.05, 1.2] * max */
            for (int a = 0; a < 70; a++) {
                double L0 = mx * exp(log(1e-5) * (1 - a / 69.0));
                for (int c = 0; c < 70; c++) {
                    double Lt = mx * exp(log(0.05) + (log(1.2) - log(0.05)) * c / 69.0);
                    if (!(Lt > L0)) continue;
                    teq_qparams q = p;
                    q.alpha = (Lt - L0) / (R - 1), q.beta = L0 - q.alpha;
                    if (teq_qparams_check(&q, NULL, 0)) continue;
                    double r = teq_q_rmae(&q, x, N);
                    if (r < best) best = r, gL0 = L0, gLt = Lt;
                }
            }
            double got = fit.err[i * 3 + w], rel = got / best - 1;
            if (rel > worst) worst = rel;
            mean += rel / 9;
            if (getenv("TEQ_TEST_VERBOSE"))
                printf("    base %g bits %d: search %.5f (%g %g) grid %.5f (%g %g)\n", p.base, p.bits, got,
                       p.alpha + p.beta, p.alpha * R + p.beta, best, gL0, gLt);
        }
    }
    /* A few thousand values make the error surface bumpy, so a local search can stop in a dip next to the
     * grid's best point: bound the mean and the worst gap. */
    CHECK(mean < 0.003 && worst < 0.02, "search vs a 70x70 grid: mean %+.3f%%, worst %+.3f%%", 100 * mean, 100 * worst);
    printf("  search vs 70x70 brute-force grid: mean %+.3f%%, worst %+.3f%% (negative: the search is better)\n",
           100 * mean, 100 * worst);
    teq_tensor_fit_free(&fit);
}

static void test_search(void) {
    enum { N = 65536 };
    static float x[N];
    for (int i = 0; i < N; i++) x[i] = (float)laplace(0, 0.02); /* weights-like */
    check_fit("signed, Laplace", x, N, 1, 0, 1);
    for (int i = 0; i < N; i++) x[i] = rint_below(2) ? 0.0f : (float)expo(3.0); /* post-ReLU */
    check_fit("unsigned + zero code, ReLU-like", x, N, 0, 1, 1);
    check_fit("unsigned, ReLU-like", x, N, 0, 0, 1);
    for (int i = 0; i < N; i++) x[i] = rint_below(3) ? (float)(gauss() * 0.1) : 0.0f; /* pruned weights */
    check_fit("signed + zero code, pruned Gaussian", x, N, 1, 1, 1);
    for (int i = 0; i < N; i++) x[i] = (float)(1.0 / (1 + exp(-3 * gauss()))); /* sigmoid outputs */
    check_fit("unsigned, sigmoid outputs", x, N, 0, 0, 0);
    /* degenerate inputs: constant, all zeros, few values, non-finite values, unsigned with negatives */
    for (int i = 0; i < 100; i++) x[i] = 0.25f;
    check_fit("constant", x, 100, 1, 0, 0);
    for (int i = 0; i < 100; i++) x[i] = 0;
    check_fit("all zeros", x, 100, 0, 1, 0);
    x[0] = 1.0f, x[1] = -2.0f, x[2] = NAN, x[3] = INFINITY;
    check_fit("few and non-finite", x, 4, 1, 1, 0);
    for (int i = 0; i < 1000; i++) x[i] = (float)gauss();
    check_fit("unsigned code on signed data", x, 1000, 0, 1, 0);
    check_fit("one value", x, 1, 1, 0, 0);
    teq_tensor_fit fit;
    teq_error e;
    double bad_base = 1.0;
    CHECK(teq_exp_fit_tensor(x, 10, 1, 0, &bad_base, 1, 3, 8, &fit, &e) != TEQ_OK, "accepted base 1");
    CHECK(teq_exp_fit_tensor(x, 10, 1, 0, &bad_base, 0, 3, 8, &fit, &e) != TEQ_OK, "accepted an empty grid");
    double b2 = 2;
    CHECK(teq_exp_fit_tensor(x, 10, 1, 0, &b2, 1, 1, 8, &fit, &e) != TEQ_OK, "accepted 1 bit");
    CHECK(teq_exp_fit_tensor(x, 10, 1, 0, &b2, 1, 5, 4, &fit, &e) != TEQ_OK, "accepted min > max bits");
    /* the grid */
    double g[64];
    int ng = teq_default_bases(g, 64), has2 = 0, hasr2 = 0, asc = 1;
    for (int i = 0; i < ng; i++) {
        has2 |= g[i] == 2.0, hasr2 |= g[i] == sqrt(2.0);
        if (i) asc &= g[i] > g[i - 1];
    }
    CHECK(ng == teq_default_bases(NULL, 0) && has2 && hasr2 && asc && g[0] <= 1.01 && g[ng - 1] == 4.0,
          "default base grid");
}

/* ---------------------------------------------------------------- linear baseline */

static double mse_of(const teq_qparams *p, const float *x, int n) {
    float *y = malloc((size_t)n * sizeof(float));
    teq_q_fake(p, x, n, y);
    double s = 0;
    for (int i = 0; i < n; i++) s += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    free(y);
    return s / n;
}

static void test_linear(void) {
    enum { N = 50000 };
    static float x[N];
    teq_error e;
    teq_qparams p, pp, pm;
    for (int i = 0; i < N; i++) x[i] = (float)laplace(0, 0.1);
    x[7] = 3.0f; /* one outlier */
    CHECK(teq_linear_fit(x, N, 8, 1, TEQ_LINEAR_MINMAX, &p, &e) == TEQ_OK, "%s", e.msg);
    CHECK(p.kind == TEQ_CODE_LINEAR && p.is_signed && p.zero_point == 0 && fabs(p.scale - 3.0 / 127) < 1e-12,
          "symmetric min-max scale %g", p.scale);
    CHECK(teq_linear_fit(x, N, 8, 1, TEQ_LINEAR_PERCENTILE, &pp, &e) == TEQ_OK, "%s", e.msg);
    CHECK(pp.scale < p.scale, "percentile clips the outlier (%g vs %g)", pp.scale, p.scale);
    CHECK(teq_linear_fit(x, N, 8, 1, TEQ_LINEAR_MSE, &pm, &e) == TEQ_OK, "%s", e.msg);
    double m0 = mse_of(&p, x, N), m1 = mse_of(&pp, x, N), m2 = mse_of(&pm, x, N);
    CHECK(m2 <= m0 * 1.0001 && m2 <= m1 * 1.0001, "MSE calibration not better: %g vs min-max %g, percentile %g", m2, m0,
          m1);
    CHECK(teq_qparams_check(&pm, NULL, 0) == TEQ_OK, "MSE params invalid");
    /* asymmetric activations */
    for (int i = 0; i < N; i++) x[i] = (float)(expo(2.0) - 0.2);
    CHECK(teq_linear_fit(x, N, 8, 0, TEQ_LINEAR_MINMAX, &p, &e) == TEQ_OK, "%s", e.msg);
    float mn = 0, mx = 0;
    for (int i = 0; i < N; i++) mn = fminf(mn, x[i]), mx = fmaxf(mx, x[i]);
    CHECK(fabs(p.scale - ((double)mx - mn) / 255) < 1e-12 && p.zero_point == (int)nearbyint(-mn / p.scale),
          "asymmetric min-max: scale %g zero point %d", p.scale, p.zero_point);
    float zero = 0;
    uint8_t zc;
    float back;
    teq_q_quantize(&p, &zero, 1, &zc);
    teq_q_dequantize(&p, &zc, 1, &back);
    CHECK(back == 0, "0 is exactly representable (%g)", back);
    CHECK(teq_linear_fit(x, N, 4, 0, TEQ_LINEAR_MSE, &pm, &e) == TEQ_OK, "%s", e.msg);
    teq_linear_fit(x, N, 4, 0, TEQ_LINEAR_MINMAX, &p, &e);
    CHECK(mse_of(&pm, x, N) < mse_of(&p, x, N), "4-bit MSE calibration beats min-max");
    /* positive-only data still gets a range that includes 0 */
    for (int i = 0; i < 100; i++) x[i] = 5 + (float)unif();
    teq_linear_fit(x, 100, 8, 0, TEQ_LINEAR_MINMAX, &p, &e);
    float pmax = 0;
    for (int i = 0; i < 100; i++) pmax = fmaxf(pmax, x[i]);
    CHECK(p.zero_point == 0 && fabs(p.scale * 255 - pmax) < 1e-9, "positive data: zero point %d, scale %g",
          p.zero_point, p.scale);
    for (int i = 0; i < 100; i++) x[i] = 0;
    CHECK(teq_linear_fit(x, 100, 8, 1, TEQ_LINEAR_MSE, &p, &e) == TEQ_OK && teq_qparams_check(&p, NULL, 0) == TEQ_OK,
          "all zeros");
    CHECK(teq_linear_fit(x, 0, 8, 1, TEQ_LINEAR_MINMAX, &p, &e) == TEQ_OK && teq_qparams_check(&p, NULL, 0) == TEQ_OK,
          "no values");
    CHECK(teq_linear_fit(x, 100, 9, 1, TEQ_LINEAR_MINMAX, &p, &e) != TEQ_OK, "accepted 9 bits");
}

/* ---------------------------------------------------------------- distributions */

static void test_dist(void) {
    enum { N = 100000 };
    static float x[N];
    teq_dist_fit f;
    teq_error e;
    /* exponential magnitudes: loc 0.2, lambda 3, random signs, plus exact zeros */
    for (int i = 0; i < N; i++) x[i] = i % 10 == 0 ? 0.0f : (float)(rsign() * (0.2 + expo(3.0)));
    CHECK(teq_dist_fit_tensor(x, N, &f, &e) == TEQ_OK, "%s", e.msg);
    CHECK(fabs(f.p1[TEQ_FAMILY_EXPONENTIAL] / 0.2 - 1) < 0.02 && fabs(f.p2[TEQ_FAMILY_EXPONENTIAL] / 3 - 1) < 0.02,
          "exponential: loc %g lambda %g", f.p1[TEQ_FAMILY_EXPONENTIAL], f.p2[TEQ_FAMILY_EXPONENTIAL]);
    CHECK(f.best == TEQ_FAMILY_EXPONENTIAL, "exponential sample: best %s (KS %.4f %.4f %.4f %.4f)",
          teq_family_name(f.best), f.ks[0], f.ks[1], f.ks[2], f.ks[3]);
    CHECK(fabs(f.zero_fraction - 0.1) < 1e-9, "zero fraction %g", f.zero_fraction);
    CHECK(f.n == 65536, "fitted sample size %lld", (long long)f.n);
    /* Gaussian */
    for (int i = 0; i < N; i++) x[i] = (float)(0.3 * gauss());
    teq_dist_fit_tensor(x, N, &f, &e);
    CHECK(fabs(f.p1[TEQ_FAMILY_GAUSSIAN] / 0.3 - 1) < 0.02, "gaussian sigma %g", f.p1[TEQ_FAMILY_GAUSSIAN]);
    CHECK(f.best == TEQ_FAMILY_GAUSSIAN, "gaussian sample: best %s", teq_family_name(f.best));
    /* Laplace with a shifted centre (mu = 0 would make its magnitudes exactly exponential) */
    for (int i = 0; i < N; i++) x[i] = (float)laplace(0.5, 1.0);
    teq_dist_fit_tensor(x, N, &f, &e);
    CHECK(fabs(f.p1[TEQ_FAMILY_LAPLACE] - 0.5) < 0.02 && fabs(f.p2[TEQ_FAMILY_LAPLACE] - 1) < 0.02,
          "laplace mu %g b %g", f.p1[TEQ_FAMILY_LAPLACE], f.p2[TEQ_FAMILY_LAPLACE]);
    CHECK(f.best == TEQ_FAMILY_LAPLACE, "laplace sample: best %s", teq_family_name(f.best));
    /* uniform magnitudes */
    for (int i = 0; i < N; i++) x[i] = (float)(rsign() * (0.5 + 1.5 * unif()));
    teq_dist_fit_tensor(x, N, &f, &e);
    CHECK(fabs(f.p1[TEQ_FAMILY_UNIFORM] - 0.5) < 0.01 && fabs(f.p2[TEQ_FAMILY_UNIFORM] - 2) < 0.02, "uniform %g %g",
          f.p1[TEQ_FAMILY_UNIFORM], f.p2[TEQ_FAMILY_UNIFORM]);
    CHECK(f.best == TEQ_FAMILY_UNIFORM, "uniform sample: best %s", teq_family_name(f.best));
    /* each pdf integrates to 1 over [0, inf) */
    for (int fam = 0; fam < TEQ_N_FAMILIES; fam++) {
        double s = 0, h = 1e-4;
        for (double m = h / 2; m < 40; m += h) s += teq_dist_pdf(&f, (teq_family)fam, m) * h;
        CHECK(fabs(s - 1) < 2e-3, "%s pdf integrates to %g", teq_family_name((teq_family)fam), s);
    }
    /* KS is exact on a small case: values 1,2,3,4 against U(1,4): D = 1/4 */
    float u4[4] = {1, -2, 3, 4};
    teq_dist_fit_tensor(u4, 4, &f, &e);
    CHECK(fabs(f.ks[TEQ_FAMILY_UNIFORM] - 0.25) < 1e-12, "KS of 4 points %g", f.ks[TEQ_FAMILY_UNIFORM]);
    float zz[3] = {0, 0, NAN};
    CHECK(teq_dist_fit_tensor(zz, 3, &f, &e) != TEQ_OK && e.msg[0], "no non-zero values must be an error");
    float c1[5] = {2, 2, -2, 2, 2};
    CHECK(teq_dist_fit_tensor(c1, 5, &f, &e) == TEQ_OK && f.ks[TEQ_FAMILY_UNIFORM] == 0 &&
              f.ks[TEQ_FAMILY_EXPONENTIAL] == 0,
          "constant magnitudes: a point mass fits exactly (KS %g, %g)", f.ks[TEQ_FAMILY_UNIFORM],
          f.ks[TEQ_FAMILY_EXPONENTIAL]);
}

/* ---------------------------------------------------------------- pictures */

static int file_ok(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = 0;
    return n > 100 && strncmp(buf, "<?xml", 5) == 0 && strstr(buf, "</svg>") != NULL && strstr(buf, "viewBox");
}

static void test_plots(void) {
    char dir[] = "/tmp/teq_test_quant_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    const char *keep = getenv("TEQ_TEST_KEEP_PLOTS"); /* a folder to leave the pictures in, for a look */
    const char *out = keep ? keep : dir;
    enum { N = 20000 };
    static float x[N];
    teq_dist_fit fits[3];
    teq_error e;
    char path[600];
    const char *names[3] = {"conv1.weight <&\"'>", "a/very/long/name/of/a/tensor/that/does/not/fit/in/the/column/x",
                            "relu_out"};
    for (int t = 0; t < 3; t++) {
        for (int i = 0; i < N; i++)
            x[i] = t == 0   ? (float)laplace(0, 0.02)
                   : t == 1 ? (float)(0.2 * gauss())
                            : (i % 2 ? 0.0f : (float)(0.05 + expo(4)));
        if (t == 2) x[5] = 30; /* a far outlier: the axis is cut at the 99.9th percentile */
        CHECK(teq_dist_fit_tensor(x, N, &fits[t], &e) == TEQ_OK, "%s", e.msg);
        snprintf(path, sizeof path, "%s/dist%d.svg", out, t);
        CHECK(teq_plot_dist_svg(path, names[t], x, N, &fits[t], &e) == TEQ_OK, "plot: %s", e.msg);
        CHECK(file_ok(path), "%s is not a complete SVG", path);
    }
    snprintf(path, sizeof path, "%s/overview.svg", out);
    CHECK(teq_plot_overview_svg(path, "Distribution fits", 3, names, fits, &e) == TEQ_OK, "overview: %s", e.msg);
    CHECK(file_ok(path), "overview is not a complete SVG");
    CHECK(teq_plot_dist_svg("/nonexistent-dir/x.svg", "t", x, N, &fits[0], &e) != TEQ_OK && e.msg[0],
          "writing into a missing folder must fail");
    for (int t = 0; t < 3; t++) {
        snprintf(path, sizeof path, "%s/dist%d.svg", dir, t);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/overview.svg", dir);
    unlink(path);
    rmdir(dir);
}

/* The float32 linear rule (lin_f32) against ONNX QuantizeLinear / DequantizeLinear written out from their
 * definition here: the float32 quotient, the integer nearest to it found by scanning every integer of the
 * range in double (ties to the even one), the zero point added, saturated; the value (q - zp) * scale in
 * float32. Also: the code fits made by teq_linear_fit use this rule. */
static void test_linear_f32(void) {
    int bad = 0, checked = 0, ties = 0;
    for (int t = 0; t < 400; t++) {
        const int bits = 2 + t % 7, sg = (t / 7) & 1, nc = 1 << bits;
        teq_qparams p = {.kind = TEQ_CODE_LINEAR, .bits = bits, .is_signed = sg, .lin_f32 = 1,
                         .scale = (t % 5 == 0) ? 1.0 / 255 + unif() * 1e-9 : 1e-3 + unif()};
        p.zero_point = sg ? 0 : (int32_t)(rnd64() % (uint64_t)nc);
        char msg[160];
        if (teq_qparams_check(&p, msg, sizeof msg) != TEQ_OK) {
            CHECK(0, "f32 params refused: %s", msg);
            continue;
        }
        const float s = (float)p.scale;
        const int lo = sg ? -(nc / 2 - 1) : -p.zero_point, hi = sg ? nc / 2 - 1 : nc - 1 - p.zero_point;
        const int off = sg ? nc / 2 : p.zero_point;
        enum { M = 700 };
        float x[M];
        int n = 0;
        for (int k = -(nc / 2 + 3); k <= nc + 3 && n + 3 <= M - 40; k++) { /* every half step and its neighbours */
            const float h = ((float)k + 0.5f) * s;
            x[n++] = h, x[n++] = nextafterf(h, INFINITY), x[n++] = nextafterf(h, -INFINITY);
        }
        x[n++] = 0, x[n++] = -0.0f, x[n++] = INFINITY, x[n++] = -INFINITY, x[n++] = NAN, x[n++] = FLT_MAX;
        while (n < M) x[n++] = (float)((unif() - 0.5) * 2.5 * nc * p.scale);
        uint8_t codes[M];
        float vals[M], tab[256];
        teq_q_quantize(&p, x, n, codes);
        teq_q_fake(&p, x, n, vals);
        teq_q_code_table(&p, tab);
        for (int i = 0; i < n; i++) {
            const float qf = x[i] / s; /* ONNX: x / y_scale in float32 */
            int want;
            if (qf != qf) {
                want = 0; /* teq's choice for NaN: the zero point (ONNX leaves it to the runtime) */
            } else {
                /* saturation: round(q) + zp beyond the range is the range's end, as q clamped first would be */
                const double qd = (double)qf > hi ? hi : (double)qf < lo ? lo : (double)qf;
                want = lo;
                double best = fabs(qd - lo);
                for (int k = lo + 1; k <= hi; k++) {
                    const double d = fabs(qd - k);
                    if (d < best || (d == best && (k % 2 == 0))) want = k, best = d;
                }
                ties += fabs((double)qf - floor((double)qf) - 0.5) == 0 && qf > lo && qf < hi;
            }
            const float wv = (float)want * s; /* DequantizeLinear: (q - zp) * scale in float32 */
            const int b1 = codes[i] != want + off || memcmp(&vals[i], &wv, 4) != 0 || memcmp(&tab[want + off], &wv, 4) != 0;
            if (b1 && !bad)
                printf("  first off: %d bits %s scale %a zp %d, x = %a: code %d want %d, value %a want %a\n", bits,
                       sg ? "signed" : "unsigned", p.scale, (int)p.zero_point, (double)x[i], codes[i], want + off,
                       (double)vals[i], (double)wv);
            bad += b1;
            checked++;
        }
    }
    CHECK(bad == 0 && checked > 200000, "float32 linear rule: %d of %d inputs off ONNX's definition", bad, checked);
    CHECK(ties > 1000, "float32 linear rule: only %d exact ties tested", ties);
    printf("float32 linear codes: %d inputs (%d exact ties) as ONNX QuantizeLinear/DequantizeLinear\n", checked, ties);
    float x[64];
    for (int i = 0; i < 64; i++) x[i] = (float)(unif() - 0.3);
    teq_qparams f;
    teq_error e;
    CHECK(teq_linear_fit(x, 64, 8, 0, TEQ_LINEAR_MINMAX, &f, &e) == TEQ_OK && f.lin_f32 == 1,
          "teq_linear_fit makes float32 linear codes");
    teq_qparams q = f;
    q.lin_f32 = 2;
    CHECK(teq_qparams_check(&q, NULL, 0) != TEQ_OK, "accepted lin_f32 = 2");
    q = f, q.kind = TEQ_CODE_EXP, q.base = 2, q.alpha = 1;
    CHECK(teq_qparams_check(&q, NULL, 0) != TEQ_OK, "accepted lin_f32 on an exponential code");
}

int main(int argc, char **argv) {
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : (uint64_t)time(NULL);
    printf("test_quant seed %llu (replay: test_quant %llu)\n", (unsigned long long)seed, (unsigned long long)seed);
    rng_state = seed;
    test_check();
    test_tables();
    test_roundtrip();
    test_nearest();
    test_pack();
    test_tstats();
    test_near_optimal();
    test_search();
    test_linear();
    test_linear_f32();
    test_dist();
    test_plots();
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
