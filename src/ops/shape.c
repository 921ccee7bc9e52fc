/* Data-movement operators: Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat, Split,
 * Slice, Gather, GatherElements, Expand, Tile, Pad, ConstantOfShape, Range, Resize, Upsample,
 * DepthToSpace, SpaceToDepth, Trilu, Constant, NonZero.
 *
 * Most of them only move elements, so they work for every dtype teq holds by copying element-size
 * bytes. Many reduce to one strided copy (a "view": output dims and, per output dim, a stride into
 * the source), which is simplified (unit dims dropped, contiguous dims merged) and then run as
 * memcpy rows, strided rows, or a cache-blocked 2-D transpose. Tensors are row-major throughout. */
#include "ops.h"
#include "../kernels/kernels.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Element counts above which copies are split across threads. */
#define PAR_MIN ((int64_t)1 << 16)
/* Views may have up to twice the tensor rank (Tile interleaves a repeat dim before each dim). */
#define MAX_VIEW (2 * TEQ_MAX_DIMS)

/* ------------------------------------------------------------------ small helpers */

static int threads_for(const teq_exec_ctx *ctx, int64_t work) {
    int t = teq_ctx_threads(ctx);
    return (work >= PAR_MIN && t > 1) ? t : 1;
}

static bool is_int_tensor(const teq_tensor *t) {
    return t->dtype == TEQ_DTYPE_INT64 || t->dtype == TEQ_DTYPE_INT32;
}

/* Element i of an int64 or int32 tensor. */
static inline int64_t iat(const teq_tensor *t, int64_t i) {
    return t->dtype == TEQ_DTYPE_INT64 ? ((const int64_t *)t->data)[i] : (int64_t)((const int32_t *)t->data)[i];
}

/* Element i of any numeric tensor as double. */
static double dat(const teq_tensor *t, int64_t i) {
    switch (t->dtype) {
    case TEQ_DTYPE_FLOAT: return ((const float *)t->data)[i];
    case TEQ_DTYPE_DOUBLE: return ((const double *)t->data)[i];
    case TEQ_DTYPE_INT64: return (double)((const int64_t *)t->data)[i];
    case TEQ_DTYPE_INT32: return ((const int32_t *)t->data)[i];
    case TEQ_DTYPE_INT8: return ((const int8_t *)t->data)[i];
    case TEQ_DTYPE_UINT8: return ((const uint8_t *)t->data)[i];
    case TEQ_DTYPE_BOOL: return ((const uint8_t *)t->data)[i] != 0;
    default: return 0;
    }
}

/* Write v (converted the way a cast would) as one element of dtype into dst. */
static void store_scalar(void *dst, teq_dtype dt, double v) {
    switch (dt) {
    case TEQ_DTYPE_FLOAT: *(float *)dst = (float)v; break;
    case TEQ_DTYPE_DOUBLE: *(double *)dst = v; break;
    case TEQ_DTYPE_INT64: *(int64_t *)dst = isfinite(v) && fabs(v) < 9.2e18 ? (int64_t)v : 0; break;
    case TEQ_DTYPE_INT32: *(int32_t *)dst = isfinite(v) && fabs(v) < 2.1e9 ? (int32_t)v : 0; break;
    case TEQ_DTYPE_INT8: *(int8_t *)dst = (int8_t)(isfinite(v) && fabs(v) < 128 ? (int)v : 0); break;
    case TEQ_DTYPE_UINT8: *(uint8_t *)dst = (uint8_t)(isfinite(v) && v >= 0 && v < 256 ? (int)v : 0); break;
    case TEQ_DTYPE_BOOL: *(uint8_t *)dst = v != 0; break;
    default: break;
    }
}

/* Element size of t's dtype, failing for a dtype teq does not hold. */
static teq_status elem_size(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *t, const char *what,
                            size_t *es) {
    *es = teq_dtype_size(t->dtype);
    if (*es == 0)
        return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "%s has unsupported data type %d", what, (int)t->dtype);
    return TEQ_OK;
}

/* teq_ctx_alloc after checking the size here, so that an absurd output shape fails with a message
 * naming the node. */
static teq_status alloc_out(teq_exec_ctx *ctx, const teq_node *node, teq_tensor *t, teq_dtype dt, int ndim,
                            const int64_t *dims) {
    int64_t numel;
    size_t bytes;
    char b[160];
    if (ndim > TEQ_MAX_DIMS)
        return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "output rank %d exceeds %d", ndim, TEQ_MAX_DIMS);
    if (!teq_dims_numel(ndim, dims, &numel) || !teq_mul_size((size_t)numel, teq_dtype_size(dt), &bytes) ||
        bytes > TEQ_MAX_TENSOR_BYTES)
        return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "output shape %s is invalid or too large",
                           teq_shape_str(ndim, dims, b, sizeof b));
    return teq_ctx_alloc(ctx, t, dt, ndim, dims);
}

/* Map axis a of a rank-r tensor from [-r, r-1] to [0, r-1]; false when out of range. */
static bool norm_axis(int64_t a, int r, int *out) {
    if (a < -(int64_t)r || a >= (int64_t)r) return false;
    *out = (int)(a < 0 ? a + r : a);
    return true;
}

/* Read a 1-D (or scalar) int64/int32 tensor of at most cap values into out. */
static teq_status read_int_list(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *t, const char *what,
                                int64_t *out, int64_t cap, int64_t *n) {
    if (!is_int_tensor(t))
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "%s must be int64 or int32, got %s", what,
                           teq_dtype_name(t->dtype));
    if (t->ndim > 1) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "%s must be 1-D, got rank %d", what, t->ndim);
    int64_t k = teq_tensor_numel(t);
    if (k > cap)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "%s has %lld values, at most %lld allowed", what, (long long)k,
                           (long long)cap);
    for (int64_t i = 0; i < k; i++) out[i] = iat(t, i);
    *n = k;
    return TEQ_OK;
}

/* Read an INTS attribute of at most cap values. present tells whether it exists. */
static teq_status read_attr_ints(teq_exec_ctx *ctx, const teq_node *node, const char *name, int64_t *out,
                                 int64_t cap, int64_t *n, bool *present) {
    const teq_attr *a = teq_node_attr(node, name);
    *n = 0;
    *present = a != NULL;
    if (!a) return TEQ_OK;
    if (a->type == TEQ_ATTR_INT) { /* tolerate a single int where a list is meant */
        if (cap < 1) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "attribute '%s' has too many values", name);
        out[0] = a->i;
        *n = 1;
        return TEQ_OK;
    }
    if (a->type != TEQ_ATTR_INTS) return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "attribute '%s' must be ints", name);
    if (a->n > cap)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "attribute '%s' has %lld values, at most %lld allowed", name,
                           (long long)a->n, (long long)cap);
    for (int64_t i = 0; i < a->n; i++) out[i] = a->ints[i];
    *n = a->n;
    return TEQ_OK;
}

/* Row-major strides (in elements) of dims. */
static void strides_of(int nd, const int64_t *dims, int64_t *st) {
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        st[i] = s;
        s *= dims[i];
    }
}

/* Multi-index idx over dims[0..n-1] of flat (row-major) position r. */
static void unravel(int64_t r, int n, const int64_t *dims, int64_t *idx) {
    for (int d = n - 1; d >= 0; d--) {
        idx[d] = dims[d] ? r % dims[d] : 0;
        r = dims[d] ? r / dims[d] : 0;
    }
}

/* Advance a row-major multi-index by one. */
static inline void incr(int n, const int64_t *dims, int64_t *idx) {
    for (int d = n - 1; d >= 0; d--) {
        if (++idx[d] < dims[d]) return;
        idx[d] = 0;
    }
}

/* memcpy over threads for large copies. */
static void par_memcpy(const teq_exec_ctx *ctx, void *dst, const void *src, size_t bytes) {
    int nt = bytes >= ((size_t)1 << 20) ? teq_ctx_threads(ctx) : 1;
    if (nt <= 1 || bytes == 0) {
        if (bytes) memcpy(dst, src, bytes);
        return;
    }
    size_t chunk = (bytes + (size_t)nt - 1) / (size_t)nt;
#pragma omp parallel for num_threads(nt)
    for (int i = 0; i < nt; i++) {
        size_t b0 = (size_t)i * chunk, b1 = b0 + chunk < bytes ? b0 + chunk : bytes;
        if (b0 < b1) memcpy((char *)dst + b0, (const char *)src + b0, b1 - b0);
    }
}

/* Copy n elements of size es from src (element stride sstride, may be 0 or negative) to contiguous dst. */
static inline void copy_strided(char *restrict dst, const char *restrict src, int64_t n, int64_t sstride, size_t es) {
    if (sstride == 1) {
        memcpy(dst, src, (size_t)n * es);
        return;
    }
    switch (es) {
    case 1:
        for (int64_t i = 0; i < n; i++) ((uint8_t *)dst)[i] = ((const uint8_t *)src)[i * sstride];
        break;
    case 2:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = ((const uint16_t *)src)[i * sstride];
        break;
    case 4:
        for (int64_t i = 0; i < n; i++) ((uint32_t *)dst)[i] = ((const uint32_t *)src)[i * sstride];
        break;
    case 8:
        for (int64_t i = 0; i < n; i++) ((uint64_t *)dst)[i] = ((const uint64_t *)src)[i * sstride];
        break;
    default:
        for (int64_t i = 0; i < n; i++) memcpy(dst + (size_t)i * es, src + i * sstride * (int64_t)es, es);
    }
}

/* Copy one element of size es. */
static inline void copy_one(char *restrict dst, const char *restrict src, size_t es) {
    switch (es) {
    case 1: *(uint8_t *)dst = *(const uint8_t *)src; break;
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    default: memcpy(dst, src, es);
    }
}

/* Fill n elements of size es at dst with the element at val. */
static void fill_elems(char *dst, int64_t n, const void *val, size_t es) {
    bool zero = true;
    for (size_t b = 0; b < es; b++) zero &= ((const uint8_t *)val)[b] == 0;
    if (zero) {
        memset(dst, 0, (size_t)n * es);
        return;
    }
    switch (es) {
    case 1: memset(dst, *(const uint8_t *)val, (size_t)n); break;
    case 4: {
        uint32_t v;
        memcpy(&v, val, 4);
        for (int64_t i = 0; i < n; i++) ((uint32_t *)dst)[i] = v;
        break;
    }
    case 8: {
        uint64_t v;
        memcpy(&v, val, 8);
        for (int64_t i = 0; i < n; i++) ((uint64_t *)dst)[i] = v;
        break;
    }
    default:
        for (int64_t i = 0; i < n; i++) memcpy(dst + (size_t)i * es, val, es);
    }
}

/* ------------------------------------------------------------------ strided views */

/* out[i0,...,in-1] = src[base + sum i_d * strides[d]], out contiguous in row-major order. */
typedef struct view {
    int nd;
    int64_t dims[MAX_VIEW];
    int64_t strides[MAX_VIEW]; /* in source elements; 0 broadcasts, negative walks backwards */
    int64_t base;
} view;

/* Drop unit dims and merge dim pairs that are contiguous with each other in the source. */
static void view_simplify(view *v) {
    int k = 0;
    for (int d = 0; d < v->nd; d++) {
        if (v->dims[d] == 1) continue;
        if (k > 0 && v->strides[k - 1] == v->strides[d] * v->dims[d]) {
            v->dims[k - 1] *= v->dims[d];
            v->strides[k - 1] = v->strides[d];
            continue;
        }
        v->dims[k] = v->dims[d];
        v->strides[k] = v->strides[d];
        k++;
    }
    v->nd = k;
}

/* A deinterleave, out[a][b] = s[b * A + a] for b in [b0, b1), with A (2..8) a constant: one pass of A output
 * streams, one load and one store an element, which the compiler vectorizes (NHWC -> NCHW of an image) */
#define DEINT_A(A)                                                                                                     \
    static void deint##A(const uint32_t *restrict s, uint32_t *restrict o, int64_t oA, int64_t b0, int64_t b1) {     \
        for (int64_t b = b0; b < b1; b++)                                                                              \
            for (int a = 0; a < A; a++) o[a * oA + b] = s[b * A + a];                                                   \
    }
DEINT_A(2)
DEINT_A(3)
DEINT_A(4)
DEINT_A(5)
DEINT_A(6)
DEINT_A(7)
DEINT_A(8)
#undef DEINT_A

static void deint(const uint32_t *s, uint32_t *o, int64_t A, int64_t oA, int64_t b0, int64_t b1) {
    switch (A) {
    case 2: deint2(s, o, oA, b0, b1); break;
    case 3: deint3(s, o, oA, b0, b1); break;
    case 4: deint4(s, o, oA, b0, b1); break;
    case 5: deint5(s, o, oA, b0, b1); break;
    case 6: deint6(s, o, oA, b0, b1); break;
    case 7: deint7(s, o, oA, b0, b1); break;
    default: deint8(s, o, oA, b0, b1); break;
    }
}

/* Cache-blocked copy for views whose innermost dim is strided but some other dim j is unit-stride in
 * the source: a (batched) 2-D transpose. Tiles of TB x TB keep both sides in cache. */
#define TB 16
static void view_copy_tiled(const teq_exec_ctx *ctx, char *dst, const char *src, size_t es, const view *v, int j) {
    int nd = v->nd, last = nd - 1;
    int64_t ostr[MAX_VIEW];
    strides_of(nd, v->dims, ostr);
    /* The other dims form the batch. */
    int nb = 0;
    int64_t bdims[MAX_VIEW], bistr[MAX_VIEW], bostr[MAX_VIEW];
    for (int d = 0; d < last; d++)
        if (d != j) {
            bdims[nb] = v->dims[d];
            bistr[nb] = v->strides[d];
            bostr[nb] = ostr[d];
            nb++;
        }
    int64_t nbatch = 1;
    for (int d = 0; d < nb; d++) nbatch *= bdims[d];
    int64_t A = v->dims[j], B = v->dims[last], sB = v->strides[last], oA = ostr[j];
    /* the last two dims [B][A] of the source, A <= 8 of them, becoming [A][B] go by deint in chunks of DB
     * columns: 4 x 16 tiles did little (M-LSD's 320 x 320 x 4 input to NCHW: 0.19 ms by tiles, 0.04 by deint;
     * ORT 0.044) */
    enum { DB = 4096 };
    const int dein = es == 4 && j == last - 1 && sB == A && A >= 2 && A <= 8;
    int64_t ta = (A + TB - 1) / TB, tb = (B + TB - 1) / TB, per = dein ? (B + DB - 1) / DB : ta * tb;
    int64_t items = nbatch * per;
    int nt = threads_for(ctx, nbatch * A * B);
    if (items < nt) nt = (int)items;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t it = 0; it < items; it++) {
        int64_t bi = it / per, rem = it % per;
        int64_t idx[MAX_VIEW];
        unravel(bi, nb, bdims, idx);
        int64_t io = v->base, oo = 0;
        for (int d = 0; d < nb; d++) {
            io += idx[d] * bistr[d];
            oo += idx[d] * bostr[d];
        }
        if (dein) {
            const int64_t b0 = rem * DB, b1 = b0 + DB < B ? b0 + DB : B;
            deint((const uint32_t *)src + io, (uint32_t *)dst + oo, A, oA, b0, b1);
            continue;
        }
        int64_t a0 = (rem / tb) * TB, b0 = (rem % tb) * TB;
        int64_t a1 = a0 + TB < A ? a0 + TB : A, b1 = b0 + TB < B ? b0 + TB : B;
        switch (es) {
        case 4: {
            const uint32_t *s = (const uint32_t *)src + io;
            uint32_t *o = (uint32_t *)dst + oo;
            for (int64_t a = a0; a < a1; a++)
                for (int64_t b = b0; b < b1; b++) o[a * oA + b] = s[a + b * sB];
            break;
        }
        case 8: {
            const uint64_t *s = (const uint64_t *)src + io;
            uint64_t *o = (uint64_t *)dst + oo;
            for (int64_t a = a0; a < a1; a++)
                for (int64_t b = b0; b < b1; b++) o[a * oA + b] = s[a + b * sB];
            break;
        }
        case 1: {
            const uint8_t *s = (const uint8_t *)src + io;
            uint8_t *o = (uint8_t *)dst + oo;
            for (int64_t a = a0; a < a1; a++)
                for (int64_t b = b0; b < b1; b++) o[a * oA + b] = s[a + b * sB];
            break;
        }
        default:
            for (int64_t a = a0; a < a1; a++)
                for (int64_t b = b0; b < b1; b++)
                    memcpy(dst + (size_t)(oo + a * oA + b) * es, src + (size_t)(io + a + b * sB) * es, es);
        }
    }
}

/* Run a view: dst (contiguous, numel of the view) from src. */
static void view_copy(const teq_exec_ctx *ctx, void *dst, const void *src, size_t es, const view *v0) {
    view v = *v0;
    int64_t total = 1;
    for (int d = 0; d < v.nd; d++) total *= v.dims[d];
    if (total == 0) return;
    view_simplify(&v);
    const char *s = (const char *)src;
    char *o = (char *)dst;
    if (v.nd == 0) {
        memcpy(o, s + v.base * (int64_t)es, es);
        return;
    }
    int last = v.nd - 1;
    int64_t inner = v.dims[last], istr = v.strides[last];
    if (istr == 0 && inner == total) { /* broadcast of one element */
        fill_elems(o, total, s + v.base * (int64_t)es, es);
        return;
    }
    if (istr != 1 && v.nd >= 2 && inner >= 4) {
        for (int j = last - 1; j >= 0; j--)
            if (v.strides[j] == 1 && v.dims[j] >= 4) {
                view_copy_tiled(ctx, o, s, es, &v, j);
                return;
            }
    }
    int64_t rows = total / inner;
    int nt = threads_for(ctx, total);
    if (rows < nt) nt = (int)rows;
    if (nt <= 1 && rows == 1) {
        copy_strided(o, s + v.base * (int64_t)es, inner, istr, es);
        return;
    }
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        int64_t r0 = rows * tid / nth, r1 = rows * (tid + 1) / nth;
        int64_t idx[MAX_VIEW];
        unravel(r0, last, v.dims, idx);
        int64_t off = v.base;
        for (int d = 0; d < last; d++) off += idx[d] * v.strides[d];
        for (int64_t r = r0; r < r1; r++) {
            copy_strided(o + (size_t)(r * inner) * es, s + off * (int64_t)es, inner, istr, es);
            /* odometer with incremental source offset */
            for (int d = last - 1; d >= 0; d--) {
                off += v.strides[d];
                if (++idx[d] < v.dims[d]) break;
                off -= v.strides[d] * v.dims[d];
                idx[d] = 0;
            }
        }
    }
}

/* ------------------------------------------------------------------ Shape, Size */

/* Shape: any tensor -> int64 [end-start] (opset 15 start/end slice the shape, clamped). */
static teq_status op_shape(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                           teq_tensor *const *out) {
    int r = in[0]->ndim;
    int64_t start = 0, end = r;
    if (node->opset >= 15) {
        start = teq_node_attr_int(node, "start", 0);
        end = teq_node_attr_int(node, "end", r);
    }
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    int64_t n = end > start ? end - start : 0;
    teq_status s = alloc_out(ctx, node, out[0], TEQ_DTYPE_INT64, 1, &n);
    if (s) return s;
    for (int64_t i = 0; i < n; i++) ((int64_t *)out[0]->data)[i] = in[0]->dims[start + i];
    return TEQ_OK;
}

/* Size: any tensor -> int64 scalar element count. */
static teq_status op_size(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                          teq_tensor *const *out) {
    teq_status s = alloc_out(ctx, node, out[0], TEQ_DTYPE_INT64, 0, NULL);
    if (s) return s;
    *(int64_t *)out[0]->data = teq_tensor_numel(in[0]);
    return TEQ_OK;
}

/* ------------------------------------------------------------------ Reshape, Flatten, Squeeze, Unsqueeze */

/* Allocate out with x's dtype and the given dims and copy x's bytes (same element count). */
static teq_status copy_reshaped(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *x, teq_tensor *out, int nd,
                                const int64_t *dims) {
    size_t es;
    teq_status s = elem_size(ctx, node, x, "input", &es);
    if (s) return s;
    s = alloc_out(ctx, node, out, x->dtype, nd, dims);
    if (s) return s;
    par_memcpy(ctx, out->data, x->data, (size_t)teq_tensor_numel(x) * es);
    return TEQ_OK;
}

/* Reshape: data [any], shape int64 [k] (opset >= 5; the 'shape' attribute before) -> [k dims].
 * 0 copies the input dim at the same index unless allowzero=1; one -1 is inferred. */
static teq_status op_reshape(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                             teq_tensor *const *out) {
    const teq_tensor *x = in[0];
    int64_t shp[TEQ_MAX_DIMS], n = 0;
    teq_status s;
    if (node->opset >= 5) {
        if (node->n_in < 2 || !in[1]) return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "missing 'shape' input");
        s = read_int_list(ctx, node, in[1], "shape", shp, TEQ_MAX_DIMS, &n);
    } else {
        bool present;
        s = read_attr_ints(ctx, node, "shape", shp, TEQ_MAX_DIMS, &n, &present);
        if (!s && !present) return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "missing 'shape' attribute");
    }
    if (s) return s;
    bool allowzero = node->opset >= 14 && teq_node_attr_int(node, "allowzero", 0) != 0;
    int64_t dims[TEQ_MAX_DIMS];
    int neg = -1;
    bool has_zero = false;
    for (int i = 0; i < n; i++) {
        int64_t v = shp[i];
        if (v == 0 && !allowzero) {
            if (i >= x->ndim)
                return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "shape[%d] is 0 but the input has rank %d", i, x->ndim);
            dims[i] = x->dims[i];
        } else if (v == -1) {
            if (neg >= 0) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "shape has more than one -1");
            neg = i;
            dims[i] = 1;
        } else if (v < 0) {
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "shape[%d] = %lld is invalid", i, (long long)v);
        } else {
            if (v == 0) has_zero = true;
            dims[i] = v;
        }
    }
    if (allowzero && has_zero && neg >= 0)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "allowzero=1 with both 0 and -1 in shape");
    int64_t numel = teq_tensor_numel(x), known;
    char b1[160], b2[160];
    if (!teq_dims_numel((int)n, dims, &known))
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "shape %s overflows", teq_shape_str((int)n, shp, b1, sizeof b1));
    if (neg >= 0) {
        if (known == 0 || numel % known != 0)
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "cannot reshape %s to %s",
                               teq_shape_str(x->ndim, x->dims, b1, sizeof b1), teq_shape_str((int)n, shp, b2, sizeof b2));
        dims[neg] = numel / known;
        known = numel;
    }
    if (known != numel)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "cannot reshape %s to %s",
                           teq_shape_str(x->ndim, x->dims, b1, sizeof b1), teq_shape_str((int)n, shp, b2, sizeof b2));
    return copy_reshaped(ctx, node, x, out[0], (int)n, dims);
}

/* Flatten: [d0..dr-1] -> [d0*..*d(axis-1), d(axis)*..*d(r-1)], axis in [-r, r]. */
static teq_status op_flatten(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                             teq_tensor *const *out) {
    const teq_tensor *x = in[0];
    int r = x->ndim;
    int64_t axis = teq_node_attr_int(node, "axis", 1);
    if (axis < -(int64_t)r || axis > r)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "axis %lld is out of range for rank %d", (long long)axis, r);
    if (axis < 0) axis += r;
    int64_t d[2] = {1, 1};
    for (int i = 0; i < r; i++) d[i < axis ? 0 : 1] *= x->dims[i];
    return copy_reshaped(ctx, node, x, out[0], 2, d);
}

/* Axes for Squeeze/Unsqueeze: the 'axes' attribute before opset 13, the optional second input after. */
static teq_status squeeze_axes(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in, int64_t *axes,
                               int64_t *n, bool *present) {
    if (node->opset >= 13) {
        *present = node->n_in >= 2 && in[1] != NULL;
        *n = 0;
        if (!*present) return TEQ_OK;
        return read_int_list(ctx, node, in[1], "axes", axes, TEQ_MAX_DIMS, n);
    }
    return read_attr_ints(ctx, node, "axes", axes, TEQ_MAX_DIMS, n, present);
}

/* Squeeze: drop the listed unit dims (all unit dims when no axes are given). */
static teq_status op_squeeze(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                             teq_tensor *const *out) {
    const teq_tensor *x = in[0];
    int r = x->ndim;
    int64_t axes[TEQ_MAX_DIMS], n;
    bool present;
    teq_status s = squeeze_axes(ctx, node, in, axes, &n, &present);
    if (s) return s;
    bool drop[TEQ_MAX_DIMS] = {false};
    if (present && n > 0) {
        for (int i = 0; i < n; i++) {
            int a;
            if (!norm_axis(axes[i], r, &a))
                return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "axis %lld is out of range for rank %d", (long long)axes[i], r);
            if (drop[a]) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "axis %d is repeated", a);
            if (x->dims[a] != 1)
                return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "cannot squeeze axis %d of size %lld", a,
                                   (long long)x->dims[a]);
            drop[a] = true;
        }
    } else {
        for (int a = 0; a < r; a++) drop[a] = x->dims[a] == 1;
    }
    int64_t dims[TEQ_MAX_DIMS];
    int k = 0;
    for (int a = 0; a < r; a++)
        if (!drop[a]) dims[k++] = x->dims[a];
    return copy_reshaped(ctx, node, x, out[0], k, dims);
}

/* Unsqueeze: insert unit dims at the listed positions of the output (rank r + len(axes)). */
static teq_status op_unsqueeze(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                               teq_tensor *const *out) {
    const teq_tensor *x = in[0];
    int64_t axes[TEQ_MAX_DIMS], n;
    bool present;
    teq_status s = squeeze_axes(ctx, node, in, axes, &n, &present);
    if (s) return s;
    if (!present) return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "missing axes");
    int R = x->ndim + (int)n;
    if (R > TEQ_MAX_DIMS) return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "output rank %d exceeds %d", R, TEQ_MAX_DIMS);
    bool ins[TEQ_MAX_DIMS] = {false};
    for (int i = 0; i < n; i++) {
        int a;
        if (!norm_axis(axes[i], R, &a))
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "axis %lld is out of range for output rank %d",
                               (long long)axes[i], R);
        if (ins[a]) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "axis %d is repeated", a);
        ins[a] = true;
    }
    int64_t dims[TEQ_MAX_DIMS];
    for (int a = 0, k = 0; a < R; a++) dims[a] = ins[a] ? 1 : x->dims[k++];
    return copy_reshaped(ctx, node, x, out[0], R, dims);
}

/* ------------------------------------------------------------------ Transpose */

/* Transpose: out.dims[i] = x.dims[perm[i]]; perm defaults to reversing the axes. */
static teq_status op_transpose(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                               teq_tensor *const *out) {
    const teq_tensor *x = in[0];
    int r = x->ndim;
    size_t es;
    teq_status s = elem_size(ctx, node, x, "input", &es);
    if (s) return s;
    int64_t perm[TEQ_MAX_DIMS], n;
    bool present;
    s = read_attr_ints(ctx, node, "perm", perm, TEQ_MAX_DIMS, &n, &present);
    if (s) return s;
    if (!present) {
        n = r;
        for (int i = 0; i < r; i++) perm[i] = r - 1 - i;
    }
    if (n != r) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "perm has %lld entries for rank %d", (long long)n, r);
    bool seen[TEQ_MAX_DIMS] = {false};
    for (int i = 0; i < r; i++) {
        int a;
        if (!norm_axis(perm[i], r, &a) || seen[a])
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "perm is not a permutation of 0..%d", r - 1);
        seen[a] = true;
        perm[i] = a;
    }
    int64_t ist[TEQ_MAX_DIMS], dims[TEQ_MAX_DIMS];
    strides_of(r, x->dims, ist);
    view v = {.nd = r, .base = 0};
    for (int i = 0; i < r; i++) {
        dims[i] = x->dims[perm[i]];
        v.dims[i] = dims[i];
        v.strides[i] = ist[perm[i]];
    }
    s = alloc_out(ctx, node, out[0], x->dtype, r, dims);
    if (s) return s;
    view_copy(ctx, out[0]->data, x->data, es, &v);
    return TEQ_OK;
}

/* ------------------------------------------------------------------ Concat, Split */

/* Concat: inputs of equal rank and dims except along axis -> their concatenation along axis. */
static teq_status op_concat(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                            teq_tensor *const *out) {
    int n = node->n_in;
    if (n < 1) return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "needs at least one input");
    for (int k = 0; k < n; k++)
        if (!in[k]) return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "input %d is missing", k);
    const teq_tensor *x0 = in[0];
    int r = x0->ndim;
    size_t es;
    teq_status s = elem_size(ctx, node, x0, "input 0", &es);
    if (s) return s;
    const teq_attr *aa = teq_node_attr(node, "axis");
    if (!aa && node->opset >= 4) return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "missing 'axis' attribute");
    int64_t axis_raw = aa ? teq_node_attr_int(node, "axis", 1) : 1;
    int axis;
    if (r == 0) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "cannot concatenate scalars");
    if (!norm_axis(axis_raw, r, &axis))
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "axis %lld is out of range for rank %d", (long long)axis_raw, r);
    int64_t dims[TEQ_MAX_DIMS];
    memcpy(dims, x0->dims, sizeof dims);
    dims[axis] = 0;
    for (int k = 0; k < n; k++) {
        const teq_tensor *x = in[k];
        if (x->dtype != x0->dtype)
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "input %d is %s, input 0 is %s", k, teq_dtype_name(x->dtype),
                               teq_dtype_name(x0->dtype));
        if (x->ndim != r) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "input %d has rank %d, input 0 has %d", k, x->ndim, r);
        for (int d = 0; d < r; d++)
            if (d != axis && x->dims[d] != x0->dims[d]) {
                char b1[160], b2[160];
                return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "input %d shape %s does not match input 0 shape %s on axis %d", k,
                                   teq_shape_str(r, x->dims, b1, sizeof b1), teq_shape_str(r, x0->dims, b2, sizeof b2), d);
            }
        dims[axis] += x->dims[axis];
        if (dims[axis] > ((int64_t)1 << 62)) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "output too large");
    }
    /* A and zeros read by one Add alone (ops.h teq_add_fuse): A goes on, the Add adds the zeros */
    if (teq_concat_zpad(node) && n == 2 && axis == 1 && x0->dtype == TEQ_DTYPE_FLOAT)
        return teq_ctx_pass_input(ctx, 0, x0, out[0]);
    /* read only by INT8 layers through a pass-through quantizer (teq_node.codes_out, fast mode): each input
     * quantized straight into its place in the output codes, no float copy (the readers would quantize it) */
    const teq_kq *cq = node->codes_out && teq_kmode_get() == TEQ_KMODE_FAST && x0->dtype == TEQ_DTYPE_FLOAT
                           ? node->codes_out
                           : NULL;
    s = alloc_out(ctx, node, out[0], cq ? TEQ_DTYPE_UINT8 : x0->dtype, r, dims);
    if (s) return s;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= dims[d];
    for (int d = axis + 1; d < r; d++) inner *= dims[d];
    int64_t orow = dims[axis] * inner, total = outer * orow;
    char *o = out[0]->data;
    if (total == 0) return TEQ_OK;
    if (cq) {
        uint8_t *c = out[0]->data;
        for (int64_t q = 0; q < outer; q++) {
            int64_t off = q * orow;
            for (int k = 0; k < n; k++) {
                const int64_t len = in[k]->dims[axis] * inner;
                if (len) teq_kq_codes(cq, (const float *)in[k]->data + q * len, len, c + off, outer == 1 ? teq_ctx_threads(ctx) : 1);
                off += len;
            }
        }
        return TEQ_OK;
    }
    if (outer == 1) {
        int64_t off = 0;
        for (int k = 0; k < n; k++) {
            int64_t len = in[k]->dims[axis] * inner;
            par_memcpy(ctx, o + (size_t)off * es, in[k]->data, (size_t)len * es);
            off += len;
        }
        return TEQ_OK;
    }
    int nt = threads_for(ctx, total);
    if (outer < nt) nt = (int)outer;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t q = 0; q < outer; q++) {
        int64_t off = q * orow;
        for (int k = 0; k < n; k++) {
            int64_t len = in[k]->dims[axis] * inner;
            if (len) memcpy(o + (size_t)off * es, (const char *)in[k]->data + (size_t)(q * len) * es, (size_t)len * es);
            off += len;
        }
    }
    return TEQ_OK;
}

/* Split: input -> n_out parts along axis; sizes from 'split' (attribute before opset 13, input after),
 * else equal parts (opset 18 num_outputs: ceil-sized parts with a smaller last one). */
static teq_status op_split(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                           teq_tensor *const *out) {
    const teq_tensor *x = in[0];
    int r = x->ndim, nout = node->n_out, axis;
    size_t es;
    teq_status s = elem_size(ctx, node, x, "input", &es);
    if (s) return s;
    if (nout < 1) return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "has no outputs");
    int64_t axis_raw = teq_node_attr_int(node, "axis", 0);
    if (!norm_axis(axis_raw, r, &axis))
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "axis %lld is out of range for rank %d", (long long)axis_raw, r);
    int64_t dim = x->dims[axis];
    int64_t *sz = malloc(sizeof(int64_t) * (size_t)nout);
    if (!sz) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory");
    int64_t n = 0;
    bool present = false;
    if (node->opset >= 13) {
        if (node->n_in >= 2 && in[1] && teq_tensor_numel(in[1]) > 0) {
            present = true;
            s = read_int_list(ctx, node, in[1], "split", sz, nout, &n);
        }
    } else {
        s = read_attr_ints(ctx, node, "split", sz, nout, &n, &present);
        if (!s && present && n == 0) present = false;
    }
    if (s) goto done;
    if (present) {
        if (n != nout) {
            s = teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "split has %lld sizes for %d outputs", (long long)n, nout);
            goto done;
        }
        int64_t sum = 0;
        for (int i = 0; i < nout; i++) {
            if (sz[i] < 0 || sz[i] > dim) {
                s = teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "split size %lld is invalid", (long long)sz[i]);
                goto done;
            }
            sum += sz[i];
        }
        if (sum != dim) {
            s = teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "split sizes sum to %lld, axis %d has %lld", (long long)sum, axis,
                            (long long)dim);
            goto done;
        }
    } else if (node->opset >= 18 && teq_node_attr(node, "num_outputs")) {
        int64_t no = teq_node_attr_int(node, "num_outputs", nout);
        if (no != nout) {
            s = teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "num_outputs %lld but the node has %d outputs", (long long)no, nout);
            goto done;
        }
        int64_t chunk = (dim + nout - 1) / nout;
        for (int i = 0; i < nout; i++) {
            int64_t left = dim - chunk * i;
            sz[i] = left < 0 ? 0 : left < chunk ? left : chunk;
        }
        if (dim - chunk * (nout - 1) < 0 && dim > 0) {
            s = teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "axis of size %lld cannot be split into %d parts", (long long)dim, nout);
            goto done;
        }
    } else {
        if (dim % nout != 0) {
            s = teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "axis of size %lld cannot be split into %d equal parts",
                            (long long)dim, nout);
            goto done;
        }
        for (int i = 0; i < nout; i++) sz[i] = dim / nout;
    }
    int64_t outer = 1, inner = 1, off = 0;
    for (int d = 0; d < axis; d++) outer *= x->dims[d];
    for (int d = axis + 1; d < r; d++) inner *= x->dims[d];
    for (int i = 0; i < nout; i++) {
        int64_t dims[TEQ_MAX_DIMS];
        memcpy(dims, x->dims, sizeof dims);
        dims[axis] = sz[i];
        s = alloc_out(ctx, node, out[i], x->dtype, r, dims);
        if (s) goto done;
        view v = {.nd = 2, .dims = {outer, sz[i] * inner}, .strides = {dim * inner, 1}, .base = off * inner};
        view_copy(ctx, out[i]->data, x->data, es, &v);
        off += sz[i];
    }
done:
    free(sz);
    return s;
}

/* ------------------------------------------------------------------ Slice */

/* Slice: starts/ends/axes/steps (attributes before opset 10, inputs 1..4 after) select, per axis,
 * start, start+step, ... clamped as the spec says; negative indices count from the end. */
static teq_status op_slice(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                           teq_tensor *const *out) {
    const teq_tensor *x = in[0];
    int r = x->ndim;
    size_t es;
    teq_status s = elem_size(ctx, node, x, "input", &es);
    if (s) return s;
    int64_t starts[TEQ_MAX_DIMS], ends[TEQ_MAX_DIMS], axes[TEQ_MAX_DIMS], steps[TEQ_MAX_DIMS];
    int64_t ns = 0, ne = 0, na = 0, nst = 0;
    bool has_axes = false, has_steps = false;
    if (node->opset >= 10) {
        if (node->n_in < 3 || !in[1] || !in[2]) return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "needs starts and ends inputs");
        if ((s = read_int_list(ctx, node, in[1], "starts", starts, TEQ_MAX_DIMS, &ns))) return s;
        if ((s = read_int_list(ctx, node, in[2], "ends", ends, TEQ_MAX_DIMS, &ne))) return s;
        if (node->n_in >= 4 && in[3]) {
            has_axes = true;
            if ((s = read_int_list(ctx, node, in[3], "axes", axes, TEQ_MAX_DIMS, &na))) return s;
        }
        if (node->n_in >= 5 && in[4]) {
            has_steps = true;
            if ((s = read_int_list(ctx, node, in[4], "steps", steps, TEQ_MAX_DIMS, &nst))) return s;
        }
    } else {
        bool p1, p2;
        if ((s = read_attr_ints(ctx, node, "starts", starts, TEQ_MAX_DIMS, &ns, &p1))) return s;
        if ((s = read_attr_ints(ctx, node, "ends", ends, TEQ_MAX_DIMS, &ne, &p2))) return s;
        if (!p1 || !p2) return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "needs starts and ends attributes");
        if ((s = read_attr_ints(ctx, node, "axes", axes, TEQ_MAX_DIMS, &na, &has_axes))) return s;
    }
    if (ne != ns) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "starts has %lld values, ends %lld", (long long)ns, (long long)ne);
    if (has_axes && na != ns)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "axes has %lld values, starts %lld", (long long)na, (long long)ns);
    if (has_steps && nst != ns)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "steps has %lld values, starts %lld", (long long)nst, (long long)ns);
    if (ns > r) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "%lld slices for rank %d", (long long)ns, r);
    int64_t ist[TEQ_MAX_DIMS], dims[TEQ_MAX_DIMS];
    strides_of(r, x->dims, ist);
    view v = {.nd = r, .base = 0};
    for (int d = 0; d < r; d++) {
        dims[d] = x->dims[d];
        v.dims[d] = x->dims[d];
        v.strides[d] = ist[d];
    }
    bool seen[TEQ_MAX_DIMS] = {false};
    int64_t first[TEQ_MAX_DIMS] = {0};
    for (int i = 0; i < ns; i++) {
        int a;
        int64_t ax = has_axes ? axes[i] : i;
        if (!norm_axis(ax, r, &a))
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "axis %lld is out of range for rank %d", (long long)ax, r);
        if (seen[a]) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "axis %d is repeated", a);
        seen[a] = true;
        int64_t dim = x->dims[a], st = has_steps ? steps[i] : 1, b = starts[i], e = ends[i], cnt;
        if (st == 0) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "step is 0 on axis %d", a);
        if (b < 0) b += dim;
        if (e < 0) e += dim;
        if (dim == 0) {
            cnt = 0;
        } else if (st > 0) {
            b = b < 0 ? 0 : b > dim ? dim : b;
            e = e < 0 ? 0 : e > dim ? dim : e;
            cnt = e > b ? 1 + (e - b - 1) / st : 0;
        } else {
            b = b < 0 ? 0 : b > dim - 1 ? dim - 1 : b;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            uint64_t mag = (uint64_t)0 - (uint64_t)st;
            cnt = b > e ? 1 + (int64_t)((uint64_t)(b - e - 1) / mag) : 0;
        }
        dims[a] = cnt;
        v.dims[a] = cnt;
        first[a] = cnt > 0 ? b : 0;
        v.strides[a] = cnt > 1 ? st * ist[a] : 0;
    }
    for (int d = 0; d < r; d++) v.base += first[d] * ist[d];
    s = alloc_out(ctx, node, out[0], x->dtype, r, dims);
    if (s) return s;
    view_copy(ctx, out[0]->data, x->data, es, &v);
    return TEQ_OK;
}

/* ------------------------------------------------------------------ Gather, GatherElements */

/* Gather: data [d0..dr-1], indices [q dims] -> [d0..d(axis-1), q dims, d(axis+1)..]. */
static teq_status op_gather(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                            teq_tensor *const *out) {
    const teq_tensor *x = in[0], *ind = in[1];
    int r = x->ndim, axis;
    size_t es;
    teq_status s = elem_size(ctx, node, x, "data", &es);
    if (s) return s;
    if (!is_int_tensor(ind)) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "indices must be int64 or int32");
    if (r < 1) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "data must have rank >= 1");
    int64_t axis_raw = teq_node_attr_int(node, "axis", 0);
    if (!norm_axis(axis_raw, r, &axis))
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "axis %lld is out of range for rank %d", (long long)axis_raw, r);
    int R = r - 1 + ind->ndim;
    if (R > TEQ_MAX_DIMS) return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "output rank %d exceeds %d", R, TEQ_MAX_DIMS);
    int64_t dims[TEQ_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < axis; d++) dims[k++] = x->dims[d];
    for (int d = 0; d < ind->ndim; d++) dims[k++] = ind->dims[d];
    for (int d = axis + 1; d < r; d++) dims[k++] = x->dims[d];
    int64_t ni = teq_tensor_numel(ind), K = x->dims[axis], outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= x->dims[d];
    for (int d = axis + 1; d < r; d++) inner *= x->dims[d];
    int64_t *idx = teq_ctx_scratch(ctx, sizeof(int64_t) * (size_t)(ni ? ni : 1));
    if (!idx) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < ni; i++) {
        int64_t v = iat(ind, i);
        if (v < -K || v >= K)
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "index %lld is out of range for axis %d of size %lld", (long long)v,
                               axis, (long long)K);
        idx[i] = v < 0 ? v + K : v;
    }
    s = alloc_out(ctx, node, out[0], x->dtype, R, dims);
    if (s) return s;
    const char *src = x->data;
    char *o = out[0]->data;
    int64_t items = outer * ni;
    int nt = threads_for(ctx, items * inner);
    size_t blk = (size_t)inner * es;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t it = 0; it < items; it++) {
        int64_t q = it / (ni ? ni : 1), p = it % (ni ? ni : 1);
        const char *sp = src + (size_t)((q * K + idx[p]) * inner) * es;
        if (inner == 1)
            copy_one(o + (size_t)it * es, sp, es);
        else
            memcpy(o + (size_t)it * blk, sp, blk);
    }
    return TEQ_OK;
}

/* GatherElements: data and indices of equal rank -> indices' shape;
 * out[i..] = data[i.. with coordinate axis replaced by indices[i..]]. */
static teq_status op_gather_elements(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                                     teq_tensor *const *out) {
    const teq_tensor *x = in[0], *ind = in[1];
    int r = x->ndim, axis;
    size_t es;
    teq_status s = elem_size(ctx, node, x, "data", &es);
    if (s) return s;
    if (!is_int_tensor(ind)) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "indices must be int64 or int32");
    if (r < 1 || ind->ndim != r)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "data (rank %d) and indices (rank %d) must have the same rank >= 1", r,
                           ind->ndim);
    int64_t axis_raw = teq_node_attr_int(node, "axis", 0);
    if (!norm_axis(axis_raw, r, &axis))
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "axis %lld is out of range for rank %d", (long long)axis_raw, r);
    for (int d = 0; d < r; d++)
        if (d != axis && ind->dims[d] > x->dims[d])
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "indices dim %d (%lld) exceeds data dim (%lld)", d,
                               (long long)ind->dims[d], (long long)x->dims[d]);
    int64_t n = teq_tensor_numel(ind), K = x->dims[axis];
    for (int64_t i = 0; i < n; i++) {
        int64_t v = iat(ind, i);
        if (v < -K || v >= K)
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "index %lld is out of range for axis %d of size %lld", (long long)v,
                               axis, (long long)K);
    }
    s = alloc_out(ctx, node, out[0], x->dtype, r, ind->dims);
    if (s) return s;
    if (n == 0) return TEQ_OK;
    int64_t xst[TEQ_MAX_DIMS];
    strides_of(r, x->dims, xst);
    const char *src = x->data;
    char *o = out[0]->data;
    int64_t inner = ind->dims[r - 1], rows = n / inner;
    int nt = threads_for(ctx, n);
    if (rows < nt) nt = (int)rows;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        int64_t r0 = rows * tid / nth, r1 = rows * (tid + 1) / nth, c[TEQ_MAX_DIMS];
        unravel(r0, r - 1, ind->dims, c);
        for (int64_t row = r0; row < r1; row++) {
            int64_t base = 0;
            for (int d = 0; d < r - 1; d++)
                if (d != axis) base += c[d] * xst[d];
            for (int64_t j = 0; j < inner; j++) {
                int64_t flat = row * inner + j, v = iat(ind, flat);
                if (v < 0) v += K;
                int64_t off = base + v * xst[axis] + (axis == r - 1 ? 0 : j);
                copy_one(o + (size_t)flat * es, src + (size_t)off * es, es);
            }
            incr(r - 1, ind->dims, c);
        }
    }
    return TEQ_OK;
}

/* ------------------------------------------------------------------ Expand, Tile */

/* Expand: data broadcast (numpy rules, both ways) against shape int64 [k]. */
static teq_status op_expand(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                            teq_tensor *const *out) {
    const teq_tensor *x = in[0];
    size_t es;
    teq_status s = elem_size(ctx, node, x, "input", &es);
    if (s) return s;
    int64_t shp[TEQ_MAX_DIMS], n;
    if ((s = read_int_list(ctx, node, in[1], "shape", shp, TEQ_MAX_DIMS, &n))) return s;
    int R = x->ndim > n ? x->ndim : (int)n;
    int64_t dims[TEQ_MAX_DIMS], xst[TEQ_MAX_DIMS];
    strides_of(x->ndim, x->dims, xst);
    view v = {.nd = R, .base = 0};
    for (int i = 0; i < R; i++) {
        int xi = i - (R - x->ndim), si = i - (R - (int)n);
        int64_t a = xi >= 0 ? x->dims[xi] : 1, b = si >= 0 ? shp[si] : 1;
        if (b < 0) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "shape value %lld is negative", (long long)b);
        if (a != b && a != 1 && b != 1) {
            char b1[160], b2[160];
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "cannot broadcast %s to %s",
                               teq_shape_str(x->ndim, x->dims, b1, sizeof b1), teq_shape_str((int)n, shp, b2, sizeof b2));
        }
        dims[i] = a == 1 ? b : a;
        v.dims[i] = dims[i];
        v.strides[i] = (xi >= 0 && a != 1) ? xst[xi] : 0;
    }
    s = alloc_out(ctx, node, out[0], x->dtype, R, dims);
    if (s) return s;
    view_copy(ctx, out[0]->data, x->data, es, &v);
    return TEQ_OK;
}

/* Tile: out.dims[i] = x.dims[i] * repeats[i]. Written as a 2r-dim view [rep0, d0, rep1, d1, ...] whose
 * repeat dims have source stride 0; its row-major order is exactly the output's. */
static teq_status op_tile(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                          teq_tensor *const *out) {
    const teq_tensor *x = in[0];
    int r = x->ndim;
    size_t es;
    teq_status s = elem_size(ctx, node, x, "input", &es);
    if (s) return s;
    int64_t rep[TEQ_MAX_DIMS], n;
    if ((s = read_int_list(ctx, node, in[1], "repeats", rep, TEQ_MAX_DIMS, &n))) return s;
    if (n != r) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "repeats has %lld values for rank %d", (long long)n, r);
    int64_t dims[TEQ_MAX_DIMS], xst[TEQ_MAX_DIMS], total;
    strides_of(r, x->dims, xst);
    view v = {.nd = 2 * r, .base = 0};
    for (int i = 0; i < r; i++) {
        if (rep[i] < 0) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "repeats[%d] = %lld is negative", i, (long long)rep[i]);
        if (x->dims[i] && rep[i] > ((int64_t)1 << 62) / x->dims[i])
            return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "output too large");
        dims[i] = x->dims[i] * rep[i];
        v.dims[2 * i] = rep[i];
        v.strides[2 * i] = 0;
        v.dims[2 * i + 1] = x->dims[i];
        v.strides[2 * i + 1] = xst[i];
    }
    if (!teq_dims_numel(r, dims, &total)) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "output too large");
    s = alloc_out(ctx, node, out[0], x->dtype, r, dims);
    if (s) return s;
    view_copy(ctx, out[0]->data, x->data, es, &v);
    return TEQ_OK;
}

/* ------------------------------------------------------------------ Pad */

enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

/* Source index along an axis of size dim for output coordinate o (pb = begin pad), or -1 for the
 * constant value. */
static int64_t pad_src(int mode, int64_t o, int64_t pb, int64_t dim) {
    int64_t i = o - pb;
    if (i >= 0 && i < dim) return i;
    switch (mode) {
    case PAD_CONSTANT: return -1;
    case PAD_EDGE: return i < 0 ? 0 : dim - 1;
    case PAD_WRAP: {
        int64_t m = i % dim;
        return m < 0 ? m + dim : m;
    }
    default: { /* reflect without repeating the edge: period 2*(dim-1) */
        if (dim == 1) return 0;
        int64_t p = 2 * (dim - 1), m = i % p;
        if (m < 0) m += p;
        return m < dim ? m : p - m;
    }
    }
}

/* Pad: x [d..] -> [d + pads_begin + pads_end]; pads may be negative (cropping). Before opset 11 pads
 * and value are attributes; after, inputs (pads, constant_value, and axes from opset 18). */
static teq_status op_pad(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                         teq_tensor *const *out) {
    const teq_tensor *x = in[0];
    int r = x->ndim;
    size_t es;
    teq_status s = elem_size(ctx, node, x, "input", &es);
    if (s) return s;
    const char *ms = teq_node_attr_string(node, "mode", "constant");
    int mode;
    if (!strcmp(ms, "constant")) mode = PAD_CONSTANT;
    else if (!strcmp(ms, "reflect")) mode = PAD_REFLECT;
    else if (!strcmp(ms, "edge")) mode = PAD_EDGE;
    else if (!strcmp(ms, "wrap")) mode = PAD_WRAP;
    else return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "mode '%s' is not supported", ms);
    int64_t praw[2 * TEQ_MAX_DIMS], np = 0, axes[TEQ_MAX_DIMS], na = 0;
    bool has_axes = false;
    uint8_t cval[16] = {0};
    if (node->opset >= 11) {
        if (node->n_in < 2 || !in[1]) return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "missing 'pads' input");
        if ((s = read_int_list(ctx, node, in[1], "pads", praw, 2 * TEQ_MAX_DIMS, &np))) return s;
        if (node->n_in >= 3 && in[2] && teq_tensor_numel(in[2]) > 0) {
            if (in[2]->dtype != x->dtype)
                return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "constant_value is %s, data is %s", teq_dtype_name(in[2]->dtype),
                                   teq_dtype_name(x->dtype));
            memcpy(cval, in[2]->data, es);
        }
        if (node->n_in >= 4 && in[3]) {
            has_axes = true;
            if ((s = read_int_list(ctx, node, in[3], "axes", axes, TEQ_MAX_DIMS, &na))) return s;
        }
    } else {
        bool present;
        if ((s = read_attr_ints(ctx, node, node->opset < 2 ? "paddings" : "pads", praw, 2 * TEQ_MAX_DIMS, &np, &present)))
            return s;
        if (!present) return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "missing 'pads' attribute");
        store_scalar(cval, x->dtype, teq_node_attr_float(node, "value", 0.0f));
    }
    int64_t pb[TEQ_MAX_DIMS] = {0}, pe[TEQ_MAX_DIMS] = {0};
    if (has_axes) {
        if (np != 2 * na)
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "pads has %lld values for %lld axes", (long long)np, (long long)na);
        bool seen[TEQ_MAX_DIMS] = {false};
        for (int i = 0; i < na; i++) {
            int a;
            if (!norm_axis(axes[i], r, &a) || seen[a])
                return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "axis %lld is invalid or repeated", (long long)axes[i]);
            seen[a] = true;
            pb[a] = praw[i];
            pe[a] = praw[na + i];
        }
    } else {
        if (np != 2 * r) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "pads has %lld values for rank %d", (long long)np, r);
        for (int a = 0; a < r; a++) {
            pb[a] = praw[a];
            pe[a] = praw[r + a];
        }
    }
    int64_t dims[TEQ_MAX_DIMS], total;
    for (int a = 0; a < r; a++) {
        if (llabs(pb[a]) > ((int64_t)1 << 40) || llabs(pe[a]) > ((int64_t)1 << 40))
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "pads on axis %d are too large", a);
        dims[a] = x->dims[a] + pb[a] + pe[a];
        if (dims[a] < 0) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "pads make axis %d negative", a);
        if (mode != PAD_CONSTANT && x->dims[a] == 0 && dims[a] > 0)
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "cannot %s-pad an empty axis %d", ms, a);
    }
    if (!teq_dims_numel(r, dims, &total)) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "output too large");
    s = alloc_out(ctx, node, out[0], x->dtype, r, dims);
    if (s) return s;
    if (total == 0) return TEQ_OK;
    if (r == 0) {
        memcpy(out[0]->data, x->data, es);
        return TEQ_OK;
    }
    /* Source index per output coordinate, per axis. */
    int64_t nmap = 0, moff[TEQ_MAX_DIMS];
    for (int a = 0; a < r; a++) {
        moff[a] = nmap;
        nmap += dims[a];
    }
    int64_t *map = teq_ctx_scratch(ctx, sizeof(int64_t) * (size_t)nmap);
    if (!map) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory");
    for (int a = 0; a < r; a++)
        for (int64_t o = 0; o < dims[a]; o++) map[moff[a] + o] = pad_src(mode, o, pb[a], x->dims[a]);
    int64_t xst[TEQ_MAX_DIMS];
    strides_of(r, x->dims, xst);
    int last = r - 1;
    int64_t inner = dims[last], rows = total / inner;
    const int64_t *lmap = map + moff[last];
    /* Output positions [c0, c1) of the last axis copy a contiguous source run. */
    int64_t c0 = pb[last] < 0 ? 0 : pb[last], c1 = pb[last] + x->dims[last];
    if (c1 > inner) c1 = inner;
    if (c1 < c0) c1 = c0;
    const char *src = x->data;
    char *o = out[0]->data;
    int nt = threads_for(ctx, total);
    if (rows < nt) nt = (int)rows;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        int64_t r0 = rows * tid / nth, r1 = rows * (tid + 1) / nth, c[TEQ_MAX_DIMS];
        unravel(r0, last, dims, c);
        for (int64_t row = r0; row < r1; row++) {
            char *dst = o + (size_t)(row * inner) * es;
            int64_t off = 0;
            bool constant = false;
            for (int a = 0; a < last; a++) {
                int64_t m = map[moff[a] + c[a]];
                if (m < 0) {
                    constant = true;
                    break;
                }
                off += m * xst[a];
            }
            if (constant) {
                fill_elems(dst, inner, cval, es);
            } else {
                const char *srow = src + (size_t)off * es;
                for (int64_t j = 0; j < c0; j++) {
                    if (lmap[j] < 0) copy_one(dst + (size_t)j * es, (const char *)cval, es);
                    else copy_one(dst + (size_t)j * es, srow + (size_t)lmap[j] * es, es);
                }
                if (c1 > c0) memcpy(dst + (size_t)c0 * es, srow + (size_t)lmap[c0] * es, (size_t)(c1 - c0) * es);
                for (int64_t j = c1; j < inner; j++) {
                    if (lmap[j] < 0) copy_one(dst + (size_t)j * es, (const char *)cval, es);
                    else copy_one(dst + (size_t)j * es, srow + (size_t)lmap[j] * es, es);
                }
            }
            incr(last, dims, c);
        }
    }
    return TEQ_OK;
}

/* ------------------------------------------------------------------ ConstantOfShape, Range, Constant */

/* ConstantOfShape: shape int64 [k] -> tensor of that shape filled with the one-element 'value'
 * tensor attribute (float 0 by default). */
static teq_status op_constant_of_shape(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                                       teq_tensor *const *out) {
    int64_t dims[TEQ_MAX_DIMS], n;
    teq_status s = read_int_list(ctx, node, in[0], "shape", dims, TEQ_MAX_DIMS, &n);
    if (s) return s;
    for (int i = 0; i < n; i++)
        if (dims[i] < 0) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "shape[%d] = %lld is negative", i, (long long)dims[i]);
    const teq_attr *a = teq_node_attr(node, "value");
    teq_dtype dt = TEQ_DTYPE_FLOAT;
    uint8_t val[16] = {0};
    if (a) {
        if (a->type != TEQ_ATTR_TENSOR || !a->t)
            return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "attribute 'value' must be a tensor");
        if (teq_tensor_numel(a->t) != 1)
            return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "attribute 'value' must hold one element");
        dt = a->t->dtype;
        size_t es = teq_dtype_size(dt);
        if (!es) return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "value has unsupported data type %d", (int)dt);
        memcpy(val, a->t->data, es);
    }
    s = alloc_out(ctx, node, out[0], dt, (int)n, dims);
    if (s) return s;
    fill_elems(out[0]->data, teq_tensor_numel(out[0]), val, teq_dtype_size(dt));
    return TEQ_OK;
}

/* Range: scalars start, limit, delta (same type) -> 1-D [max(ceil((limit-start)/delta), 0)],
 * element i = start accumulated with delta i times (the spec's loop). */
static teq_status op_range(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                           teq_tensor *const *out) {
    const teq_tensor *ts = in[0], *tl = in[1], *td = in[2];
    teq_dtype dt = ts->dtype;
    if (tl->dtype != dt || td->dtype != dt)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "start, limit and delta must have the same type");
    for (int k = 0; k < 3; k++)
        if (teq_tensor_numel(in[k]) != 1 || in[k]->ndim > 1)
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "input %d must be a scalar", k);
    int64_t n;
    if (dt == TEQ_DTYPE_INT64 || dt == TEQ_DTYPE_INT32) {
        int64_t st = iat(ts, 0), li = iat(tl, 0), de = iat(td, 0);
        if (de == 0) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "delta is 0");
        if (de > 0)
            n = li > st ? (int64_t)(((uint64_t)li - (uint64_t)st - 1) / (uint64_t)de + 1) : 0;
        else
            n = st > li ? (int64_t)(((uint64_t)st - (uint64_t)li - 1) / ((uint64_t)0 - (uint64_t)de) + 1) : 0;
        if (n < 0) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "output too large");
        teq_status s = alloc_out(ctx, node, out[0], dt, 1, &n);
        if (s) return s;
        for (int64_t i = 0; i < n; i++) {
            int64_t v = (int64_t)((uint64_t)st + (uint64_t)i * (uint64_t)de);
            if (dt == TEQ_DTYPE_INT64) ((int64_t *)out[0]->data)[i] = v;
            else ((int32_t *)out[0]->data)[i] = (int32_t)v;
        }
        return TEQ_OK;
    }
    if (dt != TEQ_DTYPE_FLOAT && dt != TEQ_DTYPE_DOUBLE)
        return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "data type %s is not supported", teq_dtype_name(dt));
    double st = dat(ts, 0), li = dat(tl, 0), de = dat(td, 0);
    double span = dt == TEQ_DTYPE_FLOAT ? (double)((float)li - (float)st) : li - st;
    if (de == 0 || !isfinite(de) || !isfinite(span))
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "start/limit/delta must be finite and delta non-zero");
    double nd = ceil(span / de);
    if (!(nd < 4.0e18)) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "output too large");
    n = nd > 0 ? (int64_t)nd : 0;
    teq_status s = alloc_out(ctx, node, out[0], dt, 1, &n);
    if (s) return s;
    if (dt == TEQ_DTYPE_FLOAT) {
        float v = (float)st, d = (float)de, *o = out[0]->data;
        for (int64_t i = 0; i < n; i++, v += d) o[i] = v;
    } else {
        double v = st, *o = out[0]->data;
        for (int64_t i = 0; i < n; i++, v += de) o[i] = v;
    }
    return TEQ_OK;
}

/* Constant: output the attribute value (value tensor, value_float(s), value_int(s)). */
static teq_status op_constant(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                              teq_tensor *const *out) {
    const teq_attr *a;
    teq_status s;
    if ((a = teq_node_attr(node, "value")) != NULL) {
        if (a->type != TEQ_ATTR_TENSOR || !a->t)
            return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "attribute 'value' must be a tensor");
        size_t es = teq_dtype_size(a->t->dtype);
        if (!es) return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "value has unsupported data type %d", (int)a->t->dtype);
        if ((s = alloc_out(ctx, node, out[0], a->t->dtype, a->t->ndim, a->t->dims))) return s;
        memcpy(out[0]->data, a->t->data, (size_t)teq_tensor_numel(a->t) * es);
        return TEQ_OK;
    }
    if ((a = teq_node_attr(node, "value_float")) != NULL) {
        if ((s = alloc_out(ctx, node, out[0], TEQ_DTYPE_FLOAT, 0, NULL))) return s;
        *(float *)out[0]->data = teq_node_attr_float(node, "value_float", 0);
        return TEQ_OK;
    }
    if ((a = teq_node_attr(node, "value_int")) != NULL) {
        if ((s = alloc_out(ctx, node, out[0], TEQ_DTYPE_INT64, 0, NULL))) return s;
        *(int64_t *)out[0]->data = teq_node_attr_int(node, "value_int", 0);
        return TEQ_OK;
    }
    if ((a = teq_node_attr(node, "value_floats")) != NULL && a->type == TEQ_ATTR_FLOATS) {
        int64_t n = a->n;
        if ((s = alloc_out(ctx, node, out[0], TEQ_DTYPE_FLOAT, 1, &n))) return s;
        if (n) memcpy(out[0]->data, a->floats, sizeof(float) * (size_t)n);
        return TEQ_OK;
    }
    if ((a = teq_node_attr(node, "value_ints")) != NULL && a->type == TEQ_ATTR_INTS) {
        int64_t n = a->n;
        if ((s = alloc_out(ctx, node, out[0], TEQ_DTYPE_INT64, 1, &n))) return s;
        if (n) memcpy(out[0]->data, a->ints, sizeof(int64_t) * (size_t)n);
        return TEQ_OK;
    }
    return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "no supported value attribute (string and sparse values are not)");
}

/* ------------------------------------------------------------------ DepthToSpace, SpaceToDepth */

/* DepthToSpace: [N, C, H, W] -> [N, C/b^2, H*b, W*b]; DCR takes channels as (b1, b2, c), CRD as (c, b1, b2). */
static teq_status op_depth_to_space(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                                    teq_tensor *const *out) {
    const teq_tensor *x = in[0];
    size_t es;
    teq_status s = elem_size(ctx, node, x, "input", &es);
    if (s) return s;
    if (x->ndim != 4) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "input must be 4-D, got rank %d", x->ndim);
    int64_t b = teq_node_attr_int(node, "blocksize", 0);
    const char *mode = teq_node_attr_string(node, "mode", "DCR");
    bool crd = !strcmp(mode, "CRD");
    if (!crd && strcmp(mode, "DCR")) return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "mode '%s' is not supported", mode);
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    if (b <= 0 || b > 65536 || C % (b * b) != 0)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "blocksize %lld does not divide %lld channels", (long long)b, (long long)C);
    int64_t Co = C / (b * b), dims[4] = {N, Co, H * b, W * b};
    int64_t sC, sB1, sB2, HW = H * W;
    if (crd) {
        sC = b * b * HW;
        sB1 = b * HW;
        sB2 = HW;
    } else {
        sB1 = b * Co * HW;
        sB2 = Co * HW;
        sC = HW;
    }
    view v = {.nd = 6, .dims = {N, Co, H, b, W, b}, .strides = {C * HW, sC, W, sB1, 1, sB2}, .base = 0};
    if ((s = alloc_out(ctx, node, out[0], x->dtype, 4, dims))) return s;
    view_copy(ctx, out[0]->data, x->data, es, &v);
    return TEQ_OK;
}

/* SpaceToDepth: [N, C, H, W] -> [N, C*b^2, H/b, W/b], channels ordered (b1, b2, c). */
static teq_status op_space_to_depth(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                                    teq_tensor *const *out) {
    const teq_tensor *x = in[0];
    size_t es;
    teq_status s = elem_size(ctx, node, x, "input", &es);
    if (s) return s;
    if (x->ndim != 4) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "input must be 4-D, got rank %d", x->ndim);
    int64_t b = teq_node_attr_int(node, "blocksize", 0);
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    if (b <= 0 || b > 65536 || H % b != 0 || W % b != 0)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "blocksize %lld does not divide H=%lld, W=%lld", (long long)b,
                           (long long)H, (long long)W);
    int64_t dims[4] = {N, C * b * b, H / b, W / b};
    view v = {.nd = 6,
              .dims = {N, b, b, C, H / b, W / b},
              .strides = {C * H * W, W, 1, H * W, b * W, b},
              .base = 0};
    if ((s = alloc_out(ctx, node, out[0], x->dtype, 4, dims))) return s;
    view_copy(ctx, out[0]->data, x->data, es, &v);
    return TEQ_OK;
}

/* ------------------------------------------------------------------ Trilu, NonZero */

/* Trilu: [..., M, N] keeps j - i >= k (upper) or j - i <= k (lower), zeroes the rest. */
static teq_status op_trilu(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                           teq_tensor *const *out) {
    const teq_tensor *x = in[0];
    size_t es;
    teq_status s = elem_size(ctx, node, x, "input", &es);
    if (s) return s;
    if (x->ndim < 2) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "input must have rank >= 2");
    int64_t k = 0;
    if (node->n_in >= 2 && in[1]) {
        if (!is_int_tensor(in[1]) || teq_tensor_numel(in[1]) != 1)
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "k must be an int64 scalar");
        k = iat(in[1], 0);
    }
    bool upper = teq_node_attr_int(node, "upper", 1) != 0;
    if ((s = alloc_out(ctx, node, out[0], x->dtype, x->ndim, x->dims))) return s;
    int64_t M = x->dims[x->ndim - 2], N = x->dims[x->ndim - 1], total = teq_tensor_numel(x);
    /* Beyond +-(M+N) every k behaves the same; clamping keeps i + k + 1 from overflowing. */
    if (k > M + N) k = M + N;
    if (k < -(M + N)) k = -(M + N);
    int64_t rows = M ? total / N : 0;
    if (N == 0 || M == 0) return TEQ_OK;
    const char *src = x->data;
    char *o = out[0]->data;
    for (int64_t row = 0; row < rows; row++) {
        int64_t i = row % M;
        /* Kept columns: [lo, hi). */
        int64_t lo, hi;
        if (upper) {
            lo = i + k < 0 ? 0 : i + k > N ? N : i + k;
            hi = N;
        } else {
            lo = 0;
            hi = i + k + 1 < 0 ? 0 : i + k + 1 > N ? N : i + k + 1;
        }
        char *d = o + (size_t)(row * N) * es;
        const char *sr = src + (size_t)(row * N) * es;
        memset(d, 0, (size_t)N * es);
        if (hi > lo) memcpy(d + (size_t)lo * es, sr + (size_t)lo * es, (size_t)(hi - lo) * es);
    }
    return TEQ_OK;
}

/* NonZero: x [dims] -> int64 [rank, nnz], coordinates of non-zero elements in row-major order
 * (a scalar counts as shape [1]). */
static teq_status op_nonzero(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                             teq_tensor *const *out) {
    const teq_tensor *x = in[0];
    size_t es;
    teq_status s = elem_size(ctx, node, x, "input", &es);
    if (s) return s;
    int64_t n = teq_tensor_numel(x), nnz = 0;
    for (int64_t i = 0; i < n; i++) nnz += dat(x, i) != 0 || isnan(dat(x, i));
    int r = x->ndim ? x->ndim : 1;
    int64_t xd[TEQ_MAX_DIMS], dims[2] = {r, nnz};
    if (x->ndim) memcpy(xd, x->dims, sizeof(int64_t) * (size_t)r);
    else xd[0] = 1;
    if ((s = alloc_out(ctx, node, out[0], TEQ_DTYPE_INT64, 2, dims))) return s;
    int64_t *o = out[0]->data, c[TEQ_MAX_DIMS] = {0}, k = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = dat(x, i);
        if (v != 0 || isnan(v)) {
            for (int d = 0; d < r; d++) o[d * nnz + k] = c[d];
            k++;
        }
        incr(r, xd, c);
    }
    return TEQ_OK;
}

/* ------------------------------------------------------------------ Resize, Upsample */

enum { RZ_NEAREST, RZ_LINEAR, RZ_CUBIC };
enum {
    CT_HALF_PIXEL,
    CT_ASYMMETRIC,
    CT_ALIGN_CORNERS,
    CT_PYTORCH_HALF_PIXEL,
    CT_TF_HALF_PIXEL_FOR_NN,
    CT_TF_CROP_AND_RESIZE,
    CT_HALF_PIXEL_SYMMETRIC
};
/* NM_SIMPLE is Upsample / Resize-10 rounding: truncate when upsampling, ceil when downsampling. */
enum { NM_ROUND_PREFER_FLOOR, NM_ROUND_PREFER_CEIL, NM_FLOOR, NM_CEIL, NM_SIMPLE };

typedef struct resize_cfg {
    int mode, coord, nearest, exclude_outside;
    float cubic_a, extrapolation;
} resize_cfg;

/* Per output axis: for each output coordinate, up to 4 (input index, weight) taps and an
 * out-of-range flag (tf_crop_and_resize extrapolation). */
typedef struct axis_taps {
    int64_t *idx; /* [out_len * 4] */
    float *w;     /* [out_len * 4] */
    uint8_t *ntap;
    uint8_t *oob;
} axis_taps;

/* Input coordinate of output coordinate x, computed in float as ONNX Runtime does (so nearest
 * rounding ties fall the same way). out_f is the resized length the spec's formulas use: the output
 * size when 'sizes' is given, input size * scale otherwise (not rounded down: the ONNX reference
 * does so for align_corners and pytorch_half_pixel). */
static float resize_coord(int ct, float x, float scale, int64_t in_len, int64_t out_len, float out_f, float roi_s,
                          float roi_e) {
    switch (ct) {
    case CT_ASYMMETRIC: return x / scale;
    case CT_ALIGN_CORNERS: return out_f == 1.0f ? 0.0f : x * (float)(in_len - 1) / (out_f - 1.0f);
    case CT_PYTORCH_HALF_PIXEL: return out_f > 1.0f ? (x + 0.5f) / scale - 0.5f : 0.0f;
    case CT_TF_HALF_PIXEL_FOR_NN: return (x + 0.5f) / scale;
    case CT_TF_CROP_AND_RESIZE:
        return out_len > 1 ? roi_s * (float)(in_len - 1) + (x * (roi_e - roi_s) * (float)(in_len - 1)) / (float)(out_len - 1)
                           : 0.5f * (roi_s + roi_e) * (float)(in_len - 1);
    case CT_HALF_PIXEL_SYMMETRIC: {
        float adj = (float)out_len / (scale * (float)in_len), center = (float)in_len / 2.0f;
        return center * (1.0f - adj) + (x + 0.5f) / scale - 0.5f;
    }
    default: return (x + 0.5f) / scale - 0.5f;
    }
}

static int64_t nearest_index(int nm, float x, bool down) {
    switch (nm) {
    case NM_ROUND_PREFER_CEIL: return (int64_t)roundf(x);
    case NM_FLOOR: return (int64_t)floorf(x);
    case NM_CEIL: return (int64_t)ceilf(x);
    case NM_SIMPLE: return down ? (int64_t)ceilf(x) : (int64_t)x;
    default: {
        float f = floorf(x);
        return x - f == 0.5f ? (int64_t)f : (int64_t)roundf(x);
    }
    }
}

/* Fill t (storage for out_len entries already set) for one axis. */
static void build_taps(const resize_cfg *cfg, axis_taps *t, int64_t in_len, int64_t out_len, float out_f, float scale,
                       float roi_s, float roi_e) {
    /* An axis that is not resized maps to itself, as in ONNX Runtime; by the formulas alone,
     * tf_half_pixel_for_nn with ceil rounding would shift it by one. */
    bool same = in_len == out_len && scale == 1.0f && cfg->coord != CT_TF_CROP_AND_RESIZE;
    for (int64_t o = 0; o < out_len; o++) {
        if (same) {
            t->idx[o * 4] = o;
            t->w[o * 4] = 1.0f;
            t->ntap[o] = 1;
            t->oob[o] = 0;
            continue;
        }
        float x = resize_coord(cfg->coord, (float)o, scale, in_len, out_len, out_f, roi_s, roi_e);
        int64_t *ix = t->idx + o * 4;
        float *w = t->w + o * 4;
        int n = 0;
        t->oob[o] = 0;
        if (cfg->coord == CT_TF_CROP_AND_RESIZE && (x < 0 || x > (float)(in_len - 1))) t->oob[o] = 1;
        if (!(x == x)) x = 0; /* NaN from a degenerate scale */
        /* Keep x in a range where integer conversions are defined; results beyond it are edge values. */
        if (x < -8.0f) x = -8.0f;
        if (x > (float)in_len + 8.0f) x = (float)in_len + 8.0f;
        if (cfg->mode == RZ_NEAREST) {
            int64_t i = nearest_index(cfg->nearest, x, scale < 1.0f);
            ix[0] = i < 0 ? 0 : i >= in_len ? in_len - 1 : i;
            w[0] = 1.0f;
            n = 1;
        } else if (cfg->mode == RZ_LINEAR) {
            float xc = x < 0 ? 0 : x > (float)(in_len - 1) ? (float)(in_len - 1) : x;
            int64_t x0 = (int64_t)xc, x1 = x0 + 1 < in_len ? x0 + 1 : in_len - 1;
            float f = xc - (float)x0;
            ix[0] = x0;
            w[0] = 1.0f - f;
            ix[1] = x1;
            w[1] = f;
            n = 2;
        } else {
            float A = cfg->cubic_a, fl = floorf(x), r = x - fl;
            int64_t x0 = (int64_t)fl;
            float c[4] = {((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A,
                          ((A + 2) * r - (A + 3)) * r * r + 1,
                          ((A + 2) * (1 - r) - (A + 3)) * (1 - r) * (1 - r) + 1,
                          ((A * (2 - r) - 5 * A) * (2 - r) + 8 * A) * (2 - r) - 4 * A};
            float sum = 0;
            for (int k = 0; k < 4; k++) {
                int64_t i = x0 - 1 + k;
                if (cfg->exclude_outside && (i < 0 || i >= in_len)) c[k] = 0;
                sum += c[k];
                ix[k] = i < 0 ? 0 : i >= in_len ? in_len - 1 : i;
            }
            if (cfg->exclude_outside) {
                if (sum != 0)
                    for (int k = 0; k < 4; k++) c[k] /= sum;
                else
                    c[1] = 1.0f; /* every tap outside: fall back to the nearest edge */
            }
            for (int k = 0; k < 4; k++) w[k] = c[k];
            n = 4;
        }
        /* Merge taps on the same index and drop zero weights: unresized axes end with one tap. */
        int m = 0;
        for (int k = 0; k < n; k++) {
            int j;
            for (j = 0; j < m; j++)
                if (ix[j] == ix[k]) break;
            if (j < m) {
                w[j] += w[k];
                continue;
            }
            ix[m] = ix[k];
            w[m] = w[k];
            m++;
        }
        int q = 0;
        for (int k = 0; k < m; k++)
            if (w[k] != 0.0f) {
                ix[q] = ix[k];
                w[q] = w[k];
                q++;
            }
        if (q == 0) {
            q = 1;
            w[0] = 0.0f;
        }
        t->ntap[o] = (uint8_t)q;
    }
}

/* Nearest gather for any dtype: out[c] = x[map0[c0], ..., map_last[c_last]] (or the extrapolation value
 * where a coordinate is out of range). An output row whose source row equals the previous one is a
 * memcpy of the previous output row (integer upsampling repeats every row). */
static void resize_nearest_kernel(const teq_exec_ctx *ctx, const teq_tensor *x, teq_tensor *y, size_t es,
                                  const axis_taps *ax, const void *extra) {
    int r = x->ndim, last = r - 1;
    int64_t xst[TEQ_MAX_DIMS];
    strides_of(r, x->dims, xst);
    int64_t inner = y->dims[last], total = teq_tensor_numel(y), rows = total / inner;
    const char *src = x->data;
    char *o = y->data;
    const int64_t *lidx = ax[last].idx;
    const uint8_t *loob = ax[last].oob;
    /* Integer upsampling of the last axis (out = k * in, out[j] = in[j / k]): replicate runs. */
    int64_t rep = inner % x->dims[last] == 0 ? inner / x->dims[last] : 0;
    for (int64_t j = 0; j < inner && rep > 0; j++)
        if (lidx[j * 4] != j / rep || loob[j]) rep = 0;
    int nt = threads_for(ctx, total);
    if (rows < nt) nt = (int)rows;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        int64_t r0 = rows * tid / nth, r1 = rows * (tid + 1) / nth, c[TEQ_MAX_DIMS];
        unravel(r0, last, y->dims, c);
        int64_t prev_off = -1;
        for (int64_t row = r0; row < r1; row++) {
            char *dst = o + (size_t)(row * inner) * es;
            int64_t off = 0;
            bool oob = false;
            for (int a = 0; a < last; a++) {
                oob |= ax[a].oob[c[a]] != 0;
                off += ax[a].idx[c[a] * 4] * xst[a];
            }
            if (oob) {
                fill_elems(dst, inner, extra, es);
                prev_off = -1;
            } else if (off == prev_off) {
                memcpy(dst, dst - (size_t)inner * es, (size_t)inner * es);
            } else if (rep == 2 && es == 4) {
                const uint32_t *sr = (const uint32_t *)(src + (size_t)off * es);
                uint32_t *d = (uint32_t *)dst;
                for (int64_t i = 0, n = inner / 2; i < n; i++) d[2 * i] = d[2 * i + 1] = sr[i];
                prev_off = off;
            } else if (rep > 0) {
                const char *sr = src + (size_t)off * es;
                for (int64_t i = 0, n = inner / rep; i < n; i++)
                    for (int64_t q = 0; q < rep; q++) copy_one(dst + (size_t)(i * rep + q) * es, sr + (size_t)i * es, es);
                prev_off = off;
            } else {
                const char *sr = src + (size_t)off * es;
                switch (es) {
                case 4:
                    for (int64_t j = 0; j < inner; j++) ((uint32_t *)dst)[j] = ((const uint32_t *)sr)[lidx[j * 4]];
                    break;
                case 8:
                    for (int64_t j = 0; j < inner; j++) ((uint64_t *)dst)[j] = ((const uint64_t *)sr)[lidx[j * 4]];
                    break;
                case 1:
                    for (int64_t j = 0; j < inner; j++) ((uint8_t *)dst)[j] = ((const uint8_t *)sr)[lidx[j * 4]];
                    break;
                default:
                    for (int64_t j = 0; j < inner; j++) memcpy(dst + (size_t)j * es, sr + (size_t)lidx[j * 4] * es, es);
                }
                for (int64_t j = 0; j < inner; j++)
                    if (loob[j]) memcpy(dst + (size_t)j * es, extra, es);
                prev_off = off;
            }
            incr(last, y->dims, c);
        }
    }
}

/* The (bi)linear path's two loops along the last axis: h[j] = w0[j] s[i0[j]] + w1[j] s[i1[j]] (a source row
 * interpolated), and dst[j] = c0 h0[j] + c1 h1[j], the operations of the one loop they were before. Cloned for
 * AVX2 (32-bit indices, which GCC 12 vectorizes; it takes no gathers with 64-bit ones), without contracting
 * to FMAs, so that every clone rounds as the baseline does (two products and a sum, each rounded). */
#define RESIZE_ROW_FNS(SUF, T)                                                                                        \
    __attribute__((optimize("fp-contract=off", "tree-vectorize"))) TEQ_CLONES static void resize_hrow_##SUF(   \
        const T *restrict s, const int32_t *restrict i0, const int32_t *restrict i1, const float *restrict w0,      \
        const float *restrict w1, int64_t n, T *restrict h) {                                                       \
        for (int64_t j = 0; j < n; j++) h[j] = (T)w0[j] * s[i0[j]] + (T)w1[j] * s[i1[j]];                           \
    }                                                                                                               \
    __attribute__((optimize("fp-contract=off", "tree-vectorize"))) TEQ_CLONES static void resize_comb_##SUF(   \
        const T *restrict h0, const T *restrict h1, T c0, T c1, int64_t n, T *restrict dst) {                       \
        for (int64_t j = 0; j < n; j++) dst[j] = c0 * h0[j] + c1 * h1[j];                                          \
    }
RESIZE_ROW_FNS(f32, float)
RESIZE_ROW_FNS(f64, double)

/* Weighted kernel (linear, cubic) for float and double: per output row, the taps of the leading axes
 * form a list of (source row offset, weight); the last axis applies its own taps inside the row. */
#define RESIZE_WEIGHTED(NAME, T, SUF)                                                                                 \
    static void NAME(const teq_exec_ctx *ctx, const teq_tensor *x, teq_tensor *y, const axis_taps *ax, double extra, \
                     int64_t *cbuf_off, double *cbuf_w, int64_t maxc, const int32_t *li0, const int32_t *li1,        \
                     const float *lw0, const float *lw1, T *hbuf) {                                                  \
        int r = x->ndim, last = r - 1;                                                                               \
        int64_t xst[TEQ_MAX_DIMS];                                                                                   \
        strides_of(r, x->dims, xst);                                                                                 \
        int64_t inner = y->dims[last], total = teq_tensor_numel(y), rows = total / inner;                           \
        const T *src = x->data;                                                                                      \
        T *o = y->data;                                                                                              \
        const axis_taps *L = &ax[last];                                                                              \
        int nt = threads_for(ctx, total * 4);                                                                        \
        if (rows < nt) nt = (int)rows;                                                                               \
        _Pragma("omp parallel num_threads(nt) if (nt > 1)") {                                                        \
            int tid = omp_get_thread_num(), nth = omp_get_num_threads();                                             \
            int64_t r0 = rows * tid / nth, r1 = rows * (tid + 1) / nth, c[TEQ_MAX_DIMS];                             \
            int64_t *coff = cbuf_off + (int64_t)tid * maxc;                                                          \
            double *cw = cbuf_w + (int64_t)tid * maxc;                                                               \
            /* (bi)linear: the last axis's interpolation of the two source rows last used, kept (an upsampled     \
             * source row serves several output rows), keyed by the row's offset */                                \
            T *hb[2] = {hbuf ? hbuf + (int64_t)tid * 2 * inner : NULL, hbuf ? hbuf + ((int64_t)tid * 2 + 1) * inner : NULL}; \
            int64_t hkey[2] = {-1, -1};                                                                              \
            unravel(r0, last, y->dims, c);                                                                           \
            for (int64_t row = r0; row < r1; row++) {                                                                \
                T *dst = o + row * inner;                                                                            \
                bool oob = false;                                                                                    \
                int64_t nc = 1;                                                                                      \
                coff[0] = 0;                                                                                         \
                cw[0] = 1.0;                                                                                         \
                for (int a = 0; a < last && !oob; a++) {                                                             \
                    const axis_taps *A = &ax[a];                                                                     \
                    oob = A->oob[c[a]] != 0;                                                                         \
                    int nta = A->ntap[c[a]];                                                                         \
                    const int64_t *ia = A->idx + c[a] * 4;                                                           \
                    const float *wa = A->w + c[a] * 4;                                                               \
                    if (nta == 1) {                                                                                  \
                        for (int64_t q = 0; q < nc; q++) {                                                           \
                            coff[q] += ia[0] * xst[a];                                                               \
                            cw[q] *= wa[0];                                                                          \
                        }                                                                                            \
                        continue;                                                                                    \
                    }                                                                                                \
                    for (int64_t q = nc - 1; q >= 0; q--)                                                            \
                        for (int t = nta - 1; t >= 0; t--) {                                                         \
                            coff[q * nta + t] = coff[q] + ia[t] * xst[a];                                            \
                            cw[q * nta + t] = cw[q] * wa[t];                                                         \
                        }                                                                                            \
                    nc *= nta;                                                                                       \
                }                                                                                                    \
                if (oob) {                                                                                           \
                    for (int64_t j = 0; j < inner; j++) dst[j] = (T)extra;                                           \
                } else if (li0 && nc <= 2) { /* (bi)linear: two taps per axis, fixed loop */                         \
                    /* each source row's a = w0 s[i0] + w1 s[i1] along the row, from the kept pair or into the slot  \
                     * the other row does not hold; then c0 a + c1 b, the same operations as one loop */            \
                    const int64_t o[2] = {coff[0], coff[nc - 1]};                                                    \
                    const T *h[2];                                                                                   \
                    for (int e = 0; e < 2; e++) {                                                                    \
                        int k = hkey[0] == o[e] ? 0 : hkey[1] == o[e] ? 1 : -1;                                      \
                        if (k < 0) {                                                                                 \
                            k = e == 0 ? (hkey[0] == o[1] ? 1 : 0) : (h[0] == hb[0] ? 1 : 0);                 \
                            resize_hrow_##SUF(src + o[e], li0, li1, lw0, lw1, inner, hb[k]);                         \
                            hkey[k] = o[e];                                                                          \
                        }                                                                                            \
                        h[e] = hb[k];                                                                                \
                    }                                                                                                \
                    T c0 = (T)cw[0], c1 = nc == 2 ? (T)cw[1] : (T)0;                                                 \
                    resize_comb_##SUF(h[0], h[1], c0, c1, inner, dst);                                               \
                } else {                                                                                             \
                    for (int64_t j = 0; j < inner; j++) {                                                            \
                        if (L->oob[j]) {                                                                             \
                            dst[j] = (T)extra;                                                                       \
                            continue;                                                                                \
                        }                                                                                            \
                        int ntl = L->ntap[j];                                                                        \
                        const int64_t *il = L->idx + j * 4;                                                          \
                        const float *wl = L->w + j * 4;                                                              \
                        double acc = 0;                                                                              \
                        for (int64_t q = 0; q < nc; q++) {                                                           \
                            const T *sr = src + coff[q];                                                             \
                            double part = 0;                                                                         \
                            for (int t = 0; t < ntl; t++) part += (double)wl[t] * (double)sr[il[t]];                 \
                            acc += cw[q] * part;                                                                     \
                        }                                                                                            \
                        dst[j] = (T)acc;                                                                             \
                    }                                                                                                \
                }                                                                                                    \
                incr(last, y->dims, c);                                                                              \
            }                                                                                                        \
        }                                                                                                            \
    }
RESIZE_WEIGHTED(resize_weighted_f32, float, f32)
RESIZE_WEIGHTED(resize_weighted_f64, double, f64)

/* Read a float/double 1-D tensor of at most cap values. */
static teq_status read_float_list(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *t, const char *what,
                                  float *out, int64_t cap, int64_t *n) {
    if (t->dtype != TEQ_DTYPE_FLOAT && t->dtype != TEQ_DTYPE_DOUBLE)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "%s must be float, got %s", what, teq_dtype_name(t->dtype));
    int64_t k = teq_tensor_numel(t);
    if (k > cap) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "%s has %lld values, at most %lld allowed", what, (long long)k, (long long)cap);
    for (int64_t i = 0; i < k; i++) out[i] = (float)dat(t, i);
    *n = k;
    return TEQ_OK;
}

/* Shared by Resize (10..19) and Upsample (7, 9): X [any rank] -> resized X. */
static teq_status op_resize(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                            teq_tensor *const *out) {
    const teq_tensor *x = in[0];
    int r = x->ndim;
    size_t es;
    teq_status s = elem_size(ctx, node, x, "input", &es);
    if (s) return s;
    if (r < 1) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "input must have rank >= 1");
    bool upsample = !strcmp(node->op_type, "Upsample");
    bool v11 = !upsample && node->opset >= 11;
    resize_cfg cfg = {.mode = RZ_NEAREST, .coord = CT_ASYMMETRIC, .nearest = NM_SIMPLE, .exclude_outside = 0,
                      .cubic_a = -0.75f, .extrapolation = 0.0f};
    const char *ms = teq_node_attr_string(node, "mode", "nearest");
    if (!strcmp(ms, "nearest")) cfg.mode = RZ_NEAREST;
    else if (!strcmp(ms, "linear") || (!v11 && !strcmp(ms, "bilinear"))) cfg.mode = RZ_LINEAR;
    else if (v11 && !strcmp(ms, "cubic")) cfg.mode = RZ_CUBIC;
    else return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "mode '%s' is not supported", ms);
    if (v11) {
        const char *cs = teq_node_attr_string(node, "coordinate_transformation_mode", "half_pixel");
        static const char *const cnames[] = {"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel",
                                             "tf_half_pixel_for_nn", "tf_crop_and_resize", "half_pixel_symmetric"};
        cfg.coord = -1;
        for (int i = 0; i < 7; i++)
            if (!strcmp(cs, cnames[i])) cfg.coord = i;
        if (cfg.coord < 0)
            return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "coordinate_transformation_mode '%s' is not supported", cs);
        const char *ns = teq_node_attr_string(node, "nearest_mode", "round_prefer_floor");
        static const char *const nnames[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
        cfg.nearest = -1;
        for (int i = 0; i < 4; i++)
            if (!strcmp(ns, nnames[i])) cfg.nearest = i;
        if (cfg.nearest < 0) return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "nearest_mode '%s' is not supported", ns);
        cfg.cubic_a = teq_node_attr_float(node, "cubic_coeff_a", -0.75f);
        cfg.exclude_outside = teq_node_attr_int(node, "exclude_outside", 0) != 0;
        cfg.extrapolation = teq_node_attr_float(node, "extrapolation_value", 0.0f);
        if (teq_node_attr_int(node, "antialias", 0) != 0)
            return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "antialias=1 is not supported");
    }
    if (cfg.mode != RZ_NEAREST && x->dtype != TEQ_DTYPE_FLOAT && x->dtype != TEQ_DTYPE_DOUBLE)
        return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "mode '%s' on %s data is not supported", ms,
                           teq_dtype_name(x->dtype));

    /* Axes that roi/scales/sizes refer to (opset 18 'axes'; all axes otherwise). */
    int axes[TEQ_MAX_DIMS], na = r;
    for (int i = 0; i < r; i++) axes[i] = i;
    if (v11) {
        int64_t araw[TEQ_MAX_DIMS], n;
        bool present;
        if ((s = read_attr_ints(ctx, node, "axes", araw, TEQ_MAX_DIMS, &n, &present))) return s;
        if (present) {
            bool seen[TEQ_MAX_DIMS] = {false};
            na = (int)n;
            for (int i = 0; i < na; i++) {
                if (!norm_axis(araw[i], r, &axes[i]) || seen[axes[i]])
                    return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "axis %lld is invalid or repeated", (long long)araw[i]);
                seen[axes[i]] = true;
            }
        }
    }
    float scales[TEQ_MAX_DIMS], roi_s[TEQ_MAX_DIMS], roi_e[TEQ_MAX_DIMS];
    int64_t sizes[TEQ_MAX_DIMS], dims[TEQ_MAX_DIMS];
    for (int i = 0; i < r; i++) {
        scales[i] = 1.0f;
        roi_s[i] = 0.0f;
        roi_e[i] = 1.0f;
        dims[i] = x->dims[i];
    }
    float sc_in[TEQ_MAX_DIMS];
    int64_t nsc = 0, nsz = 0;
    const teq_tensor *tsc = NULL, *tsz = NULL, *troi = NULL;
    if (upsample && node->opset < 9) {
        bool ok = false;
        int64_t k;
        const float *f = teq_node_attr_floats(node, "scales", &k);
        if (f && k <= TEQ_MAX_DIMS) {
            for (int i = 0; i < k; i++) sc_in[i] = f[i];
            nsc = k;
            ok = true;
        }
        if (!ok) return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "missing or invalid 'scales' attribute");
    } else if (!v11) {
        if (node->n_in < 2 || !in[1]) return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "missing 'scales' input");
        tsc = in[1];
    } else {
        if (node->n_in >= 2 && in[1] && teq_tensor_numel(in[1]) > 0) troi = in[1];
        if (node->n_in >= 3 && in[2] && teq_tensor_numel(in[2]) > 0) tsc = in[2];
        if (node->n_in >= 4 && in[3] && teq_tensor_numel(in[3]) > 0) tsz = in[3];
        if (tsc && tsz) return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "only one of scales and sizes may be given");
        if (!tsc && !tsz) return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "one of scales and sizes must be given");
    }
    if (tsc && (s = read_float_list(ctx, node, tsc, "scales", sc_in, TEQ_MAX_DIMS, &nsc))) return s;
    if (tsz && (s = read_int_list(ctx, node, tsz, "sizes", sizes, TEQ_MAX_DIMS, &nsz))) return s;
    if (troi && cfg.coord == CT_TF_CROP_AND_RESIZE) {
        float rv[2 * TEQ_MAX_DIMS];
        int64_t nr;
        if ((s = read_float_list(ctx, node, troi, "roi", rv, 2 * TEQ_MAX_DIMS, &nr))) return s;
        if (nr != 2 * na) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "roi has %lld values for %d axes", (long long)nr, na);
        for (int i = 0; i < na; i++) {
            roi_s[axes[i]] = rv[i];
            roi_e[axes[i]] = rv[na + i];
        }
    }
    if (!tsz) {
        if (nsc != na) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "scales has %lld values for %d axes", (long long)nsc, na);
        for (int i = 0; i < na; i++) {
            int a = axes[i];
            if (!(sc_in[i] > 0) || !isfinite(sc_in[i]))
                return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "scale %g is not positive", (double)sc_in[i]);
            scales[a] = sc_in[i];
            float len = (float)x->dims[a];
            if (cfg.coord == CT_TF_CROP_AND_RESIZE) len *= roi_e[a] - roi_s[a];
            float od = floorf(len * sc_in[i]);
            if (!(od >= 0 && od < 4.0e18f)) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "output size on axis %d is invalid", a);
            dims[a] = (int64_t)od;
        }
    } else {
        if (nsz != na) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "sizes has %lld values for %d axes", (long long)nsz, na);
        for (int i = 0; i < na; i++)
            if (sizes[i] < 0) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "size %lld is negative", (long long)sizes[i]);
        const char *kp = teq_node_attr_string(node, "keep_aspect_ratio_policy", "stretch");
        if (!strcmp(kp, "stretch")) {
            for (int i = 0; i < na; i++) {
                int a = axes[i];
                dims[a] = sizes[i];
                scales[a] = x->dims[a] ? (float)sizes[i] / (float)x->dims[a] : 1.0f;
            }
        } else if (!strcmp(kp, "not_larger") || !strcmp(kp, "not_smaller")) {
            bool larger = !strcmp(kp, "not_smaller");
            float sc = larger ? 0.0f : FLT_MAX;
            for (int i = 0; i < na; i++) {
                int a = axes[i];
                if (!x->dims[a]) continue;
                float v = (float)sizes[i] / (float)x->dims[a];
                sc = larger ? (v > sc ? v : sc) : (v < sc ? v : sc);
            }
            if (sc == FLT_MAX || sc == 0.0f) sc = 1.0f;
            for (int i = 0; i < na; i++) {
                int a = axes[i];
                scales[a] = sc;
                dims[a] = (int64_t)floorf(sc * (float)x->dims[a] + 0.5f);
            }
        } else {
            return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "keep_aspect_ratio_policy '%s' is not supported", kp);
        }
    }
    int64_t total;
    if (!teq_dims_numel(r, dims, &total)) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "output too large");
    for (int a = 0; a < r; a++)
        if (x->dims[a] == 0 && dims[a] > 0)
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "cannot resize an empty axis %d to %lld", a, (long long)dims[a]);
    if ((s = alloc_out(ctx, node, out[0], x->dtype, r, dims))) return s;
    if (total == 0) return TEQ_OK;

    /* Tap tables. */
    int64_t sum_out = 0;
    for (int a = 0; a < r; a++) sum_out += dims[a];
    size_t per = 4 * sizeof(int64_t) + 4 * sizeof(float) + 2;
    char *mem = malloc((size_t)sum_out * per);
    if (!mem) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory");
    axis_taps ax[TEQ_MAX_DIMS];
    char *p = mem;
    for (int a = 0; a < r; a++) {
        ax[a].idx = (int64_t *)p;
        p += (size_t)dims[a] * 4 * sizeof(int64_t);
    }
    for (int a = 0; a < r; a++) {
        ax[a].w = (float *)p;
        p += (size_t)dims[a] * 4 * sizeof(float);
    }
    for (int a = 0; a < r; a++) {
        ax[a].ntap = (uint8_t *)p;
        p += (size_t)dims[a];
        ax[a].oob = (uint8_t *)p;
        p += (size_t)dims[a];
    }
    for (int a = 0; a < r; a++) {
        float out_f = tsz ? (float)dims[a] : (float)x->dims[a] * scales[a];
        build_taps(&cfg, &ax[a], x->dims[a], dims[a], out_f, scales[a], roi_s[a], roi_e[a]);
    }

    if (cfg.mode == RZ_NEAREST) {
        uint8_t extra[16] = {0};
        store_scalar(extra, x->dtype, cfg.extrapolation);
        resize_nearest_kernel(ctx, x, out[0], es, ax, extra);
    } else {
        /* Tap-combination buffers for the leading axes, one set per thread. */
        int64_t maxc = 1;
        for (int a = 0; a < r - 1; a++) {
            int m = 1;
            for (int64_t o = 0; o < dims[a]; o++)
                if (ax[a].ntap[o] > m) m = ax[a].ntap[o];
            maxc *= m;
        }
        int nt = teq_ctx_threads(ctx);
        if (nt < 1) nt = 1;
        char *cb = malloc((size_t)maxc * (size_t)nt * (sizeof(int64_t) + sizeof(double)));
        if (!cb) {
            free(mem);
            return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory");
        }
        int64_t *coff = (int64_t *)cb;
        double *cw = (double *)(cb + (size_t)maxc * (size_t)nt * sizeof(int64_t));
        /* Last axis as fixed two-tap arrays when it has at most two taps everywhere and no extrapolation. */
        const axis_taps *L = &ax[r - 1];
        int64_t W = dims[r - 1];
        bool two = true;
        for (int64_t j = 0; j < W && two; j++) two = L->ntap[j] <= 2 && !L->oob[j];
        two = two && x->dims[r - 1] <= INT32_MAX; /* the indices along the last axis as int32 */
        /* and per thread two rows of that axis's interpolation (RESIZE_WEIGHTED's kept rows), in x's type */
        const size_t esz = x->dtype == TEQ_DTYPE_FLOAT ? sizeof(float) : sizeof(double);
        char *lb = two ? malloc((size_t)W * 2 * (sizeof(int32_t) + sizeof(float)) + (size_t)W * 2 * (size_t)nt * esz)
                       : NULL;
        int32_t *li0 = NULL, *li1 = NULL;
        float *lw0 = NULL, *lw1 = NULL;
        if (lb) {
            li0 = (int32_t *)lb;
            li1 = li0 + W;
            lw0 = (float *)(li1 + W);
            lw1 = lw0 + W;
            for (int64_t j = 0; j < W; j++) {
                li0[j] = (int32_t)L->idx[j * 4];
                lw0[j] = L->w[j * 4];
                li1[j] = L->ntap[j] == 2 ? (int32_t)L->idx[j * 4 + 1] : li0[j];
                lw1[j] = L->ntap[j] == 2 ? L->w[j * 4 + 1] : 0.0f;
            }
        }
        void *hbuf = lb ? (void *)(lw1 + W) : NULL; /* W * 2 * nt elements, after the four arrays (16 W bytes) */
        if (x->dtype == TEQ_DTYPE_FLOAT)
            resize_weighted_f32(ctx, x, out[0], ax, cfg.extrapolation, coff, cw, maxc, li0, li1, lw0, lw1, hbuf);
        else
            resize_weighted_f64(ctx, x, out[0], ax, cfg.extrapolation, coff, cw, maxc, li0, li1, lw0, lw1, hbuf);
        free(lb);
        free(cb);
    }
    free(mem);
    return TEQ_OK;
}

/* ------------------------------------------------------------------ table */

const teq_op teq_ops_shape[] = {
    {"Shape", op_shape, 1},
    {"Size", op_size, 1},
    {"Reshape", op_reshape, 1},
    {"Flatten", op_flatten, 1},
    {"Squeeze", op_squeeze, 1},
    {"Unsqueeze", op_unsqueeze, 1},
    {"Transpose", op_transpose, 1},
    {"Concat", op_concat, 1},
    {"Split", op_split, 1},
    {"Slice", op_slice, 1},
    {"Gather", op_gather, 2},
    {"GatherElements", op_gather_elements, 2},
    {"Expand", op_expand, 2},
    {"Tile", op_tile, 2},
    {"Pad", op_pad, 1},
    {"ConstantOfShape", op_constant_of_shape, 1},
    {"Range", op_range, 3},
    {"Resize", op_resize, 1},
    {"Upsample", op_resize, 1},
    {"DepthToSpace", op_depth_to_space, 1},
    {"SpaceToDepth", op_space_to_depth, 1},
    {"Trilu", op_trilu, 1},
    {"Constant", op_constant, 0},
    {"NonZero", op_nonzero, 1},
    {NULL, NULL, 0},
};
