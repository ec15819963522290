// Batch norm and LRN over [rows, c] (NHWC, channels innermost): f32x4 over channels. Batch-norm statistics
// are per-thread float64 partials over row ranges (f32 within tiles of <= 64 rows), combined on one thread.

// @ts-ignore: decorator
@inline function addF32x4ToF64(p: usize, acc: v128): void {
  v128.store(p, f64x2.add(v128.load(p), f64x2.promote_low_f32x4(acc)));
  v128.store(p + 16, f64x2.add(v128.load(p + 16), f64x2.promote_low_f32x4(i32x4.shuffle(acc, acc, 2, 3, 0, 1))));
}
// @ts-ignore: decorator
@inline function tileRows(c: i32): i32 {
  let t = 16384 / c;
  if (t < 1) t = 1;
  if (t > 64) t = 64;
  return t;
}

/** out[ch] (f64) = sum over `rows` rows of (x[r,ch] - mean[ch])^2, or of x[r,ch] when mean is 0 (null).
 *  Within a tile, 16 channels at a time: eight independent f32x4 sums (4 channels x even/odd rows), so the
 *  adds overlap instead of waiting on one another (the strided tile walk, not the adds, is the limit then). */
export function norm_bn_f32_stats_partial(x: usize, rows: i32, c: i32, mean: usize, out: usize): void {
  memory.fill(out, 0, <usize>c << 3);
  const tile = tileRows(c);
  const stride = <usize>c << 2;
  const centred = mean != 0;
  for (let r0 = 0; r0 < rows; r0 += tile) {
    const nr = min(tile, rows - r0);
    const base = x + <usize>r0 * stride;
    let ch = 0;
    for (; ch + 16 <= c; ch += 16) {
      const o = <usize>ch << 2;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      let p = base + o;
      let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
      let r = 0;
      if (centred) {
        const m0 = v128.load(mean + o), m1 = v128.load(mean + o, 16), m2 = v128.load(mean + o, 32), m3 = v128.load(mean + o, 48);
        for (; r + 2 <= nr; r += 2, p += stride << 1) {
          const q = p + stride;
          const d0 = f32x4.sub(v128.load(p), m0), d1 = f32x4.sub(v128.load(p, 16), m1);
          const d2 = f32x4.sub(v128.load(p, 32), m2), d3 = f32x4.sub(v128.load(p, 48), m3);
          a0 = f32x4.add(a0, f32x4.mul(d0, d0)); a1 = f32x4.add(a1, f32x4.mul(d1, d1));
          a2 = f32x4.add(a2, f32x4.mul(d2, d2)); a3 = f32x4.add(a3, f32x4.mul(d3, d3));
          const e0 = f32x4.sub(v128.load(q), m0), e1 = f32x4.sub(v128.load(q, 16), m1);
          const e2 = f32x4.sub(v128.load(q, 32), m2), e3 = f32x4.sub(v128.load(q, 48), m3);
          b0 = f32x4.add(b0, f32x4.mul(e0, e0)); b1 = f32x4.add(b1, f32x4.mul(e1, e1));
          b2 = f32x4.add(b2, f32x4.mul(e2, e2)); b3 = f32x4.add(b3, f32x4.mul(e3, e3));
        }
        if (r < nr) {
          const d0 = f32x4.sub(v128.load(p), m0), d1 = f32x4.sub(v128.load(p, 16), m1);
          const d2 = f32x4.sub(v128.load(p, 32), m2), d3 = f32x4.sub(v128.load(p, 48), m3);
          a0 = f32x4.add(a0, f32x4.mul(d0, d0)); a1 = f32x4.add(a1, f32x4.mul(d1, d1));
          a2 = f32x4.add(a2, f32x4.mul(d2, d2)); a3 = f32x4.add(a3, f32x4.mul(d3, d3));
        }
      } else {
        for (; r + 2 <= nr; r += 2, p += stride << 1) {
          const q = p + stride;
          a0 = f32x4.add(a0, v128.load(p)); a1 = f32x4.add(a1, v128.load(p, 16));
          a2 = f32x4.add(a2, v128.load(p, 32)); a3 = f32x4.add(a3, v128.load(p, 48));
          b0 = f32x4.add(b0, v128.load(q)); b1 = f32x4.add(b1, v128.load(q, 16));
          b2 = f32x4.add(b2, v128.load(q, 32)); b3 = f32x4.add(b3, v128.load(q, 48));
        }
        if (r < nr) {
          a0 = f32x4.add(a0, v128.load(p)); a1 = f32x4.add(a1, v128.load(p, 16));
          a2 = f32x4.add(a2, v128.load(p, 32)); a3 = f32x4.add(a3, v128.load(p, 48));
        }
      }
      a0 = f32x4.add(a0, b0); a1 = f32x4.add(a1, b1); a2 = f32x4.add(a2, b2); a3 = f32x4.add(a3, b3);
      const q = out + (<usize>ch << 3);
      addF32x4ToF64(q, a0); addF32x4ToF64(q + 32, a1); addF32x4ToF64(q + 64, a2); addF32x4ToF64(q + 96, a3);
    }
    for (; ch + 4 <= c; ch += 4) {
      const o = <usize>ch << 2;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
      let p = base + o;
      let r = 0;
      if (centred) {
        const m = v128.load(mean + o);
        for (; r + 2 <= nr; r += 2, p += stride << 1) {
          const d0 = f32x4.sub(v128.load(p), m), d1 = f32x4.sub(v128.load(p + stride), m);
          a0 = f32x4.add(a0, f32x4.mul(d0, d0));
          a1 = f32x4.add(a1, f32x4.mul(d1, d1));
        }
        if (r < nr) { const d0 = f32x4.sub(v128.load(p), m); a0 = f32x4.add(a0, f32x4.mul(d0, d0)); }
      } else {
        for (; r + 2 <= nr; r += 2, p += stride << 1) {
          a0 = f32x4.add(a0, v128.load(p));
          a1 = f32x4.add(a1, v128.load(p + stride));
        }
        if (r < nr) a0 = f32x4.add(a0, v128.load(p));
      }
      addF32x4ToF64(out + (<usize>ch << 3), f32x4.add(a0, a1));
    }
    for (; ch < c; ch++) {
      const m: f32 = centred ? load<f32>(mean + (<usize>ch << 2)) : 0;
      let s: f32 = 0;
      let p = base + (<usize>ch << 2);
      for (let r = 0; r < nr; r++, p += stride) {
        const d = load<f32>(p) - m;
        s += centred ? d * d : d;
      }
      const q = out + (<usize>ch << 3);
      store<f64>(q, load<f64>(q) + <f64>s);
    }
  }
}

/** mean[ch] (f32) = sum of the `parts` partials (f64, `c` each, consecutive) / rows. */
export function norm_bn_f32_mean_combine(part: usize, parts: i32, c: i32, rows: i32, mean: usize): void {
  for (let ch = 0; ch < c; ch++) {
    let s: f64 = 0;
    for (let t = 0; t < parts; t++) s += load<f64>(part + ((<usize>t * <usize>c + <usize>ch) << 3));
    store<f32>(mean + (<usize>ch << 2), <f32>(s / <f64>rows));
  }
}

/** From the squared-deviation partials: invstd, running statistics (torch: unbiased variance for runVar),
 *  and scale[ch] = gamma*invstd for the apply pass. */
export function norm_bn_f32_train_finalize(part: usize, parts: i32, c: i32, rows: i32, gamma: usize, mean: usize,
  invstd: usize, runMean: usize, runVar: usize, momentum: f64, eps: f64, scale: usize): void {
  for (let ch = 0; ch < c; ch++) {
    let s: f64 = 0;
    for (let t = 0; t < parts; t++) s += load<f64>(part + ((<usize>t * <usize>c + <usize>ch) << 3));
    const o = <usize>ch << 2;
    const is = 1 / Math.sqrt(s / <f64>rows + eps);
    store<f32>(invstd + o, <f32>is);
    store<f32>(scale + o, <f32>(is * <f64>load<f32>(gamma + o)));
    store<f32>(runMean + o, <f32>((1 - momentum) * <f64>load<f32>(runMean + o) + momentum * <f64>load<f32>(mean + o)));
    store<f32>(runVar + o, <f32>((1 - momentum) * <f64>load<f32>(runVar + o) + momentum * (s / <f64>(rows - 1))));
  }
}

/** Eval mode: scale[ch] = gamma / sqrt(runVar + eps). */
export function norm_bn_f32_eval_scale(c: i32, gamma: usize, runVar: usize, eps: f64, scale: usize): void {
  for (let ch = 0; ch < c; ch++) {
    const o = <usize>ch << 2;
    store<f32>(scale + o, <f32>(<f64>load<f32>(gamma + o) / Math.sqrt(<f64>load<f32>(runVar + o) + eps)));
  }
}

/** y = (x - mean) * scale + beta over `rows` rows (x and y may alias). */
export function norm_bn_f32_apply(x: usize, y: usize, rows: i32, c: i32, mean: usize, scale: usize, beta: usize): void {
  const stride = <usize>c << 2;
  for (let r = 0; r < rows; r++) {
    const px = x + <usize>r * stride, py = y + <usize>r * stride;
    let ch = 0;
    for (; ch + 4 <= c; ch += 4) {
      const o = <usize>ch << 2;
      const d = f32x4.sub(v128.load(px + o), v128.load(mean + o));
      v128.store(py + o, f32x4.add(f32x4.mul(d, v128.load(scale + o)), v128.load(beta + o)));
    }
    for (; ch < c; ch++) {
      const o = <usize>ch << 2;
      store<f32>(py + o, (load<f32>(px + o) - load<f32>(mean + o)) * load<f32>(scale + o) + load<f32>(beta + o));
    }
  }
}

/** out[0..c) (f64) = sum dy, out[c..2c) = sum dy * (x - mean), over `rows` rows. */
export function norm_bn_f32_backward_partial(x: usize, dy: usize, rows: i32, c: i32, mean: usize, out: usize): void {
  memory.fill(out, 0, <usize>c << 4);
  const tile = tileRows(c);
  const stride = <usize>c << 2;
  const out2 = out + (<usize>c << 3);
  for (let r0 = 0; r0 < rows; r0 += tile) {
    const nr = min(tile, rows - r0);
    const off = <usize>r0 * stride;
    let ch = 0;
    for (; ch + 8 <= c; ch += 8) { // 8 channels: four independent sums
      const o = <usize>ch << 2;
      const ma = v128.load(mean + o), mb = v128.load(mean + o, 16);
      let s0 = f32x4.splat(0), s1 = f32x4.splat(0), t0 = f32x4.splat(0), t1 = f32x4.splat(0);
      let px = x + off + o, pg = dy + off + o;
      for (let r = 0; r < nr; r++, px += stride, pg += stride) {
        const g = v128.load(pg), h = v128.load(pg, 16);
        s0 = f32x4.add(s0, g);
        t0 = f32x4.add(t0, h);
        s1 = f32x4.add(s1, f32x4.mul(g, f32x4.sub(v128.load(px), ma)));
        t1 = f32x4.add(t1, f32x4.mul(h, f32x4.sub(v128.load(px, 16), mb)));
      }
      addF32x4ToF64(out + (<usize>ch << 3), s0);
      addF32x4ToF64(out + (<usize>ch << 3) + 32, t0);
      addF32x4ToF64(out2 + (<usize>ch << 3), s1);
      addF32x4ToF64(out2 + (<usize>ch << 3) + 32, t1);
    }
    for (; ch + 4 <= c; ch += 4) {
      const o = <usize>ch << 2;
      const m = v128.load(mean + o);
      let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
      let px = x + off + o, pg = dy + off + o;
      for (let r = 0; r < nr; r++, px += stride, pg += stride) {
        const g = v128.load(pg);
        s0 = f32x4.add(s0, g);
        s1 = f32x4.add(s1, f32x4.mul(g, f32x4.sub(v128.load(px), m)));
      }
      addF32x4ToF64(out + (<usize>ch << 3), s0);
      addF32x4ToF64(out2 + (<usize>ch << 3), s1);
    }
    for (; ch < c; ch++) {
      const o = <usize>ch << 2;
      const m = load<f32>(mean + o);
      let s0: f32 = 0, s1: f32 = 0;
      let px = x + off + o, pg = dy + off + o;
      for (let r = 0; r < nr; r++, px += stride, pg += stride) {
        const g = load<f32>(pg);
        s0 += g;
        s1 += g * (load<f32>(px) - m);
      }
      const q = out + (<usize>ch << 3), q2 = out2 + (<usize>ch << 3);
      store<f64>(q, load<f64>(q) + <f64>s0);
      store<f64>(q2, load<f64>(q2) + <f64>s1);
    }
  }
}

/** Combines the backward partials (2c f64 each, consecutive): dbeta, dgamma (accumulate 0 overwrites) and
 *  coef = [A, M, K] (3c f32) for dx = A * ((dy - M) - (x - mean) * K). */
export function norm_bn_f32_backward_finalize(part: usize, parts: i32, c: i32, rows: i32, gamma: usize, invstd: usize,
  dgamma: usize, dbeta: usize, accumulate: f64, coef: usize): void {
  const c2 = <usize>c << 1;
  for (let ch = 0; ch < c; ch++) {
    let sdy: f64 = 0, sdx: f64 = 0;
    for (let t = 0; t < parts; t++) {
      const p = part + ((<usize>t * c2 + <usize>ch) << 3);
      sdy += load<f64>(p);
      sdx += load<f64>(p + (<usize>c << 3));
    }
    const o = <usize>ch << 2;
    const is = <f64>load<f32>(invstd + o);
    const sdyxhat = sdx * is;
    const db = accumulate == 0 ? sdy : accumulate * <f64>load<f32>(dbeta + o) + sdy;
    const dg = accumulate == 0 ? sdyxhat : accumulate * <f64>load<f32>(dgamma + o) + sdyxhat;
    store<f32>(dbeta + o, <f32>db);
    store<f32>(dgamma + o, <f32>dg);
    store<f32>(coef + o, <f32>(<f64>load<f32>(gamma + o) * is));
    store<f32>(coef + (<usize>c << 2) + o, <f32>(sdy / <f64>rows));
    store<f32>(coef + (<usize>c << 3) + o, <f32>(is * sdyxhat / <f64>rows));
  }
}

/** dx = A * ((dy - M) - (x - mean) * K) over `rows` rows (dx may alias dy). */
export function norm_bn_f32_backward_apply(x: usize, dy: usize, dx: usize, rows: i32, c: i32, mean: usize, coef: usize): void {
  const stride = <usize>c << 2;
  const pa = coef, pm = coef + stride, pk = coef + (stride << 1);
  for (let r = 0; r < rows; r++) {
    const off = <usize>r * stride;
    let ch = 0;
    for (; ch + 4 <= c; ch += 4) {
      const o = <usize>ch << 2;
      const d = f32x4.sub(v128.load(x + off + o), v128.load(mean + o));
      const t = f32x4.sub(f32x4.sub(v128.load(dy + off + o), v128.load(pm + o)), f32x4.mul(d, v128.load(pk + o)));
      v128.store(dx + off + o, f32x4.mul(v128.load(pa + o), t));
    }
    for (; ch < c; ch++) {
      const o = <usize>ch << 2;
      const d = load<f32>(x + off + o) - load<f32>(mean + o);
      store<f32>(dx + off + o, load<f32>(pa + o) * ((load<f32>(dy + off + o) - load<f32>(pm + o)) - d * load<f32>(pk + o)));
    }
  }
}

// @ts-ignore: decorator
@inline function powNegBeta(s: v128, beta: f32, b75: bool): v128 {
  if (b75) { // s^-0.75 = 1 / (sqrt(s) * sqrt(sqrt(s))): AlexNet's constant, without a scalar pow per lane
    const r = f32x4.sqrt(s);
    return f32x4.div(f32x4.splat(1), f32x4.mul(r, f32x4.sqrt(r)));
  }
  return f32x4(Mathf.pow(f32x4.extract_lane(s, 0), -beta), Mathf.pow(f32x4.extract_lane(s, 1), -beta),
    Mathf.pow(f32x4.extract_lane(s, 2), -beta), Mathf.pow(f32x4.extract_lane(s, 3), -beta));
}
// @ts-ignore: decorator
@inline function powNegBetaScalar(s: f32, beta: f32, b75: bool): f32 {
  if (b75) { const r = Mathf.sqrt(s); return 1 / (r * Mathf.sqrt(r)); }
  return Mathf.pow(s, -beta);
}

/** LRN forward over `rows` rows: scale = k + aos * (sum of x^2 over channels [i-lo, i+hi]), y = x * scale^-beta.
 *  tmp: scratch of (c + lo + hi + 4) floats for this thread. */
export function norm_lrn_f32_forward(x: usize, y: usize, scale: usize, rows: i32, c: i32, lo: i32, hi: i32,
  aos: f32, beta: f32, k: f32, tmp: usize): void {
  const stride = <usize>c << 2;
  const win = lo + hi + 1;
  const b75 = beta == 0.75;
  memory.fill(tmp, 0, <usize>(c + lo + hi + 4) << 2);
  const sq = tmp + (<usize>lo << 2);
  const kv = f32x4.splat(k), av = f32x4.splat(aos);
  for (let r = 0; r < rows; r++) {
    const off = <usize>r * stride;
    let i = 0;
    for (; i + 4 <= c; i += 4) { const v = v128.load(x + off + (<usize>i << 2)); v128.store(sq + (<usize>i << 2), f32x4.mul(v, v)); }
    for (; i < c; i++) { const v = load<f32>(x + off + (<usize>i << 2)); store<f32>(sq + (<usize>i << 2), v * v); }
    i = 0;
    for (; i + 4 <= c; i += 4) {
      let s = f32x4.splat(0);
      let p = tmp + (<usize>i << 2);
      for (let d = 0; d < win; d++, p += 4) s = f32x4.add(s, v128.load(p));
      const sc = f32x4.add(kv, f32x4.mul(av, s));
      const o = off + (<usize>i << 2);
      v128.store(scale + o, sc);
      v128.store(y + o, f32x4.mul(v128.load(x + o), powNegBeta(sc, beta, b75)));
    }
    for (; i < c; i++) {
      let s: f32 = 0;
      let p = tmp + (<usize>i << 2);
      for (let d = 0; d < win; d++, p += 4) s += load<f32>(p);
      const sc = k + aos * s;
      const o = off + (<usize>i << 2);
      store<f32>(scale + o, sc);
      store<f32>(y + o, load<f32>(x + o) * powNegBetaScalar(sc, beta, b75));
    }
  }
}

/** LRN backward: dx_i = dy_i * scale_i^-beta - coef * x_i * sum_{j: i in window(j)} dy_j y_j / scale_j,
 *  coef = 2*alpha*beta/size; window(j) = [j-lo, j+hi], so j runs over [i-hi, i+lo]. dx may alias dy. */
export function norm_lrn_f32_backward(x: usize, y: usize, scale: usize, dy: usize, dx: usize, rows: i32, c: i32,
  lo: i32, hi: i32, coef: f32, beta: f32, tmp: usize): void {
  const stride = <usize>c << 2;
  const win = lo + hi + 1;
  const b75 = beta == 0.75;
  memory.fill(tmp, 0, <usize>(c + lo + hi + 4) << 2);
  const t = tmp + (<usize>hi << 2);
  const cv = f32x4.splat(coef);
  for (let r = 0; r < rows; r++) {
    const off = <usize>r * stride;
    let i = 0;
    for (; i + 4 <= c; i += 4) {
      const o = off + (<usize>i << 2);
      v128.store(t + (<usize>i << 2), f32x4.div(f32x4.mul(v128.load(dy + o), v128.load(y + o)), v128.load(scale + o)));
    }
    for (; i < c; i++) {
      const o = off + (<usize>i << 2);
      store<f32>(t + (<usize>i << 2), load<f32>(dy + o) * load<f32>(y + o) / load<f32>(scale + o));
    }
    i = 0;
    for (; i + 4 <= c; i += 4) {
      let s = f32x4.splat(0);
      let p = tmp + (<usize>i << 2);
      for (let d = 0; d < win; d++, p += 4) s = f32x4.add(s, v128.load(p));
      const o = off + (<usize>i << 2);
      const g = f32x4.mul(v128.load(dy + o), powNegBeta(v128.load(scale + o), beta, b75));
      v128.store(dx + o, f32x4.sub(g, f32x4.mul(cv, f32x4.mul(v128.load(x + o), s))));
    }
    for (; i < c; i++) {
      let s: f32 = 0;
      let p = tmp + (<usize>i << 2);
      for (let d = 0; d < win; d++, p += 4) s += load<f32>(p);
      const o = off + (<usize>i << 2);
      store<f32>(dx + o, load<f32>(dy + o) * powNegBetaScalar(load<f32>(scale + o), beta, b75) - coef * (load<f32>(x + o) * s));
    }
  }
}
