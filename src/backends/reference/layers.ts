// Reference kernels (layers family): pool, ReLU, bias, batch norm, LRN, dropout, softmax-xent, SGD, fills.
// Plain loops in float64 arithmetic, stored as float32: the definition the wasm and WebGPU kernels match.
import { KernelArgumentError } from '../../backend.js';
import type { RefOpTable } from './backend.js';
import { dropoutKeepScale, dropoutThreshold, mix32, rngKey } from './rng.js';

/** Labels are class indices stored as float32: each must be an integer in [0, classes). Throws before any
 *  write, naming the first bad row. Shared by every backend whose labels are readable on the host. */
export function checkLabels(kernel: string, labels: Float32Array, n: number, classes: number): void {
  for (let i = 0; i < n; i++) {
    const l = labels[i];
    if (!(Number.isInteger(l) && l >= 0 && l < classes)) {
      throw new KernelArgumentError(kernel, `labels[${i}] = ${l} is not a class index in [0, ${classes})`);
    }
  }
}

/** torch refuses training-mode batch norm on one value per channel (the unbiased variance divides by 0). */
export function checkBatchNormRows(kernel: string, rows: number): void {
  if (rows < 2) throw new KernelArgumentError(kernel, `training mode needs more than 1 value per channel, got rows = ${rows}`);
}

/** The LRN window of channel i covers [i - lo, i + hi] (torch pads size/2 before and (size-1)/2 after). */
export function lrnWindow(size: number): { lo: number; hi: number } {
  return { lo: size >> 1, hi: (size - 1) >> 1 };
}

export const layersOps: RefOpTable = {
  maxpool2x2_forward(a, data) {
    const x = data(a.x), y = data(a.y);
    const oh = a.h >> 1, ow = a.w >> 1, c = a.c;
    for (let n = 0; n < a.n; n++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
      const i00 = ((n * a.h + 2 * oy) * a.w + 2 * ox) * c, i10 = i00 + a.w * c;
      const o = ((n * oh + oy) * ow + ox) * c;
      for (let ch = 0; ch < c; ch++) {
        let m = x[i00 + ch];
        if (x[i00 + c + ch] > m) m = x[i00 + c + ch];
        if (x[i10 + ch] > m) m = x[i10 + ch];
        if (x[i10 + c + ch] > m) m = x[i10 + c + ch];
        y[o + ch] = m;
      }
    }
  },

  maxpool2x2_backward(a, data) {
    const x = data(a.x), dy = data(a.dy);
    const oh = a.h >> 1, ow = a.w >> 1, c = a.c;
    const dx = new Float32Array(a.n * a.h * a.w * c); // dy and dx never alias (different sizes)
    for (let n = 0; n < a.n; n++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
      const i00 = ((n * a.h + 2 * oy) * a.w + 2 * ox) * c, i10 = i00 + a.w * c;
      const cand = [i00, i00 + c, i10, i10 + c];
      const o = ((n * oh + oy) * ow + ox) * c;
      for (let ch = 0; ch < c; ch++) {
        let best = cand[0] + ch;
        for (let k = 1; k < 4; k++) if (x[cand[k] + ch] > x[best]) best = cand[k] + ch; // strict: first max wins
        dx[best] = dy[o + ch];
      }
    }
    data(a.dx).set(dx);
  },

  relu_forward(a, data) {
    const x = data(a.x), y = data(a.y);
    for (let i = 0; i < a.length; i++) y[i] = x[i] > 0 ? x[i] : 0;
  },

  relu_backward(a, data) {
    const y = data(a.y), dy = data(a.dy), dx = data(a.dx);
    for (let i = 0; i < a.length; i++) dx[i] = y[i] > 0 ? dy[i] : 0;
  },

  bias_add(a, data) {
    const y = data(a.y), b = data(a.bias);
    for (let r = 0; r < a.rows; r++) for (let c = 0; c < a.cols; c++) y[r * a.cols + c] += b[c];
  },

  bias_backward(a, data) {
    const dy = data(a.dy), db = data(a.db);
    const s = colSums(dy, a.rows, a.cols);
    for (let c = 0; c < a.cols; c++) db[c] = a.beta === 0 ? s[c] : a.beta * db[c] + s[c];
  },

  batchnorm_forward_train(a, data) {
    checkBatchNormRows('batchnorm_forward_train', a.rows);
    const x = data(a.x), y = data(a.y), g = data(a.gamma), b = data(a.beta);
    const { rows, c } = a;
    const mean = colSums(x, rows, c).map((s) => s / rows);
    const v = new Float64Array(c);
    for (let r = 0; r < rows; r++) for (let ch = 0; ch < c; ch++) { const d = x[r * c + ch] - mean[ch]; v[ch] += d * d; }
    const invstd = new Float64Array(c);
    for (let ch = 0; ch < c; ch++) invstd[ch] = 1 / Math.sqrt(v[ch] / rows + a.eps);
    for (let r = 0; r < rows; r++) for (let ch = 0; ch < c; ch++) {
      const i = r * c + ch;
      y[i] = (x[i] - mean[ch]) * invstd[ch] * g[ch] + b[ch];
    }
    const sm = data(a.saveMean), si = data(a.saveInvstd), rm = data(a.runMean), rv = data(a.runVar);
    for (let ch = 0; ch < c; ch++) {
      sm[ch] = mean[ch]; si[ch] = invstd[ch];
      rm[ch] = (1 - a.momentum) * rm[ch] + a.momentum * mean[ch];
      rv[ch] = (1 - a.momentum) * rv[ch] + a.momentum * (v[ch] / (rows - 1));
    }
  },

  batchnorm_forward_eval(a, data) {
    const x = data(a.x), y = data(a.y), g = data(a.gamma), b = data(a.beta), rm = data(a.runMean), rv = data(a.runVar);
    const { rows, c } = a;
    for (let r = 0; r < rows; r++) for (let ch = 0; ch < c; ch++) {
      const i = r * c + ch;
      y[i] = (x[i] - rm[ch]) / Math.sqrt(rv[ch] + a.eps) * g[ch] + b[ch];
    }
  },

  batchnorm_backward(a, data) {
    const x = data(a.x), dy = data(a.dy), g = data(a.gamma), mean = data(a.saveMean), inv = data(a.saveInvstd);
    const dx = data(a.dx), dg = data(a.dgamma), db = data(a.dbeta);
    const { rows, c } = a;
    const sdy = new Float64Array(c), sdyx = new Float64Array(c);
    for (let r = 0; r < rows; r++) for (let ch = 0; ch < c; ch++) {
      const i = r * c + ch;
      sdy[ch] += dy[i];
      sdyx[ch] += dy[i] * (x[i] - mean[ch]) * inv[ch];
    }
    for (let r = 0; r < rows; r++) for (let ch = 0; ch < c; ch++) {
      const i = r * c + ch;
      const xhat = (x[i] - mean[ch]) * inv[ch];
      dx[i] = g[ch] * inv[ch] * (dy[i] - sdy[ch] / rows - xhat * sdyx[ch] / rows);
    }
    for (let ch = 0; ch < c; ch++) {
      db[ch] = a.accumulate === 0 ? sdy[ch] : a.accumulate * db[ch] + sdy[ch];
      dg[ch] = a.accumulate === 0 ? sdyx[ch] : a.accumulate * dg[ch] + sdyx[ch];
    }
  },

  lrn_forward(a, data) {
    const x = data(a.x), y = data(a.y), scale = data(a.scale);
    const { rows, c } = a;
    const { lo, hi } = lrnWindow(a.size);
    for (let r = 0; r < rows; r++) {
      const o = r * c;
      for (let i = 0; i < c; i++) {
        let s = 0;
        for (let j = Math.max(0, i - lo); j <= Math.min(c - 1, i + hi); j++) s += x[o + j] * x[o + j];
        const sc = a.k + (a.alpha / a.size) * s;
        scale[o + i] = sc;
        y[o + i] = x[o + i] * Math.pow(sc, -a.beta);
      }
    }
  },

  lrn_backward(a, data) {
    const x = data(a.x), y = data(a.y), scale = data(a.scale), dy = data(a.dy);
    const { rows, c } = a;
    const { lo, hi } = lrnWindow(a.size);
    const dx = new Float64Array(rows * c); // dx may alias dy: compute first, store after
    const t = new Float64Array(c);
    const coef = (2 * a.alpha * a.beta) / a.size;
    for (let r = 0; r < rows; r++) {
      const o = r * c;
      for (let j = 0; j < c; j++) t[j] = (dy[o + j] * y[o + j]) / scale[o + j];
      for (let i = 0; i < c; i++) {
        // channel i is inside the window of every j in [i - hi, i + lo]
        let s = 0;
        for (let j = Math.max(0, i - hi); j <= Math.min(c - 1, i + lo); j++) s += t[j];
        dx[o + i] = dy[o + i] * Math.pow(scale[o + i], -a.beta) - coef * x[o + i] * s;
      }
    }
    data(a.dx).set(dx);
  },

  dropout_forward(a, data) {
    const x = data(a.x), y = data(a.y), mask = data(a.mask);
    const thr = dropoutThreshold(a.p), keep = dropoutKeepScale(a.p), k = rngKey(a.seed);
    for (let i = 0; i < a.length; i++) {
      const bits = mix32((mix32((i ^ k) >>> 0) + k) >>> 0); // = rngBits(seed, i), key hoisted
      const m = bits >>> 8 >= thr ? keep : 0;
      mask[i] = m;
      y[i] = x[i] * m;
    }
  },

  dropout_backward(a, data) {
    const dy = data(a.dy), mask = data(a.mask), dx = data(a.dx);
    for (let i = 0; i < a.length; i++) dx[i] = dy[i] * mask[i];
  },

  softmax_xent_forward(a, data) {
    const { n, classes, smoothing } = a;
    const labels = data(a.labels);
    checkLabels('softmax_xent_forward', labels, n, classes);
    const z = data(a.logits), p = data(a.probs), loss = data(a.loss);
    const zs = new Float64Array(classes);
    for (let i = 0; i < n; i++) {
      const o = i * classes;
      let m = -Infinity;
      for (let j = 0; j < classes; j++) { zs[j] = z[o + j]; m = Math.max(m, zs[j]); }
      let s = 0, sz = 0;
      for (let j = 0; j < classes; j++) { s += Math.exp(zs[j] - m); sz += zs[j]; }
      for (let j = 0; j < classes; j++) p[o + j] = Math.exp(zs[j] - m) / s;
      const lse = m + Math.log(s);
      // sum_j target_j * (lse - z_j) with target = (1-eps) onehot + eps/classes
      loss[i] = lse - (1 - smoothing) * zs[labels[i]] - (smoothing / classes) * sz;
    }
  },

  softmax_xent_backward(a, data) {
    const { n, classes, smoothing, scale } = a;
    const labels = data(a.labels);
    checkLabels('softmax_xent_backward', labels, n, classes);
    const p = data(a.probs), d = data(a.dlogits);
    const off = smoothing / classes;
    for (let i = 0; i < n; i++) {
      const o = i * classes;
      for (let j = 0; j < classes; j++) {
        const t = (j === labels[i] ? 1 - smoothing : 0) + off;
        d[o + j] = scale * (p[o + j] - t);
      }
    }
  },

  sgd_update(a, data) {
    const w = data(a.w), g = data(a.g), v = data(a.v);
    for (let i = 0; i < a.length; i++) {
      const gp = g[i] + a.weightDecay * w[i];
      v[i] = a.momentum * v[i] + gp;
      w[i] -= a.lr * (a.nesterov ? gp + a.momentum * v[i] : v[i]);
    }
  },

  axpby(a, data) {
    const x = data(a.x), y = data(a.y);
    for (let i = 0; i < a.length; i++) y[i] = a.beta === 0 ? a.alpha * x[i] : a.alpha * x[i] + a.beta * y[i];
  },

  fill(a, data) { data(a.x).fill(a.value, 0, a.length); },

  reduce_sum(a, data) {
    const x = data(a.x);
    let s = 0;
    for (let i = 0; i < a.length; i++) s += x[i];
    data(a.out)[0] = s;
  },
};

function colSums(x: Float32Array, rows: number, cols: number): Float64Array {
  const s = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) s[c] += x[r * cols + c];
  return s;
}
