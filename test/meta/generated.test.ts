// Generated code is fresh: assembly/winograd_gen.ts equals what its generator emits now (STYLE habit 13).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { generateWinogradAssembly } from '../../src/backends/wasm/ops/conv_winograd_gen.js';

test('assembly/winograd_gen.ts matches its generator', () => {
  const onDisk = readFileSync(new URL('../../../assembly/winograd_gen.ts', import.meta.url), 'utf8');
  assert.ok(onDisk === generateWinogradAssembly(),
    'assembly/winograd_gen.ts is stale: run `npx tsc -p . && node dist/src/backends/wasm/ops/conv_winograd_gen.js`');
});

test.run();
