/* teq: adaptive exponential quantization of neural networks, and an engine that runs them.
 *
 * This is the one public header. The CLI in tools/ uses nothing else.
 * Conventions (after zstd):
 *   - every fallible call returns a teq_status; TEQ_OK is 0, and the numbers never change meaning;
 *   - a teq_error*, when not NULL, receives a one-line message naming the file and the problem;
 *   - *_free(NULL) is a no-op;
 *   - the library never prints to stdout and never calls exit().
 */
#ifndef TEQ_H
#define TEQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TEQ_VERSION_STRING "0.1.0"

typedef enum teq_status {
    TEQ_OK = 0,
    TEQ_ERR_IO = 1,          /* a file could not be opened, read or written */
    TEQ_ERR_FORMAT = 2,      /* a file is malformed, truncated or inconsistent */
    TEQ_ERR_UNSUPPORTED = 3, /* an operator, attribute or data type teq does not implement */
    TEQ_ERR_SHAPE = 4,       /* a tensor has a shape or type an operator or the graph cannot take */
    TEQ_ERR_NOMEM = 5,       /* an allocation failed or a size would overflow */
    TEQ_ERR_ARG = 6,         /* a caller passed an invalid argument (missing input, unknown name) */
    TEQ_ERR_INTERNAL = 7,    /* a bug in teq */
} teq_status;

/* A short, constant description of a status ("I/O error", ...). */
const char *teq_status_string(teq_status s);

/* Where detailed messages go. msg is always NUL-terminated; it is empty after a success. */
typedef struct teq_error {
    teq_status status;
    char msg[512];
} teq_error;

/* Element types. The numbers are ONNX's TensorProto.DataType values, so files map directly. */
typedef enum teq_dtype {
    TEQ_DTYPE_UNDEFINED = 0,
    TEQ_DTYPE_FLOAT = 1,
    TEQ_DTYPE_UINT8 = 2,
    TEQ_DTYPE_INT8 = 3,
    TEQ_DTYPE_INT32 = 6,
    TEQ_DTYPE_INT64 = 7,
    TEQ_DTYPE_BOOL = 9, /* one byte per element, 0 or 1 */
    TEQ_DTYPE_DOUBLE = 11,
} teq_dtype;

/* Size in bytes of one element, or 0 for a type teq does not hold. */
size_t teq_dtype_size(teq_dtype t);
/* "float32", "int64", ... ; "unknown" for anything else. */
const char *teq_dtype_name(teq_dtype t);

#define TEQ_MAX_DIMS 8

/* A dense tensor in C (row-major) order.
 * data points at dims[0]*...*dims[ndim-1] elements of dtype; a scalar has ndim 0 and one element.
 * capacity is the number of bytes owned at data (0 when data is borrowed from someone else). */
typedef struct teq_tensor {
    teq_dtype dtype;
    int ndim;
    int64_t dims[TEQ_MAX_DIMS];
    void *data;
    size_t capacity;
} teq_tensor;

/* Number of elements (1 for a scalar). */
int64_t teq_tensor_numel(const teq_tensor *t);
/* Allocate a tensor with owned, zero-filled storage. */
teq_status teq_tensor_create(teq_dtype dtype, int ndim, const int64_t *dims, teq_tensor **out, teq_error *err);
/* Free a tensor made by teq (teq_tensor_create, teq_npy_read, teq_model_run). */
void teq_tensor_free(teq_tensor *t);

/* ---- NumPy .npy files (format 1.0/2.0, little-endian, C order) ---- */

/* Read float32, float64 (kept as double), int64, int32, uint8, int8 and bool arrays. */
teq_status teq_npy_read(const char *path, teq_tensor **out, teq_error *err);
/* Write atomically: to a temporary name in the same folder, then rename over path. */
teq_status teq_npy_write(const char *path, const teq_tensor *t, teq_error *err);

/* ---- Models ---- */

typedef struct teq_model teq_model;

/* Load an ONNX model (.onnx). Constant subgraphs are folded at load. */
teq_status teq_model_load(const char *path, teq_model **out, teq_error *err);
void teq_model_free(teq_model *m);

/* Threads used by teq_model_run (default 1). */
void teq_model_set_threads(teq_model *m, int n_threads);

/* Description of a graph input or output as declared by the model.
 * dims[i] is -1 where the dimension is dynamic; dim_names[i] is then its symbolic name or "". */
typedef struct teq_io_info {
    const char *name;
    teq_dtype dtype;
    int ndim; /* -1 where the model does not declare a shape */
    int64_t dims[TEQ_MAX_DIMS];
    const char *dim_names[TEQ_MAX_DIMS];
} teq_io_info;

int teq_model_num_inputs(const teq_model *m);
int teq_model_num_outputs(const teq_model *m);
teq_status teq_model_input_info(const teq_model *m, int i, teq_io_info *info);
teq_status teq_model_output_info(const teq_model *m, int i, teq_io_info *info);

/* Model statistics for `teq inspect`. */
typedef struct teq_model_stats {
    int64_t n_nodes;      /* nodes left after constant folding */
    int64_t n_params;     /* elements in constant tensors of floating type (weights) */
    int64_t n_constants;  /* constant tensors (initializers, Constant nodes, folded values) */
    int64_t opset;        /* default-domain opset */
    int n_op_types;
} teq_model_stats;
void teq_model_stats_get(const teq_model *m, teq_model_stats *st);
/* The i-th operator type in first-seen order and how many nodes of it the loaded file held. */
teq_status teq_model_op_type(const teq_model *m, int i, const char **op_type, int64_t *count);

/* Run the model. inputs[i] is bound to the graph input named names[i] (names may be NULL when the
 * model has exactly n_inputs inputs: they bind in order). On success outputs[j] receives a new
 * tensor for graph output j (free each with teq_tensor_free); outputs must hold
 * teq_model_num_outputs(m) pointers. */
teq_status teq_model_run(teq_model *m, int n_inputs, const char *const *names, const teq_tensor *const *inputs,
                         teq_tensor **outputs, teq_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TEQ_H */
