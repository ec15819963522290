// The winograd_map2x2 convolution passes (3x3, pad 1, stride 1 on a 2x2 map; transforms in assembly/map2x2.ts):
// 9 tile GEMMs of n x cin x cout per pass, where im2col multiplies 16 non-zero (pixel, tap) pairs (the
// small-map path) and Winograd F(2x2) 16 transformed positions. Every transform is split over the threads by
// images or input channels; the 9 GEMMs by columns of C, so 2 threads share each one evenly (9 whole GEMMs
// claimed by 2 threads would end 5 against 4).
import { type ConvShape } from '../../../backend.js';
import type { WasmContext } from '../context.js';
import { splitRange } from '../pool.js';
import { timed } from './conv_im2col.js';
import { GEMM_NR, type GemmPtrArgs, gemmBlocks, gemmMr, subArgs } from './gemm.js';

/** Workspaces: conv owns slots 0..9 (no Winograd pass runs inside this one), gemm.ts's packing slots 10.. */
const SLOT_D = 0, SLOT_M = 1, SLOT_U = 2, SLOT_GEMM0 = 10;
/** Positions are padded 16 floats apart so the 9 streams of a transform do not alias in cache. */
const padStride = (elems: number) => elems + 16;
/** Below this many multiply-adds a GEMM or transform runs on one thread. */
const PARALLEL_MIN = 1 << 16;

/** Whether winograd_map2x2 computes this convolution (the contract's algoApplies says the same). */
export function map2x2Applies(s: ConvShape): boolean {
  return s.kh === 3 && s.kw === 3 && s.stride === 1 && s.pad === 1 && s.h === 2 && s.w === 2;
}

/** fn over [0, count) split across the threads when `work` is large enough. */
function split(ctx: WasmContext, fn: string, count: number, work: number, args: (s: number, e: number) => number[]): void {
  const jobs = work >= PARALLEL_MIN ? Math.min(ctx.threads, count) : 1;
  timed(fn.replace(/^map2x2_/, ''), () => ctx.pool.parallel(fn, splitRange(count, jobs).map(([s, e]) => args(s, e))));
}

/** The 9 GEMMs C_j = op(A_j) op(B_j) (+ beta C_j), entries stride* elements apart, each split by columns
 *  over the threads (the same column block of every entry on one thread). */
function gemm9(ctx: WasmContext, p: GemmPtrArgs & { strideA: number; strideB: number; strideC: number }): void {
  const mr = gemmMr(ctx);
  const jobs = 9 * p.m * p.n * p.k >= PARALLEL_MIN * 4 ? Math.min(ctx.threads, Math.ceil(p.n / GEMM_NR)) : 1;
  timed('gemm', () => ctx.pool.parallel('gemm_f32_batched', splitRange(p.n, jobs, GEMM_NR).map(([n0, n1], t) => {
    const bl = gemmBlocks(p.m, n1 - n0, p.k, mr);
    return [...subArgs(p, 0, p.m, n0, n1, ctx.workspace(bl.bytes, SLOT_GEMM0 + t), bl), 9, p.strideA, p.strideB, p.strideC];
  })));
}

/** U = G w G^T (positions padStride(cin*cout) apart). */
function filterTransform(ctx: WasmContext, w: number, s: ConvShape): { u: number; pos: number } {
  const pos = padStride(s.cin * s.cout);
  const u = ctx.workspace(9 * pos * 4 + 64, SLOT_U);
  split(ctx, 'map2x2_filter_transform', s.cin, 9 * s.cin * s.cout, (a, b) => [w, u, s.cin, s.cout, a, b, pos]);
  return { u, pos };
}

/** D = B^T x B of the n images (c channels each) into slot `slot`. */
function inputTransform(ctx: WasmContext, x: number, n: number, c: number, slot: number): { d: number; pos: number } {
  const pos = padStride(n * c);
  const d = ctx.workspace(9 * pos * 4 + 64, slot);
  split(ctx, 'map2x2_input_transform', n, 9 * n * c, (a, b) => [x, d, c, a, b, pos]);
  return { d, pos };
}

/** dM = A dY A^T of the n images (c channels each) into slot `slot`. */
function outputAdjoint(ctx: WasmContext, dy: number, n: number, c: number, slot: number): { d: number; pos: number } {
  const pos = padStride(n * c);
  const d = ctx.workspace(9 * pos * 4 + 64, slot);
  split(ctx, 'map2x2_output_adjoint', n, 9 * n * c, (a, b) => [dy, d, c, a, b, pos]);
  return { d, pos };
}

/** y = conv(x, w) (+ bias) (ReLU): M_j = D_j U_j, y = A^T M A. */
export function forwardMap2x2(ctx: WasmContext, x: number, w: number, bias: number, y: number, s: ConvShape, relu: boolean): void {
  const { u, pos: uPos } = filterTransform(ctx, w, s);
  const { d, pos: dPos } = inputTransform(ctx, x, s.n, s.cin, SLOT_D);
  const mPos = padStride(s.n * s.cout);
  const m = ctx.workspace(9 * mPos * 4 + 64, SLOT_M);
  gemm9(ctx, { a: d, b: u, c: m, m: s.n, n: s.cout, k: s.cin, lda: s.cin, ldb: s.cout, ldc: s.cout, transA: false, transB: false,
    alpha: 1, beta: 0, strideA: dPos, strideB: uPos, strideC: mPos });
  const flags = (bias ? 1 : 0) | (relu ? 2 : 0);
  split(ctx, 'map2x2_output_transform', s.n, 9 * s.n * s.cout, (a, b) => [m, y, bias, s.cout, a, b, mPos, flags]);
}

/** dx = B (dM U^T) B^T with dM = A dY A^T. */
export function backwardDataMap2x2(ctx: WasmContext, dy: number, w: number, dx: number, s: ConvShape): void {
  const { u, pos: uPos } = filterTransform(ctx, w, s);
  const { d: dm, pos: mPos } = outputAdjoint(ctx, dy, s.n, s.cout, SLOT_M);
  const dPos = padStride(s.n * s.cin);
  const dd = ctx.workspace(9 * dPos * 4 + 64, SLOT_D);
  gemm9(ctx, { a: dm, b: u, c: dd, m: s.n, n: s.cin, k: s.cout, lda: s.cout, ldb: s.cout, ldc: s.cin, transA: false, transB: true,
    alpha: 1, beta: 0, strideA: mPos, strideB: uPos, strideC: dPos });
  split(ctx, 'map2x2_input_adjoint', s.n, 9 * s.n * s.cin, (a, b) => [dd, dx, s.cin, a, b, dPos]);
}

/** dw = beta dw + G^T (D^T dM) G. */
export function backwardFilterMap2x2(ctx: WasmContext, x: number, dy: number, dw: number, s: ConvShape, beta: number): void {
  const { d, pos: dPos } = inputTransform(ctx, x, s.n, s.cin, SLOT_D);
  const { d: dm, pos: mPos } = outputAdjoint(ctx, dy, s.n, s.cout, SLOT_M);
  const uPos = padStride(s.cin * s.cout);
  const du = ctx.workspace(9 * uPos * 4 + 64, SLOT_U);
  gemm9(ctx, { a: d, b: dm, c: du, m: s.cin, n: s.cout, k: s.n, lda: s.cin, ldb: s.cout, ldc: s.cout, transA: true, transB: false,
    alpha: 1, beta: 0, strideA: dPos, strideB: mPos, strideC: uPos });
  split(ctx, 'map2x2_filter_adjoint', s.cin, 9 * s.cin * s.cout, (a, b) => [du, dw, s.cin, s.cout, a, b, uPos, beta]);
}
