/* Loading data sets: a folder written by `teq dataset`, one .npy holding a batch, or a folder of .npy
 * samples. */
#define _POSIX_C_SOURCE 200809L
#include "eval.h"
#include "../core/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void teq_dataset_free(teq_dataset *d) {
    if (!d) return;
    teq_tensor_free(d->inputs);
    if (d->labels)
        for (int64_t i = 0; i < d->n; i++) free(d->labels[i]);
    free(d->labels);
    free(d);
}

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Convert a float64 tensor to float32 in place; refuse other types. */
static teq_status to_float(const char *path, teq_tensor *t, teq_error *err) {
    if (t->dtype == TEQ_DTYPE_FLOAT) return TEQ_OK;
    if (t->dtype != TEQ_DTYPE_DOUBLE)
        return teq_error_set(err, TEQ_ERR_UNSUPPORTED, "%s: inputs must be float32 or float64, not %s", path,
                             teq_dtype_name(t->dtype));
    int64_t n = teq_tensor_numel(t);
    const double *src = t->data;
    float *dst = t->data; /* float32 fits in the first half of the float64 buffer, front to back */
    for (int64_t i = 0; i < n; i++) dst[i] = (float)src[i];
    t->dtype = TEQ_DTYPE_FLOAT;
    return TEQ_OK;
}

/* labels.txt: N lines, UTF-8; a final newline does not make an extra line; "\r\n" ends are accepted. */
static teq_status load_labels(const char *path, int64_t n, char ***out, teq_error *err) {
    *out = NULL;
    unsigned char *buf;
    size_t len;
    teq_status s = teq_file_read_all(path, (size_t)1 << 30, &buf, &len, err);
    if (s) return s;
    char **labels = calloc((size_t)(n > 0 ? n : 1), sizeof *labels);
    if (!labels) {
        free(buf);
        return teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
    }
    int64_t k = 0;
    size_t start = 0;
    while (start < len) {
        size_t e = start;
        while (e < len && buf[e] != '\n') e++;
        if (k < n) {
            size_t l = e - start;
            if (l > 0 && buf[start + l - 1] == '\r') l--;
            labels[k] = malloc(l + 1);
            if (!labels[k]) {
                s = teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            memcpy(labels[k], buf + start, l);
            labels[k][l] = 0;
            uint32_t *cps;
            size_t ncp, bad;
            if (teq_utf8_decode(labels[k], l, &cps, &ncp, &bad) != TEQ_OK) {
                s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: line %lld is not UTF-8", path, (long long)k + 1);
                k++;
                break;
            }
            free(cps);
        }
        k++;
        start = e + 1;
    }
    free(buf);
    if (!s && k != n)
        s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: %lld lines, but inputs.npy holds %lld samples", path, (long long)k,
                          (long long)n);
    if (s) {
        for (int64_t i = 0; i < n; i++) free(labels[i]);
        free(labels);
        return s;
    }
    *out = labels;
    return TEQ_OK;
}

/* The "kind" string of dataset.json; the rest of the file is for people and other tools. */
static void read_kind(const char *path, char *kind, size_t n) {
    kind[0] = 0;
    unsigned char *buf;
    size_t len;
    if (teq_file_read_all(path, (size_t)1 << 20, &buf, &len, NULL) != TEQ_OK) return;
    char *txt = malloc(len + 1);
    if (txt) {
        memcpy(txt, buf, len);
        txt[len] = 0;
        char *p = strstr(txt, "\"kind\"");
        if (p) {
            p += 6;
            while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
            if (*p == ':') {
                p++;
                while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
                if (*p == '"') {
                    p++;
                    size_t i = 0;
                    while (p[i] && p[i] != '"' && i + 1 < n) {
                        kind[i] = p[i];
                        i++;
                    }
                    kind[i] = 0;
                }
            }
        }
        free(txt);
    }
    free(buf);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A folder of .npy files, one sample each. */
static teq_status load_npy_folder(const char *dir, teq_tensor **out, teq_error *err) {
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) return teq_error_set(err, TEQ_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    teq_status s = TEQ_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || !ends_with(de->d_name, ".npy")) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                s = teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", dir);
                break;
            }
            names = nn;
        }
        if (!(names[n] = teq_strdup(de->d_name))) {
            s = teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        n++;
    }
    closedir(d);
    if (!s && n == 0) s = teq_error_set(err, TEQ_ERR_ARG, "%s: no inputs.npy and no .npy files in the folder", dir);
    if (!s) qsort(names, n, sizeof *names, cmp_str);
    teq_tensor *all = NULL;
    int64_t per = 0;
    teq_tensor first = {0}; /* shape of one sample, batch axis dropped */
    for (size_t i = 0; !s && i < n; i++) {
        char *p = join(dir, names[i]);
        teq_tensor *t = NULL;
        if (!p) s = teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", dir);
        if (!s) s = teq_npy_read(p, &t, err);
        if (!s) s = to_float(p, t, err);
        if (!s) {
            int nd = t->ndim;
            const int64_t *dims = t->dims;
            if (nd >= 1 && dims[0] == 1) nd--, dims++;
            if (i == 0) {
                first.ndim = nd;
                memcpy(first.dims, dims, (size_t)nd * sizeof *dims);
                per = teq_tensor_numel(t);
                if (nd + 1 > TEQ_MAX_DIMS) {
                    s = teq_error_set(err, TEQ_ERR_SHAPE, "%s: too many dimensions", p);
                } else {
                    int64_t ad[TEQ_MAX_DIMS];
                    ad[0] = (int64_t)n;
                    memcpy(ad + 1, dims, (size_t)nd * sizeof *dims);
                    s = teq_tensor_create(TEQ_DTYPE_FLOAT, nd + 1, ad, &all, err);
                }
            } else if (nd != first.ndim || memcmp(dims, first.dims, (size_t)nd * sizeof *dims) != 0) {
                char a[96], b[96];
                s = teq_error_set(err, TEQ_ERR_SHAPE, "%s: shape %s differs from %s of %s", p,
                                  teq_shape_str(nd, dims, a, sizeof a), teq_shape_str(first.ndim, first.dims, b, sizeof b),
                                  names[0]);
            }
            if (!s) memcpy((float *)all->data + (int64_t)i * per, t->data, (size_t)per * sizeof(float));
        }
        teq_tensor_free(t);
        free(p);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    if (s) {
        teq_tensor_free(all);
        return s;
    }
    *out = all;
    return TEQ_OK;
}

teq_status teq_dataset_load(const char *path, teq_dataset **out, teq_error *err) {
    *out = NULL;
    teq_error_clear(err);
    if (!path || !*path) return teq_error_set(err, TEQ_ERR_ARG, "data set: no path given");
    if (!exists(path)) return teq_error_set(err, TEQ_ERR_IO, "%s: no such file or folder", path);
    teq_dataset *d = calloc(1, sizeof *d);
    if (!d) return teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
    teq_status s = TEQ_OK;
    if (is_dir(path)) {
        char *inp = join(path, "inputs.npy");
        if (!inp) {
            s = teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
        } else if (exists(inp)) {
            s = teq_npy_read(inp, &d->inputs, err);
            if (!s) s = to_float(inp, d->inputs, err);
            if (!s && d->inputs->ndim < 1) s = teq_error_set(err, TEQ_ERR_SHAPE, "%s: a scalar, not a batch", inp);
            if (!s) d->n = d->inputs->dims[0];
            char *lab = join(path, "labels.txt"), *js = join(path, "dataset.json");
            if (!lab || !js) s = s ? s : teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
            if (!s && exists(lab)) s = load_labels(lab, d->n, &d->labels, err);
            if (!s && exists(js)) read_kind(js, d->kind, sizeof d->kind);
            free(lab);
            free(js);
        } else {
            s = load_npy_folder(path, &d->inputs, err);
            if (!s) d->n = d->inputs->dims[0];
        }
        free(inp);
    } else {
        s = teq_npy_read(path, &d->inputs, err);
        if (!s) s = to_float(path, d->inputs, err);
        if (!s && d->inputs->ndim < 1) s = teq_error_set(err, TEQ_ERR_SHAPE, "%s: a scalar, not a batch", path);
        if (!s) d->n = d->inputs->dims[0];
    }
    if (!s && d->n == 0) s = teq_error_set(err, TEQ_ERR_ARG, "%s: the data set holds no samples", path);
    if (s) {
        teq_dataset_free(d);
        return s;
    }
    *out = d;
    return TEQ_OK;
}
