// GEMM bench suite: square sizes, the VGG im2col GEMMs and the two backward-pass transposes, on every backend handed in.
import type { Backend, Buf } from '../../src/backend.js';
import { gemmReference } from '../../src/backends/reference/gemm.js';
import { CIFAR_CONV_LAYERS, GEMM_SQUARE_SIZES, im2colGemmShape } from '../../src/runtime/shapes.js';
import { type BenchBackend, type BenchRecord, type Suite, type SuiteContext, measureKernel, measuredExtra, selected } from '../record.js';
import { randomArray } from '../../src/util/random.js';
import type { WasmBackend } from '../../src/backends/wasm/backend.js';
import { type CopyRunner, type CopyRunners, withCopyRunners } from '../copies.js';

/** One product's sizes and transposes (what gemmCall needs). */
export interface GemmShape { m: number; n: number; k: number; transA: boolean; transB: boolean }
interface GemmCase extends GemmShape { shape: string; trans: 'NN' | 'NT' | 'TN'; pass: string }

/** Rows of C recomputed by the float64 reference per measurement: enough to catch a wrong tile or edge,
 *  cheap enough for 2048^3 (a full reference there takes minutes). */
const CHECK_ROWS = 8;

function cases(quick: boolean): GemmCase[] {
  const out: GemmCase[] = [];
  const squares = quick ? [256, 1024] : GEMM_SQUARE_SIZES;
  for (const s of squares) out.push({ shape: `${s}x${s}x${s}`, m: s, n: s, k: s, transA: false, transB: false, trans: 'NN', pass: 'forward' });
  // The backward passes of a layer whose forward is C[m,n] = A[m,k] B[k,n]: dgrad dA = dC B^T (NT),
  // wgrad dB = A^T dC (TN); on 1024^3 both have the forward's FLOP count.
  out.push({ shape: '1024x1024x1024', m: 1024, n: 1024, k: 1024, transA: false, transB: true, trans: 'NT', pass: 'dgrad' });
  out.push({ shape: '1024x1024x1024', m: 1024, n: 1024, k: 1024, transA: true, transB: false, trans: 'TN', pass: 'wgrad' });
  const layers = quick ? [CIFAR_CONV_LAYERS[1], CIFAR_CONV_LAYERS[3]] : CIFAR_CONV_LAYERS;
  for (const l of layers) {
    const { m, n, k } = im2colGemmShape(l.shape);
    out.push({ shape: `im2col:${l.id}`, m, n, k, transA: false, transB: false, trans: 'NN', pass: 'forward' });
  }
  // The classifier's FC-4096 -> FC-4096 at batch 64, as Linear runs it (weights stored [out, in]): forward
  // Y = X W^T (NT), data gradient dX = dY W (NN), weight gradient dW = dY^T X (TN, depth 64).
  if (!quick) {
    const fc = 'fc:4096-4096_n64';
    out.push({ shape: fc, m: 64, n: 4096, k: 4096, transA: false, transB: true, trans: 'NT', pass: 'forward' });
    out.push({ shape: fc, m: 64, n: 4096, k: 4096, transA: false, transB: false, trans: 'NN', pass: 'dgrad' });
    out.push({ shape: fc, m: 4096, n: 4096, k: 64, transA: true, transB: false, trans: 'TN', pass: 'wgrad' });
  }
  return out;
}

/** 'relaxed' / 'simd' for wasm (from the description 'wasm-<build>-t<threads>'), else the runner's tag. */
function buildTag(bb: BenchBackend): string {
  const m = /^wasm-(relaxed|simd)-t\d+$/.exec(bb.backend.description);
  return m ? m[1] : bb.algoTag ?? bb.backend.name;
}

const random = (length: number, seed: number) => randomArray(length, seed);

/** Normwise max error of CHECK_ROWS rows of C (alpha 1, beta 0) against the float64 reference. */
function spotCheck(c: GemmCase, a: Float32Array, b: Float32Array, got: Float32Array): number {
  const { m, n, k } = c;
  let maxDiff = 0, scale = 1;
  const want = new Float32Array(n);
  for (let r = 0; r < Math.min(CHECK_ROWS, m); r++) {
    const i = Math.floor((r * (m - 1)) / Math.max(1, CHECK_ROWS - 1));
    // One row of op(A): offset to row i (NN) or column i (TN, stored [k, m]).
    gemmReference(a, b, want, { m: 1, n, k, transA: c.transA, transB: c.transB, lda: c.transA ? m : k, offA: c.transA ? i : i * k });
    for (let j = 0; j < n; j++) {
      scale = Math.max(scale, Math.abs(want[j]));
      const d = Math.abs(got[i * n + j] - want[j]);
      maxDiff = Number.isNaN(d) ? Infinity : Math.max(maxDiff, d);
    }
  }
  return maxDiff / scale;
}

/** The product C = op(A) op(B) of one case (seeded A and B, alpha 1, beta 0) as a closure over freshly uploaded
 *  buffers on `be` (freed by dispose). */
export function gemmCall(be: Backend, c: GemmShape): { a: Float32Array; b: Float32Array; issue: () => void; out: Buf; dispose: () => void } {
  const a = random(c.m * c.k, 1), b = random(c.k * c.n, 2);
  const bufs: Buf[] = [be.alloc(a.length), be.alloc(b.length), be.alloc(c.m * c.n)];
  be.write(bufs[0], a); be.write(bufs[1], b);
  const issue = () => {
    be.run('gemm', { a: bufs[0], b: bufs[1], c: bufs[2], m: c.m, n: c.n, k: c.k, transA: c.transA, transB: c.transB, alpha: 1, beta: 0 });
  };
  return { a, b, issue, out: bufs[2], dispose: () => { for (const x of bufs) be.free(x); } };
}

/** Where the 2-thread rows get a two-copies ceiling (bench/copies.ts) beside them: the GEMM bar's case. */
const CEILING_SHAPE = '1024x1024x1024';

/** ceilingWith: also time two copies at once, on `one` (a 1-thread backend of the same build) and the copy worker. */
async function runCase(bb: BenchBackend, c: GemmCase, quick: boolean, ceilingWith?: { one: BenchBackend; copies: CopyRunner }): Promise<BenchRecord> {
  const be: Backend = bb.backend;
  const call = gemmCall(be, c);
  try {
    const t = await measureKernel(be, call.issue, { minSamples: quick ? 3 : 5, maxMs: quick ? 400 : 1500 });
    const err = spotCheck(c, call.a, call.b, await be.read(call.out));
    let ceiling: number | undefined;
    if (ceilingWith) {
      const own = gemmCall(ceilingWith.one.backend, c);
      try { ceiling = await ceilingWith.copies.ceiling({ gemm: c }, own.issue, 5); } finally { own.dispose(); }
    }
    const build = buildTag(bb);
    return {
      suite: 'gemm', kernel: 'gemm', shape: c.shape, backend: be.name, algo: c.trans === 'NN' ? build : `${build}-${c.trans}`,
      threads: bb.threads, median_ms: t.medianMs, gflops: (2 * c.m * c.n * c.k) / (t.medianMs * 1e6), max_rel_err: err,
      warmup_ms: t.firstMs, ...(t.compileMs !== undefined ? { compile_ms: t.compileMs } : {}),
      extra: { label: bb.label, description: be.description, m: c.m, n: c.n, k: c.k, trans: c.trans, pass: c.pass, checked_rows: Math.min(CHECK_ROWS, c.m),
        ...measuredExtra(t), ...(ceiling !== undefined ? { copies_ceiling: ceiling } : {}) },
    };
  } finally {
    call.dispose();
  }
}

export const gemmSuite: Suite = {
  name: 'gemm',
  run: (ctx) => withCopyRunners((copies) => runAll(ctx, copies)),
};

async function runAll(ctx: SuiteContext, runners: CopyRunners): Promise<BenchRecord[]> {
  const records: BenchRecord[] = [];
  for (const bb of ctx.backends) {
    // A software GPU runs 1024^3 in seconds: cases projected (from this backend's last rate) to take
    // longer than this per call are skipped, with a log line, so that the suite's time stays bounded.
    // A full run keeps every case up to a minute per call (slow calls get one or two samples).
    const maxCallMs = ctx.quick ? 3000 : 60000;
    let flopsPerMs = Infinity;
    for (const c of cases(ctx.quick)) {
      if (!selected(ctx.filter, { kernel: 'gemm', shape: c.shape, algo: c.trans })) continue;
      const projected = (2 * c.m * c.n * c.k) / flopsPerMs;
      if (projected > maxCallMs) {
        ctx.log(`gemm ${c.shape} ${c.trans} on ${bb.label}: skipped, ~${Math.round(projected)} ms per call projected`);
        continue;
      }
      // The 2-thread wasm rows of the bar's shape: also two 1-thread copies at once, against one alone.
      const wasm = bb.backend.name === 'wasm' && bb.threads === 2 && c.shape === CEILING_SHAPE ? bb.backend as WasmBackend : undefined;
      const one = wasm && ctx.backends.find((o) => o.backend.name === 'wasm' && o.threads === 1 && buildTag(o) === wasm.build);
      const r = await runCase(bb, c, ctx.quick, wasm && one ? { one, copies: await runners.for(wasm) } : undefined);
      flopsPerMs = (2 * c.m * c.n * c.k) / r.median_ms;
      const ceiling = r.extra?.copies_ceiling as number | undefined;
      ctx.log(`gemm ${r.shape} ${r.algo} ${bb.label} t${r.threads}: ${r.median_ms.toFixed(2)} ms, ${r.gflops.toFixed(1)} GFLOP/s, err ${r.max_rel_err.toExponential(1)}` +
        (ceiling !== undefined ? `; ceiling, two 1-thread copies at once: ${ceiling.toFixed(2)}x one alone` : ''));
      records.push(r);
      if (ctx.checkpoint && !ctx.quick) await ctx.checkpoint(records);
    }
  }
  return records;
}
