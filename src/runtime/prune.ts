// The tuner's early cut: measures a chain's candidates in a likely-fast-first order and stops spending time on
// those that cannot win, so tuning beside a slow device (a software GPU on the host's cores) takes seconds.
//
// Each candidate is first timed by one warm call (after its warm-up, so compile and first-touch costs are out);
// only candidates still in the race get the full median. Per layer and pass (a "slot"):
//   pruned  - first call > factor x the best full time on the SAME backend: dropped. Exact for the search, since
//             on one backend the algorithms move the same tensors and only the fastest is ever chosen.
//   one call - first call > factor x the best on ANY backend: kept with its first-call time (it may still be
//             right for a layer whose neighbours sit on that backend), but not timed again.
//   skipped  - a backend whose best in the slot is > skipFactor x the best there: its other algorithms are not
//             run at all (an algorithm change gains at most ~5x, Winograd F(6x6) over direct). The one heuristic.
// Everything dropped keeps its reason, so the plan shows what was not chosen and why.
import type { Candidate, Choice, Dropped, LayerSpec, MeasuredCosts, Pass } from './planner.js';
import { PASSES } from './planner.js';

/** A staged measurement of one candidate. Throw (from the ProbeFn or full) when it cannot run. */
export interface Probe {
  /** ms of the first warm call. */
  firstMs: number;
  /** The full measurement (median of repeats, the first call included); only called for candidates in the race. */
  full(): number | Promise<number>;
  /** Frees what the probe holds; called once, whether or not full() was. */
  release?(): void;
}

export type ProbeFn = (layer: LayerSpec, pass: Pass, candidate: Candidate) => Probe | Promise<Probe>;

export type Outcome = 'measured' | 'one call' | 'pruned' | 'skipped' | 'failed';

export interface PruneOptions {
  /** Drop / stop timing at this many times the best (default 3). */
  factor?: number;
  /** Skip a backend's other algorithms at this many times behind the best of the slot (default 8; Infinity: never). */
  skipFactor?: number;
  /** Told about every candidate, for logs. */
  onResult?(layer: LayerSpec, pass: Pass, c: Candidate, outcome: Outcome, ms: number | undefined, reason?: string): void;
}

const fmt = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms.toFixed(1));

/** A candidate's place in the measuring order of a slot: the hint's backend first, and on each backend its hinted
 *  algorithm first (the previous layer's winner for this pass: neighbouring VGG layers usually agree). */
export function orderCandidates(cands: readonly Candidate[], hint: Choice[] | undefined): Candidate[] {
  if (!hint?.length) return [...cands];
  const bestOn = new Map<string, string>();
  for (const o of hint) if (!bestOn.has(o.backend)) bestOn.set(o.backend, o.algo); // hint is sorted fastest first
  const backendRank = (b: string) => (b === hint[0].backend ? 0 : 1);
  return cands.map((c, i) => ({ c, i })).sort((x, y) =>
    backendRank(x.c.backend) - backendRank(y.c.backend)
    || (x.c.backend === y.c.backend ? Number(bestOn.get(x.c.backend) !== x.c.algo) - Number(bestOn.get(y.c.backend) !== y.c.algo) : 0)
    || x.i - y.i).map((x) => x.c);
}

/** Measures every slot of the chain through `probe`, cutting hopeless candidates early (see the module comment).
 *  Returns the same shape as measureCosts: options per layer and pass, fastest first, plus what was dropped. */
export async function measureCostsPruned(layers: LayerSpec[], probe: ProbeFn, opts: PruneOptions = {}): Promise<MeasuredCosts> {
  const factor = opts.factor ?? 3, skipFactor = opts.skipFactor ?? 8;
  if (!(factor >= 1)) throw new Error(`prune factor must be >= 1, got ${factor}`);
  const dropped: Dropped[] = [];
  const options: Choice[][][] = [];
  for (const [li, l] of layers.entries()) {
    const perPass: Choice[][] = [];
    for (const [pi, p] of PASSES.entries()) {
      const list: Choice[] = [];
      const hint = li > 0 && options[li - 1][pi].length ? options[li - 1][pi] : perPass[0];
      const drop = (c: Candidate, outcome: Outcome, reason: string, ms?: number) => {
        dropped.push({ layer: l.id, pass: p, backend: c.backend, algo: c.algo, reason });
        opts.onResult?.(l, p, c, outcome, ms, reason);
      };
      for (const c of orderCandidates(l.candidates[p] ?? [], hint)) {
        const best = list.length ? Math.min(...list.map((o) => o.ms)) : undefined;
        const mineList = list.filter((o) => o.backend === c.backend);
        const mine = mineList.length ? Math.min(...mineList.map((o) => o.ms)) : undefined;
        if (mine !== undefined && best !== undefined && mine > skipFactor * best) {
          drop(c, 'skipped', `skipped: ${c.backend} is ${(mine / best).toFixed(1)}x behind the best of this layer/pass (${fmt(mine)} vs ${fmt(best)} ms)`);
          continue;
        }
        let pr: Probe | undefined;
        try {
          pr = await probe(l, p, c);
          const first = pr.firstMs;
          if (!(Number.isFinite(first) && first >= 0)) throw new Error(`first call took ${first} ms, not a finite time`);
          if (mine !== undefined && first > factor * mine) {
            drop(c, 'pruned', `pruned: first call ${fmt(first)} ms > ${factor} x best ${fmt(mine)} ms of this layer/pass on ${c.backend}`, first);
            continue;
          }
          if (best !== undefined && first > factor * best) {
            list.push({ backend: c.backend, algo: c.algo, ms: first, oneCall: true });
            opts.onResult?.(l, p, c, 'one call', first);
            continue;
          }
          const ms = await pr.full();
          if (!(Number.isFinite(ms) && ms >= 0)) throw new Error(`cost is ${ms}, not a finite time`);
          list.push({ backend: c.backend, algo: c.algo, ms });
          opts.onResult?.(l, p, c, 'measured', ms);
        } catch (e) {
          drop(c, 'failed', (e as Error)?.message ?? String(e));
        } finally {
          try { pr?.release?.(); } catch { /* freeing after a device loss can fail; nothing to keep */ }
        }
      }
      list.sort((a, b) => a.ms - b.ms);
      perPass.push(list);
    }
    options.push(perPass);
  }
  return { options, dropped };
}
