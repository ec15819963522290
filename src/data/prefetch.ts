// PrefetchingLoader: a DataLoader run in its own worker thread, `prefetch` batches ahead, handed over through shared memory.
//
// The worker (prefetch_worker.ts) opens the dataset from a DatasetSpec, runs the very same DataLoader and
// writes each batch into a ring of SharedArrayBuffer slots; only slot indices travel by postMessage, so
// the batches are bit-identical to an in-process DataLoader's and cost the main thread one memcpy each
// (none with `reuse`). state() counts the batches the consumer has taken, never the ones prefetched, and
// every batches() call sends that state to the worker, which restores it before producing: resume and
// early exit behave exactly as DataLoader's.
//
// The worker is unref'd while nothing waits on it, so a process exits without close(); it is ref'd only
// while a batch or the start-up is awaited (an unref'd worker would otherwise let Node exit mid-await).
import type { Batch, DataLoaderOptions, LoaderState } from './loader.js';
import { epochSeed, shuffledIndices } from './loader.js';
import type { DatasetSpec, FromWorker, LoaderInfo, ToWorker } from './prefetch_worker.js';

export type { DatasetSpec } from './prefetch_worker.js';

export interface PrefetchOptions extends DataLoaderOptions {
  /** Batches prepared ahead of the consumer (default 3). */
  prefetch?: number;
  /** Yield views into the shared slots instead of fresh arrays: no copy on the main thread, but a batch is
   *  only valid until the next one is requested (default false: DataLoader's fresh-allocation semantics). */
  reuse?: boolean;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

interface Endpoint { post(m: ToWorker): void; terminate(): void; ref(): void; unref(): void }

/** Starts the worker: node:worker_threads in Node, a module Web Worker in a browser. */
async function spawn(onMessage: (m: FromWorker) => void, onFail: (e: Error) => void): Promise<Endpoint> {
  const url = new URL('./prefetch_worker.js', import.meta.url);
  if (isNode) {
    const { Worker } = await import('node:worker_threads');
    // A worker inherits the parent's node flags, but one started from a file refuses --input-type (a parent
    // run as `node --input-type=module -e ...` would pass it on). Then it gets the rest, or none if Node
    // refuses those given explicitly (V8 flags); reading data needs no flags.
    let w: InstanceType<typeof Worker>;
    if (!process.execArgv.some((a) => a.startsWith('--input-type'))) w = new Worker(url, { name: 'vggrt-data' });
    else {
      try {
        w = new Worker(url, { name: 'vggrt-data', execArgv: process.execArgv.filter((a) => !a.startsWith('--input-type')) });
      } catch {
        w = new Worker(url, { name: 'vggrt-data', execArgv: [] });
      }
    }
    w.on('message', onMessage);
    w.on('error', (e) => onFail(new Error(`PrefetchingLoader: data worker failed: ${e.message}`)));
    w.on('exit', (code) => onFail(new Error(`PrefetchingLoader: data worker exited (code ${code})`)));
    return { post: (m) => w.postMessage(m), terminate: () => { w.removeAllListeners(); void w.terminate(); }, ref: () => w.ref(), unref: () => w.unref() };
  }
  const w = new Worker(url, { type: 'module', name: 'vggrt-data' });
  w.onmessage = (ev: MessageEvent<FromWorker>) => onMessage(ev.data);
  w.onerror = (ev: ErrorEvent) => { ev.preventDefault(); onFail(new Error(`PrefetchingLoader: data worker failed: ${ev.message || 'the worker script failed to load'}`)); };
  // A browser worker never holds the page open: ref/unref have nothing to do.
  return { post: (m) => w.postMessage(m), terminate: () => w.terminate(), ref: () => {}, unref: () => {} };
}

type Delivery = Extract<FromWorker, { type: 'batch' }>;

/** One batches() pass: what the worker delivered for its generation and not yet taken. */
interface Pass {
  gen: number;
  queue: Delivery[];
  ended: boolean;
  error?: Error;
  /** With reuse: the slot whose views the consumer holds (-1: none). */
  held: number;
  waiter?: { resolve: () => void };
}

export class PrefetchingLoader {
  /** Resolves once the worker has opened the dataset; rejects with its error (e.g. a malformed file). */
  readonly ready: Promise<void>;
  /** Milliseconds the consumer waited for each batch of the latest batches() pass (the last entry is the end). */
  waits: number[] = [];
  readonly prefetch: number;
  private readonly reuse: boolean;
  private readonly shuffle: boolean;
  private info?: LoaderInfo;
  private slots: { x: Float32Array; labels: Float32Array }[] = [];
  private st: LoaderState;
  private worker?: Endpoint;
  private gen = 0;
  private pass?: Pass;
  private fatal?: Error;
  private closed = false;
  private refs = 0;
  private onReady?: { resolve: () => void; reject: (e: Error) => void };

  constructor(readonly spec: DatasetSpec, opts: PrefetchOptions) {
    const { prefetch = 3, reuse = false, ...loaderOpts } = opts;
    if (!Number.isInteger(prefetch) || prefetch < 1 || prefetch > 64) {
      throw new Error(`PrefetchingLoader(${spec.name}): prefetch must be an integer in [1, 64], got ${prefetch}`);
    }
    if (!Number.isSafeInteger(opts.seed)) throw new Error(`PrefetchingLoader(${spec.name}): seed must be an integer, got ${opts.seed}`);
    this.prefetch = prefetch;
    this.reuse = reuse;
    this.shuffle = opts.shuffle;
    this.st = { epoch: 0, position: 0, seed: opts.seed >>> 0 };
    // With reuse the consumer holds one slot while `prefetch` others fill.
    const slots = prefetch + (reuse ? 1 : 0);
    this.ready = new Promise<void>((resolve, reject) => { this.onReady = { resolve, reject }; })
      .finally(() => { this.onReady = undefined; this.release(); });
    this.ready.catch(() => {}); // the error is kept for batches(); a constructed-but-unused loader must not crash the process
    this.hold();
    spawn((m) => this.receive(m), (e) => this.die(e)).then((w) => {
      if (this.closed) return w.terminate();
      this.worker = w;
      this.worker.post({ type: 'init', spec, opts: loaderOpts, slots });
      if (this.refs === 0) w.unref();
    }, (e: Error) => this.die(e));
  }

  /** Constructs and waits until the dataset is open (numBatches, restore() need it). */
  static async create(spec: DatasetSpec, opts: PrefetchOptions): Promise<PrefetchingLoader> {
    const l = new PrefetchingLoader(spec, opts);
    await l.ready;
    return l;
  }

  private get opened(): LoaderInfo {
    if (!this.info) throw new Error(`PrefetchingLoader(${this.spec.name}): not ready yet (await loader.ready or use PrefetchingLoader.create)`);
    return this.info;
  }

  get numBatches(): number { return this.opened.numBatches; }
  get batchSize(): number { return this.opened.batchSize; }
  get inputSize(): number { return this.opened.inputSize; }
  get channels(): number { return this.opened.channels; }
  get fit(): LoaderInfo['fit'] { return this.opened.fit; }
  get mean(): number[] { return this.opened.mean; }
  get std(): number[] { return this.opened.std; }
  /** The dataset as the worker opened it (limit applied): image count, source image size, classes. */
  get length(): number { return this.opened.length; }
  get height(): number { return this.opened.height; }
  get width(): number { return this.opened.width; }
  get numClasses(): number { return this.opened.numClasses; }

  /** Where the next batch the consumer takes comes from, as DataLoader.state(). */
  state(): LoaderState {
    return { ...this.st };
  }

  /** As DataLoader.restore(); takes effect at the next batches() call. */
  restore(s: LoaderState): void {
    const n = this.numBatches;
    const ok = s && Number.isInteger(s.epoch) && s.epoch >= 0 && Number.isInteger(s.position) && s.position >= 0 &&
      s.position <= n && Number.isSafeInteger(s.seed);
    if (!ok) throw new Error(`PrefetchingLoader(${this.spec.name}).restore: bad state ${JSON.stringify(s)} (numBatches ${n})`);
    this.st = s.position === n ? { epoch: s.epoch + 1, position: 0, seed: s.seed >>> 0 } : { epoch: s.epoch, position: s.position, seed: s.seed >>> 0 };
  }

  /** The order images are visited in during `epoch` (as DataLoader.order; computed here, not in the worker). */
  order(epoch: number): Uint32Array {
    if (this.shuffle) return shuffledIndices(this.length, epochSeed(this.st.seed, epoch));
    return Uint32Array.from({ length: this.length }, (_, i) => i);
  }

  /** The batches of `epoch`, as DataLoader.batches(): continues at state().position when epoch equals
   *  state().epoch, else starts at 0. One pass at a time: starting another ends the previous one, whose
   *  next next() then rejects (rather than ending quietly, which would look like the end of the epoch). */
  async *batches(epoch: number): AsyncGenerator<Batch, void, undefined> {
    if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`PrefetchingLoader(${this.spec.name}).batches: bad epoch ${epoch}`);
    await this.ready;
    this.check();
    this.abandon(`PrefetchingLoader(${this.spec.name}).batches: this pass was ended by a later batches() call`);
    const pass: Pass = { gen: ++this.gen, queue: [], ended: false, held: -1 };
    this.pass = pass;
    this.waits = [];
    this.worker!.post({ type: 'start', gen: pass.gen, epoch, state: this.state() });
    const pixels = this.opened.inputSize * this.opened.inputSize * this.opened.channels;
    try {
      for (;;) {
        // The consumer asked for the next batch: with reuse, the previous one's slot may be refilled now.
        this.unhold(pass);
        const t0 = performance.now();
        const d = await this.take(pass);
        this.waits.push(performance.now() - t0);
        if (!d) return;
        const slot = this.slots[d.slot];
        const n = this.opened.numBatches;
        this.st = { epoch: d.index + 1 === n ? epoch + 1 : epoch, position: d.index + 1 === n ? 0 : d.index + 1, seed: this.st.seed };
        if (this.reuse) {
          pass.held = d.slot;
          yield { x: slot.x.subarray(0, d.size * pixels), labels: slot.labels.subarray(0, d.size), size: d.size };
        } else {
          const batch = { x: slot.x.slice(0, d.size * pixels), labels: slot.labels.slice(0, d.size), size: d.size };
          this.free(d.slot);
          yield batch;
        }
      }
    } finally {
      this.unhold(pass);
      if (this.pass === pass) this.abandon();
    }
  }

  /** Terminates the worker. Pending and later batches() calls reject. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.worker?.terminate();
    this.die(new Error(`PrefetchingLoader(${this.spec.name}): closed`));
  }

  private check(): void {
    if (this.fatal) throw this.fatal;
  }

  /** Ends the current pass: its queued and held slots go back to the worker, the worker stops producing
   *  for it, and with `why` its consumer's next next() rejects. */
  private abandon(why?: string): void {
    const p = this.pass;
    if (!p) return;
    this.pass = undefined;
    for (const d of p.queue) this.free(d.slot);
    p.queue = [];
    this.unhold(p);
    if (!p.ended && !p.error && !this.fatal) this.worker?.post({ type: 'stop', gen: p.gen });
    if (why && !p.ended && !p.error) p.error = new Error(why);
    p.ended = true;
    p.waiter?.resolve();
  }

  private unhold(p: Pass): void {
    if (p.held >= 0) this.free(p.held);
    p.held = -1;
  }

  private free(slot: number): void {
    if (!this.fatal) this.worker?.post({ type: 'free', slot });
  }

  /** The next delivery of this pass; undefined at its end; throws the worker's error after the batches before it. */
  private async take(p: Pass): Promise<Delivery | undefined> {
    while (p.queue.length === 0 && !p.ended && !p.error && !this.fatal) {
      this.hold();
      try {
        await new Promise<void>((resolve) => { p.waiter = { resolve }; });
      } finally {
        p.waiter = undefined;
        this.release();
      }
    }
    if (p.queue.length > 0) return p.queue.shift();
    if (p.error) throw p.error;
    if (this.fatal) throw this.fatal;
    return undefined;
  }

  private receive(m: FromWorker): void {
    switch (m.type) {
      case 'ready':
        this.info = m.info;
        this.slots = m.slots.map((s) => ({ x: new Float32Array(s.x), labels: new Float32Array(s.labels) }));
        this.onReady?.resolve();
        return;
      case 'error':
        if (m.gen === -1) {
          // The dataset could not be opened: nothing more will come from this worker.
          const e = Object.assign(new Error(m.message), { name: m.name });
          this.closed = true;
          this.worker?.terminate();
          this.die(e);
          return;
        }
        if (this.pass?.gen === m.gen) {
          this.pass.error = Object.assign(new Error(m.message), { name: m.name });
          this.pass.waiter?.resolve();
        }
        return;
      case 'batch':
        if (this.pass?.gen === m.gen) {
          this.pass.queue.push(m);
          this.pass.waiter?.resolve();
        } else {
          this.free(m.slot); // left over from an abandoned pass
        }
        return;
      case 'end':
        if (this.pass?.gen === m.gen) {
          this.pass.ended = true;
          this.pass.waiter?.resolve();
        }
        return;
    }
  }

  /** The worker is gone (or failed to start): every waiter rejects with `e`. */
  private die(e: Error): void {
    if (this.fatal) return;
    this.fatal = e;
    this.onReady?.reject(e);
    this.pass?.waiter?.resolve();
  }

  private hold(): void {
    if (this.refs++ === 0) this.worker?.ref();
  }

  private release(): void {
    if (--this.refs === 0) this.worker?.unref();
  }
}
