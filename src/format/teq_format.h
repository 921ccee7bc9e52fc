/* The .teq file: a planned graph IR with its constants, where quantized weights are stored as
 * packed codes plus their code parameters, and the quantizer's report. Specified in docs/FORMAT.md.
 * This folder depends on core/, graph/ (IR only) and quant/ (code tables): not on protobuf, not
 * on OpenBLAS, so a small runtime can read .teq files without them. */
#ifndef TEQ_FORMAT_H
#define TEQ_FORMAT_H

#include "../graph/graph.h"

/* True when the first bytes are a .teq file's magic. */
bool teq_format_sniff(const uint8_t *head, size_t n);

/* Write g atomically (temporary file, fsync, rename). Deterministic: the same graph gives the
 * same bytes. Values with a qweight are written as their packed codes and parameters, not as
 * floats. */
teq_status teq_format_write(const char *path, const teq_graph *g, teq_error *err);

/* Read a .teq file into a new graph. Every offset, size and count is checked against the file and
 * the checksum is verified before anything is built; quantized constants are decoded into their
 * float constant (and keep their qweight). Does not resolve operators or plan. */
teq_status teq_format_read_file(const char *path, teq_graph **out, teq_error *err);
teq_status teq_format_read_buffer(const uint8_t *buf, size_t len, const char *path, teq_graph **out, teq_error *err);

#endif
