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
    __m256 t0, t1;
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
    float t[16];
    int nc = 1 << n;
    for (int i = 0; i < 16; i++) t[i] = n <= 4 ? lut[i & (nc - 1)] : 0;
    d->t0 = _mm256_loadu_ps(t);
    d->t1 = _mm256_loadu_ps(t + 8);
}

INLINE __m256i unpack256(const dec256 *d, const uint8_t *p) {
    __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
    return _mm256_srlv_epi32(_mm256_shuffle_epi8(v, d->shuf), d->shift);
}

INLINE __m256 lookup256(const dec256 *d, __m256i v, const int n, const float *lut) {
    if (n <= 3) return _mm256_permutevar8x32_ps(d->t0, v);
    if (n == 4)
        return _mm256_blendv_ps(_mm256_permutevar8x32_ps(d->t0, v), _mm256_permutevar8x32_ps(d->t1, v),
                                _mm256_castsi256_ps(_mm256_slli_epi32(v, 28)));
    return _mm256_i32gather_ps(lut, _mm256_and_si256(v, _mm256_set1_epi32((1 << n) - 1)), 4);
}

static __m256i tail_mask(int rem) {
    int32_t m[8];
    for (int i = 0; i < 8; i++) m[i] = i < rem ? -1 : 0;
    return _mm256_loadu_si256((const __m256i *)m);
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
        /* horizontal sums of the four accumulators at once: [s0 s1 s2 s3] */
        __m256 h01 = _mm256_hadd_ps(a0, a1), h23 = _mm256_hadd_ps(a2, a3), h = _mm256_hadd_ps(h01, h23);
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        _mm_storeu_ps(y + m, _mm_mul_ps(s, _mm_loadu_ps(w->scale + m)));
    }
    for (; m < m1; m++) {
        const uint8_t *r0 = w->packed + m * rb;
        __m256 a0 = _mm256_setzero_ps();
        for (int64_t g = 0; g < G; g++)
            a0 = _mm256_fmadd_ps(lookup256(&d, unpack256(&d, r0 + g * gb), n, lut), _mm256_loadu_ps(x + g * 8), a0);
        if (rem) TAILFMA(a0, lookup256(&d, unpack256(&d, r0 + G * gb), n, lut), _mm256_maskload_ps(x + G * 8, tmi));
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1));
        s = _mm_hadd_ps(s, s);
        s = _mm_hadd_ps(s, s);
        y[m] = w->scale[m] * _mm_cvtss_f32(s);
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

static void gemv_avx2(const teq_kw *w, const float *x, float *y, int64_t m0, int64_t m1) {
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
                  int32_t *out) {
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
            xa[c] = _mm256_and_si256(xv, lo7);
            xb[c] = _mm256_and_si256(xv, hi1);
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            __m256i wv = _mm256_loadu_si256((const __m256i *)(W + r * ldw + k));
#pragma GCC unroll 2
            for (int c = 0; c < C; c++)
                acc[r][c] = _mm256_add_epi32(acc[r][c],
                                             _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(xa[c], wv), ones),
                                                              _mm256_madd_epi16(_mm256_maddubs_epi16(xb[c], wv), ones)));
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int c = 0; c < C; c++) out[r * C + c] = hsum256(acc[r][c]);
}

static void i8_gemm_avx2(const teq_kw *w, const uint8_t *X, int64_t N, int32_t zp, float xscale, float *Y, int64_t ldy,
                         int64_t m0, int64_t m1) {
    const int64_t K4 = w->K4;
    int32_t d[8];
    int64_t c = 0;
    for (; c + 2 <= N; c += 2) {
        int64_t m = m0;
        for (; m + 4 <= m1; m += 4) {
            mk256(4, 2, w->q8 + m * K4, K4, X + c * K4, K4, K4, d);
            for (int r = 0; r < 4; r++)
                for (int j = 0; j < 2; j++) Y[(m + r) * ldy + c + j] = i8_out(w, m + r, d[r * 2 + j], zp, xscale);
        }
        for (; m < m1; m++) {
            mk256(1, 2, w->q8 + m * K4, K4, X + c * K4, K4, K4, d);
            for (int j = 0; j < 2; j++) Y[m * ldy + c + j] = i8_out(w, m, d[j], zp, xscale);
        }
    }
    for (; c < N; c++) {
        int64_t m = m0;
        for (; m + 4 <= m1; m += 4) {
            mk256(4, 1, w->q8 + m * K4, K4, X + c * K4, K4, K4, d);
            for (int r = 0; r < 4; r++) Y[(m + r) * ldy + c] = i8_out(w, m + r, d[r], zp, xscale);
        }
        for (; m < m1; m++) {
            mk256(1, 1, w->q8 + m * K4, K4, X + c * K4, K4, K4, d);
            Y[m * ldy + c] = i8_out(w, m, d[0], zp, xscale);
        }
    }
}

static void i8_gemv_avx2(const teq_kw *w, const uint8_t *x, int32_t zp, float xscale, float *y, int64_t m0,
                         int64_t m1) {
    i8_gemm_avx2(w, x, 1, zp, xscale, y, 1, m0, m1);
}

/* ---- FP32 convolution (kernels.h, f32_conv), AVX2 + FMA ----
 * The panel [K][48] and the weights [M/8][K][8] of the AVX-512 kernel; sixteen ymm registers hold a 4 x 24
 * block: 12 accumulators, 3 panel loads and a broadcast per k (12 FMA per 3 + 4 loads). An 8 x 48 tile is
 * four such blocks (rows 0-3 and 4-7 of the 8 weights at each k, columns 0-23 and 24-47). */

/* dst[i] = s[i * sw] for i < len (len <= 48) */
static inline void f32c_copy(float *dst, const float *s, int64_t len, int64_t sw) {
    if (sw == 1) {
        memcpy(dst, s, sizeof(float) * (size_t)len);
    } else {
        for (int64_t i = 0; i < len; i++) dst[i] = s[i * sw];
    }
}

/* rows r0 .. r0+3 of block mb (their weights at wk[r0 .. r0+3] of each k), panel columns j0 .. j0+8C-1 */
INLINE void f32c_block4(const teq_kwf *w, const float *P, int64_t mb, int r0, int64_t j0, int64_t nb,
                        const float *bias, float *Y, int64_t ldy, const int C) {
    __m256 acc[4][3];
    _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) _Pragma("GCC unroll 3") for (int c = 0; c < C; c++)
        acc[r][c] = _mm256_setzero_ps();
    const float *Wp = w->p + mb * w->K * TEQ_I8C_MR + r0;
    const float *Pj = P + j0;
    for (int64_t k = 0; k < w->K; k++) {
        __m256 a[3];
        _Pragma("GCC unroll 3") for (int c = 0; c < C; c++) a[c] = _mm256_loadu_ps(Pj + k * TEQ_I8C_NB + 8 * c);
        const float *wk = Wp + k * TEQ_I8C_MR;
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {
            const __m256 b = _mm256_broadcast_ss(wk + r);
            _Pragma("GCC unroll 3") for (int c = 0; c < C; c++) acc[r][c] = _mm256_fmadd_ps(a[c], b, acc[r][c]);
        }
    }
    const int64_t m0 = mb * TEQ_I8C_MR + r0;
    _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {
        if (m0 + r >= w->M) break;
        const __m256 bv = _mm256_set1_ps(bias ? bias[m0 + r] : 0.0f);
        _Pragma("GCC unroll 3") for (int c = 0; c < C; c++) {
            const __m256 v = bias ? _mm256_add_ps(acc[r][c], bv) : acc[r][c];
            const int64_t left = nb - j0 - 8 * c;
            float *y = Y + (m0 + r) * ldy + j0 + 8 * c;
            if (left >= 8) {
                _mm256_storeu_ps(y, v);
            } else if (left > 0) {
                const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                _mm256_maskstore_ps(y, _mm256_cmpgt_epi32(_mm256_set1_epi32((int)left), lane), v);
            }
        }
    }
}

void teq_k_f32_conv_avx2(const teq_kwf *w, const teq_i8conv *g, const float *X, const float *bias, float *Y,
                          int64_t ldy, int64_t n0, int64_t n1, float *panel, const teq_kpost *post) {
    const int64_t Mb = (w->M + TEQ_I8C_MR - 1) / TEQ_I8C_MR;
    for (int64_t nc = n0; nc < n1; nc += TEQ_I8C_NB) {
        const int64_t nb = n1 - nc < TEQ_I8C_NB ? n1 - nc : TEQ_I8C_NB;
        teq_ki_f32c_pack(w, g, X, nc, nb, panel, f32c_copy);
        float *Yb = Y + (nc - n0);
        for (int64_t mb = 0; mb < Mb; mb++)
            for (int r0 = 0; r0 < TEQ_I8C_MR && mb * TEQ_I8C_MR + r0 < w->M; r0 += 4)
                for (int64_t j0 = 0; j0 < nb; j0 += 24) {
                    const int64_t left = nb - j0;
                    if (left > 16) f32c_block4(w, panel, mb, r0, j0, nb, bias, Yb, ldy, 3);
                    else if (left > 8) f32c_block4(w, panel, mb, r0, j0, nb, bias, Yb, ldy, 2);
                    else f32c_block4(w, panel, mb, r0, j0, nb, bias, Yb, ldy, 1);
                }
        if (post) post->fn(post->user, Yb, ldy, w->M, nc, nc + nb);
    }
}

const teq_kernel_set teq_kset_avx2_tab = {
    .name = "avx2",
    .decode = decode_avx2,
    .gemv = gemv_avx2,
    .i8_gemv = i8_gemv_avx2,
    .i8_gemm = i8_gemm_avx2,
    .f32_conv = teq_k_f32_conv_avx2,
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

/* The log path (kq.c log_path_init has the proof), 8 lanes: exponent and mantissa from the bits of v
 * (normal: v is clamped to [FLT_MIN, FLT_MAX], so this equals getexp / getmant of the AVX-512 body),
 * the same polynomial and operation order, then two gathers (threshold tl[e0], level lev[e]) instead
 * of the bucket search's three to four. */
INLINE __m256i kq256_log_e(const teq_kq *kq, __m256i ub, __m256i s1, __m256i *zmask) {
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_castsi256_ps(ub), _mm256_set1_ps(kq->lbeta)), _mm256_set1_ps(kq->lia));
    v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(FLT_MIN)), _mm256_set1_ps(FLT_MAX));
    const __m256i vb = _mm256_castps_si256(v);
    const __m256 ex = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(vb, 23), _mm256_set1_epi32(127)));
    const __m256 rr = _mm256_sub_ps(
        _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(vb, _mm256_set1_epi32(0x7FFFFF)), _mm256_set1_epi32(0x3F800000))),
        one);
    __m256 p = _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(TEQ_KQ_C4), rr, _mm256_set1_ps(TEQ_KQ_C3)), rr,
                                               _mm256_set1_ps(TEQ_KQ_C2)),
                               rr, _mm256_set1_ps(TEQ_KQ_C1));
    __m256 t = _mm256_mul_ps(_mm256_add_ps(ex, _mm256_mul_ps(rr, p)), _mm256_set1_ps(kq->lc));
    t = _mm256_min_ps(_mm256_max_ps(t, _mm256_setzero_ps()), _mm256_set1_ps((float)(kq->nlev - 1)));
    __m256i e = _mm256_cvtps_epi32(_mm256_floor_ps(t));
    e = _mm256_sub_epi32(e, _mm256_cmpgt_epi32(ub, _mm256_i32gather_epi32(kq->tl, e, 4)));
    *zmask = _mm256_setzero_si256();
    if (kq->q.zero_code) {
        const __m256i zt = _mm256_blendv_epi8(_mm256_set1_epi32(kq->zthr[0]), _mm256_set1_epi32(kq->zthr[1]), s1);
        *zmask = _mm256_xor_si256(_mm256_cmpgt_epi32(ub, zt), _mm256_set1_epi32(-1)); /* ub <= zt */
        if (kq->is_signed) e = _mm256_blendv_epi8(e, _mm256_max_epi32(e, _mm256_set1_epi32(1)), s1);
    }
    return e;
}

static void kq256_log_run(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y) {
    const __m256i zero = _mm256_setzero_si256(), vE = _mm256_set1_epi32(1 << (kq->q.bits - 1));
    const int sg = kq->is_signed, zc = kq->q.zero_code != 0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i xb = _mm256_castps_si256(_mm256_loadu_ps(x + i));
        __m256i ub = sg ? _mm256_and_si256(xb, _mm256_set1_epi32(0x7FFFFFFF)) : _mm256_max_epi32(xb, zero);
        ub = _mm256_andnot_si256(_mm256_cmpgt_epi32(ub, _mm256_set1_epi32(0x7F800000)), ub);
        const __m256i s1 = sg ? _mm256_andnot_si256(_mm256_cmpeq_epi32(ub, zero), _mm256_cmpgt_epi32(zero, xb)) : zero;
        __m256i z;
        const __m256i e = kq256_log_e(kq, ub, s1, &z);
        if (codes) {
            __m256i c;
            if (sg) c = _mm256_blendv_epi8(_mm256_add_epi32(e, _mm256_and_si256(s1, vE)), vE, z);
            else c = zc ? _mm256_andnot_si256(z, _mm256_add_epi32(e, _mm256_set1_epi32(1))) : e;
            __m128i p = _mm_packus_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
            _mm_storel_epi64((__m128i *)(codes + i), _mm_packus_epi16(p, p));
        }
        if (y) {
            __m256i val = _mm256_i32gather_epi32((const int *)(const void *)kq->lev, e, 4);
            if (sg) val = _mm256_or_si256(val, _mm256_and_si256(s1, _mm256_set1_epi32((int)0x80000000u)));
            if (zc) val = _mm256_andnot_si256(z, val);
            _mm256_storeu_ps(y + i, _mm256_castsi256_ps(val));
        }
    }
    if (i < n) teq_kq_run_scalar(kq, x + i, n - i, codes ? codes + i : NULL, y ? y + i : NULL);
}

void teq_kq_run_avx2(const teq_kq *kq, const float *x, int64_t n, uint8_t *codes, float *y) {
    if (kq->q.kind != TEQ_CODE_EXP) {
        teq_kq_run_scalar(kq, x, n, codes, y);
        return;
    }
    if (kq->logpath) {
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
