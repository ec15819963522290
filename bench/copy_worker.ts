// Bench-only worker thread: a second 1-thread wasm backend that runs the same conv or GEMM call as the main thread's
// at the same moment, so bench/copies.ts can measure how far two independent copies of a kernel scale in this window.
import { parentPort, workerData } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { Buf } from '../src/backend.js';
import { WasmBackend } from '../src/backends/wasm/backend.js';
import type { WasmBuild } from '../src/backends/wasm/loader.js';
import { layerData, passCall } from './suites/conv.js';
import { gemmCall } from './suites/gemm.js';
import { COPY_DONE, COPY_EXIT, COPY_GO, COPY_STARTED, COPY_WORKER_MS, type CopySpec, specName } from './copies.js';

export interface CopyWorkerData { build: WasmBuild; memoryMiB: number; control: SharedArrayBuffer }

const { build, memoryMiB, control } = workerData as CopyWorkerData;
const i32 = new Int32Array(control), f64 = new Float64Array(control);
const backend = await WasmBackend.create({ threads: 1, build, memoryMiB });
let call: { issue: () => void; out: Buf; dispose: () => void } | undefined;
let prepared = '';

const api = {
  /** Uploads the call's seeded data (the same as the main thread's) and runs it twice to warm it; nothing
   *  when the call is the one already prepared. */
  async prepare(spec: CopySpec): Promise<void> {
    const key = specName(spec);
    if (key === prepared) return;
    call?.dispose();
    prepared = '';
    call = 'conv' in spec ? passCall(backend, spec.conv.layer.shape, spec.conv.pass, spec.conv.algo, layerData(spec.conv.layer.shape))
      : gemmCall(backend, spec.gemm);
    call.issue(); call.issue();
    prepared = key;
  },
  /** Serves timed runs until a go comes with the exit word set: sleeps on the go word, says it started, runs the
   *  call, stores how long it took and bumps the done word. Returns the number of runs. */
  serve(goBefore: number): number {
    if (!call) throw new Error('copy worker: serve() before prepare()');
    // goBefore: the go word when the main thread called; a go posted before this line runs is then not missed.
    let seen = goBefore, runs = 0;
    for (;;) {
      Atomics.wait(i32, COPY_GO, seen);
      seen = Atomics.load(i32, COPY_GO);
      if (Atomics.load(i32, COPY_EXIT) === 1) return runs;
      Atomics.store(i32, COPY_STARTED, seen);
      const t = performance.now();
      call.issue();
      f64[COPY_WORKER_MS] = performance.now() - t;
      runs++;
      Atomics.store(i32, COPY_DONE, seen);
      Atomics.notify(i32, COPY_DONE);
    }
  },
  /** What the last run wrote (tests compare it with the main thread's). */
  async output(): Promise<Float32Array> {
    if (!call) throw new Error('copy worker: output() before prepare()');
    return backend.read(call.out);
  },
  async dispose(): Promise<void> {
    call?.dispose();
    call = undefined;
    await backend.dispose();
  },
};
export type CopyWorkerApi = typeof api;

Comlink.expose(api, nodeEndpoint(parentPort!));
