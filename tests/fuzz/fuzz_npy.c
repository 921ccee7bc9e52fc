/* Fuzz target: the .npy reader (teq_npy_read takes a path, so each input is put in a memfd and read
 * through /proc/self/fd). An array that reads is written with teq_npy_write and read again: it must
 * come back with the same type, shape and bytes. */
#define _GNU_SOURCE
#include "fuzz.h"

#include <sys/mman.h>
#include <unistd.h>

static int in_fd = -1;
static char in_path[64], out_path[4096];

static void setup(void) {
    in_fd = memfd_create("teq-fuzz-npy", 0);
    if (in_fd < 0) abort();
    snprintf(in_path, sizeof in_path, "/proc/self/fd/%d", in_fd);
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    char dir[4000];
    snprintf(dir, sizeof dir, "%s/teq-fuzz-npy.XXXXXX", base);
    if (!mkdtemp(dir)) abort();
    snprintf(out_path, sizeof out_path, "%s/back.npy", dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (in_fd < 0) setup();
    if (ftruncate(in_fd, 0) != 0 || (size && pwrite(in_fd, data, size, 0) != (ssize_t)size)) abort();
    teq_tensor *t = NULL;
    teq_error e;
    teq_status s = teq_npy_read(in_path, &t, &e);
    fuzz_check_result(s, t != NULL, &e, in_path);
    if (s) return 0;
    s = teq_npy_write(out_path, t, &e);
    if (s) fuzz_fail("an array read from a .npy file cannot be written back", &e);
    teq_tensor *u = NULL;
    s = teq_npy_read(out_path, &u, &e);
    if (s) fuzz_fail("a .npy file written from a read array does not read back", &e);
    size_t nb = (size_t)teq_tensor_numel(t) * teq_dtype_size(t->dtype);
    if (u->dtype != t->dtype || u->ndim != t->ndim || memcmp(u->dims, t->dims, sizeof t->dims[0] * (size_t)t->ndim) ||
        (nb && memcmp(u->data, t->data, nb)))
        fuzz_fail("a .npy round trip changed the array", &e);
    teq_tensor_free(u);
    teq_tensor_free(t);
    unlink(out_path);
    return 0;
}
