// --merge and the case filter: a slow backend measured in chunks lands next to the other backends' rows,
// a re-measured row replaces its old self in place, and the report says which rows ran on a software GPU.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { softwareGpu, webgpuLabel } from '../../bench/backends.js';
import { type BenchRecord, selected } from '../../bench/record.js';
import { type SuiteResult, collectEnvironment, mergeSuiteResults, readSuiteResults, renderMarkdown, rowKey, speedups, writeReport, writeSuiteResult } from '../../bench/report.js';

const LAVAPIPE = 'webgpu-core mesa software llvmpipe-llvm-15-0-6-256-bits- llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1';
const envOf = (runId: string, backends: Record<string, string>, quick = false) =>
  collectEnvironment({ runId, wasmBuilds: ['relaxed'], backends, quick, notes: [] });
const wasmEnv = envOf('run-wasm', { 'wasm-relaxed-t1': 'wasm-relaxed-t1' }, true);
const gpuEnv = (id: string) => envOf(id, { 'webgpu-lavapipe': LAVAPIPE });

function rec(p: Partial<BenchRecord>, label = 'wasm-relaxed-t1'): BenchRecord {
  return { suite: 'conv', kernel: 'conv2d_forward', shape: 'c64-128_16x16_n32', backend: 'wasm', algo: 'im2col_gemm', threads: 1,
    median_ms: 10, gflops: 100, max_rel_err: 1e-6, ...p, extra: { label, description: label, ...p.extra } };
}
const gpu = (p: Partial<BenchRecord>) => rec({ backend: 'webgpu', median_ms: 500, ...p, extra: { description: LAVAPIPE, timing: 'gpu-timestamp', samples: 2 } }, 'webgpu-lavapipe');

const wasmFile: SuiteResult = { suite: 'conv', environment: wasmEnv, records: [
  rec({}), rec({ algo: 'winograd_f4x4', median_ms: 4 }), rec({ kernel: 'conv2d_backward_filter' }),
] };

test('chunks of WebGPU rows merge next to the wasm rows; a re-measured row replaces its old self in place', () => {
  const chunk1: SuiteResult = { suite: 'conv', environment: gpuEnv('run-gpu-1'), records: [gpu({}), gpu({ algo: 'winograd_f4x4' })] };
  const m1 = mergeSuiteResults(wasmFile, chunk1);
  assert.is(m1.records.length, 5);
  assert.equal(m1.records.slice(0, 3).map((r) => r.extra!.run_id), ['run-wasm', 'run-wasm', 'run-wasm'], 'old rows first, tagged with their run');
  assert.equal(m1.runs!.map((e) => e.runId), ['run-wasm', 'run-gpu-1']);
  assert.is(m1.environment.runId, 'run-gpu-1');

  // A second chunk: another shape, plus one case of chunk 1 measured again.
  const chunk2: SuiteResult = { suite: 'conv', environment: gpuEnv('run-gpu-2'), records: [
    gpu({ shape: 'c64-64_224x224_n4' }), gpu({ algo: 'winograd_f4x4', median_ms: 300 })] };
  const m2 = mergeSuiteResults(m1, chunk2);
  assert.is(m2.records.length, 6);
  const f4 = m2.records.filter((r) => r.backend === 'webgpu' && r.algo === 'winograd_f4x4');
  assert.is(f4.length, 1, 'replaced, not duplicated');
  assert.is(f4[0].median_ms, 300);
  assert.is(m2.records.indexOf(f4[0]), 4, 'in the old row\'s place');
  assert.equal(m2.records.filter((r) => r.backend === 'wasm').map((r) => r.median_ms), [10, 4, 10], 'wasm rows untouched');
  assert.equal(m2.runs!.map((e) => e.runId), ['run-wasm', 'run-gpu-1', 'run-gpu-2']);

  // Every row of an old run replaced: that run leaves the list.
  const m3 = mergeSuiteResults(m2, { suite: 'conv', environment: gpuEnv('run-gpu-3'), records: [gpu({}), gpu({ algo: 'winograd_f4x4' }), gpu({ shape: 'c64-64_224x224_n4' })] });
  assert.equal(m3.runs!.map((e) => e.runId), ['run-wasm', 'run-gpu-3']);
  assert.is(m3.records.length, 6);
  // A merged file merged into another file (results gathered elsewhere, then folded in): its runs come along.
  const into = mergeSuiteResults({ suite: 'conv', environment: envOf('run-other', {}), records: [rec({ shape: 'other' })] }, m2);
  assert.equal(into.runs!.map((e) => e.runId), ['run-other', 'run-wasm', 'run-gpu-1', 'run-gpu-2']);
  assert.is(into.records.length, 7);
  // Nothing to merge with: the run's own rows, tagged.
  assert.is(mergeSuiteResults(undefined, chunk1).records[0].extra!.run_id, 'run-gpu-1');
  // Different thread counts, labels or algorithms are different rows.
  assert.not.equal(rowKey(rec({})), rowKey(rec({ threads: 2 })));
  assert.not.equal(rowKey(rec({})), rowKey(rec({}, 'wasm-simd-t1')));
});

test('the same-run flag of the tfjs comparison follows each row\'s own run', () => {
  const tfjs: SuiteResult = { suite: 'tfjs', environment: wasmEnv, records: [rec({ suite: 'tfjs', backend: 'tfjs-wasm', algo: 'xnnpack', median_ms: 30 }, 'tfjs')] };
  const merged = mergeSuiteResults(wasmFile, { suite: 'conv', environment: gpuEnv('run-gpu-1'), records: [gpu({ median_ms: 500 })] });
  const row = speedups([merged, tfjs])[0];
  assert.is(row.sameThreads!.backend, 'wasm', 'the faster wasm row is the comparison');
  assert.ok(row.sameRun, 'wasm rows kept from the tfjs run still count as the same run');
});

test('filter: exact ids or substrings per field; fields a case lacks are not filtered', () => {
  const f = { shapes: ['c64-64_224x224_n4', 'im2col:'], kernels: ['backward'] };
  assert.ok(selected(f, { shape: 'c64-64_224x224_n4', kernel: 'conv2d_backward_filter' }));
  assert.not.ok(selected(f, { shape: 'c64-64_224x224_n4', kernel: 'conv2d_forward' }));
  assert.not.ok(selected(f, { shape: 'c64-128_16x16_n32' }));
  assert.ok(selected(f, { shape: 'im2col:c3-64_32x32_n32' }));
  assert.ok(selected(f, { kernel: 'conv2d_backward_data' }), 'no shape given: not filtered on shape');
  assert.ok(selected(undefined, { shape: 'x' }));
  assert.ok(selected({ algos: [] }, { algo: 'winograd_f2x2' }));
});

test('software GPU rows are labelled and explained in Markdown; run files round-trip', async () => {
  assert.is(softwareGpu(LAVAPIPE), 'lavapipe');
  assert.is(webgpuLabel(LAVAPIPE), 'webgpu-lavapipe');
  assert.is(softwareGpu('webgpu-core nvidia hopper NVIDIA H200'), undefined);
  assert.is(webgpuLabel('webgpu-core nvidia hopper NVIDIA H200'), 'webgpu');
  const merged = mergeSuiteResults(wasmFile, { suite: 'conv', environment: gpuEnv('run-gpu-1'), records: [gpu({})] });
  const md = renderMarkdown(merged);
  assert.match(md, /\| conv2d_forward \| c64-128_16x16_n32 \| webgpu-lavapipe \(software GPU\) \| im2col_gemm \| 1 \| 500\.000 \|.*\| gpu-timestamp x2 \|/);
  assert.match(md, /\*\*Note:\*\* WebGPU rows marked "software GPU" ran on .*llvmpipe/);
  assert.match(md, /Earlier run kept in this file \(3 rows\):\n- date: .*run run-wasm, --quick/);
  assert.not.match(renderMarkdown(wasmFile), /software GPU/);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vggrt-merge-'));
  try {
    await writeSuiteResult(dir, merged);
    const [back] = await readSuiteResults(dir);
    assert.is(back.records.length, 4);
    assert.is(back.runs!.length, 2);
    await writeReport(dir, [back]);
    const html = await readFile(path.join(dir, 'report.html'), 'utf8');
    assert.match(html, /also rows of run run-wasm/);
    assert.match(html, /<td>webgpu-lavapipe \(software GPU\)<\/td>/);
    assert.match(await readFile(path.join(dir, 'report.md'), 'utf8'), /conv: 4 rows \(wasm-relaxed-t1 3 rows\/1 shapes, webgpu-lavapipe \(software GPU\) 1 rows\/1 shapes\)/);
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test.run();
