/* The check macro every unit test uses: count, and on failure print where and why.
 * Each test program ends with printf("%d passed, %d failed\n", n_pass, n_fail) and exits non-zero
 * when n_fail > 0. */
#ifndef TEQ_TEST_CHECK_H
#define TEQ_TEST_CHECK_H

#include <stdio.h>

static int n_pass, n_fail;

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
