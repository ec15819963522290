// The worker pool: every thread runs its share through the Atomics control block, and errors surface; the
// workspaces the operators hand the threads.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { threadGap } from '../../src/backends/wasm/allocator.js';
import { WasmBackend } from '../../src/backends/wasm/backend.js';
import { map2x2Limits } from '../../src/backends/wasm/ops/conv_map2x2.js';
import type { WasmContext } from '../../src/backends/wasm/context.js';
import { loadModule } from '../../src/backends/wasm/loader.js';
import { ThreadPool, splitRange } from '../../src/backends/wasm/pool.js';

test('every worker runs its call over the one shared memory', async () => {
  const be = await WasmBackend.create({ threads: 2, memoryMiB: 32 });
  try {
    const b = be.alloc(16);
    const p = (b as unknown as { ptr: number }).ptr;
    for (let round = 0; round < 200; round++) {
      be.pool.parallel('runtime_atomic_add', [[p, 1, 10], [p, 100, 10]]);
    }
    const v = new Int32Array(be.wasmMemory.buffer, p, 1)[0];
    assert.is(v, 200 * (10 + 1000));
  } finally { await be.dispose(); }
});

test('the backend carries a fingerprint of its kernel binary and operator parameters (the tuning cache keys on it): one per build', async () => {
  const relaxed = await WasmBackend.create({ threads: 1, build: 'relaxed', memoryMiB: 16 });
  const again = await WasmBackend.create({ threads: 2, build: 'relaxed', memoryMiB: 16 });
  const plain = await WasmBackend.create({ threads: 1, build: 'simd', memoryMiB: 16 });
  try {
    assert.match(relaxed.kernelsId, /^wasm:[0-9a-f]{8}-\d+\|ops:[0-9a-f]{8}-\d+$/);
    assert.is(again.kernelsId, relaxed.kernelsId);
    assert.is.not(plain.kernelsId, relaxed.kernelsId);
    // Another block size of an operator: another id.
    const before = relaxed.kernelsId, saved = map2x2Limits.forwardBlockBytes;
    map2x2Limits.forwardBlockBytes *= 2;
    try { assert.is.not(relaxed.kernelsId, before); } finally { map2x2Limits.forwardBlockBytes = saved; }
    assert.is(relaxed.kernelsId, before);
  } finally {
    await relaxed.dispose(); await again.dispose(); await plain.dispose();
  }
});

test('the comlink control plane: on exit each worker reports how many kernel calls it served', async () => {
  const be = await WasmBackend.create({ threads: 3, memoryMiB: 32 });
  try {
    const b = be.alloc(16);
    const p = (b as unknown as { ptr: number }).ptr;
    for (let i = 0; i < 40; i++) be.pool.parallel('runtime_atomic_add', [[p, 1, 1], [p, 1, 1], [p, 1, 1]]);
    for (let i = 0; i < 7; i++) be.pool.parallel('runtime_atomic_add', [[p, 1, 1], [p, 1, 1]]);
    assert.equal(await be.pool.terminate(), [47, 40]);
  } finally { await be.dispose(); }
});

test('a worker that cannot start is a clear error naming it (and the pool stops the others)', async () => {
  const { module } = await loadModule('simd');
  const shared = new WebAssembly.Memory({ initial: 16, maximum: 16, shared: true });
  const instance = new WebAssembly.Instance(module, { env: { memory: shared, abort: () => { throw new Error('abort'); } } });
  // A memory that is not shared cannot reach a worker.
  const plain = new WebAssembly.Memory({ initial: 16, maximum: 16 });
  let error: Error | undefined;
  try { await ThreadPool.create(module, plain, instance, 0, 2); } catch (e) { error = e as Error; }
  assert.ok(error, 'ThreadPool.create must fail');
  assert.match(error!.message, /worker 1 \(.*worker\.js\) did not start: .*could not be cloned/);
});

test('unknown kernel function is a clear error', async () => {
  const be = await WasmBackend.create({ threads: 2, memoryMiB: 32 });
  try {
    assert.throws(() => be.pool.parallel('nope', [[], []]), /no function nope/);
  } finally { await be.dispose(); }
});

test('splitRange covers the range with aligned starts', () => {
  assert.equal(splitRange(10, 2), [[0, 5], [5, 10]]);
  assert.equal(splitRange(10, 2, 4), [[0, 4], [4, 10]]);
  assert.equal(splitRange(1, 2), [[0, 1]]);
  assert.equal(splitRange(0, 2), []);
});

test('per-thread workspace slices and separate workspace slots sit threadGap.bytes apart', async () => {
  const be = await WasmBackend.create({ threads: 2, memoryMiB: 32 });
  try {
    const ctx = (be as unknown as { ctx: WasmContext }).ctx;
    const slice = ctx.threadSlices(1000, 3, 40);
    for (let t = 0; t < 3; t++) assert.is(slice(t) % 64, 0, `slice ${t} is line-aligned`);
    for (let t = 1; t < 3; t++) assert.ok(slice(t) - slice(t - 1) >= 1024 + threadGap.bytes, `slice ${t} starts ${slice(t) - slice(t - 1)} bytes on`);
    // Two slots asked for one after the other: the second starts past the first's bytes and a gap.
    const a = ctx.workspace(5000, 41), b = ctx.workspace(5000, 42);
    assert.ok(Math.abs(b - a) >= 5000 + threadGap.bytes, `slots ${Math.abs(b - a)} bytes apart`);
    // A grown slot keeps its slices apart too, and they stay inside the memory.
    const big = ctx.threadSlices(1 << 20, 2, 40);
    assert.ok(big(1) - big(0) >= (1 << 20) + threadGap.bytes && big(1) + (1 << 20) <= be.wasmMemory.buffer.byteLength);
  } finally { await be.dispose(); }
});

test('allocator counts bytes and rejects over-allocation with sizes in the message', async () => {
  const be = await WasmBackend.create({ threads: 1, memoryMiB: 16 });
  try {
    const before = be.memory().liveBytes;
    const a = be.alloc(1000);
    assert.ok(be.memory().liveBytes >= before + 4000);
    be.free(a);
    assert.is(be.memory().liveBytes, before);
    assert.throws(() => be.alloc(16 * 1024 * 1024), /cannot allocate 67108864 bytes/);
    assert.throws(() => be.free(a), /freed/);
  } finally { await be.dispose(); }
});

test.run();
