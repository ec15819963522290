// measure(): tinybench underneath, but the contract of bench/record.ts holds (first call apart, sample bounds).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { measure } from '../../bench/record.js';

const spin = (ms: number) => { const end = performance.now() + ms; while (performance.now() < end) { /* busy */ } };

test('median of warm samples; the first (cold) call reported apart', async () => {
  let calls = 0;
  const r = await measure(() => { spin(calls++ === 0 ? 30 : 2); }, { minSamples: 3, maxSamples: 5, maxMs: 1000 });
  assert.ok(r.firstMs >= 30, `first ${r.firstMs}`);
  assert.ok(r.medianMs >= 2 && r.medianMs < 15, `median ${r.medianMs}`);
  assert.ok(r.samples.length >= 3, `at least minSamples (${r.samples.length})`);
  assert.ok(r.samples.length <= 12, `about maxSamples, not a full second of samples (${r.samples.length})`);
  assert.is(calls, r.samples.length + 2, 'two untimed-by-tinybench calls, then the samples');
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

test.run();
