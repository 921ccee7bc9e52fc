/* Evaluation internals: data sets in memory, text utilities (UTF-8, PP-OCR key lists, greedy CTC,
 * edit distance) and the evaluation suites behind teq_eval. The quantizer calls teq_eval_suite with
 * its own run functions (a model with quantized layers, and the FP32 reference).
 *
 * Suites and their measures (every value in percent unless said otherwise; "primary" is the measure a
 * --max-loss budget applies to, higher is better):
 *   ocr-rec    output [N,T,C] class scores, C = keys+2. Greedy CTC per line: argmax per time step,
 *              collapse repeats, drop the blank (0); index i in 1..K is keys[i-1], K+1 is ' '.
 *              line_accuracy = exact matches after trimming outer whitespace / N;
 *              cer = 100 * sum(levenshtein(pred, label) over code points) / sum(code points in labels);
 *              agreement (with a reference) = lines decoded identically to the reference's.
 *              Needs labels or a reference. primary: line_accuracy (agreement without labels).
 *   ocr-cls    output [N,2] scores, index 0 = "0", 1 = "180". accuracy = top-1 equal to the label;
 *              agreement = top-1 equal to the reference's. primary: accuracy (agreement without labels).
 *   classify   output 0 holds class scores with the batch first ([N,C], or [N,...] whose other axes hold
 *              the C scores; logits or probabilities alike, only the order counts). Labels are class
 *              indices in decimal, 0..C-1 (what `teq dataset idx` writes). accuracy = top-1 equal to the
 *              label; agreement = top-1 equal to the reference's (ties go to the lower index in both).
 *              Needs labels or a reference. primary: accuracy (agreement without labels).
 *   ocr-det    output probability maps (any shape with the batch first, e.g. [N,1,H,W]; the last two
 *              axes are a map's height and width); needs a reference.
 *              box_f1 = 100 * 2*matched / (|P| + |R|), P and R the text boxes of model and reference as
 *              PaddleOCR's DB post-processing finds them: the map binarised at > 0.3, 8-connected
 *              regions, a region kept when its mean probability >= 0.6 (box_thresh) and its shorter
 *              extent >= 3 pixels (min_size), its box the axis-aligned bounding box; one-to-one matches at
 *              IoU >= 0.5, counted over the data set (100 when both are empty). ref_boxes = |R|.
 *              iou = 100 * |A and B| / |A or B| over all pixels of the data set, A and B the maps of
 *              model and reference binarised at > 0.3 (100 when both are empty); mae = mean |y - y_ref|
 *              (map units, not percent). primary: box_f1 (units: |R|).
 *   blazeface  score outputs [N,A,1] (logits) and box outputs [N,A,16], paired by A, on an image batch
 *              [N,S,S,C] or [N,C,S,S]; needs a reference. Anchors: a g x g grid with 2 or 6 per cell
 *              (A = g*g*k), ordered row, column, anchor, centres ((col + 0.5) / g, (row + 0.5) / g) * S.
 *              face_f1 = 100 * 2*matched / (|P| + |R|), P and R the faces of model and reference: every
 *              anchor with sigmoid(score) > 0.5 gives the box centred at its anchor + (box[0], box[1]),
 *              box[2] x box[3] pixels, then non-maximum suppression over all outputs at IoU > 0.3 (best
 *              score first); one-to-one matches at IoU >= 0.5 (100 when both are empty). ref_faces = |R|.
 *              anchor_f1 = the same F1 over the anchors with sigmoid(score) > 0.5, before decoding;
 *              box_mae = mean |box - box_ref| over the 16 regression values of the reference's confident
 *              anchors (pixels of the input; 0 when there are none); score_mae = mean |logit - logit_ref|
 *              over all anchors. primary: face_f1 (units: |R|).
 *   mlsd       score map [N,H,W,1] and offsets [N,H,W,4]; needs a reference. Peaks: local maxima of the
 *              score map over 3x3 with score > 0.1, the 200 highest per image (M-LSD's own decoding of
 *              line centres). Segments (when the offsets output is there): a peak (x, y) and its offsets
 *              give the endpoints (x + o0, y + o1), (x + o2, y + o3); segments shorter than 20 score-map
 *              pixels are dropped (M-LSD's pred_lines). line_f1 = 100 * 2*matched / (|P| + |R|), a model
 *              segment (best score first) matched to the unmatched reference segment nearest by summed
 *              squared endpoint distance in either direction, on a 128 x 128 frame, when that is <= 10
 *              (sAP^10's rule). ref_lines = |R|. peak_f1 = the same F1 over the peaks, a model peak
 *              matched to an unmatched reference peak at most 1 pixel away (Chebyshev); offset_mae = mean
 *              |offset - offset_ref| over the 4 channels at the reference peaks (pixels of the score map).
 *              primary: line_f1 (units: |R|), peak_f1 without an offsets output.
 *   fidelity   any model; needs a reference. Per output j: if it holds class scores (rank 2 with >= 2
 *              classes, or rank 3 whose last axis sums to 1 on the reference: softmax over time steps),
 *              outJ_top1 = top-1 agreement over rows; otherwise outJ_l2 = 100 * max(0, 1 - ||y - y_ref||_2
 *              / ||y_ref||_2), norms over the whole data set. fidelity = mean over outputs (primary).
 */
#ifndef TEQ_EVAL_INTERNAL_H
#define TEQ_EVAL_INTERNAL_H

#include "../core/core.h"

/* ---- Data sets in memory ---- */

typedef struct teq_dataset {
    teq_tensor *inputs; /* [N, ...] float32 */
    char **labels;      /* N UTF-8 strings, or NULL when the data set has none */
    int64_t n;
    char kind[32];      /* dataset.json "kind" ("ocr-lines", "ocr-cls", ...), "" for bare .npy inputs */
} teq_dataset;

/* Load `path`: a data set folder (inputs.npy, optional labels.txt with N lines, optional dataset.json),
 * or a single .npy whose first axis is the batch, or a folder of .npy files each holding one sample
 * (same shape; a leading axis of 1 is taken as a batch axis and dropped), stacked in name order.
 * float64 inputs are converted to float32; other types are refused. */
teq_status teq_dataset_load(const char *path, teq_dataset **out, teq_error *err);
void teq_dataset_free(teq_dataset *d);
/* An image batch of rank 4 is NHWC when its last axis holds at most 4 values (channels), else NCHW. */
static inline bool teq_ds_nhwc(const teq_tensor *t) { return t->ndim == 4 && t->dims[3] <= 4; }

/* Computes a model's outputs for one batch [B, ...]: outputs[j] receive new tensors (the caller frees
 * them with teq_tensor_free). The batch tensor handed over by teq_eval_suite is a view into
 * ds->inputs (batch->data points inside ds->inputs->data, capacity 0), so a callback can find the
 * index of its first sample by pointer difference, e.g. to return cached reference outputs. */
typedef teq_status (*teq_run_fn)(void *user, const teq_tensor *batch, teq_tensor **outputs, teq_error *err);

/* Run `suite` (see the top of this file) over the first `limit` samples of ds (0: all), `batch` samples
 * per call (0: 8), the model through run (n_outputs outputs, at most 16) and, when ref is not NULL, the
 * reference through ref (same outputs). keys_path: the PP-OCR key list, needed by ocr-rec only.
 * Fills out (suite, n, metrics, primary). */
teq_status teq_eval_suite(const char *suite, const teq_dataset *ds, int64_t limit, int batch, teq_run_fn run,
                          void *run_user, int n_outputs, teq_run_fn ref, void *ref_user, const char *keys_path,
                          teq_eval_result *out, teq_error *err);

/* teq_eval_suite that gives up early (the quantizer's budget checks): with a counted primary (line
 * accuracy, accuracy, agreement: 100 * count / n), once even counting every remaining sample could not
 * reach `floor`, it stops, sets *stopped_at to the samples evaluated and fills out from those alone
 * (out->n = *stopped_at). Otherwise *stopped_at = 0 and the result is teq_eval_suite's. floor NaN: never
 * stops. */
teq_status teq_eval_suite_floor(const char *suite, const teq_dataset *ds, int64_t limit, int batch, teq_run_fn run,
                                void *run_user, int n_outputs, teq_run_fn ref, void *ref_user, const char *keys_path,
                                double floor, int64_t *stopped_at, teq_eval_result *out, teq_error *err);

/* Value of metric `name` in r, or NaN when r has none. */
double teq_eval_metric(const teq_eval_result *r, const char *name);

/* ---- Text ---- */

/* Decode UTF-8 into a malloc'd array of code points (*cps, *n_cps; a terminating 0 follows them).
 * Invalid sequences (overlong, surrogates, > U+10FFFF, truncated) are refused with TEQ_ERR_FORMAT;
 * *bad_at (when not NULL) receives the byte offset of the first one. */
teq_status teq_utf8_decode(const char *s, size_t len, uint32_t **cps, size_t *n_cps, size_t *bad_at);
/* Encode one code point into out (no terminator); returns bytes written (1..4), 0 if cp is invalid. */
int teq_utf8_encode(uint32_t cp, char out[4]);
/* Levenshtein distance (unit costs) between code point strings. */
int64_t teq_levenshtein(const uint32_t *a, size_t na, const uint32_t *b, size_t nb);
/* The same on UTF-8 strings; -1 when either is not valid UTF-8 or memory runs out. */
int64_t teq_levenshtein_utf8(const char *a, const char *b);

/* A PP-OCR character list: one entry per line (UTF-8, usually one character), class index = line
 * number + 1 (0 is the CTC blank), and a space appended as class n+1. */
typedef struct teq_keys {
    char **entries;    /* n entries, entry i is class i+1 */
    int64_t n;
    uint32_t *single;  /* sorted code points of the one-character entries, for teq_keys_has */
    int64_t n_single;
} teq_keys;
teq_status teq_keys_load(const char *path, teq_keys **out, teq_error *err);
void teq_keys_free(teq_keys *k);
/* Whether cp can be written with this key list (space always can). */
bool teq_keys_has(const teq_keys *k, uint32_t cp);

/* Greedy CTC decoding of one sample: scores [T,C] row-major with C = k->n + 2. *out receives a malloc'd
 * UTF-8 string. */
teq_status teq_ctc_greedy_decode(const float *scores, int64_t T, int64_t C, const teq_keys *k, char **out,
                                 teq_error *err);

/* ---- A growing string, for JSON and labels ---- */
typedef struct teq_sbuf {
    char *p;
    size_t len, cap;
    bool failed; /* an allocation failed: the content is incomplete */
} teq_sbuf;
void teq_sbuf_printf(teq_sbuf *b, const char *fmt, ...) TEQ_PRINTF(2, 3);
void teq_sbuf_append(teq_sbuf *b, const char *s, size_t n);
/* s as a JSON string literal, quotes included. */
void teq_sbuf_json_string(teq_sbuf *b, const char *s);
/* A double as JSON (null when not finite). */
void teq_sbuf_json_number(teq_sbuf *b, double v);
void teq_sbuf_free(teq_sbuf *b);

/* "ppocr_keys_v1.txt" in the folder of model_path (malloc'd; NULL when out of memory): where the
 * PP-OCR key list sits when the models come from the npm package. */
char *teq_eval_default_keys(const char *model_path);

#endif
