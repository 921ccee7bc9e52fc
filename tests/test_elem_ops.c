/* Unit tests of the elementwise operators (src/ops/elementwise.c): each op is built as a lone node
 * and run with teq_ctx_run_node against a double-precision reference written here. Covers
 * broadcasting (scalar, per-channel, both sides, rank differences, the threaded path), the opset
 * variants of Clip/Softmax/ReduceMean/ReduceSum, integer and bool types, Cast, and refusals of bad
 * input (which must return an error, never crash).
 * Prints `N passed, M failed`; exits non-zero on a failure. Random data comes from a fixed seed. */
#include "ops/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Float results pass on |got - ref| <= ATOL + RTOL*|ref| (float32 math against a double reference). */
#define ATOL 1e-5
#define RTOL 1e-4

/* ---------------------------------------------------------------- tensors */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void) { /* uniform in [0, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static teq_tensor *mk(teq_dtype dt, int nd, const int64_t *dims) {
    teq_tensor *t = NULL;
    teq_error e;
    if (teq_tensor_create(dt, nd, dims, &t, &e) != TEQ_OK) {
        printf("tensor_create: %s\n", e.msg);
        exit(2);
    }
    return t;
}

static double getd(const teq_tensor *t, int64_t i) {
    switch (t->dtype) {
    case TEQ_DTYPE_FLOAT: return ((const float *)t->data)[i];
    case TEQ_DTYPE_DOUBLE: return ((const double *)t->data)[i];
    case TEQ_DTYPE_INT64: return (double)((const int64_t *)t->data)[i];
    case TEQ_DTYPE_INT32: return ((const int32_t *)t->data)[i];
    case TEQ_DTYPE_INT8: return ((const int8_t *)t->data)[i];
    case TEQ_DTYPE_UINT8:
    case TEQ_DTYPE_BOOL: return ((const uint8_t *)t->data)[i];
    default: return NAN;
    }
}

static void setd(teq_tensor *t, int64_t i, double v) {
    switch (t->dtype) {
    case TEQ_DTYPE_FLOAT: ((float *)t->data)[i] = (float)v; break;
    case TEQ_DTYPE_DOUBLE: ((double *)t->data)[i] = v; break;
    case TEQ_DTYPE_INT64: ((int64_t *)t->data)[i] = (int64_t)v; break;
    case TEQ_DTYPE_INT32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    case TEQ_DTYPE_INT8: ((int8_t *)t->data)[i] = (int8_t)v; break;
    case TEQ_DTYPE_UINT8: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
    case TEQ_DTYPE_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
    default: break;
    }
}

/* Random tensor: uniform in [lo, hi) (rounded for integer types). */
static teq_tensor *rnd(teq_dtype dt, int nd, const int64_t *dims, double lo, double hi) {
    teq_tensor *t = mk(dt, nd, dims);
    int64_t n = teq_tensor_numel(t);
    bool isf = dt == TEQ_DTYPE_FLOAT || dt == TEQ_DTYPE_DOUBLE;
    for (int64_t i = 0; i < n; i++) {
        double v = lo + (hi - lo) * urand();
        setd(t, i, isf ? v : floor(v));
    }
    return t;
}

static teq_tensor *vals(teq_dtype dt, int nd, const int64_t *dims, const double *v) {
    teq_tensor *t = mk(dt, nd, dims);
    for (int64_t i = 0; i < teq_tensor_numel(t); i++) setd(t, i, v[i]);
    return t;
}

static teq_tensor *scalar(teq_dtype dt, double v) { return vals(dt, 0, NULL, &v); }

#define D(...) ((const int64_t[]){__VA_ARGS__})
#define V(...) ((const double[]){__VA_ARGS__})

/* ---------------------------------------------------------------- nodes */

typedef struct tnode {
    teq_graph *g;
    teq_node *n;
} tnode;

static tnode mknode(const char *op, int opset, int n_in, int n_out) {
    tnode t;
    int in[8], out[8];
    char name[16];
    t.g = teq_graph_new();
    for (int i = 0; i < n_in; i++) snprintf(name, sizeof name, "i%d", i), in[i] = teq_graph_add_value(t.g, name);
    for (int i = 0; i < n_out; i++) snprintf(name, sizeof name, "o%d", i), out[i] = teq_graph_add_value(t.g, name);
    int k = teq_graph_add_node(t.g, "n", op, "", opset, n_in, in, n_out, out);
    if (k < 0) exit(2);
    t.n = &t.g->nodes[k];
    return t;
}

static teq_attr *new_attr(tnode *t, const char *name, teq_attr_type type) {
    teq_node *n = t->n;
    n->attr = realloc(n->attr, sizeof(teq_attr) * (size_t)(n->n_attr + 1));
    teq_attr *a = &n->attr[n->n_attr++];
    memset(a, 0, sizeof *a);
    a->name = teq_strdup(name);
    a->type = type;
    return a;
}
static void attr_i(tnode *t, const char *name, int64_t v) { new_attr(t, name, TEQ_ATTR_INT)->i = v; }
static void attr_f(tnode *t, const char *name, float v) { new_attr(t, name, TEQ_ATTR_FLOAT)->f = v; }
static void attr_s(tnode *t, const char *name, const char *v) { new_attr(t, name, TEQ_ATTR_STRING)->s = teq_strdup(v); }
static void attr_ints(tnode *t, const char *name, int n, const int64_t *v) {
    teq_attr *a = new_attr(t, name, TEQ_ATTR_INTS);
    a->n = n;
    a->ints = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (n) memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
}

static int g_threads = 1;
static teq_error g_err;

/* Run t's node on in[] into out[] (zeroed tensors); returns the status. */
static teq_status run(tnode *t, int n_in, const teq_tensor *const *in, int n_out, teq_tensor *out) {
    teq_tensor *o[8];
    for (int i = 0; i < n_out; i++) {
        memset(&out[i], 0, sizeof out[i]);
        o[i] = &out[i];
    }
    (void)n_in;
    teq_exec_ctx *c = teq_ctx_new(g_threads, &g_err);
    if (!c) exit(2);
    teq_error_clear(&g_err);
    teq_status s = teq_ctx_run_node(c, t->n, in, o);
    teq_ctx_free(c);
    return s;
}

static void done(tnode *t, teq_tensor *out, int n_out) {
    for (int i = 0; i < n_out; i++) teq_tensor_release(&out[i]);
    teq_graph_free(t->g);
}

/* ---------------------------------------------------------------- comparison */

static bool same_shape(const teq_tensor *t, int nd, const int64_t *dims) {
    if (t->ndim != nd) return false;
    for (int i = 0; i < nd; i++)
        if (t->dims[i] != dims[i]) return false;
    return true;
}

static bool close_to(double got, double ref, bool exact) {
    if (isnan(ref)) return isnan(got);
    if (isinf(ref)) return got == ref;
    if (exact) return got == ref;
    return fabs(got - ref) <= ATOL + RTOL * fabs(ref);
}

/* Compare out with ref (numel values) and its dtype/shape; one CHECK per tensor. */
static void expect(const char *what, const teq_tensor *out, teq_dtype dt, int nd, const int64_t *dims,
                   const double *ref) {
    char b1[160], b2[160];
    if (out->dtype != dt || !same_shape(out, nd, dims)) {
        CHECK(0, "%s: got %s %s, want %s %s", what, teq_dtype_name(out->dtype),
              teq_shape_str(out->ndim, out->dims, b1, sizeof b1), teq_dtype_name(dt), teq_shape_str(nd, dims, b2, sizeof b2));
        return;
    }
    bool exact = dt != TEQ_DTYPE_FLOAT && dt != TEQ_DTYPE_DOUBLE;
    int64_t n = teq_tensor_numel(out), bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (!close_to(getd(out, i), ref[i], exact)) bad = i;
    CHECK(bad < 0, "%s: element %lld is %.9g, want %.9g", what, (long long)bad, bad >= 0 ? getd(out, bad) : 0,
          bad >= 0 ? ref[bad] : 0);
}

/* ---------------------------------------------------------------- broadcasting reference */

static bool ref_bshape(int n, const teq_tensor *const *ts, int *nd, int64_t *dims) {
    *nd = 0;
    for (int k = 0; k < n; k++)
        if (ts[k]->ndim > *nd) *nd = ts[k]->ndim;
    for (int i = 0; i < *nd; i++) dims[i] = 1;
    for (int k = 0; k < n; k++)
        for (int j = 0; j < ts[k]->ndim; j++) {
            int i = j + *nd - ts[k]->ndim;
            int64_t d = ts[k]->dims[j];
            if (d == dims[i] || d == 1) continue;
            if (dims[i] != 1) return false;
            dims[i] = d;
        }
    return true;
}

/* Flat index into t of output element oi (output shape nd x od). */
static int64_t bidx(int nd, const int64_t *od, int64_t oi, const teq_tensor *t) {
    int64_t idx = 0, stride = 1;
    for (int d = nd - 1, j = t->ndim - 1; d >= 0; d--, j--) {
        int64_t c = oi % od[d];
        oi /= od[d];
        if (j >= 0) {
            if (t->dims[j] != 1) idx += c * stride;
            stride *= t->dims[j];
        }
    }
    return idx;
}

static double pymod(double x, double y) {
    double r = fmod(x, y);
    if (r != 0 && ((r < 0) != (y < 0))) r += y;
    return r;
}

/* Reference value of a binary op in double. */
static double ref_bin(const char *op, double x, double y, bool isint) {
    if (!strcmp(op, "Add") || !strcmp(op, "Sum") || !strcmp(op, "Mean")) return x + y;
    if (!strcmp(op, "Sub")) return x - y;
    if (!strcmp(op, "Mul")) return x * y;
    if (!strcmp(op, "Div")) return isint ? trunc(x / y) : x / y;
    if (!strcmp(op, "Pow")) return pow(x, y);
    if (!strcmp(op, "Max")) return x > y ? x : y;
    if (!strcmp(op, "Min")) return x < y ? x : y;
    if (!strcmp(op, "Mod")) return pymod(x, y);
    if (!strcmp(op, "FMod")) return fmod(x, y);
    if (!strcmp(op, "PRelu")) return x < 0 ? x * y : x;
    if (!strcmp(op, "Equal")) return x == y;
    if (!strcmp(op, "Less")) return x < y;
    if (!strcmp(op, "Greater")) return x > y;
    if (!strcmp(op, "LessOrEqual")) return x <= y;
    if (!strcmp(op, "GreaterOrEqual")) return x >= y;
    if (!strcmp(op, "And")) return x && y;
    if (!strcmp(op, "Or")) return x || y;
    if (!strcmp(op, "Xor")) return (x != 0) != (y != 0);
    return NAN;
}

static bool is_cmp(const char *op) {
    return !strcmp(op, "Equal") || !strcmp(op, "Less") || !strcmp(op, "Greater") || !strcmp(op, "LessOrEqual") ||
           !strcmp(op, "GreaterOrEqual");
}

/* Run op on n inputs (broadcast) and compare with the reference folded left to right. */
static void check_nary(const char *op, int opset, int n, const teq_tensor *const *ins, const char *what) {
    const char *ref_op = op;
    tnode t = mknode(op, opset, n, 1);
    if (!strcmp(op, "Mod") && ins[0]->dtype == TEQ_DTYPE_FLOAT) attr_i(&t, "fmod", 1), ref_op = "FMod";
    teq_tensor out[1];
    teq_status s = run(&t, n, ins, 1, out);
    int nd;
    int64_t dims[TEQ_MAX_DIMS];
    bool ok = ref_bshape(n, ins, &nd, dims);
    char label[200];
    snprintf(label, sizeof label, "%s %s", op, what);
    if (!ok) {
        CHECK(s != TEQ_OK, "%s: bad broadcast accepted", label);
    } else if (s != TEQ_OK) {
        CHECK(0, "%s: %s", label, g_err.msg);
    } else {
        int64_t numel = 1;
        for (int i = 0; i < nd; i++) numel *= dims[i];
        double *ref = malloc(sizeof(double) * (size_t)(numel ? numel : 1));
        bool isint = ins[0]->dtype != TEQ_DTYPE_FLOAT && ins[0]->dtype != TEQ_DTYPE_DOUBLE;
        for (int64_t i = 0; i < numel; i++) {
            double v = getd(ins[0], bidx(nd, dims, i, ins[0]));
            for (int k = 1; k < n; k++) v = ref_bin(ref_op, v, getd(ins[k], bidx(nd, dims, i, ins[k])), isint);
            if (!strcmp(op, "Mean")) v /= n;
            ref[i] = v;
        }
        teq_dtype odt = is_cmp(op) ? TEQ_DTYPE_BOOL : ins[0]->dtype;
        expect(label, &out[0], odt, nd, dims, ref);
        free(ref);
    }
    done(&t, out, 1);
}

static void check_bin(const char *op, const teq_tensor *a, const teq_tensor *b, const char *what) {
    const teq_tensor *ins[2] = {a, b};
    check_nary(op, 14, 2, ins, what);
}

/* ---------------------------------------------------------------- tests */

typedef struct shape_pair {
    int na;
    int64_t da[6];
    int nb;
    int64_t db[6];
    const char *what;
} shape_pair;

static const shape_pair bcast_cases[] = {
    {3, {3, 4, 5}, 3, {3, 4, 5}, "same shape"},
    {3, {3, 4, 5}, 0, {0}, "tensor op scalar"},
    {0, {0}, 3, {3, 4, 5}, "scalar op tensor"},
    {3, {3, 4, 5}, 1, {1}, "tensor op [1]"},
    {4, {2, 3, 4, 5}, 4, {1, 3, 1, 1}, "per-channel"},
    {4, {1, 3, 1, 1}, 4, {2, 3, 4, 5}, "per-channel on the left"},
    {4, {2, 3, 4, 5}, 1, {5}, "rank 4 op rank 1"},
    {4, {2, 3, 4, 5}, 2, {4, 5}, "rank 4 op rank 2"},
    {2, {4, 1}, 3, {3, 1, 5}, "both sides broadcast"},
    {4, {1, 4, 1, 6}, 4, {3, 1, 5, 1}, "both sides, alternating"},
    {3, {2, 1, 3}, 3, {2, 4, 1}, "middle and last"},
    {2, {3, 0}, 1, {1}, "empty tensor"},
    {2, {3, 4}, 1, {5}, "incompatible (must fail)"},
    {3, {2, 3, 4}, 2, {2, 4}, "incompatible middle (must fail)"},
};

static void test_broadcast_shape(void) {
    int nd;
    int64_t d[TEQ_MAX_DIMS];
    CHECK(teq_broadcast_shape(4, D(2, 3, 4, 5), 4, D(1, 3, 1, 1), &nd, d) == TEQ_OK && nd == 4 && d[0] == 2 &&
              d[1] == 3 && d[2] == 4 && d[3] == 5,
          "per-channel shape");
    CHECK(teq_broadcast_shape(0, NULL, 2, D(3, 1), &nd, d) == TEQ_OK && nd == 2 && d[0] == 3 && d[1] == 1, "scalar");
    CHECK(teq_broadcast_shape(2, D(4, 1), 3, D(3, 1, 5), &nd, d) == TEQ_OK && nd == 3 && d[0] == 3 && d[1] == 4 &&
              d[2] == 5,
          "both sides");
    CHECK(teq_broadcast_shape(2, D(3, 4), 1, D(5), &nd, d) == TEQ_ERR_SHAPE, "incompatible");
    CHECK(teq_broadcast_shape(2, D(1, 0), 1, D(3), &nd, d) == TEQ_ERR_SHAPE, "0 vs 3");
    CHECK(teq_broadcast_shape(2, D(1, 0), 1, D(1), &nd, d) == TEQ_OK && d[1] == 0, "0 vs 1");
    int64_t a[3] = {1, 3, 1};
    CHECK(teq_broadcast_shape(3, a, 2, D(3, 5), &nd, a) == TEQ_OK && a[0] == 1 && a[1] == 3 && a[2] == 5,
          "output aliasing an input");
}

static void test_binary_float(void) {
    static const char *ops[] = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mod", "Equal", "Less",
                                "Greater", "LessOrEqual", "GreaterOrEqual"};
    for (size_t c = 0; c < sizeof bcast_cases / sizeof bcast_cases[0]; c++) {
        const shape_pair *sp = &bcast_cases[c];
        for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
            bool pw = !strcmp(ops[k], "Pow");
            teq_tensor *a = rnd(TEQ_DTYPE_FLOAT, sp->na, sp->da, pw ? 0.1 : -3, 3);
            teq_tensor *b = rnd(TEQ_DTYPE_FLOAT, sp->nb, sp->db, pw ? -2 : 0.5, 3);
            if (!strcmp(ops[k], "Equal") && teq_tensor_numel(b) > 0) /* make some equal */
                for (int64_t i = 0; i < teq_tensor_numel(a); i += 2) setd(a, i, getd(b, i % teq_tensor_numel(b)));
            check_bin(ops[k], a, b, sp->what);
            teq_tensor_free(a);
            teq_tensor_free(b);
        }
    }
    /* PRelu: slope broadcasts one way only. */
    teq_tensor *x = rnd(TEQ_DTYPE_FLOAT, 4, D(2, 3, 4, 5), -3, 3);
    teq_tensor *s1 = rnd(TEQ_DTYPE_FLOAT, 3, D(3, 1, 1), 0, 1), *s2 = rnd(TEQ_DTYPE_FLOAT, 1, D(5), 0, 1);
    check_bin("PRelu", x, s1, "per-channel slope");
    check_bin("PRelu", x, s2, "slope [5]");
    {
        tnode t = mknode("PRelu", 16, 2, 1);
        teq_tensor out[1];
        teq_tensor *big = rnd(TEQ_DTYPE_FLOAT, 5, D(2, 2, 3, 4, 5), 0, 1);
        CHECK(run(&t, 2, (const teq_tensor *[]){x, big}, 1, out) == TEQ_ERR_SHAPE, "PRelu slope larger than X");
        done(&t, out, 1);
        teq_tensor_free(big);
    }
    teq_tensor_free(x), teq_tensor_free(s1), teq_tensor_free(s2);
    /* Pow with a scalar 2 and 0.5 (fast paths) and a float base with an int exponent. */
    teq_tensor *p = rnd(TEQ_DTYPE_FLOAT, 2, D(7, 9), 0.1, 4);
    teq_tensor *two = scalar(TEQ_DTYPE_FLOAT, 2), *half = scalar(TEQ_DTYPE_FLOAT, 0.5);
    check_bin("Pow", p, two, "x^2");
    check_bin("Pow", p, half, "x^0.5");
    {
        teq_tensor *e = vals(TEQ_DTYPE_INT64, 1, D(3), V(2, -1, 3));
        teq_tensor *base = vals(TEQ_DTYPE_FLOAT, 1, D(3), V(1.5, 2, -2));
        tnode t = mknode("Pow", 15, 2, 1);
        teq_tensor out[1];
        teq_status s = run(&t, 2, (const teq_tensor *[]){base, e}, 1, out);
        CHECK(s == TEQ_OK, "Pow float^int64: %s", g_err.msg);
        if (s == TEQ_OK) expect("Pow float^int64", &out[0], TEQ_DTYPE_FLOAT, 1, D(3), V(2.25, 0.5, -8));
        done(&t, out, 1);
        teq_tensor *ib = vals(TEQ_DTYPE_INT64, 1, D(3), V(3, -2, 5));
        t = mknode("Pow", 15, 2, 1);
        s = run(&t, 2, (const teq_tensor *[]){ib, e}, 1, out);
        CHECK(s == TEQ_OK, "Pow int64^int64: %s", g_err.msg);
        if (s == TEQ_OK) expect("Pow int64^int64", &out[0], TEQ_DTYPE_INT64, 1, D(3), V(9, 0, 125));
        done(&t, out, 1);
        teq_tensor *fe = vals(TEQ_DTYPE_FLOAT, 1, D(3), V(2, 3, 0.5));
        t = mknode("Pow", 15, 2, 1);
        s = run(&t, 2, (const teq_tensor *[]){ib, fe}, 1, out);
        CHECK(s == TEQ_OK, "Pow int64^float: %s", g_err.msg);
        if (s == TEQ_OK) expect("Pow int64^float", &out[0], TEQ_DTYPE_INT64, 1, D(3), V(9, -8, 2));
        done(&t, out, 1);
        teq_tensor_free(e), teq_tensor_free(base), teq_tensor_free(ib), teq_tensor_free(fe);
    }
    teq_tensor_free(p), teq_tensor_free(two), teq_tensor_free(half);
}

/* Elementwise ops on tensors large enough for the threaded path, against the reference. */
static void test_threaded(void) {
    g_threads = 4;
    teq_tensor *a = rnd(TEQ_DTYPE_FLOAT, 4, D(2, 64, 32, 33), -2, 2);
    teq_tensor *c = rnd(TEQ_DTYPE_FLOAT, 4, D(1, 64, 1, 1), 0.5, 2);
    teq_tensor *r = rnd(TEQ_DTYPE_FLOAT, 1, D(33), 0.5, 2);
    check_bin("Add", a, c, "threaded per-channel");
    check_bin("Mul", c, a, "threaded per-channel on the left");
    check_bin("Div", a, r, "threaded row");
    check_bin("Sub", a, a, "threaded same shape");
    teq_tensor_free(a), teq_tensor_free(c), teq_tensor_free(r);
    g_threads = 1;
}

static void test_binary_int(void) {
    static const teq_dtype types[] = {TEQ_DTYPE_INT64, TEQ_DTYPE_INT32, TEQ_DTYPE_INT8};
    static const char *ops[] = {"Add", "Sub", "Mul", "Div", "Mod", "Max", "Min", "Equal", "Less", "Greater"};
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
            teq_tensor *a = rnd(types[ti], 3, D(3, 4, 5), -11, 11);
            teq_tensor *b = rnd(types[ti], 2, D(4, 5), 1, 6);
            for (int64_t i = 0; i < 20; i += 3) setd(b, i, -getd(b, i)); /* negative divisors too */
            char what[64];
            snprintf(what, sizeof what, "%s [3,4,5] op [4,5]", teq_dtype_name(types[ti]));
            check_bin(ops[k], a, b, what);
            teq_tensor_free(a), teq_tensor_free(b);
        }
    /* Integer division truncates toward zero; Mod follows the divisor's sign, fmod=1 the dividend's. */
    teq_tensor *x = vals(TEQ_DTYPE_INT64, 1, D(6), V(-7, 7, -7, 7, -4, 0));
    teq_tensor *y = vals(TEQ_DTYPE_INT64, 1, D(6), V(2, -2, -2, 2, 3, 5));
    tnode t = mknode("Div", 14, 2, 1);
    teq_tensor out[2];
    teq_status s = run(&t, 2, (const teq_tensor *[]){x, y}, 1, out);
    CHECK(s == TEQ_OK, "int Div: %s", g_err.msg);
    if (s == TEQ_OK) expect("int64 Div truncates", &out[0], TEQ_DTYPE_INT64, 1, D(6), V(-3, -3, 3, 3, -1, 0));
    done(&t, out, 1);
    t = mknode("Mod", 13, 2, 1);
    s = run(&t, 2, (const teq_tensor *[]){x, y}, 1, out);
    CHECK(s == TEQ_OK, "int Mod: %s", g_err.msg);
    if (s == TEQ_OK) expect("int64 Mod", &out[0], TEQ_DTYPE_INT64, 1, D(6), V(1, -1, -1, 1, 2, 0));
    done(&t, out, 1);
    t = mknode("Mod", 13, 2, 1);
    attr_i(&t, "fmod", 1);
    s = run(&t, 2, (const teq_tensor *[]){x, y}, 1, out);
    CHECK(s == TEQ_OK, "int fmod: %s", g_err.msg);
    if (s == TEQ_OK) expect("int64 Mod fmod=1", &out[0], TEQ_DTYPE_INT64, 1, D(6), V(-1, 1, -1, 1, -1, 0));
    done(&t, out, 1);
    /* Division by zero must not trap. */
    teq_tensor *z = vals(TEQ_DTYPE_INT64, 1, D(6), V(0, 0, 0, 0, 0, 0));
    t = mknode("Div", 14, 2, 1);
    CHECK(run(&t, 2, (const teq_tensor *[]){x, z}, 1, out) == TEQ_OK, "int Div by zero runs");
    done(&t, out, 1);
    t = mknode("Mod", 13, 2, 1);
    CHECK(run(&t, 2, (const teq_tensor *[]){x, z}, 1, out) == TEQ_OK, "int Mod by zero runs");
    done(&t, out, 1);
    /* uint8 wraps. */
    teq_tensor *u = vals(TEQ_DTYPE_UINT8, 1, D(2), V(250, 3)), *v = vals(TEQ_DTYPE_UINT8, 1, D(2), V(10, 5));
    t = mknode("Add", 14, 2, 1);
    s = run(&t, 2, (const teq_tensor *[]){u, v}, 1, out);
    if (s == TEQ_OK) expect("uint8 Add wraps", &out[0], TEQ_DTYPE_UINT8, 1, D(2), V(4, 8));
    else CHECK(0, "uint8 Add: %s", g_err.msg);
    done(&t, out, 1);
    t = mknode("Sub", 14, 2, 1);
    s = run(&t, 2, (const teq_tensor *[]){u, v}, 1, out);
    if (s == TEQ_OK) expect("uint8 Sub wraps", &out[0], TEQ_DTYPE_UINT8, 1, D(2), V(240, 254));
    else CHECK(0, "uint8 Sub: %s", g_err.msg);
    done(&t, out, 1);
    teq_tensor_free(x), teq_tensor_free(y), teq_tensor_free(z), teq_tensor_free(u), teq_tensor_free(v);
    /* Legacy broadcasting (opset < 7): B aligned at axis 1 of A. */
    teq_tensor *a = rnd(TEQ_DTYPE_FLOAT, 4, D(2, 3, 4, 5), -1, 1), *b = rnd(TEQ_DTYPE_FLOAT, 1, D(3), -1, 1);
    t = mknode("Add", 6, 2, 1);
    attr_i(&t, "broadcast", 1);
    attr_i(&t, "axis", 1);
    s = run(&t, 2, (const teq_tensor *[]){a, b}, 1, out);
    CHECK(s == TEQ_OK, "legacy broadcast: %s", g_err.msg);
    if (s == TEQ_OK) {
        double ref[120];
        for (int i = 0; i < 120; i++) ref[i] = getd(a, i) + getd(b, (i / 20) % 3);
        expect("Add opset 6 broadcast axis=1", &out[0], TEQ_DTYPE_FLOAT, 4, D(2, 3, 4, 5), ref);
    }
    done(&t, out, 1);
    teq_tensor_free(a), teq_tensor_free(b);
}

static void test_bool_ops(void) {
    static const char *ops[] = {"And", "Or", "Xor", "Equal"};
    for (size_t c = 0; c < sizeof bcast_cases / sizeof bcast_cases[0]; c++)
        for (size_t k = 0; k < 4; k++) {
            const shape_pair *sp = &bcast_cases[c];
            teq_tensor *a = rnd(TEQ_DTYPE_BOOL, sp->na, sp->da, 0, 2), *b = rnd(TEQ_DTYPE_BOOL, sp->nb, sp->db, 0, 2);
            check_bin(ops[k], a, b, sp->what);
            teq_tensor_free(a), teq_tensor_free(b);
        }
    teq_tensor *a = vals(TEQ_DTYPE_BOOL, 1, D(4), V(0, 1, 1, 0));
    tnode t = mknode("Not", 1, 1, 1);
    teq_tensor out[1];
    teq_status s = run(&t, 1, (const teq_tensor *[]){a}, 1, out);
    if (s == TEQ_OK) expect("Not", &out[0], TEQ_DTYPE_BOOL, 1, D(4), V(1, 0, 0, 1));
    else CHECK(0, "Not: %s", g_err.msg);
    done(&t, out, 1);
    teq_tensor_free(a);
}

static void test_where(void) {
    teq_tensor *c = rnd(TEQ_DTYPE_BOOL, 3, D(2, 1, 5), 0, 2);
    teq_tensor *x = rnd(TEQ_DTYPE_FLOAT, 2, D(4, 1), -1, 1);
    teq_tensor *y = rnd(TEQ_DTYPE_FLOAT, 0, NULL, -1, 1);
    tnode t = mknode("Where", 16, 3, 1);
    teq_tensor out[1];
    teq_status s = run(&t, 3, (const teq_tensor *[]){c, x, y}, 1, out);
    CHECK(s == TEQ_OK, "Where: %s", g_err.msg);
    if (s == TEQ_OK) {
        int64_t od[3] = {2, 4, 5};
        double ref[40];
        for (int i = 0; i < 40; i++)
            ref[i] = getd(c, bidx(3, od, i, c)) ? getd(x, bidx(3, od, i, x)) : getd(y, 0);
        expect("Where 3-way broadcast", &out[0], TEQ_DTYPE_FLOAT, 3, od, ref);
    }
    done(&t, out, 1);
    teq_tensor *xi = vals(TEQ_DTYPE_INT64, 2, D(2, 2), V(1, 2, 3, 4)), *yi = vals(TEQ_DTYPE_INT64, 1, D(2), V(9, 8));
    teq_tensor *ci = vals(TEQ_DTYPE_BOOL, 2, D(2, 2), V(1, 0, 0, 1));
    t = mknode("Where", 16, 3, 1);
    s = run(&t, 3, (const teq_tensor *[]){ci, xi, yi}, 1, out);
    if (s == TEQ_OK) expect("Where int64", &out[0], TEQ_DTYPE_INT64, 2, D(2, 2), V(1, 8, 9, 4));
    else CHECK(0, "Where int64: %s", g_err.msg);
    done(&t, out, 1);
    t = mknode("Where", 16, 3, 1);
    CHECK(run(&t, 3, (const teq_tensor *[]){x, x, x}, 1, out) == TEQ_ERR_SHAPE, "Where with a float condition");
    done(&t, out, 1);
    t = mknode("Where", 16, 3, 1);
    CHECK(run(&t, 3, (const teq_tensor *[]){c, x, yi}, 1, out) == TEQ_ERR_SHAPE, "Where X float, Y int64");
    done(&t, out, 1);
    teq_tensor_free(c), teq_tensor_free(x), teq_tensor_free(y), teq_tensor_free(xi), teq_tensor_free(yi),
        teq_tensor_free(ci);
}

static void test_variadic(void) {
    static const char *ops[] = {"Sum", "Mean", "Max", "Min"};
    teq_tensor *a = rnd(TEQ_DTYPE_FLOAT, 3, D(2, 3, 4), -2, 2), *b = rnd(TEQ_DTYPE_FLOAT, 1, D(4), -2, 2);
    teq_tensor *c = rnd(TEQ_DTYPE_FLOAT, 3, D(1, 3, 1), -2, 2), *d = rnd(TEQ_DTYPE_FLOAT, 0, NULL, -2, 2);
    for (int k = 0; k < 4; k++) {
        check_nary(ops[k], 13, 1, (const teq_tensor *[]){a}, "one input");
        check_nary(ops[k], 13, 2, (const teq_tensor *[]){b, a}, "two inputs, broadcast");
        check_nary(ops[k], 13, 3, (const teq_tensor *[]){b, c, d}, "three inputs, result wider than the first pair");
        check_nary(ops[k], 13, 4, (const teq_tensor *[]){a, b, c, d}, "four inputs");
    }
    teq_tensor *i1 = rnd(TEQ_DTYPE_INT64, 2, D(3, 4), -50, 50), *i2 = rnd(TEQ_DTYPE_INT64, 1, D(4), -50, 50);
    check_nary("Max", 13, 2, (const teq_tensor *[]){i1, i2}, "int64");
    check_nary("Min", 13, 2, (const teq_tensor *[]){i1, i2}, "int64");
    check_nary("Sum", 13, 2, (const teq_tensor *[]){i1, i2}, "int64");
    {
        tnode t = mknode("Sum", 13, 2, 1);
        teq_tensor out[1];
        CHECK(run(&t, 2, (const teq_tensor *[]){a, i1}, 1, out) == TEQ_ERR_SHAPE, "Sum float + int64");
        done(&t, out, 1);
        t = mknode("Max", 13, 3, 1);
        teq_tensor *e = rnd(TEQ_DTYPE_FLOAT, 1, D(5), 0, 1);
        CHECK(run(&t, 3, (const teq_tensor *[]){a, b, e}, 1, out) == TEQ_ERR_SHAPE, "Max with unbroadcastable third");
        done(&t, out, 1);
        teq_tensor_free(e);
    }
    teq_tensor_free(a), teq_tensor_free(b), teq_tensor_free(c), teq_tensor_free(d), teq_tensor_free(i1),
        teq_tensor_free(i2);
}

/* ---------------------------------------------------------------- unary */

static double sigm(double x) { return 1 / (1 + exp(-x)); }

typedef struct unary_case {
    const char *op;
    int opset;
    double lo, hi;
    double alpha, beta, gamma; /* NAN = attribute absent */
} unary_case;

static double ref_unary(const unary_case *u, double x) {
    double a = u->alpha, b = u->beta, g = u->gamma;
    const char *op = u->op;
    if (!strcmp(op, "Relu")) return x > 0 ? x : 0;
    if (!strcmp(op, "Sigmoid")) return sigm(x);
    if (!strcmp(op, "Tanh")) return tanh(x);
    if (!strcmp(op, "Exp")) return exp(x);
    if (!strcmp(op, "Log")) return log(x);
    if (!strcmp(op, "Sqrt")) return sqrt(x);
    if (!strcmp(op, "Abs")) return fabs(x);
    if (!strcmp(op, "Neg")) return -x;
    if (!strcmp(op, "Reciprocal")) return 1 / x;
    if (!strcmp(op, "Floor")) return floor(x);
    if (!strcmp(op, "Ceil")) return ceil(x);
    if (!strcmp(op, "Round")) return nearbyint(x);
    if (!strcmp(op, "Erf")) return erf(x);
    if (!strcmp(op, "Sin")) return sin(x);
    if (!strcmp(op, "Cos")) return cos(x);
    if (!strcmp(op, "Softplus")) return log(1 + exp(x));
    if (!strcmp(op, "Softsign")) return x / (1 + fabs(x));
    if (!strcmp(op, "Sign")) return x > 0 ? 1 : x < 0 ? -1 : 0;
    if (!strcmp(op, "HardSigmoid")) {
        if (isnan(a)) a = 0.2, b = 0.5;
        return fmax(0, fmin(1, a * x + b));
    }
    if (!strcmp(op, "HardSwish")) return x * fmax(0, fmin(1, x / 6 + 0.5));
    if (!strcmp(op, "LeakyRelu")) return x >= 0 ? x : (isnan(a) ? 0.01 : a) * x;
    if (!strcmp(op, "Elu")) return x >= 0 ? x : (isnan(a) ? 1 : a) * (exp(x) - 1);
    if (!strcmp(op, "Selu")) {
        if (isnan(a)) a = 1.67326319217681884765625, g = 1.05070102214813232421875;
        return x > 0 ? g * x : g * (a * exp(x) - a);
    }
    if (!strcmp(op, "Celu")) {
        if (isnan(a)) a = 1;
        return fmax(0, x) + fmin(0, a * (exp(x / a) - 1));
    }
    if (!strcmp(op, "ThresholdedRelu")) return x > (isnan(a) ? 1 : a) ? x : 0;
    return NAN;
}

static void test_unary(void) {
    static const unary_case cases[] = {
        {"Relu", 14, -3, 3, NAN, NAN, NAN},        {"Sigmoid", 13, -20, 20, NAN, NAN, NAN},
        {"Tanh", 13, -5, 5, NAN, NAN, NAN},        {"Exp", 13, -10, 10, NAN, NAN, NAN},
        {"Log", 13, 0.01, 100, NAN, NAN, NAN},     {"Sqrt", 13, 0, 100, NAN, NAN, NAN},
        {"Abs", 13, -3, 3, NAN, NAN, NAN},         {"Neg", 13, -3, 3, NAN, NAN, NAN},
        {"Reciprocal", 13, 0.5, 4, NAN, NAN, NAN}, {"Floor", 13, -5, 5, NAN, NAN, NAN},
        {"Ceil", 13, -5, 5, NAN, NAN, NAN},        {"Round", 11, -5, 5, NAN, NAN, NAN},
        {"Erf", 13, -3, 3, NAN, NAN, NAN},         {"Sin", 7, -6, 6, NAN, NAN, NAN},
        {"Cos", 7, -6, 6, NAN, NAN, NAN},          {"Softplus", 1, -30, 30, NAN, NAN, NAN},
        {"Softsign", 1, -5, 5, NAN, NAN, NAN},     {"Sign", 13, -2, 2, NAN, NAN, NAN},
        {"HardSigmoid", 6, -5, 5, NAN, NAN, NAN},  {"HardSigmoid", 6, -5, 5, 1.0 / 6, 0.5, NAN},
        {"HardSwish", 14, -5, 5, NAN, NAN, NAN},   {"LeakyRelu", 16, -3, 3, NAN, NAN, NAN},
        {"LeakyRelu", 16, -3, 3, 0.1, NAN, NAN},   {"Elu", 6, -3, 3, NAN, NAN, NAN},
        {"Elu", 6, -3, 3, 2, NAN, NAN},            {"Selu", 6, -3, 3, NAN, NAN, NAN},
        {"Selu", 6, -3, 3, 2, NAN, 3},             {"Celu", 12, -3, 3, NAN, NAN, NAN},
        {"Celu", 12, -3, 3, 2, NAN, NAN},          {"ThresholdedRelu", 10, -3, 3, NAN, NAN, NAN},
        {"ThresholdedRelu", 10, -3, 3, 2, NAN, NAN},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const unary_case *u = &cases[c];
        teq_tensor *x = rnd(TEQ_DTYPE_FLOAT, 3, D(3, 4, 5), u->lo, u->hi);
        if (!strcmp(u->op, "Round")) /* ties go to even */
            setd(x, 0, 2.5), setd(x, 1, -2.5), setd(x, 2, 0.5), setd(x, 3, 1.5);
        if (!strcmp(u->op, "Sign")) setd(x, 0, 0);
        tnode t = mknode(u->op, u->opset, 1, 1);
        if (!isnan(u->alpha)) attr_f(&t, "alpha", (float)u->alpha);
        if (!isnan(u->beta)) attr_f(&t, "beta", (float)u->beta);
        if (!isnan(u->gamma)) attr_f(&t, "gamma", (float)u->gamma);
        teq_tensor out[1];
        teq_status s = run(&t, 1, (const teq_tensor *[]){x}, 1, out);
        char what[96];
        snprintf(what, sizeof what, "%s (case %zu)", u->op, c);
        CHECK(s == TEQ_OK, "%s: %s", what, g_err.msg);
        if (s == TEQ_OK) {
            double ref[60];
            for (int i = 0; i < 60; i++) ref[i] = ref_unary(u, (float)getd(x, i));
            expect(what, &out[0], TEQ_DTYPE_FLOAT, 3, D(3, 4, 5), ref);
        }
        done(&t, out, 1);
        teq_tensor_free(x);
    }
    /* Integer Neg/Abs/Relu. */
    teq_tensor *xi = vals(TEQ_DTYPE_INT64, 1, D(4), V(-3, 0, 5, -1));
    const char *iops[] = {"Neg", "Abs", "Relu"};
    const double iref[3][4] = {{3, 0, -5, 1}, {3, 0, 5, 1}, {0, 0, 5, 0}};
    for (int k = 0; k < 3; k++) {
        tnode t = mknode(iops[k], 14, 1, 1);
        teq_tensor out[1];
        teq_status s = run(&t, 1, (const teq_tensor *[]){xi}, 1, out);
        if (s == TEQ_OK) expect(iops[k], &out[0], TEQ_DTYPE_INT64, 1, D(4), iref[k]);
        else CHECK(0, "int64 %s: %s", iops[k], g_err.msg);
        done(&t, out, 1);
    }
    teq_tensor *x32 = vals(TEQ_DTYPE_INT32, 1, D(2), V(-7, 7));
    tnode t = mknode("Neg", 13, 1, 1);
    teq_tensor out[2];
    teq_status s = run(&t, 1, (const teq_tensor *[]){x32}, 1, out);
    if (s == TEQ_OK) expect("int32 Neg", &out[0], TEQ_DTYPE_INT32, 1, D(2), V(7, -7));
    else CHECK(0, "int32 Neg: %s", g_err.msg);
    done(&t, out, 1);
    /* Refusals. */
    t = mknode("Sigmoid", 13, 1, 1);
    CHECK(run(&t, 1, (const teq_tensor *[]){xi}, 1, out) == TEQ_ERR_UNSUPPORTED, "Sigmoid of int64 refused");
    done(&t, out, 1);
    t = mknode("Not", 1, 1, 1);
    CHECK(run(&t, 1, (const teq_tensor *[]){xi}, 1, out) == TEQ_ERR_UNSUPPORTED, "Not of int64 refused");
    done(&t, out, 1);
    t = mknode("Relu", 14, 1, 1);
    CHECK(run(&t, 1, (const teq_tensor *[]){NULL}, 1, out) != TEQ_OK, "Relu without input refused");
    done(&t, out, 1);
    /* Threaded unary on a big tensor. */
    g_threads = 4;
    teq_tensor *big = rnd(TEQ_DTYPE_FLOAT, 2, D(300, 301), -4, 4);
    t = mknode("Sigmoid", 13, 1, 1);
    s = run(&t, 1, (const teq_tensor *[]){big}, 1, out);
    if (s == TEQ_OK) {
        double *ref = malloc(sizeof(double) * 300 * 301);
        for (int i = 0; i < 300 * 301; i++) ref[i] = sigm(getd(big, i));
        expect("threaded Sigmoid", &out[0], TEQ_DTYPE_FLOAT, 2, D(300, 301), ref);
        free(ref);
    } else
        CHECK(0, "threaded Sigmoid: %s", g_err.msg);
    done(&t, out, 1);
    g_threads = 1;
    teq_tensor_free(big), teq_tensor_free(xi), teq_tensor_free(x32);
}

/* ---------------------------------------------------------------- Clip */

static void clip_case(const char *what, int opset, const teq_tensor *x, const teq_tensor *mn, const teq_tensor *mx,
                      double amin, double amax, double lo, double hi) {
    tnode t = mknode("Clip", opset, opset >= 11 ? 3 : 1, 1);
    if (!isnan(amin)) attr_f(&t, "min", (float)amin);
    if (!isnan(amax)) attr_f(&t, "max", (float)amax);
    teq_tensor out[1];
    teq_status s = run(&t, opset >= 11 ? 3 : 1, (const teq_tensor *[]){x, mn, mx}, 1, out);
    CHECK(s == TEQ_OK, "%s: %s", what, g_err.msg);
    if (s == TEQ_OK) {
        int64_t n = teq_tensor_numel(x);
        double *ref = malloc(sizeof(double) * (size_t)n);
        for (int64_t i = 0; i < n; i++) ref[i] = fmin(fmax(getd(x, i), lo), hi);
        expect(what, &out[0], x->dtype, x->ndim, x->dims, ref);
        free(ref);
    }
    done(&t, out, 1);
}

static void test_clip(void) {
    teq_tensor *x = rnd(TEQ_DTYPE_FLOAT, 3, D(3, 4, 5), -10, 10);
    clip_case("Clip opset 6 min/max attrs", 6, x, NULL, NULL, 0, 6, 0, 6);
    clip_case("Clip opset 6 default max", 6, x, NULL, NULL, -1, NAN, -1, INFINITY);
    clip_case("Clip opset 6 no attrs", 6, x, NULL, NULL, NAN, NAN, -INFINITY, INFINITY);
    teq_tensor *mn = scalar(TEQ_DTYPE_FLOAT, -2), *mx = scalar(TEQ_DTYPE_FLOAT, 3);
    clip_case("Clip opset 11 inputs", 11, x, mn, mx, NAN, NAN, -2, 3);
    clip_case("Clip opset 11 min only", 11, x, mn, NULL, NAN, NAN, -2, INFINITY);
    clip_case("Clip opset 13 max only", 13, x, NULL, mx, NAN, NAN, -INFINITY, 3);
    clip_case("Clip opset 13 no bounds", 13, x, NULL, NULL, NAN, NAN, -INFINITY, INFINITY);
    teq_tensor *x8 = rnd(TEQ_DTYPE_INT8, 2, D(4, 5), -100, 100);
    teq_tensor *mn8 = scalar(TEQ_DTYPE_INT8, -5), *mx8 = scalar(TEQ_DTYPE_INT8, 7);
    clip_case("Clip opset 12 int8", 12, x8, mn8, mx8, NAN, NAN, -5, 7);
    clip_case("Clip opset 13 int8 max only", 13, x8, NULL, mx8, NAN, NAN, -128, 7);
    teq_tensor *x64 = rnd(TEQ_DTYPE_INT64, 1, D(9), -100, 100);
    teq_tensor *mn64 = vals(TEQ_DTYPE_INT64, 1, D(1), V(0));
    clip_case("Clip opset 13 int64 min as [1]", 13, x64, mn64, NULL, NAN, NAN, 0, INFINITY);
    /* Errors: non-scalar bound, type mismatch. */
    teq_tensor *vec = rnd(TEQ_DTYPE_FLOAT, 1, D(2), 0, 1);
    tnode t = mknode("Clip", 13, 3, 1);
    teq_tensor out[1];
    CHECK(run(&t, 3, (const teq_tensor *[]){x, vec, NULL}, 1, out) == TEQ_ERR_SHAPE, "Clip with a [2] min refused");
    done(&t, out, 1);
    t = mknode("Clip", 13, 3, 1);
    CHECK(run(&t, 3, (const teq_tensor *[]){x, mn64, NULL}, 1, out) == TEQ_ERR_SHAPE, "Clip float with int64 min");
    done(&t, out, 1);
    teq_tensor_free(x), teq_tensor_free(mn), teq_tensor_free(mx), teq_tensor_free(x8), teq_tensor_free(mn8),
        teq_tensor_free(mx8), teq_tensor_free(x64), teq_tensor_free(mn64), teq_tensor_free(vec);
}

/* ---------------------------------------------------------------- Softmax family */

/* Reference on x viewed as [outer, n, inner]. */
static void ref_softmax(const char *op, const teq_tensor *x, int64_t outer, int64_t n, int64_t inner, double *ref) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double m = -INFINITY, s = 0;
            int64_t am = 0;
            for (int64_t k = 0; k < n; k++) {
                double v = getd(x, (o * n + k) * inner + i);
                if (v > m) m = v, am = k;
            }
            for (int64_t k = 0; k < n; k++) s += exp(getd(x, (o * n + k) * inner + i) - m);
            for (int64_t k = 0; k < n; k++) {
                int64_t j = (o * n + k) * inner + i;
                double v = getd(x, j);
                ref[j] = !strcmp(op, "Softmax")      ? exp(v - m) / s
                         : !strcmp(op, "LogSoftmax") ? v - m - log(s)
                                                     : (double)(k == am);
            }
        }
}

static void softmax_case(const char *op, int opset, const teq_tensor *x, int64_t axis, bool has_axis, int64_t outer,
                         int64_t n, int64_t inner) {
    tnode t = mknode(op, opset, 1, 1);
    if (has_axis) attr_i(&t, "axis", axis);
    teq_tensor out[1];
    teq_status s = run(&t, 1, (const teq_tensor *[]){x}, 1, out);
    char what[96];
    snprintf(what, sizeof what, "%s opset %d axis %lld%s", op, opset, (long long)axis, has_axis ? "" : " (default)");
    CHECK(s == TEQ_OK, "%s: %s", what, g_err.msg);
    if (s == TEQ_OK) {
        double *ref = malloc(sizeof(double) * (size_t)teq_tensor_numel(x));
        ref_softmax(op, x, outer, n, inner, ref);
        expect(what, &out[0], x->dtype, x->ndim, x->dims, ref);
        free(ref);
    }
    done(&t, out, 1);
}

/* An Add that applies the Relu after it (the fast mode's mark, ops.h teq_add_relu): bit for bit Add's sum and
 * then Relu's x > 0 ? x : 0, in its one-pass form (both inputs of the output's shape) and after a broadcast, on
 * sums that are -0, +0 from opposite values, NaN, infinities and denormals. */
static void test_add_relu(void) {
    const float av[15] = {-0.0f, 1, NAN, INFINITY, -INFINITY, 1e-40f, -1e-40f, 3, -3, 2.5f, 0.0f, -1, 7, -0.0f, 1e30f};
    const float bv[15] = {-0.0f, -1, 1, -INFINITY, 5, -1e-40f, 0.0f, -3, 3, -1, 0.0f, -2, 0.5f, 0.0f, 1e30f};
    for (int bc = 0; bc < 2; bc++) {
        teq_tensor *a = mk(TEQ_DTYPE_FLOAT, 2, D(3, 5)), *b = mk(TEQ_DTYPE_FLOAT, 2, bc ? D(1, 5) : D(3, 5));
        for (int i = 0; i < 15; i++) ((float *)a->data)[i] = av[i];
        for (int i = 0; i < (bc ? 5 : 15); i++) ((float *)b->data)[i] = bv[i];
        tnode t = mknode("Add", 14, 2, 1);
        teq_add_fuse fu = {.relu = 1};
        t.n->kern = &fu, t.n->kern_free = teq_add_fuse_free;
        teq_tensor out[1];
        const teq_status st = run(&t, 2, (const teq_tensor *[]){a, b}, 1, out);
        CHECK(st == TEQ_OK, "Add + Relu: %s", g_err.msg);
        for (int i = 0; i < 15 && st == TEQ_OK; i++) {
            const float s = av[i] + bv[bc ? i % 5 : i], want = s > 0 ? s : 0, got = ((float *)out[0].data)[i];
            CHECK(!memcmp(&want, &got, 4), "Add + Relu%s element %d: %.9g, want %.9g", bc ? " (broadcast)" : "", i,
                  (double)got, (double)want);
        }
        t.n->kern = NULL, t.n->kern_free = NULL;
        done(&t, out, 1);
        teq_tensor_free(a), teq_tensor_free(b);
    }
}

/* The Add of a zero-padded Concat (the fast mode's fusion, ops.h teq_add_fuse): given A [N, CA, 3] in the
 * Concat's slot k and F in the other, bit for bit the Add of F and Concat(A, +0.0) in the node's operand order,
 * with and without the Relu, over two batch items: F of the Concat's shape [N, CA + CZ, 3] (the one pass), F
 * [N, CA + CZ, 1] and F [N, 1, 3] broadcast (the Concat made by the Add; the output has the Concat's shape);
 * F holds -0 (-0 + 0 is +0), NaN, infinities and denormals in the padded channels, A -0 where F has -0. */
static void test_add_zpad(void) {
    enum { NB = 2, CA = 3, CZ = 2, IN = 3, NF = NB * (CA + CZ) * IN };
    const float sp[10] = {-0.0f, NAN, INFINITY, -INFINITY, 1e-40f, -1e-40f, 0.0f, -2.5f, 3.0f, -0.0f};
    int cases = 0;
    for (int k = 0; k < 2; k++)
        for (int relu = 0; relu < 2; relu++)
            for (int mode = 0; mode < 3; mode++) { /* 0: F of the Concat's shape, 1: F [N, C, 1], 2: F [N, 1, IN] */
                const int fc = mode == 2 ? 1 : CA + CZ, fin = mode == 1 ? 1 : IN;
                teq_tensor *F = mk(TEQ_DTYPE_FLOAT, 3, D(NB, fc, fin));
                teq_tensor *A = mk(TEQ_DTYPE_FLOAT, 3, D(NB, CA, IN));
                float *f = F->data, *a = A->data, cat[NF];
                for (int i = 0; i < teq_tensor_numel(F); i++) f[i] = i % 3 == 0 ? sp[(i / 3) % 10] : (float)(urand() * 8 - 4);
                for (int i = 0; i < teq_tensor_numel(A); i++) a[i] = i % 4 == 0 ? -0.0f : (float)(urand() * 8 - 4);
                /* the Concat's output: A's channels, then +0.0 */
                for (int b = 0; b < NB; b++)
                    for (int c = 0; c < CA + CZ; c++)
                        for (int j = 0; j < IN; j++)
                            cat[(b * (CA + CZ) + c) * IN + j] = c < CA ? a[(b * CA + c) * IN + j] : 0.0f;
                tnode t = mknode("Add", 14, 2, 1);
                teq_add_fuse fu = {.relu = relu, .zp = k + 1, .cz = CZ};
                t.n->kern = &fu, t.n->kern_free = teq_add_fuse_free;
                teq_tensor out[1];
                const teq_status st = run(&t, 2, k ? (const teq_tensor *[]){F, A} : (const teq_tensor *[]){A, F}, 1, out);
                CHECK(st == TEQ_OK, "zero-padded Add: %s", g_err.msg);
                CHECK(st || (out[0].ndim == 3 && out[0].dims[1] == CA + CZ && out[0].dims[2] == IN),
                      "zero-padded Add: output shape");
                for (int i = 0; i < NF && st == TEQ_OK; i++) {
                    const int b = i / ((CA + CZ) * IN), c = i / IN % (CA + CZ), j = i % IN;
                    const float fv = mode == 0 ? f[i] : mode == 1 ? f[b * (CA + CZ) + c] : f[b * IN + j];
                    const float sum = k ? fv + cat[i] : cat[i] + fv, want = relu ? (sum > 0 ? sum : 0) : sum;
                    const float got = ((float *)out[0].data)[i];
                    CHECK(!memcmp(&want, &got, 4), "zero-padded Add (slot %d%s, %s) element %d: %.9g, want %.9g", k,
                          relu ? ", Relu" : "", mode == 0 ? "one pass" : mode == 1 ? "F [N, C, 1]" : "F [N, 1, 3]", i,
                          (double)got, (double)want);
                }
                t.n->kern = NULL, t.n->kern_free = NULL;
                done(&t, out, 1);
                teq_tensor_free(F), teq_tensor_free(A);
                cases++;
            }
    printf("zero-padded Add: %d cases bit for bit as Add over the Concat\n", cases);
}

/* Float Sigmoid takes the same polynomial (elementwise.c sigmoid_poly_f32: t = exp(-|x|), 1 / (1 + t) or
 * t / (1 + t)): against 1 / (1 + exp(-x)) in double, each value within 6 ulps (6 * 2^-24 relative) plus 3e-45
 * (the denormal tail below x = -87: t's absolute error is half a denormal step). Uniform values over
 * [-110, 110] (both tails out to 0 and 1), the points where the reduction's n changes, +-0, +-inf and NaN.
 * The r^4 coefficient of the polynomial off by 3% fails it. */
static void test_sigmoid_values(void) {
    enum { N = 200003 };
    teq_tensor *x = rnd(TEQ_DTYPE_FLOAT, 1, D(N), -110, 110);
    const double sp[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, 1e-30, -1e-30, 87.3, -87.3, 88.8, -88.8, 103.9, -103.9, 104.5, -104.5};
    for (int i = 0; i < (int)(sizeof sp / sizeof *sp); i++) setd(x, i, sp[i]);
    for (int i = 0; i < 300; i++) setd(x, 20 + i, (double)(i - 150) * 0.69314718055994530942 / 2); /* n changes */
    tnode t = mknode("Sigmoid", 13, 1, 1);
    teq_tensor out[1];
    teq_status st = run(&t, 1, (const teq_tensor *[]){x}, 1, out);
    CHECK(st == TEQ_OK, "Sigmoid values: %s", g_err.msg);
    if (st == TEQ_OK) {
        int64_t bad = -1;
        double worst = 0;
        const bool libm = getenv("TEQ_EXP_LIBM") != NULL;
        for (int64_t i = 0; i < N && bad < 0; i++) {
            const double xv = getd(x, i), got = getd(&out[0], i), r = 1.0 / (1.0 + exp(-xv));
            if (isnan(xv)) {
                if (!isnan(got)) bad = i;
                continue;
            }
            /* TEQ_EXP_LIBM=1 (libm's expf in float) gives 0 below x = -88.72, where expf(-x) overflows */
            if (libm && xv < -88.7) continue;
            const double err = fabs(got - r), tol = 6 * 0x1p-24 * fabs(r) + 3e-45;
            if (!(err <= tol)) bad = i;
            if (r >= 0x1p-126) worst = fmax(worst, err / r); /* normal results */
        }
        CHECK(bad < 0, "Sigmoid values: x=%.9g got %.9g want %.9g", bad >= 0 ? getd(x, bad) : 0.0,
              bad >= 0 ? getd(&out[0], bad) : 0.0, bad >= 0 ? 1.0 / (1.0 + exp(-getd(x, bad))) : 0.0);
        printf("Sigmoid: %d values within 6 ulps + 3e-45 of the double reference (worst %.2f ulps relative, normal "
               "results)\n", N, worst / 0x1p-24);
    }
    done(&t, out, 1);
    teq_tensor_free(x);
}

/* Float Softmax along contiguous rows takes its own exponential (elementwise.c exp_shifted_f32, a polynomial
 * in vector lanes): against exp in double, each value within 1e-6 relative plus what rounding x - max to
 * float costs (|x - max| 2^-24 relative) plus 3e-45 (two steps of the smallest denormal). The 1e-6 (8 ulp)
 * holds the exponential's error (under 1 ulp, measured over [-104, 0]), 1 / sum and the product (1 ulp),
 * and the sum's own share of the x - max roundings of its largest terms: with libm's expf (TEQ_EXP_LIBM=1)
 * the worst value uses the same share of it as with the polynomial. Rows whose values span e^-150 .. 1
 * (zeros, denormals and normals out), long rows (the vector loops and their tails), and rows with NaN, +inf
 * or only -inf, which come out all NaN as the reference's do. The r^4 coefficient of the polynomial off by
 * 3% fails it; the r^6 one, worth 7e-8 at most, does not. */
static void test_softmax_rows(void) {
    const int64_t R = 9, N = 3001;
    teq_tensor *x = rnd(TEQ_DTYPE_FLOAT, 2, D(R, N), -150, 30);
    for (int64_t i = 0; i < N; i++) setd(x, 1 * N + i, -20 + 40 * urand()); /* a narrow row: all normal */
    setd(x, 2 * N + 5, NAN);
    setd(x, 3 * N + 7, INFINITY);
    for (int64_t i = 0; i < N; i++) setd(x, 4 * N + i, -INFINITY);
    for (int64_t i = 0; i < 17; i++) setd(x, 5 * N + i, (double)(i - 8) * 10.5); /* -84 .. 84 step 10.5 */
    for (int64_t i = 17; i < N; i++) setd(x, 5 * N + i, -200);
    tnode t = mknode("Softmax", 13, 1, 1);
    teq_tensor out[1];
    teq_status st = run(&t, 1, (const teq_tensor *[]){x}, 1, out);
    CHECK(st == TEQ_OK, "Softmax rows: %s", g_err.msg);
    if (st == TEQ_OK) {
        double *ref = malloc(sizeof(double) * (size_t)(R * N));
        ref_softmax("Softmax", x, R, N, 1, ref);
        int64_t bad = -1, nan_rows = 0, tiny = 0;
        double worst = 0, rowmax[9];
        for (int64_t row = 0; row < R; row++) {
            rowmax[row] = -INFINITY;
            for (int64_t k = 0; k < N; k++) rowmax[row] = fmax(rowmax[row], getd(x, row * N + k));
        }
        for (int64_t i = 0; i < R * N && bad < 0; i++) {
            const double got = getd(&out[0], i), r = ref[i];
            /* x - max is rounded to float first (as ORT and the libm path do): half an ulp of it, |d| 2^-24,
             * is a relative error of the exponential by itself */
            const double d = fabs(getd(x, i) - rowmax[i / N]);
            if (isnan(r)) {
                if (!isnan(got)) bad = i;
                nan_rows += i % N == 0;
                continue;
            }
            const double err = fabs(got - r), tol = (1e-6 + d * 0x1p-24) * fabs(r) + 3e-45;
            if (!(err <= tol)) bad = i;
            if (r > 0 && r < 1.2e-38) tiny++;
            if (r >= 1.2e-38) worst = fmax(worst, (err / r) / (1e-6 + d * 0x1p-24));
        }
        CHECK(bad < 0, "Softmax rows: element %lld (row %lld) is %.9g, want %.9g", (long long)bad, (long long)(bad / N),
              bad >= 0 ? getd(&out[0], bad) : 0, bad >= 0 ? ref[bad] : 0);
        CHECK(nan_rows == 3, "Softmax rows: %lld rows of NaN, want 3 (NaN, +inf, all -inf)", (long long)nan_rows);
        CHECK(tiny > 100, "Softmax rows: only %lld denormal results checked", (long long)tiny);
        printf("Softmax rows: worst %.2g of the tolerance (normal results), %lld denormal results\n", worst,
               (long long)tiny);
        free(ref);
    }
    done(&t, out, 1);
    teq_tensor_free(x);
}

static void test_softmax(void) {
    static const char *ops[] = {"Softmax", "LogSoftmax", "Hardmax"};
    teq_tensor *x = rnd(TEQ_DTYPE_FLOAT, 4, D(2, 3, 4, 5), -5, 5);
    for (int k = 0; k < 3; k++) {
        /* opset < 13: coerced to 2-D at axis (default 1). */
        softmax_case(ops[k], 11, x, 1, false, 2, 60, 1);
        softmax_case(ops[k], 11, x, 2, true, 6, 20, 1);
        softmax_case(ops[k], 11, x, 3, true, 24, 5, 1);
        softmax_case(ops[k], 11, x, -2, true, 6, 20, 1);
        softmax_case(ops[k], 11, x, 0, true, 1, 120, 1);
        /* opset >= 13: one axis (default -1). */
        softmax_case(ops[k], 13, x, -1, false, 24, 5, 1);
        softmax_case(ops[k], 13, x, 1, true, 2, 3, 20);
        softmax_case(ops[k], 13, x, 0, true, 1, 2, 60);
        softmax_case(ops[k], 13, x, -2, true, 6, 4, 5);
    }
    /* Large values stay finite (the max is subtracted first). */
    teq_tensor *big = vals(TEQ_DTYPE_FLOAT, 2, D(2, 4), V(0, 1, 2, 3, 10000, 10001, 10002, 10003));
    softmax_case("Softmax", 13, big, -1, false, 2, 4, 1);
    softmax_case("LogSoftmax", 13, big, -1, false, 2, 4, 1);
    /* Threaded, both paths. */
    g_threads = 4;
    teq_tensor *wide = rnd(TEQ_DTYPE_FLOAT, 3, D(8, 100, 90), -3, 3);
    softmax_case("Softmax", 13, wide, -1, false, 800, 90, 1);
    softmax_case("Softmax", 13, wide, 1, true, 8, 100, 90);
    g_threads = 1;
    /* Errors. */
    tnode t = mknode("Softmax", 13, 1, 1);
    attr_i(&t, "axis", 4);
    teq_tensor out[1];
    CHECK(run(&t, 1, (const teq_tensor *[]){x}, 1, out) == TEQ_ERR_SHAPE, "Softmax axis 4 of rank 4 refused");
    done(&t, out, 1);
    t = mknode("Softmax", 13, 1, 1);
    attr_i(&t, "axis", -5);
    CHECK(run(&t, 1, (const teq_tensor *[]){x}, 1, out) == TEQ_ERR_SHAPE, "Softmax axis -5 refused");
    done(&t, out, 1);
    teq_tensor *xi = vals(TEQ_DTYPE_INT64, 1, D(2), V(1, 2));
    t = mknode("Softmax", 13, 1, 1);
    CHECK(run(&t, 1, (const teq_tensor *[]){xi}, 1, out) == TEQ_ERR_UNSUPPORTED, "Softmax of int64 refused");
    done(&t, out, 1);
    teq_tensor_free(x), teq_tensor_free(big), teq_tensor_free(wide), teq_tensor_free(xi);
}

/* ---------------------------------------------------------------- reductions */

/* Reference reduction over the axes flagged in red[] (keepdims decides the output shape). */
static void ref_reduce(const char *op, const teq_tensor *x, const bool *red, double *ref, int64_t onum) {
    int r = x->ndim;
    int64_t n = teq_tensor_numel(x), count = 1;
    for (int i = 0; i < r; i++)
        if (red[i]) count *= x->dims[i];
    bool mx = !strcmp(op, "ReduceMax"), mn = !strcmp(op, "ReduceMin"), prod = !strcmp(op, "ReduceProd");
    bool lse = !strcmp(op, "ReduceLogSumExp");
    for (int64_t o = 0; o < onum; o++) ref[o] = mx ? -INFINITY : mn ? INFINITY : prod ? 1 : 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, oi = 0, ostr = 1;
        for (int d = r - 1; d >= 0; d--) {
            int64_t c = rem % x->dims[d];
            rem /= x->dims[d];
            if (!red[d]) oi += c * ostr, ostr *= x->dims[d];
        }
        double v = getd(x, i);
        if (mx) ref[oi] = fmax(ref[oi], v);
        else if (mn) ref[oi] = fmin(ref[oi], v);
        else if (prod) ref[oi] *= v;
        else if (!strcmp(op, "ReduceSumSquare") || !strcmp(op, "ReduceL2")) ref[oi] += v * v;
        else if (!strcmp(op, "ReduceL1")) ref[oi] += fabs(v);
        else if (lse) ref[oi] += exp(v);
        else ref[oi] += v;
    }
    for (int64_t o = 0; o < onum; o++) {
        if (!strcmp(op, "ReduceMean")) ref[o] = x->dtype == TEQ_DTYPE_FLOAT || x->dtype == TEQ_DTYPE_DOUBLE ? ref[o] / count : trunc(ref[o] / count);
        if (!strcmp(op, "ReduceL2")) ref[o] = sqrt(ref[o]);
        if (!strcmp(op, "ReduceLogSum") || lse) ref[o] = log(ref[o]);
    }
}

/* How the axes reach the node. */
enum { AX_ATTR, AX_INPUT, AX_NONE };

static void reduce_case(const char *op, int opset, const teq_tensor *x, int nax, const int64_t *axes, int how,
                        int keepdims /* -1: absent */, bool noop) {
    tnode t = mknode(op, opset, how == AX_INPUT ? 2 : 1, 1);
    if (how == AX_ATTR) attr_ints(&t, "axes", nax, axes);
    if (keepdims >= 0) attr_i(&t, "keepdims", keepdims);
    if (noop) attr_i(&t, "noop_with_empty_axes", 1);
    teq_tensor *axt = how == AX_INPUT ? mk(TEQ_DTYPE_INT64, 1, D(nax)) : NULL;
    if (axt && nax) memcpy(axt->data, axes, sizeof(int64_t) * (size_t)nax);
    teq_tensor out[1];
    teq_status s = run(&t, how == AX_INPUT ? 2 : 1, (const teq_tensor *[]){x, axt}, 1, out);
    char what[160];
    snprintf(what, sizeof what, "%s opset %d %s naxes %d keepdims %d%s (%s)", op, opset,
             how == AX_ATTR ? "attr" : how == AX_INPUT ? "input" : "none", nax, keepdims, noop ? " noop" : "",
             teq_dtype_name(x->dtype));
    CHECK(s == TEQ_OK, "%s: %s", what, g_err.msg);
    if (s == TEQ_OK) {
        int r = x->ndim;
        bool red[TEQ_MAX_DIMS];
        for (int i = 0; i < r; i++) red[i] = nax == 0;
        for (int k = 0; k < nax; k++) red[axes[k] < 0 ? axes[k] + r : axes[k]] = true;
        int64_t dims[TEQ_MAX_DIMS], onum = 1;
        int nd = 0;
        for (int i = 0; i < r; i++) {
            if (!red[i]) dims[nd++] = x->dims[i], onum *= x->dims[i];
            else if (keepdims != 0) dims[nd++] = 1;
        }
        double *ref = malloc(sizeof(double) * (size_t)teq_tensor_numel(x));
        if (noop && nax == 0) {
            for (int64_t i = 0; i < teq_tensor_numel(x); i++) ref[i] = getd(x, i);
            expect(what, &out[0], x->dtype, x->ndim, x->dims, ref);
        } else {
            ref_reduce(op, x, red, ref, onum);
            expect(what, &out[0], x->dtype, nd, dims, ref);
        }
        free(ref);
    }
    done(&t, out, 1);
    teq_tensor_free(axt);
}

static void test_reduce(void) {
    static const char *ops[] = {"ReduceMean", "ReduceSum", "ReduceMax",    "ReduceMin",      "ReduceProd",
                                "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp"};
    teq_tensor *x = rnd(TEQ_DTYPE_FLOAT, 4, D(2, 3, 4, 5), 0.5, 1.5);
    static const struct {
        int n;
        int64_t ax[4];
    } axs[] = {{1, {1}}, {1, {-1}}, {2, {0, 2}}, {2, {3, 1}}, {3, {0, 2, 3}}, {4, {0, 1, 2, 3}}, {1, {0}}};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        int in_opset = !strcmp(ops[k], "ReduceSum") ? 13 : 18;
        for (size_t a = 0; a < sizeof axs / sizeof axs[0]; a++) {
            reduce_case(ops[k], 11, x, axs[a].n, axs[a].ax, AX_ATTR, 1, false);
            reduce_case(ops[k], 11, x, axs[a].n, axs[a].ax, AX_ATTR, 0, false);
            reduce_case(ops[k], in_opset, x, axs[a].n, axs[a].ax, AX_INPUT, -1, false);
        }
        reduce_case(ops[k], 11, x, 0, NULL, AX_NONE, -1, false);
        reduce_case(ops[k], 11, x, 0, NULL, AX_NONE, 0, false);
        reduce_case(ops[k], in_opset, x, 0, NULL, AX_INPUT, 1, false);
        reduce_case(ops[k], in_opset, x, 0, NULL, AX_INPUT, 1, true);
        reduce_case(ops[k], in_opset, x, 0, NULL, AX_NONE, 0, true);
    }
    /* ReduceMean in every opset form (attr through 17, input from 18). */
    reduce_case("ReduceMean", 1, x, 1, D(-1), AX_ATTR, -1, false);
    reduce_case("ReduceMean", 13, x, 2, D(2, 3), AX_ATTR, 1, false);
    reduce_case("ReduceMean", 18, x, 2, D(2, 3), AX_INPUT, 0, false);
    /* Integer ReduceSum/Max/Min/Mean. */
    teq_tensor *xi = rnd(TEQ_DTYPE_INT64, 3, D(3, 4, 5), -100, 100);
    reduce_case("ReduceSum", 13, xi, 1, D(1), AX_INPUT, 1, false);
    reduce_case("ReduceMax", 13, xi, 2, D(0, 2), AX_ATTR, 0, false);
    reduce_case("ReduceMin", 13, xi, 0, NULL, AX_NONE, 1, false);
    reduce_case("ReduceProd", 13, xi, 1, D(0), AX_ATTR, 1, false);
    teq_tensor *x32 = rnd(TEQ_DTYPE_INT32, 2, D(4, 6), -100, 100);
    reduce_case("ReduceSum", 13, x32, 1, D(-1), AX_INPUT, 0, false);
    /* Double, and large values for LogSumExp. */
    teq_tensor *xd = rnd(TEQ_DTYPE_DOUBLE, 3, D(3, 2, 2), -2, 2);
    reduce_case("ReduceLogSumExp", 13, xd, 1, D(1), AX_ATTR, 0, false);
    teq_tensor *xl = vals(TEQ_DTYPE_FLOAT, 2, D(2, 2), V(100, 101, 102, 103));
    reduce_case("ReduceLogSumExp", 13, xl, 1, D(1), AX_ATTR, 1, false);
    /* Rank 0. */
    teq_tensor *s0 = scalar(TEQ_DTYPE_FLOAT, -3);
    reduce_case("ReduceL2", 13, s0, 0, NULL, AX_NONE, 1, false);
    /* Threaded rows. */
    g_threads = 4;
    teq_tensor *big = rnd(TEQ_DTYPE_FLOAT, 3, D(4, 200, 120), -1, 1);
    reduce_case("ReduceMean", 11, big, 1, D(-1), AX_ATTR, 1, false);
    reduce_case("ReduceSum", 11, big, 2, D(1, 2), AX_ATTR, 0, false);
    reduce_case("ReduceMax", 11, big, 1, D(0), AX_ATTR, 1, false);
    g_threads = 1;
    /* Errors. */
    teq_tensor out[1];
    tnode t = mknode("ReduceMean", 13, 1, 1);
    attr_ints(&t, "axes", 1, D(4));
    CHECK(run(&t, 1, (const teq_tensor *[]){x}, 1, out) == TEQ_ERR_SHAPE, "ReduceMean axis 4 of rank 4 refused");
    done(&t, out, 1);
    t = mknode("ReduceMean", 13, 1, 1);
    attr_ints(&t, "axes", 2, D(1, -3));
    CHECK(run(&t, 1, (const teq_tensor *[]){x}, 1, out) == TEQ_ERR_SHAPE, "ReduceMean repeated axis refused");
    done(&t, out, 1);
    t = mknode("ReduceSum", 13, 2, 1);
    teq_tensor *fax = vals(TEQ_DTYPE_FLOAT, 1, D(1), V(1));
    CHECK(run(&t, 2, (const teq_tensor *[]){x, fax}, 1, out) == TEQ_ERR_SHAPE, "ReduceSum float axes refused");
    done(&t, out, 1);
    t = mknode("ReduceL2", 13, 1, 1);
    CHECK(run(&t, 1, (const teq_tensor *[]){xi}, 1, out) == TEQ_ERR_UNSUPPORTED, "ReduceL2 of int64 refused");
    done(&t, out, 1);
    teq_tensor_free(x), teq_tensor_free(xi), teq_tensor_free(x32), teq_tensor_free(xd), teq_tensor_free(xl),
        teq_tensor_free(s0), teq_tensor_free(big), teq_tensor_free(fax);
}

static void arg_case(const char *op, const teq_tensor *x, int64_t axis, int keepdims, int last, const double *ref,
                     int nd, const int64_t *dims) {
    tnode t = mknode(op, 13, 1, 1);
    attr_i(&t, "axis", axis);
    if (keepdims >= 0) attr_i(&t, "keepdims", keepdims);
    if (last >= 0) attr_i(&t, "select_last_index", last);
    teq_tensor out[1];
    teq_status s = run(&t, 1, (const teq_tensor *[]){x}, 1, out);
    char what[96];
    snprintf(what, sizeof what, "%s axis %lld keepdims %d last %d", op, (long long)axis, keepdims, last);
    CHECK(s == TEQ_OK, "%s: %s", what, g_err.msg);
    if (s == TEQ_OK) expect(what, &out[0], TEQ_DTYPE_INT64, nd, dims, ref);
    done(&t, out, 1);
}

static void test_argmax(void) {
    /* [[2, 1, 2], [3, 3, 0]] */
    teq_tensor *x = vals(TEQ_DTYPE_FLOAT, 2, D(2, 3), V(2, 1, 2, 3, 3, 0));
    arg_case("ArgMax", x, 1, -1, -1, V(0, 0), 2, D(2, 1));
    arg_case("ArgMax", x, 1, 0, 1, V(2, 1), 1, D(2));
    arg_case("ArgMax", x, 0, 1, 0, V(1, 1, 0), 2, D(1, 3));
    arg_case("ArgMax", x, -2, 0, 1, V(1, 1, 0), 1, D(3));
    arg_case("ArgMin", x, 1, 0, 0, V(1, 2), 1, D(2));
    arg_case("ArgMin", x, -1, 1, 1, V(1, 2), 2, D(2, 1));
    arg_case("ArgMin", x, 0, 0, 1, V(0, 0, 1), 1, D(3));
    teq_tensor *xi = vals(TEQ_DTYPE_INT64, 1, D(4), V(5, -1, 7, 7));
    arg_case("ArgMax", xi, 0, 0, 0, V(2), 0, NULL);
    arg_case("ArgMax", xi, 0, 1, 1, V(3), 1, D(1));
    tnode t = mknode("ArgMax", 13, 1, 1);
    attr_i(&t, "axis", 2);
    teq_tensor out[1];
    CHECK(run(&t, 1, (const teq_tensor *[]){x}, 1, out) == TEQ_ERR_SHAPE, "ArgMax axis 2 of rank 2 refused");
    done(&t, out, 1);
    teq_tensor_free(x), teq_tensor_free(xi);
}

/* ---------------------------------------------------------------- Cast, Identity, Dropout */

static void test_cast(void) {
    static const teq_dtype types[] = {TEQ_DTYPE_FLOAT, TEQ_DTYPE_DOUBLE, TEQ_DTYPE_INT64, TEQ_DTYPE_INT32,
                                      TEQ_DTYPE_INT8,  TEQ_DTYPE_UINT8,  TEQ_DTYPE_BOOL};
    const double src[6] = {-2.7, -0.5, 0, 0.5, 3.9, 100.25};
    for (int a = 0; a < 7; a++)
        for (int b = 0; b < 7; b++) {
            /* Values every source type holds exactly (uint8 and bool sources get non-negatives). */
            double sv[6];
            for (int i = 0; i < 6; i++) {
                double v = src[i];
                if (types[a] == TEQ_DTYPE_UINT8) v = fabs(v);
                if (types[a] == TEQ_DTYPE_BOOL) v = v != 0;
                sv[i] = v;
            }
            teq_tensor *x = vals(types[a], 2, D(2, 3), sv);
            double ref[6];
            for (int i = 0; i < 6; i++) {
                double v = getd(x, i); /* as the source holds it */
                if (types[b] == TEQ_DTYPE_BOOL) v = v != 0;
                else if (types[b] != TEQ_DTYPE_FLOAT && types[b] != TEQ_DTYPE_DOUBLE) v = trunc(v);
                if (types[b] == TEQ_DTYPE_UINT8) v = (uint8_t)(int64_t)v; /* wraps, as C casts do on x86 */
                if (types[b] == TEQ_DTYPE_FLOAT) v = (float)v;
                ref[i] = v;
            }
            tnode t = mknode("Cast", 13, 1, 1);
            attr_i(&t, "to", types[b]);
            teq_tensor out[1];
            teq_status s = run(&t, 1, (const teq_tensor *[]){x}, 1, out);
            char what[96];
            snprintf(what, sizeof what, "Cast %s -> %s", teq_dtype_name(types[a]), teq_dtype_name(types[b]));
            CHECK(s == TEQ_OK, "%s: %s", what, g_err.msg);
            if (s == TEQ_OK) expect(what, &out[0], types[b], 2, D(2, 3), ref);
            done(&t, out, 1);
            teq_tensor_free(x);
        }
    teq_tensor *x = vals(TEQ_DTYPE_FLOAT, 1, D(2), V(1.5, -1.5));
    tnode t = mknode("Cast", 1, 1, 1);
    attr_s(&t, "to", "INT32");
    teq_tensor out[2];
    teq_status s = run(&t, 1, (const teq_tensor *[]){x}, 1, out);
    if (s == TEQ_OK) expect("Cast opset 1 to 'INT32'", &out[0], TEQ_DTYPE_INT32, 1, D(2), V(1, -1));
    else CHECK(0, "Cast opset 1: %s", g_err.msg);
    done(&t, out, 1);
    t = mknode("Cast", 13, 1, 1);
    attr_i(&t, "to", 10); /* float16 */
    CHECK(run(&t, 1, (const teq_tensor *[]){x}, 1, out) == TEQ_ERR_UNSUPPORTED, "Cast to float16 refused");
    done(&t, out, 1);
    t = mknode("Cast", 13, 1, 1);
    attr_i(&t, "to", 8); /* string */
    CHECK(run(&t, 1, (const teq_tensor *[]){x}, 1, out) == TEQ_ERR_UNSUPPORTED, "Cast to string refused");
    done(&t, out, 1);
    t = mknode("Cast", 13, 1, 1);
    CHECK(run(&t, 1, (const teq_tensor *[]){x}, 1, out) != TEQ_OK, "Cast without 'to' refused");
    done(&t, out, 1);
    /* CastLike takes the second input's type. */
    teq_tensor *like = scalar(TEQ_DTYPE_INT64, 0);
    t = mknode("CastLike", 15, 2, 1);
    s = run(&t, 2, (const teq_tensor *[]){x, like}, 1, out);
    if (s == TEQ_OK) expect("CastLike int64", &out[0], TEQ_DTYPE_INT64, 1, D(2), V(1, -1));
    else CHECK(0, "CastLike: %s", g_err.msg);
    done(&t, out, 1);
    /* Identity copies any type; Dropout copies and gives an all-true mask. */
    teq_tensor *xi = vals(TEQ_DTYPE_INT64, 2, D(1, 3), V(4, 5, 6));
    t = mknode("Identity", 16, 1, 1);
    s = run(&t, 1, (const teq_tensor *[]){xi}, 1, out);
    if (s == TEQ_OK) expect("Identity int64", &out[0], TEQ_DTYPE_INT64, 2, D(1, 3), V(4, 5, 6));
    else CHECK(0, "Identity: %s", g_err.msg);
    done(&t, out, 1);
    t = mknode("Dropout", 13, 1, 2);
    s = run(&t, 1, (const teq_tensor *[]){x}, 2, out);
    if (s == TEQ_OK) {
        expect("Dropout output", &out[0], TEQ_DTYPE_FLOAT, 1, D(2), V(1.5, -1.5));
        expect("Dropout mask", &out[1], TEQ_DTYPE_BOOL, 1, D(2), V(1, 1));
    } else
        CHECK(0, "Dropout: %s", g_err.msg);
    done(&t, out, 2);
    teq_tensor *ratio = scalar(TEQ_DTYPE_FLOAT, 0.5), *train = scalar(TEQ_DTYPE_BOOL, 1);
    teq_tensor *zero = scalar(TEQ_DTYPE_FLOAT, 0);
    t = mknode("Dropout", 13, 3, 1);
    CHECK(run(&t, 3, (const teq_tensor *[]){x, ratio, train}, 1, out) == TEQ_ERR_UNSUPPORTED,
          "Dropout training mode refused");
    done(&t, out, 1);
    t = mknode("Dropout", 13, 3, 1);
    s = run(&t, 3, (const teq_tensor *[]){x, zero, train}, 1, out);
    if (s == TEQ_OK) expect("Dropout training ratio 0", &out[0], TEQ_DTYPE_FLOAT, 1, D(2), V(1.5, -1.5));
    else CHECK(0, "Dropout training ratio 0: %s", g_err.msg);
    done(&t, out, 1);
    teq_tensor_free(x), teq_tensor_free(like), teq_tensor_free(xi), teq_tensor_free(ratio), teq_tensor_free(train),
        teq_tensor_free(zero);
}

/* ---------------------------------------------------------------- refusals */

static void test_errors(void) {
    teq_tensor *a = rnd(TEQ_DTYPE_FLOAT, 2, D(3, 4), 0, 1), *b = rnd(TEQ_DTYPE_FLOAT, 1, D(5), 0, 1);
    teq_tensor *i = rnd(TEQ_DTYPE_INT64, 2, D(3, 4), 0, 5);
    teq_tensor out[1];
    tnode t = mknode("Add", 14, 2, 1);
    CHECK(run(&t, 2, (const teq_tensor *[]){a, b}, 1, out) == TEQ_ERR_SHAPE, "Add [3,4]+[5] refused");
    CHECK(strstr(g_err.msg, "broadcast") != NULL, "message names the problem: %s", g_err.msg);
    done(&t, out, 1);
    t = mknode("Add", 14, 2, 1);
    CHECK(run(&t, 2, (const teq_tensor *[]){a, i}, 1, out) == TEQ_ERR_SHAPE, "Add float+int64 refused");
    done(&t, out, 1);
    t = mknode("Mul", 14, 2, 1);
    CHECK(run(&t, 2, (const teq_tensor *[]){a, NULL}, 1, out) != TEQ_OK, "Mul with a missing input refused");
    done(&t, out, 1);
    t = mknode("And", 7, 2, 1);
    CHECK(run(&t, 2, (const teq_tensor *[]){a, a}, 1, out) == TEQ_ERR_UNSUPPORTED, "And of floats refused");
    done(&t, out, 1);
    t = mknode("Mod", 13, 2, 1);
    CHECK(run(&t, 2, (const teq_tensor *[]){a, a}, 1, out) != TEQ_OK, "float Mod without fmod=1 refused");
    done(&t, out, 1);
    t = mknode("Less", 13, 2, 1);
    teq_tensor *bb = rnd(TEQ_DTYPE_BOOL, 2, D(3, 4), 0, 2);
    CHECK(run(&t, 2, (const teq_tensor *[]){bb, bb}, 1, out) == TEQ_ERR_UNSUPPORTED, "Less of bools refused");
    done(&t, out, 1);
    t = mknode("Add", 6, 2, 1);
    attr_i(&t, "broadcast", 1);
    attr_i(&t, "axis", 1);
    CHECK(run(&t, 2, (const teq_tensor *[]){a, a}, 1, out) == TEQ_ERR_SHAPE, "legacy broadcast past the end refused");
    done(&t, out, 1);
    teq_tensor_free(a), teq_tensor_free(b), teq_tensor_free(i), teq_tensor_free(bb);
}

int main(void) {
    test_broadcast_shape();
    test_binary_float();
    test_threaded();
    test_binary_int();
    test_bool_ops();
    test_where();
    test_variadic();
    test_unary();
    test_clip();
    test_softmax();
    test_softmax_rows();
    test_sigmoid_values();
    test_add_relu();
    test_add_zpad();
    test_reduce();
    test_argmax();
    test_cast();
    test_errors();
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
