// The counter-based dropout RNG every backend shares: u32-only arithmetic, so WGSL and wasm reproduce it bit-exactly.
//
// THE ALGORITHM (port it exactly; every step is on unsigned 32-bit integers, multiplication wraps mod 2^32,
// i.e. Math.imul in JS, i32x4.mul in wasm, u32 `*` in WGSL; no 64-bit arithmetic anywhere):
//
//   mix32(x):                      // "lowbias32" integer hash (C. Wellons), full avalanche
//     x ^= x >> 16;  x *= 0x7feb352d;
//     x ^= x >> 15;  x *= 0x846ca68b;
//     x ^= x >> 16;  return x;
//
//   key(seed)      = mix32(seed ^ 0x9e3779b9)                     // once per kernel call (a uniform)
//   bits(seed, i)  = mix32(mix32(i ^ key(seed)) + key(seed))       // i = element index, u32; `+` wraps
//   uniform(seed, i) = (bits(seed, i) >> 8) * 2^-24                 // exact in f32, in [0, 1)
//
// Dropout keeps element i when uniform(seed, i) >= p. Because (bits >> 8) is an integer, that is the
// integer test (bits >> 8) >= threshold(p) with threshold(p) = ceil(p * 2^24), computed ON THE HOST in
// float64 and handed to the kernel as a u32 (never compare floats in the shader: p rounded to f32 could
// flip an element). The kept value is keepScale(p) = f32(1 / (1 - p)) (computed in float64 on the host,
// rounded once to f32), so mask[i] = keep ? keepScale : 0 and y[i] = f32(x[i] * mask[i]).
//
// Why two rounds with the key folded in twice: one round of mix32(i ^ key) would make every seed's stream
// a permutation of the same values (seed s at index i equals seed t at index i ^ key(s) ^ key(t)); the
// second round with `+ key` breaks that linearity, so masks of different seeds are independent.

/** lowbias32: one round of the shared 32-bit integer hash. Returns an unsigned 32-bit integer. */
export function mix32(x: number): number {
  x = x >>> 0;
  x ^= x >>> 16; x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15; x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The per-call key derived from the 32-bit seed. */
export function rngKey(seed: number): number {
  return mix32((seed ^ 0x9e3779b9) >>> 0);
}

/** The 32 random bits of element `index` under `seed`. */
export function rngBits(seed: number, index: number): number {
  const k = rngKey(seed);
  return mix32((mix32((index ^ k) >>> 0) + k) >>> 0);
}

/** uniform(seed, i) in [0, 1), a multiple of 2^-24. */
export function rngUniform(seed: number, index: number): number {
  return (rngBits(seed, index) >>> 8) * 2 ** -24;
}

/** The integer keep threshold: keep element i iff (bits >>> 8) >= dropoutThreshold(p). */
export function dropoutThreshold(p: number): number {
  return Math.ceil(p * 16777216);
}

/** The value kept elements are scaled by (inverted dropout), already rounded to float32. */
export function dropoutKeepScale(p: number): number {
  return Math.fround(1 / (1 - p));
}
