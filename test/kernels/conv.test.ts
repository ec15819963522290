// Conv kernels on every backend against the reference: im2col, col2im, and forward / data gradient /
// filter gradient for every algorithm, over odd shapes (1x1 spatial, primes, channel tails, 7x7, stride 2).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Backend, type Buf, CONV_ALGOS, type ConvAlgo, type ConvShape, algoApplies, convOutSize } from '../../src/backend.js';
import { convLimits } from '../../src/backends/wasm/ops/conv_im2col.js';
import { map2x2Limits } from '../../src/backends/wasm/ops/conv_map2x2.js';
import { backendsUnderTest, maxRelErr, randomArray, reference, upload } from '../backends.js';

const S = (n: number, h: number, w: number, cin: number, cout: number, k: number, stride: number, pad: number, kw = k): ConvShape =>
  ({ n, h, w, cin, cout, kh: k, kw, stride, pad });

/** Shapes chosen to hit every edge: tiles that do not divide H/W, channel counts with SIMD tails, a
 *  1x1 image, pad 0/1/2/3, stride 2, 1x1 and 7x7 kernels, 2x2 maps. */
const SHAPES: ConvShape[] = [
  S(1, 5, 7, 3, 5, 3, 1, 1),
  S(2, 7, 5, 17, 4, 3, 1, 0),
  S(1, 1, 1, 5, 3, 3, 1, 1),
  S(2, 11, 13, 1, 17, 3, 1, 2),
  S(1, 8, 8, 64, 64, 3, 1, 1),
  S(1, 13, 9, 5, 8, 3, 1, 3),
  S(2, 9, 8, 5, 6, 3, 2, 1),
  S(2, 5, 3, 17, 5, 1, 1, 0),
  S(1, 7, 6, 3, 4, 1, 2, 0),
  S(1, 9, 11, 3, 4, 7, 2, 3),
  S(1, 8, 7, 4, 3, 7, 1, 0),
  S(3, 6, 10, 8, 12, 3, 1, 1),
  S(3, 2, 2, 5, 7, 3, 1, 1), // 2x2 maps: winograd_map2x2 (channel tails; 16 channels: whole vectors)
  S(2, 2, 2, 16, 12, 3, 1, 1),
];

const label = (s: ConvShape) => `n${s.n} ${s.h}x${s.w} ${s.cin}->${s.cout} k${s.kh}x${s.kw} s${s.stride} p${s.pad}`;

/** Per-algorithm tolerance on max|diff| / max|ref| (float32 against the float64-accumulated reference).
 *  Winograd adds transform rounding that grows with the tile (measured in conv_winograd.test.ts). */
const TOL: Record<ConvAlgo, number> = { im2col_gemm: 2e-5, winograd_f2x2: 3e-5, winograd_f4x4: 1e-4, winograd_f6x6: 4e-4, winograd_map2x2: 3e-5 };

async function readAll(be: Backend, b: Buf): Promise<Float32Array> { await be.sync(); return be.read(b); }

interface Case { x: Float32Array; w: Float32Array; bias: Float32Array; dy: Float32Array; dw0: Float32Array; db0: Float32Array }
function inputs(s: ConvShape, seed: number): Case {
  const { oh, ow } = convOutSize(s);
  const fan = Math.sqrt(s.kh * s.kw * s.cin);
  return {
    x: randomArray(s.n * s.h * s.w * s.cin, seed),
    w: randomArray(s.kh * s.kw * s.cin * s.cout, seed + 1, 1 / fan),
    bias: randomArray(s.cout, seed + 2, 0.5),
    dy: randomArray(s.n * oh * ow * s.cout, seed + 3),
    dw0: randomArray(s.kh * s.kw * s.cin * s.cout, seed + 4),
    db0: randomArray(s.cout, seed + 5),
  };
}

/** Runs forward (bias+ReLU or plain), data gradient and filter gradient (beta 0 without db, beta 1 with db). */
async function runAll(be: Backend, s: ConvShape, c: Case, algo: ConvAlgo, fused: boolean) {
  const { oh, ow } = convOutSize(s);
  const x = upload(be, c.x), w = upload(be, c.w), bias = upload(be, c.bias), dy = upload(be, c.dy);
  const y = be.alloc(s.n * oh * ow * s.cout), dx = be.alloc(c.x.length);
  const dwA = be.alloc(c.w.length), dwB = upload(be, c.dw0), db = upload(be, c.db0);
  be.run('conv2d_forward', { x, w, y, shape: s, algo, ...(fused ? { bias, relu: true } : {}) });
  be.run('conv2d_backward_data', { dy, w, dx, shape: s, algo });
  be.run('conv2d_backward_filter', { x, dy, dw: dwA, shape: s, algo, beta: 0 });
  be.run('conv2d_backward_filter', { x, dy, dw: dwB, db, shape: s, algo, beta: 1 });
  const out = { y: await readAll(be, y), dx: await readAll(be, dx), dwA: await readAll(be, dwA), dwB: await readAll(be, dwB), db: await readAll(be, db) };
  for (const b of [x, w, bias, dy, y, dx, dwA, dwB, db]) be.free(b);
  return out;
}

const refCache = new Map<string, Promise<Awaited<ReturnType<typeof runAll>>>>();
function refRun(s: ConvShape, c: Case, fused: boolean) {
  const key = `${label(s)} ${fused}`;
  if (!refCache.has(key)) refCache.set(key, runAll(reference, s, c, 'im2col_gemm', fused));
  return refCache.get(key)!;
}

test('im2col and col2im match the reference on every shape', async () => {
  for (const { label: bl, backend: be } of await backendsUnderTest()) {
    for (const [i, s] of SHAPES.entries()) {
      const { oh, ow } = convOutSize(s);
      const colLen = s.n * oh * ow * s.kh * s.kw * s.cin;
      const xd = randomArray(s.n * s.h * s.w * s.cin, 100 + i), cd = randomArray(colLen, 200 + i);
      const got: Float32Array[] = [], want: Float32Array[] = [];
      for (const [target, out] of [[be, got], [reference, want]] as const) {
        const x = upload(target, xd), col = upload(target, randomArray(colLen, 7)), col2 = upload(target, cd);
        const dx = upload(target, randomArray(xd.length, 9));
        target.run('im2col', { x, col, shape: s });
        target.run('col2im', { col: col2, x: dx, shape: s });
        out.push(await readAll(target, col), await readAll(target, dx));
        for (const b of [x, col, col2, dx]) target.free(b);
      }
      assert.equal(Array.from(got[0]), Array.from(want[0]), `${bl} im2col ${label(s)}`);
      assert.ok(maxRelErr(got[1], want[1]) < 1e-6, `${bl} col2im ${label(s)}: ${maxRelErr(got[1], want[1])}`);
    }
  }
});

test('conv forward, data gradient and filter gradient match the reference for every algorithm', async () => {
  let checked = 0;
  for (const { label: bl, backend: be } of await backendsUnderTest()) {
    for (const [i, s] of SHAPES.entries()) {
      const c = inputs(s, 10 * i + 1);
      for (const [j, algo] of CONV_ALGOS.entries()) {
        if (!algoApplies(algo, s)) continue;
        const fused = (i + j) % 2 === 0;
        const [got, want] = [await runAll(be, s, c, algo, fused), await refRun(s, c, fused)];
        for (const k of ['y', 'dx', 'dwA', 'dwB', 'db'] as const) {
          const e = maxRelErr(got[k], want[k]);
          assert.ok(e < TOL[algo], `${bl} ${algo} ${k} ${label(s)}${fused ? ' bias+relu' : ''}: rel err ${e}`);
          checked++;
        }
      }
    }
  }
  // 14 shapes, 10 of them Winograd-capable (2 of those on 2x2 maps): (10*4 + 2 + 4) algorithm runs x 5
  // outputs per backend.
  assert.ok(checked >= 230, `only ${checked} comparisons ran`);
});

test('chunked paths (small workspace budgets) give the same results', async () => {
  const saved = { ...convLimits }, savedMap = { ...map2x2Limits };
  // A few rows of col / a few tiles per chunk: every pass runs through many chunks with overlapping pixels.
  convLimits.colChunkBytes = 7 * 9 * 8 * 4;
  convLimits.winogradChunkBytes = 3 * 64 * 20 * 4;
  // winograd_map2x2: 8-column blocks (4-row depth blocks in the forward), split over the threads however small.
  map2x2Limits.blockBytes = 1;
  map2x2Limits.forwardBlockBytes = 1;
  map2x2Limits.parallelMinMacs = 0;
  try {
    const shapes = [S(2, 9, 7, 8, 12, 3, 1, 1), S(1, 10, 9, 5, 3, 3, 2, 2), S(2, 6, 11, 3, 5, 3, 1, 0), S(3, 2, 2, 29, 19, 3, 1, 1)];
    for (const { label: bl, backend: be } of await backendsUnderTest()) {
      for (const [i, s] of shapes.entries()) {
        const c = inputs(s, 500 + i);
        for (const algo of CONV_ALGOS) {
          if (!algoApplies(algo, s)) continue;
          const [got, want] = [await runAll(be, s, c, algo, true), await refRun(s, c, true)];
          for (const k of ['y', 'dx', 'dwA', 'dwB', 'db'] as const) {
            const e = maxRelErr(got[k], want[k]);
            assert.ok(e < TOL[algo], `${bl} chunked ${algo} ${k} ${label(s)}: rel err ${e}`);
          }
        }
      }
    }
  } finally {
    Object.assign(convLimits, saved);
    Object.assign(map2x2Limits, savedMap);
  }
});

test.run();
