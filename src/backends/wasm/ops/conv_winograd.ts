// The Winograd F(m x m, 3x3) convolution passes: forward, data gradient (forward on dy with the rotated
// filter) and filter gradient (G^T [sum over tiles V^T dM] G), tiles processed in bounded chunks.
import { type ConvAlgo, type ConvShape, convOutSize } from '../../../backend.js';
import type { WasmContext } from '../context.js';
import { splitRange } from '../pool.js';
import { convLimits, timed } from './conv_im2col.js';
import { gemmBatchedPtr } from './gemm.js';

export const WINOGRAD_TILE: Partial<Record<ConvAlgo, 2 | 4 | 6>> = { winograd_f2x2: 2, winograd_f4x4: 4, winograd_f6x6: 6 };

/** Workspace slots (conv owns 0..9). U (forward, data gradient) and dU (filter gradient) never live in the
 *  same call, so they share a slot: for 512->512 F(6x6) each is 67 MB. */
const SLOT_V = 0, SLOT_M = 1, SLOT_U = 2, SLOT_DU = 2, SLOT_SCRATCH = 3, SLOT_ROT = 4;
/** Position strides are padded by 16 floats (64 bytes) so the T*T streams of a tile do not alias in cache. */
const padStride = (elems: number) => elems + 16;
/** Per-thread scratch each transform kernel needs (tile staging; see assembly/winograd_gen.ts). */
const SCRATCH_BYTES = 4096;

/** Geometry of one Winograd convolution: an input image (h x w x cin) read at offset -pad, an output image
 *  (oh x ow x cout) covered by m x m tiles. */
interface Geometry { n: number; h: number; w: number; cin: number; cout: number; oh: number; ow: number; pad: number }

function scratch(ctx: WasmContext): number {
  return ctx.workspace(ctx.threads * SCRATCH_BYTES, SLOT_SCRATCH);
}

/** Split [0, count) over the threads when there is enough work, and call fn once per thread. */
function parallel(ctx: WasmContext, fn: string, count: number, work: number, args: (s: number, e: number, t: number) => number[]): void {
  const jobs = work >= 1 << 15 ? ctx.threads : 1;
  timed(fn.replace(/^winograd_f\dx\d_/, ''), () => ctx.pool.parallel(fn, splitRange(count, jobs).map(([s, e], t) => args(s, e, t))));
}

/** U[T*T][cin][cout] = G g G^T of an HWIO 3x3 filter (positions padStride(cin*cout) apart). */
function filterTransform(ctx: WasmContext, m: number, w: number, cin: number, cout: number): number {
  const t = m + 2, pos = padStride(cin * cout);
  const u = ctx.workspace(t * t * pos * 4 + 64, SLOT_U);
  const sc = scratch(ctx);
  parallel(ctx, `winograd_f${m}x${m}_filter_transform`, cin, cin * cout * t * t, (s, e, i) =>
    [w, u, cin, cout, s, e, pos, sc + i * SCRATCH_BYTES]);
  return u;
}

function tileCount(g: Geometry, m: number) {
  const tilesH = Math.ceil(g.oh / m), tilesW = Math.ceil(g.ow / m);
  return { tilesH, tilesW, tiles: g.n * tilesH * tilesW };
}

function chunkTiles(m: number, tiles: number, perTileChannels: number): number {
  const t = m + 2;
  return Math.max(1, Math.min(tiles, Math.floor(convLimits.winogradChunkBytes / (t * t * (perTileChannels + 32) * 4))));
}

/** The input transform of tiles [c0, c1) into v (laid out for that chunk), split over the threads. */
function inputTransform(ctx: WasmContext, m: number, x: number, v: number, g: Geometry, c0: number, c1: number): void {
  const { tilesH, tilesW } = tileCount(g, m);
  const sc = scratch(ctx), t = m + 2;
  parallel(ctx, `winograd_f${m}x${m}_input_transform`, c1 - c0, (c1 - c0) * g.cin * t * t, (s, e, i) =>
    [x, v, g.h, g.w, g.cin, tilesH, tilesW, g.pad, g.pad, c0 + s, c0 + e, c0, padStride((c1 - c0) * g.cin), sc + i * SCRATCH_BYTES]);
}

/** y = Winograd conv of x with the transformed filter u (+ bias) (ReLU). */
function winogradConv(ctx: WasmContext, m: number, x: number, u: number, y: number, bias: number, relu: boolean, g: Geometry): void {
  const t = m + 2;
  const { tilesH, tilesW, tiles } = tileCount(g, m);
  const chunk = chunkTiles(m, tiles, g.cin + g.cout);
  const v = ctx.workspace(t * t * padStride(chunk * g.cin) * 4 + 64, SLOT_V);
  const mm = ctx.workspace(t * t * padStride(chunk * g.cout) * 4 + 64, SLOT_M);
  const sc = scratch(ctx);
  const flags = (bias ? 1 : 0) | (relu ? 2 : 0);
  for (let c0 = 0; c0 < tiles; c0 += chunk) {
    const c1 = Math.min(tiles, c0 + chunk), cnt = c1 - c0;
    inputTransform(ctx, m, x, v, g, c0, c1);
    timed('gemm', () => gemmBatchedPtr(ctx, {
      a: v, b: u, c: mm, m: cnt, n: g.cout, k: g.cin, lda: g.cin, ldb: g.cout, ldc: g.cout,
      transA: false, transB: false, alpha: 1, beta: 0,
      batch: t * t, strideA: padStride(cnt * g.cin), strideB: padStride(g.cin * g.cout), strideC: padStride(cnt * g.cout),
    }));
    parallel(ctx, `winograd_f${m}x${m}_output_transform`, cnt, cnt * g.cout * t * t, (s, e, i) =>
      [mm, y, bias, g.oh, g.ow, g.cout, tilesH, tilesW, c0 + s, c0 + e, c0, padStride(cnt * g.cout), flags, sc + i * SCRATCH_BYTES]);
  }
}

export function forwardWinograd(ctx: WasmContext, algo: ConvAlgo, x: number, w: number, bias: number, y: number,
  s: ConvShape, relu: boolean): void {
  const m = WINOGRAD_TILE[algo]!;
  const { oh, ow } = convOutSize(s);
  const u = filterTransform(ctx, m, w, s.cin, s.cout);
  winogradConv(ctx, m, x, u, y, bias, relu, { n: s.n, h: s.h, w: s.w, cin: s.cin, cout: s.cout, oh, ow, pad: s.pad });
}

/** dx = conv(dy, rotate180(w) with in/out swapped, pad 2 - pad): a forward Winograd conv from cout to cin
 *  channels. A pad above 2 becomes a negative pad, which the input transform reads as cropping. */
export function backwardDataWinograd(ctx: WasmContext, algo: ConvAlgo, dy: number, w: number, dx: number, s: ConvShape): void {
  const m = WINOGRAD_TILE[algo]!;
  const { oh, ow } = convOutSize(s);
  const wr = ctx.workspace(9 * s.cin * s.cout * 4 + 64, SLOT_ROT);
  parallel(ctx, 'winograd_rotate_filter_3x3', s.cin, 9 * s.cin * s.cout, (a, b) => [w, wr, s.cin, s.cout, a, b]);
  const u = filterTransform(ctx, m, wr, s.cout, s.cin);
  winogradConv(ctx, m, dy, u, dx, 0, false, { n: s.n, h: oh, w: ow, cin: s.cout, cout: s.cin, oh: s.h, ow: s.w, pad: 2 - s.pad });
}

/** dw = beta*dw + G^T [sum over tiles V^T dM] G, with V = B^T x B and dM = A dY A^T per tile; the sum over
 *  tiles is one batched GEMM per chunk (position-wise), accumulated with beta 1 after the first chunk. */
export function backwardFilterWinograd(ctx: WasmContext, algo: ConvAlgo, x: number, dy: number, dw: number, s: ConvShape, beta: number): void {
  const m = WINOGRAD_TILE[algo]!, t = m + 2;
  const { oh, ow } = convOutSize(s);
  const g: Geometry = { n: s.n, h: s.h, w: s.w, cin: s.cin, cout: s.cout, oh, ow, pad: s.pad };
  const { tilesH, tilesW, tiles } = tileCount(g, m);
  const chunk = chunkTiles(m, tiles, s.cin + s.cout);
  const v = ctx.workspace(t * t * padStride(chunk * s.cin) * 4 + 64, SLOT_V);
  const dm = ctx.workspace(t * t * padStride(chunk * s.cout) * 4 + 64, SLOT_M);
  const du = ctx.workspace(t * t * padStride(s.cin * s.cout) * 4 + 64, SLOT_DU);
  const sc = scratch(ctx);
  for (let c0 = 0; c0 < tiles; c0 += chunk) {
    const c1 = Math.min(tiles, c0 + chunk), cnt = c1 - c0;
    inputTransform(ctx, m, x, v, g, c0, c1);
    parallel(ctx, `winograd_f${m}x${m}_output_adjoint`, cnt, cnt * s.cout * t * t, (a, b, i) =>
      [dy, dm, oh, ow, s.cout, tilesH, tilesW, c0 + a, c0 + b, c0, padStride(cnt * s.cout), sc + i * SCRATCH_BYTES]);
    timed('gemm', () => gemmBatchedPtr(ctx, {
      a: v, b: dm, c: du, m: s.cin, n: s.cout, k: cnt, lda: s.cin, ldb: s.cout, ldc: s.cout,
      transA: true, transB: false, alpha: 1, beta: c0 === 0 ? 0 : 1,
      batch: t * t, strideA: padStride(cnt * s.cin), strideB: padStride(cnt * s.cout), strideC: padStride(s.cin * s.cout),
    }));
  }
  parallel(ctx, `winograd_f${m}x${m}_filter_adjoint`, s.cin, s.cin * s.cout * t * t, (a, b, i) =>
    [du, dw, s.cin, s.cout, a, b, padStride(s.cin * s.cout), beta, sc + i * SCRATCH_BYTES]);
}
