// Argument checks shared by every backend: each kernel's sizes and buffer lengths, checked before any write.
import { type Buf, CONV_ALGOS, type ConvAlgo, type ConvShape, type KernelArgs, type KernelId, KernelArgumentError, algoApplies, convOutSize } from '../backend.js';

type CheckBuf = (b: Buf, name: string) => void;

function int(kernel: string, name: string, v: unknown, min = 0): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new KernelArgumentError(kernel, `${name} must be an integer >= ${min}, got ${String(v)}`);
  }
}
function num(kernel: string, name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new KernelArgumentError(kernel, `${name} must be a finite number, got ${String(v)}`);
}
function buf(kernel: string, name: string, b: Buf | undefined, need: number, check: CheckBuf, optional = false): void {
  if (b === undefined && optional) return;
  if (!b || typeof b.length !== 'number') throw new KernelArgumentError(kernel, `${name} is missing`);
  check(b, `${kernel}: ${name}`);
  if (b.length < need) throw new KernelArgumentError(kernel, `${name} holds ${b.length} elements but the shape needs ${need}`);
}

/** Kernels that read their inputs while writing an output (GEMM packing, im2col, every conv pass) cannot
 *  take an output that is also an input: one rule here for every backend, not one per backend. */
function distinct(kernel: string, out: [string, Buf | undefined], inputs: [string, Buf | undefined][]): void {
  if (!out[1]) return;
  for (const [name, b] of inputs) {
    if (b === out[1]) throw new KernelArgumentError(kernel, `${out[0]} must not be the same buffer as ${name}`);
  }
}

/** Validates a conv shape; returns derived sizes. */
export function checkConvShape(kernel: string, s: ConvShape): { oh: number; ow: number; xLen: number; yLen: number; wLen: number } {
  if (!s || typeof s !== 'object') throw new KernelArgumentError(kernel, 'shape is missing');
  for (const k of ['n', 'h', 'w', 'cin', 'cout', 'kh', 'kw', 'stride'] as const) int(kernel, `shape.${k}`, s[k], 1);
  int(kernel, 'shape.pad', s.pad, 0);
  const { oh, ow } = convOutSize(s);
  if (oh < 1 || ow < 1) {
    throw new KernelArgumentError(kernel, `a ${s.kh}x${s.kw} kernel with pad ${s.pad} does not fit a ${s.h}x${s.w} input`);
  }
  return { oh, ow, xLen: s.n * s.h * s.w * s.cin, yLen: s.n * oh * ow * s.cout, wLen: s.kh * s.kw * s.cin * s.cout };
}

type Checker<K extends KernelId> = (a: KernelArgs[K], c: CheckBuf, k: K) => void;

const checkers: { [K in KernelId]: Checker<K> } = {
  gemm(a, c, k) {
    int(k, 'm', a.m, 1); int(k, 'n', a.n, 1); int(k, 'k', a.k, 1); num(k, 'alpha', a.alpha); num(k, 'beta', a.beta);
    buf(k, 'a', a.a, a.m * a.k, c); buf(k, 'b', a.b, a.k * a.n, c); buf(k, 'c', a.c, a.m * a.n, c);
    buf(k, 'bias', a.bias, a.n, c, true);
    distinct(k, ['c', a.c], [['a', a.a], ['b', a.b], ['bias', a.bias]]);
  },
  im2col(a, c, k) {
    const d = checkConvShape(k, a.shape);
    buf(k, 'x', a.x, d.xLen, c);
    buf(k, 'col', a.col, a.shape.n * d.oh * d.ow * a.shape.kh * a.shape.kw * a.shape.cin, c);
    distinct(k, ['col', a.col], [['x', a.x]]);
  },
  col2im(a, c, k) {
    const d = checkConvShape(k, a.shape);
    buf(k, 'x', a.x, d.xLen, c);
    buf(k, 'col', a.col, a.shape.n * d.oh * d.ow * a.shape.kh * a.shape.kw * a.shape.cin, c);
    distinct(k, ['x', a.x], [['col', a.col]]);
  },
  conv2d_forward(a, c, k) {
    const d = checkConvShape(k, a.shape); algo(k, a.algo, a.shape);
    buf(k, 'x', a.x, d.xLen, c); buf(k, 'w', a.w, d.wLen, c); buf(k, 'y', a.y, d.yLen, c); buf(k, 'bias', a.bias, a.shape.cout, c, true);
    distinct(k, ['y', a.y], [['x', a.x], ['w', a.w], ['bias', a.bias]]);
  },
  conv2d_backward_data(a, c, k) {
    const d = checkConvShape(k, a.shape); algo(k, a.algo, a.shape);
    buf(k, 'dy', a.dy, d.yLen, c); buf(k, 'w', a.w, d.wLen, c); buf(k, 'dx', a.dx, d.xLen, c);
    distinct(k, ['dx', a.dx], [['dy', a.dy], ['w', a.w]]);
  },
  conv2d_backward_filter(a, c, k) {
    const d = checkConvShape(k, a.shape); algo(k, a.algo, a.shape); num(k, 'beta', a.beta);
    buf(k, 'x', a.x, d.xLen, c); buf(k, 'dy', a.dy, d.yLen, c); buf(k, 'dw', a.dw, d.wLen, c); buf(k, 'db', a.db, a.shape.cout, c, true);
    distinct(k, ['dw', a.dw], [['x', a.x], ['dy', a.dy], ['db', a.db]]);
    distinct(k, ['db', a.db], [['x', a.x], ['dy', a.dy]]);
  },
  maxpool2x2_forward(a, c, k) { pool(k, a); buf(k, 'x', a.x, a.n * a.h * a.w * a.c, c); buf(k, 'y', a.y, a.n * (a.h >> 1) * (a.w >> 1) * a.c, c); },
  maxpool2x2_backward(a, c, k) {
    pool(k, a); buf(k, 'x', a.x, a.n * a.h * a.w * a.c, c); buf(k, 'dy', a.dy, a.n * (a.h >> 1) * (a.w >> 1) * a.c, c);
    buf(k, 'dx', a.dx, a.n * a.h * a.w * a.c, c);
  },
  relu_forward(a, c, k) { int(k, 'length', a.length); buf(k, 'x', a.x, a.length, c); buf(k, 'y', a.y, a.length, c); },
  relu_backward(a, c, k) { int(k, 'length', a.length); buf(k, 'y', a.y, a.length, c); buf(k, 'dy', a.dy, a.length, c); buf(k, 'dx', a.dx, a.length, c); },
  bias_add(a, c, k) { int(k, 'rows', a.rows); int(k, 'cols', a.cols, 1); buf(k, 'y', a.y, a.rows * a.cols, c); buf(k, 'bias', a.bias, a.cols, c); },
  bias_backward(a, c, k) {
    int(k, 'rows', a.rows); int(k, 'cols', a.cols, 1); num(k, 'beta', a.beta);
    buf(k, 'dy', a.dy, a.rows * a.cols, c); buf(k, 'db', a.db, a.cols, c);
  },
  batchnorm_forward_train(a, c, k) {
    int(k, 'rows', a.rows, 1); int(k, 'c', a.c, 1); num(k, 'momentum', a.momentum); num(k, 'eps', a.eps);
    buf(k, 'x', a.x, a.rows * a.c, c); buf(k, 'y', a.y, a.rows * a.c, c);
    for (const n of ['gamma', 'beta', 'saveMean', 'saveInvstd', 'runMean', 'runVar'] as const) buf(k, n, a[n], a.c, c);
  },
  batchnorm_forward_eval(a, c, k) {
    int(k, 'rows', a.rows); int(k, 'c', a.c, 1); num(k, 'eps', a.eps);
    buf(k, 'x', a.x, a.rows * a.c, c); buf(k, 'y', a.y, a.rows * a.c, c);
    for (const n of ['gamma', 'beta', 'runMean', 'runVar'] as const) buf(k, n, a[n], a.c, c);
  },
  batchnorm_backward(a, c, k) {
    int(k, 'rows', a.rows, 1); int(k, 'c', a.c, 1); num(k, 'accumulate', a.accumulate);
    for (const n of ['x', 'dy', 'dx'] as const) buf(k, n, a[n], a.rows * a.c, c);
    for (const n of ['gamma', 'saveMean', 'saveInvstd', 'dgamma', 'dbeta'] as const) buf(k, n, a[n], a.c, c);
  },
  lrn_forward(a, c, k) {
    lrn(k, a); for (const n of ['x', 'y', 'scale'] as const) buf(k, n, a[n], a.rows * a.c, c);
  },
  lrn_backward(a, c, k) {
    lrn(k, a); for (const n of ['x', 'y', 'scale', 'dy', 'dx'] as const) buf(k, n, a[n], a.rows * a.c, c);
  },
  dropout_forward(a, c, k) {
    int(k, 'length', a.length); int(k, 'seed', a.seed);
    if (!(a.p >= 0 && a.p < 1)) throw new KernelArgumentError(k, `p must be in [0, 1), got ${a.p}`);
    if (a.seed > 0xffffffff) throw new KernelArgumentError(k, `seed must fit 32 bits, got ${a.seed}`);
    for (const n of ['x', 'y', 'mask'] as const) buf(k, n, a[n], a.length, c);
  },
  dropout_backward(a, c, k) { int(k, 'length', a.length); for (const n of ['dy', 'mask', 'dx'] as const) buf(k, n, a[n], a.length, c); },
  softmax_xent_forward(a, c, k) {
    int(k, 'n', a.n, 1); int(k, 'classes', a.classes, 1); smoothing(k, a.smoothing);
    buf(k, 'logits', a.logits, a.n * a.classes, c); buf(k, 'probs', a.probs, a.n * a.classes, c);
    buf(k, 'labels', a.labels, a.n, c); buf(k, 'loss', a.loss, a.n, c);
  },
  softmax_xent_backward(a, c, k) {
    int(k, 'n', a.n, 1); int(k, 'classes', a.classes, 1); smoothing(k, a.smoothing); num(k, 'scale', a.scale);
    buf(k, 'probs', a.probs, a.n * a.classes, c); buf(k, 'dlogits', a.dlogits, a.n * a.classes, c); buf(k, 'labels', a.labels, a.n, c);
  },
  sgd_update(a, c, k) {
    int(k, 'length', a.length); num(k, 'lr', a.lr); num(k, 'momentum', a.momentum); num(k, 'weightDecay', a.weightDecay);
    for (const n of ['w', 'g', 'v'] as const) buf(k, n, a[n], a.length, c);
  },
  axpby(a, c, k) { int(k, 'length', a.length); num(k, 'alpha', a.alpha); num(k, 'beta', a.beta); buf(k, 'x', a.x, a.length, c); buf(k, 'y', a.y, a.length, c); },
  fill(a, c, k) { int(k, 'length', a.length); num(k, 'value', a.value); buf(k, 'x', a.x, a.length, c); },
  reduce_sum(a, c, k) { int(k, 'length', a.length); buf(k, 'x', a.x, a.length, c); buf(k, 'out', a.out, 1, c); },
};

function algo(k: string, al: unknown, s: ConvShape): void {
  if (typeof al !== 'string' || !(CONV_ALGOS as readonly string[]).includes(al)) {
    throw new KernelArgumentError(k, `unknown algo ${String(al)} (one of ${CONV_ALGOS.join(', ')})`);
  }
  if (!algoApplies(al as ConvAlgo, s)) {
    const needs = al === 'winograd_map2x2' ? 'a 3x3 stride-1 pad-1 convolution of a 2x2 input' : 'a 3x3 stride-1 convolution';
    throw new KernelArgumentError(k, `${al} needs ${needs}, got ${s.kh}x${s.kw} stride ${s.stride} pad ${s.pad} on ${s.h}x${s.w}`);
  }
}
function pool(k: string, a: { n: number; h: number; w: number; c: number }): void {
  int(k, 'n', a.n, 1); int(k, 'h', a.h, 2); int(k, 'w', a.w, 2); int(k, 'c', a.c, 1);
}
function lrn(k: string, a: { rows: number; c: number; size: number; alpha: number; beta: number; k: number }): void {
  int(k, 'rows', a.rows); int(k, 'c', a.c, 1); int(k, 'size', a.size, 1); num(k, 'alpha', a.alpha); num(k, 'beta', a.beta); num(k, 'k', a.k);
}
function smoothing(k: string, s: number): void {
  if (!(s >= 0 && s < 1)) throw new KernelArgumentError(k, `smoothing must be in [0, 1), got ${s}`);
}

export function validateKernelArgs<K extends KernelId>(kernel: K, args: KernelArgs[K], checkBuf: CheckBuf): void {
  const checker = checkers[kernel] as Checker<K> | undefined;
  if (!checker) throw new KernelArgumentError(String(kernel), 'unknown kernel');
  if (!args || typeof args !== 'object') throw new KernelArgumentError(kernel, 'arguments are missing');
  checker(args, checkBuf, kernel);
}
