/* Text utilities for evaluation: UTF-8, edit distance, PP-OCR key lists, greedy CTC, string buffers. */
#include "eval.h"
#include "../core/fileio.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

teq_status teq_utf8_decode(const char *s, size_t len, uint32_t **cps, size_t *n_cps, size_t *bad_at) {
    *cps = NULL;
    *n_cps = 0;
    uint32_t *o = malloc((len + 1) * sizeof *o);
    if (!o) return TEQ_ERR_NOMEM;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, n = 0;
    while (i < len) {
        unsigned c = u[i];
        uint32_t cp;
        int extra;
        uint32_t min;
        if (c < 0x80) {
            cp = c, extra = 0, min = 0;
        } else if ((c & 0xE0) == 0xC0) {
            cp = c & 0x1F, extra = 1, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            cp = c & 0x0F, extra = 2, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            cp = c & 0x07, extra = 3, min = 0x10000;
        } else {
            goto bad;
        }
        for (int k = 1; k <= extra; k++) {
            if (i + k >= len || (u[i + k] & 0xC0) != 0x80) goto bad;
            cp = cp << 6 | (u[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) goto bad;
        o[n++] = cp;
        i += (size_t)extra + 1;
    }
    o[n] = 0;
    *cps = o;
    *n_cps = n;
    return TEQ_OK;
bad:
    free(o);
    if (bad_at) *bad_at = i;
    return TEQ_ERR_FORMAT;
}

int teq_utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp <= 0x10FFFF) {
        out[0] = (char)(0xF0 | cp >> 18);
        out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        return 4;
    }
    return 0;
}

/* Two-row dynamic programme, O(na*nb) time, O(nb) memory. Returns -1 when memory runs out. */
int64_t teq_levenshtein(const uint32_t *a, size_t na, const uint32_t *b, size_t nb) {
    if (na == 0) return (int64_t)nb;
    if (nb == 0) return (int64_t)na;
    int64_t *prev = malloc((nb + 1) * 2 * sizeof *prev);
    if (!prev) return -1;
    int64_t *cur = prev + nb + 1;
    for (size_t j = 0; j <= nb; j++) prev[j] = (int64_t)j;
    for (size_t i = 1; i <= na; i++) {
        cur[0] = (int64_t)i;
        for (size_t j = 1; j <= nb; j++) {
            int64_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int64_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            int64_t m = sub < del ? sub : del;
            cur[j] = m < ins ? m : ins;
        }
        int64_t *t = prev;
        prev = cur;
        cur = t;
    }
    int64_t d = prev[nb];
    free(prev < cur ? prev : cur);
    return d;
}

int64_t teq_levenshtein_utf8(const char *a, const char *b) {
    uint32_t *ca = NULL, *cb = NULL;
    size_t na, nb;
    int64_t d = -1;
    if (teq_utf8_decode(a, strlen(a), &ca, &na, NULL) == TEQ_OK && teq_utf8_decode(b, strlen(b), &cb, &nb, NULL) == TEQ_OK)
        d = teq_levenshtein(ca, na, cb, nb);
    free(ca);
    free(cb);
    return d;
}

/* ---- key lists ---- */

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

void teq_keys_free(teq_keys *k) {
    if (!k) return;
    for (int64_t i = 0; i < k->n; i++) free(k->entries[i]);
    free(k->entries);
    free(k->single);
    free(k);
}

/* Lines as PP-OCR reads them (Python readlines, then strip of "\n" and "\r\n"): a final newline does
 * not start another entry; an empty line in the middle is an entry of its own. */
teq_status teq_keys_load(const char *path, teq_keys **out, teq_error *err) {
    *out = NULL;
    unsigned char *buf;
    size_t len;
    teq_status s = teq_file_read_all(path, (size_t)64 << 20, &buf, &len, err);
    if (s) return s;
    uint32_t *cps = NULL;
    size_t ncp, bad;
    if (teq_utf8_decode((const char *)buf, len, &cps, &ncp, &bad) != TEQ_OK) {
        free(buf);
        return teq_error_set(err, TEQ_ERR_FORMAT, "%s: key list is not UTF-8 (byte %zu)", path, bad);
    }
    free(cps);
    int64_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    if (len > 0 && buf[len - 1] != '\n') lines++;
    teq_keys *k = calloc(1, sizeof *k);
    if (k) k->entries = calloc((size_t)lines + 1, sizeof *k->entries);
    if (k) k->single = malloc(((size_t)lines + 1) * sizeof *k->single);
    if (!k || !k->entries || !k->single) {
        free(buf);
        teq_keys_free(k);
        return teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t start = 0;
    while (start < len) {
        size_t e = start;
        while (e < len && buf[e] != '\n') e++;
        size_t l = e - start;
        if (l > 0 && buf[start + l - 1] == '\r') l--;
        char *entry = malloc(l + 1);
        if (!entry) {
            free(buf);
            teq_keys_free(k);
            return teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
        }
        memcpy(entry, buf + start, l);
        entry[l] = 0;
        k->entries[k->n++] = entry;
        uint32_t *c1;
        size_t n1;
        if (teq_utf8_decode(entry, l, &c1, &n1, NULL) == TEQ_OK) {
            if (n1 == 1) k->single[k->n_single++] = c1[0];
            free(c1);
        }
        start = e + 1;
    }
    free(buf);
    if (k->n == 0) {
        teq_keys_free(k);
        return teq_error_set(err, TEQ_ERR_FORMAT, "%s: the key list is empty", path);
    }
    qsort(k->single, (size_t)k->n_single, sizeof *k->single, cmp_u32);
    *out = k;
    return TEQ_OK;
}

bool teq_keys_has(const teq_keys *k, uint32_t cp) {
    if (cp == ' ') return true;
    return bsearch(&cp, k->single, (size_t)k->n_single, sizeof cp, cmp_u32) != NULL;
}

/* scores: [T,C] for one sample. Repeats collapse only when adjacent: a blank between two equal
 * classes keeps both (the CTC rule). */
teq_status teq_ctc_greedy_decode(const float *scores, int64_t T, int64_t C, const teq_keys *k, char **out,
                                 teq_error *err) {
    *out = NULL;
    if (C != k->n + 2)
        return teq_error_set(err, TEQ_ERR_SHAPE,
                             "CTC: the model has %lld classes but the key list gives %lld (+ blank + space = %lld)",
                             (long long)C, (long long)k->n, (long long)(k->n + 2));
    teq_sbuf b = {0};
    int64_t prev = -1;
    for (int64_t t = 0; t < T; t++) {
        const float *row = scores + t * C;
        int64_t best = 0;
        for (int64_t c = 1; c < C; c++)
            if (row[c] > row[best]) best = c;
        if (best != 0 && best != prev) {
            if (best == k->n + 1)
                teq_sbuf_append(&b, " ", 1);
            else
                teq_sbuf_append(&b, k->entries[best - 1], strlen(k->entries[best - 1]));
        }
        prev = best;
    }
    teq_sbuf_append(&b, "", 0);
    if (b.failed || !b.p) {
        teq_sbuf_free(&b);
        return teq_error_set(err, TEQ_ERR_NOMEM, "CTC: out of memory");
    }
    *out = b.p;
    return TEQ_OK;
}

/* ---- string buffer ---- */

static bool sbuf_reserve(teq_sbuf *b, size_t extra) {
    if (b->failed) return false;
    if (b->len + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void teq_sbuf_append(teq_sbuf *b, const char *s, size_t n) {
    if (!sbuf_reserve(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void teq_sbuf_printf(teq_sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !sbuf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void teq_sbuf_json_string(teq_sbuf *b, const char *s) {
    teq_sbuf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            teq_sbuf_append(b, e, 2);
        } else if (*p < 0x20) {
            teq_sbuf_printf(b, "\\u%04x", *p);
        } else {
            teq_sbuf_append(b, (const char *)p, 1);
        }
    }
    teq_sbuf_append(b, "\"", 1);
}

void teq_sbuf_json_number(teq_sbuf *b, double v) {
    if (!isfinite(v))
        teq_sbuf_append(b, "null", 4);
    else
        teq_sbuf_printf(b, "%.10g", v);
}

void teq_sbuf_free(teq_sbuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}
