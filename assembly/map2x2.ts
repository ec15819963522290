// Transforms of the minimal-multiplication 3x3 convolution on a 2x2 map (pad 1, stride 1): algorithm
// winograd_map2x2, the tile GEMMs between them are gemm_f32.
//
// On a 2-wide map with pad 1, each output of a 3-tap row reads two taps: y0 = x0 w1 + x1 w2,
// y1 = x0 w0 + x1 w1, a 2x2 Toeplitz product, which takes 3 multiplies instead of 4:
//   d = B^T x = (x0 + x1, x1, x0),  g = G w = (w1, w2 - w1, w0 - w1),  y = A^T (d .* g) = (m0 + m1, m0 + m2).
// Nested over rows and columns, a 2x2 output tile takes 9 products instead of im2col's 16 non-zero ones,
// and over channels each product is one GEMM (n x cin x cout). Layouts (elements, positions j*3 + l,
// posStride apart):  U [9][cin][cout] = G w G^T,  D [9][n][cin] = B^T x B,  M [9][n][cout].
// The data gradient runs the transposed algorithm (dM = A dY A^T, dD = dM U^T, dx = B dD B^T), the filter
// gradient dU = D^T dM, dw = G^T dU G. Vectorised over channels (f32x4), tails through partial lanes.

// @ts-ignore: decorator
@inline function ld(p: usize, n: i32): v128 {
  if (n >= 4) return v128.load(p);
  let v = f32x4.splat(0);
  v = v128.load32_lane(p, v, 0);
  if (n > 1) v = v128.load32_lane(p + 4, v, 1);
  if (n > 2) v = v128.load32_lane(p + 8, v, 2);
  return v;
}

// @ts-ignore: decorator
@inline function st(p: usize, v: v128, n: i32): void {
  if (n >= 4) { v128.store(p, v); return; }
  v128.store32_lane(p, v, 0);
  if (n > 1) v128.store32_lane(p + 4, v, 1);
  if (n > 2) v128.store32_lane(p + 8, v, 2);
}

/** U[j*3+l][ci][co..co+n) = (G w G^T)[j][l] for one vector of output channels; tap (ky, kx) of w at
 *  src + (ky*3 + kx) * tap bytes. */
// @ts-ignore: decorator
@inline function filterVec(src: usize, tap: usize, dst: usize, pos: usize, n: i32): void {
  // Rows of G w (over ky), for each kx: r0 = w1, r1 = w2 - w1, r2 = w0 - w1.
  const w00 = ld(src, n), w01 = ld(src + tap, n), w02 = ld(src + 2 * tap, n);
  const w10 = ld(src + 3 * tap, n), w11 = ld(src + 4 * tap, n), w12 = ld(src + 5 * tap, n);
  const w20 = ld(src + 6 * tap, n), w21 = ld(src + 7 * tap, n), w22 = ld(src + 8 * tap, n);
  const r00 = w10, r01 = w11, r02 = w12;
  const r10 = f32x4.sub(w20, w10), r11 = f32x4.sub(w21, w11), r12 = f32x4.sub(w22, w12);
  const r20 = f32x4.sub(w00, w10), r21 = f32x4.sub(w01, w11), r22 = f32x4.sub(w02, w12);
  // Columns (over kx) of each row.
  st(dst, r01, n); st(dst + pos, f32x4.sub(r02, r01), n); st(dst + 2 * pos, f32x4.sub(r00, r01), n);
  st(dst + 3 * pos, r11, n); st(dst + 4 * pos, f32x4.sub(r12, r11), n); st(dst + 5 * pos, f32x4.sub(r10, r11), n);
  st(dst + 6 * pos, r21, n); st(dst + 7 * pos, f32x4.sub(r22, r21), n); st(dst + 8 * pos, f32x4.sub(r20, r21), n);
}

/** U = G w G^T for input channels [ci0, ci1); w HWIO [3][3][cin][cout]. */
export function map2x2_filter_transform(w: usize, u: usize, cin: i32, cout: i32, ci0: i32, ci1: i32, posStride: i32): void {
  const tap = <usize>cin * <usize>cout * 4, pos = <usize>posStride * 4;
  for (let ci = ci0; ci < ci1; ci++) {
    const base = <usize>ci * <usize>cout * 4;
    let co = 0;
    for (; co + 4 <= cout; co += 4) filterVec(w + base + (<usize>co << 2), tap, u + base + (<usize>co << 2), pos, 4);
    if (co < cout) filterVec(w + base + (<usize>co << 2), tap, u + base + (<usize>co << 2), pos, cout - co);
  }
}

/** dw = beta dw + G^T dU G for input channels [ci0, ci1) (dU laid out as U); beta 0 never reads dw. */
export function map2x2_filter_adjoint(du: usize, dw: usize, cin: i32, cout: i32, ci0: i32, ci1: i32, posStride: i32, beta: f32): void {
  const tap = <usize>cin * <usize>cout * 4, pos = <usize>posStride * 4;
  for (let ci = ci0; ci < ci1; ci++) {
    const base = <usize>ci * <usize>cout * 4;
    for (let co = 0; co < cout; co += 4) {
      const n = min(4, cout - co);
      const s = du + base + (<usize>co << 2), d = dw + base + (<usize>co << 2);
      // G^T maps (g0, g1, g2) to (w0, w1, w2) = (g2, g0 - g1 - g2, g1): rows (over j) first.
      const u00 = ld(s, n), u01 = ld(s + pos, n), u02 = ld(s + 2 * pos, n);
      const u10 = ld(s + 3 * pos, n), u11 = ld(s + 4 * pos, n), u12 = ld(s + 5 * pos, n);
      const u20 = ld(s + 6 * pos, n), u21 = ld(s + 7 * pos, n), u22 = ld(s + 8 * pos, n);
      const a00 = u20, a01 = u21, a02 = u22;
      const a10 = f32x4.sub(f32x4.sub(u00, u10), u20), a11 = f32x4.sub(f32x4.sub(u01, u11), u21), a12 = f32x4.sub(f32x4.sub(u02, u12), u22);
      const a20 = u10, a21 = u11, a22 = u12;
      const vb = f32x4.splat(beta);
      for (let ky = 0; ky < 3; ky++) {
        const c0 = ky == 0 ? a00 : ky == 1 ? a10 : a20;
        const c1 = ky == 0 ? a01 : ky == 1 ? a11 : a21;
        const c2 = ky == 0 ? a02 : ky == 1 ? a12 : a22;
        const o = d + <usize>(ky * 3) * tap;
        let w0 = c2, w1 = f32x4.sub(f32x4.sub(c0, c1), c2), w2 = c1;
        if (beta != 0) {
          w0 = f32x4.add(w0, f32x4.mul(vb, ld(o, n)));
          w1 = f32x4.add(w1, f32x4.mul(vb, ld(o + tap, n)));
          w2 = f32x4.add(w2, f32x4.mul(vb, ld(o + 2 * tap, n)));
        }
        st(o, w0, n); st(o + tap, w1, n); st(o + 2 * tap, w2, n);
      }
    }
  }
}

/** D = B^T x B for images [i0, i1) of x (n x 2 x 2 x c): D[j*3+l][i][ci]. */
export function map2x2_input_transform(x: usize, d: usize, c: i32, i0: i32, i1: i32, posStride: i32): void {
  const px = <usize>c * 4, pos = <usize>posStride * 4;
  for (let i = i0; i < i1; i++) {
    const src = x + <usize>i * 4 * px, dst = d + <usize>i * px;
    for (let ci = 0; ci < c; ci += 4) {
      const n = min(4, c - ci), o = <usize>ci << 2;
      const x00 = ld(src + o, n), x01 = ld(src + px + o, n), x10 = ld(src + 2 * px + o, n), x11 = ld(src + 3 * px + o, n);
      // Rows: (x_r0 + x_r1, x_r1, x_r0), then the same over columns.
      const s0 = f32x4.add(x00, x10), s1 = f32x4.add(x01, x11);
      const q = dst + o;
      st(q, f32x4.add(s0, s1), n); st(q + pos, s1, n); st(q + 2 * pos, s0, n);
      st(q + 3 * pos, f32x4.add(x10, x11), n); st(q + 4 * pos, x11, n); st(q + 5 * pos, x10, n);
      st(q + 6 * pos, f32x4.add(x00, x01), n); st(q + 7 * pos, x01, n); st(q + 8 * pos, x00, n);
    }
  }
}

/** dx = B dD B^T for images [i0, i1) (overwrites dx, n x 2 x 2 x c); dD laid out as D. */
export function map2x2_input_adjoint(dd: usize, dx: usize, c: i32, i0: i32, i1: i32, posStride: i32): void {
  const px = <usize>c * 4, pos = <usize>posStride * 4;
  for (let i = i0; i < i1; i++) {
    const src = dd + <usize>i * px, dst = dx + <usize>i * 4 * px;
    for (let ci = 0; ci < c; ci += 4) {
      const n = min(4, c - ci), o = <usize>ci << 2, s = src + o;
      // B maps (d0, d1, d2) to (x0, x1) = (d0 + d2, d0 + d1): rows (over j) first, then columns.
      const e00 = ld(s, n), e01 = ld(s + pos, n), e02 = ld(s + 2 * pos, n);
      const e10 = ld(s + 3 * pos, n), e11 = ld(s + 4 * pos, n), e12 = ld(s + 5 * pos, n);
      const e20 = ld(s + 6 * pos, n), e21 = ld(s + 7 * pos, n), e22 = ld(s + 8 * pos, n);
      const r00 = f32x4.add(e00, e20), r01 = f32x4.add(e01, e21), r02 = f32x4.add(e02, e22);
      const r10 = f32x4.add(e00, e10), r11 = f32x4.add(e01, e11), r12 = f32x4.add(e02, e12);
      st(dst + o, f32x4.add(r00, r02), n); st(dst + px + o, f32x4.add(r00, r01), n);
      st(dst + 2 * px + o, f32x4.add(r10, r12), n); st(dst + 3 * px + o, f32x4.add(r10, r11), n);
    }
  }
}

/** y = A^T M A (+ bias if flags bit 0, then ReLU if bit 1) for images [i0, i1) (n x 2 x 2 x c). */
export function map2x2_output_transform(mm: usize, y: usize, bias: usize, c: i32, i0: i32, i1: i32, posStride: i32, flags: i32): void {
  const px = <usize>c * 4, pos = <usize>posStride * 4;
  const relu = (flags & 2) != 0, zero = f32x4.splat(0);
  for (let i = i0; i < i1; i++) {
    const src = mm + <usize>i * px, dst = y + <usize>i * 4 * px;
    for (let co = 0; co < c; co += 4) {
      const n = min(4, c - co), o = <usize>co << 2, s = src + o;
      const vb = (flags & 1) != 0 ? ld(bias + o, n) : zero;
      // A^T maps (m0, m1, m2) to (m0 + m1, m0 + m2): rows, then columns.
      const m00 = ld(s, n), m01 = ld(s + pos, n), m02 = ld(s + 2 * pos, n);
      const m10 = ld(s + 3 * pos, n), m11 = ld(s + 4 * pos, n), m12 = ld(s + 5 * pos, n);
      const m20 = ld(s + 6 * pos, n), m21 = ld(s + 7 * pos, n), m22 = ld(s + 8 * pos, n);
      const b00 = f32x4.add(m00, m10), b01 = f32x4.add(m01, m11), b02 = f32x4.add(m02, m12);
      const b10 = f32x4.add(m00, m20), b11 = f32x4.add(m01, m21), b12 = f32x4.add(m02, m22);
      let y00 = f32x4.add(f32x4.add(b00, b01), vb), y01 = f32x4.add(f32x4.add(b00, b02), vb);
      let y10 = f32x4.add(f32x4.add(b10, b11), vb), y11 = f32x4.add(f32x4.add(b10, b12), vb);
      if (relu) { y00 = f32x4.max(y00, zero); y01 = f32x4.max(y01, zero); y10 = f32x4.max(y10, zero); y11 = f32x4.max(y11, zero); }
      st(dst + o, y00, n); st(dst + px + o, y01, n); st(dst + 2 * px + o, y10, n); st(dst + 3 * px + o, y11, n);
    }
  }
}

/** dM = A dY A^T for images [i0, i1) of dy (n x 2 x 2 x c), laid out as M. */
export function map2x2_output_adjoint(dy: usize, dm: usize, c: i32, i0: i32, i1: i32, posStride: i32): void {
  const px = <usize>c * 4, pos = <usize>posStride * 4;
  for (let i = i0; i < i1; i++) {
    const src = dy + <usize>i * 4 * px, dst = dm + <usize>i * px;
    for (let co = 0; co < c; co += 4) {
      const n = min(4, c - co), o = <usize>co << 2;
      const y00 = ld(src + o, n), y01 = ld(src + px + o, n), y10 = ld(src + 2 * px + o, n), y11 = ld(src + 3 * px + o, n);
      // A maps (y0, y1) to (y0 + y1, y0, y1): rows, then columns.
      const s0 = f32x4.add(y00, y10), s1 = f32x4.add(y01, y11);
      const q = dst + o;
      st(q, f32x4.add(s0, s1), n); st(q + pos, s0, n); st(q + 2 * pos, s1, n);
      st(q + 3 * pos, f32x4.add(y00, y01), n); st(q + 4 * pos, y00, n); st(q + 5 * pos, y01, n);
      st(q + 6 * pos, f32x4.add(y10, y11), n); st(q + 7 * pos, y10, n); st(q + 8 * pos, y11, n);
    }
  }
}
