/* ONNX protobuf -> graph IR, through protobuf-c code generated at build time from Debian's
 * onnx.proto (libonnx-dev). Nothing above this folder sees protobuf. */
#ifndef TEQ_ONNX_LOAD_H
#define TEQ_ONNX_LOAD_H

#include "../graph/graph.h"

/* Parse a ModelProto file into a new graph: initializers and Constant nodes become constant values,
 * graph inputs that are initializers are not inputs, declared shapes are kept, each node gets the
 * opset of its domain. Messages name path. Does not resolve operators or plan. */
teq_status teq_onnx_load_file(const char *path, teq_graph **out, teq_error *err);
teq_status teq_onnx_load_buffer(const uint8_t *buf, size_t len, const char *path, teq_graph **out, teq_error *err);

/* Read a serialized TensorProto (the test_data_set_N/input_K.pb files of the ONNX test data).
 * *name receives a malloc'd copy of the tensor's name ("" when none), may be NULL. */
teq_status teq_onnx_read_tensor_file(const char *path, teq_tensor **out, char **name, teq_error *err);

/* Name of an ONNX TensorProto.DataType number for messages ("float16", ...), covering the types teq
 * does not hold; "unknown" outside the enum. */
const char *teq_onnx_type_name(int t);

#endif
