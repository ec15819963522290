// What a WebGPU kernel operator sees: the device, its limits, Buf -> GPUBuffer, workspaces and dispatch().
//
// How an operator runs a WGSL entry point (see ops/layers.ts for many small examples):
//
//   ctx.dispatch({
//     shader: 'activation',                 // shaders/activation.wgsl
//     entryPoint: 'activation_relu_forward',
//     constants: { WG: 64 },                // WGSL `override` constants; part of the pipeline cache key
//     buffers: [args.x, args.y],            // @group(0) @binding(0), @binding(1), ... in this order
//     uniforms: [u32(args.length)],         // one uniform struct at @binding(buffers.length)
//     workgroups: [Math.ceil(args.length / 64)],
//   });
//
// WGSL side of that call:
//   struct Params { length: u32 }
//   @group(0) @binding(0) var<storage, read> x: array<f32>;
//   @group(0) @binding(1) var<storage, read_write> y: array<f32>;
//   @group(0) @binding(2) var<uniform> p: Params;
//
// Rules (the pipeline layout is 'auto', derived from the entry point):
// - Every buffer passed must be statically used by the entry point, and the entry point may use no
//   other binding of group 0; likewise the uniform struct is bound iff `uniforms` is given.
// - `var<storage, read>` for inputs, `read_write` for outputs. The same GPUBuffer may not be bound
//   twice in one dispatch when either binding is read_write (WebGPU usage rule): in-place kernels need
//   an entry point that binds the buffer once (see activation_relu_forward_inplace).
// - At most ctx.maxStorageBuffers storage buffers (4 in compatibility mode) and ctx.maxInvocations
//   invocations per workgroup (128 in compatibility mode): choose workgroup sizes through constants.
// - Uniform fields are 4-byte scalars packed in order: u32(v), i32(v), f32(v). Put them in a WGSL
//   struct of scalar u32/i32/f32 members in the same order (no vec types: they would need padding).
//   At most 64 fields.
// - A Buf binds its elements padded to a multiple of 16 bytes (so array<vec4<f32>> views are valid); a
//   GPUBuffer (workspace) binds whole. At most limits.maxStorageBufferBindingSize bytes per binding
//   (dispatch throws beyond): split larger work. Shaders must bound every access by sizes from the
//   uniforms, never by arrayLength().
// - Offsets into buffers go in the uniforms (in elements): binding offsets must be 256-byte aligned.
// - Workgroup counts per dimension are at most ctx.limits.maxComputeWorkgroupsPerDimension (65535):
//   use grid-stride loops or a second dimension for large sizes (see grid1d()).
// - Dispatches run in issue order; WebGPU inserts the barriers between dispatches, so a dispatch sees
//   everything earlier ones wrote.
import type { Buf, KernelArgs, KernelId } from '../../backend.js';

export type UniformField = { readonly t: 'u32' | 'i32' | 'f32'; readonly v: number };
export const u32 = (v: number): UniformField => ({ t: 'u32', v });
export const i32 = (v: number): UniformField => ({ t: 'i32', v });
export const f32 = (v: number): UniformField => ({ t: 'f32', v });

/** A binding of part of a buffer; offset and size in bytes (offset a multiple of 256). */
export interface BufferRange { buffer: Buf | GPUBuffer; offset?: number; size?: number }
export type Binding = Buf | GPUBuffer | BufferRange;

export interface DispatchSpec {
  /** Shader family file name without .wgsl, e.g. 'gemm'. */
  shader: string;
  entryPoint: string;
  /** Values of WGSL `override` constants (numbers; booleans as 0/1). */
  constants?: Record<string, number>;
  buffers: Binding[];
  uniforms?: UniformField[];
  workgroups: [number, number?, number?];
}

export interface WebGpuContext {
  readonly device: GPUDevice;
  /** True in compatibility mode (OpenGL ES / GL backends): smaller limits, see maxStorageBuffers. */
  readonly compat: boolean;
  /** True on a CPU-emulated adapter (Mesa lavapipe/llvmpipe, SwiftShader): it runs a workgroup's
   *  invocations as SIMD lanes of one CPU thread, so tile choices that suit GPUs can cost it 2x. */
  readonly software?: boolean;
  readonly limits: GPUSupportedLimits;
  /** Storage buffers one entry point may bind: 4 in compatibility mode, else the device limit. */
  readonly maxStorageBuffers: number;
  /** Invocations per workgroup allowed: 128 in compatibility mode, else the device limit (>= 256). */
  readonly maxInvocations: number;
  /** Bytes of workgroup memory per workgroup. */
  readonly maxWorkgroupBytes: number;
  /** The GPU buffer behind a Buf (checked: owned by this backend, not freed). Size >= 4*length, %16. */
  gpuBuffer(b: Buf): GPUBuffer;
  /** The buffer's contents when they are known on the host (small buffers last written whole by
   *  write() and not written by a kernel since), else undefined: for synchronous data checks (labels). */
  hostMirror(b: Buf): Float32Array | undefined;
  /** A scratch GPU buffer of at least `bytes` bytes (multiple of 16), reused across calls; `slot`
   *  separates workspaces that must coexist within one operator call. Contents are undefined.
   *  Slots in use: 0..4 conv operators, 8..10 layer operators, 11 gemmGpu's split-K partials. */
  workspace(bytes: number, slot?: number): GPUBuffer;
  /** Encodes one compute dispatch into the pending batch (submitted at sync/read/write or when full). */
  dispatch(spec: DispatchSpec): void;
  /** Copies `length` elements from src[srcOffset..] to dst[dstOffset..] (offsets in elements). */
  copy(src: Buf | GPUBuffer, srcOffset: number, dst: Buf | GPUBuffer, dstOffset: number, length: number): void;
}

export type WebGpuOp<K extends KernelId> = (ctx: WebGpuContext, args: KernelArgs[K]) => void;
export type WebGpuOpTable = { [K in KernelId]?: WebGpuOp<K> };

/** Workgroup counts for `items` work items in workgroups of `wgSize`, folded into a second dimension
 *  when they exceed the per-dimension limit. Shaders recover the linear workgroup index as
 *  wid.x + wid.y * num_workgroups.x and must skip indices >= items. */
export function grid1d(items: number, wgSize: number, maxPerDim = 65535): [number, number] {
  const groups = Math.max(1, Math.ceil(items / wgSize));
  if (groups <= maxPerDim) return [groups, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}
