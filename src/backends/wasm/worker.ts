// Compute worker: instantiates the kernel module over the shared memory and runs calls posted through Atomics.
//
// Imports nothing by bare name: a browser module worker does not see the page's import map.
import { DONE, ERROR, FN_EXIT, SLOT_WORDS, SPIN_MS, functionNames, slotWord } from './protocol.js';

export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  controlPtr: number;
  /** 1-based: worker 0 is the calling thread. */
  index: number;
}

/** The start handshake's reply: ok, or why the worker cannot serve. */
export type WorkerReply = { ok: true } | { ok: false; error: string };

function instantiate(init: WorkerInit): WebAssembly.Instance {
  return new WebAssembly.Instance(init.module, { env: { memory: init.memory, abort: () => { throw new Error('abort'); } } });
}

function serve(init: WorkerInit, instance: WebAssembly.Instance): void {
  const names = functionNames(init.module);
  const fns = names.map((n) => instance.exports[n] as (...a: number[]) => unknown);
  const i32 = new Int32Array(init.memory.buffer, init.controlPtr);
  const f64 = new Float64Array(init.memory.buffer, init.controlPtr);
  const base = slotWord(init.index);
  const argsF64 = (base + 4) / 2;
  let seen = 0; // the pool zeroes the block before spawning; a job may already be posted when we get here
  const args: number[] = [];
  for (;;) {
    // Poll for SPIN_MS (reading the clock every 1024 polls) before sleeping.
    let spins = 0, t0 = -1;
    while (Atomics.load(i32, base) === seen) {
      if ((++spins & 1023) !== 0) continue;
      if (t0 < 0) t0 = performance.now();
      else if (performance.now() - t0 > SPIN_MS) Atomics.wait(i32, base, seen);
    }
    seen = Atomics.load(i32, base);
    const fn = i32[base + 1];
    if (fn === FN_EXIT) return;
    const nargs = i32[base + 2];
    args.length = nargs;
    for (let a = 0; a < nargs; a++) args[a] = f64[argsF64 + a];
    try {
      fns[fn](...args);
    } catch (e) {
      Atomics.store(i32, ERROR, init.index);
      console.error(`vggrt wasm worker ${init.index}: ${names[fn]} failed: ${(e as Error).message}`);
    }
    Atomics.add(i32, DONE, 1);
    Atomics.notify(i32, DONE);
  }
}
void SLOT_WORDS;

/** Handles the pool's one start message: instantiate, reply, then enter the serving loop on the next turn
 *  (the loop never returns to the event loop, so the reply must be posted first). */
function onStart(init: WorkerInit, reply: (r: WorkerReply) => void): void {
  let instance: WebAssembly.Instance;
  try {
    instance = instantiate(init);
  } catch (e) {
    reply({ ok: false, error: (e as Error).message });
    return;
  }
  reply({ ok: true });
  setTimeout(() => serve(init, instance), 0);
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;
if (isNode) {
  const { parentPort } = await import('node:worker_threads');
  parentPort!.once('message', (init: WorkerInit) => onStart(init, (r) => parentPort!.postMessage(r)));
} else {
  const scope = globalThis as unknown as { onmessage: ((ev: MessageEvent<WorkerInit>) => void) | null; postMessage(r: WorkerReply): void };
  scope.onmessage = (ev) => { scope.onmessage = null; onStart(ev.data, (r) => scope.postMessage(r)); };
}
