/* Quantization codes and their search (METHOD sections 1-4). Pure numerics: no graph, no files.
 *
 * Codes are stored unpacked as one uint8_t per value here (teq_pack_bits packs them n bits each).
 *
 * Exponential code (TEQ_CODE_EXP), n bits, base b > 1, scale alpha > 0, offset beta:
 *     level(e) = alpha * b^e + beta, strictly increasing in e, level(0) > 0.
 *   signed tensor:   code = s << (n-1) | e, e in 0 .. 2^(n-1)-1, value = (-1)^s * level(e);
 *                    with zero_code, the pattern s=1, e=0 (code 2^(n-1)) means exactly 0.
 *   unsigned tensor (non-negative on the calibration data): no sign bit, code = e in 0 .. 2^n-1,
 *                    value = level(e); with zero_code, code 0 means exactly 0 and code c >= 1
 *                    means level(c-1).
 *   Quantize: m = |x|; with zero_code, m <= level(0)/2 gives the zero code; otherwise the nearest
 *   level (ties to the lower value), clamped to the top; s = (x < 0). A signed code with zero_code has
 *   no -level(0) (its pattern is the zero), so x < 0 takes the nearest of 0, -level(1), -level(2), ...
 *   An unsigned code maps x < 0 to its smallest magnitude code (zero when zero_code is on). NaN
 *   quantizes like 0. The levels are the float32 values (float)(alpha * pow(b, e) + beta); a valid code
 *   (teq_qparams_check) has them finite and strictly increasing in float32 too.
 *
 * Linear code (TEQ_CODE_LINEAR), n bits, value = scale * (q - zero_point):
 *   signed (symmetric, weights): zero_point 0, q in -(2^(n-1)-1) .. 2^(n-1)-1, code = q + 2^(n-1);
 *   unsigned (asymmetric, activations): q in 0 .. 2^n-1, code = q, zero_point in 0 .. 2^n-1.
 *   Quantize: q = clamp(round_half_even(x/scale) + zero_point) (x/scale in double; NaN gives q = zero_point).
 *   lin_f32 = 1 (every linear code teq's quantizer makes; stored as kind 3, format 1.2): ONNX's QuantizeLinear
 *   and DequantizeLinear instead, so that a QDQ export is the same model to the last bit: x / scale is a
 *   float32 division by s = (float)scale, and the value is (float)(q - zero_point) * s in float32; with
 *   per-channel scales (graph.h) s = (float)(scale * ch_scale[c]), one rounding, instead of a second
 *   multiplication. NaN still gives q = zero_point.
 */
#ifndef TEQ_QUANT_H
#define TEQ_QUANT_H

#include "../core/core.h"

#define TEQ_QBITS_MIN 2
#define TEQ_QBITS_MAX 8

typedef enum teq_code_kind {
    TEQ_CODE_NONE = 0, /* not quantized (float32) */
    TEQ_CODE_EXP = 1,
    TEQ_CODE_LINEAR = 2,
} teq_code_kind;

typedef struct teq_qparams {
    teq_code_kind kind;
    int bits;       /* n, TEQ_QBITS_MIN .. TEQ_QBITS_MAX */
    int is_signed;  /* 1: a sign bit (exp) / symmetric (linear); 0: non-negative code */
    int zero_code;  /* exp only: one code means exactly 0 */
    double base;    /* exp: b > 1 */
    double alpha;   /* exp: > 0 */
    double beta;    /* exp: alpha + beta > 0 */
    double scale;   /* linear: > 0 */
    int32_t zero_point; /* linear, unsigned only */
    int lin_f32;        /* linear: 1 = the float32 rule above (ONNX QuantizeLinear), 0 = in double */
} teq_qparams;

/* The code kind as files store it (node qparams value 0, tensor record q_kind): 3 for a float32 linear code. */
#define TEQ_CODE_STORED_LINEAR_F32 3
static inline int teq_q_stored_kind(const teq_qparams *p) {
    return p->kind == TEQ_CODE_LINEAR && p->lin_f32 ? TEQ_CODE_STORED_LINEAR_F32 : (int)p->kind;
}
/* Sets kind and lin_f32 from a stored kind (any other value is kept as the kind, for the check to refuse). */
static inline void teq_q_set_stored_kind(teq_qparams *p, int k) {
    p->lin_f32 = k == TEQ_CODE_STORED_LINEAR_F32;
    p->kind = p->lin_f32 ? TEQ_CODE_LINEAR : (teq_code_kind)k;
}

/* A float32 linear code's q for x (quant.h's rule above): fl32(x / s), NaN to 0, clamped to [lo, hi], rounded
 * half to even by the 1.5 * 2^23 sum (exact for |v| < 2^22, and v is at most 255 here); returned as a float,
 * an integer. s = (float)scale; lo, hi the range of q (integers). The scalar loops (code.c, kernels/kq.c) share
 * it; the vector bodies compute the same with the conversion's rounding. */
static inline float teq_q_lin32(float x, float s, float lo, float hi) {
    float v = x / s;
    v = v == v ? v : 0.0f;
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (v + 12582912.0f) - 12582912.0f;
}

/* TEQ_OK when p is a well-formed code (ranges above, finite numbers, level(0) > 0). msg gets why not. */
teq_status teq_qparams_check(const teq_qparams *p, char *msg, size_t msg_len);

/* Number of distinct codes (2^bits). */
int teq_q_num_codes(const teq_qparams *p);
/* value of every code into table[teq_q_num_codes(p)] (the dequantization table). */
void teq_q_code_table(const teq_qparams *p, float *table);
/* x[n] -> codes[n]. */
void teq_q_quantize(const teq_qparams *p, const float *x, int64_t n, uint8_t *codes);
/* codes[n] -> y[n] (codes >= num_codes are clamped: never read outside the table). */
void teq_q_dequantize(const teq_qparams *p, const uint8_t *codes, int64_t n, float *y);
/* The same for elements start .. start+n-1 of a tensor with per-channel scales ch_scale[n_ch], channel
 * (i / inner) % n_ch of element i (graph.h's qweight): value = decode(code) * ch_scale, or for a float32 linear
 * code (float)(q - zero_point) * (float)(scale * ch_scale), the one rounding DequantizeLinear makes.
 * ch_scale NULL: no channel scales. */
void teq_q_dequantize_ch(const teq_qparams *p, const uint8_t *codes, int64_t n, int64_t start, const float *ch_scale,
                         int64_t n_ch, int64_t inner, float *y);
/* y = dequantize(quantize(x)); y may alias x. */
void teq_q_fake(const teq_qparams *p, const float *x, int64_t n, float *y);
/* Relative mean absolute error sum|x - q(x)| / sum|x| (0 when sum|x| is 0). */
double teq_q_rmae(const teq_qparams *p, const float *x, int64_t n);

/* Pack n values of `bits` bits each, LSB first in little-endian bytes; out has
 * teq_packed_bytes(n, bits) bytes. Unpack is the inverse (codes masked to `bits`). */
size_t teq_packed_bytes(int64_t n, int bits);
void teq_pack_bits(const uint8_t *codes, int64_t n, int bits, uint8_t *out);
void teq_unpack_bits(const uint8_t *in, int64_t n, int bits, uint8_t *codes);

/* ---- statistics of a tensor over calibration data, in bounded memory ---- */
typedef struct teq_tstats {
    int64_t count, n_zero, n_neg;
    double min, max, sum_abs, sum_sq;
    float *sample;              /* reservoir sample of up to cap values (uniform over all added) */
    int64_t sample_n, sample_cap;
    uint64_t rng;
    double res_w;               /* reservoir state (Algorithm L): current weight */
    int64_t res_next;           /* index (counting every value added) of the next value to enter */
} teq_tstats;
/* count counts every value; NaN values are left out of min, max, sums, n_zero and n_neg. */
teq_status teq_tstats_init(teq_tstats *s, int64_t cap, uint64_t seed);
void teq_tstats_add(teq_tstats *s, const float *x, int64_t n);
void teq_tstats_free(teq_tstats *s);

/* ---- exponential search (METHOD section 2) ---- */

/* The default base grid: dense near 1 (1.01 .. 1.1), then coarser up to 4, plus exactly 2 and sqrt(2),
 * ascending. Returns the count; bases may be NULL to ask for the count. */
int teq_default_bases(double *bases, int cap);

/* For one tensor given by a sample x[n] (weights: all values or a sample; activations: a
 * teq_tstats sample), is_signed / zero_code decided by the caller, and every base of the grid and
 * every width min_bits..max_bits: the (alpha, beta) minimising the RMAE, and that RMAE.
 * fit->params[i * n_widths + (bits - min_bits)] and fit->err[same] for base i.
 * Non-finite values of x are ignored. For each base, err is finite and never grows with one more bit
 * over widths min_bits .. k, and INFINITY (params.kind TEQ_CODE_NONE) above k: where no code of that
 * base and width fits in float32 (base^(levels-1) beyond ~1e72) or none beats the narrower one (which
 * is a candidate whenever its levels, shifted by whole exponents, fit). In practice only large bases at
 * 7-8 bits, whose levels would mostly lie far above the data, are INFINITY. */
typedef struct teq_tensor_fit {
    int n_bases, min_bits, max_bits;
    double *bases;       /* copy of the grid */
    teq_qparams *params; /* [n_bases][n_widths] */
    double *err;         /* [n_bases][n_widths], RMAE on x */
} teq_tensor_fit;
teq_status teq_exp_fit_tensor(const float *x, int64_t n, int is_signed, int zero_code, const double *bases,
                              int n_bases, int min_bits, int max_bits, teq_tensor_fit *fit, teq_error *err);
void teq_tensor_fit_free(teq_tensor_fit *fit);

/* ---- linear codes (INT8 baseline, METHOD section 3b) ---- */
typedef enum teq_linear_calib {
    TEQ_LINEAR_MINMAX = 0,     /* range = [min, max] (symmetric: max |x|) */
    TEQ_LINEAR_PERCENTILE = 1, /* range clipped at the 99.99th percentile of |x| (or both tails) */
    TEQ_LINEAR_MSE = 2,        /* clip range searched to minimise the mean squared error */
} teq_linear_calib;
teq_status teq_linear_fit(const float *x, int64_t n, int bits, int is_signed, teq_linear_calib how, teq_qparams *out,
                          teq_error *err);

/* ---- error-compensating weight rounding (GPTQ / OBQ, METHOD section 3a; src/quant/gptq.c) ----
 * A layer y = W x, W [M, K] row-major (rows = outputs; weights already divided by their row's scale),
 * H [K, K] = X^T X of its calibration inputs (one input vector per row of X), so the output error of
 * quantized weights is sum_m (w_m - q_m)^T H (w_m - q_m). */

/* Turns H in place into what teq_gptq_round needs: U [K, K], the upper Cholesky factor of
 * (P^T (H + lambda I) P)^-1 with lambda = damp * mean(diag H) (raised x10 until it factors), P the
 * rounding order perm[K] (perm[k] = the column rounded k-th: 0..K-1, or by decreasing H_kk with
 * act_order). Only the upper triangle of H is read (accumulations may fill just that). An input with
 * H_kk = 0 (never non-zero in calibration) gets mean(diag H) on the diagonal first. TEQ_ERR_INTERNAL
 * when H has a non-finite entry or does not factor even damped 10^6 times more (the caller may then
 * round to nearest). */
teq_status teq_gptq_prepare(double *H, int64_t K, double damp, int act_order, int64_t *perm, teq_error *err);
/* codes[M, K] for w[M, K]: the columns of each row rounded in the order perm to the nearest value the
 * code p can produce, each rounding error spread onto the row's remaining columns through U. A value
 * already on the grid, with no error arriving, keeps its exact code. Rows are independent (threads
 * split rows; the result does not depend on their number). TEQ_ERR_NOMEM when its work rows cannot be
 * allocated (codes then undefined). */
teq_status teq_gptq_round(const teq_qparams *p, const float *w, int64_t M, int64_t K, const double *U,
                          const int64_t *perm, int threads, uint8_t *codes);
/* sum_m (w_m - wq_m)^T H (w_m - wq_m) for full (symmetric) H [K, K]: the layer's output error. */
double teq_gptq_loss(const float *w, const float *wq, int64_t M, int64_t K, const double *H);

/* ---- distribution analysis (METHOD section 4) ---- */
typedef enum teq_family {
    TEQ_FAMILY_UNIFORM = 0,
    TEQ_FAMILY_GAUSSIAN = 1,
    TEQ_FAMILY_LAPLACE = 2,
    TEQ_FAMILY_EXPONENTIAL = 3,
    TEQ_N_FAMILIES = 4,
} teq_family;
const char *teq_family_name(teq_family f);

typedef struct teq_dist_fit {
    double ks[TEQ_N_FAMILIES];        /* Kolmogorov-Smirnov statistic of each family (lower is better) */
    double p1[TEQ_N_FAMILIES], p2[TEQ_N_FAMILIES]; /* each family's fitted parameters (documented in dist.c) */
    teq_family best;
    double zero_fraction;             /* exact zeros, excluded from the fits */
    int64_t n;                        /* values fitted (<= 65536) */
} teq_dist_fit;
/* Fit the four families to the magnitudes |x| of the finite non-zero values of x[n] (a fixed-seed uniform
 * sample of 65536 of them when there are more; out->n is the number fitted). TEQ_ERR_ARG when x has no
 * finite non-zero value. */
teq_status teq_dist_fit_tensor(const float *x, int64_t n, teq_dist_fit *out, teq_error *err);
/* Density of family f with the fitted parameters at magnitude m (for plots). */
double teq_dist_pdf(const teq_dist_fit *fit, teq_family f, double m);

/* SVG picture: histogram of |x| (non-zero values) with the four fitted densities, a legend with
 * each KS statistic, and the title. Written atomically. */
teq_status teq_plot_dist_svg(const char *path, const char *title, const float *x, int64_t n, const teq_dist_fit *fit,
                             teq_error *err);

/* SVG overview of many tensors: for each tensor (one row, in order) the KS statistic of each
 * family, and a bar with the share of tensors each family fits best. */
teq_status teq_plot_overview_svg(const char *path, const char *title, int n, const char *const *names,
                                 const teq_dist_fit *fits, teq_error *err);

/* SVG of a trade-off: each series a polyline of (x, y) points (x increasing), an optional single point
 * (INT8), an optional horizontal line (FP32) and an optional marked point (the chosen configuration);
 * NaN leaves an optional element out. The axes span the data, not from 0, since the interesting range
 * of an accuracy is its top few points; with a line, at most 10 below it (lower values sit on the
 * bottom edge). */
typedef struct teq_plot_series {
    const char *name, *color;
    int n;
    const double *x, *y;
} teq_plot_series;
teq_status teq_plot_tradeoff_svg(const char *path, const char *title, const char *xlabel, const char *ylabel, int n_series,
                                 const teq_plot_series *series, double point_x, double point_y, const char *point_name,
                                 double line_y, const char *line_name, double mark_x, double mark_y, const char *mark_name,
                                 teq_error *err);

#endif
