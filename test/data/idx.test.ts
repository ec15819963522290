// IDX (Fashion-MNIST / MNIST) loading from generated files: valid plain and gzipped sets, and every kind of broken file.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { loadDataset } from '../../src/data/dataset.js';

const root = mkdtempSync(join(tmpdir(), 'vggrt-idx-'));
let dirCount = 0;

function idxImages(n: number, rows = 28, cols = 28, magic = [0, 0, 8, 3]): Buffer {
  const b = Buffer.alloc(16 + n * rows * cols);
  b.set(magic, 0);
  b.writeUInt32BE(n, 4); b.writeUInt32BE(rows, 8); b.writeUInt32BE(cols, 12);
  for (let i = 0; i < n * rows * cols; i++) b[16 + i] = (i * 7 + (i >> 5)) & 255;
  return b;
}
function idxLabels(labels: number[], magic = [0, 0, 8, 1]): Buffer {
  const b = Buffer.alloc(8 + labels.length);
  b.set(magic, 0);
  b.writeUInt32BE(labels.length, 4);
  labels.forEach((l, i) => { b[8 + i] = l; });
  return b;
}

/** Writes a dataset directory; `files` maps file names to contents. */
function makeDir(files: Record<string, Buffer>): string {
  const dir = join(root, `d${dirCount++}`);
  mkdirSync(dir);
  for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
  return dir;
}

const TRAIN_LABELS = [3, 1, 4, 1, 5];
function validFiles(gz: boolean, override: Record<string, Buffer> = {}): Record<string, Buffer> {
  const z = (b: Buffer) => (gz ? gzipSync(b) : b);
  const s = gz ? '.gz' : '';
  return {
    [`train-images-idx3-ubyte${s}`]: z(idxImages(5)),
    [`train-labels-idx1-ubyte${s}`]: z(idxLabels(TRAIN_LABELS)),
    [`t10k-images-idx3-ubyte${s}`]: z(idxImages(2)),
    [`t10k-labels-idx1-ubyte${s}`]: z(idxLabels([9, 0])),
    ...override,
  };
}

async function rejects(dir: string, split: 'train' | 'test', ...patterns: RegExp[]): Promise<void> {
  try {
    await loadDataset('fashion-mnist', { data: dir, split });
  } catch (e) {
    const msg = (e as Error).message;
    for (const p of patterns) assert.match(msg, p, `message "${msg}" should match ${p}`);
    return;
  }
  assert.unreachable(`loading ${dir} (${split}) should have failed`);
}

for (const gz of [false, true]) {
  test(`valid ${gz ? 'gzipped' : 'plain'} IDX files load with the right pixels and labels`, async () => {
    const dir = makeDir(validFiles(gz));
    const train = await loadDataset('fashion-mnist', { data: dir, split: 'train' });
    const t10k = await loadDataset('fashion-mnist', { data: dir, split: 'test' });
    assert.is(train.length, 5); assert.is(t10k.length, 2);
    assert.equal([train.channels, train.height, train.width, train.numClasses], [1, 28, 28, 10]);
    const out = new Float32Array(784 + 3);
    for (let i = 0; i < 5; i++) {
      assert.is(train.get(i, out, 3), TRAIN_LABELS[i]);
      for (const p of [0, 1, 400, 783]) {
        const k = i * 784 + p;
        assert.ok(Math.abs(out[3 + p] - ((k * 7 + (k >> 5)) & 255) / 255) < 1e-7, `pixel ${p} of image ${i}`);
      }
    }
    assert.is(t10k.get(1, out, 0), 0);
    assert.throws(() => train.get(5, out, 0), /out of range/);
  });
}

test('mnist with --data reads the original IDX files', async () => {
  const dir = makeDir(validFiles(true));
  const ds = await loadDataset('mnist', { data: dir, split: 'train' });
  assert.is(ds.name, 'mnist'); assert.is(ds.length, 5);
});

test('bad magic is rejected naming the file', async () => {
  await rejects(makeDir(validFiles(false, { 'train-images-idx3-ubyte': idxImages(5, 28, 28, [0, 0, 8, 1]) })),
    'train', /train-images-idx3-ubyte/, /bad IDX magic 00 00 08 01, expected 00 00 08 03/);
  await rejects(makeDir(validFiles(true, { 'train-labels-idx1-ubyte.gz': gzipSync(idxLabels(TRAIN_LABELS, [0, 0, 0x0d, 1])) })),
    'train', /train-labels-idx1-ubyte\.gz/, /bad IDX magic/);
  // A plain-text file (say an HTML error page saved under the right name).
  await rejects(makeDir(validFiles(false, { 't10k-images-idx3-ubyte': Buffer.from('<html>not found</html>') })),
    'test', /t10k-images-idx3-ubyte/, /bad IDX magic/);
});

test('truncated data, truncated header, trailing bytes and corrupt gzip are rejected', async () => {
  const img = idxImages(5);
  await rejects(makeDir(validFiles(false, { 'train-images-idx3-ubyte': img.subarray(0, img.length - 100) })),
    'train', /train-images-idx3-ubyte/, /truncated: header says 5x28x28 \(3920 bytes of data\) but the file holds 3820/);
  await rejects(makeDir(validFiles(false, { 'train-labels-idx1-ubyte': idxLabels(TRAIN_LABELS).subarray(0, 6) })),
    'train', /train-labels-idx1-ubyte/, /truncated IDX header/);
  await rejects(makeDir(validFiles(false, { 'train-images-idx3-ubyte': Buffer.concat([img, Buffer.alloc(3)]) })),
    'train', /3 unexpected trailing bytes/);
  const gz = gzipSync(img);
  await rejects(makeDir(validFiles(true, { 'train-images-idx3-ubyte.gz': gz.subarray(0, gz.length >> 1) })),
    'train', /train-images-idx3-ubyte\.gz/, /corrupt or truncated gzip/);
});

test('image and label counts that disagree are rejected naming both files', async () => {
  await rejects(makeDir(validFiles(false, { 'train-labels-idx1-ubyte': idxLabels([1, 2, 3, 4]) })),
    'train', /train-labels-idx1-ubyte: holds 4 labels but .*train-images-idx3-ubyte holds 5 images/);
});

test('dimensions other than 28x28 are rejected', async () => {
  await rejects(makeDir(validFiles(false, { 'train-images-idx3-ubyte': idxImages(5, 32, 28) })),
    'train', /train-images-idx3-ubyte/, /images are 32x28, expected 28x28/);
});

test('labels out of range are rejected with their index', async () => {
  await rejects(makeDir(validFiles(false, { 't10k-labels-idx1-ubyte': idxLabels([9, 10]) })),
    'test', /t10k-labels-idx1-ubyte/, /label 10 at index 1 is out of range \[0, 10\)/);
});

test('missing files and directories name the path and the --data flag', async () => {
  const files = validFiles(true);
  delete files['t10k-labels-idx1-ubyte.gz'];
  const dir = makeDir(files);
  await rejects(dir, 'test', /t10k-labels-idx1-ubyte\.gz or .*t10k-labels-idx1-ubyte/, /missing file/, /--data/);
  await loadDataset('fashion-mnist', { data: dir, split: 'train' }); // the other split is still fine
  await rejects(join(root, 'nowhere'), 'train', /nowhere/, /data directory not found/, /--data/);
});

// Only where Debian's dataset-fashion-mnist is installed (not in CI): the real test split loads from the default path.
if (existsSync('/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz')) {
  test('the installed Fashion-MNIST test split: 10,000 images, 1,000 per class', async () => {
    const ds = await loadDataset('fashion-mnist', { split: 'test' });
    assert.is(ds.length, 10000);
    const counts = new Array(10).fill(0), img = new Float32Array(784);
    for (let i = 0; i < ds.length; i++) counts[ds.get(i, img, 0)]++;
    assert.equal(counts, new Array(10).fill(1000));
  });
}

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();
