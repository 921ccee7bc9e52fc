/* Test-only interposition of malloc, calloc, realloc and free: include in exactly one file of a test
 * program. The program's definitions take precedence over the C library's for every caller in the
 * process (libteq, protobuf-c, OpenBLAS), and forward to the next definition in the lookup order
 * (dlsym RTLD_NEXT): the C library, or the AddressSanitizer runtime in the sanitizer build, so that
 * LeakSanitizer still sees every block. The library itself stays untouched (docs/DECISIONS.md,
 * "Allocation failure").
 *
 * While alloc_hook_on is set:
 *   - alloc_hook_largest records the largest single request (limits tests: "refused before any
 *     large allocation");
 *   - alloc_hook_count counts requests, and when alloc_hook_fail_at > 0 the request numbered
 *     alloc_hook_fail_at (1-based) returns NULL (the allocation-failure sweep). */
#ifndef TEQ_ALLOC_HOOK_H
#define TEQ_ALLOC_HOOK_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static volatile int alloc_hook_on;
static volatile long alloc_hook_count, alloc_hook_fail_at, alloc_hook_failed;
static volatile size_t alloc_hook_largest;

static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static void (*next_free)(void *);

/* dlsym may itself call calloc before next_calloc is known: serve those few bytes from here. */
static unsigned char boot_buf[4096];
static size_t boot_used;

static void *boot_alloc(size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (boot_used + n > sizeof boot_buf) return NULL;
    void *p = boot_buf + boot_used;
    boot_used += n;
    return p;
}

static int in_boot(void *p) { return (unsigned char *)p >= boot_buf && (unsigned char *)p < boot_buf + sizeof boot_buf; }

static int resolving;
static void resolve(void) {
    if (next_free || resolving) return;
    resolving = 1;
    next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    next_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    next_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    resolving = 0;
}

/* Records one request; true when it must fail. */
static int hook_fails(size_t n) {
    if (!alloc_hook_on) return 0;
    if (n > alloc_hook_largest) alloc_hook_largest = n;
    long k = ++alloc_hook_count;
    if (alloc_hook_fail_at > 0 && k == alloc_hook_fail_at) {
        alloc_hook_failed++;
        return 1;
    }
    return 0;
}

void *malloc(size_t n) {
    resolve();
    if (!next_malloc) return boot_alloc(n);
    if (hook_fails(n)) return NULL;
    return next_malloc(n);
}

void *calloc(size_t a, size_t b) {
    resolve();
    if (!next_calloc) {
        void *p = b && a > SIZE_MAX / b ? NULL : boot_alloc(a * b);
        if (p) memset(p, 0, a * b);
        return p;
    }
    if (hook_fails(b && a > SIZE_MAX / b ? SIZE_MAX : a * b)) return NULL;
    return next_calloc(a, b);
}

void *realloc(void *p, size_t n) {
    resolve();
    if (in_boot(p)) {
        void *q = malloc(n);
        if (q) memcpy(q, p, n < sizeof boot_buf ? n : sizeof boot_buf);
        return q;
    }
    if (hook_fails(n)) return NULL;
    return next_realloc(p, n);
}

void free(void *p) {
    if (!p || in_boot(p)) return;
    resolve();
    next_free(p);
}

#endif
