// Golden fixtures from PyTorch (test/fixtures/golden): logits, loss, every gradient and one SGD step, on every backend.
//
// Parameters are compared in OUR layout (the fixture's tensors converted by convertParam): for the folded
// torchvision head (tvhead) only the sum of torchvision's 49 column blocks is ours, and the sum of their
// gradients is our gradient.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend } from '../../src/backend.js';
import { convertParam, exportStateDict, importStateDict } from '../../src/nn/checkpoint.js';
import { Model, singleBackendPlan } from '../../src/nn/model.js';
import { SGD } from '../../src/nn/optim.js';
import { type SafeTensor, parseSafetensors } from '../../src/nn/safetensors.js';
import { type CfgItem, vggSpec } from '../../src/nn/vgg.js';
import { backendsUnderTest, reference } from '../backends.js';
import { normRelErr } from './util.js';

const DIR = new URL('../../../test/fixtures/golden/', import.meta.url);
const TOL = 1e-4;

interface GoldenMeta { cfg: CfgItem[]; head?: 'small' | 'torchvision'; batchNorm: boolean; inputSize: number; inChannels: number; numClasses: number;
  classifierWidth: number; dropout: number; batch: number; lr: number; momentum: number; weightDecay: number; nesterov: boolean }

function load(variant: string): { meta: GoldenMeta; t: Map<string, SafeTensor> } {
  const meta = JSON.parse(readFileSync(new URL(`${variant}.json`, DIR), 'utf8')) as GoldenMeta;
  const t = parseSafetensors(new Uint8Array(readFileSync(new URL(`${variant}.safetensors`, DIR))), `${variant}.safetensors`).tensors;
  return { meta, t };
}

/** NCHW -> NHWC. */
function nchwToNhwc(x: Float32Array, n: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++) for (let ch = 0; ch < c; ch++) for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) {
    out[((i * h + y) * w + xx) * c + ch] = x[((i * c + ch) * h + y) * w + xx];
  }
  return out;
}

function get(t: Map<string, SafeTensor>, name: string): Float32Array {
  const v = t.get(name);
  if (!v) throw new Error(`golden fixture lacks ${name}`);
  return v.data;
}

async function runGolden(variant: string, label: string, be: Backend): Promise<string[]> {
  const { meta, t } = load(variant);
  const spec = vggSpec({ config: meta.cfg, batchNorm: meta.batchNorm, inputSize: meta.inputSize, inChannels: meta.inChannels,
    numClasses: meta.numClasses, classifierWidth: meta.classifierWidth, dropout: meta.dropout, head: meta.head ?? 'small' });
  const model = new Model(spec, singleBackendPlan(be));
  const failures: string[] = [];
  const cmp = (what: string, ours: Float32Array, theirs: Float32Array, floor = 1e-12) => {
    const e = normRelErr(ours, theirs, floor);
    if (!(e <= TOL)) failures.push(`${variant}/${label} ${what}: normwise rel err ${e.toExponential(2)}`);
  };
  try {
    importStateDict(model, t, `${variant}.safetensors`);
    const n = meta.batch, s = meta.inputSize;
    const x = nchwToNhwc(get(t, 'input'), n, meta.inChannels, s, s);
    await model.forward(x, n, true, 0);
    const loss = await model.lossForward(get(t, 'target'), n);
    cmp('logits', await model.readLogits(n), get(t, 'logits'));
    cmp('loss', Float32Array.of(loss), get(t, 'loss'));
    await model.backward(n);
    const params = model.params();
    const grads = new Map<string, Float32Array>();
    for (const p of params) grads.set(p.name, await p.backend.read(p.grad));
    // A conv bias feeding BN has a true gradient of 0 (BN subtracts the mean); both sides hold rounding
    // noise there, so those tensors are judged against the norm of their layer's weight gradient.
    const floorOf = (name: string) => {
      if (!meta.batchNorm || !name.endsWith('.bias') || !name.startsWith('features.')) return 1e-12;
      const w = params.find((p) => p.name === name.replace(/bias$/, 'weight'));
      return w && w.layout === 'hwio' ? Math.hypot(...grads.get(w.name)!) : 1e-12;
    };
    for (const p of params) cmp(`grad.${p.name}`, grads.get(p.name)!, convertParam(model, p, get(t, `grad.${p.name}`), false), floorOf(p.name));
    const opt = new SGD(params, { lr: meta.lr, momentum: meta.momentum, weightDecay: meta.weightDecay, nesterov: meta.nesterov });
    opt.step(meta.lr);
    for (const p of params) cmp(`after.${p.name}`, await p.backend.read(p.buf), convertParam(model, p, get(t, `after.${p.name}`), false));
    const paramNames = new Set(params.map((p) => p.name));
    for (const e of await exportStateDict(model)) {
      if (paramNames.has(e.name)) continue;
      if (e.name.endsWith('num_batches_tracked')) {
        const before = get(t, e.name)[0];
        if (e.data[0] !== before + 1) failures.push(`${variant}/${label} ${e.name}: ${e.data[0]}, expected ${before + 1}`);
        continue;
      }
      cmp(`after.${e.name}`, e.data, get(t, `after.${e.name}`));
    }
    opt.dispose();
  } finally {
    model.dispose();
  }
  return failures;
}

for (const variant of ['plain', 'bn', 'tvhead']) {
  test(`golden ${variant}: logits, loss, gradients, weights after one SGD step within ${TOL} on reference and every backend`, async () => {
    const list = [{ label: 'reference', backend: reference as Backend }, ...(await backendsUnderTest())];
    const failures: string[] = [];
    for (const { label, backend } of list) failures.push(...(await runGolden(variant, label, backend)));
    assert.equal(failures, [], failures.join('\n'));
  });
}

test('golden: a corrupted fixture is detected (the comparison can fail)', async () => {
  const { t } = load('plain');
  const w = get(t, 'classifier.6.bias');
  const saved = w[3];
  w[3] += 0.05;
  const spec = vggSpec({ config: [8, 'M', 16, 'M', 32, 32, 'M'], inputSize: 32, numClasses: 10, classifierWidth: 64, dropout: 0 });
  const m = new Model(spec, singleBackendPlan(reference));
  importStateDict(m, t);
  await m.forward(nchwToNhwc(get(t, 'input'), 4, 3, 32, 32), 4, true, 0);
  const e = normRelErr(await m.readLogits(4), get(t, 'logits'));
  w[3] = saved;
  m.dispose();
  assert.ok(e > TOL, `a perturbed weight still matched (err ${e})`);
});

test.run();
