/* Writing a data set folder: inputs.npy, labels.txt, dataset.json and preview.png, each atomically. */
#define _POSIX_C_SOURCE 200809L
#include "data.h"
#include "../core/fileio.h"

#include <stb_image_write.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* mkdir -p */
static teq_status make_dirs(const char *dir, teq_error *err) {
    char *p = teq_strdup(dir);
    if (!p) return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory");
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') p[--n] = 0;
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        char c = p[i];
        p[i] = 0;
        struct stat st;
        if (stat(p, &st) != 0) {
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                teq_status s = teq_error_set(err, TEQ_ERR_IO, "%s: cannot create folder: %s", p, strerror(errno));
                free(p);
                return s;
            }
        } else if (!S_ISDIR(st.st_mode)) {
            teq_status s = teq_error_set(err, TEQ_ERR_IO, "%s: exists and is not a folder", p);
            free(p);
            return s;
        }
        p[i] = c;
    }
    free(p);
    return TEQ_OK;
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static teq_status write_atomic(const char *path, const void *data, size_t len, teq_error *err) {
    teq_file_out fo;
    teq_status s = teq_file_out_open(&fo, path, err);
    if (s) return s;
    s = teq_file_out_write(&fo, data, len, err);
    if (s) {
        teq_file_out_abort(&fo);
        return s;
    }
    return teq_file_out_commit(&fo, err);
}

static void png_sink(void *ctx, void *data, int size) { teq_sbuf_append(ctx, data, (size_t)size); }

/* The samples in a grid (about square overall; lines of text stack in one or two columns), 2-pixel blue
 * gaps, shrunk by an integer factor (box filter) until it is at most 2048 pixels on a side. */
static teq_status write_preview(const char *path, const teq_image *ims, int k, teq_error *err) {
    int w = ims[0].w, h = ims[0].h, gap = 2;
    int cols = (int)lround(sqrt((double)k * h / w));
    if (cols < 1) cols = 1;
    if (cols > k) cols = k;
    int rows = (k + cols - 1) / cols;
    int W = cols * w + (cols - 1) * gap, H = rows * h + (rows - 1) * gap;
    int f = 1;
    while ((W + f - 1) / f > 2048 || (H + f - 1) / f > 2048) f++;
    int ow = W / f, oh = H / f;
    if (ow < 1) ow = 1;
    if (oh < 1) oh = 1;
    uint8_t *big = malloc((size_t)W * (size_t)H * 3), *out = malloc((size_t)ow * (size_t)oh * 3);
    if (!big || !out) {
        free(big), free(out);
        return teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
    }
    /* gaps in blue: grey is PP-OCR's padding, black and white are in the samples */
    static const uint8_t gap_rgb[3] = {60, 90, 200};
    for (size_t i = 0; i < (size_t)W * (size_t)H; i++) memcpy(big + 3 * i, gap_rgb, 3);
    for (int i = 0; i < k; i++) {
        int ox = (i % cols) * (w + gap), oy = (i / cols) * (h + gap);
        for (int y = 0; y < h; y++)
            memcpy(big + ((size_t)(oy + y) * (size_t)W + (size_t)ox) * 3, ims[i].px + (size_t)y * (size_t)w * 3, (size_t)w * 3);
    }
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
            for (int c = 0; c < 3; c++) {
                unsigned sum = 0;
                for (int dy = 0; dy < f; dy++)
                    for (int dx = 0; dx < f; dx++) sum += big[((size_t)(y * f + dy) * (size_t)W + (size_t)(x * f + dx)) * 3 + c];
                out[((size_t)y * (size_t)ow + (size_t)x) * 3 + c] = (uint8_t)((sum + (unsigned)(f * f) / 2) / (unsigned)(f * f));
            }
    free(big);
    teq_sbuf png = {0};
    int ok = stbi_write_png_to_func(png_sink, &png, ow, oh, 3, out, ow * 3);
    free(out);
    teq_status s;
    if (!ok || png.failed || !png.p)
        s = teq_error_set(err, TEQ_ERR_NOMEM, "%s: cannot encode the PNG", path);
    else
        s = write_atomic(path, png.p, png.len, err);
    teq_sbuf_free(&png);
    return s;
}

teq_status teq_dataset_write(const teq_ds_writer *w, teq_error *err) {
    if (!w->out_dir || !*w->out_dir) return teq_error_set(err, TEQ_ERR_ARG, "no output folder given (-o DIR)");
    teq_status s = make_dirs(w->out_dir, err);
    if (s) return s;
    char *p_in = join(w->out_dir, "inputs.npy"), *p_lab = join(w->out_dir, "labels.txt"),
         *p_js = join(w->out_dir, "dataset.json"), *p_png = join(w->out_dir, "preview.png");
    if (!p_in || !p_lab || !p_js || !p_png) s = teq_error_set(err, TEQ_ERR_NOMEM, "out of memory");
    if (!s) s = teq_npy_write(p_in, w->inputs, err);
    int64_t n = w->inputs->dims[0];
    if (!s && w->labels) {
        teq_sbuf b = {0};
        for (int64_t i = 0; i < n; i++) {
            teq_sbuf_append(&b, w->labels[i], strlen(w->labels[i]));
            teq_sbuf_append(&b, "\n", 1);
        }
        s = b.failed ? teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", p_lab) : write_atomic(p_lab, b.p, b.len, err);
        teq_sbuf_free(&b);
    } else if (!s) {
        remove(p_lab); /* a labels.txt left from an earlier data set would not match */
    }
    if (!s) {
        teq_sbuf b = {0};
        teq_sbuf_printf(&b, "{\n  \"kind\": ");
        teq_sbuf_json_string(&b, w->kind ? w->kind : "");
        teq_sbuf_printf(&b, ",\n  \"n\": %lld,\n  \"shape\": [", (long long)n);
        for (int d = 0; d < w->inputs->ndim; d++) teq_sbuf_printf(&b, "%s%lld", d ? ", " : "", (long long)w->inputs->dims[d]);
        teq_sbuf_printf(&b, "],\n  \"dtype\": \"float32\",\n  \"labels\": %s", w->labels ? "\"labels.txt\"" : "null");
        if (w->json_fields && *w->json_fields) teq_sbuf_printf(&b, ",\n  %s", w->json_fields);
        teq_sbuf_printf(&b, ",\n  \"generator\": \"teq %s\"\n}\n", TEQ_VERSION_STRING);
        s = b.failed ? teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", p_js) : write_atomic(p_js, b.p, b.len, err);
        teq_sbuf_free(&b);
    }
    if (!s && w->preview && w->n_preview > 0) s = write_preview(p_png, w->preview, w->n_preview, err);
    free(p_in), free(p_lab), free(p_js), free(p_png);
    return s;
}
