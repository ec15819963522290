// Reference kernels (gemm family): the plain-loop definition of KernelArgs['gemm'] every backend is tested against.
import type { RefOpTable } from './backend.js';

/** Options of gemmReference, with element offsets and leading dimensions so callers can address sub-matrices. */
export interface GemmReferenceArgs {
  m: number; n: number; k: number;
  transA?: boolean; transB?: boolean;
  alpha?: number; beta?: number;
  /** Leading dimensions in elements; default: the packed row width (k or m for A, n or k for B, n for C). */
  lda?: number; ldb?: number; ldc?: number;
  /** Element offsets into a, b, c, bias. */
  offA?: number; offB?: number; offC?: number; offBias?: number;
  bias?: Float32Array;
  relu?: boolean;
}

/**
 * C[m,n] = alpha * op(A) op(B) + beta * C, then + bias[n], then ReLU. A is [m,k] (row-major, lda), or
 * [k,m] when transA; B is [k,n], or [n,k] when transB. beta = 0 overwrites C (NaN in C does not leak).
 * Sums accumulate in float64 so the reference is at least as accurate as any backend it judges.
 */
export function gemmReference(a: Float32Array, b: Float32Array, c: Float32Array, o: GemmReferenceArgs): void {
  const { m, n, k } = o;
  const transA = !!o.transA, transB = !!o.transB;
  const alpha = o.alpha ?? 1, beta = o.beta ?? 0;
  const lda = o.lda ?? (transA ? m : k), ldb = o.ldb ?? (transB ? k : n), ldc = o.ldc ?? n;
  const offA = o.offA ?? 0, offB = o.offB ?? 0, offC = o.offC ?? 0, offBias = o.offBias ?? 0;
  // Strides of op(A)(i, p) and op(B)(p, j) in the stored arrays.
  const aRow = transA ? 1 : lda, aCol = transA ? lda : 1;
  const bRow = transB ? 1 : ldb, bCol = transB ? ldb : 1;
  const acc = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    acc.fill(0);
    for (let p = 0; p < k; p++) {
      const av = a[offA + i * aRow + p * aCol];
      const bBase = offB + p * bRow;
      for (let j = 0; j < n; j++) acc[j] += av * b[bBase + j * bCol];
    }
    const cBase = offC + i * ldc;
    for (let j = 0; j < n; j++) {
      let v = alpha * acc[j];
      if (beta !== 0) v += beta * c[cBase + j];
      if (o.bias) v += o.bias[offBias + j];
      if (o.relu && v < 0) v = 0; // NaN stays NaN, as f32x4.max does
      c[cBase + j] = v;
    }
  }
}

export const gemmOps: RefOpTable = {
  gemm(args, data) {
    gemmReference(data(args.a), data(args.b), data(args.c), {
      m: args.m, n: args.n, k: args.k, transA: args.transA, transB: args.transB, alpha: args.alpha, beta: args.beta,
      bias: args.bias ? data(args.bias) : undefined, relu: args.relu,
    });
  },
};
