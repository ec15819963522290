// Applies a planner Plan to src/nn's Model, which binds each layer to one backend and each conv to one algorithm:
// convs take their planned forward choice, every other layer follows the conv before it (the FC head the last one).
import type { Backend, ConvAlgo } from '../backend.js';
import type { ConvAlgos } from '../nn/layers.js';
import type { Plan as ModelPlan } from '../nn/model.js';
import type { LayerSpec as VggLayerSpec } from '../nn/vgg.js';
import { type Pass, type Plan, choiceFor } from './planner.js';
import { planLabels } from './tune.js';

/** A Model plan (backendFor) for `layers` (VggSpec.layers) from a planner Plan made over `backends`. */
export function modelPlanOf(plan: Plan, backends: Backend[], layers: readonly VggLayerSpec[], name = 'auto'): ModelPlan {
  const labels = planLabels(backends);
  const byLabel = new Map(labels.map((l, i) => [l, backends[i]]));
  const backendOf = (label: string): Backend => {
    const b = byLabel.get(label);
    if (!b) throw new Error(`modelPlanOf: the plan uses backend '${label}', which is not among ${labels.join(', ')}`);
    return b;
  };
  const convBackend = (l: VggLayerSpec) => {
    const e = l.kind === 'conv' ? choiceFor(plan, l.name, 'forward') : undefined;
    return e ? backendOf(e.backend) : undefined;
  };
  const first = layers.map(convBackend).find((b) => b !== undefined);
  if (!first) throw new Error('modelPlanOf: no conv layer of the model is in the plan');
  const perIndex: Backend[] = [];
  let current = first;
  for (const l of layers) { current = convBackend(l) ?? current; perIndex.push(current); }
  return {
    name,
    backendFor(spec: VggLayerSpec, index: number): Backend {
      const b = perIndex[index];
      if (!b || layers[index] !== spec && layers[index]?.name !== spec.name) throw new Error(`modelPlanOf: layer ${index} (${spec.name}) is not the one the plan was built for`);
      return b;
    },
  };
}

/** Per-conv algorithm (by layer name) for one pass, in the form vggSpec's `algo` option takes. */
export function convAlgosOf(plan: Plan, pass: Pass = 'forward'): Record<string, ConvAlgo> {
  const out: Record<string, ConvAlgo> = {};
  for (const l of plan.layers) {
    const e = choiceFor(plan, l.id, pass);
    if (e) out[l.id] = e.algo as ConvAlgo;
  }
  return out;
}

/** Per-pass conv algorithms by layer name, in the form Model's `convAlgos` option takes. Passes a layer lacks
 *  (backward_data of the first conv) take its forward choice; they are never run. */
export function convPassAlgosOf(plan: Plan): Record<string, ConvAlgos> {
  const out: Record<string, ConvAlgos> = {};
  for (const l of plan.layers) {
    const f = l.passes.forward;
    if (!f) continue;
    const a = (p: Pass) => (l.passes[p]?.algo ?? f.algo) as ConvAlgo;
    out[l.id] = { forward: a('forward'), backward_data: a('backward_data'), backward_filter: a('backward_filter') };
  }
  return out;
}
