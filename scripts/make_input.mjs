// Writes a seeded, deterministic float32 .npy: `node scripts/make_input.mjs OUT.npy D0,D1,... KIND SEED`.
// KIND image: a smooth pattern plus noise in [-1, 1] (PP-OCR's normalisation of an image);
// KIND uniform: U[-1, 1).
import { writeFileSync } from 'node:fs';

const [out, shapeArg, kind = 'image', seedArg = '1'] = process.argv.slice(2);
if (!out || !shapeArg) {
  console.error('usage: node scripts/make_input.mjs OUT.npy D0,D1,... [image|uniform] [SEED]');
  process.exit(2);
}
const shape = shapeArg.split(',').map(Number);
let s = Number(seedArg) >>> 0;
const rand = () => { // mulberry32
  s = (s + 0x6d2b79f5) >>> 0;
  let t = s;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const n = shape.reduce((a, b) => a * b, 1);
const data = new Float32Array(n);
const W = shape[shape.length - 1], H = shape.length > 1 ? shape[shape.length - 2] : 1;
const fx = 0.05 + 0.2 * rand(), fy = 0.05 + 0.2 * rand();
for (let i = 0; i < n; i++) {
  const x = i % W, y = Math.floor(i / W) % H;
  const v = kind === 'image' ? 0.6 * Math.sin(fx * x) * Math.cos(fy * y) + 0.4 * (2 * rand() - 1) : 2 * rand() - 1;
  data[i] = Math.max(-1, Math.min(1, v));
}
let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
const total = 10 + header.length + 1;
header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
writeFileSync(out, Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(data.buffer)]));
