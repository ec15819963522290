// WebGPU operators of the conv family: im2col, col2im and conv2d forward / data gradient / filter gradient
// for every algorithm (im2col + GEMM, Winograd F(2x2), F(4x4), F(6x6) with per-position batched GEMMs, and
// winograd_map2x2 in conv_map2x2.ts).
//
// Large layers are processed in chunks of output rows (im2col) or tiles (Winograd) so that every scratch
// matrix fits one storage binding (maxStorageBufferBindingSize) and every dispatch fits the workgroup
// limits; chunks reuse the same workspaces, so a steady training step creates no buffers.
// Workspace slots 0..5 of the context are this family's.
import { type Buf, type ConvAlgo, type ConvShape, type KernelArgs, convOutSize } from '../../../backend.js';
import type { WebGpuContext, WebGpuOpTable } from '../context.js';
import {
  type TileGrid, checkBindable, chunkBudget, col2imChunk, columnSums, dyTransform, filterGradTransform, filterTransform,
  im2colChunk, inputTransform, outputTransform, splitPieces, sumSlices, tileGrid,
} from './conv_dispatch.js';
import { convGemm, convGemmTN } from './conv_gemm.js';
import { backwardDataMap2x2, backwardFilterMap2x2, forwardMap2x2 } from './conv_map2x2.js';

const SLOT_COL = 0, SLOT_U = 1, SLOT_V = 2, SLOT_M = 3, SLOT_SUM = 4, SLOT_SPLIT = 5;

function tileSize(algo: ConvAlgo): number {
  return algo === 'winograd_f2x2' ? 2 : algo === 'winograd_f4x4' ? 4 : 6;
}

/** Rows per chunk so that `rowElems` floats per row fit the budget. */
function rowsPerChunk(ctx: WebGpuContext, rowElems: number, total: number): number {
  const rows = Math.floor(chunkBudget(ctx) / (4 * rowElems));
  if (rows < 1) throw new Error(`vggrt webgpu conv: one row of ${rowElems} elements exceeds the chunk budget`);
  return Math.min(rows, total);
}

function checkTensors(ctx: WebGpuContext, kernel: string, s: ConvShape): { oh: number; ow: number } {
  const { oh, ow } = convOutSize(s);
  checkBindable(ctx, kernel, 'x', s.n * s.h * s.w * s.cin);
  checkBindable(ctx, kernel, 'y', s.n * oh * ow * s.cout);
  checkBindable(ctx, kernel, 'w', s.kh * s.kw * s.cin * s.cout);
  return { oh, ow };
}

/** A 1x1 stride-1 unpadded convolution is a plain GEMM on the activations: no im2col needed. */
function isPointwise(s: ConvShape): boolean {
  return s.kh === 1 && s.kw === 1 && s.stride === 1 && s.pad === 0;
}

// ---------------------------------------------------------------- im2col + GEMM

function forwardIm2col(ctx: WebGpuContext, a: KernelArgs['conv2d_forward'], oh: number, ow: number): void {
  const s = a.shape, P = s.n * oh * ow, K = s.kh * s.kw * s.cin;
  if (isPointwise(s)) {
    convGemm(ctx, { a: a.x, b: a.w, c: a.y, m: P, n: s.cout, k: K, bias: a.bias, relu: a.relu });
    return;
  }
  const chunk = rowsPerChunk(ctx, K, P);
  const col = ctx.workspace(chunk * K * 4, SLOT_COL);
  for (let r0 = 0; r0 < P; r0 += chunk) {
    const rows = Math.min(chunk, P - r0);
    im2colChunk(ctx, a.x, col, s, oh, ow, r0, rows);
    convGemm(ctx, { a: col, b: a.w, c: a.y, offsetC: r0 * s.cout, m: rows, n: s.cout, k: K, bias: a.bias, relu: a.relu });
  }
}

function backwardDataIm2col(ctx: WebGpuContext, a: KernelArgs['conv2d_backward_data'], oh: number, ow: number): void {
  const s = a.shape, P = s.n * oh * ow, K = s.kh * s.kw * s.cin;
  if (isPointwise(s)) { // dx = dy W^T, W stored [cin, cout]
    convGemm(ctx, { a: a.dy, b: a.w, c: a.dx, m: P, n: K, k: s.cout, transB: true });
    return;
  }
  const chunk = rowsPerChunk(ctx, K, P);
  const col = ctx.workspace(chunk * K * 4, SLOT_COL);
  for (let r0 = 0; r0 < P; r0 += chunk) {
    const rows = Math.min(chunk, P - r0);
    convGemm(ctx, { a: a.dy, offsetA: r0 * s.cout, b: a.w, c: col, m: rows, n: K, k: s.cout, transB: true });
    col2imChunk(ctx, col, a.dx, s, oh, ow, r0, rows);
  }
}

function backwardFilterIm2col(ctx: WebGpuContext, a: KernelArgs['conv2d_backward_filter'], oh: number, ow: number): void {
  const s = a.shape, P = s.n * oh * ow, K = s.kh * s.kw * s.cin;
  if (isPointwise(s)) {
    convGemmTN(ctx, { a: a.x, offsetA: 0, b: a.dy, offsetB: 0, c: a.dw, m: K, n: s.cout, k: P, beta: a.beta }, SLOT_SPLIT);
    return;
  }
  const chunk = rowsPerChunk(ctx, K, P);
  const col = ctx.workspace(chunk * K * 4, SLOT_COL);
  for (let r0 = 0; r0 < P; r0 += chunk) {
    const rows = Math.min(chunk, P - r0);
    im2colChunk(ctx, a.x, col, s, oh, ow, r0, rows);
    convGemmTN(ctx, { a: col, offsetA: 0, b: a.dy, offsetB: r0 * s.cout, c: a.dw, m: K, n: s.cout, k: rows,
      beta: r0 === 0 ? a.beta : 1 }, SLOT_SPLIT);
  }
}

// ---------------------------------------------------------------- Winograd

/** Tiles per chunk so that the [alpha^2][tiles][channels] scratch matrices fit the budget. */
function tilesPerChunk(ctx: WebGpuContext, g: TileGrid, channels: number): number {
  const alpha = g.m + 2;
  return rowsPerChunk(ctx, alpha * alpha * channels, g.tiles);
}

/** Winograd convolution of x (n, h, w, cin) with a prepared U, producing y (n, oh, ow, cout). Shared by the
 *  forward pass and the data gradient (which convolves dy with the flipped filter). */
function winogradConv(ctx: WebGpuContext, m: number, x: Buf, u: GPUBuffer, y: Buf, bias: Buf | undefined, relu: boolean,
  n: number, h: number, w: number, cin: number, cout: number, pad: number, oh: number, ow: number): void {
  const g = tileGrid(m, n, oh, ow);
  const alpha2 = (m + 2) * (m + 2);
  const tc = tilesPerChunk(ctx, g, Math.max(cin, cout));
  const v = ctx.workspace(alpha2 * tc * cin * 4, SLOT_V);
  const mm = ctx.workspace(alpha2 * tc * cout * 4, SLOT_M);
  for (let t0 = 0; t0 < g.tiles; t0 += tc) {
    const cnt = Math.min(tc, g.tiles - t0);
    inputTransform(ctx, g, x, v, n, h, w, cin, pad, t0, cnt);
    // Mm[pos] = V[pos] (cnt x cin) x U[pos] (cin x cout), one GEMM per transformed position.
    convGemm(ctx, { a: v, b: u, c: mm, m: cnt, n: cout, k: cin, batch: alpha2,
      strideA: cnt * cin, strideB: cin * cout, strideC: cnt * cout });
    outputTransform(ctx, g, mm, bias, y, oh, ow, cout, t0, cnt, relu);
  }
}

function forwardWinograd(ctx: WebGpuContext, a: KernelArgs['conv2d_forward'], oh: number, ow: number): void {
  const s = a.shape, m = tileSize(a.algo), alpha2 = (m + 2) * (m + 2);
  checkBindable(ctx, 'conv2d_forward', 'the transformed filter', alpha2 * s.cin * s.cout);
  const u = ctx.workspace(alpha2 * s.cin * s.cout * 4, SLOT_U);
  filterTransform(ctx, m, a.w, u, s.cin, s.cout, false);
  winogradConv(ctx, m, a.x, u, a.y, a.bias, !!a.relu, s.n, s.h, s.w, s.cin, s.cout, s.pad, oh, ow);
}

function backwardDataWinograd(ctx: WebGpuContext, a: KernelArgs['conv2d_backward_data'], oh: number, ow: number): void {
  // dx = dy (padded by 2 - pad) convolved with w rotated 180 degrees, in/out channels swapped.
  const s = a.shape, m = tileSize(a.algo), alpha2 = (m + 2) * (m + 2);
  checkBindable(ctx, 'conv2d_backward_data', 'the transformed filter', alpha2 * s.cin * s.cout);
  const u = ctx.workspace(alpha2 * s.cin * s.cout * 4, SLOT_U);
  filterTransform(ctx, m, a.w, u, s.cout, s.cin, true);
  winogradConv(ctx, m, a.dy, u, a.dx, undefined, false, s.n, oh, ow, s.cout, s.cin, 2 - s.pad, s.h, s.w);
}

function backwardFilterWinograd(ctx: WebGpuContext, a: KernelArgs['conv2d_backward_filter'], oh: number, ow: number): void {
  // dg = G^T [ sum over tiles (A dY A^T) (.) (B^T d B) ] G: per position, Mw = V^T D over the tiles.
  const s = a.shape, m = tileSize(a.algo), alpha2 = (m + 2) * (m + 2), plane = alpha2 * s.cin * s.cout;
  const g = tileGrid(m, s.n, oh, ow);
  checkBindable(ctx, 'conv2d_backward_filter', 'the transformed filter gradient', plane);
  let tc = tilesPerChunk(ctx, g, Math.max(s.cin, s.cout));
  // The alpha^2 GEMMs have small cin x cout outputs and a long sum over tiles: split each chunk's tiles
  // into `pieces` independent GEMMs (split-K) when that output alone would leave the GPU idle.
  const pieces = splitPieces(ctx, alpha2 * Math.ceil(s.cin / 64) * Math.ceil(s.cout / 64), tc, 4 * plane);
  if (pieces > 1) tc = Math.max(pieces, Math.floor(tc / pieces) * pieces); // padded sub-blocks fit the chunk
  const mw = ctx.workspace(plane * 4, SLOT_U);
  const part = pieces > 1 ? ctx.workspace(pieces * plane * 4, SLOT_SPLIT) : mw;
  const v = ctx.workspace(alpha2 * tc * s.cin * 4, SLOT_V);
  const d = ctx.workspace(alpha2 * tc * s.cout * 4, SLOT_M);
  for (let t0 = 0; t0 < g.tiles; t0 += tc) {
    const cnt = Math.min(tc, g.tiles - t0);
    const split = pieces > 1 ? { sub: Math.ceil(cnt / pieces), pieces } : undefined;
    const k = split ? split.sub : cnt;
    inputTransform(ctx, g, a.x, v, s.n, s.h, s.w, s.cin, s.pad, t0, cnt, split);
    dyTransform(ctx, g, a.dy, d, oh, ow, s.cout, t0, cnt, split);
    convGemm(ctx, { a: v, transA: true, b: d, c: part, m: s.cin, n: s.cout, k, beta: split || t0 === 0 ? 0 : 1,
      batch: alpha2 * pieces, strideA: k * s.cin, strideB: k * s.cout, strideC: s.cin * s.cout });
    if (split) sumSlices(ctx, part, mw, pieces, plane, t0 === 0 ? 0 : 1);
  }
  filterGradTransform(ctx, m, mw, a.dw, s.cin, s.cout, a.beta);
}

// ---------------------------------------------------------------- operator table

export const convOps: WebGpuOpTable = {
  im2col(ctx, a) {
    const s = a.shape, { oh, ow } = convOutSize(s), P = s.n * oh * ow, K = s.kh * s.kw * s.cin;
    checkBindable(ctx, 'im2col', 'x', s.n * s.h * s.w * s.cin);
    checkBindable(ctx, 'im2col', 'col', P * K);
    im2colChunk(ctx, a.x, a.col, s, oh, ow, 0, P);
  },
  col2im(ctx, a) {
    const s = a.shape, { oh, ow } = convOutSize(s), P = s.n * oh * ow, K = s.kh * s.kw * s.cin;
    checkBindable(ctx, 'col2im', 'x', s.n * s.h * s.w * s.cin);
    checkBindable(ctx, 'col2im', 'col', P * K);
    col2imChunk(ctx, a.col, a.x, s, oh, ow, 0, P);
  },
  conv2d_forward(ctx, a) {
    const { oh, ow } = checkTensors(ctx, 'conv2d_forward', a.shape);
    if (a.algo === 'im2col_gemm') forwardIm2col(ctx, a, oh, ow);
    else if (a.algo === 'winograd_map2x2') forwardMap2x2(ctx, a);
    else forwardWinograd(ctx, a, oh, ow);
  },
  conv2d_backward_data(ctx, a) {
    const { oh, ow } = checkTensors(ctx, 'conv2d_backward_data', a.shape);
    if (a.algo === 'im2col_gemm') backwardDataIm2col(ctx, a, oh, ow);
    else if (a.algo === 'winograd_map2x2') backwardDataMap2x2(ctx, a);
    else backwardDataWinograd(ctx, a, oh, ow);
  },
  conv2d_backward_filter(ctx, a) {
    const s = a.shape;
    const { oh, ow } = checkTensors(ctx, 'conv2d_backward_filter', s);
    if (a.algo === 'im2col_gemm') backwardFilterIm2col(ctx, a, oh, ow);
    else if (a.algo === 'winograd_map2x2') backwardFilterMap2x2(ctx, a);
    else backwardFilterWinograd(ctx, a, oh, ow);
    if (a.db) columnSums(ctx, a.dy, a.db, s.n * oh * ow, s.cout, a.beta, SLOT_SUM);
  },
};
