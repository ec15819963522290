// GEMM on WebGPU: the tiled gemm.wgsl kernel, tile sizes chosen from the device limits, and gemmGpu(),
// the pointer-level entry the conv operators use (offsets, leading dimensions, batches).
import { type Buf, KernelArgumentError } from '../../../backend.js';
import { type WebGpuContext, type WebGpuOpTable, f32, grid1d, u32 } from '../context.js';

export interface GemmGpuArgs {
  a: Buf | GPUBuffer; aOffset?: number;
  b: Buf | GPUBuffer; bOffset?: number;
  c: Buf | GPUBuffer; cOffset?: number;
  m: number; n: number; k: number;
  /** Leading dimensions in elements; default to the packed row length (k or m for A, n or k for B, n for C). */
  lda?: number; ldb?: number; ldc?: number;
  transA: boolean; transB: boolean;
  alpha?: number; beta?: number;
  /** bias[biasOffset + j] is added to column j of every batch. */
  bias?: Buf | GPUBuffer; biasOffset?: number;
  relu?: boolean;
  /** Number of independent GEMMs; batch i uses A + i*strideA, B + i*strideB, C + i*strideC. */
  batch?: number; strideA?: number; strideB?: number; strideC?: number;
  /** Kernel choice; 'auto' (default) takes the large-tile vec4 kernel when m and n fill its tiles. */
  variant?: GemmVariant;
  /** Number of k chunks (split-K); default: chosen when C has few tiles and k is long (see splitKFor). */
  splitK?: number;
}

/** Workspace slot of gemmGpu's split-K partial products (conv uses 0..4, layers 8..10). */
export const GEMM_SPLITK_SLOT = 11;
const TILES_WANTED = 256; // workgroups that keep a large GPU busy
const MIN_K_PER_SPLIT = 512;

/** Split-K factor: 1 unless C has fewer than TILES_WANTED tiles and k is long enough to share out. */
export function splitKFor(ctx: WebGpuContext, m: number, n: number, k: number, batch: number, variant: GemmVariant = 'auto'): number {
  const t = gemmTile(ctx, m, n, variant);
  const tiles = Math.ceil(m / t.bm) * Math.ceil(n / t.bn) * batch;
  if (batch !== 1 || tiles >= TILES_WANTED || k < 2 * MIN_K_PER_SPLIT) return 1;
  const byBinding = Math.floor(ctx.limits.maxStorageBufferBindingSize / (m * n * 4));
  return Math.max(1, Math.min(Math.ceil(TILES_WANTED / tiles), Math.floor(k / MIN_K_PER_SPLIT), 64, byBinding));
}

export type GemmVariant = 'auto' | 'tile64' | 'vec4' | 'vec4n64' | 'vec4s64';

export interface GemmTile {
  /** Kernel id for benches, the tuning cache and errors (STYLE.md habit 1). */
  name: string; shader: string; entryPoint: string; constants: Record<string, number>; bm: number; bn: number;
}

/** The kernel a GEMM of this size runs. Small: gemm.wgsl, 64x64 tiles (16x16 threads of 4x4 on core,
 *  16x8 threads of 8x4 within compat's 128 invocations). Large (m, n >= 128): gemm_vec4.wgsl, 8x8 register
 *  tiles read as vec4 (128x128 tiles on core, 64x128 in compat). Tall and 64 to 127 wide (m >= 128; the
 *  64-channel VGG layers' im2col and Winograd GEMMs): the same vec4 kernel on 128x64 tiles (8x16 threads),
 *  which keeps the 8x8 register tiles without wasting half of a 128-wide tile. On a software adapter the
 *  small products also take the vec4 kernel (64x64 tiles on 8x8 threads), see below. */
export function gemmTile(ctx: WebGpuContext, m = 0, n = 0, variant: GemmVariant = 'auto'): GemmTile {
  const wgY = ctx.maxInvocations >= 256 ? 16 : 8;
  const narrow = variant === 'vec4n64' || (variant === 'auto' && m >= 128 && n >= 64 && n < 128);
  if (narrow) {
    const c = { WG_X: 8, WG_Y: 16, TM: 8, TN: 8, BK: 8 };
    const bm = c.WG_Y * c.TM, bn = c.WG_X * c.TN;
    return { name: `gemm_f32_tile${bm}x${bn}_vec4`, shader: 'gemm_vec4', entryPoint: 'gemm_f32_tiled_vec4', constants: c, bm, bn };
  }
  const large = variant === 'vec4' || (variant === 'auto' && m >= 128 && n >= 128);
  // A CPU-emulated adapter (lavapipe) runs the scalar 4x4-per-thread kernel at half the speed of the vec4
  // kernel with 8x8 register tiles on 8x8 threads (64x64 tiles; measured on 64-wide conv GEMMs, 2.7-3.6 vs
  // 5.3-6.4 GFLOP/s): small products take that there.
  if (!large && (variant === 'vec4s64' || (variant === 'auto' && ctx.software))) {
    const c = { WG_X: 8, WG_Y: 8, TM: 8, TN: 8, BK: 8 };
    return { name: 'gemm_f32_tile64x64_vec4', shader: 'gemm_vec4', entryPoint: 'gemm_f32_tiled_vec4', constants: c, bm: 64, bn: 64 };
  }
  if (large) {
    const c = { WG_X: 16, WG_Y: wgY, TM: 8, TN: 8, BK: 8 };
    const bm = c.WG_Y * c.TM, bn = c.WG_X * c.TN;
    return { name: `gemm_f32_tile${bm}x${bn}_vec4`, shader: 'gemm_vec4', entryPoint: 'gemm_f32_tiled_vec4', constants: c, bm, bn };
  }
  const c = { WG_X: 16, WG_Y: wgY, TM: 64 / wgY, TN: 4, BK: 16 };
  const bm = c.WG_Y * c.TM, bn = c.WG_X * c.TN;
  return { name: `gemm_f32_tile${bm}x${bn}`, shader: 'gemm', entryPoint: 'gemm_f32_tiled', constants: c, bm, bn };
}

const aligned = (...v: number[]): boolean => v.every((x) => x % 4 === 0);

const dummies = new WeakMap<GPUDevice, GPUBuffer>();
/** A 16-byte buffer bound where the shader declares a binding the call does not use (bias). */
function dummy(device: GPUDevice): GPUBuffer {
  let d = dummies.get(device);
  if (!d) dummies.set(device, (d = device.createBuffer({ label: 'vggrt dummy', size: 16, usage: GPUBufferUsage.STORAGE })));
  return d;
}

const U32_MAX = 0xffffffff;

export function gemmGpu(ctx: WebGpuContext, g: GemmGpuArgs): void {
  const { m, n, k } = g;
  const batch = g.batch ?? 1;
  if (m === 0 || n === 0 || batch === 0) return;
  const lda = g.lda ?? (g.transA ? m : k);
  const ldb = g.ldb ?? (g.transB ? k : n);
  const ldc = g.ldc ?? n;
  const vals = [m, n, k, lda, ldb, ldc, g.aOffset ?? 0, g.bOffset ?? 0, g.cOffset ?? 0, g.strideA ?? 0, g.strideB ?? 0, g.strideC ?? 0, g.biasOffset ?? 0];
  for (const v of vals) {
    if (!Number.isInteger(v) || v < 0 || v > U32_MAX) throw new KernelArgumentError('gemm', `sizes, offsets and strides must be u32 integers, got ${v}`);
  }
  const splits = g.splitK ?? splitKFor(ctx, m, n, k, batch, g.variant);
  if (splits > 1) { splitK(ctx, g, splits, lda, ldb, ldc); return; }
  const t = gemmTile(ctx, m, n, g.variant);
  const [aOff, bOff, sA, sB] = [g.aOffset ?? 0, g.bOffset ?? 0, g.strideA ?? 0, g.strideB ?? 0];
  const vecA = aligned(g.transA ? m : k, lda, aOff, batch > 1 ? sA : 0);
  const vecB = aligned(g.transB ? k : n, ldb, bOff, batch > 1 ? sB : 0);
  ctx.dispatch({
    shader: t.shader, entryPoint: t.entryPoint,
    constants: t.constants,
    buffers: [g.a, g.b, g.c, g.bias ?? dummy(ctx.device)],
    uniforms: [u32(m), u32(n), u32(k), u32(lda), u32(ldb), u32(ldc), u32(g.aOffset ?? 0), u32(g.bOffset ?? 0), u32(g.cOffset ?? 0),
      u32(g.strideA ?? 0), u32(g.strideB ?? 0), u32(g.strideC ?? 0), f32(g.alpha ?? 1), f32(g.beta ?? 0), u32(g.biasOffset ?? 0),
      u32((g.transA ? 1 : 0) | (g.transB ? 2 : 0) | (g.bias ? 4 : 0) | (g.relu ? 8 : 0) | (vecA ? 16 : 0) | (vecB ? 32 : 0))],
    workgroups: [Math.ceil(n / t.bn), Math.ceil(m / t.bm), batch],
  });
}

export const gemmOps: WebGpuOpTable = {
  gemm(ctx, a) {
    gemmGpu(ctx, { a: a.a, b: a.b, c: a.c, m: a.m, n: a.n, k: a.k, transA: a.transA, transB: a.transB,
      alpha: a.alpha, beta: a.beta, bias: a.bias, relu: a.relu });
  },
};

/** Long-k GEMM with few output tiles: chunk s of k (a multiple of 16 long, so vec4 alignment holds)
 *  writes its partial product into the workspace; one pass sums the chunks and applies the epilogue. */
function splitK(ctx: WebGpuContext, g: GemmGpuArgs, splits: number, lda: number, ldb: number, ldc: number): void {
  const { m, n, k } = g;
  if ((g.batch ?? 1) !== 1) throw new KernelArgumentError('gemm', 'split-K needs batch 1');
  const chunk = Math.ceil(k / splits / 16) * 16;
  const parts = Math.ceil(k / chunk);
  const w = ctx.workspace(parts * m * n * 4, GEMM_SPLITK_SLOT);
  // A Buf never owns a workspace; a raw GPUBuffer operand could be this very slot.
  if ([g.a, g.b, g.c, g.bias].includes(w)) throw new KernelArgumentError('gemm', `workspace slot ${GEMM_SPLITK_SLOT} is gemmGpu's own`);
  const aOff = g.aOffset ?? 0, bOff = g.bOffset ?? 0;
  for (let s = 0; s < parts; s++) {
    const ks = s * chunk, kc = Math.min(chunk, k - ks);
    gemmGpu(ctx, { a: g.a, aOffset: aOff + (g.transA ? ks * lda : ks), b: g.b, bOffset: bOff + (g.transB ? ks : ks * ldb),
      c: w, cOffset: s * m * n, m, n, k: kc, lda, ldb, ldc: n, transA: g.transA, transB: g.transB, alpha: 1, beta: 0,
      variant: g.variant, splitK: 1 });
  }
  ctx.dispatch({
    shader: 'gemm', entryPoint: 'gemm_f32_splitk_reduce', buffers: [w, g.c, g.bias ?? dummy(ctx.device)],
    uniforms: [u32(m), u32(n), u32(parts), u32(ldc), u32(g.cOffset ?? 0), u32(g.biasOffset ?? 0), f32(g.alpha ?? 1), f32(g.beta ?? 0),
      u32((g.bias ? 4 : 0) | (g.relu ? 8 : 0))],
    workgroups: grid1d(m * n, 64, ctx.limits.maxComputeWorkgroupsPerDimension),
  });
}
