// A training step on synthetic data for the benches: the recipe's SGD (lr 0.01, momentum 0.9, weight decay 5e-4),
// torchvision's init, seeded normal inputs and labels 0..9 in turn, so every bench times the same work.
import type { Model } from '../src/nn/model.js';
import { initModel } from '../src/nn/init.js';
import { SGD } from '../src/nn/optim.js';
import { Rng } from '../src/nn/rng.js';
import { LrSchedule } from '../src/nn/schedule.js';
import { Trainer } from '../src/nn/trainer.js';

export interface SyntheticTraining {
  opt: SGD;
  /** One SGD step on the fixed batch, finished on the device; resolves to its loss. */
  step(): Promise<number>;
}

/** Initialises `model` and returns its optimizer and a step over one fixed synthetic batch of `batch` images. */
export function syntheticTraining(model: Model, batch: number): SyntheticTraining {
  const opt = new SGD(model.params(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  initModel(model, 'kaiming', new Rng(1));
  const trainer = new Trainer(model, opt, new LrSchedule({ name: 'constant', baseLr: 0.01 }), 1);
  const r = new Rng(2), x = new Float32Array(batch * model.inputSize), labels = new Float32Array(batch);
  for (let i = 0; i < x.length; i++) x[i] = r.normal();
  for (let i = 0; i < batch; i++) labels[i] = i % 10;
  return {
    opt,
    async step() {
      const { loss } = await trainer.trainStep(x, labels, batch);
      await model.sync();
      return loss;
    },
  };
}
