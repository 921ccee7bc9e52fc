/* Neural-network operators: Conv, ConvTranspose, Gemm, MatMul, MaxPool, AveragePool,
 * GlobalAveragePool, GlobalMaxPool, BatchNormalization, InstanceNormalization, LRN.
 *
 * Layouts: activations NCHW (N, C, spatial...), row-major; Conv weights (M, C/group, k...),
 * ConvTranspose weights (C, M/group, k...). float32 unless noted (MaxPool also takes
 * float64, int8 and uint8).
 *
 * Spatial geometry is handled for 1, 2 and 3 spatial dims by padding the shape on the left
 * to three dims (depth, height, width) with size 1, so every kernel is written once for 3-D
 * and the 1-D / 2-D cases cost one trivial outer loop.
 *
 * Fast paths (why they exist):
 *   - 1x1 stride-1 unpadded Conv is a plain GEMM over (C/group) x (H*W): no im2col copy;
 *   - depthwise Conv (one input channel per group; PP-OCR and BlazeFace are mostly these)
 *     runs a direct loop per channel plane on a zero-padded copy of the input plane (so no
 *     bounds checks anywhere), with 16-wide register-blocked kernels for 3x3 / 5x5 at width
 *     stride 1 and 2 (stride 2 reads a deinterleaved copy, so all loads are unit-stride);
 *   - every other Conv is im2col into ctx scratch (in bands of about 2 MiB, which keeps the
 *     column matrix in cache while OpenBLAS packs it) + cblas_sgemm.
 * Threads: OpenMP over planes / im2col rows; GEMMs are split across OpenMP threads with
 * OpenBLAS itself kept single-threaded (see blas_threads for why).
 */
#include "ops.h"
#include "qlayer.h"

#include <cblas.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>


#if defined(__GNUC__)
#define TEQ_INLINE static inline __attribute__((always_inline))
#else
#define TEQ_INLINE static inline
#endif

#define MAXSP 3
/* Attribute integers (strides, pads, kernel sizes ...) larger than this are refused so that the
 * geometry arithmetic below can never overflow int64. */
#define ATTR_MAX ((int64_t)1 << 24)

/* ------------------------------------------------------------------------------------------ */
/* small helpers                                                                               */

static int64_t ceil_div(int64_t a, int64_t b) { /* b > 0 */
    return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

static int64_t floor_div(int64_t a, int64_t b) { /* b > 0 */
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

static bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

/* Optional input i: NULL when the node has fewer inputs or the slot is empty. */
static const teq_tensor *opt_in(const teq_node *node, const teq_tensor *const *in, int i) {
    return i < node->n_in ? in[i] : NULL;
}

/* Fail unless inputs 0..n-1 are all present (the executor should have checked; be safe). */
static teq_status need_inputs(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in, int n) {
    for (int i = 0; i < n; i++)
        if (i >= node->n_in || !in[i])
            return teq_op_fail(ctx, node, TEQ_ERR_ARG, "required input %d is missing", i);
    return TEQ_OK;
}

/* Whether optional output i was requested. */
static bool has_out(const teq_node *node, teq_tensor *const *out, int i) {
    return i < node->n_out && node->out[i] >= 0 && out[i] != NULL;
}

static int nthreads(const teq_exec_ctx *ctx) {
    int n = teq_ctx_threads(ctx);
    return n < 1 ? 1 : n;
}

/* OpenBLAS always runs single-threaded here; GEMMs are split across OpenMP threads instead
 * (sgemm_mt). Why: OpenBLAS's own pthread pool and libgomp's pool (used by every other op) both
 * spin while waiting, and on a machine with few cores the two pools starve each other: PP-OCRv4
 * det ran 2.5x slower with 2 threads than with 1 when both pools were active. With one pool the
 * OpenBLAS workers stay asleep. openblas_set_num_threads is process-wide, so it is (re)asserted
 * before each GEMM-based op. */
static void blas_threads(const teq_exec_ctx *ctx) {
    (void)ctx;
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

/* C (m x n, row stride ldc) = alpha * op(A) * op(B) + beta * C, row-major. Sizes must fit in int
 * (callers check). k == 0 is handled here because BLAS rejects some zero-size leading dims. */
static void sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                  const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (m == 0 || n == 0) return;
    if (k == 0) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n,
                (int)k, alpha, a, (int)(lda < 1 ? 1 : lda), b, (int)(ldb < 1 ? 1 : ldb), beta, c,
                (int)(ldc < 1 ? 1 : ldc));
}

/* sgemm over nt OpenMP threads: C is cut into column blocks (or row blocks when it is narrow),
 * each computed by one single-threaded OpenBLAS call. Small products run on the calling thread.
 * The cut depends on the shape only, never on nt: OpenBLAS picks its kernel (and so the rounding of
 * each element) from the shape of each call, and cutting by thread count made `teq run` of rec give
 * different bytes with --threads 1 and 2 (tests/determinism.sh). */
#define SGEMM_COL_BLOCK 256
#define SGEMM_ROW_BLOCK 64
static void sgemm_mt(int nt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                     int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    const double work = (double)m * (double)n * (double)k;
    if (work >= 262144.0) {
        if (n >= 2 * SGEMM_COL_BLOCK) {
            const int64_t nb = (n + SGEMM_COL_BLOCK - 1) / SGEMM_COL_BLOCK;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
            for (int64_t t = 0; t < nb; t++) {
                const int64_t j0 = t * SGEMM_COL_BLOCK, j1 = j0 + SGEMM_COL_BLOCK < n ? j0 + SGEMM_COL_BLOCK : n;
                sgemm(ta, tb, m, j1 - j0, k, alpha, a, lda, tb ? b + j0 * ldb : b + j0, ldb, beta, c + j0, ldc);
            }
            return;
        }
        if (m >= 2 * SGEMM_ROW_BLOCK) {
            const int64_t nb = (m + SGEMM_ROW_BLOCK - 1) / SGEMM_ROW_BLOCK;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
            for (int64_t t = 0; t < nb; t++) {
                const int64_t i0 = t * SGEMM_ROW_BLOCK, i1 = i0 + SGEMM_ROW_BLOCK < m ? i0 + SGEMM_ROW_BLOCK : m;
                sgemm(ta, tb, i1 - i0, n, k, alpha, ta ? a + i0 : a + i0 * lda, lda, b, ldb, beta, c + i0 * ldc, ldc);
            }
            return;
        }
    }
    sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static teq_status need_dtype(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *t, const char *what) {
    if (t->dtype != TEQ_DTYPE_FLOAT)
        return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "%s has type %s; only float32 is supported", what,
                           teq_dtype_name(t->dtype));
    return TEQ_OK;
}

/* An INTS attribute of exactly n values in [minv, ATTR_MAX], or dflt for each when absent/empty. */
static teq_status ints_attr(teq_exec_ctx *ctx, const teq_node *node, const char *name, int n, int64_t *v,
                            int64_t dflt, int64_t minv) {
    const teq_attr *at = teq_node_attr(node, name);
    if (at && at->type != TEQ_ATTR_INTS)
        return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "attribute %s must be a list of ints", name);
    int64_t len = 0;
    const int64_t *a = teq_node_attr_ints(node, name, &len);
    if (!a || len == 0) {
        for (int i = 0; i < n; i++) v[i] = dflt;
        return TEQ_OK;
    }
    if (len != n)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "attribute %s has %lld values, expected %d", name,
                           (long long)len, n);
    for (int i = 0; i < n; i++) {
        if (a[i] < minv || a[i] > ATTR_MAX)
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "attribute %s[%d] = %lld is out of range", name, i,
                               (long long)a[i]);
        v[i] = a[i];
    }
    return TEQ_OK;
}

enum { PAD_NOTSET, PAD_SAME_UPPER, PAD_SAME_LOWER, PAD_VALID };

static teq_status auto_pad_attr(teq_exec_ctx *ctx, const teq_node *node, int *mode) {
    const char *s = teq_node_attr_string(node, "auto_pad", "NOTSET");
    if (strcmp(s, "NOTSET") == 0 || s[0] == '\0') *mode = PAD_NOTSET;
    else if (strcmp(s, "SAME_UPPER") == 0) *mode = PAD_SAME_UPPER;
    else if (strcmp(s, "SAME_LOWER") == 0) *mode = PAD_SAME_LOWER;
    else if (strcmp(s, "VALID") == 0) *mode = PAD_VALID;
    else return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "unknown auto_pad '%s'", s);
    return TEQ_OK;
}

/* Spatial geometry, always 3-D: index 0 depth, 1 height, 2 width. For nsp < 3 the leading
 * entries are in = k = s = d = out = 1, pads 0. pb / pe: padding at begin / end. */
typedef struct geom {
    int nsp;
    int64_t in[MAXSP], k[MAXSP], s[MAXSP], d[MAXSP], pb[MAXSP], pe[MAXSP], out[MAXSP];
} geom;

static void geom_init(geom *g, int nsp) {
    g->nsp = nsp;
    for (int i = 0; i < MAXSP; i++) {
        g->in[i] = g->k[i] = g->s[i] = g->d[i] = g->out[i] = 1;
        g->pb[i] = g->pe[i] = 0;
    }
}

/* Reads strides, dilations, pads, auto_pad (and ceil_mode for pools) and computes the output
 * size of a forward convolution / pooling window over in_sp with kernel kernel (nsp dims each).
 * pool: whether ceil_mode applies. Dilations are read for every op (AveragePool has them only
 * from opset 19 on; earlier models simply do not set them). */
static teq_status fwd_geom(teq_exec_ctx *ctx, const teq_node *node, int nsp, const int64_t *in_sp,
                           const int64_t *kernel, bool pool, geom *g) {
    teq_status st;
    int64_t s[MAXSP], d[MAXSP], p[2 * MAXSP];
    int mode;
    geom_init(g, nsp);
    if ((st = ints_attr(ctx, node, "strides", nsp, s, 1, 1))) return st;
    if ((st = ints_attr(ctx, node, "dilations", nsp, d, 1, 1))) return st;
    if ((st = ints_attr(ctx, node, "pads", 2 * nsp, p, 0, 0))) return st;
    if ((st = auto_pad_attr(ctx, node, &mode))) return st;
    int64_t ceil_mode = pool ? teq_node_attr_int(node, "ceil_mode", 0) : 0;
    const int off = MAXSP - nsp;
    for (int i = 0; i < nsp; i++) {
        const int j = off + i;
        const int64_t in = in_sp[i], k = kernel[i];
        if (k < 1 || k > ATTR_MAX)
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "kernel size %lld is invalid", (long long)k);
        const int64_t dk = (k - 1) * d[i] + 1;
        int64_t pb = 0, pe = 0, out;
        if (mode == PAD_SAME_UPPER || mode == PAD_SAME_LOWER) {
            out = ceil_div(in, s[i]);
            int64_t total = (out - 1) * s[i] + dk - in;
            if (total < 0) total = 0;
            if (mode == PAD_SAME_UPPER) pb = total / 2, pe = total - pb;
            else pe = total / 2, pb = total - pe;
        } else {
            if (mode == PAD_NOTSET) pb = p[i], pe = p[nsp + i];
            const int64_t num = in + pb + pe - dk;
            if (num < 0)
                return teq_op_fail(ctx, node, TEQ_ERR_SHAPE,
                                   "spatial dim %d: input %lld with padding %lld+%lld is smaller than the "
                                   "dilated kernel %lld",
                                   i, (long long)in, (long long)pb, (long long)pe, (long long)dk);
            if (ceil_mode && mode == PAD_NOTSET) {
                out = ceil_div(num, s[i]) + 1;
                /* The last window must start inside the input or its left padding (as ONNX Runtime
                 * and PyTorch do); otherwise it would cover only right padding. */
                if ((out - 1) * s[i] >= in + pb) out--;
            } else {
                out = num / s[i] + 1;
            }
        }
        g->in[j] = in, g->k[j] = k, g->s[j] = s[i], g->d[j] = d[i], g->pb[j] = pb, g->pe[j] = pe, g->out[j] = out;
    }
    return TEQ_OK;
}

static int64_t geom_in_size(const geom *g) { return g->in[0] * g->in[1] * g->in[2]; }
static int64_t geom_out_size(const geom *g) { return g->out[0] * g->out[1] * g->out[2]; }
static int64_t geom_k_size(const geom *g) { return g->k[0] * g->k[1] * g->k[2]; }

/* For output coordinate o along axis a: the range [*k0, *k1) of kernel taps that land inside the
 * input, and the input position of tap 0 (*base; tap k reads base + k*d). */
static void tap_range(const geom *g, int a, int64_t o, int64_t *k0, int64_t *k1, int64_t *base) {
    const int64_t b = o * g->s[a] - g->pb[a], d = g->d[a];
    int64_t lo = b >= 0 ? 0 : ceil_div(-b, d);
    int64_t hi = floor_div(g->in[a] - 1 - b, d) + 1;
    lo = clamp64(lo, 0, g->k[a]);
    hi = clamp64(hi, lo, g->k[a]);
    *k0 = lo, *k1 = hi, *base = b;
}

/* Along axis a, the extent of a padded copy of the input that holds every tap of every output: the input
 * after its begin padding, or as far as the last output's last tap reaches, whichever is longer. */
static int64_t padded_extent(const geom *g, int a) {
    const int64_t reach = (g->out[a] - 1) * g->s[a] + (g->k[a] - 1) * g->d[a] + 1;
    return g->in[a] + g->pb[a] > reach ? g->in[a] + g->pb[a] : reach;
}

/* Fill y (rows x n, contiguous) with bias[r] per row (0 when bias is NULL). */
static void fill_rows(float *restrict y, int64_t rows, int64_t n, const float *bias) {
    for (int64_t r = 0; r < rows; r++) {
        const float b = bias ? bias[r] : 0.0f;
        float *yr = y + r * n;
#pragma omp simd
        for (int64_t j = 0; j < n; j++) yr[j] = b;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Conv                                                                                        */

/* im2col for output rows [r0, r1) of one group (r = oz*OY + oy; each row is OX outputs wide).
 * x: (cg, IZ, IY, IX). col: (cg*KZ*KY*KX) x ((r1-r0)*OX), pv where a tap falls in padding (0, or the
 * quantized shift of a shifted input: see pad_value in op_conv). */
static void im2col(const float *restrict x, int64_t cg, const geom *g, int64_t r0, int64_t r1,
                   float *restrict col, float pv, int nt) {
    const int64_t IZ = g->in[0], IY = g->in[1], IX = g->in[2];
    const int64_t KY = g->k[1], KX = g->k[2], OY = g->out[1], OX = g->out[2];
    const int64_t kk = g->k[0] * KY * KX, ldcol = (r1 - r0) * OX, rows = cg * kk;
    const int64_t SX = g->s[2];
#pragma omp parallel for num_threads(nt) if (nt > 1 && rows * ldcol > 65536) schedule(static)
    for (int64_t row = 0; row < rows; row++) {
        const int64_t c = row / kk, kr = row % kk;
        const int64_t kz = kr / (KY * KX), ky = (kr / KX) % KY, kx = kr % KX;
        const float *xc = x + c * IZ * IY * IX;
        float *dst = col + row * ldcol;
        /* Along x, input index = ox*SX + offx; [lo, hi) is where it is inside the row. */
        const int64_t offx = kx * g->d[2] - g->pb[2];
        const int64_t lo = clamp64(offx >= 0 ? 0 : ceil_div(-offx, SX), 0, OX);
        const int64_t hi = clamp64(floor_div(IX - 1 - offx, SX) + 1, lo, OX);
        for (int64_t r = r0; r < r1; r++) {
            const int64_t oz = r / OY, oy = r % OY;
            const int64_t iz = oz * g->s[0] - g->pb[0] + kz * g->d[0];
            const int64_t iy = oy * g->s[1] - g->pb[1] + ky * g->d[1];
            float *d = dst + (r - r0) * OX;
            if (iz < 0 || iz >= IZ || iy < 0 || iy >= IY) {
                for (int64_t o = 0; o < OX; o++) d[o] = pv;
                continue;
            }
            const float *s = xc + (iz * IY + iy) * IX + offx;
            for (int64_t o = 0; o < lo; o++) d[o] = pv;
            if (SX == 1) {
                if (hi > lo) memcpy(d + lo, s + lo, sizeof(float) * (size_t)(hi - lo));
            } else {
                for (int64_t o = lo; o < hi; o++) d[o] = s[o * SX];
            }
            for (int64_t o = hi; o < OX; o++) d[o] = pv;
        }
    }
}

static void fill_f32(float *d, size_t n, float v) {
    if (v == 0.0f && !signbit(v)) {
        memset(d, 0, sizeof(float) * n);
        return;
    }
    for (size_t i = 0; i < n; i++) d[i] = v;
}

/* Depthwise convolution works on a zero-padded copy of each input plane, so every tap of every
 * output is in range: no bounds checks and no edge cases anywhere in the loops. */

/* Copy x (IH, IW) into xp (PH, PW) at row PT, column PL; pv (the pad value, normally 0) elsewhere. With codes
 * (an INT8 depthwise layer whose input came as codes, ql its layer) each row is turned into its integers
 * (code minus zero point, as teq_ql_codes_values) straight into the padded plane instead, x unused: no pass
 * into a buffer and copy from it. The conversion inline and cloned: a call per row of 80 codes was 3.5% of
 * rec's INT8 run. */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) TEQ_CLONES static void
pad_rows(const float *restrict x, const uint8_t *codes, const teq_qlayer *ql, int64_t IH, int64_t IW, float *restrict xp,
         int64_t PH, int64_t PW, int64_t PT, int64_t PL, float pv) {
    const int64_t rows_in = IH < PH - PT ? IH : PH - PT;
    const int64_t cols_in = IW < PW - PL ? IW : PW - PL;
    const float zp = codes ? teq_ql_code_zp(ql) : 0.0f;
    fill_f32(xp, (size_t)(PT * PW), pv);
    /* each row by loops, no calls: memset, memcpy and memset per row of 20 floats (M-LSD's 384 planes of
     * 20 x 20) cost more than the copy */
    for (int64_t r = 0; r < rows_in; r++) {
        float *d = xp + (PT + r) * PW;
        for (int64_t j = 0; j < PL; j++) d[j] = pv;
        if (codes) {
            const uint8_t *cr = codes + r * IW;
#pragma omp simd
            for (int64_t j = 0; j < cols_in; j++) d[PL + j] = (float)cr[j] - zp;
        } else {
            const float *xr = x + r * IW;
#pragma omp simd
            for (int64_t j = 0; j < cols_in; j++) d[PL + j] = xr[j];
        }
        for (int64_t j = PL + cols_in; j < PW; j++) d[j] = pv;
    }
    fill_f32(xp + (PT + rows_in) * PW, (size_t)((PH - PT - rows_in) * PW), pv);
}
static void pad_plane(const float *restrict x, int64_t IH, int64_t IW, float *restrict xp, int64_t PH, int64_t PW,
                      int64_t PT, int64_t PL, float pv) {
    pad_rows(x, NULL, NULL, IH, IW, xp, PH, PW, PT, PL, pv);
}

/* Same, for stride-2 kernels: each padded row is stored deinterleaved, its even columns then its
 * odd columns (HE = (PW+1)/2 of them first), so that stride-2 taps become unit-stride loads:
 * output j, tap kx reads column 2j+kx = even[j + kx/2] or odd[j + kx/2]. */
TEQ_CLONES static void pad_plane_deint(const float *restrict x, int64_t IH, int64_t IW, float *restrict xp, int64_t PH,
                            int64_t PW, int64_t PT, int64_t PL, float pv) {
    const int64_t rows_in = IH < PH - PT ? IH : PH - PT;
    const int64_t cols_in = IW < PW - PL ? IW : PW - PL;
    const int64_t HE = (PW + 1) / 2, HO = PW / 2;
    fill_f32(xp, (size_t)(PT * PW), pv);
    for (int64_t r = 0; r < rows_in; r++) {
        float *e = xp + (PT + r) * PW, *o = e + HE;
        const float *xr = x + r * IW; /* padded column q is xr[q - PL] for q in [PL, PL + cols_in) */
        /* pairs (2h, 2h+1) entirely inside the data: a branch-free (vectorizable) split */
        const int64_t h0 = clamp64((PL + 1) / 2, 0, HO), h1 = clamp64((PL + cols_in) / 2, h0, HO);
        for (int64_t h = 0; h < h0; h++) {
            e[h] = 2 * h >= PL && 2 * h < PL + cols_in ? xr[2 * h - PL] : pv;
            o[h] = 2 * h + 1 >= PL && 2 * h + 1 < PL + cols_in ? xr[2 * h + 1 - PL] : pv;
        }
#pragma omp simd
        for (int64_t h = h0; h < h1; h++) {
            e[h] = xr[2 * h - PL];
            o[h] = xr[2 * h + 1 - PL];
        }
        for (int64_t h = h1; h < HE; h++) {
            e[h] = 2 * h >= PL && 2 * h < PL + cols_in ? xr[2 * h - PL] : pv;
            if (h < HO) o[h] = 2 * h + 1 >= PL && 2 * h + 1 < PL + cols_in ? xr[2 * h + 1 - PL] : pv;
        }
    }
    fill_f32(xp + (PT + rows_in) * PW, (size_t)((PH - PT - rows_in) * PW), pv);
}

/* Offset of tap kx from output column j's base r + j: plain rows for stride 1, deinterleaved
 * rows (even half then odd half of HE) for stride 2. */
#define DW_TAP(kx, SW, HE) ((SW) == 1 ? (kx) : ((kx)&1) * (HE) + ((kx) >> 1))

/* INT8 (nn.c's depthwise path for teq_ql_dw_ok layers): the exact integer sums (started at 0, no bias) are
 * stored as fl(fl(sc * acc) + b), b only where ob is set, sc = teq_ql_i8_rowscale: the INT8 kernels' formula,
 * applied as the sums leave the registers. The AVX2 clone contracts a product and a sum into one FMA
 * (-ffp-contract=fast), which would round once: __builtin_assoc_barrier (GCC 12) keeps the two roundings
 * apart; a compiler without it scales each finished row in memory behind a compiler barrier instead
 * (dw_scale_row). Before, a pass per plane in qlayer.c (the baseline's 4 lanes) cost 5% of rec's INT8
 * inference. */
typedef struct {
    bool on;
    float sc;
    const float *ob;
} dw_i8;
#if defined(__has_builtin) && !defined(TEQ_DW_ROW_SCALE) /* -DTEQ_DW_ROW_SCALE: the fallback, to check it */
#if __has_builtin(__builtin_assoc_barrier)
#define DW_I8_IN_REGS 1
#endif
#endif
#ifdef DW_I8_IN_REGS
#define DW_I8_OUT(v, i8) ((i8)->on ? ((i8)->ob ? __builtin_assoc_barrier((v) * (i8)->sc) + *(i8)->ob : (v) * (i8)->sc) : (v))
#else
#define DW_I8_OUT(v, i8) (v)
#endif

#if defined(__GNUC__)
/* GCC/Clang vector extensions: 8 floats, lowered to AVX in the x86-64-v3 clone, to SSE pairs in
 * the baseline one. */
typedef float v8f __attribute__((vector_size(32)));
typedef float v8f_u __attribute__((vector_size(32), aligned(4), __may_alias__));
/* macros, not functions: no vector value ever crosses a call (ABI notes otherwise) */
#define v8_ld(p) (*(const v8f_u *)(p))
#define v8_st(p, v) (*(v8f_u *)(p) = (v))

/* 8 * NV consecutive outputs: o[t] = bias + sum_{ky, kx} w[ky][kx] * r[ky*RS + tap(kx) + t], NV accumulators.
 * KW, SW and NV are compile-time constants at the call sites, so the loops unroll. Each accumulator is a
 * chain of dependent FMAs, one per tap (4 cycles apart on Zen 3): with two (16 outputs a block, as before) a
 * 5x5 block waited 100 cycles for 50 FMAs; with eight or more the FMA pipes are the limit. */
TEQ_INLINE void dw_blkn(float *restrict o, const float *restrict r, int64_t RS, int64_t HE, const float *restrict w,
                        int64_t KH, float bias, const dw_i8 *i8, const int KW, const int SW, const int NV) {
    v8f a[12];
    _Pragma("GCC unroll 12") for (int v = 0; v < NV; v++) a[v] = (v8f){0} + bias;
    for (int64_t ky = 0; ky < KH; ky++) {
        const float *rr = r + ky * RS;
        const float *wr = w + ky * KW;
        for (int kx = 0; kx < KW; kx++) {
            const float *q = rr + DW_TAP(kx, SW, HE);
            const float wv = wr[kx];
            _Pragma("GCC unroll 12") for (int v = 0; v < NV; v++) a[v] += v8_ld(q + 8 * v) * wv;
        }
    }
    _Pragma("GCC unroll 12") for (int v = 0; v < NV; v++) v8_st(o + 8 * v, DW_I8_OUT(a[v], i8));
}

TEQ_INLINE void dw_blk8(float *restrict o, const float *restrict r, int64_t RS, int64_t HE, const float *restrict w,
                        int64_t KH, float bias, const dw_i8 *i8, const int KW, const int SW) {
    v8f a0 = (v8f){0} + bias;
    for (int64_t ky = 0; ky < KH; ky++) {
        const float *rr = r + ky * RS;
        const float *wr = w + ky * KW;
        for (int kx = 0; kx < KW; kx++) a0 += v8_ld(rr + DW_TAP(kx, SW, HE)) * wr[kx];
    }
    v8_st(o, DW_I8_OUT(a0, i8));
}
#endif

/* One output: the scalar tail of a row. */
TEQ_INLINE void dw_one(float *restrict o, const float *restrict r, int64_t RS, int64_t HE, const float *restrict w,
                       int64_t KH, float bias, const dw_i8 *i8, const int KW, const int SW) {
    float acc = bias;
    for (int64_t ky = 0; ky < KH; ky++)
        for (int kx = 0; kx < KW; kx++) acc += r[ky * RS + DW_TAP(kx, SW, HE)] * w[ky * KW + kx];
    *o = DW_I8_OUT(acc, i8);
}

/* All output rows of one plane for kernel width KW and stride SW known at compile time (dilation
 * 1 along the width). xp: padded plane, deinterleaved when SW == 2. */
/* dw_i8's scaling of a finished row in memory (the paths that do not scale in registers): the products are
 * stored and the compiler barrier makes the sums reload them, so the clone cannot fuse the two roundings. */
TEQ_INLINE void dw_scale_row(float *restrict o, int64_t n, float sc, const float *ob) {
#pragma omp simd
    for (int64_t j = 0; j < n; j++) o[j] = sc * o[j];
    if (ob) {
        __asm__ volatile("" ::: "memory");
        const float b = *ob;
#pragma omp simd
        for (int64_t j = 0; j < n; j++) o[j] = o[j] + b;
    }
}

TEQ_INLINE void dw_rows(const float *restrict xp, int64_t PW, const float *restrict w, int64_t KH, float bias,
                        float *restrict y, int64_t OH, int64_t OW, int64_t SH, int64_t DH, const dw_i8 *i8, const int KW,
                        const int SW) {
    const int64_t HE = (PW + 1) / 2, RS = DH * PW;
    for (int64_t oy = 0; oy < OH; oy++) {
        const float *r0 = xp + oy * SH * PW;
        float *o = y + oy * OW;
        int64_t j = 0;
#if defined(__GNUC__)
        while (j + 16 <= OW) {
            /* as many vectors as the row has left, up to 12 (12 accumulators, the weight and a load fit the 16
             * registers): a block's time is its longest chain, one FMA per tap, so fewer and wider blocks */
            const int64_t nv = (OW - j) / 8 < 12 ? (OW - j) / 8 : 12;
            switch (nv) {
#define DWB(NV)                                                                                                        \
    case NV: dw_blkn(o + j, r0 + j, RS, HE, w, KH, bias, i8, KW, SW, NV); break;
                DWB(2) DWB(3) DWB(4) DWB(5) DWB(6) DWB(7) DWB(8) DWB(9) DWB(10) DWB(11) DWB(12)
#undef DWB
            default: break;
            }
            j += 8 * nv;
        }
        if (j + 8 <= OW) dw_blk8(o + j, r0 + j, RS, HE, w, KH, bias, i8, KW, SW), j += 8;
        /* the last 1..7 of a row of 8 or more: the row's last 8 as one vector, over outputs already stored
         * (the same sums again: same taps, same order, in the same clone). On 20-wide rows (M-LSD's 384
         * channels at 20 x 20) the scalar tail, one chain of dependent FMAs per output, took most of the plane. */
        if (j < OW && OW >= 8) dw_blk8(o + OW - 8, r0 + OW - 8, RS, HE, w, KH, bias, i8, KW, SW), j = OW;
#endif
        for (; j < OW; j++) dw_one(o + j, r0 + j, RS, HE, w, KH, bias, i8, KW, SW);
#ifndef DW_I8_IN_REGS
        if (i8->on) dw_scale_row(o, OW, i8->sc, i8->ob);
#endif
    }
}

/* Whether dw_plane wants the stride-2 (deinterleaved) layout. */
static bool dw_deint(int64_t KW, int64_t SW, int64_t DW) { return SW == 2 && DW == 1 && (KW == 3 || KW == 5); }

/* One output plane of a depthwise convolution from a padded input plane.
 * xp: (PH, PW) padded input (every tap in range; deinterleaved when dw_deint()); w: (KH, KW);
 * y: (OH, OW). */
TEQ_CLONES static void dw_plane(const float *restrict xp, int64_t PW, const float *restrict w, int64_t KH,
                                int64_t KW, float bias, float *restrict y, int64_t OH, int64_t OW, int64_t SH,
                                int64_t SW, int64_t DH, int64_t DW, const dw_i8 *i8) {
    if (DW == 1 && KW == 3 && SW == 1) dw_rows(xp, PW, w, KH, bias, y, OH, OW, SH, DH, i8, 3, 1);
    else if (DW == 1 && KW == 3 && SW == 2) dw_rows(xp, PW, w, KH, bias, y, OH, OW, SH, DH, i8, 3, 2);
    else if (DW == 1 && KW == 5 && SW == 1) dw_rows(xp, PW, w, KH, bias, y, OH, OW, SH, DH, i8, 5, 1);
    else if (DW == 1 && KW == 5 && SW == 2) dw_rows(xp, PW, w, KH, bias, y, OH, OW, SH, DH, i8, 5, 2);
    else if (DW == 1 && KW == 1 && SW == 1) dw_rows(xp, PW, w, KH, bias, y, OH, OW, SH, DH, i8, 1, 1);
    else if (DW == 1 && KW == 7 && SW == 1) dw_rows(xp, PW, w, KH, bias, y, OH, OW, SH, DH, i8, 7, 1);
    else {
        /* any other width / stride / dilation: per-tap passes over each output row */
        for (int64_t oy = 0; oy < OH; oy++) {
            float *restrict o = y + oy * OW;
            for (int64_t j = 0; j < OW; j++) o[j] = bias;
            for (int64_t ky = 0; ky < KH; ky++) {
                const float *r = xp + (oy * SH + ky * DH) * PW;
                for (int64_t kx = 0; kx < KW; kx++) {
                    const float wv = w[ky * KW + kx];
                    const float *s = r + kx * DW;
                    if (SW == 1) {
#pragma omp simd
                        for (int64_t j = 0; j < OW; j++) o[j] += wv * s[j];
                    } else {
                        for (int64_t j = 0; j < OW; j++) o[j] += wv * s[j * SW];
                    }
                }
            }
            if (i8->on) dw_scale_row(o, OW, i8->sc, i8->ob);
        }
    }
}

/* Conv: X (N, C, spatial...), W (M, C/group, k...), optional B (M) -> Y (N, M, out...). */
/* *chained: the fused elementwise chain of an INT8 layer (teq_qlayer.post) was applied on the way */
static teq_status conv_run(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in, teq_tensor *const *out,
                           bool *chained) {
    if (need_inputs(ctx, node, in, 2)) return TEQ_ERR_ARG;
    const teq_tensor *x = in[0], *w = in[1], *b = opt_in(node, in, 2);
    teq_status st;
    /* uint8 X: the codes an INT8 layer in front wrote for this one (teq_qlayer.outq; fast mode only) */
    const bool xcodes = x->dtype == TEQ_DTYPE_UINT8 && teq_ql_of(node) && teq_kmode_get() == TEQ_KMODE_FAST;
    if ((!xcodes && (st = need_dtype(ctx, node, x, "X"))) || (st = need_dtype(ctx, node, w, "W"))) return st;
    if (b && (st = need_dtype(ctx, node, b, "B"))) return st;
    if (x->ndim < 3 || x->ndim > 2 + MAXSP)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "X must have rank 3 to 5, got %d", x->ndim);
    if (w->ndim != x->ndim)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "W has rank %d, X has rank %d", w->ndim, x->ndim);
    const int nsp = x->ndim - 2;
    const int64_t N = x->dims[0], C = x->dims[1], M = w->dims[0];
    const int64_t group = teq_node_attr_int(node, "group", 1);
    if (group < 1 || C % group != 0 || M % group != 0)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "group %lld does not divide channels %lld / %lld",
                           (long long)group, (long long)C, (long long)M);
    const int64_t Cg = C / group, Mg = M / group;
    if (w->dims[1] != Cg)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "W dim 1 is %lld, expected C/group = %lld",
                           (long long)w->dims[1], (long long)Cg);
    int64_t kattr[MAXSP];
    if ((st = ints_attr(ctx, node, "kernel_shape", nsp, kattr, -1, 1))) return st;
    for (int i = 0; i < nsp; i++)
        if (kattr[i] != -1 && kattr[i] != w->dims[2 + i])
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "kernel_shape[%d] = %lld but W has %lld", i,
                               (long long)kattr[i], (long long)w->dims[2 + i]);
    if (b && (b->ndim != 1 || b->dims[0] != M))
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "B must have shape [%lld]", (long long)M);
    geom g;
    if ((st = fwd_geom(ctx, node, nsp, x->dims + 2, w->dims + 2, false, &g))) return st;
    /* teq extension (not ONNX): `pad_value`, the value of the padded taps. The quantizer sets it on a
     * Conv whose input is a shifted code (quant_ops.h): its input is then x + c, and a padded tap,
     * 0 in the original domain, is the quantized value of c there (as an input value of 0 would be). */
    const float pv = teq_node_attr_float(node, "pad_value", 0.0f);
    if (!isfinite(pv)) return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "pad_value must be finite");

    int64_t ydims[2 + MAXSP] = {N, M};
    for (int i = 0; i < nsp; i++) ydims[2 + i] = g.out[MAXSP - nsp + i];
    teq_tensor *y = out[0];
    /* A quantized layer (qlayer.h): the reference kernel and the INT8 kernels take every product below
     * (qmm); fast exponential layers decode their weights here and go on as FP32. */
    const teq_qlayer *ql = teq_ql_of(node);
    /* INT8, fast mode: the output as the next layer's codes (teq_qlayer.outq) */
    const bool ycodes = ql && ql->outq && teq_kmode_get() == TEQ_KMODE_FAST;
    if ((st = teq_ctx_alloc(ctx, y, ycodes ? TEQ_DTYPE_UINT8 : TEQ_DTYPE_FLOAT, x->ndim, ydims))) return st;
    const int64_t S = geom_out_size(&g), Sin = geom_in_size(&g), KK = geom_k_size(&g);
    if (N == 0 || M == 0 || S == 0) return TEQ_OK;

    const float *X = x->data, *W = w->data, *B = b ? b->data : NULL;
    float *Y = y->data;
    const int nt = nthreads(ctx);
    /* integer lanes (teq_qlayer.lanes): an EXP layer that the fast mode runs as INT8 (teq_ql_conv_i8) */
    const bool qmm = ql && (teq_kmode_get() == TEQ_KMODE_REF || ql->kind == TEQ_QL_INT8 || ql->lanes);
    if (ql && ql->w.M != M) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "quantized weights do not match W");
    /* INT8 depthwise (fast mode): exact integer sums in float (below); the weights as their integers */
    const bool dwi8 = qmm && Cg == 1 && nsp <= 2 && teq_kmode_get() == TEQ_KMODE_FAST && teq_ql_dw_ok(ql, KK);
    /* ... on the integer kernel (kernels.h teq_k_i8_dw) where the best set has one for this geometry: its input
     * planes stay codes (u8), its weights the int8 rows */
    const bool dwk = dwi8 && teq_k_i8_dw_ok(nsp == 2 ? g.k[1] : 1, g.k[2], g.s[2], g.d[2]);
    /* ... an exponential depthwise layer on 8-bit lanes (teq_qlayer.depthwise): the same kernel on its lane integers
     * (the input's codes mapped by alut8, zero point zp8) and w8's rows, where teq_ql_lanes_eligible let it have
     * lanes for this very geometry; its TeqQuantize in front hands the floats on (teq_qlayer.in_shift added here) */
    const bool dwl = qmm && !xcodes && ql->lanes == 8 && ql->depthwise && Cg == 1 && nsp <= 2 &&
                     teq_kmode_get() == TEQ_KMODE_FAST && ql->w8.q8 &&
                     teq_k_i8_dw_ok(nsp == 2 ? g.k[1] : 1, g.k[2], g.s[2], g.d[2]);
    if (ql && ql->lanes && ql->depthwise && teq_kmode_get() == TEQ_KMODE_FAST && !dwl)
        return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "depthwise integer lanes do not take this geometry");
    /* ... FP32 (or decoded exponential weights) on the FP32 kernel: its input planes read where they lie. Where a
     * plane is large (16 KB or more: from memory, which the padded copy read once more) or its rows are at most 64
     * outputs (one block of vectors a row); rec's 12 x 80 planes with 5 x 5 taps ran faster on the padded loop
     * (0.284 against 0.312 ms a layer), whose 8-float loads split fewer cache lines */
#ifndef TEQ_DW_MIN
#define TEQ_DW_MIN 4096
#endif
    const bool dwf = !qmm && !xcodes && (g.in[1] * g.in[2] >= TEQ_DW_MIN || g.out[2] <= 64) &&
                     teq_k_f32_dw_ok(g.k[2], g.s[2], g.d[2]);
    if (dwi8 && !dwk && (st = teq_ql_dw_weights(ctx, node, ql, &W))) return st;
    /* an exponential layer on the float path, FP32 kernel: its codes decoded into the kernel's layout, where
     * the outputs are many enough (>= 256 per channel) for the kernel's gain to pay for the transposing
     * decode (on cls's and rec's small late layers it did not: DECISIONS "Speed, fourth round") */
    teq_fconv efc;
    const teq_fconv *dec = ql && !qmm && ql->kind == TEQ_QL_EXP && Cg > 1 && group == 1 && nsp <= 2 && S >= 256
                               ? teq_fconv_dec(node)
                               : NULL;
    if (dec) {
        efc = *dec;
        /* a 3x3 one of stride 1 (fconv.c use_wino): on Winograd's kernel, as the FP32 layer it came from */
        if (dec->dec_wino) {
            if ((st = teq_ql_decode_wino(ctx, node, ql, &efc.wino))) return st;
            efc.w.M = ql->w.M, efc.w.K = ql->w.K;
        } else if ((st = teq_ql_decode_kwf(ctx, node, ql, &efc.w))) {
            return st;
        }
    }
    if (ql && !dec && !dwi8 && !dwl && (!qmm || Cg == 1) && (st = teq_ql_decode(ctx, node, ql, &W))) return st;
    /* an FP32 layer whose weights were packed at load (fconv.c) */
    const teq_fconv *fc = dec ? &efc : !ql ? teq_fconv_of(node, w) : NULL;
    if (!W && !qmm && !fc) return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "weights are held as packed codes only");

    if ((xcodes || ycodes) && !(Cg == 1 ? dwi8 : qmm && !ql->lanes && group == 1 && nsp <= 2 && teq_k_i8_conv_ok(&ql->w)))
        return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "layer cannot take or give INT8 codes on this path");
    if (Cg == 1 && nsp <= 2 && !(qmm && teq_kmode_get() == TEQ_KMODE_REF)) {
        /* Depthwise (or one input channel per group): direct loop per output plane on a padded
         * copy of its input plane (one per thread). Output channel m reads input channel m / Mg.
         * For 1-D the plane is 1 x width. */
        const int64_t OH = g.out[1], OW = g.out[2];
        const int64_t PH = padded_extent(&g, 1), PW = padded_extent(&g, 2);
        const int64_t planes = N * M;
        const int ntp = planes < nt ? (int)planes : nt;
        const bool deint = !dwk && !dwl && !dwf && dw_deint(g.k[2], g.s[2], g.d[2]);
        size_t bytes;
        if (!teq_mul_size((size_t)PH, (size_t)PW, &bytes) || !teq_mul_size(bytes, sizeof(float) * (size_t)ntp, &bytes))
            return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "padded plane size overflows");
        /* floats of a padded input plane per thread (PH * PW fits, checked above), none for the integer kernel,
         * which reads the codes unpadded */
        const int64_t PP = dwk || dwl || dwf ? 0 : PH * PW;
        if (dwk || dwl || dwf) bytes = 0;
        /* INT8: each input plane as its integer codes minus the zero point (floats, exact) in a second
         * buffer per thread, padded with the padding value's; the plane sums are then exact integers */
        size_t qbytes = 0, ybytes = 0;
        if ((dwi8 || dwl) && (!teq_mul_size((size_t)Sin, sizeof(float) * (size_t)ntp, &qbytes) || bytes > SIZE_MAX - qbytes))
            return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "padded plane size overflows");
        /* codes out: each output plane in float first (one per thread), then to the codes */
        if (ycodes && (!dwi8 || !teq_mul_size((size_t)S, sizeof(float) * (size_t)ntp, &ybytes) ||
                       bytes + qbytes > SIZE_MAX - ybytes))
            return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "output plane size overflows");
        /* nothing at all for the FP32 kernel on planes as they lie */
        float *pad = bytes + qbytes + ybytes ? teq_ctx_scratch(ctx, bytes + qbytes + ybytes) : NULL;
        if (!pad && bytes + qbytes + ybytes) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory for padded planes (%zu bytes)", bytes);
        const float pvq = dwi8 ? teq_ql_code_value(ql, pv) : pv;
        /* the integer kernel: the padding's code, and the zero point (an integer below 256, exactly a float) */
        const int32_t zp = dwk ? (int32_t)teq_ql_code_zp(ql) : 0;
        uint8_t pcode = (uint8_t)(dwk ? (int32_t)pvq + zp : 0);
        /* lanes: the padding value's integer, as teq_ql_conv_lanes takes it */
        if (dwl) pcode = teq_ql_lanes8_pad(ql, pv);
        /* an FP32 layer's chain, or an exponential layer's on the float path (its dec + dw pack) */
        const teq_echain *fpost = !ql || (!qmm && ql->kind == TEQ_QL_EXP) ? teq_fconv_post(node) : NULL;
#pragma omp parallel num_threads(ntp) if (ntp > 1)
        {
            const size_t t = (size_t)omp_get_thread_num();
            float *xp = PP ? pad + t * (size_t)PP : NULL;
            float *xq = dwi8 || dwl ? pad + (size_t)ntp * (size_t)PP + t * (size_t)Sin : NULL;
            float *yp = ycodes ? pad + (size_t)ntp * (size_t)(PP + Sin) + t * (size_t)S : NULL;
            int64_t last_c = -1;
            const uint8_t *cs = NULL; /* the integer kernel's input plane of codes */
            /* this thread's planes (static split), so that the FP32 chain can run over a run of finished
             * consecutive planes (>= 1024 values, or the last ones) instead of each small plane alone: a
             * 6 x 24 plane left the chain's per-call overhead larger than its pass over memory */
            const int64_t T = omp_get_num_threads(), p0 = planes * (int64_t)t / T, p1 = planes * ((int64_t)t + 1) / T;
            int64_t pend = p0;
            for (int64_t p = p0; p < p1; p++) {
                const int64_t n = p / M, m = p % M, c = n * C + m / Mg;
                if (dwf) {
                    /* the kernel reads the plane where it lies */
                } else if (c != last_c && dwl) {
                    /* the plane's lane integers of x + in_shift, unpadded (the kernel pads with pcode) */
                    teq_ql_lanes8_ints(ql, X + c * Sin, Sin, ql->in_shift, (uint8_t *)xq, 1);
                    cs = (const uint8_t *)xq;
                } else if (c != last_c && dwk) {
                    /* the integer kernel reads the plane's codes unpadded: a code input where it lies, a float one
                     * quantized first (into the integer buffer) */
                    cs = (const uint8_t *)x->data + c * Sin;
                    if (!xcodes) teq_kq_codes(ql->kqa, X + c * Sin, Sin, (uint8_t *)xq, 1), cs = (const uint8_t *)xq;
                } else if (c != last_c) {
                    const float *src = X + c * Sin;
                    if (xcodes && !deint) {
                        pad_rows(NULL, (const uint8_t *)x->data + c * Sin, ql, g.in[1], g.in[2], xp, PH, PW, g.pb[1],
                                 g.pb[2], pvq);
                    } else {
                        if (xcodes) teq_ql_codes_values(ql, (const uint8_t *)x->data + c * Sin, Sin, xq), src = xq;
                        else if (dwi8) teq_ql_code_values(ql, src, Sin, xq), src = xq;
                        if (deint) pad_plane_deint(src, g.in[1], g.in[2], xp, PH, PW, g.pb[1], g.pb[2], pvq);
                        else pad_plane(src, g.in[1], g.in[2], xp, PH, PW, g.pb[1], g.pb[2], pvq);
                    }
                }
                last_c = c;
                float *yo = ycodes ? yp : Y + p * S;
                const dw_i8 i8 = {.on = dwi8, .sc = dwi8 ? teq_ql_i8_rowscale(ql, m) : 0.0f, .ob = dwi8 && B ? B + m : NULL};
                if (dwf) {
                    teq_k_f32_dw(X + c * Sin, g.in[1], g.in[2], g.pb[1], g.pb[2], pv, W + m * KK, g.k[1], g.k[2], g.s[1],
                                 g.s[2], g.d[1], B ? B[m] : 0.0f, yo, OH, OW);
                } else if (dwk) {
                    teq_k_i8_dw(cs, g.in[1], g.in[2], g.pb[1], g.pb[2], pcode, ql->w.q8 + m * ql->w.K4, g.k[1], g.k[2],
                                g.s[1], g.s[2], g.d[1], zp * ql->w.q8_rowsum[m], i8.sc, i8.ob, yo, OH, OW);
                } else if (dwl) {
                    /* i8_conv's epilogue: (row scale * da8) * (sum - zp8 * row sum), then the bias */
                    teq_k_i8_dw(cs, g.in[1], g.in[2], g.pb[1], g.pb[2], pcode, ql->w8.q8 + m * ql->w8.K4, g.k[1],
                                g.k[2], g.s[1], g.s[2], g.d[1], ql->zp8 * ql->w8.q8_rowsum[m],
                                ql->w8.scale[m] * (float)ql->da8, B ? B + m : NULL, yo, OH, OW);
                } else {
                    dw_plane(xp, PW, W + m * KK, g.k[1], g.k[2], B && !dwi8 ? B[m] : 0.0f, yo, OH, OW, g.s[1], g.s[2],
                             g.d[1], g.d[2], &i8);
                }
                if ((dwi8 || dwl) && ql->post) teq_echain_apply(ql->post, yo, S, S, m);
                if (fpost && ((p + 1 - pend) * S >= 1024 || p + 1 == p1)) {
                    /* FP32: the chain on the finished planes pend .. p while in cache */
                    teq_echain_apply(fpost, Y + pend * S, (p + 1 - pend) * S, S, pend % M);
                    pend = p + 1;
                }
                if (ycodes) teq_kq_codes(ql->outq, yo, S, (uint8_t *)y->data + p * S, 1);
            }
        }
        *chained = ((dwi8 || dwl) && ql->post) || fpost;
        return TEQ_OK;
    }

    if (qmm && group == 1 && nsp <= 2 && teq_kmode_get() == TEQ_KMODE_FAST) {
        /* INT8 from codes: the input quantized once into padded planes, im2col done on the codes while
         * packing the kernel's panels (teq_ql_conv_i8); the im2col + i8_gemm path below remains for CPUs
         * without the kernel and for grouped convolutions */
        const teq_i8conv ic = {.C = C, .PH = padded_extent(&g, 1), .PW = padded_extent(&g, 2), .KH = g.k[1],
                               .KW = g.k[2], .SH = g.s[1], .SW = g.s[2], .DH = g.d[1], .DW = g.d[2], .OH = g.out[1],
                               .OW = g.out[2]};
        bool done = false;
        for (int64_t n = 0; n < N; n++) {
            const void *xn = xcodes ? (const void *)((const uint8_t *)x->data + n * C * Sin) : (const void *)(X + n * C * Sin);
            uint8_t *cn = ycodes ? (uint8_t *)y->data + n * M * S : NULL;
            if (ql->lanes) /* an exponential layer on integer lanes */
                st = teq_ql_conv_lanes(ctx, node, ql, X + n * C * Sin, g.in[1], g.in[2], g.pb[1], g.pb[2], &ic, pv, B,
                                       Y + n * M * S, S, ql->post, &done);
            else
                st = teq_ql_conv_i8(ctx, node, ql, xn, xcodes, g.in[1], g.in[2], g.pb[1], g.pb[2], &ic, pv, B,
                                    Y + n * M * S, S, ql->post, cn, &done);
            if (st) return st;
            if (!done) break;
        }
        if (done) {
            *chained = ql->post != NULL;
            return TEQ_OK;
        }
        if (xcodes || ycodes) return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "INT8 codes without the kernel");
    }
    if (fc) {
        if (group != 1 || nsp > 2)
            return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "packed FP32 weights on a grouped or 3-D convolution");
        const teq_i8conv ic = {.C = C, .PH = padded_extent(&g, 1), .PW = padded_extent(&g, 2), .KH = g.k[1],
                               .KW = g.k[2], .SH = g.s[1], .SW = g.s[2], .DH = g.d[1], .DW = g.d[2], .OH = g.out[1],
                               .OW = g.out[2]};
        /* the kernel reads every tap in range: padded planes (pad_plane, as the depthwise loop), unless the
         * geometry needs none; at stride 2 along the row, where the kernel's direct path takes them, the planes'
         * rows deinterleaved (pad_plane_deint, its even columns then its odd ones): each tap then reads its row
         * at unit stride, instead of the panel path gathering every other float per tap (BlazeFace's first
         * layer, 5x5 over 3 channels: 0.29 -> 0.22 ms) */
        teq_i8conv icd = ic;
        const bool deint = teq_k_f32_conv_deint_ok(&fc->w, &ic);
        icd.deint = deint;
        float *xp = NULL;
        if (deint || ic.PH != g.in[1] || ic.PW != g.in[2]) {
            size_t bytes;
            if (!teq_mul_size((size_t)C, (size_t)(ic.PH * ic.PW), &bytes) || !teq_mul_size(bytes, sizeof(float), &bytes))
                return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "padded input size overflows");
            if (!(xp = teq_ctx_scratch_slot(ctx, 2, bytes)))
                return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory for the padded input (%zu bytes)", bytes);
        }
        for (int64_t n = 0; n < N; n++) {
            const float *xn = X + n * C * Sin;
            if (xp) {
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && C * ic.PH * ic.PW > 65536)
                for (int64_t c = 0; c < C; c++) {
                    if (deint)
                        pad_plane_deint(xn + c * Sin, g.in[1], g.in[2], xp + c * ic.PH * ic.PW, ic.PH, ic.PW, g.pb[1],
                                        g.pb[2], pv);
                    else
                        pad_plane(xn + c * Sin, g.in[1], g.in[2], xp + c * ic.PH * ic.PW, ic.PH, ic.PW, g.pb[1], g.pb[2],
                                  pv);
                }
                xn = xp;
            }
            if ((st = teq_fconv_run(ctx, node, fc, xn, &icd, B, Y + n * M * S, S, chained))) return st;
        }
        return TEQ_OK;
    }
    const int64_t K = Cg * KK;
    if (!fits_int(K) || !fits_int(S) || !fits_int(Mg))
        return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "convolution too large for BLAS (int sizes)");
    blas_threads(ctx);
    const float beta = B ? 1.0f : 0.0f;
    bool pointwise = true;
    for (int i = 0; i < MAXSP; i++)
        if (g.k[i] != 1 || g.s[i] != 1 || g.pb[i] != 0 || g.pe[i] != 0) pointwise = false;
    if (pointwise) {
        /* 1x1, stride 1, no padding: Y_g (Mg x S) = W_g (Mg x Cg) * X_g (Cg x S). */
        for (int64_t n = 0; n < N; n++)
            for (int64_t gi = 0; gi < group; gi++) {
                float *yg = Y + (n * M + gi * Mg) * S;
                if (qmm) {
                    if ((st = teq_ql_gemm(ctx, node, ql, gi * Mg, Mg, X + (n * C + gi * Cg) * Sin, Sin, 1, S,
                                          B ? B + gi * Mg : NULL, yg, S, 1)))
                        return st;
                    continue;
                }
                if (B) fill_rows(yg, Mg, S, B + gi * Mg);
                sgemm_mt(nt, false, false, Mg, S, Cg, 1.0f, W + gi * Mg * Cg, Cg, X + (n * C + gi * Cg) * Sin, Sin, beta, yg,
                      S);
            }
        return TEQ_OK;
    }

    /* General: im2col of a band of output rows, then Y_g[:, band] = W_g (Mg x K) * col (K x band). */
    const int64_t R = g.out[0] * g.out[1], OX = g.out[2];
    const int64_t budget = (int64_t)1 << 19; /* floats of im2col scratch per band (16 MiB) */
    int64_t band = K * OX > 0 ? budget / (K * OX) : R;
    band = clamp64(band, 1, R);
    size_t bytes;
    if (!teq_mul_size((size_t)(K * band), (size_t)OX * sizeof(float), &bytes))
        return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "im2col buffer size overflows");
    float *col = teq_ctx_scratch(ctx, bytes ? bytes : sizeof(float));
    if (!col) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory for im2col (%zu bytes)", bytes);
    for (int64_t n = 0; n < N; n++)
        for (int64_t gi = 0; gi < group; gi++) {
            float *yg = Y + (n * M + gi * Mg) * S;
            if (B && !qmm) fill_rows(yg, Mg, S, B + gi * Mg);
            const float *xg = X + (n * C + gi * Cg) * Sin;
            for (int64_t r0 = 0; r0 < R; r0 += band) {
                const int64_t r1 = r0 + band < R ? r0 + band : R, cols = (r1 - r0) * OX;
                im2col(xg, Cg, &g, r0, r1, col, pv, nt);
                if (qmm) {
                    if ((st = teq_ql_gemm(ctx, node, ql, gi * Mg, Mg, col, cols, 1, cols, B ? B + gi * Mg : NULL,
                                          yg + r0 * OX, S, 1)))
                        return st;
                } else {
                    sgemm_mt(nt, false, false, Mg, cols, K, 1.0f, W + gi * Mg * K, K, col, cols, beta, yg + r0 * OX, S);
                }
            }
        }
    return TEQ_OK;
}

/* The fused chain after a Conv or ConvTranspose: it sits in one of the two slots (qlayer.c fast_passes fills
 * one and empties the other) */
static const teq_echain *conv_post(const teq_node *node) {
    const teq_qlayer *ql = teq_ql_of(node);
    return ql && ql->post ? (teq_kmode_get() == TEQ_KMODE_FAST ? ql->post : NULL) : teq_fconv_post(node);
}

/* A path that did not apply the chain as it wrote (im2col + i8_gemm, say): over the whole output, since the
 * nodes of the chain pass their input on in the fast mode */
static void conv_post_after(const teq_echain *post, teq_tensor *y) {
    const int64_t n = teq_tensor_numel(y), nc = y->ndim >= 2 ? y->dims[0] * y->dims[1] : 1;
    teq_echain_apply(post, y->data, n, nc > 0 ? n / nc : n, 0);
}

static teq_status op_conv(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                          teq_tensor *const *out) {
    bool chained = false;
    const teq_status st = conv_run(ctx, node, in, out, &chained);
    const teq_echain *post = conv_post(node);
    if (!st && !chained && post) conv_post_after(post, out[0]);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* ConvTranspose                                                                               */

/* Scatter-add col ((Mg*KK) x Sin) into y (Mg, OZ, OY, OX): tap (kz,ky,kx) of input position
 * (iz,iy,ix) lands at o = i*s - pb + k*d. */
static void col2im(const float *restrict col, int64_t mg, const geom *g, float *restrict y, int nt) {
    const int64_t IZ = g->in[0], IY = g->in[1], IX = g->in[2];
    const int64_t KZ = g->k[0], KY = g->k[1], KX = g->k[2];
    const int64_t OZ = g->out[0], OY = g->out[1], OX = g->out[2];
    const int64_t Sin = IZ * IY * IX, KK = KZ * KY * KX, SX = g->s[2];
#pragma omp parallel for num_threads(nt) if (nt > 1 && mg > 1) schedule(static)
    for (int64_t m = 0; m < mg; m++) {
        float *ym = y + m * OZ * OY * OX;
        for (int64_t kz = 0; kz < KZ; kz++)
            for (int64_t ky = 0; ky < KY; ky++)
                for (int64_t kx = 0; kx < KX; kx++) {
                    const float *c = col + (m * KK + (kz * KY + ky) * KX + kx) * Sin;
                    const int64_t offx = kx * g->d[2] - g->pb[2]; /* ox = ix*SX + offx */
                    const int64_t lo = clamp64(offx >= 0 ? 0 : ceil_div(-offx, SX), 0, IX);
                    const int64_t hi = clamp64(floor_div(OX - 1 - offx, SX) + 1, lo, IX);
                    if (hi <= lo) continue;
                    for (int64_t iz = 0; iz < IZ; iz++) {
                        const int64_t oz = iz * g->s[0] - g->pb[0] + kz * g->d[0];
                        if (oz < 0 || oz >= OZ) continue;
                        for (int64_t iy = 0; iy < IY; iy++) {
                            const int64_t oy = iy * g->s[1] - g->pb[1] + ky * g->d[1];
                            if (oy < 0 || oy >= OY) continue;
                            const float *cr = c + (iz * IY + iy) * IX;
                            float *yr = ym + (oz * OY + oy) * OX + offx;
                            if (SX == 1) {
#pragma omp simd
                                for (int64_t ix = lo; ix < hi; ix++) yr[ix] += cr[ix];
                            } else {
                                for (int64_t ix = lo; ix < hi; ix++) yr[ix * SX] += cr[ix];
                            }
                        }
                    }
                }
    }
}

/* Taps that do not overlap and cover every output once: kernel = stride, dilation 1, no padding, output =
 * input * stride in every dimension (PP-OCR det's 2 x 2 upsampling). */
static bool col2im_tiles_ok(const geom *g) {
    for (int i = 0; i < MAXSP; i++)
        if (g->k[i] != g->s[i] || g->d[i] != 1 || g->pb[i] || g->pe[i] || g->out[i] != g->in[i] * g->s[i]) return false;
    return true;
}

/* col2im for that case: y[m][o] = col[m, k][i] + b[m] with o = i * s + k, a permutation of col written once
 * (fill_rows then col2im's scatter read and wrote y twice, the scatter one float at a time at stride 2: det's
 * 24 x 320 x 320 output took 6.9 ms in teq, 4.0 in ONNX Runtime). The same value as fill then add: b + c is
 * c + b, and without a bias c + 0 (a -0 becomes +0 in both). */
TEQ_CLONES static void col2im_tiles(const float *restrict col, int64_t mg, const geom *g, const float *bias,
                                    float *restrict y, const teq_echain *post, int64_t ch0, int nt) {
    const int64_t IZ = g->in[0], IY = g->in[1], IX = g->in[2];
    const int64_t KZ = g->k[0], KY = g->k[1], KX = g->k[2];
    const int64_t OY = g->out[1], OX = g->out[2], OS = g->out[0] * OY * OX;
    const int64_t Sin = IZ * IY * IX, KK = KZ * KY * KX;
#pragma omp parallel for num_threads(nt) if (nt > 1 && mg > 1) schedule(static)
    for (int64_t m = 0; m < mg; m++) {
        const float b = bias ? bias[m] : 0.0f;
        for (int64_t iz = 0; iz < IZ; iz++)
            for (int64_t kz = 0; kz < KZ; kz++)
                for (int64_t iy = 0; iy < IY; iy++)
                    for (int64_t ky = 0; ky < KY; ky++) {
                        float *yr = y + m * OS + ((iz * KZ + kz) * OY + iy * KY + ky) * OX;
                        const float *c = col + (m * KK + (kz * KY + ky) * KX) * Sin + (iz * IY + iy) * IX;
                        if (KX == 2) {
                            const float *c1 = c + Sin;
#pragma omp simd
                            for (int64_t ix = 0; ix < IX; ix++) {
                                yr[2 * ix] = c[ix] + b;
                                yr[2 * ix + 1] = c1[ix] + b;
                            }
                        } else {
                            for (int64_t kx = 0; kx < KX; kx++)
                                for (int64_t ix = 0; ix < IX; ix++) yr[ix * KX + kx] = c[kx * Sin + ix] + b;
                        }
                        /* the fused chain on the KY output rows of this iy, consecutive in y and in L1 */
                        if (post && ky == KY - 1) teq_echain_apply(post, yr - (KY - 1) * OX, KY * OX, KY * OX, ch0 + m);
                    }
    }
}

/* floats of col per slice of the FP32 path below: 32 KB, in L1 while it is scattered (det's 4-row
 * ConvTranspose.2: 0.79-0.97 ms with the whole col, 0.80-1.06 with these slices, 1.58-1.63 with 256 KB ones) */
#define TEQ_CONVT_CH 8192
/* The INT8 kernel's blocks of col (kernels.h teq_kpost, tile mode) scattered straight into Y for the
 * col2im_tiles geometry, so that col (Mg KK x Sin, det's 24 x 4 x 25,600 floats: 9.8 MB written and read back)
 * never exists: tile rows r = m KK + k (k = (kz KY + ky) KX + kx), columns n0..n1 of the input positions.
 * Each value is col2im_tiles' (c + b, then the chain, then stored at o = i s + k). */
typedef struct {
    const geom *g;
    int64_t Mg, ch0;
    const float *bias;
    float *y; /* the group's first output channel */
    const teq_echain *post;
    /* INT8 with its output as the next layer's codes (teq_qlayer.outq): q's codes go to codes (the group's
     * first channel, Y's layout), y is not written */
    const teq_kq *q;
    uint8_t *codes;
} convt_tiles;

/* dst[j * KX + kx] = src_kx[j] for kx < KX, j < len: the KX taps of one input row side by side in an output
 * row (the values or codes of a ConvTranspose whose taps do not overlap); src_kx = src + kx * ld */
#define CONVT_INTERLEAVE(dst, src, ld, len, KX)                                                                        \
    do {                                                                                                               \
        if ((KX) == 2) {                                                                                               \
            _Pragma("omp simd") for (int64_t j_ = 0; j_ < (len); j_++) {                                               \
                (dst)[2 * j_] = (src)[j_];                                                                             \
                (dst)[2 * j_ + 1] = (src)[(ld) + j_];                                                                  \
            }                                                                                                          \
        } else {                                                                                                       \
            for (int64_t kx_ = 0; kx_ < (KX); kx_++)                                                                   \
                for (int64_t j_ = 0; j_ < (len); j_++) (dst)[j_ * (KX) + kx_] = (src)[kx_ * (ld) + j_];                \
        }                                                                                                              \
    } while (0)

TEQ_CLONES static void convt_tile_fn(void *user, float *Yb, int64_t ldy, int64_t M, int64_t n0, int64_t n1) {
    const convt_tiles *t = user;
    const geom *g = t->g;
    const int64_t IY = g->in[1], IX = g->in[2], KZ = g->k[0], KY = g->k[1], KX = g->k[2], KK = KZ * KY * KX;
    const int64_t OY = g->out[1], OX = g->out[2], OS = g->out[0] * OY * OX, nb = n1 - n0;
    (void)M;
    for (int64_t m = 0; m < t->Mg; m++) {
        float *r0 = Yb + m * KK * ldy;
        const float b = t->bias ? t->bias[m] : 0.0f;
        for (int64_t k = 0; k < KK; k++) {
            float *r = r0 + k * ldy;
#pragma omp simd
            for (int64_t j = 0; j < nb; j++) r[j] = r[j] + b;
        }
        /* the chain on this channel's KK rows: one run where the tile's rows follow each other */
        if (t->post) {
            if (ldy == nb) teq_echain_apply(t->post, r0, KK * nb, KK * nb, t->ch0 + m);
            else
                for (int64_t k = 0; k < KK; k++) teq_echain_apply(t->post, r0 + k * ldy, nb, nb, t->ch0 + m);
        }
        /* codes out: the channel's KK rows as codes, rows ldy apart as in the tile (KK * ldy <= 4096: the
         * kernel's tiles are TEQ_I8C_NB wide and the operator takes this path for KK <= 64 only) */
        uint8_t cb[4096];
        if (t->q) {
            if (ldy == nb) teq_kq_codes(t->q, r0, KK * nb, cb, 1);
            else
                for (int64_t k = 0; k < KK; k++) teq_kq_codes(t->q, r0 + k * ldy, nb, cb + k * ldy, 1);
        }
        float *ym = t->y ? t->y + m * OS : NULL;
        uint8_t *cm = t->q ? t->codes + m * OS : NULL;
        for (int64_t n = n0; n < n1;) {
            /* a run of one input row: iz, iy fixed, ix = ix0 .. ix0 + len - 1 */
            const int64_t iz = n / (IY * IX), iy = n / IX % IY, ix0 = n % IX;
            const int64_t len = IX - ix0 < n1 - n ? IX - ix0 : n1 - n;
            for (int64_t kz = 0; kz < KZ; kz++)
                for (int64_t ky = 0; ky < KY; ky++) {
                    const int64_t o = ((iz * KZ + kz) * OY + iy * KY + ky) * OX + ix0 * KX, k = (kz * KY + ky) * KX;
                    if (cm) CONVT_INTERLEAVE(cm + o, cb + k * ldy + (n - n0), ldy, len, KX);
                    else CONVT_INTERLEAVE(ym + o, r0 + k * ldy + (n - n0), ldy, len, KX);
                }
            n += len;
        }
    }
}

/* ConvTranspose: X (N, C, in...), W (C, M/group, k...), optional B (M) -> Y (N, M, out...).
 * *chained: the fused chain after it (post: qlayer.c fast_passes) was applied as the outputs were written */
static teq_status convt_run(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                            teq_tensor *const *out, const teq_echain *post, bool *chained) {
    if (need_inputs(ctx, node, in, 2)) return TEQ_ERR_ARG;
    const teq_tensor *x = in[0], *w = in[1], *b = opt_in(node, in, 2);
    teq_status st;
    const bool xcodes = x->dtype == TEQ_DTYPE_UINT8 && teq_ql_of(node) && teq_kmode_get() == TEQ_KMODE_FAST;
    if ((!xcodes && (st = need_dtype(ctx, node, x, "X"))) || (st = need_dtype(ctx, node, w, "W"))) return st;
    if (b && (st = need_dtype(ctx, node, b, "B"))) return st;
    if (x->ndim < 3 || x->ndim > 2 + MAXSP)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "X must have rank 3 to 5, got %d", x->ndim);
    if (w->ndim != x->ndim)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "W has rank %d, X has rank %d", w->ndim, x->ndim);
    const int nsp = x->ndim - 2;
    const int64_t N = x->dims[0], C = x->dims[1];
    const int64_t group = teq_node_attr_int(node, "group", 1);
    if (group < 1 || C % group != 0)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "group %lld does not divide %lld channels", (long long)group,
                           (long long)C);
    if (w->dims[0] != C)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "W dim 0 is %lld, expected C = %lld", (long long)w->dims[0],
                           (long long)C);
    const int64_t Cg = C / group, Mg = w->dims[1], M = Mg * group;
    int64_t kattr[MAXSP], s[MAXSP], d[MAXSP], p[2 * MAXSP], op[MAXSP];
    int mode;
    if ((st = ints_attr(ctx, node, "kernel_shape", nsp, kattr, -1, 1))) return st;
    for (int i = 0; i < nsp; i++) {
        if (kattr[i] != -1 && kattr[i] != w->dims[2 + i])
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "kernel_shape[%d] = %lld but W has %lld", i,
                               (long long)kattr[i], (long long)w->dims[2 + i]);
        if (w->dims[2 + i] < 1 || w->dims[2 + i] > ATTR_MAX)
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "W has kernel size %lld", (long long)w->dims[2 + i]);
    }
    if (b && (b->ndim != 1 || b->dims[0] != M))
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "B must have shape [%lld]", (long long)M);
    if ((st = ints_attr(ctx, node, "strides", nsp, s, 1, 1))) return st;
    if ((st = ints_attr(ctx, node, "dilations", nsp, d, 1, 1))) return st;
    if ((st = ints_attr(ctx, node, "pads", 2 * nsp, p, 0, 0))) return st;
    if ((st = ints_attr(ctx, node, "output_padding", nsp, op, 0, 0))) return st;
    if ((st = auto_pad_attr(ctx, node, &mode))) return st;
    int64_t oslen = 0;
    const int64_t *os = teq_node_attr_ints(node, "output_shape", &oslen);
    if (os && oslen != nsp && oslen != nsp + 2)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "output_shape has %lld values, expected %d",
                           (long long)oslen, nsp);
    if (os && oslen == nsp + 2) os += 2; /* full (N, M, spatial...) form: keep the spatial part */

    geom g;
    geom_init(&g, nsp);
    for (int i = 0; i < nsp; i++) {
        const int j = MAXSP - nsp + i;
        const int64_t inn = x->dims[2 + i], k = w->dims[2 + i];
        const int64_t natural = s[i] * (inn - 1) + op[i] + (k - 1) * d[i] + 1; /* output with no padding */
        int64_t pb, pe, o;
        if (os || mode == PAD_SAME_UPPER || mode == PAD_SAME_LOWER) {
            if (os) {
                if (os[i] < 0 || os[i] > ATTR_MAX)
                    return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "output_shape[%d] = %lld is invalid", i,
                                       (long long)os[i]);
                o = os[i];
            } else {
                o = inn * s[i];
            }
            /* Padding to reach the requested size; a size beyond the natural one is left as
             * bias-only output at the end. */
            int64_t total = natural - o;
            if (total < 0) total = 0;
            if (mode == PAD_SAME_UPPER) pb = total / 2, pe = total - pb;
            else pe = total / 2, pb = total - pe;
        } else {
            pb = mode == PAD_VALID ? 0 : p[i];
            pe = mode == PAD_VALID ? 0 : p[nsp + i];
            o = natural - pb - pe;
            if (o < 1)
                return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "pads larger than the output in spatial dim %d", i);
        }
        g.in[j] = inn, g.k[j] = k, g.s[j] = s[i], g.d[j] = d[i], g.pb[j] = pb, g.pe[j] = pe, g.out[j] = o;
    }

    int64_t ydims[2 + MAXSP] = {N, M};
    for (int i = 0; i < nsp; i++) ydims[2 + i] = g.out[MAXSP - nsp + i];
    teq_tensor *y = out[0];
    /* INT8, fast mode: the output as the next layer's codes (teq_qlayer.outq: qlayer.c gives it only to a
     * ConvTranspose whose taps do not overlap, on the INT8 kernel) */
    const teq_qlayer *ql = teq_ql_of(node);
    const bool ycodes = ql && ql->outq && teq_kmode_get() == TEQ_KMODE_FAST;
    if ((st = teq_ctx_alloc(ctx, y, ycodes ? TEQ_DTYPE_UINT8 : TEQ_DTYPE_FLOAT, x->ndim, ydims))) return st;
    const int64_t S = geom_out_size(&g), Sin = geom_in_size(&g), KK = geom_k_size(&g);
    if (N == 0 || M == 0 || S == 0) return TEQ_OK;
    const float *X = x->data, *W = w->data, *B = b ? b->data : NULL;
    float *Y = ycodes ? NULL : y->data;
    /* non-overlapping taps: col2im_tiles writes every output, bias included */
    const bool tiles = col2im_tiles_ok(&g) && Sin > 0 && Cg > 0;
    if (ycodes && !(tiles && group == 1 && KK <= 64 && ql->kind == TEQ_QL_INT8))
        return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "layer cannot give INT8 codes on this path");
    if (!tiles)
        for (int64_t n = 0; n < N; n++) fill_rows(Y + n * M * S, M, S, B);
    if (Sin == 0 || Cg == 0) return TEQ_OK;

    const int64_t MK = Mg * KK;
    if (!fits_int(MK) || !fits_int(Sin) || !fits_int(Cg))
        return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "transposed convolution too large for BLAS");
    /* A quantized layer: its kernel rows are W_g^T already (qlayer.h), so the fast path decodes them and
     * multiplies without the transpose; the reference and INT8 kernels take the product. */
    const bool qmm = ql && (teq_kmode_get() == TEQ_KMODE_REF || ql->kind == TEQ_QL_INT8);
    if (ql && ql->w.M != group * MK) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "quantized weights do not match W");
    if (qmm && tiles && group == 1 && KK <= 64 && teq_kmode_get() == TEQ_KMODE_FAST) {
        /* INT8, taps that do not overlap: the kernel's blocks go straight into Y (convt_tile_fn), no col */
        const teq_i8conv ic = {.C = Cg, .PH = 1, .PW = Sin, .KH = 1, .KW = 1, .SH = 1, .SW = 1, .DH = 1, .DW = 1,
                               .OH = 1, .OW = Sin};
        bool done = true;
        for (int64_t n = 0; n < N && done; n++) {
            const convt_tiles ct = {&g, Mg, 0, B, ycodes ? NULL : Y + n * M * S, post, ycodes ? ql->outq : NULL,
                                    ycodes ? (uint8_t *)y->data + n * M * S : NULL};
            const teq_kpost kp = {.fn = convt_tile_fn, .user = (void *)&ct, .tile = 1};
            const void *xn = xcodes ? (const void *)((const uint8_t *)x->data + n * C * Sin) : (const void *)(X + n * C * Sin);
            if ((st = teq_ql_conv_i8_tiles(ctx, node, ql, xn, xcodes, 1, Sin, &ic, &kp, &done))) return st;
            if (!done && n > 0) return teq_op_fail(ctx, node, TEQ_ERR_INTERNAL, "INT8 kernel taken for some images only");
        }
        if (done) {
            *chained = post != NULL;
            return TEQ_OK;
        }
    }
    if (ycodes) return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "layer cannot give INT8 codes on this path");
    blas_threads(ctx);
    const int nt = nthreads(ctx);
    if (ql && !qmm && (st = teq_ql_decode(ctx, node, ql, &W))) return st;
    if (!W && !qmm) return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "weights are held as packed codes only");
    if (!qmm && tiles) {
        /* FP32 (or decoded exponential weights), taps that do not overlap: col in slices of CH input positions,
         * one slice per thread at a time, each scattered into Y while in cache (convt_tile_fn, as the INT8 path);
         * the whole col (9.8 MB on det) is never written. sgemm_mt splits its columns the same way, so every
         * value is the same product. */
        const int64_t CH = MK >= 256 ? SGEMM_COL_BLOCK : (TEQ_CONVT_CH / MK + SGEMM_COL_BLOCK - 1) / SGEMM_COL_BLOCK * SGEMM_COL_BLOCK;
        const int64_t nch = (Sin + CH - 1) / CH;
        const int ntc = nch < nt ? (int)nch : nt;
        size_t cb;
        if (!teq_mul_size((size_t)MK * (size_t)CH, sizeof(float) * (size_t)ntc, &cb))
            return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "col2im buffer size overflows");
        float *cols = teq_ctx_scratch(ctx, cb);
        if (!cols) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory for col2im (%zu bytes)", cb);
        for (int64_t n = 0; n < N; n++)
            for (int64_t gi = 0; gi < group; gi++) {
                const convt_tiles ct = {&g, Mg, gi * Mg, B ? B + gi * Mg : NULL, Y + (n * M + gi * Mg) * S, post, NULL, NULL};
                const float *xg = X + (n * C + gi * Cg) * Sin;
#pragma omp parallel for num_threads(ntc) if (ntc > 1) schedule(static)
                for (int64_t t = 0; t < nch; t++) {
                    const int64_t j0 = t * CH, len = Sin - j0 < CH ? Sin - j0 : CH;
                    float *cb1 = cols + (size_t)omp_get_thread_num() * (size_t)(MK * CH);
                    /* col (MK x len) = W_g^T (MK x Cg) * X_g[:, j0 .. j0 + len) */
                    if (ql) sgemm(false, false, MK, len, Cg, 1.0f, W + gi * MK * Cg, Cg, xg + j0, Sin, 0.0f, cb1, len);
                    else sgemm(true, false, MK, len, Cg, 1.0f, W + gi * Cg * MK, MK, xg + j0, Sin, 0.0f, cb1, len);
                    convt_tile_fn((void *)&ct, cb1, len, MK, j0, j0 + len);
                }
            }
        *chained = post != NULL;
        return TEQ_OK;
    }
    size_t bytes;
    if (!teq_mul_size((size_t)MK, (size_t)Sin * sizeof(float), &bytes))
        return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "col2im buffer size overflows");
    float *col = teq_ctx_scratch(ctx, bytes ? bytes : sizeof(float));
    if (!col) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory for col2im (%zu bytes)", bytes);
    for (int64_t n = 0; n < N; n++)
        for (int64_t gi = 0; gi < group; gi++) {
            /* col (Mg*KK x Sin) = W_g^T (Mg*KK x Cg) * X_g (Cg x Sin) */
            if (qmm) {
                /* INT8, one group: col is a 1x1 convolution of the input (MK rows over Sin positions) */
                const teq_i8conv ic = {.C = Cg, .PH = 1, .PW = Sin, .KH = 1, .KW = 1, .SH = 1, .SW = 1, .DH = 1, .DW = 1,
                                       .OH = 1, .OW = Sin};
                bool done = false;
                const void *xn = xcodes ? (const void *)((const uint8_t *)x->data + n * C * Sin) : (const void *)(X + n * C * Sin);
                if (group == 1 && teq_kmode_get() == TEQ_KMODE_FAST &&
                    (st = teq_ql_conv_i8(ctx, node, ql, xn, xcodes, 1, Sin, 0, 0, &ic, 0.0f, NULL, col, Sin, NULL, NULL,
                                         &done)))
                    return st;
                if (!done && xcodes) return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "INT8 codes without the kernel");
                if (!done && (st = teq_ql_gemm(ctx, node, ql, gi * MK, MK, X + (n * C + gi * Cg) * Sin, Sin, 1, Sin, NULL,
                                               col, Sin, 1)))
                    return st;
            } else if (ql) {
                sgemm_mt(nt, false, false, MK, Sin, Cg, 1.0f, W + gi * MK * Cg, Cg, X + (n * C + gi * Cg) * Sin, Sin, 0.0f,
                         col, Sin);
            } else {
                sgemm_mt(nt, true, false, MK, Sin, Cg, 1.0f, W + gi * Cg * MK, MK, X + (n * C + gi * Cg) * Sin, Sin, 0.0f,
                         col, Sin);
            }
            if (tiles) col2im_tiles(col, Mg, &g, B ? B + gi * Mg : NULL, Y + (n * M + gi * Mg) * S, post, gi * Mg, nt);
            else col2im(col, Mg, &g, Y + (n * M + gi * Mg) * S, nt);
        }
    *chained = tiles && post;
    return TEQ_OK;
}

static teq_status op_conv_transpose(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                                    teq_tensor *const *out) {
    const teq_echain *post = conv_post(node);
    bool chained = false;
    const teq_status st = convt_run(ctx, node, in, out, post, &chained);
    if (!st && !chained && post) conv_post_after(post, out[0]); /* the scatter path */
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* Gemm, MatMul                                                                                */

/* Gemm: Y (M, N) = alpha * op(A) * op(B) + beta * C; A (M, K) or (K, M) with transA, B (K, N) or
 * (N, K) with transB, optional C broadcastable to (M, N). */
static teq_status op_gemm(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                          teq_tensor *const *out) {
    if (need_inputs(ctx, node, in, 2)) return TEQ_ERR_ARG;
    const teq_tensor *a = in[0], *b = in[1], *c = opt_in(node, in, 2);
    teq_status st;
    if ((st = need_dtype(ctx, node, a, "A")) || (st = need_dtype(ctx, node, b, "B"))) return st;
    if (c && (st = need_dtype(ctx, node, c, "C"))) return st;
    if (a->ndim != 2 || b->ndim != 2)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "A and B must be 2-D (got ranks %d and %d)", a->ndim, b->ndim);
    const bool ta = teq_node_attr_int(node, "transA", 0) != 0, tb = teq_node_attr_int(node, "transB", 0) != 0;
    const float alpha = teq_node_attr_float(node, "alpha", 1.0f), beta = teq_node_attr_float(node, "beta", 1.0f);
    const int64_t M = ta ? a->dims[1] : a->dims[0], K = ta ? a->dims[0] : a->dims[1];
    const int64_t Kb = tb ? b->dims[1] : b->dims[0], N = tb ? b->dims[0] : b->dims[1];
    if (K != Kb)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "inner dimensions differ: %lld vs %lld", (long long)K,
                           (long long)Kb);
    int64_t cm = 1, cn = 1;
    if (c) {
        if (c->ndim > 2) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "C must have rank <= 2, got %d", c->ndim);
        if (c->ndim >= 1) cn = c->dims[c->ndim - 1];
        if (c->ndim == 2) cm = c->dims[0];
        if ((cm != 1 && cm != M) || (cn != 1 && cn != N))
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "C of shape [%lld,%lld] does not broadcast to [%lld,%lld]",
                               (long long)cm, (long long)cn, (long long)M, (long long)N);
    }
    if (!fits_int(M) || !fits_int(N) || !fits_int(K) || !fits_int(a->dims[1]) || !fits_int(b->dims[1]))
        return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "matrix too large for BLAS (int sizes)");
    const int64_t ydims[2] = {M, N};
    teq_tensor *y = out[0];
    if ((st = teq_ctx_alloc(ctx, y, TEQ_DTYPE_FLOAT, 2, ydims))) return st;
    float *Y = y->data;
    float gbeta = 0.0f;
    if (c && beta != 0.0f && M > 0 && N > 0) {
        const float *Cd = c->data;
        for (int64_t i = 0; i < M; i++) {
            const float *cr = Cd + (cm == 1 ? 0 : i * cn);
            float *yr = Y + i * N;
            const float c0 = beta * cr[0];
            if (cn == 1) {
#pragma omp simd
                for (int64_t j = 0; j < N; j++) yr[j] = c0;
            } else {
#pragma omp simd
                for (int64_t j = 0; j < N; j++) yr[j] = beta * cr[j];
            }
        }
        gbeta = 1.0f;
    }
    blas_threads(ctx);
    const teq_qlayer *ql = teq_ql_of(node);
    if (ql && !ta && ql->w.M == N && ql->w.K == K) {
        /* quantized: kernel rows are B^T (N x K) with alpha in the row scales; Y^T (N x M) = rows * A^T */
        const float *A = a->data;
        if (teq_kmode_get() == TEQ_KMODE_REF || ql->kind == TEQ_QL_INT8) {
            float *T = teq_ctx_scratch(ctx, sizeof(float) * (size_t)(M * N + 1));
            if (!T) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory");
            if ((st = teq_ql_gemm(ctx, node, ql, 0, N, A, 1, K, M, NULL, T, 1, N))) return st;
            for (int64_t i = 0; i < M * N; i++) Y[i] = gbeta * Y[i] + T[i];
        } else if (M == 1) {
            /* batch 1: the fused GEMV reads the packed codes once */
            float *T = teq_ctx_scratch(ctx, sizeof(float) * (size_t)(N + 1));
            if (!T) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory");
            teq_k_gemv(&ql->w, A, T, nthreads(ctx));
            for (int64_t j = 0; j < N; j++) Y[j] = gbeta * Y[j] + T[j];
        } else {
            const float *Wd;
            if ((st = teq_ql_decode(ctx, node, ql, &Wd))) return st;
            sgemm_mt(nthreads(ctx), false, true, M, N, K, 1.0f, A, K, Wd, K, gbeta, Y, N);
        }
        return TEQ_OK;
    }
    if (!b->data || !a->data) /* a weight freed after binding (qlayer.h) and a layout the kernels do not take */
        return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "weights are held as packed codes only");
    sgemm_mt(nthreads(ctx), ta, tb, M, N, K, alpha, a->data, a->dims[1], b->data, b->dims[1], gbeta, Y, N);
    return TEQ_OK;
}

/* MatMul with numpy semantics: A (..., M, K) or (K), B (..., K, N) or (K); batch dims broadcast.
 * Y (batch..., M, N) with the M / N axis dropped for a 1-D A / B. */
static teq_status op_matmul(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                            teq_tensor *const *out) {
    if (need_inputs(ctx, node, in, 2)) return TEQ_ERR_ARG;
    const teq_tensor *a = in[0], *b = in[1];
    teq_status st;
    if ((st = need_dtype(ctx, node, a, "A")) || (st = need_dtype(ctx, node, b, "B"))) return st;
    if (a->ndim < 1 || b->ndim < 1)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "MatMul inputs must have rank >= 1 (got %d and %d)", a->ndim,
                           b->ndim);
    const bool a1 = a->ndim == 1, b1 = b->ndim == 1;
    const int64_t M = a1 ? 1 : a->dims[a->ndim - 2], K = a->dims[a->ndim - 1];
    const int64_t Kb = b1 ? b->dims[0] : b->dims[b->ndim - 2], N = b1 ? 1 : b->dims[b->ndim - 1];
    if (K != Kb)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "inner dimensions differ: %lld vs %lld", (long long)K,
                           (long long)Kb);
    /* batch dims, right-aligned */
    const int nba = a1 ? 0 : a->ndim - 2, nbb = b1 ? 0 : b->ndim - 2;
    const int nb = nba > nbb ? nba : nbb;
    int64_t bd[TEQ_MAX_DIMS], sa[TEQ_MAX_DIMS], sb[TEQ_MAX_DIMS];
    int64_t stra = M * K, strb = K * N; /* element stride of one batch step, innermost batch dim first */
    for (int i = nb - 1; i >= 0; i--) {
        const int ia = i - (nb - nba), ib = i - (nb - nbb);
        const int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "batch dims %lld and %lld do not broadcast", (long long)da,
                               (long long)db);
        bd[i] = da == 1 ? db : da;
        sa[i] = da == 1 ? 0 : stra;
        sb[i] = db == 1 ? 0 : strb;
        stra *= da;
        strb *= db;
    }
    int64_t ydims[TEQ_MAX_DIMS];
    int yn = 0;
    for (int i = 0; i < nb; i++) ydims[yn++] = bd[i];
    if (!a1) ydims[yn++] = M;
    if (!b1) ydims[yn++] = N;
    teq_tensor *y = out[0];
    if ((st = teq_ctx_alloc(ctx, y, TEQ_DTYPE_FLOAT, yn, ydims))) return st;
    int64_t batch = 1;
    for (int i = 0; i < nb; i++) batch *= bd[i];
    if (batch == 0 || M == 0 || N == 0) return TEQ_OK;
    const float *A = a->data, *Bm = b->data;
    float *Y = y->data;
    if (!fits_int(M) || !fits_int(N) || !fits_int(K))
        return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "matrix too large for BLAS (int sizes)");
    blas_threads(ctx);
    const int nt = nthreads(ctx);
    /* B shared by every batch and A's batches contiguous: fold A's batch into M, one GEMM. */
    bool b_shared = true, a_full = true;
    for (int i = 0; i < nb; i++) {
        if (sb[i] != 0) b_shared = false;
        if (sa[i] == 0 && bd[i] != 1) a_full = false;
    }
    const teq_qlayer *ql = teq_ql_of(node);
    if (ql && ql->kind != TEQ_QL_DYN && b->ndim == 2 && ql->w.M == N && ql->w.K == K && b_shared && a_full &&
        fits_int(batch * M)) {
        /* quantized, constant B: kernel rows are B^T (N x K); Y^T (N x batch*M) = rows * A^T */
        const int64_t BM = batch * M;
        if (teq_kmode_get() == TEQ_KMODE_REF || ql->kind == TEQ_QL_INT8 || (ql->lanes == 8 && ql->matmul)) {
            if ((st = teq_ql_gemm(ctx, node, ql, 0, N, A, 1, K, BM, NULL, Y, 1, N))) return st;
        } else if (BM == 1) {
            teq_k_gemv(&ql->w, A, Y, nt);
        } else {
            const float *Wd;
            if ((st = teq_ql_decode(ctx, node, ql, &Wd))) return st;
            sgemm_mt(nt, false, true, BM, N, K, 1.0f, A, K, Wd, K, 0.0f, Y, N);
        }
        return TEQ_OK;
    }
    if (ql && ql->kind == TEQ_QL_DYN && teq_kmode_get() == TEQ_KMODE_REF)
        return teq_ql_matmul_dyn(ctx, node, ql, A, Bm, M, N, K, batch, nb, bd, sa, sb, Y);
    if (!A || !Bm) /* a weight freed after binding (qlayer.h) and a layout the kernels do not take */
        return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "weights are held as packed codes only");
    if (b_shared && a_full && fits_int(batch * M)) {
        sgemm_mt(nt, false, false, batch * M, N, K, 1.0f, A, K, Bm, N, 0.0f, Y, N);
        return TEQ_OK;
    }
    if (nt > 1 && batch >= nt) {
        /* many small products: one single-threaded GEMM per batch, batches across threads */
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t t = 0; t < batch; t++) {
            int64_t rem = t, offa = 0, offb = 0;
            for (int i = nb - 1; i >= 0; i--) {
                const int64_t ix = rem % bd[i];
                rem /= bd[i];
                offa += ix * sa[i], offb += ix * sb[i];
            }
            sgemm(false, false, M, N, K, 1.0f, A + offa, K, Bm + offb, N, 0.0f, Y + t * M * N, N);
        }
        return TEQ_OK;
    }
    int64_t idx[TEQ_MAX_DIMS] = {0};
    int64_t offa = 0, offb = 0;
    for (int64_t t = 0; t < batch; t++) {
        sgemm_mt(nt, false, false, M, N, K, 1.0f, A + offa, K, Bm + offb, N, 0.0f, Y + t * M * N, N);
        /* advance the batch multi-index (innermost fastest) */
        for (int i = nb - 1; i >= 0; i--) {
            offa += sa[i], offb += sb[i];
            if (++idx[i] < bd[i]) break;
            offa -= sa[i] * bd[i], offb -= sb[i] * bd[i];
            idx[i] = 0;
        }
    }
    return TEQ_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* pooling                                                                                     */

/* Per-axis window tables: for axis a and output o, tab[a].k0/k1 the valid tap range, base the
 * input position of tap 0, cnt the number of taps inside the padded input (for
 * count_include_pad). */
typedef struct axis_tab {
    int64_t *k0, *k1, *base, *cnt;
} axis_tab;

static bool build_tabs(teq_exec_ctx *ctx, const geom *g, axis_tab tab[MAXSP]) {
    const int64_t total = g->out[0] + g->out[1] + g->out[2];
    int64_t *buf = teq_ctx_scratch(ctx, sizeof(int64_t) * (size_t)(4 * total + 1));
    if (!buf) return false;
    for (int a = 0; a < MAXSP; a++) {
        const int64_t no = g->out[a];
        tab[a].k0 = buf, tab[a].k1 = buf + no, tab[a].base = buf + 2 * no, tab[a].cnt = buf + 3 * no;
        buf += 4 * no;
        for (int64_t o = 0; o < no; o++) {
            tap_range(g, a, o, &tab[a].k0[o], &tab[a].k1[o], &tab[a].base[o]);
            int64_t c = 0;
            const int64_t lim = g->in[a] + g->pb[a] + g->pe[a];
            for (int64_t k = 0; k < g->k[a]; k++) {
                const int64_t pos = o * g->s[a] + k * g->d[a]; /* position in the padded input */
                if (pos < lim) c++;
            }
            tab[a].cnt[o] = c;
        }
    }
    return true;
}

/* Max pooling over planes of (IZ, IY, IX) -> (OZ, OY, OX); ind (when not NULL) receives the flat
 * index of the max in the whole input (row-major, or column-major within a plane when
 * storage_order is 1). */
#define DEF_MAXPOOL(T, NAME, LOWEST)                                                                          \
    static void NAME(const T *restrict x, T *restrict y, int64_t *restrict ind, int64_t planes, const geom *g, \
                     const axis_tab *tab, int storage_order, int nt) {                                        \
        const int64_t IZ = g->in[0], IY = g->in[1], IX = g->in[2];                                            \
        const int64_t OZ = g->out[0], OY = g->out[1], OX = g->out[2];                                         \
        const int64_t DZ = g->d[0], DY = g->d[1], DX = g->d[2], Sin = IZ * IY * IX, S = OZ * OY * OX;         \
        const int64_t KX = g->k[2], SX = g->s[2];                                                             \
        /* the longest run of outputs whose x window is whole (k0 0, k1 KX): xa .. xb-1 */                    \
        int64_t xa = 0, xb = 0;                                                                               \
        for (int64_t ox = 0, a = -1; ox <= OX; ox++) {                                                        \
            bool whole = ox < OX && tab[2].k0[ox] == 0 && tab[2].k1[ox] == KX;                                \
            if (whole && a < 0) a = ox;                                                                       \
            if (!whole && a >= 0) {                                                                           \
                if (ox - a > xb - xa) xa = a, xb = ox;                                                        \
                a = -1;                                                                                       \
            }                                                                                                 \
        }                                                                                                     \
        _Pragma("omp parallel for num_threads(nt) if (nt > 1 && planes > 1) schedule(static)") for (          \
            int64_t p = 0; p < planes; p++) {                                                                 \
            const T *xp = x + p * Sin;                                                                        \
            T *yp = y + p * S;                                                                                \
            int64_t *ip = ind ? ind + p * S : NULL;                                                           \
            for (int64_t oz = 0; oz < OZ; oz++)                                                               \
                for (int64_t oy = 0; oy < OY; oy++) {                                                         \
                    T *yr = yp + (oz * OY + oy) * OX;                                                         \
                    if (!ip) {                                                                                \
                        /* no indices: the running maximum alone, without branches (the bookkeeping of the    \
                         * general loop cost BlazeFace about 10 ns per output). Same value: the first tap,   \
                         * then each later tap that is greater. Outputs xa..xb-1, whose windows lie inside    \
                         * the row, take one vectorized pass per tap over the row; the rest one by one. */     \
                        bool first = true;                                                                    \
                        for (int64_t kz = tab[0].k0[oz]; kz < tab[0].k1[oz]; kz++)                            \
                            for (int64_t ky = tab[1].k0[oy]; ky < tab[1].k1[oy]; ky++) {                      \
                                const T *xr = xp + ((tab[0].base[oz] + kz * DZ) * IY + tab[1].base[oy] +       \
                                                    ky * DY) * IX;                                             \
                                for (int64_t kx = 0; kx < KX && xa < xb; kx++) {                              \
                                    const T *xs = xr + tab[2].base[xa] + kx * DX; /* output xa's tap */       \
                                    if (first) {                                                              \
                                        _Pragma("omp simd") for (int64_t ox = xa; ox < xb; ox++) yr[ox] =     \
                                            xs[(ox - xa) * SX];                                               \
                                    } else {                                                                  \
                                        _Pragma("omp simd") for (int64_t ox = xa; ox < xb; ox++) {            \
                                            const T v = xs[(ox - xa) * SX];                                   \
                                            yr[ox] = v > yr[ox] ? v : yr[ox];                                 \
                                        }                                                                     \
                                    }                                                                         \
                                    first = false;                                                            \
                                }                                                                             \
                            }                                                                                 \
                        if (first)                                                                            \
                            for (int64_t ox = xa; ox < xb; ox++) yr[ox] = LOWEST;                             \
                        for (int64_t ox = 0; ox < OX; ox++) {                                                 \
                            if (ox == xa && xa < xb) {                                                        \
                                ox = xb - 1;                                                                  \
                                continue;                                                                     \
                            }                                                                                 \
                            T best = LOWEST;                                                                  \
                            bool any = false;                                                                 \
                            for (int64_t kz = tab[0].k0[oz]; kz < tab[0].k1[oz]; kz++)                        \
                                for (int64_t ky = tab[1].k0[oy]; ky < tab[1].k1[oy]; ky++) {                  \
                                    const T *xr = xp + ((tab[0].base[oz] + kz * DZ) * IY + tab[1].base[oy] +   \
                                                        ky * DY) * IX + tab[2].base[ox];                       \
                                    for (int64_t kx = tab[2].k0[ox]; kx < tab[2].k1[ox]; kx++) {              \
                                        const T v = xr[kx * DX];                                              \
                                        best = !any ? v : v > best ? v : best;                                \
                                        any = true;                                                           \
                                    }                                                                         \
                                }                                                                             \
                            yr[ox] = best;                                                                    \
                        }                                                                                     \
                        continue;                                                                             \
                    }                                                                                         \
                    for (int64_t ox = 0; ox < OX; ox++) {                                                     \
                        T best = LOWEST;                                                                      \
                        int64_t bz = -1, by = 0, bx = 0;                                                      \
                        for (int64_t kz = tab[0].k0[oz]; kz < tab[0].k1[oz]; kz++) {                          \
                            const int64_t iz = tab[0].base[oz] + kz * DZ;                                     \
                            for (int64_t ky = tab[1].k0[oy]; ky < tab[1].k1[oy]; ky++) {                      \
                                const int64_t iy = tab[1].base[oy] + ky * DY;                                 \
                                const T *xr = xp + (iz * IY + iy) * IX + tab[2].base[ox];                     \
                                for (int64_t kx = tab[2].k0[ox]; kx < tab[2].k1[ox]; kx++) {                  \
                                    const T v = xr[kx * DX];                                                  \
                                    if (v > best || bz < 0) best = v, bz = iz, by = iy, bx = kx;              \
                                }                                                                             \
                            }                                                                                 \
                        }                                                                                     \
                        yr[ox] = best;                                                                        \
                        if (ip) {                                                                             \
                            const int64_t ix = tab[2].base[ox] + bx * DX;                                     \
                            ip[(oz * OY + oy) * OX + ox] =                                                    \
                                bz < 0 ? -1                                                                   \
                                : storage_order ? p * Sin + bz + by * IZ + ix * IZ * IY                       \
                                                : p * Sin + (bz * IY + by) * IX + ix;                         \
                        }                                                                                     \
                    }                                                                                         \
                }                                                                                             \
        }                                                                                                     \
    }

DEF_MAXPOOL(float, maxpool_f32, -FLT_MAX)

/* MaxPool 2x2, stride 2, no padding, whole windows, float, no indices (BlazeFace's three): maxpool_f32's
 * value (the first tap, then each later tap that is greater, taps in (ky, kx) order) by one pass per output
 * row. GCC keeps the float selects as branches unless traps may be ignored, and nothing reads the flags. */
__attribute__((optimize("no-trapping-math"))) TEQ_CLONES static void maxpool2_f32(const float *restrict x,
                                                                                   float *restrict y, int64_t rows,
                                                                                   int64_t IX, int64_t OX) {
    for (int64_t r = 0; r < rows; r++) { /* output row r of every plane in turn: input rows 2r, 2r + 1 */
        const float *r0 = x + 2 * r * IX, *r1 = r0 + IX;
        float *o = y + r * OX;
#pragma omp simd
        for (int64_t j = 0; j < OX; j++) {
            float m = r0[2 * j], t = r0[2 * j + 1];
            m = t > m ? t : m;
            t = r1[2 * j];
            m = t > m ? t : m;
            t = r1[2 * j + 1];
            o[j] = t > m ? t : m;
        }
    }
}
DEF_MAXPOOL(double, maxpool_f64, -DBL_MAX)
DEF_MAXPOOL(uint8_t, maxpool_u8, 0)
DEF_MAXPOOL(int8_t, maxpool_i8, INT8_MIN)

/* Average pooling, float32. count_include_pad: divide by the taps inside the padded input;
 * otherwise by the taps inside the input. */
static void avgpool_f32(const float *restrict x, float *restrict y, int64_t planes, const geom *g,
                        const axis_tab *tab, bool include_pad, int nt) {
    const int64_t IY = g->in[1], IX = g->in[2];
    const int64_t OZ = g->out[0], OY = g->out[1], OX = g->out[2];
    const int64_t DZ = g->d[0], DY = g->d[1], DX = g->d[2], Sin = g->in[0] * IY * IX, S = OZ * OY * OX;
#pragma omp parallel for num_threads(nt) if (nt > 1 && planes > 1) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * Sin;
        float *yp = y + p * S;
        for (int64_t oz = 0; oz < OZ; oz++)
            for (int64_t oy = 0; oy < OY; oy++) {
                float *yr = yp + (oz * OY + oy) * OX;
                for (int64_t ox = 0; ox < OX; ox++) {
                    float sum = 0.0f;
                    for (int64_t kz = tab[0].k0[oz]; kz < tab[0].k1[oz]; kz++) {
                        const int64_t iz = tab[0].base[oz] + kz * DZ;
                        for (int64_t ky = tab[1].k0[oy]; ky < tab[1].k1[oy]; ky++) {
                            const float *xr = xp + (iz * IY + tab[1].base[oy] + ky * DY) * IX + tab[2].base[ox];
                            for (int64_t kx = tab[2].k0[ox]; kx < tab[2].k1[ox]; kx++) sum += xr[kx * DX];
                        }
                    }
                    int64_t cnt;
                    if (include_pad)
                        cnt = tab[0].cnt[oz] * tab[1].cnt[oy] * tab[2].cnt[ox];
                    else
                        cnt = (tab[0].k1[oz] - tab[0].k0[oz]) * (tab[1].k1[oy] - tab[1].k0[oy]) *
                              (tab[2].k1[ox] - tab[2].k0[ox]);
                    yr[ox] = cnt > 0 ? sum / (float)cnt : 0.0f;
                }
            }
    }
}

/* MaxPool / AveragePool: X (N, C, spatial...) -> Y (N, C, out...); MaxPool's optional second
 * output Indices (int64, same shape). */
static teq_status pool_common(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                              teq_tensor *const *out, bool is_max) {
    if (need_inputs(ctx, node, in, 1)) return TEQ_ERR_ARG;
    const teq_tensor *x = in[0];
    teq_status st;
    const bool any_type = is_max;
    if (!(x->dtype == TEQ_DTYPE_FLOAT ||
          (any_type && (x->dtype == TEQ_DTYPE_DOUBLE || x->dtype == TEQ_DTYPE_UINT8 || x->dtype == TEQ_DTYPE_INT8))))
        return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "X has unsupported type %s", teq_dtype_name(x->dtype));
    if (x->ndim < 3 || x->ndim > 2 + MAXSP)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "X must have rank 3 to 5, got %d", x->ndim);
    const int nsp = x->ndim - 2;
    int64_t k[MAXSP];
    if ((st = ints_attr(ctx, node, "kernel_shape", nsp, k, -1, 1))) return st;
    if (k[0] == -1) return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "attribute kernel_shape is required");
    geom g;
    if ((st = fwd_geom(ctx, node, nsp, x->dims + 2, k, true, &g))) return st;
    const int64_t storage_order = teq_node_attr_int(node, "storage_order", 0);
    if (storage_order != 0 && storage_order != 1)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "storage_order must be 0 or 1");
    int64_t ydims[2 + MAXSP] = {x->dims[0], x->dims[1]};
    for (int i = 0; i < nsp; i++) ydims[2 + i] = g.out[MAXSP - nsp + i];
    teq_tensor *y = out[0];
    if ((st = teq_ctx_alloc(ctx, y, x->dtype, x->ndim, ydims))) return st;
    int64_t *ind = NULL;
    if (is_max && has_out(node, out, 1)) {
        if ((st = teq_ctx_alloc(ctx, out[1], TEQ_DTYPE_INT64, x->ndim, ydims))) return st;
        ind = out[1]->data;
    }
    const int64_t planes = x->dims[0] * x->dims[1];
    if (planes == 0 || geom_out_size(&g) == 0) return TEQ_OK;
    const int nt = nthreads(ctx);
    if (is_max && x->dtype == TEQ_DTYPE_FLOAT && !ind && nsp == 2 && g.k[1] == 2 && g.k[2] == 2 && g.s[1] == 2 &&
        g.s[2] == 2 && g.d[1] == 1 && g.d[2] == 1 && g.pb[1] == 0 && g.pb[2] == 0 && g.in[1] == 2 * g.out[1] &&
        2 * g.out[2] <= g.in[2]) {
        /* every window whole, planes of twice the output height: output row r of the whole tensor reads input
         * rows 2r and 2r + 1 */
        const int64_t rows = planes * g.out[1];
        if (nt > 1 && rows > 64) {
#pragma omp parallel for num_threads(nt) schedule(static)
            for (int t = 0; t < nt; t++) {
                const int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
                maxpool2_f32((const float *)x->data + 2 * r0 * g.in[2], (float *)y->data + r0 * g.out[2], r1 - r0,
                             g.in[2], g.out[2]);
            }
        } else {
            maxpool2_f32(x->data, y->data, rows, g.in[2], g.out[2]);
        }
        return TEQ_OK;
    }
    axis_tab tab[MAXSP];
    if (!build_tabs(ctx, &g, tab)) return teq_op_fail(ctx, node, TEQ_ERR_NOMEM, "out of memory");
    if (!is_max) {
        const bool include_pad = teq_node_attr_int(node, "count_include_pad", 0) != 0;
        avgpool_f32(x->data, y->data, planes, &g, tab, include_pad, nt);
        return TEQ_OK;
    }
    const int so = (int)storage_order;
    switch (x->dtype) {
    case TEQ_DTYPE_FLOAT: maxpool_f32(x->data, y->data, ind, planes, &g, tab, so, nt); break;
    case TEQ_DTYPE_DOUBLE: maxpool_f64(x->data, y->data, ind, planes, &g, tab, so, nt); break;
    case TEQ_DTYPE_UINT8: maxpool_u8(x->data, y->data, ind, planes, &g, tab, so, nt); break;
    default: maxpool_i8(x->data, y->data, ind, planes, &g, tab, so, nt); break;
    }
    return TEQ_OK;
}

static teq_status op_maxpool(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                             teq_tensor *const *out) {
    return pool_common(ctx, node, in, out, true);
}

static teq_status op_avgpool(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                             teq_tensor *const *out) {
    return pool_common(ctx, node, in, out, false);
}

/* GlobalAveragePool / GlobalMaxPool: X (N, C, spatial...) -> Y (N, C, 1, ...). float32. */
static teq_status global_pool(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                              teq_tensor *const *out, bool is_max) {
    if (need_inputs(ctx, node, in, 1)) return TEQ_ERR_ARG;
    const teq_tensor *x = in[0];
    teq_status st;
    if ((st = need_dtype(ctx, node, x, "X"))) return st;
    if (x->ndim < 2) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "X must have rank >= 2, got %d", x->ndim);
    int64_t ydims[TEQ_MAX_DIMS];
    int64_t S = 1;
    ydims[0] = x->dims[0], ydims[1] = x->dims[1];
    for (int i = 2; i < x->ndim; i++) ydims[i] = 1, S *= x->dims[i];
    teq_tensor *y = out[0];
    if ((st = teq_ctx_alloc(ctx, y, TEQ_DTYPE_FLOAT, x->ndim, ydims))) return st;
    const int64_t planes = x->dims[0] * x->dims[1];
    if (planes == 0) return TEQ_OK;
    if (S == 0 && is_max)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "GlobalMaxPool of an empty spatial extent");
    const float *X = x->data;
    float *Y = y->data;
    const int nt = nthreads(ctx);
#pragma omp parallel for num_threads(nt) if (nt > 1 && planes * S > 65536) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = X + p * S;
        if (is_max) {
            float m = xp[0];
#pragma omp simd reduction(max : m)
            for (int64_t i = 1; i < S; i++) m = xp[i] > m ? xp[i] : m;
            Y[p] = m;
        } else {
            double sum = 0.0; /* double: planes can be large (whole feature maps) */
#pragma omp simd reduction(+ : sum)
            for (int64_t i = 0; i < S; i++) sum += xp[i];
            Y[p] = S > 0 ? (float)(sum / (double)S) : NAN;
        }
    }
    return TEQ_OK;
}

static teq_status op_global_avgpool(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                                    teq_tensor *const *out) {
    return global_pool(ctx, node, in, out, false);
}

static teq_status op_global_maxpool(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                                    teq_tensor *const *out) {
    return global_pool(ctx, node, in, out, true);
}

/* ------------------------------------------------------------------------------------------ */
/* normalization                                                                               */

/* BatchNormalization: X (N, C, D...) with scale, B, mean, var (C) -> Y like X.
 * Inference: y = (x - mean) / sqrt(var + eps) * scale + B.
 * Training (opset >= 14, training_mode = 1): batch statistics over N and D..., and optional
 * outputs running_mean / running_var = input * momentum + batch * (1 - momentum).
 * Opset < 9 with spatial = 0: the four parameters have shape (C, D...) instead. */
static teq_status op_batchnorm(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                               teq_tensor *const *out) {
    if (need_inputs(ctx, node, in, 5)) return TEQ_ERR_ARG;
    const teq_tensor *x = in[0];
    /* the convolution in front applied this node to its output already (an inference node only) */
    if (teq_passes_input(node, x)) return teq_ctx_pass_input(ctx, 0, x, out[0]);
    teq_status st;
    static const char *const names[5] = {"X", "scale", "B", "mean", "var"};
    for (int i = 0; i < 5; i++) {
        if ((st = need_dtype(ctx, node, in[i], names[i]))) return st;
    }
    if (x->ndim < 2) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "X must have rank >= 2, got %d", x->ndim);
    const int64_t N = x->dims[0], C = x->dims[1];
    int64_t inner = 1;
    for (int i = 2; i < x->ndim; i++) inner *= x->dims[i];
    const bool per_elem = node->opset < 9 && teq_node_attr_int(node, "spatial", 1) == 0;
    const int64_t pn = per_elem ? C * inner : C;
    for (int i = 1; i < 5; i++) {
        int64_t numel = teq_tensor_numel(in[i]);
        if (numel != pn || (!per_elem && in[i]->ndim != 1))
            return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "%s must have %lld elements%s", names[i], (long long)pn,
                               per_elem ? "" : " (1-D)");
    }
    const float eps = teq_node_attr_float(node, "epsilon", 1e-5f);
    const float momentum = teq_node_attr_float(node, "momentum", 0.9f);
    const bool training = node->opset >= 14 && teq_node_attr_int(node, "training_mode", 0) != 0;
    bool extra = false;
    for (int i = 1; i < node->n_out; i++) extra |= has_out(node, out, i);
    if (extra && !training)
        return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED,
                           "training outputs (mean/var) are only supported with training_mode = 1 (opset >= 14)");
    if (training && per_elem) return teq_op_fail(ctx, node, TEQ_ERR_UNSUPPORTED, "training with spatial = 0");
    teq_tensor *y = out[0];
    if ((st = teq_ctx_alloc(ctx, y, TEQ_DTYPE_FLOAT, x->ndim, x->dims))) return st;
    const float *X = x->data, *scale = in[1]->data, *bias = in[2]->data, *mean = in[3]->data, *var = in[4]->data;
    float *Y = y->data;
    const int nt = nthreads(ctx);
    if (training) {
        const int64_t cdims[1] = {C};
        teq_tensor *rm = has_out(node, out, 1) ? out[1] : NULL, *rv = has_out(node, out, 2) ? out[2] : NULL;
        if (rm && (st = teq_ctx_alloc(ctx, rm, TEQ_DTYPE_FLOAT, 1, cdims))) return st;
        if (rv && (st = teq_ctx_alloc(ctx, rv, TEQ_DTYPE_FLOAT, 1, cdims))) return st;
        const double cnt = (double)(N * inner);
        for (int64_t c = 0; c < C; c++) {
            double s1 = 0.0, s2 = 0.0;
            for (int64_t n = 0; n < N; n++) {
                const float *xp = X + (n * C + c) * inner;
                for (int64_t i = 0; i < inner; i++) s1 += xp[i];
            }
            const double bm = cnt > 0 ? s1 / cnt : 0.0;
            for (int64_t n = 0; n < N; n++) {
                const float *xp = X + (n * C + c) * inner;
                for (int64_t i = 0; i < inner; i++) s2 += (xp[i] - bm) * (xp[i] - bm);
            }
            const double bv = cnt > 0 ? s2 / cnt : 0.0;
            const double a = scale[c] / sqrt(bv + eps), sh = bias[c] - bm * a;
            for (int64_t n = 0; n < N; n++) {
                const float *xp = X + (n * C + c) * inner;
                float *yp = Y + (n * C + c) * inner;
                for (int64_t i = 0; i < inner; i++) yp[i] = (float)(xp[i] * a + sh);
            }
            if (rm) ((float *)rm->data)[c] = (float)(mean[c] * momentum + bm * (1.0 - momentum));
            if (rv) ((float *)rv->data)[c] = (float)(var[c] * momentum + bv * (1.0 - momentum));
        }
        return TEQ_OK;
    }
    const int64_t planes = N * C;
#pragma omp parallel for num_threads(nt) if (nt > 1 && planes * inner > 65536) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        const int64_t c = p % C;
        const float *xp = X + p * inner;
        float *yp = Y + p * inner;
        if (per_elem) {
            for (int64_t i = 0; i < inner; i++) {
                const int64_t q = c * inner + i;
                const float a = scale[q] / sqrtf(var[q] + eps);
                yp[i] = (xp[i] - mean[q]) * a + bias[q];
            }
        } else {
            float a, sh;
            teq_bn_affine(scale[c], bias[c], mean[c], var[c], eps, &a, &sh);
#pragma omp simd
            for (int64_t i = 0; i < inner; i++) yp[i] = xp[i] * a + sh;
        }
    }
    return TEQ_OK;
}

/* InstanceNormalization: X (N, C, D...), scale (C), B (C) -> Y like X; statistics per (n, c). */
static teq_status op_instancenorm(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                                  teq_tensor *const *out) {
    if (need_inputs(ctx, node, in, 3)) return TEQ_ERR_ARG;
    const teq_tensor *x = in[0], *sc = in[1], *bi = in[2];
    teq_status st;
    if ((st = need_dtype(ctx, node, x, "input")) || (st = need_dtype(ctx, node, sc, "scale")) ||
        (st = need_dtype(ctx, node, bi, "B")))
        return st;
    if (x->ndim < 3) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "input must have rank >= 3, got %d", x->ndim);
    const int64_t N = x->dims[0], C = x->dims[1];
    if (sc->ndim != 1 || sc->dims[0] != C || bi->ndim != 1 || bi->dims[0] != C)
        return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "scale and B must have shape [%lld]", (long long)C);
    int64_t inner = 1;
    for (int i = 2; i < x->ndim; i++) inner *= x->dims[i];
    const float eps = teq_node_attr_float(node, "epsilon", 1e-5f);
    teq_tensor *y = out[0];
    if ((st = teq_ctx_alloc(ctx, y, TEQ_DTYPE_FLOAT, x->ndim, x->dims))) return st;
    const float *X = x->data, *scale = sc->data, *bias = bi->data;
    float *Y = y->data;
    const int64_t planes = N * C;
    const int nt = nthreads(ctx);
#pragma omp parallel for num_threads(nt) if (nt > 1 && planes > 1) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        const int64_t c = p % C;
        const float *xp = X + p * inner;
        float *yp = Y + p * inner;
        double s1 = 0.0, s2 = 0.0;
#pragma omp simd reduction(+ : s1)
        for (int64_t i = 0; i < inner; i++) s1 += xp[i];
        const double mu = inner > 0 ? s1 / (double)inner : 0.0;
#pragma omp simd reduction(+ : s2)
        for (int64_t i = 0; i < inner; i++) s2 += (xp[i] - mu) * (xp[i] - mu);
        const double var = inner > 0 ? s2 / (double)inner : 0.0;
        const double a = scale[c] / sqrt(var + eps), sh = bias[c] - mu * a;
#pragma omp simd
        for (int64_t i = 0; i < inner; i++) yp[i] = (float)(xp[i] * a + sh);
    }
    return TEQ_OK;
}

/* LRN: X (N, C, D...) -> Y like X; y = x / (bias + alpha / size * sum of x^2 over the channel
 * window [c - floor((size-1)/2), c + ceil((size-1)/2)])^beta. */
static teq_status op_lrn(teq_exec_ctx *ctx, const teq_node *node, const teq_tensor *const *in,
                         teq_tensor *const *out) {
    if (need_inputs(ctx, node, in, 1)) return TEQ_ERR_ARG;
    const teq_tensor *x = in[0];
    teq_status st;
    if ((st = need_dtype(ctx, node, x, "X"))) return st;
    if (x->ndim < 3) return teq_op_fail(ctx, node, TEQ_ERR_SHAPE, "X must have rank >= 3, got %d", x->ndim);
    const int64_t size = teq_node_attr_int(node, "size", 0);
    if (size < 1 || size > ATTR_MAX)
        return teq_op_fail(ctx, node, TEQ_ERR_FORMAT, "attribute size must be a positive int");
    const float alpha = teq_node_attr_float(node, "alpha", 1e-4f), beta = teq_node_attr_float(node, "beta", 0.75f);
    const float bias = teq_node_attr_float(node, "bias", 1.0f);
    const int64_t N = x->dims[0], C = x->dims[1];
    int64_t inner = 1;
    for (int i = 2; i < x->ndim; i++) inner *= x->dims[i];
    teq_tensor *y = out[0];
    if ((st = teq_ctx_alloc(ctx, y, TEQ_DTYPE_FLOAT, x->ndim, x->dims))) return st;
    const float *X = x->data;
    float *Y = y->data;
    const int64_t lo_off = (size - 1) / 2, hi_off = size - 1 - lo_off;
    const float as = alpha / (float)size;
    const int64_t planes = N * C;
    const int nt = nthreads(ctx);
#pragma omp parallel for num_threads(nt) if (nt > 1 && planes > 1) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        const int64_t n = p / C, c = p % C;
        const int64_t c0 = c - lo_off < 0 ? 0 : c - lo_off, c1 = c + hi_off > C - 1 ? C - 1 : c + hi_off;
        float *yp = Y + p * inner;
        for (int64_t i = 0; i < inner; i++) yp[i] = 0.0f;
        for (int64_t cc = c0; cc <= c1; cc++) {
            const float *xc = X + (n * C + cc) * inner;
#pragma omp simd
            for (int64_t i = 0; i < inner; i++) yp[i] += xc[i] * xc[i];
        }
        const float *xp = X + p * inner;
        for (int64_t i = 0; i < inner; i++) yp[i] = xp[i] / powf(bias + as * yp[i], beta);
    }
    return TEQ_OK;
}

const teq_op teq_ops_nn[] = {
    {"Conv", op_conv, 2},
    {"ConvTranspose", op_conv_transpose, 2},
    {"Gemm", op_gemm, 2},
    {"MatMul", op_matmul, 2},
    {"MaxPool", op_maxpool, 1},
    {"AveragePool", op_avgpool, 1},
    {"GlobalAveragePool", op_global_avgpool, 1},
    {"GlobalMaxPool", op_global_maxpool, 1},
    {"BatchNormalization", op_batchnorm, 5},
    {"InstanceNormalization", op_instancenorm, 3},
    {"LRN", op_lrn, 1},
    {NULL, NULL, 0},
};
