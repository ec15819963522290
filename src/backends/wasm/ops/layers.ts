// wasm operators (layers family): pool, ReLU, bias, dropout, softmax-xent, SGD, fills and reductions; batch
// norm and LRN live in layers_norm.ts. Elementwise kernels split 16-aligned ranges, row kernels split rows.
import type { KernelArgs } from '../../../backend.js';
import type { WasmContext, WasmOpTable } from '../context.js';
import { checkLabels } from '../../reference/layers.js';
import { dropoutKeepScale, dropoutThreshold, rngKey } from '../../reference/rng.js';
import { normOps } from './layers_norm.js';
import { rowRanges, runElementwise } from './layers_util.js';

const WS_PARTIALS = 20;

function labelsOnHost(ctx: WasmContext, kernel: string, a: { labels: KernelArgs['softmax_xent_forward']['labels']; n: number; classes: number }): void {
  checkLabels(kernel, new Float32Array(ctx.memory.buffer, ctx.ptr(a.labels), a.n), a.n, a.classes);
}

/** Column sums of [rows, cols] into dst (f32) with dst = beta*dst + sum (beta 0 overwrites). */
function colSums(ctx: WasmContext, x: number, rows: number, cols: number, dst: number, beta: number): void {
  const ranges = rowRanges(ctx, rows, cols);
  if (ranges.length === 0) ranges.push([0, 0]); // rows = 0: the sum is 0, dst still gets beta*dst
  const stride = cols * 8;
  const part = ctx.workspace(ranges.length * stride, WS_PARTIALS);
  ctx.pool.parallel('reduce_colsum_f32_partial', ranges.map(([s, e], t) => [x + s * cols * 4, e - s, cols, part + t * stride]));
  ctx.pool.call('reduce_colsum_combine', part, ranges.length, stride, cols, dst, beta);
}

export const layersOps: WasmOpTable = {
  maxpool2x2_forward(ctx, a) {
    const x = ctx.ptr(a.x), y = ctx.ptr(a.y);
    const rows = a.n * (a.h >> 1);
    ctx.pool.parallel('pool_maxpool2x2_f32_forward', rowRanges(ctx, rows, a.w * a.c * 2).map(([s, e]) => [x, y, s, e, a.h, a.w, a.c]));
  },
  maxpool2x2_backward(ctx, a) {
    const x = ctx.ptr(a.x), dy = ctx.ptr(a.dy), dx = ctx.ptr(a.dx);
    const rows = a.n * (a.h >> 1);
    ctx.pool.parallel('pool_maxpool2x2_f32_backward', rowRanges(ctx, rows, a.w * a.c * 2).map(([s, e]) => [x, dy, dx, s, e, a.h, a.w, a.c]));
  },
  relu_forward(ctx, a) {
    const x = ctx.ptr(a.x), y = ctx.ptr(a.y);
    runElementwise(ctx, 'activation_relu_f32_forward', a.length, (s, n) => [x + s * 4, y + s * 4, n]);
  },
  relu_backward(ctx, a) {
    const y = ctx.ptr(a.y), dy = ctx.ptr(a.dy), dx = ctx.ptr(a.dx);
    runElementwise(ctx, 'activation_relu_f32_backward', a.length, (s, n) => [y + s * 4, dy + s * 4, dx + s * 4, n]);
  },
  bias_add(ctx, a) {
    const y = ctx.ptr(a.y), b = ctx.ptr(a.bias);
    ctx.pool.parallel('activation_bias_add_f32', rowRanges(ctx, a.rows, a.cols).map(([s, e]) => [y + s * a.cols * 4, b, e - s, a.cols]));
  },
  bias_backward(ctx, a) {
    colSums(ctx, ctx.ptr(a.dy), a.rows, a.cols, ctx.ptr(a.db), a.beta);
  },
  dropout_forward(ctx, a) {
    const x = ctx.ptr(a.x), y = ctx.ptr(a.y), m = ctx.ptr(a.mask);
    const key = rngKey(a.seed), thr = dropoutThreshold(a.p), keep = dropoutKeepScale(a.p);
    runElementwise(ctx, 'activation_dropout_f32_forward', a.length, (s, n) => [x + s * 4, y + s * 4, m + s * 4, n, s, key, thr, keep]);
  },
  dropout_backward(ctx, a) {
    const dy = ctx.ptr(a.dy), m = ctx.ptr(a.mask), dx = ctx.ptr(a.dx);
    runElementwise(ctx, 'activation_dropout_f32_backward', a.length, (s, n) => [dy + s * 4, m + s * 4, dx + s * 4, n]);
  },
  softmax_xent_forward(ctx, a) {
    labelsOnHost(ctx, 'softmax_xent_forward', a);
    const z = ctx.ptr(a.logits), l = ctx.ptr(a.labels), p = ctx.ptr(a.probs), loss = ctx.ptr(a.loss);
    ctx.pool.parallel('loss_softmax_xent_f32_forward', rowRanges(ctx, a.n, a.classes * 4).map(([s, e]) =>
      [z, l, p, loss, s, e, a.classes, a.smoothing]));
  },
  softmax_xent_backward(ctx, a) {
    labelsOnHost(ctx, 'softmax_xent_backward', a);
    const p = ctx.ptr(a.probs), l = ctx.ptr(a.labels), d = ctx.ptr(a.dlogits);
    ctx.pool.parallel('loss_softmax_xent_f32_backward', rowRanges(ctx, a.n, a.classes).map(([s, e]) =>
      [p, l, d, s, e, a.classes, a.smoothing, a.scale]));
  },
  sgd_update(ctx, a) {
    const w = ctx.ptr(a.w), g = ctx.ptr(a.g), v = ctx.ptr(a.v);
    runElementwise(ctx, 'optim_sgd_f32_update', a.length, (s, n) =>
      [w + s * 4, g + s * 4, v + s * 4, n, a.lr, a.momentum, a.weightDecay, a.nesterov ? 1 : 0]);
  },
  axpby(ctx, a) {
    const x = ctx.ptr(a.x), y = ctx.ptr(a.y);
    runElementwise(ctx, 'optim_axpby_f32', a.length, (s, n) => [x + s * 4, y + s * 4, n, a.alpha, a.beta]);
  },
  fill(ctx, a) {
    const x = ctx.ptr(a.x);
    runElementwise(ctx, 'optim_fill_f32', a.length, (s, n) => [x + s * 4, n, a.value]);
  },
  reduce_sum(ctx, a) {
    const x = ctx.ptr(a.x);
    const ranges = rowRanges(ctx, a.length, 1);
    if (ranges.length === 0) ranges.push([0, 0]);
    const part = ctx.workspace(ranges.length * 8, WS_PARTIALS);
    ctx.pool.parallel('reduce_sum_f32_partial', ranges.map(([s, e], t) => [x + s * 4, e - s, part + t * 8]));
    ctx.pool.call('reduce_sum_combine', part, ranges.length, ctx.ptr(a.out));
  },
  ...normOps,
};
