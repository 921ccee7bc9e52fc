/* The AVX2 kernel set (AVX2 + FMA + BMI2), compiled with these flags for this file only.
 *
 * Float kernels: eight codes take n bytes, so each group of 8 codes starts on a byte. Broadcast 16 bytes
 * to both 128-bit lanes, vpshufb into dword i the two bytes that hold code i, vpsrlvd by (i n) & 7, then
 * look up: vpermps reads 3 index bits, so n <= 3 is one vpermps (n = 2: the 4 values repeated); n = 4 is
 * two vpermps blended on bit 3 (moved to the sign bit for vblendvps); n >= 5 gathers from the table.
 * Four rows at a time share each load of x; the last group is masked on x (maskload gives 0 past K) and
 * the FMA result is blended back only on lanes < K, so padding codes never reach a sum.
 *
 * INT8: vpmaddubsw with x split into x & 0x7F and x & 0x80 (see avx512.c: the pair sums then fit int16
 * exactly), 4 rows x 2 columns per microkernel step of 32 k. */
#include "kint.h"

#include <float.h>
#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))

typedef struct dec256 {
    __m256i shuf, shift;
    __m256 t[4]; /* the level table in registers, 8 levels each: codes of up to 5 bits */
} dec256;

static void dec256_init(dec256 *d, int n, const float *lut) {
    uint8_t sh[32];
    uint32_t sv[8];
    for (int i = 0; i < 8; i++) {
        int bit = i * n, b = bit >> 3;
        uint8_t *s = sh + (i >> 2) * 16 + (i & 3) * 4;
        s[0] = (uint8_t)b, s[1] = (uint8_t)(b + 1), s[2] = s[3] = 0x80;
        sv[i] = (uint32_t)(bit & 7);
    }
    d->shuf = _mm256_loadu_si256((const __m256i *)sh);
    d->shift = _mm256_loadu_si256((const __m256i *)sv);
    float t[32];
    int nc = 1 << n;
    for (int i = 0; i < 32; i++) t[i] = n <= 5 ? lut[i & (nc - 1)] : 0;
    for (int j = 0; j < 4; j++) d->t[j] = _mm256_loadu_ps(t + 8 * j);
}

INLINE __m256i unpack256(const dec256 *d, const uint8_t *p) {
    __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
    return _mm256_srlv_epi32(_mm256_shuffle_epi8(v, d->shuf), d->shift);
}

/* lut[v & (2^n - 1)] for 8 lanes (bits of v above n are the next codes': ignored). Up to 5 bits from
 * registers: vpermps takes bits 0-2, blends on bit 3 (and 4) pick the table; wider codes gather (on AMD
 * Zen 3 a gather is a long microcoded sequence: the 5-bit GEMV ran at 9% of the bandwidth through it). */
INLINE __m256 lookup256(const dec256 *d, __m256i v, const int n, const float *lut) {
    if (n <= 3) return _mm256_permutevar8x32_ps(d->t[0], v);
    if (n <= 5) {
        const __m256 b3 = _mm256_castsi256_ps(_mm256_slli_epi32(v, 28));
        const __m256 lo = _mm256_blendv_ps(_mm256_permutevar8x32_ps(d->t[0], v), _mm256_permutevar8x32_ps(d->t[1], v), b3);
        if (n == 4) return lo;
        const __m256 hi = _mm256_blendv_ps(_mm256_permutevar8x32_ps(d->t[2], v), _mm256_permutevar8x32_ps(d->t[3], v), b3);
        return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(v, 27)));
    }
    return _mm256_i32gather_ps(lut, _mm256_and_si256(v, _mm256_set1_epi32((1 << n) - 1)), 4);
}

static __m256i tail_mask(int rem) {
    int32_t m[8];
    for (int i = 0; i < 8; i++) m[i] = i < rem ? -1 : 0;
    return _mm256_loadu_si256((const __m256i *)m);
}

/* y[m..m+3] = scale[m..m+3] * (the sums of a0..a3's lanes), the four horizontal sums at once */
INLINE void gemv_out4(const teq_kw *w, float *y, int64_t m, __m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    _mm_storeu_ps(y + m, _mm_mul_ps(s, _mm_loadu_ps(w->scale + m)));
}

/* y[m] = scale[m] * (the sum of a0's lanes) */
INLINE void gemv_out1(const teq_kw *w, float *y, int64_t m, __m256 a0) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1));
    s = _mm_hadd_ps(s, s);
    s = _mm_hadd_ps(s, s);
    y[m] = w->scale[m] * _mm_cvtss_f32(s);
}

INLINE void gemv256_body(const teq_kw *w, const float *x, float *y, int64_t m0, int64_t m1, const int n) {
    dec256 d;
    dec256_init(&d, n, w->lut);
    const int64_t K = w->K, G = K / 8, rb = w->row_bytes, gb = n;
    const int rem = (int)(K - G * 8);
    const __m256i tmi = tail_mask(rem);
    const __m256 tm = _mm256_castsi256_ps(tmi);
    const float *lut = w->lut;
    int64_t m = m0;
#define TAILFMA(acc, wv, xv) acc = _mm256_blendv_ps(acc, _mm256_fmadd_ps(wv, xv, acc), tm)
    for (; m + 4 <= m1; m += 4) {
        const uint8_t *r0 = w->packed + m * rb, *r1 = r0 + rb, *r2 = r1 + rb, *r3 = r2 + rb;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t g = 0; g < G; g++) {
            __m256 xv = _mm256_loadu_ps(x + g * 8);
            a0 = _mm256_fmadd_ps(lookup256(&d, unpack256(&d, r0 + g * gb), n, lut), xv, a0);
            a1 = _mm256_fmadd_ps(lookup256(&d, unpack256(&d, r1 + g * gb), n, lut), xv, a1);
            a2 = _mm256_fmadd_ps(lookup256(&d, unpack256(&d, r2 + g * gb), n, lut), xv, a2);
            a3 = _mm256_fmadd_ps(lookup256(&d, unpack256(&d, r3 + g * gb), n, lut), xv, a3);
        }
        if (rem) {
            __m256 xv = _mm256_maskload_ps(x + G * 8, tmi);
            TAILFMA(a0, lookup256(&d, unpack256(&d, r0 + G * gb), n, lut), xv);
            TAILFMA(a1, lookup256(&d, unpack256(&d, r1 + G * gb), n, lut), xv);
            TAILFMA(a2, lookup256(&d, unpack256(&d, r2 + G * gb), n, lut), xv);
            TAILFMA(a3, lookup256(&d, unpack256(&d, r3 + G * gb), n, lut), xv);
        }
        gemv_out4(w, y, m, a0, a1, a2, a3);
    }
    for (; m < m1; m++) {
        const uint8_t *r0 = w->packed + m * rb;
        __m256 a0 = _mm256_setzero_ps();
        for (int64_t g = 0; g < G; g++)
            a0 = _mm256_fmadd_ps(lookup256(&d, unpack256(&d, r0 + g * gb), n, lut), _mm256_loadu_ps(x + g * 8), a0);
        if (rem) TAILFMA(a0, lookup256(&d, unpack256(&d, r0 + G * gb), n, lut), _mm256_maskload_ps(x + G * 8, tmi));
        gemv_out1(w, y, m, a0);
    }
#undef TAILFMA
}

INLINE void decode256_body(const teq_kw *w, int64_t m0, int64_t m1, float *out, const int n) {
    dec256 d;
    dec256_init(&d, n, w->lut);
    const int64_t K = w->K, G = K / 8, rb = w->row_bytes, gb = n;
    const int rem = (int)(K - G * 8);
    const __m256i tmi = tail_mask(rem);
    for (int64_t m = m0; m < m1; m++) {
        const uint8_t *r = w->packed + m * rb;
        float *o = out + (m - m0) * K;
        const __m256 s = _mm256_set1_ps(w->scale[m]);
        for (int64_t g = 0; g < G; g++)
            _mm256_storeu_ps(o + g * 8, _mm256_mul_ps(s, lookup256(&d, unpack256(&d, r + g * gb), n, w->lut)));
        if (rem)
            _mm256_maskstore_ps(o + G * 8, tmi, _mm256_mul_ps(s, lookup256(&d, unpack256(&d, r + G * gb), n, w->lut)));
    }
}

/* 4-bit codes, 32 at a time (16 bytes: byte j holds codes 2j, low nibble, and 2j+1), looked up by bytes:
 * the low nibbles go to the low 128-bit lane and the high ones to the high lane (vpsrlvq by 0 / 4, mask),
 * four vpshufb read byte 0..3 of each code's float from four 16-entry byte tables, and two rounds of
 * unpacks put the bytes back together. Float f[i] (i = 0..3) then holds codes 8i + {0,2,4,6} in its low
 * lane and 8i + {1,3,5,7} in its high lane, so x is read through the same permutation (vpermps once per 8
 * values, shared by the four rows). 19 instructions per 32 weights and row where the vpermps lookup
 * (gemv256_body) takes 32; the values are the table's bit for bit, only the order of the additions
 * differs. */
typedef struct dec4b {
    __m256i t[4], lomask, shift;
} dec4b;

static void dec4b_init(dec4b *d, const float *lut) {
    uint8_t t[4][32];
    for (int c = 0; c < 32; c++) {
        uint32_t b;
        memcpy(&b, lut + (c & 15), 4);
        for (int j = 0; j < 4; j++) t[j][c] = (uint8_t)(b >> (8 * j));
    }
    for (int j = 0; j < 4; j++) d->t[j] = _mm256_loadu_si256((const __m256i *)t[j]);
    d->lomask = _mm256_set1_epi8(0x0F);
    d->shift = _mm256_setr_epi64x(0, 0, 4, 4);
}

INLINE void levels4b(const dec4b *d, const uint8_t *p, __m256 f[4]) {
    const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
    const __m256i c = _mm256_and_si256(_mm256_srlv_epi64(v, d->shift), d->lomask);
    const __m256i b0 = _mm256_shuffle_epi8(d->t[0], c), b1 = _mm256_shuffle_epi8(d->t[1], c);
    const __m256i b2 = _mm256_shuffle_epi8(d->t[2], c), b3 = _mm256_shuffle_epi8(d->t[3], c);
    const __m256i l01 = _mm256_unpacklo_epi8(b0, b1), h01 = _mm256_unpackhi_epi8(b0, b1);
    const __m256i l23 = _mm256_unpacklo_epi8(b2, b3), h23 = _mm256_unpackhi_epi8(b2, b3);
    f[0] = _mm256_castsi256_ps(_mm256_unpacklo_epi16(l01, l23));
    f[1] = _mm256_castsi256_ps(_mm256_unpackhi_epi16(l01, l23));
    f[2] = _mm256_castsi256_ps(_mm256_unpacklo_epi16(h01, h23));
    f[3] = _mm256_castsi256_ps(_mm256_unpackhi_epi16(h01, h23));
}

/* R rows (1 or 4) from row m: the 32-code blocks by bytes, the rest (K % 32) through lookup256 */
INLINE void gemv4b_rows(const teq_kw *w, const dec4b *d4, const dec256 *d, const float *x, float *y, int64_t m,
                        const int R, const __m256i tmi) {
    const int64_t K = w->K, G = K / 8, NB = K / 32, rb = w->row_bytes;
    const int rem = (int)(K - G * 8);
    const __m256 tm = _mm256_castsi256_ps(tmi);
    const __m256i perm = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    const uint8_t *r = w->packed + m * rb;
    __m256 acc[4][2];
    _Pragma("GCC unroll 4") for (int i = 0; i < R; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int64_t b = 0; b < NB; b++) {
        __m256 xp[4];
        _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++)
            xp[i] = _mm256_permutevar8x32_ps(_mm256_loadu_ps(x + 32 * b + 8 * i), perm);
        _Pragma("GCC unroll 4") for (int i = 0; i < R; i++) {
            __m256 f[4];
            levels4b(d4, r + i * rb + 16 * b, f);
            acc[i][0] = _mm256_fmadd_ps(f[0], xp[0], acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(f[1], xp[1], acc[i][1]);
            acc[i][0] = _mm256_fmadd_ps(f[2], xp[2], acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(f[3], xp[3], acc[i][1]);
        }
    }
    for (int64_t g = 4 * NB; g < G; g++) {
        const __m256 xv = _mm256_loadu_ps(x + g * 8);
        _Pragma("GCC unroll 4") for (int i = 0; i < R; i++)
            acc[i][0] = _mm256_fmadd_ps(lookup256(d, unpack256(d, r + i * rb + g * 4), 4, w->lut), xv, acc[i][0]);
    }
    if (rem) {
        const __m256 xv = _mm256_maskload_ps(x + G * 8, tmi);
        _Pragma("GCC unroll 4") for (int i = 0; i < R; i++) {
            const __m256 v = lookup256(d, unpack256(d, r + i * rb + G * 4), 4, w->lut);
            acc[i][1] = _mm256_blendv_ps(acc[i][1], _mm256_fmadd_ps(v, xv, acc[i][1]), tm);
        }
    }
    if (R == 4)
        gemv_out4(w, y, m, _mm256_add_ps(acc[0][0], acc[0][1]), _mm256_add_ps(acc[1][0], acc[1][1]),
                  _mm256_add_ps(acc[2][0], acc[2][1]), _mm256_add_ps(acc[3][0], acc[3][1]));
    else
        gemv_out1(w, y, m, _mm256_add_ps(acc[0][0], acc[0][1]));
}

__attribute__((noinline)) static void gemv4b(const teq_kw *w, const float *x, float *y, int64_t m0, int64_t m1) {
    dec4b d4;
    dec4b_init(&d4, w->lut);
    dec256 d;
    dec256_init(&d, 4, w->lut);
    const __m256i tmi = tail_mask((int)(w->K % 8));
    int64_t m = m0;
    for (; m + 4 <= m1; m += 4) gemv4b_rows(w, &d4, &d, x, y, m, 4, tmi);
    for (; m < m1; m++) gemv4b_rows(w, &d4, &d, x, y, m, 1, tmi);
}

static void gemv_avx2(const teq_kw *w, const float *x, float *y, int64_t m0, int64_t m1) {
    if (w->q.bits == 4) {
        gemv4b(w, x, y, m0, m1);
        return;
    }
    PER_BITS(gemv256_body, w, x, y, m0, m1)
}

static void decode_avx2(const teq_kw *w, int64_t m0, int64_t m1, float *out) {
    PER_BITS(decode256_body, w, m0, m1, out)
}

/* ---- INT8 ---- */

INLINE float i8_out(const teq_kw *w, int64_t m, int32_t dot, int32_t zp, float xscale) {
    return (w->scale[m] * xscale) * (float)(dot - zp * w->q8_rowsum[m]);
}

INLINE int32_t hsum256(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* R rows x C columns (R <= 4, C <= 2), out[r * C + c] = dot(W row r, X column c) over K4 */
INLINE void mk256(const int R, const int C, const int8_t *W, int64_t ldw, const uint8_t *X, int64_t ldx, int64_t K4,
                  int32_t *out, const int split) {
    __m256i acc[4][2];
    const __m256i ones = _mm256_set1_epi16(1), lo7 = _mm256_set1_epi8(0x7F), hi1 = _mm256_set1_epi8((char)0x80);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_si256();
    for (int64_t k = 0; k < K4; k += 32) {
        __m256i xa[2], xb[2];
#pragma GCC unroll 2
        for (int c = 0; c < C; c++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(X + c * ldx + k));
            xa[c] = split ? _mm256_and_si256(xv, lo7) : xv;
            xb[c] = _mm256_and_si256(xv, hi1);
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            __m256i wv = _mm256_loadu_si256((const __m256i *)(W + r * ldw + k));
#pragma GCC unroll 2
            for (int c = 0; c < C; c++)
                acc[r][c] = split ? _mm256_add_epi32(acc[r][c], _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(xa[c], wv), ones),
                                                                               _mm256_madd_epi16(_mm256_maddubs_epi16(xb[c], wv), ones)))
                                  : _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(_mm256_maddubs_epi16(xa[c], wv), ones));
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int c = 0; c < C; c++) out[r * C + c] = hsum256(acc[r][c]);
}

INLINE void i8_gemm_body(const teq_kw *w, const uint8_t *X, int64_t N, int32_t zp, float xscale, float *Y, int64_t ldy,
                         int64_t m0, int64_t m1, const int split) {
    const int64_t K4 = w->K4;
    int32_t d[8];
    int64_t c = 0;
    for (; c + 2 <= N; c += 2) {
        int64_t m = m0;
        for (; m + 4 <= m1; m += 4) {
            mk256(4, 2, w->q8 + m * K4, K4, X + c * K4, K4, K4, d, split);
            for (int r = 0; r < 4; r++)
                for (int j = 0; j < 2; j++) Y[(m + r) * ldy + c + j] = i8_out(w, m + r, d[r * 2 + j], zp, xscale);
        }
        for (; m < m1; m++) {
            mk256(1, 2, w->q8 + m * K4, K4, X + c * K4, K4, K4, d, split);
            for (int j = 0; j < 2; j++) Y[m * ldy + c + j] = i8_out(w, m, d[j], zp, xscale);
        }
    }
    for (; c < N; c++) {
        int64_t m = m0;
        for (; m + 4 <= m1; m += 4) {
            mk256(4, 1, w->q8 + m * K4, K4, X + c * K4, K4, K4, d, split);
            for (int r = 0; r < 4; r++) Y[(m + r) * ldy + c] = i8_out(w, m + r, d[r], zp, xscale);
        }
        for (; m < m1; m++) {
            mk256(1, 1, w->q8 + m * K4, K4, X + c * K4, K4, K4, d, split);
            Y[m * ldy + c] = i8_out(w, m, d[0], zp, xscale);
        }
    }
}

static int i8_bytes_wanted(void);

/* weights whose k pairs fit (teq_kw.q8_pairs): one vpmaddubsw per step, no split of the codes */
static void i8_gemm_avx2(const teq_kw *w, const uint8_t *X, int64_t N, int32_t zp, float xscale, float *Y, int64_t ldy,
                         int64_t m0, int64_t m1) {
    if (w->q8_pairs && i8_bytes_wanted()) i8_gemm_body(w, X, N, zp, xscale, Y, ldy, m0, m1, 0);
    else i8_gemm_body(w, X, N, zp, xscale, Y, ldy, m0, m1, 1);
}

static void i8_gemv_avx2(const teq_kw *w, const uint8_t *x, int32_t zp, float xscale, float *y, int64_t m0,
                         int64_t m1) {
    i8_gemm_avx2(w, x, 1, zp, xscale, y, 1, m0, m1);
}

/* ---- FP32 convolution (kernels.h, f32_conv), AVX2 + FMA ----
 * The weights [M/6][K][6]; a 6 x 16 block of 12 ymm accumulators, 2 panel loads and 6 broadcasts per k
 * (12 FMA per 8 loads, 15 registers). An NB = 48 column panel is three such blocks per row block. On this
 * Zen 3 a loop over one k slice in L1 reached 98 GFLOP/s in this shape against 73 for the 4 x 24 block it
 * replaces (3 loads, 4 broadcasts, 16 registers: docs/DECISIONS.md "Speed, sixth round"). K runs in
 * slices of TEQ_F32C_KC taps: the panel of a slice ([KC][48] floats, 24 KB) stays in L1 while every row
 * block passes over it, and the partial sums wait in Y between slices (the same float additions in the
 * same order as one pass: the result does not depend on the slicing). */

/* ---- 8-bit lanes GEMV of 4-bit weights (kernels.h, teq_kl8x) ----
 * Without vpdpbusd: vpmaddubsw takes |wl| (unsigned, <= 127) against xi with wl's sign (vpsignb), so each
 * pair sums to at most 2 * 127 * 127 = 32258 and never saturates; vpmaddwd by ones widens the pairs to
 * int32. Per 32-byte half of a block: the low nibbles (k = 2 i) against xi's even half, the high ones against
 * the odd half. No offset, so neg is not read. */
INLINE void gl8_rows256(const teq_kw *w, const teq_kl8x *x, float *y, int64_t m, const int R) {
    const int64_t NB = x->NB, rb = w->row_bytes;
    const uint8_t *r0 = w->packed + m * rb;
    const __m256i T = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)x->wl));
    const __m256i M4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi16(1);
    __m256 F[4];
    _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) F[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < NB; b++) {
        const int8_t *xb = x->xi + b * TEQ_KL8_B;
        const __m256 d = _mm256_set1_ps(x->dx[b]);
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {
            __m256i acc = _mm256_setzero_si256();
            _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
                const __m256i v = _mm256_load_si256((const __m256i *)(r0 + r * rb + b * 64 + 32 * h));
                const __m256i wlo = _mm256_shuffle_epi8(T, _mm256_and_si256(v, M4));
                const __m256i whi = _mm256_shuffle_epi8(T, _mm256_and_si256(_mm256_srli_epi16(v, 4), M4));
                const __m256i xe = _mm256_load_si256((const __m256i *)(xb + 32 * h));
                const __m256i xo = _mm256_load_si256((const __m256i *)(xb + 64 + 32 * h));
                const __m256i pe = _mm256_maddubs_epi16(_mm256_abs_epi8(wlo), _mm256_sign_epi8(xe, wlo));
                const __m256i po = _mm256_maddubs_epi16(_mm256_abs_epi8(whi), _mm256_sign_epi8(xo, whi));
                acc = _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(pe, one), _mm256_madd_epi16(po, one)));
            }
            F[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), d, F[r]);
        }
    }
    _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(F[r]), _mm256_extractf128_ps(F[r], 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        h = _mm_add_ss(h, _mm_movehdup_ps(h));
        y[m + r] = (w->scale[m + r] * x->dw) * _mm_cvtss_f32(h);
    }
}

static void gemv_l8_avx2(const teq_kw *w, const teq_kl8x *x, float *y, int64_t m0, int64_t m1) {
    int64_t m = m0;
    for (; m + 4 <= m1; m += 4) gl8_rows256(w, x, y, m, 4);
    for (; m < m1; m++) gl8_rows256(w, x, y, m, 1);
}

/* dst[i] = s[i * sw] for i < len (len <= 48): vector copies, a scalar tail, no call. Stride 2 (the first
 * convolution of every model here): the even floats of 16 by a shuffle and a permute, only while the 16th
 * (s[2i + 15]) is inside the row (i + 8 < len), as i8p_pair does */
INLINE void f32c_copy(float *dst, const float *s, int64_t len, int64_t sw) {
    int64_t i = 0;
    if (sw == 1) {
        for (; i + 8 <= len; i += 8) _mm256_storeu_ps(dst + i, _mm256_loadu_ps(s + i));
        if (i < len) {
            /* the last 1..7 by one masked load (never past the source) and a whole store: the 8 - (len - i)
             * floats after the run are the next run's or the next tap row's, written after this one, or the
             * panel's slack after its last row (TEQ_F32C_PANEL_FLOATS: 16 floats). On 7 x 7 and 14 x 14
             * planes (runs of 7 and 14) the scalar tail was a fifth of the kernel's samples. */
            static const int32_t mt[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
            const __m256i m = _mm256_loadu_si256((const void *)(mt + 8 - (len - i)));
            _mm256_storeu_ps(dst + i, _mm256_maskload_ps(s + i, m));
            return;
        }
    } else if (sw == 2) {
        for (; i + 8 < len; i += 8) {
            const __m256 a = _mm256_loadu_ps(s + 2 * i), b = _mm256_loadu_ps(s + 2 * i + 8);
            /* [a0 a2 b0 b2 | a4 a6 b4 b6] -> [a0 a2 a4 a6 b0 b2 b4 b6] */
            const __m256 e = _mm256_shuffle_ps(a, b, 0x88);
            _mm256_storeu_ps(dst + i, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8)));
        }
    }
    for (; i < len; i++) dst[i] = s[i * sw];
}

/* R rows (R = 6, 4 or 2; `rows` <= R of them exist, the pack's rows past M are 0) of row block mb, block
 * columns j0 .. j0+8C-1, taps k0 .. k0+kc-1. Their inputs: packed (D = 0), the panel P (row k - k0); direct
 * (D = 1), read where they lie, tap k's row at Xd + toff[k] (the block's columns contiguous in every tap's
 * plane; a partial last vector read masked, never past the columns). first: start from 0, else from Y;
 * last: add the bias. */
INLINE void f32c_block(const teq_kwf *w, const float *P, const float *Xd, const int32_t *toff, int64_t k0, int64_t kc,
                       int64_t mb, int rows, int64_t j0, int64_t nb, int first, const float *bias, const teq_kpost *act,
                       float *Y, int64_t ldy, const int R, const int C, const int D) {
    const int64_t m0 = mb * TEQ_F32C_MR;
    /* the last vector's columns that exist (1..8): a partial one goes through a buffer, since AMD's masked
     * stores (vmaskmovps) cost tens of cycles each */
    const int tail = (int)(nb - j0 - 8 * (C - 1) < 8 ? nb - j0 - 8 * (C - 1) : 8);
    __m256 acc[6][2];
    _Pragma("GCC unroll 6") for (int r = 0; r < R; r++) _Pragma("GCC unroll 2") for (int c = 0; c < C; c++) {
        const float *y = Y + (m0 + r) * ldy + j0 + 8 * c;
        if (first || r >= rows) {
            acc[r][c] = _mm256_setzero_ps();
        } else if (c < C - 1 || tail == 8) {
            acc[r][c] = _mm256_loadu_ps(y);
        } else {
            float t[8] = {0};
            memcpy(t, y, sizeof(float) * (size_t)tail);
            acc[r][c] = _mm256_loadu_ps(t);
        }
    }
    const float *Wp = w->p + (mb * w->K + k0) * TEQ_F32C_MR;
    const float *Pj = D ? Xd + j0 : P + j0;
    const int32_t *tk = toff + k0;
    const __m256i tm = tail_mask(tail);
    /* the loop twice, masked last vector or not, so that no test is left in it (with the test inside, GCC
     * kept two branches a step) */
#define F32C_KLOOP(MASKED)                                                                                             \
    for (int64_t k = 0; k < kc; k++) {                                                                                 \
        __m256 a[2];                                                                                                   \
        const float *pk = D ? Pj + tk[k] : Pj + k * TEQ_I8C_NB;                                                        \
        _Pragma("GCC unroll 2") for (int c = 0; c < C; c++) a[c] =                                                     \
            (MASKED) && c == C - 1 ? _mm256_maskload_ps(pk + 8 * c, tm) : _mm256_loadu_ps(pk + 8 * c);                \
        const float *wk = Wp + k * TEQ_F32C_MR;                                                                        \
        _Pragma("GCC unroll 6") for (int r = 0; r < R; r++) {                                                          \
            const __m256 b = _mm256_broadcast_ss(wk + r);                                                              \
            _Pragma("GCC unroll 2") for (int c = 0; c < C; c++) acc[r][c] = _mm256_fmadd_ps(a[c], b, acc[r][c]);       \
        }                                                                                                              \
    }
    if (D && tail < 8) F32C_KLOOP(1)
    else F32C_KLOOP(0)
#undef F32C_KLOOP
    /* the activation (last slice only): max and min with the bound first, so that NaN and equal values (+0
     * against -0) give the second operand, y, as the operators' expressions do; Relu's NaN gives 0 */
    const __m256 alo = _mm256_set1_ps(act ? act->lo : 0.0f), ahi = _mm256_set1_ps(act ? act->hi : 0.0f);
    _Pragma("GCC unroll 6") for (int r = 0; r < R; r++) {
        if (r >= rows) break;
        const __m256 bv = _mm256_set1_ps(bias ? bias[m0 + r] : 0.0f);
        _Pragma("GCC unroll 2") for (int c = 0; c < C; c++) {
            __m256 v = bias ? _mm256_add_ps(acc[r][c], bv) : acc[r][c];
            if (act && act->act == TEQ_KACT_RELU) v = _mm256_max_ps(v, _mm256_setzero_ps());
            else if (act) v = _mm256_min_ps(ahi, _mm256_max_ps(alo, v));
            float *y = Y + (m0 + r) * ldy + j0 + 8 * c;
            if (c < C - 1 || tail == 8) {
                _mm256_storeu_ps(y, v);
            } else {
                float t[8];
                _mm256_storeu_ps(t, v);
                memcpy(y, t, sizeof(float) * (size_t)tail);
            }
        }
    }
}

/* one row block (rows <= 6 of them) over the block's nb columns, in 16-column blocks */
INLINE void f32c_rows(const teq_kwf *w, const float *P, const float *Xd, const int32_t *toff, int64_t k0, int64_t kc,
                      int64_t mb, int rows, int64_t nb, int first, const float *bias, const teq_kpost *act, float *Y,
                      int64_t ldy, const int R, const int D) {
    for (int64_t j0 = 0; j0 < nb; j0 += 16) {
        if (nb - j0 > 8) f32c_block(w, P, Xd, toff, k0, kc, mb, rows, j0, nb, first, bias, act, Y, ldy, R, 2, D);
        else f32c_block(w, P, Xd, toff, k0, kc, mb, rows, j0, nb, first, bias, act, Y, ldy, R, 1, D);
    }
}

/* row blocks mb0 <= mb < mb1 over one K slice */
INLINE void f32c_slice(const teq_kwf *w, const float *P, const float *Xd, const int32_t *toff, int64_t k0, int64_t kc,
                       int64_t nb, int first, const float *bias, const teq_kpost *act, float *Y, int64_t ldy,
                       int64_t mb0, int64_t mb1, const int D) {
    for (int64_t mb = mb0; mb < mb1; mb++) {
        const int rows = (int)(w->M - mb * TEQ_F32C_MR < TEQ_F32C_MR ? w->M - mb * TEQ_F32C_MR : TEQ_F32C_MR);
        /* a last block of fewer rows computes 4 or 2 (the pack's rows past M are 0) */
        if (rows > 4) f32c_rows(w, P, Xd, toff, k0, kc, mb, rows, nb, first, bias, act, Y, ldy, 6, D);
        else if (rows > 2) f32c_rows(w, P, Xd, toff, k0, kc, mb, rows, nb, first, bias, act, Y, ldy, 4, D);
        else f32c_rows(w, P, Xd, toff, k0, kc, mb, rows, nb, first, bias, act, Y, ldy, 2, D);
    }
}

/* Direct (no panel) for kernels wider than 1x1 at stride 1 along the row (or stride 2 from deinterleaved
 * rows, teq_i8conv.deint), output rows of 16 columns or more: blocks that end at the end of their output
 * row, so that their columns lie contiguous in each tap's plane. The panel copy was 9% of the kernel's
 * samples on M-LSD's 3x3 64 -> 64 layer (5.75 -> 5.27 ms direct). From 16 columns, not 32: on
 * Fashion-MNIST's 3x3 16 -> 16 convolutions at 28 x 28 (blocks of 16 + 12 columns, the last vector masked)
 * 0.074 -> 0.064 ms a layer; at 14 x 14 the two paths took the same time, at 20 x 20 (M-LSD, det) too, and at
 * 7 x 7 the panel was faster (0.072 against 0.080). 1x1 convolutions keep the panel: read direct, each k is
 * another plane (16 planes 100 KB apart fell in one L1 set) and they ran 1.2-1.9x slower. The tap offsets
 * go into the caller's panel buffer (K int32 fit in it up to K = 6160; else packed). */

static void f32_conv_avx2(const teq_kwf *w, const teq_i8conv *g, const float *X, const float *bias, float *Y,
                          int64_t ldy, int64_t n0, int64_t n1, float *panel, const teq_kpost *post) {
    TEQ_F32C_DRIVER_BODY(f32c_slice, f32c_copy, 0) /* no output prefetch: not measured on Zen 3 (DECISIONS, tenth round) */
}

/* ---- INT8 and integer-lanes convolutions (kernels.h, i8_conv and i16_conv), AVX2 ----
 * Without VNNI, vpmaddubsw (u8 x s8) saturates its pair sums; here both sides are int16 instead: the INT8
 * codes as q - zp (-255 .. 255, while packing the panel) and the weights as int16, two k per dword, and
 * vpmaddwd (two exact products summed into each int32 lane) + vpaddd. sum_k w (q - zp) is dot - zp * rowsum
 * exactly, so the output is the i8_gemm formula bit for bit. The panel is [K2/2][48][2] int16 (one dword per
 * column and pair of k), the weights of 8 rows at a pair 8 dwords ([Mb][K2/2][8][2], teq_kw16.p's layout;
 * INT8 weights are widened from q8p per row block into the thread's buffer). An 8 x 48 tile is six 4 x 16
 * blocks of 8 accumulators (with 12, as f32_conv, the products' temporaries spilled the accumulators). */

/* dst[2i + t] = s_t[i * sw] - zp for i < len (len <= 48), t = 0, 1 */
INLINE void i8p_pair(int16_t *dst, const uint8_t *s0, const uint8_t *s1, int64_t len, int64_t sw, int32_t zp) {
    int64_t i = 0;
    const __m256i z = _mm256_set1_epi16((int16_t)zp);
    if (sw == 1) {
        for (; i + 16 <= len; i += 16) {
            const __m256i a = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const void *)(s0 + i))), z);
            const __m256i b = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const void *)(s1 + i))), z);
            const __m256i lo = _mm256_unpacklo_epi16(a, b), hi = _mm256_unpackhi_epi16(a, b);
            _mm256_storeu_si256((void *)(dst + 2 * i), _mm256_permute2x128_si256(lo, hi, 0x20));
            _mm256_storeu_si256((void *)(dst + 2 * i + 16), _mm256_permute2x128_si256(lo, hi, 0x31));
        }
    } else if (sw == 2) {
        /* the even bytes of 32 as int16 (their words masked to the low byte); 32 bytes read, the last one
         * not needed, so only while it is inside the row (i + 16 < len) */
        const __m256i lob = _mm256_set1_epi16(0xFF);
        for (; i + 16 < len; i += 16) {
            const __m256i a = _mm256_sub_epi16(_mm256_and_si256(_mm256_loadu_si256((const void *)(s0 + 2 * i)), lob), z);
            const __m256i b = _mm256_sub_epi16(_mm256_and_si256(_mm256_loadu_si256((const void *)(s1 + 2 * i)), lob), z);
            const __m256i lo = _mm256_unpacklo_epi16(a, b), hi = _mm256_unpackhi_epi16(a, b);
            _mm256_storeu_si256((void *)(dst + 2 * i), _mm256_permute2x128_si256(lo, hi, 0x20));
            _mm256_storeu_si256((void *)(dst + 2 * i + 16), _mm256_permute2x128_si256(lo, hi, 0x31));
        }
    }
    for (; i < len; i++) dst[2 * i] = (int16_t)(s0[i * sw] - zp), dst[2 * i + 1] = (int16_t)(s1[i * sw] - zp);
}

/* dst[2i + t] = s_t[i * sw] for i < len, int16 sources (integer lanes) */
INLINE void i16p_pair(int16_t *dst, const int16_t *s0, const int16_t *s1, int64_t len, int64_t sw) {
    int64_t i = 0;
    if (sw == 1) {
        for (; i + 16 <= len; i += 16) {
            const __m256i a = _mm256_loadu_si256((const void *)(s0 + i)), b = _mm256_loadu_si256((const void *)(s1 + i));
            const __m256i lo = _mm256_unpacklo_epi16(a, b), hi = _mm256_unpackhi_epi16(a, b);
            _mm256_storeu_si256((void *)(dst + 2 * i), _mm256_permute2x128_si256(lo, hi, 0x20));
            _mm256_storeu_si256((void *)(dst + 2 * i + 16), _mm256_permute2x128_si256(lo, hi, 0x31));
        }
    }
    for (; i < len; i++) dst[2 * i] = s0[i * sw], dst[2 * i + 1] = s1[i * sw];
}

/* The panel of columns nc .. nc+nb-1 over kp pairs of taps (taps past K read tap 0: their weights are 0) */
#define PAIR_PANEL(PAIR, ...)                                                                                          \
    do {                                                                                                               \
        conv_runs r_;                                                                                                  \
        conv_runs_of(g, nc, nb, &r_);                                                                                  \
        conv_tap tap_ = {0, 0, 0};                                                                                     \
        for (int64_t kp = 0; kp < npairs; kp++) {                                                                      \
            const int64_t o0 = conv_tap_next(g, &tap_), o1 = conv_tap_next(g, &tap_);                                  \
            const int64_t a0 = 2 * kp < K ? o0 : 0, a1 = 2 * kp + 1 < K ? o1 : a0;                                    \
            int16_t *dst = panel + kp * (TEQ_I8C_NB * 2);                                                              \
            for (int i = 0; i < r_.n; i++)                                                                             \
                PAIR(dst + 2 * r_.rj[i], Q + a0 + r_.roff[i], Q + a1 + r_.roff[i], r_.rlen[i], g->SW, ##__VA_ARGS__); \
        }                                                                                                              \
    } while (0)

/* rows r0 .. r0+3 of an 8-row block (weights Wb [npairs][8][2]), panel columns j0 .. j0+8C-1: the int32 sums */
INLINE void i16_block4(const int16_t *Wb, const int16_t *P, int64_t npairs, int r0, int64_t j0, __m256i acc[4][3],
                       const int C) {
    _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) _Pragma("GCC unroll 3") for (int c = 0; c < C; c++)
        acc[r][c] = _mm256_setzero_si256();
    const int16_t *Pj = P + 2 * j0;
    if (C == 2) {
        /* the full block with named registers, as i8q_block: from the arrays GCC -O2 copied every accumulator
         * once per step (36 instructions a pair of taps for 16 of work) */
        __m256i c00 = acc[0][0], c01 = acc[0][1], c10 = acc[1][0], c11 = acc[1][1];
        __m256i c20 = acc[2][0], c21 = acc[2][1], c30 = acc[3][0], c31 = acc[3][1];
        for (int64_t k = 0; k < npairs; k++) {
            const int16_t *pk = Pj + k * (TEQ_I8C_NB * 2);
            const __m256i a0 = _mm256_loadu_si256((const void *)pk), a1 = _mm256_loadu_si256((const void *)(pk + 16));
            const int16_t *wk = Wb + k * (TEQ_I8C_MR * 2) + 2 * r0;
            int32_t w0, w1, w2, w3;
            memcpy(&w0, wk, 4), memcpy(&w1, wk + 2, 4), memcpy(&w2, wk + 4, 4), memcpy(&w3, wk + 6, 4);
            const __m256i b0 = _mm256_set1_epi32(w0), b1 = _mm256_set1_epi32(w1);
            const __m256i b2 = _mm256_set1_epi32(w2), b3 = _mm256_set1_epi32(w3);
            c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(a0, b0));
            c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(a1, b0));
            c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(a0, b1));
            c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(a1, b1));
            c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(a0, b2));
            c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(a1, b2));
            c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(a0, b3));
            c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(a1, b3));
        }
        acc[0][0] = c00, acc[0][1] = c01, acc[1][0] = c10, acc[1][1] = c11;
        acc[2][0] = c20, acc[2][1] = c21, acc[3][0] = c30, acc[3][1] = c31;
        return;
    }
    for (int64_t k = 0; k < npairs; k++) {
        __m256i a[3];
        _Pragma("GCC unroll 3") for (int c = 0; c < C; c++)
            a[c] = _mm256_loadu_si256((const void *)(Pj + k * (TEQ_I8C_NB * 2) + 16 * c));
        const int16_t *wk = Wb + k * (TEQ_I8C_MR * 2) + 2 * r0;
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {
            int32_t wv;
            memcpy(&wv, wk + 2 * r, 4);
            const __m256i b = _mm256_set1_epi32(wv);
            _Pragma("GCC unroll 3") for (int c = 0; c < C; c++)
                acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(a[c], b));
        }
    }
}

/* y[0 .. min(left, 8) - 1] = v, plus *b first when b is set: the empty asm keeps v a rounded float (the
 * compiler may not contract the product before it and the add into an FMA) */
INLINE void i8_out8(float *y, __m256 v, const float *b, int64_t left) {
    if (b) {
        __asm__("" : "+x"(v));
        v = _mm256_add_ps(v, _mm256_set1_ps(*b));
    }
    if (left >= 8) {
        _mm256_storeu_ps(y, v);
    } else {
        float t[8];
        _mm256_storeu_ps(t, v);
        memcpy(y, t, sizeof(float) * (size_t)left);
    }
}

/* y = fl(fl((scale[m] * xscale) * (float)acc) + bias[m]) for the rows < M and columns < nb of a 4 x 24
 * block */
INLINE void i16_out4(__m256i acc[4][3], int64_t m0, int64_t M, const float *scale, float xscale, const float *bias,
                     float *Y, int64_t ldy, int64_t j0, int64_t nb, const int C) {
    for (int r = 0; r < 4 && m0 + r < M; r++) {
        const __m256 sc = _mm256_set1_ps(scale[m0 + r] * xscale);
        _Pragma("GCC unroll 3") for (int c = 0; c < C; c++) {
            i8_out8(Y + (m0 + r) * ldy + j0 + 8 * c, _mm256_mul_ps(sc, _mm256_cvtepi32_ps(acc[r][c])),
                    bias ? bias + m0 + r : NULL, nb - j0 - 8 * c);
        }
    }
}

/* every row block over the panel: Wb(mb) the block's int16 weights */
#define I16_TILE(WB, ROWSCALE)                                                                                         \
    for (int64_t mb = 0; mb < Mb; mb++) {                                                                              \
        const int16_t *Wb_ = (WB);                                                                                     \
        for (int r0 = 0; r0 < TEQ_I8C_MR && mb * TEQ_I8C_MR + r0 < M; r0 += 4)                                         \
            for (int64_t j0 = 0; j0 < nb; j0 += 16) {                                                                  \
                __m256i acc[4][3];                                                                                     \
                const int64_t m0 = mb * TEQ_I8C_MR + r0;                                                               \
                if (nb - j0 > 8) {                                                                                     \
                    i16_block4(Wb_, panel, npairs, r0, j0, acc, 2);                                                    \
                    i16_out4(acc, m0, M, ROWSCALE, xscale, bias, Yb, ldy, j0, nb, 2);                                  \
                } else {                                                                                               \
                    i16_block4(Wb_, panel, npairs, r0, j0, acc, 1);                                                    \
                    i16_out4(acc, m0, M, ROWSCALE, xscale, bias, Yb, ldy, j0, nb, 1);                                  \
                }                                                                                                      \
            }                                                                                                          \
    }

/* q8p's block mb ([Kq/4][8][4] int8) widened to [Kq/2][8][2] int16: the k-group's 32 bytes are rows 0-3 and
 * 4-7 of four k; even dwords (k 0, 1) and odd ones (k 2, 3) gathered into the two pairs' rows */
static void widen_q8p(const teq_kw *w, int64_t mb, int16_t *out) {
    const int8_t *src = w->q8p + mb * w->Kq * TEQ_I8C_MR;
    const __m256i eo = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    for (int64_t kg = 0; kg < w->Kq / 4; kg++) {
        const __m128i v0 = _mm_loadu_si128((const void *)(src + kg * 32)), v1 = _mm_loadu_si128((const void *)(src + kg * 32 + 16));
        const __m256i lo = _mm256_permutevar8x32_epi32(_mm256_cvtepi8_epi16(v0), eo);
        const __m256i hi = _mm256_permutevar8x32_epi32(_mm256_cvtepi8_epi16(v1), eo);
        _mm256_storeu_si256((void *)(out + kg * 32), _mm256_permute2x128_si256(lo, hi, 0x20));
        _mm256_storeu_si256((void *)(out + kg * 32 + 16), _mm256_permute2x128_si256(lo, hi, 0x31));
    }
}

/* ---- INT8 convolution by bytes (vpmaddubsw), for weights whose pairs fit (teq_kw.q8_pairs) ----
 * The VNNI kernel's layout (avx512.c): a panel of [Kq/4][48][4] codes (column j's 4 codes of a k-group as
 * one dword) and the weights q8p ([Mb][Kq/4][8][4], read as they are: nothing widened). Per k-group a
 * 2 x 24 block loads 3 panel vectors and broadcasts 2 weight dwords; vpmaddubsw sums each pair of u8 x s8
 * products into int16 (exact: |w| + |w'| <= 128 and codes <= 255 keep it within 32640), vpmaddwd by 1
 * widens the pairs' sums to int32, vpaddd accumulates. The sum is dot (codes, not code - zp), so the
 * epilogue subtracts zp * rowsum: the same int32 as the int16 kernel's sum of w (q - zp), the same floats.
 * A loop over one k slice in L1 ran 95-98 G MAC/s in this shape on this Zen 3 (4 x 16: 73-76; the int16
 * kernel's 4 x 16: 61; FP32's 6 x 16: 48): docs/DECISIONS.md "Speed, sixth round". */

/* 16 columns of four tap rows (a, b, c, d) as 16 dwords a_j b_j c_j d_j */
INLINE void i8q_store16(uint8_t *dst, __m128i a, __m128i b, __m128i c, __m128i d) {
    const __m128i ab0 = _mm_unpacklo_epi8(a, b), ab1 = _mm_unpackhi_epi8(a, b);
    const __m128i cd0 = _mm_unpacklo_epi8(c, d), cd1 = _mm_unpackhi_epi8(c, d);
    _mm_storeu_si128((void *)dst, _mm_unpacklo_epi16(ab0, cd0));
    _mm_storeu_si128((void *)(dst + 16), _mm_unpackhi_epi16(ab0, cd0));
    _mm_storeu_si128((void *)(dst + 32), _mm_unpacklo_epi16(ab1, cd1));
    _mm_storeu_si128((void *)(dst + 48), _mm_unpackhi_epi16(ab1, cd1));
}

/* dst[4 i + t] = s_t[i * sw] for i < len (len <= 48): four tap rows interleaved into dwords */
INLINE void i8q_interleave(uint8_t *dst, const uint8_t *s0, const uint8_t *s1, const uint8_t *s2, const uint8_t *s3,
                           int64_t len, int64_t sw) {
    int64_t i = 0;
    if (sw == 1) {
        for (; i + 16 <= len; i += 16) {
            const __m128i a = _mm_loadu_si128((const void *)(s0 + i)), b = _mm_loadu_si128((const void *)(s1 + i));
            const __m128i c = _mm_loadu_si128((const void *)(s2 + i)), d = _mm_loadu_si128((const void *)(s3 + i));
            i8q_store16(dst + 4 * i, a, b, c, d);
        }
    } else if (sw == 2) {
        /* the even bytes of 32 (words masked to their low byte, packed, the lanes' halves joined); 32 bytes
         * read, the last one not needed, so only while it is inside the row (i + 16 < len) */
        const __m256i lob = _mm256_set1_epi16(0xFF);
#define EVEN16(p)                                                                                                      \
    _mm256_castsi256_si128(_mm256_permute4x64_epi64(                                                                   \
        _mm256_packus_epi16(_mm256_and_si256(_mm256_loadu_si256((const void *)(p)), lob), lob), 0x08))
        for (; i + 16 < len; i += 16) {
            i8q_store16(dst + 4 * i, EVEN16(s0 + 2 * i), EVEN16(s1 + 2 * i), EVEN16(s2 + 2 * i), EVEN16(s3 + 2 * i));
        }
#undef EVEN16
    }
    for (; i < len; i++) {
        const int64_t o = i * sw;
        dst[4 * i] = s0[o], dst[4 * i + 1] = s1[o], dst[4 * i + 2] = s2[o], dst[4 * i + 3] = s3[o];
    }
}

/* the panel of columns nc .. nc+nb-1: each k-group interleaves its four taps' rows run by run (k past K
 * reads tap 0 of the group: its weights are 0) */
static void i8q_pack(const teq_kw *w, const teq_i8conv *g, const uint8_t *Q, int64_t nc, int64_t nb, uint8_t *panel) {
    conv_runs r;
    conv_runs_of(g, nc, nb, &r);
    conv_tap tap = {0, 0, 0};
    for (int64_t kg = 0; kg < w->Kq / 4; kg++) {
        const uint8_t *src[4];
        for (int t = 0; t < 4; t++) {
            const int64_t off = conv_tap_next(g, &tap);
            src[t] = t == 0 || 4 * kg + t < w->K ? Q + off : src[0]; /* 4 kg < K always */
        }
        uint8_t *dst = panel + kg * (TEQ_I8C_NB * 4);
        for (int i = 0; i < r.n; i++)
            i8q_interleave(dst + 4 * r.rj[i], src[0] + r.roff[i], src[1] + r.roff[i], src[2] + r.roff[i],
                           src[3] + r.roff[i], r.rlen[i], g->SW);
    }
}

/* rows m0, m0+1 (m0 = 8 mb + r0) x panel columns j0 .. j0+8C-1 over every k-group, then
 * y = fl(fl((scale[m] * xscale) * (float)(dot - zp * rowsum[m])) + bias[m]) for the rows < M, columns < nb */
INLINE void i8q_block(const teq_kw *w, const uint8_t *P, int64_t mb, int r0, int64_t j0, int64_t nb, int32_t zp,
                      float xscale, const float *bias, float *Y, int64_t ldy, const int C) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[2][3];
    _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++) _Pragma("GCC unroll 3") for (int c = 0; c < C; c++)
        acc[r][c] = _mm256_setzero_si256();
    const int8_t *Wp = w->q8p + mb * w->Kq * TEQ_I8C_MR + 4 * r0;
    const uint8_t *Pj = P + 4 * j0;
    const int64_t nkg = w->Kq / 4;
    if (C == 3) {
        /* the full block with named registers: from arrays GCC -O2 reloaded each panel vector per row and
         * copied every accumulator once per step (33 instructions a step for 18 of work) */
        __m256i c00 = acc[0][0], c01 = acc[0][1], c02 = acc[0][2], c10 = acc[1][0], c11 = acc[1][1], c12 = acc[1][2];
        for (int64_t kg = 0; kg < nkg; kg++) {
            const uint8_t *pk = Pj + kg * (TEQ_I8C_NB * 4);
            const __m256i a0 = _mm256_loadu_si256((const void *)pk), a1 = _mm256_loadu_si256((const void *)(pk + 32));
            const __m256i a2 = _mm256_loadu_si256((const void *)(pk + 64));
            int32_t w0, w1;
            memcpy(&w0, Wp + kg * (TEQ_I8C_MR * 4), 4);
            memcpy(&w1, Wp + kg * (TEQ_I8C_MR * 4) + 4, 4);
            const __m256i b0 = _mm256_set1_epi32(w0), b1 = _mm256_set1_epi32(w1);
            c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(_mm256_maddubs_epi16(a0, b0), ones));
            c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(_mm256_maddubs_epi16(a1, b0), ones));
            c02 = _mm256_add_epi32(c02, _mm256_madd_epi16(_mm256_maddubs_epi16(a2, b0), ones));
            c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(_mm256_maddubs_epi16(a0, b1), ones));
            c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(_mm256_maddubs_epi16(a1, b1), ones));
            c12 = _mm256_add_epi32(c12, _mm256_madd_epi16(_mm256_maddubs_epi16(a2, b1), ones));
        }
        acc[0][0] = c00, acc[0][1] = c01, acc[0][2] = c02, acc[1][0] = c10, acc[1][1] = c11, acc[1][2] = c12;
    } else {
        for (int64_t kg = 0; kg < nkg; kg++) {
            __m256i a[3];
            _Pragma("GCC unroll 3") for (int c = 0; c < C; c++)
                a[c] = _mm256_loadu_si256((const void *)(Pj + kg * (TEQ_I8C_NB * 4) + 32 * c));
            const int8_t *wk = Wp + kg * (TEQ_I8C_MR * 4);
            _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++) {
                int32_t wv;
                memcpy(&wv, wk + 4 * r, 4);
                const __m256i b = _mm256_set1_epi32(wv);
                _Pragma("GCC unroll 3") for (int c = 0; c < C; c++)
                    acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(_mm256_maddubs_epi16(a[c], b), ones));
            }
        }
    }
    const int64_t m0 = mb * TEQ_I8C_MR + r0;
    for (int r = 0; r < 2 && m0 + r < w->M; r++) {
        const int64_t m = m0 + r;
        const __m256 sc = _mm256_set1_ps(w->scale[m] * xscale);
        const __m256i cz = _mm256_set1_epi32(zp * w->q8_rowsum[m]);
        _Pragma("GCC unroll 3") for (int c = 0; c < C; c++) {
            i8_out8(Y + m * ldy + j0 + 8 * c, _mm256_mul_ps(sc, _mm256_cvtepi32_ps(_mm256_sub_epi32(acc[r][c], cz))),
                    bias ? bias + m : NULL, nb - j0 - 8 * c);
        }
    }
}

static void i8_conv_bytes_avx2(const teq_kw *w, const teq_i8conv *g, const uint8_t *Q, int32_t zp, float xscale,
                               const float *bias, float *Y, int64_t ldy, int64_t n0, int64_t n1, uint8_t *panel,
                               const teq_kpost *post) {
    const int64_t Mb = (w->M + TEQ_I8C_MR - 1) / TEQ_I8C_MR;
    for (int64_t nc = n0; nc < n1; nc += TEQ_I8C_NB) {
        const int64_t nb = n1 - nc < TEQ_I8C_NB ? n1 - nc : TEQ_I8C_NB;
        i8q_pack(w, g, Q, nc, nb, panel);
        float *Yb = Y + (nc - n0);
        for (int64_t mb = 0; mb < Mb; mb++)
            for (int r0 = 0; r0 < TEQ_I8C_MR && mb * TEQ_I8C_MR + r0 < w->M; r0 += 2)
                for (int64_t j0 = 0; j0 < nb; j0 += 24) {
                    const int64_t left = nb - j0;
                    if (left > 16) i8q_block(w, panel, mb, r0, j0, nb, zp, xscale, bias, Yb, ldy, 3);
                    else if (left > 8) i8q_block(w, panel, mb, r0, j0, nb, zp, xscale, bias, Yb, ldy, 2);
                    else i8q_block(w, panel, mb, r0, j0, nb, zp, xscale, bias, Yb, ldy, 1);
                }
        if (post) post->fn(post->user, Yb, ldy, w->M, nc, nc + nb);
    }
}

/* TEQ_I8_CONV=int16: the int16 kernel even where the bytes kernel applies (for measurements) */
static int i8_bytes_wanted(void) {
    static int v = -1;
    return teq_k_env_unless(&v, "TEQ_I8_CONV", "int16");
}

/* panel (the driver's bytes, teq_k_i8_conv): the int16 panel [Kq/2][48][2], then one block's widened weights */
static void i8_conv_avx2(const teq_kw *w, const teq_i8conv *g, const uint8_t *Q, int32_t zp, float xscale,
                         const float *bias, float *Y, int64_t ldy, int64_t n0, int64_t n1, uint8_t *panel_bytes,
                         const teq_kpost *post) {
    if (w->q8_pairs && i8_bytes_wanted()) {
        i8_conv_bytes_avx2(w, g, Q, zp, xscale, bias, Y, ldy, n0, n1, panel_bytes, post);
        return;
    }
    const int64_t M = w->M, K = w->K, Mb = (M + TEQ_I8C_MR - 1) / TEQ_I8C_MR, npairs = w->Kq / 2;
    int16_t *panel = (int16_t *)(void *)panel_bytes, *wb = panel + TEQ_I8C_NB * w->Kq;
    for (int64_t nc = n0; nc < n1; nc += TEQ_I8C_NB) {
        const int64_t nb = n1 - nc < TEQ_I8C_NB ? n1 - nc : TEQ_I8C_NB;
        PAIR_PANEL(i8p_pair, zp);
        float *Yb = Y + (nc - n0);
        I16_TILE((widen_q8p(w, mb, wb), wb), w->scale)
        if (post) post->fn(post->user, Yb, ldy, M, nc, nc + nb);
    }
}

static void i16_conv_avx2(const teq_kw16 *w, const teq_i8conv *g, const int16_t *Q, float xscale, const float *bias,
                          float *Y, int64_t ldy, int64_t n0, int64_t n1, int16_t *panel, const teq_kpost *post) {
    const int64_t M = w->M, K = w->K, Mb = (M + TEQ_I8C_MR - 1) / TEQ_I8C_MR, npairs = w->K2 / 2;
    for (int64_t nc = n0; nc < n1; nc += TEQ_I8C_NB) {
        const int64_t nb = n1 - nc < TEQ_I8C_NB ? n1 - nc : TEQ_I8C_NB;
        PAIR_PANEL(i16p_pair);
        float *Yb = Y + (nc - n0);
        I16_TILE(w->p + mb * w->K2 * TEQ_I8C_MR, w->scale)
        if (post) post->fn(post->user, Yb, ldy, M, nc, nc + nb);
    }
}

const teq_kernel_set teq_kset_avx2_tab = {
    .name = "avx2",
    .decode = decode_avx2,
    .gemv = gemv_avx2,
    .gemv_l8 = gemv_l8_avx2,
    .i8_gemv = i8_gemv_avx2,
    .i8_gemm = i8_gemm_avx2,
    .i8_conv = i8_conv_avx2,
    .i16_conv = i16_conv_avx2,
    .f32_conv = f32_conv_avx2,
    .f32_wino = teq_f32_wino_avx2,
};

/* ---- activation quantizer: the 8-lane body of kq.c's tables (see avx512.c); the linear code is left to
 * the scalar path, which the compiler vectorises well enough ---- */
INLINE __m256i kq256_codes(const teq_kq *kq, __m256 xf) {
    const __m256i xb = _mm256_castps_si256(xf), zero = _mm256_setzero_si256();
    __m256i ub = kq->is_signed ? _mm256_and_si256(xb, _mm256_set1_epi32(0x7FFFFFFF)) : _mm256_max_epi32(xb, zero);
    ub = _mm256_andnot_si256(_mm256_cmpgt_epi32(ub, _mm256_set1_epi32(0x7F800000)), ub);
    __m256i s1 = kq->is_signed ? _mm256_andnot_si256(_mm256_cmpeq_epi32(ub, zero), _mm256_cmpgt_epi32(zero, xb)) : zero;
#define SEL(a, b) _mm256_blendv_epi8(_mm256_set1_epi32(a), _mm256_set1_epi32(b), s1)
    const __m256i toff = _mm256_and_si256(s1, _mm256_set1_epi32(TEQ_KQ_THR));
    __m256i j;
    if (kq->steps) {
        const teq_kq_side *a = &kq->side[0], *b = &kq->side[1];
        __m256i d = _mm256_sub_epi32(_mm256_srlv_epi32(ub, SEL(a->sh, b->sh)), SEL(a->kbase - 1, b->kbase - 1));
        d = _mm256_min_epi32(_mm256_max_epi32(d, zero), SEL(a->top, b->top));
        __m256i j0 = _mm256_and_si256(
            _mm256_i32gather_epi32((const int *)kq->bucket, _mm256_add_epi32(d, SEL(a->boff, b->boff)), 1),
            _mm256_set1_epi32(255));
        j0 = _mm256_add_epi32(j0, toff);
        j = j0;
        for (int i = 0; i < kq->steps; i++) {
            __m256i t = _mm256_i32gather_epi32(kq->thr, _mm256_add_epi32(j0, _mm256_set1_epi32(i)), 4);
            j = _mm256_sub_epi32(j, _mm256_cmpgt_epi32(ub, t));
        }
    } else {
        j = toff;
        for (int step = kq->pow2 >> 1; step > 0; step >>= 1) {
            __m256i t = _mm256_i32gather_epi32(kq->thr, _mm256_add_epi32(j, _mm256_set1_epi32(step - 1)), 4);
            j = _mm256_add_epi32(j, _mm256_and_si256(_mm256_cmpgt_epi32(ub, t), _mm256_set1_epi32(step)));
        }
    }
#undef SEL
    return _mm256_i32gather_epi32(kq->code, j, 4);
}

/* lane i: t[idx_i] for 8 indices, by scalar loads: on this Zen 3 a vpgatherdd of 8 took 0.44 ns a value in an
 * L1 loop against 0.33 for the loads and inserts, and in the quantizer's body the two table reads by gathers
 * cost 0.58 ns a value more than by loads (docs/DECISIONS.md "Speed, ninth round") */
INLINE __m256i lut8(const int32_t *t, __m256i idx) {
    const __m128i l = _mm256_castsi256_si128(idx), h = _mm256_extracti128_si256(idx, 1);
    const uint64_t a = (uint64_t)_mm_cvtsi128_si64(l), b = (uint64_t)_mm_extract_epi64(l, 1);
    const uint64_t c = (uint64_t)_mm_cvtsi128_si64(h), d = (uint64_t)_mm_extract_epi64(h, 1);
    __m128i v0 = _mm_cvtsi32_si128(t[(uint32_t)a]), v1 = _mm_cvtsi32_si128(t[(uint32_t)c]);
    v0 = _mm_insert_epi32(v0, t[a >> 32], 1), v1 = _mm_insert_epi32(v1, t[c >> 32], 1);
    v0 = _mm_insert_epi32(v0, t[(uint32_t)b], 2), v1 = _mm_insert_epi32(v1, t[(uint32_t)d], 2);
    v0 = _mm_insert_epi32(v0, t[b >> 32], 3), v1 = _mm_insert_epi32(v1, t[d >> 32], 3);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(v0), v1, 1);
}

/* 8 int16 t[idx_i] (idx < 256) into one xmm, by scalar loads as lut8 */
INLINE __m128i lut8_s16(const int16_t *t, __m256i idx) {
    const __m128i l = _mm256_castsi256_si128(idx), h = _mm256_extracti128_si256(idx, 1);
    const uint64_t a = (uint64_t)_mm_cvtsi128_si64(l), b = (uint64_t)_mm_extract_epi64(l, 1);
    const uint64_t c = (uint64_t)_mm_cvtsi128_si64(h), d = (uint64_t)_mm_extract_epi64(h, 1);
    __m128i v = _mm_cvtsi32_si128((uint16_t)t[(uint32_t)a]);
    v = _mm_insert_epi16(v, t[a >> 32], 1), v = _mm_insert_epi16(v, t[(uint32_t)b], 2);
    v = _mm_insert_epi16(v, t[b >> 32], 3), v = _mm_insert_epi16(v, t[(uint32_t)c], 4);
    v = _mm_insert_epi16(v, t[c >> 32], 5), v = _mm_insert_epi16(v, t[(uint32_t)d], 6);
    return _mm_insert_epi16(v, t[d >> 32], 7);
}

/* The level index e, 8 lanes, by the entry table (kint.h lent) where the code has one (et), else by the log
 * path (kq.c log_path_init has the proof): exponent and mantissa from the bits of v
 * (normal: v is clamped to [FLT_MIN, FLT_MAX], so this equals getexp / getmant of the AVX-512 body),
 * the degree-7 polynomial (kint.h teq_kq_log2p7); then the level lev[e] by lut8. On the log path the threshold tl[e0]
 * is gathered only for a vector with a lane in the fraction window (kint.h lfa, lfb), where the bucket
 * search takes three to four gathers. The body is instantiated per (signed, zero code, codes, values)
 * with every constant in a local: with the flags tested and the parameters reloaded per vector (the byte
 * stores may alias *kq) the loop was 90 instructions per 8 values, bound by instruction issue. */
/* codes (uint8), values (float) and lane integers l16[i] = lut[code] (int16, kernels.h teq_kq_lanes): any of the
 * three outputs may be NULL */
INLINE void kq256_log_body(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y, int16_t *l16,
                           const int16_t *lut, const int sg, const int zc, const int et) {
    const __m256i zero = _mm256_setzero_si256(), vE = _mm256_set1_epi32(1 << (kq->q.bits - 1));
    const __m256i absm = _mm256_set1_epi32(0x7FFFFFFF), inf = _mm256_set1_epi32(0x7F800000);
    const __m256i mant = _mm256_set1_epi32(0x7FFFFF), onebits = _mm256_set1_epi32(0x3F800000);
    const __m256i b127 = _mm256_set1_epi32(127), sbit = _mm256_set1_epi32((int)0x80000000u);
    const __m256i zt0 = _mm256_set1_epi32(kq->zthr[0]), zt1 = _mm256_set1_epi32(kq->zthr[1]), ones = _mm256_set1_epi32(-1);
    const __m256 one = _mm256_set1_ps(1.0f), fmin = _mm256_set1_ps(FLT_MIN), fmax = _mm256_set1_ps(FLT_MAX);
    const __m256 lbeta = _mm256_set1_ps(kq->lbeta), lia = _mm256_set1_ps(kq->lia), lc = _mm256_set1_ps(kq->lc);
    const __m256 top = _mm256_set1_ps((float)(kq->nlev - 1)), lfa = _mm256_set1_ps(kq->lfa), lfb = _mm256_set1_ps(kq->lfb);
    const __m256 zf = _mm256_setzero_ps();
    const int32_t *tl = kq->tl;
    const int32_t *lev = (const int32_t *)(const void *)kq->lev;
    const int32_t *ent = kq->lent;
    const __m256i ekb0 = _mm256_set1_epi32(et ? kq->lkbase[0] : 0), ekb1 = _mm256_set1_epi32(et ? kq->lkbase[1] : 0);
    const __m256i etop0 = _mm256_set1_epi32(et ? kq->ltop[0] : 0), etop1 = _mm256_set1_epi32(et ? kq->ltop[1] : 0);
    const __m256i esh0 = _mm256_set1_epi32(et ? kq->lsh[0] : 0), esh1 = _mm256_set1_epi32(et ? kq->lsh[1] : 0);
    const __m256i eoff0 = _mm256_set1_epi32(et ? kq->lboff[0] : 0), eoff1 = _mm256_set1_epi32(et ? kq->lboff[1] : 0);
    /* u >= lsplit as a signed compare with lsplit - 1 (u and lsplit are below 2^31; lsplit 0: every lane) */
    const __m256i esplit = _mm256_set1_epi32(et ? (int32_t)kq->lsplit - 1 : 0), elow = _mm256_set1_epi32(0xFFFFFF);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i xb = _mm256_castps_si256(_mm256_loadu_ps(x + i));
        __m256i ub = sg ? _mm256_and_si256(xb, absm) : _mm256_max_epi32(xb, zero);
        ub = _mm256_andnot_si256(_mm256_cmpgt_epi32(ub, inf), ub); /* NaN quantizes like 0 */
        const __m256i s1 = sg ? _mm256_andnot_si256(_mm256_cmpeq_epi32(ub, zero), _mm256_cmpgt_epi32(zero, xb)) : zero;
        __m256i e;
        if (et) {
            /* kint.h lent: the lane's region, the bucket's count and its threshold's offset, one compare */
            const __m256i r = _mm256_cmpgt_epi32(ub, esplit);
            const __m256i sh = _mm256_blendv_epi8(esh0, esh1, r), kb = _mm256_blendv_epi8(ekb0, ekb1, r);
            __m256i d = _mm256_sub_epi32(_mm256_srlv_epi32(ub, sh), kb);
            d = _mm256_min_epi32(_mm256_max_epi32(d, zero), _mm256_blendv_epi8(etop0, etop1, r));
            const __m256i lo = _mm256_sllv_epi32(_mm256_add_epi32(d, kb), sh);
            const __m256i en = lut8(ent, _mm256_add_epi32(d, _mm256_blendv_epi8(eoff0, eoff1, r)));
            e = _mm256_sub_epi32(_mm256_srli_epi32(en, 24),
                                 _mm256_cmpgt_epi32(_mm256_sub_epi32(ub, lo), _mm256_and_si256(en, elow)));
        } else {
            __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_castsi256_ps(ub), lbeta), lia);
            v = _mm256_min_ps(_mm256_max_ps(v, fmin), fmax);
            const __m256i vb = _mm256_castps_si256(v);
            const __m256 ex = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(vb, 23), b127));
            const __m256 rr = _mm256_sub_ps(_mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(vb, mant), onebits)), one);
            /* kint.h teq_kq_log2p7, operation for operation; then t~ = fma(e, lc, fl(q * lc)) */
            const __m256 r2 = _mm256_mul_ps(rr, rr), r4 = _mm256_mul_ps(r2, r2);
            const __m256 pa = _mm256_fmadd_ps(_mm256_set1_ps(TEQ_KQ_D2), rr, _mm256_set1_ps(TEQ_KQ_D1));
            const __m256 pb = _mm256_fmadd_ps(_mm256_set1_ps(TEQ_KQ_D4), rr, _mm256_set1_ps(TEQ_KQ_D3));
            const __m256 pc = _mm256_fmadd_ps(_mm256_set1_ps(TEQ_KQ_D6), rr, _mm256_set1_ps(TEQ_KQ_D5));
            const __m256 pab = _mm256_fmadd_ps(pb, r2, pa), pcd = _mm256_fmadd_ps(_mm256_set1_ps(TEQ_KQ_D7), r2, pc);
            const __m256 p = _mm256_fmadd_ps(pcd, r4, pab);
            __m256 t = _mm256_fmadd_ps(ex, lc, _mm256_mul_ps(_mm256_mul_ps(rr, p), lc));
            t = _mm256_min_ps(_mm256_max_ps(t, zf), top);
            const __m256 tf = _mm256_floor_ps(t), r = _mm256_sub_ps(t, tf);
            e = _mm256_cvtps_epi32(tf);
            /* the fraction window (kint.h lfa, lfb): tl[] is read only for a vector with a lane inside it, or
             * with v clamped at FLT_MAX */
            const __m256 amb = _mm256_or_ps(_mm256_and_ps(_mm256_cmp_ps(r, lfa, _CMP_GE_OQ), _mm256_cmp_ps(r, lfb, _CMP_LE_OQ)),
                                            _mm256_cmp_ps(v, fmax, _CMP_EQ_OQ));
            if (_mm256_movemask_ps(amb)) e = _mm256_sub_epi32(e, _mm256_cmpgt_epi32(ub, _mm256_i32gather_epi32(tl, e, 4)));
            else e = _mm256_sub_epi32(e, _mm256_castps_si256(_mm256_cmp_ps(r, lfb, _CMP_GT_OQ)));
        }
        __m256i z = zero; /* lanes at the zero code */
        if (zc) {
            const __m256i zt = sg ? _mm256_blendv_epi8(zt0, zt1, s1) : zt0;
            z = _mm256_xor_si256(_mm256_cmpgt_epi32(ub, zt), ones); /* ub <= zt */
            if (sg) e = _mm256_blendv_epi8(e, _mm256_max_epi32(e, _mm256_set1_epi32(1)), s1);
        }
        if (codes || l16) {
            __m256i c;
            if (sg) c = _mm256_blendv_epi8(_mm256_add_epi32(e, _mm256_and_si256(s1, vE)), vE, z);
            else c = zc ? _mm256_andnot_si256(z, _mm256_add_epi32(e, _mm256_set1_epi32(1))) : e;
            if (codes) {
                __m128i pk = _mm_packus_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
                _mm_storel_epi64((__m128i *)(codes + i), _mm_packus_epi16(pk, pk));
            }
            if (l16) _mm_storeu_si128((__m128i *)(l16 + i), lut8_s16(lut, c));
        }
        if (y) {
            __m256i val = lut8(lev, e);
            if (sg) val = _mm256_or_si256(val, _mm256_and_si256(s1, sbit));
            if (zc) val = _mm256_andnot_si256(z, val);
            _mm256_storeu_ps(y + i, _mm256_castsi256_ps(val));
        }
    }
    for (; i < n; i++) {
        uint8_t c;
        float v;
        teq_kq_run_scalar(kq, x + i, 1, &c, &v);
        if (codes) codes[i] = c;
        if (y) y[i] = v;
        if (l16) l16[i] = lut[c];
    }
}

/* M(S, Z) for the code's sign and zero-code case (sg, zc in scope): one instance of the body each */
#define KQ_SIGN_ZC(M)                                                                                                \
    do {                                                                                                             \
        if (sg && zc) M(1, 1);                                                                                       \
        else if (sg) M(1, 0);                                                                                        \
        else if (zc) M(0, 1);                                                                                        \
        else M(0, 0);                                                                                                \
    } while (0)

/* lane integers: the instances for each sign and zero-code case, by the entry table or the log path */
static void kq256_log_lanes(const teq_kq *kq, const float *x, int64_t n, const int16_t *lut, int16_t *l16) {
    const int sg = kq->is_signed, zc = kq->q.zero_code != 0;
#define KQ_LANES(S, Z)                                                                                               \
    do {                                                                                                             \
        if (kq->lent) kq256_log_body(kq, x, n, NULL, NULL, l16, lut, S, Z, 1);                                       \
        else kq256_log_body(kq, x, n, NULL, NULL, l16, lut, S, Z, 0);                                                \
    } while (0)
    KQ_SIGN_ZC(KQ_LANES);
#undef KQ_LANES
}

bool teq_kq_lanes_avx2(const teq_kq *kq, const float *x, int64_t n, const int16_t *lut, int16_t *l16) {
    if (kq->q.kind != TEQ_CODE_EXP || !(kq->logpath || kq->lent)) return false;
    kq256_log_lanes(kq, x, n, lut, l16);
    return true;
}

static void kq256_log_run(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y) {
    const int sg = kq->is_signed, zc = kq->q.zero_code != 0;
    /* values only (a TeqQuantize on the float path) and codes only (INT8-style consumers) specialised;
     * both at once is rare and shares one instance */
#define KQ_BODY_E(S, Z, ET)                                                                                          \
    do {                                                                                                             \
        if (codes && !y) kq256_log_body(kq, x, n, codes, NULL, NULL, NULL, S, Z, ET);                                \
        else if (!codes) kq256_log_body(kq, x, n, NULL, y, NULL, NULL, S, Z, ET);                                    \
        else kq256_log_body(kq, x, n, codes, y, NULL, NULL, S, Z, ET);                                               \
    } while (0)
#define KQ_BODY(S, Z)                                                                                                \
    do {                                                                                                             \
        if (kq->lent) KQ_BODY_E(S, Z, 1);                                                                            \
        else KQ_BODY_E(S, Z, 0);                                                                                     \
    } while (0)
    KQ_SIGN_ZC(KQ_BODY);
#undef KQ_BODY
#undef KQ_BODY_E
#undef KQ_SIGN_ZC
}

/* The linear code, 8 lanes: avx512.c's kq512_codes reasoning step for step (float first, the double
 * product near a tie, the division nearer still), so the codes are code.c's bit for bit. */
INLINE __m256i kq256_lin(const teq_kq *kq, __m256 xf) {
    const __m256 sgn = _mm256_set1_ps(-0.0f);
    {
        const __m256 ord = _mm256_cmp_ps(xf, xf, _CMP_ORD_Q);
        __m256 v = _mm256_and_ps(_mm256_mul_ps(xf, _mm256_set1_ps(kq->lrecipf)), ord);
        v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps((float)kq->qlo)), _mm256_set1_ps((float)kq->qhi));
        const __m256 f = _mm256_sub_ps(v, _mm256_floor_ps(v));
        const __m256 near = _mm256_cmp_ps(_mm256_andnot_ps(sgn, _mm256_sub_ps(f, _mm256_set1_ps(0.5f))),
                                          _mm256_mul_ps(_mm256_andnot_ps(sgn, v), _mm256_set1_ps(0x1p-20f)), _CMP_LE_OQ);
        if (!_mm256_movemask_ps(near)) return _mm256_add_epi32(_mm256_cvtps_epi32(v), _mm256_set1_epi32(kq->off));
    }
    const __m256d sd = _mm256_set1_pd(-0.0), rc = _mm256_set1_pd(kq->lrecip), half = _mm256_set1_pd(0.5);
    const __m256d eps = _mm256_set1_pd(0x1p-50), sc = _mm256_set1_pd(kq->lscale);
    const __m256d lo = _mm256_set1_pd(kq->qlo), hi = _mm256_set1_pd(kq->qhi);
    __m128i q[2];
    for (int h = 0; h < 2; h++) {
        const __m256d x = _mm256_cvtps_pd(h ? _mm256_extractf128_ps(xf, 1) : _mm256_castps256_ps128(xf));
        __m256d v = _mm256_mul_pd(x, rc);
        const __m256d f = _mm256_sub_pd(v, _mm256_floor_pd(v));
        const __m256d t = _mm256_cmp_pd(_mm256_andnot_pd(sd, _mm256_sub_pd(f, half)),
                                        _mm256_mul_pd(_mm256_andnot_pd(sd, v), eps), _CMP_LE_OQ);
        if (_mm256_movemask_pd(t)) v = _mm256_div_pd(x, sc);
        v = _mm256_and_pd(v, _mm256_cmp_pd(v, v, _CMP_ORD_Q)); /* NaN quantizes like 0 */
        v = _mm256_min_pd(_mm256_max_pd(v, lo), hi);
        q[h] = _mm256_cvtpd_epi32(v); /* half to even, the conversion's rounding */
    }
    return _mm256_add_epi32(_mm256_set_m128i(q[1], q[0]), _mm256_set1_epi32(kq->off));
}

/* The float32 linear code (ONNX QuantizeLinear, code.c): one division, NaN to 0, clamp, the conversion's
 * rounding (half to even), 8 lanes; the same codes as code.c's scalar loop by construction. The value is
 * q * scale in float32, which is the table's entry by its definition (code.c), without the gather. */
static void kq256_lin32_run(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y) {
    const __m256 s = _mm256_set1_ps(kq->lscalef), lo = _mm256_set1_ps((float)kq->qlo), hi = _mm256_set1_ps((float)kq->qhi);
    const __m256i off = _mm256_set1_epi32(kq->off);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i), s);
        v = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q));
        v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
        const __m256i q = _mm256_cvtps_epi32(v);
        if (codes) {
            const __m256i c = _mm256_add_epi32(q, off);
            const __m128i p = _mm_packus_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
            _mm_storel_epi64((__m128i *)(codes + i), _mm_packus_epi16(p, p));
        }
        if (y) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_cvtepi32_ps(q), s));
    }
    if (i < n) teq_kq_run_scalar(kq, x + i, n - i, codes ? codes + i : NULL, y ? y + i : NULL);
}

void teq_kq_addc_avx2(const float *x, int64_t n, float c, float *y) {
    const __m256 vc = _mm256_set1_ps(c);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(x + i), vc));
    for (; i < n; i++) y[i] = x[i] + c;
}

/* The float32 linear code's integers q = code - zero point as floats (kq.c teq_kq_qvalues): kq256_lin32_run's
 * division, NaN to 0, clamp and conversion (nearest, ties to even), and back to float */
void teq_kq_qvalues_avx2(const teq_kq *kq, const float *x, int64_t n, float *v) {
    const __m256 s = _mm256_set1_ps(kq->lscalef), lo = _mm256_set1_ps((float)kq->qlo), hi = _mm256_set1_ps((float)kq->qhi);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 t = _mm256_div_ps(_mm256_loadu_ps(x + i), s);
        t = _mm256_and_ps(t, _mm256_cmp_ps(t, t, _CMP_ORD_Q));
        t = _mm256_min_ps(_mm256_max_ps(t, lo), hi);
        /* through the integer: a rounding in float would keep -0 where the integer 0 is +0 */
        _mm256_storeu_ps(v + i, _mm256_cvtepi32_ps(_mm256_cvtps_epi32(t)));
    }
    for (; i < n; i++) {
        uint8_t c;
        teq_kq_run_scalar(kq, x + i, 1, &c, NULL);
        v[i] = (float)(c - kq->off);
    }
}

void teq_kq_run_avx2(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y) {
    if (kq->q.lin_f32) {
        kq256_lin32_run(kq, x, n, codes, y);
        return;
    }
    if (kq->q.kind == TEQ_CODE_LINEAR) {
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            const __m256i c = kq256_lin(kq, _mm256_loadu_ps(x + i));
            if (codes) {
                const __m128i p = _mm_packus_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
                _mm_storel_epi64((__m128i *)(codes + i), _mm_packus_epi16(p, p));
            }
            if (y) _mm256_storeu_ps(y + i, _mm256_i32gather_ps(kq->table, c, 4));
        }
        if (i < n) teq_kq_run_scalar(kq, x + i, n - i, codes ? codes + i : NULL, y ? y + i : NULL);
        return;
    }
    if (kq->q.kind != TEQ_CODE_EXP) {
        teq_kq_run_scalar(kq, x, n, codes, y);
        return;
    }
    if (kq->logpath || kq->lent) {
        kq256_log_run(kq, x, n, codes, y);
        return;
    }
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i c = kq256_codes(kq, _mm256_loadu_ps(x + i));
        if (codes) {
            __m128i p = _mm_packus_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
            _mm_storel_epi64((__m128i *)(codes + i), _mm_packus_epi16(p, p));
        }
        if (y) _mm256_storeu_ps(y + i, _mm256_i32gather_ps(kq->table, c, 4));
    }
    if (i < n) teq_kq_run_scalar(kq, x + i, n - i, codes ? codes + i : NULL, y ? y + i : NULL);
}
