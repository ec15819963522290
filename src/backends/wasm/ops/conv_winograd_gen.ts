// Winograd F(m x m, 3x3) matrices by the Toom-Cook construction, and the generator of assembly/winograd_gen.ts.
// Regenerate after changing points or templates: npx tsc -p . && node dist/src/backends/wasm/ops/conv_winograd_gen.js
//
// The interpolation points decide the fp32 error (test/kernels/conv_winograd.test.ts measures it):
// F(2x2) 0, +-1; F(4x4) 0, +-1, 1/2, -2 (Barabasz et al.'s choice: half the error of Lavin's 0, +-1, +-2 in
// a float32 simulation and in the kernels: 4.1e-6 -> 2.1e-6); F(6x6) 0, +-1, +-2, +-1/2 (swapping in +-3,
// +-1/3 or +-3/2 gave 1.5-10x larger errors in the simulation). Measured max|err|/max|exact| against float64,
// 64->32 channels 14x14: im2col 2.7e-7, F(2x2) 2.6e-7, F(4x4) 2.1e-6, F(6x6) 5.7e-6 (forward); a float32
// direct conv with one running sum gives 9.0e-7 there.

export interface WinogradMatrices {
  m: number;
  /** Tile size m + 2. */
  t: number;
  points: number[];
  /** Output transform, m x t. */
  at: number[][];
  /** Filter transform, t x 3. */
  g: number[][];
  /** Input transform, t x t. */
  bt: number[][];
}

export const WINOGRAD_POINTS: Record<2 | 4 | 6, number[]> = {
  2: [0, 1, -1],
  4: [0, 1, -1, 0.5, -2],
  6: [0, 1, -1, 2, -2, 0.5, -0.5],
};

function polyMul(p: number[], q: number[]): number[] {
  const r = new Array<number>(p.length + q.length - 1).fill(0);
  for (let i = 0; i < p.length; i++) for (let j = 0; j < q.length; j++) r[i + j] += p[i] * q[j];
  return r;
}

/** Toom-Cook: finite points p_j plus the point at infinity. A^T[i][j] = p_j^i; G[j] = [1, p_j, p_j^2] / N_j with
 *  N_j = prod_{l != j} (p_j - p_l); B^T row j = coefficients of prod_{l != j} (x - p_l); the last rows/columns
 *  belong to infinity. Row signs are normalised so that G's scale factors are positive. */
export function winogradMatrices(m: 2 | 4 | 6, points = WINOGRAD_POINTS[m]): WinogradMatrices {
  const t = m + 2;
  if (points.length !== t - 1) throw new Error(`F(${m},3) needs ${t - 1} finite points`);
  const at: number[][] = [];
  for (let i = 0; i < m; i++) at.push([...points.map((p) => p ** i), i === m - 1 ? 1 : 0]);
  const g: number[][] = [], bt: number[][] = [];
  points.forEach((pj, j) => {
    let nj = 1, poly = [1];
    points.forEach((pl, l) => { if (l !== j) { nj *= pj - pl; poly = polyMul(poly, [-pl, 1]); } });
    const sign = nj < 0 ? -1 : 1;
    g.push([1, pj, pj * pj].map((v) => (sign * v) / nj));
    while (poly.length < t) poly.push(0);
    bt.push(poly.map((v) => sign * v + 0));
  });
  g.push([0, 0, 1]);
  let full = [1];
  for (const p of points) full = polyMul(full, [-p, 1]);
  bt.push(full.map((v) => v + 0));
  return { m, t, points, at, g, bt };
}

export function transpose(a: number[][]): number[][] {
  return a[0].map((_, j) => a.map((r) => r[j]));
}

// ---- AssemblyScript generation ----

function lit(c: number): string {
  const f = Math.fround(c);
  const s = Number.isInteger(f) ? `${f}.0` : `${f}`;
  return `f32x4(${s}, ${s}, ${s}, ${s})`;
}

/** out_i = sum_j M[i][j] in_j over v128 vectors: in_j at s + j*ss (nl lanes), out_i at d + i*ds (ns lanes). */
/** The order a row's non-zero terms are summed in: from a +1 term when there is one (no multiply), then the other
 *  +-1 terms, then the rest as multiply-adds; with no +1 term, from a multiply of the first other coefficient, the
 *  -1 terms subtracted last. Starting from a -1 term cost a negation, which V8 builds as three instructions (all-ones,
 *  shift to the sign bit, xor): in F(4x4)'s input transform B^T, three per 1-D transform, 15% of its instructions. */
function startOrder<T extends { c: number }>(terms: T[]): T[] {
  const unit = (t: T) => Math.abs(t.c) === 1;
  const plus = terms.findIndex((t) => t.c === 1);
  if (plus >= 0) return [terms[plus], ...terms.filter((t, i) => i !== plus && unit(t)), ...terms.filter((t) => !unit(t))];
  return [...terms.filter((t) => !unit(t)), ...terms.filter(unit)];
}

function emitApply(name: string, mat: number[][], doc: string, epilogue = false): string {
  const cols = mat[0].length;
  const used = new Set<number>();
  mat.forEach((r) => r.forEach((c, j) => { if (c !== 0) used.add(j); }));
  const extra = epilogue ? ', vb: v128, relu: bool' : '';
  const lines = [`// ${doc}`, `@inline function ${name}(s: usize, ss: usize, d: usize, ds: usize, nl: i32, ns: i32${extra}): void {`];
  for (let j = 0; j < cols; j++) if (used.has(j)) lines.push(`  const i${j} = ldv(s + ${j} * ss, nl);`);
  mat.forEach((row, i) => {
    const terms = startOrder(row.map((c, j) => ({ c, j })).filter((x) => x.c !== 0));
    let e = '';
    terms.forEach(({ c, j }, k) => {
      if (k === 0) e = c === 1 ? `i${j}` : c === -1 ? `f32x4.neg(i${j})` : `f32x4.mul(i${j}, ${lit(c)})`;
      else e = c === 1 ? `f32x4.add(${e}, i${j})` : c === -1 ? `f32x4.sub(${e}, i${j})` : `madd(i${j}, ${lit(c)}, ${e})`;
    });
    if (terms.length === 0) e = 'f32x4.splat(0)';
    if (epilogue) e = `epi(${e}, vb, relu)`;
    lines.push(`  stv(d + ${i} * ds, ${e}, ns);`);
  });
  lines.push('}');
  return lines.join('\n');
}

/** The column-blocked forward's split of G = D G': G' has rows [1, p, p^2] for the finite points (exact in float32
 *  for the points used) and [0, 0, 1] for infinity, D the diagonal of 1/N_j (1 for infinity). U' = G' g G'^T
 *  then needs D on both sides, which the output transform takes instead: A^T (D M' D) A = (A^T D) M' (D A), so
 *  its A^T gets column j scaled by D_j at no extra cost, and the filter transform, the per-call cost that grows
 *  with cin x cout, loses every scale multiply. */
export function scaledSplit(mx: WinogradMatrices): { gu: number[][]; d: number[]; atScaled: number[][] } {
  const d = mx.g.map((r, j) => (j < mx.points.length ? r[0] : 1));
  const gu = mx.g.map((r, j) => r.map((v) => v / d[j] + 0));
  const atScaled = mx.at.map((r) => r.map((v, j) => v * d[j] + 0));
  return { gu, d, atScaled };
}

/** out_i = sum_j mat[i][j] in_j as straight-line v128 expressions (`const` lines; an output equal to one input
 *  with coefficient 1 is that input's name). Rows r and r' with mat[r'][k] = (-1)^k mat[r][k] (the points p
 *  and -p) share their even part E: r = E + O, r' = E - O. */
function emitRowsCse(mat: number[][], ins: string[], outs: string[]): { lines: string[]; names: string[] } {
  const lines: string[] = [], names = new Array<string>(mat.length);
  const terms = (row: number[], keep: (k: number) => boolean) =>
    startOrder(row.map((c, k) => ({ c, k })).filter((x) => x.c !== 0 && keep(x.k)));
  const sum = (ts: { c: number; k: number }[], start?: string): string => {
    let e = start ?? '';
    ts.forEach(({ c, k }, idx) => {
      if (idx === 0 && start === undefined) e = c === 1 ? ins[k] : c === -1 ? `f32x4.neg(${ins[k]})` : `f32x4.mul(${ins[k]}, ${lit(c)})`;
      else e = c === 1 ? `f32x4.add(${e}, ${ins[k]})` : c === -1 ? `f32x4.sub(${e}, ${ins[k]})` : `madd(${ins[k]}, ${lit(c)}, ${e})`;
    });
    return ts.length === 0 && start === undefined ? 'f32x4.splat(0)' : e;
  };
  const partner = mat.map(() => -1);
  for (let r = 0; r < mat.length; r++) {
    if (partner[r] >= 0) continue;
    const hasOdd = mat[r].some((c, k) => k % 2 === 1 && c !== 0), hasEven = mat[r].some((c, k) => k % 2 === 0 && c !== 0);
    if (!hasOdd || !hasEven) continue;
    for (let q = r + 1; q < mat.length; q++) {
      if (partner[q] < 0 && mat[q].every((c, k) => c === (k % 2 ? -1 : 1) * mat[r][k] + 0 || (c === 0 && mat[r][k] === 0))) {
        partner[r] = q; partner[q] = r; break;
      }
    }
  }
  mat.forEach((row, r) => {
    if (names[r]) return;
    const q = partner[r];
    if (q < 0) {
      const ts = terms(row, () => true);
      if (ts.length === 1 && ts[0].c === 1) { names[r] = ins[ts[0].k]; return; }
      lines.push(`const ${outs[r]} = ${sum(ts)};`);
      names[r] = outs[r];
      return;
    }
    const even = `${outs[r]}e`;
    lines.push(`const ${even} = ${sum(terms(row, (k) => k % 2 === 0))};`);
    const odd = terms(row, (k) => k % 2 === 1);
    if (odd.length === 1) {
      lines.push(`const ${outs[r]} = ${sum(odd, even)};`);
      lines.push(`const ${outs[q]} = ${sum([{ c: -odd[0].c, k: odd[0].k }], even)};`);
    } else {
      lines.push(`const ${outs[r]}o = ${sum(odd)};`);
      lines.push(`const ${outs[r]} = f32x4.add(${even}, ${outs[r]}o);`, `const ${outs[q]} = f32x4.sub(${even}, ${outs[r]}o);`);
    }
    names[r] = outs[r]; names[q] = outs[q];
  });
  return { lines, names };
}

/** U'[i][j] = (G' g G'^T)[i][j] of one group of n (1..4) output channels, straight-line: g's 9 taps at
 *  src + k * tap (k = ky*3 + kx), U'[i][j] stored as a whole vector (lanes past n zero) at dst + (i*T + j) * pos. */
function emitFilterPacked(p: string, gu: number[][], t: number): string {
  const lines = [`@inline function ${p}_filter_vec_packed(src: usize, tap: usize, dst: usize, pos: usize, n: i32): void {`];
  for (let k = 0; k < 9; k++) lines.push(`  const g${k} = ldv(src + ${k} * tap, n);`);
  lines.push('  let d = dst;');
  const first: string[][] = [];
  for (let kx = 0; kx < 3; kx++) {
    const r = emitRowsCse(gu, [0, 1, 2].map((ky) => `g${ky * 3 + kx}`), gu.map((_, i) => `r${i}_${kx}`));
    lines.push(...r.lines.map((l) => '  ' + l));
    first.push(r.names);
  }
  for (let i = 0; i < t; i++) {
    const r = emitRowsCse(gu, [0, 1, 2].map((kx) => first[kx][i]), gu.map((_, j) => `u${i}_${j}`));
    lines.push(...r.lines.map((l) => '  ' + l));
    // One pointer stepped by pos: a multiply per store (k * pos, k up to T*T - 1) kept the integer multiplier
    // busier than the stores.
    r.names.forEach((nm, j) => lines.push(`  v128.store(d, ${nm});${i * t + j < t * t - 1 ? ' d += pos;' : ''}`));
  }
  lines.push('}');
  return lines.join('\n');
}

const HEADER = `// GENERATED by src/backends/wasm/ops/conv_winograd_gen.ts from the Toom-Cook matrices: do not edit.
// Winograd F(m x m, 3x3) transforms over NHWC / HWIO data, vectorised over channels (f32x4), each over a
// range of tiles or input channels so the operator splits them across threads. Layouts (elements):
//   U  [T*T][cin][cout]   filter transform            V  [T*T][chunkTiles][cin]  input transform
//   M  [T*T][chunkTiles][cout]  tile GEMM result       tiles numbered (b*tilesH + ty)*tilesW + tx
// The T*T positions sit posStride elements apart: the operator pads that stride off powers of two, else the
// T*T streams a tile writes alias the same cache sets.
// Channel tails (count not a multiple of 4) go through partial loads/stores; 'scratch' is a per-thread
// area of at least 4 KiB that the operator hands to each thread.
import { ldv, stv, sumBlocks } from './lanes';

@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** Copies the 64 bytes at f to d. */
@inline function copyLine(f: usize, d: usize): void {
  v128.store(d, v128.load(f)); v128.store(d, v128.load(f, 16), 16);
  v128.store(d, v128.load(f, 32), 32); v128.store(d, v128.load(f, 48), 48);
}

/** Output epilogue: + bias, then ReLU. */
@inline function epi(v: v128, vb: v128, relu: bool): v128 {
  const r = f32x4.add(v, vb);
  return relu ? f32x4.max(r, f32x4.splat(0)) : r;
}
`;

function emitSize(mx: WinogradMatrices): string {
  const { m, t } = mx;
  const f = `winograd_f${m}x${m}`;
  const p = `wg${m}`;
  const A = emitApply(`${p}_bt`, mx.bt, `F(${m}x${m}) input transform B^T (${t}x${t}), points ${mx.points.join(', ')}`);
  const G = emitApply(`${p}_g`, mx.g, `filter transform G (${t}x3)`);
  const GT = emitApply(`${p}_gt`, transpose(mx.g), `filter-gradient transform G^T (3x${t})`);
  const AT = emitApply(`${p}_at`, mx.at, `output transform A^T (${m}x${t})`);
  const ATE = emitApply(`${p}_at_epi`, mx.at, `output transform A^T (${m}x${t}) with the bias + ReLU epilogue`, true);
  const AA = emitApply(`${p}_a`, transpose(mx.at), `output-gradient transform A (${t}x${m})`);
  const sc = scaledSplit(mx);
  const ATS = emitApply(`${p}_ats`, sc.atScaled, `output transform (A^T D) (${m}x${t}) for the unscaled U' of the column-blocked forward`);
  const ATSE = emitApply(`${p}_ats_epi`, sc.atScaled, `the same with the bias + ReLU epilogue`, true);
  const FP = emitFilterPacked(p, sc.gu, t);
  return `
// ================= F(${m}x${m}, 3x3): tile ${t}x${t} =================
${A}
${G}
${GT}
${AT}
${ATE}
${AA}
${ATS}
${ATSE}

// U[pos][ci][co] = (G g G^T)[pos] for ci in [ciStart, ciEnd); w is HWIO [3][3][cin][cout].
@inline function ${p}_filter_vec(src: usize, tap: usize, dst: usize, pos: usize, t1: usize, n: i32): void {
  for (let kx = 0; kx < 3; kx++) ${p}_g(src + <usize>kx * tap, tap * 3, t1 + <usize>kx * 16, 48, n, 4);
  for (let i = 0; i < ${t}; i++) ${p}_g(t1 + <usize>i * 48, 16, dst + <usize>(i * ${t}) * pos, pos, 4, n);
}
export function ${f}_filter_transform(w: usize, u: usize, cin: i32, cout: i32, ciStart: i32, ciEnd: i32, posStride: i32, scratch: usize): void {
  const tap = <usize>cin * <usize>cout * 4, pos = <usize>posStride * 4;
  for (let ci = ciStart; ci < ciEnd; ci++) {
    const base = <usize>ci * <usize>cout * 4;
    let co = 0;
    for (; co + 4 <= cout; co += 4) ${p}_filter_vec(w + base + <usize>co * 4, tap, u + base + <usize>co * 4, pos, scratch, 4);
    if (co < cout) ${p}_filter_vec(w + base + <usize>co * 4, tap, u + base + <usize>co * 4, pos, scratch, cout - co);
  }
}

// The same transform written straight into the tile GEMMs' packed-B layout (gemm_pack_b's, k-block by k-block:
// block pc at pc * np floats, its 8-column slivers kc * 8 floats apart, row ci - pc of a sliver at (ci - pc) * 8),
// for GEMM columns [co0, co1) (np = co1 - co0 rounded up to 8; columns past co1 are written as zeros) and GEMM
// rows [ciStart, ciEnd); positions upPos floats apart. The column-blocked Winograd conv transforms one block of
// columns at a time into cache and runs the tile GEMMs on it, so U never goes to memory. It writes the unscaled
// U' = G' g G'^T (see scaledSplit in the generator); ${f}_output_transform_cols applies the scales.
// w is HWIO [3][3][a][b]. flip 0 (forward): rows are a = cin, columns b = cout. flip 1 (data gradient): the
// filter rotated 180 degrees with in and out swapped, rows are b = cin (the layer's cout), columns a = cout.
// The block's taps are first gathered into stage ([ci][tap][np], (ciEnd - ciStart) * 9 * np floats, zero past
// co1): in place, a block's rows of w lie cout floats apart within a tap and 4*cin*cout bytes apart across taps;
// no prefetcher follows that, the same few cache sets take every row, and the transform's work per row hides one
// miss at most (1 ms of the 256->512 layer's forward), while the plain gather loop keeps many misses in flight.
${FP}
export function ${f}_filter_transform_packed(w: usize, bp: usize, cin: i32, cout: i32, co0: i32, co1: i32, ciStart: i32, ciEnd: i32,
  kcb: i32, upPos: i32, stage: usize, flip: i32): void {
  const tap = <usize>cin * <usize>cout * 4, pos = <usize>upPos * 4;
  const np = (co1 - co0 + 7) & ~7, nc = co1 - co0;
  const rowBytes = <usize>np * 4, stageRow = rowBytes * 9;
  if (!flip && nc == np && (np & 15) == 0) {
    // Whole lines, the taps unrolled: each load instruction then walks w with one constant stride (a row of
    // cout floats per ci), which the stride prefetcher follows (this gather ran at half the speed of the
    // contiguous one of the data gradient with w cold).
    for (let o: usize = 0; o < rowBytes; o += 64) {
      for (let ci = ciStart; ci < ciEnd; ci++) {
        const f = w + (<usize>ci * <usize>cout + <usize>co0) * 4 + o, d = stage + <usize>(ci - ciStart) * stageRow + o;
${Array.from({ length: 9 }, (_, k) => `        copyLine(f + ${k} * tap, d + ${k} * rowBytes);`).join('\n')}
      }
    }
  } else if (!flip) {
    for (let ci = ciStart; ci < ciEnd; ci++) {
      const from = w + (<usize>ci * <usize>cout + <usize>co0) * 4, to = stage + <usize>(ci - ciStart) * stageRow;
      for (let k = 0; k < 9; k++) {
        const f = from + <usize>k * tap, d = to + <usize>k * rowBytes;
        let j = 0;
        for (; j + 4 <= nc; j += 4) v128.store(d + <usize>j * 4, v128.load(f + <usize>j * 4));
        if (j < nc) v128.store(d + <usize>j * 4, ldv(f + <usize>j * 4, nc - j));
        for (j = (nc + 3) & ~3; j < np; j += 4) v128.store(d + <usize>j * 4, f32x4.splat(0));
      }
    }
  } else {
    // stage[ci][k][j] = w[8 - k][co0 + j][ci]: rows of w are contiguous over ci; 4x4 transposes.
    for (let k = 0; k < 9; k++) {
      const src = w + <usize>(8 - k) * tap, to = stage + <usize>k * rowBytes;
      for (let j = 0; j < np; j += 4) {
        const r0 = src + <usize>(co0 + j) * <usize>cin * 4, rs = <usize>cin * 4;
        let ci = ciStart;
        if (j + 4 <= nc) {
          for (; ci + 4 <= ciEnd; ci += 4) {
            const o = <usize>ci * 4;
            const x0 = v128.load(r0 + o), x1 = v128.load(r0 + rs + o), x2 = v128.load(r0 + 2 * rs + o), x3 = v128.load(r0 + 3 * rs + o);
            const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
            const t2 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5), t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
            const d = to + <usize>(ci - ciStart) * stageRow + <usize>j * 4;
            v128.store(d, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
            v128.store(d + stageRow, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
            v128.store(d + 2 * stageRow, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
            v128.store(d + 3 * stageRow, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
          }
        }
        for (; ci < ciEnd; ci++) {
          const d = to + <usize>(ci - ciStart) * stageRow + <usize>j * 4;
          for (let q = 0; q < 4; q++) {
            store<f32>(d + <usize>q * 4, j + q < nc ? load<f32>(r0 + <usize>q * rs + <usize>ci * 4) : 0);
          }
        }
      }
    }
  }
  for (let ci = ciStart; ci < ciEnd; ci++) {
    const pc = ci / kcb * kcb, kc = min(kcb, cin - pc);
    const row = bp + (<usize>pc * <usize>np + <usize>(ci - pc) * 8) * 4, sl = <usize>kc * 32;
    const src = stage + <usize>(ci - ciStart) * stageRow;
    for (let j = 0; j < np; j += 8) {
      const dst = row + <usize>(j >> 3) * sl;
      ${p}_filter_vec_packed(src + <usize>j * 4, rowBytes, dst, pos, 4);
      ${p}_filter_vec_packed(src + <usize>j * 4 + 16, rowBytes, dst + 16, pos, 4);
    }
  }
}

// dw[ky][kx][ci][co] = beta * dw + (G^T dU G) for ci in [ciStart, ciEnd); dU laid out as U.
@inline function ${p}_filter_adjoint_vec(src: usize, pos: usize, dst: usize, tap: usize, beta: f32, t1: usize, n: i32): void {
  for (let j = 0; j < ${t}; j++) ${p}_gt(src + <usize>j * pos, pos * ${t}, t1 + <usize>j * 16, ${t * 16}, n, 4);
  const t2 = t1 + ${3 * t * 16};
  for (let i = 0; i < 3; i++) ${p}_gt(t1 + <usize>i * ${t * 16}, 16, t2 + <usize>i * 48, 16, 4, 4);
  const vb = f32x4.splat(beta);
  for (let k = 0; k < 9; k++) {
    let r = v128.load(t2 + <usize>k * 16);
    if (beta != 0) r = madd(ldv(dst + <usize>k * tap, n), vb, r);
    stv(dst + <usize>k * tap, r, n);
  }
}
// dw[ky][kx][ci][co] = beta * dw + G^T (sum over b < blocks of dU_b) G for ci in [ciStart, ciEnd): dU_b laid out as U
// at du + b * blockBytes (rows cout floats apart, positions posStride floats apart). The blocks are summed while loading, in the fixed order b = 0, 1, ..., so the sum (and dw) does not depend
// on which thread runs which rows; one pass over all blocks reads each dU_b once and writes dw once (a pass per block
// re-read and re-wrote dw per block: the fused filter gradient's 6 blocks on 2 threads took 0.8 ms, 1 block 0.26).
// With blocks 1 it is the plain adjoint. scratch: 4 KiB.
@inline function ${p}_filter_adjoint_sum_vec(src: usize, pos: usize, dst: usize, tap: usize, beta: f32, scratch: usize, n: i32,
  blocks: i32, blockBytes: usize): void {
  if (blocks == 1) { ${p}_filter_adjoint_vec(src, pos, dst, tap, beta, scratch, n); return; }
  sumBlocks(src, pos, ${t * t}, blocks, blockBytes, n, scratch + 1024);
  ${p}_filter_adjoint_vec(scratch + 1024, 16, dst, tap, beta, scratch, n);
}
export function ${f}_filter_adjoint_sum(du: usize, dw: usize, cin: i32, cout: i32, ciStart: i32, ciEnd: i32, posStride: i32,
  beta: f32, scratch: usize, blocks: i32, blockBytes: i32): void {
  const tap = <usize>cin * <usize>cout * 4, pos = <usize>posStride * 4, bb = <usize>blockBytes;
  for (let ci = ciStart; ci < ciEnd; ci++) {
    const base = <usize>ci * <usize>cout * 4;
    let c = 0;
    for (; c + 4 <= cout; c += 4) ${p}_filter_adjoint_sum_vec(du + base + <usize>c * 4, pos, dw + base + <usize>c * 4, tap, beta, scratch, 4, blocks, bb);
    if (c < cout) ${p}_filter_adjoint_sum_vec(du + base + <usize>c * 4, pos, dw + base + <usize>c * 4, tap, beta, scratch, cout - c, blocks, bb);
  }
}

// V[pos][t - chunkStart][ci] = (B^T d B)[pos] for tiles t in [tileStart, tileEnd); d is the ${t}x${t} input patch at
// (ty*${m} - padTop, tx*${m} - padLeft), zero outside the h x w image (pads may be negative: cropping).
@inline function ${p}_input_vec(src: usize, rs: usize, cs: usize, dst: usize, pos: usize, t1: usize, n: i32): void {
  for (let j = 0; j < ${t}; j++) ${p}_bt(src + <usize>j * cs, rs, t1 + <usize>j * 16, ${t * 16}, n, 4);
  for (let i = 0; i < ${t}; i++) ${p}_bt(t1 + <usize>i * ${t * 16}, 16, dst + <usize>(i * ${t}) * pos, pos, 4, n);
}
export function ${f}_input_transform(x: usize, v: usize, h: i32, w: i32, cin: i32, tilesH: i32, tilesW: i32,
  padTop: i32, padLeft: i32, tileStart: i32, tileEnd: i32, chunkStart: i32, posStride: i32, scratch: usize): void {
  const pos = <usize>posStride * 4;
  const cs = <usize>cin * 4, rs = <usize>w * cs;
  const patch = scratch + ${t * t * 16};
  for (let tile = tileStart; tile < tileEnd; tile++) {
    const b = tile / (tilesH * tilesW), r = tile % (tilesH * tilesW);
    const y0 = (r / tilesW) * ${m} - padTop, x0 = (r % tilesW) * ${m} - padLeft;
    const dst = v + <usize>(tile - chunkStart) * cs;
    const img = x + <usize>b * <usize>h * rs;
    if (y0 >= 0 && x0 >= 0 && y0 + ${t} <= h && x0 + ${t} <= w) {
      const src = img + <usize>y0 * rs + <usize>x0 * cs;
      let c = 0;
      for (; c + 4 <= cin; c += 4) ${p}_input_vec(src + <usize>c * 4, rs, cs, dst + <usize>c * 4, pos, scratch, 4);
      if (c < cin) ${p}_input_vec(src + <usize>c * 4, rs, cs, dst + <usize>c * 4, pos, scratch, cin - c);
      continue;
    }
    // Border tile: the patch with zeros outside the image, in scratch, then transformed from there. The zeros
    // are written once per tile and only the pixels inside are copied per channel group (the inside test per
    // pixel and group cost a third of the 4x4 maps' input transform, where every tile is a border tile).
    const i0 = max(0, -y0), i1 = min(${t}, h - y0), j0 = max(0, -x0), j1 = min(${t}, w - x0);
    for (let k = 0; k < ${t * t}; k++) v128.store(patch + <usize>k * 16, f32x4.splat(0));
    // Whole channel groups with n = 4 spelled out, so every load and store inside folds to a full vector (a run-time
    // n kept a lane-count branch in each of them).
    let c = 0;
    for (; c + 4 <= cin; c += 4) {
      for (let i = i0; i < i1; i++) {
        const from = img + <usize>(y0 + i) * rs + <usize>c * 4, to = patch + <usize>(i * ${t}) * 16;
        for (let j = j0; j < j1; j++) v128.store(to + <usize>j * 16, v128.load(from + <usize>(x0 + j) * cs));
      }
      ${p}_input_vec(patch, ${t * 16}, 16, dst + <usize>c * 4, pos, scratch, 4);
    }
    if (c < cin) {
      const n = cin - c;
      for (let i = i0; i < i1; i++) {
        const from = img + <usize>(y0 + i) * rs + <usize>c * 4, to = patch + <usize>(i * ${t}) * 16;
        for (let j = j0; j < j1; j++) v128.store(to + <usize>j * 16, ldv(from + <usize>(x0 + j) * cs, n));
      }
      ${p}_input_vec(patch, ${t * 16}, 16, dst + <usize>c * 4, pos, scratch, n);
    }
  }
}

// y = A^T M A (+ bias) (ReLU) for tiles in [tileStart, tileEnd); only the pixels inside oh x ow are written.
// flags: 1 = add bias, 2 = ReLU. M is a workspace with slack after it, so full-vector loads past a channel
// tail are safe; stores to y take only the n valid lanes.
// scaled: M holds the unscaled U' products of the column-blocked forward, so (A^T D) replaces A^T (a constant
// after inlining).
@inline function ${p}_output_vec(src: usize, pos: usize, t1: usize, out: usize, rs: usize, cs: usize, rows: i32, cols: i32,
  vb: v128, relu: bool, n: i32, scaled: bool): void {
  for (let j = 0; j < ${t}; j++) {
    if (scaled) ${p}_ats(src + <usize>j * pos, pos * ${t}, t1 + <usize>j * 16, ${t * 16}, 4, 4);
    else ${p}_at(src + <usize>j * pos, pos * ${t}, t1 + <usize>j * 16, ${t * 16}, 4, 4);
  }
  if (rows == ${m} && cols == ${m}) {
    for (let i = 0; i < ${m}; i++) {
      if (scaled) ${p}_ats_epi(t1 + <usize>i * ${t * 16}, 16, out + <usize>i * rs, cs, 4, n, vb, relu);
      else ${p}_at_epi(t1 + <usize>i * ${t * 16}, 16, out + <usize>i * rs, cs, 4, n, vb, relu);
    }
    return;
  }
  const t2 = t1 + ${m * t * 16};
  for (let i = 0; i < ${m}; i++) {
    if (scaled) ${p}_ats(t1 + <usize>i * ${t * 16}, 16, t2 + <usize>i * ${m * 16}, 16, 4, 4);
    else ${p}_at(t1 + <usize>i * ${t * 16}, 16, t2 + <usize>i * ${m * 16}, 16, 4, 4);
  }
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) stv(out + <usize>i * rs + <usize>j * cs, epi(v128.load(t2 + <usize>(i * ${m} + j) * 16), vb, relu), n);
  }
}
export function ${f}_output_transform(mm: usize, y: usize, bias: usize, oh: i32, ow: i32, cout: i32, tilesH: i32, tilesW: i32,
  tileStart: i32, tileEnd: i32, chunkStart: i32, posStride: i32, flags: i32, scratch: usize): void {
  ${p}_output_tiles(mm, cout, y, bias, oh, ow, cout, cout, tilesH, tilesW, tileStart, tileEnd, chunkStart, posStride, flags, scratch, false);
}
// The output transform of channels [0, nc) of y (pixels cout channels apart; y and bias point at the first one) from
// an M whose tile rows are ldm floats apart and whose products are of the unscaled U' (applies (A^T D)): the
// column-blocked forward's M holds one block of channels.
export function ${f}_output_transform_cols(mm: usize, ldm: i32, y: usize, bias: usize, oh: i32, ow: i32, cout: i32, nc: i32,
  tilesH: i32, tilesW: i32, tileStart: i32, tileEnd: i32, posStride: i32, flags: i32, scratch: usize): void {
  ${p}_output_tiles(mm, ldm, y, bias, oh, ow, cout, nc, tilesH, tilesW, tileStart, tileEnd, tileStart, posStride, flags, scratch, true);
}
@inline function ${p}_output_tiles(mm: usize, ldm: i32, y: usize, bias: usize, oh: i32, ow: i32, cout: i32, nc: i32, tilesH: i32,
  tilesW: i32, tileStart: i32, tileEnd: i32, chunkStart: i32, posStride: i32, flags: i32, scratch: usize, scaled: bool): void {
  const pos = <usize>posStride * 4;
  const cs = <usize>cout * 4, rs = <usize>ow * cs, ms = <usize>ldm * 4;
  const zero = f32x4.splat(0);
  const hasBias = (flags & 1) != 0, relu = (flags & 2) != 0;
  for (let tile = tileStart; tile < tileEnd; tile++) {
    const b = tile / (tilesH * tilesW), r = tile % (tilesH * tilesW);
    const y0 = (r / tilesW) * ${m}, x0 = (r % tilesW) * ${m};
    const rows = min(${m}, oh - y0), cols = min(${m}, ow - x0);
    const src = mm + <usize>(tile - chunkStart) * ms;
    const out = y + (<usize>b * <usize>oh + <usize>y0) * rs + <usize>x0 * cs;
    let c = 0;
    for (; c + 4 <= nc; c += 4) {
      const vb = hasBias ? v128.load(bias + <usize>c * 4) : zero;
      ${p}_output_vec(src + <usize>c * 4, pos, scratch, out + <usize>c * 4, rs, cs, rows, cols, vb, relu, 4, scaled);
    }
    if (c < nc) {
      const vb = hasBias ? ldv(bias + <usize>c * 4, nc - c) : zero;
      ${p}_output_vec(src + <usize>c * 4, pos, scratch, out + <usize>c * 4, rs, cs, rows, cols, vb, relu, nc - c, scaled);
    }
  }
}

// dM[pos][t - chunkStart][co] = (A dY A^T)[pos]: the adjoint of the output transform, for the filter gradient.
// dY outside oh x ow counts as zero.
@inline function ${p}_output_adjoint_vec(src: usize, rs: usize, cs: usize, rows: i32, cols: i32, dst: usize, pos: usize,
  t1: usize, n: i32): void {
  const patch = t1 + ${t * m * 16};
  let from = src, frs = rs, fcs = cs;
  if (rows < ${m} || cols < ${m}) {
    for (let i = 0; i < ${m}; i++) {
      for (let j = 0; j < ${m}; j++) {
        const val = i < rows && j < cols ? ldv(src + <usize>i * rs + <usize>j * cs, n) : f32x4.splat(0);
        v128.store(patch + <usize>(i * ${m} + j) * 16, val);
      }
    }
    from = patch; frs = ${m * 16}; fcs = 16;
  }
  for (let j = 0; j < ${m}; j++) ${p}_a(from + <usize>j * fcs, frs, t1 + <usize>j * 16, ${m * 16}, n, 4);
  for (let i = 0; i < ${t}; i++) ${p}_a(t1 + <usize>i * ${m * 16}, 16, dst + <usize>(i * ${t}) * pos, pos, 4, n);
}
export function ${f}_output_adjoint(dy: usize, dm: usize, oh: i32, ow: i32, cout: i32, tilesH: i32, tilesW: i32,
  tileStart: i32, tileEnd: i32, chunkStart: i32, posStride: i32, scratch: usize): void {
  const pos = <usize>posStride * 4;
  const cs = <usize>cout * 4, rs = <usize>ow * cs;
  for (let tile = tileStart; tile < tileEnd; tile++) {
    const b = tile / (tilesH * tilesW), r = tile % (tilesH * tilesW);
    const y0 = (r / tilesW) * ${m}, x0 = (r % tilesW) * ${m};
    const rows = min(${m}, oh - y0), cols = min(${m}, ow - x0);
    const src = dy + (<usize>b * <usize>oh + <usize>y0) * rs + <usize>x0 * cs;
    const dst = dm + <usize>(tile - chunkStart) * cs;
    let c = 0;
    for (; c + 4 <= cout; c += 4) ${p}_output_adjoint_vec(src + <usize>c * 4, rs, cs, rows, cols, dst + <usize>c * 4, pos, scratch, 4);
    if (c < cout) ${p}_output_adjoint_vec(src + <usize>c * 4, rs, cs, rows, cols, dst + <usize>c * 4, pos, scratch, cout - c);
  }
}
`;
}

/** The full text of assembly/winograd_gen.ts. */
export function generateWinogradAssembly(): string {
  return HEADER + ([2, 4, 6] as const).map((m) => emitSize(winogradMatrices(m))).join('');
}

const isMain = typeof process !== 'undefined' && process.argv?.[1]?.endsWith('conv_winograd_gen.js');
if (isMain) {
  const { writeFileSync } = await import('node:fs');
  const url = new URL('../../../../../assembly/winograd_gen.ts', import.meta.url);
  writeFileSync(url, generateWinogradAssembly());
  console.log(`wrote ${url.pathname}`);
}
