// Training pieces: schedules, top-k metrics, initialisation statistics, warm start, weight decay on biases/BN.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exportStateDict, importStateDict } from '../../src/nn/checkpoint.js';
import { initModel } from '../../src/nn/init.js';
import { topKCorrect } from '../../src/nn/metrics.js';
import { Model, singleBackendPlan } from '../../src/nn/model.js';
import { SGD } from '../../src/nn/optim.js';
import { Rng } from '../../src/nn/rng.js';
import { parseSafetensors, serializeSafetensors } from '../../src/nn/safetensors.js';
import { LrSchedule } from '../../src/nn/schedule.js';
import { vggSpec } from '../../src/nn/vgg.js';
import { warmStartTensors } from '../../src/nn/warmstart.js';
import { reference } from '../backends.js';

test('plateau: divide by 10 when val accuracy stops improving, at most 3 times; state round-trips', () => {
  const s = new LrSchedule({ name: 'plateau', baseLr: 0.01 });
  const accs = [0.5, 0.6, 0.6, 0.7, 0.65, 0.7, 0.7, 0.7, 0.7];
  const lrs: number[] = [];
  for (const a of accs) { s.epochEnd(a); lrs.push(s.lrAt(0, 0)); }
  assert.equal(lrs.map((x) => +x.toExponential(3)), [0.01, 0.01, 0.001, 0.001, 1e-4, 1e-5, 1e-5, 1e-5, 1e-5]);
  const t = new LrSchedule({ name: 'plateau', baseLr: 0.01 });
  t.restore(JSON.parse(JSON.stringify(s.state())));
  assert.is(t.lrAt(0, 0), s.lrAt(0, 0));
  t.epochEnd(0.9); // a new best after restore: no reduction
  assert.is(t.lrAt(0, 0), 1e-5);
});

test('step and cosine schedules', () => {
  const st = new LrSchedule({ name: 'step', baseLr: 0.1, stepSize: 2 });
  assert.equal([0, 1, 2, 3, 4].map((e) => +st.lrAt(0, e).toPrecision(6)), [0.1, 0.1, 0.01, 0.01, 0.001]);
  const c = new LrSchedule({ name: 'cosine', baseLr: 0.1, totalSteps: 100 });
  assert.is(c.lrAt(0, 0), 0.1);
  assert.ok(Math.abs(c.lrAt(50, 0) - 0.05) < 1e-12);
  assert.ok(c.lrAt(100, 0) < 1e-12);
  assert.throws(() => new LrSchedule({ name: 'cosine', baseLr: 0.1 }), /totalSteps/);
});

test('top-1 / top-5 counts', () => {
  const logits = Float32Array.of(
    0, 1, 2, 3, 4, 5, 6, // label 6: top-1
    6, 5, 4, 3, 2, 1, 0, // label 3: top-5 only
    6, 5, 4, 3, 2, 1, 0, // label 6: neither
  );
  const labels = Float32Array.of(6, 3, 6);
  assert.is(topKCorrect(logits, labels, 3, 7, 1), 1);
  assert.is(topKCorrect(logits, labels, 3, 7, 5), 2);
});

test('init: paper N(0, 0.01), kaiming convs N(0, 2/fan_out), glorot bounds; biases 0, BN 1/0', async () => {
  const spec = vggSpec({ config: [64, 'M', 64, 'M'], batchNorm: true, inputSize: 8, numClasses: 10, classifierWidth: 256 });
  const m = new Model(spec, singleBackendPlan(reference));
  const std = (a: Float32Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
  initModel(m, 'paper', new Rng(1));
  const conv = m.params().find((p) => p.name === 'features.4.weight')!;
  assert.ok(Math.abs(std(await reference.read(conv.buf)) - 0.01) < 0.0005);
  initModel(m, 'kaiming', new Rng(1));
  assert.ok(Math.abs(std(await reference.read(conv.buf)) - Math.sqrt(2 / (64 * 9))) < 0.002);
  const fc = m.params().find((p) => p.name === 'classifier.3.weight')!;
  assert.ok(Math.abs(std(await reference.read(fc.buf)) - 0.01) < 0.0005);
  initModel(m, 'glorot', new Rng(1));
  const a = Math.sqrt(6 / (256 + 256)), w = await reference.read(fc.buf);
  assert.ok(Math.max(...w.map(Math.abs)) <= a && Math.max(...w.map(Math.abs)) > 0.95 * a);
  for (const p of m.params()) {
    if (p.role === 'weight') continue;
    const v = await reference.read(p.buf);
    const want = p.role === 'bn' && p.name.endsWith('.weight') ? 1 : 0;
    assert.ok(v.every((x) => x === want), p.name);
  }
  m.dispose();
});

test('warm start: D takes A\'s first four convs and three FC layers, the rest stays as initialised', async () => {
  const small = { inputSize: 32, numClasses: 10, widthMultiplier: 1 / 16, classifierWidth: 16 };
  const a = new Model(vggSpec({ config: 'A', ...small }), singleBackendPlan(reference));
  const d = new Model(vggSpec({ config: 'D', ...small }), singleBackendPlan(reference));
  initModel(a, 'glorot', new Rng(1));
  initModel(d, 'glorot', new Rng(2));
  const src = parseSafetensors(serializeSafetensors(await exportStateDict(a))).tensors;
  const before = new Map((await exportStateDict(d)).map((e) => [e.name, e.data]));
  importStateDict(d, warmStartTensors(d.spec, a.spec, src), 'warm', '', true);
  const after = new Map((await exportStateDict(d)).map((e) => [e.name, e.data]));
  assert.equal(after.get('features.5.weight'), src.get('features.3.weight')!.data);
  assert.equal(after.get('features.12.weight'), src.get('features.8.weight')!.data);
  assert.equal(after.get('classifier.6.weight'), src.get('classifier.6.weight')!.data);
  assert.equal(after.get('features.2.weight'), before.get('features.2.weight'));
  assert.equal(after.get('features.14.weight'), before.get('features.14.weight'));
  a.dispose(); d.dispose();
});

test('weight decay can skip biases and BN parameters', async () => {
  const spec = vggSpec({ config: [2, 'M'], batchNorm: true, inputSize: 2, inChannels: 1, numClasses: 2, classifierWidth: 2 });
  const m = new Model(spec, singleBackendPlan(reference));
  initModel(m, 'glorot', new Rng(1));
  for (const p of m.params()) { reference.write(p.buf, new Float32Array(p.buf.length).fill(1)); reference.write(p.grad, new Float32Array(p.buf.length)); }
  const opt = new SGD(m.params(), { lr: 1, momentum: 0, weightDecay: 0.5, decayBiasAndBn: false });
  opt.step(1);
  for (const p of m.params()) {
    const v = (await reference.read(p.buf))[0];
    assert.is(v, p.role === 'weight' ? 0.5 : 1, p.name);
  }
  m.dispose();
});

test.run();
