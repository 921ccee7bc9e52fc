/* teq_export_onnx, one activation quantizer at a time: a graph x -> TeqQuantize -> y is written as .teq,
 * exported, and the ONNX model run by teq's own engine must give teq_q_fake's values bit for bit on inputs
 * chosen to sit on every decision the code makes: each level, each threshold and the floats just around
 * it, 0 and -0, the sign boundary, infinities, NaN, and random magnitudes over the code's range. Exponential
 * codes (signed and unsigned, with and without the zero code, 2..8 bits, with and without a shift), linear
 * codes with TEQ_EXPORT_INT8=exact, and float32 linear codes as QuantizeLinear + DequantizeLinear. Also: bad input is refused in one message, nothing written.
 * Whole models, and ONNX Runtime: tests/export_compare.mjs. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, setenv */
#include "check.h"
#include "format/teq_format.h"
#include "graph/graph.h"
#include "quant/quant.h"
#include "teq.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t rng = 0x5eed0e4b1f2c3a7dull;
static uint64_t next(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}
static double unit(void) { return (double)(next() >> 11) * 0x1.0p-53; }

/* x [n] -> TeqQuantize(q, shift) -> y [n] */
static teq_graph *build(const teq_qparams *q, double shift, int64_t n) {
    teq_graph *g = teq_graph_new();
    g->opset = 13;
    const int x = teq_graph_add_value(g, "x"), y = teq_graph_add_value(g, "y");
    for (int v = 0; v < 2; v++) g->values[v].dtype = TEQ_DTYPE_FLOAT, g->values[v].ndim = 1, g->values[v].dims[0] = n;
    (void)y;
    g->inputs = malloc(sizeof(int)), g->inputs[0] = x, g->n_inputs = 1;
    g->outputs = malloc(sizeof(int)), g->outputs[0] = 1, g->n_outputs = 1;
    const int out = 1;
    const int nq = teq_graph_add_node(g, "quant", "TeqQuantize", "teq", 1, 1, &x, 1, &out);
    teq_attr *a = calloc(1, sizeof *a);
    a->name = teq_strdup("qparams");
    a->type = TEQ_ATTR_TENSOR;
    const int64_t len = shift != 0 ? 10 : 9;
    teq_error e;
    if (teq_tensor_create(TEQ_DTYPE_DOUBLE, 1, &len, &a->t, &e)) exit(2);
    double *v = a->t->data;
    v[0] = q->kind, v[1] = q->bits, v[2] = q->is_signed, v[3] = q->zero_code;
    v[4] = q->base, v[5] = q->alpha, v[6] = q->beta, v[7] = q->scale, v[8] = q->zero_point;
    if (len == 10) v[9] = shift;
    g->nodes[nq].attr = a, g->nodes[nq].n_attr = 1;
    return g;
}

/* The inputs: around every value of the code table and every midpoint between two of them (the thresholds
 * are the floats just below the midpoints), both signs, minus the shift; specials; random magnitudes. */
static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static int64_t inputs(const teq_qparams *q, float shift, float *x, int64_t cap) {
    float t[256];
    teq_q_code_table(q, t);
    const int nc = teq_q_num_codes(q);
    qsort(t, (size_t)nc, sizeof(float), cmp_float);
    int64_t n = 0;
    const float hi = fmaxf(fabsf(t[0]), fabsf(t[nc - 1]));
#define PUT(v) (n < cap ? (void)(x[n++] = (v)) : (void)0)
#define AROUND(m)                                                                                                      \
    for (int s = -1; s <= 1; s += 2) {                                                                                 \
        const float v = s * (m) - shift;                                                                               \
        PUT(v), PUT(nextafterf(v, INFINITY)), PUT(nextafterf(v, -INFINITY));                                           \
    }
    for (int i = 0; i < nc; i++) {
        AROUND(t[i]);
        if (i + 1 < nc && t[i + 1] > t[i]) AROUND((float)(0.5 * ((double)t[i] + (double)t[i + 1])));
    }
    const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 1e-40f, -1e-40f, FLT_MAX, -FLT_MAX, -shift};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) PUT(special[i]);
    while (n < cap) PUT((float)((next() & 1 ? 1 : -1) * hi * 1.2 * unit()) - shift);
#undef AROUND
#undef PUT
    return n;
}

static void quant_case(const char *dir, const char *label, const teq_qparams *q, double shift) {
    enum { N = 4096 };
    static float x[N], want[N];
    const int64_t n = inputs(q, (float)shift, x, N);
    for (int64_t i = 0; i < n; i++) want[i] = shift != 0 ? x[i] + (float)shift : x[i];
    teq_q_fake(q, want, n, want);
    teq_graph *g = build(q, shift, n);
    char tp[600], op[600];
    snprintf(tp, sizeof tp, "%s/q.teq", dir);
    snprintf(op, sizeof op, "%s/q.onnx", dir);
    teq_error e;
    teq_status s = teq_format_write(tp, g, &e);
    teq_graph_free(g);
    CHECK(s == TEQ_OK, "%s: write .teq: %s", label, e.msg);
    if (s) return;
    s = teq_export_onnx(tp, op, &e);
    CHECK(s == TEQ_OK, "%s: export: %s", label, e.msg);
    if (s) return;
    teq_model *m = NULL;
    s = teq_model_load(op, &m, &e);
    CHECK(s == TEQ_OK, "%s: teq loads the export: %s", label, e.msg);
    if (s) return;
    teq_tensor *in = NULL, *out = NULL;
    if (teq_tensor_create(TEQ_DTYPE_FLOAT, 1, &n, &in, &e)) exit(2);
    memcpy(in->data, x, sizeof(float) * (size_t)n);
    s = teq_model_run(m, 1, NULL, (const teq_tensor *const *)&in, &out, &e);
    CHECK(s == TEQ_OK, "%s: run: %s", label, e.msg);
    if (!s) {
        int64_t bad = 0, first = -1;
        const float *y = out->data;
        for (int64_t i = 0; i < n; i++)
            if (memcmp(&y[i], &want[i], 4)) bad++, first = first < 0 ? i : first;
        CHECK(bad == 0, "%s: %lld of %lld values differ, first x = %a: export %a, teq %a", label, (long long)bad,
              (long long)n, first >= 0 ? (double)x[first] : 0.0, first >= 0 ? (double)y[first] : 0.0,
              first >= 0 ? (double)want[first] : 0.0);
    }
    teq_tensor_free(in);
    teq_tensor_free(out);
    teq_model_free(m);
}

int main(void) {
    char dir[] = "/tmp/teq_test_export_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    int n_cases = 0;
    /* exponential codes: every width, sign and zero-code combination, a few (base, alpha, beta) each */
    for (int bits = 2; bits <= 8; bits++)
        for (int sg = 0; sg <= 1; sg++)
            for (int zc = 0; zc <= 1; zc++)
                for (int k = 0; k < 3; k++) {
                    teq_qparams q = {.kind = TEQ_CODE_EXP, .bits = bits, .is_signed = sg, .zero_code = zc};
                    q.base = 1.01 + unit() * (bits >= 7 ? 0.1 : 1.0);
                    q.alpha = 0.01 + unit();
                    q.beta = (unit() - 0.5) * q.alpha * 0.9;
                    char msg[200], label[200];
                    if (teq_qparams_check(&q, msg, sizeof msg)) continue;
                    /* a shift only with unsigned codes (FORMAT.md 1.1) */
                    const double shift = !sg && k == 2 ? 0.375 : 0;
                    snprintf(label, sizeof label, "exp %d bits %s%s base %.4f alpha %.4f beta %.4f shift %g", bits,
                             sg ? "signed" : "unsigned", zc ? " zero-code" : "", q.base, q.alpha, q.beta, shift);
                    quant_case(dir, label, &q, shift);
                    n_cases++;
                }
    /* linear codes through the exact threshold search */
    setenv("TEQ_EXPORT_INT8", "exact", 1);
    for (int bits = 2; bits <= 8; bits++)
        for (int sg = 0; sg <= 1; sg++) {
            teq_qparams q = {.kind = TEQ_CODE_LINEAR, .bits = bits, .is_signed = sg};
            q.scale = 0.001 + unit() * 0.1;
            q.zero_point = sg ? 0 : (int32_t)(next() % (uint64_t)(1 << bits));
            char label[200];
            snprintf(label, sizeof label, "linear exact %d bits %s scale %.5f zp %d", bits, sg ? "signed" : "unsigned",
                     q.scale, (int)q.zero_point);
            quant_case(dir, label, &q, 0);
            n_cases++;
        }
    unsetenv("TEQ_EXPORT_INT8");
    /* float32 linear codes (what teq's quantizer makes) through QuantizeLinear + DequantizeLinear (+ Clip below 8
     * bits): the QDQ export itself is exact; scales near 1/127.5 put pixel-grid inputs on exact ties */
    for (int bits = 2; bits <= 8; bits++)
        for (int sg = 0; sg <= 1; sg++)
            for (int k = 0; k < 2; k++) {
                teq_qparams q = {.kind = TEQ_CODE_LINEAR, .bits = bits, .is_signed = sg, .lin_f32 = 1};
                q.scale = k ? 1.0 / 127.5 + unit() * 1e-9 : 0.001 + unit() * 0.1;
                q.zero_point = sg ? 0 : (int32_t)(next() % (uint64_t)(1 << bits));
                char label[200];
                snprintf(label, sizeof label, "linear f32 (QDQ) %d bits %s scale %.9f zp %d", bits,
                         sg ? "signed" : "unsigned", q.scale, (int)q.zero_point);
                quant_case(dir, label, &q, 0);
                n_cases++;
            }
    printf("  %d quantizers exported and run, each on up to 4096 inputs at its decisions\n", n_cases);

    /* bad input: one message naming the file, nothing written */
    char p[600], o[600];
    teq_error e;
    snprintf(p, sizeof p, "%s/not_a_teq.teq", dir);
    snprintf(o, sizeof o, "%s/never.onnx", dir);
    FILE *f = fopen(p, "wb");
    if (f) fputs("this is not a model", f), fclose(f);
    teq_status s = teq_export_onnx(p, o, &e);
    struct stat st;
    CHECK(s == TEQ_ERR_FORMAT && strstr(e.msg, p) && stat(o, &st) != 0, "not a .teq: status %d, '%s'", (int)s, e.msg);
    snprintf(p, sizeof p, "%s/q.teq", dir);
    snprintf(o, sizeof o, "%s/no_such_dir/x.onnx", dir);
    s = teq_export_onnx(p, o, &e);
    CHECK(s == TEQ_ERR_IO && strstr(e.msg, "no_such_dir"), "unwritable output: status %d, '%s'", (int)s, e.msg);
    CHECK(teq_export_onnx(NULL, o, &e) == TEQ_ERR_ARG, "NULL path refused");

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
