// The hybrid planner's search: per layer and pass, which (backend, algorithm) minimises the whole training
// step, counting the time to move activations, gradients and weights between backends (exact chain DP).
//
// Cost model (the definition; `simulateStep` implements it literally, the DP decomposes it):
//   forward, layer i on backend F_i: its input x_i is moved from F_{i-1} when they differ (x_0, the batch,
//     starts on F_0); its weights and saved tensors live on F_i; its output stays on F_i.
//   loss: on F_{L-1}, so dy_{L-1} starts there.
//   backward, i = L-1 .. 0: backward_data on D_i needs dy_i, w_i and saved_i (moved when not resident) and
//     leaves dx_i = dy_{i-1} on D_i; backward_filter on G_i needs x_i (resident on F_{i-1} and F_i) and dy_i
//     (resident where it was made and on D_i), and sends dw_i back to F_i, where the optimizer updates w_i.
//   A move of b bytes costs min over the backends holding the tensor of transfer(from, to, b) ms.
// Every cost of one layer depends only on its own choices and its neighbours', so a shortest path over
// states (layer, backend per pass) is exact; the algorithm per (layer, pass, backend) is simply the fastest,
// because algorithms do not change what moves.

export type Pass = 'forward' | 'backward_data' | 'backward_filter';
export const PASSES: readonly Pass[] = ['forward', 'backward_data', 'backward_filter'];

export interface Candidate { backend: string; algo: string }

/** One layer of a chain, abstractly: sizes of what it exchanges and its candidates per pass. */
export interface LayerSpec {
  id: string;
  /** Bytes of the input activation x (and of its gradient dx). */
  inputBytes: number;
  /** Bytes of the output activation y (and of its gradient dy). */
  outputBytes: number;
  /** Bytes of parameters (weights + bias): w goes to backward_data's backend, dw back to the forward one. */
  paramBytes?: number;
  /** Bytes of other forward tensors backward_data reads (pool input, ReLU output, BN statistics). */
  savedBytes?: number;
  /** Passes absent are not run (layer 0 usually has no backward_data; pools have no backward_filter). */
  candidates: Partial<Record<Pass, Candidate[]>>;
}

/** Time in ms of one candidate; throw when it cannot run (limits, compile error, device lost). */
export type CostFn = (layer: LayerSpec, pass: Pass, candidate: Candidate) => number | Promise<number>;

/** Time in ms to move `bytes` from one backend to another (0 on the same backend). */
export interface TransferModel { cost(from: string, to: string, bytes: number): number }

/** A measured link: ms = latencyMs + bytes / bytesPerMs. */
export interface LinkCost { latencyMs: number; bytesPerMs: number }

/** Transfer model from measured links keyed 'from->to'; a missing link is an error, not a free move. */
export function linkTransferModel(links: Record<string, LinkCost>): TransferModel {
  return {
    cost(from, to, bytes) {
      if (from === to || bytes <= 0) return 0;
      const l = links[`${from}->${to}`];
      if (!l) throw new Error(`planner: no measured transfer cost for ${from}->${to}`);
      return l.latencyMs + bytes / l.bytesPerMs;
    },
  };
}

/** oneCall: the time is a single warm call (the tuner stopped there: far behind the best of the slot). */
export interface Choice { backend: string; algo: string; ms: number; oneCall?: boolean }
export interface PlanEntry extends Choice { runnerUp?: Choice }
export interface Dropped { layer: string; pass: Pass; backend: string; algo: string; reason: string }
export interface Transfer { layer: string; what: string; from: string; to: string; bytes: number; ms: number }

export interface Plan {
  layers: { id: string; passes: Partial<Record<Pass, PlanEntry>> }[];
  /** Whole training step: computeMs + transferMs. */
  totalMs: number;
  computeMs: number;
  transferMs: number;
  transfers: Transfer[];
  dropped: Dropped[];
  /** Free-form context saved with the plan (backend descriptions, batch, time spent tuning). */
  meta?: Record<string, unknown>;
}

/** A complete choice: per layer, per present pass, one candidate. */
export type Assignment = Partial<Record<Pass, Candidate>>[];

export class PlanError extends Error {
  constructor(message: string, readonly dropped: Dropped[]) { super(message); this.name = 'PlanError'; }
}

/** Measured options of one (layer, pass), fastest first, plus the failures. */
export interface MeasuredCosts { options: Choice[][][]; dropped: Dropped[] }

function presentPasses(l: LayerSpec): Pass[] { return PASSES.filter((p) => l.candidates[p] !== undefined); }

function validateChain(layers: LayerSpec[]): void {
  if (layers.length === 0) throw new Error('planner: empty layer chain');
  const ids = new Set<string>();
  layers.forEach((l, i) => {
    if (ids.has(l.id)) throw new Error(`planner: duplicate layer id '${l.id}'`);
    ids.add(l.id);
    if (!l.candidates.forward) throw new Error(`planner: layer '${l.id}' has no forward candidates`);
    // A layer's gradient comes from the next layer's backward_data; without it nothing below can train.
    const below = layers.slice(0, i).some((b) => b.candidates.backward_data || b.candidates.backward_filter);
    if (below && !l.candidates.backward_data) throw new Error(`planner: layer '${l.id}' needs backward_data candidates: layers before it have backward passes`);
  });
}

/** Times every candidate through `cost`; failures are kept with their reason. options[layer][passIndex]. */
export async function measureCosts(layers: LayerSpec[], cost: CostFn): Promise<MeasuredCosts> {
  const dropped: Dropped[] = [];
  const options: Choice[][][] = [];
  for (const l of layers) {
    const perPass: Choice[][] = [];
    for (const p of PASSES) {
      const list: Choice[] = [];
      for (const c of l.candidates[p] ?? []) {
        try {
          const ms = await cost(l, p, c);
          if (!(Number.isFinite(ms) && ms >= 0)) throw new Error(`cost is ${ms}, not a finite time`);
          list.push({ backend: c.backend, algo: c.algo, ms });
        } catch (e) {
          dropped.push({ layer: l.id, pass: p, backend: c.backend, algo: c.algo, reason: (e as Error)?.message ?? String(e) });
        }
      }
      list.sort((a, b) => a.ms - b.ms);
      perPass.push(list);
    }
    options.push(perPass);
  }
  return { options, dropped };
}

// ---------- the definition: simulate one step for a full assignment ----------

/** Cost of a full assignment under the model above; `costOf` gives each chosen candidate's ms. */
export function simulateStep(layers: LayerSpec[], a: Assignment, costOf: (layer: number, pass: Pass, c: Candidate) => number,
  transfer: TransferModel): { totalMs: number; computeMs: number; transferMs: number; transfers: Transfer[] } {
  validateChain(layers);
  const transfers: Transfer[] = [];
  let computeMs = 0;
  const resident = new Map<string, Set<string>>();
  const put = (t: string, where: string[]) => resident.set(t, new Set(where));
  const move = (layer: string, t: string, to: string, bytes: number) => {
    const at = resident.get(t)!;
    if (at.has(to)) return;
    if (bytes > 0) {
      let best: { from: string; ms: number } | undefined;
      for (const from of at) { const ms = transfer.cost(from, to, bytes); if (!best || ms < best.ms) best = { from, ms }; }
      transfers.push({ layer, what: t.split('@')[0], from: best!.from, to, bytes, ms: best!.ms });
    }
    at.add(to);
  };
  const pick = (i: number, p: Pass) => {
    const c = a[i]?.[p];
    if (!c) throw new Error(`planner: assignment lacks ${p} of layer '${layers[i].id}'`);
    computeMs += costOf(i, p, c);
    return c.backend;
  };
  const F: string[] = [];
  layers.forEach((l, i) => {
    F[i] = pick(i, 'forward');
    if (i === 0) put(`x@0`, [F[0]]);
    move(l.id, `x@${i}`, F[i], l.inputBytes);
    put(`w@${i}`, [F[i]]);
    put(`saved@${i}`, [F[i]]);
    put(`x@${i + 1}`, [F[i]]);
  });
  put(`dy@${layers.length - 1}`, [F[layers.length - 1]]);
  for (let i = layers.length - 1; i >= 0; i--) {
    const l = layers[i];
    if (l.candidates.backward_data) {
      const D = pick(i, 'backward_data');
      move(l.id, `dy@${i}`, D, l.outputBytes);
      move(l.id, `w@${i}`, D, l.paramBytes ?? 0);
      move(l.id, `saved@${i}`, D, l.savedBytes ?? 0);
      if (i > 0) put(`dy@${i - 1}`, [D]);
    }
    if (l.candidates.backward_filter) {
      const G = pick(i, 'backward_filter');
      move(l.id, `x@${i}`, G, l.inputBytes);
      move(l.id, `dy@${i}`, G, l.outputBytes);
      put(`dw@${i}`, [G]);
      move(l.id, `dw@${i}`, F[i], l.paramBytes ?? 0);
    }
  }
  const transferMs = transfers.reduce((s, t) => s + t.ms, 0);
  return { totalMs: computeMs + transferMs, computeMs, transferMs, transfers };
}

// ---------- the search: shortest path over (layer, backend per pass) ----------

interface State { passes: Pass[]; backends: Partial<Record<Pass, string>>; computeMs: number }

/** Search options. oneBackendPerLayer: all passes of a layer on one backend (a model that binds each layer to
 *  one backend, as src/nn/model.ts does); the algorithm may still differ per pass. */
export interface SearchOptions { oneBackendPerLayer?: boolean }

function layerStates(l: LayerSpec, opts: Choice[][], one: boolean): State[] {
  const passes = presentPasses(l);
  let states: State[] = [{ passes, backends: {}, computeMs: 0 }];
  for (const p of passes) {
    const byBackend = new Map<string, number>();
    for (const c of opts[PASSES.indexOf(p)]) if (!byBackend.has(c.backend)) byBackend.set(c.backend, c.ms); // sorted: first is fastest
    const next: State[] = [];
    for (const s of states) for (const [b, ms] of byBackend) next.push({ passes, backends: { ...s.backends, [p]: b }, computeMs: s.computeMs + ms });
    states = next;
  }
  return one ? states.filter((s) => new Set(Object.values(s.backends)).size === 1) : states;
}

function minMove(at: string[], to: string, bytes: number, t: TransferModel): number {
  if (bytes <= 0 || at.includes(to)) return 0;
  return Math.min(...at.map((f) => t.cost(f, to, bytes)));
}

/** Costs that depend on one layer's state alone. */
function intraCost(layers: LayerSpec[], i: number, s: State, t: TransferModel): number {
  const l = layers[i], F = s.backends.forward!, D = s.backends.backward_data, G = s.backends.backward_filter;
  let ms = s.computeMs;
  if (D) ms += minMove([F], D, l.paramBytes ?? 0, t) + minMove([F], D, l.savedBytes ?? 0, t);
  if (G) ms += minMove([G], F, l.paramBytes ?? 0, t);
  if (i === 0 && G) ms += minMove([F], G, l.inputBytes, t);
  if (i === layers.length - 1) {
    if (D) ms += minMove([F], D, l.outputBytes, t);
    if (G) ms += minMove(D ? [F, D] : [F], G, l.outputBytes, t);
  }
  return ms;
}

/** Costs between layer i (state a) and layer i+1 (state b): x_{i+1} forward, dy_i backward. */
function edgeCost(layers: LayerSpec[], i: number, a: State, b: State, t: TransferModel): number {
  const next = layers[i + 1], cur = layers[i];
  const Fa = a.backends.forward!, Fb = b.backends.forward!;
  let ms = minMove([Fa], Fb, next.inputBytes, t);
  if (b.backends.backward_filter) ms += minMove([Fa, Fb], b.backends.backward_filter, next.inputBytes, t);
  const src = b.backends.backward_data;
  if (src) {
    const Da = a.backends.backward_data, Ga = a.backends.backward_filter;
    if (Da) ms += minMove([src], Da, cur.outputBytes, t);
    if (Ga) ms += minMove(Da ? [src, Da] : [src], Ga, cur.outputBytes, t);
  }
  return ms;
}

/** The plan minimising the modelled step time over every per-layer (backend, algorithm) combination. */
export function searchPlan(layers: LayerSpec[], measured: MeasuredCosts, transfer: TransferModel, opts: SearchOptions = {}): Plan {
  validateChain(layers);
  const states = layers.map((l, i) => {
    for (const p of presentPasses(l)) {
      if (measured.options[i][PASSES.indexOf(p)].length === 0) {
        const why = measured.dropped.filter((d) => d.layer === l.id && d.pass === p).map((d) => `${d.backend}/${d.algo}: ${d.reason}`);
        throw new PlanError(`planner: no candidate of layer '${l.id}' ${p} can run${why.length ? ` (${why.join('; ')})` : ''}`, measured.dropped);
      }
    }
    const st = layerStates(l, measured.options[i], !!opts.oneBackendPerLayer);
    if (st.length === 0) throw new PlanError(`planner: no single backend runs every pass of layer '${l.id}'`, measured.dropped);
    return st;
  });
  // dist[j] = cheapest cost of layers 0..i with layer i in state j; back[i][j] = predecessor state.
  let dist = states[0].map((s) => intraCost(layers, 0, s, transfer));
  const back: number[][] = [[]];
  for (let i = 1; i < layers.length; i++) {
    const nd: number[] = [], nb: number[] = [];
    states[i].forEach((s, j) => {
      let best = Infinity, arg = -1;
      states[i - 1].forEach((p, k) => {
        const c = dist[k] + edgeCost(layers, i - 1, p, s, transfer);
        if (c < best) { best = c; arg = k; }
      });
      nd[j] = best + intraCost(layers, i, s, transfer); nb[j] = arg;
    });
    dist = nd; back.push(nb);
  }
  let j = dist.indexOf(Math.min(...dist));
  const chosen: State[] = [];
  for (let i = layers.length - 1; i >= 0; i--) { chosen[i] = states[i][j]; j = back[i][j]; }
  const assignment: Assignment = chosen.map((s, i) => Object.fromEntries(s.passes.map((p) => {
    const best = measured.options[i][PASSES.indexOf(p)].find((c) => c.backend === s.backends[p])!;
    return [p, { backend: best.backend, algo: best.algo }];
  })));
  const plan = planFromAssignment(layers, assignment, measured, transfer);
  const dpMs = Math.min(...dist);
  if (Math.abs(plan.totalMs - dpMs) > 1e-6 * Math.max(1, dpMs)) {
    throw new Error(`planner: internal error, search cost ${dpMs} != simulated cost ${plan.totalMs}`);
  }
  return plan;
}

function lookupMs(measured: MeasuredCosts, i: number, p: Pass, c: Candidate, layerId: string): number {
  const hit = measured.options[i][PASSES.indexOf(p)].find((o) => o.backend === c.backend && o.algo === c.algo);
  if (!hit) throw new Error(`planner: ${c.backend}/${c.algo} was not measured (or failed) for layer '${layerId}' ${p}`);
  return hit.ms;
}

/** Cost of any full assignment (used for brute-force checks and for the single-backend baselines). */
export function assignmentCost(layers: LayerSpec[], a: Assignment, measured: MeasuredCosts, transfer: TransferModel): number {
  return simulateStep(layers, a, (i, p, c) => lookupMs(measured, i, p, c, layers[i].id), transfer).totalMs;
}

/** Turns an assignment into a Plan with runner-ups, transfers and totals. */
export function planFromAssignment(layers: LayerSpec[], a: Assignment, measured: MeasuredCosts, transfer: TransferModel): Plan {
  const sim = simulateStep(layers, a, (i, p, c) => lookupMs(measured, i, p, c, layers[i].id), transfer);
  return {
    layers: layers.map((l, i) => ({
      id: l.id,
      passes: Object.fromEntries(presentPasses(l).map((p) => {
        const c = a[i][p]!, opts = measured.options[i][PASSES.indexOf(p)];
        const ms = lookupMs(measured, i, p, c, l.id);
        const oneCall = opts.find((o) => o.backend === c.backend && o.algo === c.algo)?.oneCall;
        const runnerUp = opts.find((o) => o.backend !== c.backend || o.algo !== c.algo);
        return [p, { backend: c.backend, algo: c.algo, ms, ...(oneCall ? { oneCall } : {}), ...(runnerUp ? { runnerUp } : {}) }];
      })),
    })),
    totalMs: sim.totalMs, computeMs: sim.computeMs, transferMs: sim.transferMs, transfers: sim.transfers,
    dropped: measured.dropped,
  };
}

/** Best plan that runs everything on one backend with one algorithm (passes that offer a single algorithm on
 *  that backend, such as pooling or a 1x1 conv, take it). The baseline the auto plan must not lose to. */
export function bestUniformPlan(layers: LayerSpec[], measured: MeasuredCosts, transfer: TransferModel): { backend: string; algo: string; plan: Plan } | undefined {
  const all = measured.options.flat(2);
  const backends = [...new Set(all.map((c) => c.backend))], algos = [...new Set(all.map((c) => c.algo))];
  let best: { backend: string; algo: string; plan: Plan } | undefined;
  for (const b of backends) for (const algo of algos) {
    const a: Assignment = [];
    let ok = true, usesAlgo = false;
    layers.forEach((l, i) => {
      a[i] = {};
      for (const p of presentPasses(l)) {
        const opts = measured.options[i][PASSES.indexOf(p)].filter((o) => o.backend === b);
        const offered = new Set((l.candidates[p] ?? []).filter((c) => c.backend === b).map((c) => c.algo));
        // A pass with a choice must take this algorithm (if it failed there, this uniform plan is infeasible).
        const c = offered.size === 1 ? opts[0] : opts.find((o) => o.algo === algo);
        if (!c) { ok = false; continue; }
        if (c.algo === algo) usesAlgo = true;
        a[i][p] = { backend: b, algo: c.algo };
      }
    });
    if (!ok || !usesAlgo) continue;
    const plan = planFromAssignment(layers, a, measured, transfer);
    if (!best || plan.totalMs < best.plan.totalMs) best = { backend: b, algo, plan };
  }
  return best;
}

/** Runs the candidates through `cost` and searches: the whole planner for an abstract chain. */
export async function planChain(layers: LayerSpec[], cost: CostFn, transfer: TransferModel, opts: SearchOptions = {}): Promise<Plan> {
  validateChain(layers);
  return searchPlan(layers, await measureCosts(layers, cost), transfer, opts);
}

// ---------- printing ----------

/** What kind of drop a reason records: the tuner's cuts (src/runtime/prune.ts) start with their kind. */
export function dropKind(reason: string): 'pruned' | 'skipped' | 'failed' {
  return reason.startsWith('pruned:') ? 'pruned' : reason.startsWith('skipped:') ? 'skipped' : 'failed';
}

const f = (ms: number) => (ms < 10 ? ms.toFixed(3) : ms.toFixed(1));

/** The plan as a fixed-width table: layer, pass, backend, algorithm, measured ms, runner-up. */
export function formatPlan(plan: Plan): string {
  const rows: string[][] = [['layer', 'pass', 'backend', 'algorithm', 'ms', 'runner-up']];
  for (const l of plan.layers) for (const p of PASSES) {
    const e = l.passes[p];
    if (!e) continue;
    const one = (c: Choice) => (c.oneCall ? ' (1 call)' : '');
    rows.push([l.id, p, e.backend, e.algo, f(e.ms) + one(e), e.runnerUp ? `${e.runnerUp.backend}/${e.runnerUp.algo} ${f(e.runnerUp.ms)}${one(e.runnerUp)}` : '-']);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: string[]) => r.map((v, c) => v.padEnd(widths[c])).join('  ').trimEnd();
  const out = [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
  out.push(`step: ${f(plan.totalMs)} ms = compute ${f(plan.computeMs)} + transfers ${f(plan.transferMs)} (${plan.transfers.length} moves)`);
  // Every candidate not in the plan's options is listed with its reason: failures one per line, the tuner's cuts
  // (pruned after one call, skipped without a call) grouped per layer, pass, backend and reason.
  const failed = plan.dropped.filter((d) => dropKind(d.reason) === 'failed');
  if (failed.length) {
    out.push(`dropped ${failed.length} candidate(s):`);
    for (const d of failed) out.push(`  ${d.layer} ${d.pass} ${d.backend}/${d.algo}: ${d.reason}`);
  }
  for (const [kind, what] of [['pruned', 'after one call'], ['skipped', 'without a call, far behind the best on another backend']] as const) {
    const ds = plan.dropped.filter((d) => dropKind(d.reason) === kind);
    if (!ds.length) continue;
    out.push(`${kind} ${ds.length} candidate(s) ${what}:`);
    const groups = new Map<string, { head: string; algos: string[]; reason: string }>();
    for (const d of ds) {
      const k = `${d.layer}|${d.pass}|${d.backend}|${d.reason}`;
      const g = groups.get(k) ?? { head: `${d.layer} ${d.pass} ${d.backend}`, algos: [], reason: d.reason };
      g.algos.push(d.algo);
      groups.set(k, g);
    }
    for (const g of groups.values()) out.push(`  ${g.head}/${g.algos.length > 1 ? `{${g.algos.join(',')}}` : g.algos[0]}: ${g.reason}`);
  }
  return out.join('\n');
}

/** The chosen (backend, algorithm) of one layer and pass, for the code that runs the plan. */
export function choiceFor(plan: Plan, layerId: string, pass: Pass): PlanEntry | undefined {
  return plan.layers.find((l) => l.id === layerId)?.passes[pass];
}
