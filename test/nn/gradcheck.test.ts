// Finite-difference check of a whole small network's gradient on the reference backend (central differences in float64).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ReferenceBackend } from '../../src/backends/reference/backend.js';
import type { Model } from '../../src/nn/model.js';
import { normRelErr, randomInput, tinyModel } from './util.js';

async function lossAt(m: Model, x: Float32Array, labels: Float32Array, n: number): Promise<number> {
  await m.forward(x, n, true, 7);
  return m.lossForward(labels, n);
}

async function check(label: string, m: Model, n: number): Promise<void> {
  const be = m.first.backend;
  const x = randomInput(n * m.inputSize, 3);
  const labels = Float32Array.from({ length: n }, (_, i) => i % m.spec.numClasses);
  await lossAt(m, x, labels, n);
  await m.backward(n);
  let kinks = 0, total = 0;
  for (const p of m.params()) {
    // A folded repeated-input weight (torchvision's head on a 1x1 map, see Linear) holds the sum of its k
    // blocks' gradients: k times the gradient of the loss with respect to the folded weight.
    const g = (await be.read(p.grad)).map((v) => v / (p.repeatCols ?? 1));
    const w = await be.read(p.buf);
    const lossWith = async (i: number, v: number): Promise<number> => {
      const orig = w[i];
      w[i] = v; be.write(p.buf, w);
      const l = await lossAt(m, x, labels, n);
      w[i] = orig; be.write(p.buf, w);
      return l;
    };
    const l0 = await lossAt(m, x, labels, n);
    // Two step sizes: float32 noise dominates small steps on small gradients, curvature (BN over a batch
    // of 4) large ones; the tensor passes when either agrees.
    let best = Infinity;
    for (const h of [1e-3, 3e-4]) {
      const a: number[] = [], b: number[] = [];
      for (let i = 0; i < w.length; i++) {
        // Perturbed values as stored (float32), so the divided differences use the true steps.
        const up = Math.fround(w[i] + h), dn = Math.fround(w[i] - h);
        const lp = await lossWith(i, up), lm = await lossWith(i, dn);
        const fwd = (lp - l0) / (up - w[i]), bwd = (l0 - lm) / (w[i] - dn), central = (lp - lm) / (up - dn);
        total++;
        // A ReLU or max-pool switch inside the stencil makes the one-sided slopes disagree: skip that coordinate.
        if (Math.abs(fwd - bwd) > 1e-6 / h + 0.1 * Math.abs(central)) { kinks++; continue; }
        a.push(g[i]); b.push(central);
      }
      // Floor 1e-3: a conv bias feeding BN has a true gradient of 0, where float32 noise is all there is.
      best = Math.min(best, normRelErr(Float64Array.from(a), Float64Array.from(b), 1e-3));
    }
    assert.ok(best < 1e-2, `${label} ${p.name}: analytic vs finite-difference gradient, normwise rel err ${best.toExponential(2)}`);
  }
  assert.ok(kinks <= 0.1 * total, `${label}: ${kinks} of ${total} coordinates sit on a kink`);
}

const ref = new ReferenceBackend();

test('plain conv-pool-conv-pool-fc net (torchvision head: 49x repeat folded into FC1; small head) with label smoothing: every parameter gradient matches finite differences', async () => {
  await check('plain', tinyModel(ref, {}, 1, 0.1), 4);
  await check('plain, small head', tinyModel(ref, { head: 'small' }, 1, 0.1), 4);
});

test('BN net and LRN net: every parameter gradient matches finite differences', async () => {
  await check('bn', tinyModel(ref, { batchNorm: true }, 2), 4);
  await check('lrn', tinyModel(ref, { config: [3, 'LRN', 'M', 4, 'M'] }, 3), 3);
});

test.run();
