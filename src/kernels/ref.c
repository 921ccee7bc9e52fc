/* The reference kernels: the definition of a quantized layer's result (kernels.h).
 *
 * Exponential (METHOD section 5). With w_k = s(alpha_w b^i + beta_w) and a_k = s(alpha_a b^j + beta_a),
 * d_k = +-1 the product of the signs, and pairs with a zero skipped:
 *     sum_k w_k a_k = aw*aa * sum_t C1[t] b^t + aw*ba * sum_i C2[i] b^i + bw*aa * sum_j C3[j] b^j + bw*ba * C4
 *     C1[t] = sum_{i_k + j_k = t} d_k,  C2[i] = sum_{i_k = i} d_k,  C3[j] = sum_{j_k = j} d_k,  C4 = sum d_k.
 * The counters are exact integers; the four final sums use b^t = pow(b, t) in double and are rounded to
 * float once, after the row scale.
 *
 * Speed is not the point here: each output walks its K pairs once with integer work only, so a whole
 * PP-OCRv4 rec inference takes seconds, which is what the model-level comparison needs. */
#include "kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A code split for counting: e = exponent index (>= 0), neg = sign, or e = -1 for an exact zero. */
typedef struct { int16_t e; int8_t neg; } split;

/* Split table of an exponential code: code -> (e, neg) following quant.h's layout. */
static void exp_split_table(const teq_qparams *p, split *t) {
    const int n = p->bits, nc = 1 << n;
    for (int c = 0; c < nc; c++) {
        if (p->is_signed) {
            const int E = nc / 2;
            t[c].neg = (int8_t)(c >= E);
            t[c].e = (int16_t)(c & (E - 1));
            if (p->zero_code && c == E) t[c].e = -1;
        } else {
            t[c].neg = 0;
            t[c].e = (int16_t)(p->zero_code ? c - 1 : c); /* code 0 is the zero: e = -1 */
        }
    }
}

/* Map the values of one column (each exactly 0 or a value of code qa) back to codes, then split.
 * Exact zeros (padding) stay zeros whatever the code: the FP32 path pads after quantization too. */
static void column_split(const teq_qparams *qa, const split *tab, const float *A, int64_t sak, int64_t K,
                         float *tmp, uint8_t *codes, split *out) {
    for (int64_t k = 0; k < K; k++) tmp[k] = A[k * sak];
    teq_q_quantize(qa, tmp, K, codes);
    for (int64_t k = 0; k < K; k++) {
        out[k] = tab[codes[k]];
        if (tmp[k] == 0.0f) out[k].e = -1;
    }
}

teq_status teq_kref_exp_gemm(const teq_kw *w, const teq_qparams *qa, const float *A, int64_t sak, int64_t san,
                             int64_t N, float *Y, int64_t sym, int64_t syn, int accumulate, int n_threads) {
    const teq_qparams *qw = &w->q;
    if (qw->kind != TEQ_CODE_EXP || qa->kind != TEQ_CODE_EXP || qw->base != qa->base) return TEQ_ERR_ARG;
    const int64_t M = w->M, K = w->K;
    const int Ew = 1 << (qw->is_signed ? qw->bits - 1 : qw->bits), Ea = 1 << (qa->is_signed ? qa->bits - 1 : qa->bits);
    const int T = Ew + Ea - 1; /* exponent sums 0 .. Ew + Ea - 2 */
    split wt[256], at[256];
    exp_split_table(qw, wt);
    exp_split_table(qa, at);
    double *pw = malloc(sizeof(double) * (size_t)T);
    split *ws = malloc(sizeof(split) * (size_t)(M * K + 1));
    if (!pw || !ws) {
        free(pw), free(ws);
        return TEQ_ERR_NOMEM;
    }
    for (int t = 0; t < T; t++) pw[t] = pow(qw->base, t);
    for (int64_t m = 0; m < M; m++)
        for (int64_t k = 0; k < K; k++) ws[m * K + k] = wt[teq_kw_code(w, m, k)];
    const double aw = qw->alpha, bw = qw->beta, aa = qa->alpha, ba = qa->beta;
    int failed = 0;
#pragma omp parallel num_threads(n_threads) if (n_threads > 1)
    {
        float *tmp = malloc(sizeof(float) * (size_t)(K + 1));
        uint8_t *codes = malloc((size_t)K + 1);
        split *as = malloc(sizeof(split) * (size_t)(K + 1));
        int64_t *C1 = malloc(sizeof(int64_t) * (size_t)(T + Ew + Ea));
        if (!tmp || !codes || !as || !C1) {
#pragma omp atomic write
            failed = 1;
        } else {
            int64_t *C2 = C1 + T, *C3 = C2 + Ew;
#pragma omp for schedule(dynamic, 1)
            for (int64_t n = 0; n < N; n++) {
                column_split(qa, at, A + n * san, sak, K, tmp, codes, as);
                for (int64_t m = 0; m < M; m++) {
                    memset(C1, 0, sizeof(int64_t) * (size_t)(T + Ew + Ea));
                    int64_t C4 = 0;
                    const split *wr = ws + m * K;
                    for (int64_t k = 0; k < K; k++) {
                        const split x = wr[k], y = as[k];
                        if (x.e < 0 || y.e < 0) continue; /* a zero: no term */
                        const int d = (x.neg ^ y.neg) ? -1 : 1;
                        C1[x.e + y.e] += d; /* exponent addition, then counter updates */
                        C2[x.e] += d;
                        C3[y.e] += d;
                        C4 += d;
                    }
                    double s1 = 0, s2 = 0, s3 = 0;
                    for (int t = 0; t < T; t++) s1 += (double)C1[t] * pw[t];
                    for (int i = 0; i < Ew; i++) s2 += (double)C2[i] * pw[i];
                    for (int j = 0; j < Ea; j++) s3 += (double)C3[j] * pw[j];
                    const double s = aw * aa * s1 + aw * ba * s2 + bw * aa * s3 + bw * ba * (double)C4;
                    float *y = Y + m * sym + n * syn;
                    const double r = (double)w->scale[m] * s;
                    *y = accumulate ? (float)((double)*y + r) : (float)r;
                }
            }
        }
        free(tmp), free(codes), free(as), free(C1);
    }
    free(pw), free(ws);
    return failed ? TEQ_ERR_NOMEM : TEQ_OK;
}

/* INT8 (linear codes): exact integer sums of q_w * q_a, q_a = code - zero point (unsigned) or code - 2^(n-1)
 * (signed), then one rounding after both scales. */
teq_status teq_kref_i8_gemm(const teq_kw *w, const teq_qparams *qa, const float *A, int64_t sak, int64_t san,
                            int64_t N, float *Y, int64_t sym, int64_t syn, int accumulate, int n_threads) {
    if (w->q.kind != TEQ_CODE_LINEAR || qa->kind != TEQ_CODE_LINEAR) return TEQ_ERR_ARG;
    const int64_t M = w->M, K = w->K;
    const int nc = teq_q_num_codes(qa), aoff = qa->is_signed ? nc / 2 : qa->zero_point;
    const double sa = qa->lin_f32 ? (double)(float)qa->scale : qa->scale; /* the step the codes' values use */
    int failed = 0;
#pragma omp parallel num_threads(n_threads) if (n_threads > 1)
    {
        float *tmp = malloc(sizeof(float) * (size_t)(K + 1));
        uint8_t *codes = malloc((size_t)K + 1);
        int32_t *qv = malloc(sizeof(int32_t) * (size_t)(K + 1));
        if (!tmp || !codes || !qv) {
#pragma omp atomic write
            failed = 1;
        } else {
#pragma omp for schedule(dynamic, 1)
            for (int64_t n = 0; n < N; n++) {
                for (int64_t k = 0; k < K; k++) tmp[k] = A[n * san + k * sak];
                teq_q_quantize(qa, tmp, K, codes);
                for (int64_t k = 0; k < K; k++) qv[k] = tmp[k] == 0.0f ? 0 : codes[k] - aoff;
                for (int64_t m = 0; m < M; m++) {
                    int64_t acc = 0;
                    for (int64_t k = 0; k < K; k++) acc += (int64_t)(int)w->lut[teq_kw_code(w, m, k)] * qv[k];
                    const double r = (double)w->scale[m] * sa * (double)acc;
                    float *y = Y + m * sym + n * syn;
                    *y = accumulate ? (float)((double)*y + r) : (float)r;
                }
            }
        }
        free(tmp), free(codes), free(qv);
    }
    return failed ? TEQ_ERR_NOMEM : TEQ_OK;
}
