// The Winograd passes on both execution paths against the reference, on every wasm thread count and the plain-SIMD
// build: fused (tile-major V / M workspaces, several claimed chunks per thread) and phased (forced by a zero
// fused-filter budget, chunks of 5 tiles); channel counts with SIMD tails (the fused layout pads a tile's positions
// to whole vectors).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type ConvAlgo, type ConvShape, convOutSize } from '../../src/backend.js';
import { convLimits } from '../../src/backends/wasm/ops/conv_im2col.js';
import { claimRanges, winogradColBlock } from '../../src/backends/wasm/ops/conv_winograd.js';
import { backendsUnderTest, maxRelErr, randomArray, reference, upload } from '../backends.js';
import type { Backend } from '../../src/backend.js';
import { WasmBackend } from '../../src/backends/wasm/backend.js';

const S = (n: number, h: number, w: number, cin: number, cout: number, pad = 1): ConvShape =>
  ({ n, h, w, cin, cout, kh: 3, kw: 3, stride: 1, pad });
// The last one is wide enough that the fused passes' packed filter transform (winograd_fused_filter_packed) stages
// its input channels in several runs per thread (20 at a time for 130 output channels), the last one short.
const SHAPES = [S(2, 13, 11, 5, 7), S(4, 16, 16, 12, 9), S(3, 7, 9, 3, 16, 0), S(2, 30, 26, 6, 5), S(1, 6, 6, 70, 130)];
/** As conv.test.ts: float32 Winograd against the float64-accumulated reference, growing with the tile. */
const TOL: Partial<Record<ConvAlgo, number>> = { winograd_f2x2: 3e-5, winograd_f4x4: 1e-4, winograd_f6x6: 4e-4 };

async function passes(be: Backend, s: ConvShape, algo: ConvAlgo, seed: number): Promise<Float32Array[]> {
  const { oh, ow } = convOutSize(s);
  const x = upload(be, randomArray(s.n * s.h * s.w * s.cin, seed)), w = upload(be, randomArray(9 * s.cin * s.cout, seed + 1, 0.2));
  const bias = upload(be, randomArray(s.cout, seed + 2, 0.5)), dy = upload(be, randomArray(s.n * oh * ow * s.cout, seed + 3));
  const y = be.alloc(s.n * oh * ow * s.cout), dx = be.alloc(s.n * s.h * s.w * s.cin), dw = upload(be, randomArray(9 * s.cin * s.cout, seed + 4));
  be.run('conv2d_forward', { x, w, bias, relu: true, y, shape: s, algo });
  be.run('conv2d_backward_data', { dy, w, dx, shape: s, algo });
  be.run('conv2d_backward_filter', { x, dy, dw, shape: s, algo, beta: 0.5 });
  await be.sync();
  const out = [await be.read(y), await be.read(dx), await be.read(dw)];
  for (const b of [x, w, bias, dy, y, dx, dw]) be.free(b);
  return out;
}

let plain: WasmBackend | undefined;
/** The relaxed builds under test and the plain-SIMD build (its 5-row micro-kernel cuts the chunks differently). */
async function wasmBackends(): Promise<{ label: string; backend: Backend }[]> {
  plain ??= await WasmBackend.create({ threads: 1, build: 'simd', memoryMiB: 64 });
  return [...(await backendsUnderTest()).filter((b) => b.label.startsWith('wasm')), { label: 'wasm-simd-t1', backend: plain }];
}

// ', 3 ranges': the claimed work (the fused forward's tiles, the phased transforms' runs of tiles) cut into 3 ranges
// with their own counters, more than the threads, so every thread also claims from ranges that are not its own (with
// one range per thread that happens only when one thread falls behind).
for (const path of ['phased', 'phased, 3 ranges', 'fused', 'fused, 3 ranges'] as const) {
  test(`winograd ${path} passes, chunks of a few tiles, match the reference`, async () => {
    const saved = { ...convLimits }, savedCol = { ...winogradColBlock }, savedRanges = { ...claimRanges };
    // The column-blocked path would take these small shapes from the phased one (its own test covers it).
    winogradColBlock.maxVBytes = 0;
    if (path.endsWith('3 ranges')) claimRanges.count = 3;
    try {
      let seed = 1, checked = 0;
      for (const { label, backend } of await wasmBackends()) {
        for (const s of SHAPES) {
          for (const algo of Object.keys(TOL) as ConvAlgo[]) {
            // Phased: 5 tiles per chunk, and no filter small enough for the fused passes. Fused: no byte limit,
            // so fusedChunk cuts the tiles into 2 chunks per thread (claimed in shorter runs at the end).
            const t = { winograd_f2x2: 4, winograd_f4x4: 6, winograd_f6x6: 8 }[algo as string]!;
            const phased = path.startsWith('phased');
            convLimits.winogradChunkBytes = phased ? t * t * (s.cin + s.cout + 32) * 4 * 5 : 1 << 30;
            convLimits.winogradFusedBytes = 1 << 30;
            convLimits.winogradFusedFilterBytes = phased ? 0 : 1 << 30;
            const got = await passes(backend, s, algo, seed), want = await passes(reference, s, algo, seed);
            seed += 7;
            ['y', 'dx', 'dw'].forEach((name, i) => {
              const e = maxRelErr(got[i], want[i]);
              assert.ok(e < TOL[algo]!, `${label} ${path} ${algo} ${name} ${JSON.stringify(s)}: rel err ${e}`);
              checked++;
            });
          }
        }
      }
      assert.ok(checked >= SHAPES.length * 3 * 3 * 3, `only ${checked} comparisons ran`);
    } finally {
      Object.assign(convLimits, saved);
      Object.assign(winogradColBlock, savedCol);
      Object.assign(claimRanges, savedRanges);
    }
  });
}

test.after(async () => { await plain?.dispose(); });

test.run();
