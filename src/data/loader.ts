// Batches a Dataset: seeded per-epoch shuffle, zero-pad or bilinear resize to a square input, per-channel
// normalisation, NHWC float32 output, and a resumable position.
//
// Shuffle: epoch e's order is a Fisher-Yates permutation driven by mulberry32 seeded with
// epochSeed(seed, e) (below). It depends on (seed, e) only, never on earlier epochs, so a run restored
// from state() replays exactly the batches an uninterrupted run would have produced.
//
// Geometry (inputSize): 'pad' centres the image on a zero (black) canvas before normalising, as
// torchvision's Pad then Normalize (MNIST 28 -> 32: 2 pixels each side; an odd margin puts the extra
// pixel bottom/right); 'resize' is bilinear with torch's align_corners=False, no antialias. The default
// pads when inputSize is at least the image size and resizes when it is smaller.
import type { Dataset } from './dataset.js';
import { DATASET_INFO, type DatasetName } from './dataset.js';

export interface DataLoaderOptions {
  batchSize: number;
  shuffle: boolean;
  /** Integer; used modulo 2^32. */
  seed: number;
  /** Output is inputSize x inputSize (default: the dataset's own height x width, untouched). */
  inputSize?: number;
  /** How to reach inputSize; default 'pad' when inputSize >= the image size, else 'resize'. */
  fit?: 'pad' | 'resize';
  /** Per-channel normalisation x' = (x - mean) / std on [0,1] pixels. Default: DATASET_INFO for the
   *  dataset's name when it has one, else none (mean 0, std 1). */
  mean?: number[];
  std?: number[];
  /** Drop the last partial batch (default false: the last batch may be smaller). */
  dropLast?: boolean;
}

export interface LoaderState { epoch: number; position: number; seed: number }

export interface Batch {
  /** [size, inputSize, inputSize, channels], normalised. */
  x: Float32Array;
  /** Class indices as float32 (exact), one per image. */
  labels: Float32Array;
  /** Images in this batch (batchSize except maybe the last). */
  size: number;
}

/** mulberry32 (Tommy Ettinger's 32-bit generator): returns uniform floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The generator seed for one epoch: the golden-ratio multiple of the epoch mixed into the run seed. */
export function epochSeed(seed: number, epoch: number): number {
  let h = (seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A Fisher-Yates permutation of 0..n-1 drawn from mulberry32(seed). */
export function shuffledIndices(n: number, seed: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const rand = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i]; p[i] = p[j]; p[j] = t;
  }
  return p;
}

/** Bilinear source taps for one axis, torch's align_corners=False: src = (dst + 0.5) * in/out - 0.5, clamped at 0. */
function bilinearTaps(inSize: number, outSize: number): { i0: Int32Array; i1: Int32Array; w1: Float32Array } {
  const i0 = new Int32Array(outSize), i1 = new Int32Array(outSize), w1 = new Float32Array(outSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const src = Math.max(0, (o + 0.5) * scale - 0.5);
    const f = Math.min(Math.floor(src), inSize - 1);
    i0[o] = f;
    i1[o] = Math.min(f + 1, inSize - 1);
    w1[o] = src - f;
  }
  return { i0, i1, w1 };
}

export class DataLoader {
  readonly batchSize: number;
  readonly inputSize: number;
  readonly channels: number;
  readonly fit: 'none' | 'pad' | 'resize';
  readonly mean: number[];
  readonly std: number[];
  private readonly shuffle: boolean;
  private readonly dropLast: boolean;
  private seed: number;
  private epoch = 0;
  private position = 0;
  private readonly outH: number;
  private readonly outW: number;
  private readonly inv: number[];

  constructor(private readonly ds: Dataset, opts: DataLoaderOptions) {
    const where = `DataLoader(${ds.name})`;
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new Error(`${where}: batchSize must be a positive integer, got ${opts.batchSize}`);
    if (!Number.isSafeInteger(opts.seed)) throw new Error(`${where}: seed must be an integer, got ${opts.seed}`);
    if (opts.inputSize !== undefined && (!Number.isInteger(opts.inputSize) || opts.inputSize < 1)) {
      throw new Error(`${where}: inputSize must be a positive integer, got ${opts.inputSize}`);
    }
    this.batchSize = opts.batchSize;
    this.shuffle = opts.shuffle;
    this.seed = opts.seed >>> 0;
    this.dropLast = opts.dropLast ?? false;
    this.channels = ds.channels;
    this.outH = opts.inputSize ?? ds.height;
    this.outW = opts.inputSize ?? ds.width;
    this.inputSize = this.outH;
    const same = this.outH === ds.height && this.outW === ds.width;
    const fits = this.outH >= ds.height && this.outW >= ds.width;
    if (opts.fit === 'pad' && !fits) throw new Error(`${where}: cannot pad ${ds.height}x${ds.width} images to ${this.outH}x${this.outW}`);
    this.fit = same && opts.fit !== 'resize' ? 'none' : opts.fit ?? (fits ? 'pad' : 'resize');

    const info = (DATASET_INFO as Record<string, { mean: number[]; std: number[] } | undefined>)[ds.name as DatasetName];
    this.mean = opts.mean ?? (info && info.mean.length === ds.channels ? info.mean : new Array(ds.channels).fill(0));
    this.std = opts.std ?? (info && info.std.length === ds.channels ? info.std : new Array(ds.channels).fill(1));
    if (this.mean.length !== ds.channels || this.std.length !== ds.channels) {
      throw new Error(`${where}: mean and std need ${ds.channels} values (one per channel), got ${this.mean.length} and ${this.std.length}`);
    }
    if (this.std.some((s) => !(s > 0)) || this.mean.some((m) => !Number.isFinite(m))) {
      throw new Error(`${where}: std must be positive and mean finite, got mean ${this.mean} std ${this.std}`);
    }
    this.inv = this.std.map((s) => 1 / s);
    if (this.numBatches === 0) {
      throw new Error(`${where}: ${ds.length} images make no batch of ${this.batchSize}${this.dropLast ? ' with dropLast' : ''}`);
    }
  }

  get numBatches(): number {
    return this.dropLast ? Math.floor(this.ds.length / this.batchSize) : Math.ceil(this.ds.length / this.batchSize);
  }

  /** Where the next batch comes from: batch `position` of `epoch` (a finished epoch reads as (epoch + 1, 0)). */
  state(): LoaderState {
    return { epoch: this.epoch, position: this.position, seed: this.seed };
  }

  restore(s: LoaderState): void {
    const ok = s && Number.isInteger(s.epoch) && s.epoch >= 0 && Number.isInteger(s.position) && s.position >= 0 &&
      s.position <= this.numBatches && Number.isSafeInteger(s.seed);
    if (!ok) throw new Error(`DataLoader(${this.ds.name}).restore: bad state ${JSON.stringify(s)} (numBatches ${this.numBatches})`);
    this.seed = s.seed >>> 0;
    this.epoch = s.position === this.numBatches ? s.epoch + 1 : s.epoch;
    this.position = s.position === this.numBatches ? 0 : s.position;
  }

  /** The order images are visited in during `epoch`. */
  order(epoch: number): Uint32Array {
    if (this.shuffle) return shuffledIndices(this.ds.length, epochSeed(this.seed, epoch));
    const p = new Uint32Array(this.ds.length);
    for (let i = 0; i < p.length; i++) p[i] = i;
    return p;
  }

  /** The batches of `epoch`. When epoch equals state().epoch (after restore() or an interrupted pass) it
   *  continues at state().position; otherwise it starts at batch 0. Each batch is a fresh allocation. */
  *batches(epoch: number): Generator<Batch, void, undefined> {
    if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`DataLoader(${this.ds.name}).batches: bad epoch ${epoch}`);
    const order = this.order(epoch);
    const total = this.numBatches;
    const start = epoch === this.epoch ? this.position : 0;
    const pixels = this.outH * this.outW * this.channels;
    const scratch = new Float32Array(this.ds.height * this.ds.width * this.channels);
    for (let b = start; b < total; b++) {
      const first = b * this.batchSize;
      const size = Math.min(this.batchSize, this.ds.length - first);
      const x = new Float32Array(size * pixels);
      const labels = new Float32Array(size);
      for (let k = 0; k < size; k++) labels[k] = this.fill(order[first + k], x, k * pixels, scratch);
      this.epoch = b + 1 === total ? epoch + 1 : epoch;
      this.position = b + 1 === total ? 0 : b + 1;
      yield { x, labels, size };
    }
  }

  /** Writes image i, fitted and normalised, at x[offset..]; returns its label. */
  private fill(i: number, x: Float32Array, offset: number, scratch: Float32Array): number {
    const C = this.channels, H = this.ds.height, W = this.ds.width, OH = this.outH, OW = this.outW;
    const inv = this.inv, mean = this.mean;
    if (this.fit === 'none') {
      const label = this.ds.get(i, x, offset);
      for (let p = 0, n = H * W; p < n; p++) {
        for (let c = 0; c < C; c++) x[offset + p * C + c] = (x[offset + p * C + c] - mean[c]) * inv[c];
      }
      return label;
    }
    const label = this.ds.get(i, scratch, 0);
    if (this.fit === 'pad') {
      const top = (OH - H) >> 1, left = (OW - W) >> 1;
      for (let y = 0; y < OH; y++) {
        for (let xo = 0; xo < OW; xo++) {
          const sy = y - top, sx = xo - left, inside = sy >= 0 && sy < H && sx >= 0 && sx < W;
          const d = offset + (y * OW + xo) * C, s = (sy * W + sx) * C;
          for (let c = 0; c < C; c++) x[d + c] = ((inside ? scratch[s + c] : 0) - mean[c]) * inv[c];
        }
      }
      return label;
    }
    const ty = this.taps ??= { y: bilinearTaps(H, OH), x: bilinearTaps(W, OW) };
    for (let y = 0; y < OH; y++) {
      const r0 = ty.y.i0[y] * W, r1 = ty.y.i1[y] * W, wy = ty.y.w1[y];
      for (let xo = 0; xo < OW; xo++) {
        const c0 = ty.x.i0[xo], c1 = ty.x.i1[xo], wx = ty.x.w1[xo];
        const d = offset + (y * OW + xo) * C;
        for (let c = 0; c < C; c++) {
          const top = scratch[(r0 + c0) * C + c] * (1 - wx) + scratch[(r0 + c1) * C + c] * wx;
          const bot = scratch[(r1 + c0) * C + c] * (1 - wx) + scratch[(r1 + c1) * C + c] * wx;
          x[d + c] = (top * (1 - wy) + bot * wy - mean[c]) * inv[c];
        }
      }
    }
    return label;
  }

  private taps?: { y: ReturnType<typeof bilinearTaps>; x: ReturnType<typeof bilinearTaps> };
}
