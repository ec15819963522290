// Partial-vector loads and stores for channel tails (1..4 lanes of an f32x4), shared by the transform kernels
// (assembly/map2x2.ts and the generated assembly/winograd_gen.ts), and the block sum the filter adjoints load through.

/** Load n (1..4) lanes from p, zeros in the rest. n = 4 folds to one v128.load after inlining. */
// @ts-ignore: decorator
@inline export function ldv(p: usize, n: i32): v128 {
  if (n >= 4) return v128.load(p);
  let v = f32x4.splat(0);
  v = v128.load32_lane(p, v, 0);
  if (n > 1) v = v128.load32_lane(p + 4, v, 1);
  if (n > 2) v = v128.load32_lane(p + 8, v, 2);
  return v;
}

/** Store n (1..4) lanes of v at p. */
// @ts-ignore: decorator
@inline export function stv(p: usize, v: v128, n: i32): void {
  if (n >= 4) { v128.store(p, v); return; }
  v128.store32_lane(p, v, 0);
  if (n > 1) v128.store32_lane(p + 4, v, 1);
  if (n > 2) v128.store32_lane(p + 8, v, 2);
}

/** stage + 16q (q < count) = the sum over b < blocks, in that order, of the n lanes at src + q * pos + b * blockBytes:
 *  count positions of `blocks` partial sums (the fused filter gradient's dU_b), added the same way whoever calls. */
// @ts-ignore: decorator
@inline export function sumBlocks(src: usize, pos: usize, count: i32, blocks: i32, blockBytes: usize, n: i32, stage: usize): void {
  for (let q = 0; q < count; q++) {
    const s = src + <usize>q * pos;
    let a = ldv(s, n);
    for (let b = 1; b < blocks; b++) a = f32x4.add(a, ldv(s + <usize>b * blockBytes, n));
    v128.store(stage + <usize>q * 16, a);
  }
}
