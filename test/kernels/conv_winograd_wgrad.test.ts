// The Winograd filter gradient's wasm paths (src/backends/wasm/ops/conv_winograd.ts) against the reference: the fused
// path on 2 threads (several fixed tile blocks whose dU one adjoint pass sums in block order) and the phased path
// (its adjoint staged a row of dU at a time up to all of it at once), with beta 0 over a garbage dw and beta 1, on
// every wasm thread count and the plain-SIMD build.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type ConvAlgo, type ConvShape, convOutSize } from '../../src/backend.js';
import type { Backend } from '../../src/backend.js';
import { convLimits, convPhases } from '../../src/backends/wasm/ops/conv_im2col.js';
import { phasedAdjoint } from '../../src/backends/wasm/ops/conv_winograd.js';
import { WasmBackend } from '../../src/backends/wasm/backend.js';
import { backendsUnderTest, maxRelErr, randomArray, reference, upload } from '../backends.js';

const S = (n: number, h: number, w: number, cin: number, cout: number, pad = 1): ConvShape =>
  ({ n, h, w, cin, cout, kh: 3, kw: 3, stride: 1, pad });
const TOL: Partial<Record<ConvAlgo, number>> = { winograd_f2x2: 3e-5, winograd_f4x4: 1e-4, winograd_f6x6: 4e-4 };

/** dw = beta * dw0 + filter gradient on one backend, and the phases it ran (convPhases keys). */
async function filterGrad(be: Backend, s: ConvShape, algo: ConvAlgo, seed: number, beta: number): Promise<[Float32Array, string[]]> {
  const { oh, ow } = convOutSize(s);
  const x = upload(be, randomArray(s.n * s.h * s.w * s.cin, seed)), dy = upload(be, randomArray(s.n * oh * ow * s.cout, seed + 1));
  // beta 0: dw starts as garbage that must not leak in; beta 1: it is accumulated onto.
  const dw = upload(be, randomArray(9 * s.cin * s.cout, seed + 2, beta === 0 ? 1e6 : 3));
  convPhases.ms = {};
  convPhases.enabled = be !== reference;
  try {
    be.run('conv2d_backward_filter', { x, dy, dw, shape: s, algo, beta });
    await be.sync();
  } finally {
    convPhases.enabled = false;
  }
  const out = await be.read(dw);
  for (const b of [x, dy, dw]) be.free(b);
  return [out, Object.keys(convPhases.ms)];
}

let plain: WasmBackend | undefined;
async function wasmBackends(): Promise<{ label: string; backend: Backend }[]> {
  plain ??= await WasmBackend.create({ threads: 1, build: 'simd', memoryMiB: 64 });
  return [...(await backendsUnderTest()).filter((b) => b.label.startsWith('wasm')), { label: 'wasm-simd-t1', backend: plain }];
}

test('fused Winograd filter gradient (tile blocks summed by one adjoint pass) matches the reference', async () => {
  // 36 to 120 tiles: on 2 threads several fixed blocks (80/20% rounds), each with its own dU.
  const cases: [ConvShape, ConvAlgo][] = [
    [S(4, 12, 12, 8, 16), 'winograd_f4x4'], [S(3, 10, 14, 5, 11), 'winograd_f2x2'], [S(2, 18, 12, 12, 7, 0), 'winograd_f6x6'],
  ];
  let seed = 100, multi = 0;
  for (const { label, backend } of await wasmBackends()) {
    for (const [s, algo] of cases) {
      for (const beta of [0, 1]) {
        const [got, phases] = await filterGrad(backend, s, algo, seed, beta);
        const [want] = await filterGrad(reference, s, algo, seed, beta);
        seed += 5;
        const what = `${label} ${algo} beta ${beta} ${JSON.stringify(s)}`;
        assert.ok(phases.includes('fused'), `${what}: phases ${phases.join(', ')}`);
        if (phases.includes('filter_adjoint_sum') && label.endsWith('t2')) multi++;
        const e = maxRelErr(got, want);
        assert.ok(e < TOL[algo]!, `${what}: rel err ${e}`);
      }
    }
  }
  assert.ok(multi >= 6, `the 2-thread fused runs: ${multi}`);
});

test('phased Winograd filter gradient (adjoint staged a row at a time, a 256 KB stage, or all of dU at once) matches the reference', async () => {
  const saved = { limits: { ...convLimits }, pa: { ...phasedAdjoint } };
  // Channel tails (cin no multiple of 4, cout of 8), border tiles, pad 0, every tile size.
  const cases: [ConvShape, ConvAlgo][] = [
    [S(5, 4, 4, 7, 13), 'winograd_f4x4'], [S(3, 8, 8, 20, 20), 'winograd_f4x4'], [S(2, 13, 11, 14, 9), 'winograd_f4x4'],
    [S(3, 7, 9, 3, 16, 0), 'winograd_f2x2'], [S(2, 12, 16, 13, 21), 'winograd_f6x6'], [S(7, 4, 4, 32, 48), 'winograd_f4x4'],
  ];
  try {
    convLimits.winogradFusedFilterBytes = 0; // no fused passes
    let checked = 0;
    for (const { label, backend } of await wasmBackends()) {
      for (let ci = 0; ci < cases.length; ci++) {
        const [s, algo] = cases[ci];
        for (const beta of [0, 1]) {
          const caseSeed = 1000 + ci * 10 + beta;
          phasedAdjoint.stageBytes = [1, 1 << 18, 1 << 30][ci % 3];
          const [got] = await filterGrad(backend, s, algo, caseSeed, beta);
          const [want] = await filterGrad(reference, s, algo, caseSeed, beta);
          const e = maxRelErr(got, want);
          assert.ok(e < TOL[algo]!, `${label} ${algo} stage ${phasedAdjoint.stageBytes} beta ${beta} ${JSON.stringify(s)}: rel err ${e}`);
          checked++;
        }
      }
    }
    assert.ok(checked >= 36, `only ${checked} comparisons ran`);
  } finally {
    Object.assign(convLimits, saved.limits);
    Object.assign(phasedAdjoint, saved.pa);
  }
});

test.after(async () => { await plain?.dispose(); });

test.run();
