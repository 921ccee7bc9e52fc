/* Internal helpers shared by every layer: error reporting, checked allocation, tensor utilities.
 * Depends only on include/teq.h. */
#ifndef TEQ_CORE_H
#define TEQ_CORE_H

#include "teq.h"
#include <stdarg.h>
#include <stdbool.h>

#if defined(__GNUC__)
#define TEQ_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TEQ_PRINTF(a, b)
#endif

/* Hot loops get an AVX2+FMA clone besides the baseline one, chosen at load time, because the
 * build uses the generic x86-64 target. Only where GCC supports it (ifunc on x86-64). An ifunc symbol
 * escapes -fvisibility=hidden: only on static functions (tests/install.sh checks libteq.so's exports). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__linux__)
#define TEQ_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define TEQ_CLONES
#endif

/* Record status and a formatted message in err (when not NULL); returns status. */
teq_status teq_error_set(teq_error *err, teq_status status, const char *fmt, ...) TEQ_PRINTF(3, 4);
teq_status teq_error_vset(teq_error *err, teq_status status, const char *fmt, va_list ap);
void teq_error_clear(teq_error *err);

/* a*b into *out, false on overflow or negative operands. */
bool teq_mul_size(size_t a, size_t b, size_t *out);
/* Product of dims into *numel; false on a negative dim or overflow past 2^62. */
bool teq_dims_numel(int ndim, const int64_t *dims, int64_t *numel);

/* Largest tensor (bytes) teq will allocate for one value: refuses absurd shapes read from files
 * before any allocation is attempted. */
#define TEQ_MAX_TENSOR_BYTES ((size_t)16 << 30)

/* Resize t's owned storage to hold dtype x dims (keeps the buffer when large enough).
 * Fails cleanly on overflow, on more than TEQ_MAX_TENSOR_BYTES, or when memory runs out. */
teq_status teq_tensor_reshape_alloc(teq_tensor *t, teq_dtype dtype, int ndim, const int64_t *dims, teq_error *err);
/* Release owned storage, leave an empty tensor. */
void teq_tensor_release(teq_tensor *t);
/* Deep copy src into dst (dst's own storage is reused or grown). */
teq_status teq_tensor_copy(teq_tensor *dst, const teq_tensor *src, teq_error *err);
/* Shape as "[1,3,48,320]" into buf. */
const char *teq_shape_str(int ndim, const int64_t *dims, char *buf, size_t n);

/* strdup that returns NULL on failure (no POSIX dependency). */
char *teq_strdup(const char *s);

#endif
