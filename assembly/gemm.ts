// gemm kernels: packing, cache-blocked driver and the 6x8 / 5x8 f32x4 register-blocked micro-kernels (relaxed FMA or mul+add by build).
//
// C[m,n] = alpha * op(A) op(B) + beta * C (+ bias[n]) (ReLU), pointers in bytes, sizes and strides in elements.
// BLIS loop order: jc (nc columns, B panel packed once per kc block) > pc (kc depth) > ic (mc rows, A block
// packed) > jr (8-column B sliver, stays in L1) > ir (6-row A sliver, streamed from L2) > micro-kernel.
// The micro-kernel keeps a 6x8 tile of C in 12 f32x4 accumulators: with one B pair and one broadcast A
// value that is 15 of V8's 16 xmm registers, the shape ../shared/ENVIRONMENT.md measured fastest with FMA.
// The plain mul+add build needs one more register per product, so it runs the 5x8 kernel (the TS operator
// picks via the mrS argument; both kernels exist in both builds). A block whose height is not a multiple of
// the kernel's ends in 4-row tiles (gemm_f32_4x8) where that makes every tile full. At the end of the file: the
// row-table and k-table GEMMs of the small-map conv, whose rows lie anywhere in memory.

const MR: i32 = 6;
const NR: i32 = 8;

// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

// @ts-ignore: decorator
@inline function imin(a: i32, b: i32): i32 { return a < b ? a : b; }

/** Packs the mc x kc block of op(A) starting at `a` into MR-row slivers: dst[s][p][i] = op(A)(s*MR+i, p),
 *  rows past mc zero-filled so the micro-kernel always runs a full tile. */
export function gemm_pack_a(a: usize, lda: i32, transA: i32, mc: i32, kc: i32, dst: usize, mrS: i32): void {
  if (mrS != MR) { pack_a_any(a, lda, transA, mc, kc, dst, mrS); return; }
  const ld = <usize>lda << 2;
  for (let ir = 0; ir < mc; ir += MR) {
    const mr = imin(MR, mc - ir);
    if (transA) {
      // op(A)(i, p) = a[p*lda + i]: each p gives mr contiguous values.
      let src = a + (<usize>ir << 2);
      if (mr == MR) {
        for (let p = 0; p < kc; p++) {
          v128.store(dst, v128.load(src));
          store<u64>(dst, load<u64>(src, 16), 16);
          src += ld; dst += 24;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          let i = 0;
          for (; i < mr; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)));
          for (; i < MR; i++) store<f32>(dst + (<usize>i << 2), 0);
          src += ld; dst += 24;
        }
      }
    } else {
      // op(A)(i, p) = a[i*lda + p]: gather one column of mr rows per p; 4x4 transposes for full slivers.
      const r0 = a + <usize>ir * ld;
      if (mr == MR) {
        dst = pack_rows6(r0, r0 + ld, r0 + 2 * ld, r0 + 3 * ld, r0 + 4 * ld, r0 + 5 * ld, kc, dst);
      } else {
        for (let p = 0; p < kc; p++) {
          const o = <usize>p << 2;
          let i = 0;
          for (; i < mr; i++) store<f32>(dst + (<usize>i << 2), load<f32>(r0 + <usize>i * ld + o));
          for (; i < MR; i++) store<f32>(dst + (<usize>i << 2), 0);
          dst += 24;
        }
      }
    }
  }
}

/** Packs kc columns of the 6 rows at r0..r5 as one sliver at dst (dst[p][i] = row i, column p) and returns
 *  the end of the sliver: 4x4 transposes, 6 vectors per 4 columns. */
// @ts-ignore: decorator
@inline function pack_rows6(r0: usize, r1: usize, r2: usize, r3: usize, r4: usize, r5: usize, kc: i32, dst: usize): usize {
  let p = 0;
  for (; p + 4 <= kc; p += 4) {
    const o = <usize>p << 2;
    const x0 = v128.load(r0 + o), x1 = v128.load(r1 + o), x2 = v128.load(r2 + o), x3 = v128.load(r3 + o);
    const x4 = v128.load(r4 + o), x5 = v128.load(r5 + o);
    // Interleave rows pairwise: t01 = [r0p0 r1p0 r0p1 r1p1], etc.
    const t01l = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5), t01h = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
    const t23l = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5), t23h = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
    const t45l = v128.shuffle<f32>(x4, x5, 0, 4, 1, 5), t45h = v128.shuffle<f32>(x4, x5, 2, 6, 3, 7);
    // p: [r0 r1 r2 r3] [r4 r5 | next p r0 r1] ... 24 floats per 4 p = 6 vectors.
    v128.store(dst, v128.shuffle<f32>(t01l, t23l, 0, 1, 4, 5));
    v128.store(dst, v128.shuffle<f32>(t45l, t01l, 0, 1, 6, 7), 16);
    v128.store(dst, v128.shuffle<f32>(t23l, t45l, 2, 3, 6, 7), 32);
    v128.store(dst, v128.shuffle<f32>(t01h, t23h, 0, 1, 4, 5), 48);
    v128.store(dst, v128.shuffle<f32>(t45h, t01h, 0, 1, 6, 7), 64);
    v128.store(dst, v128.shuffle<f32>(t23h, t45h, 2, 3, 6, 7), 80);
    dst += 96;
  }
  for (; p < kc; p++) {
    const o = <usize>p << 2;
    store<f32>(dst, load<f32>(r0 + o)); store<f32>(dst, load<f32>(r1 + o), 4);
    store<f32>(dst, load<f32>(r2 + o), 8); store<f32>(dst, load<f32>(r3 + o), 12);
    store<f32>(dst, load<f32>(r4 + o), 16); store<f32>(dst, load<f32>(r5 + o), 20);
    dst += 24;
  }
  return dst;
}

/** Packs kc columns of the 4 rows at r0..r3 as one 4-row sliver at dst and returns its end: 4x4 transposes. */
// @ts-ignore: decorator
@inline function pack_rows4(r0: usize, r1: usize, r2: usize, r3: usize, kc: i32, dst: usize): usize {
  let p = 0;
  for (; p + 4 <= kc; p += 4) {
    const o = <usize>p << 2;
    const x0 = v128.load(r0 + o), x1 = v128.load(r1 + o), x2 = v128.load(r2 + o), x3 = v128.load(r3 + o);
    const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
    const t2 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5), t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
    v128.store(dst, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
    v128.store(dst, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7), 16);
    v128.store(dst, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5), 32);
    v128.store(dst, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7), 48);
    dst += 64;
  }
  for (; p < kc; p++) {
    const o = <usize>p << 2;
    store<f32>(dst, load<f32>(r0 + o)); store<f32>(dst, load<f32>(r1 + o), 4);
    store<f32>(dst, load<f32>(r2 + o), 8); store<f32>(dst, load<f32>(r3 + o), 12);
    dst += 16;
  }
  return dst;
}

/** gemm_pack_a for other sliver heights (5 for gemm_f32_5x8, 4 for the 4-row tail tiles): element by element
 *  but for full 4- and 5-row slivers. */
function pack_a_any(a: usize, lda: i32, transA: i32, mc: i32, kc: i32, dst: usize, mrS: i32): void {
  const ld = <usize>lda << 2, rowBytes = <usize>mrS << 2;
  for (let ir = 0; ir < mc; ir += mrS) {
    const mr = imin(mrS, mc - ir);
    if (mrS == 4 && mr == 4) {
      if (transA) {
        let src = a + (<usize>ir << 2);
        for (let p = 0; p < kc; p++) { v128.store(dst, v128.load(src)); src += ld; dst += 16; }
      } else {
        const r0 = a + <usize>ir * ld;
        dst = pack_rows4(r0, r0 + ld, r0 + 2 * ld, r0 + 3 * ld, kc, dst);
      }
      continue;
    }
    // Element (i, p) of op(A) sits at a + i*si + p*sp.
    const si: usize = transA ? 4 : ld, sp: usize = transA ? ld : 4;
    const base = a + <usize>ir * si;
    let p = 0;
    if (!transA && mr == 5 && mrS == 5) {
      // Rows 0-3 by 4x4 transposes (one unaligned f32x4 store per p), row 4 element by element.
      const r0 = base, r1 = r0 + ld, r2 = r1 + ld, r3 = r2 + ld, r4 = r3 + ld;
      for (; p + 4 <= kc; p += 4) {
        const o = <usize>p << 2;
        const x0 = v128.load(r0 + o), x1 = v128.load(r1 + o), x2 = v128.load(r2 + o), x3 = v128.load(r3 + o);
        const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
        const t2 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5), t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
        v128.store(dst, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
        v128.store(dst, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7), 20);
        v128.store(dst, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5), 40);
        v128.store(dst, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7), 60);
        const x4 = v128.load(r4 + o);
        store<f32>(dst, f32x4.extract_lane(x4, 0), 16); store<f32>(dst, f32x4.extract_lane(x4, 1), 36);
        store<f32>(dst, f32x4.extract_lane(x4, 2), 56); store<f32>(dst, f32x4.extract_lane(x4, 3), 76);
        dst += 80;
      }
    }
    for (; p < kc; p++) {
      const src = base + <usize>p * sp;
      let i = 0;
      for (; i < mr; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + <usize>i * si));
      for (; i < mrS; i++) store<f32>(dst + (<usize>i << 2), 0);
      dst += rowBytes;
    }
  }
}

/** One row of a packed-B edge sliver: the nr < NR contiguous floats at src, then zeros up to NR. */
// @ts-ignore: decorator
@inline function pack_row_tail(dst: usize, src: usize, nr: i32): void {
  let j = 0;
  for (; j < nr; j++) store<f32>(dst + (<usize>j << 2), load<f32>(src + (<usize>j << 2)));
  for (; j < NR; j++) store<f32>(dst + (<usize>j << 2), 0);
}

/** Packs the kc x nc block of op(B) starting at `b` into NR-column slivers: dst[s][p][j] = op(B)(p, s*NR+j),
 *  columns past nc zero-filled. */
export function gemm_pack_b(b: usize, ldb: i32, transB: i32, kc: i32, nc: i32, dst: usize): void {
  const ld = <usize>ldb << 2;
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = imin(NR, nc - jr);
    if (!transB) {
      // op(B)(p, j) = b[p*ldb + j]: rows are contiguous.
      let src = b + (<usize>jr << 2);
      if (nr == NR) {
        for (let p = 0; p < kc; p++) {
          v128.store(dst, v128.load(src));
          v128.store(dst, v128.load(src, 16), 16);
          src += ld; dst += 32;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          pack_row_tail(dst, src, nr);
          src += ld; dst += 32;
        }
      }
    } else {
      // op(B)(p, j) = b[j*ldb + p]: 8 rows of B^T, transposed 4x4 at a time.
      const r0 = b + <usize>jr * ld;
      if (nr == NR) {
        const r1 = r0 + ld, r2 = r1 + ld, r3 = r2 + ld, r4 = r3 + ld, r5 = r4 + ld, r6 = r5 + ld, r7 = r6 + ld;
        let p = 0;
        for (; p + 4 <= kc; p += 4) {
          const o = <usize>p << 2;
          transpose4(v128.load(r0 + o), v128.load(r1 + o), v128.load(r2 + o), v128.load(r3 + o), dst);
          transpose4(v128.load(r4 + o), v128.load(r5 + o), v128.load(r6 + o), v128.load(r7 + o), dst + 16);
          dst += 128;
        }
        for (; p < kc; p++) {
          const o = <usize>p << 2;
          store<f32>(dst, load<f32>(r0 + o)); store<f32>(dst, load<f32>(r1 + o), 4);
          store<f32>(dst, load<f32>(r2 + o), 8); store<f32>(dst, load<f32>(r3 + o), 12);
          store<f32>(dst, load<f32>(r4 + o), 16); store<f32>(dst, load<f32>(r5 + o), 20);
          store<f32>(dst, load<f32>(r6 + o), 24); store<f32>(dst, load<f32>(r7 + o), 28);
          dst += 32;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          const o = <usize>p << 2;
          let j = 0;
          for (; j < nr; j++) store<f32>(dst + (<usize>j << 2), load<f32>(r0 + <usize>j * ld + o));
          for (; j < NR; j++) store<f32>(dst + (<usize>j << 2), 0);
          dst += 32;
        }
      }
    }
  }
}

/** gemm_pack_b for op(B) = B (not transposed), row by row: each row's nc floats are read in one contiguous run
 *  and scattered to the slivers (dst[s][p] at s * kc * 8 + p * 8). gemm_pack_b reads sliver by sliver, one
 *  32-byte piece per row, so a B whose rows lie far apart (the Linear data gradient's weights: 16 KB per row)
 *  costs one cache miss per row per group of columns, which no prefetcher follows; read row-wise, it streams. */
export function gemm_pack_b_rowwise(b: usize, ldb: i32, kc: i32, nc: i32, dst: usize): void {
  const ld = <usize>ldb << 2, sliverBytes = <usize>kc << 5;
  const full = nc & ~(NR - 1);
  for (let p = 0; p < kc; p++) {
    const src = b + <usize>p * ld;
    let d = dst + (<usize>p << 5);
    for (let j = 0; j < full; j += NR) {
      const o = <usize>j << 2;
      v128.store(d, v128.load(src + o));
      v128.store(d, v128.load(src + o, 16), 16);
      d += sliverBytes;
    }
    if (full < nc) pack_row_tail(d, src + (<usize>full << 2), nc - full);
  }
}

/** Writes the transpose of rows x0..x3 (4 columns each) as 4 vectors at dst, dst+32, dst+64, dst+96
 *  (one packed-B row of 8 is 32 bytes). */
// @ts-ignore: decorator
@inline function transpose4(x0: v128, x1: v128, x2: v128, x3: v128, dst: usize): void {
  const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
  const t2 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5), t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
  v128.store(dst, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7), 32);
  v128.store(dst, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5), 64);
  v128.store(dst, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7), 96);
}

/** Epilogue of one C row of 8: alpha*acc (+ beta*C) (+ bias) (ReLU), stored to c. Each step is skipped
 *  when it is the identity: with small k (Winograd's tile GEMMs) the epilogue is a visible share. */
// @ts-ignore: decorator
@inline function epilogue_row(c: usize, v0: v128, v1: v128, alpha: f32, beta: f32, bias: usize, relu: i32): void {
  if (alpha != 1) { const av = f32x4.splat(alpha); v0 = f32x4.mul(v0, av); v1 = f32x4.mul(v1, av); }
  if (beta != 0) {
    const bv = f32x4.splat(beta);
    v0 = madd(v128.load(c), bv, v0); v1 = madd(v128.load(c, 16), bv, v1);
  }
  if (bias) { v0 = f32x4.add(v0, v128.load(bias)); v1 = f32x4.add(v1, v128.load(bias, 16)); }
  if (relu) { const z = f32x4.splat(0); v0 = f32x4.max(v0, z); v1 = f32x4.max(v1, z); }
  v128.store(c, v0); v128.store(c, v1, 16);
}

/**
 * The micro-kernel: C tile (mr x nr, at most 6x8, at c with row stride ldc elements) = alpha * Ap Bp
 * + beta * C (beta 0: C is not read), + bias[0..nr) when bias != 0, ReLU when relu. ap: packed 6 x kc
 * sliver, bp: packed kc x 8 sliver. Edge tiles go through tmp (48 floats) so the loop stays branch-free.
 */
export function gemm_f32_6x8(ap: usize, bp: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32,
  alpha: f32, beta: f32, bias: usize, relu: i32, tmp: usize): void {
  const z = f32x4.splat(0);
  let c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z;
  // Loop on the A pointer, no counter: TurboFan's body is then 32 instructions per 12 FMAs, not 33.
  const aend = ap + <usize>kc * 24;
  while (ap < aend) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    a = v128.load32_splat(ap, 16);
    c40 = madd(a, b0, c40); c41 = madd(a, b1, c41);
    a = v128.load32_splat(ap, 20);
    c50 = madd(a, b0, c50); c51 = madd(a, b1, c51);
    ap += 24; bp += 32;
  }
  const ldcb = <usize>ldc << 2;
  if (mr == MR && nr == NR) {
    epilogue_row(c, c00, c01, alpha, beta, bias, relu); c += ldcb;
    epilogue_row(c, c10, c11, alpha, beta, bias, relu); c += ldcb;
    epilogue_row(c, c20, c21, alpha, beta, bias, relu); c += ldcb;
    epilogue_row(c, c30, c31, alpha, beta, bias, relu); c += ldcb;
    epilogue_row(c, c40, c41, alpha, beta, bias, relu); c += ldcb;
    epilogue_row(c, c50, c51, alpha, beta, bias, relu);
    return;
  }
  v128.store(tmp, c00); v128.store(tmp, c01, 16); v128.store(tmp, c10, 32); v128.store(tmp, c11, 48);
  v128.store(tmp, c20, 64); v128.store(tmp, c21, 80); v128.store(tmp, c30, 96); v128.store(tmp, c31, 112);
  v128.store(tmp, c40, 128); v128.store(tmp, c41, 144); v128.store(tmp, c50, 160); v128.store(tmp, c51, 176);
  edge_epilogue(c, ldc, mr, nr, alpha, beta, bias, relu, tmp);
}

/** The 5x8 micro-kernel: 10 accumulators. The plain-SIMD build uses it: mul+add needs a temporary register
 *  per product, and 12 accumulators + 2 B + A + temporary exceed the 15 xmm registers V8 allocates. */
export function gemm_f32_5x8(ap: usize, bp: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32,
  alpha: f32, beta: f32, bias: usize, relu: i32, tmp: usize): void {
  const z = f32x4.splat(0);
  let c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z;
  const aend = ap + <usize>kc * 20; // loop on the A pointer, no counter (see gemm_f32_6x8)
  while (ap < aend) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    a = v128.load32_splat(ap, 16);
    c40 = madd(a, b0, c40); c41 = madd(a, b1, c41);
    ap += 20; bp += 32;
  }
  const ldcb = <usize>ldc << 2;
  if (mr == 5 && nr == NR) {
    epilogue_row(c, c00, c01, alpha, beta, bias, relu); c += ldcb;
    epilogue_row(c, c10, c11, alpha, beta, bias, relu); c += ldcb;
    epilogue_row(c, c20, c21, alpha, beta, bias, relu); c += ldcb;
    epilogue_row(c, c30, c31, alpha, beta, bias, relu); c += ldcb;
    epilogue_row(c, c40, c41, alpha, beta, bias, relu);
    return;
  }
  v128.store(tmp, c00); v128.store(tmp, c01, 16); v128.store(tmp, c10, 32); v128.store(tmp, c11, 48);
  v128.store(tmp, c20, 64); v128.store(tmp, c21, 80); v128.store(tmp, c30, 96); v128.store(tmp, c31, 112);
  v128.store(tmp, c40, 128); v128.store(tmp, c41, 144);
  edge_epilogue(c, ldc, mr, nr, alpha, beta, bias, relu, tmp);
}

/** The 4x8 micro-kernel: gemm_f32_6x8 for 4 rows, 8 accumulators (still enough to fill the FMA pipes: 2 per
 *  cycle, 4 cycles latency). gemm_f32 runs it on the last rows of a block whose height is not a multiple of the
 *  main kernel's, so no zero rows are multiplied: m = 32 is 4 six-row and 2 four-row tiles, not 6 six-row ones. */
export function gemm_f32_4x8(ap: usize, bp: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32,
  alpha: f32, beta: f32, bias: usize, relu: i32, tmp: usize): void {
  const z = f32x4.splat(0);
  let c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
  const aend = ap + <usize>kc * 16; // loop on the A pointer, no counter (see gemm_f32_6x8)
  while (ap < aend) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    ap += 16; bp += 32;
  }
  const ldcb = <usize>ldc << 2;
  if (mr == 4 && nr == NR) {
    epilogue_row(c, c00, c01, alpha, beta, bias, relu); c += ldcb;
    epilogue_row(c, c10, c11, alpha, beta, bias, relu); c += ldcb;
    epilogue_row(c, c20, c21, alpha, beta, bias, relu); c += ldcb;
    epilogue_row(c, c30, c31, alpha, beta, bias, relu);
    return;
  }
  v128.store(tmp, c00); v128.store(tmp, c01, 16); v128.store(tmp, c10, 32); v128.store(tmp, c11, 48);
  v128.store(tmp, c20, 64); v128.store(tmp, c21, 80); v128.store(tmp, c30, 96); v128.store(tmp, c31, 112);
  edge_epilogue(c, ldc, mr, nr, alpha, beta, bias, relu, tmp);
}

/** Epilogue of an edge tile whose accumulators were stored row-major (8 per row) at tmp. */
function edge_epilogue(c: usize, ldc: i32, mr: i32, nr: i32, alpha: f32, beta: f32, bias: usize, relu: i32, tmp: usize): void {
  const ldcb = <usize>ldc << 2;
  for (let i = 0; i < mr; i++) {
    const row = c + <usize>i * ldcb, t = tmp + (<usize>i << 5);
    for (let j = 0; j < nr; j++) {
      const o = <usize>j << 2;
      let v = alpha * load<f32>(t + o);
      if (beta != 0) v += beta * load<f32>(row + o);
      if (bias) v += load<f32>(bias + o);
      if (relu && v < 0) v = 0;
      store<f32>(row + o, v);
    }
  }
}

/** C = beta*C (+ bias) (ReLU) for k = 0, where there is no product to accumulate. */
function gemm_scale_c(c: usize, m: i32, n: i32, ldc: i32, beta: f32, bias: usize, relu: i32): void {
  for (let i = 0; i < m; i++) {
    const row = c + ((<usize>i * <usize>ldc) << 2);
    for (let j = 0; j < n; j++) {
      const o = <usize>j << 2;
      let v: f32 = beta != 0 ? beta * load<f32>(row + o) : 0;
      if (bias) v += load<f32>(bias + o);
      if (relu && v < 0) v = 0;
      store<f32>(row + o, v);
    }
  }
}

/** One pass of the micro-tiles over the rows of a packed A block (mMain rows in mrS-row tiles, then m4 rows in
 *  4-row tiles at ap4) and one packed 8-column B sliver bs, depth kc, C tile column at ct. The sliver of rows
 *  [r, r + mr) starts r * lda floats after its part's start: lda is kc when the block holds depth kc, more when
 *  the tiles take a kc-deep step of a deeper block (map2x2_forward; ap and ap4 then point at the step). */
// @ts-ignore: decorator
@inline export function gemm_tiles_column(ap: usize, ap4: usize, lda: i32, mMain: i32, m4: i32, bs: usize, kc: i32, ct: usize,
  ldcb: usize, ldc: i32, mrS: i32, nr: i32, alpha: f32, beta: f32, biasT: usize, relu: i32, tmp: usize): void {
  for (let ir = 0; ir < mMain; ir += mrS) {
    const mr = imin(mrS, mMain - ir);
    if (mrS == 5) gemm_f32_5x8(ap + <usize>(ir * lda) * 4, bs, kc, ct + <usize>ir * ldcb, ldc, mr, nr, alpha, beta, biasT, relu, tmp);
    else gemm_f32_6x8(ap + <usize>(ir * lda) * 4, bs, kc, ct + <usize>ir * ldcb, ldc, mr, nr, alpha, beta, biasT, relu, tmp);
  }
  for (let ir = 0; ir < m4; ir += 4) {
    gemm_f32_4x8(ap4 + <usize>(ir * lda) * 4, bs, kc, ct + <usize>(mMain + ir) * ldcb, ldc, 4, nr, alpha, beta, biasT, relu, tmp);
  }
}

/** The macro-kernel: every mrS x 8 micro-tile of C(mc x nc) at cblock from a packed mc x kc A block (ap) and a packed
 *  kc x nc B panel (bpk), column slivers outermost so one B sliver stays in L1 across the A block. Also the fused
 *  Winograd tile GEMMs' (assembly/winograd_fused.ts). */
// @ts-ignore: decorator
@inline export function gemm_macro(ap: usize, bpk: usize, kc: i32, mc: i32, nc: i32, cblock: usize, ldcb: usize, ldc: i32, mrS: i32,
  alpha: f32, beta: f32, bias: usize, relu: i32, tmp: usize): void {
  for (let jr = 0; jr < nc; jr += NR) {
    gemm_tiles_column(ap, ap, kc, mc, 0, bpk + <usize>(jr * kc) * 4, kc, cblock + (<usize>jr << 2), ldcb, ldc, mrS, imin(NR, nc - jr),
      alpha, beta, bias ? bias + (<usize>jr << 2) : 0, relu, tmp);
  }
}

/** Workspace layout shared with the TS side (src/backends/wasm/ops/gemm.ts gemmBlocks):
 *  [A block mcb x kcb][pad to 64][B panel kcb x ncb][pad to 64][tmp 48 floats]. */
// @ts-ignore: decorator
@inline function wsB(ws: usize, mcb: i32, kcb: i32): usize { return (ws + (<usize>(mcb * kcb) << 2) + 63) & ~<usize>63; }
// @ts-ignore: decorator
@inline function wsTmp(bws: usize, kcb: i32, ncb: i32): usize { return (bws + (<usize>(kcb * ncb) << 2) + 63) & ~<usize>63; }

/** Columns of op(B) = B^T gemm_f32_fewrows packs at a time: the packed 16 columns stay in L1 for their tiles
 *  (each is a row of the stored B, read contiguously). 32 measured the same on the classifier's products. */
const FEW_COLS: i32 = 16;
/** Columns gemm_f32_fewrows packs at a time when B is not transposed, row-wise (gemm_pack_b_rowwise): each row's
 *  256 floats are one contiguous 1 KB run the prefetchers stream, and the packed kc x 256 group (256 KB at kc
 *  256) stays in L2. Linear data gradient, batch 64, 4096 -> 4096, 1 thread: 16 columns 59.4 ms (its pack of
 *  the 64 MB weight alone 15.5-16.4 ms), 64 53.4, 128 52.2, 256 49.5, 512 49.3, 1024 50.8. */
const FEW_COLS_NN: i32 = 256;

/**
 * gemm_f32 (same tiles, same result bit for bit) for m <= mcb: there is one A block per panel, so each packed B
 * sliver serves a single pass of the tiles. Packing the whole kc x nc panel first writes it out to L2/L3 and
 * reads it back; here FEW_COLS columns (FEW_COLS_NN with B not transposed) are packed right before their tiles
 * and stay in L1 (L2 for FEW_COLS_NN's groups). The classifier's Linear at batch 64 (m 64, n = k = 4096) is this case for all three of its products but the weight gradient.
 */
function gemm_f32_fewrows(a: usize, b: usize, c: usize, m: i32, n: i32, k: i32, lda: i32, ldb: i32, ldc: i32,
  transA: i32, transB: i32, alpha: f32, beta: f32, bias: usize, relu: i32, ap: usize, bpk: usize, tmp: usize,
  kcb: i32, ncb: i32, mrS: i32): void {
  const ldcb = <usize>ldc << 2, ldbB = <usize>ldb << 2;
  const m4 = gemm_tail_rows4(m, mrS), mMain = m - m4;
  for (let jc = 0; jc < n; jc += ncb) {
    const nc = imin(ncb, n - jc);
    for (let pc = 0; pc < k; pc += kcb) {
      const kc = imin(kcb, k - pc);
      const first = pc == 0, last = pc + kc >= k;
      const betaEff: f32 = first ? beta : 1;
      const biasEff: usize = last && bias ? bias + (<usize>jc << 2) : 0;
      const reluEff = last ? relu : 0;
      const asrc = transA ? a + (<usize>pc * <usize>lda << 2) : a + (<usize>pc << 2);
      gemm_pack_a(asrc, lda, transA, mMain, kc, ap, mrS);
      const ap4 = ap + <usize>(mMain * kc) * 4;
      if (m4) gemm_pack_a(transA ? asrc + (<usize>mMain << 2) : asrc + <usize>mMain * (<usize>lda << 2), lda, transA, m4, kc, ap4, 4);
      const bsrc = transB ? b + ((<usize>jc * <usize>ldb + <usize>pc) << 2) : b + ((<usize>pc * <usize>ldb + <usize>jc) << 2);
      const cblock = c + (<usize>jc << 2);
      const group = transB ? FEW_COLS : FEW_COLS_NN;
      for (let jg = 0; jg < nc; jg += group) {
        const ng = imin(group, nc - jg);
        if (transB) gemm_pack_b(bsrc + <usize>jg * ldbB, ldb, 1, kc, ng, bpk);
        else gemm_pack_b_rowwise(bsrc + (<usize>jg << 2), ldb, kc, ng, bpk);
        for (let jr = jg; jr < jg + ng; jr += NR) {
          const biasT: usize = biasEff ? biasEff + (<usize>jr << 2) : 0;
          gemm_tiles_column(ap, ap4, kc, mMain, m4, bpk + <usize>((jr - jg) * kc) * 4, kc, cblock + (<usize>jr << 2), ldcb, ldc, mrS,
            imin(NR, nc - jr), alpha, betaEff, biasT, reluEff, tmp);
        }
      }
    }
  }
}

/**
 * One GEMM on the calling thread with the mrS x 8 micro-kernel (mrS 6: gemm_f32_6x8, 5: gemm_f32_5x8).
 * mcb (multiple of mrS), kcb, ncb (multiple of 8) are the cache-block sizes; ws must hold the layout above.
 */
export function gemm_f32(a: usize, b: usize, c: usize, m: i32, n: i32, k: i32, lda: i32, ldb: i32, ldc: i32,
  transA: i32, transB: i32, alpha: f32, beta: f32, bias: usize, relu: i32, ws: usize, mcb: i32, kcb: i32, ncb: i32,
  mrS: i32): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) { gemm_scale_c(c, m, n, ldc, beta, bias, relu); return; }
  const ap = ws, bpk = wsB(ws, mcb, kcb), tmp = wsTmp(bpk, kcb, ncb);
  if (m <= mcb) {
    gemm_f32_fewrows(a, b, c, m, n, k, lda, ldb, ldc, transA, transB, alpha, beta, bias, relu, ap, bpk, tmp, kcb, ncb, mrS);
    return;
  }
  const ldcb = <usize>ldc << 2;
  for (let jc = 0; jc < n; jc += ncb) {
    const nc = imin(ncb, n - jc);
    for (let pc = 0; pc < k; pc += kcb) {
      const kc = imin(kcb, k - pc);
      const first = pc == 0, last = pc + kc >= k;
      const bsrc = transB ? b + ((<usize>jc * <usize>ldb + <usize>pc) << 2) : b + ((<usize>pc * <usize>ldb + <usize>jc) << 2);
      gemm_pack_b(bsrc, ldb, transB, kc, nc, bpk);
      const betaEff: f32 = first ? beta : 1;
      const biasEff: usize = last && bias ? bias + (<usize>jc << 2) : 0;
      const reluEff = last ? relu : 0;
      for (let ic = 0; ic < m; ic += mcb) {
        const mc = imin(mcb, m - ic);
        const asrc = transA ? a + ((<usize>pc * <usize>lda + <usize>ic) << 2) : a + ((<usize>ic * <usize>lda + <usize>pc) << 2);
        // The last m4 rows in 4-row tiles when that leaves the others whole mrS-row tiles (see gemm_f32_4x8).
        const m4 = gemm_tail_rows4(mc, mrS), mMain = mc - m4;
        gemm_pack_a(asrc, lda, transA, mMain, kc, ap, mrS);
        const ap4 = ap + <usize>(mMain * kc) * 4;
        if (m4) gemm_pack_a(transA ? asrc + (<usize>mMain << 2) : asrc + <usize>mMain * (<usize>lda << 2), lda, transA, m4, kc, ap4, 4);
        const cblock = c + <usize>ic * ldcb + (<usize>jc << 2);
        for (let jr = 0; jr < nc; jr += NR) {
          // The mrS-row tiles of this 8-column sliver, then the 4-row tiles with the sliver still in L1.
          const biasT: usize = biasEff ? biasEff + (<usize>jr << 2) : 0;
          gemm_tiles_column(ap, ap4, kc, mMain, m4, bpk + <usize>(jr * kc) * 4, kc, cblock + (<usize>jr << 2), ldcb, ldc, mrS, imin(NR, nc - jr),
            alpha, betaEff, biasT, reluEff, tmp);
        }
      }
    }
  }
}

/** `batch` GEMMs C_i = op(A_i) op(B_i) on the calling thread; strides in elements between entries. */
export function gemm_f32_batched(a: usize, b: usize, c: usize, m: i32, n: i32, k: i32, lda: i32, ldb: i32, ldc: i32,
  transA: i32, transB: i32, alpha: f32, beta: f32, bias: usize, relu: i32, ws: usize, mcb: i32, kcb: i32, ncb: i32,
  mrS: i32, batch: i32, strideA: i32, strideB: i32, strideC: i32): void {
  for (let i = 0; i < batch; i++) {
    gemm_f32(a + ((<usize>i * <usize>strideA) << 2), b + ((<usize>i * <usize>strideB) << 2), c + ((<usize>i * <usize>strideC) << 2),
      m, n, k, lda, ldb, ldc, transA, transB, alpha, beta, bias, relu, ws, mcb, kcb, ncb, mrS);
  }
}

/** gemm_f32_batched with the entries claimed one at a time through atomic.add on the i32 at `counter`
 *  (zeroed by the caller): every thread runs this with its own ws, and a thread that is descheduled for a
 *  while leaves its entries to the others instead of holding up the call. */
export function gemm_f32_batched_claim(a: usize, b: usize, c: usize, m: i32, n: i32, k: i32, lda: i32, ldb: i32, ldc: i32,
  transA: i32, transB: i32, alpha: f32, beta: f32, bias: usize, relu: i32, ws: usize, mcb: i32, kcb: i32, ncb: i32,
  mrS: i32, batch: i32, strideA: i32, strideB: i32, strideC: i32, counter: usize): void {
  for (;;) {
    const i = atomic.add<i32>(counter, 1);
    if (i >= batch) return;
    gemm_f32(a + ((<usize>i * <usize>strideA) << 2), b + ((<usize>i * <usize>strideB) << 2), c + ((<usize>i * <usize>strideC) << 2),
      m, n, k, lda, ldb, ldc, transA, transB, alpha, beta, bias, relu, ws, mcb, kcb, ncb, mrS);
  }
}

/** Spin until the i32 at `sync` reaches target after adding this thread's arrival: the claiming GEMM's
 *  barrier (the threads of one call run concurrently; a futex wait would cost more than it saves). */
// @ts-ignore: decorator
@inline function team_barrier(sync: usize, target: i32): void {
  atomic.add<i32>(sync, 1);
  while (atomic.load<i32>(sync) < target) {}
}

/** Rows a claim starting at row r0 of m takes: (m - r0) / div (guided scheduling: the caller passes a
 *  few times the thread count, so the last claims are short and the threads finish together), whole
 *  mrS-row slivers, at least minRows and at most mcb. */
// @ts-ignore: decorator
@inline function claim_rows(r0: i32, m: i32, mcb: i32, minRows: i32, mrS: i32, div: i32): i32 {
  const guided = ((m - r0) / div + mrS - 1) / mrS * mrS;
  return imin(m - r0, imin(mcb, guided > minRows ? guided : minRows));
}

/**
 * One of nth threads (tid) computing C = alpha op(A) op(B) + beta C (+ bias) (ReLU) together, rows
 * claimed at run time so a thread the host slows down does less of the work instead of holding up the
 * call. For each block of ncb columns: the threads pack op(B)'s k x ncb block into `bpack` (panel pc at
 * pc * roundUp(ncb, 8) floats, each thread a share of the 8-column slivers), meet at a barrier, then claim
 * row blocks (claim_rows) off the i32 counter at sync + 64 * (1 + column block), and multiply each by the
 * whole packed block panel after panel (C accumulates over the panels in the same order as gemm_f32, so
 * the result does not depend on which thread took which rows); a second barrier before the next column
 * block reuses bpack. sync: the barrier counter, then one counter per column block, 64 bytes apart, all
 * zeroed by the caller. ws: this thread's gemm_f32 workspace (its B panel part unused). minRows, div:
 * see claim_rows.
 */
export function gemm_f32_claim(a: usize, b: usize, c: usize, m: i32, n: i32, k: i32, lda: i32, ldb: i32, ldc: i32,
  transA: i32, transB: i32, alpha: f32, beta: f32, bias: usize, relu: i32, ws: usize, mcb: i32, kcb: i32, ncb: i32,
  mrS: i32, bpack: usize, tid: i32, nth: i32, sync: usize, minRows: i32, div: i32): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (tid == 0) gemm_scale_c(c, m, n, ldc, beta, bias, relu);
    return;
  }
  const ap = ws, tmp = wsTmp(wsB(ws, mcb, kcb), kcb, ncb);
  const ldcb = <usize>ldc << 2;
  const np = (ncb + NR - 1) & ~(NR - 1);
  let barriers = 0, block = 0;
  for (let jc = 0; jc < n; jc += ncb, block++) {
    const nc = imin(ncb, n - jc);
    const slivers = (nc + NR - 1) / NR;
    const j0 = slivers * tid / nth * NR, j1 = imin(nc, slivers * (tid + 1) / nth * NR);
    if (j1 > j0) {
      for (let pc = 0; pc < k; pc += kcb) {
        const kc = imin(kcb, k - pc), col = jc + j0;
        const bsrc = transB ? b + ((<usize>col * <usize>ldb + <usize>pc) << 2) : b + ((<usize>pc * <usize>ldb + <usize>col) << 2);
        gemm_pack_b(bsrc, ldb, transB, kc, j1 - j0, bpack + ((<usize>pc * <usize>np + <usize>(j0 * kc)) << 2));
      }
    }
    team_barrier(sync, ++barriers * nth);
    const counter = sync + 64 * <usize>(1 + block);
    for (;;) {
      let ic = atomic.load<i32>(counter);
      while (ic < m) {
        const seen = atomic.cmpxchg<i32>(counter, ic, ic + claim_rows(ic, m, mcb, minRows, mrS, div));
        if (seen == ic) break;
        ic = seen;
      }
      if (ic >= m) break;
      const mc = claim_rows(ic, m, mcb, minRows, mrS, div);
      const cblock = c + <usize>ic * ldcb + (<usize>jc << 2);
      for (let pc = 0; pc < k; pc += kcb) {
        const kc = imin(kcb, k - pc);
        const first = pc == 0, last = pc + kc >= k;
        const betaEff: f32 = first ? beta : 1;
        const biasEff: usize = last && bias ? bias + (<usize>jc << 2) : 0;
        const reluEff = last ? relu : 0;
        const asrc = transA ? a + ((<usize>pc * <usize>lda + <usize>ic) << 2) : a + ((<usize>ic * <usize>lda + <usize>pc) << 2);
        gemm_pack_a(asrc, lda, transA, mc, kc, ap, mrS);
        const bk = bpack + (<usize>pc * <usize>np << 2);
        gemm_macro(ap, bk, kc, mc, nc, cblock, ldcb, ldc, mrS, alpha, betaEff, biasEff, reluEff, tmp);
      }
    }
    if (jc + ncb < n) team_barrier(sync, ++barriers * nth);
  }
}

// ---- Row-table GEMMs (the tap-skipping small-map conv, src/backends/wasm/ops/conv_smallmap.ts) ----
// C rows r = A rows r times B, where the rows of A and C are anywhere in memory: a table of u32 byte addresses
// per side. One conv tap's GEMM then covers every output pixel the tap reaches, whatever their layout, so
// each tap's weights W_t are read once per pass. B (W_t, row-major [k][ldb]) is read in place by the
// micro-kernel (packB 0) or packed per kc x nc panel as gemm_f32 does (packB 1; always for transB): W_t serves
// only 32-128 rows here; packing all nine of VGG's 512x512 taps (9.4 MB) took 0.9 ms of a 7.4 ms forward, and
// the forward alternated with TF.js calls measured 2.82-2.93x TF.js's speed reading W_t in place, 2.62x packing.

/** Packs A rows rows[0..mc) (u32 byte addresses, koff added) for columns [0, kc) into mrS-row slivers, rows
 *  past mc zero-filled: gemm_pack_a's layout. */
function pack_a_rows(rows: usize, koff: usize, mc: i32, kc: i32, dst: usize, mrS: i32): void {
  const rowBytes = <usize>mrS << 2;
  for (let ir = 0; ir < mc; ir += mrS) {
    const mr = imin(mrS, mc - ir), t = rows + (<usize>ir << 2);
    if (mrS == MR && mr == MR) {
      dst = pack_rows6(<usize>load<u32>(t) + koff, <usize>load<u32>(t, 4) + koff, <usize>load<u32>(t, 8) + koff,
        <usize>load<u32>(t, 12) + koff, <usize>load<u32>(t, 16) + koff, <usize>load<u32>(t, 20) + koff, kc, dst);
      continue;
    }
    if (mrS == 4 && mr == 4) {
      dst = pack_rows4(<usize>load<u32>(t) + koff, <usize>load<u32>(t, 4) + koff, <usize>load<u32>(t, 8) + koff,
        <usize>load<u32>(t, 12) + koff, kc, dst);
      continue;
    }
    for (let i = 0; i < mrS; i++) {
      const d = dst + (<usize>i << 2);
      if (i < mr) {
        const src = <usize>load<u32>(t + (<usize>i << 2)) + koff;
        for (let p = 0; p < kc; p++) store<f32>(d + <usize>p * rowBytes, load<f32>(src + (<usize>p << 2)));
      } else {
        for (let p = 0; p < kc; p++) store<f32>(d + <usize>p * rowBytes, 0);
      }
    }
    dst += <usize>kc * rowBytes;
  }
}

/** Address of C row i of a row-table kernel's tile: crows[i] + coff, or coff + i * ldcB when crows is 0 (a plain
 *  matrix whose tile starts at coff). */
// @ts-ignore: decorator
@inline function crow(crows: usize, coff: usize, ldcB: usize, i: i32): usize {
  return crows ? <usize>load<u32>(crows + (<usize>i << 2)) + coff : coff + <usize>i * ldcB;
}

/** Edge-tile epilogue of the row-table kernels: accumulators stored row-major (8 per row) at tmp. */
function edge_epilogue_rows(crows: usize, coff: usize, ldcB: usize, mr: i32, nr: i32, beta: f32, bias: usize, relu: i32, tmp: usize): void {
  for (let i = 0; i < mr; i++) {
    const row = crow(crows, coff, ldcB, i), t = tmp + (<usize>i << 5);
    for (let j = 0; j < nr; j++) {
      const o = <usize>j << 2;
      let v = load<f32>(t + o);
      if (beta != 0) v += beta * load<f32>(row + o);
      if (bias) v += load<f32>(bias + o);
      if (relu && v < 0) v = 0;
      store<f32>(row + o, v);
    }
  }
}

/** gemm_f32_6x8 with B rows ldbB bytes apart (32: a packed sliver; ldb*4: B in place) and the C rows at
 *  crows[0..mr) + coff. */
function gemm_f32_6x8_rows(ap: usize, bp: usize, ldbB: usize, kc: i32, crows: usize, coff: usize, ldcB: usize, mr: i32, nr: i32,
  beta: f32, bias: usize, relu: i32, tmp: usize): void {
  const z = f32x4.splat(0);
  let c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z;
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    a = v128.load32_splat(ap, 16);
    c40 = madd(a, b0, c40); c41 = madd(a, b1, c41);
    a = v128.load32_splat(ap, 20);
    c50 = madd(a, b0, c50); c51 = madd(a, b1, c51);
    ap += 24; bp += ldbB;
  }
  if (mr == MR && nr == NR) {
    epilogue_row(crow(crows, coff, ldcB, 0), c00, c01, 1, beta, bias, relu);
    epilogue_row(crow(crows, coff, ldcB, 1), c10, c11, 1, beta, bias, relu);
    epilogue_row(crow(crows, coff, ldcB, 2), c20, c21, 1, beta, bias, relu);
    epilogue_row(crow(crows, coff, ldcB, 3), c30, c31, 1, beta, bias, relu);
    epilogue_row(crow(crows, coff, ldcB, 4), c40, c41, 1, beta, bias, relu);
    epilogue_row(crow(crows, coff, ldcB, 5), c50, c51, 1, beta, bias, relu);
    return;
  }
  v128.store(tmp, c00); v128.store(tmp, c01, 16); v128.store(tmp, c10, 32); v128.store(tmp, c11, 48);
  v128.store(tmp, c20, 64); v128.store(tmp, c21, 80); v128.store(tmp, c30, 96); v128.store(tmp, c31, 112);
  v128.store(tmp, c40, 128); v128.store(tmp, c41, 144); v128.store(tmp, c50, 160); v128.store(tmp, c51, 176);
  edge_epilogue_rows(crows, coff, ldcB, mr, nr, beta, bias, relu, tmp);
}

/** gemm_f32_5x8 (the plain-SIMD build's kernel) in the row-table form of gemm_f32_6x8_rows. */
function gemm_f32_5x8_rows(ap: usize, bp: usize, ldbB: usize, kc: i32, crows: usize, coff: usize, ldcB: usize, mr: i32, nr: i32,
  beta: f32, bias: usize, relu: i32, tmp: usize): void {
  const z = f32x4.splat(0);
  let c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z;
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    a = v128.load32_splat(ap, 16);
    c40 = madd(a, b0, c40); c41 = madd(a, b1, c41);
    ap += 20; bp += ldbB;
  }
  if (mr == 5 && nr == NR) {
    epilogue_row(crow(crows, coff, ldcB, 0), c00, c01, 1, beta, bias, relu);
    epilogue_row(crow(crows, coff, ldcB, 1), c10, c11, 1, beta, bias, relu);
    epilogue_row(crow(crows, coff, ldcB, 2), c20, c21, 1, beta, bias, relu);
    epilogue_row(crow(crows, coff, ldcB, 3), c30, c31, 1, beta, bias, relu);
    epilogue_row(crow(crows, coff, ldcB, 4), c40, c41, 1, beta, bias, relu);
    return;
  }
  v128.store(tmp, c00); v128.store(tmp, c01, 16); v128.store(tmp, c10, 32); v128.store(tmp, c11, 48);
  v128.store(tmp, c20, 64); v128.store(tmp, c21, 80); v128.store(tmp, c30, 96); v128.store(tmp, c31, 112);
  v128.store(tmp, c40, 128); v128.store(tmp, c41, 144);
  edge_epilogue_rows(crows, coff, ldcB, mr, nr, beta, bias, relu, tmp);
}

/** The 4-row kernel of the row-table GEMMs: with 6 (or 5) row tiles it covers any even m exactly (32 = 4*6 + 2*4),
 *  where a partial 6-row tile multiplies zero rows. 8 accumulators still fill the FMA pipes (2 per cycle,
 *  4 cycles latency). */
function gemm_f32_4x8_rows(ap: usize, bp: usize, ldbB: usize, kc: i32, crows: usize, coff: usize, ldcB: usize, mr: i32, nr: i32,
  beta: f32, bias: usize, relu: i32, tmp: usize): void {
  const z = f32x4.splat(0);
  let c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    ap += 16; bp += ldbB;
  }
  if (mr == 4 && nr == NR) {
    epilogue_row(crow(crows, coff, ldcB, 0), c00, c01, 1, beta, bias, relu);
    epilogue_row(crow(crows, coff, ldcB, 1), c10, c11, 1, beta, bias, relu);
    epilogue_row(crow(crows, coff, ldcB, 2), c20, c21, 1, beta, bias, relu);
    epilogue_row(crow(crows, coff, ldcB, 3), c30, c31, 1, beta, bias, relu);
    return;
  }
  v128.store(tmp, c00); v128.store(tmp, c01, 16); v128.store(tmp, c10, 32); v128.store(tmp, c11, 48);
  v128.store(tmp, c20, 64); v128.store(tmp, c21, 80); v128.store(tmp, c30, 96); v128.store(tmp, c31, 112);
  edge_epilogue_rows(crows, coff, ldcB, mr, nr, beta, bias, relu, tmp);
}

/** Rows at the end of an mc-row block that 4-row tiles take so that the mrS-row tiles before them are all full
 *  (0 when no such split exists: odd mc with mrS 6). Exported for callers that pack A for these tiles themselves
 *  (assembly/map2x2.ts). */
// @ts-ignore: decorator
@inline export function gemm_tail_rows4(mc: i32, mrS: i32): i32 {
  for (let t = 0; t < mrS; t++) {
    const r = mc - 4 * t;
    if (r < 0) return 0;
    if (r % mrS == 0) return 4 * t;
  }
  return 0;
}

/**
 * The micro-tiles of one packed A block (mMain rows in mrS-row tiles at ap, then m4 rows in 4-row tiles at ap4)
 * against nc columns of op(B), in the row-table kernels: B from the packed kc x nc panel at bpk when packed, else
 * read in place (rows ldb apart from bsrc; a last sliver under 8 columns is packed into bpk). C row i of the block
 * at crow(crows, coff, ldcB, i), its column j 4j bytes on; bias (0: none) for the block's column 0.
 */
// @ts-ignore: decorator
@inline function block_rows(ap: usize, ap4: usize, mMain: i32, m4: i32, kc: i32, nc: i32, packed: bool, bsrc: usize, ldb: i32,
  bpk: usize, crows: usize, coff: usize, ldcB: usize, mrS: i32, beta: f32, bias: usize, relu: i32, tmp: usize): void {
  const ldbB = <usize>ldb << 2;
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = imin(NR, nc - jr);
    let bs = bpk + <usize>(jr * kc) * 4, step: usize = 32;
    if (!packed) {
      if (nr == NR) { bs = bsrc + (<usize>jr << 2); step = ldbB; } else { bs = bpk; gemm_pack_b(bsrc + (<usize>jr << 2), ldb, 0, kc, nr, bpk); }
    }
    const biasT: usize = bias ? bias + (<usize>jr << 2) : 0, co = coff + (<usize>jr << 2);
    for (let ir = 0; ir < mMain; ir += mrS) {
      const at = ap + <usize>(ir * kc) * 4, rt: usize = crows ? crows + (<usize>ir << 2) : 0, cr = crows ? co : co + <usize>ir * ldcB;
      if (mrS == 5) gemm_f32_5x8_rows(at, bs, step, kc, rt, cr, ldcB, imin(5, mMain - ir), nr, beta, biasT, relu, tmp);
      else gemm_f32_6x8_rows(at, bs, step, kc, rt, cr, ldcB, imin(MR, mMain - ir), nr, beta, biasT, relu, tmp);
    }
    for (let ir = 0; ir < m4; ir += 4) {
      const r = mMain + ir, rt: usize = crows ? crows + (<usize>r << 2) : 0, cr = crows ? co : co + <usize>r * ldcB;
      gemm_f32_4x8_rows(ap4 + <usize>(ir * kc) * 4, bs, step, kc, rt, cr, ldcB, 4, nr, beta, biasT, relu, tmp);
    }
  }
}

/**
 * One row-table GEMM on the calling thread: for r < m and j < n,
 * C(r, j) = sum_p A(r, p) op(B)(p, j) + beta C(r, j) (+ bias[j]) (ReLU), with A(r, p) at arows[r] + 4p,
 * C(r, j) at crows[r] + coff + 4j (arows, crows: u32 byte addresses), op(B) = B [k][ldb] or B^T (B [n][ldb]).
 * packB 0 reads B in place (transB must be 0; a last sliver under 8 columns is packed); 1 packs kc x nc panels.
 * ws: gemm_f32's workspace layout for mcb, kcb, ncb.
 */
export function gemm_f32_rows(arows: usize, b: usize, crows: usize, coff: usize, m: i32, n: i32, k: i32, ldb: i32,
  transB: i32, packB: i32, beta: f32, bias: usize, relu: i32, ws: usize, mcb: i32, kcb: i32, ncb: i32, mrS: i32): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    // C = beta C (+ bias) (ReLU): every row through the edge epilogue with zero accumulators.
    const tmp = wsTmp(wsB(ws, mcb, kcb), kcb, ncb);
    v128.store(tmp, f32x4.splat(0)); v128.store(tmp, f32x4.splat(0), 16);
    for (let r = 0; r < m; r++) {
      for (let jr = 0; jr < n; jr += NR) {
        edge_epilogue_rows(crows + (<usize>r << 2), coff + (<usize>jr << 2), 0, 1, imin(NR, n - jr), beta,
          bias ? bias + (<usize>jr << 2) : 0, relu, tmp);
      }
    }
    return;
  }
  const ap = ws, bpk = wsB(ws, mcb, kcb), tmp = wsTmp(bpk, kcb, ncb);
  const ldbB = <usize>ldb << 2;
  for (let jc = 0; jc < n; jc += ncb) {
    const nc = imin(ncb, n - jc);
    for (let pc = 0; pc < k; pc += kcb) {
      const kc = imin(kcb, k - pc);
      const betaEff: f32 = pc == 0 ? beta : 1, last = pc + kc >= k;
      const reluEff = last ? relu : 0;
      const bsrc = transB ? b + <usize>jc * ldbB + (<usize>pc << 2) : b + <usize>pc * ldbB + (<usize>jc << 2);
      if (packB) gemm_pack_b(bsrc, ldb, transB, kc, nc, bpk);
      for (let ic = 0; ic < m; ic += mcb) {
        const mc = imin(mcb, m - ic);
        const m4 = gemm_tail_rows4(mc, mrS), mMain = mc - m4;
        pack_a_rows(arows + (<usize>ic << 2), <usize>pc << 2, mMain, kc, ap, mrS);
        const ap4 = ap + <usize>(mMain * kc) * 4;
        pack_a_rows(arows + (<usize>(ic + mMain) << 2), <usize>pc << 2, m4, kc, ap4, 4);
        block_rows(ap, ap4, mMain, m4, kc, nc, packB != 0, bsrc, ldb, bpk, crows + (<usize>ic << 2), coff + (<usize>jc << 2), 0, mrS,
          betaEff, last && bias ? bias + (<usize>jc << 2) : 0, reluEff, tmp);
      }
    }
  }
}

/**
 * A list of row-table GEMMs on the calling thread over its columns [n0, n0 + n) of every C: `count` job records
 * of 8 words at jobs (u32 b, arows, crows, m, k, f32 beta, u32 bias, relu), run in order. The threads of one call
 * take disjoint column ranges, and every job keeps C's columns where they are, so a pass is one dispatch with no
 * barrier between its GEMMs. b of a job is W_t's first element (column 0): column n0 is b + 4 n0 (B [k][ldb]) or
 * b + 4 n0 ldb (transB); bias likewise at bias + 4 n0.
 */
export function gemm_f32_rows_jobs(jobs: usize, count: i32, n0: i32, n: i32, ldb: i32, transB: i32, packB: i32,
  ws: usize, mcb: i32, kcb: i32, ncb: i32, mrS: i32): void {
  const coff = <usize>n0 << 2;
  const boff = transB ? <usize>n0 * (<usize>ldb << 2) : coff;
  for (let i = 0; i < count; i++) {
    const j = jobs + (<usize>i << 5);
    const bias = <usize>load<u32>(j, 24);
    gemm_f32_rows(<usize>load<u32>(j, 4), <usize>load<u32>(j) + boff, <usize>load<u32>(j, 8), coff, load<i32>(j, 12), n,
      load<i32>(j, 16), ldb, transB, packB, load<f32>(j, 20), bias ? bias + coff : 0, load<i32>(j, 28), ws, mcb, kcb, ncb, mrS);
  }
}

/**
 * gemm_f32 (same arguments and result, bit for bit) with B read in place instead of packed, for products whose
 * B serves few rows of A (m of a few tens): packing a kc x nc panel costs about as much as multiplying it by 32
 * rows. Rows in 6-row (5 in the plain build) tiles with 4-row tails. Measured, 1 thread, warm: 32x512x512 46.1
 * against 39.0 GFLOP/s, 32x128x512 48.0 against 43.0, 128x512x512 even. B rows a multiple of 4 KiB apart all
 * fall in one L1 set, so every micro-tile refetches its sliver (32x1024x1024: 33 against 40): those, transB and
 * alpha != 1 go to gemm_f32.
 */
export function gemm_f32_bdirect(a: usize, b: usize, c: usize, m: i32, n: i32, k: i32, lda: i32, ldb: i32, ldc: i32,
  transA: i32, transB: i32, alpha: f32, beta: f32, bias: usize, relu: i32, ws: usize, mcb: i32, kcb: i32, ncb: i32,
  mrS: i32): void {
  if (transB || alpha != 1 || k <= 0 || (ldb & 1023) == 0) {
    gemm_f32(a, b, c, m, n, k, lda, ldb, ldc, transA, transB, alpha, beta, bias, relu, ws, mcb, kcb, ncb, mrS);
    return;
  }
  if (m <= 0 || n <= 0) return;
  const ap = ws, bpk = wsB(ws, mcb, kcb), tmp = wsTmp(bpk, kcb, ncb);
  const ldbB = <usize>ldb << 2, ldcB = <usize>ldc << 2;
  for (let jc = 0; jc < n; jc += ncb) {
    const nc = imin(ncb, n - jc);
    for (let pc = 0; pc < k; pc += kcb) {
      const kc = imin(kcb, k - pc), last = pc + kc >= k;
      const betaEff: f32 = pc == 0 ? beta : 1, reluEff = last ? relu : 0;
      const bsrc = b + <usize>pc * ldbB + (<usize>jc << 2);
      for (let ic = 0; ic < m; ic += mcb) {
        const mc = imin(mcb, m - ic), m4 = gemm_tail_rows4(mc, mrS), mMain = mc - m4;
        const asrc = transA ? a + ((<usize>pc * <usize>lda + <usize>ic) << 2) : a + ((<usize>ic * <usize>lda + <usize>pc) << 2);
        gemm_pack_a(asrc, lda, transA, mMain, kc, ap, mrS);
        const ap4 = ap + <usize>(mMain * kc) * 4;
        gemm_pack_a(transA ? asrc + (<usize>mMain << 2) : asrc + <usize>mMain * (<usize>lda << 2), lda, transA, m4, kc, ap4, 4);
        block_rows(ap, ap4, mMain, m4, kc, nc, false, bsrc, ldb, bpk, 0, c + <usize>ic * ldcB + (<usize>jc << 2), ldcB, mrS, betaEff,
          last && bias ? bias + (<usize>jc << 2) : 0, reluEff, tmp);
      }
    }
  }
}

// ---- k-table GEMMs: the small-map conv's filter gradient dW_t = sum over pixel pairs of x_q^T dy_p ----
// The contraction runs over rows of two matrices that lie anywhere in memory (u32 byte-address tables, one
// entry per k index): A(i, p) = f32 at arows[p] + 4i, B(p, j) = f32 at brows[p] + 4j; C is a plain matrix.
// So each tap's dW_t is one GEMM over every pixel pair of the tap, written once.

/** gemm_pack_a's layout (mrS-row slivers, rows past mc zero) of A(i, p) = arows[p] + ioff + 4i, i < mc, p < kc. */
function pack_a_ktab(arows: usize, ioff: usize, mc: i32, kc: i32, dst: usize, mrS: i32): void {
  const rowBytes = <usize>mrS << 2;
  for (let ir = 0; ir < mc; ir += mrS) {
    const mr = imin(mrS, mc - ir), off = ioff + (<usize>ir << 2);
    if (mr == MR && mrS == MR) {
      for (let p = 0; p < kc; p++) {
        const src = <usize>load<u32>(arows + (<usize>p << 2)) + off;
        v128.store(dst, v128.load(src));
        store<u64>(dst, load<u64>(src, 16), 16);
        dst += 24;
      }
      continue;
    }
    for (let p = 0; p < kc; p++) {
      const src = <usize>load<u32>(arows + (<usize>p << 2)) + off;
      let i = 0;
      for (; i < mr; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)));
      for (; i < mrS; i++) store<f32>(dst + (<usize>i << 2), 0);
      dst += rowBytes;
    }
  }
}

/** gemm_pack_b's layout (8-column slivers, columns past nc zero) of B(p, j) = brows[p] + joff + 4j. */
function pack_b_ktab(brows: usize, joff: usize, kc: i32, nc: i32, dst: usize): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = imin(NR, nc - jr), off = joff + (<usize>jr << 2);
    if (nr == NR) {
      for (let p = 0; p < kc; p++) {
        const src = <usize>load<u32>(brows + (<usize>p << 2)) + off;
        v128.store(dst, v128.load(src));
        v128.store(dst, v128.load(src, 16), 16);
        dst += 32;
      }
      continue;
    }
    for (let p = 0; p < kc; p++) {
      pack_row_tail(dst, <usize>load<u32>(brows + (<usize>p << 2)) + off, nr);
      dst += 32;
    }
  }
}

/**
 * C = beta C + sum_p A(:, p) B(p, :) for C [m][n] at c (row stride ldc elements), A and B through k-tables
 * (see above; their column 0 at arows[p] + aoff, brows[p] + boff). gemm_f32's loops, packing and workspace.
 */
export function gemm_f32_ktab(arows: usize, aoff: usize, brows: usize, boff: usize, c: usize, m: i32, n: i32, k: i32,
  ldc: i32, beta: f32, ws: usize, mcb: i32, kcb: i32, ncb: i32, mrS: i32): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) { gemm_scale_c(c, m, n, ldc, beta, 0, 0); return; }
  const ap = ws, bpk = wsB(ws, mcb, kcb), tmp = wsTmp(bpk, kcb, ncb);
  const ldcb = <usize>ldc << 2;
  for (let jc = 0; jc < n; jc += ncb) {
    const nc = imin(ncb, n - jc);
    for (let pc = 0; pc < k; pc += kcb) {
      const kc = imin(kcb, k - pc), tab = <usize>pc << 2;
      pack_b_ktab(brows + tab, boff + (<usize>jc << 2), kc, nc, bpk);
      const betaEff: f32 = pc == 0 ? beta : 1;
      for (let ic = 0; ic < m; ic += mcb) {
        const mc = imin(mcb, m - ic);
        pack_a_ktab(arows + tab, aoff + (<usize>ic << 2), mc, kc, ap, mrS);
        gemm_macro(ap, bpk, kc, mc, nc, c + <usize>ic * ldcb + (<usize>jc << 2), ldcb, ldc, mrS, 1, betaEff, 0, 0, tmp);
      }
    }
  }
}

/**
 * `count` k-table GEMMs on the calling thread over its columns [n0, n0 + n) of every C: job records of 8 words
 * at jobs (u32 arows, brows, c, k, f32 beta, 3 unused), all with m rows and row stride ldc. One dispatch per
 * pass, no barrier: the threads' column ranges are disjoint.
 */
export function gemm_f32_ktab_jobs(jobs: usize, count: i32, m: i32, n0: i32, n: i32, ldc: i32, ws: usize, mcb: i32,
  kcb: i32, ncb: i32, mrS: i32): void {
  const coff = <usize>n0 << 2;
  for (let i = 0; i < count; i++) {
    const j = jobs + (<usize>i << 5);
    gemm_f32_ktab(<usize>load<u32>(j), 0, <usize>load<u32>(j, 4), coff, <usize>load<u32>(j, 8) + coff, m, n,
      load<i32>(j, 12), ldc, load<f32>(j, 16), ws, mcb, kcb, ncb, mrS);
  }
}
