// The winograd_map2x2 forward's thread split (assembly/map2x2.ts map2x2_forward): 1, 2 (both builds) and 3
// threads give bit-identical outputs on odd shapes and forced small blocks, repeatably, right against the reference.
// The filter gradient's claimed blocks (map2x2_backward_filter): every range is claimed, also with more ranges
// than threads, so every row of dw is written once, with the same bits on 1 and 2 threads.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend, ConvShape } from '../../src/backend.js';
import { WasmBackend } from '../../src/backends/wasm/backend.js';
import { map2x2Limits } from '../../src/backends/wasm/ops/conv_map2x2.js';
import { claimRanges } from '../../src/backends/wasm/ops/conv_winograd.js';
import { maxRelErr, randomArray, reference, upload } from '../backends.js';

const S = (n: number, cin: number, cout: number): ConvShape => ({ n, h: 2, w: 2, cin, cout, kh: 3, kw: 3, stride: 1, pad: 1 });
// Batch sizes that leave 6-, 5- and 4-row micro-tile slivers and a padded last sliver; channel tails of 1-7.
const SHAPES = [S(3, 29, 19), S(1, 8, 16), S(7, 5, 12), S(13, 40, 36), S(4, 96, 128)];
// Defaults but always 2 threads; depth steps of 16 rows at 128 output channels (a step sized by a thread's
// column share, as before this split, would differ between 1 and 2 threads: 96->128 caught it); 8-column
// blocks and 4-row steps (many items, depth halves of several steps).
const LIMITS = [{ parallelMinMacs: 0 }, { parallelMinMacs: 0, forwardBlockBytes: 9 * 4 * 128 * 16 },
  { parallelMinMacs: 0, blockBytes: 1, forwardBlockBytes: 1 }];

async function forward(be: Backend, s: ConvShape, seed: number, relu: boolean): Promise<Float32Array> {
  const x = upload(be, randomArray(s.n * 4 * s.cin, seed)), w = upload(be, randomArray(9 * s.cin * s.cout, seed + 1, 0.2));
  const bias = upload(be, randomArray(s.cout, seed + 2)), y = be.alloc(s.n * 4 * s.cout);
  be.run('conv2d_forward', { x, w, bias, y, shape: s, algo: be === reference ? 'im2col_gemm' : 'winograd_map2x2', relu });
  const out = await be.read(y);
  for (const b of [x, w, bias, y]) be.free(b);
  return out;
}

test('map2x2 forward: 1 and 2 threads bit-identical, repeatable, and right (both builds)', async () => {
  const saved = { ...map2x2Limits };
  const backends: WasmBackend[] = [];
  try {
    let checked = 0;
    for (const build of ['relaxed', 'simd'] as const) {
      const [t1, t2] = [await WasmBackend.create({ threads: 1, build, memoryMiB: 64 }), await WasmBackend.create({ threads: 2, build, memoryMiB: 64 })];
      // 3 threads (the output channels then come in 2 blocks per depth half): the same bits again.
      const t3 = build === 'relaxed' ? await WasmBackend.create({ threads: 3, build, memoryMiB: 64 }) : undefined;
      backends.push(t1, t2, ...(t3 ? [t3] : []));
      for (const lim of LIMITS) {
        Object.assign(map2x2Limits, saved, lim);
        for (const [i, s] of SHAPES.entries()) {
          const relu = i % 2 === 0, tag = `${build} ${JSON.stringify(lim)} n${s.n} ${s.cin}->${s.cout}`;
          const [y1, y2, y2again, want] = [await forward(t1, s, 10 + i, relu), await forward(t2, s, 10 + i, relu),
            await forward(t2, s, 10 + i, relu), await forward(reference, s, 10 + i, relu)];
          const differs = (a: Float32Array, b: Float32Array) => a.findIndex((v, j) => !Object.is(v, b[j]));
          assert.is(differs(y2, y1), -1, `${tag}: 2 threads differ from 1 at ${differs(y2, y1)}`);
          assert.is(differs(y2again, y2), -1, `${tag}: a repeated 2-thread call differs`);
          if (t3) { const y3 = await forward(t3, s, 10 + i, relu); assert.is(differs(y3, y1), -1, `${tag}: 3 threads differ from 1 at ${differs(y3, y1)}`); }
          const e = maxRelErr(y2, want);
          assert.ok(e < 3e-5, `${tag}: rel err ${e} against im2col on the reference`);
          checked++;
        }
      }
    }
    assert.is(checked, 2 * LIMITS.length * SHAPES.length);
  } finally {
    Object.assign(map2x2Limits, saved);
    for (const be of backends) await be.dispose();
  }
});

async function filterGrad(be: Backend, s: ConvShape, seed: number): Promise<Float32Array> {
  const x = upload(be, randomArray(s.n * 4 * s.cin, seed)), dy = upload(be, randomArray(s.n * 4 * s.cout, seed + 1));
  const dw = upload(be, randomArray(9 * s.cin * s.cout, seed + 2)); // beta 0: whatever was there must go
  be.run('conv2d_backward_filter', { x, dy, dw, shape: s, algo: be === reference ? 'im2col_gemm' : 'winograd_map2x2', beta: 0 });
  const out = await be.read(dw);
  for (const b of [x, dy, dw]) be.free(b);
  return out;
}

test('map2x2 filter gradient: 1, 2 or 3 claim ranges on 1 and 2 threads, every block of input channels done once', async () => {
  const saved = { ...map2x2Limits }, savedRanges = claimRanges.count;
  const [t1, t2] = [await WasmBackend.create({ threads: 1, memoryMiB: 64 }), await WasmBackend.create({ threads: 2, memoryMiB: 64 })];
  try {
    // Blocks of 8 input channels (blockBytes 1): 5 to 12 blocks per shape, cut into ranges of uneven length.
    Object.assign(map2x2Limits, { parallelMinMacs: 0, blockBytes: 1 });
    for (const [i, s] of [S(3, 40, 19), S(5, 96, 24), S(2, 37, 8)].entries()) {
      const want = await filterGrad(reference, s, 30 + i);
      let first: Float32Array | undefined;
      for (const ranges of [0, 1, 3]) {
        claimRanges.count = ranges;
        for (const be of [t1, t2]) {
          const got = await filterGrad(be, s, 30 + i), tag = `${s.cin}->${s.cout} ranges ${ranges} ${be.threads} thread(s)`;
          const e = maxRelErr(got, want);
          assert.ok(e < 3e-5, `${tag}: rel err ${e} against im2col on the reference`);
          first ??= got;
          assert.is(got.findIndex((v, j) => !Object.is(v, first![j])), -1, `${tag}: bits differ from 1 thread, one range`);
        }
      }
    }
  } finally {
    Object.assign(map2x2Limits, saved);
    claimRanges.count = savedRanges;
    await t1.dispose(); await t2.dispose();
  }
});

test.run();
