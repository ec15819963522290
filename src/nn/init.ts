// Weight initialisation schemes: the paper's N(0, 0.01), Glorot (Xavier uniform) and Kaiming (torchvision's VGG init).
import type { Rng } from './rng.js';

export type InitScheme = 'paper' | 'glorot' | 'kaiming';
export const INIT_SCHEMES: readonly InitScheme[] = ['paper', 'glorot', 'kaiming'];

/** `repeat` k: the tensor is the sum of k independently drawn blocks (a folded input repeat, see Linear). */
export interface FanInfo { fanIn: number; fanOut: number; kind: 'conv' | 'linear'; repeat?: number }

/**
 * Fills a weight tensor. 'paper': N(0, 0.01^2) everywhere (Simonyan & Zisserman, section 3.1).
 * 'glorot': U(-a, a), a = sqrt(6 / (fanIn + fanOut)). 'kaiming': what torchvision's VGG does —
 * convs N(0, 2/fanOut) (kaiming_normal_, mode fan_out, relu), linears N(0, 0.01^2).
 * Biases are always zero and BN weight/bias one/zero; the caller handles those.
 */
export function initWeight(out: Float32Array, fan: FanInfo, scheme: InitScheme, rng: Rng): void {
  const k = fan.repeat ?? 1;
  if (scheme === 'glorot') {
    const a = Math.sqrt(6 / (fan.fanIn + fan.fanOut));
    for (let i = 0; i < out.length; i++) {
      let v = 0;
      for (let j = 0; j < k; j++) v += (rng.uniform() * 2 - 1) * a;
      out[i] = v;
    }
    return;
  }
  // A sum of k N(0, std^2) draws is N(0, k std^2).
  const std = (scheme === 'kaiming' && fan.kind === 'conv' ? Math.sqrt(2 / fan.fanOut) : 0.01) * Math.sqrt(k);
  for (let i = 0; i < out.length; i++) out[i] = rng.normal() * std;
}

/** Initialises every parameter of a model (weights by scheme, biases 0, BN weight 1 / bias 0) and resets BN running stats. */
export function initModel(model: import('./model.js').Model, scheme: InitScheme, rng: Rng): void {
  if (!INIT_SCHEMES.includes(scheme)) throw new Error(`unknown init scheme ${scheme} (one of ${INIT_SCHEMES.join(', ')})`);
  for (const p of model.params()) {
    const data = new Float32Array(p.buf.length);
    if (p.role === 'weight' && p.fan) initWeight(data, p.fan, scheme, rng);
    else if (p.role === 'bn' && p.name.endsWith('.weight')) data.fill(1);
    p.backend.write(p.buf, data);
  }
  for (const s of model.state()) s.backend.write(s.buf, new Float32Array(s.buf.length).fill(s.init));
}
