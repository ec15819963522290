// Worker pool over one shared memory: kernel calls go out through Atomics on a control block, not postMessage;
// starting, serving and stopping the workers goes through comlink (the control plane).
import * as Comlink from 'comlink';
import { COMLINK_URL_PARAM, DONE, ERROR, FN_EXIT, MAX_ARGS, SPIN_MS, WORKER_READY, type WorkerControl, type WorkerInit, controlBlockBytes,
  functionNames, slotWord } from './protocol.js';

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** How long terminate() waits for the workers to report their exit over comlink before it stops them anyway. */
const EXIT_REPORT_MS = 2000;

interface PoolWorker {
  worker: StartedWorker;
  control: Comlink.Remote<WorkerControl>;
  /** The worker's serve() call: resolves, with the calls it ran, once it has left its loop (undefined if it failed). */
  serving: Promise<number | undefined>;
}

/** Calls a kernel function on each of `threads` threads; thread 0 is the calling thread. */
export class ThreadPool {
  readonly threads: number;
  private readonly fnIndex = new Map<string, number>();
  private readonly own: Record<string, (...a: number[]) => unknown>;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private workers: PoolWorker[] = [];
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

  /** comlinkUrl: where a browser worker imports comlink from (it cannot see the page's import map); default: what
   *  the bare name 'comlink' resolves to here (the page's import map). Unused in Node. */
  static async create(module: WebAssembly.Module, memory: WebAssembly.Memory, instance: WebAssembly.Instance,
    controlPtr: number, threads: number, comlinkUrl?: string): Promise<ThreadPool> {
    const pool = new ThreadPool(module, memory, instance, controlPtr, threads);
    pool.i32.fill(0);
    try {
      for (let w = 1; w < threads; w++) pool.workers.push(await pool.spawn(w, comlinkUrl));
    } catch (e) {
      await pool.terminate(); // the ones already started wait in their loops
      throw e;
    }
    return pool;
  }

  /** Starts worker `index` over comlink (start(), which instantiates the module; it rejects with the worker's
   *  message when that fails) and sets it serving (serve(), left pending until exit). */
  private async spawn(index: number, comlinkUrl?: string): Promise<PoolWorker> {
    const url = new URL('./worker.js', import.meta.url);
    const init: WorkerInit = { module: this.module, memory: this.memory, controlPtr: this.controlPtr, index };
    const failed = (why: string) => new Error(`vggrt wasm: worker ${index} (${url.href}) did not start: ${why}`);
    const { worker, endpoint, watch } = isNode ? await nodeWorker(url) : browserWorker(url, index, comlinkUrl);
    const control = Comlink.wrap<WorkerControl>(endpoint);
    let unwatch = () => {};
    try {
      await new Promise<void>((resolve, reject) => {
        unwatch = watch((m) => {
          if (m === WORKER_READY) control.start(init).then(resolve, (e: Error) => reject(failed(e.message)));
        }, (why) => reject(failed(why)));
      });
    } catch (e) {
      control[Comlink.releaseProxy]();
      await worker.terminate();
      throw e;
    } finally {
      unwatch();
    }
    // Its comlink listener stays (for serve()'s reply at exit); unref'd, a Node worker never keeps the process alive.
    worker.unref?.();
    return { worker, control, serving: serveCall(control, index) };
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

  /** Posts FN_EXIT to every worker, waits (at most EXIT_REPORT_MS) for each to report over comlink that it left
   *  its loop, then stops them. Returns how many kernel calls each worker ran, or undefined for one that did not
   *  report in time. */
  async terminate(): Promise<(number | undefined)[]> {
    for (let w = 1; w <= this.workers.length; w++) {
      const base = slotWord(w);
      this.i32[base + 1] = FN_EXIT;
      Atomics.add(this.i32, base, 1);
      Atomics.notify(this.i32, base);
    }
    // Node: ref'd again, so the process waits for the replies (an unref'd worker's messages keep nothing alive).
    for (const w of this.workers) w.worker.ref?.();
    const served = await Promise.all(this.workers.map((w) => {
      const report = w.serving;
      const late = new Promise<undefined>((resolve) => {
        const timer = setTimeout(resolve, EXIT_REPORT_MS);
        void report.then(() => clearTimeout(timer));
      });
      return Promise.race([report, late]);
    }));
    for (const w of this.workers) w.control[Comlink.releaseProxy]();
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
    this.workers = [];
    return served;
  }
}

type StartedWorker = { terminate(): unknown; ref?(): void; unref?(): void };

/** A new worker, the endpoint comlink talks through, and watch(onMessage, onFail), which listens for its plain
 *  messages and for its failure to load or start and returns the function that stops listening. */
interface NewWorker {
  worker: StartedWorker;
  endpoint: Comlink.Endpoint;
  watch(onMessage: (m: unknown) => void, onFail: (why: string) => void): () => void;
}

async function nodeWorker(url: URL): Promise<NewWorker> {
  const [{ Worker }, { default: nodeEndpoint }] = await Promise.all([import('node:worker_threads'),
    import('comlink/dist/esm/node-adapter.mjs')]);
  const worker = new Worker(url);
  return {
    worker, endpoint: nodeEndpoint(worker),
    watch(onMessage, onFail) {
      const error = (e: Error) => onFail(e.message), exit = (code: number) => onFail(`exited with code ${code}`);
      worker.on('message', onMessage).once('error', error).once('exit', exit);
      return () => { worker.off('message', onMessage).off('error', error).off('exit', exit); };
    },
  };
}

/** A module Web Worker, told comlink's URL in its script URL (it does not see the page's import map). */
function browserWorker(url: URL, index: number, comlinkUrl?: string): NewWorker {
  url.searchParams.set(COMLINK_URL_PARAM, comlinkUrl ?? resolveComlink());
  const worker = new Worker(url, { type: 'module', name: `vggrt-wasm-${index}` });
  return {
    worker, endpoint: worker,
    watch(onMessage, onFail) {
      const message = (ev: MessageEvent) => onMessage(ev.data);
      // A module that fails to load or import raises 'error' here (with no detail in some browsers).
      const error = (ev: ErrorEvent) => { ev.preventDefault(); onFail(ev.message || 'the worker script failed to load'); };
      worker.addEventListener('message', message);
      worker.addEventListener('error', error);
      return () => { worker.removeEventListener('message', message); worker.removeEventListener('error', error); };
    },
  };
}

/** A started worker's serve() call, its failure reported (it would leave the pool's calls waiting) and never unhandled. */
function serveCall(control: Comlink.Remote<WorkerControl>, index: number): Promise<number | undefined> {
  return control.serve().then((n) => n, (e: Error) => {
    console.error(`vggrt wasm: worker ${index} stopped serving: ${e.message}`);
    return undefined;
  });
}

/** comlink's module URL as the bare name resolves here (a page's import map maps it); a clear error without one. */
function resolveComlink(): string {
  try {
    return import.meta.resolve('comlink');
  } catch (e) {
    throw new Error(`vggrt wasm: cannot resolve 'comlink' for the workers (${(e as Error).message}); map it in the page's import map `
      + `(see examples/browser/index.html) or pass WasmBackendOptions.comlinkUrl`);
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
