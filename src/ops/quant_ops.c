#include "quant_ops.h"
#include "../kernels/kernels.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void teq_qparams_to_values(const teq_qparams *p, double *v) {
    v[0] = teq_q_stored_kind(p), v[1] = p->bits, v[2] = p->is_signed, v[3] = p->zero_code;
    v[4] = p->base, v[5] = p->alpha, v[6] = p->beta, v[7] = p->scale, v[8] = p->zero_point;
}

teq_status teq_qparams_to_tensor(const teq_qparams *p, teq_tensor **out, teq_error *err) {
    int64_t d = TEQ_QPARAMS_LEN;
    teq_status s = teq_tensor_create(TEQ_DTYPE_DOUBLE, 1, &d, out, err);
    if (s) return s;
    teq_qparams_to_values(p, (*out)->data);
    return TEQ_OK;
}

teq_status teq_shift_check(const teq_qparams *p, double c, char *msg, size_t msg_len) {
    if (!(c >= 0 && c <= 1e30)) {
        snprintf(msg, msg_len, "qparams shift %g must be finite and in 0 .. 1e30", c);
        return TEQ_ERR_FORMAT;
    }
    if (c != 0 && (p->kind != TEQ_CODE_EXP || p->is_signed)) {
        snprintf(msg, msg_len, "qparams shift %g needs an unsigned exponential code", c);
        return TEQ_ERR_FORMAT;
    }
    return TEQ_OK;
}

teq_status teq_qparams_from_tensor(const teq_tensor *t, teq_qparams *p, char *msg, size_t msg_len) {
    double c = 0;
    teq_status s = teq_qparams_from_tensor_shift(t, p, &c, msg, msg_len);
    if (!s && c != 0) {
        snprintf(msg, msg_len, "qparams has a shift where none is allowed");
        return TEQ_ERR_FORMAT;
    }
    return s;
}

teq_status teq_qparams_from_tensor_shift(const teq_tensor *t, teq_qparams *p, double *shift, char *msg,
                                         size_t msg_len) {
    const int64_t len = t ? teq_tensor_numel(t) : 0;
    if (!t || t->dtype != TEQ_DTYPE_DOUBLE || (len != TEQ_QPARAMS_LEN && len != TEQ_QPARAMS_LEN_SHIFT)) {
        snprintf(msg, msg_len, "qparams must be a float64 tensor of %d values (%d with a shift)", TEQ_QPARAMS_LEN,
                 TEQ_QPARAMS_LEN_SHIFT);
        return TEQ_ERR_FORMAT;
    }
    const double *v = t->data;
    for (int i = 0; i < 4; i++)
        if (!(v[i] >= 0 && v[i] <= 64)) {
            snprintf(msg, msg_len, "qparams field %d is out of range", i);
            return TEQ_ERR_FORMAT;
        }
    if (!(v[8] >= -65536 && v[8] <= 65536)) {
        snprintf(msg, msg_len, "qparams zero point is out of range");
        return TEQ_ERR_FORMAT;
    }
    memset(p, 0, sizeof *p);
    teq_q_set_stored_kind(p, (int)v[0]);
    p->bits = (int)v[1];
    p->is_signed = (int)v[2];
    p->zero_code = (int)v[3];
    p->base = v[4], p->alpha = v[5], p->beta = v[6], p->scale = v[7];
    p->zero_point = (int32_t)v[8];
    teq_status s = teq_qparams_check(p, msg, msg_len);
    if (s) return s;
    const double c = len == TEQ_QPARAMS_LEN_SHIFT ? v[9] : 0.0;
    if ((s = teq_shift_check(p, c, msg, msg_len))) return s;
    if (shift) *shift = c;
    return TEQ_OK;
}

/* TeqQuantize: x float32 (any shape) -> y float32 (same shape). */
static teq_status op_teq_quantize(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                                  teq_tensor *const *out) {
    const teq_attr *a = teq_node_attr(node, "qparams");
    teq_qparams p;
    double c = 0;
    char msg[200];
    if (!a || a->type != TEQ_ATTR_TENSOR) return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "missing qparams attribute");
    if (node->kern) {
        /* prepared at load from this very attribute, which was read and checked then (qlayer.c
         * teq_ops_bind_quantized): the check computes the code's levels with pow, which was 5% of an
         * exponential cls run */
        p = *teq_kq_params(node->kern);
        c = teq_tensor_numel(a->t) == TEQ_QPARAMS_LEN_SHIFT ? ((const double *)a->t->data)[9] : 0.0;
    } else if (teq_qparams_from_tensor_shift(a->t, &p, &c, msg, sizeof msg)) {
        return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "%s", msg);
    }
    const teq_tensor *x = in[0];
    /* every reader quantizes x to these codes itself (node->pass_fast; with a shift, readers on integer
     * lanes add it themselves: teq_qlayer.in_shift): hand x on, no pass over it; x may be these very codes
     * already (uint8, written by the INT8 layer in front: teq_qlayer.outq) */
    if (node->kern && teq_passes_input(node, x))
        return teq_ctx_pass_input(ctx, 0, x, out[0]); /* a copy where it cannot take: readers expect x itself */
    if (x->dtype != TEQ_DTYPE_FLOAT) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "input must be float32");
    /* the prepared quantizer runs in place: when this node is x's last reader, y takes x's storage (no new
     * buffer to touch, one fewer live activation) */
    const bool prepared = node->kern && p.kind != TEQ_CODE_NONE && teq_kmode_get() != TEQ_KMODE_DEQUANT;
    const float *src = x->data;
    if (!(prepared && teq_ctx_take_input(ctx, 0, out[0]))) {
        teq_status s = teq_ctx_alloc(ctx, out[0], TEQ_DTYPE_FLOAT, x->ndim, x->dims);
        if (s) return s;
    }
    int64_t n = teq_tensor_numel(x);
    float *dst = out[0]->data;
    int nt = teq_ctx_threads(ctx);
    if (c != 0 && !prepared) {
        /* shifted code: quantize x + c (rounded to float32), the values stay in the shifted domain (the
         * prepared quantizer below adds it in its own pass) */
        const float cf = (float)c;
#pragma omp parallel for num_threads(nt) if (nt > 1 && n >= (1 << 16)) schedule(static)
        for (int64_t i = 0; i < n; i++) dst[i] = src[i] + cf;
        src = dst; /* every path below may run in place */
    }
    if (p.kind == TEQ_CODE_NONE) {
        if (dst != src) memcpy(dst, src, sizeof(float) * (size_t)n); /* a tensor left in float32 */
    } else if (prepared) {
        /* the prepared quantizer (kernels.h): same codes, faster; a shifted code's sum in the same pass */
        if (c != 0) teq_kq_fake_shifted(node->kern, src, n, (float)c, dst, nt);
        else teq_kq_fake(node->kern, src, n, dst, nt);
    } else if (nt > 1 && n >= (1 << 16)) {
        int64_t chunk = (n + nt - 1) / nt;
#pragma omp parallel for num_threads(nt)
        for (int t = 0; t < nt; t++) {
            int64_t b = (int64_t)t * chunk, e = b + chunk < n ? b + chunk : n;
            if (b < e) teq_q_fake(&p, src + b, e - b, dst + b);
        }
    } else {
        teq_q_fake(&p, src, n, dst);
    }
    return TEQ_OK;
}


/* ONNX QuantizeLinear / DequantizeLinear (opset 10 and 13: per-tensor, or per-axis with `axis`), so that
 * teq runs the QDQ models `teq export` writes. As ONNX (and ONNX Runtime) define them, in float32:
 *   QuantizeLinear:   y = saturate(round_half_even(x / scale) + zp), uint8 (default) or int8 like zp
 *   DequantizeLinear: y = (float)(x - zp) * scale, x uint8, int8 or int32
 * scale: float32 scalar or [dims[axis]]; zp: absent (0) or the same shape as scale.
 * A TeqQuantize with a float32 linear code (quant.h's lin_f32, what teq's quantizer makes) computes exactly this;
 * one with the older double rule differs by one code on a few inputs per million. */
static teq_status qdq_params(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *x, const teq_tensor *s,
                             const teq_tensor *z, int64_t *axis, int64_t *inner, int64_t *nch) {
    const int64_t ns = teq_tensor_numel(s);
    if (s->dtype != TEQ_DTYPE_FLOAT || s->ndim > 1)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "scale must be a float32 scalar or 1-D tensor");
    if (z && (teq_tensor_numel(z) != ns || z->ndim != s->ndim))
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "zero point must have the scale's shape");
    *axis = 0, *inner = 1, *nch = 1;
    if (s->ndim == 1 && !(ns == 1 && node->opset < 13)) {
        int64_t a = teq_node_attr_int(node, "axis", 1);
        if (a < 0) a += x->ndim;
        if (a < 0 || a >= x->ndim || x->dims[a] != ns)
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "per-axis scale of %lld values does not match axis %lld",
                               (long long)ns, (long long)a);
        *axis = a, *nch = ns;
        for (int d = (int)a + 1; d < x->ndim; d++) *inner *= x->dims[d];
    }
    return TEQ_OK;
}

static teq_status op_quantize_linear(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                                     teq_tensor *const *out) {
    const teq_tensor *x = in[0], *s = in[1], *z = node->n_in > 2 ? in[2] : NULL;
    if (x->dtype != TEQ_DTYPE_FLOAT) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "input must be float32");
    const teq_dtype dt = z ? z->dtype : TEQ_DTYPE_UINT8;
    if (dt != TEQ_DTYPE_UINT8 && dt != TEQ_DTYPE_INT8)
        return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "zero point must be uint8 or int8");
    int64_t axis, inner, nch;
    teq_status st = qdq_params(ctx, node, x, s, z, &axis, &inner, &nch);
    if (st || (st = teq_ctx_alloc(ctx, out[0], dt, x->ndim, x->dims))) return st;
    const int64_t n = teq_tensor_numel(x);
    const float *X = x->data, *S = s->data;
    const float lo = dt == TEQ_DTYPE_UINT8 ? 0.f : -128.f, hi = dt == TEQ_DTYPE_UINT8 ? 255.f : 127.f;
    for (int64_t i = 0; i < n; i++) {
        const int64_t c = (i / inner) % nch;
        const float zp = !z                       ? 0.f
                         : dt == TEQ_DTYPE_UINT8 ? (float)((const uint8_t *)z->data)[c]
                                                 : (float)((const int8_t *)z->data)[c];
        float v = nearbyintf(X[i] / S[c]) + zp; /* the default rounding mode: half to even */
        v = v != v ? zp : v < lo ? lo : v > hi ? hi : v;
        if (dt == TEQ_DTYPE_UINT8) ((uint8_t *)out[0]->data)[i] = (uint8_t)v;
        else ((int8_t *)out[0]->data)[i] = (int8_t)v;
    }
    return TEQ_OK;
}

static teq_status op_dequantize_linear(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                                       teq_tensor *const *out) {
    const teq_tensor *x = in[0], *s = in[1], *z = node->n_in > 2 ? in[2] : NULL;
    if (x->dtype != TEQ_DTYPE_UINT8 && x->dtype != TEQ_DTYPE_INT8 && x->dtype != TEQ_DTYPE_INT32)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "input must be uint8, int8 or int32");
    if (z && z->dtype != x->dtype)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "zero point type differs from the input's");
    int64_t axis, inner, nch;
    teq_status st = qdq_params(ctx, node, x, s, z, &axis, &inner, &nch);
    if (st || (st = teq_ctx_alloc(ctx, out[0], TEQ_DTYPE_FLOAT, x->ndim, x->dims))) return st;
    const int64_t n = teq_tensor_numel(x);
    const float *S = s->data;
    float *Y = out[0]->data;
#define QDQ_ELEM(T, p, i) ((int32_t)((const T *)(p))[i])
    for (int64_t i = 0; i < n; i++) {
        const int64_t c = (i / inner) % nch;
        int32_t q, zp = 0;
        if (x->dtype == TEQ_DTYPE_UINT8)
            q = QDQ_ELEM(uint8_t, x->data, i), zp = z ? QDQ_ELEM(uint8_t, z->data, c) : 0;
        else if (x->dtype == TEQ_DTYPE_INT8)
            q = QDQ_ELEM(int8_t, x->data, i), zp = z ? QDQ_ELEM(int8_t, z->data, c) : 0;
        else
            q = QDQ_ELEM(int32_t, x->data, i), zp = z ? QDQ_ELEM(int32_t, z->data, c) : 0;
        Y[i] = (float)(q - zp) * S[c];
    }
#undef QDQ_ELEM
    return TEQ_OK;
}

const teq_op teq_ops_quant[] = {
    {"TeqQuantize", op_teq_quantize, 1},
    {"QuantizeLinear", op_quantize_linear, 2},
    {"DequantizeLinear", op_dequantize_linear, 2},
    {NULL, NULL, 0},
};
