// The report writer on synthetic records: valid JSON per suite, Markdown table rows, one HTML page with a
// chart per suite, and speed-ups against tfjs-wasm judged on the same thread count.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BenchRecord } from '../../bench/record.js';
import { type SuiteResult, barChartSvg, collectEnvironment, readSuiteResults, scalingRows, speedups, writeReport, writeSuiteResult } from '../../bench/report.js';
import { parseArgs } from '../../bench/run.js';

const env = collectEnvironment({ runId: 'run-1', wasmBuilds: ['simd', 'relaxed'], backends: { 'wasm-relaxed-t1': 'wasm-relaxed-t1' }, quick: true, notes: ['WebGPU backend NOT measured: no adapter'] });

function rec(p: Partial<BenchRecord>): BenchRecord {
  return { suite: 'conv', kernel: 'conv2d_forward', shape: 'c64-128_16x16_n32', backend: 'wasm', algo: 'im2col_gemm', threads: 1,
    median_ms: 10, gflops: 60.4, max_rel_err: 1e-6, ...p };
}

const conv: SuiteResult = { suite: 'conv', environment: env, records: [
  rec({ algo: 'im2col_gemm', median_ms: 12 }),
  rec({ algo: 'winograd_f4x4', median_ms: 5, extra: { label: 'wasm-relaxed-t1' } }),
  rec({ algo: 'winograd_f4x4', threads: 2, median_ms: 3 }),
  rec({ shape: 'c128-256_8x8_n32', algo: 'winograd_f4x4', median_ms: 20 }),
  rec({ shape: 'c3-64_32x32_n32', algo: 'im2col_gemm', median_ms: 2, max_rel_err: NaN }),
] };
const tfjs: SuiteResult = { suite: 'tfjs', environment: env, records: [
  rec({ suite: 'tfjs', backend: 'tfjs-wasm', algo: 'xnnpack', median_ms: 30 }),
  rec({ suite: 'tfjs', backend: 'tfjs-wasm', algo: 'xnnpack', shape: 'c128-256_8x8_n32', median_ms: 40 }),
  rec({ suite: 'tfjs', backend: 'tfjs-wasm', algo: 'xnnpack', shape: 'c3-64_32x32_n32', median_ms: 3 }),
  rec({ suite: 'tfjs', backend: 'tfjs-wasm', algo: 'xnnpack', kernel: 'gemm', shape: '1024x1024x1024', median_ms: 60 }),
] };
const layers: SuiteResult = { suite: 'layers', environment: env, records: [
  rec({ suite: 'layers', kernel: 'relu_forward', shape: 'act64x32x32_n32', algo: '-', gflops: 0, extra: { gb_per_s: 14.5 } }),
] };
const broken: SuiteResult = { suite: 'train', environment: env, records: [], error: 'cannot load bench/suites/train.js: not found' };

let dir = '';
test.before(async () => { dir = await mkdtemp(path.join(os.tmpdir(), 'vggrt-report-')); });
test.after(async () => { await rm(dir, { recursive: true, force: true }); });

test('writes JSON and Markdown per suite, then one self-contained HTML report', async () => {
  for (const s of [conv, tfjs, layers, broken]) await writeSuiteResult(dir, s);
  const back = await readSuiteResults(dir);
  assert.equal(back.map((s) => s.suite), ['conv', 'layers', 'tfjs', 'train']);
  const json = JSON.parse(await readFile(path.join(dir, 'conv.json'), 'utf8'));
  assert.is(json.records.length, 5);
  assert.is(json.environment.runId, 'run-1');
  assert.ok(typeof json.environment.cpu === 'string' && json.environment.node === process.versions.node);
  for (const k of ['kernel', 'shape', 'backend', 'algo', 'threads', 'median_ms', 'gflops', 'max_rel_err']) assert.ok(k in json.records[0], k);

  const md = await readFile(path.join(dir, 'conv.md'), 'utf8');
  const rows = md.split('\n').filter((l) => l.startsWith('| conv2d_forward |'));
  assert.is(rows.length, 5);
  assert.match(md, /\| kernel \| shape \| backend \| algo \| threads \| median ms \| GFLOP\/s \| GB\/s \| max rel err \|/);
  assert.match(md, /NOTE: WebGPU backend NOT measured/);
  assert.match(await readFile(path.join(dir, 'train.md'), 'utf8'), /Suite error:.*not found/);

  await writeReport(dir, back);
  const html = await readFile(path.join(dir, 'report.html'), 'utf8');
  assert.ok(html.startsWith('<!doctype html>'));
  assert.not.match(html, /<script|<link|src="http|href="http/, 'no external assets');
  for (const s of ['conv', 'layers', 'tfjs', 'train']) {
    const section = html.split(`<section id="suite-${s}">`)[1]?.split('</section>')[0];
    assert.ok(section, `section for ${s}`);
    assert.match(section!, /<svg class="chart"/, `chart for ${s}`);
  }
  assert.match(html, /wasm FMA ceiling 1T \(58\)/);
  assert.match(html, /layers: relu_forward \(GB\/s\)/, 'memory-bound rows chart GB/s');
  assert.match(await readFile(path.join(dir, 'layers.md'), 'utf8'), /\| 0\.0 \| 14\.5 \|/);
  assert.match(html, /PyTorch 2T conv fwd/);
  assert.is((html.match(/<rect [^>]*fill="#/g) ?? []).length >= 5 + 4, true, 'one bar per GFLOP/s row plus legend');
  assert.match(html, /Suite error: cannot load/);
  const reportMd = await readFile(path.join(dir, 'report.md'), 'utf8');
  assert.match(reportMd, /\| conv2d_forward \| c64-128_16x16_n32 \| 30\.000 \(1\) \|/);
  assert.ok((await readdir(dir)).includes('report.html'));
});

test('speed-ups vs tfjs-wasm: same thread count for the bar, best overall beside it', () => {
  const rows = speedups([conv, tfjs]);
  const c64 = rows.find((r) => r.shape === 'c64-128_16x16_n32')!;
  assert.is(c64.sameThreads!.algo, 'winograd_f4x4');
  assert.is(c64.sameThreads!.threads, 1);
  assert.is(c64.speedupSame, 6);
  assert.is(c64.speedupBest, 10);
  assert.is(c64.bar, 'pass');
  assert.ok(c64.sameRun);
  const c128 = rows.find((r) => r.shape === 'c128-256_8x8_n32')!;
  assert.is(c128.speedupSame, 2);
  assert.is(c128.bar, 'FAIL');
  assert.is(rows.find((r) => r.shape === 'c3-64_32x32_n32')!.bar, 'n/a', '3 input channels: outside the bar');
  const g = rows.find((r) => r.kernel === 'gemm')!;
  assert.is(g.sameThreads, undefined);
  assert.is(g.bar, 'n/a');
  const gemm: SuiteResult = { suite: 'gemm', environment: env, records: [
    rec({ suite: 'gemm', kernel: 'gemm', shape: '1024x1024x1024', algo: 'relaxed', median_ms: 20, extra: { trans: 'NN' } }),
    rec({ suite: 'gemm', kernel: 'gemm', shape: '1024x1024x1024', algo: 'relaxed-NT', median_ms: 5, extra: { trans: 'NT' } }),
  ] };
  const g2 = speedups([gemm, tfjs]).find((r) => r.kernel === 'gemm')!;
  assert.is(g2.sameThreads!.algo, 'relaxed', 'the transposed GEMM is a different product');
  assert.is(g2.speedupSame, 3);
  const otherRun = speedups([conv, { ...tfjs, environment: { ...env, runId: 'run-2' } }]);
  assert.not.ok(otherRun[0].sameRun, 'ratios across runs are flagged');
});

test('chart: one bar per row even when two rows look alike; reference lines drawn', () => {
  const svg = barChartSvg('t', [rec({ median_ms: 1 }), rec({ median_ms: 2, gflops: 30 }), rec({ gflops: NaN })], [{ value: 58, label: 'FMA 58', kind: 'ceiling' }]);
  assert.is((svg.match(/<rect [^>]*><title>/g) ?? []).length, 2);
  assert.match(svg, /wasm-t1 im2col_gemm #2/);
  assert.match(svg, /FMA 58/);
});

test('command line: defaults, lists and bad thread counts', () => {
  const d = parseArgs([]);
  assert.is(d.quick, false);
  assert.equal(d.threads, [1, 2]);
  assert.ok(d.suites.includes('tfjs') && d.suites.includes('gemm'));
  const q = parseArgs(['--quick', '--suite', 'conv,tfjs', '--threads', '2', '--backend', 'wasm', '--out', '/tmp/x']);
  assert.equal(q, { quick: true, suites: ['conv', 'tfjs'], threads: [2], backends: ['wasm'], out: '/tmp/x', retune: false, tuningDir: undefined,
    backendsExplicit: true, merge: false, filter: {} });
  const f = parseArgs(['--merge', '--shapes', 'c64-64_224x224_n4, 1024x1024', '--kernels', 'conv2d_forward', '--algos', 'im2col_gemm,winograd_f4x4']);
  assert.is(f.merge, true);
  assert.equal(f.filter, { shapes: ['c64-64_224x224_n4', '1024x1024'], kernels: ['conv2d_forward'], algos: ['im2col_gemm', 'winograd_f4x4'] });
  assert.is(parseArgs(['--quick']).backendsExplicit, false);
  assert.throws(() => parseArgs(['--threads', '0']), /--threads/);
});

test('tfjs speed-up: the call-for-call figure, when the tfjs suite measured one, decides the bar', () => {
  const alt = (speedup: number) => ({ vggrt_alternated: { series: 'wasm-relaxed-t1', algo: 'winograd_f4x4', speedup } });
  // rows alone: 30 / 5 = 6x; call for call 2.5x, so the bar fails, and the other way round
  const t: SuiteResult = { ...tfjs, records: [
    rec({ suite: 'tfjs', backend: 'tfjs-wasm', algo: 'xnnpack', median_ms: 30, extra: alt(2.5) }),
    rec({ suite: 'tfjs', backend: 'tfjs-wasm', algo: 'xnnpack', shape: 'c128-256_8x8_n32', median_ms: 40, extra: alt(3.2) }),
  ] };
  const rows = speedups([conv, t]);
  assert.equal(rows.map((r) => [r.shape, r.alternated?.speedup, r.bar]), [['c64-128_16x16_n32', 2.5, 'FAIL'], ['c128-256_8x8_n32', 3.2, 'pass']]);
});

test('2-thread speed-ups: one row per 2-thread row carrying the alternated figure, judged against 1.8x where cin >= 64, with the cold-start figure and the two-copies ceiling', () => {
  const r: SuiteResult = { suite: 'conv', environment: env, records: [
    rec({ threads: 2, algo: 'winograd_f4x4', extra: { label: 'wasm-relaxed-t2', speedup_vs_t1_alternated: 1.85, speedup_t1_algo: 'winograd_f6x6' } }),
    rec({ threads: 2, shape: 'c128-256_8x8_n32', extra: { label: 'wasm-relaxed-t2', speedup_vs_t1_alternated: 1.62, speedup_t1_algo: 'im2col_gemm', copies_ceiling: 1.714 } }),
    rec({ threads: 2, shape: 'c3-64_32x32_n32', extra: { label: 'wasm-relaxed-t2', speedup_vs_t1_alternated: 1.2, speedup_t1_algo: 'im2col_gemm', copies_ceiling: 1.5, speedup_of_ceiling: 0.83,
      t1_other_core_ratio: 1.234, speedup_cold_start: 1.116 } }),
    rec({ threads: 2, shape: 'c64-64_224x224_n4' }),
    rec({ threads: 2, shape: 'c512-512_14x14_n4', extra: { label: 'wasm-relaxed-t2', speedup_vs_t1_alternated: 2.3, speedup_t1_algo: 'winograd_f4x4' } }),
  ] };
  const rows = scalingRows([r]);
  assert.equal(rows.map((c) => [c[1], c[3], c[4], c[5]]), [
    ['c64-128_16x16_n32', 'winograd_f6x6 / winograd_f4x4', '1.85x', 'pass'],
    ['c128-256_8x8_n32', 'im2col_gemm / im2col_gemm', '1.62x', 'FAIL'],
    ['c3-64_32x32_n32', 'im2col_gemm / im2col_gemm', '1.20x', 'n/a'],
    ['c512-512_14x14_n4', 'winograd_f4x4 / im2col_gemm', '2.30x', 'pass (above 2x: more cache on two cores, or the host slowed the 1-thread calls; see the ceiling)'],
  ]);
  assert.equal(rows.map((c) => c[6]), ['-', '-', '1.12x', '-']);
  assert.equal(rows.map((c) => c[7]), ['-', '1.71x', '1.50x', '-']);
  assert.equal(rows.map((c) => c[8]), ['-', '95%', '83%', '-']);
  assert.equal(rows.map((c) => c[9]), ['-', '-', '1.23x', '-']);
});

test.run();
