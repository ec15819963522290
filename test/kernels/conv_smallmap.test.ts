// The tap-skipping im2col_gemm path for tiny maps (conv_smallmap.ts): forward, data and filter gradients
// against the float64 reference on 1x1 / 2x2 maps, odd channel counts, strides and padding-only pixels/taps,
// on wasm with 1 and 2 threads (the 2-thread column split forced even on small shapes).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Backend, type ConvShape, convOutSize } from '../../src/backend.js';
import { conv2dBackwardDataF64, conv2dBackwardFilterF64, conv2dForwardF64 } from '../../src/backends/reference/conv.js';
import { smallMapApplies } from '../../src/backends/wasm/ops/conv_im2col.js';
import { smallMapLimits } from '../../src/backends/wasm/ops/conv_smallmap.js';
import { backendsUnderTest, maxRelErr, randomArray, upload } from '../backends.js';

const S = (n: number, h: number, w: number, cin: number, cout: number, k: number, stride: number, pad: number): ConvShape =>
  ({ n, h, w, cin, cout, kh: k, kw: k, stride, pad });

/** [shape, maxOutPixels to run it with]: the limit the path needs (the default, 9, covers all but the 4x4
 *  map; the tests set it explicitly so they keep covering these shapes if the default moves). */
const CASES: [ConvShape, number][] = [
  [S(3, 2, 2, 5, 7, 3, 1, 1), 4],     // VGG block 5 in miniature
  [S(3, 1, 1, 5, 7, 3, 1, 1), 4],     // 1x1 map: centre tap only
  [S(2, 1, 2, 3, 9, 3, 1, 1), 4],     // 1x2 map
  [S(5, 2, 2, 272, 264, 3, 1, 1), 4], // k = cin, cout > one 256 kc block; 264 columns split 136 + 128
  [S(2, 4, 4, 6, 5, 3, 2, 0), 4],     // stride 2: input row/column 3 read by no output (zero dx)
  [S(2, 2, 2, 4, 3, 3, 2, 1), 4],     // 1x1 output, kernel row/column 0 reads only padding (dw = beta*dw)
  [S(2, 1, 1, 3, 4, 1, 1, 1), 9],     // 1x1 kernel, pad 1: the 8 outer outputs see only padding (= bias)
  [S(2, 3, 3, 7, 9, 3, 1, 1), 9],     // 3x3 map (the default limit)
  [S(2, 4, 4, 5, 6, 3, 1, 1), 16],    // 4x4 map
];

const TOL = 2e-5; // im2col_gemm's tolerance in conv.test.ts
const label = (s: ConvShape) => `n${s.n} ${s.h}x${s.w} ${s.cin}->${s.cout} k${s.kh} s${s.stride} p${s.pad}`;

async function wasmBackends(): Promise<{ label: string; backend: Backend }[]> {
  const list = (await backendsUnderTest()).filter((b) => b.label.startsWith('wasm'));
  assert.ok(list.length >= 2, 'wasm-t1 and wasm-t2 expected');
  return list;
}

async function check(s: ConvShape, seed: number, where: string): Promise<void> {
  const { oh, ow } = convOutSize(s);
  const x = randomArray(s.n * s.h * s.w * s.cin, seed), w = randomArray(s.kh * s.kw * s.cin * s.cout, seed + 1, 0.3);
  const bias = randomArray(s.cout, seed + 2, 0.5), dy = randomArray(s.n * oh * ow * s.cout, seed + 3);
  const dw0 = randomArray(w.length, seed + 4), db0 = randomArray(s.cout, seed + 5);
  const wantDx = conv2dBackwardDataF64(dy, w, s), wantG = conv2dBackwardFilterF64(x, dy, s);
  for (const { label: bl, backend: be } of await wasmBackends()) {
    const at = `${bl} ${label(s)} ${where}`;
    const bx = upload(be, x), bw = upload(be, w), bb = upload(be, bias), bdy = upload(be, dy);
    const y = upload(be, new Float32Array(s.n * oh * ow * s.cout).fill(NaN)); // overwritten even if NaN
    for (const relu of [false, true]) {
      be.run('conv2d_forward', { x: bx, w: bw, bias: bb, y, shape: s, algo: 'im2col_gemm', relu });
      await be.sync();
      const e = maxRelErr(await be.read(y), Float32Array.from(conv2dForwardF64(x, w, bias, s, relu)));
      assert.ok(e < TOL, `${at} forward relu=${relu}: ${e}`);
    }
    const dx = upload(be, new Float32Array(x.length).fill(NaN));
    be.run('conv2d_backward_data', { dy: bdy, w: bw, dx, shape: s, algo: 'im2col_gemm' });
    await be.sync();
    const ed = maxRelErr(await be.read(dx), Float32Array.from(wantDx));
    assert.ok(ed < TOL, `${at} backward data: ${ed}`);
    for (const beta of [0, 1, 0.5]) {
      // beta 0 must overwrite whatever dw held, NaN included; taps no pixel reaches still get beta*dw.
      const dw = upload(be, beta ? dw0 : new Float32Array(w.length).fill(NaN)), db = upload(be, beta ? db0 : new Float32Array(s.cout).fill(NaN));
      be.run('conv2d_backward_filter', { x: bx, dy: bdy, dw, db, shape: s, algo: 'im2col_gemm', beta });
      await be.sync();
      const want = Float32Array.from(wantG.dw, (v, i) => v + beta * dw0[i]);
      const wantDb = Float32Array.from(wantG.db, (v, i) => v + beta * db0[i]);
      const ew = maxRelErr(await be.read(dw), want), eb = maxRelErr(await be.read(db), wantDb);
      assert.ok(ew < TOL, `${at} backward filter beta=${beta}: dw ${ew}`);
      assert.ok(eb < TOL, `${at} backward filter beta=${beta}: db ${eb}`);
      be.free(dw); be.free(db);
    }
    for (const b of [bx, bw, bb, bdy, y, dx]) be.free(b);
  }
}

test('tap-skipping path matches the reference (default split threshold)', async () => {
  const keep = { ...smallMapLimits };
  try {
    for (const [i, [s, maxPix]] of CASES.entries()) {
      smallMapLimits.maxOutPixels = maxPix;
      assert.ok(smallMapApplies(s), `${label(s)} should take the small-map path`);
      await check(s, 100 + 10 * i, 'default split');
    }
  } finally { Object.assign(smallMapLimits, keep); }
});

test('tap-skipping path matches the reference with every GEMM split over the threads, ReLU as its own pass', async () => {
  const keep = { ...smallMapLimits };
  try {
    smallMapLimits.parallelMinMacs = 0;
    smallMapLimits.fuseRelu = false;
    for (const [i, [s, maxPix]] of CASES.entries()) {
      smallMapLimits.maxOutPixels = maxPix;
      await check(s, 300 + 10 * i, 'forced split');
    }
  } finally { Object.assign(smallMapLimits, keep); }
});

test('VGG maps: 2x2 (and 1x1, 3x3) take the small-map path by default, 4x4 and pointwise convs do not', () => {
  assert.ok(smallMapApplies(S(32, 2, 2, 512, 512, 3, 1, 1)));
  assert.ok(smallMapApplies(S(32, 3, 3, 512, 512, 3, 1, 1)));
  assert.ok(smallMapApplies(S(32, 1, 1, 512, 512, 3, 1, 1)));
  assert.not.ok(smallMapApplies(S(32, 4, 4, 256, 512, 3, 1, 1)));
  assert.not.ok(smallMapApplies(S(32, 2, 2, 512, 512, 1, 1, 0)));
});

test.run();
