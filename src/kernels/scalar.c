/* The portable kernel set: plain C, always available, and the fallback the vector sets are tested
 * beside. Same results contract as every set (kernels.h): float sums in any order for the float kernels,
 * exact int32 sums for INT8. */
#include "kint.h"

/* out[(m - m0) * K + k] = scale[m] * lut[code(m, k)] */
static void decode_scalar(const teq_kw *w, int64_t m0, int64_t m1, float *out) {
    const int n = w->q.bits;
    for (int64_t m = m0; m < m1; m++) {
        const uint8_t *row = w->packed + m * w->row_bytes;
        float *o = out + (m - m0) * w->K;
        const float s = w->scale[m];
        for (int64_t k = 0; k < w->K; k++) o[k] = s * w->lut[teq_ki_code(row, k, n)];
    }
}

/* y[m] = scale[m] * sum_k lut[code(m, k)] * x[k]; four partial sums per row break the add chain. */
static void gemv_scalar(const teq_kw *w, const float *x, float *y, int64_t m0, int64_t m1) {
    const int n = w->q.bits;
    const int64_t K = w->K, K4 = K & ~(int64_t)3;
    for (int64_t m = m0; m < m1; m++) {
        const uint8_t *row = w->packed + m * w->row_bytes;
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (int64_t k = 0; k < K4; k += 4) {
            a0 += w->lut[teq_ki_code(row, k, n)] * x[k];
            a1 += w->lut[teq_ki_code(row, k + 1, n)] * x[k + 1];
            a2 += w->lut[teq_ki_code(row, k + 2, n)] * x[k + 2];
            a3 += w->lut[teq_ki_code(row, k + 3, n)] * x[k + 3];
        }
        for (int64_t k = K4; k < K; k++) a0 += w->lut[teq_ki_code(row, k, n)] * x[k];
        y[m] = w->scale[m] * ((a0 + a1) + (a2 + a3));
    }
}

/* 8-bit lanes GEMV (kernels.h) of any width: each block's dot exact, the blocks summed in order. */
static void gemv_l8_scalar(const teq_kw *w, const teq_kl8x *x, float *y, int64_t m0, int64_t m1) {
    const int n = w->q.bits, H = TEQ_KL8_B / 2;
    for (int64_t m = m0; m < m1; m++) {
        const uint8_t *row = w->packed + m * w->row_bytes;
        float s = 0;
        for (int64_t b = 0; b < x->NB; b++) {
            const int8_t *xb = x->xi + b * TEQ_KL8_B;
            int32_t dot = 0;
            for (int i = 0; i < TEQ_KL8_B; i++) {
                const int64_t k = b * TEQ_KL8_B + (i < H ? 2 * i : 2 * (i - H) + 1);
                if (k < w->K) dot += (int32_t)x->wl[teq_ki_code(row, k, n)] * xb[i];
            }
            s += x->dx[b] * (float)dot;
        }
        y[m] = (w->scale[m] * x->dw) * s;
    }
}

/* INT8: exact int32 sums (|sum| <= K4 * 127 * 255 < 2^31 for K4 < 66,000), then one conversion:
 * y = (scale[m] * xscale) * (float)(dot - zp * rowsum), the order every set uses, so that all sets agree
 * bit for bit. */
static inline float i8_out(const teq_kw *w, int64_t m, int32_t dot, int32_t zp, float xscale) {
    return (w->scale[m] * xscale) * (float)(dot - zp * w->q8_rowsum[m]);
}

static int32_t dot_u8s8(const uint8_t *x, const int8_t *wr, int64_t K4) {
    int32_t acc = 0;
    for (int64_t k = 0; k < K4; k++) acc += (int32_t)x[k] * (int32_t)wr[k];
    return acc;
}

static void i8_gemv_scalar(const teq_kw *w, const uint8_t *x, int32_t zp, float xscale, float *y, int64_t m0,
                           int64_t m1) {
    for (int64_t m = m0; m < m1; m++) y[m] = i8_out(w, m, dot_u8s8(x, w->q8 + m * w->K4, w->K4), zp, xscale);
}

static void i8_gemm_scalar(const teq_kw *w, const uint8_t *X, int64_t N, int32_t zp, float xscale, float *Y,
                           int64_t ldy, int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; m++)
        for (int64_t c = 0; c < N; c++)
            Y[m * ldy + c] = i8_out(w, m, dot_u8s8(X + c * w->K4, w->q8 + m * w->K4, w->K4), zp, xscale);
}

/* Where tap k of output n reads in the padded planes (kernels.h, teq_i8conv): the definition. */
static int64_t conv_at(const teq_i8conv *g, int64_t k, int64_t n) {
    const int64_t KK = g->KH * g->KW, c = k / KK, ky = k % KK / g->KW, kx = k % g->KW;
    return (c * g->PH + n / g->OW * g->SH + ky * g->DH) * g->PW + n % g->OW * g->SW + kx * g->DW;
}

/* INT8 convolution from codes (kernels.h): each output straight from the definition, through q8 (the
 * row-major copy), so the vector sets' panel packing and q8p are checked against a path that uses
 * neither. The bias is added in a second rounding; this file is built with -ffp-contract=off so that the
 * two roundings stay two. */
static void i8_conv_scalar(const teq_kw *w, const teq_i8conv *g, const uint8_t *Q, int32_t zp, float xscale,
                           const float *bias, float *Y, int64_t ldy, int64_t n0, int64_t n1, uint8_t *panel,
                           const teq_kpost *post) {
    (void)panel;
    for (int64_t n = n0; n < n1; n++) {
        for (int64_t m = 0; m < w->M; m++) {
            int32_t dot = 0;
            for (int64_t k = 0; k < w->K; k++) dot += (int32_t)w->q8[m * w->K4 + k] * (int32_t)Q[conv_at(g, k, n)];
            float v = i8_out(w, m, dot, zp, xscale);
            if (bias) v = v + bias[m];
            Y[m * ldy + (n - n0)] = v;
        }
    }
    if (post && n1 > n0) post->fn(post->user, Y, ldy, w->M, n0, n1);
}

/* Integer lanes (kernels.h) from the definition, through the row-major weights. */
static void i16_conv_scalar(const teq_kw16 *w, const teq_i8conv *g, const int16_t *Q, float xscale, const float *bias,
                            float *Y, int64_t ldy, int64_t n0, int64_t n1, int16_t *panel, const teq_kpost *post) {
    (void)panel;
    for (int64_t n = n0; n < n1; n++) {
        for (int64_t m = 0; m < w->M; m++) {
            int32_t dot = 0;
            for (int64_t k = 0; k < w->K; k++) dot += (int32_t)w->w[m * w->K + k] * (int32_t)Q[conv_at(g, k, n)];
            float v = (w->scale[m] * xscale) * (float)dot;
            if (bias) v = v + bias[m];
            Y[m * ldy + (n - n0)] = v;
        }
    }
    if (post && n1 > n0) post->fn(post->user, Y, ldy, w->M, n0, n1);
}

const teq_kernel_set teq_kset_scalar_tab = {
    .name = "scalar",
    .decode = decode_scalar,
    .gemv = gemv_scalar,
    .gemv_l8 = gemv_l8_scalar,
    .i8_gemv = i8_gemv_scalar,
    .i8_gemm = i8_gemm_scalar,
    .i8_conv = i8_conv_scalar,
    .i16_conv = i16_conv_scalar,
};
