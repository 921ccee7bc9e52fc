/* The evaluation suites: run a model (and a reference) batch by batch over a data set and accumulate
 * the measures documented at the top of eval.h. */
#include "eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OUT 16
#define MLSD_TOPK 200
#define MLSD_THRESH 0.1f /* M-LSD's own decoder keeps centre peaks above 0.1 */
#define DET_THRESH 0.3f
/* Object-level decoding, as each model's own post-processing does it (sources named where used). */
#define DET_BOX_THRESH 0.6 /* PaddleOCR DBPostProcess box_thresh: mean probability of a kept region */
#define DET_MIN_SIZE 3     /* PaddleOCR DBPostProcess min_size: shorter side of a region's contour box */
#define FACE_NMS_IOU 0.3   /* MediaPipe face detection (short range) min_suppression_threshold */
#define MLSD_DIST 20.0     /* M-LSD pred_lines dist_thr: shortest kept segment, score-map pixels */
#define MLSD_SAP 10.0      /* sAP^10 (L-CNN): summed squared endpoint distance on a 128x128 frame */
#define MLSD_AP_FLOOR 0.01f /* candidates for sAP: centre peaks above this, ranked by score */
#define MATCH_IOU 0.5      /* a detected box is the same object when IoU >= 0.5 (PASCAL VOC rule) */

typedef enum suite_id { S_REC, S_CLS, S_DET, S_FACE, S_MLSD, S_FID, S_CLF } suite_id;

typedef struct acc {
    const teq_dataset *ds;
    const teq_keys *keys;
    bool has_ref, has_labels;
    int n_outputs;
    /* ocr-rec */
    int64_t exact, edits, chars, rec_agree;
    /* ocr-cls, classify */
    int64_t correct, cls_agree;
    /* ocr-det */
    int64_t inter, uni, det_n;
    double det_abs;
    int64_t dbox_match, dbox_p, dbox_r;
    /* blazeface */
    int64_t face_both, face_p, face_r, box_n, score_n;
    double box_abs, score_abs;
    int64_t fobj_match, fobj_p, fobj_r;
    int64_t img_side; /* input side in pixels (boxes are in pixels of the input) */
    /* mlsd */
    int64_t peak_match, peak_p, peak_r, off_n;
    double off_abs;
    int64_t line_match, line_p, line_r;
    struct ap_hit {
        float score;
        int32_t tp;
        int64_t order;
    } *ap;              /* the model's ranked segments over the data set, each a hit or not (sAP) */
    int64_t ap_n, ap_cap, ap_gt;
    int64_t lm_p, lm_p_hit, lm_r, lm_r_hit; /* line-map pixels of model and reference, and those near the other's */
    bool ap_nomem;
    bool has_lines; /* an offsets output was found: segments decoded */
    /* fidelity, per output: 0 undecided, 1 top-1 agreement, 2 relative L2 */
    int fid_kind[MAX_OUT];
    int64_t fid_agree[MAX_OUT], fid_rows[MAX_OUT];
    double fid_d2[MAX_OUT], fid_r2[MAX_OUT];
} acc;

static int64_t argmax(const float *x, int64_t n) {
    int64_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* Bytes of white space at p (ASCII, U+00A0, U+3000 ideographic space), 0 if none. */
static size_t space_len(const char *p) {
    if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') return 1;
    if ((unsigned char)p[0] == 0xC2 && (unsigned char)p[1] == 0xA0) return 2;
    if ((unsigned char)p[0] == 0xE3 && (unsigned char)p[1] == 0x80 && (unsigned char)p[2] == 0x80) return 3;
    return 0;
}

/* A copy of s without leading and trailing white space (the key list holds U+3000, which a model may
 * emit at a line end). */
static char *trimmed(const char *s) {
    size_t k;
    while ((k = space_len(s)) > 0) s += k;
    size_t n = strlen(s), end = 0;
    for (size_t i = 0; i < n;) {
        k = space_len(s + i);
        if (k) {
            i += k;
        } else {
            i++;
            end = i;
        }
    }
    /* end is one past the last byte that is not space (continuation bytes of a multibyte character are
     * never space bytes, so a character is never cut) */
    char *p = malloc(end + 1);
    if (p) {
        memcpy(p, s, end);
        p[end] = 0;
    }
    return p;
}

static teq_status need_rank(const char *suite, int j, const teq_tensor *t, int rank, int64_t b, teq_error *err) {
    char sh[96];
    if (t->dtype != TEQ_DTYPE_FLOAT)
        return teq_error_set(err, TEQ_ERR_SHAPE, "%s: output %d is %s, not float32", suite, j, teq_dtype_name(t->dtype));
    if (t->ndim != rank || t->dims[0] != b)
        return teq_error_set(err, TEQ_ERR_SHAPE, "%s: output %d has shape %s; expected rank %d with a batch of %lld",
                             suite, j, teq_shape_str(t->ndim, t->dims, sh, sizeof sh), rank, (long long)b);
    return TEQ_OK;
}

/* ocr-rec: out[0] is [B,T,C]. first: index of the batch's first sample in the data set. */
static teq_status do_rec(acc *a, teq_tensor **o, teq_tensor **r, int64_t first, int64_t b, teq_error *err) {
    teq_status s = need_rank("ocr-rec", 0, o[0], 3, b, err);
    if (s) return s;
    int64_t T = o[0]->dims[1], C = o[0]->dims[2];
    for (int64_t i = 0; i < b && !s; i++) {
        char *pred = NULL, *rp = NULL;
        s = teq_ctc_greedy_decode((const float *)o[0]->data + i * T * C, T, C, a->keys, &pred, err);
        if (!s && r) s = teq_ctc_greedy_decode((const float *)r[0]->data + i * T * C, T, C, a->keys, &rp, err);
        if (!s && a->has_labels) {
            char *p = trimmed(pred), *l = trimmed(a->ds->labels[first + i]);
            uint32_t *lc = NULL;
            size_t nl = 0;
            int64_t d = -1;
            if (p && l && teq_utf8_decode(l, strlen(l), &lc, &nl, NULL) == TEQ_OK) d = teq_levenshtein_utf8(p, l);
            if (d < 0) {
                s = teq_error_set(err, TEQ_ERR_NOMEM, "ocr-rec: out of memory (or a label that is not UTF-8)");
            } else {
                a->exact += strcmp(p, l) == 0;
                a->edits += d;
                a->chars += (int64_t)nl;
            }
            free(lc);
            free(p);
            free(l);
        }
        if (!s && rp) a->rec_agree += strcmp(pred, rp) == 0;
        free(pred);
        free(rp);
    }
    return s;
}

/* ocr-cls: out[0] is [B,2]; labels "0" and "180" are classes 0 and 1. */
static teq_status do_cls(acc *a, teq_tensor **o, teq_tensor **r, int64_t first, int64_t b, teq_error *err) {
    teq_status s = need_rank("ocr-cls", 0, o[0], 2, b, err);
    if (s) return s;
    int64_t C = o[0]->dims[1];
    if (C < 2) return teq_error_set(err, TEQ_ERR_SHAPE, "ocr-cls: output 0 has %lld classes, expected 2", (long long)C);
    for (int64_t i = 0; i < b; i++) {
        int64_t p = argmax((const float *)o[0]->data + i * C, C);
        if (a->has_labels) {
            const char *l = a->ds->labels[first + i];
            int64_t want = strcmp(l, "0") == 0 ? 0 : strcmp(l, "180") == 0 ? 1 : -1;
            if (want < 0)
                return teq_error_set(err, TEQ_ERR_FORMAT, "ocr-cls: label %lld is '%.40s', not 0 or 180",
                                     (long long)(first + i + 1), l);
            a->correct += p == want;
        }
        if (r) a->cls_agree += p == argmax((const float *)r[0]->data + i * C, C);
    }
    return TEQ_OK;
}

/* A class label: a decimal integer in 0..C-1, nothing else on the line. -1 when it is not one. */
static int64_t class_label(const char *l, int64_t C) {
    if (!*l || strlen(l) > 18) return -1;
    int64_t v = 0;
    for (const char *p = l; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    return v < C ? v : -1;
}

/* classify: out[0] holds class scores (logits or probabilities) with the batch first, [B,C] or any
 * shape [B,...] whose remaining axes hold the C scores; labels are class indices. */
static teq_status do_clf(acc *a, teq_tensor **o, teq_tensor **r, int64_t first, int64_t b, teq_error *err) {
    char sh[96];
    if (o[0]->dtype != TEQ_DTYPE_FLOAT)
        return teq_error_set(err, TEQ_ERR_SHAPE, "classify: output 0 is %s, not float32", teq_dtype_name(o[0]->dtype));
    if (o[0]->ndim < 2 || o[0]->dims[0] != b)
        return teq_error_set(err, TEQ_ERR_SHAPE, "classify: output 0 has shape %s; expected class scores [%lld,classes]",
                             teq_shape_str(o[0]->ndim, o[0]->dims, sh, sizeof sh), (long long)b);
    int64_t C = teq_tensor_numel(o[0]) / b;
    if (C < 2)
        return teq_error_set(err, TEQ_ERR_SHAPE, "classify: output 0 has shape %s, fewer than 2 classes",
                             teq_shape_str(o[0]->ndim, o[0]->dims, sh, sizeof sh));
    for (int64_t i = 0; i < b; i++) {
        int64_t p = argmax((const float *)o[0]->data + i * C, C);
        if (a->has_labels) {
            const char *l = a->ds->labels[first + i];
            int64_t want = class_label(l, C);
            if (want < 0)
                return teq_error_set(err, TEQ_ERR_FORMAT, "classify: label %lld is '%.40s', not a class index 0..%lld",
                                     (long long)(first + i + 1), l, (long long)(C - 1));
            a->correct += p == want;
        }
        if (r) a->cls_agree += p == argmax((const float *)r[0]->data + i * C, C);
    }
    return TEQ_OK;
}

/* ---- Objects: boxes and segments decoded from the outputs, matched one to one ---- */

typedef struct box {
    double x0, y0, x1, y1, score;
} box;

typedef struct boxes {
    box *v;
    int64_t n, cap;
} boxes;

static bool push_box(boxes *b, box x) {
    if (b->n == b->cap) {
        int64_t cap = b->cap ? 2 * b->cap : 64;
        box *v = realloc(b->v, (size_t)cap * sizeof *v);
        if (!v) return false;
        b->v = v, b->cap = cap;
    }
    b->v[b->n++] = x;
    return true;
}

static double box_iou(const box *a, const box *b) {
    double w = fmin(a->x1, b->x1) - fmax(a->x0, b->x0), h = fmin(a->y1, b->y1) - fmax(a->y0, b->y0);
    if (w <= 0 || h <= 0) return 0;
    double i = w * h, u = (a->x1 - a->x0) * (a->y1 - a->y0) + (b->x1 - b->x0) * (b->y1 - b->y0) - i;
    return u > 0 ? i / u : 0;
}

/* Model boxes p matched one to one to reference boxes r: each reference box in order takes the
 * unmatched model box of highest IoU, if that IoU is >= MATCH_IOU. Returns the number of pairs. */
static int64_t match_boxes(const boxes *p, const boxes *r, bool *taken) {
    int64_t m = 0;
    for (int64_t j = 0; j < p->n; j++) taken[j] = false;
    for (int64_t i = 0; i < r->n; i++) {
        int64_t best = -1;
        double bi = MATCH_IOU;
        for (int64_t j = 0; j < p->n; j++) {
            double v;
            if (!taken[j] && (v = box_iou(&r->v[i], &p->v[j])) >= bi) bi = v, best = j;
        }
        if (best >= 0) taken[best] = true, m++;
    }
    return m;
}

static int cmp_score_desc(const void *x, const void *y) {
    const box *a = x, *b = y;
    return (a->score < b->score) - (a->score > b->score);
}

/* Text boxes of one probability map [H,W] as PaddleOCR's DB post-processing finds them: the map
 * binarised at > DET_THRESH, regions of 8-connected pixels, a region kept when its mean probability
 * is >= DET_BOX_THRESH and its contour's shorter extent (last pixel - first pixel, what the contour's box
 * spans) >= DET_MIN_SIZE. Boxes are the regions'
 * axis-aligned bounding boxes (PaddleOCR takes the minimum-area rotated rectangle and dilates it; for
 * comparing two models on the same image the axis-aligned box carries the same decision).
 * lab [H*W] and stack [H*W] are scratch. */
static bool det_boxes(const float *m, int64_t H, int64_t W, int32_t *lab, int64_t *stack, boxes *out) {
    out->n = 0;
    for (int64_t i = 0; i < H * W; i++) lab[i] = m[i] > DET_THRESH ? 0 : -1;
    int32_t next = 1;
    for (int64_t i0 = 0; i0 < H * W; i0++) {
        if (lab[i0] != 0) continue;
        int64_t top = 0, cnt = 0, x0 = W, y0 = H, x1 = -1, y1 = -1;
        double sum = 0;
        stack[top++] = i0;
        lab[i0] = next;
        while (top) {
            int64_t i = stack[--top], y = i / W, x = i % W;
            cnt++, sum += m[i];
            x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1, y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int64_t yy = y + dy, xx = x + dx;
                    if (yy < 0 || yy >= H || xx < 0 || xx >= W || lab[yy * W + xx] != 0) continue;
                    lab[yy * W + xx] = next;
                    stack[top++] = yy * W + xx;
                }
        }
        next++;
        if (sum / (double)cnt < DET_BOX_THRESH || x1 - x0 < DET_MIN_SIZE || y1 - y0 < DET_MIN_SIZE) continue;
        if (!push_box(out, (box){(double)x0, (double)y0, (double)x1 + 1, (double)y1 + 1, sum / (double)cnt}))
            return false;
    }
    return true;
}

/* ocr-det: out[0] is a probability map of any shape with the batch first; its last two axes are the
 * map's height and width (the boxes are found per map of H x W). */
static teq_status do_det(acc *a, teq_tensor **o, teq_tensor **r, int64_t b, teq_error *err) {
    if (o[0]->dtype != TEQ_DTYPE_FLOAT || o[0]->ndim < 1 || o[0]->dims[0] != b)
        return teq_error_set(err, TEQ_ERR_SHAPE, "ocr-det: output 0 is not a float32 batch of %lld maps", (long long)b);
    int64_t n = teq_tensor_numel(o[0]);
    const float *y = o[0]->data, *z = r[0]->data;
    int64_t inter = 0, uni = 0;
    double abs_sum = 0;
    for (int64_t i = 0; i < n; i++) {
        bool p = y[i] > DET_THRESH, q = z[i] > DET_THRESH;
        inter += p && q;
        uni += p || q;
        abs_sum += fabs((double)y[i] - (double)z[i]);
    }
    a->inter += inter;
    a->uni += uni;
    a->det_abs += abs_sum;
    a->det_n += n;
    int64_t H = o[0]->ndim >= 3 ? o[0]->dims[o[0]->ndim - 2] : 1, W = o[0]->ndim >= 2 ? o[0]->dims[o[0]->ndim - 1] : n / b;
    int64_t maps = H * W > 0 ? n / (H * W) : 0;
    int32_t *lab = malloc((size_t)(H * W) * sizeof *lab);
    int64_t *stack = malloc((size_t)(H * W) * sizeof *stack);
    bool *taken = malloc((size_t)(H * W) * sizeof *taken); /* a map holds at most H*W regions */
    boxes bp = {0}, br = {0};
    bool ok = lab && stack && taken;
    for (int64_t k = 0; k < maps && ok; k++) {
        ok = det_boxes(y + k * H * W, H, W, lab, stack, &bp) && det_boxes(z + k * H * W, H, W, lab, stack, &br);
        if (!ok) break;
        a->dbox_match += match_boxes(&bp, &br, taken);
        a->dbox_p += bp.n;
        a->dbox_r += br.n;
    }
    free(lab), free(stack), free(bp.v), free(br.v), free(taken);
    return ok ? TEQ_OK : teq_error_set(err, TEQ_ERR_NOMEM, "ocr-det: out of memory");
}

/* BlazeFace's anchors for a score output of A anchors: a g x g grid with k anchors per cell, k = 2 or 6
 * (the front model: 16x16x2 + 8x8x6; the back model: 32x32x2 + 16x16x6), ordered row, column, anchor
 * (MediaPipe's SSD anchor layout). g = 0 when A fits neither. */
static int64_t face_grid(int64_t A, int64_t *k) {
    for (int64_t kk = 2; kk <= 6; kk += 4) {
        int64_t g = (int64_t)(sqrt((double)A / (double)kk) + 0.5);
        if (g > 0 && g * g * kk == A) {
            *k = kk;
            return g;
        }
    }
    return 0;
}

/* Faces of sample i as MediaPipe decodes them: every anchor with sigmoid(score) > 0.5 gives a box
 * (centre = anchor centre + regression[0..1], size regression[2..3], pixels of the S x S input:
 * fixed-size anchors), then non-maximum suppression across all outputs at IoU > FACE_NMS_IOU, best
 * score first. sc/bx: the model's (or the reference's) pair list. */
static bool face_boxes(teq_tensor **t, const int *sc, const int *bx, int n_pairs, int64_t i, int64_t S, boxes *out) {
    boxes c = {0};
    out->n = 0;
    for (int p = 0; p < n_pairs; p++) {
        int64_t A = t[sc[p]]->dims[1], k = 0, g = face_grid(A, &k);
        const float *y = (const float *)t[sc[p]]->data + i * A, *b = (const float *)t[bx[p]]->data + i * A * 16;
        for (int64_t a = 0; a < A; a++) {
            if (!(y[a] > 0)) continue;
            int64_t cell = a / k;
            double cx = ((double)(cell % g) + 0.5) / (double)g * (double)S + b[a * 16 + 0];
            double cy = ((double)(cell / g) + 0.5) / (double)g * (double)S + b[a * 16 + 1];
            double w = b[a * 16 + 2], h = b[a * 16 + 3];
            if (!push_box(&c, (box){cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, y[a]})) {
                free(c.v);
                return false;
            }
        }
    }
    qsort(c.v, (size_t)c.n, sizeof *c.v, cmp_score_desc);
    bool ok = true;
    for (int64_t a = 0; a < c.n && ok; a++) {
        bool keep = true;
        for (int64_t q = 0; q < out->n && keep; q++) keep = box_iou(&c.v[a], &out->v[q]) <= FACE_NMS_IOU;
        if (keep) ok = push_box(out, c.v[a]);
    }
    free(c.v);
    return ok;
}

/* blazeface: score outputs [B,A,1] (logits) paired with box outputs [B,A,16] by A. */
static teq_status do_face(acc *a, teq_tensor **o, teq_tensor **r, int64_t b, teq_error *err) {
    int n_scores = 0, sc[MAX_OUT], bx[MAX_OUT], n_pairs = 0;
    bool used[MAX_OUT] = {false};
    for (int j = 0; j < a->n_outputs; j++) {
        const teq_tensor *t = o[j];
        if (t->dtype != TEQ_DTYPE_FLOAT || t->ndim != 3 || t->dims[0] != b || t->dims[2] != 1) continue;
        n_scores++;
        int64_t A = t->dims[1];
        const float *y = t->data, *z = r[j]->data;
        for (int64_t i = 0; i < b * A; i++) {
            bool p = y[i] > 0, q = z[i] > 0; /* sigmoid(x) > 0.5 exactly when x > 0 */
            a->face_both += p && q;
            a->face_p += p;
            a->face_r += q;
            a->score_abs += fabs((double)y[i] - (double)z[i]);
        }
        a->score_n += b * A;
        /* The first unused box output with the same anchors. */
        for (int k = 0; k < a->n_outputs; k++) {
            const teq_tensor *u = o[k];
            if (used[k] || u->dtype != TEQ_DTYPE_FLOAT || u->ndim != 3 || u->dims[0] != b || u->dims[1] != A ||
                u->dims[2] != 16)
                continue;
            used[k] = true;
            const float *bx_ = u->data, *br = r[k]->data;
            for (int64_t i = 0; i < b * A; i++) {
                if (!(z[i] > 0)) continue;
                for (int c = 0; c < 16; c++) a->box_abs += fabs((double)bx_[i * 16 + c] - (double)br[i * 16 + c]);
                a->box_n += 16;
            }
            int64_t kk;
            if (!face_grid(A, &kk))
                return teq_error_set(err, TEQ_ERR_SHAPE, "blazeface: %lld anchors do not form a square grid of 2 or 6 per cell",
                                     (long long)A);
            sc[n_pairs] = j, bx[n_pairs++] = k;
            break;
        }
    }
    if (n_scores == 0)
        return teq_error_set(err, TEQ_ERR_SHAPE, "blazeface: no output shaped [%lld,anchors,1] (scores)", (long long)b);
    if (a->img_side <= 0)
        return teq_error_set(err, TEQ_ERR_SHAPE, "blazeface: the input is not an image batch [N,H,W,C] or [N,C,H,W]");
    boxes fp = {0}, fr = {0};
    bool *taken = NULL;
    bool ok = true;
    for (int64_t i = 0; i < b && ok; i++) {
        ok = face_boxes(o, sc, bx, n_pairs, i, a->img_side, &fp) && face_boxes(r, sc, bx, n_pairs, i, a->img_side, &fr);
        bool *t2 = ok && fp.n ? realloc(taken, (size_t)fp.n * sizeof *taken) : taken;
        if (!ok || (fp.n && !t2)) {
            ok = false;
            break;
        }
        taken = t2;
        a->fobj_match += match_boxes(&fp, &fr, taken);
        a->fobj_p += fp.n;
        a->fobj_r += fr.n;
    }
    free(fp.v), free(fr.v), free(taken);
    return ok ? TEQ_OK : teq_error_set(err, TEQ_ERR_NOMEM, "blazeface: out of memory");
}

typedef struct peak {
    float v;
    int32_t idx;
} peak;

static int cmp_peak(const void *x, const void *y) {
    const peak *p = x, *q = y;
    if (p->v != q->v) return p->v > q->v ? -1 : 1;
    return (p->idx > q->idx) - (p->idx < q->idx);
}

/* Local maxima over 3x3 with value > thresh in map s [H,W]; the k highest into pk (sorted, best first).
 * Returns how many; pk must hold H*W entries (candidates are sorted in place). */
static int64_t find_peaks(const float *s, int64_t H, int64_t W, int64_t k, float thresh, peak *pk) {
    int64_t n = 0;
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            float v = s[y * W + x];
            if (!(v > thresh)) continue;
            bool top = true;
            for (int64_t dy = -1; dy <= 1 && top; dy++)
                for (int64_t dx = -1; dx <= 1; dx++) {
                    int64_t yy = y + dy, xx = x + dx;
                    if ((dy || dx) && yy >= 0 && yy < H && xx >= 0 && xx < W && s[yy * W + xx] > v) {
                        top = false;
                        break;
                    }
                }
            if (top) pk[n++] = (peak){v, (int32_t)(y * W + x)};
        }
    qsort(pk, (size_t)n, sizeof *pk, cmp_peak);
    return n < k ? n : k;
}

/* Segments of the peaks pk[0..n) as M-LSD's pred_lines decodes them: a centre peak (x, y) and its 4
 * offsets give the endpoints (x + o0, y + o1) and (x + o2, y + o3) in score-map pixels; segments shorter
 * than MLSD_DIST are dropped. seg: 4 values per kept segment, rescaled to a 128 x 128 frame (sAP's);
 * score (may be NULL): the kept segments' peak scores. */
static int64_t mlsd_segments(const peak *pk, int64_t n, const float *off, int64_t H, int64_t W, double *seg, float *score) {
    int64_t m = 0;
    for (int64_t k = 0; k < n; k++) {
        double x = (double)(pk[k].idx % W), y = (double)(pk[k].idx / W);
        const float *o = off + (int64_t)pk[k].idx * 4;
        double xs = x + o[0], ys = y + o[1], xe = x + o[2], ye = y + o[3];
        if (!(hypot(xe - xs, ye - ys) >= MLSD_DIST)) continue;
        double fx = 128.0 / (double)W, fy = 128.0 / (double)H;
        seg[4 * m + 0] = xs * fx, seg[4 * m + 1] = ys * fy, seg[4 * m + 2] = xe * fx, seg[4 * m + 3] = ye * fy;
        if (score) score[m] = pk[k].v;
        m++;
    }
    return m;
}

/* Summed squared endpoint distance of segments a and c, the nearer of the two directions. */
static double seg_dist(const double *a, const double *c) {
    double d1 = (a[0] - c[0]) * (a[0] - c[0]) + (a[1] - c[1]) * (a[1] - c[1]) + (a[2] - c[2]) * (a[2] - c[2]) +
                (a[3] - c[3]) * (a[3] - c[3]);
    double d2 = (a[0] - c[2]) * (a[0] - c[2]) + (a[1] - c[3]) * (a[1] - c[3]) + (a[2] - c[0]) * (a[2] - c[0]) +
                (a[3] - c[1]) * (a[3] - c[1]);
    return d1 < d2 ? d1 : d2;
}

/* Model segments p (best score first) matched one to one to reference segments r: each takes the
 * unmatched reference segment nearest by summed squared endpoint distance (either direction), when
 * that distance is <= MLSD_SAP (the matching rule of sAP^10). */
static int64_t match_segments(const double *p, int64_t np, const double *r, int64_t nr, bool *taken) {
    int64_t m = 0;
    for (int64_t j = 0; j < nr; j++) taken[j] = false;
    for (int64_t i = 0; i < np; i++) {
        const double *a = p + 4 * i;
        int64_t best = -1;
        double bd = MLSD_SAP;
        for (int64_t j = 0; j < nr; j++) {
            if (taken[j]) continue;
            double d = seg_dist(a, r + 4 * j);
            if (d <= bd) bd = d, best = j;
        }
        if (best >= 0) taken[best] = true, m++;
    }
    return m;
}

/* Segments seg[0..n) (128-frame coordinates) drawn into map m [H,W] (score-map pixels): 1 on every pixel
 * a segment passes, sampled at half-pixel steps. */
static void draw_segments(const double *seg, int64_t n, int64_t H, int64_t W, uint8_t *m) {
    memset(m, 0, (size_t)(H * W));
    for (int64_t k = 0; k < n; k++) {
        double x0 = seg[4 * k] * (double)W / 128.0, y0 = seg[4 * k + 1] * (double)H / 128.0;
        double x1 = seg[4 * k + 2] * (double)W / 128.0, y1 = seg[4 * k + 3] * (double)H / 128.0;
        int64_t steps = (int64_t)ceil(2 * fmax(fabs(x1 - x0), fabs(y1 - y0))) + 1;
        if (steps > 4 * (H + W)) steps = 4 * (H + W); /* a wild offset cannot make this loop long */
        for (int64_t t = 0; t <= steps; t++) {
            double f = (double)t / (double)steps;
            int64_t x = (int64_t)floor(x0 + f * (x1 - x0) + 0.5), y = (int64_t)floor(y0 + f * (y1 - y0) + 0.5);
            if (x >= 0 && x < W && y >= 0 && y < H) m[y * W + x] = 1;
        }
    }
}

/* Pixels set in a, and how many of them lie within 1 pixel (Chebyshev) of a pixel set in b. */
static void near_count(const uint8_t *a, const uint8_t *b, int64_t H, int64_t W, int64_t *n, int64_t *hit) {
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            if (!a[y * W + x]) continue;
            (*n)++;
            bool near = false;
            for (int64_t yy = y - 1; yy <= y + 1 && !near; yy++)
                for (int64_t xx = x - 1; xx <= x + 1 && !near; xx++)
                    near = yy >= 0 && yy < H && xx >= 0 && xx < W && b[yy * W + xx];
            *hit += near;
        }
}

/* mlsd: a score map [B,H,W,1] and offsets [B,H,W,4] (NHWC). */
static teq_status do_mlsd(acc *a, teq_tensor **o, teq_tensor **r, int64_t b, teq_error *err) {
    int js = -1, jo = -1;
    for (int j = 0; j < a->n_outputs; j++) {
        const teq_tensor *t = o[j];
        if (t->dtype != TEQ_DTYPE_FLOAT || t->ndim != 4 || t->dims[0] != b) continue;
        if (t->dims[3] == 1 && js < 0) js = j;
        if (t->dims[3] == 4 && jo < 0) jo = j;
    }
    if (js < 0)
        return teq_error_set(err, TEQ_ERR_SHAPE, "mlsd: no output shaped [%lld,H,W,1] (the score map)", (long long)b);
    int64_t H = o[js]->dims[1], W = o[js]->dims[2];
    if (jo >= 0 && (o[jo]->dims[1] != H || o[jo]->dims[2] != W)) jo = -1;
    peak *pp = malloc((size_t)(H * W) * 2 * sizeof *pp);
    int32_t *owner = malloc((size_t)(H * W) * sizeof *owner);
    bool *taken = malloc(MLSD_TOPK * sizeof *taken);
    double *segp = malloc(2 * 4 * MLSD_TOPK * sizeof *segp), *segr = segp ? segp + 4 * MLSD_TOPK : NULL;
    float *scores = malloc(MLSD_TOPK * sizeof *scores);
    uint8_t *lmap = malloc((size_t)(2 * H * W));
    if (!pp || !owner || !taken || !segp || !scores || !lmap) {
        free(pp), free(owner), free(taken), free(segp), free(scores), free(lmap);
        return teq_error_set(err, TEQ_ERR_NOMEM, "mlsd: out of memory");
    }
    peak *pr = pp + H * W;
    for (int64_t i = 0; i < H * W; i++) owner[i] = -1;
    for (int64_t i = 0; i < b; i++) {
        const float *sm = (const float *)o[js]->data + i * H * W, *sr = (const float *)r[js]->data + i * H * W;
        int64_t np = find_peaks(sm, H, W, MLSD_TOPK, MLSD_THRESH, pp), nr = find_peaks(sr, H, W, MLSD_TOPK, MLSD_THRESH, pr);
        for (int64_t k = 0; k < nr; k++) {
            owner[pr[k].idx] = (int32_t)k;
            taken[k] = false;
        }
        int64_t matched = 0;
        for (int64_t k = 0; k < np; k++) {
            int64_t y = pp[k].idx / W, x = pp[k].idx % W;
            /* the same pixel first, then the 8 neighbours */
            static const int off[9][2] = {{0, 0}, {-1, 0}, {1, 0}, {0, -1}, {0, 1}, {-1, -1}, {-1, 1}, {1, -1}, {1, 1}};
            for (int q = 0; q < 9; q++) {
                int64_t yy = y + off[q][0], xx = x + off[q][1];
                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                int32_t w = owner[yy * W + xx];
                if (w >= 0 && !taken[w]) {
                    taken[w] = true;
                    matched++;
                    break;
                }
            }
        }
        a->peak_match += matched;
        a->peak_p += np;
        a->peak_r += nr;
        for (int64_t k = 0; k < nr; k++) owner[pr[k].idx] = -1;
        if (jo < 0) continue;
        const float *om = (const float *)o[jo]->data + i * H * W * 4, *orf = (const float *)r[jo]->data + i * H * W * 4;
        for (int64_t k = 0; k < nr; k++)
            for (int c = 0; c < 4; c++) {
                int64_t e = (int64_t)pr[k].idx * 4 + c;
                a->off_abs += fabs((double)om[e] - (double)orf[e]);
                a->off_n++;
            }
        /* segments of the peaks above MLSD_THRESH: one-to-one F1 and the drawn line maps */
        int64_t ns = mlsd_segments(pp, np, om, H, W, segp, NULL), nrs = mlsd_segments(pr, nr, orf, H, W, segr, NULL);
        a->line_match += match_segments(segp, ns, segr, nrs, taken);
        draw_segments(segp, ns, H, W, lmap);
        draw_segments(segr, nrs, H, W, lmap + H * W);
        near_count(lmap, lmap + H * W, H, W, &a->lm_p, &a->lm_p_hit);
        near_count(lmap + H * W, lmap, H, W, &a->lm_r, &a->lm_r_hit);
        a->line_p += ns;
        a->line_r += nrs;
        a->has_lines = true;
        /* sAP^10 against the same reference segments (L-CNN's rule): the model's segments from peaks above
         * MLSD_AP_FLOOR, each a hit when its nearest reference segment is within MLSD_SAP and not hit
         * before by a higher-scored segment; ranked over the whole data set in finish() */
        int64_t nc = find_peaks(sm, H, W, MLSD_TOPK, MLSD_AP_FLOOR, pp);
        int64_t na = mlsd_segments(pp, nc, om, H, W, segp, scores);
        for (int64_t j = 0; j < nrs; j++) taken[j] = false;
        if (a->ap_n + na > a->ap_cap) {
            int64_t cap = 2 * (a->ap_n + na) + 256;
            struct ap_hit *v = realloc(a->ap, (size_t)cap * sizeof *v);
            if (!v) {
                a->ap_nomem = true;
                break;
            }
            a->ap = v, a->ap_cap = cap;
        }
        for (int64_t k = 0; k < na; k++) {
            int64_t best = -1;
            double bd = INFINITY;
            for (int64_t j = 0; j < nrs; j++) {
                double d = seg_dist(segp + 4 * k, segr + 4 * j);
                if (d < bd) bd = d, best = j;
            }
            bool tp = best >= 0 && bd <= MLSD_SAP && !taken[best];
            if (tp) taken[best] = true;
            a->ap[a->ap_n] = (struct ap_hit){scores[k], tp, a->ap_n};
            a->ap_n++;
        }
        a->ap_gt += nrs;
    }
    free(pp), free(owner), free(taken), free(segp), free(scores), free(lmap);
    return a->ap_nomem ? teq_error_set(err, TEQ_ERR_NOMEM, "mlsd: out of memory") : TEQ_OK;
}

/* Class scores on the reference: rank 2 with >= 2 columns, or rank 3 whose rows (last axis, >= 2 long)
 * are non-negative and sum to 1 within 1e-3 (a softmax per time step). */
static bool looks_like_scores(const teq_tensor *t) {
    if (t->ndim == 2 && t->dims[1] >= 2) return true;
    if (t->ndim != 3 || t->dims[2] < 2) return false;
    int64_t rows = t->dims[0] * t->dims[1], C = t->dims[2];
    if (rows == 0) return false;
    const float *x = t->data;
    for (int64_t i = 0; i < rows; i++) {
        double sum = 0;
        for (int64_t c = 0; c < C; c++) {
            if (x[i * C + c] < 0) return false;
            sum += x[i * C + c];
        }
        if (fabs(sum - 1) > 1e-3) return false;
    }
    return true;
}

static teq_status do_fid(acc *a, teq_tensor **o, teq_tensor **r, teq_error *err) {
    for (int j = 0; j < a->n_outputs; j++) {
        if (o[j]->dtype != TEQ_DTYPE_FLOAT)
            return teq_error_set(err, TEQ_ERR_SHAPE, "fidelity: output %d is %s, not float32", j,
                                 teq_dtype_name(o[j]->dtype));
        if (!a->fid_kind[j]) a->fid_kind[j] = looks_like_scores(r[j]) ? 1 : 2;
        const float *y = o[j]->data, *z = r[j]->data;
        if (a->fid_kind[j] == 1 && o[j]->ndim >= 2) {
            int64_t C = o[j]->dims[o[j]->ndim - 1], rows = C ? teq_tensor_numel(o[j]) / C : 0;
            for (int64_t i = 0; i < rows; i++) a->fid_agree[j] += argmax(y + i * C, C) == argmax(z + i * C, C);
            a->fid_rows[j] += rows;
        } else {
            a->fid_kind[j] = 2;
            int64_t n = teq_tensor_numel(o[j]);
            for (int64_t i = 0; i < n; i++) {
                double d = (double)y[i] - (double)z[i];
                a->fid_d2[j] += d * d;
                a->fid_r2[j] += (double)z[i] * z[i];
            }
        }
    }
    return TEQ_OK;
}

static void add_metric(teq_eval_result *out, const char *name, double v) {
    if (out->n_metrics >= TEQ_EVAL_MAX_METRICS) return;
    snprintf(out->metric_names[out->n_metrics], sizeof out->metric_names[0], "%s", name);
    out->metrics[out->n_metrics++] = v;
}

double teq_eval_metric(const teq_eval_result *r, const char *name) {
    for (int i = 0; i < r->n_metrics; i++)
        if (strcmp(r->metric_names[i], name) == 0) return r->metrics[i];
    return NAN;
}

static double pct(int64_t num, int64_t den, double if_empty) { return den ? 100.0 * (double)num / (double)den : if_empty; }

static int cmp_ap_hit(const void *x, const void *y) {
    const struct ap_hit *p = x, *q = y;
    if (p->score != q->score) return p->score > q->score ? -1 : 1;
    return (p->order > q->order) - (p->order < q->order);
}

/* Average precision of the ranked hits (all-point interpolated, as PASCAL VOC and L-CNN's sAP compute
 * it): precision at each rank made non-increasing from the end, averaged over the n_gt recall steps.
 * 100 when there is nothing to find. Sorts h. */
static double average_precision(struct ap_hit *h, int64_t n, int64_t n_gt) {
    if (n_gt == 0) return 100;
    qsort(h, (size_t)n, sizeof *h, cmp_ap_hit);
    double *prec = malloc((size_t)(n ? n : 1) * sizeof *prec);
    if (!prec) return NAN;
    int64_t tp = 0;
    for (int64_t i = 0; i < n; i++) {
        tp += h[i].tp;
        prec[i] = (double)tp / (double)(i + 1);
    }
    for (int64_t i = n - 2; i >= 0; i--)
        if (prec[i + 1] > prec[i]) prec[i] = prec[i + 1];
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        if (h[i].tp) sum += prec[i];
    free(prec);
    return 100.0 * sum / (double)n_gt;
}

static void finish(suite_id id, acc *a, teq_eval_result *out) {
    switch (id) {
    case S_REC:
        if (a->has_labels) {
            add_metric(out, "line_accuracy", pct(a->exact, out->n, 0));
            add_metric(out, "cer", a->chars ? 100.0 * (double)a->edits / (double)a->chars : (a->edits ? 100.0 : 0.0));
            /* the counts behind cer, so that results on several sets can be pooled exactly */
            add_metric(out, "char_edits", (double)a->edits);
            add_metric(out, "label_chars", (double)a->chars);
        }
        if (a->has_ref) add_metric(out, "agreement", pct(a->rec_agree, out->n, 0));
        snprintf(out->primary, sizeof out->primary, "%s", a->has_labels ? "line_accuracy" : "agreement");
        out->units = out->n;
        break;
    case S_CLS:
        if (a->has_labels) add_metric(out, "accuracy", pct(a->correct, out->n, 0));
        if (a->has_ref) add_metric(out, "agreement", pct(a->cls_agree, out->n, 0));
        snprintf(out->primary, sizeof out->primary, "%s", a->has_labels ? "accuracy" : "agreement");
        out->units = out->n;
        break;
    case S_CLF:
        if (a->has_labels) add_metric(out, "accuracy", pct(a->correct, out->n, 0));
        if (a->has_ref) add_metric(out, "agreement", pct(a->cls_agree, out->n, 0));
        snprintf(out->primary, sizeof out->primary, "%s", a->has_labels ? "accuracy" : "agreement");
        out->units = out->n;
        break;
    case S_DET:
        add_metric(out, "box_f1", pct(2 * a->dbox_match, a->dbox_p + a->dbox_r, 100));
        add_metric(out, "iou", pct(a->inter, a->uni, 100));
        add_metric(out, "mae", a->det_n ? a->det_abs / (double)a->det_n : 0);
        add_metric(out, "ref_boxes", (double)a->dbox_r);
        snprintf(out->primary, sizeof out->primary, "box_f1");
        out->units = a->dbox_r;
        break;
    case S_FACE:
        add_metric(out, "face_f1", pct(2 * a->fobj_match, a->fobj_p + a->fobj_r, 100));
        add_metric(out, "anchor_f1", pct(2 * a->face_both, a->face_p + a->face_r, 100));
        add_metric(out, "box_mae", a->box_n ? a->box_abs / (double)a->box_n : 0);
        add_metric(out, "score_mae", a->score_n ? a->score_abs / (double)a->score_n : 0);
        add_metric(out, "ref_confident_anchors", (double)a->face_r);
        add_metric(out, "ref_faces", (double)a->fobj_r);
        snprintf(out->primary, sizeof out->primary, "face_f1");
        out->units = a->fobj_r;
        break;
    case S_MLSD:
        if (a->has_lines) {
            add_metric(out, "sap10", average_precision(a->ap, a->ap_n, a->ap_gt));
            add_metric(out, "line_f1", pct(2 * a->line_match, a->line_p + a->line_r, 100));
            double P = a->lm_p ? (double)a->lm_p_hit / (double)a->lm_p : 1, R = a->lm_r ? (double)a->lm_r_hit / (double)a->lm_r : 1;
            add_metric(out, "map_f1", P + R > 0 ? 200.0 * P * R / (P + R) : 0);
        }
        add_metric(out, "peak_f1", pct(2 * a->peak_match, a->peak_p + a->peak_r, 100));
        add_metric(out, "offset_mae", a->off_n ? a->off_abs / (double)a->off_n : 0);
        if (a->has_lines) add_metric(out, "ref_lines", (double)a->line_r);
        snprintf(out->primary, sizeof out->primary, "%s", a->has_lines ? "sap10" : "peak_f1");
        out->units = a->has_lines ? a->ap_gt : a->peak_r;
        break;
    case S_FID: {
        double sum = 0;
        char name[40];
        for (int j = 0; j < a->n_outputs; j++) {
            double v;
            if (a->fid_kind[j] == 1) {
                v = pct(a->fid_agree[j], a->fid_rows[j], 100);
                snprintf(name, sizeof name, "out%d_top1", j);
            } else {
                double rel = a->fid_r2[j] > 0 ? sqrt(a->fid_d2[j] / a->fid_r2[j]) : (a->fid_d2[j] > 0 ? 1.0 : 0.0);
                v = 100.0 * (rel < 1 ? 1 - rel : 0);
                snprintf(name, sizeof name, "out%d_l2", j);
            }
            sum += v;
            if (j < TEQ_EVAL_MAX_METRICS - 1) add_metric(out, name, v);
        }
        /* fidelity first: it is the headline */
        memmove(out->metric_names[1], out->metric_names[0], sizeof out->metric_names[0] * (size_t)out->n_metrics);
        memmove(out->metrics + 1, out->metrics, sizeof out->metrics[0] * (size_t)out->n_metrics);
        snprintf(out->metric_names[0], sizeof out->metric_names[0], "fidelity");
        out->metrics[0] = a->n_outputs ? sum / a->n_outputs : 100;
        out->n_metrics++;
        snprintf(out->primary, sizeof out->primary, "fidelity");
        /* a flipped row of a top-1 output moves the mean by 100 / (rows * outputs) */
        for (int j = 0; j < a->n_outputs; j++)
            if (a->fid_kind[j] == 1 && (out->units == 0 || a->fid_rows[j] * a->n_outputs < out->units))
                out->units = a->fid_rows[j] * a->n_outputs;
        break;
    }
    }
}

static void free_outs(teq_tensor **t, int n) {
    for (int j = 0; j < n; j++) {
        teq_tensor_free(t[j]);
        t[j] = NULL;
    }
}

/* Counted primaries (each sample adds 0 or 1 to a count; the metric is 100 * count / n): the count so
 * far. -1 for the suites whose primary is not such a count (IoU, F1, fidelity). */
static int64_t primary_count(suite_id id, const acc *a) {
    switch (id) {
    case S_REC: return a->has_labels ? a->exact : a->rec_agree;
    case S_CLS:
    case S_CLF: return a->has_labels ? a->correct : a->cls_agree;
    default: return -1;
    }
}

teq_status teq_eval_suite(const char *suite, const teq_dataset *ds, int64_t limit, int batch, teq_run_fn run,
                          void *run_user, int n_outputs, teq_run_fn ref, void *ref_user, const char *keys_path,
                          teq_eval_result *out, teq_error *err) {
    return teq_eval_suite_floor(suite, ds, limit, batch, run, run_user, n_outputs, ref, ref_user, keys_path, NAN, NULL, out,
                                err);
}

teq_status teq_eval_suite_floor(const char *suite, const teq_dataset *ds, int64_t limit, int batch, teq_run_fn run,
                                void *run_user, int n_outputs, teq_run_fn ref, void *ref_user, const char *keys_path,
                                double floor, int64_t *stopped_at, teq_eval_result *out, teq_error *err) {
    teq_error_clear(err);
    if (stopped_at) *stopped_at = 0;
    memset(out, 0, sizeof *out);
    if (!suite || !ds || !run || !ds->inputs || ds->inputs->dtype != TEQ_DTYPE_FLOAT || ds->inputs->ndim < 1)
        return teq_error_set(err, TEQ_ERR_ARG, "eval: missing suite, data set or run function");
    if (n_outputs < 1 || n_outputs > MAX_OUT)
        return teq_error_set(err, TEQ_ERR_ARG, "eval: %d outputs (1 to %d supported)", n_outputs, MAX_OUT);
    if (limit < 0 || batch < 0) return teq_error_set(err, TEQ_ERR_ARG, "eval: negative limit or batch");
    suite_id id;
    if (strcmp(suite, "ocr-rec") == 0)
        id = S_REC;
    else if (strcmp(suite, "ocr-cls") == 0)
        id = S_CLS;
    else if (strcmp(suite, "ocr-det") == 0)
        id = S_DET;
    else if (strcmp(suite, "blazeface") == 0)
        id = S_FACE;
    else if (strcmp(suite, "mlsd") == 0)
        id = S_MLSD;
    else if (strcmp(suite, "fidelity") == 0)
        id = S_FID;
    else if (strcmp(suite, "classify") == 0)
        id = S_CLF;
    else
        return teq_error_set(err, TEQ_ERR_ARG,
                             "eval: unknown suite '%s' (ocr-rec, ocr-cls, ocr-det, blazeface, mlsd, classify, fidelity)",
                             suite);
    bool labelled = id == S_REC || id == S_CLS || id == S_CLF;
    if (labelled && !ds->labels && !ref)
        return teq_error_set(err, TEQ_ERR_ARG, "%s: the data set has no labels.txt and no reference model was given",
                             suite);
    if (!labelled && !ref)
        return teq_error_set(err, TEQ_ERR_ARG, "%s: this suite compares with a reference model; none was given", suite);
    acc a;
    memset(&a, 0, sizeof a);
    a.ds = ds;
    a.has_ref = ref != NULL;
    a.has_labels = labelled && ds->labels != NULL;
    a.n_outputs = n_outputs;
    if (ds->inputs->ndim == 4) a.img_side = ds->inputs->dims[teq_ds_nhwc(ds->inputs) ? 1 : 2];
    teq_keys *keys = NULL;
    if (id == S_REC) {
        if (!keys_path) return teq_error_set(err, TEQ_ERR_ARG, "ocr-rec: no key list given (ppocr_keys_v1.txt)");
        teq_status s = teq_keys_load(keys_path, &keys, err);
        if (s) return s;
        a.keys = keys;
    }
    int64_t n = ds->n;
    if (limit > 0 && limit < n) n = limit;
    if (batch == 0) batch = 8;
    int64_t per = 1;
    for (int d = 1; d < ds->inputs->ndim; d++) per *= ds->inputs->dims[d];
    teq_tensor *o[MAX_OUT] = {NULL}, *r[MAX_OUT] = {NULL};
    teq_status s = TEQ_OK;
    for (int64_t first = 0; first < n && !s; first += batch) {
        int64_t b = n - first < batch ? n - first : batch;
        teq_tensor view = *ds->inputs;
        view.dims[0] = b;
        view.data = (float *)ds->inputs->data + first * per;
        view.capacity = 0;
        s = run(run_user, &view, o, err);
        if (!s && ref) s = ref(ref_user, &view, r, err);
        for (int j = 0; !s && j < n_outputs; j++) {
            if (!o[j] || (ref && !r[j])) {
                s = teq_error_set(err, TEQ_ERR_INTERNAL, "%s: output %d missing", suite, j);
            } else if (ref && (o[j]->ndim != r[j]->ndim || o[j]->dtype != r[j]->dtype ||
                               memcmp(o[j]->dims, r[j]->dims, (size_t)o[j]->ndim * sizeof o[j]->dims[0]) != 0)) {
                char s1[96], s2[96];
                s = teq_error_set(err, TEQ_ERR_SHAPE, "%s: output %d has shape %s but the reference's is %s", suite, j,
                                  teq_shape_str(o[j]->ndim, o[j]->dims, s1, sizeof s1),
                                  teq_shape_str(r[j]->ndim, r[j]->dims, s2, sizeof s2));
            }
        }
        if (!s) {
            switch (id) {
            case S_REC: s = do_rec(&a, o, ref ? r : NULL, first, b, err); break;
            case S_CLS: s = do_cls(&a, o, ref ? r : NULL, first, b, err); break;
            case S_DET: s = do_det(&a, o, r, b, err); break;
            case S_FACE: s = do_face(&a, o, r, b, err); break;
            case S_MLSD: s = do_mlsd(&a, o, r, b, err); break;
            case S_FID: s = do_fid(&a, o, r, err); break;
            case S_CLF: s = do_clf(&a, o, ref ? r : NULL, first, b, err); break;
            }
        }
        free_outs(o, n_outputs);
        free_outs(r, n_outputs);
        /* the best value the whole set can still reach: every remaining sample counted */
        int64_t cnt = primary_count(id, &a);
        if (!s && stopped_at && cnt >= 0 && first + b < n && 100.0 * (double)(cnt + n - first - b) / (double)n < floor) {
            *stopped_at = first + b;
            break;
        }
    }
    teq_keys_free(keys);
    if (s) {
        free(a.ap);
        return s;
    }
    snprintf(out->suite, sizeof out->suite, "%s", suite);
    out->n = stopped_at && *stopped_at ? *stopped_at : n;
    finish(id, &a, out);
    free(a.ap);
    return TEQ_OK;
}
