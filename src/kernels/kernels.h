/* Dot-product kernels of quantized layers (METHOD section 5), below the operators.
 *
 * Every quantized layer is, after im2col or a transpose, one or more products
 *     Y[m, n] = row_scale[m] * sum_k W[m, k] * A[k, n]        m < M, n < N, k < K
 * with W the weights' codes (M output rows of K codes, one code per tensor plus a per-row scale) and
 * A the layer's input, quantized with the activation code. Bias, output layout and col2im are the
 * operator's business.
 *
 * Two families of results:
 * - the REFERENCE kernels (ref.c) define a quantized layer's result. The exponential one counts exactly
 *   as METHOD section 5 writes it: signed counters C1[i+j], C2[i], C3[j], C4 over the exponents of the
 *   non-zero pairs, the final sums against powers of the base in double, one rounding to float at the
 *   end. The INT8 one accumulates q_w * (q_a - zp) exactly in 64-bit integers.
 * - the FAST kernels (one set per instruction set, picked once at run time from cpuid) compute the same
 *   sums in float (decoding codes through lookup tables, FMA) or in int32 (INT8). They must agree with the
 *   reference within TEQ_KTOL (below), which bounds float accumulation in any order.
 *
 * Dependencies: core, quant (codes). Nothing here knows graphs or operators. */
#ifndef TEQ_KERNELS_H
#define TEQ_KERNELS_H

#include "../core/core.h"
#include "../quant/quant.h"

#include <string.h>

/* ---- weights laid out for the kernels ---- */

/* M rows of K codes. Rows start on 64-byte boundaries so that SIMD loads of a row never straddle two
 * rows' data; the codes of a row are packed n bits each, LSB first (as teq_pack_bits), and the bits
 * after the row's K-th code are zero up to row_bytes. */
typedef struct teq_kw {
    int64_t M, K;
    teq_qparams q;       /* the weights' code: TEQ_CODE_EXP, or TEQ_CODE_LINEAR (signed, symmetric) */
    int64_t row_bytes;   /* multiple of 64, >= teq_packed_bytes(K, bits) */
    uint8_t *packed;     /* [M * row_bytes], 64-byte aligned; plus 64 bytes of zero slack at the end */
    float *scale;        /* [M] per-row scale: the per-channel scale (1 without), times the step for linear */
    /* code -> value without the row scale: exponential: +-level(e), 0 for the zero code; linear: q, an integer
     * in -(2^(n-1)-1) .. 2^(n-1)-1. Codes that do not exist map to 0. */
    float lut[256];
    /* INT8 execution path (linear weights only, else NULL): the weights as int8, row-major with row stride
     * K4 = K rounded up to a multiple of 64 (zero padded), and each row's sum of weights (for the
     * activations' zero point). */
    int8_t *q8;
    int64_t K4;
    int32_t *q8_rowsum;
    /* The same int8 weights in the INT8 convolution's layout (i8_conv below): blocks of TEQ_I8C_MR rows,
     * [ceil(M / MR)][Kq / 4][MR][4], Kq = K rounded up to 4; rows past M and k past K are 0. Each step of
     * the microkernel reads the 4 codes of MR rows at one k-group as one 32-byte line. */
    int8_t *q8p;
    int64_t Kq;
    /* Every row's k pairs (2i, 2i+1) hold |w| + |w'| <= 128: a u8 code times each, summed, stays within
     * int16 (255 * 128 = 32640), so vpmaddubsw is exact and AVX2 takes its INT8 convolution by bytes
     * (7-bit weights always qualify: teq quantize --scheme int8 --bits 7,8). */
    int q8_pairs;
    /* Some row's decoded weights can be subnormal (a level times the row's scale below 2^-126, and not 0):
     * the decoders' callers that multiply in float flush them (teq_k_flush_subnormals; rec's exponential
     * file has rows whose scale is 3e-40). Set by teq_kw_init. */
    int subnormal;
} teq_kw;

/* Build from unpacked codes[M * K] (one code per byte, row-major, each < 2^bits) of code q, and per-row
 * scales row_scale[M] (NULL: all 1). Linear codes keep q.scale inside scale[]. */
teq_status teq_kw_init(teq_kw *w, const teq_qparams *q, int64_t M, int64_t K, const uint8_t *codes,
                       const float *row_scale, teq_error *err);
void teq_kw_free(teq_kw *w);
/* Code of element (m, k) (scalar; for tests and the reference kernels). */
int teq_kw_code(const teq_kw *w, int64_t m, int64_t k);
/* INT8 weights (q8 set) as the model runs them: the packed codes are dropped, since q8 holds the same
 * integers (code = q + 2^(n-1)), and q8p too unless keep_q8p (a depthwise layer never reads it). After this
 * packed is NULL: teq_kw_code, teq_k_decode and teq_k_gemv read q8 instead (same values; decode bit for
 * bit), and the sets' decode and gemv must not be called directly. Nothing else changes. */
void teq_kw_trim(teq_kw *w, bool keep_q8p);

/* ---- reference kernels (ref.c) ----
 * A is given as float values: A[k, n] at A[k * sak + n * san]; each value must be exactly 0 (padding, or
 * the zero code) or a value of the activation code qa (the output of TeqQuantize with qa). The kernel maps
 * it back to its code (exact: quantize(dequantize(c)) == c) and counts. Y[m, n] at Y[m * sym + n * syn]:
 * Y = result, or Y += result when accumulate is set (a bias already written there).
 * exp: w->q and qa exponential with the same base (TEQ_ERR_ARG otherwise).
 * i8:  w->q linear signed, qa linear (unsigned with zero point, or signed). */
teq_status teq_kref_exp_gemm(const teq_kw *w, const teq_qparams *qa, const float *A, int64_t sak, int64_t san,
                             int64_t N, float *Y, int64_t sym, int64_t syn, int accumulate, int n_threads);
teq_status teq_kref_i8_gemm(const teq_kw *w, const teq_qparams *qa, const float *A, int64_t sak, int64_t san,
                            int64_t N, float *Y, int64_t sym, int64_t syn, int accumulate, int n_threads);

/* Tolerance of a fast kernel against the reference, for one output: the reference's final rounding, the
 * float rounding of the levels (each within half an ulp) and float accumulation of K terms in any order
 * bound |fast - ref| by (K + 3) * 2^-24 * row_scale * sum_k |W[m,k] * A[k,n]|. Tests check exactly this. */
#define TEQ_KTOL_ULPS_PER_TERM 1.0
static inline double teq_ktol(int64_t K, double abs_sum) {
    return ((double)K + 3.0) * TEQ_KTOL_ULPS_PER_TERM * (1.0 / 16777216.0) * abs_sum;
}

/* ---- INT8 convolution straight from activation codes ----
 * A 1-D or 2-D convolution (one group) of input codes Q laid out as C planes of PH x PW bytes, already
 * padded by the caller (with the code of the padding value) so that every tap of every output lands
 * inside: output n = oy * OW + ox, tap (c, ky, kx) reads Q[c][oy*SH + ky*DH][ox*SW + kx*DW]. k = (c * KH
 * + ky) * KW + kx is the weights' row order (ONNX [M][C][KH][KW], K = C * KH * KW = w->K). For output
 * columns n0 <= n < n1, every row m < w->M:
 *     Y[m * ldy + n] = fl(fl((scale[m] * xscale) * (float)(dot - zp * rowsum[m])) + bias[m])
 * with dot = sum_k q8[m, k] * code_k(n) exact in int32 (no bias: the first rounding only), the same
 * arithmetic as i8_gemm followed by a bias add, so all sets and both paths agree bit for bit.
 * The kernel packs the codes of TEQ_I8C_NB columns at a time into `panel` (VNNI: [Kq / 4][NB][4] bytes, then,
 * for kernels 3 to 17 wide, a table of 16 bytes per k-group, made once a call; AVX2: int16 pairs and a row
 * block's widened weights; TEQ_I8C_PANEL_BYTES(Kq) of them, owned by the caller, one per thread) and runs the
 * MR x NB microkernel on it:
 * no float im2col, no transpose, and K padded to 4 instead of 64. */
enum { TEQ_I8C_MR = 8, TEQ_I8C_NB = 48 };
#define TEQ_I8C_PANEL_BYTES(Kq) ((size_t)(2 * TEQ_I8C_NB * (Kq) + 2 * TEQ_I8C_MR * (Kq) + 64))
/* What the caller does to each finished block of outputs while it is in cache: fn(user, Yb, ldy, M, n0, n1)
 * on Yb[m * ldy + (n - n0)] for m < M, n0 <= n < n1 (an elementwise chain after the convolution, say).
 * tile: the outputs are not wanted in Y at all; each thread's blocks go to a small buffer of its own
 * (M x NB floats, ldy = NB) and fn takes them from there (into codes for the next layer, say). */
typedef struct teq_kpost {
    void (*fn)(void *user, float *Yb, int64_t ldy, int64_t M, int64_t n0, int64_t n1);
    void *user;
    int tile;
    /* f32_conv only: an activation applied as each output is stored, before fn (which may then be NULL):
     * TEQ_KACT_RELU y = y > 0 ? y : 0, TEQ_KACT_CLIP y = (y < lo ? lo : y) > hi ? hi : (y < lo ? lo : y), the
     * expressions of the Relu and Clip operators, NaN and signed zeros included; 0: none */
    int act;
    float lo, hi;
} teq_kpost;
enum { TEQ_KACT_RELU = 1, TEQ_KACT_CLIP = 2 };
typedef struct teq_i8conv {
    int64_t C, PH, PW, KH, KW, SH, SW, DH, DW, OH, OW;
    /* FP32 convolution only (f32_conv), stride 2 along the row: each padded row of PW floats is stored
     * deinterleaved, its even columns then its odd ones (HE = (PW + 1) / 2 of them first), so that tap kx of
     * output column j is float (kx & 1) * HE + kx / 2 + j of its row: unit stride, as the direct path reads.
     * Only where teq_k_f32_conv_deint_ok says so; 0 everywhere else. */
    int deint;
} teq_i8conv;

/* ---- integer lanes (exponential layers, METHOD section 5 on integer hardware) ----
 * A layer's weight levels and activation levels as int16 integers on grids of steps dw and da (the
 * operators choose them, ops/qlayer.c), products summed exactly in int32: the caller keeps
 * K * max |w| * max |a| below 2^31. For a convolution of the same geometry as i8_conv (teq_i8conv, input
 * planes of int16 integers already padded):
 *     Y[m * ldy + (n - n0)] = fl(fl((scale[m] * xscale) * (float)dot) + bias[m]),  dot = sum_k w[m, k] a_k(n)
 * (no bias: the first rounding only). The vector kernel reads p, [ceil(M / MR)][K2 / 2][MR][2]: at each
 * pair of k, the two weights of MR rows as MR dwords, broadcast and vpdpwssd'ed against a panel of
 * [K2 / 2][NB][2] activation integers (two k of one column per dword). */
typedef struct teq_kw16 {
    int64_t M, K, K2; /* K2 = K rounded up to 2 */
    int16_t *w;       /* [M][K] row-major (the scalar kernel reads these) */
    int16_t *p;       /* the vector kernel's blocks, zero past M and K */
    float *scale;     /* [M] */
} teq_kw16;
teq_status teq_kw16_init(teq_kw16 *w, int64_t M, int64_t K, const int16_t *vals, const float *scale, teq_error *err);
void teq_kw16_free(teq_kw16 *w);

/* ---- 8-bit integer lanes for the GEMV (a weight read once per call: memory- or lookup-bound) ----
 * The integer-lane idea (above) with int8 on both sides, as the 4-bit GEMVs of llama.cpp's ggml take them:
 * the weights' code table on one grid dw = max |lut| / 127, wl[c] = round(lut[c] / dw) (|wl| <= 127), and
 * x on one grid per block of TEQ_KL8_B consecutive k, dx_b = max_{k in b} |x_k| / 127, xi_k = round(x_k / dx_b).
 *     y[m] = (scale[m] * dw) * S_m,   S_m = sum_b fl(dx_b * dot_b(m)),   dot_b(m) = sum_{k in b} wl[code(m, k)] xi_k
 * with dot_b exact in int32 and S_m summed in float in any order (a set may split dot_b into lane partials
 * first, each exact). Against the exact product y* = scale[m] * sum_k lut[c_k] x_k, per output:
 *     |y - y*| <= |scale[m]| sum_k (|lut[c_k]| dx_b / 2 + |x_k| dw / 2 + dw dx_b / 4)      the two grids
 *               + (16 NB + 3) 2^-24 |scale[m]| dw sum_b dx_b sum_{k in b} (|wl[c_k]| + 128) |xi_k|   the float sum
 * (128: the offset that makes the VNNI weights unsigned, whose share each block's lane 0 takes back), which
 * tests/test_kernels checks on every width 2..8 against a double evaluation. Unlike the lanes convolution
 * this is not a mode of a model's layers: it is the kernel for weight-bound products (an LLM's 4-bit
 * GEMV; `teq bench`'s teq4l rows), where the exact float GEMV is bound by its table lookups.
 * x as the sets read it, prepared once per call by teq_k_gemv_l8: */
enum { TEQ_KL8_B = 128 };
typedef struct teq_kl8x {
    int64_t NB;        /* ceil(K / TEQ_KL8_B) blocks */
    const int8_t *xi;  /* [NB][B]: block b holds xi of k = B b + 2 i at i and of k = B b + 2 i + 1 at B / 2 + i
                        * (i < B / 2), the order in which a 4-bit row's bytes give their low and high nibbles;
                        * 0 past K */
    const float *dx;   /* [NB] */
    const int32_t *neg; /* [NB][16]: -128 * sum_{k in b} xi_k in lane 0, 0 in lanes 1..15 */
    float dw;
    int8_t wl[256];    /* code -> its integer (codes that do not exist: 0) */
} teq_kl8x;
/* y[m] for every m < w->M. Falls back to teq_k_gemv (the exact float GEMV) where the lanes cannot hold
 * the values: trimmed INT8 weights (no codes), a non-finite x or table entry, or no memory for x's copy. */
void teq_k_gemv_l8(const teq_kw *w, const float *x, float *y, int n_threads);

/* ---- FP32 convolution (the FP32 engine's; no codes) ----
 * The i8_conv scheme on floats, for Conv layers of one group whose weights are constants: the weights
 * packed once, [ceil(M / MR)][K][MR] (at each k, the weights of MR = TEQ_F32C_MR rows as MR floats; rows past
 * M are 0), input planes of floats already padded as for i8_conv (teq_i8conv), and for output columns
 * n0 <= n < n1, every row m < M:
 *     Y[m * ldy + (n - n0)] = fl(acc + bias[m]),  acc = sum over k in order of fl(acc + W[m, k] * x_k(n)) (FMA)
 * (no bias: acc). The kernel packs TEQ_I8C_NB columns of TEQ_F32C_KC taps at a time into a panel
 * [KC][NB] (caller's, one per thread: TEQ_F32C_PANEL_FLOATS(K)) and runs an MR x NB microkernel over it,
 * the partial sums kept in Y between slices: no im2col matrix, bias (and post) while the block is in cache. */
enum { TEQ_F32C_KC = 128, TEQ_F32C_MR = 6 };
/* the mv layout (below): rows per block, and pixels of an output row per segment of the kernel's tile */
enum { TEQ_F32C_MV_MB = 64, TEQ_F32C_MV_NS = 96 };
/* the caller's scratch per thread: the panel [KC][NB], or (mv) the taps' K offsets and the tile [NS][MB]
 * (aligned to 64 bytes within it), whichever is larger */
#define TEQ_F32C_ROWS_FLOATS(K) ((size_t)(TEQ_I8C_NB * ((K) < TEQ_F32C_KC ? (K) : TEQ_F32C_KC) + 16))
#define TEQ_F32C_MV_FLOATS(K) ((size_t)(K) + TEQ_F32C_MV_NS * TEQ_F32C_MV_MB + 32)
/* or, where the output rows follow each other in the input planes (1x1 convolutions and the like), a chunk
 * of up to TEQ_F32C_CHUNK_MAX column blocks' panels [KC][NB] in TEQ_F32C_CHUNK_FLOATS (kint.h's driver) */
enum { TEQ_F32C_CHUNK_FLOATS = 16384, TEQ_F32C_CHUNK_MAX = 16 };
#define TEQ_F32C_PANEL_FLOATS_(K) \
    (TEQ_F32C_ROWS_FLOATS(K) > TEQ_F32C_MV_FLOATS(K) ? TEQ_F32C_ROWS_FLOATS(K) : TEQ_F32C_MV_FLOATS(K))
#define TEQ_F32C_PANEL_FLOATS(K) \
    (TEQ_F32C_PANEL_FLOATS_(K) > TEQ_F32C_CHUNK_FLOATS ? TEQ_F32C_PANEL_FLOATS_(K) : (size_t)TEQ_F32C_CHUNK_FLOATS)
typedef struct teq_kwf {
    int64_t M, K;
    float *p; /* [ceil(M / MR) * K * MR], 64-byte aligned; mv: [ceil(M / 64)][K][W] (below) */
    /* the layout of a set whose f32_conv holds the output channels in its vectors (teq_kernel_set.f32_mv):
     * blocks of MB = TEQ_F32C_MV_MB rows, at each k the block's weights as W floats (W = MB; the last block's
     * W its rows rounded up to 16, those past M 0), block b at p + MB K b */
    int mv;
} teq_kwf;
/* From W [M][K] row-major (ONNX [M][C][KH][KW] with K = C * KH * KW). Every packer here stores a subnormal
 * weight (|w| < 2^-126) as a zero of its sign (teq_k_flush_subnormal): a product with one is below 2^-126 |x|,
 * and an FMA with a subnormal operand takes a microcode assist on Intel cores (rec's SE Convs, a fifth of
 * their weights subnormal: 0.63 ms against 0.019; DECISIONS, fourteenth round). */
teq_status teq_kwf_init(teq_kwf *w, int64_t M, int64_t K, const float *W, teq_error *err);
/* The same in the mv layout, for the best set when it has one (teq_k_f32_conv_mv_ok) */
teq_status teq_kwf_init_mv(teq_kwf *w, int64_t M, int64_t K, const float *W, teq_error *err);
/* One block of that layout: rows (<= MR) rows of W [rows][K] into p [K][MR], the rows past `rows` 0. */
void teq_kwf_pack_block(const float *W, int64_t rows, int64_t K, float *p);
/* One block of the mv layout: rows (<= TEQ_F32C_MV_MB) rows of W [rows][K] into p [K][W], W = rows rounded up to 16 */
void teq_kwf_pack_block_mv(const float *W, int64_t rows, int64_t K, float *p);
void teq_kwf_free(teq_kwf *w);
/* a float's bits b, or those of a zero of its sign where b is subnormal (what DAZ hardware reads) */
static inline uint32_t teq_k_flush_bits(uint32_t b) { return (b & 0x7F800000u) ? b : (b & 0x80000000u); }
/* the same on a float */
static inline float teq_k_flush_subnormal(float v) {
    uint32_t b;
    memcpy(&b, &v, 4);
    b = teq_k_flush_bits(b);
    memcpy(&v, &b, 4);
    return v;
}
/* the same over n floats in place */
void teq_k_flush_subnormals(float *x, int64_t n);

/* ---- FP32 3x3 convolutions by Winograd's minimal filtering, F(2x2, 3x3) ----
 * (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016.) Each 2 x 2 tile of outputs of
 * channel m is Y = A^T [sum_c (G g_mc G^T) . (B^T d_c B)] A, with d_c the tile's 4 x 4 input patch of channel c,
 * g_mc the 3 x 3 kernel and . the elementwise product:
 *     B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
 *     A^T = [1 1 1 0; 0 1 -1 -1].
 * 16 products per tile and (c, m) where the direct sum takes 36: the sum over c becomes 16 GEMMs of M x C
 * by C x tiles, one per element xi = 4 i + j of the 4 x 4 transformed tile.
 * Rounding: the weights' transform U is computed in double and rounded once; V = B^T d B takes two roundings,
 * the sum over c C of them, A^T . A four: |winograd - exact| <= (C + 8) 2^-24 S, where S = sum_c sum_xi
 * |A_xi(i, j)| (G|g|G^T)_xi (B^T|d|B)_xi (test_kernels checks this bound against a sum in double). S is larger
 * than the direct sum's sum |w x| (the transforms add and subtract neighbours), and the results are not the
 * direct kernel's bits; DECISIONS ("Speed, twentieth round") has what it gives on the models. A non-finite
 * input reaches the tile's four outputs as NaN where the direct sum may give an infinity (inf - inf in the
 * transforms).
 * Packed once: u, [16][ceil(M / 8)][C][8], the 8 rows of a row block at each (xi, c), rows past M 0,
 * subnormals flushed as in teq_kwf. */
enum { TEQ_WINO_MR = 8 };
typedef struct teq_kwino {
    int64_t M, C;
    float *u;
} teq_kwino;
/* From W [M][C][3][3] (ONNX) */
teq_status teq_kwino_init(teq_kwino *w, int64_t M, int64_t C, const float *W, teq_error *err);
/* The same transform of the blocks of TEQ_WINO_MR rows from row m0 (a multiple of TEQ_WINO_MR) up to m1 into u
 * (teq_kwino_floats(M, C) floats, 64-byte aligned), allocating nothing; a block's rows past M are zeros. An
 * exponential layer on the float path transforms its decoded weights so on each run, blocks in parallel. */
void teq_kwino_fill(int64_t M, int64_t C, const float *W, float *u, int64_t m0, int64_t m1);
static inline int64_t teq_kwino_floats(int64_t M, int64_t C) {
    return 16 * ((M + TEQ_WINO_MR - 1) / TEQ_WINO_MR) * TEQ_WINO_MR * C;
}
void teq_kwino_free(teq_kwino *w);
/* The kernel works on blocks of tiles (their transformed inputs V, [16][C][nb], in L2): nb tiles, a multiple
 * of 16, about 24 KB of V per xi; and its scratch, V and one row block's products [16][8][nb] */
static inline int64_t teq_wino_nb(int64_t C) {
    const int64_t nb = 6144 / (C < 1 ? 1 : C) / 16 * 16;
    return nb < 32 ? 32 : nb > 128 ? 128 : nb;
}
#define TEQ_WINO_SCRATCH_FLOATS(C) ((size_t)(16 * (C) + 16 * TEQ_WINO_MR) * (size_t)teq_wino_nb(C) + 64)

/* ---- fast kernels: one set per instruction set ---- */

typedef enum teq_isa {
    TEQ_ISA_SCALAR = 0, /* portable C, always there */
    TEQ_ISA_AVX2 = 1,   /* AVX2 + FMA + BMI2 */
    TEQ_ISA_AVX512 = 2, /* AVX-512 F/BW/VL/VBMI (+ VNNI for the INT8 kernels, checked separately) */
    TEQ_N_ISA = 3,
} teq_isa;

typedef struct teq_kernel_set {
    const char *name; /* "scalar", "avx2", "avx512", "avx512+vnni" */
    /* rows m0..m1-1 of the float matrix: out[(m - m0) * K + k] = scale[m] * lut[code(m, k)] */
    void (*decode)(const teq_kw *w, int64_t m0, int64_t m1, float *out);
    /* exponential or linear weights, float activations x[K] (values of the activation code):
     * y[m] = scale[m] * sum_k lut[code(m, k)] * x[k] for m in m0..m1-1 */
    void (*gemv)(const teq_kw *w, const float *x, float *y, int64_t m0, int64_t m1);
    /* INT8 (w->q8 set): x[K4] uint8 activation codes (padding = zp), y[m] = scale[m] * xscale *
     * (sum_k q8[m,k] * x[k] - zp * q8_rowsum[m]) for m in m0..m1-1 */
    void (*i8_gemv)(const teq_kw *w, const uint8_t *x, int32_t zp, float xscale, float *y, int64_t m0, int64_t m1);
    /* INT8 GEMM: X is N columns of K4 uint8 codes, column-major (column n at X + n * K4, padding = zp);
     * Y[m * ldy + n] for m in m0..m1-1, n < N (same formula as i8_gemv). */
    void (*i8_gemm)(const teq_kw *w, const uint8_t *X, int64_t N, int32_t zp, float xscale, float *Y, int64_t ldy,
                    int64_t m0, int64_t m1);
    /* INT8 convolution (above) of columns n0..n1-1, n0 a multiple of TEQ_I8C_NB, into Y[m * ldy + (n - n0)]
     * (Y points at column n0); NULL where the set has none worth taking (the operators then use im2col and
     * i8_gemm) */
    void (*i8_conv)(const teq_kw *w, const teq_i8conv *g, const uint8_t *Q, int32_t zp, float xscale,
                    const float *bias, float *Y, int64_t ldy, int64_t n0, int64_t n1, uint8_t *panel,
                    const teq_kpost *post);
    /* integer lanes (above), columns n0..n1-1 as i8_conv; panel: TEQ_I8C_NB * K2 int16 */
    void (*i16_conv)(const teq_kw16 *w, const teq_i8conv *g, const int16_t *Q, float xscale, const float *bias,
                     float *Y, int64_t ldy, int64_t n0, int64_t n1, int16_t *panel, const teq_kpost *post);
    /* 8-bit lanes GEMV (above) of 4-bit weights, rows m0..m1-1; NULL where the set has none (the driver then
     * takes the AVX2 set's; widths other than 4 run the scalar set's, which takes every width) */
    void (*gemv_l8)(const teq_kw *w, const teq_kl8x *x, float *y, int64_t m0, int64_t m1);
    /* FP32 convolution (above), columns n0..n1-1 as i8_conv; panel: TEQ_F32C_PANEL_FLOATS(K); NULL where the
     * set has none (the operators use im2col and SGEMM) */
    void (*f32_conv)(const teq_kwf *w, const teq_i8conv *g, const float *X, const float *bias, float *Y, int64_t ldy,
                     int64_t n0, int64_t n1, float *panel, const teq_kpost *post);
    /* f32_conv also reads weights in the mv layout (teq_kwf.mv) */
    int f32_mv;
    /* INT8 depthwise plane (teq_k_i8_dw below); NULL where the set has none (the operators sum the integers on
     * the FP32 depthwise loop) */
    void (*i8_dw)(const uint8_t *x, int64_t IH, int64_t IW, int64_t PT, int64_t PL, uint8_t pc, const int8_t *w,
                  int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t DH, int32_t zpw, float sc, const float *bias,
                  float *y, int64_t OH, int64_t OW);
    /* FP32 depthwise plane (teq_k_f32_dw below); NULL where the set has none (the operators run their loop on a
     * padded copy) */
    void (*f32_dw)(const float *x, int64_t IH, int64_t IW, int64_t PT, int64_t PL, float pv, const float *w, int64_t KH,
                   int64_t KW, int64_t SH, int64_t SW, int64_t DH, float bias, float *y, int64_t OH, int64_t OW);
    /* FP32 3x3 convolution by Winograd (above) of the geometry teq_k_f32_wino takes, tile rows r0..r1-1 (output
     * rows 2 r0 .. 2 r1 - 1); scratch: TEQ_WINO_SCRATCH_FLOATS(C); post as f32_conv's, fn on whole output rows.
     * NULL where the set has none */
    void (*f32_wino)(const teq_kwino *w, const teq_i8conv *g, const float *X, const float *bias, float *Y,
                     int64_t ldy, int64_t r0, int64_t r1, float *scratch, const teq_kpost *post);
    /* teq_kwino_fill (the reference, scalar) with the same bits, 8 rows a vector of doubles; NULL: the scalar one */
    void (*wino_fill)(int64_t M, int64_t C, const float *W, float *u, int64_t m0, int64_t m1);
} teq_kernel_set;

/* The set of an instruction set, or NULL when this CPU lacks it. */
const teq_kernel_set *teq_kset(teq_isa isa);
/* The best set this CPU has, chosen once (thread-safe); the environment variable TEQ_ISA=scalar|avx2|avx512
 * caps the choice (tests and benchmarks use it to compare the variants). */
const teq_kernel_set *teq_kset_best(void);

/* Threaded drivers over rows (OpenMP, n_threads >= 1), through teq_kset_best(). */
void teq_k_decode(const teq_kw *w, float *out, int n_threads);
void teq_k_gemv(const teq_kw *w, const float *x, float *y, int n_threads);
void teq_k_i8_gemv(const teq_kw *w, const uint8_t *x, int32_t zp, float xscale, float *y, int n_threads);
void teq_k_i8_gemm(const teq_kw *w, const uint8_t *X, int64_t N, int32_t zp, float xscale, float *Y, int64_t ldy,
                   int n_threads);

/* The INT8 convolution (above) over all OH * OW columns, column blocks split over threads, post (may be
 * NULL) run on each finished block; teq_k_i8_conv_ok: false when the best set has no i8_conv or w no q8p. */
bool teq_k_i8_conv_ok(const teq_kw *w);
teq_status teq_k_i8_conv(const teq_kw *w, const teq_i8conv *g, const uint8_t *Q, int32_t zp, float xscale,
                         const float *bias, float *Y, int64_t ldy, const teq_kpost *post, int n_threads);

/* One output plane of an INT8 depthwise convolution from a plane of u8 codes x [IH][IW], padded by PT rows above
 * and PL columns on the left (and as far as the taps reach below and on the right) with the code pc, weights
 * w [KH][KW] int8: with xp(iy, ix) = x[iy][ix] inside the plane and pc outside,
 *     s = sum_{ky,kx} w[ky][kx] * xp(oy SH + ky DH - PT, ox SW + kx - PL) - zpw      (zpw = zp * sum of w)
 *     y[oy OW + ox] = fl(fl(sc * s) + bias[0])     (no bias: fl(sc * s))
 * the value the FP32 depthwise loop gives on the integers code - zp, whose float sums are exact while
 * KH KW 127 255 < 2^24 (qlayer.h teq_ql_dw_ok). teq_k_i8_dw_ok: whether the best set takes this geometry
 * (KH <= 64, KW <= 8, SW 1 or 2, no dilation along the row). */
bool teq_k_i8_dw_ok(int64_t KH, int64_t KW, int64_t SW, int64_t DW);
void teq_k_i8_dw(const uint8_t *x, int64_t IH, int64_t IW, int64_t PT, int64_t PL, uint8_t pc, const int8_t *w,
                 int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t DH, int32_t zpw, float sc, const float *bias,
                 float *y, int64_t OH, int64_t OW);

/* One output plane of an FP32 depthwise convolution from the plane x [IH][IW] as it lies (no padded copy), padded
 * by PT rows above and PL columns on the left (and as far as the taps reach) with pv, weights w [KH][KW]: with
 * xp(iy, ix) = x[iy][ix] inside the plane and pv outside, each output is one chain of FMAs in tap order,
 *     acc = 0 + bias; acc = fma(xp(oy SH + ky DH - PT, ox SW + kx - PL), w[ky][kx], acc) for ky, then kx
 *     y[oy OW + ox] = acc
 * (the operators' padded loop, nn.c dw_plane, in its FMA clone: the same bits). teq_k_f32_dw_ok: whether the
 * best set takes this geometry (KW 1, 3, 5 or 7, SW 1 or 2, no dilation along the row). */
bool teq_k_f32_dw_ok(int64_t KW, int64_t SW, int64_t DW);
void teq_k_f32_dw(const float *x, int64_t IH, int64_t IW, int64_t PT, int64_t PL, float pv, const float *w, int64_t KH,
                  int64_t KW, int64_t SH, int64_t SW, int64_t DH, float bias, float *y, int64_t OH, int64_t OW);

/* The integer-lanes convolution over all OH * OW columns (threads split the column blocks); false from
 * teq_k_i16_conv_ok when the best set has no i16_conv. */
bool teq_k_i16_conv_ok(void);
teq_status teq_k_i16_conv(const teq_kw16 *w, const teq_i8conv *g, const int16_t *Q, float xscale, const float *bias,
                          float *Y, int64_t ldy, const teq_kpost *post, int n_threads);
/* The FP32 convolution over all OH * OW columns (threads split the column blocks); false from
 * teq_k_f32_conv_ok when the best set has none. */
bool teq_k_f32_conv_ok(void);
/* Whether the best set has the Winograd kernel (f32_wino), and TEQ_WINOGRAD is not "off" (read once) */
bool teq_k_f32_wino_ok(void);
/* teq_kwino_fill by the best set's wino_fill where it has one (the same bits) */
void teq_k_wino_fill(int64_t M, int64_t C, const float *W, float *u, int64_t m0, int64_t m1);
/* The FP32 3x3 convolution by Winograd over all outputs (threads split the tile rows): stride 1, the same
 * dilation d >= 1 both ways (d > 1: each of the d^2 residue classes of outputs is an undilated convolution of
 * every d-th input; dispatch.c), g->C == w->C, planes padded so that every tap lies inside (OH <= PH - 2 d,
 * OW <= PW - 2 d), rows not deinterleaved; TEQ_ERR_UNSUPPORTED otherwise, or without the kernel. */
teq_status teq_k_f32_wino(const teq_kwino *w, const teq_i8conv *g, const float *X, const float *bias, float *Y,
                          int64_t ldy, const teq_kpost *post, int n_threads);
/* Whether the best set's f32_conv reads weights in the mv layout (teq_kwf_init_mv) */
bool teq_k_f32_conv_mv_ok(void);
/* Whether f32_conv takes a stride-2 convolution of this geometry (deint 0 in g) with weights w from
 * deinterleaved rows (teq_i8conv.deint) on its direct path: dilation 1 along the row, a kernel wider than
 * 1, output rows of 16 or more, weights not in the mv layout (whose broadcasts take any stride). The caller
 * then lays the rows out so and sets deint. */
bool teq_k_f32_conv_deint_ok(const teq_kwf *w, const teq_i8conv *g);
teq_status teq_k_f32_conv(const teq_kwf *w, const teq_i8conv *g, const float *X, const float *bias, float *Y,
                          int64_t ldy, const teq_kpost *post, int n_threads);
/* out[i] = lut[c[i]] for i < n (activation codes to their lane integers) */
void teq_k_map_i16(const int16_t lut[256], const uint8_t *c, int64_t n, int16_t *out);
/* out[i] = lut[c[i]] for i < n (activation codes to the codes of 8-bit lanes; out may be c) */
void teq_k_map_u8(const uint8_t lut[256], const uint8_t *c, int64_t n, uint8_t *out);

/* ---- activation quantization on the fly ----
 * A prepared activation code: the same codes as teq_q_quantize (bit for bit; tests check it), faster. */
typedef struct teq_kq teq_kq;
teq_status teq_kq_new(const teq_qparams *q, teq_kq **out, teq_error *err);
void teq_kq_free(teq_kq *kq);
/* A model's quantizer, once prepared: drops the tables that only the bucket search reads, where the entry
 * table answers every value on this CPU's path (an exponential code that has one, on a CPU without the
 * AVX-512 body). *kq may move; it quantizes as before, bit for bit. Nothing happens where it cannot. */
void teq_kq_trim(teq_kq **kq);
/* A model's quantizer that computes values (a TeqQuantize that runs, not one passed through): on (true) lets it
 * read its values from a step table where this CPU's set has the body (exponential codes on AVX-512; kint.h
 * struct teq_kv8), made by its first call on 65,536 values or more: the same values bit for bit, about 3 KB;
 * off frees it. Not while the quantizer runs. */
void teq_kq_value_table(teq_kq *kq, bool on);
/* the code it was prepared for */
const teq_qparams *teq_kq_params(const teq_kq *kq);
/* y = dequantize(quantize(x)) (y may alias x), n_threads >= 1 */
void teq_kq_fake(const teq_kq *kq, const float *x, int64_t n, float *y, int n_threads);
/* y = dequantize(quantize(fl(x + shift))) (y may alias x): a shifted code's TeqQuantize in one pass over
 * memory instead of two */
void teq_kq_fake_shifted(const teq_kq *kq, const float *x, int64_t n, float shift, float *y, int n_threads);
/* v[i] = quantize(x[i]) - off as floats, for a linear code (off: the zero point, or 2^(bits-1) for a symmetric
 * one): the exact integers INT8's depthwise loop sums, in one pass where the code is a float32 one */
void teq_kq_qvalues(const teq_kq *kq, const float *x, int64_t n, float *v);
/* out[i] = lut[quantize(x[i])]: an integer-lanes layer's activation integers straight from x, without the
 * codes in between (one thread) */
void teq_kq_lanes(const teq_kq *kq, const float *x, int64_t n, const int16_t lut[256], int16_t *out);
/* codes[n] = quantize(x) */
void teq_kq_codes(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, int n_threads);
/* out[i] = lut[quantize(fl(x[i] + shift))] (no addition where shift is 0), the codes then the map: an 8-bit lanes
 * layer's integers by definition. n_threads for the codes where there is no shift; one thread with one (the sums
 * in chunks on the stack) */
void teq_kq_lanes8(const teq_kq *kq, const uint8_t lut[256], float shift, const float *x, int64_t n, uint8_t *out,
                   int n_threads);
/* 8-bit lanes straight from floats: out[i] = lut[quantize(fl(x[i] + shift))] (no addition where shift is 0)
 * bit for bit, through a table of the step function (kint.h struct teq_kl8) on CPUs with the AVX-512 set,
 * about 2.5x faster than the codes and the map. teq_kl8_new builds it from kq (its exact codes) for a lane grid
 * of step da; NULL where that cannot be done (the steps do not fit its buckets, no AVX-512 set, out of
 * memory): callers then quantize and map. kq must be the one the table was built from. */
typedef struct teq_kl8 teq_kl8;
teq_kl8 *teq_kl8_new(const teq_kq *kq, const uint8_t lut[256], double da, float shift);
void teq_kl8_free(teq_kl8 *kl);
float teq_kl8_shift(const teq_kl8 *kl);
/* one thread */
void teq_kl8_run(const teq_kl8 *kl, const teq_kq *kq, const float *x, int64_t n, uint8_t *out);
/* the table walked in scalar code (any CPU): what the AVX-512 body computes, for the tests */
void teq_kl8_run_table(const teq_kl8 *kl, const teq_kq *kq, const float *x, int64_t n, uint8_t *out);

/* Which kernel path quantized layers take (environment TEQ_KERNEL, read once):
 * "ref" the reference kernels, "dequant" the float path of the quantizer (dequantized weights, FP32
 * operators), anything else or unset: the fast kernels. */
typedef enum teq_kmode { TEQ_KMODE_FAST = 0, TEQ_KMODE_REF = 1, TEQ_KMODE_DEQUANT = 2 } teq_kmode;
teq_kmode teq_kmode_get(void);
/* Override the mode (tests that run one layer both ways). Not thread-safe against running models. */
void teq_kmode_set(teq_kmode mode);

#endif
