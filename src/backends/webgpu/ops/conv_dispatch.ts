// Dispatch helpers of the WebGPU conv family: im2col/col2im/colsum and Winograd transform launches,
// the workspace budget that chunks large layers, and the uniform blocks the two shader files expect.
import { type Buf, type ConvShape, KernelArgumentError } from '../../../backend.js';
import { type Binding, type UniformField, type WebGpuContext, f32, grid1d, i32, u32 } from '../context.js';

/** Invocations per workgroup of every conv shader: fits compatibility mode (<= 128). */
export const CONV_WG = 64;

/** Test hooks: cap the bytes of one chunk buffer, and the shortest reduction split into pieces
 *  (to exercise chunking and split-K on small layers). */
export const convTuning: { maxChunkBytes?: number; minSplitK?: number } = {};

/** Pieces to split a k-long reduction into when its output alone would fill only `outTiles` 64x64 GEMM
 *  tiles (a large GPU wants a few hundred workgroups), with `pieceBytes` of scratch per piece. */
export function splitPieces(ctx: WebGpuContext, outTiles: number, k: number, pieceBytes: number): number {
  const minK = convTuning.minSplitK ?? 512;
  const pieces = Math.min(64, Math.ceil(256 / outTiles), Math.floor(k / minK), Math.floor(chunkBudget(ctx) / pieceBytes) - 1);
  return pieces >= 2 ? pieces : 1;
}

/** Bytes one workspace chunk may take: at most one storage binding, and 64 MiB so that the family's
 *  scratch memory stays moderate (a 64 MiB chunk still holds tens of thousands of GEMM rows). */
export function chunkBudget(ctx: WebGpuContext): number {
  const lim = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize, 64 * 1024 * 1024);
  return Math.max(1024, Math.min(lim, convTuning.maxChunkBytes ?? lim));
}

/** Throws when a whole tensor cannot be bound as one storage buffer (the kernels bind it whole). */
export function checkBindable(ctx: WebGpuContext, kernel: string, name: string, elements: number): void {
  const bytes = elements * 4;
  if (bytes > ctx.limits.maxStorageBufferBindingSize) {
    throw new KernelArgumentError(kernel, `${name} needs ${bytes} bytes, above this device's maxStorageBufferBindingSize ` +
      `(${ctx.limits.maxStorageBufferBindingSize}); use a smaller batch`);
  }
}

function launch(ctx: WebGpuContext, shader: string, entryPoint: string, constants: Record<string, number>,
  buffers: Binding[], uniforms: UniformField[], items: number): void {
  if (items <= 0) return;
  ctx.dispatch({ shader, entryPoint, constants: { WG: CONV_WG, ...constants }, buffers, uniforms,
    workgroups: grid1d(items, CONV_WG, ctx.limits.maxComputeWorkgroupsPerDimension) });
}

// ---- im2col.wgsl (Params: n,h,w,cin, kh,kw,stride,pad, oh,ow,r0,rows, total,img0,accBelow,p0)

function im2colParams(s: ConvShape, oh: number, ow: number, r0: number, rows: number, total: number,
  img0 = 0, accBelow = 0): UniformField[] {
  return [u32(s.n), u32(s.h), u32(s.w), u32(s.cin), u32(s.kh), u32(s.kw), u32(s.stride), u32(s.pad),
    u32(oh), u32(ow), u32(r0), u32(rows), u32(total), u32(img0), u32(accBelow), u32(0)];
}

/** col rows [r0, r0+rows) (local rows 0..rows of `col`) from x. */
export function im2colChunk(ctx: WebGpuContext, x: Binding, col: Binding, s: ConvShape, oh: number, ow: number,
  r0: number, rows: number): void {
  const lanes = s.cin % 4 === 0 ? 4 : 1; // vec4 channel groups when they tile cin
  const total = (rows * s.kh * s.kw * s.cin) / lanes;
  launch(ctx, 'im2col', lanes === 4 ? 'im2col_f32x4' : 'im2col_f32', {}, [x, col], im2colParams(s, oh, ow, r0, rows, total), total);
}

/** Adds col rows [r0, r0+rows) into dx (gather); images not touched by earlier chunks are overwritten.
 *  Chunks must come in increasing r0 starting at 0. */
export function col2imChunk(ctx: WebGpuContext, col: Binding, dx: Binding, s: ConvShape, oh: number, ow: number,
  r0: number, rows: number): void {
  const per = oh * ow;
  const img0 = Math.floor(r0 / per);
  const img1 = Math.floor((r0 + rows - 1) / per);
  const accBelow = r0 === 0 ? 0 : Math.floor((r0 - 1) / per) + 1; // images the previous chunks reached
  const lanes = s.cin % 4 === 0 ? 4 : 1;
  const total = ((img1 - img0 + 1) * s.h * s.w * s.cin) / lanes;
  launch(ctx, 'im2col', lanes === 4 ? 'col2im_f32x4' : 'col2im_f32', {}, [col, dx],
    im2colParams(s, oh, ow, r0, rows, total, img0, accBelow), total);
}

/** db[c] = beta*db[c] + sum over rows of m[r, c] (bias gradient), in two passes over a workspace. */
export function columnSums(ctx: WebGpuContext, m: Buf, db: Buf, rows: number, cols: number, beta: number, slot: number): void {
  const slices = Math.max(1, Math.min(1024, Math.ceil(rows / 64), Math.floor(65536 * 64 / cols)));
  const per = Math.ceil(rows / slices);
  const part = ctx.workspace(slices * cols * 4, slot);
  const p = [u32(slices), u32(per), u32(cols), u32(0), u32(0), u32(0), u32(0), u32(0),
    u32(0), u32(0), u32(0), u32(rows), u32(slices * cols), u32(0), u32(0), u32(0)];
  launch(ctx, 'im2col', 'col_sum_partial_f32', {}, [m, part], p, slices * cols);
  sumSlices(ctx, part, db, slices, cols, beta);
}

/** out[c] = beta*out[c] + sum over s < slices of part[s*cols + c] (partial sums, split-K partial products). */
export function sumSlices(ctx: WebGpuContext, part: Binding, out: Binding, slices: number, cols: number, beta: number): void {
  const p = [u32(slices), u32(0), u32(cols), u32(0), u32(0), u32(0), u32(0), u32(0), u32(0), u32(0), u32(0), u32(0),
    u32(cols), u32(0), u32(0), f32(beta)];
  launch(ctx, 'im2col', 'col_sum_final_f32', {}, [part, out], p, cols);
}

// ---- winograd.wgsl (Params: n,h,w,c, pad,th,tw,t0, tc,rows,cols,flags, beta,total,p1,p2)

export interface TileGrid { m: number; th: number; tw: number; tiles: number }

export function tileGrid(m: number, n: number, oh: number, ow: number): TileGrid {
  const th = Math.ceil(oh / m), tw = Math.ceil(ow / m);
  return { m, th, tw, tiles: n * th * tw };
}

function wgParams(o: { n?: number; h?: number; w?: number; c?: number; pad?: number; g?: TileGrid; t0?: number; tc?: number;
  rows?: number; cols?: number; flags?: number; beta?: number; total: number; sub?: number }): UniformField[] {
  return [u32(o.n ?? 0), u32(o.h ?? 0), u32(o.w ?? 0), u32(o.c ?? 0), i32(o.pad ?? 0), u32(o.g?.th ?? 0), u32(o.g?.tw ?? 0),
    u32(o.t0 ?? 0), u32(o.tc ?? 0), u32(o.rows ?? 0), u32(o.cols ?? 0), u32(o.flags ?? 0), f32(o.beta ?? 0), u32(o.total),
    u32(o.sub ?? 0), u32(0)];
}

/** Sub-blocks of a chunk's tiles for split-K: `sub` tiles each, `pieces` of them (the last zero-padded). */
export interface TileSplit { sub: number; pieces: number }

/** U[pos][a][b] = G g G^T; flip: the data-gradient filter (rotated 180 degrees, in/out swapped), then
 *  rows = cout and cols = cin of the original w. */
export function filterTransform(ctx: WebGpuContext, m: number, w: Binding, u: Binding, rows: number, cols: number, flip: boolean): void {
  const total = rows * cols;
  launch(ctx, 'winograd', 'winograd_filter_transform', { M: m }, [w, u], wgParams({ rows, cols, flags: flip ? 4 : 0, total }), total);
}

/** V[pos][t][ci] for tiles [t0, t0+tc) of grid g over image x (n, h, w, c) with padding pad (may be < 0);
 *  with a split, V[s][pos][t % sub][ci]. */
export function inputTransform(ctx: WebGpuContext, g: TileGrid, x: Binding, v: Binding, n: number, h: number, w: number, c: number,
  pad: number, t0: number, tc: number, split?: TileSplit): void {
  const total = (split ? split.sub * split.pieces : tc) * c;
  launch(ctx, 'winograd', 'winograd_input_transform', { M: g.m }, [x, v],
    wgParams({ n, h, w, c, pad, g, t0, tc, total, sub: split?.sub }), total);
}

/** y (n, oh, ow, c) for tiles [t0, t0+tc) from Mm[pos][t][co]; bias (flag bit 0) and ReLU (bit 1). */
export function outputTransform(ctx: WebGpuContext, g: TileGrid, mm: Binding, bias: Binding | undefined, y: Binding, oh: number,
  ow: number, c: number, t0: number, tc: number, relu: boolean): void {
  const total = tc * c;
  const flags = (bias ? 1 : 0) | (relu ? 2 : 0);
  // Without a bias the binding still needs a buffer: Mm again (both bindings are read-only).
  launch(ctx, 'winograd', 'winograd_output_transform', { M: g.m }, [mm, bias ?? mm, y],
    wgParams({ h: oh, w: ow, c, g, t0, tc, flags, total }), total);
}

/** D[pos][t][co] = A dY A^T for tiles [t0, t0+tc) of dy (n, oh, ow, c); with a split, D[s][pos][t % sub][co]. */
export function dyTransform(ctx: WebGpuContext, g: TileGrid, dy: Binding, d: Binding, oh: number, ow: number, c: number,
  t0: number, tc: number, split?: TileSplit): void {
  const total = (split ? split.sub * split.pieces : tc) * c;
  launch(ctx, 'winograd', 'winograd_dy_transform', { M: g.m }, [dy, d],
    wgParams({ h: oh, w: ow, c, g, t0, tc, total, sub: split?.sub }), total);
}

/** dw = beta*dw + G^T Mw G (HWIO, 3x3) from Mw[pos][ci][co]. */
export function filterGradTransform(ctx: WebGpuContext, m: number, mw: Binding, dw: Binding, cin: number, cout: number, beta: number): void {
  const total = cin * cout;
  launch(ctx, 'winograd', 'winograd_filter_grad_transform', { M: m }, [mw, dw], wgParams({ rows: cin, cols: cout, beta, total }), total);
}
