/* FP32 3x3 convolutions by Winograd F(2x2, 3x3), AVX2 + FMA (kernels.h has the algebra and the error bound; the
 * set's f32_wino). Compiled with avx2.c's flags (CMakeLists.txt); dispatch.c checks cpuid first.
 *
 * wino512.c's scheme on 8 lanes, the same blocks of tiles (teq_wino_nb) and weights (U [16][M/8][C][8]):
 *   1. input transform, 8 tiles of a tile row per vector: the patch's even and odd columns from two pairs of
 *      loads by vshufps and vpermpd, B^T along the row, B down the 4 rows;
 *   2. each row block of 8 output channels in two halves of 4 rows x 24 tiles (12 ymm accumulators, 3 loads and
 *      4 broadcasts per 12 FMAs: the 16 registers hold no more);
 *   3. output transform, bias, activation, the two output rows interleaved by vunpcklps/vunpckhps and
 *      vperm2f128, masked at the plane's edge;
 *   4. the chain over the output rows the block finished.
 * The same operations in the same order per output as wino512.c (the sum over c in channel order, the
 * transforms' additions in the same association), so the two sets give the same bits (test_kernels checks). */
#include "kint.h"

#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))

/* lanes 0 .. n-1 on (n clamped to 0..8) */
static __m256i mask8(int64_t n) {
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const int v = n < 0 ? 0 : n > 8 ? 8 : (int)n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(v), iota);
}

/* the even and odd floats of the 16 in (a, b), in order */
INLINE __m256 even8(__m256 a, __m256 b) {
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
}
INLINE __m256 odd8(__m256 a, __m256 b) {
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}

/* Input transform of channel plane Xc for tiles tx0 .. tx0+nt-1 (nt <= 8) of tile row r, into V[xi * xs] */
INLINE void wino_in(const float *Xc, int64_t PH, int64_t PW, int64_t r, int64_t tx0, int nt, float *V, int64_t xs) {
    const int64_t x0 = 2 * tx0, avail = PW - x0;
    const __m256i m0 = mask8(avail), m8 = mask8(avail - 8), m2 = mask8(avail - 2), m10 = mask8(avail - 10);
    __m256 h[4][4];
    for (int i = 0; i < 4; i++) {
        const int64_t y = 2 * r + i;
        if (y >= PH) {
            h[i][0] = h[i][1] = h[i][2] = h[i][3] = _mm256_setzero_ps();
            continue;
        }
        const float *row = Xc + y * PW + x0;
        const __m256 a = _mm256_maskload_ps(row, m0), b = _mm256_maskload_ps(row + 8, m8);
        const __m256 a2 = _mm256_maskload_ps(row + 2, m2), b2 = _mm256_maskload_ps(row + 10, m10);
        const __m256 d0 = even8(a, b), d1 = odd8(a, b), d2 = even8(a2, b2), d3 = odd8(a2, b2);
        h[i][0] = _mm256_sub_ps(d0, d2);
        h[i][1] = _mm256_add_ps(d1, d2);
        h[i][2] = _mm256_sub_ps(d2, d1);
        h[i][3] = _mm256_sub_ps(d1, d3);
    }
    const __m256i sm = mask8(nt);
    for (int j = 0; j < 4; j++) {
        _mm256_maskstore_ps(V + (0 + j) * xs, sm, _mm256_sub_ps(h[0][j], h[2][j]));
        _mm256_maskstore_ps(V + (4 + j) * xs, sm, _mm256_add_ps(h[1][j], h[2][j]));
        _mm256_maskstore_ps(V + (8 + j) * xs, sm, _mm256_sub_ps(h[2][j], h[1][j]));
        _mm256_maskstore_ps(V + (12 + j) * xs, sm, _mm256_sub_ps(h[1][j], h[3][j]));
    }
}

/* P[r * nb + 8 v] = sum_c U[c * 8 + r0 + r] V[c * nb + 8 v], r < 4, v < NV, c in order */
INLINE void wino_mm(const float *U, const float *V, int64_t C, int64_t nb, float *P, int r0, const int NV) {
    __m256 acc[4][3];
    _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++)
        acc[r][v] = _mm256_setzero_ps();
    for (int64_t c = 0; c < C; c++) {
        __m256 a[3];
        _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) a[v] = _mm256_load_ps(V + c * nb + 8 * v);
        const float *u = U + c * TEQ_WINO_MR + r0;
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {
            const __m256 b = _mm256_broadcast_ss(u + r);
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) acc[r][v] = _mm256_fmadd_ps(a[v], b, acc[r][v]);
        }
    }
    _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++)
        _mm256_store_ps(P + (r0 + r) * nb + 8 * v, acc[r][v]);
}

/* Output transform of nt <= 8 tiles from P[xi * xs] into output rows y0 (and y1 unless NULL), ncols columns */
INLINE void wino_out(const float *P, int64_t xs, int nt, float bias, int bias_on, const teq_kpost *act, float *y0,
                     float *y1, int64_t ncols) {
    const __m256i lm = mask8(nt);
    __m256 s[4], d[4];
    for (int j = 0; j < 4; j++) {
        const __m256 p0 = _mm256_maskload_ps(P + (0 + j) * xs, lm), p1 = _mm256_maskload_ps(P + (4 + j) * xs, lm);
        const __m256 p2 = _mm256_maskload_ps(P + (8 + j) * xs, lm), p3 = _mm256_maskload_ps(P + (12 + j) * xs, lm);
        s[j] = _mm256_add_ps(_mm256_add_ps(p0, p1), p2);
        d[j] = _mm256_sub_ps(_mm256_sub_ps(p1, p2), p3);
    }
    __m256 o[4] = {_mm256_add_ps(_mm256_add_ps(s[0], s[1]), s[2]), _mm256_sub_ps(_mm256_sub_ps(s[1], s[2]), s[3]),
                   _mm256_add_ps(_mm256_add_ps(d[0], d[1]), d[2]), _mm256_sub_ps(_mm256_sub_ps(d[1], d[2]), d[3])};
    const __m256 bv = _mm256_set1_ps(bias);
    const __m256 alo = _mm256_set1_ps(act ? act->lo : 0.0f), ahi = _mm256_set1_ps(act ? act->hi : 0.0f);
    for (int k = 0; k < 4; k++) {
        if (bias_on) o[k] = _mm256_add_ps(o[k], bv);
        /* as wino512.c and f32_conv: the bound first in max and min (NaN and equal values give y; Relu's NaN 0) */
        if (act && act->act == TEQ_KACT_RELU) o[k] = _mm256_max_ps(o[k], _mm256_setzero_ps());
        else if (act && act->act == TEQ_KACT_CLIP) o[k] = _mm256_min_ps(ahi, _mm256_max_ps(alo, o[k]));
    }
    const __m256i ma = mask8(ncols), mb = mask8(ncols - 8);
    for (int row = 0; row < 2; row++) {
        float *y = row ? y1 : y0;
        if (!y) break;
        const __m256 lo = _mm256_unpacklo_ps(o[2 * row], o[2 * row + 1]), hi = _mm256_unpackhi_ps(o[2 * row], o[2 * row + 1]);
        _mm256_maskstore_ps(y, ma, _mm256_permute2f128_ps(lo, hi, 0x20));
        _mm256_maskstore_ps(y + 8, mb, _mm256_permute2f128_ps(lo, hi, 0x31));
    }
}

/* one xi's products of a row block over nv vectors of tiles: two halves of 4 rows, 3 vectors at a time */
INLINE void wino_mms(const float *U, const float *Vx, int64_t C, int64_t nb, float *Px, int64_t nv) {
    for (int h = 0; h < TEQ_WINO_MR; h += 4) {
        int64_t v = 0;
        for (; v + 3 <= nv; v += 3) wino_mm(U, Vx + 8 * v, C, nb, Px + 8 * v, h, 3);
        if (nv - v == 2) wino_mm(U, Vx + 8 * v, C, nb, Px + 8 * v, h, 2);
        else if (nv - v == 1) wino_mm(U, Vx + 8 * v, C, nb, Px + 8 * v, h, 1);
    }
}

void teq_f32_wino_avx2(const teq_kwino *w, const teq_i8conv *g, const float *X, const float *bias, float *Y,
                       int64_t ldy, int64_t r0, int64_t r1, float *scratch, const teq_kpost *post) {
    TEQ_WINO_DRIVER_BODY(8, wino_in, wino_mms, wino_out)
}
