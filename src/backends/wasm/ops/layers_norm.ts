// wasm operators for batch norm and LRN: row ranges per thread; batch-norm statistics as per-thread float64
// partials in workspace slot 20, combined on the calling thread in a fixed order (deterministic per thread count).
import type { KernelArgs } from '../../../backend.js';
import type { WasmContext, WasmOpTable } from '../context.js';
import { checkBatchNormRows, lrnWindow } from '../../reference/layers.js';
import { rowRanges } from './layers_util.js';

const WS_PARTIALS = 20, WS_COEF = 21, WS_LRN = 22;

function bnForwardTrain(ctx: WasmContext, a: KernelArgs['batchnorm_forward_train']): void {
  checkBatchNormRows('batchnorm_forward_train', a.rows);
  const { rows, c } = a;
  const x = ctx.ptr(a.x), y = ctx.ptr(a.y), rb = c * 4;
  const ranges = rowRanges(ctx, rows, c);
  const part = ctx.workspace(ranges.length * c * 8, WS_PARTIALS);
  const scale = ctx.workspace(c * 4, WS_COEF);
  const mean = ctx.ptr(a.saveMean);
  const stats = (m: number) => ranges.map(([s, e], t) => [x + s * rb, e - s, c, m, part + t * c * 8]);
  ctx.pool.parallel('norm_bn_f32_stats_partial', stats(0));
  ctx.pool.call('norm_bn_f32_mean_combine', part, ranges.length, c, rows, mean);
  ctx.pool.parallel('norm_bn_f32_stats_partial', stats(mean));
  ctx.pool.call('norm_bn_f32_train_finalize', part, ranges.length, c, rows, ctx.ptr(a.gamma), mean, ctx.ptr(a.saveInvstd),
    ctx.ptr(a.runMean), ctx.ptr(a.runVar), a.momentum, a.eps, scale);
  const beta = ctx.ptr(a.beta);
  ctx.pool.parallel('norm_bn_f32_apply', ranges.map(([s, e]) => [x + s * rb, y + s * rb, e - s, c, mean, scale, beta]));
}

function bnForwardEval(ctx: WasmContext, a: KernelArgs['batchnorm_forward_eval']): void {
  const { rows, c } = a;
  const x = ctx.ptr(a.x), y = ctx.ptr(a.y), rb = c * 4;
  const scale = ctx.workspace(c * 4, WS_COEF);
  ctx.pool.call('norm_bn_f32_eval_scale', c, ctx.ptr(a.gamma), ctx.ptr(a.runVar), a.eps, scale);
  const mean = ctx.ptr(a.runMean), beta = ctx.ptr(a.beta);
  ctx.pool.parallel('norm_bn_f32_apply', rowRanges(ctx, rows, c).map(([s, e]) => [x + s * rb, y + s * rb, e - s, c, mean, scale, beta]));
}

function bnBackward(ctx: WasmContext, a: KernelArgs['batchnorm_backward']): void {
  const { rows, c } = a;
  const x = ctx.ptr(a.x), dy = ctx.ptr(a.dy), dx = ctx.ptr(a.dx), mean = ctx.ptr(a.saveMean), rb = c * 4;
  const ranges = rowRanges(ctx, rows, c);
  const part = ctx.workspace(ranges.length * c * 16, WS_PARTIALS);
  const coef = ctx.workspace(c * 12, WS_COEF);
  ctx.pool.parallel('norm_bn_f32_backward_partial', ranges.map(([s, e], t) => [x + s * rb, dy + s * rb, e - s, c, mean, part + t * c * 16]));
  ctx.pool.call('norm_bn_f32_backward_finalize', part, ranges.length, c, rows, ctx.ptr(a.gamma), ctx.ptr(a.saveInvstd),
    ctx.ptr(a.dgamma), ctx.ptr(a.dbeta), a.accumulate, coef);
  ctx.pool.parallel('norm_bn_f32_backward_apply', ranges.map(([s, e]) => [x + s * rb, dy + s * rb, dx + s * rb, e - s, c, mean, coef]));
}

/** Per-thread LRN scratch: one zero-padded channel row (c + lo + hi + 4 floats, 64-byte aligned). */
function lrnScratch(ctx: WasmContext, parts: number, c: number, size: number): { base: number; bytes: number } {
  const bytes = Math.ceil(((c + size + 4) * 4) / 64) * 64;
  return { base: ctx.workspace(bytes * parts, WS_LRN), bytes };
}

function lrnForward(ctx: WasmContext, a: KernelArgs['lrn_forward']): void {
  const { rows, c } = a;
  if (rows === 0) return;
  const { lo, hi } = lrnWindow(a.size);
  const x = ctx.ptr(a.x), y = ctx.ptr(a.y), sc = ctx.ptr(a.scale), rb = c * 4;
  const ranges = rowRanges(ctx, rows, c * a.size);
  const tmp = lrnScratch(ctx, ranges.length, c, a.size);
  ctx.pool.parallel('norm_lrn_f32_forward', ranges.map(([s, e], t) =>
    [x + s * rb, y + s * rb, sc + s * rb, e - s, c, lo, hi, a.alpha / a.size, a.beta, a.k, tmp.base + t * tmp.bytes]));
}

function lrnBackward(ctx: WasmContext, a: KernelArgs['lrn_backward']): void {
  const { rows, c } = a;
  if (rows === 0) return;
  const { lo, hi } = lrnWindow(a.size);
  const x = ctx.ptr(a.x), y = ctx.ptr(a.y), sc = ctx.ptr(a.scale), dy = ctx.ptr(a.dy), dx = ctx.ptr(a.dx), rb = c * 4;
  const ranges = rowRanges(ctx, rows, c * a.size);
  const tmp = lrnScratch(ctx, ranges.length, c, a.size);
  const coef = (2 * a.alpha * a.beta) / a.size;
  ctx.pool.parallel('norm_lrn_f32_backward', ranges.map(([s, e], t) =>
    [x + s * rb, y + s * rb, sc + s * rb, dy + s * rb, dx + s * rb, e - s, c, lo, hi, coef, a.beta, tmp.base + t * tmp.bytes]));
}

export const normOps: WasmOpTable = {
  batchnorm_forward_train: bnForwardTrain,
  batchnorm_forward_eval: bnForwardEval,
  batchnorm_backward: bnBackward,
  lrn_forward: lrnForward,
  lrn_backward: lrnBackward,
};
