// Peer rows measured in the same run: TensorFlow.js 4.22 on its wasm backend (XNNPACK, SIMD) doing conv
// forward and matmul on the same shapes, with backend 'tfjs-wasm' and the same fields as vggrt's rows.
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { CONV_ALGOS, type ConvAlgo, type ConvShape, algoApplies, convOutSize } from '../../src/backend.js';
import { forEachTapAt } from '../../src/backends/reference/conv.js';
import { CIFAR_CONV_LAYERS, GEMM_SQUARE_SIZES, IMAGENET_CONV_LAYERS, convFlops } from '../../src/runtime/shapes.js';
import { type BenchBackend, type BenchRecord, type Suite, type SuiteContext, alternatedRatio, measure } from '../record.js';
import { layerData, passCall } from './conv.js';
import { randomArray } from '../../src/util/random.js';

type Tf = typeof import('@tensorflow/tfjs-core');
type TfWasm = typeof import('@tensorflow/tfjs-backend-wasm');

const require = createRequire(import.meta.url);
/** How many outputs are checked against a float64 recomputation (a full reference conv would cost seconds). */
const CHECKED_OUTPUTS = 256;

interface TfjsEnv { tf: Tf; wasm: TfWasm; version: string; simd: boolean; threads: number; multithread: boolean }
let ready: Promise<TfjsEnv> | undefined;

/** One tfjs-wasm backend per process: tfjs keeps a global engine. */
function initTfjs(threads: number): Promise<TfjsEnv> {
  ready ??= (async () => {
    const tf = require('@tensorflow/tfjs-core') as Tf;
    const wasm = require('@tensorflow/tfjs-backend-wasm') as TfWasm;
    // In Node the .wasm files are read from the package's dist folder as file paths.
    const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
    wasm.setWasmPaths(dist);
    tf.env().set('WASM_HAS_SIMD_SUPPORT', true);
    try { wasm.setThreadsCount(threads); } catch { /* older builds lack it; the count read back below is what counts */ }
    if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") failed');
    await tf.ready();
    const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean;
    const multithread = (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) as boolean;
    return { tf, wasm, version: wasm.version_wasm, simd, threads: multithread ? wasm.getThreadsCount() : 1, multithread };
  })();
  return ready;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
}

/** Max |got - want| over sampled outputs, relative to max(|want|, 1), want computed in float64. */
export function sampledConvError(x: Float32Array, w: Float32Array, y: Float32Array, s: ConvShape, count = CHECKED_OUTPUTS): number {
  const { oh, ow } = convOutSize(s);
  const r = lcg(12345);
  let maxDiff = 0, scale = 1;
  for (let t = 0; t < count; t++) {
    const n = Math.floor(r() * s.n), oy = Math.floor(r() * oh), ox = Math.floor(r() * ow), co = Math.floor(r() * s.cout);
    let acc = 0;
    forEachTapAt(s, n, oy, ox, (xo, wo) => {
      for (let ci = 0; ci < s.cin; ci++) acc += x[xo + ci] * w[wo + co + ci * s.cout];
    });
    const got = y[((n * oh + oy) * ow + ox) * s.cout + co];
    maxDiff = Math.max(maxDiff, Number.isNaN(got) ? Infinity : Math.abs(got - acc));
    scale = Math.max(scale, Math.abs(acc));
  }
  return maxDiff / scale;
}

export function sampledMatmulError(a: Float32Array, b: Float32Array, c: Float32Array, m: number, n: number, k: number, count = CHECKED_OUTPUTS): number {
  const r = lcg(54321);
  let maxDiff = 0, scale = 1;
  for (let t = 0; t < count; t++) {
    const i = Math.floor(r() * m), j = Math.floor(r() * n);
    let acc = 0;
    for (let p = 0; p < k; p++) acc += a[i * k + p] * b[p * n + j];
    const got = c[i * n + j];
    maxDiff = Math.max(maxDiff, Number.isNaN(got) ? Infinity : Math.abs(got - acc));
    scale = Math.max(scale, Math.abs(acc));
  }
  return maxDiff / scale;
}

function timing(quick: boolean) {
  return quick ? { minSamples: 3, maxSamples: 10, maxMs: 400 } : { minSamples: 5, maxSamples: 30, maxMs: 1500 };
}

/**
 * TensorFlow.js against vggrt on the same thread count, call for call: every vggrt algorithm is tried in a few
 * alternated pairs (the best median ratio is kept: one timed call each picked F(2x2) over the faster F(4x4) on
 * c256-512 4x4 in one run), then tfjs and vggrt calls alternate with that algorithm and the figure is the median
 * of the per-pair ratios. The conv suite's rows are a minute or more away from these, and this VM's host takes a
 * core away at times.
 */
async function alternatedVsVggrt(tfCall: () => void, bb: BenchBackend, s: ConvShape, pairs: number): Promise<Record<string, unknown>> {
  const d = layerData(s);
  let best: { algo: ConvAlgo; ratio: number } | undefined;
  const tried: Record<string, number> = {};
  for (const algo of CONV_ALGOS.filter((a) => algoApplies(a, s))) {
    const c = passCall(bb.backend, s, 'conv2d_forward', algo, d);
    try {
      const { ratio } = await alternatedRatio(tfCall, c.run, 3);
      tried[algo] = Math.round(ratio * 100) / 100;
      if (!best || ratio > best.ratio) best = { algo, ratio };
    } finally { c.dispose(); }
  }
  const c = passCall(bb.backend, s, 'conv2d_forward', best!.algo, d);
  try {
    const { ratio, ratios } = await alternatedRatio(tfCall, c.run, pairs);
    return { series: bb.label, algo: best!.algo, speedup: ratio, ratios, tried };
  } finally { c.dispose(); }
}

async function convRow(env: TfjsEnv, id: string, s: ConvShape, quick: boolean, ours?: BenchBackend): Promise<BenchRecord> {
  const { tf } = env;
  const xData = randomArray(s.n * s.h * s.w * s.cin, 1), wData = randomArray(s.kh * s.kw * s.cin * s.cout, 2);
  const x = tf.tensor4d(xData, [s.n, s.h, s.w, s.cin]), w = tf.tensor4d(wData, [s.kh, s.kw, s.cin, s.cout]);
  const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [s.pad, s.pad], [s.pad, s.pad], [0, 0]];
  try {
    const y0 = tf.conv2d(x, w, s.stride, pad);
    const err = sampledConvError(xData, wData, y0.dataSync() as Float32Array, s);
    y0.dispose();
    // The wasm backend computes eagerly inside conv2d(), so disposing without a read-back times the kernel.
    const call = () => { tf.conv2d(x, w, s.stride, pad).dispose(); };
    const t = await measure(call, timing(quick));
    const alternated = ours ? await alternatedVsVggrt(call, ours, s, quick ? 5 : 9) : undefined;
    return {
      suite: 'tfjs', kernel: 'conv2d_forward', shape: id, backend: 'tfjs-wasm', algo: 'xnnpack', threads: env.threads,
      median_ms: t.medianMs, gflops: convFlops(s) / t.medianMs / 1e6, max_rel_err: err, warmup_ms: t.firstMs,
      extra: { tfjs: env.version, simd: env.simd, multithread: env.multithread, err_check: `${CHECKED_OUTPUTS} sampled outputs vs float64`, samples: t.samples.length,
        ...(alternated ? { vggrt_alternated: alternated } : {}) },
    };
  } finally { x.dispose(); w.dispose(); }
}

async function matmulRow(env: TfjsEnv, size: number, quick: boolean): Promise<BenchRecord> {
  const { tf } = env;
  const aData = randomArray(size * size, 3), bData = randomArray(size * size, 4);
  const a = tf.tensor2d(aData, [size, size]), b = tf.tensor2d(bData, [size, size]);
  try {
    const c0 = tf.matMul(a, b);
    const err = sampledMatmulError(aData, bData, c0.dataSync() as Float32Array, size, size, size);
    c0.dispose();
    const t = await measure(() => { tf.matMul(a, b).dispose(); }, timing(quick));
    return {
      suite: 'tfjs', kernel: 'gemm', shape: `${size}x${size}x${size}`, backend: 'tfjs-wasm', algo: 'xnnpack', threads: env.threads,
      median_ms: t.medianMs, gflops: (2 * size ** 3) / t.medianMs / 1e6, max_rel_err: err, warmup_ms: t.firstMs,
      extra: { tfjs: env.version, simd: env.simd, multithread: env.multithread, err_check: `${CHECKED_OUTPUTS} sampled outputs vs float64`, samples: t.samples.length },
    };
  } finally { a.dispose(); b.dispose(); }
}

export const tfjsSuite: Suite = {
  name: 'tfjs',
  async run(ctx: SuiteContext): Promise<BenchRecord[]> {
    const wantThreads = Math.max(1, ...ctx.backends.filter((b) => b.backend.name === 'wasm').map((b) => b.threads));
    const env = await initTfjs(wantThreads);
    ctx.log(`tfjs-wasm ${env.version}: simd ${env.simd}, threads ${env.threads}${env.multithread ? '' : ' (no multithread support in this engine: 1 thread)'}`);
    const rows: BenchRecord[] = [];
    const layers = ctx.quick ? CIFAR_CONV_LAYERS : [...CIFAR_CONV_LAYERS, ...IMAGENET_CONV_LAYERS];
    // vggrt's fastest build on tfjs's thread count, for the call-for-call comparison.
    const ours = ctx.backends.filter((b) => b.backend.name === 'wasm' && b.threads === env.threads).sort((a, b) => (a.algoTag === 'relaxed' ? -1 : 0) - (b.algoTag === 'relaxed' ? -1 : 0))[0];
    for (const l of layers) {
      const r = await convRow(env, l.id, l.shape, ctx.quick, ours);
      const alt = r.extra?.vggrt_alternated as { series: string; algo: string; speedup: number } | undefined;
      ctx.log(`  tfjs-wasm conv2d_forward ${l.id}: ${r.median_ms.toFixed(2)} ms, ${r.gflops.toFixed(1)} GFLOP/s` +
        (alt ? `; ${alt.series} ${alt.algo} alternated call for call: ${alt.speedup.toFixed(2)}x faster` : ''));
      rows.push(r);
    }
    for (const size of ctx.quick ? [1024] : GEMM_SQUARE_SIZES) {
      const r = await matmulRow(env, size, ctx.quick);
      ctx.log(`  tfjs-wasm gemm ${r.shape}: ${r.median_ms.toFixed(2)} ms, ${r.gflops.toFixed(1)} GFLOP/s`);
      rows.push(r);
    }
    return rows;
  },
};
