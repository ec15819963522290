// PrefetchingLoader: bit-identical to DataLoader (also after restore and early exit), worker errors, close, exit without close, wait times.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataLoader, type Batch, type DataLoaderOptions } from '../../src/data/loader.js';
import { PrefetchingLoader } from '../../src/data/prefetch.js';
import { openDataset, type DatasetSpec } from '../../src/data/prefetch_worker.js';

const root = mkdtempSync(join(tmpdir(), 'vggrt-prefetch-'));

/** A small MNIST-format train split: n 28x28 images (bytes vary with image and position), labels i % 10. */
function idxDir(name: string, n: number, badMagic = false): string {
  const dir = join(root, name);
  mkdirSync(dir);
  const img = Buffer.alloc(16 + n * 784);
  img.set(badMagic ? [0, 0, 8, 9] : [0, 0, 8, 3], 0);
  img.writeUInt32BE(n, 4); img.writeUInt32BE(28, 8); img.writeUInt32BE(28, 12);
  for (let i = 0; i < n * 784; i++) img[16 + i] = (i * 7 + (i >> 9) * 13) & 255;
  const lab = Buffer.alloc(8 + n);
  lab.set([0, 0, 8, 1], 0);
  lab.writeUInt32BE(n, 4);
  for (let i = 0; i < n; i++) lab[8 + i] = i % 10;
  writeFileSync(join(dir, 'train-images-idx3-ubyte'), img);
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), lab);
  return dir;
}

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Batches equal bit for bit (x, labels, size), in order. */
function assertSame(got: Batch[], want: Batch[], what: string): void {
  assert.is(got.length, want.length, `${what}: batch count`);
  got.forEach((b, k) => {
    assert.is(b.size, want[k].size, `${what}: size of batch ${k}`);
    assert.ok(bytes(b.x).equals(bytes(want[k].x)), `${what}: x of batch ${k} differs`);
    assert.ok(bytes(b.labels).equals(bytes(want[k].labels)), `${what}: labels of batch ${k} differ`);
  });
}

async function take(it: AsyncIterator<Batch>, n: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for (let k = 0; k < n; k++) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}
async function all(src: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of src) out.push(b);
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// One mnist worker for the package tests (decoding the package's JSON takes ~0.6 s per thread).
const mnistSpec: DatasetSpec = { name: 'mnist', split: 'train' };
const mnistOpts: DataLoaderOptions = { batchSize: 100, shuffle: true, seed: 7, inputSize: 32 };
let mnist: PrefetchingLoader;
let reference: () => DataLoader;

test.before(async () => {
  mnist = new PrefetchingLoader(mnistSpec, { ...mnistOpts, prefetch: 3 });
  const { ds } = await openDataset(mnistSpec);
  reference = () => new DataLoader(ds, mnistOpts);
  await mnist.ready;
});
test.after(() => {
  mnist.close();
  rmSync(root, { recursive: true, force: true });
});

test('mnist package: same batches as DataLoader, two epochs, shuffled and padded to 32', async () => {
  const ref = reference();
  assert.is(mnist.numBatches, ref.numBatches);
  assert.is(mnist.inputSize, 32);
  assert.equal([mnist.channels, mnist.fit, mnist.mean, mnist.std], [ref.channels, ref.fit, ref.mean, ref.std]);
  assertSame(await all(mnist.batches(0)), [...ref.batches(0)], 'epoch 0');
  assert.equal(mnist.state(), ref.state());
  assertSame(await all(mnist.batches(1)), [...ref.batches(1)], 'epoch 1');
  assert.equal(mnist.state(), { epoch: 2, position: 0, seed: 7 });
  assert.equal(Array.from(mnist.order(3)), Array.from(ref.order(3)));
});

test('state() counts batches taken, not prefetched; early exit then a new pass continues where the consumer stopped', async () => {
  const ref = reference();
  const want = [...ref.batches(4)];
  mnist.restore({ epoch: 4, position: 0, seed: 7 });
  const it = mnist.batches(4)[Symbol.asyncIterator]();
  const head = await take(it, 5);
  await sleep(50); // the worker has prefetched further by now
  assert.equal(mnist.state(), { epoch: 4, position: 5, seed: 7 });
  await it.return!(undefined);
  assert.equal(mnist.state(), { epoch: 4, position: 5, seed: 7 });
  const rest = await all(mnist.batches(4));
  assertSame([...head, ...rest], want, 'break after 5, then resume');
});

test('restore() mid-epoch (as from a checkpoint, other seed) gives DataLoader\'s batches from there', async () => {
  const ref = new DataLoader((await openDataset(mnistSpec)).ds, { ...mnistOpts, seed: 99 });
  const first = ref.batches(2)[Symbol.iterator]();
  for (let k = 0; k < 30; k++) first.next();
  const saved = JSON.parse(JSON.stringify(ref.state()));
  assert.equal(saved, { epoch: 2, position: 30, seed: 99 });
  const want = [...ref.batches(2)];
  mnist.restore(saved);
  assertSame(await all(mnist.batches(2)), want, 'after restore');
  assert.equal(mnist.state(), ref.state());
  assert.throws(() => mnist.restore({ epoch: 1, position: 999, seed: 1 }), /bad state/);
  mnist.restore({ epoch: 1, position: mnist.numBatches, seed: 7 });
  assert.equal(mnist.state(), { epoch: 2, position: 0, seed: 7 });
});

test('limit and shift run in the worker; reuse (slot views), prefetch 1 and dropLast match DataLoader', async () => {
  const spec: DatasetSpec = { name: 'mnist', data: idxDir('small', 53), split: 'train', limit: 37, shift: { max: 2, seed: 5 } };
  const opts: DataLoaderOptions = { batchSize: 8, shuffle: true, seed: 3, dropLast: true };
  const { ds, shift } = await openDataset(spec);
  const ref = new DataLoader(ds, opts);
  for (const [prefetch, reuse] of [[1, true], [4, false]] as const) {
    const l = await PrefetchingLoader.create(spec, { ...opts, prefetch, reuse });
    try {
      assert.is(l.numBatches, 4);
      assert.equal([l.length, l.height, l.width, l.numClasses], [37, 28, 28, 10]);
      for (const epoch of [0, 1]) {
        shift!.epoch = epoch;
        const want = [...ref.batches(epoch)];
        const got: Batch[] = [];
        // With reuse a batch lives until the next is requested: compare it right away, keep copies.
        for await (const b of l.batches(epoch)) got.push({ x: b.x.slice(), labels: b.labels.slice(), size: b.size });
        assertSame(got, want, `prefetch ${prefetch} reuse ${reuse} epoch ${epoch}`);
      }
    } finally {
      l.close();
    }
  }
});

test('a later batches() call ends the earlier pass (it rejects) and no slot is lost, also with reuse', async () => {
  const spec: DatasetSpec = { name: 'mnist', data: idxDir('passes', 30), split: 'train' };
  const opts: DataLoaderOptions = { batchSize: 4, shuffle: true, seed: 11 };
  const ref = new DataLoader((await openDataset(spec)).ds, opts);
  const want = [...ref.batches(0)];
  const l = await PrefetchingLoader.create(spec, { ...opts, prefetch: 1, reuse: true }); // 2 slots in all
  try {
    const its: AsyncIterator<Batch>[] = [];
    for (let k = 0; k < 4; k++) {
      // Each pass takes one batch and is left holding it; the next pass must get the slots back.
      const it = l.batches(0)[Symbol.asyncIterator]();
      const [b] = await take(it, 1);
      assertSame([{ x: b.x.slice(), labels: b.labels.slice(), size: b.size }], [want[k]], `pass ${k}`);
      its.push(it);
    }
    await its[0].next().then(() => assert.unreachable('an ended pass must not go on'), (e: Error) => assert.match(e.message, /ended by a later batches\(\) call/));
    const got: Batch[] = [];
    for await (const b of l.batches(0)) got.push({ x: b.x.slice(), labels: b.labels.slice(), size: b.size });
    assertSame(got, want.slice(4), 'the rest of the epoch');
    await its[3].next().then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /ended by a later/));
  } finally {
    l.close();
  }
});

test('a malformed file in the worker rejects ready and the iteration, naming the file', async () => {
  const dir = idxDir('bad', 10, true);
  const l = new PrefetchingLoader({ name: 'mnist', data: dir, split: 'train' }, { batchSize: 4, shuffle: false, seed: 0 });
  const file = join(dir, 'train-images-idx3-ubyte');
  try {
    await all(l.batches(0));
    assert.unreachable('iteration should reject');
  } catch (e) {
    assert.instance(e, Error);
    assert.ok((e as Error).message.includes(file), (e as Error).message);
    assert.match((e as Error).message, /bad IDX magic/);
  }
  await l.ready.then(() => assert.unreachable('ready should reject'), (e: Error) => assert.ok(e.message.includes(file)));
  await PrefetchingLoader.create({ name: 'mnist', data: join(root, 'nowhere'), split: 'train' }, { batchSize: 4, shuffle: false, seed: 0 })
    .then(() => assert.unreachable('create should reject'), (e: Error) => assert.match(e.message, /nowhere: data directory not found/));
  // Bad options are reported the same way (the DataLoader runs in the worker).
  await PrefetchingLoader.create({ name: 'mnist', data: idxDir('ok', 10), split: 'train' }, { batchSize: 0, shuffle: false, seed: 0 })
    .then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /batchSize must be a positive integer/));
  assert.throws(() => new PrefetchingLoader(mnistSpec, { ...mnistOpts, prefetch: 0 }), /prefetch must be/);
});

test('close() rejects later passes; a process exits without close()', async () => {
  const l = await PrefetchingLoader.create({ name: 'mnist', data: idxDir('close', 20), split: 'train' }, { batchSize: 4, shuffle: false, seed: 0 });
  const it = l.batches(0)[Symbol.asyncIterator]();
  assert.is((await it.next()).value!.size, 4);
  l.close();
  await it.next().then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /closed/));
  await all(l.batches(0)).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /closed/));

  const dir = idxDir('exit', 20);
  const mod = new URL('../../src/data/prefetch.js', import.meta.url).href;
  const script = `const { PrefetchingLoader } = await import(${JSON.stringify(mod)});
    const l = new PrefetchingLoader({ name: 'mnist', data: ${JSON.stringify(dir)}, split: 'train' }, { batchSize: 4, shuffle: true, seed: 1 });
    const it = l.batches(0)[Symbol.asyncIterator]();
    console.log('took', (await it.next()).value.size, l.state().position);`;
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20000 });
  assert.is(r.status, 0, `child: status ${r.status} signal ${r.signal} ${r.stderr}`);
  assert.is(r.stdout.trim(), 'took 4 1');
  console.log(`  [prefetch] child process with an unclosed loader exited in ${(performance.now() - t0).toFixed(0)} ms`);
});

test('a slow consumer does not wait for data after the first batch (numbers printed, loose check)', async () => {
  const ref = reference();
  let t0 = performance.now();
  const n = 25;
  const it = ref.batches(6);
  for (let k = 0; k < n; k++) it.next();
  const produceMs = (performance.now() - t0) / n;

  const computeMs = 20;
  mnist.restore({ epoch: 6, position: 0, seed: 7 });
  t0 = performance.now();
  let k = 0;
  for await (const b of mnist.batches(6)) {
    assert.is(b.size, 100);
    const until = performance.now() + computeMs;
    while (performance.now() < until) { /* a busy "training step": the main thread is not free meanwhile */ }
    if (++k === n) break;
  }
  const total = performance.now() - t0;
  const w = mnist.waits;
  const after = w.slice(1);
  const sorted = [...after].sort((a, b) => a - b);
  const median = sorted[sorted.length >> 1], max = sorted[sorted.length - 1], sum = after.reduce((a, b) => a + b, 0);
  console.log(`  [prefetch] DataLoader in-process: ${produceMs.toFixed(2)} ms per batch of 100 (mnist, pad to 32); ` +
    `consumer ${computeMs} ms busy per batch, ${n} batches in ${total.toFixed(0)} ms; wait for batch 1 ${w[0].toFixed(2)} ms, ` +
    `then median ${median.toFixed(3)} ms, max ${max.toFixed(3)} ms, sum ${sum.toFixed(2)} ms over ${after.length} batches`);
  assert.is(w.length, n);
  // Loose: after the first batch, all the waiting together is less than the data work it hid.
  assert.ok(sum < produceMs * (n - 1) + 200, `waited ${sum.toFixed(1)} ms in total after the first batch`);
});

test.run();
