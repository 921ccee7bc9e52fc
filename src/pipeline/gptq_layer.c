/* H collection and cached GPTQ codes per layer (see gptq_layer.h). */
#include "gptq_layer.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* H of one layer may take at most this much memory (K = 4096 for one group; rec's largest is 2880). */
#define GPTQ_MAX_BYTES ((int64_t)128 << 20)
/* Damping as a share of mean(diag H), and the column order (by decreasing H_kk). */
#define GPTQ_DAMP 0.01
#define GPTQ_ACT_ORDER 1

teq_status teq_gptq_layer_init(teq_gptq_layer *g, const teq_node *nd, int wslot, const teq_tensor *w) {
    memset(g, 0, sizeof *g);
    if (wslot != 1 || w->dtype != TEQ_DTYPE_FLOAT) return TEQ_OK;
    if (!strcmp(nd->op_type, "Conv") && w->ndim == 4) {
        int64_t groups = teq_node_attr_int(nd, "group", 1), len = 0;
        if (groups < 1 || w->dims[0] % groups) return TEQ_OK;
        g->kind = 1;
        g->M = w->dims[0];
        g->groups = groups;
        g->gk = w->dims[1] * w->dims[2] * w->dims[3];
        g->kh = w->dims[2], g->kw = w->dims[3];
        const int64_t *v = teq_node_attr_ints(nd, "strides", &len);
        g->sh = v && len == 2 ? v[0] : 1, g->sw = v && len == 2 ? v[1] : 1;
        v = teq_node_attr_ints(nd, "dilations", &len);
        g->dh = v && len == 2 ? v[0] : 1, g->dw = v && len == 2 ? v[1] : 1;
        v = teq_node_attr_ints(nd, "pads", &len);
        if (v && len == 4) g->pb[0] = v[0], g->pb[1] = v[1], g->pe[0] = v[2], g->pe[1] = v[3];
        g->auto_pad = teq_node_attr_string(nd, "auto_pad", "NOTSET");
        if (g->sh < 1 || g->sw < 1 || g->dh < 1 || g->dw < 1) g->kind = 0;
    } else if ((!strcmp(nd->op_type, "Gemm") || !strcmp(nd->op_type, "MatMul")) && w->ndim == 2) {
        g->kind = 2;
        g->groups = 1;
        g->transposed = !strcmp(nd->op_type, "MatMul") || !teq_node_attr_int(nd, "transB", 0);
        g->trans_a = !strcmp(nd->op_type, "Gemm") && teq_node_attr_int(nd, "transA", 0);
        g->M = g->transposed ? w->dims[1] : w->dims[0];
        g->gk = g->transposed ? w->dims[0] : w->dims[1];
    }
    if (!g->kind) return TEQ_OK;
    g->K = g->gk;
    g->mpg = g->M / g->groups;
    if (g->gk < 1 || g->mpg < 1 || (double)g->groups * (double)g->gk * (double)g->gk * 8.0 > (double)GPTQ_MAX_BYTES) {
        g->kind = 0;
        return TEQ_OK;
    }
    g->H = calloc((size_t)(g->groups * g->gk * g->gk), sizeof(double));
    g->perm = malloc(sizeof(int64_t) * (size_t)(g->groups * g->gk));
    if (!g->H || !g->perm) return TEQ_ERR_NOMEM;
    return TEQ_OK;
}

static teq_status need_buf(teq_gptq_layer *g, int64_t n) {
    if (n <= g->buf_cap) return TEQ_OK;
    double *b = realloc(g->buf, sizeof(double) * (size_t)n);
    if (!b) return TEQ_ERR_NOMEM;
    g->buf = b, g->buf_cap = n;
    return TEQ_OK;
}

/* Pads at the begin / end of one spatial axis (ONNX Conv, auto_pad included); -1 when the input is
 * smaller than the dilated kernel. */
static int64_t conv_out(const teq_gptq_layer *g, int a, int64_t in, int64_t *pb, int64_t *pe) {
    int64_t k = a ? g->kw : g->kh, s = a ? g->sw : g->sh, d = a ? g->dw : g->dh, dk = (k - 1) * d + 1;
    if (!strcmp(g->auto_pad, "SAME_UPPER") || !strcmp(g->auto_pad, "SAME_LOWER")) {
        int64_t out = (in + s - 1) / s, total = (out - 1) * s + dk - in;
        if (total < 0) total = 0;
        if (!strcmp(g->auto_pad, "SAME_UPPER")) *pb = total / 2, *pe = total - *pb;
        else *pe = total / 2, *pb = total - *pe;
        return out;
    }
    if (!strcmp(g->auto_pad, "VALID")) *pb = *pe = 0;
    else *pb = g->pb[a], *pe = g->pe[a];
    int64_t num = in + *pb + *pe - dk;
    return num < 0 ? -1 : num / s + 1;
}

/* H_g += A^T A for A [P, gk] (upper triangle, row-major). */
static void syrk(teq_gptq_layer *g, int64_t grp, int64_t P) {
    if (P <= 0) return;
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1); /* as src/ops/nn.c: one thread pool */
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)g->gk, (int)P, 1.0, g->buf, (int)g->gk, 1.0,
                g->H + grp * g->gk * g->gk, (int)g->gk);
}

teq_status teq_gptq_layer_add(teq_gptq_layer *g, const teq_node *nd, const teq_tensor *x) {
    if (!g->kind || g->ready || x->dtype != TEQ_DTYPE_FLOAT) return TEQ_OK;
    const float *px = x->data;
    if (g->kind == 1) {
        if (x->ndim != 4 || x->dims[1] != g->groups * (g->gk / (g->kh * g->kw))) return TEQ_OK;
        int64_t N = x->dims[0], C = x->dims[1], IH = x->dims[2], IW = x->dims[3], cg = C / g->groups;
        int64_t pt, pbot, pl, pr;
        int64_t OH = conv_out(g, 0, IH, &pt, &pbot), OW = conv_out(g, 1, IW, &pl, &pr);
        if (OH <= 0 || OW <= 0) return TEQ_OK;
        int64_t T = OH * OW, P = T < GPTQ_PER_SAMPLE ? T : GPTQ_PER_SAMPLE, step = T / P;
        if (need_buf(g, P * g->gk)) return TEQ_ERR_NOMEM;
        for (int64_t n = 0; n < N; n++) {
            int64_t off = (int64_t)(g->phase++ % (uint64_t)step);
            for (int64_t grp = 0; grp < g->groups; grp++) {
                for (int64_t p = 0; p < P; p++) {
                    int64_t pos = off + p * step, oy = pos / OW, ox = pos % OW;
                    double *row = g->buf + p * g->gk;
                    for (int64_t ci = 0; ci < cg; ci++) {
                        const float *plane = px + ((n * C) + grp * cg + ci) * IH * IW;
                        for (int64_t ky = 0; ky < g->kh; ky++) {
                            int64_t iy = oy * g->sh - pt + ky * g->dh;
                            for (int64_t kx = 0; kx < g->kw; kx++) {
                                int64_t ix = ox * g->sw - pl + kx * g->dw;
                                *row++ = iy >= 0 && iy < IH && ix >= 0 && ix < IW ? (double)plane[iy * IW + ix] : 0.0;
                            }
                        }
                    }
                }
                syrk(g, grp, P);
            }
            g->n_vec += (double)P;
        }
        return TEQ_OK;
    }
    /* Gemm / MatMul: vectors of length K along the input's last axis (Gemm transA: its first). */
    int64_t n = teq_tensor_numel(x), K = g->gk;
    if (x->ndim < 1 || n % K) return TEQ_OK;
    int64_t R = n / K, N = x->ndim >= 2 ? x->dims[0] : 1;
    if (g->trans_a && (x->ndim != 2 || x->dims[0] != K)) return TEQ_OK;
    if (!g->trans_a && x->dims[x->ndim - 1] != K) return TEQ_OK;
    if (g->trans_a) N = 1;
    /* At most GPTQ_PER_SAMPLE rows per sample (rows of the leading axis, e.g. time steps). */
    int64_t cap = N * GPTQ_PER_SAMPLE, P = R < cap ? R : cap, step = R / P;
    if (need_buf(g, P * K)) return TEQ_ERR_NOMEM;
    int64_t off = (int64_t)(g->phase++ % (uint64_t)step);
    for (int64_t p = 0; p < P; p++) {
        int64_t r = off + p * step;
        double *row = g->buf + p * K;
        for (int64_t k = 0; k < K; k++) row[k] = g->trans_a ? (double)px[k * R + r] : (double)px[r * K + k];
    }
    syrk(g, 0, P);
    g->n_vec += (double)P;
    (void)nd;
    return TEQ_OK;
}

static bool same_code(const teq_qparams *a, const teq_qparams *b) {
    return a->kind == b->kind && a->bits == b->bits && a->is_signed == b->is_signed && a->zero_code == b->zero_code &&
           a->base == b->base && a->alpha == b->alpha && a->beta == b->beta && a->scale == b->scale &&
           a->zero_point == b->zero_point;
}

teq_status teq_gptq_layer_codes(teq_gptq_layer *g, const teq_qparams *p, const float *w, int threads,
                                const uint8_t **codes, teq_error *err) {
    *codes = NULL;
    if (!g->kind || !(g->n_vec > 0)) return TEQ_OK;
    for (int i = 0; i < g->n_cache; i++)
        if (same_code(&g->cache[i].p, p)) {
            *codes = g->cache[i].codes;
            return TEQ_OK;
        }
    if (!g->ready) {
        for (int64_t grp = 0; grp < g->groups; grp++) {
            teq_status s = teq_gptq_prepare(g->H + grp * g->gk * g->gk, g->gk, GPTQ_DAMP, GPTQ_ACT_ORDER,
                                            g->perm + grp * g->gk, err);
            if (s == TEQ_ERR_INTERNAL) { /* not positive definite even damped (non-finite inputs): nearest */
                teq_error_clear(err);
                g->kind = 0;
                return TEQ_OK;
            }
            if (s) return s;
        }
        g->ready = 1;
    }
    int64_t numel = g->M * g->K;
    uint8_t *out = malloc((size_t)numel), *tc = NULL;
    float *tw = NULL;
    if (!out) return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory");
    const float *rows = w;
    uint8_t *crow = out;
    if (g->transposed) { /* [K, M] -> [M, K] and back */
        tw = malloc(sizeof(float) * (size_t)numel);
        tc = malloc((size_t)numel);
        if (!tw || !tc) {
            free(out), free(tw), free(tc);
            return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory");
        }
        for (int64_t k = 0; k < g->K; k++)
            for (int64_t m = 0; m < g->M; m++) tw[m * g->K + k] = w[k * g->M + m];
        rows = tw, crow = tc;
    }
    teq_status rs = TEQ_OK;
    for (int64_t grp = 0; grp < g->groups && !rs; grp++)
        rs = teq_gptq_round(p, rows + grp * g->mpg * g->gk, g->mpg, g->gk, g->H + grp * g->gk * g->gk,
                            g->perm + grp * g->gk, threads, crow + grp * g->mpg * g->gk);
    if (rs) {
        free(out), free(tw), free(tc);
        return teq_error_set(err, rs, "out of memory");
    }
    if (g->transposed)
        for (int64_t k = 0; k < g->K; k++)
            for (int64_t m = 0; m < g->M; m++) out[k * g->M + m] = tc[m * g->K + k];
    free(tw), free(tc);
    int slot;
    if (g->n_cache < GPTQ_CACHE) {
        slot = g->n_cache++;
    } else { /* full: replace the oldest */
        slot = g->cache_next++ % GPTQ_CACHE;
        free(g->cache[slot].codes);
    }
    g->cache[slot].p = *p;
    g->cache[slot].codes = out;
    *codes = out;
    return TEQ_OK;
}

void teq_gptq_layer_free(teq_gptq_layer *g) {
    free(g->H);
    free(g->perm);
    free(g->buf);
    for (int i = 0; i < g->n_cache; i++) free(g->cache[i].codes);
    memset(g, 0, sizeof *g);
}
