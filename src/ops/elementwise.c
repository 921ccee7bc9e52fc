#include "ops.h"

const teq_op teq_ops_elementwise[] = {
    {NULL, NULL, 0},
};
