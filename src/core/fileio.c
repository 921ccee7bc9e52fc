#define _POSIX_C_SOURCE 200809L
#include "fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

teq_status teq_file_out_open(teq_file_out *fo, const char *path, teq_error *err) {
    memset(fo, 0, sizeof *fo);
    size_t n = strlen(path);
    fo->path = teq_strdup(path);
    fo->tmp = malloc(n + 16);
    if (!fo->path || !fo->tmp) {
        free(fo->path), free(fo->tmp);
        return teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(fo->tmp, n + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(fo->tmp);
    if (fd < 0) {
        int e = errno;
        free(fo->path), free(fo->tmp);
        fo->path = fo->tmp = NULL;
        return teq_error_set(err, TEQ_ERR_IO, "%s: cannot create file: %s", path, strerror(e));
    }
    fchmod(fd, 0644);
    fo->f = fdopen(fd, "wb");
    if (!fo->f) {
        close(fd);
        unlink(fo->tmp);
        free(fo->path), free(fo->tmp);
        fo->path = fo->tmp = NULL;
        return teq_error_set(err, TEQ_ERR_IO, "%s: cannot open for writing", path);
    }
    return TEQ_OK;
}

teq_status teq_file_out_write(teq_file_out *fo, const void *p, size_t n, teq_error *err) {
    if (n && fwrite(p, 1, n, fo->f) != n)
        return teq_error_set(err, TEQ_ERR_IO, "%s: write failed: %s", fo->path, strerror(errno));
    return TEQ_OK;
}

void teq_file_out_abort(teq_file_out *fo) {
    if (fo->f) fclose(fo->f);
    if (fo->tmp) unlink(fo->tmp);
    free(fo->path);
    free(fo->tmp);
    memset(fo, 0, sizeof *fo);
}

teq_status teq_file_out_commit(teq_file_out *fo, teq_error *err) {
    teq_status s = TEQ_OK;
    if (fflush(fo->f) != 0 || fsync(fileno(fo->f)) != 0)
        s = teq_error_set(err, TEQ_ERR_IO, "%s: write failed: %s", fo->path, strerror(errno));
    if (fclose(fo->f) != 0 && !s) s = teq_error_set(err, TEQ_ERR_IO, "%s: write failed: %s", fo->path, strerror(errno));
    fo->f = NULL;
    if (!s && rename(fo->tmp, fo->path) != 0)
        s = teq_error_set(err, TEQ_ERR_IO, "%s: cannot rename into place: %s", fo->path, strerror(errno));
    if (s) unlink(fo->tmp);
    free(fo->path);
    free(fo->tmp);
    memset(fo, 0, sizeof *fo);
    return s;
}

teq_status teq_file_read_all(const char *path, size_t max_bytes, unsigned char **buf, size_t *len, teq_error *err) {
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return teq_error_set(err, TEQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        bool dir = S_ISDIR(st.st_mode);
        fclose(f);
        return teq_error_set(err, TEQ_ERR_IO, "%s: %s", path, dir ? "is a folder, not a file" : "not a regular file");
    }
    if ((unsigned long long)st.st_size > max_bytes) {
        fclose(f);
        return teq_error_set(err, TEQ_ERR_FORMAT, "%s: file of %lld bytes is larger than the %zu allowed", path,
                             (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *p = malloc(n ? n : 1);
    if (!p) {
        fclose(f);
        return teq_error_set(err, TEQ_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    if (n && fread(p, 1, n, f) != n) {
        free(p);
        fclose(f);
        return teq_error_set(err, TEQ_ERR_IO, "%s: read failed", path);
    }
    fclose(f);
    *buf = p;
    *len = n;
    return TEQ_OK;
}
