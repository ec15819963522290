// Softmax cross-entropy with optional label smoothing: mean loss over the batch, gradient scaled by 1/n.
import type { Backend, Buf } from '../backend.js';

export class SoftmaxCrossEntropy {
  private probs!: Buf; private lossRows!: Buf; private lossSum!: Buf; private labels!: Buf; private dlogits!: Buf;
  private maxBatch = 0;
  private backend!: Backend;
  constructor(readonly classes: number, readonly smoothing = 0) {
    if (!(smoothing >= 0 && smoothing < 1)) throw new Error(`label smoothing must be in [0, 1), got ${smoothing}`);
  }
  bind(backend: Backend): void { this.backend = backend; this.lossSum = backend.alloc(1); }
  reserve(n: number): void {
    if (n <= this.maxBatch) return;
    const be = this.backend;
    for (const b of [this.probs, this.lossRows, this.labels, this.dlogits]) if (b) be.free(b);
    this.maxBatch = n;
    this.probs = be.alloc(n * this.classes); this.dlogits = be.alloc(n * this.classes);
    this.lossRows = be.alloc(n); this.labels = be.alloc(n);
  }
  /** Runs the forward; returns the mean loss (read back from the backend). */
  async forward(logits: Buf, labels: Float32Array, n: number): Promise<number> {
    const be = this.backend;
    be.write(this.labels, labels.length === n ? labels : labels.subarray(0, n));
    be.run('softmax_xent_forward', { logits, labels: this.labels, probs: this.probs, loss: this.lossRows, n, classes: this.classes, smoothing: this.smoothing });
    be.run('reduce_sum', { x: this.lossRows, out: this.lossSum, length: n });
    return (await be.read(this.lossSum, 0, 1))[0] / n;
  }
  /** dL/dlogits of the mean loss; valid until the next forward. */
  backward(n: number): Buf {
    this.backend.run('softmax_xent_backward', { probs: this.probs, labels: this.labels, dlogits: this.dlogits, n, classes: this.classes,
      smoothing: this.smoothing, scale: 1 / n });
    return this.dlogits;
  }
  dispose(): void {
    for (const b of [this.probs, this.lossRows, this.labels, this.dlogits, this.lossSum]) if (b) this.backend.free(b);
  }
}
