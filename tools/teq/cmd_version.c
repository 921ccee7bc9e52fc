/* teq version: the version and the kernel set dispatch chose (TEQ_ISA caps it). */
#include "cli.h"

#include <stdio.h>

static int cmd_version(int argc, char **argv) {
    if (argc > 0)
        return teq_cli_fail(argv[0][0] == '-' ? "version: unknown option '%s'" : "version: unexpected argument '%s'",
                            argv[0]);
    printf("teq %s (kernels: %s)\nBLAS: %s\n", TEQ_VERSION_STRING, teq_kernels_name(), teq_blas_name());
    return 0;
}

const teq_cli_command teq_cli_cmd_version = {
    .name = "version",
    .summary = "the version and the kernel set chosen for this CPU",
    .help = "usage: teq version\n"
            "       teq --version\n"
            "\n"
            "Prints teq's version and the set of kernels chosen for this CPU at run time (TEQ_ISA caps it),\n"
            "then the BLAS and its kernels (OPENBLAS_CORETYPE chooses those).\n",
    .run = cmd_version,
};
