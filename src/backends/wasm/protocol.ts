// Layout of the shared control block through which the pool hands kernel calls to workers (hot path).

export const MAX_ARGS = 28;
/** Per-worker slot, in 32-bit words: [seq, fn, nargs, busy microseconds of the last call (ThreadPool.busyMicros)] then MAX_ARGS float64 args. */
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

