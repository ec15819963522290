// The ceiling of a kernel's 2-thread speed-up in the current time window: the same 1-thread call run alone, then
// as two independent copies at once (this thread and a copy worker with a backend of its own, bench/copy_worker.ts).
import { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { ConvAlgo } from '../src/backend.js';
import type { WasmBackend } from '../src/backends/wasm/backend.js';
import type { WasmBuild } from '../src/backends/wasm/loader.js';
import type { ConvLayerShape } from '../src/runtime/shapes.js';
import type { CopyWorkerApi, CopyWorkerData } from './copy_worker.js';
import { median } from './record.js';
import type { Pass } from './suites/conv.js';
import type { GemmShape } from './suites/gemm.js';

/** The call both copies run: a conv pass of the bench's seeded layer data (bench/suites/conv.ts passCall) or a
 *  GEMM of the gemm suite's seeded operands (bench/suites/gemm.ts gemmCall). */
export type CopySpec = { conv: { layer: ConvLayerShape; pass: Pass; algo: ConvAlgo } } | { gemm: GemmShape };

/** A short name of a spec for messages and the worker's cache key. */
export function specName(spec: CopySpec): string {
  if ('conv' in spec) return `${spec.conv.layer.id} ${spec.conv.pass} ${spec.conv.algo}`;
  const g = spec.gemm;
  return `gemm ${g.m}x${g.n}x${g.k}${g.transA ? ' transA' : ''}${g.transB ? ' transB' : ''}`;
}

/** Words of the control block (i32 indices; COPY_WORKER_MS is an f64 index, bytes 16-23): the go sequence number
 *  (it only grows), the last one the worker started and finished, 1 when a go means "leave serve()", and how long
 *  the worker's last run took. */
export const COPY_GO = 0, COPY_STARTED = 1, COPY_DONE = 2, COPY_EXIT = 3, COPY_WORKER_MS = 2;
/** How long the main thread waits for the copy worker to start a run, or to finish one after its own copy. */
const WORKER_TIMEOUT_MS = 10_000;

/**
 * Two copies of one kernel at once, each on its own thread and its own memory, share nothing a split kernel
 * shares: no claims, no barriers, no lines moving between the cores. Their throughput against one copy alone,
 * 2 * alone / together, is what a 2-thread split of that kernel could reach in the same window with its work
 * evenly shared. This VM's host often runs one vCPU slower than the other for minutes (pinned with taskset, a
 * 1024^3 GEMM took 51 ms on one and 42 on the other, then the other way round; a register-only loop did not see
 * it). The copies then wait for the slower core, while a split that claims its work at run time gives that core
 * less: such a split can read above this ceiling, and did (up to 123%).
 */
export class CopyRunner {
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private go = 0;

  private constructor(private readonly worker: Worker, private readonly api: Comlink.Remote<CopyWorkerApi>, control: SharedArrayBuffer,
    private readonly failed: Promise<never>) {
    this.i32 = new Int32Array(control);
    this.f64 = new Float64Array(control);
  }

  static async create(build: WasmBuild, memoryMiB: number): Promise<CopyRunner> {
    const control = new SharedArrayBuffer(32);
    const data: CopyWorkerData = { build, memoryMiB, control };
    const worker = new Worker(new URL('./copy_worker.js', import.meta.url), { workerData: data, name: 'vggrt-bench-copy' });
    // A worker that fails (at load, or later) rejects this, and every call below races it: comlink would wait forever.
    const failed = new Promise<never>((_, reject) => {
      worker.once('error', (e) => reject(new Error(`bench copy worker failed: ${e.message}`)));
      worker.once('exit', (code) => reject(new Error(`bench copy worker exited (code ${code})`)));
    });
    failed.catch(() => {}); // observed through the races below
    return new CopyRunner(worker, Comlink.wrap<CopyWorkerApi>(nodeEndpoint(worker)), control, failed);
  }

  /**
   * Median over `samples` of 2 * alone / together, where `alone` is one call of `run` on this thread with the copy
   * worker asleep and `together` the longer of this thread's and the worker's call when both start at once.
   */
  async ceiling(spec: CopySpec, run: () => void, samples: number): Promise<number> {
    return this.serving(spec, run, (together) => {
      run();
      const ratios: number[] = [];
      for (let i = 0; i < samples; i++) {
        const t = performance.now();
        run();
        const alone = performance.now() - t;
        ratios.push((2 * alone) / together());
      }
      return median(ratios);
    });
  }

  /**
   * Runs `body` while the copy worker serves `spec`. Each together() call starts the worker's copy, runs `run` (the
   * same call) here as soon as the worker has started, and returns the longer of the two durations in ms. Each
   * otherAlone() call runs the worker's copy alone while this thread spins, so it runs on the other core than this
   * thread, and returns its duration in ms. Between calls the worker sleeps, so `body` can time other calls in the
   * same window.
   */
  async serving<T>(spec: CopySpec, run: () => void,
    body: (together: () => number, otherAlone: () => number) => T | Promise<T>): Promise<T> {
    await Promise.race([this.api.prepare(spec), this.failed]);
    Atomics.store(this.i32, COPY_EXIT, 0);
    const serving = Promise.race([this.api.serve(this.go), this.failed]);
    /** Wakes the worker for its next run (or, with COPY_EXIT set, to leave serve()); returns the run's sequence number. */
    const go = () => {
      const seq = ++this.go;
      Atomics.store(this.i32, COPY_GO, seq);
      Atomics.notify(this.i32, COPY_GO);
      return seq;
    };
    const together = () => {
      const seq = go();
      // Start only once the worker has woken up, so the two calls overlap from their first instruction.
      const deadline = performance.now() + WORKER_TIMEOUT_MS;
      while (Atomics.load(this.i32, COPY_STARTED) !== seq) { // spin: a wake-up takes 50-250 us
        if (performance.now() > deadline) throw new Error(`bench copy worker: did not start ${specName(spec)} within ${WORKER_TIMEOUT_MS} ms`);
      }
      const t = performance.now();
      run();
      const mine = performance.now() - t;
      while (Atomics.load(this.i32, COPY_DONE) !== seq) {
        if (performance.now() > deadline + mine) throw new Error(`bench copy worker: ${specName(spec)} did not finish within ${WORKER_TIMEOUT_MS} ms of this thread's copy`);
        Atomics.wait(this.i32, COPY_DONE, Atomics.load(this.i32, COPY_DONE), 100);
      }
      return Math.max(mine, this.f64[COPY_WORKER_MS]);
    };
    const otherAlone = () => {
      const seq = go();
      // Spin, not wait: this thread keeps its core busy, so the worker's copy runs on the other one.
      const deadline = performance.now() + 2 * WORKER_TIMEOUT_MS;
      while (Atomics.load(this.i32, COPY_DONE) !== seq) {
        if (performance.now() > deadline) throw new Error(`bench copy worker: ${specName(spec)} alone did not finish within ${2 * WORKER_TIMEOUT_MS} ms`);
      }
      return this.f64[COPY_WORKER_MS];
    };
    try {
      return await body(together, otherAlone);
    } finally {
      Atomics.store(this.i32, COPY_EXIT, 1);
      go();
      await serving;
    }
  }

  /** The copy worker's output of its last run. */
  output(): Promise<Float32Array> { return Promise.race([this.api.output(), this.failed]); }

  async dispose(): Promise<void> {
    // A worker that already failed has reported it through the call that saw it; terminate it all the same.
    await Promise.race([this.api.dispose(), this.failed]).catch(() => {});
    this.api[Comlink.releaseProxy]();
    await this.worker.terminate();
  }
}

/** A suite's copy runners: one per wasm build, started on first use with the memory size of the backend that asks. */
export class CopyRunners {
  private readonly byBuild = new Map<WasmBuild, Promise<CopyRunner>>();

  for(be: WasmBackend): Promise<CopyRunner> {
    let runner = this.byBuild.get(be.build);
    if (!runner) this.byBuild.set(be.build, runner = CopyRunner.create(be.build, be.wasmMemory.buffer.byteLength / 2 ** 20));
    return runner;
  }

  async dispose(): Promise<void> {
    for (const runner of this.byBuild.values()) await (await runner).dispose();
    this.byBuild.clear();
  }
}

/** Runs `body` with copy runners that are disposed after it, whether it returns or throws. */
export async function withCopyRunners<T>(body: (copies: CopyRunners) => Promise<T>): Promise<T> {
  const copies = new CopyRunners();
  try {
    return await body(copies);
  } finally {
    await copies.dispose();
  }
}
