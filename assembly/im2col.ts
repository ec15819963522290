// im2col / col2im over NHWC for any kernel size, stride and padding, over a range of rows so the operator
// can split them across threads and chunk big layers through a bounded workspace; plus the column sums
// (bias gradient) and zero fill the conv operators need.

/** col[r - rowStart][(ky*kw + kx)*cin + ci] for output pixels r in [rowStart, rowEnd), zero in the padding. */
export function im2col_f32_nhwc(x: usize, col: usize, h: i32, w: i32, cin: i32, kh: i32, kw: i32, stride: i32, pad: i32,
  oh: i32, ow: i32, rowStart: i32, rowEnd: i32): void {
  const cs = <usize>cin * 4;
  const rowBytes = <usize>kh * <usize>kw * cs;
  for (let r = rowStart; r < rowEnd; r++) {
    const b = r / (oh * ow), rem = r % (oh * ow);
    const oy = rem / ow, ox = rem % ow;
    const dst = col + <usize>(r - rowStart) * rowBytes;
    // ix = ox*stride - pad + kx moves by one pixel per kx whatever the stride: valid taps are one contiguous run.
    const ix0 = ox * stride - pad;
    const kx0 = max(0, -ix0), kx1 = min(kw, w - ix0);
    for (let ky = 0; ky < kh; ky++) {
      const iy = oy * stride - pad + ky;
      const d = dst + <usize>ky * <usize>kw * cs;
      if (iy < 0 || iy >= h || kx1 <= kx0) { memory.fill(d, 0, <usize>kw * cs); continue; }
      if (kx0 > 0) memory.fill(d, 0, <usize>kx0 * cs);
      const src = x + ((<usize>b * <usize>h + <usize>iy) * <usize>w + <usize>(ix0 + kx0)) * cs;
      memory.copy(d + <usize>kx0 * cs, src, <usize>(kx1 - kx0) * cs);
      if (kx1 < kw) memory.fill(d + <usize>kx1 * cs, 0, <usize>(kw - kx1) * cs);
    }
  }
}

/** Adjoint of im2col by gathering: for input pixels p in [pixStart, pixEnd), x[p] (+)= the col entries of rows
 *  [rowStart, rowEnd) that read it (col holds those rows only). Pixels, not rows, are split across threads,
 *  so no two threads write the same element. accumulate 0 overwrites. */
export function im2col_col2im_f32_nhwc(col: usize, x: usize, h: i32, w: i32, cin: i32, kh: i32, kw: i32, stride: i32,
  pad: i32, oh: i32, ow: i32, rowStart: i32, rowEnd: i32, pixStart: i32, pixEnd: i32, accumulate: i32): void {
  const cs = <usize>cin * 4;
  const rowBytes = <usize>kh * <usize>kw * cs;
  for (let p = pixStart; p < pixEnd; p++) {
    const b = p / (h * w), rem = p % (h * w);
    const iy = rem / w, ix = rem % w;
    const dst = x + <usize>p * cs;
    if (!accumulate) memory.fill(dst, 0, cs);
    for (let ky = 0; ky < kh; ky++) {
      const ty = iy + pad - ky;
      if (ty < 0 || ty % stride != 0) continue;
      const oy = ty / stride;
      if (oy >= oh) continue;
      for (let kx = 0; kx < kw; kx++) {
        const tx = ix + pad - kx;
        if (tx < 0 || tx % stride != 0) continue;
        const ox = tx / stride;
        if (ox >= ow) continue;
        const r = (b * oh + oy) * ow + ox;
        if (r < rowStart || r >= rowEnd) continue;
        const src = col + <usize>(r - rowStart) * rowBytes + <usize>(ky * kw + kx) * cs;
        let c = 0;
        for (; c + 4 <= cin; c += 4) {
          const o = <usize>c * 4;
          v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
        }
        for (; c < cin; c++) {
          const o = <usize>c * 4;
          store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
        }
      }
    }
  }
}

/** db[c] = beta*db[c] + sum over rows of dy[r][c], for c in [colStart, colEnd). Sixteen columns (one cache line)
 *  at a time down all rows, summed in blocks of 256 rows so the float32 sum stays accurate. */
export function im2col_colsum_f32(dy: usize, db: usize, rows: i32, cols: i32, colStart: i32, colEnd: i32, beta: f32): void {
  const rs = <usize>cols * 4;
  let c = colStart;
  for (; c + 16 <= colEnd; c += 16) {
    let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
    for (let r0 = 0; r0 < rows; r0 += 256) {
      let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      const r1 = min(rows, r0 + 256);
      for (let r = r0; r < r1; r++) {
        const p = dy + <usize>r * rs + <usize>c * 4;
        a0 = f32x4.add(a0, v128.load(p)); a1 = f32x4.add(a1, v128.load(p + 16));
        a2 = f32x4.add(a2, v128.load(p + 32)); a3 = f32x4.add(a3, v128.load(p + 48));
      }
      s0 = f32x4.add(s0, a0); s1 = f32x4.add(s1, a1); s2 = f32x4.add(s2, a2); s3 = f32x4.add(s3, a3);
    }
    const d = db + <usize>c * 4;
    if (beta != 0) {
      const vb = f32x4.splat(beta);
      s0 = f32x4.add(s0, f32x4.mul(v128.load(d), vb)); s1 = f32x4.add(s1, f32x4.mul(v128.load(d + 16), vb));
      s2 = f32x4.add(s2, f32x4.mul(v128.load(d + 32), vb)); s3 = f32x4.add(s3, f32x4.mul(v128.load(d + 48), vb));
    }
    v128.store(d, s0); v128.store(d + 16, s1); v128.store(d + 32, s2); v128.store(d + 48, s3);
  }
  for (; c < colEnd; c++) {
    let s: f32 = 0;
    for (let r0 = 0; r0 < rows; r0 += 256) {
      let a: f32 = 0;
      const r1 = min(rows, r0 + 256);
      for (let r = r0; r < r1; r++) a += load<f32>(dy + <usize>r * rs + <usize>c * 4);
      s += a;
    }
    const d = db + <usize>c * 4;
    store<f32>(d, beta != 0 ? s + beta * load<f32>(d) : s);
  }
}

/** Zero `bytes` bytes at p (the operators split big fills across threads). */
export function im2col_zero_f32(p: usize, bytes: usize): void {
  memory.fill(p, 0, bytes);
}
