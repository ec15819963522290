// Conv bench suite: every VGG layer of the shapes table x every algorithm x forward / data gradient / filter
// gradient, on every backend handed in; GFLOP/s by the direct-convolution count for every algorithm.
import { type Backend, type Buf, CONV_ALGOS, type ConvAlgo, type ConvShape, algoApplies, convOutSize } from '../../src/backend.js';
import { conv2dForwardF64, conv2dBackwardDataF64 } from '../../src/backends/reference/conv.js';
import { convPhases } from '../../src/backends/wasm/ops/conv_im2col.js';
import type { WasmBackend } from '../../src/backends/wasm/backend.js';
import type { ThreadPool } from '../../src/backends/wasm/pool.js';
import { type CopyRunner, type CopyRunners, withCopyRunners } from '../copies.js';
import { CIFAR_CONV_LAYERS, IMAGENET_CONV_LAYERS, type ConvLayerShape, convFlops } from '../../src/runtime/shapes.js';
import { type BenchBackend, type BenchRecord, type CaseFilter, type Suite, type SuiteContext, measureKernel, measuredExtra, median, selected } from '../record.js';
import { randomArray } from '../../src/util/random.js';

export type Pass = 'conv2d_forward' | 'conv2d_backward_data' | 'conv2d_backward_filter';
const PASSES: Pass[] = ['conv2d_forward', 'conv2d_backward_data', 'conv2d_backward_filter'];

/** Above this many FLOPs for one image, the float64 reference is too slow for a spot check (it runs at well
 *  under 1 GFLOP/s); rows are then compared to the same backend's im2col_gemm result instead. */
const REFERENCE_MAX_FLOPS = 2e8;

function layers(quick: boolean): ConvLayerShape[] {
  if (!quick) return [...CIFAR_CONV_LAYERS, ...IMAGENET_CONV_LAYERS];
  const ids = ['c64-128_16x16_n32', 'c128-256_8x8_n32', 'c256-512_4x4_n32', 'c512-512_2x2_n32', 'c256-256_56x56_n4'];
  return [...CIFAR_CONV_LAYERS, ...IMAGENET_CONV_LAYERS].filter((l) => ids.includes(l.id));
}

const random = randomArray;

function relErr(got: ArrayLike<number>, want: ArrayLike<number>, length = want.length): number {
  let e = 0, s = 1e-30;
  for (let i = 0; i < length; i++) {
    const d = Math.abs(got[i] - want[i]);
    e = Number.isNaN(d) ? Infinity : Math.max(e, d);
    s = Math.max(s, Math.abs(want[i]));
  }
  return e / s;
}

export interface LayerData { x: Float32Array; w: Float32Array; bias: Float32Array; dy: Float32Array }

/** Seeded inputs of one layer (the same on every backend and thread count). */
export function layerData(s: ConvShape): LayerData {
  const { oh, ow } = convOutSize(s);
  return { x: random(s.n * s.h * s.w * s.cin, 1), w: random(9 * s.cin * s.cout, 2, 1 / Math.sqrt(9 * s.cin)),
    bias: random(s.cout, 3, 0.1), dy: random(s.n * oh * ow * s.cout, 4) };
}

/** Reference outputs for image 0 (forward and data gradient depend on it alone), when cheap enough. */
function referenceImage0(s: ConvShape, d: LayerData): Partial<Record<Pass, Float64Array>> {
  const one = { ...s, n: 1 };
  if (convFlops(one) > REFERENCE_MAX_FLOPS) return {};
  const { oh, ow } = convOutSize(s);
  return {
    conv2d_forward: conv2dForwardF64(d.x.subarray(0, s.h * s.w * s.cin), d.w, d.bias, one, true),
    conv2d_backward_data: conv2dBackwardDataF64(d.dy.subarray(0, oh * ow * s.cout), d.w, one),
  };
}

async function benchLayer(bb: BenchBackend, layer: ConvLayerShape, passes: Pass[], quick: boolean, log: (m: string) => void,
  filter: CaseFilter | undefined, done: (r: BenchRecord) => Promise<void>): Promise<BenchRecord[]> {
  const s = layer.shape, be: Backend = bb.backend;
  const data = layerData(s);
  const ref = referenceImage0(s, data);
  const out: BenchRecord[] = [];
  const baseline: Partial<Record<Pass, Float32Array>> = {};
  const algos = CONV_ALGOS.filter((a) => algoApplies(a, s));
  for (const pass of passes) {
    for (const algo of algos) {
      if (!selected(filter, { kernel: pass, algo })) continue;
      const call = passCall(be, s, pass, algo, data);
      try {
        const { run, issue } = call;
        const t = await measureKernel(be, issue, { minSamples: quick ? 2 : 3, maxSamples: quick ? 8 : 30, maxMs: quick ? 300 : 1500 });
        const got = await be.read(call.out);
        // One more call with the wasm phase timers on: where the time goes (im2col/transforms vs GEMM).
        let phases: Record<string, number> | undefined;
        if (be.name === 'wasm') {
          convPhases.ms = {}; convPhases.enabled = true;
          try { await run(); } finally { convPhases.enabled = false; }
          phases = Object.fromEntries(Object.entries(convPhases.ms).map(([k, v]) => [k, Math.round(v * 100) / 100]));
        }
        // im2col_gemm runs first for each pass, so it is the fallback baseline of the Winograd rows.
        if (algo === 'im2col_gemm') baseline[pass] = got;
        const r = ref[pass];
        const err = r ? relErr(got, r, r.length) : algo === 'im2col_gemm' || !baseline[pass] ? NaN : relErr(got, baseline[pass]!);
        const errVs = r ? 'float64 reference, image 0' : algo === 'im2col_gemm' ? 'not checked (reference too slow here)' : 'same backend im2col_gemm';
        const rec: BenchRecord = {
          suite: 'conv', kernel: pass, shape: layer.id, backend: be.name, algo: algo as ConvAlgo, threads: bb.threads,
          median_ms: t.medianMs, gflops: convFlops(s) / (t.medianMs * 1e6), max_rel_err: err, warmup_ms: t.firstMs,
          ...(t.compileMs !== undefined ? { compile_ms: t.compileMs } : {}),
          extra: { label: bb.label, description: be.description, err_vs: errVs, ...measuredExtra(t),
            ...(phases ? { phases_ms: phases } : {}) },
        };
        log(`conv ${layer.id} ${pass} ${algo} ${bb.label}: ${rec.median_ms.toFixed(2)} ms (${t.samples.length} x ${t.timing}), ` +
          `${rec.gflops.toFixed(1)} GFLOP/s, first ${t.firstMs.toFixed(0)} ms, err ${Number.isNaN(err) ? '-' : err.toExponential(1)}`);
        out.push(rec);
        await done(rec);
      } finally { call.dispose(); }
    }
  }
  return out;
}

/** One conv pass as a closure over freshly uploaded buffers on `be` (freed by the returned dispose). */
export function passCall(be: Backend, s: ConvShape, pass: Pass, algo: ConvAlgo, d: LayerData): { issue: () => void; run: () => Promise<void>; out: Buf; dispose: () => void } {
  const { oh, ow } = convOutSize(s);
  const bufs: Buf[] = [];
  const up = (a: Float32Array) => { const b = be.alloc(a.length); bufs.push(b); be.write(b, a); return b; };
  const x = up(d.x), w = up(d.w), bias = up(d.bias), dy = up(d.dy);
  const out = up(new Float32Array(pass === 'conv2d_forward' ? s.n * oh * ow * s.cout : pass === 'conv2d_backward_data' ? d.x.length : d.w.length));
  const issue = () => {
    if (pass === 'conv2d_forward') be.run(pass, { x, w, bias, relu: true, y: out, shape: s, algo });
    else if (pass === 'conv2d_backward_data') be.run(pass, { dy, w, dx: out, shape: s, algo });
    else be.run(pass, { x, dy, dw: out, shape: s, algo, beta: 0 });
  };
  return { issue, run: async () => { issue(); await be.sync(); }, out, dispose: () => { for (const b of bufs) be.free(b); } };
}

/**
 * The 2-thread speed-up measured in one time window: calls on 1 thread and on 2 threads alternate (both with the
 * 1-thread fastest algorithm from the rows just measured), and the figure is the median of the per-round ratios. The rows
 * themselves are minutes apart in a full run, and this VM's host takes a core away at times, so their ratio mixes
 * in whatever the host did in between. Each round times, in this order:
 * - the 2-thread call cold, right after a flush (a 2-thread read of 64 MB of other memory: none of the call's data
 *   is left in cache, and the flush leaves no dirty lines for the call to write back), then again warm, right after
 *   itself;
 * - the 1-thread call the same two ways;
 * - the copy worker's 1-thread call alone (bench/copies.ts), warm (right after itself as well: timed once it had
 *   run after the flushes, it read 2-35% slower than this thread's warm call with the two cores level, and the
 *   speed-up 1-15% high), while this thread spins, which puts it on the other core;
 * - two 1-thread copies at once, warm: the round's ceiling, 2 * alone / together, and the share of it the split
 *   reached, together / (2 * split), both from the round's own moment.
 * The speed-up is that of the warm calls, the state every other figure of this bench is measured in (tinybench's
 * back-to-back calls); the cold-start speed-up goes beside it. The two must be taken the same way: in the previous
 * round order (2-thread call, 1-thread call, copy alone, copies together, no flush) the 1-thread call's data had
 * been used by this thread's copy one call before, the 2-thread call's three calls before, and the 1-thread call
 * ran as fast as warm (128->256 8x8 data gradient: 7.06-7.14 ms both ways) while the 2-thread call ran 0.6 ms slower
 * than warm (4.66-4.72 against 4.0-4.09); with its data as far back, the 1-thread call took 8.24 ms.
 * Right before each 2-thread call its workers are woken (an empty parallel call): during the other calls they stop
 * polling (SPIN_MS) and sleep, and a sleeping worker starts 120-250 us late, which a training step, whose kernels
 * follow each other within microseconds, does not pay. The 1-thread time of a round is that at the mean speed of
 * two cores: the harmonic mean of the time on this thread and of the copy worker's alone (for the cold calls, this
 * thread's cold time and that times the warm ratio of the two cores). The host at times runs one vCPU 20-50% slower
 * than the other, and a 1-thread time from the slow core alone read the 64->64 224x224 forward at 2.37x (share of
 * the ceiling 117%); from the fast core alone it would read low. Against the harmonic mean a split that shares its
 * work perfectly reads 2x however uneven the cores (against the arithmetic mean: 2.08x with one core 1.5x slower).
 */
async function alternatedSpeedup(one: BenchBackend, two: BenchBackend, layer: ConvLayerShape, pass: Pass, algo: ConvAlgo,
  pairs: number, copies: CopyRunner): Promise<SpeedupRounds> {
  const s = layer.shape, d = layerData(s);
  const flushBuf = two.backend.alloc(FLUSH_FLOATS), flushOut = two.backend.alloc(1);
  const a = passCall(one.backend, s, pass, algo, d), b = passCall(two.backend, s, pass, algo, d);
  const pool = (two.backend as Partial<WasmBackend>).pool;
  const flush = () => two.backend.run('reduce_sum', { x: flushBuf, out: flushOut, length: FLUSH_FLOATS });
  const timed = async (c: { run: () => Promise<void> }) => { const t = performance.now(); await c.run(); return performance.now() - t; };
  const harmonic = (x: number, y: number) => (2 * x * y) / (x + y);
  try {
    return await copies.serving({ conv: { layer, pass, algo } }, a.issue, async (together, otherAlone) => {
      await a.run(); await b.run(); otherAlone();
      const warm: number[] = [], cold: number[] = [], ceilings: number[] = [], shares: number[] = [], cores: number[] = [];
      for (let i = 0; i < pairs; i++) {
        flush();
        if (pool) wake(pool);
        const split0 = await timed(b);
        if (pool) wake(pool);
        const split = await timed(b);
        flush();
        const here0 = await timed(a), here = await timed(a);
        otherAlone(); // warm: its data was last used before the flushes
        const there = otherAlone(), alone = harmonic(here, there), alone0 = harmonic(here0, (here0 * there) / here);
        const both = together();
        warm.push(alone / split); cold.push(alone0 / split0);
        ceilings.push((2 * alone) / both); shares.push(both / (2 * split)); cores.push(there / here);
      }
      return { ratio: median(warm), ratios: warm, cold: median(cold), ceiling: median(ceilings), ofCeiling: median(shares), cores: median(cores) };
    });
  } finally { a.dispose(); b.dispose(); two.backend.free(flushBuf); two.backend.free(flushOut); }
}

interface SpeedupRounds { ratio: number; ratios: number[]; cold: number; ceiling: number; ofCeiling: number; cores: number }

/** Floats the flush before each cold call of a speed-up round reads on 2 threads (64 MB): the call then finds none
 *  of its data in cache, whichever call ran before. See alternatedSpeedup. */
const FLUSH_FLOATS = 16 << 20;

/** Rounds of the alternated speed-up in a full run. */
const SPEEDUP_ROUNDS = 15;

/** An empty parallel call: the pool's workers polling again, not asleep (see alternatedSpeedup). */
const wake = (pool: ThreadPool) => pool.parallel('runtime_atomic_add', Array.from({ length: pool.threads }, () => [0, 0, 0]));

export const convSuite: Suite = {
  name: 'conv',
  run: (ctx) => withCopyRunners((copies) => runSuite(ctx, copies)),
};

async function runSuite(ctx: SuiteContext, runners: CopyRunners): Promise<BenchRecord[]> {
  const records: BenchRecord[] = [];
  // Quick: forward plus the filter gradient (the pass TensorFlow.js's wasm backend lacks).
  const passes: Pass[] = ctx.quick ? ['conv2d_forward', 'conv2d_backward_filter'] : PASSES;
  // Quick leaves out the plain-SIMD build (no conv bar is on it; a full run measures it), so that
  // `npm run bench -- --quick`, build included, stays under 2 minutes.
  const backends = ctx.backends.filter((bb) => bb.backend.name !== 'reference' && !(ctx.quick && bb.algoTag === 'simd'));
  // Layer-major, so one layer's rows on every backend and thread count are minutes closer in time.
  for (const layer of layers(ctx.quick)) {
    if (!selected(ctx.filter, { shape: layer.id })) continue;
    const mine: BenchRecord[] = [];
    for (const bb of backends) {
      // Rows are pushed as they come, so each checkpoint holds every row so far.
      await benchLayer(bb, layer, passes, ctx.quick, ctx.log, ctx.filter, async (r) => {
        records.push(r);
        mine.push(r);
        if (ctx.checkpoint && !ctx.quick) await ctx.checkpoint(records);
      });
    }
    // Each wasm build on 2 threads against the same build on 1: the alternated speed-up, on the 2-thread best row.
    for (const two of backends.filter((b) => b.backend.name === 'wasm' && b.threads === 2)) {
      const one = backends.find((b) => b.backend.name === 'wasm' && b.threads === 1 && b.algoTag === two.algoTag);
      if (!one) continue;
      const copies = await runners.for(one.backend as WasmBackend);
      for (const pass of passes) {
        const best = (bb: BenchBackend) => mine.filter((r) => r.kernel === pass && r.backend === bb.backend.name && r.extra?.label === bb.label)
          .sort((x, y) => x.median_ms - y.median_ms)[0];
        // One algorithm on both sides, the 1-thread best: the rows are a few samples each, and where two algorithms
        // run within a few percent of each other the best 2-thread row picked one from noise; the pair then measured
        // the algorithms, not the threads (quick runs read the 56x56 forward at 1.71x, F(4x4) on 1 thread against
        // F(6x6) on 2, rows 2% apart, 2.02x with F(4x4) on both; the 64->128 forward at 1.68x the same way). Another
        // algorithm that is truly faster on 2 threads only would make this figure low, never high.
        const r1 = best(one);
        const r2 = r1 && mine.find((r) => r.kernel === pass && r.backend === two.backend.name && r.extra?.label === two.label && r.algo === r1.algo);
        if (!r1 || !r2) continue;
        // Rounds: a full run takes 15 (with 9, a row's median moved by about +-0.05x between runs, enough to put one of
        // the 27 rows under 1.8x in every other run while its runs read 1.84-1.99x); --quick takes 5.
        const sp = await alternatedSpeedup(one, two, layer, pass, r1.algo as ConvAlgo, ctx.quick ? 5 : SPEEDUP_ROUNDS, copies);
        r2.extra = { ...r2.extra, speedup_vs_t1_alternated: sp.ratio, speedup_ratios: sp.ratios, speedup_t1_algo: r1.algo, copies_ceiling: sp.ceiling,
          speedup_of_ceiling: sp.ofCeiling, t1_other_core_ratio: sp.cores, speedup_cold_start: sp.cold };
        ctx.log(`conv ${layer.id} ${pass} ${two.label} vs ${one.label}: ${sp.ratio.toFixed(2)}x (median of ${sp.ratios.length} alternated rounds, ` +
          `calls after a cache flush: ${sp.cold.toFixed(2)}x; ` +
          `${r2.algo} vs ${r1.algo}; rows: ${(r1.median_ms / r2.median_ms).toFixed(2)}x; ceiling, two 1-thread copies at once: ${sp.ceiling.toFixed(2)}x; ` +
          `speed-up / ceiling, per round: ${Math.round(100 * sp.ofCeiling)}%; 1-thread call on the other core: ${sp.cores.toFixed(2)}x the time)`);
      }
    }
    if (ctx.checkpoint && !ctx.quick) await ctx.checkpoint(records);
  }
  return records;
}
