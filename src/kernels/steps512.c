/* 8-bit lanes straight from floats on AVX-512 with VBMI (kint.h struct teq_kl8; compiled with avx512.c's
 * flags, called only where dispatch.c found the set).
 *
 * 64 values a step, in three parts:
 *   1. four vectors of 16 floats to F (kint.h teq_kl8_f: one add for the shift, a masked multiply that turns
 *      NaN into 0, the clamp, a conversion rounding down, the offset);
 *   2. F's bytes regrouped by vpermt2b into four byte vectors of the 64 values: bucket bits 0-7 (b), bit 8
 *      (bh), and the position in the bucket, high and low byte (fh, fl);
 *   3. the tables (512 bytes each, eight registers) read by four vpermt2b on b's low 7 bits, blended on bit 7
 *      and on bit 8: th and tl decide which side of the step each value lies (fh:fl against th:tl), and the
 *      lane is lane[b + up].
 * Where any of the 64 is undecided (fh:fl = th:tl), the block goes through teq_kl8_exact; a partial last
 * block runs masked. Least of 7 in L1, 4,096 values, Zen 4: 0.25 ns a value against 0.62-0.70 for the codes
 * and the map (docs/DECISIONS.md, twenty-third round). */
#include "kint.h"

#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))

/* T[0..7]: a 512-byte table; b: indices (bits 0-6 by the permutes), m7 / m8: bits 7 and 8 */
INLINE __m512i kl8_look(const __m512i *T, __m512i b, __mmask64 m7, __mmask64 m8) {
    const __m512i r0 = _mm512_permutex2var_epi8(T[0], b, T[1]), r1 = _mm512_permutex2var_epi8(T[2], b, T[3]);
    const __m512i r2 = _mm512_permutex2var_epi8(T[4], b, T[5]), r3 = _mm512_permutex2var_epi8(T[6], b, T[7]);
    return _mm512_mask_blend_epi8(m8, _mm512_mask_blend_epi8(m7, r0, r1), _mm512_mask_blend_epi8(m7, r2, r3));
}

/* The bucket part of both bodies, for 64 values whose F lie in F0..F3 (16 each): F's bytes regrouped (IA, IB:
 * bucket bits 0-7 and the position's high byte, the position's low byte and bucket bit 8), the step looked up in
 * TH and TL, and the bucket to read, b + (past the step), as its low byte *b and bits 7 and 8 (*m7, *m8).
 * Returns the undecided values (position = the step's). */
INLINE __mmask64 kl8_locate(__m512i F0, __m512i F1, __m512i F2, __m512i F3, __m512i IA, __m512i IB, const __m512i *TH,
                            const __m512i *TL, __m512i *b, __mmask64 *m7, __mmask64 *m8) {
    const __m512i one = _mm512_set1_epi8(1);
    const __m512i P01 = _mm512_permutex2var_epi8(F0, IA, F1), P23 = _mm512_permutex2var_epi8(F2, IA, F3);
    const __m512i Q01 = _mm512_permutex2var_epi8(F0, IB, F1), Q23 = _mm512_permutex2var_epi8(F2, IB, F3);
    __m512i bb = _mm512_shuffle_i64x2(P01, P23, 0x44);
    const __m512i fh = _mm512_shuffle_i64x2(P01, P23, 0xEE), fl = _mm512_shuffle_i64x2(Q01, Q23, 0x44);
    const __m512i bh = _mm512_shuffle_i64x2(Q01, Q23, 0xEE);
    __mmask64 k8 = _mm512_test_epi8_mask(bh, one);
    const __mmask64 k7 = _mm512_movepi8_mask(bb);
    const __m512i th = kl8_look(TH, bb, k7, k8), tl = kl8_look(TL, bb, k7, k8);
    const __mmask64 eh = _mm512_cmpeq_epi8_mask(fh, th);
    const __mmask64 up = _mm512_cmpgt_epu8_mask(fh, th) | (eh & _mm512_cmpgt_epu8_mask(fl, tl));
    /* b + up, the carry into bit 8 */
    k8 ^= up & _mm512_cmpeq_epi8_mask(bb, _mm512_set1_epi8(-1));
    bb = _mm512_mask_add_epi8(bb, up, bb, one);
    *b = bb, *m7 = _mm512_movepi8_mask(bb), *m8 = k8;
    return eh & _mm512_cmpeq_epi8_mask(fl, tl);
}

INLINE __m512i kl8_f16(const teq_kl8 *kl, const float *x, __mmask16 m, const int sh) {
    __m512 y = _mm512_maskz_loadu_ps(m, x);
    if (sh) y = _mm512_add_ps(y, _mm512_set1_ps(kl->sh));
    const __mmask16 ord = _mm512_cmp_ps_mask(y, y, _CMP_ORD_Q);
    __m512 v = _mm512_maskz_mul_ps(ord, y, _mm512_set1_ps(kl->c));
    v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(kl->lo)), _mm512_set1_ps(kl->hi));
    return _mm512_sub_epi32(_mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC),
                            _mm512_set1_epi32(kl->off));
}

INLINE void kl8_body(const teq_kl8 *kl, const teq_kq *kq, const float *x, int64_t n, uint8_t *out, const int sh) {
    __m512i TH[8], TL[8], LA[8];
    for (int k = 0; k < 8; k++) {
        TH[k] = _mm512_loadu_si512(kl->th + 64 * k);
        TL[k] = _mm512_loadu_si512(kl->tl + 64 * k);
        LA[k] = _mm512_loadu_si512(kl->lane + 64 * k);
    }
    /* byte indices into two F vectors (128 bytes, values 0..31): IA puts byte 2 (b) of each value in bytes
     * 0..31 and byte 1 (fh) in 32..63; IB byte 0 (fl), then byte 3 (bit 8 of the bucket) */
    uint8_t ia[64], ib[64];
    for (int j = 0; j < 32; j++) {
        const int src = j < 16 ? 4 * j : 64 + 4 * (j - 16);
        ia[j] = (uint8_t)(src + 2), ia[32 + j] = (uint8_t)(src + 1);
        ib[j] = (uint8_t)src, ib[32 + j] = (uint8_t)(src + 3);
    }
    const __m512i IA = _mm512_loadu_si512(ia), IB = _mm512_loadu_si512(ib);
    for (int64_t i = 0; i < n; i += 64) {
        const int64_t r = n - i;
        const __mmask64 mv = r >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << r) - 1;
        const __m512i F0 = kl8_f16(kl, x + i, (__mmask16)mv, sh), F1 = kl8_f16(kl, x + i + 16, (__mmask16)(mv >> 16), sh);
        const __m512i F2 = kl8_f16(kl, x + i + 32, (__mmask16)(mv >> 32), sh);
        const __m512i F3 = kl8_f16(kl, x + i + 48, (__mmask16)(mv >> 48), sh);
        __m512i b;
        __mmask64 m7, m8;
        if (__builtin_expect((kl8_locate(F0, F1, F2, F3, IA, IB, TH, TL, &b, &m7, &m8) & mv) != 0, 0)) {
            teq_kl8_exact(kl, kq, x + i, r < 64 ? r : 64, out + i);
            continue;
        }
        _mm512_mask_storeu_epi8(out + i, mv, kl8_look(LA, b, m7, m8));
    }
}

void teq_kl8_run_avx512(const teq_kl8 *kl, const teq_kq *kq, const float *x, int64_t n, uint8_t *out) {
    if (kl->sh != 0) kl8_body(kl, kq, x, n, out, 1);
    else kl8_body(kl, kq, x, n, out, 0);
}

/* ---- exponential values by their step table over |x|'s bit pattern (kint.h struct teq_kv8) ----
 * 64 values a step as above, F from the magnitude's bits by integer operations (no rounding: the table's
 * buckets are exact ranges of patterns), and the value's four bytes from four tables, put back together 16
 * floats at a time by two vpermt2b (bytes 0-1 and 2-3 of each float) and a shift. */
INLINE __m512i kv8_f16(const struct teq_kv8 *kv, const float *x, __mmask16 m, const int sg, const int zc,
                       __mmask16 *neg, __mmask16 *zero) {
    const __m512i xb = _mm512_castps_si512(_mm512_maskz_loadu_ps(m, x));
    __m512i ub = sg ? _mm512_and_si512(xb, _mm512_set1_epi32(0x7FFFFFFF)) : _mm512_max_epi32(xb, _mm512_setzero_si512());
    ub = _mm512_maskz_mov_epi32(_mm512_cmple_epi32_mask(ub, _mm512_set1_epi32(0x7F800000)), ub);
    *neg = sg ? _mm512_mask_cmplt_epi32_mask(_mm512_test_epi32_mask(ub, ub), xb, _mm512_setzero_si512()) : 0;
    *zero = zc ? _mm512_cmple_epi32_mask(ub, _mm512_set1_epi32(kv->zthr)) : 0;
    const __m512 w = _mm512_max_ps(_mm512_sub_ps(_mm512_castsi512_ps(ub), _mm512_set1_ps(kv->cb)), _mm512_set1_ps(kv->eps));
    const __m512i wb = _mm512_castps_si512(w);
    const __m512 top = _mm512_set1_ps((float)(TEQ_KL8_NB * 65536 - 2));
    __m512 v0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(wb, _mm512_set1_epi32(kv->ubase))), _mm512_set1_ps(kv->c0));
    v0 = _mm512_min_ps(_mm512_max_ps(v0, _mm512_setzero_ps()), top);
    __m512 v1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(wb, _mm512_set1_epi32(kv->split))), _mm512_set1_ps(kv->c1));
    v1 = _mm512_min_ps(v1, _mm512_sub_ps(top, _mm512_set1_ps((float)kv->off1)));
    const __mmask16 r1 = _mm512_cmpge_epi32_mask(wb, _mm512_set1_epi32(kv->split));
    const __m512i f0 = _mm512_cvt_roundps_epi32(v0, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512i f1 = _mm512_add_epi32(_mm512_cvt_roundps_epi32(v1, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC),
                                        _mm512_set1_epi32(kv->off1));
    return _mm512_mask_blend_epi32(r1, f0, f1);
}

INLINE void kv8_body(const struct teq_kv8 *kv, const teq_kq *kq, const float *x, int64_t n, float *y, const int sg,
                     const int zc) {
    __m512i TH[8], TL[8], V[4][8];
    for (int k = 0; k < 8; k++) {
        TH[k] = _mm512_loadu_si512(kv->th + 64 * k);
        TL[k] = _mm512_loadu_si512(kv->tl + 64 * k);
        for (int j = 0; j < 4; j++) V[j][k] = _mm512_loadu_si512(kv->v[j] + 64 * k);
    }
    uint8_t ia[64], ib[64], io[4][64];
    for (int j = 0; j < 32; j++) {
        const int src = j < 16 ? 4 * j : 64 + 4 * (j - 16);
        ia[j] = (uint8_t)(src + 2), ia[32 + j] = (uint8_t)(src + 1);
        ib[j] = (uint8_t)src, ib[32 + j] = (uint8_t)(src + 3);
    }
    /* output block k (values 16k .. 16k+15): byte 4j of float j from the first source (table byte 0 or 2) at
     * position 16k + j, byte 4j + 1 from the second (byte 1 or 3) at 64 + 16k + j */
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 16; j++) {
            io[k][4 * j] = (uint8_t)(16 * k + j), io[k][4 * j + 1] = (uint8_t)(64 + 16 * k + j);
            io[k][4 * j + 2] = io[k][4 * j + 3] = 0;
        }
    const __m512i IA = _mm512_loadu_si512(ia), IB = _mm512_loadu_si512(ib);
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    for (int64_t i = 0; i < n; i += 64) {
        const int64_t r = n - i;
        const __mmask64 mv = r >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << r) - 1;
        __mmask16 ng[4], zr[4];
        const __m512i F0 = kv8_f16(kv, x + i, (__mmask16)mv, sg, zc, &ng[0], &zr[0]);
        const __m512i F1 = kv8_f16(kv, x + i + 16, (__mmask16)(mv >> 16), sg, zc, &ng[1], &zr[1]);
        const __m512i F2 = kv8_f16(kv, x + i + 32, (__mmask16)(mv >> 32), sg, zc, &ng[2], &zr[2]);
        const __m512i F3 = kv8_f16(kv, x + i + 48, (__mmask16)(mv >> 48), sg, zc, &ng[3], &zr[3]);
        __m512i b;
        __mmask64 m7, m8;
        if (__builtin_expect((kl8_locate(F0, F1, F2, F3, IA, IB, TH, TL, &b, &m7, &m8) & mv) != 0, 0)) {
            teq_kq_run_avx512_exact(kq, x + i, r < 64 ? r : 64, NULL, y + i);
            continue;
        }
        const __m512i v0 = kl8_look(V[0], b, m7, m8), v1 = kl8_look(V[1], b, m7, m8);
        const __m512i v2 = kl8_look(V[2], b, m7, m8), v3 = kl8_look(V[3], b, m7, m8);
        for (int k = 0; k < 4; k++) {
            const __m512i io_k = _mm512_loadu_si512(io[k]);
            __m512i f = _mm512_or_si512(_mm512_maskz_permutex2var_epi8(0x3333333333333333ull, v0, io_k, v1),
                                        _mm512_slli_epi32(_mm512_permutex2var_epi8(v2, io_k, v3), 16));
            if (sg) f = _mm512_mask_or_epi32(f, ng[k], f, sign);
            if (zc) f = _mm512_maskz_mov_epi32((__mmask16)~zr[k], f);
            _mm512_mask_storeu_ps(y + i + 16 * k, (__mmask16)(mv >> (16 * k)), _mm512_castsi512_ps(f));
        }
    }
}

void teq_kv8_run_avx512(const struct teq_kv8 *kv, const teq_kq *kq, const float *x, int64_t n, float *y) {
    if (kv->sg) kv8_body(kv, kq, x, n, y, 1, 0); /* a signed code with the zero code has no table */
    else if (kv->zthr >= 0) kv8_body(kv, kq, x, n, y, 0, 1);
    else kv8_body(kv, kq, x, n, y, 0, 0);
}
