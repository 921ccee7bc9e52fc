/* Tests of the .teq format (src/format/, spec in docs/FORMAT.md):
 *  1. a hand-built graph with every kind of content (plain constants of several types, quantized
 *     weights with exponential and linear codes, every attribute type, absent inputs/outputs,
 *     declared shapes with dim names, meta_json) is written, read back and compared field by field,
 *     and written again byte-identically;
 *  2. the PP-OCRv4 recognition model (ONNX loader + resolve + plan) is written as .teq, read back,
 *     and both graphs give bit-identical outputs on the same random input (also through the public
 *     teq_model_load, which sniffs the magic);
 *  3. damaged files: every truncation of the small file and a sample of the large one, a flipped
 *     byte in every section, and files edited with a recomputed checksum so that each structural
 *     check is reached; each is refused with TEQ_ERR_FORMAT, one line naming the file.
 * Prints `N passed, M failed`; exits non-zero on a failure. Run from the repository root. */
#define _POSIX_C_SOURCE 200809L
#include "api/model_internal.h"
#include "format/teq_format.h"
#include "graph/exec.h"
#include "onnx/onnx_load.h"
#include "ops/quant_ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"

static char tmpdir[256];

/* ---------------------------------------------------------------- little helpers */

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void wr64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void wr16_minor(uint8_t *b, uint16_t minor) {
    b[14] = (uint8_t)minor;
    b[15] = (uint8_t)(minor >> 8);
}
static void fix_crc(uint8_t *b, size_t len) { wr32(b + 8, (uint32_t)crc32_z(0, b + 12, len - 12)); }

/* Offset and size of section `type` (from the file's own table, as FORMAT.md describes it);
 * returns its table index or -1. */
static int find_section(const uint8_t *b, uint32_t type, uint64_t *off, uint64_t *size) {
    uint32_t n = rd32(b + 20);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = b + 32 + 24 * i;
        if (rd32(e) == type) {
            *off = rd64(e + 8);
            *size = rd64(e + 16);
            return (int)i;
        }
    }
    return -1;
}

static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}
static float rnd_float(void) { return (float)(rnd() % 20001) / 10000.0f - 1.0f; }

static char *xstrdup(const char *s) { return s ? teq_strdup(s) : NULL; }

/* ---------------------------------------------------------------- graph comparison */

static int n_diff;
#define DIFF(...)                                                                                                      \
    do {                                                                                                               \
        if (n_diff++ < 10) {                                                                                           \
            printf("  differs: ");                                                                                     \
            printf(__VA_ARGS__);                                                                                       \
            printf("\n");                                                                                              \
        }                                                                                                              \
    } while (0)

static bool str_eq(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

static void cmp_tensor(const teq_tensor *a, const teq_tensor *b, const char *what) {
    if (!a || !b) {
        if (a || b) DIFF("%s: constant present on one side only", what);
        return;
    }
    if (a->dtype != b->dtype || a->ndim != b->ndim) {
        DIFF("%s: dtype/rank", what);
        return;
    }
    for (int d = 0; d < a->ndim; d++)
        if (a->dims[d] != b->dims[d]) DIFF("%s: dim %d", what, d);
    size_t bytes = (size_t)teq_tensor_numel(a) * teq_dtype_size(a->dtype);
    if (bytes && memcmp(a->data, b->data, bytes) != 0) DIFF("%s: data", what);
}

static void cmp_graph(const teq_graph *a, const teq_graph *b) {
    if (a->opset != b->opset) DIFF("opset");
    if (a->n_values != b->n_values || a->n_nodes != b->n_nodes || a->n_inputs != b->n_inputs ||
        a->n_outputs != b->n_outputs || a->n_op_counts != b->n_op_counts) {
        DIFF("counts");
        return;
    }
    for (int i = 0; i < a->n_inputs; i++)
        if (a->inputs[i] != b->inputs[i]) DIFF("input %d", i);
    for (int i = 0; i < a->n_outputs; i++)
        if (a->outputs[i] != b->outputs[i]) DIFF("output %d", i);
    for (int i = 0; i < a->n_op_counts; i++)
        if (!str_eq(a->op_counts[i].op_type, b->op_counts[i].op_type) || a->op_counts[i].count != b->op_counts[i].count)
            DIFF("op count %d", i);
    for (int i = 0; i < a->n_values; i++) {
        const teq_value *x = &a->values[i], *y = &b->values[i];
        if (!str_eq(x->name, y->name)) DIFF("value %d name", i);
        if (x->dtype != y->dtype || x->ndim != y->ndim) DIFF("value %d dtype/ndim", i);
        for (int d = 0; d < x->ndim && d < TEQ_MAX_DIMS; d++)
            if (x->dims[d] != y->dims[d] || !str_eq(x->dim_names[d], y->dim_names[d])) DIFF("value %d dim %d", i, d);
        cmp_tensor(x->constant, y->constant, x->name);
        if (!x->qweight != !y->qweight) {
            DIFF("value %d qweight presence", i);
        } else if (x->qweight) {
            const teq_qparams *p = &x->qweight->q, *q = &y->qweight->q;
            if (p->kind != q->kind || p->bits != q->bits || p->is_signed != q->is_signed ||
                p->zero_code != q->zero_code || memcmp(&p->base, &q->base, 8) || memcmp(&p->alpha, &q->alpha, 8) ||
                memcmp(&p->beta, &q->beta, 8) || memcmp(&p->scale, &q->scale, 8) || p->zero_point != q->zero_point ||
                p->lin_f32 != q->lin_f32)
                DIFF("value %d qparams", i);
            if (x->qweight->packed_bytes != y->qweight->packed_bytes ||
                memcmp(x->qweight->packed, y->qweight->packed, x->qweight->packed_bytes))
                DIFF("value %d packed codes", i);
        }
    }
    for (int i = 0; i < a->n_nodes; i++) {
        const teq_node *x = &a->nodes[i], *y = &b->nodes[i];
        if (!str_eq(x->name, y->name) || !str_eq(x->op_type, y->op_type) || !str_eq(x->domain, y->domain) ||
            x->opset != y->opset)
            DIFF("node %d header", i);
        if (x->n_in != y->n_in || x->n_out != y->n_out || x->n_attr != y->n_attr) {
            DIFF("node %d counts", i);
            continue;
        }
        for (int k = 0; k < x->n_in; k++)
            if (x->in[k] != y->in[k]) DIFF("node %d input %d", i, k);
        for (int k = 0; k < x->n_out; k++)
            if (x->out[k] != y->out[k]) DIFF("node %d output %d", i, k);
        for (int k = 0; k < x->n_attr; k++) {
            const teq_attr *p = &x->attr[k], *q = &y->attr[k];
            if (!str_eq(p->name, q->name) || p->type != q->type) {
                DIFF("node %d attr %d name/type", i, k);
                continue;
            }
            switch (p->type) {
            case TEQ_ATTR_FLOAT:
                if (memcmp(&p->f, &q->f, 4)) DIFF("node %d attr %s", i, p->name);
                break;
            case TEQ_ATTR_INT:
                if (p->i != q->i) DIFF("node %d attr %s", i, p->name);
                break;
            case TEQ_ATTR_STRING:
                if (!str_eq(p->s, q->s)) DIFF("node %d attr %s", i, p->name);
                break;
            case TEQ_ATTR_TENSOR: cmp_tensor(p->t, q->t, p->name); break;
            case TEQ_ATTR_FLOATS:
                if (p->n != q->n || (p->n && memcmp(p->floats, q->floats, sizeof(float) * (size_t)p->n)))
                    DIFF("node %d attr %s", i, p->name);
                break;
            case TEQ_ATTR_INTS:
                if (p->n != q->n || (p->n && memcmp(p->ints, q->ints, sizeof(int64_t) * (size_t)p->n)))
                    DIFF("node %d attr %s", i, p->name);
                break;
            case TEQ_ATTR_STRINGS:
                if (p->n != q->n) {
                    DIFF("node %d attr %s count", i, p->name);
                    break;
                }
                for (int64_t e = 0; e < p->n; e++)
                    if (!str_eq(p->strings[e], q->strings[e])) DIFF("node %d attr %s[%lld]", i, p->name, (long long)e);
                break;
            }
        }
    }
    if (!str_eq(a->meta_json, b->meta_json)) DIFF("meta_json");
}

static int graphs_differ(const teq_graph *a, const teq_graph *b) {
    n_diff = 0;
    cmp_graph(a, b);
    return n_diff;
}

/* ---------------------------------------------------------------- the hand-built graph */

static int add_value(teq_graph *g, const char *name, teq_dtype dt, int ndim, const int64_t *dims) {
    int v = teq_graph_add_value(g, name);
    g->values[v].dtype = dt;
    g->values[v].ndim = ndim;
    for (int d = 0; d < ndim; d++) g->values[v].dims[d] = dims[d];
    return v;
}

static teq_tensor *make_tensor(teq_dtype dt, int ndim, const int64_t *dims) {
    teq_tensor *t = NULL;
    teq_error e;
    if (teq_tensor_create(dt, ndim, dims, &t, &e) != TEQ_OK) {
        printf("tensor_create: %s\n", e.msg);
        exit(2);
    }
    return t;
}

/* A quantized constant of shape dims with random codes: packed codes plus their decoding. */
static void make_qweight(teq_value *v, const teq_qparams *q, int ndim, const int64_t *dims) {
    teq_tensor *t = make_tensor(TEQ_DTYPE_FLOAT, ndim, dims);
    int64_t n = teq_tensor_numel(t);
    uint8_t *codes = malloc((size_t)n);
    for (int64_t i = 0; i < n; i++) codes[i] = (uint8_t)(rnd() % (1u << q->bits));
    teq_qweight *w = calloc(1, sizeof *w);
    w->q = *q;
    w->packed_bytes = teq_packed_bytes(n, q->bits);
    w->packed = calloc(1, w->packed_bytes ? w->packed_bytes : 1);
    teq_pack_bits(codes, n, q->bits, w->packed);
    teq_q_dequantize(q, codes, n, (float *)t->data);
    free(codes);
    v->constant = t;
    v->qweight = w;
}

static teq_graph *build_small_graph(void) {
    teq_graph *g = teq_graph_new();
    g->opset = 13;
    int64_t dx[3] = {1, -1, 4};
    int x = add_value(g, "x", TEQ_DTYPE_FLOAT, 3, dx);
    g->values[x].dim_names[1] = xstrdup("seq_len");
    int64_t dw[2] = {4, 3};
    int w = add_value(g, "w_float", TEQ_DTYPE_UNDEFINED, -1, NULL);
    g->values[w].constant = make_tensor(TEQ_DTYPE_FLOAT, 2, dw);
    for (int i = 0; i < 12; i++) ((float *)g->values[w].constant->data)[i] = rnd_float();
    ((float *)g->values[w].constant->data)[5] = -0.0f; /* bits must survive */
    int64_t ds[1] = {3};
    int sh = add_value(g, "shape_i64", TEQ_DTYPE_INT64, 1, ds);
    g->values[sh].constant = make_tensor(TEQ_DTYPE_INT64, 1, ds);
    int64_t shv[3] = {1, -1, (int64_t)1 << 40};
    memcpy(g->values[sh].constant->data, shv, sizeof shv);
    int sc = add_value(g, "scalar", TEQ_DTYPE_UNDEFINED, -1, NULL);
    g->values[sc].constant = make_tensor(TEQ_DTYPE_DOUBLE, 0, NULL);
    *(double *)g->values[sc].constant->data = 3.141592653589793;
    int64_t db[1] = {5};
    int bo = add_value(g, "mask", TEQ_DTYPE_BOOL, 1, db);
    g->values[bo].constant = make_tensor(TEQ_DTYPE_BOOL, 1, db);
    ((uint8_t *)g->values[bo].constant->data)[1] = 1;
    ((uint8_t *)g->values[bo].constant->data)[4] = 1;
    int64_t de[1] = {0};
    int em = add_value(g, "empty", TEQ_DTYPE_UNDEFINED, -1, NULL);
    g->values[em].constant = make_tensor(TEQ_DTYPE_INT32, 1, de);

    teq_qparams qe = {.kind = TEQ_CODE_EXP, .bits = 3, .is_signed = 1, .zero_code = 1, .base = 1.5, .alpha = 0.05,
                      .beta = 0.01};
    int64_t dq[2] = {3, 7}; /* 21 codes of 3 bits: not a whole number of bytes */
    int qx = add_value(g, "w_exp", TEQ_DTYPE_FLOAT, 2, dq);
    make_qweight(&g->values[qx], &qe, 2, dq);
    teq_qparams ql = {.kind = TEQ_CODE_LINEAR, .bits = 8, .is_signed = 1, .scale = 0.0123};
    int64_t dl[4] = {2, 3, 1, 2};
    int qlv = add_value(g, "w_lin", TEQ_DTYPE_UNDEFINED, -1, NULL);
    make_qweight(&g->values[qlv], &ql, 4, dl);
    teq_qparams qu = {.kind = TEQ_CODE_LINEAR, .bits = 5, .is_signed = 0, .scale = 0.25, .zero_point = 3};
    int64_t du[1] = {9};
    int quv = add_value(g, "w_lin_u5", TEQ_DTYPE_UNDEFINED, -1, NULL);
    make_qweight(&g->values[quv], &qu, 1, du);

    int y = add_value(g, "y", TEQ_DTYPE_UNDEFINED, -1, NULL);
    int64_t dz[2] = {-1, 3};
    int z = add_value(g, "z", TEQ_DTYPE_FLOAT, 2, dz);
    g->values[z].dim_names[0] = xstrdup("batch");
    int z2 = add_value(g, "z_aux", TEQ_DTYPE_UNDEFINED, -1, NULL);

    g->inputs = malloc(sizeof(int));
    g->inputs[0] = x;
    g->n_inputs = 1;
    g->outputs = malloc(2 * sizeof(int));
    g->outputs[0] = z;
    g->outputs[1] = z2;
    g->n_outputs = 2;

    int in1[3] = {x, w, qx}, out1[1] = {y};
    int n1 = teq_graph_add_node(g, "node_all_attrs", "Fancy", "", 13, 3, in1, 1, out1);
    teq_attr *a = calloc(9, sizeof *a);
    a[0] = (teq_attr){.name = xstrdup("f"), .type = TEQ_ATTR_FLOAT, .f = -1.5e-7f};
    a[1] = (teq_attr){.name = xstrdup("i"), .type = TEQ_ATTR_INT, .i = -((int64_t)1 << 50)};
    a[2] = (teq_attr){.name = xstrdup("s"), .type = TEQ_ATTR_STRING, .s = xstrdup("NOTSET")};
    int64_t dt[1] = {2};
    a[3] = (teq_attr){.name = xstrdup("t"), .type = TEQ_ATTR_TENSOR, .t = make_tensor(TEQ_DTYPE_FLOAT, 1, dt)};
    ((float *)a[3].t->data)[0] = 0.5f;
    ((float *)a[3].t->data)[1] = -2.0f;
    a[4] = (teq_attr){.name = xstrdup("fs"), .type = TEQ_ATTR_FLOATS, .n = 3, .floats = malloc(3 * sizeof(float))};
    a[4].floats[0] = 1.0f, a[4].floats[1] = -0.0f, a[4].floats[2] = 1e30f;
    a[5] = (teq_attr){.name = xstrdup("is"), .type = TEQ_ATTR_INTS, .n = 4, .ints = malloc(4 * sizeof(int64_t))};
    a[5].ints[0] = 0, a[5].ints[1] = -1, a[5].ints[2] = INT64_MAX, a[5].ints[3] = INT64_MIN;
    a[6] = (teq_attr){.name = xstrdup("ss"), .type = TEQ_ATTR_STRINGS, .n = 3, .strings = calloc(3, sizeof(char *))};
    a[6].strings[0] = xstrdup("seq_len"), a[6].strings[1] = xstrdup(""), a[6].strings[2] = xstrdup("t\xc3\xa9q");
    a[7] = (teq_attr){.name = xstrdup("empty_ints"), .type = TEQ_ATTR_INTS, .n = 0, .ints = malloc(sizeof(int64_t))};
    a[8] = (teq_attr){.name = xstrdup("t_i64"), .type = TEQ_ATTR_TENSOR, .t = make_tensor(TEQ_DTYPE_INT64, 0, NULL)};
    *(int64_t *)a[8].t->data = 42;
    g->nodes[n1].attr = a;
    g->nodes[n1].n_attr = 9;

    int in2[5] = {y, -1, sh, sc, bo}, out2[3] = {z, -1, z2};
    teq_graph_add_node(g, "", "TeqThing", "teq", 1, 5, in2, 3, out2);
    int in3[3] = {qlv, quv, em}, out3[1] = {-1};
    teq_graph_add_node(g, "no_attrs", "Sink", "", 11, 3, in3, 1, out3);

    g->op_counts = calloc(3, sizeof *g->op_counts);
    g->op_counts[0] = (teq_op_count){xstrdup("Fancy"), 1};
    g->op_counts[1] = (teq_op_count){xstrdup("TeqThing"), 1};
    g->op_counts[2] = (teq_op_count){xstrdup("Constant"), 7};
    g->n_op_counts = 3;
    g->meta_json = xstrdup("{\"method\": \"teq\", \"bits\": [3, 8, 5], \"note\": \"caf\xc3\xa9\"}");
    return g;
}

/* ---------------------------------------------------------------- refusals */

static int n_refusals_shown;

/* The buffer must be refused: TEQ_ERR_FORMAT, no graph, one line naming path, containing want. */
static void expect_bad(const uint8_t *b, size_t len, const char *path, const char *want, const char *label, bool show) {
    teq_graph *g = (teq_graph *)1;
    teq_error e;
    teq_status s = teq_format_read_buffer(b, len, path, &g, &e);
    CHECK(s == TEQ_ERR_FORMAT && g == NULL, "%s: status %d, graph %p (%s)", label, (int)s, (void *)g, e.msg);
    CHECK(strstr(e.msg, path) == e.msg && !strchr(e.msg, '\n'), "%s: message does not start with the path: %s", label,
          e.msg);
    if (want) CHECK(strstr(e.msg, want) != NULL, "%s: message lacks '%s': %s", label, want, e.msg);
    if (s == TEQ_OK) teq_graph_free(g);
    if (show && n_refusals_shown++ < 200) printf("  refused (%s): %s\n", label, e.msg);
}

/* Every truncation length in lens[n] is refused as truncated. */
static void check_truncations(const uint8_t *b, size_t len, const char *path, const size_t *lens, int n) {
    int before = n_fail;
    for (int i = 0; i < n; i++) {
        char label[64];
        snprintf(label, sizeof label, "truncated to %zu of %zu", lens[i], len);
        /* A copy of exactly the truncated length, so ASan sees any read past it. */
        uint8_t *c = malloc(lens[i] ? lens[i] : 1);
        memcpy(c, b, lens[i]);
        expect_bad(c, lens[i], path, "truncated", label, false);
        free(c);
        if (n_fail - before > 6) break;
    }
}

/* A flipped byte inside every section (and in the version and section table) is a checksum
 * mismatch. */
static void check_flips(const uint8_t *b, size_t len, const char *path) {
    uint8_t *c = malloc(len);
    uint32_t nsec = rd32(b + 20);
    size_t spots[40];
    int n = 0;
    spots[n++] = 12; /* version */
    spots[n++] = 32 + 24 * (nsec - 1) + 12; /* an offset in the section table */
    for (uint32_t i = 0; i < nsec && n < 38; i++) {
        uint64_t off = rd64(b + 32 + 24 * i + 8), size = rd64(b + 32 + 24 * i + 16);
        if (size) spots[n++] = (size_t)(off + size / 2);
        if (size > 2) spots[n++] = (size_t)(off + size - 1);
    }
    for (int i = 0; i < n; i++) {
        memcpy(c, b, len);
        c[spots[i]] ^= 0x10;
        char label[64];
        snprintf(label, sizeof label, "byte %zu flipped", spots[i]);
        expect_bad(c, len, path, "checksum mismatch", label, i < 3);
    }
    free(c);
}

/* Edits with the checksum recomputed: each reaches one structural check. */
static void check_structural(const uint8_t *good, size_t len, const char *path, const teq_graph *g) {
    uint8_t *b = malloc(len + 256);
    uint64_t so, ss, vo, vs, to, ts, io, ios, no, ns, ao, as, go, gs, po, ps;
    find_section(good, 2, &so, &ss);
    find_section(good, 3, &vo, &vs);
    find_section(good, 8, &to, &ts);
    find_section(good, 5, &io, &ios);
    find_section(good, 4, &no, &ns);
    find_section(good, 6, &ao, &as);
    find_section(good, 1, &go, &gs);
    find_section(good, 7, &po, &ps);
    uint32_t nsec = rd32(good + 20);
    /* The value records and tensor records of particular values (tensor numbers follow values). */
    int v_exp = teq_graph_find_value(g, "w_exp"), v_mask = teq_graph_find_value(g, "mask");
    int v_sh = teq_graph_find_value(g, "shape_i64");
    uint32_t t_exp = rd32(good + vo + 112 * (uint64_t)v_exp + 12);
    uint32_t t_mask = rd32(good + vo + 112 * (uint64_t)v_mask + 12);
    uint32_t t_sh = rd32(good + vo + 112 * (uint64_t)v_sh + 12);
    uint64_t rec_exp = to + 152 * (uint64_t)t_exp, rec_sh = to + 152 * (uint64_t)t_sh;
    uint64_t dof, dsz;
    find_section(good, 10, &dof, &dsz);

#define EDIT(label, want, stmt)                                                                                        \
    do {                                                                                                               \
        memcpy(b, good, len);                                                                                          \
        size_t blen = len;                                                                                             \
        stmt;                                                                                                          \
        fix_crc(b, blen);                                                                                              \
        expect_bad(b, blen, path, want, label, true);                                                                  \
    } while (0)

    EDIT("bad magic", "magic", b[1] = 'X');
    EDIT("newer major version", "newer", b[12] = 2);
    EDIT("older major version", "unknown format version", b[12] = 0);
    EDIT("header flags", "flags", b[16] = 1);
    EDIT("trailing byte", "announces", (b[len] = 0, blen = len + 1));
    EDIT("section table too long", "section table", wr32(b + 20, 100000));
    EDIT("section offset past the end", "runs past the end of the file", wr64(b + 32 + 24 * 2 + 8, (len + 128) & ~63ull));
    EDIT("section size past the end", "runs past the end of the file", wr64(b + 32 + 24 * 3 + 16, len));
    EDIT("huge section offset", "runs past the end", wr64(b + 32 + 24 * 1 + 8, UINT64_MAX - 63));
    EDIT("sections overlap", "overlaps", wr64(b + 32 + 24 * 1 + 8, rd64(b + 32 + 8)));
    EDIT("section over the table", "overlaps", wr64(b + 32 + 8, 0));
    EDIT("unaligned section", "aligned", wr64(b + 32 + 24 * 2 + 8, rd64(b + 32 + 24 * 2 + 8) + 8));
    EDIT("section repeated", "repeats", wr32(b + 32 + 24 * 2, 1));
    EDIT("section missing", "no values section", wr32(b + 32 + 24 * 2, 77));
    EDIT("section reserved", "reserved", b[32 + 4] = 1);
    EDIT("string count huge", "announces", wr32(b + so, 0x7fffffff));
    EDIT("string offset moved", "starts at", wr32(b + so + 8, rd32(b + so + 8) + 1));
    EDIT("string length huge", "runs past", wr32(b + so + 8 * rd32(b + so) + 4, 0x10000000));
    EDIT("string with a NUL", "NUL", b[so + rd32(b + so + 8) + 1] = 0);
    EDIT("string not terminated", "NUL-terminated", b[so + rd32(b + so + 8) + rd32(b + so + 12)] = 'x');
    EDIT("graph negative opset", "opset", wr64(b + go, UINT64_MAX));
    EDIT("graph value count huge", "values", wr32(b + go + 8, 0x7fffffff));
    EDIT("graph value count above INT_MAX", "exceeds", wr32(b + go + 8, 0x80000000u));
    EDIT("graph input id out of range", "out of range", wr32(b + go + 32, 9999));
    EDIT("graph output id negative", "out of range", wr32(b + go + 36, 0xFFFFFFFFu));
    EDIT("op count string out of range", "out of range", wr32(b + go + gs - 16, 123456));
    EDIT("op count negative", "negative", wr64(b + go + gs - 8, UINT64_MAX));
    EDIT("value name out of range", "out of range", wr32(b + vo, 1000000));
    EDIT("value name missing", "required", wr32(b + vo, 0xFFFFFFFFu));
    EDIT("value dtype unknown", "data type", wr32(b + vo + 4, 16));
    EDIT("value rank 9", "rank", wr32(b + vo + 8, 9));
    EDIT("value dim -2", "declares dim", wr64(b + vo + 16, (uint64_t)-2));
    EDIT("value dim beyond rank", "beyond its rank", wr64(b + vo + 16 + 8 * 7, 5));
    EDIT("value tensor out of range", "out of range", wr32(b + vo + 112 * (uint64_t)v_exp + 12, 5000));
    EDIT("tensor used twice", "already used", wr32(b + vo + 112 * (uint64_t)v_mask + 12, t_exp));
    EDIT("tensor unused", "not used", wr32(b + vo + 112 * (uint64_t)v_mask + 12, 0xFFFFFFFFu));
    EDIT("tensor kind", "kind", wr32(b + rec_sh, 7));
    EDIT("tensor rank 9", "rank", wr32(b + rec_sh + 8, 9));
    EDIT("tensor dim negative", "negative dim", wr64(b + rec_sh + 16, (uint64_t)-3));
    EDIT("tensor dims overflow", "overflows",
         (wr32(b + rec_sh + 8, 4), wr64(b + rec_sh + 16, 1ull << 20), wr64(b + rec_sh + 24, 1ull << 20),
          wr64(b + rec_sh + 32, 1ull << 20), wr64(b + rec_sh + 40, 1ull << 20)));
    EDIT("tensor oversize dims", "larger than", wr64(b + rec_sh + 16, 1ull << 40));
    EDIT("tensor dims vs stored bytes", "expected", wr64(b + rec_sh + 16, 4));
    EDIT("tensor dtype unknown", "data type", wr32(b + rec_sh + 4, 99));
    EDIT("tensor data unaligned", "aligned", wr64(b + rec_sh + 80, rd64(b + rec_sh + 80) + 4));
    EDIT("tensor data past the section", "runs past the end of the data section", wr64(b + rec_sh + 80, ((dsz + 63) & ~63ull) + 64));
    EDIT("tensor data overlap", "overlaps", wr64(b + rec_sh + 80, 0));
    EDIT("plain tensor with code parameters", "code parameters", b[rec_sh + 120] = 1);
    EDIT("plain tensor with a code kind", "code parameters", b[rec_sh + 96] = 1);
    EDIT("bool byte 2", "bool", b[dof + rd64(good + to + 152 * (uint64_t)t_mask + 80)] = 2);
    EDIT("quantized bits 9", "invalid code parameters", wr32(b + rec_exp + 100, 9));
    EDIT("quantized base < 1", "invalid code parameters", wr64(b + rec_exp + 112, 0x3FE0000000000000ull));
    EDIT("quantized kind none", "code kind", wr32(b + rec_exp + 96, 0));
    EDIT("quantized packed size", "packed bytes", wr64(b + rec_exp + 88, rd64(b + rec_exp + 88) + 1));
    EDIT("quantized as int64", "float32", wr32(b + rec_exp + 4, 7));
    EDIT("node_io id out of range", "out of range", wr32(b + io, (uint32_t)g->n_values));
    EDIT("node_io id -2", "out of range", wr32(b + io, 0xFFFFFFFEu));
    EDIT("node io run moved", "next run", wr32(b + no + 16, 1));
    EDIT("node input count too big", "next run", wr32(b + no + 20, 0x7ffffff0));
    EDIT("node attr run moved", "next run", wr32(b + no + 40 + 28, 3));
    EDIT("node op_type missing", "required", wr32(b + no + 4, 0xFFFFFFFFu));
    EDIT("node negative opset", "opset", wr32(b + no + 12, 0x80000000u));
    EDIT("node count vs section", "nodes", wr32(b + go + 12, (uint32_t)g->n_nodes + 1));
    EDIT("attr type 5", "unknown type", wr32(b + ao + 4, 5));
    EDIT("attr float high bits", "high bits", b[ao + 15] = 1);
    EDIT("attr pool run moved", "next run", wr64(b + ao + 24 * 4 + 8, 1));
    EDIT("attr pool count huge", "next run", wr64(b + ao + 24 * 4 + 16, 1ull << 40));
    EDIT("attr string out of range", "out of range", wr64(b + ao + 24 * 2 + 8, 77777));
    EDIT("attr strings element out of range", "out of range", wr64(b + po + 8 * 7, 77777));
    EDIT("attr tensor out of range", "out of range", wr64(b + ao + 24 * 3 + 8, 4444));
    EDIT("attr tensor is quantized", "plain",
         (wr64(b + ao + 24 * 3 + 8, t_exp), wr32(b + vo + 112 * (uint64_t)v_exp + 12,
                                                 rd32(good + ao + 24 * 3 + 8))));
    EDIT("attr count vs pool", "not used by any attribute", (wr64(b + ao + 24 * 6 + 16, 2), wr64(b + ao + 24 * 7 + 8, 9)));
    free(b);
    (void)nsec;
    (void)ns;
    (void)as;
    (void)ios;
    (void)ts;
    (void)vs;
    (void)ss;
    (void)ps;
#undef EDIT
}

/* Random edits (1 to 4 bytes after the checksum field, checksum then recomputed): whatever the
 * edit, the reader either accepts the file or refuses it with one line naming it - never a crash,
 * an out-of-bounds read or a leak (the point of running this under ASan). */
static void check_random_edits(const uint8_t *good, size_t len, const char *path, int n_trials) {
    uint8_t *b = malloc(len);
    int n_ok = 0, n_bad = 0, before = n_fail;
    for (int t = 0; t < n_trials && n_fail - before < 5; t++) {
        memcpy(b, good, len);
        int k = 1 + (int)(rnd() % 4);
        for (int i = 0; i < k; i++) {
            size_t at = 12 + rnd() % (len - 12);
            /* Half the edits land in the header, table and record sections, where the checks are. */
            if (rnd() % 2) at = 12 + rnd() % (len / 2 - 12);
            uint32_t r = rnd() % 4;
            b[at] = r == 0 ? (uint8_t)rnd() : r == 1 ? 0xFF : r == 2 ? 0 : (uint8_t)(b[at] ^ (1u << (rnd() % 8)));
        }
        fix_crc(b, len);
        teq_graph *g = NULL;
        teq_error e;
        teq_status s = teq_format_read_buffer(b, len, path, &g, &e);
        if (s == TEQ_OK) {
            n_ok++;
            teq_graph_free(g);
        } else {
            n_bad++;
            CHECK(s == TEQ_ERR_FORMAT && !g && strstr(e.msg, path) == e.msg && !strchr(e.msg, '\n'),
                  "random edit %d: status %d: %s", t, (int)s, e.msg);
        }
    }
    printf("  %d random edits with a valid checksum: %d read, %d refused\n", n_trials, n_ok, n_bad);
    free(b);
}

/* ---------------------------------------------------------------- test 1: hand-built graph */

static void test_small(void) {
    printf("small graph\n");
    teq_error e;
    teq_graph *g = build_small_graph();
    char p1[512], p2[512], p3[512];
    snprintf(p1, sizeof p1, "%s/small.teq", tmpdir);
    snprintf(p2, sizeof p2, "%s/small_again.teq", tmpdir);
    snprintf(p3, sizeof p3, "%s/small_back.teq", tmpdir);
    CHECK(teq_format_write(p1, g, &e) == TEQ_OK, "write: %s", e.msg);
    CHECK(teq_format_write(p2, g, &e) == TEQ_OK, "write again: %s", e.msg);
    size_t l1 = 0, l2 = 0, l3 = 0;
    uint8_t *b1 = slurp(p1, &l1), *b2 = slurp(p2, &l2);
    CHECK(b1 && b2 && l1 == l2 && memcmp(b1, b2, l1) == 0, "two writes of one graph differ");
    CHECK(b1 && teq_format_sniff(b1, l1) && teq_format_sniff(b1, 4) && !teq_format_sniff(b1, 3) &&
              !teq_format_sniff((const uint8_t *)"\x08\x07\x12\x00", 4),
          "sniff");
    /* The packing example of FORMAT.md. */
    {
        const uint8_t codes[3] = {5, 2, 7};
        uint8_t packed[2] = {0xAA, 0xAA};
        teq_pack_bits(codes, 3, 3, packed);
        CHECK(teq_packed_bytes(3, 3) == 2 && packed[0] == 0xD5 && packed[1] == 0x01, "packing example: %02x %02x",
              packed[0], packed[1]);
        CHECK(crc32_z(0, (const Bytef *)"123456789", 9) == 0xCBF43926u, "CRC-32 check value");
    }
    /* Layout facts from FORMAT.md: sections 64-byte aligned, in increasing order, file_size. */
    if (b1) {
        CHECK(rd64(b1 + 24) == l1, "file_size field");
        uint32_t nsec = rd32(b1 + 20);
        CHECK(nsec == 10, "10 sections (with meta_json), got %u", nsec);
        for (uint32_t i = 0; i < nsec; i++) CHECK(rd64(b1 + 32 + 24 * i + 8) % 64 == 0, "section %u aligned", i);
    }

    teq_graph *h = NULL;
    CHECK(teq_format_read_file(p1, &h, &e) == TEQ_OK, "read: %s", e.msg);
    if (h) {
        int d = graphs_differ(g, h);
        CHECK(d == 0, "read-back graph differs in %d places", d);
        CHECK(h->values[0].producer == -1 && h->values[0].n_uses == 0, "derived fields reset");
        CHECK(teq_format_write(p3, h, &e) == TEQ_OK, "write read-back: %s", e.msg);
        uint8_t *b3 = slurp(p3, &l3);
        CHECK(b3 && l3 == l1 && memcmp(b1, b3, l1) == 0, "rewrite of the read-back graph is not byte-identical");
        free(b3);
        /* The quantized constants decode to exactly dequantize(unpack(packed)). */
        int qv = teq_graph_find_value(h, "w_exp");
        if (qv >= 0 && h->values[qv].qweight) {
            const teq_qweight *w = h->values[qv].qweight;
            int64_t n = teq_tensor_numel(h->values[qv].constant);
            uint8_t *codes = malloc((size_t)n);
            float *ref = malloc(sizeof(float) * (size_t)n);
            teq_unpack_bits(w->packed, n, w->q.bits, codes);
            teq_q_dequantize(&w->q, codes, n, ref);
            CHECK(memcmp(ref, h->values[qv].constant->data, sizeof(float) * (size_t)n) == 0, "w_exp decoding");
            free(codes);
            free(ref);
        }
        teq_graph_free(h);
    }

    /* No meta_json: the section is left out and NULL comes back. */
    free(g->meta_json);
    g->meta_json = NULL;
    snprintf(p2, sizeof p2, "%s/small_nometa.teq", tmpdir);
    CHECK(teq_format_write(p2, g, &e) == TEQ_OK, "write without meta: %s", e.msg);
    h = NULL;
    CHECK(teq_format_read_file(p2, &h, &e) == TEQ_OK && h && h->meta_json == NULL, "read without meta: %s", e.msg);
    teq_graph_free(h);

    /* The writer refuses a graph that breaks the IR's invariants, and leaves no file behind. */
    int qv = teq_graph_find_value(g, "w_lin");
    g->values[qv].qweight->packed_bytes--;
    snprintf(p2, sizeof p2, "%s/refused.teq", tmpdir);
    teq_status s = teq_format_write(p2, g, &e);
    struct stat st;
    CHECK(s == TEQ_ERR_ARG && stat(p2, &st) != 0, "writer accepted a wrong packed size (%d: %s)", (int)s, e.msg);
    g->values[qv].qweight->packed_bytes++;
    int saved = g->nodes[1].in[0];
    g->nodes[1].in[0] = g->n_values;
    s = teq_format_write(p2, g, &e);
    CHECK(s == TEQ_ERR_ARG && stat(p2, &st) != 0, "writer accepted an out-of-range value id (%d: %s)", (int)s, e.msg);
    g->nodes[1].in[0] = saved;

    /* A section type this reader does not know (a later minor version's) is skipped. */
    if (b1) {
        uint64_t mo, ms;
        int mi = find_section(b1, 9, &mo, &ms);
        uint8_t *c = malloc(l1);
        memcpy(c, b1, l1);
        wr32(c + 32 + 24 * (size_t)mi, 200);
        wr16_minor(c, 3);
        fix_crc(c, l1);
        h = NULL;
        s = teq_format_read_buffer(c, l1, p1, &h, &e);
        CHECK(mi >= 0 && s == TEQ_OK && h && h->meta_json == NULL, "unknown section not skipped (%d: %s)", (int)s, e.msg);
        teq_graph_free(h);
        free(c);
    }
    /* Through the public API: a damaged .teq is routed to this reader by its magic. */
    if (b1) {
        snprintf(p2, sizeof p2, "%s/short.teq", tmpdir);
        FILE *f = fopen(p2, "wb");
        fwrite(b1, 1, 20, f);
        fclose(f);
        teq_model *m = NULL;
        s = teq_model_load(p2, &m, &e);
        CHECK(s == TEQ_ERR_FORMAT && !m && strstr(e.msg, "truncated") && strstr(e.msg, p2), "model_load of a short .teq: %d %s",
              (int)s, e.msg);
        teq_model_free(m);
    }
    snprintf(p2, sizeof p2, "%s/does_not_exist.teq", tmpdir);
    h = NULL;
    s = teq_format_read_file(p2, &h, &e);
    CHECK(s == TEQ_ERR_IO && !h && strstr(e.msg, p2), "missing file: %d %s", (int)s, e.msg);

    /* Damage. */
    if (b1) {
        size_t hdr = 32 + 24 * (size_t)rd32(b1 + 20);
        size_t *lens = malloc(sizeof(size_t) * l1);
        for (size_t i = 0; i < l1; i++) lens[i] = i; /* every truncation of the small file */
        check_truncations(b1, l1, p1, lens, (int)l1);
        free(lens);
        printf("  %zu truncations (header and table: %zu bytes) refused\n", l1, hdr);
        check_flips(b1, l1, p1);
        check_structural(b1, l1, p1, g);
        check_random_edits(b1, l1, p1, 20000);
    }
    free(b1);
    free(b2);
    teq_graph_free(g);
}

/* The smallest graphs: no values at all, and one value with nothing else (most sections empty). */
/* Float32 linear codes (format 1.2, flag bit 1, stored kind 3): a per-channel weight and a TeqQuantize of
 * that kind round-trip, set the flag and minor 2 (and only they do), decode by the float32 rule (the value
 * computed here from the definition, not by the library), and a file that drops the flag is refused. */
static void test_f32_linear(void) {
    printf("float32 linear codes (format 1.2)\n");
    teq_error e;
    for (int variant = 0; variant < 3; variant++) { /* 0: a weight of kind 3, 1: a TeqQuantize of kind 3, 2: neither */
        teq_graph *g = teq_graph_new();
        const int64_t dw[2] = {3, 5};
        const float chs[3] = {0.5f, 1.25f, 3.0e-3f};
        teq_qparams qw = {.kind = TEQ_CODE_LINEAR, .bits = 8, .is_signed = 1, .scale = 0.0123, .lin_f32 = variant == 0};
        int wv = add_value(g, "w", TEQ_DTYPE_FLOAT, 2, dw);
        make_qweight(&g->values[wv], &qw, 2, dw);
        teq_qweight *qwt = g->values[wv].qweight;
        qwt->per_channel = 1, qwt->ch_axis = 0, qwt->n_ch = 3;
        qwt->ch_scale = malloc(sizeof chs);
        memcpy(qwt->ch_scale, chs, sizeof chs);
        teq_qweight_decode(qwt, 2, dw, (float *)g->values[wv].constant->data); /* the constant as the reader will make it */
        const int64_t dx[1] = {4};
        int x = add_value(g, "x", TEQ_DTYPE_FLOAT, 1, dx), y = add_value(g, "y", TEQ_DTYPE_FLOAT, 1, dx);
        g->inputs = malloc(sizeof(int)), g->inputs[0] = x, g->n_inputs = 1;
        g->outputs = malloc(sizeof(int)), g->outputs[0] = y, g->n_outputs = 1;
        int nq = teq_graph_add_node(g, "quant", "TeqQuantize", "teq", 1, 1, &x, 1, &y);
        teq_qparams qa = {.kind = TEQ_CODE_LINEAR, .bits = 8, .is_signed = 0, .scale = 0.25, .zero_point = 3,
                          .lin_f32 = variant == 1};
        g->nodes[nq].attr = calloc(1, sizeof(teq_attr));
        g->nodes[nq].n_attr = 1;
        g->nodes[nq].attr[0].name = xstrdup("qparams");
        g->nodes[nq].attr[0].type = TEQ_ATTR_TENSOR;
        CHECK(teq_qparams_to_tensor(&qa, &g->nodes[nq].attr[0].t, &e) == TEQ_OK, "qparams: %s", e.msg);
        CHECK(((const double *)g->nodes[nq].attr[0].t->data)[0] == (variant == 1 ? 3 : 2), "stored kind of the node");
        char path[512];
        snprintf(path, sizeof path, "%s/f32_%d.teq", tmpdir, variant);
        CHECK(teq_format_write(path, g, &e) == TEQ_OK, "write: %s", e.msg);
        size_t len = 0;
        uint8_t *b = slurp(path, &len);
        if (!b) {
            teq_graph_free(g);
            continue;
        }
        const bool f32 = variant < 2;
        CHECK(b[14] == (f32 ? 2 : 0) && rd32(b + 16) == (f32 ? 2u : 0u), "variant %d: version 1.%u flags %u", variant,
              (unsigned)b[14], rd32(b + 16));
        teq_graph *h = NULL;
        CHECK(teq_format_read_buffer(b, len, path, &h, &e) == TEQ_OK, "read: %s", e.msg);
        if (h) {
            CHECK(graphs_differ(g, h) == 0, "variant %d: read-back graph differs", variant);
            const int hv = teq_graph_find_value(h, "w");
            const teq_qweight *hw = hv >= 0 ? h->values[hv].qweight : NULL;
            CHECK(hw && hw->q.lin_f32 == (variant == 0), "variant %d: lin_f32 read back", variant);
            if (hw) {
                uint8_t codes[15];
                teq_unpack_bits(hw->packed, 15, 8, codes);
                const float *got = h->values[hv].constant->data;
                int bad = 0;
                for (int i = 0; i < 15; i++) {
                    const float c = chs[i / 5];
                    /* FORMAT.md's rule: kind 3 = (float)(q) * (float)(scale * ch), kind 2 = (float)(scale * q) * ch */
                    const float want = variant == 0 ? (float)(codes[i] - 128) * (float)(0.0123 * (double)c)
                                                    : (float)(0.0123 * (double)(codes[i] - 128)) * c;
                    bad += memcmp(&want, &got[i], 4) != 0;
                }
                CHECK(bad == 0, "variant %d: %d of 15 weights decode off the rule", variant, bad);
            }
            teq_graph_free(h);
        }
        if (f32) {
            uint8_t *m = malloc(len);
            memcpy(m, b, len), wr32(m + 16, 0), fix_crc(m, len);
            expect_bad(m, len, path, variant == 0 ? "needs header flag 0x2" : "needs header flag 0x2 (format 1.2)",
                       "float32 linear code without the flag", true);
            memcpy(m, b, len), wr16_minor(m, 1), fix_crc(m, len);
            expect_bad(m, len, path, "need format version 1.2", "flag 0x2 in a 1.1 file", true);
            memcpy(m, b, len), wr32(m + 16, 6), fix_crc(m, len);
            expect_bad(m, len, path, "unknown header flags", "flag bit 2", true);
            free(m);
        }
        free(b);
        teq_graph_free(g);
    }
}

static void test_empty(void) {
    for (int k = 0; k < 2; k++) {
        teq_graph *g = teq_graph_new();
        if (k) teq_graph_add_value(g, "");
        char path[512];
        snprintf(path, sizeof path, "%s/empty%d.teq", tmpdir, k);
        teq_error e;
        CHECK(teq_format_write(path, g, &e) == TEQ_OK, "write empty %d: %s", k, e.msg);
        teq_graph *h = NULL;
        CHECK(teq_format_read_file(path, &h, &e) == TEQ_OK, "read empty %d: %s", k, e.msg);
        if (h) CHECK(graphs_differ(g, h) == 0, "empty %d differs", k);
        teq_graph_free(h);
        teq_graph_free(g);
    }
}

/* A small file whose one long string is referenced by many values: copying it out for each would
 * take 300 MiB, beyond the reader's 256 MiB limit on string copies, so it is refused up front. */
static void test_string_bomb(void) {
    teq_graph *g = teq_graph_new();
    size_t big = (size_t)1 << 20;
    char *name = malloc(big + 1);
    memset(name, 'n', big);
    name[big] = 0;
    for (int i = 0; i < 300; i++) {
        int v = teq_graph_add_value(g, "x");
        free(g->values[v].name);
        g->values[v].name = name; /* shared: unshared again before freeing */
    }
    char path[512];
    snprintf(path, sizeof path, "%s/strings.teq", tmpdir);
    teq_error e;
    CHECK(teq_format_write(path, g, &e) == TEQ_OK, "write: %s", e.msg);
    for (int i = 1; i < 300; i++) g->values[i].name = NULL;
    teq_graph_free(g);
    size_t len = 0;
    uint8_t *b = slurp(path, &len);
    CHECK(b && len < 2 * big, "the string is stored once (%zu bytes)", len);
    if (b) expect_bad(b, len, path, "reader limit", "string copies", true);
    free(b);
}

/* ---------------------------------------------------------------- test 2: a real model */

static const char *const rec_model = "cache/models/ch_PP-OCRv4_rec_infer.onnx";

/* Run g on one input (bound to its first graph input); outputs into out[]. */
static teq_status run_graph(const teq_graph *g, const char *path, const teq_tensor *in, teq_tensor **out, teq_error *e) {
    teq_exec_ctx *ctx = teq_ctx_new(1, e);
    if (!ctx) return TEQ_ERR_NOMEM;
    const teq_tensor *ins[1] = {in};
    teq_status s = teq_graph_run(g, path, ctx, ins, out, e);
    teq_ctx_free(ctx);
    return s;
}

static void test_model(void) {
    printf("model %s\n", rec_model);
    if (access(rec_model, R_OK) != 0) {
        CHECK(0, "%s missing: run scripts/setup.sh models", rec_model);
        return;
    }
    teq_error e;
    teq_graph *g = NULL, *h = NULL;
    teq_status s = teq_onnx_load_file(rec_model, &g, &e);
    if (!s) s = teq_graph_resolve_ops(g, rec_model, &e);
    if (!s) s = teq_graph_plan(g, rec_model, &e);
    CHECK(s == TEQ_OK, "load/plan: %s", e.msg);
    if (s) {
        teq_graph_free(g);
        return;
    }
    /* Quantize a few weights in place (as the quantizer will): codes packed into a qweight, the
     * float constant replaced by their decoding. Alternating exponential 4-bit and linear 8-bit. */
    int n_q = 0;
    for (int v = 0; v < g->n_values && n_q < 6; v++) {
        teq_tensor *t = g->values[v].constant;
        if (!t || t->dtype != TEQ_DTYPE_FLOAT || teq_tensor_numel(t) < 256) continue;
        int64_t n = teq_tensor_numel(t);
        float *x = t->data, mx = 0;
        for (int64_t i = 0; i < n; i++) mx = fabsf(x[i]) > mx ? fabsf(x[i]) : mx;
        if (!(mx > 0)) continue;
        teq_qparams q = n_q % 2 ? (teq_qparams){.kind = TEQ_CODE_LINEAR, .bits = 8, .is_signed = 1, .scale = mx / 127.0}
                                : (teq_qparams){.kind = TEQ_CODE_EXP, .bits = 4, .is_signed = 1, .zero_code = 1,
                                                .base = 2.0, .alpha = mx / 128.0, .beta = 0.0};
        char why[200];
        if (teq_qparams_check(&q, why, sizeof why) != TEQ_OK) {
            CHECK(0, "test code parameters invalid: %s", why);
            continue;
        }
        uint8_t *codes = malloc((size_t)n);
        teq_q_quantize(&q, x, n, codes);
        teq_qweight *w = calloc(1, sizeof *w);
        w->q = q;
        w->packed_bytes = teq_packed_bytes(n, q.bits);
        w->packed = malloc(w->packed_bytes);
        teq_pack_bits(codes, n, q.bits, w->packed);
        teq_q_dequantize(&q, codes, n, x);
        free(codes);
        g->values[v].qweight = w;
        n_q++;
    }
    printf("  %d weights quantized before writing\n", n_q);
    CHECK(n_q == 6, "6 weights quantized");

    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/rec.teq", tmpdir);
    snprintf(p2, sizeof p2, "%s/rec_back.teq", tmpdir);
    CHECK(teq_format_write(p1, g, &e) == TEQ_OK, "write: %s", e.msg);
    s = teq_format_read_file(p1, &h, &e);
    CHECK(s == TEQ_OK, "read: %s", e.msg);
    if (s) {
        teq_graph_free(g);
        return;
    }
    int d = graphs_differ(g, h);
    CHECK(d == 0, "read-back graph differs in %d places", d);
    CHECK(h->meta_json == NULL, "no meta_json expected");
    CHECK(teq_format_write(p2, h, &e) == TEQ_OK, "rewrite: %s", e.msg);
    size_t l1 = 0, l2 = 0;
    uint8_t *b1 = slurp(p1, &l1), *b2 = slurp(p2, &l2);
    CHECK(b1 && b2 && l1 == l2 && memcmp(b1, b2, l1) == 0, "rewrite is not byte-identical (%zu vs %zu bytes)", l1, l2);
    printf("  %s: %zu bytes, %d values, %d nodes\n", p1, l1, h->n_values, h->n_nodes);
    s = teq_graph_resolve_ops(h, p1, &e);
    if (!s) s = teq_graph_plan(h, p1, &e);
    CHECK(s == TEQ_OK, "resolve/plan of the read graph: %s", e.msg);
    /* Planning a graph that was planned before it was written changes nothing. */
    if (!s) {
        CHECK(teq_format_write(p2, h, &e) == TEQ_OK, "rewrite after planning: %s", e.msg);
        free(b2);
        b2 = slurp(p2, &l2);
        CHECK(b1 && b2 && l1 == l2 && memcmp(b1, b2, l1) == 0, "replanning changed the file");
    }

    /* Same random input through both graphs (and through the public API on the .teq). */
    const teq_value *iv = &g->values[g->inputs[0]];
    int64_t dims[TEQ_MAX_DIMS];
    for (int k = 0; k < iv->ndim; k++) dims[k] = iv->dims[k] >= 0 ? iv->dims[k] : (k == 0 ? 1 : 160);
    teq_tensor *in = make_tensor(TEQ_DTYPE_FLOAT, iv->ndim, dims);
    for (int64_t i = 0; i < teq_tensor_numel(in); i++) ((float *)in->data)[i] = rnd_float();
    int no = g->n_outputs;
    teq_tensor **oa = calloc((size_t)no, sizeof *oa), **ob = calloc((size_t)no, sizeof *ob),
               **oc = calloc((size_t)no, sizeof *oc);
    if (!s) {
        s = run_graph(g, rec_model, in, oa, &e);
        CHECK(s == TEQ_OK, "run onnx graph: %s", e.msg);
        teq_status s2 = run_graph(h, p1, in, ob, &e);
        CHECK(s2 == TEQ_OK, "run teq graph: %s", e.msg);
        /* (the FP32 Convs unpacked, as in the graphs above: this compares the file's contents, not kernels) */
        teq_model *m = NULL;
        teq_status s3 = teq_model_load_as(p1, TEQ_LOAD_NO_PACK, &m, &e);
        CHECK(s3 == TEQ_OK, "teq_model_load of the .teq: %s", e.msg);
        const teq_tensor *ins[1] = {in};
        if (!s3) s3 = teq_model_run(m, 1, NULL, ins, oc, &e);
        CHECK(s3 == TEQ_OK, "teq_model_run of the .teq: %s", e.msg);
        teq_model_free(m);
        for (int j = 0; !s && !s2 && !s3 && j < no; j++) {
            size_t bytes = (size_t)teq_tensor_numel(oa[j]) * teq_dtype_size(oa[j]->dtype);
            char sb[160];
            CHECK(oa[j]->ndim == ob[j]->ndim && bytes == (size_t)teq_tensor_numel(ob[j]) * teq_dtype_size(ob[j]->dtype) &&
                      memcmp(oa[j]->data, ob[j]->data, bytes) == 0,
                  "output %d differs between the .onnx and the .teq graph", j);
            CHECK(bytes == (size_t)teq_tensor_numel(oc[j]) * teq_dtype_size(oc[j]->dtype) &&
                      memcmp(oa[j]->data, oc[j]->data, bytes) == 0,
                  "output %d differs through teq_model_load", j);
            printf("  output %d %s: identical\n", j, teq_shape_str(oa[j]->ndim, oa[j]->dims, sb, sizeof sb));
        }
    }
    for (int j = 0; j < no; j++) teq_tensor_free(oa[j]), teq_tensor_free(ob[j]), teq_tensor_free(oc[j]);
    free(oa), free(ob), free(oc);
    teq_tensor_free(in);

    /* Damage to the large file: a sample of truncations, a flipped byte in every section. */
    if (b1) {
        size_t lens[400];
        int n = 0;
        size_t hdr = 32 + 24 * (size_t)rd32(b1 + 20);
        for (size_t i = 0; i <= hdr + 1 && n < 300; i++) lens[n++] = i;
        for (int k = 1; k <= 40; k++) lens[n++] = l1 / 41 * (size_t)k + (size_t)k;
        lens[n++] = l1 - 1;
        check_truncations(b1, l1, p1, lens, n);
        printf("  %d truncations refused\n", n);
        check_flips(b1, l1, p1);
    }
    free(b1);
    free(b2);
    teq_graph_free(g);
    teq_graph_free(h);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/teq_test_format_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    test_small();
    test_empty();
    test_f32_linear();
    test_string_bomb();
    test_model();
    /* Leave nothing behind (unless TEQ_TEST_KEEP is set: then the files stay for inspection). */
    if (getenv("TEQ_TEST_KEEP")) {
        printf("files kept in %s\n", tmpdir);
    } else {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) printf("note: could not remove %s\n", tmpdir);
    }
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
