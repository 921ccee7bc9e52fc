"""ctypes view of libteq: where the library is found, the C structs it shares, and every prototype.

Only what include/teq.h declares is used here, so this layer keeps working when the shared library
exports nothing else. Each Structure below mirrors its C struct field by field, in the header's order
and with the header's types: ctypes then lays it out with the platform C compiler's rules, and
tests/python/test_teq.py compiles the header and compares every offset and size, because a mismatch
would make the library write past a Python-owned buffer rather than fail cleanly.
"""

import ctypes
import ctypes.util
import os
import pathlib

MAX_DIMS = 8  # TEQ_MAX_DIMS
EVAL_MAX_METRICS = 16  # TEQ_EVAL_MAX_METRICS

# teq_dtype values are ONNX's TensorProto.DataType numbers; the NumPy type names they hold.
DTYPES = {1: "float32", 2: "uint8", 3: "int8", 6: "int32", 7: "int64", 9: "bool", 11: "float64"}
DTYPE_CODES = {name: code for code, name in DTYPES.items()}

c_str = ctypes.c_char_p
c_i64 = ctypes.c_int64
c_int = ctypes.c_int
c_double = ctypes.c_double
c_void = ctypes.c_void_p


class Error(Exception):
    """A failure reported by libteq (or by these bindings before calling it).

    str(error) is the library's one-line message, which names the file and the problem; status is
    the teq_status number (1 I/O, 2 format, 3 unsupported, 4 shape, 5 memory, 6 argument, 7 internal).
    """

    def __init__(self, message, status=6):
        super().__init__(message)
        self.status = status

    @property
    def message(self):
        return self.args[0]


class TeqError(ctypes.Structure):
    _fields_ = [("status", c_int), ("msg", ctypes.c_char * 512)]


class TeqTensor(ctypes.Structure):
    _fields_ = [
        ("dtype", c_int),
        ("ndim", c_int),
        ("dims", c_i64 * MAX_DIMS),
        ("data", c_void),
        ("capacity", ctypes.c_size_t),
    ]


class TeqIoInfo(ctypes.Structure):
    _fields_ = [
        ("name", c_str),
        ("dtype", c_int),
        ("ndim", c_int),
        ("dims", c_i64 * MAX_DIMS),
        ("dim_names", c_str * MAX_DIMS),
    ]


class TeqEvalOpts(ctypes.Structure):
    _fields_ = [
        ("keys_path", c_str),
        ("reference", c_void),
        ("limit", c_i64),
        ("batch", c_int),
        ("perturb", c_double),
        ("perturb_seed", ctypes.c_uint64),
    ]


class TeqEvalResult(ctypes.Structure):
    # Only ever filled by teq_eval and handed to teq_eval_write_json; mirrored so that its size is right.
    _fields_ = [
        ("suite", ctypes.c_char * 32),
        ("n", c_i64),
        ("n_metrics", c_int),
        ("metric_names", (ctypes.c_char * 40) * EVAL_MAX_METRICS),
        ("metrics", c_double * EVAL_MAX_METRICS),
        ("primary", ctypes.c_char * 40),
        ("units", c_i64),
    ]


class TeqQuantizeOpts(ctypes.Structure):
    _fields_ = [
        ("calib_path", c_str),
        ("scheme", c_str),
        ("max_loss", c_double),
        ("bits_w", c_int),
        ("bits_a", c_int),
        ("int8_calib", c_str),
        ("suite", c_str),
        ("data_path", c_str),
        ("keys_path", c_str),
        ("threads", c_int),
        ("calib_limit", c_i64),
        ("search_limit", c_i64),
        ("eval_limit", c_i64),
        ("progress", c_int),
        ("per_tensor_weights", c_int),
        ("no_bias_correction", c_int),
        ("shift", c_int),
        ("rounding", c_str),
        ("search", c_str),
        ("val_path", c_str),
        ("int_lanes", c_int),
        ("int_lanes_loss", c_double),
        ("pareto_path", c_str),
    ]


class TeqNodeProfile(ctypes.Structure):
    _fields_ = [
        ("name", c_str),
        ("op_type", c_str),
        ("seconds", ctypes.c_double),
        ("runs", c_i64),
        ("ndim", c_int),
        ("dims", c_i64 * MAX_DIMS),
    ]


# The structs that cross the boundary by address, with their C names (the layout test walks these).
STRUCTS = {
    "teq_error": TeqError,
    "teq_tensor": TeqTensor,
    "teq_io_info": TeqIoInfo,
    "teq_eval_opts": TeqEvalOpts,
    "teq_eval_result": TeqEvalResult,
    "teq_quantize_opts": TeqQuantizeOpts,
    "teq_node_profile": TeqNodeProfile,
}

P = ctypes.POINTER
# name: (return type, argument types). Reports (teq_quantize_report, teq_analysis) stay opaque
# pointers: they only go back to the library's own *_write_json and *_free.
PROTOTYPES = {
    "teq_status_string": (c_str, [c_int]),
    "teq_kernels_name": (c_str, []),
    "teq_blas_name": (c_str, []),
    "teq_tensor_free": (None, [P(TeqTensor)]),
    "teq_npy_write": (c_int, [c_str, P(TeqTensor), P(TeqError)]),
    "teq_model_load": (c_int, [c_str, P(c_void), P(TeqError)]),
    "teq_model_free": (None, [c_void]),
    "teq_model_set_threads": (None, [c_void, c_int]),
    "teq_model_num_inputs": (c_int, [c_void]),
    "teq_model_num_outputs": (c_int, [c_void]),
    "teq_model_input_info": (c_int, [c_void, c_int, P(TeqIoInfo)]),
    "teq_model_output_info": (c_int, [c_void, c_int, P(TeqIoInfo)]),
    "teq_model_metadata": (c_str, [c_void]),
    "teq_model_run": (c_int, [c_void, c_int, P(c_str), P(P(TeqTensor)), P(P(TeqTensor)), P(TeqError)]),
    "teq_eval": (c_int, [c_void, c_str, c_str, P(TeqEvalOpts), P(TeqEvalResult), P(TeqError)]),
    "teq_eval_write_json": (c_int, [c_str, P(TeqEvalResult), P(TeqError)]),
    "teq_analyze": (c_int, [c_str, c_str, c_i64, c_int, c_str, c_int, P(c_void), P(TeqError)]),
    "teq_analysis_free": (None, [c_void]),
    "teq_analysis_write_json": (c_int, [c_str, c_void, P(TeqError)]),
    "teq_quantize": (c_int, [c_str, c_str, P(TeqQuantizeOpts), P(c_void), P(TeqError)]),
    "teq_quantize_report_free": (None, [c_void]),
    "teq_quantize_report_write_json": (c_int, [c_str, c_void, P(TeqError)]),
}

# Bound on first use (teq.export): a libteq built before it existed must still load.
OPTIONAL = {
    "teq_export_onnx": (c_int, [c_str, c_str, P(TeqError)]),
    "teq_model_profile": (c_int, [c_void, c_int, P(TeqError)]),
    "teq_model_profile_nodes": (c_int, [c_void]),
    "teq_model_profile_node": (c_int, [c_void, c_int, P(TeqNodeProfile), P(TeqError)]),
}


def candidates():
    """Where libteq is looked for, in order: (path or soname, how it was found)."""
    env = os.environ.get("TEQ_LIBRARY")
    if env:
        # An explicit choice is the only one: falling back elsewhere would hide a typo.
        return [(env, "TEQ_LIBRARY")]
    out = []
    # python/teq/_lib.py -> the repository root, whose build/ holds the library `make` built.
    repo_build = pathlib.Path(__file__).resolve().parents[2] / "build" / "libteq.so"
    if repo_build.exists():
        out.append((str(repo_build), "the repository's build"))
    found = ctypes.util.find_library("teq")
    if found:
        out.append((found, "the system's library path"))
    out.append(("libteq.so.0", "the system's library path"))
    return out


_lib = None


def lib():
    """The loaded library with its prototypes set (loaded once, on first use)."""
    global _lib
    if _lib is not None:
        return _lib
    tried = []
    handle = None
    for path, how in candidates():
        try:
            handle = ctypes.CDLL(path)
            break
        except OSError as e:
            tried.append(f"{path} ({how}: {str(e).splitlines()[0]})")
    if handle is None:
        raise Error("libteq not found: tried " + "; ".join(tried)
                    + "; build it with `make` or set TEQ_LIBRARY to the path of libteq.so", 1)
    for name, (res, args) in PROTOTYPES.items():
        try:
            f = getattr(handle, name)
        except AttributeError:
            raise Error(f"{handle._name}: has no {name}; it is not the libteq these bindings expect", 1) from None
        f.restype, f.argtypes = res, args
    _lib = handle
    return _lib


def optional(name):
    """An OPTIONAL function of the library, or None when this build lacks it."""
    handle = lib()
    try:
        f = getattr(handle, name)
    except AttributeError:
        return None
    f.restype, f.argtypes = OPTIONAL[name]
    return f


def check(status, err):
    """Raise the library's message when status is not TEQ_OK."""
    if status:
        msg = err.msg.decode("utf-8", "replace")
        if not msg:
            msg = lib().teq_status_string(status).decode()
        raise Error(msg, status)


def path_arg(p):
    """A path (str, bytes or os.PathLike) as the bytes the C functions take; None stays NULL."""
    return None if p is None else os.fsencode(p)
