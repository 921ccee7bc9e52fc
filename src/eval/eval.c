/* teq_eval: a suite over a data set with teq models (public API), and its JSON. */
#define _POSIX_C_SOURCE 200809L
#include "eval.h"
#include "../api/model_internal.h"
#include "../core/fileio.h"
#include "../quant/qint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct model_runner {
    teq_model *m;
    /* --perturb: the data set's inputs (to find a batch's place), the step, the seed, and per channel
     * whether it varies (channels of an NCHW or NHWC image batch) */
    const teq_tensor *inputs;
    double step;
    uint64_t seed;
    int64_t n_ch, inner; /* channel index of flat element i of a sample: (i / inner) % n_ch */
    bool *varies;
    float *lo, *hi;      /* per channel: the data set's range, which a moved value does not leave (a pixel
                          * at 255 cannot get brighter) */
} model_runner;

/* teq_run_fn over a one-input teq_model: batch [B,...] bound in order. */
static teq_status run_model(void *user, const teq_tensor *batch, teq_tensor **outputs, teq_error *err) {
    model_runner *r = user;
    const teq_tensor *in[1] = {batch};
    teq_tensor *moved = NULL;
    if (r->step != 0) {
        teq_status s = teq_tensor_create(TEQ_DTYPE_FLOAT, batch->ndim, batch->dims, &moved, err);
        if (s) return s;
        int64_t n = teq_tensor_numel(batch), per = teq_tensor_numel(r->inputs) / r->inputs->dims[0];
        int64_t first = (int64_t)((const float *)batch->data - (const float *)r->inputs->data); /* flat index */
        const float *x = batch->data;
        float *y = moved->data;
        for (int64_t i = 0; i < n; i++) {
            int64_t c = r->varies ? ((first + i) % per / r->inner) % r->n_ch : 0;
            /* the same value of the data set always gets the same move, whatever the batching */
            uint64_t st = r->seed ^ (uint64_t)(first + i); /* splitmix64 of (seed ^ index) */
            int64_t d = r->varies && !r->varies[c] ? 0 : (int64_t)(teq_qi_rng_next(&st) % 3) - 1;
            float v = x[i] + (float)((double)d * r->step);
            if (r->varies) v = v < r->lo[c] ? r->lo[c] : v > r->hi[c] ? r->hi[c] : v;
            y[i] = v;
        }
        in[0] = moved;
    }
    teq_status s = teq_model_run(r->m, 1, NULL, in, outputs, err);
    teq_tensor_free(moved);
    return s;
}

/* --perturb: which channels of an image batch vary over the data set, and their ranges (rank 4, NCHW or
 * NHWC: teq_ds_nhwc). Other ranks: every value moves, unclamped (r->varies NULL). */
static teq_status find_varying(model_runner *r, const teq_tensor *t, teq_error *err) {
    if (t->ndim != 4 || t->dims[0] == 0) return TEQ_OK;
    bool nhwc = teq_ds_nhwc(t);
    r->n_ch = nhwc ? t->dims[3] : t->dims[1];
    r->inner = nhwc ? 1 : t->dims[2] * t->dims[3];
    float *lo = r->lo = malloc((size_t)r->n_ch * 2 * sizeof *lo);
    r->varies = calloc((size_t)r->n_ch, sizeof *r->varies);
    if (!lo || !r->varies) return teq_error_set(err, TEQ_ERR_NOMEM, "eval: out of memory");
    float *hi = r->hi = lo + r->n_ch;
    for (int64_t c = 0; c < r->n_ch; c++) lo[c] = INFINITY, hi[c] = -INFINITY;
    int64_t n = teq_tensor_numel(t), per = n / t->dims[0];
    const float *x = t->data;
    for (int64_t i = 0; i < n; i++) {
        int64_t c = (i % per / r->inner) % r->n_ch;
        lo[c] = x[i] < lo[c] ? x[i] : lo[c], hi[c] = x[i] > hi[c] ? x[i] : hi[c];
    }
    for (int64_t c = 0; c < r->n_ch; c++) r->varies[c] = hi[c] > lo[c];
    return TEQ_OK;
}

/* The data set's sample shape against the model's declared input; returns the batch size the model
 * fixes (its first dimension when declared), or 0 when free. */
static teq_status check_input(teq_model *m, const char *what, const teq_dataset *ds, int64_t *fixed_batch,
                              teq_error *err) {
    *fixed_batch = 0;
    if (teq_model_num_inputs(m) != 1)
        return teq_error_set(err, TEQ_ERR_UNSUPPORTED, "eval: the %s has %d inputs; suites feed models with one", what,
                             teq_model_num_inputs(m));
    teq_io_info info;
    teq_status s = teq_model_input_info(m, 0, &info);
    if (s) return teq_error_set(err, s, "eval: cannot read the %s's input", what);
    if (info.ndim < 0) return TEQ_OK;
    const teq_tensor *t = ds->inputs;
    char a[96], b[96];
    bool ok = info.ndim == t->ndim;
    for (int d = 1; ok && d < t->ndim; d++) ok = info.dims[d] < 0 || info.dims[d] == t->dims[d];
    if (!ok)
        return teq_error_set(err, TEQ_ERR_SHAPE, "eval: the data set holds %s but the %s's input '%s' is %s",
                             teq_shape_str(t->ndim, t->dims, a, sizeof a), what, info.name,
                             teq_shape_str(info.ndim, info.dims, b, sizeof b));
    if (info.ndim >= 1 && info.dims[0] > 0) *fixed_batch = info.dims[0];
    return TEQ_OK;
}

char *teq_eval_default_keys(const char *model_path) {
    const char *slash = strrchr(model_path, '/');
    size_t dl = slash ? (size_t)(slash - model_path) + 1 : 0;
    char *keys = malloc(dl + 32);
    if (keys) {
        memcpy(keys, model_path, dl);
        strcpy(keys + dl, "ppocr_keys_v1.txt");
    }
    return keys;
}

teq_status teq_eval(teq_model *m, const char *suite, const char *data_dir, const teq_eval_opts *o, teq_eval_result *out,
                    teq_error *err) {
    teq_error_clear(err);
    if (!m || !suite || !data_dir || !out) return teq_error_set(err, TEQ_ERR_ARG, "eval: missing argument");
    teq_eval_opts def = {0};
    if (!o) o = &def;
    teq_dataset *ds = NULL;
    teq_status s = teq_dataset_load(data_dir, &ds, err);
    if (s) return s;
    int64_t fixed = 0, fixed_ref = 0;
    s = check_input(m, "model", ds, &fixed, err);
    if (!s && o->reference) s = check_input(o->reference, "reference model", ds, &fixed_ref, err);
    int n_out = teq_model_num_outputs(m);
    if (!s && o->reference && teq_model_num_outputs(o->reference) != n_out)
        s = teq_error_set(err, TEQ_ERR_ARG, "eval: the model has %d outputs but the reference has %d", n_out,
                          teq_model_num_outputs(o->reference));
    int batch = o->batch > 0 ? o->batch : 8;
    int64_t limit = o->limit;
    if (!s && (fixed || fixed_ref)) {
        /* A model with a fixed batch (BlazeFace, M-LSD take exactly one image) is fed that many at a time;
         * samples that do not fill a last batch are left out. */
        int64_t f = fixed ? fixed : fixed_ref;
        if (fixed && fixed_ref && fixed != fixed_ref)
            s = teq_error_set(err, TEQ_ERR_SHAPE, "eval: the model takes batches of %lld, the reference %lld",
                              (long long)fixed, (long long)fixed_ref);
        int64_t n = limit > 0 && limit < ds->n ? limit : ds->n;
        if (!s && n < f)
            s = teq_error_set(err, TEQ_ERR_ARG, "eval: the model takes batches of %lld, the data set has %lld samples",
                              (long long)f, (long long)n);
        batch = (int)f;
        limit = n / f * f;
    }
    char *keys = NULL;
    if (!s && strcmp(suite, "ocr-rec") == 0) {
        if (o->keys_path) {
            keys = teq_strdup(o->keys_path);
        } else if (m->path) {
            keys = teq_eval_default_keys(m->path);
            struct stat st;
            if (keys && stat(keys, &st) != 0)
                s = teq_error_set(err, TEQ_ERR_ARG, "ocr-rec: no key list given and none at %s (use --keys)", keys);
        }
        if (!s && !keys) s = teq_error_set(err, TEQ_ERR_NOMEM, "eval: out of memory");
    }
    model_runner rm = {.m = m, .inputs = ds->inputs, .step = o->perturb, .seed = o->perturb_seed},
                 rr = {.m = o->reference};
    if (!s && !(o->perturb >= 0 && o->perturb < 1e30))
        s = teq_error_set(err, TEQ_ERR_ARG, "eval: perturbation %g is not a finite step >= 0", o->perturb);
    if (!s && o->perturb != 0) s = find_varying(&rm, ds->inputs, err);
    if (!s)
        s = teq_eval_suite(suite, ds, limit, batch, run_model, &rm, n_out, o->reference ? run_model : NULL,
                           o->reference ? &rr : NULL, keys, out, err);
    free(rm.varies);
    free(rm.lo);
    free(keys);
    teq_dataset_free(ds);
    return s;
}

teq_status teq_eval_write_json(const char *path, const teq_eval_result *r, teq_error *err) {
    teq_error_clear(err);
    teq_sbuf b = {0};
    teq_sbuf_printf(&b, "{\n  \"suite\": ");
    teq_sbuf_json_string(&b, r->suite);
    teq_sbuf_printf(&b, ",\n  \"n\": %lld", (long long)r->n);
    for (int i = 0; i < r->n_metrics && i < TEQ_EVAL_MAX_METRICS; i++) {
        teq_sbuf_printf(&b, ",\n  ");
        teq_sbuf_json_string(&b, r->metric_names[i]);
        teq_sbuf_printf(&b, ": ");
        teq_sbuf_json_number(&b, r->metrics[i]);
    }
    teq_sbuf_printf(&b, ",\n  \"primary\": ");
    teq_sbuf_json_string(&b, r->primary);
    teq_sbuf_printf(&b, "\n}\n");
    if (b.failed) {
        teq_sbuf_free(&b);
        return teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
    }
    teq_file_out fo;
    teq_status s = teq_file_out_open(&fo, path, err);
    if (!s) {
        s = teq_file_out_write(&fo, b.p, b.len, err);
        if (s)
            teq_file_out_abort(&fo);
        else
            s = teq_file_out_commit(&fo, err);
    }
    teq_sbuf_free(&b);
    return s;
}
