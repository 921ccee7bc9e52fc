/* Helpers the teq commands share: messages, option parsing, numbers, shapes. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int teq_cli_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "teq: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
}

int teq_cli_fail_err(const teq_error *e) { return teq_cli_fail("%s", e->msg[0] ? e->msg : teq_status_string(e->status)); }

int teq_cli_parse_opts(const char *cmd, int argc, char **argv, const teq_cli_opt *opts, const char **positional,
                       int n_pos, const char *multi_name, const char **multi, int *n_multi, int max_multi) {
    int np = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1]) {
            if (multi_name && !strcmp(a, multi_name)) {
                if (i + 1 >= argc) return teq_cli_fail("%s: %s needs a value", cmd, a);
                if (*n_multi >= max_multi) return teq_cli_fail("%s: too many %s", cmd, a);
                multi[(*n_multi)++] = argv[++i];
                continue;
            }
            int k = 0;
            while (opts[k].name && strcmp(opts[k].name, a) != 0) k++;
            if (!opts[k].name) return teq_cli_fail("%s: unknown option '%s'", cmd, a);
            if (i + 1 >= argc) return teq_cli_fail("%s: %s needs a value", cmd, a);
            *opts[k].value = argv[++i];
        } else {
            if (np >= n_pos) return teq_cli_fail("%s: unexpected argument '%s'", cmd, a);
            positional[np++] = a;
        }
    }
    for (int i = 0; i < n_pos; i++)
        if (!positional[i]) return teq_cli_fail("%s: missing argument (see teq %s --help)", cmd, cmd);
    return 0;
}

long long teq_cli_int_opt(const char *cmd, const char *name, const char *v, long long dflt, long long lo, long long hi) {
    if (!v) return dflt;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*v == 0 || *end != 0 || x < lo || x > hi) {
        teq_cli_fail("%s: %s must be an integer in %lld..%lld", cmd, name, lo, hi);
        return -1;
    }
    return x;
}

double teq_cli_num_opt(const char *cmd, const char *name, const char *v, double dflt) {
    if (!v) return dflt;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (*v == 0 || *end != 0 || errno || !isfinite(x)) {
        teq_cli_fail("%s: %s must be a number", cmd, name);
        return NAN;
    }
    return x;
}

int teq_cli_is_tty(void) { return isatty(2); }

double teq_cli_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void teq_cli_print_shape(FILE *f, const teq_io_info *io) {
    if (io->ndim < 0) {
        fprintf(f, "(shape not declared)");
        return;
    }
    fprintf(f, "[");
    for (int d = 0; d < io->ndim; d++) {
        if (d) fprintf(f, ", ");
        if (io->dims[d] >= 0) fprintf(f, "%lld", (long long)io->dims[d]);
        else fprintf(f, "%s", io->dim_names[d][0] ? io->dim_names[d] : "?");
    }
    fprintf(f, "]");
}
