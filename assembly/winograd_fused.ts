// Fused Winograd forward and filter gradient: each thread claims runs of tiles (the filter gradient: fixed blocks
// of tiles, for a deterministic sum) off a shared atomic counter and runs input transform -> per-position GEMMs ->
// output transform on its own tile-major V/M workspace, so the tile data stays in cache and the threads never
// wait for each other between phases. The transformed filter is packed once per call into the GEMM's B-sliver
// layout (winograd_fused_pack_u), so small chunks do not repack it. Also the phased passes' transforms with the
// tiles claimed at run time (winograd_claim_transform).
import { gemm_f32, gemm_macro, gemm_pack_a, gemm_pack_b } from './gemm';
import {
  winograd_f2x2_input_transform, winograd_f2x2_output_adjoint, winograd_f2x2_output_transform,
  winograd_f4x4_input_transform, winograd_f4x4_output_adjoint, winograd_f4x4_output_transform,
  winograd_f6x6_input_transform, winograd_f6x6_output_adjoint, winograd_f6x6_output_transform,
} from './winograd_gen';

// @ts-ignore: decorator
@inline function ncPad(cout: i32): i32 { return (cout + 7) & ~7; }

/** up[p] = op(U[p]) (cin x cout; stored cout x cin when uTrans; positions uPos floats apart) packed as
 *  gemm_pack_b does, k-block by k-block of kcb rows (block pc at pc * ncPad(cout) floats), positions upPos
 *  floats apart, for p in [p0, p1). */
export function winograd_fused_pack_u(u: usize, up: usize, cin: i32, cout: i32, uPos: i32, upPos: i32, kcb: i32, uTrans: i32,
  p0: i32, p1: i32): void {
  const np = ncPad(cout);
  for (let p = p0; p < p1; p++) {
    for (let pc = 0; pc < cin; pc += kcb) {
      const kc = min(kcb, cin - pc);
      const src = u + (<usize>p * <usize>uPos + (uTrans ? <usize>pc : <usize>pc * <usize>cout)) * 4;
      gemm_pack_b(src, uTrans ? cin : cout, uTrans, kc, cout,
        up + (<usize>p * <usize>upPos + <usize>pc * <usize>np) * 4);
    }
  }
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

/** M[p] = V[p] U[p] for the positions of one chunk of cnt tiles: A sliver-packed per k-block into aws,
 *  B already packed (up), gemm_macro over the micro-tiles. V[p] starts
 *  p*vPos floats into v with rows (tiles) lda apart; M[p] p*mPos floats into mm with rows ldc apart. */
function chunkGemm(v: usize, up: usize, mm: usize, positions: i32, cnt: i32, cin: i32, cout: i32, vPos: i32, lda: i32, upPos: i32,
  mPos: i32, ldc: i32, kcb: i32, mrS: i32, aws: usize, tmp: usize): void {
  const np = ncPad(cout);
  const ldcb = <usize>ldc * 4;
  for (let p = 0; p < positions; p++) {
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

// @ts-ignore: decorator
@inline function outputAdjoint(m: i32, dy: usize, dm: usize, oh: i32, ow: i32, cout: i32, tilesH: i32, tilesW: i32,
  c0: i32, c1: i32, chunkStart: i32, posStride: i32, scratch: usize): void {
  if (m == 2) winograd_f2x2_output_adjoint(dy, dm, oh, ow, cout, tilesH, tilesW, c0, c1, chunkStart, posStride, scratch);
  else if (m == 4) winograd_f4x4_output_adjoint(dy, dm, oh, ow, cout, tilesH, tilesW, c0, c1, chunkStart, posStride, scratch);
  else winograd_f6x6_output_adjoint(dy, dm, oh, ow, cout, tilesH, tilesW, c0, c1, chunkStart, posStride, scratch);
}

/**
 * y = Winograd F(m x m, 3x3) conv of x with the packed transformed filter up (positions upPos floats
 * apart), (+ bias) (ReLU, flags as the output transform). Runs of at most `chunk` tiles (at least
 * minChunk) are claimed with claimTiles until all `tiles` are done. v and mm are this
 * thread's tile workspaces, tile-major: tile i of a run at i * tileStride(T*T, c) floats, its positions
 * pos4(c) floats apart (see tileStride for why), plus slack for full-vector loads past a channel tail; aws
 * holds the packed A block (roundUp(chunk, mrS) x kcb floats) followed by 48 floats of edge-tile scratch.
 */
export function winograd_fused_forward(m: i32, x: usize, up: usize, y: usize, bias: usize, h: i32, w: i32, cin: i32, cout: i32,
  oh: i32, ow: i32, tilesH: i32, tilesW: i32, pad: i32, tiles: i32, chunk: i32, v: usize, mm: usize, flags: i32,
  scratch: usize, aws: usize, kcb: i32, mrS: i32, upPos: i32, counter: usize, minChunk: i32): void {
  const t = m + 2, tt = t * t;
  const tmp = aws + ((<usize>(((chunk + mrS - 1) / mrS) * mrS) * <usize>kcb * 4 + 63) & ~<usize>63);
  const tileV = tileStride(tt, cin), tileM = tileStride(tt, cout), vPos = pos4(cin), mPos = pos4(cout);
  for (;;) {
    const c0 = claimTiles(counter, tiles, chunk, minChunk, mrS);
    if (c0 >= tiles) return;
    const cnt = claimSize(c0, tiles, chunk, minChunk, mrS), c1 = c0 + cnt;
    for (let i = c0; i < c1; i++) inputTransform(m, x, v + <usize>(i - c0) * <usize>tileV * 4, h, w, cin, tilesH, tilesW, pad, i, i + 1, i, vPos, scratch);
    chunkGemm(v, up, mm, tt, cnt, cin, cout, vPos, tileV, upPos, mPos, tileM, kcb, mrS, aws, tmp);
    for (let i = c0; i < c1; i++) outputTransform(m, mm + <usize>(i - c0) * <usize>tileM * 4, y, bias, oh, ow, cout, tilesH, tilesW, i, i + 1, i, mPos, flags, scratch);
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
 * A transform of tiles [tiles0, tiles1) for the phased passes with the tiles claimed at run time, `step` at a
 * time off the i32 at `counter` (set to tiles0 by the caller), so a thread the host slows down transforms
 * fewer of them. kind 0: input transform of image a (h x w x c, pad) into V at b; 1: output transform of M
 * at a into image b (oh = h, ow = w, cout = c; + bias, flags as the generated output transforms); 2: output
 * adjoint of dy at a into dM at b. posStride and chunkStart as in the generated transforms. Each tile's
 * output is written by one thread, so the result does not depend on which.
 */
export function winograd_claim_transform(kind: i32, m: i32, a: usize, b: usize, bias: usize, h: i32, w: i32, c: i32, tilesH: i32,
  tilesW: i32, pad: i32, tiles1: i32, chunkStart: i32, posStride: i32, flags: i32, scratch: usize, counter: usize, step: i32): void {
  for (;;) {
    const r0 = atomic.add<i32>(counter, step);
    if (r0 >= tiles1) return;
    const r1 = min(tiles1, r0 + step);
    if (kind == 0) inputTransform(m, a, b, h, w, c, tilesH, tilesW, pad, r0, r1, chunkStart, posStride, scratch);
    else if (kind == 1) outputTransform(m, a, b, bias, h, w, c, tilesH, tilesW, r0, r1, chunkStart, posStride, flags, scratch);
    else outputAdjoint(m, a, b, h, w, c, tilesH, tilesW, r0, r1, chunkStart, posStride, scratch);
  }
}
