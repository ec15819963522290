// Classification metrics: running loss and top-1 / top-5 counts from host logits.

/** Counts rows of logits [n, classes] whose label is among the top-k scores (a tie with the label counts as correct). */
export function topKCorrect(logits: Float32Array, labels: Float32Array, n: number, classes: number, k: number): number {
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const row = i * classes, target = logits[row + labels[i]];
    let above = 0;
    for (let c = 0; c < classes; c++) if (logits[row + c] > target) above++;
    if (above < k && Number.isFinite(target)) correct++;
  }
  return correct;
}

export class MetricAccumulator {
  images = 0; lossSum = 0; top1 = 0; top5 = 0;
  add(logits: Float32Array, labels: Float32Array, n: number, classes: number, meanLoss: number): void {
    this.images += n;
    this.lossSum += meanLoss * n;
    this.top1 += topKCorrect(logits, labels, n, classes, 1);
    this.top5 += topKCorrect(logits, labels, n, classes, Math.min(5, classes));
  }
  get loss(): number { return this.images ? this.lossSum / this.images : NaN; }
  get top1Err(): number { return this.images ? 1 - this.top1 / this.images : NaN; }
  get top5Err(): number { return this.images ? 1 - this.top5 / this.images : NaN; }
  summary(): EpochMetrics { return { loss: this.loss, top1Err: this.top1Err, top5Err: this.top5Err, images: this.images }; }
}

export interface EpochMetrics { loss: number; top1Err: number; top5Err: number; images: number }
