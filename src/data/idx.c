/* IDX files (the format of MNIST and Fashion-MNIST) into a data set folder.
 *
 * An IDX file is a 4-byte magic {0, 0, type, ndim}, then ndim dimensions as big-endian uint32, then the
 * data in C order. Images are type 0x08 (unsigned byte) with 3 dimensions [N, rows, cols]; labels are
 * type 0x08 with one dimension [N]. The files usually come gzip-compressed; zlib's gzread reads both a
 * .gz and a plain file, so either is accepted.
 *
 * Everything is read and checked before the first output file is written, so a refusal leaves the
 * output folder as it was. */
#define _POSIX_C_SOURCE 200809L
#include "data.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* 60k Fashion-MNIST training images are 47 MB; a file claiming more than this is refused rather than
 * read (a header is four bytes away from asking for terabytes). */
#define IDX_MAX_BYTES ((size_t)1 << 31)
/* A side longer than this is not an image for these models; it also keeps rows*cols*4 far from overflow. */
#define IDX_MAX_SIDE 4096

typedef struct idx_file {
    unsigned char *buf; /* the whole decompressed file */
    size_t len;
    int ndim;
    uint32_t dims[3];
    const unsigned char *data; /* after the header */
} idx_file;

static void idx_free(idx_file *f) {
    free(f->buf);
    memset(f, 0, sizeof *f);
}

static const char *gz_msg(const char *path, const char *msg);

/* The whole (decompressed) file. A gzip stream that ends early or is corrupt is an error here, not a
 * short file further on: zlib reports it through gzerror at the end. */
static teq_status read_gz(const char *path, unsigned char **out, size_t *out_len, teq_error *err) {
    *out = NULL;
    *out_len = 0;
    errno = 0;
    gzFile g = gzopen(path, "rb");
    if (!g)
        return teq_error_set(err, errno ? TEQ_ERR_IO : TEQ_ERR_NOMEM, "%s: cannot open: %s", path,
                             errno ? strerror(errno) : "out of memory");
    size_t cap = (size_t)1 << 20, len = 0;
    unsigned char *buf = malloc(cap);
    teq_status s = buf ? TEQ_OK : teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
    while (!s) {
        if (len == cap) {
            if (cap >= IDX_MAX_BYTES) {
                s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: more than %zu bytes once decompressed; not an IDX file teq reads",
                                  path, IDX_MAX_BYTES);
                break;
            }
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) {
                s = teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t want = cap - len;
        if (want > (1u << 30)) want = 1u << 30; /* gzread takes an unsigned count */
        int got = gzread(g, buf + len, (unsigned)want);
        if (got < 0) {
            int zerr;
            const char *msg = gzerror(g, &zerr);
            s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: corrupt gzip data (%s)",
                              path, zerr == Z_ERRNO ? strerror(errno) : gz_msg(path, msg));
            break;
        }
        if (got == 0) break;
        len += (size_t)got;
    }
    if (!s) {
        /* a truncated gzip stream reads as a clean end of file, with the error left in gzerror */
        int zerr;
        const char *msg = gzerror(g, &zerr);
        if (zerr != Z_OK && zerr != Z_STREAM_END)
            s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: corrupt or truncated gzip data (%s)", path, gz_msg(path, msg));
    }
    gzclose(g);
    if (s) {
        free(buf);
        return s;
    }
    *out = buf;
    *out_len = len;
    return TEQ_OK;
}

/* gzerror's text begins with the path itself; the message names the file once. */
static const char *gz_msg(const char *path, const char *msg) {
    size_t n = strlen(path);
    if (msg && strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ') return msg + n + 2;
    return msg ? msg : "unknown error";
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Read and check one IDX file of unsigned bytes with `ndim` dimensions; `what` names it in messages
 * ("images", "labels"). The data must be exactly as long as the header says. */
static teq_status idx_read(const char *path, const char *what, int ndim, idx_file *f, teq_error *err) {
    memset(f, 0, sizeof *f);
    teq_status s = read_gz(path, &f->buf, &f->len, err);
    if (s) return s;
    const unsigned char *b = f->buf;
    if (f->len < 4) {
        s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: %zu bytes, too short for an IDX header", path, f->len);
    } else if (b[0] != 0 || b[1] != 0) {
        s = teq_error_set(err, TEQ_ERR_FORMAT,
                          "%s: bad magic %02x %02x %02x %02x (an IDX file starts with two zero bytes)", path, b[0], b[1],
                          b[2], b[3]);
    } else if (b[2] != 0x08) {
        s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: IDX element type 0x%02x; %s must be unsigned bytes (0x08)", path,
                          b[2], what);
    } else if (b[3] != ndim) {
        s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: %d dimension(s); IDX %s have %d (%s)", path, b[3], what, ndim,
                          ndim == 3 ? "count, rows, columns" : "count");
    } else if (f->len < 4 + 4 * (size_t)ndim) {
        s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: truncated header (%zu bytes)", path, f->len);
    }
    if (s) {
        idx_free(f);
        return s;
    }
    f->ndim = ndim;
    uint64_t need = 1;
    for (int d = 0; d < ndim; d++) {
        f->dims[d] = be32(b + 4 + 4 * d);
        need *= f->dims[d]; /* at most 3 factors below 2^32 after the checks below: no overflow until checked */
        if (d > 0 && (f->dims[d] == 0 || f->dims[d] > IDX_MAX_SIDE)) {
            s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: image side %u out of range 1..%d", path, f->dims[d],
                              IDX_MAX_SIDE);
            break;
        }
    }
    if (!s && f->dims[0] == 0) s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: the header says 0 %s", path, what);
    size_t hdr = 4 + 4 * (size_t)ndim, have = f->len - hdr;
    if (!s && need != have) {
        if (ndim == 3)
            s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: header says %u images of %ux%u (%llu bytes) but %zu bytes follow (%s)",
                              path, f->dims[0], f->dims[1], f->dims[2], (unsigned long long)need, have,
                              need > have ? "truncated" : "trailing data");
        else
            s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: header says %u labels but %zu bytes follow (%s)", path,
                              f->dims[0], have, need > have ? "truncated" : "trailing data");
    }
    if (s) {
        idx_free(f);
        return s;
    }
    f->data = b + hdr;
    return TEQ_OK;
}

teq_status teq_dataset_idx(const teq_idx_opts *o, teq_error *err) {
    teq_error_clear(err);
    if (!o || !o->images_path || !*o->images_path)
        return teq_error_set(err, TEQ_ERR_ARG, "dataset idx: no images file given (--images FILE)");
    if (!o->out_dir || !*o->out_dir) return teq_error_set(err, TEQ_ERR_ARG, "dataset idx: no output folder given (-o DIR)");
    if (!isfinite(o->mean) || !isfinite(o->std) || !(o->std > 0))
        return teq_error_set(err, TEQ_ERR_ARG, "dataset idx: --mean must be finite and --std a positive number");
    if (o->n < 0 || o->offset < 0) return teq_error_set(err, TEQ_ERR_ARG, "dataset idx: -n and --offset cannot be negative");
    idx_file im, lb;
    memset(&lb, 0, sizeof lb);
    teq_status s = idx_read(o->images_path, "images", 3, &im, err);
    if (s) return s;
    if (o->labels_path && (s = idx_read(o->labels_path, "labels", 1, &lb, err))) {
        idx_free(&im);
        return s;
    }
    int64_t total = im.dims[0];
    if (o->labels_path && lb.dims[0] != im.dims[0])
        s = teq_error_set(err, TEQ_ERR_FORMAT, "%s: %u labels, but %s holds %u images", o->labels_path, lb.dims[0],
                          o->images_path, im.dims[0]);
    else if (o->offset >= total)
        s = teq_error_set(err, TEQ_ERR_ARG, "%s: --offset %lld is past the last of its %lld images", o->images_path,
                          (long long)o->offset, (long long)total);
    else if (o->n > total - o->offset)
        s = teq_error_set(err, TEQ_ERR_ARG, "%s: -n %lld from --offset %lld needs %lld images; it holds %lld",
                          o->images_path, (long long)o->n, (long long)o->offset, (long long)(o->offset + o->n),
                          (long long)total);
    int64_t n = o->n ? o->n : total - o->offset;
    int rows = (int)im.dims[1], cols = (int)im.dims[2];
    teq_tensor *inputs = NULL;
    char **labels = NULL;
    teq_image preview[TEQ_PREVIEW_MAX];
    int n_prev = 0;
    if (!s) {
        int64_t dims[4] = {n, 1, rows, cols};
        s = teq_tensor_create(TEQ_DTYPE_FLOAT, 4, dims, &inputs, err);
    }
    if (!s) {
        /* one table for the 256 pixel values: the same float for the same byte, whatever the order */
        float lut[256];
        for (int v = 0; v < 256; v++) lut[v] = (float)(((double)v / 255.0 - o->mean) / o->std);
        size_t per = (size_t)rows * (size_t)cols;
        const unsigned char *src = im.data + (size_t)o->offset * per;
        float *dst = inputs->data;
        for (size_t k = 0; k < (size_t)n * per; k++) dst[k] = lut[src[k]];
    }
    if (!s && o->labels_path) {
        labels = calloc((size_t)n, sizeof *labels);
        if (!labels) s = teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", o->labels_path);
        for (int64_t i = 0; !s && i < n; i++) {
            char t[4];
            snprintf(t, sizeof t, "%u", (unsigned)lb.data[o->offset + i]);
            if (!(labels[i] = teq_strdup(t))) s = teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", o->labels_path);
        }
    }
    /* The preview: the first images, twice their size so that 28x28 stays legible, the IDX way round
     * (0 = background). */
    static const uint8_t black[3] = {0, 0, 0};
    int zoom = rows <= 64 && cols <= 64 ? 2 : 1;
    for (int i = 0; !s && i < n && n_prev < TEQ_PREVIEW_MAX; i++) {
        teq_image *p = &preview[n_prev];
        s = teq_image_init(p, cols * zoom, rows * zoom, black, err);
        if (s) break;
        n_prev++;
        const unsigned char *src = im.data + (size_t)(o->offset + i) * (size_t)rows * (size_t)cols;
        for (int y = 0; y < rows * zoom; y++)
            for (int x = 0; x < cols * zoom; x++) memset(p->px + ((size_t)y * (size_t)(cols * zoom) + (size_t)x) * 3,
                                                         src[(y / zoom) * cols + x / zoom], 3);
    }
    if (!s) {
        teq_sbuf js = {0};
        teq_sbuf_printf(&js, "\"layout\": \"NCHW\",\n  \"normalisation\": \"(x/255 - %.6g) / %.6g, one channel\",\n"
                             "  \"mean\": %.6g,\n  \"std\": %.6g,\n  \"height\": %d,\n  \"width\": %d,\n  \"images\": ",
                        o->mean, o->std, o->mean, o->std, rows, cols);
        teq_sbuf_json_string(&js, o->images_path);
        teq_sbuf_printf(&js, ",\n  \"labels_file\": ");
        if (o->labels_path)
            teq_sbuf_json_string(&js, o->labels_path);
        else
            teq_sbuf_printf(&js, "null");
        teq_sbuf_printf(&js, ",\n  \"offset\": %lld,\n  \"of\": %lld", (long long)o->offset, (long long)total);
        teq_ds_writer w = {o->out_dir, "idx", inputs, labels, preview, n_prev, js.p};
        s = js.failed ? teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", o->out_dir) : teq_dataset_write(&w, err);
        teq_sbuf_free(&js);
    }
    for (int i = 0; i < n_prev; i++) teq_image_release(&preview[i]);
    if (labels)
        for (int64_t i = 0; i < n; i++) free(labels[i]);
    free(labels);
    teq_tensor_free(inputs);
    idx_free(&im);
    idx_free(&lb);
    return s;
}
