// The column-blocked Winograd forward and data gradient (filter transformed block by block of output channels
// straight into the packed GEMM layout; src/backends/wasm/ops/conv_winograd.ts winogradConvColBlocks) against the
// reference and the phased path, on every wasm thread count and the plain-SIMD build, with one claim range per thread
// and with more: channel counts with SIMD and 8-column tails, a partial last block, tile counts that are no multiple of the micro-tile rows, several k-blocks,
// border tiles and pad 0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type ConvAlgo, type ConvShape, convOutSize } from '../../src/backend.js';
import type { Backend } from '../../src/backend.js';
import { convLimits, convPhases } from '../../src/backends/wasm/ops/conv_im2col.js';
import { claimRanges, positionSkew, winogradColBlock } from '../../src/backends/wasm/ops/conv_winograd.js';
import { gemmTuning } from '../../src/backends/wasm/ops/gemm.js';
import { WasmBackend } from '../../src/backends/wasm/backend.js';
import { backendsUnderTest, maxRelErr, randomArray, reference, upload } from '../backends.js';

const S = (n: number, h: number, w: number, cin: number, cout: number, pad = 1): ConvShape =>
  ({ n, h, w, cin, cout, kh: 3, kw: 3, stride: 1, pad });
/** [shape, algo, channels per block, GEMM k-block]: tile counts 5 to 36 with F(2x2)/F(4x4)/F(6x6), remainders of
 *  0 to 5 rows after whole 6-row micro-tiles (1-2 rows take winogradGemm2x16), full and partial blocks. */
const CASES: [ConvShape, ConvAlgo, number, number][] = [
  [S(5, 4, 4, 7, 13), 'winograd_f4x4', 8, 256],
  [S(3, 8, 8, 10, 20), 'winograd_f4x4', 8, 4],
  [S(2, 13, 11, 12, 9), 'winograd_f4x4', 16, 256],
  [S(3, 7, 9, 3, 16, 0), 'winograd_f2x2', 8, 2],
  [S(2, 12, 16, 6, 21), 'winograd_f6x6', 16, 4],
  [S(2, 4, 4, 9, 40), 'winograd_f2x2', 24, 256],
  [S(7, 4, 4, 20, 48), 'winograd_f4x4', 16, 8],
  [S(13, 4, 4, 9, 35), 'winograd_f4x4', 32, 256],
];
const TOL: Partial<Record<ConvAlgo, number>> = { winograd_f2x2: 3e-5, winograd_f4x4: 1e-4, winograd_f6x6: 4e-4 };

/** The forward (with bias + ReLU when fused) and the data gradient on one backend. */
async function passes(be: Backend, s: ConvShape, algo: ConvAlgo, seed: number, fused: boolean): Promise<Float32Array[]> {
  const { oh, ow } = convOutSize(s);
  const x = upload(be, randomArray(s.n * s.h * s.w * s.cin, seed)), w = upload(be, randomArray(9 * s.cin * s.cout, seed + 1, 0.2));
  const bias = upload(be, randomArray(s.cout, seed + 2, 0.5)), dy = upload(be, randomArray(s.n * oh * ow * s.cout, seed + 3));
  // The outputs start as garbage: every element must be written.
  const y = upload(be, randomArray(s.n * oh * ow * s.cout, seed + 4, 100)), dx = upload(be, randomArray(x.length, seed + 5, 100));
  convPhases.ms = {};
  be.run('conv2d_forward', { x, w, y, shape: s, algo, ...(fused ? { bias, relu: true } : {}) });
  await be.sync();
  paths.push('colblocks' in convPhases.ms ? 'blocked' : 'other');
  convPhases.ms = {};
  be.run('conv2d_backward_data', { dy, w, dx, shape: s, algo });
  await be.sync();
  paths.push('colblocks' in convPhases.ms ? 'blocked' : 'other');
  const out = [await be.read(y), await be.read(dx)];
  for (const b of [x, w, bias, dy, y, dx]) be.free(b);
  return out;
}
/** The path each wasm pass took ('blocked' when it ran winograd_colblock_forward), recorded while convPhases is on. */
const paths: string[] = [];

let plain: WasmBackend | undefined;

test('column-blocked Winograd forward and data gradient match the reference and the phased path', async () => {
  const saved = { limits: { ...convLimits }, cb: { ...winogradColBlock }, kc: gemmTuning.kc, ranges: { ...claimRanges } };
  try {
    // No filter small enough for the fused passes: the forward takes the column-blocked path (or phased).
    convLimits.winogradFusedFilterBytes = 0;
    let seed = 1, checked = 0;
    // The plain-SIMD build too: it runs 5-row micro-tiles (other remainders, gemm_f32_5x8).
    plain ??= await WasmBackend.create({ threads: 1, build: 'simd', memoryMiB: 64 });
    for (const { label, backend } of [...(await backendsUnderTest()), { label: 'wasm-simd-t1', backend: plain }]) {
      if (!label.startsWith('wasm')) continue;
      for (const [s, algo, nb, kc] of CASES) {
        for (const fused of [false, true]) {
          // With bias + ReLU, also 3 claim ranges (input slivers, output-channel blocks): more than the threads, so each
          // thread claims from ranges not its own too.
          claimRanges.count = fused ? 3 : 0;
          winogradColBlock.nb = nb;
          gemmTuning.kc = kc;
          winogradColBlock.maxVBytes = 1 << 30;
          convPhases.enabled = true;
          // The threads' skewed position order (positionSkew) changes no bits: the same passes with every thread from 0.
          positionSkew.on = false;
          const unskewed = await passes(backend, s, algo, seed, fused);
          positionSkew.on = true;
          paths.length = 0;
          const got = await passes(backend, s, algo, seed, fused);
          winogradColBlock.maxVBytes = 0;
          const phased = await passes(backend, s, algo, seed, fused);
          convPhases.enabled = false;
          assert.equal(paths, ['blocked', 'blocked', 'other', 'other'], `${label} ${algo} ${JSON.stringify(s)}: paths taken`);
          const want = await passes(reference, s, algo, seed, fused);
          seed += 7;
          ['y', 'dx'].forEach((name, i) => {
            const what = `${label} ${algo} ${name} nb ${nb} kc ${kc} ${fused ? 'bias+relu, 3 claim ranges ' : ''}${JSON.stringify(s)}`;
            assert.ok(got[i].every((v, j) => Object.is(v, unskewed[i][j])), `${what}: positions from 0 on every thread changed bits`);
            const e = maxRelErr(got[i], want[i]);
            assert.ok(e < TOL[algo]!, `${what}: rel err ${e} against the reference`);
            const ep = maxRelErr(got[i], phased[i]);
            assert.ok(ep < TOL[algo]!, `${what}: rel err ${ep} against the phased path`);
            // The phased path itself (conv_winograd_layout.test.ts's small shapes now take the column blocks).
            const pr = maxRelErr(phased[i], want[i]);
            assert.ok(pr < TOL[algo]!, `${what}: phased path rel err ${pr} against the reference`);
          });
          checked++;
        }
      }
    }
    assert.ok(checked >= 48, `only ${checked} comparisons ran`);
  } finally {
    convPhases.enabled = false;
    Object.assign(convLimits, saved.limits);
    Object.assign(winogradColBlock, saved.cb);
    Object.assign(claimRanges, saved.ranges);
    gemmTuning.kc = saved.kc;
    positionSkew.on = true;
  }
});

test('the CIFAR 256->512 4x4 layer takes the column-blocked forward by default', async () => {
  const [{ backend }] = await backendsUnderTest();
  if (!backend.name.startsWith('wasm')) return;
  const s = S(32, 4, 4, 256, 512);
  convPhases.enabled = true;
  convPhases.ms = {};
  try {
    const x = backend.alloc(s.n * 16 * s.cin), w = backend.alloc(9 * s.cin * s.cout), y = backend.alloc(s.n * 16 * s.cout);
    backend.run('conv2d_forward', { x, w, y, shape: s, algo: 'winograd_f4x4' });
    await backend.sync();
    for (const b of [x, w, y]) backend.free(b);
    assert.ok('colblocks' in convPhases.ms, `phases: ${Object.keys(convPhases.ms).join(', ')}`);
  } finally {
    convPhases.enabled = false;
  }
});

test.after(async () => { await plain?.dispose(); });

test.run();
