// The tuning cache round-trips through disk, is keyed by backend identity (thread count and kernel code included), retune
// refreshes it, and planModel measures once and then plans from the cache without running a kernel.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend, Buf, KernelArgs, KernelId, MemoryStats } from '../../src/backend.js';
import { CIFAR_CONV_LAYERS } from '../../src/runtime/shapes.js';
import { dropKind, formatPlan } from '../../src/runtime/planner.js';
import { TuningCache, backendIdentity, shapeKey, tuningKey } from '../../src/runtime/tuning_cache.js';
import { planModel } from '../../src/runtime/tune.js';

let dir = '';
test.before(async () => { dir = await mkdtemp(path.join(os.tmpdir(), 'vggrt-tuning-')); });
test.after(async () => { await rm(dir, { recursive: true, force: true }); });

test('entries round-trip through the file; a different thread count misses; retune refreshes', async () => {
  const t1 = backendIdentity({ name: 'wasm', description: 'wasm-relaxed-t1' });
  const t2 = backendIdentity({ name: 'wasm', description: 'wasm-relaxed-t2' });
  const shape = shapeKey(CIFAR_CONV_LAYERS[1].shape);
  const k1 = tuningKey({ backend: t1, shape, pass: 'forward', algo: 'winograd_f4x4' });
  const k2 = tuningKey({ backend: t2, shape, pass: 'forward', algo: 'winograd_f4x4' });
  assert.is.not(k1, k2);
  assert.is.not(tuningKey({ backend: t1, shape, pass: 'backward_data', algo: 'winograd_f4x4' }), k1);
  assert.is.not(tuningKey({ backend: t1, shape: shapeKey(CIFAR_CONV_LAYERS[2].shape), pass: 'forward', algo: 'winograd_f4x4' }), k1);
  // Other kernel code (another vggrt version's wasm binary or WGSL) is another identity: its times are not reused.
  const newer = backendIdentity({ name: 'wasm', description: 'wasm-relaxed-t1', kernelsId: 'wasm:0123abcd-1000' });
  assert.is.not(newer, t1);
  assert.is.not(newer, backendIdentity({ name: 'wasm', description: 'wasm-relaxed-t1', kernelsId: 'wasm:0123abce-1000' }));

  const a = await TuningCache.open({ dir });
  assert.is(a.get(k1), undefined);
  a.set(k1, { ms: 1.25, samples: 5 });
  a.set(tuningKey({ backend: t1, shape, pass: 'forward', algo: 'winograd_f6x6' }), { error: 'tile too large' });
  await a.save();
  assert.ok(JSON.parse(await readFile(path.join(dir, 'tuning-v1.json'), 'utf8')).entries[k1]);

  const b = await TuningCache.open({ dir });
  assert.equal(b.get(k1), { ms: 1.25, samples: 5 });
  assert.equal(b.get(tuningKey({ backend: t1, shape, pass: 'forward', algo: 'winograd_f6x6' })), { error: 'tile too large' });
  assert.is(b.get(k2), undefined, 'the 2-thread backend must not reuse the 1-thread time');
  assert.is(b.hits, 2); assert.is(b.misses, 1);

  const c = await TuningCache.open({ dir, retune: true });
  assert.is(c.get(k1), undefined, 'retune ignores stored entries');
  c.set(k1, { ms: 2 });
  await c.save();
  assert.equal((await TuningCache.open({ dir })).get(k1), { ms: 2 }, 'retune overwrites');
});

test('concurrent writers merge instead of losing each other\'s entries', async () => {
  const x = await TuningCache.open({ dir }), y = await TuningCache.open({ dir });
  x.set('kx', { ms: 1 }); y.set('ky', { ms: 2 });
  await x.save(); await y.save();
  const z = await TuningCache.open({ dir });
  assert.equal(z.get('kx'), { ms: 1 }); assert.equal(z.get('ky'), { ms: 2 });
});

/** A backend whose conv kernels busy-wait a fixed time per (kernel, algo): real timing, no real compute. */
class FakeBackend implements Backend {
  readonly name = 'fake';
  runs = 0;
  constructor(readonly description: string, private readonly msOf: (k: KernelId, algo: string) => number) {}
  alloc(length: number): Buf { return { backend: 'fake', length }; }
  free(): void {}
  write(): void {}
  async read(buf: Buf): Promise<Float32Array> { return new Float32Array(buf.length); }
  run<K extends KernelId>(kernel: K, args: KernelArgs[K]): void {
    const algo = (args as { algo?: string }).algo ?? '';
    const ms = this.msOf(kernel, algo);
    if (!Number.isFinite(ms)) throw new Error(`${kernel}: ${algo} exceeds this device's limits`);
    this.runs++;
    const end = performance.now() + ms;
    while (performance.now() < end) { /* busy */ }
  }
  async sync(): Promise<void> {}
  memory(): MemoryStats { return { liveBytes: 0, peakBytes: 0, reservedBytes: 0 }; }
  async dispose(): Promise<void> {}
}

test('planModel: measures, picks the fast algorithm, then plans from the cache without running kernels', async () => {
  const sub = path.join(dir, 'model');
  const ms = (k: KernelId, algo: string) => (algo === 'winograd_f6x6' ? Infinity : algo === 'winograd_f4x4' ? 0.2 : k === 'conv2d_forward' ? 3 : 2.5);
  const layers = CIFAR_CONV_LAYERS.slice(0, 3).map((l, i) => ({ id: l.id, shape: l.shape, inputGrad: i > 0 }));
  const fresh = new FakeBackend('fake-t1', ms);
  const plan = await planModel(layers, [fresh], { cache: { dir: sub }, repeats: 5 });
  assert.ok(fresh.runs > 0);
  // layer 0 (3 channels): forward + filter; the other two: all three passes.
  assert.is(plan.layers[0].passes.backward_data, undefined);
  for (const l of plan.layers) for (const e of Object.values(l.passes)) assert.is(e!.algo, 'winograd_f4x4');
  const failed = plan.dropped.filter((d) => dropKind(d.reason) === 'failed');
  assert.is(failed.length, 8, 'f6x6 on each of the 8 passes, with the reason');
  assert.match(failed[0].reason, /exceeds this device's limits/);
  // im2col and F(2x2) take 10x F(4x4)'s time: cut after their first warm call, with the figures in the reason.
  const pruned = plan.dropped.filter((d) => dropKind(d.reason) === 'pruned');
  // Real (busy-wait) timing on a shared machine: allow a preempted F(4x4) median to spare one or two of them.
  assert.ok(pruned.length >= 2 * 8 - 2 && pruned.length <= 2 * 8, formatPlan(plan));
  assert.ok(pruned.every((d) => /^pruned: first call \d+\.\d+ ms > 3 x best \d\.\d+ ms of this layer\/pass on fake$/.test(d.reason)), pruned[0].reason);
  assert.match(formatPlan(plan), /winograd_f4x4/);
  assert.is((plan.meta!.cache as { misses: number }).misses, 8 * 4);

  const again = new FakeBackend('fake-t1', ms);
  const t0 = performance.now();
  const cached = await planModel(layers, [again], { cache: { dir: sub } });
  const took = performance.now() - t0;
  assert.is(again.runs, 0, 'every candidate came from the cache');
  assert.ok(took < 1000, `planning from the cache took ${took} ms`);
  assert.equal(cached.layers, plan.layers);
  assert.is(cached.dropped.length, plan.dropped.length, 'cached failures and cuts keep their reason');
  assert.match(cached.dropped.find((d) => dropKind(d.reason) === 'failed')!.reason, /limits.*cached/);
  assert.equal(cached.dropped.filter((d) => dropKind(d.reason) === 'pruned'), pruned, 'the same cuts, decided from the cached first calls');

  const otherThreads = new FakeBackend('fake-t2', ms);
  await planModel(layers, [otherThreads], { cache: { dir: sub }, repeats: 1 });
  assert.ok(otherThreads.runs > 0, 'a different backend identity re-measures');

  const retuned = new FakeBackend('fake-t1', ms);
  await planModel(layers, [retuned], { cache: { dir: sub, retune: true }, repeats: 1 });
  assert.ok(retuned.runs > 0, 'retune re-measures');
});

test('a hopelessly slow backend gets one candidate per pass; the skip is repeated from the cache', async () => {
  const sub = path.join(dir, 'skip');
  const fastMs = (_k: KernelId, algo: string) => (algo === 'winograd_f4x4' ? 0.2 : 0.5);
  const slowMs = (_k: KernelId, algo: string) => (algo === 'winograd_f4x4' ? 4 : 3);
  const layers = [{ id: 'only', shape: CIFAR_CONV_LAYERS[2].shape, inputGrad: false }];
  const fast = new FakeBackend('fake-fast', fastMs), slow = new FakeBackend('fake-slow', slowMs);
  const plan = await planModel(layers, [fast, slow], { cache: { dir: sub }, repeats: 3 });
  const skipped = plan.dropped.filter((d) => d.reason.startsWith('skipped:'));
  assert.is(skipped.length, 2 * 3, 'forward and filter: three algorithms each not run on the slow backend');
  assert.ok(skipped.every((d) => d.backend === 'fake-slow'));
  assert.match(formatPlan(plan), /skipped 6 candidate/);
  for (const e of Object.values(plan.layers[0].passes)) assert.equal([e!.backend, e!.algo], ['fake-fast', 'winograd_f4x4']);
  const fast2 = new FakeBackend('fake-fast', fastMs), slow2 = new FakeBackend('fake-slow', slowMs);
  const again = await planModel(layers, [fast2, slow2], { cache: { dir: sub } });
  assert.is(fast2.runs + slow2.runs, 0);
  assert.is(again.dropped.filter((d) => d.reason.startsWith('skipped:')).length, 6);
});

test.run();
