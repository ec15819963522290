// The measurement harness on real wasm backends: every candidate is timed or dropped with a reason, links
// between two backends are measured, and the plan it returns is consistent with what was measured.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WasmBackend } from '../../src/backends/wasm/backend.js';
import { PASSES } from '../../src/runtime/planner.js';
import { measureLink, planModel, timeConvCandidate } from '../../src/runtime/tune.js';

const shape = { n: 2, h: 8, w: 8, cin: 8, cout: 16, kh: 3, kw: 3, stride: 1, pad: 1 };
let t1: WasmBackend, t2: WasmBackend;
test.before(async () => {
  t1 = await WasmBackend.create({ threads: 1, memoryMiB: 64 });
  t2 = await WasmBackend.create({ threads: 2, memoryMiB: 64 });
});
test.after(async () => { await t1.dispose(); await t2.dispose(); });

test('timeConvCandidate times a real conv pass and frees what it allocated', async () => {
  await timeConvCandidate(t1, shape, 'forward', 'im2col_gemm', { repeats: 1 });
  const before = t1.memory().liveBytes; // the backend keeps its workspace; a second call must not grow it
  const r = await timeConvCandidate(t1, shape, 'forward', 'im2col_gemm', { repeats: 3 });
  assert.ok(r.ms > 0 && Number.isFinite(r.ms));
  assert.is(r.samples, 3);
  assert.is(t1.memory().liveBytes, before, 'buffers freed');
});

test('a bad candidate throws (the planner turns that into a dropped entry)', async () => {
  let message = '';
  try { await timeConvCandidate(t1, { ...shape, cin: -1 }, 'forward', 'im2col_gemm'); } catch (e) { message = (e as Error).message; }
  assert.ok(message.length > 0, 'threw with a message');
});

test('measureLink fits a latency and a bandwidth between two backends', async () => {
  const l = await measureLink(t1, t2, [1024, 1 << 18]);
  assert.ok(l.latencyMs >= 0 && Number.isFinite(l.latencyMs));
  assert.ok(l.bytesPerMs > 0);
});

test('planModel over two wasm backends: every candidate measured or dropped, plan within them', async () => {
  const layers = [{ id: 'a', shape, inputGrad: false }, { id: 'b', shape: { ...shape, cin: 16 } }];
  const plan = await planModel(layers, [t1, t2], { cache: false, repeats: 2 });
  const measuredOrDropped = plan.dropped.length;
  assert.equal(Object.keys(plan.meta!.backends as object).sort(), ['wasm-relaxed-t1', 'wasm-relaxed-t2']);
  for (const d of plan.dropped) assert.ok(d.reason.length > 0);
  assert.ok(measuredOrDropped < 2 * 4 * 5, 'not everything failed');
  for (const l of plan.layers) for (const p of PASSES) {
    const e = l.passes[p];
    if (l.id === 'a' && p === 'backward_data') { assert.is(e, undefined); continue; }
    assert.ok(e && e.ms > 0, `${l.id} ${p}`);
    // The runner-up is the best other option; it can be faster when the plan avoided a copy.
    if (e!.runnerUp) assert.ok(e!.runnerUp.backend !== e!.backend || e!.runnerUp.algo !== e!.algo);
  }
  assert.ok(plan.totalMs >= plan.computeMs);
  const uniform = plan.meta!.bestUniform as { totalMs: number } | null;
  if (uniform) assert.ok(plan.totalMs <= uniform.totalMs + 1e-9);
});

test.run();
