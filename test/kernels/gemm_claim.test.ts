// The claiming 2-thread GEMM (gemm_f32_claim: shared B packing, rows claimed at run time; gemmPtr takes it when m
// is the longer side, as in every shape here) against the 1-thread blocked GEMM: bit-identical results (same
// blocking, same summation order per element), with small blocks so several column blocks, depth panels and
// edge tiles occur, on both builds.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend, KernelArgs } from '../../src/backend.js';
import { WasmBackend } from '../../src/backends/wasm/backend.js';
import { gemmTuning } from '../../src/backends/wasm/ops/gemm.js';
import { randomArray, upload } from '../backends.js';

interface Case { m: number; n: number; k: number; transA: boolean; transB: boolean; beta: number; bias: boolean; relu: boolean }

async function run(be: Backend, c: Case, seed: number): Promise<Float32Array> {
  const a = randomArray(c.m * c.k, seed), b = randomArray(c.k * c.n, seed + 1), c0 = randomArray(c.m * c.n, seed + 2);
  const bufs = { a: upload(be, a), b: upload(be, b), c: upload(be, c0), bias: c.bias ? upload(be, randomArray(c.n, seed + 3)) : undefined };
  const args: KernelArgs['gemm'] = { ...bufs, m: c.m, n: c.n, k: c.k, transA: c.transA, transB: c.transB, alpha: 0.75, beta: c.beta, relu: c.relu };
  be.run('gemm', args);
  await be.sync();
  const out = await be.read(bufs.c);
  for (const x of Object.values(bufs)) if (x) be.free(x);
  return out;
}

const SHAPES: [number, number, number][] = [[97, 61, 300], [200, 45, 77], [130, 53, 257], [301, 8, 120]];

test('gemm_f32_claim on 2 threads equals gemm_f32 on 1 thread bit for bit (both builds, every transpose, blocks of several panels)', async () => {
  const saved = { ...gemmTuning };
  try {
    for (const build of ['relaxed', 'simd'] as const) {
      const t1 = await WasmBackend.create({ threads: 1, build, memoryMiB: 64 });
      const t2 = await WasmBackend.create({ threads: 2, build, memoryMiB: 64 });
      try {
        // kc 64 (the deep blocks too): several depth panels; claimPackBytes: column blocks of 16..24 columns, so several blocks and barriers.
        Object.assign(gemmTuning, { kc: 64, mc: 48, deepKc: 64, deepMc: 48, claim: true, claimPackBytes: 24 * 300 * 4 });
        let seed = 11;
        for (const [m, n, k] of SHAPES) {
          for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
            for (const [beta, bias, relu] of [[0, false, false], [0.5, true, true]] as const) {
              const c: Case = { m, n, k, transA, transB, beta, bias, relu };
              const want = await run(t1, c, seed), got = await run(t2, c, seed);
              seed += 5;
              let diff = -1;
              for (let i = 0; i < want.length && diff < 0; i++) if (!Object.is(got[i], want[i])) diff = i;
              assert.is(diff, -1, `${build} ${JSON.stringify(c)}: element ${diff} differs (${got[diff]} vs ${want[diff]})`);
            }
          }
        }
      } finally {
        await t1.dispose(); await t2.dispose();
      }
    }
  } finally {
    Object.assign(gemmTuning, saved);
  }
});

test.run();
