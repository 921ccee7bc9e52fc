/* Helpers shared by the files of src/kernels only (not part of the kernels' interface).
 *
 * Each instruction set's kernels live in their own file, compiled with that set's flags (CMake
 * set_source_files_properties); nothing in those files runs before dispatch.c has checked cpuid, so the
 * rest of the library never executes an instruction the CPU lacks. */
#ifndef TEQ_KINT_H
#define TEQ_KINT_H

#include "kernels.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* An environment switch for comparing two kernels: 1 unless `name` is set to `off_value`, read once into *cache
 * (-1 before). Atomically: threads may ask at once. */
static inline int teq_k_env_unless(int *cache, const char *name, const char *off_value) {
    int v = __atomic_load_n(cache, __ATOMIC_RELAXED);
    if (v < 0) {
        const char *e = getenv(name);
        v = !(e && !strcmp(e, off_value));
        __atomic_store_n(cache, v, __ATOMIC_RELAXED);
    }
    return v;
}

/* The kernel tables of each file. avx512.c has two: with VNNI (vpdpbusd) and without (AVX-512BW
 * maddubs for the INT8 kernels); the float kernels are the same. */
extern const teq_kernel_set teq_kset_scalar_tab;
extern const teq_kernel_set teq_kset_avx2_tab;
extern const teq_kernel_set teq_kset_avx512_tab;
extern const teq_kernel_set teq_kset_avx512vnni_tab;

/* teq_k_map_i16's AVX-512 body (avx512.c) */
void teq_k_map_i16_avx512(const int16_t lut[256], const uint8_t *c, int64_t n, int16_t *out);
/* the AVX-512 set's wino_fill (wino512.c) */
void teq_wino_fill_avx512(int64_t M, int64_t C, const float *W, float *u, int64_t m0, int64_t m1);
/* the AVX-512 and AVX2 sets' f32_wino (wino512.c, wino2.c) */
void teq_f32_wino_avx512(const teq_kwino *w, const teq_i8conv *g, const float *X, const float *bias, float *Y,
                         int64_t ldy, int64_t r0, int64_t r1, float *scratch, const teq_kpost *post);
void teq_f32_wino_avx2(const teq_kwino *w, const teq_i8conv *g, const float *X, const float *bias, float *Y,
                       int64_t ldy, int64_t r0, int64_t r1, float *scratch, const teq_kpost *post);
/* teq_k_map_u8's AVX-512 body (avx512.c) */
void teq_k_map_u8_avx512(const uint8_t lut[256], const uint8_t *c, int64_t n, uint8_t *out);

/* Which ISA teq_kset_best() picked (after the TEQ_ISA cap). */
teq_isa teq_k_best_isa(void);

/* ---- the convolution kernels' panels (i8_conv, i16_conv, f32_conv): runs of columns, taps in order ---- */

/* Output columns n0 .. n0+nb-1 (nb <= NB) as runs along one output row (contiguous ox): run i covers panel
 * columns rj[i] .. rj[i]+rlen[i]-1 and starts at offset roff[i] of a tap's plane. Returns the count. */
typedef struct {
    int64_t rj[TEQ_I8C_NB], roff[TEQ_I8C_NB], rlen[TEQ_I8C_NB];
    int n;
} conv_runs;

static inline void conv_runs_of(const teq_i8conv *g, int64_t n0, int64_t nb, conv_runs *r) {
    r->n = 0;
    if (g->SH == 1 && g->SW == 1 && g->PW == g->OW) {
        /* output rows follow each other in the planes too (1x1 convolutions and the like): one run */
        r->rj[0] = 0, r->roff[0] = n0, r->rlen[0] = nb, r->n = 1;
        return;
    }
    for (int64_t j = 0, n = n0; j < nb; r->n++) {
        const int64_t oy = n / g->OW, ox = n % g->OW, len = g->OW - ox < nb - j ? g->OW - ox : nb - j;
        r->rj[r->n] = j, r->roff[r->n] = oy * g->SH * g->PW + ox * g->SW, r->rlen[r->n] = len;
        j += len, n += len;
    }
}

/* The plane offset of tap k = (c, ky, kx) of output (0, 0), then k + 1: taps stepped without divisions. */
typedef struct {
    int64_t c, ky, kx;
} conv_tap;

static inline int64_t conv_tap_next(const teq_i8conv *g, conv_tap *t) {
    const int64_t off = t->c * g->PH * g->PW + t->ky * g->DH * g->PW + t->kx * g->DW;
    if (++t->kx == g->KW) {
        t->kx = 0;
        if (++t->ky == g->KH) t->ky = 0, t->c++;
    }
    return off;
}

/* The Winograd kernels' driver (wino512.c, wino2.c; kernels.h f32_wino), over tile rows r0..r1-1 in blocks of
 * teq_wino_nb tiles: VL tiles per vector; IN(Xc, PH, PW, r, tx, nt, V, xs) the input transform of nt <= VL tiles
 * of one tile row, MM(U, Vx, C, nb, Px, nv) one xi's products of a row block over nv vectors of tiles, OUT(P, xs,
 * nt, bias, bias_on, act, y0, y1, ncols) the output transform of nt <= VL tiles. */
#define TEQ_WINO_DRIVER_BODY(VL, IN, MM, OUT)                                                                        \
    const int64_t C = g->C, M = w->M, OH = g->OH, OW = g->OW, PH = g->PH, PW = g->PW;                                \
    const int64_t TW = (OW + 1) / 2, nb = teq_wino_nb(C), Mb = (M + TEQ_WINO_MR - 1) / TEQ_WINO_MR;                  \
    const int64_t xsv = C * nb, xsp = TEQ_WINO_MR * nb; /* V's and P's stride between xi */                        \
    float *V = scratch, *P = scratch + 16 * xsv;                                                                     \
    const teq_kpost *act = post && post->act ? post : NULL;                                                         \
    int64_t done = r0; /* tile rows whose outputs are all written */                                                \
    for (int64_t t0 = r0 * TW, tend = r1 * TW; t0 < tend; t0 += nb) {                                               \
        const int64_t t1 = t0 + nb < tend ? t0 + nb : tend, nv = (t1 - t0 + VL - 1) / VL;                            \
        /* 1. V for tiles t0..t1-1, per channel; tile runs split at tile rows and every VL tiles */                 \
        for (int64_t c = 0; c < C; c++) {                                                                            \
            const float *Xc = X + c * PH * PW;                                                                       \
            for (int64_t t = t0; t < t1;) {                                                                          \
                const int64_t r = t / TW, tx = t % TW, n0 = TW - tx < t1 - t ? TW - tx : t1 - t;                     \
                const int nt = n0 < VL ? (int)n0 : VL;                                                               \
                IN(Xc, PH, PW, r, tx, nt, V + c * nb + (t - t0), xsv);                                              \
                t += nt;                                                                                             \
            }                                                                                                        \
        }                                                                                                            \
        for (int64_t mb = 0; mb < Mb; mb++) {                                                                        \
            /* 2. the 16 products of row block mb */                                                                \
            for (int xi = 0; xi < 16; xi++)                                                                          \
                MM(w->u + ((int64_t)xi * Mb + mb) * C * TEQ_WINO_MR, V + xi * xsv, C, nb, P + xi * xsp, nv);         \
            /* 3. its outputs */                                                                                     \
            const int rows = (int)(M - mb * TEQ_WINO_MR < TEQ_WINO_MR ? M - mb * TEQ_WINO_MR : TEQ_WINO_MR);          \
            for (int i = 0; i < rows; i++) {                                                                         \
                const int64_t m = mb * TEQ_WINO_MR + i;                                                              \
                const float bm = bias ? bias[m] : 0.0f;                                                              \
                for (int64_t t = t0; t < t1;) {                                                                      \
                    const int64_t r = t / TW, tx = t % TW, n0 = TW - tx < t1 - t ? TW - tx : t1 - t;                 \
                    const int nt = n0 < VL ? (int)n0 : VL;                                                           \
                    float *y0 = Y + m * ldy + 2 * r * OW + 2 * tx;                                                   \
                    OUT(P + i * nb + (t - t0), xsp, nt, bm, bias != NULL, act, y0, 2 * r + 1 < OH ? y0 + OW : NULL, \
                        OW - 2 * tx < 2 * nt ? OW - 2 * tx : 2 * nt);                                                \
                    t += nt;                                                                                         \
                }                                                                                                    \
            }                                                                                                        \
        }                                                                                                            \
        /* 4. the chain over the output rows finished */                                                            \
        const int64_t fin = t1 == tend ? r1 : t1 / TW;                                                               \
        if (post && post->fn && fin > done) {                                                                        \
            const int64_t n0 = 2 * done * OW, n1 = (2 * fin < OH ? 2 * fin : OH) * OW;                               \
            post->fn(post->user, Y + n0, ldy, M, n0, n1);                                                            \
        }                                                                                                            \
        if (fin > done) done = fin;                                                                                  \
    }

/* The FP32 convolution's direct path (avx2.c f32_conv; avx512.c takes the same test, so that
 * teq_k_f32_conv_deint_ok holds for both): its geometry test (deint: the rows deinterleaved for stride 2) */
static inline int f32c_direct(const teq_i8conv *g, int64_t K, int deint) {
    return (deint ? g->SW == 2 && g->DW == 1 : g->SW == 1) && g->OW >= 16 && g->KH * g->KW > 1 &&
           (size_t)K <= TEQ_F32C_PANEL_FLOATS_(K) && g->C * g->PH * g->PW < INT32_MAX;
}

/* and its tap offsets: toff[k] = where tap k = (c, ky, kx) of output (0, 0) lies in the planes. Deinterleaved
 * rows: the column kx of a stride-2 output lies in the row's even half (kx even) or odd half, kx / 2 along it */
static inline void f32c_taps(const teq_i8conv *g, int64_t K, int32_t *toff) {
    if (g->deint) {
        const int64_t HE = (g->PW + 1) / 2;
        for (int64_t k = 0; k < K; k++) {
            const int64_t c = k / (g->KH * g->KW), ky = k / g->KW % g->KH, kx = k % g->KW;
            toff[k] = (int32_t)((c * g->PH + ky * g->DH) * g->PW + (kx & 1) * HE + kx / 2);
        }
    } else {
        conv_tap tap = {0, 0, 0};
        for (int64_t k = 0; k < K; k++) toff[k] = (int32_t)conv_tap_next(g, &tap);
    }
}

/* The FP32 convolution's driver (kernels.h f32_conv), the body of every set's f32_conv with its parameters
 * (w, g, X, bias, Y, ldy, n0, n1, panel, post) in scope: column blocks of up to TEQ_I8C_NB (direct: to the end
 * of the output row), K in slices of TEQ_F32C_KC, each slice by the set's SLICE(w, P, Xd, toff, k0, kc, nb,
 * first, bias, act, Y, ldy, mb0, mb1, D) over row blocks mb0 .. mb1 - 1 from the panel (packed by the set's
 * COPY(dst, src, len, sw)) or direct; the bias and the activation with the last slice, post->fn per finished
 * block. PF_MIN: where a call's outputs pass that many bytes, the next block's output lines are prefetched
 * while this one computes (0: never).
 * Where output rows follow each other in the input planes (linear: 1x1 convolutions and the like), a chunk
 * of up to TEQ_F32C_CHUNK_MAX column blocks is packed per K slice and computed row block by row block: a
 * column block alone writes all M rows at once, M streams ldy floats apart, and with ldy a multiple of 1024
 * (M-LSD's 160 x 160 planes: 100 KB) they fall in the same L1 sets; 6 rows along a chunk's columns do not
 * (M-LSD's 16 -> 96 at 160 x 160: 2.0-2.15 -> 1.03-1.06 ms; DECISIONS, eighteenth round). Every output is the
 * same FMA chain as before: the same bits. */
#define TEQ_F32C_DRIVER_BODY(SLICE, COPY, PF_MIN)                                                                     \
    const int linear = !g->deint && g->SH == 1 && g->SW == 1 && g->PW == g->OW;                                     \
    const int direct = !linear && f32c_direct(g, w->K, g->deint);                                                   \
    int32_t *toff = direct ? (int32_t *)(void *)panel : NULL;                                                       \
    const teq_kpost *act = post && post->act ? post : NULL; /* applied as the last slice is stored */               \
    const int64_t Mb = (w->M + TEQ_F32C_MR - 1) / TEQ_F32C_MR;                                                      \
    if (direct) f32c_taps(g, w->K, toff);                                                                          \
    if (linear) {                                                                                                  \
        /* chunks of nsub column blocks: each K slice packed for the whole chunk, then row block by row block */   \
        const int64_t kcm = w->K < TEQ_F32C_KC ? w->K : TEQ_F32C_KC;                                               \
        int64_t nsub = TEQ_F32C_CHUNK_FLOATS / (TEQ_I8C_NB * kcm);                                                 \
        nsub = nsub < 1 ? 1 : nsub > TEQ_F32C_CHUNK_MAX ? TEQ_F32C_CHUNK_MAX : nsub;                               \
        for (int64_t nc = n0; nc < n1; nc += nsub * TEQ_I8C_NB) {                                                  \
            const int64_t ne = n1 - nc < nsub * TEQ_I8C_NB ? n1 : nc + nsub * TEQ_I8C_NB;                          \
            const int64_t ns = (ne - nc + TEQ_I8C_NB - 1) / TEQ_I8C_NB;                                             \
            float *Yc = Y + (nc - n0);                                                                             \
            conv_tap tap = {0, 0, 0};                                                                              \
            for (int64_t k0 = 0; k0 < w->K; k0 += TEQ_F32C_KC) {                                                  \
                const int64_t kc = w->K - k0 < TEQ_F32C_KC ? w->K - k0 : TEQ_F32C_KC;                              \
                for (int64_t k = 0; k < kc; k++) {                                                                 \
                    const float *src = X + conv_tap_next(g, &tap) + nc; /* output rows follow each other */        \
                    for (int64_t j = 0; j < ns; j++) {                                                             \
                        const int64_t jn = ne - nc - j * TEQ_I8C_NB;                                               \
                        COPY(panel + (j * kc + k) * TEQ_I8C_NB, src + j * TEQ_I8C_NB,                              \
                             jn < TEQ_I8C_NB ? jn : TEQ_I8C_NB, 1);                                                 \
                    }                                                                                              \
                }                                                                                                  \
                for (int64_t mb = 0; mb < Mb; mb++)                                                                \
                    for (int64_t j = 0; j < ns; j++) {                                                             \
                        const int64_t jn = ne - nc - j * TEQ_I8C_NB;                                               \
                        SLICE(w, panel + j * kc * TEQ_I8C_NB, NULL, NULL, k0, kc, jn < TEQ_I8C_NB ? jn : TEQ_I8C_NB, \
                              k0 == 0, k0 + kc == w->K ? bias : NULL, k0 + kc == w->K ? act : NULL,                \
                              Yc + j * TEQ_I8C_NB, ldy, mb, mb + 1, 0);                                            \
                    }                                                                                              \
            }                                                                                                      \
            if (post && post->fn) post->fn(post->user, Yc, ldy, w->M, nc, ne);                                     \
        }                                                                                                          \
        return;                                                                                                    \
    }                                                                                                              \
    const int pf = (PF_MIN) > 0 && (double)w->M * (double)(n1 - n0) * sizeof(float) > (double)(PF_MIN);            \
    int64_t nb;                                                                                                    \
    for (int64_t nc = n0; nc < n1; nc += nb) {                                                                     \
        nb = n1 - nc < TEQ_I8C_NB ? n1 - nc : TEQ_I8C_NB;                                                          \
        if (direct && g->OW - nc % g->OW < nb) nb = g->OW - nc % g->OW; /* to the end of the output row */         \
        float *Yb = Y + (nc - n0);                                                                                 \
        if (pf && nc + nb < n1) {                                                                                  \
            const int64_t nn = n1 - (nc + nb) < TEQ_I8C_NB ? n1 - (nc + nb) : TEQ_I8C_NB;                          \
            for (int64_t m = 0; m < w->M; m++)                                                                     \
                for (int64_t j = 0; j < nn; j += 16) __builtin_prefetch(Yb + m * ldy + nb + j, 0, 3);              \
        }                                                                                                          \
        if (direct) {                                                                                              \
            /* output (oy, ox) reads from row oy * SH, column ox (deint: ox of each half, stride 1) */              \
            const float *Xd = X + nc / g->OW * g->SH * g->PW + nc % g->OW;                                        \
            for (int64_t k0 = 0; k0 < w->K; k0 += TEQ_F32C_KC) {                                                  \
                const int64_t kc = w->K - k0 < TEQ_F32C_KC ? w->K - k0 : TEQ_F32C_KC;                              \
                SLICE(w, NULL, Xd, toff, k0, kc, nb, k0 == 0, k0 + kc == w->K ? bias : NULL,                       \
                      k0 + kc == w->K ? act : NULL, Yb, ldy, 0, Mb, 1);                                            \
            }                                                                                                      \
        } else {                                                                                                   \
            conv_runs r;                                                                                           \
            conv_runs_of(g, nc, nb, &r);                                                                           \
            conv_tap tap = {0, 0, 0};                                                                              \
            for (int64_t k0 = 0; k0 < w->K; k0 += TEQ_F32C_KC) {                                                  \
                const int64_t kc = w->K - k0 < TEQ_F32C_KC ? w->K - k0 : TEQ_F32C_KC;                              \
                for (int64_t k = 0; k < kc; k++) {                                                                 \
                    const float *src = X + conv_tap_next(g, &tap);                                                 \
                    for (int i = 0; i < r.n; i++)                                                                  \
                        COPY(panel + k * TEQ_I8C_NB + r.rj[i], src + r.roff[i], r.rlen[i], g->SW);                 \
                }                                                                                                  \
                SLICE(w, panel, NULL, NULL, k0, kc, nb, k0 == 0, k0 + kc == w->K ? bias : NULL,                    \
                      k0 + kc == w->K ? act : NULL, Yb, ldy, 0, Mb, 0);                                            \
            }                                                                                                      \
        }                                                                                                          \
        if (post && post->fn) post->fn(post->user, Yb, ldy, w->M, nc, nc + nb);                                    \
    }

/* Code k of a packed row (n bits, LSB first): two bytes always hold it (shift <= 7, n <= 8); the byte
 * after the row's last code byte exists (row_bytes > packed bytes, or the 64-byte slack). */
static inline unsigned teq_ki_code(const uint8_t *row, int64_t k, int n) {
    uint64_t bit = (uint64_t)k * (uint64_t)n;
    unsigned v = (unsigned)row[bit >> 3] | (unsigned)row[(bit >> 3) + 1] << 8;
    return (v >> (bit & 7)) & ((1u << n) - 1);
}

/* Instantiate BODY(args..., n) with the width n a compile-time constant, one case per width 2..8, on the
 * width of the weights `w` in scope: the vector bodies unroll and pick their unpacking per width. */
#define PER_BITS(BODY, ...)                                                                                            \
    switch (w->q.bits) {                                                                                               \
    case 2: BODY(__VA_ARGS__, 2); break;                                                                               \
    case 3: BODY(__VA_ARGS__, 3); break;                                                                               \
    case 4: BODY(__VA_ARGS__, 4); break;                                                                               \
    case 5: BODY(__VA_ARGS__, 5); break;                                                                               \
    case 6: BODY(__VA_ARGS__, 6); break;                                                                               \
    case 7: BODY(__VA_ARGS__, 7); break;                                                                               \
    default: BODY(__VA_ARGS__, 8); break;                                                                              \
    }

/* ---- the prepared activation quantizer (kq.c builds it, the vector files read it) ----
 * Nearest-magnitude search as src/quant/code.c does it (the same candidates, the same midpoint
 * thresholds thr[] stored as float bit patterns rounded down, ties to the lower magnitude), but the first
 * candidate comes from a bucket table indexed by u >> sh (u the bit pattern of |x|) fine enough that at
 * most `steps` thresholds fall in one bucket: the index is then bucket[d] + #(u > thr[bucket[d] + i], i <
 * steps), a fixed number of compares that vectorise. Each side (x >= 0: 0, x < 0: 1) has its own arrays;
 * when both sides share the magnitudes (no zero code, or unsigned) side 1 repeats side 0 with its codes. */
enum { TEQ_KQ_MAX_BUCKETS = 1 << 16, TEQ_KQ_MAX_STEPS = 4, TEQ_KQ_THR = 264, TEQ_KQ_ENT_MAX = 4096 };
typedef struct teq_kq_side {
    int32_t kbase, top; /* bucket index d = clamp((u >> sh) - kbase + 1, 0, top) */
    int32_t sh;
    int32_t boff;       /* this side's first entry in teq_kq.bucket */
} teq_kq_side;

struct teq_kq {
    teq_qparams q;
    float table[256];   /* code -> value (teq_q_code_table) */
    int is_signed;
    /* linear: q = clamp(rint(x / scale)) + off, in double as code.c */
    double lscale, qlo, qhi;
    double lrecip; /* 1 / lscale: the vector bodies multiply, and divide only near a tie (avx512.c) */
    float lrecipf; /* (float)(1 / lscale): the float first try of the AVX-512 body */
    int off;
    float lscalef; /* (float)lscale: q.lin_f32 codes divide by it in float32 (quant.h teq_q_lin32) */
    /* exponential */
    int steps;          /* compares after the bucket lookup (<= TEQ_KQ_MAX_STEPS); 0: no bucket table is fine
                         * enough, bisect thr[] instead over pow2 (smallest power of two >= candidates) */
    int pow2;
    teq_kq_side side[2];
    /* bucket[boff + d] = number of thresholds below bucket d's first pattern (d = 0: below every
     * threshold); uint8 (at most 255 thresholds), 4 bytes of slack so a 32-bit gather may read past the end */
    uint8_t *bucket;
    /* The log path (exponential codes whose margin holds, decided by kq.c log_path_init; the vector
     * bodies take it when logpath is set, else the bucket search above). Level space: the L levels of the
     * code lev[e] (ascending) and their midpoint thresholds tl[e] between lev[e] and lev[e+1] (bit
     * patterns rounded down as thr[], then 0x7FFFFFFF); e0 = clamp(floor(lc * log2((|x| - lbeta) * lia)),
     * 0, L-1) from the polynomial below, e = e0 + (|x| > tl[e0]) is the nearest level, and the zero code
     * and the sign are applied arithmetically (zthr[s]: the threshold between 0 and the side's first
     * level). */
    int logpath;
    int nlev;               /* L */
    float lbeta, lia, lc;   /* (float)beta, (float)(1/alpha), (float)(1/log2(base)) */
    int32_t zthr[2];
    /* The threshold between e and e+1 sits at a fixed fraction f = log_b((1 + b) / 2) past e in t space, up
     * to the levels' rounding: every tau_j - j lies in [fmin, fmax]. With the AVX2 body's t~ within E7 of
     * t*, a lane whose fraction t~ - e0 is below lfa = fmin - E7 is at e0, above lfb = fmax + E7 at e0 + 1, without reading
     * tl[] (kq.c log_path_init); a vector with a lane between them (or v clamped at FLT_MAX) reads tl[].
     * lfa = 0, lfb = 1 when the window is not in (0, 1): every vector reads tl[]. */
    float lfa, lfb;
    double log_margin;      /* smallest slack of the margin check (in levels; reported by tests) */
    /* The entry table (kq.c entry_init; the AVX2 body takes it first when it is there, whether or not the
     * log path's margin holds): the level index e = #{j : u > tl[j]} from one table read and one compare.
     * Two regions of u, r = (u >= lsplit) (lsplit 0: one region), each with buckets of u >> lsh[r] holding at
     * most one threshold tl[]: bucket d of region r (u >> lsh[r] = lkbase[r] + d, d clamped to 0 .. ltop[r]) is
     * lent[lboff[r] + d] = (number of tl below the bucket's first pattern) << 24 | (the offset of its
     * threshold from that first pattern, or 2^lsh[r] - 1 when none lies in it); then
     *     e = (ent >> 24) + (u - ((lkbase[r] + d) << lsh[r]) > (ent & 0xFFFFFF))   (signed compare)
     * which is exact for every u in [0, 0x7F800000], below the first bucket and above the last too. Two
     * regions because a code whose levels start near 0 (beta near -alpha) spreads its low thresholds over
     * many octaves and crowds its high ones: one shift fine enough for the top needed 10^4 to 10^6 buckets
     * on 7 of rec's 55 codes. NULL where no pair of shifts <= 24 fits within TEQ_KQ_ENT_MAX buckets. */
    int32_t *lent;
    int32_t lsh[2], lkbase[2], ltop[2], lboff[2];
    uint32_t lsplit;
    /* The values of an exponential code by a table of their step function over |x|'s bit pattern (steps.c,
     * struct teq_kv8 below), read by teq_kq_run_avx512 when only values are asked for. kv_want (set by
     * teq_kq_value_table for a model's quantizer that computes values, on a CPU with the AVX-512 set): the first
     * call of at least KQ_KV_MIN values makes it (kq.c run, published atomically; 0.4-0.8 ms once), so that a
     * model whose activations are all small never pays its 3 KB and its code pages. kv_want 2: it cannot be made. */
    struct teq_kv8 *kv;
    int kv_want;
    /* The exponential tables, last: a linear code's quantizer is allocated only up to tl
     * (TEQ_KQ_LINEAR_BYTES), 1.2 KB instead of 8.4 (a quantized model holds two per INT8 layer). */
    int32_t tl[256];
    float lev[256];
    /* The bucket search's (and the AVX-512 body's) arrays, last of all: teq_kq_trim drops them, with bucket,
     * where the entry table and the AVX2 body answer every value (3.3 KB left instead of 7.5 plus the
     * buckets). trimmed: 1 once they are gone (thr, code and bucket must not be read).
     * side s at [s * TEQ_KQ_THR]: thr[j] for j < K-1, bit patterns of the midpoints rounded down, then
     * 0x7FFFFFFF (never below a magnitude, which is <= 0x7F800000: signed int compares work too);
     * code[j] the code of candidate j */
    int trimmed;
    int32_t thr[2 * TEQ_KQ_THR];
    int32_t code[2 * TEQ_KQ_THR];
};
#define TEQ_KQ_LINEAR_BYTES offsetof(struct teq_kq, tl)
#define TEQ_KQ_TRIM_BYTES offsetof(struct teq_kq, thr)

/* log2(1 + r) for r in [0, 1) (r = mantissa - 1, exact), degree 4, r * (C1 + r * (C2 + r * (C3 + r * C4)))
 * evaluated with FMAs in this order and a final multiply. Coefficients: a least-squares fit, iteratively
 * reweighted towards minimax, rounded to float. Its error including the float evaluation,
 * |p(r) - log2(1 + r)| <= TEQ_KQ_LOG2_ERR, is checked on every one of the 2^23 float mantissas by
 * tests/test_kernels.c (the largest is about 1.03e-4). The vector bodies evaluate the same operations
 * (FMA rounds once, as fmaf), so the bound is theirs. */
#define TEQ_KQ_C1 0x1.70633ap+0f
#define TEQ_KQ_C2 -0x1.5c212ep-1f
#define TEQ_KQ_C3 0x1.4d676ap-2f
#define TEQ_KQ_C4 -0x1.5b3328p-4f
#define TEQ_KQ_LOG2_ERR 1.1e-4
static inline float teq_kq_log2p(float r) {
    return r * __builtin_fmaf(__builtin_fmaf(__builtin_fmaf(TEQ_KQ_C4, r, TEQ_KQ_C3), r, TEQ_KQ_C2), r, TEQ_KQ_C1);
}

/* The AVX2 body's log2(1 + r), degree 7: r * (D1 + D2 r + ... + D7 r^6), the same kind of fit, evaluated in
 * Estrin's order (below; the quantizer is bound by its dependency chain, and Horner's six FMAs in a row
 * were a third of it), its error including the float evaluation <= TEQ_KQ_LOG2_ERR7 (about 4.8e-7 measured,
 * checked on every mantissa by tests/test_kernels.c). Three FMAs more than the degree-4 one buy a
 * fraction window (lfa, lfb) about 140 times narrower at base 1.005, so that nearly every vector skips the
 * threshold gather. The AVX2 body forms t~ = fma(e, lc, fl(q * lc)) with q = fl(r * p): error <= E7
 * (kq.c log_path_init), below E. */
#define TEQ_KQ_D1 0x1.7152aep+0f
#define TEQ_KQ_D2 -0x1.70f096p-1f
#define TEQ_KQ_D3 0x1.e4eb5cp-2f
#define TEQ_KQ_D4 -0x1.4db9d8p-2f
#define TEQ_KQ_D5 0x1.8dec38p-3f
#define TEQ_KQ_D6 -0x1.45e1b4p-4f
#define TEQ_KQ_D7 0x1.fceb04p-7f
#define TEQ_KQ_LOG2_ERR7 4.9e-7
static inline float teq_kq_log2p7(float r) {
    const float r2 = r * r, r4 = r2 * r2;
    const float a = __builtin_fmaf(TEQ_KQ_D2, r, TEQ_KQ_D1), b = __builtin_fmaf(TEQ_KQ_D4, r, TEQ_KQ_D3);
    const float c = __builtin_fmaf(TEQ_KQ_D6, r, TEQ_KQ_D5);
    const float ab = __builtin_fmaf(b, r2, a), cd = __builtin_fmaf(TEQ_KQ_D7, r2, c);
    return r * __builtin_fmaf(cd, r4, ab);
}

/* Vector bodies (codes and/or values for x[n]; codes or y may be NULL). */
void teq_kq_run_avx512(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y);
void teq_kq_run_avx2(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y);
/* y[i] = x[i] + c (y may alias x), 8 lanes: a shifted code's sum (kq.c), which the baseline build left scalar */
void teq_kq_addc_avx2(const float *x, int64_t n, float c, float *y);
void teq_kq_qvalues_avx2(const teq_kq *kq, const float *x, int64_t n, float *v);
void teq_kq_qvalues_avx512(const teq_kq *kq, const float *x, int64_t n, float *v);
/* false: not an exponential code on the entry table or the log path (the caller maps codes instead) */
bool teq_kq_lanes_avx2(const teq_kq *kq, const float *x, int64_t n, const int16_t *lut, int16_t *l16);
void teq_kq_run_scalar(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y);

/* Scalar magnitude bits of x for side selection, shared by the scalar path and vector tails. */
static inline uint32_t teq_ki_fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* 8-bit lanes straight from floats (steps.c; kernels.h teq_kl8_*). A layer's lane integer of x is
 * lut[code(fl(x + sh))], a non-decreasing step function of x whose steps lie at least da / 2 apart (between
 * two steps the levels move by at least one grid step da, and each threshold is the midpoint of two levels).
 * So with F(x) = floor(clamp(fl(fl(x + sh) * c), lo, hi)) - off (c about 2^16 * 2 / da, a NaN as 0), bucket
 * b = F >> 16 (0 .. TEQ_KL8_NB - 1) holds at most one step, and for x in bucket b
 *     F(x) & 0xFFFF >  thr[b]: lane[b + 1]      (F non-decreasing: x is at or past the step s, F(s) = thr)
 *     F(x) & 0xFFFF <  thr[b]: lane[b]          (x is below it)
 *     F(x) & 0xFFFF == thr[b]: undecided: x is within about an ulp of s, and the exact path answers.
 * thr[b] is kept as two bytes (th, tl) so that the AVX-512 body compares 64 values a step with byte
 * permutes instead of a gather (Zen 4's 16-wide gather alone costs 0.39 ns a value); 0xFFFF where the
 * bucket holds no step (an F of 0xFFFF there is undecided too, and also answered exactly). */
enum { TEQ_KL8_NB = 512 };
struct teq_kl8 {
    float c, lo, hi, sh;
    int32_t off;
    uint8_t lut[256];                                     /* the layer's code -> lane integer map */
    uint8_t lane[TEQ_KL8_NB], th[TEQ_KL8_NB], tl[TEQ_KL8_NB]; /* 64-byte multiples: whole registers */
};
/* F(x) as defined above, in the vector bodies' order of operations */
static inline int32_t teq_kl8_f(const struct teq_kl8 *kl, float x) {
    const float y = kl->sh != 0 ? x + kl->sh : x;
    float v = y != y ? 0.0f : y * kl->c;
    v = v > kl->lo ? v : kl->lo;
    v = v < kl->hi ? v : kl->hi;
    return (int32_t)__builtin_floorf(v) - kl->off;
}
/* The values of an exponential code (teq_kq_fake) by the same scheme over magnitudes. Its levels are
 * alpha * b^e + beta, geometric once beta is taken off, so the table is indexed by the bit pattern of
 *     w = max(fl(|y| - cb), eps)     (cb = (float)beta; eps below every threshold's w)
 * which is non-decreasing in |y| (NaN as 0; an unsigned code's negatives as +0, as its codes take them): there
 * the thresholds lie about log2(b) octaves apart whatever alpha and beta are. With wb = bits(w) (an int32),
 *     F = wb < split ? floor(min(max(fl((float)(wb - ubase) * c0), 0), top))
 *                    : off1 + floor(min(fl((float)(wb - split) * c1), top - off1))      (top = TEQ_KL8_NB * 2^16 - 2)
 * : two regions of w, each with its own bucket width (2^16 / c patterns), because a threshold's distance in
 * patterns doubles across each octave and the code's own spread need not suit one width. F is non-decreasing in
 * wb (each operation is), which is all the undecided rule needs. Bucket
 * b = F >> 16 holds at most one threshold; v[0..3][b] are the value's four bytes at the bucket's start, the
 * value past the step v[.][b + 1], F at the step th:tl, undecided F as above. The zero code is a compare of its
 * own (|y| at or below zthr: +0, as the codes' bodies do it); a signed code (without the zero code, whose sides
 * differ) reads the magnitude's table and sets the sign bit of a negative y's value. */
struct teq_kv8 {
    float cb, eps; /* w = max(fl(|y| - cb), eps) */
    int32_t zthr; /* the zero code's threshold pattern, or -1 */
    float c0, c1;
    int32_t ubase, split, off1, sg;
    uint8_t th[TEQ_KL8_NB], tl[TEQ_KL8_NB];
    uint8_t v[4][TEQ_KL8_NB];
};
/* the table for kq's values, NULL where it cannot be made (kq.c makes it on a first call that is worth it) */
struct teq_kv8 *teq_kv8_new(const teq_kq *kq);
/* w's bit pattern for magnitude pattern ub (<= +inf's) */
static inline uint32_t teq_kv8_w(const struct teq_kv8 *kv, uint32_t ub) {
    float m, w;
    memcpy(&m, &ub, 4);
    w = m - kv->cb;
    w = w > kv->eps ? w : kv->eps;
    uint32_t wb;
    memcpy(&wb, &w, 4);
    return wb;
}
/* F of magnitude pattern ub (<= +inf's) */
static inline int32_t teq_kv8_f(const struct teq_kv8 *kv, uint32_t ub) {
    const uint32_t wb = teq_kv8_w(kv, ub);
    const float top = (float)(TEQ_KL8_NB * 65536 - 2); /* a float: 2^25 - 1 is not */
    if ((int32_t)wb < kv->split) {
        float v = (float)(int32_t)(wb - (uint32_t)kv->ubase) * kv->c0;
        v = v > 0 ? v : 0;
        v = v < top ? v : top;
        return (int32_t)__builtin_floorf(v);
    }
    float v = (float)(int32_t)(wb - (uint32_t)kv->split) * kv->c1;
    v = v < top - (float)kv->off1 ? v : top - (float)kv->off1;
    return kv->off1 + (int32_t)__builtin_floorf(v);
}
/* y[i] = value(x[i]) by the table walked in scalar code (any CPU; tests) and by the AVX-512 body; both hand
 * undecided values to the quantizer's own body (teq_kq_run_avx512_exact, or the scalar one) */
void teq_kv8_run_table(const struct teq_kv8 *kv, const teq_kq *kq, const float *x, int64_t n, float *y);
void teq_kv8_run_avx512(const struct teq_kv8 *kv, const teq_kq *kq, const float *x, int64_t n, float *y);
/* teq_kq_run_avx512 without the value table: the codes' own bodies */
void teq_kq_run_avx512_exact(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y);

/* lut[codes(fl(x + sh))], the definition (in chunks; n any) */
void teq_kl8_exact(const struct teq_kl8 *kl, const teq_kq *kq, const float *x, int64_t n, uint8_t *out);
/* the AVX-512 (VBMI) body: the table for 64 values a step, blocks with an undecided value and the masked tail
 * through the same arithmetic, undecided ones by teq_kl8_exact */
void teq_kl8_run_avx512(const struct teq_kl8 *kl, const teq_kq *kq, const float *x, int64_t n, uint8_t *out);

#endif
