// The ONNX export against teq itself: for rec, det, cls, BlazeFace and M-LSD, each quantized in both
// schemes (exponential and INT8), ONNX Runtime on `teq export`'s model against `TEQ_KERNEL=dequant teq
// run` on the .teq (the float path whose code choices the export reproduces), on generated real-looking
// data (rendered text lines, text pages, face figures, line drawings: `teq dataset`).
//
// usage: node tests/export_compare.mjs [TEQ_BIN] [--only NAME[,NAME...]] [--schemes teq,int8] [--keep]
//                                      [--perturb K]
//   --perturb K   export with TEQ_EXPORT_PERTURB=K (the K-th exponential quantizer of each model gets one
//                 threshold moved up to the next level): the mutation check; every exponential case
//                 must then FAIL
// env: TEQ_MODELS, TEQ_ORT as tests/ort_compare.mjs; TEQ_EXPORT_WORK (a folder to keep the data and
//      models in instead of a temporary one).
//
// The rule (docs/DECISIONS.md, "ONNX export"), per model and scheme, over all samples:
//   1. decisions: the model's own decision per position agrees on >= 99.5% of positions:
//      rec: the argmax class of every time step (and the CTC-decoded text of every line is reported),
//      cls: the argmax class of every sample, det: probability > 0.3 (DB's binarisation) per pixel,
//      BlazeFace: score logit > 0 (sigmoid > 0.5) per anchor, M-LSD: centre score > 0.1 per pixel.
//   2. elements: >= 99% of all output elements within |ort - teq| <= 1e-4 + 1e-3*|teq|, the float
//      tolerance of tests/ort_compare.mjs. An element off by more is one whose computation saw a code
//      that differs (the float paths alone stay far inside the bound: ort_compare.mjs), so this bounds the
//      share of outputs that a code flip reaches; where no code flips, every element is within it.
// Last line: `N passed, M failed`; exit 1 when anything failed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MODELS, loadOrt, modelPath, outFileName } from './ort_compare.mjs';
import { readNpy, writeNpy } from './npy.mjs';

export const ATOL = 1e-4;
export const RTOL = 1e-3;
export const MIN_DECISIONS = 0.995;
export const MIN_ELEMENTS = 0.99;

const TEXT = '/usr/share/common-licenses/GPL-3';
const FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf';

// Per model: how its data set is made (teq dataset), how many samples calibrate (kept small: the check
// is about the export reproducing the .teq, not about the .teq's accuracy) and how positions are decided.
const CASES = {
  rec: { data: ['ocr-lines', '--text', TEXT, '--font', FONT, '-n', '24', '--seed', '11'], calib: 4, decide: 'argmax' },
  cls: { data: ['synth', '--kind', 'ocr-cls', '--text', TEXT, '--font', FONT, '-n', '32', '--seed', '12'], calib: 4, decide: 'argmax' },
  det: {
    data: ['synth', '--kind', 'ocr-det', '--text', TEXT, '--font', FONT, '-n', '3', '--seed', '13', '--height', '320', '--width', '320'],
    calib: 2,
    decide: 'det',
  },
  blazeface: { data: ['synth', '--kind', 'blazeface', '-n', '16', '--seed', '14'], calib: 4, decide: 'logit' },
  mlsd: { data: ['synth', '--kind', 'mlsd', '-n', '3', '--seed', '15'], calib: 2, decide: 'mlsd' },
};
const SCHEMES = { teq: ['--scheme', 'teq', '--bits', '4,6'], int8: ['--scheme', 'int8'] };

function sh(cmd, args, env) {
  const p = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20, env: { ...process.env, ...env } });
  if (p.error) throw p.error;
  if (p.status !== 0) throw new Error(`${cmd} ${args.slice(0, 2).join(' ')}: exit ${p.status}: ${(p.stderr || '').trim().split('\n').pop()}`);
  return p.stdout;
}

/** Decisions of one output: an array of booleans or class indices, one per position. */
function decisions(kind, name, shape, data) {
  const out = [];
  if (kind === 'argmax') {
    const C = shape[shape.length - 1];
    for (let i = 0; i < data.length; i += C) {
      let best = 0;
      for (let c = 1; c < C; c++) if (data[i + c] > data[i + best]) best = c;
      out.push(best);
    }
  } else if (kind === 'det') for (const v of data) out.push(v > 0.3);
  else if (kind === 'logit') {
    if (shape[shape.length - 1] !== 1) return null; // BlazeFace's box regressors: no decision of their own
    for (const v of data) out.push(v > 0);
  } else if (kind === 'mlsd') {
    if (name !== 'scores') return null; // the offsets are read only where a centre is kept
    for (const v of data) out.push(v > 0.1);
  }
  return out;
}

/** Greedy CTC decoding of rec's [N,T,C] output: the class sequences per line (blank 0 dropped). */
function ctcLines(shape, data) {
  const [N, T, C] = shape;
  const lines = [];
  for (let n = 0; n < N; n++) {
    const seq = [];
    let prev = -1;
    for (let t = 0; t < T; t++) {
      const o = (n * T + t) * C;
      let best = 0;
      for (let c = 1; c < C; c++) if (data[o + c] > data[o + best]) best = c;
      if (best !== prev && best !== 0) seq.push(best);
      prev = best;
    }
    lines.push(seq.join(','));
  }
  return lines;
}

async function main() {
  const args = process.argv.slice(2);
  let teqBin = 'build/teq',
    only = null,
    schemes = Object.keys(SCHEMES),
    keep = false,
    perturb = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--only') only = args[++i].split(',');
    else if (a === '--schemes') schemes = args[++i].split(',');
    else if (a === '--keep') keep = true;
    else if (a === '--perturb') perturb = String(Number(args[++i]));
    else if (a === '-h' || a === '--help') {
      console.log('usage: node tests/export_compare.mjs [TEQ_BIN] [--only NAME,...] [--schemes teq,int8] [--keep] [--perturb K]');
      return 0;
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else teqBin = a;
  }
  for (const k of only ?? []) if (!CASES[k]) throw new Error(`--only: unknown model '${k}' (${Object.keys(CASES).join(', ')})`);
  for (const s of schemes) if (!SCHEMES[s]) throw new Error(`--schemes: unknown scheme '${s}'`);
  teqBin = resolve(teqBin);
  const work = process.env.TEQ_EXPORT_WORK ? resolve(process.env.TEQ_EXPORT_WORK) : mkdtempSync(join(tmpdir(), 'teq-export-'));
  mkdirSync(work, { recursive: true });
  console.log(
    `export_compare: teq ${teqBin}; ORT on the export vs TEQ_KERNEL=dequant teq run; rule: decisions agree on >= ${MIN_DECISIONS * 100}% of positions, ` +
      `>= ${MIN_ELEMENTS * 100}% of elements within ${ATOL} + ${RTOL}*|teq|${perturb != null ? `; MUTATION: TEQ_EXPORT_PERTURB=${perturb}` : ''}; work ${work}`,
  );
  const ort = loadOrt();
  let passed = 0,
    failed = 0,
    skipped = 0;
  try {
    for (const [key, c] of Object.entries(CASES)) {
      if (only && !only.includes(key)) continue;
      const m = MODELS[key];
      const model = modelPath(m);
      if (!existsSync(model)) {
        if (process.env.CI === 'true') {
          console.log(`FAIL ${key}: ${model} missing`);
          failed++;
        } else {
          console.log(`SKIP ${key}: ${model} missing (run scripts/setup.sh models)`);
          skipped++;
        }
        continue;
      }
      const dataDir = join(work, `${key}_data`);
      if (!existsSync(join(dataDir, 'inputs.npy'))) sh(teqBin, ['dataset', ...c.data, '-o', dataDir]);
      const x = readNpy(join(dataDir, 'inputs.npy'));
      const per = x.data.length / x.shape[0];
      for (const scheme of schemes) {
        const label = `${key.padEnd(9)} ${scheme.padEnd(4)}`;
        try {
          const t0 = Date.now();
          const q = join(work, `${key}_${scheme}.teq`);
          if (!existsSync(q))
            sh(teqBin, ['quantize', model, '--calib', dataDir, '--calib-limit', String(c.calib), '--rounding', 'nearest', ...SCHEMES[scheme], '-o', q]);
          const onnx = join(work, `${key}_${scheme}${perturb != null ? `_p${perturb}` : ''}.onnx`);
          sh(teqBin, ['export', q, '-o', onnx], perturb != null ? { TEQ_EXPORT_PERTURB: perturb } : {});
          const t1 = Date.now();
          const sess = await ort.InferenceSession.create(onnx, {
            executionProviders: ['cpu'],
            intraOpNumThreads: 2,
            graphOptimizationLevel: process.env.TEQ_EXPORT_ORT_OPT || 'all',
            logSeverityLevel: 3,
          });
          // teq: the whole set in one run where the batch is dynamic, else one sample per run
          const fixedBatch = key === 'blazeface' || key === 'mlsd';
          const batches = fixedBatch ? Array.from({ length: x.shape[0] }, (_, i) => [i, i + 1]) : [[0, x.shape[0]]];
          const teqOut = {},
            ortOut = {};
          for (const [b0, b1] of batches) {
            const shape = [b1 - b0, ...x.shape.slice(1)];
            const data = x.data.subarray(b0 * per, b1 * per);
            const inPath = join(work, `${key}_in.npy`);
            writeNpy(inPath, { shape, data });
            const od = join(work, `${key}_${scheme}_out`);
            sh(teqBin, ['run', q, '-i', `${m.input}=${inPath}`, '-o', od, '-q', '--threads', '2'], { TEQ_KERNEL: 'dequant' });
            const res = await sess.run({ [m.input]: new ort.Tensor('float32', data, shape) });
            for (const name of sess.outputNames) {
              const t = readNpy(join(od, outFileName(name)));
              const o = res[name];
              if (t.data.length !== o.data.length) throw new Error(`output ${name}: teq has ${t.data.length} elements, ORT ${o.data.length}`);
              (teqOut[name] ??= { shape: t.shape, parts: [] }).parts.push(t.data);
              (ortOut[name] ??= { shape: o.dims.map(Number), parts: [] }).parts.push(o.data);
            }
          }
          // compare
          let nDec = 0,
            sameDec = 0,
            nEl = 0,
            inTol = 0,
            maxAbs = 0,
            lines = '';
          for (const name of Object.keys(teqOut)) {
            const join_ = (p) => {
              const n = p.reduce((s, a) => s + a.length, 0),
                r = new Float32Array(n);
              let o = 0;
              for (const a of p) r.set(a, o), (o += a.length);
              return r;
            };
            const a = join_(teqOut[name].parts),
              b = join_(ortOut[name].parts);
            for (let i = 0; i < a.length; i++) {
              const d = Math.abs(a[i] - b[i]);
              if (d <= ATOL + RTOL * Math.abs(a[i])) inTol++;
              if (d > maxAbs) maxAbs = d;
            }
            nEl += a.length;
            const da = decisions(c.decide, name, teqOut[name].shape, a),
              db = decisions(c.decide, name, teqOut[name].shape, b);
            if (da) {
              nDec += da.length;
              for (let i = 0; i < da.length; i++) sameDec += da[i] === db[i];
            }
            if (key === 'rec') {
              const shape = [x.shape[0], a.length / x.shape[0] / teqOut[name].shape[2], teqOut[name].shape[2]];
              const la = ctcLines(shape, a),
                lb = ctcLines(shape, b);
              lines = `, decoded lines equal ${la.filter((l, i) => l === lb[i]).length}/${la.length}`;
            }
          }
          const fd = nDec ? sameDec / nDec : 0,
            fe = nEl ? inTol / nEl : 0;
          const ok = fd >= MIN_DECISIONS && fe >= MIN_ELEMENTS;
          if (ok) passed++;
          else failed++;
          console.log(
            `${ok ? 'PASS' : 'FAIL'} ${label} decisions ${sameDec}/${nDec} (${(100 * fd).toFixed(3)}%), elements within tolerance ` +
              `${inTol}/${nEl} (${(100 * fe).toFixed(3)}%), max |diff| ${maxAbs.toExponential(2)}${lines}; ` +
              `quantize+export ${((t1 - t0) / 1000).toFixed(1)} s, runs ${((Date.now() - t1) / 1000).toFixed(1)} s`,
          );
        } catch (e) {
          failed++;
          console.log(`FAIL ${label} ${e.message}`);
        }
      }
    }
  } finally {
    if (!keep && !process.env.TEQ_EXPORT_WORK) rmSync(work, { recursive: true, force: true });
  }
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  return failed ? 1 : 0;
}

main().then(
  (rc) => process.exit(rc),
  (e) => {
    console.error(`export_compare: ${e.message}`);
    process.exit(1);
  },
);
