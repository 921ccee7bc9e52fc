/* SVG pictures of the distribution analysis: one tensor's histogram with the fitted densities, and an
 * overview of many tensors. Plain SVG 1.1 with a viewBox: opens in any browser or image viewer. */
#include "core/fileio.h"
#include "qint.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const family_color[TEQ_N_FAMILIES] = {"#1f77b4", "#2ca02c", "#ff7f0e", "#d62728"};

/* ---------------------------------------------------------------- a growing text buffer */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) TEQ_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t nc = b->cap ? b->cap * 2 : 8192;
        while (nc - b->len <= (size_t)n) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np, b->cap = nc;
    }
}

/* Text with the five XML specials escaped; at most max_chars characters (keeping the end, which is the
 * informative part of tensor names), "..." in front when cut. */
static void sb_text(sbuf *b, const char *s, size_t max_chars) {
    if (!s) s = "";
    size_t n = strlen(s);
    if (max_chars && n > max_chars) {
        sb_printf(b, "...");
        s += n - (max_chars - 3);
        while ((*s & 0xC0) == 0x80) s++; /* do not start inside a UTF-8 sequence */
    }
    for (; *s; s++) {
        switch (*s) {
        case '&': sb_printf(b, "&amp;"); break;
        case '<': sb_printf(b, "&lt;"); break;
        case '>': sb_printf(b, "&gt;"); break;
        case '"': sb_printf(b, "&quot;"); break;
        case '\'': sb_printf(b, "&apos;"); break;
        default:
            if ((unsigned char)*s < 0x20) sb_printf(b, " ");
            else sb_printf(b, "%c", *s);
        }
    }
}

/* The start of a W x H chart: XML header, white background, an open <g> with the default text style
 * (closed by the caller), and the title centred on top (escaped, cut to max_chars). */
static void svg_open_titled(sbuf *b, double W, double H, const char *title, int title_size, size_t max_chars) {
    sb_printf(b,
              "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\">\n"
              "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
              "<g font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\" fill=\"#222\">\n",
              W, H, W, H);
    sb_printf(b, "<text x=\"%.0f\" y=\"26\" font-size=\"%d\" font-weight=\"bold\" text-anchor=\"middle\">", W / 2,
              title_size);
    sb_text(b, title, max_chars);
    sb_printf(b, "</text>\n");
}

static teq_status sb_write(sbuf *b, const char *path, teq_error *err) {
    if (b->failed) {
        free(b->p);
        return teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory while drawing", path);
    }
    teq_file_out fo;
    teq_status st = teq_file_out_open(&fo, path, err);
    if (!st) {
        st = teq_file_out_write(&fo, b->p, b->len, err);
        if (st) teq_file_out_abort(&fo);
        else st = teq_file_out_commit(&fo, err);
    }
    free(b->p);
    return st;
}

/* ---------------------------------------------------------------- axes */

/* Tick step giving about `want` ticks over [0, hi]: 1, 2 or 5 times a power of ten. */
static double nice_step(double hi, int want) {
    if (!(hi > 0) || !isfinite(hi)) return 1;
    double raw = hi / want, p = pow(10, floor(log10(raw))), r = raw / p;
    return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * p;
}

static void fmt_num(char *buf, size_t n, double v) {
    if (fabs(v) < 1e-300) snprintf(buf, n, "0");
    else snprintf(buf, n, "%.4g", v);
}

/* Axis lines, ticks and labels for a plot box [x0, x1] x [y0, y1] showing [0, xmax] x [0, ymax]. */
static void draw_axes(sbuf *b, double x0, double x1, double y0, double y1, double xmax, double xstep, double ymax,
                      double ystep, const char *xlabel, const char *ylabel) {
    char num[32];
    sb_printf(b, "<g font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\" fill=\"#333\">\n");
    for (int i = 0;; i++) {
        double v = i * xstep;
        if (v > xmax * (1 + 1e-9)) break;
        double px = x0 + (x1 - x0) * v / xmax;
        fmt_num(num, sizeof num, v);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>", px, y1, px, y1 + 5);
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", px, y1 + 19, num);
    }
    for (int i = 0;; i++) {
        double v = i * ystep;
        if (v > ymax * (1 + 1e-9)) break;
        double py = y1 - (y1 - y0) * v / ymax;
        fmt_num(num, sizeof num, v);
        if (i)
            sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/>", x0, py, x1, py);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>", x0 - 5, py, x0, py);
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", x0 - 8, py + 4, num);
    }
    sb_printf(b, "<path d=\"M%.1f %.1fV%.1fH%.1f\" fill=\"none\" stroke=\"#333\"/>\n", x0, y0, y1, x1);
    if (xlabel)
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", (x0 + x1) / 2, y1 + 40, xlabel);
    if (ylabel)
        sb_printf(b, "<text transform=\"translate(%.1f %.1f) rotate(-90)\" text-anchor=\"middle\">%s</text>\n", x0 - 52,
                  (y0 + y1) / 2, ylabel);
    sb_printf(b, "</g>\n");
}

/* ---------------------------------------------------------------- one tensor */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

teq_status teq_plot_dist_svg(const char *path, const char *title, const float *x, int64_t n, const teq_dist_fit *fit,
                             teq_error *err) {
    if (!path || !fit || n < 0 || (n > 0 && !x)) return teq_error_set(err, TEQ_ERR_ARG, "plot: bad arguments");
    int64_t nm = 0;
    for (int64_t i = 0; i < n; i++) nm += isfinite(x[i]) && x[i] != 0;
    float *m = malloc((size_t)(nm ? nm : 1) * sizeof(float)), *tmp = malloc((size_t)(nm ? nm : 1) * sizeof(float));
    if (!m || !tmp) {
        free(m), free(tmp);
        return teq_error_set(err, TEQ_ERR_NOMEM, "plot: out of memory");
    }
    nm = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(x[i]) && x[i] != 0) m[nm++] = fabsf(x[i]);
    teq_qi_sort_nonneg(m, nm, tmp);
    free(tmp);

    /* x range: up to the maximum, or the 99.9th percentile when a far tail would squash the picture. */
    double mmax = nm ? m[nm - 1] : 1, q999 = nm ? teq_qi_quantile_sorted(m, nm, 0.999) : 1, xmax = mmax;
    int clipped = 0;
    if (nm && mmax > 1.5 * q999 && q999 > 0) xmax = q999, clipped = 1;
    if (!(xmax > 0)) xmax = 1;
    enum { NB = 60 };
    double hist[NB] = {0}, bw = xmax / NB;
    int64_t beyond = 0;
    for (int64_t i = 0; i < nm; i++) {
        double v = m[i];
        if (v > xmax) {
            beyond++;
            continue;
        }
        int k = (int)(v / bw);
        hist[k < NB ? k : NB - 1] += 1;
    }
    double hmax = 0;
    for (int k = 0; k < NB; k++) {
        hist[k] = nm ? hist[k] / ((double)nm * bw) : 0; /* density, comparable with the fitted pdfs */
        if (hist[k] > hmax) hmax = hist[k];
    }
    free(m);

    /* Sample points of the densities: an even grid plus both sides of each family's jumps. */
    enum { NG = 400 };
    double xs[NG + 1 + 8];
    int nx = 0;
    for (int i = 0; i <= NG; i++) xs[nx++] = xmax * i / NG;
    double jumps[3] = {fit->p1[TEQ_FAMILY_UNIFORM], fit->p2[TEQ_FAMILY_UNIFORM], fit->p1[TEQ_FAMILY_EXPONENTIAL]};
    for (int j = 0; j < 3; j++)
        if (jumps[j] > 0 && jumps[j] < xmax) {
            xs[nx++] = jumps[j] * (1 - 1e-9);
            xs[nx++] = jumps[j] * (1 + 1e-9);
        }
    qsort(xs, (size_t)nx, sizeof xs[0], cmp_double);
    double pmax = 0;
    for (int f = 0; f < TEQ_N_FAMILIES; f++)
        for (int i = 0; i < nx; i++) {
            double p = teq_dist_pdf(fit, (teq_family)f, xs[i]);
            if (isfinite(p) && p > pmax) pmax = p;
        }
    double ytop = hmax > 0 ? hmax : pmax > 0 ? pmax : 1;
    if (pmax > ytop) ytop = pmax < 1.5 * ytop ? pmax : 1.5 * ytop; /* a spike of one density may go off the top */
    double ystep = nice_step(ytop * 1.05, 5);
    double ymax = ceil(ytop * 1.05 / ystep) * ystep, xstep = nice_step(xmax, 6);

    const double W = 760, H = 470, x0 = 80, x1 = 740, y0 = 62, y1 = 400;
    sbuf b = {0};
    sb_printf(&b,
              "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\">\n"
              "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
              W, H, W, H);
    sb_printf(&b,
              "<text x=\"%.0f\" y=\"24\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"16\" "
              "font-weight=\"bold\" text-anchor=\"middle\" fill=\"#111\">",
              W / 2);
    sb_text(&b, title, 90);
    sb_printf(&b,
              "</text>\n<text x=\"%.0f\" y=\"44\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\" "
              "text-anchor=\"middle\" fill=\"#555\">%lld non-zero values (%lld fitted), %.1f%% exact zeros",
              W / 2, (long long)nm, (long long)fit->n, 100 * fit->zero_fraction);
    if (clipped)
        sb_printf(&b, "; axis cut at the 99.9th percentile (%.2g%% beyond)", 100.0 * (double)beyond / (double)nm);
    sb_printf(&b, "</text>\n");
    draw_axes(&b, x0, x1, y0, y1, xmax, xstep, ymax, ystep, "|x|", "density");
    sb_printf(&b, "<clipPath id=\"plotarea\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/></clipPath>\n",
              x0, y0, x1 - x0, y1 - y0);
    /* histogram: one path of bars */
    sb_printf(&b, "<path clip-path=\"url(#plotarea)\" fill=\"#cfd8e3\" stroke=\"#9fb0c4\" stroke-width=\"0.6\" d=\"");
    for (int k = 0; k < NB; k++) {
        if (hist[k] <= 0) continue;
        double px0 = x0 + (x1 - x0) * k / NB, px1 = x0 + (x1 - x0) * (k + 1) / NB;
        double py = y1 - (y1 - y0) * hist[k] / ymax;
        sb_printf(&b, "M%.2f %.2fV%.2fH%.2fV%.2fZ", px0, y1, py, px1, y1);
    }
    sb_printf(&b, "\"/>\n");
    /* densities, the best one drawn last and thicker */
    for (int t = 0; t < TEQ_N_FAMILIES; t++) {
        int f = t == TEQ_N_FAMILIES - 1 ? (int)fit->best : (t >= (int)fit->best ? t + 1 : t);
        sb_printf(&b,
                  "<polyline clip-path=\"url(#plotarea)\" fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" "
                  "stroke-linejoin=\"round\" points=\"",
                  family_color[f], f == (int)fit->best ? "3" : "1.8");
        for (int i = 0; i < nx; i++) {
            double p = teq_dist_pdf(fit, (teq_family)f, xs[i]);
            if (!isfinite(p)) p = ymax * 10;
            if (p > ymax * 10) p = ymax * 10;
            sb_printf(&b, "%.2f,%.2f ", x0 + (x1 - x0) * xs[i] / xmax, y1 - (y1 - y0) * p / ymax);
        }
        sb_printf(&b, "\"/>\n");
    }
    /* legend */
    double lx = x1 - 270, ly = y0 + 10;
    sb_printf(&b,
              "<rect x=\"%.1f\" y=\"%.1f\" width=\"262\" height=\"%d\" fill=\"white\" fill-opacity=\"0.9\" "
              "stroke=\"#bbb\" rx=\"4\"/>\n",
              lx, ly, 16 + 20 * TEQ_N_FAMILIES);
    sb_printf(
        &b,
        "<g font-family=\"DejaVu Sans Mono, monospace\" font-size=\"12.5\" fill=\"#222\" xml:space=\"preserve\">\n");
    for (int f = 0; f < TEQ_N_FAMILIES; f++) {
        double yy = ly + 20 + 20 * f;
        int best = f == (int)fit->best;
        sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%s\"/>",
                  lx + 10, yy - 4, lx + 36, yy - 4, family_color[f], best ? "3" : "1.8");
        sb_printf(&b, "<text x=\"%.1f\" y=\"%.1f\"%s>%-11s KS %.3f%s</text>\n", lx + 44, yy,
                  best ? " font-weight=\"bold\"" : "", teq_family_name((teq_family)f), fit->ks[f],
                  best ? "  best" : "");
    }
    sb_printf(&b, "</g>\n</svg>\n");
    return sb_write(&b, path, err);
}

/* ---------------------------------------------------------------- many tensors */

teq_status teq_plot_overview_svg(const char *path, const char *title, int n, const char *const *names,
                                 const teq_dist_fit *fits, teq_error *err) {
    if (!path || n < 0 || (n > 0 && !fits)) return teq_error_set(err, TEQ_ERR_ARG, "overview plot: bad arguments");
    int wins[TEQ_N_FAMILIES] = {0};
    double ksmax = 0;
    for (int i = 0; i < n; i++) {
        if ((int)fits[i].best >= 0 && fits[i].best < TEQ_N_FAMILIES) wins[fits[i].best]++;
        for (int f = 0; f < TEQ_N_FAMILIES; f++)
            if (isfinite(fits[i].ks[f]) && fits[i].ks[f] > ksmax) ksmax = fits[i].ks[f];
    }
    if (!(ksmax > 0)) ksmax = 1;
    double kstep = nice_step(ksmax, 5), kmax = ceil(ksmax / kstep - 1e-9) * kstep;

    const double W = 900, namew = 300, x0 = 320, x1 = 760, row = 17, top = 150;
    double H = top + row * (n > 0 ? n : 1) + 30;
    sbuf b = {0};
    svg_open_titled(&b, W, H, title, 16, 100);
    /* share bar: which family fits best how often */
    double bx = 120, bwid = 660, by = 44, bh = 24, acc = 0;
    sb_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">best fit</text>\n", bx - 8, by + 16);
    for (int f = 0; f < TEQ_N_FAMILIES; f++) {
        double share = n ? (double)wins[f] / n : 0, w = bwid * share;
        if (w > 0)
            sb_printf(&b, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\"/>", bx + acc, by, w,
                      bh, family_color[f]);
        if (w >= 40)
            sb_printf(
                &b,
                "<text x=\"%.2f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"white\" font-weight=\"bold\">%.0f%%</text>",
                bx + acc + w / 2, by + 16, 100 * share);
        acc += w;
    }
    sb_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#888\"/>\n", bx,
              by, bwid, bh);
    /* legend with counts */
    for (int f = 0; f < TEQ_N_FAMILIES; f++) {
        double lx = bx + f * 170;
        sb_printf(
            &b,
            "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"/><text x=\"%.1f\" y=\"%.1f\">%s: %d of %d</text>\n",
            lx + 6, by + bh + 22, family_color[f], lx + 16, by + bh + 26, teq_family_name((teq_family)f), wins[f], n);
    }
    /* KS axis on top of the rows */
    char num[32];
    double ay = top - 14;
    sb_printf(&b,
              "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">Kolmogorov-Smirnov statistic (lower fits better; "
              "ringed: best)</text>\n",
              (x0 + x1) / 2, ay - 22);
    for (int i = 0;; i++) {
        double v = i * kstep;
        if (v > kmax * (1 + 1e-9)) break;
        double px = x0 + (x1 - x0) * v / kmax;
        fmt_num(num, sizeof num, v);
        sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", px, ay, px,
                  top + row * n);
        sb_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#555\">%s</text>\n", px, ay - 4, num);
    }
    sb_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#555\">best</text>\n", x1 + 14, ay - 4);
    for (int i = 0; i < n; i++) {
        double yy = top + row * i;
        if (i % 2 == 0)
            sb_printf(&b, "<rect x=\"4\" y=\"%.1f\" width=\"%.0f\" height=\"%.0f\" fill=\"#f4f6f8\"/>", yy, W - 8, row);
        sb_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">", namew + 6, yy + 12.5);
        sb_text(&b, names && names[i] ? names[i] : "", 44);
        sb_printf(&b, "</text>");
        const teq_dist_fit *ft = &fits[i];
        for (int f = 0; f < TEQ_N_FAMILIES; f++) {
            if (f == (int)ft->best || !isfinite(ft->ks[f])) continue;
            sb_printf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\" fill-opacity=\"0.85\"/>",
                      x0 + (x1 - x0) * ft->ks[f] / kmax, yy + row / 2, family_color[f]);
        }
        if ((int)ft->best >= 0 && ft->best < TEQ_N_FAMILIES && isfinite(ft->ks[ft->best])) {
            sb_printf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\" stroke=\"#111\" stroke-width=\"1.5\"/>",
                      x0 + (x1 - x0) * ft->ks[ft->best] / kmax, yy + row / 2, family_color[ft->best]);
            sb_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"%s\">%s %.3f</text>", x1 + 14, yy + 12.5,
                      family_color[ft->best], teq_family_name(ft->best), ft->ks[ft->best]);
        }
        sb_printf(&b, "\n");
    }
    sb_printf(&b, "</g>\n</svg>\n");
    return sb_write(&b, path, err);
}

/* ---------------------------------------------------------------- trade-off curves (Pareto report) */

teq_status teq_plot_tradeoff_svg(const char *path, const char *title, const char *xlabel, const char *ylabel, int n_series,
                                 const teq_plot_series *series, double point_x, double point_y, const char *point_name,
                                 double line_y, const char *line_name, double mark_x, double mark_y, const char *mark_name,
                                 teq_error *err) {
    if (!path || n_series < 0 || (n_series > 0 && !series)) return teq_error_set(err, TEQ_ERR_ARG, "trade-off plot: bad arguments");
    double xl = INFINITY, xh = -INFINITY, yl = INFINITY, yh = -INFINITY;
#define SPAN(x, y)                                                                                                     \
    do {                                                                                                               \
        if (isfinite(x) && isfinite(y)) xl = fmin(xl, x), xh = fmax(xh, x), yl = fmin(yl, y), yh = fmax(yh, y);        \
    } while (0)
    for (int k = 0; k < n_series; k++)
        for (int i = 0; i < series[k].n; i++) SPAN(series[k].x[i], series[k].y[i]);
    SPAN(point_x, point_y);
    SPAN(mark_x, mark_y);
    if (isfinite(line_y)) yl = fmin(yl, line_y), yh = fmax(yh, line_y);
#undef SPAN
    if (!isfinite(xl)) xl = 0, xh = 1, yl = 0, yh = 1;
    /* the top 10 points below the reference line are where choices are made: lower values (3-bit
     * configurations far off) sit on the bottom edge instead of squashing that range */
    if (isfinite(line_y) && yl < line_y - 10) yl = line_y - 10;
    double xs = nice_step(xh - xl > 0 ? xh - xl : 1, 8), ys = nice_step(yh - yl > 0 ? yh - yl : 1, 6);
    xl = floor(xl / xs) * xs, xh = ceil(xh / xs) * xs;
    yl = floor(yl / ys) * ys, yh = ceil(yh / ys) * ys;
    if (xh <= xl) xh = xl + xs;
    if (yh <= yl) yh = yl + ys;
    const double W = 760, H = 500, x0 = 80, x1 = 560, y0 = 50, y1 = 430;
#define PX(x) (x0 + (x1 - x0) * ((x) - xl) / (xh - xl))
#define PY(y) (y1 - (y1 - y0) * (fmax((y), yl) - yl) / (yh - yl))
    sbuf b = {0};
    char num[32];
    svg_open_titled(&b, W, H, title, 15, 90);
    for (int i = 0;; i++) {
        double v = xl + i * xs;
        if (v > xh + 1e-9 * xs) break;
        fmt_num(num, sizeof num, v);
        sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>", PX(v), y1, PX(v), y1 + 5);
        sb_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", PX(v), y1 + 19, num);
    }
    for (int i = 0;; i++) {
        double v = yl + i * ys;
        if (v > yh + 1e-9 * ys) break;
        fmt_num(num, sizeof num, v);
        if (i) sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/>", x0, PY(v), x1, PY(v));
        sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>", x0 - 5, PY(v), x0, PY(v));
        sb_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", x0 - 8, PY(v) + 4, num);
    }
    sb_printf(&b, "<path d=\"M%.1f %.1fV%.1fH%.1f\" fill=\"none\" stroke=\"#333\"/>\n", x0, y0, y1, x1);
    sb_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", (x0 + x1) / 2, y1 + 40);
    sb_text(&b, xlabel, 80);
    sb_printf(&b, "</text>\n<text transform=\"translate(%.1f %.1f) rotate(-90)\" text-anchor=\"middle\">", x0 - 55, (y0 + y1) / 2);
    sb_text(&b, ylabel, 60);
    sb_printf(&b, "</text>\n");
    double ly = y0 + 10; /* legend rows */
    if (isfinite(line_y)) {
        sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" stroke-dasharray=\"6 4\"/>\n", x0,
                  PY(line_y), x1, PY(line_y));
        sb_printf(&b, "<line x1=\"575\" y1=\"%.1f\" x2=\"600\" y2=\"%.1f\" stroke=\"#555\" stroke-dasharray=\"6 4\"/>", ly, ly);
        sb_printf(&b, "<text x=\"606\" y=\"%.1f\">", ly + 4);
        sb_text(&b, line_name, 24);
        sb_printf(&b, "</text>\n");
        ly += 20;
    }
    for (int k = 0; k < n_series; k++) {
        const teq_plot_series *sr = &series[k];
        sb_printf(&b, "<path d=\"");
        int first = 1;
        for (int i = 0; i < sr->n; i++) {
            if (!isfinite(sr->x[i]) || !isfinite(sr->y[i])) continue;
            sb_printf(&b, "%s%.1f %.1f", first ? "M" : "L", PX(sr->x[i]), PY(sr->y[i]));
            first = 0;
        }
        sb_printf(&b, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n", sr->color);
        for (int i = 0; i < sr->n; i++)
            if (isfinite(sr->x[i]) && isfinite(sr->y[i]))
                sb_printf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>", PX(sr->x[i]), PY(sr->y[i]), sr->color);
        sb_printf(&b, "\n<line x1=\"575\" y1=\"%.1f\" x2=\"600\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>", ly, ly, sr->color);
        sb_printf(&b, "<text x=\"606\" y=\"%.1f\">", ly + 4);
        sb_text(&b, sr->name, 24);
        sb_printf(&b, "</text>\n");
        ly += 20;
    }
    if (isfinite(point_x) && isfinite(point_y)) {
        sb_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"9\" height=\"9\" fill=\"#7f7f7f\"/>", PX(point_x) - 4.5, PY(point_y) - 4.5);
        sb_printf(&b, "<rect x=\"583\" y=\"%.1f\" width=\"9\" height=\"9\" fill=\"#7f7f7f\"/><text x=\"606\" y=\"%.1f\">", ly - 4.5,
                  ly + 4);
        sb_text(&b, point_name, 24);
        sb_printf(&b, "</text>\n");
        ly += 20;
    }
    if (isfinite(mark_x) && isfinite(mark_y)) {
        sb_printf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"7\" fill=\"none\" stroke=\"#000\" stroke-width=\"2\"/>", PX(mark_x),
                  PY(mark_y));
        sb_printf(&b, "<circle cx=\"587\" cy=\"%.1f\" r=\"7\" fill=\"none\" stroke=\"#000\" stroke-width=\"2\"/><text x=\"606\" y=\"%.1f\">",
                  ly, ly + 4);
        sb_text(&b, mark_name, 24);
        sb_printf(&b, "</text>\n");
    }
#undef PX
#undef PY
    sb_printf(&b, "</g>\n</svg>\n");
    return sb_write(&b, path, err);
}
