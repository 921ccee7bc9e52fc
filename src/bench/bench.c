/* teq bench: kernel- and model-level timing, every figure measured in this run (teq.h teq_bench_run).
 *
 * Each case: one warm-up call, which also sizes an inner loop of about 20 ms, then `repeat` timed samples;
 * reported: median and min per call. Ratios against OpenBLAS FP32 and teq's INT8 come from the same run,
 * and so does the memory bandwidth (a read of 512 MiB, far beyond L3, best of 5), which the weight
 * streams' GB/s (packed weight bytes / time) are set against.
 *
 * Shapes: weight-bound GEMV of an LLM-like 4096x4096 and 11008x4096 layer (batch 1, activations
 * float), and the PP-OCRv4 rec layers measured at its [1,3,48,320] input (M = output channels, N = output
 * pixels, K = input channels): p2o.Conv.8 (128x1920x64), p2o.Conv.14 (240x960x240), p2o.Conv.28
 * (480x480x480), p2o.Conv.32 (480x240x480) and the CTC head p2o.MatMul.24 (6625x40x120). Weights:
 * Laplace random; exponential codes fitted by teq's own search (teq_exp_fit_tensor, default base grid,
 * the best base at that width). The teq GEMM is the decode-then-SGEMM path (teq_k_decode into a float
 * panel, then cblas_sgemm), the INT8 GEMM is i8_gemm; fp32c and int8c are the same products as 1x1 convolutions
 * over a 1 x N plane on teq's FP32 and INT8 convolution kernels, the paths a model's Convs take. */
#include "../core/fileio.h"
#include "../core/json.h"
#include "../kernels/kint.h"
#include "../ops/ops.h"
#include "../quant/qint.h"
#include "teq.h"

#include <cblas.h>
#include <omp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void openblas_set_num_threads(int);

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef void (*bench_fn)(void *ctx);

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* median and min seconds per call of f */
static void measure(bench_fn f, void *ctx, int repeat, double *med, double *mn) {
    double t0 = now_s();
    f(ctx);
    double t1 = now_s() - t0;
    int inner = t1 > 0.02 ? 1 : (int)(0.02 / (t1 > 1e-7 ? t1 : 1e-7)) + 1;
    double *s = malloc(sizeof(double) * (size_t)repeat);
    for (int r = 0; r < repeat; r++) {
        t0 = now_s();
        for (int i = 0; i < inner; i++) f(ctx);
        s[r] = (now_s() - t0) / inner;
    }
    qsort(s, (size_t)repeat, sizeof(double), cmp_d);
    *med = repeat % 2 ? s[repeat / 2] : 0.5 * (s[repeat / 2 - 1] + s[repeat / 2]);
    *mn = s[0];
    free(s);
}

static uint64_t rng_state;
static double urand(void) { return teq_qi_rng_unit(&rng_state); } /* (0, 1), quant/qint.h */
static float laplace(double b) {
    double u = urand() - 0.5;
    return (float)((u < 0 ? b : -b) * log(1 - 2 * fabs(u)));
}

/* ---- memory bandwidth: sum a 512 MiB buffer (threads split it) ---- */
typedef struct { const uint64_t *p; int64_t n; int threads, streams; uint64_t sink; } bw_ctx;

/* One thread's share in 8 independent sums (the loads, not an add chain, set the pace), built for each
 * ISA level (TEQ_CLONES) so that x86-64-v3 machines read with 256-bit loads. The earlier `omp parallel
 * for simd` loop, built for the baseline ISA only, read 23.5-24.9 GB/s on one core where this reads
 * 33.0-38.9 (alternated, 4 rounds): 4-bit GEMVs read faster than the probe, so it was the limit.
 * `streams` parts of the share are read side by side, 64 bytes of each per step, as a GEMV reads four
 * rows at once: on an AMD EPYC (Zen 3) VM one stream read 8.0 GB/s where 8 read 11.4 and OpenBLAS's FP32
 * GEMV 13.9, so one stream alone understated the memory (docs/DECISIONS.md, fifth round). */
TEQ_CLONES static uint64_t bw_sum(const uint64_t *restrict p, int64_t n, int streams) {
    uint64_t s[8] = {0};
    const int64_t part = n / streams / 8 * 8;
    for (int64_t i = 0; i < part; i += 8)
        for (int k = 0; k < streams; k++) {
            const uint64_t *q = p + k * part + i;
#pragma omp simd
            for (int j = 0; j < 8; j++) s[j] += q[j];
        }
    for (int64_t i = part * streams; i < n; i++) s[0] += p[i];
    return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

static void bw_read(void *c) {
    bw_ctx *b = c;
    uint64_t tot = 0;
#pragma omp parallel num_threads(b->threads) reduction(+ : tot)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t lo = b->n * t / nt, hi = b->n * (t + 1) / nt;
        tot += bw_sum(b->p + lo, hi - lo, b->streams);
    }
    b->sink += tot;
}

/* ---- cases ---- */
typedef struct result {
    const char *kind;
    char name[64], format[16];
    double med, mn, bytes; /* bytes of weights per call (kernels), 0 for models */
} result;

typedef struct bench {
    FILE *out;
    int repeat, threads;
    result *res;
    int n_res, cap_res;
    double bw_gbps;
} bench;

static void add_result(bench *b, const char *kind, const char *name, const char *format, double med, double mn,
                       double bytes) {
    if (b->n_res == b->cap_res) {
        int cap = b->cap_res ? 2 * b->cap_res : 64;
        result *r = realloc(b->res, sizeof(result) * (size_t)cap);
        if (!r) return;
        b->res = r, b->cap_res = cap;
    }
    result *r = &b->res[b->n_res++];
    r->kind = kind;
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->format, sizeof r->format, "%s", format);
    r->med = med, r->mn = mn, r->bytes = bytes;
}

typedef struct kctx {
    int64_t M, N, K;
    int threads;
    const float *Wf, *x;
    float *y, *panel;
    teq_kw *kw;
    const uint8_t *xq;
    const teq_kwf *kwf;       /* gemm: the FP32 convolution kernel's packed weights */
    const teq_i8conv *g;      /* gemm: the product as a 1x1 convolution over a 1 x N plane */
    const uint8_t *xplane;    /* gemm: K planes of N u8 codes, the INT8 convolution kernel's input */
} kctx;

static void run_fp32_gemv(void *c) {
    kctx *k = c;
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)k->M, (int)k->K, 1.0f, k->Wf, (int)k->K, k->x, 1, 0.0f, k->y, 1);
}
static void run_teq_gemv(void *c) {
    kctx *k = c;
    teq_k_gemv(k->kw, k->x, k->y, k->threads);
}
static void run_teq_gemv_l8(void *c) {
    kctx *k = c;
    teq_k_gemv_l8(k->kw, k->x, k->y, k->threads);
}
static void run_i8_gemv(void *c) {
    kctx *k = c;
    teq_k_i8_gemv(k->kw, k->xq, 128, 0.01f, k->y, k->threads);
}
static void run_fp32_gemm(void *c) {
    kctx *k = c;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)k->M, (int)k->N, (int)k->K, 1.0f, k->Wf, (int)k->K,
                k->x, (int)k->N, 0.0f, k->y, (int)k->N);
}
static void run_teq_gemm(void *c) {
    kctx *k = c;
    teq_k_decode(k->kw, k->panel, k->threads);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)k->M, (int)k->N, (int)k->K, 1.0f, k->panel,
                (int)k->K, k->x, (int)k->N, 0.0f, k->y, (int)k->N);
}
static void run_i8_gemm(void *c) {
    kctx *k = c;
    teq_k_i8_gemm(k->kw, k->xq, k->N, 128, 0.01f, k->y, k->N, k->threads);
}
/* the paths a model's 1x1 Convs take: teq's FP32 convolution kernel, and the INT8 one (u8 codes in planes) */
static void run_fp32_conv(void *c) {
    kctx *k = c;
    teq_k_f32_conv(k->kwf, k->g, k->x, NULL, k->y, k->N, NULL, k->threads);
}
static void run_i8_conv(void *c) {
    kctx *k = c;
    teq_k_i8_conv(k->kw, k->g, k->xplane, 128, 0.01f, NULL, k->y, k->N, NULL, k->threads);
}

/* The exponential code teq's search fits to w at this width (signed, no zero code), best base. */
static teq_status fit_exp(const float *w, int64_t n, int bits, teq_qparams *q, teq_error *err) {
    double bases[64];
    int nb = teq_default_bases(bases, 64);
    int64_t ns = n < 65536 ? n : 65536;
    teq_tensor_fit fit;
    teq_status s = teq_exp_fit_tensor(w, ns, 1, 0, bases, nb, bits, bits, &fit, err);
    if (s) return s;
    int best = -1;
    for (int i = 0; i < nb; i++)
        if (fit.params[i].kind == TEQ_CODE_EXP && (best < 0 || fit.err[i] < fit.err[best])) best = i;
    if (best >= 0) *q = fit.params[best];
    teq_tensor_fit_free(&fit);
    return best >= 0 ? TEQ_OK : teq_error_set(err, TEQ_ERR_INTERNAL, "bench: no %d-bit code fits", bits);
}

static void print_row(bench *b, const result *r, double fp32_med, double i8_med) {
    fprintf(b->out, "%-5s %-15s %-5s %10.4f %10.4f", r->kind, r->name, r->format, r->med * 1e3, r->mn * 1e3);
    if (r->bytes > 0)
        fprintf(b->out, " %9.2f %8.2f %6.0f%%", r->bytes / 1048576.0, r->bytes / r->med * 1e-9,
                100.0 * r->bytes / r->med * 1e-9 / b->bw_gbps);
    else
        fprintf(b->out, " %9s %8s %7s", "-", "-", "-");
    fprintf(b->out, " %8.2fx", fp32_med / r->med);
    if (i8_med > 0) fprintf(b->out, " %8.2fx", i8_med / r->med);
    fprintf(b->out, "\n");
    fflush(b->out);
}

/* sqrt(sum (a - b)^2 / sum b^2) */
static double rms_rel(const float *a, const float *b, int64_t n) {
    double e2 = 0, y2 = 0;
    for (int64_t i = 0; i < n; i++) e2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), y2 += (double)b[i] * b[i];
    return y2 > 0 ? sqrt(e2 / y2) : 0.0;
}

/* One kernel shape: fp32, int8 and teq3/4/5 (and 4-bit on 8-bit lanes), gemv when N == 0, else gemm. */
static teq_status kernel_case(bench *b, int64_t M, int64_t N, int64_t K, const char *label, teq_error *err) {
    const int gemv = N == 0;
    const int64_t NN = gemv ? 1 : N;
    char name[64];
    if (gemv) snprintf(name, sizeof name, "%lldx%lld", (long long)M, (long long)K);
    else snprintf(name, sizeof name, "%lldx%lldx%lld", (long long)M, (long long)N, (long long)K);
    teq_status s = TEQ_OK;
    float *W = malloc(sizeof(float) * (size_t)(M * K)), *x = malloc(sizeof(float) * (size_t)(K * NN));
    float *y = malloc(sizeof(float) * (size_t)(M * NN)), *panel = gemv ? NULL : malloc(sizeof(float) * (size_t)(M * K));
    uint8_t *codes = malloc((size_t)(M * K)), *xq = NULL;
    if (!W || !x || !y || !codes || (!gemv && !panel)) {
        s = teq_error_set(err, TEQ_ERR_NOMEM, "bench: out of memory for %s", name);
        goto out;
    }
    for (int64_t i = 0; i < M * K; i++) W[i] = laplace(0.02);
    for (int64_t i = 0; i < K * NN; i++) x[i] = fabsf(laplace(1.0));
    kctx c = {.M = M, .N = NN, .K = K, .threads = b->threads, .Wf = W, .x = x, .y = y, .panel = panel};
    double fmed, fmn, imed = 0, imn;
    measure(gemv ? run_fp32_gemv : run_fp32_gemm, &c, b->repeat, &fmed, &fmn);
    add_result(b, gemv ? "gemv" : "gemm", name, "fp32", fmed, fmn, 4.0 * (double)(M * K));
    print_row(b, &b->res[b->n_res - 1], fmed, 0);
    /* the same product as a 1x1 convolution over a 1 x N plane (how a model's Conv runs it) */
    const teq_i8conv g1 = {.C = K, .PH = 1, .PW = NN, .KH = 1, .KW = 1, .SH = 1, .SW = 1, .DH = 1, .DW = 1, .OH = 1, .OW = NN};
    c.g = &g1;
    teq_kwf kwf = {0};
    if (!gemv && teq_k_f32_conv_ok()) {
        if ((s = teq_kwf_init(&kwf, M, K, W, err))) goto out;
        c.kwf = &kwf;
        double med, mn;
        measure(run_fp32_conv, &c, b->repeat, &med, &mn);
        add_result(b, "gemm", name, "fp32c", med, mn, 4.0 * (double)(M * K));
        print_row(b, &b->res[b->n_res - 1], fmed, 0);
        teq_kwf_free(&kwf);
    }
    /* INT8: symmetric per-tensor linear weights, u8 activations */
    {
        float amax = 0;
        for (int64_t i = 0; i < M * K; i++) amax = fabsf(W[i]) > amax ? fabsf(W[i]) : amax;
        teq_qparams q = {.kind = TEQ_CODE_LINEAR, .bits = 8, .is_signed = 1, .scale = amax / 127.0};
        teq_q_quantize(&q, W, M * K, codes);
        teq_kw kw;
        if ((s = teq_kw_init(&kw, &q, M, K, codes, NULL, err))) goto out;
        xq = malloc((size_t)(kw.K4 * NN));
        if (!xq) {
            teq_kw_free(&kw);
            s = teq_error_set(err, TEQ_ERR_NOMEM, "bench: out of memory");
            goto out;
        }
        for (int64_t i = 0; i < kw.K4 * NN; i++) xq[i] = (uint8_t)(urand() * 256);
        c.kw = &kw, c.xq = xq;
        measure(gemv ? run_i8_gemv : run_i8_gemm, &c, b->repeat, &imed, &imn);
        add_result(b, gemv ? "gemv" : "gemm", name, "int8", imed, imn, (double)(kw.K4 * M));
        print_row(b, &b->res[b->n_res - 1], fmed, imed);
        if (!gemv && teq_k_i8_conv_ok(&kw)) {
            /* the convolution kernel reads the codes as K planes of N (xq's columns were K4 codes each) */
            uint8_t *xp = malloc((size_t)(K * NN));
            if (xp) {
                for (int64_t i = 0; i < K * NN; i++) xp[i] = (uint8_t)(urand() * 256);
                c.xplane = xp;
                double med, mn;
                measure(run_i8_conv, &c, b->repeat, &med, &mn);
                add_result(b, "gemm", name, "int8c", med, mn, (double)(kw.K4 * M));
                print_row(b, &b->res[b->n_res - 1], fmed, imed);
                free(xp);
            }
        }
        teq_kw_free(&kw);
    }
    for (int bits = 3; bits <= 5; bits++) {
        teq_qparams q;
        if ((s = fit_exp(W, M * K, bits, &q, err))) goto out;
        teq_q_quantize(&q, W, M * K, codes);
        teq_kw kw;
        if ((s = teq_kw_init(&kw, &q, M, K, codes, NULL, err))) goto out;
        c.kw = &kw;
        double med, mn;
        measure(gemv ? run_teq_gemv : run_teq_gemm, &c, b->repeat, &med, &mn);
        char fmt[16];
        snprintf(fmt, sizeof fmt, "teq%d", bits);
        add_result(b, gemv ? "gemv" : "gemm", name, fmt, med, mn, (double)(kw.row_bytes * M));
        print_row(b, &b->res[b->n_res - 1], fmed, imed);
        if (gemv && bits == 4) {
            /* the same weights on 8-bit lanes (x quantized per call, inside the timing) */
            measure(run_teq_gemv_l8, &c, b->repeat, &med, &mn);
            add_result(b, "gemv", name, "teq4l", med, mn, (double)(kw.row_bytes * M));
            print_row(b, &b->res[b->n_res - 1], fmed, imed);
            /* what the lanes cost in accuracy on these weights: against the exact GEMV of the same codes */
            float *ye = malloc(sizeof(float) * (size_t)M), *yf = malloc(sizeof(float) * (size_t)M);
            if (ye && yf) {
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)M, (int)K, 1.0f, W, (int)K, x, 1, 0.0f, yf, 1);
                teq_k_gemv(&kw, x, ye, b->threads);
                teq_k_gemv_l8(&kw, x, y, b->threads);
                fprintf(b->out, "      (rms difference / rms output: teq4 against fp32 %.2e, teq4l against teq4 %.2e)\n",
                        rms_rel(ye, yf, M), rms_rel(y, ye, M));
            }
            free(ye), free(yf);
        }
        teq_kw_free(&kw);
    }
    if (label) fprintf(b->out, "      (%s)\n", label);
out:
    free(W), free(x), free(y), free(panel), free(codes), free(xq);
    return s;
}

/* ---- models ---- */
typedef struct mctx {
    teq_model *m;
    const teq_tensor *in;
    int n_out;
    teq_status st;
    teq_error err;
} mctx;
static void run_model(void *c) {
    mctx *k = c;
    teq_tensor *outs[16] = {0};
    const teq_tensor *const ins[1] = {k->in};
    if (k->st == TEQ_OK) k->st = teq_model_run(k->m, 1, NULL, ins, outs, &k->err);
    for (int i = 0; i < k->n_out && i < 16; i++) teq_tensor_free(outs[i]);
}

static void model_cases(bench *b, const char *dir, const char *base, int64_t H, int64_t Wd) {
    static const char *fmts[3] = {"fp32", "int8", "teq"};
    static const char *files[3] = {"%s/%s_fp32.onnx", "%s/%s_int8.teq", "%s/%s_teq.teq"};
    int64_t dims[4] = {1, 3, H, Wd};
    teq_tensor *in = NULL;
    teq_error err = {0};
    if (teq_tensor_create(TEQ_DTYPE_FLOAT, 4, dims, &in, &err)) return;
    float *p = in->data;
    for (int64_t i = 0; i < teq_tensor_numel(in); i++) p[i] = (float)(2 * urand() - 1);
    double fp32 = 0;
    for (int f = 0; f < 3; f++) {
        char path[1024], name[64];
        snprintf(path, sizeof path, files[f], dir, base);
        snprintf(name, sizeof name, "%s[1,3,%lld,%lld]", base, (long long)H, (long long)Wd);
        teq_model *m = NULL;
        if (teq_model_load(path, &m, &err)) {
            fprintf(b->out, "model %-15s %-5s skipped: %s\n", name, fmts[f], err.msg);
            continue;
        }
        teq_model_set_threads(m, b->threads);
        mctx c = {.m = m, .in = in, .n_out = teq_model_num_outputs(m)};
        double med, mn;
        int rep = b->repeat < 3 ? b->repeat : (b->repeat + 1) / 2; /* models are slow: fewer samples */
        measure(run_model, &c, rep, &med, &mn);
        if (c.st) {
            fprintf(b->out, "model %-15s %-5s failed: %s\n", name, fmts[f], c.err.msg);
        } else {
            if (f == 0) fp32 = med;
            add_result(b, "model", base, fmts[f], med, mn, 0);
            print_row(b, &b->res[b->n_res - 1], fp32 > 0 ? fp32 : med, 0);
        }
        teq_model_free(m);
    }
    teq_tensor_free(in);
}

/* ---- quantizer speed (printed only) ---- */
typedef struct qctx { const teq_qparams *q; const teq_kq *kq; const float *x; float *y; int64_t n; int threads; } qctx;
static void run_qfake(void *c) {
    qctx *k = c;
    teq_q_fake(k->q, k->x, k->n, k->y);
}
static void run_kqfake(void *c) {
    qctx *k = c;
    teq_kq_fake(k->kq, k->x, k->n, k->y, k->threads);
}

static void cpu_model(char *buf, size_t n) {
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model name", 10)) {
            char *c = strchr(line, ':');
            if (c) {
                c++;
                while (*c == ' ' || *c == '\t') c++;
                c[strcspn(c, "\n")] = 0;
                snprintf(buf, n, "%s", c);
            }
            break;
        }
    }
    fclose(f);
}

teq_status teq_bench_run(const teq_bench_opts *o, FILE *out, teq_error *err) {
    bench b = {.out = out, .repeat = o->repeat > 0 ? o->repeat : 7, .threads = o->threads > 0 ? o->threads : 1};
    rng_state = 0x62656E6368ull;
    openblas_set_num_threads(b.threads);
    char cpu[256], isa[32];
    cpu_model(cpu, sizeof cpu);
    const teq_kernel_set *ks = teq_kset_best();
    snprintf(isa, sizeof isa, "%s", ks->name); /* "avx512+vnni" names its VNNI itself */
    fprintf(out, "cpu: %s\nisa: %s (TEQ_ISA caps it)\nthreads: %d\nrepeat: %d (median and min per call after a warm-up)\n",
            cpu, isa, b.threads, b.repeat);

    /* memory bandwidth */
    {
        const int64_t n = (int64_t)512 << 17; /* 512 MiB of uint64 */
        uint64_t *buf = malloc(sizeof(uint64_t) * (size_t)n);
        if (!buf) return teq_error_set(err, TEQ_ERR_NOMEM, "bench: no 512 MiB for the bandwidth test");
        for (int64_t i = 0; i < n; i++) buf[i] = (uint64_t)i;
        /* one stream and eight side by side, alternated; the faster is the machine's read bandwidth */
        bw_ctx c = {buf, n, b.threads, 1, 0};
        double best[2] = {1e30, 1e30};
        for (int r = 0; r < 10; r++) {
            c.streams = r % 2 ? 8 : 1;
            double t0 = now_s();
            bw_read(&c);
            double t = now_s() - t0;
            best[r % 2] = t < best[r % 2] ? t : best[r % 2];
        }
        const double g1 = 8.0 * (double)n / best[0] * 1e-9, g8 = 8.0 * (double)n / best[1] * 1e-9;
        b.bw_gbps = g1 > g8 ? g1 : g8;
        free(buf);
        fprintf(out, "memory bandwidth (read of 512 MiB, best of 5, %d thread%s): %.1f GB/s (1 stream %.1f, 8 streams %.1f)\n\n",
                b.threads, b.threads > 1 ? "s" : "", b.bw_gbps, g1, g8);
    }

    fprintf(out, "%-5s %-15s %-5s %10s %10s %9s %8s %7s %9s %9s\n", "kind", "name", "fmt", "median_ms", "min_ms",
            "weight_MB", "GB/s", "%bw", "vs_fp32", "vs_int8");
    teq_status s = TEQ_OK;
    static const int64_t gemv_shapes[][2] = {{4096, 4096}, {11008, 4096}, {480, 480}, {6625, 120}};
    for (int i = 0; i < 4 && !s; i++) {
        if (o->quick && i == 1) continue;
        s = kernel_case(&b, gemv_shapes[i][0], 0, gemv_shapes[i][1], NULL, err);
    }
    static const struct { int64_t M, N, K; const char *what; } gemm_shapes[] = {
        {128, 1920, 64, "PP-OCRv4 rec p2o.Conv.8"},
        {240, 960, 240, "PP-OCRv4 rec p2o.Conv.14"},
        {480, 480, 480, "PP-OCRv4 rec p2o.Conv.28"},
        {480, 240, 480, "PP-OCRv4 rec p2o.Conv.32"},
        {6625, 40, 120, "PP-OCRv4 rec p2o.MatMul.24, CTC head"},
    };
    for (size_t i = 0; i < sizeof gemm_shapes / sizeof *gemm_shapes && !s; i++) {
        if (o->quick && i > 0) break;
        s = kernel_case(&b, gemm_shapes[i].M, gemm_shapes[i].N, gemm_shapes[i].K, gemm_shapes[i].what, err);
    }
    if (s) goto done;

    /* activation quantizer: teq_q_fake (code.c) against teq_kq_fake, 8-bit unsigned code with zero code */
    {
        const int64_t n = (int64_t)1 << 20;
        float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
        teq_qparams q;
        for (int64_t i = 0; i < n; i++) x[i] = urand() < 0.4 ? 0 : fabsf(laplace(1.0));
        double bases[64];
        int nb = teq_default_bases(bases, 64);
        teq_tensor_fit fit;
        teq_kq *kq = NULL;
        if (x && y && !teq_exp_fit_tensor(x, 65536, 0, 1, bases, nb, 8, 8, &fit, err)) {
            int best = 0;
            for (int i = 1; i < nb; i++)
                if (fit.err[i] < fit.err[best]) best = i;
            q = fit.params[best];
            teq_tensor_fit_free(&fit);
            if (!teq_kq_new(&q, &kq, err)) {
                qctx c = {&q, kq, x, y, n, b.threads};
                double m1, n1, m2, n2;
                measure(run_qfake, &c, b.repeat, &m1, &n1);
                measure(run_kqfake, &c, b.repeat, &m2, &n2);
                fprintf(out, "\nquantize 2^20 activations (8-bit exp code, base %.4g, zero code): teq_q_fake %.3f ms, "
                        "teq_kq_fake %.3f ms (%.1fx)\n", q.base, m1 * 1e3, m2 * 1e3, m1 / m2);
                teq_kq_free(kq);
            }
        }
        free(x), free(y);
    }

    if (o->models_dir) {
        fprintf(out, "\nmodels from %s (latency of teq_model_run; the quantized path is whatever it runs now):\n",
                o->models_dir);
        model_cases(&b, o->models_dir, "rec", 48, 320);
        model_cases(&b, o->models_dir, "det", 320, 320);
    } else {
        fprintf(out, "\nmodels: skipped (no --models DIR; scripts/bench.sh makes them)\n");
    }

    if (o->json_path) {
        teq_json j;
        teq_json_init(&j);
        teq_json_obj_begin(&j, NULL);
        teq_json_str(&j, "cpu", cpu);
        teq_json_str(&j, "isa", isa);
        teq_json_int(&j, "threads", b.threads);
        teq_json_num(&j, "memory_bandwidth_gbps", b.bw_gbps);
        teq_json_arr_begin(&j, "results");
        for (int i = 0; i < b.n_res; i++) {
            const result *r = &b.res[i];
            teq_json_obj_begin(&j, NULL);
            teq_json_str(&j, "kind", r->kind);
            teq_json_str(&j, "name", r->name);
            teq_json_str(&j, "format", r->format);
            teq_json_num(&j, "median_s", r->med);
            teq_json_num(&j, "min_s", r->mn);
            if (r->bytes > 0) teq_json_num(&j, "weights_gbps", r->bytes / r->med * 1e-9);
            teq_json_obj_end(&j);
        }
        teq_json_arr_end(&j);
        teq_json_obj_end(&j);
        s = j.oom ? teq_error_set(err, TEQ_ERR_NOMEM, "bench: out of memory for the JSON")
                  : teq_json_write_file(&j, o->json_path, err);
        teq_json_free(&j);
    }
done:
    free(b.res);
    return s;
}
