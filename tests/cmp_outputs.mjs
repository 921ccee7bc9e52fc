// Compare two .npy outputs of the same model run two ways (the reference kernel and the fast kernels).
// Usage: node tests/cmp_outputs.mjs A.npy B.npy MAX_ABS MIN_ARGMAX_AGREE
// Prints the max abs difference and the share of rows (last axis) whose argmax agrees; exits 1 when the
// difference exceeds MAX_ABS or the agreement is below MIN_ARGMAX_AGREE (a fraction).
import { readNpy } from './npy.mjs';

const [a, b, maxAbs, minAgree] = process.argv.slice(2);
const A = readNpy(a), B = readNpy(b);
if (A.shape.join(',') !== B.shape.join(',')) {
  console.log(`shapes differ: [${A.shape}] vs [${B.shape}]`);
  process.exit(1);
}
const n = A.data.length, last = A.shape[A.shape.length - 1] || 1;
let md = 0, rows = 0, agree = 0;
for (let i = 0; i < n; i++) md = Math.max(md, Math.abs(A.data[i] - B.data[i]) || (A.data[i] === B.data[i] ? 0 : Infinity));
for (let r = 0; r + last <= n; r += last) {
  let ia = 0, ib = 0;
  for (let j = 1; j < last; j++) {
    if (A.data[r + j] > A.data[r + ia]) ia = j;
    if (B.data[r + j] > B.data[r + ib]) ib = j;
  }
  rows++;
  if (ia === ib) agree++;
}
const share = rows ? agree / rows : 1;
console.log(`max abs difference ${md.toExponential(3)}, argmax agrees on ${agree}/${rows} rows`);
process.exit(md <= Number(maxAbs) && share >= Number(minAgree) ? 0 : 1);
