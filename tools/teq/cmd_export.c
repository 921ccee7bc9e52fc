/* teq export: a .teq model as a standard-operator ONNX model (teq_export_onnx in include/teq.h). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static int cmd_export(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
            if (i + 1 >= argc) return teq_cli_fail("export: %s needs a file name", argv[i]), 2;
            out = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return teq_cli_fail("export: unknown option '%s' (see teq export --help)", argv[i]), 2;
        } else if (!in) {
            in = argv[i];
        } else {
            return teq_cli_fail("export: one model only ('%s' is extra)", argv[i]), 2;
        }
    }
    if (!in || !out) return teq_cli_fail("export: usage: teq export MODEL.teq -o OUT.onnx"), 2;
    teq_error err;
    if (teq_export_onnx(in, out, &err)) return teq_cli_fail_err(&err);
    printf("wrote %s\n", out);
    return 0;
}

const teq_cli_command teq_cli_cmd_export = {
    .name = "export",
    .summary = "a quantized model as standard ONNX operators (ONNX Runtime runs it)",
    .help = "usage: teq export MODEL.teq -o OUT.onnx\n"
            "\n"
            "Writes the quantized model as an ONNX model of standard operators (opset 13) that computes what\n"
            "`TEQ_KERNEL=dequant teq run MODEL.teq` computes: exponential weights as float levels times their\n"
            "channel scales, each activation quantizer as comparisons against teq's own thresholds (the same\n"
            "codes), INT8 layers as QuantizeLinear/DequantizeLinear pairs. Input and output names and shapes\n"
            "are kept. The file appears whole or not at all.\n"
            "\n"
            "options:\n"
            "  -o, --output OUT.onnx  the ONNX file to write (required)\n",
    .run = cmd_export,
};
