/* ONNX ModelProto / TensorProto -> graph IR, through protobuf-c code generated from onnx.proto.
 *
 * Everything read from the file is treated as hostile: sizes are checked before any allocation,
 * name lookups go through hash tables (no quadratic behaviour on huge graphs), nesting depth is
 * bounded before protobuf-c's recursive unpacker sees the bytes, and every error path frees what
 * it built (the partial graph is freed with teq_graph_free). */
#include "onnx_load.h"
#include "../core/fileio.h"

#include "onnx/onnx.pb-c.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Protobuf's own limit: serialized messages are at most 2 GiB. */
#define MAX_FILE_BYTES ((size_t)2 << 30)
/* A legitimate model without subgraph attributes nests at most ~8 levels (Model > Graph > Node >
 * Attribute > Tensor > Segment, TypeProto chains). protobuf-c unpacks recursively, so a crafted
 * file nested a million levels deep would overflow the stack: refuse before unpacking. */
#define MAX_NESTING 64
/* Value and node ids are int; keep well clear of INT_MAX. */
#define MAX_ITEMS (INT_MAX / 4)

/* ---------------------------------------------------------------------------------------------
 * Small helpers */

/* proto2 strings are NULL when absent. */
static const char *str_or_empty(const char *s) { return s ? s : ""; }

const char *teq_onnx_type_name(int t) {
    static const char *const names[] = {
        "undefined", "float32",  "uint8",   "int8",      "uint16",    "int16",        "int32",
        "int64",     "string",   "bool",    "float16",   "float64",   "uint32",       "uint64",
        "complex64", "complex128", "bfloat16", "float8e4m3fn", "float8e4m3fnuz", "float8e5m2",
        "float8e5m2fnuz", "uint4", "int4"};
    if (t >= 0 && t < (int)(sizeof names / sizeof names[0])) return names[t];
    return "unknown";
}

/* True for the ONNX element types teq holds (the teq_dtype numbers are ONNX's). */
static bool dtype_supported(int t) { return t > 0 && teq_dtype_size((teq_dtype)t) != 0; }

static bool host_is_little_endian(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* Copy n elements of es bytes from little-endian src into native-order dst. */
static void copy_le(void *dst, const uint8_t *src, size_t n, size_t es) {
    if (n == 0) return;
    if (es == 1 || host_is_little_endian()) {
        memcpy(dst, src, n * es);
        return;
    }
    uint8_t *d = dst;
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < es; b++) d[i * es + b] = src[i * es + es - 1 - b];
}

/* ---------------------------------------------------------------------------------------------
 * String -> int hash map (open addressing, linear probing). Keys are borrowed: they must outlive
 * the map (graph value names, node names, strings inside the unpacked protobuf). */

typedef struct name_map {
    const char **keys;
    int *ids;
    size_t cap; /* power of two, or 0 */
    size_t n;
} name_map;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static void map_free(name_map *m) {
    free(m->keys);
    free(m->ids);
    memset(m, 0, sizeof *m);
}

/* Id stored for key, or -1. */
static int map_get(const name_map *m, const char *key) {
    if (!m->cap) return -1;
    size_t mask = m->cap - 1;
    for (size_t i = hash_str(key) & mask;; i = (i + 1) & mask) {
        if (!m->keys[i]) return -1;
        if (strcmp(m->keys[i], key) == 0) return m->ids[i];
    }
}

static bool map_grow(name_map *m) {
    size_t nc = m->cap ? m->cap * 2 : 64;
    const char **nk = calloc(nc, sizeof *nk);
    int *ni = malloc(nc * sizeof *ni);
    if (!nk || !ni) {
        free(nk);
        free(ni);
        return false;
    }
    for (size_t j = 0; j < m->cap; j++) {
        if (!m->keys[j]) continue;
        size_t i = hash_str(m->keys[j]) & (nc - 1);
        while (nk[i]) i = (i + 1) & (nc - 1);
        nk[i] = m->keys[j];
        ni[i] = m->ids[j];
    }
    free(m->keys);
    free(m->ids);
    m->keys = nk;
    m->ids = ni;
    m->cap = nc;
    return true;
}

/* Insert or overwrite key -> id. False when out of memory. */
static bool map_put(name_map *m, const char *key, int id) {
    if ((m->n + 1) * 2 > m->cap && !map_grow(m)) return false;
    size_t mask = m->cap - 1;
    size_t i = hash_str(key) & mask;
    while (m->keys[i] && strcmp(m->keys[i], key) != 0) i = (i + 1) & mask;
    if (!m->keys[i]) m->n++;
    m->keys[i] = key;
    m->ids[i] = id;
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Reading files and bounding protobuf nesting */

/* Read the whole of path into a malloc'd buffer. Refuses folders, empty files and files over 2 GiB. */
static teq_status read_whole_file(const char *path, uint8_t **out, size_t *out_len, teq_error *err) {
    teq_status s = teq_file_read_all(path, MAX_FILE_BYTES, out, out_len, err);
    if (s == TEQ_OK && *out_len == 0) {
        free(*out);
        *out = NULL;
        return teq_error_set(err, TEQ_ERR_FORMAT, "%s: file is empty", path);
    }
    return s;
}

/* Read a base-128 varint at *p (< end); false when truncated or longer than 10 bytes. */
static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*p >= end) return false;
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false;
}

/* Walk the wire format of a message of type desc and report whether sub-messages nest deeper than
 * MAX_NESTING. Each byte is visited once at its innermost level, so this is linear in len; the
 * recursion itself is bounded by MAX_NESTING. Malformed bytes end the walk with "ok": unpacking
 * reports them properly. */
static bool nesting_ok(const uint8_t *p, size_t len, const ProtobufCMessageDescriptor *desc, int depth) {
    if (depth > MAX_NESTING) return false;
    const uint8_t *end = p + len;
    while (p < end) {
        uint64_t key, v;
        if (!read_varint(&p, end, &key)) return true;
        unsigned wire = (unsigned)(key & 7);
        uint64_t field = key >> 3;
        switch (wire) {
        case 0:
            if (!read_varint(&p, end, &v)) return true;
            break;
        case 1:
            if ((size_t)(end - p) < 8) return true;
            p += 8;
            break;
        case 5:
            if ((size_t)(end - p) < 4) return true;
            p += 4;
            break;
        case 2: {
            if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p)) return true;
            const ProtobufCFieldDescriptor *fd =
                field <= UINT_MAX ? protobuf_c_message_descriptor_get_field(desc, (unsigned)field) : NULL;
            if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE &&
                !nesting_ok(p, (size_t)v, (const ProtobufCMessageDescriptor *)fd->descriptor, depth + 1))
                return false;
            p += v;
            break;
        }
        default: return true; /* groups or garbage: let the unpacker refuse it */
        }
    }
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * TensorProto -> teq_tensor */

/* Convert tp into a new tensor. what names it in messages ("tensor 'w'", "attribute 'value' of
 * node 'n'"). The data size is checked against the shape before anything is allocated. */
static teq_status tensor_from_proto(const Onnx__TensorProto *tp, const char *path, const char *what,
                                    teq_tensor **out, teq_error *err) {
    *out = NULL;
    if ((tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) ||
        tp->n_external_data > 0)
        return teq_error_set(err, TEQ_ERR_UNSUPPORTED, "%s: %s: external data files are not supported", path, what);
    if (tp->segment)
        return teq_error_set(err, TEQ_ERR_UNSUPPORTED, "%s: %s: segmented tensors are not supported", path, what);
    int dt = tp->has_data_type ? tp->data_type : 0;
    if (!dtype_supported(dt))
        return teq_error_set(err, TEQ_ERR_UNSUPPORTED, "%s: %s: data type %s is not supported", path, what,
                             teq_onnx_type_name(dt));
    if (tp->n_dims > TEQ_MAX_DIMS)
        return teq_error_set(err, TEQ_ERR_UNSUPPORTED, "%s: %s: rank %zu exceeds teq's limit of %d", path, what,
                             tp->n_dims, TEQ_MAX_DIMS);
    int ndim = (int)tp->n_dims;
    int64_t dims[TEQ_MAX_DIMS];
    for (int i = 0; i < ndim; i++) {
        dims[i] = tp->dims[i];
        if (dims[i] < 0)
            return teq_error_set(err, TEQ_ERR_FORMAT, "%s: %s: negative dimension %lld", path, what,
                                 (long long)dims[i]);
    }
    char sb[200];
    int64_t numel;
    size_t es = teq_dtype_size((teq_dtype)dt), bytes;
    if (!teq_dims_numel(ndim, dims, &numel) || !teq_mul_size((size_t)numel, es, &bytes))
        return teq_error_set(err, TEQ_ERR_FORMAT, "%s: %s: shape %s is too large", path, what,
                             teq_shape_str(ndim, dims, sb, sizeof sb));

    /* Which field carries the data, and how much of it is there. */
    size_t have;      /* bytes (raw) or elements (typed field) */
    size_t want;
    const char *unit;
    if (tp->has_raw_data) {
        have = tp->raw_data.len;
        want = bytes;
        unit = "bytes";
    } else {
        switch (dt) {
        case TEQ_DTYPE_FLOAT: have = tp->n_float_data; break;
        case TEQ_DTYPE_DOUBLE: have = tp->n_double_data; break;
        case TEQ_DTYPE_INT64: have = tp->n_int64_data; break;
        default: have = tp->n_int32_data; break; /* int32, uint8, int8, bool travel as int32 */
        }
        want = (size_t)numel;
        unit = "elements";
    }
    if (have != want)
        return teq_error_set(err, TEQ_ERR_FORMAT, "%s: %s: %zu %s of data for shape %s %s (%zu expected)", path,
                             what, have, unit, teq_shape_str(ndim, dims, sb, sizeof sb), teq_onnx_type_name(dt), want);
    /* Narrow types stored in int32_data must fit. */
    if (!tp->has_raw_data && (dt == TEQ_DTYPE_UINT8 || dt == TEQ_DTYPE_INT8)) {
        int lo = dt == TEQ_DTYPE_UINT8 ? 0 : -128, hi = dt == TEQ_DTYPE_UINT8 ? 255 : 127;
        for (size_t i = 0; i < have; i++)
            if (tp->int32_data[i] < lo || tp->int32_data[i] > hi)
                return teq_error_set(err, TEQ_ERR_FORMAT, "%s: %s: value %d at index %zu is out of range for %s",
                                     path, what, (int)tp->int32_data[i], i, teq_onnx_type_name(dt));
    }

    teq_tensor *t = calloc(1, sizeof *t);
    if (!t) return teq_error_set(err, TEQ_ERR_NOMEM, "%s: %s: out of memory", path, what);
    teq_error e2;
    teq_status s = teq_tensor_reshape_alloc(t, (teq_dtype)dt, ndim, dims, &e2);
    if (s) {
        free(t);
        return teq_error_set(err, s, "%s: %s: %s", path, what, e2.msg);
    }
    size_t n = (size_t)numel;
    if (tp->has_raw_data) {
        copy_le(t->data, tp->raw_data.data, n, es);
    } else {
        switch (dt) {
        case TEQ_DTYPE_FLOAT:
            if (n) memcpy(t->data, tp->float_data, n * sizeof(float));
            break;
        case TEQ_DTYPE_DOUBLE:
            if (n) memcpy(t->data, tp->double_data, n * sizeof(double));
            break;
        case TEQ_DTYPE_INT64:
            if (n) memcpy(t->data, tp->int64_data, n * sizeof(int64_t));
            break;
        case TEQ_DTYPE_INT32:
            if (n) memcpy(t->data, tp->int32_data, n * sizeof(int32_t));
            break;
        case TEQ_DTYPE_UINT8:
            for (size_t i = 0; i < n; i++) ((uint8_t *)t->data)[i] = (uint8_t)tp->int32_data[i];
            break;
        case TEQ_DTYPE_INT8:
            for (size_t i = 0; i < n; i++) ((int8_t *)t->data)[i] = (int8_t)tp->int32_data[i];
            break;
        case TEQ_DTYPE_BOOL:
            for (size_t i = 0; i < n; i++) ((uint8_t *)t->data)[i] = tp->int32_data[i] != 0;
            break;
        default: break;
        }
    }
    /* teq's bools are exactly 0 or 1, whatever byte the writer used for true. */
    if (dt == TEQ_DTYPE_BOOL)
        for (size_t i = 0; i < n; i++) ((uint8_t *)t->data)[i] = ((uint8_t *)t->data)[i] != 0;
    *out = t;
    return TEQ_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The loader */

typedef struct loader {
    const char *path;
    teq_error *err;
    teq_graph *g;
    name_map values;     /* value name -> id */
    name_map node_names; /* node name -> node index (for uniqueness) */
    name_map op_types;   /* op_type -> index in g->op_counts */
    name_map domains;    /* opset domain -> version */
    int cap_op_counts;
    unsigned char *defined; /* per value id: 1 once something produces it */
    int cap_defined;
} loader;

static teq_status oom(loader *ld) { return teq_error_set(ld->err, TEQ_ERR_NOMEM, "%s: out of memory", ld->path); }

/* Id of the value called name, created (undefined) when new; -1 when out of memory. */
static int value_id(loader *ld, const char *name) {
    int id = map_get(&ld->values, name);
    if (id >= 0) return id;
    if (ld->g->n_values >= MAX_ITEMS) return -1;
    id = teq_graph_add_value(ld->g, name);
    if (id < 0) return -1;
    if (id >= ld->cap_defined) {
        int nc = ld->cap_defined ? ld->cap_defined * 2 : 256;
        while (nc <= id) nc *= 2;
        unsigned char *nd = realloc(ld->defined, (size_t)nc);
        if (!nd) return -1;
        memset(nd + ld->cap_defined, 0, (size_t)(nc - ld->cap_defined));
        ld->defined = nd;
        ld->cap_defined = nc;
    }
    ld->defined[id] = 0;
    if (!map_put(&ld->values, ld->g->values[id].name, id)) return -1;
    return id;
}

/* A new value that something defines (initializer, graph input, node output): refuses names that
 * are already defined, since ONNX graphs are in SSA form. Returns TEQ_OK with *id set. */
static teq_status define_value(loader *ld, const char *name, const char *by, int *id) {
    if (!name || !*name)
        return teq_error_set(ld->err, TEQ_ERR_FORMAT, "%s: %s has an empty value name", ld->path, by);
    int v = value_id(ld, name);
    if (v < 0) return oom(ld);
    if (ld->defined[v])
        return teq_error_set(ld->err, TEQ_ERR_FORMAT, "%s: value '%s' is defined twice (again by %s)", ld->path,
                             name, by);
    ld->defined[v] = 1;
    *id = v;
    return TEQ_OK;
}

/* Count one node of op_type for `teq inspect`, keeping first-seen order. */
static teq_status count_op(loader *ld, const char *op_type) {
    teq_graph *g = ld->g;
    int i = map_get(&ld->op_types, op_type);
    if (i >= 0) {
        g->op_counts[i].count++;
        return TEQ_OK;
    }
    if (g->n_op_counts == ld->cap_op_counts) {
        int nc = ld->cap_op_counts ? ld->cap_op_counts * 2 : 16;
        teq_op_count *p = realloc(g->op_counts, sizeof *p * (size_t)nc);
        if (!p) return oom(ld);
        g->op_counts = p;
        ld->cap_op_counts = nc;
    }
    char *s = teq_strdup(op_type);
    if (!s) return oom(ld);
    g->op_counts[g->n_op_counts].op_type = s;
    g->op_counts[g->n_op_counts].count = 1;
    if (!map_put(&ld->op_types, s, g->n_op_counts)) {
        free(s);
        return oom(ld);
    }
    g->n_op_counts++;
    return TEQ_OK;
}

/* Record declared type and shape from vi on value id. strict (graph inputs and outputs) refuses
 * what teq cannot represent; otherwise (value_info) such declarations are just not recorded. */
static teq_status read_value_info(loader *ld, const Onnx__ValueInfoProto *vi, int id, bool strict, const char *what) {
    teq_value *v = &ld->g->values[id];
    const char *name = v->name;
    const Onnx__TypeProto *tp = vi->type;
    if (!tp) return TEQ_OK;
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type) {
        if (!strict) return TEQ_OK;
        return teq_error_set(ld->err, TEQ_ERR_UNSUPPORTED,
                             "%s: %s '%s' is not a tensor (sequence, map, optional and sparse types are not supported)",
                             ld->path, what, name);
    }
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    int et = tt->has_elem_type ? tt->elem_type : 0;
    if (et != 0 && !dtype_supported(et)) {
        if (!strict) return TEQ_OK;
        return teq_error_set(ld->err, TEQ_ERR_UNSUPPORTED, "%s: %s '%s' has data type %s, which teq does not support",
                             ld->path, what, name, teq_onnx_type_name(et));
    }
    const Onnx__TensorShapeProto *sh = tt->shape;
    if (sh && sh->n_dim > TEQ_MAX_DIMS) {
        if (!strict) return TEQ_OK;
        return teq_error_set(ld->err, TEQ_ERR_UNSUPPORTED, "%s: %s '%s' has rank %zu, beyond teq's limit of %d",
                             ld->path, what, name, sh->n_dim, TEQ_MAX_DIMS);
    }
    v->dtype = (teq_dtype)et;
    if (!sh) return TEQ_OK; /* rank unknown: ndim stays -1 */
    for (int d = 0; d < TEQ_MAX_DIMS; d++) {
        free(v->dim_names[d]);
        v->dim_names[d] = NULL;
    }
    v->ndim = (int)sh->n_dim;
    for (int d = 0; d < v->ndim; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = sh->dim[d];
        v->dims[d] = -1;
        if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && dim->dim_value >= 0) {
            v->dims[d] = dim->dim_value;
        } else if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && dim->dim_param &&
                   dim->dim_param[0]) {
            v->dim_names[d] = teq_strdup(dim->dim_param);
            if (!v->dim_names[d]) return oom(ld);
        }
    }
    return TEQ_OK;
}

/* The attribute's type; old writers sometimes leave `type` unset, then it is inferred from the
 * field that is present. */
static int attr_type(const Onnx__AttributeProto *ap) {
    if (ap->has_type && ap->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED) return ap->type;
    if (ap->has_f) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    if (ap->has_i) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    if (ap->has_s) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    if (ap->t) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    if (ap->g) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    if (ap->sparse_tensor) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR;
    if (ap->tp) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO;
    if (ap->n_floats) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    if (ap->n_ints) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    if (ap->n_strings) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
    if (ap->n_tensors) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS;
    if (ap->n_graphs) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS;
    if (ap->n_sparse_tensors) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS;
    if (ap->n_type_protos) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS;
    return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED;
}

static char *bytes_to_cstr(ProtobufCBinaryData b) {
    char *s = malloc(b.len + 1);
    if (!s) return NULL;
    if (b.len) memcpy(s, b.data, b.len);
    s[b.len] = 0;
    return s;
}

/* Copy attribute ap of node (nname, op) into a (zeroed, owned by the graph: partial fills are
 * freed by teq_graph_free). */
static teq_status copy_attr(loader *ld, const char *nname, const char *op, const Onnx__AttributeProto *ap,
                            teq_attr *a) {
    const char *an = str_or_empty(ap->name);
    if (!*an)
        return teq_error_set(ld->err, TEQ_ERR_FORMAT, "%s: node '%s' (%s) has an attribute without a name", ld->path,
                             nname, op);
    if (ap->ref_attr_name && ap->ref_attr_name[0])
        return teq_error_set(ld->err, TEQ_ERR_UNSUPPORTED,
                             "%s: node '%s' (%s): attribute '%s' refers to a function attribute, which is not supported",
                             ld->path, nname, op, an);
    a->name = teq_strdup(an);
    if (!a->name) return oom(ld);
    int type = attr_type(ap);
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        a->type = TEQ_ATTR_FLOAT;
        a->f = ap->f;
        return TEQ_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
        a->type = TEQ_ATTR_INT;
        a->i = ap->i;
        return TEQ_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        a->type = TEQ_ATTR_STRING;
        a->s = bytes_to_cstr(ap->s);
        return a->s ? TEQ_OK : oom(ld);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: {
        a->type = TEQ_ATTR_TENSOR;
        if (!ap->t)
            return teq_error_set(ld->err, TEQ_ERR_FORMAT, "%s: node '%s' (%s): tensor attribute '%s' has no tensor",
                                 ld->path, nname, op, an);
        char what[300];
        snprintf(what, sizeof what, "node '%s' (%s) attribute '%s'", nname, op, an);
        return tensor_from_proto(ap->t, ld->path, what, &a->t, ld->err);
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        a->type = TEQ_ATTR_FLOATS;
        /* Never NULL, so "present but empty" differs from "absent". */
        a->floats = malloc(sizeof(float) * (ap->n_floats ? ap->n_floats : 1));
        if (!a->floats) return oom(ld);
        if (ap->n_floats) memcpy(a->floats, ap->floats, sizeof(float) * ap->n_floats);
        a->n = (int64_t)ap->n_floats;
        return TEQ_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        a->type = TEQ_ATTR_INTS;
        a->ints = malloc(sizeof(int64_t) * (ap->n_ints ? ap->n_ints : 1));
        if (!a->ints) return oom(ld);
        if (ap->n_ints) memcpy(a->ints, ap->ints, sizeof(int64_t) * ap->n_ints);
        a->n = (int64_t)ap->n_ints;
        return TEQ_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS:
        a->type = TEQ_ATTR_STRINGS;
        a->strings = calloc(ap->n_strings ? ap->n_strings : 1, sizeof(char *));
        if (!a->strings) return oom(ld);
        a->n = (int64_t)ap->n_strings; /* set first: teq_attr_free frees the filled prefix */
        for (size_t i = 0; i < ap->n_strings; i++)
            if (!(a->strings[i] = bytes_to_cstr(ap->strings[i]))) return oom(ld);
        return TEQ_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS:
        return teq_error_set(ld->err, TEQ_ERR_UNSUPPORTED,
                             "%s: node '%s' (%s): attribute '%s' holds a subgraph (control flow such as If, Loop and "
                             "Scan is not supported)",
                             ld->path, nname, op, an);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED:
        return teq_error_set(ld->err, TEQ_ERR_FORMAT, "%s: node '%s' (%s): attribute '%s' has no type and no value",
                             ld->path, nname, op, an);
    default:
        return teq_error_set(ld->err, TEQ_ERR_UNSUPPORTED,
                             "%s: node '%s' (%s): attribute '%s' has type %d (sparse tensors, tensor lists and type "
                             "protos are not supported)",
                             ld->path, nname, op, an, type);
    }
}

static int cmp_cstr_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Refuse a node whose attributes repeat a name (sorting keeps this n log n on crafted input). */
static teq_status check_attr_names(loader *ld, const teq_node *n) {
    if (n->n_attr < 2) return TEQ_OK;
    const char **names = malloc(sizeof *names * (size_t)n->n_attr);
    if (!names) return oom(ld);
    for (int i = 0; i < n->n_attr; i++) names[i] = n->attr[i].name;
    qsort(names, (size_t)n->n_attr, sizeof *names, cmp_cstr_ptr);
    teq_status s = TEQ_OK;
    for (int i = 1; i < n->n_attr && !s; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            s = teq_error_set(ld->err, TEQ_ERR_FORMAT, "%s: node '%s' (%s) has attribute '%s' twice", ld->path, n->name,
                              n->op_type, names[i]);
    free(names);
    return s;
}

/* A `Constant` node: its output becomes a constant value; no node is added. */
static teq_status load_constant(loader *ld, const Onnx__NodeProto *np, const char *nname) {
    if (np->n_output != 1 || np->n_input != 0)
        return teq_error_set(ld->err, TEQ_ERR_FORMAT, "%s: Constant node '%s' must have no inputs and one output",
                             ld->path, nname);
    if (np->n_attribute != 1)
        return teq_error_set(ld->err, TEQ_ERR_FORMAT, "%s: Constant node '%s' must have exactly one attribute",
                             ld->path, nname);
    const Onnx__AttributeProto *ap = np->attribute[0];
    const char *an = str_or_empty(ap->name);
    int type = attr_type(ap);
    teq_tensor *t = NULL;
    teq_status s = TEQ_OK;
    char what[300];
    snprintf(what, sizeof what, "Constant node '%s' attribute '%s'", nname, an);
    if (strcmp(an, "value") == 0 && type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR) {
        if (!ap->t)
            return teq_error_set(ld->err, TEQ_ERR_FORMAT, "%s: Constant node '%s': attribute 'value' holds no tensor",
                                 ld->path, nname);
        s = tensor_from_proto(ap->t, ld->path, what, &t, ld->err);
    } else if (strcmp(an, "value_float") == 0 && type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT) {
        s = teq_tensor_create(TEQ_DTYPE_FLOAT, 0, NULL, &t, NULL) ? oom(ld) : TEQ_OK;
        if (!s) *(float *)t->data = ap->f;
    } else if (strcmp(an, "value_int") == 0 && type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT) {
        s = teq_tensor_create(TEQ_DTYPE_INT64, 0, NULL, &t, NULL) ? oom(ld) : TEQ_OK;
        if (!s) *(int64_t *)t->data = ap->i;
    } else if (strcmp(an, "value_floats") == 0 && (type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS ||
                                                   type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)) {
        int64_t d = (int64_t)ap->n_floats;
        s = teq_tensor_create(TEQ_DTYPE_FLOAT, 1, &d, &t, NULL) ? oom(ld) : TEQ_OK;
        if (!s && d) memcpy(t->data, ap->floats, sizeof(float) * ap->n_floats);
    } else if (strcmp(an, "value_ints") == 0 && (type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS ||
                                                 type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)) {
        int64_t d = (int64_t)ap->n_ints;
        s = teq_tensor_create(TEQ_DTYPE_INT64, 1, &d, &t, NULL) ? oom(ld) : TEQ_OK;
        if (!s && d) memcpy(t->data, ap->ints, sizeof(int64_t) * ap->n_ints);
    } else {
        return teq_error_set(ld->err, TEQ_ERR_UNSUPPORTED,
                             "%s: Constant node '%s': attribute '%s' is not supported (value, value_float(s) and "
                             "value_int(s) are)",
                             ld->path, nname, an);
    }
    if (s) return s;
    int id;
    char by[300];
    snprintf(by, sizeof by, "Constant node '%s'", nname);
    s = define_value(ld, np->output[0], by, &id);
    if (s) {
        teq_tensor_free(t);
        return s;
    }
    teq_value *v = &ld->g->values[id];
    v->constant = t;
    v->dtype = t->dtype;
    v->ndim = t->ndim;
    memcpy(v->dims, t->dims, sizeof v->dims);
    return TEQ_OK;
}

/* Unique, non-empty node name: the file's name, or "<op_type>_<index>" when it has none; a name
 * already taken gets "_<index>" (then "_<k>") appended. Returns a malloc'd string or NULL. */
static char *unique_node_name(loader *ld, const char *name, const char *op, size_t index) {
    size_t bl = (*name ? strlen(name) : strlen(op)) + 64;
    char *base = malloc(bl), *cand = malloc(bl + 32);
    if (!base || !cand) {
        free(base);
        free(cand);
        return NULL;
    }
    if (*name)
        snprintf(base, bl, "%s", name);
    else
        snprintf(base, bl, "%s_%zu", op, index);
    snprintf(cand, bl + 32, "%s", base);
    if (map_get(&ld->node_names, cand) >= 0) {
        snprintf(cand, bl + 32, "%s_%zu", base, index);
        /* Only a crafted file collides again; each extra probe is paid for by a node holding that name. */
        for (unsigned k = 1; map_get(&ld->node_names, cand) >= 0; k++) snprintf(cand, bl + 32, "%s_%zu_%u", base, index, k);
    }
    free(base);
    return cand;
}

/* One non-Constant node: values for its inputs and outputs, its attributes. */
static teq_status load_node(loader *ld, const Onnx__NodeProto *np, size_t index, const char *op, bool default_domain,
                            int *ins, int *outs) {
    teq_graph *g = ld->g;
    const char *dom = default_domain ? "" : str_or_empty(np->domain);
    int ver = map_get(&ld->domains, dom);
    if (ver < 0) {
        if (default_domain)
            return teq_error_set(ld->err, TEQ_ERR_FORMAT,
                                 "%s: node %zu (%s): the model imports no opset for the default ONNX domain", ld->path,
                                 index, op);
        ver = 0; /* foreign domain without an import: the operator lookup refuses the node */
    }
    char *uname = unique_node_name(ld, str_or_empty(np->name), op, index);
    if (!uname) return oom(ld);
    teq_status s = TEQ_OK;
    for (size_t k = 0; k < np->n_input; k++) {
        const char *in = str_or_empty(np->input[k]);
        ins[k] = *in ? value_id(ld, in) : -1;
        if (*in && ins[k] < 0) {
            free(uname);
            return oom(ld);
        }
    }
    char by[400];
    snprintf(by, sizeof by, "node '%s' (%s)", uname, op);
    for (size_t k = 0; k < np->n_output; k++) {
        const char *o = str_or_empty(np->output[k]);
        outs[k] = -1;
        if (*o && (s = define_value(ld, o, by, &outs[k]))) {
            free(uname);
            return s;
        }
    }
    int nid = teq_graph_add_node(g, uname, op, dom, ver, (int)np->n_input, ins, (int)np->n_output, outs);
    free(uname);
    if (nid < 0) return oom(ld);
    teq_node *n = &g->nodes[nid];
    if (!map_put(&ld->node_names, n->name, nid)) return oom(ld);
    for (size_t k = 0; k < np->n_output; k++)
        if (outs[k] >= 0) g->values[outs[k]].producer = nid;
    if (np->n_attribute) {
        n->attr = calloc(np->n_attribute, sizeof *n->attr);
        if (!n->attr) return oom(ld);
        n->n_attr = (int)np->n_attribute; /* zeroed entries are safe to free */
        for (size_t a = 0; a < np->n_attribute; a++)
            if ((s = copy_attr(ld, n->name, op, np->attribute[a], &n->attr[a]))) return s;
        if ((s = check_attr_names(ld, n))) return s;
    }
    return TEQ_OK;
}

static teq_status load_model(loader *ld, const Onnx__ModelProto *m) {
    const Onnx__GraphProto *gp = m->graph;
    teq_graph *g = ld->g;
    teq_status s;

    /* Opset per domain; "ai.onnx" is another spelling of the default domain. */
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *op = m->opset_import[i];
        const char *dom = str_or_empty(op->domain);
        if (strcmp(dom, "ai.onnx") == 0) dom = "";
        int64_t v = op->has_version ? op->version : 0;
        if (v < 1 || v > INT_MAX)
            return teq_error_set(ld->err, TEQ_ERR_FORMAT, "%s: opset_import for domain '%s' has invalid version %lld",
                                 ld->path, dom, (long long)v);
        if (!map_put(&ld->domains, dom, (int)v)) return oom(ld);
    }
    int dv = map_get(&ld->domains, "");
    g->opset = dv > 0 ? dv : 0;

    /* Bound the id space before building anything (ids are int). */
    size_t refs = gp->n_initializer + gp->n_input + gp->n_output;
    size_t max_in = 0, max_out = 0;
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        refs += np->n_input + np->n_output;
        if (np->n_input > max_in) max_in = np->n_input;
        if (np->n_output > max_out) max_out = np->n_output;
        if (np->n_attribute > (size_t)MAX_ITEMS || refs > (size_t)MAX_ITEMS) break;
    }
    if (refs > (size_t)MAX_ITEMS || gp->n_node > (size_t)MAX_ITEMS || max_in > (size_t)MAX_ITEMS ||
        max_out > (size_t)MAX_ITEMS)
        return teq_error_set(ld->err, TEQ_ERR_UNSUPPORTED, "%s: graph is too large (%zu nodes, %zu value references)",
                             ld->path, gp->n_node, refs);
    if (gp->n_sparse_initializer)
        return teq_error_set(ld->err, TEQ_ERR_UNSUPPORTED, "%s: sparse initializers are not supported", ld->path);

    /* Initializers: constant values. */
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        const char *name = str_or_empty(tp->name);
        if (!*name)
            return teq_error_set(ld->err, TEQ_ERR_FORMAT, "%s: initializer %zu has no name", ld->path, i);
        char what[300];
        snprintf(what, sizeof what, "tensor '%s'", name);
        teq_tensor *t;
        if ((s = tensor_from_proto(tp, ld->path, what, &t, ld->err))) return s;
        int id;
        if ((s = define_value(ld, name, "an initializer", &id))) {
            teq_tensor_free(t);
            return s;
        }
        teq_value *v = &g->values[id];
        v->constant = t;
        v->dtype = t->dtype;
        v->ndim = t->ndim;
        memcpy(v->dims, t->dims, sizeof v->dims);
    }

    /* Graph inputs, less those that merely declare an initializer (which stays constant). */
    g->inputs = malloc(sizeof(int) * (gp->n_input ? gp->n_input : 1));
    if (!g->inputs) return oom(ld);
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        const char *name = str_or_empty(vi->name);
        if (!*name) return teq_error_set(ld->err, TEQ_ERR_FORMAT, "%s: graph input %zu has no name", ld->path, i);
        int id = map_get(&ld->values, name);
        if (id >= 0 && g->values[id].constant) continue;
        if ((s = define_value(ld, name, "a graph input", &id))) return s;
        if ((s = read_value_info(ld, vi, id, true, "input"))) return s;
        g->inputs[g->n_inputs++] = id;
    }

    /* Nodes. */
    int *ins = malloc(sizeof(int) * (max_in ? max_in : 1));
    int *outs = malloc(sizeof(int) * (max_out ? max_out : 1));
    if (!ins || !outs) {
        free(ins);
        free(outs);
        return oom(ld);
    }
    s = TEQ_OK;
    for (size_t i = 0; i < gp->n_node && !s; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        const char *op = str_or_empty(np->op_type);
        if (!*op) {
            s = teq_error_set(ld->err, TEQ_ERR_FORMAT, "%s: node %zu ('%s') has no op_type", ld->path, i,
                              str_or_empty(np->name));
            break;
        }
        const char *dom = str_or_empty(np->domain);
        bool dflt = !*dom || strcmp(dom, "ai.onnx") == 0;
        if ((s = count_op(ld, op))) break;
        if (dflt && strcmp(op, "Constant") == 0) {
            /* The node name only appears in messages; a missing one is described by position. */
            char nm[64];
            const char *nn = str_or_empty(np->name);
            if (!*nn) {
                snprintf(nm, sizeof nm, "Constant_%zu", i);
                nn = nm;
            }
            s = load_constant(ld, np, nn);
        } else {
            s = load_node(ld, np, i, op, dflt, ins, outs);
        }
    }
    free(ins);
    free(outs);
    if (s) return s;

    /* Graph outputs: values produced above (or, if not, left for the planner to refuse). */
    g->outputs = malloc(sizeof(int) * (gp->n_output ? gp->n_output : 1));
    if (!g->outputs) return oom(ld);
    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        const char *name = str_or_empty(vi->name);
        if (!*name) return teq_error_set(ld->err, TEQ_ERR_FORMAT, "%s: graph output %zu has no name", ld->path, i);
        int id = value_id(ld, name);
        if (id < 0) return oom(ld);
        g->outputs[g->n_outputs++] = id;
        if (!g->values[id].constant && (s = read_value_info(ld, vi, id, true, "output"))) return s;
    }

    /* Intermediate shapes, where declared and not already known. */
    for (size_t i = 0; i < gp->n_value_info; i++) {
        const Onnx__ValueInfoProto *vi = gp->value_info[i];
        int id = map_get(&ld->values, str_or_empty(vi->name));
        if (id < 0 || g->values[id].constant || g->values[id].ndim >= 0) continue;
        if ((s = read_value_info(ld, vi, id, false, "value"))) return s;
    }
    return TEQ_OK;
}

teq_status teq_onnx_load_buffer(const uint8_t *buf, size_t len, const char *path, teq_graph **out, teq_error *err) {
    if (!out) return teq_error_set(err, TEQ_ERR_ARG, "teq_onnx_load_buffer: out is NULL");
    *out = NULL;
    if (!path) path = "<memory>";
    if (!buf || len == 0) return teq_error_set(err, TEQ_ERR_FORMAT, "%s: file is empty", path);
    if (len > MAX_FILE_BYTES)
        return teq_error_set(err, TEQ_ERR_FORMAT, "%s: file is larger than 2 GiB (the protobuf limit)", path);
    if (!nesting_ok(buf, len, &onnx__model_proto__descriptor, 0))
        return teq_error_set(err, TEQ_ERR_FORMAT, "%s: not a valid ONNX model (messages nested more than %d deep)",
                             path, MAX_NESTING);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
    if (!m) return teq_error_set(err, TEQ_ERR_FORMAT, "%s: not a valid ONNX model (protobuf parse failed)", path);
    if (!m->graph) {
        onnx__model_proto__free_unpacked(m, NULL);
        return teq_error_set(err, TEQ_ERR_FORMAT, "%s: not a valid ONNX model (it has no graph)", path);
    }
    loader ld;
    memset(&ld, 0, sizeof ld);
    ld.path = path;
    ld.err = err;
    ld.g = teq_graph_new();
    teq_status s = ld.g ? load_model(&ld, m) : teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
    map_free(&ld.values);
    map_free(&ld.node_names);
    map_free(&ld.op_types);
    map_free(&ld.domains); /* its keys point into m: free the map first */
    free(ld.defined);
    onnx__model_proto__free_unpacked(m, NULL);
    if (s) {
        teq_graph_free(ld.g);
        return s;
    }
    teq_error_clear(err);
    *out = ld.g;
    return TEQ_OK;
}

teq_status teq_onnx_load_file(const char *path, teq_graph **out, teq_error *err) {
    if (!out || !path) return teq_error_set(err, TEQ_ERR_ARG, "teq_onnx_load_file: NULL argument");
    *out = NULL;
    uint8_t *buf;
    size_t len;
    teq_status s = read_whole_file(path, &buf, &len, err);
    if (s) return s;
    s = teq_onnx_load_buffer(buf, len, path, out, err);
    free(buf);
    return s;
}

teq_status teq_onnx_read_tensor_file(const char *path, teq_tensor **out, char **name, teq_error *err) {
    if (!out || !path) return teq_error_set(err, TEQ_ERR_ARG, "teq_onnx_read_tensor_file: NULL argument");
    *out = NULL;
    if (name) *name = NULL;
    uint8_t *buf;
    size_t len;
    teq_status s = read_whole_file(path, &buf, &len, err);
    if (s) return s;
    /* TensorProto cannot nest recursively (only Segment and key/value entries), so no depth check. */
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, buf);
    free(buf);
    if (!tp) return teq_error_set(err, TEQ_ERR_FORMAT, "%s: not a valid ONNX tensor (protobuf parse failed)", path);
    char what[300];
    snprintf(what, sizeof what, "tensor '%s'", str_or_empty(tp->name));
    teq_tensor *t;
    s = tensor_from_proto(tp, path, what, &t, err);
    if (!s && name && !(*name = teq_strdup(str_or_empty(tp->name)))) {
        teq_tensor_free(t);
        s = teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
    }
    onnx__tensor_proto__free_unpacked(tp, NULL);
    if (s) return s;
    teq_error_clear(err);
    *out = t;
    return TEQ_OK;
}
