/* FP32 Convs on the kernels' FP32 convolution (qlayer.h, "FP32 layers on the kernels"): weights packed once
 * at load into the microkernel's layout, the following elementwise chain fused per block (nn.c pads the input).
 * docs/DECISIONS.md ("FP32 convolution kernel") has the measurements behind it. */
#include "qlayer.h"

#include <stdlib.h>
#include <string.h>

static void fconv_free(void *p) {
    teq_fconv *fc = p;
    teq_kwf_free(&fc->w);
    free(fc->post);
    free(fc);
}

static bool wanted(void) {
    const char *e = getenv("TEQ_FP32_CONV");
    return !(e && !strcmp(e, "blas")) && teq_k_f32_conv_ok();
}

/* A Conv the kernel takes: default domain, weight a float constant that is not quantized, 1-D or 2-D, one
 * group, more than one input channel. *dw: instead one input channel per group, which nn.c's depthwise
 * loop takes (a dw pack: the chain only). */
static const teq_tensor *packable(const teq_graph *g, const teq_node *n, bool *dw) {
    if (strcmp(n->op_type, "Conv") || (n->domain && n->domain[0]) || n->kern || n->fpack || n->n_in < 2 || n->in[1] < 0)
        return NULL;
    const teq_value *v = &g->values[n->in[1]];
    const teq_tensor *w = v->constant;
    if (!w || v->qweight || w->dtype != TEQ_DTYPE_FLOAT || !w->data || w->ndim < 3 || w->ndim > 4) return NULL;
    for (int d = 0; d < w->ndim; d++)
        if (w->dims[d] < 1) return NULL;
    *dw = w->dims[1] == 1;
    if (!*dw && (teq_node_attr_int(n, "group", 1) != 1 || !wanted())) return NULL;
    return w;
}

/* a packed Conv holds the weights it was packed from (a dw pack holds none) */
static bool packed_reader(const teq_node *n, const teq_value *v) {
    const teq_fconv *fc = n->fpack;
    return !v->qweight && fc && !fc->dw && fc->src == v->constant->data;
}

teq_status teq_ops_pack_fp32(teq_graph *g, bool release, teq_error *err) {
    for (int i = 0; i < g->n_nodes; i++) {
        teq_node *n = &g->nodes[i];
        bool dw;
        const teq_tensor *w = packable(g, n, &dw);
        if (!w) continue;
        const int64_t M = w->dims[0], K = teq_tensor_numel(w) / M;
        teq_fconv *fc = calloc(1, sizeof *fc);
        if (!fc) return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory packing FP32 weights");
        fc->dw = dw;
        const teq_status s = dw ? TEQ_OK : teq_kwf_init(&fc->w, M, K, w->data, err);
        if (s) {
            free(fc);
            return s;
        }
        fc->src = dw ? NULL : w->data;
        n->fpack = fc, n->fpack_free = fconv_free;
    }
    if (!release) return TEQ_OK;
    teq_ops_release_weights(g, packed_reader);
    /* a pack whose source is gone serves the node's released (data-less) weight tensor from now on */
    for (int i = 0; i < g->n_nodes; i++) {
        teq_fconv *fc = g->nodes[i].fpack;
        if (fc && !fc->dw && !g->values[g->nodes[i].in[1]].constant->data) fc->src = NULL;
    }
    return TEQ_OK;
}

const teq_fconv *teq_fconv_of(const teq_node *node, const teq_tensor *w) {
    const teq_fconv *fc = node->fpack;
    return fc && !fc->dw && w->data == fc->src && w->ndim >= 1 && w->dims[0] == fc->w.M && teq_tensor_numel(w) == fc->w.M * fc->w.K
               ? fc
               : NULL;
}

const teq_echain *teq_fconv_post(const teq_node *node) {
    const teq_fconv *fc = node->fpack;
    return fc && teq_kmode_get() == TEQ_KMODE_FAST ? fc->post : NULL;
}

static void chain_post(void *user, float *Y, int64_t ldy, int64_t M, int64_t n0, int64_t n1) {
    teq_echain_rows(user, Y, ldy, M, n1 - n0, NULL, NULL, 0);
}

teq_status teq_fconv_run(teq_exec_ctx *ctx, const teq_node *node, const teq_fconv *fc, const float *P,
                         const teq_i8conv *g, const float *bias, float *Y, int64_t ldy, bool *chained) {
    if (fc->w.K != g->C * g->KH * g->KW)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "packed weights do not match the convolution");
    const teq_echain *post = teq_fconv_post(node);
    const teq_kpost kp = {chain_post, (void *)post, 0};
    const teq_status s = teq_k_f32_conv(&fc->w, g, P, bias, Y, ldy, post ? &kp : NULL, teq_ctx_threads(ctx));
    if (s) return teq_op_fail(ctx, node, s, "FP32 convolution failed (%s)", teq_status_string(s));
    *chained = post != NULL;
    return TEQ_OK;
}
