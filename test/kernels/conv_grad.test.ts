// Conv gradients by finite differences (float64 on the reference definition, then every backend's gradients
// against them), and bad conv input rejected with a clear error before anything is written.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Buf, CONV_ALGOS, type ConvShape, KernelArgumentError, algoApplies, convOutSize } from '../../src/backend.js';
import { conv2dBackwardDataF64, conv2dBackwardFilterF64, conv2dForwardF64 } from '../../src/backends/reference/conv.js';
import { backendsUnderTest, randomArray, upload } from '../backends.js';

const SHAPES: ConvShape[] = [
  { n: 2, h: 5, w: 6, cin: 3, cout: 4, kh: 3, kw: 3, stride: 1, pad: 1 },
  { n: 1, h: 7, w: 5, cin: 2, cout: 3, kh: 3, kw: 3, stride: 2, pad: 1 },
  { n: 1, h: 4, w: 7, cin: 5, cout: 2, kh: 3, kw: 3, stride: 1, pad: 0 },
];

/** L = sum(conv(x, w, b) * r); returns L as a function of a perturbation of one entry of x, w or b. */
function lossOf(x: Float64Array, w: Float64Array, b: Float64Array, r: Float32Array, s: ConvShape): number {
  const y = conv2dForwardF64(x, w, b, s);
  let l = 0;
  for (let i = 0; i < y.length; i++) l += y[i] * r[i];
  return l;
}

function finiteDiff(s: ConvShape, x: Float64Array, w: Float64Array, b: Float64Array, r: Float32Array) {
  const h = 1e-5;
  const grad = (arr: Float64Array) => Float64Array.from(arr, (_, i) => {
    const keep = arr[i];
    arr[i] = keep + h; const lp = lossOf(x, w, b, r, s);
    arr[i] = keep - h; const lm = lossOf(x, w, b, r, s);
    arr[i] = keep;
    return (lp - lm) / (2 * h);
  });
  return { dx: grad(x), dw: grad(w), db: grad(b) };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0, sc = 1e-3;
  for (let i = 0; i < b.length; i++) { m = Math.max(m, Math.abs(a[i] - b[i])); sc = Math.max(sc, Math.abs(b[i])); }
  return m / sc;
}

test('finite differences confirm the float64 gradients and every backend/algorithm', async () => {
  for (const [i, s] of SHAPES.entries()) {
    const { oh, ow } = convOutSize(s);
    const x32 = randomArray(s.n * s.h * s.w * s.cin, 60 + i), w32 = randomArray(9 * s.cin * s.cout, 70 + i, 0.3);
    const b32 = randomArray(s.cout, 80 + i), r = randomArray(s.n * oh * ow * s.cout, 90 + i);
    const x = Float64Array.from(x32), w = Float64Array.from(w32), b = Float64Array.from(b32);
    const fd = finiteDiff(s, x, w, b, r);
    const an = { dx: conv2dBackwardDataF64(r, w, s), ...conv2dBackwardFilterF64(x, r, s) };
    for (const k of ['dx', 'dw', 'db'] as const) assert.ok(maxDiff(an[k], fd[k]) < 1e-8, `float64 ${k} vs finite differences: ${maxDiff(an[k], fd[k])}`);
    for (const { label, backend: be } of await backendsUnderTest()) {
      for (const algo of CONV_ALGOS) {
        if (!algoApplies(algo, s)) continue;
        const bx = upload(be, x32), bw = upload(be, w32), dy = upload(be, r);
        const dx = be.alloc(x32.length), dw = be.alloc(w32.length), db = be.alloc(s.cout);
        be.run('conv2d_backward_data', { dy, w: bw, dx, shape: s, algo });
        be.run('conv2d_backward_filter', { x: bx, dy, dw, db, shape: s, algo, beta: 0 });
        await be.sync();
        const got = { dx: await be.read(dx), dw: await be.read(dw), db: await be.read(db) };
        for (const k of ['dx', 'dw', 'db'] as const) {
          assert.ok(maxDiff(got[k], fd[k]) < 2e-5, `${label} ${algo} ${k} vs finite differences: ${maxDiff(got[k], fd[k])}`);
        }
        for (const bb of [bx, bw, dy, dx, dw, db]) be.free(bb);
      }
    }
  }
});

function throwsClearly(fn: () => void, pattern: RegExp, what: string): void {
  try { fn(); } catch (e) {
    assert.instance(e, KernelArgumentError, `${what}: wrong error type ${String(e)}`);
    assert.match((e as Error).message, pattern, `${what}: unclear message`);
    return;
  }
  assert.unreachable(`${what}: did not throw`);
}

test('bad conv input throws a clear error before writing', async () => {
  const s: ConvShape = { n: 1, h: 6, w: 6, cin: 4, cout: 4, kh: 3, kw: 3, stride: 1, pad: 1 };
  for (const { label, backend: be } of await backendsUnderTest()) {
    const sentinel = new Float32Array(6 * 6 * 4).fill(7);
    const x = upload(be, randomArray(6 * 6 * 4, 1)), w = upload(be, randomArray(9 * 16, 2));
    const y = upload(be, sentinel), short = upload(be, sentinel.subarray(0, 100));
    const unchanged = async (b: Buf, what: string) => assert.ok((await be.read(b)).every((v) => v === 7), `${label} ${what}: output written`);
    throwsClearly(() => be.run('conv2d_forward', { x, w, y: short, shape: s, algo: 'im2col_gemm' }), /conv2d_forward: y holds 100/, `${label} short y`);
    throwsClearly(() => be.run('conv2d_forward', { x: short, w, y, shape: s, algo: 'winograd_f4x4' }), /conv2d_forward: x holds 100/, `${label} short x`);
    throwsClearly(() => be.run('conv2d_backward_data', { dy: y, w: short, dx: x, shape: s, algo: 'im2col_gemm' }), /w holds 100/, `${label} short w`);
    throwsClearly(() => be.run('conv2d_backward_filter', { x, dy: y, dw: short, shape: s, algo: 'winograd_f2x2', beta: 0 }), /dw holds 100/, `${label} short dw`);
    const s1 = { ...s, kh: 1, kw: 1, pad: 0 }, s2 = { ...s, stride: 2 };
    throwsClearly(() => be.run('conv2d_forward', { x, w, y, shape: s1, algo: 'winograd_f4x4' }), /winograd_f4x4 needs a 3x3 stride-1 convolution, got 1x1/, `${label} winograd 1x1`);
    throwsClearly(() => be.run('conv2d_backward_data', { dy: x, w, dx: y, shape: s2, algo: 'winograd_f6x6' }), /needs a 3x3 stride-1 convolution, got 3x3 stride 2/, `${label} winograd stride 2`);
    throwsClearly(() => be.run('conv2d_backward_filter', { x, dy: y, dw: y, shape: s2, algo: 'winograd_f2x2', beta: 0 }), /stride 2/, `${label} winograd wgrad stride 2`);
    throwsClearly(() => be.run('im2col', { x, col: short, shape: s }), /im2col: col holds 100/, `${label} short col`);
    throwsClearly(() => be.run('col2im', { col: short, x: y, shape: s }), /col2im: col holds 100/, `${label} col2im short col`);
    if (be.name === 'wasm') {
      throwsClearly(() => be.run('conv2d_forward', { x: y, w, y, shape: s, algo: 'im2col_gemm' }), /y must not be the same buffer as x/, `${label} aliased y`);
    }
    await unchanged(y, 'after the rejected calls');
    await unchanged(short, 'short buffer');
    for (const b of [x, w, y, short]) be.free(b);
  }
});

test.run();
