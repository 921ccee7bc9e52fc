/* Replays a fuzz corpus without libFuzzer: links with one tests/fuzz/fuzz_*.c and feeds it every
 * file of the folders given (default: the target's folder under tests/fuzz/corpus/, set at build
 * time as FUZZ_CORPUS). This is how `make test` runs every seed and every input that once crashed,
 * built by any compiler; under the sanitizer build it also catches memory errors and leaks.
 * An input fails by crashing, by a sanitizer report, by breaking the contract checked in fuzz.h
 * (abort), or by taking longer than FUZZ_INPUT_SECONDS (SIGALRM kills the program). An empty or
 * missing corpus fails too: a replay of nothing proves nothing.
 * usage: test_fuzz_<target> [DIR...]; prints `N passed, M failed`. */
#define _GNU_SOURCE
#include "fuzz.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef FUZZ_CORPUS
#error "build with -DFUZZ_CORPUS=\"folder\""
#endif
/* Generous: the slowest seed takes milliseconds in the optimised build, and the sanitizer build is
 * a few times slower; an input that takes this long is a hang. */
#define FUZZ_INPUT_SECONDS 20

static const char *current; /* the input being run, for the hang message */

static void on_alarm(int sig) {
    (void)sig;
    /* only async-signal-safe calls here */
    static const char a[] = "FAIL ", b[] = ": took longer than the limit (a hang)\n";
    if (write(1, a, sizeof a - 1) < 0 || write(1, current, strlen(current)) < 0 || write(1, b, sizeof b - 1) < 0) _exit(3);
    _exit(2);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Runs every regular file of dir in name order; returns the number run, or -1 when dir is unreadable. */
static int replay_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn) abort();
            names = nn;
        }
        if (!(names[n++] = strdup(de->d_name))) abort();
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    int run = 0;
    for (size_t i = 0; i < n; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        struct stat st;
        FILE *f = stat(p, &st) == 0 && S_ISREG(st.st_mode) ? fopen(p, "rb") : NULL;
        if (f) {
            size_t len = (size_t)st.st_size;
            uint8_t *buf = malloc(len ? len : 1);
            if (!buf || fread(buf, 1, len, f) != len) abort();
            fclose(f);
            current = p;
            alarm(FUZZ_INPUT_SECONDS);
            LLVMFuzzerTestOneInput(buf, len);
            alarm(0);
            free(buf);
            run++;
        }
        free(names[i]);
    }
    free(names);
    return run;
}

int main(int argc, char **argv) {
    signal(SIGALRM, on_alarm);
    setvbuf(stdout, NULL, _IONBF, 0);
    int n_dirs = argc > 1 ? argc - 1 : 1;
    int pass = 0, fail = 0;
    for (int i = 0; i < n_dirs; i++) {
        const char *dir = argc > 1 ? argv[i + 1] : FUZZ_CORPUS;
        int n = replay_dir(dir);
        if (n <= 0) {
            printf("FAIL %s: %s\n", dir, n < 0 ? "cannot read the folder" : "no inputs");
            fail++;
        } else {
            printf("PASS %s: %d inputs replayed, no crash, hang, sanitizer report or broken contract\n", dir, n);
            pass += n;
        }
    }
    printf("%d passed, %d failed\n", pass, fail);
    return fail ? 1 : 0;
}
