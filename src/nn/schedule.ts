// Learning-rate schedules: the paper's plateau rule, step decay and cosine annealing, with checkpointable state.

export type ScheduleName = 'plateau' | 'step' | 'cosine' | 'constant';
export const SCHEDULE_NAMES: readonly ScheduleName[] = ['plateau', 'step', 'cosine', 'constant'];

export interface ScheduleOptions {
  name: ScheduleName;
  baseLr: number;
  /** plateau: epochs without improvement before dividing (default 1); step: epochs per decay (default 30). */
  patience?: number;
  stepSize?: number;
  /** Divisor (plateau) or multiplier (step): 10 and 0.1 by default. */
  factor?: number;
  /** plateau: at most this many reductions (the paper: 3). */
  maxReductions?: number;
  /** cosine: total training steps (annealed per step to 0). */
  totalSteps?: number;
}

export interface ScheduleState { lr: number; best: number; bad: number; reductions: number }

export class LrSchedule {
  private s: ScheduleState;
  constructor(readonly opts: ScheduleOptions) {
    if (!(opts.baseLr > 0)) throw new Error(`lr must be > 0, got ${opts.baseLr}`);
    if (!SCHEDULE_NAMES.includes(opts.name)) throw new Error(`unknown lr schedule ${opts.name} (one of ${SCHEDULE_NAMES.join(', ')})`);
    if (opts.name === 'cosine' && !(opts.totalSteps && opts.totalSteps > 0)) throw new Error('cosine schedule needs totalSteps');
    this.s = { lr: opts.baseLr, best: -Infinity, bad: 0, reductions: 0 };
  }

  /** The learning rate for a training step (global step index, epoch index). */
  lrAt(step: number, epoch: number): number {
    const o = this.opts;
    switch (o.name) {
      case 'constant': return o.baseLr;
      case 'plateau': return this.s.lr;
      case 'step': return o.baseLr * (o.factor ?? 0.1) ** Math.floor(epoch / (o.stepSize ?? 30));
      case 'cosine': return 0.5 * o.baseLr * (1 + Math.cos(Math.PI * Math.min(step, o.totalSteps!) / o.totalSteps!));
    }
  }

  /** Called once per epoch with the validation top-1 accuracy (plateau rule; others ignore it). */
  epochEnd(valAccuracy: number): void {
    if (this.opts.name !== 'plateau' || !Number.isFinite(valAccuracy)) return;
    if (valAccuracy > this.s.best) { this.s.best = valAccuracy; this.s.bad = 0; return; }
    this.s.bad++;
    if (this.s.bad >= (this.opts.patience ?? 1) && this.s.reductions < (this.opts.maxReductions ?? 3)) {
      this.s.lr /= this.opts.factor ?? 10;
      this.s.reductions++;
      this.s.bad = 0;
    }
  }

  state(): ScheduleState { return { ...this.s, best: Number.isFinite(this.s.best) ? this.s.best : -1 }; }
  restore(s: ScheduleState): void { this.s = { ...s, best: s.best < 0 ? -Infinity : s.best }; }
}
