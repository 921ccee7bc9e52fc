/* The quantizer's side of error-compensating rounding (--rounding gptq, src/quant/gptq.c): per layer,
 * H = X^T X of its input vectors collected during calibration, and the weight codes GPTQ chooses for
 * a code, kept so that the applied weights, the bias correction and the packed .teq codes all use the
 * same ones.
 *
 * Input vectors, in the column order of the weight rows:
 *   Conv, 2-D, weight [M, C/g, KH, KW]: one im2col patch (c, ky, kx) per output position and group,
 *     zero where the window covers padding; an H of [C/g*KH*KW]^2 per group (depthwise: KH*KW per
 *     channel). At most GPTQ_PER_SAMPLE positions per sample, evenly spaced, their offset turning from
 *     call to call.
 *   Gemm (weight in slot 1, 2-D) and MatMul (2-D weight in slot 1): rows of the input's last axis
 *     (Gemm transA: its columns); the weight is [K, M] (transB = 0, MatMul) or [M, K] (transB = 1).
 *   Anything else (ConvTranspose, batched or slot-0 weights, 1-D/3-D Conv, H over GPTQ_MAX_BYTES):
 *     kind 0, nearest rounding. */
#ifndef TEQ_GPTQ_LAYER_H
#define TEQ_GPTQ_LAYER_H

#include "../graph/graph.h"
#include "../quant/quant.h"

#define GPTQ_PER_SAMPLE 64
#define GPTQ_CACHE 8

typedef struct teq_gptq_layer {
    int kind;              /* 0 none (nearest), 1 Conv 2-D, 2 rows of K (Gemm / MatMul) */
    int transposed;        /* weight stored [K, M] (codes are computed on its transpose) */
    int trans_a;           /* Gemm transA: input [K, N] */
    int64_t M, K, groups, gk, mpg; /* outputs, K = all columns, groups, columns and rows per group */
    int64_t kh, kw, sh, sw, dh, dw, pb[2], pe[2]; /* Conv geometry (pads found per input size) */
    const char *auto_pad;
    double *H;             /* [groups][gk * gk]: upper triangles of X^T X, then U (see ready) */
    int64_t *perm;         /* [groups][gk] rounding order */
    int ready;             /* H holds U (teq_gptq_prepare done) */
    double n_vec;          /* input vectors accumulated per group */
    uint64_t phase;        /* offset of the sampled positions, advanced every call */
    double *buf;           /* patches [P, gk] */
    int64_t buf_cap;
    struct {
        teq_qparams p;
        uint8_t *codes;    /* [numel] in the weight's own layout */
    } cache[GPTQ_CACHE];
    int n_cache, cache_next;
} teq_gptq_layer;

/* Set g up for node nd (weight constant w in slot wslot); kind 0 when the layer is not supported. */
teq_status teq_gptq_layer_init(teq_gptq_layer *g, const teq_node *nd, int wslot, const teq_tensor *w);
/* Add the input vectors of one calibration batch x (the layer's activation input). */
teq_status teq_gptq_layer_add(teq_gptq_layer *g, const teq_node *nd, const teq_tensor *x);
/* The GPTQ codes [numel, the weight's layout] of the weights w (already divided by their row's scale)
 * under code p, computed once per code and kept (the last GPTQ_CACHE codes). *codes is owned by g.
 * *codes = NULL (and TEQ_OK) when g has no data: use nearest rounding. */
teq_status teq_gptq_layer_codes(teq_gptq_layer *g, const teq_qparams *p, const float *w, int threads,
                                const uint8_t **codes, teq_error *err);
void teq_gptq_layer_free(teq_gptq_layer *g);

#endif
