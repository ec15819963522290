// The fully connected layers' GEMM path gemm_f32_fewrows (m <= mc: B packed 16 columns at a time right before its
// tiles; with B^T a deeper panel, gemmTuning.fewKcTransB) must equal the panel-packing blocked GEMM bit for bit
// (same depth panels, same summation order per element), on both builds, every transpose, with bias/ReLU/beta;
// the classifier-like shapes (1 and 2 threads, default tuning) must match the reference.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend, KernelArgs } from '../../src/backend.js';
import { WasmBackend } from '../../src/backends/wasm/backend.js';
import { gemmTuning } from '../../src/backends/wasm/ops/gemm.js';
import { maxRelErr, randomArray, reference, upload } from '../backends.js';

interface Case { m: number; n: number; k: number; transA: boolean; transB: boolean; beta: number; bias: boolean; relu: boolean }

async function run(be: Backend, c: Case, seed: number, alpha = 0.75): Promise<Float32Array> {
  const a = randomArray(c.m * c.k, seed), b = randomArray(c.k * c.n, seed + 1), c0 = randomArray(c.m * c.n, seed + 2);
  const bufs = { a: upload(be, a), b: upload(be, b), c: upload(be, c0), bias: c.bias ? upload(be, randomArray(c.n, seed + 3)) : undefined };
  const args: KernelArgs['gemm'] = { ...bufs, m: c.m, n: c.n, k: c.k, transA: c.transA, transB: c.transB, alpha, beta: c.beta, relu: c.relu };
  be.run('gemm', args);
  await be.sync();
  const out = await be.read(bufs.c);
  for (const x of Object.values(bufs)) if (x) be.free(x);
  return out;
}

function firstDiff(got: Float32Array, want: Float32Array): number {
  for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) return i;
  return -1;
}

const TRANSPOSES = [[false, false], [true, false], [false, true], [true, true]] as const;
const EPILOGUES = [[0, false, false], [0.5, true, true]] as const;

/** Runs every case of shapes x transposes x epilogues under tuning `want` on `beWant` and `got` on `beGot`,
 *  asserting identical bits. */
async function sameBits(beWant: Backend, beGot: Backend, shapes: [number, number, number][], want: object, got: object, label: string) {
  const saved = { ...gemmTuning };
  try {
    let seed = 31;
    for (const [m, n, k] of shapes) for (const [transA, transB] of TRANSPOSES) for (const [beta, bias, relu] of EPILOGUES) {
      const c: Case = { m, n, k, transA, transB, beta, bias, relu };
      Object.assign(gemmTuning, saved, want);
      const w = await run(beWant, c, seed);
      Object.assign(gemmTuning, saved, got);
      const g = await run(beGot, c, seed);
      seed += 5;
      const d = firstDiff(g, w);
      assert.is(d, -1, `${label} ${JSON.stringify(c)}: element ${d} differs (${g[d]} vs ${w[d]})`);
    }
  } finally {
    Object.assign(gemmTuning, saved);
  }
}

test('gemm_f32_fewrows (m <= mc) equals the panel-packing path bit for bit (both builds)', async () => {
  for (const build of ['relaxed', 'simd'] as const) {
    const be = await WasmBackend.create({ threads: 1, build, memoryMiB: 64 });
    try {
      // Same depth panels (kc 64) both ways; mc 4 sends every m > 4 here through the panel-packing loop, mc 144
      // (with the few-row kc also 64) through gemm_f32_fewrows. m 64: 6-row and 4-row tiles; 7: a partial 6-row
      // tile; n 45, 203: partial 16-column groups and a partial 8-column sliver.
      await sameBits(be, be, [[64, 203, 300], [7, 45, 77], [20, 16, 129], [11, 9, 5]],
        { kc: 64, mc: 4, deepKc: 64, deepMc: 4 }, { kc: 64, mc: 144, fewKcTransB: 64 }, build);
    } finally {
      await be.dispose();
    }
  }
});

test('classifier-like Linear GEMMs (4 KiB-aliasing B rows) match the reference on 1 and 2 threads', async () => {
  // The three products of a 1024 x 1024 Linear at batch 24: forward x W^T, data gradient dy W, weight gradient dy^T x.
  const B = 24, N = 1024;
  const cases: [string, Case][] = [
    ['forward', { m: B, n: N, k: N, transA: false, transB: true, beta: 0, bias: true, relu: true }],
    ['dx', { m: B, n: N, k: N, transA: false, transB: false, beta: 0, bias: false, relu: false }],
    ['dW', { m: N, n: N, k: B, transA: true, transB: false, beta: 0.5, bias: false, relu: false }],
  ];
  const want = new Map<string, Float32Array>();
  for (const [name, c] of cases) want.set(name, await run(reference, c, 7, 1));
  for (const threads of [1, 2]) {
    const be = await WasmBackend.create({ threads, build: 'relaxed', memoryMiB: 64 });
    try {
      for (const [name, c] of cases) {
        const err = maxRelErr(await run(be, c, 7, 1), want.get(name)!);
        assert.ok(err < 1e-4, `${name} on ${threads} threads: max relative error ${err}`);
      }
    } finally {
      await be.dispose();
    }
  }
});

test.run();
