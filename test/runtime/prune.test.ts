// The tuner's early cut on injected costs (no kernels, no clocks): the plan it leads to equals the plan from
// timing everything, hopeless candidates cost one call or none, and every cut is in the plan with its reason.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type Candidate, type LayerSpec, type Pass, PASSES, type TransferModel, dropKind, formatPlan, linkTransferModel, measureCosts, searchPlan,
} from '../../src/runtime/planner.js';
import { type Probe, type ProbeFn, measureCostsPruned, orderCandidates } from '../../src/runtime/prune.js';

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
}

function chain(n: number, backends: string[], algos: string[]): LayerSpec[] {
  const cands: Candidate[] = backends.flatMap((backend) => algos.map((algo) => ({ backend, algo })));
  return Array.from({ length: n }, (_, i) => ({
    id: `L${i}`, inputBytes: 1e6 * (1 + (i % 3)), outputBytes: 1e6 * (1 + ((i + 1) % 3)), paramBytes: 2e5 * (i + 1),
    candidates: Object.fromEntries((i === 0 ? ['forward', 'backward_filter'] : PASSES).map((p) => [p, cands])),
  }));
}

function links(backends: string[], seed: number): TransferModel {
  const r = rng(seed), l: Record<string, { latencyMs: number; bytesPerMs: number }> = {};
  for (const a of backends) for (const b of backends) if (a !== b) l[`${a}->${b}`] = { latencyMs: r() * 2, bytesPerMs: 2e5 + r() * 2e6 };
  return linkTransferModel(l);
}

/** Injected costs plus a log of what the pruner asked for: probes (first calls), full measurements, releases. */
function injected(msOf: (l: LayerSpec, p: Pass, c: Candidate) => number) {
  const log = { probes: [] as string[], fulls: [] as string[], released: 0 };
  const probe: ProbeFn = (l, p, c): Probe => {
    const k = `${l.id}/${p}/${c.backend}/${c.algo}`;
    log.probes.push(k);
    const ms = msOf(l, p, c);
    if (!Number.isFinite(ms)) throw new Error(`${c.algo} exceeds the device limits`);
    return { firstMs: ms, full: () => { log.fulls.push(k); return ms; }, release: () => { log.released++; } };
  };
  return { probe, log, cost: (l: LayerSpec, p: Pass, c: Candidate) => msOf(l, p, c) };
}

/** Spread-out random costs: a few fast candidates, many several times slower (as VGG layers show). */
function spreadCosts(seed: number) {
  const table = new Map<string, number>(), r = rng(seed);
  return (l: LayerSpec, p: Pass, c: Candidate) => {
    const k = `${l.id}/${p}/${c.backend}/${c.algo}`;
    if (!table.has(k)) table.set(k, 0.5 + 20 * r() ** 3);
    return table.get(k)!;
  };
}

test('with first call = full time, the pruned measurement leads to the same plan as timing everything', async () => {
  const backends = ['wasm', 'webgpu'], algos = ['im2col_gemm', 'winograd_f2x2', 'winograd_f4x4'];
  let cut = 0, all = 0;
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const layers = chain(4, backends, algos), t = links(backends, seed + 50);
    const { probe, log, cost } = injected(spreadCosts(seed));
    const pruned = await measureCostsPruned(layers, probe, { skipFactor: Infinity });
    const full = await measureCosts(layers, cost);
    for (const one of [false, true]) {
      const a = searchPlan(layers, pruned, t, { oneBackendPerLayer: one }), b = searchPlan(layers, full, t, { oneBackendPerLayer: one });
      assert.ok(Math.abs(a.totalMs - b.totalMs) < 1e-9, `seed ${seed} one=${one}: ${a.totalMs} vs ${b.totalMs}`);
    }
    assert.is(log.released, log.probes.length, 'every probe released');
    assert.ok(pruned.dropped.every((d) => dropKind(d.reason) === 'pruned'));
    cut += pruned.dropped.length; all += log.probes.length;
    assert.ok(log.fulls.length < log.probes.length);
  }
  assert.ok(cut > all / 10, `the cut does something on spread-out costs (${cut} of ${all})`);
});

test('a candidate behind its own backend\'s best is dropped after one call, with the figures in the reason', async () => {
  const layers = chain(1, ['wasm'], ['winograd_f4x4', 'im2col_gemm', 'winograd_f6x6']);
  const ms: Record<string, number> = { winograd_f4x4: 10, im2col_gemm: 31, winograd_f6x6: 29 };
  const { probe, log } = injected((_l, _p, c) => ms[c.algo]);
  const m = await measureCostsPruned(layers, probe);
  assert.equal(m.options[0][0].map((o) => o.algo), ['winograd_f4x4', 'winograd_f6x6'], 'within 3x: measured in full');
  assert.is(m.dropped.length, 2, 'im2col on forward and filter');
  assert.is(m.dropped[0].reason, 'pruned: first call 31.0 ms > 3 x best 10.0 ms of this layer/pass on wasm');
  assert.not.ok(log.fulls.some((k) => k.includes('im2col')), 'a pruned candidate is not timed again');
  const plan = searchPlan(layers, m, linkTransferModel({}));
  const table = formatPlan(plan);
  assert.match(table, /pruned 2 candidate\(s\) after one call:\n {2}L0 forward wasm\/im2col_gemm: pruned: first call 31\.0 ms > 3 x best 10\.0 ms/);
  assert.equal(JSON.parse(JSON.stringify(plan)).dropped, m.dropped, 'saved with the plan');
});

test('a slow device (software GPU) costs one call per layer and pass; its other algorithms are skipped', async () => {
  const backends = ['wasm', 'webgpu'], algos = ['winograd_f4x4', 'im2col_gemm', 'winograd_f2x2', 'winograd_f6x6'];
  const layers = chain(5, backends, algos);
  const { probe, log } = injected((l, _p, c) => (c.backend === 'wasm' ? (c.algo === 'winograd_f4x4' ? 10 : 14) : 150 + 10 * Number(l.id.slice(1))));
  const m = await measureCostsPruned(layers, probe);
  const slots = 2 + 3 * 4;
  assert.is(log.probes.filter((k) => k.includes('webgpu')).length, slots, 'one webgpu call per slot');
  assert.not.ok(log.fulls.some((k) => k.includes('webgpu')), 'and never a full measurement');
  const skipped = m.dropped.filter((d) => dropKind(d.reason) === 'skipped');
  assert.is(skipped.length, 3 * slots);
  assert.match(skipped[0].reason, /^skipped: webgpu is 15\.0x behind the best of this layer\/pass \(150\.0 vs 10\.0 ms\)$/);
  // The slow device's one time stays an option (a layer between two on that device might still want it).
  for (const perPass of m.options) for (const opts of perPass) if (opts.length) assert.ok(opts.some((o) => o.backend === 'webgpu' && o.oneCall));
  const plan = searchPlan(layers, m, links(backends, 3));
  for (const l of plan.layers) for (const e of Object.values(l.passes)) assert.is(e!.backend, 'wasm');
  assert.match(formatPlan(plan), /skipped 42 candidate\(s\) without a call[^\n]*\n {2}L0 forward webgpu\/\{im2col_gemm,winograd_f2x2,winograd_f6x6\}: skipped:/);
});

test('a fast GPU is measured first from the second layer on, and the host candidates behind it cost one call', async () => {
  const backends = ['wasm', 'webgpu'], algos = ['im2col_gemm', 'winograd_f4x4'];
  const layers = chain(4, backends, algos);
  const { probe, log } = injected((_l, _p, c) => (c.backend === 'webgpu' ? (c.algo === 'winograd_f4x4' ? 0.5 : 0.8) : c.algo === 'winograd_f4x4' ? 10 : 12));
  const m = await measureCostsPruned(layers, probe);
  const first = (id: string, p: Pass) => log.probes.find((k) => k.startsWith(`${id}/${p}/`));
  assert.is(first('L0', 'forward'), 'L0/forward/wasm/im2col_gemm', 'no hint for the first slot: the given order');
  assert.is(first('L1', 'forward'), 'L1/forward/webgpu/winograd_f4x4', "the previous layer's winner first");
  assert.is(first('L1', 'backward_data'), 'L1/backward_data/webgpu/winograd_f4x4', 'no backward_data before: this layer\'s forward winner');
  assert.not.ok(log.fulls.some((k) => !k.startsWith('L0') && k.includes('wasm')), 'the host is never timed in full once the GPU leads');
  const plan = searchPlan(layers, m, links(backends, 9), { oneBackendPerLayer: true });
  for (const l of plan.layers) for (const e of Object.values(l.passes)) assert.equal([e!.backend, e!.algo], ['webgpu', 'winograd_f4x4']);
});

test('failures in the first call or the full measurement are dropped with their reason and released', async () => {
  const layers = chain(2, ['wasm'], ['a', 'b', 'c']);
  let released = 0;
  const probe: ProbeFn = (l, p, c) => {
    if (c.algo === 'b') throw new Error('compile error in b.wgsl');
    return { firstMs: 1, full: () => { if (c.algo === 'c' && l.id === 'L1' && p === 'forward') throw new Error('device lost'); return 1; }, release: () => { released++; } };
  };
  const m = await measureCostsPruned(layers, probe);
  assert.is(m.dropped.filter((d) => d.algo === 'b').length, 5);
  assert.ok(m.dropped.some((d) => d.algo === 'c' && d.layer === 'L1' && d.pass === 'forward' && d.reason === 'device lost'));
  assert.ok(m.dropped.every((d) => dropKind(d.reason) === 'failed'));
  assert.is(released, 2 * 5, 'a and c on the 5 slots');
});

test('orderCandidates: hinted backend first, each backend\'s hinted algorithm first, the rest in the given order', () => {
  const c = (backend: string, algo: string): Candidate => ({ backend, algo });
  const cands = [c('w', 'a'), c('w', 'b'), c('w', 'c'), c('g', 'a'), c('g', 'b')];
  assert.equal(orderCandidates(cands, undefined), cands);
  const hint = [{ ...c('g', 'b'), ms: 1 }, { ...c('w', 'c'), ms: 2 }, { ...c('w', 'a'), ms: 3 }];
  assert.equal(orderCandidates(cands, hint), [c('g', 'b'), c('g', 'a'), c('w', 'c'), c('w', 'a'), c('w', 'b')]);
});

test.run();
