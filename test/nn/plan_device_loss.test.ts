// Planner-driven training: per-pass conv algorithms reach the kernels, and a GPU lost mid-run (injected) moves its
// layers to wasm and training continues from the same step, matching a wasm-only run.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend, KernelArgs, KernelId } from '../../src/backend.js';
import { WasmBackend } from '../../src/backends/wasm/backend.js';
import { DeviceLostError } from '../../src/backends/webgpu/device.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planAndBuild } from '../../src/cli/plan.js';
import { parseArgs, runTraining } from '../../src/cli/train.js';
import type { Plan } from '../../src/runtime/planner.js';
import { exportStateDict } from '../../src/nn/checkpoint.js';
import { initModel } from '../../src/nn/init.js';
import { Model, singleBackendPlan } from '../../src/nn/model.js';
import { SGD } from '../../src/nn/optim.js';
import { Rng } from '../../src/nn/rng.js';
import { LrSchedule } from '../../src/nn/schedule.js';
import { Trainer } from '../../src/nn/trainer.js';
import { vggSpec } from '../../src/nn/vgg.js';
import { normRelErr, randomInput } from './util.js';

/** A stand-in backend over a wasm one. As a GPU: from the `failAt`-th run() call (of `failKernel` only, when given)
 *  it behaves like a lost device (run, read, write and sync throw DeviceLostError). `delayMs` busy-waits in each
 *  run(), making it look slow to the planner. */
class FaultyBackend implements Backend {
  calls = 0;
  lost = false;
  readonly kernels: { kernel: string; algo?: string }[] = [];
  readonly name: string;
  constructor(private readonly inner: Backend, private readonly o: { name?: string; failAt?: number; failKernel?: string; delayMs?: number } = {}) {
    this.name = o.name ?? 'fakegpu';
  }
  get description(): string { return `${this.name} over ${this.inner.description}`; }
  private check(): void { if (this.lost) throw new DeviceLostError('destroyed', 'injected by the test'); }
  alloc(length: number) { return this.inner.alloc(length); }
  free(buf: Parameters<Backend['free']>[0]) { this.inner.free(buf); }
  write(buf: Parameters<Backend['write']>[0], data: Float32Array, offset?: number) { this.check(); this.inner.write(buf, data, offset); }
  async read(buf: Parameters<Backend['read']>[0], offset?: number, length?: number) { this.check(); return this.inner.read(buf, offset, length); }
  run<K extends KernelId>(kernel: K, args: KernelArgs[K]): void {
    if ((!this.o.failKernel || kernel === this.o.failKernel) && ++this.calls >= (this.o.failAt ?? Infinity)) this.lost = true;
    this.check();
    this.kernels.push({ kernel, algo: (args as { algo?: string }).algo });
    if (this.o.delayMs) { const end = performance.now() + this.o.delayMs; while (performance.now() < end) { /* look slow */ } }
    this.inner.run(kernel, args);
  }
  async sync() { this.check(); await this.inner.sync(); }
  memory() { return this.inner.memory(); }
  async dispose() {}
}

const spec = vggSpec({ config: [4, 'M', 8, 'M'], batchNorm: true, inputSize: 8, inChannels: 1, numClasses: 3, classifierWidth: 6, dropout: 0.3 });
const N = 4, STEPS = 8;
const batches = Array.from({ length: STEPS }, (_, i) => ({
  x: randomInput(N * 64, 100 + i), labels: Float32Array.from({ length: N }, (_, j) => (i + j) % 3),
}));

function trainerFor(model: Model, recovery?: ConstructorParameters<typeof Trainer>[4]): Trainer {
  initModel(model, 'glorot', new Rng(3));
  const opt = new SGD(model.params(), { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  return new Trainer(model, opt, new LrSchedule({ name: 'cosine', baseLr: 0.05, totalSteps: STEPS }), 7, recovery);
}

test('Conv2d runs each pass with its own algorithm', async () => {
  const wasm = await WasmBackend.create({ threads: 1, memoryMiB: 64 });
  const fake = new FaultyBackend(wasm);
  try {
    const m = new Model(spec, singleBackendPlan(fake), {
      convAlgos: { 'features.4': { forward: 'winograd_f2x2', backward_data: 'winograd_f4x4', backward_filter: 'im2col_gemm' } },
    });
    initModel(m, 'glorot', new Rng(1));
    await m.forward(batches[0].x, N, true, 1);
    await m.lossForward(batches[0].labels, N);
    await m.backward(N);
    const algos = (k: string) => fake.kernels.filter((r) => r.kernel === k).map((r) => r.algo);
    // features.0 keeps the spec's algorithm (the first conv has no backward_data); features.4 takes the given ones.
    assert.equal(algos('conv2d_forward'), ['im2col_gemm', 'winograd_f2x2']);
    assert.equal(algos('conv2d_backward_data'), ['winograd_f4x4']);
    assert.equal(algos('conv2d_backward_filter'), ['im2col_gemm', 'im2col_gemm']);
    m.dispose();
  } finally {
    await wasm.dispose();
  }
});

test('device lost mid-run: re-planned onto wasm, continues from the same step, same losses as wasm only', async () => {
  const wasm = await WasmBackend.create({ threads: 1, memoryMiB: 64 });
  try {
    // One algorithm everywhere so both runs compute bit for bit the same thing; the planner still places the layers.
    const opts = { batch: N, algo: 'im2col_gemm' as const, cache: false as const };
    const fake = new FaultyBackend(wasm, { failAt: 150 });
    let lostAt = -1;
    const a = trainerFor((await planAndBuild(spec, [fake], opts)).model, {
      isLoss: (e) => e instanceof DeviceLostError,
      losable: (b) => b === fake,
      rebuild: async () => { lostAt = a.step; return (await planAndBuild(spec, [wasm], opts)).model; },
    });
    assert.equal(a.model.backends(), [fake]);
    const b = trainerFor((await planAndBuild(spec, [wasm], opts)).model);
    const la: number[] = [], lb: number[] = [];
    for (const { x, labels } of batches) {
      la.push((await a.trainStep(x, labels, N)).loss);
      lb.push((await b.trainStep(x, labels, N)).loss);
    }
    assert.ok(fake.lost, 'the fault was injected');
    assert.is(a.recoveries, 1);
    assert.ok(lostAt > 0 && lostAt < STEPS - 1, `lost during step ${lostAt}`);
    assert.equal(a.model.backends(), [wasm]);
    assert.is(a.step, STEPS);
    la.forEach((l, i) => assert.ok(Math.abs(l - lb[i]) <= 1e-6 * Math.max(1, Math.abs(lb[i])), `step ${i}: ${l} vs ${lb[i]}`));
    const sa = await exportStateDict(a.model), sb = await exportStateDict(b.model);
    sa.forEach((t, i) => assert.ok(normRelErr(t.data, sb[i].data, 1e-6) < 1e-6, `${t.name}: ${normRelErr(t.data, sb[i].data, 1e-6)}`));
    a.model.dispose(); b.model.dispose();
  } finally {
    await wasm.dispose();
  }
});

test('a loss with no host copy to recover from is rethrown', async () => {
  const wasm = await WasmBackend.create({ threads: 1, memoryMiB: 64 });
  try {
    const fake = new FaultyBackend(wasm, { failAt: 1 });
    const model = new Model(spec, singleBackendPlan(fake));
    // The backend is not declared losable, so no host copy is kept: the error must surface, not be swallowed.
    const t = trainerFor(model, { isLoss: (e) => e instanceof DeviceLostError, losable: () => false, rebuild: async () => { throw new Error('unreachable'); } });
    let err: unknown;
    try { await t.trainStep(batches[0].x, batches[0].labels, N); } catch (e) { err = e; }
    assert.ok(err instanceof DeviceLostError, String(err));
    assert.is(t.step, 0);
  } finally {
    await wasm.dispose();
  }
});

test('train CLI: the planned GPU dies mid-epoch; the run re-plans on the host, saves the new plan and ends as a host-only run', async () => {
  const wasm = await WasmBackend.create({ threads: 1, memoryMiB: 128 });
  const log = console.log, lines: string[] = [];
  console.log = (...a: unknown[]) => { lines.push(a.join(' ')); };
  // A fresh tuning cache: the stand-ins' timings must be measured, not read from an earlier run.
  const savedDir = process.env.VGGRT_TUNING_DIR;
  process.env.VGGRT_TUNING_DIR = mkdtempSync(join(tmpdir(), 'vggrt-tune-'));
  try {
    // The host looks slow, so the planner puts layers on the stand-in GPU, which dies at an SGD update of step 1
    // (the planner never runs sgd_update; each step runs one per parameter on that backend).
    const host = new FaultyBackend(wasm, { name: 'host', delayMs: 2 });
    const gpu = new FaultyBackend(wasm, { failAt: 5 + 16 * 3, failKernel: 'sgd_update' });
    const args = (dir: string) => parseArgs(['--width', '0.0625', '--limit-train', '64', '--limit-test', '64', '--no-progress', '--out', dir,
      '--batch-size', '16', '--epochs', '1', '--algo', 'im2col_gemm', '--dropout', '0'], true);
    const dirA = mkdtempSync(join(tmpdir(), 'vggrt-lost-')), dirB = mkdtempSync(join(tmpdir(), 'vggrt-lost-'));
    const a = await runTraining(args(dirA), undefined, { backends: [host, gpu] });
    assert.ok(gpu.lost, 'the fault was injected');
    const out = lines.join('\n');
    assert.match(out, /device was lost .* continuing at step [12]\b/, out);
    const plan = JSON.parse(readFileSync(join(dirA, 'plan.json'), 'utf8')) as Plan;
    assert.ok(plan.layers.every((l) => l.passes.forward!.backend === 'host'), 'the new plan is host-only');
    assert.ok(plan.meta?.replacedPlan, 'the plan it replaced is kept');
    const replaced = plan.meta!.replacedPlan as Plan;
    assert.ok(replaced.layers.some((l) => l.passes.forward!.backend === 'fakegpu'), 'the first plan used the GPU');
    const steps = readFileSync(join(dirA, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'step');
    assert.equal(steps.map((r) => r.step), [1, 2, 3, 4]);
    // The same run on the host alone from the start: same losses, same result (same kernels on the same wasm build).
    const b = await runTraining(args(dirB), undefined, { backends: [host] });
    const stepsB = readFileSync(join(dirB, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'step');
    steps.forEach((r, i) => assert.ok(Math.abs(r.loss - stepsB[i].loss) <= 1e-6, `step ${r.step}: ${r.loss} vs ${stepsB[i].loss}`));
    assert.ok(Math.abs(a.test!.loss - b.test!.loss) <= 1e-6, `${a.test!.loss} vs ${b.test!.loss}`);
  } finally {
    console.log = log;
    if (savedDir === undefined) delete process.env.VGGRT_TUNING_DIR; else process.env.VGGRT_TUNING_DIR = savedDir;
    await wasm.dispose();
  }
});

test.run();
