// A Model: layers built from a VGG spec on the backends of a plan, forward/backward over batches, explicit cross-backend moves.
import type { Backend, Buf } from '../backend.js';
import {
  AdaptiveAvgPool7, BatchNorm2d, Conv2d, type ConvAlgos, Dropout, Flatten, Layer, Linear, LocalResponseNorm, MaxPool2d, ReLU,
  type Param, type StateTensor, actSize,
} from './layers.js';
import { SoftmaxCrossEntropy } from './loss.js';
import { deriveSeed } from './rng.js';
import type { LayerSpec, VggSpec } from './vgg.js';

/** Which backend runs each layer. Default: one backend for all. */
export interface Plan {
  readonly name: string;
  backendFor(spec: LayerSpec, index: number): Backend;
}
export function singleBackendPlan(backend: Backend): Plan {
  return { name: backend.name, backendFor: () => backend };
}

/** One place where activations cross from one backend to another (read to the host, written to the other). */
export interface TransferPoint { before: string; from: string; to: string; elementsPerSample: number }

interface Scratch { a: Buf; b: Buf; len: number }

export interface ModelOptions {
  labelSmoothing?: number;
  /** Per-pass conv algorithms by layer name (a planner's choice); layers absent keep the spec's algo. */
  convAlgos?: Record<string, ConvAlgos>;
}

export class Model {
  readonly layers: Layer[] = [];
  readonly loss: SoftmaxCrossEntropy;
  /** The planned backend boundaries; `transferred` counts elements actually moved. */
  readonly transfers: TransferPoint[] = [];
  transferred = 0;
  private maxBatch = 0;
  private inputBuf?: Buf;
  private crossBufs = new Map<number, Buf>();
  private scratch = new Map<Backend, Scratch>();
  private logits?: Buf;

  constructor(readonly spec: VggSpec, readonly plan: Plan, opts: ModelOptions = {}) {
    spec.layers.forEach((s, i) => {
      if (s.kind === 'relu' && s.fused) return;
      const l = makeLayer(s, opts.convAlgos);
      l.bind(plan.backendFor(s, i));
      this.layers.push(l);
    });
    for (let i = 1; i < this.layers.length; i++) {
      const p = this.layers[i - 1], l = this.layers[i];
      if (p.backend !== l.backend) {
        this.transfers.push({ before: l.name, from: p.backend.name, to: l.backend.name, elementsPerSample: actSize(l.inShape) });
      }
    }
    this.loss = new SoftmaxCrossEntropy(spec.numClasses, opts.labelSmoothing ?? 0);
    this.loss.bind(this.last.backend);
  }

  get first(): Layer { return this.layers[0]; }
  get last(): Layer { return this.layers[this.layers.length - 1]; }
  get inputSize(): number { return actSize(this.spec.input); }
  params(): Param[] { return this.layers.flatMap((l) => l.params()); }
  state(): StateTensor[] { return this.layers.flatMap((l) => l.state()); }
  backends(): Backend[] { return [...new Set(this.layers.map((l) => l.backend))]; }

  /** Allocate activations for batches up to n. */
  reserve(n: number): void {
    if (n <= this.maxBatch) return;
    this.maxBatch = n;
    const fb = this.first.backend;
    if (this.inputBuf) fb.free(this.inputBuf);
    this.inputBuf = fb.alloc(n * this.inputSize);
    for (const l of this.layers) l.reserve(n);
    this.loss.reserve(n);
    for (const [i, b] of this.crossBufs) this.layers[i].backend.free(b);
    this.crossBufs.clear();
    for (let i = 1; i < this.layers.length; i++) {
      if (this.layers[i].backend !== this.layers[i - 1].backend) this.crossBufs.set(i, this.layers[i].backend.alloc(n * actSize(this.layers[i].inShape)));
    }
    // Two gradient scratch buffers per backend, each as large as the largest layer input there.
    for (const [be, s] of this.scratch) { be.free(s.a); be.free(s.b); }
    this.scratch.clear();
    for (const l of this.layers) {
      const len = n * actSize(l.inShape), s = this.scratch.get(l.backend);
      if (!s || s.len < len) {
        if (s) { l.backend.free(s.a); l.backend.free(s.b); }
        this.scratch.set(l.backend, { a: l.backend.alloc(len), b: l.backend.alloc(len), len });
      }
    }
  }

  private async move(buf: Buf, from: Backend, to: Backend, dst: Buf, len: number): Promise<Buf> {
    const host = await from.read(buf, 0, len);
    to.write(dst, host);
    this.transferred += len;
    return dst;
  }

  /** Forward pass of n images (NHWC float32). Returns the logits buffer on the last layer's backend. */
  async forward(x: Float32Array, n: number, train: boolean, stepSeed = 0): Promise<Buf> {
    if (x.length < n * this.inputSize) throw new Error(`model input: ${x.length} values for ${n} images of ${this.inputSize}`);
    this.reserve(n);
    this.first.backend.write(this.inputBuf!, x.length === n * this.inputSize ? x : x.subarray(0, n * this.inputSize));
    let cur = this.inputBuf!;
    for (let i = 0; i < this.layers.length; i++) {
      const l = this.layers[i];
      if (i > 0 && l.backend !== this.layers[i - 1].backend) {
        cur = await this.move(cur, this.layers[i - 1].backend, l.backend, this.crossBufs.get(i)!, n * actSize(l.inShape));
      }
      cur = l.forward(cur, n, { train, seed: deriveSeed(stepSeed, i) });
    }
    this.logits = cur;
    return cur;
  }

  /** Mean cross-entropy of the last forward against labels (class indices as float). */
  async lossForward(labels: Float32Array, n: number): Promise<number> {
    if (!this.logits) throw new Error('lossForward before forward');
    return this.loss.forward(this.logits, labels, n);
  }

  async readLogits(n: number): Promise<Float32Array> {
    if (!this.logits) throw new Error('readLogits before forward');
    return this.last.backend.read(this.logits, 0, n * this.spec.numClasses);
  }

  /** Backward from the loss: fills every Param.grad (overwritten, not accumulated). */
  async backward(n: number): Promise<void> {
    let dy: Buf = this.loss.backward(n);
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const l = this.layers[i];
      const s = this.scratch.get(l.backend)!;
      const target = i === 0 ? null : (dy === s.a ? s.b : s.a);
      const dx = l.backward(dy, n, target);
      if (i === 0) break;
      if (!dx) throw new Error(`${l.name}: backward produced no input gradient`);
      const prev = this.layers[i - 1];
      if (prev.backend !== l.backend) {
        const ps = this.scratch.get(prev.backend)!;
        dy = await this.move(dx, l.backend, prev.backend, ps.a, n * actSize(l.inShape));
      } else {
        dy = dx;
      }
    }
  }

  async sync(): Promise<void> { for (const b of this.backends()) await b.sync(); }

  dispose(): void {
    for (const l of this.layers) l.dispose();
    this.loss.dispose();
    if (this.inputBuf) this.first.backend.free(this.inputBuf);
    for (const [i, b] of this.crossBufs) this.layers[i].backend.free(b);
    for (const [be, s] of this.scratch) { be.free(s.a); be.free(s.b); }
  }
}

function makeLayer(s: LayerSpec, convAlgos?: Record<string, ConvAlgos>): Layer {
  switch (s.kind) {
    case 'conv': return new Conv2d(s.name, s.in, s.cout, { k: s.k, relu: s.relu, algo: convAlgos?.[s.name] ?? s.algo });
    case 'bn': return new BatchNorm2d(s.name, s.in);
    case 'relu': return new ReLU(s.name, s.in);
    case 'lrn': return new LocalResponseNorm(s.name, s.in);
    case 'maxpool': return new MaxPool2d(s.name, s.in);
    case 'avgpool': return new AdaptiveAvgPool7(s.name, s.in);
    case 'flatten': return new Flatten(s.name, s.in);
    case 'linear': return new Linear(s.name, s.in, s.out, s.relu, s.repeat);
    case 'dropout': return new Dropout(s.name, s.in, s.p);
  }
}
