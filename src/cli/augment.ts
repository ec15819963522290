// Random translation (the paper's random crops, reduced to shifts for 28x28 digits), deterministic per (seed, epoch, image).
import type { Dataset } from '../data/dataset.js';
import { deriveSeed } from '../nn/rng.js';

/** Wraps a dataset: image i in the current epoch is shifted by up to `max` pixels in x and y, zero filled.
 *  The shift depends only on (seed, epoch, i), so a resumed run sees the same images. */
export class RandomShift implements Dataset {
  epoch = 0;
  readonly name: string; readonly length: number; readonly channels: number;
  readonly height: number; readonly width: number; readonly numClasses: number;
  private readonly scratch: Float32Array;
  constructor(private readonly ds: Dataset, readonly max: number, readonly seed: number) {
    this.name = ds.name; this.length = ds.length; this.channels = ds.channels;
    this.height = ds.height; this.width = ds.width; this.numClasses = ds.numClasses;
    this.scratch = new Float32Array(ds.height * ds.width * ds.channels);
  }
  get(i: number, out: Float32Array, offset: number): number {
    const label = this.ds.get(i, this.scratch, 0);
    const r = deriveSeed(this.seed, this.epoch, i), span = 2 * this.max + 1;
    const dx = (r % span) - this.max, dy = (Math.floor(r / span) % span) - this.max;
    const { height: H, width: W, channels: C } = this;
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const sy = y - dy, sx = x - dx, inside = sy >= 0 && sy < H && sx >= 0 && sx < W;
      for (let c = 0; c < C; c++) out[offset + (y * W + x) * C + c] = inside ? this.scratch[(sy * W + sx) * C + c] : 0;
    }
    return label;
  }
}
