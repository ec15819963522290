// Module-level helpers the TS side needs: where the static data ends, so the allocator starts above it.
export function heapBase(): usize { return __heap_base; }

/** Pool self-test: atomically adds v to the i32 at p, `times` times. Lets tests check every worker ran. */
export function runtime_atomic_add(p: usize, v: i32, times: i32): void {
  for (let i = 0; i < times; i++) atomic.add<i32>(p, v);
}

/** Host probe: `iters` rounds of multiply-adds on 8 independent f32x4 registers, no memory traffic. The bench
 *  times it on one thread and on every thread at once: how far this host lets independent work scale, the
 *  ceiling for any kernel's multi-thread speed-up at that moment. Returns a lane so the loop is kept. */
export function runtime_spin(iters: i32): f32 {
  const m = f32x4.splat(0.9999999), c = f32x4.splat(1e-7);
  let a0 = f32x4.splat(1), a1 = f32x4.splat(2), a2 = f32x4.splat(3), a3 = f32x4.splat(4);
  let a4 = f32x4.splat(5), a5 = f32x4.splat(6), a6 = f32x4.splat(7), a7 = f32x4.splat(8);
  for (let i = 0; i < iters; i++) {
    a0 = f32x4.add(f32x4.mul(a0, m), c); a1 = f32x4.add(f32x4.mul(a1, m), c);
    a2 = f32x4.add(f32x4.mul(a2, m), c); a3 = f32x4.add(f32x4.mul(a3, m), c);
    a4 = f32x4.add(f32x4.mul(a4, m), c); a5 = f32x4.add(f32x4.mul(a5, m), c);
    a6 = f32x4.add(f32x4.mul(a6, m), c); a7 = f32x4.add(f32x4.mul(a7, m), c);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(s, 0);
}
