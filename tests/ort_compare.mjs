// Whole-model comparison of teq against ONNX Runtime on the five real models and the project's own
// Fashion-MNIST ResNet (models/fmnist_resnet.onnx, fed real Fashion-MNIST test images).
//
// usage: node tests/ort_compare.mjs [TEQ_BIN] [--only NAME[,NAME...]] [--seed N] [--keep]
//   TEQ_BIN   the teq CLI (default build/teq)
//   --only    run only these models (rec, det, cls, blazeface, mlsd, fmnist)
//   --seed    base seed of the input generator (default 1234; case i uses seed + i)
//   --keep    keep the temporary folder with the .npy inputs and outputs
// env: TEQ_MODELS (default <repo>/cache/models), TEQ_ORT (default
//      <repo>/cache/node/node_modules/onnxruntime-node), TEQ_TIMEOUT_S (per teq run, default 600).
//
// For every case the same .npy input goes to ONNX Runtime (CPU, one thread) and to `teq run`; every
// element of every output must satisfy |teq - ort| <= 1e-4 + 1e-3*|ort| (NaN must meet NaN, an
// infinity the same infinity). One line per case: PASS/FAIL, model, input shape, max abs error, max
// relative error (over elements with |ort| >= 1e-4, where the relative term of the bound matters),
// violations, and the worst element (largest error / bound). Last line: `N passed, M failed (K of the N
// passes under the PASS* rule)`; the exit status is 1 when anything failed or errored.
//
// The module also exports the model table and the input generator for bench/bench_models.mjs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { numel, readNpy, writeNpy } from './npy.mjs';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const MODELS_DIR = process.env.TEQ_MODELS || join(REPO, 'cache/models');
export const ORT_PATH = process.env.TEQ_ORT || join(REPO, 'cache/node/node_modules/onnxruntime-node');

export const ATOL = 1e-4;
export const RTOL = 1e-3;
// See the PASS* rule below: the only exception to the element-wise bound, for ill-conditioned outputs.
// It applies only to the outputs listed as `illConditioned` in MODELS, where it was measured
// (docs/DECISIONS.md, "Whole-model comparison tolerance"); any other output keeps the bound.
export const NOISE_FACTOR = 1.5;

// Each model: file, input name, layout of the generated image, how pixels in [0,1] map to the
// values the model expects (from the models' own pre-processing), and the shapes to test.
//   PaddleOCR rec/cls: (p - 0.5) / 0.5, NCHW.
//   PaddleOCR det (DB): ImageNet mean/std normalization, NCHW.
//   MediaPipe BlazeFace (keijiro barracuda export): p * 2 - 1, NHWC.
//   M-LSD (tf2onnx): RGB in [0,255] plus a fourth channel of ones, NHWC; the graph itself scales
//   by 1/127.5 and subtracts 1.
//   fmnist (the project's own, in models/ rather than the cache): real Fashion-MNIST test images
//   (Debian's dataset-fashion-mnist), ((p/255) - 0.2860) / 0.3530 as in its training script; `real`
//   replaces the synthetic generator, since what matters for a classifier is its own kind of input.
export const FMNIST_DIR = process.env.TEQ_FMNIST || '/usr/share/datasets/fashion-mnist';
let fmnistTest = null;
/** N consecutive Fashion-MNIST test images ([N,1,28,28], normalised), from an offset the seed picks. */
function fmnistImages(shape, seed) {
  if (!fmnistTest) {
    const f = join(FMNIST_DIR, 't10k-images-idx3-ubyte.gz');
    if (!existsSync(f)) throw new Error(`${f} missing (apt install dataset-fashion-mnist, or set TEQ_FMNIST)`);
    const b = gunzipSync(readFileSync(f));
    if (b.readUInt32BE(0) !== 0x803 || b.readUInt32BE(8) !== 28 || b.readUInt32BE(12) !== 28) throw new Error(`${f}: not 28x28 IDX images`);
    fmnistTest = { n: b.readUInt32BE(4), px: b.subarray(16) };
  }
  const [N, , H, W] = shape;
  const start = (seed * 97) % (fmnistTest.n - N);
  const out = new Float32Array(N * H * W);
  for (let i = 0; i < out.length; i++) out[i] = (fmnistTest.px[start * H * W + i] / 255 - 0.286) / 0.353;
  return out;
}

export const MODELS = {
  rec: {
    file: 'ch_PP-OCRv4_rec_infer.onnx',
    input: 'x',
    layout: 'NCHW',
    norm: (p) => (p - 0.5) / 0.5,
    shapes: [[1, 3, 48, 160], [1, 3, 48, 320], [1, 3, 48, 640], [3, 3, 48, 320]],
    bench: [1, 3, 48, 320],
  },
  det: {
    file: 'ch_PP-OCRv4_det_infer.onnx',
    input: 'x',
    layout: 'NCHW',
    norm: (p, c) => (p - [0.485, 0.456, 0.406][c]) / [0.229, 0.224, 0.225][c],
    shapes: [[1, 3, 320, 320], [1, 3, 256, 416]],
    bench: [1, 3, 640, 640],
  },
  cls: {
    file: 'ch_ppocr_mobile_v2.0_cls_infer.onnx',
    input: 'x',
    layout: 'NCHW',
    norm: (p) => (p - 0.5) / 0.5,
    shapes: [[1, 3, 48, 192], [2, 3, 48, 192]],
    bench: [1, 3, 48, 192],
  },
  blazeface: {
    file: 'face_detection_front_128x128_barracuda.onnx',
    input: 'input:0',
    layout: 'NHWC',
    norm: (p) => p * 2 - 1,
    shapes: [[1, 128, 128, 3]],
    bench: [1, 128, 128, 3],
  },
  mlsd: {
    file: 'mlsd_320x320_tiny.onnx',
    input: 'input_image_with_alpha:0',
    layout: 'NHWC',
    norm: (p, c) => (c === 3 ? 1 : Math.round(p * 255)),
    shapes: [[1, 320, 320, 4]],
    bench: [1, 320, 320, 4],
    // small results of large cancelling sums (condition numbers up to ~1500): ORT's optimised and
    // unoptimised runs break the bound against each other there (59 of 102,400 elements on seed 1243)
    illConditioned: ['offsets'],
  },
  fmnist: {
    file: 'fmnist_resnet.onnx',
    path: join(REPO, 'models/fmnist_resnet.onnx'),
    input: 'image',
    layout: 'NCHW',
    real: fmnistImages,
    shapes: [[1, 1, 28, 28], [16, 1, 28, 28]],
    bench: [1, 1, 28, 28],
  },
};

/** Where a model's file is: the project's own in models/, the others in MODELS_DIR. */
export function modelPath(m) {
  return m.path ?? join(MODELS_DIR, m.file);
}

/** mulberry32: a small, fast 32-bit PRNG; returns U[0,1). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Draw a line of pseudo-text into img ([C][H*W]): glyphs made of 2-5 thick strokes each, so that
 * text detectors and recognizers see something like characters rather than flat noise. */
function drawText(rand, img, C, H, W, x0, y0, lineH, lineW, col) {
  const th = Math.max(1, Math.round(lineH / 9));
  let x = x0;
  while (x < x0 + lineW) {
    const gw = Math.round(lineH * (0.5 + rand() * 0.5));
    if (x + gw > Math.min(W, x0 + lineW)) break;
    const nStroke = 2 + Math.floor(rand() * 4);
    for (let s = 0; s < nStroke; s++) {
      const ax = x + rand() * gw, ay = y0 + rand() * lineH;
      // mostly horizontal or vertical strokes, like CJK and Latin glyphs
      const kind = rand();
      const bx = kind < 0.4 ? x + rand() * gw : kind < 0.8 ? ax : x + rand() * gw;
      const by = kind < 0.4 ? ay : y0 + rand() * lineH;
      const steps = Math.ceil(Math.hypot(bx - ax, by - ay)) + 1;
      for (let k = 0; k <= steps; k++) {
        const px = Math.round(ax + ((bx - ax) * k) / steps), py = Math.round(ay + ((by - ay) * k) / steps);
        for (let dy = 0; dy < th; dy++)
          for (let dx = 0; dx < th; dx++) {
            const yy = py + dy, xx = px + dx;
            if (yy >= 0 && yy < H && xx >= 0 && xx < W) for (let c = 0; c < C; c++) img[c][yy * W + xx] = col[c];
          }
      }
    }
    x += gw + Math.round(lineH * (0.1 + rand() * 0.3));
    if (rand() < 0.08) x += lineH; // a space between words
  }
}

/** One synthetic 8-bit-like image, pixels in [0,1], as [C][H*W]: a smooth low-frequency colour
 * field, a few sharp-edged blocks, lines of pseudo-text and a little noise. Smooth images with edges
 * and text-like strokes exercise these networks more like real pictures than white noise does (on
 * noise the OCR models output all-blank and the detector all-zero, which would test little). */
function synthImage(rand, C, H, W) {
  const waves = [];
  for (let k = 0; k < 4; k++)
    waves.push({
      fx: (rand() * 3) / W,
      fy: (rand() * 3) / H,
      ph: rand() * 2 * Math.PI,
      amp: 0.04 + rand() * 0.08,
      col: Array.from({ length: C }, () => 0.6 + rand() * 0.8),
    });
  const base = Array.from({ length: C }, () => 0.6 + rand() * 0.25);
  const img = Array.from({ length: C }, () => new Float32Array(H * W));
  for (let c = 0; c < C; c++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        let v = base[c];
        for (const w of waves) v += w.amp * w.col[c] * Math.sin(2 * Math.PI * (w.fx * x + w.fy * y) + w.ph);
        img[c][y * W + x] = v;
      }
  const nRect = 1 + Math.floor((H * W) / 20000);
  for (let r = 0; r < nRect; r++) {
    const h = 1 + Math.floor(rand() * Math.max(2, H / 4));
    const w = 1 + Math.floor(rand() * Math.max(2, W / 6));
    const y0 = Math.floor(rand() * H);
    const x0 = Math.floor(rand() * W);
    const col = Array.from({ length: C }, () => rand());
    for (let y = y0; y < Math.min(H, y0 + h); y++)
      for (let x = x0; x < Math.min(W, x0 + w); x++) for (let c = 0; c < C; c++) img[c][y * W + x] = col[c];
  }
  const ink = () => Array.from({ length: C }, () => rand() * 0.2);
  if (H <= 64) {
    // a text-line crop (what rec and cls see): one line nearly filling the height
    const lineH = Math.round(H * (0.55 + rand() * 0.25));
    drawText(rand, img, C, H, W, Math.floor(rand() * W * 0.1), Math.floor((H - lineH) / 2), lineH, W, ink());
  } else {
    const nLines = 2 + Math.floor((H * W) / 30000);
    for (let l = 0; l < nLines; l++) {
      const lineH = 10 + Math.floor(rand() * Math.min(30, H / 6));
      drawText(rand, img, C, H, W, Math.floor(rand() * W * 0.5), Math.floor(rand() * (H - lineH)), lineH, W * (0.2 + rand() * 0.6), ink());
    }
  }
  for (let c = 0; c < C; c++) {
    const a = img[c];
    for (let i = 0; i < a.length; i++) {
      const noise = (rand() + rand() + rand() - 1.5) * 0.04;
      a[i] = Math.round(Math.min(1, Math.max(0, a[i] + noise)) * 255) / 255;
    }
  }
  return img;
}

/** Deterministic input tensor (Float32Array) of the given shape for model `key`. */
export function makeInput(key, shape, seed) {
  const m = MODELS[key];
  if (m.real) return m.real(shape, seed);
  const rand = mulberry32(seed);
  const [N, C, H, W] = m.layout === 'NCHW' ? shape : [shape[0], shape[3], shape[1], shape[2]];
  const out = new Float32Array(numel(shape));
  for (let n = 0; n < N; n++) {
    const img = synthImage(rand, C, H, W);
    for (let c = 0; c < C; c++)
      for (let i = 0; i < H * W; i++) {
        const v = m.norm(img[c][i], c);
        if (m.layout === 'NCHW') out[((n * C + c) * H * W) + i] = v;
        else out[(n * H * W + i) * C + c] = v;
      }
  }
  return out;
}

/** Load onnxruntime-node from ORT_PATH. */
export function loadOrt() {
  const require = createRequire(import.meta.url);
  if (!existsSync(ORT_PATH)) throw new Error(`onnxruntime-node not found at ${ORT_PATH} (run scripts/setup.sh ort, or set TEQ_ORT)`);
  return require(ORT_PATH);
}

/** The file name teq gives an output: characters outside [A-Za-z0-9._-] become '_'. */
export function outFileName(name) {
  return name.replace(/[^A-Za-z0-9._-]/g, '_') + '.npy';
}

/** Index i of a C-order array of `shape` as [i0,i1,...]. */
function unravel(i, shape) {
  const idx = new Array(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

/** Compare teq's output with ORT's element by element. Returns stats; ok is false on any violation. */
export function compareArrays(teq, ort) {
  const r = { maxAbs: 0, maxRel: 0, viol: 0, n: ort.data.length, worst: -1, worstRatio: -1, teqVal: 0, ortVal: 0, msg: '' };
  if (teq.shape.join(',') !== ort.shape.join(',')) {
    r.msg = `shape [${teq.shape}] != ORT's [${ort.shape}]`;
    r.viol = r.n;
    return r;
  }
  const exactInts = typeof ort.data[0] === 'bigint' || typeof teq.data[0] === 'bigint';
  for (let i = 0; i < r.n; i++) {
    let o = ort.data[i],
      t = teq.data[i];
    let ratio;
    if (exactInts) {
      ratio = BigInt(o) === BigInt(t) ? 0 : Infinity;
      o = Number(o);
      t = Number(t);
    } else if (Number.isNaN(o) || Number.isNaN(t) || !Number.isFinite(o) || !Number.isFinite(t)) {
      ratio = Object.is(o, t) || (Number.isNaN(o) && Number.isNaN(t)) || o === t ? 0 : Infinity;
    } else {
      const d = Math.abs(t - o);
      if (d > r.maxAbs) r.maxAbs = d;
      if (Math.abs(o) >= 1e-4 && d / Math.abs(o) > r.maxRel) r.maxRel = d / Math.abs(o);
      ratio = d / (ATOL + RTOL * Math.abs(o));
    }
    if (ratio > 1) {
      r.viol++;
      if (ratio === Infinity) r.maxAbs = Infinity;
    }
    if (ratio > r.worstRatio) {
      r.worstRatio = ratio;
      r.worst = i;
      r.teqVal = t;
      r.ortVal = o;
    }
  }
  r.worstIdx = r.worst >= 0 ? unravel(r.worst, ort.shape) : [];
  return r;
}

const fmt = (x) => (x === Infinity ? 'inf' : x.toExponential(2));

async function main() {
  const args = process.argv.slice(2);
  let teqBin = 'build/teq',
    only = null,
    seed = 1234,
    keep = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--only') only = args[++i]?.split(',');
    else if (a === '--seed') seed = Number(args[++i]);
    else if (a === '--keep') keep = true;
    else if (a === '-h' || a === '--help') {
      console.log('usage: node tests/ort_compare.mjs [TEQ_BIN] [--only NAME[,NAME...]] [--seed N] [--keep]');
      return 0;
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else teqBin = a;
  }
  if (only) for (const k of only) if (!MODELS[k]) throw new Error(`--only: unknown model '${k}' (${Object.keys(MODELS).join(', ')})`);
  if (!Number.isInteger(seed)) throw new Error('--seed needs an integer');
  const timeoutMs = Number(process.env.TEQ_TIMEOUT_S || 600) * 1000;
  teqBin = resolve(teqBin);

  // Seeds are numbered over all cases, so that --only reproduces the inputs of a full run.
  const cases = [];
  let k = 0;
  for (const [key, m] of Object.entries(MODELS))
    for (const shape of m.shapes) {
      const c = { key, shape, seed: seed + k++ };
      if (!only || only.includes(key)) cases.push(c);
    }
  const tmp = mkdtempSync(join(tmpdir(), 'teq-ortcmp-'));
  console.log(`ort_compare: teq ${teqBin}, models ${MODELS_DIR}, tolerance |teq-ort| <= ${ATOL} + ${RTOL}*|ort|, base seed ${seed}, tmp ${tmp}`);
  let ort = null,
    ortErr = null;
  try {
    ort = loadOrt();
  } catch (e) {
    ortErr = e.message;
  }
  const sessions = {};
  const sessOpts = {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3, // no warnings about unused initializers in the models
  };
  let passed = 0,
    failed = 0,
    passedStar = 0; // of the passed, those under the PASS* rule
  for (const [ci, c] of cases.entries()) {
    const m = MODELS[c.key];
    const label = `${c.key.padEnd(9)} [${c.shape.join(',')}]`.padEnd(27);
    let t0 = Date.now();
    const dir = join(tmp, `case${ci}_${c.key}`);
    const fail = (why, detail = '') => {
      failed++;
      console.log(`FAIL ${label} ${why} (seed ${c.seed})`);
      if (detail) console.log(detail.replace(/^/gm, '     | '));
    };
    try {
      if (ortErr) throw new Error(ortErr);
      const mfile = modelPath(m);
      if (!existsSync(mfile)) throw new Error(`${mfile} missing (run scripts/setup.sh models, or set TEQ_MODELS)`);
      mkdirSync(join(dir, 'out'), { recursive: true });
      const data = makeInput(c.key, c.shape, c.seed);
      const inPath = join(dir, 'input.npy');
      writeNpy(inPath, { shape: c.shape, data });
      t0 = Date.now();

      sessions[c.key] ??= await ort.InferenceSession.create(mfile, sessOpts);
      const sess = sessions[c.key];
      const res = await sess.run({ [m.input]: new ort.Tensor('float32', data, c.shape) });
      const tOrt = Date.now() - t0;

      const t1 = Date.now();
      const p = spawnSync(teqBin, ['run', mfile, '-i', `${m.input}=${inPath}`, '-o', join(dir, 'out'), '-q'], {
        encoding: 'utf8',
        timeout: timeoutMs,
        maxBuffer: 64 << 20,
      });
      const tTeq = Date.now() - t1;
      if (p.error && p.error.code !== 'ETIMEDOUT') throw p.error;
      if (p.status !== 0) {
        const how = p.signal ? `killed by ${p.signal}${p.error?.code === 'ETIMEDOUT' ? ` (timeout ${timeoutMs / 1000}s)` : ''}` : `exit ${p.status}`;
        fail(`teq ${how}`, (p.stderr || '').trim().split('\n').slice(-8).join('\n'));
        continue;
      }
      let agg = { maxAbs: 0, maxRel: 0, viol: 0, n: 0, worstRatio: -1, where: '' };
      const problems = [];
      for (const name of sess.outputNames) {
        const o = res[name];
        const f = join(dir, 'out', outFileName(name));
        if (!existsSync(f)) {
          problems.push(`output '${name}': teq wrote no ${outFileName(name)}`);
          agg.viol++;
          continue;
        }
        const t = readNpy(f);
        const oa = { shape: o.dims.map(Number), data: o.data };
        const r = compareArrays(t, oa);
        if (t.dtype !== o.type) {
          problems.push(`output '${name}': teq wrote ${t.dtype}, ORT gives ${o.type}`);
          agg.viol++;
        }
        if (r.msg) problems.push(`output '${name}': ${r.msg}`);
        else if (r.viol)
          problems.push(
            `output '${name}' [${oa.shape}]: ${r.viol}/${r.n} violations, max abs ${fmt(r.maxAbs)}, worst [${r.worstIdx}] teq ${r.teqVal} ort ${r.ortVal}`,
          );
        agg.maxAbs = Math.max(agg.maxAbs, r.maxAbs);
        agg.maxRel = Math.max(agg.maxRel, r.maxRel);
        agg.viol += r.viol;
        agg.n += r.n;
        if (r.worstRatio > agg.worstRatio) {
          agg.worstRatio = r.worstRatio;
          agg.where = `${name}[${r.worstIdx}] (err/bound ${r.worstRatio === Infinity ? 'inf' : r.worstRatio.toFixed(3)})`;
        }
      }
      const line = `max_abs ${fmt(agg.maxAbs)} max_rel ${fmt(agg.maxRel)} viol ${agg.viol}/${agg.n} worst ${agg.where}`;
      if (agg.viol === 0 && problems.length === 0) {
        passed++;
        console.log(`PASS ${label} ${line} (seed ${c.seed}, ort ${tOrt} ms, teq ${tTeq} ms)`);
      } else {
        // Where the bound is broken, measure ORT against itself without graph optimizations (other
        // kernels, no fusions, another summation order). An output on which ORT's own two float32
        // results also break the bound is ill-conditioned in float32 (small results of large
        // cancelling sums): no independent float32 engine can meet the element-wise bound there.
        // Such an output alone passes on a second, stated rule: teq's distance to ORT is no more
        // than NOISE_FACTOR times ORT's distance to itself, in violations and in max abs error. The
        // rule is open only to the outputs the model lists as illConditioned (measured there); every
        // other output keeps the element-wise bound, and the line says which rule was used.
        let noiseOk = false;
        const notes = [];
        if (agg.viol && problems.every((p) => !/shape|wrote|NaN|inf/i.test(p))) {
          try {
            const plain = await ort.InferenceSession.create(mfile, { ...sessOpts, graphOptimizationLevel: 'disabled' });
            const res0 = await plain.run({ [m.input]: new ort.Tensor('float32', data, c.shape) });
            noiseOk = true;
            for (const name of sess.outputNames) {
              const A = (r) => ({ shape: r[name].dims.map(Number), data: r[name].data });
              const tq = compareArrays(readNpy(join(dir, 'out', outFileName(name))), A(res));
              const self = compareArrays(A(res0), A(res));
              const listed = (m.illConditioned || []).includes(name);
              const inNoise = self.viol > 0 && tq.viol <= NOISE_FACTOR * self.viol && tq.maxAbs <= NOISE_FACTOR * self.maxAbs;
              const ok = tq.viol === 0 || (listed && inNoise);
              if (!ok) noiseOk = false;
              notes.push(
                `output '${name}': teq vs ORT ${tq.viol} violations, max abs ${fmt(tq.maxAbs)}; ORT unoptimized vs ORT ${self.viol} violations, max abs ${fmt(self.maxAbs)}` +
                  (tq.viol === 0
                    ? ' (bound met)'
                    : ok
                      ? ' (ill-conditioned: within ORT\'s own float32 noise)'
                      : inNoise
                        ? ' (within ORT\'s own noise, but not an output the PASS* rule was measured on)'
                        : ' (NOT within ORT\'s own noise)'),
              );
            }
          } catch (e) {
            notes.push(`(ORT unoptimized comparison failed: ${e.message.split('\n')[0]})`);
            noiseOk = false;
          }
        }
        if (noiseOk) {
          passed++;
          passedStar++;
          console.log(`PASS* ${label} ${line} (seed ${c.seed}; element-wise bound broken only where ORT breaks it against itself)`);
          for (const n of notes) console.log(`     | ${n}`);
        } else {
          fail(line, problems.concat(notes).join('\n'));
        }
      }
    } catch (e) {
      fail(`error: ${e.message.split('\n')[0]}`);
    }
  }
  if (keep) console.log(`kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
  // PASS* cases are passes, on the stated second rule: counted apart, so that a new one shows
  console.log(`${passed} passed, ${failed} failed (${passedStar} of the ${passed} passes under the PASS* rule)`);
  return failed ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().then(
    (rc) => process.exit(rc),
    (e) => {
      console.error(`ort_compare: ${e.message}`);
      console.log('0 passed, 1 failed');
      process.exit(1);
    },
  );
}
