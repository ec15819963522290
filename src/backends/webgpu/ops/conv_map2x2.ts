// WebGPU passes of winograd_map2x2 (3x3 pad-1 convolution on a 2x2 map, 9 tile GEMMs; the transforms are
// shaders/map2x2.wgsl, the GEMMs one batched convGemm per pass). The wasm twin is ops/conv_map2x2.ts there.
import type { Buf, ConvShape, KernelArgs } from '../../../backend.js';
import { type Binding, type WebGpuContext, f32, grid1d, u32 } from '../context.js';
import { CONV_WG, checkBindable } from './conv_dispatch.js';
import { convGemm } from './conv_gemm.js';

/** Workspace slots: the conv family's U, V and M (slots 1..3 of ops/conv.ts). */
const SLOT_U = 1, SLOT_D = 2, SLOT_M = 3;

function launch(ctx: WebGpuContext, entryPoint: string, buffers: Binding[], rows: number, c: number, flags = 0, beta = 0): void {
  const total = rows * c;
  if (total <= 0) return;
  ctx.dispatch({ shader: 'map2x2', entryPoint, constants: { WG: CONV_WG }, buffers,
    uniforms: [u32(rows), u32(c), u32(flags), u32(total), f32(beta), u32(0), u32(0), u32(0)],
    workgroups: grid1d(total, CONV_WG, ctx.limits.maxComputeWorkgroupsPerDimension) });
}

/** A [9][rows][c] scratch matrix in `slot`, checked against the binding limit. */
function scratch(ctx: WebGpuContext, kernel: string, name: string, rows: number, c: number, slot: number): GPUBuffer {
  checkBindable(ctx, kernel, name, 9 * rows * c);
  return ctx.workspace(9 * rows * c * 4, slot);
}

function filterTransform(ctx: WebGpuContext, kernel: string, w: Buf, s: ConvShape): GPUBuffer {
  const u = scratch(ctx, kernel, 'the transformed filter', s.cin, s.cout, SLOT_U);
  launch(ctx, 'map2x2_filter_transform', [w, u], s.cin, s.cout);
  return u;
}

/** y = A^T [(B^T x B) U] A (+ bias) (ReLU). */
export function forwardMap2x2(ctx: WebGpuContext, a: KernelArgs['conv2d_forward']): void {
  const s = a.shape, k = 'conv2d_forward';
  const u = filterTransform(ctx, k, a.w, s);
  const d = scratch(ctx, k, 'the transformed input', s.n, s.cin, SLOT_D);
  const m = scratch(ctx, k, 'the tile products', s.n, s.cout, SLOT_M);
  launch(ctx, 'map2x2_input_transform', [a.x, d], s.n, s.cin);
  convGemm(ctx, { a: d, b: u, c: m, m: s.n, n: s.cout, k: s.cin, batch: 9, strideA: s.n * s.cin, strideB: s.cin * s.cout, strideC: s.n * s.cout });
  launch(ctx, 'map2x2_output_transform', [m, a.bias ?? m, a.y], s.n, s.cout, (a.bias ? 1 : 0) | (a.relu ? 2 : 0));
}

/** dx = B [(A dY A^T) U^T] B^T. */
export function backwardDataMap2x2(ctx: WebGpuContext, a: KernelArgs['conv2d_backward_data']): void {
  const s = a.shape, k = 'conv2d_backward_data';
  const u = filterTransform(ctx, k, a.w, s);
  const dm = scratch(ctx, k, 'the transformed output gradient', s.n, s.cout, SLOT_M);
  const dd = scratch(ctx, k, 'the transformed input gradient', s.n, s.cin, SLOT_D);
  launch(ctx, 'map2x2_output_adjoint', [a.dy, dm], s.n, s.cout);
  convGemm(ctx, { a: dm, b: u, transB: true, c: dd, m: s.n, n: s.cin, k: s.cout, batch: 9, strideA: s.n * s.cout,
    strideB: s.cin * s.cout, strideC: s.n * s.cin });
  launch(ctx, 'map2x2_input_adjoint', [dd, a.dx], s.n, s.cin);
}

/** dw = beta dw + G^T [(B^T x B)^T (A dY A^T)] G. */
export function backwardFilterMap2x2(ctx: WebGpuContext, a: KernelArgs['conv2d_backward_filter']): void {
  const s = a.shape, k = 'conv2d_backward_filter';
  const d = scratch(ctx, k, 'the transformed input', s.n, s.cin, SLOT_D);
  const dm = scratch(ctx, k, 'the transformed output gradient', s.n, s.cout, SLOT_M);
  const du = scratch(ctx, k, 'the transformed filter gradient', s.cin, s.cout, SLOT_U);
  launch(ctx, 'map2x2_input_transform', [a.x, d], s.n, s.cin);
  launch(ctx, 'map2x2_output_adjoint', [a.dy, dm], s.n, s.cout);
  convGemm(ctx, { a: d, transA: true, b: dm, c: du, m: s.cin, n: s.cout, k: s.n, batch: 9, strideA: s.n * s.cin,
    strideB: s.n * s.cout, strideC: s.cin * s.cout });
  launch(ctx, 'map2x2_filter_adjoint', [du, a.dw], s.cin, s.cout, 0, a.beta);
}
