/* ONNX operator conformance: runs the node tests of Debian's libonnx-testdata through the public API.
 *
 * usage: test_conformance [DATA_DIR=/usr/share/libonnx-testdata/data/node] [-k SUBSTRING] [--no-fork]
 *
 * A test folder (DATA_DIR/test_* /model.onnx + test_data_set_N/{input,output}_K.pb) is "claimed"
 * when every node of its model is an operator in teq's table (teq_op_foreach / teq_op_find) or a
 * Constant (which the loader turns into a value). Unclaimed folders are not listed at all.
 * Every claimed case is run:
 *   PASS  all outputs of all data sets match: same dtype and shape; floats within
 *         |got-ref| <= 1e-4 + 1e-3*|ref| (NaN matches NaN); integers and bools exactly;
 *   SKIP  the case needs something teq legitimately does not hold: a data type outside
 *         float32/float64/int64/int32/uint8/int8/bool (in the model, or the loader's "data type ... is
 *         not supported" for a .pb), a non-tensor (sequence/optional) value, a node in another domain,
 *         or training-mode Dropout (a random mask). The reason is printed. Nothing else is skipped:
 *         any other refusal, "unsupported" ones included, is a FAIL;
 *   FAIL  everything else (load errors included), with the first difference or the error message.
 * Each case runs in a child process (with a time limit), so a crash is reported as a FAIL of that
 * case and the run goes on; --no-fork runs them in-process (for a debugger).
 * Then a per-operator summary, and last the line "N passed, M failed, K skipped".
 * Exit status 1 when any case failed, or when a full run (the default folder, no -k) passes fewer
 * than MIN_PASS cases: an operator table or loader that stopped claiming cases would otherwise end
 * in "0 passed, 0 failed". */
#define _POSIX_C_SOURCE 200809L /* fork, pipe, mkdtemp, strdup, strsignal */
#include "onnx/onnx.pb-c.h"
#include "onnx/onnx_load.h"
#include "ops/ops.h"
#include "teq.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CASE_TIME_LIMIT_S 120
/* Measured: 609 cases pass (602 before QuantizeLinear and DequantizeLinear), 47 skip, of Debian 12's
 * libonnx-testdata 1.12.0 (656 claimed). The floor leaves room for a few cases that a newer data package
 * adds or changes, not for an operator gone. */
#define MIN_PASS 580
#define DEFAULT_DIR "/usr/share/libonnx-testdata/data/node"

enum { R_PASS = 0, R_FAIL = 1, R_SKIP = 2 };

/* ---- small utilities ---- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted entries of dir whose names start with prefix; NULL when dir is unreadable. */
static char **list_dir(const char *dir, const char *prefix, int *n) {
    DIR *d = opendir(dir);
    *n = 0;
    if (!d) return NULL;
    char **v = malloc(sizeof *v);
    int cap = 1;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0) continue;
        if (*n == cap) {
            cap *= 2;
            v = realloc(v, sizeof *v * (size_t)cap);
        }
        v[(*n)++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(v, (size_t)*n, sizeof *v, cmp_str);
    return v;
}

static void free_list(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0, got;
    uint8_t *b = malloc(cap);
    while (b && (got = fread(b + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) b = realloc(b, cap *= 2);
    }
    fclose(f);
    *len = n;
    return b;
}

static int held(int t) { return t > 0 && teq_dtype_size((teq_dtype)t) != 0; }

/* ---- what a model uses, read straight from the protobuf (so that a model the loader refuses
 * for a data type is still listed, as a SKIP, rather than silently dropped) ---- */

typedef struct model_scan {
    int ok;            /* parsed */
    int claimed;       /* every node supported */
    int n_ops;
    char **ops;        /* distinct op types of the default domain, first-seen order */
    char skip[600];    /* reason to skip, "" when none */
} model_scan;

static void scan_set_skip(model_scan *ms, const char *fmt, ...) {
    if (ms->skip[0]) return; /* keep the first reason */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ms->skip, sizeof ms->skip, fmt, ap);
    va_end(ap);
}

static void scan_value_info(model_scan *ms, const Onnx__ValueInfoProto *vi, const char *what) {
    const Onnx__TypeProto *tp = vi->type;
    if (!tp) return;
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
        scan_set_skip(ms, "non-tensor %s '%s' (sequence/optional/map)", what, vi->name ? vi->name : "");
        return;
    }
    if (tp->tensor_type && tp->tensor_type->has_elem_type && !held(tp->tensor_type->elem_type))
        scan_set_skip(ms, "%s %s '%s'", teq_onnx_type_name(tp->tensor_type->elem_type), what, vi->name ? vi->name : "");
}

static void scan_model(const char *path, model_scan *ms) {
    memset(ms, 0, sizeof *ms);
    size_t len;
    uint8_t *buf = slurp(path, &len);
    Onnx__ModelProto *m = buf ? onnx__model_proto__unpack(NULL, len, buf) : NULL;
    free(buf);
    if (!m || !m->graph) {
        if (m) onnx__model_proto__free_unpacked(m, NULL);
        return;
    }
    ms->ok = 1;
    ms->claimed = 1;
    const Onnx__GraphProto *g = m->graph;
    ms->ops = malloc(sizeof(char *) * (g->n_node + 1));
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        const char *op = n->op_type ? n->op_type : "";
        const char *dom = n->domain ? n->domain : "";
        int dflt = !*dom || strcmp(dom, "ai.onnx") == 0;
        if (!(strcmp(op, "Constant") == 0 || teq_op_find(op))) ms->claimed = 0;
        if (!dflt) scan_set_skip(ms, "node '%s' (%s) is in domain '%s'", n->name ? n->name : "", op, dom);
        int seen = 0;
        for (int k = 0; k < ms->n_ops && !seen; k++) seen = strcmp(ms->ops[k], op) == 0;
        if (!seen) ms->ops[ms->n_ops++] = strdup(op);
        for (size_t a = 0; a < n->n_attribute; a++) {
            const Onnx__AttributeProto *at = n->attribute[a];
            const char *an = at->name ? at->name : "";
            if (at->t && at->t->has_data_type && !held(at->t->data_type))
                scan_set_skip(ms, "%s tensor in attribute '%s' of %s", teq_onnx_type_name(at->t->data_type), an, op);
            if ((strcmp(an, "to") == 0 || strcmp(an, "dtype") == 0) && at->has_i && !held((int)at->i))
                scan_set_skip(ms, "%s '%s' = %s", op, an, teq_onnx_type_name((int)at->i));
        }
    }
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->has_data_type && !held(g->initializer[i]->data_type))
            scan_set_skip(ms, "%s initializer '%s'", teq_onnx_type_name(g->initializer[i]->data_type),
                          g->initializer[i]->name ? g->initializer[i]->name : "");
    for (size_t i = 0; i < g->n_input; i++) scan_value_info(ms, g->input[i], "input");
    for (size_t i = 0; i < g->n_output; i++) scan_value_info(ms, g->output[i], "output");
    onnx__model_proto__free_unpacked(m, NULL);
}

static void scan_free(model_scan *ms) {
    for (int i = 0; i < ms->n_ops; i++) free(ms->ops[i]);
    free(ms->ops);
}

/* ---- running one case ---- */

typedef struct result {
    int code;
    char msg[1500];
} result;

static void set_result(result *r, int code, const char *fmt, ...) {
    r->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
}

static double elem_as_double(const teq_tensor *t, int64_t i) {
    switch (t->dtype) {
    case TEQ_DTYPE_FLOAT: return ((const float *)t->data)[i];
    case TEQ_DTYPE_DOUBLE: return ((const double *)t->data)[i];
    case TEQ_DTYPE_INT64: return (double)((const int64_t *)t->data)[i];
    case TEQ_DTYPE_INT32: return ((const int32_t *)t->data)[i];
    case TEQ_DTYPE_UINT8: return ((const uint8_t *)t->data)[i];
    case TEQ_DTYPE_INT8: return ((const int8_t *)t->data)[i];
    case TEQ_DTYPE_BOOL: return ((const uint8_t *)t->data)[i];
    default: return 0;
    }
}

static int64_t elem_as_int(const teq_tensor *t, int64_t i) {
    switch (t->dtype) {
    case TEQ_DTYPE_INT64: return ((const int64_t *)t->data)[i];
    case TEQ_DTYPE_INT32: return ((const int32_t *)t->data)[i];
    case TEQ_DTYPE_UINT8: return ((const uint8_t *)t->data)[i];
    case TEQ_DTYPE_INT8: return ((const int8_t *)t->data)[i];
    case TEQ_DTYPE_BOOL: return ((const uint8_t *)t->data)[i];
    default: return 0;
    }
}

/* Compare got against ref; on a difference write a description to msg and return 0. */
static int compare(const teq_tensor *got, const teq_tensor *ref, char *msg, size_t n) {
    char a[200], b[200];
    if (got->dtype != ref->dtype) {
        snprintf(msg, n, "dtype %s, want %s", teq_dtype_name(got->dtype), teq_dtype_name(ref->dtype));
        return 0;
    }
    int same = got->ndim == ref->ndim;
    for (int d = 0; same && d < got->ndim; d++) same = got->dims[d] == ref->dims[d];
    if (!same) {
        snprintf(msg, n, "shape %s, want %s", teq_shape_str(got->ndim, got->dims, a, sizeof a),
                 teq_shape_str(ref->ndim, ref->dims, b, sizeof b));
        return 0;
    }
    int64_t numel = teq_tensor_numel(ref), bad = 0, first = -1;
    int is_float = ref->dtype == TEQ_DTYPE_FLOAT || ref->dtype == TEQ_DTYPE_DOUBLE;
    double max_err = 0;
    for (int64_t i = 0; i < numel; i++) {
        int ok;
        if (is_float) {
            double g = elem_as_double(got, i), r = elem_as_double(ref, i);
            if (isnan(r))
                ok = isnan(g) != 0;
            else if (isinf(r))
                ok = g == r;
            else {
                double e = fabs(g - r);
                ok = !isnan(g) && e <= 1e-4 + 1e-3 * fabs(r);
                if (!isnan(e) && e > max_err) max_err = e;
            }
        } else {
            ok = elem_as_int(got, i) == elem_as_int(ref, i);
        }
        if (!ok) {
            if (first < 0) first = i;
            bad++;
        }
    }
    if (!bad) return 1;
    if (is_float)
        snprintf(msg, n, "element %lld: got %.9g want %.9g (%lld of %lld differ, max abs err %.3g)", (long long)first,
                 elem_as_double(got, first), elem_as_double(ref, first), (long long)bad, (long long)numel, max_err);
    else
        snprintf(msg, n, "element %lld: got %lld want %lld (%lld of %lld differ)", (long long)first,
                 (long long)elem_as_int(got, first), (long long)elem_as_int(ref, first), (long long)bad,
                 (long long)numel);
    return 0;
}

/* Read prefix_K.pb for K = 0, 1, ... into tensors/names. Returns R_PASS, or R_SKIP / R_FAIL with r set. */
static int read_pbs(const char *dir, const char *prefix, teq_tensor ***ts, char ***names, int *n, result *r) {
    *ts = NULL;
    *names = NULL;
    *n = 0;
    for (int k = 0;; k++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s_%d.pb", dir, prefix, k);
        if (!file_exists(p)) break;
        *ts = realloc(*ts, sizeof **ts * (size_t)(k + 1));
        *names = realloc(*names, sizeof **names * (size_t)(k + 1));
        teq_error e;
        teq_status s = teq_onnx_read_tensor_file(p, &(*ts)[k], &(*names)[k], &e);
        if (s) {
            /* the one documented reason a .pb may be refused: its element type (the loader's message) */
            int dtype = s == TEQ_ERR_UNSUPPORTED && strstr(e.msg, ": data type ") && strstr(e.msg, " is not supported");
            set_result(r, dtype ? R_SKIP : R_FAIL, "%s", e.msg);
            return r->code;
        }
        (*n)++;
    }
    return R_PASS;
}

static void free_pbs(teq_tensor **ts, char **names, int n) {
    for (int i = 0; i < n; i++) {
        teq_tensor_free(ts[i]);
        free(names[i]);
    }
    free(ts);
    free(names);
}

static int cmp_set(const void *a, const void *b) {
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    long nx = strtol(x + strlen("test_data_set_"), NULL, 10), ny = strtol(y + strlen("test_data_set_"), NULL, 10);
    return nx < ny ? -1 : nx > ny;
}

/* Run every data set of one test folder. */
static void run_case(const char *dir, const char *test, result *r) {
    char path[4200], sub[4096];
    if (snprintf(sub, sizeof sub, "%s/%s", dir, test) >= (int)sizeof sub) {
        set_result(r, R_FAIL, "path too long");
        return;
    }
    snprintf(path, sizeof path, "%s/model.onnx", sub);
    teq_model *m = NULL;
    teq_error e;
    teq_status s = teq_model_load(path, &m, &e);
    if (s) {
        set_result(r, R_FAIL, "load: [%s] %s", teq_status_string(s), e.msg);
        return;
    }
    int nsets;
    char **sets = list_dir(sub, "test_data_set_", &nsets);
    qsort(sets, (size_t)nsets, sizeof *sets, cmp_set);
    set_result(r, R_PASS, "%d data set%s", nsets, nsets == 1 ? "" : "s");
    if (nsets == 0) set_result(r, R_FAIL, "no test_data_set_* folder");
    int n_out = teq_model_num_outputs(m);
    for (int k = 0; k < nsets && r->code == R_PASS; k++) {
        char sd[8192];
        snprintf(sd, sizeof sd, "%s/%s", sub, sets[k]);
        const char *tag = nsets > 1 ? sets[k] : "";
        const char *sep = nsets > 1 ? ": " : "";
        teq_tensor **in = NULL, **ref = NULL;
        char **in_names = NULL, **ref_names = NULL;
        int n_in = 0, n_ref = 0;
        result rr;
        if (read_pbs(sd, "input", &in, &in_names, &n_in, &rr) != R_PASS ||
            read_pbs(sd, "output", &ref, &ref_names, &n_ref, &rr) != R_PASS) {
            set_result(r, rr.code, "%s%s%s", tag, sep, rr.msg);
            free_pbs(in, in_names, n_in);
            free_pbs(ref, ref_names, n_ref);
            break;
        }
        /* Bind by name when every file names its tensor, else in order. */
        int named = 1;
        for (int i = 0; i < n_in; i++) named &= in_names[i][0] != 0;
        teq_tensor **out = calloc((size_t)n_out + 1, sizeof *out);
        s = teq_model_run(m, n_in, named ? (const char *const *)in_names : NULL, (const teq_tensor *const *)in, out,
                          &e);
        if (s == TEQ_ERR_UNSUPPORTED && strstr(e.msg, "(Dropout)") && strstr(e.msg, "training mode")) {
            /* Training-mode Dropout draws its mask from a random generator (the reference data
             * comes from numpy's seed 0): no deterministic engine can reproduce it. */
            set_result(r, R_SKIP, "%s%straining-mode Dropout with a random mask: %s", tag, sep, e.msg);
        } else if (s) {
            set_result(r, R_FAIL, "%s%srun: [%s] %s", tag, sep, teq_status_string(s), e.msg);
        } else {
            for (int j = 0; j < n_ref && r->code == R_PASS; j++) {
                /* the reference output's name picks the model output; unnamed ones go in order */
                int o = j;
                if (ref_names[j][0]) {
                    o = -1;
                    for (int q = 0; q < n_out && o < 0; q++) {
                        teq_io_info info;
                        if (teq_model_output_info(m, q, &info) == TEQ_OK && strcmp(info.name, ref_names[j]) == 0) o = q;
                    }
                }
                if (o < 0 || o >= n_out) {
                    set_result(r, R_FAIL, "%s%sreference output %d ('%s') is not an output of the model", tag, sep, j,
                               ref_names[j]);
                    break;
                }
                char why[600];
                if (!compare(out[o], ref[j], why, sizeof why))
                    set_result(r, R_FAIL, "%s%soutput %d ('%s') %s", tag, sep, o, ref_names[j], why);
            }
        }
        for (int j = 0; j < n_out; j++) teq_tensor_free(out[j]);
        free(out);
        free_pbs(in, in_names, n_in);
        free_pbs(ref, ref_names, n_ref);
    }
    free_list(sets, nsets);
    teq_model_free(m);
}

/* Run a case in a child process so a crash or a hang fails that case only. */
static void run_case_isolated(const char *dir, const char *test, result *r) {
    int fd[2];
    fflush(stdout);
    if (pipe(fd) != 0) {
        run_case(dir, test, r);
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        run_case(dir, test, r);
        return;
    }
    if (pid == 0) {
        close(fd[0]);
        alarm(CASE_TIME_LIMIT_S);
        result cr;
        run_case(dir, test, &cr);
        size_t len = sizeof cr.code + strlen(cr.msg) + 1, off = 0;
        char buf[sizeof cr];
        memcpy(buf, &cr.code, sizeof cr.code);
        memcpy(buf + sizeof cr.code, cr.msg, strlen(cr.msg) + 1);
        while (off < len) {
            ssize_t w = write(fd[1], buf + off, len - off);
            if (w <= 0) break;
            off += (size_t)w;
        }
        close(fd[1]);
        fflush(stdout);
        exit(0); /* not _exit: a sanitizer build then runs its leak check on this case */
    }
    close(fd[1]);
    char buf[sizeof(result)];
    size_t got = 0;
    ssize_t rd;
    while (got < sizeof buf && (rd = read(fd[0], buf + got, sizeof buf - got)) > 0) got += (size_t)rd;
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        set_result(r, R_FAIL, sig == SIGALRM ? "timed out after %d s" : "crashed with signal %d (%s)",
                   sig == SIGALRM ? CASE_TIME_LIMIT_S : sig, strsignal(sig));
        return;
    }
    if (got <= sizeof r->code) {
        set_result(r, R_FAIL, "child exited with status %d without a result", WEXITSTATUS(status));
        return;
    }
    memcpy(&r->code, buf, sizeof r->code);
    buf[sizeof buf - 1] = 0;
    snprintf(r->msg, sizeof r->msg, "%s", buf + sizeof r->code);
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        /* the case finished but exit failed: a sanitizer's leak report (see stderr) */
        static const char *const tags[] = {"PASS", "FAIL", "SKIP"};
        char prev[sizeof r->msg];
        snprintf(prev, sizeof prev, "%s", r->msg);
        int code = r->code >= R_PASS && r->code <= R_SKIP ? r->code : R_FAIL;
        set_result(r, R_FAIL, "exited with status %d after the case (leak or sanitizer report on stderr); it was %s: %s",
                   WEXITSTATUS(status), tags[code], prev);
    }
}

/* ---- per-operator bookkeeping ---- */

typedef struct op_stat {
    const char *name;
    int pass, fail, skip;
} op_stat;

static op_stat *op_stats;
static int n_op_stats, cap_op_stats;

static void add_op(const char *name, void *user) {
    (void)user;
    for (int i = 0; i < n_op_stats; i++)
        if (strcmp(op_stats[i].name, name) == 0) return;
    if (n_op_stats == cap_op_stats) {
        cap_op_stats = cap_op_stats ? cap_op_stats * 2 : 64;
        op_stats = realloc(op_stats, sizeof *op_stats * (size_t)cap_op_stats);
    }
    op_stats[n_op_stats++] = (op_stat){name, 0, 0, 0};
}

static op_stat *find_op(const char *name) {
    for (int i = 0; i < n_op_stats; i++)
        if (strcmp(op_stats[i].name, name) == 0) return &op_stats[i];
    return NULL;
}

int main(int argc, char **argv) {
    const char *dir = DEFAULT_DIR;
    const char *filter = NULL;
    int use_fork = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-k") == 0 && i + 1 < argc)
            filter = argv[++i];
        else if (strcmp(argv[i], "--no-fork") == 0)
            use_fork = 0;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [DATA_DIR] [-k SUBSTRING] [--no-fork]\n", argv[0]);
            return 2;
        } else
            dir = argv[i];
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    teq_op_foreach(add_op, NULL);
    add_op("Constant", NULL); /* handled by the loader, not the op table */

    int n_tests;
    char **tests = list_dir(dir, "test_", &n_tests);
    if (!tests) {
        fprintf(stderr, "%s: cannot read the test data folder\n", dir);
        return 2;
    }
    int n_pass = 0, n_fail = 0, n_skip = 0;
    for (int t = 0; t < n_tests; t++) {
        if (filter && !strstr(tests[t], filter)) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s/model.onnx", dir, tests[t]);
        if (!file_exists(path)) continue;
        model_scan ms;
        scan_model(path, &ms);
        result r;
        if (!ms.ok) {
            /* cannot tell which ops it uses: report rather than hide it */
            set_result(&r, R_FAIL, "model.onnx does not parse as an ONNX model");
        } else if (!ms.claimed) {
            scan_free(&ms);
            continue;
        } else if (ms.skip[0]) {
            set_result(&r, R_SKIP, "%s", ms.skip);
        } else if (use_fork) {
            run_case_isolated(dir, tests[t], &r);
        } else {
            run_case(dir, tests[t], &r);
        }
        static const char *const tags[] = {"PASS", "FAIL", "SKIP"};
        if (r.code == R_PASS)
            printf("PASS %s\n", tests[t]);
        else
            printf("%s %s: %s\n", tags[r.code], tests[t], r.msg);
        if (r.code == R_PASS) n_pass++;
        if (r.code == R_FAIL) n_fail++;
        if (r.code == R_SKIP) n_skip++;
        for (int k = 0; k < ms.n_ops; k++) {
            op_stat *os = find_op(ms.ops[k]);
            if (!os) continue;
            if (r.code == R_PASS) os->pass++;
            if (r.code == R_FAIL) os->fail++;
            if (r.code == R_SKIP) os->skip++;
        }
        scan_free(&ms);
    }
    free_list(tests, n_tests);

    printf("\nper operator (a case counts for every operator its model uses):\n");
    for (int i = 0; i < n_op_stats; i++) {
        const op_stat *os = &op_stats[i];
        if (os->pass + os->fail + os->skip == 0)
            printf("  %-24s no test cases\n", os->name);
        else
            printf("  %-24s %3d pass %3d fail %3d skip%s\n", os->name, os->pass, os->fail, os->skip,
                   os->fail ? "  <-" : "");
    }
    free(op_stats);
    const int full = !filter && strcmp(dir, DEFAULT_DIR) == 0;
    if (full && n_pass < MIN_PASS) {
        printf("FAIL only %d cases passed, fewer than the %d a full run passes (MIN_PASS)\n", n_pass, MIN_PASS);
        n_fail++;
    }
    printf("%d passed, %d failed, %d skipped\n", n_pass, n_fail, n_skip);
    return n_fail ? 1 : 0;
}
