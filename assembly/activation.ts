// Elementwise activation kernels: ReLU forward/backward, bias add, inverted dropout with the shared
// counter-based RNG (src/backends/reference/rng.ts documents it). Pointers come pre-offset by the operator.

/** y = x > 0 ? x : 0 (NaN -> 0, as the reference), n elements; x and y may alias. */
export function activation_relu_f32_forward(x: usize, y: usize, n: i32): void {
  const z = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const v = v128.load(x + o);
    v128.store(y + o, v128.and(v, f32x4.gt(v, z)));
  }
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    store<f32>(y + (<usize>i << 2), v > 0 ? v : 0);
  }
}

/** dx = y > 0 ? dy : 0, n elements; dy and dx may alias. */
export function activation_relu_f32_backward(y: usize, dy: usize, dx: usize, n: i32): void {
  const z = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, v128.and(v128.load(dy + o), f32x4.gt(v128.load(y + o), z)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, load<f32>(y + o) > 0 ? load<f32>(dy + o) : 0);
  }
}

/** y[r, c] += bias[c] for `rows` rows of `cols`. */
export function activation_bias_add_f32(y: usize, bias: usize, rows: i32, cols: i32): void {
  const stride = <usize>cols << 2;
  let p = y;
  for (let r = 0; r < rows; r++, p += stride) {
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const o = <usize>c << 2;
      v128.store(p + o, f32x4.add(v128.load(p + o), v128.load(bias + o)));
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      store<f32>(p + o, load<f32>(p + o) + load<f32>(bias + o));
    }
  }
}

// @ts-ignore: decorator
@inline function mix32x4(v: v128): v128 {
  v = v128.xor(v, i32x4.shr_u(v, 16));
  v = i32x4.mul(v, i32x4.splat(0x7feb352d));
  v = v128.xor(v, i32x4.shr_u(v, 15));
  v = i32x4.mul(v, i32x4.splat(<i32>0x846ca68b));
  return v128.xor(v, i32x4.shr_u(v, 16));
}

// @ts-ignore: decorator
@inline function mix32(v: u32): u32 {
  v ^= v >> 16; v *= 0x7feb352d;
  v ^= v >> 15; v *= 0x846ca68b;
  return v ^ (v >> 16);
}

/** Inverted dropout over elements [start, start+n) (pointers at element `start`): bits = mix32(mix32(i ^ key)
 *  + key), keep iff (bits >> 8) >= thr; mask = keep ? keepScale : 0; y = x * mask. key, thr and keepScale
 *  come from the host (rngKey, dropoutThreshold, dropoutKeepScale in reference/rng.ts). */
export function activation_dropout_f32_forward(x: usize, y: usize, mask: usize, n: i32, start: i32, key: i32,
  thr: i32, keepScale: f32): void {
  const kv = i32x4.splat(key), tv = i32x4.splat(thr), sv = f32x4.splat(keepScale);
  let idx = i32x4.add(i32x4.splat(start), i32x4(0, 1, 2, 3));
  const four = i32x4.splat(4);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const bits = mix32x4(i32x4.add(mix32x4(v128.xor(idx, kv)), kv));
    const m = v128.and(sv, i32x4.ge_s(i32x4.shr_u(bits, 8), tv));
    v128.store(mask + o, m);
    v128.store(y + o, f32x4.mul(v128.load(x + o), m));
    idx = i32x4.add(idx, four);
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const bits = mix32(mix32(<u32>(start + i) ^ <u32>key) + <u32>key);
    const m: f32 = <i32>(bits >> 8) >= thr ? keepScale : 0;
    store<f32>(mask + o, m);
    store<f32>(y + o, load<f32>(x + o) * m);
  }
}

/** dx = dy * mask, n elements. */
export function activation_dropout_f32_backward(dy: usize, mask: usize, dx: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, f32x4.mul(v128.load(dy + o), v128.load(mask + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, load<f32>(dy + o) * load<f32>(mask + o));
  }
}
