/* teq energy against a brute-force count.
 *
 * A tiny quantized model is built by hand, written as .teq and loaded through the public API:
 *   x [1,3,7,6] -> TeqQuantize(A1) -> Conv(W1 [4,3,3,3], strides 2,1, pads 1) -> y1 [1,4,4,6]
 *   x           -> TeqQuantize(A2) -> MatMul(B [6,5])                        -> y2 [1,3,7,5]
 * The input has exact zeros and values below half the first level (zero codes), the weights have
 * zero codes. Loops written here count taps, element pairs with no zero operand, outputs and the
 * counters each layer's betas call for; teq_energy_analyze must give the same numbers, and its
 * energies must follow the documented model and scale with the table. */
#include "../src/core/core.h"
#include "../src/format/teq_format.h"
#include "../src/graph/graph.h"
#include "../src/ops/quant_ops.h"
#include "../src/quant/quant.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];
static uint64_t rng = 12345;
static double rnd01(void) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng >> 11) * 0x1.0p-53;
}

static int add_value(teq_graph *g, const char *name, int ndim, const int64_t *dims) {
    int v = teq_graph_add_value(g, name);
    g->values[v].dtype = TEQ_DTYPE_FLOAT;
    g->values[v].ndim = ndim;
    for (int d = 0; d < ndim; d++) g->values[v].dims[d] = dims[d];
    return v;
}

/* A constant quantized with q from random values (every 5th exactly 0); its decoding into deq. */
static void make_qweight(teq_value *v, const teq_qparams *q, int ndim, const int64_t *dims, float *deq) {
    teq_tensor *t = NULL;
    teq_error e;
    if (teq_tensor_create(TEQ_DTYPE_FLOAT, ndim, dims, &t, &e)) exit(2);
    int64_t n = teq_tensor_numel(t);
    float *x = malloc(sizeof(float) * (size_t)n);
    uint8_t *codes = malloc((size_t)n);
    for (int64_t i = 0; i < n; i++) x[i] = i % 5 == 0 ? 0.0f : (float)(rnd01() * 2 - 1);
    teq_q_quantize(q, x, n, codes);
    teq_qweight *w = calloc(1, sizeof *w);
    w->q = *q;
    w->packed_bytes = teq_packed_bytes(n, q->bits);
    w->packed = calloc(1, w->packed_bytes);
    teq_pack_bits(codes, n, q->bits, w->packed);
    teq_q_dequantize(q, codes, n, (float *)t->data);
    memcpy(deq, t->data, sizeof(float) * (size_t)n);
    v->constant = t;
    v->qweight = w;
    free(x);
    free(codes);
}

static void set_ints(teq_attr *a, const char *name, int n, const int64_t *v) {
    a->name = teq_strdup(name);
    a->type = TEQ_ATTR_INTS;
    a->n = n;
    a->ints = malloc(sizeof(int64_t) * (size_t)n);
    memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
}

static void quant_node(teq_graph *g, const char *name, int src, int dst, const teq_qparams *q) {
    int n = teq_graph_add_node(g, name, "TeqQuantize", "teq", 1, 1, &src, 1, &dst);
    teq_attr *a = calloc(1, sizeof *a);
    a->name = teq_strdup("qparams");
    a->type = TEQ_ATTR_TENSOR;
    teq_error e;
    if (teq_qparams_to_tensor(q, &a->t, &e)) exit(2);
    g->nodes[n].attr = a;
    g->nodes[n].n_attr = 1;
}

typedef struct codes {
    teq_qparams a1, w1, a2, b;
} codes;

/* Exponential codes (the first layer has beta_W = 0: C1 and C2 only; the second all four counters). */
static const codes EXP = {
    .a1 = {.kind = TEQ_CODE_EXP, .bits = 3, .is_signed = 1, .zero_code = 1, .base = 2, .alpha = 0.1, .beta = 0.05},
    .w1 = {.kind = TEQ_CODE_EXP, .bits = 4, .is_signed = 1, .zero_code = 1, .base = 2, .alpha = 0.02, .beta = 0},
    .a2 = {.kind = TEQ_CODE_EXP, .bits = 4, .is_signed = 0, .zero_code = 1, .base = 1.3, .alpha = 0.05, .beta = 0.02},
    .b = {.kind = TEQ_CODE_EXP, .bits = 3, .is_signed = 1, .zero_code = 1, .base = 1.3, .alpha = 0.1, .beta = 0.01},
};
/* The INT8 scheme: linear 8-bit codes everywhere. */
static const codes INT8 = {
    .a1 = {.kind = TEQ_CODE_LINEAR, .bits = 8, .is_signed = 0, .scale = 0.01, .zero_point = 128},
    .w1 = {.kind = TEQ_CODE_LINEAR, .bits = 8, .is_signed = 1, .scale = 0.01},
    .a2 = {.kind = TEQ_CODE_LINEAR, .bits = 8, .is_signed = 0, .scale = 0.01, .zero_point = 128},
    .b = {.kind = TEQ_CODE_LINEAR, .bits = 8, .is_signed = 1, .scale = 0.01},
};

enum { C = 3, H = 7, W = 6, M = 4, KH = 3, KW = 3, SY = 2, SX = 1, P = 1, N = 5 };
static float w1_deq[M * C * KH * KW], b_deq[W * N];

static void build(const char *path, const codes *cd) {
    teq_graph *g = teq_graph_new();
    g->opset = 13;
    int64_t dx[4] = {1, C, H, W}, dw[4] = {M, C, KH, KW}, db[2] = {W, N};
    int x = add_value(g, "x", 4, dx);
    int xq1 = add_value(g, "xq1", -1, NULL), xq2 = add_value(g, "xq2", -1, NULL);
    int w1 = add_value(g, "w1", 4, dw), b = add_value(g, "b", 2, db);
    int y1 = add_value(g, "y1", -1, NULL), y2 = add_value(g, "y2", -1, NULL);
    make_qweight(&g->values[w1], &cd->w1, 4, dw, w1_deq);
    make_qweight(&g->values[b], &cd->b, 2, db, b_deq);
    g->inputs = malloc(sizeof(int));
    g->inputs[0] = x;
    g->n_inputs = 1;
    g->outputs = malloc(2 * sizeof(int));
    g->outputs[0] = y1;
    g->outputs[1] = y2;
    g->n_outputs = 2;
    quant_node(g, "q1", x, xq1, &cd->a1);
    quant_node(g, "q2", x, xq2, &cd->a2);
    int in1[2] = {xq1, w1};
    int nc = teq_graph_add_node(g, "conv", "Conv", "", 13, 2, in1, 1, &y1);
    teq_attr *a = calloc(2, sizeof *a);
    const int64_t st[2] = {SY, SX}, pads[4] = {P, P, P, P};
    set_ints(&a[0], "strides", 2, st);
    set_ints(&a[1], "pads", 4, pads);
    g->nodes[nc].attr = a;
    g->nodes[nc].n_attr = 2;
    int in2[2] = {xq2, b};
    teq_graph_add_node(g, "matmul", "MatMul", "", 13, 2, in2, 1, &y2);
    teq_error e;
    teq_status s = teq_format_write(path, g, &e);
    if (s) {
        printf("write %s: %s\n", path, e.msg);
        exit(2);
    }
    teq_graph_free(g);
}

/* The input: uniform in [-1, 1], every 7th value exactly 0 and every 11th tiny (a zero code). */
static float xin[C * H * W];
static void make_input(const char *path) {
    for (int i = 0; i < C * H * W; i++) xin[i] = i % 7 == 0 ? 0.0f : i % 11 == 0 ? 1e-4f : (float)(rnd01() * 2 - 1);
    int64_t d[4] = {1, C, H, W};
    teq_tensor t = {.dtype = TEQ_DTYPE_FLOAT, .ndim = 4, .data = xin};
    memcpy(t.dims, d, sizeof d);
    teq_error e;
    if (teq_npy_write(path, &t, &e)) exit(2);
}

static int rel_eq(double a, double b, double tol) { return fabs(a - b) <= tol * fmax(1.0, fmax(fabs(a), fabs(b))); }

static const teq_energy_layer *find(const teq_energy_report *r, const char *name) {
    for (int i = 0; i < r->n_layers; i++)
        if (!strcmp(r->layers[i].name, name)) return &r->layers[i];
    return NULL;
}

static teq_energy_report *analyze(const char *model, const char *input, const teq_energy_table *t, int no_skip) {
    teq_error e;
    teq_model *m = NULL;
    if (teq_model_load(model, &m, &e)) {
        CHECK(0, "load %s: %s", model, e.msg);
        return NULL;
    }
    teq_energy_opts o = {0};
    o.input_path = input;
    o.table = t;
    o.no_zero_skip = no_skip;
    teq_energy_report *r = NULL;
    teq_status s = teq_energy_analyze(m, &o, &r, &e);
    CHECK(s == TEQ_OK, "analyze %s: %s", model, e.msg);
    teq_model_free(m);
    return r;
}

static void test_counts(const char *model, const char *input) {
    /* brute force, from the dequantized activations */
    float xq1[C * H * W], xq2[C * H * W];
    teq_q_fake(&EXP.a1, xin, C * H * W, xq1);
    teq_q_fake(&EXP.a2, xin, C * H * W, xq2);
    const int OH = (H + 2 * P - KH) / SY + 1, OW = (W + 2 * P - KW) / SX + 1;
    double taps = 0, pairs = 0, max_taps = 0, zx = 0;
    for (int i = 0; i < C * H * W; i++) zx += xq1[i] == 0;
    CHECK(zx > 10, "the input has zero codes (%g)", zx);
    for (int m = 0; m < M; m++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                double t_out = 0;
                for (int c = 0; c < C; c++)
                    for (int ky = 0; ky < KH; ky++)
                        for (int kx = 0; kx < KW; kx++) {
                            int iy = oy * SY - P + ky, ix = ox * SX - P + kx;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                            t_out++;
                            pairs += xq1[(c * H + iy) * W + ix] != 0 && w1_deq[((m * C + c) * KH + ky) * KW + kx] != 0;
                        }
                taps += t_out;
                if (t_out > max_taps) max_taps = t_out;
            }
    double mm_pairs = 0;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < N; j++)
                for (int k = 0; k < W; k++) mm_pairs += xq2[(c * H + i) * W + k] != 0 && b_deq[k * N + j] != 0;

    teq_energy_report *r = analyze(model, input, NULL, 0);
    if (!r) return;
    CHECK(r->n_layers == 2, "two layers (%d)", r->n_layers);
    const teq_energy_layer *cv = find(r, "conv"), *mm = find(r, "matmul");
    CHECK(cv && mm, "layers conv and matmul found");
    if (cv && mm) {
        const double outs = M * OH * OW;
        CHECK(cv->outputs == outs, "conv outputs %g == %g", cv->outputs, outs);
        CHECK(cv->macs == outs * C * KH * KW, "conv dense MACs %g == %g", cv->macs, outs * C * KH * KW);
        CHECK(cv->taps == taps, "conv taps %g == brute force %g", cv->taps, taps);
        CHECK(cv->pairs_nonzero == pairs, "conv non-zero pairs %g == brute force %g", cv->pairs_nonzero, pairs);
        CHECK(pairs < taps, "zeros are skipped (%g of %g)", pairs, taps);
        CHECK(cv->n_counters == 2, "conv: beta_W = 0 -> counters C1, C2 (%d)", cv->n_counters);
        CHECK(cv->levels_w == 8 && cv->levels_a == 4, "conv levels %d, %d", cv->levels_w, cv->levels_a);
        CHECK(cv->exp_add_bits == 4, "conv exponent adder 4 bits (%d)", cv->exp_add_bits);
        CHECK(cv->counter_bits == 6 && max_taps == 27, "conv counters 6 bits (%d; max taps %g)", cv->counter_bits,
              max_taps);
        CHECK(cv->teq_exp_adds == pairs && cv->teq_counter_updates == 2 * pairs, "conv exp adds %g, updates %g",
              cv->teq_exp_adds, cv->teq_counter_updates);
        /* C1: 8 + 4 - 1 entries, C2: 8, plus one per term (2) */
        CHECK(cv->teq_final_muls == outs * (11 + 8 + 2), "conv final multiplies %g", cv->teq_final_muls);
        CHECK(cv->int8_macs == taps, "conv INT8 MACs %g", cv->int8_macs);
        /* the default table, by the documented model */
        double pj8 = taps * (0.2 + 0.1) + outs * (3.7 + 0.9);
        CHECK(rel_eq(cv->pj_int8_compute, pj8, 1e-12), "conv INT8 compute %g pJ == %g", cv->pj_int8_compute, pj8);
        double pjt = pairs * (0.03 * 4 / 8) + 2 * pairs * (0.03 * 6 / 8) + outs * 21 * (3.7 + 0.9);
        CHECK(rel_eq(cv->pj_teq_compute, pjt, 1e-12), "conv teq compute %g pJ == %g", cv->pj_teq_compute, pjt);
        double dram_t = (54 + 4) + C * H * W * 3 / 8.0, dram_8 = (108 + 4) + C * H * W;
        CHECK(rel_eq(cv->teq_dram_bytes, dram_t, 1e-12) && rel_eq(cv->int8_dram_bytes, dram_8, 1e-12),
              "conv DRAM bytes %g, %g == %g, %g", cv->teq_dram_bytes, cv->int8_dram_bytes, dram_t, dram_8);
        CHECK(rel_eq(cv->teq_sram_bytes, taps * 7 / 8.0 + 4 * outs, 1e-12), "conv SRAM bytes %g", cv->teq_sram_bytes);

        const double mouts = C * H * N;
        CHECK(mm->outputs == mouts && mm->taps == mouts * W && mm->macs == mouts * W, "matmul outputs %g taps %g",
              mm->outputs, mm->taps);
        CHECK(mm->pairs_nonzero == mm_pairs, "matmul non-zero pairs %g == brute force %g", mm->pairs_nonzero, mm_pairs);
        CHECK(mm->n_counters == 4, "matmul: both betas -> 4 counters (%d)", mm->n_counters);
        CHECK(mm->levels_w == 4 && mm->levels_a == 15, "matmul levels %d, %d", mm->levels_w, mm->levels_a);
        /* C1: 4 + 15 - 1, C2: 4, C3: 15, plus 4 terms */
        CHECK(mm->teq_final_muls == mouts * (18 + 4 + 15 + 4), "matmul final multiplies %g", mm->teq_final_muls);
        CHECK(mm->teq_counter_updates == 4 * mm_pairs, "matmul counter updates %g", mm->teq_counter_updates);
    }
    double sum_t = 0, sum_8 = 0;
    for (int i = 0; i < r->n_layers; i++) sum_t += r->layers[i].pj_teq, sum_8 += r->layers[i].pj_int8;
    CHECK(rel_eq(r->total_pj_teq, sum_t, 1e-12) && rel_eq(r->total_pj_int8, sum_8, 1e-12), "totals are the layer sums");
    CHECK(rel_eq(r->saving_vs_int8, 1 - sum_t / sum_8, 1e-12), "saving = 1 - teq/int8 (%g)", r->saving_vs_int8);
    CHECK(r->n_assumptions >= 5, "assumptions stated (%d)", r->n_assumptions);

    /* without zero skipping the exponential datapath works on every tap */
    teq_energy_report *d = analyze(model, input, NULL, 1);
    if (d) {
        const teq_energy_layer *dc = find(d, "conv");
        CHECK(dc && dc->teq_exp_adds == taps, "--zero-skip off: exp adds = taps (%g)", dc ? dc->teq_exp_adds : -1);
        CHECK(d->total_pj_teq > r->total_pj_teq, "skipping zeros saves energy");
    }
    teq_energy_report_free(d);

    /* a table with every entry doubled doubles every energy */
    char tpath[512];
    snprintf(tpath, sizeof tpath, "%s/double.txt", tmpdir);
    FILE *f = fopen(tpath, "w");
    fprintf(f, "# every default doubled\nint_add_8 0.06\nint_add_32 0.2\nint_mul_8 0.4\nint_mul_32 6.2\n"
               "fp_add_32 1.8   # float\nfp_mul_32 7.4\n\nsram_64b 20\ndram_64b 2600\n");
    fclose(f);
    teq_energy_table t2;
    teq_error e;
    CHECK(teq_energy_table_read(tpath, &t2, &e) == TEQ_OK, "read the doubled table: %s", e.msg);
    teq_energy_report *r2 = analyze(model, input, &t2, 0);
    if (r2) {
        CHECK(rel_eq(r2->total_pj_teq, 2 * r->total_pj_teq, 1e-12), "doubled table: teq %g == 2 x %g", r2->total_pj_teq,
              r->total_pj_teq);
        CHECK(rel_eq(r2->total_pj_int8, 2 * r->total_pj_int8, 1e-12), "doubled table: INT8 %g == 2 x %g",
              r2->total_pj_int8, r->total_pj_int8);
        CHECK(rel_eq(r2->saving_vs_int8, r->saving_vs_int8, 1e-12), "doubled table: same saving");
    }
    teq_energy_report_free(r2);

    /* the JSON keys other tools read */
    char jpath[512];
    snprintf(jpath, sizeof jpath, "%s/e.json", tmpdir);
    CHECK(teq_energy_write_json(jpath, r, &e) == TEQ_OK, "write JSON: %s", e.msg);
    f = fopen(jpath, "r");
    char buf[1 << 16];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
    const char *keys[] = {"\"total_pj_teq\":", "\"total_pj_int8\":", "\"saving_vs_int8\":", "\"assumptions\": [",
                          "\"layers\": ["};
    for (int k = 0; k < 5; k++) CHECK(strstr(buf, keys[k]) != NULL, "JSON has %s", keys[k]);
    teq_energy_report_free(r);
}

/* An all-INT8 model costs the same in both columns: the two datapaths coincide at 8-bit linear codes. */
static void test_int8(const char *input) {
    char path[512];
    snprintf(path, sizeof path, "%s/int8.teq", tmpdir);
    build(path, &INT8);
    teq_energy_report *r = analyze(path, input, NULL, 0);
    if (!r) return;
    CHECK(rel_eq(r->total_pj_teq, r->total_pj_int8, 1e-12) && fabs(r->saving_vs_int8) < 1e-12,
          "INT8 model: teq %g pJ == INT8 %g pJ", r->total_pj_teq, r->total_pj_int8);
    teq_energy_report_free(r);
}

static void bad_table(const char *name, const char *text, const char *want) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.txt", tmpdir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    teq_energy_table t;
    teq_energy_table_default(&t);
    const double before = t.dram_64b;
    teq_error e;
    teq_status s = teq_energy_table_read(path, &t, &e);
    CHECK(s == TEQ_ERR_FORMAT && strstr(e.msg, want) && strstr(e.msg, path) && !strchr(e.msg, '\n'),
          "bad table %s refused naming '%s': %s", name, want, e.msg);
    CHECK(t.dram_64b == before, "bad table %s leaves the table untouched", name);
}

static void test_bad_tables(void) {
    const char *full = "int_add_8 0.03\nint_add_32 0.1\nint_mul_8 0.2\nint_mul_32 3.1\nfp_add_32 0.9\nfp_mul_32 3.7\n"
                       "sram_64b 10\n";
    char buf[512];
    bad_table("missing", full, "entry 'dram_64b' missing");
    snprintf(buf, sizeof buf, "%sdram_64b -1\n", full);
    bad_table("negative", buf, ":8:");
    snprintf(buf, sizeof buf, "%sdram_64b 1300 pJ\n", full);
    bad_table("extra", buf, ":8: expected");
    snprintf(buf, sizeof buf, "%sdram_64b 1300\nint_add_8 0.03\n", full);
    bad_table("twice", buf, ":9: entry 'int_add_8' given twice");
    snprintf(buf, sizeof buf, "dram 1300\n%s", full);
    bad_table("unknown", buf, ":1: unknown entry 'dram'");
    snprintf(buf, sizeof buf, "%sdram_64b abc\n", full);
    bad_table("nan", buf, ":8:");
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/teq-energy-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) return 2;
    char model[512], input[512];
    snprintf(model, sizeof model, "%s/tiny.teq", tmpdir);
    snprintf(input, sizeof input, "%s/x.npy", tmpdir);
    build(model, &EXP);
    make_input(input);
    test_counts(model, input);
    test_int8(input);
    test_bad_tables();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) printf("could not remove %s\n", tmpdir);
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail > 0;
}
