/* Shared by the fuzz targets (tests/fuzz/fuzz_*.c): each defines LLVMFuzzerTestOneInput, which
 * libFuzzer drives (`make fuzz`, clang) and tests/fuzz/replay.c drives over the committed corpus
 * (`make test`, any compiler). Besides "no crash, no sanitizer report", every input must end in the
 * library's contract: a status and an output that agree, and on failure a non-empty one-line message
 * that names the file. A broken contract aborts, so libFuzzer records it as a finding like a crash. */
#ifndef TEQ_FUZZ_H
#define TEQ_FUZZ_H

#include "teq.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void fuzz_fail(const char *what, const teq_error *e) {
    fprintf(stderr, "fuzz: contract broken: %s (status %d, message \"%s\")\n", what, (int)e->status, e->msg);
    abort();
}

/* s and has_out: what the call returned; path: the name the call was given for messages. */
static inline void fuzz_check_result(teq_status s, int has_out, const teq_error *e, const char *path) {
    if ((s == TEQ_OK) != (has_out != 0)) fuzz_fail("status and output disagree", e);
    if (s == TEQ_OK) return;
    if (s == TEQ_ERR_INTERNAL) fuzz_fail("internal error on file input", e);
    if (e->status != s) fuzz_fail("error status differs from the returned status", e);
    if (!e->msg[0]) fuzz_fail("empty error message", e);
    if (strchr(e->msg, '\n')) fuzz_fail("message has more than one line", e);
    if (!strstr(e->msg, path)) fuzz_fail("message does not name the file", e);
}

#endif
