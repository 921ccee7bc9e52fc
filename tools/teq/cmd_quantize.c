/* teq quantize: the quantizer (src/pipeline/) behind the per-layer table and the summary. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmd_quantize(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *calib = NULL, *scheme = NULL, *max_loss = NULL, *bits = NULL, *suite = NULL,
               *data = NULL, *keys = NULL, *json = NULL, *threads = NULL, *climit = NULL, *slimit = NULL, *elimit = NULL,
               *i8 = NULL, *granularity = NULL, *biascorr = NULL, *shift = NULL, *rounding = NULL, *search = NULL, *val = NULL,
               *pareto = NULL, *lanes = NULL, *lanes_loss = NULL;
    const teq_cli_opt opts[] = {{"--int-lanes", &lanes}, {"--int-lanes-loss", &lanes_loss},
                                {"--weight-scales", &granularity}, {"--bias-correction", &biascorr},
                                {"--shift", &shift}, {"--rounding", &rounding}, {"-o", &out}, {"--calib", &calib},
                                {"--scheme", &scheme}, {"--max-loss", &max_loss}, {"--bits", &bits},
                                {"--suite", &suite}, {"--data", &data}, {"--keys", &keys}, {"--json", &json},
                                {"--threads", &threads}, {"--calib-limit", &climit}, {"--search-limit", &slimit},
                                {"--eval-limit", &elimit}, {"--int8-calib", &i8}, {"--search", &search},
                                {"--val", &val}, {"--pareto", &pareto}, {NULL, NULL}};
    const char *pos[1] = {NULL};
    if (teq_cli_parse_opts("quantize", argc, argv, opts, pos, 1, NULL, NULL, NULL, 0)) return 1;
    model = pos[0];
    if (!out) return teq_cli_fail("quantize: -o OUT.teq is required");
    if (!calib) return teq_cli_fail("quantize: --calib DATA is required");
    teq_quantize_opts o = {0};
    o.calib_path = calib;
    o.scheme = scheme;
    o.suite = suite;
    o.data_path = data;
    o.keys_path = keys;
    o.int8_calib = i8;
    if (search && strcmp(search, "fast") && strcmp(search, "greedy")) return teq_cli_fail("quantize: --search is fast or greedy");
    o.search = search;
    o.val_path = val;
    if (pareto && !*pareto) return teq_cli_fail("quantize: --pareto needs a file name (FILE.svg)");
    o.pareto_path = pareto;
    if (granularity && strcmp(granularity, "channel") && strcmp(granularity, "tensor"))
        return teq_cli_fail("quantize: --weight-scales is channel or tensor");
    o.per_tensor_weights = granularity && !strcmp(granularity, "tensor");
    if (biascorr && strcmp(biascorr, "on") && strcmp(biascorr, "off")) return teq_cli_fail("quantize: --bias-correction is on or off");
    o.no_bias_correction = biascorr && !strcmp(biascorr, "off");
    if (shift && strcmp(shift, "on") && strcmp(shift, "off")) return teq_cli_fail("quantize: --shift is on or off");
    o.shift = !shift ? 0 : !strcmp(shift, "on") ? 1 : -1;
    if (rounding && strcmp(rounding, "nearest") && strcmp(rounding, "gptq")) return teq_cli_fail("quantize: --rounding is nearest or gptq");
    if (lanes && strcmp(lanes, "on") && strcmp(lanes, "16") && strcmp(lanes, "off"))
        return teq_cli_fail("quantize: --int-lanes is on, 16 or off");
    o.int_lanes = !lanes || !strcmp(lanes, "off") ? 0 : !strcmp(lanes, "16") ? 16 : 1;
    if (lanes_loss) {
        char *end;
        o.int_lanes_loss = strtod(lanes_loss, &end);
        if (*end || !(o.int_lanes_loss > 0 && o.int_lanes_loss <= 100))
            return teq_cli_fail("quantize: --int-lanes-loss must be a number in (0, 100]");
        if (!o.int_lanes) return teq_cli_fail("quantize: --int-lanes-loss needs --int-lanes on or 16");
    }
    o.rounding = rounding;
    if (i8 && strcmp(i8, "minmax") && strcmp(i8, "percentile")) return teq_cli_fail("quantize: --int8-calib is minmax or percentile");
    o.max_loss = 1.0;
    if (max_loss) {
        char *end;
        o.max_loss = strtod(max_loss, &end);
        if (*end || !(o.max_loss >= 0 && o.max_loss <= 100)) return teq_cli_fail("quantize: --max-loss must be a number in 0..100");
        if (o.max_loss == 0) o.max_loss = -1; /* zero loss allowed: the library reads <0 as 0 */
    }
    if (bits) {
        char *end;
        long w = strtol(bits, &end, 10);
        if (*end != ',') return teq_cli_fail("quantize: --bits takes W,A (e.g. 4,5)");
        long a = strtol(end + 1, &end, 10);
        if (*end) return teq_cli_fail("quantize: --bits takes W,A (e.g. 4,5)");
        o.bits_w = (int)w, o.bits_a = (int)a;
    }
    long long t = teq_cli_int_opt("quantize", "--threads", threads, 1, 1, 256);
    long long cl = teq_cli_int_opt("quantize", "--calib-limit", climit, 0, 0, 1LL << 40);
    long long sl = teq_cli_int_opt("quantize", "--search-limit", slimit, 0, 0, 1LL << 40);
    long long el = teq_cli_int_opt("quantize", "--eval-limit", elimit, 0, 0, 1LL << 40);
    if (t < 0 || cl < 0 || sl < 0 || el < 0) return 1;
    o.threads = (int)t, o.calib_limit = cl, o.search_limit = sl, o.eval_limit = el;
    o.progress = teq_cli_is_tty();
    teq_quantize_report *r = NULL;
    teq_error e;
    if (teq_quantize(model, out, &o, &r, &e)) return teq_cli_fail_err(&e);
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
        printf("integer lanes: %d of %d exponential layers (Convs, MatMuls), %d of them on 8 bits (budget metric on the %s "
               "samples %.2f, exact layers %.2f)\n",
               r->n_lanes, r->n_lanes_eligible, r->n_lanes8, r->lanes_samples, r->lanes_metric, r->lanes_metric_exact);
    else if (o.int_lanes)
        printf("integer lanes: no exponential layer can take them (or this CPU lacks the kernels)\n");
    if (!r->within_budget_final)
        printf("OVER BUDGET on the final evaluation: %s %.2f, FP32 %.2f (more than %.2f points lost)\n", r->metric, r->acc_quant,
               r->acc_fp32, r->max_loss);
    printf("time: calibration %.1f s (%lld samples), search %.1f s (%d evaluations), evaluation %.1f s, total %.1f s\n",
           r->t_calib_s, (long long)r->n_calib, r->t_search_s, r->n_search_evals, r->t_eval_s, r->t_total_s);
    printf("wrote %s\n", out);
    int rc = 0;
    if (json && teq_quantize_report_write_json(json, r, &e)) rc = teq_cli_fail_err(&e);
    teq_quantize_report_free(r);
    return rc;
}

const teq_cli_command teq_cli_cmd_quantize = {
    .name = "quantize",
    .summary = "quantize a model with exponential (or linear) codes into a .teq file",
    .help =
        "usage: teq quantize MODEL.onnx --calib DATA -o OUT.teq [options]\n"
        "\n"
        "Quantizes every Conv, ConvTranspose, Gemm and MatMul: statistics of each layer's inputs on the\n"
        "calibration data, a code per tensor fitted for every base and width, the widths searched so that the\n"
        "budget metric stays within the budget; writes OUT.teq and prints the per-layer table and the summary.\n"
        "DATA is a folder made by teq dataset, a .npy whose first axis is the batch, or a folder of .npy files.\n"
        "\n"
        "options:\n"
        "  --calib DATA                    calibration data (required)\n"
        "  -o OUT.teq                      the quantized model (required)\n"
        "  --scheme SCHEME                 teq (exponential codes, adaptive widths; default), teq-mixed (a layer\n"
        "                                  may take the linear code where its error is lower), int8 (linear,\n"
        "                                  8 bits), linear (the adaptive search with linear codes)\n"
        "  --max-loss PCT                  the budget: at most PCT points (0..100, default 1) below FP32 on the\n"
        "                                  search samples and on the held-out ones\n"
        "  --bits W,A                      fixed widths for every layer's weights and activations (no search);\n"
        "                                  --scheme int8 --bits 7,8: 7-bit weights, whose INT8 layers AVX2 runs\n"
        "                                  by bytes (vpmaddubsw), faster; check the accuracy (teq eval)\n"
        "  --suite SUITE                   with --data, the budget metric is this suite's task metric (see\n"
        "                                  teq eval --help); without it, agreement with FP32 on the\n"
        "                                  calibration data\n"
        "  --data DIR                      the data set of --suite\n"
        "  --keys FILE                     ocr-rec: the PP-OCR key list (default: ppocr_keys_v1.txt beside MODEL)\n"
        "  --val DATA                      held-out budget data (default: the last quarter of the budget data,\n"
        "                                  which is then left out of calibration and search too)\n"
        "  --search fast|greedy            fast (default): measured per-tensor distortion tables, allocation\n"
        "                                  along their convex hulls, bisection on the budget metric, +-1-bit\n"
        "                                  refinement; greedy: the slow oracle, the full model at each step\n"
        "  --rounding nearest|gptq         weights to their nearest level, or GPTQ (default): rounded column by\n"
        "                                  column, each error compensated on the rest through the calibration\n"
        "                                  inputs' X^T X\n"
        "  --weight-scales channel|tensor  a weight scale per output channel (default) or per tensor\n"
        "  --bias-correction on|off        correct each Conv bias for the mean output shift its quantized\n"
        "                                  weights cause on the calibration data (default on)\n"
        "  --shift on|off                  shifted codes for activations bounded below (HardSwish, Swish;\n"
        "                                  default on)\n"
        "  --int8-calib minmax|percentile  the activation ranges of the int8 scheme (default minmax)\n"
        "  --int-lanes on|16|off           exponential Convs and constant-weight MatMuls on integer lanes\n"
        "                                  (int16, then 8-bit; depthwise Convs and MatMuls 8-bit only; 16:\n"
        "                                  int16 only) where they measure faster on this machine and the\n"
        "                                  budget metric on the held-out samples stays within\n"
        "                                  --int-lanes-loss points of the exact layers (default off)\n"
        "  --int-lanes-loss P              that tolerance in points (default 0.2; needs --int-lanes)\n"
        "  --pareto FILE.svg               the budget metric against average bits for the exponential and the\n"
        "                                  linear code, with INT8 and FP32 (the figures in FILE.json)\n"
        "  --calib-limit N                 at most N calibration samples (default: all)\n"
        "  --search-limit N                at most N samples per budget evaluation of the search (default: all)\n"
        "  --eval-limit N                  at most N samples in the final FP32 / INT8 / quantized comparison\n"
        "                                  (default: all)\n"
        "  --json FILE                     the report as JSON\n"
        "  --threads N                     threads (1..256, default 1)\n",
    .run = cmd_quantize,
};
