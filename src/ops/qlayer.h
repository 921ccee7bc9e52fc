/* Quantized layers on the kernels of src/kernels (METHOD section 5).
 *
 * A `.teq` model's quantized layer is a Conv, ConvTranspose, Gemm or MatMul whose activation input comes
 * from a TeqQuantize node and whose weight constant carries its codes (teq_qweight). teq_ops_bind_quantized
 * prepares, once after loading, each such node's weights as kernel rows (teq_kw) and each TeqQuantize's
 * fast quantizer (teq_kq), stored in node->kern. The operators then run the layer on:
 *   fast (default)     exponential: weights decoded from their packed codes through the code table per call
 *                      (never kept as floats), FP32 GEMM on activations that are values of their code;
 *                      batch-1 products through the fused GEMV that decodes in registers.
 *                      INT8: u8 x s8 -> s32 kernels.
 *   TEQ_KERNEL=ref     the reference kernels (exact counting for exponential, exact integers for INT8).
 *   TEQ_KERNEL=dequant the quantizer's float path (dequantized weight constants, FP32 operators).
 * A layer that fits none of these (codes of different bases, a channel axis the rows cannot carry) keeps
 * the float path, which gives the same values. */
#ifndef TEQ_QLAYER_H
#define TEQ_QLAYER_H

#include "ops.h"
#include "../kernels/kernels.h"

typedef enum teq_ql_kind {
    TEQ_QL_EXP = 1,  /* exponential weights and activations sharing the base */
    TEQ_QL_INT8 = 2, /* linear signed weights, linear activations */
    TEQ_QL_DYN = 3,  /* MatMul of two quantized activations (exponential, same base): reference mode only */
} teq_ql_kind;

typedef struct teq_qlayer {
    teq_ql_kind kind;
    /* The weights as rows of output features (EXP, INT8):
     *   Conv          W [M, C/g, k...]        rows M, K = C/g * prod(k); group gi owns rows gi*M/g ..
     *   ConvTranspose W [C, M/g, k...]        rows g * M/g * prod(k) in (group, out channel, tap) order,
     *                                         K = C/g: row (gi, mg, t) holds W[gi*C/g + c, mg, t] over c
     *   Gemm          B [K, N] or [N, K]      rows N (alpha folded into the row scales)
     *   MatMul        B [K, N]                rows N */
    teq_kw w;
    teq_qparams qa; /* the activation input's code (for DYN: input A) */
    teq_qparams qb; /* DYN: input B's code */
    teq_kq *kqa;    /* INT8: quantizer of the activations to their codes */
    /* INT8 Conv whose output is read by one TeqElementwise only: its steps, which the fast mode applies to
     * each block of outputs while in cache (that node then passes its input on: pass_fast); else NULL */
    teq_echain *post;
    /* INT8 layer whose output (after post) reaches only a pass-through TeqQuantize whose readers all take
     * codes (teq_ql_conv_i8, the depthwise and ConvTranspose paths): the fast mode writes the output as
     * that quantizer's codes (a uint8 tensor, 1 byte instead of 4 per value, never re-read as floats);
     * borrowed from the quantizer node, else NULL */
    const teq_kq *outq;
    /* EXP Conv of one group (or depthwise, 8 only: `depthwise` below) with integer lanes (the fast mode only), 0
     * when off, else their width:
     * - 16 (node attribute int_lanes = 1): the weight levels on a grid of steps dw, the activation levels on
     *   one of da, both int16 with K * max|w| * max|a| < 2^31 (so the int32 sums are exact), run by the
     *   lanes convolution (kernels.h, i16_conv): y = (row scale * dw * da) * sum of the integers;
     * - 8 (int_lanes = 8): the weight levels as int8 on dw8 = max|w| / 127, the activation levels as u8
     *   codes on da8 = max|a| / 255 (non-negative codes, zero point 0) or max|a| / 127 (signed, zero
     *   point 128), run by the INT8 convolution (i8_conv) as a linear INT8 layer of those grids: twice
     *   the products a cycle of int16 lanes on VNNI (vpdpbusd against vpdpwssd), coarser grids.
     * The reference kernel still defines the layer's result; teq_ql_lanes_bound states how far from it
     * either may be. Both stay built once made (teq_ql_set_lanes switches). */
    int lanes;
    teq_kw16 wl;       /* 16: the weights' integers, row scales times dw */
    int16_t alut[256]; /* 16: activation code -> its integer */
    double dw, da;
    teq_kw w8;          /* 8: the weights' integers as a signed 8-bit linear code, row scales times dw8 */
    uint8_t alut8[256]; /* 8: activation code -> its integer plus zp8 */
    int32_t zp8;
    double dw8, da8;
    int top8;           /* 8: the activation code whose |level| tops the grid (file attribute int_lanes_top; codes
                         * above saturate), -1: the code's largest level */
    teq_kq *kqe;       /* the activation code's quantizer (codes, then alut or alut8) */
    /* 8: the lane integers straight from the floats (kernels.h teq_kl8), for x + the shift the callers pass:
     * in_shift for a Conv, 0 for a MatMul; NULL where it cannot be built (the codes and alut8 then) */
    teq_kl8 *kl8;
    float in_shift;    /* the shift of a passed-through quantizer in front (its codes are of x + shift), else 0 */
    /* a Conv with one input channel per group (depthwise): 8-bit lanes only, run by nn.c's depthwise loop on the
     * INT8 depthwise kernel (kernels.h teq_k_i8_dw) with w8's rows, the same sums as i8_conv would make */
    bool depthwise;
    /* a MatMul of constant 2-D weights: 8-bit lanes only, on the INT8 product (teq_ql_gemm); its quantizer in front
     * stays (the lanes quantize its levels again, to the same codes: a few thousand values on rec) */
    bool matmul;
} teq_qlayer;

/* Whether Conv or MatMul node n (bound) may run on integer lanes: a MatMul of constant 2-D weights at 8 bits where the
 * set has i8_conv; an EXP Conv of one group, 1-D or 2-D, more than
 * one input channel, on a CPU with the kernel (16 bits: i16_conv; 8: i8_conv, K <= 65536); or a depthwise one
 * (one input channel per group), 1-D or 2-D, whose geometry the best set's INT8 depthwise kernel takes
 * (teq_k_i8_dw_ok, kernel taps * 127 * 255 < 2^24), at 8 bits only. teq_ql_set_lanes
 * turns them on at width bits (16 or 8, building them the first time) or off (0) for an eligible node; the
 * quantizer chooses with these (`--int-lanes`). A width this CPU or layer cannot take leaves them off. */
bool teq_ql_lanes_eligible(const teq_graph *g, const teq_node *n);
teq_status teq_ql_set_lanes(teq_node *n, int bits, int top, teq_error *err);
/* The integer-lanes convolution (teq_qlayer.lanes, either width), with teq_ql_conv_i8's arguments (X as
 * floats). */
teq_status teq_ql_conv_lanes(teq_exec_ctx *ctx, const teq_node *node, const teq_qlayer *ql, const float *X, int64_t IH,
                             int64_t IW, int64_t pt, int64_t pl, const teq_i8conv *g, float pv, const float *bias,
                             float *Y, int64_t ldy, const teq_echain *post, bool *done);
/* The lanes of exponential weights w (their codes) under activation code qa: L = min(32767, floor(sqrt((2^31
 * - 1) / K))) integers for the largest |level| of each, so no int32 sum of K products can overflow;
 * dw = max |weight level| / L, da = max |activation level| / L; wl the weights' integers with row scales
 * scale[m] * dw; alut[code] the activation integers. */
teq_status teq_ql_lanes_prepare(const teq_kw *w, const teq_qparams *qa, teq_kw16 *wl, int16_t alut[256], double *dw,
                                double *da, teq_error *err);
/* The 8-bit lanes of w under qa: w8 a signed 8-bit linear code (q8 and q8p only) of the integers
 * round(level / dw), |.| <= 127, with row scales scale[m] * dw, dw = max |weight level| / 127; alut[code] =
 * round(level / da) + zp, zp = 0 and da = T / 255 where qa has no negative level, else zp = 128 and
 * da = T / 127; T = the |level| of code top (top < 0, or a top of no smaller non-zero level: the code's
 * largest |level|), and codes of larger |level| saturate at the grid's end (0..255, or 1..255 signed).
 * K <= 65536 (the INT8 kernels' int32 sums). */
teq_status teq_ql_lanes8_prepare(const teq_kw *w, const teq_qparams *qa, int top, teq_kw *w8, uint8_t alut[256],
                                 int32_t *zp, double *dw, double *da, teq_error *err);
/* |fast - reference| for one output of an integer-lanes layer (either width, with its dw and da) is at most
 *     row_scale * sum_k (|lw_k| * da / 2 + |la_k| * dw / 2 + dw * da / 4) + float rounding
 * (lw, la the exact weight and activation levels of term k). Over a layer with K terms, this is at most
 * teq_ql_lanes_bound(ql) * row_scale * K, the form the layer-by-layer check uses. On 8 bits it holds for
 * inputs whose levels lie within the grid's top (top8); larger ones saturate there. */
double teq_ql_lanes_bound(const teq_qlayer *ql);

/* Prepare every quantized layer and TeqQuantize node of a planned graph (see above). Layers that cannot
 * take the kernels are left alone. */
teq_status teq_ops_bind_quantized(teq_graph *g, const char *path, teq_error *err);

/* After binding, in the fast and reference modes: free the float copy of every weight constant that
 * only bound layers read (its data becomes NULL; dims and dtype stay), so a loaded .teq keeps its
 * weights as packed codes only. The dequant mode, the .teq writer and anything else that reads
 * constant data must not run on such a graph. */
void teq_ops_release_bound_weights(teq_graph *g);
/* The mechanism under it: free the float data of every constant (read at least once, not a graph output)
 * whose every read is as input 1 of a node for which taken(node, value) says it holds the weights in a
 * layout of its own. */
void teq_ops_release_weights(teq_graph *g, bool (*taken)(const teq_node *reader, const teq_value *v));

/* The quantized layer of a node, when its operator should use the kernels now (not in dequant mode). */
const teq_qlayer *teq_ql_of(const teq_node *node);

/* Reference or INT8 product of rows r0 .. r0+Mr-1 of the layer's weights with X (K x N, element (k, n) at
 * X[k * sxk + n * sxn]) into Y[m * sym + n * syn] = result + bias[m] (bias may be NULL; indexed from 0 for
 * row r0). EXP layers in fast mode do not come here (they decode and use FP32 GEMM). */
teq_status teq_ql_gemm(teq_exec_ctx *ctx, const teq_node *node, const teq_qlayer *ql, int64_t r0, int64_t Mr,
                       const float *X, int64_t sxk, int64_t sxn, int64_t N, const float *bias, float *Y, int64_t sym,
                       int64_t syn);
/* Reference MatMul of two quantized activations (DYN): A (batch..., M, K), B (batch..., K, N), batch
 * strides sa/sb per broadcast batch dim (0 where broadcast) as op_matmul computes them; Y contiguous. */
teq_status teq_ql_matmul_dyn(teq_exec_ctx *ctx, const teq_node *node, const teq_qlayer *ql, const float *A,
                             const float *B, int64_t M, int64_t N, int64_t K, int64_t batch, int nb, const int64_t *bd,
                             const int64_t *sa, const int64_t *sb, float *Y);
/* INT8 Conv of one group (1-D or 2-D) in the fast mode, straight from codes (kernels.h, i8_conv): X is one
 * image's input, C planes of IH x IW floats (or their codes already, xcodes); it is quantized once with
 * the layer's activation code into
 * planes of g->PH x g->PW codes with the input at (pt, pl) and the code of pv around it (scratch slot 2),
 * then Y[m * ldy + n] = result + bias[m] for the g->OH * g->OW outputs, post's steps applied to each
 * block when not NULL; with codes (not NULL) the outputs go there instead, as ql->outq's codes
 * [M][OH * OW], and Y is not touched. *done is false (and nothing
 * happens) when this path does not apply: another mode or kind, or a CPU without the kernel. */
teq_status teq_ql_conv_i8(teq_exec_ctx *ctx, const teq_node *node, const teq_qlayer *ql, const void *X, bool xcodes,
                          int64_t IH, int64_t IW, int64_t pt, int64_t pl, const teq_i8conv *g, float pv,
                          const float *bias, float *Y, int64_t ldy, const teq_echain *post, uint8_t *codes, bool *done);
/* teq_ql_conv_i8 with no padding, no bias and the outputs never in a Y: each thread's finished blocks
 * (bias-free results) go to kp->fn in its own tile (kernels.h teq_kpost, tile set), which puts them where they
 * belong (a ConvTranspose whose taps do not overlap scatters them into its output, nn.c). */
teq_status teq_ql_conv_i8_tiles(teq_exec_ctx *ctx, const teq_node *node, const teq_qlayer *ql, const void *X, bool xcodes,
                                int64_t IH, int64_t IW, const teq_i8conv *g, const teq_kpost *kp, bool *done);
/* The fast mode's pass-throughs (teq_node.pass_fast) and fused chains (teq_qlayer.post) on or off, all
 * together (teq_ops_bind_quantized turns them on; tests compare both ways). */
void teq_ops_fast_passes(teq_graph *g, bool on);
/* Whether n is a TeqQuantize node (domain "teq"); its code and shift (shift may be NULL), false when its
 * qparams do not read. */
bool teq_ql_is_quantize(const teq_node *n);
bool teq_ql_node_qparams(const teq_node *n, teq_qparams *q, double *shift);
/* INT8 depthwise convolution in the fast mode: the sums sum_t w_t * (q_t - zp) of integers are computed
 * in float, exactly while KK * 127 * 255 < 2^24 (teq_ql_dw_ok), by the FP32 depthwise loop on integer
 * values; then y = fl(fl((scale[m] * xscale) * sum) + bias[m]), the INT8 kernels' formula.
 * teq_ql_dw_weights: the weights' integers as floats [M x KK] (scratch slot 1);
 * teq_ql_code_values: v[i] = code(x[i]) - zp (exact small integers); teq_ql_code_value: one value;
 * teq_ql_i8_rowscale: scale[m] * xscale, which nn.c's depthwise loop applies to each output row as it
 * finishes (fl(fl(s * sum) + bias), the two roundings apart). */
bool teq_ql_dw_ok(const teq_qlayer *ql, int64_t KK);
teq_status teq_ql_dw_weights(teq_exec_ctx *ctx, const teq_node *node, const teq_qlayer *ql, const float **W);
void teq_ql_code_values(const teq_qlayer *ql, const float *x, int64_t n, float *v);
void teq_ql_codes_values(const teq_qlayer *ql, const uint8_t *c, int64_t n, float *v); /* v = c - zp */
float teq_ql_code_zp(const teq_qlayer *ql); /* that zp, as a float */
float teq_ql_code_value(const teq_qlayer *ql, float x);
float teq_ql_i8_rowscale(const teq_qlayer *ql, int64_t m);
/* All rows of the layer's weights decoded to floats (row scales applied) in scratch slot 1:
 * [rows x K] in the row order above. */
teq_status teq_ql_decode(teq_exec_ctx *ctx, const teq_node *node, const teq_qlayer *ql, const float **W);
/* The same values in the FP32 convolution kernel's layout ([M/6][K][6], kernels.h teq_kwf) in scratch
 * slot 1, decoded TEQ_F32C_MR rows at a time through scratch slot 0: w->p points into the scratch. */
teq_status teq_ql_decode_kwf(teq_exec_ctx *ctx, const teq_node *node, const teq_qlayer *ql, teq_kwf *w);
/* 8-bit lanes (teq_qlayer.lanes == 8): the u8 lane integers q[0 .. n) of x[0 .. n) + shift (the shift added in
 * float first, as TeqQuantize adds it; 0: none) on nt threads, by the layer's table (kl8) where it was built for
 * this shift, else by the codes and alut8 (nt threads where there is no shift); and the lane
 * integer a padded tap reads for the padding value pv (pv itself, a level of the code: its integer on the grid,
 * clamped to 0 .. 255). The lanes convolution, the depthwise loop and the lanes MatMul all take these. */
void teq_ql_lanes8_ints(const teq_qlayer *ql, const float *x, int64_t n, float shift, uint8_t *q, int nt);
uint8_t teq_ql_lanes8_pad(const teq_qlayer *ql, float pv);
/* The same codes decoded (teq_ql_decode) and transformed for Winograd's kernel (kernels.h teq_kwino_fill) into
 * scratch: *w points there until the next use of the context's scratch slots 0 and 1 */
teq_status teq_ql_decode_wino(teq_exec_ctx *ctx, const teq_node *node, const teq_qlayer *ql, teq_kwino *w);

/* ---- FP32 layers on the kernels (fconv.c) ----
 * A Conv of one group whose weights are a float constant (not a quantized layer) runs on the FP32
 * convolution kernel (kernels.h, f32_conv) with its weights packed once at load, and the elementwise
 * chain after it (fast mode, as teq_qlayer.post) applied to each block of outputs in cache. Any other
 * Conv keeps im2col and SGEMM. A depthwise FP32 Conv (one input channel per group: nn.c's direct loop)
 * gets a pack with no weights (dw), which only carries its chain, applied per output plane; so does a
 * depthwise exponential layer on the float path (dec + dw). */
typedef struct teq_fconv {
    teq_kwf w;
    /* the float data packed, NULL once released: the pack serves the node only while it reads that data
     * (the executor hands operators copies of the constant's tensor, so the data pointer is the identity) */
    const float *src;
    bool dw;
    /* a quantized Conv (codes, not floats, in the graph): no weights here; an exponential layer on the
     * float path decodes its codes straight into this layout on each run (teq_ql_decode_kwf) */
    bool dec;
    /* a dec pack of a 3x3 Conv that use_wino takes: the codes decode and transform into wino on each run
     * (teq_ql_decode_wino) instead of into w's layout */
    bool dec_wino;
    /* a 3x3 Conv of stride 1 (any dilation, the same both ways) where the set has Winograd (teq_k_f32_wino_ok): its weights
     * transformed (wino.u) instead of packed for the direct kernel (w holds only M and K then) */
    teq_kwino wino;
    teq_echain *post;
} teq_fconv;
/* Pack every such Conv of g (node->fpack) when this CPU has the kernel and TEQ_FP32_CONV is not "blas".
 * release: then free the float data of each weight constant that only packed Convs read (its dims and
 * type stay), as teq_ops_release_bound_weights does for codes. */
teq_status teq_ops_pack_fp32(teq_graph *g, bool release, teq_error *err);
/* The node's pack when it applies to weight tensor w, else NULL (always for a dw pack). */
const teq_fconv *teq_fconv_of(const teq_node *node, const teq_tensor *w);
/* The chain fused after an FP32 Conv (packed or dw) in the fast mode, else NULL. */
const teq_echain *teq_fconv_post(const teq_node *node);
/* The node's dec pack (a quantized Conv of one group the FP32 kernel may take; not a dec + dw one), else NULL. */
const teq_fconv *teq_fconv_dec(const teq_node *node);
/* One image: P, g->C planes of g->PH x g->PW floats already padded (every tap in range, as i8_conv's);
 * Y[m * ldy + n] = conv + bias[m], fc->post applied per block in the fast mode (*chained says whether it was). */
teq_status teq_fconv_run(teq_exec_ctx *ctx, const teq_node *node, const teq_fconv *fc, const float *P,
                         const teq_i8conv *g, const float *bias, float *Y, int64_t ldy, bool *chained);

#endif
