// wasm operators (conv family): im2col/col2im and conv forward / data gradient / filter gradient for every
// algorithm, dispatching to the im2col + GEMM passes (conv_im2col.ts), the Winograd passes (conv_winograd.ts) or
// the 2x2-map passes (conv_map2x2.ts).
import { convOutSize } from '../../../backend.js';
import type { WasmOpTable } from '../context.js';
import { backwardDataIm2col, backwardFilterIm2col, biasGrad, col2imAll, forwardIm2col, im2colAll } from './conv_im2col.js';
import { backwardDataMap2x2, backwardFilterMap2x2, forwardMap2x2 } from './conv_map2x2.js';
import { backwardDataWinograd, backwardFilterWinograd, forwardWinograd } from './conv_winograd.js';

export const convOps: WasmOpTable = {
  im2col(ctx, a) {
    im2colAll(ctx, ctx.ptr(a.x), ctx.ptr(a.col), a.shape);
  },
  col2im(ctx, a) {
    col2imAll(ctx, ctx.ptr(a.col), ctx.ptr(a.x), a.shape);
  },
  conv2d_forward(ctx, a) {
    const x = ctx.ptr(a.x), w = ctx.ptr(a.w), y = ctx.ptr(a.y), bias = a.bias ? ctx.ptr(a.bias) : 0;
    if (a.algo === 'im2col_gemm') forwardIm2col(ctx, x, w, bias, y, a.shape, !!a.relu);
    else if (a.algo === 'winograd_map2x2') forwardMap2x2(ctx, x, w, bias, y, a.shape, !!a.relu);
    else forwardWinograd(ctx, a.algo, x, w, bias, y, a.shape, !!a.relu);
  },
  conv2d_backward_data(ctx, a) {
    const dy = ctx.ptr(a.dy), w = ctx.ptr(a.w), dx = ctx.ptr(a.dx);
    if (a.algo === 'im2col_gemm') backwardDataIm2col(ctx, dy, w, dx, a.shape);
    else if (a.algo === 'winograd_map2x2') backwardDataMap2x2(ctx, dy, w, dx, a.shape);
    else backwardDataWinograd(ctx, a.algo, dy, w, dx, a.shape);
  },
  conv2d_backward_filter(ctx, a) {
    const x = ctx.ptr(a.x), dy = ctx.ptr(a.dy), dw = ctx.ptr(a.dw);
    const s = a.shape, { oh, ow } = convOutSize(s);
    if (a.algo === 'im2col_gemm') backwardFilterIm2col(ctx, x, dy, dw, s, a.beta);
    else if (a.algo === 'winograd_map2x2') backwardFilterMap2x2(ctx, x, dy, dw, s, a.beta);
    else backwardFilterWinograd(ctx, a.algo, x, dy, dw, s, a.beta);
    if (a.db) biasGrad(ctx, dy, ctx.ptr(a.db), s.n * oh * ow, s.cout, a.beta);
  },
};
