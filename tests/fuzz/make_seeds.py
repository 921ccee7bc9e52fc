#!/usr/bin/python3
"""Writes the hand-made seeds of the fuzz corpus (run once; the outputs are committed). Plain
Python, no onnx package: the protobuf wire format is encoded here directly (field numbers from
onnx.proto).

  corpus/onnx/seed-convnet    x[1,2,4,4] -> Conv(W,B, pads 1) -> Relu -> GlobalAveragePool -> Flatten
                              -> Gemm(W2,B2) -> y[1,4]; weights as initializers
  corpus/onnx/seed-folding    Constant shape -> Reshape of an initializer, Add with the input, so
                              that planning folds a subgraph
  corpus/npy/seed-*           small arrays of every dtype teq reads, versions 1.0 and 2.0, a scalar,
                              an empty array
The .teq seed is made from seed-convnet by `teq quantize` (see tests/fuzz/README.md).
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def varint(v):
    out = b""
    v &= (1 << 64) - 1
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def fld(num, value):
    """A field: int -> varint, bytes/str -> length-delimited, float -> fixed32."""
    if isinstance(value, float):
        return varint(num << 3 | 5) + struct.pack("<f", value)
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(num << 3 | 2) + varint(len(value)) + value


def tensor(name, dims, vals, dtype=1):
    fmt = "<%df" % len(vals) if dtype == 1 else "<%dq" % len(vals)
    return b"".join(fld(1, d) for d in dims) + fld(2, dtype) + fld(8, name) + fld(9, struct.pack(fmt, *vals))


def value_info(name, dims):
    shape = b"".join(fld(1, fld(1, d)) for d in dims)
    return fld(1, name) + fld(2, fld(1, fld(1, 1) + fld(2, shape)))


def attr_ints(name, vals):
    return fld(1, name) + fld(20, 7) + b"".join(fld(8, v) for v in vals)


def attr_int(name, v):
    return fld(1, name) + fld(20, 2) + fld(3, v)


def attr_tensor(name, t):
    return fld(1, name) + fld(20, 4) + fld(5, t)


def node(op, ins, outs, name, attrs=()):
    return (b"".join(fld(1, i) for i in ins) + b"".join(fld(2, o) for o in outs) + fld(3, name) + fld(4, op)
            + b"".join(fld(5, a) for a in attrs))


def model(nodes, inits, ins, outs, name):
    g = (b"".join(fld(1, n) for n in nodes) + fld(2, name) + b"".join(fld(5, t) for t in inits)
         + b"".join(fld(11, v) for v in ins) + b"".join(fld(12, v) for v in outs))
    return fld(1, 7) + fld(2, "teq-fuzz-seeds") + fld(7, g) + fld(8, fld(2, 13))


def vals(n, k):
    return [((i * 7 + k) % 11 - 5) / 8.0 for i in range(n)]


def write(path, data):
    with open(os.path.join(HERE, path), "wb") as f:
        f.write(data)
    print(f"{path}: {len(data)} bytes")


def npy(descr, shape, payload, version=1):
    d = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    pre = 10 if version == 1 else 12
    n = len(d) + 1
    n += (64 - (pre + n) % 64) % 64
    hdr = d.ljust(n - 1) + "\n"
    size = struct.pack("<H", n) if version == 1 else struct.pack("<I", n)
    return b"\x93NUMPY" + bytes([version, 0]) + size + hdr.encode() + payload


def main():
    convnet = model(
        [node("Conv", ["x", "W", "B"], ["c"], "conv", [attr_ints("pads", [1, 1, 1, 1]), attr_ints("kernel_shape", [3, 3])]),
         node("Relu", ["c"], ["r"], "relu"),
         node("GlobalAveragePool", ["r"], ["p"], "gap"),
         node("Flatten", ["p"], ["f"], "flatten", [attr_int("axis", 1)]),
         node("Gemm", ["f", "W2", "B2"], ["y"], "fc", [attr_int("transB", 1)])],
        [tensor("W", [3, 2, 3, 3], vals(54, 1)), tensor("B", [3], vals(3, 2)),
         tensor("W2", [4, 3], vals(12, 3)), tensor("B2", [4], vals(4, 4))],
        [value_info("x", [1, 2, 4, 4])], [value_info("y", [1, 4])], "convnet")
    write("corpus/onnx/seed-convnet", convnet)
    folding = model(
        [node("Constant", [], ["shape"], "shape_const", [attr_tensor("value", tensor("", [2], [3, 2], dtype=7))]),
         node("Reshape", ["w", "shape"], ["w2"], "reshape"),
         node("Add", ["x", "w2"], ["y"], "add")],
        [tensor("w", [6], vals(6, 5))],
        [value_info("x", [3, 2])], [value_info("y", [3, 2])], "folding")
    write("corpus/onnx/seed-folding", folding)
    write("corpus/npy/seed-f4", npy("<f4", "(2, 3)", struct.pack("<6f", *vals(6, 1))))
    write("corpus/npy/seed-f8-v2", npy("<f8", "(3,)", struct.pack("<3d", 1.5, -2.0, 0.25), version=2))
    write("corpus/npy/seed-i8", npy("<i8", "(2, 1, 2)", struct.pack("<4q", 1, -2, 3, -4)))
    write("corpus/npy/seed-i4", npy("<i4", "(2,)", struct.pack("<2i", 7, -7)))
    write("corpus/npy/seed-u1", npy("|u1", "(4,)", bytes([0, 1, 128, 255])))
    write("corpus/npy/seed-i1", npy("|i1", "(1, 4)", bytes([0, 1, 128, 255])))
    write("corpus/npy/seed-b1", npy("|b1", "(3,)", bytes([0, 1, 2])))
    write("corpus/npy/seed-scalar", npy("<f4", "()", struct.pack("<f", 3.0)))
    write("corpus/npy/seed-empty", npy("<f4", "(0, 3)", b""))


if __name__ == "__main__":
    main()
