// Per-layer, per-pass time breakdown of one training step (wall clock around every layer call and kernel run).
//
//   flock /work/team/cpu.lock node --experimental-wasm-relaxed-simd dist/bench/profile_step.js \
//     [--model A|A_bn|vgg16...] [--width 1] [--channels 3] [--batch 64] [--threads 2] [--steps 8] [--plan auto|default]
//     [--wasm-dir DIR] [--gemm-tuning JSON]
//
// --plan auto builds the model as `npm run train` does (the planner over the tuning cache, wasm only);
// default uses the spec's per-layer algorithms (the train bench's default-plan row). Each layer's forward and
// backward is timed from the host (JS overhead and thread wake-ups included); every backend.run inside is timed
// too, so a row lists its kernels. Rows outside the layers: input write, loss forward/backward, logits read,
// the SGD update, and "other" (the step's time no row accounts for). Medians over --steps timed steps, per row
// (so the rows need not add up to the median step exactly); a last line sums kernel time by family.
// PROFILE_GAPS=1 adds host gaps between rows as rows; PROFILE_ALGOS=1 prints each conv's algorithms.
//
// Other processes in another session's autogroup (Linux sched_autogroup: even at nice 19 they share the CPU
// with us as groups) can double a step; a new session with a raised autogroup priority keeps them out:
//   setsid bash -c 'echo -15 > /proc/self/autogroup && exec node ... profile_step.js ...'
import { Command } from 'commander';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Backend, KernelId } from '../src/backend.js';
import { WasmBackend } from '../src/backends/wasm/backend.js';
import { gemmTuning } from '../src/backends/wasm/ops/gemm.js';
import { planAndBuild } from '../src/cli/plan.js';
import { type Model, Model as ModelClass, singleBackendPlan } from '../src/nn/model.js';
import type { SGD } from '../src/nn/optim.js';
import { parseModelName, vggSpec } from '../src/nn/vgg.js';
import { TuningCache } from '../src/runtime/tuning_cache.js';
import { median } from './record.js';
import { syntheticTraining } from './synthetic_step.js';

interface Opts {
  model: string; width: number; channels: number; batch: number; threads: number; steps: number; plan: 'auto' | 'default'; wasmDir?: string;
  gemmTuning?: string;
}

function parse(argv: string[]): Opts {
  const o = new Command('profile_step')
    .option('--model <name>', 'A, A_bn, vgg16, ...', 'A')
    .option('--width <x>', 'width multiplier', '1')
    .option('--channels <n>', 'input channels (1 for (Fashion-)MNIST)', '3')
    .option('--batch <n>', 'batch size', '64')
    .option('--threads <n>', 'wasm threads', '2')
    .option('--steps <n>', 'timed steps (after 2 warm-ups)', '8')
    .option('--plan <p>', 'auto (planner + tuning cache, as npm run train) | default (the spec\'s algorithms)', 'auto')
    .option('--wasm-dir <dir>', 'load vggrt-*.wasm from this folder instead of build/ (A/B of two kernel builds)')
    .option('--gemm-tuning <json>', 'fields to set in the wasm gemmTuning, e.g. \'{"kc":128}\' (A/B of GEMM settings)')
    .parse(argv, { from: 'user' }).opts<Record<string, string>>();
  if (o.plan !== 'auto' && o.plan !== 'default') throw new Error(`--plan: auto or default, got ${o.plan}`);
  return { model: o.model, width: Number(o.width), channels: Number(o.channels), batch: Number(o.batch), threads: Number(o.threads),
    steps: Number(o.steps), plan: o.plan, wasmDir: o.wasmDir, gemmTuning: o.gemmTuning };
}

/** Times accumulated per row key in the current step; `stack` says which row a kernel run belongs to. */
class Recorder {
  readonly rows = new Map<string, { steps: number[]; kernels: Map<string, number[]> }>();
  private cur = new Map<string, number>();
  private curK = new Map<string, Map<string, number>>();
  private stack: string[] = [];
  /** Time of the rows nested in each open row, subtracted from it (rows report self time). */
  private childMs: number[] = [];
  order: string[] = [];
  /** Per step: step time minus the time inside backend.run (JS, awaits, argument checks). */
  readonly hostMs: number[] = [];
  add(key: string, ms: number): void {
    if (!this.cur.has(key) && !this.order.includes(key)) this.order.push(key);
    this.cur.set(key, (this.cur.get(key) ?? 0) + ms);
  }
  addKernel(kernel: string, ms: number): void {
    const row = this.stack[this.stack.length - 1] ?? 'other';
    let m = this.curK.get(row);
    if (!m) this.curK.set(row, (m = new Map()));
    m.set(kernel, (m.get(kernel) ?? 0) + ms);
  }
  /** PROFILE_GAPS=1: host time between the end of one row and the start of the next, as rows of its own. */
  private lastEnd = 0;
  private readonly gaps = !!process.env.PROFILE_GAPS;
  private open(key: string): number {
    const t = performance.now();
    if (this.gaps && this.lastEnd && this.stack.length === 0) this.add(`gap before ${key}|-`, t - this.lastEnd);
    this.stack.push(key); this.childMs.push(0);
    return performance.now();
  }
  private close(key: string, t0: number): void {
    const t1 = performance.now(), ms = t1 - t0;
    this.lastEnd = t1;
    this.add(key, ms - this.childMs.pop()!);
    this.stack.pop();
    if (this.childMs.length) this.childMs[this.childMs.length - 1] += ms;
  }
  time<T>(key: string, fn: () => T): T {
    const t0 = this.open(key);
    try { return fn(); } finally { this.close(key, t0); }
  }
  async timeAsync<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const t0 = this.open(key);
    try { return await fn(); } finally { this.close(key, t0); }
  }
  /** Closes a step of `stepMs`: the time no row accounts for becomes the row "other" of this step. */
  endStep(record: boolean, stepMs: number): void {
    let rows = 0, kernels = 0;
    for (const v of this.cur.values()) rows += v;
    for (const m of this.curK.values()) for (const v of m.values()) kernels += v;
    this.add('other|-', stepMs - rows);
    if (record) {
      this.hostMs.push(stepMs - kernels);
      for (const [k, ms] of this.cur) {
        let r = this.rows.get(k);
        if (!r) this.rows.set(k, (r = { steps: [], kernels: new Map() }));
        r.steps.push(ms);
        for (const [kid, kms] of this.curK.get(k) ?? []) {
          const a = r.kernels.get(kid) ?? [];
          a.push(kms);
          r.kernels.set(kid, a);
        }
      }
    }
    this.cur.clear(); this.curK.clear();
  }
}


function instrument(model: Model, opt: SGD, rec: Recorder): void {
  for (const be of model.backends()) {
    const run = be.run.bind(be);
    (be as { run: Backend['run'] }).run = <K extends KernelId>(k: K, a: Parameters<Backend['run']>[1]) => {
      const t0 = performance.now();
      try { run(k, a as never); } finally { rec.addKernel(k, performance.now() - t0); }
    };
    const write = be.write.bind(be);
    be.write = (b, d, off) => rec.time('input|write', () => write(b, d, off));
  }
  for (const l of model.layers) {
    const f = l.forward.bind(l), b = l.backward.bind(l);
    l.forward = (x, n, ctx) => rec.time(`${l.name} ${l.kind}|forward`, () => f(x, n, ctx));
    l.backward = (dy, n, dx) => rec.time(`${l.name} ${l.kind}|backward`, () => b(dy, n, dx));
  }
  const lf = model.loss.forward.bind(model.loss), lb = model.loss.backward.bind(model.loss);
  model.loss.forward = (z, y, n) => rec.timeAsync('loss|forward', () => lf(z, y, n));
  model.loss.backward = (n) => rec.time('loss|backward', () => lb(n));
  const mf = model.forward.bind(model), mb = model.backward.bind(model);
  model.forward = (x, n, train, seed) => rec.timeAsync('model.forward|outside layers', () => mf(x, n, train, seed));
  model.backward = (n) => rec.timeAsync('model.backward|outside layers', () => mb(n));
  const rl = model.readLogits.bind(model);
  model.readLogits = (n) => rec.timeAsync('logits|read', () => rl(n));
  const st = opt.step.bind(opt);
  opt.step = (lr) => rec.time('sgd|update', () => st(lr));
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  if (o.gemmTuning) Object.assign(gemmTuning, JSON.parse(o.gemmTuning));
  const { config, batchNorm } = parseModelName(o.model);
  const spec = vggSpec({ config, batchNorm, inputSize: 32, inChannels: o.channels, numClasses: 10, widthMultiplier: o.width });
  const wasmBaseUrl = o.wasmDir ? pathToFileURL(`${resolve(o.wasmDir)}/`) : undefined;
  const be = await WasmBackend.create({ threads: o.threads, memoryMiB: 2048, wasmBaseUrl });
  let model: Model;
  if (o.plan === 'auto') {
    const cache = await TuningCache.open({});
    model = (await planAndBuild(spec, [be], { batch: o.batch, algo: 'auto', cache })).model;
  } else {
    model = new ModelClass(spec, singleBackendPlan(be));
  }
  const training = syntheticTraining(model, o.batch), opt = training.opt;
  const rec = new Recorder();
  instrument(model, opt, rec);
  const stepMs: number[] = [];
  for (let s = 0; s < o.steps + 2; s++) {
    const t0 = performance.now();
    await training.step();
    const ms = performance.now() - t0;
    rec.endStep(s >= 2, ms);
    if (s >= 2) stepMs.push(ms);
  }
  const step = median(stepMs);
  const convAlgos = model.layers.flatMap((l) => ('algos' in l ? [`${l.name}:${JSON.stringify((l as unknown as { algos: unknown }).algos)}`] : []));
  console.log(`${spec.label}, input ${o.channels}x32x32, batch ${o.batch}, wasm-${be.build}-t${o.threads}, plan ${o.plan}` +
    `${o.gemmTuning ? `, gemmTuning ${o.gemmTuning}` : ''}; ${o.steps} steps: ` +
    `median ${step.toFixed(1)} ms (${stepMs.map((v) => v.toFixed(0)).join(' ')}), ${((o.batch * 1000) / step).toFixed(1)} img/s`);
  if (process.env.PROFILE_ALGOS) console.log(convAlgos.join('\n'));
  const lines: string[][] = [['layer', 'pass', 'ms', 'share', 'kernels (ms)']];
  let conv = 0;
  for (const k of rec.order) {
    const row = rec.rows.get(k);
    if (!row) continue;
    const ms = median(row.steps);
    const ks = [...row.kernels].map(([kid, a]) => [kid, median(a)] as const).sort((a, b) => b[1] - a[1]);
    for (const [kid, kms] of ks) if (kid.startsWith('conv2d')) conv += kms;
    const [layer, pass] = k.split('|');
    lines.push([layer, pass, ms.toFixed(2), `${((100 * ms) / step).toFixed(1)}%`,
      k === 'other|-' ? 'step time outside every row (trainer, awaits)' : ks.map(([kid, v]) => `${kid} ${v.toFixed(2)}`).join(', ')]);
  }
  const w = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  for (const l of lines) console.log(l.map((c, i) => (i === 2 || i === 3 ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ').trimEnd());
  console.log(`conv2d kernels: ${conv.toFixed(1)} ms (${((100 * conv) / step).toFixed(1)}%); everything else: ${(step - conv).toFixed(1)} ms`);
  // Kernel time by family (medians per row and kernel, summed), and host time around the kernels.
  const fam = new Map<string, number>();
  for (const row of rec.rows.values()) {
    for (const [kid, a] of row.kernels) {
      const f = kid.startsWith('conv2d') ? 'conv' : kid === 'gemm' ? 'gemm (Linear)' : kid.startsWith('batchnorm') ? 'batchnorm'
        : kid.startsWith('relu') ? 'relu' : kid.startsWith('maxpool') ? 'maxpool' : kid.startsWith('dropout') ? 'dropout'
          : kid === 'sgd_update' ? 'sgd' : kid.startsWith('softmax') || kid === 'reduce_sum' ? 'loss' : kid;
      const v = median(a);
      fam.set(f, (fam.get(f) ?? 0) + v);
    }
  }
  fam.set('host (step minus kernels)', median(rec.hostMs));
  console.log(`by family: ${[...fam].sort((a, b) => b[1] - a[1]).map(([f, v]) => `${f} ${v.toFixed(1)}`).join(', ')}`);
  opt.dispose();
  model.dispose();
  await be.dispose();
}

main().catch((e) => { console.error(e); process.exit(1); });
