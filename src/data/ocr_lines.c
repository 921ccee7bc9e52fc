/* teq_dataset_ocr_lines: text lines for the PP-OCR recogniser, with their ground truth. */
#include "data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void teq_data_json_sources(teq_sbuf *b, const char *text, const char *const *fonts, int n_fonts, const char *keys) {
    teq_sbuf_printf(b, ",\n  \"text\": ");
    if (text)
        teq_sbuf_json_string(b, text);
    else
        teq_sbuf_printf(b, "null");
    teq_sbuf_printf(b, ",\n  \"fonts\": [");
    for (int i = 0; i < n_fonts; i++) {
        if (i) teq_sbuf_printf(b, ", ");
        teq_sbuf_json_string(b, fonts[i]);
    }
    teq_sbuf_printf(b, "]");
    if (keys) {
        teq_sbuf_printf(b, ",\n  \"keys\": ");
        teq_sbuf_json_string(b, keys);
    }
}

teq_status teq_dataset_ocr_lines(const teq_ocr_lines_opts *o, teq_error *err) {
    return teq_dataset_ocr_lines_padded(o, 0, err);
}

teq_status teq_dataset_ocr_lines_padded(const teq_ocr_lines_opts *o, int pad_white, teq_error *err) {
    teq_error_clear(err);
    if (!o) return teq_error_set(err, TEQ_ERR_ARG, "ocr-lines: no options");
    int W = o->width ? o->width : 320, H = o->height ? o->height : 48;
    if (o->n < 1) return teq_error_set(err, TEQ_ERR_ARG, "ocr-lines: -n must be at least 1 (got %d)", o->n);
    if (H < 8 || H > 1024 || W < H || W > 16384)
        return teq_error_set(err, TEQ_ERR_ARG, "ocr-lines: size %dx%d out of range (height 8..1024, width height..16384)",
                             W, H);
    if (!o->out_dir || !*o->out_dir) return teq_error_set(err, TEQ_ERR_ARG, "ocr-lines: no output folder given (-o DIR)");
    teq_words words;
    teq_status s = teq_words_load(o->text_path, &words, err);
    if (s) return s;
    teq_font **fonts = NULL;
    teq_keys *keys = NULL;
    teq_tensor *inputs = NULL;
    char **labels = NULL;
    teq_image preview[TEQ_PREVIEW_MAX];
    int n_prev = 0;
    s = teq_fonts_open(o->font_paths, o->n_fonts, &fonts, err);
    if (!s && o->keys_path) s = teq_keys_load(o->keys_path, &keys, err);
    if (!s) s = teq_tensor_create(TEQ_DTYPE_FLOAT, 4, (const int64_t[]){o->n, 3, H, W}, &inputs, err);
    if (!s && !(labels = calloc((size_t)o->n, sizeof *labels)))
        s = teq_error_set(err, TEQ_ERR_NOMEM, "ocr-lines: out of memory");
    static const float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.5f, 0.5f, 0.5f};
    static const uint8_t white[3] = {255, 255, 255};
    for (int i = 0; !s && i < o->n; i++) {
        teq_rng r = teq_rng_for(o->seed, (uint64_t)i);
        teq_image im;
        s = teq_image_init(&im, W, H, white, err);
        int used;
        if (!s) s = teq_render_line(&words, fonts[i % o->n_fonts], keys, &r, &im, &labels[i], &used, err);
        float *dst = (float *)inputs->data + (size_t)i * 3 * (size_t)H * (size_t)W;
        if (!s) teq_image_to_chw(&im, dst, mean, std);
        if (!s && !pad_white) teq_line_pad_zero(&im, dst, used);
        if (!s && n_prev < TEQ_PREVIEW_MAX)
            preview[n_prev++] = im;
        else
            teq_image_release(&im);
    }
    if (!s) {
        teq_sbuf js = {0};
        teq_sbuf_printf(&js, "\"layout\": \"NCHW\",\n  \"normalisation\": \"(x/255 - 0.5) / 0.5, white = 1\",\n  "
                             "\"padding\": \"%s\",\n  \"height\": %d,\n  \"width\": %d,\n  \"seed\": %llu",
                        pad_white ? "white" : "zero (PP-OCR)", H, W, (unsigned long long)o->seed);
        teq_data_json_sources(&js, o->text_path, o->font_paths, o->n_fonts, o->keys_path);
        teq_ds_writer w = {o->out_dir, "ocr-lines", inputs, labels, preview, n_prev, js.p};
        s = js.failed ? teq_error_set(err, TEQ_ERR_NOMEM, "ocr-lines: out of memory") : teq_dataset_write(&w, err);
        teq_sbuf_free(&js);
    }
    for (int i = 0; i < n_prev; i++) teq_image_release(&preview[i]);
    if (labels)
        for (int i = 0; i < o->n; i++) free(labels[i]);
    free(labels);
    teq_tensor_free(inputs);
    teq_keys_free(keys);
    teq_fonts_close(fonts, o->n_fonts);
    teq_words_release(&words);
    return s;
}
