/* Error-compensating weight rounding (OBQ / GPTQ, METHOD section 3a), on any code's level set.
 *
 * A layer computes y = W x with W [M rows = outputs, K columns = inputs]. With H = X^T X of the layer's
 * calibration inputs (X: one input vector per row), the output error of quantized weights Wq is
 *     sum_m (w_m - q_m)^T H (w_m - q_m),
 * a separate quadratic per row with the same H. Rounding column k of a row to a level leaves an error
 * that the columns not yet rounded can partly cancel; the optimal correction of the remaining columns
 * for one rounded column is -(err_k / [H^-1]_kk) [H^-1]_{k, rest}, and doing this column after column
 * with the inverse Hessian of the remaining columns is the same as using the rows of the upper Cholesky
 * factor U of H^-1 (H^-1 = U^T U): err_k / U_kk times U_{k, j>k}. That is why only U is needed.
 *
 * Damping: H + lambda I with lambda = damp * mean(diag H) keeps the factorisation stable where
 * inputs are nearly collinear (and limits how far errors are pushed). A dead input (H_kk = 0: the
 * input is always 0 on the calibration data) has no cross terms either, so with damping its column
 * is rounded to the nearest level and passes no error on.
 *
 * The levels are every value the code can produce through teq_q_quantize (the code table's entries
 * that quantize back to their own code), so the chosen codes are codes a .teq file can hold and
 * a weight already on the grid stays exactly where it is. */
#include "quant.h"

#include <cblas.h>

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef struct glevel {
    double v;
    uint8_t code;
} glevel;

static int cmp_level(const void *a, const void *b) {
    double x = ((const glevel *)a)->v, y = ((const glevel *)b)->v;
    return x < y ? -1 : x > y;
}

/* The code's reachable values, ascending, into lv[256]; returns their count. */
static int reachable_levels(const teq_qparams *p, glevel *lv) {
    int nc = teq_q_num_codes(p), n = 0;
    float table[256];
    uint8_t back[256];
    teq_q_code_table(p, table);
    teq_q_quantize(p, table, nc, back);
    for (int c = 0; c < nc; c++)
        if (back[c] == c && isfinite(table[c])) lv[n].v = table[c], lv[n].code = (uint8_t)c, n++;
    qsort(lv, (size_t)n, sizeof *lv, cmp_level);
    return n;
}

/* Index of the level nearest to x; on a tie the smaller magnitude, and +level over -level (as
 * teq_q_quantize: ties to the lower magnitude, the sign from x < 0, NaN like 0). */
static int nearest(const glevel *lv, int n, double x) {
    if (isnan(x)) x = 0;
    int lo = 0, hi = n - 1;
    if (x <= lv[0].v) return 0;
    if (x >= lv[hi].v) return hi;
    while (hi - lo > 1) { /* lv[lo].v < x < lv[hi].v */
        int mid = (lo + hi) / 2;
        if (lv[mid].v <= x) lo = mid;
        else hi = mid;
    }
    double dl = x - lv[lo].v, dh = lv[hi].v - x;
    if (dl != dh) return dl < dh ? lo : hi;
    return fabs(lv[lo].v) < fabs(lv[hi].v) ? lo : hi;
}

/* LAPACK from OpenBLAS (Debian ships no LAPACKE header; these are the Fortran entry points, integers
 * of OpenBLAS's blasint, the trailing hidden length of the character argument passed as gfortran
 * does). Column-major: a row-major array is seen transposed. */
extern void dpotrf_(const char *uplo, const blasint *n, double *a, const blasint *lda, blasint *info, size_t uplo_len);
extern void dtrtri_(const char *uplo, const char *diag, const blasint *n, double *a, const blasint *lda, blasint *info,
                    size_t uplo_len, size_t diag_len);

/* U with U^T U = A^-1, U upper, for A = the damped, permuted H, without forming A^-1:
 * with J the order-reversing permutation, factor J A J = Lr Lr^T (Lr lower); then A = R R^T with
 * R = J Lr J upper, so A^-1 = R^-T R^-1 and U = R^-1 = J Lr^-1 J. One Cholesky and one triangular
 * inverse, both blocked in OpenBLAS (K = 2880: ~1e10 flops; the plain triple loops took 120 s). */
teq_status teq_gptq_prepare(double *H, int64_t K, double damp, int act_order, int64_t *perm, teq_error *err) {
    if (K <= 0) return TEQ_OK;
    if (K > 46340) return teq_error_set(err, TEQ_ERR_UNSUPPORTED, "GPTQ: %lld inputs are too many", (long long)K);
    double *A = malloc(sizeof(double) * (size_t)(K * K));
    if (!A) return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory");
    /* Symmetrise from the upper triangle (what the accumulation writes); refuse non-finite entries
     * (an input that overflowed in calibration), which the factorisation would not report. */
    for (int64_t i = 0; i < K; i++) {
        for (int64_t j = i; j < K; j++)
            if (!isfinite(H[i * K + j])) {
                free(A);
                return teq_error_set(err, TEQ_ERR_INTERNAL, "GPTQ: X^T X has a non-finite entry");
            }
        for (int64_t j = 0; j < i; j++) H[i * K + j] = H[j * K + i];
    }
    for (int64_t k = 0; k < K; k++) perm[k] = k;
    if (act_order) {
        /* Largest diagonal first (GPTQ's "act order"): the inputs that carry the most energy are
         * rounded while the most columns are left to take their error. Insertion sort: stable. */
        for (int64_t i = 1; i < K; i++) {
            int64_t p = perm[i], j = i;
            while (j > 0 && H[perm[j - 1] * K + perm[j - 1]] < H[p * K + p]) perm[j] = perm[j - 1], j--;
            perm[j] = p;
        }
    }
    double mean = 0;
    for (int64_t k = 0; k < K; k++) mean += H[k * K + k];
    mean /= (double)K;
    double lambda = mean > 0 && isfinite(mean) ? damp * mean : 1.0;
    if (!(lambda > 0)) lambda = mean > 0 ? 1e-6 * mean : 1.0;
    const blasint n = (blasint)K;
    /* single-threaded like every OpenBLAS call in teq (src/ops/nn.c, blas_threads): one pool of
     * threads, and the same bits whatever --threads is */
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
    teq_status s = TEQ_OK;
    for (int attempt = 0;; attempt++) {
        /* A = J P^T (H + lambda I) P J: entry (i, j) is H at the columns rounded (K-1-i)-th and
         * (K-1-j)-th; a dead input gets mean(diag H) on the diagonal. Symmetric, so the Fortran view
         * (the transpose) is the same matrix. */
        for (int64_t i = 0; i < K; i++) {
            const int64_t pi = perm[K - 1 - i];
            for (int64_t j = 0; j < K; j++) A[i * K + j] = H[pi * K + perm[K - 1 - j]];
            if (!(A[i * K + i] > 0)) A[i * K + i] = mean > 0 ? mean : 1.0;
            A[i * K + i] += lambda;
        }
        blasint info = 0;
        dpotrf_("L", &n, A, &n, &info, 1); /* Fortran lower Lr: row-major element (j, i) = Lr[i][j], i >= j */
        if (info == 0) dtrtri_("L", "N", &n, A, &n, &info, 1, 1); /* the same triangle now holds Lr^-1 */
        if (info == 0) {
            /* U[i][j] = Lr^-1[K-1-i][K-1-j] (j >= i), stored row-major at (K-1-j, K-1-i) */
            for (int64_t i = 0; i < K; i++)
                for (int64_t j = 0; j < K; j++) H[i * K + j] = j >= i ? A[(K - 1 - j) * K + (K - 1 - i)] : 0.0;
            break;
        }
        if (attempt == 6) {
            s = teq_error_set(err, TEQ_ERR_INTERNAL, "GPTQ: the damped Hessian is not positive definite");
            break;
        }
        lambda *= 10; /* numerically indefinite: damp more */
    }
    free(A);
    return s;
}

teq_status teq_gptq_round(const teq_qparams *p, const float *w, int64_t M, int64_t K, const double *U,
                          const int64_t *perm, int threads, uint8_t *codes) {
    glevel lv[256];
    int n = reachable_levels(p, lv);
    if (n == 0 || K <= 0) return TEQ_OK;
    int nt = threads > 0 ? threads : 1;
    /* One work row per thread, allocated before the parallel region: a failed allocation is reported,
     * never turned into a different (nearest) rounding that the caller could not tell apart. */
    double *work = malloc(sizeof(double) * (size_t)K * (size_t)nt);
    if (!work) return TEQ_ERR_NOMEM;
#pragma omp parallel num_threads(nt) if (nt > 1 && M * K * K > (1 << 20))
    {
        double *r = work + (size_t)K * (size_t)omp_get_thread_num();
        /* rows are independent: each thread takes whole rows, so the result does not depend on the
         * thread count */
#pragma omp for schedule(static)
        for (int64_t m = 0; m < M; m++) {
            const float *wm = w + m * K;
            uint8_t *cm = codes + m * K;
            for (int64_t k = 0; k < K; k++) r[k] = wm[perm[k]];
            for (int64_t k = 0; k < K; k++) {
                int li = nearest(lv, n, r[k]);
                cm[perm[k]] = lv[li].code;
                const double *uk = U + k * K;
                double e = (r[k] - lv[li].v) / uk[k];
                /* a NaN or infinite weight is coded like teq_q_quantize codes it and passes nothing on */
                if (e != 0 && isfinite(e))
                    for (int64_t j = k + 1; j < K; j++) r[j] -= e * uk[j];
            }
        }
    }
    free(work);
    return TEQ_OK;
}

double teq_gptq_loss(const float *w, const float *wq, int64_t M, int64_t K, const double *H) {
    double total = 0, *d = malloc(sizeof(double) * (size_t)(K > 0 ? K : 1));
    if (!d) return NAN;
    for (int64_t m = 0; m < M; m++) {
        for (int64_t k = 0; k < K; k++) d[k] = (double)w[m * K + k] - (double)wq[m * K + k];
        for (int64_t i = 0; i < K; i++) {
            double t = 0;
            for (int64_t j = 0; j < K; j++) t += H[i * K + j] * d[j];
            total += d[i] * t;
        }
    }
    free(d);
    return total;
}
