// The planner's search on injected costs (no kernels): optimal against brute force, never worse than a
// single-backend single-algorithm plan, failures dropped with reasons, transfers steering the choice.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type Assignment, type Candidate, type CostFn, type LayerSpec, type Pass, PASSES, PlanError, type TransferModel,
  assignmentCost, bestUniformPlan, formatPlan, linkTransferModel, measureCosts, planChain, searchPlan,
} from '../../src/runtime/planner.js';

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
}

/** A chain of conv-like layers; layer 0 has no backward_data (no gradient for the image). */
function chain(n: number, backends: string[], algos: string[], passesOf?: (i: number) => Pass[]): LayerSpec[] {
  const cands: Candidate[] = backends.flatMap((backend) => algos.map((algo) => ({ backend, algo })));
  return Array.from({ length: n }, (_, i) => {
    const passes = passesOf ? passesOf(i) : (i === 0 ? ['forward', 'backward_filter'] : [...PASSES]) as Pass[];
    return {
      id: `L${i}`, inputBytes: 1e6 * (1 + (i % 3)), outputBytes: 1e6 * (1 + ((i + 1) % 3)), paramBytes: 2e5 * (i + 1), savedBytes: i === 2 ? 5e5 : 0,
      candidates: Object.fromEntries(passes.map((p) => [p, cands])),
    };
  });
}

/** Random costs per (layer, pass, backend, algo), fixed by seed. */
function randomCosts(seed: number): CostFn {
  const table = new Map<string, number>();
  const r = rng(seed);
  return (l, p, c) => {
    const k = `${l.id}/${p}/${c.backend}/${c.algo}`;
    if (!table.has(k)) table.set(k, 0.5 + r() * 10);
    return table.get(k)!;
  };
}

/** Asymmetric links, comparable to the compute costs so that transfers matter. */
function randomLinks(backends: string[], seed: number): TransferModel {
  const r = rng(seed), links: Record<string, { latencyMs: number; bytesPerMs: number }> = {};
  for (const a of backends) for (const b of backends) if (a !== b) links[`${a}->${b}`] = { latencyMs: r() * 2, bytesPerMs: 2e5 + r() * 2e6 };
  return linkTransferModel(links);
}

/** Every assignment: for each layer, each present pass takes each of its candidates. */
function* allAssignments(layers: LayerSpec[]): Generator<Assignment> {
  const perLayer: Partial<Record<Pass, Candidate>>[][] = layers.map((l) => {
    let combos: Partial<Record<Pass, Candidate>>[] = [{}];
    for (const p of PASSES) {
      const cs = l.candidates[p];
      if (!cs) continue;
      combos = combos.flatMap((c) => cs.map((cand) => ({ ...c, [p]: cand })));
    }
    return combos;
  });
  const idx = layers.map(() => 0);
  for (;;) {
    yield idx.map((k, i) => perLayer[i][k]);
    let i = 0;
    while (i < idx.length && ++idx[i] === perLayer[i].length) idx[i++] = 0;
    if (i === idx.length) return;
  }
}

async function bruteForce(layers: LayerSpec[], cost: CostFn, transfer: TransferModel) {
  const measured = await measureCosts(layers, cost);
  let best = Infinity, count = 0;
  for (const a of allAssignments(layers)) { best = Math.min(best, assignmentCost(layers, a, measured, transfer)); count++; }
  return { best, count, measured };
}

test('training chain, 3 layers x 2 backends x 2 algos: the search equals brute force over every combination', async () => {
  for (const seed of [1, 2]) {
    const backends = ['cpu', 'gpu'], layers = chain(3, backends, ['im2col_gemm', 'winograd_f4x4']);
    const cost = randomCosts(seed), transfer = randomLinks(backends, seed + 100);
    const { best, count, measured } = await bruteForce(layers, cost, transfer);
    assert.is(count, 16 * 64 * 64);
    const plan = searchPlan(layers, measured, transfer);
    assert.ok(Math.abs(plan.totalMs - best) < 1e-9, `seed ${seed}: search ${plan.totalMs} vs brute force ${best}`);
    const uniform = bestUniformPlan(layers, measured, transfer)!;
    assert.ok(plan.totalMs <= uniform.plan.totalMs + 1e-12, 'auto plan no worse than single backend + algorithm');
  }
});

test('one backend per layer: equals brute force over the assignments that keep each layer on one backend', async () => {
  for (const seed of [31]) {
    const backends = ['cpu', 'gpu'], layers = chain(3, backends, ['im2col_gemm', 'winograd_f4x4']);
    const cost = randomCosts(seed), transfer = randomLinks(backends, seed);
    const measured = await measureCosts(layers, cost);
    let best = Infinity;
    for (const a of allAssignments(layers)) {
      if (a.some((l) => new Set(Object.values(l).map((c) => c!.backend)).size > 1)) continue;
      best = Math.min(best, assignmentCost(layers, a, measured, transfer));
    }
    const plan = searchPlan(layers, measured, transfer, { oneBackendPerLayer: true });
    assert.ok(Math.abs(plan.totalMs - best) < 1e-9, `seed ${seed}: ${plan.totalMs} vs ${best}`);
    for (const l of plan.layers) assert.is(new Set(Object.values(l.passes).map((e) => e!.backend)).size, 1);
    assert.ok(searchPlan(layers, measured, transfer).totalMs <= plan.totalMs + 1e-12, 'the free search is never worse');
  }
});

test('inference chain, 5 layers x 2 backends x 3 algos: equals brute force (7776 combinations)', async () => {
  for (const seed of [4, 5]) {
    const backends = ['cpu', 'gpu'];
    const layers = chain(5, backends, ['im2col_gemm', 'winograd_f2x2', 'winograd_f4x4'], () => ['forward']);
    const cost = randomCosts(seed), transfer = randomLinks(backends, seed);
    const { best, count, measured } = await bruteForce(layers, cost, transfer);
    assert.is(count, 6 ** 5);
    const plan = searchPlan(layers, measured, transfer);
    assert.ok(Math.abs(plan.totalMs - best) < 1e-9, `seed ${seed}: ${plan.totalMs} vs ${best}`);
    assert.ok(plan.totalMs <= bestUniformPlan(layers, measured, transfer)!.plan.totalMs + 1e-12);
  }
});

test('three backends (tensors copied to two places, cheapest source): equals brute force', async () => {
  const backends = ['cpu1', 'cpu2', 'gpu'];
  const layers = chain(3, backends, ['im2col_gemm']);
  const cost = randomCosts(9), transfer = randomLinks(backends, 10);
  const { best, count, measured } = await bruteForce(layers, cost, transfer);
  assert.is(count, 9 * 27 * 27);
  assert.ok(Math.abs(searchPlan(layers, measured, transfer).totalMs - best) < 1e-9);
});

test('the training step through a 5-layer model beats or ties every single-backend single-algorithm plan', async () => {
  const backends = ['wasm', 'webgpu'], layers = chain(5, backends, ['im2col_gemm', 'winograd_f2x2', 'winograd_f4x4']);
  for (const seed of [11, 12, 13, 14]) {
    const transfer = randomLinks(backends, seed);
    const measured = await measureCosts(layers, randomCosts(seed));
    const plan = searchPlan(layers, measured, transfer);
    for (const b of backends) for (const algo of ['im2col_gemm', 'winograd_f2x2', 'winograd_f4x4']) {
      const a: Assignment = layers.map((l) => Object.fromEntries(PASSES.filter((p) => l.candidates[p]).map((p) => [p, { backend: b, algo }])));
      assert.ok(plan.totalMs <= assignmentCost(layers, a, measured, transfer) + 1e-12, `${b}/${algo}`);
    }
  }
});

test('failing candidates are dropped with their reasons and never chosen', async () => {
  const backends = ['wasm', 'webgpu'], layers = chain(4, backends, ['im2col_gemm', 'winograd_f6x6']);
  const base = randomCosts(21);
  const cost: CostFn = (l, p, c) => {
    if (c.backend === 'webgpu' && c.algo === 'winograd_f6x6') throw new Error('workgroup storage limit exceeded (16384 bytes)');
    if (c.backend === 'webgpu' && l.id === 'L2' && p === 'backward_filter') throw new Error('GPU device lost');
    // Make the failing ones the most attractive had they run.
    return c.backend === 'webgpu' ? 0.01 : base(l, p, c);
  };
  const plan = await planChain(layers, cost, randomLinks(backends, 22));
  const f6 = plan.dropped.filter((d) => d.algo === 'winograd_f6x6');
  assert.is(f6.length, 4 * 3 - 1, 'every webgpu f6x6 candidate except layer 0 backward_data (absent)');
  assert.ok(f6.every((d) => d.backend === 'webgpu' && /storage limit/.test(d.reason)));
  assert.ok(plan.dropped.some((d) => d.layer === 'L2' && d.pass === 'backward_filter' && d.algo === 'im2col_gemm' && /device lost/.test(d.reason)));
  for (const l of plan.layers) for (const e of Object.values(l.passes)) assert.not.ok(e!.backend === 'webgpu' && e!.algo === 'winograd_f6x6');
  assert.is.not(plan.layers[2].passes.backward_filter!.backend, 'webgpu');
  const table = formatPlan(plan);
  assert.match(table, /dropped 12 candidate/);
  assert.match(table, /layer\s+pass\s+backend\s+algorithm\s+ms\s+runner-up/);
  assert.equal(JSON.parse(JSON.stringify(plan)), plan, 'JSON round-trip');
});

test('when every candidate of a pass fails the planner says which and why', async () => {
  const layers = chain(2, ['wasm'], ['im2col_gemm']);
  const cost: CostFn = (l, p) => { if (l.id === 'L1' && p === 'forward') throw new Error('out of range'); return 1; };
  try {
    await planChain(layers, cost, linkTransferModel({}));
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.instance(e, PlanError);
    assert.match((e as Error).message, /L1' forward.*wasm\/im2col_gemm: out of range/);
  }
});

test('transfer costs move the optimum: a slightly faster GPU layer is not worth two copies', async () => {
  const layers = chain(3, ['cpu', 'gpu'], ['im2col_gemm'], () => ['forward']);
  const cost: CostFn = (l, _p, c) => (c.backend === 'cpu' ? 10 : l.id === 'L1' ? 9 : 20);
  const free = await planChain(layers, cost, linkTransferModel({ 'cpu->gpu': { latencyMs: 0, bytesPerMs: Infinity }, 'gpu->cpu': { latencyMs: 0, bytesPerMs: Infinity } }));
  assert.equal(free.layers.map((l) => l.passes.forward!.backend), ['cpu', 'gpu', 'cpu']);
  assert.is(free.totalMs, 29);
  const slow = await planChain(layers, cost, linkTransferModel({ 'cpu->gpu': { latencyMs: 0.5, bytesPerMs: 1e6 }, 'gpu->cpu': { latencyMs: 0.5, bytesPerMs: 1e6 } }));
  assert.equal(slow.layers.map((l) => l.passes.forward!.backend), ['cpu', 'cpu', 'cpu']);
  assert.is(slow.totalMs, 30);
  assert.is(slow.transfers.length, 0);
  // Runner-up is the other backend's figure.
  assert.equal(slow.layers[1].passes.forward!.runnerUp, { backend: 'gpu', algo: 'im2col_gemm', ms: 9 });
});

test('weights and gradients count: backward_data away from the forward backend pays for w', async () => {
  const layers: LayerSpec[] = [
    { id: 'A', inputBytes: 0, outputBytes: 0, paramBytes: 1e9, candidates: { forward: [{ backend: 'cpu', algo: 'x' }], backward_filter: [{ backend: 'cpu', algo: 'x' }] } },
    { id: 'B', inputBytes: 0, outputBytes: 0, paramBytes: 1e9, candidates: { forward: [{ backend: 'cpu', algo: 'x' }], backward_data: [{ backend: 'cpu', algo: 'x' }, { backend: 'gpu', algo: 'x' }] } },
  ];
  const cost: CostFn = (_l, _p, c) => (c.backend === 'gpu' ? 1 : 5);
  const links = { 'cpu->gpu': { latencyMs: 0, bytesPerMs: 1e8 }, 'gpu->cpu': { latencyMs: 0, bytesPerMs: 1e8 } };
  const plan = await planChain(layers, cost, linkTransferModel(links)); // w to the GPU: 10 ms > 4 ms saved
  assert.is(plan.layers[1].passes.backward_data!.backend, 'cpu');
  layers[1].paramBytes = 1e5;
  const plan2 = await planChain(layers, cost, linkTransferModel(links));
  assert.is(plan2.layers[1].passes.backward_data!.backend, 'gpu');
  assert.ok(plan2.transfers.some((t) => t.what === 'w' && t.to === 'gpu'));
});

test('single-backend single-algorithm baseline: pooling layers keep their one algorithm, convs share one', async () => {
  const conv = (id: string): LayerSpec => ({ id, inputBytes: 1e5, outputBytes: 1e5, paramBytes: 1e4,
    candidates: Object.fromEntries(PASSES.map((p) => [p, ['cpu', 'gpu'].flatMap((backend) => ['a1', 'a2'].map((algo) => ({ backend, algo })))])) });
  const pool: LayerSpec = { id: 'pool', inputBytes: 1e5, outputBytes: 2.5e4, savedBytes: 1e5,
    candidates: { forward: [{ backend: 'cpu', algo: 'default' }, { backend: 'gpu', algo: 'default' }], backward_data: [{ backend: 'cpu', algo: 'default' }, { backend: 'gpu', algo: 'default' }] } };
  const layers = [conv('c0'), pool, conv('c1')];
  // a1 wins on c0, a2 on c1: mixing algorithms beats any uniform plan.
  const cost: CostFn = (l, _p, c) => (c.algo === 'default' ? 1 : (l.id === 'c0') === (c.algo === 'a1') ? 2 : 5) + (c.backend === 'gpu' ? 0.5 : 0);
  const transfer = randomLinks(['cpu', 'gpu'], 3);
  const measured = await measureCosts(layers, cost);
  const plan = searchPlan(layers, measured, transfer);
  const u = bestUniformPlan(layers, measured, transfer)!;
  assert.equal([u.backend, u.algo], ['cpu', 'a1']);
  for (const l of u.plan.layers) for (const e of Object.values(l.passes)) assert.ok(e!.algo === 'a1' || e!.algo === 'default');
  assert.is(u.plan.totalMs, 3 * 2 + 3 * 5 + 2 * 1);
  assert.is(plan.totalMs, 3 * 2 + 3 * 2 + 2 * 1);
});

test.run();
