/* Data set generation internals: a seeded random stream, FreeType text rendering into RGB images,
 * words from a text, and the writer of a data set folder (inputs.npy, labels.txt, dataset.json,
 * preview.png). Images here are uint8 RGB, HWC, row-major, white = 255. */
#ifndef TEQ_DATA_H
#define TEQ_DATA_H

#include "../eval/eval.h"

/* ---- random numbers: splitmix64 (one stream per sample, so sample i never depends on N) ---- */
typedef struct teq_rng {
    uint64_t s;
} teq_rng;
/* The stream of sample `index` of a data set made with `seed`. */
teq_rng teq_rng_for(uint64_t seed, uint64_t index);
uint64_t teq_rng_next(teq_rng *r);
/* Uniform in [0, 1). */
double teq_rng_unit(teq_rng *r);
/* Uniform integer in [lo, hi] (inclusive). */
int teq_rng_int(teq_rng *r, int lo, int hi);

/* ---- an RGB image ---- */
typedef struct teq_image {
    int w, h;
    uint8_t *px; /* [h, w, 3] */
} teq_image;
teq_status teq_image_init(teq_image *im, int w, int h, const uint8_t bg[3], teq_error *err);
void teq_image_release(teq_image *im);

/* ---- fonts ---- */
typedef struct teq_font teq_font;
/* Refuses a missing or unreadable file, or one FreeType cannot read, with a one-line message. */
teq_status teq_font_open(const char *path, teq_font **out, teq_error *err);
void teq_font_close(teq_font *f);
const char *teq_font_path(const teq_font *f);
bool teq_font_has(teq_font *f, uint32_t cp);
/* Set the em size in pixels; *asc and *desc receive the ascender and descender extents (pixels, both
 * >= 0). */
teq_status teq_font_size(teq_font *f, int px, int *asc, int *desc, teq_error *err);
/* The em size (pixels) whose ascender + descender span is `span` pixels. */
int teq_font_px_for_span(teq_font *f, int span);
/* Advance width in pixels of cps drawn at the current size (glyphs the font lacks count 0). */
int teq_font_width(teq_font *f, const uint32_t *cps, size_t n);
/* Draw cps with the pen starting at (x, baseline), anti-aliased, colour ink over im. */
void teq_font_draw(teq_font *f, const uint32_t *cps, size_t n, teq_image *im, int x, int baseline, const uint8_t ink[3]);

/* ---- words of a text ---- */
typedef struct teq_words {
    uint32_t *cps;    /* all words' code points, each followed by a 0 */
    size_t *start;    /* n offsets into cps */
    size_t n;
} teq_words;
/* Read a UTF-8 text and split it at whitespace. Refuses a missing file, text that is not UTF-8, or a
 * text without words. */
teq_status teq_words_load(const char *path, teq_words *w, teq_error *err);
void teq_words_release(teq_words *w);

/* A line of consecutive words starting at a random word, kept while its width at the font's current
 * size fits max_width. Characters the font lacks, or missing from keys (when not NULL), are dropped;
 * words left empty are skipped; words join with one space. cps (capacity cap) receives the code
 * points, *n their count, *width the drawn width. Fails (TEQ_ERR_ARG) when no word fits anywhere. */
teq_status teq_pick_line(const teq_words *w, teq_font *f, const teq_keys *keys, teq_rng *r, int max_width,
                         uint32_t *cps, size_t cap, size_t *n, int *width, teq_error *err);

/* ---- writing a data set ---- */
typedef struct teq_ds_writer {
    const char *out_dir;
    const char *kind;            /* dataset.json "kind" */
    const teq_tensor *inputs;    /* [N, ...] float32 */
    char *const *labels;         /* N strings or NULL */
    const teq_image *preview;    /* the first samples, as pictures */
    int n_preview;
    const char *json_fields;     /* extra members of dataset.json, already JSON: "\"a\": 1, \"b\": 2" */
} teq_ds_writer;
/* Create out_dir (and its parents) when missing, then write every file atomically. */
teq_status teq_dataset_write(const teq_ds_writer *w, teq_error *err);

/* Append the JSON members ",\n  \"text\": ..., \"fonts\": [...], \"keys\": ..." naming a data set's sources
 * (keys only when not NULL). */
void teq_data_json_sources(teq_sbuf *b, const char *text, const char *const *fonts, int n_fonts, const char *keys);

/* teq_dataset_ocr_lines with a choice of padding: pad_white 0 is PP-OCR's (0 after normalisation, what
 * the public function does), 1 pads with white (1.0). */
teq_status teq_dataset_ocr_lines_padded(const teq_ocr_lines_opts *o, int pad_white, teq_error *err);

/* Up to this many samples go into preview.png. */
#define TEQ_PREVIEW_MAX 16

/* Open every font in paths (n >= 1), or fail naming the first bad one. */
teq_status teq_fonts_open(const char *const *paths, int n, teq_font ***out, teq_error *err);
void teq_fonts_close(teq_font **f, int n);

/* Render one text line (the PP-OCR recogniser's input): a random font size making the ascender +
 * descender span 32..36 pixels of a 48 high line (scaled with height), a small random left margin,
 * black on white, into im (width x height, white). The label (UTF-8, malloc'd) is what was drawn.
 * *used receives the width the text covers, right margin included. */
teq_status teq_render_line(const teq_words *w, teq_font *f, const teq_keys *keys, teq_rng *r, teq_image *im,
                           char **label, int *used, teq_error *err);

/* PP-OCR's padding of a line: columns from `used` on become 0 in chw ([3,h,w], normalised) and mid grey
 * (128, what 0 de-normalises to) in im, so the preview shows what the model gets. */
void teq_line_pad_zero(teq_image *im, float *chw, int used);

/* im (HWC RGB) into dst as CHW float with v = (x/255 - mean[c]) / std[c]. */
void teq_image_to_chw(const teq_image *im, float *dst, const float mean[3], const float std[3]);

#endif
