// NumPy .npy reading and writing for the Node test and bench scripts (no dependencies).
//
// Format: "\x93NUMPY", major, minor, header length (u16 LE for 1.0, u32 LE for 2.0/3.0), an ASCII
// Python dict {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with spaces and
// ended by '\n' so that the data starts at a multiple of 64 bytes, then the raw array in C order.
//
// An array here is { dtype, shape, data }: dtype is a short name ('float32', 'int64', ...), shape
// an array of numbers, data a typed array of the matching kind (BigInt64Array for int64, Uint8Array
// of 0/1 for bool).
import { readFileSync, writeFileSync } from 'node:fs';

// name -> [descr written, bytes per element, typed-array class]
const TYPES = {
  float32: ['<f4', 4, Float32Array],
  float64: ['<f8', 8, Float64Array],
  float16: ['<f2', 2, Uint16Array], // raw IEEE half bits: JS has no half typed array here
  int8: ['|i1', 1, Int8Array],
  uint8: ['|u1', 1, Uint8Array],
  int16: ['<i2', 2, Int16Array],
  uint16: ['<u2', 2, Uint16Array],
  int32: ['<i4', 4, Int32Array],
  uint32: ['<u4', 4, Uint32Array],
  int64: ['<i8', 8, BigInt64Array],
  uint64: ['<u8', 8, BigUint64Array],
  bool: ['|b1', 1, Uint8Array],
};

// descr without byte-order char -> name
const BY_CODE = {};
for (const [name, [descr]] of Object.entries(TYPES)) BY_CODE[descr.slice(1)] = name;

/** Names of the supported dtypes. */
export const NPY_DTYPES = Object.keys(TYPES);

/** Number of elements of a shape ([] is a scalar: 1). */
export function numel(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

/** Name of the dtype held by a typed array (Uint8Array -> 'uint8'; pass 'bool' explicitly). */
export function dtypeOf(data) {
  for (const [name, [, , Cls]] of Object.entries(TYPES))
    if (data instanceof Cls && name !== 'float16' && name !== 'bool') return name;
  throw new Error(`npy: no .npy dtype for ${data?.constructor?.name}`);
}

/** Decode the bytes of a .npy file (Buffer or Uint8Array). Throws Error with `what` in the message. */
export function decodeNpy(buf, what = '<buffer>') {
  const u8 = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  const bad = (m) => new Error(`${what}: ${m}`);
  if (u8.length < 10 || u8[0] !== 0x93 || String.fromCharCode(...u8.subarray(1, 6)) !== 'NUMPY')
    throw bad('not a .npy file (bad magic)');
  const major = u8[6];
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  let hlen, hstart;
  if (major === 1) {
    hlen = dv.getUint16(8, true);
    hstart = 10;
  } else if (major === 2 || major === 3) {
    if (u8.length < 12) throw bad('truncated .npy header');
    hlen = dv.getUint32(8, true);
    hstart = 12;
  } else throw bad(`unsupported .npy version ${major}.${u8[7]}`);
  if (hstart + hlen > u8.length) throw bad('truncated .npy header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(u8.subarray(hstart, hstart + hlen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeStr = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeStr === undefined) throw bad(`malformed .npy header: ${header.trim()}`);
  if (fortran === 'True') throw bad('Fortran-ordered .npy arrays are not supported');
  const shape = shapeStr
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length)
    .map((s) => {
      if (!/^\d+$/.test(s)) throw bad(`malformed shape (${shapeStr})`);
      return Number(s);
    });
  const order = descr[0];
  const dtype = BY_CODE[descr.slice(1)];
  if (!dtype || !'<>|='.includes(order)) throw bad(`unsupported .npy dtype '${descr}'`);
  const [, size, Cls] = TYPES[dtype];
  const n = numel(shape);
  const start = hstart + hlen;
  if (u8.length - start !== n * size)
    throw bad(`${u8.length - start} bytes of data for ${dtype} [${shape}] (needs ${n * size}): truncated or damaged`);
  // Copy into a fresh, aligned buffer (the file's data offset need not suit the element size).
  const bytes = new Uint8Array(n * size); // a copy: Buffer#slice would be a view
  bytes.set(u8.subarray(start, start + n * size));
  if (order === '>' && size > 1) {
    for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
  }
  const data = new Cls(bytes.buffer, 0, n);
  if (dtype === 'bool') for (let i = 0; i < n; i++) data[i] = data[i] ? 1 : 0;
  return { dtype, shape, data };
}

/** Read a .npy file. */
export function readNpy(path) {
  return decodeNpy(readFileSync(path), path);
}

/** Encode an array as .npy 1.0 bytes (2.0 if the header would not fit 1.0). dtype defaults to the
 * typed array's kind; data may also be a plain array of numbers (then dtype is required). */
export function encodeNpy({ dtype, shape, data }) {
  dtype = dtype ?? dtypeOf(data);
  const t = TYPES[dtype];
  if (!t) throw new Error(`npy: unsupported dtype '${dtype}'`);
  const [descr, size, Cls] = t;
  const n = numel(shape);
  if (data.length !== n) throw new Error(`npy: ${data.length} elements for shape [${shape}] (needs ${n})`);
  if (!(data instanceof Cls)) data = Cls.from(data);
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  let major = 1,
    pre = 10;
  if (dict.length + 1 + pre > 65535) (major = 2), (pre = 12);
  const pad = (64 - ((pre + dict.length + 1) % 64)) % 64;
  dict += ' '.repeat(pad) + '\n';
  const out = new Uint8Array(pre + dict.length + n * size);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, dict.length, true);
  else dv.setUint32(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[pre + i] = dict.charCodeAt(i);
  out.set(new Uint8Array(data.buffer, data.byteOffset, n * size), pre + dict.length);
  return out;
}

/** Write an array ({dtype?, shape, data}) to a .npy file. */
export function writeNpy(path, arr) {
  writeFileSync(path, encodeNpy(arr));
}
