// ONNX Runtime's per-node times for a model, printed as `teq run --profile` prints teq's, to put the two
// side by side layer by layer (where teq trails ORT, and on which shapes).
//
// usage: node bench/ort_profile.mjs MODEL INPUT.npy [--threads T] [--runs N] [--warmup W] [--top K]
//   Defaults: 1 thread, 10 timed runs after 3 warm-up runs, the 15 slowest nodes.
//   ORT is found as in tests/ort_compare.mjs (env TEQ_ORT); the session options are the bench's
//   (bench/bench_models.mjs: CPU, sequential, all graph optimizations), with profiling on.
//
// ORT's profile is a JSON trace of events; each node run gives a "<node>_kernel_time" event (category
// "Node") with its duration in microseconds, the operator (op_name) and the output shapes. Only the timed
// runs are counted: the trace's node events are taken in order and the warm-up runs' share dropped. ORT
// names the nodes of its optimized graph (fused Conv + BatchNormalization + activation nodes, NCHWc
// reorders) after their outputs, not after the ONNX file's Conv__N names: match layers by output shape.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrt } from '../tests/ort_compare.mjs';
import { readNpy } from '../tests/npy.mjs';

function usage(msg) {
  console.error(`ort_profile: ${msg} (usage: node bench/ort_profile.mjs MODEL INPUT.npy [--threads T] [--runs N] [--warmup W] [--top K])`);
  process.exit(2);
}

const args = process.argv.slice(2);
const pos = [];
const opt = { threads: 1, runs: 10, warmup: 3, top: 15 };
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a.startsWith('--')) {
    const k = a.slice(2);
    if (!(k in opt) || i + 1 >= args.length) usage(`unknown or incomplete option '${a}'`);
    const v = Number(args[++i]);
    if (!Number.isInteger(v) || v < (k === 'warmup' ? 0 : 1)) usage(`${a} takes a whole number${k === 'warmup' ? '' : ' >= 1'}`);
    opt[k] = v;
  } else pos.push(a);
}
if (pos.length !== 2) usage('MODEL and INPUT.npy are required');
const [model, input] = pos;
for (const f of pos) if (!existsSync(f)) usage(`${f}: no such file`);

const ort = loadOrt();
const dir = mkdtempSync(join(tmpdir(), 'teq-ortprof-'));
try {
  // loaded once without profiling first: a file ORT cannot load then fails with its message alone (a
  // profiling session that fails to load also logs that it has no profile to write)
  await (await ort.InferenceSession.create(model, { logSeverityLevel: 3 })).release?.();
  const s = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: opt.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    enableProfiling: true,
    profileFilePrefix: join(dir, 'ort'),
  });
  const x = readNpy(input);
  const feed = { [s.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape) };
  for (let r = 0; r < opt.warmup; r++) await s.run(feed);
  const t0 = performance.now();
  for (let r = 0; r < opt.runs; r++) await s.run(feed);
  const wall = (performance.now() - t0) / opt.runs;
  s.endProfiling(); // writes ort_<date>.json into dir (onnxruntime-node returns no name)
  const file = readdirSync(dir).find((f) => f.endsWith('.json'));
  if (!file) throw new Error('ONNX Runtime wrote no profile');
  const events = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const nodes = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  const total = opt.warmup + opt.runs;
  if (nodes.length % total) throw new Error(`${nodes.length} node events do not split into ${total} runs`);
  const timed = nodes.slice((nodes.length / total) * opt.warmup);
  const byNode = new Map(), byOp = new Map();
  for (const e of timed) {
    const name = e.name.slice(0, -'_kernel_time'.length);
    const shape = (e.args.output_type_shape || []).map((o) => `[${Object.values(o)[0].join(',')}]`).join(' ');
    const n = byNode.get(name) || { op: e.args.op_name, us: 0, shape };
    n.us += e.dur;
    byNode.set(name, n);
    const o = byOp.get(e.args.op_name) || { n: 0, us: 0 };
    o.us += e.dur;
    byOp.set(e.args.op_name, o);
  }
  for (const [, n] of byNode) byOp.get(n.op).n++;
  const sum = [...byOp.values()].reduce((a, o) => a + o.us, 0);
  const ms = (us) => (us / opt.runs / 1000).toFixed(3).padStart(10);
  const pct = (us) => ((100 * us) / sum).toFixed(1).padStart(7);
  console.log(`ORT ${ort.env?.versions?.common ?? ''} ${model}: ${opt.runs} run(s) after ${opt.warmup} warm-up, ${opt.threads} thread(s), ${wall.toFixed(2)} ms per run`);
  console.log(`profile: ${byNode.size} nodes as run (ORT's optimized graph), ${(sum / opt.runs / 1000).toFixed(2)} ms per run in nodes`);
  console.log(`  ${'operator'.padEnd(22)} ${'nodes'.padStart(6)} ${'ms/run'.padStart(10)} ${'%'.padStart(7)}`);
  for (const [op, o] of [...byOp].sort((a, b) => b[1].us - a[1].us)) console.log(`  ${op.padEnd(22)} ${String(o.n).padStart(6)} ${ms(o.us)} ${pct(o.us)}`);
  console.log(`  slowest nodes:\n  ${'ms/run'.padStart(10)} ${'%'.padStart(7)}  ${'operator'.padEnd(20)} output shape   node`);
  for (const [name, n] of [...byNode].sort((a, b) => b[1].us - a[1].us).slice(0, opt.top))
    console.log(`  ${ms(n.us)} ${pct(n.us)}  ${n.op.padEnd(20)} ${n.shape.padEnd(14)} ${name.length > 90 ? '...' + name.slice(-87) : name}`);
} catch (e) {
  console.error(`ort_profile: ${String(e.message || e).split('\n')[0]}`);
  process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
