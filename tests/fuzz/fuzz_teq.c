/* Fuzz target: the .teq reader (then resolve, plan and bind the quantized layers, as teq_model_load
 * does). A .teq file carries a CRC-32 of everything after byte 12, so nearly every mutation would
 * stop at the checksum and the fuzzer would never reach the section parsers; the target therefore
 * writes the right checksum into its copy of the input first (the checksum check itself is tested
 * in tests/test_format.c and tests/quantize.sh). A file that reads back is written again and must
 * read again: the writer must accept every graph the reader builds. */
#define _GNU_SOURCE
#include "format/teq_format.h"
#include "fuzz.h"
#include "graph/graph.h"
#include "ops/qlayer.h"

#include <unistd.h>
#include <zlib.h>

static char out_path[4096];

/* A private folder for the write-back, in /dev/shm when there is one (fsync is free there). */
static const char *scratch_file(void) {
    if (out_path[0]) return out_path;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    char dir[4000];
    snprintf(dir, sizeof dir, "%s/teq-fuzz-teq.XXXXXX", base);
    if (!mkdtemp(dir)) abort();
    snprintf(out_path, sizeof out_path, "%s/back.teq", dir);
    return out_path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char path[] = "fuzz.teq";
    uint8_t *b = malloc(size ? size : 1);
    if (!b) return 0;
    memcpy(b, data, size);
    if (size >= 12) {
        uint32_t c = (uint32_t)crc32_z(0, b + 12, size - 12);
        for (int i = 0; i < 4; i++) b[8 + i] = (uint8_t)(c >> (8 * i));
    }
    teq_graph *g = NULL;
    teq_error e;
    teq_status s = teq_format_read_buffer(b, size, path, &g, &e);
    free(b);
    fuzz_check_result(s, g != NULL, &e, path);
    if (s) return 0;
    s = teq_graph_resolve_ops(g, path, &e);
    if (!s) s = teq_graph_plan(g, path, &e);
    if (!s) s = teq_ops_bind_quantized(g, path, &e); /* quantized layers onto the kernels, as teq_model_load */
    fuzz_check_result(s, s == TEQ_OK, &e, path);
    if (!s) {
        const char *out = scratch_file();
        s = teq_format_write(out, g, &e);
        if (s) fuzz_fail("a graph read from a .teq file cannot be written back", &e);
        teq_graph *g2 = NULL;
        s = teq_format_read_file(out, &g2, &e);
        if (s) fuzz_fail("a .teq file written from a read graph does not read back", &e);
        teq_graph_free(g2);
        unlink(out);
    }
    teq_graph_free(g);
    return 0;
}
