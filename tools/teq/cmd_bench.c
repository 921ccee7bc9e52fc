/* teq bench: kernel and model timing (src/bench/). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static int cmd_bench(int argc, char **argv) {
    teq_bench_opts o = {0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--quick")) {
            o.quick = 1;
            continue;
        }
        /* the name first: an unknown option is reported as such, with or without a value after it */
        int repeat = !strcmp(a, "--repeat"), threads = !strcmp(a, "--threads");
        if (!repeat && !threads && strcmp(a, "--json") && strcmp(a, "--models"))
            return teq_cli_fail(a[0] == '-' ? "bench: unknown option '%s'" : "bench: unexpected argument '%s'", a);
        if (i + 1 >= argc) return teq_cli_fail("bench: %s needs a value", a);
        const char *v = argv[++i];
        if (repeat || threads) {
            long long x = teq_cli_int_opt("bench", a, v, 1, 1, repeat ? 100000 : 256);
            if (x < 0) return 1;
            if (repeat) o.repeat = (int)x;
            else o.threads = (int)x;
        } else if (!strcmp(a, "--json")) {
            o.json_path = v;
        } else {
            o.models_dir = v;
        }
    }
    teq_error err = {0};
    if (teq_bench_run(&o, stdout, &err)) return teq_cli_fail_err(&err);
    if (o.json_path) printf("wrote %s\n", o.json_path);
    return 0;
}

const teq_cli_command teq_cli_cmd_bench = {
    .name = "bench",
    .summary = "speed of the kernels and models: FP32, INT8, exponential",
    .help =
        "usage: teq bench [options]\n"
        "\n"
        "Times the kernels on real shapes (GEMV and GEMM: OpenBLAS FP32, teq INT8, teq exponential at 3, 4 and\n"
        "5 bits, the 4-bit GEMV on 8-bit integer lanes (teq4l) with its difference from the exact one; each\n"
        "GEMM also as a 1x1 convolution on teq's FP32 and INT8 convolution kernels (fp32c, int8c: the paths a\n"
        "model's Convs take); the weights' GB/s against the memory bandwidth measured in the same run) and,\n"
        "with --models, whole models; prints median and minimum times.\n"
        "\n"
        "options:\n"
        "  --json FILE    the results as JSON\n"
        "  --repeat N     timed samples per case (default 7)\n"
        "  --threads T    threads (1..256, default 1)\n"
        "  --models DIR   the model level, from rec_fp32.onnx, rec_int8.teq, rec_teq.teq and det_* in DIR\n"
        "                 (missing files are skipped)\n"
        "  --quick        fewer shapes\n",
    .run = cmd_bench,
};
