/* Kernel set choice (cpuid, once) and the threaded row drivers.
 *
 * The sets' code is compiled with their own ISA flags in their own files; this file is compiled for the
 * baseline x86-64 and is the only one that decides, from __builtin_cpu_supports, which of them may run.
 * TEQ_ISA=scalar|avx2|avx512 caps the choice so that tests and benchmarks can compare the variants. */
#include "kint.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

static int cpu_has(teq_isa isa) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    switch (isa) {
    case TEQ_ISA_SCALAR: return 1;
    case TEQ_ISA_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
    case TEQ_ISA_AVX512:
        return cpu_has(TEQ_ISA_AVX2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi");
    default: return 0;
    }
#else
    return isa == TEQ_ISA_SCALAR;
#endif
}

static int cpu_has_vnni(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

const teq_kernel_set *teq_kset(teq_isa isa) {
    if (!cpu_has(isa)) return NULL;
    switch (isa) {
    case TEQ_ISA_SCALAR: return &teq_kset_scalar_tab;
    case TEQ_ISA_AVX2: return &teq_kset_avx2_tab;
    case TEQ_ISA_AVX512: return cpu_has_vnni() ? &teq_kset_avx512vnni_tab : &teq_kset_avx512_tab;
    default: return NULL;
    }
}

static teq_isa choose_isa(void) {
    int cap = TEQ_N_ISA - 1;
    const char *e = getenv("TEQ_ISA");
    if (e && *e) {
        if (!strcmp(e, "scalar")) cap = TEQ_ISA_SCALAR;
        else if (!strcmp(e, "avx2")) cap = TEQ_ISA_AVX2;
        else if (!strcmp(e, "avx512")) cap = TEQ_ISA_AVX512;
    }
    for (int i = cap; i > 0; i--)
        if (cpu_has((teq_isa)i)) return (teq_isa)i;
    return TEQ_ISA_SCALAR;
}

/* Chosen once; the choice is a pure function of cpuid and the environment, so two threads racing here
 * store the same value (an atomic int keeps that race defined). */
static _Atomic int best_isa = -1;

teq_isa teq_k_best_isa(void) {
    int v = best_isa;
    if (v < 0) best_isa = v = (int)choose_isa();
    return (teq_isa)v;
}

const teq_kernel_set *teq_kset_best(void) { return teq_kset(teq_k_best_isa()); }

/* Rows are split in blocks of 16 (a multiple of every set's row blocking) so each thread runs the
 * multi-row inner loops; small problems stay on one thread (the fork costs more than the work). */
enum { ROW_BLOCK = 16 };

static int threads_for(const teq_kw *w, int64_t work, int n_threads) {
    if (n_threads < 1 || work < (int64_t)1 << 16) return 1;
    int64_t blocks = (w->M + ROW_BLOCK - 1) / ROW_BLOCK;
    return blocks < n_threads ? (int)blocks : n_threads;
}

void teq_k_decode(const teq_kw *w, float *out, int n_threads) {
    const teq_kernel_set *ks = teq_kset_best();
    int nt = threads_for(w, w->M * w->K, n_threads);
    int64_t nb = (w->M + ROW_BLOCK - 1) / ROW_BLOCK;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t b = 0; b < nb; b++) {
        int64_t m0 = b * ROW_BLOCK, m1 = m0 + ROW_BLOCK < w->M ? m0 + ROW_BLOCK : w->M;
        ks->decode(w, m0, m1, out + m0 * w->K);
    }
}

/* One product over rows m0 .. m1-1 with a set's kernel (the arguments of the three row drivers). */
typedef struct {
    enum { JOB_GEMV, JOB_I8_GEMV, JOB_I8_GEMM } job;
    const teq_kw *w;
    const float *x;    /* JOB_GEMV */
    const uint8_t *xq; /* INT8: activation codes */
    int64_t N, ldy;    /* JOB_I8_GEMM */
    int32_t zp;
    float xscale;
    float *y;
} row_job;

static void run_rows(const teq_kernel_set *ks, const row_job *j, int64_t m0, int64_t m1) {
    switch (j->job) {
    case JOB_GEMV: ks->gemv(j->w, j->x, j->y, m0, m1); break;
    case JOB_I8_GEMV: ks->i8_gemv(j->w, j->xq, j->zp, j->xscale, j->y, m0, m1); break;
    case JOB_I8_GEMM: ks->i8_gemm(j->w, j->xq, j->N, j->zp, j->xscale, j->y, j->ldy, m0, m1); break;
    }
}

/* One contiguous range of whole row blocks per thread: each streams its own part of the weights. */
static void split_rows(const row_job *j, int64_t work, int n_threads) {
    const teq_kernel_set *ks = teq_kset_best();
    const teq_kw *w = j->w;
    int nt = threads_for(w, work, n_threads);
    if (nt == 1) {
        run_rows(ks, j, 0, w->M);
        return;
    }
    int64_t nb = (w->M + ROW_BLOCK - 1) / ROW_BLOCK;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int64_t b0 = nb * t / T, b1 = nb * (t + 1) / T;
        int64_t m0 = b0 * ROW_BLOCK, m1 = b1 * ROW_BLOCK < w->M ? b1 * ROW_BLOCK : w->M;
        if (m0 < m1) run_rows(ks, j, m0, m1);
    }
}

void teq_k_gemv(const teq_kw *w, const float *x, float *y, int n_threads) {
    const row_job j = {.job = JOB_GEMV, .w = w, .x = x, .y = y};
    split_rows(&j, w->M * w->K, n_threads);
}

void teq_k_i8_gemv(const teq_kw *w, const uint8_t *x, int32_t zp, float xscale, float *y, int n_threads) {
    const row_job j = {.job = JOB_I8_GEMV, .w = w, .xq = x, .zp = zp, .xscale = xscale, .y = y};
    split_rows(&j, w->M * w->K, n_threads);
}

void teq_k_i8_gemm(const teq_kw *w, const uint8_t *X, int64_t N, int32_t zp, float xscale, float *Y, int64_t ldy,
                   int n_threads) {
    const row_job j = {.job = JOB_I8_GEMM, .w = w, .xq = X, .N = N, .ldy = ldy, .zp = zp, .xscale = xscale, .y = Y};
    split_rows(&j, w->M * w->K * N, n_threads);
}

bool teq_k_i8_conv_ok(const teq_kw *w) { return w->q8p && teq_kset_best()->i8_conv; }

/* columns n0..n1-1 of one thread: straight into Y, or block by block through its tile */
static void i8_conv_range(const teq_kernel_set *ks, const teq_kw *w, const teq_i8conv *g, const uint8_t *Q, int32_t zp,
                          float xscale, const float *bias, float *Y, int64_t ldy, const teq_kpost *post, int64_t n0,
                          int64_t n1, uint8_t *panel, float *tile) {
    if (!tile) {
        ks->i8_conv(w, g, Q, zp, xscale, bias, Y + n0, ldy, n0, n1, panel, post);
        return;
    }
    for (int64_t nc = n0; nc < n1; nc += TEQ_I8C_NB)
        ks->i8_conv(w, g, Q, zp, xscale, bias, tile, TEQ_I8C_NB, nc, n1 - nc < TEQ_I8C_NB ? n1 : nc + TEQ_I8C_NB, panel,
                    post);
}

teq_status teq_k_i8_conv(const teq_kw *w, const teq_i8conv *g, const uint8_t *Q, int32_t zp, float xscale,
                         const float *bias, float *Y, int64_t ldy, const teq_kpost *post, int n_threads) {
    const teq_kernel_set *ks = teq_kset_best();
    if (!w->q8p || !ks->i8_conv) return TEQ_ERR_UNSUPPORTED;
    const int64_t S = g->OH * g->OW, nb = (S + TEQ_I8C_NB - 1) / TEQ_I8C_NB;
    if (S <= 0 || w->M <= 0) return TEQ_OK;
    int nt = n_threads < 1 ? 1 : n_threads;
    if (nt > nb) nt = (int)nb;
    /* per thread: a panel, zeroed once, so that the columns past the last (computed, never stored) read
     * defined bytes; and in tile mode an M x NB tile of outputs */
    const bool tiled = post && post->tile;
    const size_t pb = (size_t)(TEQ_I8C_NB * w->Kq + 64), tb = tiled ? sizeof(float) * (size_t)(w->M * TEQ_I8C_NB) : 0;
    uint8_t *mem = calloc((size_t)nt, pb + tb);
    if (!mem) return TEQ_ERR_NOMEM;
    if (nt == 1) {
        i8_conv_range(ks, w, g, Q, zp, xscale, bias, Y, ldy, post, 0, S, mem, tiled ? (float *)(void *)(mem + pb) : NULL);
    } else {
#pragma omp parallel num_threads(nt)
        {
            const int t = omp_get_thread_num(), T = omp_get_num_threads();
            const int64_t b0 = nb * t / T, b1 = nb * (t + 1) / T;
            const int64_t n1 = b1 * TEQ_I8C_NB < S ? b1 * TEQ_I8C_NB : S;
            uint8_t *my = mem + (size_t)t * (pb + tb);
            if (b0 < b1)
                i8_conv_range(ks, w, g, Q, zp, xscale, bias, Y, ldy, post, b0 * TEQ_I8C_NB, n1, my,
                              tiled ? (float *)(void *)(my + pb) : NULL);
        }
    }
    free(mem);
    return TEQ_OK;
}

bool teq_k_i16_conv_ok(void) { return teq_kset_best()->i16_conv != NULL; }

teq_status teq_k_i16_conv(const teq_kw16 *w, const teq_i8conv *g, const int16_t *Q, float xscale, const float *bias,
                          float *Y, int64_t ldy, const teq_kpost *post, int n_threads) {
    const teq_kernel_set *ks = teq_kset_best();
    if (!ks->i16_conv) return TEQ_ERR_UNSUPPORTED;
    const int64_t S = g->OH * g->OW, nb = (S + TEQ_I8C_NB - 1) / TEQ_I8C_NB;
    if (S <= 0 || w->M <= 0) return TEQ_OK;
    int nt = n_threads < 1 ? 1 : n_threads;
    if (nt > nb) nt = (int)nb;
    const size_t pe = (size_t)(TEQ_I8C_NB * w->K2 + 32); /* int16 per panel; zeroed once as i8_conv's */
    int16_t *panels = calloc((size_t)nt, pe * sizeof(int16_t));
    if (!panels) return TEQ_ERR_NOMEM;
    if (nt == 1) {
        ks->i16_conv(w, g, Q, xscale, bias, Y, ldy, 0, S, panels, post);
    } else {
#pragma omp parallel num_threads(nt)
        {
            const int t = omp_get_thread_num(), T = omp_get_num_threads();
            const int64_t b0 = nb * t / T, b1 = nb * (t + 1) / T;
            const int64_t n0 = b0 * TEQ_I8C_NB, n1 = b1 * TEQ_I8C_NB < S ? b1 * TEQ_I8C_NB : S;
            if (b0 < b1) ks->i16_conv(w, g, Q, xscale, bias, Y + n0, ldy, n0, n1, panels + (size_t)t * pe, post);
        }
    }
    free(panels);
    return TEQ_OK;
}

void teq_k_map_i16(const int16_t lut[256], const uint8_t *c, int64_t n, int16_t *out) {
    if (teq_k_best_isa() == TEQ_ISA_AVX512) {
        teq_k_map_i16_avx512(lut, c, n, out);
        return;
    }
    for (int64_t i = 0; i < n; i++) out[i] = lut[c[i]];
}
