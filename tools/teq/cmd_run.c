/* teq run: a model on .npy inputs, its outputs written as .npy, with timings. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Output file name: every character outside [A-Za-z0-9._-] becomes '_'. */
static void sanitize(const char *name, char *buf, size_t n) {
    size_t k = 0;
    for (; name[k] && k + 1 < n; k++) {
        char c = name[k];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        buf[k] = ok ? c : '_';
    }
    buf[k] = 0;
}

/* --profile: the timed runs' node times, summed by operator type and the `top` slowest nodes, per run */
static int print_profile(teq_model *m, int top) {
    teq_error e;
    const int n = teq_model_profile_nodes(m);
    teq_node_profile *p = calloc((size_t)n + 1, sizeof *p);
    int *ord = calloc((size_t)n + 1, sizeof *ord);
    if (!p || !ord) {
        free(p);
        free(ord);
        return teq_cli_fail("out of memory");
    }
    double total = 0;
    int64_t runs = 1;
    for (int i = 0; i < n; i++) {
        if (teq_model_profile_node(m, i, &p[i], &e)) {
            free(p);
            free(ord);
            return teq_cli_fail_err(&e);
        }
        total += p[i].seconds;
        runs = p[i].runs > 0 ? p[i].runs : 1;
        ord[i] = i;
    }
    const double per = 1e3 / (double)runs, pct = total > 0 ? 100 / total : 0;
    printf("profile: %d nodes as run (after folding and fusion), %lld timed run(s), %.2f ms per run in nodes\n", n,
           (long long)runs, total * per);
    /* operator types, slowest first (a few dozen at most: quadratic is fine) */
    const char *types[256];
    double tsec[256];
    int tcount[256], nt = 0;
    for (int i = 0; i < n; i++) {
        int t = 0;
        while (t < nt && strcmp(types[t], p[i].op_type)) t++;
        if (t == nt) {
            if (nt == 256) continue;
            types[nt] = p[i].op_type, tsec[nt] = 0, tcount[nt] = 0, nt++;
        }
        tsec[t] += p[i].seconds, tcount[t]++;
    }
    printf("  %-22s %6s %10s %7s\n", "operator", "nodes", "ms/run", "%");
    for (int k = 0; k < nt; k++) {
        int b = k;
        for (int t = k + 1; t < nt; t++)
            if (tsec[t] > tsec[b]) b = t;
        const char *ts = types[k];
        double td = tsec[k];
        int tc = tcount[k];
        types[k] = types[b], tsec[k] = tsec[b], tcount[k] = tcount[b];
        types[b] = ts, tsec[b] = td, tcount[b] = tc;
        printf("  %-22s %6d %10.3f %7.1f\n", types[k], tcount[k], tsec[k] * per, tsec[k] * pct);
    }
    for (int k = 0; k < n && k < top; k++) {
        int b = k;
        for (int t = k + 1; t < n; t++)
            if (p[ord[t]].seconds > p[ord[b]].seconds) b = t;
        int o = ord[k];
        ord[k] = ord[b], ord[b] = o;
    }
    printf("  slowest nodes:\n  %10s %7s  %-20s %-32s %s\n", "ms/run", "%", "operator", "node", "output shape");
    for (int k = 0; k < n && k < top; k++) {
        const teq_node_profile *q = &p[ord[k]];
        char sb[160];
        size_t len = 0;
        sb[0] = 0;
        for (int d = 0; d < q->ndim && len < sizeof sb; d++)
            len += (size_t)snprintf(sb + len, sizeof sb - len, d ? ",%lld" : "%lld", (long long)q->dims[d]);
        printf("  %10.3f %7.1f  %-20s %-32s [%s]\n", q->seconds * per, q->seconds * pct, q->op_type, q->name, sb);
    }
    free(p);
    free(ord);
    return 0;
}

static int cmd_run(int argc, char **argv) {
    const char *model_path = NULL, *outdir = NULL;
    int threads = 1, repeat = 1, warmup = 0, quiet = 0, n_in = 0, profile = 0;
    char **specs = calloc((size_t)argc + 1, sizeof *specs);
    if (!specs) return teq_cli_fail("out of memory");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "-i") || !strcmp(a, "--input")) && i + 1 < argc) specs[n_in++] = argv[++i];
        else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && i + 1 < argc) outdir = argv[++i];
        else if (!strcmp(a, "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--repeat") && i + 1 < argc) repeat = atoi(argv[++i]);
        else if (!strcmp(a, "--warmup") && i + 1 < argc) warmup = atoi(argv[++i]);
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = 1;
        else if (!strcmp(a, "--profile")) profile = 1;
        else if (a[0] == '-') {
            free(specs);
            return teq_cli_fail("run: unknown or incomplete option '%s'", a);
        } else if (!model_path) model_path = a;
        else {
            free(specs);
            return teq_cli_fail("run: unexpected argument '%s'", a);
        }
    }
    if (!model_path || !outdir || n_in == 0) {
        free(specs);
        teq_cli_fail("run: MODEL, -i FILE.npy and -o OUTDIR are required (see teq run --help)");
        return 2;
    }
    if (threads < 1 || threads > 256 || repeat < 1 || repeat > 100000 || warmup < 0 || warmup > 100000) {
        free(specs);
        return teq_cli_fail("run: --threads must be in 1..256, --repeat at least 1, --warmup at least 0");
    }
    /* The output folder must exist (or be creatable) and be writable before any work is done. */
    struct stat st;
    if (stat(outdir, &st) != 0) {
        if (mkdir(outdir, 0755) != 0) {
            free(specs);
            return teq_cli_fail("%s: cannot create output folder: %s", outdir, strerror(errno));
        }
    } else if (!S_ISDIR(st.st_mode)) {
        free(specs);
        return teq_cli_fail("%s: output path exists and is not a folder", outdir);
    }
    int rc = 1;
    teq_error e;
    teq_model *m = NULL;
    const char **names = calloc((size_t)n_in, sizeof *names);
    teq_tensor **ins = calloc((size_t)n_in, sizeof *ins);
    teq_tensor **outs = NULL;
    int n_out = 0;
    if (!names || !ins) {
        rc = teq_cli_fail("out of memory");
        goto done;
    }
    if (teq_model_load(model_path, &m, &e)) {
        rc = teq_cli_fail_err(&e);
        goto done;
    }
    teq_model_set_threads(m, threads);
    int named = 0;
    for (int i = 0; i < n_in; i++) {
        char *eq = strchr(specs[i], '=');
        const char *file = specs[i];
        if (eq) {
            *eq = 0;
            names[i] = specs[i];
            file = eq + 1;
            named++;
        }
        if (teq_npy_read(file, &ins[i], &e)) {
            rc = teq_cli_fail_err(&e);
            goto done;
        }
    }
    if (named != 0 && named != n_in) {
        rc = teq_cli_fail("run: give NAME= for every input or for none");
        goto done;
    }
    if (!named && n_in != teq_model_num_inputs(m)) {
        rc = teq_cli_fail("%s: the model has %d inputs; name each one with -i NAME=FILE.npy", model_path, teq_model_num_inputs(m));
        goto done;
    }
    n_out = teq_model_num_outputs(m);
    outs = calloc((size_t)n_out, sizeof *outs);
    if (!outs) {
        rc = teq_cli_fail("out of memory");
        goto done;
    }
    double *times = calloc((size_t)repeat, sizeof *times);
    if (!times) {
        rc = teq_cli_fail("out of memory");
        goto done;
    }
    for (int r = -warmup; r < repeat; r++) {
        for (int j = 0; j < n_out; j++) {
            teq_tensor_free(outs[j]);
            outs[j] = NULL;
        }
        if (profile && r == 0 && teq_model_profile(m, 1, &e)) {
            free(times);
            rc = teq_cli_fail_err(&e);
            goto done;
        }
        double t0 = teq_cli_now_s();
        if (teq_model_run(m, n_in, named ? names : NULL, (const teq_tensor *const *)ins, outs, &e)) {
            free(times);
            rc = teq_cli_fail_err(&e);
            goto done;
        }
        if (r >= 0) times[r] = teq_cli_now_s() - t0;
    }
    qsort(times, (size_t)repeat, sizeof *times, cmp_double);
    double best = times[0], median = repeat % 2 ? times[repeat / 2] : 0.5 * (times[repeat / 2 - 1] + times[repeat / 2]);
    double t_sum = 0;
    for (int r = 0; r < repeat; r++) t_sum += times[r];
    free(times);
    for (int j = 0; j < n_out; j++) {
        teq_io_info io;
        teq_model_output_info(m, j, &io);
        char fname[512], path[4096];
        sanitize(io.name, fname, sizeof fname);
        snprintf(path, sizeof path, "%s/%s.npy", outdir, fname);
        if (teq_npy_write(path, outs[j], &e)) {
            rc = teq_cli_fail_err(&e);
            goto done;
        }
        if (!quiet) {
            char sb[200];
            size_t k = 0;
            sb[0] = 0;
            for (int d = 0; d < outs[j]->ndim && k < sizeof sb; d++)
                k += snprintf(sb + k, sizeof sb - k, d ? ",%lld" : "%lld", (long long)outs[j]->dims[d]);
            printf("output %-24s [%s] -> %s\n", io.name, sb, path);
        }
    }
    if (!quiet)
        printf("ran %s: %d run(s) after %d warm-up, %d thread(s), best %.2f ms, median %.2f ms, mean %.2f ms\n",
               model_path, repeat, warmup, threads, best * 1e3, median * 1e3, t_sum / repeat * 1e3);
    if (profile && print_profile(m, 15)) goto done;
    rc = 0;
done:
    if (outs)
        for (int j = 0; j < n_out; j++) teq_tensor_free(outs[j]);
    free(outs);
    if (ins)
        for (int i = 0; i < n_in; i++) teq_tensor_free(ins[i]);
    free(ins);
    free(names);
    free(specs);
    teq_model_free(m);
    return rc;
}

const teq_cli_command teq_cli_cmd_run = {
    .name = "run",
    .summary = "run a model on .npy inputs, write its outputs as .npy",
    .help =
        "usage: teq run MODEL -i [NAME=]FILE.npy [-i ...] -o OUTDIR [options]\n"
        "\n"
        "Runs the model on the inputs and writes each graph output to OUTDIR/<output>.npy (in the name, every\n"
        "character other than letters, digits, '.', '_' and '-' becomes '_'), then prints the output shapes\n"
        "and the run times.\n"
        "\n"
        "options:\n"
        "  -i, --input [NAME=]FILE.npy  an input tensor; NAME= binds it to the graph input NAME; give NAME= for\n"
        "                               every input or for none (then they bind in order)\n"
        "  -o, --output OUTDIR          the output folder (created when missing)\n"
        "  --threads N                  threads (1..256, default 1)\n"
        "  --repeat R                   timed runs (default 1); the best, median and mean times are printed\n"
        "  --warmup W                   untimed runs before them (default 0)\n"
        "  -q, --quiet                  print nothing on success\n"
        "  --profile                    time every node of the timed runs and print, per run, the time of\n"
        "                               each operator type and of the 15 slowest nodes (the graph as it runs:\n"
        "                               folded and fused; a node fused into the convolution before it shows\n"
        "                               about 0 and its time is the convolution's); printed even with -q\n",
    .run = cmd_run,
};
