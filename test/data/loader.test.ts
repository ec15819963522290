// DataLoader: batch counts, seeded shuffle, exact resume, padding, bilinear resize (against torch), normalisation.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Dataset } from '../../src/data/dataset.js';
import { DATASET_INFO, DATASET_NAMES } from '../../src/data/dataset.js';
import { DataLoader, mulberry32, shuffledIndices } from '../../src/data/loader.js';

/** Image i has value v(i, p, c) = i + p/1000 + c/10 at pixel p, channel c; label i % classes. */
function fakeDataset(length: number, h = 4, w = 4, c = 1, name = 'fake', value?: (i: number, p: number, c: number) => number): Dataset {
  const v = value ?? ((i, p, ch) => i + p / 1000 + ch / 10);
  return {
    name, length, channels: c, height: h, width: w, numClasses: 7,
    get(i, out, offset) {
      for (let p = 0; p < h * w; p++) for (let ch = 0; ch < c; ch++) out[offset + p * c + ch] = v(i, p, ch);
      return i % 7;
    },
  };
}

const firstPixels = (l: DataLoader, epoch: number) => {
  const ids: number[] = [];
  for (const b of l.batches(epoch)) {
    const per = b.x.length / b.size;
    for (let k = 0; k < b.size; k++) ids.push(Math.round(b.x[k * per]));
  }
  return ids;
};

test('mulberry32 matches the canonical implementation (bryc/code, PRNGs.md)', () => {
  // First outputs for seed 1 of the widely copied original, `t = a += 0x6D2B79F5; ...`, times 2^32.
  const r = mulberry32(1);
  const got = [r(), r(), r()].map((x) => Math.round(x * 4294967296));
  assert.equal(got, [2693262067, 11749833, 2265367787]);
});

test('batch counts, last partial batch, dropLast, labels as float32', () => {
  const ds = fakeDataset(10);
  const l = new DataLoader(ds, { batchSize: 4, shuffle: false, seed: 0 });
  assert.is(l.numBatches, 3);
  const bs = [...l.batches(0)];
  assert.equal(bs.map((b) => b.size), [4, 4, 2]);
  assert.is(bs[2].x.length, 2 * 16);
  assert.ok(bs[0].labels instanceof Float32Array);
  assert.equal(Array.from(bs[2].labels), [8 % 7, 9 % 7]);
  assert.equal(firstPixels(l, 0), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const d = new DataLoader(ds, { batchSize: 4, shuffle: false, seed: 0, dropLast: true });
  assert.is(d.numBatches, 2);
  assert.equal([...d.batches(0)].map((b) => b.size), [4, 4]);
  assert.throws(() => new DataLoader(fakeDataset(3), { batchSize: 4, shuffle: true, seed: 0, dropLast: true }), /no batch of 4 with dropLast/);
});

test('shuffle: a permutation, fixed by (seed, epoch), different across epochs and seeds', () => {
  const ds = fakeDataset(50);
  const a = new DataLoader(ds, { batchSize: 8, shuffle: true, seed: 42 });
  const b = new DataLoader(ds, { batchSize: 8, shuffle: true, seed: 42 });
  const c = new DataLoader(ds, { batchSize: 8, shuffle: true, seed: 43 });
  const e0 = firstPixels(a, 0), e1 = firstPixels(a, 1);
  assert.equal([...e0].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  assert.equal(firstPixels(b, 1), e1, 'epoch 1 does not depend on having run epoch 0');
  assert.equal(firstPixels(b, 0), e0);
  assert.not.equal(e0, e1);
  assert.not.equal(firstPixels(c, 0), e0);
  assert.equal(Array.from(shuffledIndices(5, 7)), Array.from(shuffledIndices(5, 7)));
});

test('state()/restore(): a resumed loader yields exactly the remaining batches', () => {
  const ds = fakeDataset(23);
  const opts = { batchSize: 5, shuffle: true, seed: 9 };
  const full = new DataLoader(ds, opts);
  const all = [...full.batches(3)];
  assert.equal(full.state(), { epoch: 4, position: 0, seed: 9 }, 'a finished epoch reads as the start of the next');

  const first = new DataLoader(ds, opts);
  const it = first.batches(3)[Symbol.iterator]();
  it.next(); it.next();
  const saved = JSON.parse(JSON.stringify(first.state()));
  assert.equal(saved, { epoch: 3, position: 2, seed: 9 });

  const resumed = new DataLoader(ds, { ...opts, seed: 12345 });
  resumed.restore(saved);
  const rest = [...resumed.batches(3)];
  assert.is(rest.length, all.length - 2);
  rest.forEach((b, k) => {
    assert.equal(Array.from(b.x), Array.from(all[k + 2].x));
    assert.equal(Array.from(b.labels), Array.from(all[k + 2].labels));
  });
  // The next epoch after a resume matches too, and a later pass over the same epoch starts at 0.
  assert.equal(firstPixels(resumed, 4), firstPixels(new DataLoader(ds, opts), 4));
  assert.is([...resumed.batches(4)].length, 5);
  assert.throws(() => resumed.restore({ epoch: 1, position: 99, seed: 1 }), /bad state/);
  resumed.restore({ epoch: 1, position: 5, seed: 9 });
  assert.equal(resumed.state(), { epoch: 2, position: 0, seed: 9 });
});

test('padding 28 -> 32: image centred, 2-pixel border of normalised zeros', () => {
  const ds = fakeDataset(2, 28, 28, 1, 'fake', (i, p) => (p % 28 + 1) / 100);
  const l = new DataLoader(ds, { batchSize: 2, shuffle: false, seed: 0, inputSize: 32, mean: [0.5], std: [0.25] });
  assert.is(l.fit, 'pad');
  const [b] = [...l.batches(0)];
  assert.is(b.x.length, 2 * 32 * 32);
  const at = (n: number, y: number, x: number) => b.x[n * 1024 + y * 32 + x];
  for (const [y, x] of [[0, 0], [1, 31], [31, 5], [15, 1], [15, 30], [30, 15]]) assert.ok(Math.abs(at(1, y, x) - -2) < 1e-6, `border (${y},${x})`);
  for (const [y, x] of [[2, 2], [2, 29], [29, 2], [17, 20]]) {
    assert.ok(Math.abs(at(1, y, x) - ((x - 2 + 1) / 100 - 0.5) / 0.25) < 1e-6, `inside (${y},${x})`);
  }
});

test('bilinear resize matches torch.nn.functional.interpolate(align_corners=False)', () => {
  // Expected values printed by torch 1.13 for the same inputs.
  const up = new DataLoader(fakeDataset(1, 2, 2, 1, 'fake', (_i, p) => p), { batchSize: 1, shuffle: false, seed: 0, inputSize: 4, fit: 'resize', mean: [0], std: [1] });
  const upTorch = [0.0, 0.25, 0.75, 1.0, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2.0, 2.25, 2.75, 3.0];
  const down = new DataLoader(fakeDataset(1, 4, 4, 2, 'fake', (_i, p, c) => (c === 0 ? p ** 1.5 : -p)), { batchSize: 1, shuffle: false, seed: 0, inputSize: 3, mean: [0, 0], std: [1, 1] });
  const downTorch = [1.5605651140213013, 3.7516181468963623, 6.981783390045166, 15.943120002746582, 21.125015258789062,
    26.777950286865234, 39.27023696899414, 46.24163818359375, 53.56449890136719];
  assert.is(down.fit, 'resize');
  const u = [...up.batches(0)][0].x, d = [...down.batches(0)][0].x;
  upTorch.forEach((v, i) => assert.ok(Math.abs(u[i] - v) < 1e-5, `up ${i}: ${u[i]} vs ${v}`));
  downTorch.forEach((v, i) => assert.ok(Math.abs(d[2 * i] - v) < 1e-4 * Math.max(1, v), `down ${i}: ${d[2 * i]} vs ${v}`));
  // Channel 1 (value -p) is resized independently: torch gives -interpolate(arange(16)).
  const rampTorch = [0.8333333730697632, 2.1666667461395264, 3.500000238418579, 6.1666669845581055, 7.500000476837158,
    8.833333969116211, 11.500000953674316, 12.833333969116211, 14.166666984558105];
  rampTorch.forEach((v, i) => assert.ok(Math.abs(d[2 * i + 1] + v) < 1e-5, `down channel 1 ${i}: ${d[2 * i + 1]} vs ${-v}`));
});

test('normalisation per channel, NHWC, and the dataset defaults', () => {
  const ds = fakeDataset(1, 2, 2, 3);
  const l = new DataLoader(ds, { batchSize: 1, shuffle: false, seed: 0, mean: [0.1, 0.2, 0.3], std: [2, 4, 0.5] });
  const x = [...l.batches(0)][0].x;
  for (let p = 0; p < 4; p++) for (let c = 0; c < 3; c++) {
    const raw = p / 1000 + c / 10;
    assert.ok(Math.abs(x[p * 3 + c] - (raw - [0.1, 0.2, 0.3][c]) / [2, 4, 0.5][c]) < 1e-6);
  }
  const m = new DataLoader(fakeDataset(1, 28, 28, 1, 'mnist', () => 0), { batchSize: 1, shuffle: false, seed: 0 });
  assert.equal(m.mean, DATASET_INFO.mnist.mean);
  assert.ok(Math.abs([...m.batches(0)][0].x[0] - -0.1307 / 0.3081) < 1e-6);
  for (const n of DATASET_NAMES) {
    const info = DATASET_INFO[n];
    assert.is(info.classNames.length, info.numClasses, n);
    assert.is(info.mean.length, info.channels);
  }
  assert.throws(() => new DataLoader(ds, { batchSize: 1, shuffle: false, seed: 0, mean: [0], std: [1] }), /need 3 values/);
  assert.throws(() => new DataLoader(ds, { batchSize: 0, shuffle: false, seed: 0 }), /batchSize/);
  assert.throws(() => new DataLoader(ds, { batchSize: 1, shuffle: false, seed: 0, std: [1, 0, 1] }), /std must be positive/);
  assert.throws(() => new DataLoader(ds, { batchSize: 1, shuffle: false, seed: 0, inputSize: 1, fit: 'pad' }), /cannot pad/);
});

test.run();
