// Plans a VGG for training (planner over the run's backends, per-layer and per-pass algorithms) and builds the Model.
import { type Backend, CONV_ALGOS, type ConvAlgo, algoApplies } from '../backend.js';
import { Model, type ModelOptions } from '../nn/model.js';
import type { VggSpec } from '../nn/vgg.js';
import { convPassAlgosOf, modelPlanOf } from '../runtime/model_plan.js';
import type { Plan } from '../runtime/planner.js';
import { planModel } from '../runtime/tune.js';
import type { TuningCache, TuningCacheOptions } from '../runtime/tuning_cache.js';
import { convChainOfSpec } from '../runtime/vgg_chain.js';

export type AlgoChoice = 'auto' | ConvAlgo;
export const ALGO_CHOICES: readonly AlgoChoice[] = ['auto', ...CONV_ALGOS];

export interface PlanBuildOptions extends ModelOptions {
  batch: number;
  /** 'auto': the planner picks per layer and pass; an algorithm: every conv uses it (the planner still places layers). */
  algo?: AlgoChoice;
  cache?: TuningCache | TuningCacheOptions | false;
  log?: (message: string) => void;
}

/** Plans `spec` over `backends` (every pass of a layer on one backend) and builds the Model the plan describes. */
export async function planAndBuild(spec: VggSpec, backends: Backend[], o: PlanBuildOptions): Promise<{ model: Model; plan: Plan }> {
  const chain = convChainOfSpec(spec.layers, o.batch);
  const algo = o.algo ?? 'auto';
  const misfit = algo === 'auto' ? undefined : chain.find((l) => !algoApplies(algo, l.shape));
  if (misfit) {
    const s = misfit.shape;
    throw new Error(`--algo ${algo} does not apply to ${misfit.id} of ${spec.label} (${s.kh}x${s.kw} conv on ${s.h}x${s.w}); use auto or im2col_gemm`);
  }
  const plan = await planModel(chain, backends, { algos: algo === 'auto' ? undefined : [algo], cache: o.cache, log: o.log, oneBackendPerLayer: true });
  const model = new Model(spec, modelPlanOf(plan, backends, spec.layers), { ...o, convAlgos: convPassAlgosOf(plan) });
  return { model, plan };
}
