// The train CLI: flag validation naming the flag, and a tiny end-to-end run, resume and eval-only on the mnist digits.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULTS, buildCommand, parseArgs, runTraining } from '../../src/cli/train.js';

function parseError(args: string[]): string {
  try {
    parseArgs(args, true);
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
}

test('bad flags get a clear error naming the flag', () => {
  assert.match(parseError(['--lr', 'abc']), /--lr must be a number > 0, got "abc"/);
  assert.match(parseError(['--epochs', '0']), /--epochs must be an integer >= 1/);
  assert.match(parseError(['--batch-size', '2.5']), /--batch-size must be an integer >= 1/);
  assert.match(parseError(['--backend', 'cuda']), /--backend must be one of wasm, webgpu, reference, auto/);
  assert.match(parseError(['--lr-schedule', 'exp']), /--lr-schedule must be one of plateau, step, cosine, constant/);
  assert.match(parseError(['--head', 'avg']), /--head must be one of auto, torchvision, small, got "avg"/);
  assert.match(parseError(['--fit', 'crop']), /--fit must be one of pad, resize, got "crop"/);
  assert.match(parseError(['--dataset', 'imagenet']), /--dataset.*imagenet.*(mnist|choices)/);
  assert.match(parseError(['--model', 'F']), /--model.*unknown model "F"/);
  assert.match(parseError(['--frobnicate']), /unknown option '--frobnicate'/);
  assert.match(parseError(['--eval-only']), /--eval-only' needs --resume/);
});

test('defaults and help', () => {
  const o = parseArgs([], true);
  assert.is(o.model, DEFAULTS.model);
  assert.is(o.dataset, 'mnist');
  assert.is(o.epochs, DEFAULTS.epochs);
  const help = buildCommand().helpInformation();
  for (const f of ['--model', '--dataset', '--data', '--epochs', '--batch-size', '--lr', '--momentum', '--weight-decay', '--lr-schedule',
    '--init', '--backend', '--threads', '--seed', '--resume', '--eval-only', '--out', '--width', '--help']) {
    assert.ok(help.includes(f), `help lacks ${f}`);
  }
});

test('a tiny run trains, checkpoints, resumes and evaluates', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vggrt-cli-'));
  const log = console.log;
  const lines: string[] = [];
  console.log = (...a: unknown[]) => { lines.push(a.join(' ')); };
  try {
    const base = ['--width', '0.0625', '--limit-train', '256', '--limit-test', '128', '--backend', 'wasm', '--no-progress', '--out', dir,
      '--batch-size', '32'];
    const r1 = await runTraining(parseArgs([...base, '--epochs', '1'], true));
    assert.ok(r1.test && Number.isFinite(r1.test.loss));
    const r2 = await runTraining(parseArgs([...base, '--epochs', '2', '--resume', dir], true), (k) => k === 'epochs');
    assert.ok(r2.test);
    const recs = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const epochs = recs.filter((r) => r.type === 'epoch');
    assert.equal(epochs.map((r) => r.epoch), [0, 1]);
    assert.equal(recs.filter((r) => r.type === 'step').map((r) => r.step), Array.from({ length: 16 }, (_, i) => i + 1));
    const r3 = await runTraining(parseArgs(['--resume', dir, '--eval-only', '--backend', 'wasm', '--limit-test', '128'], true),
      (k) => ['backend', 'limitTest'].includes(k));
    assert.is(r3.test!.top1Err, r2.test!.top1Err);
    assert.ok(lines.some((l) => /epoch 2\/2 .* img\/s/.test(l)), lines.join('\n'));
  } finally {
    console.log = log;
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
