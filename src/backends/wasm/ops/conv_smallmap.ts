// im2col + GEMM for convs on tiny maps (VGG's 2x2 block 5): GEMMs over the valid (pixel, tap) pairs only.
//
// On a 2x2 map with a 3x3 kernel, pad 1, 20 of the 36 (output pixel, tap) pairs read padding: im2col fills
// those columns with zeros and multiplies them anyway. Here each kernel tap t is one GEMM (or a few) over
// the output pixels where it reads the image: with NHWC activations and HWIO weights, tap t's weights are
// the contiguous [cin, cout] matrix W_t, and the pixels p it serves, with the input pixels q(p) they read,
// are evenly strided rows of y and x when they form whole images (the centre tap of a "same" conv: x and y
// themselves), or whole columns of every image (a tap in the kernel's centre row), else one pixel of every
// image. So  y_p = bias + sum_t x_q(p) W_t,  dx_q = sum_t dy_p W_t^T,  dW_t = beta dW_t + sum_p x_q(p)^T dy_p
// are accumulating strided GEMMs with no col matrix and no transform: im2col's multiplies minus the zero ones
// (4/9 of im2col's remain on a 2x2 map, as many as Winograd F(2x2) but exact), with im2col's rounding.
// Grouping pixels per tap matters: every GEMM call packs its W_t, and packing a 512x512 W_t from L3 costs
// about as much as multiplying it by 32 rows, so each W_t should be packed for as many rows as possible.
// Every GEMM runs the AS gemm_f32 on each thread over a fixed block of C's columns (cout, or cin for the
// data gradient), so 2 threads split every GEMM evenly and the pass needs only the GEMM packing buffers.
import { type ConvShape, convOutSize } from '../../../backend.js';
import type { WasmContext } from '../context.js';
import { splitRange } from '../pool.js';
import { GEMM_NR, gemmBlocks, gemmMr } from './gemm.js';

/** Where the tap-skipping path runs, and the GEMM size below which one thread does it alone. Mutable so
 *  tests can force the 2-thread split on small shapes and the bench can try other thresholds.
 *  maxOutPixels: largest oh*ow taken (see smallMapApplies in conv_im2col.ts for the measurement);
 *  fuseRelu false runs the separate ReLU pass that unfusable job orders need (for tests). */
export const smallMapLimits = { maxOutPixels: 9, parallelMinMacs: 1 << 18, fuseRelu: true };

/** The GEMM packing workspace slots (gemm.ts owns 10..19, one per thread): gemm_f32 needs exactly that
 *  layout, and no gemmPtr call runs inside one of ours. */
const SLOT_GEMM0 = 10;

/** Output pixels p = p0 + i*pStride and the input pixels q = q0 + i*qStride they read through one tap,
 *  for rows i < count per image (per-image strides oh*ow and h*w follow from the shape). rows = n*count
 *  when the rows of all images are evenly strided (whole images or whole columns), else count is 1. */
interface Group { tap: number; p0: number; q0: number; count: number; pStride: number; qStride: number }

/** The row groups of every tap, taps in row-major order. */
function tapGroups(s: ConvShape): Group[] {
  const { oh, ow } = convOutSize(s);
  const range = (k: number, size: number, out: number) => {
    // Output coordinates o whose input o*stride - pad + k lies in [0, size).
    const o0 = Math.max(0, Math.ceil((s.pad - k) / s.stride)), o1 = Math.min(out, Math.floor((size - 1 + s.pad - k) / s.stride) + 1);
    return [o0, Math.max(o0, o1)];
  };
  const groups: Group[] = [];
  for (let ky = 0; ky < s.kh; ky++) {
    const [oy0, oy1] = range(ky, s.h, oh);
    const allRows = oy0 === 0 && oy1 === oh && oh * s.stride === s.h;
    for (let kx = 0; kx < s.kw; kx++) {
      const tap = ky * s.kw + kx;
      const [ox0, ox1] = range(kx, s.w, ow);
      const q = (oy: number, ox: number) => (oy * s.stride - s.pad + ky) * s.w + ox * s.stride - s.pad + kx;
      if (oy0 >= oy1 || ox0 >= ox1) continue;
      if (allRows && s.stride === 1 && ox0 === 0 && ox1 === ow && ow === s.w) {
        groups.push({ tap, p0: 0, q0: q(0, 0), count: oh * ow, pStride: 1, qStride: 1 });
      } else if (allRows) {
        for (let ox = ox0; ox < ox1; ox++) groups.push({ tap, p0: ox, q0: q(0, ox), count: oh, pStride: ow, qStride: s.stride * s.w });
      } else {
        for (let oy = oy0; oy < oy1; oy++) {
          for (let ox = ox0; ox < ox1; ox++) groups.push({ tap, p0: oy * ow + ox, q0: q(oy, ox), count: 1, pStride: 0, qStride: 0 });
        }
      }
    }
  }
  return groups;
}

/** One GEMM C[m, cols] = op(A) op(B) (+ beta C) (+ bias) (ReLU); pointers in bytes, strides in elements. */
interface Job {
  a: number; b: number; c: number; m: number; k: number; lda: number; ldb: number; ldc: number;
  transA: boolean; transB: boolean; beta: number; bias: number; relu: boolean;
}

/** Runs the jobs in order, each split over the threads by column blocks of C (multiples of 8 wide). */
function runJobs(ctx: WasmContext, jobs: Job[], cols: number): void {
  const mr = gemmMr(ctx);
  for (const j of jobs) {
    // k = 0 jobs (C = beta*C + bias) still cost m*cols stores.
    const parts = j.m * Math.max(j.k, 1) * cols >= smallMapLimits.parallelMinMacs ? Math.min(ctx.threads, 10) : 1;
    const args = splitRange(cols, parts, GEMM_NR).map(([n0, n1], t) => {
      const bl = gemmBlocks(j.m, n1 - n0, j.k, mr);
      const ws = ctx.workspace(bl.bytes, SLOT_GEMM0 + t);
      const b = j.transB ? j.b + n0 * j.ldb * 4 : j.b + n0 * 4;
      return [j.a, b, j.c + n0 * 4, j.m, n1 - n0, j.k, j.lda, j.ldb, j.ldc, j.transA ? 1 : 0, j.transB ? 1 : 0,
        1, j.beta, j.bias ? j.bias + n0 * 4 : 0, j.relu ? 1 : 0, ws, bl.mcb, bl.kcb, bl.ncb, bl.mr];
    });
    ctx.pool.parallel('gemm_f32', args);
  }
}

/** The rows of one group as GEMM rows: m and the row strides of the two sides (elements). With count > 1
 *  the n images' rows interleave evenly: image stride = count * row stride (checked by tapGroups). */
function rows(g: Group, s: ConvShape, pImage: number, qImage: number) {
  return g.count > 1
    ? { m: s.n * g.count, pRow: g.pStride, qRow: g.qStride }
    : { m: s.n, pRow: pImage, qRow: qImage };
}

/** One job per group, in order, each writing C pixels that are all untouched so far (beta 0) or all
 *  touched (beta 1): a group that would mix them is split into single pixels. `pixels` lists the C pixels
 *  a group writes in one image. Returns the jobs, which pixels some job wrote, and each pixel's last job. */
function accumulate(groups: Group[], pixels: (g: Group) => number[], npix: number,
  make: (g: Group, beta: number) => Job): { jobs: Job[]; covered: Uint8Array; lastOf: Int32Array } {
  const covered = new Uint8Array(npix), lastOf = new Int32Array(npix).fill(-1);
  const jobs: Job[] = [];
  const emit = (g: Group) => {
    const px = pixels(g);
    const fresh = px.filter((p) => !covered[p]).length;
    if (fresh > 0 && fresh < px.length) {
      // Mixed: one pixel per job (count 1 with the same per-pixel offsets).
      for (let i = 0; i < g.count; i++) emit({ ...g, p0: g.p0 + i * g.pStride, q0: g.q0 + i * g.qStride, count: 1, pStride: 0, qStride: 0 });
      return;
    }
    for (const p of px) { covered[p] = 1; lastOf[p] = jobs.length; }
    jobs.push(make(g, fresh ? 0 : 1));
  };
  for (const g of groups) emit(g);
  return { jobs, covered, lastOf };
}

/** y = conv(x, w) (+ bias) (ReLU). Bias enters with each pixel's first GEMM (beta 0), ReLU with its last. */
export function forwardSmallMap(ctx: WasmContext, x: number, w: number, bias: number, y: number, s: ConvShape, relu: boolean): void {
  const { oh, ow } = convOutSize(s);
  const npix = oh * ow, ldy = npix * s.cout;
  const groups = tapGroups(s).sort((a, b) => b.count - a.count); // whole-image groups first: one beta-0 pass
  const { jobs, covered, lastOf } = accumulate(groups, (g) => Array.from({ length: g.count }, (_, i) => g.p0 + i * g.pStride), npix, (g, beta) => {
    const r = rows(g, s, npix, s.h * s.w);
    return {
      a: x + g.q0 * s.cin * 4, lda: r.qRow * s.cin, b: w + g.tap * s.cin * s.cout * 4, ldb: s.cout,
      c: y + g.p0 * s.cout * 4, ldc: r.pRow * s.cout, m: r.m, k: s.cin, transA: false, transB: false,
      beta, bias: beta === 0 ? bias : 0, relu: false,
    };
  });
  // A pixel that sees only padding is bias: a k = 0 GEMM writes C = bias.
  for (let p = 0; p < npix; p++) {
    if (covered[p]) continue;
    lastOf[p] = jobs.length;
    jobs.push({ a: x, lda: 1, b: w, ldb: s.cout, c: y + p * s.cout * 4, ldc: ldy, m: s.n, k: 0,
      transA: false, transB: false, beta: 0, bias, relu: false });
  }
  let reluPass = false;
  if (relu) {
    // Fuse ReLU into the jobs that are the last for all or none of their pixels (a 2x2 map always is).
    const lastCount = new Int32Array(jobs.length);
    for (let p = 0; p < npix; p++) lastCount[lastOf[p]]++;
    reluPass = !smallMapLimits.fuseRelu || jobs.some((j, i) => lastCount[i] > 0 && lastCount[i] !== j.m / s.n); // m = n * pixels per image
    if (!reluPass) jobs.forEach((j, i) => { j.relu = lastCount[i] > 0; });
  }
  runJobs(ctx, jobs, s.cout);
  if (reluPass) {
    const len = s.n * ldy;
    const parts = len >= 1 << 16 ? ctx.threads : 1;
    ctx.pool.parallel('activation_relu_f32_forward', splitRange(len, parts, 16).map(([a, b]) => [y + a * 4, y + a * 4, b - a]));
  }
}

/** dx = conv^T(dy, w): dx_q = sum over taps of dy_p(q) W_t^T, each input pixel's first GEMM with beta 0. */
export function backwardDataSmallMap(ctx: WasmContext, dy: number, w: number, dx: number, s: ConvShape): void {
  const { oh, ow } = convOutSize(s);
  const npix = s.h * s.w, ldx = npix * s.cin;
  const groups = tapGroups(s).sort((a, b) => b.count - a.count);
  const { jobs, covered } = accumulate(groups, (g) => Array.from({ length: g.count }, (_, i) => g.q0 + i * g.qStride), npix, (g, beta) => {
    const r = rows(g, s, oh * ow, npix);
    return {
      a: dy + g.p0 * s.cout * 4, lda: r.pRow * s.cout, b: w + g.tap * s.cin * s.cout * 4, ldb: s.cout,
      c: dx + g.q0 * s.cin * 4, ldc: r.qRow * s.cin, m: r.m, k: s.cout, transA: false, transB: true,
      beta, bias: 0, relu: false,
    };
  });
  // An input pixel no output reads (stride > 1, or pad 0 edges) gets zeros.
  for (let q = 0; q < npix; q++) {
    if (covered[q]) continue;
    jobs.push({ a: dy, lda: 1, b: w, ldb: s.cout, c: dx + q * s.cin * 4, ldc: ldx, m: s.n, k: 0,
      transA: false, transB: true, beta: 0, bias: 0, relu: false });
  }
  runJobs(ctx, jobs, s.cin);
}

/** dw = beta*dw + im2col(x)^T dy over the valid taps only: dW_t = sum over tap t's groups of x_q^T dy_p
 *  (the group's rows are the GEMM's k); taps no pixel reaches get beta*dw. */
export function backwardFilterSmallMap(ctx: WasmContext, x: number, dy: number, dw: number, s: ConvShape, beta: number): void {
  const { oh, ow } = convOutSize(s);
  const npix = oh * ow, tapBytes = s.cin * s.cout * 4;
  const seen = new Uint8Array(s.kh * s.kw);
  const jobs: Job[] = tapGroups(s).map((g) => {
    const r = rows(g, s, npix, s.h * s.w);
    const job: Job = {
      a: x + g.q0 * s.cin * 4, lda: r.qRow * s.cin, b: dy + g.p0 * s.cout * 4, ldb: r.pRow * s.cout,
      c: dw + g.tap * tapBytes, ldc: s.cout, m: s.cin, k: r.m, transA: true, transB: false,
      beta: seen[g.tap] ? 1 : beta, bias: 0, relu: false,
    };
    seen[g.tap] = 1;
    return job;
  });
  // Taps no pixel reaches: dW_t = beta*dW_t. Nothing to do for beta 1; beta 0 is a memory fill (on a 1x1 map
  // that is 8 of the 9 taps, more time than the one GEMM), anything else a k = 0 GEMM.
  const unreached: number[] = [];
  for (let t = 0; t < s.kh * s.kw; t++) {
    if (seen[t] || beta === 1) continue;
    if (beta === 0) unreached.push(t);
    else jobs.push({ a: x, lda: s.cin, b: dy, ldb: s.cout, c: dw + t * tapBytes, ldc: s.cout, m: s.cin, k: 0,
      transA: true, transB: false, beta, bias: 0, relu: false });
  }
  runJobs(ctx, jobs, s.cout);
  zeroTaps(ctx, dw, tapBytes, unreached);
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
