/* OpenBLAS's kernel choice, checked once at load.
 *
 * Debian's OpenBLAS (0.3.21, built DYNAMIC_ARCH) picks its kernels from cpuid's family and model
 * numbers. A CPU newer than its table (an Emerald Rapids Xeon, family 6 model 0xCF, has AVX-512) is
 * named "Prescott" and gets SSE3 kernels: SGEMM 4x slower than its SkylakeX kernels on that machine
 * (512^3, 14.6 -> 3.6 ms), which made every layer teq hands to SGEMM 2-4x slower than it should be
 * (docs/DECISIONS.md, "Speed, eleventh round"). OpenBLAS's own answer is the environment variable
 * OPENBLAS_CORETYPE, read when it chooses; so where the user has not set it and the chosen kernels lack
 * AVX2 while the CPU has it, this sets it to the kernels the CPU can run (SkylakeX with AVX-512
 * F/CD/BW/DQ/VL, else Haswell with AVX2 and FMA) and has OpenBLAS choose again through its exported
 * gotoblas_dynamic_quit / gotoblas_dynamic_init, then removes the variable (child processes see the
 * environment they had). Before any teq call: it runs as a constructor, after OpenBLAS's own (a library
 * is initialised after those it depends on). An OpenBLAS without DYNAMIC_ARCH has neither function
 * (weak references, then NULL) and is left alone. */
#include "ops.h"

#include <cblas.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));

/* OpenBLAS's x86-64 kernel sets that use AVX2 (names as openblas_get_corename gives them). */
static bool core_has_avx2(const char *name) {
    static const char *const avx2[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "Excavator"};
    for (size_t i = 0; i < sizeof avx2 / sizeof *avx2; i++)
        if (!strcasecmp(name, avx2[i])) return true;
    return false;
}

/* "OpenBLAS <kernels>", and what OpenBLAS had named the CPU where teq had it choose again; written once,
 * by the constructor, before any thread can read it. */
static char blas_name[96];

__attribute__((constructor)) static void blas_core_check(void) {
    const char *name = openblas_get_corename();
    snprintf(blas_name, sizeof blas_name, "OpenBLAS %s", name ? name : "?");
#if defined(__x86_64__)
    if (!gotoblas_dynamic_init || !gotoblas_dynamic_quit || (getenv("OPENBLAS_CORETYPE") && *getenv("OPENBLAS_CORETYPE"))) return;
    if (!name || core_has_avx2(name)) return;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return;
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
                        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                        __builtin_cpu_supports("avx512vl");
    char was[32];
    snprintf(was, sizeof was, "%s", name);
    if (setenv("OPENBLAS_CORETYPE", avx512 ? "SkylakeX" : "Haswell", 1) != 0) return;
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    unsetenv("OPENBLAS_CORETYPE");
    name = openblas_get_corename();
    snprintf(blas_name, sizeof blas_name, "OpenBLAS %s (it named this CPU %s)", name ? name : "?", was);
#endif
}

const char *teq_ops_blas_name(void) { return blas_name; }
