// The host-side seeded RNG (initialisation, dropout seeds): a tiny generator whose whole state is one u32, so it checkpoints exactly.
import { mix32 } from '../backends/reference/rng.js';

/** mulberry32: 32-bit state, full period 2^32; plenty for weight init and seed streams. */
export class Rng {
  constructor(private s: number) { this.s = s >>> 0; }
  get state(): number { return this.s; }
  set state(v: number) { this.s = v >>> 0; }
  /** Uniform u32. */
  nextU32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform in [0, 1). */
  uniform(): number { return this.nextU32() / 4294967296; }
  /** Standard normal by Box-Muller (no cached spare, so the state stays one number). */
  normal(): number {
    const u1 = (this.nextU32() + 1) / 4294967297, u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
}

/** A 32-bit seed derived from several integers (run seed, step, layer): stateless, so resume needs only the step. */
export function deriveSeed(...parts: number[]): number {
  let h = 0x12345678;
  for (const p of parts) h = mix32((h ^ mix32(p >>> 0)) + 0x9e3779b9);
  return h >>> 0;
}
