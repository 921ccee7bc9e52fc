/* teq's own operators (domain "teq"):
 *   TeqQuantize(x) -> y: y = dequantize(quantize(x)) with the code in the node's "qparams"
 *   attribute (a float64 tensor [9]: kind, bits, is_signed, zero_code, base, alpha, beta, scale,
 *   zero_point). Inserted by the quantizer in front of each quantized layer's activation input, so
 *   that a quantized model runs on the FP32 engine with exactly the values its codes stand for. */
#ifndef TEQ_QUANT_OPS_H
#define TEQ_QUANT_OPS_H

#include "ops.h"

#define TEQ_QPARAMS_LEN 9
/* With a shift (format 1.1, header flag TEQ_FMT_FLAG_SHIFT): a 10th value c, and the node computes
 * y = dequantize(quantize(x + c)) (x + c rounded to float32 first): the SHIFTED domain, x + c >= 0 for a
 * tensor bounded below by -c. The code must then be exponential and unsigned; the consumer carries the
 * shift back (its bias holds -c * sum(w), a Conv pads with the quantized value of c: its `pad_value`).
 * The quantizer uses it for HardSwish / Swish outputs (docs/DECISIONS.md, "Shifted codes"). */
#define TEQ_QPARAMS_LEN_SHIFT 10
/* The 9 qparams values of p (v[0] is the stored kind: 3 for a float32 linear code). */
void teq_qparams_to_values(const teq_qparams *p, double *v);
/* Encode p as a float64 tensor [9] (new, caller frees). */
teq_status teq_qparams_to_tensor(const teq_qparams *p, teq_tensor **out, teq_error *err);
/* Decode and check (9 values, or 10 with the shift; the shift is not part of teq_qparams: only the
 * TeqQuantize node applies it). shift may be NULL, then 10 values with c != 0 are refused. */
teq_status teq_qparams_from_tensor(const teq_tensor *t, teq_qparams *p, char *msg, size_t msg_len);
teq_status teq_qparams_from_tensor_shift(const teq_tensor *t, teq_qparams *p, double *shift, char *msg,
                                         size_t msg_len);
/* Check a shift c for code p: finite, 0 <= c <= 1e30, and c > 0 only with an unsigned exponential code. */
teq_status teq_shift_check(const teq_qparams *p, double c, char *msg, size_t msg_len);

#endif
