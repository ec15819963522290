// CIFAR-10 / CIFAR-100 binary loading from generated files: CHW -> HWC, labels, and broken or missing files.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../../src/data/dataset.js';

const root = mkdtempSync(join(tmpdir(), 'vggrt-cifar-'));
let dirCount = 0;

/** Pixel value of channel c at (y, x) of the image with global id `id`. */
const pix = (id: number, c: number, y: number, x: number) => (id * 31 + c * 97 + y * 5 + x * 3) & 255;

/** Records of `labels.length` images (each label entry: one byte for CIFAR-10, [coarse, fine] for CIFAR-100). */
function records(labels: number[][], firstId: number): Buffer {
  const rec = labels[0].length + 3072;
  const b = Buffer.alloc(labels.length * rec);
  labels.forEach((ls, r) => {
    b.set(ls, r * rec);
    for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) {
      b[r * rec + ls.length + c * 1024 + y * 32 + x] = pix(firstId + r, c, y, x);
    }
  });
  return b;
}

function makeDir(files: Record<string, Buffer>, sub?: string): string {
  const top = join(root, `d${dirCount++}`);
  const dir = sub ? join(top, sub) : top;
  mkdirSync(dir, { recursive: true });
  for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
  return top;
}

function cifar10Files(override: Record<string, Buffer> = {}): Record<string, Buffer> {
  const files: Record<string, Buffer> = {};
  for (let i = 1; i <= 5; i++) files[`data_batch_${i}.bin`] = records([[i % 10], [(i + 5) % 10]], 2 * (i - 1));
  files['test_batch.bin'] = records([[7], [9], [0]], 100);
  return { ...files, ...override };
}

async function rejects(name: 'cifar10' | 'cifar100', dir: string | undefined, split: 'train' | 'test', ...patterns: RegExp[]) {
  try {
    await loadDataset(name, { data: dir, split });
  } catch (e) {
    const msg = (e as Error).message;
    for (const p of patterns) assert.match(msg, p, `message "${msg}" should match ${p}`);
    return;
  }
  assert.unreachable(`loading ${dir} should have failed`);
}

test('CIFAR-10: five train batches concatenate in order, pixels become HWC', async () => {
  const dir = makeDir(cifar10Files());
  const train = await loadDataset('cifar10', { data: dir, split: 'train' });
  const t = await loadDataset('cifar10', { data: dir, split: 'test' });
  assert.equal([train.length, train.channels, train.height, train.width, train.numClasses], [10, 3, 32, 32, 10]);
  assert.is(t.length, 3);
  const out = new Float32Array(3072);
  for (let k = 0; k < 10; k++) {
    const batch = (k >> 1) + 1;
    assert.is(train.get(k, out, 0), k % 2 === 0 ? batch % 10 : (batch + 5) % 10, `label of image ${k}`);
    for (const [y, x, c] of [[0, 0, 0], [0, 0, 2], [5, 17, 1], [31, 31, 2]]) {
      assert.ok(Math.abs(out[(y * 32 + x) * 3 + c] - pix(k, c, y, x) / 255) < 1e-7, `image ${k} (${y},${x},${c})`);
    }
  }
  assert.is(t.get(2, out, 0), 0);
  assert.ok(Math.abs(out[(3 * 32 + 4) * 3 + 1] - pix(102, 1, 3, 4) / 255) < 1e-7);
});

test('CIFAR-10: --data may name the parent of cifar-10-batches-bin', async () => {
  const top = makeDir(cifar10Files(), 'cifar-10-batches-bin');
  assert.is((await loadDataset('cifar10', { data: top, split: 'test' })).length, 3);
});

test('CIFAR-100: 2 label bytes, fine label used, coarse and fine ranges checked', async () => {
  const dir = makeDir({ 'train.bin': records([[19, 99], [0, 0], [4, 57]], 0), 'test.bin': records([[1, 2]], 50) });
  const train = await loadDataset('cifar100', { data: dir, split: 'train' });
  assert.equal([train.length, train.numClasses], [3, 100]);
  const out = new Float32Array(3072);
  assert.is(train.get(0, out, 0), 99);
  assert.is(train.get(2, out, 0), 57);
  assert.ok(Math.abs(out[(10 * 32 + 20) * 3 + 2] - pix(2, 2, 10, 20) / 255) < 1e-7);
  await rejects('cifar100', makeDir({ 'train.bin': records([[3, 4], [20, 5]], 0) }), 'train',
    /train\.bin/, /coarse label 20 of record 1 is out of range \[0, 20\)/);
  await rejects('cifar100', makeDir({ 'test.bin': records([[3, 100]], 0) }), 'test',
    /test\.bin/, /fine label 100 of record 0 is out of range \[0, 100\)/);
});

test('truncated and empty files are rejected naming the file', async () => {
  const bad = records([[1], [2]], 0).subarray(0, 3073 + 1000);
  await rejects('cifar10', makeDir(cifar10Files({ 'data_batch_3.bin': bad })), 'train',
    /data_batch_3\.bin/, /not a whole number of 3073-byte records/, /1 records and 1000 bytes left over/);
  await rejects('cifar10', makeDir(cifar10Files({ 'test_batch.bin': Buffer.alloc(0) })), 'test', /test_batch\.bin/, /empty/);
  // CIFAR-10 batches handed to the CIFAR-100 loader: 3073-byte records do not divide into 3074.
  await rejects('cifar100', makeDir({ 'train.bin': records([[1], [2]], 0) }), 'train', /train\.bin/, /3074-byte records/);
});

test('labels out of range are rejected', async () => {
  await rejects('cifar10', makeDir(cifar10Files({ 'data_batch_5.bin': records([[1], [10]], 0) })), 'train',
    /data_batch_5\.bin/, /label 10 of record 1 is out of range \[0, 10\)/);
});

test('missing batch, missing directory and no --data are clear errors', async () => {
  const files = cifar10Files();
  delete files['data_batch_4.bin'];
  const dir = makeDir(files);
  await rejects('cifar10', dir, 'train', /data_batch_4\.bin/, /missing file/, /--data/);
  await loadDataset('cifar10', { data: dir, split: 'test' });
  await rejects('cifar10', join(root, 'absent'), 'train', /absent/, /data directory not found/, /--data/);
  await rejects('cifar10', undefined, 'train', /cifar10: no data directory/, /--data/);
});

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();
