/* Fused elementwise chains: TeqElementwise (domain "teq") and the planning pass that makes them.
 *
 * Why: in PP-OCRv4 each HardSwish is exported as Add(x, 3) -> Clip(0, 6) -> Div(6) -> Mul(x, .), four
 * passes over memory for one activation; perf put these four operators at half of rec's FP32 time. The
 * pass below replaces such a chain by one node that reads x once, runs the steps on blocks that stay in
 * L1, and writes the result once.
 *
 * Exactness: every step computes the same float expression as the operator it replaces
 * (src/ops/elementwise.c), in the same order, on the same values, so the fused result is bit for bit the
 * unfused one. A chain only contains float32 steps (each has a float32 constant operand, or is Relu/Clip
 * fed by one), and every tensor operand is the chain's root x or a scalar constant, so every
 * intermediate has x's shape and nothing broadcasts.
 *
 * Node form (written to .teq files like any node): input x; attribute "steps" INTS, three per step
 * (opcode, operand, order) and "consts" FLOATS, two per step. operand: 0 none, 1 the step's constant
 * consts[2i], 2 the root x. order 0: acc OP operand, 1: operand OP acc. Clip reads lo = consts[2i],
 * hi = consts[2i+1]. */
#include "ops.h"
#include "../kernels/kernels.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { F_ADD = TEQ_EOP_ADD, F_SUB = TEQ_EOP_SUB, F_MUL = TEQ_EOP_MUL, F_DIV = TEQ_EOP_DIV, F_CLIP = TEQ_EOP_CLIP,
       F_RELU = TEQ_EOP_RELU, F_NOPS };
enum { OPND_NONE = TEQ_EOPND_NONE, OPND_CONST = TEQ_EOPND_CONST, OPND_ROOT = TEQ_EOPND_ROOT };
#define MAX_STEPS TEQ_ECHAIN_MAX
#define BLOCK 1024

typedef teq_estep step;

static int read_steps(const teq_node *node, step *st) {
    int64_t ni = 0, nf = 0;
    const int64_t *iv = teq_node_attr_ints(node, "steps", &ni);
    const float *fv = teq_node_attr_floats(node, "consts", &nf);
    if (!iv || !fv || ni % 3 || ni == 0 || ni / 3 > MAX_STEPS || nf != 2 * (ni / 3)) return -1;
    const int n = (int)(ni / 3);
    for (int i = 0; i < n; i++) {
        st[i].op = (int)iv[3 * i], st[i].opnd = (int)iv[3 * i + 1], st[i].order = (int)iv[3 * i + 2];
        st[i].c = st[i].lo = fv[2 * i], st[i].hi = fv[2 * i + 1];
        if (st[i].op < 1 || st[i].op >= F_NOPS || st[i].opnd < 0 || st[i].opnd > 2 || st[i].order < 0 || st[i].order > 1)
            return -1;
    }
    return n;
}

/* HardSwish as PP-OCR exports it, then optionally the learnable affine of PPLCNetV3 (its "lab" scale and
 * bias), as the planning pass writes them: [acc + 3] [Clip 0, 6] [x * acc] [acc / 6] ([c * acc] [acc + c]),
 * and that affine alone.
 * run_steps takes the steps one loop each, a pass over the block per step; these loops take them all per
 * value, in registers: the same IEEE operations in the same order per value, so the same bits (the file
 * is built with -ffp-contract=off). The steps' constants are read from the link, only their kinds are
 * fixed here. Measured in DECISIONS ("Speed, eighth round"). */
static bool is_step(const step *p, int op, int opnd, int order) {
    return p->op == op && p->opnd == opnd && (op == F_CLIP || op == F_RELU || p->order == order);
}
static int one_pass_form(const step *st, int ns) {
    if (ns == 2) return is_step(&st[0], F_MUL, OPND_CONST, 1) && is_step(&st[1], F_ADD, OPND_CONST, 0) ? 2 : 0;
    if (ns != 4 && ns != 6) return 0;
    if (!is_step(&st[0], F_ADD, OPND_CONST, 0) || !is_step(&st[1], F_CLIP, OPND_NONE, 0) ||
        !is_step(&st[2], F_MUL, OPND_ROOT, 1) || !is_step(&st[3], F_DIV, OPND_CONST, 0))
        return 0;
    if (ns == 4) return 4;
    return is_step(&st[4], F_MUL, OPND_CONST, 1) && is_step(&st[5], F_ADD, OPND_CONST, 0) ? 6 : 0;
}
TEQ_CLONES static void run_one_pass(const step *st, int ns, const float *x, const float *in, float *out, int64_t n) {
    if (ns == 2) { /* the affine alone: [c * acc] [acc + c] */
        const float a = st[0].c, b = st[1].c;
#pragma omp simd
        for (int64_t i = 0; i < n; i++) out[i] = a * in[i] + b;
        return;
    }
    const float c0 = st[0].c, lo = st[1].lo, hi = st[1].hi, c3 = st[3].c;
    if (ns == 4) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const float r = x[i], t0 = in[i] + c0, t1 = (t0 < lo ? lo : t0) > hi ? hi : (t0 < lo ? lo : t0);
            out[i] = (r * t1) / c3;
        }
        return;
    }
    const float c4 = st[4].c, c5 = st[5].c;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const float r = x[i], t0 = in[i] + c0, t1 = (t0 < lo ? lo : t0) > hi ? hi : (t0 < lo ? lo : t0);
        out[i] = c4 * ((r * t1) / c3) + c5;
    }
}

/* One block: x[] the root, in[] the first step's input, a[] the accumulator between steps, out[] the last
 * step's output (so no copy of the block in or out; any of them may be the same array: every loop reads
 * element i before it writes element i, and vectorized a whole vector before it writes it). The
 * expressions are elementwise.c's; each loop is one IEEE operation per element (nothing to contract into an
 * FMA), so the vector clones give the same bits as the scalar code. GCC -O2 does not vectorize these loops
 * by itself: `omp simd` asks for it. */
TEQ_CLONES static void run_steps(const step *st, int ns, const float *x, const float *in, float *a, float *out,
                                 int64_t n) {
    for (int s = 0; s < ns; s++) {
        const step *p = &st[s];
        const float c = p->c;
        const float *sr = s ? a : in;
        float *d = s == ns - 1 ? out : a;
        switch (p->op) {
        case F_CLIP: {
            const float lo = p->lo, hi = p->hi;
#pragma omp simd
            for (int64_t i = 0; i < n; i++) {
                const float v = sr[i];
                d[i] = (v < lo ? lo : v) > hi ? hi : (v < lo ? lo : v);
            }
            break;
        }
        case F_RELU:
#pragma omp simd
            for (int64_t i = 0; i < n; i++) d[i] = sr[i] > 0 ? sr[i] : 0;
            break;
#define BIN(OPC, EXPR)                                                                                           \
    case OPC:                                                                                                    \
        if (p->opnd == OPND_ROOT) {                                                                              \
            if (p->order == 0)                                                                                   \
                _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                            \
                    const float l = sr[i], r = x[i];                                                              \
                    d[i] = EXPR;                                                                                 \
                }                                                                                                \
            else                                                                                                 \
                _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                            \
                    const float l = x[i], r = sr[i];                                                              \
                    d[i] = EXPR;                                                                                 \
                }                                                                                                \
        } else if (p->order == 0) {                                                                              \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                                \
                const float l = sr[i], r = c;                                                                     \
                d[i] = EXPR;                                                                                     \
            }                                                                                                    \
        } else {                                                                                                 \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                                \
                const float l = c, r = sr[i];                                                                     \
                d[i] = EXPR;                                                                                     \
            }                                                                                                    \
        }                                                                                                        \
        break;
            BIN(F_ADD, l + r)
            BIN(F_SUB, l - r)
            BIN(F_MUL, l * r)
            BIN(F_DIV, l / r)
#undef BIN
        default: break;
        }
    }
}

/* A link on a block: the recognised forms in one pass, the rest step by step. */
static void run_block(const step *st, int ns, const float *x, const float *in, float *a, float *out, int64_t n) {
    if (one_pass_form(st, ns)) run_one_pass(st, ns, x, in, out, n);
    else run_steps(st, ns, x, in, a, out, n);
}

int teq_echain_link_form(const teq_estep *st, int ns) { return one_pass_form(st, ns); }

void teq_echain_link_run(const teq_estep *st, int ns, const float *x, float *y, int64_t n, bool stepwise) {
    for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
        const int64_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
        float acc[BLOCK];
        if (stepwise) run_steps(st, ns, x + i0, x + i0, acc, y + i0, m);
        else run_block(st, ns, x + i0, x + i0, acc, y + i0, m);
    }
}

const char teq_concat_zpad_mark = 0;
const char teq_add_link_mark[2] = {0, 0};
int teq_add_link_slot(const teq_node *node) {
    return node->kern == &teq_add_link_mark[0] ? 0 : node->kern == &teq_add_link_mark[1] ? 1 : -1;
}
void teq_add_fuse_free(void *p) { free(p); }
bool teq_is_add_fuse(const teq_node *node) { return node->kern && node->kern_free == teq_add_fuse_free; }
const teq_add_fuse *teq_add_fuse_of(const teq_node *node) {
    return teq_is_add_fuse(node) && teq_kmode_get() == TEQ_KMODE_FAST ? node->kern : NULL;
}
bool teq_add_relu(const teq_node *node) {
    const teq_add_fuse *f = teq_add_fuse_of(node);
    return f && f->relu;
}
bool teq_concat_zpad(const teq_node *node) {
    return node->kern == &teq_concat_zpad_mark && teq_kmode_get() == TEQ_KMODE_FAST;
}

bool teq_passes_input(const teq_node *node, const teq_tensor *x) {
    return node->pass_fast && teq_kmode_get() == TEQ_KMODE_FAST &&
           (x->dtype == TEQ_DTYPE_FLOAT || x->dtype == TEQ_DTYPE_UINT8);
}

static teq_status op_teq_elementwise(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                                     teq_tensor *const *out) {
    step st[MAX_STEPS];
    const int ns = read_steps(node, st);
    if (ns < 0) return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "malformed steps/consts attributes");
    const teq_tensor *x = in[0];
    if (!x) return teq_op_fail(ctx, node, TEQ_ERR_ARG, "missing input");
    /* the convolution in front applied these steps to x already */
    if (teq_passes_input(node, x)) return teq_ctx_pass_input(ctx, 0, x, out[0]);
    if (x->dtype != TEQ_DTYPE_FLOAT) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "input must be float32");
    teq_status s = teq_ctx_alloc(ctx, out[0], TEQ_DTYPE_FLOAT, x->ndim, x->dims);
    if (s) return s;
    const int64_t n = teq_tensor_numel(x), nb = (n + BLOCK - 1) / BLOCK;
    const float *X = x->data;
    float *Y = out[0]->data;
    int nt = teq_ctx_threads(ctx);
    if (nt > nb) nt = (int)(nb > 0 ? nb : 1);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && n >= (1 << 16))
    for (int64_t b = 0; b < nb; b++) {
        const int64_t i0 = b * BLOCK, m = n - i0 < BLOCK ? n - i0 : BLOCK;
        float acc[BLOCK];
        run_block(st, ns, X + i0, X + i0, acc, Y + i0, m);
    }
    return TEQ_OK;
}

static bool as_step(const teq_graph *g, const teq_node *n, int acc, int x, step *st, bool *has_float);

/* An inference BatchNormalization over `channels` channels (opset 9+ or spatial = 1; no training outputs)
 * whose scale, B, mean and var are float constants of that many values: its coefficients, or NULL. */
static float *bn_link(const teq_graph *g, const teq_node *n, int64_t channels) {
    if (strcmp(n->op_type, "BatchNormalization") || (n->domain && n->domain[0]) || n->n_in != 5 || channels < 1)
        return NULL;
    for (int k = 1; k < n->n_out; k++)
        if (n->out[k] >= 0) return NULL;
    if (n->opset >= 14 && teq_node_attr_int(n, "training_mode", 0) != 0) return NULL;
    if (n->opset < 9 && teq_node_attr_int(n, "spatial", 1) == 0) return NULL;
    const float *p[4];
    for (int k = 1; k < 5; k++) {
        const teq_tensor *t = n->in[k] >= 0 ? g->values[n->in[k]].constant : NULL;
        if (!t || !t->data || t->dtype != TEQ_DTYPE_FLOAT || t->ndim != 1 || t->dims[0] != channels) return NULL;
        p[k - 1] = t->data;
    }
    float *ab = malloc(sizeof(float) * 2 * (size_t)channels);
    if (!ab) return NULL; /* without memory: unfused, still right */
    const float eps = teq_node_attr_float(n, "epsilon", 1e-5f);
    for (int64_t ch = 0; ch < channels; ch++) teq_bn_affine(p[0][ch], p[1][ch], p[2][ch], p[3][ch], eps, &ab[ch], &ab[channels + ch]);
    return ab;
}

/* A lone Add of a float constant that is one value per channel (or one value) of a rank-`rank` output whose
 * channels are axis 1, its other operand not a constant (the chain's value): its values, or NULL. As a
 * per-channel link (a = 1, sh = b) it computes fl(fl(y * 1) + b) = fl(y + b), the Add's own result, -0 + 0 = +0
 * included. */
static float *add_link(const teq_graph *g, const teq_node *n, int64_t channels, int rank) {
    if (strcmp(n->op_type, "Add") || (n->domain && n->domain[0]) || n->n_in != 2 || n->n_out != 1 || channels < 1 ||
        n->in[0] < 0 || n->in[1] < 0)
        return NULL;
    const int k = g->values[n->in[0]].constant ? 0 : 1; /* the constant's slot */
    const teq_tensor *t = g->values[n->in[k]].constant;
    if (g->values[n->in[1 - k]].constant) return NULL;
    if (!t || !t->data || t->dtype != TEQ_DTYPE_FLOAT || t->ndim > rank || rank < 3) return NULL;
    /* every dimension 1 but the one right-aligned onto axis 1, which is 1 or `channels` */
    int64_t per = 1;
    for (int d = 0; d < t->ndim; d++) {
        const int axis = rank - t->ndim + d;
        if (t->dims[d] == 1) continue;
        if (axis != 1 || t->dims[d] != channels) return NULL;
        per = channels;
    }
    float *ab = malloc(sizeof(float) * 2 * (size_t)channels);
    if (!ab) return NULL; /* without memory: unfused, still right */
    const float *b = t->data;
    for (int64_t ch = 0; ch < channels; ch++) ab[ch] = 1.0f, ab[channels + ch] = b[per == 1 ? 0 : ch];
    return ab;
}

bool teq_echain_add(const teq_graph *g, const teq_node *node, teq_echain *c, int64_t channels, int rank) {
    if (c->nlinks >= TEQ_ECHAIN_LINKS || node->n_out < 1 || node->out[0] < 0) return false;
    if (!strcmp(node->op_type, "TeqElementwise") && node->domain && !strcmp(node->domain, "teq")) {
        if (node->n_in != 1 || node->n_out != 1) return false;
        const int ns = read_steps(node, c->st[c->nlinks]);
        if (ns <= 0) return false;
        for (int i = 0; i < ns; i++)
            if (c->st[c->nlinks][i].opnd == OPND_ROOT) c->root_links |= 1u << c->nlinks;
        c->chan[c->nlinks] = NULL;
        c->ns[c->nlinks++] = ns;
        return true;
    }
    if (node->n_in < 1 || node->in[0] < 0) return false;
    /* a bias the export left as its own Add (det's ConvTranspose, then BatchNormalization and Relu): its
     * input is the chain's value, the link's first or second operand */
    if (!strcmp(node->op_type, "Add")) {
        if (c->C && c->C != channels) return false;
        float *ab = add_link(g, node, channels, rank);
        if (!ab) return false;
        c->C = channels;
        c->chan[c->nlinks] = ab;
        c->ns[c->nlinks++] = 0;
        return true;
    }
    /* BatchNormalization that the export left after a convolution: one multiply and one add per value
     * with its channel's coefficients */
    if (!strcmp(node->op_type, "BatchNormalization")) {
        if (c->C && c->C != channels) return false;
        float *ab = bn_link(g, node, channels);
        if (!ab) return false;
        c->C = channels;
        c->chan[c->nlinks] = ab;
        c->ns[c->nlinks++] = 0;
        return true;
    }
    /* A lone Relu or Clip (constant bounds) is a one-step link: the planning pass leaves it alone (it
     * fuses runs of two or more steps, where a pass over memory is saved between them), but after a
     * convolution it costs a pass of its own. Its input is the chain's float32 accumulator. */
    if (node->n_out != 1 || (strcmp(node->op_type, "Relu") && strcmp(node->op_type, "Clip"))) return false;
    bool hf;
    if (!as_step(g, node, node->in[0], node->in[0], &c->st[c->nlinks][0], &hf)) return false;
    c->chan[c->nlinks] = NULL;
    c->ns[c->nlinks++] = 1;
    return true;
}

void teq_echain_free(teq_echain *c) {
    if (!c) return;
    for (int l = 0; l < c->nlinks; l++) free(c->chan[l]);
    free(c);
}

/* y[i] = fl(fl(y[i] * a) + sh): op_batchnorm's expression, two roundings (this file is built with
 * -ffp-contract=off, so the x86-64-v3 clone does not fuse them into an FMA as op_batchnorm never does). */
TEQ_CLONES static void chan_affine(float *y, int64_t n, float a, float sh) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = y[i] * a + sh;
}

/* link l (per-channel) over y[0 .. m), which starts at offset i0 of a buffer of planes of `plane` values,
 * the first of channel ch0 */
static void chan_link(const teq_echain *c, int l, float *y, int64_t m, int64_t i0, int64_t plane, int64_t ch0) {
    const float *a = c->chan[l], *sh = a + c->C;
    for (int64_t j = i0; j < i0 + m;) {
        const int64_t p = j / plane, end = (p + 1) * plane < i0 + m ? (p + 1) * plane : i0 + m;
        const int64_t ch = (ch0 + p) % c->C;
        chan_affine(y + (j - i0), end - j, a[ch], sh[ch]);
        j = end;
    }
}

void teq_echain_apply(const teq_echain *c, float *y, int64_t n, int64_t plane, int64_t ch0) {
    if (plane < 1) plane = n > 0 ? n : 1;
    for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
        const int64_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
        float acc[BLOCK];
        for (int l = 0; l < c->nlinks; l++) {
            if (c->chan[l]) {
                chan_link(c, l, y + i0, m, i0, plane, ch0);
                continue;
            }
            if (!(c->root_links >> l & 1)) { /* no step reads x: in place, x never read (NULL) */
                run_block(c->st[l], c->ns[l], NULL, y + i0, y + i0, y + i0, m);
                continue;
            }
            /* y is the link's root x: the steps in between go to acc, the last one back into y */
            run_block(c->st[l], c->ns[l], y + i0, y + i0, acc, y + i0, m);
        }
    }
}

const teq_op teq_ops_fused[] = {
    {"TeqElementwise", op_teq_elementwise, 1},
    {NULL, NULL, 0},
};

/* ---------------------------------------------------------------- the planning pass */

/* A scalar float32 constant (numel 1, rank <= 1, so it never widens x's shape). */
static bool scalar_const(const teq_graph *g, int v, float *c) {
    if (v < 0 || !g->values[v].constant) return false;
    const teq_tensor *t = g->values[v].constant;
    if (t->dtype != TEQ_DTYPE_FLOAT || t->ndim > 1 || teq_tensor_numel(t) != 1) return false;
    *c = *(const float *)t->data;
    return true;
}

/* Whether node n applies one step to acc (a value), with root x; fills the step. has_float: the step
 * itself proves float32 (a float32 constant operand). */
static bool as_step(const teq_graph *g, const teq_node *n, int acc, int x, step *st, bool *has_float) {
    *has_float = false;
    if (n->domain && n->domain[0]) return false;
    if (n->n_out != 1 || n->out[0] < 0) return false;
    memset(st, 0, sizeof *st);
    const char *t = n->op_type;
    int op = !strcmp(t, "Add") ? F_ADD : !strcmp(t, "Sub") ? F_SUB : !strcmp(t, "Mul") ? F_MUL
           : !strcmp(t, "Div") ? F_DIV : !strcmp(t, "Clip") ? F_CLIP : !strcmp(t, "Relu") ? F_RELU : 0;
    if (!op) return false;
    st->op = op;
    if (op == F_RELU) return n->n_in == 1 && n->in[0] == acc;
    if (op == F_CLIP) {
        if (n->n_in < 1 || n->in[0] != acc) return false;
        st->lo = -INFINITY, st->hi = INFINITY;
        if (n->opset < 11) {
            st->lo = teq_node_attr_float(n, "min", -3.402823466e+38f);
            st->hi = teq_node_attr_float(n, "max", 3.402823466e+38f);
            return n->n_in == 1;
        }
        for (int k = 1; k < n->n_in && k <= 2; k++) {
            if (n->in[k] < 0) continue;
            float c;
            if (!scalar_const(g, n->in[k], &c)) return false;
            if (k == 1) st->lo = c;
            else st->hi = c;
            *has_float = true;
        }
        return n->n_in <= 3;
    }
    if (n->n_in != 2 || n->opset < 7) return false; /* before opset 7: the old broadcast attribute */
    const int a = n->in[0], b = n->in[1];
    int other;
    if (a == acc && b != acc) other = b, st->order = 0;
    else if (b == acc && a != acc) other = a, st->order = 1;
    else if (a == acc && b == acc) return false;
    else return false;
    float c;
    if (other == x) {
        st->opnd = OPND_ROOT;
        return true;
    }
    if (!scalar_const(g, other, &c)) return false;
    st->opnd = OPND_CONST, st->c = c;
    *has_float = true;
    return true;
}

static teq_status rewrite(teq_node *last, int x, const step *st, int ns) {
    teq_attr *at = calloc(2, sizeof *at);
    int64_t *iv = malloc(sizeof(int64_t) * (size_t)(3 * ns));
    float *fv = malloc(sizeof(float) * (size_t)(2 * ns));
    char *name1 = teq_strdup("steps"), *name2 = teq_strdup("consts"), *opt = teq_strdup("TeqElementwise"),
         *dom = teq_strdup("teq");
    int *in = malloc(sizeof(int));
    if (!at || !iv || !fv || !name1 || !name2 || !opt || !dom || !in) {
        free(at), free(iv), free(fv), free(name1), free(name2), free(opt), free(dom), free(in);
        return TEQ_ERR_NOMEM;
    }
    for (int i = 0; i < ns; i++) {
        iv[3 * i] = st[i].op, iv[3 * i + 1] = st[i].opnd, iv[3 * i + 2] = st[i].order;
        fv[2 * i] = st[i].op == F_CLIP ? st[i].lo : st[i].c;
        fv[2 * i + 1] = st[i].op == F_CLIP ? st[i].hi : 0.0f;
    }
    at[0].name = name1, at[0].type = TEQ_ATTR_INTS, at[0].n = 3 * ns, at[0].ints = iv;
    at[1].name = name2, at[1].type = TEQ_ATTR_FLOATS, at[1].n = 2 * ns, at[1].floats = fv;
    for (int a = 0; a < last->n_attr; a++) teq_attr_free(&last->attr[a]);
    free(last->attr);
    free(last->op_type), free(last->domain), free(last->in);
    last->attr = at, last->n_attr = 2;
    last->op_type = opt, last->domain = dom;
    in[0] = x;
    last->in = in, last->n_in = 1;
    last->op = teq_op_find("TeqElementwise");
    return TEQ_OK;
}

teq_status teq_ops_fuse_elementwise(teq_graph *g, const char *keep) {
    const char *env = getenv("TEQ_FUSE"); /* TEQ_FUSE=0: leave the graph as in the file (tests compare both) */
    if (env && !strcmp(env, "0")) return TEQ_OK;
    const int nn = g->n_nodes, nv = g->n_values;
    int *uses = calloc((size_t)nv + 1, sizeof(int)), *consumer = malloc(sizeof(int) * ((size_t)nv + 1));
    char *used = calloc((size_t)nn + 1, 1);
    if (!uses || !consumer || !used) {
        free(uses), free(consumer), free(used);
        return TEQ_ERR_NOMEM;
    }
    for (int j = 0; j < g->n_outputs; j++) uses[g->outputs[j]] += 2; /* a graph output is never fused away */
    for (int i = 0; i < nn; i++) {
        if (!keep[i]) continue;
        const teq_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0) uses[n->in[k]]++, consumer[n->in[k]] = i;
    }
    teq_status s = TEQ_OK;
    for (int i = 0; i < nn && !s; i++) {
        if (!keep[i] || used[i]) continue;
        const teq_node *n0 = &g->nodes[i];
        /* the root: the first non-constant input */
        int x = -1;
        for (int k = 0; k < n0->n_in; k++)
            if (n0->in[k] >= 0 && !g->values[n0->in[k]].constant) {
                x = n0->in[k];
                break;
            }
        if (x < 0) continue;
        step st[MAX_STEPS];
        int chain[MAX_STEPS], ns = 0;
        bool any_float = false, hf;
        int acc = x, cur = i;
        while (ns < MAX_STEPS && as_step(g, &g->nodes[cur], acc, x, &st[ns], &hf)) {
            any_float |= hf;
            chain[ns++] = cur;
            acc = g->nodes[cur].out[0];
            if (uses[acc] != 1) break;
            cur = consumer[acc];
            if (!keep[cur] || used[cur]) break;
        }
        if (ns < 2 || !any_float) continue;
        for (int k = 0; k < ns; k++) used[chain[k]] = 1;
        s = rewrite(&g->nodes[chain[ns - 1]], x, st, ns);
    }
    free(uses), free(consumer), free(used);
    return s;
}

void teq_echain_rows(const teq_echain *c, float *Y, int64_t ldy, int64_t M, int64_t nb, const void *q, uint8_t *codes,
                     int64_t ldc) {
    if (c && !codes && !c->root_links && nb >= 32) {
        /* no step reads the root (Relu, Clip, a constant operand, BatchNormalization), so the chain runs in
         * place on each row (channel m): gathering rows of 32+ floats into runs saved less than its two
         * copies cost */
        for (int64_t m = 0; m < M; m++) teq_echain_apply(c, Y + m * ldy, nb, nb, m);
        return;
    }
    float t[1024];
    uint8_t ct[1024];
    const int64_t rows = 1024 / nb;
    /* rows that follow each other (a full tile of the kernel's own buffer, ldy = nb) are one run already: the
     * chain and the quantizer work on them where they lie. The copies of rows are loops, not memcpy: rows of
     * 48 floats or bytes, where the call cost more than the copy (libc's memcpy was 4% of rec's INT8 run) */
    const bool runs = ldy == nb;
    for (int64_t m0 = 0; m0 < M; m0 += rows) {
        const int64_t r = M - m0 < rows ? M - m0 : rows;
        float *tv = runs ? Y + m0 * ldy : t;
        if (!runs)
            for (int64_t i = 0; i < r; i++)
                for (int64_t j = 0; j < nb; j++) t[i * nb + j] = Y[(m0 + i) * ldy + j];
        if (c) teq_echain_apply(c, tv, r * nb, nb, m0);
        if (codes) {
            teq_kq_codes(q, tv, r * nb, ct, 1);
            for (int64_t i = 0; i < r; i++)
                for (int64_t j = 0; j < nb; j++) codes[(m0 + i) * ldc + j] = ct[i * nb + j];
        } else if (!runs) {
            for (int64_t i = 0; i < r; i++)
                for (int64_t j = 0; j < nb; j++) Y[(m0 + i) * ldy + j] = t[i * nb + j];
        }
    }
}
