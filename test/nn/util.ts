// Helpers shared by the nn tests: tiny models, host copies of parameters, normwise errors.
import type { Backend } from '../../src/backend.js';
import { initModel } from '../../src/nn/init.js';
import { Model, singleBackendPlan } from '../../src/nn/model.js';
import { Rng } from '../../src/nn/rng.js';
import { type VggOptions, vggSpec } from '../../src/nn/vgg.js';

/** ||a - b|| / max(||b||, floor): the per-tensor normwise relative error the golden tests use. */
export function normRelErr(a: Float32Array | Float64Array, b: Float32Array | Float64Array, floor = 1e-12): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let d = 0, n = 0;
  for (let i = 0; i < a.length; i++) { d += (a[i] - b[i]) ** 2; n += b[i] ** 2; }
  const r = Math.sqrt(d) / Math.max(Math.sqrt(n), floor);
  return Number.isNaN(r) ? Infinity : r;
}

export function tinyModel(backend: Backend, o: Partial<VggOptions> = {}, seed = 1, smoothing = 0): Model {
  const spec = vggSpec({ config: [3, 'M', 4, 'M'], inputSize: 4, inChannels: 2, numClasses: 3, classifierWidth: 5, dropout: 0, ...o });
  const m = new Model(spec, singleBackendPlan(backend), { labelSmoothing: smoothing });
  initModel(m, 'glorot', new Rng(seed));
  return m;
}

export function randomInput(len: number, seed: number): Float32Array {
  const r = new Rng(seed), x = new Float32Array(len);
  for (let i = 0; i < len; i++) x[i] = r.normal();
  return x;
}
