/* teq: the command-line tool. A thin layer over include/teq.h: argument parsing and printing. */
#define _POSIX_C_SOURCE 200809L
#include "teq.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern int cmd_export(int argc, char **argv); /* tools/cmd_export.c */

static void usage(FILE *f) {
    fprintf(f,
            "teq " TEQ_VERSION_STRING ": adaptive exponential quantization of neural networks\n"
            "\n"
            "usage:\n"
            "  teq inspect MODEL [--report]           inputs, outputs, operators, parameters; --report: the\n"
            "                                         quantization report kept in a .teq file (JSON)\n"
            "  teq run MODEL -i [NAME=]FILE.npy [-i ...] -o OUTDIR [--threads N]\n"
            "          [--repeat R] [--warmup W] [-q]\n"
            "                                         run the model, write OUTDIR/<output>.npy\n"
            "  teq quantize MODEL.onnx --calib DATA -o OUT.teq [--scheme teq|int8|linear] [--max-loss PCT]\n"
            "               [--bits W,A] [--suite SUITE --data DIR] [--keys FILE] [--json FILE]\n"
            "               [--calib-limit N] [--search-limit N] [--eval-limit N] [--int8-calib minmax|percentile]\n"
            "               [--weight-scales channel|tensor] [--bias-correction on|off] [--shift on|off]  schemes: teq, teq-mixed (a layer may take the\n"
            "               linear code where its error is lower), int8, linear\n"
            "               [--rounding nearest|gptq]  weights to their nearest level, or GPTQ (default): rounded column by\n"
            "               column, each error compensated on the rest through the calibration inputs' X^T X\n"
            "               [--search fast|greedy] [--val DATA] [--pareto FILE.svg]\n"
            "               [--threads N]        quantize; prints the per-layer table and the summary\n"
            "               search: fast (default; measured per-tensor tables, hull allocation, bisection on the\n"
            "               budget metric, +-1-bit refinement) or greedy (slow oracle, full model each step);\n"
            "               the budget: at most --max-loss points (default 1) below FP32 on the search samples\n"
            "               and on held-out ones (--val DATA, else the last quarter of the budget data)\n"
            "               [--int-lanes on|off] [--int-lanes-loss P]  exponential convolutions on int16 lanes (AVX-512\n"
            "               VNNI) where the budget metric on the held-out samples stays within P points (default 0.2)\n"
            "               of the exact layers\n"
            "  teq analyze MODEL [--calib DATA] [--json FILE] [--plots DIR] [--calib-limit N] [--threads N]\n"
            "                                         distribution of every weight and activation tensor\n"
            "  teq eval MODEL --suite SUITE --data DIR [--reference FP32.onnx] [--keys FILE] [--json FILE]\n"
            "               [--limit N] [--threads N]  suites: ocr-rec ocr-cls ocr-det blazeface mlsd\n"
            "               [--perturb STEP [--seed S]]  classify fidelity; --perturb: the model sees each\n"
            "                                         input value moved by -STEP, 0 or +STEP (the reference\n"
            "                                         does not): with MODEL as its own reference, the\n"
            "                                         metric's noise floor\n"
            "  teq dataset ocr-lines --text FILE --font FONT.ttf [--font ...] -n N --seed S -o DIR\n"
            "               [--width W] [--keys FILE]  text lines rendered with FreeType (PP-OCR rec input)\n"
            "  teq dataset synth --kind ocr-cls|ocr-det|blazeface|mlsd -n N --seed S -o DIR\n"
            "               [--text FILE] [--font FONT.ttf ...] [--height H] [--width W]\n"
            "  teq dataset idx --images FILE[.gz] [--labels FILE[.gz]] [--mean M --std S] [-n N] [--offset O]\n"
            "               -o DIR                   MNIST-style IDX images (and labels) as [N,1,H,W],\n"
            "                                         (pixel/255 - M) / S; defaults: Fashion-MNIST's 0.2860, 0.3530\n"
            "  teq bench [--json FILE] [--repeat N] [--threads T] [--models DIR] [--quick]\n"
            "                                         kernel and model speed: FP32 (OpenBLAS), INT8, teq 3/4/5 bits\n"
            "  teq energy MODEL.teq [--table FILE] [--json FILE] [--input FILE.npy | --shape D,D,...]\n"
            "               [--limit N] [--seed S] [--zero-skip on|off] [--final fp32|int16] [--threads N]\n"
            "                                         energy of the exponential datapath against INT8, per layer\n"
            "  teq export MODEL.teq -o OUT.onnx        the quantized model as standard ONNX operators\n"
            "  teq version\n"
            "\n"
            "MODEL is an ONNX file or a .teq file written by teq quantize. Tensors are NumPy .npy files\n"
            "(little-endian, C order). DATA is a folder made by teq dataset, a .npy whose first axis is the\n"
            "batch, or a folder of .npy files.\n");
}

static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "teq: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
}

static int fail_err(const teq_error *e) { return fail("%s", e->msg[0] ? e->msg : teq_status_string(e->status)); }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void print_shape(FILE *f, const teq_io_info *io) {
    if (io->ndim < 0) {
        fprintf(f, "(shape not declared)");
        return;
    }
    fprintf(f, "[");
    for (int d = 0; d < io->ndim; d++) {
        if (d) fprintf(f, ", ");
        if (io->dims[d] >= 0) fprintf(f, "%lld", (long long)io->dims[d]);
        else fprintf(f, "%s", io->dim_names[d][0] ? io->dim_names[d] : "?");
    }
    fprintf(f, "]");
}

static int cmd_inspect(int argc, char **argv) {
    int report = argc == 2 && !strcmp(argv[1], "--report");
    if (argc != 1 && !report) return usage(stderr), 2;
    teq_error e;
    teq_model *m;
    if (teq_model_load(argv[0], &m, &e)) return fail_err(&e);
    if (report) {
        const char *meta = teq_model_metadata(m);
        if (meta) printf("%s\n", meta);
        teq_model_free(m);
        return meta ? 0 : fail("%s: holds no quantization report (only .teq files from teq quantize do)", argv[0]);
    }
    teq_model_stats st;
    teq_model_stats_get(m, &st);
    printf("model: %s\nopset: %lld\n", argv[0], (long long)st.opset);
    printf("inputs:\n");
    for (int i = 0; i < teq_model_num_inputs(m); i++) {
        teq_io_info io;
        teq_model_input_info(m, i, &io);
        printf("  %-28s %-8s ", io.name, teq_dtype_name(io.dtype));
        print_shape(stdout, &io);
        printf("\n");
    }
    printf("outputs:\n");
    for (int i = 0; i < teq_model_num_outputs(m); i++) {
        teq_io_info io;
        teq_model_output_info(m, i, &io);
        printf("  %-28s %-8s ", io.name, teq_dtype_name(io.dtype));
        print_shape(stdout, &io);
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
        printf("quantized by teq: `teq inspect %s --report` prints the per-layer report (JSON)\n", argv[0]);
    teq_model_free(m);
    return 0;
}

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

static int cmd_run(int argc, char **argv) {
    const char *model_path = NULL, *outdir = NULL;
    int threads = 1, repeat = 1, warmup = 0, quiet = 0, n_in = 0;
    char **specs = calloc((size_t)argc + 1, sizeof *specs);
    if (!specs) return fail("out of memory");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "-i") || !strcmp(a, "--input")) && i + 1 < argc) specs[n_in++] = argv[++i];
        else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && i + 1 < argc) outdir = argv[++i];
        else if (!strcmp(a, "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--repeat") && i + 1 < argc) repeat = atoi(argv[++i]);
        else if (!strcmp(a, "--warmup") && i + 1 < argc) warmup = atoi(argv[++i]);
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = 1;
        else if (a[0] == '-') {
            free(specs);
            return fail("run: unknown or incomplete option '%s'", a);
        } else if (!model_path) model_path = a;
        else {
            free(specs);
            return fail("run: unexpected argument '%s'", a);
        }
    }
    if (!model_path || !outdir || n_in == 0) {
        free(specs);
        usage(stderr);
        return 2;
    }
    if (threads < 1 || threads > 256 || repeat < 1 || repeat > 100000 || warmup < 0 || warmup > 100000) {
        free(specs);
        return fail("run: --threads must be in 1..256, --repeat at least 1, --warmup at least 0");
    }
    /* The output folder must exist (or be creatable) and be writable before any work is done. */
    struct stat st;
    if (stat(outdir, &st) != 0) {
        if (mkdir(outdir, 0755) != 0) {
            free(specs);
            return fail("%s: cannot create output folder: %s", outdir, strerror(errno));
        }
    } else if (!S_ISDIR(st.st_mode)) {
        free(specs);
        return fail("%s: output path exists and is not a folder", outdir);
    }
    int rc = 1;
    teq_error e;
    teq_model *m = NULL;
    const char **names = calloc((size_t)n_in, sizeof *names);
    teq_tensor **ins = calloc((size_t)n_in, sizeof *ins);
    teq_tensor **outs = NULL;
    int n_out = 0;
    if (!names || !ins) {
        rc = fail("out of memory");
        goto done;
    }
    if (teq_model_load(model_path, &m, &e)) {
        rc = fail_err(&e);
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
            rc = fail_err(&e);
            goto done;
        }
    }
    if (named != 0 && named != n_in) {
        rc = fail("run: give NAME= for every input or for none");
        goto done;
    }
    if (!named && n_in != teq_model_num_inputs(m)) {
        rc = fail("%s: the model has %d inputs; name each one with -i NAME=FILE.npy", model_path, teq_model_num_inputs(m));
        goto done;
    }
    n_out = teq_model_num_outputs(m);
    outs = calloc((size_t)n_out, sizeof *outs);
    if (!outs) {
        rc = fail("out of memory");
        goto done;
    }
    double *times = calloc((size_t)repeat, sizeof *times);
    if (!times) {
        rc = fail("out of memory");
        goto done;
    }
    for (int r = -warmup; r < repeat; r++) {
        for (int j = 0; j < n_out; j++) {
            teq_tensor_free(outs[j]);
            outs[j] = NULL;
        }
        double t0 = now_s();
        if (teq_model_run(m, n_in, named ? names : NULL, (const teq_tensor *const *)ins, outs, &e)) {
            free(times);
            rc = fail_err(&e);
            goto done;
        }
        if (r >= 0) times[r] = now_s() - t0;
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
            rc = fail_err(&e);
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

/* Option parsing shared by the commands below: --name VALUE pairs. */
typedef struct opt {
    const char *name;
    const char **value;
} opt;

static int parse_opts(const char *cmd, int argc, char **argv, const opt *opts, const char **positional, int n_pos,
                      const char **multi_name, const char **multi, int *n_multi, int max_multi) {
    int np = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1]) {
            if (multi_name && !strcmp(a, *multi_name)) {
                if (i + 1 >= argc) return fail("%s: %s needs a value", cmd, a);
                if (*n_multi >= max_multi) return fail("%s: too many %s", cmd, a);
                multi[(*n_multi)++] = argv[++i];
                continue;
            }
            int k = 0;
            while (opts[k].name && strcmp(opts[k].name, a) != 0) k++;
            if (!opts[k].name) return fail("%s: unknown option '%s'", cmd, a);
            if (i + 1 >= argc) return fail("%s: %s needs a value", cmd, a);
            *opts[k].value = argv[++i];
        } else {
            if (np >= n_pos) return fail("%s: unexpected argument '%s'", cmd, a);
            positional[np++] = a;
        }
    }
    for (int i = 0; i < n_pos; i++)
        if (!positional[i]) return fail("%s: missing argument (see teq --help)", cmd);
    return 0;
}

/* A non-negative integer option; -1 (and a message) when malformed. */
static long long int_opt(const char *cmd, const char *name, const char *v, long long dflt, long long lo, long long hi) {
    if (!v) return dflt;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*v == 0 || *end != 0 || x < lo || x > hi) {
        fail("%s: %s must be an integer in %lld..%lld", cmd, name, lo, hi);
        return -1;
    }
    return x;
}

static int is_tty(void) { return isatty(2); }

static int cmd_quantize(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *calib = NULL, *scheme = NULL, *max_loss = NULL, *bits = NULL, *suite = NULL,
               *data = NULL, *keys = NULL, *json = NULL, *threads = NULL, *climit = NULL, *slimit = NULL, *elimit = NULL,
               *i8 = NULL, *granularity = NULL, *biascorr = NULL, *shift = NULL, *rounding = NULL, *search = NULL, *val = NULL,
               *pareto = NULL, *lanes = NULL, *lanes_loss = NULL;
    const opt opts[] = {{"--int-lanes", &lanes}, {"--int-lanes-loss", &lanes_loss}, {"--weight-scales", &granularity}, {"--bias-correction", &biascorr}, {"--shift", &shift}, {"--rounding", &rounding}, {"-o", &out},           {"--calib", &calib},  {"--scheme", &scheme}, {"--max-loss", &max_loss},
                        {"--bits", &bits},      {"--suite", &suite},  {"--data", &data},     {"--keys", &keys},
                        {"--json", &json},      {"--threads", &threads}, {"--calib-limit", &climit},
                        {"--search-limit", &slimit}, {"--eval-limit", &elimit}, {"--int8-calib", &i8}, {"--search", &search}, {"--val", &val},
                        {"--pareto", &pareto}, {NULL, NULL}};
    const char *pos[1] = {NULL};
    if (parse_opts("quantize", argc, argv, opts, pos, 1, NULL, NULL, NULL, 0)) return 1;
    model = pos[0];
    if (!out) return fail("quantize: -o OUT.teq is required");
    if (!calib) return fail("quantize: --calib DATA is required");
    teq_quantize_opts o = {0};
    o.calib_path = calib;
    o.scheme = scheme;
    o.suite = suite;
    o.data_path = data;
    o.keys_path = keys;
    o.int8_calib = i8;
    if (search && strcmp(search, "fast") && strcmp(search, "greedy")) return fail("quantize: --search is fast or greedy");
    o.search = search;
    o.val_path = val;
    if (pareto && !*pareto) return fail("quantize: --pareto needs a file name (FILE.svg)");
    o.pareto_path = pareto;
    if (granularity && strcmp(granularity, "channel") && strcmp(granularity, "tensor"))
        return fail("quantize: --weight-scales is channel or tensor");
    o.per_tensor_weights = granularity && !strcmp(granularity, "tensor");
    if (biascorr && strcmp(biascorr, "on") && strcmp(biascorr, "off")) return fail("quantize: --bias-correction is on or off");
    o.no_bias_correction = biascorr && !strcmp(biascorr, "off");
    if (shift && strcmp(shift, "on") && strcmp(shift, "off")) return fail("quantize: --shift is on or off");
    o.shift = !shift ? 0 : !strcmp(shift, "on") ? 1 : -1;
    if (rounding && strcmp(rounding, "nearest") && strcmp(rounding, "gptq")) return fail("quantize: --rounding is nearest or gptq");
    if (lanes && strcmp(lanes, "on") && strcmp(lanes, "off")) return fail("quantize: --int-lanes is on or off");
    o.int_lanes = lanes && !strcmp(lanes, "on");
    if (lanes_loss) {
        char *end;
        o.int_lanes_loss = strtod(lanes_loss, &end);
        if (*end || !(o.int_lanes_loss > 0 && o.int_lanes_loss <= 100))
            return fail("quantize: --int-lanes-loss must be a number in (0, 100]");
        if (!o.int_lanes) return fail("quantize: --int-lanes-loss needs --int-lanes on");
    }
    o.rounding = rounding;
    if (i8 && strcmp(i8, "minmax") && strcmp(i8, "percentile")) return fail("quantize: --int8-calib is minmax or percentile");
    o.max_loss = 1.0;
    if (max_loss) {
        char *end;
        o.max_loss = strtod(max_loss, &end);
        if (*end || !(o.max_loss >= 0 && o.max_loss <= 100)) return fail("quantize: --max-loss must be a number in 0..100");
        if (o.max_loss == 0) o.max_loss = -1; /* zero loss allowed: the library reads <0 as 0 */
    }
    if (bits) {
        char *end;
        long w = strtol(bits, &end, 10);
        if (*end != ',') return fail("quantize: --bits takes W,A (e.g. 4,5)");
        long a = strtol(end + 1, &end, 10);
        if (*end) return fail("quantize: --bits takes W,A (e.g. 4,5)");
        o.bits_w = (int)w, o.bits_a = (int)a;
    }
    long long t = int_opt("quantize", "--threads", threads, 1, 1, 256);
    long long cl = int_opt("quantize", "--calib-limit", climit, 0, 0, 1LL << 40);
    long long sl = int_opt("quantize", "--search-limit", slimit, 0, 0, 1LL << 40);
    long long el = int_opt("quantize", "--eval-limit", elimit, 0, 0, 1LL << 40);
    if (t < 0 || cl < 0 || sl < 0 || el < 0) return 1;
    o.threads = (int)t, o.calib_limit = cl, o.search_limit = sl, o.eval_limit = el;
    o.progress = is_tty();
    teq_quantize_report *r = NULL;
    teq_error e;
    if (teq_quantize(model, out, &o, &r, &e)) return fail_err(&e);
    printf("%-34s %-8s %-18s %-16s %2s %2s %8s %10s %10s %10s %10s %7s %7s %-11s %-11s %8s %8s %7s\n", "layer", "op",
           "W shape", "A shape", "nW", "nA", "base", "alpha_W", "beta_W", "alpha_A", "beta_A", "err_W", "err_A", "dist_W",
           "dist_A", "sens_W", "sens_A", "shift_A");
    int n_shifted = 0;
    for (int i = 0; i < r->n_layers; i++) {
        const teq_layer_report *l = &r->layers[i];
        char nm[35];
        /* long names are cut to the column (the JSON report has them whole) */
        snprintf(nm, sizeof nm, "%.34s", l->name);
        char sh[16] = "-"; /* the activation's shift c when it takes a shifted code */
        if (l->shifted) snprintf(sh, sizeof sh, "%.4f", l->shift), n_shifted++;
        if (l->code == 1)
            printf("%-34s %-8s %-18s %-16s %2d %2d %8.4f %10.3g %10.3g %10.3g %10.3g %7.4f %7.4f %-11s %-11s %8.2g %8.2g %7s\n",
                   nm, l->op, l->w_shape, l->a_shape, l->bits_w, l->bits_a, l->base, l->alpha_w, l->beta_w, l->alpha_a,
                   l->beta_a, l->err_w, l->err_a, l->dist_w, l->dist_a, l->sens_w, l->sens_a, sh);
        else
            printf("%-34s %-8s %-18s %-16s %2d %2d %8s %10.3g %10s %10.3g %10s %7.4f %7.4f %-11s %-11s %8.2g %8.2g %7s\n",
                   nm, l->op, l->w_shape, l->a_shape, l->bits_w, l->bits_a, "linear", l->scale_w, "-", l->scale_a, "-",
                   l->err_w, l->err_a, l->dist_w, l->dist_a, l->sens_w, l->sens_a, sh);
    }
    if (n_shifted)
        printf("\nshifted activation codes (x + c, unsigned; -c*sum(w) in the bias): %d of %d layers\n", n_shifted,
               r->n_layers);
    printf("\nscheme %s, weight scales per %s, rounding %s; budget: %s, max loss %.2f points\n", r->scheme,
           r->per_channel ? "output channel" : "tensor", r->rounding, r->budget_metric, r->max_loss);
    printf("average bits: weights %.3f, activations %.3f, both %.3f  (compression vs INT8 %.1f%%)\n", r->avg_bits_weights,
           r->avg_bits_activations, r->avg_bits, 100 * r->compression_vs_int8);
    printf("weights on disk: %.1f KB packed (FP32 %.1f KB, INT8 %.1f KB)\n", r->weight_bytes / 1e3,
           r->weight_bytes_fp32 / 1e3, r->weight_bytes_fp32 / 4e3);
    printf("exponential fits best: %.0f%% of the quantized tensors (KS)\n", 100 * r->share_exponential_best);
    printf("%-40s %10s %10s %10s\n", r->metric, "FP32", "INT8", r->scheme);
    printf("%-40s %10.2f %10.2f %10.2f   (n = %lld)\n", "", r->acc_fp32, r->acc_int8, r->acc_quant, (long long)r->metric_n);
    if (strcmp(r->search, "fixed") != 0) {
        printf("search %s: %lld search samples, %lld held out", r->search, (long long)r->n_search, (long long)r->n_heldout);
        if (r->n_table && !strcmp(r->search, "greedy")) printf(", KL on %lld samples", (long long)r->n_table);
        else if (r->n_table) printf(", distortion tables on %lld samples (%.1f s)", (long long)r->n_table, r->t_table_s);
        if (r->n_refine_tries) printf(", refinement %d/%d tries taken", r->n_refine_taken, r->n_refine_tries);
        if (r->n_context_taken) printf(", %d bits taken off in context", r->n_context_taken);
        printf("\n  budget metric on the search samples %.2f (FP32 %.2f), held out %.2f (FP32 %.2f): %s\n", r->metric_search,
               r->ref_search, r->metric_heldout, r->ref_heldout, r->within_budget_search ? "within budget" : "OVER BUDGET");
        if (r->budget_note[0]) printf("  note: %s\n", r->budget_note);
    }
    if (r->n_lanes_eligible)
        printf("integer lanes: %d of %d exponential convolutions (budget metric on the %s samples %.2f, exact layers "
               "%.2f)\n",
               r->n_lanes, r->n_lanes_eligible, r->lanes_samples, r->lanes_metric, r->lanes_metric_exact);
    else if (o.int_lanes)
        printf("integer lanes: no exponential convolution can take them (or this CPU lacks AVX-512 VNNI)\n");
    if (!r->within_budget_final)
        printf("OVER BUDGET on the final evaluation: %s %.2f, FP32 %.2f (more than %.2f points lost)\n", r->metric, r->acc_quant,
               r->acc_fp32, r->max_loss);
    printf("time: calibration %.1f s (%lld samples), search %.1f s (%d evaluations), evaluation %.1f s, total %.1f s\n",
           r->t_calib_s, (long long)r->n_calib, r->t_search_s, r->n_search_evals, r->t_eval_s, r->t_total_s);
    printf("wrote %s\n", out);
    int rc = 0;
    if (json && teq_quantize_report_write_json(json, r, &e)) rc = fail_err(&e);
    teq_quantize_report_free(r);
    return rc;
}

static int cmd_analyze(int argc, char **argv) {
    const char *calib = NULL, *json = NULL, *plots = NULL, *climit = NULL, *threads = NULL;
    const opt opts[] = {{"--calib", &calib}, {"--json", &json}, {"--plots", &plots}, {"--calib-limit", &climit},
                        {"--threads", &threads}, {NULL, NULL}};
    const char *pos[1] = {NULL};
    if (parse_opts("analyze", argc, argv, opts, pos, 1, NULL, NULL, NULL, 0)) return 1;
    long long t = int_opt("analyze", "--threads", threads, 1, 1, 256);
    long long cl = int_opt("analyze", "--calib-limit", climit, 0, 0, 1LL << 40);
    if (t < 0 || cl < 0) return 1;
    if (plots) {
        struct stat st;
        if (stat(plots, &st) != 0 && mkdir(plots, 0755) != 0) return fail("%s: cannot create folder: %s", plots, strerror(errno));
        if (stat(plots, &st) != 0 || !S_ISDIR(st.st_mode)) return fail("%s: not a folder", plots);
    }
    teq_analysis *a;
    teq_error e;
    if (teq_analyze(pos[0], calib, cl, (int)t, plots, is_tty(), &a, &e)) return fail_err(&e);
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
    if (json && teq_analysis_write_json(json, a, &e)) rc = fail_err(&e);
    teq_analysis_free(a);
    return rc;
}

static double num_opt(const char *cmd, const char *name, const char *v, double dflt);

static int cmd_eval(int argc, char **argv) {
    const char *suite = NULL, *data = NULL, *ref = NULL, *keys = NULL, *json = NULL, *limit = NULL, *threads = NULL,
               *perturb = NULL, *seed = NULL;
    const opt opts[] = {{"--suite", &suite}, {"--data", &data},       {"--reference", &ref}, {"--keys", &keys},
                        {"--json", &json},   {"--limit", &limit},     {"--threads", &threads},
                        {"--perturb", &perturb}, {"--seed", &seed}, {NULL, NULL}};
    const char *pos[1] = {NULL};
    if (parse_opts("eval", argc, argv, opts, pos, 1, NULL, NULL, NULL, 0)) return 1;
    if (!suite || !data) return fail("eval: --suite and --data are required");
    long long t = int_opt("eval", "--threads", threads, 1, 1, 256);
    long long lim = int_opt("eval", "--limit", limit, 0, 0, 1LL << 40);
    long long sd = int_opt("eval", "--seed", seed, 1, 0, 1LL << 62);
    double step = num_opt("eval", "--perturb", perturb, 0);
    if (t < 0 || lim < 0 || sd < 0 || isnan(step)) return 1;
    if (step < 0) return fail("eval: --perturb must be >= 0");
    teq_error e;
    teq_model *m = NULL, *r = NULL;
    if (teq_model_load(pos[0], &m, &e)) return fail_err(&e);
    if (ref && teq_model_load(ref, &r, &e)) {
        teq_model_free(m);
        return fail_err(&e);
    }
    teq_model_set_threads(m, (int)t);
    if (r) teq_model_set_threads(r, (int)t);
    teq_eval_opts o = {0};
    o.keys_path = keys;
    o.reference = r;
    o.limit = lim;
    o.perturb = step;
    o.perturb_seed = (uint64_t)sd;
    teq_eval_result res;
    int rc = 0;
    if (teq_eval(m, suite, data, &o, &res, &e)) {
        rc = fail_err(&e);
    } else {
        printf("suite %s on %s: %lld samples\n", res.suite, data, (long long)res.n);
        if (step != 0) printf("  (the model's inputs moved by -%g, 0 or +%g, seed %lld; the reference's not)\n", step, step, sd);
        for (int i = 0; i < res.n_metrics; i++) printf("  %-24s %10.4f\n", res.metric_names[i], res.metrics[i]);
        if (json && teq_eval_write_json(json, &res, &e)) rc = fail_err(&e);
    }
    teq_model_free(m);
    teq_model_free(r);
    return rc;
}

/* A finite number option; NAN (and a message) when malformed. */
static double num_opt(const char *cmd, const char *name, const char *v, double dflt) {
    if (!v) return dflt;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (*v == 0 || *end != 0 || errno || !isfinite(x)) {
        fail("%s: %s must be a number", cmd, name);
        return NAN;
    }
    return x;
}

/* teq dataset idx: MNIST-style IDX files into a data set folder. */
static int cmd_dataset_idx(int argc, char **argv) {
    const char *images = NULL, *labels = NULL, *mean = NULL, *std = NULL, *n = NULL, *offset = NULL, *out = NULL;
    const opt opts[] = {{"--images", &images}, {"--labels", &labels}, {"--mean", &mean}, {"--std", &std},
                        {"-n", &n},            {"--offset", &offset}, {"-o", &out},      {NULL, NULL}};
    if (parse_opts("dataset idx", argc, argv, opts, NULL, 0, NULL, NULL, NULL, 0)) return 1;
    if (!images) return fail("dataset idx: --images FILE is required");
    if (!out) return fail("dataset idx: -o DIR is required");
    teq_idx_opts o = {0};
    o.images_path = images;
    o.labels_path = labels;
    o.out_dir = out;
    o.mean = num_opt("dataset idx", "--mean", mean, TEQ_FMNIST_MEAN);
    o.std = num_opt("dataset idx", "--std", std, TEQ_FMNIST_STD);
    if (isnan(o.mean) || isnan(o.std)) return 1;
    if (!(o.std > 0)) return fail("dataset idx: --std must be positive");
    long long nn = int_opt("dataset idx", "-n", n, 0, 1, 1LL << 32);
    long long off = int_opt("dataset idx", "--offset", offset, 0, 0, 1LL << 32);
    if (nn < 0 || off < 0) return 1;
    o.n = nn, o.offset = off;
    teq_error e;
    if (teq_dataset_idx(&o, &e)) return fail_err(&e);
    printf("wrote %s (inputs.npy, dataset.json, preview.png%s) from %s\n", out, labels ? ", labels.txt" : "", images);
    return 0;
}

static int cmd_dataset(int argc, char **argv) {
    if (argc < 1) return fail("dataset: ocr-lines, synth or idx (see teq --help)");
    const char *kind = argv[0];
    if (!strcmp(kind, "idx")) return cmd_dataset_idx(argc - 1, argv + 1);
    const char *text = NULL, *n = NULL, *seed = NULL, *out = NULL, *width = NULL, *height = NULL, *keys = NULL,
               *skind = NULL;
    const char *fonts[16];
    int n_fonts = 0;
    const char *font_opt = "--font";
    const opt opts[] = {{"--text", &text}, {"-n", &n},         {"--seed", &seed}, {"-o", &out}, {"--width", &width},
                        {"--height", &height}, {"--keys", &keys}, {"--kind", &skind}, {NULL, NULL}};
    if (parse_opts("dataset", argc - 1, argv + 1, opts, NULL, 0, &font_opt, fonts, &n_fonts, 16)) return 1;
    long long nn = int_opt("dataset", "-n", n, -1, 1, 10000000);
    long long sd = int_opt("dataset", "--seed", seed, 1, 0, 1LL << 62);
    long long w = int_opt("dataset", "--width", width, 0, 8, 8192);
    long long h = int_opt("dataset", "--height", height, 0, 8, 8192);
    if (nn < 0 || sd < 0 || w < 0 || h < 0) return n ? 1 : fail("dataset: -n N is required");
    if (!out) return fail("dataset: -o DIR is required");
    teq_error e;
    if (!strcmp(kind, "ocr-lines")) {
        if (!text || n_fonts == 0) return fail("dataset ocr-lines: --text FILE and at least one --font are required");
        teq_ocr_lines_opts o = {text, fonts, n_fonts, (int)nn, (uint64_t)sd, (int)w, (int)h, keys, out};
        if (teq_dataset_ocr_lines(&o, &e)) return fail_err(&e);
    } else if (!strcmp(kind, "synth")) {
        if (!skind) return fail("dataset synth: --kind is required (ocr-cls, ocr-det, blazeface, mlsd)");
        teq_synth_opts o = {skind, text, fonts, n_fonts, (int)nn, (uint64_t)sd, (int)h, (int)w, out};
        if (teq_dataset_synth(&o, &e)) return fail_err(&e);
    } else {
        return fail("dataset: unknown kind '%s' (ocr-lines, synth or idx)", kind);
    }
    printf("wrote %lld samples to %s (inputs.npy, dataset.json, preview.png%s)\n", nn, out,
           !strcmp(kind, "ocr-lines") || (skind && !strcmp(skind, "ocr-cls")) ? ", labels.txt" : "");
    return 0;
}

static int cmd_bench(int argc, char **argv) {
    teq_bench_opts o = {0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            o.quick = 1;
            continue;
        }
        if (!v) return fail("bench: %s needs a value", a);
        if (!strcmp(a, "--json")) o.json_path = v;
        else if (!strcmp(a, "--models")) o.models_dir = v;
        else if (!strcmp(a, "--repeat") || !strcmp(a, "--threads")) {
            long long x = int_opt("bench", a, v, 1, 1, !strcmp(a, "--repeat") ? 100000 : 256);
            if (x < 0) return 1;
            if (!strcmp(a, "--repeat")) o.repeat = (int)x;
            else o.threads = (int)x;
        } else {
            return fail("bench: unknown option %s", a);
        }
        i++;
    }
    teq_error err = {0};
    if (teq_bench_run(&o, stdout, &err)) return fail_err(&err);
    if (o.json_path) printf("wrote %s\n", o.json_path);
    return 0;
}

/* teq energy: the per-layer table, the totals and the assumptions (the model is in src/energy/). */
static int cmd_energy(int argc, char **argv) {
    const char *table = NULL, *json = NULL, *input = NULL, *shape = NULL, *limit = NULL, *seed = NULL, *zs = NULL,
               *threads = NULL, *final = NULL;
    const opt opts[] = {{"--final", &final}, {"--table", &table}, {"--json", &json},       {"--input", &input},  {"--shape", &shape},
                        {"--limit", &limit}, {"--seed", &seed},       {"--zero-skip", &zs}, {"--threads", &threads},
                        {NULL, NULL}};
    const char *pos[1] = {NULL};
    if (parse_opts("energy", argc, argv, opts, pos, 1, NULL, NULL, NULL, 0)) return 1;
    teq_energy_opts o = {0};
    teq_energy_table tb;
    teq_error e;
    if (table) {
        if (teq_energy_table_read(table, &tb, &e)) return fail_err(&e);
        o.table = &tb;
    }
    if (input && shape) return fail("energy: give --input or --shape, not both");
    if (zs && strcmp(zs, "on") && strcmp(zs, "off")) return fail("energy: --zero-skip is on or off");
    o.no_zero_skip = zs && !strcmp(zs, "off");
    if (final && strcmp(final, "fp32") && strcmp(final, "int16")) return fail("energy: --final is fp32 or int16");
    o.final_int_bits = final && !strcmp(final, "int16") ? 16 : 0;
    o.input_path = input;
    if (shape) {
        const char *p = shape;
        while (*p) {
            char *end;
            errno = 0;
            long long d = strtoll(p, &end, 10);
            if (end == p || errno || d < 1 || d > (1LL << 31) || (*end && *end != ',') || o.shape_ndim == TEQ_MAX_DIMS)
                return fail("energy: --shape takes positive dims separated by commas (e.g. 1,3,48,320)");
            o.shape[o.shape_ndim++] = d;
            p = *end ? end + 1 : end;
        }
        if (o.shape_ndim == 0) return fail("energy: --shape takes positive dims separated by commas (e.g. 1,3,48,320)");
    }
    long long l = int_opt("energy", "--limit", limit, 0, 1, 1LL << 40);
    long long sd = int_opt("energy", "--seed", seed, 1, 0, 1LL << 62);
    long long t = int_opt("energy", "--threads", threads, 1, 1, 256);
    if (l < 0 || sd < 0 || t < 0) return 1;
    o.limit = l, o.seed = (uint64_t)sd, o.threads = (int)t;
    teq_model *m = NULL;
    if (teq_model_load(pos[0], &m, &e)) return fail_err(&e);
    teq_energy_report *r = NULL;
    if (teq_energy_analyze(m, &o, &r, &e)) {
        teq_model_free(m);
        return fail_err(&e);
    }
    printf("%-30s %-6s %2s %2s %10s %6s %10s %10s %9s %10s %9s %9s %9s %9s %10s %10s %7s\n", "layer", "op", "nW", "nA",
           "MACs", "nz%", "exp adds", "cnt upd", "final", "INT8 MACs", "DRAM B", "DRAM B8", "SRAM B", "SRAM B8",
           "pJ teq", "pJ int8", "saving");
    for (int i = 0; i < r->n_layers; i++) {
        const teq_energy_layer *y = &r->layers[i];
        char nm[31], op[7];
        snprintf(nm, sizeof nm, "%.30s", y->name); /* cut to the column; the JSON has them whole */
        snprintf(op, sizeof op, "%.6s", y->op);
        printf("%-30s %-6s %2d %2d %10.4g %6.1f %10.4g %10.4g %9.4g %10.4g %9.4g %9.4g %9.4g %9.4g %10.4g %10.4g %6.1f%%\n",
               nm, op, y->bits_w, y->bits_a, y->macs, y->taps > 0 ? 100.0 * y->pairs_nonzero / y->taps : 0.0,
               y->teq_exp_adds, y->teq_counter_updates, y->teq_final_muls + y->teq_final_adds, y->int8_macs,
               y->teq_dram_bytes, y->int8_dram_bytes, y->teq_sram_bytes, y->int8_sram_bytes, y->pj_teq, y->pj_int8,
               y->pj_int8 > 0 ? 100.0 * (1.0 - y->pj_teq / y->pj_int8) : 0.0);
    }
    printf("(nz%%: element pairs with no zero operand, of the taps; final: multiplies + adds of the final stage; "
           "B8: INT8)\n\n");
    printf("%-10s %14s %14s %8s\n", "per inference", "teq pJ", "INT8 pJ", "saving");
    printf("%-13s %14.6g %14.6g %7.1f%%\n", "compute", r->pj_teq_compute, r->pj_int8_compute, 100 * r->saving_compute);
    printf("%-13s %14.6g %14.6g %7.1f%%\n", "SRAM", r->pj_teq_sram, r->pj_int8_sram,
           r->pj_int8_sram > 0 ? 100 * (1 - r->pj_teq_sram / r->pj_int8_sram) : 0.0);
    printf("%-13s %14.6g %14.6g %7.1f%%\n", "DRAM", r->pj_teq_dram, r->pj_int8_dram,
           r->pj_int8_dram > 0 ? 100 * (1 - r->pj_teq_dram / r->pj_int8_dram) : 0.0);
    printf("%-13s %14.6g %14.6g %7.1f%%\n", "memory", r->pj_teq_memory, r->pj_int8_memory, 100 * r->saving_memory);
    printf("%-13s %14.6g %14.6g %7.1f%%\n", "total", r->total_pj_teq, r->total_pj_int8, 100 * r->saving_vs_int8);
    printf("energy saving against INT8: %.1f%% (%.4g uJ teq, %.4g uJ INT8 per inference, %d layers)\n",
           100 * r->saving_vs_int8, r->total_pj_teq / 1e6, r->total_pj_int8 / 1e6, r->n_layers);
    printf("\nassumptions:\n");
    for (int i = 0; i < r->n_assumptions; i++) printf("- %s\n", r->assumptions[i]);
    printf("table (pJ; a --table FILE has this form):\n");
    printf("  int_add_8 %g\n  int_add_32 %g\n  int_mul_8 %g\n  int_mul_32 %g\n  fp_add_32 %g\n  fp_mul_32 %g\n"
           "  sram_64b %g\n  dram_64b %g\n",
           r->table.int_add_8, r->table.int_add_32, r->table.int_mul_8, r->table.int_mul_32, r->table.fp_add_32,
           r->table.fp_mul_32, r->table.sram_64b, r->table.dram_64b);
    int rc = 0;
    if (json && teq_energy_write_json(json, r, &e)) rc = fail_err(&e);
    teq_energy_report_free(r);
    teq_model_free(m);
    return rc;
}

/* Interrupted (SIGINT, SIGTERM): say so on one line, then die of the signal as usual. Every output is
 * written under a temporary name and renamed when complete, so the files named on the command line
 * are either untouched or whole. */
static void on_interrupt(int sig) {
    static const char msg[] = "teq: interrupted by a signal; files not yet written were left as they were\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
        /* nothing more can be done from a signal handler */
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv) {
    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    /* A file-size limit (ulimit -f) must fail the write with EFBIG, reported like a full disk, rather
     * than kill the process. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("teq %s (kernels: %s)\n", TEQ_VERSION_STRING, teq_kernels_name());
        return 0;
    }
    if (!strcmp(argv[1], "inspect")) return cmd_inspect(argc - 2, argv + 2);
    if (!strcmp(argv[1], "run")) return cmd_run(argc - 2, argv + 2);
    if (!strcmp(argv[1], "quantize")) return cmd_quantize(argc - 2, argv + 2);
    if (!strcmp(argv[1], "analyze")) return cmd_analyze(argc - 2, argv + 2);
    if (!strcmp(argv[1], "eval")) return cmd_eval(argc - 2, argv + 2);
    if (!strcmp(argv[1], "dataset")) return cmd_dataset(argc - 2, argv + 2);
    if (!strcmp(argv[1], "bench")) return cmd_bench(argc - 2, argv + 2);
    if (!strcmp(argv[1], "energy")) return cmd_energy(argc - 2, argv + 2);
    if (!strcmp(argv[1], "export")) return cmd_export(argc - 2, argv + 2);
    fprintf(stderr, "teq: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
