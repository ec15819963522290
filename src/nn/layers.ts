// The layers: forward and backward of each VGG building block, written only against the Backend interface.
//
// Memory: a layer allocates its parameters and gradients once (bind) and its saved activations once
// per maximum batch size (reserve); kernels accept buffers longer than the shape needs, so a smaller
// final batch reuses them and steady-state training allocates nothing. Input gradients go to a
// scratch buffer the model hands in (`dx`, never the same buffer as dy); a layer that can work in
// place returns dy itself instead.
import type { Backend, Buf, ConvAlgo, ConvShape } from '../backend.js';

/** Per-sample activation shape (NHWC without N); a flat vector is h = w = 1. */
export interface ActShape { h: number; w: number; c: number }
export const actSize = (s: ActShape): number => s.h * s.w * s.c;

export type ParamRole = 'weight' | 'bias' | 'bn';
export type ParamLayout = 'hwio' | 'linear' | 'vector';

/** A trainable tensor. `name` is its torchvision state_dict name; `shape` is OUR layout's shape. */
export interface Param {
  name: string; shape: number[]; layout: ParamLayout; role: ParamRole;
  buf: Buf; grad: Buf; backend: Backend;
  /** Fan-in/out for initialisation (weights only); `repeat` as Linear's. */
  fan?: { fanIn: number; fanOut: number; kind: 'conv' | 'linear'; repeat?: number };
  /** torchvision's tensor has each of our columns `repeatCols` times (a folded repeat, see Linear). */
  repeatCols?: number;
}
/** A non-trainable state tensor saved in checkpoints (BN running statistics). */
export interface StateTensor { name: string; shape: number[]; buf: Buf; backend: Backend; init: number }

export interface ForwardCtx { train: boolean; /** 32-bit seed for this layer in this step (dropout) */ seed: number }

export abstract class Layer {
  abstract readonly kind: string;
  backend!: Backend;
  protected maxBatch = 0;
  protected readonly owned: Buf[] = [];
  constructor(readonly name: string, readonly inShape: ActShape) {}
  abstract get outShape(): ActShape;
  params(): Param[] { return []; }
  state(): StateTensor[] { return []; }
  /** True when backward needs no dx scratch because it works in place on dy (or is the identity). */
  get inPlaceBackward(): boolean { return false; }

  /** Attach to a backend and allocate parameters. Called once. */
  bind(backend: Backend): void { this.backend = backend; }
  /** Allocate saved activations for batches up to n (no-op when already large enough). */
  reserve(n: number): void { if (n > this.maxBatch) { this.maxBatch = n; this.allocActivations(n); } }
  protected allocActivations(_n: number): void {}
  protected alloc(len: number): Buf { const b = this.backend.alloc(Math.max(1, len)); this.owned.push(b); return b; }
  protected freeBuf(b: Buf | undefined): void {
    if (!b) return;
    const i = this.owned.indexOf(b);
    if (i >= 0) { this.owned.splice(i, 1); this.backend.free(b); }
  }
  dispose(): void { for (const b of this.owned) this.backend.free(b); this.owned.length = 0; }

  abstract forward(x: Buf, n: number, ctx: ForwardCtx): Buf;
  /** Returns the buffer holding dL/dx, or null when dx is not needed (first layer). */
  abstract backward(dy: Buf, n: number, dx: Buf | null): Buf | null;
}

function param(l: Layer, name: string, shape: number[], layout: ParamLayout, role: ParamRole, alloc: (n: number) => Buf,
  fan?: Param['fan']): Param {
  const len = shape.reduce((a, b) => a * b, 1);
  return { name, shape, layout, role, buf: alloc(len), grad: alloc(len), backend: l.backend, fan };
}

/** The algorithm of each conv pass (the planner chooses them separately). */
export interface ConvAlgos { forward: ConvAlgo; backward_data: ConvAlgo; backward_filter: ConvAlgo }
/** `algo` is one algorithm for every pass, or one per pass. */
export interface Conv2dOptions { k: 1 | 3; relu: boolean; algo: ConvAlgo | ConvAlgos }

/** 3x3 (pad 1) or 1x1 (pad 0) stride-1 convolution with bias, optional fused ReLU, per-layer algorithm. */
export class Conv2d extends Layer {
  readonly kind = 'conv';
  readonly pad: number;
  weight!: Param; bias!: Param;
  private y!: Buf; private x!: Buf;
  constructor(name: string, inShape: ActShape, readonly cout: number, readonly opts: Conv2dOptions) {
    super(name, inShape);
    this.pad = opts.k === 3 ? 1 : 0;
  }
  get outShape(): ActShape { return { h: this.inShape.h, w: this.inShape.w, c: this.cout }; }
  /** The forward algorithm (the one shorthand callers and logs use). */
  get algo(): ConvAlgo { return this.algos.forward; }
  get algos(): ConvAlgos {
    const a = this.opts.algo;
    return typeof a === 'string' ? { forward: a, backward_data: a, backward_filter: a } : a;
  }
  shape(n: number): ConvShape {
    const { h, w, c } = this.inShape;
    return { n, h, w, cin: c, cout: this.cout, kh: this.opts.k, kw: this.opts.k, stride: 1, pad: this.pad };
  }
  override params(): Param[] { return [this.weight, this.bias]; }
  override bind(backend: Backend): void {
    super.bind(backend);
    const k = this.opts.k, cin = this.inShape.c;
    this.weight = param(this, `${this.name}.weight`, [k, k, cin, this.cout], 'hwio', 'weight', (n) => this.alloc(n),
      { fanIn: cin * k * k, fanOut: this.cout * k * k, kind: 'conv' });
    this.bias = param(this, `${this.name}.bias`, [this.cout], 'vector', 'bias', (n) => this.alloc(n));
  }
  protected override allocActivations(n: number): void { this.freeBuf(this.y); this.y = this.alloc(n * actSize(this.outShape)); }
  forward(x: Buf, n: number): Buf {
    this.x = x;
    this.backend.run('conv2d_forward', { x, w: this.weight.buf, bias: this.bias.buf, y: this.y, shape: this.shape(n), algo: this.algo, relu: this.opts.relu });
    return this.y;
  }
  backward(dy: Buf, n: number, dx: Buf | null): Buf | null {
    const shape = this.shape(n);
    if (this.opts.relu) this.backend.run('relu_backward', { y: this.y, dy, dx: dy, length: n * actSize(this.outShape) });
    const algos = this.algos;
    this.backend.run('conv2d_backward_filter', { x: this.x, dy, dw: this.weight.grad, db: this.bias.grad, shape, algo: algos.backward_filter, beta: 0 });
    if (!dx) return null;
    this.backend.run('conv2d_backward_data', { dy, w: this.weight.buf, dx, shape, algo: algos.backward_data });
    return dx;
  }
}

/**
 * y = x W^T + b over [n, in] (W is [out, in] as torchvision), optional fused ReLU.
 *
 * `repeat` k > 1 folds an input repetition in front of the layer: torchvision's AdaptiveAvgPool2d((7,7))
 * on a 1x1 map repeats each feature 49 times into an FC of 49*in columns. Those k column blocks always
 * receive the same gradient dy^T x, so only their sum matters: we keep W = the sum of the k blocks
 * ([out, in], 49x less memory and work), whose gradient is k dy^T x; SGD with momentum and weight decay on
 * the blocks moves their sum exactly as SGD on W with that gradient. Init draws W as a sum of k blocks;
 * checkpoints hold torchvision's [out, k*in] tensor (see checkpoint.ts).
 */
export class Linear extends Layer {
  readonly kind = 'linear';
  weight!: Param; bias!: Param;
  private y!: Buf; private x!: Buf;
  constructor(name: string, inShape: ActShape, readonly out: number, readonly relu: boolean, readonly repeat = 1) {
    super(name, inShape);
    if (!(Number.isInteger(repeat) && repeat >= 1)) throw new Error(`${name}: repeat must be a positive integer, got ${repeat}`);
  }
  get in(): number { return actSize(this.inShape); }
  get outShape(): ActShape { return { h: 1, w: 1, c: this.out }; }
  override params(): Param[] { return [this.weight, this.bias]; }
  override bind(backend: Backend): void {
    super.bind(backend);
    this.weight = param(this, `${this.name}.weight`, [this.out, this.in], 'linear', 'weight', (n) => this.alloc(n),
      { fanIn: this.in * this.repeat, fanOut: this.out, kind: 'linear', repeat: this.repeat });
    if (this.repeat > 1) this.weight.repeatCols = this.repeat;
    this.bias = param(this, `${this.name}.bias`, [this.out], 'vector', 'bias', (n) => this.alloc(n));
  }
  protected override allocActivations(n: number): void { this.freeBuf(this.y); this.y = this.alloc(n * this.out); }
  forward(x: Buf, n: number): Buf {
    this.x = x;
    this.backend.run('gemm', { a: x, b: this.weight.buf, c: this.y, m: n, n: this.out, k: this.in, transA: false, transB: true,
      alpha: 1, beta: 0, bias: this.bias.buf, relu: this.relu });
    return this.y;
  }
  backward(dy: Buf, n: number, dx: Buf | null): Buf | null {
    const be = this.backend;
    if (this.relu) be.run('relu_backward', { y: this.y, dy, dx: dy, length: n * this.out });
    be.run('gemm', { a: dy, b: this.x, c: this.weight.grad, m: this.out, n: this.in, k: n, transA: true, transB: false, alpha: this.repeat, beta: 0 });
    be.run('bias_backward', { dy, db: this.bias.grad, rows: n, cols: this.out, beta: 0 });
    if (!dx) return null;
    be.run('gemm', { a: dy, b: this.weight.buf, c: dx, m: n, n: this.in, k: this.out, transA: false, transB: false, alpha: 1, beta: 0 });
    return dx;
  }
}

/** BatchNorm2d over the channels of NHWC (torch defaults: momentum 0.1, eps 1e-5, affine, running stats). */
export class BatchNorm2d extends Layer {
  readonly kind = 'bn';
  readonly momentum = 0.1;
  readonly eps = 1e-5;
  weight!: Param; bias!: Param;
  runMean!: StateTensor; runVar!: StateTensor;
  /** torch's num_batches_tracked, kept on the host. */
  numBatchesTracked = 0;
  private y!: Buf; private x!: Buf; private saveMean!: Buf; private saveInvstd!: Buf;
  get outShape(): ActShape { return this.inShape; }
  override params(): Param[] { return [this.weight, this.bias]; }
  override state(): StateTensor[] { return [this.runMean, this.runVar]; }
  override bind(backend: Backend): void {
    super.bind(backend);
    const c = this.inShape.c;
    this.weight = param(this, `${this.name}.weight`, [c], 'vector', 'bn', (n) => this.alloc(n));
    this.bias = param(this, `${this.name}.bias`, [c], 'vector', 'bn', (n) => this.alloc(n));
    this.runMean = { name: `${this.name}.running_mean`, shape: [c], buf: this.alloc(c), backend, init: 0 };
    this.runVar = { name: `${this.name}.running_var`, shape: [c], buf: this.alloc(c), backend, init: 1 };
    this.saveMean = this.alloc(c); this.saveInvstd = this.alloc(c);
  }
  protected override allocActivations(n: number): void { this.freeBuf(this.y); this.y = this.alloc(n * actSize(this.inShape)); }
  forward(x: Buf, n: number, ctx: ForwardCtx): Buf {
    const rows = n * this.inShape.h * this.inShape.w, c = this.inShape.c;
    const common = { x, y: this.y, gamma: this.weight.buf, beta: this.bias.buf, runMean: this.runMean.buf, runVar: this.runVar.buf, rows, c, eps: this.eps };
    if (ctx.train) {
      this.x = x;
      this.backend.run('batchnorm_forward_train', { ...common, saveMean: this.saveMean, saveInvstd: this.saveInvstd, momentum: this.momentum });
      this.numBatchesTracked++;
    } else {
      this.backend.run('batchnorm_forward_eval', common);
    }
    return this.y;
  }
  backward(dy: Buf, n: number, dx: Buf | null): Buf | null {
    if (!dx) throw new Error(`${this.name}: BatchNorm2d backward needs a dx buffer`);
    this.backend.run('batchnorm_backward', { x: this.x, dy, gamma: this.weight.buf, saveMean: this.saveMean, saveInvstd: this.saveInvstd,
      dx, dgamma: this.weight.grad, dbeta: this.bias.grad, rows: n * this.inShape.h * this.inShape.w, c: this.inShape.c, accumulate: 0 });
    return dx;
  }
}

/** Stand-alone ReLU, in place on its input (safe in VGG: no layer before it needs its own output in backward). */
export class ReLU extends Layer {
  readonly kind = 'relu';
  private y!: Buf;
  get outShape(): ActShape { return this.inShape; }
  override get inPlaceBackward(): boolean { return true; }
  forward(x: Buf, n: number): Buf {
    this.y = x;
    this.backend.run('relu_forward', { x, y: x, length: n * actSize(this.inShape) });
    return x;
  }
  backward(dy: Buf, n: number): Buf {
    this.backend.run('relu_backward', { y: this.y, dy, dx: dy, length: n * actSize(this.inShape) });
    return dy;
  }
}

/** 2x2 stride-2 max pooling (floor for odd sizes). */
export class MaxPool2d extends Layer {
  readonly kind = 'maxpool';
  private y!: Buf; private x!: Buf;
  get outShape(): ActShape { return { h: this.inShape.h >> 1, w: this.inShape.w >> 1, c: this.inShape.c }; }
  protected override allocActivations(n: number): void { this.freeBuf(this.y); this.y = this.alloc(n * actSize(this.outShape)); }
  forward(x: Buf, n: number): Buf {
    this.x = x;
    const { h, w, c } = this.inShape;
    this.backend.run('maxpool2x2_forward', { x, y: this.y, n, h, w, c });
    return this.y;
  }
  backward(dy: Buf, n: number, dx: Buf | null): Buf | null {
    if (!dx) return null;
    const { h, w, c } = this.inShape;
    this.backend.run('maxpool2x2_backward', { x: this.x, dy, dx, n, h, w, c });
    return dx;
  }
}

/** Cross-channel local response normalisation (the paper's A-LRN uses AlexNet's size 5, alpha 1e-4, beta 0.75, k 2). */
export class LocalResponseNorm extends Layer {
  readonly kind = 'lrn';
  private y!: Buf; private x!: Buf; private scale!: Buf;
  constructor(name: string, inShape: ActShape, readonly size = 5, readonly alpha = 1e-4, readonly beta = 0.75, readonly k = 2) {
    super(name, inShape);
  }
  get outShape(): ActShape { return this.inShape; }
  protected override allocActivations(n: number): void {
    this.freeBuf(this.y); this.freeBuf(this.scale);
    this.y = this.alloc(n * actSize(this.inShape)); this.scale = this.alloc(n * actSize(this.inShape));
  }
  private args(n: number) {
    return { rows: n * this.inShape.h * this.inShape.w, c: this.inShape.c, size: this.size, alpha: this.alpha, beta: this.beta, k: this.k };
  }
  forward(x: Buf, n: number): Buf {
    this.x = x;
    this.backend.run('lrn_forward', { x, y: this.y, scale: this.scale, ...this.args(n) });
    return this.y;
  }
  backward(dy: Buf, n: number, dx: Buf | null): Buf | null {
    if (!dx) return null;
    this.backend.run('lrn_backward', { x: this.x, y: this.y, scale: this.scale, dy, dx, ...this.args(n) });
    return dx;
  }
}

/** Inverted dropout with the shared counter-based RNG; identity in eval mode or when p = 0. */
export class Dropout extends Layer {
  readonly kind = 'dropout';
  private y!: Buf; private mask!: Buf;
  private active = false;
  constructor(name: string, inShape: ActShape, readonly p: number) { super(name, inShape); }
  get outShape(): ActShape { return this.inShape; }
  protected override allocActivations(n: number): void {
    if (this.p === 0) return;
    this.freeBuf(this.y); this.freeBuf(this.mask);
    this.y = this.alloc(n * actSize(this.inShape)); this.mask = this.alloc(n * actSize(this.inShape));
  }
  forward(x: Buf, n: number, ctx: ForwardCtx): Buf {
    this.active = ctx.train && this.p > 0;
    if (!this.active) return x;
    this.backend.run('dropout_forward', { x, y: this.y, mask: this.mask, length: n * actSize(this.inShape), p: this.p, seed: ctx.seed >>> 0 });
    return this.y;
  }
  backward(dy: Buf, n: number, dx: Buf | null): Buf | null {
    if (!this.active) return dy;
    if (!dx) return null;
    this.backend.run('dropout_backward', { dy, mask: this.mask, dx, length: n * actSize(this.inShape) });
    return dx;
  }
}

/** NHWC [n,h,w,c] -> [n, h*w*c]: no data moves (checkpoints permute the next Linear's columns to torch's C,H,W order). */
export class Flatten extends Layer {
  readonly kind = 'flatten';
  get outShape(): ActShape { return { h: 1, w: 1, c: actSize(this.inShape) }; }
  override get inPlaceBackward(): boolean { return true; }
  forward(x: Buf): Buf { return x; }
  backward(dy: Buf): Buf { return dy; }
}

/** torchvision's AdaptiveAvgPool2d((7,7)) on the maps where it costs nothing: 7x7 (224x224 images) and 1x1 (32x32). */
export class AdaptiveAvgPool7 extends Layer {
  readonly kind = 'avgpool';
  constructor(name: string, inShape: ActShape) {
    super(name, inShape);
    // 7x7: the identity. 1x1: a 49x repeat, which the next Linear folds in (its `repeat`), so the identity here too.
    if (!((inShape.h === 7 && inShape.w === 7) || (inShape.h === 1 && inShape.w === 1))) {
      throw new Error(`${name}: AdaptiveAvgPool2d((7,7)) is supported on a 7x7 or 1x1 feature map (224x224 or 32x32 input), got ${inShape.h}x${inShape.w}; use the small-input head`);
    }
  }
  get outShape(): ActShape { return this.inShape; }
  override get inPlaceBackward(): boolean { return true; }
  forward(x: Buf): Buf { return x; }
  backward(dy: Buf): Buf { return dy; }
}
