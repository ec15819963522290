// winograd_map2x2: the minimal-multiplication 3x3 convolution on a 2x2 map (pad 1, stride 1), all three passes.
//
// On a 2-wide map with pad 1, each output of a 3-tap row reads two taps: y0 = x0 w1 + x1 w2,
// y1 = x0 w0 + x1 w1, a 2x2 Toeplitz product, which takes 3 multiplies instead of 4:
//   d = B^T x = (x0 + x1, x1, x0),  g = G w = (w1, w2 - w1, w0 - w1),  y = A^T (d .* g) = (m0 + m1, m0 + m2).
// Nested over rows and columns, a 2x2 output tile takes 9 products instead of im2col's 16 non-zero ones,
// and over channels each product is one GEMM (n x cin x cout), gemm_f32. Transformed data, 9 positions
// (j*3 + l) `pos` floats apart:  U [9][cin][cout] = G w G^T,  D [9][n][cin] = B^T x B,  M [9][n][cout].
// The data gradient runs the transposed algorithm (dM = A dY A^T, dD = dM U^T, dx = B dD B^T), the filter
// gradient dU = D^T dM, dw = G^T dU G.
//
// Each pass is one call per thread. In the gradients the threads claim blocks of the GEMMs' output columns
// (input channels) off an atomic counter and per block transform what those columns need, multiply, transform
// back: they never wait for each other, a thread the host slows down takes fewer blocks, and a block's
// transformed filter gradient stays in cache; the small transform every column needs (dM: n x 9 x cout) each
// thread computes for itself. The forward splits the depth instead (map2x2_forward).
// Vectorised over channels (f32x4), tails through partial lanes.
import { gemm_f32, gemm_tail_rows4, gemm_tiles_column } from './gemm';
import { ldv as ld, stv as st } from './lanes';
import { claimInRange, rangeSize } from './winograd_fused';

/** Nine positions pos bytes apart from dst get G w G^T of the 9 taps at src + t * tap (t = ky*3 + kx): n lanes
 *  read, sn lanes stored (zeros past n). */
// @ts-ignore: decorator
@inline function filterVec(src: usize, tap: usize, dst: usize, pos: usize, n: i32, sn: i32): void {
  const w00 = ld(src, n), w01 = ld(src + tap, n), w02 = ld(src + 2 * tap, n);
  const w10 = ld(src + 3 * tap, n), w11 = ld(src + 4 * tap, n), w12 = ld(src + 5 * tap, n);
  const w20 = ld(src + 6 * tap, n), w21 = ld(src + 7 * tap, n), w22 = ld(src + 8 * tap, n);
  // Rows of G w (over ky), for each kx: r0 = w1, r1 = w2 - w1, r2 = w0 - w1; then the same over kx.
  const r00 = w10, r01 = w11, r02 = w12;
  const r10 = f32x4.sub(w20, w10), r11 = f32x4.sub(w21, w11), r12 = f32x4.sub(w22, w12);
  const r20 = f32x4.sub(w00, w10), r21 = f32x4.sub(w01, w11), r22 = f32x4.sub(w02, w12);
  st(dst, r01, sn); st(dst + pos, f32x4.sub(r02, r01), sn); st(dst + 2 * pos, f32x4.sub(r00, r01), sn);
  st(dst + 3 * pos, r11, sn); st(dst + 4 * pos, f32x4.sub(r12, r11), sn); st(dst + 5 * pos, f32x4.sub(r10, r11), sn);
  st(dst + 6 * pos, r21, sn); st(dst + 7 * pos, f32x4.sub(r22, r21), sn); st(dst + 8 * pos, f32x4.sub(r20, r21), sn);
}

/** The 9 taps at dst + t * tap get beta * dw + G^T dU G of the positions at src (pos bytes apart); beta 0
 *  never reads dw. G^T maps (g0, g1, g2) to (g2, g0 - g1 - g2, g1). */
// @ts-ignore: decorator
@inline function filterAdjointVec(src: usize, pos: usize, dst: usize, tap: usize, beta: f32, n: i32): void {
  const u00 = ld(src, n), u01 = ld(src + pos, n), u02 = ld(src + 2 * pos, n);
  const u10 = ld(src + 3 * pos, n), u11 = ld(src + 4 * pos, n), u12 = ld(src + 5 * pos, n);
  const u20 = ld(src + 6 * pos, n), u21 = ld(src + 7 * pos, n), u22 = ld(src + 8 * pos, n);
  tapRow(dst, tap, u20, u21, u22, beta, n);
  tapRow(dst + 3 * tap, tap, f32x4.sub(f32x4.sub(u00, u10), u20), f32x4.sub(f32x4.sub(u01, u11), u21),
    f32x4.sub(f32x4.sub(u02, u12), u22), beta, n);
  tapRow(dst + 6 * tap, tap, u10, u11, u12, beta, n);
}

/** One kernel row (3 taps at dst, tap bytes apart) from one row (c0, c1, c2) of G^T dU: G^T again. */
// @ts-ignore: decorator
@inline function tapRow(dst: usize, tap: usize, c0: v128, c1: v128, c2: v128, beta: f32, n: i32): void {
  let w0 = c2, w1 = f32x4.sub(f32x4.sub(c0, c1), c2), w2 = c1;
  if (beta != 0) {
    const vb = f32x4.splat(beta);
    w0 = f32x4.add(w0, f32x4.mul(vb, ld(dst, n)));
    w1 = f32x4.add(w1, f32x4.mul(vb, ld(dst + tap, n)));
    w2 = f32x4.add(w2, f32x4.mul(vb, ld(dst + 2 * tap, n)));
  }
  st(dst, w0, n); st(dst + tap, w1, n); st(dst + 2 * tap, w2, n);
}

/** B^T x B of one image's 4 pixels (src, px bytes apart) into the 9 positions at dst (pos bytes apart), a
 *  position's n channels `lane` bytes apart: 4 (a vector) into D, or a packed A sliver's row stride (packD). */
// @ts-ignore: decorator
@inline function inputVec(src: usize, px: usize, dst: usize, pos: usize, n: i32, lane: usize): void {
  const x00 = ld(src, n), x01 = ld(src + px, n), x10 = ld(src + 2 * px, n), x11 = ld(src + 3 * px, n);
  const s0 = f32x4.add(x00, x10), s1 = f32x4.add(x01, x11);
  put(dst, lane, f32x4.add(s0, s1), n); put(dst + pos, lane, s1, n); put(dst + 2 * pos, lane, s0, n);
  put(dst + 3 * pos, lane, f32x4.add(x10, x11), n); put(dst + 4 * pos, lane, x11, n); put(dst + 5 * pos, lane, x10, n);
  put(dst + 6 * pos, lane, f32x4.add(x00, x01), n); put(dst + 7 * pos, lane, x01, n); put(dst + 8 * pos, lane, x00, n);
}

/** Stores n (1..4) lanes of v at p, `lane` bytes apart: one vector store when they are adjacent. */
// @ts-ignore: decorator
@inline function put(p: usize, lane: usize, v: v128, n: i32): void {
  if (lane == 4) { st(p, v, n); return; }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(p + lane, f32x4.extract_lane(v, 1));
  if (n > 2) store<f32>(p + 2 * lane, f32x4.extract_lane(v, 2));
  if (n > 3) store<f32>(p + 3 * lane, f32x4.extract_lane(v, 3));
}

/** B dD B^T of the 9 positions at src into one image's 4 pixels at dst (overwritten). B maps (d0, d1, d2)
 *  to (d0 + d2, d0 + d1). */
// @ts-ignore: decorator
@inline function inputAdjointVec(src: usize, pos: usize, dst: usize, px: usize, n: i32): void {
  const e00 = ld(src, n), e01 = ld(src + pos, n), e02 = ld(src + 2 * pos, n);
  const e10 = ld(src + 3 * pos, n), e11 = ld(src + 4 * pos, n), e12 = ld(src + 5 * pos, n);
  const e20 = ld(src + 6 * pos, n), e21 = ld(src + 7 * pos, n), e22 = ld(src + 8 * pos, n);
  const r00 = f32x4.add(e00, e20), r01 = f32x4.add(e01, e21), r02 = f32x4.add(e02, e22);
  const r10 = f32x4.add(e00, e10), r11 = f32x4.add(e01, e11), r12 = f32x4.add(e02, e12);
  st(dst, f32x4.add(r00, r02), n); st(dst + px, f32x4.add(r00, r01), n);
  st(dst + 2 * px, f32x4.add(r10, r12), n); st(dst + 3 * px, f32x4.add(r10, r11), n);
}

/** A^T M A (+ vb) (ReLU) of the 9 positions at src0 (+ those at src1 when parts is 2: M = M0 + M1, added first)
 *  into one image's 4 pixels at dst. A^T maps (m0, m1, m2) to (m0 + m1, m0 + m2). */
// @ts-ignore: decorator
@inline function outputVec(src0: usize, src1: usize, parts: i32, pos: usize, dst: usize, px: usize, vb: v128, relu: bool, n: i32): void {
  let m00 = ld(src0, n), m01 = ld(src0 + pos, n), m02 = ld(src0 + 2 * pos, n);
  let m10 = ld(src0 + 3 * pos, n), m11 = ld(src0 + 4 * pos, n), m12 = ld(src0 + 5 * pos, n);
  let m20 = ld(src0 + 6 * pos, n), m21 = ld(src0 + 7 * pos, n), m22 = ld(src0 + 8 * pos, n);
  if (parts == 2) {
    m00 = f32x4.add(m00, ld(src1, n)); m01 = f32x4.add(m01, ld(src1 + pos, n)); m02 = f32x4.add(m02, ld(src1 + 2 * pos, n));
    m10 = f32x4.add(m10, ld(src1 + 3 * pos, n)); m11 = f32x4.add(m11, ld(src1 + 4 * pos, n)); m12 = f32x4.add(m12, ld(src1 + 5 * pos, n));
    m20 = f32x4.add(m20, ld(src1 + 6 * pos, n)); m21 = f32x4.add(m21, ld(src1 + 7 * pos, n)); m22 = f32x4.add(m22, ld(src1 + 8 * pos, n));
  }
  const b00 = f32x4.add(m00, m10), b01 = f32x4.add(m01, m11), b02 = f32x4.add(m02, m12);
  const b10 = f32x4.add(m00, m20), b11 = f32x4.add(m01, m21), b12 = f32x4.add(m02, m22);
  let y00 = f32x4.add(f32x4.add(b00, b01), vb), y01 = f32x4.add(f32x4.add(b00, b02), vb);
  let y10 = f32x4.add(f32x4.add(b10, b11), vb), y11 = f32x4.add(f32x4.add(b10, b12), vb);
  if (relu) {
    const z = f32x4.splat(0);
    y00 = f32x4.max(y00, z); y01 = f32x4.max(y01, z); y10 = f32x4.max(y10, z); y11 = f32x4.max(y11, z);
  }
  st(dst, y00, n); st(dst + px, y01, n); st(dst + 2 * px, y10, n); st(dst + 3 * px, y11, n);
}

/** A dY A^T of one image's 4 pixels (src, px bytes apart) into the 9 positions at dst. A maps (y0, y1)
 *  to (y0 + y1, y0, y1). */
// @ts-ignore: decorator
@inline function outputAdjointVec(src: usize, px: usize, dst: usize, pos: usize, n: i32): void {
  const y00 = ld(src, n), y01 = ld(src + px, n), y10 = ld(src + 2 * px, n), y11 = ld(src + 3 * px, n);
  const s0 = f32x4.add(y00, y10), s1 = f32x4.add(y01, y11);
  st(dst, f32x4.add(s0, s1), n); st(dst + pos, s0, n); st(dst + 2 * pos, s1, n);
  st(dst + 3 * pos, f32x4.add(y00, y01), n); st(dst + 4 * pos, y00, n); st(dst + 5 * pos, y01, n);
  st(dst + 6 * pos, f32x4.add(y10, y11), n); st(dst + 7 * pos, y10, n); st(dst + 8 * pos, y11, n);
}

/** Channels [c0, c1) of every image of a (n x 2 x 2 x c) tensor through inputVec (adjoint 0) or
 *  outputAdjointVec (adjoint 1) into t: image i, channel ch at t + (i * ld + ch - c0) floats, positions pos
 *  floats apart. */
function toPositions(a: usize, t: usize, n: i32, c: i32, c0: i32, c1: i32, ld: i32, pos: i32, adjoint: i32): void {
  const px = <usize>c * 4, pb = <usize>pos * 4;
  for (let i = 0; i < n; i++) {
    const src = a + <usize>i * 4 * px, dst = t + <usize>i * <usize>ld * 4;
    for (let ch = c0; ch < c1; ch += 4) {
      const nl = min(4, c1 - ch);
      if (adjoint) outputAdjointVec(src + (<usize>ch << 2), px, dst + (<usize>(ch - c0) << 2), pb, nl);
      else inputVec(src + (<usize>ch << 2), px, dst + (<usize>(ch - c0) << 2), pb, nl, 4);
    }
  }
}

/** Claims the next `cb` columns off the i32 at `counter` (zeroed by the caller): their first column, or a
 *  value >= cols when none are left. Which thread computes a block never changes its result. */
// @ts-ignore: decorator
@inline function claim(counter: usize, cb: i32): i32 { return atomic.add<i32>(counter, cb); }

/** D = B^T x B of channels [0, kw) of every image (x: the first channel, pixels cin channels apart) straight into
 *  gemm_f32's packed-A layout, one [rows][kw] block per position (pos bytes apart): row i of the sliver of width
 *  wd starting at row r0, depth ch, is the float at r0 * kw + ch * wd + (i - r0). Rows past n in a last partial
 *  sliver get zeros. */
function packD(x: usize, d: usize, n: i32, cin: i32, kw: i32, pos: usize, mrS: i32): void {
  // Rows [0, full) in mrS-row slivers (the last one padded when no 4-row slivers follow), then 4-row ones.
  const main = n - gemm_tail_rows4(n, mrS), full = main < n ? main : (n + mrS - 1) / mrS * mrS, rows = main < n ? n : full;
  const px = <usize>cin * 4;
  for (let i = 0; i < rows; i++) {
    const r0 = i < full ? i / mrS * mrS : full + (i - full) / 4 * 4, wd = i < full ? mrS : 4;
    const dst = d + ((<usize>r0 * <usize>kw + <usize>(i - r0)) << 2), step = <usize>wd << 2;
    if (i >= n) {
      for (let p = 0; p < 9; p++) for (let ch = 0; ch < kw; ch++) store<f32>(dst + <usize>p * pos + <usize>ch * step, 0);
      continue;
    }
    const src = x + <usize>i * 4 * px;
    // A row's channels lie wd floats apart in its sliver.
    for (let ch = 0; ch < kw; ch += 4) inputVec(src + (<usize>ch << 2), px, dst + <usize>ch * step, pos, min(4, kw - ch), step);
  }
}

/** Rows [k0, k0 + kk) of U = G w G^T for output channels [c0, c0 + nc) into 8-column GEMM slivers at u
 *  (positions up bytes apart): row r of sliver j at u + j * kk * 32 + r * 32; a last sliver's columns past nc
 *  get zeros (the tiles compute them and never store them). */
function filterRows(w: usize, cout: i32, tap: usize, c0: i32, nc: i32, k0: i32, kk: i32, u: usize, up: usize): void {
  const sl = <usize>kk * 32;
  for (let r = 0; r < kk; r++) {
    const src = w + ((<usize>(k0 + r) * <usize>cout + <usize>c0) << 2), dst = u + <usize>r * 32;
    for (let co = 0; co < nc; co += 4) {
      filterVec(src + (<usize>co << 2), tap, dst + <usize>(co >> 3) * sl + (<usize>(co & 7) << 2), up, min(4, nc - co), 4);
    }
    if ((nc & 7) != 0 && (nc & 7) <= 4) {
      const z = dst + <usize>(nc >> 3) * sl + 16;
      for (let p = 0; p < 9; p++) v128.store(z + <usize>p * up, f32x4.splat(0));
    }
  }
}

/**
 * Forward: y = A^T [(B^T x B) U] A (+ bias if flags bit 0) (ReLU if bit 1), in two phases in one call.
 * 1. Products: the depth (input channels) is cut at kh into two parts, M = M0 + M1 with M_i = D_i U_i over
 *    part i. The threads claim items (part, block of cb output channels) off sync + 64. Per item the thread
 *    transforms D for the part's channels straight into the packed-A layout (packD: d, [9][rows][kw], dPos
 *    floats apart, its own), then goes down the depth in steps of kb rows: the step's rows of U are transformed
 *    into packed 8-column slivers (filterRows: u, [9][cb/8][kb][8], uPos floats apart, mostly in L2 from
 *    transform to GEMM) and gemm_f32's micro-tiles multiply them into M_part (m + part * mPart bytes: [9][n][cout],
 *    mPos floats apart; the first step overwrites; the parts, written by different threads, apart by a gap). Items
 *    done are counted at sync + 128; the threads wait until all are (a late thread finds nothing left to claim;
 *    about 15 us on 2 threads, spin counts).
 * 2. y = A^T (M0 + M1) A on chunks of oc output channels claimed off sync + 192.
 * Why the depth split: on 2 threads each thread then reads whole rows of the filter (2 KB at 512 channels)
 * where halving the output channels made each read half rows, and reading the filter (9.4 MB at 512->512) is
 * memory-bound: the transforms alone (GEMMs skipped) took 0.78 ms on 1 thread and 0.84 on 2 with column
 * halves, 0.58 on 2 with depth halves; two independent half-depth problems ran 9-13% faster side by side than
 * the two column halves of one. D per item: each thread then writes and reads only its own D (on 2 threads:
 * D once; with more, once per item), where a D shared by all (chunks claimed, then a wait) ran 2 threads 4-5%
 * slower (2.15-2.18 ms against 2.06), its lines moving between the cores. Each output's sums run in an order
 * set by cin, cout, kh and kb only (never by the thread count or which thread ran what): any thread count gives
 * bit-identical results. sync: 256 zeroed bytes; tmp: 48 floats per thread for edge tiles; mrS: the
 * micro-kernel's rows (6 or 5).
 */
export function map2x2_forward(x: usize, w: usize, bias: usize, y: usize, n: i32, cin: i32, cout: i32, cb: i32, sync: usize, kb: i32,
  kh: i32, d: usize, dPos: i32, u: usize, uPos: i32, m: usize, mPos: i32, flags: i32, tmp: usize, mrS: i32, oc: i32, mPart: usize): void {
  const tap = <usize>cin * <usize>cout * 4, dp = <usize>dPos * 4, up = <usize>uPos * 4, mp = <usize>mPos * 4;
  const px = <usize>cout * 4, ldcB = <usize>cout << 2;
  const main = n - gemm_tail_rows4(n, mrS), parts = kh < cin ? 2 : 1, items = parts * ((cout + cb - 1) / cb);
  for (let it = claim(sync + 64, 1); it < items; it = claim(sync + 64, 1)) {
    const part = it % parts, c0 = it / parts * cb, nc = min(cb, cout - c0);
    const ka = part == 0 ? 0 : kh, kz = part == 0 ? min(kh, cin) : cin, kw = kz - ka;
    const mb = m + <usize>part * mPart + (<usize>c0 << 2);
    packD(x + (<usize>ka << 2), d, n, cin, kw, dp, mrS);
    for (let k0 = ka; k0 < kz; k0 += kb) {
      const kk = min(kb, kz - k0), sl = <usize>kk * 32, beta: f32 = k0 == ka ? 0 : 1;
      filterRows(w, cout, tap, c0, nc, k0, kk, u, up);
      for (let p = 0; p < 9; p++) {
        // This step's depth in the slivers packD wrote kw deep: (k0 - ka) rows of mrS (or 4) floats in.
        const ap = d + <usize>p * dp + (<usize>((k0 - ka) * mrS) << 2), ap4 = d + <usize>p * dp + (<usize>(main * kw + (k0 - ka) * 4) << 2);
        const bp = u + <usize>p * up, cp = mb + <usize>p * mp;
        for (let jr = 0; jr < nc; jr += 8) {
          gemm_tiles_column(ap, ap4, kw, main, n - main, bp + <usize>(jr >> 3) * sl, kk, cp + (<usize>jr << 2), ldcB, cout, mrS,
            min(8, nc - jr), 1, beta, 0, 0, tmp);
        }
      }
    }
    atomic.add<i32>(sync + 128, 1);
  }
  while (atomic.load<i32>(sync + 128) < items) { /* another thread is finishing its last item */ }
  const relu = (flags & 2) != 0, zero = f32x4.splat(0), m1 = m + mPart;
  for (let c0 = claim(sync + 192, oc); c0 < cout; c0 = claim(sync + 192, oc)) {
    const c1 = min(cout, c0 + oc);
    for (let i = 0; i < n; i++) {
      for (let co = c0; co < c1; co += 4) {
        const nl = min(4, c1 - co), o = (<usize>i * <usize>cout + <usize>co) << 2;
        const vb = (flags & 1) != 0 ? ld(bias + (<usize>co << 2), nl) : zero;
        outputVec(m + o, m1 + o, parts, mp, y + ((<usize>i * 4 * <usize>cout + <usize>co) << 2), px, vb, relu, nl);
      }
    }
  }
}

/**
 * Data gradient: dx = B [(A dY A^T) U^T] B^T (overwrites dx). The threads claim blocks of cb input channels off
 * `counter`. dm: this thread's dM ([9][n][cout], dmPos floats apart); u: one block's U rows ([9][cb][cout],
 * uPos apart); dd: one block's dD ([9][n][cb], ddPos apart).
 */
export function map2x2_backward_data(dy: usize, w: usize, dx: usize, n: i32, cin: i32, cout: i32, cb: i32, counter: usize,
  dm: usize, dmPos: i32, u: usize, uPos: i32, dd: usize, ddPos: i32, ws: usize, mcb: i32, kcb: i32, ncb: i32, mrS: i32): void {
  toPositions(dy, dm, n, cout, 0, cout, cout, dmPos, 1);
  const tap = <usize>cin * <usize>cout * 4, up = <usize>uPos * 4, dp = <usize>ddPos * 4, px = <usize>cin * 4;
  for (let c0 = claim(counter, cb); c0 < cin; c0 = claim(counter, cb)) {
    const nc = min(cb, cin - c0);
    for (let ci = c0; ci < c0 + nc; ci++) {
      const src = w + <usize>ci * <usize>cout * 4, dst = u + <usize>(ci - c0) * <usize>cout * 4;
      for (let co = 0; co < cout; co += 4) filterVec(src + (<usize>co << 2), tap, dst + (<usize>co << 2), up, min(4, cout - co), min(4, cout - co));
    }
    for (let p = 0; p < 9; p++) {
      gemm_f32(dm + <usize>p * <usize>dmPos * 4, u + <usize>p * up, dd + <usize>p * dp, n, nc, cout, cout, cout, nc, 0, 1, 1, 0, 0, 0,
        ws, mcb, kcb, ncb, mrS);
    }
    for (let i = 0; i < n; i++) {
      for (let ci = 0; ci < nc; ci += 4) {
        inputAdjointVec(dd + (<usize>(i * nc + ci) << 2), dp, dx + ((<usize>i * 4 * <usize>cin + <usize>(c0 + ci)) << 2), px, min(4, nc - ci));
      }
    }
  }
}

/**
 * Filter gradient: dw = beta dw + G^T [(B^T x B)^T (A dY A^T)] G. The threads claim blocks of cb input channels
 * (rows of dU and of dw) with claimInRange (`ranges` ranges, counters at counter + 64 r, this thread's own range
 * `home` first): with the threads in step, the rows of dw they write at the same time lie half of dw apart, where
 * claims off one counter put them one block apart (128 KB per tap for 64 channels of 512), close enough for the
 * two cores' prefetchers to run into each other's. dm: this thread's dM as in map2x2_backward_data; d: one block's
 * D ([9][n][cb], dPos apart); du: one block's dU rows ([9][cb][cout], duPos apart).
 */
export function map2x2_backward_filter(x: usize, dy: usize, dw: usize, n: i32, cin: i32, cout: i32, cb: i32, counter: usize,
  beta: f32, dm: usize, dmPos: i32, d: usize, dPos: i32, du: usize, duPos: i32, ws: usize, mcb: i32, kcb: i32, ncb: i32, mrS: i32,
  home: i32, ranges: i32): void {
  toPositions(dy, dm, n, cout, 0, cout, cout, dmPos, 1);
  const tap = <usize>cin * <usize>cout * 4, dup = <usize>duPos * 4;
  const blocks = (cin + cb - 1) / cb, per = rangeSize(blocks, ranges, 1);
  for (let k = 0; k < ranges; k++) for (let b = claimInRange(counter, home, k, ranges, per, blocks); b >= 0;
    b = claimInRange(counter, home, k, ranges, per, blocks)) {
    const c0 = b * cb, nc = min(cb, cin - c0);
    toPositions(x, d, n, cin, c0, c0 + nc, nc, dPos, 0);
    for (let p = 0; p < 9; p++) {
      gemm_f32(d + <usize>p * <usize>dPos * 4, dm + <usize>p * <usize>dmPos * 4, du + <usize>p * dup, nc, cout, n, nc, cout, cout, 1, 0,
        1, 0, 0, 0, ws, mcb, kcb, ncb, mrS);
    }
    for (let ci = 0; ci < nc; ci++) {
      const src = du + <usize>ci * <usize>cout * 4, dst = dw + <usize>(c0 + ci) * <usize>cout * 4;
      for (let co = 0; co < cout; co += 4) filterAdjointVec(src + (<usize>co << 2), dup, dst + (<usize>co << 2), tap, beta, min(4, cout - co));
    }
  }
}
