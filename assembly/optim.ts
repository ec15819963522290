// Elementwise parameter and buffer updates: SGD (torch.optim.SGD semantics), axpby, fill. f32x4, scalar tail.

/** g' = g + wd*w; v = momentum*v + g'; w -= lr * (nesterov ? g' + momentum*v : v), n elements. */
export function optim_sgd_f32_update(w: usize, g: usize, v: usize, n: i32, lr: f32, momentum: f32, wd: f32, nesterov: i32): void {
  const lv = f32x4.splat(lr), mv = f32x4.splat(momentum), dv = f32x4.splat(wd);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const wi = v128.load(w + o);
    const gp = f32x4.add(v128.load(g + o), f32x4.mul(dv, wi));
    const vi = f32x4.add(f32x4.mul(mv, v128.load(v + o)), gp);
    v128.store(v + o, vi);
    const step = nesterov ? f32x4.add(gp, f32x4.mul(mv, vi)) : vi;
    v128.store(w + o, f32x4.sub(wi, f32x4.mul(lv, step)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const wi = load<f32>(w + o);
    const gp = load<f32>(g + o) + wd * wi;
    const vi = momentum * load<f32>(v + o) + gp;
    store<f32>(v + o, vi);
    store<f32>(w + o, wi - lr * (nesterov ? gp + momentum * vi : vi));
  }
}

/** y = alpha*x + beta*y; beta 0 overwrites y without reading it (y may hold NaN). */
export function optim_axpby_f32(x: usize, y: usize, n: i32, alpha: f32, beta: f32): void {
  const av = f32x4.splat(alpha), bv = f32x4.splat(beta);
  let i = 0;
  if (beta == 0) {
    for (; i + 4 <= n; i += 4) { const o = <usize>i << 2; v128.store(y + o, f32x4.mul(av, v128.load(x + o))); }
    for (; i < n; i++) { const o = <usize>i << 2; store<f32>(y + o, alpha * load<f32>(x + o)); }
    return;
  }
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.add(f32x4.mul(av, v128.load(x + o)), f32x4.mul(bv, v128.load(y + o))));
  }
  for (; i < n; i++) { const o = <usize>i << 2; store<f32>(y + o, alpha * load<f32>(x + o) + beta * load<f32>(y + o)); }
}

/** x[0..n) = value. */
export function optim_fill_f32(x: usize, n: i32, value: f32): void {
  const vv = f32x4.splat(value);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(x + (<usize>i << 2), vv);
  for (; i < n; i++) store<f32>(x + (<usize>i << 2), value);
}
