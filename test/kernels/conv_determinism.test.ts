// Run-to-run determinism of the wasm conv passes on 2 threads: the same inputs give bit-identical outputs.
// The resumed-run promise (a resumed run repeats the uninterrupted loss curve bit for bit) needs it, and
// only multi-threaded reductions whose split depends on timing could break it (the fused Winograd filter
// gradient did, before each thread got a fixed share of the tiles).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CONV_ALGOS, type ConvShape, algoApplies, convOutSize } from '../../src/backend.js';
import { WasmBackend } from '../../src/backends/wasm/backend.js';
import { randomArray } from '../backends.js';

// Large enough for the fused Winograd paths with several claims per thread (CIFAR's 64->128 layer at batch 8).
const SHAPE: ConvShape = { n: 8, h: 16, w: 16, cin: 64, cout: 128, kh: 3, kw: 3, stride: 1, pad: 1 };
const REPEATS = 5;

test('wasm, 2 threads: every algorithm and pass gives bit-identical results on repeated calls', async () => {
  const be = await WasmBackend.create({ threads: 2, memoryMiB: 256 });
  try {
    const s = SHAPE, { oh, ow } = convOutSize(s);
    const up = (a: Float32Array) => { const b = be.alloc(a.length); be.write(b, a); return b; };
    const x = up(randomArray(s.n * s.h * s.w * s.cin, 1)), w = up(randomArray(9 * s.cin * s.cout, 2, 0.05));
    const bias = up(randomArray(s.cout, 3)), dy = up(randomArray(s.n * oh * ow * s.cout, 4));
    const y = be.alloc(s.n * oh * ow * s.cout), dx = be.alloc(s.n * s.h * s.w * s.cin), dw = be.alloc(9 * s.cin * s.cout), db = be.alloc(s.cout);
    const differing: string[] = [];
    for (const algo of CONV_ALGOS.filter((a) => algoApplies(a, s))) {
      const passes: [string, () => void, typeof y][] = [
        ['forward', () => be.run('conv2d_forward', { x, w, bias, y, shape: s, algo, relu: true }), y],
        ['backward_data', () => be.run('conv2d_backward_data', { dy, w, dx, shape: s, algo }), dx],
        ['backward_filter', () => be.run('conv2d_backward_filter', { x, dy, dw, db, shape: s, algo, beta: 0 }), dw],
      ];
      for (const [pass, run, out] of passes) {
        run();
        const first = await be.read(out);
        for (let r = 1; r < REPEATS; r++) {
          run();
          const again = await be.read(out);
          const i = again.findIndex((v, j) => !Object.is(v, first[j]));
          if (i >= 0) { differing.push(`${algo} ${pass}: repeat ${r} differs at ${i} (${again[i]} vs ${first[i]})`); break; }
        }
      }
    }
    assert.equal(differing, [], differing.join('\n'));
  } finally {
    await be.dispose();
  }
});

test.run();
