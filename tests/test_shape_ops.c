/* Tests of the data-movement operators in src/ops/shape.c.
 *
 * Each case builds one node by hand (teq_graph_add_node + attributes), runs it with teq_ctx_run_node
 * and compares with a reference computed here by plain index arithmetic from the ONNX definitions
 * (Resize: the spec's coordinate formulas in double). Error cases check that bad input fails with a
 * status, never a crash. Prints failures, then "N passed, M failed"; exits non-zero on failure. */
#include "ops/ops.h"

#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_pass, g_fail;

static void check(bool ok, const char *fmt, ...) TEQ_PRINTF(2, 3);
static void check(bool ok, const char *fmt, ...) {
    if (ok) {
        g_pass++;
        return;
    }
    g_fail++;
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

/* ------------------------------------------------------------------ random numbers */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 11);
}
static int64_t rnd_range(int64_t lo, int64_t hi) { return lo + (int64_t)(rnd() % (uint32_t)(hi - lo + 1)); }

/* ------------------------------------------------------------------ nodes */

typedef struct tnode {
    teq_graph *g;
    int id;
} tnode;

static teq_node *nd(tnode *t) { return &t->g->nodes[t->id]; }

static tnode mk(const char *op, int opset, int n_in, int n_out) {
    tnode t = {teq_graph_new(), -1};
    int ins[64], outs[64];
    char name[32];
    for (int i = 0; i < n_in; i++) {
        snprintf(name, sizeof name, "in%d", i);
        ins[i] = teq_graph_add_value(t.g, name);
    }
    for (int i = 0; i < n_out; i++) {
        snprintf(name, sizeof name, "out%d", i);
        outs[i] = teq_graph_add_value(t.g, name);
    }
    t.id = teq_graph_add_node(t.g, "test_node", op, "", opset, n_in, ins, n_out, outs);
    if (t.id < 0) {
        printf("FAIL: cannot build node\n");
        exit(2);
    }
    return t;
}

static teq_attr *add_attr(tnode *t, const char *name, teq_attr_type ty) {
    teq_node *n = nd(t);
    n->attr = realloc(n->attr, sizeof(teq_attr) * (size_t)(n->n_attr + 1));
    teq_attr *a = &n->attr[n->n_attr++];
    memset(a, 0, sizeof *a);
    a->name = teq_strdup(name);
    a->type = ty;
    return a;
}
static void attr_i(tnode *t, const char *name, int64_t v) { add_attr(t, name, TEQ_ATTR_INT)->i = v; }
static void attr_f(tnode *t, const char *name, float v) { add_attr(t, name, TEQ_ATTR_FLOAT)->f = v; }
static void attr_s(tnode *t, const char *name, const char *v) { add_attr(t, name, TEQ_ATTR_STRING)->s = teq_strdup(v); }
static void attr_is(tnode *t, const char *name, int n, const int64_t *v) {
    teq_attr *a = add_attr(t, name, TEQ_ATTR_INTS);
    a->n = n;
    a->ints = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (n) memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
}
static void attr_fs(tnode *t, const char *name, int n, const float *v) {
    teq_attr *a = add_attr(t, name, TEQ_ATTR_FLOATS);
    a->n = n;
    a->floats = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (n) memcpy(a->floats, v, sizeof(float) * (size_t)n);
}
/* The node takes ownership of v. */
static void attr_t(tnode *t, const char *name, teq_tensor *v) { add_attr(t, name, TEQ_ATTR_TENSOR)->t = v; }

static void free_node(tnode *t) { teq_graph_free(t->g); }

/* ------------------------------------------------------------------ tensors */

static teq_tensor *mkt(teq_dtype dt, int ndim, const int64_t *dims) {
    teq_tensor *t = NULL;
    teq_error err;
    if (teq_tensor_create(dt, ndim, dims, &t, &err)) {
        printf("FAIL: cannot create tensor: %s\n", err.msg);
        exit(2);
    }
    return t;
}

static void set_d(teq_tensor *t, int64_t i, double v) {
    switch (t->dtype) {
    case TEQ_DTYPE_FLOAT: ((float *)t->data)[i] = (float)v; break;
    case TEQ_DTYPE_DOUBLE: ((double *)t->data)[i] = v; break;
    case TEQ_DTYPE_INT64: ((int64_t *)t->data)[i] = (int64_t)v; break;
    case TEQ_DTYPE_INT32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    case TEQ_DTYPE_INT8: ((int8_t *)t->data)[i] = (int8_t)(int)v; break;
    case TEQ_DTYPE_UINT8: ((uint8_t *)t->data)[i] = (uint8_t)(int)v; break;
    case TEQ_DTYPE_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
    default: break;
    }
}
static double get_d(const teq_tensor *t, int64_t i) {
    switch (t->dtype) {
    case TEQ_DTYPE_FLOAT: return ((const float *)t->data)[i];
    case TEQ_DTYPE_DOUBLE: return ((const double *)t->data)[i];
    case TEQ_DTYPE_INT64: return (double)((const int64_t *)t->data)[i];
    case TEQ_DTYPE_INT32: return ((const int32_t *)t->data)[i];
    case TEQ_DTYPE_INT8: return ((const int8_t *)t->data)[i];
    case TEQ_DTYPE_UINT8:
    case TEQ_DTYPE_BOOL: return ((const uint8_t *)t->data)[i];
    default: return 0;
    }
}

/* Distinct-ish values so a misplaced element shows. */
static void fill_pattern(teq_tensor *t) {
    int64_t n = teq_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case TEQ_DTYPE_FLOAT:
        case TEQ_DTYPE_DOUBLE: set_d(t, i, (double)(i % 100003) * 0.25 - 1000.0 + (double)(rnd() % 7)); break;
        case TEQ_DTYPE_BOOL: set_d(t, i, rnd() & 1); break;
        case TEQ_DTYPE_INT8:
        case TEQ_DTYPE_UINT8: set_d(t, i, (double)((i * 37 + rnd() % 3) % 120)); break;
        default: set_d(t, i, (double)(i * 3 + 1) * (i & 1 ? -1 : 1)); break;
        }
    }
}

static teq_tensor *mk_pattern(teq_dtype dt, int ndim, const int64_t *dims) {
    teq_tensor *t = mkt(dt, ndim, dims);
    fill_pattern(t);
    return t;
}

static teq_tensor *ints64(int n, const int64_t *v) {
    int64_t d = n;
    teq_tensor *t = mkt(TEQ_DTYPE_INT64, 1, &d);
    if (n) memcpy(t->data, v, sizeof(int64_t) * (size_t)n);
    return t;
}
static teq_tensor *ints32(int n, const int64_t *v) {
    int64_t d = n;
    teq_tensor *t = mkt(TEQ_DTYPE_INT32, 1, &d);
    for (int i = 0; i < n; i++) ((int32_t *)t->data)[i] = (int32_t)v[i];
    return t;
}
static teq_tensor *floats1(int n, const float *v) {
    int64_t d = n;
    teq_tensor *t = mkt(TEQ_DTYPE_FLOAT, 1, &d);
    if (n) memcpy(t->data, v, sizeof(float) * (size_t)n);
    return t;
}
static teq_tensor *scalar(teq_dtype dt, double v) {
    teq_tensor *t = mkt(dt, 0, NULL);
    set_d(t, 0, v);
    return t;
}

static const teq_dtype ALL_DTYPES[] = {TEQ_DTYPE_FLOAT, TEQ_DTYPE_DOUBLE, TEQ_DTYPE_INT64, TEQ_DTYPE_INT32,
                                       TEQ_DTYPE_INT8,  TEQ_DTYPE_UINT8,  TEQ_DTYPE_BOOL};
#define N_DTYPES 7

/* ------------------------------------------------------------------ running and comparing */

static teq_error g_err;

/* Run the node with nin inputs; out[0..nout-1] get new tensors (free with teq_tensor_free). */
static teq_status run(tnode *t, int nin, teq_tensor *const *in, int nout, teq_tensor **out, int threads) {
    teq_error_clear(&g_err);
    teq_exec_ctx *ctx = teq_ctx_new(threads, &g_err);
    if (!ctx) return TEQ_ERR_NOMEM;
    for (int i = 0; i < nout; i++) out[i] = calloc(1, sizeof(teq_tensor));
    teq_status s = teq_ctx_run_node(ctx, nd(t), (const teq_tensor *const *)in, out);
    teq_ctx_free(ctx);
    return s;
}

static void free_all(int n, teq_tensor **t) {
    for (int i = 0; i < n; i++) {
        teq_tensor_free(t[i]);
        t[i] = NULL;
    }
}

/* Exact comparison (dtype, shape, bytes); why receives the first difference. */
static bool same(const teq_tensor *got, const teq_tensor *ref, char *why, size_t n) {
    char b1[160], b2[160];
    if (got->dtype != ref->dtype) {
        snprintf(why, n, "dtype %s vs %s", teq_dtype_name(got->dtype), teq_dtype_name(ref->dtype));
        return false;
    }
    if (got->ndim != ref->ndim || memcmp(got->dims, ref->dims, sizeof(int64_t) * (size_t)got->ndim) != 0) {
        snprintf(why, n, "shape %s vs %s", teq_shape_str(got->ndim, got->dims, b1, sizeof b1),
                 teq_shape_str(ref->ndim, ref->dims, b2, sizeof b2));
        return false;
    }
    int64_t k = teq_tensor_numel(ref);
    size_t es = teq_dtype_size(ref->dtype);
    for (int64_t i = 0; i < k; i++)
        if (memcmp((const char *)got->data + (size_t)i * es, (const char *)ref->data + (size_t)i * es, es) != 0) {
            snprintf(why, n, "element %lld: %g vs %g", (long long)i, get_d(got, i), get_d(ref, i));
            return false;
        }
    return true;
}

/* Float comparison with the project tolerance |got-ref| <= 1e-4 + 1e-3|ref|. */
static bool close_to(const teq_tensor *got, const teq_tensor *ref, char *why, size_t n) {
    char b1[160], b2[160];
    if (got->dtype != ref->dtype || got->ndim != ref->ndim ||
        memcmp(got->dims, ref->dims, sizeof(int64_t) * (size_t)got->ndim) != 0) {
        snprintf(why, n, "type/shape %s %s vs %s %s", teq_dtype_name(got->dtype),
                 teq_shape_str(got->ndim, got->dims, b1, sizeof b1), teq_dtype_name(ref->dtype),
                 teq_shape_str(ref->ndim, ref->dims, b2, sizeof b2));
        return false;
    }
    int64_t k = teq_tensor_numel(ref);
    for (int64_t i = 0; i < k; i++) {
        double a = get_d(got, i), b = get_d(ref, i);
        if (!(fabs(a - b) <= 1e-4 + 1e-3 * fabs(b))) {
            snprintf(why, n, "element %lld: %.9g vs %.9g", (long long)i, a, b);
            return false;
        }
    }
    return true;
}

/* Run and compare out[0] exactly with ref (which is freed). */
static void expect(const char *name, tnode *t, int nin, teq_tensor *const *in, teq_tensor *ref, int threads) {
    teq_tensor *out[1] = {NULL};
    teq_status s = run(t, nin, in, 1, out, threads);
    char why[256] = "";
    if (s) check(false, "%s: status %d: %s", name, (int)s, g_err.msg);
    else check(same(out[0], ref, why, sizeof why), "%s: %s", name, why);
    free_all(1, out);
    teq_tensor_free(ref);
}

/* Expect a failure status (and a message naming the node). */
static void expect_fail(const char *name, tnode *t, int nin, teq_tensor *const *in, int nout) {
    teq_tensor *out[64] = {NULL};
    teq_status s = run(t, nin, in, nout, out, 1);
    check(s != TEQ_OK && strstr(g_err.msg, "test_node") != NULL, "%s: expected an error, got status %d '%s'", name,
          (int)s, g_err.msg);
    free_all(nout, out);
}

/* ------------------------------------------------------------------ reference helpers */

static void strides_of(int nd, const int64_t *dims, int64_t *st) {
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        st[i] = s;
        s *= dims[i];
    }
}

typedef int64_t (*map_fn)(const int64_t *oidx, const void *ud);

/* ref[o] = x[f(o)] (or fillv where f returns -1), over every output multi-index. */
static teq_tensor *ref_map(const teq_tensor *x, int ndim, const int64_t *dims, map_fn f, const void *ud,
                           double fillv) {
    teq_tensor *r = mkt(x->dtype, ndim, dims);
    int64_t n = teq_tensor_numel(r), idx[16] = {0};
    size_t es = teq_dtype_size(x->dtype);
    for (int64_t i = 0; i < n; i++) {
        int64_t src = f(idx, ud);
        if (src < 0) set_d(r, i, fillv);
        else memcpy((char *)r->data + (size_t)i * es, (const char *)x->data + (size_t)src * es, es);
        for (int d = ndim - 1; d >= 0; d--) {
            if (++idx[d] < dims[d]) break;
            idx[d] = 0;
        }
    }
    return r;
}

/* ------------------------------------------------------------------ Transpose */

typedef struct tr_ud {
    int r;
    int64_t perm[8], ist[8];
} tr_ud;
static int64_t tr_map(const int64_t *o, const void *p) {
    const tr_ud *u = p;
    int64_t off = 0;
    for (int i = 0; i < u->r; i++) off += o[i] * u->ist[u->perm[i]];
    return off;
}

static void transpose_case(teq_dtype dt, int r, const int64_t *dims, const int64_t *perm, int threads) {
    teq_tensor *x = mk_pattern(dt, r, dims);
    tnode t = mk("Transpose", 13, 1, 1);
    tr_ud u = {.r = r};
    int64_t od[8];
    for (int i = 0; i < r; i++) u.perm[i] = perm ? perm[i] : r - 1 - i;
    if (perm) attr_is(&t, "perm", r, perm);
    strides_of(r, dims, u.ist);
    for (int i = 0; i < r; i++) od[i] = dims[u.perm[i]];
    char name[200], b[160];
    snprintf(name, sizeof name, "Transpose %s %s perm%s%s t%d", teq_dtype_name(dt), teq_shape_str(r, dims, b, sizeof b),
             perm ? "" : " default", perm ? "" : "", threads);
    expect(name, &t, 1, &x, ref_map(x, r, od, tr_map, &u, 0), threads);
    teq_tensor_free(x);
    free_node(&t);
}

static void test_transpose(void) {
    for (int k = 0; k < N_DTYPES; k++) {
        int64_t d3[] = {2, 3, 4}, p3[] = {1, 2, 0};
        transpose_case(ALL_DTYPES[k], 3, d3, p3, 1);
        transpose_case(ALL_DTYPES[k], 3, d3, NULL, 1);
        int64_t d4[] = {2, 9, 11, 6}, nhwc[] = {0, 2, 3, 1}, nchw[] = {0, 3, 1, 2};
        transpose_case(ALL_DTYPES[k], 4, d4, nhwc, 2);
        transpose_case(ALL_DTYPES[k], 4, d4, nchw, 2);
    }
    /* Every permutation of a rank-4 tensor with odd sizes. */
    int64_t d4[] = {3, 5, 7, 4};
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 4; c++)
                for (int d = 0; d < 4; d++) {
                    if (a == b || a == c || a == d || b == c || b == d || c == d) continue;
                    int64_t p[] = {a, b, c, d};
                    transpose_case(TEQ_DTYPE_FLOAT, 4, d4, p, 1);
                }
    /* Random ranks 1..6, random perms. */
    for (int it = 0; it < 40; it++) {
        int r = (int)rnd_range(1, 6);
        int64_t dims[8], perm[8];
        for (int i = 0; i < r; i++) {
            dims[i] = rnd_range(1, 6);
            perm[i] = i;
        }
        for (int i = r - 1; i > 0; i--) {
            int j = (int)rnd_range(0, i);
            int64_t tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
        }
        transpose_case(ALL_DTYPES[it % N_DTYPES], r, dims, perm, 1 + it % 3);
    }
    /* Big ones: the tiled path and threads (NHWC<->NCHW as in the face model, 2-D). */
    int64_t big4[] = {1, 64, 72, 40}, n2c[] = {0, 3, 1, 2}, c2n[] = {0, 2, 3, 1};
    transpose_case(TEQ_DTYPE_FLOAT, 4, big4, n2c, 4);
    transpose_case(TEQ_DTYPE_FLOAT, 4, big4, c2n, 4);
    transpose_case(TEQ_DTYPE_UINT8, 4, big4, c2n, 3);
    transpose_case(TEQ_DTYPE_DOUBLE, 4, big4, n2c, 2);
    int64_t big2[] = {517, 263}, p2[] = {1, 0};
    transpose_case(TEQ_DTYPE_FLOAT, 2, big2, p2, 4);
    transpose_case(TEQ_DTYPE_INT64, 2, big2, p2, 1);
    int64_t rec5[] = {2, 3, 17, 8, 33}, rp5[] = {2, 0, 3, 1, 4}; /* the rec model's [2,0,3,1,4] */
    transpose_case(TEQ_DTYPE_FLOAT, 5, rec5, rp5, 2);
    int64_t e[] = {3, 0, 2}, pe[] = {2, 1, 0};
    transpose_case(TEQ_DTYPE_FLOAT, 3, e, pe, 1);
    transpose_case(TEQ_DTYPE_FLOAT, 0, NULL, NULL, 1);

    /* Errors. */
    int64_t d3[] = {2, 3, 4};
    teq_tensor *x = mk_pattern(TEQ_DTYPE_FLOAT, 3, d3);
    int64_t bad1[] = {0, 0, 1}, bad2[] = {0, 1}, bad3[] = {0, 1, 3};
    tnode t = mk("Transpose", 13, 1, 1);
    attr_is(&t, "perm", 3, bad1);
    expect_fail("Transpose repeated perm", &t, 1, &x, 1);
    free_node(&t);
    t = mk("Transpose", 13, 1, 1);
    attr_is(&t, "perm", 2, bad2);
    expect_fail("Transpose short perm", &t, 1, &x, 1);
    free_node(&t);
    t = mk("Transpose", 13, 1, 1);
    attr_is(&t, "perm", 3, bad3);
    expect_fail("Transpose perm out of range", &t, 1, &x, 1);
    free_node(&t);
    teq_tensor_free(x);
}

/* ------------------------------------------------------------------ Reshape, Flatten, Squeeze, Unsqueeze */

/* Same bytes, new dims. */
static teq_tensor *ref_reshaped(const teq_tensor *x, int nd_, const int64_t *dims) {
    teq_tensor *r = mkt(x->dtype, nd_, dims);
    memcpy(r->data, x->data, (size_t)teq_tensor_numel(x) * teq_dtype_size(x->dtype));
    return r;
}

static void reshape_ok(const char *name, int opset, int allowzero, teq_dtype sdt, int xr, const int64_t *xd, int n,
                       const int64_t *shape, int er, const int64_t *ed) {
    teq_tensor *in[2] = {mk_pattern(TEQ_DTYPE_FLOAT, xr, xd), NULL};
    tnode t = mk("Reshape", opset, opset >= 5 ? 2 : 1, 1);
    if (opset >= 5) in[1] = sdt == TEQ_DTYPE_INT32 ? ints32(n, shape) : ints64(n, shape);
    else attr_is(&t, "shape", n, shape);
    if (allowzero >= 0) attr_i(&t, "allowzero", allowzero);
    expect(name, &t, opset >= 5 ? 2 : 1, in, ref_reshaped(in[0], er, ed), 1);
    free_all(2, in);
    free_node(&t);
}

static void reshape_fail(const char *name, int opset, int allowzero, int xr, const int64_t *xd, int n,
                         const int64_t *shape) {
    teq_tensor *in[2] = {mk_pattern(TEQ_DTYPE_FLOAT, xr, xd), ints64(n, shape)};
    tnode t = mk("Reshape", opset, 2, 1);
    if (allowzero >= 0) attr_i(&t, "allowzero", allowzero);
    expect_fail(name, &t, 2, in, 1);
    free_all(2, in);
    free_node(&t);
}

static void test_reshape(void) {
    int64_t x[] = {2, 3, 4};
    int64_t s1[] = {4, 0, -1}, e1[] = {4, 3, 2};
    reshape_ok("Reshape 0 and -1", 13, -1, TEQ_DTYPE_INT64, 3, x, 3, s1, 3, e1);
    int64_t s2[] = {-1}, e2[] = {24};
    reshape_ok("Reshape -1 only", 14, -1, TEQ_DTYPE_INT32, 3, x, 1, s2, 1, e2);
    int64_t s3[] = {2, 12}, e3[] = {2, 12};
    reshape_ok("Reshape opset 1 attr", 1, -1, TEQ_DTYPE_INT64, 3, x, 2, s3, 2, e3);
    int64_t s4[] = {0, 0, 1, 4}, e4[] = {2, 3, 1, 4};
    reshape_ok("Reshape zeros copied", 14, 0, TEQ_DTYPE_INT64, 3, x, 4, s4, 4, e4);
    int64_t x0[] = {0, 3, 4}, s5[] = {3, 4, 0}, e5[] = {3, 4, 0};
    reshape_ok("Reshape allowzero=1", 14, 1, TEQ_DTYPE_INT64, 3, x0, 3, s5, 3, e5);
    int64_t s6[] = {0, 3, 4}, e6[] = {0, 3, 4};
    reshape_ok("Reshape allowzero ignored before 14", 13, 1, TEQ_DTYPE_INT64, 3, x0, 3, s6, 3, e6);
    int64_t xs[] = {1}, e7[1] = {0};
    reshape_ok("Reshape to scalar", 13, -1, TEQ_DTYPE_INT64, 1, xs, 0, e7, 0, e7);
    int64_t bad1[] = {-1, -1}, bad2[] = {5, -1}, bad3[] = {2, 3, 4, 0, 0}, bad4[] = {2, -2, 12}, bad5[] = {0, -1},
            bad6[] = {7, 7};
    reshape_fail("Reshape two -1", 13, -1, 3, x, 2, bad1);
    reshape_fail("Reshape -1 not divisible", 13, -1, 3, x, 2, bad2);
    reshape_fail("Reshape 0 past input rank", 13, -1, 3, x, 5, bad3);
    reshape_fail("Reshape -2", 13, -1, 3, x, 3, bad4);
    reshape_fail("Reshape allowzero with 0 and -1", 14, 1, 3, x, 2, bad5);
    reshape_fail("Reshape size mismatch", 13, -1, 3, x, 2, bad6);
    int64_t xe[] = {0, 3};
    reshape_fail("Reshape -1 with zero-size known part", 13, -1, 2, xe, 2, bad5);
    int64_t huge[] = {(int64_t)1 << 40, (int64_t)1 << 40, 4};
    reshape_fail("Reshape overflowing shape", 13, -1, 3, x, 3, huge);
    { /* non-integer shape input */
        teq_tensor *in[2] = {mk_pattern(TEQ_DTYPE_FLOAT, 3, x), floats1(1, (float[]){24})};
        tnode t = mk("Reshape", 13, 2, 1);
        expect_fail("Reshape float shape", &t, 2, in, 1);
        free_all(2, in);
        free_node(&t);
    }
    { /* missing shape input */
        teq_tensor *in[2] = {mk_pattern(TEQ_DTYPE_FLOAT, 3, x), NULL};
        tnode t = mk("Reshape", 13, 2, 1);
        expect_fail("Reshape missing shape", &t, 2, in, 1);
        free_all(2, in);
        free_node(&t);
    }

    /* Flatten, every axis. */
    int64_t fd[] = {2, 3, 4, 5};
    for (int ax = -4; ax <= 4; ax++) {
        teq_tensor *in[1] = {mk_pattern(TEQ_DTYPE_INT32, 4, fd)};
        tnode t = mk("Flatten", 13, 1, 1);
        attr_i(&t, "axis", ax);
        int a = ax < 0 ? ax + 4 : ax;
        int64_t e[2] = {1, 1};
        for (int i = 0; i < 4; i++) e[i < a ? 0 : 1] *= fd[i];
        char name[64];
        snprintf(name, sizeof name, "Flatten axis %d", ax);
        expect(name, &t, 1, in, ref_reshaped(in[0], 2, e), 1);
        free_all(1, in);
        free_node(&t);
    }
    {
        teq_tensor *in[1] = {mk_pattern(TEQ_DTYPE_FLOAT, 4, fd)};
        tnode t = mk("Flatten", 13, 1, 1);
        int64_t e[2] = {2, 60};
        expect("Flatten default axis", &t, 1, in, ref_reshaped(in[0], 2, e), 1);
        free_node(&t);
        t = mk("Flatten", 13, 1, 1);
        attr_i(&t, "axis", 5);
        expect_fail("Flatten axis 5", &t, 1, in, 1);
        free_node(&t);
        t = mk("Flatten", 13, 1, 1);
        attr_i(&t, "axis", -5);
        expect_fail("Flatten axis -5", &t, 1, in, 1);
        free_node(&t);
        free_all(1, in);
    }

    /* Squeeze. */
    int64_t sd[] = {1, 3, 1, 5};
    struct {
        int opset, n;
        int64_t axes[4];
        int er;
        int64_t e[4];
    } sq[] = {
        {11, 1, {0}, 3, {3, 1, 5}},  {13, 1, {-2}, 3, {1, 3, 5}}, {13, 2, {2, 0}, 2, {3, 5}},
        {13, -1, {0}, 2, {3, 5}},    {11, -1, {0}, 2, {3, 5}},    {13, 0, {0}, 2, {3, 5}},
    };
    for (size_t i = 0; i < sizeof sq / sizeof sq[0]; i++) {
        teq_tensor *in[2] = {mk_pattern(TEQ_DTYPE_INT8, 4, sd), NULL};
        tnode t = mk("Squeeze", sq[i].opset, sq[i].opset >= 13 ? 2 : 1, 1);
        if (sq[i].n >= 0) {
            if (sq[i].opset >= 13) in[1] = ints64(sq[i].n, sq[i].axes);
            else attr_is(&t, "axes", sq[i].n, sq[i].axes);
        }
        char name[64];
        snprintf(name, sizeof name, "Squeeze case %zu", i);
        expect(name, &t, sq[i].opset >= 13 ? 2 : 1, in, ref_reshaped(in[0], sq[i].er, sq[i].e), 1);
        free_all(2, in);
        free_node(&t);
    }
    int64_t sqbad[][2] = {{1, 0}, {4, 0}, {0, -4}};
    int sqbadn[] = {1, 1, 2};
    const char *sqbadname[] = {"Squeeze non-unit axis", "Squeeze axis out of range", "Squeeze repeated axis"};
    for (int i = 0; i < 3; i++) {
        teq_tensor *in[2] = {mk_pattern(TEQ_DTYPE_FLOAT, 4, sd), ints64(sqbadn[i], sqbad[i])};
        tnode t = mk("Squeeze", 13, 2, 1);
        expect_fail(sqbadname[i], &t, 2, in, 1);
        free_all(2, in);
        free_node(&t);
    }

    /* Unsqueeze. */
    int64_t ud[] = {3, 4, 5};
    struct {
        int opset, n;
        int64_t axes[4];
        int er;
        int64_t e[8];
    } uq[] = {
        {11, 1, {3}, 4, {3, 4, 5, 1}},        {13, 1, {0}, 4, {1, 3, 4, 5}},
        {13, 3, {5, 4, 0}, 6, {1, 3, 4, 5, 1, 1}}, {13, 2, {-1, 1}, 5, {3, 1, 4, 5, 1}},
        {13, 0, {0}, 3, {3, 4, 5}},
    };
    for (size_t i = 0; i < sizeof uq / sizeof uq[0]; i++) {
        teq_tensor *in[2] = {mk_pattern(TEQ_DTYPE_BOOL, 3, ud), NULL};
        tnode t = mk("Unsqueeze", uq[i].opset, uq[i].opset >= 13 ? 2 : 1, 1);
        if (uq[i].opset >= 13) in[1] = ints64(uq[i].n, uq[i].axes);
        else attr_is(&t, "axes", uq[i].n, uq[i].axes);
        char name[64];
        snprintf(name, sizeof name, "Unsqueeze case %zu", i);
        expect(name, &t, uq[i].opset >= 13 ? 2 : 1, in, ref_reshaped(in[0], uq[i].er, uq[i].e), 1);
        free_all(2, in);
        free_node(&t);
    }
    int64_t ubad[][6] = {{0, 0}, {4}, {0, 1, 2, 3, 4, 5}};
    int ubadn[] = {2, 1, 6};
    const char *ubadname[] = {"Unsqueeze repeated axis", "Unsqueeze axis out of range", "Unsqueeze rank > 8"};
    for (int i = 0; i < 3; i++) {
        teq_tensor *in[2] = {mk_pattern(TEQ_DTYPE_FLOAT, 3, ud), ints64(ubadn[i], ubad[i])};
        tnode t = mk("Unsqueeze", 13, 2, 1);
        expect_fail(ubadname[i], &t, 2, in, 1);
        free_all(2, in);
        free_node(&t);
    }
    {
        teq_tensor *in[2] = {mk_pattern(TEQ_DTYPE_FLOAT, 3, ud), NULL};
        tnode t = mk("Unsqueeze", 13, 2, 1);
        expect_fail("Unsqueeze without axes", &t, 2, in, 1);
        free_all(2, in);
        free_node(&t);
    }
}

/* ------------------------------------------------------------------ Shape, Size */

static void test_shape_size(void) {
    int64_t d[] = {3, 4, 5};
    struct {
        int opset;
        bool has_s, has_e;
        int64_t s, e;
        int n;
        int64_t v[3];
    } c[] = {
        {15, false, false, 0, 0, 3, {3, 4, 5}}, {15, true, false, 1, 0, 2, {4, 5}},   {15, false, true, 0, -1, 2, {3, 4}},
        {15, true, true, -10, 10, 3, {3, 4, 5}}, {15, true, true, 2, 1, 0, {0}},      {15, true, true, -1, 3, 1, {5}},
        {13, true, true, 1, 2, 3, {3, 4, 5}}, /* start/end do not exist before 15 */
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        teq_tensor *in[1] = {mk_pattern(TEQ_DTYPE_FLOAT, 3, d)};
        tnode t = mk("Shape", c[i].opset, 1, 1);
        if (c[i].has_s) attr_i(&t, "start", c[i].s);
        if (c[i].has_e) attr_i(&t, "end", c[i].e);
        char name[64];
        snprintf(name, sizeof name, "Shape case %zu", i);
        expect(name, &t, 1, in, ints64(c[i].n, c[i].v), 1);
        free_all(1, in);
        free_node(&t);
    }
    {
        teq_tensor *in[1] = {scalar(TEQ_DTYPE_INT8, 3)};
        tnode t = mk("Shape", 13, 1, 1);
        expect("Shape of scalar", &t, 1, in, ints64(0, NULL), 1);
        free_node(&t);
        t = mk("Size", 13, 1, 1);
        expect("Size of scalar", &t, 1, in, scalar(TEQ_DTYPE_INT64, 1), 1);
        free_node(&t);
        free_all(1, in);
        int64_t e[] = {4, 0, 2};
        in[0] = mkt(TEQ_DTYPE_UINT8, 3, e);
        t = mk("Size", 13, 1, 1);
        expect("Size of empty", &t, 1, in, scalar(TEQ_DTYPE_INT64, 0), 1);
        free_node(&t);
        free_all(1, in);
        in[0] = mkt(TEQ_DTYPE_DOUBLE, 3, d);
        t = mk("Size", 13, 1, 1);
        expect("Size", &t, 1, in, scalar(TEQ_DTYPE_INT64, 60), 1);
        free_node(&t);
        free_all(1, in);
    }
}

/* ------------------------------------------------------------------ Concat, Split */

typedef struct cat_ud {
    int r, axis, n;
    const teq_tensor *const *xs;
    int64_t off[8];
} cat_ud;

static teq_tensor *ref_concat(int n, teq_tensor *const *xs, int axis, int r) {
    int64_t dims[8];
    memcpy(dims, xs[0]->dims, sizeof(int64_t) * (size_t)r);
    dims[axis] = 0;
    for (int k = 0; k < n; k++) dims[axis] += xs[k]->dims[axis];
    teq_tensor *out = mkt(xs[0]->dtype, r, dims);
    int64_t total = teq_tensor_numel(out), idx[8] = {0};
    size_t es = teq_dtype_size(out->dtype);
    for (int64_t i = 0; i < total; i++) {
        int64_t a = idx[axis];
        int k = 0;
        while (a >= xs[k]->dims[axis]) a -= xs[k++]->dims[axis];
        int64_t st[8], off = 0;
        strides_of(r, xs[k]->dims, st);
        for (int d = 0; d < r; d++) off += (d == axis ? a : idx[d]) * st[d];
        memcpy((char *)out->data + (size_t)i * es, (const char *)xs[k]->data + (size_t)off * es, es);
        for (int d = r - 1; d >= 0; d--) {
            if (++idx[d] < dims[d]) break;
            idx[d] = 0;
        }
    }
    return out;
}

static void concat_case(teq_dtype dt, int r, const int64_t *dims, int axis_raw, int n, const int64_t *sizes, int threads) {
    teq_tensor *xs[8];
    int axis = axis_raw < 0 ? axis_raw + r : axis_raw;
    for (int k = 0; k < n; k++) {
        int64_t d[8];
        memcpy(d, dims, sizeof(int64_t) * (size_t)r);
        d[axis] = sizes[k];
        xs[k] = mk_pattern(dt, r, d);
    }
    tnode t = mk("Concat", 13, n, 1);
    attr_i(&t, "axis", axis_raw);
    char name[128], b[160];
    snprintf(name, sizeof name, "Concat %s %s axis %d n %d t%d", teq_dtype_name(dt), teq_shape_str(r, dims, b, sizeof b),
             axis_raw, n, threads);
    expect(name, &t, n, xs, ref_concat(n, xs, axis, r), threads);
    free_all(n, xs);
    free_node(&t);
}

static void split_check(const char *name, tnode *t, int nin, teq_tensor *const *in, int nout, int axis,
                        const int64_t *expect_sizes, int threads) {
    teq_tensor *out[16] = {NULL};
    teq_status s = run(t, nin, in, nout, out, threads);
    if (s) {
        check(false, "%s: status %d: %s", name, (int)s, g_err.msg);
        free_all(nout, out);
        return;
    }
    /* The concatenation of the parts is the input, and each part has the expected size. */
    bool ok = true;
    char why[256] = "";
    for (int i = 0; i < nout && ok; i++) {
        ok = out[i]->ndim == in[0]->ndim && out[i]->dims[axis] == expect_sizes[i];
        if (!ok) snprintf(why, sizeof why, "part %d has %lld along axis, want %lld", i, (long long)out[i]->dims[axis], (long long)expect_sizes[i]);
    }
    if (ok) {
        teq_tensor *cat = ref_concat(nout, out, axis, in[0]->ndim);
        ok = same(cat, in[0], why, sizeof why);
        teq_tensor_free(cat);
    }
    check(ok, "%s: %s", name, why);
    free_all(nout, out);
}

static void test_concat_split(void) {
    for (int k = 0; k < N_DTYPES; k++) {
        int64_t d[] = {2, 3, 4};
        int64_t s2[] = {1, 3, 2};
        for (int ax = -3; ax < 3; ax++) concat_case(ALL_DTYPES[k], 3, d, ax, 3, s2, 1);
    }
    int64_t d1[] = {5}, s1[] = {2, 0, 3, 1};
    concat_case(TEQ_DTYPE_FLOAT, 1, d1, 0, 4, s1, 1);
    /* det-like: channel concat of feature maps, outer == 1 and outer > 1, threads */
    int64_t big[] = {1, 24, 80, 80}, bs[] = {24, 24, 24, 24};
    concat_case(TEQ_DTYPE_FLOAT, 4, big, 1, 4, bs, 4);
    int64_t big2[] = {3, 16, 40, 40}, bs2[] = {16, 8, 16};
    concat_case(TEQ_DTYPE_FLOAT, 4, big2, 1, 3, bs2, 4);
    concat_case(TEQ_DTYPE_INT64, 4, big2, -1, 3, bs2, 3);

    /* Concat errors. */
    {
        int64_t a[] = {2, 3}, b[] = {3, 3}, c[] = {2, 3, 1};
        teq_tensor *in[2] = {mk_pattern(TEQ_DTYPE_FLOAT, 2, a), mk_pattern(TEQ_DTYPE_FLOAT, 2, b)};
        tnode t = mk("Concat", 13, 2, 1);
        attr_i(&t, "axis", 1);
        expect_fail("Concat dim mismatch", &t, 2, in, 1);
        free_node(&t);
        t = mk("Concat", 13, 2, 1);
        attr_i(&t, "axis", 2);
        expect_fail("Concat axis out of range", &t, 2, in, 1);
        free_node(&t);
        t = mk("Concat", 13, 2, 1);
        expect_fail("Concat without axis", &t, 2, in, 1);
        free_node(&t);
        teq_tensor_free(in[1]);
        in[1] = mk_pattern(TEQ_DTYPE_FLOAT, 3, c);
        t = mk("Concat", 13, 2, 1);
        attr_i(&t, "axis", 0);
        expect_fail("Concat rank mismatch", &t, 2, in, 1);
        free_node(&t);
        teq_tensor_free(in[1]);
        in[1] = mk_pattern(TEQ_DTYPE_INT32, 2, a);
        t = mk("Concat", 13, 2, 1);
        attr_i(&t, "axis", 0);
        expect_fail("Concat dtype mismatch", &t, 2, in, 1);
        free_node(&t);
        free_all(2, in);
    }

    /* Split. */
    int64_t sd[] = {2, 6, 3};
    for (int k = 0; k < N_DTYPES; k++) {
        teq_tensor *in[2] = {mk_pattern(ALL_DTYPES[k], 3, sd), NULL};
        int64_t eq[] = {2, 2, 2};
        tnode t = mk("Split", 13, 1, 3);
        attr_i(&t, "axis", 1);
        split_check("Split equal", &t, 1, in, 3, 1, eq, 1);
        free_node(&t);
        int64_t var[] = {1, 0, 5};
        t = mk("Split", 11, 1, 3);
        attr_i(&t, "axis", -2);
        attr_is(&t, "split", 3, var);
        split_check("Split attr sizes (opset 11)", &t, 1, in, 3, 1, var, 1);
        free_node(&t);
        in[1] = ints32(3, var);
        t = mk("Split", 13, 2, 3);
        attr_i(&t, "axis", 1);
        split_check("Split input sizes (opset 13, int32)", &t, 2, in, 3, 1, var, 1);
        free_node(&t);
        free_all(2, in);
    }
    {
        int64_t d7[] = {7, 5}, e[] = {3, 3, 1};
        teq_tensor *in[1] = {mk_pattern(TEQ_DTYPE_FLOAT, 2, d7)};
        tnode t = mk("Split", 18, 1, 3);
        attr_i(&t, "num_outputs", 3);
        split_check("Split opset 18 num_outputs uneven", &t, 1, in, 3, 0, e, 1);
        free_node(&t);
        t = mk("Split", 13, 1, 3);
        expect_fail("Split not divisible", &t, 1, in, 3);
        free_node(&t);
        int64_t bad[] = {3, 3};
        t = mk("Split", 11, 1, 3);
        attr_is(&t, "split", 2, bad);
        expect_fail("Split count mismatch", &t, 1, in, 3);
        free_node(&t);
        int64_t bad2[] = {3, 3, 3};
        t = mk("Split", 11, 1, 3);
        attr_is(&t, "split", 3, bad2);
        expect_fail("Split sum mismatch", &t, 1, in, 3);
        free_node(&t);
        int64_t bad3[] = {8, -1, 0};
        t = mk("Split", 11, 1, 3);
        attr_is(&t, "split", 3, bad3);
        expect_fail("Split negative size", &t, 1, in, 3);
        free_node(&t);
        t = mk("Split", 13, 1, 2);
        attr_i(&t, "axis", 2);
        expect_fail("Split axis out of range", &t, 1, in, 2);
        free_node(&t);
        free_all(1, in);
        int64_t z[] = {0}, zs[] = {0, 0, 0};
        teq_tensor *in2[2] = {mkt(TEQ_DTYPE_FLOAT, 1, z), ints64(3, zs)};
        t = mk("Split", 13, 2, 3);
        split_check("Split zero-size", &t, 2, in2, 3, 0, zs, 1);
        free_node(&t);
        free_all(2, in2);
        /* mlsd-like: split a tensor into 8 single elements */
        int64_t d8[] = {8}, ones[] = {1, 1, 1, 1, 1, 1, 1, 1};
        teq_tensor *in3[1] = {mk_pattern(TEQ_DTYPE_INT64, 1, d8)};
        t = mk("Split", 11, 1, 8);
        attr_is(&t, "split", 8, ones);
        split_check("Split into 8", &t, 1, in3, 8, 0, ones, 1);
        free_node(&t);
        free_all(1, in3);
        int64_t bigd[] = {4, 96, 50, 40}, bige[] = {24, 24, 24, 24};
        teq_tensor *in4[1] = {mk_pattern(TEQ_DTYPE_FLOAT, 4, bigd)};
        t = mk("Split", 13, 1, 4);
        attr_i(&t, "axis", 1);
        split_check("Split big threads", &t, 1, in4, 4, 1, bige, 4);
        free_node(&t);
        free_all(1, in4);
    }
}

/* ------------------------------------------------------------------ Slice */

typedef struct sl_ud {
    int r;
    int64_t start[8], step[8], ist[8];
} sl_ud;
static int64_t sl_map(const int64_t *o, const void *p) {
    const sl_ud *u = p;
    int64_t off = 0;
    for (int i = 0; i < u->r; i++) off += (u->start[i] + o[i] * u->step[i]) * u->ist[i];
    return off;
}

/* Reference: the spec's clamping, then the selected indices counted one by one. */
static void slice_ref_axis(int64_t dim, int64_t s, int64_t e, int64_t st, int64_t *first, int64_t *count) {
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    if (st > 0) {
        s = s < 0 ? 0 : s > dim ? dim : s;
        e = e < 0 ? 0 : e > dim ? dim : e;
    } else {
        s = s < 0 ? 0 : s > dim - 1 ? dim - 1 : s;
        e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
    }
    int64_t c = 0;
    for (int64_t i = s; dim > 0 && (st > 0 ? i < e : i > e);) {
        c++;
        if ((st > 0 && i > e - st) || (st < 0 && i < e - st)) break; /* next step would pass the end (and may overflow) */
        i += st;
    }
    *first = s;
    *count = c;
}

static void slice_case(const char *name, teq_dtype dt, int r, const int64_t *dims, int n, const int64_t *starts,
                       const int64_t *ends, const int64_t *axes, const int64_t *steps, int opset, bool i32, int threads) {
    teq_tensor *in[5] = {mk_pattern(dt, r, dims), NULL, NULL, NULL, NULL};
    int nin = 1;
    tnode t;
    int64_t s32[8], e32[8], st32[8];
    if (i32) { /* int32 inputs hold INT32_MAX/MIN where int64 ones would hold INT64_MAX/MIN */
        for (int i = 0; i < n; i++) {
            s32[i] = starts[i] > INT32_MAX ? INT32_MAX : starts[i] < INT32_MIN ? INT32_MIN : starts[i];
            e32[i] = ends[i] > INT32_MAX ? INT32_MAX : ends[i] < INT32_MIN ? INT32_MIN : ends[i];
            if (steps) st32[i] = steps[i] > INT32_MAX ? INT32_MAX : steps[i] < INT32_MIN ? INT32_MIN : steps[i];
        }
        starts = s32;
        ends = e32;
        if (steps) steps = st32;
    }
    if (opset >= 10) {
        nin = steps ? 5 : axes ? 4 : 3;
        t = mk("Slice", opset, nin, 1);
        in[1] = i32 ? ints32(n, starts) : ints64(n, starts);
        in[2] = i32 ? ints32(n, ends) : ints64(n, ends);
        if (axes) in[3] = i32 ? ints32(n, axes) : ints64(n, axes);
        if (steps) in[4] = i32 ? ints32(n, steps) : ints64(n, steps);
    } else {
        t = mk("Slice", opset, 1, 1);
        attr_is(&t, "starts", n, starts);
        attr_is(&t, "ends", n, ends);
        if (axes) attr_is(&t, "axes", n, axes);
    }
    sl_ud u = {.r = r};
    int64_t od[8];
    strides_of(r, dims, u.ist);
    for (int d = 0; d < r; d++) {
        u.start[d] = 0;
        u.step[d] = 1;
        od[d] = dims[d];
    }
    for (int i = 0; i < n; i++) {
        int a = (int)(axes ? (axes[i] < 0 ? axes[i] + r : axes[i]) : i);
        u.step[a] = steps ? steps[i] : 1;
        slice_ref_axis(dims[a], starts[i], ends[i], u.step[a], &u.start[a], &od[a]);
    }
    expect(name, &t, nin, in, ref_map(in[0], r, od, sl_map, &u, 0), threads);
    free_all(5, in);
    free_node(&t);
}

/* Slice of arange(10) along its only axis, against values written out by hand. */
static void slice_1d(const char *name, int64_t s, int64_t e, int64_t st, int n, const int64_t *want) {
    int64_t d = 10;
    teq_tensor *in[5] = {mkt(TEQ_DTYPE_INT64, 1, &d), ints64(1, &s), ints64(1, &e), ints64(1, (int64_t[]){0}),
                         ints64(1, &st)};
    for (int i = 0; i < 10; i++) ((int64_t *)in[0]->data)[i] = i;
    tnode t = mk("Slice", 13, 5, 1);
    expect(name, &t, 5, in, ints64(n, want), 1);
    free_all(5, in);
    free_node(&t);
}

static void test_slice(void) {
    const int64_t MAX = INT64_MAX, MIN = INT64_MIN;
    slice_1d("Slice [-3:]", -3, MAX, 1, 3, (int64_t[]){7, 8, 9});
    slice_1d("Slice [8:1:-3]", 8, 1, -3, 3, (int64_t[]){8, 5, 2});
    slice_1d("Slice [::-1]", MAX, MIN, -1, 10, (int64_t[]){9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
    slice_1d("Slice [-100:100:4]", -100, 100, 4, 3, (int64_t[]){0, 4, 8});
    slice_1d("Slice [5:5]", 5, 5, 1, 0, NULL);
    slice_1d("Slice [7:2] empty", 7, 2, 1, 0, NULL);
    slice_1d("Slice step INT64_MIN", 9, MIN, MIN, 1, (int64_t[]){9});
    slice_1d("Slice step INT64_MAX", 0, MAX, MAX, 1, (int64_t[]){0});
    slice_1d("Slice [-1:-11:-2]", -1, -11, -2, 5, (int64_t[]){9, 7, 5, 3, 1});
    slice_1d("Slice [20:-20:-1]", 20, -20, -1, 10, (int64_t[]){9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
    slice_1d("Slice [-20:3]", -20, 3, 1, 3, (int64_t[]){0, 1, 2});

    int64_t d[] = {20, 10, 5};
    int64_t st1[] = {0, 0}, en1[] = {3, 10}, ax1[] = {0, 1}, sp1[] = {1, 1};
    slice_case("Slice conformance-like", TEQ_DTYPE_FLOAT, 3, d, 2, st1, en1, ax1, sp1, 13, false, 1);
    int64_t st2[] = {1, 0}, en2[] = {1000, 1000}, ax2[] = {1, -1}, sp2[] = {2, -2};
    slice_case("Slice neg axis, neg step", TEQ_DTYPE_FLOAT, 3, d, 2, st2, en2, ax2, sp2, 13, true, 1);
    int64_t st3[] = {0, 0, 3}, en3[] = {20, 10, 4};
    slice_case("Slice opset 1 attrs", TEQ_DTYPE_INT8, 3, d, 3, st3, en3, NULL, NULL, 1, false, 1);
    int64_t st4[] = {2}, en4[] = {MAX}, ax4[] = {2};
    slice_case("Slice opset 9 axes attr", TEQ_DTYPE_DOUBLE, 3, d, 1, st4, en4, ax4, NULL, 9, false, 1);
    slice_case("Slice int32 inputs, default steps", TEQ_DTYPE_BOOL, 3, d, 1, st4, (int64_t[]){2147483647}, ax4, NULL, 10,
               true, 1);
    /* mlsd: starts [0,0,0,7] ends [INT32_MAX x3, 8] axes [0,2,3,1] */
    int64_t md[] = {1, 12, 40, 40}, mst[] = {0, 0, 0, 7}, men[] = {2147483647, 2147483647, 2147483647, 8},
            max_[] = {0, 2, 3, 1};
    slice_case("Slice mlsd channel pick", TEQ_DTYPE_FLOAT, 4, md, 4, mst, men, max_, NULL, 11, false, 1);

    /* Random slices on every dtype, compared with the reference. */
    for (int it = 0; it < 150; it++) {
        int r = (int)rnd_range(1, 5);
        int64_t dims[8], starts[8], ends[8], axes[8], steps[8];
        for (int i = 0; i < r; i++) dims[i] = rnd_range(0, 7);
        int n = (int)rnd_range(1, r);
        int perm[8];
        for (int i = 0; i < r; i++) perm[i] = i;
        for (int i = r - 1; i > 0; i--) {
            int j = (int)rnd_range(0, i), tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
        }
        for (int i = 0; i < n; i++) {
            axes[i] = perm[i] - (rnd() & 1 ? r : 0);
            starts[i] = rnd_range(-10, 10);
            ends[i] = rnd_range(-10, 10);
            if (rnd() % 8 == 0) ends[i] = rnd() & 1 ? INT64_MAX : INT64_MIN;
            if (rnd() % 8 == 0) starts[i] = rnd() & 1 ? INT64_MAX : INT64_MIN;
            do steps[i] = rnd_range(-4, 4);
            while (steps[i] == 0);
        }
        char name[64];
        snprintf(name, sizeof name, "Slice random %d", it);
        slice_case(name, ALL_DTYPES[it % N_DTYPES], r, dims, n, starts, ends, axes, steps, 13, it & 1, 1 + it % 2);
    }
    /* Big strided slice with threads. */
    int64_t bd[] = {4, 64, 120, 90}, bst[] = {1, 5, -1}, ben[] = {MAX, 100, MIN}, bax[] = {1, 2, 3}, bsp[] = {2, 3, -2};
    slice_case("Slice big threads", TEQ_DTYPE_FLOAT, 4, bd, 3, bst, ben, bax, bsp, 13, false, 4);

    /* Errors. */
    int64_t z[] = {0}, o[] = {1};
    struct {
        const char *name;
        int n;
        int64_t s[3], e[3], a[3], st[3];
        int ne;
    } bad[] = {
        {"Slice step 0", 1, {0}, {5}, {0}, {0}, 1},
        {"Slice repeated axis", 2, {0, 0}, {5, 5}, {1, -2}, {1, 1}, 2},
        {"Slice axis out of range", 1, {0}, {5}, {3}, {1}, 1},
        {"Slice ends length mismatch", 2, {0, 0}, {5}, {0, 1}, {1, 1}, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        teq_tensor *in[5] = {mk_pattern(TEQ_DTYPE_FLOAT, 3, d), ints64(bad[i].n, bad[i].s), ints64(bad[i].ne, bad[i].e),
                             ints64(bad[i].n, bad[i].a), ints64(bad[i].n, bad[i].st)};
        tnode t = mk("Slice", 13, 5, 1);
        expect_fail(bad[i].name, &t, 5, in, 1);
        free_all(5, in);
        free_node(&t);
    }
    {
        teq_tensor *in[3] = {mk_pattern(TEQ_DTYPE_FLOAT, 3, d), ints64(1, z), NULL};
        tnode t = mk("Slice", 13, 3, 1);
        expect_fail("Slice missing ends", &t, 3, in, 1);
        free_all(3, in);
        free_node(&t);
        teq_tensor *in2[3] = {mk_pattern(TEQ_DTYPE_FLOAT, 3, d), floats1(1, (float[]){0}), ints64(1, o)};
        t = mk("Slice", 13, 3, 1);
        expect_fail("Slice float starts", &t, 3, in2, 1);
        free_all(3, in2);
        free_node(&t);
    }
}

/* ------------------------------------------------------------------ Gather, GatherElements */

typedef struct ga_ud {
    int r, axis, q;
    const teq_tensor *ind;
    int64_t xst[8], K;
} ga_ud;
static int64_t idx_at(const teq_tensor *t, int64_t i) {
    return t->dtype == TEQ_DTYPE_INT64 ? ((const int64_t *)t->data)[i] : ((const int32_t *)t->data)[i];
}
static int64_t ga_map(const int64_t *o, const void *p) {
    const ga_ud *u = p;
    /* o = [data dims before axis, index dims, data dims after axis] */
    int64_t ist[8], flat = 0;
    strides_of(u->q, u->ind->dims, ist);
    for (int i = 0; i < u->q; i++) flat += o[u->axis + i] * ist[i];
    int64_t v = idx_at(u->ind, flat);
    if (v < 0) v += u->K;
    int64_t off = 0;
    for (int d = 0; d < u->r; d++) {
        int64_t c = d < u->axis ? o[d] : d == u->axis ? v : o[d - 1 + u->q];
        off += c * u->xst[d];
    }
    return off;
}

static void gather_case(const char *name, teq_dtype dt, int r, const int64_t *dims, int axis, teq_tensor *ind,
                        int threads) {
    teq_tensor *in[2] = {mk_pattern(dt, r, dims), ind};
    int a = axis < 0 ? axis + r : axis;
    ga_ud u = {.r = r, .axis = a, .q = ind->ndim, .ind = ind, .K = dims[a]};
    strides_of(r, dims, u.xst);
    int64_t od[8];
    int k = 0;
    for (int d = 0; d < a; d++) od[k++] = dims[d];
    for (int d = 0; d < ind->ndim; d++) od[k++] = ind->dims[d];
    for (int d = a + 1; d < r; d++) od[k++] = dims[d];
    tnode t = mk("Gather", 13, 2, 1);
    attr_i(&t, "axis", axis);
    expect(name, &t, 2, in, ref_map(in[0], k, od, ga_map, &u, 0), threads);
    free_all(2, in);
    free_node(&t);
}

typedef struct ge_ud {
    int r, axis;
    const teq_tensor *ind;
    int64_t xst[8], ist[8], K;
} ge_ud;
static int64_t ge_map(const int64_t *o, const void *p) {
    const ge_ud *u = p;
    int64_t flat = 0, off = 0;
    for (int d = 0; d < u->r; d++) flat += o[d] * u->ist[d];
    int64_t v = idx_at(u->ind, flat);
    if (v < 0) v += u->K;
    for (int d = 0; d < u->r; d++) off += (d == u->axis ? v : o[d]) * u->xst[d];
    return off;
}

static void test_gather(void) {
    int64_t d[] = {5, 4, 3, 2};
    for (int k = 0; k < N_DTYPES; k++) {
        int64_t iv[] = {0, 4, -1, 2, -5};
        gather_case("Gather axis 0", ALL_DTYPES[k], 4, d, 0, ints64(5, iv), 1);
        int64_t iv2[] = {3, -4, 1, 1, 0, 2};
        teq_tensor *ind = ints32(6, iv2);
        ind->ndim = 2;
        ind->dims[0] = 2;
        ind->dims[1] = 3;
        gather_case("Gather axis 1 2-D int32 indices", ALL_DTYPES[k], 4, d, 1, ind, 1);
        gather_case("Gather axis -1 scalar index", ALL_DTYPES[k], 4, d, -1, scalar(TEQ_DTYPE_INT64, -1), 1);
    }
    int64_t rows[] = {6625, 120};
    int64_t many[700];
    for (int i = 0; i < 700; i++) many[i] = (int64_t)(rnd() % 6625) - (i & 1 ? 6625 : 0);
    gather_case("Gather embedding rows threads", TEQ_DTYPE_FLOAT, 2, rows, 0, ints64(700, many), 4);
    gather_case("Gather columns threads", TEQ_DTYPE_FLOAT, 2, rows, 1, ints64(5, (int64_t[]){0, 119, -120, 7, 7}), 3);
    int64_t e[] = {3, 0};
    gather_case("Gather empty indices", TEQ_DTYPE_FLOAT, 2, e, 0, ints64(0, NULL), 1);
    {
        teq_tensor *in[2] = {mk_pattern(TEQ_DTYPE_FLOAT, 4, d), ints64(2, (int64_t[]){0, 5})};
        tnode t = mk("Gather", 13, 2, 1);
        expect_fail("Gather index 5 out of range", &t, 2, in, 1);
        free_node(&t);
        teq_tensor_free(in[1]);
        in[1] = ints64(1, (int64_t[]){-6});
        t = mk("Gather", 13, 2, 1);
        expect_fail("Gather index -6 out of range", &t, 2, in, 1);
        free_node(&t);
        t = mk("Gather", 13, 2, 1);
        attr_i(&t, "axis", 4);
        expect_fail("Gather axis out of range", &t, 2, in, 1);
        free_node(&t);
        teq_tensor_free(in[1]);
        in[1] = floats1(1, (float[]){0});
        t = mk("Gather", 13, 2, 1);
        expect_fail("Gather float indices", &t, 2, in, 1);
        free_node(&t);
        teq_tensor_free(in[1]);
        int64_t i8d[8] = {1, 1, 1, 1, 1, 1, 1, 1};
        in[1] = mkt(TEQ_DTYPE_INT64, 6, i8d);
        t = mk("Gather", 13, 2, 1);
        expect_fail("Gather output rank > 8", &t, 2, in, 1);
        free_node(&t);
        free_all(2, in);
    }

    /* GatherElements. */
    for (int k = 0; k < N_DTYPES; k++)
        for (int axis = -3; axis < 3; axis++) {
            int64_t xd[] = {4, 5, 3}, id[] = {3, 2, 3};
            int a = axis < 0 ? axis + 3 : axis;
            id[a] = 6; /* more indices than data along axis is fine */
            teq_tensor *in[2] = {mk_pattern(ALL_DTYPES[k], 3, xd), mkt(k & 1 ? TEQ_DTYPE_INT32 : TEQ_DTYPE_INT64, 3, id)};
            int64_t n = teq_tensor_numel(in[1]);
            for (int64_t i = 0; i < n; i++) set_d(in[1], i, (double)rnd_range(-xd[a], xd[a] - 1));
            ge_ud u = {.r = 3, .axis = a, .ind = in[1], .K = xd[a]};
            strides_of(3, xd, u.xst);
            strides_of(3, id, u.ist);
            tnode t = mk("GatherElements", 13, 2, 1);
            attr_i(&t, "axis", axis);
            char name[80];
            snprintf(name, sizeof name, "GatherElements %s axis %d", teq_dtype_name(ALL_DTYPES[k]), axis);
            expect(name, &t, 2, in, ref_map(in[0], 3, id, ge_map, &u, 0), 1 + k % 2);
            free_all(2, in);
            free_node(&t);
        }
    {
        int64_t xd[] = {3, 3}, id[] = {2, 3}, id2[] = {4, 3};
        teq_tensor *in[2] = {mk_pattern(TEQ_DTYPE_FLOAT, 2, xd), mkt(TEQ_DTYPE_INT64, 2, id)};
        ((int64_t *)in[1]->data)[4] = 3;
        tnode t = mk("GatherElements", 13, 2, 1);
        expect_fail("GatherElements index out of range", &t, 2, in, 1);
        free_node(&t);
        teq_tensor_free(in[1]);
        in[1] = mkt(TEQ_DTYPE_INT64, 2, id2);
        t = mk("GatherElements", 13, 2, 1);
        attr_i(&t, "axis", 1);
        expect_fail("GatherElements indices larger than data", &t, 2, in, 1);
        free_node(&t);
        teq_tensor_free(in[1]);
        in[1] = mkt(TEQ_DTYPE_INT64, 1, id);
        t = mk("GatherElements", 13, 2, 1);
        expect_fail("GatherElements rank mismatch", &t, 2, in, 1);
        free_node(&t);
        free_all(2, in);
    }
}

/* ------------------------------------------------------------------ Expand, Tile */

typedef struct bc_ud {
    int r, xr;
    int64_t xd[8], xst[8];
    bool tile;
} bc_ud;
static int64_t bc_map(const int64_t *o, const void *p) {
    const bc_ud *u = p;
    int64_t off = 0;
    for (int i = 0; i < u->xr; i++) {
        int64_t c = o[i + u->r - u->xr];
        c = u->tile ? c % u->xd[i] : (u->xd[i] == 1 ? 0 : c);
        off += c * u->xst[i];
    }
    return off;
}

static void expand_case(const char *name, teq_dtype dt, int xr, const int64_t *xd, int n, const int64_t *shape,
                        int er, const int64_t *ed, int threads) {
    teq_tensor *in[2] = {mk_pattern(dt, xr, xd), ints64(n, shape)};
    bc_ud u = {.r = er, .xr = xr, .tile = false};
    if (xr) memcpy(u.xd, xd, sizeof(int64_t) * (size_t)xr);
    strides_of(xr, xd, u.xst);
    tnode t = mk("Expand", 13, 2, 1);
    expect(name, &t, 2, in, ref_map(in[0], er, ed, bc_map, &u, 0), threads);
    free_all(2, in);
    free_node(&t);
}

static void tile_case(const char *name, teq_dtype dt, int r, const int64_t *xd, const int64_t *rep, int threads) {
    teq_tensor *in[2] = {mk_pattern(dt, r, xd), ints64(r, rep)};
    bc_ud u = {.r = r, .xr = r, .tile = true};
    memcpy(u.xd, xd, sizeof(int64_t) * (size_t)r);
    strides_of(r, xd, u.xst);
    int64_t od[8];
    for (int i = 0; i < r; i++) od[i] = xd[i] * rep[i];
    tnode t = mk("Tile", 13, 2, 1);
    expect(name, &t, 2, in, ref_map(in[0], r, od, bc_map, &u, 0), threads);
    free_all(2, in);
    free_node(&t);
}

static void test_expand_tile(void) {
    for (int k = 0; k < N_DTYPES; k++) {
        int64_t xd[] = {3, 1}, s1[] = {2, 1, 6}, e1[] = {2, 3, 6};
        expand_case("Expand dim changed", ALL_DTYPES[k], 2, xd, 3, s1, 3, e1, 1);
        int64_t s2[] = {3, 4}, e2[] = {3, 4};
        expand_case("Expand same rank", ALL_DTYPES[k], 2, xd, 2, s2, 2, e2, 1);
        int64_t s3[] = {1}, e3[] = {3, 1};
        expand_case("Expand shape of lower rank", ALL_DTYPES[k], 2, xd, 1, s3, 2, e3, 1);
    }
    int64_t x1[] = {1, 4, 1, 5}, s4[] = {2, 1, 6, 1}, e4[] = {2, 4, 6, 5};
    expand_case("Expand both ways", TEQ_DTYPE_FLOAT, 4, x1, 4, s4, 4, e4, 2);
    int64_t s5[] = {0, 4, 1, 5}, e5[] = {0, 4, 1, 5};
    expand_case("Expand to zero", TEQ_DTYPE_FLOAT, 4, x1, 4, s5, 4, e5, 1);
    int64_t s6[] = {7, 1, 1}, e6[] = {7};
    expand_case("Expand scalar", TEQ_DTYPE_INT64, 0, NULL, 1, s6, 1, e6, 1);
    int64_t x2[] = {1, 96, 1, 1}, s7[] = {2, 96, 80, 80}, e7[] = {2, 96, 80, 80};
    expand_case("Expand big threads", TEQ_DTYPE_FLOAT, 4, x2, 4, s7, 4, e7, 4);
    {
        int64_t xd[] = {3, 2}, bad[] = {4, 2}, neg[] = {-1, 2}, huge[] = {(int64_t)1 << 40, (int64_t)1 << 40, 2};
        teq_tensor *in[2] = {mk_pattern(TEQ_DTYPE_FLOAT, 2, xd), ints64(2, bad)};
        tnode t = mk("Expand", 13, 2, 1);
        expect_fail("Expand incompatible", &t, 2, in, 1);
        free_node(&t);
        teq_tensor_free(in[1]);
        in[1] = ints64(2, neg);
        t = mk("Expand", 13, 2, 1);
        expect_fail("Expand negative dim", &t, 2, in, 1);
        free_node(&t);
        teq_tensor_free(in[1]);
        in[1] = ints64(3, huge);
        t = mk("Expand", 13, 2, 1);
        expect_fail("Expand huge", &t, 2, in, 1);
        free_node(&t);
        free_all(2, in);
    }

    for (int k = 0; k < N_DTYPES; k++) {
        int64_t xd[] = {2, 3, 4}, rep[] = {2, 1, 3};
        tile_case("Tile", ALL_DTYPES[k], 3, xd, rep, 1);
    }
    int64_t td[] = {2, 2}, tr[] = {2, 2};
    tile_case("Tile precomputed-like", TEQ_DTYPE_FLOAT, 2, td, tr, 1);
    int64_t zr[] = {0, 3};
    tile_case("Tile zero repeat", TEQ_DTYPE_FLOAT, 2, td, zr, 1);
    int64_t bd[] = {3, 40, 50}, br[] = {2, 3, 4};
    tile_case("Tile big threads", TEQ_DTYPE_FLOAT, 3, bd, br, 4);
    int64_t d8[] = {1, 2, 1, 2, 1, 2, 1, 2}, r8[] = {2, 1, 2, 1, 2, 1, 2, 2};
    tile_case("Tile rank 8", TEQ_DTYPE_INT8, 8, d8, r8, 1);
    {
        int64_t xd[] = {3, 2}, neg[] = {1, -1}, huge[] = {(int64_t)1 << 40, (int64_t)1 << 40};
        teq_tensor *in[2] = {mk_pattern(TEQ_DTYPE_FLOAT, 2, xd), ints64(2, neg)};
        tnode t = mk("Tile", 13, 2, 1);
        expect_fail("Tile negative repeat", &t, 2, in, 1);
        free_node(&t);
        teq_tensor_free(in[1]);
        in[1] = ints64(1, neg);
        t = mk("Tile", 13, 2, 1);
        expect_fail("Tile repeats length", &t, 2, in, 1);
        free_node(&t);
        teq_tensor_free(in[1]);
        in[1] = ints64(2, huge);
        t = mk("Tile", 13, 2, 1);
        expect_fail("Tile huge", &t, 2, in, 1);
        free_node(&t);
        free_all(2, in);
    }
}

/* ------------------------------------------------------------------ Pad */

typedef struct pad_ud {
    int r, mode;
    int64_t xd[8], xst[8], pb[8];
} pad_ud;
static int64_t pad_map(const int64_t *o, const void *p) {
    const pad_ud *u = p;
    int64_t off = 0;
    for (int d = 0; d < u->r; d++) {
        int64_t i = o[d] - u->pb[d], n = u->xd[d];
        if (i < 0 || i >= n) {
            if (u->mode == 0) return -1;
            if (u->mode == 2) i = i < 0 ? 0 : n - 1;
            else if (u->mode == 3) i = ((i % n) + n) % n;
            else if (n == 1) i = 0;
            else /* reflect by bouncing off the ends */
                while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
        }
        off += i * u->xst[d];
    }
    return off;
}

static const char *const PAD_MODES[] = {"constant", "reflect", "edge", "wrap"};

/* pads: begin[r] then end[r] (or per axes when axes != NULL, opset 18). */
static void pad_case(const char *name, teq_dtype dt, int r, const int64_t *xd, int mode, const int64_t *pads,
                     int opset, double cval, bool give_cval, int na, const int64_t *axes, int threads) {
    teq_tensor *in[4] = {mk_pattern(dt, r, xd), NULL, NULL, NULL};
    int nin = 1;
    tnode t;
    int np = axes ? 2 * na : 2 * r;
    if (opset >= 11) {
        nin = axes ? 4 : give_cval ? 3 : 2;
        t = mk("Pad", opset, nin, 1);
        in[1] = ints64(np, pads);
        if (give_cval) in[2] = scalar(dt, cval);
        if (axes) in[3] = ints64(na, axes);
    } else {
        t = mk("Pad", opset, 1, 1);
        attr_is(&t, "pads", np, pads);
        if (give_cval) attr_f(&t, "value", (float)cval);
    }
    if (mode != 0 || rnd() & 1) attr_s(&t, "mode", PAD_MODES[mode]);
    pad_ud u = {.r = r, .mode = mode};
    memcpy(u.xd, xd, sizeof(int64_t) * (size_t)r);
    strides_of(r, xd, u.xst);
    int64_t od[8];
    for (int d = 0; d < r; d++) od[d] = xd[d];
    for (int i = 0; i < (axes ? na : r); i++) {
        int a = axes ? (int)(axes[i] < 0 ? axes[i] + r : axes[i]) : i;
        int64_t b = pads[i], e = pads[(axes ? na : r) + i];
        u.pb[a] = b;
        od[a] = xd[a] + b + e;
    }
    expect(name, &t, nin, in, ref_map(in[0], r, od, pad_map, &u, give_cval ? cval : 0), threads);
    free_all(4, in);
    free_node(&t);
}

static void test_pad(void) {
    int64_t xd[] = {1, 3, 4, 5};
    int64_t p1[] = {0, 0, 1, 3, 0, 0, 2, 4};
    for (int k = 0; k < N_DTYPES; k++)
        for (int m = 0; m < 4; m++) {
            if (ALL_DTYPES[k] == TEQ_DTYPE_BOOL && m == 0) continue;
            char name[80];
            snprintf(name, sizeof name, "Pad %s %s", PAD_MODES[m], teq_dtype_name(ALL_DTYPES[k]));
            pad_case(name, ALL_DTYPES[k], 4, xd, m, p1, 13, 7, m == 0, 0, NULL, 1);
        }
    pad_case("Pad opset 2 attrs with value", TEQ_DTYPE_FLOAT, 4, xd, 0, p1, 2, 1.5, true, 0, NULL, 1);
    pad_case("Pad opset 2 edge", TEQ_DTYPE_INT32, 4, xd, 2, p1, 2, 0, false, 0, NULL, 1);
    pad_case("Pad opset 11 default value", TEQ_DTYPE_FLOAT, 4, xd, 0, p1, 11, 0, false, 0, NULL, 1);
    int64_t neg[] = {0, -1, 2, -2, 0, 1, -1, 3};
    for (int m = 0; m < 4; m++) {
        char name[80];
        snprintf(name, sizeof name, "Pad negative pads %s", PAD_MODES[m]);
        pad_case(name, TEQ_DTYPE_FLOAT, 4, xd, m, neg, 13, -2, m == 0, 0, NULL, 1);
    }
    int64_t bigp[] = {0, 9, 12, 0, 7, 11};
    for (int m = 1; m < 4; m++) {
        char name[80];
        int64_t d3[] = {2, 3, 4};
        snprintf(name, sizeof name, "Pad pads larger than dims %s", PAD_MODES[m]);
        pad_case(name, TEQ_DTYPE_INT64, 3, d3, m, bigp, 13, 0, false, 0, NULL, 1);
    }
    int64_t ax[] = {-1, 1}, pax[] = {2, 1, 0, 3};
    pad_case("Pad opset 18 axes", TEQ_DTYPE_FLOAT, 4, xd, 0, pax, 18, 3, true, 2, ax, 1);
    pad_case("Pad opset 18 axes reflect", TEQ_DTYPE_UINT8, 4, xd, 1, pax, 18, 0, false, 2, ax, 1);
    int64_t one[] = {1, 1, 1}, p3[] = {2, 0, 3, 1, 2, 0};
    pad_case("Pad reflect size-1 dims", TEQ_DTYPE_FLOAT, 3, one, 1, p3, 13, 0, false, 0, NULL, 1);
    int64_t bd[] = {1, 32, 160, 160}, bp[] = {0, 0, 1, 1, 0, 0, 2, 2};
    pad_case("Pad big threads constant", TEQ_DTYPE_FLOAT, 4, bd, 0, bp, 11, 0, false, 0, NULL, 4);
    pad_case("Pad big threads reflect", TEQ_DTYPE_FLOAT, 4, bd, 1, bp, 11, 0, false, 0, NULL, 4);

    /* Errors. */
    {
        teq_tensor *in[2] = {mk_pattern(TEQ_DTYPE_FLOAT, 4, xd), ints64(8, (int64_t[]){0, 0, 0, -6, 0, 0, 0, 0})};
        tnode t = mk("Pad", 13, 2, 1);
        expect_fail("Pad negative output", &t, 2, in, 1);
        free_node(&t);
        teq_tensor_free(in[1]);
        in[1] = ints64(6, p1);
        t = mk("Pad", 13, 2, 1);
        expect_fail("Pad pads length", &t, 2, in, 1);
        free_node(&t);
        teq_tensor_free(in[1]);
        in[1] = ints64(8, p1);
        t = mk("Pad", 13, 2, 1);
        attr_s(&t, "mode", "mirror");
        expect_fail("Pad bad mode", &t, 2, in, 1);
        free_node(&t);
        teq_tensor_free(in[1]);
        in[1] = ints64(8, (int64_t[]){0, 0, (int64_t)1 << 45, 0, 0, 0, (int64_t)1 << 45, 0});
        t = mk("Pad", 13, 2, 1);
        expect_fail("Pad huge", &t, 2, in, 1);
        free_node(&t);
        free_all(2, in);
        int64_t ed[] = {2, 0};
        teq_tensor *in2[2] = {mkt(TEQ_DTYPE_FLOAT, 2, ed), ints64(4, (int64_t[]){0, 1, 0, 1})};
        t = mk("Pad", 13, 2, 1);
        attr_s(&t, "mode", "reflect");
        expect_fail("Pad reflect of empty axis", &t, 2, in2, 1);
        free_node(&t);
        free_all(2, in2);
        teq_tensor *in3[3] = {mk_pattern(TEQ_DTYPE_FLOAT, 4, xd), ints64(8, p1), scalar(TEQ_DTYPE_INT64, 1)};
        t = mk("Pad", 13, 3, 1);
        expect_fail("Pad constant_value dtype", &t, 3, in3, 1);
        free_node(&t);
        free_all(3, in3);
    }
}

/* ------------------------------------------------------------------ ConstantOfShape, Range, Constant */

static void test_constants(void) {
    {
        int64_t s[] = {2, 3};
        teq_tensor *in[1] = {ints64(2, s)};
        tnode t = mk("ConstantOfShape", 9, 1, 1);
        expect("ConstantOfShape default", &t, 1, in, mkt(TEQ_DTYPE_FLOAT, 2, s), 1);
        free_node(&t);
        for (int k = 0; k < N_DTYPES; k++) {
            t = mk("ConstantOfShape", 9, 1, 1);
            int64_t one = 1;
            teq_tensor *v = mkt(ALL_DTYPES[k], 1, &one);
            set_d(v, 0, 1);
            attr_t(&t, "value", v);
            teq_tensor *ref = mkt(ALL_DTYPES[k], 2, s);
            for (int i = 0; i < 6; i++) set_d(ref, i, 1);
            char name[64];
            snprintf(name, sizeof name, "ConstantOfShape %s", teq_dtype_name(ALL_DTYPES[k]));
            expect(name, &t, 1, in, ref, 1);
            free_node(&t);
        }
        free_all(1, in);
        in[0] = ints64(0, NULL);
        t = mk("ConstantOfShape", 9, 1, 1);
        teq_tensor *v = mkt(TEQ_DTYPE_INT64, 0, NULL);
        *(int64_t *)v->data = -5;
        attr_t(&t, "value", v);
        expect("ConstantOfShape scalar", &t, 1, in, scalar(TEQ_DTYPE_INT64, -5), 1);
        free_node(&t);
        free_all(1, in);
        int64_t z[] = {0, 4};
        in[0] = ints32(2, z);
        t = mk("ConstantOfShape", 9, 1, 1);
        expect("ConstantOfShape zero dim int32 shape", &t, 1, in, mkt(TEQ_DTYPE_FLOAT, 2, z), 1);
        free_node(&t);
        free_all(1, in);
        int64_t neg[] = {2, -1}, huge[] = {(int64_t)1 << 40, (int64_t)1 << 40};
        in[0] = ints64(2, neg);
        t = mk("ConstantOfShape", 9, 1, 1);
        expect_fail("ConstantOfShape negative", &t, 1, in, 1);
        free_node(&t);
        free_all(1, in);
        in[0] = ints64(2, huge);
        t = mk("ConstantOfShape", 9, 1, 1);
        expect_fail("ConstantOfShape huge", &t, 1, in, 1);
        free_node(&t);
        free_all(1, in);
        in[0] = ints64(2, s);
        t = mk("ConstantOfShape", 9, 1, 1);
        int64_t two = 2;
        attr_t(&t, "value", mkt(TEQ_DTYPE_FLOAT, 1, &two));
        expect_fail("ConstantOfShape two-element value", &t, 1, in, 1);
        free_node(&t);
        free_all(1, in);
    }
    /* Range. */
    struct {
        teq_dtype dt;
        double s, l, d;
    } rc[] = {
        {TEQ_DTYPE_INT32, 10, 4, -3}, {TEQ_DTYPE_INT64, 0, 10, 3}, {TEQ_DTYPE_INT64, 5, 5, 1},
        {TEQ_DTYPE_INT64, 5, 1, 2},   {TEQ_DTYPE_FLOAT, 1, 5, 0.5}, {TEQ_DTYPE_FLOAT, 3, 9, 3},
        {TEQ_DTYPE_DOUBLE, 1, -2, -0.7}, {TEQ_DTYPE_FLOAT, -1, 1.05, 0.1},
    };
    for (size_t i = 0; i < sizeof rc / sizeof rc[0]; i++) {
        teq_tensor *in[3] = {scalar(rc[i].dt, rc[i].s), scalar(rc[i].dt, rc[i].l), scalar(rc[i].dt, rc[i].d)};
        double n = ceil((rc[i].l - rc[i].s) / rc[i].d);
        int64_t cnt = n > 0 ? (int64_t)n : 0;
        teq_tensor *ref = mkt(rc[i].dt, 1, &cnt);
        for (int64_t k = 0; k < cnt; k++) set_d(ref, k, rc[i].s + (double)k * rc[i].d);
        tnode t = mk("Range", 11, 3, 1);
        teq_tensor *out[1];
        char why[200] = "";
        teq_status s = run(&t, 3, in, 1, out, 1);
        bool ok = s == TEQ_OK && (rc[i].dt == TEQ_DTYPE_FLOAT || rc[i].dt == TEQ_DTYPE_DOUBLE ? close_to(out[0], ref, why, sizeof why)
                                                                                             : same(out[0], ref, why, sizeof why));
        check(ok, "Range case %zu: %s %s", i, g_err.msg, why);
        free_all(1, out);
        teq_tensor_free(ref);
        free_all(3, in);
        free_node(&t);
    }
    {
        teq_tensor *in[3] = {scalar(TEQ_DTYPE_INT64, 0), scalar(TEQ_DTYPE_INT64, 5), scalar(TEQ_DTYPE_INT64, 0)};
        tnode t = mk("Range", 11, 3, 1);
        expect_fail("Range delta 0", &t, 3, in, 1);
        free_node(&t);
        free_all(3, in);
        teq_tensor *in2[3] = {scalar(TEQ_DTYPE_INT64, 0), scalar(TEQ_DTYPE_INT64, 0), scalar(TEQ_DTYPE_INT64, 1)};
        *(int64_t *)in2[1]->data = INT64_MAX;
        t = mk("Range", 11, 3, 1);
        expect_fail("Range huge", &t, 3, in2, 1);
        free_node(&t);
        free_all(3, in2);
        teq_tensor *in3[3] = {scalar(TEQ_DTYPE_FLOAT, 0), scalar(TEQ_DTYPE_INT64, 5), scalar(TEQ_DTYPE_FLOAT, 1)};
        t = mk("Range", 11, 3, 1);
        expect_fail("Range mixed types", &t, 3, in3, 1);
        free_node(&t);
        free_all(3, in3);
        teq_tensor *in4[3] = {scalar(TEQ_DTYPE_FLOAT, 0), scalar(TEQ_DTYPE_FLOAT, INFINITY), scalar(TEQ_DTYPE_FLOAT, 1)};
        t = mk("Range", 11, 3, 1);
        expect_fail("Range infinite", &t, 3, in4, 1);
        free_node(&t);
        free_all(3, in4);
    }
    /* Constant. */
    {
        int64_t d[] = {2, 3};
        teq_tensor *v = mk_pattern(TEQ_DTYPE_INT32, 2, d), *ref = mkt(TEQ_DTYPE_INT32, 2, d);
        memcpy(ref->data, v->data, 6 * sizeof(int32_t));
        tnode t = mk("Constant", 13, 0, 1);
        attr_t(&t, "value", v);
        expect("Constant value", &t, 0, NULL, ref, 1);
        free_node(&t);
        t = mk("Constant", 13, 0, 1);
        attr_f(&t, "value_float", 2.5f);
        expect("Constant value_float", &t, 0, NULL, scalar(TEQ_DTYPE_FLOAT, 2.5), 1);
        free_node(&t);
        t = mk("Constant", 13, 0, 1);
        int64_t iv[] = {4, -2, 9};
        attr_is(&t, "value_ints", 3, iv);
        expect("Constant value_ints", &t, 0, NULL, ints64(3, iv), 1);
        free_node(&t);
        t = mk("Constant", 13, 0, 1);
        attr_i(&t, "value_int", 7);
        expect("Constant value_int", &t, 0, NULL, scalar(TEQ_DTYPE_INT64, 7), 1);
        free_node(&t);
        t = mk("Constant", 13, 0, 1);
        float fv[] = {1.5f, -3};
        attr_fs(&t, "value_floats", 2, fv);
        expect("Constant value_floats", &t, 0, NULL, floats1(2, fv), 1);
        free_node(&t);
        t = mk("Constant", 13, 0, 1);
        attr_s(&t, "value_string", "x");
        expect_fail("Constant value_string", &t, 0, NULL, 1);
        free_node(&t);
    }
}

/* ------------------------------------------------------------------ DepthToSpace, SpaceToDepth, Trilu, NonZero */

typedef struct d2s_ud {
    int64_t C, H, W, b;
    bool crd, s2d;
} d2s_ud;
static int64_t d2s_map(const int64_t *o, const void *p) {
    const d2s_ud *u = p;
    int64_t n = o[0], c = o[1], h = o[2], w = o[3], b = u->b;
    if (u->s2d) { /* out [N, C*b*b, H/b, W/b]: channel = (i*b + j)*C + c */
        int64_t blk = c / u->C, cc = c % u->C, i = blk / b, j = blk % b;
        return ((n * u->C + cc) * u->H + h * b + i) * u->W + w * b + j;
    }
    int64_t Co = u->C / (b * b), i = h % b, j = w % b;
    int64_t ci = u->crd ? c * b * b + i * b + j : (i * b + j) * Co + c;
    return ((n * u->C + ci) * u->H + h / b) * u->W + w / b;
}

static void test_misc(void) {
    for (int crd = 0; crd < 2; crd++)
        for (int k = 0; k < N_DTYPES; k++) {
            int64_t d[] = {2, 8, 3, 5}, od[] = {2, 2, 6, 10};
            teq_tensor *in[1] = {mk_pattern(ALL_DTYPES[k], 4, d)};
            tnode t = mk("DepthToSpace", 13, 1, 1);
            attr_i(&t, "blocksize", 2);
            if (crd || k & 1) attr_s(&t, "mode", crd ? "CRD" : "DCR");
            d2s_ud u = {.C = 8, .H = 3, .W = 5, .b = 2, .crd = crd != 0};
            char name[80];
            snprintf(name, sizeof name, "DepthToSpace %s %s", crd ? "CRD" : "DCR", teq_dtype_name(ALL_DTYPES[k]));
            expect(name, &t, 1, in, ref_map(in[0], 4, od, d2s_map, &u, 0), 1);
            free_node(&t);
            free_all(1, in);
        }
    for (int k = 0; k < N_DTYPES; k++) {
        int64_t d[] = {2, 3, 6, 9}, od[] = {2, 27, 2, 3};
        teq_tensor *in[1] = {mk_pattern(ALL_DTYPES[k], 4, d)};
        tnode t = mk("SpaceToDepth", 13, 1, 1);
        attr_i(&t, "blocksize", 3);
        d2s_ud u = {.C = 3, .H = 6, .W = 9, .b = 3, .s2d = true};
        char name[80];
        snprintf(name, sizeof name, "SpaceToDepth %s", teq_dtype_name(ALL_DTYPES[k]));
        expect(name, &t, 1, in, ref_map(in[0], 4, od, d2s_map, &u, 0), 1);
        free_node(&t);
        free_all(1, in);
    }
    {
        int64_t d[] = {1, 64, 40, 40}, od[] = {1, 16, 80, 80};
        teq_tensor *in[1] = {mk_pattern(TEQ_DTYPE_FLOAT, 4, d)};
        tnode t = mk("DepthToSpace", 13, 1, 1);
        attr_i(&t, "blocksize", 2);
        d2s_ud u = {.C = 64, .H = 40, .W = 40, .b = 2};
        expect("DepthToSpace big threads", &t, 1, in, ref_map(in[0], 4, od, d2s_map, &u, 0), 4);
        free_node(&t);
        t = mk("DepthToSpace", 13, 1, 1);
        attr_i(&t, "blocksize", 3);
        expect_fail("DepthToSpace blocksize not dividing C", &t, 1, in, 1);
        free_node(&t);
        t = mk("DepthToSpace", 13, 1, 1);
        attr_i(&t, "blocksize", 2);
        attr_s(&t, "mode", "XYZ");
        expect_fail("DepthToSpace bad mode", &t, 1, in, 1);
        free_node(&t);
        t = mk("SpaceToDepth", 13, 1, 1);
        attr_i(&t, "blocksize", 3);
        expect_fail("SpaceToDepth blocksize not dividing H", &t, 1, in, 1);
        free_node(&t);
        t = mk("SpaceToDepth", 13, 1, 1);
        expect_fail("SpaceToDepth missing blocksize", &t, 1, in, 1);
        free_node(&t);
        free_all(1, in);
        int64_t d3[] = {4, 4, 4};
        in[0] = mk_pattern(TEQ_DTYPE_FLOAT, 3, d3);
        t = mk("DepthToSpace", 13, 1, 1);
        attr_i(&t, "blocksize", 2);
        expect_fail("DepthToSpace rank 3", &t, 1, in, 1);
        free_node(&t);
        free_all(1, in);
    }

    /* Trilu. */
    int64_t ks[] = {0, 1, -1, 3, -3, 7, -7, INT64_MAX, INT64_MIN};
    for (int up = 0; up < 2; up++)
        for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
            int64_t d[] = {2, 4, 5};
            teq_tensor *in[2] = {mk_pattern(ki & 1 ? TEQ_DTYPE_INT64 : TEQ_DTYPE_FLOAT, 3, d), NULL};
            int nin = 1;
            if (ks[ki] != 0 || up) {
                in[1] = scalar(TEQ_DTYPE_INT64, 0);
                *(int64_t *)in[1]->data = ks[ki];
                nin = 2;
            }
            tnode t = mk("Trilu", 14, nin, 1);
            if (!up) attr_i(&t, "upper", 0);
            teq_tensor *ref = mkt(in[0]->dtype, 3, d);
            size_t es = teq_dtype_size(in[0]->dtype);
            for (int64_t b = 0; b < 2; b++)
                for (int64_t i = 0; i < 4; i++)
                    for (int64_t j = 0; j < 5; j++) {
                        int64_t off = (b * 4 + i) * 5 + j;
                        /* compare without overflow: j - i is small */
                        bool keep = up ? (ks[ki] <= j - i) : (ks[ki] >= j - i);
                        if (keep) memcpy((char *)ref->data + off * es, (char *)in[0]->data + off * es, es);
                    }
            char name[80];
            snprintf(name, sizeof name, "Trilu upper=%d k=%lld", up, (long long)ks[ki]);
            expect(name, &t, nin, in, ref, 1);
            free_all(2, in);
            free_node(&t);
        }
    {
        int64_t d[] = {5};
        teq_tensor *in[1] = {mk_pattern(TEQ_DTYPE_FLOAT, 1, d)};
        tnode t = mk("Trilu", 14, 1, 1);
        expect_fail("Trilu rank 1", &t, 1, in, 1);
        free_node(&t);
        free_all(1, in);
        int64_t z[] = {0, 5};
        in[0] = mkt(TEQ_DTYPE_INT64, 2, z);
        t = mk("Trilu", 14, 1, 1);
        expect("Trilu empty", &t, 1, in, mkt(TEQ_DTYPE_INT64, 2, z), 1);
        free_node(&t);
        free_all(1, in);
    }

    /* NonZero. */
    for (int k = 0; k < N_DTYPES; k++) {
        int64_t d[] = {3, 4, 2};
        teq_tensor *in[1] = {mkt(ALL_DTYPES[k], 3, d)};
        int nnz = 0;
        int64_t coords[3][24];
        for (int64_t i = 0; i < 24; i++) {
            bool nzv = rnd() % 3 == 0;
            set_d(in[0], i, nzv ? 1 + (double)(rnd() % 5) : 0);
            if (nzv) {
                coords[0][nnz] = i / 8;
                coords[1][nnz] = (i / 2) % 4;
                coords[2][nnz] = i % 2;
                nnz++;
            }
        }
        int64_t od[] = {3, nnz};
        teq_tensor *ref = mkt(TEQ_DTYPE_INT64, 2, od);
        for (int a = 0; a < 3; a++)
            for (int j = 0; j < nnz; j++) ((int64_t *)ref->data)[a * nnz + j] = coords[a][j];
        tnode t = mk("NonZero", 13, 1, 1);
        char name[64];
        snprintf(name, sizeof name, "NonZero %s", teq_dtype_name(ALL_DTYPES[k]));
        expect(name, &t, 1, in, ref, 1);
        free_node(&t);
        free_all(1, in);
    }
}

/* ------------------------------------------------------------------ Resize, Upsample */

enum { M_NEAREST, M_LINEAR, M_CUBIC };
static const char *const CT_NAMES[] = {"half_pixel",           "asymmetric",         "align_corners",
                                       "pytorch_half_pixel",   "tf_half_pixel_for_nn", "tf_crop_and_resize"};
static const char *const NM_NAMES[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple"};

typedef struct rz_ref {
    int mode, ct, nm, excl, r;
    double A, extra;
    const teq_tensor *x;
    int64_t xst[8], od[8];
    double scale[8], out_f[8], roi_s[8], roi_e[8];
} rz_ref;

/* The spec's coordinate transformations, in double. */
static double rz_coord(const rz_ref *u, int a, double xo) {
    double s = u->scale[a], in = (double)u->x->dims[a], outf = u->out_f[a], outl = (double)u->od[a];
    switch (u->ct) {
    case 0: return (xo + 0.5) / s - 0.5;
    case 1: return xo / s;
    case 2: return outf == 1 ? 0 : xo * (in - 1) / (outf - 1);
    case 3: return outf > 1 ? (xo + 0.5) / s - 0.5 : 0;
    case 4: return (xo + 0.5) / s;
    default:
        return outl > 1 ? u->roi_s[a] * (in - 1) + xo * (u->roi_e[a] - u->roi_s[a]) * (in - 1) / (outl - 1)
                        : 0.5 * (u->roi_s[a] + u->roi_e[a]) * (in - 1);
    }
}

/* The same in float, for nearest: where the exact coordinate is a rounding tie (2.5 from 1 / 0.4f),
 * which side float lands on decides the pixel; teq follows ONNX Runtime, which computes in float. */
static double rz_coord_f(const rz_ref *u, int a, double xo_d) {
    float s = (float)u->scale[a], in = (float)u->x->dims[a], outf = (float)u->out_f[a], outl = (float)u->od[a];
    float xo = (float)xo_d, rs = (float)u->roi_s[a], re = (float)u->roi_e[a];
    switch (u->ct) {
    case 0: return (xo + 0.5f) / s - 0.5f;
    case 1: return xo / s;
    case 2: return outf == 1 ? 0 : xo * (in - 1) / (outf - 1);
    case 3: return outf > 1 ? (xo + 0.5f) / s - 0.5f : 0;
    case 4: return (xo + 0.5f) / s;
    default: return outl > 1 ? rs * (in - 1) + (xo * (re - rs) * (in - 1)) / (outl - 1) : 0.5f * (rs + re) * (in - 1);
    }
}

/* Value at output coordinate o, interpolating axis a and, recursively, the axes after it. */
static double rz_value(const rz_ref *u, int a, int64_t base, const int64_t *o) {
    if (a == u->r) return get_d(u->x, base);
    int64_t in = u->x->dims[a];
    /* An axis that is not resized maps to itself (ONNX Runtime's behaviour; the formulas alone would
     * shift it under tf_half_pixel_for_nn with ceil rounding). */
    if (u->scale[a] == 1 && u->od[a] == in && u->ct != 5) return rz_value(u, a + 1, base + o[a] * u->xst[a], o);
    double xf = u->mode == M_NEAREST ? rz_coord_f(u, a, (double)o[a]) : rz_coord(u, a, (double)o[a]);
    if (u->ct == 5 && (xf < 0 || xf > (double)(in - 1))) return u->extra;
#define CLAMP(i) ((i) < 0 ? 0 : (i) >= in ? in - 1 : (i))
    if (u->mode == M_NEAREST) {
        double f = floor(xf), r = xf - f;
        int64_t i;
        switch (u->nm) {
        case 0: i = (int64_t)(r <= 0.5 ? f : f + 1); break;
        case 1: i = (int64_t)(r < 0.5 ? f : f + 1); break;
        case 2: i = (int64_t)f; break;
        case 3: i = (int64_t)ceil(xf); break;
        default: i = u->scale[a] < 1 ? (int64_t)ceil(xf) : (int64_t)f; break;
        }
        return rz_value(u, a + 1, base + CLAMP(i) * u->xst[a], o);
    }
    if (u->mode == M_LINEAR) {
        double xc = xf < 0 ? 0 : xf > (double)(in - 1) ? (double)(in - 1) : xf;
        int64_t i0 = (int64_t)floor(xc), i1 = CLAMP(i0 + 1);
        double w = xc - (double)i0;
        return (1 - w) * rz_value(u, a + 1, base + i0 * u->xst[a], o) + w * rz_value(u, a + 1, base + i1 * u->xst[a], o);
    }
    double f = floor(xf), t = xf - f, A = u->A;
    double c[4] = {((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A, ((A + 2) * t - (A + 3)) * t * t + 1,
                   ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1,
                   ((A * (2 - t) - 5 * A) * (2 - t) + 8 * A) * (2 - t) - 4 * A};
    double sum = 0, acc = 0;
    for (int k = 0; k < 4; k++) {
        int64_t i = (int64_t)f - 1 + k;
        if (u->excl && (i < 0 || i >= in)) c[k] = 0;
        sum += c[k];
    }
    for (int k = 0; k < 4; k++) {
        int64_t i = (int64_t)f - 1 + k;
        if (c[k] != 0) acc += c[k] / (u->excl ? sum : 1) * rz_value(u, a + 1, base + CLAMP(i) * u->xst[a], o);
    }
#undef CLAMP
    return acc;
}

typedef struct rz_case {
    const char *op;
    int opset, mode, ct, nm, excl, r;
    int64_t xd[8];
    bool use_sizes;
    float scales[8];
    int64_t sizes[8];
    float roi[16];
    double A, extra;
    int n_axes;
    int64_t axes[8];
    teq_dtype dt;
    int threads;
} rz_case;

static void resize_run(const char *name, const rz_case *c) {
    int r = c->r;
    teq_tensor *in[4] = {mk_pattern(c->dt, r, c->xd), NULL, NULL, NULL};
    int na = c->n_axes ? c->n_axes : r;
    int axes[8];
    for (int i = 0; i < na; i++) axes[i] = c->n_axes ? (int)(c->axes[i] < 0 ? c->axes[i] + r : c->axes[i]) : i;
    bool upsample = !strcmp(c->op, "Upsample");
    int nin;
    tnode t;
    if (upsample && c->opset < 9) {
        nin = 1;
        t = mk(c->op, c->opset, 1, 1);
        attr_fs(&t, "scales", r, c->scales);
    } else if (upsample || c->opset < 11) {
        nin = 2;
        t = mk(c->op, c->opset, 2, 1);
        in[1] = floats1(r, c->scales);
    } else {
        nin = c->use_sizes ? 4 : 3;
        t = mk(c->op, c->opset, nin, 1);
        if (c->ct == 5) in[1] = floats1(2 * na, c->roi);
        else if (rnd() & 1) in[1] = floats1(0, NULL); /* empty roi, as exporters write */
        if (c->use_sizes) {
            in[3] = ints64(na, c->sizes);
            if (c->opset == 11) in[2] = floats1(0, NULL); /* opset 11: empty scales */
        } else {
            in[2] = floats1(na, c->scales);
        }
        if (c->n_axes) attr_is(&t, "axes", c->n_axes, c->axes);
        attr_s(&t, "coordinate_transformation_mode", CT_NAMES[c->ct]);
        if (c->mode == M_NEAREST) attr_s(&t, "nearest_mode", NM_NAMES[c->nm]);
        if (c->mode == M_CUBIC) {
            attr_f(&t, "cubic_coeff_a", (float)c->A);
            attr_i(&t, "exclude_outside", c->excl);
        }
        if (c->ct == 5) attr_f(&t, "extrapolation_value", (float)c->extra);
    }
    static const char *const MODES[] = {"nearest", "linear", "cubic"};
    if (c->mode != M_NEAREST || rnd() & 1) attr_s(&t, "mode", MODES[c->mode]);

    /* Reference. */
    rz_ref u = {.mode = c->mode, .ct = c->ct, .nm = c->nm, .excl = c->excl, .r = r, .A = c->A, .extra = c->extra, .x = in[0]};
    if (upsample || c->opset < 11) {
        u.ct = 1;
        u.nm = 4;
    }
    strides_of(r, c->xd, u.xst);
    for (int a = 0; a < r; a++) {
        u.scale[a] = 1;
        u.od[a] = c->xd[a];
        u.out_f[a] = (double)c->xd[a];
        u.roi_s[a] = 0;
        u.roi_e[a] = 1;
    }
    for (int i = 0; i < na; i++) {
        int a = axes[i];
        if (c->ct == 5) {
            u.roi_s[a] = c->roi[i];
            u.roi_e[a] = c->roi[na + i];
        }
        if (c->use_sizes) {
            /* The scale is the float out/in, as ONNX Runtime derives it. */
            u.od[a] = c->sizes[i];
            u.scale[a] = (double)((float)c->sizes[i] / (float)c->xd[a]);
            u.out_f[a] = (double)c->sizes[i];
        } else {
            double len = (double)c->xd[a] * (c->ct == 5 ? (u.roi_e[a] - u.roi_s[a]) : 1);
            u.scale[a] = c->scales[i];
            u.od[a] = (int64_t)floor(len * (double)c->scales[i] + 1e-9);
            u.out_f[a] = (double)c->xd[a] * (double)c->scales[i];
        }
    }
    teq_tensor *ref = mkt(c->dt, r, u.od);
    int64_t n = teq_tensor_numel(ref), o[8] = {0};
    for (int64_t i = 0; i < n; i++) {
        double v = rz_value(&u, 0, 0, o);
        if (c->dt == TEQ_DTYPE_FLOAT || c->dt == TEQ_DTYPE_DOUBLE) set_d(ref, i, v);
        else set_d(ref, i, v); /* nearest only: exact values */
        for (int d = r - 1; d >= 0; d--) {
            if (++o[d] < u.od[d]) break;
            o[d] = 0;
        }
    }
    teq_tensor *out[1];
    teq_status s = run(&t, nin, in, 1, out, c->threads);
    char why[256] = "";
    if (s) check(false, "%s: status %d: %s", name, (int)s, g_err.msg);
    else if (c->dt == TEQ_DTYPE_FLOAT || c->dt == TEQ_DTYPE_DOUBLE) check(close_to(out[0], ref, why, sizeof why), "%s: %s", name, why);
    else check(same(out[0], ref, why, sizeof why), "%s: %s", name, why);
    free_all(1, out);
    teq_tensor_free(ref);
    free_all(4, in);
    free_node(&t);
}

static void test_resize(void) {
    char name[200];
    /* Every mode x coordinate transformation x (scales, sizes), 4-D NCHW resizing H and W. */
    float scale_sets[][2] = {{2, 2}, {0.5f, 0.75f}, {1.5f, 3}, {0.6f, 1.25f}};
    int64_t size_sets[][2] = {{8, 10}, {3, 2}, {7, 13}, {1, 5}};
    for (int mode = 0; mode < 3; mode++)
        for (int ct = 0; ct < 6; ct++)
            for (int set = 0; set < 4; set++)
                for (int sz = 0; sz < 2; sz++) {
                    rz_case c = {.op = "Resize", .opset = sz ? 11 + (set & 1) * 2 : 13, .mode = mode, .ct = ct,
                                 .nm = set % 4, .excl = set & 1, .r = 4, .xd = {2, 3, 4, 5}, .use_sizes = sz != 0,
                                 .A = set & 1 ? -0.5 : -0.75, .extra = 10, .dt = TEQ_DTYPE_FLOAT, .threads = 1 + set % 2};
                    c.scales[0] = c.scales[1] = 1;
                    c.scales[2] = scale_sets[set][0];
                    c.scales[3] = scale_sets[set][1];
                    c.sizes[0] = 2;
                    c.sizes[1] = 3;
                    c.sizes[2] = size_sets[set][0];
                    c.sizes[3] = size_sets[set][1];
                    float roi[8] = {0, 0, 0.25f, 0.5f, 1, 1, 0.75f, 1.25f}; /* exact in float: no ties between float and double */
                    memcpy(c.roi, roi, sizeof roi);
                    snprintf(name, sizeof name, "Resize %s %s %s set %d", c.mode == 0 ? "nearest" : c.mode == 1 ? "linear" : "cubic",
                             CT_NAMES[ct], sz ? "sizes" : "scales", set);
                    resize_run(name, &c);
                }
    /* Every nearest_mode on an odd size. */
    for (int nm = 0; nm < 4; nm++)
        for (int ct = 0; ct < 5; ct++) {
            rz_case c = {.op = "Resize", .opset = 13, .mode = M_NEAREST, .ct = ct, .nm = nm, .r = 3, .xd = {2, 5, 7},
                         .use_sizes = true, .sizes = {2, 9, 4}, .dt = TEQ_DTYPE_FLOAT, .threads = 1};
            snprintf(name, sizeof name, "Resize nearest_mode %s %s", NM_NAMES[nm], CT_NAMES[ct]);
            resize_run(name, &c);
        }
    /* Resizing every axis of a 5-D tensor, linear and cubic (many tap combinations), and 1-D / 2-D. */
    {
        rz_case c = {.op = "Resize", .opset = 13, .mode = M_LINEAR, .ct = 0, .r = 5, .xd = {2, 3, 2, 4, 3},
                     .scales = {1.5f, 2, 0.5f, 1.25f, 2}, .dt = TEQ_DTYPE_FLOAT, .threads = 2, .A = -0.75};
        resize_run("Resize linear 5-D all axes", &c);
        c.mode = M_CUBIC;
        resize_run("Resize cubic 5-D all axes", &c);
        c.dt = TEQ_DTYPE_DOUBLE;
        resize_run("Resize cubic 5-D double", &c);
        rz_case d = {.op = "Resize", .opset = 13, .mode = M_CUBIC, .ct = 2, .r = 1, .xd = {6}, .scales = {2.5f},
                     .dt = TEQ_DTYPE_FLOAT, .threads = 1, .A = -0.75};
        resize_run("Resize cubic 1-D", &d);
        rz_case e = {.op = "Resize", .opset = 13, .mode = M_LINEAR, .ct = 3, .r = 2, .xd = {4, 6}, .use_sizes = true,
                     .sizes = {9, 1}, .dt = TEQ_DTYPE_FLOAT, .threads = 1};
        resize_run("Resize linear 2-D to width 1", &e);
    }
    /* Opset 18 axes. */
    {
        rz_case c = {.op = "Resize", .opset = 18, .mode = M_LINEAR, .ct = 0, .r = 4, .xd = {1, 3, 4, 6}, .n_axes = 2,
                     .axes = {-1, 2}, .scales = {0.5f, 2}, .dt = TEQ_DTYPE_FLOAT, .threads = 1};
        resize_run("Resize opset 18 axes scales", &c);
        c.use_sizes = true;
        c.sizes[0] = 5;
        c.sizes[1] = 3;
        resize_run("Resize opset 18 axes sizes", &c);
        c.ct = 5;
        float roi[4] = {0.125f, 0.25f, 0.875f, 0.75f};
        memcpy(c.roi, roi, sizeof roi);
        c.extra = -1;
        resize_run("Resize opset 18 axes crop", &c);
    }
    /* Nearest on every dtype (data movement), including crop extrapolation. */
    for (int k = 0; k < N_DTYPES; k++) {
        rz_case c = {.op = "Resize", .opset = 13, .mode = M_NEAREST, .ct = 5, .nm = 0, .r = 4, .xd = {1, 2, 5, 4},
                     .use_sizes = true, .sizes = {1, 2, 7, 6}, .roi = {0, 0, -0.25f, 0.125f, 1, 1, 0.875f, 1.375f}, .extra = 1,
                     .dt = ALL_DTYPES[k], .threads = 1};
        snprintf(name, sizeof name, "Resize nearest crop %s", teq_dtype_name(ALL_DTYPES[k]));
        resize_run(name, &c);
        c.ct = 1;
        c.nm = 2;
        c.use_sizes = false;
        float sc[4] = {1, 1, 2, 2};
        memcpy(c.scales, sc, sizeof sc);
        snprintf(name, sizeof name, "Resize nearest x2 %s", teq_dtype_name(ALL_DTYPES[k]));
        resize_run(name, &c);
    }
    /* Resize-10, Upsample-7 and -9 (asymmetric, nearest rounds down, linear). */
    {
        rz_case c = {.op = "Resize", .opset = 10, .mode = M_NEAREST, .r = 4, .xd = {1, 2, 3, 4}, .scales = {1, 1, 2, 3},
                     .dt = TEQ_DTYPE_FLOAT, .threads = 1};
        resize_run("Resize-10 nearest", &c);
        c.scales[2] = 0.7f;
        c.scales[3] = 0.5f;
        resize_run("Resize-10 nearest downsample", &c);
        c.mode = M_LINEAR;
        c.scales[2] = 1.5f;
        c.scales[3] = 2.5f;
        resize_run("Resize-10 linear", &c);
        c.op = "Upsample";
        c.opset = 9;
        resize_run("Upsample-9 linear", &c);
        c.opset = 7;
        c.mode = M_NEAREST;
        c.scales[2] = 2;
        c.scales[3] = 3;
        resize_run("Upsample-7 nearest", &c);
        c.dt = TEQ_DTYPE_INT64;
        resize_run("Upsample-7 nearest int64", &c);
    }
    /* det's case: nearest asymmetric floor x2 on feature maps, threads; mlsd's: linear half_pixel via sizes. */
    {
        rz_case c = {.op = "Resize", .opset = 11, .mode = M_NEAREST, .ct = 1, .nm = 2, .r = 4, .xd = {1, 96, 40, 60},
                     .scales = {1, 1, 2, 2}, .dt = TEQ_DTYPE_FLOAT, .threads = 4};
        resize_run("Resize det nearest x2 threads", &c);
        rz_case m = {.op = "Resize", .opset = 11, .mode = M_LINEAR, .ct = 0, .nm = 2, .r = 4, .xd = {1, 64, 40, 40},
                     .use_sizes = true, .sizes = {1, 64, 80, 80}, .dt = TEQ_DTYPE_FLOAT, .threads = 4};
        resize_run("Resize mlsd linear sizes threads", &m);
    }

    /* Errors. */
    {
        int64_t xd[] = {1, 1, 4, 4};
        teq_tensor *in[4] = {mk_pattern(TEQ_DTYPE_FLOAT, 4, xd), NULL, floats1(4, (float[]){1, 1, 2, 2}),
                             ints64(4, (int64_t[]){1, 1, 8, 8})};
        tnode t = mk("Resize", 13, 4, 1);
        expect_fail("Resize scales and sizes", &t, 4, in, 1);
        free_node(&t);
        teq_tensor *in2[4] = {in[0], NULL, NULL, NULL};
        t = mk("Resize", 13, 4, 1);
        expect_fail("Resize neither scales nor sizes", &t, 4, in2, 1);
        free_node(&t);
        teq_tensor *in3[3] = {in[0], NULL, floats1(3, (float[]){1, 2, 2})};
        t = mk("Resize", 13, 3, 1);
        expect_fail("Resize scales length", &t, 3, in3, 1);
        free_node(&t);
        teq_tensor_free(in3[2]);
        in3[2] = floats1(4, (float[]){1, 1, 0, 2});
        t = mk("Resize", 13, 3, 1);
        expect_fail("Resize zero scale", &t, 3, in3, 1);
        free_node(&t);
        teq_tensor_free(in3[2]);
        in3[2] = floats1(4, (float[]){1, 1, 1e30f, 1e30f});
        t = mk("Resize", 13, 3, 1);
        expect_fail("Resize huge scale", &t, 3, in3, 1);
        free_node(&t);
        teq_tensor_free(in3[2]);
        in3[2] = floats1(4, (float[]){1, 1, 2, 2});
        t = mk("Resize", 13, 3, 1);
        attr_s(&t, "mode", "area");
        expect_fail("Resize bad mode", &t, 3, in3, 1);
        free_node(&t);
        t = mk("Resize", 13, 3, 1);
        attr_s(&t, "coordinate_transformation_mode", "diagonal");
        expect_fail("Resize bad coordinate mode", &t, 3, in3, 1);
        free_node(&t);
        t = mk("Resize", 13, 3, 1);
        attr_s(&t, "nearest_mode", "up");
        expect_fail("Resize bad nearest mode", &t, 3, in3, 1);
        free_node(&t);
        teq_tensor *in4[4] = {in[0], NULL, NULL, ints64(4, (int64_t[]){1, 1, -8, 8})};
        t = mk("Resize", 13, 4, 1);
        expect_fail("Resize negative size", &t, 4, in4, 1);
        free_node(&t);
        teq_tensor_free(in4[3]);
        teq_tensor *in5[3] = {mk_pattern(TEQ_DTYPE_INT64, 4, xd), NULL, in3[2]};
        t = mk("Resize", 13, 3, 1);
        attr_s(&t, "mode", "linear");
        expect_fail("Resize linear on int64", &t, 3, in5, 1);
        free_node(&t);
        teq_tensor_free(in5[0]);
        teq_tensor *in6[3] = {in[0], floats1(3, (float[]){0, 0, 1}), in3[2]};
        t = mk("Resize", 13, 3, 1);
        attr_s(&t, "coordinate_transformation_mode", "tf_crop_and_resize");
        expect_fail("Resize roi length", &t, 3, in6, 1);
        free_node(&t);
        teq_tensor_free(in6[1]);
        t = mk("Upsample", 7, 1, 1);
        expect_fail("Upsample-7 without scales", &t, 1, in, 1);
        free_node(&t);
        teq_tensor_free(in3[2]);
        free_all(4, in);
    }
}

/* ------------------------------------------------------------------ timing (informational) */

static double now_s(void) { return omp_get_wtime(); }

/* Mean time of n runs of the node into a warm output buffer (the first run is not timed). */
static double time_node(tnode *t, int nin, teq_tensor *const *in, int threads, int n) {
    teq_exec_ctx *ctx = teq_ctx_new(threads, &g_err);
    teq_tensor out = {0}, *o[1] = {&out};
    double best = -1;
    if (ctx && teq_ctx_run_node(ctx, nd(t), (const teq_tensor *const *)in, o) == TEQ_OK) {
        double t0 = now_s();
        for (int i = 0; i < n; i++) teq_ctx_run_node(ctx, nd(t), (const teq_tensor *const *)in, o);
        best = (now_s() - t0) / n;
    }
    teq_tensor_release(&out);
    teq_ctx_free(ctx);
    return best;
}

/* Prints the time of det-sized nearest x2 upsampling and a NHWC->NCHW transpose; never fails. */
static void timing(void) {
    int64_t xd[] = {1, 96, 160, 160};
    teq_tensor *in[3] = {mk_pattern(TEQ_DTYPE_FLOAT, 4, xd), NULL, floats1(4, (float[]){1, 1, 2, 2})};
    tnode t = mk("Resize", 11, 3, 1);
    attr_s(&t, "mode", "nearest");
    attr_s(&t, "coordinate_transformation_mode", "asymmetric");
    attr_s(&t, "nearest_mode", "floor");
    for (int th = 1; th <= 2; th++)
        printf("timing: Resize nearest x2 [1,96,160,160] threads %d: %.2f ms\n", th, 1e3 * time_node(&t, 3, in, th, 10));
    free_node(&t);
    int64_t perm[] = {0, 3, 1, 2};
    t = mk("Transpose", 13, 1, 1);
    attr_is(&t, "perm", 4, perm);
    for (int th = 1; th <= 2; th++)
        printf("timing: Transpose [1,96,160,160] perm 0,3,1,2 threads %d: %.2f ms\n", th, 1e3 * time_node(&t, 1, in, th, 10));
    free_node(&t);
    free_all(3, in);
}

int main(int argc, char **argv) {
    test_transpose();
    test_reshape();
    test_shape_size();
    test_concat_split();
    test_slice();
    test_gather();
    test_expand_tile();
    test_pad();
    test_constants();
    test_misc();
    test_resize();
    if (argc > 1 && !strcmp(argv[1], "--timing")) timing();
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail != 0;
}
