/* NumPy .npy reader and writer.
 * Layout: "\x93NUMPY", major, minor, header length (u16 LE for 1.0, u32 LE for 2.0/3.0), an ASCII
 * Python dict {'descr': '<f4', 'fortran_order': False, 'shape': (d0, d1, ), } padded with spaces and
 * ended by '\n' so that the data starts at a multiple of 64 bytes, then the raw array in C order. */
#include "core.h"
#include "fileio.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *descr;
    teq_dtype dtype;
} npy_types[] = {
    {"<f4", TEQ_DTYPE_FLOAT}, {"<f8", TEQ_DTYPE_DOUBLE}, {"<i8", TEQ_DTYPE_INT64}, {"<i4", TEQ_DTYPE_INT32},
    {"|u1", TEQ_DTYPE_UINT8}, {"|i1", TEQ_DTYPE_INT8},   {"|b1", TEQ_DTYPE_BOOL},
};

/* Find 'key': in the header dict and return a pointer just past the colon, or NULL. */
static const char *dict_find(const char *h, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(h, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

teq_status teq_npy_read(const char *path, teq_tensor **out, teq_error *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return teq_error_set(err, TEQ_ERR_IO, "%s: cannot open for reading", path);
    teq_status s = TEQ_OK;
    char *hdr = NULL;
    teq_tensor *t = NULL;
    unsigned char pre[12];
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
        goto done;
    }
    size_t hlen;
    if (pre[6] == 1) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: truncated .npy header", path);
            goto done;
        }
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    } else {
        s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: unsupported .npy version %d.%d", path, pre[6], pre[7]);
        goto done;
    }
    if (hlen > 1 << 20) {
        s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: .npy header of %zu bytes is implausible", path, hlen);
        goto done;
    }
    hdr = malloc(hlen + 1);
    if (!hdr) {
        s = teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (fread(hdr, 1, hlen, f) != hlen) {
        s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: truncated .npy header", path);
        goto done;
    }
    hdr[hlen] = 0;
    for (size_t i = 0; i < hlen; i++)
        if (hdr[i] == 0) hdr[i] = ' '; /* keep string functions inside the header */

    const char *p = dict_find(hdr, "descr");
    char descr[16] = {0};
    if (p && *p == '\'') {
        int k = 0;
        p++;
        while (*p && *p != '\'' && k < 15) descr[k++] = *p++;
    }
    teq_dtype dt = TEQ_DTYPE_UNDEFINED;
    /* '<' and '|' are interchangeable for one-byte types; '=' means native (little-endian here). */
    if (descr[0] == '=') descr[0] = '<';
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++) {
        const char *d = npy_types[i].descr;
        if (strcmp(descr + 1, d + 1) == 0 && (descr[0] == d[0] || (d[0] == '|' && descr[0] == '<')))
            dt = npy_types[i].dtype;
    }
    if (dt == TEQ_DTYPE_UNDEFINED) {
        s = teq_error_set(err, TEQ_ERR_UNSUPPORTED,
                          "%s: .npy data type '%s' is not supported (use little-endian float32, e.g. "
                          "numpy's astype('<f4'))",
                          path, descr[0] ? descr : "?");
        goto done;
    }
    p = dict_find(hdr, "fortran_order");
    if (!p || strncmp(p, "False", 5) != 0) {
        s = teq_error_set(err, TEQ_ERR_UNSUPPORTED, "%s: Fortran-ordered .npy arrays are not supported", path);
        goto done;
    }
    p = dict_find(hdr, "shape");
    if (!p || *p != '(') {
        s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: .npy header has no shape", path);
        goto done;
    }
    p++;
    int ndim = 0;
    int64_t dims[TEQ_MAX_DIMS];
    for (;;) {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        if (!isdigit((unsigned char)*p)) {
            s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: malformed shape in .npy header", path);
            goto done;
        }
        if (ndim == TEQ_MAX_DIMS) {
            s = teq_error_set(err, TEQ_ERR_UNSUPPORTED, "%s: more than %d dimensions", path, TEQ_MAX_DIMS);
            goto done;
        }
        int64_t v = 0;
        while (isdigit((unsigned char)*p)) {
            if (v > ((int64_t)1 << 50)) {
                s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: dimension too large in .npy header", path);
                goto done;
            }
            v = v * 10 + (*p++ - '0');
        }
        dims[ndim++] = v;
    }
    int64_t numel;
    size_t bytes;
    if (!teq_dims_numel(ndim, dims, &numel) || !teq_mul_size((size_t)numel, teq_dtype_size(dt), &bytes)) {
        s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: shape too large", path);
        goto done;
    }
    /* The data must be exactly there: check the file size before allocating. */
    long here = ftell(f);
    if (here < 0 || fseek(f, 0, SEEK_END) != 0) {
        s = teq_error_set(err, TEQ_ERR_IO, "%s: cannot seek", path);
        goto done;
    }
    long end = ftell(f);
    if (end < here || (size_t)(end - here) != bytes) {
        char sb[160];
        s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: %ld bytes of data for %s %s (needs %zu): file truncated or damaged",
                          path, end - here, teq_dtype_name(dt), teq_shape_str(ndim, dims, sb, sizeof sb), bytes);
        goto done;
    }
    fseek(f, here, SEEK_SET);
    s = teq_tensor_create(dt, ndim, dims, &t, err);
    if (s) goto done;
    if (bytes && fread(t->data, 1, bytes, f) != bytes) {
        s = teq_error_set(err, TEQ_ERR_IO, "%s: read failed", path);
        goto done;
    }
    if (dt == TEQ_DTYPE_BOOL) {
        unsigned char *b = t->data;
        for (size_t i = 0; i < bytes; i++) b[i] = b[i] != 0;
    }
    *out = t;
    t = NULL;
done:
    teq_tensor_free(t);
    free(hdr);
    fclose(f);
    return s;
}

teq_status teq_npy_write(const char *path, const teq_tensor *t, teq_error *err) {
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].dtype == t->dtype) descr = npy_types[i].descr;
    if (!descr) return teq_error_set(err, TEQ_ERR_UNSUPPORTED, "%s: cannot write data type %d", path, (int)t->dtype);
    char hdr[512];
    int k = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < t->ndim; i++) k += snprintf(hdr + k, sizeof hdr - (size_t)k, "%lld, ", (long long)t->dims[i]);
    if (t->ndim > 1) k -= 2; /* numpy writes (3,) for one dim and (2, 3) for more */
    else if (t->ndim == 1) k -= 1;
    k += snprintf(hdr + k, sizeof hdr - (size_t)k, "), }");
    /* Pad so that 10 + header length is a multiple of 64, ending in '\n'. */
    int total = 10 + k + 1;
    int pad = (64 - total % 64) % 64;
    memset(hdr + k, ' ', (size_t)pad);
    k += pad;
    hdr[k++] = '\n';
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(k & 0xff), (unsigned char)(k >> 8)};
    teq_file_out fo;
    teq_status s = teq_file_out_open(&fo, path, err);
    if (s) return s;
    size_t bytes = (size_t)teq_tensor_numel(t) * teq_dtype_size(t->dtype);
    s = teq_file_out_write(&fo, pre, sizeof pre, err);
    if (!s) s = teq_file_out_write(&fo, hdr, (size_t)k, err);
    if (!s) s = teq_file_out_write(&fo, t->data, bytes, err);
    if (s) {
        teq_file_out_abort(&fo);
        return s;
    }
    return teq_file_out_commit(&fo, err);
}
