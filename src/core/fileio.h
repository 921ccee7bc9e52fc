/* Files that appear whole or not at all: written to a temporary name in the same folder, flushed
 * to disk, then renamed over the destination. Until commit, the destination is untouched. */
#ifndef TEQ_FILEIO_H
#define TEQ_FILEIO_H

#include "core.h"
#include <stdio.h>

typedef struct teq_file_out {
    FILE *f;
    char *path;
    char *tmp;
} teq_file_out;

teq_status teq_file_out_open(teq_file_out *fo, const char *path, teq_error *err);
teq_status teq_file_out_write(teq_file_out *fo, const void *p, size_t n, teq_error *err);
/* Flush, fsync, rename. On failure the temporary is removed and the destination is untouched. */
teq_status teq_file_out_commit(teq_file_out *fo, teq_error *err);
/* Drop the temporary file. */
void teq_file_out_abort(teq_file_out *fo);

/* Read a whole file into a malloc'd buffer (refusing files over max_bytes). */
teq_status teq_file_read_all(const char *path, size_t max_bytes, unsigned char **buf, size_t *len, teq_error *err);

#endif
