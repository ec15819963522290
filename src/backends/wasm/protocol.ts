// Layout of the shared control block through which the pool hands kernel calls to workers (hot path), and the
// workers' comlink control plane.

export const MAX_ARGS = 32;
/** Per-worker slot, in 32-bit words: [seq, fn, nargs, pad] then MAX_ARGS float64 args. */
export const SLOT_WORDS = 4 + MAX_ARGS * 2;
/** Header words before the slots: [done counter, error flag, error worker, pad]. */
export const HEADER_WORDS = 16; // 64 bytes: the header sits alone on its cache line
export const DONE = 0;
export const ERROR = 1;
export const FN_EXIT = -1;

export function controlBlockBytes(workers: number): number {
  return (HEADER_WORDS + workers * SLOT_WORDS) * 4;
}
export function slotWord(worker: number): number {
  return HEADER_WORDS + worker * SLOT_WORDS;
}

/** The function exports of the module, in a fixed order both sides agree on. */
export function functionNames(module: WebAssembly.Module): string[] {
  return WebAssembly.Module.exports(module).filter((e) => e.kind === 'function').map((e) => e.name).sort();
}

/** How long a waiting side (the pool's caller for the workers to finish, an idle worker for the next call) polls
 *  the shared word before sleeping in Atomics.wait, in ms, reading the clock every 1024 polls. Measured on the
 *  2-core VM: a sleeping worker starts 120-250 us after the notify, a polling one within a few us; a fixed 20000
 *  polls (~0.3 ms) let workers fall asleep in the tail of a fused Winograd call or between a step's small kernels. */
export const SPIN_MS = 2;

export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  controlPtr: number;
  /** 1-based: worker 0 is the calling thread. */
  index: number;
}

/** What a worker exposes over comlink. */
export interface WorkerControl {
  /** Instantiates the kernel module over the shared memory; throws (the pool's start rejects with the message)
   *  when it cannot. */
  start(init: WorkerInit): void;
  /** Serves kernel calls from the control block until the pool posts FN_EXIT, then returns how many it ran. It
   *  never yields to the event loop meanwhile, so it is the last control call before exit. */
  serve(): number;
}

/** The query parameter of the worker script's URL that carries comlink's module URL in a browser (worker.ts). */
export const COMLINK_URL_PARAM = 'comlink';

/** The one plain message a worker posts: once its comlink endpoint listens. Calls posted before that could be lost
 *  (a browser delivers a module worker's messages while its top-level await of comlink is still pending). */
export const WORKER_READY = 'vggrt-worker-ready';
