// Softmax cross-entropy with label smoothing (torch's CrossEntropyLoss(label_smoothing)), one row per sample:
// f32x4 max and scaling, scalar Mathf.exp (musl expf, < 1 ulp), float64 row sums.

/** Rows [r0, r1): probs = softmax(logits row), loss[r] = logsumexp - (1-eps)*z[label] - eps/classes * sum z. */
export function loss_softmax_xent_f32_forward(logits: usize, labels: usize, probs: usize, loss: usize, r0: i32, r1: i32,
  classes: i32, smoothing: f64): void {
  const rb = <usize>classes << 2;
  for (let r = r0; r < r1; r++) {
    const z = logits + <usize>r * rb, p = probs + <usize>r * rb;
    const label = <i32>load<f32>(labels + (<usize>r << 2));
    const zl = <f64>load<f32>(z + (<usize>label << 2)); // read before probs is written (probs may alias logits)
    let j = 0;
    let mv = f32x4.splat(-Infinity);
    for (; j + 4 <= classes; j += 4) mv = f32x4.max(mv, v128.load(z + (<usize>j << 2)));
    let m = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    for (; j < classes; j++) m = max(m, load<f32>(z + (<usize>j << 2)));
    let s: f64 = 0, sz: f64 = 0;
    for (j = 0; j < classes; j++) {
      const zj = load<f32>(z + (<usize>j << 2));
      const e = Mathf.exp(zj - m);
      store<f32>(p + (<usize>j << 2), e);
      s += <f64>e;
      sz += <f64>zj;
    }
    const inv = <f32>(1 / s);
    const iv = f32x4.splat(inv);
    for (j = 0; j + 4 <= classes; j += 4) v128.store(p + (<usize>j << 2), f32x4.mul(v128.load(p + (<usize>j << 2)), iv));
    for (; j < classes; j++) store<f32>(p + (<usize>j << 2), load<f32>(p + (<usize>j << 2)) * inv);
    const lse = <f64>m + Math.log(s);
    store<f32>(loss + (<usize>r << 2), <f32>(lse - (1 - smoothing) * zl - (smoothing / <f64>classes) * sz));
  }
}

/** Rows [r0, r1): dlogits = scale * (probs - target), target = (1-eps)*onehot(label) + eps/classes. */
export function loss_softmax_xent_f32_backward(probs: usize, labels: usize, dlogits: usize, r0: i32, r1: i32, classes: i32,
  smoothing: f64, scale: f64): void {
  const rb = <usize>classes << 2;
  const off = smoothing / <f64>classes;
  const offv = f32x4.splat(<f32>off), sv = f32x4.splat(<f32>scale);
  for (let r = r0; r < r1; r++) {
    const p = probs + <usize>r * rb, d = dlogits + <usize>r * rb;
    const label = <i32>load<f32>(labels + (<usize>r << 2));
    const pl = <f64>load<f32>(p + (<usize>label << 2)); // read first: dlogits may alias probs
    let j = 0;
    for (; j + 4 <= classes; j += 4) {
      const o = <usize>j << 2;
      v128.store(d + o, f32x4.mul(sv, f32x4.sub(v128.load(p + o), offv)));
    }
    for (; j < classes; j++) {
      const o = <usize>j << 2;
      store<f32>(d + o, <f32>scale * (load<f32>(p + o) - <f32>off));
    }
    store<f32>(d + (<usize>label << 2), <f32>(scale * (pl - (1 - smoothing + off))));
  }
}
