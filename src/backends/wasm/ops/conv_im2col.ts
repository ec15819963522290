// The im2col + GEMM convolution passes over raw pointers: forward, data gradient (col2im) and filter gradient.
// Big layers go through the col workspace in row chunks so it stays bounded (64->64 224x224 batch 4 would
// need a 460 MB col matrix at once).
import { type ConvShape, convOutSize } from '../../../backend.js';
import type { WasmContext } from '../context.js';
import { splitRange } from '../pool.js';
import { backwardDataSmallMap, backwardFilterSmallMap, forwardSmallMap, smallMapLimits } from './conv_smallmap.js';
import { gemmPtr } from './gemm.js';

/** Workspace budgets of the conv passes. colChunkBytes: col matrix bytes one chunk may hold (16 MiB keeps
 *  the chunk GEMMs large, thousands of rows, while the workspace stays small next to the activations).
 *  winogradChunkBytes: the V and M tile workspaces of one chunk together; winogradFusedBytes: the same for
 *  one thread's chunk in the fused Winograd passes, 2 MB, the L2 of one core of this project's current machines.
 *  Measured there against 4 MB (knob alternated per round in one process, 9 rounds, calls cold after a 64 MB flush
 *  and warm, two sessions): 64->64 224x224 F(6x6) forward 2 threads 43.1 against 44.9-45.6 ms warm, 1 thread 84.6-85.8
 *  against 89.2; 64->128 16x16 F(4x4) filter gradient 2 threads 4.26-4.44 against 4.35-4.53 warm, 4.64-5.05 against
 *  5.17-5.35 cold; 112x112 F(4x4) forward and filter gradient and the 64->128 forward level (within 2%); 1.5 and 3 MB
 *  in between or level. On the machines of earlier sessions (1 MB of L2) 4 MB had been the faster: 224x224 forward
 *  47.4 ms against 49.6 at 2 MB, filter gradient 56.3 against 62.8, 8 MB and 1 MB slower. winogradFusedFilterBytes:
 *  the largest transformed filter the fused passes take (see fusedChunk). Tests lower them to exercise the chunked
 *  paths on small shapes. */
export const convLimits = { colChunkBytes: 16 << 20, winogradChunkBytes: 24 << 20, winogradFusedBytes: 2 << 20,
  winogradFusedFilterBytes: 2.5 * (1 << 20) };
/** Conv workspace slots (0..9 belong to conv). */
export const SLOT_COL = 0;

/** Milliseconds per phase (im2col, col2im, transforms, GEMM) summed over calls while `enabled`: the conv
 *  bench records it so a slow row shows where its time goes. */
export const convPhases = { enabled: false, ms: {} as Record<string, number> };
export function timed<T>(phase: string, fn: () => T): T {
  if (!convPhases.enabled) return fn();
  const t0 = performance.now();
  const r = fn();
  convPhases.ms[phase] = (convPhases.ms[phase] ?? 0) + performance.now() - t0;
  return r;
}

/** A 1x1, stride-1, unpadded conv is a plain GEMM on x: no col matrix needed. */
export function isPointwise(s: ConvShape): boolean {
  return s.kh === 1 && s.kw === 1 && s.stride === 1 && s.pad === 0;
}

/** Tiny output maps (VGG's 2x2 block) skip im2col's all-padding columns: GEMMs over the valid taps only
 *  (conv_smallmap.ts). Pointwise convs have no padding to skip. Measured (batch 32, 3x3 pad 1, 1 and 2
 *  threads, against this file's col path): 2x2 512->512 1.9-2.1x faster, 3x3 512->512 1.4x, 4x4 256->512 only
 *  1.1-1.2x with worse 2-thread scaling (1.7x; every tap W is packed once per image row or pixel there, and
 *  Winograd F(4x4) is 1.9x faster anyway), so the default limit is 3x3 = 9 output pixels. */
export function smallMapApplies(s: ConvShape): boolean {
  const { oh, ow } = convOutSize(s);
  return !isPointwise(s) && oh * ow <= smallMapLimits.maxOutPixels;
}

function rowsPerChunk(s: ConvShape, rows: number): number {
  const k = s.kh * s.kw * s.cin;
  return Math.max(1, Math.min(rows, Math.floor(convLimits.colChunkBytes / (k * 4))));
}

/** Fill `bytes` at p with zeros, split over the threads. */
export function zeroBytes(ctx: WasmContext, p: number, bytes: number): void {
  const words = bytes / 4;
  const jobs = bytes >= 1 << 20 ? ctx.threads : 1;
  timed('zero', () => ctx.pool.parallel('im2col_zero_f32', splitRange(words, jobs, 16).map(([s, e]) => [p + s * 4, (e - s) * 4])));
}

/** im2col of output rows [r0, r1) into col (row r0 at col), split over the threads. */
function im2colRows(ctx: WasmContext, x: number, col: number, s: ConvShape, r0: number, r1: number): void {
  const { oh, ow } = convOutSize(s);
  const k = s.kh * s.kw * s.cin;
  const jobs = (r1 - r0) * k >= 1 << 14 ? ctx.threads : 1;
  timed('im2col', () => ctx.pool.parallel('im2col_f32_nhwc', splitRange(r1 - r0, jobs).map(([a, b]) =>
    [x, col + a * k * 4, s.h, s.w, s.cin, s.kh, s.kw, s.stride, s.pad, oh, ow, r0 + a, r0 + b])));
}

/** x[p] (+)= contributions of col rows [r0, r1) for input pixels [p0, p1), split over pixels (no write races). */
function col2imPixels(ctx: WasmContext, col: number, x: number, s: ConvShape, r0: number, r1: number,
  p0: number, p1: number, accumulate: boolean): void {
  const { oh, ow } = convOutSize(s);
  const jobs = (p1 - p0) * s.cin * s.kh * s.kw >= 1 << 14 ? ctx.threads : 1;
  timed('col2im', () => ctx.pool.parallel('im2col_col2im_f32_nhwc', splitRange(p1 - p0, jobs).map(([a, b]) =>
    [col, x, s.h, s.w, s.cin, s.kh, s.kw, s.stride, s.pad, oh, ow, r0, r1, p0 + a, p0 + b, accumulate ? 1 : 0])));
}

/** The kernel 'im2col': the whole col matrix, rows split over the threads. */
export function im2colAll(ctx: WasmContext, x: number, col: number, s: ConvShape): void {
  const { oh, ow } = convOutSize(s);
  im2colRows(ctx, x, col, s, 0, s.n * oh * ow);
}

/** The kernel 'col2im': dx overwritten with the adjoint of im2col. */
export function col2imAll(ctx: WasmContext, col: number, x: number, s: ConvShape): void {
  const { oh, ow } = convOutSize(s);
  col2imPixels(ctx, col, x, s, 0, s.n * oh * ow, 0, s.n * s.h * s.w, false);
}

/** y = im2col(x) W (+ bias) (ReLU), bias and ReLU fused into the GEMM epilogue. */
export function forwardIm2col(ctx: WasmContext, x: number, w: number, bias: number, y: number, s: ConvShape, relu: boolean): void {
  const { oh, ow } = convOutSize(s);
  const rows = s.n * oh * ow, k = s.kh * s.kw * s.cin;
  const gemm = (a: number, r0: number, r1: number) => timed('gemm', () => gemmPtr(ctx, {
    a, b: w, c: y + r0 * s.cout * 4, m: r1 - r0, n: s.cout, k, lda: k, ldb: s.cout, ldc: s.cout,
    transA: false, transB: false, alpha: 1, beta: 0, bias, relu,
  }));
  if (isPointwise(s)) { gemm(x, 0, rows); return; }
  if (smallMapApplies(s)) { timed('gemm', () => forwardSmallMap(ctx, x, w, bias, y, s, relu)); return; }
  const chunk = rowsPerChunk(s, rows);
  const col = ctx.workspace(chunk * k * 4 + 64, SLOT_COL);
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const r1 = Math.min(rows, r0 + chunk);
    im2colRows(ctx, x, col, s, r0, r1);
    gemm(col, r0, r1);
  }
}

/** Input pixels [p0, p1) that output rows [r0, r1) read (a superset; col2im checks each contribution). */
function pixelsOfRows(s: ConvShape, r0: number, r1: number): [number, number] {
  const { oh, ow } = convOutSize(s);
  const img = oh * ow;
  const b0 = Math.floor(r0 / img), oy0 = Math.floor((r0 % img) / ow);
  const b1 = Math.floor((r1 - 1) / img), oy1 = Math.floor(((r1 - 1) % img) / ow);
  const iy0 = Math.min(s.h - 1, Math.max(0, oy0 * s.stride - s.pad));
  const iy1 = Math.min(s.h - 1, Math.max(0, oy1 * s.stride - s.pad + s.kh - 1));
  return [(b0 * s.h + iy0) * s.w, (b1 * s.h + iy1 + 1) * s.w];
}

/** dx = col2im(dY W^T). */
export function backwardDataIm2col(ctx: WasmContext, dy: number, w: number, dx: number, s: ConvShape): void {
  const { oh, ow } = convOutSize(s);
  const rows = s.n * oh * ow, k = s.kh * s.kw * s.cin;
  const gemm = (c: number, r0: number, r1: number) => timed('gemm', () => gemmPtr(ctx, {
    a: dy + r0 * s.cout * 4, b: w, c, m: r1 - r0, n: k, k: s.cout, lda: s.cout, ldb: s.cout, ldc: k,
    transA: false, transB: true, alpha: 1, beta: 0,
  }));
  if (isPointwise(s)) { gemm(dx, 0, rows); return; }
  if (smallMapApplies(s)) { timed('gemm', () => backwardDataSmallMap(ctx, dy, w, dx, s)); return; }
  const chunk = rowsPerChunk(s, rows);
  const col = ctx.workspace(chunk * k * 4 + 64, SLOT_COL);
  if (chunk >= rows) {
    gemm(col, 0, rows);
    col2imPixels(ctx, col, dx, s, 0, rows, 0, s.n * s.h * s.w, false);
    return;
  }
  // Chunks overlap in the pixels they touch: zero dx once, then every chunk adds its share.
  zeroBytes(ctx, dx, s.n * s.h * s.w * s.cin * 4);
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const r1 = Math.min(rows, r0 + chunk);
    gemm(col, r0, r1);
    const [p0, p1] = pixelsOfRows(s, r0, r1);
    col2imPixels(ctx, col, dx, s, r0, r1, p0, p1, true);
  }
}

/** db = beta*db + column sums of dy [rows, cout], split over 16-column blocks. */
export function biasGrad(ctx: WasmContext, dy: number, db: number, rows: number, cout: number, beta: number): void {
  const jobs = rows * cout >= 1 << 16 ? ctx.threads : 1;
  timed('bias_grad', () => ctx.pool.parallel('im2col_colsum_f32', splitRange(cout, jobs, 16).map(([a, b]) => [dy, db, rows, cout, a, b, beta])));
}

/** dw = beta*dw + im2col(x)^T dY, accumulated over row chunks. */
export function backwardFilterIm2col(ctx: WasmContext, x: number, dy: number, dw: number, s: ConvShape, beta: number): void {
  const { oh, ow } = convOutSize(s);
  const rows = s.n * oh * ow, k = s.kh * s.kw * s.cin;
  const gemm = (a: number, r0: number, r1: number, b: number) => timed('gemm', () => gemmPtr(ctx, {
    a, b: dy + r0 * s.cout * 4, c: dw, m: k, n: s.cout, k: r1 - r0, lda: k, ldb: s.cout, ldc: s.cout,
    transA: true, transB: false, alpha: 1, beta: b,
  }));
  if (isPointwise(s)) { gemm(x, 0, rows, beta); return; }
  if (smallMapApplies(s)) { timed('gemm', () => backwardFilterSmallMap(ctx, x, dy, dw, s, beta)); return; }
  const chunk = rowsPerChunk(s, rows);
  const col = ctx.workspace(chunk * k * 4 + 64, SLOT_COL);
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const r1 = Math.min(rows, r0 + chunk);
    im2colRows(ctx, x, col, s, r0, r1);
    gemm(col, r0, r1, r0 === 0 ? beta : 1);
  }
}
