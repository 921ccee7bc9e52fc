/* The .teq file format: writer and validating reader. The byte layout is specified in
 * docs/FORMAT.md; the constants and record sizes below are that document's tables.
 *
 * Writer: every section except DATA is built in memory (they are small), DATA is streamed tensor by
 * tensor from the graph, and the CRC-32 is computed on the way and written into the header last.
 * Reader: the whole file is in memory; a validation pass reads every header, table and record and
 * checks it against the file before a build pass allocates anything proportional to a count. */
#include "teq_format.h"
#include "../core/fileio.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "teq_format.c copies tensor data as stored (little-endian): it needs a little-endian host"
#endif
_Static_assert(TEQ_MAX_DIMS == 8, "the .teq value and tensor records hold exactly 8 dims");

#define FMT_MAJOR 1
#define FMT_MINOR 0
/* Version 1.1: header flag bit 0, "shifted activation codes": TeqQuantize nodes may carry a qparams of 10
 * values (the 10th the shift c) and Conv nodes a `pad_value` attribute (docs/FORMAT.md). The writer sets
 * it, and writes 1.1, only when the graph uses either; a graph without them is written as 1.0, byte for
 * byte as before, so 1.0 readers still read it. A 1.0 reader refuses a flagged file (unknown flags),
 * where it would otherwise run the shifted codes without their shift. */
#define FMT_MINOR_SHIFT 1
#define FMT_FLAG_SHIFT 1u
/* Version 1.2: header flag bit 1, "float32 linear codes": code kind 3 (quant.h's lin_f32, ONNX
 * QuantizeLinear's arithmetic) in tensor records and TeqQuantize qparams. Set, with minor 2, exactly when
 * the graph has such a code; a 1.0 or 1.1 reader refuses the flag, where it would otherwise decode the
 * codes by the double rule and differ in last bits without a word. */
#define FMT_MINOR_F32 2
#define FMT_FLAG_F32 2u
#define HEADER_BYTES 32
#define SECTION_ENTRY_BYTES 24
#define SECTION_ALIGN 64
#define GRAPH_FIXED_BYTES 32
#define OPCOUNT_REC 16
#define STRING_ENTRY 8
#define VALUE_REC 112
#define NODE_REC 40
#define ATTR_REC 24
#define POOL_ELEM 8
#define IO_ELEM 4
#define TENSOR_REC 152
#define NONE_REF 0xFFFFFFFFu
#define TENSOR_RAW 0u
#define TENSOR_QUANT 1u
/* Reader limits (documented in FORMAT.md): the bytes of strings copied out of the table, counting
 * every reference (a table entry referenced many times is copied each time), and the file size. */
#define MAX_STRING_COPY_BYTES ((uint64_t)256 << 20)
#define MAX_FILE_BYTES ((size_t)64 << 30)

static const uint8_t teq_magic[8] = {'T', 'E', 'Q', 0, '\r', '\n', 0x1A, '\n'};

enum {
    SEC_GRAPH = 1,
    SEC_STRINGS = 2,
    SEC_VALUES = 3,
    SEC_NODES = 4,
    SEC_NODE_IO = 5,
    SEC_ATTRS = 6,
    SEC_ATTR_POOL = 7,
    SEC_TENSORS = 8,
    SEC_META_JSON = 9,
    SEC_DATA = 10,
    SEC_LAST = SEC_DATA,
};

static const char *sec_name(uint32_t t) {
    static const char *const names[] = {"?",         "graph",     "strings", "values",    "nodes",    "node_io",
                                        "attrs",     "attr_pool", "tensors", "meta_json", "data"};
    return t <= SEC_LAST ? names[t] : "unknown";
}

bool teq_format_sniff(const uint8_t *head, size_t n) {
    /* Four bytes ("TEQ\0") are enough to route a file here; a shorter-than-magic file that starts
     * like one is then refused by the reader as truncated, which is the more useful message. */
    if (!head || n < 4) return false;
    return memcmp(head, teq_magic, n < 8 ? n : 8) == 0;
}

/* ---------------------------------------------------------------- little-endian helpers */

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (unsigned)p[1] << 8); }
static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }
static int32_t get_i32(const uint8_t *p) {
    uint32_t u = get_u32(p);
    int32_t v;
    memcpy(&v, &u, 4);
    return v;
}
static int64_t get_i64(const uint8_t *p) {
    uint64_t u = get_u64(p);
    int64_t v;
    memcpy(&v, &u, 8);
    return v;
}
static double get_f64(const uint8_t *p) {
    uint64_t u = get_u64(p);
    double v;
    memcpy(&v, &u, 8);
    return v;
}
static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t align_up(uint64_t x) { return (x + SECTION_ALIGN - 1) & ~(uint64_t)(SECTION_ALIGN - 1); }

/* ================================================================= writer */

/* Growable byte buffer; an allocation failure sets oom and later appends do nothing. Every byte
 * appended is written explicitly (zeros for padding), so no uninitialised memory reaches a file. */
typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} wbuf;

static uint8_t *wb_grow(wbuf *b, size_t add) {
    if (b->oom) return NULL;
    if (add > SIZE_MAX / 2 - b->n) {
        b->oom = true;
        return NULL;
    }
    if (b->n + add > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + add) nc *= 2;
        uint8_t *q = realloc(b->p, nc);
        if (!q) {
            b->oom = true;
            return NULL;
        }
        b->p = q;
        b->cap = nc;
    }
    uint8_t *at = b->p + b->n;
    b->n += add;
    return at;
}
static void wb_put(wbuf *b, const void *src, size_t n) {
    uint8_t *p = wb_grow(b, n);
    if (p && n) memcpy(p, src, n);
}
static void wb_zero(wbuf *b, size_t n) {
    uint8_t *p = wb_grow(b, n);
    if (p && n) memset(p, 0, n);
}
static void wb_u32(wbuf *b, uint32_t v) {
    uint8_t *p = wb_grow(b, 4);
    if (p) put_u32(p, v);
}
static void wb_i32(wbuf *b, int32_t v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    wb_u32(b, u);
}
static void wb_u64(wbuf *b, uint64_t v) {
    uint8_t *p = wb_grow(b, 8);
    if (p) put_u64(p, v);
}
static void wb_i64(wbuf *b, int64_t v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    wb_u64(b, u);
}
static void wb_f64(wbuf *b, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    wb_u64(b, u);
}

/* String table under construction: each distinct string once, numbered in order of first use, so
 * the numbering (and the file) depends only on the graph. */
typedef struct strtab {
    const char **s;
    uint32_t *len;
    uint32_t n, cap;
    uint32_t *slots; /* open addressing: index + 1, 0 = empty */
    size_t n_slots;
    bool oom, too_long;
} strtab;

static uint64_t str_hash(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static bool st_rehash(strtab *t) {
    size_t ns = t->n_slots ? t->n_slots * 2 : 256;
    uint32_t *sl = calloc(ns, sizeof *sl);
    if (!sl) return false;
    for (uint32_t i = 0; i < t->n; i++) {
        size_t h = (size_t)str_hash(t->s[i]) & (ns - 1);
        while (sl[h]) h = (h + 1) & (ns - 1);
        sl[h] = i + 1;
    }
    free(t->slots);
    t->slots = sl;
    t->n_slots = ns;
    return true;
}

/* Index of s in the table (added when new); NONE_REF for NULL or on failure (oom / too_long set). */
static uint32_t st_intern(strtab *t, const char *s) {
    if (!s || t->oom || t->too_long) return NONE_REF;
    if ((size_t)(t->n + 1) * 2 > t->n_slots && !st_rehash(t)) {
        t->oom = true;
        return NONE_REF;
    }
    size_t h = (size_t)str_hash(s) & (t->n_slots - 1);
    while (t->slots[h]) {
        uint32_t i = t->slots[h] - 1;
        if (strcmp(t->s[i], s) == 0) return i;
        h = (h + 1) & (t->n_slots - 1);
    }
    size_t l = strlen(s);
    if (l >= UINT32_MAX / 2 || t->n >= UINT32_MAX / 2) {
        t->too_long = true;
        return NONE_REF;
    }
    if (t->n == t->cap) {
        uint32_t nc = t->cap ? t->cap * 2 : 64;
        const char **ns = realloc(t->s, sizeof *ns * nc);
        if (ns) t->s = ns;
        uint32_t *nl = ns ? realloc(t->len, sizeof *nl * nc) : NULL;
        if (nl) t->len = nl;
        if (!ns || !nl) {
            t->oom = true;
            return NONE_REF;
        }
        t->cap = nc;
    }
    t->s[t->n] = s;
    t->len[t->n] = (uint32_t)l;
    t->slots[h] = t->n + 1;
    return t->n++;
}

static void st_free(strtab *t) {
    free(t->s);
    free(t->len);
    free(t->slots);
}

/* A tensor to store in DATA: a plain constant, or a quantized one (stored as its packed codes). */
typedef struct wtensor {
    const teq_tensor *t;
    const teq_qweight *q;
    uint64_t off, size; /* in DATA */
} wtensor;

static bool attr_type_known(int t) {
    return t == TEQ_ATTR_FLOAT || t == TEQ_ATTR_INT || t == TEQ_ATTR_STRING || t == TEQ_ATTR_TENSOR ||
           t == TEQ_ATTR_FLOATS || t == TEQ_ATTR_INTS || t == TEQ_ATTR_STRINGS;
}

/* Stored bytes of a plain tensor, checking dtype and shape; false when it cannot be stored. */
static bool raw_tensor_bytes(const teq_tensor *t, uint64_t *bytes) {
    int64_t numel;
    size_t es = teq_dtype_size(t->dtype), b;
    if (es == 0 || !teq_dims_numel(t->ndim, t->dims, &numel) || !teq_mul_size((size_t)numel, es, &b)) return false;
    if (b && !t->data) return false;
    *bytes = b;
    return true;
}

/* Check that g can be written (the IR's invariants the format relies on); TEQ_ERR_ARG otherwise. */
static teq_status check_for_write(const teq_graph *g, const char *path, teq_error *err) {
#define BAD(...) teq_error_set(err, TEQ_ERR_ARG, __VA_ARGS__)
    if (g->n_values < 0 || g->n_nodes < 0 || g->n_inputs < 0 || g->n_outputs < 0 || g->n_op_counts < 0 ||
        g->opset < 0)
        return BAD("%s: cannot write: the graph has negative counts or opset", path);
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] < 0 || g->inputs[i] >= g->n_values)
            return BAD("%s: cannot write: graph input %d is value id %d, out of range", path, i, g->inputs[i]);
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] < 0 || g->outputs[i] >= g->n_values)
            return BAD("%s: cannot write: graph output %d is value id %d, out of range", path, i, g->outputs[i]);
    for (int i = 0; i < g->n_op_counts; i++)
        if (!g->op_counts[i].op_type || g->op_counts[i].count < 0)
            return BAD("%s: cannot write: operator count %d is invalid", path, i);
    for (int i = 0; i < g->n_values; i++) {
        const teq_value *v = &g->values[i];
        if (!v->name) return BAD("%s: cannot write: value %d has no name", path, i);
        if (v->ndim < -1 || v->ndim > TEQ_MAX_DIMS)
            return BAD("%s: cannot write: value '%s' has rank %d", path, v->name, v->ndim);
        if (v->dtype != TEQ_DTYPE_UNDEFINED && teq_dtype_size(v->dtype) == 0)
            return BAD("%s: cannot write: value '%s' declares data type %d", path, v->name, (int)v->dtype);
        for (int d = 0; d < v->ndim; d++)
            if (v->dims[d] < -1) return BAD("%s: cannot write: value '%s' declares dim %lld", path, v->name, (long long)v->dims[d]);
        uint64_t bytes;
        if (v->constant && !raw_tensor_bytes(v->constant, &bytes))
            return BAD("%s: cannot write: the constant of value '%s' has an unsupported type or shape", path, v->name);
        if (v->qweight) {
            char why[200];
            int64_t numel;
            if (!v->constant || v->constant->dtype != TEQ_DTYPE_FLOAT)
                return BAD("%s: cannot write: value '%s' is quantized but has no float32 constant", path, v->name);
            if (v->qweight->q.kind != TEQ_CODE_EXP && v->qweight->q.kind != TEQ_CODE_LINEAR)
                return BAD("%s: cannot write: value '%s' has a qweight of code kind %d", path, v->name, (int)v->qweight->q.kind);
            if (teq_qparams_check(&v->qweight->q, why, sizeof why) != TEQ_OK)
                return BAD("%s: cannot write: value '%s' has invalid code parameters: %s", path, v->name, why);
            teq_dims_numel(v->constant->ndim, v->constant->dims, &numel);
            if (v->qweight->packed_bytes != teq_packed_bytes(numel, v->qweight->q.bits) ||
                (v->qweight->packed_bytes && !v->qweight->packed))
                return BAD("%s: cannot write: value '%s' holds %zu packed bytes, %zu expected", path, v->name,
                           v->qweight->packed_bytes, teq_packed_bytes(numel, v->qweight->q.bits));
            if (v->qweight->per_channel) {
                const teq_qweight *q = v->qweight;
                bool ok = q->ch_axis >= 0 && q->ch_axis < v->constant->ndim && q->n_ch == v->constant->dims[q->ch_axis] &&
                          (q->n_ch == 0 || q->ch_scale);
                for (int64_t c = 0; ok && c < q->n_ch; c++) ok = isfinite(q->ch_scale[c]) && q->ch_scale[c] > 0;
                if (!ok) return BAD("%s: cannot write: value '%s' has invalid per-channel scales", path, v->name);
            }
        }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const teq_node *n = &g->nodes[i];
        if (!n->name || !n->op_type || !n->domain || n->opset < 0 || n->n_in < 0 || n->n_out < 0 || n->n_attr < 0)
            return BAD("%s: cannot write: node %d is incomplete", path, i);
        for (int k = 0; k < n->n_in + n->n_out; k++) {
            int v = k < n->n_in ? n->in[k] : n->out[k - n->n_in];
            if (v < -1 || v >= g->n_values)
                return BAD("%s: cannot write: node '%s' refers to value id %d, out of range", path, n->name, v);
        }
        for (int a = 0; a < n->n_attr; a++) {
            const teq_attr *at = &n->attr[a];
            bool arr = at->type == TEQ_ATTR_FLOATS || at->type == TEQ_ATTR_INTS || at->type == TEQ_ATTR_STRINGS;
            const void *ap = at->type == TEQ_ATTR_FLOATS ? (const void *)at->floats
                             : at->type == TEQ_ATTR_INTS ? (const void *)at->ints
                                                         : (const void *)at->strings;
            uint64_t bytes;
            if (!at->name || !attr_type_known(at->type) || (arr && (at->n < 0 || (at->n > 0 && !ap))) ||
                (at->type == TEQ_ATTR_TENSOR && (!at->t || !raw_tensor_bytes(at->t, &bytes))))
                return BAD("%s: cannot write: attribute %d of node '%s' is invalid", path, a, n->name);
        }
    }
    return TEQ_OK;
#undef BAD
}

/* Layout of the file being written. */
typedef struct writer {
    const teq_graph *g;
    strtab st;
    wbuf sec[SEC_LAST + 1]; /* contents of every section but DATA */
    wtensor *tens;
    uint32_t n_tens;
    uint64_t data_size;
} writer;

static void add_tensor(writer *w, const teq_tensor *t, const teq_qweight *q) {
    wtensor *x = &w->tens[w->n_tens++];
    x->t = t;
    x->q = q;
    uint64_t bytes = 0;
    if (q)
        bytes = (q->per_channel ? 4 * (uint64_t)q->n_ch : 0) + q->packed_bytes;
    else
        raw_tensor_bytes(t, &bytes);
    x->off = align_up(w->data_size);
    x->size = bytes;
    w->data_size = x->off + bytes;
}

static void put_tensor_record(wbuf *b, const wtensor *x) {
    const teq_tensor *t = x->t;
    wb_u32(b, x->q ? TENSOR_QUANT : TENSOR_RAW);
    wb_i32(b, (int32_t)t->dtype);
    wb_i32(b, t->ndim);
    wb_u32(b, 0);
    for (int d = 0; d < TEQ_MAX_DIMS; d++) wb_i64(b, d < t->ndim ? t->dims[d] : 0);
    wb_u64(b, x->off);
    wb_u64(b, x->size);
    if (x->q) {
        const teq_qparams *q = &x->q->q;
        wb_i32(b, (int32_t)teq_q_stored_kind(q));
        wb_i32(b, q->bits);
        wb_i32(b, q->is_signed);
        wb_i32(b, q->zero_code);
        wb_f64(b, q->base);
        wb_f64(b, q->alpha);
        wb_f64(b, q->beta);
        wb_f64(b, q->scale);
        wb_i32(b, q->zero_point);
        wb_u32(b, x->q->per_channel ? (uint32_t)x->q->ch_axis + 1 : 0);
    } else {
        wb_zero(b, 56);
    }
}

/* Build every section but DATA in memory, in the traversal order that fixes the string numbering:
 * operator counts, values, nodes, attributes. */
static void build_sections(writer *w) {
    const teq_graph *g = w->g;
    wbuf *b;

    /* GRAPH */
    b = &w->sec[SEC_GRAPH];
    wb_i64(b, g->opset);
    wb_u32(b, (uint32_t)g->n_values);
    wb_u32(b, (uint32_t)g->n_nodes);
    wb_u32(b, (uint32_t)g->n_inputs);
    wb_u32(b, (uint32_t)g->n_outputs);
    wb_u32(b, (uint32_t)g->n_op_counts);
    wb_u32(b, 0);
    for (int i = 0; i < g->n_inputs; i++) wb_i32(b, g->inputs[i]);
    for (int i = 0; i < g->n_outputs; i++) wb_i32(b, g->outputs[i]);
    if ((g->n_inputs + g->n_outputs) % 2) wb_u32(b, 0);
    for (int i = 0; i < g->n_op_counts; i++) {
        wb_u32(b, st_intern(&w->st, g->op_counts[i].op_type));
        wb_u32(b, 0);
        wb_i64(b, g->op_counts[i].count);
    }

    /* VALUES (constants take tensor numbers 0.. in value order) */
    b = &w->sec[SEC_VALUES];
    for (int i = 0; i < g->n_values; i++) {
        const teq_value *v = &g->values[i];
        wb_u32(b, st_intern(&w->st, v->name));
        wb_i32(b, (int32_t)v->dtype);
        wb_i32(b, v->ndim);
        if (v->constant) {
            wb_u32(b, w->n_tens);
            add_tensor(w, v->constant, v->qweight);
        } else {
            wb_u32(b, NONE_REF);
        }
        for (int d = 0; d < TEQ_MAX_DIMS; d++) wb_i64(b, d < v->ndim ? v->dims[d] : 0);
        for (int d = 0; d < TEQ_MAX_DIMS; d++) wb_u32(b, d < v->ndim ? st_intern(&w->st, v->dim_names[d]) : NONE_REF);
    }

    /* NODES, NODE_IO, ATTRS, ATTR_POOL (attribute tensors follow the value constants) */
    uint32_t io = 0, na = 0;
    uint64_t pool = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const teq_node *n = &g->nodes[i];
        b = &w->sec[SEC_NODES];
        wb_u32(b, st_intern(&w->st, n->name));
        wb_u32(b, st_intern(&w->st, n->op_type));
        wb_u32(b, st_intern(&w->st, n->domain));
        wb_i32(b, n->opset);
        wb_u32(b, io);
        wb_u32(b, (uint32_t)n->n_in);
        wb_u32(b, (uint32_t)n->n_out);
        wb_u32(b, na);
        wb_u32(b, (uint32_t)n->n_attr);
        wb_u32(b, 0);
        io += (uint32_t)(n->n_in + n->n_out);
        na += (uint32_t)n->n_attr;
        for (int k = 0; k < n->n_in; k++) wb_i32(&w->sec[SEC_NODE_IO], n->in[k]);
        for (int k = 0; k < n->n_out; k++) wb_i32(&w->sec[SEC_NODE_IO], n->out[k]);
        for (int a = 0; a < n->n_attr; a++) {
            const teq_attr *at = &n->attr[a];
            b = &w->sec[SEC_ATTRS];
            wbuf *p = &w->sec[SEC_ATTR_POOL];
            wb_u32(b, st_intern(&w->st, at->name));
            wb_u32(b, (uint32_t)at->type);
            uint32_t fb;
            switch (at->type) {
            case TEQ_ATTR_FLOAT:
                memcpy(&fb, &at->f, 4);
                wb_u64(b, fb);
                wb_u64(b, 0);
                break;
            case TEQ_ATTR_INT:
                wb_i64(b, at->i);
                wb_u64(b, 0);
                break;
            case TEQ_ATTR_STRING:
                wb_u64(b, st_intern(&w->st, at->s));
                wb_u64(b, 0);
                break;
            case TEQ_ATTR_TENSOR:
                wb_u64(b, w->n_tens);
                wb_u64(b, 0);
                add_tensor(w, at->t, NULL);
                break;
            default: /* FLOATS, INTS, STRINGS: a run of the pool */
                wb_u64(b, pool);
                wb_u64(b, (uint64_t)at->n);
                pool += (uint64_t)at->n;
                for (int64_t k = 0; k < at->n; k++) {
                    if (at->type == TEQ_ATTR_INTS) {
                        wb_i64(p, at->ints[k]);
                    } else if (at->type == TEQ_ATTR_FLOATS) {
                        memcpy(&fb, &at->floats[k], 4);
                        wb_u64(p, fb);
                    } else {
                        wb_u64(p, st_intern(&w->st, at->strings[k]));
                    }
                }
                break;
            }
        }
    }

    /* TENSORS */
    for (uint32_t i = 0; i < w->n_tens; i++) put_tensor_record(&w->sec[SEC_TENSORS], &w->tens[i]);

    /* META_JSON: raw text, only when the graph has one */
    if (g->meta_json) wb_put(&w->sec[SEC_META_JSON], g->meta_json, strlen(g->meta_json));

    /* STRINGS, last: all strings are known now */
    b = &w->sec[SEC_STRINGS];
    wb_u32(b, w->st.n);
    wb_u32(b, 0);
    uint64_t at = STRING_ENTRY + (uint64_t)STRING_ENTRY * w->st.n;
    for (uint32_t i = 0; i < w->st.n; i++) {
        wb_u32(b, (uint32_t)at); /* checked against 4 GiB by the caller through the section size */
        wb_u32(b, w->st.len[i]);
        at += (uint64_t)w->st.len[i] + 1;
    }
    for (uint32_t i = 0; i < w->st.n; i++) wb_put(b, w->st.s[i], (size_t)w->st.len[i] + 1);
}

static uint32_t crc_update(uint32_t crc, const void *p, size_t n) {
    /* zlib treats a NULL buffer as a request for the initial value (0), which would reset the
     * running CRC: an empty section has no buffer, so skip empty pieces. */
    return n ? (uint32_t)crc32_z(crc, (const Bytef *)p, n) : crc;
}

static bool is_teq_quantize_node(const teq_node *n) {
    return n->op_type && !strcmp(n->op_type, "TeqQuantize") && n->domain && !strcmp(n->domain, "teq");
}

/* Does the graph use what flag bit 0 announces (a qparams of 10 values, a pad_value attribute)? */
static bool graph_uses_shift(const teq_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        const teq_node *n = &g->nodes[i];
        for (int a = 0; a < n->n_attr; a++) {
            const teq_attr *at = &n->attr[a];
            if (!at->name) continue;
            if (!strcmp(at->name, "pad_value")) return true;
            if (is_teq_quantize_node(n) && !strcmp(at->name, "qparams") && at->type == TEQ_ATTR_TENSOR && at->t &&
                teq_tensor_numel(at->t) == 10)
                return true;
        }
    }
    return false;
}

/* The first TeqQuantize whose qparams says stored kind 3 (a float32 linear code), or -1. */
static int first_f32_quantize(const teq_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        const teq_node *n = &g->nodes[i];
        if (!is_teq_quantize_node(n)) continue;
        const teq_attr *at = teq_node_attr(n, "qparams");
        if (at && at->type == TEQ_ATTR_TENSOR && at->t && at->t->dtype == TEQ_DTYPE_DOUBLE && teq_tensor_numel(at->t) >= 1 &&
            ((const double *)at->t->data)[0] == TEQ_CODE_STORED_LINEAR_F32)
            return i;
    }
    return -1;
}

/* Any float32 linear code (stored kind 3) in a quantized constant or a TeqQuantize's qparams. */
static bool graph_uses_f32(const teq_graph *g) {
    for (int i = 0; i < g->n_values; i++) {
        const teq_qweight *q = g->values[i].qweight;
        if (q && teq_q_stored_kind(&q->q) == TEQ_CODE_STORED_LINEAR_F32) return true;
    }
    return first_f32_quantize(g) >= 0;
}

teq_status teq_format_write(const char *path, const teq_graph *g, teq_error *err) {
    teq_error_clear(err);
    if (!path || !g) return teq_error_set(err, TEQ_ERR_ARG, "teq_format_write: no path or graph");
    teq_status s = check_for_write(g, path, err);
    if (s) return s;

    writer w;
    memset(&w, 0, sizeof w);
    w.g = g;
    uint64_t max_tens = (uint64_t)g->n_values;
    for (int i = 0; i < g->n_nodes; i++) max_tens += (uint64_t)g->nodes[i].n_attr;
    w.tens = malloc(sizeof *w.tens * (size_t)(max_tens ? max_tens : 1));
    uint8_t *hdr = NULL;
    teq_file_out fo;
    bool fo_open = false;
    if (!w.tens) {
        s = teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    build_sections(&w);
    bool oom = w.st.oom;
    for (int i = 1; i <= SEC_LAST; i++) oom |= w.sec[i].oom;
    if (oom) {
        s = teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    /* String offsets and record counts are 32-bit: refuse what they cannot express. */
    if (w.st.too_long || w.sec[SEC_STRINGS].n > UINT32_MAX || w.sec[SEC_NODE_IO].n / IO_ELEM > UINT32_MAX ||
        w.sec[SEC_ATTRS].n / ATTR_REC > UINT32_MAX || w.n_tens >= NONE_REF) {
        s = teq_error_set(err, TEQ_ERR_ARG, "%s: cannot write: the graph's strings or records exceed the format's 32-bit limits", path);
        goto done;
    }

    /* Layout: header, section table, then the sections in type order, each 64-byte aligned. */
    int types[SEC_LAST];
    int nsec = 0;
    for (int t = 1; t <= SEC_LAST; t++)
        if (t != SEC_META_JSON || g->meta_json) types[nsec++] = t;
    uint64_t off[SEC_LAST], size[SEC_LAST];
    size_t hdr_len = HEADER_BYTES + (size_t)SECTION_ENTRY_BYTES * (size_t)nsec;
    uint64_t pos = hdr_len;
    for (int i = 0; i < nsec; i++) {
        off[i] = align_up(pos);
        size[i] = types[i] == SEC_DATA ? w.data_size : w.sec[types[i]].n;
        pos = off[i] + size[i];
    }
    uint64_t file_size = pos;
    hdr = calloc(1, hdr_len);
    if (!hdr) {
        s = teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    memcpy(hdr, teq_magic, 8);
    /* bytes 8..11: the checksum, filled in at the end */
    const bool shifted = graph_uses_shift(g), f32 = graph_uses_f32(g);
    put_u16(hdr + 12, FMT_MAJOR);
    put_u16(hdr + 14, f32 ? FMT_MINOR_F32 : shifted ? FMT_MINOR_SHIFT : FMT_MINOR);
    put_u32(hdr + 16, (shifted ? FMT_FLAG_SHIFT : 0) | (f32 ? FMT_FLAG_F32 : 0));
    put_u32(hdr + 20, (uint32_t)nsec);
    put_u64(hdr + 24, file_size);
    for (int i = 0; i < nsec; i++) {
        uint8_t *e = hdr + HEADER_BYTES + (size_t)SECTION_ENTRY_BYTES * (size_t)i;
        put_u32(e, (uint32_t)types[i]);
        put_u32(e + 4, 0);
        put_u64(e + 8, off[i]);
        put_u64(e + 16, size[i]);
    }

    static const uint8_t zeros[SECTION_ALIGN];
    if ((s = teq_file_out_open(&fo, path, err))) goto done;
    fo_open = true;
    uint32_t crc = crc_update(0, hdr + 12, hdr_len - 12);
    if ((s = teq_file_out_write(&fo, hdr, hdr_len, err))) goto done;
    pos = hdr_len;
#define EMIT(ptr, n)                                                                                                   \
    do {                                                                                                               \
        crc = crc_update(crc, (ptr), (n));                                                                             \
        if ((s = teq_file_out_write(&fo, (ptr), (n), err))) goto done;                                                 \
        pos += (n);                                                                                                    \
    } while (0)
    for (int i = 0; i < nsec; i++) {
        size_t pad = (size_t)(off[i] - pos);
        EMIT(zeros, pad);
        if (types[i] != SEC_DATA) {
            EMIT(w.sec[types[i]].p, w.sec[types[i]].n);
            continue;
        }
        uint64_t dpos = 0;
        for (uint32_t k = 0; k < w.n_tens; k++) {
            const wtensor *x = &w.tens[k];
            size_t dpad = (size_t)(x->off - dpos);
            EMIT(zeros, dpad);
            if (x->q && x->q->per_channel) {
                /* per-channel scales (float32 LE) first, then the packed codes */
                EMIT(x->q->ch_scale, (size_t)x->q->n_ch * 4);
                EMIT(x->q->packed, x->q->packed_bytes);
            } else {
                const void *src = x->q ? (const void *)x->q->packed : x->t->data;
                EMIT(src, (size_t)x->size);
            }
            dpos = x->off + x->size;
        }
    }
#undef EMIT
    if (pos != file_size) {
        s = teq_error_set(err, TEQ_ERR_INTERNAL, "%s: wrote %llu bytes, laid out %llu", path,
                          (unsigned long long)pos, (unsigned long long)file_size);
        goto done;
    }
    uint8_t cb[4];
    put_u32(cb, crc);
    if (fseek(fo.f, 8, SEEK_SET) != 0) {
        s = teq_error_set(err, TEQ_ERR_IO, "%s: cannot seek in the temporary file", path);
        goto done;
    }
    if ((s = teq_file_out_write(&fo, cb, 4, err))) goto done;
    fo_open = false;
    s = teq_file_out_commit(&fo, err);

done:
    if (fo_open) teq_file_out_abort(&fo);
    free(hdr);
    for (int i = 0; i <= SEC_LAST; i++) free(w.sec[i].p);
    st_free(&w.st);
    free(w.tens);
    return s;
}

/* ================================================================= reader */

typedef struct sec_info {
    bool present;
    int index; /* position in the section table, for messages */
    uint64_t off, size;
} sec_info;

typedef struct reader {
    const uint8_t *b;
    size_t len;
    const char *path;
    teq_error *err;
    sec_info sec[SEC_LAST + 1];
    /* counts, all checked against their sections' sizes */
    int64_t opset;
    uint32_t n_values, n_nodes, n_inputs, n_outputs, n_op_counts, n_strings;
    uint64_t n_io, n_attrs, n_pool, n_tensors;
    uint64_t string_copy_bytes;
    uint8_t *tensor_used; /* n_tensors flags: each tensor is referenced exactly once */
    uint32_t flags;       /* header flags (FMT_FLAG_SHIFT, FMT_FLAG_F32) */
} reader;

static teq_status fail(reader *r, const char *fmt, ...) TEQ_PRINTF(2, 3);
static teq_status fail(reader *r, const char *fmt, ...) {
    char m[440];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return teq_error_set(r->err, TEQ_ERR_FORMAT, "%s: %s", r->path, m);
}

static const uint8_t *sec_ptr(const reader *r, int t) { return r->b + r->sec[t].off; }

/* "section 3 (values)" for messages. */
static const char *sec_label(const reader *r, int t, char *buf, size_t n) {
    snprintf(buf, n, "section %d (%s)", r->sec[t].index, sec_name((uint32_t)t));
    return buf;
}

/* Text of string ref (NUL-terminated in the file, validated by check_strings); NULL for NONE_REF. */
static const char *str_at(const reader *r, uint32_t ref) {
    if (ref == NONE_REF) return NULL;
    const uint8_t *t = sec_ptr(r, SEC_STRINGS);
    return (const char *)(t + get_u32(t + STRING_ENTRY + (size_t)STRING_ENTRY * ref));
}

/* A string reference in a record: in range (or NONE_REF where allowed); counts the bytes the build
 * pass will copy. */
static teq_status check_ref(reader *r, uint32_t ref, bool allow_none, const char *what) {
    if (ref == NONE_REF) return allow_none ? TEQ_OK : fail(r, "%s has no string (a required name)", what);
    if (ref >= r->n_strings) return fail(r, "%s refers to string %u, out of range (%u strings)", what, ref, r->n_strings);
    const uint8_t *t = sec_ptr(r, SEC_STRINGS);
    r->string_copy_bytes += (uint64_t)get_u32(t + STRING_ENTRY + (size_t)STRING_ENTRY * ref + 4) + 1;
    if (r->string_copy_bytes > MAX_STRING_COPY_BYTES)
        return fail(r, "the strings referenced add up to more than %llu bytes (reader limit)",
                    (unsigned long long)MAX_STRING_COPY_BYTES);
    return TEQ_OK;
}

/* Header, version, size, checksum and section table. */
static teq_status check_header(reader *r) {
    const uint8_t *b = r->b;
    size_t len = r->len;
    if (len < 8) {
        if (len == 0) return fail(r, "truncated: the file is empty");
        if (memcmp(b, teq_magic, len) == 0)
            return fail(r, "truncated: %zu bytes, the header alone is %d", len, HEADER_BYTES);
        return fail(r, "not a .teq file (bad magic)");
    }
    if (memcmp(b, teq_magic, 8) != 0) return fail(r, "not a .teq file (bad magic)");
    if (len < HEADER_BYTES) return fail(r, "truncated: %zu bytes, the header alone is %d", len, HEADER_BYTES);
    uint64_t file_size = get_u64(b + 24);
    if (file_size > len)
        return fail(r, "truncated: %zu of the %llu bytes the header announces", len, (unsigned long long)file_size);
    if (file_size < len)
        return fail(r, "%zu bytes, but the header announces %llu (trailing data or a damaged header)", len,
                    (unsigned long long)file_size);
    uint32_t stored = get_u32(b + 8), computed = crc_update(0, b + 12, len - 12);
    if (stored != computed)
        return fail(r, "checksum mismatch: the file is damaged (stored CRC-32 %08x, computed %08x)", stored, computed);
    unsigned major = get_u16(b + 12), minor = get_u16(b + 14);
    if (major > FMT_MAJOR)
        return fail(r, "format version %u.%u is newer than this teq reads (%d.x): upgrade teq", major, minor, FMT_MAJOR);
    if (major != FMT_MAJOR) return fail(r, "unknown format version %u.%u (this teq reads %d.x)", major, minor, FMT_MAJOR);
    uint32_t flags = get_u32(b + 16);
    if (flags & ~(FMT_FLAG_SHIFT | FMT_FLAG_F32)) return fail(r, "unknown header flags 0x%08x", flags);
    if ((flags & FMT_FLAG_SHIFT) && minor < FMT_MINOR_SHIFT)
        return fail(r, "header flags 0x1 (shifted codes) need format version 1.1 or later, the file says %u.%u", major,
                    minor);
    if ((flags & FMT_FLAG_F32) && minor < FMT_MINOR_F32)
        return fail(r, "header flags 0x2 (float32 linear codes) need format version 1.2 or later, the file says %u.%u",
                    major, minor);
    r->flags = flags;
    uint32_t nsec = get_u32(b + 20);
    if ((uint64_t)nsec > (len - HEADER_BYTES) / SECTION_ENTRY_BYTES)
        return fail(r, "the section table (%u entries) runs past the end of the file (%zu bytes)", nsec, len);
    uint64_t prev_end = HEADER_BYTES + (uint64_t)SECTION_ENTRY_BYTES * nsec;
    for (uint32_t i = 0; i < nsec; i++) {
        const uint8_t *e = b + HEADER_BYTES + (size_t)SECTION_ENTRY_BYTES * i;
        uint32_t type = get_u32(e), res = get_u32(e + 4);
        uint64_t off = get_u64(e + 8), size = get_u64(e + 16);
        const char *nm = sec_name(type);
        if (res) return fail(r, "section %u (%s) has a non-zero reserved field", i, nm);
        if (off > len || size > len - off)
            return fail(r, "section %u (%s) runs past the end of the file (offset %llu + %llu > %zu)", i, nm,
                        (unsigned long long)off, (unsigned long long)size, len);
        if (off % SECTION_ALIGN)
            return fail(r, "section %u (%s) at offset %llu is not %d-byte aligned", i, nm, (unsigned long long)off,
                        SECTION_ALIGN);
        if (off < prev_end)
            return fail(r, "section %u (%s) at offset %llu overlaps the %s before it (which ends at %llu)", i, nm,
                        (unsigned long long)off, i ? "section" : "section table", (unsigned long long)prev_end);
        prev_end = off + size;
        if (type == 0 || type > SEC_LAST) continue; /* a later minor version's section: skipped */
        if (r->sec[type].present) return fail(r, "section %u repeats the %s section", i, nm);
        r->sec[type] = (sec_info){true, (int)i, off, size};
    }
    for (int t = 1; t <= SEC_LAST; t++)
        if (!r->sec[t].present && t != SEC_META_JSON) return fail(r, "no %s section", sec_name((uint32_t)t));
    return TEQ_OK;
}

/* Size of a section of fixed-size records must be count * rec. */
static teq_status check_count(reader *r, int t, uint64_t count, uint64_t rec, const char *what) {
    char lb[64];
    if (r->sec[t].size / rec != count || r->sec[t].size % rec)
        return fail(r, "%s holds %llu bytes, but %llu %s of %llu bytes need %llu", sec_label(r, t, lb, sizeof lb),
                    (unsigned long long)r->sec[t].size, (unsigned long long)count, what, (unsigned long long)rec,
                    count <= UINT64_MAX / rec ? (unsigned long long)(count * rec) : 0ull);
    return TEQ_OK;
}

static teq_status check_strings(reader *r) {
    const uint8_t *t = sec_ptr(r, SEC_STRINGS);
    uint64_t size = r->sec[SEC_STRINGS].size;
    char lb[64];
    sec_label(r, SEC_STRINGS, lb, sizeof lb);
    if (size < STRING_ENTRY) return fail(r, "%s is truncated (%llu bytes)", lb, (unsigned long long)size);
    uint32_t n = get_u32(t);
    if (get_u32(t + 4)) return fail(r, "%s has a non-zero reserved field", lb);
    if ((uint64_t)n >= NONE_REF || (uint64_t)n > (size - STRING_ENTRY) / STRING_ENTRY)
        return fail(r, "%s announces %u strings, more than its %llu bytes hold", lb, n, (unsigned long long)size);
    /* Canonical layout: texts follow the entry table back to back, each with a NUL, in entry
     * order, so each byte is scanned once and no two entries share bytes. */
    uint64_t at = STRING_ENTRY + (uint64_t)STRING_ENTRY * n;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = t + STRING_ENTRY + (size_t)STRING_ENTRY * i;
        uint64_t off = get_u32(e), l = get_u32(e + 4);
        if (off != at) return fail(r, "%s: string %u starts at %llu, expected %llu", lb, i, (unsigned long long)off,
                                   (unsigned long long)at);
        if (l >= size || off + l + 1 > size)
            return fail(r, "%s: string %u (offset %llu + length %llu) runs past the section's %llu bytes", lb, i,
                        (unsigned long long)off, (unsigned long long)l, (unsigned long long)size);
        if (t[off + l] != 0) return fail(r, "%s: string %u is not NUL-terminated", lb, i);
        if (memchr(t + off, 0, (size_t)l)) return fail(r, "%s: string %u contains a NUL byte", lb, i);
        at = off + l + 1;
    }
    if (at != size)
        return fail(r, "%s has %llu bytes after its last string", lb, (unsigned long long)(size - at));
    r->n_strings = n;
    return TEQ_OK;
}

static teq_status check_graph(reader *r) {
    const uint8_t *p = sec_ptr(r, SEC_GRAPH);
    uint64_t size = r->sec[SEC_GRAPH].size;
    char lb[64];
    sec_label(r, SEC_GRAPH, lb, sizeof lb);
    if (size < GRAPH_FIXED_BYTES) return fail(r, "%s is truncated (%llu bytes)", lb, (unsigned long long)size);
    r->opset = get_i64(p);
    r->n_values = get_u32(p + 8);
    r->n_nodes = get_u32(p + 12);
    r->n_inputs = get_u32(p + 16);
    r->n_outputs = get_u32(p + 20);
    r->n_op_counts = get_u32(p + 24);
    if (get_u32(p + 28)) return fail(r, "%s has a non-zero reserved field", lb);
    if (r->opset < 0) return fail(r, "%s: negative opset %lld", lb, (long long)r->opset);
    if (r->n_values > INT_MAX || r->n_nodes > INT_MAX || r->n_inputs > INT_MAX || r->n_outputs > INT_MAX ||
        r->n_op_counts > INT_MAX)
        return fail(r, "%s: a count exceeds %d", lb, INT_MAX);
    uint64_t ids = (uint64_t)r->n_inputs + r->n_outputs;
    uint64_t want = GRAPH_FIXED_BYTES + 4 * ids + (ids % 2 ? 4 : 0) + (uint64_t)OPCOUNT_REC * r->n_op_counts;
    if (want != size)
        return fail(r, "%s holds %llu bytes, but %u inputs, %u outputs and %u operator counts need %llu", lb,
                    (unsigned long long)size, r->n_inputs, r->n_outputs, r->n_op_counts, (unsigned long long)want);
    for (uint64_t i = 0; i < ids; i++) {
        int32_t v = get_i32(p + GRAPH_FIXED_BYTES + 4 * i);
        if (v < 0 || (uint32_t)v >= r->n_values)
            return fail(r, "%s: graph %s %llu is value id %d, out of range (%u values)", lb,
                        i < r->n_inputs ? "input" : "output",
                        (unsigned long long)(i < r->n_inputs ? i : i - r->n_inputs), v, r->n_values);
    }
    if (ids % 2 && get_u32(p + GRAPH_FIXED_BYTES + 4 * ids)) return fail(r, "%s has non-zero padding", lb);
    const uint8_t *oc = p + GRAPH_FIXED_BYTES + 4 * ids + (ids % 2 ? 4 : 0);
    for (uint32_t i = 0; i < r->n_op_counts; i++, oc += OPCOUNT_REC) {
        char what[64];
        snprintf(what, sizeof what, "operator count %u", i);
        teq_status s = check_ref(r, get_u32(oc), false, what);
        if (s) return s;
        if (get_u32(oc + 4)) return fail(r, "%s: operator count %u has a non-zero reserved field", lb, i);
        if (get_i64(oc + 8) < 0) return fail(r, "%s: operator count %u is negative", lb, i);
    }
    return TEQ_OK;
}

/* Tensor records and their bytes in DATA. */
static teq_status check_tensors(reader *r) {
    char lb[64];
    sec_label(r, SEC_TENSORS, lb, sizeof lb);
    if (r->sec[SEC_TENSORS].size % TENSOR_REC)
        return fail(r, "%s holds %llu bytes, not a whole number of %d-byte records", lb,
                    (unsigned long long)r->sec[SEC_TENSORS].size, TENSOR_REC);
    r->n_tensors = r->sec[SEC_TENSORS].size / TENSOR_REC;
    if (r->n_tensors >= NONE_REF) return fail(r, "%s holds too many tensors", lb);
    const uint8_t *p = sec_ptr(r, SEC_TENSORS);
    const uint8_t *data = sec_ptr(r, SEC_DATA);
    uint64_t data_size = r->sec[SEC_DATA].size, prev_end = 0;
    for (uint64_t i = 0; i < r->n_tensors; i++, p += TENSOR_REC) {
        uint32_t kind = get_u32(p);
        int32_t dtype = get_i32(p + 4), ndim = get_i32(p + 8);
        uint64_t off = get_u64(p + 80), size = get_u64(p + 88);
        unsigned long long ti = (unsigned long long)i;
        if (kind != TENSOR_RAW && kind != TENSOR_QUANT) return fail(r, "%s: tensor %llu has unknown kind %u", lb, ti, kind);
        if (get_u32(p + 12) || (kind == TENSOR_RAW && get_u32(p + 148)))
            return fail(r, "%s: tensor %llu has a non-zero reserved field", lb, ti);
        if (ndim < 0 || ndim > TEQ_MAX_DIMS)
            return fail(r, "%s: tensor %llu has rank %d (0..%d allowed)", lb, ti, ndim, TEQ_MAX_DIMS);
        int64_t dims[TEQ_MAX_DIMS], numel;
        for (int d = 0; d < TEQ_MAX_DIMS; d++) {
            dims[d] = get_i64(p + 16 + 8 * d);
            if (d < ndim && dims[d] < 0) return fail(r, "%s: tensor %llu has negative dim %lld", lb, ti, (long long)dims[d]);
            if (d >= ndim && dims[d]) return fail(r, "%s: tensor %llu has a non-zero dim beyond its rank", lb, ti);
        }
        char sb[160];
        if (!teq_dims_numel(ndim, dims, &numel))
            return fail(r, "%s: tensor %llu has shape %s, whose element count overflows", lb, ti,
                        teq_shape_str(ndim, dims, sb, sizeof sb));
        size_t es = teq_dtype_size((teq_dtype)dtype), bytes;
        if (es == 0) return fail(r, "%s: tensor %llu has unknown data type %d", lb, ti, dtype);
        if (!teq_mul_size((size_t)numel, es, &bytes) || bytes > TEQ_MAX_TENSOR_BYTES)
            return fail(r, "%s: tensor %llu of shape %s is larger than the %zu bytes teq allows", lb, ti,
                        teq_shape_str(ndim, dims, sb, sizeof sb), (size_t)TEQ_MAX_TENSOR_BYTES);
        if (kind == TENSOR_RAW) {
            for (int k = 96; k < 152; k++)
                if (p[k]) return fail(r, "%s: plain tensor %llu has non-zero code parameters", lb, ti);
            if (size != bytes)
                return fail(r, "%s: tensor %llu (%s %s) stores %llu bytes, %zu expected", lb, ti,
                            teq_dtype_name((teq_dtype)dtype), teq_shape_str(ndim, dims, sb, sizeof sb),
                            (unsigned long long)size, bytes);
        } else {
            teq_qparams q;
            memset(&q, 0, sizeof q);
            const int32_t kind = get_i32(p + 96);
            teq_q_set_stored_kind(&q, kind);
            q.bits = get_i32(p + 100);
            q.is_signed = get_i32(p + 104);
            q.zero_code = get_i32(p + 108);
            q.base = get_f64(p + 112);
            q.alpha = get_f64(p + 120);
            q.beta = get_f64(p + 128);
            q.scale = get_f64(p + 136);
            q.zero_point = get_i32(p + 144);
            char why[200] = "";
            if (q.kind != TEQ_CODE_EXP && q.kind != TEQ_CODE_LINEAR)
                return fail(r, "%s: quantized tensor %llu has code kind %d (1 exponential, 2 or 3 linear expected)", lb,
                            ti, (int)kind);
            if (q.lin_f32 && !(r->flags & FMT_FLAG_F32))
                return fail(r, "%s: quantized tensor %llu has code kind 3, which needs header flag 0x2 (format 1.2)", lb,
                            ti);
            if (dtype != TEQ_DTYPE_FLOAT)
                return fail(r, "%s: quantized tensor %llu decodes to %s; only float32 is defined", lb, ti,
                            teq_dtype_name((teq_dtype)dtype));
            if (teq_qparams_check(&q, why, sizeof why) != TEQ_OK)
                return fail(r, "%s: quantized tensor %llu has invalid code parameters: %s", lb, ti, why);
            size_t want = teq_packed_bytes(numel, q.bits);
            uint32_t ch = get_u32(p + 148); /* 0: one code for the tensor; a+1: per-channel scales on axis a */
            if (ch) {
                if ((int64_t)ch > ndim)
                    return fail(r, "%s: quantized tensor %llu has channel axis %u for rank %d", lb, ti, ch - 1, ndim);
                want += 4 * (size_t)dims[ch - 1];
            }
            if (size != want)
                return fail(r, "%s: quantized tensor %llu (%s, %d bits) stores %llu packed bytes, %zu expected", lb, ti,
                            teq_shape_str(ndim, dims, sb, sizeof sb), q.bits, (unsigned long long)size, want);
        }
        if (off % SECTION_ALIGN) return fail(r, "%s: tensor %llu data offset %llu is not %d-byte aligned", lb, ti,
                                             (unsigned long long)off, SECTION_ALIGN);
        if (off < prev_end)
            return fail(r, "%s: tensor %llu data (offset %llu) overlaps the tensor before it (ends at %llu)", lb, ti,
                        (unsigned long long)off, (unsigned long long)prev_end);
        if (off > data_size || size > data_size - off)
            return fail(r, "%s: tensor %llu data runs past the end of the data section (offset %llu + %llu > %llu)", lb,
                        ti, (unsigned long long)off, (unsigned long long)size, (unsigned long long)data_size);
        prev_end = off + size;
        if (kind == TENSOR_RAW && dtype == TEQ_DTYPE_BOOL)
            for (uint64_t k = 0; k < size; k++)
                if (data[off + k] > 1) return fail(r, "%s: bool tensor %llu holds byte %u (0 or 1 allowed)", lb, ti, data[off + k]);
    }
    r->tensor_used = calloc((size_t)(r->n_tensors ? r->n_tensors : 1), 1);
    if (!r->tensor_used) return teq_error_set(r->err, TEQ_ERR_NOMEM, "%s: out of memory", r->path);
    return TEQ_OK;
}

static teq_status use_tensor(reader *r, uint64_t t, const char *what) {
    if (t >= r->n_tensors)
        return fail(r, "%s refers to tensor %llu, out of range (%llu tensors)", what, (unsigned long long)t,
                    (unsigned long long)r->n_tensors);
    if (r->tensor_used[t]) return fail(r, "%s refers to tensor %llu, which is already used", what, (unsigned long long)t);
    r->tensor_used[t] = 1;
    return TEQ_OK;
}

static teq_status check_values(reader *r) {
    teq_status s = check_count(r, SEC_VALUES, r->n_values, VALUE_REC, "values");
    if (s) return s;
    const uint8_t *p = sec_ptr(r, SEC_VALUES);
    for (uint32_t i = 0; i < r->n_values; i++, p += VALUE_REC) {
        char what[64];
        snprintf(what, sizeof what, "value %u", i);
        if ((s = check_ref(r, get_u32(p), false, what))) return s;
        int32_t dtype = get_i32(p + 4), ndim = get_i32(p + 8);
        uint32_t tens = get_u32(p + 12);
        if (dtype != TEQ_DTYPE_UNDEFINED && (dtype < 0 || teq_dtype_size((teq_dtype)dtype) == 0))
            return fail(r, "value %u declares unknown data type %d", i, dtype);
        if (ndim < -1 || ndim > TEQ_MAX_DIMS)
            return fail(r, "value %u declares rank %d (-1..%d allowed)", i, ndim, TEQ_MAX_DIMS);
        for (int d = 0; d < TEQ_MAX_DIMS; d++) {
            int64_t dim = get_i64(p + 16 + 8 * d);
            uint32_t dn = get_u32(p + 80 + 4 * d);
            if (d < ndim) {
                if (dim < -1) return fail(r, "value %u declares dim %lld (-1 or more allowed)", i, (long long)dim);
                snprintf(what, sizeof what, "value %u dim name %d", i, d);
                if ((s = check_ref(r, dn, true, what))) return s;
            } else if (dim || dn != NONE_REF) {
                return fail(r, "value %u has a dim or dim name beyond its rank", i);
            }
        }
        if (tens != NONE_REF) {
            snprintf(what, sizeof what, "value %u", i);
            if ((s = use_tensor(r, tens, what))) return s;
        }
    }
    return TEQ_OK;
}

static teq_status check_nodes(reader *r) {
    teq_status s = check_count(r, SEC_NODES, r->n_nodes, NODE_REC, "nodes");
    if (s) return s;
    char lb[64];
    if (r->sec[SEC_NODE_IO].size % IO_ELEM)
        return fail(r, "%s holds %llu bytes, not a whole number of value ids", sec_label(r, SEC_NODE_IO, lb, sizeof lb),
                    (unsigned long long)r->sec[SEC_NODE_IO].size);
    if (r->sec[SEC_ATTRS].size % ATTR_REC)
        return fail(r, "%s holds %llu bytes, not a whole number of %d-byte records",
                    sec_label(r, SEC_ATTRS, lb, sizeof lb), (unsigned long long)r->sec[SEC_ATTRS].size, ATTR_REC);
    if (r->sec[SEC_ATTR_POOL].size % POOL_ELEM)
        return fail(r, "%s holds %llu bytes, not a whole number of 8-byte slots",
                    sec_label(r, SEC_ATTR_POOL, lb, sizeof lb), (unsigned long long)r->sec[SEC_ATTR_POOL].size);
    r->n_io = r->sec[SEC_NODE_IO].size / IO_ELEM;
    r->n_attrs = r->sec[SEC_ATTRS].size / ATTR_REC;
    r->n_pool = r->sec[SEC_ATTR_POOL].size / POOL_ELEM;
    const uint8_t *io = sec_ptr(r, SEC_NODE_IO), *pool = sec_ptr(r, SEC_ATTR_POOL);
    for (uint64_t k = 0; k < r->n_io; k++) {
        int32_t v = get_i32(io + 4 * k);
        if (v < -1 || (v >= 0 && (uint32_t)v >= r->n_values))
            return fail(r, "%s: entry %llu is value id %d, out of range (%u values)", sec_label(r, SEC_NODE_IO, lb, sizeof lb),
                        (unsigned long long)k, v, r->n_values);
    }
    /* Nodes take consecutive runs of NODE_IO and ATTRS, attributes consecutive runs of the pool:
     * the build pass copies each element once. */
    uint64_t io_at = 0, attr_at = 0, pool_at = 0;
    const uint8_t *p = sec_ptr(r, SEC_NODES);
    for (uint32_t i = 0; i < r->n_nodes; i++, p += NODE_REC) {
        char what[96];
        snprintf(what, sizeof what, "node %u", i);
        for (int k = 0; k < 3; k++)
            if ((s = check_ref(r, get_u32(p + 4 * k), false, what))) return s;
        int32_t opset = get_i32(p + 12);
        uint32_t io_start = get_u32(p + 16), n_in = get_u32(p + 20), n_out = get_u32(p + 24);
        uint32_t a_start = get_u32(p + 28), n_attr = get_u32(p + 32);
        if (get_u32(p + 36)) return fail(r, "node %u has a non-zero reserved field", i);
        if (opset < 0) return fail(r, "node %u has negative opset %d", i, opset);
        if (io_start != io_at || (uint64_t)n_in + n_out > r->n_io - io_at || n_in > INT_MAX || n_out > INT_MAX)
            return fail(r, "node %u: inputs/outputs (start %u, %u + %u ids) are not the next run of the %llu node_io ids "
                        "(expected start %llu)", i, io_start, n_in, n_out, (unsigned long long)r->n_io,
                        (unsigned long long)io_at);
        io_at += (uint64_t)n_in + n_out;
        if (a_start != attr_at || n_attr > r->n_attrs - attr_at || n_attr > INT_MAX)
            return fail(r, "node %u: attributes (start %u, count %u) are not the next run of the %llu attrs "
                        "(expected start %llu)", i, a_start, n_attr, (unsigned long long)r->n_attrs,
                        (unsigned long long)attr_at);
        for (uint32_t a = 0; a < n_attr; a++) {
            const uint8_t *ar = sec_ptr(r, SEC_ATTRS) + (size_t)ATTR_REC * (attr_at + a);
            snprintf(what, sizeof what, "node %u attribute %u", i, a);
            if ((s = check_ref(r, get_u32(ar), false, what))) return s;
            uint32_t type = get_u32(ar + 4);
            uint64_t val = get_u64(ar + 8), cnt = get_u64(ar + 16);
            if (!attr_type_known((int)type)) return fail(r, "%s has unknown type %u", what, type);
            bool arr = type == TEQ_ATTR_FLOATS || type == TEQ_ATTR_INTS || type == TEQ_ATTR_STRINGS;
            if (!arr && cnt) return fail(r, "%s (a single value) has a non-zero count", what);
            if ((type == TEQ_ATTR_FLOAT || type == TEQ_ATTR_STRING || type == TEQ_ATTR_TENSOR) && val >> 32)
                return fail(r, "%s has non-zero high bits in its value", what);
            if (type == TEQ_ATTR_STRING && (s = check_ref(r, (uint32_t)val, true, what))) return s;
            if (type == TEQ_ATTR_TENSOR) {
                if ((s = use_tensor(r, val, what))) return s;
                if (get_u32(sec_ptr(r, SEC_TENSORS) + (size_t)TENSOR_REC * val) != TENSOR_RAW)
                    return fail(r, "%s refers to quantized tensor %llu; attribute tensors are stored plain", what,
                                (unsigned long long)val);
            }
            if (arr) {
                if (val != pool_at || cnt > r->n_pool - pool_at || cnt > (uint64_t)INT_MAX)
                    return fail(r, "%s: its array (start %llu, count %llu) is not the next run of the %llu-slot "
                                "attr_pool (expected start %llu)", what, (unsigned long long)val,
                                (unsigned long long)cnt, (unsigned long long)r->n_pool, (unsigned long long)pool_at);
                for (uint64_t k = 0; k < cnt; k++) {
                    uint64_t x = get_u64(pool + 8 * (pool_at + k));
                    if (type != TEQ_ATTR_INTS && x >> 32)
                        return fail(r, "%s: element %llu has non-zero high bits", what, (unsigned long long)k);
                    if (type == TEQ_ATTR_STRINGS && (s = check_ref(r, (uint32_t)x, true, what))) return s;
                }
                pool_at += cnt;
            }
        }
        attr_at += n_attr;
    }
    if (io_at != r->n_io) return fail(r, "%llu node_io ids are not used by any node", (unsigned long long)(r->n_io - io_at));
    if (attr_at != r->n_attrs)
        return fail(r, "%llu attrs are not used by any node", (unsigned long long)(r->n_attrs - attr_at));
    if (pool_at != r->n_pool)
        return fail(r, "%llu attr_pool slots are not used by any attribute", (unsigned long long)(r->n_pool - pool_at));
    for (uint64_t t = 0; t < r->n_tensors; t++)
        if (!r->tensor_used[t]) return fail(r, "tensor %llu is not used by any value or attribute", (unsigned long long)t);
    return TEQ_OK;
}

static teq_status check_meta(reader *r) {
    if (!r->sec[SEC_META_JSON].present) return TEQ_OK;
    char lb[64];
    if (memchr(sec_ptr(r, SEC_META_JSON), 0, (size_t)r->sec[SEC_META_JSON].size))
        return fail(r, "%s contains a NUL byte", sec_label(r, SEC_META_JSON, lb, sizeof lb));
    return TEQ_OK;
}

/* ---------------------------------------------------------------- build pass (input is valid) */

static teq_status nomem(reader *r) { return teq_error_set(r->err, TEQ_ERR_NOMEM, "%s: out of memory", r->path); }

/* strdup of string ref (NULL for NONE_REF); *ok false on allocation failure. */
static char *dup_ref(const reader *r, uint32_t ref, bool *ok) {
    if (ref == NONE_REF) return NULL;
    char *s = teq_strdup(str_at(r, ref));
    if (!s) *ok = false;
    return s;
}

static teq_status build_tensor(reader *r, uint32_t idx, teq_tensor **out, teq_qweight **qout) {
    const uint8_t *p = sec_ptr(r, SEC_TENSORS) + (size_t)TENSOR_REC * idx;
    const uint8_t *src = sec_ptr(r, SEC_DATA) + get_u64(p + 80);
    size_t size = (size_t)get_u64(p + 88);
    int ndim = get_i32(p + 8);
    int64_t dims[TEQ_MAX_DIMS], numel;
    for (int d = 0; d < TEQ_MAX_DIMS; d++) dims[d] = get_i64(p + 16 + 8 * d);
    teq_dims_numel(ndim, dims, &numel);
    teq_tensor *t = NULL;
    teq_error e2;
    if (teq_tensor_create((teq_dtype)get_i32(p + 4), ndim, dims, &t, &e2) != TEQ_OK) return nomem(r);
    if (get_u32(p) == TENSOR_RAW) {
        if (size) memcpy(t->data, src, size);
        *out = t;
        return TEQ_OK;
    }
    teq_qweight *q = calloc(1, sizeof *q);
    uint8_t *codes = malloc((size_t)(numel ? numel : 1));
    if (q) q->packed = malloc(size ? size : 1);
    if (!q || !codes || !q->packed) {
        teq_qweight_free(q);
        free(codes);
        teq_tensor_free(t);
        return nomem(r);
    }
    teq_q_set_stored_kind(&q->q, get_i32(p + 96));
    q->q.bits = get_i32(p + 100);
    q->q.is_signed = get_i32(p + 104);
    q->q.zero_code = get_i32(p + 108);
    q->q.base = get_f64(p + 112);
    q->q.alpha = get_f64(p + 120);
    q->q.beta = get_f64(p + 128);
    q->q.scale = get_f64(p + 136);
    q->q.zero_point = get_i32(p + 144);
    uint32_t ch = get_u32(p + 148);
    if (ch) {
        q->per_channel = 1;
        q->ch_axis = (int)ch - 1;
        q->n_ch = dims[q->ch_axis];
        q->ch_scale = malloc(sizeof(float) * (size_t)(q->n_ch ? q->n_ch : 1));
        if (!q->ch_scale) {
            teq_qweight_free(q);
            free(codes);
            teq_tensor_free(t);
            return nomem(r);
        }
        memcpy(q->ch_scale, src, 4 * (size_t)q->n_ch);
        for (int64_t c = 0; c < q->n_ch; c++)
            if (!(isfinite(q->ch_scale[c]) && q->ch_scale[c] > 0)) {
                teq_qweight_free(q);
                free(codes);
                teq_tensor_free(t);
                return fail(r, "%s: quantized tensor %u has a per-channel scale that is not finite and positive", r->path,
                            idx);
            }
        src += 4 * (size_t)q->n_ch;
        size -= 4 * (size_t)q->n_ch;
    }
    q->packed_bytes = size;
    if (size) memcpy(q->packed, src, size);
    free(codes);
    teq_qweight_decode(q, ndim, dims, (float *)t->data);
    *out = t;
    *qout = q;
    return TEQ_OK;
}

static teq_status build_graph(reader *r, teq_graph *g) {
    bool ok = true;
    teq_status s;
    const uint8_t *p = sec_ptr(r, SEC_GRAPH);
    g->opset = r->opset;
    uint32_t ni = r->n_inputs, no = r->n_outputs;
    g->inputs = malloc(sizeof(int) * (ni ? ni : 1));
    g->outputs = malloc(sizeof(int) * (no ? no : 1));
    g->op_counts = calloc(r->n_op_counts ? r->n_op_counts : 1, sizeof *g->op_counts);
    g->values = calloc(r->n_values ? r->n_values : 1, sizeof *g->values);
    g->nodes = calloc(r->n_nodes ? r->n_nodes : 1, sizeof *g->nodes);
    if (!g->inputs || !g->outputs || !g->op_counts || !g->values || !g->nodes) return nomem(r);
    g->cap_values = (int)r->n_values;
    g->cap_nodes = (int)r->n_nodes;
    g->n_inputs = (int)ni;
    g->n_outputs = (int)no;
    for (uint32_t i = 0; i < ni; i++) g->inputs[i] = get_i32(p + GRAPH_FIXED_BYTES + 4 * (size_t)i);
    for (uint32_t i = 0; i < no; i++) g->outputs[i] = get_i32(p + GRAPH_FIXED_BYTES + 4 * ((size_t)ni + i));
    const uint8_t *oc = p + GRAPH_FIXED_BYTES + 4 * ((size_t)ni + no) + ((ni + no) % 2 ? 4 : 0);
    g->n_op_counts = (int)r->n_op_counts;
    for (uint32_t i = 0; i < r->n_op_counts; i++, oc += OPCOUNT_REC) {
        g->op_counts[i].op_type = dup_ref(r, get_u32(oc), &ok);
        g->op_counts[i].count = get_i64(oc + 8);
    }
    if (!ok) return nomem(r);

    /* Values: zeroed records are safe for teq_graph_free, so the count is set first. */
    g->n_values = (int)r->n_values;
    p = sec_ptr(r, SEC_VALUES);
    for (uint32_t i = 0; i < r->n_values; i++, p += VALUE_REC) {
        teq_value *v = &g->values[i];
        v->name = dup_ref(r, get_u32(p), &ok);
        v->dtype = (teq_dtype)get_i32(p + 4);
        v->ndim = get_i32(p + 8);
        v->producer = -1;
        for (int d = 0; d < v->ndim; d++) {
            v->dims[d] = get_i64(p + 16 + 8 * d);
            v->dim_names[d] = dup_ref(r, get_u32(p + 80 + 4 * d), &ok);
        }
        if (!ok) return nomem(r);
        uint32_t tens = get_u32(p + 12);
        if (tens != NONE_REF && (s = build_tensor(r, tens, &v->constant, &v->qweight))) return s;
    }

    g->n_nodes = (int)r->n_nodes;
    p = sec_ptr(r, SEC_NODES);
    const uint8_t *io = sec_ptr(r, SEC_NODE_IO), *pool = sec_ptr(r, SEC_ATTR_POOL);
    for (uint32_t i = 0; i < r->n_nodes; i++, p += NODE_REC) {
        teq_node *n = &g->nodes[i];
        n->name = dup_ref(r, get_u32(p), &ok);
        n->op_type = dup_ref(r, get_u32(p + 4), &ok);
        n->domain = dup_ref(r, get_u32(p + 8), &ok);
        n->opset = get_i32(p + 12);
        uint32_t io_start = get_u32(p + 16), n_in = get_u32(p + 20), n_out = get_u32(p + 24);
        uint32_t a_start = get_u32(p + 28), n_attr = get_u32(p + 32);
        n->in = malloc(sizeof(int) * (n_in ? n_in : 1));
        n->out = malloc(sizeof(int) * (n_out ? n_out : 1));
        if (!ok || !n->in || !n->out) return nomem(r);
        n->n_in = (int)n_in;
        n->n_out = (int)n_out;
        for (uint32_t k = 0; k < n_in; k++) n->in[k] = get_i32(io + 4 * ((size_t)io_start + k));
        for (uint32_t k = 0; k < n_out; k++) n->out[k] = get_i32(io + 4 * ((size_t)io_start + n_in + k));
        if (!n_attr) continue;
        n->attr = calloc(n_attr, sizeof *n->attr);
        if (!n->attr) return nomem(r);
        n->n_attr = (int)n_attr;
        for (uint32_t a = 0; a < n_attr; a++) {
            const uint8_t *ar = sec_ptr(r, SEC_ATTRS) + (size_t)ATTR_REC * ((size_t)a_start + a);
            teq_attr *at = &n->attr[a];
            at->name = dup_ref(r, get_u32(ar), &ok);
            at->type = (teq_attr_type)get_u32(ar + 4);
            uint64_t val = get_u64(ar + 8), cnt = get_u64(ar + 16);
            uint32_t fb;
            /* Only meaningful for the array types (val is then a pool index, validated). */
            const uint8_t *el = (at->type == TEQ_ATTR_FLOATS || at->type == TEQ_ATTR_INTS || at->type == TEQ_ATTR_STRINGS)
                                    ? pool + 8 * val
                                    : pool;
            switch (at->type) {
            case TEQ_ATTR_FLOAT:
                fb = (uint32_t)val;
                memcpy(&at->f, &fb, 4);
                break;
            case TEQ_ATTR_INT: at->i = (int64_t)val; break;
            case TEQ_ATTR_STRING: at->s = dup_ref(r, (uint32_t)val, &ok); break;
            case TEQ_ATTR_TENSOR: {
                teq_qweight *none = NULL;
                if ((s = build_tensor(r, (uint32_t)val, &at->t, &none))) return s;
                break;
            }
            case TEQ_ATTR_FLOATS:
                at->floats = malloc(sizeof(float) * (size_t)(cnt ? cnt : 1));
                if (!at->floats) return nomem(r);
                at->n = (int64_t)cnt;
                for (uint64_t k = 0; k < cnt; k++) {
                    fb = get_u32(el + 8 * k);
                    memcpy(&at->floats[k], &fb, 4);
                }
                break;
            case TEQ_ATTR_INTS:
                at->ints = malloc(sizeof(int64_t) * (size_t)(cnt ? cnt : 1));
                if (!at->ints) return nomem(r);
                at->n = (int64_t)cnt;
                for (uint64_t k = 0; k < cnt; k++) at->ints[k] = get_i64(el + 8 * k);
                break;
            case TEQ_ATTR_STRINGS:
                at->strings = calloc((size_t)(cnt ? cnt : 1), sizeof(char *));
                if (!at->strings) return nomem(r);
                at->n = (int64_t)cnt; /* set first: teq_attr_free frees the filled prefix */
                for (uint64_t k = 0; k < cnt; k++) at->strings[k] = dup_ref(r, get_u32(el + 8 * k), &ok);
                break;
            }
            if (!ok) return nomem(r);
        }
    }

    if (r->sec[SEC_META_JSON].present) {
        size_t n = (size_t)r->sec[SEC_META_JSON].size;
        g->meta_json = malloc(n + 1);
        if (!g->meta_json) return nomem(r);
        memcpy(g->meta_json, sec_ptr(r, SEC_META_JSON), n);
        g->meta_json[n] = 0;
    }
    return TEQ_OK;
}

/* Shifted codes (flag bit 0), checked on the built graph (the attribute tensors are decoded by then):
 * a TeqQuantize's qparams of 10 values and a Conv's pad_value need the flag; the shift c (10th value) is
 * finite, in 0 .. 1e30, and non-zero only with an unsigned exponential code (values 0 and 2: kind 1,
 * is_signed 0); pad_value is a finite FLOAT. The rest of qparams is checked where it is used, as before. */
static teq_status check_shifts(reader *r, const teq_graph *g) {
    const bool allowed = (r->flags & FMT_FLAG_SHIFT) != 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const teq_node *n = &g->nodes[i];
        for (int a = 0; a < n->n_attr; a++) {
            const teq_attr *at = &n->attr[a];
            if (!strcmp(at->name, "pad_value")) {
                if (!allowed) return fail(r, "node '%s' has a pad_value, which needs header flag 0x1 (format 1.1)", n->name);
                if (at->type != TEQ_ATTR_FLOAT || !isfinite(at->f))
                    return fail(r, "node '%s': pad_value must be a finite FLOAT", n->name);
                continue;
            }
            if (!is_teq_quantize_node(n) || strcmp(at->name, "qparams") || at->type != TEQ_ATTR_TENSOR || !at->t ||
                teq_tensor_numel(at->t) != 10)
                continue;
            if (!allowed)
                return fail(r, "node '%s' has a shifted qparams (10 values), which needs header flag 0x1 (format 1.1)",
                            n->name);
            if (at->t->dtype != TEQ_DTYPE_DOUBLE) continue; /* refused where it is used, like any bad qparams */
            const double *v = at->t->data, c = v[9];
            if (!(c >= 0 && c <= 1e30)) return fail(r, "node '%s': shift %g is not finite in 0 .. 1e30", n->name, c);
            if (c != 0 && !(v[0] == TEQ_CODE_EXP && v[2] == 0))
                return fail(r, "node '%s': shift %g needs an unsigned exponential code", n->name, c);
        }
    }
    return TEQ_OK;
}

/* Float32 linear codes (flag bit 1): a TeqQuantize whose qparams says kind 3 needs the flag. */
static teq_status check_f32_codes(reader *r, const teq_graph *g) {
    const int i = r->flags & FMT_FLAG_F32 ? -1 : first_f32_quantize(g);
    if (i >= 0)
        return fail(r, "node '%s' has a code of kind 3 (float32 linear), which needs header flag 0x2 (format 1.2)",
                    g->nodes[i].name);
    return TEQ_OK;
}

teq_status teq_format_read_buffer(const uint8_t *buf, size_t len, const char *path, teq_graph **out, teq_error *err) {
    teq_error_clear(err);
    if (out) *out = NULL;
    if (!out || (!buf && len)) return teq_error_set(err, TEQ_ERR_ARG, "teq_format_read_buffer: no buffer or output");
    reader r;
    memset(&r, 0, sizeof r);
    r.b = buf;
    r.len = len;
    r.path = path ? path : "<buffer>";
    r.err = err;
    /* Validation: order matters, each step relies on the ones before (strings before any reference,
     * tensors before the values and attributes that use them). */
    teq_status s = check_header(&r);
    if (!s) s = check_strings(&r);
    if (!s) s = check_graph(&r);
    if (!s) s = check_tensors(&r);
    if (!s) s = check_values(&r);
    if (!s) s = check_nodes(&r);
    if (!s) s = check_meta(&r);
    free(r.tensor_used);
    if (s) return s;
    teq_graph *g = teq_graph_new();
    if (!g) return nomem(&r);
    s = build_graph(&r, g);
    if (!s) s = check_shifts(&r, g);
    if (!s) s = check_f32_codes(&r, g);
    if (s) {
        teq_graph_free(g);
        return s;
    }
    *out = g;
    return TEQ_OK;
}

teq_status teq_format_read_file(const char *path, teq_graph **out, teq_error *err) {
    teq_error_clear(err);
    if (out) *out = NULL;
    if (!path || !out) return teq_error_set(err, TEQ_ERR_ARG, "teq_format_read_file: no path or output");
    uint8_t *buf = NULL;
    size_t len = 0;
    teq_status s = teq_file_read_all(path, MAX_FILE_BYTES, &buf, &len, err);
    if (s) return s;
    s = teq_format_read_buffer(buf, len, path, out, err);
    free(buf);
    return s;
}
