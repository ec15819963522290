// Fused Winograd forward and filter gradient: each thread claims runs of tiles (the filter gradient: fixed blocks
// of tiles, for a deterministic sum) off a shared atomic counter and runs input transform -> per-position GEMMs ->
// output transform on its own tile-major V/M workspace, so the tile data stays in cache and the threads never
// wait for each other between phases. The filter is transformed once per call straight into the GEMM's B-sliver
// layout (winograd_fused_filter_packed), so small chunks do not repack it. Also the phased passes' transforms with
// the tiles claimed at run time (winograd_claim_transform), and the column-blocked forward for few tiles and a large
// filter (winograd_colblock_forward: the filter transformed block by block of output channels into the packed
// layout, never written out whole) and the phased filter gradient's staged adjoint.
import { gemm_f32, gemm_f32_5x8, gemm_f32_6x8, gemm_macro, gemm_pack_a } from './gemm';
import {
  winograd_f2x2_filter_adjoint_sum, winograd_f4x4_filter_adjoint_sum, winograd_f6x6_filter_adjoint_sum,
  winograd_f2x2_filter_transform_packed, winograd_f2x2_input_transform, winograd_f2x2_output_adjoint,
  winograd_f2x2_output_transform, winograd_f2x2_output_transform_cols,
  winograd_f4x4_filter_transform_packed, winograd_f4x4_input_transform, winograd_f4x4_output_adjoint,
  winograd_f4x4_output_transform, winograd_f4x4_output_transform_cols,
  winograd_f6x6_filter_transform_packed, winograd_f6x6_input_transform, winograd_f6x6_output_adjoint,
  winograd_f6x6_output_transform, winograd_f6x6_output_transform_cols,
} from './winograd_gen';

// @ts-ignore: decorator
@inline function ncPad(cout: i32): i32 { return (cout + 7) & ~7; }

/** up = the unscaled transformed filter U' = G' g G'^T (see scaledSplit in src/backends/wasm/ops/conv_winograd_gen.ts)
 *  of input channels [ci0, ci1), all cout output channels, straight in gemm_pack_b's layout: k-block by k-block of kcb
 *  rows (block pc at pc * ncPad(cout) floats), positions upPos floats apart. flip 0: w is the HWIO filter (cin x cout);
 *  flip 1: w is the layer's filter with in and out swapped and rotated 180 degrees (the data gradient). Staged `rows`
 *  input channels at a time through `stage` (rows * 9 * ncPad(cout) floats). One pass from w to the packed layout:
 *  the flip, transform and pack as three parallel calls cost 0.25 ms on 2 threads for 64->128 F(4x4) (the pack read
 *  positions the other thread had transformed), against 0.2 ms of work on 1. */
export function winograd_fused_filter_packed(m: i32, w: usize, up: usize, cin: i32, cout: i32, ci0: i32, ci1: i32, kcb: i32,
  upPos: i32, stage: usize, rows: i32, flip: i32): void {
  for (let c = ci0; c < ci1; c += rows) filterTransformPacked(m, w, up, cin, cout, 0, cout, c, min(ci1, c + rows), kcb, upPos, stage, flip);
}

/** winograd_fN_filter_transform_packed for the tile size m. */
// @ts-ignore: decorator
@inline function filterTransformPacked(m: i32, w: usize, bp: usize, cin: i32, cout: i32, co0: i32, co1: i32, ci0: i32, ci1: i32,
  kcb: i32, upPos: i32, stage: usize, flip: i32): void {
  if (m == 2) winograd_f2x2_filter_transform_packed(w, bp, cin, cout, co0, co1, ci0, ci1, kcb, upPos, stage, flip);
  else if (m == 4) winograd_f4x4_filter_transform_packed(w, bp, cin, cout, co0, co1, ci0, ci1, kcb, upPos, stage, flip);
  else winograd_f6x6_filter_transform_packed(w, bp, cin, cout, co0, co1, ci0, ci1, kcb, upPos, stage, flip);
}

/** Tiles a claim starting at tile c0 takes: a quarter of what is left (rounded up to whole mrS-row
 *  micro-tiles), at most `chunk` and at least `minChunk`. Guided scheduling: the last claims are short,
 *  so the threads finish close together even when one of them started late or was descheduled. */
// @ts-ignore: decorator
@inline function claimSize(c0: i32, tiles: i32, chunk: i32, minChunk: i32, mrS: i32): i32 {
  const guided = (max(minChunk, (tiles - c0) >> 2) + mrS - 1) / mrS * mrS; // whole micro-tile rows
  return min(tiles - c0, min(chunk, guided));
}

/** Claims the next claimSize(c0, ...) tiles off the shared tile counter (the i32 at `counter`, zeroed by
 *  the caller) and returns their first tile c0, or a value >= tiles when none are left. */
// @ts-ignore: decorator
@inline function claimTiles(counter: usize, tiles: i32, chunk: i32, minChunk: i32, mrS: i32): i32 {
  let c0 = atomic.load<i32>(counter);
  while (c0 < tiles) {
    const seen = atomic.cmpxchg<i32>(counter, c0, c0 + claimSize(c0, tiles, chunk, minChunk, mrS));
    if (seen == c0) break;
    c0 = seen;
  }
  return c0;
}

/** Items per range when `total` items are cut into `ranges` ranges of whole multiples of `align` (the last range may
 *  be shorter). The operators set the range counters with the same formula (rangeCounters in
 *  src/backends/wasm/ops/conv_winograd.ts). */
// @ts-ignore: decorator
@inline export function rangeSize(total: i32, ranges: i32, align: i32): i32 {
  return ((total + ranges - 1) / ranges + align - 1) / align * align;
}

/** Items [0, total) cut into `ranges` ranges of `per` items, range r's counter (an i32, set to r * per by the caller)
 *  at counter + 64 r: the next item of thread home's k-th range in turn (k = 0 its own, range home), or -1 when that
 *  range is used up. Claiming its own range first, a thread writes the same outputs call after call while the
 *  threads keep in step, and their lines stay in its core's cache; one that falls behind leaves the rest of its
 *  range to the others. */
// @ts-ignore: decorator
@inline export function claimInRange(counter: usize, home: i32, k: i32, ranges: i32, per: i32, total: i32): i32 {
  const r = (home + k) % ranges, i = atomic.add<i32>(counter + <usize>r * 64, 1);
  return i < min(total, (r + 1) * per) ? i : -1;
}

/** Step q of n positions for a thread that starts at position `shift` (0 <= shift < n) and wraps round: the
 *  threads sharing an operand then read different positions of it at a time (pShift below). */
// @ts-ignore: decorator
@inline function rotated(q: i32, shift: i32, n: i32): i32 { return q + shift < n ? q + shift : q + shift - n; }

/** M[p] = V[p] U[p] for the positions of one chunk of cnt tiles: A sliver-packed per k-block into aws,
 *  B already packed (up), gemm_macro over the micro-tiles. V[p] starts
 *  p*vPos floats into v with rows (tiles) lda apart; M[p] p*mPos floats into mm with rows ldc apart. */
function chunkGemm(v: usize, up: usize, mm: usize, positions: i32, cnt: i32, cin: i32, cout: i32, vPos: i32, lda: i32, upPos: i32,
  mPos: i32, ldc: i32, kcb: i32, mrS: i32, aws: usize, tmp: usize, pShift: i32): void {
  const np = ncPad(cout);
  const ldcb = <usize>ldc * 4;
  for (let q = 0; q < positions; q++) {
    const p = rotated(q, pShift, positions);
    const a = v + <usize>p * <usize>vPos * 4, c = mm + <usize>p * <usize>mPos * 4, bp = up + <usize>p * <usize>upPos * 4;
    for (let pc = 0; pc < cin; pc += kcb) {
      const kc = min(kcb, cin - pc);
      const beta: f32 = pc == 0 ? 0 : 1;
      gemm_pack_a(a + (<usize>pc << 2), lda, 0, cnt, kc, aws, mrS);
      gemm_macro(aws, bp + <usize>pc * <usize>np * 4, kc, cnt, cout, c, ldcb, ldc, mrS, 1, beta, 0, 0, tmp);
    }
  }
}

// @ts-ignore: decorator
@inline function inputTransform(m: i32, x: usize, v: usize, h: i32, w: i32, cin: i32, tilesH: i32, tilesW: i32, pad: i32,
  c0: i32, c1: i32, chunkStart: i32, posStride: i32, scratch: usize): void {
  if (m == 2) winograd_f2x2_input_transform(x, v, h, w, cin, tilesH, tilesW, pad, pad, c0, c1, chunkStart, posStride, scratch);
  else if (m == 4) winograd_f4x4_input_transform(x, v, h, w, cin, tilesH, tilesW, pad, pad, c0, c1, chunkStart, posStride, scratch);
  else winograd_f6x6_input_transform(x, v, h, w, cin, tilesH, tilesW, pad, pad, c0, c1, chunkStart, posStride, scratch);
}

// @ts-ignore: decorator
@inline function outputTransform(m: i32, mm: usize, y: usize, bias: usize, oh: i32, ow: i32, cout: i32, tilesH: i32, tilesW: i32,
  c0: i32, c1: i32, chunkStart: i32, posStride: i32, flags: i32, scratch: usize): void {
  if (m == 2) winograd_f2x2_output_transform(mm, y, bias, oh, ow, cout, tilesH, tilesW, c0, c1, chunkStart, posStride, flags, scratch);
  else if (m == 4) winograd_f4x4_output_transform(mm, y, bias, oh, ow, cout, tilesH, tilesW, c0, c1, chunkStart, posStride, flags, scratch);
  else winograd_f6x6_output_transform(mm, y, bias, oh, ow, cout, tilesH, tilesW, c0, c1, chunkStart, posStride, flags, scratch);
}

/** winograd_fN_output_transform_cols for the tile size m: the output transform (A^T D) of an M of the unscaled U'
 *  (as winograd_fN_filter_transform_packed writes it), channels [0, nc) of y. */
// @ts-ignore: decorator
@inline function outputTransformCols(m: i32, mm: usize, ldm: i32, y: usize, bias: usize, oh: i32, ow: i32, cout: i32, nc: i32,
  tilesH: i32, tilesW: i32, t0: i32, t1: i32, posStride: i32, flags: i32, scratch: usize): void {
  if (m == 2) winograd_f2x2_output_transform_cols(mm, ldm, y, bias, oh, ow, cout, nc, tilesH, tilesW, t0, t1, posStride, flags, scratch);
  else if (m == 4) winograd_f4x4_output_transform_cols(mm, ldm, y, bias, oh, ow, cout, nc, tilesH, tilesW, t0, t1, posStride, flags, scratch);
  else winograd_f6x6_output_transform_cols(mm, ldm, y, bias, oh, ow, cout, nc, tilesH, tilesW, t0, t1, posStride, flags, scratch);
}

// @ts-ignore: decorator
@inline function outputAdjoint(m: i32, dy: usize, dm: usize, oh: i32, ow: i32, cout: i32, tilesH: i32, tilesW: i32,
  c0: i32, c1: i32, chunkStart: i32, posStride: i32, scratch: usize): void {
  if (m == 2) winograd_f2x2_output_adjoint(dy, dm, oh, ow, cout, tilesH, tilesW, c0, c1, chunkStart, posStride, scratch);
  else if (m == 4) winograd_f4x4_output_adjoint(dy, dm, oh, ow, cout, tilesH, tilesW, c0, c1, chunkStart, posStride, scratch);
  else winograd_f6x6_output_adjoint(dy, dm, oh, ow, cout, tilesH, tilesW, c0, c1, chunkStart, posStride, scratch);
}

/**
 * y = Winograd F(m x m, 3x3) conv of x with the packed unscaled transformed filter up (winograd_fused_filter_packed;
 * positions upPos floats apart), (+ bias) (ReLU, flags as the output transform). The tiles are cut into `ranges`
 * ranges of whole micro-tile rows, range r with its own counter at counter + 64 r (set to the range's first tile by
 * the caller). Thread `home` claims runs of at most `chunk` tiles (at least minChunk; claimTiles) from range home
 * first, then from the others in turn, so with the threads in step each writes the same part of y call after call
 * (those lines stay in its own cache) and a thread the host slows down leaves the rest of its range to the others.
 * One counter for all: each call's runs went to either thread, and half of y's lines were the other core's from
 * the call before. v and mm are this thread's tile workspaces, tile-major: tile i of a run at i * tileStride(T*T, c)
 * floats, its positions pos4(c) floats apart (see tileStride for why), plus slack for full-vector loads past a
 * channel tail; aws holds the packed A block (roundUp(chunk, mrS) x kcb floats) followed by 48 floats of edge-tile
 * scratch. pShift: the position this thread's tile GEMMs start at, as in winograd_colblock_forward (the transformed
 * filter up is the operand all threads share here).
 */
export function winograd_fused_forward(m: i32, x: usize, up: usize, y: usize, bias: usize, h: i32, w: i32, cin: i32, cout: i32,
  oh: i32, ow: i32, tilesH: i32, tilesW: i32, pad: i32, tiles: i32, chunk: i32, v: usize, mm: usize, flags: i32,
  scratch: usize, aws: usize, kcb: i32, mrS: i32, upPos: i32, counter: usize, minChunk: i32, home: i32, ranges: i32, pShift: i32): void {
  const t = m + 2, tt = t * t;
  const tmp = aws + ((<usize>(((chunk + mrS - 1) / mrS) * mrS) * <usize>kcb * 4 + 63) & ~<usize>63);
  const tileV = tileStride(tt, cin), tileM = tileStride(tt, cout), vPos = pos4(cin), mPos = pos4(cout);
  const per = rangeSize(tiles, ranges, mrS);
  for (let k = 0; k < ranges; k++) {
    const r = (home + k) % ranges, end = min(tiles, (r + 1) * per), ctr = counter + <usize>r * 64;
    for (;;) {
      const c0 = claimTiles(ctr, end, chunk, minChunk, mrS);
      if (c0 >= end) break;
      const cnt = claimSize(c0, end, chunk, minChunk, mrS), c1 = c0 + cnt;
      for (let i = c0; i < c1; i++) inputTransform(m, x, v + <usize>(i - c0) * <usize>tileV * 4, h, w, cin, tilesH, tilesW, pad, i, i + 1, i, vPos, scratch);
      chunkGemm(v, up, mm, tt, cnt, cin, cout, vPos, tileV, upPos, mPos, tileM, kcb, mrS, aws, tmp, pShift);
      for (let i = c0; i < c1; i++) {
        outputTransformCols(m, mm + <usize>(i - c0) * <usize>tileM * 4, cout, y, bias, oh, ow, cout, cout, tilesH, tilesW, i, i + 1, mPos, flags, scratch);
      }
    }
  }
}

/** Floats between the positions of one tile in the tile-major layout: cin rounded up to whole vectors. */
// @ts-ignore: decorator
@inline function pos4(c: i32): i32 { return (c + 3) & ~3; }
/** Floats between consecutive tiles in the tile-major V and M of the fused passes: T*T positions plus one
 *  cache line, so the rows of a position's GEMM operand (one per tile) do not all fall into the same cache
 *  sets. Tile-major, one tile's transform writes (or reads) one contiguous block; position-major (each
 *  position a chunk-long row, as the phased passes use) it scatters over T*T rows some 10 KB apart, and
 *  then the input transform did not scale at all on 2 threads (c64-64 224x224 F(6x6): 14.8 ms on 1 thread,
 *  14.7 on 2; tile-major 14.6 and 8.2). */
// @ts-ignore: decorator
@inline function tileStride(tt: i32, c: i32): i32 { return tt * pos4(c) + 16; }

/**
 * The filter gradient's tile sums over fixed blocks of tiles: block b is [starts[b], starts[b + 1]) (an
 * i32 table at `starts`), and its sum dU_b[p] = sum over its tiles of V[p]^T dM[p] (cin x cout per
 * position, duPos floats apart) goes to du + b * duBytes. V = input transform of x, dM = output adjoint of
 * dy, both tile-major as in winograd_fused_forward. Threads claim whole blocks off the i32 at `counter`
 * (zeroed by the caller), so a thread the host slows down takes fewer of them, while each dU_b sums the same
 * tiles in the same order (chunks of `chunk` tiles, first to last) whoever runs it: dw, which the caller
 * forms from the dU_b in block order, does not depend on timing. gws: gemm_f32's packing workspace for
 * (mcb, kcb, ncb).
 */
export function winograd_fused_filter_grad(m: i32, x: usize, dy: usize, du: usize, h: i32, w: i32, cin: i32, cout: i32,
  oh: i32, ow: i32, tilesH: i32, tilesW: i32, pad: i32, chunk: i32, v: usize, dm: usize, scratch: usize,
  gws: usize, mcb: i32, kcb: i32, ncb: i32, mrS: i32, duPos: i32, counter: usize, starts: usize, blocks: i32, duBytes: i32): void {
  const tt = (m + 2) * (m + 2);
  const tileV = tileStride(tt, cin), tileM = tileStride(tt, cout), vPos = pos4(cin), mPos = pos4(cout);
  for (;;) {
    const b = atomic.add<i32>(counter, 1);
    if (b >= blocks) return;
    const b0 = load<i32>(starts + (<usize>b << 2)), b1 = load<i32>(starts + (<usize>(b + 1) << 2));
    const dub = du + <usize>b * <usize>duBytes;
    for (let c0 = b0; c0 < b1; c0 += chunk) {
      const c1 = min(b1, c0 + chunk), cnt = c1 - c0;
      for (let i = c0; i < c1; i++) {
        inputTransform(m, x, v + <usize>(i - c0) * <usize>tileV * 4, h, w, cin, tilesH, tilesW, pad, i, i + 1, i, vPos, scratch);
        outputAdjoint(m, dy, dm + <usize>(i - c0) * <usize>tileM * 4, oh, ow, cout, tilesH, tilesW, i, i + 1, i, mPos, scratch);
      }
      const beta: f32 = c0 == b0 ? 0 : 1;
      for (let p = 0; p < tt; p++) {
        gemm_f32(v + <usize>p * <usize>vPos * 4, dm + <usize>p * <usize>mPos * 4, dub + <usize>p * <usize>duPos * 4, cin, cout, cnt,
          tileV, tileM, cout, 1, 0, 1, beta, 0, 0, gws, mcb, kcb, ncb, mrS);
      }
    }
  }
}

/**
 * dw = beta * dw + G^T dU G for input channels [ci0, ci1) (dU laid out as U: position p at du + p * duPos floats,
 * rows cout floats apart), rows input channels at a time: each position's run of rows * cout floats is first copied
 * into stage (position p at p * (rows * cout + 16) floats), one stream at a time, then the filter adjoint runs on the
 * stage in cache. The direct adjoint reads the T*T positions as T*T concurrent streams, more than the hardware
 * prefetchers follow; on the phased path's dU (18.9 MB for 256->512 F(4x4), out of cache) it ran at about 6 GB/s.
 */
export function winograd_staged_filter_adjoint(m: i32, du: usize, duPos: i32, dw: usize, cin: i32, cout: i32,
  ci0: i32, ci1: i32, beta: f32, scratch: usize, stage: usize, rows: i32): void {
  const tt = (m + 2) * (m + 2), sPos = rows * cout + 16;
  for (let r0 = ci0; r0 < ci1; r0 += rows) {
    const r1 = min(ci1, r0 + rows), bytes = <usize>(r1 - r0) * <usize>cout * 4;
    for (let p = 0; p < tt; p++) {
      memory.copy(stage + <usize>p * <usize>sPos * 4, du + (<usize>p * <usize>duPos + <usize>r0 * <usize>cout) * 4, bytes);
    }
    const base = stage - <usize>r0 * <usize>cout * 4;
    if (m == 2) winograd_f2x2_filter_adjoint_sum(base, dw, cin, cout, r0, r1, sPos, beta, scratch, 1, 0);
    else if (m == 4) winograd_f4x4_filter_adjoint_sum(base, dw, cin, cout, r0, r1, sPos, beta, scratch, 1, 0);
    else winograd_f6x6_filter_adjoint_sum(base, dw, cin, cout, r0, r1, sPos, beta, scratch, 1, 0);
  }
}

/**
 * A transform of tiles [chunkStart, tiles1) for the phased passes with the tiles claimed at run time in runs of `step`
 * (claimInRange: `ranges` ranges of runs, counters at counter + 64 r, thread home's own first), so a thread the host
 * slows down transforms fewer of them. kind 0: input transform of image a (h x w x c, pad) into V at b; 1: output
 * transform of M at a into image b (oh = h, ow = w, cout = c; + bias, flags as the generated output transforms); 2:
 * output adjoint of dy at a into dM at b. posStride and chunkStart as in the generated transforms. Each tile's output
 * is written by one thread, so the result does not depend on which.
 */
export function winograd_claim_transform(kind: i32, m: i32, a: usize, b: usize, bias: usize, h: i32, w: i32, c: i32, tilesH: i32,
  tilesW: i32, pad: i32, tiles1: i32, chunkStart: i32, posStride: i32, flags: i32, scratch: usize, counter: usize, step: i32,
  home: i32, ranges: i32): void {
  const runs = (tiles1 - chunkStart + step - 1) / step, per = rangeSize(runs, ranges, 1);
  for (let k = 0; k < ranges; k++) {
    for (let i = claimInRange(counter, home, k, ranges, per, runs); i >= 0; i = claimInRange(counter, home, k, ranges, per, runs)) {
      const r0 = chunkStart + i * step, r1 = min(tiles1, r0 + step);
      if (kind == 0) inputTransform(m, a, b, h, w, c, tilesH, tilesW, pad, r0, r1, chunkStart, posStride, scratch);
      else if (kind == 1) outputTransform(m, a, b, bias, h, w, c, tilesH, tilesW, r0, r1, chunkStart, posStride, flags, scratch);
      else outputAdjoint(m, a, b, h, w, c, tilesH, tilesW, r0, r1, chunkStart, posStride, scratch);
    }
  }
}

/** Floats between the positions of one tile in the column-blocked passes' V: cin rounded up to whole vectors, plus
 *  a cache line, so the T*T positions of a tile do not fall into the same cache sets (at 512 channels, 2 KB apart,
 *  the 36 stores of a channel group took 2 of L1's 64 sets and the input transform ran at 145 ns per group, 2x
 *  that of 64 channels). */
// @ts-ignore: decorator
@inline function colblockVPos(cin: i32): i32 { return pos4(cin) + 16; }

/** The column-blocked passes' input transform, written straight into the GEMMs' packed-A layout: ap[p] = V[p]
 *  (tiles x cin) packed as gemm_pack_a does, k-block by k-block of kcb columns (block pc at pc * roundUp(tiles, mrS)
 *  floats), positions apPos floats apart. Threads claim one micro-tile sliver (mrS tiles) at a time (claimInRange:
 *  `ranges` ranges of slivers, counters at counter + 64 r, thread home's own first), transform its tiles tile-major
 *  into this thread's vs (tile i at i * (T*T * colblockVPos(cin) + 16) floats, its positions colblockVPos(cin) apart,
 *  so a tile's writes fill whole lines one after the other) and pack the sliver for every position while it is in
 *  cache. A whole tile-major V written out
 *  and packed in a second pass cost that pass (0.2 ms on 1 and on 2 threads for 128->256 8x8 at batch 32: it did
 *  not scale) and a barrier; position-major, the 36 stores per channel group went to 36 lines spread over all of
 *  V, each a write miss once V outgrew L2. */
export function winograd_colblock_input_packed(m: i32, x: usize, ap: usize, apPos: i32, h: i32, w: i32, cin: i32, tilesH: i32,
  tilesW: i32, pad: i32, tiles: i32, kcb: i32, mrS: i32, vs: usize, scratch: usize, counter: usize, home: i32, ranges: i32): void {
  const tt = (m + 2) * (m + 2), vPos = colblockVPos(cin), tileV = tt * vPos + 16;
  const mPad = (tiles + mrS - 1) / mrS * mrS, slivers = mPad / mrS, per = rangeSize(slivers, ranges, 1);
  for (let k = 0; k < ranges; k++) {
    for (let s = claimInRange(counter, home, k, ranges, per, slivers); s >= 0; s = claimInRange(counter, home, k, ranges, per, slivers)) {
      const r0 = s * mrS, rows = min(mrS, tiles - r0);
      for (let i = 0; i < rows; i++) {
        inputTransform(m, x, vs + <usize>i * <usize>tileV * 4, h, w, cin, tilesH, tilesW, pad, r0 + i, r0 + i + 1, r0 + i, vPos, scratch);
      }
      for (let p = 0; p < tt; p++) {
        for (let pc = 0; pc < cin; pc += kcb) {
          const kc = min(kcb, cin - pc);
          gemm_pack_a(vs + (<usize>p * <usize>vPos + <usize>pc) * 4, tileV, 0, rows, kc,
            ap + (<usize>p * <usize>apPos + <usize>pc * <usize>mPad + <usize>r0 * <usize>kc) * 4, mrS);
        }
      }
    }
  }
}

/**
 * The column-blocked Winograd conv for layers with few tiles and a large filter (the 4x4 and 8x8 maps): the
 * forward (flip 0), or the data gradient (flip 1: w is the layer's filter, used rotated with in and out swapped,
 * x is dy). Blocks of nb output channels are claimed until `blocks` are done (claimInRange: `ranges` ranges of
 * blocks, counters at counter + 64 r, thread home's own first); for each, the filter transform of those channels
 * goes straight into the packed-B layout in bp (positions upPos floats apart; winograd_fN_filter_transform_packed),
 * the T*T tile GEMMs multiply the packed V (ap, from winograd_colblock_input_packed) by it into this thread's M block
 * (position p at mm + p * mPos floats, roundUp(tiles, mrS) rows of roundUp(nb, 8) floats, so every micro-tile is
 * whole), and the output transform writes those channels of y (+ bias) (ReLU, flags as the output transform). The
 * transformed filter never leaves the cache and is packed by no one else; each channel is computed by one thread in
 * a fixed order, so y does not depend on timing. bp: T*T positions of one k-block (kcb x roundUp(nb, 8) floats,
 * upPos floats apart); tmp: 48 floats of edge scratch; stage: kcb * 9 * roundUp(nb, 8) floats for the filter
 * transform's staging of w. pShift: the position this thread's tile GEMMs start at (then on round, wrapping), so two
 * threads read different positions of the shared V at a time (positionSkew in src/backends/wasm/ops/conv_winograd.ts).
 */
export function winograd_colblock_forward(m: i32, ap: usize, apPos: i32, w: usize, y: usize, bias: usize, oh: i32, ow: i32,
  cin: i32, cout: i32, tiles: i32, tilesH: i32, tilesW: i32, nb: i32, kcb: i32, mrS: i32, bp: usize, upPos: i32, mm: usize,
  mPos: i32, flags: i32, scratch: usize, tmp: usize, counter: usize, blocks: i32, stage: usize, flip: i32, home: i32, ranges: i32,
  pShift: i32): void {
  const tt = (m + 2) * (m + 2);
  const mPad = (tiles + mrS - 1) / mrS * mrS, per = rangeSize(blocks, ranges, 1);
  for (let k = 0; k < ranges; k++) {
    for (let b = claimInRange(counter, home, k, ranges, per, blocks); b >= 0; b = claimInRange(counter, home, k, ranges, per, blocks)) {
      const co0 = b * nb, co1 = min(cout, co0 + nb), np = (co1 - co0 + 7) & ~7;
      // k-block by k-block: the filter transform of kc rows (bp holds one k-block: upPos floats per position),
      // then the T*T GEMMs on it, accumulating into M, so the packed filter in flight stays bounded for any cin.
      for (let pc = 0; pc < cin; pc += kcb) {
        const kc = min(kcb, cin - pc);
        filterTransformPacked(m, w, bp - <usize>pc * <usize>np * 4, cin, cout, co0, co1, pc, pc + kc, kcb, upPos, stage, flip);
        for (let q = 0; q < tt; q++) {
          const p = rotated(q, pShift, tt);
          colblockGemm(ap + (<usize>p * <usize>apPos + <usize>pc * <usize>mPad) * 4, bp + <usize>p * <usize>upPos * 4, kc, tiles, np,
            mm + <usize>p * <usize>mPos * 4, mrS, pc == 0 ? 0 : 1, tmp);
        }
      }
      outputTransformCols(m, mm, np, y + <usize>co0 * 4, bias ? bias + <usize>co0 * 4 : 0, oh, ow, cout, co1 - co0, tilesH, tilesW, 0, tiles,
        mPos, flags, scratch);
    }
  }
}

// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** C (rows x np, np a multiple of 8, rows np floats apart; beta 0 or 1) = A B (+ C) from a packed A of `rows` rows
 *  (mrS-row slivers, the last zero-padded: C has room for the padded rows) and a packed kc x np B. Whole slivers
 *  run the build's mrS x 8 micro-kernel; a remainder of 1 or 2 rows runs winogradGemm2x16: the 6x8 kernel would
 *  spend a whole call on them (CIFAR's 4x4 and 8x8 layers have 32 and 128 tiles: 2 rows left over). */
function colblockGemm(ap: usize, bp: usize, kc: i32, rows: i32, np: i32, c: usize, mrS: i32, beta: f32, tmp: usize): void {
  const ldcb = <usize>np * 4, sliverA = <usize>mrS * <usize>kc * 4, sliverB = <usize>kc * 32;
  const rem = rows % mrS, full = rem <= 2 ? rows - rem : rows;
  for (let jr = 0; jr < np; jr += 8) {
    const bs = bp + <usize>(jr >> 3) * sliverB, ct = c + (<usize>jr << 2);
    if (mrS == 5) {
      for (let ir = 0; ir < full; ir += 5) gemm_f32_5x8(ap + <usize>(ir / 5) * sliverA, bs, kc, ct + <usize>ir * ldcb, np, 5, 8, 1, beta, 0, 0, tmp);
    } else {
      for (let ir = 0; ir < full; ir += 6) gemm_f32_6x8(ap + <usize>(ir / 6) * sliverA, bs, kc, ct + <usize>ir * ldcb, np, 6, 8, 1, beta, 0, 0, tmp);
    }
  }
  if (full == rows) return;
  const ar = ap + <usize>(full / mrS) * sliverA, cr = c + <usize>full * ldcb;
  let jr = 0;
  for (; jr + 16 <= np; jr += 16) {
    winogradGemm2x16(ar, <usize>mrS * 4, bp + <usize>(jr >> 3) * sliverB, sliverB, kc, cr + (<usize>jr << 2), ldcb, beta);
  }
  if (jr < np) {
    if (mrS == 5) gemm_f32_5x8(ar, bp + <usize>(jr >> 3) * sliverB, kc, cr + (<usize>jr << 2), np, 5, 8, 1, beta, 0, 0, tmp);
    else gemm_f32_6x8(ar, bp + <usize>(jr >> 3) * sliverB, kc, cr + (<usize>jr << 2), np, 6, 8, 1, beta, 0, 0, tmp);
  }
}

/** Two rows of C x 16 columns (two packed B slivers, sliverB bytes apart) over kc: 8 accumulator chains, enough
 *  to keep the FMA pipes busy, where a 2x8 tile (4 chains) would wait on FMA latency. aStep: bytes between the
 *  k steps of the packed A sliver (mrS floats). beta 0 or 1. */
// @ts-ignore: decorator
@inline function winogradGemm2x16(ap: usize, aStep: usize, bp: usize, sliverB: usize, kc: i32, c: usize, ldcb: usize, beta: f32): void {
  const z = f32x4.splat(0);
  let c00 = z, c01 = z, c02 = z, c03 = z, c10 = z, c11 = z, c12 = z, c13 = z;
  let bq = bp + sliverB;
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16), b2 = v128.load(bq), b3 = v128.load(bq, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01); c02 = madd(a, b2, c02); c03 = madd(a, b3, c03);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11); c12 = madd(a, b2, c12); c13 = madd(a, b3, c13);
    ap += aStep; bp += 32; bq += 32;
  }
  if (beta != 0) {
    c00 = f32x4.add(c00, v128.load(c)); c01 = f32x4.add(c01, v128.load(c, 16));
    c02 = f32x4.add(c02, v128.load(c, 32)); c03 = f32x4.add(c03, v128.load(c, 48));
    const d = c + ldcb;
    c10 = f32x4.add(c10, v128.load(d)); c11 = f32x4.add(c11, v128.load(d, 16));
    c12 = f32x4.add(c12, v128.load(d, 32)); c13 = f32x4.add(c13, v128.load(d, 48));
  }
  v128.store(c, c00); v128.store(c, c01, 16); v128.store(c, c02, 32); v128.store(c, c03, 48);
  const d = c + ldcb;
  v128.store(d, c10); v128.store(d, c11, 16); v128.store(d, c12, 32); v128.store(d, c13, 48);
}
