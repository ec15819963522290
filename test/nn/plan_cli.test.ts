// The train CLI with the planner: the plan is printed and saved as plan.json, --algo forces one algorithm, bad values are named.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseArgs, runTraining } from '../../src/cli/train.js';
import type { Plan } from '../../src/runtime/planner.js';

async function quietly<T>(f: () => Promise<T>): Promise<{ r: T; out: string }> {
  const log = console.log, lines: string[] = [];
  console.log = (...a: unknown[]) => { lines.push(a.join(' ')); };
  try { return { r: await f(), out: lines.join('\n') }; } finally { console.log = log; }
}

const base = (dir: string) => ['--width', '0.0625', '--limit-train', '64', '--limit-test', '64', '--backend', 'wasm', '--no-progress',
  '--out', dir, '--batch-size', '16', '--epochs', '1'];

test('--algo auto: the planner picks per layer and pass; the table is printed and plan.json saved with the run', async () => {
  const tuning = mkdtempSync(join(tmpdir(), 'vggrt-tune-'));
  const saved = process.env.VGGRT_TUNING_DIR;
  process.env.VGGRT_TUNING_DIR = tuning;
  try {
    const dir = mkdtempSync(join(tmpdir(), 'vggrt-plan-'));
    const { r, out } = await quietly(() => runTraining(parseArgs(base(dir), true)));
    assert.ok(r.test && Number.isFinite(r.test.loss));
    assert.match(out, /layer\s+pass\s+backend\s+algorithm\s+ms\s+runner-up/);
    const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')) as Plan;
    assert.is(plan.layers.length, 8); // VGG-11's eight convs
    assert.is(plan.layers[0].id, 'features.0');
    assert.ok(!plan.layers[0].passes.backward_data, 'the first conv needs no input gradient');
    for (const l of plan.layers) for (const e of Object.values(l.passes)) assert.is(e!.backend, 'wasm');
    assert.ok(readFileSync(join(tuning, 'tuning-v1.json'), 'utf8').length > 100, 'the tuning cache was written');
    // A second run plans from the cache.
    const again = await quietly(() => runTraining(parseArgs(base(dir), true)));
    assert.match(again.out, /tuned in 0\.\d s/);
  } finally {
    if (saved === undefined) delete process.env.VGGRT_TUNING_DIR; else process.env.VGGRT_TUNING_DIR = saved;
  }
});

test('--algo <id> forces it on every conv; bad values name the flag', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vggrt-plan-'));
  await quietly(() => runTraining(parseArgs([...base(dir), '--algo', 'winograd_f2x2'], true)));
  const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')) as Plan;
  for (const l of plan.layers) for (const e of Object.values(l.passes)) assert.is(e!.algo, 'winograd_f2x2');
  assert.throws(() => parseArgs(['--algo', 'fft'], true), /--algo must be one of auto, im2col_gemm/);
  assert.not.throws(() => parseArgs(['--algo', 'auto', '--retune'], true));
});

test.run();
