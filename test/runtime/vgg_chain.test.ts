// The planner's view of VGG: conv shapes and torchvision ids from the config table and from the model spec agree.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VGG_CONFIGS, vggSpec } from '../../src/nn/vgg.js';
import { convChainOfSpec, vggConvChain } from '../../src/runtime/vgg_chain.js';
import { convAlgosOf, modelPlanOf } from '../../src/runtime/model_plan.js';
import type { Backend } from '../../src/backend.js';
import type { Plan } from '../../src/runtime/planner.js';

test('VGG-11 at 32x32: eight convs with torchvision feature indices and halving sizes', () => {
  const chain = vggConvChain(VGG_CONFIGS.A, { batch: 64, inputSize: 32 });
  assert.equal(chain.map((l) => l.id), ['features.0', 'features.3', 'features.6', 'features.8', 'features.11', 'features.13', 'features.16', 'features.18']);
  assert.equal(chain.map((l) => [l.shape.cin, l.shape.cout, l.shape.h]), [[3, 64, 32], [64, 128, 16], [128, 256, 8], [256, 256, 8], [256, 512, 4], [512, 512, 4], [512, 512, 2], [512, 512, 2]]);
  assert.equal(chain.map((l) => l.inputGrad), [false, true, true, true, true, true, true, true]);
  assert.ok(chain.every((l) => l.shape.n === 64 && l.shape.pad === 1));
});

test('config C 1x1 convs have no padding; BN shifts the indices', () => {
  const c = vggConvChain(VGG_CONFIGS.C, { batch: 2, inputSize: 32, batchNorm: true });
  const one = c.filter((l) => l.shape.kh === 1);
  assert.is(one.length, 3);
  assert.ok(one.every((l) => l.shape.pad === 0));
  assert.is(c[1].id, 'features.3');
});

test('the chain from the model spec matches the one from the config table', () => {
  const spec = vggSpec({ config: 'A', inputSize: 32, numClasses: 10 });
  const fromSpec = convChainOfSpec(spec.layers, 64);
  const fromTable = vggConvChain(VGG_CONFIGS.A, { batch: 64, inputSize: 32 });
  assert.equal(fromSpec, fromTable);
});

test('a plan applied to the model: convs where planned, other layers follow the conv before them', () => {
  const spec = vggSpec({ config: 'A', inputSize: 32, numClasses: 10 });
  const convs = convChainOfSpec(spec.layers, 64);
  const fake = (name: string, description: string) => ({ name, description }) as unknown as Backend;
  const wasm = fake('wasm', 'wasm-relaxed-t2'), gpu = fake('webgpu', 'webgpu-core test');
  // Layers 0..3 on wasm, 4.. on the GPU; algorithms alternate.
  const plan: Plan = { totalMs: 0, computeMs: 0, transferMs: 0, transfers: [], dropped: [],
    layers: convs.map((c, i) => ({ id: c.id, passes: { forward: { backend: i < 4 ? 'wasm' : 'webgpu', algo: i % 2 ? 'winograd_f4x4' : 'im2col_gemm', ms: 1 } } })) };
  const mp = modelPlanOf(plan, [gpu, wasm], spec.layers);
  const got = spec.layers.map((l, i) => mp.backendFor(l, i));
  const idx = (name: string) => spec.layers.findIndex((l) => l.name === name);
  assert.is(got[idx('features.0')], wasm);
  assert.is(got[idx('features.1')], wasm, 'the ReLU after a wasm conv');
  assert.is(got[idx('features.11')], gpu, 'fifth conv');
  assert.is(got[idx('features.10')], wasm, 'the pool before it stays with the conv before');
  assert.is(got[got.length - 1], gpu, 'the classifier follows the last conv');
  assert.equal(convAlgosOf(plan)['features.3'], 'winograd_f4x4');
  assert.throws(() => modelPlanOf(plan, [wasm], spec.layers), /webgpu/);
});

test.run();
