// SGD with momentum, weight decay and Nesterov, exactly torch.optim.SGD, one sgd_update kernel per parameter.
import type { Buf } from '../backend.js';
import type { Param } from './layers.js';

export interface SgdOptions {
  lr: number;
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
  /** Apply weight decay to biases and BN parameters too (torch's default, and the paper's). Default true. */
  decayBiasAndBn?: boolean;
}

export class SGD {
  readonly momentum: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  readonly decayBiasAndBn: boolean;
  /** Momentum buffers, one per parameter (same backend, same layout). */
  readonly velocity: Buf[];

  constructor(readonly params: Param[], opts: SgdOptions) {
    this.momentum = opts.momentum ?? 0.9;
    this.weightDecay = opts.weightDecay ?? 5e-4;
    this.nesterov = opts.nesterov ?? false;
    this.decayBiasAndBn = opts.decayBiasAndBn ?? true;
    for (const [k, v] of [['lr', opts.lr], ['momentum', this.momentum], ['weightDecay', this.weightDecay]] as const) {
      if (!(Number.isFinite(v) && v >= 0)) throw new Error(`SGD: ${k} must be a finite number >= 0, got ${v}`);
    }
    if (this.nesterov && this.momentum === 0) throw new Error('SGD: Nesterov momentum requires momentum > 0');
    this.velocity = params.map((p) => {
      const v = p.backend.alloc(p.buf.length);
      p.backend.write(v, new Float32Array(p.buf.length));
      return v;
    });
  }

  decayFor(p: Param): number { return p.role === 'weight' || this.decayBiasAndBn ? this.weightDecay : 0; }

  /** One update of every parameter from its current gradient. */
  step(lr: number): void {
    this.params.forEach((p, i) => {
      p.backend.run('sgd_update', { w: p.buf, g: p.grad, v: this.velocity[i], length: p.buf.length, lr, momentum: this.momentum,
        weightDecay: this.decayFor(p), nesterov: this.nesterov });
    });
  }

  dispose(): void { this.params.forEach((p, i) => p.backend.free(this.velocity[i])); }
}
