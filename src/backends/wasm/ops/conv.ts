// wasm operators (conv family): im2col/col2im and conv forward / data gradient / filter gradient for every
// algorithm, dispatching to the im2col + GEMM passes (conv_im2col.ts) or the Winograd passes (conv_winograd.ts).
import { type Buf, KernelArgumentError, convOutSize } from '../../../backend.js';
import type { WasmOpTable } from '../context.js';
import { backwardDataIm2col, backwardFilterIm2col, biasGrad, col2imAll, forwardIm2col, im2colAll } from './conv_im2col.js';
import { backwardDataWinograd, backwardFilterWinograd, forwardWinograd } from './conv_winograd.js';

/** The conv kernels read their inputs while writing their outputs: an output aliasing an input is an error. */
function distinct(kernel: string, out: [string, Buf], ...inputs: [string, Buf | undefined][]): void {
  for (const [name, b] of inputs) {
    if (b && b === out[1]) throw new KernelArgumentError(kernel, `${out[0]} must not be the same buffer as ${name}`);
  }
}

export const convOps: WasmOpTable = {
  im2col(ctx, a) {
    distinct('im2col', ['col', a.col], ['x', a.x]);
    im2colAll(ctx, ctx.ptr(a.x), ctx.ptr(a.col), a.shape);
  },
  col2im(ctx, a) {
    distinct('col2im', ['x', a.x], ['col', a.col]);
    col2imAll(ctx, ctx.ptr(a.col), ctx.ptr(a.x), a.shape);
  },
  conv2d_forward(ctx, a) {
    distinct('conv2d_forward', ['y', a.y], ['x', a.x], ['w', a.w], ['bias', a.bias]);
    const x = ctx.ptr(a.x), w = ctx.ptr(a.w), y = ctx.ptr(a.y), bias = a.bias ? ctx.ptr(a.bias) : 0;
    if (a.algo === 'im2col_gemm') forwardIm2col(ctx, x, w, bias, y, a.shape, !!a.relu);
    else forwardWinograd(ctx, a.algo, x, w, bias, y, a.shape, !!a.relu);
  },
  conv2d_backward_data(ctx, a) {
    distinct('conv2d_backward_data', ['dx', a.dx], ['dy', a.dy], ['w', a.w]);
    const dy = ctx.ptr(a.dy), w = ctx.ptr(a.w), dx = ctx.ptr(a.dx);
    if (a.algo === 'im2col_gemm') backwardDataIm2col(ctx, dy, w, dx, a.shape);
    else backwardDataWinograd(ctx, a.algo, dy, w, dx, a.shape);
  },
  conv2d_backward_filter(ctx, a) {
    distinct('conv2d_backward_filter', ['dw', a.dw], ['x', a.x], ['dy', a.dy], ['db', a.db]);
    if (a.db) distinct('conv2d_backward_filter', ['db', a.db], ['x', a.x], ['dy', a.dy]);
    const x = ctx.ptr(a.x), dy = ctx.ptr(a.dy), dw = ctx.ptr(a.dw);
    const s = a.shape, { oh, ow } = convOutSize(s);
    if (a.algo === 'im2col_gemm') backwardFilterIm2col(ctx, x, dy, dw, s, a.beta);
    else backwardFilterWinograd(ctx, a.algo, x, dy, dw, s, a.beta);
    if (a.db) biasGrad(ctx, dy, ctx.ptr(a.db), s.n * oh * ow, s.cout, a.beta);
  },
};
