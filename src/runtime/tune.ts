// The planner's measurement harness: times conv candidates (backend x algorithm x pass) warm on real backends,
// fits the cost of moving bytes between backends, goes through the tuning cache, and hands the chain to the search.
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
  type Candidate, type LayerSpec, type LinkCost, type Pass, PASSES, type Plan, bestUniformPlan, linkTransferModel,
  measureCosts, searchPlan,
} from './planner.js';
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
  /** Timed repeats per candidate after one warm-up run (default 5). */
  repeats?: number;
  /** Stop timing a candidate after one sample when it is this many times slower than the best so far (default 4). */
  pruneFactor?: number;
  /** Skip a backend's remaining algorithms for a (layer, pass) once its best there is this many times slower than
   *  the best on another backend (default 8): changing the algorithm gains at most ~5x (Winograd F(6x6) over
   *  direct), so it cannot catch up. Keeps tuning with a slow device (a software GPU) in seconds, not minutes. */
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

export interface CandidateTiming { ms: number; samples: number; warmupMs: number; pruned: boolean }

/** Median warm time of one conv pass with one algorithm; throws whatever the backend throws. */
export async function timeConvCandidate(backend: Backend, shape: ConvShape, pass: Pass, algo: ConvAlgo,
  opts: { repeats?: number; bestSoFarMs?: number; pruneFactor?: number } = {}): Promise<CandidateTiming> {
  const { oh, ow } = convOutSize(shape);
  const xLen = shape.n * shape.h * shape.w * shape.cin, yLen = shape.n * oh * ow * shape.cout;
  const wLen = shape.kh * shape.kw * shape.cin * shape.cout;
  const owned: Buf[] = [];
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
    await backend.sync();
    const t0 = performance.now();
    runOnce();
    await backend.sync();
    const warmupMs = performance.now() - t0;
    const repeats = opts.repeats ?? 5, prune = opts.pruneFactor ?? 4;
    // Far behind even counting compile time: the first run is the (over)estimate; no need to run it again.
    // This keeps tuning on a slow device (a software GPU) from costing minutes.
    if (opts.bestSoFarMs !== undefined && warmupMs > 2 * prune * opts.bestSoFarMs) return { ms: warmupMs, samples: 0, warmupMs, pruned: true };
    const samples: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const s = performance.now();
      runOnce();
      await backend.sync();
      samples.push(performance.now() - s);
      // A candidate far behind the best one so far cannot win: one sample is enough to say so.
      if (r === 0 && opts.bestSoFarMs !== undefined && samples[0] > prune * opts.bestSoFarMs) break;
    }
    samples.sort((a, b) => a - b);
    return { ms: samples[samples.length >> 1], samples: samples.length, warmupMs, pruned: samples.length < repeats };
  } finally {
    for (const b of owned) { try { backend.free(b); } catch { /* a lost device cannot free; nothing to do */ } }
  }
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
const ALGO_ORDER: readonly ConvAlgo[] = ['winograd_f4x4', 'im2col_gemm', 'winograd_f2x2', 'winograd_f6x6'];

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
 * Measures (or reads from the cache) every candidate of every layer and pass on every backend, measures the
 * links between backends, and returns the plan minimising the training step. Failing candidates end in
 * plan.dropped with their reason; plan.meta holds backend descriptions, tuning time, cache hits, and the best
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
  const bestSoFar = new Map<string, number>();
  /** Best time per (layer, pass, backend) seen so far, cached or measured, for the skip rule. */
  const bestOn = new Map<string, number>();
  const skipFactor = opts.skipFactor ?? 8;
  const note = (slot: string, backend: string, ms: number) => {
    bestSoFar.set(slot, Math.min(ms, bestSoFar.get(slot) ?? Infinity));
    bestOn.set(`${slot}@${backend}`, Math.min(ms, bestOn.get(`${slot}@${backend}`) ?? Infinity));
  };

  const measured = await measureCosts(specs, async (spec, pass, c) => {
    const layer = layers[specs.indexOf(spec)];
    const backend = byLabel.get(c.backend)!;
    const shape = layer.kind === 'other' ? layer.key : shapeKey(layer.shape);
    const key = tuningKey({ backend: ids.get(c.backend)!, shape, pass, algo: c.algo });
    const slot = `${spec.id}/${pass}`;
    const hit = cache.get<TuningEntry>(key);
    if (hit) {
      if ('error' in hit) throw new Error(`${hit.error} (cached; retune to measure again)`);
      note(slot, c.backend, hit.ms);
      return hit.ms;
    }
    // Decided from times already known (cached or measured), so a re-plan from the cache skips the same ones.
    const mine = bestOn.get(`${slot}@${c.backend}`), best = bestSoFar.get(slot);
    if (mine !== undefined && best !== undefined && mine > skipFactor * best) {
      throw new Error(`skipped: ${c.backend} is ${(mine / best).toFixed(1)}x behind the best for this pass (${mine.toFixed(2)} vs ${best.toFixed(2)} ms)`);
    }
    try {
      let ms: number, samples: number;
      if (layer.kind === 'other') { ms = await layer.time(backend, pass); samples = 1; }
      else ({ ms, samples } = await timeConvCandidate(backend, layer.shape, pass, c.algo as ConvAlgo,
        { repeats: opts.repeats, pruneFactor: opts.pruneFactor, bestSoFarMs: bestSoFar.get(slot) }));
      note(slot, c.backend, ms);
      cache.set(key, { ms, samples });
      log(`  ${spec.id} ${pass} ${c.backend}/${c.algo}: ${ms.toFixed(3)} ms${samples === 0 ? ' (first run only: far behind)' : samples === 1 ? ' (1 sample)' : ''}`);
      return ms;
    } catch (e) {
      const reason = (e as Error)?.message ?? String(e);
      if (!TRANSIENT.test(reason)) cache.set(key, { error: reason });
      log(`  ${spec.id} ${pass} ${c.backend}/${c.algo}: FAILED ${reason}`);
      throw e;
    }
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
