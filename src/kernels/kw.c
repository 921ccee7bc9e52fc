/* Weights laid out for the kernels (kernels.h), and the kernel-path switch. */
#include "kint.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

teq_status teq_kw_init(teq_kw *w, const teq_qparams *q, int64_t M, int64_t K, const uint8_t *codes,
                       const float *row_scale, teq_error *err) {
    memset(w, 0, sizeof *w);
    char msg[160];
    if (q->kind != TEQ_CODE_EXP && q->kind != TEQ_CODE_LINEAR)
        return teq_error_set(err, TEQ_ERR_ARG, "kernel weights need an exponential or linear code");
    if (teq_qparams_check(q, msg, sizeof msg)) return teq_error_set(err, TEQ_ERR_ARG, "kernel weights: %s", msg);
    if (M < 0 || K < 0) return teq_error_set(err, TEQ_ERR_ARG, "kernel weights: negative size");
    w->M = M, w->K = K, w->q = *q;
    w->row_bytes = round_up((int64_t)teq_packed_bytes(K, q->bits), 64);
    if (w->row_bytes == 0) w->row_bytes = 64;
    size_t bytes, fbytes;
    if (!teq_mul_size((size_t)M, (size_t)w->row_bytes, &bytes) || bytes > SIZE_MAX - 64 ||
        !teq_mul_size((size_t)(M ? M : 1), sizeof(float), &fbytes))
        return teq_error_set(err, TEQ_ERR_NOMEM, "kernel weights of %lld x %lld overflow", (long long)M, (long long)K);
    bytes += 64;
    w->packed = aligned_alloc(64, bytes);
    w->scale = malloc(fbytes);
    if (!w->packed || !w->scale) goto nomem;
    memset(w->packed, 0, bytes);
    for (int64_t m = 0; m < M; m++) teq_pack_bits(codes + m * K, K, q->bits, w->packed + m * w->row_bytes);

    const int nc = teq_q_num_codes(q);
    const int off = q->kind == TEQ_CODE_LINEAR ? (q->is_signed ? nc / 2 : q->zero_point) : 0;
    if (q->kind == TEQ_CODE_EXP) {
        teq_q_code_table(q, w->lut);
    } else {
        for (int c = 0; c < nc; c++) w->lut[c] = (float)(c - off);
    }
    for (int c = nc; c < 256; c++) w->lut[c] = 0;
    const double step = q->kind == TEQ_CODE_LINEAR ? q->scale : 1.0;
    for (int64_t m = 0; m < M; m++) w->scale[m] = (float)((row_scale ? (double)row_scale[m] : 1.0) * step);
    /* the smallest non-zero |value| without the row scale: a row whose scale times it is below 2^-126 can
     * decode to subnormals (products in float, as the decoders form them) */
    float vmin = INFINITY;
    for (int c = 0; c < nc; c++)
        if (w->lut[c] != 0 && fabsf(w->lut[c]) < vmin) vmin = fabsf(w->lut[c]);
    for (int64_t m = 0; m < M && !w->subnormal; m++)
        w->subnormal = w->scale[m] != 0 && fabsf(w->scale[m] * vmin) < FLT_MIN;

    if (q->kind == TEQ_CODE_LINEAR && q->is_signed) {
        /* int8 copy for the INT8 path: q = code - 2^(n-1) is in -(2^(n-1)) .. 2^(n-1)-1, an int8 for n <= 8. */
        w->K4 = round_up(K ? K : 1, 64);
        if (!teq_mul_size((size_t)M, (size_t)w->K4, &bytes)) goto nomem;
        w->q8 = aligned_alloc(64, bytes ? bytes : 64);
        w->q8_rowsum = malloc(fbytes);
        if (!w->q8 || !w->q8_rowsum) goto nomem;
        memset(w->q8, 0, bytes);
        for (int64_t m = 0; m < M; m++) {
            int32_t s = 0;
            for (int64_t k = 0; k < K; k++) {
                int v = codes[m * K + k] - off;
                w->q8[m * w->K4 + k] = (int8_t)v;
                s += v;
            }
            w->q8_rowsum[m] = s;
        }
        w->q8_pairs = 1;
        for (int64_t m = 0; m < M && w->q8_pairs; m++)
            for (int64_t k = 0; k + 1 < K; k += 2)
                if (abs(w->q8[m * w->K4 + k]) + abs(w->q8[m * w->K4 + k + 1]) > 128) {
                    w->q8_pairs = 0;
                    break;
                }
        const int64_t MR = TEQ_I8C_MR, Mb = (M + MR - 1) / MR;
        w->Kq = round_up(K ? K : 1, 4);
        if (!teq_mul_size((size_t)Mb, (size_t)(w->Kq * MR), &bytes)) goto nomem;
        w->q8p = aligned_alloc(64, round_up((int64_t)bytes, 64) + 64);
        if (!w->q8p) goto nomem;
        memset(w->q8p, 0, (size_t)round_up((int64_t)bytes, 64) + 64);
        for (int64_t m = 0; m < M; m++)
            for (int64_t k = 0; k < K; k++)
                w->q8p[((m / MR) * (w->Kq / 4) + k / 4) * MR * 4 + (m % MR) * 4 + k % 4] = w->q8[m * w->K4 + k];
    }
    return TEQ_OK;
nomem:
    teq_kw_free(w);
    return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory for kernel weights (%lld x %lld)", (long long)M,
                         (long long)K);
}

void teq_kw_free(teq_kw *w) {
    free(w->packed);
    free(w->scale);
    free(w->q8);
    free(w->q8_rowsum);
    free(w->q8p);
    memset(w, 0, sizeof *w);
}

teq_status teq_kw16_init(teq_kw16 *w, int64_t M, int64_t K, const int16_t *vals, const float *scale, teq_error *err) {
    memset(w, 0, sizeof *w);
    const int64_t MR = TEQ_I8C_MR, Mb = (M + MR - 1) / MR;
    size_t nb, pb;
    if (M < 0 || K < 0 || !teq_mul_size((size_t)M, (size_t)K, &nb) || !teq_mul_size(nb, 2, &nb) ||
        !teq_mul_size((size_t)Mb, (size_t)(round_up(K ? K : 1, 2) * MR), &pb) || !teq_mul_size(pb, 2, &pb))
        return teq_error_set(err, TEQ_ERR_NOMEM, "lane weights of %lld x %lld overflow", (long long)M, (long long)K);
    w->M = M, w->K = K, w->K2 = round_up(K ? K : 1, 2);
    w->w = malloc(nb + 2);
    w->p = aligned_alloc(64, (size_t)round_up((int64_t)pb, 64) + 64);
    w->scale = malloc(sizeof(float) * (size_t)(M + 1));
    if (!w->w || !w->p || !w->scale) {
        teq_kw16_free(w);
        return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory for lane weights (%lld x %lld)", (long long)M,
                             (long long)K);
    }
    memcpy(w->w, vals, nb);
    memcpy(w->scale, scale, sizeof(float) * (size_t)M);
    memset(w->p, 0, (size_t)round_up((int64_t)pb, 64) + 64);
    for (int64_t m = 0; m < M; m++)
        for (int64_t k = 0; k < K; k++)
            w->p[((m / MR) * (w->K2 / 2) + k / 2) * MR * 2 + (m % MR) * 2 + k % 2] = vals[m * K + k];
    return TEQ_OK;
}

void teq_kw16_free(teq_kw16 *w) {
    free(w->w);
    free(w->p);
    free(w->scale);
    memset(w, 0, sizeof *w);
}

/* *p: rows x K floats (64-byte aligned, zeroed, 64 bytes of slack); what (the weights' name in the messages) of
 * M x K on failure */
static teq_status floats_alloc(float **p, int64_t rows, int64_t K, const char *what, int64_t M, teq_error *err) {
    *p = NULL;
    size_t pb;
    if (M < 0 || K < 0 || rows < 0 || !teq_mul_size((size_t)rows, (size_t)K, &pb) ||
        !teq_mul_size(pb, sizeof(float), &pb) || pb > SIZE_MAX - 128)
        return teq_error_set(err, TEQ_ERR_NOMEM, "%s weights of %lld x %lld overflow", what, (long long)M, (long long)K);
    const size_t bytes = (size_t)round_up((int64_t)pb, 64) + 64;
    if (!(*p = aligned_alloc(64, bytes)))
        return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory for %s weights (%lld x %lld)", what, (long long)M,
                             (long long)K);
    memset(*p, 0, bytes);
    return TEQ_OK;
}

/* w->p for `rows` packed rows of K floats each, M and K set */
static teq_status kwf_alloc(teq_kwf *w, int64_t M, int64_t K, int64_t rows, teq_error *err) {
    memset(w, 0, sizeof *w);
    const teq_status s = floats_alloc(&w->p, rows, K, "FP32", M, err);
    if (!s) w->M = M, w->K = K;
    return s;
}

teq_status teq_kwf_init(teq_kwf *w, int64_t M, int64_t K, const float *W, teq_error *err) {
    const int64_t MR = TEQ_F32C_MR, Mb = (M + MR - 1) / MR;
    const teq_status s = kwf_alloc(w, M, K, Mb * MR, err);
    if (s) return s;
    for (int64_t b = 0; b < Mb; b++)
        teq_kwf_pack_block(W + b * MR * K, M - b * MR < MR ? M - b * MR : MR, K, w->p + b * K * MR);
    return TEQ_OK;
}

teq_status teq_kwf_init_mv(teq_kwf *w, int64_t M, int64_t K, const float *W, teq_error *err) {
    const int64_t MB = TEQ_F32C_MV_MB, Mb = (M + MB - 1) / MB, last = M - MB * (Mb - 1), Wl = 16 * ((last + 15) / 16);
    const teq_status s = kwf_alloc(w, M, K, M < 1 ? 0 : MB * (Mb - 1) + Wl, err);
    if (s) return s;
    w->mv = 1;
    for (int64_t b = 0; b < Mb; b++)
        teq_kwf_pack_block_mv(W + MB * K * b, M - MB * b < MB ? M - MB * b : MB, K, w->p + MB * K * b);
    return TEQ_OK;
}

/* A weight's bits flushed (teq_k_flush_bits) in the integer registers: a float select made the packers 4x
 * slower (decoded exponential layers are packed on every run) */
static inline uint32_t flush_u32(const float *w) {
    uint32_t b;
    memcpy(&b, w, 4);
    return teq_k_flush_bits(b);
}

/* [rows][K] into [K][Wb], rows past `rows` 0 */
static void pack_t(const float *W, int64_t rows, int64_t K, int64_t Wb, float *p) {
    uint32_t *q = (uint32_t *)(void *)p;
    for (int64_t k = 0; k < K; k++) {
        for (int64_t r = 0; r < rows; r++) q[k * Wb + r] = flush_u32(W + r * K + k);
        for (int64_t r = rows; r < Wb; r++) q[k * Wb + r] = 0;
    }
}

void teq_kwf_pack_block_mv(const float *W, int64_t rows, int64_t K, float *p) {
    pack_t(W, rows, K, 16 * ((rows + 15) / 16), p);
}

void teq_kwf_pack_block(const float *W, int64_t rows, int64_t K, float *p) {
    if (rows == TEQ_F32C_MR) pack_t(W, TEQ_F32C_MR, K, TEQ_F32C_MR, p); /* constant bounds: unrolled */
    else pack_t(W, rows, K, TEQ_F32C_MR, p);
}

void teq_k_flush_subnormals(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = teq_k_flush_subnormal(x[i]);
}

/* One filter's transform t = G g G^T, G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]], in double
 * (the halvings exact, each sum of three floats rounded once at most in double's 53 bits), then rounded once to
 * float: G's zeros and ones written out, so no product by 0 or 1 is formed */
static inline void wino_g(const float *g, double u[4][4]) {
    double t[4][3];
    for (int b = 0; b < 3; b++) {
        const double g0 = g[b], g1 = g[3 + b], g2 = g[6 + b];
        t[0][b] = g0, t[1][b] = 0.5 * ((g0 + g1) + g2), t[2][b] = 0.5 * ((g0 - g1) + g2), t[3][b] = g2;
    }
    for (int i = 0; i < 4; i++) {
        const double a0 = t[i][0], a1 = t[i][1], a2 = t[i][2];
        u[i][0] = a0, u[i][1] = 0.5 * ((a0 + a1) + a2), u[i][2] = 0.5 * ((a0 - a1) + a2), u[i][3] = a2;
    }
}

/* U = G g G^T of every (m, c) of the blocks from row m0 up to m1 (kernels.h, Winograd) */
void teq_kwino_fill(int64_t M, int64_t C, const float *W, float *u, int64_t m0, int64_t m1) {
    const int64_t MR = TEQ_WINO_MR, Mb = (M + MR - 1) / MR;
    m1 = m1 < M ? m1 : M;
    const size_t plane = (size_t)Mb * (size_t)C * MR; /* floats of one of the 16 transformed positions */
    /* per block of MR rows and input channel: the MR filters' 16 values each, then 16 runs of MR floats (one
     * write a position, instead of 16 * MR single floats a plane apart, which collide in the cache's sets);
     * rows past M in the last block are zeros (the kernel computes them and stores none) */
    for (int64_t b = m0 / MR; b * MR < m1; b++)
        for (int64_t c = 0; c < C; c++) {
            float blk[16][TEQ_WINO_MR];
            for (int64_t r = 0; r < MR; r++) {
                const int64_t m = b * MR + r;
                double t[4][4];
                if (m < M) wino_g(W + (m * C + c) * 9, t);
                for (int i = 0; i < 16; i++) blk[i][r] = m < M ? teq_k_flush_subnormal((float)t[i / 4][i % 4]) : 0.0f;
            }
            for (int i = 0; i < 16; i++) memcpy(u + (size_t)i * plane + ((size_t)b * (size_t)C + (size_t)c) * MR, blk[i], sizeof blk[i]);
        }
}

teq_status teq_kwino_init(teq_kwino *w, int64_t M, int64_t C, const float *W, teq_error *err) {
    memset(w, 0, sizeof *w);
    if (M < 1 || C < 1)
        return teq_error_set(err, TEQ_ERR_NOMEM, "Winograd weights of %lld x %lld overflow", (long long)M, (long long)C);
    const int64_t MR = TEQ_WINO_MR, Mb = (M + MR - 1) / MR;
    const teq_status s = floats_alloc(&w->u, 16 * MR * Mb, C, "Winograd", M, err);
    if (s) return s;
    w->M = M, w->C = C;
    teq_kwino_fill(M, C, W, w->u, 0, M);
    return TEQ_OK;
}

void teq_kwino_free(teq_kwino *w) {
    free(w->u);
    memset(w, 0, sizeof *w);
}

void teq_kwf_free(teq_kwf *w) {
    free(w->p);
    memset(w, 0, sizeof *w);
}

int teq_kw_code(const teq_kw *w, int64_t m, int64_t k) {
    if (!w->packed) /* trimmed INT8 weights (teq_kw_trim): code = q + 2^(n-1) */
        return (int)w->q8[m * w->K4 + k] + teq_q_num_codes(&w->q) / 2;
    return (int)teq_ki_code(w->packed + m * w->row_bytes, k, w->q.bits);
}

void teq_kw_trim(teq_kw *w, bool keep_q8p) {
    if (!w->q8) return;
    free(w->packed);
    w->packed = NULL;
    if (!keep_q8p) {
        free(w->q8p);
        w->q8p = NULL;
    }
}

/* read once; a data race on first use only ever stores the same value */
static int mode = -1;

void teq_kmode_set(teq_kmode m) { mode = (int)m; }

teq_kmode teq_kmode_get(void) {
    if (mode < 0) {
        const char *e = getenv("TEQ_KERNEL");
        mode = !e ? TEQ_KMODE_FAST : !strcmp(e, "ref") ? TEQ_KMODE_REF : !strcmp(e, "dequant") ? TEQ_KMODE_DEQUANT
                                                                                                : TEQ_KMODE_FAST;
    }
    return (teq_kmode)mode;
}
