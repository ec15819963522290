// Model mechanics: a plan that splits layers over two backends moves tensors explicitly and computes the same thing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WasmBackend } from '../../src/backends/wasm/backend.js';
import { exportParams, exportStateDict, importStateDict } from '../../src/nn/checkpoint.js';
import { initModel } from '../../src/nn/init.js';
import { Model, type Plan, singleBackendPlan } from '../../src/nn/model.js';
import { Rng } from '../../src/nn/rng.js';
import { parseSafetensors, serializeSafetensors } from '../../src/nn/safetensors.js';
import { vggSpec } from '../../src/nn/vgg.js';
import { reference } from '../backends.js';
import { normRelErr, randomInput } from './util.js';

test('features on wasm, classifier on reference == all on reference (forward, loss, gradients); moves are logged', async () => {
  const wasm = await WasmBackend.create({ threads: 2, memoryMiB: 64 });
  try {
    const spec = vggSpec({ config: [4, 'LRN', 'M', 8, 'M'], batchNorm: true, inputSize: 8, inChannels: 3, numClasses: 5, classifierWidth: 12, dropout: 0.3 });
    const split: Plan = { name: 'split', backendFor: (s) => (s.name.startsWith('features') ? wasm : reference) };
    const a = new Model(spec, singleBackendPlan(reference)), b = new Model(spec, split);
    initModel(a, 'kaiming', new Rng(4));
    const sd = parseSafetensors(serializeSafetensors(await exportStateDict(a))).tensors;
    importStateDict(b, sd);
    assert.equal(b.transfers, [{ before: 'flatten', from: 'wasm', to: 'reference', elementsPerSample: 2 * 2 * 8 }]);
    const n = 3, x = randomInput(n * a.inputSize, 5), labels = Float32Array.of(0, 4, 2);
    const out: Record<string, Float32Array[]> = {};
    for (const [k, m] of [['a', a], ['b', b]] as const) {
      await m.forward(x, n, true, 99);
      const loss = await m.lossForward(labels, n);
      await m.backward(n);
      out[k] = [await m.readLogits(n), Float32Array.of(loss), ...(await exportParams(m, (p) => p.grad)).map((e) => e.data)];
    }
    // Floor 1e-4: conv biases feeding BN have a true gradient of 0 (both sides hold rounding noise).
    out.a.forEach((t, i) => assert.ok(normRelErr(out.b[i], t, 1e-4) < 1e-5, `tensor ${i}: ${normRelErr(out.b[i], t, 1e-4)}`));
    assert.is(b.transferred, 2 * n * 2 * 2 * 8); // forward activations and backward gradients, once each
    a.dispose(); b.dispose();
  } finally {
    await wasm.dispose();
  }
});

test('eval mode: dropout is the identity and BN uses running statistics (two evals agree, train differs)', async () => {
  const spec = vggSpec({ config: [4, 'M'], batchNorm: true, inputSize: 4, inChannels: 1, numClasses: 3, classifierWidth: 6, dropout: 0.5 });
  const m = new Model(spec, singleBackendPlan(reference));
  initModel(m, 'glorot', new Rng(1));
  const x = randomInput(2 * m.inputSize, 2);
  await m.forward(x, 2, false); const e1 = await m.readLogits(2);
  await m.forward(x, 2, false); const e2 = await m.readLogits(2);
  await m.forward(x, 2, true, 5); const t1 = await m.readLogits(2);
  assert.equal(e1, e2);
  assert.ok(normRelErr(t1, e1) > 1e-3);
  m.dispose();
});

test('configs C (1x1 convs) and A-LRN at width 1/32 train on wasm as on the reference', async () => {
  const wasm = await WasmBackend.create({ threads: 2, memoryMiB: 64 });
  try {
    for (const config of ['C', 'A-LRN'] as const) {
      const spec = vggSpec({ config, batchNorm: config === 'C', inputSize: 32, numClasses: 10, widthMultiplier: 1 / 32, classifierWidth: 16, dropout: 0.5 });
      const n = 2, x = randomInput(n * 32 * 32 * 3, 8), labels = Float32Array.of(3, 7);
      const res: Float32Array[][] = [];
      for (const be of [reference, wasm]) {
        const m = new Model(spec, singleBackendPlan(be));
        initModel(m, 'kaiming', new Rng(9));
        await m.forward(x, n, true, 3);
        const loss = await m.lossForward(labels, n);
        await m.backward(n);
        res.push([await m.readLogits(n), Float32Array.of(loss), ...(await exportParams(m, (p) => p.grad)).map((e) => e.data)]);
        m.dispose();
      }
      res[0].forEach((t, i) => assert.ok(normRelErr(res[1][i], t, 1e-4) < 1e-4, `${config} tensor ${i}: ${normRelErr(res[1][i], t, 1e-4)}`));
    }
  } finally {
    await wasm.dispose();
  }
});

test.run();
