// The Winograd F(m x m, 3x3) convolution passes: forward, data gradient (forward on dy with the flipped
// filter) and filter gradient (G^T [sum over tiles V^T dM] G), tiles processed in bounded chunks: fused per
// thread (assembly/winograd_fused.ts) when the filter fits in cache, else (forward, few tiles) blocked by output
// channels with the filter transformed per block, else phase by phase.
import { type ConvAlgo, type ConvShape, convOutSize } from '../../../backend.js';
import type { WasmContext } from '../context.js';
import { splitRange } from '../pool.js';
import { convLimits, timed } from './conv_im2col.js';
import { gemmBatchedPtr, gemmBlocks, gemmMr, gemmTuning } from './gemm.js';

export const WINOGRAD_TILE: Partial<Record<ConvAlgo, 2 | 4 | 6>> = { winograd_f2x2: 2, winograd_f4x4: 4, winograd_f6x6: 6 };

/** Workspace slots (conv owns 0..9). U (forward, data gradient) and dU (filter gradient) never live in the
 *  same call, so they share a slot: for 512->512 F(6x6) each is 67 MB. */
const SLOT_V = 0, SLOT_M = 1, SLOT_U = 2, SLOT_DU = 2, SLOT_SCRATCH = 3, SLOT_ROT = 4, SLOT_GEMM = 5, SLOT_COUNTER = 6, SLOT_PACKED_U = 7,
  SLOT_TRANSFORM_COUNTER = 8;
/** Position strides are padded by 16 floats (64 bytes) so the T*T streams of a tile do not alias in cache. */
const padStride = (elems: number) => elems + 16;
/** Per-thread scratch each transform kernel needs (tile staging; see assembly/winograd_gen.ts). */
const SCRATCH_BYTES = 4096;

/** Geometry of one Winograd convolution: an input image (h x w x cin) read at offset -pad, an output image
 *  (oh x ow x cout) covered by m x m tiles. */
interface Geometry { n: number; h: number; w: number; cin: number; cout: number; oh: number; ow: number; pad: number }

function scratch(ctx: WasmContext): (t: number) => number {
  return ctx.threadSlices(SCRATCH_BYTES, ctx.threads, SLOT_SCRATCH);
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
    [w, u, cin, cout, s, e, pos, sc(i)]);
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
  claimTransform(ctx, 0, m, x, v, 0, g.h, g.w, g.cin, g, c0, c1, 0);
}

/** The phased passes' transforms of tiles [c0, c1) (kind 0 input, 1 output, 2 output adjoint; see
 *  winograd_claim_transform in assembly/winograd_fused.ts) on the threads, tiles claimed in runs of about a
 *  sixteenth of the threads' share, each thread's own range of runs first (claimRanges): a static split ran one
 *  thread 30% longer than the other when the host slowed one core (c128-128 112x112 F(6x6): 7.95 vs 6.02 ms busy). */
function claimTransform(ctx: WasmContext, kind: number, m: number, a: number, b: number, bias: number, h: number, w: number, c: number,
  g: Geometry, c0: number, c1: number, flags: number): void {
  const { tilesH, tilesW } = tileCount(g, m);
  const t = m + 2, cnt = c1 - c0;
  const jobs = cnt * c * t * t >= 1 << 15 ? Math.min(ctx.threads, cnt) : 1;
  const step = Math.max(1, Math.ceil(cnt / (16 * jobs)));
  const sc = scratch(ctx), { counter, ranges, home } = rangeCounters(ctx, jobs, Math.ceil(cnt / step), SLOT_TRANSFORM_COUNTER);
  const name = ['input_transform', 'output_transform', 'output_adjoint'][kind];
  timed(name, () => ctx.pool.parallel('winograd_claim_transform', Array.from({ length: jobs }, (_, i) =>
    [kind, m, a, b, bias, h, w, c, tilesH, tilesW, g.pad, c1, c0, padStride(cnt * c), flags, sc(i), counter, step, home(i), ranges])));
}

/** Bytes of one thread's V (or M) workspace in the fused passes for `chunk` tiles of `c` channels: tile-major
 *  (tile i at i * (T*T*round4(c) + 16) floats, see tileStride in assembly/winograd_fused.ts), plus a line of
 *  slack for full-vector loads past a channel tail. */
function tileWorkspaceBytes(t: number, chunk: number, c: number): number {
  return (chunk * (t * t * (Math.ceil(c / 4) * 4) + 16) * 4 + 127) & ~63;
}

/** Tiles per chunk of the fused forward, or 0 when the phase-by-phase path is the better one. A chunk's
 *  V and M together take at most about convLimits.winogradFusedBytes (so they stay in cache between the
 *  phases); the chunk count is a multiple of the threads (two per thread at least), so the threads finish
 *  together, and at least minChunks while a chunk keeps 4 micro-tile rows (the forward asks for 4 per thread and 8
 *  in all: 64->128 16x16 at batch 32 ran its 512 tiles in 4 chunks at 4.68 ms on 2 threads, 8.43 on 1; in 8,
 *  4.53 and 8.23, same run; the last claims are shorter), and a chunk is a multiple of the GEMM micro-tile rows
 *  where that keeps them even. Each chunk
 *  streams the whole packed filter (or, for the filter gradient, its own dU) through its GEMMs, so that must
 *  stay in cache (at most convLimits.winogradFusedFilterBytes: measured slower than phase by phase for
 *  128->256 F(4x4), 4.7 MB, faster for 64->128, 1.2 MB) and be reused by FUSED_MIN_ROWS tiles or more
 *  (few tiles: the 4x4 and 2x2 layers); otherwise the batched GEMM split by position wins. */
const FUSED_MIN_ROWS = 24;
function fusedChunk(ctx: WasmContext, m: number, tiles: number, g: Geometry, minChunks = 0): number {
  const t = m + 2, mr = gemmMr(ctx), th = ctx.threads;
  if (t * t * g.cin * g.cout * 4 > convLimits.winogradFusedFilterBytes) return 0;
  const byBytes = Math.max(1, Math.floor(convLimits.winogradFusedBytes / (t * t * (g.cin + g.cout + 32) * 4)));
  const byCache = Math.max(2 * th, Math.ceil(Math.ceil(tiles / byBytes) / th) * th);
  if (Math.ceil(tiles / byCache) < FUSED_MIN_ROWS && byBytes < tiles) return 0;
  const chunks = Math.max(byCache, Math.min(minChunks, Math.floor(tiles / (4 * mr))));
  let c = Math.ceil(tiles / chunks);
  if (c >= 4 * mr) {
    // Whole micro-tile rows: a chunk of 51 tiles ran 9 row slivers per position GEMM, the last half empty
    // with a scalar edge epilogue; 48 runs 8 full ones (the claims after it are whole rows too).
    c = Math.floor(c / mr) * mr;
  } else {
    const rounded = Math.ceil(c / mr) * mr;
    if (chunks * rounded - tiles < mr) c = rounded; // else the last chunk would come up short
  }
  return Math.max(1, Math.min(c, chunkTiles(m, tiles, g.cin + g.cout)));
}

/** The smallest run of tiles a thread claims in the fused passes (they claim a quarter of what is left,
 *  up to `chunk`): chunk/div rounded to whole micro-tile rows. The filter gradient uses div 2, as each of
 *  its claims re-reads and re-writes the thread's whole dU. */
function minClaim(chunk: number, mr: number, div: number): number {
  return Math.min(chunk, Math.max(mr, Math.ceil(chunk / div / mr) * mr));
}

/** y = Winograd conv of x with the transformed filter u (+ bias) (ReLU), phase by phase over chunks of
 *  tiles: each phase split over the threads (the GEMM by position). */
function winogradConvPhased(ctx: WasmContext, m: number, x: number, u: number, uTrans: boolean, y: number, bias: number, relu: boolean,
  g: Geometry): void {
  const t = m + 2;
  const { tiles } = tileCount(g, m);
  const chunk = chunkTiles(m, tiles, g.cin + g.cout);
  const v = ctx.workspace(t * t * padStride(chunk * g.cin) * 4 + 64, SLOT_V);
  const mm = ctx.workspace(t * t * padStride(chunk * g.cout) * 4 + 64, SLOT_M);
  const flags = (bias ? 1 : 0) | (relu ? 2 : 0);
  for (let c0 = 0; c0 < tiles; c0 += chunk) {
    const c1 = Math.min(tiles, c0 + chunk), cnt = c1 - c0;
    inputTransform(ctx, m, x, v, g, c0, c1);
    timed('gemm', () => gemmBatchedPtr(ctx, {
      a: v, b: u, c: mm, m: cnt, n: g.cout, k: g.cin, lda: g.cin, ldb: uTrans ? g.cin : g.cout, ldc: g.cout,
      transA: false, transB: uTrans, alpha: 1, beta: 0,
      batch: t * t, strideA: padStride(cnt * g.cin), strideB: padStride(g.cin * g.cout), strideC: padStride(cnt * g.cout),
    }));
    claimTransform(ctx, 1, m, mm, y, bias, g.oh, g.ow, g.cout, g, c0, c1, flags);
  }
}

/** Ranges the claiming kernels cut their work into, one counter each (the fused forward's tiles, the column-blocked
 *  passes' slivers and blocks, the phased transforms' runs of tiles): a thread claims from its own range first, so with the threads in step it writes the
 *  same outputs every call and their lines stay in its core's cache. 0: one per thread. Mutable so a test can give
 *  the threads ranges that are not their own (more ranges than threads) to claim. */
export const claimRanges = { count: 0 };

/** The claim counters of `items` cut into claimRanges.count ranges (0: one per job) of whole multiples of `align`
 *  (rangeSize in assembly/winograd_fused.ts: the kernels derive the same ranges), 64 bytes apart in workspace `slot`,
 *  each set to its range's first item; `home(i)` is job i's own range. */
export function rangeCounters(ctx: WasmContext, jobs: number, items: number, slot: number, align = 1) {
  const ranges = claimRanges.count > 0 ? claimRanges.count : jobs;
  const per = Math.ceil(Math.ceil(items / ranges) / align) * align, counter = ctx.workspace(64 * ranges, slot);
  for (let r = 0; r < ranges; r++) ctx.i32[(counter >> 2) + 16 * r] = Math.min(items, r * per);
  return { counter, ranges, home: (i: number) => i % ranges };
}

/** y = Winograd conv of x with the HWIO filter w (+ bias) (ReLU), or with w rotated 180 degrees and in and out
 *  swapped when flip (the data gradient: x is dy, y is dx). Fused (when fusedChunk allows): the filter transformed
 *  straight into the GEMMs' packed-B layout (winograd_fused_filter_packed), then one parallel call in which every
 *  thread claims runs of tiles from an atomic counter and runs all three phases on them (assembly/winograd_fused.ts),
 *  so there is no barrier between phases and a thread that is descheduled for a while is covered by the other. Else
 *  phase by phase, with the filter transformed whole. */
function winogradConv(ctx: WasmContext, m: number, x: number, w: number, flip: boolean, y: number, bias: number, relu: boolean,
  g: Geometry): void {
  const t = m + 2, mr = gemmMr(ctx);
  const { tilesH, tilesW, tiles } = tileCount(g, m);
  const chunk = fusedChunk(ctx, m, tiles, g, Math.max(8, 4 * ctx.threads));
  if (chunk === 0) {
    winogradConvPhased(ctx, m, x, flip ? phasedFilterFlipped(ctx, m, w, g) : filterTransform(ctx, m, w, g.cin, g.cout), flip, y, bias,
      relu, g);
    return;
  }
  const jobs = Math.min(ctx.threads, Math.ceil(tiles / chunk));
  const { kcb } = gemmBlocks(chunk, g.cout, g.cin, mr);
  const upPos = g.cin * (Math.ceil(g.cout / 8) * 8) + 16;
  const up = ctx.workspace(t * t * upPos * 4 + 64, SLOT_PACKED_U);
  filterPacked(ctx, m, w, flip, up, upPos, kcb, g);
  const vBytes = tileWorkspaceBytes(t, chunk, g.cin), mBytes = tileWorkspaceBytes(t, chunk, g.cout);
  const aBytes = ((Math.ceil(chunk / mr) * mr * kcb * 4 + 63) & ~63) + 48 * 4 + 64;
  const v = ctx.threadSlices(vBytes, jobs, SLOT_V), mm = ctx.threadSlices(mBytes, jobs, SLOT_M);
  const aws = ctx.threadSlices(aBytes, jobs, SLOT_GEMM), sc = scratch(ctx);
  // One range of tiles per thread, in whole micro-tile rows (winograd_fused_forward: a thread claims its own range
  // first, so it writes the same part of y every call).
  const { counter, ranges, home } = rangeCounters(ctx, jobs, tiles, SLOT_COUNTER, mr);
  const flags = (bias ? 1 : 0) | (relu ? 2 : 0);
  const args = Array.from({ length: jobs }, (_, i) => [m, x, up, y, bias, g.h, g.w, g.cin, g.cout, g.oh, g.ow, tilesH, tilesW, g.pad,
    tiles, chunk, v(i), mm(i), flags, sc(i), aws(i), kcb, mr, upPos, counter,
    minClaim(chunk, mr, 4), home(i), ranges, skewStart(home(i), ranges, t * t)]);
  timed('fused', () => ctx.pool.parallel('winograd_fused_forward', args));
}

/** The fused forward's filter: U' of w (flipped when flip) in the packed-B layout at up (k-blocks of kcb rows, positions
 *  upPos floats apart), input channels split over the threads in runs of 4 (whole transposes for the flip) and staged
 *  a few rows at a time (about 96 KB of stage per thread). */
function filterPacked(ctx: WasmContext, m: number, w: number, flip: boolean, up: number, upPos: number, kcb: number, g: Geometry): void {
  const t = m + 2, np = Math.ceil(g.cout / 8) * 8;
  const rows = Math.max(4, Math.min(64, Math.floor((96 << 10) / (9 * np * 4) / 4) * 4));
  const stageBytes = (rows * 9 * np * 4 + 127) & ~63;
  const jobs = g.cin * g.cout * t * t >= 1 << 15 ? ctx.threads : 1;
  const ranges = splitRange(g.cin, jobs, 4);
  const stage = ctx.threadSlices(stageBytes, ranges.length, SLOT_ROT);
  timed('filter_packed', () => ctx.pool.parallel('winograd_fused_filter_packed', ranges.map(([a, e], i) =>
    [m, w, up, g.cin, g.cout, a, e, kcb, upPos, stage(i), rows, flip ? 1 : 0])));
}

/** The phased data gradient's filter: w rotated 180 degrees (9 block copies), then transformed; the tile GEMMs take
 *  U[pos][ci][co] transposed, which swaps in and out. */
function phasedFilterFlipped(ctx: WasmContext, m: number, w: number, g: Geometry): number {
  const cin = g.cout, cout = g.cin; // the layer's
  const wf = ctx.workspace(9 * cin * cout * 4 + 64, SLOT_ROT);
  parallel(ctx, 'winograd_flip_filter_3x3', cin * cout, 9 * cin * cout, (a, b) => [w, wf, cin * cout, a, b]);
  return filterTransform(ctx, m, wf, cin, cout);
}

/** The column-blocked passes (winograd_colblock_forward): output channels per block (nb), the most filter rows
 *  transformed and multiplied at a time (k-block, kc), and the most bytes of packed V (all tiles, all positions),
 *  which every block re-reads. Where V is large (more than largeV.bytes: ImageNet's 28x28 layers, 13-15 MB) blocks of
 *  largeV.nb channels and k-blocks of largeV.kc rows. Mutable for tests and the bench. Measured against the phased
 *  path (1 and 2 threads, alternated, also with a TF.js call between so caches are cold as in a training step):
 *  faster or level on every layer it takes, up to ImageNet's 512->512 28x28 at batch 4 (14.6 MB of V; forward 1
 *  thread 96.5 -> 91.7 ms, 14x14 38.2 -> 33.8), CIFAR's 256->512 4x4 10.9 -> 8.6 ms (series). Blocks of 32 channels
 *  and k-blocks of 128 rows against 16 and 256 (the choice of machines with 1 MB of L2, where 16 had run 2-5% faster
 *  than 32 and k-blocks of 128 3% slower than 256), knob alternated per round in one process, warm calls, on this
 *  session's machines (2 MB of L2): 2 threads 128->256 8x8 forward 3.60 against 3.84 ms, data gradient 3.84 against
 *  4.17, 256->512 4x4 data gradient 3.91 against 4.22, forward level (4.06 / 4.12), 512->512 14x14 batch 4 forward
 *  14.7 against 15.4, data gradient 13.9 against 14.4; 1 thread level or 2-4% faster. V is re-read by half as many
 *  blocks, and the packed filter of a block (positions x kc x nb) stays the size it was. On the 28x28 layers 32/128
 *  ran 1 thread 6-13% slower (81.7 against 76.7 ms, data gradient F(6x6)), 2 threads mixed: they keep 16/256. */
export const winogradColBlock = { nb: 32, kc: 128, maxVBytes: 16 << 20, largeV: { bytes: 8 << 20, nb: 16, kc: 256 } };

/** Whether the threads of the column-blocked passes and of the fused forward walk the T*T positions of their tile
 *  GEMMs each from its own start (thread `home` from position home * T*T / ranges, wrapping), not all from 0. Every
 *  thread reads the same packed operand (V in the column-blocked passes, the transformed filter in the fused
 *  forward), and two cores reading the same lines at the same moment ran slower than each reading its own copy:
 *  128->256 8x8 F(4x4) data gradient, 2 threads, the 'colblocks' phase with the second thread given a private copy
 *  of V ran 3.22 ms against 3.66 (calls started cold; 3.18 against 3.50 warm). Skewed, with V shared, 3.43-3.45
 *  against 3.81-3.89 (warm 3.29-3.32 against 3.73-3.79; knob alternated per call in one process). In the bench's
 *  harsher round order (the 2-thread backend's workspaces evicted too) the whole call gained less: 128->256
 *  forward 4.41 -> 4.24 ms, data gradient 4.69 -> 4.66 and 5.03 -> 4.98, 256->512 4x4 forward 4.45 -> 4.32, data
 *  gradient level (4.43 / 4.42); the fused 64->128 16x16 forward 4.25 -> 4.17. Positions are independent GEMMs,
 *  so the order changes no bits. Mutable so the bench can compare. */
export const positionSkew = { on: true };

/** Thread `home`'s first position of the T*T (see positionSkew). */
const skewStart = (home: number, ranges: number, tt: number) => (positionSkew.on ? Math.floor((home * tt) / ranges) : 0);

/** Whether the forward (or data gradient) takes the column-blocked path: the filter is too large for the fused
 *  passes and the tiles few enough that their packed V (re-read once per block of output channels) stays small. */
function colBlockApplies(ctx: WasmContext, m: number, g: Geometry): boolean {
  const t = m + 2, mr = gemmMr(ctx), { tiles } = tileCount(g, m);
  if (fusedChunk(ctx, m, tiles, g) !== 0) return false;
  return t * t * Math.ceil(tiles / mr) * mr * g.cin * 4 <= winogradColBlock.maxVBytes;
}

/** y = Winograd conv of x with the HWIO filter w (+ bias) (ReLU), or with w rotated 180 degrees and in and out
 *  swapped when flip (the data gradient: x is dy, y is dx), blocked by output channels: input transform
 *  of all tiles straight into the GEMMs' packed layout once per call, then each thread claims blocks of nb output channels and runs
 *  filter transform (straight into the GEMM's packed-B layout) -> T*T tile GEMMs -> output transform on them
 *  (assembly/winograd_fused.ts). The transformed filter (36 x 256 x 512 floats, 18.9 MB, for CIFAR's 256->512
 *  F(4x4)) is never written to memory, re-read and re-packed, as the phased path does. */
function winogradConvColBlocks(ctx: WasmContext, m: number, x: number, w: number, flip: boolean, y: number, bias: number, relu: boolean,
  g: Geometry): void {
  const t = m + 2, tt = t * t, mr = gemmMr(ctx);
  const { tilesH, tilesW, tiles } = tileCount(g, m);
  const mPad = Math.ceil(tiles / mr) * mr;
  const sizes = tt * mPad * g.cin * 4 > winogradColBlock.largeV.bytes ? winogradColBlock.largeV : winogradColBlock;
  const nb = Math.max(8, Math.ceil(sizes.nb / 8) * 8), np = Math.min(nb, Math.ceil(g.cout / 8) * 8);
  const blocks = Math.ceil(g.cout / nb), jobs = Math.min(ctx.threads, blocks);
  const kcMax = Math.max(1, Math.min(gemmTuning.kc, sizes.kc)), kcb = Math.ceil(g.cin / Math.ceil(g.cin / kcMax));
  // V packed for the tile GEMMs (winograd_colblock_input_packed): threads claim one micro-tile sliver at a time and
  // transform it tile-major into their own small stage (tile stride: T*T positions of colblockVPos(cin) floats and a
  // line, see assembly/winograd_fused.ts).
  const tileV = tt * (Math.ceil(g.cin / 4) * 4 + 16) + 16, vsBytes = (mr * tileV * 4 + 127) & ~63;
  const apPos = mPad * g.cin + 16;
  const ap = ctx.workspace(tt * apPos * 4 + 64, SLOT_U);
  const tJobs = tiles * g.cin * tt >= 1 << 15 ? Math.min(ctx.threads, Math.ceil(tiles / mr)) : 1;
  const vs = ctx.threadSlices(vsBytes, tJobs, SLOT_V), sc = scratch(ctx);
  const tc = rangeCounters(ctx, tJobs, mPad / mr, SLOT_TRANSFORM_COUNTER);
  timed('input_transform', () => ctx.pool.parallel('winograd_colblock_input_packed', Array.from({ length: tJobs }, (_, i) =>
    [m, x, ap, apPos, g.h, g.w, g.cin, tilesH, tilesW, g.pad, tiles, kcb, mr, vs(i), sc(i), tc.counter, tc.home(i), tc.ranges])));
  const upPos = kcb * np + 16, mPos = mPad * np + 16;
  const bpBytes = (tt * upPos * 4 + 63) & ~63, mBytes = (tt * mPos * 4 + 63) & ~63, stageBytes = (kcb * 9 * np * 4 + 63) & ~63;
  const perThread = bpBytes + mBytes + stageBytes + 48 * 4 + 64;
  const ws = ctx.threadSlices(perThread, jobs, SLOT_PACKED_U), { counter, ranges, home } = rangeCounters(ctx, jobs, blocks, SLOT_COUNTER);
  const flags = (bias ? 1 : 0) | (relu ? 2 : 0);
  const args = Array.from({ length: jobs }, (_, i) => {
    const bp = ws(i);
    return [m, ap, apPos, w, y, bias, g.oh, g.ow, g.cin, g.cout, tiles, tilesH, tilesW, nb, kcb, mr, bp, upPos, bp + bpBytes, mPos,
      flags, sc(i), bp + bpBytes + mBytes + stageBytes, counter, blocks, bp + bpBytes + mBytes, flip ? 1 : 0, home(i), ranges, skewStart(home(i), ranges, tt)];
  });
  timed('colblocks', () => ctx.pool.parallel('winograd_colblock_forward', args));
}

export function forwardWinograd(ctx: WasmContext, algo: ConvAlgo, x: number, w: number, bias: number, y: number,
  s: ConvShape, relu: boolean): void {
  const m = WINOGRAD_TILE[algo]!;
  const { oh, ow } = convOutSize(s);
  const g: Geometry = { n: s.n, h: s.h, w: s.w, cin: s.cin, cout: s.cout, oh, ow, pad: s.pad };
  if (colBlockApplies(ctx, m, g)) winogradConvColBlocks(ctx, m, x, w, false, y, bias, relu, g);
  else winogradConv(ctx, m, x, w, false, y, bias, relu, g);
}

/** dx = conv(dy, rotate180(w) with in/out swapped, pad 2 - pad): a forward Winograd conv from cout to cin
 *  channels. A pad above 2 becomes a negative pad, which the input transform reads as cropping. */
export function backwardDataWinograd(ctx: WasmContext, algo: ConvAlgo, dy: number, w: number, dx: number, s: ConvShape): void {
  const m = WINOGRAD_TILE[algo]!;
  const { oh, ow } = convOutSize(s);
  const g: Geometry = { n: s.n, h: oh, w: ow, cin: s.cout, cout: s.cin, oh: s.h, ow: s.w, pad: 2 - s.pad };
  if (colBlockApplies(ctx, m, g)) winogradConvColBlocks(ctx, m, dy, w, true, dx, 0, false, g);
  else winogradConv(ctx, m, dy, w, true, dx, 0, false, g);
}

/** dw = beta*dw + G^T [sum over tiles V^T dM] G, with V = B^T x B and dM = A dY A^T per tile: fused per
 *  thread where fusedChunk allows, else phase by phase. (A filter gradient blocked by output channels like the
 *  forward's column blocks, dU formed and adjoined in cache, measured level with the phased path, not faster, on
 *  256->512 4x4, 128->256 8x8 at batch 32 and 512->512 4x4, 256->256 8x8 at batch 64: its packing, one more
 *  barrier and V^T re-read per block ate the gain. Not kept.) */
export function backwardFilterWinograd(ctx: WasmContext, algo: ConvAlgo, x: number, dy: number, dw: number, s: ConvShape, beta: number): void {
  const m = WINOGRAD_TILE[algo]!;
  const { oh, ow } = convOutSize(s);
  const g: Geometry = { n: s.n, h: s.h, w: s.w, cin: s.cin, cout: s.cout, oh, ow, pad: s.pad };
  const chunk = fusedChunk(ctx, m, tileCount(g, m).tiles, g);
  if (chunk !== 0) backwardFilterFused(ctx, m, x, dy, dw, g, beta, chunk);
  else backwardFilterPhased(ctx, m, x, dy, dw, g, beta);
}

/** The filter gradient fused like the forward (same chunks), over fixed blocks of tiles that the threads
 *  claim at run time: block b sums V^T dM over its tiles into its own dU_b, then one filter adjoint pass sums the
 *  dU_b in block order as it loads them. Which tiles a dU_b sums, and in what order, must not depend on timing, or
 *  dw's rounding would differ from run to run and a resumed run would not repeat an uninterrupted one bit
 *  for bit; claiming whole fixed blocks keeps that while a thread the host slows down takes fewer blocks
 *  (fixed shares per thread ran at 1.2-1.6x on 2 threads when the host took time from one core). */
function backwardFilterFused(ctx: WasmContext, m: number, x: number, dy: number, dw: number, g: Geometry, beta: number, chunk: number): void {
  const t = m + 2, mr = gemmMr(ctx);
  const { tilesH, tilesW, tiles } = tileCount(g, m);
  const starts = filterGradBlocks(tiles, Math.min(ctx.threads, Math.ceil(tiles / chunk)), mr);
  const blocks = starts.length - 1, jobs = Math.min(ctx.threads, blocks);
  const duPos = padStride(g.cin * g.cout);
  const vBytes = tileWorkspaceBytes(t, chunk, g.cin), mBytes = tileWorkspaceBytes(t, chunk, g.cout);
  const duBytes = (t * t * duPos * 4 + 127) & ~63;
  const bl = gemmBlocks(g.cin, g.cout, chunk, mr);
  const gBytes = (bl.bytes + 127) & ~63;
  // The dU_b, each written by the thread that claimed its block, apart as thread slices are (threadSlices).
  const v = ctx.threadSlices(vBytes, jobs, SLOT_V), dm = ctx.threadSlices(mBytes, jobs, SLOT_M);
  const dub = ctx.threadSlices(duBytes, blocks, SLOT_DU), du = dub(0), duStride = dub(1) - du;
  const gws = ctx.threadSlices(gBytes, jobs, SLOT_GEMM), counter = ctx.workspace(64 + 4 * starts.length, SLOT_COUNTER);
  const sc = scratch(ctx);
  ctx.i32[counter >> 2] = 0;
  ctx.i32.set(starts, (counter >> 2) + 16);
  const args = Array.from({ length: jobs }, (_, i) => [m, x, dy, du, g.h, g.w, g.cin, g.cout, g.oh, g.ow, tilesH, tilesW,
    g.pad, chunk, v(i), dm(i), sc(i), gws(i), bl.mcb, bl.kcb, bl.ncb, bl.mr,
    duPos, counter, counter + 64, blocks, duStride]);
  timed('fused', () => ctx.pool.parallel('winograd_fused_filter_grad', args));
  // One adjoint pass that sums the dU_b in block order (a pass per block re-read and re-wrote dw per block: 0.80 ms
  // for 6 blocks on 2 threads, 64->128 F(4x4), against 0.26 for 1 block on 1 thread).
  parallel(ctx, `winograd_f${m}x${m}_filter_adjoint_sum`, g.cin, g.cin * g.cout * t * t, (a, e, j) =>
    [du, dw, g.cin, g.cout, a, e, duPos, beta, sc(j), blocks, duStride]);
}

/** Block starts (and the end) of the fused filter gradient's tiles for `jobs` threads: one block of all on
 *  1 thread; else two rounds of one block per thread holding 80% and 20% of the tiles, so the last claims
 *  are short and a thread that falls behind leaves little to wait for. Every block costs a dU_b written, read
 *  back and summed: three rounds (60/30/10%, 6 blocks on 2 threads) ran 2 threads 9% slower (64->128 16x16
 *  batch 32: 6.58 against 5.99 ms; 64->64 224x224 batch 4: 66.8 against 61.9; same runs, alternated, in a slow
 *  host window). Whole micro-tile rows where the tiles allow. Depends on tiles and jobs only (never on timing). */
function filterGradBlocks(tiles: number, jobs: number, mr: number): number[] {
  if (jobs <= 1) return [0, tiles];
  const starts = [0];
  let done = 0;
  for (const share of [0.8, 0.2]) {
    for (let i = 0; i < jobs; i++) {
      const next = Math.min(tiles, done + Math.max(mr, Math.round((tiles * share) / jobs / mr) * mr));
      if (next > done) { starts.push(next); done = next; }
    }
  }
  if (done < tiles) starts[starts.length - 1] = tiles;
  return starts;
}

/** The filter gradient phase by phase: the sum over tiles is one batched GEMM per chunk (position-wise),
 *  accumulated with beta 1 after the first chunk. */
function backwardFilterPhased(ctx: WasmContext, m: number, x: number, dy: number, dw: number, g: Geometry, beta: number): void {
  const t = m + 2;
  const s = g;
  const { oh, ow } = g;
  const { tiles } = tileCount(g, m);
  const chunk = chunkTiles(m, tiles, s.cin + s.cout);
  const v = ctx.workspace(t * t * padStride(chunk * s.cin) * 4 + 64, SLOT_V);
  const dm = ctx.workspace(t * t * padStride(chunk * s.cout) * 4 + 64, SLOT_M);
  const du = ctx.workspace(t * t * padStride(s.cin * s.cout) * 4 + 64, SLOT_DU);
  const sc = scratch(ctx);
  for (let c0 = 0; c0 < tiles; c0 += chunk) {
    const c1 = Math.min(tiles, c0 + chunk), cnt = c1 - c0;
    inputTransform(ctx, m, x, v, g, c0, c1);
    claimTransform(ctx, 2, m, dy, dm, 0, oh, ow, s.cout, g, c0, c1, 0);
    timed('gemm', () => gemmBatchedPtr(ctx, {
      a: v, b: dm, c: du, m: s.cin, n: s.cout, k: cnt, lda: s.cin, ldb: s.cout, ldc: s.cout,
      transA: true, transB: false, alpha: 1, beta: c0 === 0 ? 0 : 1,
      batch: t * t, strideA: padStride(cnt * s.cin), strideB: padStride(cnt * s.cout), strideC: padStride(s.cin * s.cout),
    }));
  }
  // The adjoint staged through a small buffer, position by position (winograd_staged_filter_adjoint).
  const rows = Math.max(1, Math.min(s.cin, Math.floor(phasedAdjoint.stageBytes / (t * t * s.cout * 4))));
  const stageBytes = (t * t * (rows * s.cout + 16) * 4 + 127) & ~63;
  const stage = ctx.threadSlices(stageBytes, ctx.threads, SLOT_ROT);
  parallel(ctx, 'winograd_staged_filter_adjoint', s.cin, s.cin * s.cout * t * t, (a, b, i) =>
    [m, du, padStride(s.cin * s.cout), dw, s.cin, s.cout, a, b, beta, sc(i), stage(i), rows]);
}

/** The phased filter gradient's adjoint is staged: dU copied, a few rows of input channels and one position at a
 *  time, into a stage of at most stageBytes per thread, the adjoint then reading the stage. Read directly, the T*T
 *  positions of the out-of-cache dU came as T*T concurrent streams. Same bits either way. Measured against direct
 *  (same process, alternated, two runs): 256->512 4x4 n32 1 thread 9.7-9.9 ms against 10.3-10.4, 2 threads 5.2-5.3
 *  against 5.4 (the adjoint 1.33 against 1.48 ms); 512->512 4x4 n64 31.1-32.2 against 32.1-33.5, 16.0-16.8 against
 *  16.2-17.2; the 8x8 layers level. A 96 KB stage ran 2 threads no faster than direct. Mutable for tests. */
export const phasedAdjoint = { stageBytes: 256 << 10 };
