// The wasm layer kernels' channel blocking (batch norm: 16- and 8-channel blocks, then 4, then scalars) on
// channel counts that mix every block size, and max pool's exact reference semantics for NaN, -0 and ties.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backendsUnderTest, maxRelErr, randomArray } from '../backends.js';
import { filled, runBoth } from './layers_harness.js';

/** Index of the first element whose bits differ (so -0 vs 0 and NaN payloads count), or -1. */
function firstBitMismatch(a: Float32Array, b: Float32Array): number {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  if (ua.length !== ub.length) return 0;
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

const close = (a: Float32Array, b: Float32Array, tol: number, what: string, floor = 1) => {
  const e = maxRelErr(a, b, floor);
  assert.ok(e <= tol, `${what}: max rel err ${e} > ${tol}`);
};

// c = 12: 8 + 4; 20: 16 + 4; 28: 16 + 8 + 4; 31: 16 + 12 + 3 scalars; 44: 32 + 12; rows split over threads.
const SHAPES = [[130, 12], [70, 20], [300, 28], [33, 31], [1500, 44]];

test('batchnorm forward (train) and backward on channel counts that use every block size', async () => {
  for (const { label, backend } of await backendsUnderTest()) {
    for (const [rows, c] of SHAPES) {
      const x = randomArray(rows * c, rows + c).map((v, i) => 2 * v + 1 + (i % c) * 0.5);
      const gamma = randomArray(c, 1), beta = randomArray(c, 2);
      const f = await runBoth(backend, 'batchnorm_forward_train', { x, y: filled(rows * c, NaN), gamma, beta, saveMean: filled(c, NaN),
        saveInvstd: filled(c, NaN), runMean: filled(c, 0), runVar: filled(c, 1) }, { rows, c, momentum: 0.1, eps: 1e-5 });
      const what = `${label} bn ${rows}x${c}`;
      close(f.got.y, f.ref.y, 1e-5, `${what} y`);
      close(f.got.saveMean, f.ref.saveMean, 1e-6, `${what} mean`);
      close(f.got.saveInvstd, f.ref.saveInvstd, 1e-5, `${what} invstd`);
      close(f.got.runVar, f.ref.runVar, 1e-5, `${what} runVar`);
      const dy = randomArray(rows * c, 5 + rows);
      const b = await runBoth(backend, 'batchnorm_backward', { x, dy, gamma, saveMean: f.ref.saveMean, saveInvstd: f.ref.saveInvstd,
        dx: filled(rows * c, NaN), dgamma: filled(c, NaN), dbeta: filled(c, NaN) }, { rows, c, accumulate: 0 });
      let g = 0, d = 0;
      for (let ch = 0; ch < c; ch++) g = Math.max(g, Math.abs(gamma[ch] * f.ref.saveInvstd[ch]));
      for (const v of dy) d = Math.max(d, Math.abs(v));
      close(b.got.dx, b.ref.dx, 1e-5, `${what} dx`, g * d);
      close(b.got.dgamma, b.ref.dgamma, 1e-5, `${what} dgamma`, Math.sqrt(rows));
      close(b.got.dbeta, b.ref.dbeta, 1e-5, `${what} dbeta`, Math.sqrt(rows));
    }
  }
});

test('maxpool2x2 on wasm: NaN, -0 and ties pick the reference\'s element bit for bit', async () => {
  // WGSL may assume no NaN, so this holds the wasm kernels only to the reference's `if (v > m) m = v` order.
  for (const { label, backend } of (await backendsUnderTest()).filter((b) => b.label.startsWith('wasm'))) {
    for (const [n, h, w, c] of [[2, 4, 6, 8], [1, 6, 4, 13]]) {
      const len = n * h * w * c, olen = n * (h >> 1) * (w >> 1) * c;
      const pool = [NaN, -0, 0, 1, -1, 1, NaN, -0];
      const x = randomArray(len, len).map((v) => pool[Math.floor((v + 1) * 4) & 7]);
      const f = await runBoth(backend, 'maxpool2x2_forward', { x, y: filled(olen, 7) }, { n, h, w, c });
      assert.is(firstBitMismatch(f.got.y, f.ref.y), -1, `${label} maxpool fwd ${n}x${h}x${w}x${c}`);
      const b = await runBoth(backend, 'maxpool2x2_backward', { x, dy: randomArray(olen, 3), dx: filled(len, 7) }, { n, h, w, c });
      assert.is(firstBitMismatch(b.got.dx, b.ref.dx), -1, `${label} maxpool bwd ${n}x${h}x${w}x${c}`);
    }
  }
});

test.run();
