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

/** Which cases a run measures (--shapes, --kernels, --algos): so that a slow backend's full run can be done
 *  in chunks. Each list holds exact ids or substrings; an empty or absent list selects everything. */
export interface CaseFilter { shapes?: string[]; kernels?: string[]; algos?: string[] }

/** Whether the case passes the filter (a field the case does not have is not filtered on). */
export function selected(filter: CaseFilter | undefined, c: { shape?: string; kernel?: string; algo?: string }): boolean {
  const ok = (list: string[] | undefined, v: string | undefined) => !list?.length || v === undefined || list.some((p) => v === p || v.includes(p));
  return ok(filter?.shapes, c.shape) && ok(filter?.kernels, c.kernel) && ok(filter?.algos, c.algo);
}

export interface SuiteContext {
  quick: boolean;
  /** Cases to measure (the gemm, conv and layers suites honour it); absent: every case of the mode. */
  filter?: CaseFilter;
  /** Saves the rows measured so far (suites with slow cases call it after each row), so that a run cut
   *  short (timeout, lost device) keeps them; the file is marked incomplete until the suite returns. */
  checkpoint?(records: BenchRecord[]): Promise<void>;
  /** Backends to measure on (wasm with 1 and 2 threads, relaxed and plain builds, WebGPU when present). */
  backends: BenchBackend[];
  log(message: string): void;
}

export interface Suite {
  name: string;
  run(ctx: SuiteContext): Promise<BenchRecord[]>;
}

export interface MeasureOptions {
  minSamples?: number; maxSamples?: number; maxMs?: number;
  /** Adaptive sampling for slow calls (a software GPU runs a VGG layer for seconds): when the warm call
   *  took longer than `slowMs`, only `slowSamples` samples are taken (the warm call counts as one), and
   *  only one when it took longer than `verySlowMs`. Defaults 1000 ms, 2 samples, 4000 ms. */
  slowMs?: number; slowSamples?: number; verySlowMs?: number;
}

export interface Measured {
  medianMs: number;
  /** The first call (pipeline compile, first touch), reported apart from steady state. */
  firstMs: number;
  samples: number[];
  /** Where the samples come from: 'wall' (host clock around call + sync), 'gpu-timestamp' (timestamp
   *  queries around the compute passes) or 'gpu-submit-to-completion' (an adapter without timestamps). */
  timing: 'wall' | 'gpu-timestamp' | 'gpu-submit-to-completion';
  /** Median host-clock time of the sampled calls (call + sync), when the samples are GPU times. */
  wallMedianMs?: number;
  /** True when the adaptive rule cut sampling short (slow call). */
  adaptive?: boolean;
  /** Pipeline creation time inside the first call (GPU backends that count it). */
  compileMs?: number;
  /** CPU time this process used per wall-clock time over the measurement, first call included (1.0 = one
   *  core busy): on a shared machine, a software-GPU or 2-thread wasm row well below 2 was disturbed. */
  cpuShare?: number;
}

/** Runs `f` and returns its result with the process's CPU-time / wall-time ratio over it. */
async function withCpuShare<T extends object>(f: () => Promise<T>): Promise<T & { cpuShare: number }> {
  const c0 = process.cpuUsage(), t0 = performance.now();
  const r = await f();
  const c = process.cpuUsage(c0), wall = performance.now() - t0;
  return { ...r, cpuShare: wall > 0 ? Math.round(((c.user + c.system) / 1000 / wall) * 100) / 100 : NaN };
}

/** How many samples a call of `warmMs` gets under the adaptive rule; undefined = the normal budget. */
export function adaptiveSamples(warmMs: number, o: MeasureOptions = {}): number | undefined {
  if (warmMs > (o.verySlowMs ?? 4000)) return 1;
  if (warmMs > (o.slowMs ?? 1000)) return Math.max(1, o.slowSamples ?? 2);
  return undefined;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** The sampling fields every suite's rows carry in `extra`: sample count, best sample, clock, CPU share, and the
 *  host-clock median and adaptive flag when there are any. */
export function measuredExtra(t: Measured): Record<string, unknown> {
  return { samples: t.samples.length, best_ms: Math.min(...t.samples), timing: t.timing, cpu_share: t.cpuShare,
    ...(t.wallMedianMs !== undefined ? { wall_median_ms: t.wallMedianMs } : {}), ...(t.adaptive ? { adaptive: true } : {}) };
}

/** Calls a, then b, `pairs` times (after one untimed call of each) and returns the median of the per-pair ratios
 *  time(a) / time(b) with the ratios: both sides of a ratio run within milliseconds of each other, so a host that
 *  takes a core away for seconds slows both alike, which rows measured minutes apart cannot promise. */
export async function alternatedRatio(a: () => Promise<void> | void, b: () => Promise<void> | void, pairs: number):
  Promise<{ ratio: number; ratios: number[] }> {
  await a(); await b();
  const ratios: number[] = [];
  for (let i = 0; i < pairs; i++) {
    let t = performance.now(); await a(); const ta = performance.now() - t;
    t = performance.now(); await b(); ratios.push(ta / (performance.now() - t));
  }
  return { ratio: median(ratios), ratios };
}

/** Time `fn` (which must complete its work before its promise resolves): warm-up, then the median of
 *  repeated samples, stopping after `maxMs` of sampling or `maxSamples`. The two first calls are timed
 *  by hand (the first one holds compile/first-touch cost, reported apart); the steady-state samples come
 *  from tinybench, whose time budget is cut to about `maxSamples` warm calls so quick runs stay quick.
 *  A slow warm call (see MeasureOptions.slowMs) is itself a sample, and tinybench is skipped. */
export async function measure(fn: () => Promise<void> | void, opts: MeasureOptions = {}): Promise<Measured> {
  return withCpuShare(() => measureWall(fn, opts));
}

async function measureWall(fn: () => Promise<void> | void, opts: MeasureOptions): Promise<Measured> {
  const t0 = performance.now();
  await fn();
  const firstMs = performance.now() - t0;
  const minSamples = opts.minSamples ?? 5, maxSamples = Math.max(opts.maxSamples ?? 50, minSamples), maxMs = opts.maxMs ?? 1500;
  const t1 = performance.now();
  await fn();
  const warmMs = performance.now() - t1;
  const slow = adaptiveSamples(warmMs, opts), few = slow === undefined ? undefined : Math.min(slow, maxSamples);
  if (few !== undefined) {
    const samples = [warmMs];
    while (samples.length < few) {
      const t = performance.now();
      await fn();
      samples.push(performance.now() - t);
    }
    return { medianMs: median(samples), firstMs, samples, timing: 'wall', adaptive: true };
  }
  // tinybench runs until BOTH `iterations` and `time` are met, so `time` carries the maxSamples cap.
  const bench = new Bench({ iterations: minSamples, time: Math.min(maxMs, maxSamples * warmMs), warmup: false, retainSamples: true, throws: true });
  bench.add('fn', async () => { await fn(); });
  const [task] = await bench.run();
  const r = task.result;
  if (r.state !== 'completed') throw new Error(`measure: tinybench ended in state ${r.state}${r.state === 'errored' ? `: ${r.error.message}` : ''}`);
  const samples = [...(r.latency.samples ?? [])];
  return { medianMs: r.latency.p50, firstMs, samples, timing: 'wall' };
}

/** A backend that can time its own kernels on the device (WebGpuBackend.timeGpu). */
interface GpuTimed { timeGpu(fn: () => void): Promise<{ ms: number; source: 'timestamp' | 'wall' }>; pipelines?: { compileMs?: number } }
const gpuTimed = (be: Backend): be is Backend & GpuTimed => typeof (be as Partial<GpuTimed>).timeGpu === 'function';

/** Pipeline-compile milliseconds a GPU backend has spent so far (undefined for backends that do not count). */
export function compileMsSoFar(be: Backend): number | undefined {
  const v = (be as Partial<GpuTimed>).pipelines?.compileMs;
  return typeof v === 'number' ? v : undefined;
}

/** Time one kernel call (`issue` enqueues it; nothing else): on a GPU backend with its own timer, the
 *  samples are device times (timestamp queries, else submit-to-completion), and the host-clock medians go
 *  in wallMedianMs; elsewhere this is measure() around issue + sync. Same sampling rules as measure(). */
export async function measureKernel(be: Backend, issue: () => void, opts: MeasureOptions = {}): Promise<Measured> {
  if (!gpuTimed(be)) return measure(async () => { issue(); await be.sync(); }, opts);
  return withCpuShare(() => measureGpu(be, issue, opts));
}

async function measureGpu(be: Backend & GpuTimed, issue: () => void, opts: MeasureOptions): Promise<Measured> {
  const c0 = compileMsSoFar(be);
  const t0 = performance.now();
  issue();
  await be.sync();
  const firstMs = performance.now() - t0;
  const compileMs = c0 !== undefined ? compileMsSoFar(be)! - c0 : undefined;
  const minSamples = opts.minSamples ?? 5, maxSamples = Math.max(opts.maxSamples ?? 50, minSamples), maxMs = opts.maxMs ?? 1500;
  const samples: number[] = [], walls: number[] = [];
  let source: 'timestamp' | 'wall' = 'timestamp', limit = maxSamples, adaptive = false;
  const start = performance.now();
  while (samples.length < limit && (samples.length < minSamples || performance.now() - start < maxMs)) {
    const t = performance.now();
    const g = await be.timeGpu(issue);
    walls.push(performance.now() - t);
    samples.push(g.ms);
    if (g.source === 'wall') source = 'wall';
    if (samples.length === 1) {
      const few = adaptiveSamples(walls[0], opts);
      if (few !== undefined) { limit = Math.min(few, maxSamples); adaptive = true; }
    }
  }
  return { medianMs: median(samples), firstMs, samples, timing: source === 'timestamp' ? 'gpu-timestamp' : 'gpu-submit-to-completion',
    wallMedianMs: median(walls), ...(adaptive ? { adaptive } : {}), ...(compileMs !== undefined ? { compileMs } : {}) };
}
