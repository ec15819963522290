// The planner's measurement harness: times conv candidates (backend x algorithm x pass) warm on real backends,
// cutting hopeless ones after one call (prune.ts), fits the cost of moving bytes between backends, goes through the
// tuning cache, and hands the chain to the search.
//
// Use from a trainer:
//   const plan = await planModel(convChainOfSpec(spec.layers, batch), [wasm, webgpu], { cache: { dir: '.tuning' } });
//   console.log(formatPlan(plan));                     // layer, pass, backend, algorithm, ms, runner-up
//   choiceFor(plan, 'features.3', 'forward')           // -> { backend: 'wasm', algo: 'winograd_f4x4', ms, runnerUp }
//   writeFile('run/plan.json', JSON.stringify(plan))   // saved with the run
// Backends are named in the plan by Backend.name, or by description when two share a name. After a device
// loss, call planModel again without that backend: every time comes from the cache, so it takes milliseconds.
import { type Backend, type Buf, CONV_ALGOS, type ConvAlgo, type ConvShape, algoApplies, convOutSize } from '../backend.js';
import {
  type Candidate, type LayerSpec, type LinkCost, type Pass, PASSES, type Plan, bestUniformPlan, linkTransferModel, searchPlan,
} from './planner.js';
import { type Probe, measureCostsPruned } from './prune.js';
import { TuningCache, type TuningCacheOptions, type TuningEntry, backendIdentity, shapeKey, tuningKey } from './tuning_cache.js';

/** A conv layer of the model. `inputGrad: false` (the first layer) skips backward_data. */
export interface ModelConvLayer { kind?: 'conv'; id: string; shape: ConvShape; inputGrad?: boolean }

/** Any other layer (pool, ReLU, BN, linear): the caller says what it moves and how to time it on a backend. */
export interface ModelOtherLayer {
  kind: 'other';
  id: string;
  /** Stable description of the layer's shape, part of the cache key (e.g. 'maxpool_n64h32w32c64'). */
  key: string;
  inputBytes: number; outputBytes: number; paramBytes?: number; savedBytes?: number;
  passes: Pass[];
  /** Warm time in ms of one pass on one backend; throw when it cannot run. */
  time(backend: Backend, pass: Pass): Promise<number>;
}

export type ModelLayer = ModelConvLayer | ModelOtherLayer;

export interface PlanModelOptions {
  /** Conv algorithms to try (default: all four). */
  algos?: readonly ConvAlgo[];
  /** false plans inference (forward only). Default true. */
  training?: boolean;
  /** Most timed calls per candidate after its warm-up (default 5). */
  repeats?: number;
  /** Time budget of one candidate's timed calls, after at least 3 (default 250 ms). */
  budgetMs?: number;
  /** A candidate whose first warm call is this many times the best of its layer/pass stops there: dropped when
   *  behind the best on its own backend, kept with that one time otherwise (default 3; see prune.ts). */
  pruneFactor?: number;
  /** Skip a backend's remaining algorithms for a (layer, pass) once its best there is this many times slower than
   *  the best on another backend (default 8): changing the algorithm gains at most ~5x (Winograd F(6x6) over
   *  direct), so it cannot catch up. Keeps tuning beside a slow device (a software GPU) in seconds. */
  skipFactor?: number;
  /** An open cache, options to open one, or false for no persistence. */
  cache?: TuningCache | TuningCacheOptions | false;
  log?: (message: string) => void;
  /** Keep every pass of a layer on one backend (for models that bind a layer to one backend). */
  oneBackendPerLayer?: boolean;
}

const F32 = 4;

/** The names backends carry in a plan: Backend.name, or the description where two share a name. */
export function planLabels(backends: Backend[]): string[] { return labelsFor(backends); }

function labelsFor(backends: Backend[]): string[] {
  const names = backends.map((b) => b.name);
  const labels = backends.map((b) => (names.indexOf(b.name) === names.lastIndexOf(b.name) ? b.name : b.description));
  if (new Set(labels).size !== labels.length) throw new Error(`planner: backends are not distinguishable: ${labels.join(', ')}`);
  return labels;
}

let filler: Float32Array | undefined;
/** Deterministic values in [-1, 1): real data, so no denormal or zero shortcuts flatter a kernel. */
function data(length: number): Float32Array {
  if (!filler || filler.length < length) {
    filler = new Float32Array(Math.max(length, 1 << 16));
    let s = 0x9e3779b9;
    for (let i = 0; i < filler.length; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; filler[i] = s / 2147483648 - 1; }
  }
  return filler.subarray(0, length);
}

function upload(b: Backend, length: number, owned: Buf[]): Buf {
  const buf = b.alloc(length);
  owned.push(buf);
  b.write(buf, data(length));
  return buf;
}

export interface CandidateTiming { ms: number; samples: number; warmupMs: number; firstMs: number }

export interface TimingOptions {
  /** Most timed calls, the first warm call included (default 5). */
  repeats?: number;
  /** Stop adding calls once the timed ones add up to this many ms, after at least 3 (default 250): a slow
   *  candidate's median needs fewer samples to be trusted than a fast one's. */
  budgetMs?: number;
}

/** A conv candidate, allocated and warmed up (compile and first-touch costs happen there), its first warm call
 *  timed; full() adds calls up to the repeats or the time budget and returns the median. Call release() after. */
export interface ConvProbe { warmupMs: number; firstMs: number; full(): Promise<CandidateTiming>; release(): void }

/** Sets up one conv pass with one algorithm and times its warm-up and first warm call; throws whatever the backend throws. */
export async function probeConvCandidate(backend: Backend, shape: ConvShape, pass: Pass, algo: ConvAlgo, opts: TimingOptions = {}): Promise<ConvProbe> {
  const { oh, ow } = convOutSize(shape);
  const xLen = shape.n * shape.h * shape.w * shape.cin, yLen = shape.n * oh * ow * shape.cout;
  const wLen = shape.kh * shape.kw * shape.cin * shape.cout;
  const owned: Buf[] = [];
  const release = () => {
    for (const b of owned.splice(0)) { try { backend.free(b); } catch { /* a lost device cannot free; nothing to do */ } }
  };
  try {
    let runOnce: () => void;
    if (pass === 'forward') {
      const x = upload(backend, xLen, owned), w = upload(backend, wLen, owned), bias = upload(backend, shape.cout, owned);
      const y = upload(backend, yLen, owned);
      runOnce = () => backend.run('conv2d_forward', { x, w, bias, y, shape, algo });
    } else if (pass === 'backward_data') {
      const dy = upload(backend, yLen, owned), w = upload(backend, wLen, owned), dx = upload(backend, xLen, owned);
      runOnce = () => backend.run('conv2d_backward_data', { dy, w, dx, shape, algo });
    } else {
      const x = upload(backend, xLen, owned), dy = upload(backend, yLen, owned);
      const dw = upload(backend, wLen, owned), db = upload(backend, shape.cout, owned);
      runOnce = () => backend.run('conv2d_backward_filter', { x, dy, dw, db, shape, algo, beta: 0 });
    }
    const timed = async () => { const s = performance.now(); runOnce(); await backend.sync(); return performance.now() - s; };
    await backend.sync();
    // The warm-up takes the compile, workspace growth and first touch of fresh memory: up to 10x a warm call on
    // wasm (measured on VGG-11's layers), more on a GPU. Deciding from it would drop good candidates.
    const warmupMs = await timed();
    const firstMs = await timed();
    const repeats = Math.max(1, opts.repeats ?? 5), budget = opts.budgetMs ?? 250;
    return {
      warmupMs, firstMs, release,
      async full() {
        const samples = [firstMs];
        let spent = firstMs;
        while (samples.length < repeats && !(samples.length >= 3 && spent >= budget)) { const t = await timed(); samples.push(t); spent += t; }
        samples.sort((a, b) => a - b);
        return { ms: samples[samples.length >> 1], samples: samples.length, warmupMs, firstMs };
      },
    };
  } catch (e) {
    release();
    throw e;
  }
}

/** Median warm time of one conv pass with one algorithm (warm-up, then up to `repeats` calls within the budget). */
export async function timeConvCandidate(backend: Backend, shape: ConvShape, pass: Pass, algo: ConvAlgo, opts: TimingOptions = {}): Promise<CandidateTiming> {
  const probe = await probeConvCandidate(backend, shape, pass, algo, opts);
  try { return await probe.full(); } finally { probe.release(); }
}

/** Time to read `elements` floats from one backend and write them to another: the fastest of `repeats`, since
 *  a copy has no data-dependent variation and slower samples are other processes taking the core. */
export async function timeTransfer(from: Backend, to: Backend, elements: number, repeats = 5): Promise<number> {
  const owned: [Backend, Buf][] = [];
  try {
    const src = from.alloc(elements); owned.push([from, src]);
    from.write(src, data(elements));
    const dst = to.alloc(elements); owned.push([to, dst]);
    await from.sync();
    const once = async () => { const d = await from.read(src); to.write(dst, d); await to.sync(); };
    await once();
    const samples: number[] = [];
    for (let r = 0; r < repeats; r++) { const s = performance.now(); await once(); samples.push(performance.now() - s); }
    return Math.min(...samples);
  } finally {
    for (const [b, buf] of owned) { try { b.free(buf); } catch { /* ignore */ } }
  }
}

/** Latency and bandwidth of from->to, fitted through a small and a large transfer. */
export async function measureLink(from: Backend, to: Backend, sizes: [number, number] = [4096, 1 << 21]): Promise<LinkCost> {
  const [n1, n2] = sizes;
  const t1 = await timeTransfer(from, to, n1), t2 = await timeTransfer(from, to, n2);
  const b1 = n1 * F32, b2 = n2 * F32;
  const bytesPerMs = t2 > t1 ? (b2 - b1) / (t2 - t1) : b2 / Math.max(t2, 1e-6);
  return { latencyMs: Math.max(0, t1 - b1 / bytesPerMs), bytesPerMs };
}

/** Measuring order: the usual winner first, so pruning and skipping have a good reference early. */
const ALGO_ORDER: readonly ConvAlgo[] = ['winograd_f4x4', 'winograd_map2x2', 'im2col_gemm', 'winograd_f2x2', 'winograd_f6x6'];

function convSpec(l: ModelConvLayer, labels: string[], algos: readonly ConvAlgo[], training: boolean): LayerSpec {
  const s = l.shape, { oh, ow } = convOutSize(s);
  const ordered = [...algos].sort((a, b) => (ALGO_ORDER.indexOf(a) + 1 || 99) - (ALGO_ORDER.indexOf(b) + 1 || 99));
  const cands = labels.flatMap((backend) => ordered.filter((a) => algoApplies(a, s)).map((algo): Candidate => ({ backend, algo })));
  const candidates: LayerSpec['candidates'] = { forward: cands };
  if (training) {
    if (l.inputGrad !== false) candidates.backward_data = cands;
    candidates.backward_filter = cands;
  }
  return {
    id: l.id, candidates,
    inputBytes: s.n * s.h * s.w * s.cin * F32, outputBytes: s.n * oh * ow * s.cout * F32,
    paramBytes: (s.kh * s.kw * s.cin * s.cout + s.cout) * F32,
  };
}

function otherSpec(l: ModelOtherLayer, labels: string[], training: boolean): LayerSpec {
  const candidates: LayerSpec['candidates'] = {};
  for (const p of l.passes) if (p === 'forward' || training) candidates[p] = labels.map((backend) => ({ backend, algo: 'default' }));
  return { id: l.id, candidates, inputBytes: l.inputBytes, outputBytes: l.outputBytes, paramBytes: l.paramBytes, savedBytes: l.savedBytes };
}

/** Errors worth re-measuring next time (the device may be back); others (limits, compile errors) are cached. */
const TRANSIENT = /lost|destroyed|out of memory|timeout/i;

/**
 * Measures (or reads from the cache) every candidate of every layer and pass on every backend, cutting those that
 * cannot win after their first warm call (prune.ts), measures the links between backends, and returns the plan
 * minimising the training step. Failing, pruned and skipped candidates end in plan.dropped with their reason; plan.meta holds backend descriptions, tuning time, cache hits, and the best
 * single-backend single-algorithm plan's time for comparison.
 */
export async function planModel(layers: ModelLayer[], backends: Backend[], opts: PlanModelOptions = {}): Promise<Plan> {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const training = opts.training ?? true;
  const labels = labelsFor(backends);
  const byLabel = new Map(labels.map((l, i) => [l, backends[i]]));
  const ids = new Map(labels.map((l, i) => [l, backendIdentity(backends[i])]));
  const cache = opts.cache instanceof TuningCache ? opts.cache : await TuningCache.open(opts.cache === false ? { storage: 'memory' } : opts.cache ?? {});
  const specs = layers.map((l) => (l.kind === 'other' ? otherSpec(l, labels, training) : convSpec(l, labels, opts.algos ?? CONV_ALGOS, training)));
  const measured = await measureCostsPruned(specs, async (spec, pass, c): Promise<Probe> => {
    const layer = layers[specs.indexOf(spec)];
    const backend = byLabel.get(c.backend)!;
    const shape = layer.kind === 'other' ? layer.key : shapeKey(layer.shape);
    const key = tuningKey({ backend: ids.get(c.backend)!, shape, pass, algo: c.algo });
    const fail = (e: unknown): never => {
      const reason = (e as Error)?.message ?? String(e);
      if (!TRANSIENT.test(reason)) cache.set(key, { error: reason });
      throw e;
    };
    // Runs the candidate now: its warm-up and first warm call; the rest only if the pruner asks for it.
    const live = async (): Promise<Probe> => {
      if (layer.kind === 'other') {
        const ms = await layer.time(backend, pass).catch(fail);
        cache.set(key, { ms, samples: 1, firstMs: ms });
        return { firstMs: ms, full: () => ms };
      }
      const pr = await probeConvCandidate(backend, layer.shape, pass, c.algo as ConvAlgo, { repeats: opts.repeats, budgetMs: opts.budgetMs }).catch(fail);
      cache.set(key, { ms: pr.firstMs, samples: 1, firstMs: pr.firstMs, partial: true });
      return {
        firstMs: pr.firstMs, release: () => pr.release(),
        async full() {
          const t = await pr.full().catch(fail);
          cache.set(key, { ms: t.ms, samples: t.samples, firstMs: t.firstMs });
          return t.ms;
        },
      };
    };
    const hit = cache.get<TuningEntry>(key);
    if (!hit) return live();
    if ('error' in hit) throw new Error(`${hit.error} (cached; retune to measure again)`);
    // A cached first call decides as before; a full time it lacks (the choices around it changed) is measured now.
    // (samples 0: an entry of the earlier tuner, its warm-up alone.)
    return {
      firstMs: hit.firstMs ?? hit.ms,
      async full() {
        if (!hit.partial && hit.samples !== 0) return hit.ms;
        const pr = await live();
        try { return await pr.full(); } finally { pr.release?.(); }
      },
    };
  }, {
    factor: opts.pruneFactor, skipFactor: opts.skipFactor,
    onResult(spec, pass, c, outcome, ms, reason) {
      const time = ms === undefined ? '' : `${ms.toFixed(3)} ms`;
      log(`  ${spec.id} ${pass} ${c.backend}/${c.algo}: ${outcome === 'measured' ? time : outcome === 'one call' ? `${time} (one call: far behind)` : reason}`);
    },
  });

  const links: Record<string, LinkCost> = {};
  for (const a of labels) for (const b of labels) {
    if (a === b) continue;
    const key = tuningKey({ backend: `${ids.get(a)}=>${ids.get(b)}`, shape: 'link', pass: 'transfer', algo: 'read+write' });
    let link = cache.get<LinkCost>(key);
    if (!link) {
      link = await measureLink(byLabel.get(a)!, byLabel.get(b)!);
      cache.set(key, link);
    }
    links[`${a}->${b}`] = link;
    log(`  link ${a}->${b}: ${link.latencyMs.toFixed(3)} ms + ${(link.bytesPerMs / 1e6).toFixed(2)} GB/s`);
  }
  const transfer = linkTransferModel(links);
  const plan = searchPlan(specs, measured, transfer, { oneBackendPerLayer: opts.oneBackendPerLayer });
  const uniform = bestUniformPlan(specs, measured, transfer);
  await cache.save();
  plan.meta = {
    backends: Object.fromEntries(labels.map((l) => [l, byLabel.get(l)!.description])),
    links,
    bestUniform: uniform ? { backend: uniform.backend, algo: uniform.algo, totalMs: uniform.plan.totalMs } : null,
    // The baseline itself, so a trainer can time a real step with it next to the auto plan (issue #5 bar).
    bestUniformPlan: uniform ? { ...uniform.plan, dropped: [] } : null,
    tuneMs: performance.now() - t0,
    cache: { storage: cache.storage, location: cache.location, hits: cache.hits, misses: cache.misses, retune: cache.retune },
    createdAt: new Date().toISOString(),
    training,
    passes: PASSES,
  };
  return plan;
}
