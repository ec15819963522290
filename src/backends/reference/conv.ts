// Reference kernels (conv family): direct convolution loops in float64, the definition of every conv kernel.
// NHWC activations, HWIO weights (src/backend.ts). The `algo` argument never changes the reference result:
// every algorithm computes the same convolution, only its rounding differs.
import { type ConvShape, convOutSize } from '../../backend.js';
import type { RefOpTable } from './backend.js';

type Num = ArrayLike<number>;

/** Visits every (output pixel, kernel tap) pair whose input pixel lies inside the image: yo, xo and wo are
 *  the element offsets of the output pixel's channels, the input pixel's channels and the tap's
 *  [cin, cout] weight block. The three float64 passes below differ only in what they do per tap. */
function forEachTap(s: ConvShape, visit: (yo: number, xo: number, wo: number) => void, perPixel?: (yo: number) => void): void {
  const { oh, ow } = convOutSize(s);
  for (let b = 0; b < s.n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const yo = ((b * oh + oy) * ow + ox) * s.cout;
        perPixel?.(yo);
        forEachTapAt(s, b, oy, ox, (xo, wo) => visit(yo, xo, wo));
      }
    }
  }
}

/** The taps of output pixel (b, oy, ox) that read the image: visit(x offset of the input pixel, w offset of the tap). */
export function forEachTapAt(s: ConvShape, b: number, oy: number, ox: number, visit: (xo: number, wo: number) => void): void {
  for (let ky = 0; ky < s.kh; ky++) {
    const iy = oy * s.stride - s.pad + ky;
    if (iy < 0 || iy >= s.h) continue;
    for (let kx = 0; kx < s.kw; kx++) {
      const ix = ox * s.stride - s.pad + kx;
      if (ix < 0 || ix >= s.w) continue;
      visit(((b * s.h + iy) * s.w + ix) * s.cin, (ky * s.kw + kx) * s.cin * s.cout);
    }
  }
}

/** Direct convolution in float64: y[n,oy,ox,co] = sum x*w (+ bias) (then ReLU). Also used as the exact
 *  baseline for the Winograd error tests and the finite-difference gradient checks. */
export function conv2dForwardF64(x: Num, w: Num, bias: Num | undefined, s: ConvShape, relu = false): Float64Array {
  const { oh, ow } = convOutSize(s);
  const y = new Float64Array(s.n * oh * ow * s.cout);
  if (bias) for (let p = 0; p < y.length; p++) y[p] = bias[p % s.cout];
  forEachTap(s, (yo, xo, wo) => {
    for (let ci = 0; ci < s.cin; ci++) {
      const xv = x[xo + ci];
      if (xv === 0) continue;
      const wr = wo + ci * s.cout;
      for (let co = 0; co < s.cout; co++) y[yo + co] += xv * w[wr + co];
    }
  });
  if (relu) for (let p = 0; p < y.length; p++) if (y[p] < 0) y[p] = 0;
  return y;
}

/** dx = gradient of the convolution w.r.t. x, given dy (float64). */
export function conv2dBackwardDataF64(dy: Num, w: Num, s: ConvShape): Float64Array {
  const dx = new Float64Array(s.n * s.h * s.w * s.cin);
  forEachTap(s, (yo, xo, wo) => {
    for (let ci = 0; ci < s.cin; ci++) {
      let sum = 0;
      const wr = wo + ci * s.cout;
      for (let co = 0; co < s.cout; co++) sum += dy[yo + co] * w[wr + co];
      dx[xo + ci] += sum;
    }
  });
  return dx;
}

/** dw and db = gradients of the convolution w.r.t. weights and bias, given x and dy (float64, no beta). */
export function conv2dBackwardFilterF64(x: Num, dy: Num, s: ConvShape): { dw: Float64Array; db: Float64Array } {
  const dw = new Float64Array(s.kh * s.kw * s.cin * s.cout);
  const db = new Float64Array(s.cout);
  forEachTap(s, (yo, xo, wo) => {
    for (let ci = 0; ci < s.cin; ci++) {
      const xv = x[xo + ci];
      if (xv === 0) continue;
      const wr = wo + ci * s.cout;
      for (let co = 0; co < s.cout; co++) dw[wr + co] += xv * dy[yo + co];
    }
  }, (yo) => { for (let co = 0; co < s.cout; co++) db[co] += dy[yo + co]; });
  return { dw, db };
}

/** col[p, (ky*kw + kx)*cin + ci] = x at the input pixel output p reads through (ky, kx), 0 in the padding. */
function im2colLoop(s: ConvShape, visit: (colIndex: number, xIndex: number) => void): void {
  const { oh, ow } = convOutSize(s);
  const k = s.kh * s.kw * s.cin;
  for (let b = 0; b < s.n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const row = ((b * oh + oy) * ow + ox) * k;
        for (let ky = 0; ky < s.kh; ky++) {
          const iy = oy * s.stride - s.pad + ky;
          for (let kx = 0; kx < s.kw; kx++) {
            const ix = ox * s.stride - s.pad + kx;
            const inside = iy >= 0 && iy < s.h && ix >= 0 && ix < s.w;
            const co = row + (ky * s.kw + kx) * s.cin;
            const xo = ((b * s.h + iy) * s.w + ix) * s.cin;
            for (let ci = 0; ci < s.cin; ci++) visit(co + ci, inside ? xo + ci : -1);
          }
        }
      }
    }
  }
}

export const convOps: RefOpTable = {
  im2col(a, data) {
    const x = data(a.x), col = data(a.col);
    im2colLoop(a.shape, (c, xi) => { col[c] = xi < 0 ? 0 : x[xi]; });
  },
  col2im(a, data) {
    const col = data(a.col), x = data(a.x);
    const acc = new Float64Array(a.shape.n * a.shape.h * a.shape.w * a.shape.cin);
    im2colLoop(a.shape, (c, xi) => { if (xi >= 0) acc[xi] += col[c]; });
    x.set(acc);
  },
  conv2d_forward(a, data) {
    data(a.y).set(conv2dForwardF64(data(a.x), data(a.w), a.bias ? data(a.bias) : undefined, a.shape, !!a.relu));
  },
  conv2d_backward_data(a, data) {
    data(a.dx).set(conv2dBackwardDataF64(data(a.dy), data(a.w), a.shape));
  },
  conv2d_backward_filter(a, data) {
    const { dw, db } = conv2dBackwardFilterF64(data(a.x), data(a.dy), a.shape);
    const dwOut = data(a.dw);
    // beta 0 overwrites even NaN, as every accumulate-style kernel does.
    for (let i = 0; i < dw.length; i++) dwOut[i] = a.beta === 0 ? dw[i] : a.beta * dwOut[i] + dw[i];
    if (a.db) {
      const dbOut = data(a.db);
      for (let i = 0; i < db.length; i++) dbOut[i] = a.beta === 0 ? db[i] : a.beta * dbOut[i] + db[i];
    }
  },
};
