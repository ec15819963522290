// Worker pool over one shared memory: kernel calls go out through Atomics on a control block, not postMessage.
import { DONE, ERROR, FN_EXIT, MAX_ARGS, SPIN_MS, controlBlockBytes, functionNames, slotWord } from './protocol.js';
import type { WorkerInit, WorkerReply } from './worker.js';

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** Calls a kernel function on each of `threads` threads; thread 0 is the calling thread. */
export class ThreadPool {
  readonly threads: number;
  private readonly fnIndex = new Map<string, number>();
  private readonly own: Record<string, (...a: number[]) => unknown>;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private workers: { terminate(): unknown }[] = [];
  private canBlock: boolean;

  private constructor(
    readonly module: WebAssembly.Module,
    readonly memory: WebAssembly.Memory,
    readonly instance: WebAssembly.Instance,
    readonly controlPtr: number,
    threads: number,
  ) {
    this.threads = threads;
    functionNames(module).forEach((n, i) => this.fnIndex.set(n, i));
    this.own = instance.exports as Record<string, (...a: number[]) => unknown>;
    this.i32 = new Int32Array(memory.buffer, controlPtr, controlBlockBytes(threads) / 4);
    this.f64 = new Float64Array(memory.buffer, controlPtr, controlBlockBytes(threads) / 8);
    // Browsers forbid Atomics.wait on the main thread; there the caller spins instead.
    this.canBlock = isNode || typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined';
  }

  static async create(module: WebAssembly.Module, memory: WebAssembly.Memory, instance: WebAssembly.Instance,
    controlPtr: number, threads: number): Promise<ThreadPool> {
    const pool = new ThreadPool(module, memory, instance, controlPtr, threads);
    pool.i32.fill(0);
    try {
      for (let w = 1; w < threads; w++) pool.workers.push(await pool.spawn(w));
    } catch (e) {
      await Promise.all(pool.workers.map((w) => w.terminate())); // the ones already started wait in their loops
      throw e;
    }
    return pool;
  }

  /** Starts worker `index` and waits for its reply to the one start message (a plain postMessage
   *  handshake: a browser module worker could not resolve a bare 'comlink' import without an import map). */
  private async spawn(index: number): Promise<{ terminate(): unknown }> {
    const url = new URL('./worker.js', import.meta.url);
    const init: WorkerInit = { module: this.module, memory: this.memory, controlPtr: this.controlPtr, index };
    const failed = (why: string) => new Error(`vggrt wasm: worker ${index} (${url.href}) did not start: ${why}`);
    if (isNode) {
      const { Worker } = await import('node:worker_threads');
      const worker = new Worker(url);
      try {
        await new Promise<void>((resolve, reject) => {
          worker.once('message', (r: WorkerReply) => (r.ok ? resolve() : reject(failed(r.error))));
          worker.once('error', (e) => reject(failed(e.message)));
          worker.once('exit', (code) => reject(failed(`exited with code ${code}`)));
          worker.postMessage(init);
        });
      } catch (e) {
        await worker.terminate();
        throw e;
      }
      // The worker now sits in its Atomics loop; drop the listeners and the ref so it never keeps the process alive.
      worker.removeAllListeners();
      worker.unref();
      return worker;
    }
    const worker = new Worker(url, { type: 'module', name: `vggrt-wasm-${index}` });
    try {
      await new Promise<void>((resolve, reject) => {
        worker.onmessage = (ev: MessageEvent<WorkerReply>) => (ev.data.ok ? resolve() : reject(failed(ev.data.error)));
        // A module that fails to load or import raises 'error' here (with no detail in some browsers).
        worker.onerror = (ev: ErrorEvent) => { ev.preventDefault(); reject(failed(ev.message || 'the worker script failed to load')); };
        worker.postMessage(init);
      });
    } catch (e) {
      worker.terminate();
      throw e;
    }
    worker.onmessage = null;
    worker.onerror = null;
    return worker;
  }

  hasFunction(name: string): boolean { return this.fnIndex.has(name); }

  /** Run fn on the calling thread only. */
  call(name: string, ...args: number[]): unknown {
    const f = this.own[name];
    if (typeof f !== 'function') throw new Error(`vggrt wasm: the kernel module has no function ${name}`);
    return f(...args);
  }

  /** Run `name` once per entry of argsPerThread: entry 0 here, entry i on worker i. Returns when all are done. */
  parallel(name: string, argsPerThread: number[][]): void {
    const jobs = argsPerThread.length;
    if (jobs === 0) return;
    if (jobs > this.threads) throw new Error(`vggrt wasm: ${jobs} jobs for ${this.threads} threads`);
    if (jobs === 1) { this.call(name, ...argsPerThread[0]); return; }
    const fn = this.fnIndex.get(name);
    if (fn === undefined) throw new Error(`vggrt wasm: the kernel module has no function ${name}`);
    const { i32, f64 } = this;
    Atomics.store(i32, DONE, 0);
    Atomics.store(i32, ERROR, 0);
    for (let w = 1; w < jobs; w++) {
      const args = argsPerThread[w];
      if (args.length > MAX_ARGS) throw new Error(`vggrt wasm: ${name} takes at most ${MAX_ARGS} arguments`);
      const base = slotWord(w);
      i32[base + 1] = fn;
      i32[base + 2] = args.length;
      const fa = (base + 4) / 2;
      for (let a = 0; a < args.length; a++) f64[fa + a] = args[a];
      Atomics.add(i32, base, 1);
      Atomics.notify(i32, base);
    }
    let ownError: unknown;
    try { this.call(name, ...argsPerThread[0]); } catch (e) { ownError = e; }
    const target = jobs - 1;
    let spins = 0, t0 = -1;
    for (;;) {
      const done = Atomics.load(i32, DONE);
      if (done >= target) break;
      if (!this.canBlock || (++spins & 1023) !== 0) continue;
      if (t0 < 0) t0 = performance.now();
      else if (performance.now() - t0 > SPIN_MS) Atomics.wait(i32, DONE, done, 100);
    }
    if (ownError) throw ownError;
    const failed = Atomics.load(i32, ERROR);
    if (failed) throw new Error(`vggrt wasm: ${name} failed on worker ${failed} (see its message above)`);
  }

  async terminate(): Promise<void> {
    for (let w = 1; w < this.threads; w++) {
      const base = slotWord(w);
      this.i32[base + 1] = FN_EXIT;
      Atomics.add(this.i32, base, 1);
      Atomics.notify(this.i32, base);
    }
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers = [];
  }
}

/** Split [0, n) into at most `parts` contiguous ranges whose starts are multiples of `align`. */
export function splitRange(n: number, parts: number, align = 1): [number, number][] {
  const units = Math.ceil(n / align);
  const p = Math.max(1, Math.min(parts, units));
  const out: [number, number][] = [];
  for (let i = 0; i < p; i++) {
    const s = Math.min(n, Math.floor((units * i) / p) * align);
    const e = Math.min(n, Math.floor((units * (i + 1)) / p) * align);
    if (e > s) out.push([s, e]);
  }
  return out;
}
