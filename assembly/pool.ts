// 2x2 stride-2 max pool over NHWC: f32x4 over channels with a scalar channel tail; a call covers a range of
// output rows (n*oh of them), so threads split rows. Maxima are the reference's running `if (v > m) m = v`
// over the window in row-major order: f32x4.pmax(m, v) (= m < v ? v : m, one maxps on x64, where f32x4.max
// costs several instructions for its NaN and -0 rules) in the forward, and the same strict comparisons as
// lane masks for the argmax in the backward, so ties, -0 and NaN pick the reference's element bit for bit.

/** y = max over each 2x2 window, for output rows [r0, r1) of an [n, h, w, c] input (odd h, w: floor). */
export function pool_maxpool2x2_f32_forward(x: usize, y: usize, r0: i32, r1: i32, h: i32, w: i32, c: i32): void {
  const oh = h >> 1, ow = w >> 1;
  const cb = <usize>c << 2;
  const rowBytes = <usize>w * cb;
  for (let r = r0; r < r1; r++) {
    const n = r / oh, oy = r - n * oh;
    let pi = x + <usize>(n * h + 2 * oy) * rowBytes;
    let po = y + <usize>r * <usize>ow * cb;
    for (let ox = 0; ox < ow; ox++, pi += cb << 1, po += cb) {
      const pb = pi + cb, pd = pi + rowBytes, pe = pd + cb;
      let ch = 0;
      for (; ch + 4 <= c; ch += 4) {
        const o = <usize>ch << 2;
        const m = f32x4.pmax(f32x4.pmax(f32x4.pmax(v128.load(pi + o), v128.load(pb + o)), v128.load(pd + o)), v128.load(pe + o));
        v128.store(po + o, m);
      }
      for (; ch < c; ch++) {
        const o = <usize>ch << 2;
        let m = load<f32>(pi + o);
        const b = load<f32>(pb + o), d = load<f32>(pd + o), e = load<f32>(pe + o);
        if (b > m) m = b;
        if (d > m) m = d;
        if (e > m) m = e;
        store<f32>(po + o, m);
      }
    }
  }
}

/** dx: dy goes to the first (row-major) maximum of each window, 0 elsewhere, for the input rows that output
 *  rows [r0, r1) cover; the row below the last window (odd h) and the column right of it (odd w) get 0. */
export function pool_maxpool2x2_f32_backward(x: usize, dy: usize, dx: usize, r0: i32, r1: i32, h: i32, w: i32, c: i32): void {
  const oh = h >> 1, ow = w >> 1;
  const cb = <usize>c << 2;
  const rowBytes = <usize>w * cb;
  for (let r = r0; r < r1; r++) {
    const n = r / oh, oy = r - n * oh;
    const rowOff = <usize>(n * h + 2 * oy) * rowBytes;
    let pi = x + rowOff, pg = dx + rowOff;
    let pd = dy + <usize>r * <usize>ow * cb;
    for (let ox = 0; ox < ow; ox++, pi += cb << 1, pg += cb << 1, pd += cb) {
      let ch = 0;
      for (; ch + 4 <= c; ch += 4) {
        const o = <usize>ch << 2;
        const v0 = v128.load(pi + o), v1 = v128.load(pi + cb + o);
        const v2 = v128.load(pi + rowBytes + o), v3 = v128.load(pi + rowBytes + cb + o);
        // s_k: element k beats the running maximum of the elements before it (strict, as the reference)
        const s1 = f32x4.gt(v1, v0);
        const m1 = f32x4.pmax(v0, v1);
        const s2 = f32x4.gt(v2, m1);
        const s3 = f32x4.gt(v3, f32x4.pmax(m1, v2));
        const g = v128.load(pd + o);
        const g3 = v128.and(g, s3);
        const g2 = v128.andnot(v128.and(g, s2), s3);
        const later = v128.or(s2, s3);
        v128.store(pg + o, v128.andnot(g, v128.or(s1, later)));
        v128.store(pg + cb + o, v128.andnot(v128.and(g, s1), later));
        v128.store(pg + rowBytes + o, g2);
        v128.store(pg + rowBytes + cb + o, g3);
      }
      for (; ch < c; ch++) {
        const o = <usize>ch << 2;
        const a = load<f32>(pi + o), b = load<f32>(pi + cb + o);
        const d = load<f32>(pi + rowBytes + o), e = load<f32>(pi + rowBytes + cb + o);
        let best = 0;
        let m = a;
        if (b > m) { m = b; best = 1; }
        if (d > m) { m = d; best = 2; }
        if (e > m) { m = e; best = 3; }
        const g = load<f32>(pd + o);
        store<f32>(pg + o, best == 0 ? g : 0);
        store<f32>(pg + cb + o, best == 1 ? g : 0);
        store<f32>(pg + rowBytes + o, best == 2 ? g : 0);
        store<f32>(pg + rowBytes + cb + o, best == 3 ? g : 0);
      }
    }
    if ((w & 1) != 0) { // the column no window covers
      memory.fill(dx + rowOff + rowBytes - cb, 0, cb);
      memory.fill(dx + rowOff + (rowBytes << 1) - cb, 0, cb);
    }
    if ((h & 1) != 0 && oy == oh - 1) memory.fill(dx + rowOff + (rowBytes << 1), 0, rowBytes);
  }
}
