// Compute worker: driven over comlink (the control plane: start, serve, exit), it instantiates the kernel module
// over the shared memory and serves kernel calls posted through Atomics on the control block (the hot path).
//
// comlink is loaded by dynamic import, never by a static bare import: a browser module worker does not see the
// page's import map, so there the pool passes comlink's resolved URL in this script's query (?comlink=...).
import type * as ComlinkModule from 'comlink';
import { COMLINK_URL_PARAM, DONE, ERROR, FN_EXIT, SPIN_MS, WORKER_READY, type WorkerControl, type WorkerInit, functionNames,
  slotWord } from './protocol.js';

function instantiate(init: WorkerInit): WebAssembly.Instance {
  return new WebAssembly.Instance(init.module, { env: { memory: init.memory, abort: () => { throw new Error('abort'); } } });
}

function serve(init: WorkerInit, instance: WebAssembly.Instance): number {
  const names = functionNames(init.module);
  const fns = names.map((n) => instance.exports[n] as (...a: number[]) => unknown);
  const i32 = new Int32Array(init.memory.buffer, init.controlPtr);
  const f64 = new Float64Array(init.memory.buffer, init.controlPtr);
  const base = slotWord(init.index);
  const argsF64 = (base + 4) / 2;
  let seen = 0; // the pool zeroes the block before spawning; a job may already be posted when we get here
  let served = 0;
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
    if (fn === FN_EXIT) return served;
    const nargs = i32[base + 2];
    args.length = nargs;
    for (let a = 0; a < nargs; a++) args[a] = f64[argsF64 + a];
    try {
      fns[fn](...args);
    } catch (e) {
      Atomics.store(i32, ERROR, init.index);
      console.error(`vggrt wasm worker ${init.index}: ${names[fn]} failed: ${(e as Error).message}`);
    }
    served++;
    Atomics.add(i32, DONE, 1);
    Atomics.notify(i32, DONE);
  }
}

let started: { init: WorkerInit; instance: WebAssembly.Instance } | undefined;
const control: WorkerControl = {
  start(init) {
    if (started) throw new Error(`worker ${started.init.index} is already started`);
    started = { init, instance: instantiate(init) };
  },
  serve() {
    if (!started) throw new Error('serve() called before start()');
    return serve(started.init, started.instance);
  },
};

const isNode = typeof process !== 'undefined' && !!process.versions?.node;
if (isNode) {
  const [{ parentPort }, Comlink, { default: nodeEndpoint }] = await Promise.all([
    import('node:worker_threads'), import('comlink'), import('comlink/dist/esm/node-adapter.mjs')]);
  Comlink.expose(control, nodeEndpoint(parentPort!));
  parentPort!.postMessage(WORKER_READY);
} else {
  const url = new URL(import.meta.url).searchParams.get(COMLINK_URL_PARAM);
  // Thrown at load, this reaches the pool as the worker's error event, with the message.
  if (!url) throw new Error(`vggrt wasm worker: its script URL carries no ?${COMLINK_URL_PARAM}= (comlink's module URL)`);
  const Comlink = (await import(url)) as typeof ComlinkModule;
  Comlink.expose(control, globalThis as unknown as ComlinkModule.Endpoint);
  (globalThis as unknown as { postMessage(m: unknown): void }).postMessage(WORKER_READY);
}
