// Reductions: whole-array sum and column sums of a [rows, cols] matrix, as per-thread float64 partials
// that a single combine call adds in a fixed order (deterministic for a given thread count).

/** Adds an f32x4 of sums into two float64 lanes pairs at p (p[0..4) as f64). */
// @ts-ignore: decorator
@inline function addF32x4ToF64(p: usize, acc: v128): void {
  const lo = f64x2.promote_low_f32x4(acc);
  const hi = f64x2.promote_low_f32x4(i32x4.shuffle(acc, acc, 2, 3, 0, 1));
  v128.store(p, f64x2.add(v128.load(p), lo));
  v128.store(p + 16, f64x2.add(v128.load(p + 16), hi));
}

/** Rows per tile for column reductions: f32 sums over at most 64 rows, then added into float64, and a
 *  tile of at most ~64 KB so the channel sweep over it stays in cache. */
// @ts-ignore: decorator
@inline function colTileRows(cols: i32): i32 {
  let t = 16384 / cols;
  if (t < 1) t = 1;
  if (t > 64) t = 64;
  return t;
}

/** out[0] (f64) = sum of x[0..n). f32x4 partial sums over blocks of 1024 elements, float64 across blocks. */
export function reduce_sum_f32_partial(x: usize, n: i32, out: usize): void {
  let total: f64 = 0;
  let i = 0;
  while (i < n) {
    const e = min(n, i + 1024);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    for (; i + 8 <= e; i += 8) {
      const p = x + (<usize>i << 2);
      a0 = f32x4.add(a0, v128.load(p));
      a1 = f32x4.add(a1, v128.load(p, 16));
    }
    a0 = f32x4.add(a0, a1);
    let s: f64 = <f64>f32x4.extract_lane(a0, 0) + <f64>f32x4.extract_lane(a0, 1) +
      <f64>f32x4.extract_lane(a0, 2) + <f64>f32x4.extract_lane(a0, 3);
    for (; i < e; i++) s += <f64>load<f32>(x + (<usize>i << 2));
    total += s;
  }
  store<f64>(out, total);
}

/** out (f32) = sum of the `parts` float64 partials at p, in order. */
export function reduce_sum_combine(p: usize, parts: i32, out: usize): void {
  let s: f64 = 0;
  for (let t = 0; t < parts; t++) s += load<f64>(p + (<usize>t << 3));
  store<f32>(out, <f32>s);
}

/** out[c] (f64, cols entries) = sum over `rows` rows of x[r, c]; x is [rows, cols] row-major. */
export function reduce_colsum_f32_partial(x: usize, rows: i32, cols: i32, out: usize): void {
  memory.fill(out, 0, <usize>cols << 3);
  const tile = colTileRows(cols);
  const stride = <usize>cols << 2;
  for (let r0 = 0; r0 < rows; r0 += tile) {
    const nr = min(tile, rows - r0);
    const base = x + <usize>r0 * stride;
    let c = 0;
    for (; c + 8 <= cols; c += 8) {
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
      let p = base + (<usize>c << 2);
      for (let r = 0; r < nr; r++, p += stride) {
        a0 = f32x4.add(a0, v128.load(p));
        a1 = f32x4.add(a1, v128.load(p, 16));
      }
      addF32x4ToF64(out + (<usize>c << 3), a0);
      addF32x4ToF64(out + (<usize>(c + 4) << 3), a1);
    }
    for (; c + 4 <= cols; c += 4) {
      let a0 = f32x4.splat(0);
      let p = base + (<usize>c << 2);
      for (let r = 0; r < nr; r++, p += stride) a0 = f32x4.add(a0, v128.load(p));
      addF32x4ToF64(out + (<usize>c << 3), a0);
    }
    for (; c < cols; c++) {
      let s: f32 = 0;
      let p = base + (<usize>c << 2);
      for (let r = 0; r < nr; r++, p += stride) s += load<f32>(p);
      const q = out + (<usize>c << 3);
      store<f64>(q, load<f64>(q) + <f64>s);
    }
  }
}

/** dst[c] (f32) = beta*dst[c] + sum over `parts` partials (f64, each `cols` long, `partStride` bytes apart);
 *  beta 0 overwrites (an uninitialised dst may hold NaN). */
export function reduce_colsum_combine(p: usize, parts: i32, partStride: i32, cols: i32, dst: usize, beta: f32): void {
  for (let c = 0; c < cols; c++) {
    let s: f64 = 0;
    for (let t = 0; t < parts; t++) s += load<f64>(p + <usize>t * <usize>partStride + (<usize>c << 3));
    const q = dst + (<usize>c << 2);
    store<f32>(q, beta == 0 ? <f32>s : <f32>(<f64>beta * <f64>load<f32>(q) + s));
  }
}
