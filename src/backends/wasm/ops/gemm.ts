// wasm operators (gemm family): the gemm kernel plus gemmPtr/gemmBatchedPtr, the raw-pointer GEMMs conv and layers build on.
import { KernelArgumentError } from '../../../backend.js';
import type { WasmContext, WasmOpTable } from '../context.js';
import { splitRange } from '../pool.js';

/** A GEMM over raw memory: C[m,n] = alpha * op(A) op(B) + beta * C (+ bias[n]) (ReLU). Pointers are byte
 *  addresses; lda/ldb/ldc are leading dimensions (row strides) in elements of A, B, C as stored
 *  (A stored [k, lda] when transA, B stored [n, ldb] when transB). beta 0 overwrites C. */
export interface GemmPtrArgs {
  a: number; b: number; c: number; m: number; n: number; k: number;
  lda: number; ldb: number; ldc: number; transA: boolean; transB: boolean; alpha: number; beta: number;
  /** Byte pointer to n floats; 0 or undefined = no bias. */
  bias?: number;
  relu?: boolean;
}

export interface GemmBatchedPtrArgs extends GemmPtrArgs {
  batch: number;
  /** Element strides between consecutive A_i, B_i, C_i. */
  strideA: number; strideB: number; strideC: number;
}

/** Columns of C per micro-kernel call (gemm_f32_6x8 / gemm_f32_5x8). */
export const GEMM_NR = 8;
/** Micro-kernel rows and cache blocks. Mutable so the bench and the autotuner can try others.
 *  Relaxed builds use gemm_f32_6x8 (12 FMA accumulators fit V8's 15 usable xmm registers); plain builds
 *  gemm_f32_5x8: mul+add needs a temporary per product, so 6x8 spills there (measured 27 vs 41-47
 *  GFLOP/s best-of on 1024^3; 4x8 gave 40). A mr x kc A sliver and a kc x 8 B sliver share L1; the
 *  mc x kc A block sits in L2; the kc x nc B panel in L3. */
export const gemmTuning = { mrRelaxed: 6, mrSimd: 5, kc: 256, mc: 144, nc: 2048, ...deepDefaults(), ...fewRowDefaults(), ...claimDefaults() };
/** Blocks of a plain GEMM's thread share with more than mc rows (gemmPtr: the gemm op, im2col convs, the
 *  Linear weight gradient): a deeper, shorter A block (512 x 72 instead of 256 x 144, the same 144 KiB in L2)
 *  halves how often each micro-tile of C is loaded and stored again. Alternated in one process against
 *  256 x 144: 1024^3 on 1 thread 50.6 against 49.8 GFLOP/s (median), NN / NT / TN 51.4 / 51.3 / 52.0 against
 *  50.1 / 50.2 / 51.5; on 2 threads 99.4 / 101.7 / 98.8 against 96.0 / 96.0 / 97.3; the VGG im2col GEMMs
 *  level to +3%. The convolutions' own tile GEMMs keep kc and mc, which their planners were tuned with. */
function deepDefaults() { return { deepKc: 512, deepMc: 72 }; }
/** Depth panel of a thread's GEMM with at most mc rows and op(B) = B^T (the Linear layers' forward, m = batch),
 *  which gemm_f32 runs as gemm_f32_fewrows: C is reloaded once per panel, so a deeper one saves C traffic
 *  (batch 64, 4096x4096, 2 threads, alternated: 89 against 83 GFLOP/s with kc 256). With B not transposed (the
 *  data gradient) packing reads kc rows ldb apart, a page each at ldb 4096, and a deeper panel measured no
 *  better (1024: 76-81 against 80-83), so those keep kc. fewNcTransB keeps the workspace's B
 *  part (kc x nc floats, of which the few-row path uses kc x 16) at 2 MB: nc 128-2048 measured alike. */
function fewRowDefaults() { return { fewKcTransB: 1024, fewNcTransB: 512 }; }
/** The claiming multi-thread GEMM (gemm_f32_claim): on or off (off: a fixed block of C per thread), the
 *  packed-B budget that sets its column blocks, and its claim sizes: a claim takes (rows left) / (claimDiv
 *  * threads) rows, at least claimMinRows micro-tile rows and at most mc. Off by default: measured on
 *  1024^3, 2 threads, alternated in one process, it peaks below the fixed split in quiet windows (91.5-94.5
 *  vs 97.0-98.4 GFLOP/s best, 90.3-93.0 vs 94.6-95.5 at the 25th percentile) and beats it only when the
 *  host slows one core (medians 76.5-91.8 vs 70.5-90.6). Sharing the packed B costs more than packing it
 *  twice: a fixed row split that shared B panels (barrier per panel) peaked at 93.3 against 98.4. */
function claimDefaults() { return { claim: false, claimPackBytes: 4 << 20, claimMinRows: 4, claimDiv: 4 }; }
/** Workspace slots 10..19 belong to GEMM: 10..17 one per thread, 18 the claiming GEMM's barrier and
 *  counters, 19 the B block its threads share; conv uses 0..9, layers 20..29. */
const SLOT0 = 10, MAX_JOBS = 8, SLOT_SYNC = 18, SLOT_PACKED_B = 19;
/** Below this many multiply-adds a second thread costs more (wake-up, duplicated packing) than it saves. */
const PARALLEL_MIN_MACS = 1 << 18;

const roundUp = (x: number, a: number) => Math.ceil(x / a) * a;

interface Blocks { mr: number; mcb: number; kcb: number; ncb: number; bytes: number }

/** Rows of the micro-kernel the build runs. */
export function gemmMr(ctx: WasmContext): number {
  return ctx.build === 'relaxed' ? gemmTuning.mrRelaxed : gemmTuning.mrSimd;
}

/** Block sizes for an m x n x k problem, balanced so the last block is not a sliver, and the workspace
 *  bytes the AS layout needs for them (see wsB/wsTmp in assembly/gemm.ts). */
export function gemmBlocks(m: number, n: number, k: number, mr: number): Blocks {
  return blocksWith(m, n, k, mr, gemmTuning.kc, gemmTuning.nc);
}

function blocksWith(m: number, n: number, k: number, mr: number, kc: number, nc: number, mc = gemmTuning.mc): Blocks {
  const kcb = k > 0 ? Math.ceil(k / Math.ceil(k / kc)) : 1;
  const mcb = Math.min(roundUp(mc, mr), roundUp(m, mr));
  const ncb = Math.min(roundUp(nc, GEMM_NR), roundUp(n, GEMM_NR));
  const bytes = mcb * kcb * 4 + 64 + kcb * ncb * 4 + 64 + 48 * 4 + 64;
  return { mr, mcb, kcb, ncb, bytes };
}

function check(cond: boolean, detail: string): void {
  if (!cond) throw new KernelArgumentError('gemm', detail);
}

function isInt(v: unknown, min: number): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= min;
}

/** Checks sizes, leading dimensions and that every byte the GEMM touches lies inside the memory. */
function checkPtrArgs(ctx: WasmContext, p: GemmPtrArgs, batch = 1, strides: [number, number, number] = [0, 0, 0]): void {
  for (const key of ['m', 'n', 'k'] as const) check(isInt(p[key], 0), `${key} must be an integer >= 0, got ${String(p[key])}`);
  check(Number.isFinite(p.alpha) && Number.isFinite(p.beta), `alpha and beta must be finite, got ${p.alpha}, ${p.beta}`);
  const rowsA = p.transA ? p.k : p.m, colsA = p.transA ? p.m : p.k;
  const rowsB = p.transB ? p.n : p.k, colsB = p.transB ? p.k : p.n;
  check(isInt(p.lda, Math.max(1, colsA)), `lda ${p.lda} is smaller than the ${colsA} columns of A${p.transA ? '^T' : ''}`);
  check(isInt(p.ldb, Math.max(1, colsB)), `ldb ${p.ldb} is smaller than the ${colsB} columns of B${p.transB ? '^T' : ''}`);
  check(isInt(p.ldc, Math.max(1, p.n)), `ldc ${p.ldc} is smaller than the ${p.n} columns of C`);
  const memBytes = ctx.memory.buffer.byteLength;
  const span = (rows: number, cols: number, ld: number) => (rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols);
  const region = (name: string, ptr: number, elems: number, stride: number) => {
    check(isInt(ptr, 0) && ptr % 4 === 0, `${name} pointer ${ptr} is not a 4-byte-aligned address`);
    const last = ptr + ((batch - 1) * stride + elems) * 4;
    if (elems > 0) check(last <= memBytes, `${name} [${ptr}, ${last}) lies outside the ${memBytes}-byte memory`);
  };
  if (batch > 1) for (const s of strides) check(isInt(s, 0), `batch strides must be integers >= 0, got ${strides.join(', ')}`);
  region('A', p.a, span(rowsA, colsA, p.lda), strides[0]);
  region('B', p.b, span(rowsB, colsB, p.ldb), strides[1]);
  region('C', p.c, span(p.m, p.n, p.ldc), strides[2]);
  if (p.bias) region('bias', p.bias, p.n, 0);
}

/** Arguments of gemm_f32 for the sub-problem rows [m0,m1) x columns [n0,n1) of C. */
export function subArgs(p: GemmPtrArgs, m0: number, m1: number, n0: number, n1: number, ws: number, bl: Blocks): number[] {
  const a = p.transA ? p.a + m0 * 4 : p.a + m0 * p.lda * 4;
  const b = p.transB ? p.b + n0 * p.ldb * 4 : p.b + n0 * 4;
  const c = p.c + (m0 * p.ldc + n0) * 4;
  const bias = p.bias ? p.bias + n0 * 4 : 0;
  return [a, b, c, m1 - m0, n1 - n0, p.k, p.lda, p.ldb, p.ldc, p.transA ? 1 : 0, p.transB ? 1 : 0,
    p.alpha, p.beta, bias, p.relu ? 1 : 0, ws, bl.mcb, bl.kcb, bl.ncb, bl.mr];
}

/** C = alpha op(A) op(B) + beta C (+ bias) (ReLU) over raw pointers, split over ctx.threads: each thread
 *  gets a fixed block of C (rows when m is the longer side, else columns, aligned to the micro-tile) and its
 *  own packing workspace. With gemmTuning.claim, when m is the longer side with 4 micro-tile rows per thread
 *  or more, gemm_f32_claim instead: the threads pack op(B) together and claim row blocks at run time, so
 *  each thread packs only its share of B and a thread the host slows down leaves rows to the other. */
export function gemmPtr(ctx: WasmContext, p: GemmPtrArgs): void {
  checkPtrArgs(ctx, p);
  if (p.m === 0 || p.n === 0) return;
  const jobs = p.m * p.n * p.k >= PARALLEL_MIN_MACS ? Math.min(ctx.threads, MAX_JOBS) : 1;
  const mr = gemmMr(ctx);
  const splitM = p.m / mr >= p.n / GEMM_NR;
  if (jobs > 1 && p.k > 0 && gemmTuning.claim && splitM && p.m >= 4 * mr * jobs) { gemmClaim(ctx, p, jobs, mr); return; }
  const ranges = splitM ? splitRange(p.m, jobs, mr) : splitRange(p.n, jobs, GEMM_NR);
  const args = ranges.map(([s, e], t) => {
    const bl = splitM ? ptrBlocks(p, e - s, p.n, mr) : ptrBlocks(p, p.m, e - s, mr);
    const ws = ctx.workspace(bl.bytes, SLOT0 + t);
    return splitM ? subArgs(p, s, e, 0, p.n, ws, bl) : subArgs(p, 0, p.m, s, e, ws, bl);
  });
  ctx.pool.parallel('gemm_f32', args);
}

/** The deep blocks (deepDefaults) for an m x n x k GEMM of many row blocks. */
function deepBlocks(m: number, n: number, k: number, mr: number): Blocks {
  return blocksWith(m, n, k, mr, gemmTuning.deepKc, gemmTuning.nc, gemmTuning.deepMc);
}

/** gemmPtr's blocks for a thread's m x n share. More than mc rows: the deep blocks (deepDefaults). At most mc
 *  rows, so one A block (gemm_f32's gemm_f32_fewrows path): gemmBlocks, with kc = fewKcTransB when B is
 *  transposed (see fewRowDefaults). */
function ptrBlocks(p: GemmPtrArgs, m: number, n: number, mr: number): Blocks {
  if (m > roundUp(gemmTuning.mc, mr)) return deepBlocks(m, n, p.k, mr);
  if (!p.transB) return gemmBlocks(m, n, p.k, mr);
  return blocksWith(m, n, p.k, mr, gemmTuning.fewKcTransB, gemmTuning.fewNcTransB);
}

/** gemmPtr on `jobs` threads through gemm_f32_claim: column blocks of op(B) as wide as
 *  gemmTuning.claimPackBytes allows for the whole depth k (so a block is packed once, all panels) and at
 *  most gemmTuning.nc, evened out to whole 8-column slivers. */
function gemmClaim(ctx: WasmContext, p: GemmPtrArgs, jobs: number, mr: number): void {
  const maxCols = Math.max(GEMM_NR, Math.min(gemmTuning.nc, Math.floor(gemmTuning.claimPackBytes / (p.k * 4) / GEMM_NR) * GEMM_NR));
  const blocks = Math.ceil(p.n / maxCols);
  const bl = deepBlocks(p.m, roundUp(Math.ceil(p.n / blocks), GEMM_NR), p.k, mr);
  const bpack = ctx.workspace(p.k * bl.ncb * 4 + 64, SLOT_PACKED_B);
  const sync = ctx.workspace(64 * (1 + blocks), SLOT_SYNC);
  ctx.i32.fill(0, sync >> 2, (sync >> 2) + 16 * (1 + blocks));
  const args = Array.from({ length: jobs }, (_, t) => [...subArgs(p, 0, p.m, 0, p.n, ctx.workspace(bl.bytes, SLOT0 + t), bl),
    bpack, t, jobs, sync, gemmTuning.claimMinRows * mr, gemmTuning.claimDiv * jobs]);
  ctx.pool.parallel('gemm_f32_claim', args);
}

/** C_i = alpha op(A_i) op(B_i) + beta C_i (+ bias) (ReLU) for i < batch. Threads claim whole batch entries
 *  when batch >= threads, else each entry is split within as gemmPtr does. */
export function gemmBatchedPtr(ctx: WasmContext, p: GemmBatchedPtrArgs): void {
  check(isInt(p.batch, 0), `batch must be an integer >= 0, got ${String(p.batch)}`);
  if (p.batch === 0) return;
  checkPtrArgs(ctx, p, p.batch, [p.strideA, p.strideB, p.strideC]);
  if (p.m === 0 || p.n === 0) return;
  const threads = Math.min(ctx.threads, MAX_JOBS);
  if (threads === 1 || p.batch * p.m * p.n * p.k < PARALLEL_MIN_MACS) {
    const bl = gemmBlocks(p.m, p.n, p.k, gemmMr(ctx));
    const ws = ctx.workspace(bl.bytes, SLOT0);
    ctx.pool.call('gemm_f32_batched', ...subArgs(p, 0, p.m, 0, p.n, ws, bl), p.batch, p.strideA, p.strideB, p.strideC);
    return;
  }
  if (p.batch < threads) {
    for (let i = 0; i < p.batch; i++) {
      gemmPtr(ctx, { ...p, a: p.a + i * p.strideA * 4, b: p.b + i * p.strideB * 4, c: p.c + i * p.strideC * 4 });
    }
    return;
  }
  // Entries are claimed from an atomic counter (placed after thread 0's packing workspace) rather than
  // split up front, so a thread that the OS deschedules does not leave the other idle at the end.
  const bl = gemmBlocks(p.m, p.n, p.k, gemmMr(ctx));
  const jobs = Math.min(threads, p.batch);
  const ws = Array.from({ length: jobs }, (_, t) => ctx.workspace(bl.bytes + (t === 0 ? 64 : 0), SLOT0 + t));
  const counter = ws[0] + ((bl.bytes + 3) & ~3);
  ctx.i32[counter >> 2] = 0;
  const args = ws.map((w) => [...subArgs(p, 0, p.m, 0, p.n, w, bl), p.batch, p.strideA, p.strideB, p.strideC, counter]);
  ctx.pool.parallel('gemm_f32_batched_claim', args);
}

export const gemmOps: WasmOpTable = {
  gemm(ctx, args) {
    const { m, n, k, transA, transB } = args;
    const c = ctx.ptr(args.c);
    gemmPtr(ctx, {
      a: ctx.ptr(args.a), b: ctx.ptr(args.b), c, m, n, k,
      lda: transA ? m : k, ldb: transB ? k : n, ldc: n, transA: !!transA, transB: !!transB,
      alpha: args.alpha, beta: args.beta, bias: args.bias ? ctx.ptr(args.bias) : 0, relu: !!args.relu,
    });
  },
};
