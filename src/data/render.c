/* Random streams, RGB images, FreeType text rendering, and words of a text. */
#include "data.h"
#include "../core/fileio.h"

#include <ft2build.h>
#include FT_FREETYPE_H

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- random numbers ---- */

uint64_t teq_rng_next(teq_rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

teq_rng teq_rng_for(uint64_t seed, uint64_t index) {
    teq_rng r = {seed};
    uint64_t a = teq_rng_next(&r);
    r.s = a ^ (index * 0xD1B54A32D192ED03ull + 0x8CB92BA72F3D8DD7ull);
    teq_rng_next(&r);
    return r;
}

double teq_rng_unit(teq_rng *r) { return (double)(teq_rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

int teq_rng_int(teq_rng *r, int lo, int hi) {
    if (hi <= lo) return lo;
    return lo + (int)(teq_rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* ---- images ---- */

teq_status teq_image_init(teq_image *im, int w, int h, const uint8_t bg[3], teq_error *err) {
    im->w = w;
    im->h = h;
    im->px = NULL;
    if (w <= 0 || h <= 0 || w > 16384 || h > 16384)
        return teq_error_set(err, TEQ_ERR_ARG, "image size %dx%d out of range (1..16384)", w, h);
    im->px = malloc((size_t)w * (size_t)h * 3);
    if (!im->px) return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory for a %dx%d image", w, h);
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) memcpy(im->px + 3 * i, bg, 3);
    return TEQ_OK;
}

void teq_image_release(teq_image *im) {
    free(im->px);
    im->px = NULL;
}

void teq_image_to_chw(const teq_image *im, float *dst, const float mean[3], const float std[3]) {
    size_t plane = (size_t)im->w * (size_t)im->h;
    for (int c = 0; c < 3; c++) {
        float m = mean[c], k = 1.0f / (255.0f * std[c]), mk = m / std[c];
        float *d = dst + (size_t)c * plane;
        for (size_t i = 0; i < plane; i++) d[i] = (float)im->px[3 * i + c] * k - mk;
    }
}

void teq_line_pad_zero(teq_image *im, float *chw, int used) {
    if (used < 0) used = 0;
    for (int y = 0; y < im->h; y++)
        for (int x = used; x < im->w; x++) {
            memset(im->px + ((size_t)y * (size_t)im->w + (size_t)x) * 3, 128, 3);
            for (int c = 0; c < 3; c++) chw[((size_t)c * (size_t)im->h + (size_t)y) * (size_t)im->w + (size_t)x] = 0.0f;
        }
}

/* ---- fonts ---- */

struct teq_font {
    FT_Library lib;
    FT_Face face;
    char *path;
};

teq_status teq_font_open(const char *path, teq_font **out, teq_error *err) {
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return teq_error_set(err, TEQ_ERR_IO, "%s: cannot open font: %s", path, strerror(errno));
    fclose(fp);
    teq_font *f = calloc(1, sizeof *f);
    if (!f || !(f->path = teq_strdup(path))) {
        free(f);
        return teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
    }
    if (FT_Init_FreeType(&f->lib) != 0) {
        free(f->path);
        free(f);
        return teq_error_set(err, TEQ_ERR_INTERNAL, "%s: FreeType did not start", path);
    }
    if (FT_New_Face(f->lib, path, 0, &f->face) != 0) {
        FT_Done_FreeType(f->lib);
        free(f->path);
        free(f);
        return teq_error_set(err, TEQ_ERR_FORMAT, "%s: not a font FreeType can read", path);
    }
    if (!FT_IS_SCALABLE(f->face) || f->face->ascender - f->face->descender <= 0) {
        teq_font_close(f);
        return teq_error_set(err, TEQ_ERR_UNSUPPORTED, "%s: not a scalable (outline) font", path);
    }
    *out = f;
    return TEQ_OK;
}

void teq_font_close(teq_font *f) {
    if (!f) return;
    FT_Done_Face(f->face);
    FT_Done_FreeType(f->lib);
    free(f->path);
    free(f);
}

const char *teq_font_path(const teq_font *f) { return f->path; }

bool teq_font_has(teq_font *f, uint32_t cp) { return cp == ' ' || FT_Get_Char_Index(f->face, cp) != 0; }

teq_status teq_font_size(teq_font *f, int px, int *asc, int *desc, teq_error *err) {
    if (px < 4 || px > 1000 || FT_Set_Pixel_Sizes(f->face, 0, (FT_UInt)px) != 0)
        return teq_error_set(err, TEQ_ERR_ARG, "%s: cannot set a size of %d pixels", f->path, px);
    const FT_Size_Metrics *m = &f->face->size->metrics;
    *asc = (int)((m->ascender + 63) / 64);
    *desc = (int)((-m->descender + 63) / 64);
    return TEQ_OK;
}

int teq_font_px_for_span(teq_font *f, int span) {
    double units = (double)(f->face->ascender - f->face->descender);
    int px = (int)lround(span * (double)f->face->units_per_EM / units);
    return px < 4 ? 4 : px;
}

/* Hinted advance of one glyph in 26.6 pixels; 0 for a glyph the font lacks. */
static FT_Pos advance_of(teq_font *f, uint32_t cp) {
    FT_UInt gi = FT_Get_Char_Index(f->face, cp);
    if (gi == 0 || FT_Load_Glyph(f->face, gi, FT_LOAD_DEFAULT) != 0) return 0;
    return f->face->glyph->advance.x;
}

int teq_font_width(teq_font *f, const uint32_t *cps, size_t n) {
    FT_Pos w = 0;
    for (size_t i = 0; i < n; i++) w += advance_of(f, cps[i]);
    return (int)((w + 63) / 64);
}

void teq_font_draw(teq_font *f, const uint32_t *cps, size_t n, teq_image *im, int x, int baseline, const uint8_t ink[3]) {
    FT_Pos pen = (FT_Pos)x * 64;
    for (size_t i = 0; i < n; i++) {
        FT_UInt gi = FT_Get_Char_Index(f->face, cps[i]);
        if (gi == 0) continue;
        if (FT_Load_Glyph(f->face, gi, FT_LOAD_RENDER | FT_LOAD_TARGET_NORMAL | FT_LOAD_NO_BITMAP) != 0) continue;
        FT_GlyphSlot g = f->face->glyph;
        const FT_Bitmap *bm = &g->bitmap;
        if (bm->pixel_mode == FT_PIXEL_MODE_GRAY) {
            int x0 = (int)(pen >> 6) + g->bitmap_left, y0 = baseline - g->bitmap_top;
            for (unsigned row = 0; row < bm->rows; row++) {
                int y = y0 + (int)row;
                if (y < 0 || y >= im->h) continue;
                const unsigned char *src = bm->buffer + (ptrdiff_t)row * bm->pitch;
                for (unsigned col = 0; col < bm->width; col++) {
                    int xx = x0 + (int)col;
                    unsigned a = src[col];
                    if (xx < 0 || xx >= im->w || a == 0) continue;
                    uint8_t *p = im->px + ((size_t)y * (size_t)im->w + (size_t)xx) * 3;
                    for (int c = 0; c < 3; c++) p[c] = (uint8_t)((p[c] * (255 - a) + ink[c] * a + 127) / 255);
                }
            }
        }
        pen += g->advance.x;
    }
}

teq_status teq_fonts_open(const char *const *paths, int n, teq_font ***out, teq_error *err) {
    *out = NULL;
    if (!paths || n < 1) return teq_error_set(err, TEQ_ERR_ARG, "no font given (--font FILE.ttf)");
    teq_font **f = calloc((size_t)n, sizeof *f);
    if (!f) return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        teq_status s = paths[i] ? teq_font_open(paths[i], &f[i], err)
                                : teq_error_set(err, TEQ_ERR_ARG, "font %d: no path given", i + 1);
        if (s) {
            teq_fonts_close(f, n);
            return s;
        }
    }
    *out = f;
    return TEQ_OK;
}

void teq_fonts_close(teq_font **f, int n) {
    if (!f) return;
    for (int i = 0; i < n; i++) teq_font_close(f[i]);
    free(f);
}

/* ---- words ---- */

/* Unicode white space (and control characters, which never make part of a word). */
static bool is_space(uint32_t c) {
    return c <= 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0x1680 || (c >= 0x2000 && c <= 0x200B) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

teq_status teq_words_load(const char *path, teq_words *w, teq_error *err) {
    memset(w, 0, sizeof *w);
    if (!path) return teq_error_set(err, TEQ_ERR_ARG, "no text given (--text FILE)");
    unsigned char *buf;
    size_t len;
    teq_status s = teq_file_read_all(path, (size_t)256 << 20, &buf, &len, err);
    if (s) return s;
    uint32_t *cps;
    size_t n, bad;
    s = teq_utf8_decode((const char *)buf, len, &cps, &n, &bad);
    free(buf);
    if (s == TEQ_ERR_NOMEM) return teq_error_set(err, s, "%s: out of memory", path);
    if (s) return teq_error_set(err, s, "%s: not UTF-8 text (invalid byte at offset %zu)", path, bad);
    /* Words in place: each followed by one 0. */
    size_t o = 0, nw = 0;
    bool in = false;
    for (size_t i = 0; i < n; i++) {
        if (is_space(cps[i])) {
            if (in) cps[o++] = 0, in = false;
        } else {
            if (!in) nw++, in = true;
            cps[o++] = cps[i];
        }
    }
    if (in) cps[o++] = 0;
    if (nw == 0) {
        free(cps);
        return teq_error_set(err, TEQ_ERR_ARG, "%s: the text holds no words", path);
    }
    w->start = malloc(nw * sizeof *w->start);
    if (!w->start) {
        free(cps);
        return teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
    }
    w->cps = cps;
    size_t k = 0;
    for (size_t i = 0; i < o; i++)
        if (i == 0 || cps[i - 1] == 0) w->start[k++] = i;
    w->n = nw;
    return TEQ_OK;
}

void teq_words_release(teq_words *w) {
    free(w->cps);
    free(w->start);
    memset(w, 0, sizeof *w);
}

teq_status teq_pick_line(const teq_words *w, teq_font *f, const teq_keys *keys, teq_rng *r, int max_width,
                         uint32_t *cps, size_t cap, size_t *n, int *width, teq_error *err) {
    *n = 0;
    *width = 0;
    int space = teq_font_width(f, (const uint32_t[]){' '}, 1);
    uint32_t word[256];
    /* Random starts first; then every start in order, so that a text with any word that fits succeeds. */
    size_t tries = w->n < 64 ? w->n : 64;
    for (size_t t = 0; t < tries + w->n; t++) {
        size_t i = t < tries ? (size_t)(teq_rng_next(r) % w->n) : t - tries;
        size_t len = 0;
        int wd = 0;
        for (; i < w->n; i++) {
            size_t wl = 0;
            bool too_long = false;
            for (const uint32_t *c = w->cps + w->start[i]; *c; c++) {
                if (!teq_font_has(f, *c) || (keys && !teq_keys_has(keys, *c))) continue;
                if (wl == sizeof word / sizeof *word) {
                    too_long = true;
                    break;
                }
                word[wl++] = *c;
            }
            if (wl == 0) continue;
            if (too_long) break;
            int ww = teq_font_width(f, word, wl);
            int nw = len ? wd + space + ww : ww;
            if (nw > max_width || len + wl + 1 > cap) break;
            if (len) cps[len++] = ' ';
            memcpy(cps + len, word, wl * sizeof *word);
            len += wl;
            wd = nw;
        }
        if (len) {
            *n = len;
            *width = wd;
            return TEQ_OK;
        }
    }
    return teq_error_set(err, TEQ_ERR_ARG, "%s: no word of the text fits in %d pixels at this size", teq_font_path(f),
                         max_width);
}

teq_status teq_render_line(const teq_words *w, teq_font *f, const teq_keys *keys, teq_rng *r, teq_image *im,
                           char **label, int *used, teq_error *err) {
    *label = NULL;
    int h = im->h;
    /* Ascender + descender span of 32..36 pixels in a 48-pixel line. */
    int span = (int)lround(h * (32.0 + 4.0 * teq_rng_unit(r)) / 48.0);
    int asc, desc;
    teq_status s = teq_font_size(f, teq_font_px_for_span(f, span), &asc, &desc, err);
    if (s) return s;
    int x0 = (int)lround(h * (2 + 8 * teq_rng_unit(r)) / 48.0), right = (h + 11) / 12;
    uint32_t cps[1024];
    size_t n;
    int width;
    s = teq_pick_line(w, f, keys, r, im->w - x0 - right, cps, sizeof cps / sizeof *cps, &n, &width, err);
    if (s) return s;
    int top = (h - asc - desc) / 2 + teq_rng_int(r, -2, 2) * h / 48;
    if (top + asc + desc > h) top = h - asc - desc;
    if (top < 0) top = 0;
    static const uint8_t black[3] = {0, 0, 0};
    teq_font_draw(f, cps, n, im, x0, top + asc, black);
    char *lab = malloc(n * 4 + 1);
    if (!lab) return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory");
    size_t o = 0;
    for (size_t i = 0; i < n; i++) o += (size_t)teq_utf8_encode(cps[i], lab + o);
    lab[o] = 0;
    *label = lab;
    *used = x0 + width + right;
    if (*used > im->w) *used = im->w;
    return TEQ_OK;
}
