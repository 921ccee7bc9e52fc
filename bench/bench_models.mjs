// Speed and memory of teq against ONNX Runtime on the five real models.
//
// usage: node bench/bench_models.mjs [TEQ_BIN] [--only NAME[,NAME...]] [--threads 1,2] [--runs N]
//                                    [--rounds R] [--warmup W] [--json FILE]
//   TEQ_BIN defaults to build/teq; models and ORT are found as in tests/ort_compare.mjs
//   (env TEQ_MODELS, TEQ_ORT). Defaults: threads 1,2; 3 rounds of 7 timed runs after 2 warm-up runs.
//   Rounds: per model and thread count, every configuration below (ORT, ORT INT8, teq FP32 and each
//   quantized teq model) is timed once per round, in turn; its figure is the median of its rounds'
//   medians (the per-round medians are in the JSON as *_round_medians_ms). On a shared machine a burst
//   of load then falls on one round of each configuration instead of on all runs of one.
//
// What is measured, per model (one typical input size) and thread count:
//   ORT: an InferenceSession (CPU, intraOpNumThreads T, interOpNumThreads 1, sequential, all graph
//        optimizations) in this process; W warm-up runs, then N runs timed one by one with
//        performance.now(): median and best.
//   teq: one `teq run MODEL -i IN -o DIR --threads T --warmup W --repeat N` process; its own timing
//        line (`ran ...: best X ms, median Y ms, mean Z ms`) times teq_model_run only, not loading,
//        over the N runs after the W warm-up runs. The ratio is median over median.
//   teq peak RSS: the kernel's ru_maxrss of the teq process, read with GNU time (/usr/bin/time -f
//        %M) when installed; otherwise VmHWM polled from /proc/PID/status every 2 ms in a separate
//        single-run process (a lower bound if the peak comes in the last 2 ms).
//   teq INT8 / INT8w7 / exp / lanes: the same `teq run` on the model quantized once (`teq quantize
//        --scheme int8`, that with `--bits 7,8` (7-bit weights: AVX2's INT8 kernels by bytes),
//        `--scheme teq --bits 4,8`, and that with `--int-lanes on`, calibrated on 8 generated inputs of
//        the bench shape), cached in out/bench-quant/<model>_{int8,int8w7,exp,lanes}.teq; "INT8/FP32",
//        "w7/FP32", "exp/FP32", "lanes/FP32" are median over median against teq's FP32 in the same
//        row (--no-quant skips them).
//   ORT INT8: ONNX Runtime (same session options as above) on `teq export` of the INT8 .teq
//        (QuantizeLinear/DequantizeLinear pairs; ORT fuses what its QDQ rules allow into integer
//        kernels), cached as out/bench-quant/<model>_int8.onnx; "INT8/ORT8" is teq INT8 median over ORT
//        INT8 median: the speed anchor for teq's INT8 kernels.
//   ORT peak RSS: a child node process loads ONNX Runtime, notes its maxRSS, then creates the
//        session and runs W+1 times; "ORT RSS" is the child's peak maxRSS (node and the ORT library
//        included) and "ORT +" the growth over the state after loading the library (session and
//        runs only).
// The machine should be otherwise idle; the numbers are wall-clock times.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MODELS, ORT_PATH, loadOrt, makeInput, modelPath } from '../tests/ort_compare.mjs';
import { readNpy, writeNpy } from '../tests/npy.mjs';

// A made file (quantized model, export) is made again when missing or older than what it is made from:
// after a rebuild of teq the bench times the current quantizer's models, not an earlier build's.
function stale(path, from) {
  return !existsSync(path) || statSync(path).mtimeMs < statSync(from).mtimeMs;
}

const sessionOptions = (threads) => ({
  executionProviders: ['cpu'],
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  logSeverityLevel: 3,
});

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// Child mode: measure ORT's peak memory in a fresh process.
// ORT's times (ms) of `runs` runs of one session after `warmup` untimed ones
async function ortTimes(ort, file, threads, feed, warmup, runs) {
  const s = await ort.InferenceSession.create(file, sessionOptions(threads));
  for (let r = 0; r < warmup; r++) await s.run(feed);
  const t = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await s.run(feed);
    t.push(performance.now() - t0);
  }
  await s.release?.();
  return t;
}

// "ORT +" is the session's and runs' growth: the peak after them against the resident size after loading the
// library. The kernel's high-water mark is reset after the load (writing 5 to /proc/self/clear_refs) where
// it can be: comparing two high-water marks read 0 MB whenever loading the library had peaked higher than
// the whole session did (the small models in stop 23's first runs).
function procKb(field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
async function ortChild([model, inPath, inName, threads, runs]) {
  const ort = loadOrt();
  let reset = false;
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    reset = true;
  } catch {}
  const base = reset && procKb('VmRSS') != null ? procKb('VmRSS') : process.resourceUsage().maxRSS;
  const x = readNpy(inPath);
  const s = await ort.InferenceSession.create(model, sessionOptions(Number(threads)));
  for (let r = 0; r < Number(runs); r++) await s.run({ [inName]: new ort.Tensor('float32', x.data, x.shape) });
  const peak = process.resourceUsage().maxRSS;
  const hwm = reset ? procKb('VmHWM') : null;
  console.log(JSON.stringify({ base_kb: base, peak_kb: peak, growth_peak_kb: hwm != null ? hwm : peak }));
}

// Run a command; returns { status, stdout, stderr, rssKb, method }.
// TEQ_BENCH_RSS=poll forces the /proc polling method (for testing it where GNU time exists).
const GNU_TIME = process.env.TEQ_BENCH_RSS === 'poll' ? undefined : ['/usr/bin/time', '/bin/time'].find((p) => existsSync(p) && spawnSync(p, ['-f', '%M', 'true']).status === 0);
async function runMeasured(cmd, args, { measureRss }) {
  if (measureRss && GNU_TIME) {
    const f = join(tmpdir(), `teq-bench-time-${process.pid}.txt`);
    const p = spawnSync(GNU_TIME, ['-f', '%M', '-o', f, cmd, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
    let rssKb = null;
    try {
      rssKb = Number(readFileSync(f, 'utf8').trim().split('\n').pop());
    } catch {}
    rmSync(f, { force: true });
    return { status: p.status, signal: p.signal, stdout: p.stdout, stderr: p.stderr, rssKb, error: p.error };
  }
  return await new Promise((done) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '',
      hwm = 0;
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const poll = () => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'));
        if (m) hwm = Math.max(hwm, Number(m[1]));
      } catch {}
    };
    const timer = measureRss ? setInterval(poll, 2) : null;
    p.on('error', (error) => done({ status: null, stdout, stderr, rssKb: null, error }));
    p.on('close', (status, signal) => {
      if (timer) clearInterval(timer);
      done({ status, signal, stdout, stderr, rssKb: measureRss ? hwm || null : null });
    });
  });
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--ort-child') return ortChild(args.slice(1));
  let teqBin = 'build/teq',
    only = null,
    threadList = [1, 2],
    runs = 7,
    warmup = 2,
    jsonPath = null,
    quant = true,
    rounds = 3;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--only') only = args[++i].split(',');
    else if (a === '--threads') threadList = args[++i].split(',').map(Number);
    else if (a === '--runs') runs = Number(args[++i]);
    else if (a === '--warmup') warmup = Number(args[++i]);
    else if (a === '--json') jsonPath = args[++i];
    else if (a === '--no-quant') quant = false;
    else if (a === '--rounds') rounds = Number(args[++i]);
    else if (a === '-h' || a === '--help') {
      console.log('usage: node bench/bench_models.mjs [TEQ_BIN] [--only NAME,...] [--threads 1,2] [--runs N] [--rounds R] [--warmup W] [--json FILE] [--no-quant]');
      return 0;
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else teqBin = a;
  }
  if (only) for (const k of only) if (!MODELS[k]) throw new Error(`--only: unknown model '${k}' (${Object.keys(MODELS).join(', ')})`);
  if (!(runs >= 1) || !(warmup >= 0) || !(rounds >= 1) || threadList.some((t) => !(t >= 1)))
    throw new Error('bad --runs, --rounds, --warmup or --threads');
  teqBin = resolve(teqBin);
  const ort = loadOrt();
  const rssMethod = GNU_TIME ? `ru_maxrss via ${GNU_TIME} -f %M` : 'VmHWM polled from /proc every 2 ms (separate run)';
  console.log(`bench: teq ${teqBin}; ORT ${ORT_PATH}; ${cpus().length} CPU(s) ${cpus()[0]?.model ?? ''}`);
  console.log(`bench: ${rounds} round(s) of ${warmup} warm-up + ${runs} timed runs per configuration, alternated; teq RSS: ${rssMethod}; load average ${loadavg()[0].toFixed(2)} (should be ~0)`);
  const tmp = mkdtempSync(join(tmpdir(), 'teq-bench-'));
  const rows = [];
  let errors = 0;
  try {
    for (const [key, m] of Object.entries(MODELS)) {
      if (only && !only.includes(key)) continue;
      const model = modelPath(m);
      const shape = m.bench;
      const inPath = join(tmp, `${key}.npy`);
      const data = makeInput(key, shape, 1);
      writeNpy(inPath, { shape, data });
      // the quantized models, made once (8 generated calibration inputs of the bench shape)
      const qmodels = {};
      if (quant) {
        const dir = resolve('out/bench-quant');
        mkdirSync(dir, { recursive: true });
        const calPath = join(tmp, `${key}_cal.npy`);
        const per = data.length, cal = new Float32Array(per * 8);
        for (let k = 0; k < 8; k++) cal.set(makeInput(key, shape, 100 + k).subarray(0, per), k * per);
        writeNpy(calPath, { shape: [8 * shape[0], ...shape.slice(1)], data: cal });
        for (const [tag, scheme] of [
          ['int8', ['--scheme', 'int8']],
          // INT8 with 7-bit weights: every weight pair fits vpmaddubsw's int16 sums, so AVX2 runs the
          // INT8 convolutions and GEMMs by bytes (src/kernels/avx2.c); the accuracy is the user's call
          // (docs/DECISIONS.md "Speed, sixth round" has it per model)
          ['int8w7', ['--scheme', 'int8', '--bits', '7,8']],
          ['exp', ['--scheme', 'teq', '--bits', '4,8']],
          // the same exponential model with the Convs that hold the budget metric (fidelity on the
          // calibration inputs, within 0.2 point) on integer lanes
          ['lanes', ['--scheme', 'teq', '--bits', '4,8', '--int-lanes', 'on']],
        ]) {
          const q = join(dir, `${key}_${tag}.teq`);
          if (stale(q, teqBin)) {
            const r = spawnSync(teqBin, ['quantize', model, '--calib', calPath, ...scheme, '-o', q], { encoding: 'utf8', maxBuffer: 64 << 20 });
            if (r.status !== 0) {
              console.log(`    quantize ${key} ${tag}: ${(r.stderr || '').trim().split('\n').pop()}`);
              errors++;
              continue;
            }
          }
          qmodels[tag] = q;
        }
        // the INT8 model as standard ONNX with QDQ pairs, for ONNX Runtime's integer kernels
        if (qmodels.int8) {
          const o = join(dir, `${key}_int8.onnx`);
          const r = !stale(o, qmodels.int8) ? { status: 0 } : spawnSync(teqBin, ['export', qmodels.int8, '-o', o], { encoding: 'utf8' });
          if (r.status !== 0) {
            console.log(`    export ${key} int8: ${(r.stderr || '').trim().split('\n').pop()}`);
            errors++;
          } else qmodels.ortInt8 = o;
        }
      }
      for (const threads of threadList) {
        const row = { model: key, shape, threads, rounds };
        // ORT memory, in a fresh process
        const c = spawnSync(process.execPath, [process.argv[1], '--ort-child', model, inPath, m.input, String(threads), String(warmup + 1)], {
          encoding: 'utf8',
        });
        try {
          const j = JSON.parse(c.stdout.trim().split('\n').pop());
          row.ort_rss_mb = j.peak_kb / 1024;
          row.ort_rss_growth_mb = ((j.growth_peak_kb ?? j.peak_kb) - j.base_kb) / 1024;
        } catch {
          row.ort_rss_mb = null;
        }
        // Timing in rounds: each round runs every configuration of the row once, in turn (ORT, its INT8,
        // teq FP32, each quantized teq model), so that a burst of load on a shared machine falls on one
        // round of each rather than on all runs of one; a configuration's figure is the median of its
        // rounds' medians (best: the least of all), its RSS the largest of its rounds'.
        const per = {}; // config key -> { med: [], best: [], mean: [], rss: [] }
        const note = (k, med, best, mean, rss) => {
          const e = (per[k] ??= { med: [], best: [], mean: [], rss: [] });
          e.med.push(med), e.best.push(best);
          if (mean != null) e.mean.push(mean);
          if (rss != null) e.rss.push(rss);
        };
        const out = join(tmp, 'out');
        for (let round = 0; round < rounds; round++) {
          // ORT timing: the model, and the INT8 QDQ export where there is one
          for (const [file, k] of [[model, 'ort'], [qmodels.ortInt8, 'ort_int8']]) {
            if (!file || row[`${k}_error`]) continue;
            try {
              const t = await ortTimes(ort, file, threads, { [m.input]: new ort.Tensor('float32', data, shape) }, warmup, runs);
              note(k, median(t), Math.min(...t));
            } catch (e) {
              row[`${k}_error`] = e.message;
              errors++;
            }
          }
          // teq timing (and RSS when GNU time is there)
          if (!row.teq_error) {
            const targs = ['run', model, '-i', `${m.input}=${inPath}`, '-o', out, '--threads', String(threads), '--warmup', String(warmup), '--repeat', String(runs)];
            const p = await runMeasured(teqBin, targs, { measureRss: !!GNU_TIME });
            const line = /ran .*best ([\d.]+) ms, median ([\d.]+) ms, mean ([\d.]+) ms.*/.exec(p.stdout || '');
            if (p.status !== 0 || !line) {
              const why = p.error ? p.error.message : p.signal ? `killed by ${p.signal}` : `exit ${p.status}`;
              row.teq_error = `${why}: ${(p.stderr || '').trim().split('\n').pop()}`;
              errors++;
            } else {
              let rss = GNU_TIME ? (p.rssKb ? p.rssKb / 1024 : null) : null;
              if (!GNU_TIME && round === 0) {
                const q = await runMeasured(teqBin, [...targs.slice(0, -4), '--repeat', '1'], { measureRss: true });
                rss = q.status === 0 && q.rssKb ? q.rssKb / 1024 : null;
              }
              note('teq', Number(line[2]), Number(line[1]), Number(line[3]), rss);
            }
          }
          for (const [tag, q] of Object.entries(qmodels)) {
            if (tag === 'ortInt8' || row[`teq_${tag}_error`]) continue;
            const qa = ['run', q, '-i', `${m.input}=${inPath}`, '-o', out, '--threads', String(threads), '--warmup', String(warmup), '--repeat', String(runs)];
            const r = await runMeasured(teqBin, qa, { measureRss: !!GNU_TIME });
            const l = /ran .*best ([\d.]+) ms, median ([\d.]+) ms/.exec(r.stdout || '');
            if (r.status !== 0 || !l) {
              row[`teq_${tag}_error`] = (r.stderr || '').trim().split('\n').pop();
              errors++;
              continue;
            }
            note(`teq_${tag}`, Number(l[2]), Number(l[1]), null, GNU_TIME && r.rssKb ? r.rssKb / 1024 : null);
          }
        }
        for (const k of ['ort', 'ort_int8']) {
          if (!per[k] || row[`${k}_error`]) continue;
          row[`${k}_median_ms`] = median(per[k].med);
          row[`${k}_best_ms`] = Math.min(...per[k].best);
          row[`${k}_round_medians_ms`] = per[k].med;
        }
        if (per.teq && !row.teq_error) {
          row.teq_best_ms = Math.min(...per.teq.best);
          row.teq_median_ms = median(per.teq.med);
          row.teq_mean_ms = median(per.teq.mean);
          row.teq_round_medians_ms = per.teq.med;
          row.teq_rss_mb = per.teq.rss.length ? Math.max(...per.teq.rss) : null;
        }
        for (const tag of Object.keys(qmodels)) {
          const e = per[`teq_${tag}`];
          if (tag === 'ortInt8' || !e || row[`teq_${tag}_error`]) continue;
          row[`teq_${tag}_median_ms`] = median(e.med);
          row[`teq_${tag}_round_medians_ms`] = e.med;
          if (e.rss.length) row[`teq_${tag}_rss_mb`] = Math.max(...e.rss);
          if (row.teq_median_ms != null) row[`${tag}_vs_fp32`] = row[`teq_${tag}_median_ms`] / row.teq_median_ms;
        }
        if (row.teq_int8_median_ms != null && row.ort_int8_median_ms != null) row.int8_vs_ort_int8 = row.teq_int8_median_ms / row.ort_int8_median_ms;
        if (row.teq_median_ms != null && row.ort_median_ms != null) (row.ratio = row.teq_median_ms / row.ort_median_ms), (row.ratio_of = 'median');
        else if (row.teq_best_ms != null && row.ort_best_ms != null) (row.ratio = row.teq_best_ms / row.ort_best_ms), (row.ratio_of = 'best');
        rows.push(row);
        printRow(row, rows.length === 1);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  if (rows.some((r) => r.ratio_of === 'best'))
    console.log("* teq printed no median: teq's best (and ORT's best) shown and compared");
  if (jsonPath) {
    const meta = {
      date: new Date().toISOString(),
      teq: teqBin,
      ort_version: ort.env?.versions?.common ?? null,
      node: process.version,
      cpu: cpus()[0]?.model,
      n_cpus: cpus().length,
      warmup,
      runs,
      rounds,
      teq_rss_method: rssMethod,
      load_average_1min_at_end: loadavg()[0],
    };
    writeFileSync(jsonPath, JSON.stringify({ meta, rows }, null, 2) + '\n');
    console.log(`bench: wrote ${jsonPath}`);
  }
  return errors ? 1 : 0;
}

const f1 = (x) => (x == null ? '-' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
function printRow(r, header) {
  const cols = [
    ['model', 10, r.model],
    ['input', 16, `[${r.shape}]`],
    ['thr', 4, String(r.threads)],
    ['teq ms', 9, r.teq_error ? 'error' : r.teq_median_ms != null ? f1(r.teq_median_ms) : `${f1(r.teq_best_ms)}*`],
    ['ORT ms', 9, r.ort_error ? 'error' : r.ratio_of === 'best' ? `${f1(r.ort_best_ms)}*` : f1(r.ort_median_ms)],
    ['teq/ORT', 8, r.ratio != null ? r.ratio.toFixed(2) : '-'],
    ['teq RSS MB', 11, f1(r.teq_rss_mb)],
    ['ORT RSS MB', 11, f1(r.ort_rss_mb)],
    ['ORT + MB', 9, f1(r.ort_rss_growth_mb)],
    ['INT8 ms', 9, r.teq_int8_error ? 'error' : f1(r.teq_int8_median_ms)],
    ['INT8/FP32', 10, r.int8_vs_fp32 != null ? r.int8_vs_fp32.toFixed(2) : '-'],
    ['INT8w7 ms', 10, r.teq_int8w7_error ? 'error' : f1(r.teq_int8w7_median_ms)],
    ['w7/FP32', 8, r.int8w7_vs_fp32 != null ? r.int8w7_vs_fp32.toFixed(2) : '-'],
    ['ORT INT8 ms', 12, r.ort_int8_error ? 'error' : f1(r.ort_int8_median_ms)],
    ['INT8/ORT8', 10, r.int8_vs_ort_int8 != null ? r.int8_vs_ort_int8.toFixed(2) : '-'],
    ['exp ms', 9, r.teq_exp_error ? 'error' : f1(r.teq_exp_median_ms)],
    ['exp/FP32', 9, r.exp_vs_fp32 != null ? r.exp_vs_fp32.toFixed(2) : '-'],
    ['lanes ms', 9, r.teq_lanes_error ? 'error' : f1(r.teq_lanes_median_ms)],
    ['lanes/FP32', 11, r.lanes_vs_fp32 != null ? r.lanes_vs_fp32.toFixed(2) : '-'],
    ['INT8 RSS', 9, f1(r.teq_int8_rss_mb)],
    ['exp RSS', 8, f1(r.teq_exp_rss_mb)],
  ];
  if (header) console.log(cols.map(([h, w]) => h.padStart(w)).join(' '));
  console.log(cols.map(([, w, v]) => v.padStart(w)).join(' '));
  if (r.teq_error) console.log(`    teq: ${r.teq_error}`);
  if (r.ort_error) console.log(`    ORT: ${r.ort_error}`);
  if (r.ort_int8_error) console.log(`    ORT INT8: ${r.ort_int8_error}`);
}

main().then(
  (rc) => process.exit(rc ?? 0),
  (e) => {
    console.error(`bench: ${e.message}`);
    process.exit(1);
  },
);
