// Layer operators on WebGPU (pooling, activations, norms, losses, optimizer, reductions): a few dispatches
// each over shaders/{pool,activation,norm,loss,optim,reduce}.wgsl, every one within 4 storage buffers.
import { type Buf, KernelArgumentError } from '../../../backend.js';
import { checkBatchNormRows, checkLabels, lrnWindow } from '../../reference/layers.js';
import { dropoutKeepScale, dropoutThreshold, rngKey } from '../../reference/rng.js';
import { type UniformField, type WebGpuContext, type WebGpuOpTable, f32, grid1d, u32 } from '../context.js';

// Workspace slots of this family (conv uses 0..4).
const SLOT_PARAMS = 8, SLOT_PART = 9, SLOT_TMP = 10;
const WG = 64;

/** One thread per element over `length` elements of a 1-D kernel. */
function run1d(ctx: WebGpuContext, shader: string, entryPoint: string, buffers: (Buf | GPUBuffer)[], uniforms: UniformField[], length: number): void {
  ctx.dispatch({ shader, entryPoint, constants: { WG }, buffers, uniforms, workgroups: grid1d(length, WG, ctx.limits.maxComputeWorkgroupsPerDimension) });
}

const same = (ctx: WebGpuContext, a: Buf, b: Buf): boolean => ctx.gpuBuffer(a) === ctx.gpuBuffer(b);

/** Runs `write(target)` with a temporary output when `out` is also an input (WebGPU cannot bind a buffer
 *  as read_write next to another binding of itself), then copies the result into `out`. */
function viaTemp(ctx: WebGpuContext, out: Buf, inputs: Buf[], length: number, write: (target: Buf | GPUBuffer) => void): void {
  if (!inputs.some((b) => same(ctx, b, out))) { write(out); return; }
  const tmp = ctx.workspace(length * 4, SLOT_TMP);
  write(tmp);
  ctx.copy(tmp, 0, out, 0, length);
}

/** Row blocks for column statistics: enough workgroups to fill a GPU, few enough partials to combine. */
function rowBlocks(rows: number): { rowsPerBlock: number; blocks: number } {
  const blocks = Math.max(1, Math.min(256, Math.ceil(rows / 256)));
  const rowsPerBlock = Math.ceil(rows / blocks);
  return { rowsPerBlock, blocks: Math.ceil(rows / rowsPerBlock) };
}

const COLS = 16;

function bnUniforms(rows: number, c: number, blk: { rowsPerBlock: number; blocks: number }, eps: number, momentum: number, accumulate: number) {
  return [u32(rows), u32(c), u32(blk.rowsPerBlock), u32(blk.blocks), f32(eps), f32(momentum), f32(accumulate), u32(rows * c)];
}

function lrnUniforms(a: { rows: number; c: number; size: number; alpha: number; beta: number; k: number }) {
  const { lo, hi } = lrnWindow(a.size);
  return [u32(a.rows * a.c), u32(a.c), u32(lo), u32(hi), f32(a.alpha), f32(a.beta), f32(a.k), f32(a.size)];
}

export const layersOps: WebGpuOpTable = {
  maxpool2x2_forward(ctx, a) {
    const oh = a.h >> 1, ow = a.w >> 1, total = a.n * oh * ow * a.c;
    run1d(ctx, 'pool', 'pool_maxpool2x2_f32_forward', [a.x, a.y],
      [u32(a.n), u32(a.h), u32(a.w), u32(a.c), u32(oh), u32(ow), u32(total)], total);
  },
  maxpool2x2_backward(ctx, a) {
    const oh = a.h >> 1, ow = a.w >> 1, total = a.n * a.h * a.w * a.c;
    viaTemp(ctx, a.dx, [a.x, a.dy], total, (dx) => run1d(ctx, 'pool', 'pool_maxpool2x2_f32_backward', [a.x, a.dy, dx],
      [u32(a.n), u32(a.h), u32(a.w), u32(a.c), u32(oh), u32(ow), u32(total)], total));
  },

  relu_forward(ctx, a) {
    if (same(ctx, a.x, a.y)) run1d(ctx, 'activation', 'activation_relu_f32_forward_inplace', [a.y], [u32(a.length)], a.length);
    else run1d(ctx, 'activation', 'activation_relu_f32_forward', [a.x, a.y], [u32(a.length)], a.length);
  },
  relu_backward(ctx, a) {
    if (same(ctx, a.dy, a.dx) && !same(ctx, a.y, a.dx)) {
      run1d(ctx, 'activation', 'activation_relu_f32_backward_inplace', [a.y, a.dx], [u32(a.length)], a.length);
    } else {
      viaTemp(ctx, a.dx, [a.y, a.dy], a.length, (dx) =>
        run1d(ctx, 'activation', 'activation_relu_f32_backward', [a.y, a.dy, dx], [u32(a.length)], a.length));
    }
  },
  bias_add(ctx, a) {
    if (same(ctx, a.y, a.bias)) throw new KernelArgumentError('bias_add', 'y and bias must be different buffers');
    run1d(ctx, 'activation', 'activation_bias_add_f32', [a.y, a.bias], [u32(a.rows * a.cols), u32(a.cols)], a.rows * a.cols);
  },
  bias_backward(ctx, a) {
    if (same(ctx, a.dy, a.db)) throw new KernelArgumentError('bias_backward', 'dy and db must be different buffers');
    columnSums(ctx, a.dy, a.db, a.rows, a.cols, a.beta);
  },

  batchnorm_forward_train(ctx, a) {
    checkBatchNormRows('batchnorm_forward_train', a.rows);
    const { rows, c } = a;
    const blk = rowBlocks(rows);
    const P = ctx.workspace(8 * c * 4, SLOT_PARAMS);
    const part = ctx.workspace((2 * blk.blocks + 1) * c * 4, SLOT_PART);
    const uni = bnUniforms(rows, c, blk, a.eps, a.momentum, 0);
    ctx.copy(a.gamma, 0, P, 0, c);
    ctx.copy(a.beta, 0, P, c, c);
    ctx.dispatch({ shader: 'norm', entryPoint: 'norm_bn_f32_stats_partial', buffers: [a.x, part], uniforms: uni,
      workgroups: [Math.ceil(c / COLS), blk.blocks] });
    ctx.dispatch({ shader: 'norm', entryPoint: 'norm_bn_f32_train_finalize', buffers: [part, P, a.saveMean, a.saveInvstd],
      uniforms: uni, workgroups: [Math.ceil(c / WG)] });
    ctx.dispatch({ shader: 'norm', entryPoint: 'norm_bn_f32_running_update', buffers: [P, a.runMean, a.runVar],
      uniforms: uni, workgroups: [Math.ceil(c / WG)] });
    viaTemp(ctx, a.y, [a.x], rows * c, (y) => run1d(ctx, 'norm', 'norm_bn_f32_apply', [a.x, y, P], uni, rows * c));
  },
  batchnorm_forward_eval(ctx, a) {
    const { rows, c } = a;
    const P = ctx.workspace(8 * c * 4, SLOT_PARAMS);
    const uni = bnUniforms(rows, c, { rowsPerBlock: 0, blocks: 0 }, a.eps, 0, 0);
    ctx.copy(a.gamma, 0, P, 0, c);
    ctx.copy(a.beta, 0, P, c, c);
    ctx.copy(a.runMean, 0, P, 2 * c, c);
    ctx.copy(a.runVar, 0, P, 4 * c, c);
    ctx.dispatch({ shader: 'norm', entryPoint: 'norm_bn_f32_eval_scale', buffers: [P], uniforms: uni, workgroups: [Math.ceil(c / WG)] });
    if (rows === 0) return;
    viaTemp(ctx, a.y, [a.x], rows * c, (y) => run1d(ctx, 'norm', 'norm_bn_f32_apply', [a.x, y, P], uni, rows * c));
  },
  batchnorm_backward(ctx, a) {
    const { rows, c } = a;
    const blk = rowBlocks(rows);
    const P = ctx.workspace(8 * c * 4, SLOT_PARAMS);
    const part = ctx.workspace(2 * blk.blocks * c * 4, SLOT_PART);
    const uni = bnUniforms(rows, c, blk, 0, 0, a.accumulate);
    ctx.copy(a.gamma, 0, P, 0, c);
    ctx.copy(a.saveMean, 0, P, 2 * c, c);
    ctx.copy(a.saveInvstd, 0, P, 5 * c, c);
    ctx.dispatch({ shader: 'norm', entryPoint: 'norm_bn_f32_backward_partial', buffers: [a.x, a.dy, P, part], uniforms: uni,
      workgroups: [Math.ceil(c / COLS), blk.blocks] });
    ctx.dispatch({ shader: 'norm', entryPoint: 'norm_bn_f32_backward_finalize', buffers: [part, P, a.dgamma, a.dbeta],
      uniforms: uni, workgroups: [Math.ceil(c / WG)] });
    viaTemp(ctx, a.dx, [a.x, a.dy], rows * c, (dx) => run1d(ctx, 'norm', 'norm_bn_f32_backward_apply', [a.x, a.dy, dx, P], uni, rows * c));
  },

  lrn_forward(ctx, a) {
    const total = a.rows * a.c;
    if (same(ctx, a.y, a.scale)) throw new KernelArgumentError('lrn_forward', 'y and scale must be different buffers');
    viaTemp(ctx, a.y, [a.x], total, (y) => run1d(ctx, 'norm', 'norm_lrn_f32_forward', [a.x, y, a.scale], lrnUniforms(a), total));
  },
  lrn_backward(ctx, a) {
    const total = a.rows * a.c;
    const t = ctx.workspace(2 * total * 4, SLOT_PART);
    const uni = lrnUniforms(a);
    run1d(ctx, 'norm', 'norm_lrn_f32_backward_prep', [a.y, a.scale, a.dy, t], uni, total);
    viaTemp(ctx, a.dx, [a.x], total, (dx) => run1d(ctx, 'norm', 'norm_lrn_f32_backward', [a.x, t, dx], uni, total));
  },

  dropout_forward(ctx, a) {
    if (same(ctx, a.mask, a.x) || same(ctx, a.mask, a.y)) throw new KernelArgumentError('dropout_forward', 'mask must be a buffer of its own');
    const uni = [u32(a.length), u32(rngKey(a.seed)), u32(dropoutThreshold(a.p)), f32(dropoutKeepScale(a.p))];
    if (same(ctx, a.x, a.y)) run1d(ctx, 'activation', 'activation_dropout_f32_forward_inplace', [a.y, a.mask], uni, a.length);
    else run1d(ctx, 'activation', 'activation_dropout_f32_forward', [a.x, a.y, a.mask], uni, a.length);
  },
  dropout_backward(ctx, a) {
    if (same(ctx, a.dy, a.dx) && !same(ctx, a.mask, a.dx)) {
      run1d(ctx, 'activation', 'activation_dropout_f32_backward_inplace', [a.dx, a.mask], [u32(a.length)], a.length);
    } else {
      viaTemp(ctx, a.dx, [a.dy, a.mask], a.length, (dx) =>
        run1d(ctx, 'activation', 'activation_dropout_f32_backward', [a.dy, a.mask, dx], [u32(a.length)], a.length));
    }
  },

  softmax_xent_forward(ctx, a) {
    const labels = ctx.hostMirror(a.labels);
    if (labels) checkLabels('softmax_xent_forward', labels, a.n, a.classes); // else the kernel writes NaN rows
    const outs = [a.probs, a.loss];
    if (same(ctx, a.probs, a.loss) || outs.some((o) => same(ctx, o, a.logits) || same(ctx, o, a.labels))) {
      throw new KernelArgumentError('softmax_xent_forward', 'probs and loss must be buffers of their own');
    }
    run1d(ctx, 'loss', 'loss_softmax_xent_f32_forward', [a.logits, a.labels, a.probs, a.loss],
      [u32(a.n), u32(a.classes), f32(a.smoothing), f32(0)], a.n);
  },
  softmax_xent_backward(ctx, a) {
    const labels = ctx.hostMirror(a.labels);
    if (labels) checkLabels('softmax_xent_backward', labels, a.n, a.classes);
    const total = a.n * a.classes;
    viaTemp(ctx, a.dlogits, [a.probs, a.labels], total, (d) => run1d(ctx, 'loss', 'loss_softmax_xent_f32_backward',
      [a.probs, a.labels, d], [u32(a.n), u32(a.classes), f32(a.smoothing), f32(a.scale)], total));
  },

  sgd_update(ctx, a) {
    if (same(ctx, a.w, a.g) || same(ctx, a.w, a.v) || same(ctx, a.g, a.v)) {
      throw new KernelArgumentError('sgd_update', 'w, g and v must be three different buffers');
    }
    run1d(ctx, 'optim', 'optim_sgd_f32', [a.w, a.g, a.v],
      [u32(a.length), f32(a.lr), f32(a.momentum), f32(a.weightDecay), u32(a.nesterov ? 1 : 0)], a.length);
  },
  axpby(ctx, a) {
    const uni = [u32(a.length), f32(a.alpha), f32(a.beta)];
    if (same(ctx, a.x, a.y)) run1d(ctx, 'optim', 'optim_axpby_f32_inplace', [a.y], uni, a.length);
    else run1d(ctx, 'optim', 'optim_axpby_f32', [a.x, a.y], uni, a.length);
  },
  fill(ctx, a) {
    run1d(ctx, 'optim', 'optim_fill_f32', [a.x], [u32(a.length), f32(a.value)], a.length);
  },
  reduce_sum(ctx, a) {
    const RWG = 128;
    const groups = Math.max(1, Math.min(1024, Math.ceil(a.length / (RWG * 4))));
    const part = ctx.workspace(groups * 4, SLOT_PART);
    ctx.dispatch({ shader: 'reduce', entryPoint: 'reduce_sum_f32_partial', constants: { WG: RWG }, buffers: [a.x, part],
      uniforms: [u32(a.length), u32(groups)], workgroups: [groups] });
    viaTemp(ctx, a.out, [a.x], 1, (out) => ctx.dispatch({ shader: 'reduce', entryPoint: 'reduce_sum_f32_combine', constants: { WG: RWG },
      buffers: [part, out], uniforms: [u32(groups)], workgroups: [1] }));
  },
};

/** db[c] = beta * db[c] + sum over rows of dy[r, c], in two passes (row-block partials, then combine). */
export function columnSums(ctx: WebGpuContext, dy: Buf | GPUBuffer, db: Buf | GPUBuffer, rows: number, cols: number, beta: number): void {
  const blk = rowBlocks(Math.max(rows, 1));
  const part = ctx.workspace(blk.blocks * cols * 4, SLOT_PART);
  const uni = [u32(rows), u32(cols), u32(blk.rowsPerBlock), f32(beta), u32(blk.blocks)];
  ctx.dispatch({ shader: 'reduce', entryPoint: 'reduce_colsum_f32_partial', buffers: [dy, part], uniforms: uni,
    workgroups: [Math.ceil(cols / COLS), blk.blocks] });
  ctx.dispatch({ shader: 'reduce', entryPoint: 'reduce_colsum_f32_combine', constants: { WG: 128 }, buffers: [part, db], uniforms: uni,
    workgroups: [Math.ceil(cols / 128)] });
}
