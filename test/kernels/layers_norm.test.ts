// Batch norm (train, eval, backward) and LRN (forward, backward): every backend vs the reference.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backendsUnderTest, maxRelErr, randomArray, reference, upload } from '../backends.js';
import { filled, firstMismatch, runBoth, runOn } from './layers_harness.js';

const close = (a: Float32Array, b: Float32Array, tol: number, what: string, floor = 1) => {
  const e = maxRelErr(a, b, floor);
  assert.ok(e <= tol, `${what}: max rel err ${e} > ${tol}`);
};

// rows x channels: 2 rows (the least training mode allows), primes, channels off the SIMD width, and
// sizes that split over two threads.
const BN = [[2, 1], [3, 3], [17, 5], [64, 17], [2048, 67], [4096, 64], [96, 512]];

test('batchnorm_forward_train: y 1e-5, saved and running statistics 1e-5 (offset mean, so variance is no E[x^2]-m^2)', async () => {
  for (const { label, backend } of await backendsUnderTest()) {
    for (const [rows, c] of BN) {
      const x = randomArray(rows * c, rows + c).map((v, i) => 2 * v + 3 + (i % c) * 0.25);
      const gamma = randomArray(c, 1), beta = randomArray(c, 2);
      const bufs = { x, y: filled(rows * c, NaN), gamma, beta, saveMean: filled(c, NaN), saveInvstd: filled(c, NaN),
        runMean: randomArray(c, 3), runVar: randomArray(c, 4).map((v) => 1 + v * 0.5) };
      const r = await runBoth(backend, 'batchnorm_forward_train', bufs, { rows, c, momentum: 0.1, eps: 1e-5 });
      const what = `${label} bn train ${rows}x${c}`;
      close(r.got.y, r.ref.y, 1e-5, `${what} y`);
      close(r.got.saveMean, r.ref.saveMean, 1e-6, `${what} mean`);
      close(r.got.saveInvstd, r.ref.saveInvstd, 1e-5, `${what} invstd`);
      close(r.got.runMean, r.ref.runMean, 1e-6, `${what} runMean`);
      close(r.got.runVar, r.ref.runVar, 1e-5, `${what} runVar`);
    }
  }
});

test('batchnorm_forward_train refuses rows = 1 (as torch) before writing', async () => {
  for (const { label, backend } of [{ label: 'reference', backend: reference }, ...(await backendsUnderTest())]) {
    const b = (n: number, v: number) => upload(backend, filled(n, v));
    const y = b(4, 9);
    const args = { x: b(4, 1), y, gamma: b(4, 1), beta: b(4, 0), saveMean: b(4, 9), saveInvstd: b(4, 9), runMean: b(4, 0), runVar: b(4, 1), rows: 1, c: 4, momentum: 0.1, eps: 1e-5 };
    assert.throws(() => backend.run('batchnorm_forward_train', args), /batchnorm_forward_train: training mode needs more than 1 value per channel/, label);
    assert.ok((await backend.read(y)).every((v) => v === 9), label);
  }
});

test('batchnorm_forward_eval within 1e-5', async () => {
  for (const { label, backend } of await backendsUnderTest()) {
    for (const [rows, c] of [[0, 3], [1, 1], ...BN]) {
      const x = randomArray(rows * c, rows * 3 + c, 3);
      const bufs = { x, y: filled(rows * c, NaN), gamma: randomArray(c, 1), beta: randomArray(c, 2), runMean: randomArray(c, 3),
        runVar: randomArray(c, 4).map((v) => 1.2 + v) };
      const r = await runBoth(backend, 'batchnorm_forward_eval', bufs, { rows, c, eps: 1e-5 });
      close(r.got.y, r.ref.y, 1e-5, `${label} bn eval ${rows}x${c}`);
    }
  }
});

test('batchnorm_backward: dx 1e-5 (of max |gamma*invstd*dy|), dgamma/dbeta 1e-5 (of sqrt(rows)), accumulate 0 (NaN) and 1', async () => {
  for (const { label, backend } of await backendsUnderTest()) {
    for (const [rows, c] of BN) {
      const x = randomArray(rows * c, rows + 2 * c).map((v) => v * 2 + 1);
      const fwd = await runBoth(backend, 'batchnorm_forward_train', { x, y: filled(rows * c, 0), gamma: randomArray(c, 1),
        beta: randomArray(c, 2), saveMean: filled(c, 0), saveInvstd: filled(c, 0), runMean: filled(c, 0), runVar: filled(c, 1) },
      { rows, c, momentum: 0.1, eps: 1e-5 });
      for (const accumulate of [0, 1]) {
        const old = (s: number) => (accumulate === 0 ? filled(c, NaN) : randomArray(c, s));
        const bufs = { x, dy: randomArray(rows * c, 77 + rows), gamma: fwd.ref.gamma, saveMean: fwd.ref.saveMean,
          saveInvstd: fwd.ref.saveInvstd, dx: filled(rows * c, NaN), dgamma: old(5), dbeta: old(6) };
        const r = await runBoth(backend, 'batchnorm_backward', bufs, { rows, c, accumulate });
        const what = `${label} bn backward ${rows}x${c} acc ${accumulate}`;
        // dx's natural scale is |gamma*invstd| * |dy| (dx itself cancels to ~0 when rows = 2)
        let g = 0, d = 0;
        for (let ch = 0; ch < c; ch++) g = Math.max(g, Math.abs(bufs.gamma[ch] * bufs.saveInvstd[ch]));
        for (const v of bufs.dy) d = Math.max(d, Math.abs(v));
        close(r.got.dx, r.ref.dx, 1e-5, `${what} dx`, g * d);
        close(r.got.dgamma, r.ref.dgamma, 1e-5, `${what} dgamma`, Math.sqrt(rows));
        close(r.got.dbeta, r.ref.dbeta, 1e-5, `${what} dbeta`, Math.sqrt(rows));
      }
    }
  }
});

test('reductions are deterministic: batch-norm statistics and gradients, bias_backward, reduce_sum repeat bit for bit', async () => {
  for (const { label, backend } of await backendsUnderTest()) {
    const [rows, c] = [4096, 67];
    const x = randomArray(rows * c, 31, 3), dy = randomArray(rows * c, 32), cv = randomArray(c, 33);
    const runs: Float32Array[][] = [];
    for (let rep = 0; rep < 2; rep++) {
      const f = await runOn(backend, 'batchnorm_forward_train', { x, y: filled(rows * c, 0), gamma: cv, beta: cv, saveMean: filled(c, 0),
        saveInvstd: filled(c, 0), runMean: filled(c, 0), runVar: filled(c, 1) }, { rows, c, momentum: 0.1, eps: 1e-5 });
      const b = await runOn(backend, 'batchnorm_backward', { x, dy, gamma: cv, saveMean: f.saveMean, saveInvstd: f.saveInvstd,
        dx: filled(rows * c, 0), dgamma: filled(c, 0), dbeta: filled(c, 0) }, { rows, c, accumulate: 0 });
      const db = await runOn(backend, 'bias_backward', { dy, db: filled(c, 0) }, { rows, cols: c, beta: 0 });
      const s = await runOn(backend, 'reduce_sum', { x, out: filled(1, 0) }, { length: rows * c });
      runs.push([f.y, f.saveMean, f.saveInvstd, b.dx, b.dgamma, b.dbeta, db.db, s.out]);
    }
    runs[0].forEach((a, i) => assert.is(firstMismatch(a, runs[1][i]), -1, `${label}: output ${i} differs between two identical runs`));
  }
});

// LRN: AlexNet constants, a strong alpha so window errors show, even sizes (asymmetric torch window),
// a general beta (the pow path) and channel counts 1..67.
const LRN_PARAMS = [
  { size: 5, alpha: 1e-4, beta: 0.75, k: 2 },
  { size: 5, alpha: 1, beta: 0.75, k: 1 },
  { size: 2, alpha: 0.7, beta: 0.6, k: 1.5 },
  { size: 4, alpha: 2, beta: 0.75, k: 1 },
  { size: 1, alpha: 0.5, beta: 1.3, k: 1 },
  { size: 9, alpha: 1, beta: 0.5, k: 2 },
];
const LRN_SHAPES = [[1, 1], [3, 3], [7, 5], [5, 17], [13, 67]];
const LRN_LARGE = [[64, 64], [600, 96]]; // [600, 96] splits over two threads; run for the first two parameter sets

test('lrn forward (y, scale 1e-5) and backward (dx 1e-4 of max |dx|), as torch.nn.LocalResponseNorm', async () => {
  for (const { label, backend } of await backendsUnderTest()) {
    for (const [pi, p] of LRN_PARAMS.entries()) {
      for (const [rows, c] of pi < 2 ? [...LRN_SHAPES, ...LRN_LARGE] : LRN_SHAPES) {
        const x = randomArray(rows * c, rows + c + p.size, 2);
        const f = await runBoth(backend, 'lrn_forward', { x, y: filled(rows * c, NaN), scale: filled(rows * c, NaN) }, { rows, c, ...p });
        const what = `${label} lrn ${rows}x${c} size ${p.size} alpha ${p.alpha} beta ${p.beta}`;
        close(f.got.y, f.ref.y, 1e-5, `${what} y`);
        close(f.got.scale, f.ref.scale, 1e-5, `${what} scale`);
        const dy = randomArray(rows * c, 5 + rows);
        const b = await runBoth(backend, 'lrn_backward', { x, y: f.ref.y, scale: f.ref.scale, dy, dx: filled(rows * c, NaN) }, { rows, c, ...p });
        let scale = 0;
        for (const v of b.ref.dx) scale = Math.max(scale, Math.abs(v));
        close(b.got.dx, b.ref.dx, 1e-5, `${what} dx`, scale);
        const inPlace = await runBoth(backend, 'lrn_backward', { x, y: f.ref.y, scale: f.ref.scale, dy, dx: dy }, { rows, c, ...p });
        close(inPlace.got.dx, b.ref.dx, 1e-5, `${what} dx (dx = dy)`, scale);
      }
    }
  }
});

test.run();
