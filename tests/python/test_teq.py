#!/usr/bin/python3
"""The Python package (python/teq) against the CLI built from the same library.

usage: /usr/bin/python3 tests/python/test_teq.py [build/teq]
       (env TEQ_MODELS, default cache/models; TEQ_FMNIST, default /usr/share/datasets/fashion-mnist)

The bindings must give what the CLI gives: the same output bytes from run, the same .teq bytes from
quantize, the same numbers from eval and analyze, and the library's one-line messages as teq.Error.
The library is the one beside the CLI (TEQ_LIBRARY is set to it), so any difference is the bindings'.
Last line: `N passed, M failed, K skipped`, as scripts/test.sh expects.
"""

import ctypes
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEQ = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build" / "teq").resolve()
os.environ.setdefault("TEQ_LIBRARY", str(TEQ.parent / "libteq.so"))
sys.path.insert(0, str(ROOT / "python"))
os.chdir(ROOT)

import numpy as np  # noqa: E402

import teq  # noqa: E402
from teq import _lib  # noqa: E402

MODELS = pathlib.Path(os.environ.get("TEQ_MODELS", "cache/models"))
FMNIST = pathlib.Path(os.environ.get("TEQ_FMNIST", "/usr/share/datasets/fashion-mnist"))
FMODEL = ROOT / "models" / "fmnist_resnet.onnx"
REC = MODELS / "ch_PP-OCRv4_rec_infer.onnx"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
TIME_KEYS = {"time_calibration_s", "time_search_s", "time_evaluation_s", "time_total_s", "time_tables_s"}

n_pass = n_fail = n_skip = 0


def check(name, cond, detail=""):
    global n_pass, n_fail
    if cond:
        n_pass += 1
        print(f"PASS {name}")
    else:
        n_fail += 1
        print(f"FAIL {name}" + (f": {detail}" if detail else ""))


def skip(name, why):
    global n_skip
    n_skip += 1
    print(f"SKIP {name}: {why}")


def skip_missing(name, path):
    """A file the set-up installs is missing: a SKIP here, a failure under CI=true (as tests/check.h)."""
    global n_fail
    if os.environ.get("CI") == "true":
        n_fail += 1
        print(f"FAIL {name}: {path} missing, and CI=true (scripts/setup.sh installs it)")
    else:
        skip(name, f"{path} missing (scripts/setup.sh installs it; under CI=true this fails)")


def cli(*args):
    """Run the CLI; its stdout (a failure raises with its stderr)."""
    r = subprocess.run([str(TEQ), *map(str, args)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"teq {' '.join(map(str, args))}: {r.stderr.strip()}")
    return r.stdout


def cli_bg(*args):
    """Start the CLI beside what follows (the slow quantizations: the two sides then share the two cores
    make test has); cli_wait(p) finishes it."""
    return subprocess.Popen([str(TEQ), *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def cli_wait(p):
    err = p.communicate()[1]
    if p.returncode != 0:
        raise RuntimeError(f"teq {' '.join(p.args[1:])}: {err.strip()}")


def raises(f, *args, **kw):
    """The teq.Error f raises, or None."""
    try:
        f(*args, **kw)
    except teq.Error as e:
        return e
    return None


def one_line_error(name, e, *needles, status=None):
    """e is a teq.Error whose message is one line holding every needle (and the given status)."""
    ok = e is not None and "\n" not in str(e) and str(e) != "" and all(n in str(e) for n in needles)
    ok = ok and (status is None or e.status == status)
    check(name, ok, repr(e))


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def without_times(d):
    return {k: v for k, v in d.items() if k not in TIME_KEYS}


def same_file(a, b):
    return pathlib.Path(a).read_bytes() == pathlib.Path(b).read_bytes()


def same_array(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# --- the C structs: every ctypes offset and size against the C compiler's for include/teq.h
def test_layout(T):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        skip_missing("struct layout", "a C compiler")
        return
    lines = ['#include <stddef.h>', '#include <stdio.h>', '#include "teq.h"', "int main(void) {"]
    expect = []
    for cname, cls in _lib.STRUCTS.items():
        lines.append(f'    printf("{cname} %zu\\n", sizeof({cname}));')
        expect.append(f"{cname} {ctypes.sizeof(cls)}")
        for field, _ in cls._fields_:
            lines.append(f'    printf("{cname}.{field} %zu\\n", offsetof({cname}, {field}));')
            expect.append(f"{cname}.{field} {getattr(cls, field).offset}")
    lines += ["    return 0;", "}"]
    src = pathlib.Path(T) / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    subprocess.run([cc, "-std=c11", "-I", str(ROOT / "include"), str(src), "-o", str(pathlib.Path(T) / "layout")],
                   check=True, capture_output=True)
    got = subprocess.run([str(pathlib.Path(T) / "layout")], capture_output=True, text=True, check=True).stdout.split("\n")
    got = [g for g in got if g]
    wrong = [f"C {g} / ctypes {e}" for g, e in zip(got, expect) if g != e]
    check(f"struct layout: {len(expect)} offsets and sizes of {len(_lib.STRUCTS)} structs = the C compiler's",
          len(got) == len(expect) and not wrong, "; ".join(wrong[:4]))


# --- finding the library
def test_locate(T):
    code = "import teq, teq._lib as L\ntry:\n    L.lib(); print('LOADED', L.lib()._name)\nexcept teq.Error as e:\n    print('ERROR', e.status, e)\n"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"), TEQ_LIBRARY=f"{T}/nowhere/libteq.so")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout
    check("TEQ_LIBRARY naming no file: teq.Error in one line naming it",
          out.startswith("ERROR 1 ") and f"{T}/nowhere/libteq.so" in out and out.count("\n") == 1, out)
    env.pop("TEQ_LIBRARY")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout
    want = ROOT / "build" / "libteq.so"
    if want.exists():
        check("without TEQ_LIBRARY: the repository's build/libteq.so is loaded", out.strip() == f"LOADED {want}", out)
    else:
        skip("without TEQ_LIBRARY: the repository's build", f"{want} not built")
    check(f"kernels(), blas() and __version__: what `teq --version` prints ({teq.__version__}, {teq.kernels()}, {teq.blas()})",
          cli("--version").strip() == f"teq {teq.__version__} (kernels: {teq.kernels()})\nBLAS: {teq.blas()}")


# --- Model: description, run against `teq run`, errors
def test_model(T):
    with teq.Model(FMODEL) as m:
        check("Model.inputs: image float32 (None, 1, 28, 28), the batch named n",
              m.inputs == [teq.TensorInfo("image", np.dtype("float32"), (None, 1, 28, 28), ("n", "", "", ""))], m.inputs)
        check("Model.outputs: logits float32 (None, 10)",
              m.outputs == [teq.TensorInfo("logits", np.dtype("float32"), (None, 10), ("n", ""))], m.outputs)
        check("Model.metadata of an ONNX model is None", m.metadata is None)
        x = np.random.default_rng(7).standard_normal((3, 1, 28, 28), dtype=np.float32)
        np.save(f"{T}/x.npy", x)
        cli("run", FMODEL, "-i", f"{T}/x.npy", "-o", f"{T}/run_cli", "-q")
        ref = np.load(f"{T}/run_cli/logits.npy")
        got = m.run(x)
        check("run(array): the bytes `teq run` wrote", list(got) == ["logits"] and same_array(got["logits"], ref))
        check("run({name: array}): the same bytes", same_array(m.run({"image": x})["logits"], ref))
        check("run([array]): the same bytes", same_array(m.run([x])["logits"], ref))
        check("run(Fortran-ordered copy): the same bytes", same_array(m.run(np.asfortranarray(x))["logits"], ref))
        check("run([nested lists]): converted to float32, the same bytes", same_array(m.run([x.tolist()])["logits"], ref))
        check("run({name: nested lists}): the same bytes", same_array(m.run({"image": x.tolist()})["logits"], ref))
        m.threads = 2
        check("threads = 2: the same bytes", same_array(m.run(x)["logits"], ref))
        m.threads = 1
        # one Model from four Python threads at once (the GIL is released in the library): each run
        # must still see its own input and give the bytes of a run alone
        xs = [np.random.default_rng(100 + i).standard_normal((2, 1, 28, 28), dtype=np.float32) for i in range(4)]
        alone = [m.run(xi)["logits"] for xi in xs]
        got_t = [None] * 4

        def work(i):
            got_t[i] = [m.run(xs[i])["logits"] for _ in range(10)]
        ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        check("run from 4 Python threads at once: each run the bytes of its input run alone",
              all(g is not None and all(same_array(r, alone[i]) for r in g) for i, g in enumerate(got_t)))
        out = m.run(x)["logits"]
        check("outputs are NumPy arrays owned by Python", out.flags.owndata and out.flags.writeable)
        check("profile_report() while profiling is off: empty", m.profile_report() == [])
        m.profile(True)
        prof_out = [m.run(x)["logits"] for _ in range(2)]
        rep = m.profile_report()
        m.profile(False)
        check(f"profile: {len(rep)} nodes, each run twice, Conv timed, outputs the same bytes",
              len(rep) > 0 and all(r["runs"] == 2 and r["seconds"] >= 0 and r["shape"] for r in rep)
              and sum(r["seconds"] for r in rep if r["op_type"] == "Conv") > 0
              and all(same_array(p, ref) for p in prof_out), repr(rep[:2]))
        check("profile(False): the report is empty again", m.profile_report() == [])

        one_line_error("float64 input refused with the library's message",
                       raises(m.run, x.astype(np.float64)), str(FMODEL.relative_to(ROOT)), "'image' is float64", "float32",
                       status=4)
        one_line_error("wrong shape refused", raises(m.run, x[:, :, :27]), "has shape [3,1,27,28]", "[n,1,28,28]", status=4)
        one_line_error("unknown input name refused", raises(m.run, {"nope": x}), "no input named 'nope'", status=6)
        one_line_error("two inputs for a one-input model refused", raises(m.run, [x, x]), "1 inputs, 2 given", status=6)
        one_line_error("float16 refused before the call", raises(m.run, x.astype(np.float16)), "float16")
        one_line_error("threads = 0 refused", raises(setattr, m, "threads", 0), "threads must be in 1..256")
    one_line_error("a closed model refuses to run", raises(m.run, x), "closed")
    one_line_error("missing file: I/O error naming it", raises(teq.Model, f"{T}/missing.onnx"), f"{T}/missing.onnx", status=1)
    pathlib.Path(f"{T}/junk.onnx").write_bytes(b"\x08\x07junk that is no protobuf" * 4)
    e = raises(teq.Model, f"{T}/junk.onnx")
    one_line_error("malformed file: refused naming it", e, f"{T}/junk.onnx")


# --- fmnist: quantize from an array and from the folder, eval, analyze
def test_fmnist(T):
    if not (FMNIST / "t10k-images-idx3-ubyte.gz").exists():
        skip_missing("fmnist quantize/eval/analyze", FMNIST)
        return
    d = FMNIST
    cli("dataset", "idx", "--images", d / "train-images-idx3-ubyte.gz", "--labels", d / "train-labels-idx1-ubyte.gz",
        "-n", 64, "-o", f"{T}/fc")
    cli("dataset", "idx", "--images", d / "train-images-idx3-ubyte.gz", "--labels", d / "train-labels-idx1-ubyte.gz",
        "--offset", 64, "-n", 48, "-o", f"{T}/fs")
    cli("dataset", "idx", "--images", d / "t10k-images-idx3-ubyte.gz", "--labels", d / "t10k-labels-idx1-ubyte.gz",
        "-n", 500, "-o", f"{T}/ft")
    calib = np.load(f"{T}/fc/inputs.npy")

    # fixed widths, calibration from an array (a .npy the bindings write) against the CLI on the folder
    cli("quantize", FMODEL, "--calib", f"{T}/fc", "--bits", "4,6", "-o", f"{T}/f_cli.teq", "--json", f"{T}/f_cli.json")
    rep = teq.quantize(FMODEL, calib=calib, out=f"{T}/f_py.teq", bits=(4, 6))
    check("quantize(calib=array, bits=(4, 6)): the CLI's .teq bytes (calibrated on the folder)",
          same_file(f"{T}/f_cli.teq", f"{T}/f_py.teq"))
    check("quantize returns the CLI's JSON report (timings aside)",
          without_times(rep) == without_times(load_json(f"{T}/f_cli.json")) and rep["avg_bits_weights"] == 4)
    with teq.Model(f"{T}/f_py.teq") as q:
        check("Model.metadata of the .teq: the report, timings zeroed",
              q.metadata is not None and without_times(q.metadata) == without_times(rep)
              and all(q.metadata[k] == 0 for k in TIME_KEYS if k in q.metadata))

    # the adaptive search with a task budget: every option that reaches the search
    args = ["--suite", "classify", "--data", f"{T}/fs", "--search-limit", 24, "--eval-limit", 16, "--max-loss", 2,
            "--rounding", "nearest"]
    p = cli_bg("quantize", FMODEL, "--calib", f"{T}/fc", *args, "-o", f"{T}/fa_cli.teq", "--json", f"{T}/fa_cli.json")
    rep = teq.quantize(FMODEL, calib=f"{T}/fc", out=f"{T}/fa_py.teq", suite="classify", data=f"{T}/fs",
                       search_limit=24, eval_limit=16, max_loss=2, rounding="nearest")
    cli_wait(p)
    check(f"quantize(suite='classify', ...): adaptive ({rep['avg_bits']:.3f} bits), the CLI's .teq bytes",
          same_file(f"{T}/fa_cli.teq", f"{T}/fa_py.teq") and rep["search"] == "fast" and rep["rounding"] == "nearest")
    check(f"adaptive: the CLI's report (search on {rep['search_samples']} samples, final metric on {rep['metric_n']})",
          without_times(rep) == without_times(load_json(f"{T}/fa_cli.json")) and rep["metric_n"] == 16)

    # refusals: the library's messages, no file left
    e = raises(teq.quantize, FMODEL, calib=f"{T}/fc", out=f"{T}/bad.teq", bits=(1, 9))
    one_line_error("quantize(bits=(1, 9)) refused", e)
    check("quantize(bits=(1, 9)): no file written", not os.path.exists(f"{T}/bad.teq"))
    one_line_error("quantize(calib=missing folder) refused naming it",
                   raises(teq.quantize, FMODEL, calib=f"{T}/nowhere", out=f"{T}/bad.teq"), f"{T}/nowhere")
    one_line_error("quantize(max_loss=-3) refused", raises(teq.quantize, FMODEL, calib=f"{T}/fc", out=f"{T}/bad.teq",
                                                          max_loss=-3), "max_loss")
    one_line_error("quantize(int_lanes='8') refused", raises(teq.quantize, FMODEL, calib=f"{T}/fc", out=f"{T}/bad.teq",
                                                             int_lanes="8"), "int_lanes")

    # integer lanes, int16 only (as --int-lanes 16): the report says which layers run on which width
    rep = teq.quantize(FMODEL, calib=f"{T}/fc", out=f"{T}/fl_py.teq", bits=(4, 6), suite="classify", data=f"{T}/fs",
                       int_lanes=16)
    il = rep.get("int_lanes", {})
    widths = [l.get("int_lanes") for l in rep["layers"]]
    check(f"quantize(int_lanes=16): {il.get('chosen')} of {il.get('eligible')} layers on lanes, none on 8 bits",
          il.get("eligible", 0) > 0 and il.get("chosen_8bit") == 0 and widths.count(16) == il.get("chosen")
          and set(widths) <= {0, 16})

    # eval: a path or a Model, with a reference, against `teq eval --json`
    cli("eval", f"{T}/f_cli.teq", "--suite", "classify", "--data", f"{T}/ft", "--reference", FMODEL, "--json",
        f"{T}/e_cli.json")
    want = load_json(f"{T}/e_cli.json")
    got = teq.eval(f"{T}/f_py.teq", "classify", f"{T}/ft", reference=FMODEL)
    check(f"eval(path, reference=path): the CLI's numbers (accuracy {got.get('accuracy')}, agreement "
          f"{got.get('agreement')})", got == want and got["n"] == 500, f"{got} vs {want}")
    with teq.Model(f"{T}/f_py.teq", threads=2) as q, teq.Model(FMODEL) as r:
        check("eval(Model, reference=Model): the same", teq.eval(q, "classify", f"{T}/ft", reference=r) == want)
        got = teq.eval(r, "classify", f"{T}/ft", reference=r, limit=100)
        check("eval(Model, reference=the same Model): agreement 100 on 100 samples",
              got["agreement"] == 100 and got["n"] == 100, got)
    one_line_error("eval with an unknown suite refused", raises(teq.eval, FMODEL, "nosuch", f"{T}/ft"), "nosuch")

    # analyze: calibration from an array against the CLI on the folder
    cli("analyze", FMODEL, "--calib", f"{T}/fc", "--calib-limit", 32, "--json", f"{T}/an_cli.json")
    got = teq.analyze(FMODEL, calib=calib, calib_limit=32, plots=f"{T}/plots")
    check(f"analyze(calib=array): the CLI's report ({got.get('n_tensors')} tensors, {got.get('n_calib')} samples)",
          got == load_json(f"{T}/an_cli.json") and got["n_calib"] == 32 and got["n_tensors"] > 0)
    check("analyze(plots=...): overview.svg written", (pathlib.Path(T) / "plots" / "overview.svg").exists())
    got = teq.analyze(FMODEL)
    check("analyze without calibration: weights only", got["n_calib"] == 0 and got["n_tensors"] > 0)

    # export: bound on first call; tested only where the library has it
    if _lib.optional("teq_export_onnx") is None:
        one_line_error("export on a libteq without it: teq.Error", raises(teq.export, f"{T}/f_py.teq", f"{T}/x.onnx"),
                       "this libteq has no ONNX export")
        skip("export(.teq, .onnx)", "this libteq has no teq_export_onnx")
    else:
        teq.export(f"{T}/f_py.teq", f"{T}/f_exp.onnx")
        x = calib[:4]
        with teq.Model(f"{T}/f_exp.onnx") as e, teq.Model(f"{T}/f_py.teq") as q:
            ye, yq = e.run(x)["logits"], q.run(x)["logits"]
            check("export: the ONNX file loads, with the .teq's inputs and outputs, and gives its classes",
                  e.inputs == q.inputs and e.outputs == q.outputs
                  and (ye.argmax(1) == yq.argmax(1)).all())
        one_line_error("export of a missing file refused", raises(teq.export, f"{T}/none.teq", f"{T}/n.onnx"),
                       f"{T}/none.teq")


# --- PP-OCRv4 rec: quantize + run + eval from Python against the CLI (the target)
def test_rec(T):
    keys = MODELS / "ppocr_keys_v1.txt"
    if not REC.exists():
        skip_missing("rec quantize/run/eval", REC)
        return
    cli("dataset", "ocr-lines", "--text", "/usr/share/common-licenses/GPL-3", "--font", FONT, "-n", 8, "--seed", 3,
        "--width", 160, "--keys", keys, "-o", f"{T}/rl")
    p = cli_bg("quantize", REC, "--calib", f"{T}/rl", "--bits", "4,5", "-o", f"{T}/rec_cli.teq", "--json",
               f"{T}/rec_cli.json")
    rep = teq.quantize(REC, calib=f"{T}/rl", out=f"{T}/rec_py.teq", bits=(4, 5))
    cli_wait(p)
    size = os.path.getsize(f"{T}/rec_py.teq") if os.path.exists(f"{T}/rec_py.teq") else 0
    check(f"rec quantize(bits=(4, 5)): the CLI's .teq bytes ({size} bytes)", same_file(f"{T}/rec_cli.teq", f"{T}/rec_py.teq"))
    check("rec quantize: the CLI's report (timings aside)", without_times(rep) == without_times(load_json(f"{T}/rec_cli.json")))
    cli("run", f"{T}/rec_cli.teq", "-i", f"{T}/rl/inputs.npy", "-o", f"{T}/rec_run", "-q")
    with teq.Model(f"{T}/rec_py.teq") as m:
        out = m.run(np.load(f"{T}/rl/inputs.npy"))
        names = [o.name for o in m.outputs]
        ok = bool(names) and all(same_array(out[n], np.load(f"{T}/rec_run/{n}.npy")) for n in names)
        check(f"rec run of the Python .teq: the bytes `teq run` wrote from the CLI's ({', '.join(names)})", ok)
        cli("eval", f"{T}/rec_cli.teq", "--suite", "ocr-rec", "--data", f"{T}/rl", "--keys", keys, "--json", f"{T}/re.json")
        got = teq.eval(m, "ocr-rec", f"{T}/rl", keys=keys)
        check(f"rec eval: the CLI's numbers (line accuracy {got.get('line_accuracy')}, CER {got.get('cer')})",
              got == load_json(f"{T}/re.json") and got["n"] == 8)
    one_line_error("rec eval without a key list: the library's message",
                   raises(teq.eval, f"{T}/rec_py.teq", "ocr-rec", f"{T}/rl"), "key list")


def main():
    T = tempfile.mkdtemp(prefix="teq-python.")
    try:
        # TEQ_PY_TESTS=layout,model (say) runs some groups only, while working on the bindings
        only = os.environ.get("TEQ_PY_TESTS")
        for test in (test_layout, test_locate, test_model, test_fmnist, test_rec):
            if only and test.__name__[5:] not in only.split(","):
                continue
            t0 = time.monotonic()
            try:
                test(T)
            except Exception:  # an unexpected exception fails its group; the others still run
                check(f"{test.__name__} ran to the end", False, traceback.format_exc().strip().replace("\n", " | "))
            print(f"({test.__name__}: {time.monotonic() - t0:.1f} s)")
    finally:
        shutil.rmtree(T, ignore_errors=True)
    print(f"{n_pass} passed, {n_fail} failed, {n_skip} skipped")
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
