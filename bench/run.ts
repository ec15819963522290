// `npm run bench [-- flags]`: creates the backends, runs the chosen suites, writes every suite's JSON and
// Markdown as soon as it finishes, then the combined report (report.html, report.md).
// A slow backend (WebGPU on lavapipe) is measured in chunks next to the rows already there, e.g.
//   npm run bench -- --backend webgpu --merge --suite conv --shapes c64-64_224x224_n4,c128-128_112x112_n4
// (--merge keeps every row not measured again; slow suites save their rows after each one, so a chunk cut
// short by a timeout keeps what it measured and marks the file incomplete).
import { Command, CommanderError } from 'commander';
import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { hasRelaxedSimd, hasSimd } from '../src/backends/wasm/loader.js';
import { createBenchBackends, disposeBenchBackends, softwareGpu } from './backends.js';
import type { BenchRecord, CaseFilter, SuiteContext } from './record.js';
import { type SuiteResult, collectEnvironment, mergeSuiteResults, readSuiteResults, writeReport, writeSuiteResult } from './report.js';
import { SUITE_NAMES, loadSuite } from './suites/index.js';

const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);

export interface RunOptions {
  quick: boolean; suites: string[]; threads: number[]; backends: string[]; out: string; retune: boolean; tuningDir?: string;
  /** --backend given on the command line (else --quick leaves out a software GPU). */
  backendsExplicit: boolean;
  /** Keep the rows already in <out>/<suite>.json that this run does not measure again (see mergeSuiteResults). */
  merge: boolean;
  /** --shapes / --kernels / --algos: only the matching cases (gemm, conv, layers suites). */
  filter: CaseFilter;
}

export function parseArgs(argv: string[]): RunOptions {
  const program = new Command('bench')
    .description('vggrt benchmarks: kernels and VGG layers on every backend, with TensorFlow.js wasm peer rows')
    .option('--quick', 'a representative subset (CIFAR layers, 1024^3 GEMM) in a few minutes', false)
    .option('--suite <names>', `comma-separated suites (${SUITE_NAMES.join(',')})`, SUITE_NAMES.join(','))
    .option('--threads <counts>', 'wasm thread counts', '1,2')
    .option('--backend <kinds>', 'backends: wasm,webgpu (--quick without --backend leaves out a software GPU)', 'wasm,webgpu')
    .option('--out <dir>', 'results directory', 'bench/results')
    .option('--retune', 'plan suite: measure every candidate again instead of reading the tuning cache', false)
    .option('--tuning-dir <dir>', 'plan suite: tuning cache folder (default ~/.cache/vggrt)')
    .option('--merge', 'keep the rows of <out>/<suite>.json that this run does not measure again (other backends, filtered-out cases); '
      + 'rows measured again are replaced', false)
    .option('--shapes <ids>', 'gemm/conv/layers suites: only these shapes (comma-separated ids or substrings, e.g. c64-64_224x224_n4,1024x1024)')
    .option('--kernels <ids>', 'gemm/conv/layers suites: only these kernels (e.g. conv2d_backward_filter,relu_forward)')
    .option('--algos <ids>', 'conv suite: only these algorithms (e.g. im2col_gemm,winograd_f4x4); gemm: NN,NT,TN')
    .exitOverride();
  program.parse(argv, { from: 'user' });
  const o = program.opts<{ quick: boolean; suite: string; threads: string; backend: string; out: string; retune: boolean; tuningDir?: string;
    merge: boolean; shapes?: string; kernels?: string; algos?: string }>();
  const threads = list(o.threads).map(Number);
  const bad = threads.filter((t) => !Number.isInteger(t) || t < 1 || t > 64);
  if (bad.length) throw new Error(`--threads: expected integers in 1..64, got ${bad.join(',')}`);
  const filter: CaseFilter = {};
  if (o.shapes) filter.shapes = list(o.shapes);
  if (o.kernels) filter.kernels = list(o.kernels);
  if (o.algos) filter.algos = list(o.algos);
  return { quick: !!o.quick, suites: list(o.suite), threads, backends: list(o.backend), out: o.out, retune: !!o.retune, tuningDir: o.tuningDir,
    backendsExplicit: program.getOptionValueSource('backend') === 'cli', merge: !!o.merge, filter };
}

/** Hash and size of each kernel binary, so a result file says which build produced it. */
async function wasmFiles(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const build of ['relaxed', 'simd']) {
    try {
      const bytes = await readFile(new URL(`../../build/vggrt-${build}.wasm`, import.meta.url));
      out[build] = `sha256:${createHash('sha256').update(bytes).digest('hex').slice(0, 12)} (${Math.round(bytes.length / 1024)} KiB)`;
    } catch { out[build] = 'missing'; }
  }
  return out;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  // Suites get only the SuiteContext; the tuning switches reach the plan suite through the environment.
  if (opts.retune) process.env.VGGRT_RETUNE = '1';
  if (opts.tuningDir) process.env.VGGRT_TUNING_DIR = opts.tuningDir;
  const t0 = performance.now();
  const log = (m: string) => console.log(m);
  const runId = `${new Date().toISOString().slice(0, 19)}-${randomUUID().slice(0, 8)}`;
  const created = await createBenchBackends({ kinds: opts.backends, threads: opts.threads }, log);
  // A software rasterizer (lavapipe, SwiftShader) runs conv 10-20x slower than wasm on the same cores: in a
  // --quick run it would take most of the time and say nothing about GPUs. Asked for by name, it stays.
  if (opts.quick && !opts.backendsExplicit) {
    for (const b of created.list.filter((x) => x.backend.name === 'webgpu' && softwareGpu(x.backend.description))) {
      created.list.splice(created.list.indexOf(b), 1);
      created.notes.push(`--quick: WebGPU on a software adapter (${b.backend.description}) left out; pass --backend wasm,webgpu to include it`);
      await b.backend.dispose();
      if (created.gpu === b.backend.description) created.gpu = `${b.backend.description} (not measured in --quick)`;
    }
  }
  for (const n of created.notes) log(`note: ${n}`);
  log(`backends: ${created.list.map((b) => `${b.label} (${b.backend.description})`).join(', ') || 'none'}`);
  const environment = collectEnvironment({
    runId, quick: opts.quick, notes: created.notes, gpu: created.gpu, wasmFiles: await wasmFiles(),
    wasmBuilds: [hasSimd() ? 'simd' : '', hasRelaxedSimd() ? 'relaxed' : ''].filter(Boolean),
    backends: Object.fromEntries(created.list.map((b) => [b.label, b.backend.description])),
  });
  const filtered = Object.keys(opts.filter).length > 0;
  if (filtered) log(`filter: ${JSON.stringify(opts.filter)} (gemm, conv and layers suites)${opts.merge ? '' : '; without --merge the files keep only these rows'}`);
  const ctx: SuiteContext = { quick: opts.quick, backends: created.list, log, ...(filtered ? { filter: opts.filter } : {}) };
  const earlier = opts.merge ? new Map((await readSuiteResults(opts.out)).map((r) => [r.suite, r])) : undefined;
  let failures = 0;
  try {
    for (const name of opts.suites) {
      const s0 = performance.now();
      const loaded = await loadSuite(name);
      let records: BenchRecord[] = [];
      let error: string | undefined;
      if ('error' in loaded) error = loaded.error;
      else {
        log(`\n== suite ${name}${opts.quick ? ' (quick)' : ''}`);
        const checkpoint = async (partial: BenchRecord[]) => {
          const r: SuiteResult = { suite: name, environment, records: partial, wallMs: performance.now() - s0,
            error: `incomplete: the run was cut short after ${partial.length} rows (or is still running)` };
          await writeSuiteResult(opts.out, earlier ? mergeSuiteResults(earlier.get(name), r) : r);
        };
        try { records = await loaded.suite.run({ ...ctx, checkpoint }); } catch (e) { error = `threw: ${(e as Error).stack ?? e}`; }
      }
      if (error) { failures++; log(`!!! suite ${name}: ${error}`); }
      if (!SUITE_NAMES.includes(name)) continue; // no result file for a name that is not a suite
      let result: SuiteResult = { suite: name, environment, records, error, wallMs: performance.now() - s0 };
      if (earlier) result = mergeSuiteResults(earlier.get(name), result);
      await writeSuiteResult(opts.out, result);
      log(`== suite ${name}: ${records.length} rows in ${((performance.now() - s0) / 1000).toFixed(1)} s -> ${opts.out}/${name}.json` +
        (earlier ? ` (merged: ${result.records.length} rows in the file)` : ''));
    }
  } finally {
    await disposeBenchBackends(created.list);
  }
  // The report covers this run's suites plus any other suite files in the folder (marked by run id).
  const all = await readSuiteResults(opts.out);
  await writeReport(opts.out, all);
  log(`\nreport: ${opts.out}/report.html, ${opts.out}/report.md; total ${((performance.now() - t0) / 1000).toFixed(1)} s` +
    (failures ? `; ${failures} suite(s) failed` : ''));
  process.exitCode = failures ? 1 : 0;
}

// Only when executed, not when the test imports parseArgs.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => {
    // --help and --version end through commander's exitOverride: they printed what was asked, nothing failed.
    if (e instanceof CommanderError) process.exit(e.exitCode);
    console.error(e);
    process.exit(1);
  });
}
