// Winograd fp32 error against a float64 direct convolution, next to im2col's error on the same data, for
// the forward pass and both gradients; prints the measured table.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Backend, CONV_ALGOS, type ConvAlgo, type ConvShape, algoApplies, convOutSize } from '../../src/backend.js';
import { conv2dBackwardDataF64, conv2dBackwardFilterF64, conv2dForwardF64 } from '../../src/backends/reference/conv.js';
import { backendsUnderTest, randomArray, upload } from '../backends.js';

/** max |got - exact| / max |exact|. */
function relErr(got: Float32Array, exact: Float64Array): number {
  let e = 0, s = 0;
  for (let i = 0; i < exact.length; i++) { e = Math.max(e, Math.abs(got[i] - exact[i])); s = Math.max(s, Math.abs(exact[i])); }
  return e / s;
}

/** A float32 direct convolution that sums in one running float32 accumulator (the textbook fp32 'direct'
 *  error the Winograd literature compares against; im2col's blocked FMA GEMM is several times better). */
function forwardF32Sequential(x: Float32Array, w: Float32Array, s: ConvShape): Float32Array {
  const { oh, ow } = convOutSize(s), f = Math.fround;
  const y = new Float32Array(s.n * oh * ow * s.cout);
  for (let b = 0; b < s.n; b++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) for (let co = 0; co < s.cout; co++) {
    let acc = 0;
    for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) {
      const iy = oy - s.pad + ky, ix = ox - s.pad + kx;
      if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
      for (let ci = 0; ci < s.cin; ci++) acc = f(acc + f(x[((b * s.h + iy) * s.w + ix) * s.cin + ci] * w[((ky * 3 + kx) * s.cin + ci) * s.cout + co]));
    }
    y[((b * oh + oy) * ow + ox) * s.cout + co] = acc;
  }
  return y;
}

/** Bounds on the error (max|err| / max|exact|): an absolute ceiling per algorithm, and ratios: F(4x4) forward
 *  within 4x of the sequential fp32 direct conv, F(6x6) within 5x of F(4x4), F(2x2) within 3x of im2col.
 *  Measured on this shape (relaxed build): im2col 2.7e-7, sequential direct ~7e-7, F(2x2) 2.6e-7,
 *  F(4x4) 2.1e-6, F(6x6) 5.7e-6 forward; the gradients are similar (printed table). */
const CEILING: Record<ConvAlgo, number> = { im2col_gemm: 1e-6, winograd_f2x2: 1.5e-6, winograd_f4x4: 6e-6, winograd_f6x6: 2e-5, winograd_map2x2: 1.5e-6 };

/** Max relative errors against float64 of each algorithm's three passes on one shape (backend: the first under test). */
async function passErrors(s: ConvShape, algos: readonly ConvAlgo[], seed: number, be: Backend) {
  const { oh, ow } = convOutSize(s);
  const xd = randomArray(s.n * s.h * s.w * s.cin, seed), wd = randomArray(9 * s.cin * s.cout, seed + 1, 1 / Math.sqrt(9 * s.cin));
  const dyd = randomArray(s.n * oh * ow * s.cout, seed + 2);
  const exact = {
    y: conv2dForwardF64(xd, wd, undefined, s), dx: conv2dBackwardDataF64(dyd, wd, s), dw: conv2dBackwardFilterF64(xd, dyd, s).dw,
  };
  const x = upload(be, xd), w = upload(be, wd), dy = upload(be, dyd);
  const y = be.alloc(exact.y.length), dx = be.alloc(xd.length), dw = be.alloc(wd.length);
  const errs: Record<string, Record<string, number>> = {};
  for (const algo of algos) {
    be.run('conv2d_forward', { x, w, y, shape: s, algo });
    be.run('conv2d_backward_data', { dy, w, dx, shape: s, algo });
    be.run('conv2d_backward_filter', { x, dy, dw, shape: s, algo, beta: 0 });
    await be.sync();
    errs[algo] = { y: relErr(await be.read(y), exact.y), dx: relErr(await be.read(dx), exact.dx), dw: relErr(await be.read(dw), exact.dw) };
  }
  for (const b of [x, w, dy, y, dx, dw]) be.free(b);
  return { errs, xd, wd, exact };
}

test('Winograd error against float64 stays within stated bounds of im2col error', async () => {
  const s: ConvShape = { n: 2, h: 14, w: 14, cin: 64, cout: 32, kh: 3, kw: 3, stride: 1, pad: 1 };
  const [{ backend: be }] = await backendsUnderTest();
  const algos = CONV_ALGOS.filter((a) => algoApplies(a, s));
  const { errs, xd, wd, exact } = await passErrors(s, algos, 31, be);
  const seq = relErr(forwardF32Sequential(xd, wd, s), exact.y);
  console.log('\n  conv fp32 max rel err vs float64 direct (fwd / dgrad / wgrad):');
  console.log(`    ${'direct-seq'.padEnd(14)} ${seq.toExponential(2)} (forward only: one float32 running sum)`);
  for (const algo of algos) {
    const e = errs[algo];
    console.log(`    ${algo.padEnd(14)} ${e.y.toExponential(2)} / ${e.dx.toExponential(2)} / ${e.dw.toExponential(2)}`);
  }
  for (const algo of algos) {
    for (const k of ['y', 'dx', 'dw']) assert.ok(errs[algo][k] <= CEILING[algo], `${algo} ${k}: error ${errs[algo][k]} above ${CEILING[algo]}`);
  }
  const ratio = (a: number, b: number, r: number, what: string) => assert.ok(a <= r * b, `${what}: ${a} is more than ${r}x ${b}`);
  ratio(errs.winograd_f4x4.y, seq, 4, 'F(4x4) forward vs sequential direct');
  for (const k of ['y', 'dx', 'dw']) {
    ratio(errs.winograd_f6x6[k], errs.winograd_f4x4[k], 5, `F(6x6) vs F(4x4) ${k}`);
    ratio(errs.winograd_f2x2[k], Math.max(errs.im2col_gemm[k], 1e-7), 3, `F(2x2) vs im2col ${k}`);
  }
});

test('winograd_map2x2 error on a 2x2 map stays within 3x of im2col error', async () => {
  // VGG's last block on 32x32 input, at a smaller width: the weight differences (w2 - w1), input sums
  // (x0 + x1) and output sums add a rounding each. Measured (relaxed build): im2col 2.3e-7 / 1.7e-7 / 1.8e-7,
  // map2x2 5.5e-7 / 3.4e-7 / 3.7e-7 (fwd / dgrad / wgrad), a quarter of F(4x4)'s error on 14x14.
  const s: ConvShape = { n: 8, h: 2, w: 2, cin: 128, cout: 64, kh: 3, kw: 3, stride: 1, pad: 1 };
  const [{ backend: be }] = await backendsUnderTest();
  const { errs } = await passErrors(s, ['im2col_gemm', 'winograd_map2x2'], 41, be);
  console.log(`  2x2 map (fwd / dgrad / wgrad): im2col ${['y', 'dx', 'dw'].map((k) => errs.im2col_gemm[k].toExponential(2)).join(' / ')}, ` +
    `map2x2 ${['y', 'dx', 'dw'].map((k) => errs.winograd_map2x2[k].toExponential(2)).join(' / ')}`);
  for (const k of ['y', 'dx', 'dw']) {
    assert.ok(errs.winograd_map2x2[k] <= CEILING.winograd_map2x2, `map2x2 ${k}: error ${errs.winograd_map2x2[k]}`);
    assert.ok(errs.winograd_map2x2[k] <= 3 * Math.max(errs.im2col_gemm[k], 1e-7), `map2x2 ${k}: ${errs.winograd_map2x2[k]} vs im2col ${errs.im2col_gemm[k]}`);
  }
});

test.run();
