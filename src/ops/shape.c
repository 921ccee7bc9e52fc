#include "ops.h"

const teq_op teq_ops_shape[] = {
    {NULL, NULL, 0},
};
