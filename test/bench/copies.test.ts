// bench/copies.ts: the copy worker runs the same 1-thread conv or GEMM call as this thread, at the same time, and
// the two-copies ceiling comes back as a plausible ratio; another layer or a GEMM re-prepares the worker.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WasmBackend } from '../../src/backends/wasm/backend.js';
import { CopyRunner } from '../../bench/copies.js';
import { layerData, passCall } from '../../bench/suites/conv.js';
import { gemmCall } from '../../bench/suites/gemm.js';
import type { ConvLayerShape } from '../../src/runtime/shapes.js';

const LAYERS: ConvLayerShape[] = [
  { id: 'test-c32-24_16x16_n4', shape: { n: 4, h: 16, w: 16, cin: 32, cout: 24, kh: 3, kw: 3, stride: 1, pad: 1 } },
  { id: 'test-c24-40_13x13_n3', shape: { n: 3, h: 13, w: 13, cin: 24, cout: 40, kh: 3, kw: 3, stride: 1, pad: 1 } },
];

// Calls of about half a millisecond: on tiny ones (0.05 ms) timer and wake-up noise put single ceilings above 3.
test('CopyRunner: the worker computes what this thread computes (conv passes, GEMMs), and the ceiling is a plausible ratio', async () => {
  const one = await WasmBackend.create({ threads: 1, build: 'relaxed', memoryMiB: 64 });
  const copies = await CopyRunner.create('relaxed', 64);
  try {
    for (const layer of LAYERS) {
      for (const [pass, algo] of [['conv2d_forward', 'winograd_f4x4'], ['conv2d_backward_filter', 'im2col_gemm']] as const) {
        const call = passCall(one, layer.shape, pass, algo, layerData(layer.shape));
        try {
          const ceiling = await copies.ceiling({ conv: { layer, pass, algo } }, call.issue, 5);
          assert.ok(Number.isFinite(ceiling) && ceiling > 0 && ceiling < 4, `${layer.id} ${pass}: ceiling ${ceiling}`);
          const mine = await one.read(call.out), theirs = await copies.output();
          assert.is(theirs.length, mine.length);
          let same = true;
          for (let i = 0; i < mine.length; i++) if (!Object.is(mine[i], theirs[i])) { same = false; break; }
          assert.ok(same, `${layer.id} ${pass}: the copy worker's output differs from this thread's`);
        } finally { call.dispose(); }
      }
    }
    for (const g of [{ m: 160, n: 96, k: 200, transA: false, transB: false }, { m: 97, n: 130, k: 61, transA: true, transB: true }]) {
      const call = gemmCall(one, g);
      try {
        const ceiling = await copies.ceiling({ gemm: g }, call.issue, 5);
        assert.ok(Number.isFinite(ceiling) && ceiling > 0 && ceiling < 4, `gemm ${JSON.stringify(g)}: ceiling ${ceiling}`);
        const mine = await one.read(call.out), theirs = await copies.output();
        assert.ok(mine.length === theirs.length && mine.every((v, i) => Object.is(v, theirs[i])), `gemm ${JSON.stringify(g)}: outputs differ`);
      } finally { call.dispose(); }
    }
  } finally {
    await copies.dispose();
    await one.dispose();
  }
});

test('CopyRunner.serving: otherAlone runs the worker\'s copy by itself, times it, and leaves its output; together still runs both', async () => {
  const one = await WasmBackend.create({ threads: 1, build: 'relaxed', memoryMiB: 64 });
  const copies = await CopyRunner.create('relaxed', 64);
  const layer = LAYERS[0], pass = 'conv2d_forward', algo = 'winograd_f4x4';
  const call = passCall(one, layer.shape, pass, algo, layerData(layer.shape));
  try {
    let ran = 0;
    const times = await copies.serving({ conv: { layer, pass, algo } }, () => { ran++; call.issue(); }, (together, otherAlone) => {
      const alone = [otherAlone(), otherAlone()];
      const before = ran;
      const both = together();
      return { alone, both, here: ran - before };
    });
    assert.ok(times.alone.every((ms) => Number.isFinite(ms) && ms > 0 && ms < 5000), `otherAlone: ${times.alone}`);
    assert.is(ran - times.here, 0, 'otherAlone must not run this thread\'s call');
    assert.is(times.here, 1, 'together runs this thread\'s call once');
    assert.ok(times.both > 0);
    const mine = await one.read(call.out), theirs = await copies.output();
    assert.ok(mine.length === theirs.length && mine.every((v, i) => Object.is(v, theirs[i])), 'the worker\'s output differs from this thread\'s');
  } finally {
    call.dispose();
    await copies.dispose();
    await one.dispose();
  }
});

test('CopyRunner: a copy worker that cannot start fails the first call with its error, not a hang', async () => {
  const copies = await CopyRunner.create('relaxed', 1); // WasmBackend.create rejects memoryMiB below 16 in the worker
  try {
    let message = '';
    try {
      await copies.ceiling({ gemm: { m: 8, n: 8, k: 8, transA: false, transB: false } }, () => {}, 1);
    } catch (e) { message = (e as Error).message; }
    assert.match(message, /bench copy worker failed: .*memoryMiB must be in 16\.\.4095, got 1/);
  } finally { await copies.dispose(); }
});

test.run();
