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
    /* blazeface */
    int64_t face_both, face_p, face_r, box_n, score_n;
    double box_abs, score_abs;
    /* mlsd */
    int64_t peak_match, peak_p, peak_r, off_n;
    double off_abs;
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

/* ocr-det: out[0] is a probability map of any shape with the batch first. */
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
    return TEQ_OK;
}

/* blazeface: score outputs [B,A,1] (logits) paired with box outputs [B,A,16] by A. */
static teq_status do_face(acc *a, teq_tensor **o, teq_tensor **r, int64_t b, teq_error *err) {
    int n_scores = 0;
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
            const float *bx = u->data, *br = r[k]->data;
            for (int64_t i = 0; i < b * A; i++) {
                if (!(z[i] > 0)) continue;
                for (int c = 0; c < 16; c++) a->box_abs += fabs((double)bx[i * 16 + c] - (double)br[i * 16 + c]);
                a->box_n += 16;
            }
            break;
        }
    }
    if (n_scores == 0)
        return teq_error_set(err, TEQ_ERR_SHAPE, "blazeface: no output shaped [%lld,anchors,1] (scores)", (long long)b);
    return TEQ_OK;
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

/* Local maxima over 3x3 with value > MLSD_THRESH in map s [H,W]; the k highest into pk (sorted, best first).
 * Returns how many; pk must hold H*W entries (candidates are sorted in place). */
static int64_t find_peaks(const float *s, int64_t H, int64_t W, int64_t k, peak *pk) {
    int64_t n = 0;
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            float v = s[y * W + x];
            if (!(v > MLSD_THRESH)) continue;
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
    if (!pp || !owner || !taken) {
        free(pp), free(owner), free(taken);
        return teq_error_set(err, TEQ_ERR_NOMEM, "mlsd: out of memory");
    }
    peak *pr = pp + H * W;
    for (int64_t i = 0; i < H * W; i++) owner[i] = -1;
    for (int64_t i = 0; i < b; i++) {
        const float *sm = (const float *)o[js]->data + i * H * W, *sr = (const float *)r[js]->data + i * H * W;
        int64_t np = find_peaks(sm, H, W, MLSD_TOPK, pp), nr = find_peaks(sr, H, W, MLSD_TOPK, pr);
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
        if (jo >= 0) {
            const float *om = (const float *)o[jo]->data + i * H * W * 4, *orf = (const float *)r[jo]->data + i * H * W * 4;
            for (int64_t k = 0; k < nr; k++)
                for (int c = 0; c < 4; c++) {
                    int64_t e = (int64_t)pr[k].idx * 4 + c;
                    a->off_abs += fabs((double)om[e] - (double)orf[e]);
                    a->off_n++;
                }
        }
        for (int64_t k = 0; k < nr; k++) owner[pr[k].idx] = -1;
    }
    free(pp), free(owner), free(taken);
    return TEQ_OK;
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

static void finish(suite_id id, const acc *a, teq_eval_result *out) {
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
        break;
    case S_CLS:
        if (a->has_labels) add_metric(out, "accuracy", pct(a->correct, out->n, 0));
        if (a->has_ref) add_metric(out, "agreement", pct(a->cls_agree, out->n, 0));
        snprintf(out->primary, sizeof out->primary, "%s", a->has_labels ? "accuracy" : "agreement");
        break;
    case S_CLF:
        if (a->has_labels) add_metric(out, "accuracy", pct(a->correct, out->n, 0));
        if (a->has_ref) add_metric(out, "agreement", pct(a->cls_agree, out->n, 0));
        snprintf(out->primary, sizeof out->primary, "%s", a->has_labels ? "accuracy" : "agreement");
        break;
    case S_DET:
        add_metric(out, "iou", pct(a->inter, a->uni, 100));
        add_metric(out, "mae", a->det_n ? a->det_abs / (double)a->det_n : 0);
        snprintf(out->primary, sizeof out->primary, "iou");
        break;
    case S_FACE:
        add_metric(out, "anchor_f1", pct(2 * a->face_both, a->face_p + a->face_r, 100));
        add_metric(out, "box_mae", a->box_n ? a->box_abs / (double)a->box_n : 0);
        add_metric(out, "score_mae", a->score_n ? a->score_abs / (double)a->score_n : 0);
        add_metric(out, "ref_confident_anchors", (double)a->face_r);
        snprintf(out->primary, sizeof out->primary, "anchor_f1");
        break;
    case S_MLSD:
        add_metric(out, "peak_f1", pct(2 * a->peak_match, a->peak_p + a->peak_r, 100));
        add_metric(out, "offset_mae", a->off_n ? a->off_abs / (double)a->off_n : 0);
        snprintf(out->primary, sizeof out->primary, "peak_f1");
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
    if (s) return s;
    snprintf(out->suite, sizeof out->suite, "%s", suite);
    out->n = stopped_at && *stopped_at ? *stopped_at : n;
    finish(id, &a, out);
    return TEQ_OK;
}
