// The WebGPU backend: Bufs are pooled GPU buffers, kernels are WGSL dispatches batched into command
// buffers, results come back through mapped staging buffers.
import { type Backend, type Buf, type KernelArgs, type KernelId, type MemoryStats, KernelArgumentError } from '../../backend.js';
import { validateKernelArgs } from '../../kernels/validate.js';
import { BufferPool } from './buffers.js';
import type { Binding, DispatchSpec, WebGpuContext, WebGpuOp } from './context.js';
import { type AcquiredDevice, DeviceLostError, type WebGpuDeviceOptions, acquireDevice } from './device.js';
import { Batcher } from './encoder.js';
import { webgpuOps } from './ops/index.js';
import { PipelineCache } from './pipelines.js';
import { ShaderSources } from './shaders.js';

export { DeviceLostError } from './device.js';

export interface WebGpuBackendOptions extends WebGpuDeviceOptions {
  /** Where shaders/*.wgsl live (default: the package's shaders/ folder, found from this module's URL). */
  shaderBaseUrl?: URL;
}

/** `host` mirrors a small buffer's contents while they are known on the host (set by a whole-buffer
 *  write(), dropped when a kernel writes the buffer): operators use it to check data such as labels
 *  synchronously, before anything is written, as every backend must. */
interface GpuBuf extends Buf { readonly gpu: GPUBuffer; readonly owner: WebGpuBackend; freed: boolean; host?: Float32Array }

/** Timestamp queries per timeGpu() call (two per compute pass; 4096 is WebGPU's query set maximum). */
const TIMESTAMP_QUERIES = 4096;

/** Buffers bigger than this (elements) are never mirrored: mirrors are for labels and the like. */
const MIRROR_MAX = 1 << 16;

/** The output arguments of every kernel (from the contract in backend.ts): their mirrors are dropped. */
const OUTPUTS: { [K in KernelId]: readonly (keyof KernelArgs[K])[] } = {
  gemm: ['c'], im2col: ['col'], col2im: ['x'], conv2d_forward: ['y'], conv2d_backward_data: ['dx'],
  conv2d_backward_filter: ['dw', 'db'], maxpool2x2_forward: ['y'], maxpool2x2_backward: ['dx'],
  relu_forward: ['y'], relu_backward: ['dx'], bias_add: ['y'], bias_backward: ['db'],
  batchnorm_forward_train: ['y', 'saveMean', 'saveInvstd', 'runMean', 'runVar'], batchnorm_forward_eval: ['y'],
  batchnorm_backward: ['dx', 'dgamma', 'dbeta'], lrn_forward: ['y', 'scale'], lrn_backward: ['dx'],
  dropout_forward: ['y', 'mask'], dropout_backward: ['dx'], softmax_xent_forward: ['probs', 'loss'],
  softmax_xent_backward: ['dlogits'], sgd_update: ['w', 'v'], axpby: ['y'], fill: ['x'], reduce_sum: ['out'],
};

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu';
  readonly description: string;
  readonly kernelsId: string;
  readonly device: GPUDevice;
  readonly compat: boolean;
  readonly hasTimestamps: boolean;
  readonly pipelines: PipelineCache;
  readonly pool: BufferPool;
  readonly ctx: WebGpuContext;
  private readonly batcher: Batcher;
  private readonly bufUsage: number;
  private readonly workspaces: (GPUBuffer | undefined)[] = [];
  private gpuRef: unknown;
  private lostError?: DeviceLostError;
  private uncaptured: string[] = [];
  private disposed = false;
  private live = 0;
  private peak = 0;
  private querySet?: GPUQuerySet;

  private constructor(acq: AcquiredDevice, readonly shaders: ShaderSources) {
    const device = acq.device;
    this.device = device;
    this.compat = acq.compat;
    this.hasTimestamps = acq.hasTimestamps;
    this.gpuRef = acq.gpuRef;
    this.description = `webgpu-${acq.compat ? 'compat' : 'core'} ${acq.adapterInfo}`;
    this.kernelsId = `wgsl:${shaders.fingerprint()}`;
    this.pipelines = new PipelineCache(device, shaders);
    this.pool = new BufferPool(device);
    this.batcher = new Batcher(device);
    this.bufUsage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    device.lost.then((info) => {
      if (!this.disposed) this.lostError = new DeviceLostError(info.reason ?? 'unknown', info.message);
    });
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => { this.uncaptured.push(ev.error.message); };
    const limits = device.limits;
    const self = this;
    this.ctx = {
      device, compat: acq.compat, software: /llvmpipe|lavapipe|swiftshader/i.test(acq.adapterInfo), limits,
      maxStorageBuffers: acq.compat ? Math.min(4, limits.maxStorageBuffersPerShaderStage) : limits.maxStorageBuffersPerShaderStage,
      maxInvocations: acq.compat ? Math.min(128, limits.maxComputeInvocationsPerWorkgroup) : limits.maxComputeInvocationsPerWorkgroup,
      maxWorkgroupBytes: limits.maxComputeWorkgroupStorageSize,
      gpuBuffer: (b) => self.gpuOf(b, 'argument'),
      hostMirror: (b) => { self.gpuOf(b, 'argument'); return (b as GpuBuf).host; },
      workspace: (bytes, slot = 0) => self.workspace(bytes, slot),
      dispatch: (spec) => self.dispatch(spec),
      copy: (src, so, dst, dO, n) => self.copy(src, so, dst, dO, n),
    };
  }

  static async create(opts: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
    const shaders = new ShaderSources(opts.shaderBaseUrl);
    const [acq] = await Promise.all([acquireDevice(opts), shaders.loadAll()]);
    return new WebGpuBackend(acq, shaders);
  }

  // ---- buffers -------------------------------------------------------------------------------------

  private gpuOf(b: Buf, what: string): GPUBuffer {
    const g = b as GpuBuf;
    if (!b || b.backend !== 'webgpu' || !g.gpu) throw new KernelArgumentError('webgpu', `${what} is a ${b?.backend} buffer, not a webgpu one`);
    if (g.owner !== this) throw new KernelArgumentError('webgpu', `${what} belongs to another webgpu backend (${g.owner.description})`);
    if (g.freed) throw new KernelArgumentError('webgpu', `${what} was freed`);
    return g.gpu;
  }

  /** A Buf binds its own padded range (not the whole pooled buffer, which may be a size class larger). */
  private binding(b: Binding, where: string): GPUBufferBinding {
    let r: GPUBufferBinding;
    if ('backend' in b) r = { buffer: this.gpuOf(b, 'binding'), offset: 0, size: Math.max(16, Math.ceil((b.length * 4) / 16) * 16) };
    else if ('buffer' in b) {
      const inner = b.buffer as Buf | GPUBuffer;
      const buffer = 'backend' in inner ? this.gpuOf(inner, 'binding') : inner;
      r = { buffer, offset: b.offset ?? 0, size: b.size ?? buffer.size - (b.offset ?? 0) };
    } else r = { buffer: b as GPUBuffer, offset: 0, size: (b as GPUBuffer).size };
    const max = this.device.limits.maxStorageBufferBindingSize;
    if (r.size! > max) {
      throw new Error(`vggrt webgpu: ${where} binds ${r.size} bytes; this device binds at most ${max} bytes per storage buffer (split the work)`);
    }
    return r;
  }

  alloc(length: number): Buf {
    this.throwIfUnusable();
    if (!Number.isInteger(length) || length < 0) throw new KernelArgumentError('alloc', `length must be a non-negative integer, got ${length}`);
    const bytes = Math.max(16, Math.ceil((length * 4) / 16) * 16);
    const reused = this.pool.reused;
    const gpu = this.pool.acquire(bytes, this.bufUsage, 'vggrt buf');
    // Fresh GPU buffers are zeroed; recycled ones are cleared so every backend starts from the same state.
    if (this.pool.reused !== reused) this.batcher.commandEncoder().clearBuffer(gpu);
    this.live += length * 4;
    this.peak = Math.max(this.peak, this.live);
    const b: GpuBuf = { backend: 'webgpu', length, gpu, owner: this, freed: false };
    return b;
  }

  free(buf: Buf): void {
    const gpu = this.gpuOf(buf, 'buffer');
    (buf as GpuBuf).freed = true;
    (buf as GpuBuf).host = undefined;
    this.live -= buf.length * 4;
    this.pool.release(gpu);
  }

  private workspace(bytes: number, slot: number): GPUBuffer {
    const ws = this.workspaces[slot];
    if (ws && ws.size >= bytes) return ws;
    if (ws) this.pool.release(ws);
    const grown = Math.max(Math.ceil(bytes / 16) * 16, ws ? ws.size * 2 : 0, 256);
    const b = this.pool.acquire(grown, this.bufUsage, `vggrt workspace ${slot}`);
    this.workspaces[slot] = b;
    return b;
  }

  write(buf: Buf, data: Float32Array, offset = 0): void {
    this.throwIfUnusable();
    const gpu = this.gpuOf(buf, 'buffer');
    if (!Number.isInteger(offset) || offset < 0 || offset + data.length > buf.length) {
      throw new KernelArgumentError('write', `${data.length} elements at offset ${offset} do not fit a buffer of ${buf.length}`);
    }
    if (!data.length) return;
    const g = buf as GpuBuf;
    if (offset === 0 && data.length === buf.length && buf.length <= MIRROR_MAX) g.host = data.slice();
    else if (g.host) g.host.set(data, offset);
    this.batcher.flush(); // queue.writeBuffer runs before unsubmitted commands: submit those first
    // Dawn takes no SharedArrayBuffer (a view of wasm memory): copy such data into a plain buffer.
    const src = data.buffer instanceof ArrayBuffer ? data : data.slice();
    this.device.queue.writeBuffer(gpu, offset * 4, src.buffer, src.byteOffset, src.byteLength);
  }

  async read(buf: Buf, offset = 0, length = buf.length - offset): Promise<Float32Array> {
    this.throwIfUnusable();
    const gpu = this.gpuOf(buf, 'buffer');
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > buf.length) {
      throw new KernelArgumentError('read', `${length} elements at offset ${offset} exceed a buffer of ${buf.length}`);
    }
    const bytes = length * 4;
    const staging = this.pool.acquire(Math.max(bytes, 4), GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'vggrt staging');
    try {
      this.batcher.flush((enc) => { if (bytes) enc.copyBufferToBuffer(gpu, offset * 4, staging, 0, bytes); });
      await this.checkErrors();
      if (!bytes) return new Float32Array(0);
      await this.mapRead(staging, bytes);
      const out = new Float32Array(staging.getMappedRange(0, bytes).slice(0));
      staging.unmap();
      return out;
    } finally {
      if (staging.mapState === 'unmapped') this.pool.release(staging);
    }
  }

  private async mapRead(b: GPUBuffer, bytes: number): Promise<void> {
    try {
      await b.mapAsync(GPUMapMode.READ, 0, bytes);
    } catch (e) {
      this.throwIfUnusable();
      throw e;
    }
  }

  // ---- kernels -------------------------------------------------------------------------------------

  run<K extends KernelId>(kernel: K, args: KernelArgs[K]): void {
    this.throwIfUnusable();
    validateKernelArgs(kernel, args, (b, name) => { this.gpuOf(b, name); });
    const op = webgpuOps[kernel] as WebGpuOp<K> | undefined;
    if (!op) throw new Error(`vggrt webgpu: kernel ${kernel} is not implemented`);
    op(this.ctx, args);
    for (const k of OUTPUTS[kernel]) {
      const b = args[k] as GpuBuf | undefined;
      if (b) b.host = undefined;
    }
  }

  private dispatch(spec: DispatchSpec): void {
    this.throwIfUnusable();
    const where = `${spec.shader}.wgsl ${spec.entryPoint}`;
    if (spec.buffers.length > this.ctx.maxStorageBuffers) {
      throw new Error(`vggrt webgpu: ${where} binds ${spec.buffers.length} storage buffers; this ${this.compat ? 'compatibility-mode ' : ''}device allows ${this.ctx.maxStorageBuffers}`);
    }
    const [x, y = 1, z = 1] = spec.workgroups;
    const maxDim = this.device.limits.maxComputeWorkgroupsPerDimension;
    for (const g of [x, y, z]) {
      if (!Number.isInteger(g) || g < 0 || g > maxDim) throw new Error(`vggrt webgpu: ${where}: workgroup count ${g} outside 0..${maxDim}`);
    }
    if (x * y * z === 0) return;
    const pipeline = this.pipelines.get(spec.shader, spec.entryPoint, spec.constants);
    const entries: GPUBindGroupEntry[] = spec.buffers.map((b, i) => ({ binding: i, resource: this.binding(b, where) }));
    if (spec.uniforms) entries.push({ binding: spec.buffers.length, resource: this.batcher.uniforms(spec.uniforms) });
    // The pass (and the batch's validation error scope) opens after uniforms(), which may flush, and
    // before the bind group, whose errors (a binding the entry point does not declare) it then captures.
    const pass = this.batcher.computePass();
    const bindGroup = this.device.createBindGroup({ label: where, layout: pipeline.getBindGroupLayout(0), entries });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.batcher.dispatched();
  }

  private copy(src: Buf | GPUBuffer, srcOffset: number, dst: Buf | GPUBuffer, dstOffset: number, length: number): void {
    this.throwIfUnusable();
    if (length <= 0) return;
    const s = 'backend' in src ? this.gpuOf(src, 'copy source') : src;
    const d = 'backend' in dst ? this.gpuOf(dst, 'copy destination') : dst;
    this.batcher.commandEncoder().copyBufferToBuffer(s, srcOffset * 4, d, dstOffset * 4, length * 4);
  }

  async sync(): Promise<void> {
    this.throwIfUnusable();
    this.batcher.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.checkErrors();
  }

  /** Throws the first compile, validation or uncaptured error seen since the last check. */
  private async checkErrors(): Promise<void> {
    // Drain every source, so one fault is reported once; a compile error is the root cause of the
    // validation errors its invalid pipeline causes, so it wins.
    const [compile, scoped] = await Promise.allSettled([this.pipelines.check(), this.batcher.errors()]);
    const uncaptured = this.uncaptured;
    this.uncaptured = [];
    this.throwIfUnusable();
    if (compile.status === 'rejected') throw compile.reason;
    if (scoped.status === 'rejected') throw scoped.reason;
    if (scoped.value) throw new Error(`vggrt webgpu: validation error: ${scoped.value.message}`);
    if (uncaptured.length) throw new Error(`vggrt webgpu: GPU error: ${uncaptured.join('\n')}`);
  }

  /** GPU time of the kernels `fn` issues: summed timestamp intervals of their compute passes when
   *  the adapter has timestamp queries, else wall time from submit to completion (also when `fn` opens
   *  more passes than the query set can time: a partial sum would under-count). */
  async timeGpu(fn: () => void): Promise<{ ms: number; source: 'timestamp' | 'wall' }> {
    await this.sync();
    const t0 = performance.now();
    if (!this.hasTimestamps) {
      fn();
      await this.sync();
      return { ms: performance.now() - t0, source: 'wall' };
    }
    this.querySet ??= this.device.createQuerySet({ type: 'timestamp', count: TIMESTAMP_QUERIES });
    this.batcher.startTiming(this.querySet);
    let n = 0, missed = 0;
    try { fn(); } finally { ({ queries: n, missed } = this.batcher.stopTiming()); }
    if (missed) { await this.sync(); return { ms: performance.now() - t0, source: 'wall' }; }
    if (!n) { await this.sync(); return { ms: 0, source: 'timestamp' }; }
    const resolve = this.pool.acquire(n * 8, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC);
    const staging = this.pool.acquire(n * 8, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    this.batcher.flush((enc) => {
      enc.resolveQuerySet(this.querySet!, 0, n, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, staging, 0, n * 8);
    });
    await this.checkErrors();
    await this.mapRead(staging, n * 8);
    const t = new BigUint64Array(staging.getMappedRange(0, n * 8).slice(0));
    staging.unmap();
    this.pool.release(resolve);
    this.pool.release(staging);
    let ns = 0n;
    for (let i = 0; i + 1 < n; i += 2) if (t[i + 1] > t[i]) ns += t[i + 1] - t[i];
    return { ms: Number(ns) / 1e6, source: 'timestamp' };
  }

  memory(): MemoryStats {
    return { liveBytes: this.live, peakBytes: this.peak, reservedBytes: this.pool.reservedBytes + this.batcher.arenaBytes };
  }

  /** Counters for tests and the bench: pipeline cache and pool behaviour, submits. */
  stats() {
    return {
      pipelines: this.pipelines.size, pipelineHits: this.pipelines.hits, pipelineMisses: this.pipelines.misses,
      buffersCreated: this.pool.created, buffersReused: this.pool.reused, poolFreeBytes: this.pool.freeBytes,
      submits: this.batcher.submits, dispatches: this.batcher.dispatches,
    };
  }

  /** Destroys pooled buffers that no live Buf uses (after finishing pending work). */
  async trim(): Promise<void> {
    await this.sync();
    this.pool.trim();
  }

  private throwIfUnusable(): void {
    if (this.lostError) throw this.lostError;
    if (this.disposed) throw new Error('vggrt webgpu: backend used after dispose()');
  }

  get lost(): DeviceLostError | undefined { return this.lostError; }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (!this.lostError) {
      try {
        this.batcher.flush();
        await this.device.queue.onSubmittedWorkDone();
      } catch { /* the device is going away either way */ }
    }
    this.device.onuncapturederror = null;
    this.device.destroy();
    this.gpuRef = undefined; // Dawn's GPU object keeps the Node process alive while referenced
    void this.gpuRef;
  }
}
