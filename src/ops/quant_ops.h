/* teq's own operators (domain "teq"):
 *   TeqQuantize(x) -> y: y = dequantize(quantize(x)) with the code in the node's "qparams"
 *   attribute (a float64 tensor [9]: kind, bits, is_signed, zero_code, base, alpha, beta, scale,
 *   zero_point). Inserted by the quantizer in front of each quantized layer's activation input, so
 *   that a quantized model runs on the FP32 engine with exactly the values its codes stand for. */
#ifndef TEQ_QUANT_OPS_H
#define TEQ_QUANT_OPS_H

#include "ops.h"

#define TEQ_QPARAMS_LEN 9
/* Encode p as a float64 tensor [9] (new, caller frees). */
teq_status teq_qparams_to_tensor(const teq_qparams *p, teq_tensor **out, teq_error *err);
/* Decode and check. */
teq_status teq_qparams_from_tensor(const teq_tensor *t, teq_qparams *p, char *msg, size_t msg_len);

#endif
