/* teq export: a .teq model as a standard-operator ONNX model (teq_export_onnx in include/teq.h). */
#include "teq.h"

#include <stdio.h>
#include <string.h>

static const char export_help[] =
    "usage: teq export MODEL.teq -o OUT.onnx\n"
    "\n"
    "Writes the quantized model as an ONNX model of standard operators (opset 13) that computes what\n"
    "`TEQ_KERNEL=dequant teq run MODEL.teq` computes: exponential weights as float levels times their\n"
    "channel scales, each activation quantizer as comparisons against teq's own thresholds (same codes),\n"
    "INT8 layers as QuantizeLinear/DequantizeLinear pairs. Input and output names and shapes are kept.\n"
    "The file appears whole or not at all.\n"
    "\n"
    "  -o OUT.onnx   the ONNX file to write (required)\n"
    "  -h, --help    this text\n";

int cmd_export(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(export_help, stdout);
            return 0;
        } else if (!strcmp(argv[i], "-o")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "teq: export: -o needs a file name\n");
                return 2;
            }
            out = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "teq: export: unknown option '%s' (teq export --help)\n", argv[i]);
            return 2;
        } else if (!in) {
            in = argv[i];
        } else {
            fprintf(stderr, "teq: export: one model only ('%s' is extra)\n", argv[i]);
            return 2;
        }
    }
    if (!in || !out) {
        fprintf(stderr, "teq: export: usage: teq export MODEL.teq -o OUT.onnx\n");
        return 2;
    }
    teq_error err;
    if (teq_export_onnx(in, out, &err)) {
        fprintf(stderr, "teq: %s\n", err.msg[0] ? err.msg : teq_status_string(err.status));
        return 1;
    }
    printf("wrote %s\n", out);
    return 0;
}
