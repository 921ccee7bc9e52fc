/* Allocation failure: the public entry points of include/teq.h are run once counting their
 * allocations (malloc, calloc, realloc, interposed by tests/alloc_hook.h), then again with the k-th
 * allocation failing, for every k up to SWEEP_FULL and at a stride beyond it (at most SWEEP_MAX
 * runs per entry point). Each run must return (no crash), and either fail with a message or succeed
 * with the right result (for the two writers: a file byte-identical to a fault-free call's); no
 * output file may be left when it fails. Leaks are found by
 * LeakSanitizer when this program runs in the sanitizer build (make test does).
 * Entry points: teq_npy_read, teq_npy_write, teq_model_load (.onnx with folding, .teq),
 * teq_model_run, teq_quantize (fixed widths, on the small convnet of the fuzz corpus). */
#include "alloc_hook.h"
#include "check.h"
#include "teq.h"

#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define SWEEP_FULL 150
#define SWEEP_MAX 250

#ifndef TEQ_SOURCE_DIR
#define TEQ_SOURCE_DIR "."
#endif
#define CONVNET TEQ_SOURCE_DIR "/tests/fuzz/corpus/onnx/seed-convnet"
#define FOLDING TEQ_SOURCE_DIR "/tests/fuzz/corpus/onnx/seed-folding"
#define CONVNET_TEQ TEQ_SOURCE_DIR "/tests/fuzz/corpus/teq/seed-convnet-w4a5"

static char dir[64];
static char path_npy[128], path_out[128], path_teq[128];
static teq_tensor *x_in;      /* [1,2,4,4] input of the convnet */
static teq_tensor *y_ref;     /* its output, computed without faults */
static teq_model *convnet;    /* loaded without faults, for the run sweep */
/* The bytes a fault-free teq_npy_write and teq_quantize write: a call that succeeds after a failed
 * allocation must write exactly these (both writers are deterministic, the quantizer at one thread). */
static unsigned char *npy_ref, *teq_ref;
static size_t npy_ref_len, teq_ref_len;

/* One scenario: returns its status; *ok_result says whether a success produced the right result. */
typedef teq_status (*scenario)(teq_error *e, bool *ok_result);

static bool same_tensor(const teq_tensor *a, const teq_tensor *b) {
    if (a->dtype != b->dtype || a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return false;
    return memcmp(a->data, b->data, (size_t)teq_tensor_numel(a) * teq_dtype_size(a->dtype)) == 0;
}

static teq_status sc_npy_read(teq_error *e, bool *ok) {
    teq_tensor *t = NULL;
    teq_status s = teq_npy_read(path_npy, &t, e);
    *ok = s != TEQ_OK || same_tensor(t, x_in);
    teq_tensor_free(t);
    return s;
}

/* The whole file, or NULL when it cannot be read. Called with the hook off (its own allocations
 * never fail, and never count). */
static unsigned char *read_whole(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *b = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (n == cap) {
            unsigned char *nb = realloc(b, cap = cap ? cap * 2 : 4096);
            if (!nb) break;
            b = nb;
        }
        got = fread(b + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    *len = n;
    return b;
}

/* Does the file at path hold exactly ref[0..len)? */
static bool same_file(const char *path, const unsigned char *ref, size_t len) {
    int on = alloc_hook_on;
    alloc_hook_on = 0;
    size_t n = 0;
    unsigned char *b = read_whole(path, &n);
    bool same = b && ref && n == len && memcmp(b, ref, len) == 0;
    free(b);
    alloc_hook_on = on;
    return same;
}

static teq_status sc_npy_write(teq_error *e, bool *ok) {
    unlink(path_out);
    teq_status s = teq_npy_write(path_out, x_in, e);
    *ok = s != TEQ_OK || same_file(path_out, npy_ref, npy_ref_len);
    return s;
}

static teq_status load_and_check(const char *p, teq_error *e, bool *ok) {
    teq_model *m = NULL;
    teq_status s = teq_model_load(p, &m, e);
    *ok = s != TEQ_OK || (m && teq_model_num_inputs(m) == 1);
    teq_model_free(m);
    return s;
}
static teq_status sc_load_convnet(teq_error *e, bool *ok) { return load_and_check(CONVNET, e, ok); }
static teq_status sc_load_folding(teq_error *e, bool *ok) { return load_and_check(FOLDING, e, ok); }
static teq_status sc_load_teq(teq_error *e, bool *ok) { return load_and_check(CONVNET_TEQ, e, ok); }

static teq_status sc_run(teq_error *e, bool *ok) {
    teq_tensor *out[1] = {NULL};
    const teq_tensor *in[1] = {x_in};
    teq_status s = teq_model_run(convnet, 1, NULL, in, out, e);
    *ok = s != TEQ_OK || (out[0] && same_tensor(out[0], y_ref));
    teq_tensor_free(out[0]);
    return s;
}

static teq_status sc_quantize(teq_error *e, bool *ok) {
    unlink(path_teq);
    teq_quantize_opts o;
    memset(&o, 0, sizeof o);
    o.calib_path = path_npy;
    o.bits_w = 4;
    o.bits_a = 5;
    o.threads = 1;
    teq_quantize_report *r = NULL;
    teq_status s = teq_quantize(CONVNET, path_teq, &o, &r, e);
    *ok = s != TEQ_OK || same_file(path_teq, teq_ref, teq_ref_len);
    teq_quantize_report_free(r);
    return s;
}

/* Is any file besides the fixed inputs left in the folder (a temporary, or an output of a failed call)? */
static bool stray_files(const char *keep) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s | grep -v -x -e x.npy %s%s)\"", dir, keep ? "-e " : "",
             keep ? keep : "");
    return system(cmd) != 0;
}

static void sweep(const char *name, scenario sc, const char *out_file) {
    teq_error e;
    bool ok = false;
    /* warm-up without faults (libgomp and stdio allocate once, lazily), then count */
    teq_status s = sc(&e, &ok);
    CHECK(s == TEQ_OK && ok, "%s without faults: %s", name, e.msg);
    alloc_hook_count = 0;
    alloc_hook_fail_at = 0;
    alloc_hook_on = 1;
    sc(&e, &ok);
    alloc_hook_on = 0;
    long total = alloc_hook_count;
    long stride = total <= SWEEP_MAX ? 1 : (total - SWEEP_FULL) / (SWEEP_MAX - SWEEP_FULL) + 1;
    int runs = 0, failed_calls = 0, nomem = 0, bad = 0;
    for (long k = 1; k <= total; k += k < SWEEP_FULL ? 1 : stride) {
        alloc_hook_count = 0;
        alloc_hook_failed = 0;
        alloc_hook_fail_at = k;
        alloc_hook_on = 1;
        memset(&e, 0, sizeof e);
        s = sc(&e, &ok);
        alloc_hook_on = 0;
        alloc_hook_fail_at = 0;
        runs++;
        if (s != TEQ_OK) {
            failed_calls++;
            nomem += s == TEQ_ERR_NOMEM;
            if (!e.msg[0] || s == TEQ_ERR_INTERNAL) {
                bad++;
                printf("FAIL %s, allocation %ld fails: status %d, message \"%s\"\n", name, k, (int)s, e.msg);
            }
            if (out_file && access(out_file, F_OK) == 0) {
                bad++;
                printf("FAIL %s, allocation %ld fails: %s exists after the failed call\n", name, k, out_file);
            }
        } else if (!ok) {
            bad++;
            printf("FAIL %s, allocation %ld fails: success with a wrong result\n", name, k);
        }
        if (stray_files(out_file && s == TEQ_OK ? strrchr(out_file, '/') + 1 : NULL)) {
            bad++;
            printf("FAIL %s, allocation %ld fails: a file was left in %s\n", name, k, dir);
        }
    }
    if (out_file) unlink(out_file);
    CHECK(bad == 0, "%s: %d bad outcomes", name, bad);
    CHECK(runs > 0 && failed_calls > 0, "%s: no failing run in %d", name, runs);
    printf("%-28s %6ld allocations, %4d runs with one failing: %4d returned an error (%d out of memory), "
           "the rest recovered with the right result\n",
           name, total, runs, failed_calls, nomem);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0); /* lines reach the log before a crash or a sanitizer report */
    snprintf(dir, sizeof dir, "/tmp/teq-allocfail.XXXXXX");
    if (!mkdtemp(dir)) return 1;
    snprintf(path_npy, sizeof path_npy, "%s/x.npy", dir);
    snprintf(path_out, sizeof path_out, "%s/out.npy", dir);
    snprintf(path_teq, sizeof path_teq, "%s/out.teq", dir);
    teq_error e;
    int64_t dims[4] = {8, 2, 4, 4};
    /* 8 samples: the calibration minimum; the first one is the run input */
    if (teq_tensor_create(TEQ_DTYPE_FLOAT, 4, dims, &x_in, &e)) return 1;
    float *xf = x_in->data;
    for (int i = 0; i < 256; i++) xf[i] = (float)((i * 37) % 23) / 11.0f - 1.0f;
    if (teq_npy_write(path_npy, x_in, &e) || teq_model_load(CONVNET, &convnet, &e)) {
        printf("setup: %s\n0 passed, 1 failed\n", e.msg);
        return 1;
    }
    x_in->dims[0] = 1; /* the run input: the first sample (the model takes batch 1) */
    teq_tensor *out[1] = {NULL};
    const teq_tensor *in[1] = {x_in};
    if (teq_model_run(convnet, 1, NULL, in, out, &e)) {
        printf("setup: %s\n0 passed, 1 failed\n", e.msg);
        return 1;
    }
    y_ref = out[0];
    x_in->dims[0] = 8;
    /* the reference bytes of the two writers, from fault-free calls (the files are removed again:
     * the sweep finds any file left in dir) */
    bool ok_ref;
    teq_status s_npy = sc_npy_write(&e, &ok_ref), s_teq = sc_quantize(&e, &ok_ref);
    npy_ref = read_whole(path_out, &npy_ref_len);
    teq_ref = read_whole(path_teq, &teq_ref_len);
    unlink(path_out);
    unlink(path_teq);
    if (s_npy || s_teq || !npy_ref || !teq_ref) {
        printf("setup: fault-free teq_npy_write / teq_quantize: %s\n0 passed, 1 failed\n", e.msg);
        return 1;
    }
    sweep("teq_npy_read", sc_npy_read, NULL);
    sweep("teq_npy_write", sc_npy_write, path_out);
    sweep("teq_model_load (.onnx)", sc_load_convnet, NULL);
    sweep("teq_model_load (folding)", sc_load_folding, NULL);
    sweep("teq_model_load (.teq)", sc_load_teq, NULL);
    x_in->dims[0] = 1;
    sweep("teq_model_run", sc_run, NULL);
    x_in->dims[0] = 8;
    sweep("teq_quantize", sc_quantize, path_teq);
    free(npy_ref);
    free(teq_ref);
    teq_tensor_free(y_ref);
    teq_model_free(convnet);
    teq_tensor_free(x_in);
    unlink(path_npy);
    rmdir(dir);
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail > 0;
}
