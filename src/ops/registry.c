/* The operator table: the union of the per-file tables, searched by name. */
#include "ops.h"

#include <string.h>

static const teq_op *const tables[] = {teq_ops_nn, teq_ops_elementwise, teq_ops_shape, teq_ops_quant, teq_ops_fused};

const teq_op *teq_op_find(const char *op_type) {
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const teq_op *op = tables[t]; op->name; op++)
            if (strcmp(op->name, op_type) == 0) return op;
    return NULL;
}

void teq_op_foreach(void (*fn)(const char *name, void *user), void *user) {
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const teq_op *op = tables[t]; op->name; op++) fn(op->name, user);
}
