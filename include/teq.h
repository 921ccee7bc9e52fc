/* teq: adaptive exponential quantization of neural networks, and an engine that runs them.
 *
 * This is the one public header. The CLI in tools/ uses nothing else.
 * Conventions (after zstd):
 *   - every fallible call returns a teq_status; TEQ_OK is 0, and the numbers never change meaning;
 *   - a teq_error*, when not NULL, receives a one-line message naming the file and the problem;
 *   - *_free(NULL) is a no-op;
 *   - the library never prints to stdout and never calls exit().
 */
#ifndef TEQ_H
#define TEQ_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TEQ_VERSION_STRING "0.1.0"

/* Marks the functions libteq.so exports. The library is compiled with -fvisibility=hidden, so these
 * declarations are its whole dynamic interface: internal symbols (teq_ops_*, the kernels, protobuf-c's
 * onnx__*) stay out of it, and calls between the library's own files need no PLT. */
#if defined(__GNUC__) || defined(__clang__)
#define TEQ_API __attribute__((visibility("default")))
#else
#define TEQ_API
#endif

typedef enum teq_status {
    TEQ_OK = 0,
    TEQ_ERR_IO = 1,          /* a file could not be opened, read or written */
    TEQ_ERR_FORMAT = 2,      /* a file is malformed, truncated or inconsistent */
    TEQ_ERR_UNSUPPORTED = 3, /* an operator, attribute or data type teq does not implement */
    TEQ_ERR_SHAPE = 4,       /* a tensor has a shape or type an operator or the graph cannot take */
    TEQ_ERR_NOMEM = 5,       /* an allocation failed or a size would overflow */
    TEQ_ERR_ARG = 6,         /* a caller passed an invalid argument (missing input, unknown name) */
    TEQ_ERR_INTERNAL = 7,    /* a bug in teq */
} teq_status;

/* A short, constant description of a status ("I/O error", ...). */
TEQ_API const char *teq_status_string(teq_status s);
/* The set of dot-product kernels chosen for this CPU at run time ("scalar", "avx2", "avx512+vnni", ...;
 * the environment variable TEQ_ISA=scalar|avx2|avx512 caps it). */
TEQ_API const char *teq_kernels_name(void);
/* The BLAS and the kernels it runs ("OpenBLAS SkylakeX"); where OpenBLAS named the CPU after an older one
 * whose kernels lack AVX2 (a CPU newer than its table), teq has it choose again at load and says so:
 * "OpenBLAS SkylakeX (it named this CPU Prescott)". OPENBLAS_CORETYPE, when set, is left to decide. */
TEQ_API const char *teq_blas_name(void);

/* Where detailed messages go. msg is always NUL-terminated; it is empty after a success. */
typedef struct teq_error {
    teq_status status;
    char msg[512];
} teq_error;

/* Element types. The numbers are ONNX's TensorProto.DataType values, so files map directly. */
typedef enum teq_dtype {
    TEQ_DTYPE_UNDEFINED = 0,
    TEQ_DTYPE_FLOAT = 1,
    TEQ_DTYPE_UINT8 = 2,
    TEQ_DTYPE_INT8 = 3,
    TEQ_DTYPE_INT32 = 6,
    TEQ_DTYPE_INT64 = 7,
    TEQ_DTYPE_BOOL = 9, /* one byte per element, 0 or 1 */
    TEQ_DTYPE_DOUBLE = 11,
} teq_dtype;

/* Size in bytes of one element, or 0 for a type teq does not hold. */
TEQ_API size_t teq_dtype_size(teq_dtype t);
/* "float32", "int64", ... ; "unknown" for anything else. */
TEQ_API const char *teq_dtype_name(teq_dtype t);

#define TEQ_MAX_DIMS 8

/* A dense tensor in C (row-major) order.
 * data points at dims[0]*...*dims[ndim-1] elements of dtype; a scalar has ndim 0 and one element.
 * capacity is the number of bytes owned at data (0 when data is borrowed from someone else). */
typedef struct teq_tensor {
    teq_dtype dtype;
    int ndim;
    int64_t dims[TEQ_MAX_DIMS];
    void *data;
    size_t capacity;
} teq_tensor;

/* Number of elements (1 for a scalar). */
TEQ_API int64_t teq_tensor_numel(const teq_tensor *t);
/* Allocate a tensor with owned, zero-filled storage. */
TEQ_API teq_status teq_tensor_create(teq_dtype dtype, int ndim, const int64_t *dims, teq_tensor **out, teq_error *err);
/* Free a tensor made by teq (teq_tensor_create, teq_npy_read, teq_model_run). */
TEQ_API void teq_tensor_free(teq_tensor *t);

/* ---- NumPy .npy files (format 1.0/2.0, little-endian, C order) ---- */

/* Read float32, float64 (kept as double), int64, int32, uint8, int8 and bool arrays. */
TEQ_API teq_status teq_npy_read(const char *path, teq_tensor **out, teq_error *err);
/* Write atomically: to a temporary name in the same folder, then rename over path. */
TEQ_API teq_status teq_npy_write(const char *path, const teq_tensor *t, teq_error *err);

/* ---- Models ---- */

typedef struct teq_model teq_model;

/* Load a model: an ONNX file, or a .teq file written by teq_quantize (told apart by their first
 * bytes, not by the name). Constant subgraphs are folded at load. */
TEQ_API teq_status teq_model_load(const char *path, teq_model **out, teq_error *err);
TEQ_API void teq_model_free(teq_model *m);

/* Threads used by teq_model_run (default 1). */
TEQ_API void teq_model_set_threads(teq_model *m, int n_threads);

/* Description of a graph input or output as declared by the model.
 * dims[i] is -1 where the dimension is dynamic; dim_names[i] is then its symbolic name or "". */
typedef struct teq_io_info {
    const char *name;
    teq_dtype dtype;
    int ndim; /* -1 where the model does not declare a shape */
    int64_t dims[TEQ_MAX_DIMS];
    const char *dim_names[TEQ_MAX_DIMS];
} teq_io_info;

TEQ_API int teq_model_num_inputs(const teq_model *m);
TEQ_API int teq_model_num_outputs(const teq_model *m);
TEQ_API teq_status teq_model_input_info(const teq_model *m, int i, teq_io_info *info);
TEQ_API teq_status teq_model_output_info(const teq_model *m, int i, teq_io_info *info);

/* Model statistics for `teq inspect`. */
typedef struct teq_model_stats {
    int64_t n_nodes;      /* nodes left after constant folding */
    int64_t n_params;     /* elements in constant tensors of floating type (weights) */
    int64_t n_constants;  /* constant tensors (initializers, Constant nodes, folded values) */
    int64_t opset;        /* default-domain opset */
    int n_op_types;
} teq_model_stats;
TEQ_API void teq_model_stats_get(const teq_model *m, teq_model_stats *st);
/* The quantizer's report kept in a .teq file (JSON text, the same keys as `teq quantize --json`),
 * or NULL for a model that has none (ONNX files). Owned by the model. */
TEQ_API const char *teq_model_metadata(const teq_model *m);

/* The i-th operator type in first-seen order and how many nodes of it the loaded file held. */
TEQ_API teq_status teq_model_op_type(const teq_model *m, int i, const char **op_type, int64_t *count);

/* Run the model. inputs[i] is bound to the graph input named names[i] (names may be NULL when the
 * model has exactly n_inputs inputs: they bind in order). On success outputs[j] receives a new
 * tensor for graph output j (free each with teq_tensor_free); outputs must hold
 * teq_model_num_outputs(m) pointers. */
TEQ_API teq_status teq_model_run(teq_model *m, int n_inputs, const char *const *names,
                                 const teq_tensor *const *inputs, teq_tensor **outputs, teq_error *err);

/* Per-node timing, as ONNX Runtime's profiler gives it. teq_model_profile(m, 1) clears the counters and
 * times every node of each later teq_model_run (a monotonic clock around each node; nothing is timed
 * while off); teq_model_profile(m, 0) stops and frees them. The nodes are those of the graph as it runs:
 * after constant folding and fusion, in run order. A node that a convolution before it applied already
 * (a fused activation, BatchNormalization or quantizer) hands its input on and shows about 0 s; its cost
 * is in that convolution's time. */
typedef struct teq_node_profile {
    const char *name, *op_type; /* owned by the model */
    double seconds;             /* summed over `runs` runs */
    int64_t runs;
    int ndim;                   /* the first output's shape in the last run (0 when the node has none) */
    int64_t dims[TEQ_MAX_DIMS];
} teq_node_profile;
TEQ_API teq_status teq_model_profile(teq_model *m, int on, teq_error *err);
/* The number of nodes timed (0 while profiling is off), and node i's figures. */
TEQ_API int teq_model_profile_nodes(const teq_model *m);
TEQ_API teq_status teq_model_profile_node(const teq_model *m, int i, teq_node_profile *out, teq_error *err);

/* ---- Data sets (generated by teq, for calibration and evaluation) ----
 * A data set is a folder:
 *   inputs.npy    float32 [N, ...]: the model inputs, already normalised as the model expects
 *   labels.txt    optional, UTF-8, one label per line (N lines): the text of an OCR line, "0"/"180",
 *                 a class index ("0".."9" for Fashion-MNIST)
 *   dataset.json  what it is: {"kind": ..., "n": N, "shape": [...], "seed": S, "normalisation": ..., ...}
 *   preview.png   the first samples as a picture */

/* Render N text lines of consecutive words from a UTF-8 text with FreeType, black on white, height
 * `height`, normalised as PP-OCR expects, (x/255 - 0.5)/0.5, as [N,3,height,width]. Right of the text
 * (plus a 4-pixel white margin) each line is padded to `width` with 0, as PP-OCR's own resize_norm_img
 * pads (white padding makes the recogniser read characters into the white). Characters a font lacks
 * are skipped from the label too. Deterministic in seed. */
typedef struct teq_ocr_lines_opts {
    const char *text_path;
    const char *const *font_paths; /* one font is drawn per line, in turn or at random by seed */
    int n_fonts;
    int n;                         /* lines */
    uint64_t seed;
    int width;                     /* 0: 320 */
    int height;                    /* 0: 48 */
    const char *keys_path;         /* optional: keep only characters in this PP-OCR key list */
    const char *out_dir;
} teq_ocr_lines_opts;
TEQ_API teq_status teq_dataset_ocr_lines(const teq_ocr_lines_opts *o, teq_error *err);

/* Synthetic inputs for the other models: kind "ocr-cls" (text lines at 48x192, padded with 0 as
 * above, half of them turned by 180 degrees, labels "0"/"180"), "ocr-det" (pages of text, [N,3,H,W]
 * ImageNet-normalised), "blazeface" ([N,128,128,3] in [-1,1], with face-like figures), "mlsd"
 * ([N,320,320,4] RGB 0..255 + a channel of ones, with line drawings).
 * text_path/font_paths as above where text is drawn; shape overrides the default H and W when given. */
typedef struct teq_synth_opts {
    const char *kind;
    const char *text_path;
    const char *const *font_paths;
    int n_fonts;
    int n;
    uint64_t seed;
    int height, width; /* 0: the kind's default */
    const char *out_dir;
} teq_synth_opts;
TEQ_API teq_status teq_dataset_synth(const teq_synth_opts *o, teq_error *err);

/* Images and labels in the IDX format of MNIST and Fashion-MNIST (gzip-compressed or plain): images
 * [N,rows,cols] of unsigned bytes, labels [N] of unsigned bytes. Writes inputs.npy [n,1,rows,cols]
 * float32 scaled as (pixel/255 - mean) / std, labels.txt (the class index of each image in decimal,
 * when labels_path is given), dataset.json and preview.png; images offset .. offset+n-1 (n 0: all from
 * offset on). Every header field is checked (magic, element type, dimensions, data length against
 * the header, image and label counts, offset and n against the count); a refusal writes nothing. */
typedef struct teq_idx_opts {
    const char *images_path;
    const char *labels_path;  /* optional */
    double mean, std;         /* std > 0; Fashion-MNIST's are TEQ_FMNIST_MEAN and TEQ_FMNIST_STD */
    int64_t n, offset;
    const char *out_dir;
} teq_idx_opts;
#define TEQ_FMNIST_MEAN 0.2860
#define TEQ_FMNIST_STD 0.3530
TEQ_API teq_status teq_dataset_idx(const teq_idx_opts *o, teq_error *err);

/* ---- Evaluation ----
 * Suites: "ocr-rec" (greedy CTC decoding with the PP-OCR key list; needs labels: line_accuracy and
 * cer in percent), "ocr-cls" (accuracy on labels "0"/"180", and agreement with the reference),
 * "classify" (top-1 accuracy against class-index labels such as `teq dataset idx` writes, and
 * agreement with the reference), "ocr-det", "blazeface", "mlsd", "fidelity" (agreement with the reference model's outputs on the
 * same inputs; each suite documents its measures). reference may be NULL for suites with labels. */
typedef struct teq_eval_opts {
    const char *keys_path;   /* ocr-rec: the key list; NULL: ppocr_keys_v1.txt beside the model */
    teq_model *reference;    /* FP32 model for agreement measures, or NULL */
    int64_t limit;           /* evaluate at most this many samples (0: all) */
    int batch;               /* samples per run (0: 8) */
    /* The model (not the reference) sees every input value moved by -perturb, 0 or +perturb, chosen at
     * random (seeded by perturb_seed); channels that hold one constant over the data set (M-LSD's alpha
     * of ones) are left alone. With the FP32 model as its own reference and perturb = one step of the
     * input's 8-bit pixels (1/127.5 for BlazeFace's x/127.5-1, 1.0 for raw 0..255), the result is the
     * metric's noise floor: what a change of one pixel level does to it. 0: no perturbation. */
    double perturb;
    uint64_t perturb_seed;
} teq_eval_opts;

#define TEQ_EVAL_MAX_METRICS 16
typedef struct teq_eval_result {
    char suite[32];
    int64_t n;                            /* samples evaluated */
    int n_metrics;
    char metric_names[TEQ_EVAL_MAX_METRICS][40];
    double metrics[TEQ_EVAL_MAX_METRICS]; /* percent where the name says so (see the suite) */
    char primary[40];                     /* the metric a --max-loss budget applies to (higher is better) */
    int64_t units; /* the items the primary counts: one item moves it by about 100/units points (samples for
                    * accuracy and agreement, the reference's objects for box, face and line F1, rows
                    * times outputs for fidelity's top-1 outputs); 0 when the primary is not a count of
                    * items (IoU, fidelity of L2 outputs) */
} teq_eval_result;

TEQ_API teq_status teq_eval(teq_model *m, const char *suite, const char *data_dir, const teq_eval_opts *o,
                            teq_eval_result *out, teq_error *err);
/* Write the result as a JSON object {"suite":..., "n":..., "<metric>": value, ...} atomically. */
TEQ_API teq_status teq_eval_write_json(const char *path, const teq_eval_result *r, teq_error *err);

/* ---- Distribution analysis (METHOD section 4) ---- */

typedef struct teq_tensor_analysis {
    char name[160];        /* "<layer> W" or "<layer> A" (input slot in brackets for two activations) */
    char layer[96];
    char op[16];
    int is_weight;
    int64_t n;             /* values fitted (weights: all; activations: the calibration sample) */
    double zero_fraction;  /* exact zeros (left out of the fits) */
    double ks[4];          /* Kolmogorov-Smirnov statistic: uniform, gaussian, laplace, exponential */
    char best[16];         /* the family with the lowest KS */
} teq_tensor_analysis;

typedef struct teq_analysis {
    int n;
    teq_tensor_analysis *t;
    int best_count[4];          /* tensors each family fits best */
    double share_exponential;   /* best_count[3] / n */
    int64_t n_calib;            /* calibration samples (0: weights only) */
} teq_analysis;

/* Fit the four families to every weight tensor of every dot-product layer and, with calibration
 * data (calib_path not NULL), to every input activation. plots_dir (optional): one SVG per tensor
 * and overview.svg. */
TEQ_API teq_status teq_analyze(const char *model_path, const char *calib_path, int64_t calib_limit, int threads,
                               const char *plots_dir, int progress, teq_analysis **out, teq_error *err);
TEQ_API void teq_analysis_free(teq_analysis *a);
TEQ_API teq_status teq_analysis_write_json(const char *path, const teq_analysis *a, teq_error *err);

/* ---- Quantization ---- */

typedef struct teq_quantize_opts {
    const char *calib_path;   /* data set folder, .npy with the batch first, or a folder of .npy */
    const char *scheme;       /* "teq" (exponential, adaptive; default), "int8" (linear per-tensor,
                                 symmetric weights, asymmetric activations), "linear" (the same
                                 adaptive search with linear codes whose clip range is searched) */
    double max_loss;          /* budget in points of the budget metric (0: the default, 1; negative: no loss at all) */
    int bits_w, bits_a;       /* fixed widths for every layer (0: adaptive; int8 defaults to 8,8) */
    const char *int8_calib;   /* int8 activations: "minmax" (default) or "percentile" */
    const char *suite;        /* with data_path: the budget is this suite's task metric */
    const char *data_path;
    const char *keys_path;
    int threads;              /* 0: 1 */
    int64_t calib_limit;      /* at most this many calibration samples (0: all) */
    int64_t search_limit;     /* samples per budget evaluation during the search (0: 64) */
    int64_t eval_limit;       /* samples for the final FP32/INT8/teq accuracy (0: all of the data) */
    int progress;             /* report progress on stderr (the CLI sets it on a terminal) */
    int per_tensor_weights;   /* 1: one scale per weight tensor; 0 (default): one per output channel,
                                 the code (base, alpha, beta / linear step) still shared by the tensor */
    int no_bias_correction;   /* 1: leave Conv biases as they are; 0 (default): correct each for the mean
                                 output shift its quantized weights cause on the calibration data */
    int shift;                /* shifted codes for lower-bounded activations (HardSwish, Swish; docs/DECISIONS.md,
                                 "Shifted codes"): 1 on, -1 off, 0 the default (on) */
    const char *rounding;     /* weights: "nearest" (each weight to its nearest level) or "gptq" (GPTQ/OBQ:
                                 columns rounded in turn, each error spread onto the columns not yet
                                 rounded through the Cholesky factor of (X^T X)^-1 of the calibration
                                 inputs); NULL: the default (docs/DECISIONS.md) */
    const char *search;       /* width search: "fast" (default: measured per-tensor distortion tables,
                                 allocation along their convex hulls, bisection and refinement on the
                                 budget metric) or "greedy" (the slow oracle: from 3 bits everywhere, add
                                 +1/+2 bits where KL(FP32 || quantized) on the search samples drops most
                                 per added bit, full model each step, until within budget) */
    const char *val_path;     /* held-out data for the budget (same kind as the budget data); NULL: the
                                 last quarter of the budget data is held out of calibration and search */
    int int_lanes;            /* 1: after the search, run the exponential Convs and constant-weight MatMuls
                                 that can on integer lanes (int16 levels, then 8-bit ones; depthwise Convs
                                 and MatMuls 8-bit only; VNNI; docs/DECISIONS.md) where they
                                 measure at least 10% faster here and the budget metric on the held-out
                                 samples (the search samples without any) stays within 0.2 point of the
                                 exact layers: marked in the file (node attribute int_lanes; on 8 bits
                                 int_lanes_top where the u8 grid ends below the code's largest level,
                                 chosen by the least error on the calibration batch); 16: int16 lanes
                                 only. The choice depends on measured times. */
    double int_lanes_loss;    /* that tolerance in points (0: the default, 0.2) */
    const char *pareto_path;  /* NULL, or an .svg: budget metric against average bits for the exponential
                                 and the linear code under the same search, INT8 point, FP32 line; the
                                 same figures go to the .json beside it */
} teq_quantize_opts;

typedef struct teq_layer_report {
    char name[96];
    char op[16];
    char w_shape[48], a_shape[48];   /* a_shape per sample, at the calibration shape */
    int64_t numel_w, numel_a;        /* numel_a per sample */
    int act_x_act;                   /* both inputs are activations ("W" is the second one) */
    int bits_w, bits_a;
    int code;                        /* 1 exponential, 2 linear */
    double base;
    double alpha_w, beta_w, alpha_a, beta_a;  /* exponential codes */
    double scale_w, scale_a;                  /* linear codes */
    int zero_w, zero_a, signed_a;
    double err_w, err_a;                      /* RMAE on the weights / calibration sample */
    char dist_w[16], dist_a[16];              /* best-fitting family (KS) */
    double ks_exp_w, ks_exp_a;
    /* Output distortion ||y - y_fp32||^2 / ||y_fp32||^2 with only this tensor quantized at 4 bits
     * (adaptive search only; NaN otherwise): how much this layer limits the width. */
    double sens_w, sens_a;
    /* Shifted activation code: the input is quantized as x + shift (unsigned), the Conv's bias holds
     * -shift * sum(w) and its padding the quantized shift. shift_source: "hardswish", "swish" (bound
     * of the producing operator), "measured" (calibration minimum), "" when the layer had no candidate. */
    int shifted;
    double shift;
    char shift_source[16];
    int int_lanes; /* --int-lanes: 16 or 8 where the layer runs on integer lanes of that width, else 0 */
    int int_lanes_top; /* 8: the activation code whose |level| tops the u8 grid (larger ones saturate), -1: the
                        * code's largest level */
} teq_layer_report;

typedef struct teq_quantize_report {
    char scheme[16];
    char budget_metric[160];      /* what the budget was applied to, in words */
    double max_loss;
    int n_layers;
    teq_layer_report *layers;
    double avg_bits_weights, avg_bits_activations, avg_bits, compression_vs_int8;
    int64_t weight_bytes;         /* packed codes of the quantized weights */
    int64_t weight_bytes_fp32;
    char metric[64];              /* the accuracy figures below measure this */
    int64_t metric_n;
    double acc_fp32, acc_int8, acc_quant;
    double t_calib_s, t_search_s, t_eval_s, t_total_s;
    int n_search_evals;
    int64_t n_calib;
    int per_channel;              /* weights had per-channel scales */
    char rounding[16];            /* weight rounding: "nearest" or "gptq" */
    double share_exponential_best; /* of the tensors analysed, share where the exponential fits best */
    /* the width search (adaptive schemes; zero / NaN otherwise) */
    char search[16];              /* "fast", "greedy", or "fixed" (--bits, int8) */
    int64_t n_search, n_heldout;  /* samples of the budget metric in the search and held out of it */
    int64_t n_table;              /* samples of the distortion tables (fast) or of the KL (greedy) */
    double ref_search, ref_heldout;       /* FP32's budget metric on each part */
    double metric_search, metric_heldout; /* the chosen configuration's */
    int budget_resolvable;        /* one item of a counted metric (sample or object) moves it by at most max_loss points */
    char budget_note[200];        /* why the budget cannot be resolved, or "" */
    int within_budget_search;     /* the chosen configuration met the budget on both parts */
    int within_budget_final;      /* acc_fp32 - acc_quant <= max_loss on the final evaluation */
    double t_table_s;             /* time of the distortion tables (part of t_search_s) */
    int n_refine_tries, n_refine_taken;
    int n_context_taken;          /* bits taken off by the rounds in context (fast search) */
    /* --int-lanes: layers that could and that do run on integer lanes, the budget metric with the exact
     * layers and with the chosen lanes (fast kernels both), on lanes_samples ("held out" or "search") */
    int n_lanes_eligible, n_lanes;
    double lanes_metric_exact, lanes_metric;
    char lanes_samples[16];
    int n_lanes8; /* of n_lanes, those on 8-bit lanes */
} teq_quantize_report;

TEQ_API teq_status teq_quantize(const char *model_path, const char *out_path, const teq_quantize_opts *o,
                                teq_quantize_report **report, teq_error *err);
TEQ_API void teq_quantize_report_free(teq_quantize_report *r);
/* JSON with the keys avg_bits_weights, avg_bits_activations, avg_bits, compression_vs_int8, scheme,
 * budget_metric, layers[...] and the rest of the report. */
TEQ_API teq_status teq_quantize_report_write_json(const char *path, const teq_quantize_report *r, teq_error *err);

/* ---- Export to ONNX ----
 * Write the .teq model at teq_path as a standard-operator ONNX model (opset 13, or the source model's when
 * later) that computes what `TEQ_KERNEL=dequant teq run` computes: exponential weights as their decoded
 * float32 levels times the channel scales, each exponential activation quantizer as Greater/Gather/Where
 * over teq's own float32 thresholds (the same code for every input), INT8 layers as QuantizeLinear /
 * DequantizeLinear pairs; graph input and output names and shapes are kept. The file is written
 * atomically (temporary name, then rename): on failure onnx_path is left as it was. Mapping and measured
 * agreement: docs/ARCHITECTURE.md, docs/DECISIONS.md. */
TEQ_API teq_status teq_export_onnx(const char *teq_path, const char *onnx_path, teq_error *err);

/* ---- Benchmark (teq bench) ----
 * Kernel level (GEMV and GEMM on real shapes: OpenBLAS FP32, teq INT8, teq exponential at 3/4/5 bits,
 * GB/s of weights against the memory bandwidth measured in the same run) and model level (FP32, INT8 and
 * exponential .teq latency, from models_dir: rec_fp32.onnx, rec_int8.teq, rec_teq.teq, det_*; missing
 * files are skipped with a message). Prints a table on out. JSON keys: cpu, isa, threads,
 * memory_bandwidth_gbps, results[{kind, name, format, median_s, min_s, weights_gbps (kernels)}]. */
typedef struct teq_bench_opts {
    const char *json_path;  /* NULL: no JSON */
    int repeat;             /* timed samples per case (0: 7) */
    int threads;            /* 0: 1 */
    const char *models_dir; /* NULL: skip the model level */
    int quick;              /* fewer shapes (tests) */
} teq_bench_opts;
TEQ_API teq_status teq_bench_run(const teq_bench_opts *o, FILE *out, teq_error *err);
/* ---- Energy model (METHOD section 6; assumptions in docs/DECISIONS.md, "Energy model") ----
 * For every quantized dot-product layer of a .teq model: the operation counts of the exponential
 * datapath (exponent additions, counter updates, the final multiplies against the table of powers of
 * b) and of an INT8 multiply-accumulate datapath for the same layer, the buffer (SRAM) and DRAM
 * traffic at each format's widths, and their energy under a per-operation table. Layer shapes and
 * zero rates come from one run of the model on an input (a given .npy, or a synthetic one). */

/* Energies in pJ. The default (teq_energy_table_default) is Horowitz, ISSCC 2014, 45 nm. */
typedef struct teq_energy_table {
    double int_add_8, int_add_32;   /* integer additions, 8 and 32 bits */
    double int_mul_8, int_mul_32;   /* integer multiplications, 8 and 32 bits */
    double fp_add_32, fp_mul_32;    /* float32 addition, multiplication */
    double sram_64b;                /* read or write of 64 bits of the on-chip buffer (8 KB array) */
    double dram_64b;                /* DRAM access, 64 bits */
    char source[160];               /* where the numbers come from */
} teq_energy_table;
TEQ_API void teq_energy_table_default(teq_energy_table *t);
/* Read a table file: one `name value_pj` per line, `#` starts a comment, every entry of
 * teq_energy_table given exactly once (names as the fields above). A malformed, unknown, repeated,
 * negative or missing entry is refused with a message naming the file and the line. */
TEQ_API teq_status teq_energy_table_read(const char *path, teq_energy_table *t, teq_error *err);

typedef struct teq_energy_opts {
    const teq_energy_table *table; /* NULL: the default table */
    const char *input_path;   /* .npy with the batch first (each sample is one inference), or NULL: synthetic */
    int shape_ndim;           /* synthetic input shape (0: the declared shape, a dynamic batch taken as 1) */
    int64_t shape[TEQ_MAX_DIMS];
    uint64_t seed;            /* synthetic input: uniform in [-1, 1] from this seed */
    int64_t limit;            /* at most this many samples of input_path (0: 8) */
    int no_zero_skip;         /* 1: the exponential datapath does not skip zero operands */
    int final_int_bits;       /* per-output stage of both datapaths (the exponential one's products with the
                                 powers of b, INT8's requantization): 0 (default) in float32; 8..32: integer
                                 multiplies of that width (fixed-point powers of b) with 32-bit adds */
    int threads;              /* 0: 1 */
} teq_energy_opts;

/* Per layer, per inference (averaged over the samples run). Counts are doubles because they are
 * averages. */
typedef struct teq_energy_layer {
    char name[96];
    char op[16];
    char code[12];            /* "exponential" or "linear" (a linear layer runs on a MAC datapath in both) */
    int bits_w, bits_a;
    int levels_w, levels_a;   /* exponent values E_W, E_A of the exponential code */
    double shift;             /* the activation's shift c (shifted code), 0 for none: its -c*sum(w) is in the
                                 bias add counted per output; its padded taps are operands (pairs) */
    int n_counters;           /* counters updated per element pair: C1, plus C2/C3/C4 where beta != 0 */
    int exp_add_bits, counter_bits;
    double outputs;           /* output elements */
    double macs;              /* dense multiply-accumulates, padding taps included (outputs x K) */
    double taps;              /* multiply-accumulates whose input lies inside the tensor (no padding) */
    double pairs_nonzero;     /* of those, pairs where neither operand is an exact zero */
    double zero_w, zero_a;    /* fraction of exact zeros in W and in the activation */
    /* exponential datapath */
    double teq_exp_adds, teq_counter_updates, teq_final_muls, teq_final_adds;
    double teq_macs;          /* linear-coded layers only */
    /* INT8 datapath */
    double int8_macs, int8_requant_muls, int8_requant_adds;
    double teq_dram_bytes, teq_sram_bytes, int8_dram_bytes, int8_sram_bytes;
    double pj_teq_compute, pj_teq_sram, pj_teq_dram, pj_teq;
    double pj_int8_compute, pj_int8_sram, pj_int8_dram, pj_int8;
} teq_energy_layer;

#define TEQ_ENERGY_MAX_ASSUMPTIONS 24
typedef struct teq_energy_report {
    int n_layers;
    teq_energy_layer *layers;
    int n_unquantized;        /* dot-product layers left in float32 (not counted) */
    int64_t samples;          /* inferences the counts are averaged over */
    char input[320];          /* what was run, in words */
    teq_energy_table table;
    double total_pj_teq, total_pj_int8, saving_vs_int8;        /* saving = 1 - teq / int8 */
    double pj_teq_compute, pj_int8_compute, saving_compute;
    double pj_teq_memory, pj_int8_memory, saving_memory;      /* SRAM + DRAM */
    double pj_teq_dram, pj_int8_dram, pj_teq_sram, pj_int8_sram;
    int n_assumptions;
    char assumptions[TEQ_ENERGY_MAX_ASSUMPTIONS][320];
} teq_energy_report;

TEQ_API teq_status teq_energy_analyze(teq_model *m, const teq_energy_opts *o, teq_energy_report **out, teq_error *err);
TEQ_API void teq_energy_report_free(teq_energy_report *r);
/* JSON (atomically): total_pj_teq, total_pj_int8, saving_vs_int8 (a fraction), assumptions (strings),
 * layers (objects), and the compute/memory split, the table and the input. */
TEQ_API teq_status teq_energy_write_json(const char *path, const teq_energy_report *r, teq_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TEQ_H */
