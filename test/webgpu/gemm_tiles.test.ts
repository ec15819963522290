// Both WebGPU GEMM kernels (64x64 scalar tiles, large vec4 tiles) on every operand layout, aligned and
// not, batched with offsets, against the reference: the kernel tests reach the vec4 kernel only at sizes
// too slow for lavapipe, so it is forced here on small shapes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createWebGpuBackendsForTests } from '../../src/backends/webgpu/testing.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/backend.js';
import { type GemmVariant, gemmGpu, gemmTile, splitKFor } from '../../src/backends/webgpu/ops/gemm.js';
import { gemmReference } from '../../src/backends/reference/gemm.js';
import { maxRelErr, randomArray, upload } from '../backends.js';

const backends = createWebGpuBackendsForTests();

test('gemmGpu: both kernels, every transpose, aligned and odd sizes, batches with offsets', async () => {
  for (const { label, backend } of await backends) {
    const be = backend as WebGpuBackend;
    for (const variant of ['tile64', 'vec4', 'vec4n64', 'vec4s64'] as GemmVariant[]) {
      for (const [m, n, k] of [[20, 24, 12], [19, 13, 7]]) {
        for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
          const batch = 2, aOff = 4, bOff = 8, cOff = 4;
          const sA = m * k + 4, sB = k * n + 4, sC = m * n + 4;
          const A = randomArray(aOff + batch * sA, m + k), B = randomArray(bOff + batch * sB, n + 1), C = randomArray(cOff + batch * sC, 5);
          const bias = randomArray(n, 9);
          const ga = upload(be, A), gb = upload(be, B), gc = upload(be, C), gbias = upload(be, bias);
          gemmGpu(be.ctx, { a: ga, aOffset: aOff, b: gb, bOffset: bOff, c: gc, cOffset: cOff, m, n, k, transA, transB,
            alpha: 0.5, beta: 0.25, bias: gbias, relu: true, batch, strideA: sA, strideB: sB, strideC: sC, variant });
          const want = C.slice();
          for (let i = 0; i < batch; i++) {
            gemmReference(A, B, want, { m, n, k, transA, transB, alpha: 0.5, beta: 0.25, bias, relu: true,
              offA: aOff + i * sA, offB: bOff + i * sB, offC: cOff + i * sC });
          }
          const err = maxRelErr(await be.read(gc), want);
          const name = gemmTile(be.ctx, m, n, variant).name;
          assert.ok(err < 1e-5, `${label} ${name} ${m}x${n}x${k} transA=${transA} transB=${transB}: rel err ${err}`);
          for (const b of [ga, gb, gc, gbias]) be.free(b);
        }
      }
    }
  }
});

test('gemmGpu split-K: chunks of k summed with the epilogue (alpha, beta, bias, ReLU, offsets, ld)', async () => {
  for (const { label, backend } of await backends) {
    const be = backend as WebGpuBackend;
    assert.ok(splitKFor(be.ctx, 64, 64, 8192, 1) > 1, 'long k with few tiles splits');
    assert.is(splitKFor(be.ctx, 4096, 4096, 8192, 1), 1, 'many tiles do not split');
    assert.is(splitKFor(be.ctx, 64, 64, 8192, 4), 1, 'batched GEMMs do not split');
    for (const variant of ['tile64', 'vec4', 'vec4n64', 'vec4s64'] as GemmVariant[]) {
      for (const [transA, transB] of [[false, false], [true, true], [true, false], [false, true]]) {
        const [m, n, k, ldc, aOff, cOff] = [9, 12, 40, 16, 4, 8];
        const A = randomArray(aOff + m * k, 3), B = randomArray(k * n, 4), C = randomArray(cOff + m * ldc, 5), bias = randomArray(n, 6);
        const ga = upload(be, A), gb = upload(be, B), gc = upload(be, C), gbias = upload(be, bias);
        const opts = { m, n, k, transA, transB, alpha: 1.5, beta: -0.5, relu: true, ldc };
        gemmGpu(be.ctx, { ...opts, a: ga, aOffset: aOff, b: gb, c: gc, cOffset: cOff, bias: gbias, variant, splitK: 3 });
        const want = C.slice();
        gemmReference(A, B, want, { ...opts, bias, offA: aOff, offC: cOff });
        const err = maxRelErr(await be.read(gc), want);
        assert.ok(err < 1e-5, `${label} ${variant} split-K transA=${transA} transB=${transB}: rel err ${err}`);
        for (const b of [ga, gb, gc, gbias]) be.free(b);
      }
    }
  }
});

test('kernel names follow the tiles the device allows', async () => {
  for (const { backend } of await backends) {
    const be = backend as WebGpuBackend;
    const small = gemmTile(be.ctx, 64, 64), large = gemmTile(be.ctx, 512, 512);
    const threads = (c: Record<string, number>) => c.WG_X * c.WG_Y;
    // A software adapter (lavapipe) runs small products on the vec4 kernel too; a GPU on the scalar one.
    assert.match(small.name, be.ctx.software ? /^gemm_f32_tile64x64_vec4$/ : /^gemm_f32_tile\d+x\d+$/);
    assert.is(gemmTile({ ...be.ctx, software: false }, 64, 64).name.endsWith('_vec4'), false);
    assert.match(large.name, /^gemm_f32_tile\d+x\d+_vec4$/);
    const narrow = gemmTile(be.ctx, 4096, 64);
    assert.is(narrow.name, 'gemm_f32_tile128x64_vec4', '64-wide tall products: vec4 kernel on 128x64 tiles');
    assert.is(gemmTile(be.ctx, 64, 64).name, small.name, 'short products keep the small tiles');
    assert.ok(threads(narrow.constants) <= be.ctx.maxInvocations);
    assert.ok(threads(small.constants) <= be.ctx.maxInvocations && threads(large.constants) <= be.ctx.maxInvocations);
  }
});

test.after(async () => { for (const { backend } of await backends) await backend.dispose(); });
test.run();
