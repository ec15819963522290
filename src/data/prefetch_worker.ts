// Data-loading worker behind PrefetchingLoader: opens the dataset itself, runs a DataLoader and writes batches into shared slots.
//
// Protocol (small postMessage messages only; pixels never go through structured clone): the main thread
// sends 'init' once; the worker loads the dataset, allocates `slots` SharedArrayBuffer pairs (x, labels)
// and answers 'ready' with them. 'start' (a generation number, the epoch and the consumer's LoaderState)
// begins an iteration; the worker fills free slots in order and posts 'batch' with the slot index; the main
// thread posts 'free' once it has copied a slot out (or, with reuse, once the consumer moved on). 'stop'
// abandons a generation; batches of an old generation that still arrive are simply freed by the main thread.
import { loadDataset, type Dataset, type DatasetName } from './dataset.js';
import { DataLoader, type Batch, type DataLoaderOptions, type LoaderState } from './loader.js';
import { RandomShift } from '../cli/augment.js';

/** What a worker needs to re-open a dataset: loadDataset's arguments plus the wrappers the trainer applies. */
export interface DatasetSpec {
  name: DatasetName;
  data?: string;
  split: 'train' | 'test';
  /** Keep n images spread evenly over the set (as `train --limit-train`: the mnist package is class-sorted). */
  limit?: number;
  /** RandomShift augmentation (src/cli/augment.ts); its epoch follows the epoch passed to batches(). */
  shift?: { max: number; seed: number };
}

export interface LoaderInfo {
  name: string; length: number; height: number; width: number; numClasses: number; numBatches: number; batchSize: number; inputSize: number; channels: number;
  fit: 'none' | 'pad' | 'resize'; mean: number[]; std: number[];
}

export type ToWorker =
  | { type: 'init'; spec: DatasetSpec; opts: DataLoaderOptions; slots: number }
  | { type: 'start'; gen: number; epoch: number; state: LoaderState }
  | { type: 'stop'; gen: number }
  | { type: 'free'; slot: number };

export type FromWorker =
  | { type: 'ready'; info: LoaderInfo; slots: { x: SharedArrayBuffer; labels: SharedArrayBuffer }[] }
  | { type: 'batch'; gen: number; slot: number; size: number; index: number }
  | { type: 'end'; gen: number }
  /** gen -1: the dataset or the loader could not be opened. */
  | { type: 'error'; gen: number; name: string; message: string };

/** loadDataset plus the spec's wrappers; also used in-process by tests to build the reference loader. */
export async function openDataset(spec: DatasetSpec): Promise<{ ds: Dataset; shift?: RandomShift }> {
  let ds: Dataset = await loadDataset(spec.name, { data: spec.data, split: spec.split });
  const n = spec.limit;
  if (n !== undefined && (!Number.isInteger(n) || n < 1)) throw new Error(`PrefetchingLoader: limit must be a positive integer, got ${n}`);
  if (n !== undefined && n < ds.length) {
    const src = ds, pick = (i: number) => Math.floor((i * src.length) / n);
    ds = { name: src.name, length: n, channels: src.channels, height: src.height, width: src.width, numClasses: src.numClasses,
      get: (i, out, off) => src.get(pick(i), out, off) };
  }
  if (!spec.shift) return { ds };
  const shift = new RandomShift(ds, spec.shift.max, spec.shift.seed);
  return { ds: shift, shift };
}

interface Port { post(m: FromWorker): void; listen(h: (m: ToWorker) => void): void }

/** The parent's port: node:worker_threads in Node, the worker global scope in a browser; undefined on a main thread. */
async function parentPort(): Promise<Port | undefined> {
  if (typeof process !== 'undefined' && process.versions?.node) {
    const wt = await import('node:worker_threads');
    const p = wt.parentPort;
    if (wt.isMainThread || !p) return undefined;
    return { post: (m) => p.postMessage(m), listen: (h) => p.on('message', h) };
  }
  const g = globalThis as unknown as { WorkerGlobalScope?: unknown; postMessage(m: unknown): void; onmessage: unknown };
  if (g.WorkerGlobalScope === undefined) return undefined;
  return { post: (m) => g.postMessage(m), listen: (h) => { g.onmessage = (ev: MessageEvent<ToWorker>) => h(ev.data); } };
}

/** Lets queued messages ('stop', 'free') in between two batches. */
const yieldToEvents = () => new Promise<void>((r) => (typeof setImmediate === 'function' ? setImmediate(r) : setTimeout(r, 0)));

function serve(port: Port): void {
  let loader: DataLoader | undefined;
  let shift: RandomShift | undefined;
  let slots: { x: Float32Array; labels: Float32Array }[] = [];
  const free: number[] = [];
  let gen = -1;
  let it: Iterator<Batch> | undefined;
  let pumping = false;
  const fail = (g: number, e: unknown) => {
    const err = e instanceof Error ? e : new Error(String(e));
    port.post({ type: 'error', gen: g, name: err.name, message: err.message });
  };

  // Fills free slots while the current generation has batches left.
  async function pump(): Promise<void> {
    if (pumping) return;
    pumping = true;
    try {
      while (it && loader && free.length > 0) {
        const g = gen;
        let r: IteratorResult<Batch>;
        try {
          r = it.next();
        } catch (e) {
          it = undefined;
          fail(g, e);
          break;
        }
        if (r.done) {
          it = undefined;
          port.post({ type: 'end', gen: g });
          break;
        }
        const slot = free.shift()!;
        slots[slot].x.set(r.value.x);
        slots[slot].labels.set(r.value.labels);
        const s = loader.state();
        port.post({ type: 'batch', gen: g, slot, size: r.value.size, index: (s.position === 0 ? loader.numBatches : s.position) - 1 });
        await yieldToEvents();
      }
    } finally {
      pumping = false;
    }
  }

  port.listen(async (m) => {
    switch (m.type) {
      case 'init':
        try {
          const opened = await openDataset(m.spec);
          shift = opened.shift;
          loader = new DataLoader(opened.ds, m.opts);
          const pixels = loader.inputSize * loader.inputSize * loader.channels;
          const shared = Array.from({ length: m.slots }, () => ({
            x: new SharedArrayBuffer(loader!.batchSize * pixels * 4), labels: new SharedArrayBuffer(loader!.batchSize * 4),
          }));
          slots = shared.map((s) => ({ x: new Float32Array(s.x), labels: new Float32Array(s.labels) }));
          free.push(...slots.keys());
          const l = loader;
          port.post({ type: 'ready', slots: shared, info: {
            name: opened.ds.name, length: opened.ds.length, height: opened.ds.height, width: opened.ds.width,
            numClasses: opened.ds.numClasses, numBatches: l.numBatches, batchSize: l.batchSize,
            inputSize: l.inputSize, channels: l.channels, fit: l.fit, mean: l.mean, std: l.std,
          } });
        } catch (e) {
          fail(-1, e);
        }
        return;
      case 'start':
        gen = m.gen;
        it = undefined;
        try {
          if (shift) shift.epoch = m.epoch;
          loader!.restore(m.state);
          it = loader!.batches(m.epoch)[Symbol.iterator]();
        } catch (e) {
          fail(m.gen, e);
        }
        return pump();
      case 'stop':
        if (m.gen === gen) it = undefined;
        return;
      case 'free':
        free.push(m.slot);
        return pump();
    }
  });
}

const port = await parentPort();
if (port) serve(port);
