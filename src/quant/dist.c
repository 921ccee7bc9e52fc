/* Distribution analysis (METHOD section 4): which family describes a tensor's magnitudes best.
 *
 * Data: the magnitudes m = |x| of the finite, non-zero values of x (exact zeros are reported as
 * zero_fraction and left out: they are a point mass no continuous family describes, and the code
 * handles them with its zero code). Above 65536 such values, a uniform random sample of 65536 of them
 * (fixed seed, so the result is reproducible) is fitted.
 *
 * Families, each fitted by maximum likelihood to what it models, and the meaning of p1 / p2:
 *   uniform      m ~ U(a, c), a = min m, c = max m.                         p1 = a,  p2 = c
 *   Gaussian     m ~ half-normal(sigma) = |N(0, sigma^2)|, sigma^2 = mean(m^2).   p1 = sigma, p2 = 0
 *   Laplace      x ~ Laplace(mu, b) fitted to the signed non-zero values (mu = median x, b = mean |x - mu|),
 *                and m = |x| then has the folded Laplace distribution:
 *                F(m) = L(m) - L(-m) with L the Laplace CDF, pdf f(m) + f(-m).   p1 = mu, p2 = b
 *   exponential  m ~ loc + Exp(lambda) (shifted exponential), loc = min m, 1/lambda = mean(m) - loc.
 *                                                                          p1 = loc, p2 = lambda
 * (A zero-mean Laplace has exactly exponential magnitudes; the shift and the free mu are what tell the
 * two apart on real tensors.)
 * Goodness of fit: the Kolmogorov-Smirnov statistic D = sup_m |F_emp(m) - F_fit(m)| over the sorted
 * magnitudes (both sides of every step of the empirical CDF). best = the family with the smallest D.
 * A fitted scale of 0 (all magnitudes equal) is treated as a point mass. */
#include "qint.h"

#include <math.h>
#include <stdlib.h>

#define DIST_MAX_SAMPLE 65536

const char *teq_family_name(teq_family f) {
    switch (f) {
    case TEQ_FAMILY_UNIFORM: return "uniform";
    case TEQ_FAMILY_GAUSSIAN: return "gaussian";
    case TEQ_FAMILY_LAPLACE: return "laplace";
    case TEQ_FAMILY_EXPONENTIAL: return "exponential";
    default: return "unknown";
    }
}

static double laplace_cdf(double x, double mu, double b) {
    double z = (x - mu) / b;
    return z < 0 ? 0.5 * exp(z) : 1 - 0.5 * exp(-z);
}

/* CDF of family f at magnitude m (m >= 0). */
static double dist_cdf(const teq_dist_fit *fit, teq_family f, double m) {
    double p1 = fit->p1[f], p2 = fit->p2[f];
    switch (f) {
    case TEQ_FAMILY_UNIFORM:
        if (!(p2 > p1)) return m >= p1 ? 1 : 0;
        return m <= p1 ? 0 : m >= p2 ? 1 : (m - p1) / (p2 - p1);
    case TEQ_FAMILY_GAUSSIAN:
        if (!(p1 > 0)) return m >= 0 ? 1 : 0;
        return erf(m / (p1 * sqrt(2.0)));
    case TEQ_FAMILY_LAPLACE:
        if (!(p2 > 0)) return (m >= fabs(p1)) ? 1 : 0;
        return laplace_cdf(m, p1, p2) - laplace_cdf(-m, p1, p2);
    case TEQ_FAMILY_EXPONENTIAL:
        if (m < p1) return 0;
        if (!isfinite(p2)) return 1;
        return -expm1(-p2 * (m - p1));
    default: return 0;
    }
}

double teq_dist_pdf(const teq_dist_fit *fit, teq_family f, double m) {
    if (!fit || m < 0 || (int)f < 0 || f >= TEQ_N_FAMILIES) return 0;
    double p1 = fit->p1[f], p2 = fit->p2[f];
    switch (f) {
    case TEQ_FAMILY_UNIFORM: return (p2 > p1 && m >= p1 && m <= p2) ? 1 / (p2 - p1) : 0;
    case TEQ_FAMILY_GAUSSIAN:
        if (!(p1 > 0)) return 0;
        return 0.7978845608028654 / p1 * exp(-0.5 * (m / p1) * (m / p1));
    case TEQ_FAMILY_LAPLACE:
        if (!(p2 > 0)) return 0;
        return (exp(-fabs(m - p1) / p2) + exp(-fabs(m + p1) / p2)) / (2 * p2);
    case TEQ_FAMILY_EXPONENTIAL:
        if (m < p1 || !isfinite(p2) || !(p2 > 0)) return 0;
        return p2 * exp(-p2 * (m - p1));
    default: return 0;
    }
}

/* Left limit F(m-) of the CDF: differs from F(m) only at the jump of a point mass. */
static double dist_cdf_left(const teq_dist_fit *fit, teq_family f, double m) {
    double p1 = fit->p1[f], p2 = fit->p2[f];
    if (f == TEQ_FAMILY_UNIFORM && !(p2 > p1)) return m > p1 ? 1 : 0;
    if (f == TEQ_FAMILY_LAPLACE && !(p2 > 0)) return m > fabs(p1) ? 1 : 0;
    if (f == TEQ_FAMILY_EXPONENTIAL && !isfinite(p2)) return m > p1 ? 1 : 0;
    if (f == TEQ_FAMILY_GAUSSIAN && !(p1 > 0)) return m > 0 ? 1 : 0;
    return dist_cdf(fit, f, m);
}

/* KS statistic of sorted m[n] against family f: at each data point, the fitted CDF against the empirical
 * one just after (i+1)/n and, through the left limit, just before (i/n). */
static double ks_stat(const teq_dist_fit *fit, teq_family f, const float *m, int64_t n) {
    double d = 0, inv = 1.0 / (double)n;
    for (int64_t i = 0; i < n; i++) {
        double F = dist_cdf(fit, f, m[i]), Fl = dist_cdf_left(fit, f, m[i]);
        double lo = Fl - (double)i * inv, hi = (double)(i + 1) * inv - F;
        if (lo > d) d = lo;
        if (hi > d) d = hi;
    }
    return d;
}

teq_status teq_dist_fit_tensor(const float *x, int64_t n, teq_dist_fit *out, teq_error *err) {
    if (!out) return teq_error_set(err, TEQ_ERR_ARG, "distribution fit: no output");
    memset(out, 0, sizeof *out);
    if (n < 0 || (n > 0 && !x)) return teq_error_set(err, TEQ_ERR_ARG, "distribution fit: bad sample");
    int64_t n_fin = 0, n_nz = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) continue;
        n_fin++;
        n_nz += x[i] != 0;
    }
    if (n_nz == 0)
        return teq_error_set(err, TEQ_ERR_ARG, "distribution fit: no finite non-zero values among %lld", (long long)n);
    out->zero_fraction = (double)(n_fin - n_nz) / (double)n_fin;
    int64_t ns = n_nz < DIST_MAX_SAMPLE ? n_nz : DIST_MAX_SAMPLE;
    float *v = malloc((size_t)ns * sizeof(float)), *m = malloc((size_t)ns * sizeof(float)),
          *tmp = malloc((size_t)ns * sizeof(float));
    if (!v || !m || !tmp) {
        free(v), free(m), free(tmp);
        return teq_error_set(err, TEQ_ERR_NOMEM, "distribution fit: out of memory");
    }
    /* Reservoir sample (Algorithm R) of the non-zero values; all of them when they fit. */
    uint64_t rng = 0x64697374ull;
    int64_t seen = 0;
    for (int64_t i = 0; i < n; i++) {
        float xv = x[i];
        if (!isfinite(xv) || xv == 0) continue;
        if (seen < ns) v[seen] = xv;
        else {
            uint64_t j = teq_qi_rng_below(&rng, (uint64_t)seen + 1);
            if (j < (uint64_t)ns) v[j] = xv;
        }
        seen++;
    }
    out->n = ns;
    double s1 = 0, s2 = 0;
    for (int64_t i = 0; i < ns; i++) {
        m[i] = fabsf(v[i]);
        s1 += m[i], s2 += (double)m[i] * m[i];
    }
    teq_qi_sort_nonneg(m, ns, tmp);
    double mean = s1 / (double)ns;
    /* uniform */
    out->p1[TEQ_FAMILY_UNIFORM] = m[0];
    out->p2[TEQ_FAMILY_UNIFORM] = m[ns - 1];
    /* half-normal */
    out->p1[TEQ_FAMILY_GAUSSIAN] = sqrt(s2 / (double)ns);
    /* Laplace on the signed values: median, then mean absolute deviation from it */
    teq_qi_sort_floats(v, ns, tmp);
    double mu = teq_qi_quantile_sorted(v, ns, 0.5), mad = 0;
    for (int64_t i = 0; i < ns; i++) mad += fabs((double)v[i] - mu);
    out->p1[TEQ_FAMILY_LAPLACE] = mu;
    out->p2[TEQ_FAMILY_LAPLACE] = mad / (double)ns;
    /* shifted exponential */
    double loc = m[0], sc = mean - loc;
    out->p1[TEQ_FAMILY_EXPONENTIAL] = loc;
    out->p2[TEQ_FAMILY_EXPONENTIAL] = sc > 0 ? 1 / sc : INFINITY;
    out->best = TEQ_FAMILY_UNIFORM;
    for (int f = 0; f < TEQ_N_FAMILIES; f++) {
        out->ks[f] = ks_stat(out, (teq_family)f, m, ns);
        if (out->ks[f] < out->ks[out->best]) out->best = (teq_family)f;
    }
    free(v), free(m), free(tmp);
    return TEQ_OK;
}
