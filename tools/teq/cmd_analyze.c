/* teq analyze: distribution fits of the weight and activation tensors (METHOD section 4). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int cmd_analyze(int argc, char **argv) {
    const char *calib = NULL, *json = NULL, *plots = NULL, *climit = NULL, *threads = NULL;
    const teq_cli_opt opts[] = {{"--calib", &calib}, {"--json", &json}, {"--plots", &plots}, {"--calib-limit", &climit},
                                {"--threads", &threads}, {NULL, NULL}};
    const char *pos[1] = {NULL};
    if (teq_cli_parse_opts("analyze", argc, argv, opts, pos, 1, NULL, NULL, NULL, 0)) return 1;
    long long t = teq_cli_int_opt("analyze", "--threads", threads, 1, 1, 256);
    long long cl = teq_cli_int_opt("analyze", "--calib-limit", climit, 0, 0, 1LL << 40);
    if (t < 0 || cl < 0) return 1;
    if (plots) {
        struct stat st;
        if (stat(plots, &st) != 0 && mkdir(plots, 0755) != 0) return teq_cli_fail("%s: cannot create folder: %s", plots, strerror(errno));
        if (stat(plots, &st) != 0 || !S_ISDIR(st.st_mode)) return teq_cli_fail("%s: not a folder", plots);
    }
    teq_analysis *a;
    teq_error e;
    if (teq_analyze(pos[0], calib, cl, (int)t, plots, teq_cli_is_tty(), &a, &e)) return teq_cli_fail_err(&e);
    printf("%-48s %-6s %9s %6s %9s %9s %9s %11s  %s\n", "tensor", "op", "n", "zeros", "uniform", "gaussian", "laplace",
           "exponential", "best");
    for (int i = 0; i < a->n; i++) {
        const teq_tensor_analysis *x = &a->t[i];
        char nm[49];
        snprintf(nm, sizeof nm, "%.48s", x->name);
        printf("%-48s %-6s %9lld %5.1f%% %9.4f %9.4f %9.4f %11.4f  %s\n", nm, x->op, (long long)x->n, 100 * x->zero_fraction,
               x->ks[0], x->ks[1], x->ks[2], x->ks[3], x->best);
    }
    printf("\n%d tensors (%s); best fit by KS: uniform %d, gaussian %d, laplace %d, exponential %d\n", a->n,
           a->n_calib ? "weights and activations" : "weights only: give --calib for activations", a->best_count[0],
           a->best_count[1], a->best_count[2], a->best_count[3]);
    printf("the exponential fits best for %.1f%% of the tensors\n", 100 * a->share_exponential);
    if (plots) printf("plots: %s/overview.svg and one SVG per tensor\n", plots);
    int rc = 0;
    if (json && teq_analysis_write_json(json, a, &e)) rc = teq_cli_fail_err(&e);
    teq_analysis_free(a);
    return rc;
}

const teq_cli_command teq_cli_cmd_analyze = {
    .name = "analyze",
    .summary = "distribution fits of every weight and activation tensor",
    .help =
        "usage: teq analyze MODEL [--calib DATA] [options]\n"
        "\n"
        "Fits four families (uniform, Gaussian, Laplace, exponential) to every weight tensor of every\n"
        "dot-product layer and, with --calib, to every input activation, and prints the Kolmogorov-Smirnov\n"
        "statistic of each fit and the family that fits best.\n"
        "\n"
        "options:\n"
        "  --calib DATA     calibration data for the activations (without it: the weights only)\n"
        "  --calib-limit N  at most N calibration samples (default: all)\n"
        "  --json FILE      the analysis as JSON\n"
        "  --plots DIR      one SVG per tensor and overview.svg (the folder is created when missing)\n"
        "  --threads N      threads (1..256, default 1)\n",
    .run = cmd_analyze,
};
