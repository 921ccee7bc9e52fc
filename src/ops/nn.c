#include "ops.h"

const teq_op teq_ops_nn[] = {
    {NULL, NULL, 0},
};
