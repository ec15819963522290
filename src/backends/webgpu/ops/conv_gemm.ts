// The GEMMs of the conv family, C[b] = alpha op(A[b]) op(B[b]) + beta C[b] (+bias, ReLU) with element
// offsets and batch strides: a thin adapter over gemmGpu (ops/gemm.ts, shaders/gemm.wgsl).
import type { Buf } from '../../../backend.js';
import type { WebGpuContext } from '../context.js';
import { splitPieces, sumSlices } from './conv_dispatch.js';
import { gemmGpu } from './gemm.js';

export interface ConvGemmSpec {
  a: Buf | GPUBuffer; b: Buf | GPUBuffer; c: Buf | GPUBuffer;
  m: number; n: number; k: number;
  transA?: boolean; transB?: boolean;
  alpha?: number; beta?: number;
  bias?: Buf; relu?: boolean;
  /** Element offsets of the first matrix in a, b, c. */
  offsetA?: number; offsetB?: number; offsetC?: number;
  /** Independent products and the element strides between them. */
  batch?: number; strideA?: number; strideB?: number; strideC?: number;
}

export function convGemm(ctx: WebGpuContext, s: ConvGemmSpec): void {
  const maxDim = ctx.limits.maxComputeWorkgroupsPerDimension;
  const batch = s.batch ?? 1;
  // gemm.wgsl tiles are at least 32 outputs on a side: bound the grid before dispatching.
  if (Math.ceil(s.m / 32) > maxDim || Math.ceil(s.n / 32) > maxDim || batch > maxDim) {
    throw new Error(`vggrt webgpu conv: a ${s.m}x${s.n} GEMM (batch ${batch}) exceeds the workgroup grid limit; chunk it`);
  }
  gemmGpu(ctx, {
    a: s.a, b: s.b, c: s.c, m: s.m, n: s.n, k: s.k, transA: !!s.transA, transB: !!s.transB,
    alpha: s.alpha, beta: s.beta, bias: s.bias, relu: s.relu, aOffset: s.offsetA, bOffset: s.offsetB, cOffset: s.offsetC,
    batch, strideA: s.strideA, strideB: s.strideB, strideC: s.strideC,
  });
}

/** c = beta*c + A^T B with A [k, m] and B [k, n] (the filter-gradient products, k = output positions).
 *  Their m x n output is small and k long, so one GEMM would occupy a handful of workgroups: split k
 *  into independent pieces (one batched GEMM into workspace `slot`), then add the pieces into c. */
export function convGemmTN(ctx: WebGpuContext, s: { a: Buf | GPUBuffer; offsetA: number; b: Buf | GPUBuffer; offsetB: number;
  c: Buf; m: number; n: number; k: number; beta: number }, slot: number): void {
  const { m, n, k } = s;
  const pieces = splitPieces(ctx, Math.ceil(m / 64) * Math.ceil(n / 64), k, 4 * m * n);
  if (pieces < 2) {
    convGemm(ctx, { a: s.a, offsetA: s.offsetA, transA: true, b: s.b, offsetB: s.offsetB, c: s.c, m, n, k, beta: s.beta });
    return;
  }
  const kc = Math.floor(k / pieces), rest = k - pieces * kc, slices = pieces + (rest > 0 ? 1 : 0);
  // Sized for pieces + 1 slices whatever the remainder, so that later (shorter) chunks of the same
  // operator call never grow, and so never replace, a workspace already used by encoded dispatches.
  const part = ctx.workspace((pieces + 1) * m * n * 4, slot);
  convGemm(ctx, { a: s.a, offsetA: s.offsetA, transA: true, b: s.b, offsetB: s.offsetB, c: part, m, n, k: kc,
    batch: pieces, strideA: kc * m, strideB: kc * n, strideC: m * n });
  if (rest > 0) {
    convGemm(ctx, { a: s.a, offsetA: s.offsetA + pieces * kc * m, transA: true, b: s.b, offsetB: s.offsetB + pieces * kc * n,
      c: part, offsetC: pieces * m * n, m, n, k: rest });
  }
  sumSlices(ctx, part, s.c, slices, m * n, s.beta);
}
