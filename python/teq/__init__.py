"""teq from Python: load and run ONNX and .teq models, quantize, analyse, evaluate.

A thin layer over libteq.so through ctypes (no compiled extension), so it runs what the CLI runs:
the same inputs give the same output bytes and the same .teq files. The library is found through
TEQ_LIBRARY, else the repository's build/libteq.so, else the system's library path.

    import numpy as np, teq
    x = np.load("fm-calib/inputs.npy")  # a data set folder from `teq dataset idx`
    with teq.Model("models/fmnist_resnet.onnx") as m:
        scores = m.run(x)["logits"]
    report = teq.quantize("models/fmnist_resnet.onnx", calib=x, out="fm.teq", bits=(4, 6))

Every failure raises teq.Error with the library's one-line message.
"""

import collections
import contextlib
import ctypes
import json
import os
import tempfile
import threading

import numpy as np

from . import _lib
from ._lib import Error

__all__ = ["Error", "Model", "TensorInfo", "quantize", "analyze", "eval", "export", "kernels", "blas", "__version__"]
__version__ = "0.1.0"  # TEQ_VERSION_STRING of the header these bindings mirror

TensorInfo = collections.namedtuple("TensorInfo", "name dtype shape dim_names")
TensorInfo.__doc__ = """A graph input or output as the model declares it.

dtype is a numpy.dtype; shape a tuple with None where the dimension is dynamic (dim_names then holds
its symbolic name, or ""), or None when the model declares no shape."""


def kernels():
    """The dot-product kernel set chosen for this CPU ("avx2", "avx512+vnni", ...)."""
    return _lib.lib().teq_kernels_name().decode()


def blas():
    """The BLAS and the kernels it runs ("OpenBLAS SkylakeX"; teq_blas_name in teq.h)."""
    return _lib.lib().teq_blas_name().decode()


def _info(raw):
    if raw.ndim < 0:
        shape, names = None, None
    else:
        shape = tuple(None if raw.dims[d] < 0 else raw.dims[d] for d in range(raw.ndim))
        names = tuple((raw.dim_names[d] or b"").decode() for d in range(raw.ndim))
    dt = _lib.DTYPES.get(raw.dtype)
    return TensorInfo(raw.name.decode(), np.dtype(dt) if dt else None, shape, names)


def _to_tensor(arr):
    """A teq_tensor that borrows arr's memory (capacity 0: the library never frees it)."""
    code = _lib.DTYPE_CODES.get(arr.dtype.name)
    if code is None or arr.dtype.byteorder == ">":
        raise Error(f"input of type {arr.dtype} not supported (teq takes "
                    + ", ".join(_lib.DTYPES.values()) + ", native byte order)")
    if arr.ndim > _lib.MAX_DIMS:
        raise Error(f"input has {arr.ndim} dimensions; teq takes at most {_lib.MAX_DIMS}")
    t = _lib.TeqTensor()
    t.dtype, t.ndim = code, arr.ndim
    for d, n in enumerate(arr.shape):
        t.dims[d] = n
    t.data = arr.ctypes.data if arr.size else None
    t.capacity = 0
    return t


def _from_tensor(ptr):
    """A NumPy array owned by Python holding a copy of a tensor the library made."""
    t = ptr.contents
    dt = _lib.DTYPES.get(t.dtype)
    if dt is None:
        raise Error(f"output of teq type {t.dtype} has no NumPy equivalent", 7)
    out = np.empty(tuple(t.dims[d] for d in range(t.ndim)), dtype=dt)
    if out.nbytes:
        ctypes.memmove(out.ctypes.data, t.data, out.nbytes)
    return out


class Model:
    """An ONNX model or a .teq file written by teq quantize, loaded once and run many times.

    m.inputs and m.outputs list TensorInfo in the graph's order; m.run(...) returns a dict from output
    name to a NumPy array. Freed by close(), by leaving a `with` block, or when garbage-collected.
    """

    def __init__(self, path, threads=1):
        self.path = os.fspath(path)
        self._m = None
        # ctypes releases the GIL during a call, and a model's executor (its buffers) serves one run at
        # a time: runs from several Python threads on one Model wait here, and close() waits for a run.
        self._lock = threading.Lock()
        lib = _lib.lib()
        err = _lib.TeqError()
        handle = ctypes.c_void_p()
        _lib.check(lib.teq_model_load(_lib.path_arg(path), ctypes.byref(handle), ctypes.byref(err)), err)
        self._m = handle
        self.threads = threads
        info = _lib.TeqIoInfo()
        self.inputs, self.outputs = [], []
        for count, get, dest in ((lib.teq_model_num_inputs, lib.teq_model_input_info, self.inputs),
                                 (lib.teq_model_num_outputs, lib.teq_model_output_info, self.outputs)):
            for i in range(count(handle)):
                _lib.check(get(handle, i, ctypes.byref(info)), err)
                # the name strings belong to the model: _info copies them into Python str
                dest.append(_info(info))

    @property
    def threads(self):
        return self._threads

    @threads.setter
    def threads(self, n):
        n = int(n)
        if not 1 <= n <= 256:
            raise Error(f"{self.path}: threads must be in 1..256, not {n}")
        with self._lock:
            _lib.lib().teq_model_set_threads(self._handle(), n)
            self._threads = n

    @property
    def metadata(self):
        """The quantizer's report kept in a .teq file, as a dict; None for an ONNX model."""
        raw = _lib.lib().teq_model_metadata(self._handle())
        return None if raw is None else json.loads(raw.decode())

    def _handle(self):
        if self._m is None:
            raise Error(f"{self.path}: the model is closed")
        return self._m

    def run(self, inputs):
        """Run the model once.

        inputs: a dict {input name: array}, a list of arrays in the order of m.inputs, or one array
        for a model with one input. NumPy arrays keep their dtype (the library refuses one the model
        does not declare, as `teq run` refuses such a .npy); other values (lists, scalars) are
        converted to the declared dtype. Returns {output name: numpy.ndarray}.
        """
        self._handle()  # a closed model says so before any conversion
        if isinstance(inputs, dict):
            names = [str(k) for k in inputs]
            values = list(inputs.values())
        else:
            values = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
            names = None
        declared = {i.name: i.dtype for i in self.inputs}
        arrays = []
        for k, v in enumerate(values):
            if not isinstance(v, np.ndarray):
                key = names[k] if names else (self.inputs[k].name if k < len(self.inputs) else None)
                v = np.asarray(v, dtype=declared.get(key))
            # C order and aligned, as the library reads it; a copy only where needed
            arrays.append(np.require(v, requirements=("C", "A")))
        tensors = [_to_tensor(a) for a in arrays]
        n_in = len(tensors)
        ins = (ctypes.POINTER(_lib.TeqTensor) * max(n_in, 1))(*[ctypes.pointer(t) for t in tensors])
        c_names = None
        if names is not None:
            c_names = (ctypes.c_char_p * max(n_in, 1))(*[n.encode() for n in names])
        n_out = len(self.outputs)
        outs = (ctypes.POINTER(_lib.TeqTensor) * max(n_out, 1))()
        lib = _lib.lib()
        err = _lib.TeqError()
        with self._lock:
            status = lib.teq_model_run(self._handle(), n_in, c_names, ins, outs, ctypes.byref(err))
        try:
            _lib.check(status, err)
            return {self.outputs[j].name: _from_tensor(outs[j]) for j in range(n_out)}
        finally:
            # arrays stays referenced until here: the library read from their memory
            del arrays
            for j in range(n_out):
                if outs[j]:
                    lib.teq_tensor_free(outs[j])

    def profile(self, on=True):
        """Turn per-node timing on (clearing the counters) or off; while on, each run times every node."""
        err = _lib.TeqError()
        with self._lock:
            _lib.check(_lib.optional("teq_model_profile")(self._handle(), 1 if on else 0, ctypes.byref(err)), err)

    def profile_report(self):
        """The timed nodes since profile(True), in run order (the graph as it runs: folded and fused), as
        dicts {name, op_type, seconds, runs, shape}: seconds summed over `runs` runs, shape the first
        output's in the last run. Empty while profiling is off."""
        lib_n = _lib.optional("teq_model_profile_nodes")
        get = _lib.optional("teq_model_profile_node")
        err = _lib.TeqError()
        rec = _lib.TeqNodeProfile()
        out = []
        with self._lock:
            for i in range(lib_n(self._handle())):
                _lib.check(get(self._handle(), i, ctypes.byref(rec), ctypes.byref(err)), err)
                out.append({"name": rec.name.decode(), "op_type": rec.op_type.decode(), "seconds": rec.seconds,
                            "runs": rec.runs, "shape": [int(rec.dims[d]) for d in range(rec.ndim)]})
        return out

    def close(self):
        with self._lock:
            if self._m is not None:
                _lib.lib().teq_model_free(self._m)
                self._m = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # __init__ may have failed before _m existed, and at interpreter exit _lib may be gone
        if getattr(self, "_m", None) is not None and getattr(self, "_lock", None) is not None and _lib is not None:
            self.close()

    def __repr__(self):
        state = "closed" if self._m is None else f"{len(self.inputs)} inputs, {len(self.outputs)} outputs"
        return f"teq.Model({self.path!r}, {state})"


def _json_report(write, report):
    """Have the library write its report as JSON (the CLI's --json), and read it back."""
    with tempfile.TemporaryDirectory(prefix="teq-py-") as d:
        path = os.path.join(d, "report.json")
        err = _lib.TeqError()
        _lib.check(write(path.encode(), report, ctypes.byref(err)), err)
        with open(path, encoding="utf-8") as f:
            return json.load(f)


class _Data:
    """A data argument as the path the library takes: paths pass through, an array goes to a .npy
    (written by the library's own writer) in a temporary folder for as long as the call lasts."""

    def __init__(self, value, what):
        self.value, self.what, self.tmp = value, what, None

    def __enter__(self):
        v = self.value
        if v is None or not isinstance(v, np.ndarray):
            return _lib.path_arg(v)
        arr = np.require(v, requirements=("C", "A"))
        self.tmp = tempfile.TemporaryDirectory(prefix="teq-py-")
        path = os.path.join(self.tmp.name, f"{self.what}.npy").encode()
        t = _to_tensor(arr)
        err = _lib.TeqError()
        _lib.check(_lib.lib().teq_npy_write(path, ctypes.byref(t), ctypes.byref(err)), err)
        return path

    def __exit__(self, *exc):
        if self.tmp is not None:
            self.tmp.cleanup()


def _onoff(name, value):
    if value is None:
        return 0
    if value in (True, "on"):
        return 1
    if value in (False, "off"):
        return -1
    raise Error(f"quantize: {name} is True/'on' or False/'off', not {value!r}")


def quantize(onnx_path, calib, out, scheme=None, max_loss=None, bits=None, suite=None, data=None, keys=None,
             threads=1, calib_limit=0, search_limit=0, eval_limit=0, val=None, search=None, rounding=None,
             shift=None, int8_calib=None, weight_scales=None, bias_correction=None, int_lanes=False,
             int_lanes_loss=None, pareto=None, progress=False):
    """Quantize an ONNX model into a .teq file; returns the report (the keys of `teq quantize --json`).

    Options mean what the CLI's do (`teq --help`), with the CLI's defaults, so that the same options give
    the same file: calib is a data set folder, a .npy, a folder of .npy, or a NumPy array (batch first);
    max_loss in points (None: 1; 0: no loss at all); bits (W, A) fixes the widths; data with suite sets
    the budget metric; val is held-out data; shift, bias_correction and int_lanes take True/False
    (int_lanes also 16 or '16': int16 lanes only, as `--int-lanes 16`).
    """
    o = _lib.TeqQuantizeOpts()
    o.scheme, o.suite, o.int8_calib, o.rounding, o.search = (
        None if s is None else str(s).encode() for s in (scheme, suite, int8_calib, rounding, search))
    o.data_path, o.keys_path, o.val_path, o.pareto_path = (_lib.path_arg(p) for p in (data, keys, val, pareto))
    # The CLI's reading of --max-loss: absent is 1 point; 0 is "no loss", which the library reads from < 0.
    o.max_loss = 1.0 if max_loss is None else float(max_loss)
    if not 0 <= o.max_loss <= 100:
        raise Error(f"quantize: max_loss must be a number in 0..100, not {max_loss}")
    if o.max_loss == 0:
        o.max_loss = -1.0
    if bits is not None:
        o.bits_w, o.bits_a = (int(b) for b in bits)
    o.threads, o.calib_limit, o.search_limit, o.eval_limit = int(threads), int(calib_limit), int(search_limit), int(eval_limit)
    if o.threads < 1 or min(o.calib_limit, o.search_limit, o.eval_limit) < 0:
        raise Error("quantize: threads must be at least 1 and the limits at least 0")
    o.progress = 1 if progress else 0
    if weight_scales not in (None, "channel", "tensor"):
        raise Error(f"quantize: weight_scales is 'channel' or 'tensor', not {weight_scales!r}")
    o.per_tensor_weights = 1 if weight_scales == "tensor" else 0
    o.no_bias_correction = 1 if _onoff("bias_correction", bias_correction) < 0 else 0
    o.shift = _onoff("shift", shift)
    if int_lanes in (16, "16") and int_lanes is not True:
        o.int_lanes = 16  # as --int-lanes 16: int16 lanes only
    elif int_lanes in (None, True, False, "on", "off"):
        o.int_lanes = 1 if _onoff("int_lanes", int_lanes) > 0 else 0
    else:
        raise Error(f"quantize: int_lanes is True/'on', False/'off' or 16 (int16 lanes only), not {int_lanes!r}")
    if int_lanes_loss is not None:
        if not o.int_lanes:
            raise Error("quantize: int_lanes_loss needs int_lanes=True")
        o.int_lanes_loss = float(int_lanes_loss)
        if not 0 < o.int_lanes_loss <= 100:
            raise Error("quantize: int_lanes_loss must be a number in (0, 100]")
    lib = _lib.lib()
    err = _lib.TeqError()
    report = ctypes.c_void_p()
    with _Data(calib, "calib") as calib_path:
        o.calib_path = calib_path
        _lib.check(lib.teq_quantize(_lib.path_arg(onnx_path), _lib.path_arg(out), ctypes.byref(o),
                                    ctypes.byref(report), ctypes.byref(err)), err)
    try:
        return _json_report(lib.teq_quantize_report_write_json, report)
    finally:
        lib.teq_quantize_report_free(report)


def analyze(model_path, calib=None, calib_limit=0, threads=1, plots=None, progress=False):
    """Fit uniform, Gaussian, Laplace and exponential distributions to every weight (and, with calib, to
    every input activation) of the dot-product layers; returns `teq analyze --json`'s report.
    plots: a folder for one SVG per tensor and overview.svg (made if missing)."""
    if plots is not None:
        os.makedirs(plots, exist_ok=True)
    lib = _lib.lib()
    err = _lib.TeqError()
    analysis = ctypes.c_void_p()
    with _Data(calib, "calib") as calib_path:
        _lib.check(lib.teq_analyze(_lib.path_arg(model_path), calib_path, int(calib_limit), int(threads),
                                   _lib.path_arg(plots), 1 if progress else 0, ctypes.byref(analysis),
                                   ctypes.byref(err)), err)
    try:
        return _json_report(lib.teq_analysis_write_json, analysis)
    finally:
        lib.teq_analysis_free(analysis)


def eval(model, suite, data, reference=None, keys=None, limit=0, batch=0, perturb=0.0, seed=1, threads=1):
    """Evaluate a model (a path or a teq.Model) on a data set folder with a suite ("ocr-rec", "ocr-cls",
    "classify", "ocr-det", "blazeface", "mlsd", "fidelity"); returns `teq eval --json`'s object.
    reference: the FP32 model (path or teq.Model) for the agreement measures. A path is loaded with
    `threads` threads; a teq.Model keeps its own setting."""
    owned = []
    try:
        def load(m):
            if m is None or isinstance(m, Model):
                return m
            owned.append(Model(m, threads=threads))
            return owned[-1]

        m, ref = load(model), load(reference)
        o = _lib.TeqEvalOpts()
        o.keys_path = _lib.path_arg(keys)
        o.limit, o.batch, o.perturb, o.perturb_seed = int(limit), int(batch), float(perturb), int(seed)
        if o.limit < 0 or o.batch < 0 or o.perturb < 0:
            raise Error("eval: limit, batch and perturb must be at least 0")
        res = _lib.TeqEvalResult()
        err = _lib.TeqError()
        lib = _lib.lib()
        with contextlib.ExitStack() as held:
            # the models run inside teq_eval: no run or close from another thread meanwhile (one lock
            # each, once when the model is its own reference)
            for x in {id(x): x for x in (m, ref) if x is not None}.values():
                held.enter_context(x._lock)
            o.reference = ref._handle() if ref is not None else None
            _lib.check(lib.teq_eval(m._handle(), str(suite).encode(), _lib.path_arg(data), ctypes.byref(o),
                                    ctypes.byref(res), ctypes.byref(err)), err)
        return _json_report(lib.teq_eval_write_json, ctypes.byref(res))
    finally:
        for x in owned:
            x.close()


def export(teq_path, onnx_path):
    """Write a .teq model back out as an ONNX file (teq_export_onnx)."""
    f = _lib.optional("teq_export_onnx")
    if f is None:
        raise Error("this libteq has no ONNX export", 3)
    err = _lib.TeqError()
    _lib.check(f(_lib.path_arg(teq_path), _lib.path_arg(onnx_path), ctypes.byref(err)), err)
