/* teq eval: a suite's measures of a model on a data set (src/eval/). */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

static int cmd_eval(int argc, char **argv) {
    const char *suite = NULL, *data = NULL, *ref = NULL, *keys = NULL, *json = NULL, *limit = NULL, *threads = NULL,
               *perturb = NULL, *seed = NULL;
    const teq_cli_opt opts[] = {{"--suite", &suite}, {"--data", &data}, {"--reference", &ref}, {"--keys", &keys},
                                {"--json", &json}, {"--limit", &limit}, {"--threads", &threads},
                                {"--perturb", &perturb}, {"--seed", &seed}, {NULL, NULL}};
    const char *pos[1] = {NULL};
    if (teq_cli_parse_opts("eval", argc, argv, opts, pos, 1, NULL, NULL, NULL, 0)) return 1;
    if (!suite || !data) return teq_cli_fail("eval: --suite and --data are required");
    long long t = teq_cli_int_opt("eval", "--threads", threads, 1, 1, 256);
    long long lim = teq_cli_int_opt("eval", "--limit", limit, 0, 0, 1LL << 40);
    long long sd = teq_cli_int_opt("eval", "--seed", seed, 1, 0, 1LL << 62);
    double step = teq_cli_num_opt("eval", "--perturb", perturb, 0);
    if (t < 0 || lim < 0 || sd < 0 || isnan(step)) return 1;
    if (step < 0) return teq_cli_fail("eval: --perturb must be >= 0");
    teq_error e;
    teq_model *m = NULL, *r = NULL;
    if (teq_model_load(pos[0], &m, &e)) return teq_cli_fail_err(&e);
    if (ref && teq_model_load(ref, &r, &e)) {
        teq_model_free(m);
        return teq_cli_fail_err(&e);
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
        rc = teq_cli_fail_err(&e);
    } else {
        printf("suite %s on %s: %lld samples\n", res.suite, data, (long long)res.n);
        if (step != 0) printf("  (the model's inputs moved by -%g, 0 or +%g, seed %lld; the reference's not)\n", step, step, sd);
        for (int i = 0; i < res.n_metrics; i++) printf("  %-24s %10.4f\n", res.metric_names[i], res.metrics[i]);
        if (json && teq_eval_write_json(json, &res, &e)) rc = teq_cli_fail_err(&e);
    }
    teq_model_free(m);
    teq_model_free(r);
    return rc;
}

const teq_cli_command teq_cli_cmd_eval = {
    .name = "eval",
    .summary = "a model's task metric on a data set",
    .help =
        "usage: teq eval MODEL --suite SUITE --data DIR [options]\n"
        "\n"
        "Runs the model on a data set and prints the suite's measures (each is defined in src/eval/eval.h).\n"
        "\n"
        "suites:\n"
        "  ocr-rec    PP-OCR recognition: line accuracy and character error rate against the labels\n"
        "  ocr-cls    text orientation: accuracy on the labels 0/180, agreement with the reference\n"
        "  ocr-det    text detection: box F1 against the reference's boxes (DB post-processing)\n"
        "  blazeface  face detection: face F1 against the reference's faces (anchors decoded, NMS)\n"
        "  mlsd       line segments: sAP^10 against the reference's segments\n"
        "  classify   top-1 accuracy against class-index labels, agreement with the reference\n"
        "  fidelity   agreement of the outputs with the reference model's\n"
        "\n"
        "options:\n"
        "  --suite SUITE            the suite (required)\n"
        "  --data DIR               a data set folder made by teq dataset (required)\n"
        "  --reference FP32.onnx    the reference model of the agreement measures\n"
        "  --keys FILE              ocr-rec: the PP-OCR key list (default: ppocr_keys_v1.txt beside MODEL)\n"
        "  --limit N                at most N samples (default: all)\n"
        "  --json FILE              the result as JSON\n"
        "  --threads N              threads (1..256, default 1)\n"
        "  --perturb STEP           the model (not the reference) sees each input value moved by -STEP, 0 or\n"
        "                           +STEP: with MODEL as its own reference, the metric's noise floor\n"
        "  --seed S                 the seed of --perturb (default 1)\n",
    .run = cmd_eval,
};
