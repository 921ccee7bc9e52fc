/* Kernel set choice (cpuid, once) and the threaded row drivers.
 *
 * The sets' code is compiled with their own ISA flags in their own files; this file is compiled for the
 * baseline x86-64 and is the only one that decides, from __builtin_cpu_supports, which of them may run.
 * TEQ_ISA=scalar|avx2|avx512 caps the choice so that tests and benchmarks can compare the variants. */
#include "kint.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <sys/mman.h>
#include <stdint.h>
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

/* Trimmed INT8 weights (teq_kw_trim, no packed codes): the integers of q8 are the code table's entries
 * (lut[code] = q), so decode gives the sets' values bit for bit; gemv sums as gemv_scalar does. */
static void decode_q8(const teq_kw *w, int64_t m0, int64_t m1, float *out) {
    for (int64_t m = m0; m < m1; m++)
        for (int64_t k = 0; k < w->K; k++) out[(m - m0) * w->K + k] = w->scale[m] * (float)w->q8[m * w->K4 + k];
}
static void gemv_q8(const teq_kw *w, const float *x, float *y, int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; m++) {
        const int8_t *q = w->q8 + m * w->K4;
        float a[4] = {0, 0, 0, 0};
        for (int64_t k = 0; k < w->K; k++) a[k & 3] += (float)q[k] * x[k];
        y[m] = w->scale[m] * ((a[0] + a[1]) + (a[2] + a[3]));
    }
}

void teq_k_decode(const teq_kw *w, float *out, int n_threads) {
    const teq_kernel_set *ks = teq_kset_best();
    if (!w->packed) {
        decode_q8(w, 0, w->M, out);
        return;
    }
    int nt = threads_for(w, w->M * w->K, n_threads);
    /* one thread: no OpenMP region at all. A serialized region still costs 0.3-0.45 us (libgomp starts and
     * ends a team of one, a futex call each time), and teq_ql_decode_kwf calls this once per 6 rows */
    if (nt <= 1) {
        ks->decode(w, 0, w->M, out);
        return;
    }
    int64_t nb = (w->M + ROW_BLOCK - 1) / ROW_BLOCK;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        int64_t m0 = b * ROW_BLOCK, m1 = m0 + ROW_BLOCK < w->M ? m0 + ROW_BLOCK : w->M;
        ks->decode(w, m0, m1, out + m0 * w->K);
    }
}

/* One product over rows m0 .. m1-1 with a set's kernel (the arguments of the three row drivers). */
typedef struct {
    enum { JOB_GEMV, JOB_I8_GEMV, JOB_I8_GEMM, JOB_GEMV_L8 } job;
    const teq_kw *w;
    const float *x;    /* JOB_GEMV */
    const teq_kl8x *xl; /* JOB_GEMV_L8, with the kernel that takes it */
    void (*l8)(const teq_kw *w, const teq_kl8x *x, float *y, int64_t m0, int64_t m1);
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
    case JOB_GEMV_L8: j->l8(j->w, j->xl, j->y, m0, m1); break;
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
    if (!w->packed) {
        gemv_q8(w, x, y, 0, w->M);
        return;
    }
    const row_job j = {.job = JOB_GEMV, .w = w, .x = x, .y = y};
    split_rows(&j, w->M * w->K, n_threads);
}

/* x on its block grids (kernels.h, teq_kl8x) into xi / dx / neg; false where x holds a non-finite value.
 * Rounding to the nearest integer, ties to even, by adding and taking away 1.5 * 2^52 in double (exact for
 * |v| < 2^51), which the compiler vectorizes; nearbyint is a call per value on the baseline, and this pass
 * then cost as much as a 64 x 4096 product (13 us at K = 4096; 2 us now). The product by the double
 * reciprocal is within 2^-45 of x / dx's own rounding. */
/* (an AVX2 clone, core.h TEQ_CLONES) */
TEQ_CLONES static bool l8_prepare_x(const float *x, int64_t K, int64_t NB, int8_t *xi, float *dx, int32_t *neg) {
    enum { B = TEQ_KL8_B, H = TEQ_KL8_B / 2 };
    const double RND = 6755399441055744.0;
    for (int64_t b = 0; b < NB; b++) {
        const int64_t k0 = b * B, kn = K - k0 < B ? K - k0 : B;
        /* the largest magnitude by the bit patterns (ordered as the values; NaN and inf above 0x7F7FFFFF) */
        float tail[B];
        const float *xb = x + k0;
        if (kn < B) {
            memcpy(tail, xb, (size_t)kn * sizeof *tail);
            memset(tail + kn, 0, (size_t)(B - kn) * sizeof *tail);
            xb = tail;
        }
        typedef int32_t i32a __attribute__((may_alias));
        const i32a *u = (const i32a *)xb;
        int32_t mb = 0;
        for (int i = 0; i < B; i++) mb = (u[i] & 0x7FFFFFFF) > mb ? (u[i] & 0x7FFFFFFF) : mb;
        if (mb > 0x7F7FFFFF) return false;
        float mx;
        memcpy(&mx, &mb, 4);
        /* the grid a float, so that xi * dx is the value the bound speaks of; |x| * r <= 127 (1 + 2^-23), which
         * rounds to 127 at most */
        const float d = mx / 127.0f;
        const double r = mx > 0 ? 1.0 / (double)d : 0.0;
        int32_t q[B], sum = 0;
        for (int i = 0; i < B; i++) q[i] = (int32_t)(((double)xb[i] * r + RND) - RND);
        int8_t *o = xi + b * B;
        for (int i = 0; i < H; i++) o[i] = (int8_t)q[2 * i], o[H + i] = (int8_t)q[2 * i + 1];
        for (int i = 0; i < B; i++) sum += q[i];
        dx[b] = d;
        memset(neg + b * 16, 0, 16 * sizeof *neg);
        neg[b * 16] = -128 * sum;
    }
    return true;
}

/* Below this many blocks x's copy lives on the stack (K <= 16384: 16 KB of xi, 8 KB of neg). */
enum { L8_STACK_NB = 128 };

void teq_k_gemv_l8(const teq_kw *w, const float *x, float *y, int n_threads) {
    const int n = w->q.bits, nc = 1 << n;
    float mx = 0;
    bool ok = w->packed != NULL;
    for (int c = 0; ok && c < nc; c++) {
        const float a = fabsf(w->lut[c]);
        ok = a <= FLT_MAX;
        mx = a > mx ? a : mx;
    }
    const int64_t NB = (w->K + TEQ_KL8_B - 1) / TEQ_KL8_B;
    int8_t xs[L8_STACK_NB * TEQ_KL8_B] __attribute__((aligned(64)));
    int32_t ns[L8_STACK_NB * 16] __attribute__((aligned(64)));
    float ds[L8_STACK_NB];
    int8_t *xi = xs;
    int32_t *neg = ns;
    float *dx = ds;
    void *heap = NULL;
    if (ok && NB > L8_STACK_NB) {
        /* one allocation: xi [NB * B], neg [NB * 16], dx [NB], each 64-byte aligned */
        heap = aligned_alloc(64, (size_t)NB * (TEQ_KL8_B + 16 * 4 + 64));
        ok = heap != NULL;
        if (ok) {
            xi = heap;
            neg = (int32_t *)(xi + NB * TEQ_KL8_B);
            dx = (float *)(neg + NB * 16);
        }
    }
    teq_kl8x p = {.NB = NB, .xi = xi, .dx = dx, .neg = neg, .dw = mx > 0 ? mx / 127.0f : 1.0f};
    if (ok) ok = l8_prepare_x(x, w->K, NB, xi, dx, neg);
    if (!ok) {
        free(heap);
        teq_k_gemv(w, x, y, n_threads);
        return;
    }
    memset(p.wl, 0, sizeof p.wl);
    for (int c = 0; c < nc; c++) {
        double v = nearbyint((double)w->lut[c] / (double)p.dw);
        p.wl[c] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    /* the best set's 4-bit kernel, else AVX2's (a set without one), else the scalar one (any width) */
    const teq_kernel_set *ks = teq_kset_best(), *k2 = teq_kset(TEQ_ISA_AVX2);
    void (*fn)(const teq_kw *, const teq_kl8x *, float *, int64_t, int64_t) = teq_kset_scalar_tab.gemv_l8;
    if (n == 4 && ks->gemv_l8) fn = ks->gemv_l8;
    else if (n == 4 && teq_k_best_isa() >= TEQ_ISA_AVX2 && k2 && k2->gemv_l8) fn = k2->gemv_l8;
    const row_job j = {.job = JOB_GEMV_L8, .w = w, .xl = &p, .l8 = fn, .y = y};
    split_rows(&j, w->M * w->K, n_threads);
    free(heap);
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

/* The convolution drivers: S output columns in blocks of NB, split over threads in contiguous runs of
 * blocks; each thread gets `each` bytes of its own scratch (its panel, and a tile); run(arg, n0, n1, mine)
 * does columns n0..n1-1. run reads columns past the last (computed, never stored), so the scratch must hold
 * defined values: zero when it is mapped, afterwards whatever an earlier call left there (only lanes that
 * are never stored see it).
 *
 * The scratch lives with the thread (a pthread key, unmapped when the thread ends) and only grows. It was a
 * calloc per call: since the FP32 panel grew to 64 KB (eighteenth round) that zeroed 64 KB a call, and each
 * free gave the top of the heap back to the system (brk) for the next call to take again (DECISIONS,
 * nineteenth round, has what it cost). */
typedef void (*conv_range_fn)(const void *arg, int64_t n0, int64_t n1, void *mine);

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

/* A mapping of its own, not the heap: its pages are zero until written and count towards the resident set only
 * once touched; from the heap, a scratch that stays between calls split the heap (INT8's panels grow layer by
 * layer), and cls's INT8 run peaked 0.3-0.6 MB higher. h[0]: the mapping's size; the scratch starts 64 bytes in. */
static void scratch_unmap(void *h) { munmap(h, ((size_t *)h)[0]); }
static void scratch_init(void) { scratch_key_ok = pthread_key_create(&scratch_key, scratch_unmap) == 0; }
/* a program that dlcloses libteq.so: no thread may later run a destructor that is no longer mapped (the threads'
 * scratch mappings are left to the process) */
__attribute__((destructor)) static void scratch_fini(void) {
    if (scratch_key_ok) pthread_key_delete(scratch_key), scratch_key_ok = 0;
}

/* the calling thread's scratch of at least `bytes` (64-byte aligned), NULL without memory */
static void *thread_scratch(size_t bytes) {
    enum { GRAIN = 1 << 20 }; /* mappings in whole MiB: the few sizes a model asks for share one */
    pthread_once(&scratch_once, scratch_init);
    if (!scratch_key_ok || bytes > SIZE_MAX - 2 * (size_t)GRAIN) return NULL;
    size_t *h = pthread_getspecific(scratch_key);
    if (h && h[0] - 64 >= bytes) return (char *)h + 64;
    const size_t len = (bytes + 64 + GRAIN - 1) / GRAIN * GRAIN;
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    if (pthread_setspecific(scratch_key, m)) {
        munmap(m, len);
        return NULL;
    }
    ((size_t *)m)[0] = len;
    if (h) scratch_unmap(h);
    return (char *)m + 64;
}

/* S units in blocks of `grain`, as above */
static teq_status split_grain(int64_t S, int64_t grain, int n_threads, size_t each, conv_range_fn run,
                              const void *arg) {
    const int64_t nb = (S + grain - 1) / grain;
    int nt = n_threads < 1 ? 1 : n_threads;
    if (nt > nb) nt = (int)nb;
    if (nt == 1) {
        void *mine = thread_scratch(each);
        if (!mine) return TEQ_ERR_NOMEM;
        run(arg, 0, S, mine);
        return TEQ_OK;
    }
    int failed = 0;
#pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num(), T = omp_get_num_threads();
        const int64_t b0 = nb * t / T, b1 = nb * (t + 1) / T;
        const int64_t n0 = b0 * grain, n1 = b1 * grain < S ? b1 * grain : S;
        if (b0 < b1) {
            void *mine = thread_scratch(each);
            if (mine) run(arg, n0, n1, mine);
            else {
#pragma omp atomic write
                failed = 1;
            }
        }
    }
    return failed ? TEQ_ERR_NOMEM : TEQ_OK;
}

static teq_status conv_split(int64_t S, int n_threads, size_t each, conv_range_fn run, const void *arg) {
    return split_grain(S, TEQ_I8C_NB, n_threads, each, run, arg);
}

typedef struct {
    const teq_kernel_set *ks;
    const teq_kw *w;
    const teq_i8conv *g;
    const uint8_t *Q;
    int32_t zp;
    float xscale;
    const float *bias;
    float *Y;
    int64_t ldy;
    const teq_kpost *post;
    size_t pb; /* panel bytes; a tile of M x NB floats follows in tile mode */
} i8_conv_arg;

static void i8_conv_range(const void *arg, int64_t n0, int64_t n1, void *mine) {
    const i8_conv_arg *a = arg;
    uint8_t *panel = mine;
    if (!(a->post && a->post->tile)) {
        a->ks->i8_conv(a->w, a->g, a->Q, a->zp, a->xscale, a->bias, a->Y + n0, a->ldy, n0, n1, panel, a->post);
        return;
    }
    float *tile = (float *)(void *)(panel + a->pb);
    for (int64_t nc = n0; nc < n1; nc += TEQ_I8C_NB)
        a->ks->i8_conv(a->w, a->g, a->Q, a->zp, a->xscale, a->bias, tile, TEQ_I8C_NB, nc,
                       n1 - nc < TEQ_I8C_NB ? n1 : nc + TEQ_I8C_NB, panel, a->post);
}

teq_status teq_k_i8_conv(const teq_kw *w, const teq_i8conv *g, const uint8_t *Q, int32_t zp, float xscale,
                         const float *bias, float *Y, int64_t ldy, const teq_kpost *post, int n_threads) {
    const teq_kernel_set *ks = teq_kset_best();
    if (!w->q8p || !ks->i8_conv) return TEQ_ERR_UNSUPPORTED;
    const int64_t S = g->OH * g->OW;
    if (S <= 0 || w->M <= 0) return TEQ_OK;
    /* in tile mode, an M x NB tile of outputs per thread after its panel */
    const bool tiled = post && post->tile;
    const size_t pb = TEQ_I8C_PANEL_BYTES(w->Kq);
    const size_t tb = tiled ? sizeof(float) * (size_t)(w->M * TEQ_I8C_NB) : 0;
    const i8_conv_arg a = {ks, w, g, Q, zp, xscale, bias, Y, ldy, post, pb};
    return conv_split(S, n_threads, pb + tb, i8_conv_range, &a);
}

bool teq_k_i16_conv_ok(void) { return teq_kset_best()->i16_conv != NULL; }

typedef struct {
    const teq_kernel_set *ks;
    const teq_kw16 *w;
    const teq_i8conv *g;
    const int16_t *Q;
    float xscale;
    const float *bias;
    float *Y;
    int64_t ldy;
    const teq_kpost *post;
} i16_conv_arg;

static void i16_conv_range(const void *arg, int64_t n0, int64_t n1, void *mine) {
    const i16_conv_arg *a = arg;
    a->ks->i16_conv(a->w, a->g, a->Q, a->xscale, a->bias, a->Y + n0, a->ldy, n0, n1, mine, a->post);
}

teq_status teq_k_i16_conv(const teq_kw16 *w, const teq_i8conv *g, const int16_t *Q, float xscale, const float *bias,
                          float *Y, int64_t ldy, const teq_kpost *post, int n_threads) {
    const teq_kernel_set *ks = teq_kset_best();
    if (!ks->i16_conv) return TEQ_ERR_UNSUPPORTED;
    const int64_t S = g->OH * g->OW;
    if (S <= 0 || w->M <= 0) return TEQ_OK;
    const i16_conv_arg a = {ks, w, g, Q, xscale, bias, Y, ldy, post};
    return conv_split(S, n_threads, sizeof(int16_t) * (size_t)(TEQ_I8C_NB * w->K2 + 32), i16_conv_range, &a);
}

bool teq_k_f32_conv_ok(void) { return teq_kset_best()->f32_conv != NULL; }

bool teq_k_i8_dw_ok(int64_t KH, int64_t KW, int64_t SW, int64_t DW) {
    return teq_kset_best()->i8_dw && KH >= 1 && KH <= 64 && KW >= 1 && KW <= 8 && (SW == 1 || SW == 2) && DW == 1;
}

void teq_k_i8_dw(const uint8_t *x, int64_t IH, int64_t IW, int64_t PT, int64_t PL, uint8_t pc, const int8_t *w,
                 int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t DH, int32_t zpw, float sc, const float *bias,
                 float *y, int64_t OH, int64_t OW) {
    teq_kset_best()->i8_dw(x, IH, IW, PT, PL, pc, w, KH, KW, SH, SW, DH, zpw, sc, bias, y, OH, OW);
}

bool teq_k_f32_dw_ok(int64_t KW, int64_t SW, int64_t DW) {
    return teq_kset_best()->f32_dw && (KW == 1 || KW == 3 || KW == 5 || KW == 7) && (SW == 1 || SW == 2) && DW == 1;
}

void teq_k_f32_dw(const float *x, int64_t IH, int64_t IW, int64_t PT, int64_t PL, float pv, const float *w, int64_t KH,
                  int64_t KW, int64_t SH, int64_t SW, int64_t DH, float bias, float *y, int64_t OH, int64_t OW) {
    teq_kset_best()->f32_dw(x, IH, IW, PT, PL, pv, w, KH, KW, SH, SW, DH, bias, y, OH, OW);
}

/* the AVX2 and AVX-512 bodies take the same direct-path test (kint.h f32c_direct); the scalar set has none */
bool teq_k_f32_conv_deint_ok(const teq_kwf *w, const teq_i8conv *g) {
    return teq_kset_best()->f32_conv && !w->mv && !g->deint && f32c_direct(g, w->K, 1);
}

bool teq_k_f32_conv_mv_ok(void) { return teq_kset_best()->f32_conv && teq_kset_best()->f32_mv; }

typedef struct {
    const teq_kernel_set *ks;
    const teq_kwf *w;
    const teq_i8conv *g;
    const float *X;
    const float *bias;
    float *Y;
    int64_t ldy;
    const teq_kpost *post;
    const teq_kwino *wino; /* the Winograd drivers' weights (w NULL then) */
} f32_conv_arg;

static void f32_conv_range(const void *arg, int64_t n0, int64_t n1, void *mine) {
    const f32_conv_arg *a = arg;
    a->ks->f32_conv(a->w, a->g, a->X, a->bias, a->Y + n0, a->ldy, n0, n1, mine, a->post);
}

teq_status teq_k_f32_conv(const teq_kwf *w, const teq_i8conv *g, const float *X, const float *bias, float *Y,
                          int64_t ldy, const teq_kpost *post, int n_threads) {
    const teq_kernel_set *ks = teq_kset_best();
    if (!ks->f32_conv || (w->mv && !ks->f32_mv) || (w->mv && g->C * g->PH * g->PW >= INT32_MAX))
        return TEQ_ERR_UNSUPPORTED;
    const int64_t S = g->OH * g->OW;
    if (S <= 0 || w->M <= 0) return TEQ_OK;
    const f32_conv_arg a = {ks, w, g, X, bias, Y, ldy, post, NULL};
    return conv_split(S, n_threads, sizeof(float) * TEQ_F32C_PANEL_FLOATS(w->K), f32_conv_range, &a);
}

bool teq_k_f32_wino_ok(void) {
    static int on = -1;
    return teq_k_env_unless(&on, "TEQ_WINOGRAD", "off") && teq_kset_best()->f32_wino;
}

void teq_k_wino_fill(int64_t M, int64_t C, const float *W, float *u, int64_t m0, int64_t m1) {
    const teq_kernel_set *ks = teq_kset_best();
    (ks->wino_fill ? ks->wino_fill : teq_kwino_fill)(M, C, W, u, m0, m1);
}

static void f32_wino_range(const void *arg, int64_t r0, int64_t r1, void *mine) {
    const f32_conv_arg *a = arg;
    a->ks->f32_wino(a->wino, a->g, a->X, a->bias, a->Y, a->ldy, r0, r1, mine, a->post);
}

/* Dilation d > 1: output (oy, ox) = (ry + d i, rx + d j) reads input (ry + d (i + a), rx + d (j + b)), so each of
 * the d^2 residues (ry, rx) is an undilated convolution of the sub-planes X[c][ry + d i][rx + d j]. A thread
 * takes whole residues: the residue's input sub-planes copied into its scratch after the kernel's, the kernel
 * (with the activation, not the chain) into a sub-output there, then scattered into Y. The sub-planes are
 * 1 / d^2 of the planes each (M-LSD's d = 5 layer: 64 x 18 x 18 floats). */
static void dil_geom(const teq_i8conv *g, int64_t ry, int64_t rx, teq_i8conv *s) {
    const int64_t d = g->DH;
    *s = *g;
    s->DH = s->DW = 1;
    s->PH = (g->PH - ry + d - 1) / d, s->PW = (g->PW - rx + d - 1) / d;
    s->OH = (g->OH - ry + d - 1) / d, s->OW = (g->OW - rx + d - 1) / d;
}

static void f32_wino_dil_range(const void *arg, int64_t q0, int64_t q1, void *mine) {
    const f32_conv_arg *a = arg;
    const teq_i8conv *g = a->g;
    const int64_t d = g->DH, C = g->C, M = a->wino->M;
    teq_i8conv s0; /* residue 0's sub-planes, the largest */
    dil_geom(g, 0, 0, &s0);
    float *scratch = mine, *Xs = scratch + TEQ_WINO_SCRATCH_FLOATS(C), *Ys = Xs + C * s0.PH * s0.PW;
    const teq_kpost act = {.act = a->post ? a->post->act : 0, .lo = a->post ? a->post->lo : 0, .hi = a->post ? a->post->hi : 0};
    for (int64_t q = q0; q < q1; q++) {
        const int64_t ry = q / d, rx = q % d;
        teq_i8conv s;
        dil_geom(g, ry, rx, &s);
        if (s.OH <= 0 || s.OW <= 0) continue;
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < s.PH; i++) {
                const float *src = a->X + (c * g->PH + ry + d * i) * g->PW + rx;
                float *dst = Xs + (c * s.PH + i) * s.PW;
                for (int64_t j = 0; j < s.PW; j++) dst[j] = src[d * j];
            }
        const int64_t Ss = s.OH * s.OW;
        a->ks->f32_wino(a->wino, &s, Xs, a->bias, Ys, Ss, 0, (s.OH + 1) / 2, scratch, act.act ? &act : NULL);
        for (int64_t m = 0; m < M; m++)
            for (int64_t i = 0; i < s.OH; i++) {
                const float *src = Ys + m * Ss + i * s.OW;
                float *dst = a->Y + m * a->ldy + (ry + d * i) * g->OW + rx;
                for (int64_t j = 0; j < s.OW; j++) dst[d * j] = src[j];
            }
    }
}

/* the chain over columns n0..n1-1 of the finished outputs */
static void f32_wino_post_range(const void *arg, int64_t n0, int64_t n1, void *mine) {
    (void)mine;
    const f32_conv_arg *a = arg;
    a->post->fn(a->post->user, a->Y + n0, a->ldy, a->wino->M, n0, n1);
}

teq_status teq_k_f32_wino(const teq_kwino *w, const teq_i8conv *g, const float *X, const float *bias, float *Y,
                          int64_t ldy, const teq_kpost *post, int n_threads) {
    const teq_kernel_set *ks = teq_kset_best();
    const int64_t d = g->DH;
    if (!ks->f32_wino || !w->u || g->KH != 3 || g->KW != 3 || g->SH != 1 || g->SW != 1 || d < 1 || g->DW != d ||
        g->deint || g->C != w->C || g->OH > g->PH - 2 * d || g->OW > g->PW - 2 * d || (post && post->tile))
        return TEQ_ERR_UNSUPPORTED;
    if (g->OH <= 0 || g->OW <= 0 || w->M <= 0) return TEQ_OK;
    const f32_conv_arg a = {ks, NULL, g, X, bias, Y, ldy, post, w};
    const size_t kern = sizeof(float) * TEQ_WINO_SCRATCH_FLOATS(g->C);
    /* threads split the tile rows */
    if (d == 1) return split_grain((g->OH + 1) / 2, 1, n_threads, kern, f32_wino_range, &a);
    /* or the residues, then the chain over the whole output */
    teq_i8conv s0; /* residue 0's sub-planes and sub-outputs, the largest */
    dil_geom(g, 0, 0, &s0);
    size_t xs, ys;
    if (!teq_mul_size((size_t)(g->C * s0.PH), (size_t)s0.PW, &xs) ||
        !teq_mul_size((size_t)w->M, (size_t)(s0.OH * s0.OW), &ys) ||
        xs + ys > (SIZE_MAX - kern) / sizeof(float) - 64)
        return TEQ_ERR_NOMEM;
    teq_status s = split_grain(d * d, 1, n_threads, kern + sizeof(float) * (xs + ys), f32_wino_dil_range, &a);
    if (!s && post && post->fn) s = split_grain(g->OH * g->OW, 2048, n_threads, 0, f32_wino_post_range, &a);
    return s;
}

void teq_k_map_i16(const int16_t lut[256], const uint8_t *c, int64_t n, int16_t *out) {
    if (teq_k_best_isa() == TEQ_ISA_AVX512) {
        teq_k_map_i16_avx512(lut, c, n, out);
        return;
    }
    for (int64_t i = 0; i < n; i++) out[i] = lut[c[i]];
}

void teq_k_map_u8(const uint8_t lut[256], const uint8_t *c, int64_t n, uint8_t *out) {
    if (teq_k_best_isa() == TEQ_ISA_AVX512) {
        teq_k_map_u8_avx512(lut, c, n, out);
        return;
    }
    for (int64_t i = 0; i < n; i++) out[i] = lut[c[i]];
}
