/* teq_dataset_synth: generated inputs for the orientation classifier, the text detector, BlazeFace and
 * M-LSD. Each sample has its own random stream (seed, index), so the first samples of a larger set are
 * the same as those of a smaller one. */
#include "data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846

typedef enum synth_kind { K_CLS, K_DET, K_FACE, K_MLSD } synth_kind;

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Blend colour c over pixel (x, y) with coverage a in [0, 1]. */
static void blend(teq_image *im, int x, int y, const double c[3], double a) {
    if (x < 0 || y < 0 || x >= im->w || y >= im->h || a <= 0) return;
    if (a > 1) a = 1;
    uint8_t *p = im->px + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
    for (int k = 0; k < 3; k++) p[k] = (uint8_t)lround(clampd(p[k] * (1 - a) + c[k] * a, 0, 255));
}

/* Filled ellipse centred (cx, cy), radii rx, ry, turned by angle (radians); anti-aliased edge. */
static void fill_ellipse(teq_image *im, double cx, double cy, double rx, double ry, double angle, const double c[3]) {
    double R = (rx > ry ? rx : ry) + 1.5, ca = cos(angle), sa = sin(angle), rmin = rx < ry ? rx : ry;
    for (int y = (int)floor(cy - R); y <= (int)ceil(cy + R); y++)
        for (int x = (int)floor(cx - R); x <= (int)ceil(cx + R); x++) {
            double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
            double u = dx * ca + dy * sa, v = -dx * sa + dy * ca;
            double d = sqrt((u / rx) * (u / rx) + (v / ry) * (v / ry));
            blend(im, x, y, c, clampd(0.5 - (d - 1) * rmin, 0, 1));
        }
}

/* Segment from (x0, y0) to (x1, y1), `thick` pixels wide, anti-aliased. */
static void draw_segment(teq_image *im, double x0, double y0, double x1, double y1, double thick, const double c[3]) {
    double r = thick / 2 + 1;
    int xa = (int)floor(fmin(x0, x1) - r), xb = (int)ceil(fmax(x0, x1) + r);
    int ya = (int)floor(fmin(y0, y1) - r), yb = (int)ceil(fmax(y0, y1) + r);
    double vx = x1 - x0, vy = y1 - y0, L2 = vx * vx + vy * vy;
    for (int y = ya; y <= yb; y++)
        for (int x = xa; x <= xb; x++) {
            double px = x + 0.5 - x0, py = y + 0.5 - y0;
            double t = L2 > 0 ? clampd((px * vx + py * vy) / L2, 0, 1) : 0;
            double ex = px - t * vx, ey = py - t * vy;
            blend(im, x, y, c, clampd(thick / 2 + 0.5 - sqrt(ex * ex + ey * ey), 0, 1));
        }
}

/* Rotate columns [0, used) of im by 180 degrees (the rest stays). */
static void rotate180(teq_image *im, int used) {
    int h = im->h;
    for (int y = 0; y < (h + 1) / 2; y++)
        for (int x = 0; x < used; x++) {
            int y2 = h - 1 - y, x2 = used - 1 - x;
            if (y == y2 && x >= x2) break; /* the middle row swaps each pair once */
            uint8_t *p = im->px + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
            uint8_t *q = im->px + ((size_t)y2 * (size_t)im->w + (size_t)x2) * 3;
            for (int c = 0; c < 3; c++) {
                uint8_t t = p[c];
                p[c] = q[c];
                q[c] = t;
            }
        }
}

/* A page of text lines at random places and sizes, dark ink on a light, slightly tinted page. */
static teq_status make_page(const teq_words *w, teq_font **fonts, int n_fonts, teq_rng *r, teq_image *im, teq_error *err) {
    int W = im->w, H = im->h;
    int g = teq_rng_int(r, 215, 255);
    uint8_t bg[3];
    for (int c = 0; c < 3; c++) bg[c] = (uint8_t)clampd(g + teq_rng_int(r, -12, 12), 0, 255);
    for (size_t i = 0; i < (size_t)W * (size_t)H; i++) memcpy(im->px + 3 * i, bg, 3);
    double scale = (W < H ? W : H) / 640.0;
    int n_lines = teq_rng_int(r, 4, 12), boxes[16][4], n_boxes = 0;
    uint32_t cps[512];
    for (int l = 0; l < n_lines; l++) {
        teq_font *f = fonts[teq_rng_int(r, 0, n_fonts - 1)];
        int span = (int)lround((14 + 46 * teq_rng_unit(r)) * scale);
        if (span < 8) span = 8;
        int asc, desc;
        teq_status s = teq_font_size(f, teq_font_px_for_span(f, span), &asc, &desc, err);
        if (s) return s;
        int maxw = (int)(W * (0.25 + 0.65 * teq_rng_unit(r)));
        size_t n;
        int width;
        teq_error e2;
        if (teq_pick_line(w, f, NULL, r, maxw, cps, sizeof cps / sizeof *cps, &n, &width, &e2) != TEQ_OK) continue;
        int hh = asc + desc;
        if (width >= W || hh >= H) continue;
        /* A free place: up to 20 tries, 6 pixels apart from the other lines. */
        for (int t = 0; t < 20; t++) {
            int x = teq_rng_int(r, 0, W - width - 1), y = teq_rng_int(r, 0, H - hh - 1);
            bool clash = false;
            for (int b = 0; b < n_boxes && !clash; b++)
                clash = x < boxes[b][2] + 6 && boxes[b][0] < x + width + 6 && y < boxes[b][3] + 6 && boxes[b][1] < y + hh + 6;
            if (clash) continue;
            uint8_t ink[3];
            int k = teq_rng_int(r, 0, 70);
            for (int c = 0; c < 3; c++) ink[c] = (uint8_t)clampd(k + teq_rng_int(r, -20, 20), 0, 255);
            teq_font_draw(f, cps, n, im, x, y + asc, ink);
            boxes[n_boxes][0] = x, boxes[n_boxes][1] = y, boxes[n_boxes][2] = x + width, boxes[n_boxes][3] = y + hh;
            n_boxes++;
            break;
        }
    }
    return TEQ_OK;
}

/* A smooth random background (a 5x5 grid of colours, bilinear) with 1 to 3 face-like figures: hair,
 * a skin-toned oval, eyes, brows, nose and mouth. */
static void make_faces(teq_rng *r, teq_image *im) {
    int W = im->w, H = im->h;
    double grid[5][5][3];
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
            for (int c = 0; c < 3; c++) grid[i][j][c] = 30 + 200 * teq_rng_unit(r);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double gy = (double)y / (H - 1) * 4, gx = (double)x / (W - 1) * 4;
            int iy = gy >= 4 ? 3 : (int)gy, ix = gx >= 4 ? 3 : (int)gx;
            double fy = gy - iy, fx = gx - ix;
            for (int c = 0; c < 3; c++) {
                double v = grid[iy][ix][c] * (1 - fx) * (1 - fy) + grid[iy][ix + 1][c] * fx * (1 - fy) +
                           grid[iy + 1][ix][c] * (1 - fx) * fy + grid[iy + 1][ix + 1][c] * fx * fy;
                im->px[((size_t)y * (size_t)W + (size_t)x) * 3 + c] = (uint8_t)lround(clampd(v, 0, 255));
            }
        }
    static const double skins[5][3] = {{241, 194, 167}, {224, 172, 130}, {198, 134, 94}, {141, 85, 54}, {95, 60, 40}};
    double s = (W < H ? W : H) / 128.0;
    int n = teq_rng_int(r, 1, 3);
    for (int f = 0; f < n; f++) {
        double ry = (n == 1 ? 18 + 22 * teq_rng_unit(r) : 10 + 16 * teq_rng_unit(r)) * s, rx = ry * 0.78;
        double cx = rx + (W - 2 * rx) * teq_rng_unit(r), cy = ry * 1.2 + (H - 2.2 * ry) * teq_rng_unit(r);
        double ang = (teq_rng_unit(r) - 0.5) * 0.5, ca = cos(ang), sa = sin(ang);
        const double *sk = skins[teq_rng_int(r, 0, 4)];
        double skin[3], hair[3], dark[3] = {30, 20, 20}, lip[3];
        double hk = 10 + 90 * teq_rng_unit(r);
        for (int c = 0; c < 3; c++) {
            skin[c] = clampd(sk[c] + (teq_rng_unit(r) - 0.5) * 20, 0, 255);
            hair[c] = hk * (c == 0 ? 1.0 : c == 1 ? 0.8 : 0.6);
            lip[c] = skin[c] * (c == 0 ? 0.75 : 0.5);
        }
        /* Points in the face's frame (u right, v down, in radii) to the image. */
#define FX(u, v) (cx + (u)*rx * ca - (v)*ry * sa)
#define FY(u, v) (cy + (u)*rx * sa + (v)*ry * ca)
        fill_ellipse(im, FX(0, -0.25), FY(0, -0.25), rx * 1.08, ry * 0.85, ang, hair);
        fill_ellipse(im, cx, cy, rx, ry, ang, skin);
        for (int e = -1; e <= 1; e += 2) {
            fill_ellipse(im, FX(0.38 * e, -0.12), FY(0.38 * e, -0.12), rx * 0.16, ry * 0.07, ang, (const double[]){240, 240, 240});
            fill_ellipse(im, FX(0.38 * e, -0.12), FY(0.38 * e, -0.12), rx * 0.08, ry * 0.065, ang, dark);
            fill_ellipse(im, FX(0.38 * e, -0.32), FY(0.38 * e, -0.32), rx * 0.2, ry * 0.035, ang, hair);
        }
        double nose[3] = {skin[0] * 0.8, skin[1] * 0.75, skin[2] * 0.75};
        fill_ellipse(im, FX(0, 0.18), FY(0, 0.18), rx * 0.1, ry * 0.06, ang, nose);
        fill_ellipse(im, FX(0, 0.48), FY(0, 0.48), rx * 0.32, ry * 0.06, ang, lip);
#undef FX
#undef FY
    }
}

/* Line drawings: random segments, outlined (possibly turned) rectangles and polylines, dark on a light
 * background. */
static void make_lines(teq_rng *r, teq_image *im) {
    int W = im->w, H = im->h;
    int g = teq_rng_int(r, 200, 255);
    uint8_t bg[3];
    for (int c = 0; c < 3; c++) bg[c] = (uint8_t)clampd(g + teq_rng_int(r, -8, 8), 0, 255);
    for (size_t i = 0; i < (size_t)W * (size_t)H; i++) memcpy(im->px + 3 * i, bg, 3);
    double s = (W < H ? W : H) / 320.0;
    int n_seg = teq_rng_int(r, 6, 16), n_rect = teq_rng_int(r, 1, 4), n_poly = teq_rng_int(r, 0, 2);
    for (int k = 0; k < n_seg + n_rect + n_poly; k++) {
        double col[3];
        int base = teq_rng_int(r, 0, 110);
        for (int c = 0; c < 3; c++) col[c] = clampd(base + teq_rng_int(r, -25, 25), 0, 255);
        double th = (1.2 + 2.8 * teq_rng_unit(r)) * s;
        if (k < n_seg) {
            double x0 = W * teq_rng_unit(r), y0 = H * teq_rng_unit(r);
            double len = (30 + 220 * teq_rng_unit(r)) * s, a = PI * teq_rng_unit(r);
            /* half the segments near horizontal or vertical, as in rooms and buildings */
            if (teq_rng_unit(r) < 0.5) a = (teq_rng_int(r, 0, 1) ? PI / 2 : 0) + (teq_rng_unit(r) - 0.5) * 0.1;
            draw_segment(im, x0, y0, x0 + len * cos(a), y0 + len * sin(a), th, col);
        } else if (k < n_seg + n_rect) {
            double cx = W * teq_rng_unit(r), cy = H * teq_rng_unit(r);
            double hw = (15 + 90 * teq_rng_unit(r)) * s, hh = (15 + 90 * teq_rng_unit(r)) * s;
            double a = teq_rng_unit(r) < 0.6 ? 0 : (teq_rng_unit(r) - 0.5) * PI / 2, ca = cos(a), sa = sin(a);
            double px[4], py[4];
            static const int sx[4] = {-1, 1, 1, -1}, sy[4] = {-1, -1, 1, 1};
            for (int q = 0; q < 4; q++) {
                px[q] = cx + sx[q] * hw * ca - sy[q] * hh * sa;
                py[q] = cy + sx[q] * hw * sa + sy[q] * hh * ca;
            }
            for (int q = 0; q < 4; q++) draw_segment(im, px[q], py[q], px[(q + 1) % 4], py[(q + 1) % 4], th, col);
        } else {
            double x = W * teq_rng_unit(r), y = H * teq_rng_unit(r);
            int m = teq_rng_int(r, 2, 5);
            for (int q = 0; q < m; q++) {
                double a = 2 * PI * teq_rng_unit(r), len = (25 + 80 * teq_rng_unit(r)) * s;
                double x2 = x + len * cos(a), y2 = y + len * sin(a);
                draw_segment(im, x, y, x2, y2, th, col);
                x = x2, y = y2;
            }
        }
    }
}

teq_status teq_dataset_synth(const teq_synth_opts *o, teq_error *err) {
    teq_error_clear(err);
    if (!o || !o->kind) return teq_error_set(err, TEQ_ERR_ARG, "synth: no kind given");
    synth_kind kind;
    int H, W;
    if (strcmp(o->kind, "ocr-cls") == 0)
        kind = K_CLS, H = 48, W = 192;
    else if (strcmp(o->kind, "ocr-det") == 0)
        kind = K_DET, H = 640, W = 640;
    else if (strcmp(o->kind, "blazeface") == 0)
        kind = K_FACE, H = 128, W = 128;
    else if (strcmp(o->kind, "mlsd") == 0)
        kind = K_MLSD, H = 320, W = 320;
    else
        return teq_error_set(err, TEQ_ERR_ARG, "synth: unknown kind '%s' (ocr-cls, ocr-det, blazeface, mlsd)", o->kind);
    if (o->height) H = o->height;
    if (o->width) W = o->width;
    if (o->n < 1) return teq_error_set(err, TEQ_ERR_ARG, "%s: -n must be at least 1 (got %d)", o->kind, o->n);
    if (H < 16 || W < 16 || H > 4096 || W > 4096 || (kind == K_CLS && W < H))
        return teq_error_set(err, TEQ_ERR_ARG, "%s: size %dx%d out of range (16..4096)", o->kind, W, H);
    if (!o->out_dir || !*o->out_dir) return teq_error_set(err, TEQ_ERR_ARG, "%s: no output folder given (-o DIR)", o->kind);
    bool text = kind == K_CLS || kind == K_DET;
    teq_words words = {0};
    teq_font **fonts = NULL;
    teq_tensor *inputs = NULL;
    char **labels = NULL;
    teq_image preview[TEQ_PREVIEW_MAX];
    int n_prev = 0;
    teq_status s = TEQ_OK;
    if (text) {
        s = teq_words_load(o->text_path, &words, err);
        if (!s) s = teq_fonts_open(o->font_paths, o->n_fonts, &fonts, err);
    }
    int64_t dims[4];
    if (kind == K_CLS || kind == K_DET)
        dims[0] = o->n, dims[1] = 3, dims[2] = H, dims[3] = W;
    else
        dims[0] = o->n, dims[1] = H, dims[2] = W, dims[3] = kind == K_MLSD ? 4 : 3;
    if (!s) s = teq_tensor_create(TEQ_DTYPE_FLOAT, 4, dims, &inputs, err);
    if (!s && kind == K_CLS && !(labels = calloc((size_t)o->n, sizeof *labels)))
        s = teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", o->kind);
    static const float half[3] = {0.5f, 0.5f, 0.5f};
    static const float in_mean[3] = {0.485f, 0.456f, 0.406f}, in_std[3] = {0.229f, 0.224f, 0.225f};
    static const uint8_t white[3] = {255, 255, 255};
    size_t per = (size_t)dims[1] * (size_t)dims[2] * (size_t)dims[3];
    for (int i = 0; !s && i < o->n; i++) {
        teq_rng r = teq_rng_for(o->seed, (uint64_t)i);
        teq_image im;
        s = teq_image_init(&im, W, H, white, err);
        if (s) break;
        float *dst = (float *)inputs->data + (size_t)i * per;
        switch (kind) {
        case K_CLS: {
            char *lab = NULL;
            int used;
            s = teq_render_line(&words, fonts[i % o->n_fonts], NULL, &r, &im, &lab, &used, err);
            free(lab);
            if (s) break;
            /* Half the lines upside down; the text stays at the left as a cropped, turned line would. */
            bool turned = i % 2 == 1;
            if (turned) rotate180(&im, used);
            labels[i] = teq_strdup(turned ? "180" : "0");
            if (!labels[i]) s = teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", o->kind);
            teq_image_to_chw(&im, dst, half, half);
            teq_line_pad_zero(&im, dst, used);
            break;
        }
        case K_DET:
            s = make_page(&words, fonts, o->n_fonts, &r, &im, err);
            if (!s) teq_image_to_chw(&im, dst, in_mean, in_std);
            break;
        case K_FACE:
            make_faces(&r, &im);
            for (size_t k = 0; k < (size_t)W * (size_t)H * 3; k++) dst[k] = im.px[k] / 127.5f - 1.0f;
            break;
        case K_MLSD:
            make_lines(&r, &im);
            for (size_t k = 0; k < (size_t)W * (size_t)H; k++) {
                for (int c = 0; c < 3; c++) dst[4 * k + c] = im.px[3 * k + c];
                dst[4 * k + 3] = 1.0f;
            }
            break;
        }
        if (!s && n_prev < TEQ_PREVIEW_MAX)
            preview[n_prev++] = im;
        else
            teq_image_release(&im);
    }
    if (!s) {
        static const char *norm[4] = {
            "\"layout\": \"NCHW\",\n  \"normalisation\": \"(x/255 - 0.5) / 0.5, white = 1\",\n  \"padding\": "
            "\"zero (PP-OCR)\"",
            "\"layout\": \"NCHW\",\n  \"normalisation\": \"(x/255 - mean) / std, RGB, mean [0.485, 0.456, 0.406], std "
            "[0.229, 0.224, 0.225]\"",
            "\"layout\": \"NHWC\",\n  \"normalisation\": \"x/127.5 - 1, RGB\"",
            "\"layout\": \"NHWC\",\n  \"normalisation\": \"none: RGB 0..255, then a channel of ones\""};
        teq_sbuf js = {0};
        teq_sbuf_printf(&js, "%s,\n  \"height\": %d,\n  \"width\": %d,\n  \"seed\": %llu", norm[kind], H, W,
                        (unsigned long long)o->seed);
        if (kind == K_CLS) teq_sbuf_printf(&js, ",\n  \"classes\": [\"0\", \"180\"]");
        if (text) teq_data_json_sources(&js, o->text_path, o->font_paths, o->n_fonts, NULL);
        teq_ds_writer w = {o->out_dir, o->kind, inputs, labels, preview, n_prev, js.p};
        s = js.failed ? teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", o->kind) : teq_dataset_write(&w, err);
        teq_sbuf_free(&js);
    }
    for (int i = 0; i < n_prev; i++) teq_image_release(&preview[i]);
    if (labels)
        for (int i = 0; i < o->n; i++) free(labels[i]);
    free(labels);
    teq_tensor_free(inputs);
    if (text) {
        teq_fonts_close(fonts, o->n_fonts);
        teq_words_release(&words);
    }
    return s;
}
