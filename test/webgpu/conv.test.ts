// WebGPU conv family against float64 direct convolution: im2col/col2im, every algo and pass, Winograd
// error bounds, the transform matrices themselves, workspace chunking, and bigger layers on the core adapter.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Backend, type ConvAlgo, type ConvShape, CONV_ALGOS, algoApplies, convOutSize } from '../../src/backend.js';
import { conv2dBackwardDataF64, conv2dBackwardFilterF64, conv2dForwardF64 } from '../../src/backends/reference/conv.js';
import { convTuning } from '../../src/backends/webgpu/ops/conv_dispatch.js';
import { createWebGpuBackendsForTests } from '../../src/backends/webgpu/testing.js';
import { randomArray } from '../backends.js';

type Arr = ArrayLike<number>;
let backends: { label: string; backend: Backend }[] = [];

test.before(async () => { backends = await createWebGpuBackendsForTests(); });
test.after(async () => { for (const b of backends) await b.backend.dispose(); });

/** max |a - b| / max(max |b|, 1): error relative to the output's scale. */
function relErr(a: Arr, b: Arr): number {
  let scale = 1, m = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < b.length; i++) { const d = Math.abs(a[i] - b[i]); m = d <= m ? m : Number.isNaN(d) ? Infinity : d; }
  return m / scale;
}

/** Stated bounds (relative to the output's largest magnitude) for inputs in [-1, 1). */
// Measured on 64->64 16x16 n2 (lavapipe): im2col 8.6e-7, F2 5.2e-7, F4 3.3e-6, F6 9.4e-6 (worst pass).
const BOUND: Record<ConvAlgo, number> = { im2col_gemm: 5e-6, winograd_f2x2: 5e-6, winograd_f4x4: 3e-5, winograd_f6x6: 1e-4, winograd_map2x2: 5e-6 };

function up(be: Backend, data: Float32Array) { const b = be.alloc(data.length); be.write(b, data); return b; }

interface PassErrors { fwd: number; data: number; filter: number; bias: number }

/** Runs forward (bias + ReLU), data and filter gradients (beta 1 over a prior dw, db) for one algo. */
async function runAll(be: Backend, s: ConvShape, algo: ConvAlgo, seed: number): Promise<PassErrors> {
  const { oh, ow } = convOutSize(s);
  const xs = randomArray(s.n * s.h * s.w * s.cin, seed), ws = randomArray(s.kh * s.kw * s.cin * s.cout, seed + 1);
  const bs = randomArray(s.cout, seed + 2), dys = randomArray(s.n * oh * ow * s.cout, seed + 3);
  const dw0 = randomArray(ws.length, seed + 4), db0 = randomArray(s.cout, seed + 5);
  const x = up(be, xs), w = up(be, ws), bias = up(be, bs), dy = up(be, dys), dw = up(be, dw0), db = up(be, db0);
  const y = be.alloc(dys.length), dx = be.alloc(xs.length);
  be.run('conv2d_forward', { x, w, bias, y, shape: s, algo, relu: true });
  be.run('conv2d_backward_data', { dy, w, dx, shape: s, algo });
  be.run('conv2d_backward_filter', { x, dy, dw, db, shape: s, algo, beta: 1 });
  const [yv, dxv, dwv, dbv] = [await be.read(y), await be.read(dx), await be.read(dw), await be.read(db)];
  for (const b of [x, w, bias, dy, dw, db, y, dx]) be.free(b);
  const yRef = conv2dForwardF64(xs, ws, bs, s, true);
  const dxRef = conv2dBackwardDataF64(dys, ws, s);
  const g = conv2dBackwardFilterF64(xs, dys, s);
  for (let i = 0; i < g.dw.length; i++) g.dw[i] += dw0[i];
  for (let i = 0; i < g.db.length; i++) g.db[i] += db0[i];
  return { fwd: relErr(yv, yRef), data: relErr(dxv, dxRef), filter: relErr(dwv, g.dw), bias: relErr(dbv, g.db) };
}

function check(label: string, s: ConvShape, algo: ConvAlgo, e: PassErrors, bound = BOUND[algo]): void {
  const where = `${label} ${algo} ${JSON.stringify(s)}`;
  assert.ok(e.fwd <= bound, `${where}: forward error ${e.fwd} > ${bound}`);
  assert.ok(e.data <= bound, `${where}: data-gradient error ${e.data} > ${bound}`);
  assert.ok(e.filter <= bound, `${where}: filter-gradient error ${e.filter} > ${bound}`);
  assert.ok(e.bias <= 2e-6, `${where}: bias-gradient error ${e.bias}`);
}

// ---- The Winograd matrices of shaders/winograd.wgsl, read from the file and checked in float64.

function wgslMatrix(src: string, name: string): number[] {
  const m = new RegExp(`const ${name} = array<f32, \\d+>\\(([^)]*)\\)`).exec(src);
  if (!m) throw new Error(`${name} not found in winograd.wgsl`);
  return m[1].split(',').map((t) => Number(t.trim()));
}

test('winograd.wgsl matrices compute the 2-D correlation exactly (float64)', () => {
  const src = readFileSync(new URL('../../../shaders/winograd.wgsl', import.meta.url), 'utf8');
  for (const m of [2, 4, 6]) {
    const a = m + 2;
    const BT = wgslMatrix(src, `BT_F${m}`), G = wgslMatrix(src, `G_F${m}`), AT = wgslMatrix(src, `AT_F${m}`);
    assert.is(BT.length, a * a); assert.is(G.length, a * 3); assert.is(AT.length, m * a);
    const d = Array.from(randomArray(a * a, 7 + m)), g = Array.from(randomArray(9, 9 + m));
    const mul = (A: number[], B: number[], r: number, k: number, c: number, tA = false, tB = false) => {
      const out = new Array(r * c).fill(0);
      for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) for (let q = 0; q < k; q++) {
        out[i * c + j] += (tA ? A[q * r + i] : A[i * k + q]) * (tB ? B[j * k + q] : B[q * c + j]);
      }
      return out;
    };
    const U = mul(mul(G, g, a, 3, 3), G, a, 3, a, false, true);        // G g G^T
    const V = mul(mul(BT, d, a, a, a), BT, a, a, a, false, true);      // B^T d B
    const Y = mul(mul(AT, U.map((u, i) => u * V[i]), m, a, a), AT, m, a, m, false, true);
    let err = 0;
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) {
      let ref = 0;
      for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) ref += g[ky * 3 + kx] * d[(i + ky) * a + j + kx];
      err = Math.max(err, Math.abs(Y[i * m + j] - ref));
    }
    assert.ok(err < 1e-12, `F(${m}x${m},3x3) matrices are wrong: error ${err}`);
  }
});

// ---- im2col / col2im

const IM2COL_SHAPES: ConvShape[] = [
  { n: 2, h: 7, w: 6, cin: 3, cout: 1, kh: 3, kw: 3, stride: 1, pad: 1 },
  { n: 1, h: 9, w: 8, cin: 5, cout: 1, kh: 5, kw: 3, stride: 2, pad: 2 },
  { n: 2, h: 5, w: 6, cin: 8, cout: 1, kh: 3, kw: 2, stride: 2, pad: 1 }, // vec4 kernels
];

test('im2col and col2im match their definitions', async () => {
  for (const { label, backend: be } of backends) {
    for (const s of IM2COL_SHAPES) {
      const { oh, ow } = convOutSize(s);
      const K = s.kh * s.kw * s.cin, P = s.n * oh * ow;
      const xs = randomArray(s.n * s.h * s.w * s.cin, 11), cs = randomArray(P * K, 12);
      const colRef = new Float64Array(P * K), dxRef = new Float64Array(xs.length);
      for (let p = 0; p < P; p++) {
        const b = Math.floor(p / (oh * ow)), oy = Math.floor(p / ow) % oh, ox = p % ow;
        for (let ky = 0; ky < s.kh; ky++) for (let kx = 0; kx < s.kw; kx++) for (let ci = 0; ci < s.cin; ci++) {
          const iy = oy * s.stride + ky - s.pad, ix = ox * s.stride + kx - s.pad;
          if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
          const xi = ((b * s.h + iy) * s.w + ix) * s.cin + ci, c = p * K + (ky * s.kw + kx) * s.cin + ci;
          colRef[c] = xs[xi]; dxRef[xi] += cs[c];
        }
      }
      const x = up(be, xs), col = be.alloc(P * K), col2 = up(be, cs), dx = up(be, randomArray(xs.length, 13));
      be.run('im2col', { x, col, shape: s });
      be.run('col2im', { col: col2, x: dx, shape: s });
      assert.is(relErr(await be.read(col), colRef), 0, `${label} im2col ${JSON.stringify(s)}`);
      assert.ok(relErr(await be.read(dx), dxRef) < 1e-6, `${label} col2im ${JSON.stringify(s)}`);
      for (const b of [x, col, col2, dx]) be.free(b);
    }
  }
});

// ---- every algo and pass on small shapes with edge tiles, odd channel counts, pads 0..2

const SMALL: ConvShape[] = [
  { n: 2, h: 7, w: 9, cin: 5, cout: 6, kh: 3, kw: 3, stride: 1, pad: 1 },
  { n: 1, h: 8, w: 8, cin: 3, cout: 8, kh: 3, kw: 3, stride: 1, pad: 0 },
  { n: 1, h: 5, w: 11, cin: 4, cout: 3, kh: 3, kw: 3, stride: 1, pad: 2 },
  { n: 2, h: 6, w: 5, cin: 3, cout: 4, kh: 1, kw: 1, stride: 1, pad: 0 },
  { n: 1, h: 9, w: 7, cin: 2, cout: 5, kh: 5, kw: 3, stride: 2, pad: 1 },
  // 2x2 maps (winograd_map2x2 among the algos), odd channel counts.
  { n: 3, h: 2, w: 2, cin: 5, cout: 7, kh: 3, kw: 3, stride: 1, pad: 1 },
  // Long filter-gradient reductions (P = 1517, 1189) that split K into pieces plus a remainder.
  { n: 1, h: 37, w: 41, cin: 3, cout: 8, kh: 3, kw: 3, stride: 1, pad: 1 },
  { n: 1, h: 29, w: 41, cin: 4, cout: 4, kh: 1, kw: 1, stride: 1, pad: 0 },
];

test('conv2d forward, data and filter gradients: every algo on small shapes', async () => {
  for (const { label, backend: be } of backends) {
    for (const s of SMALL) {
      for (const algo of CONV_ALGOS) {
        if (!algoApplies(algo, s)) continue;
        check(label, s, algo, await runAll(be, s, algo, 21));
      }
    }
  }
});

test('workspace chunking: tiny chunks give the same results', async () => {
  const s: ConvShape = { n: 3, h: 10, w: 9, cin: 8, cout: 12, kh: 3, kw: 3, stride: 1, pad: 1 };
  try {
    convTuning.maxChunkBytes = 8 * 1024; // dozens of chunks, chunk borders inside images
    for (const { label, backend: be } of backends) {
      for (const algo of CONV_ALGOS.filter((a) => algoApplies(a, s))) check(`${label} chunked`, s, algo, await runAll(be, s, algo, 31));
    }
  } finally {
    convTuning.maxChunkBytes = undefined;
  }
});

test('split-K filter gradients (pieces, remainders, zero-padded tile blocks) give the same results', async () => {
  const s: ConvShape = { n: 2, h: 11, w: 13, cin: 5, cout: 7, kh: 3, kw: 3, stride: 1, pad: 1 };
  try {
    convTuning.minSplitK = 8; // F2: 84 tiles in 10 blocks of 9; im2col: 286 rows in 35 pieces of 8 + 6
    for (const budget of [undefined, 32 * 1024]) { // one chunk, then several chunks each split
      convTuning.maxChunkBytes = budget;
      for (const { label, backend: be } of backends) {
        for (const algo of CONV_ALGOS.filter((a) => algoApplies(a, s))) check(`${label} split budget ${budget}`, s, algo, await runAll(be, s, algo, 51));
      }
    }
  } finally {
    convTuning.minSplitK = undefined;
    convTuning.maxChunkBytes = undefined;
  }
});

test('64->64 16x16 n2 on the core adapter: errors per algo and pass', async () => {
  const core = backends.find((b) => b.label === 'webgpu-core');
  if (!core) return;
  const s: ConvShape = { n: 2, h: 16, w: 16, cin: 64, cout: 64, kh: 3, kw: 3, stride: 1, pad: 1 };
  for (const algo of CONV_ALGOS.filter((a) => algoApplies(a, s))) {
    const e = await runAll(core.backend, s, algo, 41);
    console.log(`  ${algo}: forward ${e.fwd.toExponential(2)} data ${e.data.toExponential(2)} filter ${e.filter.toExponential(2)}`);
    check('webgpu-core', s, algo, e);
  }
  // VGG's 2x2 block at a smaller width: the algorithms that apply there, winograd_map2x2 among them.
  const s2: ConvShape = { n: 8, h: 2, w: 2, cin: 128, cout: 64, kh: 3, kw: 3, stride: 1, pad: 1 };
  for (const algo of CONV_ALGOS.filter((a) => algoApplies(a, s2))) {
    const e = await runAll(core.backend, s2, algo, 43);
    console.log(`  2x2 map ${algo}: forward ${e.fwd.toExponential(2)} data ${e.data.toExponential(2)} filter ${e.filter.toExponential(2)}`);
    check('webgpu-core', s2, algo, e);
  }
});

test.run();
