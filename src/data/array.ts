// An in-memory Dataset: all images decoded once into one HWC array (bytes or floats) plus a label array.
import type { Dataset } from './dataset.js';

export class ArrayDataset implements Dataset {
  readonly length: number;
  private readonly imageSize: number;
  /** 1/255 for byte images, 1 for float images already in [0,1]. */
  private readonly scale: number;

  /** pixels: `length` images, each HWC; labels: one class index per image. */
  constructor(
    readonly name: string,
    readonly height: number, readonly width: number, readonly channels: number, readonly numClasses: number,
    private readonly pixels: Uint8Array | Float32Array, private readonly labels: Uint8Array,
  ) {
    this.imageSize = height * width * channels;
    this.length = labels.length;
    if (pixels.length !== this.length * this.imageSize) {
      throw new Error(`${name}: ${pixels.length} pixel values for ${this.length} images of ${height}x${width}x${channels}`);
    }
    this.scale = pixels instanceof Uint8Array ? 1 / 255 : 1;
  }

  get(i: number, out: Float32Array, offset: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) {
      throw new RangeError(`${this.name}: image index ${i} out of range [0, ${this.length})`);
    }
    if (offset < 0 || offset + this.imageSize > out.length) {
      throw new RangeError(`${this.name}: output offset ${offset} + ${this.imageSize} exceeds buffer of ${out.length}`);
    }
    const src = this.pixels, base = i * this.imageSize, s = this.scale, n = this.imageSize;
    for (let j = 0; j < n; j++) out[offset + j] = src[base + j] * s;
    return this.labels[i];
  }

  /** The label of image i without decoding it (class balance checks, tests). */
  label(i: number): number { return this.labels[i]; }
}
