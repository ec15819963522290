// measure(): tinybench underneath, but the contract of bench/record.ts holds (first call apart, sample bounds).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend } from '../../src/backend.js';
import { adaptiveSamples, measure, measureKernel, median } from '../../bench/record.js';

const spin = (ms: number) => { const end = performance.now() + ms; while (performance.now() < end) { /* busy */ } };

test('median of warm samples; the first (cold) call reported apart', async () => {
  let calls = 0;
  const r = await measure(() => { spin(calls++ === 0 ? 30 : 2); }, { minSamples: 3, maxSamples: 5, maxMs: 1000 });
  assert.ok(r.firstMs >= 30, `first ${r.firstMs}`);
  assert.ok(r.medianMs >= 2 && r.medianMs < 15, `median ${r.medianMs}`);
  assert.ok(r.samples.length >= 3, `at least minSamples (${r.samples.length})`);
  assert.ok(r.samples.length <= 12, `about maxSamples, not a full second of samples (${r.samples.length})`);
  assert.is(calls, r.samples.length + 2, 'two untimed-by-tinybench calls, then the samples');
  // The lower bound depends on what else runs on the machine (a loaded 2-core box gave 0.3), so only the range is
  // checked: one busy thread cannot use more than about one core.
  assert.ok(r.cpuShare! > 0 && r.cpuShare! < 1.5, `busy-waiting uses at most about one core (${r.cpuShare})`);
});

test('async functions are awaited and errors propagate', async () => {
  const r = await measure(async () => { await new Promise((res) => setTimeout(res, 3)); }, { minSamples: 2, maxSamples: 3 });
  assert.ok(r.medianMs >= 2.5);
  let n = 0;
  try {
    await measure(() => { if (++n > 2) throw new Error('kernel failed'); }, { minSamples: 2 });
    assert.unreachable();
  } catch (e) { assert.match((e as Error).message, /kernel failed/); }
});

test('adaptive sampling: a slow warm call is itself a sample, and only one or two are taken', async () => {
  let calls = 0;
  const r = await measure(() => { spin(calls++ === 0 ? 5 : 30); }, { minSamples: 5, slowMs: 20, verySlowMs: 1000 });
  assert.is(r.samples.length, 2, 'warm call + one more');
  assert.is(calls, 3);
  assert.ok(r.adaptive && r.timing === 'wall');
  assert.ok(r.medianMs >= 30);
  calls = 0;
  const one = await measure(() => { spin(calls++ === 0 ? 1 : 30); }, { minSamples: 5, slowMs: 10, verySlowMs: 20 });
  assert.is(one.samples.length, 1, 'very slow: the warm call only');
  assert.is(calls, 2);
  const capped = await measure(() => spin(30), { minSamples: 1, maxSamples: 1, slowMs: 20, verySlowMs: 1000 });
  assert.is(capped.samples.length, 1, 'never more than maxSamples');
  assert.is(adaptiveSamples(500), undefined, 'a fast call gets the normal budget');
  assert.is(adaptiveSamples(1500), 2);
  assert.is(adaptiveSamples(5000), 1);
  assert.is(median([3, 1, 2]), 2);
  assert.is(median([4, 1, 2, 3]), 2.5);
});

test('measureKernel: device times from a GPU backend\'s own timer, host medians beside them, compile time apart', async () => {
  let issued = 0, synced = 0;
  const pipelines = { compileMs: 0 };
  const fake = {
    name: 'webgpu', pipelines,
    sync: async () => { synced++; },
    timeGpu: async (fn: () => void) => { fn(); return { ms: 7, source: 'timestamp' as const }; },
  } as unknown as Backend;
  const r = await measureKernel(fake, () => { if (issued++ === 0) pipelines.compileMs += 12; }, { minSamples: 3, maxSamples: 3 });
  assert.is(r.timing, 'gpu-timestamp');
  assert.equal(r.samples, [7, 7, 7]);
  assert.is(r.medianMs, 7);
  assert.is(r.compileMs, 12);
  assert.is(issued, 4, 'first call, then one per sample');
  assert.is(synced, 1);
  assert.type(r.wallMedianMs, 'number');
  const wallOnly = { ...fake, timeGpu: async (fn: () => void) => { fn(); spin(25); return { ms: 25, source: 'wall' as const }; } } as unknown as Backend;
  const s = await measureKernel(wallOnly, () => {}, { minSamples: 5, slowMs: 20, verySlowMs: 1000 });
  assert.is(s.timing, 'gpu-submit-to-completion');
  assert.is(s.samples.length, 2, 'adaptive rule applies to GPU samples too');
  assert.ok(s.adaptive);
  // A CPU backend: wall time around issue + sync.
  const cpu = { name: 'wasm', sync: async () => {} } as unknown as Backend;
  const c = await measureKernel(cpu, () => spin(2), { minSamples: 2, maxSamples: 3 });
  assert.is(c.timing, 'wall');
  assert.is(c.compileMs, undefined);
});

test.run();
