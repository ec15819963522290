// The training engine: steps, epochs, evaluation, and checkpoint/resume of the whole training state.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Batch, DataLoader, LoaderState } from '../data/loader.js';
import { exportParams, exportStateDict, importStateDict, convertParam, torchShape, writeFileAtomic } from './checkpoint.js';
import { type EpochMetrics, MetricAccumulator } from './metrics.js';
import type { Model } from './model.js';
import { SGD } from './optim.js';
import { Rng, deriveSeed } from './rng.js';
import { type SafeTensor, parseSafetensors, serializeSafetensors } from './safetensors.js';
import type { LrSchedule, ScheduleState } from './schedule.js';

export const WEIGHTS_FILE = 'model.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const STATE_FILE = 'train_state.json';

export interface EpochRecord { epoch: number; lr: number; train: EpochMetrics; val?: EpochMetrics; seconds: number }

/** Everything besides weights and momentum that a resumed run needs to continue identically. */
export interface TrainState {
  version: 1;
  /** Written into both safetensors files' metadata; a mismatch means a torn checkpoint. */
  id: string;
  epoch: number;
  step: number;
  seed: number;
  rngState: number;
  loader: LoaderState;
  schedule: ScheduleState;
  optimizer: { momentum: number; weightDecay: number; nesterov: boolean; decayBiasAndBn: boolean };
  /** Metrics of the epoch in progress when the checkpoint was taken mid-epoch. */
  partial?: { images: number; lossSum: number; top1: number; top5: number };
  history: EpochRecord[];
  /** Free-form run description (model name, options, dataset) for humans and the CLI. */
  run: Record<string, unknown>;
}

export interface StepResult { loss: number; lr: number; logits: Float32Array }

/** A DataLoader or a PrefetchingLoader (whose batches() is async): for-await takes both. */
export type Loader = Pick<DataLoader, 'numBatches' | 'state' | 'restore'> & { batches(epoch: number): Iterable<Batch> | AsyncIterable<Batch> };

/**
 * Surviving the loss of a backend (a GPU device) mid-run. A lost device cannot be read, so before each step the
 * trainer keeps a host copy of the model state and momentum (an in-memory checkpoint), only while some layer sits
 * on a `losable` backend; when a step throws an error `isLoss` recognises, it asks `rebuild` for a model without the
 * lost backend (re-planned), loads the copy into it and runs the step again: no step is lost or repeated.
 */
export interface DeviceLossRecovery {
  isLoss(e: unknown): boolean;
  losable(b: Model['layers'][number]['backend']): boolean;
  /** A new model on the remaining backends; the trainer fills its parameters and disposes the old model. */
  rebuild(e: unknown): Promise<Model>;
  log?(message: string): void;
}

interface HostSnapshot { step: number; state: Map<string, SafeTensor>; momentum: Map<string, Float32Array> }

export class Trainer {
  step = 0;
  epoch = 0;
  readonly rng: Rng;
  history: EpochRecord[] = [];
  private partial = new MetricAccumulator();

  /** Replaced (with the optimizer) when a backend is lost and the model is rebuilt elsewhere. */
  model: Model;
  optimizer: SGD;
  /** Device losses survived so far. */
  recoveries = 0;
  private snapshot?: HostSnapshot;

  constructor(model: Model, optimizer: SGD, readonly schedule: LrSchedule, readonly seed: number, readonly recovery?: DeviceLossRecovery) {
    this.model = model;
    this.optimizer = optimizer;
    this.rng = new Rng(deriveSeed(seed, 0xabc));
  }

  /** One SGD step on a batch: forward, loss, backward, update; after a device loss, again on the rebuilt model. */
  async trainStep(x: Float32Array, labels: Float32Array, n: number): Promise<StepResult> {
    return this.guarded(() => this.rawStep(x, labels, n));
  }

  private async rawStep(x: Float32Array, labels: Float32Array, n: number): Promise<StepResult> {
    const lr = this.schedule.lrAt(this.step, this.epoch);
    await this.model.forward(x, n, true, deriveSeed(this.seed, this.step));
    const loss = await this.model.lossForward(labels, n);
    const logits = await this.model.readLogits(n);
    await this.model.backward(n);
    this.optimizer.step(lr);
    // The host copy is read before the step counts: if the device dies now, the step runs again elsewhere.
    const snap = this.needsSnapshot() ? await this.readSnapshot(this.step + 1) : undefined;
    this.step++;
    if (snap) this.snapshot = snap;
    return { loss, lr, logits };
  }

  /** Runs fn; on a device loss, moves the model (from the host copy of the last completed step) and retries. */
  private async guarded<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.recovery;
    for (;;) {
      if (this.snapshot?.step !== this.step && this.needsSnapshot()) this.snapshot = await this.readSnapshot(this.step);
      try {
        return await fn();
      } catch (e) {
        if (!r || !r.isLoss(e) || this.snapshot?.step !== this.step) throw e;
        r.log?.(`vggrt: ${(e as Error).message}; re-planning without it and continuing at step ${this.step}`);
        await this.moveTo(await r.rebuild(e));
        this.recoveries++;
      }
    }
  }

  private needsSnapshot(): boolean { return !!this.recovery && this.model.backends().some((b) => this.recovery!.losable(b)); }

  private async readSnapshot(step: number): Promise<HostSnapshot> {
    const state = new Map((await exportStateDict(this.model)).map((t): [string, SafeTensor] => [t.name, { dtype: t.dtype ?? 'F32', shape: t.shape, data: t.data }]));
    const momentum = new Map<string, Float32Array>();
    const params = this.model.params();
    for (let i = 0; i < params.length; i++) momentum.set(params[i].name, await params[i].backend.read(this.optimizer.velocity[i]));
    return { step, state, momentum };
  }

  /** Loads the snapshot into `model`, gives it a fresh optimizer with the same settings, drops the old model. */
  private async moveTo(model: Model): Promise<void> {
    const snap = this.snapshot!, old = this.model, o = this.optimizer;
    importStateDict(model, snap.state, 'device-loss snapshot');
    const optimizer = new SGD(model.params(), { lr: 0, momentum: o.momentum, weightDecay: o.weightDecay, nesterov: o.nesterov, decayBiasAndBn: o.decayBiasAndBn });
    model.params().forEach((p, i) => p.backend.write(optimizer.velocity[i], snap.momentum.get(p.name)!));
    this.model = model;
    this.optimizer = optimizer;
    try { old.dispose(); } catch { /* buffers of a lost device cannot be freed; nothing else holds them */ }
    this.snapshot = undefined;
  }

  /** Trains the current epoch from the loader's position. Stops early (returning interrupted) when
   *  shouldStop() turns true between batches; the partial metrics are kept for a checkpoint. */
  async trainEpoch(loader: Loader, hooks: { onBatch?: (r: StepResult, m: MetricAccumulator, n: number) => void; shouldStop?: () => boolean } = {}):
    Promise<{ metrics: EpochMetrics; interrupted: boolean }> {
    const acc = this.partial;
    for await (const b of loader.batches(this.epoch)) {
      const r = await this.trainStep(b.x, b.labels, b.size);
      acc.add(r.logits, b.labels, b.size, this.model.spec.numClasses, r.loss);
      hooks.onBatch?.(r, acc, b.size);
      if (hooks.shouldStop?.() && loader.state().epoch === this.epoch) return { metrics: acc.summary(), interrupted: true };
    }
    this.partial = new MetricAccumulator();
    return { metrics: acc.summary(), interrupted: false };
  }

  /** Closes an epoch: the schedule sees the validation accuracy, history records it. */
  endEpoch(train: EpochMetrics, val: EpochMetrics | undefined, seconds: number): EpochRecord {
    const rec: EpochRecord = { epoch: this.epoch, lr: this.schedule.lrAt(this.step - 1, this.epoch), train, val, seconds };
    this.history.push(rec);
    this.schedule.epochEnd(val ? 1 - val.top1Err : NaN);
    this.epoch++;
    return rec;
  }

  /** Loss and top-1/top-5 error over a loader in inference mode (BN running stats, no dropout). */
  async evaluate(loader: Loader, onBatch?: (m: MetricAccumulator) => void): Promise<EpochMetrics> {
    const acc = new MetricAccumulator();
    for await (const b of loader.batches(loader.state().epoch)) {
      const { loss, logits } = await this.guarded(async () => {
        await this.model.forward(b.x, b.size, false);
        const loss = await this.model.lossForward(b.labels, b.size);
        return { loss, logits: await this.model.readLogits(b.size) };
      });
      acc.add(logits, b.labels, b.size, this.model.spec.numClasses, loss);
      onBatch?.(acc);
    }
    return acc.summary();
  }

  /** Saves weights, momentum buffers and the training state into dir; the JSON goes last (the commit point). */
  async save(dir: string, loader: Loader, run: Record<string, unknown> = {}): Promise<void> {
    const id = `${Date.now().toString(36)}-${this.step}-${Math.floor(Math.random() * 1e9).toString(36)}`;
    await writeFileAtomic(join(dir, WEIGHTS_FILE), serializeSafetensors(await exportStateDict(this.model), { format: 'pt', vggrt_id: id }));
    const mom = await exportParams(this.model, (_p, i) => this.optimizer.velocity[i], 'momentum_buffer.');
    await writeFileAtomic(join(dir, OPTIMIZER_FILE), serializeSafetensors(mom, { vggrt_id: id }));
    const p = this.partial;
    const state: TrainState = {
      version: 1, id, epoch: this.epoch, step: this.step, seed: this.seed, rngState: this.rng.state, loader: loader.state(),
      schedule: this.schedule.state(),
      optimizer: { momentum: this.optimizer.momentum, weightDecay: this.optimizer.weightDecay, nesterov: this.optimizer.nesterov,
        decayBiasAndBn: this.optimizer.decayBiasAndBn },
      partial: p.images ? { images: p.images, lossSum: p.lossSum, top1: p.top1, top5: p.top5 } : undefined,
      history: this.history, run,
    };
    await writeFileAtomic(join(dir, STATE_FILE), JSON.stringify(state, null, 1));
  }

  /** Restores everything save() wrote. Returns the state for the caller (run options). */
  async restore(dir: string, loader: Loader): Promise<TrainState> {
    const state = await readTrainState(dir);
    const w = parseSafetensors(new Uint8Array(await readFile(join(dir, WEIGHTS_FILE))), join(dir, WEIGHTS_FILE));
    const o = parseSafetensors(new Uint8Array(await readFile(join(dir, OPTIMIZER_FILE))), join(dir, OPTIMIZER_FILE));
    for (const [f, file] of [[w, WEIGHTS_FILE], [o, OPTIMIZER_FILE]] as const) {
      if (f.metadata.vggrt_id !== state.id) throw new Error(`checkpoint ${dir}: ${file} belongs to another save (id ${f.metadata.vggrt_id} vs ${state.id})`);
    }
    importStateDict(this.model, w.tensors, join(dir, WEIGHTS_FILE));
    const params = this.model.params();
    params.forEach((p, i) => {
      const t = o.tensors.get(`momentum_buffer.${p.name}`);
      if (!t || t.data.length !== torchShape(p).reduce((a, b) => a * b, 1)) throw new Error(`checkpoint ${dir}: momentum buffer for ${p.name} is missing or has the wrong size`);
      p.backend.write(this.optimizer.velocity[i], convertParam(this.model, p, t.data, false));
    });
    this.epoch = state.epoch;
    this.step = state.step;
    this.rng.state = state.rngState;
    this.history = state.history;
    this.schedule.restore(state.schedule);
    loader.restore(state.loader);
    this.partial = new MetricAccumulator();
    if (state.partial) Object.assign(this.partial, state.partial);
    return state;
  }
}

export async function readTrainState(dir: string): Promise<TrainState> {
  const path = join(dir, STATE_FILE);
  if (!existsSync(path)) throw new Error(`--resume: no training state at ${path}`);
  const state = JSON.parse(await readFile(path, 'utf8')) as TrainState;
  if (state.version !== 1) throw new Error(`${path}: unsupported training-state version ${String(state.version)}`);
  return state;
}
