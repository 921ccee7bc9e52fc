/* The AVX-512 kernel set (F/BW/VL/VBMI; the INT8 kernels in two variants: VNNI vpdpbusd, or AVX-512BW
 * vpmaddubsw where VNNI is absent). Compiled with these flags for this file only (CMakeLists.txt);
 * dispatch.c checks cpuid before any of it runs. The VNNI functions carry target("avx512vnni")
 * themselves, because VNNI is checked separately.
 *
 * Float kernels (gemv, decode), n-bit weights, 2 <= n <= 8. Sixteen codes take 2n bytes (16 n bits), so
 * every group of 16 codes starts on a byte. One group becomes one zmm of 16 floats in three steps:
 *   1. broadcast its 16 bytes (2n <= 16 are used) to the four 128-bit lanes, and vpshufb into dword i
 *      the two bytes that hold code i (bytes (i n) >> 3 and the next: a code never spans three);
 *   2. vpsrlvd by (i n) & 7, so code i sits in the low bits of dword i (higher bits: the next codes);
 *   3. look the value up in registers: vpermps reads the low 4 index bits, so for n <= 4 the table is the
 *      2^n values repeated to 16 (the stray bits above n then select a copy of the same value); n = 5:
 *      vpermt2ps over two registers (5 bits); n = 6, 7: two or four vpermt2ps blended on bits 5 and 6;
 *      n = 8: a gather from the 256-entry table.
 * This generic GEMV (now only for 8 bits, and the fallback when no permuted copy of x can be allocated) runs
 * four rows at a time so each load of x feeds four FMAs, one accumulator per row; 2..7 bits take the
 * raw-bits paths further down. The last
 * group of a row is masked on x (lanes past K load 0 and the FMA keeps the accumulator there), so
 * the zero padding codes, whose value lut[0] need not be 0, never reach a sum. */
#include "kint.h"

#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#define INLINE static inline __attribute__((always_inline))

typedef struct dec512 {
    __m512i shuf, shift;
    __m512 t[8];
} dec512;

/* constants for n-bit codes: shuffle and shift of step 1 and 2, and the table registers of step 3 */
static void dec512_init(dec512 *d, int n, const float *lut) {
    uint8_t sh[64];
    uint32_t sv[16];
    for (int i = 0; i < 16; i++) {
        int bit = i * n, b = bit >> 3;
        for (int lane = 0; lane < 4; lane++) {
            uint8_t *s = sh + lane * 16 + (i & 3) * 4;
            if ((i >> 2) != lane) continue;
            s[0] = (uint8_t)b;
            s[1] = (uint8_t)(b + 1 < 16 ? b + 1 : 0x80);
            s[2] = s[3] = 0x80;
        }
        sv[i] = (uint32_t)(bit & 7);
    }
    d->shuf = _mm512_loadu_si512(sh);
    d->shift = _mm512_loadu_si512(sv);
    float t[128];
    int nt = n <= 4 ? 16 : (1 << n);
    if (n > 7) nt = 0;
    for (int i = 0; i < nt; i++) t[i] = lut[i & ((1 << n) - 1)];
    for (int r = 0; r < 8; r++) d->t[r] = r * 16 < nt ? _mm512_loadu_ps(t + r * 16) : _mm512_setzero_ps();
}

/* code indices of the group at p (dword i: code i in the low n bits) */
INLINE __m512i unpack512(const dec512 *d, const uint8_t *p) {
    __m512i v = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)p));
    return _mm512_srlv_epi32(_mm512_shuffle_epi8(v, d->shuf), d->shift);
}

INLINE __m512 lookup512(const dec512 *d, __m512i v, const int n, const float *lut) {
    if (n <= 4) return _mm512_permutexvar_ps(v, d->t[0]);
    if (n == 5) return _mm512_permutex2var_ps(d->t[0], v, d->t[1]);
    if (n == 6) {
        __mmask16 b5 = _mm512_test_epi32_mask(v, _mm512_set1_epi32(32));
        return _mm512_mask_blend_ps(b5, _mm512_permutex2var_ps(d->t[0], v, d->t[1]),
                                    _mm512_permutex2var_ps(d->t[2], v, d->t[3]));
    }
    if (n == 7) {
        __mmask16 b5 = _mm512_test_epi32_mask(v, _mm512_set1_epi32(32));
        __mmask16 b6 = _mm512_test_epi32_mask(v, _mm512_set1_epi32(64));
        __m512 a = _mm512_mask_blend_ps(b5, _mm512_permutex2var_ps(d->t[0], v, d->t[1]),
                                        _mm512_permutex2var_ps(d->t[2], v, d->t[3]));
        __m512 b = _mm512_mask_blend_ps(b5, _mm512_permutex2var_ps(d->t[4], v, d->t[5]),
                                        _mm512_permutex2var_ps(d->t[6], v, d->t[7]));
        return _mm512_mask_blend_ps(b6, a, b);
    }
    return _mm512_i32gather_ps(_mm512_and_si512(v, _mm512_set1_epi32(255)), lut, 4);
}

INLINE void gemv512_body(const teq_kw *w, const float *x, float *y, int64_t m0, int64_t m1, const int n) {
    dec512 d;
    dec512_init(&d, n, w->lut);
    const int64_t K = w->K, G = K / 16, rb = w->row_bytes, gb = 2 * n;
    const int rem = (int)(K - G * 16);
    const __mmask16 tm = (__mmask16)((1u << rem) - 1);
    const float *lut = w->lut;
    int64_t m = m0;
    for (; m + 4 <= m1; m += 4) {
        const uint8_t *r0 = w->packed + m * rb, *r1 = r0 + rb, *r2 = r1 + rb, *r3 = r2 + rb;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t g = 0; g < G; g++) {
            __m512 xv = _mm512_loadu_ps(x + g * 16);
            a0 = _mm512_fmadd_ps(lookup512(&d, unpack512(&d, r0 + g * gb), n, lut), xv, a0);
            a1 = _mm512_fmadd_ps(lookup512(&d, unpack512(&d, r1 + g * gb), n, lut), xv, a1);
            a2 = _mm512_fmadd_ps(lookup512(&d, unpack512(&d, r2 + g * gb), n, lut), xv, a2);
            a3 = _mm512_fmadd_ps(lookup512(&d, unpack512(&d, r3 + g * gb), n, lut), xv, a3);
        }
        if (rem) {
            __m512 xv = _mm512_maskz_loadu_ps(tm, x + G * 16);
            a0 = _mm512_mask3_fmadd_ps(lookup512(&d, unpack512(&d, r0 + G * gb), n, lut), xv, a0, tm);
            a1 = _mm512_mask3_fmadd_ps(lookup512(&d, unpack512(&d, r1 + G * gb), n, lut), xv, a1, tm);
            a2 = _mm512_mask3_fmadd_ps(lookup512(&d, unpack512(&d, r2 + G * gb), n, lut), xv, a2, tm);
            a3 = _mm512_mask3_fmadd_ps(lookup512(&d, unpack512(&d, r3 + G * gb), n, lut), xv, a3, tm);
        }
        y[m] = w->scale[m] * _mm512_reduce_add_ps(a0);
        y[m + 1] = w->scale[m + 1] * _mm512_reduce_add_ps(a1);
        y[m + 2] = w->scale[m + 2] * _mm512_reduce_add_ps(a2);
        y[m + 3] = w->scale[m + 3] * _mm512_reduce_add_ps(a3);
    }
    for (; m < m1; m++) {
        const uint8_t *r0 = w->packed + m * rb;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;
        int64_t g = 0;
        for (; g + 2 <= G; g += 2) {
            a0 = _mm512_fmadd_ps(lookup512(&d, unpack512(&d, r0 + g * gb), n, lut), _mm512_loadu_ps(x + g * 16), a0);
            a1 = _mm512_fmadd_ps(lookup512(&d, unpack512(&d, r0 + (g + 1) * gb), n, lut),
                                 _mm512_loadu_ps(x + g * 16 + 16), a1);
        }
        if (g < G)
            a0 = _mm512_fmadd_ps(lookup512(&d, unpack512(&d, r0 + g * gb), n, lut), _mm512_loadu_ps(x + g * 16), a0);
        if (rem)
            a1 = _mm512_mask3_fmadd_ps(lookup512(&d, unpack512(&d, r0 + G * gb), n, lut),
                                       _mm512_maskz_loadu_ps(tm, x + G * 16), a1, tm);
        y[m] = w->scale[m] * _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    }
}

INLINE void decode512_body(const teq_kw *w, int64_t m0, int64_t m1, float *out, const int n) {
    dec512 d;
    dec512_init(&d, n, w->lut);
    const int64_t K = w->K, G = K / 16, rb = w->row_bytes, gb = 2 * n;
    const int rem = (int)(K - G * 16);
    const __mmask16 tm = (__mmask16)((1u << rem) - 1);
    for (int64_t m = m0; m < m1; m++) {
        const uint8_t *r = w->packed + m * rb;
        float *o = out + (m - m0) * K;
        const __m512 s = _mm512_set1_ps(w->scale[m]);
        for (int64_t g = 0; g < G; g++)
            _mm512_storeu_ps(o + g * 16, _mm512_mul_ps(s, lookup512(&d, unpack512(&d, r + g * gb), n, w->lut)));
        if (rem)
            _mm512_mask_storeu_ps(o + G * 16, tm, _mm512_mul_ps(s, lookup512(&d, unpack512(&d, r + G * gb), n, w->lut)));
    }
}

/* Permuted copies of x for the raw-bits paths below, which consume a row's codes in an order other than k.
 * Up to XP_STACK floats live on the stack; beyond, the heap (NULL when that fails: the caller falls back
 * to gemv512_body, which needs no copy). */
enum { XP_STACK = 4096 };
static float *xp_get(float *stack, int64_t n) {
    return n <= XP_STACK ? stack : aligned_alloc(64, (size_t)((n * 4 + 63) & ~(int64_t)63));
}

/* Software prefetch of the next pass's rows: a pass reads R consecutive rows, one contiguous region of
 * R * row_bytes, as R interleaved streams that each advance only 8 n bytes (or 64) per step, which the
 * hardware prefetchers follow poorly once the weights come from DRAM. Step s of S prefetches the s-th of S
 * equal slices of the next region (the region right after this one, whose rows the next pass reads). The
 * last pass prefetches past m1 (the next thread's rows, or the end of the weights plus slack): a prefetch
 * never faults. */
#ifndef TEQ_NO_PREFETCH
#define PREFETCH_NEXT(base, s, bytes, S)                                                                               \
    do {                                                                                                               \
        const int64_t per_ = ((bytes) + (S)-1) / (S);                                                                  \
        for (int64_t o_ = (s)*per_; o_ < ((s) + 1) * per_; o_ += 64) _mm_prefetch((base) + o_, _MM_HINT_T0);           \
    } while (0)
#else
#define PREFETCH_NEXT(base, s, bytes, S) ((void)0)
#endif

/* Only for weights beyond PF_MIN_BYTES: the same run measured (teq bench, 1 thread) 11008x4096 4-bit
 * 3.6 -> 2.3 ms with it, but 4096x4096 (8 MiB, which stays in the 32 MiB L3 between calls) 0.5 -> 0.7 ms,
 * the prefetches taking load slots and L3 requests the loads would have hit anyway. */
enum { PF_MIN_BYTES = 16 << 20 };
static int prefetch_wanted(const teq_kw *w) { return w->M * w->row_bytes > PF_MIN_BYTES; }

/* 4-bit weights: a 64-byte load is 16 dwords of 8 codes each, and vpermps reads only the low 4 bits of
 * each index, so (v >> 4j) looked up directly gives code j of every dword: per 128 codes one load,
 * 7 shifts and 8 vpermps, no shuffle. The codes then come in the order k = 8 i + j (dword i, nibble j)
 * instead of k, so x is permuted once per call into xp (block b of 128: xp[128 b + 16 j + i] =
 * x[128 b + 8 i + j]), zero past K. A row's 64-byte blocks cover exactly its row_bytes; codes past K are
 * the zero padding, whose value lut[0] is finite and meets xp = 0 there, adding exactly 0.
 * R rows per pass share each xp load (R = 8: eight independent FMA chains, 8 x 2 cycles of work per
 * chain step against the FMA's 4-cycle latency; R = 4 and 1 for the last rows). */
INLINE void gemv4_rows(const teq_kw *w, const float *xp, float *y, int64_t m, const __m512 T, int pf_on, const int R) {
    const int64_t NB = (w->K + 127) / 128, rb = w->row_bytes;
    const uint8_t *r0 = w->packed + m * rb;
    __m512 a[8], a2[8];
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) a[r] = a2[r] = _mm512_setzero_ps();
    const char *pf = pf_on ? (const char *)(r0 + R * rb) : NULL;
    for (int64_t b = 0; b < NB; b++) {
        const float *xb = xp + b * 128;
        __m512i v[8];
        if (pf) PREFETCH_NEXT(pf, b, R * rb, NB);
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) v[r] = _mm512_load_si512(r0 + r * rb + b * 64);
        _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) {
            const __m512 xv = _mm512_load_ps(xb + 16 * j);
            /* one row alone: alternate two accumulators so consecutive FMAs do not wait on each other */
            if (R == 1 && (j & 1)) a2[0] = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(v[0], 4 * j), T), xv, a2[0]);
            else
                _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)
                    a[r] = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(v[r], 4 * j), T), xv, a[r]);
        }
    }
    if (R == 1) a[0] = _mm512_add_ps(a[0], a2[0]);
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) y[m + r] = w->scale[m + r] * _mm512_reduce_add_ps(a[r]);
}

static void gemv512_4bit(const teq_kw *w, const float *x, float *y, int64_t m0, int64_t m1) {
    const int64_t K = w->K, NB = (K + 127) / 128;
    float stack_xp[XP_STACK] __attribute__((aligned(64)));
    float *xp = xp_get(stack_xp, NB * 128);
    if (!xp) {
        gemv512_body(w, x, y, m0, m1, 4);
        return;
    }
    for (int64_t b = 0; b < NB; b++)
        for (int j = 0; j < 8; j++)
            for (int i = 0; i < 16; i++) {
                int64_t k = b * 128 + 8 * i + j;
                xp[b * 128 + 16 * j + i] = k < K ? x[k] : 0.0f;
            }
    const __m512 T = _mm512_loadu_ps(w->lut);
    const int pf = prefetch_wanted(w);
    int64_t m = m0;
    for (; m + 8 <= m1; m += 8) gemv4_rows(w, xp, y, m, T, pf, 8);
    for (; m + 4 <= m1; m += 4) gemv4_rows(w, xp, y, m, T, pf, 4);
    for (; m < m1; m++) gemv4_rows(w, xp, y, m, T, pf, 1);
    if (xp != stack_xp) free(xp);
}

/* n-bit weights, 2 <= n <= 7 except 4: the same idea with dword windows. Eight codes take n bytes, so a
 * group of 8 starts on a byte; its codes 0..3 lie in the dword at the group's first byte (bits n j, at
 * most 4n - 1 <= 27), codes 4..7 in the dword at byte n / 2 (bits o + n j with o = 4n - 8 (n / 2), 0 or 4,
 * at most 31). One vpermb builds these 16 dwords for 8 groups (64 codes, 8n <= 56 bytes of one 64-byte
 * load); then vpsrlvd by o + n j (j = 0..3) puts code j of each window in the low bits, looked up as in
 * lookup512 (which reads only the low n bits of each index, or a table repeated above them). Per 64 codes
 * and row: one load, one vpermb, 4 shifts, 4 lookups, 4 FMAs, where the generic path pays a broadcast,
 * a vpshufb and a vpsrlvd per 16. Order: step j, lane d holds k = 8 (d >> 1) + 4 (d & 1) + j of the
 * block, so x is permuted once per call (xp[64 s + 16 j + d] = x[64 s + 8 (d >> 1) + 4 (d & 1) + j]),
 * zero past K. The last block's load may run past the row's codes (into its zero padding, the next row,
 * or the 64 bytes of slack after the last row: the load starts before row_bytes, since 64 s < K gives
 * 8 n s < K n / 8): those codes are finite values met by xp = 0. */
typedef struct win512 {
    __m512i idx, sh[4];
} win512;

static void win512_init(win512 *d, int n) {
    uint8_t id[64];
    uint32_t sh[4][16];
    const int o = 4 * n - 8 * (n / 2);
    for (int i = 0; i < 16; i++) {
        for (int b = 0; b < 4; b++) id[4 * i + b] = (uint8_t)((i >> 1) * n + (i & 1) * (n / 2) + b);
        for (int j = 0; j < 4; j++) sh[j][i] = (uint32_t)((i & 1) * o + n * j);
    }
    d->idx = _mm512_loadu_si512(id);
    for (int j = 0; j < 4; j++) d->sh[j] = _mm512_loadu_si512(sh[j]);
}

INLINE void gemvw_rows(const teq_kw *w, const dec512 *dc, const win512 *wd, const float *xp, float *y, int64_t m,
                       int pf_on, const int n, const int R) {
    const int64_t NS = (w->K + 63) / 64, rb = w->row_bytes;
    const uint8_t *r0 = w->packed + m * rb;
    __m512 a[8], a2[8];
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) a[r] = a2[r] = _mm512_setzero_ps();
    const char *pf = pf_on ? (const char *)(r0 + R * rb) : NULL;
    for (int64_t s = 0; s < NS; s++) {
        const float *xb = xp + s * 64;
        __m512i v[8];
        if (pf) PREFETCH_NEXT(pf, s, R * rb, NS);
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)
            v[r] = _mm512_permutexvar_epi8(wd->idx, _mm512_loadu_si512(r0 + r * rb + s * 8 * n));
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
            const __m512 xv = _mm512_load_ps(xb + 16 * j);
            if (R == 1 && (j & 1))
                a2[0] = _mm512_fmadd_ps(lookup512(dc, _mm512_srlv_epi32(v[0], wd->sh[j]), n, w->lut), xv, a2[0]);
            else
                _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)
                    a[r] = _mm512_fmadd_ps(lookup512(dc, _mm512_srlv_epi32(v[r], wd->sh[j]), n, w->lut), xv, a[r]);
        }
    }
    if (R == 1) a[0] = _mm512_add_ps(a[0], a2[0]);
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) y[m + r] = w->scale[m + r] * _mm512_reduce_add_ps(a[r]);
}

INLINE void gemv512_win(const teq_kw *w, const float *x, float *y, int64_t m0, int64_t m1, const int n) {
    const int64_t K = w->K, NS = (K + 63) / 64;
    float stack_xp[XP_STACK] __attribute__((aligned(64)));
    float *xp = xp_get(stack_xp, NS * 64);
    if (!xp) {
        gemv512_body(w, x, y, m0, m1, n);
        return;
    }
    for (int64_t s = 0; s < NS; s++)
        for (int j = 0; j < 4; j++)
            for (int i = 0; i < 16; i++) {
                int64_t k = s * 64 + 8 * (i >> 1) + 4 * (i & 1) + j;
                xp[s * 64 + 16 * j + i] = k < K ? x[k] : 0.0f;
            }
    dec512 dc;
    dec512_init(&dc, n, w->lut);
    win512 wd;
    win512_init(&wd, n);
    const int pf = prefetch_wanted(w);
    int64_t m = m0;
    for (; m + 8 <= m1; m += 8) gemvw_rows(w, &dc, &wd, xp, y, m, pf, n, 8);
    for (; m + 4 <= m1; m += 4) gemvw_rows(w, &dc, &wd, xp, y, m, pf, n, 4);
    for (; m < m1; m++) gemvw_rows(w, &dc, &wd, xp, y, m, pf, n, 1);
    if (xp != stack_xp) free(xp);
}

static void gemv_avx512(const teq_kw *w, const float *x, float *y, int64_t m0, int64_t m1) {
    switch (w->q.bits) {
    case 2: gemv512_win(w, x, y, m0, m1, 2); break;
    case 3: gemv512_win(w, x, y, m0, m1, 3); break;
    case 4: gemv512_4bit(w, x, y, m0, m1); break;
    case 5: gemv512_win(w, x, y, m0, m1, 5); break;
    case 6: gemv512_win(w, x, y, m0, m1, 6); break;
    case 7: gemv512_win(w, x, y, m0, m1, 7); break;
    default: gemv512_body(w, x, y, m0, m1, 8); break;
    }
}

static void decode_avx512(const teq_kw *w, int64_t m0, int64_t m1, float *out) {
    PER_BITS(decode512_body, w, m0, m1, out)
}

/* ---- INT8 ----
 * Register-blocked microkernel: R weight rows x C activation columns, one zmm accumulator of 16 int32
 * each, 64 k per step (K4 is a multiple of 64, zero padded: padding weights are 0, so the padding
 * activations, which hold zp, add nothing). Per step R + C loads feed R * C dot instructions.
 *
 * Without VNNI, vpmaddubsw (u8 x s8 pairs summed to int16 with saturation) would overflow: two products
 * reach 2 * 255 * 127 = 64770 > 32767. So x splits into x & 0x7F and x & 0x80 (prepared once per column
 * and step, shared by the R rows): the pair sums are then at most 2*127*127 = 32258 and 2*128*127 = 32512,
 * both exact in int16, and vpmaddwd by 1 widens each to int32 before they are added. */

#define I8_STEP_VNNI(acc, xa, xb, wv) acc = _mm512_dpbusd_epi32(acc, xa, wv)
#define I8_STEP_BW(acc, xa, xb, wv)                                                                                    \
    acc = _mm512_add_epi32(acc, _mm512_add_epi32(_mm512_madd_epi16(_mm512_maddubs_epi16(xa, wv), ones),               \
                                                 _mm512_madd_epi16(_mm512_maddubs_epi16(xb, wv), ones)))

/* y = (scale[m] * xscale) * (float)(dot - zp * rowsum[m]): the order of scalar.c, so sets agree exactly */
INLINE float i8_out(const teq_kw *w, int64_t m, int32_t dot, int32_t zp, float xscale) {
    return (w->scale[m] * xscale) * (float)(dot - zp * w->q8_rowsum[m]);
}

#define DEF_I8(SUF, ATTR, SPLIT, STEP)                                                                                 \
    INLINE ATTR void mk_##SUF(const int R, const int C, const int8_t *W, int64_t ldw, const uint8_t *X, int64_t ldx,  \
                              int64_t K4, int32_t *out) {                                                              \
        __m512i acc[4][4];                                                                                             \
        const __m512i ones = _mm512_set1_epi16(1), lo7 = _mm512_set1_epi8(0x7F), hi1 = _mm512_set1_epi8((char)0x80);  \
        (void)ones, (void)lo7, (void)hi1;                                                                              \
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) _Pragma("GCC unroll 4") for (int c = 0; c < C; c++)        \
            acc[r][c] = _mm512_setzero_si512();                                                                        \
        for (int64_t k = 0; k < K4; k += 64) {                                                                         \
            __m512i xa[4], xb[4];                                                                                      \
            _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) {                                                      \
                __m512i xv = _mm512_loadu_si512(X + c * ldx + k);                                                      \
                if (SPLIT) {                                                                                           \
                    xa[c] = _mm512_and_si512(xv, lo7);                                                                 \
                    xb[c] = _mm512_and_si512(xv, hi1);                                                                 \
                } else {                                                                                               \
                    xa[c] = xv;                                                                                        \
                    xb[c] = xv;                                                                                        \
                }                                                                                                      \
            }                                                                                                          \
            (void)xb;                                                                                                  \
            _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {                                                      \
                __m512i wv = _mm512_loadu_si512(W + r * ldw + k);                                                      \
                _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) STEP(acc[r][c], xa[c], xb[c], wv);                 \
            }                                                                                                          \
        }                                                                                                              \
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) _Pragma("GCC unroll 4") for (int c = 0; c < C; c++)        \
            out[r * C + c] = _mm512_reduce_add_epi32(acc[r][c]);                                                       \
    }                                                                                                                  \
    static ATTR void i8_gemm_##SUF(const teq_kw *w, const uint8_t *X, int64_t N, int32_t zp, float xscale, float *Y,   \
                                   int64_t ldy, int64_t m0, int64_t m1) {                                              \
        const int64_t K4 = w->K4;                                                                                      \
        int32_t d[16];                                                                                                 \
        int64_t c = 0;                                                                                                 \
        for (; c + 4 <= N; c += 4) {                                                                                   \
            int64_t m = m0;                                                                                            \
            for (; m + 4 <= m1; m += 4) {                                                                              \
                mk_##SUF(4, 4, w->q8 + m * K4, K4, X + c * K4, K4, K4, d);                                             \
                for (int r = 0; r < 4; r++)                                                                            \
                    for (int j = 0; j < 4; j++) Y[(m + r) * ldy + c + j] = i8_out(w, m + r, d[r * 4 + j], zp, xscale);  \
            }                                                                                                          \
            for (; m < m1; m++) {                                                                                      \
                mk_##SUF(1, 4, w->q8 + m * K4, K4, X + c * K4, K4, K4, d);                                             \
                for (int j = 0; j < 4; j++) Y[m * ldy + c + j] = i8_out(w, m, d[j], zp, xscale);                       \
            }                                                                                                          \
        }                                                                                                              \
        for (; c < N; c++) {                                                                                           \
            int64_t m = m0;                                                                                            \
            for (; m + 4 <= m1; m += 4) {                                                                              \
                mk_##SUF(4, 1, w->q8 + m * K4, K4, X + c * K4, K4, K4, d);                                             \
                for (int r = 0; r < 4; r++) Y[(m + r) * ldy + c] = i8_out(w, m + r, d[r], zp, xscale);                 \
            }                                                                                                          \
            for (; m < m1; m++) {                                                                                      \
                mk_##SUF(1, 1, w->q8 + m * K4, K4, X + c * K4, K4, K4, d);                                             \
                Y[m * ldy + c] = i8_out(w, m, d[0], zp, xscale);                                                       \
            }                                                                                                          \
        }                                                                                                              \
    }                                                                                                                  \
    static ATTR void i8_gemv_##SUF(const teq_kw *w, const uint8_t *x, int32_t zp, float xscale, float *y, int64_t m0,  \
                                   int64_t m1) {                                                                       \
        i8_gemm_##SUF(w, x, 1, zp, xscale, y, 1, m0, m1);                                                              \
    }

DEF_I8(vnni, __attribute__((target("avx512vnni"))), 0, I8_STEP_VNNI)
DEF_I8(bw, , 1, I8_STEP_BW)

/* ---- 8-bit lanes GEMV of 4-bit weights (kernels.h, teq_kl8x), VNNI ----
 * A row's 64-byte block is 128 codes: its bytes' low nibbles are the codes of k = 2 i, the high nibbles
 * those of k = 2 i + 1, which is how xi lays each block out (64 even k, then 64 odd). Each half goes
 * through one vpermb into the table of wl + 128 (unsigned, as vpdpbusd wants its first operand; the 16
 * entries four times over, so that the index's bits 4 and 5, which vpermb reads and a nibble does not own,
 * do not matter: no masking) and one vpdpbusd against xi; the block's accumulator starts at neg[b], whose lane 0 takes the 128 * sum xi back,
 * so the 16 lanes sum to the block's exact dot. Then one conversion and one FMA by dx_b into the row's
 * float sum. Per 128 codes and row: a shift, 2 vpermb, 2 vpdpbusd, a conversion and an FMA
 * (the exact float GEMV: 8 shifts, 8 vpermps, 8 FMAs); R rows share the x loads. */
INLINE __attribute__((target("avx512vnni"))) void gl8_rows(const teq_kw *w, const teq_kl8x *x, float *y, int64_t m,
                                                              int pf_on, const int R) {
    const int64_t NB = x->NB, rb = w->row_bytes;
    const uint8_t *r0 = w->packed + m * rb;
    __m128i t16 = _mm_loadu_si128((const __m128i *)x->wl);
    const __m512i T = _mm512_broadcast_i32x4(_mm_add_epi8(t16, _mm_set1_epi8((char)0x80)));
    __m512 F[8];
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) F[r] = _mm512_setzero_ps();
    const char *pf = pf_on ? (const char *)(r0 + R * rb) : NULL;
    for (int64_t b = 0; b < NB; b++) {
        if (pf) PREFETCH_NEXT(pf, b, R * rb, NB);
        const __m512i xe = _mm512_load_si512(x->xi + b * TEQ_KL8_B), xo = _mm512_load_si512(x->xi + b * TEQ_KL8_B + 64);
        const __m512i n0 = _mm512_load_si512(x->neg + b * 16);
        const __m512 d = _mm512_set1_ps(x->dx[b]);
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
            const __m512i v = _mm512_load_si512(r0 + r * rb + b * 64);
            __m512i acc = _mm512_dpbusd_epi32(n0, _mm512_permutexvar_epi8(v, T), xe);
            acc = _mm512_dpbusd_epi32(acc, _mm512_permutexvar_epi8(_mm512_srli_epi16(v, 4), T), xo);
            F[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), d, F[r]);
        }
    }
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) y[m + r] = (w->scale[m + r] * x->dw) * _mm512_reduce_add_ps(F[r]);
}

static __attribute__((target("avx512vnni"))) void gemv_l8_vnni(const teq_kw *w, const teq_kl8x *x, float *y,
                                                                  int64_t m0, int64_t m1) {
    const int pf = prefetch_wanted(w);
    int64_t m = m0;
    for (; m + 8 <= m1; m += 8) gl8_rows(w, x, y, m, pf, 8);
    for (; m + 4 <= m1; m += 4) gl8_rows(w, x, y, m, pf, 4);
    for (; m < m1; m++) gl8_rows(w, x, y, m, pf, 1);
}

/* ---- INT8 convolution from codes (kernels.h, i8_conv), VNNI ----
 * Panel: the codes of NB = 48 output columns, [Kq/4][48][4]: at each k-group, column j's 4 codes (k = 4kg
 * .. 4kg+3) as one dword, so three zmm loads carry 48 columns x 4 k. The weights of MR = 8 rows at that
 * k-group are 8 dwords (q8p); each is broadcast and vpdpbusd'ed (u8 codes x s8 weights, 4 products summed
 * into each int32 lane) into the row's three accumulators: 24 accumulators, 3 + 8 loads per 24 vpdpbusd.
 * Lanes run along the output columns, so a row of results is a contiguous store into Y. */
#define I8C_ATTR __attribute__((target("avx512vnni")))

/* dst[4 i + t] = s_t[i * sw] for i < len (len <= 48): four tap rows of the codes interleaved into the
 * panel's dword-per-column order. Masked loads never touch bytes past a row's end. */
INLINE void i8c_interleave(uint8_t *dst, const uint8_t *s0, const uint8_t *s1, const uint8_t *s2, const uint8_t *s3,
                           int64_t len, int64_t sw) {
    if (sw == 1) {
        /* 32 columns a step: rows 0 and 1 in one zmm (A), 2 and 3 in another (B), one vpermt2b per 16 columns
         * (byte 4 j + t of the output: t = 0, 1 from A's halves, 2, 3 from B's): 10 instructions per 32 columns
         * where the 16-column unpacks below take 32 (packing was a third of i8_conv's time in det) */
        __m512i idx0 = _mm512_setr_epi32(0x60402000, 0x61412101, 0x62422202, 0x63432303, 0x64442404, 0x65452505,
                                         0x66462606, 0x67472707, 0x68482808, 0x69492909, 0x6A4A2A0A, 0x6B4B2B0B,
                                         0x6C4C2C0C, 0x6D4D2D0D, 0x6E4E2E0E, 0x6F4F2F0F);
        const __m512i idx1 = _mm512_add_epi8(idx0, _mm512_set1_epi8(16));
        for (int64_t i = 0; i < len; i += 32) {
            const int64_t l = len - i < 32 ? len - i : 32;
            const __mmask32 mk = l == 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << l) - 1);
            const __m512i A = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_maskz_loadu_epi8(mk, s0 + i)),
                                                 _mm256_maskz_loadu_epi8(mk, s1 + i), 1);
            const __m512i B = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_maskz_loadu_epi8(mk, s2 + i)),
                                                 _mm256_maskz_loadu_epi8(mk, s3 + i), 1);
            const __m512i v0 = _mm512_permutex2var_epi8(A, idx0, B);
            if (l >= 16) _mm512_storeu_si512(dst + 4 * i, v0);
            else _mm512_mask_storeu_epi8(dst + 4 * i, (__mmask64)((1ull << (4 * l)) - 1), v0);
            if (l > 16) {
                const __m512i v1 = _mm512_permutex2var_epi8(A, idx1, B);
                if (l == 32) _mm512_storeu_si512(dst + 4 * i + 64, v1);
                else _mm512_mask_storeu_epi8(dst + 4 * i + 64, (__mmask64)((1ull << (4 * (l - 16))) - 1), v1);
            }
        }
        return;
    }
    for (int64_t i = 0; i < len; i += 16) {
        const int64_t l = len - i < 16 ? len - i : 16;
        __m128i a, b, c, d;
        if (sw == 1) {
            const __mmask16 mk = (__mmask16)((1u << l) - 1);
            a = _mm_maskz_loadu_epi8(mk, s0 + i), b = _mm_maskz_loadu_epi8(mk, s1 + i);
            c = _mm_maskz_loadu_epi8(mk, s2 + i), d = _mm_maskz_loadu_epi8(mk, s3 + i);
        } else if (sw == 2) {
            /* the even bytes of 2l - 1: words truncated to their low byte (vpmovwb) */
            const __mmask32 mk = (__mmask32)((1ull << (2 * l - 1)) - 1);
            a = _mm256_cvtepi16_epi8(_mm256_maskz_loadu_epi8(mk, s0 + 2 * i));
            b = _mm256_cvtepi16_epi8(_mm256_maskz_loadu_epi8(mk, s1 + 2 * i));
            c = _mm256_cvtepi16_epi8(_mm256_maskz_loadu_epi8(mk, s2 + 2 * i));
            d = _mm256_cvtepi16_epi8(_mm256_maskz_loadu_epi8(mk, s3 + 2 * i));
        } else {
            uint8_t t[4][16] = {{0}};
            for (int64_t j = 0; j < l; j++) {
                const int64_t o = (i + j) * sw;
                t[0][j] = s0[o], t[1][j] = s1[o], t[2][j] = s2[o], t[3][j] = s3[o];
            }
            a = _mm_loadu_si128((const void *)t[0]), b = _mm_loadu_si128((const void *)t[1]);
            c = _mm_loadu_si128((const void *)t[2]), d = _mm_loadu_si128((const void *)t[3]);
        }
        const __m128i ab0 = _mm_unpacklo_epi8(a, b), ab1 = _mm_unpackhi_epi8(a, b);
        const __m128i cd0 = _mm_unpacklo_epi8(c, d), cd1 = _mm_unpackhi_epi8(c, d);
        __m512i v = _mm512_castsi128_si512(_mm_unpacklo_epi16(ab0, cd0));
        v = _mm512_inserti32x4(v, _mm_unpackhi_epi16(ab0, cd0), 1);
        v = _mm512_inserti32x4(v, _mm_unpacklo_epi16(ab1, cd1), 2);
        v = _mm512_inserti32x4(v, _mm_unpackhi_epi16(ab1, cd1), 3);
        if (l == 16) _mm512_storeu_si512(dst + 4 * i, v);
        else _mm512_mask_storeu_epi8(dst + 4 * i, (__mmask64)((1ull << (4 * l)) - 1), v);
    }
}

/* Kernels 3 to 17 wide, stride and dilation 1 along the row: tap k = (c, ky, kx) reads row (c, ky) from column kx
 * on, and the 4 taps of a k-group lie in at most two such rows (a row holds 3 or more). So each run loads the two
 * rows' len + KW - 1 codes once (A, B; at most 64) and one vpermt2b per 16 columns makes the group's dwords: byte
 * 4 j + t = code j + kx_t of tap t's row (B's from byte 64). About 8 instructions a k-group per 48 columns where
 * i8c_interleave's are 18, and one row load where it loads every tap (det's 3 x 3 INT8 layers). The last
 * k-group, whose taps may pass K, goes the general way.
 *
 * What a k-group reads does not depend on the columns, so the table of it is made once a call (i8c_rows_init,
 * into the panel's bytes past [Kq/4][NB][4]): the rows' plane offsets (b < 0: one row) and the taps' bytes
 * 64 sel + kx. Made per block instead, it cost det's 96 -> 24 3x3 layer 3.35-3.42 ms against 3.05-3.20. */
typedef struct {
    int32_t a, b; /* C * PH * PW < 2^31 (i8c_wide) */
    uint32_t o;
    uint32_t pad;
} i8c_row;

static int i8c_wide(const teq_i8conv *g) {
    return g->KW >= 3 && g->KW <= 17 && g->SW == 1 && g->DW == 1 && !g->deint && g->C * g->PH * g->PW < INT32_MAX;
}

/* the table of k-groups 0 .. n-1 (those whose 4 taps are all < K); returns n. Row offsets stepped, no divisions */
static int64_t i8c_rows_init(const teq_kw *w, const teq_i8conv *g, i8c_row *t) {
    const int64_t K = w->K, KW = g->KW, plane = g->PH * g->PW, rowstep = g->DH * g->PW;
    int64_t kg = 0, row = 0; /* tap 4 kg's row offset */
    int kx = 0, ky = 0;
    for (; 4 * kg + 3 < K; kg++) {
        const int64_t offA = row;
        int64_t offB = -1;
        uint32_t o = 0;
        for (int u = 0; u < 4; u++) {
            const int sel = row != offA;
            if (sel) offB = row;
            o |= (uint32_t)(64 * sel + kx) << (8 * u);
            if (++kx == KW) { /* the next row: (c, ky + 1), or (c + 1, 0) */
                kx = 0;
                if (++ky == g->KH) ky = 0, row += plane - (g->KH - 1) * rowstep;
                else row += rowstep;
            }
        }
        t[kg] = (i8c_row){(int32_t)offA, (int32_t)offB, o, 0};
    }
    return kg;
}

static I8C_ATTR void i8c_pack_wide(const teq_i8conv *g, const uint8_t *Q, const conv_runs *r, const i8c_row *t,
                                   int64_t nkg, uint8_t *panel) {
    /* byte 4 j + t: j */
    const __m512i J = _mm512_setr_epi32(0x00000000, 0x01010101, 0x02020202, 0x03030303, 0x04040404, 0x05050505,
                                        0x06060606, 0x07070707, 0x08080808, 0x09090909, 0x0A0A0A0A, 0x0B0B0B0B,
                                        0x0C0C0C0C, 0x0D0D0D0D, 0x0E0E0E0E, 0x0F0F0F0F);
    for (int64_t kg = 0; kg < nkg; kg++) {
        const __m512i idx = _mm512_add_epi8(J, _mm512_set1_epi32((int32_t)t[kg].o));
        uint8_t *dst = panel + kg * (TEQ_I8C_NB * 4);
        for (int i = 0; i < r->n; i++) {
            const int64_t len = r->rlen[i];
            const __mmask64 mk = len + g->KW - 1 >= 64 ? ~(__mmask64)0 : (__mmask64)((1ull << (len + g->KW - 1)) - 1);
            const __m512i A = _mm512_maskz_loadu_epi8(mk, Q + t[kg].a + r->roff[i]);
            const __m512i B = t[kg].b >= 0 ? _mm512_maskz_loadu_epi8(mk, Q + t[kg].b + r->roff[i]) : A;
            for (int64_t j = 0; j < len; j += 16) {
                const __m512i v = _mm512_permutex2var_epi8(A, _mm512_add_epi8(idx, _mm512_set1_epi8((char)j)), B);
                const int64_t cols = len - j < 16 ? len - j : 16;
                uint8_t *d = dst + 4 * (r->rj[i] + j);
                if (cols == 16) _mm512_storeu_si512(d, v);
                else _mm512_mask_storeu_epi8(d, (__mmask64)((1ull << (4 * cols)) - 1), v);
            }
        }
    }
}

/* Pack output columns n0 .. n0+nb-1 (nb <= NB) into the panel: each k-group interleaves its four taps'
 * rows run by run (the first nkg of them by i8c_pack_wide from table t, where the kernel has one). */
static I8C_ATTR void i8c_pack(const teq_kw *w, const teq_i8conv *g, const uint8_t *Q, int64_t n0, int64_t nb,
                              const i8c_row *t, int64_t nkg, uint8_t *panel) {
    conv_runs r;
    conv_runs_of(g, n0, nb, &r);
    const int64_t *rj = r.rj, *roff = r.roff, *rlen = r.rlen;
    const int nr = r.n;
    const int64_t K = w->K, kg0 = t ? nkg : 0;
    if (t) i8c_pack_wide(g, Q, &r, t, nkg, panel);
    const int64_t k0 = 4 * kg0, kk = g->KH * g->KW; /* the tap the general way starts from */
    conv_tap tap = {k0 / kk, k0 % kk / g->KW, k0 % g->KW};
    for (int64_t kg = kg0; kg < w->Kq / 4; kg++) {
        const uint8_t *src[4];
        for (int t = 0; t < 4; t++) {
            /* k past K: any tap will do (its weights are 0); 4 kg < K always */
            const int64_t off = conv_tap_next(g, &tap);
            src[t] = 4 * kg + t < K ? Q + off : src[0];
        }
        uint8_t *dst = panel + kg * (TEQ_I8C_NB * 4);
        for (int i = 0; i < nr; i++)
            i8c_interleave(dst + 4 * rj[i], src[0] + roff[i], src[1] + roff[i], src[2] + roff[i], src[3] + roff[i],
                           rlen[i], g->SW);

    }
}

/* The rows m0 + r < M and columns j < nb of a block's int32 sums to floats:
 * y = fl(fl((scale[m] * xscale) * (float)(sum - zp * rowsum[m])) + bias[m]) (rowsum NULL: no zero point).
 * The rounding-mode forms are builtins the compiler cannot contract into an FMA. */
INLINE void conv_epilogue(__m512i acc[TEQ_I8C_MR][3], int64_t m0, int64_t M, const float *scale, const int32_t *rowsum,
                          int32_t zp, float xscale, const float *bias, float *Y, int64_t ldy, int64_t nb, const int C) {
    const int64_t rows = M - m0 < TEQ_I8C_MR ? M - m0 : TEQ_I8C_MR;
    _Pragma("GCC unroll 8") for (int r = 0; r < TEQ_I8C_MR; r++) {
        if (r >= rows) break;
        const int64_t m = m0 + r;
        const __m512 sc = _mm512_set1_ps(scale[m] * xscale);
        const __m512i cz = _mm512_set1_epi32(rowsum ? zp * rowsum[m] : 0);
        _Pragma("GCC unroll 3") for (int c = 0; c < C; c++) {
            __m512 v = _mm512_mul_round_ps(sc, _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][c], cz)),
                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            if (bias)
                v = _mm512_add_round_ps(v, _mm512_set1_ps(bias[m]), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            const int64_t left = nb - 16 * c;
            float *y = Y + m * ldy + 16 * c;
            if (left >= 16) _mm512_storeu_ps(y, v);
            else _mm512_mask_storeu_ps(y, (__mmask16)((1u << left) - 1), v);
        }
    }
}

/* rows r of block mb (8 rows, zero-padded) x C zmm of 16 columns, over all k-groups; then the epilogue
 * for the rows that exist (m < M) and the columns that exist (j < nb) */
INLINE I8C_ATTR void i8c_block(const teq_kw *w, const uint8_t *P, int64_t mb, int64_t nb, int32_t zp, float xscale,
                               const float *bias, float *Y, int64_t ldy, const int C) {
    __m512i acc[TEQ_I8C_MR][3];
    _Pragma("GCC unroll 8") for (int r = 0; r < TEQ_I8C_MR; r++) _Pragma("GCC unroll 3") for (int c = 0; c < C; c++)
        acc[r][c] = _mm512_setzero_si512();
    const int8_t *Wp = w->q8p + mb * w->Kq * TEQ_I8C_MR;
    const int64_t nkg = w->Kq / 4;
    for (int64_t kg = 0; kg < nkg; kg++) {
        __m512i a[3];
        _Pragma("GCC unroll 3") for (int c = 0; c < C; c++) a[c] = _mm512_loadu_si512(P + kg * (TEQ_I8C_NB * 4) + 64 * c);
        const int8_t *wk = Wp + kg * (TEQ_I8C_MR * 4);
        _Pragma("GCC unroll 8") for (int r = 0; r < TEQ_I8C_MR; r++) {
            int32_t wv;
            memcpy(&wv, wk + 4 * r, 4);
            const __m512i b = _mm512_set1_epi32(wv);
            _Pragma("GCC unroll 3") for (int c = 0; c < C; c++) acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], a[c], b);
        }
    }
    conv_epilogue(acc, mb * TEQ_I8C_MR, w->M, w->scale, w->q8_rowsum, zp, xscale, bias, Y, ldy, nb, C);
}

static I8C_ATTR void i8_conv_vnni(const teq_kw *w, const teq_i8conv *g, const uint8_t *Q, int32_t zp, float xscale,
                                  const float *bias, float *Y, int64_t ldy, int64_t n0, int64_t n1, uint8_t *panel,
                                  const teq_kpost *post) {
    const int64_t Mb = (w->M + TEQ_I8C_MR - 1) / TEQ_I8C_MR;
    /* the k-groups' table past the panel (kernels.h TEQ_I8C_PANEL_BYTES: 16 bytes a k-group fit in NB Kq) */
    i8c_row *t = i8c_wide(g) ? (i8c_row *)(void *)(panel + TEQ_I8C_NB * w->Kq) : NULL;
    const int64_t nkg = t ? i8c_rows_init(w, g, t) : 0;
    for (int64_t nc = n0; nc < n1; nc += TEQ_I8C_NB) {
        const int64_t nb = n1 - nc < TEQ_I8C_NB ? n1 - nc : TEQ_I8C_NB;
        i8c_pack(w, g, Q, nc, nb, t, nkg, panel);
        float *Yb = Y + (nc - n0);
        for (int64_t mb = 0; mb < Mb; mb++) {
            if (nb > 32) i8c_block(w, panel, mb, nb, zp, xscale, bias, Yb, ldy, 3);
            else if (nb > 16) i8c_block(w, panel, mb, nb, zp, xscale, bias, Yb, ldy, 2);
            else i8c_block(w, panel, mb, nb, zp, xscale, bias, Yb, ldy, 1);
        }
        if (post) post->fn(post->user, Yb, ldy, w->M, nc, nc + nb);
    }
}

/* ---- integer lanes (kernels.h, i16_conv), VNNI ----
 * The i8_conv scheme with int16: a panel of [K2/2][48][2] (one dword per column and pair of k), the
 * weights of 8 rows at a pair of k as 8 dwords, vpdpwssd (two int16 products summed into each int32). */

/* dst[2 i + t] = s_t[i * sw] for i < len: two tap rows of int16 interleaved, 8 columns a step */
INLINE void i16c_interleave(int16_t *dst, const int16_t *s0, const int16_t *s1, int64_t len, int64_t sw) {
    for (int64_t i = 0; i < len; i += 8) {
        const int64_t l = len - i < 8 ? len - i : 8;
        __m128i a, b;
        if (sw == 1) {
            const __mmask8 mk = (__mmask8)((1u << l) - 1);
            a = _mm_maskz_loadu_epi16(mk, s0 + i), b = _mm_maskz_loadu_epi16(mk, s1 + i);
        } else if (sw == 2) {
            /* the even int16 of 2l - 1: dwords truncated to their low word (vpmovdw) */
            const __mmask16 mk = (__mmask16)((1u << (2 * l - 1)) - 1);
            a = _mm256_cvtepi32_epi16(_mm256_maskz_loadu_epi16(mk, s0 + 2 * i));
            b = _mm256_cvtepi32_epi16(_mm256_maskz_loadu_epi16(mk, s1 + 2 * i));
        } else {
            int16_t t[2][8] = {{0}};
            for (int64_t j = 0; j < l; j++) t[0][j] = s0[(i + j) * sw], t[1][j] = s1[(i + j) * sw];
            a = _mm_loadu_si128((const void *)t[0]), b = _mm_loadu_si128((const void *)t[1]);
        }
        const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi16(a, b)),
                                                  _mm_unpackhi_epi16(a, b), 1);
        if (l == 8) _mm256_storeu_si256((void *)(dst + 2 * i), v);
        else _mm256_mask_storeu_epi16(dst + 2 * i, (__mmask16)((1u << (2 * l)) - 1), v);
    }
}

static void i16c_pack(const teq_kw16 *w, const teq_i8conv *g, const int16_t *Q, int64_t n0, int64_t nb,
                      int16_t *panel) {
    conv_runs r;
    conv_runs_of(g, n0, nb, &r);
    conv_tap tap = {0, 0, 0};
    for (int64_t kg = 0; kg < w->K2 / 2; kg++) {
        const int16_t *src[2];
        for (int t = 0; t < 2; t++) {
            const int64_t off = conv_tap_next(g, &tap);
            src[t] = 2 * kg + t < w->K ? Q + off : src[0];
        }
        int16_t *dst = panel + kg * (TEQ_I8C_NB * 2);
        for (int i = 0; i < r.n; i++)
            i16c_interleave(dst + 2 * r.rj[i], src[0] + r.roff[i], src[1] + r.roff[i], r.rlen[i], g->SW);
    }
}

INLINE I8C_ATTR void i16c_block(const teq_kw16 *w, const int16_t *P, int64_t mb, int64_t nb, float xscale,
                                const float *bias, float *Y, int64_t ldy, const int C) {
    __m512i acc[TEQ_I8C_MR][3];
    _Pragma("GCC unroll 8") for (int r = 0; r < TEQ_I8C_MR; r++) _Pragma("GCC unroll 3") for (int c = 0; c < C; c++)
        acc[r][c] = _mm512_setzero_si512();
    const int16_t *Wp = w->p + mb * w->K2 * TEQ_I8C_MR;
    const int64_t nkg = w->K2 / 2;
    for (int64_t kg = 0; kg < nkg; kg++) {
        __m512i a[3];
        _Pragma("GCC unroll 3") for (int c = 0; c < C; c++) a[c] = _mm512_loadu_si512(P + kg * (TEQ_I8C_NB * 2) + 32 * c);
        const int16_t *wk = Wp + kg * (TEQ_I8C_MR * 2);
        _Pragma("GCC unroll 8") for (int r = 0; r < TEQ_I8C_MR; r++) {
            int32_t wv;
            memcpy(&wv, wk + 2 * r, 4);
            const __m512i b = _mm512_set1_epi32(wv);
            _Pragma("GCC unroll 3") for (int c = 0; c < C; c++) acc[r][c] = _mm512_dpwssd_epi32(acc[r][c], a[c], b);
        }
    }
    conv_epilogue(acc, mb * TEQ_I8C_MR, w->M, w->scale, NULL, 0, xscale, bias, Y, ldy, nb, C);
}

static I8C_ATTR void i16_conv_vnni(const teq_kw16 *w, const teq_i8conv *g, const int16_t *Q, float xscale,
                                   const float *bias, float *Y, int64_t ldy, int64_t n0, int64_t n1, int16_t *panel,
                                   const teq_kpost *post) {
    const int64_t Mb = (w->M + TEQ_I8C_MR - 1) / TEQ_I8C_MR;
    for (int64_t nc = n0; nc < n1; nc += TEQ_I8C_NB) {
        const int64_t nb = n1 - nc < TEQ_I8C_NB ? n1 - nc : TEQ_I8C_NB;
        i16c_pack(w, g, Q, nc, nb, panel);
        float *Yb = Y + (nc - n0);
        for (int64_t mb = 0; mb < Mb; mb++) {
            if (nb > 32) i16c_block(w, panel, mb, nb, xscale, bias, Yb, ldy, 3);
            else if (nb > 16) i16c_block(w, panel, mb, nb, xscale, bias, Yb, ldy, 2);
            else i16c_block(w, panel, mb, nb, xscale, bias, Yb, ldy, 1);
        }
        if (post) post->fn(post->user, Yb, ldy, w->M, nc, nc + nb);
    }
}

/* codes to int16 through a 256-entry table in eight registers: vpermi2w picks from 64 entries by the low 6
 * bits, once per quarter; bits 6 and 7 choose the quarter */
void teq_k_map_i16_avx512(const int16_t lut[256], const uint8_t *c, int64_t n, int16_t *out) {
    __m512i t[8];
    for (int i = 0; i < 8; i++) t[i] = _mm512_loadu_si512(lut + 32 * i);
    for (int64_t i = 0; i < n; i += 32) {
        const __mmask32 m = n - i >= 32 ? ~(__mmask32)0 : (((__mmask32)1 << (n - i)) - 1);
        const __m512i v = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, c + i));
        const __m512i q0 = _mm512_permutex2var_epi16(t[0], v, t[1]), q1 = _mm512_permutex2var_epi16(t[2], v, t[3]);
        const __m512i q2 = _mm512_permutex2var_epi16(t[4], v, t[5]), q3 = _mm512_permutex2var_epi16(t[6], v, t[7]);
        const __mmask32 b6 = _mm512_test_epi16_mask(v, _mm512_set1_epi16(64)), b7 = _mm512_test_epi16_mask(v, _mm512_set1_epi16(128));
        const __m512i r = _mm512_mask_blend_epi16(b7, _mm512_mask_blend_epi16(b6, q0, q1), _mm512_mask_blend_epi16(b6, q2, q3));
        _mm512_mask_storeu_epi16(out + i, m, r);
    }
}

/* codes to bytes through a 256-entry table in four registers: vpermi2b picks from 128 entries by the low 7
 * bits, once per half; bit 7 chooses the half */
void teq_k_map_u8_avx512(const uint8_t lut[256], const uint8_t *c, int64_t n, uint8_t *out) {
    const __m512i t0 = _mm512_loadu_si512(lut), t1 = _mm512_loadu_si512(lut + 64), t2 = _mm512_loadu_si512(lut + 128),
                  t3 = _mm512_loadu_si512(lut + 192);
    for (int64_t i = 0; i < n; i += 64) {
        const __mmask64 m = n - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1);
        const __m512i v = _mm512_maskz_loadu_epi8(m, c + i);
        const __m512i lo = _mm512_permutex2var_epi8(t0, v, t1), hi = _mm512_permutex2var_epi8(t2, v, t3);
        _mm512_mask_storeu_epi8(out + i, m, _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), lo, hi));
    }
}

/* ---- FP32 convolution (kernels.h, f32_conv), AVX-512 ----
 * AVX2's scheme (avx2.c) on 16 lanes, in the same driver (kint.h TEQ_F32C_DRIVER_BODY): the same packed
 * weights [M/6][K][6], the same panel [KC][48] or direct reads (kint.h f32c_direct decides for both sets, so
 * that teq_k_f32_conv_deint_ok holds for either), one 6 x 48 block of 18 zmm accumulators over a row block's
 * columns (3 panel loads and 6 broadcasts for 18 FMAs a k; AVX2's 6 x 16 has 12 for 2 loads and 6
 * broadcasts). Every output is the same FMA chain over k in the same order, then the same bias addition and
 * activation, as AVX2's: the two sets give the same bits (test_kernels checks it). The last vector of a
 * block of fewer than 48 columns is masked on every load and store (no buffer: Intel's masked stores cost
 * what plain ones do). */

/* dst[i] = s[i * sw] for i < len (len <= 48) */
INLINE void f32c512_copy(float *dst, const float *s, int64_t len, int64_t sw) {
    int64_t i = 0;
    if (sw == 1) {
        for (; i + 16 <= len; i += 16) _mm512_storeu_ps(dst + i, _mm512_loadu_ps(s + i));
        if (i < len) {
            const __mmask16 m = (__mmask16)((1u << (len - i)) - 1);
            _mm512_mask_storeu_ps(dst + i, m, _mm512_maskz_loadu_ps(m, s + i));
        }
        return;
    }
    if (sw == 2) {
        /* the even floats of 32, while the 32nd (s[2i + 31]) is inside the row (i + 16 < len) */
        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        for (; i + 16 < len; i += 16)
            _mm512_storeu_ps(dst + i, _mm512_permutex2var_ps(_mm512_loadu_ps(s + 2 * i), even, _mm512_loadu_ps(s + 2 * i + 16)));
    }
    for (; i < len; i++) dst[i] = s[i * sw];
}

/* R rows (6, 4 or 2; `rows` <= R exist, the pack's rows past M are 0) of row block mb, the block's nb columns
 * in C vectors (the last one masked by tm), taps k0 .. k0+kc-1 from the panel P (D = 0) or where they lie,
 * tap k's row at Xd + toff[k] (D = 1). first: start from 0, else from Y; bias and act: the last slice. */
INLINE void f32c512_block(const teq_kwf *w, const float *P, const float *Xd, const int32_t *toff, int64_t k0,
                          int64_t kc, int64_t mb, int rows, __mmask16 tm, int first, const float *bias,
                          const teq_kpost *act, float *Y, int64_t ldy, const int R, const int C, const int D) {
    const int64_t m0 = mb * TEQ_F32C_MR;
    __m512 acc[6][3];
    _Pragma("GCC unroll 6") for (int r = 0; r < R; r++) _Pragma("GCC unroll 3") for (int c = 0; c < C; c++) {
        const float *y = Y + (m0 + r) * ldy + 16 * c;
        const __mmask16 m = c == C - 1 ? tm : (__mmask16)0xFFFF;
        acc[r][c] = first || r >= rows ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m, y);
    }
    const float *Wp = w->p + (mb * w->K + k0) * TEQ_F32C_MR;
    const int32_t *tk = toff + k0;
    for (int64_t k = 0; k < kc; k++) {
        __m512 a[3];
        const float *pk = D ? Xd + tk[k] : P + k * TEQ_I8C_NB;
        _Pragma("GCC unroll 3") for (int c = 0; c < C; c++) a[c] =
            c == C - 1 ? _mm512_maskz_loadu_ps(tm, pk + 16 * c) : _mm512_loadu_ps(pk + 16 * c);
        const float *wk = Wp + k * TEQ_F32C_MR;
        _Pragma("GCC unroll 6") for (int r = 0; r < R; r++) {
            const __m512 b = _mm512_set1_ps(wk[r]);
            _Pragma("GCC unroll 3") for (int c = 0; c < C; c++) acc[r][c] = _mm512_fmadd_ps(a[c], b, acc[r][c]);
        }
    }
    /* as AVX2's: the bound first in max and min, so NaN and equal values give y; Relu's NaN gives 0 */
    const __m512 alo = _mm512_set1_ps(act ? act->lo : 0.0f), ahi = _mm512_set1_ps(act ? act->hi : 0.0f);
    _Pragma("GCC unroll 6") for (int r = 0; r < R; r++) {
        if (r >= rows) break;
        const __m512 bv = _mm512_set1_ps(bias ? bias[m0 + r] : 0.0f);
        _Pragma("GCC unroll 3") for (int c = 0; c < C; c++) {
            __m512 v = bias ? _mm512_add_ps(acc[r][c], bv) : acc[r][c];
            if (act && act->act == TEQ_KACT_RELU) v = _mm512_max_ps(v, _mm512_setzero_ps());
            else if (act) v = _mm512_min_ps(ahi, _mm512_max_ps(alo, v));
            _mm512_mask_storeu_ps(Y + (m0 + r) * ldy + 16 * c, c == C - 1 ? tm : (__mmask16)0xFFFF, v);
        }
    }
}

INLINE void f32c512_rows(const teq_kwf *w, const float *P, const float *Xd, const int32_t *toff, int64_t k0,
                         int64_t kc, int64_t mb, int rows, int64_t nb, int first, const float *bias,
                         const teq_kpost *act, float *Y, int64_t ldy, const int R, const int D) {
    const int64_t rem = nb - 16 * ((nb - 1) / 16); /* columns of the last vector, 1..16 */
    const __mmask16 tm = (__mmask16)((1u << rem) - 1);
    if (nb > 32) f32c512_block(w, P, Xd, toff, k0, kc, mb, rows, tm, first, bias, act, Y, ldy, R, 3, D);
    else if (nb > 16) f32c512_block(w, P, Xd, toff, k0, kc, mb, rows, tm, first, bias, act, Y, ldy, R, 2, D);
    else f32c512_block(w, P, Xd, toff, k0, kc, mb, rows, tm, first, bias, act, Y, ldy, R, 1, D);
}

INLINE void f32c512_slice(const teq_kwf *w, const float *P, const float *Xd, const int32_t *toff, int64_t k0,
                          int64_t kc, int64_t nb, int first, const float *bias, const teq_kpost *act, float *Y,
                          int64_t ldy, int64_t mb0, int64_t mb1, const int D) {
    for (int64_t mb = mb0; mb < mb1; mb++) {
        const int rows = (int)(w->M - mb * TEQ_F32C_MR < TEQ_F32C_MR ? w->M - mb * TEQ_F32C_MR : TEQ_F32C_MR);
        if (rows > 4) f32c512_rows(w, P, Xd, toff, k0, kc, mb, rows, nb, first, bias, act, Y, ldy, 6, D);
        else if (rows > 2) f32c512_rows(w, P, Xd, toff, k0, kc, mb, rows, nb, first, bias, act, Y, ldy, 4, D);
        else f32c512_rows(w, P, Xd, toff, k0, kc, mb, rows, nb, first, bias, act, Y, ldy, 2, D);
    }
}

/* kint.h's driver with this file's slices. Outputs that leave the caches (more than this core's 2 MiB of L2
 * hold): a column block writes M rows of 48 floats, M streams ldy apart that the hardware prefetchers do not
 * follow, each line's first store a miss to memory; so the next block's lines are prefetched (prefetcht0:
 * prefetchw was slower) while this one computes (measured on M-LSD's 16 -> 96 layer at 160 x 160: 9.8 MB of
 * outputs, 16 FMAs each; DECISIONS, eleventh round). That layer and the other 1x1 ones now take the driver's
 * chunks, whose stores go to 6 rows at a time, without it; it serves the other paths' large outputs (M-LSD's
 * first layer, 3.3 MB), not measured again there. */
static void f32_conv_mv512(const teq_kwf *w, const teq_i8conv *g, const float *X, const float *bias, float *Y,
                           int64_t ldy, int64_t n0, int64_t n1, float *panel, const teq_kpost *post);
static void f32_conv_avx512(const teq_kwf *w, const teq_i8conv *g, const float *X, const float *bias, float *Y,
                            int64_t ldy, int64_t n0, int64_t n1, float *panel, const teq_kpost *post) {
    if (w->mv) {
        f32_conv_mv512(w, g, X, bias, Y, ldy, n0, n1, panel, post);
        return;
    }
    TEQ_F32C_DRIVER_BODY(f32c512_slice, f32c512_copy, 2 << 20)
}

/* ---- FP32 convolution, output channels in the vectors (kernels.h, teq_kwf.mv) ----
 * The weights [ceil(M / MB)][K][W] (MB = TEQ_F32C_MV_MB = 64 = W, the last block's W = its rows rounded up
 * to 16, rows past M 0): at each tap k, the weights of up to 64 output channels as V <= 4 vectors (loaded
 * unaligned: a dec pack decodes into scratch). A block of V x J
 * accumulators (V = 4: 4 x 6) holds J output pixels of one output row for 16 V channels; per tap it loads V
 * weight vectors and broadcasts J input floats, each a plain 4-byte load wherever it lies. The 6 x 48 block
 * of the [M/6][K][6] layout above loads 3 vectors of inputs per tap instead, at offsets the taps shift by
 * one float, so nearly every one of them splits across two cache lines; on M-LSD's 64 -> 64 3x3 layers at
 * 80 x 80 that kernel ran at 71 GMAC/s, this one at 83 before its stores (DECISIONS, thirteenth round).
 * The broadcasts take any column stride, so stride 2 needs no deinterleaved rows (they work too: the
 * column step is then 1). Each output is the same FMA chain over k in order, then the bias and the
 * activation, as in every other body of f32_conv: the same bits. The finished pixels of a segment of an
 * output row (TEQ_F32C_MV_NS pixels at most) wait in a tile [pixel][MV_MB] (after the taps' offsets in the
 * caller's panel) and go to Y by 16 x 16 register transposes. */
enum { MV_NS = TEQ_F32C_MV_NS, MV_MB = TEQ_F32C_MV_MB };
_Static_assert(MV_MB == 64, "the kernel's blocks are 4 vectors of 16 channels");

INLINE void mv_group(const float *pb, int64_t K, int64_t Wb, const float *x0, int64_t sx, const int32_t *toff,
                     const float *bias, __mmask16 tail, const teq_kpost *act, float *part, const int V, const int J,
                     const int SX) {
    if (SX) sx = SX; /* strides 1 and 2 as constants: the broadcasts' offsets fold into their addresses */
    __m512 acc[4][12];
    _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) _Pragma("GCC unroll 12") for (int j = 0; j < 12; j++) if (v < V && j < J)
        acc[v][j] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k++) {
        const float *x = x0 + toff[k];
        __asm__("" : "+r"(x)); /* one pointer, the broadcasts at fixed offsets from it (GCC otherwise keeps an index
                                  register per pixel and adds it to toff[k] before each one) */
        const float *wk = pb + k * Wb;
        __m512 wv[4];
        _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) if (v < V) wv[v] = _mm512_loadu_ps(wk + 16 * v);
        _Pragma("GCC unroll 12") for (int j = 0; j < 12; j++) if (j < J) {
            const __m512 b = _mm512_set1_ps(x[j * sx]);
            _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) if (v < V) acc[v][j] = _mm512_fmadd_ps(wv[v], b, acc[v][j]);
        }
    }
    /* as f32c512_block: the bias, then the bound first in max and min (NaN and equal values give y; Relu's NaN 0) */
    const __m512 alo = _mm512_set1_ps(act ? act->lo : 0.0f), ahi = _mm512_set1_ps(act ? act->hi : 0.0f);
    _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) if (v < V) {
        const __mmask16 m = v == V - 1 ? tail : (__mmask16)0xFFFF;
        const __m512 bv = bias ? _mm512_maskz_loadu_ps(m, bias + 16 * v) : _mm512_setzero_ps();
        _Pragma("GCC unroll 12") for (int j = 0; j < 12; j++) if (j < J) {
            __m512 y = bias ? _mm512_add_ps(acc[v][j], bv) : acc[v][j];
            if (act && act->act == TEQ_KACT_RELU) y = _mm512_max_ps(y, _mm512_setzero_ps());
            else if (act) y = _mm512_min_ps(ahi, _mm512_max_ps(alo, y));
            _mm512_store_ps(part + j * MV_MB + 16 * v, y);
        }
    }
}

/* pixels 0 .. ns-1 of a segment, J at a time, the last 1 .. J-1 by a block of their own */
#define MV_REST(V, J, SX, r)                                                                                               \
    switch (r) {                                                                                                       \
    case 1: mv_group(pb, K, Wb, x0, sx, toff, bb, tail, act, part, V, 1, SX); break;                                       \
    case 2: mv_group(pb, K, Wb, x0, sx, toff, bb, tail, act, part, V, 2, SX); break;                                       \
    case 3: mv_group(pb, K, Wb, x0, sx, toff, bb, tail, act, part, V, 3, SX); break;                                       \
    case 4: if (J > 4) mv_group(pb, K, Wb, x0, sx, toff, bb, tail, act, part, V, J > 4 ? 4 : 1, SX); break;                \
    case 5: if (J > 5) mv_group(pb, K, Wb, x0, sx, toff, bb, tail, act, part, V, J > 5 ? 5 : 1, SX); break;                \
    case 6: if (J > 6) mv_group(pb, K, Wb, x0, sx, toff, bb, tail, act, part, V, J > 6 ? 6 : 1, SX); break;                \
    case 7: if (J > 7) mv_group(pb, K, Wb, x0, sx, toff, bb, tail, act, part, V, J > 7 ? 7 : 1, SX); break;                \
    case 8: if (J > 8) mv_group(pb, K, Wb, x0, sx, toff, bb, tail, act, part, V, J > 8 ? 8 : 1, SX); break;                \
    case 9: if (J > 9) mv_group(pb, K, Wb, x0, sx, toff, bb, tail, act, part, V, J > 9 ? 9 : 1, SX); break;                \
    case 10: if (J > 10) mv_group(pb, K, Wb, x0, sx, toff, bb, tail, act, part, V, J > 10 ? 10 : 1, SX); break;           \
    case 11: if (J > 11) mv_group(pb, K, Wb, x0, sx, toff, bb, tail, act, part, V, J > 11 ? 11 : 1, SX); break;           \
    }

/* The output lines of the next segment, prefetched (prefetchw) a few after each group: Y's rows are M streams
 * ldy apart, more than the hardware prefetchers follow, and without this its lines arrive only as the
 * transposition stores to them (M-LSD's 64 -> 64 layers at 80 x 80: the stores to Y took 10% of the time)
 * Prefetching the next segment's input rows as well was slower. */
typedef struct {
    const float *y;       /* the next segment's first output, NULL: none */
    int64_t ldy, L, n, q; /* lines per channel row, lines left, how many after each group */
    int64_t r, l;         /* the next line: channel row r, line l of it */
} mv_pf;

INLINE void mv_pf_step(mv_pf *pf) {
    if (!pf->y) return;
    for (int64_t e = 0; e < pf->q && pf->n > 0; e++, pf->n--) {
        __builtin_prefetch(pf->y + pf->r * pf->ldy + 16 * pf->l, 1, 3);
        if (++pf->l == pf->L) pf->l = 0, pf->r++;
    }
}

INLINE void mv_segment(const float *pb, int64_t K, int64_t Wb, const float *xr, int64_t sx, const int32_t *toff,
                       const float *bb, __mmask16 tail, const teq_kpost *act, float *tile, int64_t ns, mv_pf *pf,
                       const int V, const int J, const int SX) {
    int64_t j = 0;
    for (; j + J <= ns; j += J) {
        mv_group(pb, K, Wb, xr + j * sx, sx, toff, bb, tail, act, tile + j * MV_MB, V, J, SX);
        mv_pf_step(pf);
    }
    if (j < ns) {
        const float *x0 = xr + j * sx;
        float *part = tile + j * MV_MB;
        MV_REST(V, J, SX, ns - j)
    }
}

/* t: 16 rows of the tile (pixels, MV_MB floats apart) of 16 channels; y: nch rows of Y (channels, ldy apart),
 * the pixels of mask pm of each */
INLINE void mv_transpose16(const float *t, float *y, int64_t ldy, int64_t nch, __mmask16 pm) {
    __m512 r[16], u[16];
    _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) r[i] = _mm512_load_ps(t + MV_MB * i);
    _Pragma("GCC unroll 8") for (int i = 0; i < 16; i += 2) {
        u[i] = _mm512_unpacklo_ps(r[i], r[i + 1]), u[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    _Pragma("GCC unroll 4") for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(u[i]), _mm512_castps_pd(u[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(u[i]), _mm512_castps_pd(u[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(u[i + 1]), _mm512_castps_pd(u[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(u[i + 1]), _mm512_castps_pd(u[i + 3])));
    }
    /* r[4a + b]: channels b, b+4, b+8, b+12 (128-bit lanes) of pixels 4a .. 4a+3 in each lane's 4 floats */
    _Pragma("GCC unroll 4") for (int b = 0; b < 4; b++) {
        const __m512 lo0 = _mm512_shuffle_f32x4(r[b], r[4 + b], 0x44), hi0 = _mm512_shuffle_f32x4(r[b], r[4 + b], 0xEE);
        const __m512 lo1 = _mm512_shuffle_f32x4(r[8 + b], r[12 + b], 0x44), hi1 = _mm512_shuffle_f32x4(r[8 + b], r[12 + b], 0xEE);
        u[b] = _mm512_shuffle_f32x4(lo0, lo1, 0x88), u[b + 4] = _mm512_shuffle_f32x4(lo0, lo1, 0xDD);
        u[b + 8] = _mm512_shuffle_f32x4(hi0, hi1, 0x88), u[b + 12] = _mm512_shuffle_f32x4(hi0, hi1, 0xDD);
    }
    _Pragma("GCC unroll 16") for (int c = 0; c < 16; c++) if (c < nch) _mm512_mask_storeu_ps(y + c * ldy, pm, u[c]);
}

/* V vectors of channels by J pixels: 24 accumulators where V > 2 (4 x 6, 3 x 8), 2 x 12 and 1 x 12 */
#define MV_SEGMENT(SX)                                                                                                 \
    switch (V) {                                                                                                       \
    case 4: mv_segment(pb, K, Wb, xr, sx, toff, bb, tail, act, tile, ns, &pf, 4, 6, SX); break;                             \
    case 3: mv_segment(pb, K, Wb, xr, sx, toff, bb, tail, act, tile, ns, &pf, 3, 8, SX); break;                             \
    case 2: mv_segment(pb, K, Wb, xr, sx, toff, bb, tail, act, tile, ns, &pf, 2, 12, SX); break;                            \
    default: mv_segment(pb, K, Wb, xr, sx, toff, bb, tail, act, tile, ns, &pf, 1, 12, SX); break;                           \
    }

static void f32_conv_mv512(const teq_kwf *w, const teq_i8conv *g, const float *X, const float *bias, float *Y,
                           int64_t ldy, int64_t n0, int64_t n1, float *panel, const teq_kpost *post) {
    const int64_t K = w->K, M = w->M, Mb = (M + MV_MB - 1) / MV_MB;
    int32_t *toff = (int32_t *)(void *)panel;
    float *tile = (float *)(((uintptr_t)(panel + K) + 63) & ~(uintptr_t)63); /* [MV_NS][MV_MB] */
    f32c_taps(g, K, toff);
    const int64_t sx = g->deint ? 1 : g->SW; /* deinterleaved rows: output column ox at ox of each half */
    const teq_kpost *act = post && post->act ? post : NULL;
    int64_t ns;
    for (int64_t nc = n0; nc < n1; nc += ns) {
        const int64_t oy = nc / g->OW, ox = nc % g->OW;
        ns = g->OW - ox < n1 - nc ? g->OW - ox : n1 - nc;
        if (ns > MV_NS) ns = MV_NS;
        const float *xr = X + oy * g->SH * g->PW + ox * sx;
        float *Yb = Y + (nc - n0);
        mv_pf pf = {.y = NULL, .ldy = ldy};
        if (nc + ns < n1) {
            const int64_t nn = nc + ns, ox2 = nn % g->OW, left = g->OW - ox2 < n1 - nn ? g->OW - ox2 : n1 - nn;
            const int64_t ns2 = left < MV_NS ? left : MV_NS, groups = Mb * (ns / 6 + 1);
            pf.y = Y + (nn - n0), pf.L = (ns2 + 15) / 16 + 1, pf.n = M * pf.L, pf.q = (pf.n + groups - 1) / groups;
        }
        for (int64_t mb = 0; mb < Mb; mb++) {
            const int64_t rows = M - MV_MB * mb < MV_MB ? M - MV_MB * mb : MV_MB, V = (rows + 15) / 16, Wb = 16 * V;
            const float *pb = w->p + mb * MV_MB * K, *bb = bias ? bias + MV_MB * mb : NULL;
            const __mmask16 tail = (__mmask16)(0xFFFFu >> (16 * V - rows));
            if (sx == 1) {
                MV_SEGMENT(1)
            } else if (sx == 2) {
                MV_SEGMENT(2)
            } else {
                MV_SEGMENT(0)
            }
            /* the tile's [pixel][channel] into Y's [channel][pixel] rows, 16 x 16 at a time */
            for (int64_t c = 0; c < rows; c += 16)
                for (int64_t j = 0; j < ns; j += 16)
                    mv_transpose16(tile + j * MV_MB + c, Yb + (MV_MB * mb + c) * ldy + j, ldy, rows - c < 16 ? rows - c : 16,
                                   ns - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (ns - j)) - 1));
        }
        if (post && post->fn) post->fn(post->user, Yb, ldy, M, nc, nc + ns);
    }
}

/* ---- INT8 depthwise plane (kernels.h teq_k_i8_dw) ----
 * 16 output pixels of a row per vector of int32 sums. vpdpbusd multiplies 4 bytes of codes by 4 int8 weights
 * and adds the 4 products to each lane: lane j takes the codes of its pixel's taps kx = 4g .. 4g+3 along one
 * kernel row (g = 0, 1: KW <= 8, the weights past KW 0), which vpermb gathers from one 64-byte load of the row
 * (pixel j's taps start at byte j SW: at most 15 * 2 + 7 < 64). The load is masked to the row's columns and
 * merges the padding code into the rest, so the plane needs no padded copy; rows above and below the plane are
 * the padding code throughout. Four vectors of 16 pixels at a time: four independent chains of vpdpbusd. */
static const uint8_t I8DW_IDX[2][2][64] = {
#define I8DW_ROW(SW, G)                                                                                               \
    {(0 * SW + 4 * G), (0 * SW + 4 * G + 1), (0 * SW + 4 * G + 2), (0 * SW + 4 * G + 3), (1 * SW + 4 * G),         \
     (1 * SW + 4 * G + 1), (1 * SW + 4 * G + 2), (1 * SW + 4 * G + 3), (2 * SW + 4 * G), (2 * SW + 4 * G + 1),     \
     (2 * SW + 4 * G + 2), (2 * SW + 4 * G + 3), (3 * SW + 4 * G), (3 * SW + 4 * G + 1), (3 * SW + 4 * G + 2),     \
     (3 * SW + 4 * G + 3), (4 * SW + 4 * G), (4 * SW + 4 * G + 1), (4 * SW + 4 * G + 2), (4 * SW + 4 * G + 3),     \
     (5 * SW + 4 * G), (5 * SW + 4 * G + 1), (5 * SW + 4 * G + 2), (5 * SW + 4 * G + 3), (6 * SW + 4 * G),         \
     (6 * SW + 4 * G + 1), (6 * SW + 4 * G + 2), (6 * SW + 4 * G + 3), (7 * SW + 4 * G), (7 * SW + 4 * G + 1),     \
     (7 * SW + 4 * G + 2), (7 * SW + 4 * G + 3), (8 * SW + 4 * G), (8 * SW + 4 * G + 1), (8 * SW + 4 * G + 2),     \
     (8 * SW + 4 * G + 3), (9 * SW + 4 * G), (9 * SW + 4 * G + 1), (9 * SW + 4 * G + 2), (9 * SW + 4 * G + 3),     \
     (10 * SW + 4 * G), (10 * SW + 4 * G + 1), (10 * SW + 4 * G + 2), (10 * SW + 4 * G + 3), (11 * SW + 4 * G),    \
     (11 * SW + 4 * G + 1), (11 * SW + 4 * G + 2), (11 * SW + 4 * G + 3), (12 * SW + 4 * G), (12 * SW + 4 * G + 1), \
     (12 * SW + 4 * G + 2), (12 * SW + 4 * G + 3), (13 * SW + 4 * G), (13 * SW + 4 * G + 1), (13 * SW + 4 * G + 2), \
     (13 * SW + 4 * G + 3), (14 * SW + 4 * G), (14 * SW + 4 * G + 1), (14 * SW + 4 * G + 2), (14 * SW + 4 * G + 3), \
     (15 * SW + 4 * G), (15 * SW + 4 * G + 1), (15 * SW + 4 * G + 2), (15 * SW + 4 * G + 3)}
    {I8DW_ROW(1, 0), I8DW_ROW(1, 1)},
    {I8DW_ROW(2, 0), I8DW_ROW(2, 1)},
#undef I8DW_ROW
};

/* bytes [lo, hi) of a 64-byte load (0 <= lo <= hi <= 64) */
static inline __mmask64 i8dw_range(int64_t lo, int64_t hi) {
    lo = lo < 0 ? 0 : lo > 64 ? 64 : lo, hi = hi < lo ? lo : hi > 64 ? 64 : hi;
    const __mmask64 h = hi >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << hi) - 1);
    const __mmask64 l = lo >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << lo) - 1);
    return h & ~l;
}

static I8C_ATTR void i8_dw_vnni(const uint8_t *x, int64_t IH, int64_t IW, int64_t PT, int64_t PL, uint8_t pc,
                                const int8_t *w, int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t DH, int32_t zpw,
                                float sc, const float *bias, float *y, int64_t OH, int64_t OW) {
    const int G = KW > 4 ? 2 : 1;
    int32_t wq[2 * 64]; /* row ky, tap group g: the weights of taps 4g .. 4g+3 as one 32-bit lane (KH <= 64) */
    for (int64_t ky = 0; ky < KH && ky < 64; ky++)
        for (int g = 0; g < 2; g++) {
            uint32_t v = 0;
            for (int t = 0; t < 4; t++) {
                const int64_t kx = 4 * g + t;
                v |= (uint32_t)(uint8_t)(kx < KW ? w[ky * KW + kx] : 0) << (8 * t);
            }
            wq[ky * 2 + g] = (int32_t)v;
        }
    const __m512i idx0 = _mm512_loadu_si512(I8DW_IDX[SW - 1][0]), idx1 = _mm512_loadu_si512(I8DW_IDX[SW - 1][1]);
    const __m512i padv = _mm512_set1_epi8((char)pc), vz = _mm512_set1_epi32(zpw);
    const __m512 vs = _mm512_set1_ps(sc), vb = _mm512_set1_ps(bias ? *bias : 0.0f);
    for (int64_t oy = 0; oy < OH; oy++) {
        float *yo = y + oy * OW;
        for (int64_t ox = 0; ox < OW; ox += 64) {
            __m512i acc[4];
            __mmask64 lm[4];
            int64_t st[4];
            int nv = 0;
            _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) {
                acc[v] = _mm512_setzero_si512();
                st[v] = (ox + 16 * v) * SW - PL; /* the block's first input column */
                lm[v] = i8dw_range(-st[v], IW - st[v]);
                nv += ox + 16 * v < OW;
            }
            for (int64_t ky = 0; ky < KH && ky < 64; ky++) {
                const int64_t iy = oy * SH + ky * DH - PT;
                const int in = iy >= 0 && iy < IH;
                const uint8_t *row = x + (in ? iy : 0) * IW;
                const __m512i w0 = _mm512_set1_epi32(wq[ky * 2]), w1 = _mm512_set1_epi32(wq[ky * 2 + 1]);
                _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) {
                    if (v >= nv) break;
                    /* the masked-off bytes are not read (no fault), whatever the address */
                    const __m512i xv = in ? _mm512_mask_loadu_epi8(padv, lm[v], (const void *)((uintptr_t)row + (uintptr_t)st[v])) : padv;
                    acc[v] = _mm512_dpbusd_epi32(acc[v], _mm512_permutexvar_epi8(idx0, xv), w0);
                    if (G > 1) acc[v] = _mm512_dpbusd_epi32(acc[v], _mm512_permutexvar_epi8(idx1, xv), w1);
                }
            }
            _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) {
                if (v >= nv) break;
                /* the rounding-mode forms: the product and the sum rounded apart (no FMA) */
                __m512 o = _mm512_mul_round_ps(vs, _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[v], vz)),
                                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                if (bias) o = _mm512_add_round_ps(o, vb, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                const int64_t nb = OW - ox - 16 * v;
                _mm512_mask_storeu_ps(yo + ox + 16 * v, nb >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nb) - 1), o);
            }
        }
    }
}


/* ---- FP32 depthwise plane (kernels.h teq_k_f32_dw) ----
 * 16 output pixels of a row per vector, NV (<= 4) vectors at a time, each output one chain of FMAs in the order
 * of the operators' loop (nn.c dw_plane): acc = 0 + bias, then acc = fma(x, w, acc) over ky, then kx. The
 * plane is read where it lies: a tap's 16 inputs are one load masked to the row's columns, pv merged into the
 * rest (zero-masked when pv is +0), and rows above and below the plane are pv throughout, so every tap reads
 * the value the padded copy held and the bits are the padded loop's. At stride 2 the 16 inputs of tap kx are
 * the even lanes of the 32 floats from column 2 ox + kx - PL, picked by one vpermt2ps. */
static const int32_t F32DW_EVEN[16] = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};

/* lanes [lo, hi) of a 16-float load (clamped) */
INLINE __mmask16 f32dw_range(int64_t lo, int64_t hi) {
    lo = lo < 0 ? 0 : lo > 16 ? 16 : lo, hi = hi < lo ? lo : hi > 16 ? 16 : hi;
    return (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/* the masks of the NV vectors from column ox: per vector, tap and load (the second one at stride 2), the lanes
 * whose columns lie in the row */
INLINE void f32dw_masks(__mmask16 mk[][2][8], int64_t ox, int64_t IW, int64_t PL, const int KW, const int SW, int NV) {
    for (int v = 0; v < NV; v++)
        for (int kx = 0; kx < KW; kx++) {
            const int64_t c = (ox + 16 * v) * SW + kx - PL;
            mk[v][0][kx] = f32dw_range(-c, IW - c);
            mk[v][1][kx] = SW == 2 ? f32dw_range(-c - 16, IW - c - 16) : 0;
        }
}

/* NV vectors of 16 outputs of row oy from column ox, NV independent chains of KH KW FMAs. mk NULL: every tap's
 * loads lie inside the row (plain loads); else each load is masked to the row's columns by mk (f32dw_masks), pv
 * merged into the rest (zero-masked for +0). */
INLINE void f32dw_block(const float *x, int64_t IH, int64_t IW, int64_t PT, int64_t PL, __m512 pvv, const float *w,
                        int64_t KH, int64_t SH, int64_t DH, __m512 b0, __m512i ev, float *yo, int64_t oy, int64_t ox,
                        int64_t OW, const __mmask16 (*mk)[2][8], const int KW, const int SW, const int PZ, const int NV) {
    __m512 acc[4];
    _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[v] = b0;
    for (int64_t ky = 0; ky < KH; ky++) {
        const int64_t iy = oy * SH + ky * DH - PT;
        const float *wr = w + ky * KW;
        if (iy < 0 || iy >= IH) {
            _Pragma("GCC unroll 8") for (int kx = 0; kx < KW; kx++) {
                const __m512 wv = _mm512_set1_ps(wr[kx]);
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[v] = _mm512_fmadd_ps(pvv, wv, acc[v]);
            }
            continue;
        }
        /* masked loads: the masked-off lanes are not read (no fault), whatever the address (p may point before
         * the row) */
        const uintptr_t row = (uintptr_t)(x + iy * IW);
        _Pragma("GCC unroll 8") for (int kx = 0; kx < KW; kx++) {
            const __m512 wv = _mm512_set1_ps(wr[kx]);
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) {
                const float *p = (const float *)(row + (uintptr_t)(((ox + 16 * v) * SW + kx - PL) * (int64_t)sizeof(float)));
                __m512 xv, hi = pvv;
                if (!mk) {
                    xv = _mm512_loadu_ps(p);
                    if (SW == 2) hi = _mm512_loadu_ps(p + 16);
                } else if (PZ) {
                    xv = _mm512_maskz_loadu_ps(mk[v][0][kx], p);
                    if (SW == 2) hi = _mm512_maskz_loadu_ps(mk[v][1][kx], p + 16);
                } else {
                    xv = _mm512_mask_loadu_ps(pvv, mk[v][0][kx], p);
                    if (SW == 2) hi = _mm512_mask_loadu_ps(pvv, mk[v][1][kx], p + 16);
                }
                if (SW == 2) xv = _mm512_permutex2var_ps(xv, ev, hi);
                acc[v] = _mm512_fmadd_ps(xv, wv, acc[v]);
            }
        }
    }
    _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) {
        const int64_t nb = OW - ox - 16 * v;
        if (nb >= 16) _mm512_storeu_ps(yo + ox + 16 * v, acc[v]);
        else _mm512_mask_storeu_ps(yo + ox + 16 * v, (__mmask16)((1u << nb) - 1), acc[v]);
    }
}

/* vectors [j0, j0 + n) of row oy, in blocks of up to 4; mk: their masks (NULL: plain loads) */
INLINE void f32dw_span(const float *x, int64_t IH, int64_t IW, int64_t PT, int64_t PL, __m512 pvv, const float *w,
                       int64_t KH, int64_t SH, int64_t DH, __m512 b0, __m512i ev, float *yo, int64_t oy, int64_t OW,
                       int64_t j0, int64_t n, const __mmask16 (*mk)[2][8], const int KW, const int SW, const int PZ) {
    for (int64_t j = 0; j < n;) {
        const int64_t r = n - j, ox = 16 * (j0 + j);
        const __mmask16(*m)[2][8] = mk ? mk + j : NULL;
#define F32DW_B(NV) f32dw_block(x, IH, IW, PT, PL, pvv, w, KH, SH, DH, b0, ev, yo, oy, ox, OW, m, KW, SW, PZ, NV), j += NV
        if (r >= 4) F32DW_B(4);
        else if (r == 3) F32DW_B(3);
        else if (r == 2) F32DW_B(2);
        else F32DW_B(1);
#undef F32DW_B
    }
}

/* rows of stride 2 and more: the input rows that output row oy + 1 reads first, fetched during row oy */
INLINE void f32dw_prefetch_rows(const float *x, int64_t IH, int64_t IW, int64_t PT, int64_t KH, int64_t SH, int64_t DH,
                                int64_t oy) {
    const int64_t last = (oy + 1) * SH + (KH - 1) * DH - PT;
    for (int64_t iy = last - SH + 1; iy <= last; iy++) {
        if (iy < 0 || iy >= IH) continue;
        const char *r = (const char *)(x + iy * IW);
        for (int64_t b = 0; b < IW * (int64_t)sizeof(float); b += 64) _mm_prefetch(r + b, _MM_HINT_T0);
    }
}

/* Each row: the vectors whose taps reach past the left edge (masked), those inside the row (plain loads), those
 * past the right edge (masked). The masks depend on the column only, so they are made once per plane (up to 8
 * vectors on each side, which every pad below 64 columns keeps to; wider pads mask every vector of the row). */
INLINE void f32dw_rows(const float *x, int64_t IH, int64_t IW, int64_t PT, int64_t PL, float pv, const float *w,
                       int64_t KH, int64_t SH, int64_t DH, float bias, float *y, int64_t OH, int64_t OW, const int KW,
                       const int SW, const int PZ) {
    const __m512 pvv = _mm512_set1_ps(pv), b0 = _mm512_set1_ps(0.0f + bias);
    const __m512i ev = _mm512_loadu_si512(F32DW_EVEN);
    const int64_t nvec = (OW + 15) / 16;
    /* vector j is inside when all its loads are: columns 16 j SW - PL .. + 15 SW + KW - 1 (+ 16 at stride 2) */
    int64_t jl = 0, jr = nvec;
    while (jl < nvec && 16 * jl * SW - PL < 0) jl++;
    while (jr > jl && (16 * (jr - 1) * SW - PL + (SW == 2 ? 31 : 15) + KW - 1) >= IW) jr--;
    /* a narrow row (4 vectors or fewer: one block, not three with one chain each; or 8 or fewer without an inner
     * part): every vector masked, masks made once. M-LSD's 40 x 40 planes: 0.25 ms split, about 0.21 in one block */
    if (nvec <= 4 || (jl == jr && nvec <= 8)) jl = jr = nvec;
    else if (jl > 8 || nvec - jr > 8 || jl == jr) jl = 0, jr = 0; /* every vector masked, masks made per row */
    __mmask16 ml[8][2][8], mr[8][2][8];
    if (jr > 0) {
        f32dw_masks(ml, 0, IW, PL, KW, SW, (int)jl);
        f32dw_masks(mr, 16 * jr, IW, PL, KW, SW, (int)(nvec - jr));
    }
    for (int64_t oy = 0; oy < OH; oy++) {
        float *yo = y + oy * OW;
        /* rows of stride 2 and more: the input rows that output row oy + 1 reads first, fetched during row oy.
         * M-LSD's stride-2 layer over 96 x 160 x 160 (9.8 MB from memory): 1.18-1.36 -> 1.00-1.06 ms; at stride 1
         * (each input row read by KH output rows) it cost 0.69-0.73 -> 0.74-0.78, so not there */
        if (SH >= 2) f32dw_prefetch_rows(x, IH, IW, PT, KH, SH, DH, oy);
#define F32DW_S(J0, N, MK) f32dw_span(x, IH, IW, PT, PL, pvv, w, KH, SH, DH, b0, ev, yo, oy, OW, J0, N, MK, KW, SW, PZ)
        if (jr == 0) {
            /* every vector masked: the masks made per block of 4 */
            for (int64_t j = 0; j < nvec; j += 4) {
                __mmask16 mk[4][2][8];
                const int n = nvec - j < 4 ? (int)(nvec - j) : 4;
                f32dw_masks(mk, 16 * j, IW, PL, KW, SW, n);
                F32DW_S(j, n, (const __mmask16(*)[2][8])mk);
            }
        } else {
            F32DW_S(0, jl, (const __mmask16(*)[2][8])ml);
            F32DW_S(jl, jr - jl, NULL);
            F32DW_S(jr, nvec - jr, (const __mmask16(*)[2][8])mr);
        }
#undef F32DW_S
    }
}

/* 3 x 3 and 5 x 5 kernels (dilation 1, stride 1 or 2): a body of its own (named for the 3 x 3 one it began
 * as). The general one above loads every tap's 16 inputs (two loads and a vpermt2ps at stride 2), nearly all of
 * them across two cache lines, and ran 25 cycles a vector at stride 1 and 50 at stride 2 on Zen 4 for a 3 x 3
 * kernel's 9 FMAs. Here each input row is loaded once per block, in chunks of 16 columns from column -PL (chunk
 * k: columns 16 k - PL ..), so that output vector g's tap kx is chunk g shifted by kx (valignd with chunk g + 1)
 * at stride 1, and at stride 2 the even (kx even) or odd columns of chunks 2 g and 2 g + 1 (vpermt2ps), shifted
 * by kx / 2. A row goes in blocks of up to 6 vectors of about equal size (6 independent chains: M-LSD's 80-wide
 * rows are one block of 5, where the general body made blocks of 1, 3 and 1). Lanes outside the row and rows
 * outside the plane hold pv, as the padded copy does. Every output is the same chain of FMAs as in f32dw_block
 * (bias, then ky, then kx) on the same values: the same bits (test_kernels compares every body with the FMA
 * chain). */
static const int32_t F32DW_ODD[16] = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};

/* chunk k of row r: lanes outside the row are pv and are not read (mk16[k]: the chunk's lanes in the row, made
 * once a plane, so that a load is two instructions and no branch) */
INLINE __m512 dw3_load(const float *r, int64_t k, int64_t PL, const __mmask16 *mk16, __m512 pvv) {
    return _mm512_mask_loadu_ps(pvv, mk16[k], (const float *)((uintptr_t)r + (uintptr_t)((16 * k - PL) * (int64_t)sizeof(float))));
}

/* cur shifted down by d lanes, next's first lanes after it */
INLINE __m512 dw3_shift(__m512 cur, __m512 next, const int d) {
    const __m512i c = _mm512_castps_si512(cur), n = _mm512_castps_si512(next);
    switch (d) { /* valignd takes an immediate, also where the build does not inline (Debug, sanitizers) */
    case 1: return _mm512_castsi512_ps(_mm512_alignr_epi32(n, c, 1));
    case 2: return _mm512_castsi512_ps(_mm512_alignr_epi32(n, c, 2));
    case 3: return _mm512_castsi512_ps(_mm512_alignr_epi32(n, c, 3));
    case 4: return _mm512_castsi512_ps(_mm512_alignr_epi32(n, c, 4));
    default: return cur;
    }
}

/* NV vectors of one output row from vector j (outputs 16 j ..), NV independent chains; K x K taps (3 or 5) */
INLINE void f32dw3_block(const float *const *rows, int64_t PL, const __mmask16 *mk16, __m512 pvv, const __m512 *wv,
                         __m512 b0, __m512i ev, __m512i od, float *yo, int64_t j, int64_t OW, const int K,
                         const int SW, const int NV) {
    __m512 acc[6];
    _Pragma("GCC unroll 6") for (int v = 0; v < NV; v++) acc[v] = b0;
    _Pragma("GCC unroll 5") for (int ky = 0; ky < K; ky++) {
        const float *r = rows[ky];
        const __m512 *wk = wv + K * ky;
        if (!r) {
            _Pragma("GCC unroll 6") for (int v = 0; v < NV; v++)
                _Pragma("GCC unroll 5") for (int kx = 0; kx < K; kx++) acc[v] = _mm512_fmadd_ps(pvv, wk[kx], acc[v]);
            continue;
        }
        if (SW == 1) {
            __m512 xc = dw3_load(r, j, PL, mk16, pvv);
            _Pragma("GCC unroll 6") for (int v = 0; v < NV; v++) {
                const __m512 xn = dw3_load(r, j + v + 1, PL, mk16, pvv);
                _Pragma("GCC unroll 5") for (int kx = 0; kx < K; kx++)
                    acc[v] = _mm512_fmadd_ps(dw3_shift(xc, xn, kx), wk[kx], acc[v]);
                xc = xn;
            }
        } else {
            /* a, b: chunks 2 g and 2 g + 1 of output vector g; each loaded once. Tap kx reads the even columns
             * shifted by kx / 2 (kx even) or the odd ones shifted by (kx - 1) / 2 */
            __m512 a = dw3_load(r, 2 * j, PL, mk16, pvv), b = dw3_load(r, 2 * j + 1, PL, mk16, pvv);
            __m512 ec = _mm512_permutex2var_ps(a, ev, b), oc = _mm512_permutex2var_ps(a, od, b);
            _Pragma("GCC unroll 6") for (int v = 0; v < NV; v++) {
                const int64_t k = 2 * (j + v);
                a = dw3_load(r, k + 2, PL, mk16, pvv), b = dw3_load(r, k + 3, PL, mk16, pvv);
                const __m512 en = _mm512_permutex2var_ps(a, ev, b);
                const __m512 on = K > 3 ? _mm512_permutex2var_ps(a, od, b) : oc;
                _Pragma("GCC unroll 5") for (int kx = 0; kx < K; kx++) {
                    const __m512 t = kx & 1 ? dw3_shift(oc, on, (kx - 1) / 2) : dw3_shift(ec, en, kx / 2);
                    acc[v] = _mm512_fmadd_ps(t, wk[kx], acc[v]);
                }
                ec = en;
                /* with 3 taps the odd columns are needed only unshifted: made from this pair, next time */
                oc = K > 3 ? on : _mm512_permutex2var_ps(a, od, b);
            }
        }
    }
    _Pragma("GCC unroll 6") for (int v = 0; v < NV; v++) {
        const int64_t ox = 16 * (j + v), nb = OW - ox;
        if (nb >= 16) _mm512_storeu_ps(yo + ox, acc[v]);
        else _mm512_mask_storeu_ps(yo + ox, (__mmask16)((1u << nb) - 1), acc[v]);
    }
}

INLINE void f32dw3_rows(const float *x, int64_t IH, int64_t IW, int64_t PT, int64_t PL, float pv, const float *w,
                        int64_t SH, float bias, float *y, int64_t OH, int64_t OW, const int K, const int SW) {
    const __m512 pvv = _mm512_set1_ps(pv), b0 = _mm512_set1_ps(0.0f + bias);
    const __m512i ev = _mm512_loadu_si512(F32DW_EVEN), od = _mm512_loadu_si512(F32DW_ODD);
    __m512 wv[25];
    for (int i = 0; i < K * K; i++) wv[i] = _mm512_set1_ps(w[i]);
    const int64_t nvec = (OW + 15) / 16, nblk = (nvec + 5) / 6;
    /* the chunks a row's blocks read: up to one past the last vector (two at stride 2) */
    const int64_t nchunk = SW * (nvec + 1) + 2;
    int8_t bn[32];
    __mmask16 mk16[2 * 6 * 32 + 4];
    if (nblk > 32 || nchunk > (int64_t)(sizeof mk16 / sizeof mk16[0])) { /* rows of more than 3072 outputs */
        f32dw_rows(x, IH, IW, PT, PL, pv, w, K, SH, 1, bias, y, OH, OW, K, SW, pv == 0.0f && !signbit(pv));
        return;
    }
    /* block b: bn[b] vectors, the rest in equal parts (made once: a division a row was 10% of a 40-wide plane) */
    for (int64_t b = 0, j = 0; b < nblk; b++) bn[b] = (int8_t)((nvec - j) / (nblk - b)), j += bn[b];
    for (int64_t k = 0; k < nchunk; k++) mk16[k] = f32dw_range(PL - 16 * k, IW + PL - 16 * k);
    for (int64_t oy = 0; oy < OH; oy++) {
        float *yo = y + oy * OW;
        if (SH >= 2) f32dw_prefetch_rows(x, IH, IW, PT, K, SH, 1, oy);
        const float *rows[5];
        for (int ky = 0; ky < K; ky++) {
            const int64_t iy = oy * SH + ky - PT;
            rows[ky] = iy < 0 || iy >= IH ? NULL : x + iy * IW;
        }
        for (int64_t b = 0, j = 0; b < nblk; b++) {
            const int n = bn[b];
#define F32DW3(NV) f32dw3_block(rows, PL, mk16, pvv, wv, b0, ev, od, yo, j, OW, K, SW, NV)
            switch (n) {
            case 6: F32DW3(6); break;
            case 5: F32DW3(5); break;
            case 4: F32DW3(4); break;
            case 3: F32DW3(3); break;
            case 2: F32DW3(2); break;
            default: F32DW3(1); break;
            }
#undef F32DW3
            j += n;
        }
    }
}

/* one function per kernel size and stride, apart from the general body: the code a model runs stays together (the
 * first version, inlined with its edge cases in branches, made the general body's function 170 KB larger and a
 * BlazeFace run touch 570 KB more of teq's code) */
#define F32DW3_FN(K, S)                                                                                                \
    static __attribute__((noinline)) void f32dw3_rows_k##K##s##S(const float *x, int64_t IH, int64_t IW, int64_t PT,   \
                                                                int64_t PL, float pv, const float *w, int64_t SH,     \
                                                                float bias, float *y, int64_t OH, int64_t OW) {       \
        f32dw3_rows(x, IH, IW, PT, PL, pv, w, SH, bias, y, OH, OW, K, S);                                              \
    }
F32DW3_FN(3, 1)
F32DW3_FN(3, 2)
F32DW3_FN(5, 1)
F32DW3_FN(5, 2)
#undef F32DW3_FN

static void f32_dw_avx512(const float *x, int64_t IH, int64_t IW, int64_t PT, int64_t PL, float pv, const float *w,
                          int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t DH, float bias, float *y, int64_t OH,
                          int64_t OW) {
    /* +0 padding (every model's but a shifted code's) takes the zero-masked loads: no merge */
    const int pz = pv == 0.0f && !signbit(pv);
    /* TEQ_DW3=off keeps 3 x 3 and 5 x 5 kernels on the general body (for comparing the two) */
    static int dw3_on = -1;
    if (teq_k_env_unless(&dw3_on, "TEQ_DW3", "off") && KH == KW && (KW == 3 || KW == 5) && DH == 1 && PL >= 0 && PL < 16 && (SW == 1 || SW == 2)) {
        if (KW == 3 && SW == 1) f32dw3_rows_k3s1(x, IH, IW, PT, PL, pv, w, SH, bias, y, OH, OW);
        else if (KW == 3) f32dw3_rows_k3s2(x, IH, IW, PT, PL, pv, w, SH, bias, y, OH, OW);
        else if (SW == 1) f32dw3_rows_k5s1(x, IH, IW, PT, PL, pv, w, SH, bias, y, OH, OW);
        else f32dw3_rows_k5s2(x, IH, IW, PT, PL, pv, w, SH, bias, y, OH, OW);
        return;
    }
#define F32DW(K, S)                                                                                                    \
    if (KW == K && SW == S) {                                                                                          \
        if (pz) f32dw_rows(x, IH, IW, PT, PL, pv, w, KH, SH, DH, bias, y, OH, OW, K, S, 1);                            \
        else f32dw_rows(x, IH, IW, PT, PL, pv, w, KH, SH, DH, bias, y, OH, OW, K, S, 0);                               \
        return;                                                                                                        \
    }
    F32DW(3, 1) F32DW(3, 2) F32DW(5, 1) F32DW(5, 2) F32DW(7, 1) F32DW(7, 2) F32DW(1, 1) F32DW(1, 2)
#undef F32DW
}

const teq_kernel_set teq_kset_avx512vnni_tab = {
    .name = "avx512+vnni", /* as teq.h's teq_kernels_name says: the INT8 kernels differ */
    .decode = decode_avx512,
    .gemv = gemv_avx512,
    .gemv_l8 = gemv_l8_vnni,
    .i8_gemv = i8_gemv_vnni,
    .i8_gemm = i8_gemm_vnni,
    .i8_conv = i8_conv_vnni,
    .i16_conv = i16_conv_vnni,
    .f32_conv = f32_conv_avx512,
    .f32_mv = 1,
    .i8_dw = i8_dw_vnni,
    .f32_dw = f32_dw_avx512,
    .f32_wino = teq_f32_wino_avx512,
    .wino_fill = teq_wino_fill_avx512,
};

/* AVX-512 without VNNI: the same float kernels, maddubs INT8 */
const teq_kernel_set teq_kset_avx512_tab = {
    .name = "avx512",
    .decode = decode_avx512,
    .gemv = gemv_avx512,
    .i8_gemv = i8_gemv_bw,
    .i8_gemm = i8_gemm_bw,
    .f32_conv = f32_conv_avx512,
    .f32_mv = 1,
    .f32_dw = f32_dw_avx512,
    .f32_wino = teq_f32_wino_avx512,
    .wino_fill = teq_wino_fill_avx512,
};

/* ---- activation quantizer (kq.c builds the tables; this is its 16-lane body) ----
 * Per 16 floats: magnitude bit patterns, side, bucket index, one byte gather for the first candidate,
 * `steps` gathers of thresholds with compares (or the bisection), a gather of the code; the values
 * are one more gather from the code table. Lanes past n are masked on load and store. */
INLINE __m512i kq512_codes(const teq_kq *kq, __m512 xf) {
    const __m512i xb = _mm512_castps_si512(xf);
    if (kq->q.kind == TEQ_CODE_LINEAR) {
        /* First in float: v = clamp(x * fl(1/scale)) is within 2^-22 |v| of x / scale, so it rounds (half to
         * even, the conversion's mode) to the same integer unless a half-integer lies within 2^-20 |v| of
         * v; then the whole vector takes the double path below. Clamped lanes are integers, NaN lanes 0. */
        {
            const __m512 rf = _mm512_set1_ps(kq->lrecipf), flo = _mm512_set1_ps((float)kq->qlo),
                         fhi = _mm512_set1_ps((float)kq->qhi);
            __m512 v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(xf, xf, _CMP_ORD_Q), _mm512_mul_ps(xf, rf));
            v = _mm512_min_ps(_mm512_max_ps(v, flo), fhi);
            const __m512 f = _mm512_sub_ps(v, _mm512_roundscale_ps(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC));
            const __mmask16 near = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(f, _mm512_set1_ps(0.5f))),
                                                      _mm512_mul_ps(_mm512_abs_ps(v), _mm512_set1_ps(0x1p-20f)), _CMP_LE_OQ);
            if (!near) return _mm512_add_epi32(_mm512_cvtps_epi32(v), _mm512_set1_epi32(kq->off));
        }
        const __m512d sc = _mm512_set1_pd(kq->lscale), lo = _mm512_set1_pd(kq->qlo), hi = _mm512_set1_pd(kq->qhi);
        const __m512d x0 = _mm512_cvtps_pd(_mm512_castps512_ps256(xf));
        const __m512d x1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(xf), 1)));
        /* x * (1/scale) is within 2 ulps of fl(x / scale) (code.c's division): both round to the same integer
         * unless a half-integer lies within 2^-50 |v| of v, and then the vector divides. A division costs
         * ~16 cycles per 8 lanes; since the INT8 convolutions quantize their inputs once, this pass was a
         * fifth of an INT8 inference. */
        const __m512d rc = _mm512_set1_pd(kq->lrecip), half = _mm512_set1_pd(0.5), eps = _mm512_set1_pd(0x1p-50);
        __m512d v0 = _mm512_mul_pd(x0, rc), v1 = _mm512_mul_pd(x1, rc);
        const __m512d f0 = _mm512_sub_pd(v0, _mm512_roundscale_pd(v0, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC));
        const __m512d f1 = _mm512_sub_pd(v1, _mm512_roundscale_pd(v1, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC));
        const __mmask8 t0 = _mm512_cmp_pd_mask(_mm512_abs_pd(_mm512_sub_pd(f0, half)),
                                               _mm512_mul_pd(_mm512_abs_pd(v0), eps), _CMP_LE_OQ);
        const __mmask8 t1 = _mm512_cmp_pd_mask(_mm512_abs_pd(_mm512_sub_pd(f1, half)),
                                               _mm512_mul_pd(_mm512_abs_pd(v1), eps), _CMP_LE_OQ);
        if (t0 | t1) v0 = _mm512_div_pd(x0, sc), v1 = _mm512_div_pd(x1, sc);
        v0 = _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(v0, v0, _CMP_ORD_Q), v0); /* NaN quantizes like 0 */
        v1 = _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(v1, v1, _CMP_ORD_Q), v1);
        v0 = _mm512_min_pd(_mm512_max_pd(v0, lo), hi);
        v1 = _mm512_min_pd(_mm512_max_pd(v1, lo), hi);
        /* round half to even: the conversion's default rounding, as code.c's 1.5 * 2^52 trick */
        __m256i q0 = _mm512_cvtpd_epi32(v0), q1 = _mm512_cvtpd_epi32(v1);
        __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);
        return _mm512_add_epi32(q, _mm512_set1_epi32(kq->off));
    }
    __m512i ub = kq->is_signed ? _mm512_and_si512(xb, _mm512_set1_epi32(0x7FFFFFFF)) : _mm512_max_epi32(xb, _mm512_setzero_si512());
    ub = _mm512_maskz_mov_epi32(_mm512_cmple_epi32_mask(ub, _mm512_set1_epi32(0x7F800000)), ub);
    __mmask16 s1 = kq->is_signed ? _mm512_mask_cmplt_epi32_mask(_mm512_test_epi32_mask(ub, ub), xb, _mm512_setzero_si512())
                                 : 0;
    const __m512i toff = _mm512_maskz_mov_epi32(s1, _mm512_set1_epi32(TEQ_KQ_THR));
    __m512i j;
    if (kq->steps) {
        const teq_kq_side *a = &kq->side[0], *b = &kq->side[1];
        __m512i sh = _mm512_mask_mov_epi32(_mm512_set1_epi32(a->sh), s1, _mm512_set1_epi32(b->sh));
        __m512i kb = _mm512_mask_mov_epi32(_mm512_set1_epi32(a->kbase - 1), s1, _mm512_set1_epi32(b->kbase - 1));
        __m512i top = _mm512_mask_mov_epi32(_mm512_set1_epi32(a->top), s1, _mm512_set1_epi32(b->top));
        __m512i bo = _mm512_mask_mov_epi32(_mm512_set1_epi32(a->boff), s1, _mm512_set1_epi32(b->boff));
        __m512i d = _mm512_sub_epi32(_mm512_srlv_epi32(ub, sh), kb);
        d = _mm512_min_epi32(_mm512_max_epi32(d, _mm512_setzero_si512()), top);
        __m512i j0 = _mm512_and_si512(_mm512_i32gather_epi32(_mm512_add_epi32(d, bo), kq->bucket, 1),
                                      _mm512_set1_epi32(255));
        j0 = _mm512_add_epi32(j0, toff);
        j = j0;
        for (int i = 0; i < kq->steps; i++) {
            __m512i t = _mm512_i32gather_epi32(_mm512_add_epi32(j0, _mm512_set1_epi32(i)), kq->thr, 4);
            j = _mm512_mask_add_epi32(j, _mm512_cmpgt_epi32_mask(ub, t), j, _mm512_set1_epi32(1));
        }
    } else {
        j = toff;
        for (int step = kq->pow2 >> 1; step > 0; step >>= 1) {
            __m512i t = _mm512_i32gather_epi32(_mm512_add_epi32(j, _mm512_set1_epi32(step - 1)), kq->thr, 4);
            j = _mm512_mask_add_epi32(j, _mm512_cmpgt_epi32_mask(ub, t), j, _mm512_set1_epi32(step));
        }
    }
    return _mm512_i32gather_epi32(j, kq->code, 4);
}

/* The log path (kq.c log_path_init has the proof): per 16 floats, e0 from a vector log2 (getexp, getmant,
 * a degree-4 polynomial), then two table lookups: the threshold tl[e0] for the one exact compare, and the
 * level lev[e] for the output value. Tables of up to 128 entries stay in registers: vpermd reads 4 index
 * bits, vpermt2d 5 (two registers), and 64 / 128 entries blend two / four vpermt2d results on index bits
 * 5 and 6. With NL (the class: 16, 32, 64, 128, or 256 for a gather) a compile-time constant in each
 * instance, the loop keeps the tables in zmm registers. */
typedef struct kq512_tab {
    __m512i t[16];
} kq512_tab;

INLINE void kq512_tab_load(kq512_tab *tb, const int32_t *src, int nl) {
    for (int r = 0; r < 16; r++) tb->t[r] = r * 16 < nl ? _mm512_loadu_si512(src + r * 16) : _mm512_setzero_si512();
}

INLINE __m512i kq512_look(const kq512_tab *tb, const int32_t *src, __m512i idx, int NL) {
    if (NL <= 16) return _mm512_permutexvar_epi32(idx, tb->t[0]);
    if (NL <= 32) return _mm512_permutex2var_epi32(tb->t[0], idx, tb->t[1]);
    if (NL <= 128) {
        const __mmask16 b5 = _mm512_test_epi32_mask(idx, _mm512_set1_epi32(32));
        __m512i r = _mm512_mask_mov_epi32(_mm512_permutex2var_epi32(tb->t[0], idx, tb->t[1]), b5,
                                          _mm512_permutex2var_epi32(tb->t[2], idx, tb->t[3]));
        if (NL <= 64) return r;
        __m512i h = _mm512_mask_mov_epi32(_mm512_permutex2var_epi32(tb->t[4], idx, tb->t[5]), b5,
                                          _mm512_permutex2var_epi32(tb->t[6], idx, tb->t[7]));
        return _mm512_mask_mov_epi32(r, _mm512_test_epi32_mask(idx, _mm512_set1_epi32(64)), h);
    }
#ifndef KQ_GATHER256
    /* 256 entries: eight vpermt2d and a blend tree on bits 5, 6, 7 (measured faster than one gather) */
    (void)src;
    const __mmask16 b5 = _mm512_test_epi32_mask(idx, _mm512_set1_epi32(32));
    const __mmask16 b6 = _mm512_test_epi32_mask(idx, _mm512_set1_epi32(64));
    __m512i q[4];
    for (int k = 0; k < 4; k++)
        q[k] = _mm512_mask_mov_epi32(_mm512_permutex2var_epi32(tb->t[4 * k], idx, tb->t[4 * k + 1]), b5,
                                     _mm512_permutex2var_epi32(tb->t[4 * k + 2], idx, tb->t[4 * k + 3]));
    __m512i lo = _mm512_mask_mov_epi32(q[0], b6, q[1]), hi = _mm512_mask_mov_epi32(q[2], b6, q[3]);
    return _mm512_mask_mov_epi32(lo, _mm512_test_epi32_mask(idx, _mm512_set1_epi32(128)), hi);
#else
    return _mm512_i32gather_epi32(idx, src, 4);
#endif
}

/* 16 floats' magnitude bits for both bodies: |x| (signed codes) or max(x, +0) (unsigned: negatives are the
 * smallest magnitude); NaN becomes 0; *s1: side 1, x < 0 and not -0 (signed codes) */
INLINE __m512i kq512_mag(__m512i xb, const int sg, __mmask16 *s1) {
    __m512i ub = sg ? _mm512_and_si512(xb, _mm512_set1_epi32(0x7FFFFFFF)) : _mm512_max_epi32(xb, _mm512_setzero_si512());
    ub = _mm512_maskz_mov_epi32(_mm512_cmple_epi32_mask(ub, _mm512_set1_epi32(0x7F800000)), ub);
    *s1 = sg ? _mm512_mask_cmplt_epi32_mask(_mm512_test_epi32_mask(ub, ub), xb, _mm512_setzero_si512()) : 0;
    return ub;
}

/* The last steps of both bodies for 16 values (m: the lanes to take) at level index e, magnitudes ub, side s1:
 * the zero code (at or below the side's zero threshold; negatives with the zero code have no level 0), then the
 * codes and/or the values (the level by the register tables, or by a gather where lev_gather) with the sign. */
INLINE void kq512_out(const kq512_tab *tv, const int32_t *lev, __m512i e, __m512i ub, __mmask16 s1, __mmask16 m,
                      __m512i z0, __m512i z1, __m512i vE, uint8_t *codes, float *y, const int NL, const int sg,
                      const int zc, const int lev_gather) {
    const __m512i ione = _mm512_set1_epi32(1);
    __mmask16 z = 0;
    if (zc) {
        z = _mm512_cmple_epi32_mask(ub, _mm512_mask_mov_epi32(z0, s1, z1));
        if (sg) e = _mm512_mask_max_epi32(e, s1, e, ione);
    }
    if (codes) {
        __m512i c;
        if (sg) c = _mm512_mask_mov_epi32(_mm512_mask_add_epi32(e, s1, e, vE), z, vE);
        else c = zc ? _mm512_maskz_add_epi32((__mmask16)~z, e, ione) : e;
        _mm_mask_storeu_epi8(codes, m, _mm512_cvtepi32_epi8(c));
    }
    if (y) {
        __m512i val = lev_gather ? _mm512_i32gather_epi32(e, lev, 4) : kq512_look(tv, lev, e, NL);
        if (sg) val = _mm512_mask_or_epi32(val, s1, val, _mm512_set1_epi32((int)0x80000000u));
        if (zc) val = _mm512_maskz_mov_epi32((__mmask16)~z, val);
        _mm512_mask_storeu_ps(y, m, _mm512_castsi512_ps(val));
    }
}

INLINE void kq512_log_body(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y, int NL) {
    kq512_tab tt, tv;
    if (NL <= 128) kq512_tab_load(&tt, kq->tl, NL);
    const int32_t *lev = (const int32_t *)(const void *)kq->lev;
    kq512_tab_load(&tv, lev, NL);
    const int sg = kq->is_signed, zc = kq->q.zero_code != 0, E = 1 << (kq->q.bits - 1);
    const __m512 beta = _mm512_set1_ps(kq->lbeta), ia = _mm512_set1_ps(kq->lia), lc = _mm512_set1_ps(kq->lc);
    const __m512 vmin = _mm512_set1_ps(FLT_MIN), vmax = _mm512_set1_ps(FLT_MAX), one = _mm512_set1_ps(1.0f);
    const __m512 tmax = _mm512_set1_ps((float)(kq->nlev - 1)), zero = _mm512_setzero_ps();
    const __m512 c1 = _mm512_set1_ps(TEQ_KQ_C1), c2 = _mm512_set1_ps(TEQ_KQ_C2), c3 = _mm512_set1_ps(TEQ_KQ_C3),
                 c4 = _mm512_set1_ps(TEQ_KQ_C4);
    const __m512i z0 = _mm512_set1_epi32(kq->zthr[0]), z1 = _mm512_set1_epi32(kq->zthr[1]);
    const __m512i vE = _mm512_set1_epi32(E), ione = _mm512_set1_epi32(1);
    for (int64_t i = 0; i < n; i += 16) {
        const int64_t r = n - i;
        const __mmask16 m = r >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << r) - 1);
        const __m512i xb = _mm512_castps_si512(_mm512_maskz_loadu_ps(m, x + i));
        __mmask16 s1;
        const __m512i ub = kq512_mag(xb, sg, &s1);
        __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_castsi512_ps(ub), beta), ia);
        v = _mm512_min_ps(_mm512_max_ps(v, vmin), vmax);
        const __m512 ex = _mm512_getexp_ps(v);
        const __m512 rr = _mm512_sub_ps(_mm512_getmant_ps(v, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero), one);
        __m512 p = _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_fmadd_ps(c4, rr, c3), rr, c2), rr, c1);
        __m512 t = _mm512_mul_ps(_mm512_add_ps(ex, _mm512_mul_ps(rr, p)), lc);
        t = _mm512_min_ps(_mm512_max_ps(t, zero), tmax);
        __m512i e = _mm512_cvt_roundps_epi32(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        /* 256 levels: the thresholds by a gather, so that only the levels' 16 registers stay (both tables in
         * registers spilled) */
        const __m512i thr = NL > 128 ? _mm512_i32gather_epi32(e, kq->tl, 4) : kq512_look(&tt, kq->tl, e, NL);
        e = _mm512_mask_add_epi32(e, _mm512_cmpgt_epi32_mask(ub, thr), e, ione);
        kq512_out(&tv, lev, e, ub, s1, m, z0, z1, vE, codes ? codes + i : NULL, y ? y + i : NULL, NL, sg, zc, 0);
    }
}

/* The entry table (kint.h lent, kq.c entry_init; avx2.c's body reads it by scalar loads): the level index from
 * one gather and one compare, e = (ent >> 24) + (u - first > (ent & 0xFFFFFF)), instead of the log path's
 * polynomial (about twenty operations a vector) and its threshold lookup. R2: the code's table has two regions
 * (a shift each). The level by the log body's register tables (kq512_look), by a gather for 256 levels (there
 * the gather measured faster than the eight vpermt2d and the blends, below 256 slower). L1 loop, 8,192 values,
 * least of 3,000 (ns a value, log body -> this one): 8-bit unsigned base 1.01 (256 levels) 0.81 -> 0.57; 8-bit
 * signed (128) 0.61 -> 0.51; 7-bit signed (64) 0.55 -> 0.52; 6-bit and 4-bit signed 0.36 -> 0.39, so codes of 32
 * levels or fewer keep the log body. Same codes and values bit for bit (tests/test_kernels.c, every code). */
INLINE void kq512_ent_body(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y, const int NL,
                           const int R2, const int sg, const int zc) {
    kq512_tab tv;
    const int32_t *lev = (const int32_t *)(const void *)kq->lev;
    if (NL <= 128) kq512_tab_load(&tv, lev, NL);
    const int E = 1 << (kq->q.bits - 1);
    const __m512i z0 = _mm512_set1_epi32(kq->zthr[0]), z1 = _mm512_set1_epi32(kq->zthr[1]);
    const __m512i vE = _mm512_set1_epi32(E), ione = _mm512_set1_epi32(1);
    const __m512i sh0 = _mm512_set1_epi32(kq->lsh[0]), sh1 = _mm512_set1_epi32(kq->lsh[1]);
    const __m512i kb0 = _mm512_set1_epi32(kq->lkbase[0]), kb1 = _mm512_set1_epi32(kq->lkbase[1]);
    const __m512i tp0 = _mm512_set1_epi32(kq->ltop[0]), tp1 = _mm512_set1_epi32(kq->ltop[1]);
    const __m512i of0 = _mm512_set1_epi32(kq->lboff[0]), of1 = _mm512_set1_epi32(kq->lboff[1]);
    const __m512i split = _mm512_set1_epi32((int32_t)kq->lsplit - 1), low = _mm512_set1_epi32(0xFFFFFF);
    const int32_t *ent = kq->lent;
    for (int64_t i = 0; i < n; i += 16) {
        const int64_t rem = n - i;
        const __mmask16 m = rem >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rem) - 1);
        const __m512i xb = _mm512_castps_si512(_mm512_maskz_loadu_ps(m, x + i));
        __mmask16 s1;
        const __m512i ub = kq512_mag(xb, sg, &s1);
        __m512i sh = sh1, kb = kb1, tp = tp1, of = of1;
        if (R2) {
            const __mmask16 rb = _mm512_cmpgt_epi32_mask(ub, split);
            sh = _mm512_mask_blend_epi32(rb, sh0, sh1), kb = _mm512_mask_blend_epi32(rb, kb0, kb1);
            tp = _mm512_mask_blend_epi32(rb, tp0, tp1), of = _mm512_mask_blend_epi32(rb, of0, of1);
        }
        __m512i d = _mm512_sub_epi32(_mm512_srlv_epi32(ub, sh), kb);
        d = _mm512_min_epi32(_mm512_max_epi32(d, _mm512_setzero_si512()), tp);
        const __m512i lo = _mm512_sllv_epi32(_mm512_add_epi32(d, kb), sh);
        const __m512i en = _mm512_i32gather_epi32(_mm512_add_epi32(d, of), ent, 4);
        __m512i e = _mm512_srli_epi32(en, 24);
        e = _mm512_mask_add_epi32(e, _mm512_cmpgt_epi32_mask(_mm512_sub_epi32(ub, lo), _mm512_and_si512(en, low)), e, ione);
        kq512_out(&tv, lev, e, ub, s1, m, z0, z1, vE, codes ? codes + i : NULL, y ? y + i : NULL, NL, sg, zc, NL > 128);
    }
}

static void kq512_ent_run(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y) {
    const int L = kq->nlev, sg = kq->is_signed, zc = kq->q.zero_code != 0, r2 = kq->lsplit != 0;
#define KQ_ENT_NL(NL, R2)                                                                                          \
    do {                                                                                                           \
        if (sg && zc) kq512_ent_body(kq, x, n, codes, y, NL, R2, 1, 1);                                            \
        else if (sg) kq512_ent_body(kq, x, n, codes, y, NL, R2, 1, 0);                                             \
        else if (zc) kq512_ent_body(kq, x, n, codes, y, NL, R2, 0, 1);                                             \
        else kq512_ent_body(kq, x, n, codes, y, NL, R2, 0, 0);                                                     \
    } while (0)
#define KQ_ENT(NL)                                                                                                 \
    do {                                                                                                           \
        if (r2) KQ_ENT_NL(NL, 1);                                                                                  \
        else KQ_ENT_NL(NL, 0);                                                                                     \
    } while (0)
    /* more than 32 levels (teq_kq_run_avx512: fewer keep the log body) */
    if (L <= 64) KQ_ENT(64);
    else if (L <= 128) KQ_ENT(128);
    else KQ_ENT(256);
#undef KQ_ENT
#undef KQ_ENT_NL
}

static void kq512_log_run(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y) {
    const int L = kq->nlev;
    if (L <= 16) kq512_log_body(kq, x, n, codes, y, 16);
    else if (L <= 32) kq512_log_body(kq, x, n, codes, y, 32);
    else if (L <= 64) kq512_log_body(kq, x, n, codes, y, 64);
    else if (L <= 128) kq512_log_body(kq, x, n, codes, y, 128);
    else kq512_log_body(kq, x, n, codes, y, 256);
}

/* ---- the float32 linear code (ONNX QuantizeLinear: q = clamp(fl(x / s)) rounded half to even) ----
 * By the product with r = fl(1 / s): |x r - x / s| <= 2^-24 |x / s| plus the product's rounding, and fl(x / s)
 * is within 2^-24 |x / s| of x / s, so where the clamped value is at most 256 the two are within 2^-14 and
 * round to the same integer unless v lies that near a half-integer. A vector with a lane within 2^-12 of one
 * (|v - nearest(v)| >= 0.5 - 2^-12) divides instead, as AVX2's body does for every vector. Clamping comes
 * first in both (an integer bound rounds to itself); NaN lanes are 0 before it. */
INLINE __m512 lin32_q(__m512 xv, __m512 r, __m512 s, __m512 lo, __m512 hi) {
    const __mmask16 ord = _mm512_cmp_ps_mask(xv, xv, _CMP_ORD_Q);
    __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_maskz_mul_ps(ord, xv, r), lo), hi);
    __m512 rn = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    if (__builtin_expect(_mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(v, rn)), _mm512_set1_ps(0.5f - 0x1p-12f),
                                            _CMP_GE_OQ),
                         0)) {
        v = _mm512_min_ps(_mm512_max_ps(_mm512_maskz_div_ps(ord, xv, s), lo), hi);
        rn = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    return rn;
}

/* 16 values (m: the lanes to take) to codes, values (q * s) and/or integers q (teq_kq_qvalues), each through
 * the integer: the rounded float may be -0 where the integer 0 is +0 */
INLINE void lin32_store(__m512 rn, __m512 s, __m512i off, __mmask16 m, uint8_t *codes, float *y, float *qv) {
    const __m512i q = _mm512_cvtps_epi32(rn);
    if (codes) _mm_mask_storeu_epi8(codes, m, _mm512_cvtepi32_epi8(_mm512_add_epi32(q, off)));
    if (y) _mm512_mask_storeu_ps(y, m, _mm512_mul_ps(_mm512_cvtepi32_ps(q), s));
    if (qv) _mm512_mask_storeu_ps(qv, m, _mm512_cvtepi32_ps(q));
}

static void kq512_lin32_run(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y, float *qv) {
    const __m512 s = _mm512_set1_ps(kq->lscalef), r = _mm512_set1_ps(1.0f / kq->lscalef);
    const __m512 lo = _mm512_set1_ps((float)kq->qlo), hi = _mm512_set1_ps((float)kq->qhi);
    const __m512i off = _mm512_set1_epi32(kq->off);
    int64_t i = 0;
    /* two vectors a step: two independent chains for the ports (measured 0.19 against 0.21 ns a value) */
    for (; i + 32 <= n; i += 32) {
        const __m512 r0 = lin32_q(_mm512_loadu_ps(x + i), r, s, lo, hi), r1 = lin32_q(_mm512_loadu_ps(x + i + 16), r, s, lo, hi);
        lin32_store(r0, s, off, 0xFFFF, codes ? codes + i : NULL, y ? y + i : NULL, qv ? qv + i : NULL);
        lin32_store(r1, s, off, 0xFFFF, codes ? codes + i + 16 : NULL, y ? y + i + 16 : NULL, qv ? qv + i + 16 : NULL);
    }
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        lin32_store(lin32_q(_mm512_maskz_loadu_ps(m, x + i), r, s, lo, hi), s, off, m, codes ? codes + i : NULL,
                    y ? y + i : NULL, qv ? qv + i : NULL);
    }
}

/* the same code's integers q = code - zero point as floats (kq.c teq_kq_qvalues: INT8 depthwise inputs) */
void teq_kq_qvalues_avx512(const teq_kq *kq, const float *x, int64_t n, float *v) {
    kq512_lin32_run(kq, x, n, NULL, NULL, v);
}

/* Whether the log body beats the entry table's for codes of nlev levels (33..128) on this CPU: measured once
 * per process and class (64, 128 levels) on the first such code's quantizer, 4,096 of its own levels
 * jittered and signed, each body's least of 5 alternated runs, the log body taken only where it is 5%
 * faster. Both give the same codes and values bit for bit (tests/test_kernels.c), so the choice moves
 * time only. The entry table's gather is what differs between CPUs: on Intel (family 6 model 0xCF) the
 * entry body was faster at every width above 32 levels (fourteenth round), on AMD Zen 4 (family 25 model
 * 17) the log body at 64 and 128 levels, 0.60 against 0.82 and 0.73 against 0.80 ns a value
 * (docs/DECISIONS.md, seventeenth round). */
static int kq512_log_faster(const teq_kq *kq) {
    static int known[2] = {-1, -1}; /* per class: -1 not measured yet, else 0 / 1 */
    const int cls = kq->nlev > 64;
    int v = __atomic_load_n(&known[cls], __ATOMIC_RELAXED);
    if (v >= 0) return v;
    enum { NT = 4096 };
    float *x = malloc(sizeof(float) * NT);
    float *y = malloc(sizeof(float) * NT);
    v = 0;
    if (x && y) {
        uint32_t r = 12345;
        for (int i = 0; i < NT; i++) {
            r = r * 1664525u + 1013904223u;
            const float l = kq->lev[(r >> 8) % (uint32_t)kq->nlev];
            x[i] = l * (1.0f + (float)((r >> 4) & 15) / 64.0f) * ((r & 1) && kq->is_signed ? -1.0f : 1.0f);
        }
        double te = INFINITY, tl = INFINITY;
        for (int rep = 0; rep < 5; rep++)
            for (int b = 0; b < 2; b++) {
                struct timespec t0, t1;
                clock_gettime(CLOCK_MONOTONIC, &t0);
                if (b) kq512_ent_run(kq, x, NT, NULL, y);
                else kq512_log_run(kq, x, NT, NULL, y);
                clock_gettime(CLOCK_MONOTONIC, &t1);
                const double t = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
                if (b) te = fmin(te, t);
                else tl = fmin(tl, t);
            }
        v = tl < 0.95 * te;
    }
    free(x), free(y);
    __atomic_store_n(&known[cls], v, __ATOMIC_RELAXED);
    return v;
}

void teq_kq_run_avx512(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y) {
    const struct teq_kv8 *kv = codes || !y ? NULL : __atomic_load_n(&kq->kv, __ATOMIC_ACQUIRE);
    if (kv) { /* values only: the step table (steps512.c) */
        teq_kv8_run_avx512(kv, kq, x, n, y);
        return;
    }
    teq_kq_run_avx512_exact(kq, x, n, codes, y);
}

void teq_kq_run_avx512_exact(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y) {
    if (kq->q.lin_f32) {
        kq512_lin32_run(kq, x, n, codes, y, NULL);
        return;
    }
    if (kq->lent && kq->nlev > 32 && !(kq->logpath && kq->nlev <= 128 && kq512_log_faster(kq))) {
        kq512_ent_run(kq, x, n, codes, y);
        return;
    }
    if (kq->logpath) {
        kq512_log_run(kq, x, n, codes, y);
        return;
    }
    int64_t i = 0;
    for (; i < n; i += 16) {
        const int64_t r = n - i;
        const __mmask16 m = r >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << r) - 1);
        __m512i c = kq512_codes(kq, _mm512_maskz_loadu_ps(m, x + i));
        if (codes) _mm_mask_storeu_epi8(codes + i, m, _mm512_cvtepi32_epi8(c));
        if (y) _mm512_mask_storeu_ps(y + i, m, _mm512_i32gather_ps(c, kq->table, 4));
    }
}
