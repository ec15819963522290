// What a wasm operator sees: pointers, the thread pool and a workspace; operators own shapes and splitting.
import type { Buf, KernelArgs, KernelId } from '../../backend.js';
import type { ThreadPool } from './pool.js';

export interface WasmContext {
  readonly pool: ThreadPool;
  readonly threads: number;
  readonly build: 'relaxed' | 'simd';
  /** Byte address of a Buf in the shared memory (checked: live, owned by this backend). */
  ptr(buf: Buf): number;
  /** Byte address of a workspace of at least `bytes` bytes for scratch use by one operator call.
   *  `slot` separates workspaces that must coexist within one call (0, 1, 2...). It is reused across
   *  calls and grows only when a larger one is asked for, so steady-state training allocates nothing. */
  workspace(bytes: number, slot?: number): number;
  /** `jobs` slices of at least `bytes` bytes of workspace `slot`, one per thread: slice t's byte address. The slices
   *  sit threadGap.bytes apart (allocator.ts), so one thread's streaming does not pull another's lines. */
  threadSlices(bytes: number, jobs: number, slot: number): (t: number) => number;
  /** The shared memory's buffer, for operators that need a host view (rare). */
  readonly memory: WebAssembly.Memory;
  /** The whole memory as i32 words (it never grows, so one view serves every call): operators set the claim
   *  counters and tables their kernels read at a byte address p as i32[p >> 2], with no view allocated per call. */
  readonly i32: Int32Array;
}

export type WasmOp<K extends KernelId> = (ctx: WasmContext, args: KernelArgs[K]) => void;
export type WasmOpTable = { [K in KernelId]?: WasmOp<K> };
