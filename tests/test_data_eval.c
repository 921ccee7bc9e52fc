/* Tests of generated data sets and evaluation: greedy CTC decoding on hand-made scores, edit distance
 * against a brute-force recursion (multibyte UTF-8 included), data set round trips and determinism,
 * every synthetic kind, IDX files (hand-made here, good and damaged), the loader's three input forms, refusals of bad inputs, and each suite's
 * measures on hand-made outputs. When cache/models holds PP-OCRv4 rec, a short real check runs too.
 * Prints `N passed, M failed`; exits non-zero on a failure. Random data comes from a fixed seed. */
#define _POSIX_C_SOURCE 200809L
#include "core/core.h"
#include "data/data.h"
#include "eval/eval.h"

#include <stb/stb_image.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"

#define FONT_DIR "/usr/share/fonts/truetype/dejavu/"
static const char *fonts[3] = {FONT_DIR "DejaVuSans.ttf", FONT_DIR "DejaVuSerif.ttf", FONT_DIR "DejaVuSansMono.ttf"};
static const char *text_path = "/usr/share/common-licenses/Apache-2.0";
static char dir[] = "/tmp/teq_test_data_eval.XXXXXX";

static void write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(p, 1, n, f);
    fclose(f);
}

static char *path_in(const char *name) {
    static char buf[8][600];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 600, "%s/%s", dir, name);
    return p;
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    b[*n] = 0;
    fclose(f);
    return b;
}

static uint64_t rng_state = 12345;
static uint32_t rnd(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

/* ---- CTC ---- */

/* Scores [T, C] with a 1 at each given class. */
static float *one_hot(const int *cls, int T, int C) {
    float *s = calloc((size_t)T * (size_t)C, sizeof *s);
    for (int t = 0; t < T; t++) s[t * C + cls[t]] = 1.0f;
    return s;
}

static void test_ctc(void) {
    /* keys: a, b, é, 中  ->  classes 1..4, space 5, C = 6 */
    const char *kt = "a\nb\n\xC3\xA9\n\xE4\xB8\xAD\n";
    write_file(path_in("keys.txt"), kt, strlen(kt));
    teq_keys *k = NULL;
    teq_error e;
    CHECK(teq_keys_load(path_in("keys.txt"), &k, &e) == TEQ_OK, "keys: %s", e.msg);
    if (!k) return;
    CHECK(k->n == 4 && k->n_single == 4, "keys count %lld", (long long)k->n);
    CHECK(teq_keys_has(k, 0xE9) && teq_keys_has(k, 0x4E2D) && teq_keys_has(k, ' ') && !teq_keys_has(k, 'c'), "has");
    struct {
        int cls[10];
        int T;
        const char *want;
    } cases[] = {
        {{1, 1, 0, 1, 2, 2, 5, 3}, 8, "aab \xC3\xA9"},     /* repeats collapse, a blank splits them */
        {{0, 0, 0, 0}, 4, ""},                             /* all blank */
        {{0, 4, 4, 0, 0, 4, 5, 5, 0}, 9, "\xE4\xB8\xAD\xE4\xB8\xAD "}, /* multibyte, space index */
        {{2, 0, 2, 2, 0, 0, 1}, 7, "bba"},
        {{5, 1, 5}, 3, " a "},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        float *s = one_hot(cases[c].cls, cases[c].T, 6);
        char *out = NULL;
        CHECK(teq_ctc_greedy_decode(s, cases[c].T, 6, k, &out, &e) == TEQ_OK && out && strcmp(out, cases[c].want) == 0,
              "ctc case %zu: got '%s' want '%s'", c, out ? out : "(null)", cases[c].want);
        free(out);
        free(s);
    }
    /* The argmax takes the largest score, not the first non-zero one. */
    float soft[2 * 6] = {0.1f, 0.2f, 0.6f, 0.05f, 0.05f, 0, 0.5f, 0.4f, 0.1f, 0, 0, 0};
    char *out = NULL;
    CHECK(teq_ctc_greedy_decode(soft, 2, 6, k, &out, &e) == TEQ_OK && out && strcmp(out, "b") == 0, "soft scores: '%s'",
          out ? out : "");
    free(out);
    out = NULL;
    CHECK(teq_ctc_greedy_decode(soft, 2, 7, k, &out, &e) == TEQ_ERR_SHAPE && strstr(e.msg, "7 classes"),
          "class count mismatch not refused: %s", e.msg);
    teq_keys_free(k);
    /* A key list without a final newline has as many entries; an empty file is refused. */
    write_file(path_in("keys2.txt"), "x\ny", 3);
    CHECK(teq_keys_load(path_in("keys2.txt"), &k, &e) == TEQ_OK && k->n == 2, "keys without final newline");
    teq_keys_free(k);
    write_file(path_in("keys3.txt"), "", 0);
    CHECK(teq_keys_load(path_in("keys3.txt"), &k, &e) == TEQ_ERR_FORMAT, "empty key list accepted");
}

/* ---- edit distance ---- */

static int64_t lev_brute(const uint32_t *a, size_t na, const uint32_t *b, size_t nb) {
    if (na == 0) return (int64_t)nb;
    if (nb == 0) return (int64_t)na;
    int64_t sub = lev_brute(a + 1, na - 1, b + 1, nb - 1) + (a[0] != b[0]);
    int64_t del = lev_brute(a + 1, na - 1, b, nb) + 1, ins = lev_brute(a, na, b + 1, nb - 1) + 1;
    int64_t m = sub < del ? sub : del;
    return m < ins ? m : ins;
}

static void test_levenshtein(void) {
    static const uint32_t alpha[5] = {'a', 'b', 0xE9, 0x4E2D, 0x1F600};
    int bad = 0;
    for (int it = 0; it < 400; it++) {
        uint32_t a[7], b[7];
        size_t na = rnd() % 7, nb = rnd() % 7;
        for (size_t i = 0; i < na; i++) a[i] = alpha[rnd() % 5];
        for (size_t i = 0; i < nb; i++) b[i] = alpha[rnd() % 5];
        int64_t want = lev_brute(a, na, b, nb);
        char sa[40], sb[40];
        size_t la = 0, lb = 0;
        for (size_t i = 0; i < na; i++) la += (size_t)teq_utf8_encode(a[i], sa + la);
        for (size_t i = 0; i < nb; i++) lb += (size_t)teq_utf8_encode(b[i], sb + lb);
        sa[la] = sb[lb] = 0;
        if (teq_levenshtein(a, na, b, nb) != want || teq_levenshtein_utf8(sa, sb) != want) bad++;
    }
    CHECK(bad == 0, "levenshtein differs from brute force in %d of 400 cases", bad);
    CHECK(teq_levenshtein_utf8("kitten", "sitting") == 3, "kitten/sitting");
    CHECK(teq_levenshtein_utf8("\xE4\xB8\xAD", "") == 1, "one multibyte character is one edit");
    /* UTF-8 decoding refuses what is not UTF-8. */
    static const char *invalid[] = {"\xC0\x80", "\xED\xA0\x80", "\xE4\xB8", "\xF8\x88\x80\x80\x80", "a\x80"};
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        uint32_t *c = NULL;
        size_t n;
        CHECK(teq_utf8_decode(invalid[i], strlen(invalid[i]), &c, &n, NULL) == TEQ_ERR_FORMAT, "invalid UTF-8 %zu accepted", i);
        free(c);
    }
    CHECK(teq_levenshtein_utf8("\xC0\x80", "a") == -1, "levenshtein on invalid UTF-8");
}

/* ---- data sets ---- */

static teq_status make_lines(const char *out, int n, uint64_t seed, const char *keys, teq_error *e) {
    teq_ocr_lines_opts o = {.text_path = text_path, .font_paths = fonts, .n_fonts = 3, .n = n, .seed = seed,
                            .keys_path = keys, .out_dir = out};
    return teq_dataset_ocr_lines(&o, e);
}

static void test_roundtrip(void) {
    teq_error e;
    const char *keys = path_in("keys_ascii.txt");
    /* printable ASCII without the space, as a stand-in for the PP-OCR list */
    char kt[300];
    size_t kl = 0;
    for (int c = 33; c < 127; c++) kt[kl++] = (char)c, kt[kl++] = '\n';
    write_file(keys, kt, kl);
    const char *out = path_in("lines/sub"); /* parents are created */
    CHECK(make_lines(out, 8, 7, keys, &e) == TEQ_OK, "ocr-lines: %s", e.msg);
    teq_dataset *d = NULL;
    CHECK(teq_dataset_load(out, &d, &e) == TEQ_OK, "load: %s", e.msg);
    if (!d) return;
    const teq_tensor *t = d->inputs;
    CHECK(t->ndim == 4 && t->dims[0] == 8 && t->dims[1] == 3 && t->dims[2] == 48 && t->dims[3] == 320 && d->n == 8,
          "shape");
    CHECK(strcmp(d->kind, "ocr-lines") == 0, "kind '%s'", d->kind);
    const float *x = t->data;
    int64_t n = teq_tensor_numel(t), out_of_range = 0, white = 0, dark = 0, pad = 0;
    for (int64_t i = 0; i < n; i++) {
        out_of_range += !(x[i] >= -1.0f && x[i] <= 1.0f);
        white += x[i] == 1.0f;
        pad += x[i] == 0.0f;
        dark += x[i] < -0.5f;
    }
    CHECK(out_of_range == 0, "%lld values outside [-1, 1]", (long long)out_of_range);
    CHECK(white > n / 4 && white + pad > n / 2 && dark > n / 100, "black text on white: %lld white, %lld dark of %lld",
          (long long)white, (long long)dark, (long long)n);
    /* The three channels are the same grey. */
    int64_t plane = 48 * 320, diff = 0;
    for (int64_t i = 0; i < plane; i++) diff += x[i] != x[plane + i] || x[i] != x[2 * plane + i];
    CHECK(diff == 0, "channels differ");
    /* The right edge is PP-OCR's padding, 0; each row is white, then ink and white, then 0 to the end. */
    int64_t edge = 0, order = 0;
    for (int64_t s = 0; s < 8; s++)
        for (int y = 0; y < 48; y++) {
            const float *row = x + s * 3 * plane + y * 320;
            edge += row[319] != 0.0f;
            order += row[0] != 1.0f;
            int k = 319;
            while (k > 0 && row[k] == 0.0f) k--;
            order += row[k] != 1.0f; /* the white margin right of the text */
        }
    CHECK(edge == 0 && order == 0, "padding: %lld rows not ending in 0, %lld not white before it", (long long)edge,
          (long long)order);
    CHECK(d->labels != NULL, "labels missing");
    for (int64_t i = 0; d->labels && i < 8; i++) {
        const char *l = d->labels[i];
        bool ok = *l && l[0] != ' ' && l[strlen(l) - 1] != ' ' && !strstr(l, "  ");
        for (const char *p = l; *p; p++) ok = ok && *p >= 32 && *p < 127; /* in the key list */
        CHECK(ok, "label %lld '%s'", (long long)i, l);
    }
    teq_dataset_free(d);
    int w = 0, h = 0, comp = 0;
    char png[700];
    snprintf(png, sizeof png, "%s/preview.png", out);
    CHECK(stbi_info(png, &w, &h, &comp) && w >= 320 && h >= 48 * 4, "preview.png %dx%d", w, h);
    size_t jn;
    char js[700];
    snprintf(js, sizeof js, "%s/dataset.json", out);
    unsigned char *j = slurp(js, &jn);
    CHECK(j && strstr((char *)j, "\"n\": 8") && strstr((char *)j, "\"shape\": [8, 3, 48, 320]") &&
              strstr((char *)j, "\"seed\": 7"),
          "dataset.json: %s", j ? (char *)j : "(missing)");
    free(j);

    /* Determinism: the same seed gives the same bytes; another seed does not; the first samples of a
     * larger set are the same. */
    const char *a = path_in("det_a"), *b = path_in("det_b"), *c = path_in("det_c"), *big = path_in("det_big");
    CHECK(make_lines(a, 6, 99, NULL, &e) == TEQ_OK && make_lines(b, 6, 99, NULL, &e) == TEQ_OK &&
              make_lines(c, 6, 100, NULL, &e) == TEQ_OK && make_lines(big, 12, 99, NULL, &e) == TEQ_OK,
          "generate: %s", e.msg);
    char pa[700], pb[700], pc[700];
    snprintf(pa, sizeof pa, "%s/inputs.npy", a);
    snprintf(pb, sizeof pb, "%s/inputs.npy", b);
    snprintf(pc, sizeof pc, "%s/inputs.npy", c);
    size_t na, nb, nc;
    unsigned char *ba = slurp(pa, &na), *bb = slurp(pb, &nb), *bc = slurp(pc, &nc);
    CHECK(ba && bb && na == nb && memcmp(ba, bb, na) == 0, "same seed, different inputs.npy");
    CHECK(ba && bc && na == nc && memcmp(ba, bc, na) != 0, "different seeds, same inputs.npy");
    free(ba), free(bb), free(bc);
    teq_dataset *da = NULL, *db = NULL;
    if (teq_dataset_load(a, &da, &e) == TEQ_OK && teq_dataset_load(big, &db, &e) == TEQ_OK) {
        bool same = memcmp(da->inputs->data, db->inputs->data, teq_tensor_numel(da->inputs) * sizeof(float)) == 0;
        for (int i = 0; i < 6; i++) same = same && strcmp(da->labels[i], db->labels[i]) == 0;
        CHECK(same, "the first 6 samples of 12 differ from a set of 6");
    } else {
        CHECK(0, "load: %s", e.msg);
    }
    teq_dataset_free(da);
    teq_dataset_free(db);
    /* pad_white: the same lines on white to the edge. */
    teq_ocr_lines_opts ow = {.text_path = text_path, .font_paths = fonts, .n_fonts = 3, .n = 6, .seed = 99,
                             .out_dir = path_in("white")};
    CHECK(teq_dataset_ocr_lines_padded(&ow, 1, &e) == TEQ_OK, "pad_white: %s", e.msg);
    if (teq_dataset_load(path_in("white"), &da, &e) == TEQ_OK && teq_dataset_load(a, &db, &e) == TEQ_OK) {
        int64_t n6 = teq_tensor_numel(da->inputs), edge = 0, same = 0;
        const float *w = da->inputs->data, *z = db->inputs->data;
        for (int64_t i = 0; i < n6; i++) {
            edge += i % 320 == 319 && w[i] != 1.0f;
            same += w[i] == z[i] || (z[i] == 0.0f && w[i] == 1.0f);
        }
        CHECK(edge == 0 && same == n6, "pad_white: %lld edge pixels not white, %lld of %lld differ beyond the padding",
              (long long)edge, (long long)(n6 - same), (long long)n6);
    } else {
        CHECK(0, "load: %s", e.msg);
    }
    teq_dataset_free(da);
    teq_dataset_free(db);
}

static void test_synth(void) {
    teq_error e;
    const char *kinds[4] = {"ocr-cls", "ocr-det", "blazeface", "mlsd"};
    const int64_t shapes[4][4] = {{4, 3, 48, 192}, {4, 3, 96, 128}, {4, 128, 128, 3}, {4, 64, 64, 4}};
    for (int k = 0; k < 4; k++) {
        char out[600];
        snprintf(out, sizeof out, "%s/synth_%s", dir, kinds[k]);
        teq_synth_opts o = {kinds[k], text_path, fonts, 3, 4, 3, 0, 0, out};
        if (k == 1) o.height = 96, o.width = 128;
        if (k == 3) o.height = 64, o.width = 64;
        CHECK(teq_dataset_synth(&o, &e) == TEQ_OK, "%s: %s", kinds[k], e.msg);
        teq_dataset *d = NULL;
        if (teq_dataset_load(out, &d, &e) != TEQ_OK) {
            CHECK(0, "%s load: %s", kinds[k], e.msg);
            continue;
        }
        CHECK(d->inputs->ndim == 4 && memcmp(d->inputs->dims, shapes[k], sizeof shapes[k]) == 0, "%s shape", kinds[k]);
        CHECK(strcmp(d->kind, kinds[k]) == 0, "%s kind '%s'", kinds[k], d->kind);
        const float *x = d->inputs->data;
        int64_t n = teq_tensor_numel(d->inputs), bad = 0;
        float lo = k == 0 || k == 2 ? -1.0f : k == 1 ? -2.2f : 0.0f, hi = k == 0 || k == 2 ? 1.0f : k == 1 ? 2.7f : 255.0f;
        for (int64_t i = 0; i < n; i++) bad += !(x[i] >= lo && x[i] <= hi);
        CHECK(bad == 0, "%s: %lld values outside [%g, %g]", kinds[k], (long long)bad, lo, hi);
        if (k == 0) {
            CHECK(d->labels && strcmp(d->labels[0], "0") == 0 && strcmp(d->labels[1], "180") == 0, "cls labels");
        } else {
            CHECK(d->labels == NULL, "%s has labels", kinds[k]);
        }
        if (k == 3) {
            int64_t ones = 0;
            for (int64_t i = 3; i < n; i += 4) ones += x[i] == 1.0f;
            CHECK(ones == n / 4, "mlsd: the 4th channel is not all ones");
        }
        teq_dataset_free(d);
    }
    teq_synth_opts o = {"nope", NULL, NULL, 0, 1, 0, 0, 0, path_in("x")};
    CHECK(teq_dataset_synth(&o, &e) == TEQ_ERR_ARG && strstr(e.msg, "nope"), "unknown kind: %s", e.msg);
}

static void test_bad_inputs(void) {
    teq_error e;
    const char *missing_font[1] = {"/nonexistent/NoFont.ttf"};
    teq_ocr_lines_opts o = {.text_path = text_path, .font_paths = missing_font, .n_fonts = 1, .n = 4, .seed = 1,
                            .out_dir = path_in("bad1")};
    CHECK(teq_dataset_ocr_lines(&o, &e) == TEQ_ERR_IO && strstr(e.msg, "/nonexistent/NoFont.ttf"), "missing font: %s",
          e.msg);
    o.font_paths = fonts;
    o.n_fonts = 1;
    o.text_path = "/nonexistent/text.txt";
    CHECK(teq_dataset_ocr_lines(&o, &e) == TEQ_ERR_IO && strstr(e.msg, "/nonexistent/text.txt"), "missing text: %s",
          e.msg);
    write_file(path_in("latin1.txt"), "caf\xE9 au lait", 12);
    o.text_path = path_in("latin1.txt");
    CHECK(teq_dataset_ocr_lines(&o, &e) == TEQ_ERR_FORMAT && strstr(e.msg, "latin1.txt"), "not UTF-8: %s", e.msg);
    write_file(path_in("blank.txt"), " \n\t\n", 4);
    o.text_path = path_in("blank.txt");
    CHECK(teq_dataset_ocr_lines(&o, &e) == TEQ_ERR_ARG && strstr(e.msg, "no words"), "no words: %s", e.msg);
    const char *not_font[1] = {text_path};
    o.text_path = text_path;
    o.font_paths = not_font;
    CHECK(teq_dataset_ocr_lines(&o, &e) == TEQ_ERR_FORMAT && strstr(e.msg, text_path), "text as font: %s", e.msg);
    o.font_paths = fonts;
    o.n = 0;
    CHECK(teq_dataset_ocr_lines(&o, &e) == TEQ_ERR_ARG, "n = 0 accepted");
    o.n = 2;
    write_file(path_in("afile"), "x", 1);
    o.out_dir = path_in("afile/sub");
    CHECK(teq_dataset_ocr_lines(&o, &e) == TEQ_ERR_IO && strstr(e.msg, "afile"), "output under a file: %s", e.msg);
    /* Lines narrower than any word: refused, not an endless loop. */
    o.out_dir = path_in("bad2");
    o.width = 48;
    write_file(path_in("long.txt"), "incomprehensibilities", 21);
    o.text_path = path_in("long.txt");
    CHECK(teq_dataset_ocr_lines(&o, &e) == TEQ_ERR_ARG && strstr(e.msg, "fits"), "no word fits: %s", e.msg);
    teq_dataset *d = NULL;
    CHECK(teq_dataset_load("/nonexistent/data", &d, &e) == TEQ_ERR_IO && strstr(e.msg, "/nonexistent/data"),
          "load missing: %s", e.msg);
}

/* ---- IDX files (teq dataset idx) ---- */

/* An IDX file of unsigned bytes: the magic {0, 0, type, ndim}, big-endian dims, then the data; gzip'd
 * through zlib when gz. */
static void write_idx(const char *path, int gz, int type, int ndim, const uint32_t *dims, const unsigned char *data,
                      size_t n) {
    unsigned char hdr[16] = {0, 0, (unsigned char)type, (unsigned char)ndim};
    for (int d = 0; d < ndim; d++)
        for (int k = 0; k < 4; k++) hdr[4 + 4 * d + k] = (unsigned char)(dims[d] >> (24 - 8 * k));
    if (gz) {
        gzFile g = gzopen(path, "wb");
        if (!g) return;
        gzwrite(g, hdr, 4 + 4 * (unsigned)ndim);
        if (n) gzwrite(g, data, (unsigned)n);
        gzclose(g);
    } else {
        FILE *f = fopen(path, "wb");
        if (!f) return;
        fwrite(hdr, 1, 4 + 4 * (size_t)ndim, f);
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

static void test_idx(void) {
    teq_error e;
    /* 5 images of 2x3: image i holds bytes 50*i + k (k = 0..5), label i is 9 - i */
    unsigned char px[30], lab[5] = {9, 8, 7, 6, 5};
    for (int i = 0; i < 30; i++) px[i] = (unsigned char)(50 * (i / 6) + i % 6);
    uint32_t di[3] = {5, 2, 3}, dl[1] = {5};
    /* path_in's buffers are reused: the paths kept in the options are copies */
    char *p_img = teq_strdup(path_in("img.gz")), *p_lab = teq_strdup(path_in("lab.gz")),
         *p_raw = teq_strdup(path_in("img.raw")), *p_out = teq_strdup(path_in("idx1")), *p_bad = teq_strdup(path_in("idx_bad"));
    write_idx(p_img, 1, 8, 3, di, px, 30);
    write_idx(p_lab, 1, 8, 1, dl, lab, 5);
    write_idx(p_raw, 0, 8, 3, di, px, 30);
    teq_idx_opts o = {p_img, p_lab, 0.25, 0.5, 2, 1, p_out};
    CHECK(teq_dataset_idx(&o, &e) == TEQ_OK, "idx: %s", e.msg);
    teq_dataset *d = NULL;
    CHECK(teq_dataset_load(path_in("idx1"), &d, &e) == TEQ_OK, "idx load: %s", e.msg);
    if (d) {
        const teq_tensor *t = d->inputs;
        CHECK(t->ndim == 4 && t->dims[0] == 2 && t->dims[1] == 1 && t->dims[2] == 2 && t->dims[3] == 3, "idx shape");
        /* image 1, pixel 4 = byte 54; image 2, pixel 0 = byte 100 */
        const float *x = t->data;
        CHECK(fabsf(x[4] - (float)((54 / 255.0 - 0.25) / 0.5)) < 1e-6f &&
                  fabsf(x[6] - (float)((100 / 255.0 - 0.25) / 0.5)) < 1e-6f,
              "idx values %g %g", x[4], x[6]);
        CHECK(d->labels && strcmp(d->labels[0], "8") == 0 && strcmp(d->labels[1], "7") == 0 && strcmp(d->kind, "idx") == 0,
              "idx labels/kind");
        teq_dataset_free(d);
    }
    /* plain (not gzip'd) files, all images from the offset on */
    o.images_path = p_raw;
    o.n = 0, o.offset = 3, o.out_dir = path_in("idx2");
    d = NULL;
    CHECK(teq_dataset_idx(&o, &e) == TEQ_OK && teq_dataset_load(path_in("idx2"), &d, &e) == TEQ_OK && d->n == 2 &&
              strcmp(d->labels[1], "5") == 0,
          "idx plain: %s", e.msg);
    teq_dataset_free(d);
    /* images only: no labels.txt */
    o.labels_path = NULL, o.out_dir = path_in("idx3");
    d = NULL;
    CHECK(teq_dataset_idx(&o, &e) == TEQ_OK && teq_dataset_load(path_in("idx3"), &d, &e) == TEQ_OK && !d->labels,
          "idx images only: %s", e.msg);
    teq_dataset_free(d);
    o.labels_path = p_lab;

    /* refusals: each names the file and writes nothing */
    struct {
        const char *name, *want;
        int b0, type, ndim;
        uint32_t dims[3];
        size_t n;
        int as_labels;
    } bad[] = {
        {"bad_magic", "magic", 1, 8, 3, {5, 2, 3}, 30, 0},
        {"bad_type", "type", 0, 0x0B, 3, {5, 2, 3}, 30, 0},
        {"bad_ndim", "dimension", 0, 8, 2, {5, 6}, 30, 0},
        {"short", "truncated", 0, 8, 3, {5, 2, 3}, 29, 0},
        {"long", "trailing", 0, 8, 3, {4, 2, 3}, 30, 0},
        {"zero", "0 images", 0, 8, 3, {0, 2, 3}, 0, 0},
        {"side", "side", 0, 8, 3, {5, 5000, 3}, 30, 0},
        {"lab_ndim", "dimension", 0, 8, 2, {5, 1}, 5, 1},
        {"lab_count", "4 labels", 0, 8, 1, {4}, 4, 1},
        {"lab_short", "truncated", 0, 8, 1, {5}, 3, 1},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char *p = path_in(bad[k].name);
        write_idx(p, (int)(k % 2), bad[k].type, bad[k].ndim, bad[k].dims, px, bad[k].n);
        if (bad[k].b0) write_file(p, "\x08\x00", 2); /* magic not starting with two zero bytes */
        teq_idx_opts b = o;
        b.n = 0, b.offset = 0, b.out_dir = p_bad;
        if (bad[k].as_labels) b.labels_path = p;
        else b.images_path = p;
        teq_status s = teq_dataset_idx(&b, &e);
        struct stat st;
        CHECK(s == TEQ_ERR_FORMAT && strstr(e.msg, bad[k].name) && strstr(e.msg, bad[k].want) &&
                  stat(p_bad, &st) != 0,
              "idx %s: status %d, %s", bad[k].name, s, e.msg);
    }
    /* a gzip stream cut short */
    size_t gn;
    unsigned char *g = slurp(p_img, &gn);
    if (g) write_file(path_in("cut.gz"), g, gn - 12);
    free(g);
    teq_idx_opts c = o;
    char *p_cut = teq_strdup(path_in("cut.gz"));
    c.images_path = p_cut, c.n = 0, c.offset = 0, c.out_dir = p_bad;
    CHECK(teq_dataset_idx(&c, &e) == TEQ_ERR_FORMAT && strstr(e.msg, "cut.gz"), "idx cut gzip: %s", e.msg);
    /* offset and n against the count; mean and std */
    c = o, c.out_dir = p_bad;
    c.offset = 5, c.n = 0;
    CHECK(teq_dataset_idx(&c, &e) == TEQ_ERR_ARG && strstr(e.msg, "offset"), "idx offset: %s", e.msg);
    c.offset = 1, c.n = 5;
    CHECK(teq_dataset_idx(&c, &e) == TEQ_ERR_ARG && strstr(e.msg, "-n 5"), "idx n: %s", e.msg);
    c.offset = 0, c.n = 0, c.std = 0;
    CHECK(teq_dataset_idx(&c, &e) == TEQ_ERR_ARG && strstr(e.msg, "std"), "idx std: %s", e.msg);
    c.std = 1, c.images_path = "/nonexistent/no_such.gz";
    CHECK(teq_dataset_idx(&c, &e) == TEQ_ERR_IO && strstr(e.msg, "no_such.gz"), "idx missing: %s", e.msg);
    struct stat st;
    CHECK(stat(p_bad, &st) != 0, "idx: a refused conversion created its output folder");
    free(p_img), free(p_lab), free(p_raw), free(p_out), free(p_bad), free(p_cut);
}

/* ---- loading .npy inputs ---- */

static void test_load_forms(void) {
    teq_error e;
    teq_tensor *t = NULL;
    int64_t dims[3] = {1, 2, 3};
    teq_tensor_create(TEQ_DTYPE_FLOAT, 3, dims, &t, &e);
    mkdir(path_in("npys"), 0755);
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 6; k++) ((float *)t->data)[k] = (float)(10 * i + k);
        char p[700];
        snprintf(p, sizeof p, "%s/npys/s%d.npy", dir, 2 - i); /* name order is the reverse of i */
        /* with a batch axis of 1 in two files, without in one */
        t->ndim = i == 1 ? 2 : 3;
        if (i == 1) t->dims[0] = 2, t->dims[1] = 3;
        else t->dims[0] = 1, t->dims[1] = 2, t->dims[2] = 3;
        teq_npy_write(p, t, &e);
    }
    teq_dataset *d = NULL;
    CHECK(teq_dataset_load(path_in("npys"), &d, &e) == TEQ_OK, "npy folder: %s", e.msg);
    if (d) {
        const float *x = d->inputs->data;
        CHECK(d->n == 3 && d->inputs->ndim == 3 && d->inputs->dims[1] == 2 && d->inputs->dims[2] == 3, "folder shape");
        CHECK(x[0] == 20 && x[6] == 10 && x[12] == 0 && x[17] == 5, "folder order by name");
        CHECK(d->labels == NULL && d->kind[0] == 0, "no labels");
        teq_dataset_free(d);
    }
    /* One .npy with the batch first, float64 converted. */
    teq_tensor *t2 = NULL;
    int64_t d2[2] = {4, 5};
    teq_tensor_create(TEQ_DTYPE_DOUBLE, 2, d2, &t2, &e);
    for (int k = 0; k < 20; k++) ((double *)t2->data)[k] = k * 0.5;
    teq_npy_write(path_in("batch.npy"), t2, &e);
    CHECK(teq_dataset_load(path_in("batch.npy"), &d, &e) == TEQ_OK && d->n == 4 && d->inputs->dtype == TEQ_DTYPE_FLOAT &&
              ((float *)d->inputs->data)[19] == 9.5f,
          "single npy: %s", e.msg);
    teq_dataset_free(d);
    /* A sample of another shape is refused, naming the file. */
    t->ndim = 2, t->dims[0] = 3, t->dims[1] = 2;
    teq_npy_write(path_in("npys/z.npy"), t, &e);
    CHECK(teq_dataset_load(path_in("npys"), &d, &e) == TEQ_ERR_SHAPE && strstr(e.msg, "z.npy"), "shape mismatch: %s",
          e.msg);
    /* labels.txt with the wrong number of lines. */
    mkdir(path_in("ds_bad"), 0755);
    teq_npy_write(path_in("ds_bad/inputs.npy"), t2, &e);
    write_file(path_in("ds_bad/labels.txt"), "a\nb\nc\n", 6);
    CHECK(teq_dataset_load(path_in("ds_bad"), &d, &e) == TEQ_ERR_FORMAT && strstr(e.msg, "3 lines"), "labels count: %s",
          e.msg);
    write_file(path_in("ds_bad/labels.txt"), "a\nb\r\n\nd", 7); /* no final newline, an empty label, CRLF */
    CHECK(teq_dataset_load(path_in("ds_bad"), &d, &e) == TEQ_OK && strcmp(d->labels[1], "b") == 0 &&
              d->labels[2][0] == 0 && strcmp(d->labels[3], "d") == 0,
          "labels parse: %s", e.msg);
    teq_dataset_free(d);
    teq_tensor_free(t);
    teq_tensor_free(t2);
}

/* ---- suites on hand-made outputs ---- */

/* A fake model: the batch holds sample indices ([B,1]); outputs come from a table per sample. */
typedef struct fake {
    int n_out;
    int ndim[4];
    int64_t dims[4][4]; /* per-sample dims (without the batch) */
    const float *table[4]; /* [N, per-sample numel] */
    const float *base;  /* ds->inputs->data, to find the sample index */
} fake;

static teq_status fake_run(void *user, const teq_tensor *batch, teq_tensor **outputs, teq_error *err) {
    fake *f = user;
    int64_t b = batch->dims[0], first = ((const float *)batch->data - f->base) / (b ? teq_tensor_numel(batch) / b : 1);
    for (int j = 0; j < f->n_out; j++) {
        int64_t d[5] = {b}, per = 1;
        for (int k = 0; k < f->ndim[j]; k++) d[k + 1] = f->dims[j][k], per *= f->dims[j][k];
        teq_status s = teq_tensor_create(TEQ_DTYPE_FLOAT, f->ndim[j] + 1, d, &outputs[j], err);
        if (s) return s;
        memcpy(outputs[j]->data, f->table[j] + first * per, (size_t)(b * per) * sizeof(float));
    }
    return TEQ_OK;
}

static teq_dataset *fake_ds(int64_t n, char **labels) {
    teq_dataset *d = calloc(1, sizeof *d);
    int64_t dims[2] = {n, 1};
    teq_tensor_create(TEQ_DTYPE_FLOAT, 2, dims, &d->inputs, NULL);
    d->n = n;
    d->labels = labels;
    return d;
}

static void test_suites(void) {
    teq_error e;
    teq_eval_result r;
    /* ocr-rec: keys a, b, é, 中 (C = 6). Three lines: right, one substitution, and right but for spaces
     * at the ends (trimmed). */
    enum { T = 6, C = 6 };
    static const int seq[3][T] = {{1, 0, 2, 5, 3, 0}, {1, 1, 0, 1, 4, 0}, {5, 2, 2, 0, 3, 5}};
    static const int refseq[3][T] = {{1, 0, 2, 5, 3, 0}, {1, 0, 1, 0, 4, 0}, {5, 2, 0, 2, 3, 5}};
    float *sc = calloc(3 * T * C, sizeof *sc), *rs = calloc(3 * T * C, sizeof *rs);
    for (int i = 0; i < 3; i++)
        for (int t = 0; t < T; t++) sc[(i * T + t) * C + seq[i][t]] = 1, rs[(i * T + t) * C + refseq[i][t]] = 1;
    char **labels = malloc(3 * sizeof *labels);
    labels[0] = teq_strdup("ab \xC3\xA9");       /* decoded: "ab é"   exact */
    labels[1] = teq_strdup("aab");               /* decoded: "aa中"   1 substitution */
    labels[2] = teq_strdup("b\xC3\xA9");         /* decoded: " bé "   exact after trim */
    teq_dataset *d = fake_ds(3, labels);
    fake f = {1, {2}, {{T, C}}, {sc}, d->inputs->data};
    fake g = {1, {2}, {{T, C}}, {rs}, d->inputs->data};
    CHECK(teq_eval_suite("ocr-rec", d, 0, 2, fake_run, &f, 1, fake_run, &g, path_in("keys.txt"), &r, &e) == TEQ_OK,
          "ocr-rec: %s", e.msg);
    /* 2 of 3 exact; 1 edit over 4 + 3 + 2 = 9 characters; the reference decodes "ab é", "aa中", " bbé ":
     * lines 0 and 1 agree */
    CHECK(r.n == 3 && fabs(teq_eval_metric(&r, "line_accuracy") - 200.0 / 3) < 1e-9 &&
              fabs(teq_eval_metric(&r, "cer") - 100.0 / 9) < 1e-9 && fabs(teq_eval_metric(&r, "agreement") - 200.0 / 3) < 1e-9,
          "ocr-rec metrics: acc %g cer %g agree %g", teq_eval_metric(&r, "line_accuracy"), teq_eval_metric(&r, "cer"),
          teq_eval_metric(&r, "agreement"));
    CHECK(strcmp(r.primary, "line_accuracy") == 0 && strcmp(r.suite, "ocr-rec") == 0, "primary");
    /* limit */
    CHECK(teq_eval_suite("ocr-rec", d, 1, 8, fake_run, &f, 1, NULL, NULL, path_in("keys.txt"), &r, &e) == TEQ_OK &&
              r.n == 1 && teq_eval_metric(&r, "line_accuracy") == 100 && isnan(teq_eval_metric(&r, "agreement")),
          "limit 1");
    CHECK(teq_eval_suite("ocr-rec", d, 0, 8, fake_run, &f, 1, NULL, NULL, NULL, &r, &e) == TEQ_ERR_ARG, "no keys");
    /* JSON */
    CHECK(teq_eval_suite("ocr-rec", d, 0, 2, fake_run, &f, 1, NULL, NULL, path_in("keys.txt"), &r, &e) == TEQ_OK &&
              teq_eval_write_json(path_in("eval.json"), &r, &e) == TEQ_OK,
          "json: %s", e.msg);
    size_t jn;
    unsigned char *j = slurp(path_in("eval.json"), &jn);
    CHECK(j && strstr((char *)j, "\"suite\": \"ocr-rec\"") && strstr((char *)j, "\"n\": 3") &&
              strstr((char *)j, "\"line_accuracy\": 66.6666666") && strstr((char *)j, "\"cer\": 11.1111111"),
          "eval.json: %s", j ? (char *)j : "(missing)");
    free(j);
    teq_dataset_free(d);
    free(sc), free(rs);

    /* ocr-cls: 4 samples, labels 0 180 0 180; predictions 0 180 180 180; reference 0 180 180 0. */
    char **cl = malloc(4 * sizeof *cl);
    cl[0] = teq_strdup("0"), cl[1] = teq_strdup("180"), cl[2] = teq_strdup("0"), cl[3] = teq_strdup("180");
    d = fake_ds(4, cl);
    float cp[8] = {0.9f, 0.1f, 0.2f, 0.8f, 0.4f, 0.6f, 0.3f, 0.7f}, cr[8] = {0.9f, 0.1f, 0.2f, 0.8f, 0.4f, 0.6f, 0.7f, 0.3f};
    fake fc = {1, {1}, {{2}}, {cp}, d->inputs->data}, gc = {1, {1}, {{2}}, {cr}, d->inputs->data};
    CHECK(teq_eval_suite("ocr-cls", d, 0, 3, fake_run, &fc, 1, fake_run, &gc, NULL, &r, &e) == TEQ_OK &&
              teq_eval_metric(&r, "accuracy") == 75 && teq_eval_metric(&r, "agreement") == 75,
          "ocr-cls: %s acc %g agree %g", e.msg, teq_eval_metric(&r, "accuracy"), teq_eval_metric(&r, "agreement"));
    /* fidelity over the same outputs: class scores, top-1 agreement 3 of 4 */
    CHECK(teq_eval_suite("fidelity", d, 0, 3, fake_run, &fc, 1, fake_run, &gc, NULL, &r, &e) == TEQ_OK &&
              teq_eval_metric(&r, "fidelity") == 75 && teq_eval_metric(&r, "out0_top1") == 75 && r.units == 4,
          "fidelity top1: %g", teq_eval_metric(&r, "fidelity"));
    CHECK(teq_eval_suite("fidelity", d, 0, 3, fake_run, &fc, 1, NULL, NULL, NULL, &r, &e) == TEQ_ERR_ARG,
          "fidelity without a reference accepted");
    free(cl[2]);
    cl[2] = teq_strdup("90");
    CHECK(teq_eval_suite("ocr-cls", d, 0, 3, fake_run, &fc, 1, NULL, NULL, NULL, &r, &e) == TEQ_ERR_FORMAT &&
              strstr(e.msg, "90"),
          "bad cls label: %s", e.msg);
    teq_dataset_free(d);

    /* classify: 5 samples, 3 classes, labels 2 0 1 1 0. Model top-1: 2 0 2 1 1 (3 right: 60 %); reference
     * top-1: 2 1 2 1 0 (agreement on samples 0, 2, 3: 60 %). */
    char **kl = malloc(5 * sizeof *kl);
    kl[0] = teq_strdup("2"), kl[1] = teq_strdup("0"), kl[2] = teq_strdup("1"), kl[3] = teq_strdup("1"),
    kl[4] = teq_strdup("0");
    d = fake_ds(5, kl);
    float km[15] = {0, 1, 3, 5, -1, 2, 0.1f, 0.2f, 0.3f, -2, 4, 1, 0.1f, 0.7f, 0.2f};
    float kr[15] = {0, 1, 3, 1, 5, 2, 0.1f, 0.2f, 0.3f, -2, 4, 1, 0.9f, 0.7f, 0.2f};
    fake fk = {1, {1}, {{3}}, {km}, d->inputs->data}, gk = {1, {1}, {{3}}, {kr}, d->inputs->data};
    CHECK(teq_eval_suite("classify", d, 0, 2, fake_run, &fk, 1, fake_run, &gk, NULL, &r, &e) == TEQ_OK &&
              fabs(teq_eval_metric(&r, "accuracy") - 60) < 1e-9 && fabs(teq_eval_metric(&r, "agreement") - 60) < 1e-9 &&
              strcmp(r.primary, "accuracy") == 0 && r.n == 5,
          "classify: %s acc %g agree %g", e.msg, teq_eval_metric(&r, "accuracy"), teq_eval_metric(&r, "agreement"));
    /* teq_eval_suite_floor, batch 1: samples right 1 1 0 1 0, so the best reachable accuracy after 1..4
     * samples is 100 100 80 80. Floor 85: gives up after sample 3 (2 of 3 right); floor 80 and NaN: never
     * (80 is still reachable, and the last sample ends the run anyway). */
    int64_t at = -1;
    CHECK(teq_eval_suite_floor("classify", d, 0, 1, fake_run, &fk, 1, NULL, NULL, NULL, 85, &at, &r, &e) == TEQ_OK && at == 3 &&
              r.n == 3 && fabs(teq_eval_metric(&r, "accuracy") - 200.0 / 3) < 1e-9,
          "classify floor 85: stopped at %lld, n %lld, accuracy %g", (long long)at, (long long)r.n, teq_eval_metric(&r, "accuracy"));
    CHECK(teq_eval_suite_floor("classify", d, 0, 1, fake_run, &fk, 1, NULL, NULL, NULL, 80, &at, &r, &e) == TEQ_OK && at == 0 &&
              r.n == 5 && fabs(teq_eval_metric(&r, "accuracy") - 60) < 1e-9,
          "classify floor 80: stopped at %lld, n %lld", (long long)at, (long long)r.n);
    CHECK(teq_eval_suite_floor("classify", d, 0, 1, fake_run, &fk, 1, NULL, NULL, NULL, NAN, &at, &r, &e) == TEQ_OK && at == 0 &&
              r.n == 5,
          "classify floor NaN: stopped at %lld", (long long)at);
    /* scores shaped [N,1,3] count as 3 classes; limit 2 -> both right */
    fake fk3 = {1, {2}, {{1, 3}}, {km}, d->inputs->data};
    CHECK(teq_eval_suite("classify", d, 2, 8, fake_run, &fk3, 1, NULL, NULL, NULL, &r, &e) == TEQ_OK &&
              teq_eval_metric(&r, "accuracy") == 100 && isnan(teq_eval_metric(&r, "agreement")) && r.n == 2,
          "classify [N,1,3]: %s", e.msg);
    /* labels out of range or not integers are refused, naming the label */
    free(kl[3]);
    kl[3] = teq_strdup("3");
    CHECK(teq_eval_suite("classify", d, 0, 2, fake_run, &fk, 1, NULL, NULL, NULL, &r, &e) == TEQ_ERR_FORMAT &&
              strstr(e.msg, "label 4") && strstr(e.msg, "0..2"),
          "classify label 3 of 3 classes: %s", e.msg);
    free(kl[3]);
    kl[3] = teq_strdup(" 1");
    CHECK(teq_eval_suite("classify", d, 0, 2, fake_run, &fk, 1, NULL, NULL, NULL, &r, &e) == TEQ_ERR_FORMAT,
          "classify label ' 1' accepted");
    /* one score per sample is no classifier */
    fake f1 = {1, {1}, {{1}}, {km}, d->inputs->data};
    CHECK(teq_eval_suite("classify", d, 0, 2, fake_run, &f1, 1, NULL, NULL, NULL, &r, &e) == TEQ_ERR_SHAPE,
          "classify one class accepted");
    /* without labels: agreement is the primary; with neither labels nor a reference: refused */
    teq_dataset *du = fake_ds(5, NULL);
    fake fu = {1, {1}, {{3}}, {km}, du->inputs->data}, gu = {1, {1}, {{3}}, {kr}, du->inputs->data};
    CHECK(teq_eval_suite("classify", du, 0, 2, fake_run, &fu, 1, fake_run, &gu, NULL, &r, &e) == TEQ_OK &&
              strcmp(r.primary, "agreement") == 0 && isnan(teq_eval_metric(&r, "accuracy")),
          "classify without labels: %s", e.msg);
    CHECK(teq_eval_suite("classify", du, 0, 2, fake_run, &fu, 1, NULL, NULL, NULL, &r, &e) == TEQ_ERR_ARG,
          "classify with neither labels nor reference accepted");
    teq_dataset_free(du);
    teq_dataset_free(d);

    /* fidelity, relative L2: y = ref + noise with ||noise|| / ||ref|| = 0.1 -> 90. Output [1,3]? rank 2 counts
     * as class scores, so use [1,2,2] maps (rank 3, rows do not sum to 1). */
    d = fake_ds(2, NULL);
    float y[8] = {3, 4, 0, 0, 0, 0, 0, 0}, z[8] = {3, 4, 0, 0, 0, 0, 0, 0};
    y[0] += 0.3f, y[1] += 0.4f; /* ||d|| = 0.5, ||ref|| = 5 */
    fake fy = {1, {2}, {{2, 2}}, {y}, d->inputs->data}, fz = {1, {2}, {{2, 2}}, {z}, d->inputs->data};
    CHECK(teq_eval_suite("fidelity", d, 0, 1, fake_run, &fy, 1, fake_run, &fz, NULL, &r, &e) == TEQ_OK &&
              fabs(teq_eval_metric(&r, "out0_l2") - 90) < 1e-4 && fabs(teq_eval_metric(&r, "fidelity") - 90) < 1e-4 &&
              r.units == 0,
          "fidelity l2: %g", teq_eval_metric(&r, "out0_l2"));

    /* ocr-det: maps of 4 pixels, two samples. model > 0.3 at {0,1},{4}; reference at {1,2},{4,5}:
     * intersection 2, union 5 -> 40 %. */
    float dm[8] = {0.5f, 0.9f, 0.1f, 0, 0.8f, 0.2f, 0, 0}, dr[8] = {0.1f, 0.9f, 0.5f, 0, 0.8f, 0.4f, 0, 0};
    fake fd = {1, {3}, {{1, 2, 2}}, {dm}, d->inputs->data}, gd = {1, {3}, {{1, 2, 2}}, {dr}, d->inputs->data};
    CHECK(teq_eval_suite("ocr-det", d, 0, 2, fake_run, &fd, 1, fake_run, &gd, NULL, &r, &e) == TEQ_OK &&
              fabs(teq_eval_metric(&r, "iou") - 40) < 1e-9 && fabs(teq_eval_metric(&r, "mae") - 1.0 / 8) < 1e-6,
          "ocr-det: iou %g mae %g", teq_eval_metric(&r, "iou"), teq_eval_metric(&r, "mae"));

    /* blazeface on a 16 x 16 image batch [1,16,16,3]; one score output of 8 anchors = a 2x2 grid with 2
     * per cell (row, column, anchor: anchor 2 sits in row 0, column 1, centre (12, 4); anchor 4 in row 1,
     * column 0, centre (4, 12)). Boxes are (dx, dy, w, h) in pixels from the anchor centre.
     * model: anchors 0, 4, 5 confident; 4 and 5 decode to the same box (12,4) 4x4 (5 is suppressed by
     * NMS), 0 to (4,4) 4x4. reference: anchor 2 alone, decoding to (12,4) 4x4.
     * faces: model 2, reference 1, matched 1 -> face_f1 2/3. anchors: {0,4,5} against {2} -> anchor_f1 0;
     * box_mae over anchor 2: |0 - (0,0,4,4)| -> 8/16; score_mae (2 + 4 + 3 + 1.5) / 8. */
    int64_t img_dims[4] = {1, 16, 16, 3};
    teq_dataset *di = calloc(1, sizeof *di);
    teq_tensor_create(TEQ_DTYPE_FLOAT, 4, img_dims, &di->inputs, NULL);
    di->n = 1;
    float fs[8] = {1, -1, -1, -1, 2, 0.5f, -1, -1}, frs[8] = {-1, -1, 3, -1, -1, -1, -1, -1}, fb[128] = {0}, frb[128] = {0};
    const float box4[4] = {0, 0, 4, 4}, far4[4] = {8, -8, 4, 4};
    memcpy(fb + 0 * 16, box4, sizeof box4), memcpy(fb + 4 * 16, far4, sizeof far4), memcpy(fb + 5 * 16, far4, sizeof far4);
    memcpy(frb + 2 * 16, box4, sizeof box4);
    fake ff = {2, {2, 2}, {{8, 1}, {8, 16}}, {fs, fb}, di->inputs->data};
    fake gf = {2, {2, 2}, {{8, 1}, {8, 16}}, {frs, frb}, di->inputs->data};
    CHECK(teq_eval_suite("blazeface", di, 1, 1, fake_run, &ff, 2, fake_run, &gf, NULL, &r, &e) == TEQ_OK &&
              fabs(teq_eval_metric(&r, "face_f1") - 200.0 / 3) < 1e-9 && !strcmp(r.primary, "face_f1") && r.units == 1 &&
              fabs(teq_eval_metric(&r, "anchor_f1") - 0) < 1e-9 && fabs(teq_eval_metric(&r, "box_mae") - 0.5) < 1e-9 &&
              fabs(teq_eval_metric(&r, "score_mae") - 10.5 / 8) < 1e-9,
          "blazeface: %s face %g anchor %g box %g score %g", e.msg, teq_eval_metric(&r, "face_f1"),
          teq_eval_metric(&r, "anchor_f1"), teq_eval_metric(&r, "box_mae"), teq_eval_metric(&r, "score_mae"));
    /* anchors that fit no square grid of 2 or 6 per cell are refused, not decoded at a guess */
    fake f3 = {2, {2, 2}, {{3, 1}, {3, 16}}, {fs, fb}, di->inputs->data};
    CHECK(teq_eval_suite("blazeface", di, 1, 1, fake_run, &f3, 2, fake_run, &f3, NULL, &r, &e) == TEQ_ERR_SHAPE,
          "3 anchors decoded");

    /* ocr-det boxes on 12 x 12 maps, two samples ([1,12,12] each).
     * sample 0: reference regions A rows 1-4 cols 1-4 (0.9), B rows 7-10 cols 6-10 (0.9), C rows 7-10
     *   cols 0-3 at 0.5 (mean under 0.6: dropped); model A' rows 1-4 cols 2-5 (IoU 12/20: a match) and a
     *   2x2 region (extent 1 < 3: dropped). reference 2 boxes, model 1, matched 1.
     * sample 1: reference blocks rows 0-3 cols 0-3 and rows 4-7 cols 4-7 touch at a corner: one
     *   8-connected region, box 8x8; model blocks rows 0-3 cols 0-3 and rows 5-8 cols 5-8: two boxes, IoU
     *   with 8x8 at most 0.25. reference 1, model 2, matched 0.
     * box_f1 = 2 * 1 / (3 + 3). */
    float bm[288] = {0}, br[288] = {0};
#define FILL(m, smp, r0, r1, c0, c1, v)                                                                            \
    for (int yy = r0; yy <= r1; yy++)                                                                              \
        for (int xx = c0; xx <= c1; xx++) (m)[(smp) * 144 + yy * 12 + xx] = v
    FILL(br, 0, 1, 4, 1, 4, 0.9f);
    FILL(br, 0, 7, 10, 6, 10, 0.9f);
    FILL(br, 0, 7, 10, 0, 3, 0.5f);
    FILL(bm, 0, 1, 4, 2, 5, 0.9f);
    FILL(bm, 0, 10, 11, 0, 1, 0.9f);
    FILL(br, 1, 0, 3, 0, 3, 0.9f);
    FILL(br, 1, 4, 7, 4, 7, 0.9f);
    FILL(bm, 1, 0, 3, 0, 3, 0.9f);
    FILL(bm, 1, 5, 8, 5, 8, 0.9f);
#undef FILL
    fake fdb = {1, {3}, {{1, 12, 12}}, {bm}, d->inputs->data}, gdb = {1, {3}, {{1, 12, 12}}, {br}, d->inputs->data};
    CHECK(teq_eval_suite("ocr-det", d, 0, 2, fake_run, &fdb, 1, fake_run, &gdb, NULL, &r, &e) == TEQ_OK &&
              fabs(teq_eval_metric(&r, "box_f1") - 100.0 / 3) < 1e-9 && !strcmp(r.primary, "box_f1") && r.units == 3,
          "ocr-det boxes: %s box_f1 %g units %lld", e.msg, teq_eval_metric(&r, "box_f1"), (long long)r.units);

    /* mlsd segments on 64 x 64 maps (x2 to sAP's 128 frame). reference: a peak at (y 10, x 10) with
     * offsets (-12,0,12,0), a 24-pixel segment; a peak at (30,30) with a 10-pixel segment (under 20:
     * dropped); a peak at (40,20) with a vertical 24-pixel segment. model: the first segment drawn the
     * other way with one endpoint 0.5 pixel off (distance 1 on the 128 frame: a match), a 28-pixel
     * segment at (50,50) the reference lacks, and the third segment with a peak of 0.05 (under the
     * F1's 0.1, above sAP's floor of 0.01).
     * line_f1 = 2 * 1 / (2 + 2); peak_f1 = 2 * 1 / (2 + 3);
     * sAP ranks 0.7 hit, 0.6 miss, 0.05 hit: precisions 1, 1/2 -> 2/3, 2/3 over 2 lines: (1 + 2/3) / 2.
     * map_f1: the model draws x 0..23 of row 10 (24 pixels, all within 1 of the reference's x 0..22) and
     * the 21-pixel diagonal (40,40)-(60,60) (none near); the reference draws its 23 and the 25-pixel
     * column x 20, rows 28..52 (none near): P = 24/45, R = 23/48. */
    float *ls = calloc(64 * 64 * 10, sizeof *ls), *lr = ls + 64 * 64, *lo = lr + 64 * 64, *lro = lo + 64 * 64 * 4;
    lr[10 * 64 + 10] = 0.9f, lr[30 * 64 + 30] = 0.8f, lr[40 * 64 + 20] = 0.5f;
    ls[10 * 64 + 10] = 0.7f, ls[50 * 64 + 50] = 0.6f, ls[40 * 64 + 20] = 0.05f;
    const float ro1[4] = {-12, 0, 12, 0}, ro2[4] = {0, -5, 0, 5}, mo1[4] = {12.5f, 0, -12, 0}, mo2[4] = {-10, -10, 10, 10};
    const float v3[4] = {0, -12, 0, 12};
    memcpy(lro + (10 * 64 + 10) * 4, ro1, sizeof ro1), memcpy(lro + (30 * 64 + 30) * 4, ro2, sizeof ro2);
    memcpy(lo + (10 * 64 + 10) * 4, mo1, sizeof mo1), memcpy(lo + (50 * 64 + 50) * 4, mo2, sizeof mo2);
    memcpy(lro + (40 * 64 + 20) * 4, v3, sizeof v3), memcpy(lo + (40 * 64 + 20) * 4, v3, sizeof v3);
    fake fl = {2, {3, 3}, {{64, 64, 1}, {64, 64, 4}}, {ls, lo}, d->inputs->data};
    fake gl = {2, {3, 3}, {{64, 64, 1}, {64, 64, 4}}, {lr, lro}, d->inputs->data};
    CHECK(teq_eval_suite("mlsd", d, 1, 1, fake_run, &fl, 2, fake_run, &gl, NULL, &r, &e) == TEQ_OK &&
              fabs(teq_eval_metric(&r, "sap10") - 250.0 / 3) < 1e-9 && !strcmp(r.primary, "sap10") && r.units == 2 &&
              fabs(teq_eval_metric(&r, "line_f1") - 50) < 1e-9 && fabs(teq_eval_metric(&r, "peak_f1") - 40) < 1e-9 &&
              fabs(teq_eval_metric(&r, "map_f1") - 200.0 * (24.0 / 45) * (23.0 / 48) / (24.0 / 45 + 23.0 / 48)) < 1e-9,
          "mlsd lines: %s sap10 %g line_f1 %g peak_f1 %g map_f1 %g", e.msg, teq_eval_metric(&r, "sap10"),
          teq_eval_metric(&r, "line_f1"), teq_eval_metric(&r, "peak_f1"), teq_eval_metric(&r, "map_f1"));
    free(ls);
    teq_dataset_free(di);

    /* mlsd: 6x6 maps. Reference peaks at (1,1) and (4,4); model peaks at (1,2) (1 px away) and (3,0)
     * (unmatched): F1 = 2*1/(2+2) = 50. */
    float ms[36] = {0}, mr[36] = {0}, mo[144] = {0}, mro[144] = {0};
    mr[1 * 6 + 1] = 0.9f, mr[4 * 6 + 4] = 0.8f, mr[0] = 0.05f; /* 0.05 is under the threshold */
    ms[1 * 6 + 2] = 0.7f, ms[3 * 6 + 0] = 0.6f;
    for (int c = 0; c < 4; c++) mro[(1 * 6 + 1) * 4 + c] = 2; /* offsets differ by 2 at one reference peak */
    fake fm = {2, {3, 3}, {{6, 6, 1}, {6, 6, 4}}, {ms, mo}, d->inputs->data};
    fake gm = {2, {3, 3}, {{6, 6, 1}, {6, 6, 4}}, {mr, mro}, d->inputs->data};
    CHECK(teq_eval_suite("mlsd", d, 1, 1, fake_run, &fm, 2, fake_run, &gm, NULL, &r, &e) == TEQ_OK &&
              fabs(teq_eval_metric(&r, "peak_f1") - 50) < 1e-9 && fabs(teq_eval_metric(&r, "offset_mae") - 1) < 1e-9,
          "mlsd: %s f1 %g off %g", e.msg, teq_eval_metric(&r, "peak_f1"), teq_eval_metric(&r, "offset_mae"));
    /* Shapes differing from the reference's are refused. */
    CHECK(teq_eval_suite("ocr-det", d, 0, 2, fake_run, &fd, 1, fake_run, &fy, NULL, &r, &e) == TEQ_ERR_SHAPE,
          "shape mismatch accepted");
    CHECK(teq_eval_suite("nosuch", d, 0, 2, fake_run, &fd, 1, fake_run, &gd, NULL, &r, &e) == TEQ_ERR_ARG &&
              strstr(e.msg, "nosuch"),
          "unknown suite");
    teq_dataset_free(d);
}

/* ---- the real recogniser, when the models are there ---- */

static void test_real_rec(void) {
    const char *model = "cache/models/ch_PP-OCRv4_rec_infer.onnx", *keys = "cache/models/ppocr_keys_v1.txt";
    if (access(model, R_OK) != 0 || access(keys, R_OK) != 0) {
        skip_missing("the real recogniser's accuracy", access(model, R_OK) != 0 ? model : keys);
        return;
    }
    teq_error e;
    const char *out = path_in("real");
    teq_ocr_lines_opts o = {.text_path = "/usr/share/common-licenses/GPL-3", .font_paths = fonts, .n_fonts = 3,
                            .n = 24, .seed = 5, .keys_path = keys, .out_dir = out};
    CHECK(teq_dataset_ocr_lines(&o, &e) == TEQ_OK, "lines: %s", e.msg);
    teq_model *m = NULL;
    if (teq_model_load(model, &m, &e) != TEQ_OK) {
        CHECK(0, "load: %s", e.msg);
        return;
    }
    teq_model_set_threads(m, 2);
    teq_eval_opts eo = {.batch = 8}; /* the key list beside the model */
    teq_eval_result r;
    CHECK(teq_eval(m, "ocr-rec", out, &eo, &r, &e) == TEQ_OK, "eval: %s", e.msg);
    double acc = teq_eval_metric(&r, "line_accuracy"), cer = teq_eval_metric(&r, "cer");
    printf("PP-OCRv4 rec on 24 GPL-3 lines: line accuracy %.1f %%, CER %.2f %%\n", acc, cer);
    CHECK(acc >= 75 && cer <= 3, "FP32 recogniser on rendered lines: accuracy %g, CER %g", acc, cer);
    teq_model_free(m);
}

int main(void) {
    if (!mkdtemp(dir)) return 2;
    test_ctc();
    test_levenshtein();
    test_roundtrip();
    test_synth();
    test_bad_inputs();
    test_load_forms();
    test_idx();
    test_suites();
    test_real_rec();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("warning: could not remove %s\n", dir);
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail != 0;
}
