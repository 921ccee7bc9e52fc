/* FP32 3x3 convolutions by Winograd F(2x2, 3x3), AVX-512 (kernels.h has the algebra and the error bound; the
 * set's f32_wino). Compiled with avx512.c's flags (CMakeLists.txt); dispatch.c checks cpuid first.
 *
 * A thread takes tile rows r0..r1-1 (output rows 2 r0 .. 2 r1 - 1) as a run of tiles t = r TW + tx, in blocks of
 * nb tiles (teq_wino_nb: V of about 24 KB per xi, so that the block's V stays in L2 while every row block of
 * the weights passes over it):
 *   1. input transform, 16 tiles of one tile row per vector: for each of the patch's 4 rows, the row's 34
 *      floats from column 2 tx0 as two pairs of vectors (masked at the plane's edge), their even and odd
 *      columns by vpermt2ps (d0..d3 of 16 tiles), B^T along the row, then B down the 4 rows:
 *      V [16][C][nb] (xi, channel, tile);
 *   2. for each row block of 8 output channels, 16 GEMMs of 8 x C by C x nb: 8 x 48 tiles of 24 zmm
 *      accumulators, 3 loads of V and 8 broadcasts of U per channel (U [16][M/8][C][8]);
 *      products P [16][8][nb];
 *   3. output transform, 16 tiles of a tile row per vector: A^T . A, the bias, the activation, and the two
 *      output rows written interleaved (vpermt2ps), masked at the plane's edge;
 *   4. the chain (post->fn) over the output rows the block finished.
 * Every output is the same sequence of operations whatever the thread split and the block it falls in
 * (the sum over c runs in channel order), so 1 and 2 threads give the same bits. */
#include "kint.h"

#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))

static __mmask16 mask_n(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

/* Input transform of channel plane Xc (PH x PW) for tiles tx0 .. tx0+nt-1 (nt <= 16) of tile row r, into
 * V[xi * xs] (xi = 0..15), nt floats each */
INLINE void wino_in(const float *Xc, int64_t PH, int64_t PW, int64_t r, int64_t tx0, int nt, float *V, int64_t xs) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const int64_t x0 = 2 * tx0, avail = PW - x0;
    const __mmask16 m0 = mask_n(avail), m16 = mask_n(avail - 16), m2 = mask_n(avail - 2), m18 = mask_n(avail - 18);
    __m512 h[4][4];
    for (int i = 0; i < 4; i++) {
        const int64_t y = 2 * r + i;
        if (y >= PH) {
            h[i][0] = h[i][1] = h[i][2] = h[i][3] = _mm512_setzero_ps();
            continue;
        }
        const float *row = Xc + y * PW + x0;
        const __m512 a = _mm512_maskz_loadu_ps(m0, row), b = _mm512_maskz_loadu_ps(m16, row + 16);
        const __m512 a2 = _mm512_maskz_loadu_ps(m2, row + 2), b2 = _mm512_maskz_loadu_ps(m18, row + 18);
        const __m512 d0 = _mm512_permutex2var_ps(a, ev, b), d1 = _mm512_permutex2var_ps(a, od, b);
        const __m512 d2 = _mm512_permutex2var_ps(a2, ev, b2), d3 = _mm512_permutex2var_ps(a2, od, b2);
        h[i][0] = _mm512_sub_ps(d0, d2);
        h[i][1] = _mm512_add_ps(d1, d2);
        h[i][2] = _mm512_sub_ps(d2, d1);
        h[i][3] = _mm512_sub_ps(d1, d3);
    }
    const __mmask16 sm = mask_n(nt);
    for (int j = 0; j < 4; j++) {
        _mm512_mask_storeu_ps(V + (0 + j) * xs, sm, _mm512_sub_ps(h[0][j], h[2][j]));
        _mm512_mask_storeu_ps(V + (4 + j) * xs, sm, _mm512_add_ps(h[1][j], h[2][j]));
        _mm512_mask_storeu_ps(V + (8 + j) * xs, sm, _mm512_sub_ps(h[2][j], h[1][j]));
        _mm512_mask_storeu_ps(V + (12 + j) * xs, sm, _mm512_sub_ps(h[1][j], h[3][j]));
    }
}

/* P[r * nb + 16 v] = sum_c U[c * 8 + r] V[c * nb + 16 v], r < 8, v < NV, c in order */
INLINE void wino_mm(const float *U, const float *V, int64_t C, int64_t nb, float *P, const int NV) {
    __m512 acc[TEQ_WINO_MR][3];
    _Pragma("GCC unroll 8") for (int r = 0; r < TEQ_WINO_MR; r++) _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++)
        acc[r][v] = _mm512_setzero_ps();
    for (int64_t c = 0; c < C; c++) {
        __m512 a[3];
        _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) a[v] = _mm512_load_ps(V + c * nb + 16 * v);
        const float *u = U + c * TEQ_WINO_MR;
        _Pragma("GCC unroll 8") for (int r = 0; r < TEQ_WINO_MR; r++) {
            const __m512 b = _mm512_set1_ps(u[r]);
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(a[v], b, acc[r][v]);
        }
    }
    _Pragma("GCC unroll 8") for (int r = 0; r < TEQ_WINO_MR; r++) _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++)
        _mm512_store_ps(P + r * nb + 16 * v, acc[r][v]);
}

/* Output transform of nt <= 16 tiles from P[xi * xs] into output rows y0 (and y1 unless NULL), columns
 * 0 .. ncols-1 from the tiles' first; bias, then the activation (as f32_conv's stores: the bound first in max
 * and min, so NaN and equal values give y; Relu's NaN gives 0) */
INLINE void wino_out(const float *P, int64_t xs, int nt, float bias, int bias_on, const teq_kpost *act, float *y0,
                     float *y1, int64_t ncols) {
    const __mmask16 lm = mask_n(nt);
    __m512 s[4], d[4];
    for (int j = 0; j < 4; j++) {
        const __m512 p0 = _mm512_maskz_loadu_ps(lm, P + (0 + j) * xs), p1 = _mm512_maskz_loadu_ps(lm, P + (4 + j) * xs);
        const __m512 p2 = _mm512_maskz_loadu_ps(lm, P + (8 + j) * xs), p3 = _mm512_maskz_loadu_ps(lm, P + (12 + j) * xs);
        s[j] = _mm512_add_ps(_mm512_add_ps(p0, p1), p2);
        d[j] = _mm512_sub_ps(_mm512_sub_ps(p1, p2), p3);
    }
    __m512 o[4] = {_mm512_add_ps(_mm512_add_ps(s[0], s[1]), s[2]), _mm512_sub_ps(_mm512_sub_ps(s[1], s[2]), s[3]),
                   _mm512_add_ps(_mm512_add_ps(d[0], d[1]), d[2]), _mm512_sub_ps(_mm512_sub_ps(d[1], d[2]), d[3])};
    const __m512 bv = _mm512_set1_ps(bias);
    const __m512 alo = _mm512_set1_ps(act ? act->lo : 0.0f), ahi = _mm512_set1_ps(act ? act->hi : 0.0f);
    for (int k = 0; k < 4; k++) {
        if (bias_on) o[k] = _mm512_add_ps(o[k], bv);
        if (act && act->act == TEQ_KACT_RELU) o[k] = _mm512_max_ps(o[k], _mm512_setzero_ps());
        else if (act && act->act == TEQ_KACT_CLIP) o[k] = _mm512_min_ps(ahi, _mm512_max_ps(alo, o[k]));
    }
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __mmask16 ma = mask_n(ncols), mb = mask_n(ncols - 16);
    _mm512_mask_storeu_ps(y0, ma, _mm512_permutex2var_ps(o[0], lo, o[1]));
    _mm512_mask_storeu_ps(y0 + 16, mb, _mm512_permutex2var_ps(o[0], hi, o[1]));
    if (y1) {
        _mm512_mask_storeu_ps(y1, ma, _mm512_permutex2var_ps(o[2], lo, o[3]));
        _mm512_mask_storeu_ps(y1 + 16, mb, _mm512_permutex2var_ps(o[2], hi, o[3]));
    }
}

/* one xi's products of a row block (8 rows) over nv vectors of tiles, 3 vectors at a time */
INLINE void wino_mms(const float *U, const float *Vx, int64_t C, int64_t nb, float *Px, int64_t nv) {
    int64_t v = 0;
    for (; v + 3 <= nv; v += 3) wino_mm(U, Vx + 16 * v, C, nb, Px + 16 * v, 3);
    if (nv - v == 2) wino_mm(U, Vx + 16 * v, C, nb, Px + 16 * v, 2);
    else if (nv - v == 1) wino_mm(U, Vx + 16 * v, C, nb, Px + 16 * v, 1);
}

void teq_f32_wino_avx512(const teq_kwino *w, const teq_i8conv *g, const float *X, const float *bias, float *Y,
                         int64_t ldy, int64_t r0, int64_t r1, float *scratch, const teq_kpost *post) {
    TEQ_WINO_DRIVER_BODY(16, wino_in, wino_mms, wino_out)
}

/* kw.c teq_kwino_fill on 8 rows at once (a block of TEQ_WINO_MR), one double lane a row: the same operations in
 * the same order (wino_g: the sums of three in double, halved, rounded once to float; subnormals to a zero of
 * their sign), so the same bits. The 9 taps of the 8 rows' filters of one channel by gathers (rows 9 C floats
 * apart; rows past M masked off and stored as 0). */
void teq_wino_fill_avx512(int64_t M, int64_t C, const float *W, float *u, int64_t m0, int64_t m1) {
    const int64_t MR = TEQ_WINO_MR, Mb = (M + MR - 1) / MR;
    if (9 * C * MR > INT32_MAX) {
        teq_kwino_fill(M, C, W, u, m0, m1);
        return;
    }
    m1 = m1 < M ? m1 : M;
    const size_t plane = (size_t)Mb * (size_t)C * MR;
    const __m256i rows = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)(9 * C)));
    const __m512d half = _mm512_set1_pd(0.5);
    const __m256i expo = _mm256_set1_epi32(0x7F800000), sign = _mm256_set1_epi32((int)0x80000000u);
    for (int64_t b = m0 / MR; b * MR < m1; b++) {
        const int64_t live = M - b * MR;
        const __mmask8 mk = live >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << live) - 1);
        const __m256i lanes = _mm256_maskz_mov_epi32(mk, _mm256_set1_epi32(-1));
        for (int64_t c = 0; c < C; c++) {
            const float *g = W + (b * MR * C + c) * 9;
            __m512d t[4][3];
            for (int k = 0; k < 3; k++) {
                const __m512d g0 = _mm512_cvtps_pd(_mm256_mask_i32gather_ps(_mm256_setzero_ps(), g + k, rows, _mm256_castsi256_ps(lanes), 4));
                const __m512d g1 = _mm512_cvtps_pd(_mm256_mask_i32gather_ps(_mm256_setzero_ps(), g + 3 + k, rows, _mm256_castsi256_ps(lanes), 4));
                const __m512d g2 = _mm512_cvtps_pd(_mm256_mask_i32gather_ps(_mm256_setzero_ps(), g + 6 + k, rows, _mm256_castsi256_ps(lanes), 4));
                t[0][k] = g0, t[3][k] = g2;
                t[1][k] = _mm512_mul_pd(half, _mm512_add_pd(_mm512_add_pd(g0, g1), g2));
                t[2][k] = _mm512_mul_pd(half, _mm512_add_pd(_mm512_sub_pd(g0, g1), g2));
            }
            float *ub = u + ((size_t)b * (size_t)C + (size_t)c) * MR;
            for (int i = 0; i < 4; i++) {
                const __m512d a0 = t[i][0], a1 = t[i][1], a2 = t[i][2];
                const __m512d v[4] = {a0, _mm512_mul_pd(half, _mm512_add_pd(_mm512_add_pd(a0, a1), a2)),
                                      _mm512_mul_pd(half, _mm512_add_pd(_mm512_sub_pd(a0, a1), a2)), a2};
                for (int j = 0; j < 4; j++) {
                    __m256i f = _mm256_castps_si256(_mm512_cvtpd_ps(v[j]));
                    /* kernels.h teq_k_flush_bits: no exponent bits, keep the sign only; rows past M 0 */
                    const __mmask8 sub = _mm256_testn_epi32_mask(f, expo);
                    f = _mm256_mask_and_epi32(f, sub, f, sign);
                    _mm256_storeu_si256((__m256i *)(void *)(ub + (size_t)(4 * i + j) * plane), _mm256_maskz_mov_epi32(mk, f));
                }
            }
        }
    }
}
