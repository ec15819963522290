// The wasm SIMD backend: one fixed shared memory, a TS allocator, a worker pool, and one operator per kernel.
import { type Backend, type Buf, type KernelArgs, type KernelId, type MemoryStats, KernelArgumentError } from '../../backend.js';
import { validateKernelArgs } from '../../kernels/validate.js';
import { ALIGN, Allocator, threadGap } from './allocator.js';
import type { WasmContext } from './context.js';
import { type WasmBuild, chooseBuild, loadModule } from './loader.js';
import { opsParameters, wasmOps } from './ops/index.js';
import { fingerprint } from '../../util/fingerprint.js';
import { ThreadPool } from './pool.js';
import { controlBlockBytes } from './protocol.js';

export interface WasmBackendOptions {
  /** Threads including the calling one. Default: 2 (this project's machines), at most hardware threads. */
  threads?: number;
  /** Size of the one shared memory, fixed for the backend's life. Default 1024 MiB, at most 4095. */
  memoryMiB?: number;
  build?: WasmBuild | 'auto';
  /** Where build/vggrt-*.wasm live (browser: the URL the files are served under). */
  wasmBaseUrl?: URL;
  /** Browser only: the URL the workers import comlink from (a worker does not see the page's import map).
   *  Default: what 'comlink' resolves to in the page (its import map). */
  comlinkUrl?: string;
}

interface WasmBuf extends Buf { readonly ptr: number; freed: boolean }

const PAGE = 65536;

function defaultThreads(): number {
  const hw = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 2;
  return Math.max(1, Math.min(2, hw));
}

export class WasmBackend implements Backend {
  readonly name = 'wasm';
  readonly description: string;
  private readonly alloc_: Allocator;
  private readonly workspaces: { ptr: number; bytes: number }[] = [];
  private readonly ctx: WasmContext;
  private disposed = false;

  private constructor(readonly pool: ThreadPool, readonly wasmMemory: WebAssembly.Memory, readonly build: WasmBuild,
    allocator: Allocator, private readonly binaryId: string) {
    this.alloc_ = allocator;
    this.description = `wasm-${build}-t${pool.threads}`;
    const self = this;
    this.ctx = {
      pool, threads: pool.threads, build, memory: wasmMemory, i32: new Int32Array(wasmMemory.buffer),
      ptr: (b) => self.ptrOf(b, 'argument'),
      workspace: (bytes, slot = 0) => self.workspace(bytes, slot),
      threadSlices: (bytes, jobs, slot) => {
        const stride = Math.ceil(bytes / ALIGN) * ALIGN + threadGap.bytes, base = self.workspace(stride * jobs, slot);
        return (t) => base + t * stride;
      },
    };
  }

  static async create(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
    const threads = opts.threads ?? defaultThreads();
    if (!Number.isInteger(threads) || threads < 1 || threads > 64) throw new Error(`vggrt wasm: threads must be an integer in 1..64, got ${threads}`);
    const mib = opts.memoryMiB ?? 1024;
    if (!(mib >= 16 && mib <= 4095)) throw new Error(`vggrt wasm: memoryMiB must be in 16..4095, got ${mib}`);
    const build = chooseBuild(opts.build ?? 'auto');
    const { module, kernelsId } = await loadModule(build, opts.wasmBaseUrl);
    const pages = Math.floor((mib * 1024 * 1024) / PAGE);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    const instance = new WebAssembly.Instance(module, { env: { memory, abort: () => { throw new Error('abort'); } } });
    const heapBase = (instance.exports.heapBase as () => number)();
    const allocator = new Allocator(Math.max(heapBase, PAGE), pages * PAGE);
    const controlPtr = allocator.alloc(controlBlockBytes(threads));
    const pool = await ThreadPool.create(module, memory, instance, controlPtr, threads, opts.comlinkUrl);
    return new WasmBackend(pool, memory, build, allocator, kernelsId);
  }

  get threads(): number { return this.pool.threads; }

  /** The kernel binary's fingerprint and that of the operators' parameters (opsParameters): the tuning cache keys on
   *  both, so a tuning measured under other block sizes or budgets is not read back. */
  get kernelsId(): string { return `${this.binaryId}|ops:${fingerprint(opsParameters())}`; }

  private ptrOf(b: Buf, what: string): number {
    const wb = b as WasmBuf;
    if (b.backend !== 'wasm' || typeof wb.ptr !== 'number') throw new KernelArgumentError('wasm', `${what} is a ${b.backend} buffer, not a wasm one`);
    if (wb.freed) throw new KernelArgumentError('wasm', `${what} was freed`);
    return wb.ptr;
  }

  private workspace(bytes: number, slot: number): number {
    const ws = this.workspaces[slot];
    if (ws && ws.bytes >= bytes) return ws.ptr;
    if (ws) this.alloc_.release(ws.ptr);
    const size = Math.max(bytes, ws ? ws.bytes * 2 : 0, 64);
    // Unused bytes after it, so the next slot (another thread's, often) does not start right where it ends (threadGap).
    const ptr = this.alloc_.alloc(size + threadGap.bytes);
    this.workspaces[slot] = { ptr, bytes: size };
    return ptr;
  }

  alloc(length: number): Buf {
    if (!Number.isInteger(length) || length < 0) throw new KernelArgumentError('alloc', `length must be a non-negative integer, got ${length}`);
    const ptr = this.alloc_.alloc(length * 4);
    const b: WasmBuf = { backend: 'wasm', length, ptr, freed: false };
    return b;
  }

  free(buf: Buf): void {
    const wb = buf as WasmBuf;
    this.ptrOf(buf, 'buffer');
    wb.freed = true;
    this.alloc_.release(wb.ptr);
  }

  /** Host view of a buffer's elements (zero-copy; valid while the buffer lives). */
  view(buf: Buf, offset = 0, length = buf.length - offset): Float32Array {
    return new Float32Array(this.wasmMemory.buffer, this.ptrOf(buf, 'buffer') + offset * 4, length);
  }

  write(buf: Buf, data: Float32Array, offset = 0): void {
    if (offset < 0 || offset + data.length > buf.length) {
      throw new KernelArgumentError('write', `${data.length} elements at offset ${offset} do not fit a buffer of ${buf.length}`);
    }
    this.view(buf, offset, data.length).set(data);
  }

  readSync(buf: Buf, offset = 0, length = buf.length - offset): Float32Array {
    if (offset < 0 || length < 0 || offset + length > buf.length) {
      throw new KernelArgumentError('read', `${length} elements at offset ${offset} exceed a buffer of ${buf.length}`);
    }
    return this.view(buf, offset, length).slice();
  }

  async read(buf: Buf, offset = 0, length = buf.length - offset): Promise<Float32Array> {
    return this.readSync(buf, offset, length);
  }

  run<K extends KernelId>(kernel: K, args: KernelArgs[K]): void {
    if (this.disposed) throw new Error('vggrt wasm: backend used after dispose()');
    validateKernelArgs(kernel, args, (b, name) => { this.ptrOf(b, name); });
    const op = wasmOps[kernel];
    if (!op) throw new Error(`vggrt wasm: kernel ${kernel} is not implemented`);
    op(this.ctx, args);
  }

  async sync(): Promise<void> { /* wasm kernels complete before run() returns */ }

  memory(): MemoryStats {
    return { liveBytes: this.alloc_.liveBytes, peakBytes: this.alloc_.peakBytes, reservedBytes: this.wasmMemory.buffer.byteLength };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.pool.terminate();
  }
}
