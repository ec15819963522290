// Pool, ReLU, bias, dropout, softmax cross-entropy, SGD, axpby, fill, reduce_sum: every backend vs the reference.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backendsUnderTest, maxRelErr, randomArray, reference, upload } from '../backends.js';
import { filled, firstMismatch, runBoth, runOn } from './layers_harness.js';
import { mix32, rngBits, rngUniform } from '../../src/backends/reference/rng.js';

const same = (a: Float32Array, b: Float32Array, what: string) => {
  const i = firstMismatch(a, b);
  assert.is(i, -1, `${what}: element ${i} is ${a[i]}, reference ${b[i]}`);
};
const close = (a: Float32Array, b: Float32Array, tol: number, what: string, floor = 1) => {
  const e = maxRelErr(a, b, floor);
  assert.ok(e <= tol, `${what}: max rel err ${e} > ${tol}`);
};

// Pool shapes: 1s, odd h/w (floor), primes, channel counts off the SIMD width, and one that splits over threads.
const POOL = [[1, 2, 2, 1], [2, 5, 7, 3], [3, 6, 4, 5], [1, 9, 9, 17], [2, 8, 8, 64], [1, 3, 11, 67], [4, 32, 33, 64]];

test('maxpool2x2 forward and backward match the reference exactly, ties go to the first max', async () => {
  for (const { label, backend } of await backendsUnderTest()) {
    for (const [n, h, w, c] of POOL) {
      const len = n * h * w * c, olen = n * (h >> 1) * (w >> 1) * c;
      // values on a coarse grid so that windows often hold ties (including +-0)
      const x = randomArray(len, len + c).map((v) => Math.round(v * 2) / 2);
      const f = await runBoth(backend, 'maxpool2x2_forward', { x, y: filled(olen, NaN) }, { n, h, w, c });
      same(f.got.y, f.ref.y, `${label} maxpool fwd ${n}x${h}x${w}x${c}`);
      const dy = randomArray(olen, 7 + c);
      const b = await runBoth(backend, 'maxpool2x2_backward', { x, dy, dx: filled(len, NaN) }, { n, h, w, c });
      same(b.got.dx, b.ref.dx, `${label} maxpool bwd ${n}x${h}x${w}x${c}`);
    }
  }
});

test('maxpool2x2 backward: gradient goes to the first maximum of a tied window, odd edges get 0', async () => {
  // one 3x3 single-channel image: window (0,0) = [1 1; 1 1], column 2 and row 2 are outside every window
  const x = new Float32Array([1, 1, 9, 1, 1, 9, 9, 9, 9]);
  for (const { label, backend } of [{ label: 'reference', backend: reference }, ...(await backendsUnderTest())]) {
    const out = await runOn(backend, 'maxpool2x2_backward', { x, dy: new Float32Array([5]), dx: filled(9, NaN) }, { n: 1, h: 3, w: 3, c: 1 });
    assert.equal(Array.from(out.dx), [5, 0, 0, 0, 0, 0, 0, 0, 0], label);
  }
});

test('relu forward/backward match exactly, in place too', async () => {
  for (const { label, backend } of await backendsUnderTest()) {
    for (const len of [1, 3, 7, 1000, 65539, 200003]) {
      const x = randomArray(len, len);
      x[0] = 0; if (len > 2) x[2] = -0; // zeros of both signs (NaN is left out: WGSL may assume no NaNs)
      const f = await runBoth(backend, 'relu_forward', { x, y: filled(len, 7) }, { length: len });
      same(f.got.y, f.ref.y, `${label} relu fwd ${len}`);
      const inPlace = await runBoth(backend, 'relu_forward', { x, y: x }, { length: len });
      same(inPlace.got.y, f.ref.y, `${label} relu fwd in place ${len}`);
      const dy = randomArray(len, len + 1);
      const b = await runBoth(backend, 'relu_backward', { y: f.ref.y, dy, dx: filled(len, 7) }, { length: len });
      same(b.got.dx, b.ref.dx, `${label} relu bwd ${len}`);
      const bi = await runBoth(backend, 'relu_backward', { y: f.ref.y, dy, dx: dy }, { length: len });
      same(bi.got.dx, b.ref.dx, `${label} relu bwd in place ${len}`);
    }
  }
});

const MAT = [[1, 1], [7, 3], [33, 5], [64, 17], [1000, 64], [5000, 67], [64, 4096], [0, 5]];

test('bias_add exact; bias_backward within 1e-6 (float64 partials), beta 0 overwrites NaN', async () => {
  for (const { label, backend } of await backendsUnderTest()) {
    for (const [rows, cols] of MAT) {
      const y = randomArray(rows * cols, rows + cols), bias = randomArray(cols, cols);
      const f = await runBoth(backend, 'bias_add', { y, bias }, { rows, cols });
      same(f.got.y, f.ref.y, `${label} bias_add ${rows}x${cols}`);
      for (const beta of [0, 1]) {
        const db = beta === 0 ? filled(cols, NaN) : randomArray(cols, 3);
        const b = await runBoth(backend, 'bias_backward', { dy: y, db }, { rows, cols, beta });
        // tolerance relative to the largest |sum|, floor sqrt(rows) (the sums of rows uniform [-1,1) values)
        close(b.got.db, b.ref.db, 1e-6, `${label} bias_backward ${rows}x${cols} beta ${beta}`, Math.sqrt(rows) || 1);
      }
    }
  }
});

// An independent statement of the RNG with BigInt arithmetic, to pin the documented algorithm.
function mix32Big(v: bigint): bigint {
  const M = 0xffffffffn;
  v ^= v >> 16n; v = (v * 0x7feb352dn) & M;
  v ^= v >> 15n; v = (v * 0x846ca68bn) & M;
  return v ^ (v >> 16n);
}

test('dropout RNG follows the documented algorithm (BigInt restatement) and is uniform', () => {
  for (const seed of [0, 1, 42, 0xffffffff]) {
    const key = mix32Big(BigInt(seed) ^ 0x9e3779b9n);
    for (const i of [0, 1, 2, 1000, 123456789, 0xfffffffe]) {
      const want = mix32Big(((mix32Big(BigInt(i) ^ key) + key) & 0xffffffffn));
      assert.is(rngBits(seed, i), Number(want), `seed ${seed} index ${i}`);
    }
  }
  assert.is(mix32(0), 0);
  let sum = 0;
  const N = 100000;
  for (let i = 0; i < N; i++) sum += rngUniform(7, i);
  assert.ok(Math.abs(sum / N - 0.5) < 0.005, `mean of uniforms ${sum / N}`);
});

test('dropout forward: mask and y identical to the reference; backward exact', async () => {
  for (const { label, backend } of await backendsUnderTest()) {
    for (const len of [1, 5, 1001, 100003]) {
      for (const p of [0, 0.1, 0.5, 0.9]) {
        for (const seed of [0, 1, 0xffffffff]) {
          const x = randomArray(len, len + seed);
          const f = await runBoth(backend, 'dropout_forward', { x, y: filled(len, NaN), mask: filled(len, NaN) }, { length: len, p, seed });
          same(f.got.mask, f.ref.mask, `${label} dropout mask len ${len} p ${p} seed ${seed}`);
          same(f.got.y, f.ref.y, `${label} dropout y len ${len} p ${p} seed ${seed}`);
          if (len === 100003) {
            let kept = 0;
            for (const m of f.ref.mask) if (m !== 0) kept++;
            const sd = Math.sqrt(len * p * (1 - p));
            assert.ok(Math.abs(kept - len * (1 - p)) <= 5 * sd + 1, `kept ${kept} of ${len} at p ${p}`);
          }
        }
        const dy = randomArray(len, 11);
        const mask = (await runOn(backend, 'dropout_forward', { x: dy, y: filled(len, 0), mask: filled(len, 0) }, { length: len, p, seed: 3 })).mask;
        const b = await runBoth(backend, 'dropout_backward', { dy, mask, dx: filled(len, NaN) }, { length: len });
        same(b.got.dx, b.ref.dx, `${label} dropout bwd ${len}`);
      }
    }
  }
});

const XENT = [[1, 1], [1, 10], [7, 3], [32, 10], [13, 17], [64, 1000]];

test('softmax cross-entropy forward (1e-5) and backward (1e-6), label smoothing 0 and 0.1', async () => {
  for (const { label, backend } of await backendsUnderTest()) {
    for (const [n, classes] of XENT) {
      for (const smoothing of [0, 0.1]) {
        const logits = randomArray(n * classes, n * classes, 6);
        const labels = Float32Array.from({ length: n }, (_, i) => (i * 7 + 3) % classes);
        const f = await runBoth(backend, 'softmax_xent_forward',
          { logits, labels, probs: filled(n * classes, NaN), loss: filled(n, NaN) }, { n, classes, smoothing });
        close(f.got.probs, f.ref.probs, 1e-5, `${label} probs ${n}x${classes} eps ${smoothing}`);
        close(f.got.loss, f.ref.loss, 1e-5, `${label} loss ${n}x${classes} eps ${smoothing}`);
        const b = await runBoth(backend, 'softmax_xent_backward',
          { probs: f.ref.probs, labels, dlogits: filled(n * classes, NaN) }, { n, classes, smoothing, scale: 1 / n });
        close(b.got.dlogits, b.ref.dlogits, 1e-6, `${label} dlogits ${n}x${classes} eps ${smoothing}`, 1 / n);
      }
    }
  }
});

// The contract does not promise aliasing here (WebGPU refuses it with a clear error); the wasm kernels are
// written to tolerate it, and this keeps them so.
test('wasm softmax cross-entropy in place: probs = logits, dlogits = probs (1e-5)', async () => {
  for (const { label, backend } of (await backendsUnderTest()).filter((b) => b.backend.name === 'wasm')) {
    for (const [n, classes] of [[3, 10], [5, 7]]) {
      const logits = randomArray(n * classes, 5, 4);
      const labels = Float32Array.from({ length: n }, (_, i) => (i * 3 + 1) % classes);
      const s = { n, classes, smoothing: 0.1 };
      const f = await runBoth(backend, 'softmax_xent_forward', { logits, labels, probs: filled(n * classes, 0), loss: filled(n, 0) }, s);
      const fi = await runOn(backend, 'softmax_xent_forward', { logits, labels, probs: logits, loss: filled(n, 0) }, s);
      close(fi.probs, f.ref.probs, 1e-5, `${label} probs in place ${n}x${classes}`);
      close(fi.loss, f.ref.loss, 1e-5, `${label} loss in place ${n}x${classes}`);
      const b = await runBoth(backend, 'softmax_xent_backward', { probs: f.ref.probs, labels, dlogits: filled(n * classes, 0) }, { ...s, scale: 0.5 });
      const bi = await runOn(backend, 'softmax_xent_backward', { probs: f.ref.probs, labels, dlogits: f.ref.probs }, { ...s, scale: 0.5 });
      close(bi.dlogits, b.ref.dlogits, 1e-6, `${label} dlogits in place ${n}x${classes}`);
    }
  }
});

test('softmax cross-entropy: a bad label throws before anything is written', async () => {
  for (const { label, backend } of [{ label: 'reference', backend: reference }, ...(await backendsUnderTest())]) {
    for (const kernel of ['softmax_xent_forward', 'softmax_xent_backward'] as const) {
      for (const bad of [10, -1, 1.5, NaN]) {
        const z = upload(backend, randomArray(20, 1)), labels = upload(backend, new Float32Array([1, bad]));
        const out = upload(backend, filled(20, 9)), loss = upload(backend, filled(2, 9));
        const args = kernel === 'softmax_xent_forward'
          ? { logits: z, labels, probs: out, loss, n: 2, classes: 10, smoothing: 0 }
          : { probs: z, labels, dlogits: out, n: 2, classes: 10, smoothing: 0, scale: 1 };
        assert.throws(() => backend.run(kernel, args as never), new RegExp(`${kernel}: labels\\[1\\] = ${bad}`), `${label} ${bad}`);
        assert.ok((await backend.read(out)).every((v) => v === 9), `${label}: ${kernel} wrote before throwing`);
        assert.ok((await backend.read(loss)).every((v) => v === 9), `${label}: ${kernel} wrote loss before throwing`);
        for (const b of [z, labels, out, loss]) backend.free(b);
      }
    }
  }
});

test('sgd_update as torch.optim.SGD (momentum, weight decay, nesterov) within 1e-6 over 3 steps', async () => {
  for (const { label, backend } of await backendsUnderTest()) {
    for (const len of [1, 5, 1003, 100001]) {
      for (const [momentum, weightDecay, nesterov] of [[0, 0, false], [0.9, 0, false], [0.9, 5e-4, false], [0.9, 5e-4, true]] as const) {
        let w: Float32Array = randomArray(len, len), v: Float32Array = new Float32Array(len);
        let rw = w, rv = v;
        for (let step = 0; step < 3; step++) {
          const g = randomArray(len, step + 100);
          const s = { length: len, lr: 0.05, momentum, weightDecay, nesterov };
          const { ref } = await runBoth(backend, 'sgd_update', { w: rw, g, v: rv }, s);
          const got = await runOn(backend, 'sgd_update', { w, g, v }, s);
          w = got.w; v = got.v; rw = ref.w; rv = ref.v;
        }
        close(w, rw, 1e-6, `${label} sgd w len ${len} m ${momentum} wd ${weightDecay} nesterov ${nesterov}`);
        close(v, rv, 1e-6, `${label} sgd v len ${len} m ${momentum} wd ${weightDecay} nesterov ${nesterov}`);
      }
    }
  }
});

test('axpby (beta 0 overwrites NaN), fill, reduce_sum (1e-6 of sum |x|)', async () => {
  for (const { label, backend } of await backendsUnderTest()) {
    for (const len of [0, 1, 5, 1003, 100003]) {
      const x = randomArray(len, len + 5);
      for (const beta of [0, 0.5]) {
        const y = beta === 0 ? filled(len, NaN) : randomArray(len, 9);
        const r = await runBoth(backend, 'axpby', { x, y }, { length: len, alpha: -1.5, beta });
        close(r.got.y, r.ref.y, 1e-6, `${label} axpby len ${len} beta ${beta}`);
        assert.ok(r.got.y.every((v) => Number.isFinite(v)), `${label} axpby NaN left`);
      }
      const f = await runBoth(backend, 'fill', { x: filled(len + 3, 1) }, { length: len, value: -2.25 });
      same(f.got.x, f.ref.x, `${label} fill ${len}`);
      const s = await runBoth(backend, 'reduce_sum', { x, out: filled(1, NaN) }, { length: len });
      let abs = 0;
      for (const v of x) abs += Math.abs(v);
      assert.ok(Math.abs(s.got.out[0] - s.ref.out[0]) <= 1e-6 * Math.max(1, abs), `${label} reduce_sum ${len}: ${s.got.out[0]} vs ${s.ref.out[0]}`);
    }
  }
});

test('bad shapes throw a KernelArgumentError naming the kernel before anything is written', async () => {
  for (const { label, backend } of await backendsUnderTest()) {
    const x = filled(16, 1), y = filled(3, 5);
    try {
      await runOn(backend, 'maxpool2x2_forward', { x, y }, { n: 1, h: 4, w: 4, c: 1 });
      assert.unreachable(label);
    } catch (e) { assert.match((e as Error).message, /maxpool2x2_forward: y holds 3 elements/); }
    try {
      await runOn(backend, 'dropout_forward', { x, y: x, mask: x }, { length: 16, p: 1, seed: 1 });
      assert.unreachable(label);
    } catch (e) { assert.match((e as Error).message, /dropout_forward: p must be in \[0, 1\)/); }
  }
});

test.run();
