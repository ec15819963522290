// The winograd_map2x2 convolution passes (3x3, pad 1, stride 1 on a 2x2 map; assembly/map2x2.ts): 9 tile GEMMs
// of n x cin x cout per pass where im2col multiplies 16 non-zero (pixel, tap) pairs (the small-map path) and
// Winograd F(2x2) 16 transformed positions. One parallel call per pass: each thread owns a block of the GEMMs'
// output columns (transform, 9 GEMMs, transform back), so the threads never wait for each other; a thread's
// block is walked in narrower column blocks only on layers too wide for map2x2Limits.blockBytes.
import { type ConvShape } from '../../../backend.js';
import type { WasmContext } from '../context.js';
import { splitRange } from '../pool.js';
import { timed } from './conv_im2col.js';
import { GEMM_NR, gemmBlocks, gemmMr } from './gemm.js';

/** Per-thread workspaces: conv owns slots 0..9 (no other conv pass runs inside this one). */
const SLOT_FULL = 0, SLOT_BLOCK = 1, SLOT_OUT = 2, SLOT_GEMM = 3;
/** blockBytes: most bytes of one column block's transformed filter (or filter gradient), which bounds the
 *  workspace on wide layers. L2-sized blocks (0.25-1 MB) measured no faster on 512->512 batch 32 and the
 *  forward's 2-3x slower (a block's filter transform reads every filter row in short strided pieces), so a
 *  512->512 layer runs as one block per thread. parallelMinMacs: below this many multiply-adds a pass runs on
 *  one thread. Mutable so tests can force many blocks and the 2-thread split on small shapes. */
export const map2x2Limits = { blockBytes: 16 << 20, parallelMinMacs: 1 << 20 };

/** Positions padded 16 floats apart so the 9 streams of a transform do not alias in cache. */
const padStride = (elems: number) => elems + 16;
const bytes = (floats: number) => ((floats * 4 + 63) & ~63) + 64;

/** Column ranges per thread (whole 8-column GEMM slivers) and the block width: as many columns as keep a
 *  block's [9][rows][cb] filter under map2x2Limits.blockBytes, at least one sliver. */
function plan(ctx: WasmContext, s: ConvShape, cols: number, filterRows: number) {
  const jobs = 9 * s.n * s.cin * s.cout >= map2x2Limits.parallelMinMacs ? Math.min(ctx.threads, Math.ceil(cols / GEMM_NR)) : 1;
  const ranges = splitRange(cols, jobs, GEMM_NR);
  const widest = Math.max(...ranges.map(([a, b]) => b - a));
  const fit = Math.floor(map2x2Limits.blockBytes / (9 * filterRows * 4) / GEMM_NR) * GEMM_NR;
  return { ranges, cb: Math.max(GEMM_NR, Math.min(widest, fit)) };
}

/** One workspace slot split into per-thread slices of `each` bytes; returns slice t's address. */
function perThread(ctx: WasmContext, slot: number, each: number, jobs: number): (t: number) => number {
  const base = ctx.workspace(each * jobs, slot);
  return (t) => base + t * each;
}

/** y = conv(x, w) (+ bias) (ReLU): M_j = D_j U_j, y = A^T M A; threads split the output channels. */
export function forwardMap2x2(ctx: WasmContext, x: number, w: number, bias: number, y: number, s: ConvShape, relu: boolean): void {
  const { ranges, cb } = plan(ctx, s, s.cout, s.cin);
  const mr = gemmMr(ctx), bl = gemmBlocks(s.n, cb, s.cin, mr);
  const dPos = padStride(s.n * s.cin), uPos = padStride(s.cin * cb), mPos = padStride(s.n * cb);
  const d = perThread(ctx, SLOT_FULL, bytes(9 * dPos), ranges.length), u = perThread(ctx, SLOT_BLOCK, bytes(9 * uPos), ranges.length);
  const m = perThread(ctx, SLOT_OUT, bytes(9 * mPos), ranges.length), ws = perThread(ctx, SLOT_GEMM, bl.bytes, ranges.length);
  const flags = (bias ? 1 : 0) | (relu ? 2 : 0);
  timed('fused', () => ctx.pool.parallel('map2x2_forward', ranges.map(([n0, n1], t) =>
    [x, w, bias, y, s.n, s.cin, s.cout, n0, n1, cb, d(t), dPos, u(t), uPos, m(t), mPos, flags, ws(t), bl.mcb, bl.kcb, bl.ncb, mr])));
}

/** dx = B (dM U^T) B^T with dM = A dY A^T; threads split the input channels. */
export function backwardDataMap2x2(ctx: WasmContext, dy: number, w: number, dx: number, s: ConvShape): void {
  const { ranges, cb } = plan(ctx, s, s.cin, s.cout);
  const mr = gemmMr(ctx), bl = gemmBlocks(s.n, cb, s.cout, mr);
  const dmPos = padStride(s.n * s.cout), uPos = padStride(cb * s.cout), ddPos = padStride(s.n * cb);
  const dm = perThread(ctx, SLOT_FULL, bytes(9 * dmPos), ranges.length), u = perThread(ctx, SLOT_BLOCK, bytes(9 * uPos), ranges.length);
  const dd = perThread(ctx, SLOT_OUT, bytes(9 * ddPos), ranges.length), ws = perThread(ctx, SLOT_GEMM, bl.bytes, ranges.length);
  timed('fused', () => ctx.pool.parallel('map2x2_backward_data', ranges.map(([n0, n1], t) =>
    [dy, w, dx, s.n, s.cin, s.cout, n0, n1, cb, dm(t), dmPos, u(t), uPos, dd(t), ddPos, ws(t), bl.mcb, bl.kcb, bl.ncb, mr])));
}

/** dw = beta dw + G^T (D^T dM) G; threads split the input channels (rows of dU). */
export function backwardFilterMap2x2(ctx: WasmContext, x: number, dy: number, dw: number, s: ConvShape, beta: number): void {
  const { ranges, cb } = plan(ctx, s, s.cin, s.cout);
  const mr = gemmMr(ctx), bl = gemmBlocks(cb, s.cout, s.n, mr);
  const dmPos = padStride(s.n * s.cout), dPos = padStride(s.n * cb), duPos = padStride(cb * s.cout);
  const dm = perThread(ctx, SLOT_FULL, bytes(9 * dmPos), ranges.length), d = perThread(ctx, SLOT_BLOCK, bytes(9 * dPos), ranges.length);
  const du = perThread(ctx, SLOT_OUT, bytes(9 * duPos), ranges.length), ws = perThread(ctx, SLOT_GEMM, bl.bytes, ranges.length);
  timed('fused', () => ctx.pool.parallel('map2x2_backward_filter', ranges.map(([n0, n1], t) =>
    [x, dy, dw, s.n, s.cin, s.cout, n0, n1, cb, beta, dm(t), dmPos, d(t), dPos, du(t), duPos, ws(t), bl.mcb, bl.kcb, bl.ncb, mr])));
}
