// Finite-difference gradient checks of maxpool, batch norm (training), LRN and softmax cross-entropy: each
// backend's backward kernel against central differences of an independent float64 forward.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backendsUnderTest, randomArray, reference } from '../backends.js';
import { filled, runOn } from './layers_harness.js';

type F64 = Float64Array;
const f64 = (a: Float32Array) => Float64Array.from(a);

/** Central differences of L(v) = sum(w * f(v)) with respect to every element of v (float64). */
function numericGrad(f: (v: F64) => F64, v: F64, w: ArrayLike<number>, h: number): F64 {
  const g = new Float64Array(v.length);
  const L = (u: F64) => f(u).reduce((s, y, i) => s + w[i] * y, 0);
  for (let i = 0; i < v.length; i++) {
    const keep = v[i];
    v[i] = keep + h; const up = L(v);
    v[i] = keep - h; const down = L(v);
    v[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/** max |got - want| / max |want|. */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let d = 0, s = 1e-30;
  for (let i = 0; i < want.length; i++) { d = Math.max(d, Math.abs(got[i] - want[i])); s = Math.max(s, Math.abs(want[i])); }
  return d / s;
}

async function everyBackend() { return [{ label: 'reference', backend: reference }, ...(await backendsUnderTest())]; }

function maxpool64(x: F64, n: number, h: number, w: number, c: number): F64 {
  const oh = h >> 1, ow = w >> 1, y = new Float64Array(n * oh * ow * c);
  for (let b = 0; b < n; b++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) for (let ch = 0; ch < c; ch++) {
    const at = (dy: number, dx: number) => x[((b * h + 2 * i + dy) * w + 2 * j + dx) * c + ch];
    y[((b * oh + i) * ow + j) * c + ch] = Math.max(at(0, 0), at(0, 1), at(1, 0), at(1, 1));
  }
  return y;
}

test('maxpool2x2 backward = finite differences (exact: piecewise linear, distinct inputs 0.01 apart, h 1e-3)', async () => {
  const [n, h, w, c] = [2, 5, 4, 3];
  const len = n * h * w * c;
  // distinct values on a 0.01 grid in a shuffled order, so no window has a tie or a near-tie within h
  const perm = Array.from({ length: len }, (_, i) => i).sort((a, b) => Math.sin(a * 12.9898) - Math.sin(b * 12.9898));
  const x = Float32Array.from(perm, (p) => (p - len / 2) * 0.01);
  const dy = randomArray(n * (h >> 1) * (w >> 1) * c, 3);
  const fd = numericGrad((v) => maxpool64(v, n, h, w, c), f64(x), dy, 1e-3);
  for (const { label, backend } of await everyBackend()) {
    const out = await runOn(backend, 'maxpool2x2_backward', { x, dy, dx: filled(len, NaN) }, { n, h, w, c });
    assert.ok(relErr(out.dx, fd) < 1e-9, `${label}: maxpool gradient err ${relErr(out.dx, fd)}`);
  }
});

function bn64(x: F64, gamma: F64, beta: F64, rows: number, c: number, eps: number): F64 {
  const y = new Float64Array(rows * c);
  for (let ch = 0; ch < c; ch++) {
    let m = 0, v = 0;
    for (let r = 0; r < rows; r++) m += x[r * c + ch];
    m /= rows;
    for (let r = 0; r < rows; r++) v += (x[r * c + ch] - m) ** 2;
    const is = 1 / Math.sqrt(v / rows + eps);
    for (let r = 0; r < rows; r++) y[r * c + ch] = (x[r * c + ch] - m) * is * gamma[ch] + beta[ch];
  }
  return y;
}

test('batchnorm (training) backward: dx, dgamma, dbeta = finite differences within 2e-4 (h 1e-4, float32 kernels)', async () => {
  const [rows, c, eps] = [6, 5, 1e-5];
  const x = randomArray(rows * c, 1, 2), gamma = randomArray(c, 2), beta = randomArray(c, 3), dy = randomArray(rows * c, 4);
  const fdx = numericGrad((v) => bn64(v, f64(gamma), f64(beta), rows, c, eps), f64(x), dy, 1e-4);
  const fdg = numericGrad((v) => bn64(f64(x), v, f64(beta), rows, c, eps), f64(gamma), dy, 1e-4);
  const fdb = numericGrad((v) => bn64(f64(x), f64(gamma), v, rows, c, eps), f64(beta), dy, 1e-4);
  const y64 = bn64(f64(x), f64(gamma), f64(beta), rows, c, eps);
  for (const { label, backend } of await everyBackend()) {
    const f = await runOn(backend, 'batchnorm_forward_train', { x, y: filled(rows * c, 0), gamma, beta, saveMean: filled(c, 0),
      saveInvstd: filled(c, 0), runMean: filled(c, 0), runVar: filled(c, 1) }, { rows, c, momentum: 0.1, eps });
    assert.ok(relErr(f.y, y64) < 1e-5, `${label}: bn forward vs float64 ${relErr(f.y, y64)}`);
    const b = await runOn(backend, 'batchnorm_backward', { x, dy, gamma, saveMean: f.saveMean, saveInvstd: f.saveInvstd,
      dx: filled(rows * c, NaN), dgamma: filled(c, NaN), dbeta: filled(c, NaN) }, { rows, c, accumulate: 0 });
    assert.ok(relErr(b.dx, fdx) < 2e-4, `${label}: bn dx err ${relErr(b.dx, fdx)}`);
    assert.ok(relErr(b.dgamma, fdg) < 2e-4, `${label}: bn dgamma err ${relErr(b.dgamma, fdg)}`);
    assert.ok(relErr(b.dbeta, fdb) < 2e-4, `${label}: bn dbeta err ${relErr(b.dbeta, fdb)}`);
  }
});

function lrn64(x: F64, rows: number, c: number, p: { size: number; alpha: number; beta: number; k: number }): F64 {
  const y = new Float64Array(rows * c);
  const lo = p.size >> 1, hi = (p.size - 1) >> 1;
  for (let r = 0; r < rows; r++) for (let i = 0; i < c; i++) {
    let s = 0;
    for (let j = i - lo; j <= i + hi; j++) if (j >= 0 && j < c) s += x[r * c + j] ** 2;
    y[r * c + i] = x[r * c + i] / (p.k + (p.alpha / p.size) * s) ** p.beta;
  }
  return y;
}

test('lrn backward = finite differences within 2e-4 (h 1e-4), odd and even window sizes', async () => {
  const [rows, c] = [3, 11];
  for (const p of [{ size: 5, alpha: 1, beta: 0.75, k: 1 }, { size: 4, alpha: 2, beta: 0.6, k: 1.5 }, { size: 5, alpha: 1e-4, beta: 0.75, k: 2 }]) {
    const x = randomArray(rows * c, 9, 1.5), dy = randomArray(rows * c, 10);
    const fd = numericGrad((v) => lrn64(v, rows, c, p), f64(x), dy, 1e-4);
    const y64 = lrn64(f64(x), rows, c, p);
    for (const { label, backend } of await everyBackend()) {
      const f = await runOn(backend, 'lrn_forward', { x, y: filled(rows * c, 0), scale: filled(rows * c, 0) }, { rows, c, ...p });
      assert.ok(relErr(f.y, y64) < 1e-5, `${label}: lrn forward vs float64 ${relErr(f.y, y64)}`);
      const b = await runOn(backend, 'lrn_backward', { x, y: f.y, scale: f.scale, dy, dx: filled(rows * c, NaN) }, { rows, c, ...p });
      assert.ok(relErr(b.dx, fd) < 2e-4, `${label}: lrn size ${p.size} dx err ${relErr(b.dx, fd)}`);
    }
  }
});

function xent64(z: F64, labels: Float32Array, n: number, classes: number, eps: number): F64 {
  const loss = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const row = z.subarray(i * classes, (i + 1) * classes);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    for (let j = 0; j < classes; j++) loss[i] += ((j === labels[i] ? 1 - eps : 0) + eps / classes) * (lse - row[j]);
  }
  return loss;
}

test('softmax cross-entropy backward = finite differences of scale * sum(loss) within 1e-4 (h 1e-4), smoothing 0 and 0.1', async () => {
  const [n, classes] = [4, 7];
  const labels = new Float32Array([0, 6, 3, 3]);
  for (const smoothing of [0, 0.1]) {
    const z = randomArray(n * classes, 21, 3);
    const scale = 1 / n;
    const fd = numericGrad((v) => xent64(v, labels, n, classes, smoothing), f64(z), filled(n, scale), 1e-4);
    const loss64 = xent64(f64(z), labels, n, classes, smoothing);
    for (const { label, backend } of await everyBackend()) {
      const f = await runOn(backend, 'softmax_xent_forward', { logits: z, labels, probs: filled(n * classes, 0), loss: filled(n, 0) },
        { n, classes, smoothing });
      assert.ok(relErr(f.loss, loss64) < 1e-6, `${label}: loss vs float64 ${relErr(f.loss, loss64)}`);
      const b = await runOn(backend, 'softmax_xent_backward', { probs: f.probs, labels, dlogits: filled(n * classes, NaN) },
        { n, classes, smoothing, scale });
      assert.ok(relErr(b.dlogits, fd) < 1e-4, `${label}: dlogits err ${relErr(b.dlogits, fd)} (smoothing ${smoothing})`);
    }
  }
});

test.run();
