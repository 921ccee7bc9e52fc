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

#include <math.h>
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

/* Index of the level nearest to x (the lower one on a tie; NaN gives the level nearest 0). */
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
    return x - lv[lo].v <= lv[hi].v - x ? lo : hi;
}

/* In-place lower Cholesky factor of the symmetric positive definite A [n, n] (row-major; the lower
 * triangle is read and written, the strict upper one set to 0). Returns 0 when A is not positive
 * definite in double. */
static int cholesky_lower(double *A, int64_t n) {
    for (int64_t j = 0; j < n; j++) {
        double *rj = A + j * n;
        double d = rj[j];
        for (int64_t k = 0; k < j; k++) d -= rj[k] * rj[k];
        if (!(d > 0) || !isfinite(d)) return 0;
        d = sqrt(d);
        rj[j] = d;
        for (int64_t i = j + 1; i < n; i++) {
            double *ri = A + i * n;
            double s = ri[j];
            for (int64_t k = 0; k < j; k++) s -= ri[k] * rj[k];
            ri[j] = s / d;
        }
        for (int64_t k = j + 1; k < n; k++) rj[k] = 0;
    }
    return 1;
}

teq_status teq_gptq_prepare(double *H, int64_t K, double damp, int act_order, int64_t *perm, teq_error *err) {
    if (K <= 0) return TEQ_OK;
    double *A = malloc(sizeof(double) * (size_t)(K * K));
    double *B = malloc(sizeof(double) * (size_t)(K * K));
    if (!A || !B) {
        free(A), free(B);
        return teq_error_set(err, TEQ_ERR_NOMEM, "out of memory");
    }
    /* Symmetrise from the upper triangle (what the accumulation writes). */
    for (int64_t i = 0; i < K; i++)
        for (int64_t j = 0; j < i; j++) H[i * K + j] = H[j * K + i];
    for (int64_t k = 0; k < K; k++) perm[k] = k;
    if (act_order) {
        /* Largest diagonal first (GPTQ's "act order"): the columns that matter most are rounded while
         * the most columns are left to take their error. Insertion sort: stable, K is small. */
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
    teq_status s = TEQ_OK;
    for (int attempt = 0;; attempt++) {
        /* A = P^T (H + lambda I) P in the rounding order; a dead input gets a unit diagonal. */
        for (int64_t i = 0; i < K; i++)
            for (int64_t j = 0; j < K; j++) A[i * K + j] = H[perm[i] * K + perm[j]];
        for (int64_t k = 0; k < K; k++) {
            if (!(A[k * K + k] > 0)) A[k * K + k] = mean > 0 ? mean : 1.0;
            A[k * K + k] += lambda;
        }
        if (cholesky_lower(A, K)) {
            /* B = L^-1 (lower), row by row: row i of L B = I gives
             * B[i,:] = (e_i - sum_{k<i} L[i,k] B[k,:]) / L[i,i] (contiguous row updates). */
            memset(B, 0, sizeof(double) * (size_t)(K * K));
            for (int64_t i = 0; i < K; i++) {
                double *bi = B + i * K;
                bi[i] = 1.0;
                for (int64_t k = 0; k < i; k++) {
                    const double a = A[i * K + k], *bk = B + k * K;
                    if (a != 0)
                        for (int64_t j = 0; j <= k; j++) bi[j] -= a * bk[j];
                }
                for (int64_t j = 0; j <= i; j++) bi[j] /= A[i * K + i];
            }
            /* A = H^-1 = B^T B, lower triangle: (i, j), j <= i, is sum_k B[k,i] B[k,j] over k >= i;
             * accumulated row k of B at a time. */
            for (int64_t i = 0; i < K; i++)
                for (int64_t j = 0; j <= i; j++) A[i * K + j] = 0;
            for (int64_t k = 0; k < K; k++) {
                const double *bk = B + k * K;
                for (int64_t i = 0; i <= k; i++) {
                    const double b = bk[i];
                    double *ai = A + i * K;
                    if (b != 0)
                        for (int64_t j = 0; j <= i; j++) ai[j] += b * bk[j];
                }
            }
            /* H^-1 = L2 L2^T; U = L2^T is the upper factor with H^-1 = U^T U. */
            if (cholesky_lower(A, K)) {
                for (int64_t i = 0; i < K; i++)
                    for (int64_t j = 0; j < K; j++) H[i * K + j] = j >= i ? A[j * K + i] : 0.0;
                break;
            }
        }
        if (attempt == 6) {
            s = teq_error_set(err, TEQ_ERR_INTERNAL, "GPTQ: the damped Hessian is not positive definite");
            break;
        }
        lambda *= 10; /* numerically indefinite: damp more */
    }
    free(A);
    free(B);
    return s;
}

void teq_gptq_round(const teq_qparams *p, const float *w, int64_t M, int64_t K, const double *U, const int64_t *perm,
                    int threads, uint8_t *codes) {
    glevel lv[256];
    int n = reachable_levels(p, lv);
    if (n == 0 || K <= 0) return;
#pragma omp parallel num_threads(threads > 0 ? threads : 1) if (threads > 1 && M * K * K > (1 << 20))
    {
        double *r = malloc(sizeof(double) * (size_t)K);
        /* rows are independent: each thread takes whole rows, so the result does not depend on the
         * thread count */
#pragma omp for schedule(static)
        for (int64_t m = 0; m < M; m++) {
            const float *wm = w + m * K;
            uint8_t *cm = codes + m * K;
            if (!r) { /* no memory for the work row: plain nearest rounding, still valid codes */
                for (int64_t k = 0; k < K; k++) cm[k] = lv[nearest(lv, n, wm[k])].code;
                continue;
            }
            for (int64_t k = 0; k < K; k++) r[k] = wm[perm[k]];
            for (int64_t k = 0; k < K; k++) {
                int li = nearest(lv, n, r[k]);
                cm[perm[k]] = lv[li].code;
                const double *uk = U + k * K;
                double e = (r[k] - lv[li].v) / uk[k];
                if (e != 0)
                    for (int64_t j = k + 1; j < K; j++) r[j] -= e * uk[j];
            }
        }
        free(r);
    }
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
