// The small-map path's row-table and k-table GEMMs (gemm_f32_rows_jobs, gemm_f32_ktab_jobs, their 4-row tail
// tiles): every pass against the float64 reference on both wasm builds (relaxed 6x8 and plain-SIMD 5x8 kernels),
// 1 and 2 threads, with the thread split forced on small shapes and each way of splitting the work.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Backend, type ConvShape, convOutSize } from '../../src/backend.js';
import { conv2dBackwardDataF64, conv2dBackwardFilterF64, conv2dForwardF64 } from '../../src/backends/reference/conv.js';
import { WasmBackend } from '../../src/backends/wasm/backend.js';
import { smallMapApplies } from '../../src/backends/wasm/ops/conv_im2col.js';
import { smallMapLimits } from '../../src/backends/wasm/ops/conv_smallmap.js';
import type { WasmContext } from '../../src/backends/wasm/context.js';
import { gemmBlocks, gemmMr } from '../../src/backends/wasm/ops/gemm.js';
import { maxRelErr, randomArray, upload } from '../backends.js';

const S = (n: number, h: number, w: number, cin: number, cout: number, k: number, stride: number, pad: number): ConvShape =>
  ({ n, h, w, cin, cout, kh: k, kw: k, stride, pad });

/** Rows per tap GEMM on a 2x2 map are n (corner taps), 2n (edge taps) and 4n (centre): n = 8 makes them 8, 16
 *  and 32 (all 4-row tails: 8 = 2*4, 16 = 6 + 2*4, 32 = 4*6 + 2*4), n = 7 odd rows (partial 6-row tiles), n = 5
 *  with the plain build's 5-row tiles both ways. cout 12 and 20 leave a 4-column sliver (packed, not read in
 *  place); cin 18 and 13 are not multiples of 4 (scalar pack tails). */
const CASES: ConvShape[] = [
  S(8, 2, 2, 16, 24, 3, 1, 1),
  S(7, 2, 2, 18, 12, 3, 1, 1),
  S(5, 2, 2, 13, 20, 3, 1, 1),
  S(4, 3, 3, 9, 16, 3, 1, 1),  // 3x3 map: taps with 4, 6 and 9 pixels per image
  S(3, 1, 1, 8, 9, 3, 1, 1),   // 1x1 map: one tap; the filter gradient's other 8 taps are beta*dw
  S(6, 4, 4, 5, 11, 3, 2, 0),  // stride 2: input pixels no output reads (zero dx)
];
const TOL = 2e-5; // im2col_gemm's tolerance in conv.test.ts
const label = (s: ConvShape) => `n${s.n} ${s.h}x${s.w} ${s.cin}->${s.cout} s${s.stride} p${s.pad}`;

let backends: Promise<{ label: string; backend: Backend }[]> | undefined;
function wasmBoth(): Promise<{ label: string; backend: Backend }[]> {
  backends ??= (async () => {
    const list = [];
    for (const build of ['relaxed', 'simd'] as const) {
      for (const threads of [1, 2]) list.push({ label: `wasm-${build}-t${threads}`, backend: await WasmBackend.create({ threads, build, memoryMiB: 64 }) });
    }
    return list;
  })();
  return backends;
}

async function check(s: ConvShape, seed: number, where: string): Promise<void> {
  const { oh, ow } = convOutSize(s);
  const x = randomArray(s.n * s.h * s.w * s.cin, seed), w = randomArray(s.kh * s.kw * s.cin * s.cout, seed + 1, 0.3);
  const bias = randomArray(s.cout, seed + 2, 0.5), dy = randomArray(s.n * oh * ow * s.cout, seed + 3);
  const dw0 = randomArray(w.length, seed + 4);
  const wantY = [false, true].map((relu) => Float32Array.from(conv2dForwardF64(x, w, bias, s, relu)));
  const wantDx = Float32Array.from(conv2dBackwardDataF64(dy, w, s)), wantG = conv2dBackwardFilterF64(x, dy, s);
  for (const { label: bl, backend: be } of await wasmBoth()) {
    const at = `${bl} ${label(s)} ${where}`;
    const bx = upload(be, x), bw = upload(be, w), bb = upload(be, bias), bdy = upload(be, dy);
    const y = upload(be, new Float32Array(s.n * oh * ow * s.cout).fill(NaN));
    for (const relu of [false, true]) {
      be.run('conv2d_forward', { x: bx, w: bw, bias: bb, y, shape: s, algo: 'im2col_gemm', relu });
      const e = maxRelErr(await be.read(y), wantY[relu ? 1 : 0]);
      assert.ok(e < TOL, `${at} forward relu=${relu}: ${e}`);
    }
    const dx = upload(be, new Float32Array(x.length).fill(NaN));
    be.run('conv2d_backward_data', { dy: bdy, w: bw, dx, shape: s, algo: 'im2col_gemm' });
    const ed = maxRelErr(await be.read(dx), wantDx);
    assert.ok(ed < TOL, `${at} backward data: ${ed}`);
    for (const beta of [0, 0.5]) {
      const dw = upload(be, beta ? dw0 : new Float32Array(w.length).fill(NaN)), db = upload(be, new Float32Array(s.cout));
      be.run('conv2d_backward_filter', { x: bx, dy: bdy, dw, db, shape: s, algo: 'im2col_gemm', beta });
      const ew = maxRelErr(await be.read(dw), Float32Array.from(wantG.dw, (v, i) => v + beta * dw0[i]));
      assert.ok(ew < TOL, `${at} backward filter beta=${beta}: ${ew}`);
      be.free(dw); be.free(db);
    }
    for (const b of [bx, bw, bb, bdy, y, dx]) be.free(b);
  }
}

/** Runs every case with smallMapLimits changed by `opts` (restored afterwards). */
async function withLimits(opts: Partial<typeof smallMapLimits>, where: string, seed: number): Promise<void> {
  const keep = { ...smallMapLimits };
  try {
    Object.assign(smallMapLimits, { maxOutPixels: 9 }, opts);
    for (const [i, s] of CASES.entries()) {
      assert.ok(smallMapApplies(s), `${label(s)} should take the small-map path`);
      await check(s, seed + 10 * i, where);
    }
  } finally { Object.assign(smallMapLimits, keep); }
}

test('row-table and k-table GEMMs match the reference (default limits: small shapes on one thread)', async () => {
  await withLimits({}, 'default', 500);
});

test('... with every pass split over the threads (columns; filter gradient by whole taps when they balance)', async () => {
  await withLimits({ parallelMinMacs: 0 }, 'forced split', 600);
});

test('... with the filter gradient split by columns, ReLU as its own pass', async () => {
  await withLimits({ parallelMinMacs: 0, filterSplit: 'cols', fuseRelu: false }, 'column split', 700);
});

test('gemm_f32_bdirect (B read in place, 4-row tails) equals gemm_f32 bit for bit and writes no row past m', async () => {
  const SHAPES: [number, number, number][] = [[1, 8, 1], [4, 13, 5], [8, 24, 300], [13, 20, 7], [32, 64, 33], [37, 9, 64], [64, 40, 16], [150, 17, 260]];
  let seed = 900;
  for (const { label: bl, backend } of await wasmBoth()) {
    const wb = backend as WasmBackend, ctx = (wb as unknown as { ctx: WasmContext }).ctx, mr = gemmMr(ctx);
    for (const [m, n, k] of SHAPES) {
      for (const transA of [0, 1]) {
        for (const [beta, bias, relu] of [[0, false, 0], [1, true, 1], [0.5, false, 0]] as const) {
          seed += 7;
          const lda = (transA ? m : k) + 1, ldb = n + 3, ldc = n + 2;
          const a = upload(wb, randomArray((transA ? k : m) * lda, seed)), b = upload(wb, randomArray(k * ldb, seed + 1));
          // 6 guard rows after C: an edge tile of fewer rows than the kernel's must not store the others.
          const c0 = randomArray((m + 6) * ldc, seed + 2), bb = upload(wb, randomArray(n, seed + 3));
          const c1 = upload(wb, c0), c2 = upload(wb, c0);
          const bl2 = gemmBlocks(m, n, k, mr), ws = ctx.workspace(bl2.bytes, 10);
          const args = (c: number) => [ctx.ptr(a), ctx.ptr(b), c, m, n, k, lda, ldb, ldc, transA, 0, 1, beta, bias ? ctx.ptr(bb) : 0, relu,
            ws, bl2.mcb, bl2.kcb, bl2.ncb, bl2.mr];
          ctx.pool.call('gemm_f32', ...args(ctx.ptr(c1)));
          ctx.pool.call('gemm_f32_bdirect', ...args(ctx.ptr(c2)));
          const want = await wb.read(c1), got = await wb.read(c2);
          const same = want.every((v, i) => Object.is(v, got[i]));
          assert.ok(same, `${bl} ${m}x${n}x${k} transA=${transA} beta=${beta}: gemm_f32_bdirect differs from gemm_f32`);
          for (const [name, out] of [['gemm_f32', want], ['gemm_f32_bdirect', got]] as const) {
            const guard = out.subarray(m * ldc).every((v, i) => Object.is(v, c0[m * ldc + i]));
            assert.ok(guard, `${bl} ${m}x${n}x${k} transA=${transA}: ${name} wrote past row ${m}`);
          }
          for (const x of [a, b, bb, c1, c2]) wb.free(x);
        }
      }
    }
  }
});

test.run();
