// Deterministic test and bench inputs: xorshift32 floats in [-scale, scale) from a seed, the same everywhere.

export function randomArray(length: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(length);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return out;
}
