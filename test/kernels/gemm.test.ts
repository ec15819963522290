// GEMM kernel tests: every backend under test against the float64-accumulating reference, plus the wasm raw-pointer GEMMs.
//
// Tolerance: normwise, max |C - C_ref| / max(|C_ref|, 1) <= 1e-5 * sqrt(k) (+ 1e-6). Inputs are in [-1, 1),
// so each dot product's float32 rounding error grows like sqrt(k) * eps * |row| |col|; the reference sums in
// float64, so the bound measures the backend alone (blocked float32 sums land near 1e-7 * sqrt(k)).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend, KernelArgs } from '../../src/backend.js';
import { gemmReference } from '../../src/backends/reference/gemm.js';
import { WasmBackend } from '../../src/backends/wasm/backend.js';
import type { WasmContext } from '../../src/backends/wasm/context.js';
import { gemmBatchedPtr, gemmPtr, gemmTuning } from '../../src/backends/wasm/ops/gemm.js';
import { backendsUnderTest, maxRelErr, randomArray, reference, upload } from '../backends.js';

const tol = (k: number) => 1e-5 * Math.sqrt(k) + 1e-6;

/** backendsUnderTest() plus the plain-SIMD build, whose micro-kernel (gemm_f32_5x8) differs from the
 *  relaxed one (gemm_f32_6x8) that the default backends load. */
let plain: Promise<{ label: string; backend: Backend }[]> | undefined;
async function backends(): Promise<{ label: string; backend: Backend }[]> {
  plain ??= (async () => {
    const list = [];
    for (const threads of [1, 2]) {
      const backend = await WasmBackend.create({ threads, build: 'simd', memoryMiB: 128 });
      list.push({ label: `wasm-simd-t${threads}`, backend });
    }
    return list;
  })();
  return [...(await backendsUnderTest()), ...(await plain)];
}

interface Case { m: number; n: number; k: number; transA: boolean; transB: boolean; alpha: number; beta: number; bias: boolean; relu: boolean }

/** Runs one GEMM on `be` and on the reference with the same inputs; returns [backend result, reference]. */
async function runBoth(be: Backend, c: Case, seed: number, cInit?: Float32Array): Promise<[Float32Array, Float32Array]> {
  const a = randomArray(c.m * c.k, seed), b = randomArray(c.k * c.n, seed + 1);
  const c0 = cInit ?? randomArray(c.m * c.n, seed + 2);
  const bias = c.bias ? randomArray(c.n, seed + 3) : undefined;
  const out: Float32Array[] = [];
  for (const backend of [be, reference as Backend]) {
    const bufs = { a: upload(backend, a), b: upload(backend, b), c: upload(backend, c0), bias: bias ? upload(backend, bias) : undefined };
    const args: KernelArgs['gemm'] = { ...bufs, m: c.m, n: c.n, k: c.k, transA: c.transA, transB: c.transB, alpha: c.alpha, beta: c.beta, relu: c.relu };
    backend.run('gemm', args);
    await backend.sync();
    out.push(await backend.read(bufs.c));
    for (const x of Object.values(bufs)) if (x) backend.free(x);
  }
  return [out[0], out[1]];
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1], [7, 13, 5], [6, 8, 1], [1, 37, 300], [41, 1, 17], [97, 31, 61], [130, 67, 259], [64, 64, 64], [13, 300, 515], [257, 9, 7],
];

test('gemm: every shape x transpose combination, alpha/beta, bias, relu', async () => {
  for (const { label, backend } of await backends()) {
    let seed = 1;
    for (const [m, n, k] of SHAPES) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          seed += 4;
          const variant = seed % 4; // rotate the epilogue options so every shape sees several of them
          const c: Case = { m, n, k, transA, transB, alpha: variant === 1 ? -0.75 : 1, beta: [0, 0.5, 1, -2][variant],
            bias: variant >= 2, relu: variant === 0 || variant === 3 };
          const [got, want] = await runBoth(backend, c, seed);
          const err = maxRelErr(got, want);
          assert.ok(err <= tol(k), `${label} ${JSON.stringify(c)}: max rel err ${err} > ${tol(k)}`);
        }
      }
    }
  }
});

test('gemm (wasm): tiny cache blocks exercise every blocking loop and the k-block epilogue hand-over', async () => {
  const saved = { ...gemmTuning };
  try {
    // Several jc, pc and ic blocks even on small shapes: bias/ReLU must apply once, after the last k block.
    Object.assign(gemmTuning, { kc: 7, mc: 13, nc: 20, deepKc: 9, deepMc: 13 });
    for (const { label, backend } of await backends()) {
      if (!(backend instanceof WasmBackend)) continue;
      let seed = 300;
      for (const [m, n, k] of [[31, 45, 29], [6, 8, 15], [50, 17, 64]] as const) {
        for (const [transA, transB] of [[false, false], [true, true], [false, true], [true, false]] as const) {
          seed += 4;
          const c: Case = { m, n, k, transA, transB, alpha: 0.5, beta: seed % 8 === 0 ? 0 : 1.25, bias: true, relu: true };
          const [got, want] = await runBoth(backend, c, seed);
          assert.ok(maxRelErr(got, want) <= tol(k), `${label} small blocks ${JSON.stringify(c)}: ${maxRelErr(got, want)}`);
        }
      }
    }
  } finally {
    Object.assign(gemmTuning, saved);
  }
});

test('gemm (wasm): default blocks with several deep k blocks and row blocks per thread', async () => {
  // m > mc takes the deep blocks (deepKc x deepMc); k = 1031 makes three of them, none a multiple of the tile.
  for (const { label, backend } of await backends()) {
    if (!(backend instanceof WasmBackend)) continue;
    let seed = 500;
    for (const [transA, transB] of [[false, false], [true, true], [false, true], [true, false]] as const) {
      seed += 4;
      const c: Case = { m: 157, n: 23, k: 1031, transA, transB, alpha: 1, beta: 0.5, bias: true, relu: false };
      const [got, want] = await runBoth(backend, c, seed);
      assert.ok(maxRelErr(got, want) <= tol(c.k), `${label} deep blocks ${JSON.stringify(c)}: ${maxRelErr(got, want)}`);
    }
  }
});

test('gemm: beta = 0 overwrites C even when it holds NaN', async () => {
  for (const { label, backend } of await backends()) {
    for (const [m, n, k] of [[7, 13, 5], [130, 67, 259]] as const) {
      const nan = new Float32Array(m * n).fill(NaN);
      const c: Case = { m, n, k, transA: false, transB: true, alpha: 2, beta: 0, bias: true, relu: false };
      const [got, want] = await runBoth(backend, c, 99, nan);
      assert.ok(got.every(Number.isFinite), `${label} ${m}x${n}x${k}: NaN leaked from C`);
      assert.ok(maxRelErr(got, want) <= tol(k), `${label} ${m}x${n}x${k}: wrong values`);
    }
  }
});

test('gemm: relu clamps negatives to zero after the bias', async () => {
  for (const { label, backend } of await backends()) {
    const c: Case = { m: 19, n: 23, k: 11, transA: false, transB: false, alpha: 1, beta: 0, bias: true, relu: true };
    const [got, want] = await runBoth(backend, c, 7);
    assert.ok(got.some((v) => v === 0) && got.every((v) => v >= 0), `${label}: relu output has negatives or no zeros`);
    assert.ok(maxRelErr(got, want) <= tol(11), label);
  }
});

test('gemm: a buffer shorter than the shape throws a clear error and C is unchanged', async () => {
  for (const { label, backend } of await backends()) {
    const m = 5, n = 6, k = 7;
    const c0 = randomArray(m * n, 3);
    const a = upload(backend, randomArray(m * k - 1, 1)), b = upload(backend, randomArray(k * n, 2)), c = upload(backend, c0);
    const bias = upload(backend, randomArray(n - 1, 4));
    const base = { a, b, c, m, n, k, transA: false, transB: false, alpha: 1, beta: 0 };
    assert.throws(() => backend.run('gemm', base), /gemm.*a holds 34 elements but the shape needs 35/, `${label}: short a`);
    const a2 = upload(backend, randomArray(m * k, 1));
    assert.throws(() => backend.run('gemm', { ...base, a: a2, bias }), /gemm.*bias holds 5 elements but the shape needs 6/, `${label}: short bias`);
    assert.throws(() => backend.run('gemm', { ...base, a: a2, m: 0 }), /gemm.*m must be an integer/, `${label}: m = 0`);
    await backend.sync();
    assert.equal(Array.from(await backend.read(c)), Array.from(c0), `${label}: C was written`);
    for (const x of [a, a2, b, c, bias]) backend.free(x);
  }
});

/** The wasm backends' operator context, reached the way operators get it (a private field). */
function wasmCtx(be: Backend): WasmContext | undefined {
  return be instanceof WasmBackend ? (be as unknown as { ctx: WasmContext }).ctx : undefined;
}

test('gemmPtr: leading dimensions wider than the matrices, offsets, every transpose', async () => {
  for (const { label, backend } of await backends()) {
    const ctx = wasmCtx(backend);
    if (!ctx) continue;
    const wb = backend as WasmBackend;
    let seed = 500;
    for (const [m, n, k] of [[7, 13, 5], [97, 31, 61], [130, 67, 259]] as const) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          seed += 5;
          const lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 5, ldc = n + 2;
          const aLen = (transA ? k : m) * lda, bLen = (transB ? n : k) * ldb, cLen = m * ldc + 4;
          const a = randomArray(aLen, seed), b = randomArray(bLen, seed + 1), c0 = randomArray(cLen, seed + 2), bias = randomArray(n, seed + 3);
          const bufs = [upload(wb, a), upload(wb, b), upload(wb, c0), upload(wb, bias)];
          const [pa, pb, pc, pbias] = bufs.map((x) => ctx.ptr(x));
          const opts = { m, n, k, lda, ldb, ldc, transA, transB, alpha: 1.5, beta: 0.25, relu: true };
          // C starts 4 elements in: the GEMM must leave the first 4 and every padding column alone.
          gemmPtr(ctx, { ...opts, a: pa, b: pb, c: pc + 16, bias: pbias });
          const want = c0.slice();
          gemmReference(a, b, want, { ...opts, offC: 4, bias });
          const got = wb.readSync(bufs[2]);
          assert.ok(maxRelErr(got, want) <= tol(k), `${label} gemmPtr ${m}x${n}x${k} tA=${transA} tB=${transB}: ${maxRelErr(got, want)}`);
          for (const x of bufs) wb.free(x);
        }
      }
    }
  }
});

test('gemmPtr: k = 0 leaves alpha * (empty product) = 0, so C = beta * C + bias, then ReLU', async () => {
  for (const { label, backend } of await backends()) {
    const ctx = wasmCtx(backend);
    if (!ctx) continue;
    const wb = backend as WasmBackend;
    const m = 7, n = 9;
    const c0 = randomArray(m * n, 11), bias = randomArray(n, 12);
    const bufs = [upload(wb, new Float32Array(1)), upload(wb, c0), upload(wb, bias)];
    const [pab, pc, pbias] = bufs.map((x) => ctx.ptr(x));
    const opts = { m, n, k: 0, lda: 1, ldb: n, ldc: n, transA: false, transB: false, alpha: 1, beta: 0.5, relu: true };
    gemmPtr(ctx, { ...opts, a: pab, b: pab, c: pc, bias: pbias });
    const want = c0.slice();
    gemmReference(new Float32Array(0), new Float32Array(0), want, { ...opts, bias });
    assert.ok(maxRelErr(wb.readSync(bufs[1]), want) <= 1e-6, label);
    for (const x of bufs) wb.free(x);
  }
});

test('gemmBatchedPtr: strided batches, more and fewer entries than threads', async () => {
  for (const { label, backend } of await backends()) {
    const ctx = wasmCtx(backend);
    if (!ctx) continue;
    const wb = backend as WasmBackend;
    for (const [batch, m, n, k, transA, transB] of [[5, 17, 24, 33, false, true], [1, 70, 50, 90, true, false], [3, 64, 72, 80, false, false]] as const) {
      const lda = (transA ? m : k) + 1, ldb = (transB ? k : n) + 2, ldc = n + 3;
      const strideA = (transA ? k : m) * lda + 7, strideB = (transB ? n : k) * ldb + 1, strideC = m * ldc + 5;
      const a = randomArray(batch * strideA, batch), b = randomArray(batch * strideB, batch + 1), c0 = randomArray(batch * strideC, batch + 2);
      const bufs = [upload(wb, a), upload(wb, b), upload(wb, c0)];
      const [pa, pb, pc] = bufs.map((x) => ctx.ptr(x));
      const opts = { m, n, k, lda, ldb, ldc, transA, transB, alpha: 1, beta: 1 };
      gemmBatchedPtr(ctx, { ...opts, a: pa, b: pb, c: pc, batch, strideA, strideB, strideC });
      const want = c0.slice();
      for (let i = 0; i < batch; i++) gemmReference(a, b, want, { ...opts, offA: i * strideA, offB: i * strideB, offC: i * strideC });
      const err = maxRelErr(wb.readSync(bufs[2]), want);
      assert.ok(err <= tol(k), `${label} batched ${batch}x${m}x${n}x${k}: ${err}`);
      for (const x of bufs) wb.free(x);
    }
  }
});

test('gemmPtr: pointers outside the memory or too-small leading dimensions throw before writing', async () => {
  const [{ backend }] = await backendsUnderTest();
  const ctx = wasmCtx(backend)!;
  const wb = backend as WasmBackend;
  const c0 = randomArray(12, 1);
  const bufs = [upload(wb, randomArray(12, 2)), upload(wb, randomArray(12, 3)), upload(wb, c0)];
  const [pa, pb, pc] = bufs.map((x) => ctx.ptr(x));
  const base = { a: pa, b: pb, c: pc, m: 3, n: 4, k: 4, lda: 4, ldb: 4, ldc: 4, transA: false, transB: false, alpha: 1, beta: 0 };
  assert.throws(() => gemmPtr(ctx, { ...base, lda: 3 }), /gemm: lda 3 is smaller than the 4 columns of A/);
  assert.throws(() => gemmPtr(ctx, { ...base, b: ctx.memory.buffer.byteLength - 8 }), /gemm: B .* lies outside/);
  assert.throws(() => gemmPtr(ctx, { ...base, c: pc + 2 }), /gemm: C pointer .* not a 4-byte-aligned/);
  assert.throws(() => gemmBatchedPtr(ctx, { ...base, batch: 1e8, strideA: 12, strideB: 12, strideC: 12 }), /gemm: A .* lies outside/);
  assert.equal(Array.from(wb.readSync(bufs[2])), Array.from(c0));
  for (const x of bufs) wb.free(x);
});

// The plain-SIMD backends are this file's own (the shared ones are disposed by test/run.ts).
test.after(async () => {
  if (plain) for (const { backend } of await plain) await backend.dispose();
});

test.run();
