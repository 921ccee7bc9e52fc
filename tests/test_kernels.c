/* The fast kernel sets (src/kernels: scalar, avx2, avx512 with and without VNNI) against the reference
 * kernels (ref.c), and the fast activation quantizer (kq.c) against teq_q_quantize.
 *
 * - float GEMV: every available set, weights of every width 2..8 with codes fitted by teq's own search
 *   (teq_exp_fit_tensor on Laplace samples, bases 1.01 .. 4, signed with and without the zero code) and
 *   activations of the same base (unsigned with zero code, or signed), per-row scales, at sizes around the
 *   sets' tiles (8, 16 codes per vector; 64/128-code blocks; 8, 4, 1 rows per pass) and real shapes; each output within
 *   teq_ktol(K, row_scale * sum |w a|) of teq_kref_exp_gemm. Linear weights against teq_kref_i8_gemm.
 * - decode: bit-exact scale[m] * lut[code].
 * - INT8 GEMV/GEMM: exact integers (y = (scale * xscale) * (float)(dot - zp * rowsum) with the dot in
 *   int64, bit for bit), including every activation 255 against weights +-127 (where vpmaddubsw pairs
 *   would saturate), and within tolerance of teq_kref_i8_gemm.
 * - teq_kq: bit-exact codes and values on edge values (0, -0, NaN, +-inf, denormals, FLT_MAX, every level,
 *   every midpoint and its float neighbours) and millions of random values, for every vector body.
 *
 * Usage: test_kernels (seed from TEQ_SEED, else the time; printed so a failure can be replayed). */
#include "check.h"
#include "kernels/kint.h"
#include "quant/qint.h"
#include "ops/qlayer.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng; /* the library's splitmix64 (quant/qint.h), seeded by TEQ_SEED */
static uint64_t next(void) { return teq_qi_rng_next(&rng); }
static double unit(void) { return teq_qi_rng_unit(&rng); }
static double laplace(void) {
    double u = unit() - 0.5;
    return (u < 0 ? 1 : -1) * log(1 - 2 * fabs(u));
}

/* the sets to test: name, table (the AVX-512 set twice when VNNI is there: with and without it) */
typedef struct { const char *name; const teq_kernel_set *ks; } kset_case;
static int sets(kset_case *out) {
    int n = 0;
    out[n++] = (kset_case){"scalar", teq_kset(TEQ_ISA_SCALAR)};
    if (teq_kset(TEQ_ISA_AVX2)) out[n++] = (kset_case){"avx2", teq_kset(TEQ_ISA_AVX2)};
    else printf("skip avx2: this CPU lacks AVX2/FMA/BMI2\n");
    if (teq_kset(TEQ_ISA_AVX512)) {
        const teq_kernel_set *k = teq_kset(TEQ_ISA_AVX512);
        out[n++] = (kset_case){k == &teq_kset_avx512vnni_tab ? "avx512+vnni" : "avx512", k};
        if (k == &teq_kset_avx512vnni_tab) out[n++] = (kset_case){"avx512bw (no vnni)", &teq_kset_avx512_tab};
        else printf("skip avx512 vnni: this CPU lacks AVX512-VNNI\n");
    } else {
        printf("skip avx512: this CPU lacks AVX-512 F/BW/VL/VBMI\n");
    }
    return n;
}

/* ---- codes fitted by teq's search ---- */
enum { NB = 6 };
static const double BASES[NB] = {1.01, 1.05, 1.189, 1.414213562373095, 2.0, 4.0};
static teq_tensor_fit fit_w[2], fit_a[2]; /* weights: zero code off/on; activations: unsigned zc, signed */

static void fit_codes(void) {
    enum { NS = 8192 };
    float *x = malloc(NS * sizeof(float));
    teq_error err = {0};
    for (int zc = 0; zc < 2; zc++) {
        for (int i = 0; i < NS; i++) x[i] = (float)(0.05 * laplace());
        if (zc) for (int i = 0; i < NS / 4; i++) x[next() % NS] = 0;
        CHECK(teq_exp_fit_tensor(x, NS, 1, zc, BASES, NB, 2, 8, &fit_w[zc], &err) == TEQ_OK, "fit weights");
    }
    for (int i = 0; i < NS; i++) x[i] = (float)(unit() < 0.4 ? 0 : 1.5 * fabs(laplace())); /* post-ReLU */
    CHECK(teq_exp_fit_tensor(x, NS, 0, 1, BASES, NB, 2, 8, &fit_a[0], &err) == TEQ_OK, "fit act");
    for (int i = 0; i < NS; i++) x[i] = (float)laplace();
    CHECK(teq_exp_fit_tensor(x, NS, 1, 0, BASES, NB, 2, 8, &fit_a[1], &err) == TEQ_OK, "fit act signed");
    free(x);
}

/* a fitted code (NULL when the search found none at this base and width) */
static const teq_qparams *fitted(const teq_tensor_fit *f, int ib, int bits) {
    const teq_qparams *q = &f->params[ib * (f->max_bits - f->min_bits + 1) + bits - f->min_bits];
    return q->kind == TEQ_CODE_EXP ? q : NULL;
}

/* the fitted code of kind 0..3 (activations: unsigned with the zero code, signed; weights-like: signed without
 * and with it) at base BASES[ib] and width bits, NULL where the fit gave no exponential code */
static const teq_qparams *fitted_kind(int kind, int ib, int bits) {
    return kind < 2 ? fitted(&fit_a[kind], ib, bits) : fitted(&fit_w[kind - 2], ib, bits);
}

/* ---- float GEMV ---- */
static int gemv_case(const kset_case *ks, int64_t M, int64_t K, const teq_qparams *qw, const teq_qparams *qa,
                     const char *what) {
    uint8_t *wc = malloc((size_t)(M * K + 1)), *ac = malloc((size_t)K + 1);
    float *rs = malloc(sizeof(float) * (size_t)M), *x = malloc(sizeof(float) * (size_t)K + 4);
    float *y = malloc(sizeof(float) * (size_t)M), *yr = malloc(sizeof(float) * (size_t)M), ta[256];
    const int ncw = 1 << qw->bits, nca = 1 << qa->bits;
    for (int64_t i = 0; i < M * K; i++) wc[i] = (uint8_t)(next() % (uint64_t)ncw);
    for (int64_t m = 0; m < M; m++) rs[m] = (float)(0.1 + 3 * unit());
    teq_q_code_table(qa, ta);
    for (int64_t k = 0; k < K; k++) x[k] = ta[next() % (uint64_t)nca];
    teq_kw w;
    teq_error err = {0};
    int bad = 0;
    if (teq_kw_init(&w, qw, M, K, wc, rs, &err) != TEQ_OK) {
        CHECK(0, "kw_init %s: %s", what, err.msg);
        bad = 1;
        goto out;
    }
    teq_status st = qw->kind == TEQ_CODE_EXP ? teq_kref_exp_gemm(&w, qa, x, 1, 0, 1, yr, 1, 0, 0, 1)
                                             : teq_kref_i8_gemm(&w, qa, x, 1, 0, 1, yr, 1, 0, 0, 1);
    CHECK(st == TEQ_OK, "reference %s", what);
    for (int64_t m = 0; m < M; m++) y[m] = NAN;
    ks->ks->gemv(&w, x, y, 0, M);
    for (int64_t m = 0; m < M && !bad; m++) {
        /* Magnitude of the terms the results are rounded against: a level alpha*b^e + beta with beta near
         * -alpha is small while the counting reference sums alpha and beta products separately (METHOD 5),
         * so each factor counts with |level| + 2|beta| >= |alpha*b^e| + |beta|; zero codes add exactly 0.
         * (Measured: seed 1796174673, w7z a2u b=1.01 K=1, a level of 2.2e-9 from terms near 1e-3, got and
         * ref 4e-7 apart relative, was outside a tolerance taken from |level| alone.) */
        const double bw = qw->kind == TEQ_CODE_EXP ? 2 * fabs(qw->beta) : 0, ba = qa->kind == TEQ_CODE_EXP ? 2 * fabs(qa->beta) : 0;
        double as = 0;
        for (int64_t k = 0; k < K; k++) {
            double lw = (double)w.lut[wc[m * K + k]], xa = (double)x[k];
            if (lw != 0 && xa != 0) as += (fabs(lw) + bw) * (fabs(xa) + ba);
        }
        double tol = teq_ktol(K, as * (double)w.scale[m]);
        if (!(fabs((double)y[m] - (double)yr[m]) <= tol)) {
            CHECK(0, "%s gemv %s M=%lld K=%lld row %lld: got %.9g ref %.9g tol %.3g", ks->name, what, (long long)M,
                  (long long)K, (long long)m, (double)y[m], (double)yr[m], tol);
            bad = 1;
        }
    }
    /* decode: bit-exact */
    float *d = malloc(sizeof(float) * (size_t)(M * K + 1));
    ks->ks->decode(&w, 0, M, d);
    for (int64_t i = 0; i < M * K && !bad; i++) {
        float e = w.scale[i / (K ? K : 1)] * w.lut[wc[i]];
        if (memcmp(&e, &d[i], 4)) {
            CHECK(0, "%s decode %s M=%lld K=%lld at %lld: got %.9g want %.9g", ks->name, what, (long long)M,
                  (long long)K, (long long)i, (double)d[i], (double)e);
            bad = 1;
        }
    }
    free(d);
    teq_kw_free(&w);
out:
    free(wc), free(ac), free(rs), free(x), free(y), free(yr);
    return !bad;
}

/* ---- 8-bit lanes GEMV (kernels.h, teq_kl8x) ----
 * x prepared here from the contract's words (not dispatch.c's code): per block of 128 the grid
 * dx = fl(max |x| / 127), xi = round(x / dx) in double, the even k first; the weights' table
 * wl = round(lut / dw) on dw = fl(max |lut| / 127). */
typedef struct {
    teq_kl8x p;
    int8_t *xi;
    float *dx;
    int32_t *neg;
} l8x;
static void l8x_make(const teq_kw *w, const float *x, l8x *o) {
    const int64_t K = w->K, NB = (K + 127) / 128;
    o->xi = aligned_alloc(64, (size_t)NB * 128), o->neg = aligned_alloc(64, (size_t)NB * 64);
    o->dx = malloc(sizeof(float) * (size_t)NB);
    double mw = 0;
    for (int c = 0; c < (1 << w->q.bits); c++) mw = fmax(mw, fabs(w->lut[c]));
    o->p.dw = mw > 0 ? (float)mw / 127.0f : 1.0f;
    memset(o->p.wl, 0, sizeof o->p.wl);
    for (int c = 0; c < (1 << w->q.bits); c++) o->p.wl[c] = (int8_t)fmax(-127, fmin(127, nearbyint(w->lut[c] / (double)o->p.dw)));
    for (int64_t b = 0; b < NB; b++) {
        float mx = 0;
        for (int64_t k = b * 128; k < K && k < b * 128 + 128; k++) mx = fmaxf(mx, fabsf(x[k]));
        o->dx[b] = mx / 127.0f;
        int32_t sum = 0;
        for (int i = 0; i < 128; i++) {
            int64_t k = b * 128 + (i < 64 ? 2 * i : 2 * (i - 64) + 1);
            double v = k < K && mx > 0 ? fmax(-127, fmin(127, nearbyint(x[k] / (double)o->dx[b]))) : 0;
            o->xi[b * 128 + i] = (int8_t)v, sum += (int32_t)v;
        }
        for (int l = 0; l < 16; l++) o->neg[b * 16 + l] = l ? 0 : -128 * sum;
    }
    o->p.NB = NB, o->p.xi = o->xi, o->p.dx = o->dx, o->p.neg = o->neg;
}
static void l8x_free(l8x *o) { free(o->xi), free(o->dx), free(o->neg); }
/* x[k] of block position i, and its integer */
static int8_t l8_xi(const l8x *o, int64_t k) {
    const int64_t b = k / 128, j = k % 128;
    return o->xi[b * 128 + (j & 1 ? 64 + j / 2 : j / 2)];
}

/* One case: M x K codes of qw, x with blocks of different scales (one all zero), every available set's
 * kernel (4-bit: the vector sets; every width: the scalar one) against the formula in double within the
 * float-sum bound; then the driver against the exact product within the grid bound. Returns the largest
 * error / grid bound of the driver; *bad set on a failure. With bump, the set's table has one code's
 * integer one higher than the formula's, which the check must catch (returns 1 if it did). */
static double l8_case(const kset_case *ks, int n_ks, int64_t M, int64_t K, const teq_qparams *qw, int bump, int *bad) {
    uint8_t *wc = malloc((size_t)(M * K + 1));
    float *rs = malloc(sizeof(float) * (size_t)M), *x = malloc(sizeof(float) * (size_t)K + 4);
    float *y = malloc(sizeof(float) * (size_t)M);
    const int nc = 1 << qw->bits;
    for (int64_t i = 0; i < M * K; i++) wc[i] = (uint8_t)(next() % (uint64_t)nc);
    for (int64_t m = 0; m < M; m++) rs[m] = (float)((next() & 1 ? -1 : 1) * (0.1 + 3 * unit()));
    for (int64_t k = 0; k < K; k++) {
        const int64_t b = k / 128;
        x[k] = b % 5 == 3 ? 0.0f : (float)(laplace() * pow(10.0, (double)(b % 3) - 1));
    }
    teq_kw w;
    teq_error err = {0};
    double worst = 0;
    int caught = 0;
    if (teq_kw_init(&w, qw, M, K, wc, rs, &err) != TEQ_OK) {
        CHECK(0, "kw_init l8: %s", err.msg);
        *bad = 1;
        free(wc), free(rs), free(x), free(y);
        return 0;
    }
    l8x o;
    l8x_make(&w, x, &o);
    const int8_t *wl = o.p.wl;
    teq_kl8x pb = o.p;
    int bumped = -1;
    if (bump) {
        bumped = (int)wc[0];
        pb.wl[bumped] = (int8_t)(pb.wl[bumped] < 127 ? pb.wl[bumped] + 1 : pb.wl[bumped] - 1);
    }
    for (int s = 0; s < n_ks; s++) {
        void (*fn)(const teq_kw *, const teq_kl8x *, float *, int64_t, int64_t) = ks[s].ks->gemv_l8;
        if (!fn || (qw->bits != 4 && ks[s].ks != teq_kset(TEQ_ISA_SCALAR))) continue;
        for (int64_t m = 0; m < M; m++) y[m] = NAN;
        fn(&w, bump ? &pb : &o.p, y, 0, M);
        for (int64_t m = 0; m < M; m++) {
            double sum = 0, mag = 0;
            for (int64_t b = 0; b < o.p.NB; b++) {
                int64_t dot = 0, am = 0;
                for (int64_t k = b * 128; k < K && k < b * 128 + 128; k++) {
                    const int64_t wi = wl[wc[m * K + k]], xi = l8_xi(&o, k);
                    dot += wi * xi, am += (llabs(wi) + 128) * llabs(xi);
                }
                sum += (double)o.dx[b] * (double)dot, mag += (double)o.dx[b] * (double)am;
            }
            const double sd = (double)w.scale[m] * o.p.dw, want = sd * sum;
            const double tol = (16.0 * (double)o.p.NB + 3) * 0x1p-24 * fabs(sd) * mag;
            if (!(fabs((double)y[m] - want) <= tol)) {
                if (bump) caught = 1;
                else {
                    CHECK(0, "%s gemv_l8 w%d M=%lld K=%lld row %lld: got %.9g want %.9g tol %.3g", ks[s].name, qw->bits,
                          (long long)M, (long long)K, (long long)m, (double)y[m], want, tol);
                    *bad = 1;
                    break;
                }
            }
        }
        if (bump && !caught) {
            CHECK(0, "%s gemv_l8 w%d M=%lld K=%lld: code %d's integer one off went unseen", ks[s].name, qw->bits,
                  (long long)M, (long long)K, bumped);
            *bad = 1;
        }
        caught = 0;
    }
    if (!bump) {
        /* the driver (best set) against the exact product */
        teq_k_gemv_l8(&w, x, y, 1);
        for (int64_t m = 0; m < M; m++) {
            double ex = 0, grid = 0, mag = 0;
            for (int64_t k = 0; k < K; k++) {
                const double lw = w.lut[wc[m * K + k]], xk = x[k], dx = o.dx[k / 128];
                ex += lw * xk;
                grid += fabs(lw) * dx / 2 + fabs(xk) * o.p.dw / 2 + o.p.dw * dx / 4;
                mag += dx * (double)(abs(wl[wc[m * K + k]]) + 128) * abs(l8_xi(&o, k));
            }
            const double sc = fabs((double)w.scale[m]);
            const double gb = sc * grid, fb = (16.0 * (double)o.p.NB + 3) * 0x1p-24 * sc * o.p.dw * mag;
            const double e = fabs((double)y[m] - (double)w.scale[m] * ex);
            if (!(e <= gb + fb)) {
                CHECK(0, "gemv_l8 driver w%d M=%lld K=%lld row %lld: got %.9g exact %.9g bound %.3g", qw->bits,
                      (long long)M, (long long)K, (long long)m, (double)y[m], (double)w.scale[m] * ex, gb + fb);
                *bad = 1;
                break;
            }
            if (gb > 0) worst = fmax(worst, e / gb);
        }
    }
    l8x_free(&o);
    teq_kw_free(&w);
    free(wc), free(rs), free(x), free(y);
    return worst;
}

static void test_gemv_l8(const kset_case *ks, int n_ks) {
    static const int64_t KS[] = {1, 2, 63, 127, 128, 129, 255, 256, 257, 640, 4097, 16385, 20000};
    int bad = 0, cases = 0, bumps = 0;
    double worst = 0;
    for (int bits = 2; bits <= 8; bits++) {
        for (int zc = 0; zc < 2; zc++) {
            const teq_qparams *qw = fitted(&fit_w[zc], (bits + zc) % NB, bits);
            if (!qw) qw = fitted(&fit_w[zc], 2, bits);
            if (!qw) continue;
            for (size_t i = 0; i < sizeof KS / sizeof *KS; i++) {
                if (KS[i] > 4097 && bits != 4) continue;
                static const int64_t MS[] = {1, 3, 4, 5, 8, 9, 12, 13, 21}; /* rows: 8, 4, 1 per pass */
                const int64_t M = MS[next() % 9];
                worst = fmax(worst, l8_case(ks, n_ks, M, KS[i], qw, 0, &bad)), cases++;
            }
            if (bits == 4 || bits == 7) l8_case(ks, n_ks, 13, 300, qw, 1, &bad), bumps++;
        }
        teq_qparams ql = {.kind = TEQ_CODE_LINEAR, .bits = bits, .is_signed = 1, .scale = 0.01 + unit()};
        worst = fmax(worst, l8_case(ks, n_ks, 21, 1000, &ql, 0, &bad)), cases++;
    }
    CHECK(cases >= 150, "gemv_l8: only %d cases ran", cases);
    /* x with a NaN or an infinity: the driver takes the exact float GEMV instead, bit for bit */
    {
        const teq_qparams *qw = fitted(&fit_w[0], 2, 4);
        if (qw) {
            enum { M = 9, K = 300 };
            uint8_t wc[M * K];
            float x[K], y1[M], y2[M];
            for (int i = 0; i < M * K; i++) wc[i] = (uint8_t)(next() % 16);
            for (int k = 0; k < K; k++) x[k] = (float)laplace();
            teq_kw w;
            teq_error err = {0};
            CHECK(teq_kw_init(&w, qw, M, K, wc, NULL, &err) == TEQ_OK, "kw_init");
            for (int t = 0; t < 2; t++) {
                x[200] = t ? INFINITY : NAN;
                teq_k_gemv_l8(&w, x, y1, 1), teq_k_gemv(&w, x, y2, 1);
                CHECK(!memcmp(y1, y2, sizeof y1), "gemv_l8 with x[200] = %s: not the float GEMV's result", t ? "inf" : "NaN");
            }
            teq_kw_free(&w);
        }
    }
    CHECK(!bad, "gemv_l8");
    printf("gemv_l8: %d cases on every set against the formula and through the driver within the bounds (largest "
           "error %.3f of the grid bound), %d one-off tables caught: %s\n",
           cases, worst, bumps, bad ? "FAIL" : "ok");
}

/* K around the vector tiles (8, 16 codes per vector; the AVX-512 raw-bits paths' blocks of 64 and 128 codes
 * and their 4096-float stack copy of x, beyond which they take the heap); M around the row blocks (AVX-512:
 * 8 rows, then 4, then 1; others: 4): 13 and 21 take all three. */
static const int64_t SIZES_K[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 97, 127, 128, 129, 191, 1021, 4097};
static const int64_t SIZES_M[] = {1, 3, 4, 5, 8, 9, 12, 13, 21};
enum { N_SIZES_M = sizeof SIZES_M / sizeof *SIZES_M };

/* Fitted codes that the search did not produce, or whose products leave float range, are passed over,
 * so how many of the 84 exponential draws per set run varies with the seed: measured 68..79 over seeds
 * 1..30 and the four sets of an AVX-512 CPU (mean 75, standard deviation 2.4). The floor is eight
 * standard deviations below the mean: a seed does not reach it, draws that stopped testing do. */
#define MIN_GEMV_DRAWS 55
/* test_kq: 248 codes on every seed measured (1..15): 162 fitted, 46 crowded, 40 linear */
#define MIN_KQ_CODES 230

static void test_gemv(const kset_case *ks) {
    int ok = 1, cases = 0, draws = 0, drawn = 0;
    for (int bits = 2; bits <= 8; bits++)
        for (int ib = 0; ib < NB; ib++)
            for (int zc = 0; zc < 2; zc++) {
                const teq_qparams *qw = fitted(&fit_w[zc], ib, bits);
                const teq_qparams *qa = fitted(&fit_a[(bits + ib + zc) & 1], ib, 2 + (int)(next() % 7));
                drawn++;
                if (!qw || !qa) continue;
                /* sums beyond float range (base 4 at 7 bits: 4^63 * 4^63) are not a layer anyone has */
                float tw[256], tq[256];
                teq_q_code_table(qw, tw), teq_q_code_table(qa, tq);
                double mw = 0, ma = 0;
                for (int c = 0; c < (1 << qw->bits); c++) mw = fmax(mw, fabs(tw[c]));
                for (int c = 0; c < (1 << qa->bits); c++) ma = fmax(ma, fabs(tq[c]));
                if (mw * ma * 4 * 4096 > 1e36) continue;
                draws++;
                char what[96];
                snprintf(what, sizeof what, "w%d%s a%d%s b=%g", bits, zc ? "z" : "", qa->bits,
                         qa->is_signed ? "s" : "u", qw->base);
                for (size_t i = 0; i < sizeof SIZES_K / sizeof *SIZES_K; i++) {
                    int64_t M = SIZES_M[next() % N_SIZES_M];
                    ok &= gemv_case(ks, M, SIZES_K[i], qw, qa, what), cases++;
                }
            }
    /* real shapes (M x K): PP-OCRv4 rec pointwise convs, a 3x3 conv's im2col rows, an LLM layer */
    static const int64_t real[][2] = {{480, 120}, {120, 480}, {64, 480 * 9}, {120, 1}, {1, 4096}, {256, 4096}};
    for (size_t i = 0; i < sizeof real / sizeof *real; i++) {
        int bits = 3 + (int)(i % 3);
        const teq_qparams *qw = fitted(&fit_w[i & 1], 2, bits), *qa = fitted(&fit_a[0], 2, 4 + (int)(i % 4));
        if (qw && qa) ok &= gemv_case(ks, real[i][0], real[i][1], qw, qa, "real shape"), cases++;
    }
    /* linear weights (INT8 model's float path) */
    for (int bits = 2; bits <= 8; bits++) {
        teq_qparams qw = {.kind = TEQ_CODE_LINEAR, .bits = bits, .is_signed = 1, .scale = 0.01 + unit()};
        teq_qparams qa = {.kind = TEQ_CODE_LINEAR, .bits = 8, .is_signed = 0, .scale = 0.02, .zero_point = 37};
        for (size_t i = 0; i < sizeof SIZES_K / sizeof *SIZES_K; i++)
            ok &= gemv_case(ks, SIZES_M[next() % N_SIZES_M], SIZES_K[i], &qw, &qa, "linear"), cases++;
    }
    CHECK(ok, "%s gemv/decode", ks->name);
    CHECK(draws >= MIN_GEMV_DRAWS, "%s gemv: only %d of %d exponential draws ran (minimum %d)", ks->name, draws, drawn,
          MIN_GEMV_DRAWS);
    printf("%s: gemv + decode, %d cases (%d of %d exponential draws) within teq_ktol of the reference: %s\n", ks->name,
           cases, draws, drawn, ok ? "ok" : "FAIL");
}

/* ---- INT8 ---- */
static int i8_case(const kset_case *ks, int64_t M, int64_t K, int64_t N, int bits, int extreme) {
    teq_qparams qw = {.kind = TEQ_CODE_LINEAR, .bits = bits, .is_signed = 1, .scale = 0.003 + 0.01 * unit()};
    teq_qparams qa = {.kind = TEQ_CODE_LINEAR, .bits = 8, .is_signed = 0, .scale = 0.01 + 0.1 * unit(),
                      .zero_point = (int32_t)(next() % 256)};
    const int half = 1 << (bits - 1);
    uint8_t *wc = malloc((size_t)(M * K + 1));
    float *rs = malloc(sizeof(float) * (size_t)M);
    for (int64_t i = 0; i < M * K; i++) {
        int q = extreme ? ((next() & 1) ? half - 1 : -(half - 1)) : (int)(next() % (uint64_t)(2 * half - 1)) - (half - 1);
        wc[i] = (uint8_t)(q + half);
    }
    for (int64_t m = 0; m < M; m++) rs[m] = (float)(0.5 + unit());
    teq_kw w;
    teq_error err = {0};
    if (teq_kw_init(&w, &qw, M, K, wc, rs, &err) != TEQ_OK) {
        CHECK(0, "kw_init int8: %s", err.msg);
        free(wc), free(rs);
        return 0;
    }
    const int64_t K4 = w.K4;
    uint8_t *X = malloc((size_t)(K4 * N));
    for (int64_t c = 0; c < N; c++)
        for (int64_t k = 0; k < K4; k++)
            X[c * K4 + k] = k >= K ? (uint8_t)qa.zero_point : extreme ? 255 : (uint8_t)(next() % 256);
    const float xs = (float)qa.scale;
    const int64_t ldy = N + (int64_t)(next() % 3);
    float *Y = malloc(sizeof(float) * (size_t)(M * ldy)), *A = malloc(sizeof(float) * (size_t)(K * N + 1));
    float *Yr = malloc(sizeof(float) * (size_t)(M * N));
    int bad = 0;
    for (int64_t i = 0; i < M * ldy; i++) Y[i] = -1234.5f;
    if (N == 1) ks->ks->i8_gemv(&w, X, qa.zero_point, xs, Y, 0, M);
    else ks->ks->i8_gemm(&w, X, N, qa.zero_point, xs, Y, ldy, 0, M);
    for (int64_t c = 0; c < N; c++)
        for (int64_t k = 0; k < K; k++) A[k * N + c] = (float)(qa.scale * (double)(X[c * K4 + k] - qa.zero_point));
    CHECK(teq_kref_i8_gemm(&w, &qa, A, N, 1, N, Yr, N, 1, 0, 1) == TEQ_OK, "ref int8");
    for (int64_t m = 0; m < M && !bad; m++)
        for (int64_t c = 0; c < N && !bad; c++) {
            int64_t dot = 0;
            double as = 0;
            for (int64_t k = 0; k < K; k++) {
                int q = wc[m * K + k] - half;
                dot += (int64_t)q * (X[c * K4 + k] - qa.zero_point);
                as += fabs((double)q * (double)A[k * N + c]);
            }
            float want = (w.scale[m] * xs) * (float)dot, got = Y[m * (N == 1 ? 1 : ldy) + c];
            if (memcmp(&want, &got, 4)) {
                CHECK(0, "%s i8 %s M=%lld K=%lld N=%lld bits=%d%s (%lld,%lld): got %.9g want %.9g (dot %lld)",
                      ks->name, N == 1 ? "gemv" : "gemm", (long long)M, (long long)K, (long long)N, bits,
                      extreme ? " extreme" : "", (long long)m, (long long)c, (double)got, (double)want, (long long)dot);
                bad = 1;
            }
            double r = Yr[m * N + c], tol = teq_ktol(K, as * w.scale[m]) + 1e-30;
            if (!(fabs((double)got - r) <= tol)) {
                CHECK(0, "%s i8 vs ref M=%lld K=%lld N=%lld (%lld,%lld): got %.9g ref %.9g", ks->name, (long long)M,
                      (long long)K, (long long)N, (long long)m, (long long)c, (double)got, r);
                bad = 1;
            }
        }
    if (N > 1) /* the gap between N and ldy stays untouched */
        for (int64_t m = 0; m < M && !bad; m++)
            for (int64_t c = N; c < ldy; c++)
                if (Y[m * ldy + c] != -1234.5f) {
                    CHECK(0, "%s i8_gemm wrote past N", ks->name);
                    bad = 1;
                    break;
                }
    teq_kw_free(&w);
    free(wc), free(rs), free(X), free(Y), free(A), free(Yr);
    return !bad;
}

static void test_i8(const kset_case *ks) {
    static const int64_t Ks[] = {1, 31, 63, 64, 65, 97, 127, 128, 129, 1021, 4320};
    static const int64_t Ns[] = {1, 2, 3, 4, 5, 7, 13};
    int ok = 1, cases = 0;
    for (size_t i = 0; i < sizeof Ks / sizeof *Ks; i++)
        for (size_t j = 0; j < sizeof Ns / sizeof *Ns; j++) {
            int64_t M = SIZES_M[next() % N_SIZES_M];
            ok &= i8_case(ks, M, Ks[i], Ns[j], 8, 0), cases++;
            ok &= i8_case(ks, M, Ks[i], Ns[j], 8, 1), cases++; /* 255 x +-127: maddubs saturation */
            ok &= i8_case(ks, M, Ks[i], Ns[j], 2 + (int)(next() % 6), 0), cases++;
            /* 7 bits at the extremes (codes 255, weights +-63): the one-maddubs path of AVX2, pair sums 32130 */
            ok &= i8_case(ks, M, Ks[i], Ns[j], 7, 1), cases++;
        }
    ok &= i8_case(ks, 120, 480, 40, 8, 0), cases++;   /* PP-OCRv4 rec pointwise conv */
    ok &= i8_case(ks, 64, 288, 97, 8, 1), cases++;    /* a 3x3 conv over 32 channels */
    ok &= i8_case(ks, 257, 4096, 1, 8, 1), cases++;   /* weight-bound GEMV */
    CHECK(ok, "%s int8", ks->name);
    printf("%s: INT8 gemv + gemm, %d cases exact: %s\n", ks->name, cases, ok ? "ok" : "FAIL");
}

/* ---- trimmed INT8 weights (teq_kw_trim): the packed codes dropped, q8 read instead ----
 * Against the same weights untrimmed: every code, the decoded floats bit for bit, the reference kernel's
 * sums bit for bit, the INT8 GEMM bit for bit (q8 untouched), and the float GEMV within teq_ktol of the
 * untrimmed one (another summation order). A code read off by one from q8 fails the first check. */
static void test_trim(void) {
    static const int64_t Ks[] = {1, 9, 25, 64, 65, 480};
    int ok = 1, cases = 0;
    for (size_t i = 0; i < sizeof Ks / sizeof *Ks; i++)
        for (int bits = 2; bits <= 8; bits++) {
            const int64_t M = SIZES_M[next() % N_SIZES_M], K = Ks[i], N = 3;
            teq_qparams qw = {.kind = TEQ_CODE_LINEAR, .bits = bits, .is_signed = 1, .scale = 0.003 + 0.01 * unit()};
            teq_qparams qa = {.kind = TEQ_CODE_LINEAR, .bits = 8, .is_signed = 0, .scale = 0.02, .zero_point = 7};
            const int half = 1 << (bits - 1);
            uint8_t *wc = malloc((size_t)(M * K)), *X = NULL;
            float rs[32];
            for (int64_t j = 0; j < M * K; j++) wc[j] = (uint8_t)(1 + next() % (uint64_t)(2 * half - 1));
            for (int64_t m = 0; m < M; m++) rs[m] = (float)(0.5 + unit());
            teq_kw a, b;
            teq_error err = {0};
            if (teq_kw_init(&a, &qw, M, K, wc, rs, &err) || teq_kw_init(&b, &qw, M, K, wc, rs, &err)) {
                CHECK(0, "kw_init: %s", err.msg);
                free(wc);
                return;
            }
            teq_kw_trim(&b, (i & 1) != 0);
            int bad = b.packed != NULL || ((i & 1) == 0 && b.q8p != NULL);
            for (int64_t m = 0; m < M && !bad; m++)
                for (int64_t k = 0; k < K && !bad; k++) bad = teq_kw_code(&a, m, k) != teq_kw_code(&b, m, k);
            float *da = malloc(sizeof(float) * (size_t)(M * K)), *db = malloc(sizeof(float) * (size_t)(M * K));
            float *A = malloc(sizeof(float) * (size_t)(K * N)), ya[3 * 32], yb[3 * 32];
            X = malloc((size_t)(a.K4 * N));
            teq_k_decode(&a, da, 1), teq_k_decode(&b, db, 1);
            bad |= memcmp(da, db, sizeof(float) * (size_t)(M * K)) != 0;
            for (int64_t c = 0; c < N; c++)
                for (int64_t k = 0; k < a.K4; k++) X[c * a.K4 + k] = k < K ? (uint8_t)(next() % 256) : 7;
            for (int64_t k = 0; k < K; k++)
                for (int64_t c = 0; c < N; c++) A[k * N + c] = (float)(qa.scale * (X[c * a.K4 + k] - 7));
            teq_kref_i8_gemm(&a, &qa, A, N, 1, N, ya, N, 1, 0, 1), teq_kref_i8_gemm(&b, &qa, A, N, 1, N, yb, N, 1, 0, 1);
            bad |= memcmp(ya, yb, sizeof(float) * (size_t)(M * N)) != 0;
            teq_k_i8_gemm(&a, X, N, 7, 0.02f, ya, N, 1), teq_k_i8_gemm(&b, X, N, 7, 0.02f, yb, N, 1);
            bad |= memcmp(ya, yb, sizeof(float) * (size_t)(M * N)) != 0;
            teq_k_gemv(&a, A, ya, 1), teq_k_gemv(&b, A, yb, 1); /* x: the first K floats of A */
            for (int64_t m = 0; m < M && !bad; m++) {
                double as = 0;
                for (int64_t k = 0; k < K; k++) as += fabs((double)da[m * K + k] * A[k]);
                bad = !(fabs((double)ya[m] - yb[m]) <= 2 * teq_ktol(K, as));
            }
            CHECK(!bad, "trimmed int8 weights M=%lld K=%lld bits=%d differ from untrimmed", (long long)M, (long long)K,
                  bits);
            ok &= !bad, cases++;
            teq_kw_free(&a), teq_kw_free(&b);
            free(wc), free(da), free(db), free(A), free(X);
        }
    printf("trimmed INT8 weights: %d cases as untrimmed: %s\n", cases, ok ? "ok" : "FAIL");
}

/* ---- INT8 convolution from codes (i8_conv) ----
 * Against the definition in int64: each output's sum over the taps of the UNPADDED input, a tap outside
 * it reading the padding code; then the formula bit for bit, and within 2^-21 relative of the same value
 * in double (brute force, no float rounding on the way). Columns run in pieces from random multiples of
 * the panel width, the panel starts as garbage, and the gap between rows (ldy > S) must stay untouched.
 * With a bias the post callback negates each finished block: every output exactly once. */
typedef struct { int64_t C, IH, IW, M, KH, KW, SH, SW, DH, DW, pt, pb, pl, pr; } conv_shape;

/* the post callback of the test: negate the block in place (a block done twice, or not at all, shows) */
static void negate_block(void *user, float *Y, int64_t ldy, int64_t M, int64_t n0, int64_t n1) {
    (void)user;
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < n1 - n0; n++) Y[m * ldy + n] = -Y[m * ldy + n];
}

/* The columns S .. ldy-1 of every row still hold the sentinel the test wrote there. */
static int gap_untouched(const float *Y, int64_t M, int64_t S, int64_t ldy) {
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = S; n < ldy; n++)
            if (Y[m * ldy + n] != -1234.5f) return 0;
    return 1;
}

/* Row m of Y (stride ldy, each value negated where neg: the post callback's doing) against Z (stride S), bit for
 * bit; the first difference fails a CHECK naming what and where. 1: the same. */
static int same_bits_yz(const float *Y, int64_t ldy, int neg, const float *Z, int64_t M, int64_t S, const char *set,
                        const char *what) {
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < S; n++) {
            const float one = neg ? -Y[m * ldy + n] : Y[m * ldy + n];
            if (memcmp(&one, &Z[m * S + n], 4)) {
                CHECK(0, "%s %s differs at (%lld,%lld): %.9g, other %.9g", set, what, (long long)m, (long long)n,
                      (double)one, (double)Z[m * S + n]);
                return 0;
            }
        }
    return 1;
}

/* An activation in the store (teq_kpost.act): Ya, n outputs with it, against the Relu or Clip operator's
 * expression (kernels.h TEQ_KACT_*) on Yn, the same outputs without it, bit for bit; *nan_in counts the NaNs of
 * Yn (a NaN planted in the input must reach some: Relu gives 0 there, Clip keeps NaN). 1: all match. */
static int act_matches(const char *set, const char *what, const teq_kpost *act, const float *Yn, const float *Ya,
                       int64_t n, int *nan_in) {
    const float lo = act->lo, hi = act->hi;
    for (int64_t i = 0; i < n; i++) {
        const float v = Yn[i];
        const float want = act->act == TEQ_KACT_RELU ? (v > 0 ? v : 0) : (v < lo ? lo : v) > hi ? hi : (v < lo ? lo : v);
        *nan_in += isnan(v);
        if (memcmp(&want, &Ya[i], 4)) {
            CHECK(0, "%s %s %s in the store: %.9g, want %.9g (from %.9g)", set, what,
                  act->act == TEQ_KACT_RELU ? "Relu" : "Clip", (double)Ya[i], (double)want, (double)v);
            return 0;
        }
    }
    return 1;
}

/* The padded planes and outputs of a test shape, as nn.c computes them. */
static teq_i8conv conv_geom(const conv_shape *cs) {
    const int64_t OH = (cs->IH + cs->pt + cs->pb - ((cs->KH - 1) * cs->DH + 1)) / cs->SH + 1;
    const int64_t OW = (cs->IW + cs->pl + cs->pr - ((cs->KW - 1) * cs->DW + 1)) / cs->SW + 1;
    const int64_t needh = (OH - 1) * cs->SH + (cs->KH - 1) * cs->DH + 1, needw = (OW - 1) * cs->SW + (cs->KW - 1) * cs->DW + 1;
    return (teq_i8conv){.C = cs->C, .PH = cs->IH + cs->pt > needh ? cs->IH + cs->pt : needh,
                        .PW = cs->IW + cs->pl > needw ? cs->IW + cs->pl : needw, .KH = cs->KH, .KW = cs->KW,
                        .SH = cs->SH, .SW = cs->SW, .DH = cs->DH, .DW = cs->DW, .OH = OH, .OW = OW};
}

/* the convolution shapes every conv kernel is tested on */
static const conv_shape CONV_SHAPES[] = {
    /* C  IH  IW   M  KH KW SH SW DH DW pt pb pl pr */
    {16, 12, 20, 24, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},   /* pointwise */
    {3, 17, 23, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    /* K = 27 (not a multiple of 4), M = 13 */
    {8, 16, 16, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},     /* stride 2 */
    {5, 9, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},       /* OW = 7: runs span output rows */
    {6, 9, 13, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     /* OW = 13: a vector and a masked tail per run */
    {3, 41, 67, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},    /* stride 2, OW = 34: the FP32 kernel from deinterleaved rows */
    {5, 20, 50, 10, 5, 5, 2, 2, 1, 1, 2, 2, 2, 1},    /* the same at 5x5, OW = 25, uneven pads */
    {4, 11, 13, 17, 5, 5, 2, 2, 2, 2, 4, 3, 4, 2},    /* dilation 2, stride 2, uneven pads */
    {6, 10, 31, 8, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1},     /* stride 3 (the gathered path) */
    {7, 1, 150, 11, 1, 5, 1, 1, 1, 1, 0, 0, 2, 2},    /* 1-D */
    {96, 6, 40, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    /* K = 864 */
    {2, 3, 3, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},       /* 9 outputs, fewer than a vector */
    {12, 4, 100, 64, 1, 3, 1, 2, 1, 1, 0, 0, 1, 1},   /* stride 2 along x only */
    {5, 9, 45, 7, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2},      /* dilation 2, stride 1, OW = 45: f32_conv direct, tails */
    {20, 7, 8, 24, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},     /* pointwise, 56 columns: a panel of 48 and one of 8 */
    {8, 9, 30, 72, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     /* M = 72: the mv layout's blocks of 64 and of 8 (1 vector) */
    {5, 7, 100, 130, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   /* M = 130, OW = 100: 3 blocks, rows of 2 segments */
    {6, 19, 41, 48, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},    /* stride 2, M = 48 (3 vectors), OW = 21 */
    {4, 11, 27, 33, 3, 3, 1, 3, 2, 1, 2, 2, 1, 1},    /* stride 3 along x, dilation 2 along y, M = 33 */
    {130, 8, 101, 20, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},  /* pointwise, K = 130: 2 slices, chunks of 2 blocks, a tail */
    {6, 30, 40, 10, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0},    /* 3x1: output rows follow in the planes, chunks of 16 */
    {6, 12, 70, 10, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2},    /* 5x5, stride 1: INT8 k-groups from two rows of 5 taps */
    {4, 6, 60, 9, 3, 7, 1, 1, 2, 1, 1, 1, 3, 3},      /* 3x7, dilation 2 down: rows of 7 taps, DH > 1 */
};

/* extreme: 1 the saturating worst case (weights +-127, codes 255); narrow: weights within +-64 (7-bit, the
 * AVX2 bytes kernel's case, teq_kw.q8_pairs), extreme then +-64 against 255 (pair sums at 32640, the most
 * int16 holds of them) */
static int i8conv_case(const kset_case *ks, const conv_shape *cs, int bias_on, int extreme, int narrow) {
    const int64_t C = cs->C, IH = cs->IH, IW = cs->IW, M = cs->M, KH = cs->KH, KW = cs->KW;
    const teq_i8conv g = conv_geom(cs);
    const int64_t OH = g.OH, OW = g.OW;
    const int64_t K = C * KH * KW, S = OH * OW, ldy = S + (int64_t)(next() % 3);
    const int32_t zp = (int32_t)(next() % 256);
    const uint8_t pc = (uint8_t)(next() % 256);
    const float xs = (float)(0.01 + 0.1 * unit());
    teq_qparams qw = {.kind = TEQ_CODE_LINEAR, .bits = 8, .is_signed = 1, .scale = 0.003 + 0.01 * unit()};
    uint8_t *wc = malloc((size_t)(M * K)), *X = malloc((size_t)(C * IH * IW)), *Q = malloc((size_t)(C * g.PH * g.PW));
    float *rs = malloc(sizeof(float) * (size_t)M), *bias = malloc(sizeof(float) * (size_t)M);
    float *Y = malloc(sizeof(float) * (size_t)(M * ldy));
    for (int64_t i = 0; i < M * K; i++)
        wc[i] = narrow ? (extreme ? ((next() & 1) ? 192 : 64) : (uint8_t)(64 + next() % 129))
                       : extreme ? ((next() & 1) ? 255 : 1) : (uint8_t)(1 + next() % 255);
    for (int64_t i = 0; i < C * IH * IW; i++) X[i] = extreme ? 255 : (uint8_t)(next() % 256);
    for (int64_t m = 0; m < M; m++) rs[m] = (float)(0.5 + unit()), bias[m] = (float)(laplace() * 3);
    memset(Q, pc, (size_t)(C * g.PH * g.PW));
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < IH; y++) memcpy(Q + (c * g.PH + y + cs->pt) * g.PW + cs->pl, X + (c * IH + y) * IW, (size_t)IW);
    teq_kw w;
    teq_error err = {0};
    int bad = 0;
    if (teq_kw_init(&w, &qw, M, K, wc, rs, &err) != TEQ_OK) {
        CHECK(0, "kw_init: %s", err.msg);
        bad = 1;
        goto out;
    }
    /* the pair flag: set for narrow weights; the full-range ones of these shapes always hold a pair over 128 */
    if (w.q8_pairs != narrow) {
        CHECK(0, "i8_conv C=%lld M=%lld: q8_pairs %d for %s weights", (long long)C, (long long)M, w.q8_pairs,
              narrow ? "7-bit" : "full-range");
        bad = 1;
    }
    uint8_t *panel = malloc(TEQ_I8C_PANEL_BYTES(w.Kq));
    for (size_t i = 0; i < TEQ_I8C_PANEL_BYTES(w.Kq); i++) panel[i] = (uint8_t)next();
    for (int64_t i = 0; i < M * ldy; i++) Y[i] = -1234.5f;
    for (int64_t n0 = 0; n0 < S;) {
        int64_t n1 = n0 + TEQ_I8C_NB * (int64_t)(1 + next() % 3);
        if (n1 > S) n1 = S;
        const teq_kpost neg = {.fn = negate_block};
        ks->ks->i8_conv(&w, &g, Q, zp, xs, bias_on ? bias : NULL, Y + n0, ldy, n0, n1, panel, bias_on ? &neg : NULL);
        n0 = n1;
    }
    free(panel);
    for (int64_t m = 0; m < M && !bad; m++)
        for (int64_t n = 0; n < S && !bad; n++) {
            const int64_t oy = n / OW, ox = n % OW;
            int64_t d = 0;
            for (int64_t c = 0; c < C; c++)
                for (int64_t ky = 0; ky < KH; ky++)
                    for (int64_t kx = 0; kx < KW; kx++) {
                        const int64_t iy = oy * cs->SH + ky * cs->DH - cs->pt, ix = ox * cs->SW + kx * cs->DW - cs->pl;
                        const int a = iy >= 0 && iy < IH && ix >= 0 && ix < IW ? X[(c * IH + iy) * IW + ix] : pc;
                        d += (int64_t)(wc[m * K + (c * KH + ky) * KW + kx] - 128) * (a - zp);
                    }
            float want = (w.scale[m] * xs) * (float)d;
            if (bias_on) want = want + bias[m];
            const float got = bias_on ? -Y[m * ldy + n] : Y[m * ldy + n]; /* with bias, the post negated it */
            const double exact = (double)w.scale[m] * xs * (double)d + (bias_on ? bias[m] : 0.0);
            const double tol = 0x1p-21 * (fabs((double)w.scale[m] * xs * (double)d) + (bias_on ? fabs(bias[m]) : 0.0));
            if (memcmp(&want, &got, 4) || !(fabs(got - exact) <= tol)) {
                CHECK(0, "%s i8_conv C=%lld %lldx%lld M=%lld k%lldx%lld s%lld,%lld d%lld,%lld (%lld,%lld): got %.9g want %.9g exact %.9g",
                      ks->name, (long long)C, (long long)IH, (long long)IW, (long long)M, (long long)KH, (long long)KW,
                      (long long)cs->SH, (long long)cs->SW, (long long)cs->DH, (long long)cs->DW, (long long)m,
                      (long long)n, (double)got, (double)want, exact);
                bad = 1;
            }
        }
    if (!bad && !gap_untouched(Y, M, S, ldy)) {
        CHECK(0, "%s i8_conv wrote past S", ks->name);
        bad = 1;
    }
    teq_kw_free(&w);
out:
    free(wc), free(X), free(Q), free(rs), free(bias), free(Y);
    return !bad;
}

static void test_i8conv(const kset_case *ks) {
    if (!ks->ks->i8_conv) {
        printf("%s: no INT8 convolution kernel (im2col + i8_gemm instead)\n", ks->name);
        return;
    }
    int ok = 1, cases = 0;
    for (size_t i = 0; i < sizeof CONV_SHAPES / sizeof *CONV_SHAPES; i++)
        for (int v = 0; v < 5; v++) ok &= i8conv_case(ks, &CONV_SHAPES[i], v != 1, v == 2 || v == 4, v >= 3), cases++;
    CHECK(ok, "%s i8_conv", ks->name);
    printf("%s: INT8 convolution, %d cases exact (%d with 7-bit weights: the AVX2 bytes kernel): %s\n", ks->name,
           cases, 2 * (int)(sizeof CONV_SHAPES / sizeof *CONV_SHAPES), ok ? "ok" : "FAIL");
}

/* ---- FP32 convolution (f32_conv) ----
 * Against brute force in double over the unpadded input (a tap outside it reads the padding value): every
 * output within teq_ktol(K + 1, sum_k |w x| + |bias|), the accumulation of K products in any order plus
 * the bias add. Pieces, garbage panels, the untouched gap and the post callback as for i8_conv. And the
 * threaded driver (teq_k_f32_conv, 2 threads) gives the same bits as one call of the set's kernel. */
static int n_deint; /* f32conv_case runs on deinterleaved rows */
static int n_act;   /* and with an activation in the store */
static int n_same_avx2; /* a set other than AVX2 against AVX2's kernel */

static int n_mv; /* f32conv_case runs on the mv layout */

/* Yref: the [M/6][K][6] layout's outputs of the same call (with bias: negated by the post, ldy) */
static int f32conv_mv_case(const kset_case *ks, const teq_i8conv *g, const float *W, int64_t M, int64_t K,
                           const float *P, const float *bias, const float *Yref, int64_t ldy, int64_t S) {
    teq_kwf w, wr;
    teq_error err = {0};
    if (teq_kwf_init_mv(&w, M, K, W, &err) != TEQ_OK || teq_kwf_init(&wr, M, K, W, &err) != TEQ_OK) {
        CHECK(0, "kwf_init_mv: %s", err.msg);
        return 0;
    }
    int bad = 0;
    const size_t pf = TEQ_F32C_PANEL_FLOATS(K);
    float *panel = malloc(sizeof(float) * pf), *Y = malloc(sizeof(float) * (size_t)(M * ldy));
    float *Ya = malloc(sizeof(float) * (size_t)(M * S)), *Yb = malloc(sizeof(float) * (size_t)(M * S));
    for (size_t i = 0; i < pf; i++) panel[i] = (float)laplace() * 1e3f;
    for (int64_t i = 0; i < M * ldy; i++) Y[i] = -1234.5f;
    for (int64_t n0 = 0; n0 < S;) {
        int64_t n1 = n0 + TEQ_I8C_NB * (int64_t)(1 + next() % 3);
        if (n1 > S) n1 = S;
        const teq_kpost neg = {.fn = negate_block};
        ks->ks->f32_conv(&w, g, P, bias, Y + n0, ldy, n0, n1, panel, bias ? &neg : NULL);
        n0 = n1;
    }
    for (int64_t m = 0; m < M && !bad; m++)
        for (int64_t n = 0; n < S && !bad; n++)
            if (memcmp(&Y[m * ldy + n], &Yref[m * ldy + n], 4)) {
                CHECK(0, "%s f32_conv, mv layout, differs at (%lld,%lld) of M=%lld C=%lld k%lldx%lld s%lld,%lld: %.9g, want %.9g",
                      ks->name, (long long)m, (long long)n, (long long)M, (long long)g->C, (long long)g->KH,
                      (long long)g->KW, (long long)g->SH, (long long)g->SW, (double)Y[m * ldy + n],
                      (double)Yref[m * ldy + n]);
                bad = 1;
            }
    if (!bad && !gap_untouched(Y, M, S, ldy)) {
        CHECK(0, "%s f32_conv, mv layout, wrote past S", ks->name);
        bad = 1;
    }
    /* the weights where a dec pack puts them (teq_ql_decode_kwf: scratch, no alignment promised): a copy 4
     * bytes off a 64-byte boundary, one call over every column */
    if (!bad) {
        const int64_t Mb = (M + 63) / 64, nw = 64 * K * (Mb - 1) + K * 16 * ((M - 64 * (Mb - 1) + 15) / 16);
        float *mem = aligned_alloc(64, sizeof(float) * (size_t)(nw + 32));
        teq_kwf wu = w;
        wu.p = mem + 1;
        memcpy(wu.p, w.p, sizeof(float) * (size_t)nw);
        ks->ks->f32_conv(&w, g, P, bias, Ya, S, 0, S, panel, NULL);
        ks->ks->f32_conv(&wu, g, P, bias, Yb, S, 0, S, panel, NULL);
        if (memcmp(Ya, Yb, sizeof(float) * (size_t)(M * S))) {
            CHECK(0, "%s f32_conv, mv layout, from unaligned weights differs", ks->name);
            bad = 1;
        }
        free(mem);
    }
    /* Relu and Clip in the store, one call each, against the rows layout's */
    for (int a = TEQ_KACT_RELU; a <= TEQ_KACT_CLIP && !bad; a++) {
        const teq_kpost act = {.act = a, .lo = -0.5f, .hi = 0.75f};
        ks->ks->f32_conv(&w, g, P, bias, Ya, S, 0, S, panel, &act);
        ks->ks->f32_conv(&wr, g, P, bias, Yb, S, 0, S, panel, &act);
        if (memcmp(Ya, Yb, sizeof(float) * (size_t)(M * S))) {
            CHECK(0, "%s f32_conv, mv layout, %s in the store differs", ks->name, a == TEQ_KACT_RELU ? "Relu" : "Clip");
            bad = 1;
        }
    }
    /* from deinterleaved rows (stride 2, the geometry the direct path takes) */
    if (!bad && g->SW == 2 && g->DW == 1) {
        const int64_t HE = (g->PW + 1) / 2;
        float *Pd = malloc(sizeof(float) * (size_t)(g->C * g->PH * g->PW));
        for (int64_t r = 0; r < g->C * g->PH; r++)
            for (int64_t q = 0; q < g->PW; q++) Pd[r * g->PW + (q & 1) * HE + q / 2] = P[r * g->PW + q];
        teq_i8conv gd = *g;
        gd.deint = 1;
        ks->ks->f32_conv(&w, &gd, Pd, bias, Ya, S, 0, S, panel, NULL);
        ks->ks->f32_conv(&wr, g, P, bias, Yb, S, 0, S, panel, NULL);
        if (memcmp(Ya, Yb, sizeof(float) * (size_t)(M * S))) {
            CHECK(0, "%s f32_conv, mv layout, from deinterleaved rows differs", ks->name);
            bad = 1;
        }
        free(Pd);
    }
    n_mv++;
    free(panel), free(Y), free(Ya), free(Yb);
    teq_kwf_free(&w), teq_kwf_free(&wr);
    return !bad;
}

static int f32conv_case(const kset_case *ks, const conv_shape *cs, int bias_on) {
    const int64_t C = cs->C, IH = cs->IH, IW = cs->IW, M = cs->M, KH = cs->KH, KW = cs->KW;
    const teq_i8conv g = conv_geom(cs);
    const int64_t OH = g.OH, OW = g.OW;
    const int64_t K = C * KH * KW, S = OH * OW, ldy = S + (int64_t)(next() % 3);
    const float pv = bias_on ? (float)laplace() : 0.0f;
    float *W = malloc(sizeof(float) * (size_t)(M * K)), *X = malloc(sizeof(float) * (size_t)(C * IH * IW));
    float *P = malloc(sizeof(float) * (size_t)(C * g.PH * g.PW)), *bias = malloc(sizeof(float) * (size_t)M);
    float *Y = malloc(sizeof(float) * (size_t)(M * ldy)), *Y2 = malloc(sizeof(float) * (size_t)(M * S));
    for (int64_t i = 0; i < M * K; i++) W[i] = (float)laplace();
    for (int64_t i = 0; i < C * IH * IW; i++) X[i] = (float)(laplace() * 4);
    for (int64_t m = 0; m < M; m++) bias[m] = (float)(laplace() * 3);
    for (int64_t i = 0; i < C * g.PH * g.PW; i++) P[i] = pv;
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < IH; y++)
            memcpy(P + (c * g.PH + y + cs->pt) * g.PW + cs->pl, X + (c * IH + y) * IW, sizeof(float) * (size_t)IW);
    teq_kwf w;
    teq_error err = {0};
    int bad = 0;
    if (teq_kwf_init(&w, M, K, W, &err) != TEQ_OK) {
        CHECK(0, "kwf_init: %s", err.msg);
        bad = 1;
        goto out;
    }
    float *panel = malloc(sizeof(float) * TEQ_F32C_PANEL_FLOATS(K));
    for (size_t i = 0; i < TEQ_F32C_PANEL_FLOATS(K); i++) panel[i] = (float)laplace() * 1e3f;
    for (int64_t i = 0; i < M * ldy; i++) Y[i] = -1234.5f;
    for (int64_t n0 = 0; n0 < S;) {
        int64_t n1 = n0 + TEQ_I8C_NB * (int64_t)(1 + next() % 3);
        if (n1 > S) n1 = S;
        const teq_kpost neg = {.fn = negate_block};
        ks->ks->f32_conv(&w, &g, P, bias_on ? bias : NULL, Y + n0, ldy, n0, n1, panel, bias_on ? &neg : NULL);
        n0 = n1;
    }
    free(panel);
    for (int64_t m = 0; m < M && !bad; m++)
        for (int64_t n = 0; n < S && !bad; n++) {
            const int64_t oy = n / OW, ox = n % OW;
            double d = 0, a = 0;
            for (int64_t c = 0; c < C; c++)
                for (int64_t ky = 0; ky < KH; ky++)
                    for (int64_t kx = 0; kx < KW; kx++) {
                        const int64_t iy = oy * cs->SH + ky * cs->DH - cs->pt, ix = ox * cs->SW + kx * cs->DW - cs->pl;
                        const double x = iy >= 0 && iy < IH && ix >= 0 && ix < IW ? X[(c * IH + iy) * IW + ix] : pv;
                        const double p = (double)W[m * K + (c * KH + ky) * KW + kx] * x;
                        d += p, a += fabs(p);
                    }
            if (bias_on) d += bias[m], a += fabs(bias[m]);
            const float got = bias_on ? -Y[m * ldy + n] : Y[m * ldy + n];
            if (!(fabs(got - d) <= teq_ktol(K + 1, a))) {
                CHECK(0, "%s f32_conv C=%lld %lldx%lld M=%lld k%lldx%lld s%lld,%lld d%lld,%lld (%lld,%lld): got %.9g want %.9g",
                      ks->name, (long long)C, (long long)IH, (long long)IW, (long long)M, (long long)KH, (long long)KW,
                      (long long)cs->SH, (long long)cs->SW, (long long)cs->DH, (long long)cs->DW, (long long)m,
                      (long long)n, (double)got, d);
                bad = 1;
            }
        }
    if (!bad && !gap_untouched(Y, M, S, ldy)) {
        CHECK(0, "%s f32_conv wrote past S", ks->name);
        bad = 1;
    }
    /* AVX-512's kernel against AVX2's: the same FMA chains in the same order, so the same bits (one call over
     * every column, no post, ldy = S, into Y2, which the driver's check below writes again) */
    const teq_kernel_set *k2 = teq_kset(TEQ_ISA_AVX2);
    if (!bad && k2 && k2->f32_conv && ks->ks != k2 && ks->ks->f32_conv != k2->f32_conv) {
        float *pn = malloc(sizeof(float) * TEQ_F32C_PANEL_FLOATS(K));
        k2->f32_conv(&w, &g, P, bias_on ? bias : NULL, Y2, S, 0, S, pn, NULL);
        free(pn);
        bad = !same_bits_yz(Y, ldy, bias_on, Y2, M, S, ks->name, "f32_conv against avx2's");
        n_same_avx2++;
    }
    /* the driver on 2 threads (when this set is the best one): the same bits, no post, ldy = S */
    if (!bad && ks->ks == teq_kset_best()) {
        CHECK(teq_k_f32_conv(&w, &g, P, bias_on ? bias : NULL, Y2, S, NULL, 2) == TEQ_OK, "teq_k_f32_conv");
        bad = !same_bits_yz(Y, ldy, bias_on, Y2, M, S, ks->name, "teq_k_f32_conv on 2 threads");
    }
    /* an activation in the store (teq_kpost.act, no fn): Relu and Clip against their operators' expressions on
     * the outputs without it, bit for bit; a NaN planted in the input reaches some outputs (Relu gives 0 there,
     * Clip keeps NaN) */
    if (!bad && ks->ks == teq_kset_best()) {
        float *Pn = malloc(sizeof(float) * (size_t)(C * g.PH * g.PW)), *Yn = malloc(sizeof(float) * (size_t)(M * S));
        float *Ya = malloc(sizeof(float) * (size_t)(M * S));
        memcpy(Pn, P, sizeof(float) * (size_t)(C * g.PH * g.PW));
        Pn[C / 2 * g.PH * g.PW] = NAN; /* tap (0, 0) of output (0, 0) reads it */
        CHECK(teq_k_f32_conv(&w, &g, Pn, bias_on ? bias : NULL, Yn, S, NULL, 1) == TEQ_OK, "teq_k_f32_conv");
        int nan_in = 0;
        for (int a = TEQ_KACT_RELU; a <= TEQ_KACT_CLIP && !bad; a++) {
            const teq_kpost act = {.act = a, .lo = -0.5f, .hi = 0.75f};
            CHECK(teq_k_f32_conv(&w, &g, Pn, bias_on ? bias : NULL, Ya, S, &act, 1) == TEQ_OK, "teq_k_f32_conv act");
            bad = !act_matches(ks->name, "f32_conv", &act, Yn, Ya, M * S, &nan_in);
        }
        CHECK(nan_in > 0, "%s f32_conv: the planted NaN reached no output", ks->name);
        n_act++;
        free(Pn), free(Yn), free(Ya);
    }
    /* stride 2 from deinterleaved rows (teq_i8conv.deint, the direct path): every row of P as its even columns
     * then its odd ones; the taps are summed in the same order, so the same bits as above */
    if (!bad && ks->ks == teq_kset_best() && teq_k_f32_conv_deint_ok(&w, &g)) {
        const int64_t HE = (g.PW + 1) / 2;
        float *Pd = malloc(sizeof(float) * (size_t)(C * g.PH * g.PW)), *Y3 = malloc(sizeof(float) * (size_t)(M * S));
        for (int64_t r = 0; r < C * g.PH; r++)
            for (int64_t q = 0; q < g.PW; q++) Pd[r * g.PW + (q & 1) * HE + q / 2] = P[r * g.PW + q];
        teq_i8conv gd = g;
        gd.deint = 1;
        CHECK(teq_k_f32_conv(&w, &gd, Pd, bias_on ? bias : NULL, Y3, S, NULL, 1) == TEQ_OK, "teq_k_f32_conv deint");
        if (memcmp(Y2, Y3, sizeof(float) * (size_t)(M * S))) {
            CHECK(0, "%s f32_conv from deinterleaved rows differs (C=%lld %lldx%lld k%lldx%lld)", ks->name, (long long)C,
                  (long long)IH, (long long)IW, (long long)KH, (long long)KW);
            bad = 1;
        }
        n_deint++;
        free(Pd), free(Y3);
    }
    /* the mv layout (teq_kwf_init_mv), where the set reads it: every shape, whatever M and geometry, against
     * the outputs above (pieces and post as above; an activation in the store; deinterleaved rows), bit for bit */
    if (!bad && ks->ks->f32_mv) bad = !f32conv_mv_case(ks, &g, W, M, K, P, bias_on ? bias : NULL, Y, ldy, S);
    teq_kwf_free(&w);
out:
    free(W), free(X), free(P), free(bias), free(Y), free(Y2);
    return !bad;
}


static void test_f32conv(const kset_case *ks) {
    if (!ks->ks->f32_conv) {
        printf("%s: no FP32 convolution kernel (im2col + SGEMM instead)\n", ks->name);
        return;
    }
    int ok = 1, cases = 0;
    for (size_t i = 0; i < sizeof CONV_SHAPES / sizeof *CONV_SHAPES; i++)
        for (int v = 0; v < 2; v++) ok &= f32conv_case(ks, &CONV_SHAPES[i], v), cases++;
    CHECK(ok, "%s f32_conv", ks->name);
    printf("%s: FP32 convolution, %d cases within teq_ktol of double: %s\n", ks->name, cases, ok ? "ok" : "FAIL");
    if (ks->ks->f32_mv) {
        CHECK(n_mv >= cases, "%s: %d f32_conv cases on the mv layout, want %d", ks->name, n_mv, cases);
        printf("%s: FP32 convolution, mv layout, %d cases bit for bit as the rows layout's\n", ks->name, n_mv);
        n_mv = 0;
    }
    if (!strncmp(ks->name, "avx512", 6)) {
        CHECK(n_same_avx2 >= cases, "%s: %d f32_conv cases against avx2's, want %d", ks->name, n_same_avx2, cases);
        printf("%s: FP32 convolution, %d cases bit for bit as avx2's\n", ks->name, n_same_avx2);
        n_same_avx2 = 0;
    }
    if (ks->ks == teq_kset_best()) {
        CHECK(n_deint >= 4, "%s: %d cases from deinterleaved stride-2 rows, want 4", ks->name, n_deint);
        printf("%s: %d stride-2 cases from deinterleaved rows, bit for bit as from the panel\n", ks->name, n_deint);
        CHECK(n_act > 0, "%s: no case with an activation in the store", ks->name);
        printf("%s: %d cases with Relu / Clip in the store, bit for bit as the operators\n", ks->name, n_act);
    }
}

/* ---- FP32 3x3 convolution by Winograd F(2x2, 3x3) (f32_wino) ----
 * Against the sum in double over the unpadded input (a tap outside it reading the pad value), each output within
 * kernels.h's bound (C + 8) 2^-24 S plus the bias addition's rounding, where S is built here from the transforms
 * of |g| and |d| in double: tol = (C + 9) 2^-24 (S + |bias|) (the extra term covers gamma_n = n u / (1 - n u)).
 * The set's kernel runs over random runs of tile rows with its scratch full of NaN (lanes past a block's tiles
 * are computed, never stored), the post callback negating each finished run of rows (every output exactly
 * once) and the gap between rows (ldy > S) untouched; then the driver on 2 threads (the same bits), Relu and
 * Clip in the store (the operators' expressions on the outputs without them, bit for bit), and the driver's
 * refusals. */
static int n_wino, n_wino_same;
static int f32wino_case(const kset_case *ks, int64_t C, int64_t M, int64_t IH, int64_t IW, int64_t dl,
                        const int64_t pad[4], int bias_on) {
    const conv_shape cs = {C, IH, IW, M, 3, 3, 1, 1, dl, dl, pad[0], pad[1], pad[2], pad[3]};
    const teq_i8conv g = conv_geom(&cs);
    const int64_t OH = g.OH, OW = g.OW, S = OH * OW, ldy = S + (int64_t)(next() % 3), K = 9 * C;
    if (OH < 1 || OW < 1) return 1;
    const float pv = bias_on ? (float)laplace() : 0.0f;
    float *W = malloc(sizeof(float) * (size_t)(M * K)), *P = malloc(sizeof(float) * (size_t)(C * g.PH * g.PW));
    float *bias = malloc(sizeof(float) * (size_t)M), *Y = malloc(sizeof(float) * (size_t)(M * ldy));
    float *Y2 = malloc(sizeof(float) * (size_t)(M * S)), *Ya = malloc(sizeof(float) * (size_t)(M * S));
    for (int64_t i = 0; i < M * K; i++) W[i] = (float)laplace();
    for (int64_t m = 0; m < M; m++) bias[m] = (float)(laplace() * 3);
    for (int64_t i = 0; i < C * g.PH * g.PW; i++) P[i] = pv;
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < IH; y++)
            for (int64_t x = 0; x < IW; x++) P[(c * g.PH + y + pad[0]) * g.PW + x + pad[2]] = (float)(laplace() * 4);
    teq_kwino w;
    teq_error err = {0};
    int bad = 0;
    if (teq_kwino_init(&w, M, C, W, &err) != TEQ_OK) {
        CHECK(0, "kwino_init: %s", err.msg);
        free(W), free(P), free(bias), free(Y), free(Y2), free(Ya);
        return 0;
    }
    const size_t sf = TEQ_WINO_SCRATCH_FLOATS(C);
    float *scratch = aligned_alloc(64, sizeof(float) * sf);
    for (size_t i = 0; i < sf; i++) scratch[i] = NAN;
    for (int64_t i = 0; i < M * ldy; i++) Y[i] = -1234.5f;
    const int64_t TH = (OH + 1) / 2;
    const teq_kpost neg = {.fn = negate_block};
    /* dilated: the driver (it splits the residues); the chain after every residue, once per output */
    if (dl > 1)
        CHECK(teq_k_f32_wino(&w, &g, P, bias_on ? bias : NULL, Y, ldy, bias_on ? &neg : NULL, 1) == TEQ_OK,
              "teq_k_f32_wino dilated");
    for (int64_t r0 = 0; r0 < TH && dl == 1;) {
        int64_t r1 = r0 + 1 + (int64_t)(next() % 4);
        if (r1 > TH) r1 = TH;
        ks->ks->f32_wino(&w, &g, P, bias_on ? bias : NULL, Y, ldy, r0, r1, scratch, bias_on ? &neg : NULL);
        r0 = r1;
    }
    free(scratch);
    /* B^T, G, A^T of kernels.h */
    static const double BT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
    static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    static const double AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
    for (int64_t m = 0; m < M && !bad; m++)
        for (int64_t n = 0; n < S && !bad; n++) {
            /* output (oy, ox) = (ry + dl (2 ty + i), rx + dl (2 tx + j)): its tile's patch is every dl-th input */
            const int64_t oy = n / OW, ox = n % OW, ry = oy % dl, rx = ox % dl;
            const int64_t ty = oy / dl / 2, tx = ox / dl / 2, i = oy / dl % 2, j = ox / dl % 2;
            double d = 0, sabs = 0;
            for (int64_t c = 0; c < C; c++) {
                double ad[4][4], ag[3][3], u[4][4], v[4][4];
                for (int a = 0; a < 4; a++)
                    for (int b = 0; b < 4; b++) {
                        const int64_t y = ry + dl * (2 * ty + a), x = rx + dl * (2 * tx + b);
                        ad[a][b] = y < g.PH && x < g.PW ? fabs(P[(c * g.PH + y) * g.PW + x]) : 0;
                    }
                for (int a = 0; a < 3; a++)
                    for (int b = 0; b < 3; b++) {
                        const double wv = W[m * K + c * 9 + a * 3 + b];
                        ag[a][b] = fabs(wv);
                        d += wv * P[(c * g.PH + oy + dl * a) * g.PW + ox + dl * b];
                    }
                for (int a = 0; a < 4; a++)
                    for (int b = 0; b < 4; b++) {
                        double su = 0, sv = 0;
                        for (int p = 0; p < 3; p++)
                            for (int q = 0; q < 3; q++) su += G[a][p] * ag[p][q] * G[b][q];
                        for (int p = 0; p < 4; p++)
                            for (int q = 0; q < 4; q++) sv += fabs(BT[a][p]) * ad[p][q] * fabs(BT[b][q]);
                        u[a][b] = fabs(su), v[a][b] = sv;
                    }
                for (int a = 0; a < 4; a++)
                    for (int b = 0; b < 4; b++) sabs += fabs(AT[i][a]) * fabs(AT[j][b]) * u[a][b] * v[a][b];
            }
            if (bias_on) d += bias[m], sabs += fabs(bias[m]);
            const float got = bias_on ? -Y[m * ldy + n] : Y[m * ldy + n];
            if (!(fabs(got - d) <= (double)(C + 9) * (1.0 / 16777216.0) * sabs)) {
                CHECK(0, "%s f32_wino C=%lld %lldx%lld M=%lld d%lld pads %lld,%lld,%lld,%lld (%lld,%lld): got %.9g want %.9g (tol %.3g)",
                      ks->name, (long long)C, (long long)IH, (long long)IW, (long long)M, (long long)dl, (long long)pad[0],
                      (long long)pad[1], (long long)pad[2], (long long)pad[3], (long long)m, (long long)n, (double)got,
                      d, (double)(C + 9) * (1.0 / 16777216.0) * sabs);
                bad = 1;
            }
        }
    if (!bad && !gap_untouched(Y, M, S, ldy)) {
        CHECK(0, "%s f32_wino wrote past S", ks->name);
        bad = 1;
    }
    /* against AVX2's kernel: the same operations in the same order, so the same bits (undilated: the set's
     * kernel over every tile row, no post, into Ya) */
    const teq_kernel_set *k2 = teq_kset(TEQ_ISA_AVX2);
    if (!bad && dl == 1 && k2 && k2->f32_wino && ks->ks->f32_wino != k2->f32_wino) {
        float *sc2 = aligned_alloc(64, sizeof(float) * sf);
        for (size_t q = 0; q < sf; q++) sc2[q] = NAN;
        k2->f32_wino(&w, &g, P, bias_on ? bias : NULL, Ya, S, 0, TH, sc2, NULL);
        free(sc2);
        bad = !same_bits_yz(Y, ldy, bias_on, Ya, M, S, ks->name, "f32_wino against avx2's");
        n_wino_same++;
    }
    if (!bad && ks->ks == teq_kset_best()) {
        /* the driver on 2 threads: the same bits, no post, ldy = S */
        CHECK(teq_k_f32_wino(&w, &g, P, bias_on ? bias : NULL, Y2, S, NULL, 2) == TEQ_OK, "teq_k_f32_wino");
        bad = !same_bits_yz(Y, ldy, bias_on, Y2, M, S, ks->name, "teq_k_f32_wino on 2 threads");
        /* Relu and Clip in the store, as f32_conv's: from an input with a NaN planted (it reaches the four outputs
         * of the tiles that read it), into Ya, against the outputs without them (into Y2) */
        float *Pn = malloc(sizeof(float) * (size_t)(C * g.PH * g.PW));
        memcpy(Pn, P, sizeof(float) * (size_t)(C * g.PH * g.PW));
        Pn[C / 2 * g.PH * g.PW] = NAN; /* tap (0, 0) of output (0, 0) reads it, at any dilation */
        CHECK(teq_k_f32_wino(&w, &g, Pn, bias_on ? bias : NULL, Y2, S, NULL, 1) == TEQ_OK, "teq_k_f32_wino");
        int nan_in = 0;
        for (int a = TEQ_KACT_RELU; a <= TEQ_KACT_CLIP && !bad; a++) {
            const teq_kpost act = {.act = a, .lo = -0.5f, .hi = 0.75f};
            CHECK(teq_k_f32_wino(&w, &g, Pn, bias_on ? bias : NULL, Ya, S, &act, 1) == TEQ_OK, "teq_k_f32_wino act");
            bad = !act_matches(ks->name, "f32_wino", &act, Y2, Ya, M * S, &nan_in);
        }
        CHECK(nan_in > 0, "%s f32_wino: the planted NaN reached no output", ks->name);
        free(Pn);
        /* what it does not take */
        teq_i8conv g2 = g;
        g2.SW = 2;
        CHECK(teq_k_f32_wino(&w, &g2, P, NULL, Y2, S, NULL, 1) == TEQ_ERR_UNSUPPORTED, "f32_wino took stride 2");
        g2 = g, g2.DW = dl + 1;
        CHECK(teq_k_f32_wino(&w, &g2, P, NULL, Y2, S, NULL, 1) == TEQ_ERR_UNSUPPORTED, "f32_wino took DH != DW");
        g2 = g, g2.C = C + 1;
        CHECK(teq_k_f32_wino(&w, &g2, P, NULL, Y2, S, NULL, 1) == TEQ_ERR_UNSUPPORTED, "f32_wino took C != w.C");
        g2 = g, g2.OW = g.PW - 1;
        CHECK(teq_k_f32_wino(&w, &g2, P, NULL, Y2, S, NULL, 1) == TEQ_ERR_UNSUPPORTED, "f32_wino took taps outside");
    }
    n_wino++;
    teq_kwino_free(&w);
    free(W), free(P), free(bias), free(Y), free(Y2), free(Ya);
    return !bad;
}

/* The set's wino_fill against kw.c's teq_kwino_fill (the reference), bit for bit over the whole layout (the
 * last block's rows past M included, which both must zero): weights with zeros of both signs, subnormals
 * (flushed to a zero of their sign, as is a transform that lands below 2^-126), huge and tiny values, row counts
 * that do and do not fill a block; the range split into blocks (the way qlayer.c runs it on threads) against
 * one call; and the reference against the transform G g G^T in long double rounded to float. */
static void test_wino_fill(const kset_case *ks) {
    static const int64_t shapes[][2] = {{1, 1}, {8, 3}, {9, 16}, {23, 5}, {64, 64}, {13, 40}};
    int ok = 1, cases = 0, exact = 1;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const int64_t M = shapes[i][0], C = shapes[i][1], n = teq_kwino_floats(M, C);
        float *W = malloc(sizeof(float) * (size_t)(M * C * 9));
        float *ua = aligned_alloc(64, sizeof(float) * (size_t)(n + 16)), *ub = aligned_alloc(64, sizeof(float) * (size_t)(n + 16));
        for (int64_t k = 0; k < M * C * 9; k++) {
            const uint64_t r = next() % 16;
            W[k] = r == 0 ? 0.0f : r == 1 ? -0.0f : r == 2 ? 0x1p-130f * (float)(next() % 100) : r == 3 ? -0x1p-127f
                 : r == 4 ? 0x1.8p-126f : r == 5 ? 1e30f * (float)laplace() : (float)laplace();
        }
        for (int64_t k = 0; k < n + 16; k++) ua[k] = ub[k] = NAN;
        teq_kwino_fill(M, C, W, ua, 0, M);
        for (int64_t m0 = 0; m0 < M; m0 += TEQ_WINO_MR) ks->ks->wino_fill(M, C, W, ub, m0, m0 + TEQ_WINO_MR);
        ok &= !memcmp(ua, ub, sizeof(float) * (size_t)n);
        for (int64_t k = n; k < n + 16; k++) ok &= isnan(ua[k]) && isnan(ub[k]); /* nothing past the layout */
        for (int64_t k = 0; k < n; k++) ok &= !isnan(ua[k]);                     /* everything in it */
        for (int64_t k = 0; k < n + 16; k++) ub[k] = NAN;
        ks->ks->wino_fill(M, C, W, ub, 0, M);
        ok &= !memcmp(ua, ub, sizeof(float) * (size_t)n);
        /* the reference's values: G g G^T of each filter, rounded once (the sums of three floats in double are
         * exact here unless their exponents lie 29 or more apart, which the huge weights provoke: then the
         * double sum's rounding may move the float by one ulp at most) */
        static const long double G[4][3] = {{1, 0, 0}, {0.5L, 0.5L, 0.5L}, {0.5L, -0.5L, 0.5L}, {0, 0, 1}};
        const int64_t Mb = (M + TEQ_WINO_MR - 1) / TEQ_WINO_MR;
        for (int64_t m = 0; m < M; m++)
            for (int64_t c = 0; c < C; c++)
                for (int a = 0; a < 4; a++)
                    for (int b = 0; b < 4; b++) {
                        long double v = 0;
                        for (int y = 0; y < 3; y++)
                            for (int x = 0; x < 3; x++) v += G[a][y] * W[(m * C + c) * 9 + 3 * y + x] * G[b][x];
                        float f = (float)v;
                        f = teq_k_flush_subnormal(f);
                        const float got = ua[(((size_t)(4 * a + b) * (size_t)Mb + (size_t)(m / TEQ_WINO_MR)) * (size_t)C + (size_t)c) *
                                                 TEQ_WINO_MR + m % TEQ_WINO_MR];
                        if (got == f) continue;
                        exact = 0;
                        ok &= fabsf(got - f) <= 0x1p-23f * fabsf(f);
                    }
        cases++;
        free(W), free(ua), free(ub);
    }
    CHECK(ok, "%s wino_fill", ks->name);
    printf("%s: Winograd's weight transform, %d shapes bit for bit as the reference (teq_kwino_fill), which is G g G^T "
           "rounded once%s: %s\n", ks->name, cases, exact ? " exactly" : " (within an ulp)", ok ? "ok" : "FAIL");
}

static void test_f32wino(const kset_case *ks) {
    if (!ks->ks->f32_wino) {
        printf("%s: no Winograd kernel\n", ks->name);
        return;
    }
    /* M-LSD's and det's layers in small, and the edges: odd and tiny planes (one output row or column: the tile's
     * second row or column and the patch's last input row fall outside), row blocks of 8 and fewer, channel
     * counts past a block of tiles (teq_wino_nb: 32 .. 128 tiles), pads 0..2 on each side */
    static const int64_t shapes[][5] = {
        /* C, M, IH, IW, dilation (M-LSD's d = 5 layer; residues of one output row or none) */
        {16, 16, 40, 40, 1}, {64, 64, 20, 20, 1}, {128, 64, 10, 10, 1}, {3, 5, 9, 7, 1},   {17, 9, 1, 1, 1},
        {5, 23, 2, 3, 1},    {1, 1, 5, 5, 1},     {33, 8, 7, 35, 1},    {7, 31, 37, 3, 1}, {200, 12, 6, 9, 1},
        {24, 40, 33, 66, 1}, {9, 17, 1, 50, 1},   {16, 24, 30, 30, 5},  {6, 9, 11, 17, 2}, {3, 4, 7, 9, 3},
        {20, 8, 4, 13, 4},
    };
    int ok = 1, cases = 0;
    n_wino = n_wino_same = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        for (int v = 0; v < 2; v++) {
            int64_t pad[4];
            for (int k = 0; k < 4; k++) pad[k] = v ? (int64_t)(next() % 3) : 1;
            /* at least one output each way */
            const int64_t dl = shapes[i][4];
            for (int k = 0; k < 4; k++) pad[k] *= dl;
            if (shapes[i][2] + pad[0] + pad[1] < 2 * dl + 1) pad[1] = 2 * dl + 1 - shapes[i][2] - pad[0];
            if (shapes[i][3] + pad[2] + pad[3] < 2 * dl + 1) pad[3] = 2 * dl + 1 - shapes[i][3] - pad[2];
            ok &= f32wino_case(ks, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], dl, pad, v), cases++;
        }
    CHECK(ok, "%s f32_wino", ks->name);
    CHECK(n_wino == cases, "%s: %d Winograd cases ran of %d", ks->name, n_wino, cases);
    if (!strncmp(ks->name, "avx512", 6) && teq_kset(TEQ_ISA_AVX2)) {
        int undilated = 0;
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) undilated += 2 * (shapes[i][4] == 1);
        CHECK(n_wino_same == undilated, "%s: %d Winograd cases against avx2's, want %d", ks->name, n_wino_same, undilated);
        printf("%s: FP32 3x3 convolution by Winograd, %d cases bit for bit as avx2's\n", ks->name, n_wino_same);
    }
    printf("%s: FP32 3x3 convolution by Winograd, %d cases within (C + 9) 2^-24 (S + |bias|) of double: %s\n",
           ks->name, n_wino, ok ? "ok" : "FAIL");
    if (ks->ks->wino_fill) test_wino_fill(ks);
}

/* ---- integer lanes: the int16 convolution (i16_conv) exactly, then the lanes of exponential layers
 * against the reference kernel within their stated bound (ops/qlayer.h), every width 2..8 ----
 * The first: against the definition in int64 (the integers bounded as the operators bound them, so the
 * int32 sums cannot overflow), bit for bit. The second: exponential weights and activations fitted by
 * teq's search at each width, a convolution as im2col + teq_kref_exp_gemm (the exact definition) beside
 * teq_ql_lanes_prepare + i16_conv; every output within
 *     row_scale * sum_k (|lw| da/2 + |la| dw/2 + dw da/4) + teq_ktol(K, row_scale * sum |lw la|) + float
 * rounding of the output (2^-23 of it). */
static int i16conv_case(const kset_case *ks, const conv_shape *cs, int bias_on) {
    const int64_t C = cs->C, IH = cs->IH, IW = cs->IW, M = cs->M, KH = cs->KH, KW = cs->KW;
    const teq_i8conv g = conv_geom(cs);
    const int64_t OH = g.OH, OW = g.OW;
    const int64_t K = C * KH * KW, S = OH * OW, ldy = S + (int64_t)(next() % 3);
    const int L = (int)fmin(32767.0, floor(sqrt(2147483647.0 / (double)K)));
    const float xs = (float)(0.001 + 0.01 * unit());
    int16_t *wv = malloc(sizeof(int16_t) * (size_t)(M * K)), *Q = malloc(sizeof(int16_t) * (size_t)(C * g.PH * g.PW));
    float *sc = malloc(sizeof(float) * (size_t)M), *bias = malloc(sizeof(float) * (size_t)M);
    float *Y = malloc(sizeof(float) * (size_t)(M * ldy));
    for (int64_t i = 0; i < M * K; i++) wv[i] = (int16_t)((int64_t)(next() % (uint64_t)(2 * L + 1)) - L);
    for (int64_t i = 0; i < C * g.PH * g.PW; i++) Q[i] = (int16_t)((int64_t)(next() % (uint64_t)(2 * L + 1)) - L);
    for (int64_t i = 0; i < 4 && C * g.PH * g.PW > 0; i++) Q[next() % (uint64_t)(C * g.PH * g.PW)] = (int16_t)-L; /* extremes */
    for (int64_t m = 0; m < M; m++) sc[m] = (float)(0.5 + unit()), bias[m] = (float)(laplace() * 3);
    teq_kw16 w;
    teq_error err = {0};
    int bad = 0;
    CHECK(teq_kw16_init(&w, M, K, wv, sc, &err) == TEQ_OK, "kw16_init: %s", err.msg);
    int16_t *panel = malloc(sizeof(int16_t) * (size_t)(TEQ_I8C_NB * w.K2 + 32));
    for (int64_t i = 0; i < TEQ_I8C_NB * w.K2 + 32; i++) panel[i] = (int16_t)next();
    for (int64_t i = 0; i < M * ldy; i++) Y[i] = -1234.5f;
    for (int64_t n0 = 0; n0 < S;) {
        int64_t n1 = n0 + TEQ_I8C_NB * (int64_t)(1 + next() % 3);
        if (n1 > S) n1 = S;
        ks->ks->i16_conv(&w, &g, Q, xs, bias_on ? bias : NULL, Y + n0, ldy, n0, n1, panel, NULL);
        n0 = n1;
    }
    for (int64_t m = 0; m < M && !bad; m++)
        for (int64_t n = 0; n < S && !bad; n++) {
            const int64_t oy = n / OW, ox = n % OW;
            int64_t d = 0;
            for (int64_t c = 0; c < C; c++)
                for (int64_t ky = 0; ky < KH; ky++)
                    for (int64_t kx = 0; kx < KW; kx++)
                        d += (int64_t)wv[m * K + (c * KH + ky) * KW + kx] *
                             Q[(c * g.PH + oy * cs->SH + ky * cs->DH) * g.PW + ox * cs->SW + kx * cs->DW];
            float want = (sc[m] * xs) * (float)d;
            if (bias_on) want = want + bias[m];
            const float got = Y[m * ldy + n];
            if (memcmp(&want, &got, 4)) {
                CHECK(0, "%s i16_conv C=%lld %lldx%lld M=%lld k%lldx%lld (%lld,%lld): got %.9g want %.9g", ks->name,
                      (long long)C, (long long)IH, (long long)IW, (long long)M, (long long)KH, (long long)KW, (long long)m,
                      (long long)n, (double)got, (double)want);
                bad = 1;
            }
        }
    if (!bad && !gap_untouched(Y, M, S, ldy)) {
        CHECK(0, "%s i16_conv wrote past S", ks->name);
        bad = 1;
    }
    teq_kw16_free(&w);
    free(panel), free(wv), free(Q), free(sc), free(bias), free(Y);
    return !bad;
}

/* One exponential layer on lanes of width lb (16: teq_ql_lanes_prepare + i16_conv; 8: teq_ql_lanes8_prepare +
 * i8_conv) against the reference (see above): widths bw (weights) and ba. topr (8 bits): where > 0, the
 * activation grid tops at the code of that rank by |level| (1 the largest), so the codes above saturate:
 * outputs with a saturated term are held to the definition's clamped integers bit for bit, the others to
 * the bound of the grid's top too. */
static int lanes_case(int lb, int bw, int ba, int ib, int topr, const conv_shape *cs, double *worst) {
    const teq_qparams *qw = fitted(&fit_w[1], ib, bw), *qa = fitted(&fit_a[1], ib, ba);
    if (!qw || !qa) return -1; /* no code at this base and width */
    const int64_t C = cs->C, IH = cs->IH, IW = cs->IW, M = cs->M, KH = cs->KH, KW = cs->KW;
    const int64_t OH = IH - KH + 1, OW = IW - KW + 1, K = C * KH * KW, S = OH * OW; /* stride 1, no padding */
    const int nw = teq_q_num_codes(qw), na = teq_q_num_codes(qa);
    uint8_t *wc = malloc((size_t)(M * K)), *xc = malloc((size_t)(C * IH * IW));
    float *rs = malloc(sizeof(float) * (size_t)M), *col = malloc(sizeof(float) * (size_t)(K * S));
    float *Yr = malloc(sizeof(float) * (size_t)(M * S)), *Yl = malloc(sizeof(float) * (size_t)(M * S));
    int16_t *Q = malloc(sizeof(int16_t) * (size_t)(C * IH * IW));
    uint8_t *Q8 = malloc((size_t)(C * IH * IW));
    float lw[256], la[256];
    teq_q_code_table(qw, lw);
    teq_q_code_table(qa, la);
    double mw = 0, ma = 0;
    for (int c = 0; c < nw; c++) mw = fmax(mw, fabs(lw[c]));
    for (int c = 0; c < na; c++) ma = fmax(ma, fabs(la[c]));
    int top = -1; /* the code of rank topr by |level| (ties: the first) */
    double tl = ma;
    if (topr > 0) {
        double above = INFINITY;
        for (int r = 0; r < topr; r++) {
            double best = -1;
            for (int c = 0; c < na; c++)
                if (fabs(la[c]) < above && fabs(la[c]) > best) best = fabs(la[c]), top = c;
            above = best;
        }
        tl = fabs(la[top]);
        if (!(tl > 0)) { /* no such non-zero level at this width */
            free(wc), free(xc), free(rs), free(col), free(Yr), free(Yl), free(Q), free(Q8);
            return -1;
        }
    }
    if (!(mw * ma * (double)K < 1e30)) { /* sums beyond float range: the reference itself overflows */
        free(wc), free(xc), free(rs), free(col), free(Yr), free(Yl), free(Q), free(Q8);
        return -1;
    }
    for (int64_t i = 0; i < M * K; i++) wc[i] = (uint8_t)(next() % (uint64_t)nw);
    for (int64_t i = 0; i < C * IH * IW; i++) /* with a top: codes above it only in the left half's columns */
        do xc[i] = (uint8_t)(next() % (uint64_t)na);
        while (fabs(la[xc[i]]) > tl && i % IW >= IW / 2);
    /* and one for certain: input (0, 0, 0) at the largest |level|, so that output (0, 0) has a saturated term
     * whatever the draws (with 256 codes, none above the top was drawn for some seeds) */
    if (topr > 0)
        for (int c = 0; c < na; c++)
            if (fabs(la[c]) > tl) {
                xc[0] = (uint8_t)c;
                break;
            }
    for (int64_t m = 0; m < M; m++) rs[m] = (float)(0.5 + unit());
    teq_kw w, w8 = {0};
    teq_kw16 wl = {0};
    teq_error err = {0};
    int ok = 1;
    double dw = 0, da = 0;
    int16_t alut[256];
    uint8_t alut8[256];
    int32_t zp = 0;
    CHECK(teq_kw_init(&w, qw, M, K, wc, rs, &err) == TEQ_OK, "kw_init: %s", err.msg);
    if (lb == 16)
        CHECK(teq_ql_lanes_prepare(&w, qa, &wl, alut, &dw, &da, &err) == TEQ_OK, "lanes_prepare: %s", err.msg);
    else
        CHECK(teq_ql_lanes8_prepare(&w, qa, top, &w8, alut8, &zp, &dw, &da, &err) == TEQ_OK, "lanes8_prepare: %s",
              err.msg);
    int neg = 0;
    for (int c = 0; c < na; c++) neg |= la[c] < 0;
    if (lb == 8) /* the grid's step as the definition gives it, from the top's level */
        CHECK(fabs(da - tl / (neg ? 127 : 255)) <= 1e-12 * da, "lanes8 top rank %d: step %.9g, want %.9g", topr, da,
              tl / (neg ? 127 : 255));
    /* im2col of the activation levels, k = (c, ky, kx), as the reference reads them */
    for (int64_t c = 0; c < C; c++)
        for (int64_t ky = 0; ky < KH; ky++)
            for (int64_t kx = 0; kx < KW; kx++)
                for (int64_t n = 0; n < S; n++)
                    col[((c * KH + ky) * KW + kx) * S + n] = la[xc[(c * IH + n / OW + ky) * IW + n % OW + kx]];
    CHECK(teq_kref_exp_gemm(&w, qa, col, S, 1, S, Yr, S, 1, 0, 1) == TEQ_OK, "ref exp gemm");
    const teq_i8conv g = {.C = C, .PH = IH, .PW = IW, .KH = KH, .KW = KW, .SH = 1, .SW = 1, .DH = 1, .DW = 1, .OH = OH, .OW = OW};
    if (lb == 16) {
        for (int64_t i = 0; i < C * IH * IW; i++) Q[i] = alut[xc[i]];
        CHECK(teq_k_i16_conv(&wl, &g, Q, (float)da, NULL, Yl, S, NULL, 1) == TEQ_OK, "i16_conv");
    } else {
        teq_k_map_u8(alut8, xc, C * IH * IW, Q8);
        CHECK(teq_k_i8_conv(&w8, &g, Q8, zp, (float)da, NULL, Yl, S, NULL, 1) == TEQ_OK, "i8_conv (8-bit lanes)");
    }
    int64_t n_sat = 0, n_in = 0; /* outputs with a saturated term, and without */
    for (int64_t m = 0; m < M && ok; m++)
        for (int64_t n = 0; n < S && ok; n++) {
            double bound = 0, as = 0;
            bool sat = false;
            for (int64_t k = 0; k < K; k++) {
                const double a = fabs(w.lut[wc[m * K + k]]), b = fabs(col[k * S + n]);
                bound += a * da / 2 + b * dw / 2 + dw * da / 4;
                as += a * b;
                sat |= b > tl;
            }
            n_sat += sat, n_in += !sat;
            if (sat) continue; /* bit for bit below */
            const double r = Yr[m * S + n], d = fabs((double)Yl[m * S + n] - r);
            bound = w.scale[m] * bound + teq_ktol(K, w.scale[m] * as) + 0x1p-23 * fabs(r) + 1e-30;
            if (!(d <= bound)) {
                CHECK(0, "lanes%d %d/%d bits base %g (%lld,%lld): %.9g vs reference %.9g, bound %.3g", lb, bw, ba, BASES[ib],
                      (long long)m, (long long)n, (double)Yl[m * S + n], r, bound);
                ok = 0;
            }
            if (bound > 0) *worst = fmax(*worst, d / bound);
        }
    /* 8 bits: also bit for bit as the INT8 formula over the integers the definition gives (round(level / dw),
     * round(level / da) + zp with zp = 0 for a code without negative levels, else 128): the bound alone
     * lets a zero point one off through */
    if (topr > 0 && ok)
        CHECK(n_sat > 0 && n_in > 0, "lanes8 top rank %d: %lld outputs with a saturated term, %lld without", topr,
              (long long)n_sat, (long long)n_in);
    const int32_t zpd = neg ? 128 : 0;
    for (int64_t m = 0; m < M && ok && lb == 8; m++)
        for (int64_t n = 0; n < S && ok; n++) {
            int64_t dot = 0;
            for (int64_t c = 0; c < C; c++)
                for (int64_t ky = 0; ky < KH; ky++)
                    for (int64_t kx = 0; kx < KW; kx++) {
                        const int64_t k = (c * KH + ky) * KW + kx;
                        const double qa8 = (double)lrint(la[xc[(c * IH + n / OW + ky) * IW + n % OW + kx]] / da);
                        dot += lrint(lw[wc[m * K + k]] / dw) *
                               ((int64_t)fmin(fmax(qa8, neg ? -127 : 0), neg ? 127 : 255) + zpd - zp);
                    }
            const float want = ((float)(rs[m] * dw) * (float)da) * (float)dot, got = Yl[m * S + n];
            if (zp != zpd || memcmp(&want, &got, 4)) {
                CHECK(0, "lanes8 %d/%d bits base %g (%lld,%lld): %.9g, from the definition's integers %.9g (zero point %d, "
                      "want %d)", bw, ba, BASES[ib], (long long)m, (long long)n, (double)got, (double)want, zp, zpd);
                ok = 0;
            }
        }
    teq_kw_free(&w), teq_kw16_free(&wl), teq_kw_free(&w8);
    free(wc), free(xc), free(rs), free(col), free(Yr), free(Yl), free(Q), free(Q8);
    return ok;
}

static void test_lanes(const kset_case *sets_, int n_sets) {
    static const conv_shape shapes[] = {
        {16, 12, 20, 24, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},   /* pointwise */
        {3, 17, 23, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    /* K = 27, odd */
        {8, 16, 16, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},     /* stride 2 */
        {4, 11, 13, 17, 5, 5, 2, 2, 2, 2, 4, 3, 4, 2},    /* dilation, uneven pads */
        {6, 10, 31, 8, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1},     /* stride 3 (gathered) */
        {7, 1, 150, 11, 1, 5, 1, 1, 1, 1, 0, 0, 2, 2},    /* 1-D */
        {320, 4, 30, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   /* K = 2880: the integers shrink to 863 */
    };
    for (int i = 0; i < n_sets; i++) {
        if (!sets_[i].ks->i16_conv) {
            printf("%s: no integer-lanes kernel\n", sets_[i].name);
            continue;
        }
        int ok = 1, cases = 0;
        for (size_t j = 0; j < sizeof shapes / sizeof *shapes; j++)
            for (int v = 0; v < 2; v++) ok &= i16conv_case(&sets_[i], &shapes[j], v), cases++;
        CHECK(ok, "%s i16_conv", sets_[i].name);
        printf("%s: integer-lanes convolution, %d cases exact: %s\n", sets_[i].name, cases, ok ? "ok" : "FAIL");
    }
    if (!teq_k_i16_conv_ok()) {
        printf("skip lanes vs reference: this CPU has no integer-lanes kernel\n");
        return;
    }
    const conv_shape cs = {24, 7, 9, 19, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0};
    for (int lb = 16; lb >= 8; lb -= 8) {
        if (lb == 8 && !teq_kset_best()->i8_conv) {
            printf("skip 8-bit lanes vs reference: this CPU has no INT8 convolution kernel\n");
            continue;
        }
        int ok = 1, cases = 0, tops = 0;
        double worst = 0;
        for (int b = 2; b <= 8; b++)
            for (int ib = 0; ib < NB; ib++) {
                int r = lanes_case(lb, b, b, ib, 0, &cs, &worst);
                if (r >= 0) ok &= r, cases++;
                r = lanes_case(lb, b, 2 + (int)(next() % 7), ib, 0, &cs, &worst);
                if (r >= 0) ok &= r, cases++;
                if (lb == 8 && (r = lanes_case(lb, b, b, ib, 2 + (int)(next() % 3), &cs, &worst)) >= 0)
                    ok &= r, cases++, tops++; /* a grid topped below the code's largest level */
            }
        CHECK(cases >= 7, "lanes%d: only %d fitted cases", lb, cases);
        CHECK(lb == 16 || tops >= 7, "lanes8: only %d cases with a lower top", tops);
        CHECK(ok, "lanes%d vs reference", lb);
        printf("lanes (%s): %d exponential layers (widths 2..8; %d with the grid topped below the largest level) within "
               "the stated bound of the reference (largest error %.3f of its bound): %s\n",
               lb == 16 ? "int16" : "8-bit", cases, tops, worst, ok ? "ok" : "FAIL");
    }
}

/* teq_k_map_u8 (the 8-bit lanes' activation codes) against the table read byte by byte: every code, lengths
 * around the vector width, in place and not */
static void test_map_u8(void) {
    uint8_t lut[256], c[300], out[300], want[300];
    for (int i = 0; i < 256; i++) lut[i] = (uint8_t)next();
    int ok = 1;
    for (int n = 0; n <= 300 && ok; n += 1 + n / 8) {
        for (int i = 0; i < n; i++) c[i] = (uint8_t)(i < 256 ? i * 7 + 3 : next()), want[i] = lut[c[i]];
        memset(out, 0xA5, sizeof out);
        teq_k_map_u8(lut, c, n, out);
        ok &= !memcmp(out, want, (size_t)n) && (n == 300 || out[n] == 0xA5);
        teq_k_map_u8(lut, c, n, c);
        ok &= !memcmp(c, want, (size_t)n);
    }
    CHECK(ok, "map_u8");
    printf("map_u8: codes through a 256-entry byte table: %s\n", ok ? "ok" : "FAIL");
}

/* ---- activation quantizer ---- */
typedef void (*kq_body)(const teq_kq *, const float *, int64_t, uint8_t *, float *);

static int kq_compare(const char *body_name, kq_body body, const teq_kq *kq, const teq_qparams *q, const float *x,
                      int64_t n, const char *what) {
    uint8_t *want = malloc((size_t)n + 1), *got = malloc((size_t)n + 1);
    float *y = malloc(sizeof(float) * (size_t)n + 4);
    teq_q_quantize(q, x, n, want);
    body(kq, x, n, got, y);
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        float e = kq->table[want[i]];
        if (got[i] != want[i] || memcmp(&e, &y[i], 4)) {
            uint32_t b;
            memcpy(&b, &x[i], 4);
            CHECK(0, "kq %s %s: x=%.9g (0x%08x) code %d want %d, value %.9g want %.9g", body_name, what, (double)x[i], b,
                  got[i], want[i], (double)y[i], (double)e);
            if (++bad > 5) break;
        }
    }
    free(want), free(got), free(y);
    return !bad;
}

static float fbits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* edge values of code q: specials, every table value, every threshold and its neighbours, negated */
static int64_t edge_values(const teq_kq *kq, float *v) {
    int64_t n = 0;
    const uint32_t spec[] = {0, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00000u, 0x7F800001u,
                             0x7F7FFFFFu, 0xFF7FFFFFu, 1, 0x80000001u, 0x00800000u, 0x3F800000u};
    for (size_t i = 0; i < sizeof spec / sizeof *spec; i++) v[n++] = fbits(spec[i]);
    for (int c = 0; c < 256; c++) v[n++] = kq->table[c], v[n++] = -kq->table[c];
    for (int j = 0; kq->q.kind == TEQ_CODE_EXP && j < 2 * TEQ_KQ_THR; j++) { /* a linear kq has no thr[] */
        float t = fbits((uint32_t)kq->thr[j]);
        if (!isfinite(t)) continue;
        float c[4] = {t, nextafterf(t, INFINITY), nextafterf(t, 0), nextafterf(nextafterf(t, INFINITY), INFINITY)};
        for (int k = 0; k < 4; k++) v[n++] = c[k], v[n++] = -c[k];
    }
    /* exact midpoints in double where they are floats (ties) */
    for (int c = 0; c + 1 < 256; c++) {
        double mid = 0.5 * ((double)kq->table[c] + (double)kq->table[c + 1]);
        v[n++] = (float)mid, v[n++] = -(float)mid;
    }
    return n;
}

/* teq_kq_lanes: lut[code] straight from x, bit for bit the codes of teq_q_quantize through the table, on
 * the entry table, and (taken away) on the log path and the bucket search; a random int16 table, so that a
 * code one off shows. A trimmed quantizer (teq_kq_trim) has only the entry table to take. */
static int kq_lanes_check(teq_kq *kq, const teq_qparams *q, const float *x, int64_t n, const char *what) {
    int16_t lut[256], *got = malloc(sizeof(int16_t) * (size_t)n);
    uint8_t *c = malloc((size_t)n);
    for (int i = 0; i < 256; i++) lut[i] = (int16_t)(next() & 0xFFFF);
    teq_q_quantize(q, x, n, c);
    int32_t *lent = kq->lent;
    const int logpath = kq->logpath;
    int bad = 0;
    for (int pass = 0; pass < (kq->trimmed ? 1 : 3); pass++) {
        if (pass == 1 && !lent) continue;
        if (pass == 2 && !logpath) continue;
        if (pass >= 1) kq->lent = NULL;
        if (pass == 2) kq->logpath = 0;
        teq_kq_lanes(kq, x, n, lut, got);
        for (int64_t i = 0; i < n; i++)
            if (got[i] != lut[c[i]] && bad++ < 3)
                CHECK(0, "kq lanes %s (%s): x=%.9g got %d want %d (code %d)", what,
                      pass == 0 ? "first choice" : pass == 1 ? "no entry table" : "bucket", (double)x[i], got[i],
                      lut[c[i]], c[i]);
    }
    kq->lent = lent, kq->logpath = logpath;
    free(got), free(c);
    return bad == 0;
}

/* teq_kq_fake_shifted: the operator's two passes (x + c rounded to float, then the code) in one, chunk by
 * chunk: the same values bit for bit as teq_q_fake on the sums, across chunk boundaries, in place and not, on
 * one and two threads, for exponential and linear codes and both signs of the shift */
static void test_kq_shifted(void) {
    enum { N = 40000 + 5 }; /* three chunks of kq.c's 16384 and a tail */
    float *x = malloc(sizeof(float) * N), *sum = malloc(sizeof(float) * N), *want = malloc(sizeof(float) * N);
    float *y = malloc(sizeof(float) * N);
    int bad = 0, cases = 0;
    const teq_qparams qs[3] = {
        {.kind = TEQ_CODE_EXP, .bits = 8, .is_signed = 1, .base = 1.035, .alpha = 0.05, .beta = -0.049},
        {.kind = TEQ_CODE_EXP, .bits = 6, .is_signed = 0, .zero_code = 1, .base = 1.1, .alpha = 0.02, .beta = 0.001},
        {.kind = TEQ_CODE_LINEAR, .bits = 8, .is_signed = 0, .scale = 0.02, .zero_point = 7, .lin_f32 = 1}};
    for (int qi = 0; qi < 3; qi++) {
        teq_kq *kq;
        teq_error err = {0};
        if (teq_kq_new(&qs[qi], &kq, &err) != TEQ_OK) {
            CHECK(0, "kq_new (shifted): %s", err.msg);
            continue;
        }
        for (int si = 0; si < 2; si++) {
            const float c = si ? -0.3751f : 1.2345f;
            for (int i = 0; i < N; i++) x[i] = (float)(4 * unit() - 2);
            for (int i = 0; i < N; i++) sum[i] = x[i] + c;
            teq_q_fake(&qs[qi], sum, N, want);
            for (int mode = 0; mode < 4; mode++) {
                const int in_place = mode & 1, nt = 1 + (mode >> 1);
                if (in_place) memcpy(y, x, sizeof(float) * N);
                teq_kq_fake_shifted(kq, in_place ? y : x, N, c, y, nt);
                for (int i = 0; i < N; i++)
                    if (memcmp(&y[i], &want[i], sizeof(float)) && bad++ < 3)
                        CHECK(0, "kq shifted code %d shift %g %s %d threads: [%d] %.9g want %.9g", qi, (double)c,
                              in_place ? "in place" : "apart", nt, i, (double)y[i], (double)want[i]);
                cases++;
            }
        }
        teq_kq_free(kq);
    }
    CHECK(!bad, "kq shifted: %d values differ", bad);
    printf("kq shifted: %d cases of %d values bit-exact vs teq_q_fake(x + c)\n", cases, N);
    free(x), free(sum), free(want), free(y);
}

/* teq_kl8 (8-bit lanes straight from floats by the step function's table): bit for bit lut[code(fl(x + shift))],
 * the definition (teq_kl8_exact, i.e. teq_kq_codes and the map), on the AVX-512 body and on the table walked in
 * scalar code, for the fitted codes of every base and width 2..8 (both signs, zero code or not), grids whose top
 * is the largest level or a smaller one (codes past it saturate), shifts 0 and not, n from 1 to 4,099 (the
 * masked tail), values at every threshold and level and a few ulps around them (where F meets a step: the
 * undecided path), specials and random ones. A table it cannot make (NULL) falls back to the definition; the test
 * requires most 8-bit grids to make one (else it would only test the fallback), refuses a lut that is not
 * monotone, and checks itself: a table with one lane off must be caught. */
static int kl8_cmp(const teq_kl8 *kl, const teq_kq *kq, const float *x, int64_t n, const char *what) {
    uint8_t *want = malloc((size_t)n + 64), *got = malloc((size_t)n + 64);
    int bad = 0;
    teq_kl8_exact(kl, kq, x, n, want);
    for (int body = 0; body < 2; body++) {
        memset(got, 0xA5, (size_t)n + 64);
        if (body) teq_kl8_run(kl, kq, x, n, got);
        else teq_kl8_run_table(kl, kq, x, n, got);
        for (int64_t i = 0; i < n && bad < 3; i++)
            if (got[i] != want[i]) {
                bad++;
                if (what) CHECK(0, "kl8 %s (%s): x=%.9g lane %d want %d", what, body ? "teq_kl8_run" : "table", (double)x[i], got[i], want[i]);
            }
        if (got[n] != 0xA5) {
            bad++;
            CHECK(!what, "kl8 %s: wrote past n", what ? what : "");
        }
    }
    free(want), free(got);
    return !bad;
}

static void test_kl8(void) {
    enum { NX = 40000 };
    float *x = malloc(sizeof(float) * NX);
    int cases = 0, built = 0, tried8 = 0, built8 = 0, bad = 0, caught = 0, mutated = 0;
    int64_t values = 0;
    teq_error err = {0};
    for (int ib = 0; ib < NB; ib++)
        for (int bits = 2; bits <= 8; bits++)
            for (int kind = 0; kind < 4; kind++)
                for (int var = 0; var < 2; var++) {
                    const teq_qparams *q = fitted_kind(kind, ib, bits);
                    teq_kq *kq;
                    if (!q || teq_kq_new(q, &kq, &err) != TEQ_OK) continue;
                    /* the lanes grid as qlayer.c makes it (teq_ql_lanes8_prepare): top = the largest |level|, or
                     * (var 1) a level a quarter of the way down the codes */
                    const int na = teq_q_num_codes(q);
                    double t = 0;
                    bool neg = false;
                    for (int c = 0; c < na; c++) t = fmax(t, fabs(kq->table[c])), neg |= kq->table[c] < 0;
                    if (var) {
                        double t2 = 0;
                        for (int c = 0; c < na; c++)
                            if (fabs(kq->table[c]) < t * 0.6) t2 = fmax(t2, fabs(kq->table[c]));
                        if (t2 > 0) t = t2;
                    }
                    const double hi = neg ? 127 : 255, da = t / hi;
                    uint8_t lut[256];
                    memset(lut, neg ? 128 : 0, 256);
                    for (int c = 0; c < na; c++)
                        lut[c] = (uint8_t)(fmin(fmax((double)lrint(kq->table[c] / da), neg ? -hi : 0), hi) + (neg ? 128 : 0));
                    const float sh = (ib + bits + kind + var) % 3 == 0 ? 0.0f : (float)((unit() - 0.3) * t);
                    teq_kl8 *kl = teq_kl8_new(kq, lut, da, sh);
                    cases++;
                    tried8 += bits == 8;
                    if (!kl) {
                        teq_kq_free(kq);
                        continue;
                    }
                    built++;
                    built8 += bits == 8;
                    /* values: thresholds (midpoints of neighbouring levels) and levels, minus the shift, +-3 ulps */
                    int64_t n = 0;
                    const uint32_t spec[] = {0, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00000u,
                                             0x7F7FFFFFu, 0xFF7FFFFFu, 1, 0x80000001u, 0x00800000u, 0x4F000000u, 0xCF000000u};
                    for (size_t i = 0; i < sizeof spec / sizeof *spec; i++) x[n++] = fbits(spec[i]);
                    for (int a = 0; a < na && n < NX - 64; a++)
                        for (int b = 0; b < na && n < NX - 64; b++) {
                            if (!(kq->table[b] > kq->table[a])) continue;
                            int nearer = 0; /* b the next level above a */
                            for (int c = 0; c < na; c++) nearer |= kq->table[c] > kq->table[a] && kq->table[c] < kq->table[b];
                            if (nearer) continue;
                            const float ms[2] = {(float)(0.5 * ((double)kq->table[a] + kq->table[b])), kq->table[a]};
                            for (int k = 0; k < 2; k++) {
                                float v = ms[k] - sh;
                                for (int u = 0; u < 3; u++) v = nextafterf(v, -INFINITY);
                                for (int u = 0; u < 7; u++, v = nextafterf(v, INFINITY)) x[n++] = v;
                            }
                        }
                    while (n < NX) x[n++] = (float)((unit() * 2.4 - 1.2) * t * (neg ? 1 : (unit() < 0.1 ? -0.1 : 1))) - sh;
                    for (int64_t i = n - 1; i > 0; i--) { /* shuffled, so that undecided values fall into many blocks */
                        const int64_t j = (int64_t)(next() % (uint64_t)(i + 1));
                        const float tmp = x[i];
                        x[i] = x[j], x[j] = tmp;
                    }
                    char what[96];
                    snprintf(what, sizeof what, "b=%g %d bits %s%s top %s shift %g", q->base, bits,
                             q->is_signed ? "signed" : "unsigned", q->zero_code ? " zc" : "", var ? "lower" : "max", (double)sh);
                    int ok = kl8_cmp(kl, kq, x, n, what);
                    for (int64_t len = 1; len < 200 && ok; len += 1 + len / 3) ok &= kl8_cmp(kl, kq, x + len, len, what);
                    ok &= kl8_cmp(kl, kq, x + 3, 4099, what);
                    values += n + 4099;
                    bad += !ok;
                    /* the test against itself: one bucket's lane off by one, among the values in it */
                    for (int64_t i = NX / 2; ok && mutated < 40 && i < NX; i++) {
                        const int32_t f = teq_kl8_f(kl, x[i]);
                        const int b = f >> 16, r = f & 0xFFFF, th = kl->th[b] << 8 | kl->tl[b];
                        if (r == th) continue; /* undecided: the exact path answers it */
                        uint8_t *lane = &kl->lane[b + (r > th)];
                        *lane ^= 1;
                        for (int64_t k = 0; k < 256; k++) x[k] = x[i];
                        mutated++;
                        caught += !kl8_cmp(kl, kq, x, 256, NULL);
                        *lane ^= 1;
                        break;
                    }
                    teq_kl8_free(kl);
                    /* a lut that is not monotone in the level: refused */
                    if (na > 2) {
                        uint8_t l2[256];
                        memcpy(l2, lut, 256);
                        int a = 0, b = 0;
                        for (int c = 0; c < na; c++) {
                            if (kq->table[c] < kq->table[a]) a = c;
                            if (kq->table[c] > kq->table[b]) b = c;
                        }
                        if (l2[a] != l2[b]) {
                            l2[a] = lut[b], l2[b] = lut[a];
                            teq_kl8 *k2 = teq_kl8_new(kq, l2, da, sh);
                            CHECK(!k2, "kl8 %s: a lut swapped at its ends was taken", what);
                            teq_kl8_free(k2);
                        }
                    }
                    teq_kq_free(kq);
                }
    free(x);
    CHECK(!bad, "kl8: %d cases differ", bad);
    CHECK(caught == mutated, "kl8: %d of %d tables with a lane off went unseen", mutated - caught, mutated);
    if (teq_k_best_isa() == TEQ_ISA_AVX512)
        CHECK(built8 * 10 >= tried8 * 9 && mutated >= 20, "kl8: only %d of %d 8-bit grids made a table", built8, tried8);
    else
        CHECK(built == 0, "kl8: a table without the AVX-512 set");
    printf("kl8: %d of %d grids made a table (%d of %d at 8 bits), %lld values bit-exact vs codes and map, %d of %d mutated "
           "tables caught\n", built, cases, built8, tried8, (long long)values, caught, mutated);
}

/* teq_kv8 (an exponential code's values by a table of their step function over |x|'s bit pattern): bit for bit
 * teq_q_fake, on the AVX-512 body and the table walked in scalar code, for the fitted codes of every base and
 * width 2..8 (both signs, zero code or not), on the edge values (specials, every level and threshold and their
 * neighbours, negated) and random ones, lengths 1..200 and a masked tail, in place and not; then installed in a
 * model's way (teq_kq_value_table) under teq_kq_fake and teq_kq_fake_shifted on 1 and 2 threads. A signed code
 * with the zero code is refused (its sides differ); most others must make a table, or the test would only see the
 * fallback. It checks itself: one value byte off in a bucket that is read must be caught. */
static int kv8_cmp(const struct teq_kv8 *kv, const teq_kq *kq, const float *x, int64_t n, const char *what) {
    float *want = malloc(sizeof(float) * (size_t)n + 64), *got = malloc(sizeof(float) * (size_t)(n + 16));
    teq_q_fake(&kq->q, x, n, want);
    int bad = 0;
    for (int body = 0; body < 3; body++) {
        if (body == 1 && teq_k_best_isa() != TEQ_ISA_AVX512) continue;
        for (int64_t i = 0; i < n + 16; i++) got[i] = -7.0f;
        if (body == 2) { /* in place (the shifted quantizer's second pass) */
            memcpy(got, x, sizeof(float) * (size_t)n);
            if (teq_k_best_isa() == TEQ_ISA_AVX512) teq_kv8_run_avx512(kv, kq, got, n, got);
            else teq_kv8_run_table(kv, kq, got, n, got);
        } else if (body == 1) {
            teq_kv8_run_avx512(kv, kq, x, n, got);
        } else {
            teq_kv8_run_table(kv, kq, x, n, got);
        }
        for (int64_t i = 0; i < n && bad < 3; i++)
            if (memcmp(&got[i], &want[i], 4)) {
                bad++;
                if (what) CHECK(0, "kv8 %s (%s): x=%.9g value %.9g want %.9g", what, body == 0 ? "table" : body == 1 ? "avx512" : "in place", (double)x[i], (double)got[i], (double)want[i]);
            }
        if (got[n] != -7.0f) {
            bad++;
            CHECK(!what, "kv8 %s: wrote past n", what ? what : "");
        }
    }
    free(want), free(got);
    return !bad;
}

static void test_kv8(void) {
    enum { NX = 1 << 16 };
    float *x = malloc(sizeof(float) * (NX + 8192)), *y = malloc(sizeof(float) * NX), *w = malloc(sizeof(float) * NX);
    float *xs = malloc(sizeof(float) * NX);
    int cases = 0, built = 0, want_built = 0, built8 = 0, tried8 = 0, bad = 0, caught = 0, mutated = 0, refused = 0;
    int unsigned8 = 0, unsigned8_built = 0;
    int64_t values = 0;
    teq_error err = {0};
    for (int ib = 0; ib < NB; ib++)
        for (int bits = 2; bits <= 8; bits++)
            for (int kind = 0; kind < 4; kind++) {
                const teq_qparams *q = fitted_kind(kind, ib, bits);
                teq_kq *kq;
                if (!q || teq_kq_new(q, &kq, &err) != TEQ_OK) continue;
                cases++;
                unsigned8 += bits == 8 && !q->is_signed;
                struct teq_kv8 *kv = teq_kv8_new(kq);
                const bool sides = q->is_signed && q->zero_code;
                if (sides) {
                    CHECK(!kv, "kv8: a signed code with the zero code made a table");
                    refused++;
                    free(kv);
                    teq_kq_free(kq);
                    continue;
                }
                want_built++, tried8 += bits == 8;
                if (!kv) {
                    teq_kq_free(kq);
                    continue;
                }
                built++, built8 += bits == 8, unsigned8_built += bits == 8 && !q->is_signed;
                int64_t n = edge_values(kq, x);
                const float lo = kq->table[q->is_signed ? 0 : q->zero_code];
                const float hi = kq->table[q->is_signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1];
                while (n < NX) {
                    const double mag = exp(log(fabs(lo) + 1e-30) + (unit() * 1.4 - 0.2) * (log(fabs(hi) + 1e-30) - log(fabs(lo) + 1e-30)));
                    x[n++] = (float)((next() & 1) ? -mag : mag);
                }
                char what[96];
                snprintf(what, sizeof what, "b=%g %d bits %s%s", q->base, bits, q->is_signed ? "signed" : "unsigned",
                         q->zero_code ? " zc" : "");
                int ok = kv8_cmp(kv, kq, x, n, what);
                for (int64_t len = 1; len < 200 && ok; len += 1 + len / 3) ok &= kv8_cmp(kv, kq, x + len, len, what);
                values += n;
                /* the test against itself: one byte of a value that is read, off */
                for (int64_t i = 100; ok && mutated < 40 && i < n; i++) {
                    uint32_t xb;
                    memcpy(&xb, &x[i], 4);
                    uint32_t ub = kv->sg ? xb & 0x7FFFFFFFu : ((int32_t)xb < 0 ? 0 : xb);
                    if (ub > 0x7F800000u) ub = 0;
                    if (kv->zthr >= 0 && ub <= (uint32_t)kv->zthr) continue; /* the zero code's: no table read */
                    const int32_t f = teq_kv8_f(kv, ub);
                    const int b = f >> 16, r = f & 0xFFFF, t = kv->th[b] << 8 | kv->tl[b];
                    if (r == t) continue;
                    uint8_t *byte = &kv->v[(int)(next() % 4)][b + (r > t)];
                    *byte ^= 4;
                    for (int k = 0; k < 64; k++) xs[k] = x[i];
                    mutated++;
                    caught += !kv8_cmp(kv, kq, xs, 64, NULL);
                    *byte ^= 4;
                    break;
                }
                bad += !ok;
                free(kv);
                /* installed as a model's quantizer: teq_kq_fake and teq_kq_fake_shifted through it */
                teq_kq_trim(&kq);
                teq_kq_value_table(kq, true);
                teq_kq_fake(kq, x, 1000, y, 1); /* too few to make the table */
                CHECK(!kq->kv, "kv8 %s: a table for 1,000 values", what);
                const float sh = (float)(hi * (unit() - 0.5));
                for (int i = 0; i < NX; i++) xs[i] = x[i] + sh;
                teq_q_fake(q, x, NX, w);
                for (int nt = 1; nt <= 2; nt++) {
                    teq_kq_fake(kq, x, NX, y, nt); /* the first: makes it */
                    CHECK(!!kq->kv == (teq_k_best_isa() == TEQ_ISA_AVX512), "kv8 %s: no table after %d values", what, NX);
                    int d = 0;
                    for (int i = 0; i < NX; i++) d += memcmp(&y[i], &w[i], 4) != 0;
                    teq_kq_fake_shifted(kq, x, NX, -sh, y, nt); /* x - sh: the sums round, so against their own values */
                    for (int i = 0; i < NX; i++) xs[i] = x[i] + -sh;
                    teq_q_fake(q, xs, NX, w);
                    for (int i = 0; i < NX; i++) d += memcmp(&y[i], &w[i], 4) != 0;
                    teq_q_fake(q, x, NX, w);
                    CHECK(!d, "kv8 %s installed, %d threads: %d values differ", what, nt, d);
                    bad += d != 0;
                }
                teq_kq_value_table(kq, false);
                CHECK(!kq->kv, "kv8 %s: not freed", what);
                teq_kq_free(kq);
            }
    free(x), free(y), free(w), free(xs);
    CHECK(!bad, "kv8: %d cases differ", bad);
    CHECK(caught == mutated && mutated >= 20, "kv8: %d of %d tables with a byte off went unseen", mutated - caught, mutated);
    /* Every 8-bit unsigned code (most activation quantizers: on the bench models every one of them makes a table)
     * and most of the rest. What fails are codes whose alpha is tiny against beta (1e-10 against 0.01 at base 4):
     * their low thresholds crowd within float rounding of beta, and the narrowest gap then sets a bucket width
     * that 512 buckets cannot carry across the code. Seeds 1..30 and 1796514233: 120 or 121 of 121, 14 of 14 at
     * 8 bits on every one (before kv_one_each checked what kv_build needs: 114-121, 12-14 of 14, and seed
     * 1796514233 failed this check with an 8-bit unsigned code refused). */
    CHECK(unsigned8_built == unsigned8 && built * 10 >= want_built * 8,
          "kv8: %d of %d 8-bit unsigned codes and %d of %d in all made a table", unsigned8_built, unsigned8, built, want_built);
    printf("kv8: %d of %d codes made a table (%d of %d at 8 bits; %d signed with the zero code refused), %lld values "
           "bit-exact vs teq_q_fake, %d of %d mutated tables caught\n", built, want_built, built8, tried8, refused,
           (long long)values, caught, mutated);
    (void)cases;
}

/* teq_kq_trim: where the entry table answers every value (an exponential code with one, on a CPU without the
 * AVX-512 body) the quantizer drops thr, code and the buckets, and gives the same codes, values and lanes bit
 * for bit on the scalar and AVX2 bodies (ASan sees any read of what is gone: the block is reallocated down to
 * TEQ_KQ_TRIM_BYTES). Elsewhere it leaves the quantizer as it is. Returns 0 on a failure. */
static int n_trim512; /* trimmed quantizers run on the AVX-512 body (its log path) */
static int kq_trim_check(teq_kq **kqp, const teq_qparams *q, const float *x, int64_t n, const char *what) {
    const int can = (*kqp)->lent && (teq_k_best_isa() != TEQ_ISA_AVX512 || (*kqp)->logpath);
    teq_kq_trim(kqp);
    teq_kq *kq = *kqp;
    if (!can) {
        CHECK(!kq->trimmed, "kq %s: trimmed without an entry table, or for the AVX-512 body off the log path", what);
        return !kq->trimmed;
    }
    CHECK(kq->trimmed && !kq->bucket && !kq->steps, "kq %s: not trimmed", what);
    char w2[128];
    snprintf(w2, sizeof w2, "%s (trimmed)", what);
    int ok = kq_compare("scalar", teq_kq_run_scalar, kq, q, x, n, w2);
    if (teq_k_best_isa() == TEQ_ISA_AVX2) ok &= kq_compare("avx2", teq_kq_run_avx2, kq, q, x, n, w2);
    if (teq_k_best_isa() == TEQ_ISA_AVX512) {
        ok &= kq_compare("avx512", teq_kq_run_avx512, kq, q, x, n, w2);
        n_trim512++;
    }
    return kq_lanes_check(kq, q, x, n, w2) && ok;
}

static void test_kq(void) {
    struct { const char *name; kq_body f; } bodies[3] = {{"scalar", teq_kq_run_scalar}};
    int nb = 1;
    if (teq_kset(TEQ_ISA_AVX2)) bodies[nb++] = (typeof(bodies[0])){"avx2", teq_kq_run_avx2};
    if (teq_kset(TEQ_ISA_AVX512)) bodies[nb++] = (typeof(bodies[0])){"avx512", teq_kq_run_avx512};
    enum { NR = 1 << 18 };
    float *x = malloc(sizeof(float) * (NR + 8192));
    int ok = 1, codes = 0, max_steps = 0, n_log = 0, n_window = 0, n_crowd_log = 0, n_crowd_bucket = 0, n_entry = 0,
        n_crowd_entry = 0, n_fit = 0, n_split = 0, n_trim = 0;
    double min_margin = 1e300;
    /* the log path's polynomial: its error bound on every float mantissa (the proof in kq.c uses it) */
    {
        double worst = 0;
        for (uint32_t k = 0; k < (1u << 23); k++) {
            float r = (float)k * 0x1p-23f;
            double e = fabs((double)teq_kq_log2p(r) - log2(1.0 + (double)r));
            worst = e > worst ? e : worst;
        }
        CHECK(worst <= TEQ_KQ_LOG2_ERR, "kq log2 polynomial: error %.3g above the bound %.3g", worst, TEQ_KQ_LOG2_ERR);
        printf("kq: log2 polynomial error over all 2^23 mantissas %.4g (bound %.3g)\n", worst, TEQ_KQ_LOG2_ERR);
        double worst7 = 0;
        for (uint32_t k = 0; k < (1u << 23); k++) {
            float r = (float)k * 0x1p-23f;
            double e = fabs((double)teq_kq_log2p7(r) - log2(1.0 + (double)r));
            worst7 = e > worst7 ? e : worst7;
        }
        CHECK(worst7 <= TEQ_KQ_LOG2_ERR7, "kq degree-7 log2 polynomial: error %.3g above the bound %.3g", worst7,
              TEQ_KQ_LOG2_ERR7);
        printf("kq: degree-7 log2 polynomial (AVX2) error over all 2^23 mantissas %.4g (bound %.3g)\n", worst7,
               TEQ_KQ_LOG2_ERR7);
    }
    int64_t values = 0;
    teq_error err = {0};
    for (int ib = 0; ib < NB; ib++)
        for (int bits = 2; bits <= 8; bits++)
            for (int kind = 0; kind < 4; kind++) {
                /* activations: unsigned zc / signed (fitted); weights-like: signed with or without zc */
                const teq_qparams *q = fitted_kind(kind, ib, bits);
                if (!q) continue;
                teq_kq *kq;
                if (teq_kq_new(q, &kq, &err) != TEQ_OK) {
                    CHECK(0, "kq_new: %s", err.msg);
                    continue;
                }
                if (ib == 0 && bits == 8) {
                    /* the densest code: the bound the vector path relies on */
                    CHECK(kq->steps >= 1 && kq->steps <= 2, "base 1.01 8-bit: %d compares after the bucket", kq->steps);
                    max_steps = kq->steps > max_steps ? kq->steps : max_steps;
                    CHECK(kq->logpath, "base 1.01 8-bit %s: the log path's margin check refused it",
                          q->is_signed ? "signed" : "unsigned");
                    /* the AVX2 body's fraction window: on, and narrow enough that few vectors gather tl[] */
                    CHECK(kq->lfa > 0 && kq->lfb < 1 && kq->lfb - kq->lfa < 0.01f,
                          "base 1.01 8-bit %s: fraction window [%g, %g] off or wide", q->is_signed ? "signed" : "unsigned",
                          kq->lfa, kq->lfb);
                }
                n_window += kq->logpath && kq->lfa > 0;
                char what[80];
                snprintf(what, sizeof what, "exp b=%g n=%d %s%s", q->base, bits, q->is_signed ? "signed" : "unsigned",
                         q->zero_code ? " zc" : "");
                n_log += kq->logpath;
                if (kq->logpath) min_margin = kq->log_margin < min_margin ? kq->log_margin : min_margin;
                int64_t n = edge_values(kq, x);
                /* random: log-uniform magnitudes over the levels' range and beyond, random signs */
                float lo = kq->table[q->is_signed ? 0 : q->zero_code], hi = kq->table[q->is_signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1];
                int64_t nr = (ib == 0 && bits == 8) ? NR : NR / 16;
                for (int64_t i = 0; i < nr; i++) {
                    double t = -0.5 + 2 * unit();
                    double mag = exp(log(lo) + t * (log(hi) - log(lo)));
                    x[n++] = (float)((next() & 1) ? -mag : mag);
                }
                for (int b = 0; b < nb; b++) ok &= kq_compare(bodies[b].name, bodies[b].f, kq, q, x, n, what);
                values += n * nb, codes++;
                ok &= kq_lanes_check(kq, q, x, n, what);
                /* the paths below the entry table (kint.h lent), which the vector bodies take first */
                int32_t *lent = kq->lent;
                n_entry += lent != NULL, n_fit++, n_split += lent && kq->lsplit;
                kq->lent = NULL;
                if (lent && (kq->logpath || kq->steps)) {
                    char w2[112];
                    snprintf(w2, sizeof w2, "%s (no entry table)", what);
                    /* the scalar body too: it reads the entry table where there is one, else the bucket search */
                    for (int b2 = 0; b2 < nb; b2++) ok &= kq_compare(bodies[b2].name, bodies[b2].f, kq, q, x, n, w2);
                    values += n * nb;
                }
                if (kq->logpath && kq->lfa > 0) { /* the log path without the fraction window: tl[] for every vector */
                    const float a = kq->lfa, b = kq->lfb;
                    kq->lfa = 0, kq->lfb = 1;
                    char w2[96];
                    snprintf(w2, sizeof w2, "%s (no window)", what);
                    for (int b2 = 1; b2 < nb; b2++) ok &= kq_compare(bodies[b2].name, bodies[b2].f, kq, q, x, n, w2);
                    values += n * (nb - 1);
                    kq->lfa = a, kq->lfb = b;
                }
                /* with the log path off: the same code through the bucket search (no entry table), then through
                 * the entry body where there is a table (the log body may be taken first instead: avx512.c
                 * kq512_log_faster measures which is faster here) */
                for (int e = 0; e < 2 && kq->logpath; e++) {
                    if (e && !lent) break;
                    kq->lent = e ? lent : NULL, kq->logpath = 0;
                    char w2[96];
                    snprintf(w2, sizeof w2, "%s (%s)", what, e ? "entry table" : "bucket");
                    for (int b = 1; b < nb; b++) ok &= kq_compare(bodies[b].name, bodies[b].f, kq, q, x, n, w2);
                    values += n * (nb - 1);
                    kq->logpath = 1;
                }
                kq->lent = lent;
                ok &= kq_trim_check(&kq, q, x, n, what);
                n_trim += kq->trimmed;
                teq_kq_free(kq);
            }
    /* codes whose levels crowd: alpha small against beta, so the levels are a few ulps apart and the
     * rounded thresholds leave their places in log space. Some must fall back to the bucket search (the
     * margin check refuses them), others still pass it; both must stay exact. Values: dense around the
     * levels (every float between the first and last level for the narrowest), plus the edge values. */
    for (int t = 0; t < 48; t++) {
        /* 1.0001: the polynomial's error alone, times 1/log2(b) = 6931, exceeds the margin */
        static const double crowd_b[] = {1.0001, 1.01, 1.414213562373095, 2.0};
        int bits = t % 3 == 0 ? 8 : t % 3 == 1 ? 5 : 3;
        teq_qparams q = {.kind = TEQ_CODE_EXP, .bits = bits, .is_signed = (t >> 1) & 1, .zero_code = (t >> 2) & 1,
                         .base = crowd_b[(t / 12) % 4], .beta = 1.0 + (t & 1) * 0.45 * 0x1p-23};
        /* level spacing near level 0 about `u` ulps of beta: alpha (b - 1) = u * 2^-23 */
        double ulps = (t % 4 == 0) ? 1.2 : (t % 4 == 1) ? 3 : (t % 4 == 2) ? 12 : 200;
        q.alpha = ulps * 0x1p-23 / (q.base - 1);
        char msg[160];
        if (teq_qparams_check(&q, msg, sizeof msg) != TEQ_OK) continue;
        teq_kq *kq;
        if (teq_kq_new(&q, &kq, &err) != TEQ_OK) {
            CHECK(0, "kq_new crowded: %s", err.msg);
            continue;
        }
        n_crowd_log += kq->logpath, n_crowd_bucket += !kq->logpath, n_crowd_entry += kq->lent != NULL;
        int64_t n = edge_values(kq, x);
        float lo = kq->table[q.is_signed ? 0 : q.zero_code], hi = kq->table[q.is_signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1];
        for (float v = nextafterf(lo, 0); v <= hi && n < NR; v = nextafterf(v, INFINITY)) x[n++] = v, x[n++] = -v;
        char what[80];
        snprintf(what, sizeof what, "crowded b=%g n=%d %s%s %s", q.base, bits, q.is_signed ? "signed" : "unsigned",
                 q.zero_code ? " zc" : "", kq->logpath ? "log" : "bucket");
        for (int b = 0; b < nb; b++) ok &= kq_compare(bodies[b].name, bodies[b].f, kq, &q, x, n, what);
        values += n * nb, codes++;
        if (kq->lent) { /* and by the log path or the bucket search */
            int32_t *lent = kq->lent;
            kq->lent = NULL;
            char w2[112];
            snprintf(w2, sizeof w2, "%s (no entry table)", what);
            for (int b = 0; b < nb; b++) ok &= kq_compare(bodies[b].name, bodies[b].f, kq, &q, x, n, w2);
            values += n * nb;
            kq->lent = lent;
            if (kq->logpath) { /* and by the entry body alone (the log body may be taken first) */
                kq->logpath = 0;
                snprintf(w2, sizeof w2, "%s (entry table)", what);
                for (int b = 1; b < nb; b++) ok &= kq_compare(bodies[b].name, bodies[b].f, kq, &q, x, n, w2);
                values += n * (nb - 1);
                kq->logpath = 1;
            }
        }
        ok &= kq_trim_check(&kq, &q, x, n, what);
        n_trim += kq->trimmed;
        teq_kq_free(kq);
    }
    /* linear codes: signed, unsigned with zero points, values around the rounding points */
    /* the last 13: scales whose half steps are exact float ties while 1/scale is inexact (the vector
     * bodies multiply by 1/scale and must divide near a tie to round as the reference does). For the
     * first ten, x * fl(1/scale) still rounds to the tie itself; for the last three (found by a search over
     * float scales) it misses the tie on 174, 20 and 14 of the 601 half steps below, so a body that does
     * not divide there fails. */
    static const double tie_scales[13] = {3.0 / 256, 0.1, 0.7, 1.0 / 3, 5.0 / 1024, 0.3, 7.0 / 64, 0.013, 0.25, 0.9,
                                          0x1.c4a8p-1, 0x1.c8cf8p-2, 0x1.ca3a4p-3};
    /* t >= 53: the same cases with the float32 rule (lin_f32, ONNX QuantizeLinear) */
    for (int t = 0; t < 106; t++) {
        const int u = t % 53;
        int bits = u < 40 ? 2 + u % 7 : 8;
        teq_qparams q = {.kind = TEQ_CODE_LINEAR, .bits = bits, .is_signed = u & 1,
                         .scale = u < 40 ? 0.001 + unit() : (double)(float)tie_scales[u - 40], .lin_f32 = t >= 53};
        if (!q.is_signed) q.zero_point = (int32_t)(next() % (1u << bits));
        teq_kq *kq;
        if (teq_kq_new(&q, &kq, &err) != TEQ_OK) {
            CHECK(0, "kq_new linear: %s", err.msg);
            continue;
        }
        int64_t n = edge_values(kq, x);
        for (int k = -300; k <= 300; k++) { /* half steps: ties to even */
            float h = q.lin_f32 ? (float)(k + 0.5) * (float)q.scale : (float)((k + 0.5) * q.scale);
            x[n++] = h, x[n++] = nextafterf(h, INFINITY), x[n++] = nextafterf(h, -INFINITY);
        }
        for (int64_t i = 0; i < NR / 16; i++) x[n++] = (float)((unit() - 0.5) * 600 * q.scale);
        for (int b = 0; b < nb; b++) ok &= kq_compare(bodies[b].name, bodies[b].f, kq, &q, x, n, q.lin_f32 ? "linear f32" : "linear");
        values += n * nb, codes++;
        { /* the integers of the codes (teq_kq_qvalues), as INT8's depthwise loop takes them */
            uint8_t *c = malloc((size_t)n);
            float *qv = malloc(sizeof(float) * (size_t)n);
            const int off = q.is_signed ? (1 << bits) / 2 : q.zero_point;
            teq_q_quantize(&q, x, n, c);
            teq_kq_qvalues(kq, x, n, qv);
            int64_t bad = 0;
            for (int64_t i = 0; i < n; i++) {
                const float want = (float)(c[i] - off);
                if (memcmp(&want, &qv[i], sizeof want) && bad++ < 3)
                    CHECK(0, "kq qvalues %s: x=%.9g (0x%08x) got %.9g want %.9g", q.lin_f32 ? "linear f32" : "linear",
                          (double)x[i], (unsigned)teq_ki_fbits(x[i]), (double)qv[i], (double)want);
            }
            ok &= bad == 0;
            free(c), free(qv);
        }
        teq_kq_free(kq);
    }
    /* the public entry points (threads, chunking) once */
    {
        const teq_qparams *q = fitted(&fit_a[0], 0, 8);
        teq_kq *kq;
        CHECK(q != NULL, "no fitted 8-bit base-%g code for the entry-point check", BASES[0]);
        if (q && teq_kq_new(q, &kq, &err) == TEQ_OK) {
            int64_t n = NR;
            for (int64_t i = 0; i < n; i++) x[i] = (float)(3 * laplace());
            uint8_t *a = malloc((size_t)n), *b = malloc((size_t)n);
            float *y = malloc(sizeof(float) * (size_t)n), *z = malloc(sizeof(float) * (size_t)n);
            teq_q_quantize(q, x, n, a);
            teq_q_fake(q, x, n, z);
            teq_kq_codes(kq, x, n, b, 2);
            teq_kq_fake(kq, x, n, y, 2);
            CHECK(!memcmp(a, b, (size_t)n) && !memcmp(y, z, sizeof(float) * (size_t)n), "teq_kq_codes/fake threaded");
            teq_kq_fake(kq, x, n, x, 1); /* in place */
            CHECK(!memcmp(x, z, sizeof(float) * (size_t)n), "teq_kq_fake in place");
            free(a), free(b), free(y), free(z);
            teq_kq_free(kq);
        } else if (q) {
            CHECK(0, "kq_new for the entry-point check: %s", err.msg);
        }
    }
    free(x);
    CHECK(ok, "kq");
    CHECK(codes >= MIN_KQ_CODES, "kq: only %d codes tested (minimum %d)", codes, MIN_KQ_CODES);
    /* the densest fitted codes (base 1.01, 8 bits) must take the log path, and the crowded codes must
     * exercise both paths, else the comparisons above did not test what they claim */
    CHECK(n_log > 0 && n_crowd_log > 0 && n_crowd_bucket > 0, "kq paths: %d fitted codes on the log path, crowded: %d log, %d bucket",
          n_log, n_crowd_log, n_crowd_bucket);
    /* the entry table on most fitted codes and on crowded ones, but not on all (so that the paths below it run
     * as the first choice somewhere too) */
    CHECK(n_entry > n_fit / 2 && n_entry < n_fit && n_crowd_entry > 0 && n_split > 0,
          "kq entry table: %d of %d fitted codes (%d in two regions), %d crowded", n_entry, n_fit, n_split, n_crowd_entry);
    printf("kq: log path on %d fitted codes (smallest margin %.3f levels; %d with the AVX2 fraction window), crowded "
           "codes: %d log, %d bucket; entry table on %d of %d fitted (%d in two regions) and %d crowded codes\n",
           n_log, min_margin, n_window, n_crowd_log, n_crowd_bucket, n_entry, n_fit, n_split, n_crowd_entry);
    /* trimming happens wherever the entry table is there (on this CPU's path); on AVX-512, where the log path
     * answers too, and those trimmed quantizers ran on the AVX-512 body */
    if (teq_k_best_isa() != TEQ_ISA_AVX512)
        CHECK(n_trim == n_entry + n_crowd_entry, "kq trim: %d of %d codes with an entry table trimmed", n_trim,
              n_entry + n_crowd_entry);
    else
        CHECK(n_trim > 0 && n_trim == n_trim512, "kq trim on AVX-512: %d trimmed, %d of them on the AVX-512 body", n_trim,
              n_trim512);
    printf("kq: %d codes, %lld values over %d bodies bit-exact vs teq_q_quantize: %s (base 1.01 8-bit: %d compare(s) "
           "after the bucket); %d trimmed quantizers the same\n",
           codes, (long long)values, nb, ok ? "ok" : "FAIL", max_steps, n_trim);
}

/* ---- subnormal weights: packed as zeros of their sign (kernels.h teq_k_flush_subnormal), flagged in teq_kw ----
 * A product with a subnormal weight is below 2^-126 |x|; the FMA on one takes a microcode assist on Intel cores.
 * Both FP32 layouts must store exactly +0 / -0 there and every other weight bit for bit; an exponential row whose
 * scale makes its levels subnormal must set teq_kw.subnormal (and normal scales must not). */
static void test_subnormal(void) {
    int ok = 1, flushed = 0;
    const int64_t M = 70, K = 37; /* two mv blocks (the second of 6 rows: W = 16), 12 rows blocks (the last of 4) */
    float *W = malloc(sizeof(float) * (size_t)(M * K));
    for (int64_t i = 0; i < M * K; i++) {
        const uint64_t r = next() % 4;
        W[i] = r == 0 ? (float)(unit() * 1e-39) : r == 1 ? -(float)(unit() * 1e-39) : (float)laplace();
        if (i % 97 == 0) W[i] = FLT_MIN; /* the smallest normal stays */
        if (i % 89 == 0) W[i] = -0.0f;
    }
    for (int mv = 0; mv < 2; mv++) {
        teq_kwf w;
        teq_error err = {0};
        if ((mv ? teq_kwf_init_mv(&w, M, K, W, &err) : teq_kwf_init(&w, M, K, W, &err)) != TEQ_OK) {
            CHECK(0, "kwf_init: %s", err.msg);
            ok = 0;
            continue;
        }
        for (int64_t m = 0; m < M; m++)
            for (int64_t k = 0; k < K; k++) {
                const int64_t MB = mv ? TEQ_F32C_MV_MB : TEQ_F32C_MR, b = m / MB, r = m % MB;
                const int64_t rows = M - b * MB < MB ? M - b * MB : MB, Wb = mv ? 16 * ((rows + 15) / 16) : MB;
                const float got = w.p[b * MB * K + k * Wb + r], v = W[m * K + k];
                const int sub = v != 0 && fabsf(v) < FLT_MIN;
                const float want = sub ? copysignf(0.0f, v) : v;
                flushed += sub;
                if (memcmp(&got, &want, 4)) {
                    CHECK(0, "%s pack: weight (%lld,%lld) %.9g packed as %.9g", mv ? "mv" : "rows", (long long)m,
                          (long long)k, (double)v, (double)got);
                    ok = 0;
                    m = M, k = K;
                }
            }
        teq_kwf_free(&w);
    }
    /* the pass over decoded weights (qlayer.c teq_ql_decode, on flagged layers) */
    float v[6] = {1e-39f, -1e-40f, FLT_MIN, -FLT_MIN, -0.0f, 3.0f};
    const float vw[6] = {0.0f, -0.0f, FLT_MIN, -FLT_MIN, -0.0f, 3.0f};
    teq_k_flush_subnormals(v, 6);
    if (memcmp(v, vw, sizeof v)) {
        CHECK(0, "teq_k_flush_subnormals");
        ok = 0;
    }
    free(W);
    /* the flag: a 4-bit exponential code (smallest level about alpha + beta), row 1's scale tiny */
    const teq_qparams q = {.kind = TEQ_CODE_EXP, .bits = 4, .is_signed = 1, .base = 1.3, .alpha = 0.2, .beta = -0.1};
    uint8_t codes[2 * 8];
    for (int i = 0; i < 16; i++) codes[i] = (uint8_t)(i % 16);
    for (int tiny = 0; tiny < 2; tiny++) {
        const float rs[2] = {1.0f, tiny ? 1e-38f : 1e-30f};
        teq_kw kw;
        teq_error err = {0};
        if (teq_kw_init(&kw, &q, 2, 8, codes, rs, &err) != TEQ_OK) {
            CHECK(0, "kw_init: %s", err.msg);
            ok = 0;
            continue;
        }
        if (kw.subnormal != tiny) {
            CHECK(0, "teq_kw.subnormal is %d with row scale %g", kw.subnormal, (double)rs[1]);
            ok = 0;
        }
        teq_kw_free(&kw);
    }
    CHECK(ok && flushed > 0, "subnormal weights");
    printf("subnormal weights: %d packed as signed zeros in both FP32 layouts, the rest bit for bit; teq_kw.subnormal: %s\n",
           flushed, ok ? "ok" : "FAIL");
}

/* ---- INT8 depthwise planes (kernels.h i8_dw) against the formula in scalar code, bit for bit ----
 * Random u8 codes, int8 weights (+-127), zero points, padding codes, scales and biases; kernel sizes 1..8 wide
 * and 1..7 high, strides 1 and 2 along the row, 1..3 down it, row dilation 1..2, padding 0..3 on each side,
 * output rows of 1..70 pixels (tails of every length in a 16-pixel vector), with and without a bias. The plane
 * sits in a buffer of exactly its size (reading past it would show under ASan). */
static void test_i8_dw(const kset_case *ks) {
    if (!ks->ks->i8_dw) return;
    int ok = 1, cases = 0;
    for (int it = 0; it < 400 && ok; it++) {
        const int64_t KH = 1 + (int64_t)(next() % 7), KW = it < 8 ? (it % 2 ? 5 : 3) : 1 + (int64_t)(next() % 8);
        const int64_t SW = 1 + (int64_t)(next() % 2), SH = 1 + (int64_t)(next() % 3), DH = 1 + (int64_t)(next() % 2);
        const int64_t PT = (int64_t)(next() % 4), PL = (int64_t)(next() % 4), PB = (int64_t)(next() % 4);
        const int64_t PR = (int64_t)(next() % 4);
        const int64_t IW = 1 + (int64_t)(next() % 80), IH = 1 + (int64_t)(next() % 9);
        const int64_t OW = (IW + PL + PR - KW) / SW + 1, OH = (IH + PT + PB - (KH - 1) * DH - 1) / SH + 1;
        if (OW < 1 || OH < 1 || IW + PL + PR < KW || IH + PT + PB < (KH - 1) * DH + 1) continue;
        uint8_t *x = malloc((size_t)(IH * IW));
        int8_t w[64];
        float *y = malloc(sizeof(float) * (size_t)(OH * OW));
        for (int64_t i = 0; i < IH * IW; i++) x[i] = (uint8_t)(next() % 256);
        int32_t sw = 0;
        for (int64_t k = 0; k < KH * KW; k++) w[k] = (int8_t)((int)(next() % 255) - 127), sw += w[k];
        const int32_t zp = (int32_t)(next() % 256);
        const uint8_t pc = (uint8_t)(next() % 256);
        const float sc = (float)(unit() * 1e-3 + 1e-6), b = (float)laplace();
        const int has_b = (int)(next() % 2);
        ks->ks->i8_dw(x, IH, IW, PT, PL, pc, w, KH, KW, SH, SW, DH, zp * sw, sc, has_b ? &b : NULL, y, OH, OW);
        for (int64_t oy = 0; oy < OH && ok; oy++)
            for (int64_t ox = 0; ox < OW && ok; ox++) {
                int64_t s = 0;
                for (int64_t ky = 0; ky < KH; ky++)
                    for (int64_t kx = 0; kx < KW; kx++) {
                        const int64_t iy = oy * SH + ky * DH - PT, ix = ox * SW + kx - PL;
                        const int64_t c = iy >= 0 && iy < IH && ix >= 0 && ix < IW ? x[iy * IW + ix] : pc;
                        s += (int64_t)w[ky * KW + kx] * (c - zp);
                    }
                volatile float p = sc * (float)s; /* two roundings */
                const float want = has_b ? p + b : p, got = y[oy * OW + ox];
                if (memcmp(&want, &got, 4)) {
                    CHECK(0, "%s i8_dw k%lldx%lld s%lld,%lld d%lld pad %lld,%lld %lldx%lld (%lld,%lld): got %.9g want %.9g",
                          ks->name, (long long)KH, (long long)KW, (long long)SH, (long long)SW, (long long)DH, (long long)PT,
                          (long long)PL, (long long)IH, (long long)IW, (long long)oy, (long long)ox, (double)got, (double)want);
                    ok = 0;
                }
            }
        free(x), free(y);
        cases++;
    }
    CHECK(ok && cases > 200, "%s i8_dw (%d cases)", ks->name, cases);
    printf("%s: INT8 depthwise planes, %d cases bit for bit as the formula: %s\n", ks->name, cases, ok ? "ok" : "FAIL");
}

/* ---- FP32 depthwise planes (kernels.h f32_dw) against the operators' loop as a formula, bit for bit: each
 * output one chain of FMAs, 0 + bias first, then the taps in order, pv where a tap falls outside the plane.
 * Planes in buffers of exactly their size (ASan sees a read past them); pv +0, -0 and others. ---- */
static void test_f32_dw(const kset_case *ks) {
    if (!ks->ks->f32_dw) return;
    int ok = 1, cases = 0;
    static const int64_t kws[4] = {1, 3, 5, 7};
    /* the last 400: 3 x 3 and 5 x 5 kernels of dilation 1 (the AVX-512 set's own body for them, f32dw3_rows),
     * rows up to 400 wide (25 vectors: blocks of up to 6, the last partly past the row) */
    for (int it = 0; it < 900 && ok; it++) {
        const int k33 = it >= 500;
        const int64_t kk = it % 2 ? 5 : 3;
        const int64_t KH = k33 ? kk : 1 + (int64_t)(next() % 7), KW = k33 ? kk : kws[it < 8 ? 1 + it % 2 : (int)(next() % 4)];
        const int64_t SW = 1 + (int64_t)(next() % 2), SH = 1 + (int64_t)(next() % 3), DH = k33 ? 1 : 1 + (int64_t)(next() % 2);
        const int64_t PT = (int64_t)(next() % 4), PL = (int64_t)(next() % 4), PB = (int64_t)(next() % 4);
        const int64_t PR = (int64_t)(next() % 4);
        const int64_t IW = 1 + (int64_t)(next() % (k33 ? 400 : 150)), IH = 1 + (int64_t)(next() % 9);
        const int64_t OW = (IW + PL + PR - KW) / SW + 1, OH = (IH + PT + PB - (KH - 1) * DH - 1) / SH + 1;
        if (OW < 1 || OH < 1 || IW + PL + PR < KW || IH + PT + PB < (KH - 1) * DH + 1) continue;
        float *x = malloc(sizeof(float) * (size_t)(IH * IW)), w[49];
        float *y = malloc(sizeof(float) * (size_t)(OH * OW));
        for (int64_t i = 0; i < IH * IW; i++) x[i] = (float)laplace();
        for (int64_t k = 0; k < KH * KW; k++) w[k] = (float)laplace();
        const int pk = (int)(next() % 4);
        const float pv = pk == 0 ? 0.0f : pk == 1 ? -0.0f : (float)laplace(), b = next() % 4 ? (float)laplace() : -0.0f;
        ks->ks->f32_dw(x, IH, IW, PT, PL, pv, w, KH, KW, SH, SW, DH, b, y, OH, OW);
        for (int64_t oy = 0; oy < OH && ok; oy++)
            for (int64_t ox = 0; ox < OW && ok; ox++) {
                volatile float acc = 0.0f;
                acc = acc + b;
                for (int64_t ky = 0; ky < KH; ky++)
                    for (int64_t kx = 0; kx < KW; kx++) {
                        const int64_t iy = oy * SH + ky * DH - PT, ix = ox * SW + kx - PL;
                        const float v = iy >= 0 && iy < IH && ix >= 0 && ix < IW ? x[iy * IW + ix] : pv;
                        acc = fmaf(v, w[ky * KW + kx], acc);
                    }
                const float want = acc, got = y[oy * OW + ox];
                if (memcmp(&want, &got, 4)) {
                    CHECK(0, "%s f32_dw k%lldx%lld s%lld,%lld d%lld pad %lld,%lld pv %g %lldx%lld (%lld,%lld): got %.9g want %.9g",
                          ks->name, (long long)KH, (long long)KW, (long long)SH, (long long)SW, (long long)DH, (long long)PT,
                          (long long)PL, (double)pv, (long long)IH, (long long)IW, (long long)oy, (long long)ox, (double)got,
                          (double)want);
                    ok = 0;
                }
            }
        free(x), free(y);
        cases++;
    }
    CHECK(ok && cases > 550, "%s f32_dw (%d cases)", ks->name, cases);
    printf("%s: FP32 depthwise planes, %d cases bit for bit as the FMA chain: %s\n", ks->name, cases, ok ? "ok" : "FAIL");
}

int main(void) {
    const char *s = getenv("TEQ_SEED");
    uint64_t seed = s && *s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
    printf("seed %llu (replay: TEQ_SEED=%llu)\n", (unsigned long long)seed, (unsigned long long)seed);
    rng = seed;
    fit_codes();
    kset_case ks[4];
    int n = sets(ks);
    for (int i = 0; i < n; i++) {
        test_gemv(&ks[i]);
        test_i8(&ks[i]);
        test_i8conv(&ks[i]);
        test_f32conv(&ks[i]);
        test_f32wino(&ks[i]);
        test_i8_dw(&ks[i]);
        test_f32_dw(&ks[i]);
    }
    test_lanes(ks, n);
    test_map_u8();
    test_gemv_l8(ks, n);
    test_trim();
    test_subnormal();
    test_kq();
    test_kq_shifted();
    test_kl8();
    test_kv8();
    printf("best set: %s\n", teq_kset_best()->name);
    for (int i = 0; i < 2; i++) teq_tensor_fit_free(&fit_w[i]), teq_tensor_fit_free(&fit_a[i]);
    if (n_fail) printf("replay with TEQ_SEED=%llu\n", (unsigned long long)seed);
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
