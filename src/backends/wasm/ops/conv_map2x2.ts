// The winograd_map2x2 convolution passes (3x3, pad 1, stride 1 on a 2x2 map; assembly/map2x2.ts): 9 tile GEMMs
// of n x cin x cout per pass where im2col multiplies 16 non-zero (pixel, tap) pairs (the small-map path) and
// Winograd F(2x2) 16 transformed positions. One parallel call per pass. In the gradients the threads claim
// blocks of the GEMMs' output columns (transform, 9 GEMMs, transform back) off an atomic counter: they never
// wait for each other, and one the host slows down takes fewer blocks (a fixed half per thread ran the 2-thread
// forward anywhere from 3.7 to 8 ms while other processes ran). The forward splits the depth (forwardMap2x2).
import { type ConvShape } from '../../../backend.js';
import type { WasmContext } from '../context.js';
import { timed } from './conv_im2col.js';
import { GEMM_NR, gemmBlocks, gemmMr } from './gemm.js';
import { rangeCounters } from './conv_winograd.js';

/** Per-thread workspaces: conv owns slots 0..9 (no other conv pass runs inside this one). */
const SLOT_FULL = 0, SLOT_BLOCK = 1, SLOT_OUT = 2, SLOT_GEMM = 3, SLOT_COUNTER = 4;
/** blockBytes: most bytes of a column block of U or dU ([9][cb][rows]), a bound on the workspace of wide layers;
 *  forwardBlockBytes: most bytes of the forward's depth step of U over all output channels ([9][kb][cout]),
 *  transformed and multiplied while it is in L2. 512->512 batch 32: steps of 16 (288 KB). With caches warm
 *  (back-to-back calls) steps of 64 had read 2-3% faster than 56 and 40-48 within 1.5%; but a call in a training
 *  step, or in the bench's speed-up rounds, starts after other layers have evicted its workspaces, and there the
 *  2-thread call with steps of 64 ran 2.48-2.53 ms against 2.15-2.21 with 16 (1 thread: 3.9-4.1 ms either way;
 *  the bench's round order, steps alternated per round in one process and in separate processes): a step's U
 *  written cold costs more than shorter GEMM depths do. 8 was slower again (2.65 ms), 24 and 32 in between.
 *  parallelMinMacs: below this many multiply-adds a pass runs on one thread. filterGradDiv: the filter gradient's
 *  blocks per thread (each claims a 1/div of its share at a time, from its own range first). 512->512 batch 32,
 *  2 threads, calls started cold as above, both cores at the same speed: 4 blocks per thread 1.87-1.88x over 1
 *  thread against 1.65-1.75x with 2 (separate processes, twice each; alternated per round in one process, 1.81-1.88
 *  against 1.54-1.57, 3 at 1.81, 8 at 1.74). Warm, 2 had read 2-4% faster than 4. Mutable so tests can force many
 *  blocks, short depth steps and the 2-thread split on small shapes. */
export const map2x2Limits = { blockBytes: 16 << 20, forwardBlockBytes: 9 * 4 * 512 * 16, parallelMinMacs: 1 << 20, filterGradDiv: 4 };

/** Positions padded 16 floats apart so the 9 streams of a transform do not alias in cache. */
const padStride = (elems: number) => elems + 16;
const bytes = (floats: number) => ((floats * 4 + 63) & ~63) + 64;

/** Threads for a pass and the column block they claim (whole 8-column GEMM slivers: all columns on 1 thread, a
 *  1/div of a thread's share on more, at most what keeps a block's [9][filterRows][cb] filter under
 *  map2x2Limits.blockBytes). */
function plan(s: ConvShape, threads: number, cols: number, filterRows: number, div: number) {
  const jobs = 9 * s.n * s.cin * s.cout >= map2x2Limits.parallelMinMacs ? Math.min(threads, Math.ceil(cols / GEMM_NR)) : 1;
  const share = jobs === 1 ? cols : Math.ceil(cols / (div * jobs) / GEMM_NR) * GEMM_NR;
  const fit = Math.floor(map2x2Limits.blockBytes / (9 * filterRows * 4) / GEMM_NR) * GEMM_NR;
  return { jobs, cb: Math.max(GEMM_NR, Math.min(share, fit)) };
}

const each = (jobs: number, args: (t: number) => number[]) => Array.from({ length: jobs }, (_, t) => args(t));
const roundUp = (v: number, a: number) => Math.ceil(v / a) * a;

/** Output channels per chunk of the forward's last phase (y = A^T M A). */
const FORWARD_OUT_COLS = 64;

/** y = conv(x, w) (+ bias) (ReLU): M_j = D_j U_j, y = A^T M A (assembly/map2x2.ts map2x2_forward). The depth is cut
 *  in two halves (M = M0 + M1) and the output channels in ceil(threads / 2) blocks, so 2 threads take one half of
 *  the depth each over all output channels, each transforming its half of D, packed for the GEMMs. The depth steps
 *  (kb) and the cut depend on the shape only: 1 and 2 threads give bit-identical outputs. 512->512 batch 32 against
 *  the previous split (a half of the output channels per thread, all of D and its packing on each thread), medians
 *  of 25 alternated in one process: 2 threads 9-12% faster (2.20-2.43 ms against 2.42-2.70), 1 thread 3% faster;
 *  the 2-thread speed-up (1 and 2 threads alternated, 21 pairs, one tree per process): 1.81-1.83x against
 *  1.63-1.71x. Narrower blocks claimed for balance ran slower (each reads shorter runs of the filter): 64-column
 *  blocks 15%, guided claims from 176 down to 32 columns 10% on 2 threads. */
export function forwardMap2x2(ctx: WasmContext, x: number, w: number, bias: number, y: number, s: ConvShape, relu: boolean): void {
  const threads = 9 * s.n * s.cin * s.cout >= map2x2Limits.parallelMinMacs ? ctx.threads : 1;
  const fit = Math.floor(map2x2Limits.blockBytes / (9 * s.cin * 4) / GEMM_NR) * GEMM_NR;
  const cb = Math.max(GEMM_NR, Math.min(fit, roundUp(s.cout / Math.ceil(threads / 2), GEMM_NR)));
  const kh = roundUp(s.cin / 2, 4);
  // The longest step the budget allows, evened out so a depth half has no short last step.
  const kbMax = Math.max(4, Math.floor(map2x2Limits.forwardBlockBytes / (9 * roundUp(s.cout, GEMM_NR) * 4) / 4) * 4);
  const kb = Math.min(s.cin, roundUp(Math.ceil(kh / Math.ceil(kh / kbMax)), 4));
  const jobs = Math.min(threads, (kh < s.cin ? 2 : 1) * Math.ceil(s.cout / cb));
  const mr = gemmMr(ctx);
  // A thread's D: kh channels (the larger part) by n rows, or n rounded up to whole micro-tile slivers.
  const dPos = padStride((s.n + mr) * kh), uPos = padStride(kb * roundUp(cb, GEMM_NR)), mPos = padStride(s.n * s.cout);
  const d = ctx.threadSlices(bytes(9 * dPos), jobs, SLOT_FULL), u = ctx.threadSlices(bytes(9 * uPos), jobs, SLOT_BLOCK);
  // M0 and M1, each written by its own thread on 2 threads: slices apart (threadSlices).
  const m = ctx.threadSlices(bytes(9 * mPos), 2, SLOT_OUT), tmp = ctx.threadSlices(256, jobs, SLOT_GEMM);
  const sync = ctx.workspace(256, SLOT_COUNTER);
  ctx.i32.fill(0, sync >> 2, (sync >> 2) + 64);
  const flags = (bias ? 1 : 0) | (relu ? 2 : 0);
  timed('fused', () => ctx.pool.parallel('map2x2_forward', each(jobs, (t) =>
    [x, w, bias, y, s.n, s.cin, s.cout, cb, sync, kb, kh, d(t), dPos, u(t), uPos, m(0), mPos, flags, tmp(t), mr, FORWARD_OUT_COLS,
      m(1) - m(0)])));
}

/** dx = B (dM U^T) B^T with dM = A dY A^T; threads claim blocks of input channels. */
export function backwardDataMap2x2(ctx: WasmContext, dy: number, w: number, dx: number, s: ConvShape): void {
  const { jobs, cb } = plan(s, ctx.threads, s.cin, s.cout, 4), counter = ctx.workspace(64, SLOT_COUNTER);
  ctx.i32[counter >> 2] = 0;
  const mr = gemmMr(ctx), bl = gemmBlocks(s.n, cb, s.cout, mr);
  const dmPos = padStride(s.n * s.cout), uPos = padStride(cb * s.cout), ddPos = padStride(s.n * cb);
  const dm = ctx.threadSlices(bytes(9 * dmPos), jobs, SLOT_FULL), u = ctx.threadSlices(bytes(9 * uPos), jobs, SLOT_BLOCK);
  const dd = ctx.threadSlices(bytes(9 * ddPos), jobs, SLOT_OUT), ws = ctx.threadSlices(bl.bytes, jobs, SLOT_GEMM);
  timed('fused', () => ctx.pool.parallel('map2x2_backward_data', each(jobs, (t) =>
    [dy, w, dx, s.n, s.cin, s.cout, cb, counter, dm(t), dmPos, u(t), uPos, dd(t), ddPos, ws(t), bl.mcb, bl.kcb, bl.ncb, mr])));
}

/** dw = beta dw + G^T (D^T dM) G; threads claim blocks of input channels (rows of dU), their own range first. */
export function backwardFilterMap2x2(ctx: WasmContext, x: number, dy: number, dw: number, s: ConvShape, beta: number): void {
  const { jobs, cb } = plan(s, ctx.threads, s.cin, s.cout, map2x2Limits.filterGradDiv);
  const { counter, ranges, home } = rangeCounters(ctx, jobs, Math.ceil(s.cin / cb), SLOT_COUNTER);
  const mr = gemmMr(ctx), bl = gemmBlocks(cb, s.cout, s.n, mr);
  const dmPos = padStride(s.n * s.cout), dPos = padStride(s.n * cb), duPos = padStride(cb * s.cout);
  const dm = ctx.threadSlices(bytes(9 * dmPos), jobs, SLOT_FULL), d = ctx.threadSlices(bytes(9 * dPos), jobs, SLOT_BLOCK);
  const du = ctx.threadSlices(bytes(9 * duPos), jobs, SLOT_OUT), ws = ctx.threadSlices(bl.bytes, jobs, SLOT_GEMM);
  timed('fused', () => ctx.pool.parallel('map2x2_backward_filter', each(jobs, (t) =>
    [x, dy, dw, s.n, s.cin, s.cout, cb, counter, beta, dm(t), dmPos, d(t), dPos, du(t), duPos, ws(t), bl.mcb, bl.kcb, bl.ncb, mr,
      home(t), ranges])));
}
