// Thread-splitting helpers for the layers-family wasm operators (elementwise ranges, row ranges, partials).
import type { WasmContext } from '../context.js';
import { splitRange } from '../pool.js';

/** Below this many elements per thread a pool round trip costs more than the work it splits. */
export const MIN_ELEMENTS_PER_THREAD = 32768;

/** How many threads to use for `work` elements. */
export function threadsFor(ctx: WasmContext, work: number): number {
  return Math.max(1, Math.min(ctx.threads, Math.floor(work / MIN_ELEMENTS_PER_THREAD)));
}

/** Runs fn over [0, length) split into 16-element-aligned ranges (64-byte lines: no false sharing). */
export function runElementwise(ctx: WasmContext, fn: string, length: number, args: (start: number, count: number) => number[]): void {
  if (length === 0) return;
  const ranges = splitRange(length, threadsFor(ctx, length), 16);
  ctx.pool.parallel(fn, ranges.map(([s, e]) => args(s, e - s)));
}

/** Row ranges for `rows` rows of `cols` elements, one per thread that gets work. */
export function rowRanges(ctx: WasmContext, rows: number, cols: number): [number, number][] {
  return splitRange(rows, threadsFor(ctx, rows * cols));
}
