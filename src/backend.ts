// The one Backend interface every compute backend implements, and the typed kernel set it runs.
//
// Layout decisions (shared by every backend, every kernel, every test):
// - Activations are NHWC: [batch, height, width, channels], channels innermost. SIMD lanes (wasm f32x4,
//   WGSL vec4) then run over channels, which every VGG layer but the first has in multiples of 64, and
//   the Winograd transforms become elementwise over a contiguous channel vector.
// - Conv weights are HWIO: [kh, kw, cin, cout]. With NHWC this makes im2col a plain GEMM
//   col[N*OH*OW, KH*KW*Cin] x W[KH*KW*Cin, Cout] = Y[N*OH*OW, Cout] with no transposes.
//   Checkpoints convert to torchvision's OIHW at the file boundary (src/nn/checkpoint.ts).
// - Linear weights are torchvision's [out, in]; y = x W^T (GEMM with transB).
// - Everything is float32. Integer data (labels) is stored as float32 (exact below 2^24).
// - All sizes and offsets in kernel arguments are in elements, never bytes.

/** A backend-owned block of float32 elements. Only the backend that allocated it may use it. */
export interface Buf {
  readonly backend: string;
  /** Length in float32 elements. */
  readonly length: number;
}

/** Convolution algorithms. Every backend implements every one; the planner picks per layer and pass.
 *  winograd_map2x2: the minimal algorithm for a 3x3, pad-1 conv on a 2x2 map (VGG's last block on 32x32
 *  input): 9 tile products per 2x2 output instead of the 16 non-zero ones of im2col (see assembly/map2x2.ts). */
export type ConvAlgo = 'im2col_gemm' | 'winograd_f2x2' | 'winograd_f4x4' | 'winograd_f6x6' | 'winograd_map2x2';
export const CONV_ALGOS: readonly ConvAlgo[] = ['im2col_gemm', 'winograd_f2x2', 'winograd_f4x4', 'winograd_f6x6', 'winograd_map2x2'];

/** Shape of a 2-D convolution over NHWC input with HWIO weights. oh/ow follow from the rest. */
export interface ConvShape {
  n: number; h: number; w: number; cin: number; cout: number;
  kh: number; kw: number; stride: number; pad: number;
}
export function convOutSize(s: ConvShape): { oh: number; ow: number } {
  return {
    oh: Math.floor((s.h + 2 * s.pad - s.kh) / s.stride) + 1,
    ow: Math.floor((s.w + 2 * s.pad - s.kw) / s.stride) + 1,
  };
}
/** Winograd algorithms apply only to 3x3, stride 1 convolutions; winograd_map2x2 only to a 2x2 input with pad 1. */
export function algoApplies(algo: ConvAlgo, s: ConvShape): boolean {
  if (algo === 'im2col_gemm') return true;
  const winograd = s.kh === 3 && s.kw === 3 && s.stride === 1;
  return algo === 'winograd_map2x2' ? winograd && s.pad === 1 && s.h === 2 && s.w === 2 : winograd;
}

/** Argument types of every kernel, by kernel id. A kernel writes only its output buffers. */
export interface KernelArgs {
  /** C[m,n] = alpha * op(A) op(B) + beta * C, then + bias[n] if given, then ReLU if relu.
   *  A is [m,k] row-major, or [k,m] when transA; B is [k,n], or [n,k] when transB. C is [m,n]. */
  gemm: { a: Buf; b: Buf; c: Buf; m: number; n: number; k: number; transA: boolean; transB: boolean;
          alpha: number; beta: number; bias?: Buf; relu?: boolean };
  /** x NHWC -> col [n*oh*ow, kh*kw*cin], column index (ky*kw + kx)*cin + ci; zero padding. */
  im2col: { x: Buf; col: Buf; shape: ConvShape };
  /** Adjoint of im2col: dx = sum of col entries that im2col read from each x element (overwrites dx). */
  col2im: { col: Buf; x: Buf; shape: ConvShape };
  /** y[n,oh,ow,cout] = sum x*w (+ bias[cout]) (then ReLU if relu). Overwrites y. */
  conv2d_forward: { x: Buf; w: Buf; bias?: Buf; y: Buf; shape: ConvShape; algo: ConvAlgo; relu?: boolean };
  /** dx = gradient of the convolution w.r.t. its input, given dy. Overwrites dx. */
  conv2d_backward_data: { dy: Buf; w: Buf; dx: Buf; shape: ConvShape; algo: ConvAlgo };
  /** dw = beta*dw + gradient w.r.t. weights; db (if given) = beta*db + sum of dy over n,oh,ow. */
  conv2d_backward_filter: { x: Buf; dy: Buf; dw: Buf; db?: Buf; shape: ConvShape; algo: ConvAlgo; beta: number };
  /** 2x2 stride-2 max pool over NHWC (h, w even or floor: output floor(h/2) x floor(w/2)). */
  maxpool2x2_forward: { x: Buf; y: Buf; n: number; h: number; w: number; c: number };
  /** dx gets dy at the first (row-major within the window) maximum of each window, 0 elsewhere. Overwrites dx. */
  maxpool2x2_backward: { x: Buf; dy: Buf; dx: Buf; n: number; h: number; w: number; c: number };
  /** y = max(x, 0), elementwise over `length` elements (x and y may be the same buffer). */
  relu_forward: { x: Buf; y: Buf; length: number };
  /** dx = y > 0 ? dy : 0, where y is the ReLU output (dy and dx may be the same buffer). */
  relu_backward: { y: Buf; dy: Buf; dx: Buf; length: number };
  /** y[r,c] += bias[c] over a [rows, cols] matrix. */
  bias_add: { y: Buf; bias: Buf; rows: number; cols: number };
  /** db[c] = beta*db[c] + sum over rows of dy[r,c]. */
  bias_backward: { dy: Buf; db: Buf; rows: number; cols: number; beta: number };
  /** Batch norm over channels of [rows, c] (rows = n*h*w), training mode: batch statistics (biased
   *  variance for normalising), saves mean and invstd = 1/sqrt(var+eps); updates running stats as
   *  torch does: run = (1-momentum)*run + momentum*stat, with the unbiased variance for runVar. */
  batchnorm_forward_train: { x: Buf; y: Buf; gamma: Buf; beta: Buf; saveMean: Buf; saveInvstd: Buf;
          runMean: Buf; runVar: Buf; rows: number; c: number; momentum: number; eps: number };
  /** Inference mode: normalise with running statistics. */
  batchnorm_forward_eval: { x: Buf; y: Buf; gamma: Buf; beta: Buf; runMean: Buf; runVar: Buf;
          rows: number; c: number; eps: number };
  /** dx overwritten; dgamma, dbeta = beta*old + gradient (beta is the accumulate factor, 0 or 1). */
  batchnorm_backward: { x: Buf; dy: Buf; gamma: Buf; saveMean: Buf; saveInvstd: Buf; dx: Buf;
          dgamma: Buf; dbeta: Buf; rows: number; c: number; accumulate: number };
  /** Cross-channel LRN as torch.nn.LocalResponseNorm: y = x / (k + alpha/size * sum_{window} x^2)^beta,
   *  window of `size` channels centred (torch's padding: size/2 before, (size-1)/2 after). scale saves
   *  the (k + alpha/size * sum) term for backward. AlexNet: size 5, alpha 1e-4, beta 0.75, k 2. */
  lrn_forward: { x: Buf; y: Buf; scale: Buf; rows: number; c: number; size: number; alpha: number;
          beta: number; k: number };
  lrn_backward: { x: Buf; y: Buf; scale: Buf; dy: Buf; dx: Buf; rows: number; c: number; size: number;
          alpha: number; beta: number; k: number };
  /** Inverted dropout: mask[i] = keep ? 1/(1-p) : 0 with keep = uniform(seed, i) >= p (see
   *  reference/rng.ts for the counter-based generator all backends share), y = x * mask. */
  dropout_forward: { x: Buf; y: Buf; mask: Buf; length: number; p: number; seed: number };
  /** dx = dy * mask. */
  dropout_backward: { dy: Buf; mask: Buf; dx: Buf; length: number };
  /** Row-wise softmax of logits [n, classes] -> probs; loss[i] = cross-entropy of row i against
   *  labels[i] (class index stored as float), with label smoothing eps as torch does:
   *  target = (1-eps)*onehot + eps/classes. */
  softmax_xent_forward: { logits: Buf; labels: Buf; probs: Buf; loss: Buf; n: number; classes: number;
          smoothing: number };
  /** dlogits = scale * (probs - target) with the same target as forward (scale is usually 1/n). */
  softmax_xent_backward: { probs: Buf; labels: Buf; dlogits: Buf; n: number; classes: number;
          smoothing: number; scale: number };
  /** SGD as torch.optim.SGD: g' = g + wd*w; v = momentum*v + g'; w -= lr * (nesterov ? g' + momentum*v : v). */
  sgd_update: { w: Buf; g: Buf; v: Buf; length: number; lr: number; momentum: number; weightDecay: number;
          nesterov: boolean };
  /** y = alpha * x + beta * y elementwise (beta 0 means y is overwritten even if it held NaN). */
  axpby: { x: Buf; y: Buf; length: number; alpha: number; beta: number };
  /** x[i] = value. */
  fill: { x: Buf; length: number; value: number };
  /** out[0] = sum of x[0..length). Used for loss and norm reductions. */
  reduce_sum: { x: Buf; out: Buf; length: number };
}

export type KernelId = keyof KernelArgs;
export const KERNEL_IDS: readonly KernelId[] = [
  'gemm', 'im2col', 'col2im', 'conv2d_forward', 'conv2d_backward_data', 'conv2d_backward_filter',
  'maxpool2x2_forward', 'maxpool2x2_backward', 'relu_forward', 'relu_backward', 'bias_add', 'bias_backward',
  'batchnorm_forward_train', 'batchnorm_forward_eval', 'batchnorm_backward', 'lrn_forward', 'lrn_backward',
  'dropout_forward', 'dropout_backward', 'softmax_xent_forward', 'softmax_xent_backward', 'sgd_update',
  'axpby', 'fill', 'reduce_sum',
];

/** Counters every backend keeps so memory use is observable. */
export interface MemoryStats {
  /** Bytes currently allocated to live Bufs. */
  liveBytes: number;
  /** High-water mark of liveBytes. */
  peakBytes: number;
  /** Total bytes the backend holds from its host (memory size, pooled GPU buffers). */
  reservedBytes: number;
}

/** The interface. A layer never knows which backend runs it; it calls these five things. */
export interface Backend {
  /** Short identity for logs, result files and the tuning cache: 'reference', 'wasm', 'webgpu'. */
  readonly name: string;
  /** Longer identity (wasm build + threads, GPU adapter) for the tuning cache and reports. */
  readonly description: string;
  /** Fingerprint of the kernel code it runs (wasm binary, WGSL sources), part of the tuning cache's key, so
   *  times measured with other kernels (an older vggrt) are measured again rather than reused. */
  readonly kernelsId?: string;
  alloc(length: number): Buf;
  free(buf: Buf): void;
  /** Copy host data into buf starting at element `offset` (default 0). */
  write(buf: Buf, data: Float32Array, offset?: number): void;
  /** Copy buf's contents (or `length` elements from `offset`) back to the host. */
  read(buf: Buf, offset?: number, length?: number): Promise<Float32Array>;
  /** Enqueue or run one kernel. Throws before writing anything when arguments are inconsistent. */
  run<K extends KernelId>(kernel: K, args: KernelArgs[K]): void;
  /** Resolves once every kernel issued so far has completed. */
  sync(): Promise<void>;
  memory(): MemoryStats;
  /** Release everything the backend holds (workers, devices). The backend is unusable after. */
  dispose(): Promise<void>;
}

/** Error thrown for bad kernel arguments: names the kernel and the argument at fault. */
export class KernelArgumentError extends Error {
  constructor(kernel: string, detail: string) {
    super(`${kernel}: ${detail}`);
    this.name = 'KernelArgumentError';
  }
}
