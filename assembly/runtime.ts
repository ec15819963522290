// Module-level helpers the TS side needs: where the static data ends, so the allocator starts above it.
export function heapBase(): usize { return __heap_base; }

/** Pool self-test: atomically adds v to the i32 at p, `times` times. Lets tests check every worker ran. */
export function runtime_atomic_add(p: usize, v: i32, times: i32): void {
  for (let i = 0; i < times; i++) atomic.add<i32>(p, v);
}
