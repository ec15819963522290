// Fused Winograd forward and filter gradient: each thread claims runs of tiles off a shared atomic counter and runs input
// transform -> per-position GEMMs -> output transform on its own V/M workspace, so the tile data stays in
// cache and the threads never wait for each other between phases. The transformed filter is packed once
// per call into the GEMM's B-sliver layout (winograd_fused_pack_u), so small chunks do not repack it.
import { gemm_f32, gemm_f32_5x8, gemm_f32_6x8, gemm_pack_a, gemm_pack_b } from './gemm';
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
 *  B already packed (up); jr over 8-column slivers (kept in L1), ir over mrS-row slivers. */
function chunkGemm(v: usize, up: usize, mm: usize, positions: i32, cnt: i32, cin: i32, cout: i32, vPos: i32, upPos: i32, mPos: i32,
  kcb: i32, mrS: i32, aws: usize, tmp: usize): void {
  const np = ncPad(cout);
  for (let p = 0; p < positions; p++) {
    const a = v + <usize>p * <usize>vPos * 4, c = mm + <usize>p * <usize>mPos * 4, bp = up + <usize>p * <usize>upPos * 4;
    for (let pc = 0; pc < cin; pc += kcb) {
      const kc = min(kcb, cin - pc);
      const beta: f32 = pc == 0 ? 0 : 1;
      gemm_pack_a(a + (<usize>pc << 2), cin, 0, cnt, kc, aws, mrS);
      const bk = bp + <usize>pc * <usize>np * 4;
      for (let jr = 0; jr < cout; jr += 8) {
        const nr = min(8, cout - jr);
        const bs = bk + <usize>jr * <usize>kc * 4;
        const cc = c + (<usize>jr << 2);
        if (mrS == 5) {
          for (let ir = 0; ir < cnt; ir += 5) {
            gemm_f32_5x8(aws + <usize>(ir * kc) * 4, bs, kc, cc + <usize>ir * <usize>cout * 4, cout, min(5, cnt - ir), nr, 1, beta, 0, 0, tmp);
          }
        } else {
          for (let ir = 0; ir < cnt; ir += 6) {
            gemm_f32_6x8(aws + <usize>(ir * kc) * 4, bs, kc, cc + <usize>ir * <usize>cout * 4, cout, min(6, cnt - ir), nr, 1, beta, 0, 0, tmp);
          }
        }
      }
    }
  }
}

/**
 * y = Winograd F(m x m, 3x3) conv of x with the packed transformed filter up (positions upPos floats
 * apart), (+ bias) (ReLU, flags as the output transform). Runs of at most `chunk` tiles (at least
 * minChunk) are claimed with claimTiles until all `tiles` are done. v and mm are this
 * thread's tile workspaces (chunk*cin+16 and chunk*cout+16 floats per position); aws holds the packed A
 * block (roundUp(chunk, mrS) x kcb floats) followed by 48 floats of edge-tile scratch.
 */
export function winograd_fused_forward(m: i32, x: usize, up: usize, y: usize, bias: usize, h: i32, w: i32, cin: i32, cout: i32,
  oh: i32, ow: i32, tilesH: i32, tilesW: i32, pad: i32, tiles: i32, chunk: i32, v: usize, mm: usize, flags: i32,
  scratch: usize, aws: usize, kcb: i32, mrS: i32, upPos: i32, counter: usize, minChunk: i32): void {
  const t = m + 2;
  const vPos = chunk * cin + 16, mPos = chunk * cout + 16;
  const tmp = aws + ((<usize>(((chunk + mrS - 1) / mrS) * mrS) * <usize>kcb * 4 + 63) & ~<usize>63);
  for (;;) {
    const c0 = claimTiles(counter, tiles, chunk, minChunk, mrS);
    if (c0 >= tiles) return;
    const cnt = claimSize(c0, tiles, chunk, minChunk, mrS), c1 = c0 + cnt;
    if (m == 2) winograd_f2x2_input_transform(x, v, h, w, cin, tilesH, tilesW, pad, pad, c0, c1, c0, vPos, scratch);
    else if (m == 4) winograd_f4x4_input_transform(x, v, h, w, cin, tilesH, tilesW, pad, pad, c0, c1, c0, vPos, scratch);
    else winograd_f6x6_input_transform(x, v, h, w, cin, tilesH, tilesW, pad, pad, c0, c1, c0, vPos, scratch);
    chunkGemm(v, up, mm, t * t, cnt, cin, cout, vPos, upPos, mPos, kcb, mrS, aws, tmp);
    if (m == 2) winograd_f2x2_output_transform(mm, y, bias, oh, ow, cout, tilesH, tilesW, c0, c1, c0, mPos, flags, scratch);
    else if (m == 4) winograd_f4x4_output_transform(mm, y, bias, oh, ow, cout, tilesH, tilesW, c0, c1, c0, mPos, flags, scratch);
    else winograd_f6x6_output_transform(mm, y, bias, oh, ow, cout, tilesH, tilesW, c0, c1, c0, mPos, flags, scratch);
  }
}

/**
 * The filter gradient's tile sums for this thread: du[p] = sum over the chunks it claims of V[p]^T dM[p]
 * (cin x cout per position, duPos floats apart), V = input transform of x, dM = output adjoint of dy.
 * Tiles are claimed as in winograd_fused_forward, but the caller gives each thread its own counter (set to the
 * start of its share) and `tiles` = the end of that share, so which tiles each du sums does not depend on
 * timing (a deterministic dw). A thread that claims none zeroes its du. The caller
 * applies the filter adjoint to every thread's du (it is linear). gws: gemm_f32's packing workspace for
 * (mcb, kcb, ncb).
 */
export function winograd_fused_filter_grad(m: i32, x: usize, dy: usize, du: usize, h: i32, w: i32, cin: i32, cout: i32,
  oh: i32, ow: i32, tilesH: i32, tilesW: i32, pad: i32, tiles: i32, chunk: i32, v: usize, dm: usize, scratch: usize,
  gws: usize, mcb: i32, kcb: i32, ncb: i32, mrS: i32, duPos: i32, counter: usize, minChunk: i32): void {
  const t = m + 2;
  const vPos = chunk * cin + 16, mPos = chunk * cout + 16;
  let first = true;
  for (;;) {
    const c0 = claimTiles(counter, tiles, chunk, minChunk, mrS);
    if (c0 >= tiles) break;
    const cnt = claimSize(c0, tiles, chunk, minChunk, mrS), c1 = c0 + cnt;
    if (m == 2) {
      winograd_f2x2_input_transform(x, v, h, w, cin, tilesH, tilesW, pad, pad, c0, c1, c0, vPos, scratch);
      winograd_f2x2_output_adjoint(dy, dm, oh, ow, cout, tilesH, tilesW, c0, c1, c0, mPos, scratch);
    } else if (m == 4) {
      winograd_f4x4_input_transform(x, v, h, w, cin, tilesH, tilesW, pad, pad, c0, c1, c0, vPos, scratch);
      winograd_f4x4_output_adjoint(dy, dm, oh, ow, cout, tilesH, tilesW, c0, c1, c0, mPos, scratch);
    } else {
      winograd_f6x6_input_transform(x, v, h, w, cin, tilesH, tilesW, pad, pad, c0, c1, c0, vPos, scratch);
      winograd_f6x6_output_adjoint(dy, dm, oh, ow, cout, tilesH, tilesW, c0, c1, c0, mPos, scratch);
    }
    const beta: f32 = first ? 0 : 1;
    for (let p = 0; p < t * t; p++) {
      gemm_f32(v + <usize>p * <usize>vPos * 4, dm + <usize>p * <usize>mPos * 4, du + <usize>p * <usize>duPos * 4, cin, cout, cnt,
        cin, cout, cout, 1, 0, 1, beta, 0, 0, gws, mcb, kcb, ncb, mrS);
    }
    first = false;
  }
  if (first) memory.fill(du, 0, <usize>(t * t) * <usize>duPos * 4);
}
