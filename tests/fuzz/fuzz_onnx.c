/* Fuzz target: the ONNX loader as teq_model_load drives it (parse, resolve operators, plan with
 * its cycle checks and constant folding), from bytes in memory. */
#include "fuzz.h"
#include "graph/graph.h"
#include "onnx/onnx_load.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char path[] = "fuzz.onnx";
    teq_graph *g = NULL;
    teq_error e;
    teq_status s = teq_onnx_load_buffer(data, size, path, &g, &e);
    fuzz_check_result(s, g != NULL, &e, path);
    if (!s) {
        s = teq_graph_resolve_ops(g, path, &e);
        if (!s) s = teq_graph_plan(g, path, &e);
        fuzz_check_result(s, s == TEQ_OK, &e, path);
    }
    teq_graph_free(g);
    return 0;
}
