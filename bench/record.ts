// The bench result record and suite contract shared by every suite, the runner and the report writer.
import { Bench } from 'tinybench';
import type { Backend } from '../src/backend.js';

/** One measurement: (kernel, shape, backend, algorithm, threads). Field names are fixed by issue #2. */
export interface BenchRecord {
  suite: string;
  /** Kernel id as it shows everywhere (Backend kernel id or micro-kernel name). */
  kernel: string;
  /** Shape id from src/runtime/shapes.ts or e.g. "1024x1024x1024". */
  shape: string;
  /** 'wasm' | 'webgpu' | 'tfjs-wasm' | 'reference' ... */
  backend: string;
  /** Conv algorithm id, or the micro-kernel/build variant for GEMM (e.g. 'relaxed', 'simd'). */
  algo: string;
  threads: number;
  median_ms: number;
  /** For every conv algorithm: the direct-convolution FLOP count / time. */
  gflops: number;
  /** Against the reference (or float64) result on the same inputs; NaN when not checked. */
  max_rel_err: number;
  /** Pipeline compile / first-call time, reported apart from steady state (WebGPU). */
  compile_ms?: number;
  warmup_ms?: number;
  /** Anything else worth keeping (backend description, GPU timing source, samples). */
  extra?: Record<string, unknown>;
}

/** A backend the runner hands to suites, with the label rows carry. */
export interface BenchBackend { backend: Backend; label: string; threads: number; algoTag?: string }

export interface SuiteContext {
  quick: boolean;
  /** Backends to measure on (wasm with 1 and 2 threads, relaxed and plain builds, WebGPU when present). */
  backends: BenchBackend[];
  log(message: string): void;
}

export interface Suite {
  name: string;
  run(ctx: SuiteContext): Promise<BenchRecord[]>;
}

/** Time `fn` (which must complete its work before its promise resolves): warm-up, then the median of
 *  repeated samples, stopping after `maxMs` of sampling or `maxSamples`. The two first calls are timed
 *  by hand (the first one holds compile/first-touch cost, reported apart); the steady-state samples come
 *  from tinybench, whose time budget is cut to about `maxSamples` warm calls so quick runs stay quick. */
export async function measure(fn: () => Promise<void> | void, opts: { minSamples?: number; maxSamples?: number; maxMs?: number } = {}):
  Promise<{ medianMs: number; firstMs: number; samples: number[] }> {
  const t0 = performance.now();
  await fn();
  const firstMs = performance.now() - t0;
  const minSamples = opts.minSamples ?? 5, maxSamples = Math.max(opts.maxSamples ?? 50, minSamples), maxMs = opts.maxMs ?? 1500;
  const t1 = performance.now();
  await fn();
  const warmMs = performance.now() - t1;
  // tinybench runs until BOTH `iterations` and `time` are met, so `time` carries the maxSamples cap.
  const bench = new Bench({ iterations: minSamples, time: Math.min(maxMs, maxSamples * warmMs), warmup: false, retainSamples: true, throws: true });
  bench.add('fn', async () => { await fn(); });
  const [task] = await bench.run();
  const r = task.result;
  if (r.state !== 'completed') throw new Error(`measure: tinybench ended in state ${r.state}${r.state === 'errored' ? `: ${r.error.message}` : ''}`);
  const samples = [...(r.latency.samples ?? [])];
  return { medianMs: r.latency.p50, firstMs, samples };
}
