/* Error messages, checked sizes and tensor storage. */
#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *teq_status_string(teq_status s) {
    switch (s) {
    case TEQ_OK: return "ok";
    case TEQ_ERR_IO: return "I/O error";
    case TEQ_ERR_FORMAT: return "malformed file";
    case TEQ_ERR_UNSUPPORTED: return "unsupported";
    case TEQ_ERR_SHAPE: return "shape or type mismatch";
    case TEQ_ERR_NOMEM: return "out of memory";
    case TEQ_ERR_ARG: return "invalid argument";
    case TEQ_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

teq_status teq_error_vset(teq_error *err, teq_status status, const char *fmt, va_list ap) {
    if (err) {
        err->status = status;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        /* Messages are one line: fold any newline a caller let through. */
        for (char *p = err->msg; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
    }
    return status;
}

teq_status teq_error_set(teq_error *err, teq_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    teq_error_vset(err, status, fmt, ap);
    va_end(ap);
    return status;
}

void teq_error_clear(teq_error *err) {
    if (err) {
        err->status = TEQ_OK;
        err->msg[0] = 0;
    }
}

size_t teq_dtype_size(teq_dtype t) {
    switch (t) {
    case TEQ_DTYPE_FLOAT: return 4;
    case TEQ_DTYPE_UINT8: return 1;
    case TEQ_DTYPE_INT8: return 1;
    case TEQ_DTYPE_INT32: return 4;
    case TEQ_DTYPE_INT64: return 8;
    case TEQ_DTYPE_BOOL: return 1;
    case TEQ_DTYPE_DOUBLE: return 8;
    default: return 0;
    }
}

const char *teq_dtype_name(teq_dtype t) {
    switch (t) {
    case TEQ_DTYPE_FLOAT: return "float32";
    case TEQ_DTYPE_UINT8: return "uint8";
    case TEQ_DTYPE_INT8: return "int8";
    case TEQ_DTYPE_INT32: return "int32";
    case TEQ_DTYPE_INT64: return "int64";
    case TEQ_DTYPE_BOOL: return "bool";
    case TEQ_DTYPE_DOUBLE: return "float64";
    default: return "unknown";
    }
}

bool teq_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return false;
    *out = a * b;
    return true;
}

bool teq_dims_numel(int ndim, const int64_t *dims, int64_t *numel) {
    if (ndim < 0 || ndim > TEQ_MAX_DIMS) return false;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0) return false;
        if (dims[i] != 0 && n > ((int64_t)1 << 62) / dims[i]) return false;
        n *= dims[i];
    }
    *numel = n;
    return true;
}

int64_t teq_tensor_numel(const teq_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->dims[i];
    return n;
}

teq_status teq_tensor_reshape_alloc(teq_tensor *t, teq_dtype dtype, int ndim, const int64_t *dims, teq_error *err) {
    int64_t numel;
    size_t es = teq_dtype_size(dtype), bytes;
    if (es == 0) return teq_error_set(err, TEQ_ERR_UNSUPPORTED, "data type %d is not supported", (int)dtype);
    if (!teq_dims_numel(ndim, dims, &numel) || !teq_mul_size((size_t)numel, es, &bytes) ||
        bytes > TEQ_MAX_TENSOR_BYTES) {
        char sb[160];
        return teq_error_set(err, TEQ_ERR_NOMEM, "tensor of shape %s is invalid or too large",
                             teq_shape_str(ndim, dims, sb, sizeof sb));
    }
    if (bytes > t->capacity || (t->capacity == 0 && t->data == NULL)) {
        /* Never realloc borrowed storage. */
        void *p = malloc(bytes ? bytes : 1);
        if (!p) return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
        if (t->capacity) free(t->data);
        t->data = p;
        t->capacity = bytes ? bytes : 1;
    }
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->dims[i] = dims[i];
    return TEQ_OK;
}

void teq_tensor_release(teq_tensor *t) {
    if (!t) return;
    if (t->capacity) free(t->data);
    t->data = NULL;
    t->capacity = 0;
    t->ndim = 0;
}

teq_status teq_tensor_copy(teq_tensor *dst, const teq_tensor *src, teq_error *err) {
    teq_status s = teq_tensor_reshape_alloc(dst, src->dtype, src->ndim, src->dims, err);
    if (s) return s;
    size_t bytes = (size_t)teq_tensor_numel(src) * teq_dtype_size(src->dtype);
    if (bytes) memcpy(dst->data, src->data, bytes);
    return TEQ_OK;
}

teq_status teq_tensor_create(teq_dtype dtype, int ndim, const int64_t *dims, teq_tensor **out, teq_error *err) {
    *out = NULL;
    if (ndim < 0 || ndim > TEQ_MAX_DIMS)
        return teq_error_set(err, TEQ_ERR_ARG, "rank %d is outside 0..%d", ndim, TEQ_MAX_DIMS);
    teq_tensor *t = calloc(1, sizeof *t);
    if (!t) return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory");
    teq_status s = teq_tensor_reshape_alloc(t, dtype, ndim, dims, err);
    if (s) {
        free(t);
        return s;
    }
    memset(t->data, 0, t->capacity);
    *out = t;
    return TEQ_OK;
}

void teq_tensor_free(teq_tensor *t) {
    if (!t) return;
    teq_tensor_release(t);
    free(t);
}

const char *teq_shape_str(int ndim, const int64_t *dims, char *buf, size_t n) {
    size_t k = 0;
    k += snprintf(buf + k, n - k, "[");
    for (int i = 0; i < ndim && k < n; i++) k += snprintf(buf + k, n - k, i ? ",%lld" : "%lld", (long long)dims[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

char *teq_strdup(const char *s) {
    if (!s) s = "";
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}
