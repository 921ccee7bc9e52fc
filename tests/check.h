/* The check macro every unit test uses: count, and on failure print where and why.
 * Each test program ends with printf("%d passed, %d failed\n", n_pass, n_fail) and exits non-zero
 * when n_fail > 0. */
#ifndef TEQ_TEST_CHECK_H
#define TEQ_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_pass, n_fail;

/* Cases that need a file the set-up installs (scripts/setup.sh: the models in cache/models, Debian's
 * libonnx-testdata) and cannot find it: printed as a SKIP in a developer's tree, counted as a failure
 * under CI=true, where the set-up has run and a missing file means the cases silently stopped running. */
static inline void skip_missing(const char *cases, const char *path) {
    const char *ci = getenv("CI");
    if (ci && strcmp(ci, "true") == 0) {
        n_fail++;
        printf("FAIL %s: %s missing, and CI=true (scripts/setup.sh installs it)\n", cases, path);
    } else {
        printf("SKIP %s: %s missing (scripts/setup.sh installs it; under CI=true this fails)\n", cases, path);
    }
}

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (cond) {                                                                                                    \
            n_pass++;                                                                                                  \
        } else {                                                                                                       \
            n_fail++;                                                                                                  \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                                \
            printf(__VA_ARGS__);                                                                                       \
            printf("\n");                                                                                              \
        }                                                                                                              \
    } while (0)

#endif
