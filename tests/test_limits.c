/* Limits on resources read from files (issue "Hardening"): each kind of hostile input is refused
 * through the public API with a one-line message naming the file, within a second, and before any
 * large allocation: the largest single allocation request during the call is measured by
 * interposing malloc (tests/alloc_hook.h) and must stay under 64 MiB.
 *
 * Inputs are encoded here byte by byte (protobuf wire format, field numbers from onnx.proto; .npy
 * headers), so the test needs no Python. `test_limits --write DIR` only writes the files, for
 * tests/bad_input.sh to try the same inputs through the CLI. */
#include "alloc_hook.h"
#include "check.h"
#include "teq.h"

#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_ALLOC_BYTES ((size_t)64 << 20)
#define MAX_SECONDS 1.0

/* ---- a protobuf message under construction ---- */
typedef struct pb {
    uint8_t *p;
    size_t n, cap;
} pb;

static void pb_bytes(pb *b, const void *d, size_t n) {
    if (!n) return;
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void pb_varint(pb *b, uint64_t v) {
    uint8_t t[10];
    int k = 0;
    do {
        t[k++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    pb_bytes(b, t, (size_t)k);
}
static void pb_int(pb *b, int field, int64_t v) {
    pb_varint(b, (uint64_t)field << 3);
    pb_varint(b, (uint64_t)v);
}
static void pb_len(pb *b, int field, const void *d, size_t n) {
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    pb_bytes(b, d, n);
}
static void pb_str(pb *b, int field, const char *s) { pb_len(b, field, s, strlen(s)); }
/* Appends sub as field `field` and frees sub. */
static void pb_msg(pb *b, int field, pb *sub) {
    pb_len(b, field, sub->p, sub->n);
    free(sub->p);
    memset(sub, 0, sizeof *sub);
}

/* ValueInfoProto: a float tensor named name with the given dims. */
static void value_info(pb *g, int field, const char *name, int nd, const int64_t *dims) {
    pb shape = {0}, tt = {0}, type = {0}, vi = {0};
    for (int i = 0; i < nd; i++) {
        pb dim = {0};
        pb_int(&dim, 1, dims[i]); /* dim_value */
        pb_msg(&shape, 1, &dim);
    }
    pb_int(&tt, 1, 1); /* elem_type float */
    pb_msg(&tt, 2, &shape);
    pb_msg(&type, 1, &tt);
    pb_str(&vi, 1, name);
    pb_msg(&vi, 2, &type);
    pb_msg(g, field, &vi);
}

/* TensorProto with dims, data_type (1 float, 7 int64), name and raw data. */
static void tensor(pb *t, const char *name, int nd, const int64_t *dims, int dtype, const void *raw, size_t n) {
    for (int i = 0; i < nd; i++) pb_int(t, 1, dims[i]);
    pb_int(t, 2, dtype);
    if (name) pb_str(t, 8, name);
    pb_len(t, 9, raw, n);
}

static void node(pb *g, const char *op, int n_in, const char *const *ins, const char *out, pb *attr) {
    pb nd = {0};
    for (int i = 0; i < n_in; i++) pb_str(&nd, 1, ins[i]);
    pb_str(&nd, 2, out);
    pb_str(&nd, 3, out); /* node named after its output */
    pb_str(&nd, 4, op);
    if (attr) pb_msg(&nd, 5, attr);
    pb_msg(g, 1, &nd);
}

/* ModelProto around graph g (consumed): IR 7, opset 13. */
static pb model(pb *g) {
    pb m = {0}, op = {0};
    pb_int(&m, 1, 7);
    pb_str(g, 2, "limits");
    pb_msg(&m, 7, g);
    pb_int(&op, 2, 13);
    pb_msg(&m, 8, &op);
    return m;
}

static const int64_t d1[] = {1};

/* x[1] + w -> y, w an initializer declared with dims but holding only 4 bytes. */
static pb m_initializer(int nd, const int64_t *dims) {
    pb g = {0}, t = {0};
    float one = 1;
    const char *ins[] = {"x", "w"};
    node(&g, "Add", 2, ins, "y", NULL);
    tensor(&t, "w", nd, dims, 1, &one, sizeof one);
    pb_msg(&g, 5, &t);
    value_info(&g, 11, "x", 1, d1);
    value_info(&g, 12, "y", 1, d1);
    return model(&g);
}

/* ConstantOfShape of a constant shape: folded while loading, so the tensor would be made at load. */
static pb m_fold(int64_t a, int64_t b) {
    pb g = {0}, t = {0};
    int64_t shape[2] = {a, b}, two = 2;
    tensor(&t, "s", 1, &two, 7, shape, sizeof shape);
    pb_msg(&g, 5, &t);
    const char *in1[] = {"s"}, *in2[] = {"x", "big"};
    node(&g, "ConstantOfShape", 1, in1, "big", NULL);
    node(&g, "Add", 2, in2, "y", NULL);
    value_info(&g, 11, "x", 1, d1);
    value_info(&g, 12, "y", 1, d1);
    return model(&g);
}

/* a = x + b, b = Relu(a): a cycle. */
static pb m_cycle(void) {
    pb g = {0};
    const char *in1[] = {"x", "b"}, *in2[] = {"a"};
    node(&g, "Add", 2, in1, "a", NULL);
    node(&g, "Relu", 1, in2, "b", NULL);
    value_info(&g, 11, "x", 1, d1);
    value_info(&g, 12, "a", 1, d1);
    return model(&g);
}

/* Graph{ node: Node{ attribute: Attr{ g: Graph{ ... } } } }, levels deep, built from the inside out. */
static pb m_nested(int levels) {
    pb cur = {0};
    for (int lv = 0; lv < levels; lv++) {
        pb attr = {0}, nd = {0}, g = {0};
        pb_msg(&attr, 6, &cur); /* AttributeProto.g */
        pb_msg(&nd, 5, &attr);  /* NodeProto.attribute */
        pb_msg(&g, 1, &nd);     /* GraphProto.node */
        cur = g;
    }
    return model(&cur);
}

/* .npy 1.0 with the given shape text and data bytes of zeros. */
static pb npy(const char *shape, size_t data) {
    pb b = {0};
    char dict[200];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", shape);
    int len = n + 1;
    len += (64 - (10 + len) % 64) % 64;
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(len & 255), (uint8_t)(len >> 8)};
    pb_bytes(&b, pre, 10);
    pb_bytes(&b, dict, (size_t)n);
    for (int i = n; i < len - 1; i++) pb_bytes(&b, " ", 1);
    pb_bytes(&b, "\n", 1);
    uint8_t z[64] = {0};
    for (size_t i = 0; i < data; i += sizeof z) pb_bytes(&b, z, data - i < sizeof z ? data - i : sizeof z);
    return b;
}

typedef struct bad_case {
    const char *file;    /* name in the folder */
    const char *what;    /* for messages */
    const char *keyword; /* the message must contain it (case-sensitive) */
    pb bytes;
} bad_case;

static void write_file(const char *path, const pb *b) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b->p, 1, b->n, f) != b->n || fclose(f) != 0) {
        printf("cannot write %s\n", path);
        exit(1);
    }
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const int64_t tera[] = {1000000, 1000000};          /* 10^12 elements */
    const int64_t neg[] = {-1, 3};                      /* negative */
    const int64_t ovf[] = {(int64_t)1 << 62, 4};         /* product overflows int64 */
    bad_case cases[] = {
        {"tensor_1e12.onnx", "initializer of 10^12 elements", "shape", m_initializer(2, tera)},
        {"fold_1e12.onnx", "ConstantOfShape of 10^12 elements, folded at load", "too large", m_fold(1000000, 1000000)},
        {"cycle.onnx", "graph with a cycle", "cycle", m_cycle()},
        {"negative_dim.onnx", "initializer with a negative dimension", "negative", m_initializer(2, neg)},
        {"overflow_dim.onnx", "initializer whose dimensions overflow", "too large", m_initializer(2, ovf)},
        {"fold_negative.onnx", "ConstantOfShape of a negative shape", "ConstantOfShape", m_fold(-4, 3)},
        {"nested_10000.onnx", "protobuf nested 10000 levels deep", "nested", m_nested(10000)},
        {"npy_1e12.npy", ".npy declaring 10^12 elements", "truncated", npy("(1000000, 1000000)", 16)},
        {"npy_negative.npy", ".npy with a negative dimension", "malformed", npy("(-2, 3)", 0)},
        {"npy_overflow.npy", ".npy whose dimensions overflow", "too large", npy("(4611686018427387904, 4)", 0)},
    };
    int n_cases = (int)(sizeof cases / sizeof cases[0]);
    if (argc == 3 && strcmp(argv[1], "--write") == 0) {
        mkdir(argv[2], 0755);
        for (int i = 0; i < n_cases; i++) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[2], cases[i].file);
            write_file(p, &cases[i].bytes);
            free(cases[i].bytes.p);
        }
        return 0;
    }
    char dir[] = "/tmp/teq-limits.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    for (int i = 0; i < n_cases; i++) {
        bad_case *c = &cases[i];
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, c->file);
        write_file(p, &c->bytes);
        free(c->bytes.p);
        bool is_npy = strstr(c->file, ".npy") != NULL;
        teq_error e;
        teq_model *m = NULL;
        teq_tensor *t = NULL;
        alloc_hook_largest = 0;
        alloc_hook_on = 1;
        double t0 = now();
        teq_status s = is_npy ? teq_npy_read(p, &t, &e) : teq_model_load(p, &m, &e);
        double sec = now() - t0;
        alloc_hook_on = 0;
        CHECK(s != TEQ_OK && s != TEQ_ERR_INTERNAL && !m && !t, "%s: status %d", c->what, (int)s);
        CHECK(strstr(e.msg, p) && !strchr(e.msg, '\n'), "%s: message does not name the file on one line: %s",
              c->what, e.msg);
        CHECK(strstr(e.msg, c->keyword), "%s: message lacks '%s': %s", c->what, c->keyword, e.msg);
        CHECK(sec < MAX_SECONDS, "%s: took %.3f s", c->what, sec);
        CHECK(alloc_hook_largest < MAX_ALLOC_BYTES, "%s: allocated %zu bytes at once", c->what,
              (size_t)alloc_hook_largest);
        printf("%s %-52s %6.3f s, largest allocation %8zu bytes: %s\n", s != TEQ_OK ? "refused" : "ACCEPTED", c->what,
               sec, (size_t)alloc_hook_largest, e.msg);
        teq_model_free(m);
        teq_tensor_free(t);
        unlink(p);
    }
    rmdir(dir);
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail > 0;
}
