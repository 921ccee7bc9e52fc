/* teq inspect: what a model declares and holds. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static int cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    int report = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--report")) report = 1;
        else if (argv[i][0] == '-' && argv[i][1]) return teq_cli_fail("inspect: unknown option '%s'", argv[i]);
        else if (path) return teq_cli_fail("inspect: unexpected argument '%s'", argv[i]);
        else path = argv[i];
    }
    if (!path) return teq_cli_fail("inspect: missing argument MODEL (see teq inspect --help)"), 2;
    teq_error e;
    teq_model *m;
    if (teq_model_load(path, &m, &e)) return teq_cli_fail_err(&e);
    if (report) {
        const char *meta = teq_model_metadata(m);
        if (meta) printf("%s\n", meta);
        teq_model_free(m);
        return meta ? 0 : teq_cli_fail("%s: holds no quantization report (only .teq files from teq quantize do)", path);
    }
    teq_model_stats st;
    teq_model_stats_get(m, &st);
    printf("model: %s\nopset: %lld\n", path, (long long)st.opset);
    printf("inputs:\n");
    for (int i = 0; i < teq_model_num_inputs(m); i++) {
        teq_io_info io;
        teq_model_input_info(m, i, &io);
        printf("  %-28s %-8s ", io.name, teq_dtype_name(io.dtype));
        teq_cli_print_shape(stdout, &io);
        printf("\n");
    }
    printf("outputs:\n");
    for (int i = 0; i < teq_model_num_outputs(m); i++) {
        teq_io_info io;
        teq_model_output_info(m, i, &io);
        printf("  %-28s %-8s ", io.name, teq_dtype_name(io.dtype));
        teq_cli_print_shape(stdout, &io);
        printf("\n");
    }
    printf("operators (as in the file):\n");
    int64_t total = 0;
    for (int i = 0; i < st.n_op_types; i++) {
        const char *op;
        int64_t n;
        teq_model_op_type(m, i, &op, &n);
        printf("  %-24s %6lld\n", op, (long long)n);
        total += n;
    }
    printf("nodes: %lld in the file, %lld to run after constant folding\n", (long long)total, (long long)st.n_nodes);
    printf("parameters: %lld (%.2f MB as float32)\n", (long long)st.n_params, (double)st.n_params * 4 / 1e6);
    if (teq_model_metadata(m))
        printf("quantized by teq: `teq inspect %s --report` prints the per-layer report (JSON)\n", path);
    teq_model_free(m);
    return 0;
}

const teq_cli_command teq_cli_cmd_inspect = {
    .name = "inspect",
    .summary = "inputs, outputs, operators and parameters of a model",
    .help =
        "usage: teq inspect MODEL [--report]\n"
        "\n"
        "Prints the model's inputs and outputs (type and declared shape), its operators with how many nodes of\n"
        "each the file holds, the nodes left to run after constant folding, and the parameter count. MODEL is\n"
        "an ONNX file or a .teq file written by teq quantize.\n"
        "\n"
        "options:\n"
        "  --report  print instead the quantization report kept in a .teq file (JSON, the keys of\n"
        "            teq quantize --json); fails on a model that holds none\n",
    .run = cmd_inspect,
};
