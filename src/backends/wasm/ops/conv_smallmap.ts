// im2col + GEMM for convs on tiny maps (VGG's 2x2 block 5): GEMMs over the valid (pixel, tap) pairs only.
//
// On a 2x2 map with a 3x3 kernel, pad 1, 20 of the 36 (output pixel, tap) pairs read padding: im2col fills
// those columns with zeros and multiplies them anyway. Here each kernel tap t is one GEMM over every pixel pair
// (p, q) it serves in every image: with NHWC activations and HWIO weights, tap t's weights are the contiguous
// [cin, cout] matrix W_t, and  y_p = bias + sum_t x_q W_t,  dx_q = sum_t dy_p W_t^T,  dW_t = beta dW_t +
// sum_p x_q^T dy_p  are accumulating GEMMs whose rows (x_q, y_p, dy_p, dx_q: one pixel of one image each) lie
// anywhere in memory: the AS kernels take a table of row addresses (assembly/gemm.ts, gemm_f32_rows and
// gemm_f32_ktab). im2col's multiplies minus the zero ones (4/9 of them on a 2x2 map), with im2col's rounding.
// One GEMM per tap matters because each one streams its 1 MiB W_t (512 x 512) from memory for only 32-128
// rows: the forward reads W_t in place (packing all nine took 0.9 of a 7.4 ms forward), rows in 6-row tiles
// plus 4-row tails (32 rows = 4*6 + 2*4, no zero rows), and every pass is one dispatch over all its taps; the
// filter gradient's threads take whole taps (dW_t) when those balance.
import { type ConvShape, convOutSize } from '../../../backend.js';
import type { WasmContext } from '../context.js';
import { splitRange } from '../pool.js';
import { GEMM_NR, gemmBlocks, gemmMr } from './gemm.js';

/** Where the tap-skipping path runs and how it splits work. Mutable so tests can force the 2-thread split on small
 *  shapes and the bench can try other settings. maxOutPixels: largest oh*ow taken (see smallMapApplies in
 *  conv_im2col.ts for the measurement); parallelMinMacs: below this many multiply-adds per pass one thread does it
 *  all; fuseRelu false runs ReLU as its own pass (for tests); filterSplit: the filter gradient by whole taps per
 *  thread when they balance ('taps', else columns) or always by columns; kc, mc: the row-table GEMMs' depth and
 *  row blocks (kc 512: the whole depth of VGG's block 5, C written once per tap). */
export const smallMapLimits = {
  maxOutPixels: 9, parallelMinMacs: 1 << 18, fuseRelu: true, filterSplit: 'taps' as 'taps' | 'cols', kc: 512, mc: 132,
};

/** The GEMM packing workspace slots (gemm.ts owns 10..19, one per thread): the AS GEMMs need gemm_f32's layout,
 *  and no gemmPtr call runs inside one of ours. */
const SLOT_GEMM0 = 10;
/** Workspace slot of the row tables and job records (conv's slots are 0..9; im2col and Winograd use 0..8). */
const SLOT_TABLES = 9;
/** Bytes of one job record of gemm_f32_rows_jobs / gemm_f32_ktab_jobs. */
const JOB_BYTES = 32;

/** The (image-independent) pixel pairs of each tap: output pixel p reads input pixel q through tap t. */
function tapPairs(s: ConvShape): { p: number; q: number }[][] {
  const { oh, ow } = convOutSize(s);
  const pairs: { p: number; q: number }[][] = Array.from({ length: s.kh * s.kw }, () => []);
  for (let ky = 0; ky < s.kh; ky++) {
    for (let kx = 0; kx < s.kw; kx++) {
      for (let oy = 0; oy < oh; oy++) {
        const iy = oy * s.stride - s.pad + ky;
        if (iy < 0 || iy >= s.h) continue;
        for (let ox = 0; ox < ow; ox++) {
          const ix = ox * s.stride - s.pad + kx;
          if (ix >= 0 && ix < s.w) pairs[ky * s.kw + kx].push({ p: oy * ow + ox, q: iy * s.w + ix });
        }
      }
    }
  }
  return pairs;
}

/** One row-table GEMM: C pixels cPix[i] += A pixels aPix[i] times W_t (of every image), tap -1: k = 0. */
interface RowJob { tap: number; aPix: number[]; cPix: number[]; beta: number; bias: boolean; relu: boolean }

/**
 * The jobs of a pass whose C pixel c gets sum over taps of A pixel a(t, c) times W_t: taps with more pixels
 * first (the centre tap of a "same" conv covers every pixel: one beta-0 pass); a tap's pixels are split by
 * whether the tap is their first (beta 0, bias) and their last (ReLU), which on VGG's maps never splits a tap.
 * C pixels no tap reaches get a k = 0 job (bias, or zeros).
 */
function rowJobs(pairs: { c: number; a: number }[][], npixC: number, relu: boolean): RowJob[] {
  const order = pairs.map((_, t) => t).filter((t) => pairs[t].length > 0).sort((x, y) => pairs[y].length - pairs[x].length);
  const first = new Int32Array(npixC).fill(-1), last = new Int32Array(npixC).fill(-1);
  for (const t of order) for (const { c } of pairs[t]) { if (first[c] < 0) first[c] = t; last[c] = t; }
  const jobs: RowJob[] = [];
  for (const t of order) {
    const parts = new Map<number, RowJob>();
    for (const { c, a } of pairs[t]) {
      const isFirst = first[c] === t, isLast = relu && last[c] === t, key = (isFirst ? 1 : 0) + (isLast ? 2 : 0);
      let j = parts.get(key);
      if (!j) { j = { tap: t, aPix: [], cPix: [], beta: isFirst ? 0 : 1, bias: isFirst, relu: isLast }; parts.set(key, j); }
      j.aPix.push(a); j.cPix.push(c);
    }
    jobs.push(...[...parts.keys()].sort().map((key) => parts.get(key)!));
  }
  const bare = Array.from({ length: npixC }, (_, c) => c).filter((c) => first[c] < 0);
  if (bare.length) jobs.push({ tap: -1, aPix: bare.map(() => 0), cPix: bare, beta: 0, bias: true, relu });
  return jobs;
}

/**
 * Runs row-table jobs for all images: rows of A at a + (img * aImage + pixel) * k * 4, of C likewise with n
 * columns, W_t at w + t * k * n * 4 ([k][n] read in place, or [n][k] packed transposed when transB). One
 * dispatch for the whole pass: each thread takes a fixed block of C's columns of every job, so no two threads touch
 * the same C element and none waits for another (a split by images, each thread all columns of its images' rows,
 * measured no faster: it reads every W_t twice where this packs the small A twice).
 */
function runRowJobs(ctx: WasmContext, s: ConvShape, jobs: RowJob[], io: { a: number; aImage: number; c: number; cImage: number },
  w: number, bias: number, k: number, n: number, transB: boolean): void {
  const { base, macs, maxRows } = writeRowJobs(ctx, s, jobs, io, w, bias, k, n);
  const parts = macs >= smallMapLimits.parallelMinMacs ? Math.min(ctx.threads, 10) : 1;
  const mr = gemmMr(ctx), tb = transB ? 1 : 0, ldb = transB ? k : n;
  ctx.pool.parallel('gemm_f32_rows_jobs', splitRange(n, parts, GEMM_NR).map(([n0, n1], t) => {
    const bl = rowBlocks(maxRows, n1 - n0, k, mr);
    return [base, jobs.length, n0, n1 - n0, ldb, tb, tb, ctx.workspace(bl.bytes, SLOT_GEMM0 + t), bl.mcb, bl.kcb, bl.ncb, bl.mr];
  }));
}

/** Job plans by pass and shape: they depend on nothing else, and building them costs more than writing the
 *  tables (VGG has a handful of small-map shapes). */
const plans = new Map<string, RowJob[]>();
function memo(pass: string, s: ConvShape, make: () => RowJob[]): RowJob[] {
  const key = `${pass}:${s.n},${s.h},${s.w},${s.cin},${s.cout},${s.kh},${s.kw},${s.stride},${s.pad}`;
  let plan = plans.get(key);
  if (!plan) { if (plans.size >= 64) plans.clear(); plan = make(); plans.set(key, plan); }
  return plan;
}

/** Writes the job records (gemm_f32_rows_jobs' layout) and row tables of `jobs` into one workspace. */
function writeRowJobs(ctx: WasmContext, s: ConvShape, jobs: RowJob[], io: { a: number; aImage: number; c: number; cImage: number },
  w: number, bias: number, k: number, n: number): { base: number; macs: number; maxRows: number } {
  const rowsOf = (j: RowJob) => s.n * j.cPix.length;
  const totalRows = jobs.reduce((sum, j) => sum + rowsOf(j), 0);
  const base = ctx.workspace(jobs.length * JOB_BYTES + 8 * totalRows + 64, SLOT_TABLES);
  const words = new Uint32Array(ctx.memory.buffer, base, (jobs.length * JOB_BYTES) / 4 + 2 * totalRows);
  const floats = new Float32Array(ctx.memory.buffer, base, jobs.length * JOB_BYTES / 4);
  let at = jobs.length * JOB_BYTES / 4, macs = 0, maxRows = 0;
  jobs.forEach((j, i) => {
    const m = rowsOf(j), jk = j.tap < 0 ? 0 : k, arows = at, crows = at + m;
    for (let img = 0, r = 0; img < s.n; img++) {
      for (let e = 0; e < j.cPix.length; e++, r++) {
        words[arows + r] = io.a + (img * io.aImage + j.aPix[e]) * k * 4;
        words[crows + r] = io.c + (img * io.cImage + j.cPix[e]) * n * 4;
      }
    }
    at += 2 * m;
    const o = i * JOB_BYTES / 4;
    words[o] = w + Math.max(j.tap, 0) * k * n * 4; words[o + 1] = base + arows * 4; words[o + 2] = base + crows * 4;
    words[o + 3] = m; words[o + 4] = jk; floats[o + 5] = j.beta; words[o + 6] = j.bias ? bias : 0; words[o + 7] = j.relu ? 1 : 0;
    macs += m * Math.max(jk, 1) * n; maxRows = Math.max(maxRows, m);
  });
  return { base, macs, maxRows };
}

/** Cache blocks of the row-table GEMMs: gemmBlocks with smallMapLimits' kc and mc. */
function rowBlocks(m: number, n: number, k: number, mr: number) {
  const kcb = k > 0 ? Math.ceil(k / Math.ceil(k / smallMapLimits.kc)) : 1;
  const mcb = Math.min(Math.ceil(smallMapLimits.mc / mr) * mr, Math.ceil(m / mr) * mr);
  const bl = gemmBlocks(m, n, k, mr);
  return { ...bl, kcb, mcb, bytes: mcb * kcb * 4 + 64 + kcb * bl.ncb * 4 + 64 + 48 * 4 + 64 };
}

/** y = conv(x, w) (+ bias) (ReLU). Bias enters with each pixel's first GEMM (beta 0), ReLU with its last. */
export function forwardSmallMap(ctx: WasmContext, x: number, w: number, bias: number, y: number, s: ConvShape, relu: boolean): void {
  const { oh, ow } = convOutSize(s);
  const fused = relu && smallMapLimits.fuseRelu;
  const jobs = memo(`f${fused ? 1 : 0}`, s, () => rowJobs(tapPairs(s).map((l) => l.map(({ p, q }) => ({ c: p, a: q }))), oh * ow, fused));
  runRowJobs(ctx, s, jobs, { a: x, aImage: s.h * s.w, c: y, cImage: oh * ow }, w, bias, s.cin, s.cout, false);
  if (relu && !fused) {
    const len = s.n * oh * ow * s.cout, parts = len >= 1 << 16 ? ctx.threads : 1;
    ctx.pool.parallel('activation_relu_f32_forward', splitRange(len, parts, 16).map(([a, b]) => [y + a * 4, y + a * 4, b - a]));
  }
}

/** dx = conv^T(dy, w): dx_q = sum over taps of dy_p(q) W_t^T, each input pixel's first GEMM with beta 0. */
export function backwardDataSmallMap(ctx: WasmContext, dy: number, w: number, dx: number, s: ConvShape): void {
  const { oh, ow } = convOutSize(s);
  const jobs = memo('d', s, () => rowJobs(tapPairs(s).map((l) => l.map(({ p, q }) => ({ c: q, a: p }))), s.h * s.w, false));
  runRowJobs(ctx, s, jobs, { a: dy, aImage: oh * ow, c: dx, cImage: s.h * s.w }, w, 0, s.cout, s.cin, true);
}

/** dw = beta*dw + im2col(x)^T dy over the valid taps only: dW_t = sum over tap t's pixel pairs (all images) of
 *  x_q^T dy_p, one k-table GEMM per tap (gemm_f32_ktab_jobs), all taps in one dispatch; taps no pixel reaches
 *  get beta*dw. */
export function backwardFilterSmallMap(ctx: WasmContext, x: number, dy: number, dw: number, s: ConvShape, beta: number): void {
  const { oh, ow } = convOutSize(s);
  const tapBytes = s.cin * s.cout * 4, pairs = tapPairs(s);
  const taps = pairs.map((_, t) => t).filter((t) => pairs[t].length > 0 || (beta !== 0 && beta !== 1));
  const ks = taps.map((t) => s.n * pairs[t].length), totalK = ks.reduce((a, b) => a + b, 0);
  if (taps.length > 0) {
    const mr = gemmMr(ctx), macs = s.cin * s.cout * Math.max(totalK, 1);
    const threads = macs >= smallMapLimits.parallelMinMacs ? Math.min(ctx.threads, 10) : 1;
    const owner = smallMapLimits.filterSplit === 'taps' ? tapOwners(ks, threads) : undefined;
    // Records grouped by owning thread (all on one list when the threads split columns instead).
    const order = taps.map((_, i) => i);
    if (owner) order.sort((a, b) => owner[a] - owner[b]);
    const base = ctx.workspace(taps.length * JOB_BYTES + 8 * totalK + 64, SLOT_TABLES);
    const words = new Uint32Array(ctx.memory.buffer, base, (taps.length * JOB_BYTES) / 4 + 2 * totalK);
    const floats = new Float32Array(ctx.memory.buffer, base, taps.length * JOB_BYTES / 4);
    let at = taps.length * JOB_BYTES / 4;
    order.forEach((i, slot) => {
      const t = taps[i], k = ks[i], arows = at, brows = at + k;
      for (let img = 0, r = 0; img < s.n; img++) {
        for (const { p, q } of pairs[t]) {
          words[arows + r] = x + (img * s.h * s.w + q) * s.cin * 4;
          words[brows + r] = dy + (img * oh * ow + p) * s.cout * 4;
          r++;
        }
      }
      at += 2 * k;
      const o = slot * JOB_BYTES / 4;
      words[o] = base + arows * 4; words[o + 1] = base + brows * 4; words[o + 2] = dw + t * tapBytes; words[o + 3] = k;
      floats[o + 4] = beta;
    });
    const maxK = Math.max(...ks);
    let args: number[][];
    if (owner) {
      // Whole taps per thread: no packing done twice, each dW_t written by one thread.
      const bl = gemmBlocks(s.cin, s.cout, maxK, mr);
      let first = 0;
      args = Array.from({ length: threads }, (_, th) => {
        const count = owner.filter((o) => o === th).length;
        const a = [base + first * JOB_BYTES, count, s.cin, 0, s.cout, s.cout, ctx.workspace(bl.bytes, SLOT_GEMM0 + th), bl.mcb, bl.kcb, bl.ncb, bl.mr];
        first += count;
        return a;
      });
    } else {
      args = splitRange(s.cout, threads, GEMM_NR).map(([n0, n1], th) => {
        const bl = gemmBlocks(s.cin, n1 - n0, maxK, mr);
        return [base, taps.length, s.cin, n0, n1 - n0, s.cout, ctx.workspace(bl.bytes, SLOT_GEMM0 + th), bl.mcb, bl.kcb, bl.ncb, bl.mr];
      });
    }
    ctx.pool.parallel('gemm_f32_ktab_jobs', args);
  }
  if (beta === 0) zeroTaps(ctx, dw, tapBytes, pairs.map((_, t) => t).filter((t) => pairs[t].length === 0));
}

/** Owning thread of each job (work ks[i]) when whole jobs can be shared out evenly (largest first, each to the
 *  least loaded thread; the busiest within 5% of the mean), else undefined: the threads then split columns. */
function tapOwners(ks: number[], threads: number): number[] | undefined {
  if (threads < 2) return undefined;
  const load = new Array<number>(threads).fill(0), owner = new Array<number>(ks.length).fill(0);
  for (const i of ks.map((_, i) => i).sort((a, b) => ks[b] - ks[a])) {
    const th = load.indexOf(Math.min(...load));
    owner[i] = th; load[th] += Math.max(ks[i], 1);
  }
  const mean = load.reduce((a, b) => a + b, 0) / threads;
  return Math.max(...load) <= 1.05 * mean ? owner : undefined;
}

/** Zero the weight blocks of `taps` (runs of consecutive taps as one range), split over the threads. */
function zeroTaps(ctx: WasmContext, dw: number, tapBytes: number, taps: number[]): void {
  const runs: [number, number][] = [];
  for (const t of taps) {
    const last = runs[runs.length - 1];
    if (last && last[1] === t) last[1] = t + 1; else runs.push([t, t + 1]);
  }
  for (const [t0, t1] of runs) {
    const words = (t1 - t0) * tapBytes / 4;
    const parts = words >= 1 << 18 ? ctx.threads : 1;
    ctx.pool.parallel('im2col_zero_f32', splitRange(words, parts, 16).map(([a, b]) => [dw + t0 * tapBytes + a * 4, (b - a) * 4]));
  }
}
