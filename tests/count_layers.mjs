// The number of layers `teq quantize` should quantize in an ONNX model, counted from the file alone
// (no teq code), for tests that would otherwise take the number from the tool's own output.
// Usage: node tests/count_layers.mjs MODEL.onnx   prints `N` (and the count per operator on stderr)
//
// A layer is a Conv, ConvTranspose, Gemm or MatMul node with a constant weight operand: one of its
// first two inputs is constant and the node is not constant as a whole (that one is folded away at
// load). A value is constant when it is an initializer, or the output of a node whose inputs are all
// constant (Constant nodes have none; nodes in topological order, as ONNX requires). MatMuls of two
// activations (attention) are left out: they are quantized too, but the question here is layers with
// weights.
//
// The reader covers what the count needs of onnx.proto (field numbers from onnx/onnx.proto):
// ModelProto.graph = 7; GraphProto.node = 1, .initializer = 5; NodeProto.input = 1, .output = 2,
// .op_type = 4; TensorProto.name = 8.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const utf8 = new TextDecoder();

/** The fields of one message: [{field, wire, value}] (value: a number for varints, bytes for length-delimited). */
function fields(buf) {
  const out = [];
  let p = 0;
  const varint = () => {
    let v = 0, mul = 1, b;
    do {
      if (p >= buf.length) throw new Error('truncated varint');
      b = buf[p++];
      v += (b & 0x7f) * mul;
      mul *= 128;
    } while (b & 0x80);
    return v;
  };
  while (p < buf.length) {
    const key = varint(), field = Math.floor(key / 8), wire = key % 8;
    if (wire === 0) out.push({ field, wire, value: varint() });
    else if (wire === 1) p += 8;
    else if (wire === 5) p += 4;
    else if (wire === 2) {
      const n = varint();
      if (p + n > buf.length) throw new Error('truncated field');
      out.push({ field, wire, value: buf.subarray(p, p + n) });
      p += n;
    } else throw new Error(`wire type ${wire} not expected in an ONNX model`);
  }
  return out;
}

const strings = (fs, f) => fs.filter((x) => x.field === f && x.wire === 2).map((x) => utf8.decode(x.value));
const messages = (fs, f) => fs.filter((x) => x.field === f && x.wire === 2).map((x) => fields(x.value));

export function countLayers(path) {
  const model = fields(readFileSync(path));
  const graph = messages(model, 7)[0];
  if (!graph) throw new Error(`${path}: no graph`);
  const constant = new Set();
  for (const init of messages(graph, 5)) for (const name of strings(init, 8)) constant.add(name);
  const byOp = {};
  let n = 0;
  for (const node of messages(graph, 1)) {
    const op = strings(node, 4)[0] || '';
    const inputs = strings(node, 1).filter((s) => s !== '');
    const allConst = inputs.every((s) => constant.has(s)) && (inputs.length > 0 || op === 'Constant');
    if (allConst) for (const o of strings(node, 2)) constant.add(o);
    else if (['Conv', 'ConvTranspose', 'Gemm', 'MatMul'].includes(op) && inputs.slice(0, 2).some((s) => constant.has(s))) {
      n++;
      byOp[op] = (byOp[op] || 0) + 1;
    }
  }
  return { n, byOp };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { n, byOp } = countLayers(process.argv[2]);
  console.error(Object.entries(byOp).map(([k, v]) => `${k} ${v}`).join(', '));
  console.log(n);
}
